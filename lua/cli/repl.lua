-- repl.lua - the luaio command's read-eval-print loop. It reads as
-- lua5.4's does (the prompts _PROMPT and _PROMPT2, a line that is an
-- expression printed with print, a statement read on until it is
-- complete) and runs as the main task of asyncio.run, so the loop keeps
-- running while the user types: each entry runs as a task of its own and
-- may suspend (asyncio.sleep, reader:readline()), tasks it starts go on
-- running, and Ctrl-C cancels the entry's work, not the session.
-- Embedded into the command only (not the module); bindings/luaio.c runs
-- it with asyncio.run(repl, cli, asyncio), cli holding what it needs from C:
--   cli.read(prompt, fut)    asks for the next line: fut gets it, or nil
--   cli.cancel()             forgets the line asked for
--   cli.close()              closes the reader
--   cli.addhistory(line)     remembers an entry for line editing (and in
--                            the history file)
--   cli.hide()               a task is about to write to the terminal: the
--                            line being typed is cleared, and drawn again
--                            after the output
--   cli.msghandler           the command's message handler for xpcall
--   cli.report(msg)          writes an error message to stderr
--   cli.interrupt_to(task)   the task Ctrl-C cancels from now on
--   cli.interrupted()        true once after each Ctrl-C
local cli, asyncio = ...

local function prompt(first)
  local p = _ENV[first and "_PROMPT" or "_PROMPT2"]
  if p == nil then
    return first and "> " or ">> "
  end
  return tostring(p)
end

-- The next line, suspending the task while it is typed; nil at the end.
local function readline(first)
  local fut = asyncio.Future()
  cli.read(prompt(first), fut)
  local ok, line = pcall(asyncio.await, fut)
  if not ok then
    cli.cancel()
    error(line, 0)
  end
  return line
end

-- lua5.4's sign of a statement cut short: its message ends at <eof>.
local function incomplete(msg)
  return msg:sub(-5) == "<eof>"
end

-- Reads one entry: a line that is an expression (tried first, as lua5.4
-- does, so that "f()" prints what f returns), else statements, over as
-- many lines as they need. Returns the compiled function, or nil and the
-- syntax error, or nothing at the end of input.
local function read_entry()
  local line = readline(true)
  if line == nil then
    return
  end
  if line:sub(1, 1) == "=" then -- Lua 5.2's "=expr"
    line = "return " .. line:sub(2)
  end
  local fn = load("return " .. line .. ";", "=stdin")
  if fn then
    cli.addhistory(line)
    return fn
  end
  local code = line
  while true do
    local msg
    fn, msg = load(code, "=stdin")
    if fn or not incomplete(msg) then
      cli.addhistory(code)
      return fn, msg
    end
    local more = readline(false)
    if more == nil then
      cli.addhistory(code)
      return nil, msg
    end
    code = code .. "\n" .. more
  end
end

-- Prints an entry's values, if any, with the global print.
local function show(r)
  if r.n > 1 then
    local ok, err = pcall(print, table.unpack(r, 2, r.n))
    if not ok then
      cli.report(("error calling 'print' (%s)"):format(tostring(err)))
    end
  end
end

-- Runs an entry as a task, which Ctrl-C cancels; returns its error
-- message, if any.
local function run(fn, self)
  local task = asyncio.create_task(function()
    return table.pack(xpcall(fn, cli.msghandler))
  end, { name = "stdin" })
  cli.interrupt_to(task)
  local ok, r = pcall(asyncio.await, task)
  cli.interrupt_to(self)
  if cli.interrupted() and self:cancelling() > 0 then
    self:uncancel() -- the signal came after the entry was over
  end
  if not ok then -- cancelled before it ran
    return tostring(r)
  elseif not r[1] then -- its traceback ends where the entry began
    return (tostring(r[2]):gsub("\n\t%[C%]: in function 'xpcall'\n.*", ""))
  end
  show(r)
end

-- What tasks write with print, io.write and io.stdout/io.stderr's write
-- while a line is typed comes before the line, not into it (the writers
-- of asyncio.stdout() and asyncio.stderr() do the same from C).
local function hide_on_output()
  local print, write = print, io.write
  local stdout, stderr = io.stdout, io.stderr
  local methods = getmetatable(stdout).__index
  local fwrite = methods.write
  _ENV.print = function(...)
    cli.hide()
    return print(...)
  end
  io.write = function(...)
    cli.hide()
    return write(...)
  end
  methods.write = function(f, ...)
    if f == stdout or f == stderr then
      cli.hide()
    end
    return fwrite(f, ...)
  end
end

hide_on_output()
local self = asyncio.current_task()
cli.interrupt_to(self)
while true do
  local ok, fn, msg = pcall(read_entry)
  if not ok then
    if not (asyncio.CancelledError:is(fn) and cli.interrupted()) then
      cli.close()
      error(fn, 0)
    end
    self:uncancel() -- Ctrl-C at the prompt: a new prompt
    io.write("\n")
    io.flush()
  else
    if fn == nil and msg == nil then
      break
    end
    if fn then
      msg = run(fn, self)
    end
    if msg then
      cli.report(tostring(msg))
    end
  end
end
cli.close()
io.write("\n")
io.flush()
