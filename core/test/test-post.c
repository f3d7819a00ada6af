/*
** test-post.c - luaio_call_soon_threadsafe: work posted from other
** threads runs on the loop's thread, each thread's in the order it posted,
** nothing lost; it wakes a loop waiting for I/O; what is never run is
** freed with the loop.
*/
#include <stdlib.h>

#include "luaio.h"
#include "test.h"

#define NTHREADS 4
#define PER_THREAD 2000

static uv_thread_t loop_thread;
static int seen[NTHREADS]; /* the next number expected from each thread */
static int total;
static int wrong; /* ran off the loop's thread or out of order */

static void got(void *arg) {
  uintptr_t v = (uintptr_t)arg;
  int thread = (int)(v % NTHREADS), seq = (int)(v / NTHREADS);
  uv_thread_t self = uv_thread_self();
  if (!uv_thread_equal(&self, &loop_thread) || seq != seen[thread])
    wrong++;
  seen[thread] = seq + 1;
  total++;
}

typedef struct {
  luaio_loop_t *loop;
  int id;
} poster;

static void post_all(void *arg) {
  poster *p = arg;
  for (int i = 0; i < PER_THREAD; i++)
    ASSERT_OK(luaio_call_soon_threadsafe(
        p->loop, got, (void *)(uintptr_t)(i * NTHREADS + p->id)));
}

TEST(four_threads_post_and_nothing_is_lost) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  loop_thread = uv_thread_self();
  uv_thread_t threads[NTHREADS];
  poster posters[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    posters[i].loop = loop;
    posters[i].id = i;
    ASSERT_OK(uv_thread_create(&threads[i], post_all, &posters[i]));
  }
  /* The loop runs while the threads post. */
  while (total < NTHREADS * PER_THREAD)
    luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  for (int i = 0; i < NTHREADS; i++)
    ASSERT_OK(uv_thread_join(&threads[i]));
  ASSERT_EQ(0, wrong);
  for (int i = 0; i < NTHREADS; i++)
    ASSERT_EQ(PER_THREAD, seen[i]);
  ASSERT_EQ(NTHREADS * PER_THREAD, total);
  test_loop_close(loop);
}

/* A string literal as a callback's arg. */
#define S(s) ((void *)(uintptr_t)(s))

static void log_cb(void *arg) { test_logf("%s", (const char *)arg); }

static void post_later(void *arg) {
  ASSERT_OK(luaio_call_soon_threadsafe(arg, log_cb, S("posted")));
}

/* A loop blocked in a poll (a referenced timer far away keeps it there)
** wakes for a post and runs it in that iteration. */
static void never(uv_timer_t *t) { (void)t; }

TEST(a_post_wakes_a_loop_waiting_for_io) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  uv_timer_t hold;
  uv_timer_init(luaio_loop_uv(loop), &hold);
  uv_timer_start(&hold, never, 3600 * 1000, 0);
  uv_thread_t t;
  ASSERT_OK(uv_thread_create(&t, post_later, loop));
  while (test_log[0] == '\0')
    luaio_loop_run(loop, LUAIO_RUN_ONCE);
  ASSERT_OK(uv_thread_join(&t));
  ASSERT_STR_EQ("posted", test_log);
  uv_close((uv_handle_t *)&hold, NULL);
  test_loop_close(loop);
}

/* Posted after the loop's last iteration: never run, and freed. */
TEST(what_is_never_run_is_freed) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  ASSERT_OK(luaio_call_soon_threadsafe(loop, log_cb, S("lost")));
  ASSERT_OK(luaio_call_soon_threadsafe(loop, log_cb, S("lost too")));
  test_loop_close(loop);
  ASSERT_STR_EQ("", test_log);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
