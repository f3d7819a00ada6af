local asyncio = require "asyncio"

local LUAIO_BIN = os.getenv("LUAIO_BIN")

-- Suspends the current task until it is cancelled: awaits a fresh future that
-- nobody resolves.
local function block()
  return asyncio.await(asyncio.get_running_loop():create_future())
end

-- Runs fn in a fresh task and returns the error that awaiting it raises.
local function error_of(fn)
  local ok, err = pcall(asyncio.await, asyncio.create_task(fn))
  assert.is_false(ok, "the task was expected to fail")
  return err
end

-- Calls fn(...) and returns the error it raises; fn must raise.
local function raised(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "the call was expected to raise")
  return err
end

-- Asserts that msg is Lua's "bad argument #n to 'fname'" message. The name may
-- carry the module prefix ("asyncio.await") when Lua finds it that way.
local function assert_bad_argument(msg, n, fname)
  msg = tostring(msg)
  local quoted = msg:match("bad argument #" .. n .. " to '([^']*)'")
  assert(quoted == fname or quoted == "asyncio." .. fname,
         ("expected \"bad argument #%d to '%s'\", got: %s"):format(n, fname, msg))
end

-- "file:line" of the line after the one that calls this, as Lua's error
-- position and tracebacks write it.
local function next_line()
  local info = debug.getinfo(2, "Sl")
  return info.short_src .. ":" .. (info.currentline + 1)
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function read_file(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("a")
  f:close()
  return text
end

-- Runs a Lua script with the luaio CLI; returns stdout, stderr and the exit
-- status. `timeout` keeps a hanging runtime from hanging the suite.
local function run_script(source)
  assert(LUAIO_BIN, "LUAIO_BIN must name the luaio binary")
  local script, errfile = os.tmpname(), os.tmpname()
  write_file(script, source)
  local p = io.popen(("timeout -k 5 30 %s %s 2>%s"):format(
    shell_quote(LUAIO_BIN), shell_quote(script), shell_quote(errfile)))
  local out = p:read("a")
  local _, _, status = p:close()
  local err = read_file(errfile)
  os.remove(script)
  os.remove(errfile)
  return out, err, status
end

-- One instance of each error class, produced the way a program meets it.
local function sample_errors()
  local s = {}
  local task = asyncio.create_task(block)
  asyncio.sleep(0)
  task:cancel()
  s.CancelledError = raised(asyncio.await, task)
  s.TimeoutError = raised(asyncio.wait_for, asyncio.create_task(block), 0.001)
  local fut = asyncio.Future()
  s.InvalidStateError = raised(fut.result, fut)
  s.QueueEmpty = raised(asyncio.Queue().get_nowait, asyncio.Queue())
  local full = asyncio.Queue(1)
  full:put_nowait(1)
  s.QueueFull = raised(full.put_nowait, full, 2)
  local shut = asyncio.Queue()
  shut:shutdown()
  s.QueueShutDown = raised(shut.put, shut, 1)
  s.ExceptionGroup = raised(asyncio.TaskGroup, function(tg)
    tg:create_task(function() error("child failed", 0) end)
  end)
  return s
end

local CLASSES = { "CancelledError", "TimeoutError", "InvalidStateError",
                  "QueueEmpty", "QueueFull", "QueueShutDown", "ExceptionGroup" }

describe("error classes", function()
  it("are all present", function()
    assert.is_not_nil(asyncio.Error)
    for _, name in ipairs(CLASSES) do
      assert.is_not_nil(asyncio[name], name)
      assert.is_function(asyncio[name].is, name)
    end
  end)

  it("Class:is(v) matches its own class and asyncio.Error, no other",
     asyncio.spec(function()
    local samples = sample_errors()
    for _, name in ipairs(CLASSES) do
      local err = samples[name]
      assert.is_true(asyncio[name]:is(err), name .. ":is(its own error)")
      assert.is_true(asyncio.Error:is(err), "Error:is(" .. name .. ")")
      assert.is_true(asyncio.iserror(err), "iserror(" .. name .. ")")
      for _, other in ipairs(CLASSES) do
        if other ~= name then
          assert.is_false(asyncio[other]:is(err), other .. ":is(" .. name .. ")")
        end
      end
    end
  end))

  it("Class:is(v) is false for values that are not errors", function()
    for _, v in ipairs({ "x", 42, {}, true, print }) do
      assert.is_false(asyncio.Error:is(v))
      assert.is_false(asyncio.CancelledError:is(v))
    end
    assert.is_false(asyncio.Error:is(nil))
  end)

  it("iserror is false for plain values", function()
    for _, v in ipairs({ "x", 42, {}, true, print }) do
      assert.is_false(asyncio.iserror(v))
    end
    assert.is_false(asyncio.iserror(nil))
  end)

  it("ExceptionGroup lists its errors", asyncio.spec(function()
    local eg = raised(asyncio.TaskGroup, function(tg)
      tg:create_task(function() error("child failed", 0) end)
    end)
    assert.equal(1, #eg.errors)
    assert.equal("child failed", tostring(eg.errors[1]))
    assert.is_true(asyncio.iserror(eg.errors[1]))
  end))
end)

describe("errors crossing a task boundary", function()
  it("tostring gives exactly the message of error(msg, 0)", asyncio.spec(function()
    local err = error_of(function()
      asyncio.sleep(0)
      error("x", 0)
    end)
    assert.equal("x", tostring(err))
    assert.is_true(asyncio.iserror(err))
  end))

  it("keeps the position Lua adds to error(msg)", asyncio.spec(function()
    local where
    local err = error_of(function()
      asyncio.sleep(0)
      where = next_line()
      error("x")
    end)
    assert.equal(where .. ": x", tostring(err))
  end))

  it("carries a traceback naming the function that failed", asyncio.spec(function()
    local function failing_step()
      asyncio.sleep(0)
      error("x", 0)
    end
    local err = error_of(function()
      failing_step()
      return 1
    end)
    assert.is_string(err.traceback)
    assert.matches("failing_step", err.traceback, 1, true)
    assert.is_nil(tostring(err):find("traceback", 1, true))
  end))

  it("keeps the identity of error tables raised by users", asyncio.spec(function()
    local e = setmetatable({ code = 42 }, { __tostring = function() return "E42" end })
    local err = error_of(function()
      asyncio.sleep(0)
      error(e)
    end)
    assert.equal(e, err)
    assert.equal(42, err.code)
    local ok, err2 = pcall(asyncio.gather, function() error(e) end)
    assert.is_false(ok)
    assert.equal(e, err2)
  end))

  it("keeps the identity of error tables through asyncio.run", function()
    local e = { code = 1 }
    local ok, err = pcall(asyncio.run, function()
      asyncio.sleep(0)
      error(e)
    end)
    assert.is_false(ok)
    assert.equal(e, err)
  end)
end)

describe("unretrieved task errors", function()
  it("are reported on stderr with a traceback no later than loop close", function()
    local out, err, status = run_script([[
      local asyncio = require "asyncio"
      local function lost_failure()
        asyncio.sleep(0)
        error("nobody awaited this", 0)
      end
      asyncio.run(function()
        asyncio.create_task(function() lost_failure(); return 1 end)
        for _ = 1, 3 do asyncio.sleep(0) end
      end)
      print("run returned")
    ]])
    assert.equal("run returned\n", out)
    assert.equal(0, status)
    assert.matches("nobody awaited this", err, 1, true)
    assert.matches("traceback", err, 1, true)
    assert.matches("lost_failure", err, 1, true)
  end)

  it("are not reported once retrieved", function()
    local out, err, status = run_script([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local task = asyncio.create_task(function() error("seen", 0) end)
        local ok = pcall(asyncio.await, task)
        assert(not ok)
      end)
      print("run returned")
    ]])
    assert.equal("run returned\n", out)
    assert.equal(0, status)
    assert.equal("", err)
  end)
end)

describe("misuse errors", function()
  it("name the function and the argument", asyncio.spec(function()
    local err = raised(function() local v = asyncio.await(42); return v end)
    assert_bad_argument(err, 1, "await")
    err = raised(function() local v = asyncio.gather(42); return v end)
    assert_bad_argument(err, 1, "gather")
    err = raised(function() local v = asyncio.gather(function() end, 42); return v end)
    assert_bad_argument(err, 2, "gather")
    err = raised(function() local v = asyncio.create_task(42); return v end)
    assert_bad_argument(err, 1, "create_task")
    err = raised(function() local v = asyncio.create_task("f"); return v end)
    assert_bad_argument(err, 1, "create_task")
  end))

  it("sleep refuses negative, NaN and non-number delays", asyncio.spec(function()
    for _, bad in ipairs({ -1, 0 / 0, "soon", {} }) do
      local err = raised(function() local v = asyncio.sleep(bad); return v end)
      assert_bad_argument(err, 1, "sleep")
    end
  end))

  it("sleep outside a task says it must run inside a task", function()
    local err = raised(function() local v = asyncio.sleep(0); return v end)
    assert.matches("sleep", tostring(err), 1, true)
    assert.matches("inside a task", tostring(err), 1, true)
  end)

  it("sleep in a loop callback says it must run inside a task",
     asyncio.spec(function()
    local fut = asyncio.Future()
    asyncio.get_running_loop():call_soon(function()
      local ok, err = pcall(asyncio.sleep, 0)
      fut:set_result(ok, tostring(err))
    end)
    local ok, msg = asyncio.await(fut)
    assert.is_false(ok)
    assert.matches("inside a task", msg, 1, true)
  end))

  it("result() of an unfinished future raises InvalidStateError naming result",
     asyncio.spec(function()
    local fut = asyncio.Future()
    local err = raised(fut.result, fut)
    assert.is_true(asyncio.InvalidStateError:is(err))
    assert.matches("result", tostring(err):lower(), 1, true)
  end))

  it("set_result on a done future raises InvalidStateError naming set_result",
     asyncio.spec(function()
    local fut = asyncio.Future()
    fut:set_result(1)
    local err = raised(fut.set_result, fut, 2)
    assert.is_true(asyncio.InvalidStateError:is(err))
    assert.matches("set_result", tostring(err), 1, true)
  end))
end)
