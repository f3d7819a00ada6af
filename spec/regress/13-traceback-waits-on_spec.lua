-- A suspended task's traceback, and with it the deadlock report, showed
-- where the task stopped but not what it waited for. Its first line now
-- names it: a sleep, the Queue or Lock of the call, the Task or Future
-- it awaits.
local asyncio = require "asyncio"

describe("task:traceback() of a suspended task", function()
  it("says what the task waits on", asyncio.spec(function()
    local q, lock, fut = asyncio.Queue(), asyncio.Lock(), asyncio.Future()
    lock:acquire()
    local sleeper = asyncio.create_task(function() asyncio.sleep(10) end,
                                        { name = "sleeper" })
    local tasks = {
      asyncio.create_task(function() q:get() end, { name = "getter" }),
      asyncio.create_task(function() lock:acquire() end, { name = "locker" }),
      asyncio.create_task(function() asyncio.await(fut) end, { name = "f" }),
      asyncio.create_task(function() asyncio.await(sleeper) end,
                          { name = "t" }),
      sleeper,
    }
    asyncio.sleep(0)
    local heads = {}
    for _, t in ipairs(tasks) do
      heads[#heads + 1] = t:traceback():match("^[^\n]*")
    end
    assert.same({
      "task 'getter' is suspended here, waiting on an asyncio.Queue:",
      "task 'locker' is suspended here, waiting on an asyncio.Lock:",
      "task 'f' is suspended here, waiting for asyncio.Future (pending):",
      "task 't' is suspended here, waiting for asyncio.Task<sleeper> "
        .. "(pending):",
      "task 'sleeper' is suspended here, in asyncio.sleep, awaited by "
        .. "task 't':",
    }, heads)
    for _, t in ipairs(tasks) do t:cancel() end
    asyncio.wait(tasks)
  end))
end)
