-- An echo server and its client on TCP streams: the server runs a handler task
-- per connection that sends back every line it reads; the client sends a few
-- lines, prints what comes back, then both sides close. Port 0 lets the system
-- pick a free port, which server:port() tells.
local asyncio = require "asyncio"

local function handle_echo(reader, writer)
  local peer = writer:get_extra_info("peername")
  print("server: connection from " .. peer.host)
  while true do
    local line = reader:readline() -- "" once the client has finished
    if line == "" then break end
    writer:write(line)
    writer:drain() -- waits only if the client reads slower than we write
  end
  print("server: client finished, closing")
  writer:close()
  writer:wait_closed()
end

asyncio.run(function()
  local server = asyncio.start_server(handle_echo, "127.0.0.1", 0)
  assert(server:port() > 0)
  print("server: listening on 127.0.0.1, on a port the system chose")

  local reader, writer = asyncio.open_connection("127.0.0.1", server:port())
  for _, message in ipairs { "hello", "asyncio streams", "in Lua" } do
    writer:write(message .. "\n")
    local echo = reader:readline()
    print(("client: sent %q, got back %q"):format(message, echo:sub(1, -2)))
  end
  writer:write_eof() -- tells the server there is nothing more
  print(("client: after EOF the server sends %q"):format(reader:read()))
  writer:close()
  writer:wait_closed()

  server:close()
  server:wait_closed()
  print("server: closed")
end)
