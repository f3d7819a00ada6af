/*
** test-future.c - futures: states and their transitions, cancellation and
** its message, done callbacks (always from the ready queue, in
** registration order), and what happens to them when a future is freed.
*/
#include "luaio.h"
#include "test.h"

/* A string literal as a callback's arg. */
#define S(s) ((void *)(s))

static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  return loop;
}

static luaio_future_t *future_new(luaio_loop_t *loop) {
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  return fut;
}

static void log_done(luaio_future_t *fut, void *arg) {
  test_logf("%s:%d", (const char *)arg, (int)luaio_future_state(fut));
}

static void log_fin(void *arg) { test_logf("fin:%s", (const char *)arg); }

/* {======================================================================
** States
** ======================================================================= */

TEST(pending) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = future_new(loop);
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(fut));
  ASSERT(!luaio_future_done(fut));
  ASSERT(!luaio_future_cancelled(fut));
  ASSERT_EQ(0, luaio_future_error(fut));
  ASSERT_NULL(luaio_future_cancel_message(fut));
  ASSERT_PTR_EQ(loop, luaio_future_loop(fut));
  ASSERT_NULL(luaio_future_task(fut));
  ASSERT_NULL(luaio_future_data(fut));
  int x;
  luaio_future_set_data(fut, &x);
  ASSERT_PTR_EQ(&x, luaio_future_data(fut));
  luaio_future_unref(fut);
  test_loop_close(loop);
}

TEST(resolved) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = future_new(loop);
  ASSERT_OK(luaio_future_set_result(fut));
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(fut));
  ASSERT(luaio_future_done(fut));
  ASSERT(!luaio_future_cancelled(fut));
  ASSERT_EQ(0, luaio_future_error(fut));
  /* Done is final. */
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_future_set_result(fut));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_future_set_error(fut, UV_EIO));
  ASSERT_EQ(0, luaio_future_cancel(fut, "late"));
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(fut));
  ASSERT_NULL(luaio_future_cancel_message(fut));
  luaio_future_unref(fut);
  test_loop_close(loop);
}

TEST(failed) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = future_new(loop);
  ASSERT_OK(luaio_future_set_error(fut, UV_ECONNREFUSED));
  ASSERT_EQ(LUAIO_FAILED, luaio_future_state(fut));
  ASSERT(luaio_future_done(fut));
  ASSERT(!luaio_future_cancelled(fut));
  ASSERT_EQ(UV_ECONNREFUSED, luaio_future_error(fut));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_future_set_result(fut));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_future_set_error(fut, LUAIO_EFAILED));
  ASSERT_EQ(0, luaio_future_cancel(fut, NULL));
  ASSERT_EQ(UV_ECONNREFUSED, luaio_future_error(fut));
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* set_error wants a real error: not 0, not positive, not a cancellation
** (that is what cancel is for). The future stays pending. */
TEST(set_error_rejects) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = future_new(loop);
  ASSERT_EQ(LUAIO_EINVAL, luaio_future_set_error(fut, 0));
  ASSERT_EQ(LUAIO_EINVAL, luaio_future_set_error(fut, 1));
  ASSERT_EQ(LUAIO_EINVAL, luaio_future_set_error(fut, LUAIO_ECANCELLED));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(fut));
  ASSERT_OK(luaio_future_set_error(fut, LUAIO_EFAILED));
  ASSERT_EQ(LUAIO_EFAILED, luaio_future_error(fut));
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* cancel returns 1, then 0; the message is copied and kept. */
TEST(cancel) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = future_new(loop);
  char msg[16] = "going away";
  ASSERT_EQ(1, luaio_future_cancel(fut, msg));
  strcpy(msg, "changed");
  ASSERT_EQ(LUAIO_CANCELLED, luaio_future_state(fut));
  ASSERT(luaio_future_done(fut));
  ASSERT(luaio_future_cancelled(fut));
  ASSERT_EQ(LUAIO_ECANCELLED, luaio_future_error(fut));
  ASSERT_STR_EQ("going away", luaio_future_cancel_message(fut));
  ASSERT_EQ(0, luaio_future_cancel(fut, "again"));
  ASSERT_STR_EQ("going away", luaio_future_cancel_message(fut));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_future_set_result(fut));
  luaio_future_unref(fut);

  fut = future_new(loop); /* no message */
  ASSERT_EQ(1, luaio_future_cancel(fut, NULL));
  ASSERT_NULL(luaio_future_cancel_message(fut));
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* Abandoning a pending future cancels it: its callbacks see that; a done
** one keeps its outcome. */
TEST(abandon) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = future_new(loop);
  luaio_future_ref(fut); /* a callback's, as an operation would hold */
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("a"), log_fin));
  luaio_future_abandon(fut);
  ASSERT(luaio_future_cancelled(fut));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("a:3,fin:a", test_log); /* 3: LUAIO_CANCELLED */
  luaio_future_unref(fut);
  fut = future_new(loop);
  ASSERT_OK(luaio_future_set_result(fut));
  luaio_future_ref(fut);
  luaio_future_abandon(fut);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(fut));
  luaio_future_unref(fut);
  test_loop_close(loop);
}

TEST(ref_unref) {
  luaio_loop_t *loop = loop_open();
  long live = test_alloc_live();
  luaio_future_t *fut = future_new(loop);
  luaio_future_ref(fut);
  luaio_future_unref(fut);
  ASSERT_EQ(live + 1, test_alloc_live());
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(fut));
  luaio_future_unref(fut);
  ASSERT_EQ(live, test_alloc_live());
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** Done callbacks
** ======================================================================= */

/* Never called synchronously: they run from the ready queue, in the order
** they were added, each followed by its fin. */
TEST(done_callbacks_in_order) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = future_new(loop);
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("a"), log_fin));
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("b"), NULL));
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("c"), log_fin));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("", test_log);
  ASSERT_OK(luaio_future_set_result(fut));
  ASSERT_STR_EQ("", test_log);
  ASSERT_EQ(3, luaio_loop_nready(loop));
  /* Added after done: scheduled now, still not run synchronously. */
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("d"), log_fin));
  ASSERT_STR_EQ("", test_log);
  ASSERT_EQ(4, luaio_loop_nready(loop));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("a:1,fin:a,b:1,c:1,fin:c,d:1,fin:d", test_log);
  /* Added later still: runs in the next iteration. */
  test_log_reset();
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("e"), NULL));
  ASSERT_STR_EQ("", test_log);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_STR_EQ("e:1", test_log);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* Callbacks see the final state, whatever it is. */
TEST(done_callbacks_see_outcome) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f = future_new(loop), *g = future_new(loop);
  ASSERT_OK(luaio_future_add_done_cb(f, log_done, S("f"), NULL));
  ASSERT_OK(luaio_future_add_done_cb(g, log_done, S("g"), NULL));
  ASSERT_OK(luaio_future_set_error(g, UV_EIO));
  ASSERT_EQ(1, luaio_future_cancel(f, NULL));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  /* In the order the futures finished. */
  ASSERT_STR_EQ("g:2,f:3", test_log);
  luaio_future_unref(f);
  luaio_future_unref(g);
  test_loop_close(loop);
}

static void unref_in_cb(luaio_future_t *fut, void *arg) {
  (void)arg;
  test_logf("cb:%d", (int)luaio_future_state(fut));
  luaio_future_unref(fut); /* the owner's: the callback pins it */
}

/* A scheduled callback keeps the future alive after its owner let go. */
TEST(scheduled_callback_pins_future) {
  luaio_loop_t *loop = loop_open();
  long live = test_alloc_live();
  luaio_future_t *fut = future_new(loop);
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("a"), log_fin));
  ASSERT_OK(luaio_future_set_result(fut));
  luaio_future_unref(fut);
  ASSERT(test_alloc_live() > live);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("a:1,fin:a", test_log);
  ASSERT_EQ(live, test_alloc_live());
  /* The callback may drop the last reference itself. */
  fut = future_new(loop);
  ASSERT_OK(luaio_future_set_result(fut));
  ASSERT_OK(luaio_future_add_done_cb(fut, unref_in_cb, NULL, NULL));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("a:1,fin:a,cb:1", test_log);
  ASSERT_EQ(live, test_alloc_live());
  test_loop_close(loop);
}

/* remove_done_cb removes every registration of (cb, arg) that is not yet
** scheduled, runs their fin, and says how many. */
TEST(remove_done_cb) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = future_new(loop);
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("a"), log_fin));
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("b"), log_fin));
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("a"), log_fin));
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("c"), log_fin));
  ASSERT_EQ(0, luaio_future_remove_done_cb(fut, log_done, S("x")));
  ASSERT_EQ(0, luaio_future_remove_done_cb(fut, unref_in_cb, S("a")));
  ASSERT_STR_EQ("", test_log);
  ASSERT_EQ(2, luaio_future_remove_done_cb(fut, log_done, S("a")));
  ASSERT_STR_EQ("fin:a,fin:a", test_log);
  ASSERT_EQ(1, luaio_future_remove_done_cb(fut, log_done, S("c")));
  /* The tail was removed: adding again must still work. */
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("d"), log_fin));
  test_log_reset();
  ASSERT_OK(luaio_future_set_result(fut));
  /* Scheduled already: too late to remove. */
  ASSERT_EQ(0, luaio_future_remove_done_cb(fut, log_done, S("b")));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("b:1,fin:b,d:1,fin:d", test_log);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* Freeing a pending future drops its callbacks: their fin runs, they do
** not. */
TEST(unref_pending_frees_callbacks) {
  luaio_loop_t *loop = loop_open();
  long live = test_alloc_live();
  luaio_future_t *fut = future_new(loop);
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("a"), log_fin));
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("b"), NULL));
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("c"), log_fin));
  ASSERT_EQ(live + 4, test_alloc_live());
  luaio_future_unref(fut);
  ASSERT_STR_EQ("fin:a,fin:c", test_log);
  ASSERT_EQ(live, test_alloc_live());
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("fin:a,fin:c", test_log);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** Out of memory
** ======================================================================= */

TEST(oom_future_new) {
  luaio_loop_t *loop = loop_open();
  long live = test_alloc_live();
  for (long n = 1;; n++) {
    test_alloc_fail_after(n);
    luaio_future_t *fut = luaio_future_new(loop);
    if (!test_alloc_failed()) {
      ASSERT_NOT_NULL(fut);
      luaio_future_unref(fut);
      break;
    }
    ASSERT_NULL(fut);
    ASSERT_EQ(live, test_alloc_live());
  }
  test_alloc_fail_after(0);
  test_loop_close(loop);
}

/* A registration that fails never calls back, nor runs fin; the ones
** before and after it do. */
TEST(oom_add_done_cb) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = future_new(loop);
  ASSERT_OK(luaio_future_add_done_cb(fut, log_done, S("a"), log_fin));
  long live = test_alloc_live();
  for (long n = 1;; n++) {
    test_alloc_fail_after(n);
    int rc = luaio_future_add_done_cb(fut, log_done, S("b"), log_fin);
    if (!test_alloc_failed()) {
      ASSERT_OK(rc);
      break;
    }
    ASSERT_EQ(LUAIO_ENOMEM, rc);
    ASSERT_EQ(live, test_alloc_live());
  }
  test_alloc_fail_after(0);
  /* The same on a future already done. */
  luaio_future_t *done = future_new(loop);
  ASSERT_OK(luaio_future_set_result(done));
  live = test_alloc_live();
  for (long n = 1;; n++) {
    test_alloc_fail_after(n);
    int rc = luaio_future_add_done_cb(done, log_done, S("c"), log_fin);
    if (!test_alloc_failed()) {
      ASSERT_OK(rc);
      break;
    }
    ASSERT_EQ(LUAIO_ENOMEM, rc);
    ASSERT_EQ(live, test_alloc_live());
    ASSERT_EQ(0, luaio_loop_nready(loop));
  }
  test_alloc_fail_after(0);
  luaio_future_unref(done);
  ASSERT_OK(luaio_future_set_result(fut));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("c:1,fin:c,a:1,fin:a,b:1,fin:b", test_log);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* The cancel message cannot be copied: LUAIO_ENOMEM, still pending. */
TEST(oom_cancel_message) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = future_new(loop);
  long live = test_alloc_live();
  test_alloc_fail_after(1);
  ASSERT_EQ(LUAIO_ENOMEM, luaio_future_cancel(fut, "msg"));
  test_alloc_fail_after(0);
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(fut));
  ASSERT_EQ(live, test_alloc_live());
  ASSERT_EQ(1, luaio_future_cancel(fut, "msg"));
  ASSERT_STR_EQ("msg", luaio_future_cancel_message(fut));
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* }====================================================================== */

int main(int argc, char **argv) { return test_main(argc, argv); }
