local asyncio = require "asyncio"

describe("1,000,000 items through a Queue", function()
  it("arrive in order with flat memory", asyncio.spec(function()
    local N = 1000000
    local q = asyncio.Queue(100)
    collectgarbage()
    collectgarbage()
    local before = collectgarbage("count")
    local sum, expected, order_ok = 0, 0, true
    local producer = asyncio.create_task(function()
      for i = 1, N do
        q:put(i)
      end
    end)
    local consumer = asyncio.create_task(function()
      for i = 1, N do
        local v = q:get()
        if v ~= i then order_ok = false end
        sum = sum + v
      end
    end)
    asyncio.await(producer)
    asyncio.await(consumer)
    for i = 1, N do expected = expected + i end
    producer, consumer = nil, nil
    collectgarbage()
    collectgarbage()
    local after = collectgarbage("count")
    assert.is_true(order_ok)
    assert.equal(expected, sum)
    assert.equal(500000500000, sum)
    assert.is_true(q:empty())
    -- In KiB: no more than about 2 MB above where it started.
    assert.is_true(after - before < 2048,
                   ("memory grew by %.0f KiB"):format(after - before))
  end))
end)
