-- Cancelling the task that runs a TaskGroup while the group's exit waits
-- for its children must cancel the children and raise CancelledError in
-- that task (the exit once missed the cancellation and kept waiting).
local asyncio = require "asyncio"

describe("TaskGroup exit", function()
  it("passes a cancellation of its parent to the children",
    asyncio.spec(function()
      local log = {}
      local parent = asyncio.create_task(function()
        return asyncio.TaskGroup(function(tg)
          tg:create_task(function()
            local ok, err = pcall(asyncio.sleep, 10)
            log[#log + 1] = ok and "child finished" or "child cancelled"
            error(err, 0)
          end)
        end)
      end)
      asyncio.sleep(0.01)
      parent:cancel()
      local ok, err = pcall(asyncio.await, parent)
      assert.is_false(ok)
      assert.is_true(asyncio.CancelledError:is(err))
      assert.are.same({ "child cancelled" }, log)
      assert.is_true(parent:cancelled())
    end))
end)
