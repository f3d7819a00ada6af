/*
** test-thread.c - luaio_work_t: work runs on a pool thread, its results
** come back on the loop thread, cancellation before the work starts and
** while it runs, and a loop deleted with work in flight.
**
** The pool has one thread (UV_THREADPOOL_SIZE=1, set before libuv starts
** it), so a blocker job that waits on a semaphore keeps later work queued
** for as long as a test needs. Order is checked with the event log and
** semaphores, never by timing.
*/
#include <stdlib.h>

#include "luaio.h"
#include "test.h"

typedef struct {
  long n;             /* input: sum 1..n */
  long sum;           /* output, written on the pool thread */
  uv_thread_t thread; /* where the work ran */
  int ran;            /* set on the pool thread */
  uv_sem_t *started;  /* posted when the work starts, if given */
  uv_sem_t *release;  /* waited for before the sum, if given */
  int freed;          /* fin calls, on the loop thread */
  const char *name;
} job_t;

static uv_thread_t loop_thread;

static void job_run(void *arg) {
  job_t *j = arg;
  j->thread = uv_thread_self();
  if (j->started != NULL)
    uv_sem_post(j->started);
  if (j->release != NULL)
    uv_sem_wait(j->release);
  long s = 0;
  for (long i = 1; i <= j->n; i++)
    s += i;
  j->sum = s;
  j->ran = 1;
}

static void job_fin(void *arg) {
  job_t *j = arg;
  j->freed++;
  test_logf("fin:%s", j->name);
}

static luaio_loop_t *open_loop(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  loop_thread = uv_thread_self();
  return loop;
}

/* {======================================================================
** A task that awaits one work item, as the binding's to_thread does.
** ======================================================================= */

typedef struct {
  luaio_work_t *w; /* borrowed: the test owns it */
  int stage;
  int err; /* what the second step raised, or 0 */
} waiter_t;

static const char *state_name(luaio_state s) {
  switch (s) {
  case LUAIO_PENDING:
    return "pending";
  case LUAIO_RESOLVED:
    return "resolved";
  case LUAIO_FAILED:
    return "failed";
  default:
    return "cancelled";
  }
}

static int await_step(luaio_task_t *task, int err) {
  waiter_t *wt = luaio_future_data(luaio_task_future(task));
  if (wt->stage++ == 0) {
    ASSERT_OK(luaio_task_await(task, luaio_work_future(wt->w)));
    test_logf("await");
    return LUAIO_STEP_SUSPENDED;
  }
  /* As asyncio: a cancelled awaitable raises in the awaiting task. */
  luaio_future_t *fut = luaio_work_future(wt->w);
  if (err == 0 && luaio_future_cancelled(fut))
    err = LUAIO_ECANCELLED;
  wt->err = err;
  test_logf("resumed:%s", state_name(luaio_future_state(fut)));
  return err != 0 ? err : LUAIO_STEP_RETURNED;
}

/* }====================================================================== */

TEST(work_runs_off_the_loop_thread) {
  luaio_loop_t *loop = open_loop();
  job_t job = {.n = 1000, .name = "a"};
  luaio_work_t *w = luaio_work_new(loop, job_run, &job, job_fin);
  ASSERT_NOT_NULL(w);
  ASSERT(luaio_work_busy(w));
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(luaio_work_future(w)));
  waiter_t wt = {.w = w};
  luaio_task_t *t = luaio_task_new(loop, await_step, &wt, 0);
  ASSERT_NOT_NULL(t);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(luaio_task_future(t)));
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(luaio_work_future(w)));
  ASSERT(!luaio_work_busy(w));
  ASSERT(luaio_work_ran(w));
  ASSERT_EQ(1, job.ran);
  ASSERT_EQ(500500, job.sum);
  ASSERT(!uv_thread_equal(&job.thread, &loop_thread));
  ASSERT_EQ(0, job.freed); /* we still hold w */
  luaio_task_unref(t);
  luaio_work_unref(w);
  ASSERT_EQ(1, job.freed);
  ASSERT_STR_EQ("await,resumed:resolved,fin:a", test_log);
  test_loop_close(loop);
}

TEST(accessors_and_bad_input) {
  luaio_loop_t *loop = open_loop();
  job_t job = {.n = 3, .name = "a"};
  ASSERT_NULL(luaio_work_new(loop, NULL, &job, job_fin));
  ASSERT_NULL(luaio_work_new(NULL, job_run, &job, job_fin));
  ASSERT_EQ(0, job.freed); /* fin is not called when new fails */
  luaio_work_t *w = luaio_work_new(loop, job_run, &job, job_fin);
  ASSERT_NOT_NULL(w);
  ASSERT_PTR_EQ(&job, luaio_work_arg(w));
  ASSERT_PTR_EQ(w, luaio_future_work(luaio_work_future(w)));
  ASSERT_NULL(luaio_future_task(luaio_work_future(w)));
  ASSERT_PTR_EQ(loop, luaio_future_loop(luaio_work_future(w)));
  luaio_future_t *plain = luaio_future_new(loop);
  ASSERT_NOT_NULL(plain);
  ASSERT_NULL(luaio_future_work(plain));
  luaio_future_unref(plain);
  /* References are shared with the future view. */
  luaio_future_ref(luaio_work_future(w));
  luaio_work_unref(w);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_EQ(0, job.freed);
  ASSERT_EQ(6, job.sum);
  luaio_future_unref(luaio_work_future(w));
  ASSERT_EQ(1, job.freed);
  test_loop_close(loop);
}

TEST(results_come_back_from_many) {
  luaio_loop_t *loop = open_loop();
  enum { N = 16 };
  job_t jobs[N];
  luaio_work_t *ws[N];
  for (int i = 0; i < N; i++) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    jobs[i].n = 100 * (i + 1);
    jobs[i].name = "x";
    ws[i] = luaio_work_new(loop, job_run, &jobs[i], job_fin);
    ASSERT_NOT_NULL(ws[i]);
  }
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  for (int i = 0; i < N; i++) {
    long n = jobs[i].n;
    ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(luaio_work_future(ws[i])));
    ASSERT_EQ(n * (n + 1) / 2, jobs[i].sum);
    ASSERT(!uv_thread_equal(&jobs[i].thread, &loop_thread));
    luaio_work_unref(ws[i]);
    ASSERT_EQ(1, jobs[i].freed);
  }
  test_loop_close(loop);
}

/* The pool's one thread runs a blocker; the awaited work waits in the
** queue, and cancelling the task takes it off: it never runs. */
TEST(cancel_before_start) {
  luaio_loop_t *loop = open_loop();
  uv_sem_t started, release;
  ASSERT_OK(uv_sem_init(&started, 0));
  ASSERT_OK(uv_sem_init(&release, 0));
  job_t blocker = {
      .n = 1, .started = &started, .release = &release, .name = "blocker"};
  job_t job = {.n = 10, .name = "queued"};
  luaio_work_t *wb = luaio_work_new(loop, job_run, &blocker, job_fin);
  ASSERT_NOT_NULL(wb);
  uv_sem_wait(&started); /* the pool's thread is taken */
  luaio_work_t *w = luaio_work_new(loop, job_run, &job, job_fin);
  ASSERT_NOT_NULL(w);
  waiter_t wt = {.w = w};
  luaio_task_t *t = luaio_task_new(loop, await_step, &wt, 1);
  ASSERT_NOT_NULL(t);
  ASSERT_EQ(1, luaio_task_cancel(t, "stop"));
  /* Cancelled at once, before libuv reported anything. */
  ASSERT(luaio_future_cancelled(luaio_work_future(w)));
  ASSERT_STR_EQ("stop", luaio_future_cancel_message(luaio_work_future(w)));
  ASSERT(luaio_work_busy(w));
  /* The task ends with the cancellation while the blocker still runs. */
  while (!luaio_future_done(luaio_task_future(t)))
    luaio_loop_run(loop, LUAIO_RUN_ONCE);
  ASSERT(luaio_future_cancelled(luaio_task_future(t)));
  ASSERT_EQ(LUAIO_ECANCELLED, wt.err);
  luaio_task_unref(t);
  luaio_work_unref(w); /* the flight may still hold it */
  uv_sem_post(&release);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_EQ(0, job.ran);
  ASSERT_EQ(1, job.freed);
  ASSERT_EQ(1, blocker.ran);
  ASSERT(luaio_work_ran(wb));
  luaio_work_unref(wb);
  ASSERT_STR_EQ("await,resumed:cancelled,fin:queued,fin:blocker", test_log);
  uv_sem_destroy(&started);
  uv_sem_destroy(&release);
  test_loop_close(loop);
}

/* Work that runs cannot be stopped: the future is cancelled at once, the
** work finishes unobserved, and fin runs after it. */
TEST(cancel_during_work) {
  luaio_loop_t *loop = open_loop();
  uv_sem_t started, release;
  ASSERT_OK(uv_sem_init(&started, 0));
  ASSERT_OK(uv_sem_init(&release, 0));
  job_t job = {
      .n = 100, .started = &started, .release = &release, .name = "running"};
  luaio_work_t *w = luaio_work_new(loop, job_run, &job, job_fin);
  ASSERT_NOT_NULL(w);
  uv_sem_wait(&started);
  ASSERT_EQ(1, luaio_future_cancel(luaio_work_future(w), NULL));
  ASSERT_EQ(0, luaio_work_cancel(w, NULL)); /* already done */
  ASSERT(luaio_future_cancelled(luaio_work_future(w)));
  ASSERT(luaio_work_busy(w));
  ASSERT(!luaio_work_ran(w));
  luaio_work_unref(w);
  ASSERT_EQ(0, job.freed); /* still in flight: arg stays alive */
  uv_sem_post(&release);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_EQ(1, job.ran);
  ASSERT_EQ(5050, job.sum);
  ASSERT_EQ(1, job.freed);
  ASSERT_STR_EQ("fin:running", test_log);
  uv_sem_destroy(&started);
  uv_sem_destroy(&release);
  test_loop_close(loop);
}

static void job_slow(void *arg) {
  job_t *j = arg;
  uv_sem_post(j->started);
  uv_sleep(20); /* only makes the race likely; nothing depends on it */
  job_run(arg);
}

/* Deleting the loop waits for work in flight: after_work still runs, and
** fin with it. */
TEST(delete_waits_for_work_in_flight) {
  luaio_loop_t *loop = open_loop();
  uv_sem_t started;
  ASSERT_OK(uv_sem_init(&started, 0));
  job_t job = {.n = 4, .started = &started, .name = "late"};
  luaio_work_t *w = luaio_work_new(loop, job_slow, &job, job_fin);
  ASSERT_NOT_NULL(w);
  uv_sem_wait(&started);
  job.started = NULL;
  luaio_work_unref(w);
  ASSERT_EQ(0, job.freed);
  test_loop_close(loop); /* also: every allocation is freed */
  ASSERT_EQ(1, job.ran);
  ASSERT_EQ(10, job.sum);
  ASSERT_EQ(1, job.freed);
  uv_sem_destroy(&started);
}

TEST(work_new_oom_sweep) {
  luaio_loop_t *loop = open_loop();
  job_t job = {.n = 2, .name = "oom"};
  long live = test_alloc_live();
  luaio_work_t *w = NULL;
  for (long n = 1;; n++) {
    test_alloc_fail_after(n);
    w = luaio_work_new(loop, job_run, &job, job_fin);
    if (!test_alloc_failed())
      break;
    ASSERT_NULL(w);
    ASSERT_EQ(live, test_alloc_live());
    ASSERT_EQ(0, job.freed);
  }
  test_alloc_fail_after(0);
  ASSERT_NOT_NULL(w);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_EQ(3, job.sum);
  luaio_work_unref(w);
  ASSERT_EQ(1, job.freed);
  test_loop_close(loop);
}

int main(int argc, char **argv) {
  /* Before libuv starts its pool, on the first uv_queue_work. */
  setenv("UV_THREADPOOL_SIZE", "1", 1);
  return test_main(argc, argv);
}
