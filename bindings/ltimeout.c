/*
** ltimeout.c - asyncio.timeout, timeout_at and wait_for: the Lua face of
** core/timeout.c.
*/
#include <math.h>

#include "lbind.h"

#define TIMEOUT_MT "asyncio.Timeout"

typedef struct {
  luaio_timeout_t *to; /* owns one reference */
  double delay;
} ltimeout;

static int ltimeout__gc(lua_State *L) {
  ltimeout *lt = lua_touserdata(L, 1);
  if (lt->to != NULL) {
    luaio_timeout_unref(lt->to);
    lt->to = NULL;
  }
  return 0;
}

/* Ends the scope whose box is at ctx; the body's outcome is status (and
** the error on top), its values are above ctx. */
static int scope_k(lua_State *L, int status, lua_KContext ctx) {
  int base = (int)ctx;
  ltimeout *lt = lua_touserdata(L, base);
  int failed = status != LUA_OK && status != LUA_YIELD;
  int err = 0;
  if (failed)
    err = luaioL_iscancelled(L, -1) ? LUAIO_ECANCELLED : LUAIO_EFAILED;
  int out = luaio_timeout_exit(lt->to, err);
  luaio_timeout_unref(lt->to);
  lt->to = NULL;
  if (out == LUAIO_ETIMEOUT) {
    luaioL_newerror(L, "TimeoutError", NULL);
    if (lt->delay >= 0) {
      lua_pushfstring(L, "timed out after %f s", lt->delay);
      lua_setfield(L, -2, "message");
    }
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "cause"); /* the CancelledError it replaces */
    return lua_error(L);
  }
  if (failed)
    return lua_error(L);
  return lua_gettop(L) - base;
}

/* Runs the function at fidx with the arguments after it under a deadline
** at loop time when (negative: none). */
static int scope(lua_State *L, int fidx, double when, double delay,
                 const char *fname) {
  lfuture *task = luaioL_checktask(L, fname);
  luaL_checktype(L, fidx, LUA_TFUNCTION);
  int nargs = lua_gettop(L) - fidx;
  ltimeout *lt = lua_newuserdatauv(L, sizeof *lt, 0);
  lt->to = NULL;
  lt->delay = delay;
  luaL_setmetatable(L, TIMEOUT_MT);
  lua_insert(L, fidx); /* the scope box sits below the function */
  int base = fidx;
  lt->to = luaio_timeout_new(luaio_future_loop(luaio_task_future(task->task)));
  if (lt->to == NULL)
    return luaL_error(L, "not enough memory");
  luaioL_check(L, luaio_timeout_enter(lt->to, task->task, when), fname);
  int status = lua_pcallk(L, nargs, LUA_MULTRET, 0, base, scope_k);
  return scope_k(L, status, base);
}

static double checkdelay(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx))
    return -1;
  double d = luaL_checknumber(L, idx);
  if (isnan(d) || d < 0)
    luaL_argerror(L, idx, lua_pushfstring(L, "non-negative number or nil "
                                          "expected, got %s",
                                          lua_tostring(L, idx)));
  return d;
}

static int ltimeout_timeout(lua_State *L) {
  double delay = checkdelay(L, 1);
  luaio_loop_t *loop = luaioL_checkloop(L, "timeout");
  double when = delay < 0 ? -1 : luaio_loop_time(loop) + delay;
  return scope(L, 2, when, delay, "timeout");
}

static int ltimeout_timeout_at(lua_State *L) {
  double when = -1;
  if (!lua_isnoneornil(L, 1)) {
    when = luaL_checknumber(L, 1);
    if (isnan(when))
      return luaL_argerror(L, 1, "number or nil expected, got nan");
    if (when < 0)
      when = 0; /* a time already past */
  }
  return scope(L, 2, when, -1, "timeout_at");
}

static int await_fn(lua_State *L) {
  return luaioL_awaitvalue(L, 1, "wait_for");
}

static int ltimeout_wait_for(lua_State *L) {
  luaL_checkany(L, 1);
  double delay = checkdelay(L, 2);
  lua_settop(L, 1);
  int ok = luaioL_tofuture(L, 1) != NULL || lua_isfunction(L, 1) ||
           luaL_testudata(L, 1, CORO_MT) != NULL;
  if (!ok)
    return luaL_typeerror(L, 1, "coroutine object, function, task or future");
  if (delay < 0) {
    luaioL_checktask(L, "wait_for");
    return luaioL_awaitvalue(L, 1, "wait_for");
  }
  luaio_loop_t *loop = luaioL_checkloop(L, "wait_for");
  lua_pushcfunction(L, await_fn);
  lua_insert(L, 1);
  return scope(L, 1, luaio_loop_time(loop) + delay, delay, "wait_for");
}

static const luaL_Reg ltimeout_funcs[] = {{"timeout", ltimeout_timeout},
                                          {"timeout_at", ltimeout_timeout_at},
                                          {"wait_for", ltimeout_wait_for},
                                          {NULL, NULL}};

static const luaL_Reg ltimeout_meta[] = {{"__gc", ltimeout__gc},
                                         {NULL, NULL}};

void luaioL_open_timeout(lua_State *L) {
  luaioL_setfuncs(L, ltimeout_funcs);
  luaioL_newclass(L, TIMEOUT_MT, NULL, ltimeout_meta);
}
