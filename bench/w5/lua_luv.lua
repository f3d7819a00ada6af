-- W5 memory on luv with coroutines: N coroutines suspended on one event (a
-- list of waiting coroutines that set() wakes through the libuv loop).
-- Prints VmHWM (peak RSS) once they all wait; given the VmHWM of an N=0 run,
-- bytes per task. Usage: lua5.4 lua_luv.lua [N [baseline_kB]]
local uv = require "luv"
local N = tonumber(arg[1]) or 100000
local BASE = tonumber(arg[2])

local function vmhwm_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s*(%d+) kB")
    if kb then return tonumber(kb) end
  end
end

local Event = {}
Event.__index = Event

function Event:wait()
  self.waiters[#self.waiters + 1] = coroutine.running()
  coroutine.yield()
end

function Event:set() -- resumes the waiters on the next turn of the loop
  local idle, w = uv.new_idle(), self.waiters
  self.waiters = {}
  idle:start(function()
    idle:close()
    for i = 1, #w do assert(coroutine.resume(w[i])) end
  end)
end

local ev = setmetatable({waiters = {}}, Event)
local results, waiting = {}, 0
for i = 1, N do
  local co = coroutine.create(function()
    waiting = waiting + 1
    ev:wait()
    results[i] = i
  end)
  assert(coroutine.resume(co))
end
assert(waiting == N, "not every task is waiting")
local kb = vmhwm_kb()
ev:set()
uv.run()
for i = 1, N do assert(results[i] == i, "wrong result") end
if BASE and N > 0 then
  print(("W5 luv %d bytes/task n=%d vmhwm_kb=%d base_kb=%d"):format(
    (kb - BASE) * 1024 // N, N, kb, BASE))
else
  print(("W5 luv %d kB n=%d"):format(kb, N))
end
