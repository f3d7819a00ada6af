-- W3 queue on the bare scheduler (bench/lib/sched.lua, plain Lua 5.4):
-- N integers through its Queue(100), one producer and one consumer task.
package.path = arg[0]:match("^(.-)[^/]*$") .. "../lib/?.lua;" .. package.path
local sched = require "sched"
local N = tonumber(arg[1]) or 1000000

sched.run(function()
  local q = sched.Queue(100)
  local producer = sched.spawn(function()
    for i = 1, N do q:put(i) end
  end)
  local consumer = sched.spawn(function()
    local sum = 0
    for _ = 1, N do sum = sum + q:get() end
    return sum
  end)
  sched.join(producer)
  local sum = sched.join(consumer)
  assert(sum == N * (N + 1) // 2, "wrong sum")
  print(("W3 bare ok n=%d sum=%d"):format(N, sum))
end)
