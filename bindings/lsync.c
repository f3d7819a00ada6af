/*
** lsync.c - asyncio.Event, Lock, Semaphore, BoundedSemaphore, Condition
** and Barrier: the Lua face of core/sync.c. Each wait follows lqueue.c:
** the waiter future is owned by a Future box on the stack, the task
** awaits it, and the continuation hands it to the core's *_finish.
*/
#include <limits.h>
#include <string.h>

#include "lbind.h"

#define EVENT_MT "asyncio.Event"
#define LOCK_MT "asyncio.Lock"
#define SEMAPHORE_MT "asyncio.Semaphore"
#define BSEMAPHORE_MT "asyncio.BoundedSemaphore"
#define CONDITION_MT "asyncio.Condition"
#define BARRIER_MT "asyncio.Barrier"
#define GUARD_MT "asyncio.Guard"

/* Each box owns one reference to its core object. Its user value 1 is
** the number of the loop it is bound to, nil until its first wait binds
** it to the running one (asyncio 3.10's _LoopBoundMixin): waits allocate
** futures on that loop, so they must run on it. A loop's address may be
** reused by the next one, its number is not. A Condition's user value 2
** is the Lock box it was made on, if any. */
typedef struct {
  luaio_event_t *ev;
} levent;

typedef struct {
  luaio_lock_t *lock;
} llock;

typedef struct {
  luaio_semaphore_t *sem;
} lsemaphore;

typedef struct {
  luaio_condition_t *cond;
} lcondition;

typedef struct {
  luaio_barrier_t *b;
} lbarrier;

/* A guard: user value 1 is the object, 2 its release function. */
typedef struct {
  int armed; /* still holds what it acquired */
} lguard;

static levent *checkevent(lua_State *L) {
  return luaioL_checkobject(L, EVENT_MT);
}

static llock *checklock(lua_State *L) {
  return luaioL_checkobject(L, LOCK_MT);
}

static lsemaphore *checksemaphore(lua_State *L) {
  lsemaphore *s = luaL_testudata(L, 1, SEMAPHORE_MT);
  if (s == NULL)
    s = luaL_testudata(L, 1, BSEMAPHORE_MT);
  if (s == NULL)
    luaioL_selferror(L, SEMAPHORE_MT);
  return s;
}

static lcondition *checkcondition(lua_State *L) {
  return luaioL_checkobject(L, CONDITION_MT);
}

static lbarrier *checkbarrier(lua_State *L) {
  return luaioL_checkobject(L, BARRIER_MT);
}

/* {======================================================================
** Waiting
** ======================================================================= */


/* The class of the object at idx without "asyncio.", as "Lock". */
static const char *classname(lua_State *L, int idx) {
  const char *name = "object";
  if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING) {
    name = lua_tostring(L, -1) + sizeof "asyncio." - 1;
    lua_pop(L, 1); /* the metatable still holds the string */
  }
  return name;
}

/* Binds the object at idx, unbound, to the running loop: its core object
** and its user value 1. [-0, +0, v] */
static void bindbox(lua_State *L, int idx, const char *fname) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  void *box = lua_touserdata(L, idx);
  int rc;
  if (luaL_testudata(L, idx, EVENT_MT) != NULL)
    rc = luaio_event_bind(((levent *)box)->ev, rt->loop);
  else if (luaL_testudata(L, idx, LOCK_MT) != NULL)
    rc = luaio_lock_bind(((llock *)box)->lock, rt->loop);
  else if (luaL_testudata(L, idx, CONDITION_MT) != NULL) {
    /* Its lock must be bound to the same loop, or to none yet. */
    if (lua_getiuservalue(L, idx, 2) == LUA_TUSERDATA) {
      int lock = lua_gettop(L);
      if (lua_getiuservalue(L, lock, 1) == LUA_TNIL)
        bindbox(L, lock, fname);
      else if (lua_tointeger(L, -1) != (lua_Integer)rt->gen)
        luaL_error(L,
                   "%s: this Condition's Lock is bound to a different "
                   "event loop (the first to wait on it); make a Lock "
                   "for each asyncio.run",
                   fname);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    rc = luaio_condition_bind(((lcondition *)box)->cond, rt->loop);
  } else if (luaL_testudata(L, idx, BARRIER_MT) != NULL)
    rc = luaio_barrier_bind(((lbarrier *)box)->b, rt->loop);
  else
    rc = luaio_semaphore_bind(((lsemaphore *)box)->sem, rt->loop);
  luaioL_check(L, rc, fname); /* the numbers agreed: not expected */
  lua_pushinteger(L, (lua_Integer)rt->gen);
  lua_setiuservalue(L, idx, 1);
}

/* Checks that a wait on the object at 1 may begin: a loop must run, and
** the object be bound to it, or to none yet (then it is bound now).
** Returns the running task when L can suspend, else NULL; then a wait
** the core begins must be abandoned (by calling its *_finish at once)
** and luaioL_checktask called for the error that says why.
** [-0, +0, v] */
static lfuture *beginwait(lua_State *L, const char *fname) {
  luaioL_checkloop(L, fname);
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (lua_getiuservalue(L, 1, 1) == LUA_TNIL)
    bindbox(L, 1, fname);
  else if (lua_tointeger(L, -1) != (lua_Integer)rt->gen)
    luaL_error(L,
               "%s: this %s is bound to a different event loop (the first "
               "to wait on it); make one for each asyncio.run",
               fname, classname(L, 1));
  lua_pop(L, 1);
  lfuture *task = rt->current;
  if (task == NULL || task->co != L || !lua_isyieldable(L))
    return NULL;
  return task;
}

/* After a wait was begun and abandoned at once: drops the caller's
** reference to its fut and raises the error that says why the caller
** cannot wait. */
static int cannotwait(lua_State *L, luaio_future_t *fut, const char *fname) {
  luaio_future_unref(fut);
  luaioL_checktask(L, fname);
  return luaL_error(L, "%s cannot wait here", fname); /* not reached */
}

/* Pushes true, what a wait returns when it is over. */
static int waited(lua_State *L) {
  lua_pushboolean(L, 1);
  return 1;
}

/* }====================================================================== */

/* {======================================================================
** Event
** ======================================================================= */

static int levent_set(lua_State *L) {
  luaio_event_set(checkevent(L)->ev);
  return 0;
}

static int levent_clear(lua_State *L) {
  luaio_event_clear(checkevent(L)->ev);
  return 0;
}

static int levent_is_set(lua_State *L) {
  lua_pushboolean(L, luaio_event_is_set(checkevent(L)->ev));
  return 1;
}

static int levent_wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  levent *e = lua_touserdata(L, 1);
  int rc = luaio_event_wait_finish(e->ev, NULL, luaioL_resumeerr(L));
  if (rc != 0)
    return luaioL_raisewait(L, rc, "wait");
  return waited(L);
}

static int levent_wait(lua_State *L) {
  levent *e = checkevent(L);
  lua_settop(L, 1);
  lfuture *task = beginwait(L, "wait");
  luaio_future_t *fut;
  luaioL_check(L, luaio_event_wait(e->ev, &fut), "wait");
  if (fut == NULL)
    return waited(L);
  if (task == NULL)
    return cannotwait(L, fut, "wait");
  /* Every waiter shares fut; nothing is made per waiter. */
  return luaioL_await_shared(L, task, fut, 0, levent_wait_k);
}

static int levent__tostring(lua_State *L) {
  levent *e = checkevent(L);
  lua_pushfstring(L, "asyncio.Event (%s)",
                  luaio_event_is_set(e->ev) ? "set" : "unset");
  return 1;
}

static int levent__gc(lua_State *L) {
  levent *e = lua_touserdata(L, 1);
  if (e->ev != NULL) {
    luaio_event_unref(e->ev);
    e->ev = NULL;
  }
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** Lock. Lock and Condition share acquire and release on a core lock.
** ======================================================================= */

/* The core lock of the Lock or Condition at 1. */
static luaio_lock_t *tolock(lua_State *L) {
  llock *l = luaL_testudata(L, 1, LOCK_MT);
  if (l != NULL)
    return l->lock;
  lcondition *c = luaL_testudata(L, 1, CONDITION_MT);
  if (c != NULL)
    return luaio_condition_lock(c->cond);
  luaioL_selferror(L, LOCK_MT " or " CONDITION_MT);
  return NULL;
}

static int acquire_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaio_lock_t *lock = tolock(L);
  lfuture *w = lua_touserdata(L, (int)ctx);
  int rc = luaio_lock_acquire_finish(lock, w->fut, luaioL_resumeerr(L));
  if (rc != 0)
    return luaioL_raisewait(L, rc, "acquire");
  return waited(L);
}

static int llock_acquire(lua_State *L) {
  luaio_lock_t *lock = tolock(L);
  lua_settop(L, 1);
  lfuture *task = beginwait(L, "acquire");
  luaio_future_t *fut;
  luaioL_check(L, luaio_lock_acquire(lock, &fut), "acquire");
  if (fut == NULL)
    return waited(L);
  if (task == NULL) {
    luaio_lock_acquire_finish(lock, fut, LUAIO_ECANCELLED);
    return cannotwait(L, fut, "acquire");
  }
  luaioL_pushfuture(L, fut); /* owns fut; at 2 */
  return luaioL_await(L, task, fut, 2, acquire_k);
}

static int llock_release(lua_State *L) {
  luaio_lock_t *lock = tolock(L);
  if (luaio_lock_release(lock) != 0)
    return luaL_error(L, "release: the lock is not acquired (release must "
                         "follow a successful acquire)");
  return 0;
}

static int llock_locked(lua_State *L) {
  lua_pushboolean(L, luaio_lock_locked(tolock(L)));
  return 1;
}

static int llock__tostring(lua_State *L) {
  llock *l = checklock(L);
  lua_pushfstring(L, "asyncio.Lock (%s)",
                  luaio_lock_locked(l->lock) ? "locked" : "unlocked");
  return 1;
}

static int llock__gc(lua_State *L) {
  llock *l = lua_touserdata(L, 1);
  if (l->lock != NULL) {
    luaio_lock_unref(l->lock);
    l->lock = NULL;
  }
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** Semaphore and BoundedSemaphore
** ======================================================================= */

static int lsemaphore_acquire_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lsemaphore *s = lua_touserdata(L, 1);
  lfuture *w = lua_touserdata(L, (int)ctx);
  int rc = luaio_semaphore_acquire_finish(s->sem, w->fut, luaioL_resumeerr(L));
  if (rc != 0)
    return luaioL_raisewait(L, rc, "acquire");
  return waited(L);
}

static int lsemaphore_acquire(lua_State *L) {
  lsemaphore *s = checksemaphore(L);
  lua_settop(L, 1);
  lfuture *task = beginwait(L, "acquire");
  luaio_future_t *fut;
  luaioL_check(L, luaio_semaphore_acquire(s->sem, &fut), "acquire");
  if (fut == NULL)
    return waited(L);
  if (task == NULL) {
    luaio_semaphore_acquire_finish(s->sem, fut, LUAIO_ECANCELLED);
    return cannotwait(L, fut, "acquire");
  }
  luaioL_pushfuture(L, fut); /* owns fut; at 2 */
  return luaioL_await(L, task, fut, 2, lsemaphore_acquire_k);
}

static int lsemaphore_release(lua_State *L) {
  lsemaphore *s = checksemaphore(L);
  int rc = luaio_semaphore_release(s->sem);
  if (rc == LUAIO_EVALUE)
    return luaL_error(L, "release: BoundedSemaphore released too many times");
  return luaioL_check(L, rc, "release");
}

static int lsemaphore_locked(lua_State *L) {
  lua_pushboolean(L, luaio_semaphore_locked(checksemaphore(L)->sem));
  return 1;
}

static int lsemaphore__tostring(lua_State *L) {
  lsemaphore *s = checksemaphore(L);
  lua_pushfstring(L, "asyncio.%s (%s, value %I)", classname(L, 1),
                  luaio_semaphore_locked(s->sem) ? "locked" : "unlocked",
                  (lua_Integer)luaio_semaphore_value(s->sem));
  return 1;
}

static int lsemaphore__gc(lua_State *L) {
  lsemaphore *s = lua_touserdata(L, 1);
  if (s->sem != NULL) {
    luaio_semaphore_unref(s->sem);
    s->sem = NULL;
  }
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** Condition. wait() follows the recipe in luaio.h. Its stack: the
** condition at 1, the notification's waiter box at 2, the outcome of the
** wait (an integer) at 3, and the box of the lock's waiter at 4 while
** the lock is being re-acquired. The continuation's ctx says which.
** ======================================================================= */

enum { COND_NOTIFIED, COND_RELOCKED };

static int lcondition_wait_k(lua_State *L, int status, lua_KContext ctx);

/* The lock is held again: raise what ended the wait, if anything. */
static int cond_wait_end(lua_State *L, lcondition *c) {
  int rc = (int)lua_tointeger(L, 3);
  if (rc == 0)
    return waited(L);
  /* This waiter may have taken a notification: pass it on. */
  luaio_condition_notify(c->cond, 1);
  return luaioL_raisewait(L, rc, "wait");
}

/* Re-acquires the lock, even when the wait was cancelled. */
static int cond_relock(lua_State *L, lcondition *c) {
  luaio_lock_t *lock = luaio_condition_lock(c->cond);
  lua_settop(L, 3);
  luaio_future_t *fut;
  luaioL_check(L, luaio_lock_acquire(lock, &fut), "wait");
  if (fut == NULL)
    return cond_wait_end(L, c);
  luaioL_pushfuture(L, fut); /* owns fut; at 4 */
  lfuture *task = luaioL_checktask(L, "wait");
  return luaioL_await(L, task, fut, COND_RELOCKED, lcondition_wait_k);
}

static int lcondition_wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lcondition *c = lua_touserdata(L, 1);
  int err = luaioL_resumeerr(L);
  if (ctx == COND_NOTIFIED) {
    lfuture *w = lua_touserdata(L, 2);
    int rc = luaio_condition_wait_finish(c->cond, w->fut, err);
    lua_settop(L, 2);
    lua_pushinteger(L, rc); /* at 3 */
    return cond_relock(L, c);
  }
  lfuture *w = lua_touserdata(L, 4);
  luaio_lock_t *lock = luaio_condition_lock(c->cond);
  int rc = luaio_lock_acquire_finish(lock, w->fut, err);
  if (rc == 0)
    return cond_wait_end(L, c);
  if (rc != LUAIO_ECANCELLED)
    return luaioL_raisewait(L, rc, "wait"); /* without the lock */
  /* Cancelled again: keep the latest cancellation and try again. */
  lua_pushinteger(L, rc);
  lua_replace(L, 3);
  return cond_relock(L, c);
}

static int lcondition_wait(lua_State *L) {
  lcondition *c = checkcondition(L);
  lua_settop(L, 1);
  if (!luaio_lock_locked(luaio_condition_lock(c->cond)))
    return luaL_error(L, "wait: the condition's lock is not acquired "
                         "(call acquire first)");
  lfuture *task = beginwait(L, "wait");
  if (task == NULL)
    luaioL_checktask(L, "wait"); /* before the lock is released */
  luaio_future_t *fut;
  luaioL_check(L, luaio_condition_wait_begin(c->cond, &fut), "wait");
  luaioL_pushfuture(L, fut); /* owns fut; at 2 */
  return luaioL_await(L, task, fut, COND_NOTIFIED, lcondition_wait_k);
}

/* wait_for: the predicate's result at the top (ctx 0), or back from a
** wait (ctx 1). Stack: the condition at 1, the predicate at 2. */
static int lcondition_wait_for_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  for (;;) {
    if (ctx == 0) {
      if (lua_toboolean(L, -1))
        return 1;
      lua_settop(L, 2);
      lua_pushcfunction(L, lcondition_wait);
      lua_pushvalue(L, 1);
      lua_callk(L, 1, 0, 1, lcondition_wait_for_k);
    }
    lua_settop(L, 2);
    lua_pushvalue(L, 2);
    lua_callk(L, 0, 1, 0, lcondition_wait_for_k);
    ctx = 0;
  }
}

static int lcondition_wait_for(lua_State *L) {
  checkcondition(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  return lcondition_wait_for_k(L, LUA_OK, 1);
}

static int lcondition_notify(lua_State *L) {
  lcondition *c = checkcondition(L);
  lua_Integer n = luaL_optinteger(L, 2, 1);
  luaL_argcheck(L, n >= 0, 2, "must be a non-negative integer");
  if (luaio_condition_notify(c->cond, (size_t)n) != 0)
    return luaL_error(L, "notify: the condition's lock is not acquired "
                         "(call acquire first)");
  return 0;
}

static int lcondition_notify_all(lua_State *L) {
  lcondition *c = checkcondition(L);
  if (luaio_condition_notify_all(c->cond) != 0)
    return luaL_error(L, "notify_all: the condition's lock is not acquired "
                         "(call acquire first)");
  return 0;
}

static int lcondition__tostring(lua_State *L) {
  lcondition *c = checkcondition(L);
  lua_pushfstring(
      L, "asyncio.Condition (%s)",
      luaio_lock_locked(luaio_condition_lock(c->cond)) ? "locked" : "unlocked");
  return 1;
}

static int lcondition__gc(lua_State *L) {
  lcondition *c = lua_touserdata(L, 1);
  if (c->cond != NULL) {
    luaio_condition_unref(c->cond);
    c->cond = NULL;
  }
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** Barrier. A wait may take several futures (luaio.h); each in turn is
** owned by the box at 2.
** ======================================================================= */

static int lbarrier_wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lbarrier *b = lua_touserdata(L, 1);
  lfuture *w = lua_touserdata(L, (int)ctx);
  luaio_future_t *next;
  long index;
  int rc = luaio_barrier_wait_finish(b->b, w->fut, luaioL_resumeerr(L), &next,
                                     &index);
  lua_settop(L, 1); /* drops the future just awaited */
  if (rc != 0)
    return luaioL_raisewait(L, rc, "wait");
  if (next == NULL) {
    lua_pushinteger(L, index);
    return 1;
  }
  luaioL_pushfuture(L, next); /* owns next; at 2 */
  lfuture *task = luaioL_checktask(L, "wait");
  return luaioL_await(L, task, next, 2, lbarrier_wait_k);
}

static int lbarrier_wait(lua_State *L) {
  lbarrier *b = checkbarrier(L);
  lua_settop(L, 1);
  lfuture *task = beginwait(L, "wait");
  luaio_future_t *fut;
  long index;
  int rc = luaio_barrier_wait(b->b, &fut, &index);
  if (rc != 0)
    return luaioL_raisewait(L, rc, "wait");
  if (fut == NULL) {
    lua_pushinteger(L, index);
    return 1;
  }
  if (task == NULL) {
    luaio_future_t *next;
    luaio_barrier_wait_finish(b->b, fut, LUAIO_ECANCELLED, &next, &index);
    return cannotwait(L, fut, "wait");
  }
  luaioL_pushfuture(L, fut); /* owns fut; at 2 */
  return luaioL_await(L, task, fut, 2, lbarrier_wait_k);
}

static int lbarrier_reset(lua_State *L) {
  luaio_barrier_reset(checkbarrier(L)->b);
  return 0;
}

static int lbarrier_abort(lua_State *L) {
  luaio_barrier_abort(checkbarrier(L)->b);
  return 0;
}

static int lbarrier_parties(lua_State *L) {
  lua_pushinteger(L, luaio_barrier_parties(checkbarrier(L)->b));
  return 1;
}

static int lbarrier_n_waiting(lua_State *L) {
  lua_pushinteger(L, luaio_barrier_n_waiting(checkbarrier(L)->b));
  return 1;
}

static int lbarrier_broken(lua_State *L) {
  lua_pushboolean(L, luaio_barrier_broken(checkbarrier(L)->b));
  return 1;
}

static int lbarrier__tostring(lua_State *L) {
  lbarrier *b = checkbarrier(L);
  if (luaio_barrier_broken(b->b))
    lua_pushliteral(L, "asyncio.Barrier (broken)");
  else
    lua_pushfstring(L, "asyncio.Barrier (waiters %I/%I)",
                    (lua_Integer)luaio_barrier_n_waiting(b->b),
                    (lua_Integer)luaio_barrier_parties(b->b));
  return 1;
}

static int lbarrier__gc(lua_State *L) {
  lbarrier *b = lua_touserdata(L, 1);
  if (b->b != NULL) {
    luaio_barrier_unref(b->b);
    b->b = NULL;
  }
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** Scope forms: obj:with(fn, ...) and obj:guard(). The acquire and
** release functions are called as Lua functions (lua_callk), so that
** acquire may suspend and be resumed inside them.
** ======================================================================= */

/* Stack: object, release, fn, args... ; fn's values or its error above
** the release function once it returned. */
static int with_done_k(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 0); /* release, on success, error and cancellation */
  if (status != LUA_OK && status != LUA_YIELD)
    return lua_error(L);
  return lua_gettop(L) - 2;
}

static int with_acquired_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  int nargs = lua_gettop(L) - 3;
  status = lua_pcallk(L, nargs, LUA_MULTRET, 0, 0, with_done_k);
  return with_done_k(L, status, 0);
}

static int with(lua_State *L, lua_CFunction acquire, lua_CFunction release) {
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushcfunction(L, release);
  lua_insert(L, 2);
  lua_pushcfunction(L, acquire);
  lua_pushvalue(L, 1);
  lua_callk(L, 1, 0, 0, with_acquired_k); /* acquire failed: nothing held */
  return with_acquired_k(L, LUA_OK, 0);
}

/* Stack: object, release. */
static int guard_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  lguard *g = lua_newuserdatauv(L, sizeof *g, 2);
  g->armed = 1;
  luaL_setmetatable(L, GUARD_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, -2, 2);
  return 1;
}

static int guard(lua_State *L, lua_CFunction acquire, lua_CFunction release) {
  lua_settop(L, 1);
  lua_pushcfunction(L, release);
  lua_pushcfunction(L, acquire);
  lua_pushvalue(L, 1);
  lua_callk(L, 1, 0, 0, guard_k);
  return guard_k(L, LUA_OK, 0);
}

/* Releases once, however often the guard is closed. */
static int lguard__close(lua_State *L) {
  lguard *g = luaL_checkudata(L, 1, GUARD_MT);
  if (!g->armed)
    return 0;
  g->armed = 0;
  lua_getiuservalue(L, 1, 2);
  lua_getiuservalue(L, 1, 1);
  lua_call(L, 1, 0);
  return 0;
}

static int lguard__tostring(lua_State *L) {
  int armed = ((lguard *)luaL_checkudata(L, 1, GUARD_MT))->armed;
  lua_getiuservalue(L, 1, 1);
  lua_replace(L, 1);
  lua_pushfstring(L, "asyncio.Guard of asyncio.%s (%s)", classname(L, 1),
                  armed ? "held" : "released");
  return 1;
}

static int llock_with(lua_State *L) {
  checklock(L);
  return with(L, llock_acquire, llock_release);
}

static int llock_guard(lua_State *L) {
  checklock(L);
  return guard(L, llock_acquire, llock_release);
}

static int lsemaphore_with(lua_State *L) {
  checksemaphore(L);
  return with(L, lsemaphore_acquire, lsemaphore_release);
}

static int lsemaphore_guard(lua_State *L) {
  checksemaphore(L);
  return guard(L, lsemaphore_acquire, lsemaphore_release);
}

static int lcondition_with(lua_State *L) {
  checkcondition(L);
  return with(L, llock_acquire, llock_release);
}

static int lcondition_guard(lua_State *L) {
  checkcondition(L);
  return guard(L, llock_acquire, llock_release);
}

/* }====================================================================== */

/* {======================================================================
** Constructors
** ======================================================================= */

/* Pushes a new box of size bytes with metatable tname and nuv user
** values, bound to no loop yet. [-0, +1, m] */
static void *newbox(lua_State *L, size_t size, const char *tname, int nuv) {
  void *box = lua_newuserdatauv(L, size, nuv);
  memset(box, 0, size); /* NULL: safe to collect */
  luaL_setmetatable(L, tname);
  return box;
}

static int lsync_event(lua_State *L) {
  levent *e = newbox(L, sizeof *e, EVENT_MT, 1);
  if ((e->ev = luaio_event_new(NULL)) == NULL)
    return luaL_error(L, "not enough memory");
  return 1;
}

static int lsync_lock(lua_State *L) {
  llock *l = newbox(L, sizeof *l, LOCK_MT, 1);
  if ((l->lock = luaio_lock_new(NULL)) == NULL)
    return luaL_error(L, "not enough memory");
  return 1;
}

static int newsemaphore(lua_State *L, int bounded) {
  lua_Integer value = luaL_optinteger(L, 1, 1);
  luaL_argcheck(L, value >= 0 && value <= LONG_MAX, 1,
                "initial value must be >= 0");
  lsemaphore *s =
      newbox(L, sizeof *s, bounded ? BSEMAPHORE_MT : SEMAPHORE_MT, 1);
  s->sem = luaio_semaphore_new(NULL, (long)value, bounded);
  if (s->sem == NULL)
    return luaL_error(L, "not enough memory");
  return 1;
}

static int lsync_semaphore(lua_State *L) {
  return newsemaphore(L, 0);
}

static int lsync_bounded_semaphore(lua_State *L) {
  return newsemaphore(L, 1);
}

static int lsync_condition(lua_State *L) {
  luaio_lock_t *lock = NULL;
  lua_settop(L, 1);
  if (!lua_isnil(L, 1)) {
    llock *l = luaL_testudata(L, 1, LOCK_MT);
    if (l == NULL)
      return luaL_typeerror(L, 1, "asyncio.Lock or nil");
    lock = l->lock;
  }
  lcondition *c = newbox(L, sizeof *c, CONDITION_MT, 2);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 2); /* the Lock box, or nil */
  if ((c->cond = luaio_condition_new(NULL, lock)) == NULL)
    return luaL_error(L, "not enough memory");
  return 1;
}

static int lsync_barrier(lua_State *L) {
  lua_Integer parties = luaL_checkinteger(L, 1);
  luaL_argcheck(L, parties >= 1 && parties <= LONG_MAX, 1,
                "parties must be >= 1");
  lbarrier *b = newbox(L, sizeof *b, BARRIER_MT, 1);
  if ((b->b = luaio_barrier_new(NULL, (long)parties)) == NULL)
    return luaL_error(L, "not enough memory");
  return 1;
}

/* }====================================================================== */

static const luaL_Reg lsync_funcs[] = {
    {"Event", lsync_event},
    {"Lock", lsync_lock},
    {"Semaphore", lsync_semaphore},
    {"BoundedSemaphore", lsync_bounded_semaphore},
    {"Condition", lsync_condition},
    {"Barrier", lsync_barrier},
    {NULL, NULL}};

static const luaL_Reg levent_methods[] = {{"set", levent_set},
                                          {"clear", levent_clear},
                                          {"is_set", levent_is_set},
                                          {"wait", levent_wait},
                                          {NULL, NULL}};

static const luaL_Reg levent_meta[] = {
    {"__gc", levent__gc}, {"__tostring", levent__tostring}, {NULL, NULL}};

static const luaL_Reg llock_methods[] = {
    {"acquire", llock_acquire}, {"release", llock_release},
    {"locked", llock_locked},   {"with", llock_with},
    {"guard", llock_guard},     {NULL, NULL}};

static const luaL_Reg llock_meta[] = {
    {"__gc", llock__gc}, {"__tostring", llock__tostring}, {NULL, NULL}};

static const luaL_Reg lsemaphore_methods[] = {
    {"acquire", lsemaphore_acquire}, {"release", lsemaphore_release},
    {"locked", lsemaphore_locked},   {"with", lsemaphore_with},
    {"guard", lsemaphore_guard},     {NULL, NULL}};

static const luaL_Reg lsemaphore_meta[] = {{"__gc", lsemaphore__gc},
                                           {"__tostring", lsemaphore__tostring},
                                           {NULL, NULL}};

static const luaL_Reg lcondition_methods[] = {
    {"acquire", llock_acquire},
    {"release", llock_release},
    {"locked", llock_locked},
    {"wait", lcondition_wait},
    {"wait_for", lcondition_wait_for},
    {"notify", lcondition_notify},
    {"notify_all", lcondition_notify_all},
    {"with", lcondition_with},
    {"guard", lcondition_guard},
    {NULL, NULL}};

static const luaL_Reg lcondition_meta[] = {{"__gc", lcondition__gc},
                                           {"__tostring", lcondition__tostring},
                                           {NULL, NULL}};

static const luaL_Reg lbarrier_methods[] = {{"wait", lbarrier_wait},
                                            {"reset", lbarrier_reset},
                                            {"abort", lbarrier_abort},
                                            {"parties", lbarrier_parties},
                                            {"n_waiting", lbarrier_n_waiting},
                                            {"broken", lbarrier_broken},
                                            {NULL, NULL}};

static const luaL_Reg lbarrier_meta[] = {
    {"__gc", lbarrier__gc}, {"__tostring", lbarrier__tostring}, {NULL, NULL}};

static const luaL_Reg lguard_meta[] = {
    {"__close", lguard__close}, {"__tostring", lguard__tostring}, {NULL, NULL}};

void luaioL_open_sync(lua_State *L) {
  luaioL_setfuncs(L, lsync_funcs);
  luaioL_newclass(L, EVENT_MT, levent_methods, levent_meta);
  luaioL_newclass(L, LOCK_MT, llock_methods, llock_meta);
  luaioL_newclass(L, SEMAPHORE_MT, lsemaphore_methods, lsemaphore_meta);
  luaioL_newclass(L, BSEMAPHORE_MT, lsemaphore_methods, lsemaphore_meta);
  luaioL_newclass(L, CONDITION_MT, lcondition_methods, lcondition_meta);
  luaioL_newclass(L, BARRIER_MT, lbarrier_methods, lbarrier_meta);
  luaioL_newclass(L, GUARD_MT, NULL, lguard_meta);
}
