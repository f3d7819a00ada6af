-- Errors about values inside tables were raised with the stack slot the
-- binding had pushed them to: "bad argument #-1 to 'wait'" for a bad
-- return_when, #-2 in writelines, and #3 for the first argument of wait and
-- as_completed. Each names the argument the caller wrote, and what in it.
local asyncio = require "asyncio"
local support = require "support"

local error_of = support.error_of

local function message(fn)
  return tostring(error_of(fn))
end

describe("errors about a value inside an argument", function()
  it("name wait's and as_completed's arguments", asyncio.spec(function()
    local t = asyncio.create_task(function() end)
    assert.matches("bad argument #2 to 'wait' %(return_when: "
      .. "\"ALL_COMPLETED\", \"FIRST_COMPLETED\" or \"FIRST_EXCEPTION\" "
      .. "expected, got 'FIRST'%)",
      message(function() asyncio.wait({ t }, { return_when = "FIRST" }) end))
    assert.matches("bad argument #2 to 'wait' %(return_when: .* got table%)",
      message(function() asyncio.wait({ t }, { return_when = {} }) end))
    assert.matches("bad argument #2 to 'wait' %(timeout: non%-negative "
      .. "number or nil expected, got %-1%)",
      message(function() asyncio.wait({ t }, { timeout = -1 }) end))
    assert.matches("bad argument #2 to 'as_completed' %(timeout: .* got "
      .. "string%)",
      message(function() asyncio.as_completed({ t }, { timeout = "x" }) end))
    assert.matches("bad argument #1 to 'wait' %(element 2: coroutine "
      .. "object, function, task or future expected, got number%)",
      message(function() asyncio.wait({ t, 42 }) end))
    assert.matches("bad argument #1 to 'as_completed' %(element 1: .* got "
      .. "boolean%)",
      message(function() asyncio.as_completed({ true }) end))
    assert.matches("bad argument #1 to 'wait' %(the list of tasks is "
      .. "empty%)", message(function() asyncio.wait({}) end))
    assert.matches("bad argument #3 to 'gather' %(coroutine object, "
      .. "function, task or future expected, got string%)",
      message(function() asyncio.gather(t, t, "x") end))
    asyncio.await(t)
  end))

  it("name writelines' argument and write nothing", asyncio.spec(function()
    local got = asyncio.Future()
    local srv = asyncio.start_server(function(r, w)
      got:set_result(r:read())
      w:close()
    end, "127.0.0.1", 0)
    local _, w = asyncio.open_connection("127.0.0.1", srv:port())
    assert.matches("bad argument #1 to 'writelines' %(element 3: string "
      .. "expected, got table%)",
      message(function() w:writelines({ "a", "b", {} }) end))
    w:writelines({ "c", 1 })
    w:close()
    assert.equal("c1", asyncio.await(got))
    srv:close()
    srv:wait_closed()
  end))

  it("name the options of subprocesses and fs", asyncio.spec(function()
    assert.matches("bad argument #3 to 'create_subprocess_exec' %(stdout: "
      .. "asyncio.PIPE, asyncio.DEVNULL or nil expected%)",
      message(function()
        asyncio.create_subprocess_exec("true", {}, { stdout = "pipe" })
      end))
    assert.matches("bad argument #2 to 'create_subprocess_shell' %(stdin: ",
      message(function()
        asyncio.create_subprocess_shell("true", { stdin = 99 })
      end))
    assert.matches("bad argument #2 to 'create_subprocess_exec' %(element "
      .. "1: string expected, got table%)",
      message(function() asyncio.create_subprocess_exec("echo", { {} }) end))
    assert.matches("bad argument #2 to 'mkdir' %(mode: integer expected, "
      .. "got string%)",
      message(function() asyncio.fs.mkdir("/nonexistent/x", { mode = "x" }) end))
  end))
end)
