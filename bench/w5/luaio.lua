-- W5 memory on luaio: N tasks suspended on one Event. Prints VmHWM (peak
-- RSS) once they all wait; given the VmHWM of an N=0 run, bytes per task.
-- Usage: luaio luaio.lua [N [baseline_kB]]
local asyncio = require "asyncio"
local N = tonumber(arg[1]) or 100000
local BASE = tonumber(arg[2])

local function vmhwm_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s*(%d+) kB")
    if kb then return tonumber(kb) end
  end
end

asyncio.run(function()
  local ev, waiting = asyncio.Event(), 0
  local tasks = {}
  for i = 1, N do
    tasks[i] = asyncio.create_task(function()
      waiting = waiting + 1
      ev:wait()
      return i
    end)
  end
  asyncio.sleep(0) -- every task runs up to ev:wait()
  assert(waiting == N, "not every task is waiting")
  local kb = vmhwm_kb()
  ev:set()
  local results = asyncio.gather(tasks)
  for i = 1, N do assert(results[i] == i, "wrong result") end
  if BASE and N > 0 then
    print(("W5 luaio %d bytes/task n=%d vmhwm_kb=%d base_kb=%d"):format(
      (kb - BASE) * 1024 // N, N, kb, BASE))
  else
    print(("W5 luaio %d kB n=%d"):format(kb, N))
  end
end)
