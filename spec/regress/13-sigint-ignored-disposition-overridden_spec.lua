-- Started with SIGINT ignored (nohup, a background job of a shell), luaio
-- installed its handler anyway and a SIGINT meant for others stopped it.
-- An ignored SIGINT now stays ignored, as in lua5.4 and Python.
local cli_child = require "cli_child"

describe("a SIGINT ignored when luaio starts", function()
  it("stays ignored", function()
    -- SIGUSR1 is sent after SIGINT: a handled SIGINT would have cancelled
    -- the main task before the SIGUSR1 handler wakes it.
    local child = cli_child.run([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local go = asyncio.Event()
        asyncio.get_running_loop():add_signal_handler("SIGUSR1", function()
          go:set()
        end)
        print("ready"); io.stdout:flush()
        while not go:is_set() do asyncio.sleep(0.01) end
        print("finished")
      end)
    ]], nil, { shell = "trap '' INT;" })
    assert.equal("ready", child:line())
    child:kill("INT")
    child:kill("USR1")
    child:expect_exit("finished\n", 0)
  end)
end)
