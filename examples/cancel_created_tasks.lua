-- Cancelling one of two running tasks: task 1 is cancelled while it sleeps, task 2
-- is untouched and finishes. gather with return_exceptions then reports the
-- cancellation in task 1's slot instead of raising it.
local asyncio = require "asyncio"

local function task_1()
  print("Task 1 is running...")
  asyncio.sleep(0.06)
  print("Task 1 done!") -- never reached: cancelled first
end

local function task_2()
  print("Task 2 is running...")
  asyncio.sleep(0.08)
  print("Task 2 done!")
end

asyncio.run(function()
  local task_1_res = asyncio.create_task(task_1)
  local task_2_res = asyncio.create_task(task_2)

  -- let both start, then cancel the first one
  asyncio.sleep(0.04)
  task_1_res:cancel()

  local results = asyncio.gather{task_1_res, task_2_res, return_exceptions = true}
  for i = 1, results.n do
    local outcome = asyncio.CancelledError:is(results[i]) and "cancelled" or "finished"
    print(("task %d: %s"):format(i, outcome))
  end
end)
