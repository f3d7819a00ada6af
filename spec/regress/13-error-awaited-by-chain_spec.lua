-- A failure in a nested task showed where it was raised, but not the
-- chain of tasks waiting for it. The traceback an error carries out of a
-- task now names them, first awaiter first, with how each waits: through
-- a TaskGroup, a gather, a shield, or a plain await (wait_for too).
local asyncio = require "asyncio"
local cli_child = require "cli_child"

-- The first line of the traceback of what fn raises.
local function head(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok)
  if asyncio.ExceptionGroup:is(err) then
    err = err.errors[1]
  end
  return (err.traceback:match("^[^\n]*"))
end

local function fail()
  asyncio.sleep(0)
  error("boom", 0)
end

describe("a task's error", function()
  it("names the tasks waiting for it, and how", asyncio.spec(function()
    local main = asyncio.current_task():get_name()
    assert.equal(("in task 'worker-3', awaited by task '%s' (via "
      .. "TaskGroup):"):format(main), head(function()
        asyncio.TaskGroup(function(tg)
          tg:create_task(fail, { name = "worker-3" })
        end)
      end))
    local mid = asyncio.create_task(function()
      asyncio.gather(asyncio.create_task(fail, { name = "leaf" }))
    end, { name = "mid" })
    assert.equal(("in task 'leaf', awaited by task 'mid' (via gather), "
      .. "awaited by task '%s':"):format(main), head(function()
        asyncio.await(mid)
      end))
    assert.equal(("in task 'shielded', awaited by task '%s' (via "
      .. "shield):"):format(main), head(function()
        asyncio.await(asyncio.shield(asyncio.create_task(fail,
          { name = "shielded" })))
      end))
    assert.equal(("in task 'timed', awaited by task '%s':"):format(main),
      head(function()
        asyncio.wait_for(asyncio.create_task(fail, { name = "timed" }), 10)
      end))
    -- Nobody waits: the header is as it was.
    local lonely = asyncio.create_task(fail, { name = "lonely" })
    while not lonely:done() do
      asyncio.sleep(0)
    end
    assert.equal("in task 'lonely':", head(function()
      asyncio.await(lonely)
    end))
  end))

  it("shows the chain when the command reports it uncaught", function()
    local child = cli_child.run([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local w = asyncio.create_task(function()
          asyncio.sleep(0); error("boom", 0)
        end, { name = "worker-3" })
        asyncio.await(w)
      end)
    ]])
    local out, err, how, status = child:finish()
    assert.equal("", out)
    assert.equal("exit", how)
    assert.equal(1, status)
    assert.matches("luaio: boom\nin task 'worker-3', awaited by task "
      .. "'Task-1':\nstack traceback:\n", err, 1, true)
  end)
end)
