-- One port served by several luaio processes, one per core: each worker
-- listens on the same port with reuse_port (SO_REUSEPORT) and the kernel
-- spreads the connections among them. No process hands connections to
-- another, so every worker uses its own core.
--
--   luaio examples/workers_one_port.lua          -- runs it all
--   luaio examples/workers_one_port.lua worker P -- one worker on port P
local asyncio = require "asyncio"

local function serve(port)
  return asyncio.start_server(function(reader, writer)
    writer:write("answer to " .. reader:readline())
    writer:close()
  end, "127.0.0.1", port, { reuse_port = true })
end

if arg[1] == "worker" then
  asyncio.run(function()
    local server = serve(tonumber(arg[2]))
    -- SIGTERM closes the server, which ends serve_forever (with
    -- CancelledError, as in asyncio) and the worker with it.
    asyncio.get_running_loop():add_signal_handler("SIGTERM", function()
      server:close()
    end)
    print("ready")
    io.stdout:flush()
    pcall(server.serve_forever, server)
  end)
  return
end

-- The command that runs this script: the first of arg's negative indices.
local luaio = arg[-1]
for i = -2, -math.huge, -1 do
  if arg[i] == nil then break end
  luaio = arg[i]
end

local WORKERS, REQUESTS = 2, 20

asyncio.run(function()
  local server = serve(0) -- this process is the first worker
  local port = server:port()
  local workers = {}
  for i = 2, WORKERS do
    local p = asyncio.create_subprocess_exec(luaio,
      { arg[0], "worker", tostring(port) }, { stdout = asyncio.PIPE })
    assert(p.stdout:readline() == "ready\n")
    workers[#workers + 1] = p
  end
  print(("%d workers listen on one port"):format(WORKERS))

  local answered = 0
  for i = 1, REQUESTS do
    local reader, writer = asyncio.open_connection("127.0.0.1", port)
    writer:write(("request %d\n"):format(i))
    local reply = reader:readline()
    if reply == ("answer to request %d\n"):format(i) then
      answered = answered + 1
    end
    writer:close()
  end
  print(("%d of %d requests answered"):format(answered, REQUESTS))

  for _, p in ipairs(workers) do
    p:terminate()
    p:wait()
  end
  server:close()
  print("done")
end)
