-- W1 spawn+gather on cqueues: N coroutines on one controller, each polls
-- once with a zero timeout (cqueues.sleep(0)) and stores its index; the main
-- coroutine waits on a condition until the last one is done.
local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local N = tonumber(arg[1]) or 100000

local cq = cqueues.new()
local ok = false

cq:wrap(function()
  local results, left, all_done = {}, N, condition.new()
  for i = 1, N do
    cq:wrap(function()
      cqueues.sleep(0)
      results[i] = i
      left = left - 1
      if left == 0 then all_done:signal() end
    end)
  end
  while left > 0 do all_done:wait() end
  for i = 1, N do assert(results[i] == i, "wrong result") end
  ok = true
end)

assert(cq:loop())
assert(ok, "the controller stopped before every job was done")
print(("W1 cqueues ok n=%d"):format(N))
