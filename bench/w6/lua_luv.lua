-- W6 to_thread on luv with coroutines: a CPU-bound checksum loop run twice,
-- first serially on the loop's thread, then as two uv.new_work jobs at once
-- (libuv's thread pool, each job in a Lua state of its own). Prints the
-- speedup of the second way over the first.
local uv = require "luv"
local N = tonumber(arg[1]) or 10000000

local function checksum(seed, n)
  -- luv hands numbers to the thread pool as floats: make them integers again
  seed, n = math.tointeger(seed), math.tointeger(n)
  local x = seed
  for i = 1, n do x = (x * 31 + i) % 1000000007 end
  return x
end

-- Runs fn(...) on the thread pool and suspends the coroutine until it ends.
local function to_thread(fn, ...)
  local co = coroutine.running()
  local work = uv.new_work(fn, function(...)
    assert(coroutine.resume(co, ...))
  end)
  work:queue(...)
  return coroutine.yield()
end

local line
coroutine.wrap(function()
  local t0 = uv.hrtime()
  local a, b = checksum(1, N), checksum(2, N)
  local t1 = uv.hrtime()
  local main, r, left = coroutine.running(), {}, 2
  for seed = 1, 2 do
    coroutine.wrap(function()
      r[seed] = math.tointeger(to_thread(checksum, seed, N))
      left = left - 1
      if left == 0 then assert(coroutine.resume(main)) end
    end)()
  end
  coroutine.yield()
  local t2 = uv.hrtime()
  assert(r[1] == a and r[2] == b, "threads and serial runs disagree")
  local serial, threads = (t1 - t0) / 1e9, (t2 - t1) / 1e9
  line = ("W6 luv %.2f speedup serial_s=%.3f threads_s=%.3f checksum=%d,%d")
         :format(serial / threads, serial, threads, a, b)
end)()
uv.run()
assert(line, "the loop stopped before both jobs were done")
print(line)
