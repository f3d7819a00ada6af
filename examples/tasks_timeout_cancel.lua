-- A tour of task control in one run: three tasks are scheduled and gathered later,
-- wait_for abandons an operation that takes too long, a sleeping task is cancelled
-- and cleans up before re-raising, and gather with return_exceptions collects a
-- failure in its slot next to the successful results.
local asyncio = require "asyncio"

local function show(list)
  local parts = {}
  for i = 1, list.n do parts[i] = string.format("%q", list[i]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local slow_operation = asyncio.async(function(name, seconds)
  print((" [%s] starting (%ss)"):format(name, seconds))
  asyncio.sleep(seconds)
  print((" [%s] done"):format(name))
  return name .. ": complete"
end)

local function cancellable()
  local ok, err = pcall(function()
    print(" Cancellable: started")
    asyncio.sleep(1.0)
    print(" Cancellable: done (should not print)")
  end)
  if not ok then
    if asyncio.CancelledError:is(err) then
      print(" Cancellable: cancelled gracefully")
    end
    error(err, 0) -- re-raising matters: the task must end up cancelled
  end
end

local may_fail = asyncio.async(function(n)
  asyncio.sleep(0.02)
  if n == 2 then error(("Task %d failed"):format(n), 0) end
  return ("task-%d ok"):format(n)
end)

asyncio.run(function()
  -- Tasks: scheduled now, awaited later
  local task1 = asyncio.create_task(slow_operation("Download", 0.15))
  local task2 = asyncio.create_task(slow_operation("Process", 0.09))
  local task3 = asyncio.create_task(slow_operation("Upload", 0.12))

  print("Tasks scheduled, doing other work...")
  asyncio.sleep(0.03)
  print("Still running...")

  local results = asyncio.gather(task1, task2, task3)
  print("All done: " .. show(results))

  print()
  print("=== Timeout ===")
  local ok, err = pcall(asyncio.wait_for, slow_operation("Slow", 1.0), 0.1)
  if asyncio.TimeoutError:is(err) then
    print(" Operation timed out!")
  elseif not ok then
    error(err, 0)
  end

  print()
  print("=== Cancellation ===")
  local task = asyncio.create_task(cancellable)
  asyncio.sleep(0.04)
  task:cancel()
  local awaited, cancel_err = pcall(asyncio.await, task)
  if not awaited and asyncio.CancelledError:is(cancel_err) then
    print(" Task was cancelled")
  end

  print()
  print("=== gather with errors ===")
  results = asyncio.gather{may_fail(1), may_fail(2), may_fail(3), return_exceptions = true}
  for i = 1, results.n do
    local r = results[i]
    if asyncio.iserror(r) then
      print(" Error: " .. tostring(r))
    else
      print(" OK: " .. r)
    end
  end
end)
