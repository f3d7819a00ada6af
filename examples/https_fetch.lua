-- "Fetch from an API" over HTTPS, with no outside network: the example makes
-- its own certificate authority and a certificate for "localhost" with the
-- openssl command, serves JSON over TLS on 127.0.0.1, and fetches from it
-- with a client that verifies the server against that authority, as a
-- client verifies a real API against the system's store (ssl = true).
local asyncio = require "asyncio"

-- {======================================================================
-- Certificates, made in a temporary directory
-- =======================================================================

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir " .. dir))

local function openssl(args)
  assert(os.execute("cd " .. dir .. " && openssl " .. args ..
                    " >/dev/null 2>&1"), "openssl " .. args)
end

local key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl("req -x509 " .. key .. " -days 1 -keyout ca.key -out ca.pem " ..
        "-subj /CN=example-ca")
openssl("req " .. key .. " -keyout server.key -out server.csr " ..
        "-subj /CN=localhost")
local ext = assert(io.open(dir .. "/ext.cnf", "w"))
ext:write("subjectAltName=DNS:localhost\n")
ext:close()
openssl("x509 -req -in server.csr -CA ca.pem -CAkey ca.key " ..
        "-CAcreateserial -days 1 -extfile ext.cnf -out server.pem")

-- }======================================================================

-- {======================================================================
-- The server: GET /users/<id> as JSON, anything else a 404
-- =======================================================================

local function handle_https(reader, writer)
  local path = reader:readline():match("^GET (%S+) HTTP/1%.1\r\n$")
  repeat
    local header = reader:readline()
  until header == "\r\n" or header == ""
  local id = path and path:match("^/users/(%d+)$")
  local status, body = 404, '{"error": "not found"}'
  if id then
    status, body = 200, ('{"id": %s, "name": "user%s"}'):format(id, id)
  end
  writer:write(("HTTP/1.1 %d %s\r\nContent-Length: %d\r\n" ..
                "Connection: close\r\n\r\n%s")
               :format(status, status == 200 and "OK" or "Not Found",
                       #body, body))
  writer:drain()
  writer:close()
end

-- }======================================================================

-- {======================================================================
-- The client: fetch(url, ctx) returns status, body and the TLS version
-- =======================================================================

local function fetch(url, ctx)
  local host, port, path = url:match("^https://([^:/]+):(%d+)(/.*)$")
  local reader, writer = asyncio.open_connection(host, tonumber(port),
                                                 {ssl = ctx, timeout = 5})
  writer:write(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n")
               :format(path, host))
  local status = tonumber(reader:readline():match("^HTTP/1%.1 (%d+)"))
  local length
  repeat
    local header = reader:readline()
    length = length or tonumber(header:match("^Content%-Length: (%d+)"))
  until header == "\r\n"
  local body = reader:readexactly(length)
  local version = writer:get_extra_info("ssl_version")
  local subject = writer:get_extra_info("peercert").subject
  writer:close()
  writer:wait_closed()
  return status, body, version, subject
end

-- }======================================================================

asyncio.run(function()
  local server_ctx = asyncio.ssl.create_default_context{server = true,
    certfile = dir .. "/server.pem", keyfile = dir .. "/server.key"}
  local server = asyncio.start_server(handle_https, "127.0.0.1", 0,
                                      {ssl = server_ctx})
  local base = "https://localhost:" .. server:port()

  local client_ctx = asyncio.ssl.create_default_context{
    cafile = dir .. "/ca.pem"}
  -- Three at once: asyncio.async makes fetch's calls coroutine objects.
  local get = asyncio.async(function(path)
    return {fetch(base .. path, client_ctx)}
  end)
  local results = asyncio.gather(get("/users/1"), get("/users/2"),
                                 get("/orders"))
  local status, body, version, subject = fetch(base .. "/users/3", client_ctx)
  print(("GET /users/3 -> %d %s (over %s, from %s)")
        :format(status, body, version, subject))
  for i, r in ipairs(results) do
    print(("request %d -> %d %s"):format(i, r[1], r[2]))
  end

  -- Trusting only the system's store, the same server is refused: its
  -- authority is the one made above, known to nobody else.
  local ok, err = pcall(fetch, base .. "/users/1", true)
  print("with ssl = true:", ok, err.code, tostring(err):match(
    "certificate verify failed: [^\n]*"))

  server:close()
  server:wait_closed()
end)

os.execute("rm -rf " .. dir)
