/*
** test-gather.c - asyncio.gather: one future for many children, the first
** failure, return_errors, and cancellation.
*/
#include "luaio.h"
#include "test.h"

#define DATA(t) luaio_future_data(luaio_task_future(t))
/* A string literal as a callback's arg. */
#define S(s) ((void *)(s))

static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  return loop;
}

static void run(luaio_loop_t *loop) {
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
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

static luaio_future_t *gather_new(luaio_loop_t *loop, luaio_future_t **f,
                                  int n, int return_errors) {
  luaio_future_t *g = luaio_gather_new(loop, f, (size_t)n, return_errors);
  ASSERT_NOT_NULL(g);
  return g;
}

static void log_done(luaio_future_t *fut, void *arg) {
  test_logf("%s:%d", (const char *)arg, (int)luaio_future_state(fut));
}

/* A task that yields yields times, or sleeps delay seconds when delay is
** not 0, then ends with rc (0: resolved); a cancellation is raised. */
typedef struct {
  const char *name;
  double delay;
  int yields;
  int rc;
  int n;
} sleeper;

static int sleep_step(luaio_task_t *t, int err) {
  sleeper *s = DATA(t);
  if (err == 0 && s->delay > 0 && s->n++ == 0) {
    ASSERT_OK(luaio_task_sleep(t, s->delay));
    return LUAIO_STEP_SUSPENDED;
  }
  if (err == 0 && s->delay == 0 && s->n++ < s->yields)
    return LUAIO_STEP_SUSPENDED;
  test_logf("%s:%s", s->name, luaio_err_name(err));
  if (err != 0)
    return err;
  return s->rc != 0 ? s->rc : LUAIO_STEP_RETURNED;
}

/* Resolves once every child is done, in whatever order. */
TEST(all_done) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[3];
  futures_new(loop, f, 3);
  luaio_future_t *g = gather_new(loop, f, 3, 0);
  ASSERT_OK(luaio_future_add_done_cb(g, log_done, S("g"), NULL));
  ASSERT_OK(luaio_future_set_result(f[2]));
  run(loop);
  ASSERT_OK(luaio_future_set_result(f[0]));
  run(loop);
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(g));
  ASSERT_OK(luaio_future_set_result(f[1]));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(g)); /* from the queue */
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(g));
  ASSERT_EQ(-1, luaio_gather_failed(g));
  ASSERT_STR_EQ("g:1", test_log);
  luaio_future_unref(g);
  futures_unref(f, 3);
  test_loop_close(loop);
}

/* Tasks as children, done in another order. */
TEST(tasks) {
  luaio_loop_t *loop = loop_open();
  sleeper s[3] = {{"a", 0, 3, 0, 0}, {"b", 0, 1, 0, 0}, {"c", 0, 2, 0, 0}};
  luaio_future_t *f[3];
  for (int i = 0; i < 3; i++) {
    luaio_task_t *t = luaio_task_new(loop, sleep_step, &s[i], 0);
    ASSERT_NOT_NULL(t);
    f[i] = luaio_task_future(t);
  }
  luaio_future_t *g = gather_new(loop, f, 3, 0);
  ASSERT_OK(luaio_future_add_done_cb(g, log_done, S("g"), NULL));
  run(loop);
  ASSERT_STR_EQ("b:OK,c:OK,a:OK,g:1", test_log);
  luaio_future_unref(g);
  futures_unref(f, 3);
  test_loop_close(loop);
}

/* The first child to fail fails the gather at once with its code; the
** others keep running, and a later failure changes nothing. */
TEST(first_failure) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[3];
  futures_new(loop, f, 3);
  luaio_future_t *g = gather_new(loop, f, 3, 0);
  ASSERT_OK(luaio_future_set_error(f[1], UV_EIO));
  run(loop);
  ASSERT_EQ(LUAIO_FAILED, luaio_future_state(g));
  ASSERT_EQ(UV_EIO, luaio_future_error(g));
  ASSERT_EQ(1, luaio_gather_failed(g));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(f[0]));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(f[2]));
  ASSERT_OK(luaio_future_set_error(f[2], UV_EPIPE));
  ASSERT_OK(luaio_future_set_result(f[0]));
  run(loop);
  ASSERT_EQ(UV_EIO, luaio_future_error(g));
  ASSERT_EQ(1, luaio_gather_failed(g));
  ASSERT_EQ(0, luaio_future_cancel(g, NULL)); /* done */
  luaio_future_unref(g);
  futures_unref(f, 3);
  test_loop_close(loop);
}

/* A cancelled child counts as a failure, as in asyncio: the gather fails
** with LUAIO_ECANCELLED but is not itself cancelled. */
TEST(child_cancelled) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[2];
  futures_new(loop, f, 2);
  luaio_future_t *g = gather_new(loop, f, 2, 0);
  ASSERT_EQ(1, luaio_future_cancel(f[1], NULL));
  run(loop);
  ASSERT_EQ(LUAIO_FAILED, luaio_future_state(g));
  ASSERT_EQ(LUAIO_ECANCELLED, luaio_future_error(g));
  ASSERT_EQ(1, luaio_gather_failed(g));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(f[0]));
  ASSERT_OK(luaio_future_set_result(f[0]));
  run(loop);
  luaio_future_unref(g);
  futures_unref(f, 2);
  test_loop_close(loop);
}

/* Abandoning a gather lets go of it without cancelling the children. */
TEST(abandon_keeps_children) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[2];
  futures_new(loop, f, 2);
  luaio_future_t *g = gather_new(loop, f, 2, 0);
  luaio_future_ref(g);
  luaio_future_abandon(g);
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(g));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(f[0]));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(f[1]));
  ASSERT_OK(luaio_future_set_result(f[0]));
  ASSERT_OK(luaio_future_set_result(f[1]));
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(g));
  luaio_future_unref(g);
  futures_unref(f, 2);
  test_loop_close(loop);
}

/* return_errors: failures and cancellations stay in their slots and the
** gather waits for every child. */
TEST(return_errors) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[3];
  futures_new(loop, f, 3);
  luaio_future_t *g = gather_new(loop, f, 3, 1);
  ASSERT_OK(luaio_future_set_error(f[1], UV_EIO));
  ASSERT_EQ(1, luaio_future_cancel(f[2], NULL));
  run(loop);
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(g));
  ASSERT_OK(luaio_future_set_result(f[0]));
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(g));
  ASSERT_EQ(-1, luaio_gather_failed(g));
  luaio_future_unref(g);
  futures_unref(f, 3);
  test_loop_close(loop);
}

/* Cancelling the gather cancels every child not done and returns 1; with
** return_errors it ends cancelled once they are all done. */
TEST(cancel) {
  luaio_loop_t *loop = loop_open();
  sleeper s[2] = {{"a", 10, 0, 0, 0}, {"b", 10, 0, 0, 0}};
  luaio_future_t *f[3];
  for (int i = 0; i < 2; i++) {
    luaio_task_t *t = luaio_task_new(loop, sleep_step, &s[i], 0);
    ASSERT_NOT_NULL(t);
    f[i] = luaio_task_future(t);
  }
  f[2] = luaio_future_new(loop);
  ASSERT_NOT_NULL(f[2]);
  ASSERT_OK(luaio_future_set_result(f[2]));
  luaio_future_t *g = gather_new(loop, f, 3, 1);
  ASSERT_OK(luaio_future_add_done_cb(g, log_done, S("g"), NULL));
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_EQ(1, luaio_future_cancel(g, "enough"));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(g)); /* the tasks end later */
  ASSERT_EQ(1, luaio_task_cancelling(luaio_future_task(f[0])));
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(f[2]));
  run(loop);
  ASSERT_STR_EQ("a:ECANCELLED,b:ECANCELLED,g:3", test_log);
  ASSERT(luaio_future_cancelled(g));
  ASSERT_EQ(LUAIO_ECANCELLED, luaio_future_error(g));
  ASSERT(luaio_future_cancelled(f[0]));
  ASSERT_STR_EQ("enough", luaio_future_cancel_message(f[0]));
  ASSERT_EQ(0, luaio_future_cancel(g, NULL));
  luaio_future_unref(g);
  futures_unref(f, 3);
  test_loop_close(loop);
}

/* Without return_errors, the first child to end cancelled ends the
** gather as a failure with LUAIO_ECANCELLED, before the cancel request
** is looked at: asyncio's gather does the same (its outer future gets a
** CancelledError exception, and cancelled() is False). */
TEST(cancel_without_return_errors) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[2];
  futures_new(loop, f, 2);
  luaio_future_t *g = gather_new(loop, f, 2, 0);
  ASSERT_EQ(1, luaio_future_cancel(g, NULL));
  ASSERT(luaio_future_cancelled(f[0]));
  ASSERT(luaio_future_cancelled(f[1]));
  run(loop);
  ASSERT_EQ(LUAIO_FAILED, luaio_future_state(g));
  ASSERT_EQ(LUAIO_ECANCELLED, luaio_future_error(g));
  ASSERT_EQ(0, luaio_gather_failed(g));
  luaio_future_unref(g);
  futures_unref(f, 2);
  test_loop_close(loop);
}

/* Children done but not counted yet: the gather resolves, and a cancel
** that reached no child returns 0. */
TEST(cancel_refused) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[2];
  futures_new(loop, f, 2);
  luaio_future_t *g = gather_new(loop, f, 2, 0);
  ASSERT_OK(luaio_future_set_result(f[0]));
  ASSERT_OK(luaio_future_set_result(f[1]));
  ASSERT_EQ(0, luaio_future_cancel(g, NULL)); /* children done already */
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(g));
  luaio_future_unref(g);
  futures_unref(f, 2);
  test_loop_close(loop);
}

/* Children already done count at once, as asyncio's gather counts them
** since 3.12: a gather of finished children is done when it is made. */
TEST(done_children) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[3];
  futures_new(loop, f, 3);
  ASSERT_OK(luaio_future_set_result(f[0]));
  ASSERT_OK(luaio_future_set_error(f[1], UV_EIO));
  ASSERT_EQ(1, luaio_future_cancel(f[2], NULL));
  luaio_future_t *g = gather_new(loop, f, 1, 0);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(g));
  luaio_future_unref(g);
  g = gather_new(loop, f, 3, 1); /* return_errors: all in their slots */
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(g));
  ASSERT_EQ(-1, luaio_gather_failed(g));
  luaio_future_unref(g);
  g = gather_new(loop, f, 3, 0); /* the first failure in input order */
  ASSERT_EQ(LUAIO_FAILED, luaio_future_state(g));
  ASSERT_EQ(UV_EIO, luaio_future_error(g));
  ASSERT_EQ(1, luaio_gather_failed(g));
  luaio_future_unref(g);
  futures_unref(f, 3);
  test_loop_close(loop);
}

/* A done child among pending ones: a done failure fails the gather at
** once; otherwise the gather waits for the pending ones only. */
TEST(done_and_pending_children) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[3];
  futures_new(loop, f, 3);
  ASSERT_OK(luaio_future_set_result(f[0]));
  luaio_future_t *g = gather_new(loop, f, 2, 0);
  ASSERT_OK(luaio_future_add_done_cb(g, log_done, S("g"), NULL));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(g));
  ASSERT_OK(luaio_future_set_error(f[2], UV_EPIPE));
  luaio_future_t *h = gather_new(loop, f, 3, 0);
  ASSERT_EQ(LUAIO_FAILED, luaio_future_state(h));
  ASSERT_EQ(2, luaio_gather_failed(h));
  luaio_future_unref(h); /* f[1] still holds it */
  ASSERT_OK(luaio_future_set_result(f[1]));
  run(loop);
  ASSERT_STR_EQ("g:1", test_log);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(g));
  luaio_future_unref(g);
  futures_unref(f, 3);
  test_loop_close(loop);
}

/* Nothing to wait for: resolved at once. */
TEST(empty) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *g = luaio_gather_new(loop, NULL, 0, 0);
  ASSERT_NOT_NULL(g);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(g));
  ASSERT_EQ(-1, luaio_gather_failed(g));
  luaio_future_unref(g);
  test_loop_close(loop);
}

/* The gather outlives its owner's reference while children are pending,
** and is freed once they are done. */
TEST(unref_early) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[2];
  futures_new(loop, f, 2);
  long live = test_alloc_live();
  luaio_future_t *g = gather_new(loop, f, 2, 0);
  ASSERT_OK(luaio_future_add_done_cb(g, log_done, S("g"), NULL));
  luaio_future_unref(g);
  ASSERT(test_alloc_live() > live);
  ASSERT_OK(luaio_future_set_result(f[0]));
  ASSERT_OK(luaio_future_set_result(f[1]));
  run(loop);
  ASSERT_STR_EQ("g:1", test_log);
  ASSERT_EQ(live, test_alloc_live());
  ASSERT_EQ(-1, luaio_gather_failed(f[0])); /* not a gather */
  futures_unref(f, 2);
  test_loop_close(loop);
}

/* Out of memory: NULL, and the children are not touched. */
TEST(oom_gather_new) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[3];
  futures_new(loop, f, 3);
  long live = test_alloc_live();
  for (long n = 1;; n++) {
    test_alloc_fail_after(n);
    luaio_future_t *g = luaio_gather_new(loop, f, 3, 0);
    if (!test_alloc_failed()) {
      ASSERT_NOT_NULL(g);
      luaio_future_unref(g);
      break;
    }
    ASSERT_NULL(g);
    ASSERT_EQ(live, test_alloc_live());
  }
  test_alloc_fail_after(0);
  for (int i = 0; i < 3; i++)
    ASSERT_OK(luaio_future_set_result(f[i]));
  run(loop);
  futures_unref(f, 3);
  ASSERT_EQ(1, test_alloc_live()); /* the loop alone */
  test_loop_close(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
