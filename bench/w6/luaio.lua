-- W6 to_thread on luaio: a CPU-bound checksum loop run twice, first
-- serially on the loop's thread, then as two asyncio.to_thread calls at
-- once. Prints the speedup of the second way over the first.
local asyncio = require "asyncio"
local N = tonumber(arg[1]) or 10000000

local function checksum(seed, n)
  local x = seed
  for i = 1, n do x = (x * 31 + i) % 1000000007 end
  return x
end

asyncio.run(function()
  local loop = asyncio.get_running_loop()
  local t0 = loop:time()
  local a, b = checksum(1, N), checksum(2, N)
  local t1 = loop:time()
  local r = asyncio.gather(function() return asyncio.to_thread(checksum, 1, N) end,
                           function() return asyncio.to_thread(checksum, 2, N) end)
  local t2 = loop:time()
  assert(r[1] == a and r[2] == b, "threads and serial runs disagree")
  print(("W6 luaio %.2f speedup serial_s=%.3f threads_s=%.3f checksum=%d,%d")
        :format((t1 - t0) / (t2 - t1), t1 - t0, t2 - t1, a, b))
end)
