/*
** frame_host.c - a host program that drives luaio from its own frame
** loop, as a game or a tool with a UI would: one non-blocking step of
** the asyncio loop per frame, with the host's work in between. The loop
** runs on game time, a manual clock the host moves by each frame's delta:
** the scripts' sleeps follow the frames, and would stand still while the
** game is paused (luaio_host_pause) or run slower or faster with it
** (luaio_host_set_scale).
*/
#include <stdio.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "luaiolib.h"

static const char *script =
    "local asyncio = require 'asyncio'\n"
    "local function walker(name, steps)\n"
    "  for i = 1, steps do\n"
    "    print(name .. ' step ' .. i)\n"
    "    asyncio.sleep(0.01)\n"
    "  end\n"
    "  return name .. ' arrived'\n"
    "end\n"
    "local a = asyncio.create_task(function() return walker('knight', 2) end)\n"
    "local b = asyncio.create_task(function() return walker('dragon', 3) end)\n"
    "asyncio.create_task(function()\n"
    "  print(table.concat(asyncio.gather(a, b), ', '))\n"
    "end)\n";

int main(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "asyncio", luaopen_asyncio, 0);
  lua_pop(L, 1);
  if (luaio_host_open_clock(L, NULL, LUAIO_CLOCK_MANUAL) != 0) {
    fprintf(stderr, "cannot open the loop\n");
    return 1;
  }
  /* Tasks are created from plain host code: the loop is already open. */
  if (luaL_dostring(L, script) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    return 1;
  }
  int frames = 0;
  while (luaio_host_step(L) > 0) {
    frames++;
    /* The host renders its frame here, then moves game time by the
    ** frame's delta: 1/60 s, whatever the frame took. */
    luaio_host_advance(L, 1.0 / 60);
  }
  printf("all tasks done after more than one frame: %s\n",
         frames > 1 ? "yes" : "no");
  luaio_host_close(L);
  lua_close(L);
  return 0;
}
