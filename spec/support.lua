-- support.lua - small helpers the specs share (found through busted's
-- --lpath=spec/?.lua). They must run inside a task, but count_fds.
local asyncio = require "asyncio"

local support = {}

-- Lets the loop turn n times (default 1).
function support.pass(n)
  for _ = 1, n or 1 do
    asyncio.sleep(0)
  end
end

-- An event log: add(s) appends, joined() gives the events separated by " ".
function support.new_log()
  local log = {}
  local function add(s)
    log[#log + 1] = tostring(s)
  end
  local function joined()
    return table.concat(log, " ")
  end
  return add, joined
end

-- The error a call raises (it must raise).
function support.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return err
end

-- Awaits every task, whatever its outcome.
function support.settle(tasks)
  asyncio.wait(tasks)
end

-- The number of open file descriptors of this process, found without a
-- subprocess (whose spawning races with the count): /proc/self/fdinfo/N
-- exists for each open fd N, and the fd io.open takes to read it is not
-- installed until the path is resolved. Needs no task.
function support.count_fds()
  local n = 0
  for fd = 0, 1023 do
    local f = io.open("/proc/self/fdinfo/" .. fd)
    if f then
      n = n + 1
      f:close()
    end
  end
  return n
end

-- Runs a Lua script with the luaio command named by $LUAIO_BIN (under
-- `timeout`, so that a hang fails the case), given the options in args
-- (quoted for the shell), if any; returns its stdout, its stderr and its
-- exit status. Needs no task.
function support.run_script(source, args)
  local bin = os.getenv("LUAIO_BIN")
  assert(bin, "LUAIO_BIN must name the luaio binary")
  local script, errfile = os.tmpname(), os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(source)
  f:close()
  local p = io.popen(("timeout -k 5 30 '%s' %s '%s' 2>'%s'"):format(
    bin, args or "", script, errfile))
  local out = p:read("a")
  local _, _, status = p:close()
  f = assert(io.open(errfile))
  local err = f:read("a")
  f:close()
  os.remove(script)
  os.remove(errfile)
  return out, err, status
end

-- Runs body inside a task of a script run with the luaio options args;
-- returns what it printed: the outcome of pcall(body), the error's code
-- and capability, then the error's message. The script must end well.
function support.run_refused(args, body)
  local out, err, status = support.run_script(([[
asyncio.run(function()
  local ok, err = pcall(function() %s end)
  print(ok, asyncio.iserror(err), err and err.code, err and err.capability)
  print(tostring(err))
end)
]]):format(body), args)
  assert(err == "" and status == 0, err)
  return out
end

return support
