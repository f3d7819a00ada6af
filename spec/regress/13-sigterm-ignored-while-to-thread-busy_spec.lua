-- With a to_thread job running, SIGTERM cancelled the main task but the
-- process then waited for the worker thread, which never ends: one SIGTERM
-- (systemd, docker stop, timeout) did not stop it. The job's result is now
-- dropped and the process exits 143 at once.
local cli_child = require "cli_child"

describe("SIGTERM with a to_thread job running", function()
  it("ends the process with status 143", function()
    local child = cli_child.run([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local ok, err = pcall(asyncio.to_thread, function()
          print("working"); io.stdout:flush()
          while true do end
        end)
        print("cancelled", asyncio.CancelledError:is(err))
        error(err, 0)
      end)
    ]])
    assert.equal("working", child:line())
    child:kill("TERM")
    child:expect_exit("cancelled\ttrue\n", 143)
  end)
end)
