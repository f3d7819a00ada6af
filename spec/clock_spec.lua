-- clock_spec.lua - the loop's clock: asyncio.Clock, asyncio.run's clock
-- option, asyncio.spec's t.clock and `luaio --virtual-time`. A virtual clock
-- jumps to the next deadline once nothing else can happen, never while real
-- work (a thread job, a file operation, a subprocess) is under way; a manual
-- clock moves only when jumped.
local asyncio = require "asyncio"
local support = require "support"

local VALGRIND = os.getenv("LUAIO_VALGRIND") == "1"
-- How much the real-clock runs below scale their delays down: under
-- valgrind, ten times less, so that the gaps between events stay far
-- above the time a step takes there.
local SCALE = VALGRIND and 10 or 1

-- Runs body(log) as a main task on clock and returns the events it logged,
-- each "name@time" with time rounded to `unit` (1 by default).
local function events(clock, body, unit)
  unit = unit or 1
  local log = {}
  local function add(name)
    local now = asyncio.get_running_loop():time()
    log[#log + 1] = ("%s@%d"):format(name, math.floor(now / unit + 0.5))
  end
  asyncio.run(function() body(add, unit) end, { clock = clock })
  return table.concat(log, " ")
end

-- The events' names, without their times: what a run on the real clock,
-- which is never quite on time, must give in the same order.
local function names(log)
  return (log:gsub("@%d+", ""))
end

-- {======================================================================
-- Long waits, at once, in the order the real clock gives
-- =======================================================================

-- An hour's sleep beside a task that ticks every 1000 s; every delay is
-- a multiple of `unit` seconds, so the real clock runs it scaled down.
local function hour(add, unit)
  local start = asyncio.get_running_loop():time()
  local function at(t) return start + t * unit end
  local ticker = asyncio.create_task(function()
    for _ = 1, 4 do
      asyncio.sleep(1000 * unit)
      add("tick")
    end
  end)
  add("sleep")
  asyncio.sleep(3600 * unit)
  add("woke")
  asyncio.await(ticker)
  assert(asyncio.get_running_loop():time() >= at(4000))
end

-- A 30 s wait_for whose inner sleep lasts 100 s: the timeout cancels it.
local function timeout30(add, unit)
  local ok, err = pcall(asyncio.wait_for, asyncio.create_task(function()
    local ok2, err2 = pcall(asyncio.sleep, 100 * unit)
    add(ok2 and "inner-finished" or "inner-cancelled")
    error(err2, 0)
  end), 30 * unit)
  assert(not ok and asyncio.TimeoutError:is(err), tostring(err))
  add("timeout")
end

describe("a virtual clock", function()
  it("sleeps an hour at once, in the real clock's order", function()
    local virtual = events("virtual", hour)
    assert.equal("sleep@0 tick@1000 tick@2000 tick@3000 woke@3600 tick@4000",
                 virtual)
    -- The same body on the real clock, 10,000 times faster: 0.4 s.
    assert.equal(names(virtual), names(events("real", hour, 1e-4 * SCALE)))
  end)

  it("times a 30 s wait_for out at 30 s, as the real clock does", function()
    local virtual = events("virtual", timeout30)
    assert.equal("inner-cancelled@30 timeout@30", virtual)
    assert.equal(names(virtual),
                 names(events("real", timeout30, 1e-3 * SCALE)))
  end)

  it("leaves the clock where the last deadline was", function()
    local clock = asyncio.Clock("virtual")
    events(clock, hour)
    assert.equal(4000, clock:time())
    -- A clock keeps its time between runs, and its loop starts there.
    asyncio.run(function()
      assert.equal(4000, asyncio.get_running_loop():time())
      asyncio.sleep(0.5)
    end, { clock = clock })
    assert.equal(4000.5, clock:time())
  end)

  it("fires timers that tie in the order they were armed", function()
    local log = events("virtual", function(add)
      local loop = asyncio.get_running_loop()
      local tasks = {}
      for _, name in ipairs { "a", "b", "c" } do
        tasks[#tasks + 1] = asyncio.create_task(function()
          asyncio.sleep(5)
          add(name)
        end)
        loop:call_at(5, function()
          add("at-" .. name)
          -- Scheduled by a timer: runs after the other timers due now.
          loop:call_soon(add, "soon-" .. name)
        end)
      end
      loop:call_later(5, add, "later")
      asyncio.wait(tasks)
      asyncio.sleep(0)
    end)
    -- The tasks' first steps arm their sleeps after the three call_at.
    assert.equal("at-a@5 at-b@5 at-c@5 later@5 a@5 b@5 c@5 soon-a@5 "
                 .. "soon-b@5 soon-c@5", log)
  end)

  -- {====================================================================
  -- A day of a queue with five workers
  -- ====================================================================

  -- Pseudo-random numbers, the same on every run (a 31-bit LCG).
  local function lcg(seed)
    local x = seed
    return function(lo, hi)
      x = (1103515245 * x + 12345) % 2147483648
      return lo + (hi - lo) * (x / 2147483648)
    end
  end

  -- The day as a model: job i arrives at arrival[i] and starts once a
  -- worker is free (first come, first served), finishing service[i] later.
  local function model(arrival, service, nworkers)
    local free, finish = {}, {}
    for w = 1, nworkers do free[w] = 0 end
    for i = 1, #arrival do
      table.sort(free)
      local start = math.max(arrival[i], free[1])
      finish[i] = start + service[i]
      free[1] = finish[i]
    end
    return finish
  end

  it("runs a day of a queue with workers, as the model says", function()
    local hours = VALGRIND and 1 or 24
    local rand = lcg(42)
    local arrival, service, t = {}, {}, 0
    while true do
      t = t + rand(1, 6) -- arrivals every few seconds
      if t > hours * 3600 then break end
      arrival[#arrival + 1] = t
      service[#service + 1] = rand(5, 20) -- five workers keep up
    end
    local finished = {}
    asyncio.run(function()
      local loop = asyncio.get_running_loop()
      local q = asyncio.Queue()
      local workers = {}
      for w = 1, 5 do
        workers[w] = asyncio.create_task(function()
          while true do
            local i = q:get()
            if i == nil then return end
            asyncio.sleep(service[i])
            finished[i] = loop:time()
          end
        end)
      end
      local prev = 0
      for i = 1, #arrival do
        asyncio.sleep(arrival[i] - prev)
        prev = loop:time()
        q:put(i)
      end
      for _ = 1, 5 do q:put(nil) end
      asyncio.wait(workers)
    end, { clock = "virtual" })
    local expected = model(arrival, service, 5)
    assert.is_true(#arrival > 800 * hours)
    for i = 1, #arrival do
      assert(math.abs(finished[i] - expected[i]) < 1e-6,
             ("job %d finished at %s, the model says %s")
             :format(i, finished[i], expected[i]))
    end
  end)

  -- }====================================================================

  -- {====================================================================
  -- Real work holds the clock
  -- ====================================================================

  -- Logs "done" when work(add) returns, beside a timer `after` seconds
  -- away: the clock must wait for the work, so "done" comes first, at 0.
  local function holds(after, work)
    return events("virtual", function(add)
      local timer = asyncio.create_task(function()
        asyncio.sleep(after)
        add("timer")
      end)
      work(add)
      add("done")
      asyncio.await(timer)
    end)
  end

  it("never jumps while a thread job runs", function()
    assert.equal("done@0 timer@10", holds(10, function()
      asyncio.to_thread(function()
        local t0 = os.clock()
        while os.clock() - t0 < 0.03 do end -- 30 ms of work
      end)
    end))
  end)

  it("never jumps while a subprocess runs", function()
    assert.equal("done@0 timer@1", holds(1, function()
      asyncio.create_subprocess_exec("sleep", { "0.05" }):wait()
    end))
  end)

  it("never jumps while a file operation is under way", function()
    local path = os.tmpname()
    assert.equal("written@0 done@0 timer@1", holds(1, function(add)
      asyncio.fs.write_file(path, ("x"):rep(1 << 22))
      add("written")
      assert.equal(1 << 22, #asyncio.fs.read_file(path))
    end))
    os.remove(path)
  end)

  it("jumps while a peer in the program waits before writing", function()
    local log = events("virtual", function(add)
      local server = asyncio.start_server(function(reader, writer)
        add("got " .. reader:readline():sub(1, -2))
        writer:close()
      end, "127.0.0.1", 0)
      local reader, writer = asyncio.open_connection("127.0.0.1",
                                                     server:port())
      asyncio.sleep(60) -- the server's read does not hold the clock
      writer:write("late\n")
      assert.equal("", reader:read())
      writer:close()
      server:close()
      server:wait_closed()
      add("done")
    end)
    assert.equal("got late@60 done@60", log)
  end)

  -- A writer whose peer in the program reads only after a minute: the write
  -- waits on the peer, which waits on the clock. Run in a child luaio under
  -- `timeout`, as a clock held by the write would hang it.
  it("jumps while a write waits for a peer in the program", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local loop = asyncio.get_running_loop()
        local big = ("x"):rep(1 << 24) -- more than the socket buffers take
        local server = asyncio.start_server(function(_, writer)
          writer:write(big)
          writer:write_eof()
          writer:drain()
          print("drained at " .. loop:time())
          writer:close()
        end, "127.0.0.1", 0)
        local reader, writer = asyncio.open_connection("127.0.0.1",
                                                       server:port())
        asyncio.sleep(60)
        print(("read %d bytes at %s"):format(#reader:read(), loop:time()))
        writer:close()
        server:close()
        server:wait_closed()
      end)
    ]])
    f:close()
    local p = io.popen(("timeout -k 5 30 %s --virtual-time %s")
                       :format(os.getenv("LUAIO_BIN"), path))
    local out = p:read("a")
    local ok = p:close()
    os.remove(path)
    assert.is_true(ok)
    assert.equal("drained at 60.0\nread 16777216 bytes at 60.0\n", out)
  end)

  it("jumps over real work once its autojump threshold passes", function()
    local clock = asyncio.Clock("virtual", { autojump_threshold = 0 })
    local log = events(clock, function(add)
      local released = false
      asyncio.create_task(function()
        asyncio.sleep(10)
        released = true
        add("timer")
      end)
      -- The subprocess outlives the timer: only a jump lets the timer run.
      local p = asyncio.create_subprocess_exec("sleep", { "0.2" })
      asyncio.sleep(11)
      assert.is_true(released)
      p:wait()
      add("exit")
    end)
    assert.equal("timer@10 exit@11", log)
  end)

  -- }====================================================================
end)

describe("a manual clock", function()
  it("fires nothing until jumped, then what is due, in order",
     asyncio.spec(function(t)
    local add, joined = support.new_log()
    local loop = asyncio.get_running_loop()
    for _, d in ipairs { 5, 2, 2, 1 } do
      asyncio.create_task(function()
        asyncio.sleep(d)
        add(d .. "@" .. loop:time())
      end)
    end
    support.pass(5)
    assert.equal("", joined())
    assert.equal(0, t.clock:time())
    t.clock:jump(1.5)
    support.pass(2)
    assert.equal("1@1.5", joined())
    t.clock:jump(0.5)
    support.pass(2)
    assert.equal("1@1.5 2@2.0 2@2.0", joined())
    t.clock:jump(100)
    support.pass(2)
    assert.equal("1@1.5 2@2.0 2@2.0 5@102.0", joined())
    assert.equal(102, loop:time())
  end, { clock = "manual" }))

  it("refuses to go back", asyncio.spec(function(t)
    local err = support.error_of(function() t.clock:jump(-1) end)
    assert.matches("jump: a clock never goes back", tostring(err))
    err = support.error_of(function() t.clock:jump(0 / 0) end)
    assert.matches("bad argument #1 to 'jump'", tostring(err))
    assert.equal(0, t.clock:time())
  end, { clock = "manual" }))

  it("is a deadlock when nothing jumps it", function()
    local ok, err = pcall(asyncio.run, function()
      asyncio.sleep(1)
    end, { clock = "manual" })
    assert.is_false(ok)
    assert.matches("deadlock", tostring(err))
  end)

  it("runs with real time at a rate", asyncio.spec(function(t)
    t.clock.rate = 1000 -- a 10 s sleep lasts about 10 ms
    assert.equal(1000, t.clock.rate)
    asyncio.sleep(10)
    assert.is_true(t.clock:time() >= 10)
    t.clock.rate = 0
  end, { clock = "manual" }))
end)

describe("asyncio.Clock", function()
  it("is made with a kind and settings", function()
    local c = asyncio.Clock()
    assert.equal("virtual", c.kind)
    assert.equal(0, c.rate)
    assert.equal(math.huge, c.autojump_threshold)
    assert.equal(0, c:time())
    c:jump(2)
    assert.equal(2, c:time())
    c = asyncio.Clock("manual", { rate = 2 })
    assert.equal("manual", c.kind)
    assert.equal(2, c.rate)
    assert.matches("asyncio.Clock %(manual", tostring(c))
  end)

  it("rejects bad settings with the name of what is wrong", function()
    local c = asyncio.Clock("virtual")
    assert.matches("invalid option 'sundial'",
                   support.error_of(asyncio.Clock, "sundial"))
    assert.matches("non%-negative",
                   support.error_of(function() c.rate = -1 end))
    assert.matches("non%-negative",
                   support.error_of(function() c.autojump_threshold = 0 / 0 end))
    assert.matches("only a virtual clock", support.error_of(function()
      asyncio.Clock("manual").autojump_threshold = 1
    end))
    assert.matches("no settable field 'speed'",
                   support.error_of(function() c.speed = 2 end))
    assert.matches('the clock option must be "real", "manual", "virtual" '
                   .. "or an asyncio.Clock, got hourglass", support.error_of(
      asyncio.run, function() end, 1, { clock = "hourglass" }), 1, true)
    assert.matches("or an asyncio.Clock, got 60", support.error_of(
      asyncio.run, function() end, { clock = 60 }), 1, true)
  end)

  it("lets asyncio.run pass other tables to main", function()
    local got = asyncio.run(function(a, b) return a.clock .. b.x end,
                            { clock = "x" }, { x = 1 })
    assert.equal("x1", got)
  end)

  it("is on the spec context only when asked for", asyncio.spec(function(t)
    assert.is_nil(t.clock)
  end))
end)

describe("luaio --virtual-time", function()
  it("runs asyncio.run on a virtual clock", function()
    local bin = os.getenv("LUAIO_BIN")
    local p = io.popen(bin .. [[ --virtual-time -e "asyncio.run(function()
      asyncio.sleep(86400)
      print(asyncio.get_running_loop():time())
    end)"]])
    local out = p:read("a")
    assert.is_true(p:close())
    assert.equal("86400.0\n", out)
  end)
end)
