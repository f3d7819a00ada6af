/*
** lfuture.c - asyncio.Future, the Lua face of core/future.c; also the
** box that Task objects share.
*/
#include <stdlib.h>
#include <string.h>

#include "lbind.h"

/* Fills the new box at the top of L; allocates nothing. */
static void initbox(lua_State *L, lfuture *box, luaio_future_t *fut) {
  box->magic = LUAIO_BOX_MAGIC;
  box->fut = fut;
  box->task = luaio_future_task(fut);
  box->rt = luaioL_runtime_of(L);
  box->co = NULL;
  box->nvalues = 0;
  box->pin = LUA_NOREF;
  box->resume_err = 0;
  box->is_task = box->task != NULL;
  box->started = 0;
  box->has_error = 0;
  box->retrieved = 0;
  box->reported = 0;
  box->sourced = 0;
  box->gen = box->rt->gen;
  box->id = 0;
  box->ncancels = 0;
  box->final_err = 0;
  box->final = LUAIO_PENDING;
  lua_rawgeti(L, LUA_REGISTRYINDEX, box->rt->future_mt);
  lua_setmetatable(L, -2);
  luaio_future_set_data(fut, box);
}

static int newuserdata(lua_State *L) {
  lua_newuserdatauv(L, sizeof(lfuture), NUV);
  return 1;
}

/* {======================================================================
** Owned futures: Lua may collect a box without calling its finalizer
** (out of memory for the call: "error in __gc"), so the runtime keeps
** the core futures that boxes own in slots of its own, and releases what
** is left there when the state closes. Tasks need none: a pending task
** is pinned, and a done one owns no core future. XXX(#5): the other
** objects whose finalizer releases a core object (queues, locks, streams,
** servers, handles, ...) have no such slots yet.
** ======================================================================= */

/* Makes sure that a slot is free; returns 0 when out of memory. */
static int reserve_owned(luaioL_runtime *rt) {
  if (rt->freeowned != 0 || rt->nowned < rt->capowned)
    return 1;
  uint32_t cap = rt->capowned ? rt->capowned * 2 : 64;
  uintptr_t *v = realloc(rt->owned, (size_t)cap * sizeof *v);
  if (v == NULL)
    return 0;
  rt->owned = v;
  rt->capowned = cap;
  return 1;
}

/* Takes the slot reserve_owned made sure of for box->fut. */
static void track_owned(luaioL_runtime *rt, lfuture *box) {
  uint32_t i = rt->freeowned;
  if (i != 0)
    rt->freeowned = (uint32_t)(rt->owned[i - 1] >> 1);
  else
    i = ++rt->nowned;
  rt->owned[i - 1] = (uintptr_t)box->fut;
  box->owned = i;
}

static void untrack_owned(luaioL_runtime *rt, lfuture *box) {
  uint32_t i = box->owned;
  rt->owned[i - 1] = (uintptr_t)rt->freeowned << 1 | 1;
  rt->freeowned = i;
  box->owned = 0;
}

void luaioL_release_owned(luaioL_runtime *rt) {
  for (uint32_t i = 0; i < rt->nowned; i++) {
    if (rt->owned[i] & 1)
      continue;
    luaio_future_t *fut = (luaio_future_t *)rt->owned[i];
    luaio_future_set_data(fut, NULL); /* its box is gone */
    luaio_future_unref(fut);
  }
  free(rt->owned);
  rt->owned = NULL;
  rt->nowned = rt->capowned = rt->freeowned = 0;
}

/* }====================================================================== */

lfuture *luaioL_pushfuture(lua_State *L, luaio_future_t *fut) {
  /* Made protected: out of memory, the future is abandoned, not lost
  ** (a waiter left in a queue would take the next item). */
  luaioL_runtime *rt = luaioL_runtime_of(L);
  int is_task = luaio_future_task(fut) != NULL;
  if (!is_task && !reserve_owned(rt)) {
    luaio_future_abandon(fut);
    luaL_error(L, "not enough memory");
  }
  lua_pushcfunction(L, newuserdata);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
    luaio_future_abandon(fut);
    lua_error(L);
  }
  lfuture *box = lua_touserdata(L, -1);
  initbox(L, box, fut);
  if (!is_task)
    track_owned(rt, box);
  return box;
}

luaio_state luaioL_state(const lfuture *box) {
  return box->fut != NULL ? luaio_future_state(box->fut)
                          : (luaio_state)box->final;
}

static int box_error(const lfuture *box) {
  return box->fut != NULL ? luaio_future_error(box->fut) : box->final_err;
}

/* Pushes the message a cancelled box was cancelled with, or nil. */
static void pushcancelmsg(lua_State *L, int idx, lfuture *box) {
  const char *msg = NULL;
  if (box->fut != NULL)
    msg = luaio_future_cancel_message(box->fut);
  if (msg != NULL)
    lua_pushstring(L, msg);
  else if (box->fut == NULL)
    luaioL_getextra(L, idx, "cancel_msg");
  else
    lua_pushnil(L);
}

luaio_future_t *luaioL_corefuture(lfuture *box) {
  if (box->fut != NULL) {
    luaio_future_ref(box->fut);
    return box->fut;
  }
  luaio_future_t *f = luaio_future_new(box->rt->loop);
  if (f == NULL)
    return NULL;
  switch ((luaio_state)box->final) {
  case LUAIO_RESOLVED:
    luaio_future_set_result(f);
    break;
  case LUAIO_FAILED:
    luaio_future_set_error(f, box->final_err);
    break;
  default:
    luaio_future_cancel(f, NULL);
    break;
  }
  return f;
}

lfuture *luaioL_tofuture(lua_State *L, int idx) {
  /* Only boxes have this size and begin with this magic (checked on
  ** every gather element, so cheaper than two luaL_testudata). */
  if (lua_type(L, idx) != LUA_TUSERDATA ||
      lua_rawlen(L, idx) != sizeof(lfuture))
    return NULL;
  lfuture *box = lua_touserdata(L, idx);
  return box->magic == LUAIO_BOX_MAGIC ? box : NULL;
}

void luaioL_checkalive(lua_State *L, lfuture *box, const char *fname) {
  luaioL_runtime *rt = box->rt;
  if (rt->loop == NULL || box->gen != rt->gen)
    luaL_error(L, "%s: this %s belongs to an event loop that is closed; "
                  "create it inside the asyncio.run that uses it",
               fname, box->is_task ? "task" : "future");
}

lfuture *luaioL_checkfuture(lua_State *L, int idx) {
  lfuture *box = luaioL_tofuture(L, idx);
  if (box == NULL && idx == 1) /* the self of a method */
    luaioL_selferror(L, "asyncio.Future or asyncio.Task");
  else if (box == NULL)
    luaL_typeerror(L, idx, "asyncio.Future or asyncio.Task");
  return box;
}

/* Pinned boxes live in one table, in its array part, under slots that a
** stack in C recycles: a task is pinned and unpinned once each, and this
** costs half what luaL_ref and luaL_unref do. */
void luaioL_pin(lua_State *L, int idx, lfuture *box) {
  if (box->pin != LUA_NOREF)
    return;
  luaioL_runtime *rt = box->rt;
  idx = lua_absindex(L, idx);
  int slot = rt->nfreepins > 0 ? rt->freepins[--rt->nfreepins] : ++rt->npins;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->pins);
  lua_pushvalue(L, idx);
  lua_rawseti(L, -2, slot);
  lua_pop(L, 1);
  box->pin = slot;
}

void luaioL_unpin(lua_State *L, lfuture *box) {
  if (box->pin == LUA_NOREF)
    return;
  luaioL_runtime *rt = box->rt;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->pins);
  lua_pushnil(L);
  lua_rawseti(L, -2, box->pin);
  lua_pop(L, 1);
  if (rt->nfreepins == rt->capfreepins) {
    int cap = rt->capfreepins ? rt->capfreepins * 2 : 64;
    int *v = realloc(rt->freepins, (size_t)cap * sizeof *v);
    if (v == NULL) { /* the slot is not reused: harmless */
      box->pin = LUA_NOREF;
      return;
    }
    rt->freepins = v;
    rt->capfreepins = cap;
  }
  rt->freepins[rt->nfreepins++] = box->pin;
  box->pin = LUA_NOREF;
}

void luaioL_pushbox(lua_State *L, lfuture *box) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, box->rt->pins);
  lua_rawgeti(L, -1, box->pin);
  lua_remove(L, -2);
}

int luaioL_getextra(lua_State *L, int idx, const char *field) {
  if (lua_getiuservalue(L, idx, UV_EXTRA) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return LUA_TNIL;
  }
  int t = lua_getfield(L, -1, field);
  lua_remove(L, -2);
  return t;
}

void luaioL_setextra(lua_State *L, int idx, const char *field) {
  idx = lua_absindex(L, idx);
  if (lua_getiuservalue(L, idx, UV_EXTRA) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, idx, UV_EXTRA);
  }
  lua_insert(L, -2);
  lua_setfield(L, -2, field);
  lua_pop(L, 1);
}

/* Follows extra.source to the box that holds the values. [-0, +1, -] */
static void pushholder(lua_State *L, int idx) {
  lua_pushvalue(L, idx);
  while (((lfuture *)lua_touserdata(L, -1))->sourced) {
    luaioL_getextra(L, -1, "source");
    lua_remove(L, -2);
  }
}

void luaioL_pusherror(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lfuture *box = lua_touserdata(L, idx);
  box->retrieved = 1;
  switch (luaioL_state(box)) {
  case LUAIO_CANCELLED:
    if (box->has_error) { /* the CancelledError its task raised */
      lua_getiuservalue(L, idx, UV_VALUES);
    } else {
      pushcancelmsg(L, idx, box);
      luaioL_newerror(L, "CancelledError", lua_tostring(L, -1));
      lua_remove(L, -2);
    }
    break;
  case LUAIO_FAILED: {
    pushholder(L, idx); /* a shield's error is its inner future's */
    lfuture *holder = lua_touserdata(L, -1);
    holder->retrieved = 1;
    if (holder->has_error)
      lua_getiuservalue(L, -1, UV_VALUES);
    else
      luaioL_newerror(L, "Error", luaio_strerror(box_error(box)));
    lua_remove(L, -2);
    break;
  }
  default:
    lua_pushnil(L);
    break;
  }
}

int luaioL_pushresult(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lfuture *outer = lua_touserdata(L, idx);
  luaio_state state = luaioL_state(outer);
  if (state == LUAIO_PENDING)
    return luaL_error(L, "the result is not ready: await the %s first",
                      outer->is_task ? "task" : "future");
  if (state != LUAIO_RESOLVED) {
    luaioL_pusherror(L, idx);
    return lua_error(L);
  }
  pushholder(L, idx);
  lfuture *box = lua_touserdata(L, -1);
  box->retrieved = 1;
  int n = box->nvalues;
  if (n == 0) {
    lua_pop(L, 1);
    return 0;
  }
  lua_getiuservalue(L, -1, UV_VALUES);
  lua_remove(L, -2);
  if (n > 0)
    return 1;
  /* Several values, packed in a table with n. */
  int t = lua_gettop(L);
  lua_getfield(L, t, "n");
  n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_checkstack(L, n, "too many results");
  for (int i = 1; i <= n; i++)
    lua_rawgeti(L, t, i);
  lua_remove(L, t);
  return n;
}

void luaioL_pushfirst(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lfuture *box = lua_touserdata(L, idx);
  if (box->nvalues == 1 && !box->sourced &&
      luaioL_state(box) == LUAIO_RESOLVED) {
    box->retrieved = 1; /* the common case: one value of its own */
    lua_getiuservalue(L, idx, UV_VALUES);
    return;
  }
  if (luaioL_state(box) != LUAIO_RESOLVED) {
    luaioL_pusherror(L, idx);
    return;
  }
  int top = lua_gettop(L);
  int n = luaioL_pushresult(L, idx);
  if (n == 0)
    lua_pushnil(L);
  lua_settop(L, top + 1);
}

void luaioL_resolve(lua_State *L, int idx, int n) {
  idx = lua_absindex(L, idx);
  lfuture *box = lua_touserdata(L, idx);
  if (n == 1) {
    lua_setiuservalue(L, idx, UV_VALUES);
    box->nvalues = 1;
  } else if (n > 1) {
    lua_createtable(L, n, 1);
    lua_insert(L, -n - 1);
    for (int i = n; i >= 1; i--)
      lua_rawseti(L, -i - 1, i);
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
    lua_setiuservalue(L, idx, UV_VALUES);
    box->nvalues = -1;
  } else {
    box->nvalues = 0;
  }
}

void luaioL_fail(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lfuture *box = lua_touserdata(L, idx);
  lua_setiuservalue(L, idx, UV_VALUES);
  box->has_error = 1;
  box->nvalues = 0;
}

/* {======================================================================
** Done callbacks written in Lua
** ======================================================================= */

/* One Lua done callback: malloc'd by add_done_callback, owned by the
** core registration and freed by luacb_free, its fin, which also drops
** the registry ref. */
typedef struct {
  luaioL_runtime *rt;
  int ref;        /* registry: {box, fn} (and cb, scoped) */
  uint32_t scope; /* the scope it was added in, where it runs */
} luacb;

#define DONECB_MT "asyncio.DoneCallback" /* a scoped one's {box, fn, cb} */

static void luacb_call(void *arg) {
  luacb *cb = arg;
  lua_State *L = cb->rt->L;
  luaL_checkstack(L, 4, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cb->ref);
  lua_rawgeti(L, -1, 2);
  lua_rawgeti(L, -2, 1);
  lua_remove(L, -3);
  luaioL_pcallreport(L, 1, "error in done callback");
}

static void luacb_run(luaio_future_t *fut, void *arg) {
  luacb *cb = arg;
  (void)fut;
  /* In the scope it was added in; once that closed, it runs no more. */
  if (cb->scope != 0)
    luaioL_scope_call(cb->rt, cb->scope, luacb_call, cb, 1);
  else
    luacb_call(cb);
}

/* Its scope may still hold the registration's table: cb must not be
** found there once freed. */
__attribute__((noinline)) static void luacb_forget(luacb *cb) {
  lua_State *L = cb->rt->L;
  if (lua_checkstack(L, 2)) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, cb->ref);
    lua_pushnil(L);
    lua_rawseti(L, -2, 3);
    lua_pop(L, 1);
  }
}

static void luacb_free(void *arg) {
  luacb *cb = arg;
  if (cb->scope != 0)
    luacb_forget(cb);
  luaL_unref(cb->rt->L, LUA_REGISTRYINDEX, cb->ref);
  free(cb);
}

/* __scope({box, fn, cb}, what): the scope it was added in closes. */
static int luacb__scope(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (strcmp(luaL_checkstring(L, 2), "cancel") != 0 ||
      !lua_getmetatable(L, 1) ||
      luaL_getmetatable(L, DONECB_MT) != LUA_TTABLE ||
      !lua_rawequal(L, -1, -2) || lua_rawgeti(L, 1, 3) != LUA_TLIGHTUSERDATA)
    return 0;
  void *cb = lua_touserdata(L, -1);
  lua_rawgeti(L, 1, 1);
  lfuture *box = luaioL_tofuture(L, -1);
  if (box != NULL && box->fut != NULL) {
    luaio_future_remove_done_cb(box->fut, luacb_run, cb); /* frees cb */
    if (luaioL_getextra(L, -1, "callbacks") == LUA_TTABLE) {
      lua_pushlightuserdata(L, cb);
      lua_pushnil(L);
      lua_rawset(L, -3);
    }
  }
  return 0;
}

static int lfuture_add_done_callback(lua_State *L) {
  lfuture *box = luaioL_checkfuture(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  luaioL_checkalive(L, box, "add_done_callback");
  uint32_t scope = luaioL_curscope(box->rt);
  if (scope != 0)
    luaioL_scope_check(L, scope, "add_done_callback");
  /* The Lua parts first: they may raise, and then nothing is lost. */
  lua_createtable(L, 2, 0);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, 2);
  if (scope != 0) {
    luaL_setmetatable(L, DONECB_MT);
    luaioL_scope_adopt(L, scope, -1, 0); /* the registry holds it */
    lua_pushvalue(L, -1); /* stays below the ref's */
  }
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  luacb *cb = malloc(sizeof *cb);
  if (cb == NULL) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return luaL_error(L, "not enough memory");
  }
  cb->rt = box->rt;
  cb->ref = ref;
  cb->scope = scope;
  if (scope != 0) {
    lua_pushlightuserdata(L, cb); /* before it can be freed */
    lua_rawseti(L, -2, 3);
  }
  /* A finished task has let go of its core future: a done one stands in
  ** for it, and the callback is scheduled at once, as on any done one. */
  luaio_future_t *fut = luaioL_corefuture(box);
  int rc = fut != NULL ? luaio_future_add_done_cb(fut, luacb_run, cb,
                                                  luacb_free)
                       : LUAIO_ENOMEM;
  if (fut != NULL)
    luaio_future_unref(fut);
  if (rc != 0) {
    luacb_free(cb);
    return luaioL_check(L, rc, "add_done_callback");
  }
  if (!luaioL_isdone(box)) {
    /* Remember it so that remove_done_callback can find it. */
    if (luaioL_getextra(L, 1, "callbacks") != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      luaioL_setextra(L, 1, "callbacks");
    }
    lua_pushlightuserdata(L, cb);
    lua_pushvalue(L, 2);
    lua_rawset(L, -3);
  }
  return 0;
}

static int lfuture_remove_done_callback(lua_State *L) {
  lfuture *box = luaioL_checkfuture(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  size_t removed = 0;
  if (box->fut != NULL && luaioL_getextra(L, 1, "callbacks") == LUA_TTABLE) {
    int t = lua_gettop(L);
    lua_newtable(L); /* the keys to drop */
    int drop = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
      if (lua_rawequal(L, -1, 2)) {
        lua_pushvalue(L, -2);
        lua_rawseti(L, drop, (lua_Integer)lua_rawlen(L, drop) + 1);
      }
      lua_pop(L, 1);
    }
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, drop); i++) {
      lua_rawgeti(L, drop, i);
      void *cb = lua_touserdata(L, -1);
      removed += luaio_future_remove_done_cb(box->fut, luacb_run, cb);
      lua_pushnil(L);
      lua_rawset(L, t);
    }
  }
  lua_pushinteger(L, (lua_Integer)removed);
  return 1;
}

/* }====================================================================== */

static lfuture *checkplain(lua_State *L, const char *fname) {
  lfuture *box = luaioL_checkfuture(L, 1);
  if (box->is_task)
    luaL_error(L, "%s: a task's result comes from its function; "
                  "it cannot be set", fname);
  return box;
}

static int lfuture_new(lua_State *L) { /* asyncio.Future() */
  luaio_loop_t *loop = luaioL_checkloop(L, "Future");
  luaio_future_t *fut = luaio_future_new(loop);
  if (fut == NULL)
    return luaL_error(L, "not enough memory");
  luaioL_pushfuture(L, fut);
  return 1;
}

static int lfuture_set_result(lua_State *L) {
  lfuture *box = checkplain(L, "set_result");
  int n = lua_gettop(L) - 1;
  luaioL_checkalive(L, box, "set_result");
  if (luaio_future_done(box->fut))
    return luaioL_raise(L, LUAIO_EINVALSTATE,
                        "set_result: the future is already done");
  luaioL_resolve(L, 1, n);
  luaio_future_set_result(box->fut);
  return 0;
}

static int lfuture_set_exception(lua_State *L) {
  lfuture *box = checkplain(L, "set_exception");
  luaL_checkany(L, 2);
  luaioL_checkalive(L, box, "set_exception");
  if (luaio_future_done(box->fut))
    return luaioL_raise(L, LUAIO_EINVALSTATE,
                        "set_exception: the future is already done");
  lua_settop(L, 2);
  luaL_traceback(L, L, NULL, 1);
  const char *tb = lua_tostring(L, -1);
  lua_pushvalue(L, 2);
  luaioL_carryerror(L, tb);
  luaioL_fail(L, 1);
  luaio_future_set_error(box->fut, LUAIO_EFAILED);
  return 0;
}

static int lfuture_result(lua_State *L) {
  lfuture *box = luaioL_checkfuture(L, 1);
  if (!luaioL_isdone(box))
    return luaioL_raise(L, LUAIO_EINVALSTATE,
                        box->is_task ? "result: the task is not done yet"
                                     : "result: the future is not done yet");
  lua_settop(L, 1);
  return luaioL_pushresult(L, 1);
}

static int lfuture_exception(lua_State *L) {
  lfuture *box = luaioL_checkfuture(L, 1);
  luaio_state state = luaioL_state(box);
  if (state == LUAIO_PENDING)
    return luaioL_raise(L, LUAIO_EINVALSTATE,
                        box->is_task ? "exception: the task is not done yet"
                                     : "exception: the future is not done yet");
  luaioL_pusherror(L, 1);
  if (state == LUAIO_CANCELLED)
    return lua_error(L);
  return 1;
}

static int lfuture_done(lua_State *L) {
  lua_pushboolean(L, luaioL_isdone(luaioL_checkfuture(L, 1)));
  return 1;
}

static int lfuture_cancelled(lua_State *L) {
  lua_pushboolean(L, luaioL_state(luaioL_checkfuture(L, 1)) ==
                         LUAIO_CANCELLED);
  return 1;
}

static int lfuture_cancel(lua_State *L) {
  lfuture *box = luaioL_checkfuture(L, 1);
  const char *msg = luaL_optstring(L, 2, NULL);
  if (luaioL_isdone(box)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  luaioL_checkalive(L, box, "cancel");
  int rc = luaio_future_cancel(box->fut, msg);
  luaioL_check(L, rc, "cancel");
  lua_pushboolean(L, rc == 1);
  return 1;
}

static const char *statename(luaio_state s) {
  switch (s) {
  case LUAIO_PENDING: return "pending";
  case LUAIO_RESOLVED: return "finished";
  case LUAIO_FAILED: return "failed";
  default: return "cancelled";
  }
}

int luaioL_future_tostring(lua_State *L) {
  lfuture *box = luaioL_checkfuture(L, 1);
  if (box->is_task) {
    lua_getfield(L, 1, "get_name");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    lua_pushfstring(L, "asyncio.Task<%s> (%s)", lua_tostring(L, -1),
                    statename(luaioL_state(box)));
  } else {
    lua_pushfstring(L, "asyncio.Future (%s)", statename(luaioL_state(box)));
  }
  return 1;
}

static int lfuture__gc(lua_State *L) {
  lfuture *box = lua_touserdata(L, 1);
  luaio_future_t *fut = box->fut;
  if (fut == NULL)
    return 0;
  int report = box->has_error && !box->retrieved && !box->reported &&
               !luaio_future_cancelled(fut);
  /* The core future goes first, as reporting needs memory: out of it,
  ** a report is lost (and counted), not the future. The box keeps the
  ** outcome for the handler. */
  box->final = (unsigned char)luaio_future_state(fut);
  box->final_err = luaio_future_error(fut);
  if (box->owned != 0)
    untrack_owned(box->rt, box);
  luaio_future_set_data(fut, NULL);
  luaio_future_unref(fut);
  box->fut = NULL;
  box->task = NULL;
  if (report) {
    box->rt->lostreports++; /* until queued: a memory error skips the -- */
    luaioL_queuereport(L, 1); /* keeps the box until it is reported */
    box->rt->lostreports--;
  }
  return 0;
}

/* Shared with Task objects (ltask.c adds its own). */
const luaL_Reg luaioL_future_methods[] = {
    {"set_result", lfuture_set_result},
    {"set_exception", lfuture_set_exception},
    {"result", lfuture_result},
    {"exception", lfuture_exception},
    {"done", lfuture_done},
    {"cancelled", lfuture_cancelled},
    {"cancel", lfuture_cancel},
    {"add_done_callback", lfuture_add_done_callback},
    {"remove_done_callback", lfuture_remove_done_callback},
    {NULL, NULL}};

const luaL_Reg luaioL_future_meta[] = {{"__gc", lfuture__gc},
                                       {"__tostring", luaioL_future_tostring},
                                       {NULL, NULL}};

void luaioL_open_future(lua_State *L) {
  luaioL_newclass(L, FUTURE_MT, luaioL_future_methods, luaioL_future_meta);
  luaL_getmetatable(L, FUTURE_MT);
  luaioL_rt(L)->future_mt = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, lfuture_new, 1);
  lua_setfield(L, -2, "Future");
  luaL_newmetatable(L, DONECB_MT);
  lua_pushcfunction(L, luacb__scope);
  lua_setfield(L, -2, "__scope");
  lua_pop(L, 1);
}
