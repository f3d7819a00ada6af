/*
** test-shield.c - asyncio.shield: the outer future mirrors the inner one,
** and cancelling the outer does not reach the inner.
*/
#include "luaio.h"
#include "test.h"

#define DATA(t) luaio_future_data(luaio_task_future(t))

static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  return loop;
}

static void run(luaio_loop_t *loop) {
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
}

static luaio_future_t *future_new(luaio_loop_t *loop) {
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  return fut;
}

static luaio_future_t *shield_new(luaio_loop_t *loop, luaio_future_t *inner) {
  luaio_future_t *s = luaio_shield_new(loop, inner);
  ASSERT_NOT_NULL(s);
  return s;
}

TEST(mirrors_result) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *inner = future_new(loop);
  luaio_future_t *outer = shield_new(loop, inner);
  ASSERT_PTR_NE(inner, outer);
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(outer));
  ASSERT_OK(luaio_future_set_result(inner));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(outer)); /* from the queue */
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(outer));
  luaio_future_unref(outer);
  luaio_future_unref(inner);
  test_loop_close(loop);
}

TEST(mirrors_error) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *inner = future_new(loop);
  luaio_future_t *outer = shield_new(loop, inner);
  ASSERT_OK(luaio_future_set_error(inner, UV_EIO));
  run(loop);
  ASSERT_EQ(LUAIO_FAILED, luaio_future_state(outer));
  ASSERT_EQ(UV_EIO, luaio_future_error(outer));
  luaio_future_unref(outer);
  luaio_future_unref(inner);
  test_loop_close(loop);
}

/* The inner future cancelled (by someone else): so is the outer, with the
** same message. */
TEST(mirrors_cancellation) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *inner = future_new(loop);
  luaio_future_t *outer = shield_new(loop, inner);
  ASSERT_EQ(1, luaio_future_cancel(inner, "inside"));
  run(loop);
  ASSERT(luaio_future_cancelled(outer));
  ASSERT_STR_EQ("inside", luaio_future_cancel_message(outer));
  luaio_future_unref(outer);
  luaio_future_unref(inner);
  test_loop_close(loop);
}

/* An inner future done already: the outer follows in the next iteration. */
TEST(inner_done_already) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *inner = future_new(loop);
  ASSERT_OK(luaio_future_set_error(inner, UV_EPIPE));
  luaio_future_t *outer = shield_new(loop, inner);
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(outer));
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_EQ(UV_EPIPE, luaio_future_error(outer));
  luaio_future_unref(outer);
  luaio_future_unref(inner);
  test_loop_close(loop);
}

/* Cancelling the outer cancels it alone. */
TEST(cancel_outer) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *inner = future_new(loop);
  luaio_future_t *outer = shield_new(loop, inner);
  ASSERT_EQ(1, luaio_future_cancel(outer, "outside"));
  ASSERT(luaio_future_cancelled(outer));
  ASSERT_STR_EQ("outside", luaio_future_cancel_message(outer));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(inner));
  ASSERT_EQ(0, luaio_future_cancel(outer, NULL));
  ASSERT_OK(luaio_future_set_result(inner));
  run(loop);
  ASSERT(luaio_future_cancelled(outer)); /* stays so */
  luaio_future_unref(outer);
  luaio_future_unref(inner);
  test_loop_close(loop);
}

/* Cancelled when the inner is done but the outer not yet: the outer is
** cancelled, and the inner's outcome arrives to find it done. */
TEST(cancel_outer_while_inner_queued) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *inner = future_new(loop);
  luaio_future_t *outer = shield_new(loop, inner);
  ASSERT_OK(luaio_future_set_result(inner));
  ASSERT_EQ(1, luaio_future_cancel(outer, NULL));
  run(loop);
  ASSERT(luaio_future_cancelled(outer));
  luaio_future_unref(outer);
  luaio_future_unref(inner);
  test_loop_close(loop);
}

/* The shield outlives its owner's reference until the inner is done. */
TEST(unref_early) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *inner = future_new(loop);
  long live = test_alloc_live();
  luaio_future_unref(shield_new(loop, inner));
  ASSERT(test_alloc_live() > live);
  ASSERT_OK(luaio_future_set_result(inner));
  run(loop);
  ASSERT_EQ(live, test_alloc_live());
  luaio_future_unref(inner);
  test_loop_close(loop);
}

/* {======================================================================
** With tasks: an outer task awaits a shielded inner task and is
** cancelled; the inner runs to its end.
** ======================================================================= */

typedef struct {
  const char *name;
  int n, steps;
} yielder;

static int yield_step(luaio_task_t *t, int err) {
  yielder *y = DATA(t);
  ASSERT_OK(err);
  test_logf("%s%d", y->name, ++y->n);
  return y->n == y->steps ? LUAIO_STEP_RETURNED : LUAIO_STEP_SUSPENDED;
}

typedef struct {
  luaio_future_t *fut; /* borrowed */
  int n;
} awaiter;

static int await_step(luaio_task_t *t, int err) {
  awaiter *a = DATA(t);
  if (a->n++ == 0) {
    ASSERT_OK(luaio_task_await(t, a->fut));
    return LUAIO_STEP_SUSPENDED;
  }
  test_logf("outer:%s:%d", luaio_err_name(err),
            (int)luaio_future_state(a->fut));
  int rc = luaio_future_error(a->fut);
  return rc != 0 ? rc : LUAIO_STEP_RETURNED;
}

static void cancel_cb(void *arg) {
  test_logf("cancel");
  ASSERT_EQ(1, luaio_task_cancel(arg, NULL));
}

TEST(task_cancelled_inner_runs_on) {
  luaio_loop_t *loop = loop_open();
  yielder y = {"i", 0, 4};
  luaio_task_t *inner = luaio_task_new(loop, yield_step, &y, 0);
  ASSERT_NOT_NULL(inner);
  luaio_future_t *sh = shield_new(loop, luaio_task_future(inner));
  awaiter a = {sh, 0};
  luaio_task_t *outer = luaio_task_new(loop, await_step, &a, 0);
  ASSERT_NOT_NULL(outer);
  ASSERT_OK(luaio_call_soon(loop, cancel_cb, outer, NULL, NULL));
  run(loop);
  ASSERT_STR_EQ("i1,cancel,i2,outer:OK:3,i3,i4", test_log);
  ASSERT_EQ(LUAIO_CANCELLED, luaio_future_state(luaio_task_future(outer)));
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(luaio_task_future(inner)));
  ASSERT_EQ(0, luaio_task_cancelling(inner));
  luaio_future_unref(sh);
  luaio_task_unref(inner);
  luaio_task_unref(outer);
  test_loop_close(loop);
}

/* Not cancelled: the outer task gets the inner's outcome. */
TEST(task_sees_inner_outcome) {
  luaio_loop_t *loop = loop_open();
  yielder y = {"i", 0, 2};
  luaio_task_t *inner = luaio_task_new(loop, yield_step, &y, 0);
  ASSERT_NOT_NULL(inner);
  luaio_future_t *sh = shield_new(loop, luaio_task_future(inner));
  awaiter a = {sh, 0};
  luaio_task_t *outer = luaio_task_new(loop, await_step, &a, 0);
  ASSERT_NOT_NULL(outer);
  run(loop);
  ASSERT_STR_EQ("i1,i2,outer:OK:1", test_log);
  luaio_future_unref(sh);
  luaio_task_unref(inner);
  luaio_task_unref(outer);
  test_loop_close(loop);
}

/* }====================================================================== */

TEST(oom_shield_new) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *inner = future_new(loop);
  long live = test_alloc_live();
  for (long n = 1;; n++) {
    test_alloc_fail_after(n);
    luaio_future_t *s = luaio_shield_new(loop, inner);
    if (!test_alloc_failed()) {
      ASSERT_NOT_NULL(s);
      luaio_future_unref(s);
      break;
    }
    ASSERT_NULL(s);
    ASSERT_EQ(live, test_alloc_live());
  }
  test_alloc_fail_after(0);
  ASSERT_OK(luaio_future_set_result(inner));
  run(loop);
  luaio_future_unref(inner);
  test_loop_close(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
