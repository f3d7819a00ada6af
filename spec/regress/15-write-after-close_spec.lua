-- Writing after our own close() or write_eof() said "broken pipe (EPIPE)",
-- as if the peer had gone away. As asyncio: write() after write_eof() is a
-- mistake and says so; after close() the data is dropped (another task may
-- still hold the writer, as a broadcast does) and drain() says the writer
-- is closed.
local asyncio = require "asyncio"

local function connect()
  local server = asyncio.start_server(function(r) r:read() end,
                                      "127.0.0.1", 0)
  local _, w = asyncio.open_connection("127.0.0.1", server:port())
  return server, w
end

describe("a writer used after its end", function()
  it("raises after write_eof(), naming it", asyncio.spec(function()
    local server, w = connect()
    w:write_eof()
    w:write_eof() -- again: nothing to do
    local ok, err = pcall(w.write, w, "x")
    assert.is_false(ok)
    assert.matches("write: cannot write after write_eof()", tostring(err),
                   1, true)
    ok, err = pcall(w.writelines, w, { "x" })
    assert.is_false(ok)
    assert.matches("writelines: cannot write after write_eof()",
                   tostring(err), 1, true)
    w:close()
    w:wait_closed()
    server:close()
  end))

  it("drops data after close(), and drain says it is closed",
     asyncio.spec(function()
    local server, w = connect()
    w:close()
    w:write("x")
    w:writelines({ "y", "z" })
    w:write_eof() -- nothing to do
    assert.equal(0, w:get_write_buffer_size())
    local ok, err = pcall(w.drain, w)
    assert.is_false(ok)
    assert.equal("drain: the writer is closed", tostring(err))
    assert.is_true(asyncio.iserror(err))
    w:wait_closed()
    w:write("x")
    ok, err = pcall(w.drain, w)
    assert.equal("drain: the writer is closed", tostring(err))
    server:close()
  end))
end)
