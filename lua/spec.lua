-- spec.lua - asyncio.spec(body): one busted case that runs inside the loop.
--
-- Embedded at build time and run by luaopen_asyncio with the module table as
-- its first argument. The case runs body(t) as the main task of a fresh
-- asyncio.run, then checks what the body left behind: call counts asked for
-- with t.expect, tasks that are still running and, when the runtime can tell,
-- open libuv handles (luv's tap does the same). collectgarbage() runs between
-- the steps so that a GC-lifetime bug fails under test, not in users' hands.
--
--   it("keeps FIFO order", asyncio.spec(function(t)
--     local cb = t.expect(function(fut) ... end, 1)
--     ...
--   end))
--
--   it("times out after 30 s, at once", asyncio.spec(function(t)
--     ... t.clock:time() ...
--   end, { clock = "virtual" }))
local asyncio = ...

-- What an expectation is called in a failure message: the name it was given,
-- else its position among the body's expectations and where fn was defined.
local function label(e)
  if e.name then
    return e.name
  end
  local where = ""
  if type(e.fn) == "function" then
    local info = debug.getinfo(e.fn, "S")
    where = (" (%s:%d)"):format(info.short_src, info.linedefined)
  end
  return "#" .. e.index .. where
end

-- The context handed to the body. t.expect(fn, n [, name]) returns a wrapper
-- of fn (a no-op when fn is nil) that counts its calls and returns fn's
-- values; after the body it must have been called exactly n times (n
-- defaults to 1). Counts are checked after the loop iteration that follows
-- the body.
local function new_context()
  local expectations = {}
  local t = {}

  function t.expect(fn, n, name)
    local e = { fn = fn, n = n or 1, name = name, calls = 0,
                index = #expectations + 1 }
    expectations[e.index] = e
    return function(...)
      e.calls = e.calls + 1
      if fn then
        return fn(...)
      end
    end
  end

  return t, expectations
end

local function check_expectations(expectations)
  for _, e in ipairs(expectations) do
    if e.calls ~= e.n then
      error(("expected %d calls to %s, got %d")
            :format(e.n, label(e), e.calls), 0)
    end
  end
end

-- Every task the body started must have finished: list the others by name
-- with where each one is suspended.
local function check_tasks()
  local current = asyncio.current_task()
  local left = {}
  for _, task in ipairs(asyncio.all_tasks()) do
    if task ~= current then
      left[#left + 1] = ("%s\n%s"):format(task:get_name(),
                                          tostring(task:traceback()))
    end
  end
  if #left > 0 then
    error(("%d task(s) still running after the spec body:\n%s")
          :format(#left, table.concat(left, "\n")), 0)
  end
end

-- _open_handles is an optional debug aid: the number of libuv handles open
-- besides the runtime's own. Without it there is nothing to check.
local function check_handles()
  local open_handles = asyncio._open_handles
  if open_handles == nil then
    return
  end
  local n = open_handles()
  if n ~= 0 then
    error(("%d libuv handle(s) still open after the spec body"):format(n), 0)
  end
end

-- opts.clock: "virtual", "manual" or an asyncio.Clock runs the body on that
-- clock (a new one for each run of the case), given to it as t.clock.
function asyncio.spec(body, opts)
  local kind = opts and opts.clock
  return function()
    collectgarbage()
    local clock = kind
    if type(kind) == "string" and kind ~= "real" then
      clock = asyncio.Clock(kind)
    end
    local ok, err = pcall(asyncio.run, function()
      local t, expectations = new_context()
      if type(clock) == "userdata" then
        t.clock = clock
      end
      body(t)
      collectgarbage()
      -- One more loop iteration, so that tasks the body just cancelled and
      -- callbacks it just scheduled get their turn.
      asyncio.sleep(0)
      check_expectations(expectations)
      check_tasks()
      check_handles()
    end, clock and { clock = clock } or nil)
    collectgarbage()
    if not ok then
      error(err, 0) -- the body's own error value, so busted shows it as is
    end
  end
end
