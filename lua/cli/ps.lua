-- ps.lua - draws the task table a luaio process answered to `luaio ps` or
-- `luaio pstree` (bindings/luaio_ps.c runs it with the table, the mode
-- and the pid; bindings/lgraph.c writes the table): ps as a table of
-- tasks, pstree as the tree of who waits for whom, each task under the
-- tasks waiting for it, after the frames of its call stack.
local text, mode, pid = ...

local tasks, byid = {}, {}
local lines = text:gmatch("([^\n]*)\n")
local head = lines() or ""
if not head:match("^luaio%-tasks 1\t") then
  error(("process %d answered in a form this luaio does not read: %q")
    :format(pid, head), 0)
end
for line in lines do
  local f = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    f[#f + 1] = field ~= "-" and field or ""
  end
  local t = { id = tonumber(f[1]), name = f[2], state = f[3], waits = f[4],
              where = f[5], awaited_by = {}, children = {}, frames = {} }
  for id, via in (f[6] or ""):gmatch("(%d+):([^,]+)") do
    t.awaited_by[#t.awaited_by + 1] = { id = tonumber(id), via = via }
  end
  if (f[7] or "") ~= "" then -- innermost first
    for frame in (f[7] .. "\31"):gmatch("([^\31]*)\31") do
      t.frames[#t.frames + 1] = frame
    end
  end
  tasks[#tasks + 1] = t
  byid[t.id] = t
end

local out = {}

if mode == "ps" then
  local rows = { { "ID", "NAME", "STATE", "WAITS ON", "WHERE",
                   "AWAITED BY" } }
  for _, t in ipairs(tasks) do
    local by = {}
    for _, a in ipairs(t.awaited_by) do
      local p = byid[a.id]
      by[#by + 1] = ("%d %s (%s)"):format(a.id, p and p.name or "?", a.via)
    end
    rows[#rows + 1] = { tostring(t.id), t.name, t.state,
                        t.waits ~= "" and t.waits or "-",
                        t.where ~= "" and t.where or "-",
                        #by > 0 and table.concat(by, ", ") or "-" }
  end
  local width = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      width[i] = math.max(width[i] or 0, utf8.len(cell) or #cell)
    end
  end
  for _, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do
      local pad = i < #row and (" "):rep(width[i] - (utf8.len(cell) or #cell))
        or ""
      cells[i] = cell .. pad
    end
    out[#out + 1] = table.concat(cells, "  ")
  end
  return table.concat(out, "\n") .. "\n"
end

-- pstree: each task under those waiting for it (the first of them first).
for _, t in ipairs(tasks) do
  for _, a in ipairs(t.awaited_by) do
    local p = byid[a.id]
    if p then
      p.children[#p.children + 1] = { task = t, via = a.via }
    end
  end
end

local function label(t, via)
  local s = ("%s (id %d)"):format(t.name, t.id)
  if via then
    s = s .. " via " .. via
  end
  s = s .. ": " .. t.state
  if t.waits ~= "" then
    s = s .. ", " .. t.waits
  end
  if t.where ~= "" then
    s = s .. ", at " .. t.where
  end
  return s
end

local drawn = {}
local path = {}

-- A task's line, then the frames of its call stack (innermost first, as
-- Python's pstree shows each task's coroutine stack), then the tasks
-- waiting for it.
local function draw(t, via, prefix, last)
  out[#out + 1] = prefix .. (last and "└── " or "├── ") .. label(t, via)
  local inner = prefix .. (last and "    " or "│   ")
  if path[t] then
    out[#out + 1] = inner .. "└── (a cycle: it waits for a task above)"
    return
  end
  drawn[t] = true
  path[t] = true
  for i, frame in ipairs(t.frames) do
    local final = i == #t.frames and #t.children == 0
    out[#out + 1] = inner .. (final and "└── " or "├── ") .. frame
  end
  for i, c in ipairs(t.children) do
    draw(c.task, c.via, inner, i == #t.children)
  end
  path[t] = nil
end

-- The tasks nobody waits for are the roots; then tasks waiting for each
-- other in a cycle, which have none, from the first not drawn yet.
for _, t in ipairs(tasks) do
  local awaited = false
  for _, a in ipairs(t.awaited_by) do
    awaited = awaited or byid[a.id] ~= nil
  end
  if not awaited then
    draw(t, nil, "", true)
  end
end
for _, t in ipairs(tasks) do
  if not drawn[t] then
    draw(t, nil, "", true)
  end
end
if #tasks == 0 then
  out[1] = ("process %d has no task"):format(pid)
end
return table.concat(out, "\n") .. "\n"
