local asyncio = require "asyncio"

-- Runs a case made by asyncio.spec outside busted's `it` and returns its error.
local function failure_of(body)
  local ok, err = pcall(asyncio.spec(body))
  assert.is_false(ok, "the case was expected to fail")
  return err
end

describe("asyncio.spec", function()
  it("runs the body as a task inside the loop", function()
    local ran_in_task = false
    asyncio.spec(function()
      ran_in_task = asyncio.current_task() ~= nil
      asyncio.sleep(0)
    end)()
    assert.is_true(ran_in_task)
  end)

  it("propagates the body's error", function()
    local e = { code = 5 }
    assert.equal(e, failure_of(function() error(e) end))
    assert.equal("plain", tostring(failure_of(function()
      asyncio.sleep(0)
      error("plain", 0)
    end)))
  end)

  it("t.expect counts calls and passes values through", function()
    asyncio.spec(function(t)
      local twice = t.expect(function(x) return x + 1 end, 2)
      assert.equal(2, twice(1))
      assert.equal(3, twice(2))
      local noop = t.expect(nil, 1)
      asyncio.get_running_loop():call_soon(noop)
    end)()
  end)

  it("fails when an expectation is called the wrong number of times", function()
    local err = failure_of(function(t)
      local ping = t.expect(function() end, 2, "ping")
      ping()
    end)
    assert.equal("expected 2 calls to ping, got 1", tostring(err))
    err = failure_of(function(t)
      local first = t.expect(function() end, 1, "first")
      first()
      local unnamed = t.expect(function() end, 0)
      unnamed()
    end)
    assert.matches("^expected 0 calls to #2", tostring(err))
    assert.matches(", got 1$", tostring(err))
  end)

  it("fails when a task outlives the body, naming it", function()
    local err = failure_of(function()
      asyncio.create_task(function()
        asyncio.await(asyncio.Future())
      end, { name = "leaked-task" })
      asyncio.sleep(0)
    end)
    assert.matches("leaked-task", tostring(err), 1, true)
    assert.matches("spec_spec.lua", tostring(err), 1, true)
    -- asyncio.run cancelled the leftover, so a new loop starts clean.
    asyncio.spec(function() end)()
  end)

  it("accepts tasks that finished during the body", function()
    asyncio.spec(function()
      local task = asyncio.create_task(function() asyncio.sleep(0) end)
      asyncio.await(task)
      asyncio.create_task(function() end)
    end)()
  end)
end)
