-- gather runs three simulated API fetches concurrently: they all start at once,
-- finish in order of their delays, and the whole batch takes about as long as the
-- slowest fetch instead of the sum. The results list keeps the order of the calls.
local asyncio = require "asyncio"

local function show_result(r)
  return ("{endpoint = %q, status = %q}"):format(r.endpoint, r.status)
end

local fetch_from_api = asyncio.async(function(endpoint, delay)
  print("Fetching from " .. endpoint .. "...")
  asyncio.sleep(delay)
  local result = {endpoint = endpoint, status = "success"}
  print("Finished fetching from " .. endpoint)
  return result
end)

asyncio.run(function()
  local loop = asyncio.get_running_loop()
  local start = loop:time()

  local all_results = asyncio.gather(
    fetch_from_api("users", 0.06),
    fetch_from_api("products", 0.12),
    fetch_from_api("orders", 0.09)
  )

  local elapsed = loop:time() - start
  local sum_of_delays = 0.06 + 0.12 + 0.09 -- what one-at-a-time fetching would cost

  print()
  print("All tasks finished in less than the sum of their delays: "
        .. tostring(elapsed < sum_of_delays))
  print("--- Results ---")
  local parts = {}
  for i = 1, all_results.n do parts[i] = show_result(all_results[i]) end
  print("{" .. table.concat(parts, ", ") .. "}")
end)
