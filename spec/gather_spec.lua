local asyncio = require "asyncio"
local support = require "support"
local pass, new_log = support.pass, support.new_log

-- Specs of timeouts run on a virtual clock: a 30 s timeout takes no time,
-- and comes in the same order however loaded the machine is.
local VIRTUAL = { clock = "virtual" }

-- Suspends the current task until it is cancelled: awaits a fresh future that
-- nobody resolves (one per call, so cancelling one waiter wakes no other).
local function block()
  return asyncio.await(asyncio.get_running_loop():create_future())
end

-- Whether x is in list.
local function has(list, x)
  for _, v in ipairs(list) do
    if v == x then
      return true
    end
  end
  return false
end

-- Asserts that list holds exactly the given tasks, in any order.
local function same_tasks(expected, list)
  assert.equal(#expected, #list)
  for _, task in ipairs(expected) do
    assert.is_true(has(list, task))
  end
end

-- Cancels a task and waits until it has finished.
local function cancel_and_wait(task)
  task:cancel()
  pcall(asyncio.await, task)
end

describe("asyncio.gather", function()
  it("returns results in input order, whatever the completion order",
     asyncio.spec(function()
    local add, joined = new_log()
    local function worker(name, n)
      return function()
        pass(n)
        add(name)
        return name
      end
    end
    local r = asyncio.gather(worker("a", 3), worker("b", 1), worker("c", 2))
    -- CPython 3.12 prints the same order
    assert.equal("b c a", joined())
    assert.equal(3, r.n)
    assert.equal("a", r[1])
    assert.equal("b", r[2])
    assert.equal("c", r[3])
  end))

  it("keeps nil results in their slots, counted by .n", asyncio.spec(function()
    local r = asyncio.gather(
      function() return nil end,
      function() asyncio.sleep(0); return 2 end,
      function() end)
    assert.equal(3, r.n)
    assert.is_nil(r[1])
    assert.equal(2, r[2])
    assert.is_nil(r[3])
  end))

  it("keeps the first value of each child", asyncio.spec(function()
    local r = asyncio.gather(function() return 1, 2 end, function() return 3, 4 end)
    assert.equal(2, r.n)
    assert.equal(1, r[1])
    assert.equal(3, r[2])
  end))

  it("takes one plain list as its arguments", asyncio.spec(function()
    local r = asyncio.gather({ function() return "a" end, function() return "b" end })
    assert.equal(2, r.n)
    assert.equal("a", r[1])
    assert.equal("b", r[2])
  end))

  it("accepts functions, coroutine objects, tasks and futures together",
     asyncio.spec(function()
    local double = asyncio.async(function(x)
      asyncio.sleep(0)
      return x * 2
    end)
    local task = asyncio.create_task(function() return "task" end)
    local fut = asyncio.Future()
    asyncio.get_running_loop():call_soon(function() fut:set_result("future") end)
    local r = asyncio.gather(function() return "fn" end, double(4), task, fut)
    assert.equal(4, r.n)
    assert.equal("fn", r[1])
    assert.equal(8, r[2])
    assert.equal("task", r[3])
    assert.equal("future", r[4])
  end))

  it("runs functions as tasks of their own", asyncio.spec(function()
    local main = asyncio.current_task()
    local function which()
      asyncio.sleep(0)
      return asyncio.current_task()
    end
    local r = asyncio.gather(which, which)
    assert.is_not_nil(r[1])
    assert.is_not_nil(r[2])
    assert.are_not.equal(main, r[1])
    assert.are_not.equal(main, r[2])
    assert.are_not.equal(r[1], r[2])
  end))

  it("raises the first error at once while the other children keep running",
     asyncio.spec(function()
    local add, joined = new_log()
    local fa, fb = asyncio.Future(), asyncio.Future()
    local function slow(name, n, fut)
      return function()
        pass(n)
        add(name)
        fut:set_result()
      end
    end
    local function bad()
      asyncio.sleep(0)
      add("bad")
      error("boom", 0)
    end
    local ok, err = pcall(asyncio.gather, slow("a", 6, fa), bad, slow("b", 9, fb))
    assert.is_false(ok)
    add("caught:" .. tostring(err))
    asyncio.await(fa)
    asyncio.await(fb)
    add("end")
    -- CPython 3.12 prints the same order
    assert.equal("bad caught:boom a b end", joined())
  end))

  it("raises CancelledError when a child is cancelled", asyncio.spec(function()
    local child = asyncio.create_task(block)
    asyncio.get_running_loop():call_soon(function() child:cancel() end)
    local ok, err = pcall(asyncio.gather, child, function() return 1 end)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))
    assert.equal(0, asyncio.current_task():cancelling())
  end))

  it("with return_exceptions puts errors and cancellations in their slots",
     asyncio.spec(function()
    local user_err = { code = 7 }
    local cancelled = asyncio.create_task(block)
    asyncio.sleep(0)
    cancelled:cancel()
    local r = asyncio.gather {
      function() return "ok" end,
      function() asyncio.sleep(0); error("x", 0) end,
      cancelled,
      function() error(user_err) end,
      return_exceptions = true,
    }
    assert.equal(4, r.n)
    assert.equal("ok", r[1])
    assert.is_false(asyncio.iserror(r[1]))
    assert.is_true(asyncio.iserror(r[2]))
    assert.equal("x", tostring(r[2]))
    assert.is_true(asyncio.iserror(r[3]))
    assert.is_true(asyncio.CancelledError:is(r[3]))
    assert.equal(user_err, r[4])
    assert.is_true(asyncio.iserror(r[4]))
  end))

  it("cancels every child when the awaiting task is cancelled",
     asyncio.spec(function()
    local add, joined = new_log()
    local function child(name)
      return function()
        local ok, err = pcall(block)
        if asyncio.CancelledError:is(err) then add(name .. ":cancelled") end
        error(err, 0)
      end
    end
    local outer = asyncio.create_task(function()
      local ok, err = pcall(asyncio.gather, child("a"), child("b"))
      if asyncio.CancelledError:is(err) then add("outer:cancelled") end
      error(err, 0)
    end)
    pass(2)
    add("cancel:" .. tostring(outer:cancel()))
    local ok, err = pcall(asyncio.await, outer)
    if asyncio.CancelledError:is(err) then add("main:cancelled") end
    add("outer.cancelled:" .. tostring(outer:cancelled()))
    -- CPython 3.12 prints the same order
    assert.equal("cancel:true a:cancelled b:cancelled outer:cancelled "
                 .. "main:cancelled outer.cancelled:true", joined())
  end))

  it("of nothing returns an empty list", asyncio.spec(function()
    for _, r in ipairs({ asyncio.gather(), asyncio.gather({}) }) do
      assert.equal(0, r.n)
      assert.is_nil(r[1])
    end
  end))
end)

describe("asyncio.wait", function()
  it("waits for all by default and never raises the children's errors",
     asyncio.spec(function()
    local ok_task = asyncio.create_task(function() pass(2); return 1 end)
    local bad_task = asyncio.create_task(function() asyncio.sleep(0); error("bad", 0) end)
    local done, pending = asyncio.wait({ ok_task, bad_task })
    same_tasks({ ok_task, bad_task }, done)
    same_tasks({}, pending)
    assert.equal(1, ok_task:result())
    assert.equal("bad", tostring(bad_task:exception()))
  end))

  it("FIRST_COMPLETED returns once one task is done", asyncio.spec(function()
    local quick = asyncio.create_task(function() asyncio.sleep(0); return "q" end)
    local blocked = asyncio.create_task(block)
    local done, pending = asyncio.wait({ quick, blocked },
                                       { return_when = "FIRST_COMPLETED" })
    same_tasks({ quick }, done)
    same_tasks({ blocked }, pending)
    assert.is_false(blocked:done())
    cancel_and_wait(blocked)
  end))

  it("FIRST_EXCEPTION returns once one task fails", asyncio.spec(function()
    local bad = asyncio.create_task(function() pass(2); error("bad", 0) end)
    local blocked = asyncio.create_task(block)
    local done, pending = asyncio.wait({ bad, blocked },
                                       { return_when = "FIRST_EXCEPTION" })
    same_tasks({ bad }, done)
    same_tasks({ blocked }, pending)
    assert.equal("bad", tostring(bad:exception()))
    cancel_and_wait(blocked)
  end))

  it("FIRST_EXCEPTION without failures waits for all", asyncio.spec(function()
    local a = asyncio.create_task(function() asyncio.sleep(0); return 1 end)
    local b = asyncio.create_task(function() pass(3); return 2 end)
    local done, pending = asyncio.wait({ a, b }, { return_when = "FIRST_EXCEPTION" })
    same_tasks({ a, b }, done)
    same_tasks({}, pending)
  end))

  it("returns at the timeout and leaves pending tasks running",
     asyncio.spec(function()
    local quick = asyncio.create_task(function() return "q" end)
    local blocked = asyncio.create_task(block)
    local done, pending = asyncio.wait({ quick, blocked }, { timeout = 30 })
    same_tasks({ quick }, done)
    same_tasks({ blocked }, pending)
    assert.is_false(blocked:done())
    assert.is_false(blocked:cancelled())
    cancel_and_wait(blocked)
  end, VIRTUAL))
end)

describe("asyncio.as_completed", function()
  it("yields awaitables in completion order", asyncio.spec(function()
    local add, joined = new_log()
    local function worker(name, n)
      return asyncio.create_task(function()
        pass(n)
        return name
      end)
    end
    local tasks = { worker("a", 3), worker("b", 1), worker("c", 2) }
    for aw in asyncio.as_completed(tasks) do
      add(asyncio.await(aw))
    end
    -- CPython 3.12 prints the same order
    assert.equal("b c a", joined())
  end))

  it("raises a child's error when its awaitable is awaited", asyncio.spec(function()
    local add, joined = new_log()
    local tasks = {
      asyncio.create_task(function() pass(2); return "ok" end),
      asyncio.create_task(function() asyncio.sleep(0); error("bad", 0) end),
    }
    for aw in asyncio.as_completed(tasks) do
      local ok, v = pcall(asyncio.await, aw)
      add(tostring(ok) .. ":" .. tostring(v))
    end
    -- CPython 3.12 prints the same order
    assert.equal("false:bad true:ok", joined())
  end))

  it("raises TimeoutError when the timeout passes", asyncio.spec(function()
    local add, joined = new_log()
    local quick = asyncio.create_task(function() return "quick" end)
    local blocked = asyncio.create_task(block)
    local ok, err = pcall(function()
      for aw in asyncio.as_completed({ quick, blocked }, { timeout = 30 }) do
        add(asyncio.await(aw))
      end
    end)
    assert.is_false(ok)
    assert.is_true(asyncio.TimeoutError:is(err))
    add("timeout")
    -- CPython 3.12 prints the same order
    assert.equal("quick timeout", joined())
    assert.is_false(blocked:done())
    cancel_and_wait(blocked)
  end, VIRTUAL))
end)

describe("asyncio.wait_for", function()
  it("returns the value in time", asyncio.spec(function()
    local f = asyncio.async(function(x)
      asyncio.sleep(0)
      return x, "second"
    end)
    assert.equal("v", asyncio.wait_for(f("v"), 1))
    local task = asyncio.create_task(function() return "t" end)
    assert.equal("t", asyncio.wait_for(task, 1))
  end))

  it("cancels the inner task and waits for its cleanup before TimeoutError",
     asyncio.spec(function()
    local add, joined = new_log()
    local inner = asyncio.create_task(function()
      local ok, err = pcall(block)
      add("cleanup-start")
      asyncio.sleep(0)
      add("cleanup-end")
      error(err, 0)
    end)
    local ok, err = pcall(asyncio.wait_for, inner, 30)
    assert.is_false(ok)
    assert.is_true(asyncio.TimeoutError:is(err))
    add("timeout")
    add("inner.cancelled:" .. tostring(inner:cancelled()))
    -- CPython 3.12 prints the same order
    assert.equal("cleanup-start cleanup-end timeout inner.cancelled:true", joined())
    assert.equal(0, asyncio.current_task():cancelling())
  end, VIRTUAL))

  it("waits forever when the timeout is nil", asyncio.spec(function()
    local task = asyncio.create_task(function()
      asyncio.sleep(3600)
      return "late"
    end)
    assert.equal("late", asyncio.wait_for(task, nil))
  end, VIRTUAL))

  it("raises the inner error", asyncio.spec(function()
    local f = asyncio.async(function()
      asyncio.sleep(0)
      error("inner failed", 0)
    end)
    local ok, err = pcall(asyncio.wait_for, f(), 1)
    assert.is_false(ok)
    assert.equal("inner failed", tostring(err))
  end))
end)

describe("asyncio.timeout and asyncio.timeout_at", function()
  it("returns fn's values and passes its arguments", asyncio.spec(function()
    local r = table.pack(asyncio.timeout(1, function(a, b)
      asyncio.sleep(0)
      return a, b, "three"
    end, "one", "two"))
    assert.are.same({ n = 3, "one", "two", "three" }, r)
  end))

  it("cancels fn at the deadline and raises TimeoutError in the caller",
     asyncio.spec(function()
    local add, joined = new_log()
    local ok, err = pcall(asyncio.timeout, 30, function()
      local ok, err = pcall(block)
      if asyncio.CancelledError:is(err) then add("cleanup") end
      error(err, 0)
    end)
    assert.is_false(ok)
    assert.is_true(asyncio.TimeoutError:is(err))
    add("timeout")
    asyncio.sleep(0)
    add("continues")
    -- CPython 3.12 prints the same order
    assert.equal("cleanup timeout continues", joined())
    assert.equal(0, asyncio.current_task():cancelling())
  end, VIRTUAL))

  it("has no deadline when the delay is nil", asyncio.spec(function()
    assert.equal("ok", asyncio.timeout(nil, function()
      asyncio.sleep(3600)
      return "ok"
    end))
  end, VIRTUAL))

  it("raises fn's own error unchanged", asyncio.spec(function()
    local e = { code = 1 }
    local ok, err = pcall(asyncio.timeout, 1, function()
      asyncio.sleep(0)
      error(e)
    end)
    assert.is_false(ok)
    assert.equal(e, err)
  end))

  it("nested: only the timeout that expired raises TimeoutError",
     asyncio.spec(function()
    local add, joined = new_log()
    -- The inner timeout expires; the outer one goes on.
    asyncio.timeout(60, function()
      local ok, err = pcall(asyncio.timeout, 30, block)
      if asyncio.TimeoutError:is(err) then add("inner-timeout") end
      asyncio.sleep(0)
      add("outer-continues")
    end)
    -- The outer timeout expires while the inner one has a later deadline.
    local ok, err = pcall(asyncio.timeout, 30, function()
      local ok, err = pcall(asyncio.timeout, 60, block)
      if asyncio.CancelledError:is(err) then add("inner-sees-cancelled") end
      if asyncio.TimeoutError:is(err) then add("inner-sees-timeout") end
      error(err, 0)
    end)
    if asyncio.TimeoutError:is(err) then add("outer-timeout") end
    add("cancelling:" .. asyncio.current_task():cancelling())
    -- CPython 3.12 prints the same order
    assert.equal("inner-timeout outer-continues inner-sees-cancelled outer-timeout "
                 .. "cancelling:0", joined())
  end, VIRTUAL))

  it("timeout_at takes a loop time", asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local ok, err = pcall(asyncio.timeout_at, loop:time() + 30, block)
    assert.is_false(ok)
    assert.is_true(asyncio.TimeoutError:is(err))
    assert.equal("in time", asyncio.timeout_at(loop:time() + 10, function(x)
      asyncio.sleep(0)
      return x
    end, "in time"))
    assert.equal("no deadline", asyncio.timeout_at(nil, function()
      return "no deadline"
    end))
  end, VIRTUAL))
end)

describe("asyncio.shield", function()
  it("passes the value through", asyncio.spec(function()
    local task = asyncio.create_task(function() asyncio.sleep(0); return "v" end)
    assert.equal("v", asyncio.await(asyncio.shield(task)))
  end))

  it("cancelling the awaiter does not cancel the shielded task",
     asyncio.spec(function()
    local add, joined = new_log()
    local inner = asyncio.create_task(function()
      pass(8)
      add("inner:done")
      return "v"
    end)
    local outer = asyncio.create_task(function()
      local ok, err = pcall(asyncio.await, asyncio.shield(inner))
      if asyncio.CancelledError:is(err) then add("outer:cancelled") end
      error(err, 0)
    end)
    asyncio.sleep(0)
    outer:cancel()
    local ok, err = pcall(asyncio.await, outer)
    if asyncio.CancelledError:is(err) then add("main:outer-cancelled") end
    add("inner.cancelled:" .. tostring(inner:cancelled()))
    add("result:" .. asyncio.await(inner))
    -- CPython 3.12 prints the same order
    assert.equal("outer:cancelled main:outer-cancelled inner.cancelled:false "
                 .. "inner:done result:v", joined())
  end))
end)

describe("asyncio.TaskGroup", function()
  it("returns the body's values after every child has finished",
     asyncio.spec(function()
    local add, joined = new_log()
    local function child(name, n)
      return function()
        pass(n)
        add(name)
        return name
      end
    end
    local t1, t2
    local r1, r2 = asyncio.TaskGroup(function(tg)
      t1 = tg:create_task(child("c1", 2))
      t2 = tg:create_task(child("c2", 1))
      add("body")
      return "x", "y"
    end)
    add("after:" .. t1:result() .. "," .. t2:result())
    -- CPython 3.12 prints the same order
    assert.equal("body c2 c1 after:c1,c2", joined())
    assert.equal("x", r1)
    assert.equal("y", r2)
  end))

  it("cancels the rest on the first failure and raises an ExceptionGroup",
     asyncio.spec(function()
    local add, joined = new_log()
    local function failing(name)
      return function()
        asyncio.sleep(0)
        add(name .. ":fail")
        error(name .. " failed", 0)
      end
    end
    local function blocked(name)
      return function()
        local ok, err = pcall(block)
        if asyncio.CancelledError:is(err) then add(name .. ":cancelled") end
        error(err, 0)
      end
    end
    local ok, err = pcall(asyncio.TaskGroup, function(tg)
      tg:create_task(failing("a"))
      tg:create_task(blocked("b"))
      tg:create_task(failing("c"))
      blocked("body")()
    end)
    assert.is_false(ok)
    assert.is_true(asyncio.ExceptionGroup:is(err))
    assert.is_true(asyncio.Error:is(err))
    local messages = {}
    for i, e in ipairs(err.errors) do
      messages[i] = tostring(e)
    end
    add("group:" .. table.concat(messages, ","))
    asyncio.sleep(0)
    add("end")
    -- CPython 3.12 prints the same order
    assert.equal("a:fail c:fail b:cancelled body:cancelled group:a failed,c failed end",
                 joined())
    assert.equal(0, asyncio.current_task():cancelling())
  end))

  it("keeps user error values in .errors", asyncio.spec(function()
    local e = { code = 3 }
    local ok, err = pcall(asyncio.TaskGroup, function(tg)
      tg:create_task(function() error(e) end)
    end)
    assert.is_false(ok)
    assert.is_true(asyncio.ExceptionGroup:is(err))
    assert.equal(1, #err.errors)
    assert.equal(e, err.errors[1])
  end))

  it("names children created with tg:create_task(fn, {name=})",
     asyncio.spec(function()
    local f = asyncio.async(function() return "co" end)
    local named, co_task
    asyncio.TaskGroup(function(tg)
      named = tg:create_task(function() return asyncio.current_task():get_name() end,
                             { name = "child" })
      co_task = tg:create_task(f())
    end)
    assert.equal("child", named:get_name())
    assert.equal("child", named:result())
    assert.equal("co", co_task:result())
  end))
end)
