-- After the peer reset the connection, a writer kept its unsent data (45 MB
-- in the report) and is_closing() stayed false until close(). As asyncio's
-- transport does, a lost connection now drops what is queued, and the
-- writer is closing.
local asyncio = require "asyncio"

describe("a writer whose connection is reset", function()
  it("drops its queued data and is closing", asyncio.spec(function()
    local reset = asyncio.Event()
    local server = asyncio.start_server(function(_, w)
      reset:wait() -- reads nothing: the client's writes pile up
      w:abort()
    end, "127.0.0.1", 0)
    local _, w = asyncio.open_connection("127.0.0.1", server:port())
    local chunk = ("x"):rep(1024 * 1024)
    for _ = 1, 16 do w:write(chunk) end -- more than the kernel takes
    assert.is_true(w:get_write_buffer_size() > 0)
    assert.is_false(w:is_closing())
    reset:set()
    local ok, err = pcall(w.drain, w)
    assert.is_false(ok)
    assert.is_truthy(err.code == "ECONNRESET" or err.code == "EPIPE",
                     tostring(err))
    assert.is_true(w:is_closing())
    assert.equal(0, w:get_write_buffer_size())
    w:write("more") -- dropped, not raised
    assert.equal(0, w:get_write_buffer_size())
    w:wait_closed()
    server:close()
    server:wait_closed()
  end))
end)
