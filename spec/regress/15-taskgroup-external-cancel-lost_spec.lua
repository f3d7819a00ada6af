-- A task cancelled from outside while its TaskGroup's exit waits for a
-- child that then fails: the group raises its ExceptionGroup (errors win
-- over the cancellation), and the task's next await is cancelled, as in
-- CPython 3.13 (gh-116720). The cancellation was once lost: the task
-- slept on and ended as if nothing had asked it to stop.
local asyncio = require "asyncio"

describe("TaskGroup exit cancelled from outside", function()
  it("raises the group's errors, then cancels the next await",
    asyncio.spec(function()
      local log = {}
      local worker = asyncio.create_task(function()
        local ok, eg = pcall(asyncio.TaskGroup, function(tg)
          tg:create_task(function() error("child failed", 0) end)
        end)
        assert.is_false(ok)
        assert.is_true(asyncio.ExceptionGroup:is(eg))
        log[#log + 1] = "group failed: " .. tostring(eg.errors[1])
        log[#log + 1] = "cancelling " .. asyncio.current_task():cancelling()
        local slept, err = pcall(asyncio.sleep, 1)
        log[#log + 1] = slept and "slept on" or "cancelled"
        if not slept then error(err, 0) end
      end)
      asyncio.sleep(0) -- the worker's group now waits for its child
      worker:cancel()
      local ok, err = pcall(asyncio.await, worker)
      assert.is_false(ok)
      assert.is_true(asyncio.CancelledError:is(err))
      assert.are.same(
        { "group failed: child failed", "cancelling 1", "cancelled" }, log)
      assert.is_true(worker:cancelled())
    end))

  it("re-arms the cancellation even when the task does not await again",
    asyncio.spec(function()
      local worker = asyncio.create_task(function()
        pcall(asyncio.TaskGroup, function(tg)
          tg:create_task(function() error("child failed", 0) end)
        end)
        return "returned"
      end)
      asyncio.sleep(0)
      worker:cancel()
      pcall(asyncio.await, worker)
      assert.is_true(worker:cancelled())
    end))

  it("keeps one request per outside cancel, and uncancel takes it back",
    asyncio.spec(function()
      local log = {}
      local worker = asyncio.create_task(function()
        local me = asyncio.current_task()
        pcall(asyncio.TaskGroup, function(tg)
          tg:create_task(function() error("child failed", 0) end)
        end)
        log[#log + 1] = me:cancelling()
        log[#log + 1] = me:uncancel()
        log[#log + 1] = pcall(asyncio.sleep, 0) and "slept" or "cancelled"
      end)
      asyncio.sleep(0)
      worker:cancel()
      asyncio.await(worker)
      assert.are.same({ 1, 0, "slept" }, log)
    end))
end)
