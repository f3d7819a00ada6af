-- W1 spawn+gather on luv with coroutines: N coroutines, each yields for one
-- turn of the libuv loop and returns its index. A yield for one turn is
-- luvit's setImmediate: one check handle resumes the coroutines queued
-- before the turn (an idle handle keeps the loop from blocking meanwhile).
local uv = require "luv"
local N = tonumber(arg[1]) or 100000

local queue = {}
local check, idle = uv.new_check(), uv.new_idle()

local function run_queue()
  local q = queue
  queue = {}
  for i = 1, #q do assert(coroutine.resume(q[i])) end
  if #queue == 0 then check:stop(); idle:stop() end
end

local function sleep0()
  if #queue == 0 then check:start(run_queue); idle:start(function() end) end
  queue[#queue + 1] = coroutine.running()
  coroutine.yield()
end

-- Runs each function in its own coroutine; returns their results in order.
local function gather(fns)
  local main, results, left = coroutine.running(), {}, #fns
  for i = 1, #fns do
    local co = coroutine.create(function()
      results[i] = fns[i]()
      left = left - 1
      if left == 0 then assert(coroutine.resume(main)) end
    end)
    assert(coroutine.resume(co))
  end
  if left > 0 then coroutine.yield() end
  return results
end

local function job(i)
  sleep0()
  return i
end

local ok = false
coroutine.wrap(function()
  local fns = {}
  for i = 1, N do fns[i] = function() return job(i) end end
  local results = gather(fns)
  for i = 1, N do assert(results[i] == i, "wrong result") end
  ok = true
end)()
uv.run()
assert(ok, "the loop stopped before every job was done")
print(("W1 luv ok n=%d"):format(N))
