-- gather, create_task and shield took a plain function as an awaitable,
-- but wait_for, wait and as_completed refused one. Every function that
-- takes an awaitable takes a function, as the coroutine object it makes.
local asyncio = require "asyncio"
local support = require "support"

local function fn()
  asyncio.sleep(0)
  return "ok", 2
end

describe("a plain function as an awaitable", function()
  it("is awaited by wait_for, inside the current task",
    asyncio.spec(function()
      local me = asyncio.current_task()
      local inside
      assert.are.same({ "ok", 2 }, { asyncio.wait_for(function()
        inside = asyncio.current_task()
        return fn()
      end, 1) })
      assert.equal(me, inside)
      assert.are.same({ "ok", 2 }, { asyncio.wait_for(fn, nil) })
      assert.are.same({ "ok", 2 }, { asyncio.await(fn) })
    end))

  it("times out in wait_for", asyncio.spec(function()
    local err = support.error_of(asyncio.wait_for, function()
      asyncio.sleep(10)
    end, 0)
    assert.is_true(asyncio.TimeoutError:is(err))
  end))

  it("becomes a task in wait", asyncio.spec(function()
    local done, pending = asyncio.wait({ fn, fn })
    assert.equal(2, #done)
    assert.equal(0, #pending)
    for _, t in ipairs(done) do
      assert.are.same({ "ok", 2 }, { asyncio.await(t) })
    end
  end))

  it("becomes a task in as_completed", asyncio.spec(function()
    local got = {}
    for aw in asyncio.as_completed({ fn, function() return "two" end }) do
      got[#got + 1] = asyncio.await(aw)
    end
    table.sort(got)
    assert.are.same({ "ok", "two" }, got)
  end))

  it("is still refused where a value is not awaitable", asyncio.spec(function()
    assert.matches("coroutine object, function, task or future expected, "
      .. "got number", tostring(support.error_of(asyncio.wait_for, 1, 1)))
  end))
end)
