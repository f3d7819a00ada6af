/*
** lgather.c - asyncio.gather, wait, as_completed and shield: the Lua face
** of core/gather.c, core/wait.c and core/shield.c.
*/
#include <math.h>
#include <string.h>

#include "lbind.h"

#define WAIT_MT "asyncio.Waiter"

typedef struct {
  luaio_wait_t *w; /* owns one reference */
} lwait;

/* Fills a new table (pushed) with the awaitables of the call: the
** arguments from first, or the elements of one plain list. Coroutine
** objects and functions become tasks; a coroutine object listed twice
** becomes one task, listed twice, as asyncio's gather, wait and
** as_completed make it one future. arg is the number the caller knows
** the first of them (or the list) by, for errors. Returns the count;
** *opts receives the index of a table carrying options, or 0.
** [-0, +1, e] */
static int collect(lua_State *L, int first, int arg, const char *fname,
                   int *opts) {
  int top = lua_gettop(L);
  int list = 0, n;
  *opts = 0;
  if (top == first && lua_type(L, first) == LUA_TTABLE &&
      luaioL_tofuture(L, first) == NULL) {
    list = first;
    *opts = first;
    n = (int)lua_rawlen(L, list);
  } else {
    n = top - first + 1;
  }
  lua_createtable(L, n, 0);
  int kids = lua_gettop(L);
  int made = 0; /* coroutine object -> its task; made when first needed */
  for (int i = 1; i <= n; i++) {
    if (list)
      lua_rawgeti(L, list, i);
    else
      lua_pushvalue(L, first + i - 1);
    if (luaioL_tofuture(L, -1) != NULL) { /* a task or future, as it is */
      luaioL_toawaitable(L, -1, fname, 1);
      lua_rawseti(L, kids, i);
      continue;
    }
    int iscoro = luaioL_iscoro(L, -1);
    if (!iscoro && !lua_isfunction(L, -1)) {
      const char *what = "coroutine object, function, task or future";
      if (list)
        return luaL_argerror(L, arg,
                             lua_pushfstring(L, "element %d: %s expected, "
                                                "got %s",
                                             i, what, luaL_typename(L, -1)));
      return luaL_argerror(L, arg + i - 1,
                           lua_pushfstring(L, "%s expected, got %s", what,
                                           luaL_typename(L, -1)));
    }
    if (iscoro) {
      if (made == 0) {
        lua_newtable(L);
        lua_insert(L, -2);
        made = kids + 1;
      }
      lua_pushvalue(L, -1);
      if (lua_rawget(L, made) != LUA_TNIL) { /* its task, made before */
        lua_rawseti(L, kids, i);
        lua_pop(L, 1);
        continue;
      }
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      luaioL_toawaitable(L, -1, fname, 1);
      lua_pushvalue(L, -1);
      lua_insert(L, -3);     /* box co box */
      lua_rawset(L, made);   /* made[co] = box */
    } else {
      luaioL_toawaitable(L, -1, fname, 1);
    }
    lua_rawseti(L, kids, i);
  }
  lua_settop(L, kids);
  return n;
}

/* Pushes an array of new references to the core futures of the boxes in
** kids (a finished task's is made anew); drop them with unref_all. */
static luaio_future_t **futures_of(lua_State *L, int kids, int n) {
  luaio_future_t **futs = lua_newuserdatauv(L, (size_t)n * sizeof *futs + 1,
                                            0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, kids, i + 1);
    futs[i] = luaioL_corefuture(lua_touserdata(L, -1));
    lua_pop(L, 1);
    if (futs[i] == NULL) {
      while (i-- > 0)
        luaio_future_unref(futs[i]);
      luaL_error(L, "not enough memory");
    }
  }
  return futs;
}

static void unref_all(luaio_future_t **futs, int n) {
  for (int i = 0; i < n; i++)
    luaio_future_unref(futs[i]);
}

/* {======================================================================
** gather
** ======================================================================= */

/* Stack of a gather: ... kids(ctx) gatherbox */
static int gather_finish(lua_State *L, int kids) {
  lfuture *g = lua_touserdata(L, kids + 1);
  int n = (int)lua_rawlen(L, kids);
  if (luaio_future_state(g->fut) == LUAIO_RESOLVED) {
    /* The values, in input order; taking them marks them seen. */
    lua_createtable(L, n, 1);
    for (int i = 1; i <= n; i++) {
      lua_rawgeti(L, kids, i);
      luaioL_pushfirst(L, -1);
      lua_rawseti(L, -3, i);
      lua_pop(L, 1);
    }
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
    return 1;
  }
  /* Whatever happens now, the children's outcomes count as seen. */
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, kids, i);
    ((lfuture *)lua_touserdata(L, -1))->retrieved = 1;
    lua_pop(L, 1);
  }
  switch (luaio_future_state(g->fut)) {
  case LUAIO_FAILED:
    lua_rawgeti(L, kids, (lua_Integer)luaio_gather_failed(g->fut) + 1);
    luaioL_pusherror(L, -1);
    return lua_error(L);
  default:
    return luaioL_raise(L, LUAIO_ECANCELLED,
                        luaio_future_cancel_message(g->fut));
  }
}

static int gather_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaioL_resumed(L);
  return gather_finish(L, (int)ctx);
}

static int lgather_gather(lua_State *L) {
  luaioL_runtime *rt = luaioL_rt(L);
  lfuture *task = luaioL_checktask(L, "gather");
  int opts;
  int n = collect(L, 1, 1, "gather", &opts);
  int kids = lua_gettop(L);
  int return_errors = 0;
  if (opts) {
    lua_getfield(L, opts, "return_exceptions");
    return_errors = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  luaio_future_t **futs = futures_of(L, kids, n);
  luaio_future_t *g = luaio_gather_new(rt->loop, futs, (size_t)n,
                                       return_errors);
  unref_all(futs, n); /* the gather holds its own */
  lua_pop(L, 1);
  if (g == NULL)
    return luaL_error(L, "not enough memory");
  luaioL_pushfuture(L, g); /* owns g; at kids + 1 */
  if (luaio_future_done(g))
    return gather_finish(L, kids);
  return luaioL_await(L, task, g, kids, gather_k);
}

/* }====================================================================== */

/* {======================================================================
** wait and as_completed
** ======================================================================= */

/* Drops the repeated elements of the list kids (n of them), keeping the
** first listing of each: asyncio's wait and as_completed take a set, so
** a task listed twice is one task. Returns the new count. [-0, +0, m] */
static int dedupe(lua_State *L, int kids, int n) {
  if (n < 2)
    return n;
  lua_createtable(L, 0, n);
  int seen = lua_gettop(L);
  int m = 0;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, kids, i);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, seen) != LUA_TNIL) {
      lua_pop(L, 2);
      continue;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushboolean(L, 1);
    lua_rawset(L, seen); /* seen[kid] = true */
    lua_rawseti(L, kids, ++m);
  }
  for (int i = n; i > m; i--) {
    lua_pushnil(L);
    lua_rawseti(L, kids, i);
  }
  lua_pop(L, 1);
  return m;
}

static lwait *pushwaiter(lua_State *L) {
  lwait *lw = lua_newuserdatauv(L, sizeof *lw, 0);
  lw->w = NULL;
  luaL_setmetatable(L, WAIT_MT);
  return lw;
}

/* The timeout option of the options table at opts (argument opts), or -1
** for none. [-0, +0, v] */
static double opttimeout(lua_State *L, int opts) {
  double timeout = -1;
  if (opts && lua_getfield(L, opts, "timeout") != LUA_TNIL) {
    timeout = lua_tonumber(L, -1);
    if (!lua_isnumber(L, -1) || isnan(timeout) || timeout < 0)
      luaL_argerror(L, opts,
                    lua_pushfstring(L, "timeout: non-negative number or nil "
                                       "expected, got %s",
                                    lua_isnumber(L, -1)
                                        ? lua_tostring(L, -1)
                                        : luaL_typename(L, -1)));
  }
  if (opts)
    lua_pop(L, 1);
  return timeout;
}

/* Stack of a wait: list opts kids lwait */
static int wait_finish(lua_State *L, int kids) {
  lwait *lw = lua_touserdata(L, kids + 1);
  if (luaio_future_cancelled(luaio_wait_future(lw->w)))
    return luaioL_raise(L, LUAIO_ECANCELLED, NULL);
  int n = (int)lua_rawlen(L, kids);
  lua_newtable(L);
  lua_newtable(L);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, kids, i);
    lfuture *box = lua_touserdata(L, -1);
    int into = luaioL_isdone(box) ? -3 : -2;
    lua_rawseti(L, into, (lua_Integer)lua_rawlen(L, into) + 1);
  }
  luaio_wait_unref(lw->w);
  lw->w = NULL;
  return 2;
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaioL_resumed(L);
  return wait_finish(L, (int)ctx);
}

static int lgather_wait(lua_State *L) {
  luaioL_runtime *rt = luaioL_rt(L);
  lfuture *task = luaioL_checktask(L, "wait");
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  int opts = lua_istable(L, 2) ? 2 : 0;
  luaio_wait_mode mode = LUAIO_ALL_COMPLETED;
  if (opts && lua_getfield(L, 2, "return_when") != LUA_TNIL) {
    static const char *const modes[] = {"ALL_COMPLETED", "FIRST_COMPLETED",
                                        "FIRST_EXCEPTION", NULL};
    const char *name = lua_tostring(L, -1);
    int i = 0;
    while (modes[i] != NULL && (name == NULL || strcmp(modes[i], name) != 0))
      i++;
    if (modes[i] == NULL || lua_type(L, -1) != LUA_TSTRING)
      return luaL_argerror(
          L, 2,
          lua_pushfstring(L,
                          "return_when: \"ALL_COMPLETED\", "
                          "\"FIRST_COMPLETED\" or \"FIRST_EXCEPTION\" "
                          "expected, got %s",
                          lua_type(L, -1) == LUA_TSTRING
                              ? lua_pushfstring(L, "'%s'", name)
                              : luaL_typename(L, -1)));
    mode = (luaio_wait_mode)i;
  }
  if (opts)
    lua_pop(L, 1);
  double timeout = opttimeout(L, opts);
  int dummy;
  lua_pushvalue(L, 1);
  int n = collect(L, 3, 1, "wait", &dummy);
  lua_remove(L, 3); /* stack: list opts kids */
  int kids = 3;
  if (n == 0)
    return luaL_argerror(L, 1, "the list of tasks is empty");
  n = dedupe(L, kids, n);
  lwait *lw = pushwaiter(L);
  luaio_future_t **futs = futures_of(L, kids, n);
  lw->w = luaio_wait_new(rt->loop, futs, (size_t)n, mode, timeout);
  unref_all(futs, n); /* the waiter holds its own */
  lua_pop(L, 1);
  if (lw->w == NULL)
    return luaL_error(L, "not enough memory");
  luaio_future_t *done = luaio_wait_future(lw->w);
  if (luaio_future_done(done))
    return wait_finish(L, kids);
  return luaioL_await(L, task, done, kids, wait_k);
}

/* The iterator of as_completed: upvalues are the kids and the waiter. */
static int ascompleted_take(lua_State *L) {
  lwait *lw = lua_touserdata(L, lua_upvalueindex(2));
  long i = luaio_wait_take(lw->w);
  if (i < 0)
    return -1;
  lua_rawgeti(L, lua_upvalueindex(1), (lua_Integer)i + 1);
  return 1;
}

static int ascompleted_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaioL_resumed(L);
  lfuture *next = lua_touserdata(L, (int)ctx);
  if (luaio_future_state(next->fut) == LUAIO_FAILED)
    return luaioL_raise(L, LUAIO_ETIMEOUT, "as_completed: timed out");
  if (luaio_future_cancelled(next->fut))
    return luaioL_raise(L, LUAIO_ECANCELLED, NULL);
  return ascompleted_take(L);
}

static int ascompleted_next(lua_State *L) {
  lwait *lw = lua_touserdata(L, lua_upvalueindex(2));
  if (luaio_wait_ntaken(lw->w) ==
      (size_t)lua_rawlen(L, lua_upvalueindex(1)))
    return 0; /* every one was handed out: the loop ends */
  if (ascompleted_take(L) == 1)
    return 1;
  lfuture *task = luaioL_checktask(L, "as_completed");
  luaio_future_t *next = luaio_wait_next_future(lw->w);
  if (next == NULL)
    return luaL_error(L, "not enough memory");
  lfuture *box = luaioL_pushfuture(L, next);
  int idx = lua_gettop(L);
  if (luaio_future_done(next))
    return ascompleted_k(L, LUA_OK, idx);
  return luaioL_await(L, task, box->fut, idx, ascompleted_k);
}

static int lgather_as_completed(lua_State *L) {
  luaioL_runtime *rt = luaioL_rt(L);
  luaioL_checkloop(L, "as_completed");
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  double timeout = opttimeout(L, lua_istable(L, 2) ? 2 : 0);
  int dummy;
  lua_pushvalue(L, 1);
  int n = collect(L, 3, 1, "as_completed", &dummy);
  lua_remove(L, 3);
  int kids = 3;
  n = dedupe(L, kids, n);
  lwait *lw = pushwaiter(L);
  luaio_future_t **futs = futures_of(L, kids, n);
  lw->w = luaio_wait_new(rt->loop, futs, (size_t)n, LUAIO_ALL_COMPLETED,
                         timeout);
  unref_all(futs, n); /* the waiter holds its own */
  lua_pop(L, 1);
  if (lw->w == NULL)
    return luaL_error(L, "not enough memory");
  lua_pushcclosure(L, ascompleted_next, 2);
  return 1;
}

static int lwait__gc(lua_State *L) {
  lwait *lw = lua_touserdata(L, 1);
  if (lw->w != NULL) {
    luaio_wait_unref(lw->w);
    lw->w = NULL;
  }
  return 0;
}

/* }====================================================================== */

static int lgather_shield(lua_State *L) {
  luaioL_runtime *rt = luaioL_rt(L);
  luaioL_checkloop(L, "shield");
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  int ok = luaioL_tofuture(L, 1) != NULL ||
           luaL_testudata(L, 1, "asyncio.Coroutine") != NULL ||
           lua_isfunction(L, 1);
  if (!ok)
    return luaL_typeerror(L, 1, "coroutine object, function, task or future");
  lfuture *inner = luaioL_toawaitable(L, 1, "shield", 1);
  if (luaioL_isdone(inner))
    return 1;
  luaio_future_t *outer = luaio_shield_new(rt->loop, inner->fut);
  if (outer == NULL)
    return luaL_error(L, "not enough memory");
  luaioL_pushfuture(L, outer);
  lua_pushvalue(L, 1);
  luaioL_setextra(L, -2, "source"); /* its values are inner's */
  ((lfuture *)lua_touserdata(L, -1))->sourced = 1;
  inner->retrieved = 1; /* the shield passes the outcome on */
  return 1;
}

static const luaL_Reg lgather_funcs[] = {{"gather", lgather_gather},
                                         {"wait", lgather_wait},
                                         {"as_completed", lgather_as_completed},
                                         {"shield", lgather_shield},
                                         {NULL, NULL}};

static const luaL_Reg lwait_meta[] = {{"__gc", lwait__gc}, {NULL, NULL}};

void luaioL_open_gather(lua_State *L) {
  luaioL_setfuncs(L, lgather_funcs);
  luaioL_newclass(L, WAIT_MT, NULL, lwait_meta);
}
