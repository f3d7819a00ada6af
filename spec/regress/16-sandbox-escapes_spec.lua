-- A script that a host ran with io, os, require and load removed could
-- still reach the machine through the asyncio module (fs.write_file,
-- subprocesses, servers, connections, DNS, signal handlers) and through
-- to_thread, whose workers opened the whole standard library. The sandbox
-- preset (luaio --sandbox) refuses each, naming what is not granted, and
-- stops the known escapes of Lua sandboxes.
local support = require "support"

local function run(args, source)
  return support.run_script(source, args)
end
local refused = support.run_refused

describe("luaio --sandbox", function()
  local function escape(name, cap, body)
    it("refuses " .. name .. ", naming the '" .. cap .. "' capability",
      function()
        assert.equal(("false\ttrue\tEACCES\t%s\n%s: the '%s' capability "
          .. "is not granted\n"):format(cap, name, cap),
          refused("--sandbox", body))
      end)
  end

  escape("asyncio.fs.write_file", "fs.write",
    [[asyncio.fs.write_file("/tmp/luaio-sandbox-escape", "x")]])
  escape("asyncio.fs.read_file", "fs.read",
    [[asyncio.fs.read_file("/etc/passwd")]])
  escape("asyncio.create_subprocess_shell", "process",
    [[asyncio.create_subprocess_shell("id -un")]])
  escape("asyncio.create_subprocess_exec", "process",
    [[asyncio.create_subprocess_exec("id", {"-un"})]])
  escape("asyncio.start_server", "net.listen",
    [[asyncio.start_server(function() end, "127.0.0.1", 0)]])
  escape("asyncio.open_connection", "net.connect",
    [[asyncio.open_connection("127.0.0.1", 9)]])
  escape("asyncio.open_unix_connection", "net.connect",
    [[asyncio.open_unix_connection("/run/systemd/private")]])
  escape("asyncio.start_unix_server", "net.listen",
    [[asyncio.start_unix_server(print, "/tmp/luaio-sandbox-escape.sock")]])
  escape("asyncio.ssl.create_default_context", "fs.read",
    [[asyncio.ssl.create_default_context{cafile = "/etc/passwd"}]])
  escape("SSLContext:load_verify_locations", "fs.read",
    [[asyncio.ssl.create_default_context():load_verify_locations(
        "/etc/passwd")]])
  escape("SSLContext:load_cert_chain", "fs.read",
    [[asyncio.ssl.create_default_context():load_cert_chain("/etc/passwd")]])
  escape("asyncio.getaddrinfo", "net.dns",
    [[asyncio.getaddrinfo("localhost")]])
  escape("loop:add_signal_handler", "signal",
    [[asyncio.get_running_loop():add_signal_handler(15, print)]])
  escape("asyncio.to_thread", "thread",
    [[asyncio.to_thread(function() os.execute("id") end)]])

  it("leaves the file a refused write_file names alone", function()
    local path = os.tmpname()
    os.remove(path)
    refused("--sandbox", ("asyncio.fs.write_file(%q, 'x')"):format(path))
    assert.is_nil(io.open(path))
  end)

  it("keeps tasks, gather, timeouts, queues and locks", function()
    local out = run("--sandbox", [[
      print(asyncio.run(function()
        local q, lock = asyncio.Queue(), asyncio.Lock()
        local got = asyncio.gather(
          function() q:put("a"); return lock:with(function() return 1 end) end,
          function() return q:get() end,
          function()
            return asyncio.wait_for(asyncio.create_task(function()
              return asyncio.sleep(0, "w")
            end), 1)
          end)
        return table.concat({got[1], got[2], got[3]}, " ")
      end))
    ]])
    assert.equal("1 a w\n", out)
  end)

  it("has no io, debug, package, dofile or loadfile, and os has only "
    .. "time, clock and date", function()
    local out = run("--sandbox", [[
      print(io, debug, package, dofile, loadfile)
      local names = {}
      for k in pairs(os) do names[#names + 1] = k end
      table.sort(names)
      print(table.concat(names, " "), type(os.time()), type(os.date()))
    ]])
    assert.equal("nil\tnil\tnil\tnil\tnil\nclock date time\tnumber\tstring\n",
      out)
  end)

  it("gives no debug access to upvalues", function()
    local out, err, status = run("--sandbox", [[
      local secret = "s3cret"
      local function f() return secret end
      print(pcall(function() return debug.getupvalue(f, 1) end))
    ]])
    assert.equal(0, status, err)
    assert.matches("^false\t.*attempt to index a nil value %(global 'debug'%)",
      out)
    assert.not_matches("s3cret", out)
  end)

  it("loads text chunks only", function()
    local out = run("--sandbox", [[
      local f, msg = load(string.dump(function() return 1 end))
      print(f, msg)
      print(pcall(load, "return 1", "x", "b"))
      print(load("return 1 + 1")())
      print(load("return string.upper('g')")(), load("return x", "=env", "t",
        {x = "own env"})(), pcall(load("return y", "=nil env", "t", nil)))
    ]])
    assert.equal("nil\tattempt to load a binary chunk (mode is 't')\n"
      .. "false\tbad argument #3 to 'load' (only text chunks ('t') load "
      .. "in the sandbox)\n2\nG\town env\tfalse\tnil env:1: attempt to "
      .. "index a nil value (upvalue '_ENV')\n", out)
  end)

  it("requires only the modules its host provides", function()
    local out = run("--sandbox", [[
      print(require("asyncio") == asyncio, require("string") == string)
      print(pcall(require, "socket"))
    ]])
    assert.equal("true\ttrue\nfalse\tmodule 'socket' not found: the sandbox "
      .. "loads no modules from files, only those its host provides\n", out)
  end)

  it("lets collectgarbage collect and count, not stop or retune", function()
    local out = run("--sandbox", [[
      print(collectgarbage(), collectgarbage("count") > 0,
        collectgarbage("isrunning"))
      for _, opt in ipairs{"stop", "setpause", "generational", "incremental"} do
        print(pcall(collectgarbage, opt, 1000))
      end
      print(collectgarbage("isrunning"))
    ]])
    local want = "0\ttrue\ttrue\n"
    for _, opt in ipairs{"stop", "setpause", "generational", "incremental"} do
      want = want .. ("false\tcollectgarbage: option '%s' is not allowed in "
        .. "the sandbox\n"):format(opt)
    end
    assert.equal(want .. "true\n", out)
  end)

  it("hides the string metatable and keeps string methods out of reach",
    function()
    local out = run("--sandbox", [[
      print(getmetatable(""))
      print(pcall(function()
        getmetatable("").__index.upper = function() return "pwned" end
      end))
      string.upper = function() return "pwned" end
      print(("abc"):upper(), string.upper("abc"))
    ]])
    assert.matches("^the string metatable is protected\nfalse\t.*attempt to "
      .. "index a nil value %(field '__index'%)\nABC\tpwned\n$", out)
  end)

  it("hides the metatables of asyncio's objects, made early or late",
    function()
    local out = run("--sandbox", [[
      asyncio.run(function()
        print(getmetatable(asyncio.current_task()))
        print(getmetatable(asyncio.Queue()))
        print(getmetatable(asyncio.Clock("manual")))
        print(type(getmetatable(setmetatable({}, {}))))
      end)
    ]])
    assert.equal(("the asyncio metatables are protected\n"):rep(3)
      .. "table\n", out)
  end)

  it("has no os.exit: a script calling it fails, naming the call", function()
    local out, err, status = run("--sandbox", [[
      print("before")
      os.exit(0)
      print("not reached")
    ]])
    assert.equal("before\n", out)
    assert.equal(1, status)
    assert.matches("attempt to call a nil value %(field 'exit'%)", err)
  end)

  it("stops a string.rep bomb with a memory error the script catches",
    function()
    local out = run("--sandbox --memory-limit 16M", [[
      print(pcall(string.rep, "x", 1 << 30))
      print(pcall(function()
        local s = "xy"
        for _ = 1, 40 do s = s .. s end
      end))
      print(#string.rep("x", 1000))
    ]])
    assert.equal("false\tnot enough memory\nfalse\tnot enough memory\n1000\n",
      out)
  end)

  it("stops a table bomb in one task while another goes on", function()
    local out = run("--sandbox --memory-limit 16M", [[
      asyncio.run(function()
        local other = asyncio.create_task(function()
          for _ = 1, 3 do asyncio.sleep(0) end
          return "other done"
        end)
        local bomb = asyncio.create_task(function()
          local t = {}
          for i = 1, 1e9 do t[i] = i end
        end)
        print(pcall(asyncio.await, bomb))
        print(asyncio.await(other))
        local used, limit = asyncio.memory()
        print(used <= limit, limit)
      end)
    ]])
    assert.equal("false\tnot enough memory\nother done\ntrue\t16777216\n", out)
  end)

  it("sets a memory limit of 64M unless told otherwise", function()
    local out = run("--sandbox", [[print(select(2, asyncio.memory()))]])
    assert.equal("67108864\n", out)
  end)

  it("lets a script lower its memory limit but not raise it", function()
    local out = run("--sandbox", [[
      asyncio.set_memory_limit(32 << 20)
      print(select(2, asyncio.memory()))
      print(pcall(asyncio.set_memory_limit, 1 << 40))
    ]])
    assert.equal("33554432\nfalse\tset_memory_limit: a script may lower its "
      .. "limit (33554432 bytes), not raise it\n", out)
  end)

  describe("with the 'thread' capability", function()
    it("gives workers the script's standard library", function()
      local out = run("--sandbox --allow thread", [[
        asyncio.run(function()
          print(asyncio.to_thread(function()
            return io, debug, package, os.execute, os.exit, getmetatable("")
          end))
          print(pcall(asyncio.to_thread, function() os.execute("id") end))
        end)
      ]])
      assert.matches("^nil\tnil\tnil\tnil\tnil\tthe string metatable is "
        .. "protected\nfalse\t.*attempt to call a nil value %(field "
        .. "'execute'%)\n$", out)
    end)

    it("raises os.exit's absence in the awaiting task", function()
      local out, _, status = run("--sandbox --allow thread", [[
        asyncio.run(function()
          print(pcall(asyncio.to_thread, function() os.exit(3) end))
          print("still running")
        end)
      ]])
      assert.equal(0, status)
      assert.matches("^false\t.*attempt to call a nil value %(field 'exit'%)"
        .. "\nstill running\n$", out)
    end)

    it("gives workers the script's memory limit", function()
      local out = run("--sandbox --allow thread --memory-limit 16M", [[
        asyncio.run(function()
          print(pcall(asyncio.to_thread, function()
            local t = {}
            for i = 1, 1e9 do t[i] = i end
          end))
          print(asyncio.to_thread(function() return "next call" end))
        end)
      ]])
      assert.equal("false\tnot enough memory\nnext call\n", out)
    end)
  end)
end)

describe("a TLS context in a sandbox", function()
  it("needs no capability without files, and keeps files under --allow-dir",
     function()
    local out = refused("--sandbox --allow fs.read --allow-dir /tmp", [[
      local ctx = asyncio.ssl.create_default_context()
      assert(ctx, "a context without files")
      ctx:load_verify_locations("/etc/ssl/certs/ca-certificates.crt")]])
    assert.matches("SSLContext:load_verify_locations: '/etc/ssl/certs/"
      .. "ca%-certificates.crt' is outside the directories granted", out)
  end)
end)

describe("a slice", function()
  -- A runaway task, beside one that keeps its schedule. The task catches
  -- its SliceError and spins again, in its own thread or in a coroutine
  -- of its own: either way it is stopped, and the other task goes on.
  local RUNAWAY = [[
    asyncio.run(function()
      local ticks = 0
      local other = asyncio.create_task(function()
        for _ = 1, 3 do asyncio.sleep(0); ticks = ticks + 1 end
      end)
      local t = asyncio.create_task(function()
        while true do
          pcall(%s)
        end
      end)
      local ok, err = pcall(asyncio.await, t)
      print(ok, asyncio.SliceError:is(err))
      print(tostring(err):match("ran on after its SliceError: stopped"))
      asyncio.await(other)
      print(ticks)
    end)
  ]]
  local SPIN = "function() while true do end end"
  local SPIN_IN_COROUTINE =
    "coroutine.wrap(function() while true do end end)"

  it("is set by --sandbox, and stops a task that catches its SliceError",
     function()
    local out, err, status = run("--sandbox", RUNAWAY:format(SPIN))
    assert.equal("false\ttrue\nran on after its SliceError: stopped\n3\n",
                 out)
    assert.equal("", err)
    assert.equal(0, status)
  end)

  it("stops a task spinning in coroutines of its own", function()
    local out, err, status = run("--sandbox --slice 0.05",
                                 RUNAWAY:format(SPIN_IN_COROUTINE))
    assert.equal("false\ttrue\nran on after its SliceError: stopped\n3\n",
                 out)
    assert.equal("", err)
    assert.equal(0, status)
  end)
end)
