# W5 memory on CPython asyncio: N tasks suspended on one Event. Prints VmHWM
# (peak RSS) once they all wait; given the VmHWM of an N=0 run, bytes per
# task. Usage: python3 py_asyncio.py [N [baseline_kB]]
import asyncio
import re
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
BASE = int(sys.argv[2]) if len(sys.argv) > 2 else None
waiting = 0


def vmhwm_kb():
    with open("/proc/self/status") as f:
        return int(re.search(r"^VmHWM:\s*(\d+) kB", f.read(), re.M).group(1))


async def waiter(ev, i):
    global waiting
    waiting += 1
    await ev.wait()
    return i


async def main():
    ev = asyncio.Event()
    tasks = [asyncio.create_task(waiter(ev, i)) for i in range(N)]
    await asyncio.sleep(0)  # every task runs up to ev.wait()
    assert waiting == N, "not every task is waiting"
    kb = vmhwm_kb()
    ev.set()
    assert await asyncio.gather(*tasks) == list(range(N)), "wrong result"
    if BASE is not None and N > 0:
        print(f"W5 asyncio {(kb - BASE) * 1024 // N} bytes/task n={N} "
              f"vmhwm_kb={kb} base_kb={BASE}")
    else:
        print(f"W5 asyncio {kb} kB n={N}")


asyncio.run(main())
