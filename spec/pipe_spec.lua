-- Pipes and the standard streams: asyncio.stdin(), stdout(), stderr(),
-- connect_read_pipe and connect_write_pipe, over a pipe, a regular file
-- or a TTY. Each case runs a child luaio with its stdio redirected.
local asyncio = require "asyncio"
local support = require "support"

local PIPE = asyncio.PIPE
local BIN = os.getenv("LUAIO_BIN")

local script = require("cli_child").script

-- Reads stdin line by line, printing each line and, meanwhile, a tick
-- each time a timer fires.
local ECHO = script [[
local asyncio = require "asyncio"
asyncio.run(function()
  local out = asyncio.stdout()
  assert(out == asyncio.stdout(), "one writer per loop")
  local ticker = asyncio.create_task(function()
    while true do
      asyncio.sleep(0.002)
      out:write("tick\n")
    end
  end)
  local input = asyncio.stdin()
  while true do
    local line = input:readline()
    if line == "" then break end
    out:write("line " .. line)
  end
  ticker:cancel()
  out:write("end\n")
  out:drain()
end)
]]

describe("asyncio.stdin and asyncio.stdout", function()
  it("read piped input line by line while a timer ticks", asyncio.spec(function()
    local p = asyncio.create_subprocess_exec(BIN, { ECHO },
                                             { stdin = PIPE, stdout = PIPE })
    local function until_line(want)
      local seen = {}
      while true do
        local l = p.stdout:readline()
        assert(l ~= "", "early end")
        seen[#seen + 1] = l
        if l == want then return seen end
      end
    end
    -- Before any input, the timer ticks: reading stdin does not block.
    until_line("tick\n")
    p.stdin:write("one\n")
    until_line("line one\n")
    -- Waiting for the next line, the timer ticks again.
    assert.equal("tick\n", until_line("tick\n")[1])
    p.stdin:write("two\n")
    local seen = until_line("line two\n")
    for i = 1, #seen - 1 do assert.equal("tick\n", seen[i]) end
    p.stdin:close()
    until_line("end\n")
    assert.equal("", p.stdout:read())
    assert.equal(0, p:wait())
  end))

  it("read a regular file as stdin and write to one", asyncio.spec(function()
    local input, output = os.tmpname(), os.tmpname()
    local lines = {}
    for i = 1, 20000 do lines[i] = "row " .. i .. "\n" end -- past one chunk
    asyncio.fs.write_file(input, table.concat(lines))
    local p = asyncio.create_subprocess_shell(("'%s' '%s' <'%s' >'%s'")
      :format(BIN, ECHO, input, output))
    assert.equal(0, p:wait())
    local got = {}
    for l in asyncio.fs.read_file(output):gmatch("[^\n]*\n") do
      if l ~= "tick\n" then got[#got + 1] = l end
    end
    assert.equal(20001, #got)
    assert.equal("line row 1\n", got[1])
    assert.equal("line row 20000\n", got[20000])
    assert.equal("end\n", got[20001])
    os.remove(input)
    os.remove(output)
  end))

  it("write much to stdout through a pipe, and stderr", asyncio.spec(function()
    local src = script [[
local asyncio = require "asyncio"
asyncio.run(function()
  local out = asyncio.stdout()
  for i = 1, 1000 do out:write(("%04d"):format(i) .. ("x"):rep(996)) end
  out:drain()
  asyncio.stderr():write("to stderr\n")
  asyncio.stderr():drain()
  out:close()
  out:wait_closed()
  print("fd 1 stays open")
end)
]]
    local p = asyncio.create_subprocess_exec(BIN, { src },
                                             { stdout = PIPE, stderr = PIPE })
    local out, err = p:communicate()
    assert.equal(0, p.returncode)
    assert.equal("to stderr\n", err)
    assert.equal(1000 * 1000 + #"fd 1 stays open\n", #out)
    assert.equal("0001", out:sub(1, 4))
    assert.equal("1000", out:sub(999001, 999004))
    assert.equal("fd 1 stays open\n", out:sub(-16))
    os.remove(src)
  end))

  it("connect_read_pipe and connect_write_pipe take a descriptor",
     asyncio.spec(function()
    local src = script [[
local asyncio = require "asyncio"
asyncio.run(function()
  local r = asyncio.connect_read_pipe(0, { limit = 16 })
  local w = asyncio.connect_write_pipe(1)
  w:write(r:readexactly(5))
  local ok, err = pcall(r.readline, r) -- past the limit
  w:write(tostring(ok) .. " " .. tostring(err.consumed ~= nil) .. "\n")
  w:close()
  w:wait_closed()
  r:feed_eof()
end)
]]
    local p = asyncio.create_subprocess_exec(BIN, { src },
                                             { stdin = PIPE, stdout = PIPE })
    local out = p:communicate(("y"):rep(40) .. "\n")
    assert.equal("yyyyyfalse true\n", out)
    assert.equal(0, p.returncode)
    os.remove(src)
  end))

  it("refuse a bad descriptor", asyncio.spec(function()
    local ok, err = pcall(asyncio.connect_read_pipe, 987)
    assert.is_false(ok)
    assert.equal("EBADF", err.code)
    assert.matches("connect_read_pipe", tostring(err), 1, true)
    ok, err = pcall(asyncio.connect_write_pipe, -1)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'asyncio.connect_write_pipe'", tostring(err), 1,
                   true)
  end))

  it("are refused without their capability", function()
    for _, case in ipairs {
      { "stdin", "fs.read" }, { "connect_read_pipe", "fs.read" },
      { "stdout", "fs.write" }, { "stderr", "fs.write" },
      { "connect_write_pipe", "fs.write" } } do
      local out = support.run_refused("--sandbox",
        ("asyncio.%s(1)"):format(case[1]))
      assert.equal(("false\ttrue\tEACCES\t%s\nasyncio.%s: the '%s' "
        .. "capability is not granted\n"):format(case[2], case[1], case[2]),
        out)
    end
  end)
end)
