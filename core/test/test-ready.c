/*
** test-ready.c - the ready queue: call_soon runs callbacks in FIFO order,
** and a callback scheduled during an iteration waits for the next one.
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

static void log_cb(void *arg) { test_logf("%s", (const char *)arg); }

static void log_fin(void *arg) { test_logf("fin:%s", (const char *)arg); }

TEST(fifo) {
  luaio_loop_t *loop = loop_open();
  static const char *names[] = {"1", "2", "3", "4", "5"};
  for (int i = 0; i < 5; i++)
    ASSERT_OK(luaio_call_soon(loop, log_cb, S(names[i]), NULL, NULL));
  ASSERT_EQ(5, luaio_loop_nready(loop));
  ASSERT_STR_EQ("", test_log); /* nothing runs before the loop does */
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("1,2,3,4,5", test_log);
  ASSERT_EQ(0, luaio_loop_nready(loop));
  test_loop_close(loop);
}

/* fin runs right after its callback, before the next callback. */
TEST(fin_after_cb) {
  luaio_loop_t *loop = loop_open();
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("a"), log_fin, NULL));
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("b"), log_fin, NULL));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("a,fin:a,b,fin:b", test_log);
  test_loop_close(loop);
}

static luaio_loop_t *the_loop;

static void schedule_second(void *arg) {
  (void)arg;
  test_logf("first");
  ASSERT_OK(luaio_call_soon(the_loop, log_cb, S("second"), NULL, NULL));
}

/* Only what was ready when the iteration began runs in it. */
TEST(scheduled_during_iteration_runs_next) {
  luaio_loop_t *loop = the_loop = loop_open();
  ASSERT_OK(luaio_call_soon(loop, schedule_second, NULL, NULL, NULL));
  ASSERT_NE(0, luaio_loop_run(loop, LUAIO_RUN_ONCE));
  ASSERT_STR_EQ("first", test_log);
  ASSERT_EQ(1, luaio_loop_nready(loop));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_ONCE));
  ASSERT_STR_EQ("first,second", test_log);
  test_loop_close(loop);
}

/* A callback scheduled during an iteration goes behind those already
** waiting, even those scheduled before it in the same iteration. */
TEST(scheduled_during_iteration_goes_last) {
  luaio_loop_t *loop = the_loop = loop_open();
  ASSERT_OK(luaio_call_soon(loop, schedule_second, NULL, NULL, NULL));
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("b"), NULL, NULL));
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("c"), NULL, NULL));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("first,b,c,second", test_log);
  test_loop_close(loop);
}

static int chain_left;

static void chain(void *arg) {
  (void)arg;
  test_logf("c%d", chain_left);
  if (--chain_left > 0)
    ASSERT_OK(luaio_call_soon(the_loop, chain, NULL, NULL, NULL));
}

/* A chain of callbacks advances one link per iteration. */
TEST(one_link_per_iteration) {
  luaio_loop_t *loop = the_loop = loop_open();
  chain_left = 3;
  ASSERT_OK(luaio_call_soon(loop, chain, NULL, NULL, NULL));
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_STR_EQ("c3", test_log);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_STR_EQ("c3,c2", test_log);
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("c3,c2,c1", test_log);
  test_loop_close(loop);
}

/* Out of memory: LUAIO_ENOMEM, and neither cb nor fin is ever called. */
TEST(oom_call_soon) {
  luaio_loop_t *loop = loop_open();
  long live = test_alloc_live();
  for (long n = 1;; n++) {
    luaio_handle_t *h = NULL;
    test_alloc_fail_after(n);
    int rc = luaio_call_soon(loop, log_cb, S("cb"), log_fin, &h);
    if (!test_alloc_failed()) {
      ASSERT_OK(rc);
      ASSERT_NOT_NULL(h);
      luaio_handle_unref(h);
      break;
    }
    ASSERT_EQ(LUAIO_ENOMEM, rc);
    ASSERT_NULL(h);
    ASSERT_EQ(live, test_alloc_live());
    ASSERT_EQ(0, luaio_loop_nready(loop));
  }
  test_alloc_fail_after(0);
  ASSERT_STR_EQ("", test_log);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("cb,fin:cb", test_log);
  test_loop_close(loop);
}

/* A budget of 0 runs one callback per iteration (each iteration must
** progress); what is left runs first in the next, before what the
** callbacks scheduled, so the order is that of an unbudgeted loop. */
TEST(run_for_keeps_the_order_across_iterations) {
  luaio_loop_t *loop = the_loop = loop_open();
  ASSERT_OK(luaio_call_soon(loop, schedule_second, NULL, NULL, NULL));
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("b"), NULL, NULL));
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("c"), NULL, NULL));
  for (int i = 0; luaio_loop_nready(loop) > 0; i++) {
    ASSERT(i < 10);
    luaio_loop_run_for(loop, 0);
    test_logf("|");
  }
  ASSERT_STR_EQ("first,|,b,|,c,|,second,|", test_log);
  test_loop_close(loop);
}

/* A budget that is not spent runs the iteration as LUAIO_RUN_NOWAIT. */
TEST(run_for_with_time_left_runs_everything_ready) {
  luaio_loop_t *loop = the_loop = loop_open();
  ASSERT_OK(luaio_call_soon(loop, schedule_second, NULL, NULL, NULL));
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("b"), NULL, NULL));
  ASSERT_NE(0, luaio_loop_run_for(loop, 1e9));
  ASSERT_STR_EQ("first,b", test_log);
  ASSERT_EQ(0, luaio_loop_run_for(loop, 1e9));
  ASSERT_STR_EQ("first,b,second", test_log);
  ASSERT_EQ(LUAIO_EINVAL, luaio_loop_run_for(loop, -1));
  ASSERT_EQ(LUAIO_EINVAL, luaio_loop_run_for(loop, 0.0 / 0.0));
  test_loop_close(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
