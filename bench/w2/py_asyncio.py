# W2 timers on CPython asyncio: N tasks sleep 10 ms at the same time.
import asyncio
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
DELAY = 0.010


async def sleeper():
    await asyncio.sleep(DELAY)
    return True


async def main():
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    tasks = [asyncio.create_task(sleeper()) for _ in range(N)]
    results = await asyncio.gather(*tasks)
    assert len(results) == N and all(results), "wrong count"
    assert loop.time() - t0 >= DELAY, "woke up too early"
    print(f"W2 asyncio ok n={N}")


asyncio.run(main())
