/*
** ltaskgroup.c - asyncio.TaskGroup(function(tg) ... end): the Lua face
** of core/taskgroup.c.
*/
#include "lbind.h"

#define TASKGROUP_MT "asyncio.TaskGroup"

typedef struct {
  luaio_taskgroup_t *tg; /* owns one reference */
  lfuture *parent;
  luaio_future_t *exitfut; /* borrowed from tg: what the exit awaits */
} ltaskgroup;

/* User value 1 of a TaskGroup object: core task (light) -> Task box, so
** the errors of children can be found again. */

static int ltaskgroup__gc(lua_State *L) {
  ltaskgroup *g = lua_touserdata(L, 1);
  if (g->tg != NULL) {
    luaio_taskgroup_unref(g->tg);
    g->tg = NULL;
  }
  return 0;
}

static int ltaskgroup_create_task(lua_State *L) {
  ltaskgroup *g = luaioL_checkobject(L, TASKGROUP_MT);
  if (g->tg == NULL)
    return luaL_error(L, "create_task: this TaskGroup is finished");
  luaL_checkany(L, 2);
  lua_settop(L, 3);
  /* asyncio.create_task(aw, opts) makes the task. */
  lua_getfield(L, lua_upvalueindex(2), "create_task");
  lua_pushvalue(L, 2);
  /* Children start from the loop, never eagerly: the group must adopt a
  ** child before it can end, to see how it ended. */
  if (lua_istable(L, 3)) {
    lua_newtable(L);
    lua_getfield(L, 3, "name");
    lua_setfield(L, -2, "name");
  } else {
    lua_pushnil(L);
  }
  lua_call(L, 2, 1);
  lfuture *child = lua_touserdata(L, -1);
  int rc = luaio_taskgroup_add(g->tg, child->task);
  if (rc != 0) {
    luaio_task_cancel(child->task, NULL);
    if (rc == LUAIO_EINVALSTATE)
      return luaL_error(L, "create_task: this TaskGroup is finished");
    if (rc == LUAIO_ESHUTDOWN)
      return luaL_error(L, "create_task: this TaskGroup is shutting down");
    return luaioL_check(L, rc, "create_task");
  }
  lua_getiuservalue(L, 1, 1);
  lua_pushlightuserdata(L, child->task);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return 1;
}

/* Raises what the finished group stands for, or returns the body's
** values. Stack: fn tgobj bodyerr [values...] from base. */
static int finish(lua_State *L, int base) {
  ltaskgroup *g = lua_touserdata(L, base + 1);
  luaio_taskgroup_t *tg = g->tg;
  int outcome = luaio_taskgroup_outcome(tg);
  if (outcome == 0) {
    int n = lua_gettop(L) - (base + 2);
    luaio_taskgroup_unref(tg);
    g->tg = NULL;
    return n;
  }
  if (outcome == LUAIO_ECANCELLED) {
    luaio_taskgroup_unref(tg);
    g->tg = NULL;
    if (luaioL_iscancelled(L, base + 2)) {
      lua_pushvalue(L, base + 2);
      return lua_error(L);
    }
    return luaioL_raise(L, LUAIO_ECANCELLED, NULL);
  }
  if (outcome != LUAIO_EFAILED) {
    luaio_taskgroup_unref(tg);
    g->tg = NULL;
    return luaioL_check(L, outcome, "TaskGroup");
  }
  size_t n = luaio_taskgroup_nerrors(tg);
  lua_createtable(L, (int)n, 0);
  int errors = lua_gettop(L);
  lua_getiuservalue(L, base + 1, 1);
  int children = errors + 1;
  for (size_t i = 0; i < n; i++) {
    luaio_task_t *t = luaio_taskgroup_error(tg, i);
    if (t == NULL) {
      lua_pushvalue(L, base + 2); /* the body's own error */
    } else {
      lua_pushlightuserdata(L, t);
      lua_rawget(L, children);
      luaioL_pusherror(L, -1);
      lua_remove(L, -2);
    }
    lua_rawseti(L, errors, (lua_Integer)i + 1);
  }
  lua_pop(L, 1);
  luaio_taskgroup_unref(tg);
  g->tg = NULL;
  luaioL_newerror(L, "ExceptionGroup", NULL);
  lua_pushfstring(L, "unhandled errors in a TaskGroup (%d sub-exception%s)",
                  (int)n, n == 1 ? "" : "s");
  lua_setfield(L, -2, "message");
  lua_pushvalue(L, errors);
  lua_setfield(L, -2, "errors");
  return lua_error(L);
}

static int exit_k(lua_State *L, int status, lua_KContext ctx);

/* Awaits fut while the exit needs it, then finishes. */
static int exit_wait(lua_State *L, int base, luaio_future_t *fut) {
  ltaskgroup *g = lua_touserdata(L, base + 1);
  if (fut == NULL)
    return finish(L, base);
  g->exitfut = fut; /* the group keeps it alive until exit_step */
  return luaioL_await(L, g->parent, fut, base, exit_k);
}

static int exit_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  int base = (int)ctx;
  ltaskgroup *g = lua_touserdata(L, base + 1);
  /* A cancellation of the parent is taken by the group, not raised. */
  int cancelled = g->parent->resume_err == LUAIO_ECANCELLED;
  g->parent->resume_err = 0;
  /* Or the cancellation reached the future the exit waited for. */
  if (luaio_future_cancelled(g->exitfut))
    cancelled = 1;
  return exit_wait(L, base, luaio_taskgroup_exit_step(g->tg, cancelled));
}

/* The body ended with status; its values or error sit above base + 2. */
static int body_k(lua_State *L, int status, lua_KContext ctx) {
  int base = (int)ctx;
  ltaskgroup *g = lua_touserdata(L, base + 1);
  int err = 0;
  if (status != LUA_OK && status != LUA_YIELD) {
    err = luaioL_iscancelled(L, -1) ? LUAIO_ECANCELLED : LUAIO_EFAILED;
    if (err == LUAIO_EFAILED) {
      luaL_traceback(L, L, NULL, 1);
      const char *tb = lua_tostring(L, -1);
      lua_insert(L, -2);
      luaioL_carryerror(L, tb);
      lua_remove(L, -2);
    }
    lua_replace(L, base + 2);
    lua_settop(L, base + 2);
  }
  return exit_wait(L, base, luaio_taskgroup_exit(g->tg, err));
}

static int ltaskgroup_run(lua_State *L) { /* asyncio.TaskGroup(fn) */
  lfuture *parent = luaioL_checktask(L, "TaskGroup");
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  int base = 1;
  ltaskgroup *g = lua_newuserdatauv(L, sizeof *g, 1); /* base + 1 */
  g->tg = NULL;
  g->parent = parent;
  g->exitfut = NULL;
  luaL_setmetatable(L, TASKGROUP_MT);
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  g->tg = luaio_taskgroup_new(luaio_future_loop(luaio_task_future(
                                  parent->task)),
                              parent->task);
  if (g->tg == NULL)
    return luaL_error(L, "not enough memory");
  lua_pushnil(L); /* base + 2: the body's error */
  lua_pushvalue(L, base);
  lua_pushvalue(L, base + 1);
  int status = lua_pcallk(L, 1, LUA_MULTRET, 0, base, body_k);
  return body_k(L, status, base);
}

static int ltaskgroup__tostring(lua_State *L) {
  lua_pushliteral(L, "asyncio.TaskGroup");
  return 1;
}

static const luaL_Reg ltaskgroup_methods[] = {
    {"create_task", ltaskgroup_create_task}, {NULL, NULL}};

static const luaL_Reg ltaskgroup_meta[] = {{"__gc", ltaskgroup__gc},
                                           {"__tostring", ltaskgroup__tostring},
                                           {NULL, NULL}};

void luaioL_open_taskgroup(lua_State *L) {
  int module = lua_gettop(L);
  luaL_newmetatable(L, TASKGROUP_MT);
  lua_pushvalue(L, lua_upvalueindex(1));
  luaL_setfuncs(L, ltaskgroup_meta, 1);
  lua_newtable(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, module); /* create_task finds asyncio.create_task */
  luaL_setfuncs(L, ltaskgroup_methods, 2);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, ltaskgroup_run, 1);
  lua_setfield(L, module, "TaskGroup");
}
