-- A pool of three workers pulls jobs from a Queue. The main task puts the
-- jobs, waits with queue:join() until every job was marked done with
-- task_done(), then cancels the workers, which are blocked in queue:get()
-- waiting for more work.
-- A job's cost is the number of loop turns it takes, so the output does not
-- depend on timing.
local asyncio = require "asyncio"

local jobs = {
  { name = "resize", cost = 3 },
  { name = "thumbnail", cost = 1 },
  { name = "upload", cost = 4 },
  { name = "index", cost = 2 },
  { name = "notify", cost = 1 },
  { name = "archive", cost = 2 },
  { name = "report", cost = 1 },
}

local function worker(name, queue)
  local done = 0
  while true do
    local ok, err = pcall(function()
      local job = queue:get()
      print(("%s starts %s"):format(name, job.name))
      for _ = 1, job.cost do
        asyncio.sleep(0)
      end
      print(("%s finished %s"):format(name, job.name))
      done = done + 1
      queue:task_done()
    end)
    if not ok then
      print(("%s stops after %d job(s)"):format(name, done))
      error(err, 0) -- let the cancellation end the task
    end
  end
end

asyncio.run(function()
  local queue = asyncio.Queue()
  for _, job in ipairs(jobs) do
    queue:put_nowait(job)
  end

  local workers = {}
  for i = 1, 3 do
    local name = "worker-" .. i
    workers[i] = asyncio.create_task(function() worker(name, queue) end,
                                     { name = name })
  end

  queue:join()
  print(("all %d jobs done; %d left in the queue"):format(#jobs, queue:qsize()))

  for _, w in ipairs(workers) do
    w:cancel()
  end
  asyncio.wait(workers)
  for _, w in ipairs(workers) do
    print(("%s cancelled: %s"):format(w:get_name(), tostring(w:cancelled())))
  end
end)
