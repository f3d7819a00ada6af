-- Issue 10: code of a closed scope could still get a live resource:
-- connect_read_pipe and connect_write_pipe took their descriptor and
-- joined no scope, so nothing closed them. Every call that makes a stream,
-- an endpoint, a server or a process refuses now, naming itself, before it
-- opens anything.
local asyncio = require "asyncio"
local support = require "support"

local function socket_path()
  local path = os.tmpname()
  os.remove(path)
  return path
end

describe("regress #10: a task of a closed scope", function()
  it("gets no stream, endpoint, server or process, and no fd",
     asyncio.spec(function()
    local path = socket_path()
    -- Live peers outside the scope, so that a connection could succeed.
    local tcp = asyncio.start_server(function(_, w) w:close() end,
                                     "127.0.0.1", 0)
    local unix = asyncio.start_unix_server(function(_, w) w:close() end, path)
    local port = tcp:port()
    local attempts = {
      { "open_connection", function() asyncio.open_connection("127.0.0.1", port) end },
      { "open_unix_connection", function() asyncio.open_unix_connection(path) end },
      { "connect_read_pipe", function() asyncio.connect_read_pipe(0) end },
      { "connect_write_pipe", function() asyncio.connect_write_pipe(1) end },
      { "open_datagram", function() asyncio.open_datagram({ "127.0.0.1", 0 }) end },
      { "start_server", function() asyncio.start_server(print, "127.0.0.1", 0) end },
      { "start_unix_server", function() asyncio.start_unix_server(print, socket_path()) end },
      { "create_subprocess_exec", function() asyncio.create_subprocess_exec("true") end },
    }
    local s = asyncio.Scope()
    local ready, go = asyncio.Event(), asyncio.Event()
    local errors, before, after = {}, nil, nil
    s:spawn(function()
      ready:set()
      pcall(asyncio.sleep, 10) -- cancelled: it goes on all the same
      before = support.count_fds()
      for i, a in ipairs(attempts) do
        local ok, err = pcall(a[2])
        errors[i] = ok and "got a live resource" or tostring(err)
      end
      after = support.count_fds()
      go:set()
    end)
    ready:wait()
    s:cancel()
    go:wait()
    for i, a in ipairs(attempts) do
      assert.matches(":%d+: " .. a[1] .. ": the scope is closed$", errors[i])
    end
    assert.equal(before, after)
    tcp:close()
    unix:close()
    tcp:wait_closed()
    unix:wait_closed()
  end))

end)
