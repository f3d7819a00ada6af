-- types_spec.lua - types/library/asyncio.lua, the definitions for the Lua
-- language server, walked against the module both ways: every public name
-- of the module, of its tables (asyncio.fs, the error classes) and of its
-- classes' methods has a definition, and every function, method and module
-- field defined there exists. `---@field` lines describe data, much of it
-- present only on live objects (a process's pid, an error's traceback), so
-- they count as definitions but are not looked up in turn.
-- Environment: LUAIO_SOURCE_DIR (the source tree; defaults to ".").
local asyncio = require "asyncio"

local source_dir = os.getenv("LUAIO_SOURCE_DIR") or "."
local TYPES = "types/library/asyncio.lua"

-- Names starting with "__" are metamethods and private markers.
local function public(k)
  return type(k) == "string" and not k:match("^__")
end

-- {====================================================================
-- The definitions, as the file's header describes them.
-- =====================================================================

-- Returns members (variable -> name -> {kind =, line =}) and classes
-- (name -> {name, parent, var, fields, line}).
local function parse(text)
  local members, classes = {}, {}
  local function member(var, name, kind, line)
    members[var] = members[var] or {}
    members[var][name] = { kind = kind, line = line }
  end
  local open -- the class whose ---@class block is being read
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local name, parent = line:match("^%-%-%-@class%s+([%w_.]+)%s*:?%s*([%w_.]*)")
    if name then
      open = { name = name, parent = parent ~= "" and parent or nil,
               fields = {}, line = n }
      classes[name] = open
    elseif line:match("^%-%-%-") then
      local field = line:match("^%-%-%-@field%s+([%w_]+)")
      if open and field then open.fields[field] = n end
    else
      local var = line:match("^local%s+([%w_]+)%s*=%s*{}")
        or line:match("^([%w_.]+)%s*=%s*{}")
      if open and var then open.var = var end
      open = nil
      local fvar, fname = line:match("^function%s+([%w_.]+)[:.]([%w_]+)%s*%(")
      if fvar then
        member(fvar, fname, "function", n)
      else
        local lhs = line:match("^([%w_.]+)%s*=")
        local v, k = (lhs or ""):match("^([%w_.]+)%.([%w_]+)$")
        if v then member(v, k, "field", n) end
      end
    end
  end
  return members, classes
end

-- }====================================================================

-- {====================================================================
-- The module's classes: the metatables it registers as "asyncio.<Class>".
-- =====================================================================

-- A class's methods: its __index table, or for an __index function (a
-- Process looks up its fields first) the table of functions it closes on.
local function methods_of(mt)
  local index = rawget(mt, "__index")
  if type(index) == "table" then
    return index
  end
  if type(index) == "function" then
    for i = 1, math.huge do
      local name, v = debug.getupvalue(index, i)
      if name == nil then break end
      if type(v) == "table" and next(v) ~= nil then
        local all = true
        for _, f in pairs(v) do
          if type(f) ~= "function" then all = false end
        end
        if all then return v end
      end
    end
  end
  return {}
end

-- name -> methods table, for the classes with at least one public method.
-- A class may make its metatable on first use: every constructor (a
-- module function named with a capital) is called once first, inside a
-- loop, and may fail without its arguments.
local function registry_classes()
  asyncio.run(function()
    for k, v in pairs(asyncio) do
      if type(k) == "string" and k:match("^%u") and type(v) == "function"
      then
        pcall(v)
      end
    end
  end)
  local found = {}
  for name, mt in pairs(debug.getregistry()) do
    if type(name) == "string" and name:match("^asyncio%.")
        and type(mt) == "table" then
      local methods = methods_of(mt)
      for k in pairs(methods) do
        if public(k) then
          found[name] = methods
          break
        end
      end
    end
  end
  return found
end

-- }====================================================================

-- The disagreements between the definitions in text and the module, as
-- sentences; none when they agree.
local function check(text)
  local members, classes = parse(text)
  members.asyncio = members.asyncio or {}
  local byvar = {}
  for _, c in pairs(classes) do
    if c.var then byvar[c.var] = c end
  end
  local registry = registry_classes()
  local problems = {}
  local function problem(fmt, ...)
    problems[#problems + 1] = fmt:format(...)
  end
  local function where(d)
    return TYPES .. ":" .. d.line
  end

  -- The definition of name for class c or one of its bases, or nil.
  local function lookup(c, name)
    while c do
      local d = c.var and members[c.var] and members[c.var][name]
      if d then return d end
      if c.fields[name] then return { kind = "field", line = c.fields[name] } end
      c = c.parent and classes[c.parent]
    end
  end

  -- The module's classes defined at c or below it.
  local function concrete(c)
    local out = {}
    for name, other in pairs(classes) do
      local k = other
      while k do
        if k == c then
          if registry[name] then out[#out + 1] = name end
          break
        end
        k = k.parent and classes[k.parent]
      end
    end
    table.sort(out)
    return out
  end

  -- The module's own names.
  for k, v in pairs(asyncio) do
    if public(k) then
      local d = members.asyncio[k]
      local kind = type(v) == "function" and "function" or "field"
      if not d then
        problem("asyncio.%s (a %s) has no definition in %s", k, type(v), TYPES)
      elseif d.kind ~= kind then
        problem("asyncio.%s is a %s, but %s defines a %s", k, type(v),
          where(d), d.kind)
      end
    end
  end
  for k, d in pairs(members.asyncio) do
    if asyncio[k] == nil then
      problem("%s defines asyncio.%s, which the module lacks", where(d), k)
    end
  end

  -- The module's tables: asyncio.fs and the error classes.
  for k, v in pairs(asyncio) do
    if public(k) and type(v) == "table" then
      local c = byvar["asyncio." .. k]
      if not c then
        problem("asyncio.%s has no ---@class bound to it in %s", k, TYPES)
      else
        for kk in pairs(v) do
          if public(kk) and not lookup(c, kk) then
            problem("asyncio.%s.%s has no definition in %s (class %s)",
              k, kk, TYPES, c.name)
          end
        end
        local base = c
        while base do
          for name, d in pairs(base.var and members[base.var] or {}) do
            if d.kind == "function" and type(v[name]) ~= "function" then
              problem("%s defines %s.%s, which asyncio.%s lacks", where(d),
                base.name, name, k)
            end
          end
          base = base.parent and classes[base.parent]
        end
      end
    end
  end

  -- The classes' methods, from the module's side...
  for name, methods in pairs(registry) do
    local c = classes[name]
    if not c then
      problem("class %s has no ---@class in %s", name, TYPES)
    else
      for m in pairs(methods) do
        if public(m) and not lookup(c, m) then
          problem("%s:%s has no definition in %s", name, m, TYPES)
        end
      end
    end
  end
  -- ...and from the file's: a class's methods must exist in it and in
  -- every class of the module below it (Lockable is Lock's, Semaphore's
  -- and Condition's base).
  for _, c in pairs(classes) do
    local own = c.var and not c.var:match("^asyncio") and members[c.var]
    if own and next(own) then
      local targets = concrete(c)
      if #targets == 0 then
        problem("%s:%d: class %s has methods but is no class of the module, "
          .. "nor a base of one", TYPES, c.line, c.name)
      end
      for _, target in ipairs(targets) do
        for m, d in pairs(own) do
          if d.kind == "function" and type(registry[target][m]) ~= "function"
          then
            problem("%s defines %s:%s, which %s lacks", where(d), c.name, m,
              target)
          end
        end
      end
    end
  end
  table.sort(problems)
  return problems
end

describe("the type definitions", function()
  local f = assert(io.open(source_dir .. "/" .. TYPES, "r"))
  local text = f:read("a")
  f:close()

  it("are a Lua file that declares itself ---@meta", function()
    assert(load(text, "=" .. TYPES))
    assert.truthy(text:match("^%-%-%-@meta asyncio\n"))
  end)

  it("and the module name the same functions, classes and methods",
    function()
      local problems = check(text)
      assert(#problems == 0, "\n" .. table.concat(problems, "\n"))
    end)

  it("missing on either side are reported", function()
    local function without(pattern, by)
      local broken, n = text:gsub(pattern, by)
      assert.equal(1, n)
      return table.concat(check(broken), "\n")
    end
    local report = without("function Task:get_name%(%) end",
      "function Task:get_nickname() end")
    assert.matches("asyncio.Task:get_name has no definition", report, 1, true)
    assert.matches("defines asyncio.Task:get_nickname, which asyncio.Task "
      .. "lacks", report, 1, true)
    report = without("\nfunction asyncio%.sleep%(", "\nfunction asyncio.nap(")
    assert.matches("asyncio.sleep (a function) has no definition", report, 1,
      true)
    assert.matches("defines asyncio.nap, which the module lacks", report, 1,
      true)
    report = without("\nfunction asyncio%.fs%.stat%(", "\nfunction stat(")
    assert.matches("asyncio.fs.stat has no definition", report, 1, true)
    report = without("\nfunction Lockable:locked%(", "\nfunction Lockable:held(")
    assert.matches("asyncio.Lockable:held, which asyncio.Condition lacks",
      report, 1, true)
    assert.matches("asyncio.Lock:locked has no definition", report, 1, true)
  end)
end)
