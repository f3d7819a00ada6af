-- A fire-and-forget task failed while the program kept running; luaio
-- reported it only when the loop closed. As asyncio does, it is now
-- reported as soon as the collector takes the task.
local asyncio = require "asyncio"

local run_script = require("support").run_script

describe("an unretrieved task failure", function()
  it("is reported on stderr when its task is collected", function()
    local _, err, status = run_script([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        asyncio.create_task(function() error("background job failed", 0) end)
        asyncio.sleep(0)
        for _ = 1, 3 do collectgarbage() end
        asyncio.sleep(0)
        io.stderr:write("-- still running --\n")
        asyncio.sleep(0)
      end)
    ]])
    assert.equal(0, status)
    local report = err:find("error in task 'Task-2' was never retrieved: "
                            .. "background job failed\n", 1, true)
    local marker = err:find("-- still running --", 1, true)
    assert.is_not_nil(report, err)
    assert.is_true(report < marker, err)
    assert.matches("stack traceback", err, 1, true)
    -- reported once, not again when the loop closes
    local msg = err:find("background job failed", 1, true)
    assert.is_nil(err:find("background job failed", msg + 1, true), err)
  end)

  it("of a task still referenced is reported when the loop closes", function()
    local _, err, status = run_script([[
      local asyncio = require "asyncio"
      local keep
      asyncio.run(function()
        keep = asyncio.create_task(function() error("kept failure", 0) end)
        asyncio.sleep(0)
        collectgarbage()
        asyncio.sleep(0)
        io.stderr:write("-- before close --\n")
      end)
      io.stderr:write("-- after close --\n")
    ]])
    assert.equal(0, status)
    local before = err:find("-- before close --", 1, true)
    local report = err:find("kept failure", 1, true)
    local after = err:find("-- after close --", 1, true)
    assert.is_true(before < report and report < after, err)
  end)
end)
