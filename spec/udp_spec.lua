-- UDP endpoints on 127.0.0.1: asyncio.open_datagram, sendto, recvfrom,
-- getsockname, close; the bounded receive queue; cancellation.
local asyncio = require "asyncio"
local support = require "support"

local function local_endpoint(opts)
  return asyncio.open_datagram({ "127.0.0.1", 0 }, nil, opts)
end

describe("asyncio.open_datagram", function()
  it("round trips between two endpoints", asyncio.spec(function()
    local a, b = local_endpoint(), local_endpoint()
    local ahost, aport = a:getsockname()
    assert.equal("127.0.0.1", ahost)
    assert.is_true(aport > 0)
    local _, bport = b:getsockname()
    local got = asyncio.create_task(function()
      return { b:recvfrom() }
    end)
    asyncio.sleep(0) -- b waits first
    a:sendto("ping", { "127.0.0.1", bport })
    local r = asyncio.await(got)
    assert.same({ "ping", "127.0.0.1", aport }, r)
    b:sendto("pong", { r[2], r[3] })
    assert.same({ "pong", "127.0.0.1", bport }, { a:recvfrom() })
    a:close()
    b:close()
  end))

  it("sends to its remote when connected", asyncio.spec(function()
    local server = local_endpoint()
    local _, port = server:getsockname()
    local client = asyncio.open_datagram(nil, { "127.0.0.1", port })
    client:sendto("hello")
    local data, _, cport = server:recvfrom()
    assert.equal("hello", data)
    server:sendto("back", { "127.0.0.1", cport })
    assert.equal("back", (client:recvfrom()))
    client:close()
    server:close()
  end))

  it("drops and counts datagrams past a full queue", asyncio.spec(function()
    local a, b = local_endpoint({ queue = 4 }), local_endpoint()
    local _, aport = a:getsockname()
    local _, bport = b:getsockname()
    for i = 1, 10 do b:sendto("d" .. i, { "127.0.0.1", aport }) end
    b:sendto("marker", { "127.0.0.1", bport })
    assert.equal("marker", (b:recvfrom())) -- sent last over loopback
    while a:dropped() < 6 do asyncio.sleep(0) end
    assert.equal(6, a:dropped())
    for i = 1, 4 do assert.equal("d" .. i, (a:recvfrom())) end
    a:close()
    b:close()
  end))

  it("loses nothing when a pending recvfrom is cancelled", asyncio.spec(function()
    local a, b = local_endpoint(), local_endpoint()
    local _, aport = a:getsockname()
    local t = asyncio.create_task(function() return a:recvfrom() end)
    asyncio.sleep(0)
    t:cancel()
    assert.is_false(pcall(asyncio.await, t))
    assert.is_true(t:cancelled())
    b:sendto("after", { "127.0.0.1", aport })
    assert.equal("after", (a:recvfrom()))
    a:close()
    b:close()
  end))

  it("wakes a waiting task on close, with an error", asyncio.spec(function()
    local a = local_endpoint()
    local t = asyncio.create_task(function() return a:recvfrom() end)
    asyncio.sleep(0)
    a:close()
    assert.is_true(a:is_closing())
    local ok, err = pcall(asyncio.await, t)
    assert.is_false(ok)
    assert.matches("recvfrom: the endpoint is closed", tostring(err), 1, true)
    ok, err = pcall(a.sendto, a, "x", { "127.0.0.1", 9 })
    assert.is_false(ok)
    assert.matches("sendto: the endpoint is closed", tostring(err), 1, true)
    a:close() -- idempotent
  end))

  it("one receiver at a time", asyncio.spec(function()
    local a = local_endpoint()
    local t = asyncio.create_task(function() return a:recvfrom() end)
    asyncio.sleep(0)
    local ok, err = pcall(a.recvfrom, a)
    assert.is_false(ok)
    assert.matches("another task is already waiting", tostring(err), 1, true)
    t:cancel()
    pcall(asyncio.await, t)
    a:close()
  end))

  it("works over IPv6 loopback", asyncio.spec(function()
    local ok, a = pcall(asyncio.open_datagram, { "::1", 0 })
    if not ok then
      assert.equal("EADDRNOTAVAIL", a.code) -- no IPv6 on this machine
      return
    end
    local host, port = a:getsockname()
    assert.equal("::1", host)
    a:sendto("six", { "::1", port })
    assert.same({ "six", "::1", port }, { a:recvfrom() })
    a:close()
  end))

  it("sends to a broadcast address only with broadcast", asyncio.spec(function()
    local a = asyncio.open_datagram({ "0.0.0.0", 0 })
    local ok, err = pcall(a.sendto, a, "x", { "255.255.255.255", 9 })
    assert.is_false(ok)
    assert.equal("EACCES", err.code)
    a:close()
    local b = asyncio.open_datagram({ "0.0.0.0", 0 }, nil, { broadcast = true })
    local sent, why = pcall(b.sendto, b, "x", { "255.255.255.255", 9 })
    -- Allowed now; a machine with no broadcast route says so otherwise.
    assert(sent or why.code ~= "EACCES", tostring(why))
    b:close()
  end))

  it("raises clear errors for bad arguments", asyncio.spec(function()
    local ok, err = pcall(asyncio.open_datagram, { "localhost", 0 })
    assert.is_false(ok)
    assert.matches("open_datagram: 'localhost' is not a numeric address",
                   tostring(err), 1, true)
    ok, err = pcall(asyncio.open_datagram, { "127.0.0.1" })
    assert.is_false(ok)
    assert.matches("open_datagram: {host, port} expected", tostring(err), 1, true)
    ok, err = pcall(asyncio.open_datagram, { "127.0.0.1", 0 }, { "::1", 9 })
    assert.is_false(ok)
    assert.matches("different families", tostring(err), 1, true)
    local a = local_endpoint()
    ok, err = pcall(a.sendto, a, "x")
    assert.is_false(ok)
    assert.equal("EDESTADDRREQ", err.code)
    a:close()
  end))

  it("is closed by the loop when left open", function()
    local a
    asyncio.run(function() a = local_endpoint() end)
    assert.is_true(a:is_closing())
  end)

  it("is refused without net.connect, and with restricted hosts", function()
    assert.equal("false\ttrue\tEACCES\tnet.connect\nasyncio.open_datagram: "
      .. "the 'net.connect' capability is not granted\n",
      support.run_refused("--allow net.listen,net.dns",
        [[asyncio.open_datagram({"127.0.0.1", 0})]]))
    assert.equal("false\ttrue\tEACCES\tnil\nasyncio.open_datagram: "
      .. "not allowed while hosts are restricted\n",
      support.run_refused("--allow net --allow-host 127.0.0.1:53",
        [[asyncio.open_datagram({"127.0.0.1", 0})]]))
  end)
end)
