-- W1 spawn+gather on the bare scheduler (bench/lib/sched.lua, plain Lua 5.4):
-- N tasks, each yields one turn and returns its index; join each in order.
package.path = arg[0]:match("^(.-)[^/]*$") .. "../lib/?.lua;" .. package.path
local sched = require "sched"
local N = tonumber(arg[1]) or 100000

local function job(i)
  sched.sleep(0)
  return i
end

sched.run(function()
  local tasks = {}
  for i = 1, N do tasks[i] = sched.spawn(function() return job(i) end) end
  for i = 1, N do assert(sched.join(tasks[i]) == i, "wrong result") end
  print(("W1 bare ok n=%d"):format(N))
end)
