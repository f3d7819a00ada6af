-- Debug mode, as asyncio's: asyncio.run(main, {debug = true}),
-- loop:get_debug()/set_debug(), luaio --debug and LUAIO_DEBUG=1. Streams,
-- servers, UDP endpoints and subprocesses that the program drops without
-- closing, and coroutine objects never awaited, are reported through the
-- exception handler with where they were opened or made; a task step that
-- runs too long without suspending is reported with the task and its
-- traceback.
local asyncio = require "asyncio"
local support = require "support"

-- "file:line" of the line after the caller's (level: of the caller's
-- caller, and so on): where the next line opens.
local function next_line(level)
  local info = debug.getinfo((level or 1) + 1, "Sl")
  return info.short_src .. ":" .. (info.currentline + 1)
end

-- Runs body as the main task (opts: asyncio.run's, debug = true unless
-- given) with a handler that keeps every context; returns the contexts
-- whose message says "unclosed", and the others.
local function run(body, opts)
  local unclosed, other = {}, {}
  opts = opts or { debug = true }
  asyncio.run(function()
    asyncio.get_running_loop():set_exception_handler(function(_, context)
      local list = tostring(context.message):find("^unclosed ") and unclosed
          or other
      list[#list + 1] = context
    end)
    body()
    collectgarbage()
    collectgarbage()
    asyncio.sleep(0) -- the reports of finalizers come in a loop callback
  end, opts)
  return unclosed, other
end

-- Runs fn in a task of its own and waits for it: what it opened and did
-- not return is garbage afterwards (no stale stack slot holds it).
local function in_task(fn)
  return asyncio.await(asyncio.create_task(fn))
end

-- In debug mode, runs setup(), then open(mark, what setup returned) in a
-- task of its own, lets the collector take what open dropped, then runs
-- teardown(what setup returned). open calls mark() on the line before
-- the one that opens. Returns the "unclosed" reports and the line marked.
local function dropped(open, setup, teardown)
  local where
  local function mark()
    where = next_line(2)
  end
  local reports = run(function()
    local ctx = setup and setup()
    in_task(function() open(mark, ctx) end)
    collectgarbage()
    collectgarbage()
    asyncio.sleep(0)
    if teardown then
      teardown(ctx)
    end
  end)
  return reports, where
end

local function close(x)
  x:close()
end

-- Checks that the reports are exactly one, about what, opened at where.
local function assert_one(reports, what, where)
  assert.equal(1, #reports, "reports: " .. #reports)
  local message = reports[1].message
  assert.matches("unclosed " .. what .. " opened at " .. where, message, 1,
                 true)
  assert.matches("dropped without being closed", message, 1, true)
  assert.matches(where, reports[1].source_traceback, 1, true)
end

-- A server that reads to the end of its input and closes.
local function quiet_server()
  return asyncio.start_server(function(reader, writer)
    reader:read()
    writer:close()
  end, "127.0.0.1", 0)
end

describe("debug mode", function()
  it("is off by default; asyncio.run's debug = true turns it on for the run",
     function()
    asyncio.run(function()
      assert.is_false(asyncio.get_running_loop():get_debug())
    end)
    asyncio.run(function()
      local loop = asyncio.get_running_loop()
      assert.is_true(loop:get_debug())
      loop:set_debug(false)
      assert.is_false(loop:get_debug())
      loop:set_debug(true)
      assert.is_true(loop:get_debug())
    end, { debug = true })
    asyncio.run(function()
      assert.is_false(asyncio.get_running_loop():get_debug())
    end)
  end)

  it("refuses a debug option or set_debug argument that is not a boolean",
     function()
    local err = support.error_of(asyncio.run, function() end,
                                 { debug = "yes" })
    assert.matches("asyncio.run: option 'debug' must be a boolean, got "
                   .. "string", tostring(err), 1, true)
    asyncio.run(function()
      local loop = asyncio.get_running_loop()
      err = support.error_of(function() loop:set_debug(1) end)
      assert.matches("bad argument #1 to 'set_debug' (boolean expected",
                     tostring(err), 1, true)
    end)
  end)

  it("reports a TCP connection dropped unclosed, with where it was opened",
     function()
    local fds = support.count_fds()
    local reports, where = dropped(function(mark, server)
      mark()
      local _, _ = asyncio.open_connection("127.0.0.1", server:port())
    end, quiet_server, close)
    assert.equal(fds, support.count_fds()) -- and it was closed
    assert_one(reports, "TCP connection", where)
  end)

  it("does not report a connection that was closed", function()
    local reports = run(function()
      local server = quiet_server()
      in_task(function()
        local _, writer = asyncio.open_connection("127.0.0.1", server:port())
        writer:close()
      end)
      in_task(function() -- a to-be-closed writer closes too
        local _, writer <close> =
          asyncio.open_connection("127.0.0.1", server:port())
      end)
      collectgarbage()
      collectgarbage()
      asyncio.sleep(0)
      server:close()
    end)
    assert.equal(0, #reports)
  end)

  it("reports nothing out of debug mode", function()
    local reports, other = run(function()
      local server = quiet_server()
      in_task(function()
        local _, _ = asyncio.open_connection("127.0.0.1", server:port())
        asyncio.open_datagram({ "127.0.0.1", 0 })
      end)
      collectgarbage()
      collectgarbage()
      asyncio.sleep(0)
    end, {})
    assert.equal(0, #reports)
    assert.equal(0, #other)
  end)

  it("reports a Unix-domain connection", function()
    local path = os.tmpname()
    os.remove(path)
    local reports, where = dropped(function(mark)
      mark()
      local _ = asyncio.open_unix_connection(path)
    end, function()
      return asyncio.start_unix_server(function(_, writer)
        writer:close()
      end, path)
    end, close)
    os.remove(path)
    assert_one(reports, "Unix connection", where)
  end)

  it("reports pipes, not the shared standard streams", function()
    -- In a child, whose standard input and output are pipes to close.
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write([[
asyncio.run(function()
  assert(asyncio.stdout() and asyncio.stdin())
  asyncio.await(asyncio.create_task(function()
    local _ = asyncio.connect_read_pipe(0)
    local _ = asyncio.connect_write_pipe(1)
  end))
  collectgarbage()
  collectgarbage()
  asyncio.sleep(0)
end)
]])
    f:close()
    local p = io.popen(("(echo in | '%s' --debug '%s' | cat >/dev/null) 2>&1")
                       :format(os.getenv("LUAIO_BIN"), path))
    local err = p:read("a")
    p:close()
    os.remove(path)
    local _, n = err:gsub("unclosed ", "")
    assert.equal(2, n, err)
    assert.matches("unclosed read pipe opened at %S+:4, dropped", err)
    assert.matches("unclosed write pipe opened at %S+:5, dropped", err)
  end)

  it("reports a UDP endpoint, and not one closed or <close>d", function()
    local reports, where = dropped(function(mark)
      mark()
      asyncio.open_datagram({ "127.0.0.1", 0 })
      asyncio.open_datagram({ "127.0.0.1", 0 }):close()
      local _ <close> = asyncio.open_datagram({ "127.0.0.1", 0 })
    end)
    assert_one(reports, "UDP endpoint", where)
  end)

  it("reports an asyncio.fs file, and not one closed or <close>d",
     function()
    local path = os.tmpname()
    local reports, where = dropped(function(mark)
      mark()
      asyncio.fs.open(path)
      asyncio.fs.open(path):close()
      local _ <close> = asyncio.fs.open(path)
    end)
    os.remove(path)
    assert_one(reports, "file " .. path, where)
  end)

  it("reports a subprocess dropped while its child runs", function()
    local reports, where = dropped(function(mark)
      mark()
      asyncio.create_subprocess_exec("cat", {}, { stdin = asyncio.PIPE })
      asyncio.create_subprocess_exec("true"):wait()
    end)
    assert.equal(1, #reports)
    assert.matches("^unclosed subprocess cat %(pid %d+%) opened at "
                   .. where:gsub("%p", "%%%0") .. ", dropped",
                   reports[1].message)
  end)

  it("reports a server and a handler's writer left open at the loop's close",
     function()
    local where
    local kept = {}
    local reports = run(function()
      local started = asyncio.Event()
      where = next_line()
      local server = asyncio.start_server(function(_, writer)
        kept[1] = writer -- still open when the loop closes
        started:set()
      end, "127.0.0.1", 0)
      local _, writer = asyncio.open_connection("127.0.0.1", server:port())
      started:wait()
      writer:close()
    end)
    assert.equal(2, #reports)
    table.sort(reports, function(a, b) return a.message < b.message end)
    assert.matches("unclosed connection accepted by the server opened at "
                   .. where .. ", still open when its loop closed",
                   reports[1].message, 1, true)
    assert.matches("unclosed server opened at " .. where
                   .. ", still open when its loop closed",
                   reports[2].message, 1, true)
  end)

  it("reports a TLS connection", function()
    if not asyncio.ssl.available then
      return
    end
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir .. " && cd " .. dir .. " && openssl "
      .. "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      .. "-nodes -days 2 -keyout key.pem -out cert.pem -subj /CN=localhost "
      .. "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1"))
    local reports, where = dropped(function(mark, server)
      local ctx = asyncio.ssl.create_default_context{
        cafile = dir .. "/cert.pem" }
      mark()
      local _ = asyncio.open_connection("127.0.0.1", server:port(),
                                        { ssl = ctx })
    end, function()
      local sctx = asyncio.ssl.create_default_context{ server = true,
        certfile = dir .. "/cert.pem", keyfile = dir .. "/key.pem" }
      return asyncio.start_server(function(reader, writer)
        reader:read()
        writer:close()
      end, "127.0.0.1", 0, { ssl = sctx })
    end, close)
    os.execute("rm -rf " .. dir)
    assert_one(reports, "TLS connection", where)
  end)

  it("reports a coroutine object never awaited, with where it was made",
     function()
    local defined = debug.getinfo(1, "l").currentline + 1
    local double = asyncio.async(function(x) return 2 * x end)
    local made
    local _, other = run(function()
      in_task(function()
        made = next_line()
        double(1) -- the await forgotten
        assert.equal(4, asyncio.await(double(2)))
      end)
    end)
    assert.equal(1, #other)
    local source = debug.getinfo(1, "S").short_src
    assert.equal("a coroutine object of the async function defined at "
                 .. source .. ":" .. defined .. " made at " .. made
                 .. " was never awaited", other[1].message)
    assert.matches(made, other[1].source_traceback, 1, true)
  end)

  it("goes to stderr by default, and --debug and LUAIO_DEBUG=1 turn it on",
     function()
    local script = [[
local srv = asyncio.start_server(function(r, w) r:read() w:close() end,
                                 "127.0.0.1", 0)
asyncio.await(asyncio.create_task(function()
  local _ = asyncio.open_connection("127.0.0.1", srv:port())
end))
collectgarbage()
collectgarbage()
asyncio.sleep(0)
srv:close()
]]
    local main = "asyncio.run(function()\n" .. script .. "end)\n"
    local _, err, status = support.run_script(main, "--debug")
    assert.equal(0, status)
    assert.matches("unclosed TCP connection opened at %S+:5, dropped "
                   .. "without being closed\ncreated here:\n", err)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(main)
    f:close()
    local p = io.popen(("LUAIO_DEBUG=1 '%s' '%s' 2>&1 >/dev/null")
                       :format(os.getenv("LUAIO_BIN"), path))
    err = p:read("a")
    p:close()
    os.remove(path)
    assert.matches("unclosed TCP connection opened at %S+:5, dropped", err)
    _, err = support.run_script(main)
    assert.equal("", err)
    -- asyncio.run's own option wins over --debug.
    _, err = support.run_script("asyncio.run(function()\n" .. script
                                .. "end, {debug = false})\n", "--debug")
    assert.equal("", err)
  end)
end)

describe("debug mode's slow steps", function()
  -- Busy for seconds without suspending: far past the 0.1 s threshold.
  local function busy(seconds)
    local t0 = os.clock()
    while os.clock() - t0 < seconds do end
  end

  -- Runs fn as the task name in debug mode; returns the report about it
  -- and the line of fn that called at_line().
  local function slow_task(name, fn)
    local line
    local function at_line()
      line = debug.getinfo(2, "l").currentline
    end
    local _, other = run(function()
      asyncio.await(asyncio.create_task(function() fn(at_line) end,
                                        { name = name }))
    end)
    for _, context in ipairs(other) do
      if context.task and context.task:get_name() == name then
        return context, line
      end
    end
    error("no report about the task " .. name)
  end

  it("reports a step that computes past 0.1 s, with task and traceback",
     function()
    local found, line = slow_task("cruncher", function(at_line)
      at_line() busy(0.3)
    end)
    assert.matches("task 'cruncher' has run for", found.message, 1, true)
    assert.matches("debug mode reports steps of over 0.1 s", found.message,
                   1, true)
    assert.matches("debug_spec.lua:" .. line .. ":", found.traceback, 1,
                   true)
  end)

  it("reports a step that blocks in a C function once it is over",
     function()
    local found, line = slow_task("blocker", function(at_line)
      os.execute("sleep 0.3")
      at_line() asyncio.sleep(0)
    end)
    assert.matches("task 'blocker' ran for", found.message, 1, true)
    assert.matches("then suspended here", found.message, 1, true)
    assert.matches("debug_spec.lua:" .. line .. ":", found.traceback, 1,
                   true)
  end)

  it("reports a loop callback that runs past 0.1 s", function()
    local defined
    local _, other = run(function()
      local ran = asyncio.Event()
      defined = debug.getinfo(1, "l").currentline + 1
      asyncio.get_running_loop():call_soon(function()
        busy(0.3)
        ran:set()
      end)
      ran:wait()
    end)
    assert.equal(1, #other)
    assert.matches("^callback function defined at %S+debug_spec.lua:"
                   .. defined .. " ran for %d[.]%d+ s %(debug mode reports "
                   .. "steps of over 0.1 s%)$", other[1].message)
  end)

  it("reports nothing out of debug mode", function()
    local _, other = run(function()
      asyncio.await(asyncio.create_task(function() busy(0.15) end))
      asyncio.get_running_loop():call_soon(busy, 0.15)
      asyncio.sleep(0)
    end, {})
    assert.equal(0, #other)
  end)
end)
