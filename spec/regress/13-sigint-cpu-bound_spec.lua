-- Ctrl-C did nothing to a task that runs without suspending: the SIGINT
-- handler was a libuv handle, which runs only when the loop polls. Now the
-- interruption is raised inside the running task, as lua5.4 raises it, so
-- the main task's cleanup runs and luaio exits 130.
local cli_child = require "cli_child"

describe("Ctrl-C while a task computes without suspending", function()
  it("raises CancelledError in that task and exits 130", function()
    local child = cli_child.run([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local ok, err = pcall(function()
          print("started"); io.stdout:flush()
          local x = 0
          while true do x = x + 1 end
        end)
        print("cleanup", ok, asyncio.CancelledError:is(err), tostring(err))
        error(err, 0)
      end)
    ]])
    assert.equal("started", child:line())
    child:kill("INT")
    child:expect_exit("cleanup\tfalse\ttrue\tinterrupted\n", 130)
  end)
end)
