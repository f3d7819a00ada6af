-- Every stream kept a 64 KiB input buffer from its first read until the
-- collector took its Lua object: 10,000 connections opened and closed 50
-- at a time kept 1,000 buffers (65 MB), memory the collector cannot see.
-- Now a stream at rest holds no input buffer, one with unread input holds
-- about what it keeps, and the buffers the streams share go when the last
-- stream closes. (asyncio._stream_memory() is the debug aid that tells.)
local asyncio = require "asyncio"

local CONNS = 20

describe("stream input buffers", function()
  it("are held by no stream at rest, and go with the last stream",
     asyncio.spec(function()
    local rest, at_rest = asyncio.Event(), asyncio.Event()
    local handlers, nrest = {}, 0
    local server = asyncio.start_server(function(r, w)
      handlers[#handlers + 1] = asyncio.current_task()
      w:write(r:readline())
      r:readexactly(100) -- input in two parts, then at rest
      nrest = nrest + 1
      if nrest == CONNS then at_rest:set() end
      rest:wait()
      w:close()
      w:wait_closed()
    end, "127.0.0.1", 0)
    local conns = {}
    for i = 1, CONNS do
      local r, w = asyncio.open_connection("127.0.0.1", server:port())
      w:write("hello " .. i .. "\n")
      assert.equal("hello " .. i .. "\n", r:readline())
      w:write(("x"):rep(60))
      asyncio.sleep(0)
      w:write(("y"):rep(40))
      conns[i] = { r, w }
    end
    at_rest:wait()
    -- 40 streams, each read from and now at rest: none holds a buffer.
    local held, shared = asyncio._stream_memory()
    assert.equal(0, held)
    assert.is_true(shared > 0 and shared <= 192 * 1024, shared)

    rest:set()
    for i = 1, CONNS do
      assert.equal("", conns[i][1]:read()) -- the server side closed
      conns[i][2]:close()
      conns[i][2]:wait_closed()
    end
    asyncio.gather(handlers)
    server:close()
    server:wait_closed()
    held, shared = asyncio._stream_memory()
    assert.same({ 0, 0 }, { held, shared })
  end))

  it("keep what a reader has not read, and no more", asyncio.spec(function()
    local done = asyncio.Event()
    local server = asyncio.start_server(function(_, w)
      w:write(("a"):rep(5000))
      done:wait()
      w:close()
    end, "127.0.0.1", 0)
    local r, w = asyncio.open_connection("127.0.0.1", server:port(),
                                         { limit = 1000 })
    -- Waits until more than the limit is buffered, and leaves it there.
    local ok, err = pcall(r.readuntil, r, "\n")
    assert.is_false(ok)
    assert.is_true(asyncio.LimitOverrunError:is(err))
    local held = asyncio._stream_memory()
    assert.is_true(held > 1000 and held <= 16 * 1024, held)
    done:set()
    assert.equal(5000, #r:read())
    assert.equal(0, (asyncio._stream_memory()))
    w:close()
    w:wait_closed()
    server:close()
    server:wait_closed()
  end))
end)
