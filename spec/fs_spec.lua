local asyncio = require "asyncio"
local fs = asyncio.fs

-- A fresh directory for one case, removed with everything in it afterwards.
local function tempdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
  finally(function() os.execute("rm -rf " .. dir) end)
  return dir
end

-- The number of descriptors this process has open (the listing's own
-- descriptor counts in every call alike).
local function nfds()
  return #fs.listdir("/proc/self/fd")
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

-- Runs fn, which must raise; returns the error.
local function raises(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return err
end

describe("asyncio.fs", function()
  it("writes and reads a file back", asyncio.spec(function()
    local dir = tempdir()
    local data = ("0123456789"):rep(100000) .. "\0end"
    fs.write_file(dir .. "/a", data)
    assert.equal(data, fs.read_file(dir .. "/a"))
    fs.write_file(dir .. "/empty", "")
    assert.equal("", fs.read_file(dir .. "/empty"))
  end))

  it("raises ENOENT with the path in the message", asyncio.spec(function()
    local dir = tempdir()
    local path = dir .. "/missing/file"
    local err = raises(fs.read_file, path)
    assert.is_true(asyncio.Error:is(err))
    assert.equal("ENOENT", err.code)
    assert.equal("read_file: " .. path .. ": no such file or directory (ENOENT)",
                 tostring(err))
    for _, call in ipairs {
      function() fs.stat(path) end,
      function() fs.listdir(path) end,
      function() fs.remove(path) end,
      function() fs.open(path, "r") end,
      function() fs.write_file(path, "x") end,
      function() fs.mkdir(path) end,
    } do
      local e = raises(call)
      assert.equal("ENOENT", e.code)
      assert.matches(path, tostring(e), 1, true)
    end
    local e = raises(fs.rename, path, dir .. "/b")
    assert.equal("ENOENT", e.code)
    assert.matches(path .. " -> " .. dir .. "/b", tostring(e), 1, true)
  end))

  it("writes atomically through a temporary file", asyncio.spec(function()
    local dir = tempdir()
    fs.write_file(dir .. "/f", "old")
    fs.write_file(dir .. "/f", "new content", { atomic = true })
    assert.equal("new content", fs.read_file(dir .. "/f"))
    assert.same({ "f" }, fs.listdir(dir)) -- no temporary file is left
    fs.write_file(dir .. "/g", "fresh", { atomic = true })
    assert.equal("fresh", fs.read_file(dir .. "/g"))
    local err = raises(fs.write_file, dir .. "/no/such/h", "x", { atomic = true })
    assert.equal("ENOENT", err.code)
    assert.same({ "f", "g" }, fs.listdir(dir))
  end))

  it("stats files and directories", asyncio.spec(function()
    local dir = tempdir()
    fs.write_file(dir .. "/f", "12345")
    local st = fs.stat(dir .. "/f")
    assert.equal(5, st.size)
    assert.equal("file", st.type)
    assert.is_number(st.mtime)
    assert.is_true(st.mtime > 0)
    assert.is_true(math.abs(st.mtime - os.time()) < 3600)
    assert.equal("number", math.type(st.mode) and "number")
    assert.equal("directory", fs.stat(dir).type)
  end))

  it("lists a directory sorted", asyncio.spec(function()
    local dir = tempdir()
    for _, name in ipairs { "b", "c", "a", "B", ".hidden", "a0" } do
      fs.write_file(dir .. "/" .. name, name)
    end
    fs.mkdir(dir .. "/sub")
    assert.same({ ".hidden", "B", "a", "a0", "b", "c", "sub" }, fs.listdir(dir))
    assert.same({}, fs.listdir(dir .. "/sub"))
  end))

  it("makes directories, with parents when asked", asyncio.spec(function()
    local dir = tempdir()
    fs.mkdir(dir .. "/one")
    assert.equal("directory", fs.stat(dir .. "/one").type)
    assert.equal("EEXIST", raises(fs.mkdir, dir .. "/one").code)
    assert.equal("ENOENT", raises(fs.mkdir, dir .. "/x/y/z").code)
    fs.mkdir(dir .. "/x/y/z", { parents = true })
    assert.equal("directory", fs.stat(dir .. "/x/y/z").type)
    fs.mkdir(dir .. "/x/y/z", { parents = true }) -- exists already: fine
    fs.write_file(dir .. "/file", "")
    assert.equal("EEXIST", raises(fs.mkdir, dir .. "/file", { parents = true }).code)
    assert.equal("ENOTDIR", raises(fs.mkdir, dir .. "/file/sub", { parents = true }).code)
  end))

  it("removes files and empty directories, and renames", asyncio.spec(function()
    local dir = tempdir()
    fs.write_file(dir .. "/a", "A")
    fs.rename(dir .. "/a", dir .. "/b")
    assert.equal("A", fs.read_file(dir .. "/b"))
    assert.equal("ENOENT", raises(fs.stat, dir .. "/a").code)
    fs.mkdir(dir .. "/d")
    fs.write_file(dir .. "/d/f", "")
    assert.equal("ENOTEMPTY", raises(fs.remove, dir .. "/d").code)
    fs.remove(dir .. "/d/f")
    fs.remove(dir .. "/d")
    fs.remove(dir .. "/b")
    assert.same({}, fs.listdir(dir))
  end))

  it("opens files to read, write and seek", asyncio.spec(function()
    local dir = tempdir()
    local path = dir .. "/f"
    local f = fs.open(path, "w+")
    assert.equal(f, f:write("hello "))
    f:write("world")
    assert.equal(0, f:seek(0))
    assert.equal("hello", f:read(5))
    assert.equal(6, f:seek(1, "cur"))
    assert.equal("world", f:read(100))
    assert.is_nil(f:read(10)) -- end of file
    assert.equal(11, f:seek(0, "end"))
    assert.equal(8, f:seek(-3, "end"))
    assert.equal("rld", f:read())
    assert.equal(2, f:seek("set", 2)) -- Lua's order works too
    assert.equal("llo world", f:read())
    f:close()
    f:close() -- idempotent
    assert.is_true(f:closed())
    assert.has_error(function() f:read(1) end, "attempt to use a closed file")

    local a = fs.open(path, "a")
    a:write("!")
    a:close()
    assert.equal("hello world!", fs.read_file(path))
    local r <close> = fs.open(path)
    assert.equal("hello world!", r:read())
    assert.equal("EBADF", raises(r.write, r, "x").code)
    assert.has_error(function() fs.open(path, "q") end)
    assert.equal("EEXIST", raises(fs.open, path, "x").code)
  end))

  it("closes files that are collected", asyncio.spec(function()
    local dir = tempdir()
    fs.write_file(dir .. "/f", "x")
    collectgarbage()
    local before = nfds()
    for _ = 1, 20 do
      local f = fs.open(dir .. "/f")
      assert.equal("x", f:read(1))
    end
    collectgarbage()
    collectgarbage()
    assert.equal(before, nfds())
  end))

  it("suspends the task, not the loop", asyncio.spec(function()
    local dir = tempdir()
    local ticks = 0
    local ticker = asyncio.create_task(function()
      while true do
        ticks = ticks + 1
        asyncio.sleep(0)
      end
    end)
    fs.write_file(dir .. "/big", ("x"):rep(4 << 20))
    assert.equal(4 << 20, #fs.read_file(dir .. "/big"))
    ticker:cancel()
    pcall(asyncio.await, ticker)
    assert.is_true(ticks > 0)
  end))

  it("is cancelled mid-request without leaking", asyncio.spec(function()
    local dir = tempdir()
    fs.write_file(dir .. "/big", ("y"):rep(8 << 20))
    collectgarbage()
    local before = nfds()
    for round = 1, 20 do
      local t = asyncio.create_task(function()
        if round % 2 == 0 then
          return fs.read_file(dir .. "/big")
        end
        return fs.write_file(dir .. "/out" .. round, ("z"):rep(1 << 20),
                             { atomic = true })
      end)
      for _ = 1, round % 4 do
        asyncio.sleep(0)
      end
      t:cancel()
      local ok, err = pcall(asyncio.await, t)
      assert.is_true(ok or asyncio.CancelledError:is(err))
    end
    -- Requests that libuv could not stop finish later and drop what they hold.
    assert.is_true(eventually(function() return nfds() == before end))
    assert.is_true(eventually(function()
      for _, name in ipairs(fs.listdir(dir)) do
        if name:match("%.tmp$") then
          return false
        end
      end
      return true
    end))
  end))

  it("needs a running task", function()
    assert.has_error(function() fs.read_file("/") end)
  end)
end)
