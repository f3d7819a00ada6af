/*
** host.h - what the tests of luaiolib.h's host calls share.
*/
#ifndef LUAIO_TEST_HOST_H
#define LUAIO_TEST_HOST_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../../core/test/test.h"
#include "luaiolib.h"

/* log(s): adds s to the test's event log. */
TEST_UNUSED static int host_log(lua_State *L) {
  test_logf("%s", luaL_checkstring(L, 1));
  return 0;
}

/* A state with the standard libraries, asyncio (a global too) and log. */
TEST_UNUSED static lua_State *host_newstate(void) {
  lua_State *L = luaL_newstate();
  ASSERT_NOT_NULL(L);
  luaL_openlibs(L);
  luaL_requiref(L, "asyncio", luaopen_asyncio, 1);
  lua_pop(L, 1);
  lua_register(L, "log", host_log);
  return L;
}

/* Runs code in L; a Lua error fails the test with its message. */
#define run(L, code) host_run(L, code, __FILE__, __LINE__)
TEST_UNUSED static void host_run(lua_State *L, const char *code,
                                 const char *file, int line) {
  if (luaL_dostring(L, code) != LUA_OK)
    test_fail(file, line, "%s", lua_tostring(L, -1));
  lua_settop(L, 0);
}

#endif
