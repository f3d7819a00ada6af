/*
** test-signal.c - signal handlers: callbacks from the ready queue, names,
** and a handler that does not keep the loop alive.
*/
#include <signal.h>

#include "luaio.h"
#include "test.h"

static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  return loop;
}

static int calls;

static void on_signal(void *arg, int signum) {
  test_logf("%s:%d", (const char *)arg, signum);
  calls++;
}

static void on_fin(void *arg) {
  test_logf("fin:%s", (const char *)arg);
}

static void noop(void *arg) {
  (void)arg;
}

/* One loop iteration that polls libuv: the signal handle is unreferenced,
** so a timer gives the poll something to wait for. */
static void turn(luaio_loop_t *loop) {
  ASSERT_OK(luaio_call_later(loop, 0.005, noop, NULL, NULL, NULL));
  luaio_loop_run(loop, LUAIO_RUN_ONCE);
}

TEST(handler_runs_from_the_loop) {
  luaio_loop_t *loop = loop_open();
  luaio_signal_t *s;
  calls = 0;
  ASSERT_OK(
      luaio_signal_start(loop, SIGUSR1, on_signal, (void *)"h", on_fin, &s));
  ASSERT_EQ(SIGUSR1, luaio_signal_signum(s));
  ASSERT_OK(uv_kill(uv_os_getpid(), SIGUSR1));
  ASSERT_STR_EQ("", test_log); /* never called synchronously */
  while (calls == 0)
    turn(loop);
  ASSERT_OK(uv_kill(uv_os_getpid(), SIGUSR1));
  while (calls == 1)
    turn(loop);
  luaio_signal_stop(s);
  luaio_signal_stop(s); /* idempotent */
  luaio_signal_unref(s);
  while (luaio_loop_ntimers(loop) > 0)
    luaio_loop_run(loop, LUAIO_RUN_ONCE);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT); /* the close callback */
  ASSERT_STR_EQ("h:10,h:10,fin:h", test_log);
  test_loop_close(loop);
}

/* An unreferenced handle: the loop has nothing to wait for. */
TEST(does_not_keep_loop_alive) {
  luaio_loop_t *loop = loop_open();
  luaio_signal_t *s;
  ASSERT_OK(
      luaio_signal_start(loop, SIGUSR2, on_signal, (void *)"x", NULL, &s));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  luaio_signal_unref(s); /* the last reference stops it */
  test_loop_close(loop);
}

TEST(bad_signal) {
  luaio_loop_t *loop = loop_open();
  luaio_signal_t *s = NULL;
  ASSERT_EQ(UV_EINVAL,
            luaio_signal_start(loop, 0, on_signal, (void *)"b", on_fin, &s));
  ASSERT_NULL(s);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_STR_EQ("", test_log); /* fin is not called on error */
  test_loop_close(loop);
}

TEST(names) {
  ASSERT_EQ(SIGTERM, luaio_signal_number("SIGTERM"));
  ASSERT_EQ(SIGTERM, luaio_signal_number("TERM"));
  ASSERT_EQ(SIGUSR1, luaio_signal_number("SIGUSR1"));
  ASSERT_EQ(0, luaio_signal_number("SIGNOPE"));
  ASSERT_EQ(0, luaio_signal_number(""));
}

TEST(oom_sweep) {
  luaio_loop_t *loop = loop_open();
  long live = test_alloc_live();
  for (long n = 1;; n++) {
    test_alloc_fail_after(n);
    luaio_signal_t *s = NULL;
    int rc =
        luaio_signal_start(loop, SIGUSR1, on_signal, (void *)"o", NULL, &s);
    if (!test_alloc_failed()) {
      test_alloc_fail_after(0);
      ASSERT_OK(rc);
      luaio_signal_unref(s);
      break;
    }
    test_alloc_fail_after(0);
    ASSERT_EQ(LUAIO_ENOMEM, rc);
    ASSERT_NULL(s);
    ASSERT_EQ(live, test_alloc_live());
  }
  test_loop_close(loop);
}

int main(int argc, char **argv) {
  return test_main(argc, argv);
}
