-- A long-running program whose fire-and-forget tasks sometimes fail kept
-- every failed task, with its traceback, until the loop closed. Each is
-- now reported when the collector takes it, and then forgotten.
local asyncio = require "asyncio"

local PER_ROUND = os.getenv("LUAIO_VALGRIND") and 200 or 2000

describe("failed tasks that nobody awaits", function()
  it("are reported when collected and do not accumulate",
     asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local count, tasks_named = 0, 0
    loop:set_exception_handler(function(_, context)
      count = count + 1
      if context.task and context.message:find(context.task:get_name(), 1,
                                               true) then
        tasks_named = tasks_named + 1
      end
    end)
    local heap = {}
    for round = 1, 4 do
      for i = 1, PER_ROUND do
        asyncio.create_task(function() error("request " .. i, 0) end)
      end
      asyncio.sleep(0) -- they all fail
      collectgarbage(); collectgarbage() -- their guards report them
      asyncio.sleep(0) -- the reports are delivered
      assert.equal(round * PER_ROUND, count)
      collectgarbage(); collectgarbage()
      heap[round] = collectgarbage("count")
    end
    assert.equal(4 * PER_ROUND, tasks_named)
    -- Before, each round kept about 780 bytes per task.
    local grown = (heap[4] - heap[1]) * 1024 / (3 * PER_ROUND)
    assert.is_true(grown < 50, ("%.0f bytes kept per task"):format(grown))
  end))
end)
