-- A missing cwd was reported as the program not being found ("echo: no
-- such file or directory"): the child reports one errno for every step
-- before exec. The error names the directory when it is the cause.
local asyncio = require "asyncio"
local support = require "support"

local function spawn_error(prog, opts)
  return tostring(support.error_of(asyncio.create_subprocess_exec, prog,
    { "hi" }, opts))
end

describe("create_subprocess_exec with a cwd that cannot be used", function()
  it("names the directory, not the program", asyncio.spec(function()
    local err = spawn_error("echo", { cwd = "/no/such/dir" })
    assert.matches("cwd /no/such/dir: no such file or directory (ENOENT)",
      err, 1, true)
    assert.is_nil(err:find("echo", 1, true))
    err = spawn_error("echo", { cwd = "/dev/null" })
    assert.matches("cwd /dev/null: not a directory (ENOTDIR)", err, 1, true)
  end))

  it("still names a missing program when the cwd is fine",
    asyncio.spec(function()
      local err = spawn_error("/no/such/program", { cwd = "/" })
      assert.matches("/no/such/program: no such file or directory (ENOENT)",
        err, 1, true)
      assert.is_nil(err:find("cwd", 1, true))
    end))

  it("runs in the cwd given", asyncio.spec(function()
    local p = asyncio.create_subprocess_exec("pwd", {},
      { cwd = "/", stdout = asyncio.PIPE })
    assert.equal("/\n", (p:communicate()))
  end))

  it("names a cwd that is not a string", asyncio.spec(function()
    assert.matches("bad argument #3 to '[%w_.]*create_subprocess_exec' "
      .. "%(cwd: string expected, got table%)", spawn_error("echo", { cwd = {} }))
  end))
end)
