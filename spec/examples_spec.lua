-- Runs every examples/*.lua with the luaio binary and checks that it exits with
-- status 0 and prints exactly what its sibling .expected file holds.
-- Environment: LUAIO_BIN (command that runs a script, may include a wrapper such as
-- valgrind) and LUAIO_SOURCE_DIR (the source tree; defaults to ".").

local source_dir = os.getenv("LUAIO_SOURCE_DIR") or "."
local luaio_bin = os.getenv("LUAIO_BIN")

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

local function list_examples()
  local p = io.popen("ls " .. shell_quote(source_dir .. "/examples") .. "/*.lua 2>/dev/null")
  local files = {}
  for line in p:lines() do files[#files + 1] = line end
  p:close()
  table.sort(files)
  return files
end

-- runs `path` with the command-line options `flags`; returns stdout, stderr,
-- how ("exit"/"signal"), code
local function run_example(path, flags)
  local err_file = os.tmpname()
  local p = io.popen(luaio_bin .. flags .. " " .. shell_quote(path) .. " 2>"
                     .. shell_quote(err_file))
  local out = p:read("a")
  local _, how, code = p:close()
  local err = read_file(err_file) or ""
  os.remove(err_file)
  return out, err, how, code
end

local function split_lines(s)
  local lines = {}
  for line in (s .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  return lines
end

local function show_line(line)
  if line == nil then return "<end of output>" end
  return string.format("%q", line)
end

local function first_difference(expected, got)
  local e, g = split_lines(expected), split_lines(got)
  for i = 1, math.max(#e, #g) do
    if e[i] ~= g[i] then
      return ("first difference at line %d:\n  expected: %s\n  got:      %s")
        :format(i, show_line(e[i]), show_line(g[i]))
    end
  end
  return "outputs differ" -- not reached: equal line lists mean equal strings
end

local function with_stderr(msg, err)
  if err == "" then return msg end
  return msg .. "\n--- stderr ---\n" .. err
end

describe("examples", function()
  local examples = list_examples()

  it("exist", function()
    assert.is_true(#examples > 0, "no examples/*.lua found under " .. source_dir)
  end)

  for _, path in ipairs(examples) do
    local name = path:match("([^/]+)%.lua$")
    local expected_path = path:gsub("%.lua$", ".expected")
    local expected = read_file(expected_path)

    it(name .. " has an .expected file", function()
      assert.is_true(expected ~= nil, "missing " .. expected_path)
    end)

    -- On the virtual clock (luaio --virtual-time) the sleeps take no real
    -- time, and the output must not change.
    for _, flags in ipairs { "", " --virtual-time" } do
      if expected then
        it(name .. " prints its expected output" .. flags, function()
          assert.is_true(luaio_bin ~= nil, "LUAIO_BIN is not set")
          local out, err, how, code = run_example(path, flags)
          assert.is_true(how == "exit" and code == 0, with_stderr(
            ("%s ended with %s %s"):format(name, tostring(how), tostring(code)), err))
          assert.is_true(out == expected, with_stderr(
            name .. ": stdout differs from " .. expected_path .. "\n"
              .. first_difference(expected, out) .. "\n--- got ---\n" .. out, err))
        end)
      end
    end
  end
end)
