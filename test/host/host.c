/*
** host.c - a small C host built from an installed luaio only (headers,
** library, luaio.pc or the CMake package): the core alone, then Lua with
** the asyncio module. test/install.sh builds it four ways and compares
** its output with host.expected.
*/
#include <stdio.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "luaiolib.h"

static const char *script =
    "local asyncio = require 'asyncio'\n"
    "local version = ...\n"
    "print('module version matches: ' .. tostring(asyncio._VERSION == "
    "version))\n"
    "local got = asyncio.run(function()\n"
    "  local q = asyncio.Queue()\n"
    "  local producer = asyncio.create_task(function()\n"
    "    for i = 1, 3 do q:put(i) end\n"
    "    q:put(nil)\n"
    "  end)\n"
    "  local items = {}\n"
    "  while true do\n"
    "    local item = q:get()\n"
    "    if item == nil then break end\n"
    "    items[#items + 1] = item\n"
    "  end\n"
    "  asyncio.await(producer)\n"
    "  return table.concat(items, ',')\n"
    "end)\n"
    "print('items: ' .. got)\n";

/* The core on its own: a loop, a future resolved from the ready queue. */
static void on_done(luaio_future_t *fut, void *arg) {
  (void)fut;
  *(int *)arg = 1;
}

static int core_only(void) {
  luaio_loop_t *loop = luaio_loop_new(NULL);
  if (loop == NULL)
    return 1;
  luaio_future_t *fut = luaio_future_new(loop);
  int called = 0;
  if (fut == NULL ||
      luaio_future_add_done_cb(fut, on_done, &called, NULL) != 0 ||
      luaio_future_cancel(fut, NULL) != 1)
    return 1;
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  printf("core: done callback ran: %d\n", called);
  luaio_future_unref(fut);
  return luaio_loop_delete(loop) != 0;
}

int main(void) {
  printf("header and library agree: %d\n",
         luaio_version() == LUAIO_VERSION_HEX &&
             strcmp(luaio_version_string(), LUAIO_VERSION_STRING) == 0);
  if (core_only() != 0) {
    fprintf(stderr, "host: the core failed\n");
    return 1;
  }
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "asyncio", luaopen_asyncio, 0);
  lua_pop(L, 1);
  int st = luaL_loadstring(L, script);
  if (st == LUA_OK) {
    lua_pushstring(L, luaio_version_string());
    st = lua_pcall(L, 1, 0, 0);
  }
  if (st != LUA_OK)
    fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
  lua_close(L);
  return st != LUA_OK;
}
