/*
** test-wait.c - asyncio.wait (ALL_COMPLETED, FIRST_COMPLETED,
** FIRST_EXCEPTION, timeouts) and asyncio.as_completed (completion order,
** LUAIO_ETIMEOUT), and letting go of a waiter early.
*/
#include "luaio.h"
#include "test.h"

#define DATA(t) luaio_future_data(luaio_task_future(t))

/* On a virtual clock: deadlines come at once and exactly, in order, however
** loaded the machine. */
static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new_clock(NULL, LUAIO_CLOCK_VIRTUAL);
  ASSERT_NOT_NULL(loop);
  return loop;
}

static void run(luaio_loop_t *loop) {
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
}

static void run_once(luaio_loop_t *loop) {
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
}

static void futures_new(luaio_loop_t *loop, luaio_future_t **f, int n) {
  for (int i = 0; i < n; i++) {
    f[i] = luaio_future_new(loop);
    ASSERT_NOT_NULL(f[i]);
  }
}

static void futures_unref(luaio_future_t **f, int n) {
  for (int i = 0; i < n; i++)
    luaio_future_unref(f[i]);
}

static luaio_wait_t *wait_new(luaio_loop_t *loop, luaio_future_t **f, int n,
                              luaio_wait_mode mode, double timeout) {
  luaio_wait_t *w = luaio_wait_new(loop, f, (size_t)n, mode, timeout);
  ASSERT_NOT_NULL(w);
  return w;
}

/* {======================================================================
** asyncio.wait
** ======================================================================= */

TEST(all_completed) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[3];
  futures_new(loop, f, 3);
  luaio_wait_t *w = wait_new(loop, f, 3, LUAIO_ALL_COMPLETED, -1);
  luaio_future_t *wf = luaio_wait_future(w);
  ASSERT_OK(luaio_future_set_error(f[1], UV_EIO)); /* does not end it */
  ASSERT_EQ(1, luaio_future_cancel(f[0], NULL));
  run(loop);
  ASSERT(!luaio_future_done(wf));
  ASSERT_EQ(2, luaio_wait_ndone(w));
  ASSERT_OK(luaio_future_set_result(f[2]));
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(wf));
  ASSERT_EQ(3, luaio_wait_ndone(w));
  luaio_wait_unref(w);
  futures_unref(f, 3);
  test_loop_close(loop);
}

TEST(first_completed) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[3];
  futures_new(loop, f, 3);
  luaio_wait_t *w = wait_new(loop, f, 3, LUAIO_FIRST_COMPLETED, -1);
  luaio_future_t *wf = luaio_wait_future(w);
  run(loop);
  ASSERT(!luaio_future_done(wf));
  ASSERT_EQ(1, luaio_future_cancel(f[1], NULL)); /* a cancellation counts */
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(wf));
  ASSERT_EQ(1, luaio_wait_ndone(w));
  ASSERT_EQ(1, luaio_wait_take(w));
  ASSERT_EQ(-1, luaio_wait_take(w));
  /* The others are left alone. */
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(f[0]));
  luaio_wait_unref(w);
  ASSERT_OK(luaio_future_set_result(f[0]));
  ASSERT_OK(luaio_future_set_result(f[2]));
  run(loop);
  futures_unref(f, 3);
  test_loop_close(loop);
}

/* Ends at the first failure; a cancellation is not one. Without a
** failure it waits for all. */
TEST(first_exception) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[3];
  futures_new(loop, f, 3);
  luaio_wait_t *w = wait_new(loop, f, 3, LUAIO_FIRST_EXCEPTION, -1);
  luaio_future_t *wf = luaio_wait_future(w);
  ASSERT_OK(luaio_future_set_result(f[0]));
  ASSERT_EQ(1, luaio_future_cancel(f[2], NULL));
  run(loop);
  ASSERT(!luaio_future_done(wf));
  ASSERT_OK(luaio_future_set_error(f[1], UV_EIO));
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(wf));
  luaio_wait_unref(w);
  futures_unref(f, 3);

  futures_new(loop, f, 2);
  w = wait_new(loop, f, 2, LUAIO_FIRST_EXCEPTION, -1);
  wf = luaio_wait_future(w);
  ASSERT_OK(luaio_future_set_result(f[0]));
  run(loop);
  ASSERT(!luaio_future_done(wf));
  ASSERT_OK(luaio_future_set_result(f[1]));
  run(loop);
  ASSERT(luaio_future_done(wf));
  luaio_wait_unref(w);
  futures_unref(f, 2);
  test_loop_close(loop);
}

/* The timeout resolves the wait future with futures still pending, and
** cancels none of them. */
TEST(wait_timeout) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[2];
  futures_new(loop, f, 2);
  luaio_wait_t *w = wait_new(loop, f, 2, LUAIO_ALL_COMPLETED, 0.002);
  luaio_future_t *wf = luaio_wait_future(w);
  ASSERT_OK(luaio_future_set_result(f[0]));
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(wf));
  ASSERT_EQ(1, luaio_wait_ndone(w));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(f[1]));
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  luaio_wait_unref(w);
  futures_unref(f, 2);
  test_loop_close(loop);
}

/* Done in time: the timer is dropped with the waiter. */
TEST(wait_done_before_timeout) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[1];
  futures_new(loop, f, 1);
  luaio_wait_t *w = wait_new(loop, f, 1, LUAIO_ALL_COMPLETED, 10);
  ASSERT_EQ(1, luaio_loop_ntimers(loop));
  ASSERT_OK(luaio_future_set_result(f[0]));
  run_once(loop);
  ASSERT(luaio_future_done(luaio_wait_future(w)));
  luaio_wait_unref(w);
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  futures_unref(f, 1);
  test_loop_close(loop);
}

TEST(empty) {
  luaio_loop_t *loop = loop_open();
  luaio_wait_t *w = wait_new(loop, NULL, 0, LUAIO_FIRST_COMPLETED, -1);
  ASSERT(luaio_future_done(luaio_wait_future(w)));
  ASSERT_EQ(-1, luaio_wait_take(w));
  luaio_wait_unref(w);
  test_loop_close(loop);
}

/* A task awaits the wait future, as asyncio.wait does. */
static int wait_step(luaio_task_t *t, int err) {
  luaio_wait_t *w = DATA(t);
  ASSERT_OK(err);
  if (luaio_wait_ndone(w) == 0) {
    ASSERT_OK(luaio_task_await(t, luaio_wait_future(w)));
    return LUAIO_STEP_SUSPENDED;
  }
  test_logf("woke:%zu", luaio_wait_ndone(w));
  return LUAIO_STEP_RETURNED;
}

static void resolve_cb(void *arg) { ASSERT_OK(luaio_future_set_result(arg)); }

TEST(task_waits) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[2];
  futures_new(loop, f, 2);
  luaio_wait_t *w = wait_new(loop, f, 2, LUAIO_FIRST_COMPLETED, -1);
  luaio_task_t *t = luaio_task_new(loop, wait_step, w, 0);
  ASSERT_NOT_NULL(t);
  ASSERT_OK(luaio_call_later(loop, 0.001, resolve_cb, f[1], NULL, NULL));
  run(loop);
  ASSERT_STR_EQ("woke:1", test_log);
  luaio_task_unref(t);
  luaio_wait_unref(w);
  futures_unref(f, 2);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** asyncio.as_completed
** ======================================================================= */

TEST(as_completed_order) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[3];
  futures_new(loop, f, 3);
  luaio_wait_t *w = wait_new(loop, f, 3, LUAIO_ALL_COMPLETED, -1);
  ASSERT_EQ(-1, luaio_wait_take(w));
  luaio_future_t *next = luaio_wait_next_future(w);
  ASSERT_NOT_NULL(next);
  ASSERT(!luaio_future_done(next));
  ASSERT_OK(luaio_future_set_result(f[2]));
  run_once(loop);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(next));
  ASSERT_EQ(2, luaio_wait_take(w));
  luaio_future_unref(next);
  /* Two at once: in the order they completed. */
  ASSERT_OK(luaio_future_set_error(f[0], UV_EIO));
  ASSERT_OK(luaio_future_set_result(f[1]));
  run(loop);
  next = luaio_wait_next_future(w);
  ASSERT_NOT_NULL(next);
  ASSERT(luaio_future_done(next)); /* one is waiting to be taken */
  luaio_future_unref(next);
  ASSERT_EQ(0, luaio_wait_take(w));
  ASSERT_EQ(1, luaio_wait_take(w));
  ASSERT_EQ(-1, luaio_wait_take(w));
  ASSERT_EQ(3, luaio_wait_ntaken(w));
  ASSERT_EQ(3, luaio_wait_ndone(w));
  luaio_wait_unref(w);
  futures_unref(f, 3);
  test_loop_close(loop);
}

/* Past the timeout, the next future fails with LUAIO_ETIMEOUT; those
** done before it can still be taken first. */
TEST(as_completed_timeout) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[3];
  futures_new(loop, f, 3);
  /* Far enough that the steps before run() finish first, even under
  ** valgrind on a loaded machine. */
  luaio_wait_t *w = wait_new(loop, f, 3, LUAIO_ALL_COMPLETED, 1.0);
  ASSERT_OK(luaio_future_set_result(f[1]));
  ASSERT_OK(luaio_future_set_result(f[2]));
  luaio_future_t *next = luaio_wait_next_future(w);
  ASSERT_NOT_NULL(next);
  run_once(loop);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(next));
  luaio_future_unref(next);
  ASSERT_EQ(1, luaio_wait_take(w));
  next = luaio_wait_next_future(w);
  ASSERT_NOT_NULL(next);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(next));
  luaio_future_unref(next);
  ASSERT_EQ(2, luaio_wait_take(w));
  next = luaio_wait_next_future(w);
  ASSERT_NOT_NULL(next);
  ASSERT(!luaio_future_done(next));
  run(loop);
  ASSERT_EQ(LUAIO_FAILED, luaio_future_state(next));
  ASSERT_EQ(LUAIO_ETIMEOUT, luaio_future_error(next));
  luaio_future_unref(next);
  next = luaio_wait_next_future(w); /* failed at once from now on */
  ASSERT_NOT_NULL(next);
  ASSERT_EQ(LUAIO_ETIMEOUT, luaio_future_error(next));
  luaio_future_unref(next);
  ASSERT_EQ(-1, luaio_wait_take(w));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(f[0]));
  luaio_wait_unref(w);
  futures_unref(f, 3);
  test_loop_close(loop);
}

/* A task consumes the futures as they complete, as as_completed's loop
** does: next future, await, take. */
typedef struct {
  luaio_wait_t *w;
  luaio_future_t *next; /* owns */
  size_t n;
} consumer;

static int consume_step(luaio_task_t *t, int err) {
  consumer *c = DATA(t);
  ASSERT_OK(err);
  if (c->next != NULL) {
    int rc = luaio_future_error(c->next);
    luaio_future_unref(c->next);
    c->next = NULL;
    if (rc != 0) {
      test_logf("%s", luaio_err_name(rc));
      return LUAIO_STEP_RETURNED;
    }
    test_logf("%ld", luaio_wait_take(c->w));
    if (luaio_wait_ntaken(c->w) == c->n)
      return LUAIO_STEP_RETURNED;
  }
  c->next = luaio_wait_next_future(c->w);
  ASSERT_NOT_NULL(c->next);
  ASSERT_OK(luaio_task_await(t, c->next));
  return LUAIO_STEP_SUSPENDED;
}

TEST(as_completed_in_task) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[4];
  futures_new(loop, f, 4);
  consumer c = {wait_new(loop, f, 4, LUAIO_ALL_COMPLETED, -1), NULL, 4};
  luaio_task_t *t = luaio_task_new(loop, consume_step, &c, 0);
  ASSERT_NOT_NULL(t);
  double base = luaio_loop_time(loop);
  ASSERT_OK(luaio_call_at(loop, base + 0.003, resolve_cb, f[0], NULL, NULL));
  ASSERT_OK(luaio_call_at(loop, base + 0.001, resolve_cb, f[3], NULL, NULL));
  ASSERT_OK(luaio_call_at(loop, base + 0.002, resolve_cb, f[1], NULL, NULL));
  ASSERT_OK(luaio_call_at(loop, base + 0.004, resolve_cb, f[2], NULL, NULL));
  run(loop);
  ASSERT_STR_EQ("3,1,0,2", test_log);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(luaio_task_future(t)));
  luaio_task_unref(t);
  luaio_wait_unref(c.w);
  futures_unref(f, 4);

  /* Two never complete: the third await fails with LUAIO_ETIMEOUT. The
  ** two others are resolved at once, and the timeout leaves a loaded
  ** machine ample time to take them (a timer of 1 ms for one of them
  ** could fall due with the timeout, which then came first). */
  test_log_reset();
  futures_new(loop, f, 4);
  c.w = wait_new(loop, f, 4, LUAIO_ALL_COMPLETED, 0.1);
  t = luaio_task_new(loop, consume_step, &c, 0);
  ASSERT_NOT_NULL(t);
  ASSERT_OK(luaio_call_soon(loop, resolve_cb, f[1], NULL, NULL));
  ASSERT_OK(luaio_call_soon(loop, resolve_cb, f[2], NULL, NULL));
  run(loop);
  ASSERT_STR_EQ("1,2,ETIMEOUT", test_log);
  luaio_task_unref(t);
  luaio_wait_unref(c.w);
  futures_unref(f, 4);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** Letting go early
** ======================================================================= */

/* Dropped before anything completed: its callbacks and its timer go, and
** nothing leaks when the futures complete later. */
TEST(unref_before_completion) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[3];
  futures_new(loop, f, 3);
  long live = test_alloc_live();
  luaio_wait_t *w = wait_new(loop, f, 3, LUAIO_ALL_COMPLETED, 10);
  luaio_future_t *next = luaio_wait_next_future(w);
  ASSERT_NOT_NULL(next);
  ASSERT_EQ(1, luaio_loop_ntimers(loop));
  luaio_wait_unref(w);
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  luaio_future_unref(next);
  ASSERT_EQ(live, test_alloc_live() - 1); /* the timer heap stays */
  for (int i = 0; i < 3; i++)
    ASSERT_OK(luaio_future_set_result(f[i]));
  run(loop);
  futures_unref(f, 3);
  test_loop_close(loop);
}

/* Dropped while a completion is queued: that one still runs, then the
** waiter is freed. */
TEST(unref_with_completion_queued) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[2];
  futures_new(loop, f, 2);
  long live = test_alloc_live();
  luaio_wait_t *w = wait_new(loop, f, 2, LUAIO_FIRST_COMPLETED, -1);
  ASSERT_OK(luaio_future_set_result(f[0]));
  luaio_wait_unref(w);
  ASSERT(test_alloc_live() > live);
  run(loop);
  ASSERT_EQ(live, test_alloc_live());
  ASSERT_OK(luaio_future_set_result(f[1]));
  run(loop);
  futures_unref(f, 2);
  test_loop_close(loop);
}

/* Dropped after the timeout fired. */
TEST(unref_after_timeout) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[1];
  futures_new(loop, f, 1);
  luaio_wait_t *w = wait_new(loop, f, 1, LUAIO_ALL_COMPLETED, 0);
  run(loop);
  ASSERT(luaio_future_done(luaio_wait_future(w)));
  luaio_wait_unref(w);
  futures_unref(f, 1);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** Out of memory
** ======================================================================= */

TEST(oom_wait_new) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[2];
  futures_new(loop, f, 2);
  for (int timed = 0; timed < 2; timed++) {
    long live = test_alloc_live();
    for (long n = 1;; n++) {
      test_alloc_fail_after(n);
      luaio_wait_t *w = luaio_wait_new(loop, f, 2, LUAIO_ALL_COMPLETED,
                                       timed ? 10 : -1);
      if (!test_alloc_failed()) {
        ASSERT_NOT_NULL(w);
        luaio_wait_unref(w);
        break;
      }
      ASSERT_NULL(w);
      ASSERT_EQ(live, test_alloc_live());
      ASSERT_EQ(0, luaio_loop_ntimers(loop));
    }
    test_alloc_fail_after(0);
  }
  /* The futures were left as they were. */
  ASSERT_OK(luaio_future_set_result(f[0]));
  ASSERT_OK(luaio_future_set_result(f[1]));
  run(loop);
  futures_unref(f, 2);
  test_loop_close(loop);
}

TEST(oom_next_future) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[1];
  futures_new(loop, f, 1);
  luaio_wait_t *w = wait_new(loop, f, 1, LUAIO_ALL_COMPLETED, -1);
  test_alloc_fail_after(1);
  ASSERT_NULL(luaio_wait_next_future(w));
  test_alloc_fail_after(0);
  ASSERT_OK(luaio_future_set_result(f[0]));
  run(loop);
  luaio_future_t *next = luaio_wait_next_future(w);
  ASSERT_NOT_NULL(next);
  ASSERT(luaio_future_done(next));
  luaio_future_unref(next);
  luaio_wait_unref(w);
  futures_unref(f, 1);
  test_loop_close(loop);
}

/* }====================================================================== */

int main(int argc, char **argv) { return test_main(argc, argv); }
