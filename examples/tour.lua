-- A short tour of luaio: Lua coroutines driven by an asyncio-style event loop.
-- It runs jobs concurrently, starts tasks and awaits them later, puts a time limit
-- on a call, cancels a task, gathers results next to errors, and feeds a queue.
local asyncio = require "asyncio"

local function show(list)
  local parts = {}
  for i = 1, list.n do parts[i] = string.format("%q", list[i]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- an async function: calling cook(...) makes a coroutine object to await or gather
local cook = asyncio.async(function(dish, seconds)
  asyncio.sleep(seconds) -- suspends this task only; the loop keeps going
  return dish .. " ready"
end)

asyncio.run(function()
  local loop = asyncio.get_running_loop()

  print("=== Concurrent vs sequential ===")
  print("three dishes, 80 ms each: first one after another, then all at once")
  local start = loop:time()
  for _, dish in ipairs{"tea", "toast", "eggs"} do
    asyncio.await(cook(dish, 0.08)) -- one after another
  end
  local sequential = loop:time() - start
  start = loop:time()
  local meals = asyncio.gather(cook("tea", 0.08), cook("toast", 0.08), cook("eggs", 0.08))
  local concurrent = loop:time() - start
  print("gather results, in input order: " .. show(meals))
  print("concurrent faster than sequential: " .. tostring(concurrent < sequential * 0.8))

  print()
  print("=== Tasks ===")
  local task = asyncio.create_task(cook("pancakes", 0.02), {name = "pancakes"})
  print("started task '" .. task:get_name() .. "', doing other work meanwhile")
  print("done yet? " .. tostring(task:done()))
  print("awaited: " .. asyncio.await(task))
  print("done now? " .. tostring(task:done()))

  print()
  print("=== Timeouts ===")
  local ok, err = pcall(asyncio.wait_for, cook("roast", 1.0), 0.02)
  print("1 s roast with a 20 ms budget raises TimeoutError: "
        .. tostring(not ok and asyncio.TimeoutError:is(err)))
  print("salad within 0.5 s: " .. asyncio.wait_for(cook("salad", 0.01), 0.5))

  print()
  print("=== Cancellation ===")
  local worker = asyncio.create_task(function()
    print("worker: started, sleeping for a long time")
    local slept, why = pcall(asyncio.sleep, 10)
    if not slept then
      print("worker: cancelled while sleeping, cleaning up")
      error(why, 0) -- re-raise so the task ends up cancelled
    end
  end)
  asyncio.sleep(0.01)
  worker:cancel()
  local finished, cancel_err = pcall(asyncio.await, worker)
  print("awaiting it raises CancelledError: "
        .. tostring(not finished and asyncio.CancelledError:is(cancel_err)))
  print("worker:cancelled() = " .. tostring(worker:cancelled()))

  print()
  print("=== gather with errors ===")
  local check = asyncio.async(function(n)
    asyncio.sleep(0.01)
    if n == 2 then error("order 2 burnt", 0) end
    return "order " .. n .. " ok"
  end)
  local _, first_err = pcall(asyncio.gather, check(1), check(2), check(3))
  print("plain gather raises the first error: " .. tostring(first_err))
  local results = asyncio.gather{check(1), check(2), check(3), return_exceptions = true}
  for i = 1, results.n do
    local r = results[i]
    print(asyncio.iserror(r) and ("  error: " .. tostring(r)) or ("  ok: " .. r))
  end

  print()
  print("=== Queue ===")
  local queue = asyncio.Queue()
  local function producer()
    for i = 1, 3 do queue:put("job " .. i) end
    queue:put(nil) -- nil is a valid item: here it means "no more work"
  end
  local function consumer()
    while true do
      local job = queue:get()
      if job == nil then break end
      print("consumer handled " .. job)
    end
    print("consumer saw the nil sentinel and stopped")
  end
  asyncio.gather(producer, consumer)
  print("queue empty: " .. tostring(queue:empty()))
end)
