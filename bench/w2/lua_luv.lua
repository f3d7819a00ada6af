-- W2 timers on luv with coroutines: N coroutines sleep 10 ms at the same
-- time, each on its own libuv timer (luvit's sleep).
local uv = require "luv"
local N = tonumber(arg[1]) or 100000
local DELAY = 10 -- ms

local function sleep(ms)
  local co, timer = coroutine.running(), uv.new_timer()
  timer:start(ms, 0, function()
    timer:close()
    assert(coroutine.resume(co))
  end)
  coroutine.yield()
end

-- Runs each function in its own coroutine; returns their results in order.
local function gather(fns)
  local main, results, left = coroutine.running(), {}, #fns
  for i = 1, #fns do
    local co = coroutine.create(function()
      results[i] = fns[i]()
      left = left - 1
      if left == 0 then assert(coroutine.resume(main)) end
    end)
    assert(coroutine.resume(co))
  end
  if left > 0 then coroutine.yield() end
  return results
end

local ok = false
coroutine.wrap(function()
  local t0 = uv.hrtime()
  local fns = {}
  for i = 1, N do
    fns[i] = function()
      sleep(DELAY)
      return true
    end
  end
  local results = gather(fns)
  assert(#results == N, "wrong count")
  assert(uv.hrtime() - t0 >= DELAY * 1e6, "woke up too early")
  ok = true
end)()
uv.run()
assert(ok, "the loop stopped before every sleeper was done")
print(("W2 luv ok n=%d"):format(N))
