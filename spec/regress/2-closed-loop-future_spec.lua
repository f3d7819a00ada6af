-- A future made inside one asyncio.run and used after that loop closed
-- once woke the freed loop (heap use after free under ASan). Using it
-- now raises an error that says what happened.
local asyncio = require "asyncio"

describe("a future of a closed loop", function()
  it("refuses set_result, cancel, callbacks and await", function()
    local fut
    asyncio.run(function()
      fut = asyncio.Future()
      fut:add_done_callback(function() end)
    end)
    asyncio.run(function()
      for _, call in ipairs {
        function() fut:set_result(1) end,
        function() fut:set_exception("x") end,
        function() fut:cancel() end,
        function() fut:add_done_callback(function() end) end,
        function() asyncio.await(fut) end,
        function() asyncio.gather(fut) end,
      } do
        local ok, err = pcall(call)
        assert.is_false(ok)
        assert.matches("belongs to an event loop that is closed",
                       tostring(err), 1, true)
      end
      assert.is_false(fut:done())
    end)
  end)

  it("still answers questions that need no loop", function()
    local fut
    asyncio.run(function()
      fut = asyncio.Future()
      fut:set_result(42)
    end)
    assert.is_true(fut:done())
    assert.equal(42, fut:result())
    assert.is_false(fut:cancel())
  end)
end)
