-- A task stuck in a CPU loop could not be stopped by Ctrl-C, not even by a
-- second one. The first now interrupts the task; when the task swallows
-- that (a pcall around the loop), a second Ctrl-C ends the process.
local cli_child = require "cli_child"

describe("a second Ctrl-C", function()
  it("ends a process whose busy task swallowed the first", function()
    local child = cli_child.run([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local n = 0
        while true do
          local ok, err = pcall(function()
            n = n + 1
            print("busy " .. n); io.stdout:flush()
            while true do end
          end)
          print("swallowed", tostring(err))
        end
      end)
    ]])
    assert.equal("busy 1", child:line())
    child:kill("INT")
    assert.equal("swallowed\tinterrupted", child:line())
    assert.equal("busy 2", child:line())
    child:kill("INT")
    local out, err, how, n = child:finish()
    assert.equal("", out)
    assert.equal("signal", how, err)
    assert.equal(2, n) -- SIGINT
  end)
end)
