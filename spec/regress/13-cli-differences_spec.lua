-- luaio did not take lua5.4's options: -i, -l, --, -W and -E were
-- "unrecognized", LUA_INIT was ignored and -v ended the program. Each case
-- here runs one command line through lua5.4 and through luaio, in the same
-- directory with the same input and environment, and compares what they
-- print and how they exit. What luaio adds of its own is normalised away:
-- its name, its version line (it names Lua's) and the usage lines of its
-- own options.
local LUAIO_BIN = assert(os.getenv("LUAIO_BIN"), "LUAIO_BIN must be set")

local function q(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function slurp(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir " .. q(dir)))

local function put(name, text)
  local f = assert(io.open(dir .. "/" .. name, "w"))
  f:write(text)
  f:close()
end

put("s.lua", 'print("script ran", ...) print(arg[0], arg[-1], #arg)\n')
put("bad.lua", 'local function f() error("boom") end f()\n')
put("mm.lua", 'return "module mm"\n')
put("init.lua", 'print("init file", arg and #arg)\n')
put("stdin.txt", 'print("stdin", ...)\n')

-- Runs prog with the shell words args; returns stdout, stderr, status,
-- with prog's own spellings replaced by PROG.
local function run(prog, args, env)
  local cmd = ("cd %s && %s timeout -k 5 30 %s %s <stdin.txt >out 2>err")
    :format(q(dir), env or "", q(prog), args)
  local _, _, status = os.execute(cmd)
  local out, err = slurp(dir .. "/out"), slurp(dir .. "/err")
  local function norm(s)
    s = s:gsub("luaio [%d.]+ %((Lua [^\n]*)%)", "%1")
    s = s:gsub("0x%x+", "ADDR")
    for _, name in ipairs({ LUAIO_BIN, "lua5.4" }) do
      s = s:gsub(name:gsub("%p", "%%%0"), "PROG")
    end
    s = s:gsub("luaio:", "PROG:"):gsub("usage: luaio", "usage: PROG")
    return (s:gsub("\n  %-%-%a[^\n]*", "")) -- luaio's own --options
  end
  return norm(out), norm(err), status
end

local function same(args, env)
  local out, err, status = run("lua5.4", args, env)
  local lout, lerr, lstatus = run(LUAIO_BIN, args, env)
  local what = "luaio " .. args
  assert.equal(out, lout, what .. ": stdout")
  assert.equal(err, lerr, what .. ": stderr")
  assert.equal(status, lstatus, what .. ": exit status")
  return out, err, status
end

describe("luaio against lua5.4, the same command lines", function()
  teardown(function()
    os.execute("rm -rf " .. q(dir))
  end)

  it("-v prints the version and goes on", function()
    local out = same("-v s.lua a")
    assert.matches("^Lua 5%.4[^\n]*\nscript ran\ta\n", out)
  end)

  it("-l mod and -l g=mod set globals from require", function()
    local out = same("-lmm -l g=mm -l string -e 'print(mm, g, string.rep)'")
    assert.matches("^module mm\tmodule mm\tfunction", out)
    same("-l nonexistent_module")
  end)

  it("-- ends the options and -  reads standard input", function()
    local out = same("-- s.lua x")
    assert.matches("script ran\tx", out, 1, true)
    same("--")
    out = same("- a b")
    assert.equal("stdin\ta\tb\n", out)
    same("-e 'print(#arg, arg[0], arg[1])' --")
  end)

  it("-W turns warnings on and -E ignores the environment", function()
    local _, err = same("-W -e 'warn(\"x\", \"y\") warn(\"@off\") warn(\"z\")'")
    assert.equal("Lua warning: xy\n", err)
    local out = same("-E -e 'print(package.path)'", "LUA_PATH='/ENV/?.lua'")
    assert.not_matches("/ENV/", out, 1, true)
    out = same("-e 'print(package.path)'", "LUA_PATH='/ENV/?.lua'")
    assert.matches("/ENV/", out, 1, true)
  end)

  it("runs LUA_INIT_5_4 or LUA_INIT first, code or @file", function()
    local out = same("-e 'print(2)'", "LUA_INIT='print(1)'")
    assert.equal("1\n2\n", out)
    out = same("-e 'print(2)'", "LUA_INIT='print(1)' LUA_INIT_5_4='print(54)'")
    assert.equal("54\n2\n", out)
    out = same("s.lua", "LUA_INIT=@init.lua")
    assert.matches("^init file\t0\n", out)
    same("-e 'print(2)'", "LUA_INIT='error(\"in init\")'")
    same("-e 'print(2)'", "LUA_INIT=@missing.lua")
    out = same("-E -e 'print(2)'", "LUA_INIT='print(1)'")
    assert.equal("2\n", out)
  end)

  it("reports bad options with lua5.4's words and usage", function()
    for _, args in ipairs({ "-x", "-vx", "-e", "-e -v", "-l", "--x", "-Ex" }) do
      local _, err, status = same(args)
      assert.matches("^PROG: ", err)
      assert.is_not.equal(0, status)
    end
  end)

  it("builds arg and exits as lua5.4 on errors", function()
    same("s.lua a b")
    same("-e 'x = 1' s.lua a")
    same("bad.lua")
    same("missing.lua")
    same("-e 'error({})'")
    same("-e 'error(nil)'")
    same("-e 'error(setmetatable({}, {__tostring = function() return \"TS\" end}))'")
    same("-e 'x ='")
    same("-e 'os.exit(3)'")
    same("-e 'os.exit(false)'")
  end)
end)
