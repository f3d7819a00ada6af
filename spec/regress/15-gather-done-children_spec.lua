-- A gather whose children are already done is complete before it is
-- awaited, as asyncio's gather is since 3.12: its awaiter does not lose
-- its turn to the other ready tasks. It once waited a round per child.
local asyncio = require "asyncio"

-- Starts a task that logs three ticks, one per round of the loop.
local function ticker(log)
  return asyncio.create_task(function()
    for i = 0, 2 do
      log[#log + 1] = "tick " .. i
      asyncio.sleep(0)
    end
  end)
end

local function finished(fn)
  local t = asyncio.create_task(fn)
  asyncio.sleep(0)
  assert.is_true(t:done())
  return t
end

describe("gather of finished children", function()
  it("returns their values at once", asyncio.spec(function()
    local log = {}
    local t = finished(function() return "w" end)
    local u = finished(function() return "v" end)
    local k = ticker(log)
    local r = asyncio.gather(t, u, t)
    log[#log + 1] = "gathered " .. table.concat(r, ",", 1, r.n)
    asyncio.await(k)
    assert.are.same({ "gathered w,v,w", "tick 0", "tick 1", "tick 2" }, log)
  end))

  it("raises a finished child's error at once", asyncio.spec(function()
    local log = {}
    local t = finished(function() return "w" end)
    local f = finished(function() error("boom", 0) end)
    local k = ticker(log)
    local ok, err = pcall(asyncio.gather, t, f)
    assert.is_false(ok)
    log[#log + 1] = "raised " .. tostring(err)
    asyncio.await(k)
    assert.are.same({ "raised boom", "tick 0", "tick 1", "tick 2" }, log)
  end))

  it("returns errors in their slots at once", asyncio.spec(function()
    local log = {}
    local f = finished(function() error("boom", 0) end)
    local t = finished(function() return "w" end)
    local k = ticker(log)
    local r = asyncio.gather { f, t, return_exceptions = true }
    assert.is_true(asyncio.iserror(r[1]))
    log[#log + 1] = "gathered " .. tostring(r[1]) .. "," .. r[2]
    asyncio.await(k)
    assert.are.same({ "gathered boom,w", "tick 0", "tick 1", "tick 2" }, log)
  end))

  it("waits only for the children not done", asyncio.spec(function()
    local log = {}
    local t = finished(function() return "w" end)
    local k = ticker(log)
    local r = asyncio.gather(t, function()
      log[#log + 1] = "child runs"
      return "c"
    end)
    log[#log + 1] = "gathered " .. table.concat(r, ",", 1, r.n)
    asyncio.await(k)
    -- The child's round, the gather's callback's, then the awaiter's.
    assert.are.same(
      { "tick 0", "child runs", "tick 1", "tick 2", "gathered w,c" }, log)
  end))
end)
