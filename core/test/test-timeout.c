/*
** test-timeout.c - asyncio.timeout scopes: the deadline cancels the task
** and exit turns that cancellation into LUAIO_ETIMEOUT; other outcomes
** and other cancellations pass through unchanged.
*/
#include <math.h>

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

static luaio_state state_of(luaio_task_t *t) {
  return luaio_future_state(luaio_task_future(t));
}

static void cancel_cb(void *arg) {
  test_logf("outside");
  ASSERT_EQ(1, luaio_task_cancel(arg, "outside"));
}

/* {======================================================================
** A task whose body runs in a timeout scope:
**
**   async with asyncio.timeout_at(when):  -- when < 0: timeout(None)
**     await asyncio.sleep(sleep)
**     raise body_err                      -- when body_err != 0
** ======================================================================= */

typedef struct {
  double when, sleep;
  int body_err;
  int cancel_outside; /* also cancel the task from a callback */
  luaio_timeout_t *to; /* owns */
  int n;
} scope;

static int scope_step(luaio_task_t *t, int err) {
  scope *s = DATA(t);
  luaio_loop_t *loop = luaio_future_loop(luaio_task_future(t));
  if (s->n++ == 0) {
    ASSERT_OK(err);
    s->to = luaio_timeout_new(loop);
    ASSERT_NOT_NULL(s->to);
    ASSERT_OK(luaio_timeout_enter(s->to, t, s->when));
    ASSERT(luaio_timeout_when(s->to) == s->when);
    ASSERT(!luaio_timeout_expired(s->to));
    ASSERT_EQ(LUAIO_EINVALSTATE, luaio_timeout_enter(s->to, t, s->when));
    if (s->cancel_outside)
      ASSERT_OK(luaio_call_soon(loop, cancel_cb, t, NULL, NULL));
    ASSERT_OK(luaio_task_sleep(t, s->sleep));
    return LUAIO_STEP_SUSPENDED;
  }
  int rc = err != 0 ? err : s->body_err;
  int out = luaio_timeout_exit(s->to, rc);
  test_logf("%s->%s%s", luaio_err_name(rc), luaio_err_name(out),
            luaio_timeout_expired(s->to) ? ",expired" : "");
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_timeout_reschedule(s->to, 1));
  luaio_timeout_unref(s->to);
  s->to = NULL;
  return out != 0 ? out : LUAIO_STEP_RETURNED;
}

static luaio_task_t *scope_spawn(luaio_loop_t *loop, scope *s) {
  luaio_task_t *t = luaio_task_new(loop, scope_step, s, 0);
  ASSERT_NOT_NULL(t);
  return t;
}

/* }====================================================================== */

/* The deadline cancels the task; exit makes it a timeout, and the count
** of cancellation requests is back to 0. */
TEST(deadline) {
  luaio_loop_t *loop = loop_open();
  scope s = {luaio_loop_time(loop) + 0.002, 10, 0, 0, NULL, 0};
  luaio_task_t *t = scope_spawn(loop, &s);
  run(loop);
  ASSERT_STR_EQ("ECANCELLED->ETIMEOUT,expired", test_log);
  ASSERT_EQ(LUAIO_FAILED, state_of(t));
  ASSERT_EQ(LUAIO_ETIMEOUT, luaio_future_error(luaio_task_future(t)));
  ASSERT_EQ(0, luaio_task_cancelling(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* A deadline already past fires from the ready queue, not inside enter. */
TEST(deadline_past) {
  luaio_loop_t *loop = loop_open();
  scope s = {0, 10, 0, 0, NULL, 0};
  luaio_task_t *t = scope_spawn(loop, &s);
  run(loop);
  ASSERT_STR_EQ("ECANCELLED->ETIMEOUT,expired", test_log);
  ASSERT_EQ(0, luaio_task_cancelling(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* No deadline: nothing is armed, nothing expires. */
TEST(no_deadline) {
  luaio_loop_t *loop = loop_open();
  scope s = {-1, 0.002, 0, 0, NULL, 0};
  luaio_task_t *t = scope_spawn(loop, &s);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_EQ(1, luaio_loop_ntimers(loop)); /* the sleep alone */
  run(loop);
  ASSERT_STR_EQ("OK->OK", test_log);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* Leaving before the deadline: the body's error passes unchanged and the
** deadline is disarmed. */
TEST(exit_before_deadline) {
  luaio_loop_t *loop = loop_open();
  scope s = {luaio_loop_time(loop) + 10, 0.001, UV_EIO, 0, NULL, 0};
  luaio_task_t *t = scope_spawn(loop, &s);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_EQ(2, luaio_loop_ntimers(loop));
  run(loop);
  ASSERT_STR_EQ("EIO->EIO", test_log);
  ASSERT_EQ(UV_EIO, luaio_future_error(luaio_task_future(t)));
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* Cancelled from outside before the deadline: still a cancellation. */
TEST(outside_cancel_before_deadline) {
  luaio_loop_t *loop = loop_open();
  scope s = {luaio_loop_time(loop) + 10, 10, 0, 1, NULL, 0};
  luaio_task_t *t = scope_spawn(loop, &s);
  run(loop);
  ASSERT_STR_EQ("outside,ECANCELLED->ECANCELLED", test_log);
  ASSERT_EQ(LUAIO_CANCELLED, state_of(t));
  ASSERT_EQ(1, luaio_task_cancelling(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* The deadline and an outside request both cancel the task: the
** cancellation is not the deadline's alone, so exit leaves it one (the
** count of requests says so). */
TEST(outside_cancel_with_deadline) {
  luaio_loop_t *loop = loop_open();
  scope s = {0, 10, 0, 1, NULL, 0};
  luaio_task_t *t = scope_spawn(loop, &s);
  run(loop);
  ASSERT_STR_EQ("outside,ECANCELLED->ECANCELLED,expired", test_log);
  ASSERT_EQ(LUAIO_CANCELLED, state_of(t));
  ASSERT_EQ(1, luaio_task_cancelling(t));
  ASSERT_STR_EQ("outside", luaio_task_cancel_message(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* {======================================================================
** reschedule
** ======================================================================= */

static int reschedule_step(luaio_task_t *t, int err) {
  scope *s = DATA(t);
  luaio_loop_t *loop = luaio_future_loop(luaio_task_future(t));
  if (s->n++ == 0) {
    double now = luaio_loop_time(loop);
    s->to = luaio_timeout_new(loop);
    ASSERT_NOT_NULL(s->to);
    ASSERT_EQ(LUAIO_EINVALSTATE, luaio_timeout_reschedule(s->to, now));
    ASSERT_OK(luaio_timeout_enter(s->to, t, now + 10));
    ASSERT_EQ(LUAIO_EINVAL, luaio_timeout_reschedule(s->to, NAN));
    ASSERT_OK(luaio_timeout_reschedule(s->to, now + 20));
    ASSERT(luaio_timeout_when(s->to) == now + 20);
    ASSERT_EQ(1, luaio_loop_ntimers(loop));
    ASSERT_OK(luaio_timeout_reschedule(s->to, -1)); /* none */
    ASSERT(luaio_timeout_when(s->to) < 0);
    ASSERT_EQ(0, luaio_loop_ntimers(loop));
    ASSERT_OK(luaio_timeout_reschedule(s->to, now + 0.002));
    ASSERT_OK(luaio_task_sleep(t, 10));
    return LUAIO_STEP_SUSPENDED;
  }
  return scope_step(t, err);
}

TEST(reschedule) {
  luaio_loop_t *loop = loop_open();
  scope s = {0, 0, 0, 0, NULL, 0};
  luaio_task_t *t = luaio_task_new(loop, reschedule_step, &s, 0);
  ASSERT_NOT_NULL(t);
  run(loop);
  ASSERT_STR_EQ("ECANCELLED->ETIMEOUT,expired", test_log);
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** Nesting
** ======================================================================= */

/* Two scopes; the one whose deadline passes converts the cancellation,
** the other passes its outcome on. early is 0 for the outer. */
typedef struct {
  int early;
  luaio_timeout_t *outer, *inner; /* own */
  int n;
} nest;

static int nest_step(luaio_task_t *t, int err) {
  nest *s = DATA(t);
  luaio_loop_t *loop = luaio_future_loop(luaio_task_future(t));
  if (s->n++ == 0) {
    double now = luaio_loop_time(loop);
    s->outer = luaio_timeout_new(loop);
    s->inner = luaio_timeout_new(loop);
    ASSERT_NOT_NULL(s->outer);
    ASSERT_NOT_NULL(s->inner);
    ASSERT_OK(luaio_timeout_enter(s->outer, t, s->early ? now + 10 : 0));
    ASSERT_OK(luaio_timeout_enter(s->inner, t, s->early ? 0 : now + 10));
    ASSERT_OK(luaio_task_sleep(t, 10));
    return LUAIO_STEP_SUSPENDED;
  }
  int rc = luaio_timeout_exit(s->inner, err);
  test_logf("inner:%s", luaio_err_name(rc));
  rc = luaio_timeout_exit(s->outer, rc);
  test_logf("outer:%s", luaio_err_name(rc));
  luaio_timeout_unref(s->inner);
  luaio_timeout_unref(s->outer);
  return rc != 0 ? rc : LUAIO_STEP_RETURNED;
}

TEST(nested_inner_expires) {
  luaio_loop_t *loop = loop_open();
  nest s = {1, NULL, NULL, 0};
  luaio_task_t *t = luaio_task_new(loop, nest_step, &s, 0);
  ASSERT_NOT_NULL(t);
  run(loop);
  ASSERT_STR_EQ("inner:ETIMEOUT,outer:ETIMEOUT", test_log);
  ASSERT_EQ(0, luaio_task_cancelling(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

TEST(nested_outer_expires) {
  luaio_loop_t *loop = loop_open();
  nest s = {0, NULL, NULL, 0};
  luaio_task_t *t = luaio_task_new(loop, nest_step, &s, 0);
  ASSERT_NOT_NULL(t);
  run(loop);
  ASSERT_STR_EQ("inner:ECANCELLED,outer:ETIMEOUT", test_log);
  ASSERT_EQ(0, luaio_task_cancelling(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** Odd uses and out of memory
** ======================================================================= */

/* Entered with a past deadline and left at once: it never fires. */
static int enter_exit_step(luaio_task_t *t, int err) {
  luaio_loop_t *loop = luaio_future_loop(luaio_task_future(t));
  ASSERT_OK(err);
  luaio_timeout_t *to = luaio_timeout_new(loop);
  ASSERT_NOT_NULL(to);
  ASSERT_OK(luaio_timeout_enter(to, t, 0));
  ASSERT_EQ(UV_EPIPE, luaio_timeout_exit(to, UV_EPIPE));
  ASSERT(!luaio_timeout_expired(to));
  luaio_timeout_unref(to);
  return LUAIO_STEP_RETURNED;
}

TEST(enter_exit_at_once) {
  luaio_loop_t *loop = loop_open();
  luaio_task_t *t = luaio_task_new(loop, enter_exit_step, NULL, 0);
  ASSERT_NOT_NULL(t);
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(t));
  ASSERT_EQ(0, luaio_task_cancelling(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* Never entered: exit passes anything on, unref frees it. */
TEST(never_entered) {
  luaio_loop_t *loop = loop_open();
  luaio_timeout_t *to = luaio_timeout_new(loop);
  ASSERT_NOT_NULL(to);
  ASSERT(luaio_timeout_when(to) < 0);
  ASSERT_EQ(LUAIO_ECANCELLED, luaio_timeout_exit(to, LUAIO_ECANCELLED));
  luaio_timeout_unref(to);
  to = luaio_timeout_new(loop);
  ASSERT_NOT_NULL(to);
  luaio_timeout_unref(to);
  test_loop_close(loop);
}

TEST(oom_timeout_new) {
  luaio_loop_t *loop = loop_open();
  long live = test_alloc_live();
  for (long n = 1;; n++) {
    test_alloc_fail_after(n);
    luaio_timeout_t *to = luaio_timeout_new(loop);
    if (!test_alloc_failed()) {
      ASSERT_NOT_NULL(to);
      luaio_timeout_unref(to);
      break;
    }
    ASSERT_NULL(to);
    ASSERT_EQ(live, test_alloc_live());
  }
  test_alloc_fail_after(0);
  test_loop_close(loop);
}

/* Arming the deadline can fail: enter says so, and exit and unref still
** clean up. */
static int oom_enter_step(luaio_task_t *t, int err) {
  luaio_loop_t *loop = luaio_future_loop(luaio_task_future(t));
  ASSERT_OK(err);
  for (long n = 1;; n++) {
    luaio_timeout_t *to = luaio_timeout_new(loop);
    ASSERT_NOT_NULL(to);
    test_alloc_fail_after(n);
    int rc = luaio_timeout_enter(to, t, luaio_loop_time(loop) + 10);
    int failed = test_alloc_failed();
    test_alloc_fail_after(0);
    ASSERT_EQ(failed ? LUAIO_ENOMEM : 0, rc);
    ASSERT_EQ(0, luaio_timeout_exit(to, 0));
    luaio_timeout_unref(to);
    ASSERT_EQ(0, luaio_loop_ntimers(loop));
    if (!failed)
      break;
  }
  return LUAIO_STEP_RETURNED;
}

TEST(oom_enter) {
  luaio_loop_t *loop = loop_open();
  luaio_task_t *t = luaio_task_new(loop, oom_enter_step, NULL, 0);
  ASSERT_NOT_NULL(t);
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(t));
  luaio_task_unref(t);
  test_loop_close(loop);
}

/* }====================================================================== */

int main(int argc, char **argv) { return test_main(argc, argv); }
