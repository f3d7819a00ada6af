# W1 spawn+gather on CPython asyncio: N tasks, each awaits sleep(0) once and
# returns its index; gather collects them in order.
import asyncio
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000


async def job(i):
    await asyncio.sleep(0)
    return i


async def main():
    tasks = [asyncio.create_task(job(i)) for i in range(N)]
    results = await asyncio.gather(*tasks)
    assert results == list(range(N)), "wrong result"
    print(f"W1 asyncio ok n={N}")


asyncio.run(main())
