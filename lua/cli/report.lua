-- report.lua - the sub-errors of an uncaught ExceptionGroup, drawn as
-- Python's traceback module draws them: numbered, each with its message
-- and the traceback of the task it left, nested groups indented inside
-- their parent. Embedded into the command only; bindings/luaio.c calls it
-- with the group and the asyncio module, and prints what it returns after
-- the group's own message and traceback.
local group, asyncio = ...

local MAX_ERRORS, MAX_DEPTH = 15, 10
local out = {}

local function isgroup(err)
  return asyncio.ExceptionGroup:is(err) and type(err.errors) == "table"
end

-- An error's text as the command prints it: its message, then the
-- traceback it carries.
local function text(err)
  local msg
  if type(err) == "string" or type(err) == "number" then
    msg = tostring(err)
  else
    local mt = getmetatable(err)
    local ok, s = pcall(tostring, err)
    if type(mt) == "table" and mt.__tostring and ok then
      msg = s
    else
      msg = ("(error object is a %s value)"):format(type(err))
    end
    if type(err) == "table" and type(err.traceback) == "string" then
      msg = msg .. "\n" .. err.traceback
    end
  end
  return msg
end

local function draw(g, indent, depth)
  local errors = g.errors
  local n = #errors
  for i = 1, math.min(n, MAX_ERRORS) do
    out[#out + 1] = ("%s%s---------------- %d ----------------")
      :format(indent, i == 1 and "+-+" or "  +", i)
    local err = errors[i]
    if isgroup(err) and depth >= MAX_DEPTH then
      out[#out + 1] = indent .. "    | ... (nested groups deeper than "
        .. MAX_DEPTH .. " are not shown)"
    else
      for line in (text(err) .. "\n"):gmatch("(.-)\n") do
        out[#out + 1] = indent .. "    | " .. line
      end
      if isgroup(err) then
        draw(err, indent .. "    ", depth + 1)
      end
    end
  end
  if n > MAX_ERRORS then
    out[#out + 1] = indent .. "  +---------------- ... ----------------"
    out[#out + 1] = ("%s    | and %d more"):format(indent, n - MAX_ERRORS)
  end
  out[#out + 1] = indent .. "  +------------------------------------"
end

if isgroup(group) then
  draw(group, "", 1)
end
return table.concat(out, "\n")
