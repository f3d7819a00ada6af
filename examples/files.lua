-- Files: asyncio.fs suspends the task, never the loop.
local asyncio = require "asyncio"
local fs = asyncio.fs

asyncio.run(function()
  -- A fresh directory, named after os.tmpname, removed at the end.
  local dir = os.tmpname()
  os.remove(dir)
  fs.mkdir(dir .. "/notes/2024", { parents = true })

  fs.write_file(dir .. "/notes/todo.txt", "buy milk\nwrite tests\n")
  fs.write_file(dir .. "/notes/2024/plan.txt", "ship it\n", { atomic = true })
  io.write(fs.read_file(dir .. "/notes/todo.txt"))

  local st = fs.stat(dir .. "/notes/todo.txt")
  print("size", st.size, "type", st.type)
  print("notes is a", fs.stat(dir .. "/notes").type)
  print("listing:", table.concat(fs.listdir(dir .. "/notes"), ", "))

  -- Files opened for reading and writing, with seek.
  local f = fs.open(dir .. "/notes/log.txt", "w+")
  f:write("first line\n"):write("second line\n")
  f:seek(0)
  print("first 5 bytes:", f:read(5))
  print("end at", f:seek(0, "end"))
  f:close()

  -- Errors say what failed, on which path, and why.
  local ok, err = pcall(fs.read_file, dir .. "/missing.txt")
  print(ok, (tostring(err):gsub(dir, "DIR")), err.code)

  -- Several files read at once.
  local texts = asyncio.gather(
    function() return fs.read_file(dir .. "/notes/todo.txt") end,
    function() return fs.read_file(dir .. "/notes/2024/plan.txt") end)
  print("read", #texts[1] + #texts[2], "bytes together")

  fs.rename(dir .. "/notes/log.txt", dir .. "/notes/old.txt")
  print("after rename:", table.concat(fs.listdir(dir .. "/notes"), ", "))

  -- Clean up, deepest first.
  for _, path in ipairs { "notes/2024/plan.txt", "notes/2024", "notes/todo.txt",
                          "notes/old.txt", "notes", "" } do
    fs.remove(dir .. "/" .. path)
  end
  print("cleaned up:", not pcall(fs.stat, dir))
end)
