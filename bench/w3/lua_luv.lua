-- W3 queue on luv with coroutines: N integers through a bounded queue of
-- 100, one producer and one consumer coroutine. luv has no queue, so this is
-- a small one whose wake-ups go through the libuv loop (luvit's
-- setImmediate: a check handle resumes the coroutines queued before the
-- turn; an idle handle keeps the loop from blocking meanwhile).
local uv = require "luv"
local N = tonumber(arg[1]) or 1000000

local ready = {}
local check, idle = uv.new_check(), uv.new_idle()

local function run_ready()
  local r = ready
  ready = {}
  for i = 1, #r do assert(coroutine.resume(r[i])) end
  if #ready == 0 then check:stop(); idle:stop() end
end

local function wake(co)
  if #ready == 0 then check:start(run_ready); idle:start(function() end) end
  ready[#ready + 1] = co
end

local Queue = {}
Queue.__index = Queue

local function new_queue(maxsize)
  return setmetatable({max = maxsize, items = {}, first = 1, last = 0,
                       getter = nil, putter = nil}, Queue)
end

function Queue:put(v)
  while self.last - self.first + 1 >= self.max do
    self.putter = coroutine.running()
    coroutine.yield()
  end
  self.last = self.last + 1
  self.items[self.last] = v
  if self.getter then wake(self.getter); self.getter = nil end
end

function Queue:get()
  while self.last < self.first do
    self.getter = coroutine.running()
    coroutine.yield()
  end
  local v = self.items[self.first]
  self.items[self.first] = nil
  self.first = self.first + 1
  if self.putter then wake(self.putter); self.putter = nil end
  return v
end

local q, sum, consumed = new_queue(100), 0, 0
local producer = coroutine.create(function()
  for i = 1, N do q:put(i) end
end)
local consumer = coroutine.create(function()
  for _ = 1, N do sum = sum + q:get() end
  consumed = N
end)
wake(producer)
wake(consumer)
uv.run()
assert(consumed == N and sum == N * (N + 1) // 2, "wrong sum")
print(("W3 luv ok n=%d sum=%d"):format(N, sum))
