local asyncio = require "asyncio"

local PIPE, DEVNULL = asyncio.PIPE, asyncio.DEVNULL

local function exec(prog, args, opts)
  return asyncio.create_subprocess_exec(prog, args, opts)
end

-- The number of descriptors this process has open.
local function nfds()
  return #asyncio.fs.listdir("/proc/self/fd")
end

-- Polls (bounded, about 5 s) until pred() holds; no timing is asserted.
local function eventually(pred)
  for _ = 1, 500 do
    if pred() then
      return true
    end
    asyncio.sleep(0.01)
  end
  return pred()
end

describe("asyncio.create_subprocess_exec", function()
  it("defines PIPE and DEVNULL", function()
    assert.is_number(asyncio.PIPE)
    assert.is_number(asyncio.DEVNULL)
    assert.not_equal(asyncio.PIPE, asyncio.DEVNULL)
  end)

  it("round-trips 1 MiB through cat with communicate", asyncio.spec(function()
    local chunk = {}
    for i = 0, 255 do
      chunk[#chunk + 1] = string.char(i)
    end
    local input = table.concat(chunk):rep(4096) -- 1 MiB, every byte value
    local p = exec("cat", {}, { stdin = PIPE, stdout = PIPE })
    assert.is_number(p.pid)
    assert.is_true(p.pid > 0)
    local out, err = p:communicate(input)
    assert.equal(#input, #out)
    assert.is_true(out == input)
    assert.is_nil(err)
    assert.equal(0, p.returncode)
    assert.equal(0, p:wait())
  end))

  it("reads large stdout and stderr together without deadlock", asyncio.spec(function()
    local p = exec("sh", { "-c", "head -c 2000000 /dev/zero >&2; head -c 3000000 /dev/zero" },
                   { stdout = PIPE, stderr = PIPE })
    local out, err = p:communicate()
    assert.equal(3000000, #out)
    assert.equal(2000000, #err)
    assert.equal(0, p.returncode)
  end))

  it("returns exit codes", asyncio.spec(function()
    local p = exec("sh", { "-c", "exit 3" })
    assert.is_nil(p.returncode)
    assert.equal(3, p:wait())
    assert.equal(3, p.returncode)
    assert.equal(3, p:wait()) -- again, at once
    assert.equal(0, exec("true"):wait())
  end))

  it("passes env and cwd", asyncio.spec(function()
    local p = exec("sh", { "-c", 'printf "%s|%s|%s" "$FOO" "$HOME" "$(pwd)"' },
                   { env = { FOO = "bar baz" }, cwd = "/tmp", stdout = PIPE })
    local out = p:communicate()
    assert.equal("bar baz||/tmp", out)
    assert.equal(0, p.returncode)
  end))

  it("reads lines and chunks from stdout, writes to stdin", asyncio.spec(function()
    local p = exec("cat", {}, { stdin = PIPE, stdout = PIPE })
    p.stdin:write("one\ntwo\nthree")
    p.stdin:drain()
    assert.equal("one\n", p.stdout:readline())
    assert.equal("two\n", p.stdout:readline())
    assert.equal("th", p.stdout:readexactly(2))
    p.stdin:close()
    assert.equal("ree", p.stdout:readline()) -- the last line has no "\n"
    assert.equal("", p.stdout:readline())
    assert.equal("", p.stdout:read())
    assert.is_true(p.stdout:at_eof())
    assert.equal(0, p:wait())
  end))

  it("waits for stdin to close once what was queued is written",
     asyncio.spec(function()
    local size = 1 << 20
    local p = exec("wc", { "-c" }, { stdin = PIPE, stdout = PIPE })
    p.stdin:write(("x"):rep(size)) -- more than the pipe holds: queued
    assert.is_true(p.stdin:get_write_buffer_size() > 0)
    p.stdin:close()
    assert.is_true(p.stdin:is_closing())
    p.stdin:wait_closed()
    assert.equal(0, p.stdin:get_write_buffer_size())
    p.stdin:wait_closed() -- closed already: returns at once
    assert.equal(tostring(size), p.stdout:read():match("%d+"))
    assert.equal(0, p:wait())
    assert.is_nil(p.stdin:get_extra_info("peername"))
    assert.equal("none", p.stdin:get_extra_info("sockname", "none"))
  end))

  it("cancels a wait_closed and keeps the pipe usable", asyncio.spec(function()
    local p = exec("cat", {}, { stdin = PIPE, stdout = PIPE })
    local events = {}
    local waiter = asyncio.create_task(function()
      local ok, err = pcall(p.stdin.wait_closed, p.stdin)
      events[#events + 1] = ok and "closed"
        or asyncio.CancelledError:is(err) and "cancelled" or tostring(err)
      error(err, 0)
    end)
    asyncio.sleep(0)
    waiter:cancel()
    local ok = pcall(asyncio.await, waiter)
    assert.is_false(ok)
    assert.is_true(waiter:cancelled())
    assert.same({ "cancelled" }, events)
    p.stdin:write("still open")
    p.stdin:close()
    p.stdin:wait_closed()
    assert.equal("still open", p.stdout:read())
    assert.equal(0, p:wait())
  end))

  it("refuses wait_closed outside a task", asyncio.spec(function()
    local p = exec("cat", {}, { stdin = PIPE })
    -- a plain coroutine inside the task is not the task
    local ok, err = pcall(coroutine.wrap(function()
      return p.stdin:wait_closed()
    end))
    assert.is_false(ok)
    assert.matches("wait_closed", tostring(err), 1, true)
    p.stdin:close()
    assert.equal(0, p:wait())
  end))

  it("raises IncompleteReadError at a premature end", asyncio.spec(function()
    local p = exec("printf", { "abc" }, { stdout = PIPE })
    local ok, err = pcall(p.stdout.readexactly, p.stdout, 5)
    assert.is_false(ok)
    assert.is_true(asyncio.IncompleteReadError:is(err))
    assert.equal("abc", err.partial)
    p:wait()
  end))

  it("kills and terminates: wait returns minus the signal", asyncio.spec(function()
    local p = exec("sleep", { "10" })
    p:kill()
    assert.equal(-9, p:wait())
    p = exec("sleep", { "10" })
    p:terminate()
    assert.equal(-15, p:wait())
    p = exec("sleep", { "10" })
    p:send_signal("SIGUSR1")
    assert.equal(-10, p:wait())
    p:kill() -- after the exit: nothing happens
  end))

  it("cancels a task waiting for a process", asyncio.spec(function()
    local p = exec("sleep", { "10" }, { stdout = PIPE })
    local waiter = asyncio.create_task(function() return p:wait() end)
    local reader = asyncio.create_task(function() return p.stdout:read() end)
    asyncio.sleep(0)
    waiter:cancel()
    reader:cancel()
    assert.is_false(pcall(asyncio.await, waiter))
    assert.is_true(waiter:cancelled())
    assert.is_false(pcall(asyncio.await, reader))
    assert.is_true(reader:cancelled())
    assert.is_nil(p.returncode)
    p:kill()
    assert.equal(-9, p:wait())
  end))

  it("connects DEVNULL", asyncio.spec(function()
    local p = exec("sh", { "-c", "cat; echo done; echo err >&2" },
                   { stdin = DEVNULL, stdout = PIPE, stderr = DEVNULL })
    local out, err = p:communicate()
    assert.equal("done\n", out)
    assert.is_nil(err)
    assert.equal(0, p.returncode)
  end))

  it("raises ENOENT for a missing program", asyncio.spec(function()
    local ok, err = pcall(exec, "/nonexistent/program")
    assert.is_false(ok)
    assert.equal("ENOENT", err.code)
    assert.matches("/nonexistent/program", tostring(err), 1, true)
  end))

  it("ignores EPIPE when the child does not read its input", asyncio.spec(function()
    local p = exec("true", {}, { stdin = PIPE })
    local _, _ = p:communicate(("x"):rep(1 << 20))
    assert.equal(0, p.returncode)
  end))

  it("leaves no descriptor open", asyncio.spec(function()
    -- libuv keeps one descriptor per loop from its first stream on (its
    -- EMFILE reserve): warm up.
    exec("true", {}, { stdout = PIPE }):communicate()
    collectgarbage()
    local before = nfds()
    for _ = 1, 5 do
      local p = exec("cat", {}, { stdin = PIPE, stdout = PIPE, stderr = PIPE })
      local out = p:communicate("hi")
      assert.equal("hi", out)
    end
    local p = exec("sleep", { "10" }, { stdin = PIPE, stdout = PIPE })
    p:kill()
    p:wait()
    p = nil
    collectgarbage()
    collectgarbage()
    assert.is_true(eventually(function() return nfds() == before end))
  end))
end)

describe("asyncio.create_subprocess_shell", function()
  it("runs a shell command", asyncio.spec(function()
    local p = asyncio.create_subprocess_shell("echo $((6 * 7)) | tr 4 X",
                                              { stdout = PIPE })
    local out = p:communicate()
    assert.equal("X2\n", out)
    assert.equal(0, p.returncode)
    assert.equal(5, asyncio.create_subprocess_shell("exit 5"):wait())
  end))
end)

describe("processes left running", function()
  it("do not hold asyncio.run open", function()
    local p = asyncio.run(function()
      return exec("sleep", { "10" }, { stdout = PIPE, stdin = PIPE })
    end)
    assert.is_nil(p.returncode)
    os.execute("kill " .. p.pid)
  end)
end)
