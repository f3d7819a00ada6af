/*
** test-host-clock.c - a host's game clock (luaiolib.h): a manual clock
** moved by the frame's delta, paused, then at 0.5x, then at 2x. Timers
** fire in the frame in which game time reaches them, never while paused.
*/
#include <math.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../../core/test/test.h"
#include "luaiolib.h"

/* Timers at game times 1, 2, 3, 4 and 6, and a task sleeping 5 s; each
** logs the game time and the frame it ran in. */
static const char *script =
    "local asyncio = require 'asyncio'\n"
    "local loop = asyncio.get_running_loop()\n"
    "log = {}\n"
    "local function note(what)\n"
    "  log[#log + 1] = ('%s@%g/f%d'):format(what, loop:time(), frame)\n"
    "end\n"
    "for _, t in ipairs { 6, 1, 4, 2, 3 } do\n"
    "  loop:call_at(t, note, 'timer' .. t)\n"
    "end\n"
    "asyncio.create_task(function() asyncio.sleep(5); note('sleeper') end)\n";

static lua_State *open_host(luaio_clock_kind kind) {
  lua_State *L = luaL_newstate();
  ASSERT_NOT_NULL(L);
  luaL_openlibs(L);
  luaL_requiref(L, "asyncio", luaopen_asyncio, 0);
  lua_pop(L, 1);
  ASSERT_OK(luaio_host_open_clock(L, NULL, kind));
  return L;
}

static int frame;

/* Runs n frames of dt real seconds each: advance, then step. */
static void frames(lua_State *L, int n, double dt) {
  for (int i = 0; i < n; i++) {
    lua_pushinteger(L, ++frame);
    lua_setglobal(L, "frame");
    ASSERT_OK(luaio_host_advance(L, dt));
    ASSERT(luaio_host_step(L) >= 0);
  }
}

static const char *joined_log(lua_State *L) {
  luaL_dostring(L, "return table.concat(log, ' ')");
  return lua_tostring(L, -1); /* left on the stack until the state closes */
}

static double game_time(lua_State *L) {
  luaL_dostring(L, "return require('asyncio').get_running_loop():time()");
  double t = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return t;
}

TEST(paused_half_double) {
  lua_State *L = open_host(LUAIO_CLOCK_MANUAL);
  frame = 0;
  ASSERT_OK(luaL_dostring(L, script));
  /* Paused for 2 s of frames: the scripts' time stands still. */
  ASSERT_OK(luaio_host_pause(L, 1));
  frames(L, 8, 0.25);
  ASSERT(game_time(L) == 0);
  ASSERT_STR_EQ("", joined_log(L));
  lua_pop(L, 1);
  /* Slow motion: 2 s of frames are 1 s of game time. */
  ASSERT_OK(luaio_host_pause(L, 0));
  ASSERT_OK(luaio_host_set_scale(L, 0.5));
  frames(L, 8, 0.25);
  ASSERT(game_time(L) == 1);
  ASSERT_STR_EQ("timer1@1/f16", joined_log(L));
  lua_pop(L, 1);
  /* Double speed: 2 s of frames are 4 s of game time. */
  ASSERT_OK(luaio_host_set_scale(L, 2));
  frames(L, 8, 0.25);
  ASSERT(game_time(L) == 5);
  ASSERT_STR_EQ("timer1@1/f16 timer2@2/f18 timer3@3/f20 timer4@4/f22 "
                "sleeper@5/f24",
                joined_log(L));
  lua_pop(L, 1);
  /* Back to normal: the last timer comes 1 s later, 4 frames on. */
  ASSERT_OK(luaio_host_set_scale(L, 1));
  frames(L, 4, 0.25);
  ASSERT_STR_EQ("timer1@1/f16 timer2@2/f18 timer3@3/f20 timer4@4/f22 "
                "sleeper@5/f24 timer6@6/f28",
                joined_log(L));
  lua_pop(L, 1);
  ASSERT_EQ(0, luaio_host_step(L)); /* no task left */
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

TEST(bad_calls) {
  lua_State *L = open_host(LUAIO_CLOCK_MANUAL);
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_advance(L, -1));
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_advance(L, NAN));
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_set_scale(L, -0.5));
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_set_scale(L, INFINITY));
  ASSERT_OK(luaio_host_close(L));
  /* No host loop open. */
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_advance(L, 0.1));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_pause(L, 1));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_set_scale(L, 1));
  lua_close(L);
  /* A real clock cannot be advanced. */
  L = open_host(LUAIO_CLOCK_REAL);
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_advance(L, 0.1));
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
