-- W7/W8 TLS echo server on cqueues with luaossl (lua-luaossl): serves TLS
-- with the certificate and key given (bench/run makes them), on 127.0.0.1
-- on a free port, prints "W7 cqueues listening PORT", and runs one
-- coroutine per connection that writes back whatever it reads, until it
-- is killed.
-- Usage: lua5.4 bench/w7/lua_cqueues.lua CERT.pem KEY.pem
local cqueues = require "cqueues"
local socket = require "cqueues.socket"
local context = require "openssl.ssl.context"
local x509 = require "openssl.x509"
local pkey = require "openssl.pkey"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local ctx = context.new("TLS", true)
ctx:setCertificate(x509.new(slurp(assert(arg[1], "no certificate"))))
ctx:setPrivateKey(pkey.new(slurp(assert(arg[2], "no key"))))

local cq = cqueues.new()
local server = socket.listen{host = "127.0.0.1", port = 0, nodelay = true}
assert(server:listen())
local _, _, port = server:localname()
io.stdout:write("W7 cqueues listening ", port, "\n")
io.stdout:flush()

local function echo(con)
  con:setmode("bn", "bn") -- binary, no output buffering
  -- A client that resets the connection ends it, without ending the loop.
  pcall(function()
    if not con:starttls(ctx) then return end
    while true do
      local data = con:read(-65536) -- whatever is there, up to 64 KiB
      if not data then break end
      con:write(data)
    end
  end)
  con:close()
end

cq:wrap(function()
  for con in server:clients() do cq:wrap(echo, con) end
end)
assert(cq:loop())
