-- A server handler with a bug failed on each connection and the server
-- went on, as it should, but nothing was said about the failures until
-- the server's loop closed. Python 3.12 reports each at once ("Unhandled
-- exception in client_connected_cb"); so does luaio now.
local asyncio = require "asyncio"

local run_script = require("support").run_script

describe("a failing server handler", function()
  it("is reported on stderr while the server runs", function()
    local _, err, status = run_script([[
      local asyncio = require "asyncio"
      asyncio.run(function()
        local server = asyncio.start_server(function(reader, writer)
          local n = tonumber(reader:readline()) + 1 -- fails on "hello"
          writer:write(n .. "\n")
        end, "127.0.0.1", 0)
        for i = 1, 2 do
          local r, w = asyncio.open_connection("127.0.0.1", server:port())
          w:write("hello\n")
          assert(r:read() == "")
          w:close()
          asyncio.sleep(0)
          io.stderr:write("-- client " .. i .. " done --\n")
        end
        server:close()
      end)
    ]])
    assert.equal(0, status)
    local report = "error in server handler (task 'Task-%d'): "
    local r1 = err:find(report:format(2), 1, true)
    local c1 = err:find("-- client 1 done --", 1, true)
    local r2 = err:find(report:format(3), 1, true)
    local c2 = err:find("-- client 2 done --", 1, true)
    assert.is_true(r1 ~= nil and r2 ~= nil, err)
    assert.is_true(r1 < c1 and c1 < r2 and r2 < c2, err)
    assert.matches("attempt to perform arithmetic", err, 1, true)
  end)
end)
