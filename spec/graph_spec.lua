-- graph_spec.lua - asyncio.capture_call_graph, format_call_graph and
-- print_call_graph: where a task is suspended and who waits for it,
-- through gather, TaskGroup, wait_for, shield and plain awaits.
local asyncio = require "asyncio"
local support = require "support"
local pass = support.pass

local SRC = debug.getinfo(1, "S").short_src

-- The line this is called from.
local function here()
  return debug.getinfo(2, "l").currentline
end

-- Awaits a fresh future nobody resolves, until cancelled.
local function block()
  return asyncio.await(asyncio.Future())
end

-- The "via" and future of each entry of a graph's awaited_by.
local function awaiters(g)
  local out = {}
  for i, a in ipairs(g.awaited_by) do
    out[i] = { a.via, a.future }
  end
  return out
end

-- Whether one frame of the call stack has that name.
local function has_frame(stack, name)
  for _, f in ipairs(stack) do
    if f.name == name then
      return true
    end
  end
  return false
end

describe("asyncio.capture_call_graph", function()
  it("shows the current task where it calls, by default",
    asyncio.spec(function()
      local line
      local function inner()
        line = here() + 1
        return asyncio.capture_call_graph()
      end
      local g = inner()
      assert.equal(asyncio.current_task(), g.future)
      assert.same({}, g.awaited_by)
      local top = g.call_stack[1]
      assert.equal(SRC, top.source)
      assert.equal(line, top.line)
      assert.equal("Lua", top.what)
      assert.equal(("%s:%d: in local 'inner'"):format(SRC, line), top.text)
      -- depth = 2 starts one frame further out, at inner's caller.
      local function outer()
        local g2 = asyncio.capture_call_graph(nil, { depth = 2 })
        return g2
      end
      line = here() + 1
      assert.equal(line, outer().call_stack[1].line)
    end))

  it("keeps the innermost frames for a positive limit, the outermost "
    .. "for a negative one", asyncio.spec(function()
      local function deep(n, opts)
        if n == 0 then
          return asyncio.capture_call_graph(nil, opts)
        end
        local g = deep(n - 1, opts)
        return g
      end
      local all = deep(3).call_stack
      local last = deep(3, { limit = 2 }).call_stack
      assert.equal(2, #last)
      assert.equal(all[1].text, last[1].text)
      assert.equal(all[2].text, last[2].text)
      local first = deep(3, { limit = -1 }).call_stack
      assert.equal(1, #first)
      assert.equal(all[#all].text, first[1].text)
      assert.same({}, deep(3, { limit = 0 }).call_stack)
    end))

  it("shows a suspended task where it waits, and who awaits it",
    asyncio.spec(function()
      local line
      local child = asyncio.create_task(function()
        line = here() + 1
        asyncio.sleep(10)
      end, { name = "child" })
      local awaiter = asyncio.create_task(function()
        asyncio.await(child)
      end, { name = "awaiter" })
      pass()
      local g = asyncio.capture_call_graph(child)
      assert.equal(child, g.future)
      assert.equal("[C]: in function 'asyncio.sleep'", g.call_stack[1].text)
      assert.equal(line, g.call_stack[2].line)
      assert.same({ { "await", awaiter } }, awaiters(g))
      assert.equal("[C]: in function 'asyncio.await'",
        g.awaited_by[1].call_stack[1].text)
      assert.same({}, g.awaited_by[1].awaited_by)
      child:cancel()
      pcall(asyncio.await, awaiter)
      -- Done: nothing is left to show.
      local done = asyncio.capture_call_graph(child)
      assert.same({}, done.call_stack)
      assert.same({}, done.awaited_by)
    end))

  it("writes each frame as the task's traceback does, deep stacks and tail "
    .. "calls too", asyncio.spec(function()
      local function tail(n)
        if n == 0 then
          return asyncio.sleep(10)
        end
        return tail(n - 1)
      end
      local function deep(n)
        if n == 0 then
          tail(3)
        else
          deep(n - 1)
        end
      end
      local t = asyncio.create_task(function() deep(40) end)
      pass()
      local stack = asyncio.capture_call_graph(t).call_stack
      -- The traceback shows the first ten frames and the last eleven.
      local lines = {}
      for l in t:traceback():gmatch("\n\t([^\n]*)") do
        if l ~= "(...tail calls...)" and not l:match("^%.%.%.") then
          lines[#lines + 1] = l
        end
      end
      assert.equal(21, #lines)
      assert.equal(44, #stack)
      for i = 1, 10 do
        assert.equal(lines[i], stack[i].text)
      end
      for i = 0, 10 do
        assert.equal(lines[#lines - i], stack[#stack - i].text)
      end
      t:cancel()
      pcall(asyncio.await, t)
    end))

  it("lists every task awaiting a future, in the order they came",
    asyncio.spec(function()
      local fut = asyncio.Future()
      local a = asyncio.create_task(function() asyncio.await(fut) end)
      local b = asyncio.create_task(function() asyncio.await(fut) end)
      pass()
      local g = asyncio.capture_call_graph(fut)
      assert.equal(fut, g.future)
      assert.same({}, g.call_stack)
      assert.same({ { "await", a }, { "await", b } }, awaiters(g))
      fut:set_result(1)
      asyncio.await(a)
      asyncio.await(b)
    end))

  it("follows gather and TaskGroup up to the root", asyncio.spec(function()
    local main = asyncio.current_task()
    local leaf, gatherer
    local g
    asyncio.TaskGroup(function(tg)
      gatherer = tg:create_task(function()
        asyncio.gather(function()
          leaf = asyncio.current_task()
          g = asyncio.capture_call_graph()
        end)
      end, { name = "gatherer" })
    end)
    assert.equal(leaf, g.future)
    assert.same({ { "gather", gatherer } }, awaiters(g))
    local up = g.awaited_by[1]
    assert.is_true(has_frame(up.call_stack, "gather"))
    assert.same({ { "TaskGroup", main } }, awaiters(up))
    assert.same({}, up.awaited_by[1].awaited_by)
  end))

  it("follows wait_for, timeout and shield", asyncio.spec(function()
    local inner = asyncio.create_task(block, { name = "inner" })
    local timed = asyncio.create_task(function()
      asyncio.wait_for(inner, 100)
    end, { name = "timed" })
    local scoped = asyncio.create_task(block)
    local scoping = asyncio.create_task(function()
      asyncio.timeout(100, asyncio.await, scoped)
    end)
    local protected = asyncio.create_task(block)
    local shielding = asyncio.create_task(function()
      asyncio.await(asyncio.shield(protected))
    end)
    pass()
    local g = asyncio.capture_call_graph(inner)
    assert.same({ { "await", timed } }, awaiters(g))
    assert.is_true(has_frame(g.awaited_by[1].call_stack, "wait_for"))
    local sg = asyncio.capture_call_graph(scoped)
    assert.same({ { "await", scoping } }, awaiters(sg))
    assert.is_true(has_frame(sg.awaited_by[1].call_stack, "timeout"))
    assert.same({ { "shield", shielding } },
      awaiters(asyncio.capture_call_graph(protected)))
    for _, t in ipairs { timed, scoping, shielding, protected } do
      t:cancel()
      pcall(asyncio.await, t)
    end
  end))

  it("marks a task met again on its own path as a cycle",
    asyncio.spec(function()
      local main = asyncio.current_task()
      asyncio.TaskGroup(function(tg)
        -- The child waits for the group's parent, which waits for it.
        local child = tg:create_task(function()
          asyncio.await(asyncio.shield(main))
        end)
        pass()
        local g = asyncio.capture_call_graph(child)
        local up = g.awaited_by[1]
        assert.equal("TaskGroup", up.via)
        assert.equal(main, up.future)
        local back = up.awaited_by[1]
        assert.equal("shield", back.via)
        assert.equal(child, back.future)
        assert.is_true(back.cycle)
        assert.same({}, back.awaited_by)
        child:cancel()
      end)
    end))

  it("returns nil where no task runs", asyncio.spec(function(t)
    local got = "not called"
    local done = asyncio.Future()
    asyncio.get_running_loop():call_soon(t.expect(function()
      got = asyncio.capture_call_graph()
      done:set_result(true)
    end, 1))
    asyncio.await(done)
    assert.is_nil(got)
  end))

  it("names itself and the argument on bad input", function()
    assert.has_error(function() asyncio.capture_call_graph() end,
      "capture_call_graph: no running event loop: pass a task or future, "
        .. "or call it inside asyncio.run(main)")
    asyncio.run(function()
      local function err(fn)
        local ok, e = pcall(fn)
        assert.is_false(ok)
        return e
      end
      assert.matches("bad argument #1 to 'capture_call_graph' %(asyncio.Task "
        .. "or asyncio.Future expected, got number%)",
        err(function() asyncio.capture_call_graph(42) end))
      assert.matches("bad argument #2 to 'format_call_graph' %(table "
        .. "expected, got string%)",
        err(function() asyncio.format_call_graph(nil, "x") end))
      assert.matches("bad argument #2 to 'print_call_graph' %(depth: "
        .. "non%-negative integer expected, got %-1%)",
        err(function() asyncio.print_call_graph(nil, { depth = -1 }) end))
      assert.matches("bad argument #2 to 'capture_call_graph' %(limit: "
        .. "integer or nil expected, got 1.5%)",
        err(function() asyncio.capture_call_graph(nil, { limit = 1.5 }) end))
      assert.matches("bad argument #2 to 'print_call_graph' %(file: a file "
        .. "%(a value with a write method%) expected, got number%)",
        err(function() asyncio.print_call_graph(nil, { file = 1 }) end))
    end)
  end)
end)

describe("asyncio.format_call_graph and print_call_graph", function()
  it("draw the tree as Python's asyncio does", asyncio.spec(function()
    local main = asyncio.current_task()
    local l1, l2, tgline, text
    asyncio.TaskGroup(function(tg)
      tgline = debug.getinfo(1, "S").linedefined
      local worker = tg:create_task(function()
        l1 = here() + 1
        asyncio.sleep(10)
      end, { name = "worker" })
      pass()
      l2 = here() + 1
      text = asyncio.format_call_graph(worker, { limit = 2 })
      worker:cancel()
    end)
    local wid = assert(text:match("^%* Task 'worker' %(id (%d+)%)"))
    local expected = table.concat({
      "* Task 'worker' (id %s)",
      "  + Call stack:",
      "  |   [C]: in function 'asyncio.sleep'",
      "  |   %s:%d: in function <%s:%d>",
      "  + Awaited by:",
      "    * Task '%s' (id %s) via TaskGroup",
      "      + Call stack:",
      "      |   %s:%d: in function <%s:%d>",
      "      |   [C]: in function 'asyncio.TaskGroup'",
    }, "\n")
    assert.equal(expected:format(wid, SRC, l1, SRC, l1 - 2, main:get_name(),
      main:get_name():match("%d+$"), SRC, l2, SRC, tgline), text)
  end))

  it("prints to a file it is given, with a newline", asyncio.spec(function()
    local out = {}
    local file = { write = function(self, s) out[#out + 1] = s end }
    asyncio.print_call_graph(nil, { file = file, limit = 0 })
    assert.same({ ("* Task '%s' (id %s)\n"):format(
      asyncio.current_task():get_name(),
      asyncio.current_task():get_name():match("%d+$")) }, out)
  end))
end)
