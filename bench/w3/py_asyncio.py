# W3 queue on CPython asyncio: N integers through Queue(100), one producer
# task and one consumer task.
import asyncio
import sys

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
    print(f"W3 asyncio ok n={N} sum={total}")


asyncio.run(main())
