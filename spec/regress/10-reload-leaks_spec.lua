-- Issue 10: cancelling the root task of a reloaded script left its other
-- tasks, its call_later handles and its done callbacks alive, and each
-- reload added more (1,000 reloads: 1,001 live tasks, 40 MB of heap). Run
-- in a scope, a version is gone once its scope is closed.
local asyncio = require "asyncio"

-- A version of the script: tasks that spawn tasks, a timer that rearms
-- itself, a done callback on a future that outlives every version.
local function script(event, counts)
  local loop = asyncio.get_running_loop()
  local function forever() while true do asyncio.sleep(1) end end
  asyncio.create_task(function()
    asyncio.create_task(forever)
    forever()
  end)
  local function tick() loop:call_later(0.5, tick) end
  tick()
  event:add_done_callback(function() counts.callbacks = counts.callbacks + 1 end)
  forever()
end

describe("regress #10: reloading a script", function()
  it("leaves tasks and heap flat, and no stale callback", asyncio.spec(function()
    local reloads = os.getenv("LUAIO_VALGRIND") and 50 or 300
    local event = asyncio.Future()
    local counts = { callbacks = 0 }
    local scope
    local tasks_at, heap_at
    for i = 1, reloads do
      if scope then scope:close() end
      scope = asyncio.Scope()
      scope:spawn(script, event, counts)
      asyncio.sleep(0)
      asyncio.sleep(0)
      if i == 10 then
        collectgarbage()
        collectgarbage()
        tasks_at, heap_at = #asyncio.all_tasks(), collectgarbage("count")
      end
    end
    collectgarbage()
    collectgarbage()
    assert.equal(tasks_at, #asyncio.all_tasks())
    assert.equal(4, tasks_at) -- the spec's own task and one version's three
    assert.is_true(collectgarbage("count") < heap_at + 16,
                   "the heap grew by more than 16 KB")
    event:set_result(true)
    asyncio.sleep(0)
    assert.equal(1, counts.callbacks)
    scope:close()
  end))
end)
