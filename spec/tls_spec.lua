local asyncio = require "asyncio"
local support = require "support"

-- TLS on 127.0.0.1 only, with certificates made by the openssl command in
-- a temporary directory: a CA, a server certificate it signs for
-- "localhost" and 127.0.0.1, one for "localhost" alone (no IP address),
-- and a self-signed one.

if not asyncio.ssl.available then
  describe("tls", function()
    pending("luaio was built without TLS (LUAIO_TLS off)")
  end)
  return
end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir " .. dir))

local function sh(cmd)
  local ok = os.execute("cd " .. dir .. " && (" .. cmd .. ") >/dev/null 2>&1")
  assert(ok, "failed: " .. cmd)
end

-- P-256 keys: a handshake costs a small part of an RSA one's, which
-- counts under valgrind.
local KEYTYPE = "ec -pkeyopt ec_paramgen_curve:prime256v1"

local function make_certs()
  local subj = "-subj /CN=localhost"
  sh("openssl req -x509 -newkey " .. KEYTYPE .. " -nodes -days 2 " ..
     "-keyout ca.key -out ca.pem -subj /CN=luaio-test-ca")
  sh("openssl req -newkey " .. KEYTYPE .. " -nodes -keyout server.key " ..
     "-out server.csr " .. subj)
  local ext = io.open(dir .. "/ext.cnf", "w")
  ext:write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
  ext:close()
  sh("openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key " ..
     "-CAcreateserial -days 2 -extfile ext.cnf -out server.pem")
  ext = io.open(dir .. "/noip.cnf", "w")
  ext:write("subjectAltName=DNS:localhost\n")
  ext:close()
  sh("openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key " ..
     "-CAcreateserial -days 2 -extfile noip.cnf -out noip.pem")
  sh("openssl req -x509 -newkey " .. KEYTYPE .. " -nodes -days 2 " ..
     "-keyout self.key -out self.pem " .. subj ..
     " -addext subjectAltName=DNS:localhost,IP:127.0.0.1")
end

make_certs()
local CA, CERT, KEY = dir .. "/ca.pem", dir .. "/server.pem",
    dir .. "/server.key"
local NOIP = dir .. "/noip.pem" -- for "localhost" only, with KEY

-- The contexts are made inside each run: a context is a Lua object.
local function server_ctx(cert, key)
  return asyncio.ssl.create_default_context{server = true,
    certfile = cert or CERT, keyfile = key or KEY}
end

local function client_ctx()
  return asyncio.ssl.create_default_context{cafile = CA}
end

-- An echo server: each line comes back until the end of input.
local function echo(reader, writer)
  while true do
    local line = reader:readline()
    if line == "" then break end
    writer:write(line)
    writer:drain()
  end
  writer:close()
end

local function serve(handler, ctx)
  local server = asyncio.start_server(handler, "127.0.0.1", 0, {ssl = ctx})
  return server, server:port()
end

-- Closes writer and server, and waits until both are closed.
local function close_both(writer, server)
  writer:close()
  writer:wait_closed()
  server:close()
  server:wait_closed()
end

-- A plain server that upgrades a connection to TLS with sctx when asked
-- ("STARTTLS\n", answered "go ahead\n"), then runs after(reader, writer)
-- unless the handshake failed, and closes it.
local function starttls_server(sctx, after)
  return asyncio.start_server(function(reader, writer)
    assert.equal("STARTTLS\n", reader:readline())
    writer:write("go ahead\n")
    if pcall(writer.start_tls, writer, sctx) then
      after(reader, writer)
    end
    writer:close()
  end, "127.0.0.1", 0)
end

-- A connection to server that asked for STARTTLS, in clear still.
local function starttls_client(server)
  local reader, writer = asyncio.open_connection("127.0.0.1", server:port())
  assert.is_nil(writer:get_extra_info("cipher"))
  writer:write("STARTTLS\n")
  assert.equal("go ahead\n", reader:readline())
  return reader, writer
end

-- Whether libssl is mapped in a new luaio process once code has run.
local function loads_libssl(code)
  local bin = assert(os.getenv("LUAIO_BIN"), "LUAIO_BIN must name luaio")
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(code, "\nlocal maps = assert(io.open('/proc/self/maps')):read('a')\n",
          "io.write(maps:find('libssl', 1, true) and 'yes' or 'no')\n")
  f:close()
  local p = io.popen("timeout -k 5 30 '" .. bin .. "' '" .. script .. "'")
  local out = p:read("a")
  p:close()
  os.remove(script)
  return out
end

describe("tls loading", function()
  it("leaves OpenSSL unloaded in a program that does not use TLS",
     function()
    assert.equal("no", loads_libssl("asyncio.run(function() end)"))
  end)

  it("loads it when asyncio.ssl.available is first read", function()
    assert.equal("yes", loads_libssl("assert(asyncio.ssl.available)"))
  end)

  it("loads it for a first context", function()
    assert.equal("yes",
      loads_libssl("asyncio.ssl.create_default_context({})"))
  end)
end)

describe("tls", function()
  teardown(function()
    os.execute("rm -rf " .. dir)
  end)

  it("echoes through TLS, the peer verified by the CA made here", function()
    asyncio.run(function()
      local server, port = serve(echo, server_ctx())
      local reader, writer = asyncio.open_connection("127.0.0.1", port,
        {ssl = client_ctx(), server_hostname = "localhost"})
      writer:write("hello\n")
      assert.equal("hello\n", reader:readline())
      writer:write("second line\n")
      assert.equal("second line\n", reader:readline())
      assert.equal("CN=localhost",
                   writer:get_extra_info("peercert").subject)
      assert.equal("CN=luaio-test-ca",
                   writer:get_extra_info("peercert").issuer)
      local cipher = writer:get_extra_info("cipher")
      assert.is_string(cipher[1])
      assert.equal(writer:get_extra_info("ssl_version"), cipher[2])
      assert.truthy(cipher[2] == "TLSv1.3" or cipher[2] == "TLSv1.2")
      assert.is_true(cipher[3] >= 128)
      assert.is_table(writer:get_extra_info("peername"))
      writer:write_eof()
      assert.equal("", reader:read())
      close_both(writer, server)
    end)
  end)

  it("ssl = true verifies against the system's store", function()
    -- The system's store, as OpenSSL's default paths say, does not know
    -- the CA made here: the certificate is refused.
    asyncio.run(function()
      local server, port = serve(echo, server_ctx())
      local ok, err = pcall(asyncio.open_connection, "127.0.0.1", port,
        {ssl = true, server_hostname = "localhost"})
      assert.is_false(ok)
      assert.matches("open_connection: certificate verify failed: " ..
                     "unable to get local issuer certificate", tostring(err),
                     1, true)
      assert.equal("SSLError", err.code)
      server:close()
      server:wait_closed()
    end)
  end)

  it("ssl = true trusts what SSL_CERT_FILE names, as OpenSSL does",
     function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(([[
asyncio.run(function()
  local ctx = asyncio.ssl.create_default_context{server = true,
    certfile = %q, keyfile = %q}
  local server = asyncio.start_server(function(reader, writer)
    writer:write(reader:readline())
    writer:close()
  end, "127.0.0.1", 0, {ssl = ctx})
  -- ssl = true is one context for every connection: each one still
  -- verifies, and checks its own host name.
  for _, host in ipairs{"localhost", "wrong.example", "localhost"} do
    local ok, reader, writer = pcall(asyncio.open_connection, "127.0.0.1",
      server:port(), {ssl = true, server_hostname = host})
    if ok then
      writer:write(host .. " trusted\n")
      io.write(reader:readline())
      writer:close()
    else
      io.write(host, " refused: ", reader.code, "\n")
    end
  end
  -- No server_hostname: the address connected to is checked.
  local reader, writer = asyncio.open_connection("127.0.0.1", server:port(),
    {ssl = true})
  writer:write("127.0.0.1 trusted\n")
  io.write(reader:readline())
  writer:close()
  -- A context given a CA of its own trusts that one only, as Python's.
  local own = asyncio.ssl.create_default_context{cafile = %q}
  local ok, err = pcall(asyncio.open_connection, "127.0.0.1", server:port(),
    {ssl = own, server_hostname = "localhost"})
  io.write("own CA: ", tostring(ok), " ", tostring(err):match("[^:]*$"),
           "\n")
  server:close()
  server:wait_closed()
  local noip = asyncio.ssl.create_default_context{server = true,
    certfile = %q, keyfile = %q}
  server = asyncio.start_server(function() end, "127.0.0.1", 0, {ssl = noip})
  ok, err = pcall(asyncio.open_connection, "127.0.0.1", server:port(),
    {ssl = true})
  io.write("no IP: ", tostring(ok), " ", tostring(err):match("[^:]*$"),
           "\n")
  server:close()
  server:wait_closed()
end)
]]):format(CERT, KEY, dir .. "/self.pem", NOIP, KEY))
    f:close()
    local p = io.popen(("SSL_CERT_FILE='%s' timeout -k 5 30 '%s' '%s' 2>&1")
      :format(CA, os.getenv("LUAIO_BIN"), script))
    local out = p:read("a")
    p:close()
    os.remove(script)
    assert.equal("localhost trusted\nwrong.example refused: SSLError\n" ..
                 "localhost trusted\n127.0.0.1 trusted\n" ..
                 "own CA: false  unable to get local issuer certificate\n" ..
                 "no IP: false  IP address mismatch\n", out)
  end)

  it("refuses a self-signed certificate and says why", function()
    asyncio.run(function()
      local server, port = serve(echo, server_ctx(dir .. "/self.pem",
                                                  dir .. "/self.key"))
      local ok, err = pcall(asyncio.open_connection, "127.0.0.1", port,
        {ssl = client_ctx(), server_hostname = "localhost"})
      assert.is_false(ok)
      assert.matches("certificate verify failed: self-signed certificate",
                     tostring(err), 1, true)
      server:close()
      server:wait_closed()
    end)
  end)

  it("refuses a certificate for another host name", function()
    asyncio.run(function()
      local server, port = serve(echo, server_ctx())
      local ok, err = pcall(asyncio.open_connection, "127.0.0.1", port,
        {ssl = client_ctx(), server_hostname = "wrong.example"})
      assert.is_false(ok)
      assert.matches("certificate verify failed: hostname mismatch",
                     tostring(err), 1, true)
      -- Without server_hostname, the address is checked: 127.0.0.1 is in
      -- the certificate.
      local reader, writer = asyncio.open_connection("127.0.0.1", port,
        {ssl = client_ctx()})
      writer:write("ip\n")
      assert.equal("ip\n", reader:readline())
      writer:close()
      server:close()
      server:wait_closed()
    end)
  end)

  it("fails when the peer closes in the middle of the handshake", function()
    asyncio.run(function()
      -- A plain server that reads the ClientHello and hangs up.
      local server = asyncio.start_server(function(reader, writer)
        reader:read(10)
        writer:close()
      end, "127.0.0.1", 0)
      local ok, err = pcall(asyncio.open_connection, "127.0.0.1",
        server:port(), {ssl = client_ctx(), server_hostname = "localhost"})
      assert.is_false(ok)
      assert.matches("open_connection: EOF occurred in violation of protocol",
                     tostring(err), 1, true)
      server:close()
      server:wait_closed()
    end)
  end)

  -- On a virtual clock: the deadlines are exact, and cost no time.
  it("times a silent handshake out", function()
    asyncio.run(function()
      local loop = asyncio.get_running_loop()
      local server = asyncio.start_server(function(reader)
        pcall(reader.read, reader) -- never answers; reset at the end
      end, "127.0.0.1", 0)
      for _, timeout in ipairs{5, false} do
        local start = loop:time()
        local ok, err = pcall(asyncio.open_connection, "127.0.0.1",
          server:port(), {ssl = client_ctx(), server_hostname = "localhost",
                          ssl_handshake_timeout = timeout or nil})
        assert.is_false(ok)
        assert.is_true(asyncio.TimeoutError:is(err), tostring(err))
        assert.equal(timeout or 60, loop:time() - start) -- asyncio's 60 s
      end
      server:close()
      server:wait_closed()
    end, {clock = "virtual"})
  end)

  it("drops a client whose handshake fails, never calling the handler",
     function()
    asyncio.run(function() asyncio.getaddrinfo("localhost", 80) end)
    local before = support.count_fds()
    local reported = {}
    asyncio.run(function()
      local loop = asyncio.get_running_loop()
      loop:set_exception_handler(function(_, context)
        reported[#reported + 1] = context.message
      end)
      local calls = 0
      local server = asyncio.start_server(function(reader, writer)
        calls = calls + 1
        writer:write(reader:readline())
        writer:close()
      end, "127.0.0.1", 0, {ssl = server_ctx(), ssl_handshake_timeout = 3})
      local function plain()
        return asyncio.open_connection("127.0.0.1", server:port())
      end
      -- Not TLS: the server's handshake fails at once, with an alert.
      local reader, writer = plain()
      writer:write("GET / HTTP/1.0\r\n\r\n")
      pcall(reader.read, reader) -- the alert, then the end
      assert.is_true(reader:at_eof())
      assert.equal(0, loop:time())
      writer:close()
      -- Gone in the middle of it.
      reader, writer = plain()
      writer:close()
      -- Silent: dropped once the server's handshake timeout passes.
      reader, writer = plain()
      pcall(reader.read, reader)
      assert.equal(3, loop:time())
      writer:close()
      -- The server still serves, and has called no handler yet.
      assert.equal(0, calls)
      reader, writer = asyncio.open_connection("127.0.0.1", server:port(),
        {ssl = client_ctx()})
      writer:write("served\n")
      assert.equal("served\n", reader:readline())
      assert.equal(1, calls)
      -- Left in the middle of the server's handshake as the run ends: the
      -- task doing it is cancelled, the connection closed.
      local _, silent = plain()
      asyncio.sleep(1) -- all else done first: the server waits for a hello
      assert.is_false(silent:is_closing())
      close_both(writer, server)
    end, {clock = "virtual"})
    assert.same({}, reported)
    assert.equal(before, support.count_fds())
  end)

  it("cancelled in the middle of the handshake, leaves no descriptor",
     function()
    asyncio.run(function() asyncio.getaddrinfo("localhost", 80) end)
    local before = support.count_fds()
    asyncio.run(function()
      local accepted = asyncio.get_running_loop():create_future()
      local server = asyncio.start_server(function(reader)
        accepted:set_result(true)
        -- Never answers: the handshake stays in progress until reset.
        pcall(reader.read, reader)
      end, "127.0.0.1", 0)
      local task = asyncio.create_task(function()
        return asyncio.open_connection("127.0.0.1", server:port(),
          {ssl = client_ctx(), server_hostname = "localhost"})
      end)
      asyncio.await(accepted)
      task:cancel()
      local ok, err = pcall(asyncio.await, task)
      assert.is_false(ok)
      assert.is_true(asyncio.CancelledError:is(err), tostring(err))
      server:close()
      server:wait_closed()
    end)
    assert.equal(before, support.count_fds())
  end)

  it("carries 1 MiB each way, reading and writing at once", function()
    local n = 1024 * 1024
    asyncio.run(function()
      local server, port = serve(function(reader, writer)
        local got = reader:readexactly(n)
        writer:write(got:reverse())
        writer:drain()
        writer:close()
      end, server_ctx())
      local reader, writer = asyncio.open_connection("127.0.0.1", port,
        {ssl = client_ctx(), server_hostname = "localhost"})
      local parts = {}
      for i = 1, n / 1024 do
        parts[i] = string.rep(string.char(i % 251), 1024)
      end
      local data = table.concat(parts)
      local sender = asyncio.create_task(function()
        for i = 1, #parts do
          writer:write(parts[i])
          writer:drain()
        end
      end)
      local back = reader:readexactly(n)
      asyncio.await(sender)
      assert.equal(data:reverse(), back)
      assert.equal("", reader:read())
      writer:close()
      server:close()
      server:wait_closed()
    end)
  end)

  it("upgrades a connection in place with start_tls (STARTTLS)", function()
    asyncio.run(function()
      local server = starttls_server(server_ctx(), function(reader, writer)
        writer:write("secret: " .. reader:readline())
      end)
      local reader, writer = starttls_client(server)
      writer:start_tls(client_ctx(), {server_hostname = "localhost"})
      assert.equal("CN=localhost", writer:get_extra_info("peercert").subject)
      writer:write("hello\n")
      assert.equal("secret: hello\n", reader:readline())
      writer:close()
      server:close()
      server:wait_closed()
    end)
  end)

  it("agrees on a protocol by ALPN", function()
    asyncio.run(function()
      local sctx = server_ctx()
      sctx:set_alpn_protocols{"h2", "http/1.1"}
      local seen = asyncio.get_running_loop():create_future()
      local server, port = serve(function(reader, writer)
        if not seen:done() then -- the second connection's is not looked at
          seen:set_result(writer:get_extra_info("alpn_protocol"))
        end
        writer:close()
      end, sctx)
      local cctx = asyncio.ssl.create_default_context{cafile = CA,
        alpn_protocols = {"spdy/1", "http/1.1"}}
      local _, writer = asyncio.open_connection("127.0.0.1", port,
        {ssl = cctx})
      assert.equal("http/1.1", writer:get_extra_info("alpn_protocol"))
      assert.equal("http/1.1", asyncio.await(seen))
      writer:close()
      -- No protocol in common: the connection goes on without ALPN.
      local _, w2 = asyncio.open_connection("127.0.0.1", port,
        {ssl = asyncio.ssl.create_default_context{cafile = CA,
          alpn_protocols = {"spdy/1"}}})
      assert.equal("none", w2:get_extra_info("alpn_protocol", "none"))
      w2:close()
      server:close()
      server:wait_closed()
      local ok, err = pcall(cctx.set_alpn_protocols, cctx, {""})
      assert.is_false(ok)
      assert.matches("ALPN protocols are 1 to 255 bytes", err, 1, true)
    end)
  end)

  it("falls under the net capability in a sandbox", function()
    local out = support.run_refused("--sandbox", [[
      asyncio.open_connection("127.0.0.1", 1, {ssl = true})]])
    assert.equal("false\ttrue\tEACCES\tnet.connect\n",
                  out:match("^[^\n]*\n"))
    out = support.run_refused("--sandbox", [[
      asyncio.start_server(function() end, "127.0.0.1", 0,
        {ssl = asyncio.ssl.create_default_context{server = true}})]])
    assert.equal("false\ttrue\tEACCES\tnet.listen\n",
                  out:match("^[^\n]*\n"))
  end)

  -- {====================================================================
  -- Closing: close_notify each way, under ssl_shutdown_timeout
  -- =====================================================================

  -- On a virtual clock, so that the deadlines are exact and cost no time:
  -- a close that the peer answers ends at the time it began.
  it("closes once the peer answers close_notify, waiting no deadline",
     function()
    asyncio.run(function()
      local loop = asyncio.get_running_loop()
      local got = loop:create_future()
      local server, port = serve(function(reader, writer)
        local text = reader:read() -- to the client's close_notify
        writer:close()
        writer:wait_closed()
        got:set_result(text)
      end, server_ctx())
      local reader, writer = asyncio.open_connection("127.0.0.1", port,
        {ssl = client_ctx()})
      writer:write("last words\n")
      writer:close()
      assert.is_true(writer:is_closing())
      assert.equal("", reader:read()) -- at once, as for TCP
      writer:wait_closed()
      assert.equal(0, loop:time())
      assert.equal("last words\n", asyncio.await(got))
      server:close()
      server:wait_closed()
    end, {clock = "virtual"})
  end)

  -- A peer that takes the connection's end (its reader sees it) and never
  -- closes: wait_closed returns once ssl_shutdown_timeout has passed, the
  -- connection aborted.
  local function unanswered(opts, server_opts)
    local times = {}
    asyncio.run(function()
      local loop = asyncio.get_running_loop()
      local release = asyncio.Event()
      local seen, finished = loop:create_future(), loop:create_future()
      local server = asyncio.start_server(function(reader, writer)
        seen:set_result(reader:read())
        release:wait()
        -- The client's close_notify came: this close waits for nothing.
        local start = loop:time()
        writer:close()
        writer:wait_closed()
        finished:set_result(loop:time() - start)
      end, "127.0.0.1", 0, server_opts)
      opts.ssl = client_ctx()
      local _, writer = asyncio.open_connection("127.0.0.1", server:port(),
                                                opts)
      writer:write("bye\n")
      writer:close()
      assert.equal("bye\n", asyncio.await(seen))
      writer:wait_closed()
      times.client = loop:time()
      release:set()
      times.server = asyncio.await(finished)
      server:close()
      server:wait_closed()
    end, {clock = "virtual"})
    return times
  end

  it("aborts a close the peer never answers after 30 s", function()
    local t = unanswered({}, {ssl = server_ctx()})
    assert.equal(30, t.client)
    assert.equal(0, t.server) -- the client's close_notify came: no wait
  end)

  it("takes ssl_shutdown_timeout from open_connection and start_server",
     function()
    local t = unanswered({ssl_shutdown_timeout = 5},
                         {ssl = server_ctx(), ssl_shutdown_timeout = 2})
    assert.equal(5, t.client)
    assert.equal(0, t.server)
    -- 0: close_notify is sent and the connection closed, no answer waited.
    t = unanswered({ssl_shutdown_timeout = 0}, {ssl = server_ctx()})
    assert.equal(0, t.client)
  end)

  it("bounds a server's close the client never answers", function()
    asyncio.run(function()
      local loop = asyncio.get_running_loop()
      local closed = loop:create_future()
      local server = asyncio.start_server(function(_, writer)
        local start = loop:time()
        writer:close()
        writer:wait_closed()
        closed:set_result(loop:time() - start)
      end, "127.0.0.1", 0, {ssl = server_ctx(), ssl_shutdown_timeout = 7})
      local reader, writer = asyncio.open_connection("127.0.0.1",
        server:port(), {ssl = client_ctx()})
      -- The client reads the end of input and keeps its side open.
      assert.equal("", reader:read())
      assert.equal(7, asyncio.await(closed))
      writer:close()
      writer:wait_closed()
      server:close()
      server:wait_closed()
    end, {clock = "virtual"})
  end)

  it("takes ssl_shutdown_timeout from start_tls", function()
    asyncio.run(function()
      local loop = asyncio.get_running_loop()
      local release = asyncio.Event()
      local server = starttls_server(server_ctx(), function(reader, writer)
        reader:read()
        release:wait() -- never answers the client's close_notify
        writer:abort()
      end)
      local _, writer = starttls_client(server)
      writer:start_tls(client_ctx(), {ssl_shutdown_timeout = 3})
      writer:close()
      writer:wait_closed()
      assert.equal(3, loop:time())
      release:set()
      server:close()
      server:wait_closed()
    end, {clock = "virtual"})
  end)

  it("lets the loop close with a close still waiting for its answer",
     function()
    -- The writer is dropped and collected as it waits: closing the loop
    -- ends the wait, and the loop closes cleanly.
    local out, err = support.run_script(([[
asyncio.run(function()
  local sctx = asyncio.ssl.create_default_context{server = true,
    certfile = %q, keyfile = %q}
  local server = asyncio.start_server(function(reader)
    reader:read()
    asyncio.sleep(3600)
  end, "127.0.0.1", 0, {ssl = sctx})
  local _, writer = asyncio.open_connection("127.0.0.1", server:port(),
    {ssl = asyncio.ssl.create_default_context{cafile = %q}})
  writer:close()
  writer = nil
  collectgarbage()
  asyncio.sleep(0.01)
end)
print("closed")
]]):format(CERT, KEY, CA))
    assert.equal("closed\n", out)
    assert.equal("", err)
  end)

  -- }====================================================================

  -- {====================================================================
  -- Writing before the handshake is over
  -- =====================================================================

  it("sends what is written at once, to a server that waits", function()
    asyncio.run(function()
      local got = asyncio.get_running_loop():create_future()
      local server, port = serve(function(reader, writer)
        asyncio.sleep(0.01) -- not reading yet as the client writes
        got:set_result(reader:readline())
        writer:close()
      end, server_ctx())
      local _, writer = asyncio.open_connection("127.0.0.1", port,
        {ssl = client_ctx()})
      writer:write("at once\n")
      assert.equal("at once\n", asyncio.await(got))
      writer:close()
      server:close()
      server:wait_closed()
    end)
  end)

  it("queues what another task writes during start_tls, in order",
     function()
    asyncio.run(function()
      local server = starttls_server(server_ctx(), function(reader, writer)
        local a, b = reader:readline(), reader:readline()
        writer:write("secret: " .. a .. "secret: " .. b)
      end)
      local reader, writer = starttls_client(server)
      local upgrade = asyncio.create_task(function()
        writer:start_tls(client_ctx())
        writer:write("after\n")
      end)
      asyncio.sleep(0) -- the handshake has begun, and waits for the server
      assert.is_nil(writer:get_extra_info("cipher"))
      writer:write("during\n") -- not in clear, not dropped: queued
      asyncio.await(upgrade)
      assert.equal("secret: during\n", reader:readline())
      assert.equal("secret: after\n", reader:readline())
      writer:close()
      server:close()
      server:wait_closed()
    end)
  end)

  it("sends write_eof during start_tls after the text queued", function()
    asyncio.run(function()
      local server = starttls_server(server_ctx(), function(reader, writer)
        writer:write("got: " .. reader:read()) -- to the end of input
      end)
      local reader, writer = starttls_client(server)
      local upgrade = asyncio.create_task(function()
        writer:start_tls(client_ctx())
      end)
      asyncio.sleep(0) -- the handshake has begun
      writer:write("during\n")
      writer:write_eof() -- not the socket's end yet: the handshake's first
      asyncio.await(upgrade)
      assert.equal("got: during\n", reader:read())
      close_both(writer, server)
    end)
  end)

  -- A plain server that upgrades a connection to TLS with sctx once go is
  -- set, then gives the text read to got (or the handshake's failure);
  -- or, when hangup.now is set by then, closes the connection instead.
  local function held_starttls_server(sctx, go, got, n, hangup)
    return asyncio.start_server(function(reader, writer)
      assert.equal("STARTTLS\n", reader:readline())
      writer:write("go ahead\n")
      go:wait() -- the client's handshake waits meanwhile
      if hangup.now then
        writer:close()
        got:set_result("hung up")
        return
      end
      local ok, err = pcall(writer.start_tls, writer, sctx)
      if ok then
        got:set_result(reader:readexactly(n))
      else
        got:set_result(err)
      end
      writer:close()
    end, "127.0.0.1", 0)
  end

  local MIB = 1024 * 1024

  -- A STARTTLS connection to a server that holds its handshake back until
  -- h.go is set, data written meanwhile, and a task h.drainer in drain()
  -- (returning pcall's results), seen waiting. h.upgrade returns those of
  -- start_tls (with opts, by default server_hostname = "localhost"); h.got
  -- is what the server read (n bytes), or its failure; setting
  -- h.hangup.now before h.go makes the server hang up instead.
  local function held_upgrade(sctx, data, opts)
    local h = {go = asyncio.Event(), hangup = {},
               got = asyncio.get_running_loop():create_future()}
    h.server = held_starttls_server(sctx, h.go, h.got, #data, h.hangup)
    h.reader, h.writer = starttls_client(h.server)
    h.upgrade = asyncio.create_task(function()
      return pcall(h.writer.start_tls, h.writer, client_ctx(),
                   opts or {server_hostname = "localhost"})
    end)
    asyncio.sleep(0) -- the handshake has begun, and waits for the server
    h.writer:write(data)
    assert.is_true(h.writer:get_write_buffer_size() >= #data)
    h.drainer = asyncio.create_task(function()
      return pcall(h.writer.drain, h.writer)
    end)
    for _ = 1, 10 do asyncio.sleep(0) end
    assert.is_false(h.drainer:done()) -- held by the handshake
    return h
  end

  it("counts what is written during start_tls, and drain waits for it",
     function()
    asyncio.run(function()
      local data = string.rep("0123456789abcdef", MIB // 16)
      local h = held_upgrade(server_ctx(), data)
      h.go:set()
      assert.is_true((asyncio.await(h.drainer)))
      assert.is_true((asyncio.await(h.upgrade)))
      assert.is_true(h.writer:get_write_buffer_size() <= 16384)
      assert.is_true(asyncio.await(h.got) == data) -- all of it, in order
      assert.equal("", h.reader:read())
      close_both(h.writer, h.server)
    end)
  end)

  it("wakes a drain waiting on a handshake that fails with its error",
     function()
    asyncio.run(function()
      local h = held_upgrade(server_ctx(dir .. "/self.pem",
                                        dir .. "/self.key"),
                             string.rep("x", MIB))
      h.go:set()
      local ok, err = asyncio.await(h.drainer)
      assert.is_false(ok)
      assert.matches("drain: certificate verify failed: self-signed " ..
                     "certificate", tostring(err), 1, true)
      assert.equal("SSLError", err.code)
      assert.is_false((asyncio.await(h.upgrade)))
      assert.equal(0, h.writer:get_write_buffer_size()) -- dropped, not sent
      assert.is_false(pcall(h.writer.drain, h.writer)) -- and so it stays
      assert.is_not_nil(tostring(asyncio.await(h.got))) -- the server's failed
      close_both(h.writer, h.server)
    end)
  end)

  -- On a virtual clock: the deadline is exact, and costs no time.
  it("wakes a drain with TimeoutError when the handshake times out",
     function()
    asyncio.run(function()
      local loop = asyncio.get_running_loop()
      local start = loop:time()
      local h = held_upgrade(server_ctx(), string.rep("x", MIB),
        {server_hostname = "localhost", ssl_handshake_timeout = 5})
      local ok, err = asyncio.await(h.drainer)
      assert.is_false(ok)
      assert.is_true(asyncio.TimeoutError:is(err), tostring(err))
      assert.equal(5, loop:time() - start)
      local uok, uerr = asyncio.await(h.upgrade)
      assert.is_false(uok)
      assert.is_true(asyncio.TimeoutError:is(uerr), tostring(uerr))
      assert.equal(0, h.writer:get_write_buffer_size()) -- dropped
      h.writer:wait_closed()
      h.go:set()
      h.server:close()
      h.server:wait_closed()
    end, {clock = "virtual"})
  end)

  it("wakes a drain with the handshake's error when the writer closes",
     function()
    asyncio.run(function()
      local h = held_upgrade(server_ctx(), string.rep("x", MIB))
      h.writer:close()
      local ok, err = asyncio.await(h.drainer)
      assert.is_false(ok) -- as start_tls: the text held could not go
      local uok, uerr = asyncio.await(h.upgrade)
      assert.is_false(uok)
      assert.equal("SSLError", err.code)
      assert.equal(tostring(uerr):gsub("^start_tls", "drain"), tostring(err))
      assert.equal(0, h.writer:get_write_buffer_size()) -- dropped
      h.writer:wait_closed()
      h.go:set()
      h.server:close()
      h.server:wait_closed()
    end)
  end)

  it("wakes a drain with the handshake's error when the peer hangs up",
     function()
    asyncio.run(function()
      local h = held_upgrade(server_ctx(), string.rep("x", MIB))
      h.hangup.now = true
      h.go:set()
      local ok, err = asyncio.await(h.drainer)
      assert.is_false(ok) -- the text held could not go
      local uok, uerr = asyncio.await(h.upgrade)
      assert.is_false(uok)
      assert.equal(tostring(uerr):gsub("^start_tls", "drain"), tostring(err))
      assert.equal(0, h.writer:get_write_buffer_size()) -- dropped
      assert.equal("hung up", asyncio.await(h.got))
      h.writer:close()
      h.writer:wait_closed()
      h.server:close()
      h.server:wait_closed()
    end)
  end)

  it("lets a drain go when start_tls is cancelled with text held",
     function()
    asyncio.run(function()
      local h = held_upgrade(server_ctx(), string.rep("x", MIB))
      h.upgrade:cancel()
      local ok, upgraded = pcall(asyncio.await, h.upgrade)
      assert.is_false(ok and upgraded) -- start_tls's pcall took the cancel
      asyncio.await(h.drainer) -- woken, the text dropped with the connection
      assert.equal(0, h.writer:get_write_buffer_size())
      h.writer:wait_closed()
      h.go:set()
      h.server:close()
      h.server:wait_closed()
    end)
  end)

  -- }====================================================================

  -- {====================================================================
  -- Host names and IP addresses
  -- =====================================================================

  it("checks an IP address connected to against the certificate's",
     function()
    asyncio.run(function()
      local server, port = serve(echo, server_ctx(NOIP))
      -- The name matches: it is the one checked.
      local reader, writer = asyncio.open_connection("127.0.0.1", port,
        {ssl = client_ctx(), server_hostname = "localhost"})
      writer:write("by name\n")
      assert.equal("by name\n", reader:readline())
      writer:close()
      -- Without it, the address: this certificate has none.
      local ok, err = pcall(asyncio.open_connection, "127.0.0.1", port,
                            {ssl = client_ctx()})
      assert.is_false(ok)
      assert.equal("SSLError", err.code)
      assert.matches("open_connection: certificate verify failed: " ..
                     "IP address mismatch", tostring(err), 1, true)
      server:close()
      server:wait_closed()
    end)
  end)

  -- STARTTLS with no server_hostname on a connection to 127.0.0.1.
  local function starttls_by_address(cert)
    local result
    asyncio.run(function()
      local server = starttls_server(server_ctx(cert), function() end)
      local _, writer = starttls_client(server)
      local ok, err = pcall(writer.start_tls, writer, client_ctx())
      result = ok and writer:get_extra_info("peercert").subject or err
      writer:close()
      server:close()
      server:wait_closed()
    end)
    return result
  end

  it("checks the address on start_tls with no server_hostname", function()
    assert.equal("CN=localhost", starttls_by_address(CERT))
    local err = starttls_by_address(NOIP)
    assert.equal("SSLError", err.code)
    assert.matches("start_tls: certificate verify failed: " ..
                   "IP address mismatch", tostring(err), 1, true)
  end)

  -- }====================================================================

  -- {====================================================================
  -- Unix-domain sockets
  -- =====================================================================

  it("echoes through TLS over a Unix-domain socket", function()
    local path = dir .. "/echo.sock"
    asyncio.run(function()
      local server = asyncio.start_unix_server(echo, path,
        {ssl = server_ctx()})
      local reader, writer = asyncio.open_unix_connection(path,
        {ssl = client_ctx(), server_hostname = "localhost"})
      writer:write("over unix\n")
      assert.equal("over unix\n", reader:readline())
      assert.equal("CN=localhost", writer:get_extra_info("peercert").subject)
      assert.equal(path, writer:get_extra_info("peername"))
      writer:close()
      writer:wait_closed()
      -- A path names no host: a context that checks one needs the name.
      local ok, err = pcall(asyncio.open_unix_connection, path,
                            {ssl = client_ctx()})
      assert.is_false(ok)
      assert.matches("open_unix_connection: check_hostname requires " ..
                     "server_hostname", tostring(err), 1, true)
      local unchecked = asyncio.ssl.create_default_context{cafile = CA,
        check_hostname = false}
      reader, writer = asyncio.open_unix_connection(path,
        {ssl = unchecked})
      writer:write("unnamed\n")
      assert.equal("unnamed\n", reader:readline())
      close_both(writer, server)
    end)
  end)

  -- }====================================================================

  it("checks its arguments", function()
    asyncio.run(function()
      local ok, err = pcall(asyncio.open_connection, "127.0.0.1", 1,
                            {ssl = 42})
      assert.is_false(ok)
      assert.matches("open_connection: opts.ssl must be true or an " ..
                     "SSLContext", err, 1, true)
      ok, err = pcall(asyncio.start_server, function() end, "127.0.0.1", 0,
                      {ssl = client_ctx()})
      assert.is_false(ok)
      assert.matches("start_server: opts.ssl must be a server context", err,
                     1, true)
      ok, err = pcall(asyncio.open_connection, "127.0.0.1", 1,
                      {ssl = true, ssl_shutdown_timeout = -1})
      assert.is_false(ok)
      assert.matches("bad argument #3 to '[%w.]*open_connection' %(opts" ..
                     "%.ssl_shutdown_timeout must be a non%-negative number%)",
                     err)
      ok, err = pcall(asyncio.open_unix_connection, dir .. "/none.sock",
                      {ssl = true, ssl_shutdown_timeout = "soon"})
      assert.is_false(ok)
      assert.matches("bad argument #2 to '[%w.]*open_unix_connection' " ..
                     "%(opts%.ssl_shutdown_timeout must be", err)
      ok, err = pcall(asyncio.start_unix_server, function() end,
                      dir .. "/none.sock", {ssl = client_ctx()})
      assert.is_false(ok)
      assert.matches("start_unix_server: opts.ssl must be a server context",
                     err, 1, true)
      ok, err = pcall(asyncio.start_unix_server, function() end,
                      dir .. "/none.sock",
                      {ssl = server_ctx(), ssl_handshake_timeout = 0 / 0})
      assert.is_false(ok)
      assert.matches("bad argument #3 to '[%w.]*start_unix_server' " ..
                     "%(opts%.ssl_handshake_timeout must be", err)
      local server = asyncio.start_server(function() end, "127.0.0.1", 0)
      local _, writer = asyncio.open_connection("127.0.0.1", server:port())
      ok, err = pcall(function()
        writer:start_tls(client_ctx(), {ssl_shutdown_timeout = -2})
      end)
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'start_tls' %(opts%." ..
                     "ssl_shutdown_timeout must be", err)
      writer:close()
      server:close()
      server:wait_closed()
      ok, err = pcall(asyncio.ssl.create_default_context,
                      {certfile = dir .. "/missing.pem"})
      assert.is_false(ok)
      assert.matches("create_default_context: .*missing.pem", err)
    end)
  end)
end)

describe("asyncio.ssl.create_default_context()", function()
  it("with no argument makes a client context that verifies", function()
    local ctx = asyncio.ssl.create_default_context()
    assert.matches("^asyncio.SSLContext %(client", tostring(ctx))
    ctx = asyncio.ssl.create_default_context(nil)
    assert.matches("^asyncio.SSLContext %(client", tostring(ctx))
  end)
end)
