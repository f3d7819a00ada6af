-- sched.lua: a bare coroutine scheduler in plain PUC Lua 5.4, to show what
-- the benchmark jobs cost without any runtime: a ready list run round-robin
-- and a binary heap of sleepers. Plain Lua has no sleep and no wall clock
-- finer than a second, so the loop waits for the next sleeper by spinning
-- on os.clock() (processor time, which keeps pace with wall time while the
-- process spins).
local M = {}

local clock = os.clock
local create, resume, yield = coroutine.create, coroutine.resume,
                              coroutine.yield

local ready, head, tail = {}, 1, 0 -- FIFO of tasks to resume
local heap, nheap, seq = {}, 0, 0   -- sleepers: {when, seq, task}
local current                       -- the running task

local function wake(t)
  tail = tail + 1
  ready[tail] = t
end

local function earlier(a, b)
  return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2])
end

local function heap_push(e)
  nheap = nheap + 1
  local i = nheap
  while i > 1 do
    local p = i // 2
    if not earlier(e, heap[p]) then break end
    heap[i] = heap[p]
    i = p
  end
  heap[i] = e
end

local function heap_pop()
  local top, last = heap[1], heap[nheap]
  heap[nheap] = nil
  nheap = nheap - 1
  local i = 1
  while true do
    local c = 2 * i
    if c > nheap then break end
    if c < nheap and earlier(heap[c + 1], heap[c]) then c = c + 1 end
    if not earlier(heap[c], last) then break end
    heap[i] = heap[c]
    i = c
  end
  if nheap > 0 then heap[i] = last end
  return top
end

-- Starts fn as a task on the next turn of the loop; returns the task.
function M.spawn(fn)
  local t = {co = create(fn), done = false, result = nil, joiners = nil}
  wake(t)
  return t
end

-- Suspends the running task until t has returned; returns its value.
function M.join(t)
  if not t.done then
    t.joiners = t.joiners or {}
    t.joiners[#t.joiners + 1] = current
    yield()
  end
  return t.result
end

-- Suspends the running task for at least `seconds`; 0 yields one turn.
function M.sleep(seconds)
  if seconds <= 0 then
    wake(current)
  else
    seq = seq + 1
    heap_push({clock() + seconds, seq, current})
  end
  yield()
end

M.now = clock

-- Event: wait() suspends until set() is called.
local Event = {}
Event.__index = Event

function M.Event()
  return setmetatable({flag = false, waiters = {}}, Event)
end

function Event:wait()
  if not self.flag then
    self.waiters[#self.waiters + 1] = current
    yield()
  end
end

function Event:set()
  self.flag = true
  local w = self.waiters
  self.waiters = {}
  for i = 1, #w do wake(w[i]) end
end

-- Queue(maxsize): put() waits while full, get() waits while empty.
local Queue = {}
Queue.__index = Queue

function M.Queue(maxsize)
  return setmetatable({max = maxsize, items = {}, first = 1, last = 0,
                       getters = {}, putters = {}}, Queue)
end

local function wake_one(list)
  local t = table.remove(list, 1)
  if t then wake(t) end
end

function Queue:put(v)
  while self.last - self.first + 1 >= self.max do
    self.putters[#self.putters + 1] = current
    yield()
  end
  self.last = self.last + 1
  self.items[self.last] = v
  wake_one(self.getters)
end

function Queue:get()
  while self.last < self.first do
    self.getters[#self.getters + 1] = current
    yield()
  end
  local v = self.items[self.first]
  self.items[self.first] = nil
  self.first = self.first + 1
  wake_one(self.putters)
  return v
end

local function step(t)
  current = t
  local ok, v = resume(t.co)
  current = nil
  if not ok then error(v, 0) end
  if coroutine.status(t.co) == "dead" then
    t.done, t.result = true, v
    if t.joiners then
      for i = 1, #t.joiners do wake(t.joiners[i]) end
    end
  end
end

-- Runs main as the first task and returns its value once no task is left.
function M.run(main)
  local t = M.spawn(main)
  while true do
    if head > tail then -- nothing ready: wait for the next sleeper
      if nheap == 0 then break end
      while clock() < heap[1][1] do end
    end
    local now = clock()
    while nheap > 0 and heap[1][1] <= now do wake(heap_pop()[3]) end
    local last = tail -- tasks woken during this turn run on the next one
    while head <= last do
      local r = ready[head]
      ready[head] = nil
      head = head + 1
      step(r)
    end
  end
  return t.result
end

return M
