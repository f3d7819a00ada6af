local asyncio = require "asyncio"
local support = require "support"
local pass, new_log = support.pass, support.new_log

-- Specs of sleeps and timers run on a virtual clock where they test the
-- order of deadlines, not the real clock: no wait, and no flakiness.
local VIRTUAL = { clock = "virtual" }

-- Suspends the current task until it is cancelled: awaits a fresh future that
-- nobody resolves (one per call, so cancelling one waiter wakes no other).
local function block()
  return asyncio.await(asyncio.get_running_loop():create_future())
end

-- The line after the one that calls this, and the chunk name a traceback uses.
local function next_line()
  local info = debug.getinfo(2, "Sl")
  return info.short_src .. ":" .. (info.currentline + 1)
end

describe("asyncio.run", function()
  it("returns main's values", function()
    local r = table.pack(asyncio.run(function()
      asyncio.sleep(0)
      return 1, nil, "three"
    end))
    assert.are.same({ n = 3, 1, nil, "three" }, r)
  end)

  it("passes extra arguments to main", function()
    assert.equal(5, asyncio.run(function(a, b) return a + b end, 2, 3))
  end)

  it("runs a coroutine object as main", function()
    local double = asyncio.async(function(x)
      asyncio.sleep(0)
      return x * 2
    end)
    assert.equal(42, asyncio.run(double(21)))
  end)

  it("re-raises main's error", function()
    local ok, err = pcall(asyncio.run, function()
      asyncio.sleep(0)
      error("main failed", 0)
    end)
    assert.is_false(ok)
    assert.equal("main failed", tostring(err))
  end)

  it("raises when a loop is already running", asyncio.spec(function()
    local called = false
    local ok, err = pcall(asyncio.run, function() called = true end)
    assert.is_false(ok)
    assert.is_false(called)
    assert.matches("running", tostring(err), 1, true)
  end))

  it("can run a new loop after the previous one closed", function()
    assert.equal(1, asyncio.run(function() return asyncio.sleep(0, 1) end))
    assert.equal(2, asyncio.run(function() return asyncio.sleep(0, 2) end))
  end)

  it("cancels tasks left running when main returns and lets them clean up",
     function()
    local add, joined = new_log()
    asyncio.run(function()
      asyncio.create_task(function()
        local ok, err = pcall(block)
        add(asyncio.CancelledError:is(err) and "leftover:cancelled" or "?")
        error(err, 0)
      end)
      asyncio.sleep(0)
      add("main:return")
    end)
    -- CPython 3.12 prints the same order
    assert.equal("main:return leftover:cancelled", joined())
  end)
end)

describe("asyncio.async and asyncio.await", function()
  it("returns a coroutine object that starts only when awaited",
     asyncio.spec(function()
    local started = false
    local double = asyncio.async(function(x)
      started = true
      return x * 2
    end)
    local co = double(21)
    pass(2)
    assert.is_false(started)
    assert.equal(42, asyncio.await(co))
    assert.is_true(started)
  end))

  it("runs an awaited coroutine object inside the current task",
     asyncio.spec(function()
    local inside
    local f = asyncio.async(function()
      inside = asyncio.current_task()
      asyncio.sleep(0)
      return "done"
    end)
    assert.equal("done", asyncio.await(f()))
    assert.equal(asyncio.current_task(), inside)
  end))

  it("returns every value of a coroutine object, a task and a future",
     asyncio.spec(function()
    local f = asyncio.async(function()
      asyncio.sleep(0)
      return 1, nil, 3
    end)
    assert.are.same({ n = 3, 1, nil, 3 }, table.pack(asyncio.await(f())))

    local task = asyncio.create_task(function() return "a", "b" end)
    assert.are.same({ n = 2, "a", "b" }, table.pack(asyncio.await(task)))

    local fut = asyncio.Future()
    asyncio.get_running_loop():call_soon(function() fut:set_result("x", "y") end)
    assert.are.same({ n = 2, "x", "y" }, table.pack(asyncio.await(fut)))
  end))

  it("raises the coroutine's error in the awaiting task", asyncio.spec(function()
    local f = asyncio.async(function()
      asyncio.sleep(0)
      error("inner", 0)
    end)
    local ok, err = pcall(asyncio.await, f())
    assert.is_false(ok)
    assert.equal("inner", tostring(err))
  end))

  it("refuses to await the same coroutine object twice", asyncio.spec(function()
    local f = asyncio.async(function() return 1 end)
    local co = f()
    assert.equal(1, asyncio.await(co))
    local ok, err = pcall(asyncio.await, co)
    assert.is_false(ok)
    assert.matches("already", tostring(err), 1, true)
    assert.is_false(asyncio.CancelledError:is(err))
  end))
end)

describe("asyncio.create_task", function()
  it("runs a function as a task, starting after create_task returns",
     asyncio.spec(function()
    local add, joined = new_log()
    local task = asyncio.create_task(function()
      add("task")
      return "v"
    end)
    add("created")
    assert.equal("v", asyncio.await(task))
    assert.equal("created task", joined())
  end))

  it("accepts a coroutine object", asyncio.spec(function()
    local f = asyncio.async(function(a, b)
      asyncio.sleep(0)
      return a .. b
    end)
    local task = asyncio.create_task(f("x", "y"))
    assert.equal("xy", asyncio.await(task))
  end))

  it("names the task with opts.name", asyncio.spec(function()
    local task = asyncio.create_task(function() end, { name = "worker" })
    assert.equal("worker", task:get_name())
    asyncio.await(task)
  end))

  it("runs a task that nobody holds to its end", asyncio.spec(function()
    local fut = asyncio.Future()
    asyncio.create_task(function()
      pass(3)
      fut:set_result("finished")
    end)
    for _ = 1, 3 do
      collectgarbage()
      asyncio.sleep(0)
    end
    assert.equal("finished", asyncio.await(fut))
  end))

  it("with opts.eager runs the first step before returning",
     asyncio.spec(function()
    local add, joined = new_log()
    local inside
    local task = asyncio.create_task(function()
      inside = asyncio.current_task()
      add("A1")
      asyncio.sleep(0)
      add("A2")
      return "a"
    end, { eager = true })
    add("created")
    add("same:" .. tostring(inside == task))
    local quick = asyncio.create_task(function()
      add("Q")
      return "q"
    end, { eager = true })
    add("q.done:" .. tostring(quick:done()) .. ":" .. quick:result())
    add(asyncio.await(task))
    -- CPython 3.12 prints the same order (asyncio.Task(coro, eager_start=True))
    assert.equal("A1 created same:true Q q.done:true:q A2 a", joined())
  end))
end)

describe("asyncio.sleep", function()
  it("returns its value", asyncio.spec(function()
    assert.equal("v", asyncio.sleep(0.001, "v"))
    assert.equal(7, asyncio.sleep(0, 7))
    assert.is_nil(asyncio.sleep(0))
  end))

  it("sleep(0) interleaves tasks round robin", asyncio.spec(function()
    local add, joined = new_log()
    local function worker(name)
      return function()
        for i = 1, 3 do
          add(name .. i)
          asyncio.sleep(0)
        end
      end
    end
    local tasks = {}
    for _, name in ipairs({ "A", "B", "C" }) do
      tasks[#tasks + 1] = asyncio.create_task(worker(name))
    end
    for _, task in ipairs(tasks) do
      asyncio.await(task)
    end
    -- CPython 3.12 prints the same order
    assert.equal("A1 B1 C1 A2 B2 C2 A3 B3 C3", joined())
  end))

  it("wakes sleepers in deadline order", asyncio.spec(function()
    local add, joined = new_log()
    local slow = asyncio.create_task(function()
      asyncio.sleep(20)
      add("slow")
    end)
    local fast = asyncio.create_task(function()
      asyncio.sleep(1)
      add("fast")
    end)
    asyncio.await(slow)
    asyncio.await(fast)
    assert.equal("fast slow", joined())
  end, VIRTUAL))
end)

describe("asyncio.current_task and asyncio.all_tasks", function()
  it("current_task is the running task", asyncio.spec(function()
    local main = asyncio.current_task()
    assert.is_not_nil(main)
    assert.is_string(main:get_name())
    local seen
    local task = asyncio.create_task(function()
      seen = asyncio.current_task()
    end)
    asyncio.await(task)
    assert.equal(task, seen)
    assert.equal(main, asyncio.current_task())
  end))

  it("current_task is nil in a loop callback", asyncio.spec(function()
    local fut = asyncio.Future()
    asyncio.get_running_loop():call_soon(function()
      fut:set_result(asyncio.current_task() == nil)
    end)
    assert.is_true(asyncio.await(fut))
  end))

  it("all_tasks lists the unfinished tasks", asyncio.spec(function()
    local function has(list, x)
      for _, v in ipairs(list) do
        if v == x then return true end
      end
      return false
    end
    local finished = asyncio.create_task(function() end)
    asyncio.await(finished)
    local running = asyncio.create_task(block)
    local all = asyncio.all_tasks()
    assert.is_true(has(all, asyncio.current_task()))
    assert.is_true(has(all, running))
    assert.is_false(has(all, finished))
    running:cancel()
    pcall(asyncio.await, running)
    assert.is_false(has(asyncio.all_tasks(), running))
  end))
end)

describe("asyncio.get_running_loop", function()
  it("raises when no loop is running", function()
    local ok = pcall(asyncio.get_running_loop)
    assert.is_false(ok)
  end)

  it("returns the same loop in every task", asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local task = asyncio.create_task(asyncio.get_running_loop)
    assert.equal(loop, asyncio.await(task))
  end))

  it("has a monotonic time()", asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local t1 = loop:time()
    assert.is_number(t1)
    asyncio.sleep(0.01)
    local t2 = loop:time()
    assert.is_true(t2 > t1)
    assert.is_true(loop:time() >= t2)
  end))

  it("call_soon runs callbacks FIFO with their arguments", asyncio.spec(function(t)
    local loop = asyncio.get_running_loop()
    local add, joined = new_log()
    local done = asyncio.Future()
    local cb = t.expect(function(a, b) add(a .. b) end, 3, "cb")
    loop:call_soon(cb, "a", 1)
    loop:call_soon(cb, "b", 2)
    loop:call_soon(cb, "c", 3)
    loop:call_soon(function() done:set_result() end)
    add("scheduled")
    asyncio.await(done)
    assert.equal("scheduled a1 b2 c3", joined())
  end))

  it("a cancelled handle is never called", asyncio.spec(function(t)
    local loop = asyncio.get_running_loop()
    local done = asyncio.Future()
    local never = t.expect(nil, 0, "cancelled callback")
    loop:call_soon(never):cancel()
    loop:call_later(0.001, never):cancel()
    loop:call_at(loop:time() + 0.001, never):cancel()
    loop:call_later(5, function() done:set_result() end)
    asyncio.await(done)
  end, VIRTUAL))

  it("call_later and call_at run by deadline, then by scheduling order",
     asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local add, joined = new_log()
    local done = asyncio.Future()
    local n = 0
    local function cb(name)
      add(name)
      n = n + 1
      if n == 6 then done:set_result() end
    end
    local now = loop:time()
    loop:call_at(now + 30, cb, "d")
    loop:call_later(20, cb, "c")
    loop:call_at(now + 10, cb, "b1")
    loop:call_at(now + 10, cb, "b2")
    loop:call_at(now + 10, cb, "b3")
    local h = loop:call_at(now + 10, cb, "x")
    loop:call_soon(cb, "a")
    h:cancel()
    asyncio.await(done)
    -- CPython 3.12 prints the same order
    assert.equal("a b1 b2 b3 c d", joined())
  end, VIRTUAL))

  it("create_future returns a pending future", asyncio.spec(function()
    local loop = asyncio.get_running_loop()
    local fut = loop:create_future()
    assert.is_false(fut:done())
    loop:call_later(1, function() fut:set_result(5) end)
    assert.equal(5, asyncio.await(fut))
    assert.is_true(fut:done())
  end, VIRTUAL))
end)

describe("asyncio.Future", function()
  it("set_result then result", asyncio.spec(function()
    local fut = asyncio.Future()
    assert.is_false(fut:done())
    fut:set_result(1, nil, 3)
    assert.is_true(fut:done())
    assert.is_false(fut:cancelled())
    assert.are.same({ n = 3, 1, nil, 3 }, table.pack(fut:result()))
    assert.is_nil(fut:exception())
  end))

  it("set_exception then exception and result", asyncio.spec(function()
    local fut = asyncio.Future()
    local e = { code = 7 }
    fut:set_exception(e)
    assert.is_true(fut:done())
    assert.equal(e, fut:exception())
    local ok, err = pcall(fut.result, fut)
    assert.is_false(ok)
    assert.equal(e, err)
    local ok2, err2 = pcall(asyncio.await, fut)
    assert.is_false(ok2)
    assert.equal(e, err2)
  end))

  it("result and exception of a pending future raise InvalidStateError",
     asyncio.spec(function()
    local fut = asyncio.Future()
    local ok, err = pcall(fut.result, fut)
    assert.is_false(ok)
    assert.is_true(asyncio.InvalidStateError:is(err))
    ok, err = pcall(fut.exception, fut)
    assert.is_false(ok)
    assert.is_true(asyncio.InvalidStateError:is(err))
  end))

  it("set_result and set_exception on a done future raise InvalidStateError",
     asyncio.spec(function()
    local fut = asyncio.Future()
    fut:set_result(1)
    local ok, err = pcall(fut.set_result, fut, 2)
    assert.is_false(ok)
    assert.is_true(asyncio.InvalidStateError:is(err))
    ok, err = pcall(fut.set_exception, fut, "x")
    assert.is_false(ok)
    assert.is_true(asyncio.InvalidStateError:is(err))
    assert.equal(1, fut:result())

    local cancelled = asyncio.Future()
    cancelled:cancel()
    ok, err = pcall(cancelled.set_result, cancelled, 1)
    assert.is_false(ok)
    assert.is_true(asyncio.InvalidStateError:is(err))
  end))

  it("cancel returns true, then false", asyncio.spec(function()
    local fut = asyncio.Future()
    assert.is_true(fut:cancel())
    assert.is_false(fut:cancel())
    assert.is_true(fut:cancelled())
    assert.is_true(fut:done())
    local ok, err = pcall(fut.result, fut)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))
    ok, err = pcall(fut.exception, fut)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))

    local resolved = asyncio.Future()
    resolved:set_result(1)
    assert.is_false(resolved:cancel())
    assert.is_false(resolved:cancelled())
  end))

  it("cancel(msg) puts the message in the CancelledError", asyncio.spec(function()
    local fut = asyncio.Future()
    fut:cancel("stop here")
    local ok, err = pcall(asyncio.await, fut)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))
    assert.matches("stop here", tostring(err), 1, true)
  end))

  it("calls done callbacks via the loop with the future, in registration order",
     asyncio.spec(function(t)
    local add, joined = new_log()
    local fut = asyncio.Future()
    local function cb(name)
      return t.expect(function(f) add(name .. ":" .. tostring(f == fut)) end, 1, name)
    end
    fut:add_done_callback(cb("cb1"))
    fut:add_done_callback(cb("cb2"))
    fut:add_done_callback(cb("cb3"))
    fut:set_result(1)
    add("set")
    fut:add_done_callback(cb("late"))
    add("added-late")
    asyncio.sleep(0)
    add("after-yield")
    -- CPython 3.12 prints the same order
    assert.equal("set added-late cb1:true cb2:true cb3:true late:true after-yield",
                 joined())
  end))

  it("calls done callbacks when cancelled", asyncio.spec(function(t)
    local fut = asyncio.Future()
    local got
    fut:add_done_callback(t.expect(function(f) got = f:cancelled() end, 1))
    fut:cancel()
    asyncio.sleep(0)
    assert.is_true(got)
  end))

  it("remove_done_callback returns how many it removed", asyncio.spec(function(t)
    local fut = asyncio.Future()
    local removed = t.expect(nil, 0, "removed callback")
    local kept = t.expect(nil, 1, "kept callback")
    fut:add_done_callback(removed)
    fut:add_done_callback(kept)
    fut:add_done_callback(removed)
    assert.equal(2, fut:remove_done_callback(removed))
    assert.equal(0, fut:remove_done_callback(removed))
    fut:set_result(true)
    asyncio.sleep(0)
  end))
end)

describe("asyncio.Task", function()
  it("has a default name like Task-<n>, and set_name", asyncio.spec(function()
    local task = asyncio.create_task(function() end)
    assert.matches("^Task%-%d+$", task:get_name())
    task:set_name("renamed")
    assert.equal("renamed", task:get_name())
    asyncio.await(task)
  end))

  it("set_name converts any value with tostring, as asyncio with str",
    asyncio.spec(function()
      local task = asyncio.create_task(function() end)
      task:set_name(42)
      assert.equal("42", task:get_name())
      task:set_name(nil) -- asyncio: set_name(None) names it "None"
      assert.equal("nil", task:get_name())
      task:set_name(setmetatable({}, { __tostring = function() return "t" end }))
      assert.equal("t", task:get_name())
      assert.matches("bad argument #1 to 'set_name' %(value expected%)",
        tostring(support.error_of(function() task:set_name() end)))
      asyncio.await(task)
    end))

  it("cancel raises CancelledError in the task", asyncio.spec(function()
    local add, joined = new_log()
    local task = asyncio.create_task(function()
      local ok, err = pcall(block)
      add(asyncio.CancelledError:is(err) and "inside:cancelled" or "?")
      error(err, 0)
    end)
    asyncio.sleep(0)
    assert.is_true(task:cancel())
    local ok, err = pcall(asyncio.await, task)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))
    assert.is_true(task:cancelled())
    assert.is_true(task:done())
    assert.is_false(task:cancel())
    assert.equal("inside:cancelled", joined())
  end))

  it("cancel before the first step cancels the task", asyncio.spec(function()
    local started = false
    local task = asyncio.create_task(function() started = true end)
    assert.is_true(task:cancel())
    local ok, err = pcall(asyncio.await, task)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))
    assert.is_false(started)
  end))

  it("counts cancel requests with cancelling and uncancel", asyncio.spec(function()
    local add, joined = new_log()
    local task = asyncio.create_task(block)
    asyncio.sleep(0)
    add("cancelling:" .. task:cancelling())
    add("cancel:" .. tostring(task:cancel()))
    add("cancelling:" .. task:cancelling())
    add("cancel2:" .. tostring(task:cancel()))
    add("cancelling:" .. task:cancelling())
    add("uncancel:" .. task:uncancel())
    local ok = pcall(asyncio.await, task)
    add("ok:" .. tostring(ok) .. " cancelled:" .. tostring(task:cancelled()))
    -- CPython 3.12 prints the same order
    assert.equal("cancelling:0 cancel:true cancelling:1 cancel2:true cancelling:2 "
                 .. "uncancel:1 ok:false cancelled:true", joined())
  end))

  it("a task that swallows CancelledError keeps running", asyncio.spec(function()
    local add, joined = new_log()
    local task = asyncio.create_task(function()
      local ok, err = pcall(block)
      add("caught:" .. tostring(asyncio.CancelledError:is(err)))
      asyncio.sleep(0)
      add("still-running")
      return "value"
    end)
    asyncio.sleep(0)
    add("cancel:" .. tostring(task:cancel()))
    local r = asyncio.await(task)
    add("result:" .. r .. " cancelled:" .. tostring(task:cancelled()))
    -- CPython 3.12 prints the same order
    assert.equal("cancel:true caught:true still-running result:value cancelled:false",
                 joined())
  end))

  it("cancel(msg) shows the message inside the task and to its awaiter",
     asyncio.spec(function()
    local inside
    local task = asyncio.create_task(function()
      local ok, err = pcall(block)
      inside = err
      error(err, 0)
    end)
    asyncio.sleep(0)
    task:cancel("stop now")
    local ok, err = pcall(asyncio.await, task)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(inside))
    assert.matches("stop now", tostring(inside), 1, true)
    assert.is_true(asyncio.CancelledError:is(err))
    assert.matches("stop now", tostring(err), 1, true)
  end))

  it("traceback says where a task is suspended", asyncio.spec(function()
    local where
    local task = asyncio.create_task(function()
      where = next_line()
      block()
    end)
    asyncio.sleep(0)
    local tb = task:traceback()
    assert.is_string(tb)
    assert.matches(where, tb, 1, true)
    task:cancel()
    pcall(asyncio.await, task)
  end))

  it("traceback says where a task failed", asyncio.spec(function()
    local function failing_step()
      asyncio.sleep(0)
      error("failed here", 0)
    end
    local task = asyncio.create_task(function()
      failing_step()
      return 1
    end)
    local ok = pcall(asyncio.await, task)
    assert.is_false(ok)
    local tb = task:traceback()
    assert.is_string(tb)
    assert.matches("failing_step", tb, 1, true)
  end))

  it("result and exception of a pending task raise InvalidStateError",
     asyncio.spec(function()
    local task = asyncio.create_task(block)
    local ok, err = pcall(task.result, task)
    assert.is_false(ok)
    assert.is_true(asyncio.InvalidStateError:is(err))
    ok, err = pcall(task.exception, task)
    assert.is_false(ok)
    assert.is_true(asyncio.InvalidStateError:is(err))
    task:cancel()
    pcall(asyncio.await, task)
  end))

  it("result and exception of a cancelled task raise CancelledError",
     asyncio.spec(function()
    local task = asyncio.create_task(block)
    asyncio.sleep(0)
    task:cancel()
    pcall(asyncio.await, task)
    local ok, err = pcall(task.result, task)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))
    ok, err = pcall(task.exception, task)
    assert.is_false(ok)
    assert.is_true(asyncio.CancelledError:is(err))
  end))

  it("result of a failed task re-raises, exception returns the error",
     asyncio.spec(function()
    local task = asyncio.create_task(function()
      asyncio.sleep(0)
      error("x", 0)
    end)
    pcall(asyncio.await, task)
    local ok, err = pcall(task.result, task)
    assert.is_false(ok)
    assert.equal("x", tostring(err))
    assert.equal("x", tostring(task:exception()))
    assert.is_false(task:cancelled())
  end))

  it("a task awaiting itself raises a clear error", asyncio.spec(function()
    local task = asyncio.create_task(function()
      local ok, err = pcall(asyncio.await, asyncio.current_task())
      return ok, tostring(err)
    end)
    local ok, msg = asyncio.await(task)
    assert.is_false(ok)
    assert.matches("itself", msg, 1, true)
  end))
end)

describe("suspending inside Lua constructs", function()
  it("works inside pcall and xpcall", asyncio.spec(function()
    assert.are.same({ true, "v" }, { pcall(asyncio.sleep, 0, "v") })
    local ok, err = pcall(function()
      asyncio.sleep(0.001)
      error("after sleep", 0)
    end)
    assert.is_false(ok)
    assert.equal("after sleep", err)

    local handled
    ok, err = xpcall(function()
      asyncio.sleep(0)
      local inner_ok, v = pcall(function() return asyncio.sleep(0, "nested") end)
      assert.is_true(inner_ok)
      assert.equal("nested", v)
      error("boom", 0)
    end, function(e)
      handled = e
      return "handled: " .. tostring(e)
    end)
    assert.is_false(ok)
    assert.equal("boom", handled)
    assert.equal("handled: boom", err)
  end))

  it("says what to do when a C function stands between the wait and the task",
    asyncio.spec(function()
      local ok, err = pcall(table.sort, { 3, 1, 2 }, function(a, b)
        asyncio.sleep(0)
        return a < b
      end)
      assert.is_false(ok)
      assert.matches("sleep cannot wait here: a C function", tostring(err), 1,
                     true)
      -- The task is unharmed and can still wait.
      assert.equal("after", asyncio.sleep(0, "after"))
    end))

  it("refuses to wait inside the task's own coroutine.wrap", asyncio.spec(function()
    local gen = coroutine.wrap(function()
      local ok, err = pcall(asyncio.sleep, 0)
      coroutine.yield(ok, tostring(err))
    end)
    local ok, err = gen()
    assert.is_false(ok)
    assert.matches("only the task's own coroutine can wait", err, 1, true)
  end))

  it("keeps errors inside a coroutine.wrap local to it", asyncio.spec(function()
    local gen = coroutine.wrap(function()
      coroutine.yield(1)
      error("generator failed", 0)
    end)
    assert.equal(1, gen())
    asyncio.sleep(0)
    local ok, err = pcall(gen)
    assert.is_false(ok)
    assert.equal("generator failed", err)
    assert.equal("ok", asyncio.sleep(0, "ok"))
  end))

  it("lets a user coroutine yield its own values inside a task",
     asyncio.spec(function()
    local add, joined = new_log()
    local gen = coroutine.wrap(function()
      for i = 1, 3 do
        coroutine.yield(i)
      end
      return "end"
    end)
    local other = asyncio.create_task(function()
      for i = 1, 3 do
        add("o" .. i)
        asyncio.sleep(0)
      end
    end)
    for _ = 1, 4 do
      add(gen())
      asyncio.sleep(0)
    end
    asyncio.await(other)
    assert.equal("1 o1 2 o2 3 o3 end", joined())

    local co = coroutine.create(function(a)
      local b = coroutine.yield(a + 1)
      return b * 2
    end)
    assert.are.same({ true, 2 }, { coroutine.resume(co, 1) })
    asyncio.sleep(0)
    assert.are.same({ true, 20 }, { coroutine.resume(co, 10) })
    assert.equal("dead", coroutine.status(co))
  end))
end)
