-- A Queue hands values over in FIFO order: first put, first got. get() on an empty
-- queue does not block the program; it suspends the task until another task puts
-- something in.
local asyncio = require "asyncio"

asyncio.run(function()
  local queue = asyncio.Queue()

  queue:put("item-1")
  queue:put("item-2")

  print(queue:get()) -- item-1
  print(queue:get()) -- item-2

  -- the queue is empty now: get() waits until someone puts
  asyncio.create_task(function()
    asyncio.sleep(0.01)
    print("helper: putting item-3")
    queue:put("item-3")
  end)
  print("waiting on an empty queue...")
  print(queue:get()) -- item-3
end)
