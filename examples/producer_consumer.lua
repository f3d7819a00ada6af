-- Producer and consumer run side by side under gather and talk through a Queue.
-- The producer ends the stream with a nil sentinel (nil is a valid queue item), and
-- the consumer leaves its loop as soon as it gets it.
local asyncio = require "asyncio"

local function producer(queue)
  for i = 0, 2 do
    queue:put("item-" .. i)
  end
  queue:put(nil) -- end-of-stream marker
end

local function consumer(queue)
  while true do
    local item = queue:get()
    if item == nil then break end
    print("processing: " .. item)
  end
end

asyncio.run(function()
  local queue = asyncio.Queue()
  asyncio.gather(
    function() producer(queue) end,
    function() consumer(queue) end
  )
end)
