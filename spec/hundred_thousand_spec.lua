local asyncio = require "asyncio"

describe("100,000 tasks", function()
  it("spawn, yield once each and gather every result in order",
     asyncio.spec(function()
    local N = 100000
    local tasks = {}
    for i = 1, N do
      tasks[i] = asyncio.create_task(function()
        asyncio.sleep(0)
        return i
      end)
    end
    local r = asyncio.gather(tasks)
    assert.equal(N, r.n)
    -- One assertion per mismatch would be 100,000 assertions: find the
    -- first wrong slot instead.
    for i = 1, N do
      if r[i] ~= i then
        error(("slot %d holds %s"):format(i, tostring(r[i])), 0)
      end
    end
    for i = 1, N, 997 do
      assert.is_true(tasks[i]:done())
    end
  end))
end)
