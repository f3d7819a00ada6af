-- Tolerating partial failure: with return_exceptions = true, gather does not raise
-- when one fetch fails. The error object takes that fetch's slot and the caller
-- sorts successes from failures afterwards with asyncio.iserror.
local asyncio = require "asyncio"

local function show_result(r)
  return ("{endpoint = %q, status = %q}"):format(r.endpoint, r.status)
end

local fetch_or_fail = asyncio.async(function(endpoint, delay, should_fail)
  print("Fetching from " .. endpoint .. "...")
  asyncio.sleep(delay)
  if should_fail then
    error("Failed to fetch from " .. endpoint, 0)
  end
  return {endpoint = endpoint, status = "success"}
end)

asyncio.run(function()
  print("Running tasks with potential errors...")
  local results = asyncio.gather{
    fetch_or_fail("users", 0.06),
    fetch_or_fail("products", 0.12, true),
    fetch_or_fail("orders", 0.09),
    return_exceptions = true, -- the important part
  }

  print()
  print("--- All tasks complete ---")
  for i = 1, results.n do
    local res = results[i]
    if asyncio.iserror(res) then
      print("A task failed: " .. tostring(res))
    else
      print("A task succeeded: " .. show_result(res))
    end
  end
end)
