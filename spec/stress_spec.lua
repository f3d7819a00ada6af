-- Seeded random mixes of every kind of wait (spec/mix.lua), with
-- cancellations, time limits and failures falling anywhere. What must hold
-- whatever the order of events: no item of a queue lost or duplicated,
-- every task finished, no descriptor left open, and asyncio.run returning.

local count_fds = require("support").count_fds
local mix = require "mix"

describe("a random mix of waits, cancellations and failures", function()
  -- libuv keeps descriptors from the first stream and the first thread
  -- work on (its EMFILE reserve, the thread pool's wake-up): warm up.
  setup(function() mix(0) end)

  for seed = 1, 3 do
    it("keeps every item and finishes every task, seed " .. seed, function()
      local fds = count_fds()
      local puts, gets, tasks = mix(seed)
      assert.is_true(puts > 0)
      assert.equal(puts, gets)
      for _, t in ipairs(tasks) do
        assert.is_true(t:done())
      end
      collectgarbage()
      collectgarbage()
      assert.equal(fds, count_fds())
    end)
  end
end)
