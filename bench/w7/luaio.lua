-- W7/W8 TLS echo server on luaio: serves TLS with the certificate and key
-- given (bench/run makes them), on 127.0.0.1 on a free port, prints
-- "W7 luaio listening PORT", and writes back whatever each connection
-- sends until it is killed. W7 measures its round trips, W8 its
-- handshakes.
-- Usage: luaio bench/w7/luaio.lua CERT.pem KEY.pem
local asyncio = require "asyncio"
local cert, key = assert(arg[1], "no certificate"), assert(arg[2], "no key")

local ctx = asyncio.ssl.create_default_context{
  server = true, certfile = cert, keyfile = key}

local function echo(reader, writer)
  -- A client that resets the connection ends it, as in the Python
  -- programs (ConnectionError), without a traceback.
  pcall(function()
    while true do
      local data = reader:read(65536)
      if data == nil or data == "" then break end
      writer:write(data)
      writer:drain()
    end
  end)
  writer:close()
end

asyncio.run(function()
  local server = asyncio.start_server(echo, "127.0.0.1", 0, {ssl = ctx})
  io.stdout:write("W7 luaio listening ", server:port(), "\n")
  io.stdout:flush()
  server:serve_forever()
end)
