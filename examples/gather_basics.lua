-- gather starts every call at once and hands back one list of results in the order
-- the calls were passed, not the order they finished. Three simulated API calls of
-- the same length take about as long as one of them, not as long as three in a row.
local asyncio = require "asyncio"

local function show(list)
  local parts = {}
  for i = 1, list.n do parts[i] = string.format("%q", list[i]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local fetch = asyncio.async(function(name)
  asyncio.sleep(0.1) -- simulate an API call
  return name .. " done"
end)

asyncio.run(function()
  local loop = asyncio.get_running_loop()
  local start = loop:time()
  local results = asyncio.gather(fetch("A"), fetch("B"), fetch("C"))
  local elapsed = loop:time() - start

  print(show(results))
  -- three 100 ms calls in a row could not take less than 300 ms
  print("Faster than three calls in a row: " .. tostring(elapsed < 3 * 0.1))
end)
