local asyncio = require "asyncio"
local support = require "support"
local pass, new_log = support.pass, support.new_log
local error_of, settle = support.error_of, support.settle

-- A deterministic pseudo-random generator (an LCG): next(n) is in 1..n.
local function lcg(seed)
  local state = seed
  return function(n)
    state = (state * 1103515245 + 12345) % 2147483648
    return state // 65536 % n + 1
  end
end

describe("asyncio.Queue", function()
  it("keeps FIFO order, nil and false items included", asyncio.spec(function()
    local q = asyncio.Queue()
    q:put("a"); q:put(nil); q:put(false); q:put_nowait(nil); q:put("e")
    assert.equal(5, q:qsize())
    local got = table.pack(q:get(), q:get(), q:get(), q:get_nowait(), q:get())
    assert.are.same({ n = 5, "a", nil, false, nil, "e" }, got)
    assert.is_true(q:empty())
  end))

  it("takes any Lua value as an item", asyncio.spec(function()
    local q = asyncio.Queue()
    local t, f, co = {}, function() end, coroutine.create(function() end)
    for _, v in ipairs({ 1, 2.5, "s", t, f, co, q }) do
      q:put_nowait(v)
    end
    for _, v in ipairs({ 1, 2.5, "s", t, f, co, q }) do
      assert.equal(v, q:get_nowait())
    end
  end))

  it("reports qsize, empty, full and maxsize", asyncio.spec(function()
    local q = asyncio.Queue(2)
    assert.equal(2, q:maxsize())
    assert.equal(0, q:qsize())
    assert.is_true(q:empty())
    assert.is_false(q:full())
    q:put(1)
    assert.is_false(q:empty())
    assert.is_false(q:full())
    q:put(2)
    assert.equal(2, q:qsize())
    assert.is_true(q:full())
    q:get()
    assert.is_false(q:full())
    local unbounded = asyncio.Queue()
    assert.equal(0, unbounded:maxsize())
    for i = 1, 1000 do unbounded:put_nowait(i) end
    assert.is_false(unbounded:full())
    local negative = asyncio.Queue(-3) -- unbounded, as maxsize <= 0 is
    assert.equal(-3, negative:maxsize())
    negative:put_nowait(1)
    assert.is_false(negative:full())
  end))

  it("raises QueueFull from put_nowait and QueueEmpty from get_nowait",
     asyncio.spec(function()
    local q = asyncio.Queue(1)
    local err = error_of(q.get_nowait, q)
    assert.is_true(asyncio.QueueEmpty:is(err))
    assert.is_true(asyncio.Error:is(err))
    q:put_nowait("x")
    err = error_of(q.put_nowait, q, "y")
    assert.is_true(asyncio.QueueFull:is(err))
    assert.is_false(asyncio.QueueEmpty:is(err))
    assert.equal(1, q:qsize())
    assert.equal("x", q:get_nowait())
  end))

  it("makes a putter wait while the queue is full", asyncio.spec(function()
    local add, joined = new_log()
    local q = asyncio.Queue(2)
    asyncio.gather(function()
      for i = 1, 5 do
        add("p" .. i .. ">"); q:put(i); add("p" .. i)
      end
    end, function()
      for _ = 1, 5 do
        add("c" .. q:get())
      end
    end)
    -- CPython prints the same order
    assert.equal("p1> p1 p2> p2 p3> c1 c2 p3 p4> p4 p5> c3 c4 p5 c5",
                 joined())
  end))

  it("wakes waiting getters in FIFO order", asyncio.spec(function()
    local add, joined = new_log()
    local q = asyncio.Queue()
    local tasks = {}
    for _, name in ipairs({ "a", "b", "c" }) do
      tasks[#tasks + 1] = asyncio.create_task(function()
        add(name .. ">")
        add(name .. "=" .. q:get())
      end)
    end
    asyncio.sleep(0)
    for i = 1, 3 do q:put_nowait(i) end
    add("put3")
    asyncio.gather(tasks)
    -- CPython prints the same order
    assert.equal("a> b> c> put3 a=1 b=2 c=3", joined())
  end))

  it("checks its arguments", asyncio.spec(function()
    local q = asyncio.Queue()
    assert.matches("bad argument #1 to 'put' %(value expected%)",
                   tostring(error_of(function() q:put() end)))
    assert.matches("asyncio.Queue expected",
                   tostring(error_of(q.get, {})))
    assert.matches("number has no integer representation",
                   tostring(error_of(asyncio.Queue, 1.5)))
  end))

  it("can be made and filled before a loop runs", function()
    local q = asyncio.Queue()
    q:put_nowait("early")
    assert.equal("early", asyncio.run(function() return q:get() end))
  end)
end)

describe("asyncio.LifoQueue", function()
  it("gives the last item put first", asyncio.spec(function()
    local q = asyncio.LifoQueue()
    for _, v in ipairs({ 1, 2, 3 }) do q:put(v) end
    q:put(nil)
    assert.equal(nil, q:get())
    assert.equal(3, q:get())
    q:put(4)
    assert.equal(4, q:get())
    assert.equal(2, q:get_nowait())
    assert.equal(1, q:get())
    assert.is_true(asyncio.QueueEmpty:is(error_of(q.get_nowait, q)))
  end))

  it("applies maxsize and back-pressure like Queue", asyncio.spec(function()
    local q = asyncio.LifoQueue(1)
    q:put("a")
    assert.is_true(q:full())
    assert.is_true(asyncio.QueueFull:is(error_of(q.put_nowait, q, "b")))
    local t = asyncio.create_task(function() q:put("b") end)
    asyncio.sleep(0)
    assert.is_false(t:done())
    assert.equal("a", q:get())
    asyncio.await(t)
    assert.equal("b", q:get())
  end))
end)

describe("asyncio.PriorityQueue", function()
  it("orders numbers, smallest first", asyncio.spec(function()
    local q = asyncio.PriorityQueue()
    for _, v in ipairs({ 5, 1, 4.5, 2, 3, -1 }) do q:put(v) end
    local got = {}
    while not q:empty() do got[#got + 1] = q:get() end
    -- CPython prints the same order
    assert.are.same({ -1, 1, 2, 3, 4.5, 5 }, got)
  end))

  it("orders strings", asyncio.spec(function()
    local q = asyncio.PriorityQueue()
    for _, v in ipairs({ "pear", "apple", "fig" }) do q:put_nowait(v) end
    -- CPython prints the same order
    assert.are.same({ "apple", "fig", "pear" },
                    { q:get(), q:get(), q:get() })
  end))

  it("orders {priority, item} pairs, ties in insertion order",
     asyncio.spec(function()
    local q = asyncio.PriorityQueue()
    local items = { { 2, "b1" }, { 1, "a1" }, { 2, "b2" }, { 3, "c" },
                    { 1, "a2" }, { 2, "b3" }, { 1, "a3" } }
    for _, pair in ipairs(items) do q:put(pair) end
    local got = {}
    for _ = 1, #items do
      local pair = q:get()
      got[#got + 1] = pair[2]
    end
    assert.are.same({ "a1", "a2", "a3", "b1", "b2", "b3", "c" }, got)
  end))

  it("keeps ties in insertion order over many items", asyncio.spec(function()
    local q = asyncio.PriorityQueue()
    local next = lcg(7)
    for i = 1, 200 do q:put({ next(5), i }) end
    local prev = { 0, 0 }
    for _ = 1, 200 do
      local pair = q:get()
      assert.is_true(pair[1] > prev[1] or
                     (pair[1] == prev[1] and pair[2] > prev[2]))
      prev = pair
    end
  end))

  it("refuses items it cannot order", asyncio.spec(function()
    local q = asyncio.PriorityQueue()
    assert.matches("a number, a string or a {priority, item} pair expected",
                   tostring(error_of(q.put, q, true)))
    assert.matches("a number, a string",
                   tostring(error_of(q.put_nowait, q, {})))
    q:put(1)
    assert.matches("cannot be compared",
                   tostring(error_of(q.put, q, "x")))
    assert.equal(1, q:qsize())
    assert.equal(1, q:get())
    q:put("x") -- the queue is empty again: any key type may start
    assert.equal("x", q:get())
  end))
end)

describe("Queue task_done and join", function()
  it("join waits until every item is marked done", asyncio.spec(function()
    local add, joined = new_log()
    local q = asyncio.Queue()
    for i = 0, 2 do q:put_nowait(i) end
    local worker = asyncio.create_task(function()
      while true do
        local v = q:get()
        asyncio.sleep(0)
        add("done" .. v)
        q:task_done()
      end
    end)
    local joiners = {}
    for _, name in ipairs({ "a", "b" }) do
      joiners[#joiners + 1] = asyncio.create_task(function()
        q:join()
        add(name .. ":joined")
      end)
    end
    asyncio.gather(joiners)
    worker:cancel()
    local ok, err = pcall(asyncio.await, worker)
    if not ok and asyncio.CancelledError:is(err) then
      add("worker:cancelled")
    end
    -- CPython prints the same order
    assert.equal("done0 done1 done2 a:joined b:joined worker:cancelled",
                 joined())
  end))

  it("join returns at once when nothing is unfinished", function()
    local q
    asyncio.run(function()
      q = asyncio.Queue()
      q:join()
      q:put(1)
      q:get()
      q:task_done()
      q:join()
    end)
  end)

  it("raises when task_done is called too many times", asyncio.spec(function()
    local q = asyncio.Queue()
    q:put("x")
    q:get()
    q:task_done()
    local err = error_of(q.task_done, q)
    assert.equal("task_done: called more times than there were items put "
                 .. "in the queue", tostring(err))
  end))

  it("a cancelled join leaves the queue usable", asyncio.spec(function()
    local q = asyncio.Queue()
    q:put(1)
    local j = asyncio.create_task(function() q:join() end)
    asyncio.sleep(0)
    j:cancel()
    settle({ j })
    assert.is_true(j:cancelled())
    local j2 = asyncio.create_task(function() q:join(); return "joined" end)
    q:get()
    q:task_done()
    assert.equal("joined", asyncio.await(j2))
  end))
end)

describe("Queue shutdown", function()
  it("makes put raise QueueShutDown and get drain, then raise",
     asyncio.spec(function()
    local q = asyncio.Queue()
    q:put("a"); q:put("b")
    q:shutdown()
    assert.is_true(asyncio.QueueShutDown:is(error_of(q.put, q, "c")))
    assert.is_true(asyncio.QueueShutDown:is(error_of(q.put_nowait, q, "c")))
    assert.equal("a", q:get())
    assert.equal("b", q:get_nowait())
    assert.is_true(asyncio.QueueShutDown:is(error_of(q.get, q)))
    assert.is_true(asyncio.QueueShutDown:is(error_of(q.get_nowait, q)))
    q:shutdown() -- again: nothing changes
  end))

  it("wakes waiting getters and putters with QueueShutDown",
     asyncio.spec(function()
    local add, joined = new_log()
    local q = asyncio.Queue(1)
    local function getter(name)
      return asyncio.create_task(function()
        local ok, err = pcall(q.get, q)
        add(ok and (name .. "=" .. tostring(err)) or
            asyncio.QueueShutDown:is(err) and (name .. ":shutdown") or
            tostring(err))
      end)
    end
    local function putter(name)
      return asyncio.create_task(function()
        local ok, err = pcall(q.put, q, name)
        add(ok and (name .. ":put") or
            asyncio.QueueShutDown:is(err) and (name .. ":shutdown") or
            tostring(err))
      end)
    end
    local getters = { getter("g1"), getter("g2") }
    asyncio.sleep(0)
    q:shutdown()
    asyncio.gather(getters)
    q = asyncio.Queue(1)
    q:put_nowait("x")
    local putters = { putter("p1"), putter("p2") }
    asyncio.sleep(0)
    q:shutdown()
    asyncio.gather(putters)
    add("get=" .. q:get())
    local ok, err = pcall(q.get, q)
    if not ok and asyncio.QueueShutDown:is(err) then add("get:shutdown") end
    -- CPython prints the same order
    assert.equal("g1:shutdown g2:shutdown p1:shutdown p2:shutdown get=x "
                 .. "get:shutdown", joined())
  end))

  it("shutdown(true) drops the items and releases join", asyncio.spec(function()
    local add, joined = new_log()
    local q = asyncio.Queue()
    for i = 0, 2 do q:put_nowait({ i }) end
    local j = asyncio.create_task(function()
      q:join()
      add("joined")
    end)
    asyncio.sleep(0)
    q:shutdown(true)
    add("qsize=" .. q:qsize())
    asyncio.await(j)
    if asyncio.QueueShutDown:is(error_of(q.put_nowait, q, 1)) then
      add("put:shutdown")
    end
    if error_of(q.task_done, q) then add("task_done:error") end
    -- CPython prints the same order
    assert.equal("qsize=0 joined put:shutdown task_done:error", joined())
  end))

  it("shutdown(true) lets the dropped items be collected",
     asyncio.spec(function()
    local q = asyncio.Queue()
    local weak = setmetatable({}, { __mode = "v" })
    for i = 1, 3 do
      local item = {}
      weak[i] = item
      q:put(item)
    end
    q:shutdown(true)
    collectgarbage()
    collectgarbage()
    assert.is_nil(next(weak))
  end))

  it("items got before shutdown(true) still count for join",
     asyncio.spec(function()
    local q = asyncio.Queue()
    q:put(1); q:put(2)
    q:get()
    local j = asyncio.create_task(function() q:join(); return "joined" end)
    asyncio.sleep(0)
    q:shutdown(true) -- drops 2; 1 is still being worked on
    asyncio.sleep(0)
    assert.is_false(j:done())
    q:task_done()
    assert.equal("joined", asyncio.await(j))
  end))
end)

describe("Queue cancellation safety", function()
  it("a getter cancelled while waiting loses no item", asyncio.spec(function()
    local q = asyncio.Queue()
    local a = asyncio.create_task(function() return q:get() end)
    local b = asyncio.create_task(function() return q:get() end)
    asyncio.sleep(0)
    a:cancel()
    asyncio.sleep(0)
    q:put("x")
    assert.equal("x", asyncio.await(b))
    assert.is_true(a:cancelled())
    assert.equal(0, q:qsize())
  end))

  it("a getter woken and cancelled before it ran passes the item on",
     asyncio.spec(function()
    local add, joined = new_log()
    local q = asyncio.Queue()
    local function getter(name)
      return asyncio.create_task(function()
        local ok, v = pcall(q.get, q)
        if ok then
          add(name .. "=" .. v)
        else
          add(name .. ":cancelled")
          error(v, 0)
        end
      end)
    end
    local a, b = getter("a"), getter("b")
    asyncio.sleep(0)
    q:put_nowait("x") -- wakes a
    a:cancel()        -- before a ran
    settle({ a, b })
    add("qsize=" .. q:qsize())
    -- CPython prints the same order
    assert.equal("a:cancelled b=x qsize=0", joined())
  end))

  it("a putter cancelled while waiting inserts nothing", asyncio.spec(function()
    local add, joined = new_log()
    local q = asyncio.Queue(1)
    q:put_nowait("a")
    local function putter(v)
      return asyncio.create_task(function()
        local ok, err = pcall(q.put, q, v)
        if ok then
          add("put " .. v)
        else
          add(v .. ":cancelled")
          error(err, 0)
        end
      end)
    end
    local b, c = putter("b"), putter("c")
    asyncio.sleep(0)
    b:cancel()
    asyncio.sleep(0)
    add("got " .. q:get())
    add("got " .. q:get())
    settle({ b, c })
    add("qsize=" .. q:qsize())
    -- CPython prints the same order
    assert.equal("b:cancelled got a put c got c qsize=0", joined())
  end))

  it("a putter woken and cancelled before it ran passes its turn on",
     asyncio.spec(function()
    local add, joined = new_log()
    local q = asyncio.Queue(1)
    q:put_nowait("a")
    local function putter(v)
      return asyncio.create_task(function()
        local ok, err = pcall(q.put, q, v)
        if ok then
          add("put " .. v)
        else
          add(v .. ":cancelled")
          error(err, 0)
        end
      end)
    end
    local b, c = putter("b"), putter("c")
    asyncio.sleep(0)
    add("got " .. q:get_nowait()) -- wakes b
    b:cancel()                    -- before b ran
    settle({ b, c })
    add("got " .. q:get_nowait())
    add("qsize=" .. q:qsize())
    -- CPython prints the same order
    assert.equal("got a b:cancelled put c got c qsize=0", joined())
  end))

  it("delivers every item exactly once under random cancellations",
     asyncio.spec(function()
    local rand = lcg(2024)
    local q = asyncio.Queue(3)
    local sent, received = {}, {}
    local producers, consumers = {}, {}
    local cancelled = 0

    local function producer(p)
      return asyncio.create_task(function()
        for i = 1, 40 do
          local item = p * 1000 + i
          q:put(item) -- cancelled here: the item was not put
          sent[#sent + 1] = item
          if rand(3) == 1 then asyncio.sleep(0) end
        end
      end)
    end
    local function consumer()
      return asyncio.create_task(function()
        while true do
          local v = q:get() -- before #received is read: others run here
          received[#received + 1] = v
          if rand(2) == 1 then asyncio.sleep(0) end
        end
      end)
    end

    for p = 1, 6 do producers[p] = producer(p) end
    for c = 1, 4 do consumers[c] = consumer() end
    local nextp = 7
    for _ = 1, 300 do
      asyncio.sleep(0)
      local r = rand(6)
      if r == 1 then
        local i = rand(#consumers)
        if consumers[i]:cancel() then cancelled = cancelled + 1 end
        consumers[i] = consumer()
      elseif r == 2 then
        local i = rand(#producers)
        if producers[i]:cancel() then cancelled = cancelled + 1 end
        producers[i] = producer(nextp)
        nextp = nextp + 1
      end
    end
    settle(producers)
    -- The consumers left empty the queue: no item waits while a getter does.
    pass(5)
    assert.is_true(q:empty())
    for _, c in ipairs(consumers) do c:cancel() end
    settle(consumers)
    assert.is_true(cancelled > 20)
    assert.is_true(#sent > 200)
    table.sort(sent)
    table.sort(received)
    assert.are.same(sent, received)
  end))

  it("passes wake-ups on in FIFO order among getters", asyncio.spec(function()
    -- Getters cancelled while waiting and after being woken; each item goes
    -- to exactly one of the others, in the order they began to wait.
    local q = asyncio.Queue()
    local got = {}
    local tasks = {}
    for i = 1, 10 do
      tasks[i] = asyncio.create_task(function()
        local v = q:get()
        got[#got + 1] = i .. "=" .. v
      end)
    end
    asyncio.sleep(0)
    tasks[1]:cancel() -- while waiting
    q:put_nowait("x") -- wakes 2
    tasks[2]:cancel() -- woken, not yet run: will pass its wake-up on, to 4
    q:put_nowait("y") -- wakes 3
    settle({ tasks[1], tasks[2] })
    asyncio.sleep(0)
    -- CPython prints the same order
    assert.are.same({ "3=x", "4=y" }, got)
    for i = 5, 10 do q:put_nowait(i) end
    settle(tasks)
    assert.are.same({ "3=x", "4=y", "5=5", "6=6", "7=7", "8=8", "9=9",
                      "10=10" }, got)
  end))
end)

describe("Queue outside a task", function()
  it("get and put that need not wait work from a callback",
     asyncio.spec(function()
    local q = asyncio.Queue(1)
    local done = asyncio.Future()
    asyncio.get_running_loop():call_soon(function()
      q:put("x")
      done:set_result(q:get())
    end)
    assert.equal("x", asyncio.await(done))
  end))

  it("get and put that would wait raise a clear error from a callback",
     asyncio.spec(function()
    local q = asyncio.Queue(1)
    local done = asyncio.Future()
    asyncio.get_running_loop():call_soon(function()
      local _, e1 = pcall(q.get, q)
      q:put_nowait(1)
      local _, e2 = pcall(q.put, q, 2)
      local _, e3 = pcall(q.join, q)
      done:set_result({ tostring(e1), tostring(e2), tostring(e3) })
    end)
    local errs = asyncio.await(done)
    assert.matches("^get must be called inside a task", errs[1])
    assert.matches("^put must be called inside a task", errs[2])
    assert.matches("^join must be called inside a task", errs[3])
    assert.equal(1, q:qsize())
    -- Nothing was left behind: a getter and a putter work as usual.
    assert.equal(1, q:get())
    q:put(2)
    assert.equal(2, q:get())
  end))

  it("raises a clear error inside a task's own coroutine",
     asyncio.spec(function()
    local q = asyncio.Queue()
    local co = coroutine.wrap(function() return pcall(q.get, q) end)
    local ok, err = co()
    assert.is_false(ok)
    assert.matches("only the task's own coroutine can wait", tostring(err))
  end))

  it("raises a clear error once the loop has closed", function()
    local q
    asyncio.run(function() q = asyncio.Queue() end)
    local err = error_of(q.get, q)
    assert.matches("^get must be called inside a task, and no loop is "
                   .. "running", tostring(err))
    q:put_nowait(1)
    assert.equal(1, q:get())
  end)

  it("cannot wait in a loop other than the first it waited in", function()
    local q
    asyncio.run(function()
      q = asyncio.Queue(1)
      local getter = asyncio.create_task(function() return q:get() end)
      asyncio.sleep(0) -- the getter waits: q is bound to this loop
      q:put("x")
      assert.equal("x", asyncio.await(getter))
    end)
    asyncio.run(function()
      local err = error_of(q.get, q)
      assert.matches("^get: this queue is bound to a different event loop",
                     tostring(err))
      q:put(1) -- no wait needed: fine
      assert.matches("^put: this queue is bound",
                     tostring(error_of(q.put, q, 2)))
      assert.matches("^join: this queue is bound",
                     tostring(error_of(q.join, q)))
      assert.equal(1, q:get())
    end)
  end)
end)
