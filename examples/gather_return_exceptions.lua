-- With return_exceptions = true, a failing job does not stop gather or its siblings:
-- the error object lands in the failed job's slot and the other job still runs and
-- returns. A job that returns nothing keeps its slot as nil (results.n counts it).
local asyncio = require "asyncio"

local function repr(v)
  if asyncio.iserror(v) then return ("error(%q)"):format(tostring(v)) end
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

local function show(list)
  local parts = {}
  for i = 1, list.n do parts[i] = repr(list[i]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function task_1()
  error("Exception in task_1", 0)
end

local function task_2()
  print("Task 2 is running...")
end

asyncio.run(function()
  local results = asyncio.gather{task_1, task_2, return_exceptions = true}
  print(show(results))
end)
