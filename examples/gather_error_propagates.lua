-- Without return_exceptions, the first error raised by a gathered job comes straight
-- back to the caller of gather. The other jobs are not cancelled: they keep running
-- and can still be awaited for their results.
local asyncio = require "asyncio"

local fetch_or_fail = asyncio.async(function(endpoint, delay, should_fail)
  print("Fetching from " .. endpoint .. "...")
  asyncio.sleep(delay)
  if should_fail then
    error("Failed to fetch from " .. endpoint, 0)
  end
  return {endpoint = endpoint, status = "success"}
end)

asyncio.run(function()
  local users = asyncio.create_task(fetch_or_fail("users", 0.03))
  local products = asyncio.create_task(fetch_or_fail("products", 0.01, true))
  local orders = asyncio.create_task(fetch_or_fail("orders", 0.04))

  local ok, err = pcall(asyncio.gather, users, products, orders)
  print("gather raised: " .. tostring(not ok))
  print("error: " .. tostring(err))

  -- the failure did not cancel the other two: they run to completion
  print("users: " .. asyncio.await(users).status)
  print("orders: " .. asyncio.await(orders).status)
  print("users cancelled: " .. tostring(users:cancelled()))
  print("products failed: " .. tostring(asyncio.iserror(products:exception())))
end)
