/*
** asyncio.c - luaopen_asyncio: the runtime of a Lua state, the module
** table, and the Lua parts embedded from lua/.
*/
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"

static const char RUNTIME_KEY = 'r';

luaioL_runtime *luaioL_runtime_of(lua_State *L) {
  /* Module functions carry the runtime as their first upvalue; other C
  ** functions of ours never have a light userdata there. */
  if (lua_islightuserdata(L, lua_upvalueindex(1))) {
    luaioL_runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
    if (rt->magic == LUAIO_RT_MAGIC)
      return rt;
  }
  lua_rawgetp(L, LUA_REGISTRYINDEX, &RUNTIME_KEY);
  luaioL_runtime *rt = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return rt;
}

void luaioL_setfuncs(lua_State *L, const luaL_Reg *funcs) {
  lua_pushvalue(L, lua_upvalueindex(1));
  luaL_setfuncs(L, funcs, 1);
}

void *luaioL_checkself(lua_State *L, const char *tname) {
  if (lua_getmetatable(L, 1)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(2));
    lua_pop(L, 1);
    if (same)
      return lua_touserdata(L, 1);
  }
  return luaioL_checkobject(L, tname);
}

void *luaioL_checkobject(lua_State *L, const char *tname) {
  void *p = luaL_testudata(L, 1, tname);
  if (p == NULL)
    luaioL_selferror(L, tname);
  return p;
}

int luaioL_selferror(lua_State *L, const char *expected) {
  const char *got;
  if (luaL_getmetafield(L, 1, "__name") == LUA_TSTRING)
    got = lua_tostring(L, -1);
  else if (lua_type(L, 1) == LUA_TLIGHTUSERDATA)
    got = "light userdata";
  else
    got = luaL_typename(L, 1);
  lua_Debug ar;
  if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) &&
      ar.name != NULL && strcmp(ar.namewhat, "method") != 0 &&
      strcmp(ar.namewhat, "metamethod") != 0)
    /* obj.name(...): the object was left out, or came second. */
    return luaL_argerror(L, 1,
                         lua_pushfstring(L,
                                         "%s expected, got %s; call it "
                                         "with ':', as obj:%s(...)",
                                         expected, got, ar.name));
  return luaL_argerror(L, 1,
                       lua_pushfstring(L, "%s expected, got %s", expected,
                                       got));
}

void luaioL_newweakset(lua_State *L, const void *key) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

void luaioL_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                     const luaL_Reg *meta) {
  luaL_newmetatable(L, tname); /* also sets __name */
  int mt = lua_gettop(L);
  if (meta != NULL) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, mt);
    luaL_setfuncs(L, meta, 2);
  }
  lua_newtable(L);
  if (methods != NULL) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, mt);
    luaL_setfuncs(L, methods, 2); /* upvalues: runtime, metatable */
  }
  lua_setfield(L, -2, "__index"); /* meta.__index = methods */
  lua_pop(L, 1);
}

luaio_loop_t *luaioL_checkloop(lua_State *L, const char *fname) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->loop == NULL)
    luaL_error(L, "%s: no running event loop: call it inside "
                  "asyncio.run(main)", fname);
  return rt->loop;
}

const char *luaioL_tocstring(lua_State *L, int idx, int arg,
                             const char *what, ...) {
  idx = lua_absindex(L, idx);
  int t = lua_type(L, idx);
  size_t len = 0;
  const char *s = NULL;
  if (t == LUA_TSTRING || t == LUA_TNUMBER)
    s = lua_tolstring(L, idx, &len);
  if (s != NULL && strlen(s) == len)
    return s;
  const char *tname = luaL_typename(L, idx); /* idx may be above the top */
  if (what != NULL) {
    va_list ap;
    va_start(ap, what);
    lua_pushvfstring(L, what, ap);
    va_end(ap);
    lua_pushliteral(L, ": ");
  } else {
    lua_pushliteral(L, "");
    lua_pushliteral(L, "");
  }
  if (s == NULL)
    lua_pushfstring(L, "string expected, got %s", tname);
  else
    lua_pushfstring(L, "string contains a NUL byte (byte %d), which C "
                       "strings cannot hold", (int)strlen(s) + 1);
  lua_concat(L, 3);
  luaL_argerror(L, arg, lua_tostring(L, -1));
  return NULL;
}

static int runtime__gc(lua_State *L) {
  luaioL_runtime *rt = lua_touserdata(L, 1);
  /* A host that never closed its loop: it is closed now, as
  ** luaio_host_close() would, while Lua can still run cleanup. */
  luaioL_close_at_exit(L, rt);
  rt->loop = NULL;
  free(rt->freepins);
  rt->freepins = NULL;
  rt->nfreepins = rt->capfreepins = 0;
  /* Every other finalizer has run (this one was set first): what is
  ** left belongs to no box. */
  luaioL_release_owned(rt);
  return 0;
}

static int openmodule(lua_State *L) {
  lua_newtable(L);
  luaioL_open_error(L);
  luaioL_open_debug(L);
  luaioL_open_future(L);
  luaioL_open_task(L);
  luaioL_open_loop(L);
  luaioL_open_gather(L);
  luaioL_open_timeout(L);
  luaioL_open_taskgroup(L);
  luaioL_open_queue(L);
  luaioL_open_sync(L);
  luaioL_open_stream(L);
  luaioL_open_tls(L);
  luaioL_open_process(L);
  luaioL_open_udp(L);
  luaioL_open_fs(L);
  luaioL_open_thread(L);
  luaioL_open_clock(L);
  luaioL_open_graph(L);
  luaioL_open_scope(L);
  luaioL_open_sandbox(L);
  lua_pushstring(L, luaio_version_string());
  lua_setfield(L, -2, "_VERSION");
  /* The Lua parts receive the module table. */
  for (const luaio_embedded_t *e = luaio_embedded; e->name != NULL; e++) {
    lua_pushfstring(L, "=[luaio] %s.lua", e->name);
    if (luaL_loadbuffer(L, e->src, e->len, lua_tostring(L, -1)) != LUA_OK)
      return lua_error(L);
    lua_remove(L, -2);
    lua_pushvalue(L, -2);
    lua_call(L, 1, 0);
  }
  return 1;
}

LUAIO_EXTERN int luaopen_asyncio(lua_State *L) {
  luaioL_runtime *rt;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &RUNTIME_KEY) == LUA_TUSERDATA) {
    rt = lua_touserdata(L, -1);
  } else {
    rt = lua_newuserdatauv(L, sizeof *rt, 0);
    memset(rt, 0, sizeof *rt);
    rt->magic = LUAIO_RT_MAGIC;
    rt->L = L;
    lua_newtable(L); /* pinned boxes, see luaioL_pin */
    rt->pins = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, runtime__gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &RUNTIME_KEY);
    const char *pause = getenv("LUAIO_GCPAUSE");
    if (pause != NULL) /* 0 makes the collector run all the time (tests) */
      lua_gc(L, LUA_GCSETPAUSE, atoi(pause)); /* LUA_GCINC ignores a 0 */
  }
  lua_pop(L, 1);
  lua_pushlightuserdata(L, rt);
  lua_pushcclosure(L, openmodule, 1);
  lua_call(L, 0, 1);
  return 1;
}
