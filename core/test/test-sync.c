/*
** test-sync.c - Event, Lock, Semaphore, BoundedSemaphore, Condition and
** Barrier: FIFO wake-ups, cancellation of waiters woken or not, and the
** barrier's states.
**
** Each task runs a small script through actor_step(), which drives every
** wait as a binding does: begin it, await the future, finish it.
*/
#include "luaio.h"
#include "test.h"

typedef struct {
  luaio_loop_t *loop;
  luaio_event_t *ev;
  luaio_lock_t *lock; /* the condition's */
  luaio_semaphore_t *sem;
  luaio_condition_t *cond;
  luaio_barrier_t *bar;
} ctx_t;

static ctx_t S;

static void ctx_open(long sem_value, int bounded, long parties) {
  test_alloc_install();
  memset(&S, 0, sizeof S);
  S.loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(S.loop);
  S.ev = luaio_event_new(S.loop);
  S.cond = luaio_condition_new(S.loop, NULL);
  S.sem = luaio_semaphore_new(S.loop, sem_value, bounded);
  S.bar = luaio_barrier_new(S.loop, parties);
  ASSERT_NOT_NULL(S.ev);
  ASSERT_NOT_NULL(S.cond);
  ASSERT_NOT_NULL(S.sem);
  ASSERT_NOT_NULL(S.bar);
  S.lock = luaio_condition_lock(S.cond);
}

/* {======================================================================
** Actors: tasks running scripts of operations.
** ======================================================================= */

enum { END, YIELD, EV_WAIT, EV_SET, EV_CLEAR, LK_ACQ, LK_REL, SEM_ACQ,
       SEM_REL, CV_WAIT, CV_NOTIFY, CV_NOTIFY_ALL, BAR_WAIT, BAR_RESET,
       BAR_ABORT };

typedef struct {
  int op, arg;
} op_t;

typedef struct {
  const char *name;
  const op_t *ops;
  int pc;
  luaio_future_t *fut; /* owns: the wait in progress, or NULL */
  int relocking;       /* CV_WAIT: re-acquiring the lock */
  int cv_rc;           /* CV_WAIT: the outcome to raise once relocked */
  int held;            /* holds S.lock: released when the task raises */
  luaio_task_t *task;  /* owns */
} actor;

/* The error reaches the top of the task, which ends with it; as in
** `async with lock`, a lock held is released on the way. */
static int actor_raise(actor *a, int rc) {
  test_logf("%s!%s", a->name, luaio_err_name(rc));
  if (a->held) {
    a->held = 0;
    ASSERT_OK(luaio_lock_release(S.lock));
    test_logf("%s:released", a->name);
  }
  return rc;
}

static int await_fut(luaio_task_t *t, actor *a, luaio_future_t *fut) {
  a->fut = fut;
  ASSERT_OK(luaio_task_await(t, fut));
  return LUAIO_STEP_SUSPENDED;
}

/* An event's future is shared by every waiter (see luaio_event_wait). */
static int await_shared(luaio_task_t *t, actor *a, luaio_future_t *fut) {
  a->fut = fut;
  ASSERT_OK(luaio_task_await_shared(t, fut));
  return LUAIO_STEP_SUSPENDED;
}

/* Re-acquires the lock at the end of Condition.wait. Returns 1 once it
** is held, 0 when the lock is to be awaited. */
static int cv_relock(luaio_task_t *t, actor *a) {
  luaio_future_t *f;
  ASSERT_OK(luaio_lock_acquire(S.lock, &f));
  if (f == NULL)
    return 1;
  a->relocking = 1;
  await_fut(t, a, f);
  return 0;
}

/* The lock is held again: a failed wait passes on a notification. */
static int cv_done(actor *a) {
  a->relocking = 0;
  if (a->cv_rc != 0) {
    ASSERT_OK(luaio_condition_notify(S.cond, 1));
    return a->cv_rc;
  }
  test_logf("%s:notified", a->name);
  return 0;
}

/* Finishes the wait of ops[pc]. Returns 0 to go on with the script, 1
** when it awaits again, or an error the task raises. */
static int actor_resume(luaio_task_t *t, actor *a, int err) {
  luaio_future_t *fut = a->fut;
  luaio_future_t *next = NULL;
  long index = -1;
  int rc = 0;
  a->fut = NULL;
  switch (a->ops[a->pc].op) {
  case EV_WAIT:
    rc = luaio_event_wait_finish(S.ev, fut, err);
    luaio_future_unref(fut);
    if (rc != 0)
      return rc;
    test_logf("%s:woke", a->name);
    return 0;
  case LK_ACQ:
    rc = luaio_lock_acquire_finish(S.lock, fut, err);
    luaio_future_unref(fut);
    if (rc != 0)
      return rc;
    a->held = 1;
    test_logf("%s:locked", a->name);
    return 0;
  case SEM_ACQ:
    rc = luaio_semaphore_acquire_finish(S.sem, fut, err);
    luaio_future_unref(fut);
    if (rc != 0)
      return rc;
    test_logf("%s:acquired", a->name);
    return 0;
  case CV_WAIT:
    if (!a->relocking) {
      a->cv_rc = luaio_condition_wait_finish(S.cond, fut, err);
      luaio_future_unref(fut);
    } else {
      rc = luaio_lock_acquire_finish(S.lock, fut, err);
      luaio_future_unref(fut);
      if (rc == 0)
        return cv_done(a);
      ASSERT_EQ(LUAIO_ECANCELLED, rc);
      a->cv_rc = rc; /* raised once the lock is held again */
    }
    return cv_relock(t, a) ? cv_done(a) : 1;
  case BAR_WAIT:
    rc = luaio_barrier_wait_finish(S.bar, fut, err, &next, &index);
    luaio_future_unref(fut);
    if (rc == 0 && next != NULL) {
      await_fut(t, a, next);
      return 1;
    }
    if (rc == LUAIO_EBROKEN) {
      test_logf("%s:broken", a->name);
      return 0;
    }
    if (rc != 0)
      return rc;
    test_logf("%s:%ld", a->name, index);
    return 0;
  }
  ASSERT(0);
  return 0;
}

static int actor_step(luaio_task_t *t, int err) {
  actor *a = luaio_future_data(luaio_task_future(t));
  if (a->fut != NULL) {
    int rc = actor_resume(t, a, err);
    if (rc == 1)
      return LUAIO_STEP_SUSPENDED;
    if (rc != 0)
      return actor_raise(a, rc);
    a->pc++;
  } else if (err != 0) {
    return actor_raise(a, err); /* cancelled at a bare yield */
  }
  for (;; a->pc++) {
    const op_t *o = &a->ops[a->pc];
    luaio_future_t *f = NULL;
    long index = -1;
    int rc;
    switch (o->op) {
    case END:
      return LUAIO_STEP_RETURNED;
    case YIELD:
      a->pc++;
      return LUAIO_STEP_SUSPENDED;
    case EV_WAIT:
      ASSERT_OK(luaio_event_wait(S.ev, &f));
      if (f != NULL)
        return await_shared(t, a, f);
      test_logf("%s:woke", a->name);
      break;
    case EV_SET:
      test_logf("%s:set", a->name);
      luaio_event_set(S.ev);
      break;
    case EV_CLEAR:
      luaio_event_clear(S.ev);
      break;
    case LK_ACQ:
      ASSERT_OK(luaio_lock_acquire(S.lock, &f));
      if (f != NULL)
        return await_fut(t, a, f);
      a->held = 1;
      test_logf("%s:locked", a->name);
      break;
    case LK_REL:
      rc = luaio_lock_release(S.lock);
      a->held = 0;
      if (rc == 0)
        test_logf("%s:released", a->name);
      else
        test_logf("%s:released!%s", a->name, luaio_err_name(rc));
      break;
    case SEM_ACQ:
      ASSERT_OK(luaio_semaphore_acquire(S.sem, &f));
      if (f != NULL)
        return await_fut(t, a, f);
      test_logf("%s:acquired", a->name);
      break;
    case SEM_REL:
      rc = luaio_semaphore_release(S.sem);
      if (rc == 0)
        test_logf("%s:released", a->name);
      else
        test_logf("%s:released!%s", a->name, luaio_err_name(rc));
      break;
    case CV_WAIT:
      rc = luaio_condition_wait_begin(S.cond, &f);
      if (rc != 0) {
        test_logf("%s:wait!%s", a->name, luaio_err_name(rc));
        break;
      }
      a->relocking = 0;
      a->cv_rc = 0;
      return await_fut(t, a, f);
    case CV_NOTIFY:
    case CV_NOTIFY_ALL:
      rc = o->op == CV_NOTIFY ? luaio_condition_notify(S.cond, (size_t)o->arg)
                              : luaio_condition_notify_all(S.cond);
      if (rc == 0)
        test_logf("%s:notify", a->name);
      else
        test_logf("%s:notify!%s", a->name, luaio_err_name(rc));
      break;
    case BAR_WAIT:
      rc = luaio_barrier_wait(S.bar, &f, &index);
      if (rc == 0 && f != NULL)
        return await_fut(t, a, f);
      if (rc == LUAIO_EBROKEN)
        test_logf("%s:broken", a->name);
      else if (rc != 0)
        return actor_raise(a, rc);
      else
        test_logf("%s:%ld", a->name, index);
      break;
    case BAR_RESET:
      test_logf("%s:reset", a->name);
      luaio_barrier_reset(S.bar);
      break;
    case BAR_ABORT:
      test_logf("%s:abort", a->name);
      luaio_barrier_abort(S.bar);
      break;
    }
  }
}

static void spawn(actor *a, const char *name, const op_t *ops) {
  memset(a, 0, sizeof *a);
  a->name = name;
  a->ops = ops;
  a->task = luaio_task_new(S.loop, actor_step, a, 0);
  ASSERT_NOT_NULL(a->task);
}

static void run(void) { luaio_loop_run(S.loop, LUAIO_RUN_DEFAULT); }

static void run_once(void) { luaio_loop_run(S.loop, LUAIO_RUN_NOWAIT); }

static void ctx_close(actor *actors, int n) {
  for (int i = 0; i < n; i++) {
    ASSERT(luaio_future_done(luaio_task_future(actors[i].task)));
    ASSERT_NULL(actors[i].fut);
    luaio_task_unref(actors[i].task);
  }
  luaio_event_unref(S.ev);
  luaio_condition_unref(S.cond);
  luaio_semaphore_unref(S.sem);
  luaio_barrier_unref(S.bar);
  test_loop_close(S.loop);
}

/* }====================================================================== */

/* {======================================================================
** Event
** ======================================================================= */

TEST(event_fifo) {
  ctx_open(1, 0, 3);
  static const op_t w[] = {{EV_WAIT, 0}, {END, 0}};
  static const op_t s[] = {{YIELD, 0}, {EV_SET, 0}, {EV_WAIT, 0},
                           {EV_CLEAR, 0}, {END, 0}};
  actor a[4];
  spawn(&a[0], "w1", w);
  spawn(&a[1], "w2", w);
  spawn(&a[2], "w3", w);
  spawn(&a[3], "s", s);
  ASSERT(!luaio_event_is_set(S.ev));
  run();
  ASSERT_STR_EQ("s:set,s:woke,w1:woke,w2:woke,w3:woke", test_log);
  ASSERT(!luaio_event_is_set(S.ev));
  ctx_close(a, 4);
}

/* Waiters share one future: hundreds of waiting tasks cost the event one
** allocation, whatever their number. */
TEST(event_waiters_share_one_future) {
  ctx_open(1, 0, 3);
  static const op_t w[] = {{EV_WAIT, 0}, {END, 0}};
  enum { N = 300 }; /* their wake-ups still fit in the event log */
  static actor a[N];
  for (int i = 0; i < N; i++)
    spawn(&a[i], "w", w);
  long before = test_alloc_live();
  run_once(); /* every task now waits */
  ASSERT_EQ(before + 1, test_alloc_live());
  luaio_event_set(S.ev);
  test_log_reset();
  run();
  ctx_close(a, N);
}

TEST(event_cancel_waiting) {
  ctx_open(1, 0, 3);
  static const op_t w[] = {{EV_WAIT, 0}, {END, 0}};
  actor a[2];
  spawn(&a[0], "w1", w);
  spawn(&a[1], "w2", w);
  run_once();
  ASSERT_EQ(1, luaio_task_cancel(a[0].task, NULL));
  luaio_event_set(S.ev);
  run();
  ASSERT_STR_EQ("w1!ECANCELLED,w2:woke", test_log);
  ctx_close(a, 2);
}

/* Woken, then cancelled before it ran: the cancellation wins, as in
** asyncio, and the other waiter is not affected. */
TEST(event_cancel_woken) {
  ctx_open(1, 0, 3);
  static const op_t w[] = {{EV_WAIT, 0}, {END, 0}};
  actor a[2];
  spawn(&a[0], "w1", w);
  spawn(&a[1], "w2", w);
  run_once();
  luaio_event_set(S.ev);
  ASSERT_EQ(1, luaio_task_cancel(a[0].task, NULL));
  run();
  ASSERT_STR_EQ("w1!ECANCELLED,w2:woke", test_log);
  ctx_close(a, 2);
}

/* }====================================================================== */

/* {======================================================================
** Lock
** ======================================================================= */

/* Hand-off is FIFO: a task releasing and acquiring again queues behind
** those already waiting. */
TEST(lock_fifo) {
  ctx_open(1, 0, 3);
  static const op_t a1[] = {{LK_ACQ, 0}, {YIELD, 0}, {LK_REL, 0},
                            {LK_ACQ, 0}, {LK_REL, 0}, {LK_REL, 0},
                            {END, 0}};
  static const op_t bc[] = {{LK_ACQ, 0}, {YIELD, 0}, {LK_REL, 0}, {END, 0}};
  actor a[3];
  spawn(&a[0], "a", a1);
  spawn(&a[1], "b", bc);
  spawn(&a[2], "c", bc);
  run();
  ASSERT_STR_EQ("a:locked,a:released,b:locked,b:released,c:locked,"
                "c:released,a:locked,a:released,a:released!EINVALSTATE",
                test_log);
  ASSERT(!luaio_lock_locked(S.lock));
  ctx_close(a, 3);
}

/* Woken by a release, then cancelled before it ran: the lock goes to the
** next waiter. */
TEST(lock_woken_cancelled) {
  ctx_open(1, 0, 3);
  luaio_future_t *f = NULL;
  ASSERT_OK(luaio_lock_acquire(S.lock, &f));
  ASSERT_NULL(f);
  static const op_t w[] = {{LK_ACQ, 0}, {LK_REL, 0}, {END, 0}};
  actor a[2];
  spawn(&a[0], "b", w);
  spawn(&a[1], "c", w);
  run_once();
  ASSERT_OK(luaio_lock_release(S.lock));
  ASSERT_EQ(1, luaio_task_cancel(a[0].task, NULL));
  run();
  ASSERT_STR_EQ("b!ECANCELLED,c:locked,c:released", test_log);
  ASSERT(!luaio_lock_locked(S.lock));
  ctx_close(a, 2);
}

/* A woken waiter keeps its turn: a new acquire must queue behind it. When
** every waiter is cancelled, a new acquire takes the lock at once. */
TEST(lock_fairness_and_cancelled_waiters) {
  ctx_open(1, 0, 3);
  luaio_future_t *f = NULL, *g = NULL, *h = NULL;
  ASSERT_OK(luaio_lock_acquire(S.lock, &f));
  ASSERT_NULL(f);
  ASSERT_OK(luaio_lock_acquire(S.lock, &f));
  ASSERT_NOT_NULL(f);
  ASSERT_OK(luaio_lock_release(S.lock));
  ASSERT(luaio_future_done(f)); /* woken: its turn */
  ASSERT_OK(luaio_lock_acquire(S.lock, &g));
  ASSERT_NOT_NULL(g); /* no barging */
  ASSERT_OK(luaio_lock_acquire_finish(S.lock, f, 0));
  ASSERT(luaio_lock_locked(S.lock));
  luaio_future_unref(f);
  ASSERT_EQ(1, luaio_future_cancel(g, NULL));
  ASSERT_OK(luaio_lock_release(S.lock));
  ASSERT(!luaio_lock_locked(S.lock));
  ASSERT_OK(luaio_lock_acquire(S.lock, &h));
  ASSERT_NULL(h); /* the only waiter is cancelled */
  ASSERT_EQ(LUAIO_ECANCELLED, luaio_lock_acquire_finish(S.lock, g, 0));
  luaio_future_unref(g);
  ASSERT(luaio_lock_locked(S.lock));
  ASSERT_OK(luaio_lock_release(S.lock));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_lock_release(S.lock));
  run();
  ctx_close(NULL, 0);
}

/* }====================================================================== */

/* {======================================================================
** Semaphore
** ======================================================================= */

TEST(semaphore_fifo) {
  ctx_open(2, 0, 3);
  static const op_t w[] = {{SEM_ACQ, 0}, {YIELD, 0}, {SEM_REL, 0}, {END, 0}};
  actor a[4];
  spawn(&a[0], "a", w);
  spawn(&a[1], "b", w);
  spawn(&a[2], "c", w);
  spawn(&a[3], "d", w);
  run();
  ASSERT_STR_EQ("a:acquired,b:acquired,a:released,b:released,c:acquired,"
                "d:acquired,c:released,d:released",
                test_log);
  ASSERT_EQ(2, luaio_semaphore_value(S.sem));
  ctx_close(a, 4);
}

/* Woken, then cancelled: its unit goes back and on to the next waiter. */
TEST(semaphore_woken_cancelled) {
  ctx_open(0, 0, 3);
  static const op_t w[] = {{SEM_ACQ, 0}, {SEM_REL, 0}, {END, 0}};
  actor a[2];
  spawn(&a[0], "b", w);
  spawn(&a[1], "c", w);
  run_once();
  ASSERT(luaio_semaphore_locked(S.sem));
  ASSERT_OK(luaio_semaphore_release(S.sem));
  ASSERT_EQ(0, luaio_semaphore_value(S.sem)); /* taken for b */
  ASSERT_EQ(1, luaio_task_cancel(a[0].task, NULL));
  run();
  ASSERT_STR_EQ("b!ECANCELLED,c:acquired,c:released", test_log);
  ASSERT_EQ(1, luaio_semaphore_value(S.sem));
  ASSERT(!luaio_semaphore_locked(S.sem));
  ctx_close(a, 2);
}

/* A unit free while someone waits still goes to the waiter (FIFO). */
TEST(semaphore_locked_while_waiters) {
  ctx_open(0, 0, 3);
  luaio_future_t *f = NULL, *g = NULL;
  ASSERT_OK(luaio_semaphore_acquire(S.sem, &f));
  ASSERT_NOT_NULL(f);
  ASSERT_OK(luaio_semaphore_acquire(S.sem, &g));
  ASSERT_NOT_NULL(g);
  ASSERT_EQ(1, luaio_future_cancel(f, NULL));
  ASSERT_OK(luaio_semaphore_release(S.sem)); /* skips f, wakes g */
  ASSERT(luaio_future_done(g) && !luaio_future_cancelled(g));
  ASSERT_EQ(0, luaio_semaphore_value(S.sem));
  ASSERT_EQ(LUAIO_ECANCELLED, luaio_semaphore_acquire_finish(S.sem, f, 0));
  ASSERT_OK(luaio_semaphore_acquire_finish(S.sem, g, 0));
  luaio_future_unref(f);
  luaio_future_unref(g);
  ASSERT_OK(luaio_semaphore_release(S.sem));
  ASSERT_OK(luaio_semaphore_release(S.sem)); /* unbounded */
  ASSERT_EQ(2, luaio_semaphore_value(S.sem));
  ASSERT_NULL(luaio_semaphore_new(S.loop, -1, 0));
  run();
  ctx_close(NULL, 0);
}

/* Two releases before the first waiter ran: one unit is taken for it, the
** other stays while it runs. An acquire arriving meanwhile queues (FIFO)
** and is woken by the first waiter once that one has its unit. */
TEST(semaphore_wakes_those_behind) {
  ctx_open(0, 0, 3);
  static const op_t b[] = {{SEM_ACQ, 0}, {END, 0}};
  static const op_t d[] = {{YIELD, 0}, {SEM_ACQ, 0}, {END, 0}};
  actor a[2];
  spawn(&a[0], "b", b);
  spawn(&a[1], "d", d);
  run_once();
  ASSERT_OK(luaio_semaphore_release(S.sem));
  ASSERT_OK(luaio_semaphore_release(S.sem));
  ASSERT_EQ(1, luaio_semaphore_value(S.sem));
  run();
  ASSERT_STR_EQ("b:acquired,d:acquired", test_log);
  ASSERT_EQ(0, luaio_semaphore_value(S.sem));
  ctx_close(a, 2);
}

TEST(bounded_semaphore) {
  ctx_open(1, 1, 3);
  static const op_t w[] = {{SEM_REL, 0}, {SEM_ACQ, 0}, {SEM_REL, 0},
                           {SEM_REL, 0}, {END, 0}};
  actor a[1];
  spawn(&a[0], "a", w);
  run();
  ASSERT_STR_EQ("a:released!EVALUE,a:acquired,a:released,"
                "a:released!EVALUE",
                test_log);
  ctx_close(a, 1);
}

/* }====================================================================== */

/* {======================================================================
** Condition
** ======================================================================= */

TEST(condition_notify) {
  ctx_open(1, 0, 3);
  static const op_t w[] = {{LK_ACQ, 0}, {CV_WAIT, 0}, {LK_REL, 0}, {END, 0}};
  static const op_t n[] = {{YIELD, 0}, {LK_ACQ, 0}, {CV_NOTIFY, 2},
                           {LK_REL, 0}, {YIELD, 0}, {YIELD, 0},
                           {LK_ACQ, 0}, {CV_NOTIFY_ALL, 0}, {LK_REL, 0},
                           {END, 0}};
  actor a[4];
  spawn(&a[0], "w1", w);
  spawn(&a[1], "w2", w);
  spawn(&a[2], "w3", w);
  spawn(&a[3], "n", n);
  run();
  ASSERT_STR_EQ("w1:locked,w2:locked,w3:locked,n:locked,n:notify,"
                "n:released,w1:notified,w1:released,w2:notified,"
                "w2:released,n:locked,n:notify,n:released,w3:notified,"
                "w3:released",
                test_log);
  ctx_close(a, 4);
}

TEST(condition_needs_lock) {
  ctx_open(1, 0, 3);
  static const op_t w[] = {{CV_WAIT, 0}, {CV_NOTIFY, 1}, {CV_NOTIFY_ALL, 0},
                           {LK_REL, 0}, {END, 0}};
  actor a[1];
  spawn(&a[0], "a", w);
  run();
  ASSERT_STR_EQ("a:wait!EINVALSTATE,a:notify!EINVALSTATE,"
                "a:notify!EINVALSTATE,a:released!EINVALSTATE",
                test_log);
  /* A condition on a lock of the caller's takes a reference to it. */
  luaio_lock_t *lock = luaio_lock_new(S.loop);
  luaio_condition_t *cond = luaio_condition_new(S.loop, lock);
  luaio_lock_unref(lock);
  ASSERT_PTR_EQ(lock, luaio_condition_lock(cond));
  luaio_condition_unref(cond);
  ctx_close(a, 1);
}

/* Notified, then cancelled before it ran: it re-acquires the lock, passes
** the notification on and raises. */
TEST(condition_cancel_woken) {
  ctx_open(1, 0, 3);
  static const op_t w[] = {{LK_ACQ, 0}, {CV_WAIT, 0}, {LK_REL, 0}, {END, 0}};
  static const op_t n[] = {{YIELD, 0}, {LK_ACQ, 0}, {CV_NOTIFY, 1},
                           {LK_REL, 0}, {END, 0}};
  actor a[3];
  spawn(&a[0], "w1", w);
  spawn(&a[1], "w2", w);
  spawn(&a[2], "n", n);
  run_once();
  run_once();
  ASSERT_EQ(1, luaio_task_cancel(a[0].task, NULL));
  run();
  ASSERT_STR_EQ("w1:locked,w2:locked,n:locked,n:notify,n:released,"
                "w1!ECANCELLED,w1:released,w2:notified,w2:released",
                test_log);
  ctx_close(a, 3);
}

/* Notified while the notifier holds the lock, then cancelled while it
** waits for the lock: it still takes the lock before it raises. */
TEST(condition_cancel_relocking) {
  ctx_open(1, 0, 3);
  static const op_t w[] = {{LK_ACQ, 0}, {CV_WAIT, 0}, {LK_REL, 0}, {END, 0}};
  static const op_t n[] = {{YIELD, 0}, {LK_ACQ, 0}, {CV_NOTIFY, 1},
                           {YIELD, 0}, {YIELD, 0}, {LK_REL, 0}, {END, 0}};
  actor a[3];
  spawn(&a[0], "w1", w);
  spawn(&a[1], "w2", w);
  spawn(&a[2], "n", n);
  run_once();
  run_once();
  run_once();
  ASSERT(a[0].relocking);
  ASSERT_EQ(1, luaio_task_cancel(a[0].task, NULL));
  run();
  ASSERT_STR_EQ("w1:locked,w2:locked,n:locked,n:notify,n:released,"
                "w1!ECANCELLED,w1:released,w2:notified,w2:released",
                test_log);
  ctx_close(a, 3);
}

/* }====================================================================== */

/* {======================================================================
** Barrier. The logs are CPython 3.13's for the same scripts.
** ======================================================================= */

/* The last to arrive passes at once; the others in arrival order. The
** first round drains before the second fills. */
TEST(barrier_rounds) {
  ctx_open(1, 0, 3);
  static const op_t w[] = {{BAR_WAIT, 0}, {BAR_WAIT, 0}, {END, 0}};
  actor a[3];
  spawn(&a[0], "a", w);
  spawn(&a[1], "b", w);
  spawn(&a[2], "c", w);
  run();
  ASSERT_STR_EQ("c:2,a:0,b:1,a:2,b:0,c:1", test_log);
  ASSERT_EQ(3, luaio_barrier_parties(S.bar));
  ASSERT_EQ(0, luaio_barrier_n_waiting(S.bar));
  ctx_close(a, 3);
}

TEST(barrier_abort) {
  ctx_open(1, 0, 3);
  static const op_t ab[] = {{BAR_WAIT, 0}, {BAR_WAIT, 0}, {END, 0}};
  static const op_t c[] = {{YIELD, 0}, {BAR_ABORT, 0}, {BAR_WAIT, 0},
                           {YIELD, 0}, {YIELD, 0}, {BAR_RESET, 0},
                           {BAR_WAIT, 0}, {END, 0}};
  static const op_t de[] = {{YIELD, 0}, {YIELD, 0}, {YIELD, 0}, {YIELD, 0},
                            {BAR_WAIT, 0}, {END, 0}};
  actor a[5];
  spawn(&a[0], "a", ab);
  spawn(&a[1], "b", ab);
  spawn(&a[2], "c", c);
  spawn(&a[3], "d", de);
  spawn(&a[4], "e", de);
  run_once();
  run_once();
  ASSERT(luaio_barrier_broken(S.bar));
  run();
  ASSERT_STR_EQ("c:abort,c:broken,a:broken,a:broken,b:broken,b:broken,"
                "c:reset,e:2,c:0,d:1",
                test_log);
  ASSERT(!luaio_barrier_broken(S.bar));
  ctx_close(a, 5);
}

/* A reset fails those waiting; the barrier refills once they are out. */
TEST(barrier_reset_waiting) {
  ctx_open(1, 0, 3);
  static const op_t ab[] = {{BAR_WAIT, 0}, {BAR_WAIT, 0}, {END, 0}};
  static const op_t c[] = {{YIELD, 0}, {BAR_RESET, 0}, {BAR_WAIT, 0},
                           {END, 0}};
  actor a[3];
  spawn(&a[0], "a", ab);
  spawn(&a[1], "b", ab);
  spawn(&a[2], "c", c);
  run_once();
  ASSERT_EQ(2, luaio_barrier_n_waiting(S.bar));
  run();
  ASSERT_STR_EQ("c:reset,a:broken,b:broken,a:2,b:0,c:1", test_log);
  ctx_close(a, 3);
}

/* A waiter cancelled leaves the barrier: it needs another party. */
TEST(barrier_cancel) {
  ctx_open(1, 0, 2);
  static const op_t w[] = {{BAR_WAIT, 0}, {END, 0}};
  actor a[3];
  spawn(&a[0], "a", w);
  run_once();
  ASSERT_EQ(1, luaio_barrier_n_waiting(S.bar));
  ASSERT_EQ(1, luaio_task_cancel(a[0].task, NULL));
  run();
  ASSERT_EQ(0, luaio_barrier_n_waiting(S.bar));
  spawn(&a[1], "b", w);
  spawn(&a[2], "c", w);
  run();
  ASSERT_STR_EQ("a!ECANCELLED,c:1,b:0", test_log);
  ctx_close(a, 3);
}

/* Arrivals while the barrier drains wait for it to refill; b, woken while
** it drained again, waits once more, behind d. */
TEST(barrier_draining) {
  ctx_open(1, 0, 2);
  static const op_t ab[] = {{BAR_WAIT, 0}, {BAR_WAIT, 0}, {END, 0}};
  static const op_t cd[] = {{YIELD, 0}, {BAR_WAIT, 0}, {END, 0}};
  actor a[4];
  spawn(&a[0], "a", ab);
  spawn(&a[1], "b", ab);
  spawn(&a[2], "c", cd);
  spawn(&a[3], "d", cd);
  run();
  ASSERT_STR_EQ("b:1,a:0,c:1,a:0,b:1,d:0", test_log);
  ctx_close(a, 4);
}

TEST(barrier_bad_parties) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NULL(luaio_barrier_new(loop, 0));
  ASSERT_NULL(luaio_barrier_new(loop, -3));
  luaio_barrier_t *b = luaio_barrier_new(loop, 1);
  long index = -1;
  luaio_future_t *f = (luaio_future_t *)&f;
  ASSERT_OK(luaio_barrier_wait(b, &f, &index));
  ASSERT_NULL(f);
  ASSERT_EQ(0, index);
  luaio_barrier_abort(b);
  ASSERT_EQ(LUAIO_EBROKEN, luaio_barrier_wait(b, &f, &index));
  luaio_barrier_reset(b);
  ASSERT_OK(luaio_barrier_wait(b, &f, &index));
  luaio_barrier_unref(b);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** Objects made before any loop, bound at first use
** ======================================================================= */

/* Everything but a wait works unbound; bound, the objects wait as usual;
** bound to one loop, they refuse another. */
TEST(bind_at_first_use) {
  test_alloc_install();
  memset(&S, 0, sizeof S);
  S.ev = luaio_event_new(NULL);
  S.cond = luaio_condition_new(NULL, NULL);
  S.sem = luaio_semaphore_new(NULL, 0, 0);
  S.bar = luaio_barrier_new(NULL, 2);
  S.lock = luaio_condition_lock(S.cond);
  luaio_event_set(S.ev);
  luaio_event_clear(S.ev);
  luaio_future_t *fut = NULL;
  ASSERT_OK(luaio_lock_acquire(S.lock, &fut)); /* uncontended */
  ASSERT_NULL(fut);
  ASSERT_OK(luaio_lock_release(S.lock));
  ASSERT_OK(luaio_semaphore_release(S.sem));
  S.loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(S.loop);
  ASSERT_OK(luaio_event_bind(S.ev, S.loop));
  ASSERT_OK(luaio_event_bind(S.ev, S.loop)); /* again: no change */
  ASSERT_OK(luaio_condition_bind(S.cond, S.loop)); /* and its lock */
  ASSERT_OK(luaio_lock_bind(S.lock, S.loop));
  ASSERT_OK(luaio_semaphore_bind(S.sem, S.loop));
  ASSERT_OK(luaio_barrier_bind(S.bar, S.loop));
  static const op_t w[] = {{LK_ACQ, 0},  {CV_WAIT, 0},  {LK_REL, 0},
                           {EV_WAIT, 0}, {SEM_ACQ, 0},  {SEM_ACQ, 0},
                           {BAR_WAIT, 0}, {END, 0}};
  static const op_t s[] = {{YIELD, 0},  {LK_ACQ, 0},  {CV_NOTIFY, 1},
                           {LK_REL, 0}, {EV_SET, 0},  {YIELD, 0},
                           {SEM_REL, 0}, {BAR_WAIT, 0}, {END, 0}};
  actor a[2];
  spawn(&a[0], "w", w);
  spawn(&a[1], "s", s);
  run();
  ASSERT_STR_EQ("w:locked,s:locked,s:notify,s:released,s:set,w:notified,"
                "w:released,w:woke,w:acquired,s:released,w:acquired,w:1,"
                "s:0",
                test_log);
  ASSERT(luaio_event_is_set(S.ev));
  luaio_loop_t *other = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(other);
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_event_bind(S.ev, other));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_lock_bind(S.lock, other));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_semaphore_bind(S.sem, other));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_barrier_bind(S.bar, other));
  /* A condition on a lock of another loop cannot be bound to this one. */
  luaio_condition_t *cond = luaio_condition_new(NULL, S.lock);
  ASSERT_NOT_NULL(cond);
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_condition_bind(cond, other));
  ASSERT_OK(luaio_condition_bind(cond, S.loop));
  luaio_condition_unref(cond);
  ASSERT_OK(luaio_loop_delete(other));
  ctx_close(a, 2);
}

/* }====================================================================== */

/* {======================================================================
** Out of memory
** ======================================================================= */

TEST(oom_constructors) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  long before = test_alloc_live();
  for (int kind = 0; kind < 5; kind++) {
    for (long n = 1;; n++) {
      test_alloc_fail_after(n);
      void *obj = NULL;
      switch (kind) {
      case 0: obj = luaio_event_new(loop); break;
      case 1: obj = luaio_lock_new(loop); break;
      case 2: obj = luaio_semaphore_new(loop, 3, 1); break;
      case 3: obj = luaio_condition_new(loop, NULL); break;
      case 4: obj = luaio_barrier_new(loop, 2); break;
      }
      int failed = test_alloc_failed();
      test_alloc_fail_after(0);
      if (!failed) {
        ASSERT_NOT_NULL(obj);
        switch (kind) {
        case 0: luaio_event_unref(obj); break;
        case 1: luaio_lock_unref(obj); break;
        case 2: luaio_semaphore_unref(obj); break;
        case 3: luaio_condition_unref(obj); break;
        case 4: luaio_barrier_unref(obj); break;
        }
        ASSERT_EQ(before, test_alloc_live());
        break;
      }
      ASSERT_NULL(obj);
      ASSERT_EQ(before, test_alloc_live());
    }
  }
  test_loop_close(loop);
}

/* A wait that cannot allocate its future fails and changes nothing. */
TEST(oom_waits) {
  ctx_open(0, 0, 3);
  long before = test_alloc_live();
  luaio_future_t *f = (luaio_future_t *)&f;
  long index = -1;

  test_alloc_fail_after(1);
  ASSERT_EQ(LUAIO_ENOMEM, luaio_event_wait(S.ev, &f));
  ASSERT_NULL(f);

  ASSERT_OK(luaio_lock_acquire(S.lock, &f));
  ASSERT_NULL(f);
  test_alloc_fail_after(1);
  ASSERT_EQ(LUAIO_ENOMEM, luaio_lock_acquire(S.lock, &f));
  ASSERT_NULL(f);
  ASSERT(luaio_lock_locked(S.lock));

  test_alloc_fail_after(1);
  ASSERT_EQ(LUAIO_ENOMEM, luaio_condition_wait_begin(S.cond, &f));
  ASSERT_NULL(f);
  ASSERT(luaio_lock_locked(S.lock)); /* still held */
  ASSERT_OK(luaio_lock_release(S.lock));

  test_alloc_fail_after(1);
  ASSERT_EQ(LUAIO_ENOMEM, luaio_semaphore_acquire(S.sem, &f));
  ASSERT_NULL(f);

  test_alloc_fail_after(1);
  ASSERT_EQ(LUAIO_ENOMEM, luaio_barrier_wait(S.bar, &f, &index));
  ASSERT_NULL(f);
  ASSERT_EQ(0, luaio_barrier_n_waiting(S.bar));
  test_alloc_fail_after(0);
  ASSERT_EQ(before, test_alloc_live());
  ctx_close(NULL, 0);
}

/* }====================================================================== */

int main(int argc, char **argv) { return test_main(argc, argv); }
