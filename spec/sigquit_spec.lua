-- SIGQUIT (Ctrl-\) makes the luaio command print where every task is
-- suspended, and the program goes on, as the JVM and Go do.
local cli_child = require "cli_child"

describe("SIGQUIT to the luaio command", function()
  it("prints the tasks to stderr without stopping", function()
    local marker = os.tmpname()
    os.remove(marker)
    local child = cli_child.run([[
      local asyncio = require "asyncio"
      local marker = ...
      asyncio.run(function()
        local w = asyncio.create_task(function()
          while not io.open(marker) do asyncio.sleep(0.01) end
        end, { name = "worker" })
        print("ready"); io.stdout:flush()
        asyncio.await(w)
        print("done")
      end)
    ]], cli_child.quote(marker))
    assert.equal("ready", child:line())
    child:kill("QUIT")
    local ok = os.execute(("i=0; until grep -q %s %s; do [ $i -lt 2000 ] || "
      .. "exit 1; i=$((i+1)); sleep 0.01; done"):format(
        cli_child.quote("task 'worker' is suspended here, in asyncio.sleep"),
        cli_child.quote(child.err_path)))
    assert(io.open(marker, "w")):close()
    local out, err, how, status = child:finish()
    os.remove(marker)
    assert.is_true(ok, err)
    assert.equal("done\n", out)
    assert.equal("exit", how, err)
    assert.equal(0, status, err)
    assert.matches("luaio: SIGQUIT: 2 task(s) alive:\ntask 'Task-1' is "
      .. "suspended here, waiting for asyncio.Task<worker> (pending):",
      err, 1, true)
  end)
end)
