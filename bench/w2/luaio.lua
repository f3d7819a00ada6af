-- W2 timers on luaio: N tasks sleep 10 ms at the same time.
local asyncio = require "asyncio"
local N = tonumber(arg[1]) or 100000
local DELAY = 0.010

asyncio.run(function()
  local loop = asyncio.get_running_loop()
  local t0 = loop:time()
  local tasks = {}
  for i = 1, N do
    tasks[i] = asyncio.create_task(function()
      asyncio.sleep(DELAY)
      return true
    end)
  end
  local results = asyncio.gather(tasks)
  assert(results.n == N, "wrong count")
  assert(loop:time() - t0 >= DELAY, "woke up too early")
  print(("W2 luaio ok n=%d"):format(N))
end)
