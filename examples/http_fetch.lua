-- "Fetch from an API" against a real endpoint: a tiny HTTP/1.1 server on
-- 127.0.0.1 (one handler task per connection) and a fetch(url) client written
-- on asyncio streams. A hundred requests run at once with gather; the results
-- come back in the order they were asked for.
local asyncio = require "asyncio"

-- {======================================================================
-- The server: GET /users, GET /users/<id>; anything else is a 404.
-- =======================================================================

local function user_json(id)
  return ('{"id": %d, "name": "user%d"}'):format(id, id)
end

local function route(method, path)
  if method ~= "GET" then
    return 405, '{"error": "method not allowed"}'
  end
  if path == "/users" then
    local users = {}
    for id = 1, 3 do users[id] = user_json(id) end
    return 200, "[" .. table.concat(users, ", ") .. "]"
  end
  local id = path:match("^/users/(%d+)$")
  if id and tonumber(id) >= 1 and tonumber(id) <= 100 then
    return 200, user_json(tonumber(id))
  end
  return 404, '{"error": "not found"}'
end

local reasons = { [200] = "OK", [404] = "Not Found",
                  [405] = "Method Not Allowed" }

local function handle_http(reader, writer)
  local request_line = reader:readline()
  local method, path = request_line:match("^(%u+) (%S+) HTTP/1%.1\r\n$")
  repeat -- the headers, up to the empty line; this server needs none
    local header = reader:readline()
  until header == "\r\n" or header == ""
  local status, body = route(method, path or "")
  writer:write(("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n" ..
                "Content-Length: %d\r\nConnection: close\r\n\r\n%s")
               :format(status, reasons[status], #body, body))
  writer:drain()
  writer:close()
end

-- }======================================================================

-- {======================================================================
-- The client
-- =======================================================================

-- fetch(url) returns status, headers (lower-case names), body.
local function fetch(url)
  local host, port, path = url:match("^http://([^:/]+):(%d+)(/.*)$")
  local reader, writer = asyncio.open_connection(host, tonumber(port),
                                                 { timeout = 5 })
  writer:write(("GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n")
               :format(path, host, port))
  local status = tonumber(reader:readline():match("^HTTP/1%.1 (%d%d%d) "))
  local headers = {}
  while true do
    local line = reader:readuntil("\r\n")
    if line == "\r\n" then break end
    local name, value = line:match("^([^:]+):%s*(.-)\r\n$")
    headers[name:lower()] = value
  end
  local body = reader:readexactly(tonumber(headers["content-length"]))
  writer:close()
  return status, headers, body
end

-- }======================================================================

asyncio.run(function()
  local server = asyncio.start_server(handle_http, "127.0.0.1", 0)
  local base = "http://127.0.0.1:" .. server:port()

  local status, headers, body = fetch(base .. "/users")
  print(("GET /users -> %d %s: %s"):format(status, headers["content-type"],
                                          body))

  local requests = {}
  for id = 1, 100 do
    requests[id] = function()
      local st, _, b = fetch(base .. "/users/" .. id)
      return { status = st, body = b }
    end
  end
  local responses = asyncio.gather(requests) -- all 100 at once

  local ok, bytes = 0, 0
  for i = 1, responses.n do
    if responses[i].status == 200 then ok = ok + 1 end
    bytes = bytes + #responses[i].body
  end
  print(("%d responses, %d with status 200, %d bytes of JSON")
        :format(responses.n, ok, bytes))
  print("first: " .. responses[1].body)
  print("last:  " .. responses[responses.n].body)

  status, _, body = fetch(base .. "/orders")
  print(("GET /orders -> %d %s"):format(status, body))

  server:close()
  server:wait_closed()
end)
