-- The REPL, through a pseudo-terminal (script(1)), as a user meets it:
-- readline's editing and history, lua5.4's printing of expressions and
-- multi-line entries, and a loop that runs between lines. Markers are
-- printed as 'a' .. 'b', so that the terminal's echo of the typed line
-- never matches them, and each step waits for the prompt that follows it
-- (counted: the prompt is set to "%> "), so that nothing is typed while
-- the REPL is between two lines.
local cli_child = require "cli_child"

-- history: the history file (LUAIO_HISTORY), none by default.
local function start(history)
  local child = cli_child.start([[-e "_PROMPT = '%' .. '> '" -i]],
    { pty = true, shell = "LUAIO_HISTORY=" .. cli_child.quote(history or "") })
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

  it("starts afresh after Ctrl-C at an empty prompt or in a continuation",
     function()
    line(child, "\3")
    child:type("for i = 1, 2 do\r")
    child:wait_for(">> ")
    line(child, "\3") -- the for is forgotten, not continued
    line(child, "print('af' .. 'ter')\r")
    child:wait_for("after")
  end)

  -- Starts a task that runs output (code) once a flag file exists, types
  -- part of a line, makes the flag and waits for last, the output's last
  -- marker, and the line drawn again; returns what the terminal showed.
  local function output_while_typing(output, last)
    local flag = os.tmpname()
    os.remove(flag)
    line(child, ("asyncio.create_task(function() while not io.open(%q) do "
      .. "asyncio.sleep(0.01) end %s end)\r"):format(flag, output))
    child:type("local par")
    child:wait_for("%> local par")
    io.open(flag, "w"):close()
    child:wait_for(last)
    child:wait_for("%> local par", 2) -- drawn again, after the output
    line(child, "tial = 1\r")
    os.remove(flag)
    return cli_child.slurp(child.out_path)
  end

  it("draws the prompt and the line being typed again after a task's output",
     function()
    local out = output_while_typing(
      "print('B' .. 'G') io.write('W' .. 'R\\n')", "WR")
    -- The line was cleared, the output written from the line's start.
    assert.matches("%%> local par\r\27%[K\rBG\r\nWR\r\n%%> local par",
                   out)
  end)

  it("writes a task's asyncio.stdout() and stderr() output above the line",
     function()
    local out = output_while_typing("asyncio.stdout():write('S' .. 'O\\n') "
      .. "asyncio.stderr():writelines({'S', 'E\\n'})", "SE")
    assert.matches("%%> local par\r\27%[K\rSO\r\nSE\r\n%%> local par",
                   out)
  end)

  it("recalls earlier lines with the up arrow", function()
    line(child, "print(40 + 2)\r")
    line(child, "\27[A\r")
    child:wait_for("42", 2)
  end)
end)

describe("the REPL's history file", function()
  it("keeps entries, multi-line ones whole, for the next session",
     function()
    local path = os.tmpname()
    os.remove(path) -- made by the first session
    local child = start(path)
    line(child, "x = 4\r")
    child:type("function g()\r")
    child:wait_for(">> ")
    line(child, "  return x * 10 end\r")
    child:type("\4")
    local out, err, how, status = child:finish()
    assert.equal("exit", how, err .. out)
    assert.equal(0, status, err .. out)
    child = start(path)
    line(child, "x = 5\r")
    line(child, "\27[A\27[A\r") -- the function g of the last session
    line(child, "print(g() + 1)\r")
    child:wait_for("51")
    child:type("\4")
    out, err, how, status = child:finish()
    assert.equal("exit", how, err .. out)
    assert.equal(0, status, err .. out)
    local f = assert(io.open(path))
    local text = f:read("a")
    f:close()
    os.remove(path)
    assert.matches("\nx = 4\n#%d+\nfunction g%(%)\n  return x %* 10 end\n",
                   text)
    assert.matches("\nprint%(g%(%) %+ 1%)\n$", text)
  end)

  it("is ~/.luaio_history, and none when LUAIO_HISTORY is empty", function()
    local home = os.tmpname()
    os.remove(home)
    assert(os.execute("mkdir " .. home))
    for _, env in ipairs({ "LUAIO_HISTORY=", "unset LUAIO_HISTORY;" }) do
      local child = cli_child.start([[-e "_PROMPT = '%' .. '> '" -i]],
        { pty = true, shell = env .. " HOME=" .. cli_child.quote(home) })
      child.prompts = 1
      child:wait_for("%> ")
      line(child, "x = 1\r")
      child:type("\4")
      local _, err, how, status = child:finish()
      assert.equal("exit", how, err)
      assert.equal(0, status, err)
      local f = io.open(home .. "/.luaio_history")
      if env == "LUAIO_HISTORY=" then
        assert.is_nil(f)
      else
        assert.matches("\nx = 1\n$", assert(f):read("a"))
        f:close()
      end
    end
    os.execute("rm -rf " .. home)
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
