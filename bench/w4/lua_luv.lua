-- W4 TCP echo server on luv with coroutines: listens on 127.0.0.1 on a free
-- port, prints "W4 luv listening PORT", and runs one coroutine per
-- connection that writes back whatever it reads, until it is killed.
local uv = require "luv"

-- Returns a read() that suspends the calling coroutine until data arrives;
-- it returns nil at the end of input or on an error.
local function reader(stream, co)
  local chunks, waiting = {}, false
  stream:read_start(function(err, data)
    chunks[#chunks + 1] = (not err and data) or false
    if waiting then
      waiting = false
      assert(coroutine.resume(co))
    end
  end)
  return function()
    if #chunks == 0 then
      waiting = true
      coroutine.yield()
    end
    return table.remove(chunks, 1) or nil
  end
end

local function echo(client)
  local read = reader(client, coroutine.running())
  while true do
    local data = read()
    if not data then break end
    client:write(data)
  end
  client:close()
end

local server = uv.new_tcp()
assert(server:bind("127.0.0.1", 0))
assert(server:listen(128, function(err)
  assert(not err, err)
  local client = uv.new_tcp()
  server:accept(client)
  client:nodelay(true)
  coroutine.wrap(echo)(client)
end))
io.stdout:write("W4 luv listening ", server:getsockname().port, "\n")
io.stdout:flush()
uv.run()
