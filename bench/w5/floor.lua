-- W5's floor in plain Lua: N coroutines, each a fresh closure over its
-- index, suspended in a C function (coroutine.yield) and kept in a table:
-- what the W5 program costs per task before any runtime adds its own.
-- Run it with the luaio command (its allocator) or lua5.4, as for W5:
--   b=$(build-bench/luaio bench/w5/floor.lua 0)
--   build-bench/luaio bench/w5/floor.lua 100000 "$b"
local N = tonumber(arg[1]) or 100000
local BASE = tonumber(arg[2])

local function vmhwm_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s*(%d+) kB")
    if kb then return tonumber(kb) end
  end
end

local waiting, cos, yield = 0, {}, coroutine.yield
for i = 1, N do
  local co = coroutine.create(function()
    waiting = waiting + 1
    yield()
    return i
  end)
  cos[i] = co
  assert(coroutine.resume(co))
end
assert(waiting == N, "not every coroutine is waiting")
local kb = vmhwm_kb()
for i = 1, N do
  local ok, v = coroutine.resume(cos[i])
  assert(ok and v == i, "wrong result")
end
if BASE and N > 0 then
  print(("W5 floor %d bytes/task n=%d vmhwm_kb=%d base_kb=%d"):format(
    (kb - BASE) * 1024 // N, N, kb, BASE))
else
  print(kb)
end
