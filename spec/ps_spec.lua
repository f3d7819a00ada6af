-- ps_spec.lua - `luaio ps PID` and `luaio pstree PID`: the tasks of a
-- running luaio process, seen from another one; and the processes they
-- refuse to ask (no signal reaches those).
local cli_child = require "cli_child"

local q = cli_child.quote
local LUAIO_BIN = os.getenv("LUAIO_BIN")
local SOURCE_DIR = os.getenv("LUAIO_SOURCE_DIR") or "."
local EXAMPLE = "examples/task_tree.lua"

-- Runs `luaio <args>`; returns its stdout, stderr and exit status.
local function luaio(args, env)
  local err_path = os.tmpname()
  local p = io.popen(("%s%s %s 2>%s"):format(env or "", q(LUAIO_BIN), args,
                                            q(err_path)))
  local out = p:read("a")
  local _, _, status = p:close()
  local err = cli_child.slurp(err_path)
  os.remove(err_path)
  return out, err, status
end

local function alive(pid)
  return os.execute(("kill -0 %d 2>/dev/null"):format(pid)) == true
end

-- The number of the n-th line of the example holding text.
local function line_of(text, n)
  local i, seen = 0, 0
  for line in io.lines(SOURCE_DIR .. "/" .. EXAMPLE) do
    i = i + 1
    if line:find(text, 1, true) then
      seen = seen + 1
      if seen == (n or 1) then
        return i
      end
    end
  end
  error("no line with " .. text)
end

describe("luaio pstree and luaio ps", function()
  it("show the tasks of a running example, who waits for whom and on what",
    function()
      local child = cli_child.start(q(EXAMPLE) .. " 30",
                                    { shell = "cd " .. q(SOURCE_DIR) .. ";" })
      -- The example says so once every song plays.
      local line
      repeat
        line = child:line()
      until line == nil or line:find("the tree is there to see", 1, true)
      assert.is_not_nil(line, "the example never got ready")
      local play = ("%s:%d"):format(EXAMPLE,
                                    line_of("asyncio.sleep(seconds + hold)"))
      local album = ("%s:%d"):format(EXAMPLE,
                                     line_of("asyncio.TaskGroup(", 1))
      local main = ("%s:%d"):format(EXAMPLE, line_of("asyncio.TaskGroup(", 2))

      local tree, err, status = luaio("pstree " .. child.pid)
      assert.equal(0, status, err)
      local group = "waiting, in function 'asyncio.TaskGroup', at "
      local song = "sleeping, in asyncio.sleep, at " .. play
      -- Each task's call stack, innermost frame first, under its line.
      local function at(text, n)
        return ("%s:%d: in "):format(EXAMPLE, line_of(text, n))
      end
      local function fn(text, n)
        return ("function <%s:%d>"):format(EXAMPLE, line_of(text, n))
      end
      local in_group = "[C]: in function 'asyncio.TaskGroup'"
      local in_album = at("asyncio.TaskGroup(", 1) .. "upvalue 'album'"
      local song_frames = {
        "[C]: in function 'asyncio.sleep'",
        at("asyncio.sleep(seconds + hold)") .. "upvalue 'play'",
        at("tg:create_task(function() play(")
          .. fn("tg:create_task(function() play("),
      }
      local function songs(prefix)
        return table.concat({
          prefix .. "├── " .. song_frames[1],
          prefix .. "├── " .. song_frames[2],
          prefix .. "└── " .. song_frames[3],
        }, "\n")
      end
      assert.equal(table.concat({
        "└── Task-1 (id 1): " .. group .. main,
        "    ├── " .. in_group,
        "    ├── " .. at("asyncio.TaskGroup(", 2)
          .. fn("asyncio.run(function()"),
        "    ├── Night Drive (id 2) via TaskGroup: " .. group .. album,
        "    │   ├── " .. in_group,
        "    │   ├── " .. in_album,
        "    │   ├── " .. at('album({ "Headlights"')
          .. fn("tg:create_task(function()", 2),
        "    │   ├── Headlights (id 4) via TaskGroup: " .. song,
        songs("    │   │   "),
        "    │   └── Overpass (id 5) via TaskGroup: " .. song,
        songs("    │       "),
        "    └── Low Tide (id 3) via TaskGroup: " .. group .. album,
        "        ├── " .. in_group,
        "        ├── " .. in_album,
        "        ├── " .. at('album({ "Undertow"')
          .. fn("tg:create_task(function()", 3),
        "        ├── Undertow (id 6) via TaskGroup: " .. song,
        songs("        │   "),
        "        ├── Salt (id 7) via TaskGroup: " .. song,
        songs("        │   "),
        "        └── Harbour (id 8) via TaskGroup: " .. song,
        songs("            "),
        "" }, "\n"), tree)

      local ps
      ps, err, status = luaio("ps " .. child.pid)
      assert.equal(0, status, err)
      local rows = {}
      for row in ps:gmatch("([^\n]*)\n") do
        local cells = {}
        for cell in (row .. "  "):gmatch("(.-)%s%s+") do
          cells[#cells + 1] = cell
        end
        rows[#rows + 1] = table.concat(cells, "|")
      end
      assert.same({
        "ID|NAME|STATE|WAITS ON|WHERE|AWAITED BY",
        "1|Task-1|waiting|in function 'asyncio.TaskGroup'|" .. main .. "|-",
        "2|Night Drive|waiting|in function 'asyncio.TaskGroup'|" .. album
          .. "|1 Task-1 (TaskGroup)",
        "3|Low Tide|waiting|in function 'asyncio.TaskGroup'|" .. album
          .. "|1 Task-1 (TaskGroup)",
        "4|Headlights|sleeping|in asyncio.sleep|" .. play
          .. "|2 Night Drive (TaskGroup)",
        "5|Overpass|sleeping|in asyncio.sleep|" .. play
          .. "|2 Night Drive (TaskGroup)",
        "6|Undertow|sleeping|in asyncio.sleep|" .. play .. "|3 Low Tide (TaskGroup)",
        "7|Salt|sleeping|in asyncio.sleep|" .. play
          .. "|3 Low Tide (TaskGroup)",
        "8|Harbour|sleeping|in asyncio.sleep|" .. play .. "|3 Low Tide (TaskGroup)",
      }, rows)

      -- Two asking at once both get their answer; the signal of one may
      -- find its request answered already.
      local both = os.tmpname()
      assert(os.execute(("%s ps %d >%s.1 2>&1 & %s pstree %d >%s.2 2>&1 & "
        .. "wait"):format(q(LUAIO_BIN), child.pid, both, q(LUAIO_BIN),
                          child.pid, both)))
      assert.equal(ps, cli_child.slurp(both .. ".1"))
      assert.equal(tree, cli_child.slurp(both .. ".2"))
      os.remove(both)
      os.remove(both .. ".1")
      os.remove(both .. ".2")

      -- Asked, the process went on, and printed nothing on stderr.
      assert.is_true(alive(child.pid))
      child:kill("TERM")
      local _, child_err, how, code = child:finish()
      assert.equal("exit", how)
      assert.equal(143, code)
      assert.equal("luaio: interrupted\n", child_err)
    end)

  it("refuse a process that is not luaio, and send it nothing", function()
    local p = io.popen("echo $$; exec sleep 30")
    local pid = tonumber(p:read("l"))
    -- Once the shell has become sleep.
    local ready = os.execute(("i=0; until readlink /proc/%d/exe | grep -q "
      .. "sleep; do [ $i -lt 2000 ] || exit 1; i=$((i+1)); sleep 0.01; done")
      :format(pid))
    local out, err, status = luaio("ps " .. pid)
    local still = alive(pid)
    os.execute("kill " .. pid)
    p:close()
    assert.is_true(ready)
    assert.equal("", out)
    assert.equal(4, status)
    assert.matches(("^luaio ps: process %d is not a luaio process %%(it "
      .. "runs [^)]*sleep%%)\n$"):format(pid), err)
    assert.is_true(still)
  end)

  it("refuse a luaio process that runs no loop, and send it nothing",
    function()
      local child = cli_child.start(
        "-e " .. q("print('ready') io.stdout:flush() io.read()"),
        { stdin = "pipe" })
      child:wait_for("ready")
      local _, err, status = luaio("pstree " .. child.pid)
      assert.equal(4, status)
      assert.equal(("luaio pstree: process %d runs no asyncio loop now "
        .. "(asyncio.run has not started or has ended, or it runs "
        .. "--sandbox), so it cannot answer\n"):format(child.pid), err)
      assert.is_true(alive(child.pid))
      child:type("\n")
      child:expect_exit("ready\n", 0)
    end)

  it("say when a process does not answer in time", function()
    local child = cli_child.run([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        print("busy") io.stdout:flush()
        while true do end -- the loop never looks at its signals
      end)
    ]])
    assert.equal("busy", child:line())
    local _, err, status = luaio("ps " .. child.pid, "LUAIO_PS_TIMEOUT=0.2 ")
    assert.equal(1, status)
    assert.equal(("luaio ps: process %d did not answer within 0.2 s: a task "
      .. "may be running without suspending, which keeps its loop from "
      .. "looking\n"):format(child.pid), err)
    child:kill("KILL")
    child:finish()
  end)

  it("fail on a missing process or a bad argument", function()
    local max = tonumber(cli_child.slurp("/proc/sys/kernel/pid_max"))
    local out, err, status = luaio("ps " .. max)
    assert.equal("", out)
    assert.equal(3, status)
    assert.equal(("luaio ps: no process %d\n"):format(max), err)
    _, err, status = luaio("pstree")
    assert.equal(2, status)
    assert.equal("usage: luaio pstree PID\n", err)
    _, err, status = luaio("ps 12x")
    assert.equal(2, status)
    assert.equal("usage: luaio ps PID\n", err)
  end)
end)
