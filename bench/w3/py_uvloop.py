# W3 queue on uvloop: the asyncio program, run on uvloop's loop.
import asyncio
import sys

import uvloop

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000


async def producer(q):
    for i in range(1, N + 1):
        await q.put(i)


async def consumer(q):
    total = 0
    for _ in range(N):
        total += await q.get()
    return total


async def main():
    q = asyncio.Queue(100)
    _, total = await asyncio.gather(producer(q), consumer(q))
    assert total == N * (N + 1) // 2, "wrong sum"
    print(f"W3 uvloop ok n={N} sum={total}")


with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
    runner.run(main())
