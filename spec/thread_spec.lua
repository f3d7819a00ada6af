-- thread_spec.lua - asyncio.to_thread: fn runs on a worker thread in a Lua
-- state of its own; arguments, results and errors are copied.
local asyncio = require "asyncio"

local luaio_bin = os.getenv("LUAIO_BIN")

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

-- A fresh path in the temporary directory (os.tmpname creates the file).
local function tmppath(tag)
  local p = os.tmpname()
  os.remove(p)
  return p .. "-" .. tag
end

-- Worker functions: they use no upvalues, only globals and arguments.

local function echo(...)
  return ...
end

-- Creates mine, then waits until other exists, polling at most `tries`
-- times. Returns true when it saw other, false when it gave up. Two calls
-- that ran one after the other could never both see the other's file.
local function rendezvous(mine, other, tries)
  local f = assert(io.open(mine, "w"))
  f:close()
  for _ = 1, tries do
    local g = io.open(other, "r")
    if g then
      g:close()
      return true
    end
    local x = 0
    for i = 1, 200 do x = x + i end -- some CPU work between polls
  end
  return false
end

-- Waits until path exists, polling at most `tries` times.
local function wait_for_file(path, tries)
  for _ = 1, tries do
    local g = io.open(path, "r")
    if g then
      g:close()
      return "saw it"
    end
  end
  return "gave up"
end

describe("asyncio.to_thread", function()
  it("returns fn's results", asyncio.spec(function()
    assert.equal(5, asyncio.to_thread(function(a, b) return a + b end, 2, 3))
  end))

  it("copies nil, booleans, numbers, strings and nested tables",
     asyncio.spec(function()
    local t = { 1, 2, { 3, { 4, { "five" } } }, name = "x", [2.5] = "half",
                [true] = false, nested = { deeper = { deepest = "yes" } } }
    local r = table.pack(asyncio.to_thread(echo, nil, true, false, 42, 0.5,
                                           "a\0b", t, {}))
    assert.are.same({ n = 8, nil, true, false, 42, 0.5, "a\0b", t, {} }, r)
    assert.are_not.equal(t, r[7]) -- a copy, not the same table
  end))

  it("keeps integers and floats apart", asyncio.spec(function()
    local t = { 3, 3.0, [4] = 4, [5.5] = 6 }
    local r = table.pack(asyncio.to_thread(echo, 1, 1.0, -0.0,
                                           math.maxinteger, 1e308, t))
    assert.equal("integer", math.type(r[1]))
    assert.equal("float", math.type(r[2]))
    assert.equal("float", math.type(r[3]))
    assert.equal(math.maxinteger, r[4])
    assert.equal("integer", math.type(r[4]))
    assert.equal(1e308, r[5])
    assert.equal("integer", math.type(r[6][1]))
    assert.equal("float", math.type(r[6][2]))
    assert.equal(6, r[6][5.5])
    -- In the worker, too.
    local kinds = table.pack(asyncio.to_thread(function(a, b, t)
      return math.type(a), math.type(b), math.type(t[1]), math.type(t[2])
    end, 7, 7.0, { 8, 8.0 }))
    assert.are.same({ n = 4, "integer", "float", "integer", "float" }, kinds)
  end))

  it("keeps nils in the middle and at the end of the arguments",
     asyncio.spec(function()
    local n, a, b, c, d = asyncio.to_thread(function(...)
      return select("#", ...), ...
    end, nil, "x", nil, nil)
    assert.equal(4, n)
    assert.is_nil(a)
    assert.equal("x", b)
    assert.is_nil(c)
    assert.is_nil(d)
    local r = table.pack(asyncio.to_thread(function() return nil, 2, nil end))
    assert.are.same({ n = 3, nil, 2, nil }, r)
    assert.equal(0, select("#", asyncio.to_thread(function() end)))
  end))

  it("copies a table met twice without a cycle", asyncio.spec(function()
    local shared = { "s" }
    local r = asyncio.to_thread(echo, { shared, shared, { shared } })
    assert.are.same({ { "s" }, { "s" }, { { "s" } } }, r)
  end))

  it("runs fn with the worker's own globals and standard libraries",
     asyncio.spec(function()
    _G.luaio_spec_caller_only = "caller"
    local seen, upper, json = asyncio.to_thread(function()
      local s = require "string"
      return luaio_spec_caller_only, s.upper("abc"),
             table.concat({ math.floor(2.5), #"xy" }, ",")
    end)
    _G.luaio_spec_caller_only = nil
    assert.is_nil(seen)
    assert.equal("ABC", upper)
    assert.equal("2,2", json)
    -- What fn sets is the worker's, not the caller's.
    asyncio.to_thread(function() luaio_spec_worker_only = 1 end)
    assert.is_nil(rawget(_G, "luaio_spec_worker_only"))
  end))

  it("reuses a worker's Lua state between calls", asyncio.spec(function()
    local function count()
      luaio_spec_counter = (luaio_spec_counter or 0) + 1
      return luaio_spec_counter
    end
    local first = asyncio.to_thread(count)
    assert.equal(first + 1, asyncio.to_thread(count))
  end))

  it("refuses fn with upvalues other than _ENV", asyncio.spec(function()
    local captured = 1
    local ok, err = pcall(asyncio.to_thread, function() return captured end)
    assert.is_false(ok)
    assert.matches("to_thread: fn must not use upvalues (local variables of "
                   .. "enclosing functions); pass them as arguments", err, 1,
                   true)
    assert.matches("'captured'", err, 1, true)
  end))

  it("refuses C functions", asyncio.spec(function()
    local ok, err = pcall(asyncio.to_thread, string.rep, "x", 3)
    assert.is_false(ok)
    assert.matches("C function cannot be copied to another thread", err, 1,
                   true)
    -- A Lua wrapper works: it only uses globals.
    assert.equal("xxx", asyncio.to_thread(function(...)
      return string.rep(...)
    end, "x", 3))
  end))

  it("refuses arguments that cannot be copied", asyncio.spec(function()
    local cyclic = {}
    cyclic.self = cyclic
    local cases = {
      { print, "argument 1 of fn %(a function cannot cross threads" },
      { { f = print }, "argument 1 of fn %(a function" },
      { io.stdout, "argument 1 of fn %(a userdata" },
      { coroutine.create(print), "argument 1 of fn %(a thread" },
      { cyclic, "argument 1 of fn %(a table contains itself" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(asyncio.to_thread, echo, case[1])
      assert.is_false(ok)
      assert.matches("to_thread: cannot copy " .. case[2], err)
    end
    local ok, err = pcall(asyncio.to_thread, echo, 1, nil, { 1, { print } })
    assert.is_false(ok)
    assert.matches("cannot copy argument 3 of fn", err, 1, true)
  end))

  it("raises when a result cannot be copied", asyncio.spec(function()
    local ok, err = pcall(asyncio.to_thread, function()
      return 1, { io.stdout }
    end)
    assert.is_false(ok)
    assert.matches("to_thread: cannot copy result 2 of fn (a userdata", err,
                   1, true)
    ok, err = pcall(asyncio.to_thread, function()
      local t = {}
      t[1] = { t }
      return t
    end)
    assert.is_false(ok)
    assert.matches("cannot copy result 1 of fn (a table contains itself",
                   err, 1, true)
  end))

  it("propagates fn's errors with their message", asyncio.spec(function()
    local ok, err = pcall(asyncio.to_thread, function() error("boom") end)
    assert.is_false(ok)
    assert.equal("string", type(err))
    assert.matches("thread_spec.lua:%d+: boom$", err)
    ok, err = pcall(asyncio.to_thread, function(x) error(x, 0) end, "exact")
    assert.is_false(ok)
    assert.equal("exact", err)
    ok, err = pcall(asyncio.to_thread, function() return nil + 1 end)
    assert.is_false(ok)
    assert.matches("attempt to perform arithmetic on a nil value", err, 1,
                   true)
  end))

  it("copies error objects that are tables", asyncio.spec(function()
    local ok, err = pcall(asyncio.to_thread, function()
      error({ code = 42, detail = { "a", 1.5 } })
    end)
    assert.is_false(ok)
    assert.are.same({ code = 42, detail = { "a", 1.5 } }, err)
    -- One that cannot be copied still gives a message.
    ok, err = pcall(asyncio.to_thread, function()
      error(setmetatable({ print }, { __tostring = function()
        return "custom error"
      end }))
    end)
    assert.is_false(ok)
    assert.matches("^custom error %(to_thread: the error object cannot be "
                   .. "copied", err)
  end))

  it("keeps the task running after an error in a worker",
     asyncio.spec(function()
    pcall(asyncio.to_thread, function() error("first") end)
    assert.equal("fine", asyncio.to_thread(function() return "fine" end))
  end))

  it("runs calls gathered at once, each with its own result",
     asyncio.spec(function()
    local function square_sum(n)
      local s = 0
      for i = 1, n do s = s + i * i end
      return n, s
    end
    local fns = {}
    for k = 1, 12 do
      fns[k] = function()
        return table.pack(asyncio.to_thread(square_sum, k * 1000))
      end
    end
    local results = asyncio.gather(table.unpack(fns))
    for k = 1, 12 do
      local n = k * 1000
      assert.are.same({ n = 2, n, n * (n + 1) * (2 * n + 1) // 6 },
                      results[k])
    end
  end))

  it("runs two calls in parallel", asyncio.spec(function()
    local a, b = tmppath("a"), tmppath("b")
    local tries = 1000000
    local r = asyncio.gather(function()
      return asyncio.to_thread(rendezvous, a, b, tries)
    end, function()
      return asyncio.to_thread(rendezvous, b, a, tries)
    end)
    os.remove(a)
    os.remove(b)
    -- Run one after the other, the first could never see the second's file.
    assert.are.same({ n = 2, true, true }, r)
  end))

  it("drops the result when the awaiting task is cancelled",
     asyncio.spec(function()
    local go = tmppath("go")
    local started = false
    local child = asyncio.create_task(function()
      started = true
      return asyncio.to_thread(wait_for_file, go, 300000)
    end)
    asyncio.sleep(0)
    assert.is_true(started)
    child:cancel("enough")
    local ok, err = pcall(asyncio.await, child)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))
    assert.is_true(child:cancelled())
    -- The worker still runs; let it end, and the loop goes on.
    local f = assert(io.open(go, "w"))
    f:close()
    assert.equal("saw it", asyncio.to_thread(wait_for_file, go, 10))
    os.remove(go)
  end))

  it("lets a task catch the cancellation and go on", asyncio.spec(function()
    local child = asyncio.create_task(function()
      local ok, err = pcall(asyncio.to_thread, wait_for_file, "/nonexistent/x",
                            1000)
      assert(not ok and asyncio.CancelledError:is(err))
      return asyncio.to_thread(function() return "after" end)
    end)
    asyncio.sleep(0)
    child:cancel()
    assert.equal("after", asyncio.await(child))
  end))

  it("needs a running task", function()
    local ok, err = pcall(asyncio.to_thread, echo, 1)
    assert.is_false(ok)
    assert.matches("to_thread", err, 1, true)
  end)

  it("checks that fn is a function", asyncio.spec(function()
    local ok, err = pcall(asyncio.to_thread, 42)
    assert.is_false(ok)
    assert.matches("bad argument #1", err, 1, true)
  end))
end)

describe("asyncio.to_thread in the luaio CLI", function()
  local function run_script(src)
    local script = os.tmpname()
    local errf = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(src)
    f:close()
    local p = io.popen(luaio_bin .. " " .. shell_quote(script) .. " 2>"
                       .. shell_quote(errf))
    local out = p:read("a")
    local _, how, code = p:close()
    local err = read_file(errf) or ""
    os.remove(script)
    os.remove(errf)
    return out, err, how, code
  end

  it("closes the loop cleanly when main ends while a worker still runs",
     function()
    if not luaio_bin then
      pending("LUAIO_BIN is not set")
      return
    end
    local out, err, how, code = run_script([[
      local asyncio = require "asyncio"
      local function spin(tries)
        local x = 0
        for i = 1, tries do x = x + i % 7 end
        return x
      end
      asyncio.run(function()
        local child = asyncio.create_task(function()
          return asyncio.to_thread(spin, 5000000)
        end)
        asyncio.sleep(0)
        child:cancel()
        print(pcall(asyncio.await, child))
        print("main ends")
      end)
      print("closed")
    ]])
    assert.equal("", err)
    assert.equal("exit", how)
    assert.equal(0, code)
    assert.matches("^false\t[^\n]*\nmain ends\nclosed\n$", out)
  end)
end)
