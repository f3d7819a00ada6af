-- cli_child.lua - a luaio process for the specs that signal it or talk to
-- it (found through busted's --lpath=spec/?.lua). Nothing here waits for a
-- time: a spec reads the markers the child prints and only then acts.
local assert = require "luassert"

local cli_child = {}

local LUAIO_BIN = os.getenv("LUAIO_BIN")

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
cli_child.quote = q

local function slurp(path)
  local f = io.open(path)
  if not f then
    return nil
  end
  local s = f:read("a")
  f:close()
  return s
end
cli_child.slurp = slurp

-- Writes source to a temporary file and returns its path.
function cli_child.script(source)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(source)
  f:close()
  return path
end

-- Starts `luaio <args>` (args already quoted for the shell) with its
-- stdout readable line by line. opts.shell is shell code run before luaio
-- replaces the shell (`trap '' INT` to start it with SIGINT ignored);
-- opts.stdin "pipe" gives it a standard input that stays open and empty
-- (stdout then goes to a file, read with child:wait_for); opts.pty runs it
-- on a pseudo-terminal, typed to with child:type. A watchdog
-- kills the child if it is still there after 20 s, so that a child that
-- does not end fails the spec instead of hanging it.
function cli_child.start(args, opts)
  assert(LUAIO_BIN, "LUAIO_BIN must name the luaio binary")
  opts = opts or {}
  local child = { err_path = os.tmpname(), pid_path = os.tmpname() }
  local out, bin = "", "exec " .. q(LUAIO_BIN)
  if opts.pty then -- script(1) puts it on a pseudo-terminal (not exec'd:
    -- it would wait for the watchdog, its child then)
    opts.stdin = "pipe"
    bin = ("script -qfec %s /dev/null"):format(q(bin .. " " .. args))
    args = ""
  end
  if opts.stdin == "pipe" then
    child.out_path = os.tmpname()
    out = " >" .. q(child.out_path)
  end
  local cmd = ("echo $$ >%s; (timeout 20 tail -s 0.1 --pid=$$ -f /dev/null "
    .. "|| kill -KILL $$) </dev/null >/dev/null 2>&1 & %s %s %s%s 2>%s")
    :format(q(child.pid_path), opts.shell or "", bin, args, out,
            q(child.err_path))
  child.p = assert(io.popen(cmd, opts.stdin == "pipe" and "w" or "r"))
  -- The shell writes its pid before anything else; luaio takes it over.
  repeat
    child.pid = tonumber(slurp(child.pid_path) or "")
  until child.pid
  return setmetatable(child, { __index = cli_child })
end

-- Starts luaio on a temporary script holding source, with the quoted
-- args after it; the script is removed when the child is finished.
function cli_child.run(source, args, opts)
  local path = cli_child.script(source)
  local child = cli_child.start(q(path) .. " " .. (args or ""), opts)
  child.script_path = path
  return child
end

-- The next line of the child's stdout (opts.stdin ~= "pipe").
function cli_child:line()
  return self.p:read("l")
end

-- Waits until the child's stdout file holds text, n times (default 1).
function cli_child:wait_for(text, n)
  local ok = os.execute(("i=0; until [ $(grep -oF %s %s | wc -l) -ge %d ]; "
    .. "do [ $i -lt 2000 ] || exit 1; i=$((i+1)); sleep 0.01; done")
    :format(q(text), q(self.out_path), n or 1))
  assert(ok, ("the child never printed %q; stdout:\n%s\nstderr:\n%s")
    :format(text, tostring(slurp(self.out_path)),
            tostring(slurp(self.err_path))))
end

-- Sends text to the child's standard input (opts.stdin "pipe" or pty).
function cli_child:type(text)
  self.p:write(text)
  self.p:flush()
end

function cli_child:kill(sig)
  assert(os.execute(("kill -%s %d"):format(sig, self.pid)))
end

-- Waits for the child to end; returns the rest of its stdout, its stderr,
-- and how it ended as io.popen's close tells ("exit" or "signal", n).
function cli_child:finish()
  local out = self.out_path and "" or self.p:read("a")
  local _, how, n = self.p:close()
  if self.out_path then
    out = slurp(self.out_path)
    os.remove(self.out_path)
  end
  local err = slurp(self.err_path)
  os.remove(self.err_path)
  os.remove(self.pid_path)
  if self.script_path then
    os.remove(self.script_path)
  end
  return out, err, how, n
end

-- Waits for the child to end and asserts that it printed expected_out
-- (the rest of it) and exited with status.
function cli_child:expect_exit(expected_out, status)
  local out, err, how, n = self:finish()
  assert.equal(expected_out, out)
  assert.equal("exit", how, err)
  assert.equal(status, n, err)
end

return cli_child
