-- W2 timers on cqueues: N coroutines on one controller sleep 10 ms at the
-- same time; the main coroutine waits on a condition for the last one.
local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local N = tonumber(arg[1]) or 100000
local DELAY = 0.010

local cq = cqueues.new()
local ok = false

cq:wrap(function()
  local t0 = cqueues.monotime()
  local left, all_done = N, condition.new()
  for _ = 1, N do
    cq:wrap(function()
      cqueues.sleep(DELAY)
      left = left - 1
      if left == 0 then all_done:signal() end
    end)
  end
  while left > 0 do all_done:wait() end
  assert(cqueues.monotime() - t0 >= DELAY, "woke up too early")
  ok = true
end)

assert(cq:loop())
assert(ok, "the controller stopped before every sleeper was done")
print(("W2 cqueues ok n=%d"):format(N))
