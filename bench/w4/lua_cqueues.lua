-- W4 TCP echo server on cqueues: listens on 127.0.0.1 on a free port,
-- prints "W4 cqueues listening PORT", and runs one coroutine per connection
-- that writes back whatever it reads, until it is killed.
local cqueues = require "cqueues"
local socket = require "cqueues.socket"

local cq = cqueues.new()
local server = socket.listen{host = "127.0.0.1", port = 0, nodelay = true}
assert(server:listen())
local _, _, port = server:localname()
io.stdout:write("W4 cqueues listening ", port, "\n")
io.stdout:flush()

local function echo(con)
  con:setmode("bn", "bn") -- binary, no output buffering
  while true do
    local data = con:read(-65536) -- whatever is there, up to 64 KiB
    if not data then break end
    con:write(data)
  end
  con:close()
end

cq:wrap(function()
  for con in server:clients() do cq:wrap(echo, con) end
end)
assert(cq:loop())
