/*
** test-waiter.c - the waiter lists that queues, locks and streams share
** (core/waiter.c), seen through a Semaphore: first come, first woken; a
** cancelled waiter leaves its place and passes nothing on, and nothing
** is left behind.
*/
#include "luaio.h"
#include "test.h"

typedef struct {
  const char *name;
  luaio_semaphore_t *sem;
  luaio_future_t *fut; /* owns: the wait in progress */
  int n;
} taker;

/* Acquires the semaphore (waiting when it must), logs, and returns. */
static int take_step(luaio_task_t *t, int err) {
  taker *k = luaio_future_data(luaio_task_future(t));
  if (k->n++ == 0) {
    ASSERT_OK(luaio_semaphore_acquire(k->sem, &k->fut));
    if (k->fut != NULL) {
      ASSERT_OK(luaio_task_await(t, k->fut));
      return LUAIO_STEP_SUSPENDED;
    }
  } else {
    int rc = luaio_semaphore_acquire_finish(k->sem, k->fut, err);
    luaio_future_unref(k->fut);
    k->fut = NULL;
    if (rc != 0) {
      test_logf("%s!%s", k->name, luaio_err_name(rc));
      return rc;
    }
  }
  test_logf("%s", k->name);
  return LUAIO_STEP_RETURNED;
}

static luaio_task_t *spawn(luaio_loop_t *loop, taker *k) {
  luaio_task_t *t = luaio_task_new(loop, take_step, k, 0);
  ASSERT_NOT_NULL(t);
  return t;
}

TEST(first_come_first_woken) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  luaio_semaphore_t *sem = luaio_semaphore_new(loop, 0, 0);
  taker k[3] = {{"a", sem, NULL, 0}, {"b", sem, NULL, 0}, {"c", sem, NULL, 0}};
  luaio_task_t *t[3];
  for (int i = 0; i < 3; i++)
    t[i] = spawn(loop, &k[i]);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT); /* all three wait */
  for (int i = 0; i < 3; i++)
    ASSERT_OK(luaio_semaphore_release(sem));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("a,b,c", test_log);
  for (int i = 0; i < 3; i++)
    luaio_task_unref(t[i]);
  luaio_semaphore_unref(sem);
  test_loop_close(loop);
}

TEST(cancelled_waiter_leaves_its_place) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  luaio_semaphore_t *sem = luaio_semaphore_new(loop, 0, 0);
  taker k[3] = {{"a", sem, NULL, 0}, {"b", sem, NULL, 0}, {"c", sem, NULL, 0}};
  luaio_task_t *t[3];
  for (int i = 0; i < 3; i++)
    t[i] = spawn(loop, &k[i]);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_EQ(1, luaio_task_cancel(t[0], NULL));
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  /* One release, and the next in line after the cancelled one gets it. */
  ASSERT_OK(luaio_semaphore_release(sem));
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_STR_EQ("a!ECANCELLED,b", test_log);
  ASSERT_OK(luaio_semaphore_release(sem));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("a!ECANCELLED,b,c", test_log);
  for (int i = 0; i < 3; i++)
    luaio_task_unref(t[i]);
  luaio_semaphore_unref(sem);
  test_loop_close(loop);
}

/* Every wait cancelled: each waiter leaves the list and is freed, and the
** object ends with an empty list; nothing is left behind. */
TEST(cancelled_waits_leave_nothing) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  luaio_semaphore_t *sem = luaio_semaphore_new(loop, 0, 0);
  taker k[2] = {{"a", sem, NULL, 0}, {"b", sem, NULL, 0}};
  luaio_task_t *t[2];
  for (int i = 0; i < 2; i++)
    t[i] = spawn(loop, &k[i]);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  for (int i = 0; i < 2; i++)
    ASSERT_EQ(1, luaio_task_cancel(t[i], NULL));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("a!ECANCELLED,b!ECANCELLED", test_log);
  for (int i = 0; i < 2; i++)
    luaio_task_unref(t[i]);
  luaio_semaphore_unref(sem);
  test_loop_close(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
