-- serve_forever() returned normally when the server was closed; asyncio's
-- close() cancels serve_forever, which raises CancelledError.
local asyncio = require "asyncio"

describe("serve_forever", function()
  it("raises CancelledError when the server is closed",
     asyncio.spec(function()
    local server = asyncio.start_server(function() end, "127.0.0.1", 0,
                                        { start_serving = false })
    local after
    local task = asyncio.create_task(function()
      server:serve_forever()
      after = "returned"
    end)
    asyncio.sleep(0)
    assert.is_true(server:is_serving())
    server:close()
    local ok, err = pcall(asyncio.await, task)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))
    assert.is_true(task:cancelled())
    assert.is_nil(after)
    server:wait_closed()
  end))

  it("still raises at once on a closed server", asyncio.spec(function()
    local server = asyncio.start_server(function() end, "127.0.0.1", 0)
    server:close()
    local ok, err = pcall(server.serve_forever, server)
    assert.is_false(ok)
    assert.matches("serve_forever: the server is closed", tostring(err), 1,
                   true)
    server:wait_closed()
  end))
end)
