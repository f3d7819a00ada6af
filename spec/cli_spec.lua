local asyncio = require "asyncio"

-- The CLI under test, and a bound on how long any one run may take, so a
-- hanging runtime fails the spec instead of hanging the suite.
local LUAIO_BIN = os.getenv("LUAIO_BIN")
local LIMIT = "timeout -k 5 30 "

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function read_file(path)
  local f = io.open(path, "r")
  if not f then
    return nil
  end
  local text = f:read("a")
  f:close()
  return text
end

-- Paths to remove after the test. (busted keeps one finally per test, so
-- the specs list their files here instead.)
local temporary = {}
local function remove_later(path)
  temporary[#temporary + 1] = path
  return path
end
local function remove_temporary()
  for _, path in ipairs(temporary) do os.remove(path) end
  temporary = {}
end

-- A temporary script holding source; removed when the test ends.
local function script(source)
  local path = remove_later(os.tmpname())
  write_file(path, source)
  return path
end

-- Runs `luaio <args>` (args already quoted) with optional environment
-- assignments in front; returns stdout, stderr and the exit status.
local function luaio(args, env)
  assert(LUAIO_BIN, "LUAIO_BIN must name the luaio binary")
  local errfile = os.tmpname()
  local p = io.popen(("%s%s%s %s 2>%s"):format(env or "", LIMIT,
    shell_quote(LUAIO_BIN), args, shell_quote(errfile)))
  local out = p:read("a")
  local _, _, status = p:close()
  local err = read_file(errfile)
  os.remove(errfile)
  return out, err, status
end

-- Runs a shell command, returning true once it exits with status 0.
local function sh(cmd)
  return os.execute(cmd) == true
end

describe("luaio CLI", function()
  after_each(remove_temporary)

  it("runs a script with arg and ... set as lua does", function()
    local path = script([[
      print(arg[0])
      print(arg[1], arg[2], #arg)
      print(select("#", ...), ...)
      print(arg[-1])
    ]])
    local out, err, status = luaio(shell_quote(path) .. " a b")
    assert.equal(0, status, err)
    assert.equal(path .. "\na\tb\t2\n2\ta\tb\n" .. LUAIO_BIN .. "\n", out)
  end)

  it("runs -e CODE", function()
    local out, err, status = luaio("-e " .. shell_quote('print("hi " .. 1 + 1)'))
    assert.equal(0, status, err)
    assert.equal("hi 2\n", out)
  end)

  it("runs asyncio code given with -e", function()
    local code = 'local a = require "asyncio" '
      .. "print(a.run(function() return a.sleep(0, 7) end))"
    local out, err, status = luaio("-e " .. shell_quote(code))
    assert.equal(0, status, err)
    assert.equal("7\n", out)
  end)

  it("-v prints a version line naming luaio", function()
    local out, err, status = luaio("-v")
    assert.equal(0, status)
    assert.matches("luaio", out .. err, 1, true)
  end)

  it("--help prints usage and the exit statuses", function()
    local out, err, status = luaio("--help")
    assert.equal(0, status)
    assert.equal("", err)
    assert.matches("usage", out:lower(), 1, true)
    for _, word in ipairs({ "-i", "-l mod", "-E", "-W", "130", "143" }) do
      assert.matches(word, out, 1, true)
    end
  end)

  it("--debug and LUAIO_DEBUG=1 report a step that runs 0.1 s", function()
    -- The task computes for 0.3 s of CPU time, so its step lasts at least
    -- that long whatever the machine.
    local path = script([[
      asyncio.run(function()
        asyncio.await(asyncio.create_task(function()
          local c = os.clock()
          while os.clock() - c < 0.3 do end
        end, { name = "cruncher" }))
        print("ok")
      end)
    ]])
    local report = "task 'cruncher' has run for "
    for _, run in ipairs({ { "--debug " }, { "", "LUAIO_DEBUG=1 " } }) do
      local out, err, status = luaio(run[1] .. shell_quote(path), run[2])
      assert.equal(0, status, err)
      assert.equal("ok\n", out)
      assert.matches(report, err, 1, true)
      assert.matches(path .. ":4:", err, 1, true)
    end
    local _, err = luaio("-E " .. shell_quote(path), "LUAIO_DEBUG=1 ")
    assert.not_matches(report, err, 1, true)
  end)

  it("warns on stderr about a coroutine object nobody awaited", function()
    local path = script([[
      local asyncio = require "asyncio"
      local fetch = asyncio.async(function(x) return x end)
      asyncio.run(function()
        fetch(1) -- the await is forgotten
        assert(asyncio.await(fetch(2)) == 2)
        assert(asyncio.await(asyncio.create_task(fetch(3))) == 3)
        assert(asyncio.gather(fetch(4))[1] == 4)
        collectgarbage()
        collectgarbage()
        print("collected")
      end)
    ]])
    local out, err, status = luaio(shell_quote(path))
    assert.equal(0, status, err)
    assert.equal("collected\n", out)
    local _, count = err:gsub("was never awaited", "")
    assert.equal(1, count, err)
    assert.matches("luaio: warning: a coroutine object of the async function "
      .. "defined at " .. path .. ":2 was never awaited", err, 1, true)
  end)

  it("exits 0 on success", function()
    local path = script([[
      local asyncio = require "asyncio"
      asyncio.run(function() asyncio.sleep(0.001) end)
    ]])
    local out, err, status = luaio(shell_quote(path))
    assert.equal(0, status, err)
    assert.equal("", out)
  end)

  it("exits 1 with the message and a traceback on an uncaught error", function()
    local path = script([[
      local function explode() error("kaboom") end
      explode()
    ]])
    local out, err, status = luaio(shell_quote(path))
    assert.equal(1, status)
    assert.matches("kaboom", err, 1, true)
    assert.matches("traceback", err, 1, true)
    assert.matches("explode", err, 1, true)
  end)

  it("shows where an error raised inside a task happened", function()
    local path = script([[
      local asyncio = require "asyncio"
      local function deep_in_task()
        asyncio.sleep(0)
        error("task kaboom", 0)
      end
      asyncio.run(function() deep_in_task(); return 1 end)
    ]])
    local out, err, status = luaio(shell_quote(path))
    assert.equal(1, status)
    assert.matches("task kaboom", err, 1, true)
    assert.matches("traceback", err, 1, true)
    assert.matches("deep_in_task", err, 1, true)
  end)

  it("exits 1 with a clear message for a missing script", function()
    local missing = os.tmpname()
    os.remove(missing)
    local out, err, status = luaio(shell_quote(missing))
    assert.equal(1, status)
    assert.matches(missing, err, 1, true)
  end)

  it("has asyncio preloaded, so require needs no path setup", function()
    local path = script([[
      print(package.loaded.asyncio ~= nil or package.preload.asyncio ~= nil)
      local asyncio = require "asyncio"
      print(type(asyncio.run), require "asyncio" == asyncio)
      print(asyncio.run(function() return asyncio.sleep(0, "ran") end))
    ]])
    -- Search paths that find nothing: the module must come from the binary.
    local env = "LUA_CPATH_5_4='/nonexistent/?.so' LUA_PATH_5_4='/nonexistent/?.lua' "
    local out, err, status = luaio(shell_quote(path), env)
    assert.equal(0, status, err)
    assert.equal("true\nfunction\ttrue\nran\n", out)
  end)

  it("cancels the main task on SIGINT, runs its cleanup and exits 130", function()
    local marker = remove_later(os.tmpname())
    os.remove(marker)
    local path = script([[
      local asyncio = require "asyncio"
      local marker = ...
      asyncio.run(function()
        -- The loop writes the marker once this task is suspended in sleep.
        asyncio.get_running_loop():call_soon(function()
          assert(io.open(marker, "w")):close()
        end)
        local ok, err = pcall(asyncio.sleep, 10)
        print("cleanup", asyncio.CancelledError:is(err))
        io.stdout:flush()
        error(err, 0)
      end)
      print("not reached")
    ]])
    assert(LUAIO_BIN, "LUAIO_BIN must name the luaio binary")
    local errfile = remove_later(os.tmpname())
    -- `exec` makes luaio take over the shell's pid, which `echo $$` printed.
    -- It runs in the foreground of that shell, so SIGINT is not ignored.
    local p = io.popen(("echo $$; exec %s %s %s 2>%s"):format(shell_quote(LUAIO_BIN),
      shell_quote(path), shell_quote(marker), shell_quote(errfile)))
    local pid = assert(tonumber(p:read("l")))
    -- Wait up to about 5 s for the script to reach its sleep.
    local ready = sh(("i=0; while [ ! -e %s ] && [ $i -lt 500 ]; do sleep 0.01; "
      .. "i=$((i+1)); done; [ -e %s ]"):format(shell_quote(marker), shell_quote(marker)))
    if not ready then
      sh("kill -KILL " .. pid)
      p:close()
      error("the script never reached its sleep; stderr:\n"
            .. tostring(read_file(errfile)))
    end
    assert.is_true(sh("kill -INT " .. pid))
    local out = p:read("a")
    local _, how, status = p:close()
    local err = read_file(errfile)
    assert.equal("cleanup\ttrue\n", out)
    assert.equal("exit", how, err)
    assert.equal(130, status, err)
  end)
end)
