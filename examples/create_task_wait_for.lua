-- create_task starts work right away and lets the caller do something else before
-- collecting the result with await; wait_for puts a time budget on a call and raises
-- TimeoutError (after cancelling the call) when the budget runs out.
local asyncio = require "asyncio"

local slow_api = asyncio.async(function()
  asyncio.sleep(0.04)
  return "response"
end)

asyncio.run(function()
  -- fire it: the task starts running as soon as we yield to the loop
  local task = asyncio.create_task(slow_api())
  print("task fired, doing other work...")

  -- collect the result when we need it
  local result = asyncio.await(task)
  print(result)

  -- a 40 ms call against a 20 ms budget
  local ok, err = pcall(asyncio.wait_for, slow_api(), 0.02)
  if asyncio.TimeoutError:is(err) then
    print("timeout!")
  elseif not ok then
    error(err, 0)
  end
end)
