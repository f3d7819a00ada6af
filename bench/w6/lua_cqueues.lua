-- W6 to_thread on cqueues: a CPU-bound checksum loop run twice, first
-- serially on the controller's thread, then in two cqueues.thread threads
-- at once (each with a Lua state of its own, answering over its socket).
-- Prints the speedup of the second way over the first.
local cqueues = require "cqueues"
local thread = require "cqueues.thread"
local N = tonumber(arg[1]) or 10000000

local function checksum(seed, n)
  local x = seed
  for i = 1, n do x = (x * 31 + i) % 1000000007 end
  return x
end

-- Runs fn(...) in a new thread; suspends the coroutine until it answers.
-- The thread gets fn as a binary chunk; arguments cross as strings.
local function to_thread(fn, ...)
  local thr, con = thread.start(function(con, code, ...)
    local args = {...}
    for i = 1, #args do args[i] = tonumber(args[i]) or args[i] end
    con:write(tostring(load(code)(table.unpack(args))), "\n")
  end, string.dump(fn), ...)
  local answer = con:read("*l")
  assert(thr:join())
  con:close()
  return tonumber(answer)
end

local cq = cqueues.new()
local line
cq:wrap(function()
  local t0 = cqueues.monotime()
  local a, b = checksum(1, N), checksum(2, N)
  local t1 = cqueues.monotime()
  local r, left, main_done = {}, 2, require("cqueues.condition").new()
  for seed = 1, 2 do
    cq:wrap(function()
      r[seed] = to_thread(checksum, seed, N)
      left = left - 1
      if left == 0 then main_done:signal() end
    end)
  end
  while left > 0 do main_done:wait() end
  local t2 = cqueues.monotime()
  assert(r[1] == a and r[2] == b, "threads and serial runs disagree")
  local serial, threads = t1 - t0, t2 - t1
  line = ("W6 cqueues %.2f speedup serial_s=%.3f threads_s=%.3f checksum=%d,%d")
         :format(serial / threads, serial, threads, a, b)
end)
assert(cq:loop())
assert(line, "the controller stopped before both threads were done")
print(line)
