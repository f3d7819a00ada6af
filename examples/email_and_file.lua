-- Two simulated jobs, sending an email and saving a file, run concurrently with
-- gather: both start at once, and the shorter one finishes first. The list form
-- asyncio.gather(tasks) is the same as passing the elements one by one.
local asyncio = require "asyncio"

local function email_sender()
  print("Sending email...")
  asyncio.sleep(0.04)
  print("Email sent!")
end

local function file_saver()
  print("Saving file...")
  asyncio.sleep(0.06)
  print("File saved!")
end

asyncio.run(function()
  local tasks = {email_sender, file_saver}
  asyncio.gather(tasks)
end)
