-- task_tree.lua - a tree of named tasks: two albums play their songs in
-- nested TaskGroups, and one song prints who waits for it
-- (asyncio.print_call_graph). Given a number of seconds, every song lasts
-- that much longer, time to look at the running tree from another shell:
--   luaio examples/task_tree.lua 60 &
--   luaio pstree $!      # or: luaio ps $!
local asyncio = require "asyncio"

local hold = tonumber(arg and arg[1]) or 0

local function play(song, seconds)
  asyncio.sleep(seconds + hold)
  print("played " .. song)
end

-- Plays the songs of an album at once, each in its own task.
local function album(songs, offset)
  asyncio.TaskGroup(function(tg)
    for i, song in ipairs(songs) do
      tg:create_task(function() play(song, offset + 0.02 * i) end,
                     { name = song })
    end
  end)
end

local function task_named(name)
  for _, t in ipairs(asyncio.all_tasks()) do
    if t:get_name() == name then
      return t
    end
  end
end

asyncio.run(function()
  asyncio.TaskGroup(function(tg)
    tg:create_task(function()
      album({ "Headlights", "Overpass" }, 0)
    end, { name = "Night Drive" })
    tg:create_task(function()
      album({ "Undertow", "Salt", "Harbour" }, 0.01)
    end, { name = "Low Tide" })
    asyncio.sleep(0) -- the albums start their songs
    asyncio.sleep(0)
    asyncio.print_call_graph(task_named("Overpass"), { limit = 0 })
    if hold > 0 then
      print(("every song lasts %g s more: the tree is there to see"):format(
        hold))
      io.stdout:flush()
    end
  end)
  print("both albums played")
end)
