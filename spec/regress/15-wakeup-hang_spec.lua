-- The loop armed libuv's wakeup timer for its next deadline and ran one
-- libuv iteration. libuv runs due timers before it computes the poll
-- timeout, so a wakeup that was due by then (a deadline under 1 ms, or a
-- slow machine) fired first and did nothing, and the poll blocked for good
-- while a server, a stream or a child process kept libuv alive: luaio's own
-- timers never ran again. Each case runs in a child luaio under `timeout`
-- (support.run_script), so that a hang fails the spec instead of stalling it.
local run_script = require("support").run_script

-- Sleeps under 1 ms, each a chance for the wakeup to be due before the poll.
local SLEEPS = [[
  for i = 1, 4000 do asyncio.sleep(0.0001 * (i % 9)) end
]]

describe("the loop's wakeup", function()
  it("ends the poll while a listening server keeps libuv alive", function()
    local out, _, status = run_script([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local server = asyncio.start_server(function(_, w) w:close() end,
                                            "127.0.0.1", 0)
        ]] .. SLEEPS .. [[
        server:close()
        server:wait_closed()
        print("done")
      end)
    ]])
    assert.equal("done\n", out)
    assert.equal(0, status)
  end)

  it("ends the poll while a child process keeps libuv alive", function()
    local out, _, status = run_script([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local p = asyncio.create_subprocess_exec("sleep", { "100" })
        ]] .. SLEEPS .. [[
        p:kill()
        p:wait()
        print("done")
      end)
    ]])
    assert.equal("done\n", out)
    assert.equal(0, status)
  end)
end)
