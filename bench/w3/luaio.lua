-- W3 queue on luaio: N integers through Queue(100), one producer task and
-- one consumer task.
local asyncio = require "asyncio"
local N = tonumber(arg[1]) or 1000000

asyncio.run(function()
  local q = asyncio.Queue(100)
  local function producer()
    for i = 1, N do q:put(i) end
  end
  local function consumer()
    local sum = 0
    for _ = 1, N do sum = sum + q:get() end
    return sum
  end
  local results = asyncio.gather(producer, consumer)
  assert(results[2] == N * (N + 1) // 2, "wrong sum")
  print(("W3 luaio ok n=%d sum=%d"):format(N, results[2]))
end)
