local asyncio = require "asyncio"

local LUAIO_BIN = os.getenv("LUAIO_BIN")

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
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

-- This process's pid: the first field of /proc/self/stat.
local function mypid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("n")
  f:close()
  return math.tointeger(pid)
end

-- Sends sig to this process through kill(1), run as a subprocess.
local function kill_self(sig)
  local p = asyncio.create_subprocess_exec("kill", { "-" .. sig, tostring(mypid()) })
  assert.equal(0, p:wait())
end

-- Polls (bounded, about 5 s) until pred() holds; no timing is asserted.
local function eventually(pred)
  for _ = 1, 500 do
    if pred() then
      return true
    end
    asyncio.sleep(0.01)
  end
  return pred()
end

describe("loop:add_signal_handler", function()
  it("calls the handler with its arguments when the signal arrives", asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local got = {}
    loop:add_signal_handler("SIGUSR1", function(...)
      got[#got + 1] = table.concat({ ... }, ",")
      assert.is_nil(asyncio.current_task()) -- a loop callback, not a task
    end, "a", "b")
    kill_self("USR1")
    assert.is_true(eventually(function() return #got == 1 end))
    assert.same({ "a,b" }, got)
    kill_self("USR1")
    assert.is_true(eventually(function() return #got == 2 end))
    assert.is_true(loop:remove_signal_handler("SIGUSR1"))
    assert.is_false(loop:remove_signal_handler("SIGUSR1"))
  end))

  it("takes signal numbers and replaces an earlier handler", asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local which
    loop:add_signal_handler(10, function() which = "first" end) -- SIGUSR1 on Linux
    loop:add_signal_handler("USR1", function() which = "second" end)
    kill_self("USR1")
    assert.is_true(eventually(function() return which ~= nil end))
    assert.equal("second", which)
    assert.is_true(loop:remove_signal_handler(10))
  end))

  it("reports an error in a handler and keeps running", asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local n = 0
    loop:add_signal_handler("SIGUSR2", function()
      n = n + 1
      error("handler failed")
    end)
    kill_self("USR2")
    assert.is_true(eventually(function() return n == 1 end))
    kill_self("USR2")
    assert.is_true(eventually(function() return n == 2 end))
    loop:remove_signal_handler("SIGUSR2")
  end))

  it("rejects bad signals", asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    assert.has_error(function() loop:add_signal_handler("SIGNOPE", print) end)
    assert.has_error(function() loop:add_signal_handler("SIGKILL", print) end)
    assert.has_error(function() loop:add_signal_handler(0, print) end)
    assert.has_error(function() loop:add_signal_handler("SIGUSR1", 42) end)
  end))

  it("does not keep asyncio.run alive, and is closed with the loop", function()
    local n = 0
    asyncio.run(function()
      asyncio.get_running_loop():add_signal_handler("SIGUSR1", function() n = n + 1 end)
    end)
    assert.equal(0, n)
    -- A new loop starts with no handler left from the old one.
    asyncio.run(function()
      assert.is_false(asyncio.get_running_loop():remove_signal_handler("SIGUSR1"))
    end)
  end)
end)

describe("luaio CLI", function()
  it("cancels the main task on SIGTERM, runs its cleanup and exits 143", function()
    local marker, path = os.tmpname(), os.tmpname()
    os.remove(marker)
    local f = assert(io.open(path, "w"))
    f:write([[
      local asyncio = require "asyncio"
      local marker = ...
      asyncio.run(function()
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
    f:close()
    assert(LUAIO_BIN, "LUAIO_BIN must name the luaio binary")
    local errfile = os.tmpname()
    -- busted keeps one finally per test: it removes all three files.
    finally(function()
      os.remove(marker)
      os.remove(path)
      os.remove(errfile)
    end)
    local p = io.popen(("echo $$; exec %s %s %s 2>%s"):format(shell_quote(LUAIO_BIN),
      shell_quote(path), shell_quote(marker), shell_quote(errfile)))
    local pid = assert(tonumber(p:read("l")))
    local ready = os.execute(("i=0; while [ ! -e %s ] && [ $i -lt 500 ]; do sleep 0.01; "
      .. "i=$((i+1)); done; [ -e %s ]"):format(shell_quote(marker), shell_quote(marker)))
    if not ready then
      os.execute("kill -KILL " .. pid)
      p:close()
      error("the script never reached its sleep; stderr:\n" .. tostring(read_file(errfile)))
    end
    assert.is_true(os.execute("kill -TERM " .. pid) == true)
    local out = p:read("a")
    local _, how, status = p:close()
    local err = read_file(errfile)
    assert.equal("cleanup\ttrue\n", out)
    assert.equal("exit", how, err)
    assert.equal(143, status, err)
  end)
end)

describe("loop:add_signal_handler in a scope", function()
  it("runs the handler in the scope, which removes it when cancelled",
     asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local s = asyncio.Scope()
    local seen
    asyncio.await(s:spawn(function()
      loop:add_signal_handler("SIGUSR1", function()
        seen = asyncio.current_scope()
      end)
    end))
    kill_self("USR1")
    assert.is_true(eventually(function() return seen ~= nil end))
    assert.equal(s, seen)
    s:cancel()
    assert.is_false(loop:remove_signal_handler("SIGUSR1"))
  end))

  it("leaves a handler that replaced its own", asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local s = asyncio.Scope()
    asyncio.await(s:spawn(function()
      loop:add_signal_handler("SIGUSR2", print)
    end))
    loop:add_signal_handler("SIGUSR2", print) -- outside the scope
    s:close()
    assert.is_true(loop:remove_signal_handler("SIGUSR2"))
  end))

  it("is refused in a closed scope, naming the call", asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local s = asyncio.Scope()
    local ready, go = asyncio.Event(), asyncio.Event()
    local ok, err
    s:spawn(function()
      ready:set()
      pcall(asyncio.sleep, 10) -- cancelled: it goes on all the same
      ok, err = pcall(loop.add_signal_handler, loop, "SIGUSR1", print)
      go:set()
    end)
    ready:wait()
    s:cancel()
    go:wait()
    assert.is_false(ok)
    assert.matches("add_signal_handler: the scope is closed$", err)
    assert.is_false(loop:remove_signal_handler("SIGUSR1"))
  end))
end)
