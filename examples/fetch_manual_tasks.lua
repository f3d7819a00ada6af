-- The long-hand way to run several calls concurrently: create one task per call,
-- then await each task in turn. All three run from the start, so awaiting them one
-- by one still takes only as long as the slowest call.
local asyncio = require "asyncio"

local fetch_from_api = asyncio.async(function(endpoint, delay)
  print("Fetching from " .. endpoint .. "...")
  asyncio.sleep(delay)
  print("Finished fetching from " .. endpoint)
  return {endpoint = endpoint, status = "success"}
end)

asyncio.run(function()
  local task1 = asyncio.create_task(fetch_from_api("users", 0.06))
  local task2 = asyncio.create_task(fetch_from_api("products", 0.12))
  local task3 = asyncio.create_task(fetch_from_api("orders", 0.09))

  -- now we have to wait for them all
  asyncio.await(task1)
  asyncio.await(task2)
  asyncio.await(task3) -- already finished by now: returns at once
  print("All three tasks awaited")
end)
