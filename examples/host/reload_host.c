/*
** reload_host.c - hot reload, as a game reloads a mod it is editing: each
** version of the script runs in a scope of its own (luaio_host_scope_*),
** and closing the scope before loading the next version takes everything
** the old one made: the tasks it spawned and those they spawned, a timer
** it rearms with call_later, the done callback it hung on the game's
** future. A thousand reloads later the loop holds what one version holds,
** and so does the Lua heap.
**
** With --root-only it reloads the way a host without scopes would, by
** cancelling the version's first task alone, and shows what that leaves.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "luaiolib.h"

/* The mod: a guard that patrols with a helper, a heartbeat timer that
** rearms itself, and a welcome when the level is loaded. */
static const char *mod =
    "local version = ...\n"
    "local loop = asyncio.get_running_loop()\n"
    "local function patrol(who)\n"
    "  while true do asyncio.sleep(1) end\n"
    "end\n"
    "asyncio.create_task(function()\n"
    "  asyncio.create_task(function() patrol('helper') end)\n"
    "  patrol('guard')\n"
    "end)\n"
    "local function heartbeat() loop:call_later(0.5, heartbeat) end\n"
    "heartbeat()\n"
    "level_loaded:add_done_callback(function()\n"
    "  welcomes = welcomes + 1\n"
    "  welcomed_by = version\n"
    "end)\n"
    "patrol('root')\n";

static size_t heap(lua_State *L) {
  lua_gc(L, LUA_GCCOLLECT);
  lua_gc(L, LUA_GCCOLLECT);
  return (size_t)lua_gc(L, LUA_GCCOUNT) * 1024 +
         (size_t)lua_gc(L, LUA_GCCOUNTB);
}

static void frames(lua_State *L, int n) {
  for (int i = 0; i < n; i++) {
    luaio_host_step(L);
    luaio_host_advance(L, 1.0 / 10);
  }
}

/* Without scopes, a host can only cancel the task it started. */
static const char *root_only_host =
    "function start_root(chunk, v)\n"
    "  root = asyncio.create_task(function() return chunk(v) end)\n"
    "end\n"
    "function stop_root() if root then root:cancel() end end\n";

/* Starts version v of the mod: in the scope ref, or (ref 0) as a plain
** task that the next reload cancels. */
static int start(lua_State *L, int ref, int v) {
  if (ref == 0 && luaL_dostring(L, "stop_root()") != LUA_OK)
    return -1;
  if (ref == 0)
    lua_getglobal(L, "start_root");
  if (luaL_loadstring(L, mod) != LUA_OK)
    return -1;
  lua_pushinteger(L, v);
  if (ref == 0)
    return lua_pcall(L, 2, 0, 0) == LUA_OK ? 0 : -1;
  if (luaio_host_scope_run(L, ref, 1) != 0)
    return -1;
  lua_pop(L, 1); /* the Task */
  return 0;
}

int main(int argc, char **argv) {
  int root_only = argc > 1 && strcmp(argv[1], "--root-only") == 0;
  int reloads = getenv("LUAIO_VALGRIND") != NULL ? 100 : 1000;
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "asyncio", luaopen_asyncio, 1);
  lua_pop(L, 1);
  if (luaio_host_open_clock(L, NULL, LUAIO_CLOCK_MANUAL) != 0)
    return 1;
  luaio_loop_t *loop = luaio_host_loop(L);
  int level = luaio_host_future_new(L); /* pending until the end */
  lua_setglobal(L, "level_loaded");
  lua_pushinteger(L, 0);
  lua_setglobal(L, "welcomes");
  if (luaL_dostring(L, root_only_host) != LUA_OK)
    return 1;
  int ref = 0;
  size_t tasks10 = 0, timers10 = 0, heap10 = 0;
  for (int v = 1; v <= reloads; v++) {
    if (ref > 0)
      luaio_host_scope_close(L, ref); /* the old version, all of it */
    ref = root_only ? 0 : luaio_host_scope_new(L);
    if (ref < 0)
      return 1;
    if (!root_only)
      lua_pop(L, 1);
    if (start(L, ref, v) != 0) {
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
      return 1;
    }
    frames(L, 3);
    if (v == 10) {
      tasks10 = luaio_loop_ntasks(loop);
      timers10 = luaio_loop_ntimers(loop);
      heap10 = heap(L);
    }
  }
  size_t tasks = luaio_loop_ntasks(loop), timers = luaio_loop_ntimers(loop);
  size_t bytes = heap(L);
  printf("after 10 reloads: %zu tasks, %zu timers\n", tasks10, timers10);
  if (root_only) /* how many reloads depends on LUAIO_VALGRIND */
    printf("after %d reloads: %zu tasks, %zu timers, heap %zu KiB more\n",
           reloads, tasks, timers, (bytes - heap10) / 1024);
  else
    printf("after the last reload: %zu tasks, %zu timers\n", tasks, timers);
  printf("heap within 16 KiB of what it was after 10 reloads: %s\n",
         bytes <= heap10 + 16 * 1024 ? "yes" : "no");
  /* The level loads: only the live version's callback runs. */
  lua_pushboolean(L, 1);
  luaio_host_future_resolve(L, level, 1);
  frames(L, 1);
  lua_getglobal(L, "welcomes");
  lua_getglobal(L, "welcomed_by");
  printf("welcomes when the level loads: %d (the last from the last "
         "version: %s)\n",
         (int)lua_tointeger(L, -2),
         lua_tointeger(L, -1) == reloads ? "yes" : "no");
  lua_pop(L, 2);
  luaio_host_close(L);
  lua_close(L);
  return 0;
}
