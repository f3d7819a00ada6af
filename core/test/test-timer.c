/*
** test-timer.c - deadlines: call_later and call_at run in deadline order,
** equal deadlines in the order they were made, wherever the timers sit
** (the run of timers armed in order, or the heap); cancelled timers leave,
** and 100,000 of them stay cheap.
*/
#include <math.h>

#include "luaio.h"
#include "test.h"

/* On a virtual clock: deadlines come at once and exactly, in order, however
** loaded the machine. */
static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new_clock(NULL, LUAIO_CLOCK_VIRTUAL);
  ASSERT_NOT_NULL(loop);
  return loop;
}

static void log_cb(void *arg) { test_logf("%s", (const char *)arg); }

static void log_fin(void *arg) { test_logf("fin:%s", (const char *)arg); }

/* A string literal as a callback's arg. */
#define S(s) ((void *)(s))

/* Short real delays, made out of order: they run by deadline. */
TEST(call_later_by_deadline) {
  luaio_loop_t *loop = loop_open();
  ASSERT_OK(luaio_call_later(loop, 0.030, log_cb, S("30"), NULL, NULL));
  ASSERT_OK(luaio_call_later(loop, 0.010, log_cb, S("10"), NULL, NULL));
  ASSERT_OK(luaio_call_later(loop, 0.020, log_cb, S("20"), NULL, NULL));
  ASSERT_OK(luaio_call_later(loop, 0, log_cb, S("0"), NULL, NULL));
  ASSERT_EQ(4, luaio_loop_ntimers(loop));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("0,10,20,30", test_log);
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  test_loop_close(loop);
}

/* Deadlines already past all fire in the first iteration, in deadline
** order, not in the order they were made. */
TEST(call_at_past_deadlines) {
  luaio_loop_t *loop = loop_open();
  double now = luaio_loop_time(loop);
  ASSERT_OK(luaio_call_at(loop, now - 1, log_cb, S("b"), NULL, NULL));
  ASSERT_OK(luaio_call_at(loop, now - 3, log_cb, S("a"), NULL, NULL));
  ASSERT_OK(luaio_call_at(loop, now - 0.5, log_cb, S("c"), NULL, NULL));
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_STR_EQ("a,b,c", test_log);
  test_loop_close(loop);
}

/* Equal deadlines run in the order they were scheduled. */
TEST(equal_deadlines_in_order) {
  luaio_loop_t *loop = loop_open();
  double when = luaio_loop_time(loop) + 0.001;
  static const char *names[] = {"1", "2", "3", "4", "5", "6", "7", "8"};
  for (int i = 0; i < 8; i++)
    ASSERT_OK(luaio_call_at(loop, when, log_cb, S(names[i]), NULL, NULL));
  ASSERT_OK(luaio_call_at(loop, when - 1, log_cb, S("early"), NULL, NULL));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("early,1,2,3,4,5,6,7,8", test_log);
  test_loop_close(loop);
}

/* Cancelling a handle in the heap removes it: fin runs at once, cb never,
** and the others keep their order. */
TEST(cancel_in_heap) {
  luaio_loop_t *loop = loop_open();
  double now = luaio_loop_time(loop);
  luaio_handle_t *h[4];
  static const char *names[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; i++)
    ASSERT_OK(luaio_call_at(loop, now + 0.001 * i, log_cb, S(names[i]),
                            log_fin, &h[i]));
  ASSERT(luaio_handle_when(h[2]) == now + 0.001 * 2);
  luaio_handle_cancel(h[2]);
  luaio_handle_cancel(h[0]); /* the root of the heap */
  ASSERT_STR_EQ("fin:c,fin:a", test_log);
  ASSERT_EQ(2, luaio_loop_ntimers(loop));
  ASSERT(luaio_handle_cancelled(h[0]));
  ASSERT(!luaio_handle_cancelled(h[1]));
  test_log_reset();
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("b,fin:b,d,fin:d", test_log);
  for (int i = 0; i < 4; i++)
    luaio_handle_unref(h[i]);
  test_loop_close(loop);
}

TEST(invalid_delays) {
  luaio_loop_t *loop = loop_open();
  ASSERT_EQ(LUAIO_EINVAL, luaio_call_later(loop, -0.001, log_cb, S("x"),
                                           log_fin, NULL));
  ASSERT_EQ(LUAIO_EINVAL, luaio_call_later(loop, NAN, log_cb, S("x"),
                                           log_fin, NULL));
  ASSERT_EQ(LUAIO_EINVAL, luaio_call_at(loop, NAN, log_cb, S("x"), log_fin,
                                        NULL));
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("", test_log); /* a failed call never calls back */
  test_loop_close(loop);
}

/* {======================================================================
** 100,000 timers
** ======================================================================= */

#define NTIMERS 100000

typedef struct {
  long fired, fins;
  long last; /* index of the last timer fired, or -1 */
  int out_of_order;
  double base;
} many;

static many M;

/* Deadlines repeat every 1000 indexes, so most share a deadline. */
static double many_when(long i) {
  return M.base - 1 + (i * 7919 % 1000) * 1e-6;
}

static void many_cb(void *arg) {
  long i = (long)(intptr_t)arg;
  if (M.last >= 0) {
    double lw = many_when(M.last), w = many_when(i);
    if (w < lw || (w == lw && i < M.last))
      M.out_of_order = 1;
  }
  M.last = i;
  M.fired++;
}

static void many_fin(void *arg) {
  (void)arg;
  M.fins++;
}

/* Armed out of deadline order, a third cancelled in a scattered order: the
** rest fire, all in one iteration, by deadline and then by arming order. */
TEST(hundred_thousand) {
  luaio_loop_t *loop = loop_open();
  memset(&M, 0, sizeof M);
  M.last = -1;
  M.base = luaio_loop_time(loop);
  luaio_handle_t **h = malloc(NTIMERS * sizeof *h);
  ASSERT_NOT_NULL(h);
  for (long i = 0; i < NTIMERS; i++)
    ASSERT_OK(luaio_call_at(loop, many_when(i), many_cb, (void *)(intptr_t)i,
                            many_fin, &h[i]));
  ASSERT_EQ(NTIMERS, luaio_loop_ntimers(loop));
  long ncancel = 0;
  for (long k = 0; k < NTIMERS; k++) {
    long i = k * 48271 % NTIMERS; /* a permutation: 48271 is prime */
    if (i % 3 == 0) {
      luaio_handle_cancel(h[i]);
      ncancel++;
    }
  }
  ASSERT_EQ(ncancel, M.fins); /* at once */
  ASSERT_EQ(NTIMERS - ncancel, luaio_loop_ntimers(loop));
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_EQ(NTIMERS - ncancel, M.fired);
  ASSERT_EQ(0, M.out_of_order);
  ASSERT_EQ(NTIMERS, M.fins); /* and after each callback */
  for (long i = 0; i < NTIMERS; i++)
    luaio_handle_unref(h[i]);
  free(h);
  test_loop_close(loop);
}

/* Far deadlines, all cancelled: the heap empties. */
TEST(hundred_thousand_cancelled) {
  luaio_loop_t *loop = loop_open();
  memset(&M, 0, sizeof M);
  luaio_handle_t **h = malloc(NTIMERS * sizeof *h);
  ASSERT_NOT_NULL(h);
  for (long i = 0; i < NTIMERS; i++)
    ASSERT_OK(luaio_call_later(loop, 100 + (i % 97), many_cb, NULL, many_fin,
                               &h[i]));
  for (long i = NTIMERS - 1; i >= 0; i -= 2)
    luaio_handle_cancel(h[i]);
  for (long i = 0; i < NTIMERS; i += 2)
    luaio_handle_cancel(h[i]);
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  ASSERT_EQ(NTIMERS, M.fins);
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_EQ(0, M.fired);
  for (long i = 0; i < NTIMERS; i++)
    luaio_handle_unref(h[i]);
  free(h);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** The run and the heap together
** ======================================================================= */

/* Deadlines armed partly in order (the run) and partly not (the heap)
** fire by deadline, equal ones in arming order across both. */
TEST(run_and_heap_interleave) {
  luaio_loop_t *loop = loop_open();
  double t = luaio_loop_time(loop) - 1; /* all due at the first iteration */
  static const struct {
    double at;
    const char *name;
  } arm[] = {{10, "10"}, {20, "20"}, {15, "15"}, {30, "30a"}, {5, "5"},
             {30, "30b"}, {25, "25"}, {30, "30c"}, {40, "40"}, {20, "20b"}};
  for (size_t i = 0; i < sizeof arm / sizeof arm[0]; i++)
    ASSERT_OK(luaio_call_at(loop, t + arm[i].at * 1e-3, log_cb,
                            S(arm[i].name), NULL, NULL));
  ASSERT_EQ(10, luaio_loop_ntimers(loop));
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_STR_EQ("5,10,15,20,20b,25,30a,30b,30c,40", test_log);
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  test_loop_close(loop);
}

/* Cancelling the first, a middle and the last timer of the run. */
TEST(cancel_in_run) {
  luaio_loop_t *loop = loop_open();
  double now = luaio_loop_time(loop);
  luaio_handle_t *h[5];
  static const char *names[] = {"a", "b", "c", "d", "e"};
  for (int i = 0; i < 5; i++) /* in order: all in the run */
    ASSERT_OK(luaio_call_at(loop, now + 0.001 * i, log_cb, S(names[i]),
                            log_fin, &h[i]));
  luaio_handle_cancel(h[0]);
  luaio_handle_cancel(h[2]);
  luaio_handle_cancel(h[4]);
  ASSERT_STR_EQ("fin:a,fin:c,fin:e", test_log);
  ASSERT_EQ(2, luaio_loop_ntimers(loop));
  test_log_reset();
  /* The run's last timer was cancelled; later ones still go in order. */
  ASSERT_OK(luaio_call_at(loop, now + 0.0035, log_cb, S("x"), NULL, NULL));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("b,fin:b,d,fin:d,x", test_log);
  for (int i = 0; i < 5; i++)
    luaio_handle_unref(h[i]);
  test_loop_close(loop);
}

/* Many timers in the run, most cancelled, then more armed: the run's
** array squeezes out the holes (moving the timers left), and every timer
** left fires once, in order. */
static long run_prev, run_fired;
static int run_bad;

static void run_cb(void *arg) {
  long i = (long)(intptr_t)arg;
  run_bad |= i <= run_prev;
  run_prev = i;
  run_fired++;
}

TEST(run_reuses_cancelled_slots) {
  luaio_loop_t *loop = loop_open();
  enum { N = 1000, MORE = 500 };
  luaio_handle_t *h[N + MORE];
  run_prev = -1;
  run_fired = run_bad = 0;
  double base = luaio_loop_time(loop) - 1;
  for (long i = 0; i < N; i++)
    ASSERT_OK(luaio_call_at(loop, base + i * 1e-6, run_cb,
                            (void *)(intptr_t)i, NULL, &h[i]));
  for (long i = 0; i < N; i++)
    if (i % 4 != 0)
      luaio_handle_cancel(h[i]);
  for (long i = N; i < N + MORE; i++)
    ASSERT_OK(luaio_call_at(loop, base + i * 1e-6, run_cb,
                            (void *)(intptr_t)i, NULL, &h[i]));
  ASSERT_EQ(N / 4 + MORE, luaio_loop_ntimers(loop));
  /* One cancelled after the squeeze, from the moved part. */
  luaio_handle_cancel(h[N - 4]);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_EQ(N / 4 + MORE - 1, run_fired);
  ASSERT_EQ(0, run_bad);
  ASSERT_EQ(N + MORE - 1, run_prev);
  for (long i = 0; i < N + MORE; i++)
    luaio_handle_unref(h[i]);
  test_loop_close(loop);
}

/* }====================================================================== */

/* Out of memory making the handle, or growing the run (first at 1
** timer, then at 65): LUAIO_ENOMEM, nothing left behind, no callback. */
TEST(oom_call_later) {
  luaio_loop_t *loop = loop_open();
  for (int round = 0; round < 2; round++) {
    long live = test_alloc_live();
    size_t ntimers = luaio_loop_ntimers(loop);
    for (long n = 1;; n++) {
      test_alloc_fail_after(n);
      int rc = luaio_call_later(loop, 0, log_cb, S("cb"), log_fin, NULL);
      if (!test_alloc_failed()) {
        ASSERT_OK(rc);
        ASSERT_EQ(3, n); /* the handle, then the run */
        break;
      }
      ASSERT_EQ(LUAIO_ENOMEM, rc);
      ASSERT_EQ(live, test_alloc_live());
      ASSERT_EQ(ntimers, luaio_loop_ntimers(loop));
    }
    test_alloc_fail_after(0);
    /* Fill the run up to its first capacity, 64. */
    while (round == 0 && luaio_loop_ntimers(loop) < 64)
      ASSERT_OK(luaio_call_later(loop, 0, log_cb, S("cb"), NULL, NULL));
  }
  ASSERT_STR_EQ("", test_log);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  test_loop_close(loop);
}

/* call_at goes through the same path. */
TEST(oom_call_at) {
  luaio_loop_t *loop = loop_open();
  long live = test_alloc_live();
  for (long n = 1;; n++) {
    luaio_handle_t *h = NULL;
    test_alloc_fail_after(n);
    int rc = luaio_call_at(loop, 0, log_cb, S("cb"), log_fin, &h);
    if (!test_alloc_failed()) {
      ASSERT_OK(rc);
      luaio_handle_unref(h);
      break;
    }
    ASSERT_EQ(LUAIO_ENOMEM, rc);
    ASSERT_NULL(h);
    ASSERT_EQ(live, test_alloc_live());
  }
  test_alloc_fail_after(0);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("cb,fin:cb", test_log);
  test_loop_close(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
