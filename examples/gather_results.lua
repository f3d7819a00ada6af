-- gather collects each coroutine's return value into a list, in the order the
-- coroutines were passed in.
local asyncio = require "asyncio"

local function show(list)
  local parts = {}
  for i = 1, list.n do parts[i] = string.format("%q", list[i]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local coroutine1 = asyncio.async(function() return "Result 1" end)
local coroutine2 = asyncio.async(function() return "Result 2" end)
local coroutine3 = asyncio.async(function() return "Result 3" end)

asyncio.run(function()
  local results = asyncio.gather(coroutine1(), coroutine2(), coroutine3())
  print(show(results))
end)
