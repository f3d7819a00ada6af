-- repl.lua - the luaio command's read-eval-print loop, as lua5.4's: the
-- prompts _PROMPT and _PROMPT2, a line that is an expression printed with
-- print, a statement read on until it is complete, errors with their
-- traceback. Embedded into the command only (not the module) and called by
-- bindings/luaio.c with the functions it needs from C:
--   cli.readline(prompt)  the next line without its "\n", or nil at the end
--   cli.addhistory(line)  remembers an entry for line editing
--   cli.msghandler        the command's message handler for xpcall
--   cli.report(msg)       writes an error message to stderr
local cli = ...

local function prompt(first)
  local p = _ENV[first and "_PROMPT" or "_PROMPT2"]
  if p == nil then
    return first and "> " or ">> "
  end
  return tostring(p)
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
  local line = cli.readline(prompt(true))
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
    local more = cli.readline(prompt(false))
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

while true do
  local fn, msg = read_entry()
  if fn == nil and msg == nil then
    break
  end
  if fn then
    local r = table.pack(xpcall(fn, cli.msghandler))
    if r[1] then
      show(r)
    else
      msg = r[2]
    end
  end
  if msg then
    cli.report(tostring(msg))
  end
end
io.write("\n")
io.flush()
