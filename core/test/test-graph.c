/*
** test-graph.c - who waits for a future: tasks awaiting it directly or
** through a gather, a shield, a wait (and those nested), the parent of a
** task group holding it; nothing once they stop waiting.
*/
#include "luaio.h"
#include "test.h"

#define DATA(t) luaio_future_data(luaio_task_future(t))

static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  return loop;
}

/* One turn of the loop: the tasks made so far take their first step. */
static void turn(luaio_loop_t *loop) {
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
}

static void run(luaio_loop_t *loop) {
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
}

/* A task that awaits fut at its first step, then returns. */
typedef struct {
  const char *name;
  luaio_future_t *fut; /* borrowed */
  int n;
} awaiter;

static int await_step(luaio_task_t *t, int err) {
  awaiter *a = DATA(t);
  if (err == 0 && a->n++ == 0) {
    ASSERT_OK(luaio_task_await(t, a->fut));
    return LUAIO_STEP_SUSPENDED;
  }
  return err != 0 ? err : LUAIO_STEP_RETURNED;
}

static luaio_task_t *await_task(luaio_loop_t *loop, awaiter *a) {
  luaio_task_t *t = luaio_task_new(loop, await_step, a, 0);
  ASSERT_NOT_NULL(t);
  return t;
}

static void log_awaiter(luaio_task_t *t, luaio_via via, void *arg) {
  (void)arg;
  awaiter *a = DATA(t);
  test_logf("%s:%s", a->name, luaio_via_name(via));
}

/* The log of fut's awaiters, then a fresh log. */
static void expect_awaiters(luaio_future_t *fut, const char *expected) {
  test_log_reset();
  luaio_future_foreach_awaiter(fut, log_awaiter, NULL);
  ASSERT_STR_EQ(expected, test_log);
  test_log_reset();
}

TEST(direct_awaiters_in_order) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  expect_awaiters(fut, "");
  awaiter a = {"a", fut, 0}, b = {"b", fut, 0};
  luaio_task_t *ta = await_task(loop, &a);
  luaio_task_t *tb = await_task(loop, &b);
  turn(loop);
  expect_awaiters(fut, "a:await,b:await");
  /* A plain done callback waits for nothing. */
  ASSERT_OK(luaio_future_set_result(fut));
  expect_awaiters(fut, "");
  run(loop);
  luaio_task_unref(ta);
  luaio_task_unref(tb);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

TEST(through_gather_and_shield) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *f[2];
  for (int i = 0; i < 2; i++) {
    f[i] = luaio_future_new(loop);
    ASSERT_NOT_NULL(f[i]);
  }
  luaio_future_t *s = luaio_shield_new(loop, f[1]);
  ASSERT_NOT_NULL(s);
  luaio_future_t *kids[2] = {f[0], s};
  luaio_future_t *g = luaio_gather_new(loop, kids, 2, 0);
  ASSERT_NOT_NULL(g);
  awaiter a = {"a", g, 0}, b = {"b", s, 0};
  luaio_task_t *ta = await_task(loop, &a);
  luaio_task_t *tb = await_task(loop, &b);
  turn(loop);
  expect_awaiters(f[0], "a:gather");
  /* f[1] is shielded twice over: in a's gather and for b. */
  expect_awaiters(f[1], "a:shield,b:shield");
  expect_awaiters(s, "a:gather,b:await");
  expect_awaiters(g, "a:await");
  luaio_future_set_result(f[0]);
  luaio_future_set_result(f[1]);
  run(loop);
  expect_awaiters(f[1], "");
  luaio_task_unref(ta);
  luaio_task_unref(tb);
  luaio_future_unref(g);
  luaio_future_unref(s);
  for (int i = 0; i < 2; i++)
    luaio_future_unref(f[i]);
  test_loop_close(loop);
}

TEST(through_wait) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  luaio_wait_t *w = luaio_wait_new(loop, &fut, 1, LUAIO_ALL_COMPLETED, -1);
  ASSERT_NOT_NULL(w);
  awaiter a = {"a", luaio_wait_future(w), 0};
  luaio_task_t *ta = await_task(loop, &a);
  turn(loop);
  expect_awaiters(fut, "a:wait");
  luaio_future_set_result(fut);
  run(loop);
  luaio_wait_unref(w);
  luaio_task_unref(ta);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* The group's parent waits for its children while the group runs, also
** while its body does something else. */
typedef struct {
  const char *name;
  luaio_taskgroup_t *tg;
  luaio_future_t *gate; /* the children wait for it */
  luaio_task_t *kids[2];
  int n;
} parent;

static int kid_step(luaio_task_t *t, int err) {
  parent *p = DATA(t);
  if (err == 0 && !luaio_future_done(p->gate)) {
    ASSERT_OK(luaio_task_await(t, p->gate));
    return LUAIO_STEP_SUSPENDED;
  }
  return err != 0 ? err : LUAIO_STEP_RETURNED;
}

static void log_parent(luaio_task_t *t, luaio_via via, void *arg) {
  (void)arg;
  parent *p = DATA(t);
  test_logf("%s:%s", p->name, luaio_via_name(via));
}

static int parent_step(luaio_task_t *t, int err) {
  parent *p = DATA(t);
  luaio_loop_t *loop = luaio_future_loop(luaio_task_future(t));
  luaio_future_t *exit;
  switch (p->n++) {
  case 0:
    p->tg = luaio_taskgroup_new(loop, t);
    ASSERT_NOT_NULL(p->tg);
    for (int i = 0; i < 2; i++) {
      p->kids[i] = luaio_task_new(loop, kid_step, p, 0);
      ASSERT_NOT_NULL(p->kids[i]);
      ASSERT_OK(luaio_taskgroup_add(p->tg, p->kids[i]));
    }
    return LUAIO_STEP_SUSPENDED; /* the body yields once */
  case 1:
    test_log_reset();
    luaio_future_foreach_awaiter(luaio_task_future(p->kids[1]), log_parent,
                                 NULL);
    ASSERT_STR_EQ("p:TaskGroup", test_log);
    ASSERT_OK(luaio_future_set_result(p->gate));
    exit = luaio_taskgroup_exit(p->tg, err);
    break;
  default:
    exit = luaio_taskgroup_exit_step(p->tg, err == LUAIO_ECANCELLED);
  }
  if (exit != NULL) {
    ASSERT_OK(luaio_task_await(t, exit));
    return LUAIO_STEP_SUSPENDED;
  }
  ASSERT_EQ(0, luaio_taskgroup_outcome(p->tg));
  return LUAIO_STEP_RETURNED;
}

TEST(taskgroup_parent) {
  luaio_loop_t *loop = loop_open();
  parent p = {"p", NULL, luaio_future_new(loop), {NULL, NULL}, 0};
  ASSERT_NOT_NULL(p.gate);
  luaio_task_t *t = luaio_task_new(loop, parent_step, &p, 0);
  ASSERT_NOT_NULL(t);
  run(loop);
  ASSERT_EQ(LUAIO_RESOLVED, luaio_future_state(luaio_task_future(t)));
  /* Once the group is finished, nobody waits for its children. */
  test_log_reset();
  luaio_future_foreach_awaiter(luaio_task_future(p.kids[0]), log_parent,
                               NULL);
  ASSERT_STR_EQ("", test_log);
  for (int i = 0; i < 2; i++)
    luaio_task_unref(p.kids[i]);
  luaio_taskgroup_unref(p.tg);
  luaio_future_unref(p.gate);
  luaio_task_unref(t);
  test_loop_close(loop);
}

TEST(via_names) {
  ASSERT_STR_EQ("await", luaio_via_name(LUAIO_VIA_AWAIT));
  ASSERT_STR_EQ("gather", luaio_via_name(LUAIO_VIA_GATHER));
  ASSERT_STR_EQ("shield", luaio_via_name(LUAIO_VIA_SHIELD));
  ASSERT_STR_EQ("wait", luaio_via_name(LUAIO_VIA_WAIT));
  ASSERT_STR_EQ("TaskGroup", luaio_via_name(LUAIO_VIA_TASKGROUP));
}

int main(int argc, char **argv) { return test_main(argc, argv); }
