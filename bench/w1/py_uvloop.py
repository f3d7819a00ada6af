# W1 spawn+gather on uvloop: the asyncio program, run on uvloop's loop.
import asyncio
import sys

import uvloop

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000


async def job(i):
    await asyncio.sleep(0)
    return i


async def main():
    tasks = [asyncio.create_task(job(i)) for i in range(N)]
    results = await asyncio.gather(*tasks)
    assert results == list(range(N)), "wrong result"
    print(f"W1 uvloop ok n={N}")


with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
    runner.run(main())
