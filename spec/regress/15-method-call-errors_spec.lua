-- A method called with '.' instead of ':' said only "bad argument #1 to
-- 'put' (asyncio.Queue expected, got number)"; it now says to use ':'.
-- Error classes called as Class(msg) blamed argument #2 for the message,
-- and a missing path said "got userdata" (a stack slot of the binding's).
local asyncio = require "asyncio"
local support = require "support"

local function message(fn)
  return tostring(support.error_of(fn))
end

local function hint(name)
  return "; call it with ':', as obj:" .. name .. "%(%.%.%.%)%)$"
end

describe("a method called with '.'", function()
  it("says to call it with ':'", asyncio.spec(function()
    local q = asyncio.Queue()
    local lock = asyncio.Lock()
    local fut = asyncio.Future()
    local task = asyncio.create_task(function() end)
    assert.matches("bad argument #1 to 'put' %(asyncio.Queue expected, got "
      .. "number" .. hint("put"), message(function() q.put(1) end))
    assert.matches("bad argument #1 to 'acquire' %(asyncio.Lock or "
      .. "asyncio.Condition expected, got no value" .. hint("acquire"),
      message(function() lock.acquire() end))
    assert.matches("%(asyncio.Future or asyncio.Task expected, got number"
      .. hint("set_result"), message(function() fut.set_result(1) end))
    assert.matches("%(asyncio.Task expected, got no value"
      .. hint("get_name"), message(function() task.get_name() end))
    local loop = asyncio.get_running_loop()
    assert.matches("%(asyncio.Loop expected, got no value"
      .. hint("time"), message(function() loop.time() end))
    local p = asyncio.create_subprocess_exec("true", {})
    assert.matches("%(asyncio.Process expected, got no value"
      .. hint("wait"), message(function() p.wait() end))
    p:wait()
    asyncio.await(task)
  end))

  it("keeps Lua's wording for a bad self given with ':'",
    asyncio.spec(function()
      local fake = { put = asyncio.Queue().put }
      assert.matches("calling 'put' on bad self %(asyncio.Queue expected, "
        .. "got table%)$", message(function() fake:put(1) end))
    end))
end)

describe("other argument errors", function()
  it("number an error class's message as the caller wrote it", function()
    assert.matches("bad argument #1 to 'CancelledError' %(message: string "
      .. "or nil expected, got table%)",
      message(function() return asyncio.CancelledError({}) end))
    assert.matches("bad argument #1 to 'new' %(message: ",
      message(function() return asyncio.CancelledError:new({}) end))
    assert.matches("bad argument #2 to 'ExceptionGroup' %(fields: table or "
      .. "nil expected, got number%)",
      message(function() return asyncio.ExceptionGroup("m", 1) end))
    assert.equal("x", tostring(asyncio.TimeoutError("x")))
  end)

  it("say what is missing", asyncio.spec(function()
    assert.matches("bad argument #1 to 'stat' %(string expected, got no "
      .. "value%)", message(function() asyncio.fs.stat() end))
    assert.matches("bad argument #2 to 'rename' %(string expected, got no "
      .. "value%)", message(function() asyncio.fs.rename("a") end))
    assert.matches("bad argument #1 to 'Condition' %(asyncio.Lock or nil "
      .. "expected, got number%)",
      message(function() return asyncio.Condition(1) end))
  end))
end)
