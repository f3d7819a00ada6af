/*
** uv_host.c - a host that owns a libuv loop (a server, a tool built on
** libuv) shares it with luaio and only runs it: the scripts' tasks run
** inside the host's uv_run, a script's sleep wakes the host blocked in
** uv_run(UV_RUN_ONCE), a script asks the host for work that the host
** answers from a libuv timer of its own, and uv_run returns once no Lua
** work is left. Nothing calls uv_run inside uv_run.
*/
#include <stdio.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "luaiolib.h"

static const char *script =
    "local asyncio = require 'asyncio'\n"
    "asyncio.create_task(function()\n"
    "  print('lua: sleeping 0.3 s')\n"
    "  asyncio.sleep(0.3)\n"
    "  print('lua: awake; asking the host')\n"
    "  print('lua: the host says ' .. asyncio.await(host_request('status')))\n"
    "end)\n"
    "asyncio.create_task(function()\n"
    "  for i = 1, 3 do\n"
    "    asyncio.sleep(0.05)\n"
    "    print('lua: tick ' .. i)\n"
    "  end\n"
    "end)\n";

static lua_State *host_L;
static uv_timer_t answer_timer;
static int pending_ref;

/* The host's own libuv callback settles the script's future. */
static void answer(uv_timer_t *t) {
  (void)t;
  printf("host: answering from a timer of its own\n");
  lua_pushliteral(host_L, "all well");
  luaio_host_future_resolve(host_L, pending_ref, 1);
}

/* host_request(what): a future that the host resolves later. */
static int host_request(lua_State *L) {
  printf("host: request '%s'\n", luaL_checkstring(L, 1));
  pending_ref = luaio_host_future_new(L); /* pushes the future */
  if (pending_ref < 0)
    return luaL_error(L, "host_request: no loop");
  uv_timer_start(&answer_timer, answer, 20, 0);
  return 1;
}

int main(void) {
  uv_loop_t uv;
  uv_loop_init(&uv);
  uv_timer_init(&uv, &answer_timer);
  lua_State *L = host_L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "asyncio", luaopen_asyncio, 0);
  lua_pop(L, 1);
  lua_register(L, "host_request", host_request);
  if (luaio_host_open(L, &uv) != 0) { /* luaio runs in the host's uv_run */
    fprintf(stderr, "cannot open the loop\n");
    return 1;
  }
  if (luaL_dostring(L, script) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    return 1;
  }
  /* The host's loop, as it always was: blocks in libuv's poll until a
  ** Lua timer, the host's timer or I/O has something to do. */
  while (uv_run(&uv, UV_RUN_ONCE) != 0)
    ;
  printf("host: uv_run has nothing left; %zu task(s) live\n",
         luaio_loop_ntasks(luaio_host_loop(L)));
  luaio_host_close(L); /* outside uv_run */
  lua_close(L);
  uv_close((uv_handle_t *)&answer_timer, NULL);
  uv_run(&uv, UV_RUN_DEFAULT);
  printf("host: uv_loop_close: %s\n", uv_loop_close(&uv) == 0 ? "ok" : "busy");
  return 0;
}
