-- A TaskGroup that is shutting down (a child or the body failed, or its
-- task was cancelled) refuses new children with an error, as asyncio's
-- create_task raises "TaskGroup ... is shutting down" (3.11 and later).
-- luaio once took the child and cancelled it at once, silently.
local asyncio = require "asyncio"

describe("TaskGroup create_task while the group shuts down", function()
  it("raises, and the refused child never runs", asyncio.spec(function()
    local log = {}
    local ok, eg = pcall(asyncio.TaskGroup, function(tg)
      tg:create_task(function() error("child failed", 0) end)
      local slept, err = pcall(asyncio.sleep, 1)
      assert.is_false(slept)
      local made, e = pcall(tg.create_task, tg, function()
        log[#log + 1] = "late child ran"
      end)
      assert.is_false(made)
      log[#log + 1] = e
      error(err, 0)
    end)
    assert.is_false(ok)
    assert.is_true(asyncio.ExceptionGroup:is(eg))
    assert.are.equal(1, #eg.errors)
    asyncio.sleep(0)
    assert.are.same({ "create_task: this TaskGroup is shutting down" }, log)
  end))

  it("raises once its task is cancelled while the exit waits",
    asyncio.spec(function()
      local result
      local worker = asyncio.create_task(function()
        asyncio.TaskGroup(function(tg)
          tg:create_task(function()
            local slept, err = pcall(asyncio.sleep, 1)
            assert.is_false(slept)
            result = table.pack(pcall(tg.create_task, tg, function() end))
            error(err, 0)
          end)
        end)
      end)
      asyncio.sleep(0) -- the worker's group now waits for its child
      worker:cancel()
      assert.is_false(pcall(asyncio.await, worker))
      assert.is_true(worker:cancelled())
      assert.is_false(result[1])
      assert.are.equal("create_task: this TaskGroup is shutting down",
                       result[2])
    end))

  it("still takes children while the exit waits", asyncio.spec(function()
    local log = {}
    asyncio.TaskGroup(function(tg)
      tg:create_task(function()
        asyncio.sleep(0)
        tg:create_task(function() log[#log + 1] = "late child ran" end)
      end)
    end)
    assert.are.same({ "late child ran" }, log)
  end))
end)
