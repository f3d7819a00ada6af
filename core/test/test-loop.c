/*
** test-loop.c - the loop: run modes, stop, delete, the clock, an external
** libuv loop, and what counts as progress.
*/
#include <signal.h>

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

/* A task that waits for fut (its data) and returns once it is done. */
static int await_step(luaio_task_t *t, int err) {
  luaio_future_t *fut = luaio_future_data(luaio_task_future(t));
  (void)err;
  if (luaio_task_waiter(t) == NULL && !luaio_future_done(fut)) {
    ASSERT_OK(luaio_task_await(t, fut));
    return LUAIO_STEP_SUSPENDED;
  }
  return LUAIO_STEP_RETURNED;
}

TEST(oom_loop_new) {
  test_alloc_install();
  for (long n = 1;; n++) {
    test_alloc_fail_after(n);
    luaio_loop_t *loop = luaio_loop_new(NULL);
    if (!test_alloc_failed()) {
      ASSERT_NOT_NULL(loop);
      test_loop_close(loop);
      break;
    }
    ASSERT_NULL(loop);
    ASSERT_EQ(0, test_alloc_live());
  }
}

TEST(data_and_uv) {
  luaio_loop_t *loop = loop_open();
  int x;
  ASSERT_NULL(luaio_loop_data(loop));
  luaio_loop_set_data(loop, &x);
  ASSERT_PTR_EQ(&x, luaio_loop_data(loop));
  ASSERT_NOT_NULL(luaio_loop_uv(loop));
  test_loop_close(loop);
}

/* {======================================================================
** Run modes
** ======================================================================= */

/* DEFAULT returns once nothing is left, and says so. */
TEST(run_default_returns_when_idle) {
  luaio_loop_t *loop = loop_open();
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT)); /* empty */
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("soon"), NULL, NULL));
  ASSERT_OK(luaio_call_later(loop, 0.001, log_cb, S("later"), NULL, NULL));
  ASSERT(luaio_loop_alive(loop));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("soon,later", test_log);
  ASSERT(!luaio_loop_alive(loop));
  test_loop_close(loop);
}

/* NOWAIT never blocks: with a timer 10 s away it returns at once, saying
** that work is left. */
TEST(run_nowait_never_blocks) {
  luaio_loop_t *loop = loop_open();
  luaio_handle_t *h;
  ASSERT_OK(luaio_call_later(loop, 10, log_cb, S("late"), NULL, &h));
  double t0 = luaio_loop_time(loop);
  for (int i = 0; i < 3; i++)
    ASSERT_NE(0, luaio_loop_run(loop, LUAIO_RUN_NOWAIT));
  ASSERT(luaio_loop_time(loop) - t0 < 5); /* not a timing test: 10 s */
  ASSERT_STR_EQ("", test_log);
  ASSERT(luaio_loop_alive(loop));
  luaio_handle_cancel(h);
  luaio_handle_unref(h);
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_NOWAIT));
  test_loop_close(loop);
}

/* ONCE runs a due timer, or waits for the next one. */
TEST(run_once) {
  luaio_loop_t *loop = loop_open();
  ASSERT_OK(luaio_call_later(loop, 0.002, log_cb, S("t"), NULL, NULL));
  while (luaio_loop_run(loop, LUAIO_RUN_ONCE))
    ;
  ASSERT_STR_EQ("t", test_log);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** stop
** ======================================================================= */

typedef struct {
  luaio_loop_t *loop;
  int n, stop_at, forever;
} spinner;

static void spin(void *arg) {
  spinner *s = arg;
  test_logf("s%d", ++s->n);
  if (s->n == s->stop_at)
    luaio_loop_stop(s->loop);
  if (s->forever)
    ASSERT_OK(luaio_call_soon(s->loop, spin, s, NULL, NULL));
}

/* stop ends run after the current iteration; the work left stays. */
TEST(stop) {
  luaio_loop_t *loop = loop_open();
  spinner s = {loop, 0, 3, 1};
  ASSERT_OK(luaio_call_soon(loop, spin, &s, NULL, NULL));
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("x"), NULL, NULL));
  ASSERT_NE(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("s1,x,s2,s3", test_log);
  ASSERT_EQ(1, luaio_loop_nready(loop));
  /* A new run starts afresh. */
  s.stop_at = 5;
  ASSERT_NE(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("s1,x,s2,s3,s4,s5", test_log);
  s.forever = 0;
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("s1,x,s2,s3,s4,s5,s6", test_log);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** delete
** ======================================================================= */

/* A live task makes delete fail, and leaves the loop as it was. */
TEST(delete_busy_with_task) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  luaio_task_t *t = luaio_task_new(loop, await_step, fut, 0);
  ASSERT_NOT_NULL(t);
  luaio_handle_t *h;
  ASSERT_OK(luaio_call_later(loop, 10, log_cb, S("late"), log_fin, &h));
  ASSERT_EQ(LUAIO_EBUSY, luaio_loop_delete(loop)); /* ready to start */
  ASSERT(!luaio_handle_cancelled(h)); /* left alone */
  ASSERT_EQ(1, luaio_loop_ntimers(loop));
  luaio_handle_cancel(h); /* else the run below waits 10 s for it */
  luaio_handle_unref(h);
  ASSERT_STR_EQ("fin:late", test_log);
  /* The task waits for a future nobody resolves: the run returns. */
  ASSERT_NE(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_EQ(1, luaio_loop_ntasks(loop));
  ASSERT_PTR_EQ(fut, luaio_task_waiter(t));
  ASSERT_OK(luaio_call_later(loop, 10, log_cb, S("late2"), log_fin, &h));
  ASSERT_EQ(LUAIO_EBUSY, luaio_loop_delete(loop)); /* waiting */
  ASSERT_EQ(1, luaio_loop_ntasks(loop));
  ASSERT(!luaio_handle_cancelled(h));
  luaio_handle_cancel(h);
  luaio_handle_unref(h);
  ASSERT_OK(luaio_future_set_result(fut));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(luaio_task_future(t)));
  luaio_task_unref(t);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* A socket nobody closed makes delete fail, rather than wait for it
** forever; once it is closed, delete succeeds. */
TEST(delete_busy_with_open_socket) {
  luaio_loop_t *loop = loop_open();
  uv_tcp_t tcp;
  struct sockaddr_in addr;
  ASSERT_OK(uv_ip4_addr("127.0.0.1", 0, &addr));
  ASSERT_OK(uv_tcp_init(luaio_loop_uv(loop), &tcp));
  ASSERT_OK(uv_tcp_bind(&tcp, (const struct sockaddr *)&addr, 0));
  ASSERT_OK(uv_listen((uv_stream_t *)&tcp, 1, NULL));
  ASSERT_EQ(LUAIO_EBUSY, luaio_loop_delete(loop));
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT); /* still usable */
  uv_close((uv_handle_t *)&tcp, NULL);
  test_loop_close(loop); /* the close callback runs in the delete */
}

static void on_sigpipe(int signum) { (void)signum; }

/* A loop sets SIGPIPE to be ignored when it is left at its default, and
** keeps a handler the host installed. */
TEST(sigpipe_ignored_unless_handled) {
  struct sigaction sa, old;
  ASSERT_OK(sigaction(SIGPIPE, NULL, &old));
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  ASSERT_OK(sigaction(SIGPIPE, &sa, NULL));
  luaio_loop_t *loop = loop_open();
  test_loop_close(loop);
  ASSERT_OK(sigaction(SIGPIPE, NULL, &sa));
  ASSERT(sa.sa_handler == SIG_IGN);
  sa.sa_handler = on_sigpipe;
  ASSERT_OK(sigaction(SIGPIPE, &sa, NULL));
  loop = loop_open();
  test_loop_close(loop);
  ASSERT_OK(sigaction(SIGPIPE, NULL, &sa));
  ASSERT(sa.sa_handler == on_sigpipe);
  ASSERT_OK(sigaction(SIGPIPE, &old, NULL));
}

/* A ready callback makes delete fail too. */
TEST(delete_busy_with_ready) {
  luaio_loop_t *loop = loop_open();
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("soon"), log_fin, NULL));
  ASSERT_EQ(LUAIO_EBUSY, luaio_loop_delete(loop));
  ASSERT_STR_EQ("", test_log);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("soon,fin:soon", test_log);
  test_loop_close(loop);
}

/* Handles still scheduled are cancelled by delete, as asyncio's close()
** drops them: their fin runs, their callback never. A reference the
** caller holds outlives the loop. */
TEST(delete_cancels_timers) {
  luaio_loop_t *loop = loop_open();
  luaio_handle_t *h;
  ASSERT_OK(luaio_call_later(loop, 10, log_cb, S("a"), log_fin, NULL));
  ASSERT_OK(luaio_call_later(loop, 20, log_cb, S("b"), log_fin, &h));
  ASSERT_OK(luaio_call_at(loop, 0, log_cb, S("c"), log_fin, NULL));
  ASSERT_EQ(3, luaio_loop_ntimers(loop));
  ASSERT_EQ(0, luaio_loop_delete(loop));
  ASSERT_STR_EQ("fin:c,fin:a,fin:b", test_log);
  ASSERT(luaio_handle_cancelled(h));
  ASSERT_EQ(1, test_alloc_live());
  luaio_handle_unref(h);
  ASSERT_EQ(0, test_alloc_live());
  /* The test's own loop, to end as every test does. */
  loop = loop_open();
  test_loop_close(loop);
}

/* The libuv loop given to luaio_loop_new() is the embedder's: delete
** leaves it open and usable. */
static void on_uv_timer(uv_timer_t *timer) {
  (void)timer;
  test_logf("uv");
}

static void on_uv_close(uv_handle_t *handle) {
  (void)handle;
  test_logf("closed");
}

TEST(external_uv_loop) {
  test_alloc_install();
  uv_loop_t uv;
  ASSERT_OK(uv_loop_init(&uv));
  luaio_loop_t *loop = luaio_loop_new(&uv);
  ASSERT_NOT_NULL(loop);
  ASSERT_PTR_EQ(&uv, luaio_loop_uv(loop));
  ASSERT_OK(luaio_call_later(loop, 0.001, log_cb, S("later"), NULL, NULL));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  test_loop_close(loop);
  /* Still open: a timer on it runs, and it closes cleanly. */
  uv_timer_t timer;
  ASSERT_OK(uv_timer_init(&uv, &timer));
  ASSERT_OK(uv_timer_start(&timer, on_uv_timer, 1, 0));
  ASSERT_OK(uv_run(&uv, UV_RUN_DEFAULT));
  uv_close((uv_handle_t *)&timer, on_uv_close);
  ASSERT_OK(uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("later,uv,closed", test_log);
  ASSERT_OK(uv_loop_close(&uv));
}

static void count_run(void *arg, uint64_t deadline) {
  (void)deadline;
  (*(int *)arg)++;
}

/* An attached loop runs inside its owner's uv_run: ready work from the
** idle handle, a timer from the uv timer armed at its deadline; with
** nothing left, the owner's uv_run(UV_RUN_DEFAULT) returns. */
TEST(attached_runs_inside_the_owners_uv_run) {
  test_alloc_install();
  uv_loop_t uv;
  ASSERT_OK(uv_loop_init(&uv));
  luaio_loop_t *loop = luaio_loop_new(&uv);
  ASSERT_NOT_NULL(loop);
  int runs = 0;
  ASSERT_EQ(LUAIO_EINVAL, luaio_loop_attach(loop, -1, NULL, NULL));
  ASSERT_EQ(0, luaio_loop_attached(loop));
  ASSERT_OK(luaio_loop_attach(loop, 0, count_run, &runs));
  ASSERT_EQ(1, luaio_loop_attached(loop));
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("soon"), NULL, NULL));
  ASSERT_OK(luaio_call_later(loop, 0.02, log_cb, S("later"), NULL, NULL));
  ASSERT_STR_EQ("", test_log);
  ASSERT(uv_run(&uv, UV_RUN_ONCE)); /* the timer keeps it alive */
  ASSERT_STR_EQ("soon", test_log);
  ASSERT(runs > 0);
  while (luaio_loop_ntimers(loop) > 0)
    uv_run(&uv, UV_RUN_ONCE); /* blocks until the uv timer fires */
  ASSERT_EQ(0, uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("soon,later", test_log);
  /* Added between the owner's runs, a timer alone: the next sees it. */
  ASSERT_OK(luaio_call_later(loop, 0.001, log_cb, S("again"), NULL, NULL));
  ASSERT_EQ(0, uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("soon,later,again", test_log);
  test_loop_close(loop); /* closes the handles it kept on uv */
  ASSERT_OK(uv_loop_close(&uv));
}

/* Attached, luaio_loop_run never polls libuv (it may be called from a
** libuv callback): one iteration, within the budget, whatever the mode. */
TEST(attached_loop_run_does_not_poll) {
  test_alloc_install();
  uv_loop_t uv;
  ASSERT_OK(uv_loop_init(&uv));
  luaio_loop_t *loop = luaio_loop_new(&uv);
  ASSERT_NOT_NULL(loop);
  ASSERT_OK(luaio_loop_attach(loop, 1e-9, NULL, NULL)); /* one per run */
  luaio_handle_t *h;
  ASSERT_OK(luaio_call_later(loop, 3600, log_cb, S("hour"), NULL, &h));
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("a"), NULL, NULL));
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("b"), NULL, NULL));
  ASSERT(luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("a", test_log);
  ASSERT(luaio_loop_run(loop, LUAIO_RUN_ONCE));
  ASSERT_STR_EQ("a,b", test_log);
  luaio_handle_cancel(h);
  luaio_handle_unref(h);
  luaio_loop_detach(loop);
  ASSERT_EQ(0, luaio_loop_attached(loop));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  test_loop_close(loop);
  ASSERT_OK(uv_loop_close(&uv));
}

/* }====================================================================== */

/* {======================================================================
** The clock and progress
** ======================================================================= */

typedef struct {
  luaio_loop_t *loop;
  double when;
  int early;
} deadline;

static void check_deadline(void *arg) {
  deadline *d = arg;
  if (luaio_loop_time(d->loop) < d->when)
    d->early = 1;
}

/* The clock never goes back, and a timer never fires before its time. */
TEST(time_monotonic) {
  luaio_loop_t *loop = loop_open();
  double last = luaio_loop_time(loop);
  ASSERT(last > 0);
  for (int i = 0; i < 10000; i++) {
    double now = luaio_loop_time(loop);
    ASSERT(now >= last);
    last = now;
  }
  deadline d[3] = {{loop, 0, 0}, {loop, 0, 0}, {loop, 0, 0}};
  for (int i = 0; i < 3; i++) {
    luaio_handle_t *h;
    ASSERT_OK(luaio_call_later(loop, 0.002 * i, check_deadline, &d[i], NULL,
                               &h));
    d[i].when = luaio_handle_when(h);
    ASSERT(d[i].when >= last);
    luaio_handle_unref(h);
  }
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(0, d[i].early);
  ASSERT(luaio_loop_time(loop) >= d[2].when);
  test_loop_close(loop);
}

static void noop_timer_cb(uv_timer_t *timer) { (void)timer; }

/* Progress needs something that can wake a task: a ready callback, a
** timer, or an active libuv handle. Live tasks alone are not enough, and
** a run returns rather than wait for them forever. */
TEST(can_progress) {
  luaio_loop_t *loop = loop_open();
  ASSERT_EQ(0, luaio_loop_can_progress(loop));
  ASSERT_OK(luaio_call_soon(loop, log_cb, S("soon"), NULL, NULL));
  ASSERT_NE(0, luaio_loop_can_progress(loop));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_EQ(0, luaio_loop_can_progress(loop));

  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  luaio_task_t *t = luaio_task_new(loop, await_step, fut, 0);
  ASSERT_NOT_NULL(t);
  ASSERT_NE(0, luaio_loop_can_progress(loop)); /* its first step */
  ASSERT_NE(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT)); /* does not hang */
  ASSERT_EQ(1, luaio_loop_ntasks(loop));
  ASSERT_NE(0, luaio_loop_alive(loop));
  ASSERT_EQ(0, luaio_loop_can_progress(loop)); /* stuck */

  luaio_handle_t *h;
  ASSERT_OK(luaio_call_later(loop, 10, log_cb, S("late"), NULL, &h));
  ASSERT_NE(0, luaio_loop_can_progress(loop));
  luaio_handle_cancel(h);
  luaio_handle_unref(h);
  ASSERT_EQ(0, luaio_loop_can_progress(loop));

  uv_timer_t timer;
  ASSERT_OK(uv_timer_init(luaio_loop_uv(loop), &timer));
  ASSERT_OK(uv_timer_start(&timer, noop_timer_cb, 10000, 0));
  ASSERT_NE(0, luaio_loop_can_progress(loop));
  uv_close((uv_handle_t *)&timer, NULL);
  ASSERT_NE(0, luaio_loop_run(loop, LUAIO_RUN_NOWAIT)); /* closes it */
  ASSERT_EQ(0, luaio_loop_can_progress(loop));

  ASSERT_OK(luaio_future_set_result(fut));
  ASSERT_NE(0, luaio_loop_can_progress(loop));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_EQ(0, luaio_loop_ntasks(loop));
  luaio_task_unref(t);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* }====================================================================== */

int main(int argc, char **argv) { return test_main(argc, argv); }
