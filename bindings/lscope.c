/*
** lscope.c - asyncio.Scope: what a script made, directly or through its
** tasks (tasks, call_soon/call_later/call_at handles, done callbacks,
** servers, streams, datagram endpoints, subprocesses, nested scopes),
** cancelled and closed together; and the host's calls for them
** (luaiolib.h). Bindings only: the core has no idea of ownership.
**
** A task's scope is a number in its box, copied into every task it makes
** (as asyncio copies contextvars into new tasks); callbacks carry the
** number of the code that scheduled them and run in that scope. Unused,
** a scope costs a task one word that was padding and one copy.
*/
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"

static_assert(sizeof(void *) != 8 || sizeof(lfuture) == 72,
              "a scope id must not make task boxes bigger");

static const char SCOPES_KEY = 'o'; /* registry: id -> scope (weak values) */
static const char OPEN_KEY = 'p';   /* registry: the open scopes, a set */
static const char WEAKK_KEY = 'k';  /* registry: {__mode = "k"} */

typedef struct {
  uint32_t id;
  int closed; /* cancel() or close() began: nothing more joins */
} lscope;

/* User values: 1 the members, weak keys (object -> the number it joined
** with); 2 the members held strongly (processes), or nil. */

static lscope *checkscope(lua_State *L) {
  return luaioL_checkself(L, SCOPE_MT);
}

/* Pushes the scope of id while it lives, else nil; returns it or NULL.
** [-0, +1, -] */
static lscope *pushscope(lua_State *L, uint32_t id) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &SCOPES_KEY);
  lua_rawgeti(L, -1, (lua_Integer)id);
  lua_remove(L, -2);
  return lua_touserdata(L, -1);
}

int luaioL_scope_open(lua_State *L, uint32_t scope) {
  lscope *s = pushscope(L, scope);
  lua_pop(L, 1);
  return s != NULL && !s->closed;
}

void luaioL_scope_check(lua_State *L, uint32_t scope, const char *fname) {
  if (!luaioL_scope_open(L, scope))
    luaL_error(L, "%s: the scope is closed", fname);
}

void luaioL_scope_adopt(lua_State *L, uint32_t scope, int idx, int strong) {
  idx = lua_absindex(L, idx);
  lscope *s = pushscope(L, scope);
  if (s == NULL || s->closed) {
    lua_pop(L, 1);
    return;
  }
  luaioL_runtime *rt = luaioL_runtime_of(L);
  lua_getiuservalue(L, -1, 1);
  lua_pushvalue(L, idx);
  lua_pushinteger(L, ++rt->scope_seq);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  if (strong) {
    if (lua_getiuservalue(L, -1, 2) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setiuservalue(L, -3, 2);
    }
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

__attribute__((noinline)) void
luaioL_scope_call(luaioL_runtime *rt, uint32_t scope, void (*fn)(void *),
                  void *arg, int skipclosed) {
  if (skipclosed && !luaioL_scope_open(rt->L, scope))
    return;
  uint32_t outer = rt->scope;
  rt->scope = scope;
  fn(arg);
  rt->scope = outer;
}

void *luaioL_scopeself(lua_State *L, const char *tname, const char *pass) {
  void *p = luaL_checkudata(L, 1, tname);
  if (strcmp(luaL_checkstring(L, 2), pass) != 0)
    return NULL;
  if (strcmp(pass, "cancel") == 0) {
    luaL_checktype(L, 4, LUA_TTABLE); /* tasks */
    luaL_checktype(L, 5, LUA_TTABLE); /* io */
  }
  return p;
}

/* Pushes a new open scope, a member of the running code's scope when
** there is one. [-0, +1, e] */
static lscope *newscope(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  uint32_t parent = luaioL_curscope(rt);
  if (parent != 0)
    luaioL_scope_check(L, parent, "Scope");
  if (rt->scope_ids == UINT32_MAX - 1)
    luaL_error(L, "Scope: no scope numbers left");
  lscope *s = lua_newuserdatauv(L, sizeof *s, 2);
  s->id = 0;
  s->closed = 1; /* until it is registered */
  luaL_setmetatable(L, SCOPE_MT);
  lua_newtable(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &WEAKK_KEY);
  lua_setmetatable(L, -2);
  lua_setiuservalue(L, -2, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &OPEN_KEY);
  lua_pushvalue(L, -2);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3); /* open scopes live until closed */
  lua_pop(L, 1);
  s->id = ++rt->scope_ids;
  s->closed = 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &SCOPES_KEY);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, (lua_Integer)s->id);
  lua_pop(L, 1);
  if (parent != 0)
    luaioL_scope_adopt(L, parent, -1, 0);
  return s;
}

/* {======================================================================
** Cancelling and closing
** ======================================================================= */

typedef struct {
  lua_Integer seq;
  int slot;
} member;

static int member_cmp(const void *a, const void *b) {
  const member *x = a, *y = b;
  return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Pushes the members of the scope at idx, a list in the order they
** joined. [-0, +1, m] */
static void pushmembers(lua_State *L, int idx) {
  lua_getiuservalue(L, idx, 1);
  int t = lua_gettop(L);
  lua_newtable(L);
  lua_newtable(L);
  int objs = t + 1, seqs = t + 2, n = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_rawseti(L, seqs, n + 1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, objs, ++n);
  }
  member *v = lua_newuserdatauv(L, (size_t)n * sizeof *v + 1, 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, seqs, i + 1);
    v[i].seq = lua_tointeger(L, -1);
    v[i].slot = i + 1;
    lua_pop(L, 1);
  }
  qsort(v, (size_t)n, sizeof *v, member_cmp);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, objs, v[i].slot);
    lua_rawseti(L, -2, i + 1);
  }
  lua_replace(L, t);
  lua_settop(L, t);
}

/* Closes the scope at idx: nothing joins it from now on; its members,
** in the order they joined, are cancelled (tasks, handles, done
** callbacks, servers, nested scopes, which do the same) and appended to
** io for the close pass; tasks not done go to tasks too. msg is the
** cancellation's message (nil or a string). [-0, +0, e] */
static void scope_cancel(lua_State *L, int idx, int msg, int tasks, int io) {
  lscope *s = lua_touserdata(L, idx);
  if (s->closed)
    return;
  s->closed = 1;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &OPEN_KEY);
  lua_pushvalue(L, idx);
  lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  pushmembers(L, idx);
  int list = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, list);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    lua_pushvalue(L, -1);
    lua_rawseti(L, io, (lua_Integer)lua_rawlen(L, io) + 1);
    if (luaL_getmetafield(L, -1, "__scope") == LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    lua_insert(L, -2);
    lua_pushliteral(L, "cancel");
    lua_pushvalue(L, msg);
    lua_pushvalue(L, tasks);
    lua_pushvalue(L, io);
    lua_call(L, 5, 0);
  }
  lua_pop(L, 1);
}

/* The close pass: streams, endpoints and processes among what the
** cancel pass gathered in io are closed. [-0, +0, e] */
static void scope_closeio(lua_State *L, int io) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, io);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, io, i);
    if (luaL_getmetafield(L, -1, "__scope") == LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    lua_insert(L, -2);
    lua_pushliteral(L, "close");
    lua_call(L, 2, 0);
  }
}

/* Appends the tasks of the scope at idx and of the scopes nested in it
** that are not done to the list at tasks. [-0, +0, m] */
static void scope_tasks(lua_State *L, int idx, int tasks) {
  pushmembers(L, idx);
  int list = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, list);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    lfuture *box = luaioL_tofuture(L, -1);
    if (box != NULL && box->is_task && !luaioL_isdone(box)) {
      lua_rawseti(L, tasks, (lua_Integer)lua_rawlen(L, tasks) + 1);
      continue;
    }
    if (luaL_testudata(L, -1, SCOPE_MT) != NULL)
      scope_tasks(L, lua_gettop(L), tasks);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Awaits, from position i + 1 of the list at tasks, the first task that
** is not done and is not the running one, continuing with k; returns
** -1 when none is left. */
static int await_next(lua_State *L, int tasks, int pos, lua_KFunction k) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, tasks);
  for (lua_Integer i = lua_tointeger(L, pos) + 1; i <= n; i++) {
    lua_rawgeti(L, tasks, i);
    lfuture *box = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (box == rt->current || luaioL_isdone(box))
      continue;
    lua_pushinteger(L, i);
    lua_replace(L, pos);
    /* Shared, as asyncio.wait's waiter is: cancelling the waiting task
    ** does not cancel the one it waits for. */
    luaio_future_ref(box->fut);
    return luaioL_await_shared(L, rt->current, box->fut, 1, k);
  }
  return -1;
}

/* }====================================================================== */

/* {======================================================================
** Lua functions
** ======================================================================= */

static int lscope_new(lua_State *L) {
  luaioL_checkloop(L, "Scope");
  newscope(L);
  return 1;
}

static int lscope_current_scope(lua_State *L) {
  uint32_t id = luaioL_curscope(luaioL_rt(L));
  if (id == 0 || pushscope(L, id) == NULL)
    lua_pushnil(L);
  return 1;
}

/* s:spawn(fn, ...): fn(...) as a task of the scope. */
static int lscope_spawn(lua_State *L) {
  lscope *s = checkscope(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  luaioL_checkloop(L, "spawn");
  if (s->closed)
    return luaL_error(L, "spawn: the scope is closed");
  luaioL_spawnin(L, lua_gettop(L) - 2, 0, s->id);
  return 1;
}

static const char *optmsg(lua_State *L, int idx) {
  return lua_isnoneornil(L, idx) ? NULL : luaL_checkstring(L, idx);
}

/* s:cancel([msg]): everything at once; the tasks clean up afterwards. */
static int lscope_cancel(lua_State *L) {
  checkscope(L);
  optmsg(L, 2);
  lua_settop(L, 2);
  lua_newtable(L); /* 3: tasks */
  lua_newtable(L); /* 4: io */
  scope_cancel(L, 1, 2, 3, 4);
  scope_closeio(L, 4);
  return 0;
}

/* Stack: scope msg tasks io pos. */
static int close_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  if (ctx != 0 && luaioL_resumeerr(L) != 0) {
    /* Cancelled while it waited: what is left is closed all the same. */
    scope_closeio(L, 4);
    lfuture *box = luaioL_runtime_of(L)->current;
    return luaioL_raise(L, LUAIO_ECANCELLED,
                        luaio_task_cancel_message(box->task));
  }
  if (await_next(L, 3, 5, close_k) < 0)
    scope_closeio(L, 4);
  return 0;
}

/* s:close([msg]): cancels, waits for the tasks to finish their cleanup,
** then closes streams, endpoints and processes. */
static int lscope_close(lua_State *L) {
  checkscope(L);
  optmsg(L, 2);
  luaioL_checktask(L, "close");
  lua_settop(L, 2);
  lua_newtable(L); /* 3: tasks */
  lua_newtable(L); /* 4: io */
  scope_cancel(L, 1, 2, 3, 4);
  lua_pushinteger(L, 0); /* 5: the last task awaited */
  return close_k(L, LUA_OK, 0);
}

/* Stack: scope tasks pos. */
static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  if (ctx != 0)
    luaioL_resumed(L);
  /* Tasks spawned meanwhile count too: gathered again each time. */
  lua_settop(L, 1);
  lua_newtable(L);
  lua_pushinteger(L, 0);
  scope_tasks(L, 1, 2);
  await_next(L, 2, 3, wait_k); /* returns only when none is left */
  return 0;
}

/* s:wait(): until every task of the scope is done, cancelling none. */
static int lscope_wait(lua_State *L) {
  checkscope(L);
  luaioL_checktask(L, "wait");
  return wait_k(L, LUA_OK, 0);
}

static int lscope_tasks(lua_State *L) {
  checkscope(L);
  lua_settop(L, 1);
  lua_newtable(L);
  scope_tasks(L, 1, 2);
  return 1;
}

static int lscope_closed(lua_State *L) {
  lua_pushboolean(L, checkscope(L)->closed);
  return 1;
}

/* A member scope: closing the outer one closes it. */
static int lscope__scope(lua_State *L) {
  lscope *s = luaioL_scopeself(L, SCOPE_MT, "cancel");
  if (s != NULL && !s->closed)
    scope_cancel(L, 1, 3, 4, 5);
  return 0;
}

static int lscope__tostring(lua_State *L) {
  lscope *s = luaioL_checkobject(L, SCOPE_MT);
  lua_pushfstring(L, "%s %I (%s)", SCOPE_MT, (lua_Integer)s->id,
                  s->closed ? "closed" : "open");
  return 1;
}

/* }====================================================================== */

/* {======================================================================
** The host's calls (luaiolib.h)
** ======================================================================= */

static int scope_new_p(lua_State *L) {
  newscope(L);
  return 1;
}

LUAIO_EXTERN int luaio_host_scope_new(lua_State *L) {
  return luaioL_hostref(L, scope_new_p);
}

/* The scope of ref, or NULL. [-0, +0, -] */
static lscope *refscope(lua_State *L, int ref) {
  if (ref <= 0)
    return NULL;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lscope *s = luaL_testudata(L, -1, SCOPE_MT);
  lua_pop(L, 1);
  return s;
}

/* Stack: the scope (light userdata), fn, args... */
static int scope_run_p(lua_State *L) {
  lscope *s = lua_touserdata(L, 1);
  luaioL_spawnin(L, lua_gettop(L) - 2, 0, s->id);
  return 1;
}

LUAIO_EXTERN int luaio_host_scope_run(lua_State *L, int ref, int nargs) {
  if (nargs < 0 || lua_gettop(L) < nargs + 1)
    return LUAIO_EINVAL; /* nothing of ours to pop */
  lscope *s = refscope(L, ref);
  int rc = 0;
  if (luaioL_runtime_of(L)->loop == NULL || (s != NULL && s->closed))
    rc = LUAIO_EINVALSTATE;
  else if (s == NULL || !lua_isfunction(L, -(nargs + 1)))
    rc = LUAIO_EINVAL;
  else if (!lua_checkstack(L, 3))
    rc = LUAIO_ENOMEM;
  if (rc != 0) {
    lua_pop(L, nargs + 1);
    return rc;
  }
  lua_pushcfunction(L, scope_run_p);
  lua_insert(L, -(nargs + 2));
  lua_pushlightuserdata(L, s);
  lua_insert(L, -(nargs + 2));
  int status = lua_pcall(L, nargs + 2, 1, 0);
  if (status == LUA_OK)
    return 0;
  lua_pop(L, 1);
  /* Checked above, the scope can only have closed meanwhile if what
  ** the error ran closed it; else a Lua or C allocation failed. */
  return status != LUA_ERRMEM && s->closed ? LUAIO_EINVALSTATE
                                           : LUAIO_ENOMEM;
}

/* Stack: the scope. */
static int scope_close_p(lua_State *L) {
  lua_settop(L, 1);
  lua_pushnil(L);
  lua_newtable(L);
  lua_newtable(L);
  scope_cancel(L, 1, 2, 3, 4);
  scope_closeio(L, 4);
  return 0;
}

LUAIO_EXTERN int luaio_host_scope_close(lua_State *L, int ref) {
  if (refscope(L, ref) == NULL)
    return LUAIO_EINVAL;
  if (!lua_checkstack(L, 8))
    return LUAIO_ENOMEM;
  lua_pushcfunction(L, scope_close_p);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  int rc = 0;
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    lua_pop(L, 1);
    rc = LUAIO_ENOMEM;
  }
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  return rc;
}

/* }====================================================================== */

int luaioL_close_scopes(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &OPEN_KEY);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    ((lscope *)lua_touserdata(L, -1))->closed = 1;
  }
  lua_pop(L, 1);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &OPEN_KEY);
  return 0;
}

static const luaL_Reg lscope_funcs[] = {
    {"Scope", lscope_new}, {"current_scope", lscope_current_scope},
    {NULL, NULL}};

static const luaL_Reg lscope_methods[] = {{"spawn", lscope_spawn},
                                          {"cancel", lscope_cancel},
                                          {"close", lscope_close},
                                          {"wait", lscope_wait},
                                          {"tasks", lscope_tasks},
                                          {"closed", lscope_closed},
                                          {NULL, NULL}};

static const luaL_Reg lscope_meta[] = {{"__scope", lscope__scope},
                                       {"__tostring", lscope__tostring},
                                       {NULL, NULL}};

void luaioL_open_scope(lua_State *L) {
  luaioL_setfuncs(L, lscope_funcs);
  luaioL_newclass(L, SCOPE_MT, lscope_methods, lscope_meta);
  /* Opened again in the same state: the scopes stay as they are. */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &SCOPES_KEY) == LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &WEAKK_KEY);
  lua_newtable(L); /* id -> scope, weak values */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &SCOPES_KEY);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &OPEN_KEY);
}
