/*
** ltask.c - asyncio.Task and coroutine objects, the Lua face of
** core/task.c. ltask_step is the one place where task coroutines are
** resumed.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"

/* Yielded by every suspension, so that a task's own coroutine.yield is
** told apart from a wait on the loop. */
static const char SUSPEND = 's';

static const char FAILED_KEY = 'u';  /* registry: weak set of failed boxes */
static const char REPORTS_KEY = 'q'; /* registry: boxes to report, a list */

#define GUARD_MT "asyncio.TaskGuard"

typedef struct {
  int consumed;
  int nargs;
} lcoro;

/* {======================================================================
** The step: the one door into task coroutines
** ======================================================================= */

/* Drops the finished coroutine: the box keeps only the outcome. A
** coroutine that ended in an error (or was never run) is closed first,
** which runs its pending to-be-closed variables; one that returned has
** none left, and the collector takes it as it is. */
static void ltask_endthread(lua_State *L, lfuture *box, int returned) {
  lua_State *co = box->co;
  if (!returned) {
    luaioL_closethread(co, L);
    luaioL_pushbox(L, box);
    lua_pushnil(L);
    lua_setiuservalue(L, -2, UV_THREAD);
    lua_pop(L, 1);
  } else {
    /* The box still sits at the bottom of the finished coroutine. */
    lua_pushnil(co);
    lua_setiuservalue(co, 1, UV_THREAD);
  }
  box->co = NULL;
}

/* Watches a failed task whose error nobody took yet. The box and its
** guard hold each other, so they are collected together, and then the
** guard's finalizer reports the error unless it was retrieved; the weak
** set finds the boxes still alive when the loop closes. Nothing else
** keeps a failed task, and tasks that never fail pay nothing. */
/* Stack: box (light userdata). */
static int watch_p(lua_State *L) {
  lfuture *box = lua_touserdata(L, 1);
  luaioL_pushbox(L, box);
  if (box->handler) { /* nobody else can take a handler's error */
    luaioL_queuereport(L, -1);
    return 0;
  }
  lua_newuserdatauv(L, 0, 1);
  lua_pushvalue(L, -2);
  lua_setiuservalue(L, -2, 1); /* guard -> box */
  luaL_setmetatable(L, GUARD_MT);
  lua_setiuservalue(L, -2, UV_THREAD); /* box -> guard */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &FAILED_KEY);
  lua_insert(L, -2);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  return 0;
}

static void ltask_watch_failure(lua_State *L, lfuture *box) {
  lua_pushcfunction(L, watch_p);
  lua_pushlightuserdata(L, box);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    lua_pop(L, 1);
    /* Out of memory: reported now rather than maybe never. */
    box->reported = 1;
    luaioL_pushbox(L, box);
    lua_getiuservalue(L, -1, UV_VALUES);
    luaioL_report(L, -1, "error in a task (reported at once: out of "
                         "memory)");
    lua_pop(L, 2);
  }
}

static int lguard__gc(lua_State *L) {
  lua_getiuservalue(L, 1, 1);
  lfuture *box = luaioL_tofuture(L, -1);
  if (box != NULL && !box->retrieved && !box->reported)
    luaioL_queuereport(L, -1);
  return 0;
}

/* The error at the top of L ended the task: store it in the box, with
** the traceback of its coroutine (still intact). Returns the step's code. */
static void pushname(lua_State *L, int idx, lfuture *box);

/* Stack: box (light userdata), the error. Returns the error that
** crosses the task's boundary and whether it is a cancellation. */
static int failed_p(lua_State *L) {
  lfuture *box = lua_touserdata(L, 1);
  lua_settop(L, 2);
  int cancelled = luaioL_iscancelled(L, 2);
  if (!cancelled) {
    luaioL_pushbox(L, box);
    pushname(L, -1, box);
    luaioL_pushawaitchain(L, box->task);
    lua_pushfstring(L, "in task '%s'%s:", lua_tostring(L, -2),
                    lua_tostring(L, -1));
    luaL_traceback(L, box->co, lua_tostring(L, -1), 0);
    const char *tb = lua_tostring(L, -1);
    lua_pushvalue(L, 2);
    luaioL_carryerror(L, tb);
  }
  lua_pushboolean(L, cancelled);
  return 2;
}

/* Run protected, as the step runs inside the core: out of memory, the
** error is kept as it was raised. */
static int ltask_failed(lua_State *L, lfuture *box) {
  int err = LUAIO_EFAILED;
  lua_pushcfunction(L, failed_p);
  lua_pushlightuserdata(L, box);
  lua_pushvalue(L, -3);
  if (lua_pcall(L, 2, 2, 0) == LUA_OK) {
    if (lua_toboolean(L, -1))
      err = LUAIO_ECANCELLED;
    lua_pop(L, 1);
    lua_replace(L, -2);
  } else {
    lua_pop(L, 1);
  }
  luaioL_pushbox(L, box);
  lua_insert(L, -2);
  luaioL_fail(L, -2);
  lua_pop(L, 1);
  return err;
}

/* Stack: box (light userdata). The error of a task that yielded on its
** own. */
static int yielded_p(lua_State *L) {
  lfuture *box = lua_touserdata(L, 1);
  luaL_traceback(L, box->co, NULL, 0);
  luaioL_newerror(L, "Error", "coroutine.yield() was called in a task's "
                              "own coroutine; use asyncio.sleep(0) to let "
                              "other tasks run");
  lua_insert(L, -2);
  lua_setfield(L, -2, "traceback");
  return 1;
}

/* Stack: box (light userdata). The error of a task that its slice
** stopped after it caught its SliceError. */
static int stopped_p(lua_State *L) {
  lfuture *box = lua_touserdata(L, 1);
  luaioL_pushbox(L, box);
  pushname(L, -1, box);
  lua_pushfstring(L, "task '%s' ran on after its SliceError: stopped",
                  lua_tostring(L, -1));
  luaL_traceback(L, box->co, NULL, 0);
  luaioL_newerror(L, "SliceError", lua_tostring(L, -2));
  lua_insert(L, -2);
  lua_setfield(L, -2, "traceback");
  return 1;
}

/* The core is done with the task (LUAIO_TASK_DONE): the box keeps the
** outcome and lets go of the core task and of its pin, so that Task
** objects need no finalizer (the finalizer alone cost 8% of spawning and
** gathering 100,000 tasks, most of it when the state closes). */
static void ltask_done(lua_State *L, luaio_task_t *t, lfuture *box) {
  luaio_future_t *fut = luaio_task_future(t);
  box->final = (unsigned char)luaio_future_state(fut);
  box->final_err = luaio_future_error(fut);
  box->ncancels = (unsigned short)luaio_task_cancelling(t);
  const char *msg = luaio_future_cancel_message(fut);
  if (box->final == LUAIO_CANCELLED && msg != NULL && !box->has_error) {
    luaioL_pushbox(L, box);
    lua_pushstring(L, msg);
    luaioL_setextra(L, -2, "cancel_msg");
    lua_pop(L, 1);
  }
  luaioL_unpin(L, box);
  luaio_future_set_data(fut, NULL);
  box->task = NULL;
  if (box->fut != NULL) {
    box->fut = NULL;
    luaio_future_unref(fut); /* the box's reference */
  } else {
    box->done_early = 1; /* ended inside luaio_task_new: see spawn */
  }
}

/* {======================================================================
** Slices: how long a task may run without suspending
** ======================================================================= */

/* Instructions between two looks at the clock: a few microseconds. */
#define SLICE_COUNT 1000

/* The slice's clock: the loop's when it is manual (game time, and tests
** that move it), else the monotonic clock. */
static double slice_now(luaio_loop_t *loop) {
  if (luaio_clock_kind_of(loop) == LUAIO_CLOCK_MANUAL)
    return luaio_loop_time(loop);
  return (double)uv_hrtime() / 1e9;
}

/* Reports the task of the box at the top of L, whose thread is co: it
** has run past the warning threshold (after: in a step that is over,
** 1 when it then suspended, 2 when it ended). [-0, +0, m] */
static void slice_warn(lua_State *L, lua_State *co, luaioL_runtime *rt,
                       lfuture *box, double ran, int after) {
  int top = lua_gettop(L);
  lua_createtable(L, 0, 3);
  pushname(L, top, box);
  char secs[160];
  if (rt->slice_warn > 0)
    snprintf(secs, sizeof secs, "%.3f s without suspending (the slice's "
                                "warning is at %g s)", ran, rt->slice_warn);
  else
    snprintf(secs, sizeof secs, "%.3f s without suspending (debug mode "
                                "reports steps of over %g s)", ran,
             rt->warn_at);
  lua_pushfstring(L, "task '%s' %s %s%s", lua_tostring(L, -1),
                  after ? "ran for" : "has run for", secs,
                  after == 1 ? ", then suspended here" : "");
  luaL_traceback(L, co, lua_tostring(L, -1), 0);
  lua_setfield(L, top + 1, "message");
  lua_pop(L, 2);
  luaL_traceback(L, co, NULL, 0);
  lua_setfield(L, top + 1, "traceback");
  lua_pushvalue(L, top);
  lua_setfield(L, top + 1, "task");
  luaioL_callhandler(L);
  lua_settop(L, top);
}

/* Whether the task of the box at the top of co asked to be preempted. */
static int slice_preempts(lua_State *co) {
  int r = luaioL_getextra(co, -1, "preempt") != LUA_TNIL &&
          lua_toboolean(co, -1);
  lua_pop(co, 1);
  return r;
}

/* The count hook of a task's thread (and of the coroutines it made)
** while a slice is set. A task of its own thread that asked for it is
** paused at the limit when it can yield there (a bare yield, after which
** it runs again once the others have run); any other fails with a
** SliceError. */
static void slice_hook(lua_State *co, lua_Debug *ar) {
  (void)ar;
  luaioL_runtime *rt = luaioL_runtime_of(co);
  lfuture *box = rt->current;
  if (!rt->slice_on || rt->loop == NULL || box == NULL) {
    lua_sethook(co, NULL, 0, 0);
    return;
  }
  double ran = slice_now(rt->loop) - rt->slice_start;
  int pastwarn = rt->warn_at > 0 && ran >= rt->warn_at;
  int pastlimit = rt->slice > 0 && ran >= rt->slice;
  if (!(pastwarn && rt->slice_state == 0) && !pastlimit)
    return;
  /* It caught its SliceError and ran on: it is stopped where it stands,
  ** by a yield that its step turns into its failure, whenever it can
  ** yield there; else it gets the error again. */
  if (pastlimit && rt->slice_state == 2 && box->co == co &&
      lua_isyieldable(co)) {
    rt->slice_state = 3;
    lua_yield(co, 0); /* returns: the hook's caller does the yield */
    return;
  }
  luaL_checkstack(co, LUA_MINSTACK, "luaio: slice");
  luaioL_pushbox(co, box);
  if (pastlimit && box->co == co && lua_isyieldable(co) &&
      slice_preempts(co)) {
    lua_pop(co, 1);
    lua_yield(co, 0); /* returns: the hook's caller does the yield */
    return;
  }
  if (pastwarn && rt->slice_state == 0) {
    rt->slice_state = 1;
    if (!slice_preempts(co)) /* such a task is paused: nothing to say */
      slice_warn(co, co, rt, box, ran, 0);
  }
  if (!pastlimit) {
    lua_pop(co, 1);
    return;
  }
  rt->slice_state = 2;
  pushname(co, -1, box);
  char secs[128];
  snprintf(secs, sizeof secs, "%.3f s without suspending, past the loop's "
                              "slice of %g s", ran, rt->slice);
  luaioL_newerror(co, "SliceError", lua_pushfstring(co, "task '%s' ran for %s",
                                                    lua_tostring(co, -1),
                                                    secs));
  lua_error(co);
}

/* The task on co is about to run: its slice starts now. */
static void slice_begin(luaioL_runtime *rt, lua_State *co) {
  rt->slice_start = slice_now(rt->loop);
  rt->slice_state = 0;
  lua_sethook(co, slice_hook, LUA_MASKCOUNT, SLICE_COUNT);
}

/* Whether the suspended co was paused inside a hook (preempted, or by a
** hook of the program's own that yields) rather than in a wait of ours
** or coroutine.yield: its innermost frame is then a Lua function. */
static int hook_paused(lua_State *co) {
  lua_Debug ar;
  if (lua_status(co) != LUA_YIELD || !lua_getstack(co, 0, &ar))
    return 0;
  lua_getinfo(co, "S", &ar);
  return ar.what[0] != 'C';
}

/* Raises the cancellation of a task that was paused in a hook, at its
** first instruction: no wait of ours is there to raise it. */
static void cancel_hook(lua_State *co, lua_Debug *ar) {
  (void)ar;
  luaioL_runtime *rt = luaioL_runtime_of(co);
  if (rt->slice_on)
    slice_begin(rt, co);
  else
    lua_sethook(co, NULL, 0, 0);
  lfuture *box = rt->current;
  luaioL_raise(co, LUAIO_ECANCELLED,
               box != NULL && box->task != NULL
                   ? luaio_task_cancel_message(box->task)
                   : NULL);
}

/* }====================================================================== */

/* After a step that ran without a warning: a step that blocked in a C
** function (os.execute, a read from a terminal) runs no Lua instruction
** that the hook could count, so it is reported once it is over, with
** where the task suspended, as asyncio reports a slow callback. */
static void slow_step(lua_State *L, luaioL_runtime *rt, lfuture *box,
                      int status) {
  double ran = slice_now(rt->loop) - rt->slice_start;
  if (ran < rt->warn_at || !lua_checkstack(L, 8))
    return;
  luaioL_pushbox(L, box);
  slice_warn(L, box->co, rt, box, ran, status == LUA_YIELD ? 1 : 2);
  lua_pop(L, 1);
}

static int ltask_step(luaio_task_t *t, int err) {
  lfuture *box = luaio_future_data(luaio_task_future(t));
  luaioL_runtime *rt = box->rt;
  lua_State *L = rt->L;
  lua_State *co = box->co;
  int nargs = 0, nres = 0;
  box->task = t; /* borrowed, while the task lives */
  luaL_checkstack(L, LUA_MINSTACK, "luaio: task step");
  if (err == LUAIO_TASK_DONE) {
    ltask_done(L, t, box);
    return 0;
  }
  if (!box->started) {
    box->started = 1;
    box->id = (uint32_t)luaio_task_id(t);
    if (err == LUAIO_ECANCELLED) {
      /* Cancelled before it ran: nothing of it runs, as in asyncio. */
      ltask_endthread(L, box, 0);
      return LUAIO_ECANCELLED;
    }
    nargs = lua_gettop(co) - 2; /* [box, fn, args...] */
  }
  box->resume_err = err;
  /* An eager task runs inside the step of the one that made it: the
  ** outer step's slice is put back after. */
  int sliced = rt->slice_on;
  double outer_start = 0;
  int outer_state = 0;
  if (sliced) {
    outer_start = rt->slice_start;
    outer_state = rt->slice_state;
    slice_begin(rt, co);
  }
  if (err == LUAIO_ECANCELLED && hook_paused(co))
    lua_sethook(co, cancel_hook, LUA_MASKCOUNT, 1);
  lfuture *prev = rt->current;
  rt->current = box;
  int status = lua_resume(co, L, nargs, &nres);
  rt->current = prev;
  int stopped = 0;
  if (sliced) {
    stopped = rt->slice_state == 3;
    if (rt->slice_state == 0 && rt->warn_at > 0)
      slow_step(L, rt, box, status);
    rt->slice_start = outer_start;
    rt->slice_state = outer_state;
  }
  switch (status) {
  case LUA_YIELD:
    if (nres == 1 && lua_touserdata(co, -1) == &SUSPEND) {
      lua_pop(co, 1);
      return LUAIO_STEP_SUSPENDED;
    }
    if (nres == 0 && hook_paused(co) && !stopped)
      return LUAIO_STEP_SUSPENDED; /* a bare yield: it runs again soon */
    lua_pop(co, nres);
    lua_pushcfunction(L, stopped ? stopped_p : yielded_p);
    lua_pushlightuserdata(L, box);
    lua_pcall(L, 1, 1, 0); /* out of memory, that error stands in */
    err = ltask_failed(L, box);
    break;
  case LUA_OK:
    /* Everything above the box is a result (nres counts the box too). */
    luaioL_resolve(co, 1, lua_gettop(co) - 1);
    err = LUAIO_STEP_RETURNED;
    break;
  default:
    lua_xmove(co, L, 1); /* the error; the stack stays for the traceback */
    err = ltask_failed(L, box);
    break;
  }
  /* The coroutine is over; the core calls again once the task is done,
  ** and the box is unpinned then (ltask_done). */
  ltask_endthread(L, box, status == LUA_OK);
  if (err == LUAIO_EFAILED)
    ltask_watch_failure(L, box); /* after endthread: it takes UV_THREAD */
  return err;
}

/* }====================================================================== */

/* {======================================================================
** Suspension
** ======================================================================= */

lfuture *luaioL_checktask(lua_State *L, const char *fname) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->loop == NULL)
    luaL_error(L, "%s must be called inside a task, and no loop is running: "
                  "start the program with asyncio.run(main)", fname);
  lfuture *box = rt->current;
  if (box == NULL)
    luaL_error(L, "%s must be called inside a task, not from a callback or "
                  "from code outside the loop", fname);
  if (box->co != L)
    luaL_error(L, "%s was called inside a coroutine that a task created "
                  "itself (coroutine.create or wrap); only the task's own "
                  "coroutine can wait", fname);
  if (!lua_isyieldable(L))
    luaL_error(L, "%s cannot wait here: a C function (such as table.sort, "
                  "string.gsub or a metamethod called from C) stands between "
                  "this call and the task", fname);
  return box;
}

int luaioL_await(lua_State *L, lfuture *task, luaio_future_t *fut,
                 lua_KContext ctx, lua_KFunction k) {
  int rc = luaio_task_await(task->task, fut);
  if (rc == LUAIO_ESELF)
    return luaL_error(L, "a task cannot await itself (it would never end)");
  if (rc == LUAIO_ECYCLE)
    return luaL_error(L, "this await would never end: what it awaits is "
                         "itself waiting, through tasks or gathers, for this "
                         "task");
  luaioL_check(L, rc, "await");
  lua_pushlightuserdata(L, (void *)&SUSPEND);
  return lua_yieldk(L, 1, ctx, k);
}

int luaioL_await_shared(lua_State *L, lfuture *task, luaio_future_t *fut,
                        lua_KContext ctx, lua_KFunction k) {
  int rc = luaio_task_await_shared(task->task, fut);
  luaio_future_unref(fut); /* the task holds its own while it waits */
  luaioL_check(L, rc, "wait");
  lua_pushlightuserdata(L, (void *)&SUSPEND);
  return lua_yieldk(L, 1, ctx, k);
}

int luaioL_sleep(lua_State *L, lfuture *task, double delay, lua_KContext ctx,
                 lua_KFunction k) {
  luaioL_check(L, luaio_task_sleep(task->task, delay), "sleep");
  lua_pushlightuserdata(L, (void *)&SUSPEND);
  return lua_yieldk(L, 1, ctx, k);
}

lfuture *luaioL_resumed(lua_State *L) {
  lfuture *box = luaioL_runtime_of(L)->current;
  if (box->resume_err == LUAIO_ECANCELLED) {
    box->resume_err = 0;
    luaioL_raise(L, LUAIO_ECANCELLED, luaio_task_cancel_message(box->task));
  }
  return box;
}

int luaioL_resumeerr(lua_State *L) {
  lfuture *box = luaioL_runtime_of(L)->current;
  int err = box->resume_err;
  box->resume_err = 0;
  return err;
}

int luaioL_raisewait(lua_State *L, int rc, const char *fname) {
  if (rc == LUAIO_ECANCELLED) {
    lfuture *box = luaioL_runtime_of(L)->current;
    return luaioL_raise(L, rc, luaio_task_cancel_message(box->task));
  }
  return luaioL_check(L, rc, fname);
}

/* }====================================================================== */

/* {======================================================================
** Creating tasks
** ======================================================================= */

static inline lfuture *spawn(lua_State *L, luaioL_runtime *rt, int nargs,
                             int eager, uint32_t scope) {
  if (scope != 0)
    luaioL_scope_check(L, scope, "create_task");
  int fidx = lua_gettop(L) - nargs;
  lfuture *box = lua_newuserdatauv(L, sizeof *box, NUV);
  memset(box, 0, sizeof *box);
  box->magic = LUAIO_BOX_MAGIC;
  box->rt = rt;
  box->gen = rt->gen;
  box->pin = LUA_NOREF;
  box->is_task = 1;
  box->scope = scope; /* before an eager first step, which may spawn */
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->task_mt);
  lua_setmetatable(L, -2);
  lua_State *co = lua_newthread(L);
  box->co = co;
  lua_setiuservalue(L, -2, UV_THREAD);
  lua_pushvalue(L, -1);
  lua_xmove(L, co, 1); /* the box sits below the function on co's stack */
  lua_insert(L, fidx); /* box, fn, args... */
  lua_xmove(L, co, nargs + 1);
  luaioL_pin(L, -1, box);
  rt->ntasks_created++;
  int flags = LUAIO_TASK_DONE_STEP | (eager ? LUAIO_TASK_EAGER : 0);
  luaio_task_t *t = luaio_task_new(rt->loop, ltask_step, box, flags);
  if (t == NULL) {
    luaioL_unpin(L, box);
    luaL_error(L, "not enough memory");
  }
  box->id = (uint32_t)luaio_task_id(t);
  if (box->done_early) {
    luaio_task_unref(t); /* done already: the box keeps the outcome */
  } else {
    box->task = t;
    box->fut = luaio_task_future(t); /* owns the reference new returned */
    if (scope != 0)
      luaioL_scope_adopt(L, scope, -1, 0); /* pinned while it runs */
  }
  return box;
}

lfuture *luaioL_spawn(lua_State *L, int nargs, int eager) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  /* Inherited, as contextvars are: one copy. */
  return spawn(L, rt, nargs, eager, luaioL_curscope(rt));
}

lfuture *luaioL_spawnin(lua_State *L, int nargs, int eager,
                        uint32_t scope) {
  return spawn(L, luaioL_runtime_of(L), nargs, eager, scope);
}

/* Pushes fn and the arguments of the coroutine object at idx; marks it
** used. Returns the number of arguments. */
static int pushcoro(lua_State *L, int idx, const char *fname) {
  lcoro *c = lua_touserdata(L, idx);
  if (c->consumed)
    luaL_error(L, "%s: this coroutine object was already awaited or made a "
                  "task; call the async function again for a new one", fname);
  c->consumed = 1;
  luaL_checkstack(L, c->nargs + 1, "too many arguments");
  for (int i = 1; i <= c->nargs + 1; i++)
    lua_getiuservalue(L, idx, i);
  return c->nargs;
}

lfuture *luaioL_toawaitable(lua_State *L, int idx, const char *fname,
                            int allowfn) {
  idx = lua_absindex(L, idx);
  lfuture *box = luaioL_tofuture(L, idx);
  if (box != NULL) {
    if (!luaioL_isdone(box))
      luaioL_checkalive(L, box, fname);
    return box;
  }
  int nargs;
  if (luaioL_iscoro(L, idx))
    nargs = pushcoro(L, idx, fname);
  else if (allowfn && lua_isfunction(L, idx)) {
    lua_pushvalue(L, idx);
    nargs = 0;
  } else {
    const char *what = allowfn ? "coroutine object, function, task or future"
                               : "coroutine object, task or future";
    luaL_typeerror(L, idx, what);
    return NULL;
  }
  luaioL_checkloop(L, fname);
  box = luaioL_spawn(L, nargs, 0);
  lua_replace(L, idx);
  return box;
}

/* }====================================================================== */

/* {======================================================================
** Lua functions
** ======================================================================= */

static int ltask_create_task(lua_State *L) {
  luaioL_checkloop(L, "create_task");
  int eager = 0;
  int hasname = 0;
  int preempt = 0;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    eager = lua_getfield(L, 2, "eager") != LUA_TNIL && lua_toboolean(L, -1);
    hasname = lua_getfield(L, 2, "name") != LUA_TNIL;
    if (hasname && !lua_isstring(L, -1))
      luaL_argerror(L, 2, "opts.name must be a string");
    preempt = lua_getfield(L, 2, "preempt") != LUA_TNIL &&
              lua_toboolean(L, -1);
    lua_pop(L, 3);
  }
  int nargs;
  if (lua_isfunction(L, 1)) {
    lua_pushvalue(L, 1);
    nargs = 0;
  } else if (luaioL_iscoro(L, 1))
    nargs = pushcoro(L, 1, "create_task");
  else
    return luaL_typeerror(L, 1, "function or coroutine object");
  /* The options must be there before the first step runs: an eager
  ** task with options runs its first step as any other. */
  luaioL_spawn(L, nargs, eager && !hasname && !preempt);
  if (hasname) {
    lua_getfield(L, 2, "name");
    luaioL_setextra(L, -2, "name");
  }
  if (preempt) {
    lua_pushboolean(L, 1);
    luaioL_setextra(L, -2, "preempt");
  }
  return 1;
}

static int ltask_sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  luaioL_resumed(L);
  lua_settop(L, 2);
  return 1;
}

static int ltask_sleep(lua_State *L) {
  double delay = luaL_checknumber(L, 1);
  if (isnan(delay) || delay < 0)
    return luaL_argerror(L, 1, lua_pushfstring(L, "non-negative number "
                                               "expected, got %s",
                                               lua_tostring(L, 1)));
  lfuture *box = luaioL_checktask(L, "sleep");
  lua_settop(L, 2);
  return luaioL_sleep(L, box, delay, 0, ltask_sleep_k);
}

static int ltask_await_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaioL_resumed(L);
  return luaioL_pushresult(L, (int)ctx);
}

static int ltask_await_call_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  return lua_gettop(L) - (int)ctx;
}

int luaioL_awaitvalue(lua_State *L, int idx, const char *fname) {
  idx = lua_absindex(L, idx);
  lfuture *box = luaioL_tofuture(L, idx);
  if (box == NULL && (lua_isfunction(L, idx) || luaioL_iscoro(L, idx))) {
    /* A coroutine object runs inline, inside the current task, and so
    ** does a function, as the coroutine object it would make. */
    int base = lua_gettop(L);
    int nargs = 0;
    if (lua_isfunction(L, idx))
      lua_pushvalue(L, idx);
    else
      nargs = pushcoro(L, idx, fname);
    lua_callk(L, nargs, LUA_MULTRET, base, ltask_await_call_k);
    return ltask_await_call_k(L, LUA_OK, base);
  }
  if (box == NULL)
    return luaL_typeerror(L, idx, "coroutine object, function, task or "
                                  "future");
  if (luaioL_isdone(box))
    return luaioL_pushresult(L, idx);
  luaioL_checkalive(L, box, fname);
  lfuture *task = luaioL_checktask(L, fname);
  return luaioL_await(L, task, box->fut, idx, ltask_await_k);
}

static int ltask_await(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  if (luaioL_tofuture(L, 1) == NULL &&
      (luaioL_iscoro(L, 1) || lua_isfunction(L, 1)))
    luaioL_checktask(L, "await");
  return luaioL_awaitvalue(L, 1, "await");
}

static int ltask_current_task(lua_State *L) {
  lfuture *box = luaioL_runtime_of(L)->current;
  if (box == NULL)
    lua_pushnil(L);
  else
    luaioL_pushbox(L, box);
  return 1;
}

static void pushtask(luaio_task_t *t, void *arg) {
  lua_State *L = arg;
  lfuture *box = luaio_future_data(luaio_task_future(t));
  if (box == NULL || box->pin == LUA_NOREF)
    return;
  luaioL_pushbox(L, box);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

void luaioL_pushtasks(lua_State *L, luaio_loop_t *loop) {
  lua_newtable(L);
  if (loop != NULL)
    luaio_loop_foreach_task(loop, pushtask, L);
}

static int ltask_all_tasks(lua_State *L) {
  luaioL_pushtasks(L, luaioL_runtime_of(L)->loop);
  return 1;
}

/* asyncio.async(fn): an async function whose calls make coroutine
** objects. */
static int lcoro_call(lua_State *L) {
  int nargs = lua_gettop(L);
  lcoro *c = lua_newuserdatauv(L, sizeof *c, nargs + 1);
  c->consumed = 0;
  c->nargs = nargs;
  luaL_setmetatable(L, CORO_MT);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setiuservalue(L, -2, 1);
  for (int i = 1; i <= nargs; i++) {
    lua_pushvalue(L, i);
    lua_setiuservalue(L, -2, i + 1);
  }
  if (((luaioL_runtime *)lua_touserdata(L, lua_upvalueindex(2)))->debug) {
    lua_Debug ar; /* debug mode: where it is made, should it be dropped */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_getinfo(L, ">S", &ar);
    char what[128];
    snprintf(what, sizeof what, "a coroutine object of the async function "
                                "defined at %.60s:%d", ar.short_src,
             ar.linedefined);
    luaioL_setorigin(L, -1, what);
  }
  return 1;
}

static int ltask_async(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1)); /* the runtime */
  lua_pushcclosure(L, lcoro_call, 2);
  return 1;
}

static int lcoro__tostring(lua_State *L) {
  lcoro *c = luaL_checkudata(L, 1, CORO_MT);
  lua_pushfstring(L, "asyncio.Coroutine (%s)",
                  c->consumed ? "used" : "not started");
  return 1;
}

/* A coroutine object dropped while nobody has awaited it or made it a
** task: its function never ran. That is almost always a forgotten
** asyncio.await, so say so on stderr, as asyncio does; in debug mode,
** to the exception handler, with where it was made. */
static int lcoro__gc(lua_State *L) {
  lcoro *c = lua_touserdata(L, 1);
  if (c->consumed)
    return 0;
  c->consumed = 1;
  if (luaioL_unclosed(L, 1, ORIGIN_NEVER_AWAITED))
    return 0;
  lua_Debug ar;
  lua_getiuservalue(L, 1, 1); /* the async function */
  if (lua_getinfo(L, ">S", &ar) && ar.linedefined > 0)
    fprintf(stderr, "luaio: warning: a coroutine object of the async "
                    "function defined at %s:%d was never awaited\n",
            ar.short_src, ar.linedefined);
  else
    fprintf(stderr, "luaio: warning: a coroutine object was never "
                    "awaited\n");
  return 0;
}

/* Task methods beyond those of futures. */

static lfuture *checktaskbox(lua_State *L) {
  return luaioL_checkself(L, TASK_MT);
}


static int ltask_get_name(lua_State *L) {
  lfuture *box = checktaskbox(L);
  pushname(L, 1, box);
  return 1;
}

static int ltask_set_name(lua_State *L) {
  checktaskbox(L);
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  luaL_tolstring(L, 2, NULL);
  luaioL_setextra(L, 1, "name");
  return 0;
}

static int ltask_cancelling(lua_State *L) {
  lfuture *box = checktaskbox(L);
  lua_pushinteger(L, box->task != NULL ? luaio_task_cancelling(box->task)
                                       : box->ncancels);
  return 1;
}

static int ltask_uncancel(lua_State *L) {
  lfuture *box = checktaskbox(L);
  if (box->task != NULL)
    box->ncancels = (unsigned short)luaio_task_uncancel(box->task);
  else if (box->ncancels > 0)
    box->ncancels--;
  lua_pushinteger(L, box->ncancels);
  return 1;
}

/* Pushes what the suspended task waits on: a sleep, or the object of
** the call it is suspended in (an asyncio.Queue, asyncio.Lock, the Task
** or Future it awaits); or pushes "" when that is not known. [-0, +1, m] */
static void pushwaitson(lua_State *L, lfuture *box) {
  lua_Debug ar;
  if (box->task != NULL && luaio_task_sleeping(box->task)) {
    lua_pushliteral(L, ", in asyncio.sleep");
    return;
  }
  if (!lua_getstack(box->co, 0, &ar) || !lua_getinfo(box->co, "S", &ar) ||
      *ar.what != 'C' || lua_getlocal(box->co, &ar, 1) == NULL) {
    lua_pushliteral(L, "");
    return;
  }
  lua_xmove(box->co, L, 1); /* the call's first argument */
  int v = lua_gettop(L);
  lfuture *f = luaioL_tofuture(L, v);
  if (f != NULL && f->fut != NULL && box->task != NULL &&
      luaio_task_waiter(box->task) == f->fut) /* not gather(t, ...) */
    lua_pushfstring(L, ", waiting for %s", luaL_tolstring(L, v, NULL));
  else if (f == NULL && luaL_getmetafield(L, v, "__name") == LUA_TSTRING &&
           strncmp(lua_tostring(L, -1), "asyncio.", 8) == 0)
    lua_pushfstring(L, ", waiting on an %s", lua_tostring(L, -1));
  else
    lua_pushliteral(L, "");
  lua_replace(L, v);
  lua_settop(L, v);
}

static int ltask_traceback(lua_State *L) {
  lfuture *box = checktaskbox(L);
  if (box->co != NULL && box->started &&
      lua_status(box->co) == LUA_YIELD) {
    int top = lua_gettop(L);
    ltask_get_name(L);
    pushwaitson(L, box);
    luaioL_pushawaitchain(L, box->task);
    const char *head = lua_pushfstring(L, "task '%s' is suspended here%s%s:",
                                       lua_tostring(L, top + 1),
                                       lua_tostring(L, -2),
                                       lua_tostring(L, -1));
    luaL_traceback(L, box->co, head, 0);
    return 1;
  }
  if (box->has_error && lua_getiuservalue(L, 1, UV_VALUES) == LUA_TTABLE &&
      lua_getfield(L, -1, "traceback") == LUA_TSTRING)
    return 1;
  lua_pushnil(L);
  return 1;
}

static const luaL_Reg ltask_funcs[] = {{"create_task", ltask_create_task},
                                       {"sleep", ltask_sleep},
                                       {"await", ltask_await},
                                       {"current_task", ltask_current_task},
                                       {"all_tasks", ltask_all_tasks},
                                       {"async", ltask_async},
                                       {NULL, NULL}};

static const luaL_Reg ltask_methods[] = {{"get_name", ltask_get_name},
                                         {"set_name", ltask_set_name},
                                         {"cancelling", ltask_cancelling},
                                         {"uncancel", ltask_uncancel},
                                         {"traceback", ltask_traceback},
                                         {NULL, NULL}};

/* __scope(task, what, msg, tasks): its scope closes. */
static int ltask__scope(lua_State *L) {
  lfuture *box = luaioL_scopeself(L, TASK_MT, "cancel");
  if (box == NULL || box->task == NULL)
    return 0;
  luaio_task_cancel(box->task, luaL_optstring(L, 3, NULL));
  lua_pushvalue(L, 1);
  lua_rawseti(L, 4, (lua_Integer)lua_rawlen(L, 4) + 1);
  return 0;
}

static const luaL_Reg ltask_meta[] = {{"__tostring", luaioL_future_tostring},
                                      {"__scope", ltask__scope},
                                      {NULL, NULL}};

static const luaL_Reg lcoro_meta[] = {{"__tostring", lcoro__tostring},
                                      {"__gc", lcoro__gc},
                                      {NULL, NULL}};

static void pushname(lua_State *L, int idx, lfuture *box) {
  if (luaioL_getextra(L, idx, "name") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushfstring(L, "Task-%I", (lua_Integer)box->id);
  }
}

void luaioL_pushname(lua_State *L, int idx, lfuture *box) {
  pushname(L, idx, box);
}

void luaioL_pushwaitson(lua_State *L, lfuture *box) { pushwaitson(L, box); }

/* {======================================================================
** Reports of errors nobody retrieved
** ======================================================================= */

typedef struct {
  uint64_t id;
  int slot;
} failed_entry;

static int failed_cmp(const void *a, const void *b) {
  const failed_entry *x = a, *y = b;
  if (x->id != y->id)
    return (x->id > y->id) - (x->id < y->id);
  return (x->slot > y->slot) - (x->slot < y->slot);
}

/* Pushes the context of the failed box at b. [-0, +1, m] */
static void pushcontext(lua_State *L, int b, lfuture *box) {
  lua_createtable(L, 0, 4);
  if (box->is_task) {
    pushname(L, b, box);
    lua_pushfstring(L, box->handler ? "error in server handler (task '%s')"
                                    : "error in task '%s' was never "
                                      "retrieved",
                    lua_tostring(L, -1));
    lua_remove(L, -2);
  } else {
    lua_pushliteral(L, "future error was never retrieved");
  }
  lua_setfield(L, -2, "message");
  lua_getiuservalue(L, b, UV_VALUES);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "exception");
  lua_setfield(L, -2, "error");
  lua_pushvalue(L, b);
  lua_setfield(L, -2, box->is_task ? "task" : "future");
}

/* Reports the n boxes of the list at idx that nobody retrieved, oldest
** task first, then the contexts of the list at idx + 1 in their order.
** [-0, +0, m] */
static void report_list(lua_State *L, int list, int n) {
  failed_entry *v = lua_newuserdatauv(L, (size_t)n * sizeof *v + 1, 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, list, i + 1);
    v[i].id = ((lfuture *)lua_touserdata(L, -1))->id;
    v[i].slot = i + 1;
    lua_pop(L, 1);
  }
  qsort(v, (size_t)n, sizeof *v, failed_cmp);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, list, v[i].slot);
    int b = lua_gettop(L);
    lfuture *box = lua_touserdata(L, b);
    pushcontext(L, b, box);
    luaioL_callhandler(L);
    lua_settop(L, b - 1);
  }
  lua_pop(L, 1);
  lua_Integer nctx = (lua_Integer)lua_rawlen(L, list + 1);
  for (lua_Integer i = 1; i <= nctx; i++) {
    lua_rawgeti(L, list + 1, i);
    luaioL_callhandler(L);
  }
}

/* Appends the boxes of the queue that are still to report to the list
** at list (n so far), marking them reported, and its contexts to the list
** at list + 1; returns the new count of boxes; the queue is emptied.
** [-0, +0, m] */
static int take_queue(lua_State *L, luaioL_runtime *rt, int list, int n) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &REPORTS_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    return n;
  }
  lua_newtable(L); /* reports queued from here on go to a new queue */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &REPORTS_KEY);
  rt->nreports = 0;
  lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= len; i++) {
    if (lua_rawgeti(L, -1, i) == LUA_TTABLE) { /* a context, as it is */
      lua_rawseti(L, list + 1, (lua_Integer)lua_rawlen(L, list + 1) + 1);
      continue;
    }
    lfuture *box = lua_touserdata(L, -1);
    if (box != NULL && !box->retrieved && !box->reported) {
      box->reported = 1;
      lua_rawseti(L, list, ++n);
    } else {
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return n;
}

/* Delivers the queued reports. [-0, +0, m] */
static int drain_p(lua_State *L) {
  luaioL_runtime *rt = lua_touserdata(L, 1);
  rt->drain_scheduled = 0;
  lua_newtable(L);
  int list = lua_gettop(L);
  lua_newtable(L); /* contexts, at list + 1 */
  int n = take_queue(L, rt, list, 0);
  report_list(L, list, n);
  return 0;
}

static void drain(lua_State *L, luaioL_runtime *rt) {
  if (!lua_checkstack(L, 3))
    return;
  lua_pushcfunction(L, drain_p);
  lua_pushlightuserdata(L, rt);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) { /* out of memory */
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "luaio: errors nobody retrieved cannot be reported: "
                    "%s\n", msg != NULL ? msg : "?");
    lua_pop(L, 1);
  }
}

static void drain_cb(void *arg) {
  luaioL_runtime *rt = arg;
  drain(rt->L, rt);
}

/* Appends the value at idx (a box or a context) to the queue and makes
** sure that something delivers it. [-0, +0, m] */
static void queue(lua_State *L, luaioL_runtime *rt, int idx) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &REPORTS_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &REPORTS_KEY);
  }
  lua_pushvalue(L, idx);
  lua_rawseti(L, -2, rt->nreports + 1); /* out of memory, leaves no hole */
  rt->nreports++;
  lua_pop(L, 1);
  if (rt->closing || rt->drain_scheduled)
    return; /* the loop's close reports it, or the drain to come */
  if (rt->loop == NULL) {
    drain(L, rt); /* no loop to wait for */
    return;
  }
  /* A loop callback, so that the handler runs where Lua code may run
  ** (finalizers run inside any allocation). */
  if (luaio_call_soon(rt->loop, drain_cb, rt, NULL, NULL) == 0)
    rt->drain_scheduled = 1;
}

void luaioL_queuereport(lua_State *L, int idx) {
  lfuture *box = lua_touserdata(L, idx);
  luaioL_runtime *rt = box->rt;
  idx = lua_absindex(L, idx);
  if (box->fut != NULL && !box->is_task) {
    /* A collected future keeps its outcome for the handler. */
    box->final = (unsigned char)luaio_future_state(box->fut);
    box->final_err = luaio_future_error(box->fut);
  }
  queue(L, rt, idx);
}

void luaioL_queuecontext(lua_State *L, int idx) {
  queue(L, luaioL_runtime_of(L), lua_absindex(L, idx));
}

void luaioL_drainreports(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->nreports > 0)
    drain(L, rt);
}

/* Reports the errors of failed tasks that nobody retrieved, oldest task
** first: those still alive and those collected but not yet reported.
** Called when a loop closes. [-0, +0, m] */
int luaioL_report_unretrieved(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->lostreports > 0) { /* said without allocating */
    fprintf(stderr, "luaio: %d errors nobody retrieved were lost: not "
                    "enough memory to report them\n", rt->lostreports);
    rt->lostreports = 0;
  }
  lua_newtable(L);
  int list = lua_gettop(L);
  lua_newtable(L); /* contexts, at list + 1 */
  int n = 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &FAILED_KEY);
  int t = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    lfuture *box = lua_touserdata(L, -1);
    if (!box->retrieved && !box->reported) {
      box->reported = 1;
      lua_pushvalue(L, -1);
      lua_rawseti(L, list, ++n);
    }
  }
  lua_pop(L, 1);
  n = take_queue(L, rt, list, n);
  report_list(L, list, n);
  lua_pop(L, 2);
  return 0;
}

/* }====================================================================== */

void luaioL_open_task(lua_State *L) {
  luaioL_setfuncs(L, ltask_funcs);
  /* Task objects: future methods plus their own. */
  /* No __gc: a Task lets go of its core task when the task is done. */
  luaioL_newclass(L, TASK_MT, luaioL_future_methods, ltask_meta);
  luaL_getmetatable(L, TASK_MT);
  lua_pushvalue(L, -1);
  luaioL_rt(L)->task_mt = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, -1, "__index");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, ltask_methods, 2); /* upvalues: runtime, metatable */
  lua_pop(L, 2);
  luaioL_newclass(L, CORO_MT, NULL, lcoro_meta);
  luaL_newmetatable(L, GUARD_MT);
  lua_pushcfunction(L, lguard__gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaioL_newweakset(L, &FAILED_KEY); /* failed boxes not yet reported */
}
