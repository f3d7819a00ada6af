-- asyncio.run opened its loop before making the main task; an error in
-- between (a coroutine object already used, memory running out) left that
-- loop open for good, and every later asyncio.run said a loop was running.
local asyncio = require "asyncio"

describe("asyncio.run failing to start its main task", function()
  it("closes its loop, so the next run works", function()
    local once = asyncio.async(function() return 1 end)()
    assert.equal(1, asyncio.run(once))
    local ok, err = pcall(asyncio.run, once)
    assert.is_false(ok)
    assert.matches("already awaited", tostring(err), 1, true)
    assert.equal(2, asyncio.run(function() return 2 end))
  end)
end)
