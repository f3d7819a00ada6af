-- os.exit called in a to_thread worker ran the C library's exit handlers
-- on the pool thread; libuv's joins the pool's threads, that one among
-- them, and the process died of SIGABRT instead of ending with the status.
local LUAIO_BIN = os.getenv("LUAIO_BIN")
local BUILD_DIR = os.getenv("LUAIO_BUILD_DIR")
local LIMIT = "timeout -k 5 30 "

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs source with the command cmd (a shell word list); returns its output
-- and how it ended ("exit" or "signal", and the number).
local function run(cmd, source)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(source)
  f:close()
  local p = io.popen(LIMIT .. cmd .. " " .. shell_quote(path) .. " 2>&1")
  local out = p:read("a")
  local _, how, status = p:close()
  os.remove(path)
  return out, how, status
end

local SCRIPT = [[
local asyncio = require "asyncio"
io.write("before ")
asyncio.run(function()
  asyncio.to_thread(function(code)
    io.write("worker ")
    os.exit(code)
  end, %s)
  print("not reached")
end)
]]

local function commands()
  assert(LUAIO_BIN and BUILD_DIR, "LUAIO_BIN and LUAIO_BUILD_DIR are needed")
  local cpath = BUILD_DIR .. "/?.so;" .. package.cpath
  return {
    luaio = shell_quote(LUAIO_BIN),
    lua5_4 = "lua5.4 -e " .. shell_quote("package.cpath = "
      .. ("%q"):format(cpath)),
  }
end

describe("os.exit inside to_thread", function()
  for name, cmd in pairs(commands()) do
    it("ends the program with its status, output flushed (" .. name .. ")",
      function()
        local out, how, status = run(cmd, SCRIPT:format("3"))
        assert.are.same({ "exit", 3 }, { how, status })
        assert.equal("before worker ", out)
      end)

    it("maps true and false as os.exit does (" .. name .. ")", function()
      local _, how, status = run(cmd, SCRIPT:format("false"))
      assert.are.same({ "exit", 1 }, { how, status })
      _, how, status = run(cmd, SCRIPT:format("true"))
      assert.are.same({ "exit", 0 }, { how, status })
    end)
  end
end)
