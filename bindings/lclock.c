/*
** lclock.c - asyncio.Clock, the Lua face of core/clock.c: a manual or
** virtual clock that asyncio.run can run its loop on, and the clock of a
** host's loop (luaio_host_advance and the rest of luaiolib.h).
*/
#include <math.h>
#include <string.h>

#include "lbind.h"

#define CLOCK_MT "asyncio.Clock"

static const char *const kind_names[] = {"real", "manual", "virtual", NULL};

/* While no loop runs on it, the clock keeps its settings and its time
** here; while one does, the loop's clock is the truth. */
typedef struct {
  luaio_clock_kind kind;
  double now;
  double rate;
  double threshold;
  unsigned gen; /* the runtime's gen of the loop it drives, when bound */
  int bound;
} lclock;

static void pushclockmeta(lua_State *L);

static const char CLOCK_KEY = 'c'; /* registry: the clock a loop runs on */

static lclock *checkclock(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, CLOCK_MT);
}

/* The loop the clock drives, or NULL. */
static luaio_loop_t *clock_loop(lua_State *L, const lclock *c) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (c->bound && rt->loop != NULL && rt->gen == c->gen)
    return rt->loop;
  return NULL;
}

static double checknonneg(lua_State *L, int idx, int finite) {
  double d = luaL_checknumber(L, idx);
  if (isnan(d) || d < 0 || (finite && isinf(d)))
    luaL_argerror(L, idx, lua_pushfstring(L, "non-negative %snumber "
                                          "expected, got %s",
                                          finite ? "finite " : "",
                                          luaL_tolstring(L, idx, NULL)));
  return d;
}

/* {======================================================================
** Binding a clock to the loop asyncio.run opens
** ======================================================================= */

luaio_clock_kind luaioL_clockkind(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx))
    return (luaio_clock_kind)luaioL_runtime_of(L)->default_clock;
  if (lua_type(L, idx) == LUA_TSTRING) {
    for (int k = 0; kind_names[k] != NULL; k++)
      if (strcmp(lua_tostring(L, idx), kind_names[k]) == 0)
        return (luaio_clock_kind)k;
  } else if (luaL_testudata(L, idx, CLOCK_MT) != NULL) {
    return checkclock(L, idx)->kind;
  }
  luaL_error(L, "asyncio.run: the clock option must be \"real\", "
                "\"manual\", \"virtual\" or an asyncio.Clock, got %s",
             luaL_tolstring(L, idx, NULL));
  return LUAIO_CLOCK_REAL;
}

/* idx 0: no clock object, a new one of the loop's kind. */
void luaioL_bindclock(lua_State *L, int idx) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  luaio_loop_t *loop = rt->loop;
  rt->host_scale = 1;
  rt->host_paused = 0;
  if (luaio_clock_kind_of(loop) == LUAIO_CLOCK_REAL)
    return;
  if (idx != 0 && lua_isuserdata(L, idx)) {
    lua_pushvalue(L, idx);
  } else { /* a kind by name: a clock of its own, with default settings */
    lclock *c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    c->kind = luaio_clock_kind_of(loop);
    c->threshold = INFINITY;
    pushclockmeta(L);
    lua_setmetatable(L, -2);
  }
  lclock *c = lua_touserdata(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &CLOCK_KEY);
  /* The settings were checked when made; the loop's clock is at 0. */
  luaio_clock_jump(loop, c->now);
  luaio_clock_set_rate(loop, c->rate);
  if (c->kind == LUAIO_CLOCK_VIRTUAL)
    luaio_clock_set_autojump_threshold(loop, c->threshold);
  c->gen = rt->gen;
  c->bound = 1;
}

void luaioL_unbindclock(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &CLOCK_KEY) == LUA_TUSERDATA) {
    lclock *c = lua_touserdata(L, -1);
    if (c->bound && c->gen == rt->gen && rt->loop != NULL) {
      c->now = luaio_loop_time(rt->loop); /* it keeps its time */
      c->bound = 0;
    }
    lua_pushnil(L); /* an existing key: clearing it allocates nothing */
    lua_rawsetp(L, LUA_REGISTRYINDEX, &CLOCK_KEY);
  }
  lua_pop(L, 1);
}

/* }====================================================================== */

/* asyncio.Clock([kind [, opts]]) */
static int lclock_new(lua_State *L) {
  static const char *const kinds[] = {"manual", "virtual", NULL};
  int k = luaL_checkoption(L, 1, "virtual", kinds);
  lua_settop(L, 2);
  lclock *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  c->kind = k == 0 ? LUAIO_CLOCK_MANUAL : LUAIO_CLOCK_VIRTUAL;
  c->threshold = INFINITY;
  pushclockmeta(L);
  lua_setmetatable(L, -2);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    if (lua_getfield(L, 2, "rate") != LUA_TNIL)
      c->rate = checknonneg(L, -1, 1);
    if (lua_getfield(L, 2, "autojump_threshold") != LUA_TNIL) {
      if (c->kind != LUAIO_CLOCK_VIRTUAL)
        return luaL_error(L, "Clock: only a virtual clock has an "
                             "autojump_threshold");
      c->threshold = checknonneg(L, -1, 0);
    }
    lua_pop(L, 2);
  }
  return 1;
}

static int lclock_time(lua_State *L) {
  lclock *c = checkclock(L, 1);
  luaio_loop_t *loop = clock_loop(L, c);
  lua_pushnumber(L, loop != NULL ? luaio_loop_time(loop) : c->now);
  return 1;
}

static int lclock_jump(lua_State *L) {
  lclock *c = checkclock(L, 1);
  double s = luaL_checknumber(L, 2);
  if (s < 0)
    return luaL_error(L, "jump: a clock never goes back (got %s)",
                      luaL_tolstring(L, 2, NULL));
  s = checknonneg(L, 2, 1);
  luaio_loop_t *loop = clock_loop(L, c);
  if (loop != NULL)
    luaioL_check(L, luaio_clock_jump(loop, s), "jump");
  else
    c->now += s;
  return 0;
}

static void setrate(lua_State *L, lclock *c, int idx) {
  double rate = checknonneg(L, idx, 1);
  luaio_loop_t *loop = clock_loop(L, c);
  if (loop != NULL)
    luaioL_check(L, luaio_clock_set_rate(loop, rate), "rate");
  c->rate = rate;
}

static void setthreshold(lua_State *L, lclock *c, int idx) {
  if (c->kind != LUAIO_CLOCK_VIRTUAL)
    luaL_error(L, "only a virtual clock has an autojump_threshold");
  double t = checknonneg(L, idx, 0);
  luaio_loop_t *loop = clock_loop(L, c);
  if (loop != NULL)
    luaioL_check(L, luaio_clock_set_autojump_threshold(loop, t),
                 "autojump_threshold");
  c->threshold = t;
}

/* clock.rate, clock.autojump_threshold, clock.kind, then the methods */
static int lclock__index(lua_State *L) {
  lclock *c = checkclock(L, 1);
  const char *k = lua_tostring(L, 2);
  if (k != NULL && strcmp(k, "rate") == 0) {
    lua_pushnumber(L, c->rate);
  } else if (k != NULL && strcmp(k, "autojump_threshold") == 0) {
    lua_pushnumber(L, c->threshold);
  } else if (k != NULL && strcmp(k, "kind") == 0) {
    lua_pushstring(L, kind_names[c->kind]);
  } else {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1)); /* the methods */
  }
  return 1;
}

static int lclock__newindex(lua_State *L) {
  lclock *c = checkclock(L, 1);
  const char *k = lua_tostring(L, 2);
  if (k != NULL && strcmp(k, "rate") == 0)
    setrate(L, c, 3);
  else if (k != NULL && strcmp(k, "autojump_threshold") == 0)
    setthreshold(L, c, 3);
  else
    return luaL_error(L, "asyncio.Clock has no settable field '%s' "
                         "(rate, autojump_threshold)",
                      luaL_tolstring(L, 2, NULL));
  return 0;
}

static int lclock__tostring(lua_State *L) {
  lclock *c = checkclock(L, 1);
  luaio_loop_t *loop = clock_loop(L, c);
  lua_pushfstring(L, "asyncio.Clock (%s, at %f)", kind_names[c->kind],
                  loop != NULL ? luaio_loop_time(loop) : c->now);
  return 1;
}

/* {======================================================================
** The host's clock (luaiolib.h)
** ======================================================================= */

int luaio_host_open_clock(lua_State *L, uv_loop_t *uv, luaio_clock_kind kind) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  int saved = rt->default_clock;
  rt->default_clock = (int)kind;
  int rc = luaio_host_open(L, uv);
  rt->default_clock = saved;
  return rc;
}

int luaio_host_advance(lua_State *L, double dt) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->loop == NULL)
    return LUAIO_EINVALSTATE;
  if (!isfinite(dt) || dt < 0)
    return LUAIO_EINVAL;
  if (rt->host_paused)
    return 0;
  return luaio_clock_jump(rt->loop, dt * rt->host_scale);
}

int luaio_host_pause(lua_State *L, int paused) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->loop == NULL)
    return LUAIO_EINVALSTATE;
  rt->host_paused = paused != 0;
  return 0;
}

int luaio_host_set_scale(lua_State *L, double scale) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->loop == NULL)
    return LUAIO_EINVALSTATE;
  if (!isfinite(scale) || scale < 0)
    return LUAIO_EINVAL;
  rt->host_scale = scale;
  return 0;
}

void luaio_set_default_clock(lua_State *L, luaio_clock_kind kind) {
  luaioL_runtime_of(L)->default_clock = (int)kind;
}

/* }====================================================================== */

static const luaL_Reg lclock_funcs[] = {{"Clock", lclock_new}, {NULL, NULL}};

static const luaL_Reg lclock_methods[] = {
    {"time", lclock_time}, {"jump", lclock_jump}, {NULL, NULL}};

static const luaL_Reg lclock_meta[] = {{"__newindex", lclock__newindex},
                                       {"__tostring", lclock__tostring},
                                       {NULL, NULL}};

/* Pushes the metatable of clocks, made on first use: scripts that use
** none pay nothing for it. [-0, +1, m] */
static void pushclockmeta(lua_State *L) {
  if (luaL_newmetatable(L, CLOCK_MT)) { /* also sets __name */
    luaL_setfuncs(L, lclock_meta, 0);
    luaL_newlib(L, lclock_methods);
    lua_pushcclosure(L, lclock__index, 1);
    lua_setfield(L, -2, "__index");
  }
}

void luaioL_open_clock(lua_State *L) { luaioL_setfuncs(L, lclock_funcs); }
