-- Six "requests" share a Semaphore(2): at most two run at once, and the others
-- wait their turn in the order they asked (semaphores wake waiters first come,
-- first served). sem:with(fn) acquires, runs fn and releases, also when fn
-- fails. A request's cost is the number of loop turns it takes.
local asyncio = require "asyncio"

local limit -- made inside asyncio.run: primitives belong to a running loop
local active, max_active = 0, 0
local order = {}

local function request(id, cost)
  print(("request %d waits"):format(id))
  return limit:with(function()
    active = active + 1
    max_active = math.max(max_active, active)
    order[#order + 1] = id
    print(("request %d starts (%d active)"):format(id, active))
    for _ = 1, cost do
      asyncio.sleep(0)
    end
    active = active - 1
    print(("request %d done"):format(id))
    return "response " .. id
  end)
end

asyncio.run(function()
  limit = asyncio.Semaphore(2)
  local costs = { 3, 1, 2, 2, 1, 1 }
  local calls = {}
  for id, cost in ipairs(costs) do
    calls[id] = function() return request(id, cost) end
  end
  local responses = asyncio.gather(calls)
  print(("%d responses, in request order: %s"):format(
    responses.n, table.concat(responses, ", ")))
  print("started in the order: " .. table.concat(order, " "))
  print(("at most %d requests ran at once"):format(max_active))
end)
