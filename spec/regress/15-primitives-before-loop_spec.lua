-- Lock, Event, Semaphore, Condition, Barrier and the queues could not be
-- made before a loop ran ("no running event loop"). As asyncio's since
-- 3.10, they are made anywhere and bound to the loop that first waits on
-- them; a wait from another loop then raises.
local asyncio = require "asyncio"
local support = require "support"

local error_of = support.error_of

-- Makes one of each before any loop runs.
local function make_all()
  return {
    lock = asyncio.Lock(),
    event = asyncio.Event(),
    sem = asyncio.Semaphore(0),
    bsem = asyncio.BoundedSemaphore(1),
    cond = asyncio.Condition(),
    barrier = asyncio.Barrier(2),
    queue = asyncio.Queue(1),
    lifo = asyncio.LifoQueue(),
    prio = asyncio.PriorityQueue(),
  }
end

-- Makes every object of o wait once in the running loop, woken by
-- another task; returns the events in order.
local function wait_on_all(o)
  local add, joined = support.new_log()
  local waiter = asyncio.create_task(function()
    o.lock:with(function() add("lock") end)
    o.event:wait(); add("event")
    o.sem:acquire(); add("sem")
    o.bsem:with(function() add("bsem") end)
    o.cond:with(function() o.cond:wait() end); add("cond")
    o.barrier:wait(); add("barrier")
    add(o.queue:get()); add(o.lifo:get()); add(o.prio:get())
  end)
  o.lock:acquire()
  o.bsem:acquire()
  support.pass() -- the waiter is blocked on the lock
  o.lock:release()
  support.pass()
  o.event:set()
  support.pass()
  o.sem:release()
  o.bsem:release()
  support.pass(2)
  o.cond:with(function() o.cond:notify() end)
  o.barrier:wait()
  o.queue:put("q"); o.lifo:put("l"); o.prio:put("p")
  asyncio.await(waiter)
  return joined()
end

describe("primitives made before any loop runs", function()
  it("are made, used and waited on", function()
    local o = make_all()
    -- What needs no wait works with no loop at all.
    o.queue:put_nowait("early")
    assert.equal(1, o.queue:qsize())
    assert.equal("early", o.queue:get_nowait())
    o.event:set(); o.event:clear()
    assert.is_false(o.lock:locked())
    assert.equal("lock event sem bsem cond barrier q l p",
      asyncio.run(wait_on_all, o))
  end)

  it("refuse a wait from a second loop, naming the object", function()
    local o = make_all()
    asyncio.run(wait_on_all, o)
    asyncio.run(function()
      local function bound(fn, ...)
        local err = tostring(error_of(fn, ...))
        assert.matches("is bound to a different event loop", err, 1, true)
        return err
      end
      assert.matches("^acquire: this Lock", bound(o.lock.acquire, o.lock))
      assert.matches("^wait: this Event", bound(o.event.wait, o.event))
      assert.matches("^acquire: this Semaphore", bound(o.sem.acquire, o.sem))
      assert.matches("^acquire: this BoundedSemaphore",
        bound(o.bsem.acquire, o.bsem))
      assert.matches("^acquire: this Condition", bound(o.cond.acquire, o.cond))
      assert.matches("^wait: this Barrier",
        bound(o.barrier.wait, o.barrier))
      assert.matches("^get: this queue", bound(o.queue.get, o.queue))
    end)
  end)

  it("made in one run and never waited on, serve the next", function()
    local lock
    asyncio.run(function() lock = asyncio.Lock() end)
    assert.is_true(asyncio.run(function() return lock:acquire() end))
    lock:release()
  end)

  it("bind a Condition's Lock with it, and refuse one of another loop",
    function()
      local lock = asyncio.Lock()
      local cond = asyncio.Condition(lock)
      asyncio.run(function()
        cond:with(function()
          assert.is_true(lock:locked())
          assert.is_true(cond:wait_for(function() return true end))
        end)
        -- The lock is bound with the condition: it waits in this loop.
        assert.is_true(lock:acquire())
        lock:release()
      end)
      asyncio.run(function()
        assert.matches("^acquire: this Lock is bound to a different",
          tostring(error_of(lock.acquire, lock)))
        local cond2 = asyncio.Condition(lock)
        assert.matches("^acquire: this Condition's Lock is bound to a "
          .. "different event loop", tostring(error_of(cond2.acquire, cond2)))
      end)
    end)
end)
