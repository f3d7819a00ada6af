-- mix.lua - one seeded random mix of every kind of wait, with
-- cancellations, time limits and failures falling anywhere: tasks, queues,
-- locks, events, semaphores, conditions, gather, TaskGroup, timeouts,
-- shield, to_thread and TCP. Shared by spec/stress_spec.lua and
-- spec/soak.lua (make soak).
local asyncio = require "asyncio"

-- Runs one mix; returns the items put, the items taken, and the tasks.
local function mix(seed)
  local state = seed
  -- A small generator of its own, so that the mix does not depend on
  -- math.random's sequence nor disturb it.
  local function rand(a, b)
    state = (state * 1103515245 + 12345) % 2147483648
    local x = state / 2147483648
    if a == nil then return x end
    if b == nil then a, b = 1, a end
    return a + math.floor(x * (b - a + 1))
  end
  local puts, gets, tasks = 0, 0, {}
  local function timed(fn, limit, ...)
    local args = table.pack(...)
    return pcall(asyncio.wait_for, asyncio.async(function()
      return fn(table.unpack(args, 1, args.n))
    end)(), limit)
  end
  asyncio.run(function()
    local q = asyncio.Queue(rand(1, 5))
    local lifo, prio = asyncio.LifoQueue(), asyncio.PriorityQueue(rand(0, 3))
    local lock, ev = asyncio.Lock(), asyncio.Event()
    local sem, cond = asyncio.Semaphore(rand(1, 3)), asyncio.Condition()
    local server = asyncio.start_server(function(r, w)
      pcall(function()
        while true do
          local line = r:readline()
          if line == "" then break end
          w:write(line)
          if rand(10) == 1 then w:drain() end
        end
      end)
      w:close()
    end, "127.0.0.1", 0)
    local port = server:port()
    local op
    local ops = {
      function() asyncio.sleep(rand() * 0.002) end,
      function()
        if timed(q.put, rand() * 0.003, q, rand(100)) then puts = puts + 1 end
      end,
      function()
        if timed(q.get, rand() * 0.003, q) then gets = gets + 1 end
      end,
      function() lock:with(asyncio.sleep, 0) end,
      function() if rand(2) == 1 then ev:set() else ev:clear() end end,
      function() timed(ev.wait, rand() * 0.002, ev) end,
      function() sem:with(asyncio.sleep, rand() * 0.001) end,
      function(depth)
        local list = { return_exceptions = rand(2) == 1 }
        for i = 1, rand(0, 4) do
          list[i] = asyncio.create_task(function() return op(depth + 1) end)
        end
        pcall(asyncio.gather, list)
      end,
      function(depth)
        pcall(asyncio.TaskGroup, function(tg)
          for _ = 1, rand(0, 3) do
            tg:create_task(function()
              op(depth + 1)
              if rand(8) == 1 then error("a child failed") end
            end)
          end
        end)
      end,
      function()
        pcall(asyncio.timeout, rand() * 0.002, function()
          asyncio.sleep(rand() * 0.004)
        end)
      end,
      function()
        local t = asyncio.create_task(function()
          asyncio.sleep(rand() * 0.002)
          return 1
        end)
        pcall(asyncio.await, asyncio.shield(t))
      end,
      function()
        cond:with(function()
          if rand(2) == 1 then cond:notify_all()
          else timed(cond.wait, 0.001, cond) end
        end)
      end,
      function()
        lifo:put_nowait(rand(10))
        assert(lifo:get_nowait() ~= nil)
        pcall(prio.put_nowait, prio, rand(10))
        pcall(prio.get_nowait, prio)
      end,
      function()
        for _ = 1, rand(1, 3) do
          local t = tasks[rand(math.max(1, #tasks))]
          if t then t:cancel("mixed in") end
        end
      end,
      function()
        assert(asyncio.to_thread(function(x) return x + 1 end, 1) == 2)
      end,
      function()
        local ok, r, w = pcall(asyncio.open_connection, "127.0.0.1", port)
        if not ok then return end
        for _ = 1, rand(1, 5) do
          w:write(("x"):rep(rand(1, 3000)) .. "\n")
          if rand(3) == 1 then timed(r.readline, rand() * 0.003, r) end
        end
        if rand(2) == 1 then w:close() else w:abort() end
      end,
    }
    op = function(depth)
      local k = rand(#ops)
      if depth >= 3 and (k == 8 or k == 9) then k = 1 end
      ops[k](depth)
    end
    for i = 1, 150 do
      tasks[i] = asyncio.create_task(function()
        for _ = 1, rand(1, 20) do op(0) end
      end)
    end
    tasks.return_exceptions = true
    asyncio.gather(tasks)
    while not q:empty() do
      q:get_nowait()
      gets = gets + 1
    end
    server:close()
    server:wait_closed()
  end)
  return puts, gets, tasks
end

return mix
