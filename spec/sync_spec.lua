local asyncio = require "asyncio"
local support = require "support"
local pass, new_log = support.pass, support.new_log
local error_of, settle = support.error_of, support.settle

-- Suspends the current task until it is cancelled.
local function block()
  return asyncio.await(asyncio.get_running_loop():create_future())
end

-- Starts a task per name running fn(name).
local function spawn_each(names, fn)
  local tasks = {}
  for i, name in ipairs(names) do
    tasks[i] = asyncio.create_task(function() return fn(name) end)
  end
  return tasks
end

describe("asyncio.Event", function()
  it("wakes every waiter on set, in order", asyncio.spec(function()
    local add, joined = new_log()
    local ev = asyncio.Event()
    assert.is_false(ev:is_set())
    local tasks = spawn_each({ "a", "b", "c" }, function(name)
      add(name .. ">")
      local r = ev:wait()
      add(name .. ":" .. tostring(r))
    end)
    asyncio.sleep(0)
    add("set"); ev:set(); ev:clear(); add("clear")
    asyncio.gather(tasks)
    add("is_set:" .. tostring(ev:is_set()))
    -- CPython prints the same order
    assert.equal("a> b> c> set clear a:true b:true c:true is_set:false",
                 joined())
  end))

  it("returns true at once when set, until cleared", asyncio.spec(function()
    local ev = asyncio.Event()
    ev:set()
    ev:set()
    assert.is_true(ev:is_set())
    assert.is_true(ev:wait())
    ev:clear()
    assert.is_false(ev:is_set())
    local t = asyncio.create_task(function() return ev:wait() end)
    asyncio.sleep(0)
    assert.is_false(t:done())
    ev:set()
    assert.is_true(asyncio.await(t))
  end))

  it("forgets a cancelled waiter", asyncio.spec(function()
    local add, joined = new_log()
    local ev = asyncio.Event()
    local tasks = spawn_each({ "a", "b" }, function(name)
      local ok, err = pcall(ev.wait, ev)
      add(ok and (name .. ":set") or
          asyncio.CancelledError:is(err) and (name .. ":cancelled") or err)
    end)
    asyncio.sleep(0)
    tasks[1]:cancel()
    asyncio.sleep(0)
    ev:set()
    asyncio.gather(tasks)
    -- CPython prints the same order
    assert.equal("a:cancelled b:set", joined())
  end))

  it("has a name and a string form", asyncio.spec(function()
    local ev = asyncio.Event()
    assert.equal("asyncio.Event (unset)", tostring(ev))
    ev:set()
    assert.equal("asyncio.Event (set)", tostring(ev))
    assert.matches("asyncio.Event expected",
                   tostring(error_of(ev.set, asyncio.Lock())))
  end))
end)

describe("asyncio.Lock", function()
  it("is acquired and released", asyncio.spec(function()
    local lock = asyncio.Lock()
    assert.is_false(lock:locked())
    assert.is_true(lock:acquire())
    assert.is_true(lock:locked())
    lock:release()
    assert.is_false(lock:locked())
    assert.equal("asyncio.Lock (unlocked)", tostring(lock))
  end))

  it("wakes three waiters in FIFO order", asyncio.spec(function()
    local add, joined = new_log()
    local lock = asyncio.Lock()
    lock:acquire()
    local tasks = spawn_each({ "a", "b", "c" }, function(name)
      add(name .. ">")
      lock:acquire()
      add(name .. "+")
      asyncio.sleep(0)
      add(name .. "-")
      lock:release()
    end)
    asyncio.sleep(0)
    add("main-"); lock:release()
    asyncio.gather(tasks)
    -- CPython prints the same order
    assert.equal("a> b> c> main- a+ a- b+ b- c+ c-", joined())
  end))

  it("lets no newcomer overtake a waiter it woke", asyncio.spec(function()
    local add, joined = new_log()
    local lock = asyncio.Lock()
    lock:acquire()
    local a = asyncio.create_task(function() lock:acquire(); add("a") end)
    asyncio.sleep(0)
    lock:release() -- a is woken but has not run
    local b = asyncio.create_task(function() lock:acquire(); add("b") end)
    asyncio.sleep(0)
    add("locked=" .. tostring(lock:locked()))
    lock:release()
    asyncio.gather(a, b)
    lock:release()
    assert.equal("a locked=true b", joined())
  end))

  it("passes the lock on when a woken waiter is cancelled",
     asyncio.spec(function()
    local add, joined = new_log()
    local lock = asyncio.Lock()
    lock:acquire()
    local a, b = table.unpack(spawn_each({ "a", "b" }, function(name)
      local ok, err = pcall(lock.acquire, lock)
      if not ok then
        add(name .. ":cancelled")
        error(err, 0)
      end
      add(name .. "+")
      lock:release()
    end))
    asyncio.sleep(0)
    lock:release()
    a:cancel()
    settle({ a, b })
    add("locked:" .. tostring(lock:locked()))
    -- CPython prints the same order
    assert.equal("a:cancelled b+ locked:false", joined())
  end))

  it("raises when released unlocked", asyncio.spec(function()
    local lock = asyncio.Lock()
    local err = error_of(lock.release, lock)
    assert.equal("release: the lock is not acquired (release must follow a "
                 .. "successful acquire)", tostring(err))
  end))

  it("acquires outside a task when it need not wait, and says why it cannot "
     .. "wait otherwise", asyncio.spec(function()
    local lock = asyncio.Lock()
    local done = asyncio.Future()
    asyncio.get_running_loop():call_soon(function()
      lock:acquire()
      local _, err = pcall(lock.acquire, lock)
      done:set_result(tostring(err))
    end)
    assert.matches("^acquire must be called inside a task",
                   asyncio.await(done))
    assert.is_true(lock:locked())
    lock:release()
    -- The failed wait left nothing behind.
    assert.is_true(lock:acquire())
    lock:release()
  end))

  it("is bound to the loop that first waits on it", function()
    local lock
    asyncio.run(function()
      lock = asyncio.Lock()
      lock:acquire()
      lock:release()
    end)
    assert.matches("no running event loop",
                   tostring(error_of(lock.acquire, lock)))
    asyncio.run(function()
      assert.matches("is bound to a different event loop",
                     tostring(error_of(lock.acquire, lock)))
    end)
    assert.is_false(lock:locked())
  end)
end)

describe("asyncio.Semaphore", function()
  it("lets at most n holders in, in FIFO order", asyncio.spec(function()
    local add, joined = new_log()
    local sem = asyncio.Semaphore(2)
    local inside, max = 0, 0
    asyncio.gather(spawn_each({ "a", "b", "c", "d", "e" }, function(name)
      sem:acquire()
      inside = inside + 1
      if inside > max then max = inside end
      add(name .. "+")
      pass(2)
      add(name .. "-")
      inside = inside - 1
      sem:release()
    end))
    assert.equal(2, max)
    -- CPython prints the same order
    assert.equal("a+ b+ a- b- c+ d+ c- d- e+ e-", joined())
  end))

  it("counts down to locked and back up", asyncio.spec(function()
    local sem = asyncio.Semaphore(2)
    assert.is_false(sem:locked())
    assert.is_true(sem:acquire())
    assert.is_false(sem:locked())
    sem:acquire()
    assert.is_true(sem:locked())
    assert.equal("asyncio.Semaphore (locked, value 0)", tostring(sem))
    sem:release()
    sem:release()
    sem:release() -- an unbounded semaphore may go above its start
    assert.equal("asyncio.Semaphore (unlocked, value 3)", tostring(sem))
    assert.is_true(asyncio.Semaphore(0):locked())
    local one = asyncio.Semaphore() -- 1 by default
    one:acquire()
    assert.is_true(one:locked())
  end))

  it("gives the unit of a woken, cancelled waiter to the next",
     asyncio.spec(function()
    local add, joined = new_log()
    local sem = asyncio.Semaphore(1)
    sem:acquire()
    local tasks = spawn_each({ "a", "b", "c" }, function(name)
      local ok, err = pcall(sem.acquire, sem)
      if not ok then
        add(name .. ":cancelled")
        error(err, 0)
      end
      add(name .. "+"); asyncio.sleep(0); add(name .. "-")
      sem:release()
    end)
    asyncio.sleep(0)
    sem:release()
    tasks[1]:cancel()
    add("locked=" .. tostring(sem:locked()))
    settle(tasks)
    add("locked=" .. tostring(sem:locked()))
    -- CPython prints the same order
    assert.equal("locked=true a:cancelled b+ b- c+ c- locked=false", joined())
  end))

  it("checks its initial value", asyncio.spec(function()
    assert.matches("bad argument #1 to '.*Semaphore' %(initial value must be "
                   .. ">= 0%)", tostring(error_of(asyncio.Semaphore, -1)))
    assert.matches("bad argument #1 to '.*BoundedSemaphore'",
                   tostring(error_of(asyncio.BoundedSemaphore, -1)))
    assert.matches("number expected, got string",
                   tostring(error_of(asyncio.Semaphore, "x")))
  end))
end)

describe("asyncio.BoundedSemaphore", function()
  it("raises when released more often than acquired", asyncio.spec(function()
    local sem = asyncio.BoundedSemaphore(2)
    local err = error_of(sem.release, sem)
    assert.equal("release: BoundedSemaphore released too many times",
                 tostring(err))
    sem:acquire()
    sem:acquire()
    assert.is_true(sem:locked())
    sem:release()
    sem:release()
    assert.equal("release: BoundedSemaphore released too many times",
                 tostring(error_of(sem.release, sem)))
    assert.equal("asyncio.BoundedSemaphore (unlocked, value 2)", tostring(sem))
  end))

  it("hands units to waiters like a Semaphore", asyncio.spec(function()
    local sem = asyncio.BoundedSemaphore(1)
    sem:acquire()
    local t = asyncio.create_task(function() sem:acquire(); return "in" end)
    asyncio.sleep(0)
    sem:release()
    assert.equal("in", asyncio.await(t))
    sem:release()
    assert.is_false(sem:locked())
  end))
end)

describe("asyncio.Condition", function()
  it("wakes waiters with notify(1), notify(n) and notify_all, in order",
     asyncio.spec(function()
    local add, joined = new_log()
    local cond = asyncio.Condition()
    local tasks = spawn_each({ "a", "b", "c", "d" }, function(name)
      cond:with(function()
        add(name .. ">")
        assert.is_true(cond:wait())
        assert.is_true(cond:locked())
        add(name .. "+")
      end)
    end)
    asyncio.sleep(0)
    cond:with(function() add("notify1"); cond:notify() end)
    asyncio.sleep(0)
    cond:with(function() add("notify2"); cond:notify(2) end)
    asyncio.sleep(0)
    cond:with(function() add("notify_all"); cond:notify_all() end)
    asyncio.gather(tasks)
    -- CPython prints the same order
    assert.equal("a> b> c> d> notify1 a+ notify2 b+ c+ notify_all d+",
                 joined())
  end))

  it("wait_for calls the predicate until it is true and returns its value",
     asyncio.spec(function()
    local add, joined = new_log()
    local cond = asyncio.Condition()
    local n = 0
    local tasks = {}
    for _, w in ipairs({ { "a", 2 }, { "b", 1 } }) do
      local name, k = w[1], w[2]
      tasks[#tasks + 1] = asyncio.create_task(function()
        cond:with(function()
          local r = cond:wait_for(function()
            add(name .. "?" .. n)
            return n >= k and name
          end)
          add(name .. "=" .. r)
        end)
      end)
    end
    asyncio.sleep(0)
    for i = 1, 2 do
      cond:with(function()
        n = i; add("n=" .. i); cond:notify_all()
      end)
      asyncio.sleep(0)
    end
    asyncio.gather(tasks)
    -- CPython prints the same order
    assert.equal("a?0 b?0 n=1 a?1 b?1 b=b n=2 a?2 a=a", joined())
  end))

  it("wait_for does not wait when the predicate holds, and may suspend in it",
     asyncio.spec(function()
    local cond = asyncio.Condition()
    cond:acquire()
    assert.equal(42, cond:wait_for(function() return 42 end))
    local calls = 0
    local r = cond:wait_for(function()
      calls = calls + 1
      asyncio.sleep(0) -- the predicate may suspend
      return calls >= 1 and "ok"
    end)
    assert.equal("ok", r)
    assert.matches("bad argument #1 to 'wait_for' %(function expected",
                   tostring(error_of(function() cond:wait_for(1) end)))
    cond:release()
  end))

  it("raises when wait or notify is called without the lock",
     asyncio.spec(function()
    local cond = asyncio.Condition()
    assert.equal("wait: the condition's lock is not acquired (call acquire "
                 .. "first)", tostring(error_of(cond.wait, cond)))
    assert.equal("notify: the condition's lock is not acquired (call "
                 .. "acquire first)", tostring(error_of(cond.notify, cond)))
    assert.equal("notify_all: the condition's lock is not acquired (call "
                 .. "acquire first)",
                 tostring(error_of(cond.notify_all, cond)))
    assert.matches("not acquired", tostring(error_of(cond.wait_for, cond,
                                                     function() end)))
    assert.matches("not acquired", tostring(error_of(cond.release, cond)))
  end))

  it("re-acquires the lock before a cancelled wait raises",
     asyncio.spec(function()
    local add, joined = new_log()
    local cond = asyncio.Condition()
    local t = asyncio.create_task(function()
      cond:with(function()
        local ok, err = pcall(cond.wait, cond)
        add("w:cancelled locked=" .. tostring(cond:locked()))
        if not ok then error(err, 0) end
      end)
    end)
    asyncio.sleep(0)
    cond:acquire()
    t:cancel()
    pass(2)
    add("main:release")
    cond:release()
    local ok, err = pcall(asyncio.await, t)
    if not ok and asyncio.CancelledError:is(err) then add("t:cancelled") end
    add("locked=" .. tostring(cond:locked()))
    -- CPython prints the same order
    assert.equal("main:release w:cancelled locked=true t:cancelled "
                 .. "locked=false", joined())
  end))

  it("keeps re-acquiring the lock when cancelled again meanwhile",
     asyncio.spec(function()
    local add, joined = new_log()
    local cond = asyncio.Condition()
    local t = asyncio.create_task(function()
      cond:with(function()
        local ok, err = pcall(cond.wait, cond)
        add("w:cancelled locked=" .. tostring(cond:locked()))
        if not ok then error(err, 0) end
      end)
    end)
    asyncio.sleep(0)
    cond:acquire()
    t:cancel()
    pass(2)
    t:cancel() -- while it waits for the lock again
    pass(2)
    add("main:release cancelling=" .. t:cancelling())
    cond:release()
    local ok, err = pcall(asyncio.await, t)
    if not ok and asyncio.CancelledError:is(err) then add("t:cancelled") end
    add("locked=" .. tostring(cond:locked()))
    -- CPython prints the same order
    assert.equal("main:release cancelling=2 w:cancelled locked=true "
                 .. "t:cancelled locked=false", joined())
  end))

  it("passes a notification on when the notified waiter is cancelled",
     asyncio.spec(function()
    local add, joined = new_log()
    local cond = asyncio.Condition()
    local tasks = spawn_each({ "a", "b" }, function(name)
      cond:with(function()
        local ok, err = pcall(cond.wait, cond)
        if ok then
          add(name .. ":notified")
        elseif asyncio.CancelledError:is(err) then
          add(name .. ":cancelled")
        end
      end)
    end)
    asyncio.sleep(0)
    cond:with(function()
      cond:notify(1)
      tasks[1]:cancel()
    end)
    asyncio.gather(tasks)
    -- CPython (3.12.3 and later) prints the same order
    assert.equal("a:cancelled b:notified", joined())
  end))

  it("shares a lock given to it", asyncio.spec(function()
    local lock = asyncio.Lock()
    local cond = asyncio.Condition(lock)
    cond:acquire()
    assert.is_true(lock:locked())
    lock:release()
    assert.is_false(cond:locked())
    local other = asyncio.Condition(lock)
    local t = asyncio.create_task(function()
      other:with(function() other:wait() end)
      return "woken"
    end)
    asyncio.sleep(0)
    assert.is_false(lock:locked()) -- wait released it
    lock:acquire()
    other:notify()
    lock:release()
    assert.equal("woken", asyncio.await(t))
    assert.matches("asyncio.Lock or nil expected",
                   tostring(error_of(asyncio.Condition, {})))
    assert.equal("asyncio.Condition (unlocked)", tostring(cond))
  end))

  it("notify checks n", asyncio.spec(function()
    local cond = asyncio.Condition()
    cond:acquire()
    cond:notify(0)
    cond:notify(5)
    assert.matches("bad argument", tostring(error_of(cond.notify, cond, -1)))
    cond:release()
  end))
end)

describe("asyncio.Barrier", function()
  it("gives arrival indexes 0 .. n-1 and cycles", asyncio.spec(function()
    local add, joined = new_log()
    local b = asyncio.Barrier(3)
    assert.equal(3, b:parties())
    asyncio.gather(spawn_each({ "a", "b", "c" }, function(name)
      for r = 0, 1 do
        add(name .. r .. ">")
        local i = b:wait()
        add(name .. r .. "=" .. i)
      end
    end))
    add("n_waiting=" .. b:n_waiting())
    -- CPython prints the same order
    assert.equal("a0> b0> c0> c0=2 c1> a0=0 a1> b0=1 b1> a1=2 b1=0 c1=1 "
                 .. "n_waiting=0", joined())
  end))

  it("counts waiters", asyncio.spec(function()
    local b = asyncio.Barrier(3)
    local tasks = {}
    for i = 1, 2 do
      tasks[i] = asyncio.create_task(function() return b:wait() end)
      asyncio.sleep(0)
      assert.equal(i, b:n_waiting())
    end
    assert.equal("asyncio.Barrier (waiters 2/3)", tostring(b))
    assert.equal(2, b:wait())
    assert.are.same({ 0, 1 }, { asyncio.await(tasks[1]),
                                asyncio.await(tasks[2]) })
  end))

  it("abort makes waiters and newcomers raise BrokenBarrierError until reset",
     asyncio.spec(function()
    local add, joined = new_log()
    local b = asyncio.Barrier(3)
    local tasks = spawn_each({ "a", "b" }, function(name)
      local ok, err = pcall(b.wait, b)
      if not ok and asyncio.BrokenBarrierError:is(err) then
        add(name .. ":broken")
      end
    end)
    asyncio.sleep(0)
    add("n_waiting=" .. b:n_waiting())
    b:abort()
    asyncio.gather(tasks)
    add("broken=" .. tostring(b:broken()))
    local ok, err = pcall(b.wait, b)
    if not ok and asyncio.BrokenBarrierError:is(err) then add("main:broken") end
    b:reset()
    add("broken=" .. tostring(b:broken()))
    -- CPython prints the same order
    assert.equal("n_waiting=2 a:broken b:broken broken=true main:broken "
                 .. "broken=false", joined())
    assert.is_true(asyncio.Error:is(err))
    assert.equal("asyncio.Barrier (waiters 0/3)", tostring(b))
  end))

  it("reset makes waiters raise BrokenBarrierError and refills",
     asyncio.spec(function()
    local add, joined = new_log()
    local b = asyncio.Barrier(3)
    local tasks = spawn_each({ "a", "b" }, function(name)
      local ok, err = pcall(b.wait, b)
      if not ok and asyncio.BrokenBarrierError:is(err) then
        add(name .. ":broken")
      end
    end)
    asyncio.sleep(0)
    b:reset()
    asyncio.gather(tasks)
    add("broken=" .. tostring(b:broken()) .. " n_waiting=" .. b:n_waiting())
    local r = asyncio.gather(function() return b:wait() end,
                             function() return b:wait() end,
                             function() return b:wait() end)
    table.sort(r)
    add("indexes=" .. table.concat(r, ","))
    -- CPython prints the same order
    assert.equal("a:broken b:broken broken=false n_waiting=0 indexes=0,1,2",
                 joined())
  end))

  it("lets a cancelled waiter leave without breaking it",
     asyncio.spec(function()
    local add, joined = new_log()
    local b = asyncio.Barrier(2)
    local t = asyncio.create_task(function() b:wait() end)
    asyncio.sleep(0)
    add("n_waiting=" .. b:n_waiting())
    t:cancel()
    asyncio.sleep(0)
    add("n_waiting=" .. b:n_waiting() .. " broken=" .. tostring(b:broken()))
    local r = asyncio.gather(function() return b:wait() end,
                             function() return b:wait() end)
    add("indexes=" .. r[1] .. "," .. r[2])
    -- CPython prints the same order
    assert.equal("n_waiting=1 n_waiting=0 broken=false indexes=0,1", joined())
  end))

  it("a barrier of one never waits", asyncio.spec(function()
    local b = asyncio.Barrier(1)
    assert.equal(0, b:wait())
    assert.equal(0, b:wait())
  end))

  it("checks its argument and says why it cannot wait outside a task",
     asyncio.spec(function()
    assert.matches("bad argument #1 to '.*Barrier' %(parties must be >= 1%)",
                   tostring(error_of(asyncio.Barrier, 0)))
    assert.matches("bad argument #1 to '.*Barrier' %(number expected",
                   tostring(error_of(asyncio.Barrier)))
    local b = asyncio.Barrier(2)
    local done = asyncio.Future()
    asyncio.get_running_loop():call_soon(function()
      local _, err = pcall(b.wait, b)
      done:set_result(tostring(err))
    end)
    assert.matches("^wait must be called inside a task", asyncio.await(done))
    assert.equal(0, b:n_waiting()) -- the failed wait left the barrier
  end))
end)

describe("scope forms", function()
  local kinds = {
    { "Lock", function() return asyncio.Lock() end },
    { "Semaphore", function() return asyncio.Semaphore(1) end },
    { "BoundedSemaphore", function() return asyncio.BoundedSemaphore(1) end },
    { "Condition", function() return asyncio.Condition() end },
  }
  for _, kind in ipairs(kinds) do
    local name, new = kind[1], kind[2]

    it(name .. ":with runs fn with its arguments and returns its values",
       asyncio.spec(function()
      local obj = new()
      local r = table.pack(obj:with(function(...)
        assert.is_true(obj:locked())
        return ...
      end, 1, nil, "three"))
      assert.are.same({ n = 3, 1, nil, "three" }, r)
      assert.is_false(obj:locked())
    end))

    it(name .. ":with releases on error and re-raises it",
       asyncio.spec(function()
      local obj = new()
      local e = { "my error" }
      local err = error_of(obj.with, obj, function()
        asyncio.sleep(0)
        error(e)
      end)
      assert.equal(e, err)
      assert.is_false(obj:locked())
      assert.equal("plain", error_of(obj.with, obj, function()
        error("plain", 0)
      end))
      assert.is_false(obj:locked())
    end))

    it(name .. ":with releases on cancellation", asyncio.spec(function()
      local obj = new()
      local t = asyncio.create_task(function() obj:with(block) end)
      asyncio.sleep(0)
      assert.is_true(obj:locked())
      t:cancel()
      settle({ t })
      assert.is_true(t:cancelled())
      assert.is_false(obj:locked())
    end))

    it(name .. ":with waits its turn and runs nothing when cancelled waiting",
       asyncio.spec(function()
      local add, joined = new_log()
      local obj = new()
      obj:acquire()
      local a = asyncio.create_task(function()
        obj:with(function() add("a") end)
      end)
      local b = asyncio.create_task(function()
        obj:with(function() add("b") end)
      end)
      asyncio.sleep(0)
      a:cancel()
      settle({ a })
      assert.is_true(obj:locked()) -- still ours: a released nothing
      obj:release()
      asyncio.await(b)
      assert.equal("b", joined())
      assert.is_false(obj:locked())
    end))

    it(name .. ":guard releases at the end of the scope",
       asyncio.spec(function()
      local obj = new()
      do
        local g <close> = obj:guard()
        assert.is_true(obj:locked())
        assert.matches("^asyncio.Guard of asyncio." .. name .. " %(held%)$",
                       tostring(g))
        asyncio.sleep(0)
      end
      assert.is_false(obj:locked())
    end))

    it(name .. ":guard releases on error and on cancellation",
       asyncio.spec(function()
      local obj = new()
      local err = error_of(function()
        local g <close> = obj:guard()
        error("inside", 0)
      end)
      assert.equal("inside", err)
      assert.is_false(obj:locked())
      local t = asyncio.create_task(function()
        local g <close> = obj:guard()
        block()
      end)
      asyncio.sleep(0)
      assert.is_true(obj:locked())
      t:cancel()
      settle({ t })
      assert.is_true(t:cancelled())
      assert.is_false(obj:locked())
    end))

    it(name .. ":guard releases once, even when closed twice",
       asyncio.spec(function()
      local obj = new()
      do
        local g <close> = obj:guard()
        getmetatable(g).__close(g)
        assert.is_false(obj:locked())
        assert.matches("%(released%)$", tostring(g))
        obj:acquire() -- someone else's hold: the guard must not release it
      end
      assert.is_true(obj:locked())
      obj:release()
    end))
  end

  it("Condition:with lets the body wait and notify", asyncio.spec(function()
    local cond = asyncio.Condition()
    local ready = false
    local t = asyncio.create_task(function()
      return cond:with(function()
        return cond:wait_for(function() return ready end)
      end)
    end)
    asyncio.sleep(0)
    cond:with(function() ready = "yes"; cond:notify() end)
    assert.equal("yes", asyncio.await(t))
    assert.is_false(cond:locked())
  end))

  it("with checks its argument", asyncio.spec(function()
    local lock = asyncio.Lock()
    assert.matches("function expected",
                   tostring(error_of(function() lock:with(1) end)))
    assert.is_false(lock:locked())
  end))
end)
