-- W5 memory on the bare scheduler (bench/lib/sched.lua, plain Lua 5.4): N
-- tasks suspended on one Event. Prints VmHWM (peak RSS) once they all wait;
-- given the VmHWM of an N=0 run, bytes per task.
-- Usage: lua5.4 lua_bare.lua [N [baseline_kB]]
package.path = arg[0]:match("^(.-)[^/]*$") .. "../lib/?.lua;" .. package.path
local sched = require "sched"
local N = tonumber(arg[1]) or 100000
local BASE = tonumber(arg[2])

local function vmhwm_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s*(%d+) kB")
    if kb then return tonumber(kb) end
  end
end

sched.run(function()
  local ev, waiting, tasks = sched.Event(), 0, {}
  for i = 1, N do
    tasks[i] = sched.spawn(function()
      waiting = waiting + 1
      ev:wait()
      return i
    end)
  end
  sched.sleep(0) -- every task runs up to ev:wait()
  assert(waiting == N, "not every task is waiting")
  local kb = vmhwm_kb()
  ev:set()
  for i = 1, N do assert(sched.join(tasks[i]) == i, "wrong result") end
  if BASE and N > 0 then
    print(("W5 bare %d bytes/task n=%d vmhwm_kb=%d base_kb=%d"):format(
      (kb - BASE) * 1024 // N, N, kb, BASE))
  else
    print(("W5 bare %d kB n=%d"):format(kb, N))
  end
end)
