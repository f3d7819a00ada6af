-- A string with a NUL byte given where C takes a NUL-terminated string was
-- cut at the NUL: "abc\0def" reached the child as "abc", an env value
-- "1\0002" as "1", a path "dir\0x" named "dir". asyncio raises ValueError
-- ("embedded null byte"); luaio raises naming the function and argument.
local asyncio = require "asyncio"
local support = require "support"

local error_of = support.error_of
local PIPE = asyncio.PIPE

local function assert_nul_error(pattern, err)
  err = tostring(err)
  assert.matches(pattern, err)
  assert.matches("contains a NUL byte", err, 1, true)
end

describe("a NUL byte in a string for C", function()
  it("is refused in subprocess arguments", asyncio.spec(function()
    assert_nul_error("bad argument #2 to '[%w_.]*create_subprocess_exec' "
      .. "%(element 2: ", error_of(asyncio.create_subprocess_exec, "printf",
        { "[%s]\\n", "abc\0def" }, { stdout = PIPE }))
    assert_nul_error("bad argument #1 to '[%w_.]*create_subprocess_exec'",
      error_of(asyncio.create_subprocess_exec, "echo\0x", {}))
    assert_nul_error("bad argument #1 to '[%w_.]*create_subprocess_shell'",
      error_of(asyncio.create_subprocess_shell, "echo a\0; echo b"))
  end))

  it("is refused in env values and names, and in cwd", asyncio.spec(function()
    local function exec_with(opts)
      return error_of(asyncio.create_subprocess_exec, "true", {}, opts)
    end
    assert_nul_error("bad argument #3 to '[%w_.]*create_subprocess_exec' "
      .. "%(env.X: ", exec_with({ env = { X = "1\0002" } }))
    assert_nul_error("bad argument #3 .*%(env name: ",
      exec_with({ env = { ["X\0Y"] = "1" } }))
    assert_nul_error("bad argument #3 .*%(cwd: ", exec_with({ cwd = "/\0tmp" }))
    -- The same call without the NUL runs, and the value arrives whole.
    local p = asyncio.create_subprocess_exec("sh", { "-c", 'printf %s "$X"' },
      { stdout = PIPE, env = { X = "1 2" } })
    assert.equal("1 2", (p:communicate()))
  end))

  it("names env entries that are not strings or have '='",
    asyncio.spec(function()
      local function exec_env(env)
        return tostring(error_of(asyncio.create_subprocess_exec, "true", {},
          { env = env }))
      end
      assert.matches("bad argument #3 .*%(env%.X: string expected, got table%)",
        exec_env({ X = {} }))
      assert.matches("bad argument #3 .*%(env: names must be strings, got "
        .. "number%)", exec_env({ "x" }))
      assert.matches("bad argument #3 .*%(env: invalid variable name 'A=B'%)",
        exec_env({ ["A=B"] = "1" }))
    end))

  it("is refused in fs paths", asyncio.spec(function()
    local dir = os.tmpname()
    os.remove(dir)
    asyncio.fs.mkdir(dir)
    asyncio.fs.write_file(dir .. "/keep", "x")
    -- Cut at the NUL, this would remove dir/keep.
    assert_nul_error("bad argument #1 to 'remove'", error_of(function()
      asyncio.fs.remove(dir .. "/keep\0.bak")
    end))
    assert_nul_error("bad argument #2 to 'rename'", error_of(function()
      asyncio.fs.rename(dir .. "/keep", dir .. "/x\0y")
    end))
    assert.equal("x", asyncio.fs.read_file(dir .. "/keep"))
    asyncio.fs.remove(dir .. "/keep")
    asyncio.fs.remove(dir)
  end))

  it("is refused in host names", asyncio.spec(function()
    assert_nul_error("bad argument #1 to '[%w_.]*getaddrinfo'",
      error_of(asyncio.getaddrinfo, "127.0.0.1\0.example", 80))
    assert_nul_error("bad argument #1 to '[%w_.]*open_connection'",
      error_of(asyncio.open_connection, "127.0.0.1\0x", 1))
    assert_nul_error("bad argument #2 to '[%w_.]*start_server'",
      error_of(asyncio.start_server, function() end, "127.0.0.1\0x", 0))
  end))
end)
