-- A task blocked in io.read() kept Ctrl-C from doing anything: the read
-- was restarted and the loop never polled. The read now returns and the
-- interruption is raised in the task, as in lua5.4.
local cli_child = require "cli_child"

describe("Ctrl-C while a task blocks in io.read", function()
  it("interrupts the read and exits 130", function()
    local child = cli_child.run([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local ok, err = pcall(function()
          print("reading"); io.stdout:flush()
          return io.read("l")
        end)
        print("after", ok, asyncio.CancelledError:is(err))
        io.stdout:flush()
        error(err, 0)
      end)
    ]], nil, { stdin = "pipe" }) -- an input that stays open and empty
    child:wait_for("reading")
    child:kill("INT")
    child:expect_exit("reading\nafter\tfalse\ttrue\n", 130)
  end)
end)
