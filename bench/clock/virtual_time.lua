-- virtual_time.lua - the real time that long waits take on the virtual
-- clock: an hour's sleep, a 30 s wait_for that times out, and a day of a
-- queue with five workers (arrivals every 1 to 6 s, service 5 to 20 s).
-- Not part of `make bench` or of the tests, which assert no timing:
--
--   build/luaio bench/clock/virtual_time.lua [hours]   (24 by default)
--
-- Prints, for each, the loop time it reached, the wall time and the CPU
-- time it took.
local asyncio = require "asyncio"

local hours = tonumber(arg and arg[1]) or 24

-- Wall-clock seconds, to the nanosecond (a subprocess, outside the runs).
local function wall()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("a"))
  p:close()
  return t
end

local function measure(name, main)
  local w0, c0 = wall(), os.clock()
  local reached = asyncio.run(main, { clock = "virtual" })
  local w1, c1 = wall(), os.clock()
  print(("%-32s loop time %9.0f s   wall %7.4f s   cpu %7.4f s")
        :format(name, reached, w1 - w0, c1 - c0))
end

local function now() return asyncio.get_running_loop():time() end

measure("sleep(3600)", function()
  asyncio.sleep(3600)
  return now()
end)

measure("wait_for(sleep(100), 30)", function()
  assert(not pcall(asyncio.wait_for, function() asyncio.sleep(100) end, 30))
  return now()
end)

measure(("%d h of a queue, 5 workers"):format(hours), function()
  local x = 42
  local function rand(lo, hi) -- the spec's LCG
    x = (1103515245 * x + 12345) % 2147483648
    return lo + (hi - lo) * (x / 2147483648)
  end
  local q, jobs = asyncio.Queue(), 0
  local workers = {}
  for w = 1, 5 do
    workers[w] = asyncio.create_task(function()
      for service in function() return q:get() end do
        asyncio.sleep(service)
        jobs = jobs + 1
      end
    end)
  end
  while now() < hours * 3600 do
    asyncio.sleep(rand(1, 6))
    q:put(rand(5, 20))
  end
  for _ = 1, 5 do q:put(nil) end
  asyncio.wait(workers)
  print(("  %d jobs served"):format(jobs))
  return now()
end)
