/*
** lloop.c - asyncio.run, the running loop object and its handles, and
** the host-driven loop of luaiolib.h: the Lua face of core/loop.c and
** core/handle.c.
*/
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"

typedef struct {
  unsigned gen; /* the loop this object was made for */
} lloop;

typedef struct {
  luaio_handle_t *h; /* owns one reference */
} lhandle;

/* {======================================================================
** Opening and closing loops
** ======================================================================= */

static int loop_open(luaioL_runtime *rt, lua_State *L, uv_loop_t *uv,
                     luaio_clock_kind clock) {
  rt->loop = luaio_loop_new_clock(uv, clock);
  if (rt->loop == NULL)
    return LUAIO_ENOMEM;
  rt->L = L;
  rt->current = NULL;
  rt->interrupted = 0;
  rt->drain_scheduled = 0;
  rt->gen++; /* boxes and loop objects of older loops tell by it */
  return 0;
}

static void cancel_one(luaio_task_t *t, void *arg) {
  (void)arg;
  luaio_task_cancel(t, NULL);
}

/* Runs a part of closing that uses Lua, protected: even out of memory,
** the loop must close. */
static void close_part(lua_State *L, lua_CFunction part) {
  lua_pushcfunction(L, part);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "luaio: while closing the loop: %s\n",
            msg != NULL ? msg : "(error object is not a string)");
    lua_pop(L, 1);
  }
}

/* Cancels what is left, lets it finish, reports lost errors and deletes
** the loop. Never raises. */
/* Names a handle left open on a loop that could not be closed (the
** loop's own wake-up timer and posting handle aside). */
static void print_open_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  uv_handle_type t = uv_handle_get_type(h);
  if (!uv_is_closing(h) && t != UV_TIMER && t != UV_ASYNC && t != UV_IDLE &&
      t != UV_CHECK)
    fprintf(stderr, " %s%s", uv_handle_type_name(t),
            uv_is_active(h) ? " (active)" : "");
}

static void loop_close(luaioL_runtime *rt, lua_State *L) {
  luaio_loop_t *loop = rt->loop;
  rt->closing = 1; /* reports wait for luaioL_report_unretrieved */
  /* As asyncio.run: cancel the remaining tasks and wait for them. */
  for (int round = 0; round < 8 && luaio_loop_ntasks(loop) > 0; round++) {
    luaio_loop_foreach_task(loop, cancel_one, NULL);
    while (luaio_loop_ntasks(loop) > 0 && luaio_loop_can_progress(loop))
      luaio_loop_run(loop, LUAIO_RUN_ONCE);
  }
  close_part(L, luaioL_close_processes);
  while (luaio_loop_nready(loop) > 0)
    luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  /* What tasks left open; peers see a reset. */
  close_part(L, luaioL_close_streams);
  close_part(L, luaioL_close_udp);
  close_part(L, luaioL_report_unretrieved);
  close_part(L, luaioL_close_scopes);
  luaioL_interrupt_close(rt);
  luaioL_unbindclock(L); /* the clock keeps the loop's last time */
  if (luaio_loop_ntasks(loop) > 0) {
    fprintf(stderr, "luaio: %zu task(s) ignored cancellation and wait for "
                    "something that never comes; they are abandoned\n",
            luaio_loop_ntasks(loop));
    luaio_print_tasks(loop, stderr);
  } else if (rt->interrupted && luaio_loop_uv(loop)->active_reqs.count > 0) {
    /* After Ctrl-C or SIGTERM the program is to end now, but work still
    ** runs on the thread pool (to_thread, a file or name request): it
    ** cannot be stopped, and waiting for it would take a second signal.
    ** Its result is dropped and the loop left to the process's exit. */
  } else if (luaio_loop_delete(loop) != 0) {
    fprintf(stderr, "luaio: the loop could not be closed cleanly; still "
                    "open:");
    uv_walk(luaio_loop_uv(loop), print_open_handle, NULL);
    fputc('\n', stderr);
  }
  rt->loop = NULL;
  rt->main = NULL;
  rt->current = NULL;
  rt->closing = 0;
  luaioL_drainreports(L); /* any queued while the loop closed */
}

static void print_deadlock(luaio_task_t *t, void *arg) {
  lua_State *L = arg;
  lfuture *box = luaio_future_data(luaio_task_future(t));
  if (box == NULL || box->pin == LUA_NOREF)
    return;
  luaioL_pushbox(L, box);
  lua_getfield(L, -1, "traceback");
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_isstring(L, -1))
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
  lua_pop(L, 1);
}

void luaioL_print_tasks(lua_State *L, luaio_loop_t *loop) {
  luaio_loop_foreach_task(loop, print_deadlock, L);
}

/* Makes the main task of the function or coroutine object at 2 (with
** its arguments above) and runs it until done; returns its box. It runs
** protected, so that asyncio.run closes the loop whatever fails, even
** making the task. Stack: rt (light userdata), main, args... [-0, +1, e] */
static int run_main(lua_State *L) {
  luaioL_runtime *rt = lua_touserdata(L, 1);
  lua_remove(L, 1);
  int nargs = lua_gettop(L) - 1;
  if (!lua_isfunction(L, 1)) {
    lua_settop(L, 1);
    luaioL_toawaitable(L, 1, "run", 0); /* replaces it by the task */
  } else {
    luaioL_spawn(L, nargs, 0); /* main and its args become the box at 1 */
  }
  lfuture *main = luaioL_tofuture(L, 1);
  luaioL_pin(L, 1, main);
  rt->main = main;
  luaio_loop_t *loop = rt->loop;
  while (!luaioL_isdone(main)) {
    if (!luaio_loop_can_progress(loop)) {
      fprintf(stderr, "luaio: deadlock: every task waits and nothing "
                      "(timer, I/O or ready callback) can wake one:\n");
      luaioL_print_tasks(L, loop);
      return luaL_error(L, "asyncio.run: deadlock: the main task waits for "
                           "something that nothing can finish");
    }
    luaio_loop_run(loop, LUAIO_RUN_ONCE);
  }
  lua_settop(L, 1);
  return 1;
}

/* Whether the value at idx is run's options table: a plain table whose
** keys are all option names, and not an argument for main. */
static int isoptions(lua_State *L, int idx) {
  if (!lua_istable(L, idx) || lua_getmetatable(L, idx))
    return 0;
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING ||
        (strcmp(lua_tostring(L, -1), "clock") != 0 &&
         strcmp(lua_tostring(L, -1), "debug") != 0 &&
         strcmp(lua_tostring(L, -1), "slice") != 0 &&
         strcmp(lua_tostring(L, -1), "slice_warning") != 0)) {
      lua_pop(L, 1);
      return 0;
    }
    n++;
  }
  return n > 0;
}

/* Works out when a step is reported: at the slice's warning, else, in
** debug mode, past LUAIO_SLOW_STEP. */
static void setwarning(luaioL_runtime *rt) {
  rt->warn_at = rt->slice_warn > 0 ? rt->slice_warn
                : rt->debug        ? LUAIO_SLOW_STEP
                                   : 0;
  rt->slice_on = rt->slice > 0 || rt->warn_at > 0;
}

/* Sets the slice of the runtime's loops. */
static int setslice(luaioL_runtime *rt, double limit, double warn) {
  if (!(limit >= 0) || !(warn >= 0)) /* also NaN */
    return LUAIO_EINVAL;
  rt->slice = isinf(limit) ? 0 : limit;
  rt->slice_warn = isinf(warn) ? 0 : warn;
  setwarning(rt);
  return 0;
}

int luaio_set_slice(lua_State *L, double limit, double warn) {
  return setslice(luaioL_runtime_of(L), limit, warn);
}

static void setdebug(luaioL_runtime *rt, int on) {
  rt->debug = on != 0;
  setwarning(rt);
}

void luaio_set_debug(lua_State *L, int on) {
  setdebug(luaioL_runtime_of(L), on);
}

/* A slice option of asyncio.run's table at idx, or the value so far. */
static double sliceopt(lua_State *L, int idx, const char *name, double dflt) {
  if (lua_getfield(L, idx, name) == LUA_TNIL) {
    lua_pop(L, 1);
    return dflt;
  }
  if (!lua_isnumber(L, -1) || !(lua_tonumber(L, -1) >= 0))
    luaL_error(L, "asyncio.run: option '%s' must be a non-negative number "
                  "of seconds, got %s", name, luaL_tolstring(L, -1, NULL));
  double d = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return d;
}

/* asyncio.run(main, ... [, {clock = ..., debug = ..., slice = ...,
** slice_warning = ...}]) */
static int lloop_run(lua_State *L) {
  luaioL_runtime *rt = luaioL_rt(L);
  if (rt->loop != NULL)
    return luaL_error(L, "asyncio.run cannot be called while a loop is "
                         "running: inside a task, use asyncio.await or "
                         "asyncio.create_task");
  if (luaL_testudata(L, 1, CORO_MT) == NULL && !lua_isfunction(L, 1))
    return luaL_typeerror(L, 1, "function or coroutine object");
  double saved_slice = rt->slice, saved_warn = rt->slice_warn;
  double slice = saved_slice, warn = saved_warn;
  int saved_debug = rt->debug, debug = saved_debug;
  lua_pushnil(L); /* the clock option, kept at 2 while the loop runs */
  if (lua_gettop(L) > 2 && isoptions(L, lua_gettop(L) - 1)) {
    slice = sliceopt(L, lua_gettop(L) - 1, "slice", slice);
    warn = sliceopt(L, lua_gettop(L) - 1, "slice_warning", warn);
    int t = lua_getfield(L, -2, "debug");
    if (t != LUA_TNIL && t != LUA_TBOOLEAN)
      return luaL_error(L, "asyncio.run: option 'debug' must be a boolean, "
                           "got %s", luaL_typename(L, -1));
    if (t == LUA_TBOOLEAN) /* nil: as luaio_set_debug (--debug) says */
      debug = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, -2, "clock");
    lua_replace(L, -3);
    lua_pop(L, 1);
  }
  lua_insert(L, 2);
  int nargs = lua_gettop(L) - 2;
  luaio_clock_kind clock = luaioL_clockkind(L, 2);
  int rc = loop_open(rt, L, NULL, clock);
  if (rc != 0)
    return luaioL_check(L, rc, "run");
  rt->debug = debug;
  setslice(rt, slice, warn); /* checked above */
  luaioL_bindclock(L, 2);
  lua_remove(L, 2);
  luaioL_interrupt_open(rt);
  lua_pushcfunction(L, run_main);
  lua_insert(L, 1);
  lua_pushlightuserdata(L, rt);
  lua_insert(L, 2);
  int status = lua_pcall(L, nargs + 2, 1, 0);
  lfuture *main = rt->main; /* NULL if making it failed */
  int interrupted = rt->interrupted;
  if (main != NULL)
    main->retrieved = 1; /* run passes main's outcome on itself */
  loop_close(rt, L);
  rt->debug = saved_debug; /* the run's own are its own */
  setslice(rt, saved_slice, saved_warn);
  if (main != NULL)
    luaioL_unpin(L, main);
  if (status != LUA_OK)
    return lua_error(L);
  if (interrupted && luaioL_state(main) == LUAIO_CANCELLED) {
    luaioL_newerror(L, "CancelledError", "interrupted");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "interrupted");
    return lua_error(L);
  }
  return luaioL_pushresult(L, lua_gettop(L));
}

int luaio_interrupted(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  return rt != NULL ? rt->interrupted : 0; /* NULL: asyncio never opened */
}

/* {======================================================================
** The collector of a host that steps with a budget. From the first
** budgeted step on (or luaio_host_set_budget) it is stopped outside the
** steps. Inside them it runs during the work, paced by allocation as Lua
** paces it, so that each callback pays for the garbage it makes and the
** budget, checked after each callback, counts that too; then in what the
** work left of the budget, while a cycle is under way. A cycle begins, as
** Lua's pause says, once the heap has grown by the pause since the last
** one ended, so that steps with little to do collect nothing. A
** finalizer of a sentinel object tells when a cycle ends, whoever ran it
** (restarting a stopped collector resets its debt, so Lua's own pause
** does not last from one step to the next). Garbage the host made between
** the steps is paid for as the step begins.
** ======================================================================= */

static const char GC_SENTINEL_KEY = 'g'; /* the sentinel's metatable */

static int gcsentinel__gc(lua_State *L) {
  luaioL_runtime *rt = lua_touserdata(L, lua_upvalueindex(1));
  rt->gc_ended = 1; /* rt outlives every finalizer, also at lua_close */
  return 0;
}

static int gc_arm_protected(lua_State *L) {
  luaioL_runtime *rt = lua_touserdata(L, 1);
  lua_newuserdatauv(L, 0, 0);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &GC_SENTINEL_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushlightuserdata(L, rt);
    lua_pushcclosure(L, gcsentinel__gc, 1);
    lua_setfield(L, -2, "__gc");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &GC_SENTINEL_KEY);
  }
  lua_setmetatable(L, -2); /* garbage at once: finalized as a cycle ends */
  return 0;
}

/* Makes a new sentinel. Out of memory, there is none until the next
** cycle a step itself ends. */
static void gc_arm(lua_State *L, luaioL_runtime *rt) {
  lua_pushcfunction(L, gc_arm_protected);
  lua_pushlightuserdata(L, rt);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK)
    lua_pop(L, 1);
}

/* From now on the collector runs in the steps only; luaio_host_close()
** gives it back. */
static void gc_take(lua_State *L, luaioL_runtime *rt) {
  if (rt->gc_owned)
    return;
  rt->gc_owned = 1;
  rt->gc_was_running = lua_gc(L, LUA_GCISRUNNING);
  lua_gc(L, LUA_GCSTOP);
  rt->gc_active = 0;
  rt->gc_ended = 0;
  rt->gc_base = rt->gc_last = lua_gc(L, LUA_GCCOUNT);
  gc_arm(L, rt);
}

static void gc_begin(lua_State *L, luaioL_runtime *rt) {
  int kb = lua_gc(L, LUA_GCCOUNT);
  if (!rt->gc_active) { /* a cycle is due as Lua's pause (now) says */
    int pause = lua_gc(L, LUA_GCSETPAUSE, 0); /* read, then put back */
    lua_gc(L, LUA_GCSETPAUSE, pause);
    rt->gc_active = kb >= (double)rt->gc_base * pause / 100;
  }
  if (!rt->gc_active)
    return;
  lua_gc(L, LUA_GCRESTART);
  if (kb > rt->gc_last) /* what the host made between the steps */
    lua_gc(L, LUA_GCSTEP, kb - rt->gc_last);
}

/* deadline: the uv_hrtime until which the step may collect, or 0. */
static void gc_end(lua_State *L, luaioL_runtime *rt, uint64_t deadline) {
  lua_gc(L, LUA_GCSTOP);
  int ended = rt->gc_ended;
  while (rt->gc_active && !ended && uv_hrtime() < deadline)
    ended = lua_gc(L, LUA_GCSTEP, 0) || rt->gc_ended;
  rt->gc_last = lua_gc(L, LUA_GCCOUNT);
  if (ended) {
    rt->gc_active = rt->gc_ended = 0;
    rt->gc_base = rt->gc_last;
    gc_arm(L, rt);
  }
}

/* The end of each run of a loop on the host's libuv loop, from the
** host's uv_run or a step. Nothing runs before a run from uv_run, so the
** end of one begins the next: while a cycle is under way, the collector
** stays on until the next run ends (a step stops it again). */
static void host_after_run(void *arg, uint64_t deadline) {
  luaioL_runtime *rt = arg;
  if (!rt->gc_owned)
    return;
  gc_end(rt->L, rt, deadline);
  gc_begin(rt->L, rt);
}

/* }====================================================================== */

int luaio_host_open(lua_State *L, uv_loop_t *uv) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->loop != NULL)
    return LUAIO_EBUSY;
  rt->host_uv = uv;
  int rc = loop_open(rt, L, uv, (luaio_clock_kind)rt->default_clock);
  if (rc != 0)
    return rc;
  luaioL_bindclock(L, 0);
  /* On the host's libuv loop, luaio runs inside the host's uv_run. */
  if (uv != NULL)
    luaio_loop_attach(rt->loop, 0, host_after_run, rt);
  return 0;
}

int luaio_host_set_budget(lua_State *L, double seconds) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->loop == NULL || rt->host_uv == NULL)
    return LUAIO_EINVALSTATE;
  int rc = luaio_loop_attach(rt->loop, seconds, host_after_run, rt);
  if (rc == 0 && seconds > 0 && !rt->gc_owned) {
    gc_take(L, rt);
    gc_begin(L, rt); /* for the first run */
  }
  return rc;
}

int luaio_host_step(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->loop == NULL)
    return LUAIO_EINVALSTATE;
  rt->L = L;
  if (rt->gc_owned) /* a host that also steps with a budget */
    gc_begin(L, rt);
  luaio_loop_run(rt->loop, LUAIO_RUN_NOWAIT);
  if (rt->gc_owned)
    gc_end(L, rt, 0);
  return (int)luaio_loop_ntasks(rt->loop);
}

int luaio_host_step_for(lua_State *L, double seconds) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->loop == NULL)
    return LUAIO_EINVALSTATE;
  if (!(seconds >= 0)) /* also NaN */
    return LUAIO_EINVAL;
  if (seconds > 1e6)
    seconds = 1e6;
  uint64_t deadline = uv_hrtime() + (uint64_t)(seconds * 1e9);
  rt->L = L;
  gc_take(L, rt);
  gc_begin(L, rt);
  luaio_loop_run_for(rt->loop, seconds);
  gc_end(L, rt, deadline);
  return (int)luaio_loop_ntasks(rt->loop);
}

int luaio_host_close(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->loop == NULL)
    return LUAIO_EINVALSTATE;
  rt->L = L;
  /* Closing waits for the tasks' cleanup in uv_run: as before the loop
  ** was opened, the host must not be inside its own uv_run here. */
  luaio_loop_detach(rt->loop);
  loop_close(rt, L);
  rt->host_uv = NULL;
  if (rt->gc_owned) { /* on or off, as it was */
    rt->gc_owned = 0;
    lua_gc(L, rt->gc_was_running ? LUA_GCRESTART : LUA_GCSTOP);
  }
  return 0;
}

int luaio_host_backend_fd(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->loop == NULL)
    return LUAIO_EINVALSTATE;
  return luaio_loop_backend_fd(rt->loop);
}

int luaio_host_timeout(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->loop == NULL)
    return LUAIO_EINVALSTATE;
  luaio_loop_t *loop = rt->loop;
  uv_loop_t *uv = luaio_loop_uv(loop);
  int ms = uv_loop_alive(uv) ? uv_backend_timeout(uv) : -1;
  double next = luaio_loop_next_deadline(loop);
  if (next < 0 || ms == 0)
    return ms;
  double wait = next - luaio_loop_time(loop);
  if (wait <= 0)
    return 0;
  /* A manual clock moves by luaio_host_advance() only: no wait ends it.
  ** A virtual one jumps in the next step. */
  luaio_clock_kind kind = luaio_clock_kind_of(loop);
  if (kind == LUAIO_CLOCK_MANUAL)
    return ms;
  if (kind == LUAIO_CLOCK_VIRTUAL)
    return 0;
  double wms = ceil(wait * 1e3);
  if (wms > INT_MAX)
    wms = INT_MAX;
  return ms < 0 || wms < ms ? (int)wms : ms;
}

luaio_loop_t *luaio_host_loop(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  return rt != NULL ? rt->loop : NULL;
}

void luaioL_close_at_exit(lua_State *L, luaioL_runtime *rt) {
  /* A loop on the host's libuv loop too: its handles there would run a
  ** closed state. */
  if (rt->loop != NULL && rt->main == NULL)
    luaio_host_close(L);
}

/* Stack: make. Pushes what make pushes and a reference to it. */
static int hostref_p(lua_State *L) {
  lua_call(L, 0, 1);
  lua_pushvalue(L, -1);
  lua_pushinteger(L, luaL_ref(L, LUA_REGISTRYINDEX));
  return 2;
}

int luaioL_hostref(lua_State *L, lua_CFunction make) {
  if (luaioL_runtime_of(L)->loop == NULL)
    return LUAIO_EINVALSTATE;
  if (!lua_checkstack(L, 4))
    return LUAIO_ENOMEM;
  lua_pushcfunction(L, hostref_p);
  lua_pushcfunction(L, make);
  if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
    lua_pop(L, 1);
    return LUAIO_ENOMEM;
  }
  int ref = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return ref;
}

/* Pushes a new future of the open loop. */
static int future_new_p(lua_State *L) {
  luaio_future_t *fut = luaio_future_new(luaioL_runtime_of(L)->loop);
  if (fut == NULL)
    return luaL_error(L, "not enough memory");
  luaioL_pushfuture(L, fut);
  return 1;
}

int luaio_host_future_new(lua_State *L) {
  return luaioL_hostref(L, future_new_p);
}

/* Calls the method of the future of ref with the n values at the top
** (popped), protected, and drops ref. */
static int future_settle(lua_State *L, int ref, int n, const char *method) {
  if (n < 0 || lua_gettop(L) < n)
    return LUAIO_EINVAL;
  if (ref <= 0 || !lua_checkstack(L, 3)) {
    lua_pop(L, n);
    return ref <= 0 ? LUAIO_EINVAL : LUAIO_ENOMEM;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  if (luaioL_tofuture(L, -1) == NULL) {
    lua_pop(L, n + 1);
    return LUAIO_EINVAL;
  }
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  lua_getfield(L, -1, method);
  lua_insert(L, -n - 2);
  lua_insert(L, -n - 1); /* method, future, values */
  if (lua_pcall(L, n + 1, 0, 0) != LUA_OK) {
    lua_pop(L, 1);
    return LUAIO_EINVALSTATE; /* done already: a script cancelled it */
  }
  return 0;
}

int luaio_host_future_resolve(lua_State *L, int ref, int n) {
  return future_settle(L, ref, n, "set_result");
}

int luaio_host_future_fail(lua_State *L, int ref) {
  return future_settle(L, ref, 1, "set_exception");
}

/* }====================================================================== */

/* {======================================================================
** The loop object and its handles
** ======================================================================= */

static luaio_loop_t *checklloop(lua_State *L) {
  lloop *l = luaioL_checkobject(L, LOOP_MT);
  luaioL_runtime *rt = luaioL_rt(L);
  if (rt->loop == NULL || l->gen != rt->gen)
    luaL_error(L, "this loop is closed");
  return rt->loop;
}

static const char LOOPOBJ_KEY = 'l'; /* registry: the running loop's */

static int lloop_get_running_loop(lua_State *L) {
  luaioL_checkloop(L, "get_running_loop");
  /* One object per loop, so that every task sees the same one. */
  luaioL_runtime *rt = luaioL_rt(L);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &LOOPOBJ_KEY) == LUA_TUSERDATA &&
      ((lloop *)lua_touserdata(L, -1))->gen == rt->gen)
    return 1;
  lua_pop(L, 1);
  lloop *l = lua_newuserdatauv(L, sizeof *l, 1); /* 1: the handler */
  l->gen = rt->gen;
  luaL_setmetatable(L, LOOP_MT);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &LOOPOBJ_KEY);
  return 1;
}

static int lloop_time(lua_State *L) {
  lua_pushnumber(L, luaio_loop_time(checklloop(L)));
  return 1;
}

/* loop:set_slice(limit [, warning]) */
static int lloop_set_slice(lua_State *L) {
  luaioL_runtime *rt = luaioL_rt(L);
  checklloop(L);
  double limit = luaL_checknumber(L, 2);
  double warn = luaL_optnumber(L, 3, 0);
  if (!(limit >= 0))
    return luaL_argerror(L, 2, "non-negative number of seconds expected");
  if (!(warn >= 0))
    return luaL_argerror(L, 3, "non-negative number of seconds expected");
  setslice(rt, limit, warn);
  return 0;
}

static int lloop_get_slice(lua_State *L) {
  luaioL_runtime *rt = luaioL_rt(L);
  checklloop(L);
  lua_pushnumber(L, rt->slice);
  lua_pushnumber(L, rt->slice_warn);
  return 2;
}

/* loop:set_debug(enabled), as asyncio's: for the running loop; the
** next asyncio.run starts as luaio_set_debug (--debug) says. */
static int lloop_set_debug(lua_State *L) {
  luaioL_runtime *rt = luaioL_rt(L);
  checklloop(L);
  luaL_checktype(L, 2, LUA_TBOOLEAN);
  setdebug(rt, lua_toboolean(L, 2));
  return 0;
}

static int lloop_get_debug(lua_State *L) {
  luaioL_runtime *rt = luaioL_rt(L);
  checklloop(L);
  lua_pushboolean(L, rt->debug);
  return 1;
}

static int lloop_create_future(lua_State *L) {
  luaio_future_t *fut = luaio_future_new(checklloop(L));
  if (fut == NULL)
    return luaL_error(L, "not enough memory");
  luaioL_pushfuture(L, fut);
  return 1;
}

/* A Lua callback of call_soon/call_later/call_at: malloc'd by schedule,
** owned by the core handle and freed by lcallback_free, its fin, which
** also drops the registry ref. */
typedef struct {
  luaioL_runtime *rt;
  int ref;        /* registry: {fn, args...} with n (and handle, scoped) */
  uint32_t scope; /* the scope it was scheduled in, where it runs */
} lcallback;

/* Stack: the callback's function, how long it ran, the threshold.
** Reports it as a slow step. */
static int slow_callback_p(lua_State *L) {
  lua_Debug ar;
  double ran = lua_tonumber(L, 2), limit = lua_tonumber(L, 3);
  lua_settop(L, 1);
  lua_getinfo(L, ">S", &ar);
  char secs[128];
  snprintf(secs, sizeof secs, "ran for %.3f s (debug mode reports steps of "
                              "over %g s)", ran, limit);
  lua_createtable(L, 0, 1);
  lua_pushfstring(L, "callback function defined at %s:%d %s", ar.short_src,
                  ar.linedefined, secs);
  lua_setfield(L, -2, "message");
  luaioL_callhandler(L);
  return 0;
}

static void lcallback_call(void *arg) {
  lcallback *cb = arg;
  luaioL_runtime *rt = cb->rt;
  lua_State *L = rt->L;
  luaL_checkstack(L, LUA_MINSTACK, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cb->ref);
  int t = lua_gettop(L);
  lua_getfield(L, t, "n");
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_checkstack(L, n, NULL);
  for (int i = 1; i <= n; i++)
    lua_rawgeti(L, t, i);
  if (!rt->debug) {
    lua_remove(L, t);
    luaioL_pcallreport(L, n - 1, "error in callback");
    return;
  }
  /* Debug mode: a callback that runs long is a slow step too (asyncio's
  ** slow_callback_duration). The table at t keeps the function. */
  uint64_t start = uv_hrtime();
  luaioL_pcallreport(L, n - 1, "error in callback");
  double ran = (double)(uv_hrtime() - start) / 1e9;
  if (ran >= rt->warn_at) {
    lua_pushcfunction(L, slow_callback_p);
    lua_rawgeti(L, t, 1);
    lua_pushnumber(L, ran);
    lua_pushnumber(L, rt->warn_at);
    if (lua_pcall(L, 3, 0, 0) != LUA_OK)
      lua_pop(L, 1); /* out of memory: the report is lost */
  }
  lua_settop(L, t - 1);
}

static void lcallback_run(void *arg) {
  lcallback *cb = arg;
  if (cb->scope != 0) /* it runs in the scope it was scheduled in */
    luaioL_scope_call(cb->rt, cb->scope, lcallback_call, cb, 0);
  else
    lcallback_call(cb);
}

static void lcallback_free(void *arg) {
  lcallback *cb = arg;
  luaL_unref(cb->rt->L, LUA_REGISTRYINDEX, cb->ref);
  free(cb);
}

/* Schedules fn (at fidx) with the arguments after it; pushes a Handle. */
static int schedule(lua_State *L, int fidx, double when, int timed,
                    const char *fname) {
  luaioL_runtime *rt = luaioL_rt(L);
  luaL_checktype(L, fidx, LUA_TFUNCTION);
  int n = lua_gettop(L) - fidx + 1;
  uint32_t scope = luaioL_curscope(rt);
  if (scope != 0)
    luaioL_scope_check(L, scope, fname);
  /* The Lua parts first: they may raise, and then nothing is lost. */
  lhandle *lh = lua_newuserdatauv(L, sizeof *lh, 0);
  lh->h = NULL;
  luaL_setmetatable(L, HANDLE_MT);
  lua_createtable(L, n, 1);
  for (int i = 0; i < n; i++) {
    lua_pushvalue(L, fidx + i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "n");
  if (scope != 0) {
    /* The scope holds the handle weakly: the callback keeps it alive
    ** while it is pending, the time the scope may have to cancel it. */
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "handle");
    luaioL_scope_adopt(L, scope, -2, 0);
  }
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lcallback *cb = malloc(sizeof *cb);
  if (cb == NULL) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return luaL_error(L, "not enough memory");
  }
  cb->rt = rt;
  cb->ref = ref;
  cb->scope = scope;
  int rc = timed ? luaio_call_at(rt->loop, when, lcallback_run, cb,
                                 lcallback_free, &lh->h)
                 : luaio_call_soon(rt->loop, lcallback_run, cb,
                                   lcallback_free, &lh->h);
  if (rc != 0) {
    lcallback_free(cb);
    return luaioL_check(L, rc, fname);
  }
  return 1;
}

static double checkdelay(lua_State *L, int idx) {
  double d = luaL_checknumber(L, idx);
  if (isnan(d) || d < 0)
    luaL_argerror(L, idx, lua_pushfstring(L, "non-negative number expected, "
                                          "got %s", lua_tostring(L, idx)));
  return d;
}

static int lloop_call_soon(lua_State *L) {
  checklloop(L);
  return schedule(L, 2, 0, 0, "call_soon");
}

static int lloop_call_later(lua_State *L) {
  luaio_loop_t *loop = checklloop(L);
  double delay = checkdelay(L, 2);
  return schedule(L, 3, luaio_loop_time(loop) + delay, 1, "call_later");
}

static int lloop_call_at(lua_State *L) {
  checklloop(L);
  double when = luaL_checknumber(L, 2);
  if (isnan(when))
    return luaL_argerror(L, 2, "number expected, got nan");
  return schedule(L, 3, when, 1, "call_at");
}

static int lhandle_cancel(lua_State *L) {
  lhandle *lh = luaioL_checkobject(L, HANDLE_MT);
  if (lh->h != NULL)
    luaio_handle_cancel(lh->h);
  return 0;
}

static int lhandle_cancelled(lua_State *L) {
  lhandle *lh = luaioL_checkobject(L, HANDLE_MT);
  lua_pushboolean(L, lh->h != NULL && luaio_handle_cancelled(lh->h));
  return 1;
}

static int lhandle_when(lua_State *L) {
  lhandle *lh = luaioL_checkobject(L, HANDLE_MT);
  lua_pushnumber(L, lh->h != NULL ? luaio_handle_when(lh->h) : 0);
  return 1;
}

/* __scope(handle, what): its scope closes. */
static int lhandle__scope(lua_State *L) {
  lhandle *lh = luaioL_scopeself(L, HANDLE_MT, "cancel");
  if (lh != NULL && lh->h != NULL)
    luaio_handle_cancel(lh->h);
  return 0;
}

static int lhandle__gc(lua_State *L) {
  lhandle *lh = luaioL_checkobject(L, HANDLE_MT);
  if (lh->h != NULL) {
    luaio_handle_unref(lh->h);
    lh->h = NULL;
  }
  return 0;
}

/* {======================================================================
** The exception handler
** ======================================================================= */

/* Pushes the running loop's object when someone made it. [-0, +1, -] */
static int pushloopobj(lua_State *L, luaioL_runtime *rt) {
  if (rt->loop != NULL &&
      lua_rawgetp(L, LUA_REGISTRYINDEX, &LOOPOBJ_KEY) == LUA_TUSERDATA &&
      ((lloop *)lua_touserdata(L, -1))->gen == rt->gen)
    return 1;
  if (rt->loop == NULL)
    lua_pushnil(L);
  return 0;
}

/* The default: the host's handler, else stderr. [-0, +0, e] */
static void default_handler(lua_State *L, luaioL_runtime *rt, int ctx) {
  if (rt->host_handler != NULL)
    rt->host_handler(L, lua_absindex(L, ctx), rt->host_ud);
  else
    luaioL_printcontext(L, ctx);
}

/* Stack: context. The running loop's handler, else the default. */
static int dispatch_p(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (pushloopobj(L, rt) && lua_getiuservalue(L, -1, 1) != LUA_TNIL) {
    lua_insert(L, -2);
    lua_pushvalue(L, 1);
    lua_call(L, 2, 0); /* handler(loop, context) */
    return 0;
  }
  lua_settop(L, 1);
  default_handler(L, rt, 1);
  return 0;
}

/* Stack: context. */
static int print_p(lua_State *L) {
  luaioL_printcontext(L, 1);
  return 0;
}

/* Prints the context at ctx, protected; says so when even that fails. */
static void print_safely(lua_State *L, int ctx) {
  lua_pushcfunction(L, print_p);
  lua_pushvalue(L, ctx);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "luaio: an error could not be printed (%s)\n",
            lua_isstring(L, -1) ? lua_tostring(L, -1)
                                : luaL_typename(L, -1));
    fflush(stderr);
    lua_pop(L, 1);
  }
}

void luaioL_callhandler(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  int ctx = lua_gettop(L);
  if (!lua_checkstack(L, 6)) {
    fprintf(stderr, "luaio: no stack space to report an error\n");
    lua_pop(L, 1);
    return;
  }
  if (rt->inhandler) {
    /* A handler that reports from inside itself goes to stderr: it
    ** cannot recurse without end. */
    print_safely(L, ctx);
    lua_settop(L, ctx - 1);
    return;
  }
  rt->inhandler = 1;
  lua_pushcfunction(L, luaioL_msghandler);
  lua_pushcfunction(L, dispatch_p);
  lua_pushvalue(L, ctx);
  int status = lua_pcall(L, 1, 0, ctx + 1);
  rt->inhandler = 0;
  if (status != LUA_OK) {
    /* The handler failed: its error, then what it was given. */
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "luaio: error in the exception handler");
    lua_setfield(L, -2, "message");
    lua_insert(L, -2);
    lua_setfield(L, -2, "exception");
    print_safely(L, lua_gettop(L));
    print_safely(L, ctx);
  }
  lua_settop(L, ctx - 1);
}

LUAIO_EXTERN void luaio_set_exception_handler(lua_State *L,
                                              luaio_exception_cb cb,
                                              void *ud) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  rt->host_handler = cb;
  rt->host_ud = cb != NULL ? ud : NULL;
}

static int lloop_set_exception_handler(lua_State *L) {
  checklloop(L);
  if (!lua_isnil(L, 2) && !lua_isfunction(L, 2) &&
      !luaL_getmetafield(L, 2, "__call"))
    return luaL_typeerror(L, 2, "function or nil");
  lua_settop(L, 2);
  lua_setiuservalue(L, 1, 1);
  return 0;
}

static int lloop_get_exception_handler(lua_State *L) {
  checklloop(L);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

static int lloop_call_exception_handler(lua_State *L) {
  checklloop(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  luaioL_callhandler(L);
  return 0;
}

static int lloop_default_exception_handler(lua_State *L) {
  luaioL_runtime *rt = luaioL_rt(L);
  checklloop(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  default_handler(L, rt, 2);
  return 0;
}

/* }====================================================================== */

static int lloop__tostring(lua_State *L) {
  lua_pushliteral(L, "asyncio.Loop");
  return 1;
}

/* }====================================================================== */

static const luaL_Reg lloop_funcs[] = {
    {"run", lloop_run}, {"get_running_loop", lloop_get_running_loop},
    {NULL, NULL}};

static const luaL_Reg lloop_methods[] = {{"time", lloop_time},
                                         {"call_soon", lloop_call_soon},
                                         {"call_later", lloop_call_later},
                                         {"call_at", lloop_call_at},
                                         {"create_future", lloop_create_future},
                                         {"set_slice", lloop_set_slice},
                                         {"get_slice", lloop_get_slice},
                                         {"set_debug", lloop_set_debug},
                                         {"get_debug", lloop_get_debug},
                                         {"set_exception_handler",
                                          lloop_set_exception_handler},
                                         {"get_exception_handler",
                                          lloop_get_exception_handler},
                                         {"call_exception_handler",
                                          lloop_call_exception_handler},
                                         {"default_exception_handler",
                                          lloop_default_exception_handler},
                                         {NULL, NULL}};

static const luaL_Reg lloop_meta[] = {{"__tostring", lloop__tostring},
                                      {NULL, NULL}};

static const luaL_Reg lhandle_methods[] = {{"cancel", lhandle_cancel},
                                           {"cancelled", lhandle_cancelled},
                                           {"when", lhandle_when},
                                           {NULL, NULL}};

static const luaL_Reg lhandle_meta[] = {{"__gc", lhandle__gc},
                                        {"__scope", lhandle__scope},
                                        {"__close", lhandle__gc},
                                        {NULL, NULL}};

void luaioL_open_loop(lua_State *L) {
  luaioL_setfuncs(L, lloop_funcs);
  luaioL_newclass(L, LOOP_MT, lloop_methods, lloop_meta);
  luaioL_newclass(L, HANDLE_MT, lhandle_methods, lhandle_meta);
}
