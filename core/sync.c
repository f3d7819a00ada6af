/*
** sync.c - Event, Lock, Semaphore, Condition and Barrier, after CPython's
** asyncio/locks.py (3.12.3 and later). Each wait is split where CPython
** awaits: a call that returns the future to await, and a *_finish call
** that does what follows the await, including the except and finally
** clauses that keep wake-ups from being lost on cancellation.
*/
#include <string.h>

#include "internal.h"

/* {======================================================================
** Waiting: the waiter lists of waiter.c, and how a wait ends here.
** ======================================================================= */

typedef luaio__waiter waiter;
typedef luaio__waitlist waitlist;

enum { PHASE_BLOCKED, PHASE_WAITING }; /* barrier waiters */

/* What a wait ended with: the step's error, else the future's. A future
** still pending means the wait is abandoned: it is cancelled, and the
** wait ends as a cancelled one. */
static int wait_end(luaio_future_t *fut, int err) {
  if (!luaio_future_done(fut)) {
    luaio_future_cancel(fut, NULL);
    if (err == 0)
      err = LUAIO_ECANCELLED;
  }
  return err != 0 ? err : luaio_future_error(fut);
}

/* Ends a wait whose waiter stays queued until then (CPython's finally:
** waiters.remove(fut)). */
static int waiter_finish(waitlist *list, luaio_future_t *fut, int err) {
  waiter *w = luaio__waiter_of(fut, list);
  int rc = wait_end(fut, err);
  luaio__waiter_unlink(w);
  return rc;
}

/* Woken and not cancelled since: the wake-up was handed to this waiter. */
static int waiter_was_woken(const luaio_future_t *fut) {
  return luaio_future_state(fut) == LUAIO_RESOLVED;
}

/* }====================================================================== */

/* {======================================================================
** Event
** ======================================================================= */

struct luaio_event_s {
  luaio_loop_t *loop;
  int refs;
  int value;
  luaio_future_t *setfut; /* owns; shared by every waiter, while clear */
};

luaio_event_t *luaio_event_new(luaio_loop_t *loop) {
  luaio_event_t *ev = luaio__alloc(sizeof *ev);
  if (ev == NULL)
    return NULL;
  memset(ev, 0, sizeof *ev);
  ev->loop = loop;
  ev->refs = 1;
  return ev;
}

int luaio_event_bind(luaio_event_t *ev, luaio_loop_t *loop) {
  return luaio__bind_loop(&ev->loop, loop);
}

void luaio_event_ref(luaio_event_t *ev) { ev->refs++; }

void luaio_event_unref(luaio_event_t *ev) {
  assert(ev->refs > 0);
  if (--ev->refs > 0)
    return;
  if (ev->setfut != NULL)
    luaio_future_unref(ev->setfut);
  luaio__free(ev, sizeof *ev);
}

/* Every waiter waits on one future, so a waiter costs nothing here; its
** done callbacks run in the order the waiters came, as CPython wakes its
** list of futures. */
void luaio_event_set(luaio_event_t *ev) {
  if (ev->value)
    return;
  ev->value = 1;
  if (ev->setfut != NULL) {
    luaio_future_set_result(ev->setfut);
    luaio_future_unref(ev->setfut);
    ev->setfut = NULL;
  }
}

void luaio_event_clear(luaio_event_t *ev) { ev->value = 0; }

int luaio_event_is_set(const luaio_event_t *ev) { return ev->value; }

int luaio_event_wait(luaio_event_t *ev, luaio_future_t **out) {
  *out = NULL;
  if (ev->value)
    return 0;
  assert(ev->loop != NULL); /* an event made without one was bound */
  if (ev->setfut == NULL && (ev->setfut = luaio_future_new(ev->loop)) == NULL)
    return LUAIO_ENOMEM;
  luaio_future_ref(ev->setfut);
  *out = ev->setfut;
  return 0;
}

int luaio_event_wait_finish(luaio_event_t *ev, luaio_future_t *fut,
                            int err) {
  (void)ev;
  (void)fut; /* a cancelled waiter was taken off it by the core */
  return err;
}

/* }====================================================================== */

/* {======================================================================
** Lock. A woken waiter stays first in the queue until it runs, so that
** no acquire can overtake it; it then takes the lock, or, cancelled,
** wakes the next one.
** ======================================================================= */

struct luaio_lock_s {
  luaio_loop_t *loop;
  int refs;
  int locked;
  waitlist waiters;
};

luaio_lock_t *luaio_lock_new(luaio_loop_t *loop) {
  luaio_lock_t *lock = luaio__alloc(sizeof *lock);
  if (lock == NULL)
    return NULL;
  memset(lock, 0, sizeof *lock);
  lock->loop = loop;
  lock->refs = 1;
  return lock;
}

int luaio_lock_bind(luaio_lock_t *lock, luaio_loop_t *loop) {
  return luaio__bind_loop(&lock->loop, loop);
}

void luaio_lock_ref(luaio_lock_t *lock) { lock->refs++; }

void luaio_lock_unref(luaio_lock_t *lock) {
  assert(lock->refs > 0);
  if (--lock->refs > 0)
    return;
  luaio__waitlist_clear(&lock->waiters);
  luaio__free(lock, sizeof *lock);
}

int luaio_lock_locked(const luaio_lock_t *lock) { return lock->locked; }

static void lock_wake_first(luaio_lock_t *lock) {
  waiter *w = lock->waiters.head;
  /* A first waiter that is done will run and either take the lock or
  ** come back here. */
  if (w != NULL && !luaio_future_done(&w->base))
    luaio_future_set_result(&w->base);
}

int luaio_lock_acquire(luaio_lock_t *lock, luaio_future_t **out) {
  *out = NULL;
  if (!lock->locked) {
    /* Fair: only jump the queue when every waiter is cancelled. */
    waiter *w = lock->waiters.head;
    while (w != NULL && luaio_future_cancelled(&w->base))
      w = w->next;
    if (w == NULL) {
      lock->locked = 1;
      return 0;
    }
  }
  waiter *w = luaio__waiter_push(&lock->waiters, lock->loop);
  if (w == NULL)
    return LUAIO_ENOMEM;
  *out = &w->base;
  return 0;
}

int luaio_lock_acquire_finish(luaio_lock_t *lock, luaio_future_t *fut,
                              int err) {
  int rc = waiter_finish(&lock->waiters, fut, err);
  if (rc != 0) {
    /* Not claimed, nor about to be by this waiter: make sure the new
    ** first waiter runs. */
    if (!lock->locked)
      lock_wake_first(lock);
    return rc;
  }
  lock->locked = 1;
  return 0;
}

int luaio_lock_release(luaio_lock_t *lock) {
  if (!lock->locked)
    return LUAIO_EINVALSTATE;
  lock->locked = 0;
  lock_wake_first(lock);
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** Semaphore. Waking a waiter takes a unit for it at once; a woken waiter
** that is cancelled gives its unit back.
** ======================================================================= */

struct luaio_semaphore_s {
  luaio_loop_t *loop;
  int refs;
  int bounded;
  long value;
  long bound; /* the initial value */
  waitlist waiters;
};

luaio_semaphore_t *luaio_semaphore_new(luaio_loop_t *loop, long value,
                                       int bounded) {
  if (value < 0)
    return NULL;
  luaio_semaphore_t *sem = luaio__alloc(sizeof *sem);
  if (sem == NULL)
    return NULL;
  memset(sem, 0, sizeof *sem);
  sem->loop = loop;
  sem->refs = 1;
  sem->bounded = bounded != 0;
  sem->value = sem->bound = value;
  return sem;
}

int luaio_semaphore_bind(luaio_semaphore_t *sem, luaio_loop_t *loop) {
  return luaio__bind_loop(&sem->loop, loop);
}

void luaio_semaphore_ref(luaio_semaphore_t *sem) { sem->refs++; }

void luaio_semaphore_unref(luaio_semaphore_t *sem) {
  assert(sem->refs > 0);
  if (--sem->refs > 0)
    return;
  luaio__waitlist_clear(&sem->waiters);
  luaio__free(sem, sizeof *sem);
}

long luaio_semaphore_value(const luaio_semaphore_t *sem) {
  return sem->value;
}

int luaio_semaphore_locked(const luaio_semaphore_t *sem) {
  if (sem->value == 0)
    return 1;
  /* FIFO: a unit left over still goes to those already waiting. */
  for (waiter *w = sem->waiters.head; w != NULL; w = w->next)
    if (!luaio_future_cancelled(&w->base))
      return 1;
  return 0;
}

/* Wakes the first waiter not done, taking a unit for it. Woken waiters
** stay queued until they run. */
static int sem_wake_next(luaio_semaphore_t *sem) {
  for (waiter *w = sem->waiters.head; w != NULL; w = w->next) {
    if (!luaio_future_done(&w->base)) {
      sem->value--;
      luaio_future_set_result(&w->base);
      return 1;
    }
  }
  return 0;
}

int luaio_semaphore_acquire(luaio_semaphore_t *sem, luaio_future_t **out) {
  *out = NULL;
  if (!luaio_semaphore_locked(sem)) {
    sem->value--;
    return 0;
  }
  waiter *w = luaio__waiter_push(&sem->waiters, sem->loop);
  if (w == NULL)
    return LUAIO_ENOMEM;
  *out = &w->base;
  return 0;
}

int luaio_semaphore_acquire_finish(luaio_semaphore_t *sem,
                                   luaio_future_t *fut, int err) {
  int rc = waiter_finish(&sem->waiters, fut, err);
  if (rc != 0 && waiter_was_woken(fut))
    sem->value++; /* the unit taken for this waiter goes back */
  /* Others may have queued behind this one while units were free. */
  while (sem->value > 0 && sem_wake_next(sem))
    ;
  return rc;
}

int luaio_semaphore_release(luaio_semaphore_t *sem) {
  if (sem->bounded && sem->value >= sem->bound)
    return LUAIO_EVALUE;
  sem->value++;
  sem_wake_next(sem);
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** Condition
** ======================================================================= */

struct luaio_condition_s {
  luaio_loop_t *loop;
  int refs;
  luaio_lock_t *lock; /* owns one reference */
  waitlist waiters;
};

luaio_condition_t *luaio_condition_new(luaio_loop_t *loop,
                                       luaio_lock_t *lock) {
  luaio_condition_t *cond = luaio__alloc(sizeof *cond);
  if (cond == NULL)
    return NULL;
  memset(cond, 0, sizeof *cond);
  cond->loop = loop;
  cond->refs = 1;
  if (lock != NULL) {
    luaio_lock_ref(lock);
    if (lock->loop == NULL)
      lock->loop = loop; /* bound with the condition, if it is */
  } else if ((lock = luaio_lock_new(loop)) == NULL) {
    luaio__free(cond, sizeof *cond);
    return NULL;
  }
  cond->lock = lock;
  return cond;
}

int luaio_condition_bind(luaio_condition_t *cond, luaio_loop_t *loop) {
  if (cond->lock->loop != NULL && cond->lock->loop != loop)
    return LUAIO_EINVALSTATE;
  int rc = luaio__bind_loop(&cond->loop, loop);
  if (rc == 0)
    cond->lock->loop = loop;
  return rc;
}

void luaio_condition_ref(luaio_condition_t *cond) { cond->refs++; }

void luaio_condition_unref(luaio_condition_t *cond) {
  assert(cond->refs > 0);
  if (--cond->refs > 0)
    return;
  luaio__waitlist_clear(&cond->waiters);
  luaio_lock_unref(cond->lock);
  luaio__free(cond, sizeof *cond);
}

luaio_lock_t *luaio_condition_lock(luaio_condition_t *cond) {
  return cond->lock;
}

int luaio_condition_wait_begin(luaio_condition_t *cond,
                               luaio_future_t **out) {
  *out = NULL;
  if (!cond->lock->locked)
    return LUAIO_EINVALSTATE;
  /* The future comes first: out of memory, the lock is still held. */
  waiter *w = luaio__waiter_push(&cond->waiters, cond->loop);
  if (w == NULL)
    return LUAIO_ENOMEM;
  luaio_lock_release(cond->lock);
  *out = &w->base;
  return 0;
}

int luaio_condition_wait_finish(luaio_condition_t *cond, luaio_future_t *fut,
                                int err) {
  return waiter_finish(&cond->waiters, fut, err);
}

/* Notified waiters are popped at once; CPython keeps them until they run
** but skips them, as done, when it notifies again. */
int luaio_condition_notify(luaio_condition_t *cond, size_t n) {
  if (!cond->lock->locked)
    return LUAIO_EINVALSTATE;
  luaio__waitlist_wake(&cond->waiters, n);
  return 0;
}

int luaio_condition_notify_all(luaio_condition_t *cond) {
  return luaio_condition_notify(cond, SIZE_MAX);
}

/* }====================================================================== */

/* {======================================================================
** Barrier. CPython builds it on a Condition whose lock is never held
** across a suspension; here the state is checked directly and the
** condition's notify_all becomes waking every waiter. A waiter woken
** before it could go on (the barrier filled or drained again meanwhile)
** waits again on a new future, as wait_for() loops.
** ======================================================================= */

enum { FILLING, DRAINING, RESETTING, BROKEN };

struct luaio_barrier_s {
  luaio_loop_t *loop;
  int refs;
  int state;
  long parties;
  long count; /* tasks inside the barrier: waiting, or woken and not out */
  waitlist waiters;
};

luaio_barrier_t *luaio_barrier_new(luaio_loop_t *loop, long parties) {
  if (parties < 1)
    return NULL;
  luaio_barrier_t *b = luaio__alloc(sizeof *b);
  if (b == NULL)
    return NULL;
  memset(b, 0, sizeof *b);
  b->loop = loop;
  b->refs = 1;
  b->state = FILLING;
  b->parties = parties;
  return b;
}

int luaio_barrier_bind(luaio_barrier_t *b, luaio_loop_t *loop) {
  return luaio__bind_loop(&b->loop, loop);
}

void luaio_barrier_ref(luaio_barrier_t *b) { b->refs++; }

void luaio_barrier_unref(luaio_barrier_t *b) {
  assert(b->refs > 0);
  if (--b->refs > 0)
    return;
  luaio__waitlist_clear(&b->waiters);
  luaio__free(b, sizeof *b);
}

long luaio_barrier_parties(const luaio_barrier_t *b) { return b->parties; }

long luaio_barrier_n_waiting(const luaio_barrier_t *b) {
  return b->state == FILLING ? b->count : 0;
}

int luaio_barrier_broken(const luaio_barrier_t *b) {
  return b->state == BROKEN;
}

static void barrier_notify_all(luaio_barrier_t *b) {
  luaio__waitlist_wake(&b->waiters, SIZE_MAX);
}

/* A task leaves the barrier (CPython's finally: count -= 1; _exit()).
** The last one out ends draining or resetting. */
static void barrier_leave(luaio_barrier_t *b) {
  if (--b->count == 0) {
    if (b->state == RESETTING || b->state == DRAINING)
      b->state = FILLING;
    barrier_notify_all(b);
  }
}

static int barrier_wait_as(luaio_barrier_t *b, int phase, long index,
                           luaio_future_t **out) {
  waiter *w = luaio__waiter_push(&b->waiters, b->loop);
  if (w == NULL)
    return LUAIO_ENOMEM;
  w->phase = phase;
  w->index = index;
  *out = &w->base;
  return 0;
}

/* _block(), then the body of wait() up to its first suspension. */
static int barrier_enter(luaio_barrier_t *b, luaio_future_t **out,
                         long *index) {
  *out = NULL;
  if (b->state == DRAINING || b->state == RESETTING)
    return barrier_wait_as(b, PHASE_BLOCKED, -1, out);
  if (b->state == BROKEN)
    return LUAIO_EBROKEN;
  long i = b->count;
  if (i + 1 == b->parties) {
    /* The last party trips the barrier and, suspending nowhere, leaves
    ** at once; the others leave as they run. */
    b->count++;
    b->state = DRAINING;
    barrier_notify_all(b);
    barrier_leave(b);
    *index = i;
    return 0;
  }
  int rc = barrier_wait_as(b, PHASE_WAITING, i, out);
  if (rc == 0)
    b->count++;
  return rc;
}

int luaio_barrier_wait(luaio_barrier_t *b, luaio_future_t **out,
                       long *index) {
  return barrier_enter(b, out, index);
}

int luaio_barrier_wait_finish(luaio_barrier_t *b, luaio_future_t *fut,
                              int err, luaio_future_t **out, long *index) {
  waiter *w = luaio__waiter_of(fut, &b->waiters);
  int rc = wait_end(fut, err);
  luaio__waiter_unlink(w);
  *out = NULL;
  if (w->phase == PHASE_BLOCKED)
    return rc != 0 ? rc : barrier_enter(b, out, index);
  /* Inside the barrier: every way out goes through barrier_leave(). */
  if (rc == 0 && b->state == FILLING) {
    rc = barrier_wait_as(b, PHASE_WAITING, w->index, out);
    if (rc == 0)
      return 0;
  } else if (rc == 0 && (b->state == BROKEN || b->state == RESETTING)) {
    rc = LUAIO_EBROKEN;
  }
  barrier_leave(b);
  if (rc == 0)
    *index = w->index;
  return rc;
}

void luaio_barrier_reset(luaio_barrier_t *b) {
  if (b->count > 0)
    b->state = RESETTING; /* those inside fail; the last out refills it */
  else
    b->state = FILLING;
  barrier_notify_all(b);
}

void luaio_barrier_abort(luaio_barrier_t *b) {
  b->state = BROKEN;
  barrier_notify_all(b);
}

/* }====================================================================== */
