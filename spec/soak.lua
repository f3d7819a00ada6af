-- soak.lua - `make soak`: waves of work, each followed by a reading of the
-- process's resident memory, Lua heap and open descriptors; fails if any of
-- them grows past a bound after the warm-up waves. Not part of `make test`.
--
-- Over SOAK_WAVES waves (default 20) it runs SOAK_SEEDS random mixes per
-- wave (spec/mix.lua), and in all 10^6 tasks (sleeping, failing, cancelled,
-- gathered), 10^4 TCP connections (50 at a time) and 10^3 subprocesses (10
-- at a time). SOAK_PARTS (say "tasks,conns") runs only some of these parts.
-- Run from the source tree: luaio spec/soak.lua.
local here = (arg and arg[0] or "spec/soak.lua"):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path

local asyncio = require "asyncio"
local count_fds = require("support").count_fds
local mix = require "mix"

local WAVES = tonumber(os.getenv("SOAK_WAVES") or "20")
local SEEDS = tonumber(os.getenv("SOAK_SEEDS") or "5")
local WARMUP = 3
-- Which parts run (all by default): any of mix, tasks, conns, procs.
local PARTS = {}
for part in (os.getenv("SOAK_PARTS") or "mix,tasks,conns,procs"):gmatch("%a+") do
  PARTS[part] = true
end
-- SOAK_SCALE (default 1) scales the totals, for a quick look under a tool.
local SCALE = tonumber(os.getenv("SOAK_SCALE") or "1")
local TASKS = math.floor(10 ^ 6 * SCALE) // WAVES
local CONNS = math.floor(10 ^ 4 * SCALE) // WAVES
local PROCS = math.floor(10 ^ 3 * SCALE) // WAVES
-- Growth allowed after the warm-up, over the largest warm-up reading.
local RSS_SLACK_KB, HEAP_SLACK_KB, FD_SLACK = 16 * 1024, 2 * 1024, 0

local function rss_kb()
  local f = assert(io.open("/proc/self/statm"))
  local pages = f:read("n")
  pages = f:read("n")
  f:close()
  return pages * 4
end

-- Tasks in batches: a third sleep, a third fail, a third are cancelled.
local function tasks_wave(n)
  local batch = 10000
  for first = 1, n, batch do
    local list, sleepers = { return_exceptions = true }, {}
    for i = first, math.min(n, first + batch - 1) do
      local k = i % 3
      local t = asyncio.create_task(function()
        asyncio.sleep(0)
        if k == 1 then error("task " .. i .. " failed") end
        if k == 2 then asyncio.sleep(60) end
        return i
      end)
      list[#list + 1] = t
      if k == 2 then sleepers[#sleepers + 1] = t end
    end
    asyncio.sleep(0)
    asyncio.sleep(0)
    for _, t in ipairs(sleepers) do t:cancel() end
    local results = asyncio.gather(list)
    assert(#results == #list)
    -- Each batch starts from a collected heap, so that a wave's peak
    -- depends on the batch, not on where the collector's cycle fell.
    list, sleepers, results = nil, nil, nil
    collectgarbage()
  end
end

local function conns_wave(n)
  local server = asyncio.start_server(function(r, w)
    local line = r:readline()
    w:write(line)
    w:close()
  end, "127.0.0.1", 0)
  local port = server:port()
  for first = 1, n, 50 do
    local list = {}
    for i = first, math.min(n, first + 49) do
      list[#list + 1] = function()
        local r, w = asyncio.open_connection("127.0.0.1", port)
        w:write("line " .. i .. "\n")
        assert(r:readline() == "line " .. i .. "\n")
        w:close()
        w:wait_closed()
      end
    end
    asyncio.gather(list)
  end
  server:close()
  server:wait_closed()
end

local function procs_wave(n)
  for first = 1, n, 10 do
    local list = {}
    for i = first, math.min(n, first + 9) do
      list[#list + 1] = function()
        local p = asyncio.create_subprocess_exec("echo", { tostring(i) },
                                                 { stdout = asyncio.PIPE })
        local out = p:communicate()
        assert(out == i .. "\n", out)
        assert(p:wait() == 0)
      end
    end
    asyncio.gather(list)
  end
end

local function reading()
  collectgarbage()
  collectgarbage()
  return rss_kb(), math.floor(collectgarbage("count")), count_fds()
end

local limits
local failed = false
print(("%-6s %10s %10s %5s %8s"):format("wave", "rss KiB", "heap KiB", "fds",
                                         "seconds"))
for wave = 1, WAVES do
  local t0 = os.time()
  for s = 1, PARTS.mix and SEEDS or 0 do
    local seed = wave * 1000 + s
    local puts, gets, tasks = mix(seed)
    assert(puts == gets, ("seed %d: %d put, %d taken"):format(seed, puts, gets))
    for _, t in ipairs(tasks) do assert(t:done(), "seed " .. seed) end
  end
  asyncio.run(function()
    if PARTS.tasks then tasks_wave(TASKS) end
    if PARTS.conns then conns_wave(CONNS) end
    if PARTS.procs then procs_wave(PROCS) end
  end)
  local rss, heap, fds = reading()
  local note = ""
  if wave <= WARMUP then
    limits = limits or { rss = 0, heap = 0, fds = 0 }
    limits.rss = math.max(limits.rss, rss)
    limits.heap = math.max(limits.heap, heap)
    limits.fds = math.max(limits.fds, fds)
    note = "warm-up"
  else
    local over = {}
    if rss > limits.rss + RSS_SLACK_KB then over[#over + 1] = "rss" end
    if heap > limits.heap + HEAP_SLACK_KB then over[#over + 1] = "heap" end
    if fds > limits.fds + FD_SLACK then over[#over + 1] = "fds" end
    if #over > 0 then
      failed = true
      note = "GREW: " .. table.concat(over, ", ")
    end
  end
  print(("%-6d %10d %10d %5d %8d  %s"):format(wave, rss, heap, fds,
                                             os.time() - t0, note))
  io.stdout:flush()
end
print(("%d waves: %d tasks, %d connections, %d subprocesses, %d mixes"):format(
  WAVES, TASKS * WAVES, CONNS * WAVES, PROCS * WAVES, SEEDS * WAVES))
if failed then
  io.stderr:write("soak: memory or descriptors grew past their bound\n")
  os.exit(1)
end
print("soak: no growth past the bounds after warm-up")
