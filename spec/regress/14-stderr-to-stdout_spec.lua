-- stderr = asyncio.STDOUT in create_subprocess_exec/shell was silently
-- ignored: the child's stderr went to the parent's. It now goes wherever
-- the child's stdout goes, as in asyncio.
local asyncio = require "asyncio"

local PIPE, STDOUT, DEVNULL = asyncio.PIPE, asyncio.STDOUT, asyncio.DEVNULL

describe("stderr = asyncio.STDOUT", function()
  it("has Python's value", function()
    assert.equal(-2, STDOUT)
  end)

  it("sends stderr into the stdout pipe, in order", asyncio.spec(function()
    local p = asyncio.create_subprocess_exec("sh",
      { "-c", "echo one; echo two >&2; echo three; echo four >&2" },
      { stdout = PIPE, stderr = STDOUT })
    assert.is_nil(p.stderr)
    local out, err = p:communicate()
    assert.equal("one\ntwo\nthree\nfour\n", out)
    assert.is_nil(err)
    assert.equal(0, p.returncode)
  end))

  it("works with a shell and reads line by line", asyncio.spec(function()
    local p = asyncio.create_subprocess_shell("echo a >&2; echo b",
                                              { stdout = PIPE, stderr = STDOUT })
    assert.equal("a\n", p.stdout:readline())
    assert.equal("b\n", p.stdout:readline())
    assert.equal("", p.stdout:readline())
    assert.equal(0, p:wait())
  end))

  it("follows stdout to DEVNULL", asyncio.spec(function()
    -- The child checks where its fd 2 leads.
    local p = asyncio.create_subprocess_exec("sh",
      { "-c", "test \"$(readlink /proc/$$/fd/2)\" = /dev/null" },
      { stdout = DEVNULL, stderr = STDOUT })
    assert.equal(0, p:wait())
  end))

  it("leaves no descriptor open", asyncio.spec(function()
    -- A first child sets up what libuv keeps for every later one.
    asyncio.create_subprocess_exec("true", {}, { stdout = PIPE }):communicate()
    local before = #asyncio.fs.listdir("/proc/self/fd")
    for _ = 1, 3 do
      local p = asyncio.create_subprocess_exec("sh", { "-c", "echo x >&2" },
                                               { stdout = PIPE, stderr = STDOUT })
      assert.equal("x\n", (p:communicate()))
    end
    -- Handles close in a later loop iteration: poll, bounded.
    local now
    for _ = 1, 500 do
      now = #asyncio.fs.listdir("/proc/self/fd")
      if now == before then break end
      asyncio.sleep(0.01)
    end
    assert.equal(before, now)
  end))

  it("is refused for stdin and stdout", asyncio.spec(function()
    for _, name in ipairs { "stdin", "stdout" } do
      local ok, err = pcall(asyncio.create_subprocess_exec, "true", {},
                            { [name] = STDOUT })
      assert.is_false(ok)
      assert.matches(name .. ": asyncio.PIPE, asyncio.DEVNULL or nil expected",
                     tostring(err), 1, true)
    end
  end))
end)
