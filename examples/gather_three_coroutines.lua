-- The smallest gather: three async functions that do nothing are run together and
-- awaited as one. Functions that return nothing still get a slot each: results.n
-- is 3 and every slot is nil.
local asyncio = require "asyncio"

local coroutine1 = asyncio.async(function() end)
local coroutine2 = asyncio.async(function() end)
local coroutine3 = asyncio.async(function() end)

asyncio.run(function()
  local results = asyncio.gather(coroutine1(), coroutine2(), coroutine3())
  local all_nil = results[1] == nil and results[2] == nil and results[3] == nil
  print(("gathered %d results, all nil: %s"):format(results.n, tostring(all_nil)))
end)
