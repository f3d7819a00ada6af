-- A task listed twice in as_completed or wait is one task, as asyncio
-- takes their awaitables as a set. as_completed once yielded it once per
-- listing, and wait listed it twice in `done`; a coroutine object listed
-- twice was an error where asyncio makes it one task.
local asyncio = require "asyncio"

local function sleeper(delay, value)
  return asyncio.create_task(function() return asyncio.sleep(delay, value) end)
end

describe("a task listed twice", function()
  it("comes once out of as_completed", asyncio.spec(function()
    local t = sleeper(0.01, "v")
    local got = {}
    for f in asyncio.as_completed({ t, t }) do
      got[#got + 1] = asyncio.await(f)
    end
    assert.are.same({ "v" }, got)
  end))

  it("comes once out of as_completed among others", asyncio.spec(function()
    local a, b = sleeper(0.02, "a"), sleeper(0, "b")
    local got = {}
    for f in asyncio.as_completed({ a, b, a, b, a }) do
      got[#got + 1] = asyncio.await(f)
    end
    assert.are.same({ "b", "a" }, got)
  end))

  it("is listed once by wait, done or pending", asyncio.spec(function()
    local t = sleeper(0, "t")
    local u = sleeper(10, "u")
    local done, pending = asyncio.wait({ t, u, t, u },
                                       { return_when = "FIRST_COMPLETED" })
    assert.are.same({ t }, done)
    assert.are.same({ u }, pending)
    u:cancel()
    done, pending = asyncio.wait({ u, t, u, t })
    assert.are.same({ u, t }, done) -- in the order first listed
    assert.are.same({}, pending)
  end))

  it("is one task when a coroutine object is listed twice",
    asyncio.spec(function()
      local runs = 0
      local job = asyncio.async(function(x)
        runs = runs + 1
        asyncio.sleep(0)
        return x
      end)
      local co = job("c")
      local got = {}
      for f in asyncio.as_completed({ co, co }) do
        got[#got + 1] = asyncio.await(f)
      end
      assert.are.same({ "c" }, got)
      co = job("d")
      local r = asyncio.gather(co, job("e"), co)
      assert.are.same({ n = 3, "d", "e", "d" }, r)
      assert.are.equal(3, runs)
    end))

  it("counts once when a future is listed twice", asyncio.spec(function()
    local fut = asyncio.Future()
    local loop = asyncio.get_running_loop()
    loop:call_soon(function() fut:set_result("f") end)
    local n = 0
    for f in asyncio.as_completed({ fut, fut, fut }) do
      assert.are.equal("f", asyncio.await(f))
      n = n + 1
    end
    assert.are.equal(1, n)
  end))
end)
