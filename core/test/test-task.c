/*
** test-task.c - tasks driven by C step functions: scheduling order, eager
** start, await and sleep, and asyncio's cancellation rules.
**
** Each step function keeps its task's state machine in the task's data
** (luaio_future_data(luaio_task_future(t))), as a binding keeps its
** coroutine there.
*/
#include <math.h>
#include <stdlib.h>

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

static luaio_task_t *spawn(luaio_loop_t *loop, luaio_step_fn step, void *data,
                           int eager) {
  luaio_task_t *t = luaio_task_new(loop, step, data, eager);
  ASSERT_NOT_NULL(t);
  return t;
}

static luaio_state state_of(luaio_task_t *t) {
  return luaio_future_state(luaio_task_future(t));
}

static int error_of(luaio_task_t *t) {
  return luaio_future_error(luaio_task_future(t));
}

static void run(luaio_loop_t *loop) {
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
}

static void run_once(luaio_loop_t *loop) {
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
}

static void resolve_cb(void *arg) {
  test_logf("set");
  ASSERT_OK(luaio_future_set_result(arg));
}

/* {======================================================================
** Step functions
** ======================================================================= */

/* Yields (no wait: a bare yield) until it has taken steps steps. */
typedef struct {
  const char *name;
  int n, steps;
} yielder;

static int yield_step(luaio_task_t *t, int err) {
  yielder *y = DATA(t);
  ASSERT_OK(err);
  ASSERT_PTR_EQ(t, luaio_task_current(luaio_future_loop(luaio_task_future(t))));
  test_logf("%s%d", y->name, ++y->n);
  return y->n == y->steps ? LUAIO_STEP_RETURNED : LUAIO_STEP_SUSPENDED;
}

/* Awaits fut (borrowed), then ends with fut's error, as a binding raises
** what the awaited future raised. */
typedef struct {
  luaio_future_t *fut;
  int n;
} awaiter;

static int await_step(luaio_task_t *t, int err) {
  awaiter *a = DATA(t);
  if (a->n++ == 0) {
    test_logf("await");
    ASSERT_OK(err);
    ASSERT_OK(luaio_task_await(t, a->fut));
    ASSERT_PTR_EQ(a->fut, luaio_task_waiter(t));
    return LUAIO_STEP_SUSPENDED;
  }
  test_logf("resume:%s:%d", luaio_err_name(err),
            (int)luaio_future_state(a->fut));
  ASSERT_NULL(luaio_task_waiter(t));
  int rc = luaio_future_error(a->fut);
  return rc != 0 ? rc : LUAIO_STEP_RETURNED;
}

/* Sleeps delay seconds, then ends: resolved, or with the error it was
** woken with. With ignore set it swallows a cancellation; with uncancel
** set it takes the request back and sleeps once more, briefly. */
typedef struct {
  const char *name;
  double delay;
  int n;
  int ignore, uncancel;
  const char *msg; /* the cancel message it expects */
} sleeper;

static int sleep_step(luaio_task_t *t, int err) {
  sleeper *s = DATA(t);
  if (s->n++ == 0) {
    ASSERT_OK(err);
    ASSERT_OK(luaio_task_sleep(t, s->delay));
    ASSERT_EQ(s->delay > 0, luaio_task_sleeping(t));
    return LUAIO_STEP_SUSPENDED;
  }
  test_logf("%s:%s", s->name, luaio_err_name(err));
  ASSERT(!luaio_task_sleeping(t));
  if (err == LUAIO_ECANCELLED)
    ASSERT_STR_EQ(s->msg, luaio_task_cancel_message(t));
  if (err != 0 && s->uncancel) {
    ASSERT_EQ(0, luaio_task_uncancel(t));
    s->uncancel = 0;
    s->n = 0;
    s->delay = 0.001;
    return sleep_step(t, 0);
  }
  if (err != 0 && !s->ignore)
    return err;
  return LUAIO_STEP_RETURNED;
}

/* Logs the err of its only step and ends with it. */
static int log_err_step(luaio_task_t *t, int err) {
  (void)t;
  test_logf("step:%s", luaio_err_name(err));
  return err != 0 ? err : LUAIO_STEP_RETURNED;
}

/* Returns the code in its data, given as an intptr_t. */
static int return_step(luaio_task_t *t, int err) {
  ASSERT_OK(err);
  return (int)(intptr_t)DATA(t);
}

/* }====================================================================== */

/* {======================================================================
** Scheduling
** ======================================================================= */

TEST(round_robin) {
  luaio_loop_t *loop = loop_open();
  yielder a = {"a", 0, 2}, b = {"b", 0, 2}, c = {"c", 0, 2};
  luaio_task_t *ta = spawn(loop, yield_step, &a, 0);
  luaio_task_t *tb = spawn(loop, yield_step, &b, 0);
  luaio_task_t *tc = spawn(loop, yield_step, &c, 0);
  ASSERT_STR_EQ("", test_log); /* not eager: nothing ran yet */
  ASSERT_EQ(3, luaio_loop_ntasks(loop));
  run(loop);
  ASSERT_STR_EQ("a1,b1,c1,a2,b2,c2", test_log);
  ASSERT_EQ(0, luaio_loop_ntasks(loop));
  ASSERT_EQ(LUAIO_RESOLVED, state_of(ta));
  luaio_task_unref(ta);
  luaio_task_unref(tb);
  luaio_task_unref(tc);
  test_loop_close(loop);
}

TEST(round_robin_uneven) {
  luaio_loop_t *loop = loop_open();
  yielder a = {"a", 0, 3}, b = {"b", 0, 1}, c = {"c", 0, 2};
  luaio_task_t *t[3] = {spawn(loop, yield_step, &a, 0),
                        spawn(loop, yield_step, &b, 0),
                        spawn(loop, yield_step, &c, 0)};
  run_once(loop);
  ASSERT_STR_EQ("a1,b1,c1", test_log);
  ASSERT_EQ(2, luaio_loop_ntasks(loop));
  run(loop);
  ASSERT_STR_EQ("a1,b1,c1,a2,c2,a3", test_log);
  for (int i = 0; i < 3; i++)
    luaio_task_unref(t[i]);
  test_loop_close(loop);
}

/* An eager task runs its first step inside luaio_task_new(). */
TEST(eager_start) {
  luaio_loop_t *loop = loop_open();
  yielder e = {"e", 0, 2}, l = {"l", 0, 1};
  luaio_task_t *tl = spawn(loop, yield_step, &l, 0);
  luaio_task_t *te = spawn(loop, yield_step, &e, 1);
  test_logf("new");
  ASSERT_NULL(luaio_task_current(loop));
  run(loop);
  ASSERT_STR_EQ("e1,new,l1,e2", test_log);
  /* Done in its first step: done when new returns. */
  yielder d = {"d", 0, 1};
  luaio_task_t *td = spawn(loop, yield_step, &d, 1);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(td));
  ASSERT_EQ(0, luaio_loop_ntasks(loop));
  luaio_task_unref(tl);
  luaio_task_unref(te);
  luaio_task_unref(td);
  test_loop_close(loop);
}

/* An eager task made by a running task runs as the current task, and the
** creator is current again afterwards. */
static int creator_step(luaio_task_t *t, int err) {
  luaio_loop_t *loop = luaio_future_loop(luaio_task_future(t));
  yielder *inner = DATA(t);
  ASSERT_OK(err);
  test_logf("outer");
  luaio_task_t *child = spawn(loop, yield_step, inner, 1);
  ASSERT_PTR_EQ(t, luaio_task_current(loop));
  test_logf("outer-again");
  luaio_task_unref(child); /* the loop keeps it alive */
  return LUAIO_STEP_RETURNED;
}

TEST(eager_inside_task) {
  luaio_loop_t *loop = loop_open();
  yielder inner = {"i", 0, 2};
  luaio_task_t *t = spawn(loop, creator_step, &inner, 0);
  run(loop);
  ASSERT_STR_EQ("outer,i1,outer-again,i2", test_log);
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* The loop holds each task until it is done. */
TEST(owner_lets_go_early) {
  luaio_loop_t *loop = loop_open();
  yielder a = {"a", 0, 3};
  luaio_task_unref(spawn(loop, yield_step, &a, 0));
  run(loop);
  ASSERT_STR_EQ("a1,a2,a3", test_log);
  test_loop_close(loop);
}

static int ids_step(luaio_task_t *t, int err) {
  (void)err;
  luaio_loop_t *loop = luaio_future_loop(luaio_task_future(t));
  ASSERT_PTR_EQ(t, luaio_task_current(loop));
  ASSERT_PTR_EQ(t, luaio_future_task(luaio_task_future(t)));
  test_logf("id%llu", (unsigned long long)luaio_task_id(t));
  return LUAIO_STEP_RETURNED;
}

TEST(current_and_ids) {
  luaio_loop_t *loop = loop_open();
  ASSERT_NULL(luaio_task_current(loop));
  luaio_task_t *t[3];
  for (int i = 0; i < 3; i++)
    t[i] = spawn(loop, ids_step, NULL, 0);
  ASSERT_NULL(luaio_task_current(loop));
  run(loop);
  ASSERT_NULL(luaio_task_current(loop));
  ASSERT_STR_EQ("id1,id2,id3", test_log);
  for (int i = 0; i < 3; i++)
    luaio_task_unref(t[i]);
  test_loop_close(loop);
}

static void log_task_id(luaio_task_t *t, void *arg) {
  (void)arg;
  test_logf("t%llu", (unsigned long long)luaio_task_id(t));
}

/* Live tasks, oldest first. */
TEST(foreach_task) {
  luaio_loop_t *loop = loop_open();
  yielder a = {"a", 0, 3}, b = {"b", 0, 1}, c = {"c", 0, 2};
  luaio_task_t *t[3] = {spawn(loop, yield_step, &a, 0),
                        spawn(loop, yield_step, &b, 0),
                        spawn(loop, yield_step, &c, 0)};
  luaio_loop_foreach_task(loop, log_task_id, NULL);
  run_once(loop);
  luaio_loop_foreach_task(loop, log_task_id, NULL);
  run_once(loop);
  luaio_loop_foreach_task(loop, log_task_id, NULL);
  run(loop);
  luaio_loop_foreach_task(loop, log_task_id, NULL);
  ASSERT_STR_EQ("t1,t2,t3,a1,b1,c1,t1,t3,a2,c2,t1,a3", test_log);
  for (int i = 0; i < 3; i++)
    luaio_task_unref(t[i]);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** await and sleep
** ======================================================================= */

TEST(await_future) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  awaiter a = {fut, 0};
  luaio_task_t *t = spawn(loop, await_step, &a, 0);
  run(loop); /* nothing can wake it: returns */
  ASSERT_STR_EQ("await", test_log);
  ASSERT_PTR_EQ(fut, luaio_task_waiter(t));
  ASSERT_EQ(LUAIO_PENDING, state_of(t));
  ASSERT_OK(luaio_call_soon(loop, resolve_cb, fut, NULL, NULL));
  run(loop);
  ASSERT_STR_EQ("await,set,resume:OK:1", test_log);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(t));
  luaio_task_unref(t);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* A future done already: the task still resumes only in the next
** iteration. */
TEST(await_done_future) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  ASSERT_OK(luaio_future_set_error(fut, UV_EIO));
  awaiter a = {fut, 0};
  luaio_task_t *t = spawn(loop, await_step, &a, 0);
  run_once(loop);
  ASSERT_STR_EQ("await", test_log);
  run_once(loop);
  ASSERT_STR_EQ("await,resume:OK:2", test_log);
  /* It ended with the error it saw. */
  ASSERT_EQ(LUAIO_FAILED, state_of(t));
  ASSERT_EQ(UV_EIO, error_of(t));
  luaio_task_unref(t);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

TEST(await_task) {
  luaio_loop_t *loop = loop_open();
  awaiter a = {NULL, 0};
  yielder b = {"b", 0, 2};
  luaio_task_t *ta = spawn(loop, await_step, &a, 0);
  luaio_task_t *tb = spawn(loop, yield_step, &b, 0);
  a.fut = luaio_task_future(tb);
  run(loop);
  ASSERT_STR_EQ("await,b1,b2,resume:OK:1", test_log);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(ta));
  luaio_task_unref(ta);
  luaio_task_unref(tb);
  test_loop_close(loop);
}

/* Misuse of await and sleep returns a code and registers nothing. */
static int misuse_step(luaio_task_t *t, int err) {
  luaio_future_t *fut = DATA(t);
  ASSERT_OK(err);
  if (luaio_future_done(fut))
    return LUAIO_STEP_RETURNED;
  ASSERT_EQ(LUAIO_ESELF, luaio_task_await(t, luaio_task_future(t)));
  ASSERT_NULL(luaio_task_waiter(t));
  ASSERT_EQ(LUAIO_EINVAL, luaio_task_sleep(t, -1));
  ASSERT_EQ(LUAIO_EINVAL, luaio_task_sleep(t, NAN));
  ASSERT(!luaio_task_sleeping(t));
  ASSERT_OK(luaio_task_await(t, fut));
  /* Already waiting. */
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_task_await(t, fut));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_task_sleep(t, 1));
  ASSERT(!luaio_task_sleeping(t));
  test_logf("misused");
  return LUAIO_STEP_SUSPENDED;
}

TEST(await_misuse) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  luaio_task_t *t = spawn(loop, misuse_step, fut, 0);
  /* Not the running task. */
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_task_await(t, fut));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_task_sleep(t, 1));
  run(loop);
  ASSERT_STR_EQ("misused", test_log);
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_task_await(t, fut));
  ASSERT_OK(luaio_future_set_result(fut));
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(t));
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  luaio_task_unref(t);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* Sleeps until at seconds after the first of them started (a shared
** origin keeps the order of deadlines independent of when each step ran),
** then logs its name. at == 0 makes a sleep(0), a bare yield. */
typedef struct {
  const char *name;
  double at;
  int n;
} alarm_clock;

static double alarm_origin;

static int alarm_step(luaio_task_t *t, int err) {
  alarm_clock *a = DATA(t);
  ASSERT_OK(err);
  if (a->n++ == 0) {
    double now = luaio_loop_time(luaio_future_loop(luaio_task_future(t)));
    if (alarm_origin == 0)
      alarm_origin = now;
    double delay = a->at > 0 ? alarm_origin + a->at - now : 0;
    ASSERT(delay >= 0);
    ASSERT_OK(luaio_task_sleep(t, delay));
    ASSERT_EQ(a->at > 0, luaio_task_sleeping(t));
    return LUAIO_STEP_SUSPENDED;
  }
  ASSERT(!luaio_task_sleeping(t));
  test_logf("%s", a->name);
  return LUAIO_STEP_RETURNED;
}

/* Sleepers wake in deadline order; sleep(0) is a bare yield. */
TEST(sleep_order) {
  luaio_loop_t *loop = loop_open();
  alarm_clock a[4] = {{"a", 0.030, 0}, {"b", 0.010, 0}, {"c", 0.020, 0},
                      {"z", 0, 0}};
  luaio_task_t *t[4];
  alarm_origin = 0;
  for (int i = 0; i < 4; i++)
    t[i] = spawn(loop, alarm_step, &a[i], 0);
  run_once(loop);
  ASSERT_EQ(3, luaio_loop_ntimers(loop));
  ASSERT(luaio_task_sleeping(t[0]));
  ASSERT(!luaio_task_sleeping(t[3]));
  ASSERT_NULL(luaio_task_waiter(t[0]));
  run(loop);
  ASSERT_STR_EQ("z,b,c,a", test_log);
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ(LUAIO_RESOLVED, state_of(t[i]));
    luaio_task_unref(t[i]);
  }
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** Cancellation
** ======================================================================= */

/* Cancelled while sleeping: woken at once, the step gets ECANCELLED and
** the message. */
TEST(cancel_sleeping) {
  luaio_loop_t *loop = loop_open();
  sleeper s = {"s", 10, 0, 0, 0, "stop"};
  luaio_task_t *t = spawn(loop, sleep_step, &s, 0);
  run_once(loop);
  ASSERT(luaio_task_sleeping(t));
  ASSERT_EQ(0, luaio_task_cancelling(t));
  ASSERT_EQ(1, luaio_task_cancel(t, "stop"));
  ASSERT(!luaio_task_sleeping(t));
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  ASSERT_EQ(1, luaio_task_cancelling(t));
  ASSERT_STR_EQ("stop", luaio_task_cancel_message(t));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("s:ECANCELLED", test_log);
  ASSERT_EQ(LUAIO_CANCELLED, state_of(t));
  ASSERT(luaio_future_cancelled(luaio_task_future(t)));
  ASSERT_EQ(LUAIO_ECANCELLED, error_of(t));
  ASSERT_STR_EQ("stop", luaio_task_cancel_message(t));
  ASSERT_STR_EQ("stop", luaio_future_cancel_message(luaio_task_future(t)));
  /* Done: a further request is refused. */
  ASSERT_EQ(0, luaio_task_cancel(t, "late"));
  ASSERT_EQ(0, luaio_future_cancel(luaio_task_future(t), NULL));
  ASSERT_STR_EQ("stop", luaio_task_cancel_message(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* Cancelled while awaiting: the awaited future is cancelled (with the
** message), and the task resumes normally to find it so. */
TEST(cancel_awaiting) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  awaiter a = {fut, 0};
  luaio_task_t *t = spawn(loop, await_step, &a, 0);
  run_once(loop);
  ASSERT_EQ(1, luaio_task_cancel(t, "why"));
  ASSERT(luaio_future_cancelled(fut));
  ASSERT_STR_EQ("why", luaio_future_cancel_message(fut));
  run(loop);
  ASSERT_STR_EQ("await,resume:OK:3", test_log);
  ASSERT_EQ(LUAIO_CANCELLED, state_of(t));
  ASSERT_STR_EQ("why", luaio_task_cancel_message(t));
  luaio_task_unref(t);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* Cancelling a task that awaits another cancels the other, and waits for
** it to end. */
TEST(cancel_awaiting_task) {
  luaio_loop_t *loop = loop_open();
  sleeper s = {"inner", 10, 0, 0, 0, NULL};
  luaio_task_t *inner = spawn(loop, sleep_step, &s, 0);
  awaiter a = {luaio_task_future(inner), 0};
  luaio_task_t *outer = spawn(loop, await_step, &a, 0);
  run_once(loop);
  ASSERT_EQ(1, luaio_future_cancel(luaio_task_future(outer), NULL));
  ASSERT_EQ(1, luaio_task_cancelling(inner));
  ASSERT_EQ(LUAIO_PENDING, state_of(inner));
  run(loop);
  ASSERT_STR_EQ("await,inner:ECANCELLED,resume:OK:3", test_log);
  ASSERT_EQ(LUAIO_CANCELLED, state_of(inner));
  ASSERT_EQ(LUAIO_CANCELLED, state_of(outer));
  luaio_task_unref(inner);
  luaio_task_unref(outer);
  test_loop_close(loop);
}

/* Cancelled before its first step: that step raises the cancellation. */
TEST(cancel_before_first_step) {
  luaio_loop_t *loop = loop_open();
  luaio_task_t *t = spawn(loop, log_err_step, NULL, 0);
  ASSERT_EQ(1, luaio_task_cancel(t, NULL));
  ASSERT_EQ(1, luaio_task_cancel(t, NULL));
  ASSERT_EQ(2, luaio_task_cancelling(t));
  run(loop);
  ASSERT_STR_EQ("step:ECANCELLED", test_log);
  ASSERT_EQ(LUAIO_CANCELLED, state_of(t));
  ASSERT_NULL(luaio_task_cancel_message(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* Like yield_step, but it raises a cancellation as a binding does. */
static int yield_err_step(luaio_task_t *t, int err) {
  yielder *y = DATA(t);
  test_logf("%s%d:%s", y->name, ++y->n, luaio_err_name(err));
  if (err != 0)
    return err;
  return y->n == y->steps ? LUAIO_STEP_RETURNED : LUAIO_STEP_SUSPENDED;
}

static void cancel_cb(void *arg) {
  test_logf("cancel");
  ASSERT_EQ(1, luaio_task_cancel(arg, NULL));
}

/* Cancelled after a bare yield: the next step raises it. */
TEST(cancel_after_yield) {
  luaio_loop_t *loop = loop_open();
  yielder y = {"y", 0, 5};
  luaio_task_t *t = spawn(loop, yield_err_step, &y, 0);
  run_once(loop);
  ASSERT_OK(luaio_call_soon(loop, cancel_cb, t, NULL, NULL));
  run(loop);
  ASSERT_STR_EQ("y1:OK,y2:OK,cancel,y3:ECANCELLED", test_log);
  ASSERT_EQ(LUAIO_CANCELLED, state_of(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* A task that swallows the cancellation and returns ends resolved; the
** requests stay counted until taken back. */
TEST(cancel_ignored) {
  luaio_loop_t *loop = loop_open();
  sleeper s = {"s", 10, 0, 1, 0, "one"};
  luaio_task_t *t = spawn(loop, sleep_step, &s, 0);
  run_once(loop);
  ASSERT_EQ(1, luaio_task_cancel(t, NULL));
  ASSERT_EQ(1, luaio_task_cancel(t, "one"));
  ASSERT_EQ(2, luaio_task_cancelling(t));
  run(loop);
  ASSERT_STR_EQ("s:ECANCELLED", test_log);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(t));
  ASSERT_EQ(0, error_of(t));
  ASSERT_EQ(2, luaio_task_cancelling(t));
  ASSERT_EQ(1, luaio_task_uncancel(t));
  ASSERT_EQ(0, luaio_task_uncancel(t));
  ASSERT_EQ(0, luaio_task_uncancel(t)); /* never below 0 */
  ASSERT_EQ(0, luaio_task_cancel(t, NULL));
  ASSERT_EQ(0, luaio_task_cancelling(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* A task that takes the request back (as asyncio.timeout does) goes on:
** its next sleep is not interrupted. */
TEST(cancel_uncancelled) {
  luaio_loop_t *loop = loop_open();
  sleeper s = {"s", 10, 0, 0, 1, NULL};
  luaio_task_t *t = spawn(loop, sleep_step, &s, 0);
  run_once(loop);
  ASSERT_EQ(1, luaio_task_cancel(t, NULL));
  run(loop);
  ASSERT_STR_EQ("s:ECANCELLED,s:OK", test_log);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(t));
  ASSERT_EQ(0, luaio_task_cancelling(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* Cancelled during its own last step: asyncio's rule makes a task that
** returns with a cancellation pending end cancelled, unless the request
** was taken back. */
static int self_cancel_step(luaio_task_t *t, int err) {
  int *take_back = DATA(t);
  ASSERT_OK(err);
  ASSERT_EQ(1, luaio_task_cancel(t, "self"));
  ASSERT_EQ(1, luaio_task_cancelling(t));
  if (*take_back)
    ASSERT_EQ(0, luaio_task_uncancel(t));
  return LUAIO_STEP_RETURNED;
}

TEST(returned_with_cancel_pending) {
  luaio_loop_t *loop = loop_open();
  int no = 0, yes = 1;
  luaio_task_t *t = spawn(loop, self_cancel_step, &no, 0);
  luaio_task_t *u = spawn(loop, self_cancel_step, &yes, 0);
  run(loop);
  ASSERT_EQ(LUAIO_CANCELLED, state_of(t));
  ASSERT_STR_EQ("self", luaio_future_cancel_message(luaio_task_future(t)));
  ASSERT_EQ(LUAIO_RESOLVED, state_of(u));
  luaio_task_unref(t);
  luaio_task_unref(u);
  test_loop_close(loop);
}

/* A step that sleeps and then cancels its own task: the sleep is dropped
** and the next step, run once, raises the cancellation. */
static int sleep_then_cancel_step(luaio_task_t *t, int err) {
  test_logf("step:%s", luaio_err_name(err));
  if (err != 0)
    return err;
  ASSERT_OK(luaio_task_sleep(t, 10));
  ASSERT_EQ(1, luaio_task_cancel(t, NULL));
  return LUAIO_STEP_SUSPENDED;
}

TEST(sleep_then_cancel_self) {
  luaio_loop_t *loop = loop_open();
  luaio_task_t *t = spawn(loop, sleep_then_cancel_step, NULL, 0);
  run_once(loop);
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  ASSERT_EQ(1, luaio_loop_nready(loop));
  run(loop);
  ASSERT_STR_EQ("step:OK,step:ECANCELLED", test_log);
  ASSERT_EQ(LUAIO_CANCELLED, state_of(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* A negative code from a step fails the task with it; LUAIO_ECANCELLED
** raised by the step itself cancels it. */
TEST(step_error) {
  luaio_loop_t *loop = loop_open();
  luaio_task_t *t = spawn(loop, return_step, (void *)(intptr_t)UV_ECONNRESET,
                          0);
  luaio_task_t *u = spawn(loop, return_step, (void *)(intptr_t)LUAIO_EFAILED,
                          1);
  luaio_task_t *c = spawn(loop, return_step,
                          (void *)(intptr_t)LUAIO_ECANCELLED, 0);
  ASSERT_EQ(LUAIO_FAILED, state_of(u)); /* eager */
  run(loop);
  ASSERT_EQ(LUAIO_FAILED, state_of(t));
  ASSERT_EQ(UV_ECONNRESET, error_of(t));
  ASSERT_EQ(LUAIO_EFAILED, error_of(u));
  ASSERT_EQ(LUAIO_CANCELLED, state_of(c));
  ASSERT_EQ(0, luaio_task_cancelling(c));
  luaio_task_unref(t);
  luaio_task_unref(u);
  luaio_task_unref(c);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** Debugging aids
** ======================================================================= */

TEST(print_tasks) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  sleeper s = {"s", 10, 0, 0, 0, NULL};
  awaiter a = {fut, 0};
  luaio_task_t *ts = spawn(loop, sleep_step, &s, 0);
  luaio_task_t *ta = spawn(loop, await_step, &a, 0);
  run_once(loop);
  luaio_task_t *tr = spawn(loop, log_err_step, NULL, 0);
  ASSERT_EQ(1, luaio_task_cancel(tr, NULL));
  FILE *f = tmpfile();
  ASSERT_NOT_NULL(f);
  luaio_print_tasks(loop, f);
  rewind(f);
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  ASSERT(strstr(buf, "3 live task") != NULL);
  ASSERT(strstr(buf, "task 1: sleeping") != NULL);
  ASSERT(strstr(buf, "task 2: waiting") != NULL);
  ASSERT(strstr(buf, "task 3: ready, 1 cancellation") != NULL);
  ASSERT_EQ(1, luaio_task_cancel(ts, NULL));
  ASSERT_OK(luaio_future_set_result(fut));
  run(loop);
  luaio_task_unref(ts);
  luaio_task_unref(ta);
  luaio_task_unref(tr);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** Out of memory
** ======================================================================= */

TEST(oom_task_new) {
  luaio_loop_t *loop = loop_open();
  for (int eager = 0; eager < 2; eager++) {
    long live = test_alloc_live();
    size_t ntasks = luaio_loop_ntasks(loop);
    size_t nready = luaio_loop_nready(loop);
    for (long n = 1;; n++) {
      test_alloc_fail_after(n);
      luaio_task_t *t = luaio_task_new(loop, log_err_step, NULL, eager);
      if (!test_alloc_failed()) {
        ASSERT_NOT_NULL(t);
        luaio_task_unref(t);
        break;
      }
      ASSERT_NULL(t);
      ASSERT_EQ(live, test_alloc_live());
      ASSERT_EQ(ntasks, luaio_loop_ntasks(loop));
      ASSERT_EQ(nready, luaio_loop_nready(loop));
    }
    test_alloc_fail_after(0);
  }
  ASSERT_STR_EQ("step:OK", test_log); /* the eager one */
  run(loop);
  ASSERT_STR_EQ("step:OK,step:OK", test_log);
  test_loop_close(loop);
}

/* A request whose message cannot be copied is not made. */
TEST(oom_cancel) {
  luaio_loop_t *loop = loop_open();
  luaio_task_t *t = spawn(loop, log_err_step, NULL, 0);
  test_alloc_fail_after(1);
  ASSERT_EQ(LUAIO_ENOMEM, luaio_task_cancel(t, "msg"));
  test_alloc_fail_after(0);
  ASSERT_EQ(0, luaio_task_cancelling(t));
  ASSERT_NULL(luaio_task_cancel_message(t));
  run(loop);
  ASSERT_STR_EQ("step:OK", test_log);
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* The first sleep grows the timer heap: that can fail, and then the task
** is not sleeping. */
static int oom_sleep_step(luaio_task_t *t, int err) {
  ASSERT_OK(err);
  test_alloc_fail_after(1);
  ASSERT_EQ(LUAIO_ENOMEM, luaio_task_sleep(t, 1));
  test_alloc_fail_after(0);
  ASSERT(!luaio_task_sleeping(t));
  return LUAIO_STEP_RETURNED;
}

TEST(oom_sleep) {
  luaio_loop_t *loop = loop_open();
  luaio_task_t *t = spawn(loop, oom_sleep_step, NULL, 0);
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* }====================================================================== */

/* Waits on a shared future (borrowed), then logs how it woke. */
typedef struct {
  const char *name;
  luaio_future_t *fut;
  int n;
} sharer;

static int shared_step(luaio_task_t *t, int err) {
  sharer *w = DATA(t);
  if (w->n++ == 0) {
    ASSERT_OK(luaio_task_await_shared(t, w->fut));
    return LUAIO_STEP_SUSPENDED;
  }
  test_logf("%s:%s", w->name, err == LUAIO_ECANCELLED ? "cancelled" : "woken");
  return err == LUAIO_ECANCELLED ? LUAIO_ECANCELLED : LUAIO_STEP_RETURNED;
}

TEST(await_shared_cancel_detaches_one_waiter) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  sharer a = {"a", fut, 0}, b = {"b", fut, 0}, c = {"c", fut, 0};
  luaio_task_t *ta = spawn(loop, shared_step, &a, 0);
  luaio_task_t *tb = spawn(loop, shared_step, &b, 0);
  luaio_task_t *tc = spawn(loop, shared_step, &c, 0);
  run_once(loop); /* all three wait on fut */
  test_log_reset();
  ASSERT_EQ(1, luaio_task_cancel(tb, NULL));
  run_once(loop);
  /* b woke alone; the shared future was left pending for the others. */
  ASSERT_STR_EQ("b:cancelled", test_log);
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(fut));
  ASSERT_EQ(LUAIO_CANCELLED, state_of(tb));
  ASSERT_OK(luaio_future_set_result(fut));
  run(loop);
  ASSERT_STR_EQ("b:cancelled,a:woken,c:woken", test_log);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(ta));
  ASSERT_EQ(LUAIO_RESOLVED, state_of(tc));
  /* Cancelling after the future is done: the wake-up is already queued,
  ** and the task raises the cancellation when it runs. */
  luaio_future_t *fut2 = luaio_future_new(loop);
  sharer d = {"d", fut2, 0};
  luaio_task_t *td = spawn(loop, shared_step, &d, 0);
  run_once(loop);
  test_log_reset();
  ASSERT_OK(luaio_future_set_result(fut2));
  ASSERT_EQ(1, luaio_task_cancel(td, NULL));
  run(loop);
  ASSERT_STR_EQ("d:cancelled", test_log);
  luaio_task_unref(ta);
  luaio_task_unref(tb);
  luaio_task_unref(tc);
  luaio_task_unref(td);
  luaio_future_unref(fut);
  luaio_future_unref(fut2);
  test_loop_close(loop);
}

/* With LUAIO_TASK_DONE_STEP the step is called once more when the task is
** done, its outcome already set, whether it returned, failed or was
** cancelled before it ran. */
typedef struct {
  int steps;
  int rc;     /* what its one real step returns */
  int done;   /* LUAIO_TASK_DONE calls seen */
  luaio_state seen;
} finisher;

static int finish_step(luaio_task_t *t, int err) {
  finisher *f = DATA(t);
  if (err == LUAIO_TASK_DONE) {
    f->done++;
    f->seen = luaio_future_state(luaio_task_future(t));
    return 0;
  }
  f->steps++;
  return err == LUAIO_ECANCELLED ? LUAIO_ECANCELLED : f->rc;
}

TEST(done_step) {
  luaio_loop_t *loop = loop_open();
  finisher ok = {0, LUAIO_STEP_RETURNED, 0, LUAIO_PENDING};
  finisher bad = {0, UV_EIO, 0, LUAIO_PENDING};
  finisher early = {0, LUAIO_STEP_RETURNED, 0, LUAIO_PENDING};
  finisher eager = {0, LUAIO_STEP_RETURNED, 0, LUAIO_PENDING};
  luaio_task_t *a = spawn(loop, finish_step, &ok, LUAIO_TASK_DONE_STEP);
  luaio_task_t *b = spawn(loop, finish_step, &bad, LUAIO_TASK_DONE_STEP);
  luaio_task_t *c = spawn(loop, finish_step, &early, LUAIO_TASK_DONE_STEP);
  ASSERT_EQ(1, luaio_task_cancel(c, NULL)); /* before its first step */
  /* An eager task may be done before luaio_task_new returns. */
  luaio_task_t *d = spawn(loop, finish_step, &eager,
                          LUAIO_TASK_DONE_STEP | LUAIO_TASK_EAGER);
  ASSERT_EQ(1, eager.done);
  ASSERT_EQ(LUAIO_RESOLVED, eager.seen);
  run(loop);
  ASSERT_EQ(1, ok.done);
  ASSERT_EQ(LUAIO_RESOLVED, ok.seen);
  ASSERT_EQ(1, bad.done);
  ASSERT_EQ(LUAIO_FAILED, bad.seen);
  ASSERT_EQ(1, early.done);
  ASSERT_EQ(LUAIO_CANCELLED, early.seen);
  ASSERT_EQ(1, early.steps); /* the cancellation, and no more */
  /* Without the flag, no extra call. */
  finisher plain = {0, LUAIO_STEP_RETURNED, 0, LUAIO_PENDING};
  luaio_task_t *e = spawn(loop, finish_step, &plain, 0);
  run(loop);
  ASSERT_EQ(0, plain.done);
  luaio_task_unref(a);
  luaio_task_unref(b);
  luaio_task_unref(c);
  luaio_task_unref(d);
  luaio_task_unref(e);
  test_loop_close(loop);
}

/* {======================================================================
** Cancellation through chains and cycles of awaits
** ======================================================================= */

/* Awaits the future *DATA(t), without logging, and ends as it did. */
static int chain_step(luaio_task_t *t, int err) {
  luaio_future_t *next = *(luaio_future_t **)DATA(t);
  if (luaio_task_waiter(t) == NULL && err == 0 && !luaio_future_done(next)) {
    ASSERT_OK(luaio_task_await(t, next));
    return LUAIO_STEP_SUSPENDED;
  }
  if (err != 0)
    return err;
  return luaio_future_cancelled(next) ? LUAIO_ECANCELLED : LUAIO_STEP_RETURNED;
}

/* One cancel of the head of a long chain of tasks, each awaiting the next
** (as recursive async code builds it), reaches the tail without recursing
** in C, and every task ends cancelled. (It ran out of C stack long before
** this depth.) */
TEST(cancel_deep_chain) {
  enum { N = 300000 };
  luaio_loop_t *loop = loop_open();
  luaio_future_t **futs = malloc(N * sizeof *futs);
  ASSERT_NOT_NULL(futs);
  for (int i = 0; i < N - 1; i++)
    futs[i] = luaio_task_future(spawn(loop, chain_step, &futs[i + 1], 0));
  sleeper s = {"tail", 10, 0, 0, 0, "deep"};
  futs[N - 1] = luaio_task_future(spawn(loop, sleep_step, &s, 0));
  run_once(loop);
  ASSERT_PTR_EQ(futs[1], luaio_task_waiter(luaio_future_task(futs[0])));
  ASSERT_EQ(1, luaio_future_cancel(futs[0], "deep"));
  ASSERT_EQ(1, luaio_task_cancelling(luaio_future_task(futs[N - 1])));
  run(loop);
  ASSERT_STR_EQ("tail:ECANCELLED", test_log);
  for (int i = 0; i < N; i++) {
    ASSERT_EQ(LUAIO_CANCELLED, luaio_future_state(futs[i]));
    luaio_future_unref(futs[i]);
  }
  free(futs);
  test_loop_close(loop);
}

/* Awaits the future in a->fut and logs what luaio_task_await said, then
** ends at once. */
static int try_await_step(luaio_task_t *t, int err) {
  awaiter *a = DATA(t);
  ASSERT_OK(err);
  if (a->n++ == 0) {
    int rc = luaio_task_await(t, a->fut);
    test_logf("await:%s", luaio_err_name(rc));
    if (rc == 0)
      return LUAIO_STEP_SUSPENDED;
  }
  return LUAIO_STEP_RETURNED;
}

/* An await that would close a cycle (a waits for b, b would wait for a,
** directly or through a gather) fails at once, as awaiting oneself does. */
TEST(await_cycle) {
  luaio_loop_t *loop = loop_open();
  awaiter aa = {NULL, 0}, ab = {NULL, 0};
  luaio_task_t *a = spawn(loop, try_await_step, &aa, 0);
  luaio_task_t *b = spawn(loop, try_await_step, &ab, 0);
  aa.fut = luaio_task_future(b);
  luaio_future_t *children[] = {luaio_task_future(a)};
  luaio_future_t *g = luaio_gather_new(loop, children, 1, 0);
  ASSERT_NOT_NULL(g);
  ab.fut = g; /* b awaits gather(a), and a awaits b */
  run(loop);
  ASSERT_STR_EQ("await:OK,await:ECYCLE", test_log);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(a));
  ASSERT_EQ(LUAIO_RESOLVED, state_of(b));
  ASSERT_STR_EQ("the awaited future waits for the awaiting task",
                luaio_strerror(LUAIO_ECYCLE));
  luaio_future_unref(g);
  luaio_task_unref(a);
  luaio_task_unref(b);
  test_loop_close(loop);
}

/* A task gathering itself: the await fails, the task goes on. */
TEST(await_gather_of_self) {
  luaio_loop_t *loop = loop_open();
  awaiter a = {NULL, 0};
  luaio_task_t *t = spawn(loop, try_await_step, &a, 0);
  luaio_future_t *children[] = {luaio_task_future(t)};
  a.fut = luaio_gather_new(loop, children, 1, 0);
  ASSERT_NOT_NULL(a.fut);
  run(loop);
  ASSERT_STR_EQ("await:ECYCLE", test_log);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(t));
  luaio_future_unref(a.fut);
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* Cancels itself with the message "own", then awaits *DATA(t) as
** chain_step does. */
static int cancel_then_await_step(luaio_task_t *t, int err) {
  if (luaio_task_waiter(t) == NULL && err == 0)
    ASSERT_EQ(1, luaio_task_cancel(t, "own"));
  return chain_step(t, err);
}

/* A task cancelled during its step passes its own message on to what it
** awaits once the step is over: the message it owns is copied, never
** handed to a call that could free it. */
TEST(cancel_message_passed_on) {
  luaio_loop_t *loop = loop_open();
  sleeper s = {"inner", 10, 0, 0, 0, "own"};
  luaio_task_t *inner = spawn(loop, sleep_step, &s, LUAIO_TASK_EAGER);
  luaio_future_t *next = luaio_task_future(inner);
  luaio_task_t *outer = spawn(loop, cancel_then_await_step, &next, 0);
  run(loop);
  ASSERT_STR_EQ("inner:ECANCELLED", test_log);
  ASSERT_STR_EQ("own", luaio_task_cancel_message(inner));
  ASSERT_STR_EQ("own", luaio_task_cancel_message(outer));
  ASSERT_EQ(LUAIO_CANCELLED, state_of(outer));
  luaio_task_unref(inner);
  luaio_task_unref(outer);
  test_loop_close(loop);
}

/* }====================================================================== */

int main(int argc, char **argv) { return test_main(argc, argv); }
