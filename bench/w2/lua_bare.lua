-- W2 timers on the bare scheduler (bench/lib/sched.lua, plain Lua 5.4):
-- N tasks sleep 10 ms at the same time on its sleep heap.
package.path = arg[0]:match("^(.-)[^/]*$") .. "../lib/?.lua;" .. package.path
local sched = require "sched"
local N = tonumber(arg[1]) or 100000
local DELAY = 0.010

sched.run(function()
  local t0 = sched.now()
  local tasks = {}
  for i = 1, N do
    tasks[i] = sched.spawn(function()
      sched.sleep(DELAY)
      return true
    end)
  end
  for i = 1, N do assert(sched.join(tasks[i]) == true, "wrong result") end
  assert(sched.now() - t0 >= DELAY, "woke up too early")
  print(("W2 bare ok n=%d"):format(N))
end)
