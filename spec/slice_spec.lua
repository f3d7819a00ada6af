-- slice_spec.lua - slices: how long a task may run without suspending.
-- Past the warning the exception handler hears of the task; past the limit
-- the task fails with a SliceError (or, asked to be preempted, is paused
-- and resumed after the others). Time is a manual clock that the busy
-- tasks move themselves, standing in for the time their work takes.
local asyncio = require "asyncio"

-- Runs main on a manual clock with the options opts; returns the clock.
local function run(main, opts)
  local clock = asyncio.Clock("manual")
  opts = opts or {}
  opts.clock = clock
  asyncio.run(function() main(clock) end, opts)
  return clock
end

-- A task body that runs forever, moving the clock by 1 ms each turn.
local function spin(clock)
  return function()
    while true do clock:jump(0.001) end
  end
end

describe("slices", function()
  it("are off by default: get_slice gives 0, 0", function()
    run(function()
      local limit, warn = asyncio.get_running_loop():get_slice()
      assert.equal(0, limit)
      assert.equal(0, warn)
    end)
  end)

  it("fail a runaway task with a SliceError naming it, catchable", function()
    local log = {}
    run(function(clock)
      local t = asyncio.create_task(function()
        local ok, err = pcall(spin(clock))
        log[#log + 1] = "cleanup"
        error(err)
      end, { name = "runaway" })
      local ok, err = pcall(asyncio.await, t)
      assert.is_false(ok)
      assert.is_true(asyncio.SliceError:is(err))
      assert.matches("task 'runaway' ran for [%d.]+ s without suspending, "
                     .. "past the loop's slice of 0.5 s", tostring(err))
      log[#log + 1] = "main goes on"
    end, { slice = 0.5 })
    assert.same({ "cleanup", "main goes on" }, log)
  end)

  it("let the other tasks keep their schedule", function()
    local ticks = {}
    run(function(clock)
      local ticker = asyncio.create_task(function()
        for i = 1, 5 do
          ticks[#ticks + 1] = i
          asyncio.sleep(0)
        end
      end)
      local bad = asyncio.create_task(spin(clock))
      asyncio.await(ticker)
      assert.is_true(bad:done())
      assert.is_not_nil(bad:exception())
    end, { slice = 0.1 })
    assert.same({ 1, 2, 3, 4, 5 }, ticks)
  end)

  it("report a task past the warning to the handler, once per run", function()
    local contexts = {}
    run(function(clock)
      asyncio.get_running_loop():set_exception_handler(function(_, ctx)
        contexts[#contexts + 1] = ctx
      end)
      local t = asyncio.create_task(function()
        for i = 1, 3000 do clock:jump(0.0001) end
        return "done"
      end, { name = "slow" })
      assert.equal("done", asyncio.await(t))
    end, { slice_warning = 0.05 })
    assert.equal(1, #contexts)
    assert.matches("task 'slow' has run for [%d.]+ s without suspending",
                   contexts[1].message)
    assert.equal("slow", contexts[1].task:get_name())
    assert.matches("slice_spec.lua", contexts[1].traceback)
  end)

  it("pause a task that asked for preemption, result intact", function()
    local others = 0
    run(function(clock)
      local p = asyncio.create_task(function()
        local sum = 0
        for i = 1, 100000 do
          sum = sum + i
          if i % 50 == 0 then clock:jump(0.001) end
        end
        return sum
      end, { preempt = true })
      local o = asyncio.create_task(function()
        while not p:done() do
          others = others + 1
          asyncio.sleep(0)
        end
      end)
      assert.equal(100000 * 100001 // 2, asyncio.await(p))
      asyncio.await(o)
    end, { slice = 0.01 })
    assert.is_true(others > 10)
  end)

  it("cancel a preempted task where it was paused", function()
    local log = {}
    run(function(clock)
      local p = asyncio.create_task(function()
        local ok, err = pcall(spin(clock))
        assert(asyncio.CancelledError:is(err))
        log[#log + 1] = tostring(err)
        error(err)
      end, { preempt = true })
      asyncio.sleep(0)
      asyncio.sleep(0)
      p:cancel("enough")
      local ok, err = pcall(asyncio.await, p)
      assert.is_false(ok)
      assert.is_true(p:cancelled())
    end, { slice = 0.01 })
    assert.equal(1, #log)
    assert.matches("enough", log[1])
  end)

  it("still fail a preempt task inside a C function", function()
    run(function(clock)
      local p = asyncio.create_task(function()
        table.sort({ 3, 2, 1 }, function(a, b)
          while true do clock:jump(0.001) end
        end)
      end, { preempt = true })
      local ok, err = pcall(asyncio.await, p)
      assert.is_false(ok)
      assert.matches("past the loop's slice", tostring(err))
    end, { slice = 0.01 })
  end)

  it("are set and read with loop:set_slice and get_slice", function()
    run(function(clock)
      local loop = asyncio.get_running_loop()
      loop:set_slice(0.2, 0.1)
      assert.same({ 0.2, 0.1 }, { loop:get_slice() })
      local t = asyncio.create_task(spin(clock))
      assert.is_false(pcall(asyncio.await, t))
      loop:set_slice(0)
      assert.same({ 0, 0 }, { loop:get_slice() })
    end)
  end)

  it("end with their run", function()
    run(function() end, { slice = 1 })
    run(function()
      assert.equal(0, (asyncio.get_running_loop():get_slice()))
    end)
  end)

  it("reject bad values", function()
    assert.has_error(function()
      run(function() end, { slice = -1 })
    end, "asyncio.run: option 'slice' must be a non-negative number of "
      .. "seconds, got -1")
    run(function()
      local loop = asyncio.get_running_loop()
      assert.has_error(function() loop:set_slice(0 / 0) end)
      assert.has_error(function() loop:set_slice(1, -1) end)
    end)
  end)

  it("are set by luaio --slice SECONDS", function()
    local bin = assert(os.getenv("LUAIO_BIN"), "LUAIO_BIN must be set")
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write([[
local ok, err = pcall(asyncio.run, function()
  print(asyncio.get_running_loop():get_slice())
  while true do end
end)
print(ok, asyncio.SliceError:is(err))
]])
    f:close()
    local p = io.popen(("%q --slice 0.01 %q 2>&1; %q --slice -1 %q 2>&1")
      :format(bin, path, bin, path))
    local out = p:read("a")
    p:close()
    os.remove(path)
    assert.equal("0.01\t0.0\nfalse\ttrue\n"
      .. "luaio: --slice '-1': not understood\n", out)
  end)
end)
