-- An uncaught ExceptionGroup printed only "unhandled errors in a TaskGroup
-- (2 sub-exceptions)": not which errors, nor where. The command now draws
-- every sub-error with its task's traceback, nested groups indented, as
-- Python's traceback module does.
local cli_child = require "cli_child"

local SCRIPT = [[
local asyncio = require "asyncio"
asyncio.run(function()
  asyncio.TaskGroup(function(tg)
    tg:create_task(function()
      asyncio.sleep(0); local t = nil; return t.field
    end, { name = "fetch-users" })
    tg:create_task(function()
      asyncio.TaskGroup(function(inner)
        inner:create_task(function()
          asyncio.sleep(0); error("db down", 0)
        end, { name = "orders" })
      end)
    end, { name = "fetch-orders" })
    tg:create_task(function() asyncio.sleep(10) end)
  end)
end)
]]

local EXPECTED = [[
luaio: unhandled errors in a TaskGroup (2 sub-exceptions)
in task 'Task-1':
stack traceback:
	[C]: in function 'asyncio.TaskGroup'
	eg.lua:3: in function <eg.lua:2>
stack traceback:
	[C]: in function 'asyncio.run'
	eg.lua:2: in main chunk
	[C]: in ?
+-+---------------- 1 ----------------
    | eg.lua:5: attempt to index a nil value (local 't')
    | in task 'fetch-users', awaited by task 'Task-1' (via TaskGroup):
    | stack traceback:
    | 	eg.lua:5: in function <eg.lua:4>
  +---------------- 2 ----------------
    | unhandled errors in a TaskGroup (1 sub-exception)
    | in task 'fetch-orders', awaited by task 'Task-1' (via TaskGroup):
    | stack traceback:
    | 	[C]: in function 'asyncio.TaskGroup'
    | 	eg.lua:8: in function <eg.lua:7>
    +-+---------------- 1 ----------------
        | db down
        | in task 'orders', awaited by task 'fetch-orders' (via TaskGroup), awaited by task 'Task-1' (via TaskGroup):
        | stack traceback:
        | 	[C]: in function 'error'
        | 	eg.lua:10: in function <eg.lua:9>
      +------------------------------------
  +------------------------------------
]]

describe("an uncaught ExceptionGroup", function()
  it("is printed with every sub-error and its traceback", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. cli_child.quote(dir)))
    local f = assert(io.open(dir .. "/eg.lua", "w"))
    f:write(SCRIPT)
    f:close()
    local _, how, status = os.execute(("cd %s && %s eg.lua 2>err"):format(
      cli_child.quote(dir), cli_child.quote(os.getenv("LUAIO_BIN"))))
    local err = cli_child.slurp(dir .. "/err")
    os.execute("rm -rf " .. cli_child.quote(dir))
    assert.equal("exit", how)
    assert.equal(1, status)
    assert.equal(EXPECTED, err)
  end)
end)
