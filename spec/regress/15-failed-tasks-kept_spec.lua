-- Every failed task was kept in a registry table until its loop closed,
-- even after its error was retrieved: 100,000 failed tasks, each awaited
-- under pcall, grew the Lua heap from 68 KB to 63 MB. A retrieved failure
-- is now forgotten with its task.
local asyncio = require "asyncio"

local N = os.getenv("LUAIO_VALGRIND") and 1000 or 10000

describe("a failed task whose error was retrieved", function()
  it("is collected: the heap stays bounded after many failures", function()
    local kept
    asyncio.run(function()
      collectgarbage(); collectgarbage()
      local m0 = collectgarbage("count")
      for i = 1, N do
        local t = asyncio.create_task(function() error("boom " .. i, 0) end)
        local ok, err = pcall(asyncio.await, t)
        assert(not ok and tostring(err) == "boom " .. i)
      end
      asyncio.sleep(0)
      collectgarbage(); collectgarbage()
      kept = (collectgarbage("count") - m0) * 1024 / N
    end)
    -- Each one was kept with about 700 bytes before.
    assert.is_true(kept < 50, ("%.0f bytes kept per failed task"):format(kept))
  end)

  it("is not held by anything but the user's references", function()
    local weak = setmetatable({}, { __mode = "k" })
    asyncio.run(function()
      local t = asyncio.create_task(function() error("seen", 0) end)
      assert.is_false(pcall(asyncio.await, t))
      weak[t] = true
      t = nil
      asyncio.sleep(0)
      for _ = 1, 3 do collectgarbage() end
      assert.is_nil(next(weak))
    end)
  end)
end)
