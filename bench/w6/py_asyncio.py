# W6 to_thread on CPython asyncio: a CPU-bound checksum loop run twice,
# first serially on the loop's thread, then as two asyncio.to_thread calls
# at once. Prints the speedup of the second way over the first (the GIL
# keeps it near 1).
import asyncio
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000


def checksum(seed, n):
    x = seed
    for i in range(1, n + 1):
        x = (x * 31 + i) % 1000000007
    return x


async def main():
    t0 = time.perf_counter()
    a, b = checksum(1, N), checksum(2, N)
    t1 = time.perf_counter()
    r = await asyncio.gather(asyncio.to_thread(checksum, 1, N),
                             asyncio.to_thread(checksum, 2, N))
    t2 = time.perf_counter()
    assert r == [a, b], "threads and serial runs disagree"
    print(f"W6 asyncio {(t1 - t0) / (t2 - t1):.2f} speedup "
          f"serial_s={t1 - t0:.3f} threads_s={t2 - t1:.3f} checksum={a},{b}")


asyncio.run(main())
