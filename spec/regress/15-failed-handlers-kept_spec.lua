-- A server whose handler failed on every connection kept each failed
-- handler task until the loop closed (about 700 bytes a connection) and
-- reported nothing until then. Each failure is now reported as it happens
-- and nothing of it is kept.
local asyncio = require "asyncio"

local N = os.getenv("LUAIO_VALGRIND") and 50 or 500

describe("a server handler that fails on every connection", function()
  it("reports each failure before the server closes and keeps nothing",
     asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local count, first = 0, nil
    loop:set_exception_handler(function(l, context)
      assert.equal(loop, l)
      count = count + 1
      first = first or context
    end)
    local server = asyncio.start_server(function(r)
      r:readline()
      error("handler failed", 0)
    end, "127.0.0.1", 0)
    collectgarbage(); collectgarbage()
    local m0 = collectgarbage("count")
    for i = 1, N do
      local r, w = asyncio.open_connection("127.0.0.1", server:port())
      w:write("x\n")
      assert.equal("", r:read()) -- the failed handler closed it
      w:close()
      w:wait_closed()
      asyncio.sleep(0)
      assert.equal(i, count) -- reported as it fails, not at the end
    end
    collectgarbage(); collectgarbage()
    local kept = (collectgarbage("count") - m0) * 1024 / N
    server:close()
    server:wait_closed()
    assert.equal("handler failed", tostring(first.exception))
    assert.equal(first.exception, first.error)
    assert.matches("error in server handler", first.message, 1, true)
    assert.is_true(first.task:done())
    assert.is_true(kept < 200, ("%.0f bytes kept per connection"):format(kept))
  end))
end)
