-- W3 queue on cqueues: N integers through a bounded queue of 100 built on
-- two cqueues conditions, one producer and one consumer coroutine.
local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local N = tonumber(arg[1]) or 1000000

local Queue = {}
Queue.__index = Queue

local function new_queue(maxsize)
  return setmetatable({max = maxsize, items = {}, first = 1, last = 0,
                       nonempty = condition.new(), nonfull = condition.new()},
                      Queue)
end

function Queue:put(v)
  while self.last - self.first + 1 >= self.max do self.nonfull:wait() end
  self.last = self.last + 1
  self.items[self.last] = v
  self.nonempty:signal(1)
end

function Queue:get()
  while self.last < self.first do self.nonempty:wait() end
  local v = self.items[self.first]
  self.items[self.first] = nil
  self.first = self.first + 1
  self.nonfull:signal(1)
  return v
end

local cq = cqueues.new()
local q, sum, consumed = new_queue(100), 0, 0
cq:wrap(function()
  for i = 1, N do q:put(i) end
end)
cq:wrap(function()
  for _ = 1, N do sum = sum + q:get() end
  consumed = N
end)
assert(cq:loop())
assert(consumed == N and sum == N * (N + 1) // 2, "wrong sum")
print(("W3 cqueues ok n=%d sum=%d"):format(N, sum))
