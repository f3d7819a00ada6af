-- asyncio.Scope: what the code of a scope makes, directly or through its
-- tasks, belongs to it (tasks, call_soon/call_later/call_at handles, done
-- callbacks, servers, streams, endpoints, subprocesses, nested scopes);
-- cancel() and close() end all of it, and nothing of it is kept after.
local asyncio = require "asyncio"

local function forever()
  while true do asyncio.sleep(10) end
end

-- Whether the value fn returns is collected once nothing else holds it.
local function collectable(fn)
  local weak = setmetatable({ fn() }, { __mode = "v" })
  collectgarbage()
  collectgarbage()
  return weak[1] == nil
end

describe("asyncio.Scope", function()
  it("runs spawn(fn, ...) as a task of the scope, with its arguments",
     asyncio.spec(function()
    local s = asyncio.Scope()
    assert.is_false(s:closed())
    assert.matches("^asyncio.Scope %d+ %(open%)$", tostring(s))
    assert.is_nil(asyncio.current_scope())
    local t = s:spawn(function(a, b, c)
      assert.equal(s, asyncio.current_scope())
      return a + b, c
    end, 1, 2, nil)
    assert.same({ 3, nil }, { asyncio.await(t) })
    assert.is_nil(asyncio.current_scope()) -- the caller's is unchanged
    s:cancel()
    assert.is_true(s:closed())
    assert.matches("%(closed%)$", tostring(s))
  end))

  it("is inherited by tasks, gather, TaskGroup and callbacks made inside",
     asyncio.spec(function()
    local s = asyncio.Scope()
    local seen = {}
    local function note(what)
      seen[what] = asyncio.current_scope() == s
    end
    local fut = asyncio.Future()
    asyncio.await(s:spawn(function()
      local loop = asyncio.get_running_loop()
      asyncio.await(asyncio.create_task(function()
        note("create_task")
        asyncio.await(asyncio.create_task(function() note("grandchild") end))
      end))
      asyncio.gather(function() note("gather") end)
      asyncio.TaskGroup(function(tg)
        tg:create_task(function() note("TaskGroup") end)
      end)
      loop:call_soon(note, "call_soon")
      loop:call_later(0, note, "call_later")
      loop:call_at(loop:time(), note, "call_at")
      fut:add_done_callback(function() note("done callback") end)
      asyncio.sleep(0.01)
    end))
    fut:set_result(true)
    asyncio.sleep(0)
    assert.same({ create_task = true, grandchild = true, gather = true,
                  TaskGroup = true, call_soon = true, call_later = true,
                  call_at = true, ["done callback"] = true }, seen)
    -- Code outside the scope stays outside.
    asyncio.await(asyncio.create_task(function() note("outside") end))
    assert.is_false(seen.outside)
    s:cancel()
  end))

  it("cancel() cancels its tasks, which clean up, with the message given",
     asyncio.spec(function()
    local s = asyncio.Scope()
    local log = {}
    s:spawn(function()
      asyncio.create_task(function()
        local ok, err = pcall(forever)
        log[#log + 1] = "child: " .. err.message
        asyncio.sleep(0) -- cleanup may suspend
        log[#log + 1] = "child done"
        error(err)
      end)
      local ok, err = pcall(forever)
      log[#log + 1] = "root: " .. err.message
      error(err)
    end)
    asyncio.sleep(0)
    asyncio.sleep(0)
    assert.equal(2, #s:tasks())
    s:cancel("reload")
    assert.equal(2, #s:tasks()) -- they have not run their cleanup yet
    asyncio.sleep(0)
    asyncio.sleep(0)
    assert.same({ "root: reload", "child: reload", "child done" }, log)
    assert.same({}, s:tasks())
  end))

  it("cancel() cancels its handles and removes its done callbacks",
     asyncio.spec(function()
    local s = asyncio.Scope()
    local loop = asyncio.get_running_loop()
    local fut = asyncio.Future() -- made outside: it outlives the scope
    local ran = {}
    local handles
    asyncio.await(s:spawn(function()
      handles = {
        loop:call_later(0.01, function() ran[#ran + 1] = "later" end),
        loop:call_at(loop:time() + 0.01, function() ran[#ran + 1] = "at" end),
      }
      fut:add_done_callback(function() ran[#ran + 1] = "callback" end)
    end))
    -- One kept outside: the scope's removal leaves it alone.
    fut:add_done_callback(function() ran[#ran + 1] = "outside callback" end)
    s:cancel()
    for _, h in ipairs(handles) do assert.is_true(h:cancelled()) end
    fut:set_result(1)
    asyncio.sleep(0.02)
    assert.same({ "outside callback" }, ran)
  end))

  it("cancels a rearming call_later and lets go of it", asyncio.spec(function()
    local s = asyncio.Scope()
    local loop = asyncio.get_running_loop()
    local ticks = 0
    asyncio.await(s:spawn(function()
      local function tick()
        ticks = ticks + 1
        loop:call_later(0, tick)
      end
      tick()
    end))
    asyncio.sleep(0)
    asyncio.sleep(0)
    assert.is_true(ticks >= 2)
    s:cancel()
    local at = ticks
    asyncio.sleep(0)
    asyncio.sleep(0)
    assert.equal(at, ticks)
  end))

  it("closes its servers, streams and endpoints; terminates its processes",
     asyncio.spec(function()
    local s = asyncio.Scope()
    local handled = asyncio.Event()
    local server, reader, writer, udp, proc, handler_scope
    asyncio.await(s:spawn(function()
      server = asyncio.start_server(function(r, w)
        handler_scope = asyncio.current_scope()
        handled:set()
        r:read() -- until the scope closes the connection
      end, "127.0.0.1", 0)
      reader, writer = asyncio.open_connection("127.0.0.1", server:port())
      udp = asyncio.open_datagram({ "127.0.0.1", 0 })
      proc = asyncio.create_subprocess_exec("sleep", { "10" })
    end))
    handled:wait()
    assert.equal(s, handler_scope) -- where the server was made
    assert.is_true(server:is_serving())
    s:cancel()
    assert.is_false(server:is_serving())
    assert.is_true(writer:is_closing())
    assert.is_true(udp:is_closing())
    assert.equal(-15, proc:wait()) -- SIGTERM, as asyncio's terminate()
    assert.equal("", reader:read()) -- the server's side was closed too
    asyncio.sleep(0)
  end))

  it("close() waits for the cleanup of its tasks, then closes streams",
     asyncio.spec(function()
    local s = asyncio.Scope()
    local log = {}
    local connected, got = asyncio.Event(), asyncio.Event()
    local server = asyncio.start_server(function(r, w)
      local data = r:read()
      log[#log + 1] = "got " .. data
      got:set()
    end, "127.0.0.1", 0)
    s:spawn(function()
      local _, w = asyncio.open_connection("127.0.0.1", server:port())
      connected:set()
      local ok = pcall(forever)
      asyncio.sleep(0.01) -- a cleanup that takes a while
      w:write("bye") -- still open: it is closed after the cleanup
      log[#log + 1] = "cleaned up"
    end)
    connected:wait()
    s:close()
    log[#log + 1] = "closed"
    assert.same({}, s:tasks())
    asyncio.wait_for(function() got:wait() end, 10)
    assert.same({ "cleaned up", "closed", "got bye" }, log)
    server:close()
    server:wait_closed()
  end))

  it("close() from one of its own tasks cancels that task too",
     asyncio.spec(function()
    local s = asyncio.Scope()
    local other = s:spawn(forever)
    local t = s:spawn(function()
      asyncio.sleep(0)
      s:close()
      return "not reached"
    end)
    asyncio.wait({ t })
    assert.is_true(t:cancelled())
    assert.is_true(other:cancelled())
  end))

  it("wait() waits for its tasks, those spawned meanwhile too, cancelling none",
     asyncio.spec(function()
    local s = asyncio.Scope()
    local log = {}
    s:spawn(function()
      asyncio.sleep(0.01)
      asyncio.create_task(function()
        asyncio.sleep(0.01)
        log[#log + 1] = "late"
      end)
      log[#log + 1] = "first"
    end)
    s:wait()
    assert.same({ "first", "late" }, log)
    assert.is_false(s:closed())
    s:wait() -- nothing left: returns at once
    s:cancel()
  end))

  it("closing a scope closes the scopes made inside it", asyncio.spec(function()
    local outer = asyncio.Scope()
    local inner
    local log = {}
    asyncio.await(outer:spawn(function()
      inner = asyncio.Scope()
      inner:spawn(function()
        local ok = pcall(forever)
        log[#log + 1] = "inner cleanup"
      end)
    end))
    asyncio.sleep(0)
    assert.equal(1, #outer:tasks()) -- the inner scope's task
    local top = asyncio.Scope() -- made outside: not inside outer
    outer:close()
    assert.is_true(inner:closed())
    assert.is_false(top:closed())
    assert.same({ "inner cleanup" }, log)
    top:cancel()
  end))

  it("refuses new work once closed, naming the call", asyncio.spec(function()
    local s = asyncio.Scope()
    local loop = asyncio.get_running_loop()
    local errors = {}
    local ready, go = asyncio.Event(), asyncio.Event()
    s:spawn(function()
      ready:set()
      local ok = pcall(forever) -- cancelled: its cleanup tries to go on
      for _, call in ipairs({
        function() asyncio.create_task(print) end,
        function() loop:call_soon(print) end,
        function() loop:call_later(1, print) end,
        function() asyncio.Future():add_done_callback(print) end,
        function() asyncio.Scope() end,
        function() asyncio.open_datagram({ "127.0.0.1", 0 }) end,
      }) do
        local ok, err = pcall(call)
        errors[#errors + 1] = err
      end
      go:set()
    end)
    ready:wait()
    s:cancel()
    go:wait()
    local names = { "create_task", "call_soon", "call_later",
                    "add_done_callback", "Scope", "open_datagram" }
    for i, name in ipairs(names) do
      assert.matches(":%d+: " .. name .. ": the scope is closed$", errors[i])
    end
    local ok, err = pcall(function() s:spawn(print) end)
    assert.is_false(ok)
    assert.matches(":%d+: spawn: the scope is closed$", err)
    s:cancel() -- closing twice does nothing
    s:close()
  end))

  it("names the function and the argument for bad input", asyncio.spec(function()
    local s = asyncio.Scope()
    local ok, err = pcall(function() s:spawn(42) end)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'spawn' %(function expected, got number%)",
                   err)
    ok, err = pcall(function() s:cancel({}) end)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'cancel' %(string expected, got table%)",
                   err)
    ok, err = pcall(s.spawn, {}, print)
    assert.is_false(ok)
    assert.matches("asyncio.Scope expected, got table", err)
    ok, err = pcall(s.tasks)
    assert.is_false(ok)
    assert.matches("asyncio.Scope expected, got no value", err)
    s:cancel()
  end))

  it("keeps its __scope metamethods safe from bad arguments",
     asyncio.spec(function()
    local s = asyncio.Scope()
    local t = asyncio.create_task(function() end)
    for _, obj in ipairs({ t, s }) do
      local scope_mm = getmetatable(obj).__scope
      assert.is_false(pcall(scope_mm, {}, "cancel", nil, {}, {}))
      assert.is_false(pcall(scope_mm, obj))
      assert.is_false(pcall(scope_mm, obj, "cancel", nil, 1, 2))
    end
    asyncio.await(t)
    s:cancel()
  end))

  it("needs a loop, and a task to close or wait in", function()
    local ok, err = pcall(asyncio.Scope)
    assert.is_false(ok)
    assert.matches("Scope: no running event loop", err)
    local s
    local results = {}
    asyncio.run(function()
      s = asyncio.Scope()
      asyncio.get_running_loop():call_soon(function()
        results = { pcall(s.close, s) }
        results[3], results[4] = pcall(s.wait, s)
      end)
      asyncio.sleep(0)
      s:cancel()
    end)
    assert.is_false(results[1])
    assert.matches("close must be called inside a task", results[2])
    assert.is_false(results[3])
    assert.matches("wait must be called inside a task", results[4])
    s = asyncio.run(function() return asyncio.Scope() end)
    assert.is_true(s:closed()) -- its loop closed
  end)

  it("keeps nothing alive: finished tasks and closed scopes are collected",
     asyncio.spec(function()
    local s = asyncio.Scope()
    assert.is_true(collectable(function()
      local t = s:spawn(function() end)
      asyncio.await(t)
      return t
    end))
    assert.is_true(collectable(function()
      local inner
      asyncio.await(s:spawn(function()
        inner = asyncio.Scope()
        inner:spawn(forever)
      end))
      s:cancel()
      asyncio.sleep(0)
      return inner
    end))
    assert.is_true(collectable(function()
      local other = asyncio.Scope()
      other:spawn(forever)
      other:cancel()
      asyncio.sleep(0)
      return other
    end))
    s:cancel()
  end))
end)
