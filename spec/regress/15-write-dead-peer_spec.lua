-- In a broadcast server, writing to the writer of a client that had gone
-- away raised EPIPE (or ECONNRESET) inside the handler of a client that was
-- fine, which then died. As asyncio's write(), writing never raises for a
-- lost or closed connection: the data is dropped, and drain() and the
-- reads of that connection report the loss.
local asyncio = require "asyncio"

-- A chat server: every line a client sends goes to every client.
local function chat_server(writers)
  return asyncio.start_server(function(r, w)
    writers[#writers + 1] = w
    while true do
      local ok, line = pcall(r.readline, r) -- a reset raises
      if not ok or line == "" then break end
      for _, other in ipairs(writers) do other:write(line) end
    end
    w:close()
  end, "127.0.0.1", 0)
end

local function chat(server, gone)
  local _, w1 = asyncio.open_connection("127.0.0.1", server:port())
  local r2, w2 = asyncio.open_connection("127.0.0.1", server:port())
  asyncio.sleep(0.05)
  gone(w1)
  asyncio.sleep(0.05)
  for i = 1, 3 do
    w2:write("hello " .. i .. "\n")
    assert.equal("hello " .. i .. "\n", r2:readline())
  end
  w2:write_eof()
  assert.equal("", r2:read())
  w2:close()
  server:close()
end

describe("writing to a client that went away", function()
  it("does not raise when the client closed", asyncio.spec(function()
    chat(chat_server({}), function(w1) w1:close() end)
  end))

  it("does not raise when the client reset", asyncio.spec(function()
    local writers = {}
    local server = chat_server(writers)
    chat(server, function(w1) w1:abort() end)
    -- The writer of the reset connection reports the loss from drain.
    local ok, err = pcall(writers[1].drain, writers[1])
    assert.is_false(ok)
    assert.is_string(err.code)
  end))
end)
