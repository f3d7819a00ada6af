-- Cancellation passed from a task to what it awaits, and from a gather to
-- its children, by recursion in C: a cycle of awaits (two tasks awaiting
-- each other, a task gathering itself) overflowed the C stack, a cancel
-- coming back round freed the message it was copying, the deadlock check's
-- shutdown crashed on such a cycle, and a long enough chain of awaiting
-- tasks overflowed the stack. Now an await that would close a cycle fails
-- at once, as awaiting oneself does, and a cancel walks any chain without
-- recursing.
local asyncio = require "asyncio"
local support = require "support"

local CYCLE = "this await would never end"

describe("an await that would close a cycle", function()
  it("fails where two tasks would await each other", function()
    local out = asyncio.run(function()
      local a, b
      a = asyncio.create_task(function()
        asyncio.sleep(0)
        return asyncio.await(b)
      end)
      b = asyncio.create_task(function()
        asyncio.sleep(0)
        return asyncio.await(a)
      end)
      local ok, err = pcall(asyncio.await, a)
      return { ok, tostring(err), b:done(), a:done() }
    end)
    assert.is_false(out[1])
    assert.matches(CYCLE, out[2], 1, true)
    assert.is_true(out[3])
    assert.is_true(out[4])
  end)

  it("fails for a task that gathers itself, which can then be cancelled",
     function()
    local ok, err, cancelled = asyncio.run(function()
      local t = asyncio.create_task(function()
        local ok, err = pcall(asyncio.gather, asyncio.current_task(),
                              function() asyncio.sleep(10) end)
        asyncio.sleep(10)
        return ok, err
      end)
      support.pass()
      t:cancel()
      local ok, err = pcall(asyncio.await, t)
      return ok, err, t:cancelled()
    end)
    assert.is_false(ok)
    assert.is_true(cancelled)
  end)

  it("keeps a cancel message made during the step that awaits", function()
    local ok, err = asyncio.run(function()
      local me = asyncio.current_task()
      local x = asyncio.create_task(function() return asyncio.await(me) end)
      asyncio.sleep(0) -- x now waits for me
      me:cancel("stop")
      local ok, err = pcall(asyncio.await, x)
      me:uncancel()
      return ok, tostring(err)
    end)
    assert.is_false(ok)
    assert.matches(CYCLE, err, 1, true)
  end)

  it("lets the deadlock check end a program whose tasks await in a cycle",
     function()
    local out, err, status = support.run_script([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local a, b
        a = asyncio.create_task(function() asyncio.sleep(0); return asyncio.await(b) end)
        b = asyncio.create_task(function() asyncio.sleep(0); return asyncio.await(a) end)
        asyncio.await(a)
      end)
    ]])
    assert.equal("", out)
    assert.equal(1, status) -- an error, not a signal (128 + n) or a hang
    assert.matches(CYCLE, err, 1, true)
  end)
end)

describe("cancelling the head of a chain of awaiting tasks", function()
  it("reaches the far end and cancels every task", function()
    local N = os.getenv("LUAIO_VALGRIND") and 2000 or 50000
    local cancelled, reached = asyncio.run(function()
      local reached = false
      local tasks = {}
      local function level(n)
        if n == 0 then
          reached = true
          asyncio.sleep(100)
          return 0
        end
        local t = asyncio.create_task(function() return level(n - 1) end)
        tasks[#tasks + 1] = t
        return asyncio.await(t) + 1
      end
      local head = asyncio.create_task(function() return level(N) end)
      while not reached do asyncio.sleep(0) end
      head:cancel("down")
      local ok, err = pcall(asyncio.await, head)
      assert(not ok and asyncio.CancelledError:is(err), tostring(err))
      local n = 0
      for _, t in ipairs(tasks) do
        if t:cancelled() then n = n + 1 end
      end
      return n, reached
    end)
    assert.is_true(reached)
    assert.equal(N, cancelled)
  end)
end)
