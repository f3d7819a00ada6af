/*
** ldebug.c - debug mode's memory of where resources were opened, and the
** report of those left open: asyncio's "unclosed transport" with its
** source traceback. It has no core counterpart: the core knows nothing
** of Lua frames.
**
** In debug mode, opening a stream, server, UDP endpoint, file or subprocess
** records its origin (what it is, the file:line of the first Lua frame
** that opened it, and the traceback there) in a weak-keyed table, keyed
** by the object. A finalizer that finds the resource still open, and the
** loop's close for what is still open then, queue a report to the
** exception handler. Coroutine objects keep where they were made, for
** the report that one was never awaited. Out of debug mode nothing is
** recorded, and looking for an origin costs one test of a counter that
** stays at zero.
*/
#include <stdio.h>

#include "lbind.h"

static const char ORIGINS_KEY = 'o'; /* registry: object -> origin table */

/* Stack: what (light userdata), the object. */
static int setorigin_p(lua_State *L) {
  const char *what = lua_touserdata(L, 1);
  lua_Debug ar;
  int level = 1, line = -1;
  /* The first Lua frame: the code that asked, not a C function of ours. */
  for (; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    if ((line = ar.currentline) > 0)
      break;
  }
  if (line <= 0)
    level = 1;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ORIGINS_KEY);
  lua_pushvalue(L, 2);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, what);
  lua_setfield(L, -2, "what");
  if (line > 0)
    lua_pushfstring(L, "%s:%d", ar.short_src, line);
  else
    lua_pushliteral(L, "?");
  lua_setfield(L, -2, "where");
  luaL_traceback(L, L, NULL, level);
  lua_setfield(L, -2, "traceback");
  lua_rawset(L, -3);
  return 0;
}

void luaioL_setorigin(lua_State *L, int idx, const char *what) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (!rt->debug)
    return;
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, setorigin_p);
  lua_pushlightuserdata(L, (void *)what);
  lua_pushvalue(L, idx);
  lua_call(L, 2, 0); /* only memory errors, which the opener raises */
  rt->norigins++;
}

void luaioL_copyorigin(lua_State *L, int from, int to, const char *what) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->norigins == 0)
    return;
  from = lua_absindex(L, from);
  to = lua_absindex(L, to);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ORIGINS_KEY);
  lua_pushvalue(L, from);
  if (lua_rawget(L, -2) == LUA_TTABLE) {
    if (what != NULL) { /* a new record, naming the one it comes from */
      lua_createtable(L, 0, 3);
      lua_pushstring(L, what);
      lua_setfield(L, -2, "what");
      lua_getfield(L, -2, "where");
      lua_setfield(L, -2, "where");
      lua_getfield(L, -2, "traceback");
      lua_setfield(L, -2, "traceback");
      lua_remove(L, -2);
    }
    lua_pushvalue(L, to);
    lua_insert(L, -2);
    lua_rawset(L, -3);
    rt->norigins++;
  } else {
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Stack: the object, how (an integer: ORIGIN_DROPPED...). */
static int unclosed_p(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ORIGINS_KEY);
  lua_pushvalue(L, 1);
  if (lua_rawget(L, -2) != LUA_TTABLE)
    return 0;
  int origin = lua_gettop(L);
  /* A reader and its writer share one origin: one report for both. */
  if (lua_getfield(L, origin, "reported") != LUA_TNIL)
    return 0;
  lua_pushboolean(L, 1);
  lua_setfield(L, origin, "reported");
  lua_createtable(L, 0, 3);
  lua_getfield(L, origin, "what");
  lua_getfield(L, origin, "where");
  int how = (int)lua_tointeger(L, 2);
  if (how == ORIGIN_NEVER_AWAITED)
    lua_pushfstring(L, "%s made at %s was never awaited",
                    lua_tostring(L, -2), lua_tostring(L, -1));
  else
    lua_pushfstring(L, "unclosed %s opened at %s%s", lua_tostring(L, -2),
                    lua_tostring(L, -1),
                    how == ORIGIN_AT_CLOSE ? ", still open when its loop closed"
                                          : ", dropped without being closed");
  lua_setfield(L, -4, "message");
  lua_pop(L, 2);
  lua_getfield(L, origin, "traceback");
  lua_setfield(L, -2, "source_traceback");
  luaioL_queuecontext(L, -1);
  lua_pushboolean(L, 1);
  return 1;
}

int luaioL_unclosed(lua_State *L, int idx, int how) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->norigins == 0 || !lua_checkstack(L, 4))
    return 0;
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, unclosed_p);
  lua_pushvalue(L, idx);
  lua_pushinteger(L, how);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) { /* out of memory, in a finalizer */
    fprintf(stderr, "luaio: an unclosed resource cannot be reported: %s\n",
            lua_isstring(L, -1) ? lua_tostring(L, -1) : "?");
    lua_pop(L, 1);
    return 0;
  }
  int reported = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return reported;
}

void luaioL_open_debug(lua_State *L) {
  luaioL_newweakset(L, &ORIGINS_KEY);
}
