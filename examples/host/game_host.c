/*
** game_host.c - a game's frame loop running entity scripts as tasks, with
** a budget and a slice: each frame gives the scripts 4 ms, the
** collector's work included; a script stuck in a loop is stopped (its
** error reaches the host's handler) while the others keep their
** schedule; and a long computation that asked to be preempted runs a
** slice per frame.
**
** Game time is the loop's manual clock: the host moves it by one frame
** per step, and the scripts' work() moves it by a millisecond, standing
** in for the time the work takes (so the output is the same on any
** machine).
*/
#include <stdio.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "luaiolib.h"

#define FRAME (1.0 / 64)

static const char *script =
    "local asyncio = require 'asyncio'\n"
    "asyncio.create_task(function()          -- a well-behaved entity\n"
    "  for x = 1, 4 do\n"
    "    print('knight walks to ' .. x)\n"
    "    asyncio.sleep(1 / 64)\n"
    "  end\n"
    "end)\n"
    "broken = asyncio.create_task(function() -- a mod with a bug\n"
    "  while true do work() end\n"
    "end, {name = 'broken mod'})\n"
    "path = asyncio.create_task(function()   -- long, but may be paused\n"
    "  local cost = 0\n"
    "  for node = 1, 20000 do\n"
    "    cost = cost + node % 7\n"
    "    if node % 100 == 0 then work() end\n"
    "  end\n"
    "  print('path found, cost ' .. cost)\n"
    "end, {name = 'pathfinder', preempt = true})\n";

/* A millisecond of work: game time moves on. */
static int work(lua_State *L) {
  luaio_host_advance(L, 0.001);
  return 0;
}

/* Prints s up to the seconds it names, which vary with how often the
** slice looks at the clock, or to its first line's end. */
static void print_cut(const char *s) {
  const char *cut = strstr(s, " for ");
  if (cut == NULL)
    cut = s + strcspn(s, "\n");
  printf("%.*s", (int)(cut - s), s);
}

/* The host's exception handler: a game would log it, or show it in its
** console. */
static void on_error(lua_State *L, int ctx, void *ud) {
  (void)ud;
  printf("host heard: ");
  lua_getfield(L, ctx, "message");
  print_cut(lua_tostring(L, -1));
  if (lua_getfield(L, ctx, "error") != LUA_TNIL) {
    printf(": ");
    print_cut(luaL_tolstring(L, -1, NULL));
    lua_pop(L, 1);
  }
  printf("\n");
  lua_pop(L, 2);
}

int main(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "asyncio", luaopen_asyncio, 0);
  lua_pop(L, 1);
  lua_register(L, "work", work);
  luaio_set_exception_handler(L, on_error, NULL);
  /* A task may run 20 ms of game time at a stretch; past 10 ms the host
  ** hears of it. */
  luaio_set_slice(L, 0.020, 0.010);
  if (luaio_host_open_clock(L, NULL, LUAIO_CLOCK_MANUAL) != 0) {
    fprintf(stderr, "cannot open the loop\n");
    return 1;
  }
  if (luaL_dostring(L, script) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    return 1;
  }
  int frames = 0;
  /* Scripts get 4 ms of each frame; what is left waits for the next. */
  while (luaio_host_step_for(L, 0.004) > 0) {
    luaio_host_advance(L, FRAME);
    frames++;
  }
  printf("the pathfinder took more than one frame: %s\n",
         frames > 1 ? "yes" : "no");
  luaio_host_close(L);
  lua_close(L);
  return 0;
}
