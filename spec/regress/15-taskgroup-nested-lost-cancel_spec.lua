-- An outer TaskGroup's child fails, so the outer group cancels its body,
-- which is inside an inner group whose child fails too. The inner group
-- raises its ExceptionGroup, and its task's next await must then be
-- cancelled (CPython 3.13, gh-116720) so that the outer body stops. The
-- outer body once slept on long after its sibling had failed.
local asyncio = require "asyncio"

local function fail(msg) return function() error(msg, 0) end end

describe("nested TaskGroups whose children fail", function()
  it("stop the outer body at its next await", asyncio.spec(function()
    local log = {}
    local ok, eg = pcall(asyncio.TaskGroup, function(outer)
      outer:create_task(fail("outer child"))
      local ok2, inner_eg = pcall(asyncio.TaskGroup, function(inner)
        inner:create_task(fail("inner child"))
      end)
      assert.is_false(ok2)
      log[#log + 1] = "inner group failed: " .. tostring(inner_eg.errors[1])
      log[#log + 1] = "cancelling " .. asyncio.current_task():cancelling()
      asyncio.sleep(1)
      log[#log + 1] = "outer body slept on"
    end)
    assert.is_false(ok)
    assert.is_true(asyncio.ExceptionGroup:is(eg))
    local msgs = {}
    for i, e in ipairs(eg.errors) do msgs[i] = tostring(e) end
    log[#log + 1] = "outer group failed: " .. table.concat(msgs, ",")
    log[#log + 1] = "cancelling " .. asyncio.current_task():cancelling()
    assert.are.same({
      "inner group failed: inner child",
      "cancelling 1",
      "outer group failed: outer child",
      "cancelling 0",
    }, log)
  end))
end)
