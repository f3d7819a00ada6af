-- The REPL, through a pseudo-terminal (script(1)), as a user meets it:
-- readline's editing and history, lua5.4's printing of expressions and
-- multi-line entries, and a loop that runs between lines. Markers are
-- printed as 'a' .. 'b', so that the terminal's echo of the typed line
-- never matches them, and each step waits for the prompt that follows it
-- (counted: the prompt is set to "%> "), so that nothing is typed while
-- the REPL is between two lines.
local cli_child = require "cli_child"

local function start()
  local child = cli_child.start([[-e "_PROMPT = '%' .. '> '" -i]],
                                { pty = true })
  child.prompts = 1
  child:wait_for("%> ")
  return child
end

-- Types text (a line, with its return) and waits for the next prompt.
local function line(child, text)
  child:type(text)
  child.prompts = child.prompts + 1
  child:wait_for("%> ", child.prompts)
end

describe("the luaio REPL on a terminal", function()
  local child

  before_each(function()
    child = start()
  end)

  after_each(function()
    if child then
      child:type("\4") -- Ctrl-D: the end of input
      local out, err, how, status = child:finish()
      child = nil
      assert.equal("exit", how, tostring(status) .. err .. out)
      assert.equal(0, status, err .. out)
    end
  end)

  it("prints expressions as lua5.4 and reads multi-line entries", function()
    line(child, "1 + 1, nil, 'x' .. 'y'\r")
    child:wait_for("2\tnil\txy")
    line(child, "function f()\r  return 6 *\r 7 end\r")
    line(child, "f()\r")
    child:wait_for("42")
  end)

  it("lets a line suspend the main task directly", function()
    line(child, "asyncio.sleep(0.01, 'sl' .. 'ept'), "
      .. "asyncio.current_task():get_name()\r")
    child:wait_for("slept\tstdin")
  end)

  it("keeps the loop running while the prompt waits", function()
    line(child, "asyncio.create_task(function() for i = 1, 3 do "
      .. "asyncio.sleep(0.01) print('ti' .. 'ck', i) end end)\r")
    child:wait_for("tick\t3")
  end)

  it("cancels a line's work on Ctrl-C, not the session", function()
    child:type("print('bu' .. 'sy') while true do end\r")
    child:wait_for("busy")
    line(child, "\3")
    child:wait_for("interrupted")
    child:type("print('sle' .. 'eping') asyncio.sleep(60)\r")
    child:wait_for("sleeping")
    line(child, "\3")
    child:wait_for("interrupted", 2)
    line(child, "half typed\3")
    line(child, "print('al' .. 'ive')\r")
    child:wait_for("alive")
  end)

  it("recalls earlier lines with the up arrow", function()
    line(child, "print(40 + 2)\r")
    line(child, "\27[A\r")
    child:wait_for("42", 2)
  end)
end)

describe("luaio -i with input that is not a terminal", function()
  it("reads lines, prints values and errors, and ends at the input's end",
     function()
    local p = io.popen(("printf 'x = 1\\nx + 1\\nerror(\"e\")\\n' | %s -i 2>&1")
      :format(cli_child.quote(os.getenv("LUAIO_BIN"))))
    local out = p:read("a")
    local _, _, status = p:close()
    assert.equal(0, status)
    assert.matches("^luaio [^\n]*\n> > 2\n> stdin:1: e\nstack traceback:\n"
      .. "\t%[C%]: in function 'error'\n\tstdin:1: in main chunk\n> \n$", out)
  end)
end)
