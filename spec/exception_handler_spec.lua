-- The loop's exception handler: where errors that no Lua code can catch
-- go (loop callbacks, done callbacks, server handlers, task and future
-- errors nobody retrieved), as asyncio's loop.set_exception_handler.
local asyncio = require "asyncio"

local run_script = require("support").run_script

-- Installs a handler that appends every context to a list; returns it.
local function collect()
  local got = {}
  asyncio.get_running_loop():set_exception_handler(function(loop, context)
    got[#got + 1] = { loop = loop, context = context }
  end)
  return got
end

describe("loop:set_exception_handler / get_exception_handler", function()
  it("sets, returns and clears the handler", asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    assert.is_nil(loop:get_exception_handler())
    local function handler() end
    loop:set_exception_handler(handler)
    assert.equal(handler, loop:get_exception_handler())
    loop:set_exception_handler(nil)
    assert.is_nil(loop:get_exception_handler())
  end))

  it("accepts a callable table", asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local calls = 0
    local handler = setmetatable({}, { __call = function()
      calls = calls + 1
    end })
    loop:set_exception_handler(handler)
    assert.equal(handler, loop:get_exception_handler())
    loop:call_exception_handler({ message = "x" })
    assert.equal(1, calls)
  end))

  it("refuses what cannot be called, naming the argument",
     asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    for _, bad in ipairs({ 42, "f", {} }) do
      local ok, err = pcall(function() loop:set_exception_handler(bad) end)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'set_exception_handler' "
                     .. "(function or nil expected", tostring(err), 1, true)
    end
  end))

  it("belongs to one loop: the next asyncio.run starts without it",
     function()
    local saved
    asyncio.run(function()
      saved = asyncio.get_running_loop()
      saved:set_exception_handler(function() end)
    end)
    asyncio.run(function()
      assert.is_nil(asyncio.get_running_loop():get_exception_handler())
    end)
    local ok, err = pcall(saved.set_exception_handler, saved, nil)
    assert.is_false(ok)
    assert.matches("loop is closed", tostring(err), 1, true)
  end)
end)

describe("loop:call_exception_handler", function()
  it("calls the handler with the loop and the context",
     asyncio.spec(function()
    local got = collect()
    local loop = asyncio.get_running_loop()
    local context = { message = "something broke", exception = "e" }
    loop:call_exception_handler(context)
    assert.equal(1, #got)
    assert.equal(loop, got[1].loop)
    assert.equal(context, got[1].context)
  end))

  it("requires a context table", asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local ok, err = pcall(function() loop:call_exception_handler("m") end)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'call_exception_handler' "
                   .. "(table expected", tostring(err), 1, true)
  end))

  it("without a handler, and loop:default_exception_handler, write the "
     .. "message, the error and its traceback on stderr", function()
    local out, err, status = run_script([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local loop = asyncio.get_running_loop()
        loop:call_exception_handler({ message = "first report" })
        local ok, e = pcall(asyncio.await, asyncio.create_task(function()
          error("the cause", 0)
        end))
        loop:default_exception_handler({ message = "second report",
                                         exception = e })
      end)
      print("done")
    ]])
    assert.equal("done\n", out)
    assert.equal(0, status)
    local first = err:find("first report\n", 1, true)
    local second = err:find("second report: the cause\nin task 'Task-2', "
                            .. "awaited by task 'Task-1':\n"
                            .. "stack traceback:", 1, true)
    assert.is_true(first ~= nil and second ~= nil and first < second, err)
  end)

  it("survives a handler that raises: stderr gets both errors and the "
     .. "next report reaches the handler again", function()
    local out, err, status = run_script([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local loop = asyncio.get_running_loop()
        local calls = 0
        loop:set_exception_handler(function(_, context)
          calls = calls + 1
          if calls == 1 then error("handler bug", 0) end
          print("handled: " .. context.message)
        end)
        loop:call_exception_handler({ message = "report one" })
        loop:call_exception_handler({ message = "report two" })
      end)
      print("done")
    ]])
    assert.equal("handled: report two\ndone\n", out)
    assert.equal(0, status)
    assert.matches("luaio: error in the exception handler: handler bug",
                   err, 1, true)
    assert.matches("report one", err, 1, true)
  end)

  it("does not recurse when the handler reports from inside itself",
     function()
    local out, err, status = run_script([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local loop = asyncio.get_running_loop()
        local calls = 0
        loop:set_exception_handler(function(l, context)
          calls = calls + 1
          l:call_exception_handler({ message = "nested " .. calls })
        end)
        loop:call_exception_handler({ message = "outer" })
        print("calls " .. calls)
      end)
    ]])
    assert.equal("calls 1\n", out)
    assert.equal(0, status)
    assert.equal("nested 1\n", err)
  end)
end)

describe("errors reported through the handler", function()
  it("of call_soon and call_later callbacks", asyncio.spec(function()
    local got = collect()
    local loop = asyncio.get_running_loop()
    loop:call_soon(function() error("soon failed", 0) end)
    loop:call_later(0, function() error({ code = 7 }) end)
    asyncio.sleep(0.001)
    asyncio.sleep(0)
    assert.equal(2, #got)
    local soon, later = got[1].context, got[2].context
    assert.equal("error in callback", soon.message)
    assert.equal("soon failed", tostring(soon.exception))
    assert.is_true(asyncio.iserror(soon.exception))
    assert.matches("stack traceback", soon.exception.traceback, 1, true)
    assert.equal(soon.exception, soon.error)
    assert.equal("error in callback", later.message)
    assert.equal(7, later.exception.code) -- the table raised, as it was
  end))

  it("of done callbacks", asyncio.spec(function()
    local got = collect()
    local fut = asyncio.Future()
    fut:add_done_callback(function() error("callback failed", 0) end)
    fut:set_result(1)
    asyncio.sleep(0)
    asyncio.sleep(0)
    assert.equal(1, #got)
    assert.equal("error in done callback", got[1].context.message)
    assert.equal("callback failed", tostring(got[1].context.exception))
  end))

  it("of a task nobody awaits, once it is collected, with the task",
     asyncio.spec(function()
    local got = collect()
    local weak = setmetatable({}, { __mode = "v" })
    weak[1] = asyncio.create_task(function() error("lost", 0) end,
                                  { name = "worker" })
    asyncio.sleep(0)
    assert.equal(0, #got) -- alive: someone may still take its error
    for _ = 1, 3 do collectgarbage() end
    asyncio.sleep(0)
    assert.equal(1, #got)
    local context = got[1].context
    assert.equal("error in task 'worker' was never retrieved",
                 context.message)
    assert.equal("lost", tostring(context.exception))
    assert.equal("worker", context.task:get_name())
    assert.is_true(context.task:done())
    context, got[1] = nil, nil
    for _ = 1, 3 do collectgarbage() end
    assert.is_nil(weak[1]) -- collected once reported
  end))

  it("not of a task whose error was taken", asyncio.spec(function()
    local got = collect()
    local t = asyncio.create_task(function() error("taken", 0) end)
    asyncio.sleep(0)
    assert.equal("taken", tostring(t:exception()))
    t = nil
    for _ = 1, 3 do collectgarbage() end
    asyncio.sleep(0)
    assert.equal(0, #got)
  end))

  it("of a future whose error nobody took, once it is collected",
     asyncio.spec(function()
    local got = collect()
    do
      local fut = asyncio.Future()
      fut:set_exception("future failed")
    end
    for _ = 1, 3 do collectgarbage() end
    asyncio.sleep(0)
    assert.equal(1, #got)
    local context = got[1].context
    assert.equal("future error was never retrieved", context.message)
    assert.equal("future failed", tostring(context.exception))
    assert.is_true(context.future:done())
    assert.equal("future failed", tostring(context.future:exception()))
  end))
end)
