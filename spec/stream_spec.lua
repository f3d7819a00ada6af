local asyncio = require "asyncio"
local support = require "support"
local pass, new_log = support.pass, support.new_log

-- Every case runs on 127.0.0.1 (or ::1), with ephemeral ports, and asserts
-- order of events, never timing.

-- A one-shot signal between tasks: a future that set() resolves.
local function signal()
  local fut = asyncio.get_running_loop():create_future()
  return {
    set = function() if not fut:done() then fut:set_result(true) end end,
    wait = function() asyncio.await(fut) end,
  }
end

-- Starts a server on 127.0.0.1:0 running handler; returns it and its port.
local function serve(handler, opts)
  local server = asyncio.start_server(handler, "127.0.0.1", 0, opts)
  return server, server:port()
end

local function close_server(server)
  server:close()
  server:wait_closed()
end

-- Cancels a task and waits until it has finished.
local function cancel_and_wait(task)
  task:cancel()
  return pcall(asyncio.await, task)
end

local count_fds = support.count_fds

-- The first loop of a process makes libuv open descriptors it keeps for
-- good (the signal lock pipe); warm up once before counting.
local function warm_up()
  asyncio.run(function() asyncio.getaddrinfo("localhost", 80) end)
end

describe("asyncio.open_connection and start_server", function()
  it("echoes lines and tells the peer's and own addresses",
     asyncio.spec(function()
    local server, port = serve(function(reader, writer)
      while true do
        local line = reader:readline()
        if line == "" then break end
        writer:write(line:upper())
        writer:drain()
      end
      writer:close()
      writer:wait_closed()
    end)
    assert.is_true(port > 0)
    local reader, writer = asyncio.open_connection("127.0.0.1", port)
    local peer = writer:get_extra_info("peername")
    local own = writer:get_extra_info("sockname")
    assert.same({ "127.0.0.1", port }, { peer[1], peer[2] })
    assert.equal("127.0.0.1", peer.host)
    assert.equal(port, peer.port)
    assert.equal("inet", peer.family)
    assert.equal("127.0.0.1", own.host)
    assert.is_nil(writer:get_extra_info("nothing"))
    assert.equal("dflt", writer:get_extra_info("nothing", "dflt"))
    for _, word in ipairs { "one", "two", "three" } do
      writer:write(word .. "\n")
      assert.equal(word:upper() .. "\n", reader:readline())
    end
    writer:write_eof()
    assert.equal("", reader:readline()) -- the server closed after our EOF
    assert.is_true(reader:at_eof())
    assert.equal("", reader:read())
    writer:close()
    assert.is_true(writer:is_closing())
    writer:wait_closed()
    close_server(server)
  end))

  it("raises ECONNREFUSED for a port nobody listens on",
     asyncio.spec(function()
    local server, port = serve(function() end)
    close_server(server)
    local ok, err = pcall(asyncio.open_connection, "127.0.0.1", port)
    assert.is_false(ok)
    assert.matches("ECONNREFUSED", tostring(err), 1, true)
    assert.equal("ECONNREFUSED", err.code)
    assert.is_true(asyncio.iserror(err))
  end))

  it("raises ECONNRESET when the peer resets the connection",
     asyncio.spec(function()
    local server, port = serve(function(reader, writer)
      reader:readline()
      writer:abort() -- closes at once: the peer sees a reset
    end)
    local reader, writer = asyncio.open_connection("127.0.0.1", port)
    writer:write("hello\n")
    local ok, err = pcall(reader.read, reader, 10)
    assert.is_false(ok)
    assert.matches("ECONNRESET", tostring(err), 1, true)
    assert.equal("ECONNRESET", err.code)
    -- As asyncio: the stream is closing, writing to it drops the data,
    -- and drain reports the reset.
    assert.is_true(writer:is_closing())
    writer:write("more")
    assert.equal(0, writer:get_write_buffer_size())
    ok, err = pcall(writer.drain, writer)
    assert.is_false(ok)
    assert.equal("ECONNRESET", err.code)
    writer:close()
    writer:wait_closed()
    close_server(server)
  end))

  it("returns partial reads as data arrives", asyncio.spec(function()
    local more = signal()
    local server, port = serve(function(_, writer)
      writer:write("hello")
      more.wait()
      writer:write("world\nlast")
      writer:close()
    end)
    local reader, writer = asyncio.open_connection("127.0.0.1", port)
    assert.equal("hel", reader:read(3))
    assert.equal("lo", reader:read(100)) -- what is there, without waiting
    more.set()
    assert.equal("world\n", reader:readline())
    assert.equal("last", reader:readline()) -- the last line has no "\n"
    assert.equal("", reader:readline())
    assert.equal("", reader:read(5))
    assert.equal("", reader:read(0))
    writer:close()
    close_server(server)
  end))

  it("reads until EOF with read() and read(-1)", asyncio.spec(function()
    local big = string.rep("0123456789", 50000) -- more than the limit
    local server, port = serve(function(_, writer)
      writer:write(big)
      writer:close()
    end)
    local reader, writer = asyncio.open_connection("127.0.0.1", port)
    assert.equal(big, reader:read(-1))
    assert.is_true(reader:at_eof())
    writer:close()
    close_server(server)
  end))

  it("raises IncompleteReadError with .partial from readexactly",
     asyncio.spec(function()
    local server, port = serve(function(_, writer)
      writer:write("abcdefg")
      writer:close()
    end)
    local reader, writer = asyncio.open_connection("127.0.0.1", port)
    assert.equal("abcd", reader:readexactly(4))
    local ok, err = pcall(reader.readexactly, reader, 5)
    assert.is_false(ok)
    assert.is_true(asyncio.IncompleteReadError:is(err))
    assert.is_true(asyncio.Error:is(err))
    assert.equal("efg", err.partial)
    assert.equal(5, err.expected)
    assert.equal("", reader:readexactly(0))
    assert.is_true(reader:at_eof())
    writer:close()
    close_server(server)
  end))

  it("raises LimitOverrunError from readuntil past the limit",
     asyncio.spec(function()
    local server, port = serve(function(_, writer)
      writer:write(string.rep("x", 40) .. "\r\nrest")
      writer:close()
    end)
    local reader, writer = asyncio.open_connection("127.0.0.1", port,
                                                   { limit = 16 })
    local ok, err = pcall(reader.readuntil, reader, "\r\n")
    assert.is_false(ok)
    assert.is_true(asyncio.LimitOverrunError:is(err))
    assert.is_number(err.consumed)
    -- The data stays in the buffer.
    assert.equal(string.rep("x", 40), reader:readexactly(40))
    assert.equal("\r\n", reader:readuntil("\r\n"))
    ok, err = pcall(reader.readuntil, reader, "\r\n")
    assert.is_true(asyncio.IncompleteReadError:is(err))
    assert.equal("rest", err.partial)
    assert.is_nil(err.expected)
    writer:close()
    close_server(server)
  end))

  it("makes drain wait for a slow reader (back-pressure)",
     asyncio.spec(function()
    local add, joined = new_log()
    local wrote = signal()
    local total = 16 * 1024 * 1024 -- more than the kernel's buffers hold
    local got = 0
    local done = signal()
    local server, port = serve(function(reader, writer)
      wrote.wait()
      pass(20) -- a slow reader: the writer must still be waiting
      add("reading")
      while true do
        local chunk = reader:read(65536)
        if chunk == "" then break end
        got = got + #chunk
      end
      writer:close()
      done.set()
    end)
    local reader, writer = asyncio.open_connection("127.0.0.1", port)
    local chunk = string.rep("x", 65536)
    for _ = 1, total // #chunk do
      writer:write(chunk) -- buffers; never suspends
    end
    assert.is_true(writer:get_write_buffer_size() > 65536)
    add("wrote")
    wrote.set()
    writer:drain()
    add("drained")
    assert.is_true(writer:get_write_buffer_size() <= 16384)
    writer:close()
    done.wait()
    assert.equal(total, got)
    assert.equal("wrote reading drained", joined())
    assert.equal("", reader:read())
    close_server(server)
  end))

  it("keeps the stream usable after a read is cancelled",
     asyncio.spec(function()
    local go = signal()
    local server, port = serve(function(_, writer)
      go.wait()
      writer:write("after\n")
      writer:close()
    end)
    local reader, writer = asyncio.open_connection("127.0.0.1", port)
    local task = asyncio.create_task(function() return reader:readline() end)
    pass(3)
    local ok, err = cancel_and_wait(task)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))
    go.set()
    assert.equal("after\n", reader:readline())
    writer:close()
    close_server(server)
  end))

  it("keeps the stream consistent when drain is cancelled",
     asyncio.spec(function()
    local server, port = serve(function(reader, writer)
      local n = #reader:read(-1)
      writer:write(tostring(n))
      writer:close()
    end)
    local reader, writer = asyncio.open_connection("127.0.0.1", port)
    writer:set_write_buffer_limits(1024, 0)
    local task = asyncio.create_task(function()
      writer:write(string.rep("y", 8 * 1024 * 1024))
      writer:drain()
      return "drained"
    end)
    pass(3)
    local ok, err = cancel_and_wait(task)
    if not ok then -- it may have drained already on a fast machine
      assert.is_true(asyncio.CancelledError:is(err))
    end
    writer:write("z") -- the writer still works after the cancelled drain
    writer:write_eof()
    assert.equal(tostring(8 * 1024 * 1024 + 1), reader:read())
    writer:close()
    close_server(server)
  end))

  it("cancels a connect while the name is being resolved",
     asyncio.spec(function()
    local server, port = serve(function() end)
    local task = asyncio.create_task(function()
      return asyncio.open_connection("localhost", port)
    end)
    asyncio.sleep(0) -- the task starts and waits for the lookup
    local ok, err = cancel_and_wait(task)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))
    close_server(server)
  end))

  -- A server that accepts nothing, with a backlog of 1: once the kernel's
  -- queue is full (a few connections at most), a connect hangs. This is how
  -- Linux treats a full accept queue (SYNs are dropped).
  it("raises TimeoutError after opts.timeout, and cancels hanging connects",
     asyncio.spec(function()
    local server, port = serve(function() error("never accepted") end,
                               { start_serving = false, backlog = 1 })
    assert.is_false(server:is_serving())
    local writers, timed_out = {}, false
    for _ = 1, 8 do
      local ok, r, w = pcall(asyncio.open_connection, "127.0.0.1", port,
                             { timeout = 0.2 })
      if ok then
        writers[#writers + 1] = w
      else
        assert.is_true(asyncio.TimeoutError:is(r), tostring(r))
        timed_out = true
        break
      end
    end
    assert.is_true(timed_out)
    -- The same hanging connect, cancelled by its task.
    local task = asyncio.create_task(function()
      return asyncio.open_connection("127.0.0.1", port)
    end)
    pass(5)
    local ok, err = cancel_and_wait(task)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))
    for _, w in ipairs(writers) do
      w:close()
      w:wait_closed()
    end
    close_server(server)
  end))

  it("starts serving later, runs a handler task per connection",
     asyncio.spec(function()
    local add, joined = new_log()
    local server, port = serve(function(reader, writer)
      local name = reader:readline()
      add("hi " .. name:sub(1, -2))
      writer:write("bye " .. name)
      writer:close()
    end, { start_serving = false })
    local clients = {}
    for i = 1, 3 do
      clients[i] = asyncio.create_task(function()
        local reader, writer = asyncio.open_connection("127.0.0.1", port)
        writer:write("c" .. i .. "\n")
        local answer = reader:readline()
        writer:close()
        return answer
      end)
    end
    pass(5)
    assert.equal("", joined()) -- queued by the kernel, not accepted yet
    server:start_serving()
    assert.is_true(server:is_serving())
    local answers = asyncio.gather(clients)
    assert.same({ "bye c1\n", "bye c2\n", "bye c3\n" },
                { answers[1], answers[2], answers[3] })
    local n = select(2, joined():gsub("hi", ""))
    assert.equal(3, n)
    close_server(server)
  end))

  it("closes the server when serve_forever is cancelled",
     asyncio.spec(function()
    local server, port = serve(function(_, writer) writer:close() end)
    local task = asyncio.create_task(function() server:serve_forever() end)
    pass(2)
    local reader, writer = asyncio.open_connection("127.0.0.1", port)
    assert.equal("", reader:read())
    writer:close()
    local ok, err = cancel_and_wait(task)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))
    server:wait_closed()
    assert.is_false(server:is_serving())
    local ok2, err2 = pcall(asyncio.open_connection, "127.0.0.1", port)
    assert.is_false(ok2)
    assert.equal("ECONNREFUSED", err2.code)
  end))

  it("raises EADDRINUSE for a port in use", asyncio.spec(function()
    local server, port = serve(function() end)
    local ok, err = pcall(asyncio.start_server, function() end, "127.0.0.1",
                          port)
    assert.is_false(ok)
    assert.equal("EADDRINUSE", err.code)
    close_server(server)
  end))

  it("works over IPv6 on ::1 when the host has it", asyncio.spec(function()
    local ok, server = pcall(asyncio.start_server, function(reader, writer)
      writer:write(reader:readline())
      writer:close()
    end, "::1", 0)
    if not ok then
      print("stream_spec: no IPv6 loopback here (" .. tostring(server) ..
            "); skipped")
      return
    end
    local reader, writer = asyncio.open_connection("::1", server:port())
    assert.equal("inet6", writer:get_extra_info("peername").family)
    assert.equal("::1", writer:get_extra_info("peername").host)
    writer:write("six\n")
    assert.equal("six\n", reader:readline())
    writer:close()
    close_server(server)
  end))

  it("listens on every address of the host, IPv4 and IPv6, on one port",
     asyncio.spec(function()
    local probe_ok, probe = pcall(asyncio.start_server, function() end, "::1", 0)
    local hosts = { "127.0.0.1" }
    if probe_ok then
      close_server(probe)
      hosts[2] = "::1"
    else
      print("stream_spec: no IPv6 loopback here; checked 127.0.0.1 only")
    end
    local got = {}
    local server = asyncio.start_server(function(reader, writer)
      got[#got + 1] = reader:read()
      writer:close()
    end, nil, 0) -- nil: every address
    for _, host in ipairs(hosts) do
      local reader, writer = asyncio.open_connection(host, server:port())
      writer:write(host)
      writer:write_eof()
      assert.equal("", reader:read()) -- the handler closed: it has read
      writer:close()
    end
    table.sort(got)
    table.sort(hosts)
    assert.same(hosts, got)
    close_server(server)
    for _, host in ipairs(hosts) do -- every socket is closed
      local ok, err = pcall(asyncio.open_connection, host, server:port())
      assert.is_false(ok)
      assert.equal("ECONNREFUSED", err.code)
    end
  end))

  it("closes the connection of a handler that fails or is cancelled",
     asyncio.spec(function()
    local handlers = {}
    local server, port = serve(function(reader, writer)
      handlers[#handlers + 1] = asyncio.current_task()
      local line = reader:readline()
      if line == "fail\n" then
        error("the handler failed")
      end
      asyncio.sleep(30) -- until cancelled
    end)
    for _, what in ipairs({ "fail\n", "cancel\n" }) do
      local reader, writer = asyncio.open_connection("127.0.0.1", port)
      writer:write(what)
      if what == "cancel\n" then
        while #handlers < 2 do asyncio.sleep(0) end
        handlers[2]:cancel()
      end
      -- the server's side closed: the client reads the end, not a hang
      assert.equal("", asyncio.wait_for(asyncio.async(function()
        return reader:read()
      end)(), 5))
      writer:close()
    end
    local ok, err = pcall(asyncio.await, handlers[1])
    assert.is_false(ok) -- retrieved: not reported
    assert.matches("the handler failed", tostring(err), 1, true)
    assert.is_true(handlers[2]:cancelled())
    close_server(server)
  end))

  it("checks its arguments", asyncio.spec(function()
    assert.has_error(function() asyncio.open_connection("127.0.0.1", 70000) end)
    assert.has_error(function()
      asyncio.open_connection("127.0.0.1", 1, { timeout = -1 })
    end)
    assert.has_error(function() asyncio.start_server("nope", "127.0.0.1", 0) end)
    local reader = asyncio.StreamReader()
    assert.has_error(function() reader:readuntil("") end)
    assert.has_error(function() reader:readexactly(-1) end)
  end))

  it("refuses to wait outside a task", function()
    local ok, err = pcall(asyncio.open_connection, "127.0.0.1", 1)
    assert.is_false(ok)
    assert.matches("asyncio.run", tostring(err), 1, true)
  end)

  it("closes a stream and a server left open when asyncio.run ends",
     function()
    warm_up()
    local fds = count_fds()
    asyncio.run(function()
      local server, port = serve(function(reader) reader:read() end)
      local _, writer = asyncio.open_connection("127.0.0.1", port)
      writer:write("never closed")
      pass(3)
      return server
    end)
    collectgarbage()
    assert.equal(fds, count_fds())
  end)

  it("leaves no file descriptor open", function()
    warm_up()
    local before = count_fds()
    asyncio.run(function()
      local server, port = serve(function(reader, writer)
        writer:write(reader:readline())
        writer:close()
      end)
      for _ = 1, 10 do
        local reader, writer = asyncio.open_connection("127.0.0.1", port)
        writer:write("x\n")
        reader:readline()
        writer:close()
        writer:wait_closed()
      end
      local reset = serve(function(_, writer) writer:abort() end)
      local reader, writer = asyncio.open_connection("127.0.0.1", reset:port())
      pcall(reader.read, reader)
      writer:close()
      close_server(reset)
      close_server(server)
      pcall(asyncio.open_connection, "127.0.0.1", port)
    end)
    collectgarbage()
    assert.equal(before, count_fds())
  end)
end)

describe("server options and addresses", function()
  it("lists the addresses a server listens on", asyncio.spec(function()
    local server, port = serve(function() end)
    local socks = server:sockets()
    assert.equal(1, #socks)
    assert.same({ "127.0.0.1", port }, { socks[1][1], socks[1][2] })
    assert.equal("inet", socks[1].family)
    close_server(server)
    assert.same({}, server:sockets())
  end))

  it("gives each connection's reader the server's limit",
     asyncio.spec(function()
    local server, port = serve(function(reader, writer)
      local ok, err = pcall(reader.readline, reader)
      writer:write(ok and "fits\n" or err.consumed .. "\n")
      writer:close()
    end, { limit = 10 })
    local reader, writer = asyncio.open_connection("127.0.0.1", port)
    writer:write(("x"):rep(20) .. "\n")
    assert.equal("20\n", reader:readline()) -- LimitOverrunError.consumed
    writer:close()
    close_server(server)
  end))

  it("shares a port among servers with reuse_port", asyncio.spec(function()
    local accepted = {}
    local function handler(name)
      return function(reader, writer)
        accepted[name] = (accepted[name] or 0) + 1
        writer:write(reader:readline())
        writer:close()
      end
    end
    local a = asyncio.start_server(handler("a"), "127.0.0.1", 0,
                                   { reuse_port = true })
    local port = a:port()
    local ok, err = pcall(asyncio.start_server, handler("x"), "127.0.0.1",
                          port)
    assert.is_false(ok) -- without the option, the port is taken
    assert.equal("EADDRINUSE", err.code)
    local b = asyncio.start_server(handler("b"), "127.0.0.1", port,
                                   { reuse_port = true })
    assert.equal(port, b:port())
    for i = 1, 20 do
      local reader, writer = asyncio.open_connection("127.0.0.1", port)
      writer:write(i .. "\n")
      assert.equal(i .. "\n", reader:readline())
      writer:close()
    end
    assert.equal(20, (accepted.a or 0) + (accepted.b or 0))
    assert.is_nil(accepted.x)
    close_server(a)
    close_server(b)
  end))
end)

describe("Unix-domain sockets", function()
  local function socket_path()
    local path = os.tmpname()
    os.remove(path)
    return path
  end

  local function exists(path)
    return (pcall(asyncio.fs.stat, path))
  end

  it("echo with the same readers and writers, and tell their paths",
     asyncio.spec(function()
    local path = socket_path()
    local names = {}
    local server = asyncio.start_unix_server(function(reader, writer)
      names.peer = writer:get_extra_info("peername")
      names.sock = writer:get_extra_info("sockname")
      while true do
        local data = reader:read(65536)
        if data == "" then break end
        writer:write(data:upper())
        writer:drain()
      end
      writer:close()
    end, path)
    assert.same({ path }, server:sockets())
    assert.is_nil(server:port())
    assert.is_true(exists(path))
    local reader, writer = asyncio.open_unix_connection(path)
    assert.equal(path, writer:get_extra_info("peername"))
    assert.equal("", writer:get_extra_info("sockname")) -- unnamed
    for _, word in ipairs { "one", "two" } do
      writer:write(word .. "\n")
      assert.equal(word:upper() .. "\n", reader:readline())
    end
    local big = ("0123456789"):rep(100000) -- 1 MB each way
    local echo = asyncio.create_task(function()
      return reader:readexactly(#big + 1)
    end)
    writer:write(big .. "\n")
    writer:drain()
    assert.equal(big:upper() .. "\n", asyncio.await(echo))
    writer:write_eof()
    assert.equal("", reader:read())
    writer:close()
    writer:wait_closed()
    assert.same({ "", path }, { names.peer, names.sock })
    close_server(server)
    assert.is_false(exists(path)) -- removed on close
  end))

  it("replace a socket file left behind, and leave other files alone",
     asyncio.spec(function()
    local path = socket_path()
    local first = asyncio.start_unix_server(function() end, path)
    local second = asyncio.start_unix_server(function(_, writer)
      writer:write("second\n")
      writer:close()
    end, path) -- as asyncio: the old file goes
    local reader = asyncio.open_unix_connection(path)
    assert.equal("second\n", reader:readline())
    close_server(second)
    assert.is_false(exists(path))
    close_server(first)
    local f = assert(io.open(path, "w"))
    f:close()
    local ok, err = pcall(asyncio.start_unix_server, function() end, path)
    assert.is_false(ok) -- a plain file is not replaced
    assert.equal("EADDRINUSE", err.code)
    os.remove(path)
  end))

  it("raise clear errors", asyncio.spec(function()
    local path = socket_path()
    local ok, err = pcall(asyncio.open_unix_connection, path)
    assert.is_false(ok)
    assert.equal("ENOENT", err.code)
    assert.matches("open_unix_connection", tostring(err), 1, true)
    ok, err = pcall(asyncio.open_unix_connection, ("x"):rep(200))
    assert.equal("ENAMETOOLONG", err.code)
    ok, err = pcall(asyncio.start_unix_server, function() end,
                    "/nonexistent-dir/sock")
    assert.is_false(ok)
    assert.matches("start_unix_server", tostring(err), 1, true)
    assert.has_error(function() asyncio.start_unix_server(nil, path) end)
    assert.has_error(function()
      asyncio.start_unix_server(function() end, path, 5)
    end)
    assert.has_error(function() asyncio.open_unix_connection({}) end)
  end))

  it("leave no file descriptor open", function()
    warm_up()
    local before = count_fds()
    asyncio.run(function()
      local path = socket_path()
      local server = asyncio.start_unix_server(function(reader, writer)
        writer:write(reader:readline())
        writer:close()
      end, path)
      for _ = 1, 5 do
        local reader, writer = asyncio.open_unix_connection(path)
        writer:write("x\n")
        reader:readline()
        writer:close()
        writer:wait_closed()
      end
      close_server(server)
    end)
    collectgarbage()
    assert.equal(before, count_fds())
  end)
end)

describe("asyncio.StreamReader", function()
  it("parses fed data: lines, exact sizes, separators",
     asyncio.spec(function()
    local reader = asyncio.StreamReader(8)
    reader:feed_data("one\ntwo\r\nthree")
    assert.equal("one\n", reader:readline())
    assert.equal("two\r\n", reader:readuntil("\r\n"))
    assert.equal("thr", reader:readexactly(3))
    local task = asyncio.create_task(function() return reader:readline() end)
    pass(2)
    assert.is_false(task:done())
    reader:feed_data("ee\n")
    assert.equal("eeee\n", asyncio.await(task))
    reader:feed_data("0123456789")
    local ok, err = pcall(reader.readline, reader)
    assert.is_true(asyncio.LimitOverrunError:is(err))
    reader:feed_data("tail")
    reader:feed_eof()
    assert.equal("tail", reader:read())
    assert.is_true(reader:at_eof())
    assert.has_error(function() reader:feed_data("x") end)
  end))

  it("allows one waiting reader at a time", asyncio.spec(function()
    local reader = asyncio.StreamReader()
    local first = asyncio.create_task(function() return reader:read(1) end)
    pass(1)
    local ok, err = pcall(reader.read, reader, 1)
    assert.is_false(ok)
    assert.matches("already waiting", tostring(err), 1, true)
    reader:feed_eof()
    assert.equal("", asyncio.await(first))
  end))
end)

describe("asyncio.getaddrinfo", function()
  it("resolves numeric and local names", asyncio.spec(function()
    local list = asyncio.getaddrinfo("127.0.0.1", 80)
    assert.same({ { family = "inet", addr = "127.0.0.1", port = 80 } }, list)
    list = asyncio.getaddrinfo("localhost", 8080)
    assert.is_true(#list >= 1)
    for _, a in ipairs(list) do
      assert.is_true(a.addr == "127.0.0.1" or a.addr == "::1")
      assert.equal(8080, a.port)
    end
  end))

  it("raises an error naming EAI_NONAME for an unknown name",
     asyncio.spec(function()
    local ok, err = pcall(asyncio.getaddrinfo, "no-such-host.invalid", 80)
    assert.is_false(ok)
    assert.matches("EAI_", tostring(err), 1, true)
    assert.matches("^EAI_", err.code)
  end))
end)
