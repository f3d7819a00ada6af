/*
** test-clock.c - the loop's clock: a real clock cannot be moved, a manual
** clock fires nothing until it is jumped and then what is due in order,
** a virtual clock jumps to each deadline but never over real work in
** flight unless its threshold says so, and a rate lets time run.
*/
#include <math.h>
#include <stdatomic.h>
#include <unistd.h>

#include "luaio.h"
#include "test.h"

static luaio_loop_t *loop_open(luaio_clock_kind kind) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new_clock(NULL, kind);
  ASSERT_NOT_NULL(loop);
  return loop;
}

static luaio_loop_t *the_loop;

/* Logs its name with the loop time at which it ran. */
static void at_cb(void *arg) {
  test_logf("%s@%g", (const char *)arg, luaio_loop_time(the_loop));
}

#define S(s) ((void *)(s))

TEST(real_clock_cannot_be_moved) {
  luaio_loop_t *loop = loop_open(LUAIO_CLOCK_REAL);
  ASSERT_EQ(LUAIO_CLOCK_REAL, luaio_clock_kind_of(loop));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_clock_jump(loop, 1));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_clock_set_rate(loop, 2));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_clock_set_autojump_threshold(loop, 1));
  ASSERT(luaio_clock_rate(loop) == 1.0);
  test_loop_close(loop);
}

TEST(bad_arguments) {
  luaio_loop_t *loop = loop_open(LUAIO_CLOCK_MANUAL);
  ASSERT_EQ(LUAIO_EINVAL, luaio_clock_jump(loop, -1)); /* never backwards */
  ASSERT_EQ(LUAIO_EINVAL, luaio_clock_jump(loop, NAN));
  ASSERT_EQ(LUAIO_EINVAL, luaio_clock_jump(loop, INFINITY));
  ASSERT_EQ(LUAIO_EINVAL, luaio_clock_set_rate(loop, -0.5));
  ASSERT_EQ(LUAIO_EINVAL, luaio_clock_set_rate(loop, NAN));
  /* Only a virtual clock jumps by itself. */
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_clock_set_autojump_threshold(loop, 1));
  ASSERT(luaio_loop_time(loop) == 0);
  test_loop_close(loop);
  loop = loop_open(LUAIO_CLOCK_VIRTUAL);
  ASSERT(isinf(luaio_clock_autojump_threshold(loop)));
  ASSERT_EQ(LUAIO_EINVAL, luaio_clock_set_autojump_threshold(loop, -1));
  ASSERT_OK(luaio_clock_set_autojump_threshold(loop, 0.5));
  ASSERT(luaio_clock_autojump_threshold(loop) == 0.5);
  test_loop_close(loop);
}

/* Nothing fires until the clock is jumped; then what is due fires, by
** deadline and, for equal deadlines, in the order armed. */
TEST(manual_fires_only_when_jumped) {
  luaio_loop_t *loop = the_loop = loop_open(LUAIO_CLOCK_MANUAL);
  ASSERT_OK(luaio_call_later(loop, 5, at_cb, S("a"), NULL, NULL));
  ASSERT_OK(luaio_call_later(loop, 2, at_cb, S("b"), NULL, NULL));
  ASSERT_OK(luaio_call_later(loop, 2, at_cb, S("c"), NULL, NULL));
  ASSERT_OK(luaio_call_at(loop, 1.5, at_cb, S("d"), NULL, NULL));
  for (int i = 0; i < 3; i++)
    luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  /* DEFAULT returns rather than wait for a clock nothing moves. */
  ASSERT(luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT(!luaio_loop_can_progress(loop));
  ASSERT_STR_EQ("", test_log);
  ASSERT_OK(luaio_clock_jump(loop, 1));
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_STR_EQ("", test_log);
  ASSERT_OK(luaio_clock_jump(loop, 1));
  ASSERT(luaio_loop_can_progress(loop));
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_STR_EQ("d@2,b@2,c@2", test_log);
  ASSERT_OK(luaio_clock_jump(loop, 10));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("d@2,b@2,c@2,a@12", test_log);
  test_loop_close(loop);
}

/* A virtual clock runs an hour of timers at once, each at its deadline,
** ties in the order armed, and stays at the last deadline. */
TEST(virtual_jumps_to_each_deadline) {
  luaio_loop_t *loop = the_loop = loop_open(LUAIO_CLOCK_VIRTUAL);
  ASSERT_OK(luaio_call_later(loop, 3600, at_cb, S("hour"), NULL, NULL));
  ASSERT_OK(luaio_call_later(loop, 30, at_cb, S("a"), NULL, NULL));
  ASSERT_OK(luaio_call_later(loop, 30, at_cb, S("b"), NULL, NULL));
  ASSERT_OK(luaio_call_soon(loop, at_cb, S("soon"), NULL, NULL));
  ASSERT_OK(luaio_call_later(loop, 0.25, at_cb, S("q"), NULL, NULL));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("soon@0,q@0.25,a@30,b@30,hour@3600", test_log);
  ASSERT(luaio_loop_time(loop) == 3600);
  test_loop_close(loop);
}

/* A host steps a virtual loop without blocking: each step that finds
** nothing to do jumps to the next deadline. */
TEST(virtual_jumps_in_nowait_steps) {
  luaio_loop_t *loop = the_loop = loop_open(LUAIO_CLOCK_VIRTUAL);
  ASSERT_OK(luaio_call_later(loop, 60, at_cb, S("b"), NULL, NULL));
  ASSERT_OK(luaio_call_later(loop, 1, at_cb, S("a"), NULL, NULL));
  ASSERT(luaio_loop_run(loop, LUAIO_RUN_NOWAIT));
  ASSERT_STR_EQ("a@1", test_log);
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_NOWAIT));
  ASSERT_STR_EQ("a@1,b@60", test_log);
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_NOWAIT)); /* nothing left */
  ASSERT(luaio_loop_time(loop) == 60);
  test_loop_close(loop);
}

/* A job on the pool thread that takes a while in real time. */
static atomic_int job_done;

static void slow_job(void *arg) {
  (void)arg;
  usleep(30000);
  atomic_store(&job_done, 1);
}

static void job_done_cb(luaio_future_t *fut, void *arg) {
  (void)fut;
  test_logf("%s@%g", (const char *)arg, luaio_loop_time(the_loop));
}

/* While a thread job is in flight the clock stays: the job's result comes
** first, at time 0, and only then the timer 10 s away. */
TEST(virtual_waits_for_thread_work) {
  luaio_loop_t *loop = the_loop = loop_open(LUAIO_CLOCK_VIRTUAL);
  atomic_store(&job_done, 0);
  ASSERT_OK(luaio_call_later(loop, 10, at_cb, S("timer"), NULL, NULL));
  luaio_work_t *w = luaio_work_new(loop, slow_job, NULL, NULL);
  ASSERT_NOT_NULL(w);
  ASSERT_OK(luaio_future_add_done_cb(luaio_work_future(w), job_done_cb,
                                     S("job"), NULL));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("job@0,timer@10", test_log);
  luaio_work_unref(w);
  test_loop_close(loop);
}

/* A job that waits for the timer: only a clock that jumps over the work
** in flight lets it end. A threshold of 0 does (Trio's autojump). */
static void waiting_job(void *arg) {
  (void)arg;
  for (int i = 0; i < 5000 && !atomic_load(&job_done); i++)
    usleep(1000);
}

static void release_cb(void *arg) {
  at_cb(arg);
  atomic_store(&job_done, 1);
}

/* Runs a job that waits for a timer 10 s away on a virtual clock with the
** given autojump threshold. */
static void run_waiting_job(double threshold) {
  luaio_loop_t *loop = the_loop = loop_open(LUAIO_CLOCK_VIRTUAL);
  atomic_store(&job_done, 0);
  ASSERT_OK(luaio_clock_set_autojump_threshold(loop, threshold));
  ASSERT_OK(luaio_call_later(loop, 10, release_cb, S("timer"), NULL, NULL));
  luaio_work_t *w = luaio_work_new(loop, waiting_job, NULL, NULL);
  ASSERT_NOT_NULL(w);
  ASSERT_OK(luaio_future_add_done_cb(luaio_work_future(w), job_done_cb,
                                     S("job"), NULL));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("timer@10,job@10", test_log);
  luaio_work_unref(w);
  test_loop_close(loop);
}

TEST(virtual_threshold_jumps_over_work) { run_waiting_job(0); }

/* With a threshold of 20 ms the loop waits that long on the job, finds
** nothing to do, and jumps. */
TEST(virtual_threshold_after_real_wait) { run_waiting_job(0.02); }

/* At a rate, a manual clock runs with real time: 1000 clock seconds per
** real one take a 10 s timer to its deadline in about 10 ms. */
TEST(manual_with_rate_runs) {
  luaio_loop_t *loop = the_loop = loop_open(LUAIO_CLOCK_MANUAL);
  ASSERT_OK(luaio_clock_set_rate(loop, 1000));
  ASSERT(luaio_clock_rate(loop) == 1000);
  ASSERT_OK(luaio_call_later(loop, 10, at_cb, S("t"), NULL, NULL));
  ASSERT(luaio_loop_can_progress(loop));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT(luaio_loop_time(loop) >= 10);
  ASSERT_OK(luaio_clock_set_rate(loop, 0)); /* stopped again */
  double t = luaio_loop_time(loop);
  usleep(2000);
  ASSERT(luaio_loop_time(loop) == t);
  test_loop_close(loop);
}

/* A task's sleep follows the clock too. */
static int sleeper_step(luaio_task_t *t, int err) {
  (void)err;
  if (!luaio_task_sleeping(t) && luaio_future_data(luaio_task_future(t))) {
    luaio_future_set_data(luaio_task_future(t), NULL);
    ASSERT_OK(luaio_task_sleep(t, 86400));
    return LUAIO_STEP_SUSPENDED;
  }
  test_logf("woke@%g", luaio_loop_time(the_loop));
  return LUAIO_STEP_RETURNED;
}

TEST(virtual_task_sleep) {
  luaio_loop_t *loop = the_loop = loop_open(LUAIO_CLOCK_VIRTUAL);
  luaio_task_t *t = luaio_task_new(loop, sleeper_step, S("first"), 0);
  ASSERT_NOT_NULL(t);
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("woke@86400", test_log);
  luaio_task_unref(t);
  test_loop_close(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
