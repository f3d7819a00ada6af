-- W5 memory on cqueues: N coroutines on one controller suspended on one
-- condition. Prints VmHWM (peak RSS) once they all wait; given the VmHWM of
-- an N=0 run, bytes per task. Usage: lua5.4 lua_cqueues.lua [N [baseline_kB]]
local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local N = tonumber(arg[1]) or 100000
local BASE = tonumber(arg[2])

local function vmhwm_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s*(%d+) kB")
    if kb then return tonumber(kb) end
  end
end

local cq = cqueues.new()
local results, waiting, kb = {}, 0, nil

cq:wrap(function()
  local ev, is_set = condition.new(), false
  for i = 1, N do
    cq:wrap(function()
      waiting = waiting + 1
      while not is_set do ev:wait() end
      results[i] = i
    end)
  end
  -- let every coroutine run up to ev:wait(); the controller may need
  -- more than one step to start them all
  while waiting < N do cqueues.sleep(0) end
  kb = vmhwm_kb()
  is_set = true
  ev:signal()
end)

assert(cq:loop())
for i = 1, N do assert(results[i] == i, "wrong result") end
if BASE and N > 0 then
  print(("W5 cqueues %d bytes/task n=%d vmhwm_kb=%d base_kb=%d"):format(
    (kb - BASE) * 1024 // N, N, kb, BASE))
else
  print(("W5 cqueues %d kB n=%d"):format(kb, N))
end
