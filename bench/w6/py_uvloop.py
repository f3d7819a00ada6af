# W6 to_thread on uvloop: the asyncio program, run on uvloop's loop.
import asyncio
import sys
import time

import uvloop

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
    print(f"W6 uvloop {(t1 - t0) / (t2 - t1):.2f} speedup "
          f"serial_s={t1 - t0:.3f} threads_s={t2 - t1:.3f} checksum={a},{b}")


with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
    runner.run(main())
