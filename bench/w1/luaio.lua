-- W1 spawn+gather on luaio: N tasks, each awaits sleep(0) once and returns
-- its index; gather collects them in order.
local asyncio = require "asyncio"
local N = tonumber(arg[1]) or 100000

local function job(i)
  asyncio.sleep(0)
  return i
end

asyncio.run(function()
  local tasks = {}
  for i = 1, N do
    tasks[i] = asyncio.create_task(function() return job(i) end)
  end
  local results = asyncio.gather(tasks)
  for i = 1, N do assert(results[i] == i, "wrong result") end
  print(("W1 luaio ok n=%d"):format(N))
end)
