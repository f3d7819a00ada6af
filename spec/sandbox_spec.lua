-- Untrusted scripts: capabilities (luaio --allow and its finer grants),
-- the sandbox preset (luaio --sandbox) and the memory limit. Each case
-- runs a script in its own luaio process, as a host would. The escapes the
-- preset stops are in regress/16-sandbox-escapes_spec.lua.
local asyncio = require "asyncio"
local support = require "support"

local function run(args, source)
  return support.run_script(source, args)
end
local refused = support.run_refused

local function tmpdir()
  local p = io.popen("mktemp -d")
  local dir = p:read("l")
  p:close()
  return dir
end

describe("luaio --allow", function()
  it("grants fs.read without fs.write", function()
    local dir = tmpdir()
    local out = refused("--allow fs.read --allow-dir " .. dir, ([[
      local f = asyncio.fs.open(%q .. "/a", "w")
    ]]):format(dir))
    assert.equal("false\ttrue\tEACCES\tfs.write\nasyncio.fs.open: the "
      .. "'fs.write' capability is not granted\n", out)
    os.execute("rm -rf " .. dir)
  end)

  it("confines asyncio.fs to the granted directories", function()
    local dir = tmpdir()
    assert(os.execute(("mkdir %s/sub && ln -s /etc %s/etc"):format(dir, dir)))
    local out = run("--sandbox --allow fs --allow-dir " .. dir, ([[
      local dir = %q
      asyncio.run(function()
        asyncio.fs.write_file(dir .. "/sub/a", "inside")
        print(asyncio.fs.read_file(dir .. "/sub/../sub/a"))
        for _, path in ipairs{"/etc/passwd", dir .. "/../passwd",
                              dir .. "/etc/passwd",
                              dir .. "/missing/../../x"} do
          local ok, err = pcall(asyncio.fs.read_file, path)
          print(ok, err.code, tostring(err) == "asyncio.fs.read_file: '"
            .. path .. "' is outside the directories granted to this script")
        end
        print(pcall(asyncio.fs.rename, dir .. "/sub/a", "/tmp/escaped"))
      end)
    ]]):format(dir))
    os.execute("rm -rf " .. dir)
    assert.equal("inside\n" .. ("false\tEACCES\ttrue\n"):rep(4)
      .. "false\tasyncio.fs.rename: '/tmp/escaped' is outside the "
      .. "directories granted to this script\n", out)
  end)

  it("confines open_connection to the granted hosts", function()
    local out = run("--allow net --allow-host 127.0.0.1", [[
      asyncio.run(function()
        local server = asyncio.start_server(function(r, w) w:close() end,
          "127.0.0.1", 0)
        local r, w = asyncio.open_connection("127.0.0.1", server:port())
        print("connected", r:read() == "")
        w:close()
        local ok, err = pcall(asyncio.open_connection, "localhost",
          server:port())
        print(ok, err.code, tostring(err) == "asyncio.open_connection: "
          .. "localhost:" .. server:port() .. " is not among the hosts "
          .. "granted to this script")
        server:close()
      end)
    ]])
    assert.equal("connected\ttrue\nfalse\tEACCES\ttrue\n", out)
  end)

  it("confines Unix sockets to granted paths and directories", function()
    local dir = tmpdir()
    local sock = dir .. "/s.sock"
    local out = run(("--allow net --allow-dir %s --allow-host %s"):format(dir,
      sock), ([[
      local sock = %q
      asyncio.run(function()
        local server = asyncio.start_unix_server(function(r, w)
          w:write("hi\n")
          w:close()
        end, sock)
        local r, w = asyncio.open_unix_connection(sock)
        print(r:readline())
        w:close()
        server:close()
        print(select(2, pcall(asyncio.open_unix_connection, "/run/x.sock")))
        print(select(2, pcall(asyncio.start_unix_server, print, "/tmp/x")))
      end)
    ]]):format(sock))
    os.execute("rm -rf " .. dir)
    assert.equal("hi\n\n"
      .. "asyncio.open_unix_connection: '/run/x.sock' is not among the hosts "
      .. "granted to this script\n"
      .. "asyncio.start_unix_server: '/tmp/x' is outside the directories "
      .. "granted to this script\n", out)
  end)

  it("can leave listening off", function()
    assert.equal("false\ttrue\tEACCES\tnet.listen\nasyncio.start_server: the "
      .. "'net.listen' capability is not granted\n",
      refused("--allow net.connect,net.dns",
        [[asyncio.start_server(print, "127.0.0.1", 0)]]))
  end)

  it("refuses a capability it does not know", function()
    local out, err, status = run("--allow fs,teleport", "print(1)")
    assert.equal("", out)
    assert.equal(1, status)
    assert.matches("--allow 'fs,teleport': not understood", err, 1, true)
  end)
end)

describe("asyncio.memory", function()
  it("tells the use of a state luaio did not make, with no limit",
    asyncio.spec(function()
      collectgarbage()
      local used, limit = asyncio.memory()
      assert.is_true(math.type(used) == "integer" and used > 0)
      assert.is_nil(limit)
      local big = string.rep("x", 1 << 20)
      collectgarbage()
      assert.is_true(asyncio.memory() >= used + #big)
    end))

  it("cannot limit a state luaio did not make", asyncio.spec(function()
    assert.has_error(function() asyncio.set_memory_limit(1 << 30) end,
      "set_memory_limit: this Lua state was not made by luaio_newstate, so "
      .. "it cannot have a limit")
    assert.has_error(function() asyncio.set_memory_limit(0) end)
  end))
end)
