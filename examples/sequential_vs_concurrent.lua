-- Sequential vs concurrent: awaiting three greetings one after another costs the
-- sum of their delays, while gather overlaps the waits and costs about the slowest
-- one. Greetings print in the order they finish; gather's results keep input order.
local asyncio = require "asyncio"

local function show(list)
  local parts = {}
  for i = 1, list.n do parts[i] = string.format("%q", list[i]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local greet = asyncio.async(function(name, seconds)
  asyncio.sleep(seconds)
  local greeting = "Hello from " .. name .. "!"
  print(greeting)
  return greeting
end)

asyncio.run(function()
  local loop = asyncio.get_running_loop()

  print("=== Sequential (await one at a time) ===")
  local start = loop:time()
  asyncio.await(greet("Alice", 0.09))
  asyncio.await(greet("Bob", 0.06))
  asyncio.await(greet("Carol", 0.12))
  local sequential = loop:time() - start

  print("=== Concurrent (asyncio.gather) ===")
  start = loop:time()
  local results = asyncio.gather(greet("Alice", 0.09), greet("Bob", 0.06), greet("Carol", 0.12))
  local concurrent = loop:time() - start

  print("Results: " .. show(results))
  print("Concurrent faster than sequential: " .. tostring(concurrent < sequential * 0.8))
end)
