-- W4 TCP echo server on luaio: listens on 127.0.0.1 on a free port, prints
-- "W4 luaio listening PORT", and writes back whatever each connection sends
-- until it is killed.
local asyncio = require "asyncio"

local function echo(reader, writer)
  while true do
    local data = reader:read(65536)
    if data == nil or data == "" then break end
    writer:write(data)
    writer:drain()
  end
  writer:close()
end

asyncio.run(function()
  local server = asyncio.start_server(echo, "127.0.0.1", 0)
  io.stdout:write("W4 luaio listening ", server:port(), "\n")
  io.stdout:flush()
  server:serve_forever()
end)
