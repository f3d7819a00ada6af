/*
** test-taskgroup.c - asyncio.TaskGroup: the group waits for every child;
** the first failure cancels the siblings and the parent; the errors are
** listed in order, the body's own last; cancellation of the parent from
** outside propagates.
**
** The parent task runs the group as `async with TaskGroup() as tg:` does:
** its body starts the children and maybe sleeps or fails, then the exit
** awaits luaio_taskgroup_exit() and luaio_taskgroup_exit_step() futures
** until the group is finished.
*/
#include "luaio.h"
#include "test.h"

#define DATA(t) luaio_future_data(luaio_task_future(t))

/* On a virtual clock: deadlines come at once and exactly, in order, however
** loaded the machine. */
static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new_clock(NULL, LUAIO_CLOCK_VIRTUAL);
  ASSERT_NOT_NULL(loop);
  return loop;
}

static void run(luaio_loop_t *loop) {
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
}

static luaio_state state_of(luaio_task_t *t) {
  return luaio_future_state(luaio_task_future(t));
}

static int error_of(luaio_task_t *t) {
  return luaio_future_error(luaio_task_future(t));
}

static void cancel_cb(void *arg) {
  test_logf("cancel");
  ASSERT_EQ(1, luaio_task_cancel(arg, NULL));
}

/* {======================================================================
** Children: sleep delay seconds, or when delay is 0 yield yields times
** (bare yields keep the order independent of time), then end with rc (0:
** resolve). When cancelled they end with on_cancel, or raise the
** cancellation.
** ======================================================================= */

typedef struct {
  const char *name;
  double delay;
  int yields;
  int rc, on_cancel;
  int n;
  luaio_task_t *task; /* owns */
} child;

static int child_step(luaio_task_t *t, int err) {
  child *c = DATA(t);
  if (err == 0 && c->delay > 0 && c->n++ == 0) {
    ASSERT_OK(luaio_task_sleep(t, c->delay));
    return LUAIO_STEP_SUSPENDED;
  }
  if (err == 0 && c->delay == 0 && c->n++ < c->yields)
    return LUAIO_STEP_SUSPENDED;
  test_logf("%s:%s", c->name, luaio_err_name(err));
  if (err == LUAIO_ECANCELLED && c->on_cancel != 0)
    return c->on_cancel;
  if (err != 0)
    return err;
  return c->rc != 0 ? c->rc : LUAIO_STEP_RETURNED;
}

static void children_unref(child *c, int n) {
  for (int i = 0; i < n; i++) {
    ASSERT(luaio_future_done(luaio_task_future(c[i].task)));
    luaio_task_unref(c[i].task);
  }
}

/* }====================================================================== */

/* {======================================================================
** The parent
** ======================================================================= */

typedef struct {
  child *children;
  int nchildren;
  double body_sleep; /* > 0: the body sleeps after starting them */
  int body_yields;   /* else it yields this many times (0: ends at once) */
  int body_err;      /* what the body raises when not woken by an error */
  luaio_taskgroup_t *tg;   /* owns */
  luaio_future_t *waiting; /* the exit's future being awaited (the group's) */
  int phase;
  double sleep_after; /* > 0: the parent sleeps once the group finished */
} parent;

static int parent_step(luaio_task_t *t, int err) {
  parent *p = DATA(t);
  luaio_loop_t *loop = luaio_future_loop(luaio_task_future(t));
  luaio_future_t *fut = NULL;
  int rc;
  switch (p->phase) {
  case 0: /* the body starts */
    ASSERT_OK(err);
    p->tg = luaio_taskgroup_new(loop, t);
    ASSERT_NOT_NULL(p->tg);
    for (int i = 0; i < p->nchildren; i++) {
      child *c = &p->children[i];
      c->task = luaio_task_new(loop, child_step, c, 0);
      ASSERT_NOT_NULL(c->task);
      ASSERT_OK(luaio_taskgroup_add(p->tg, c->task));
    }
    if (p->body_sleep > 0 || p->body_yields > 0) {
      ASSERT_OK(luaio_task_sleep(t, p->body_sleep > 0 ? p->body_sleep : 0));
      p->phase = 1;
      return LUAIO_STEP_SUSPENDED;
    }
    test_logf("body:%s", luaio_err_name(p->body_err));
    fut = luaio_taskgroup_exit(p->tg, p->body_err);
    break;
  case 1: /* the body's sleep or yield ended */
    if (err == 0 && p->body_sleep <= 0 && --p->body_yields > 0)
      return LUAIO_STEP_SUSPENDED;
    rc = err != 0 ? err : p->body_err;
    test_logf("body:%s", luaio_err_name(rc));
    fut = luaio_taskgroup_exit(p->tg, rc);
    break;
  case 3: /* the parent's sleep after the group ended */
    test_logf("after:%s", luaio_err_name(err));
    return err != 0 ? err : LUAIO_STEP_RETURNED;
  default: /* the exit's wait ended: by a cancellation of the parent? */
    rc = err == LUAIO_ECANCELLED || luaio_future_cancelled(p->waiting);
    fut = luaio_taskgroup_exit_step(p->tg, rc);
    break;
  }
  if (fut != NULL) {
    p->phase = 2;
    p->waiting = fut;
    ASSERT_OK(luaio_task_await(t, fut));
    return LUAIO_STEP_SUSPENDED;
  }
  rc = luaio_taskgroup_outcome(p->tg);
  test_logf("outcome:%s", luaio_err_name(rc));
  if (p->sleep_after > 0) { /* as if the group's error were caught */
    p->phase = 3;
    ASSERT_OK(luaio_task_sleep(t, p->sleep_after));
    return LUAIO_STEP_SUSPENDED;
  }
  return rc != 0 ? rc : LUAIO_STEP_RETURNED;
}

static luaio_task_t *parent_spawn(luaio_loop_t *loop, parent *p) {
  luaio_task_t *t = luaio_task_new(loop, parent_step, p, 0);
  ASSERT_NOT_NULL(t);
  return t;
}

static void parent_close(luaio_task_t *t, parent *p) {
  ASSERT(luaio_future_done(luaio_task_future(t)));
  children_unref(p->children, p->nchildren);
  luaio_taskgroup_unref(p->tg);
  luaio_task_unref(t);
}

/* }====================================================================== */

/* Every child finishes: outcome 0, and the parent goes on. */
TEST(all_finish) {
  luaio_loop_t *loop = loop_open();
  child c[3] = {{"a", 0, 2, 0, 0, 0, NULL},
                {"b", 0, 3, 0, 0, 0, NULL},
                {"c", 0, 1, 0, 0, 0, NULL}};
  parent p = {c, 3, 0, 0, 0, NULL, NULL, 0, 0};
  luaio_task_t *t = parent_spawn(loop, &p);
  run(loop);
  ASSERT_STR_EQ("body:OK,c:OK,a:OK,b:OK,outcome:OK", test_log);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(t));
  ASSERT_EQ(0, luaio_taskgroup_nerrors(p.tg));
  ASSERT_NULL(luaio_taskgroup_error(p.tg, 0));
  ASSERT_EQ(0, luaio_task_cancelling(t));
  parent_close(t, &p);
  test_loop_close(loop);
}

/* The children are done before the body ends: the exit has no wait. */
TEST(all_finish_before_exit) {
  luaio_loop_t *loop = loop_open();
  child c[2] = {{"a", 0, 0, 0, 0, 0, NULL}, {"b", 0, 1, 0, 0, 0, NULL}};
  parent p = {c, 2, 0, 6, 0, NULL, NULL, 0, 0};
  luaio_task_t *t = parent_spawn(loop, &p);
  run(loop);
  ASSERT_STR_EQ("a:OK,b:OK,body:OK,outcome:OK", test_log);
  ASSERT_EQ(1, p.phase); /* it never awaited the exit */
  ASSERT_EQ(LUAIO_RESOLVED, state_of(t));
  parent_close(t, &p);
  test_loop_close(loop);
}

/* A child fails: its siblings and the parent's body are cancelled; the
** errors come in the order they happened (c fails on its way out); the
** parent's own cancellation is taken back. */
TEST(child_fails) {
  luaio_loop_t *loop = loop_open();
  child c[3] = {{"a", 0.001, 0, UV_EIO, 0, 0, NULL},
                {"b", 10, 0, 0, 0, 0, NULL},
                {"c", 10, 0, 0, UV_EPIPE, 0, NULL}};
  parent p = {c, 3, 10, 0, 0, NULL, NULL, 0, 0};
  luaio_task_t *t = parent_spawn(loop, &p);
  run(loop);
  ASSERT_STR_EQ("a:OK,b:ECANCELLED,c:ECANCELLED,body:ECANCELLED,"
                "outcome:EFAILED",
                test_log);
  ASSERT_EQ(LUAIO_FAILED, state_of(t));
  ASSERT_EQ(LUAIO_EFAILED, error_of(t));
  ASSERT_EQ(0, luaio_task_cancelling(t));
  ASSERT_EQ(2, luaio_taskgroup_nerrors(p.tg));
  ASSERT_PTR_EQ(c[0].task, luaio_taskgroup_error(p.tg, 0));
  ASSERT_PTR_EQ(c[2].task, luaio_taskgroup_error(p.tg, 1));
  ASSERT_NULL(luaio_taskgroup_error(p.tg, 2));
  ASSERT_EQ(UV_EIO, error_of(c[0].task));
  ASSERT_EQ(LUAIO_CANCELLED, state_of(c[1].task));
  ASSERT_EQ(UV_EPIPE, error_of(c[2].task));
  parent_close(t, &p);
  test_loop_close(loop);
}

/* The body fails: the children are cancelled (before their first step
** here), and the body's error is listed last although it came first. */
TEST(body_error_last) {
  luaio_loop_t *loop = loop_open();
  child c[2] = {{"a", 10, 0, 0, UV_EIO, 0, NULL}, {"b", 10, 0, 0, 0, 0, NULL}};
  parent p = {c, 2, 0, 0, UV_EINVAL, NULL, NULL, 0, 0};
  luaio_task_t *t = parent_spawn(loop, &p);
  run(loop);
  ASSERT_STR_EQ("body:EINVAL,a:ECANCELLED,b:ECANCELLED,outcome:EFAILED",
                test_log);
  ASSERT_EQ(2, luaio_taskgroup_nerrors(p.tg));
  ASSERT_PTR_EQ(c[0].task, luaio_taskgroup_error(p.tg, 0));
  ASSERT_NULL(luaio_taskgroup_error(p.tg, 1)); /* the body's */
  ASSERT_EQ(LUAIO_EFAILED, error_of(t));
  ASSERT_EQ(0, luaio_task_cancelling(t));
  parent_close(t, &p);
  test_loop_close(loop);
}

/* The body fails and no child does: still a group of one error. */
TEST(body_error_alone) {
  luaio_loop_t *loop = loop_open();
  child c[1] = {{"a", 10, 0, 0, 0, 0, NULL}};
  parent p = {c, 1, 0, 0, UV_EINVAL, NULL, NULL, 0, 0};
  luaio_task_t *t = parent_spawn(loop, &p);
  run(loop);
  ASSERT_STR_EQ("body:EINVAL,a:ECANCELLED,outcome:EFAILED", test_log);
  ASSERT_EQ(1, luaio_taskgroup_nerrors(p.tg));
  ASSERT_NULL(luaio_taskgroup_error(p.tg, 0));
  parent_close(t, &p);
  test_loop_close(loop);
}

/* The parent is cancelled from outside while the body runs: the children
** are cancelled and the cancellation propagates. */
TEST(parent_cancelled_in_body) {
  luaio_loop_t *loop = loop_open();
  child c[2] = {{"a", 10, 0, 0, 0, 0, NULL}, {"b", 10, 0, 0, 0, 0, NULL}};
  parent p = {c, 2, 10, 0, 0, NULL, NULL, 0, 0};
  luaio_task_t *t = parent_spawn(loop, &p);
  ASSERT_OK(luaio_call_later(loop, 0.001, cancel_cb, t, NULL, NULL));
  run(loop);
  ASSERT_STR_EQ("cancel,body:ECANCELLED,a:ECANCELLED,b:ECANCELLED,"
                "outcome:ECANCELLED",
                test_log);
  ASSERT_EQ(LUAIO_CANCELLED, state_of(t));
  ASSERT_EQ(1, luaio_task_cancelling(t)); /* the outside request stays */
  ASSERT_EQ(0, luaio_taskgroup_nerrors(p.tg));
  parent_close(t, &p);
  test_loop_close(loop);
}

/* The same while the exit waits for the children. */
TEST(parent_cancelled_in_exit) {
  luaio_loop_t *loop = loop_open();
  child c[2] = {{"a", 10, 0, 0, 0, 0, NULL}, {"b", 10, 0, 0, 0, 0, NULL}};
  parent p = {c, 2, 0, 0, 0, NULL, NULL, 0, 0};
  luaio_task_t *t = parent_spawn(loop, &p);
  ASSERT_OK(luaio_call_later(loop, 0.001, cancel_cb, t, NULL, NULL));
  run(loop);
  ASSERT_STR_EQ("body:OK,cancel,a:ECANCELLED,b:ECANCELLED,"
                "outcome:ECANCELLED",
                test_log);
  ASSERT_EQ(LUAIO_CANCELLED, state_of(t));
  parent_close(t, &p);
  test_loop_close(loop);
}

/* A child fails while the exit waits: the parent is cancelled to wake it,
** and that request is taken back once the group is finished, whether the
** failing child was the last one or not. */
TEST(child_fails_in_exit) {
  luaio_loop_t *loop = loop_open();
  child c[2] = {{"a", 0.001, 0, UV_EIO, 0, 0, NULL},
                {"b", 10, 0, 0, 0, 0, NULL}};
  parent p = {c, 2, 0, 0, 0, NULL, NULL, 0, 0};
  luaio_task_t *t = parent_spawn(loop, &p);
  run(loop);
  ASSERT_STR_EQ("body:OK,a:OK,b:ECANCELLED,outcome:EFAILED", test_log);
  ASSERT_EQ(LUAIO_EFAILED, error_of(t));
  ASSERT_EQ(1, luaio_taskgroup_nerrors(p.tg));
  ASSERT_EQ(0, luaio_task_cancelling(t));
  parent_close(t, &p);

  test_log_reset();
  child d[1] = {{"a", 0.001, 0, UV_EIO, 0, 0, NULL}};
  parent q = {d, 1, 0, 0, 0, NULL, NULL, 0, 0};
  t = parent_spawn(loop, &q);
  run(loop);
  ASSERT_STR_EQ("body:OK,a:OK,outcome:EFAILED", test_log);
  ASSERT_EQ(LUAIO_EFAILED, error_of(t));
  ASSERT_EQ(0, luaio_task_cancelling(t));
  parent_close(t, &q);
  test_loop_close(loop);
}

/* The parent is cancelled from outside while the exit waits, and a child
** fails on its way out: the errors win, and the cancellation is made
** again so that it keeps its count and cancels the parent's next await
** (gh-116720). */
TEST(parent_cancelled_then_child_fails) {
  luaio_loop_t *loop = loop_open();
  child c[1] = {{"a", 10, 0, 0, UV_EIO, 0, NULL}};
  parent p = {c, 1, 0, 0, 0, NULL, NULL, 0, 10};
  luaio_task_t *t = parent_spawn(loop, &p);
  ASSERT_OK(luaio_call_later(loop, 0.001, cancel_cb, t, NULL, NULL));
  run(loop);
  ASSERT_STR_EQ("body:OK,cancel,a:ECANCELLED,outcome:EFAILED,"
                "after:ECANCELLED",
                test_log);
  ASSERT_EQ(LUAIO_CANCELLED, state_of(t));
  ASSERT_EQ(1, luaio_task_cancelling(t));
  ASSERT_EQ(1, luaio_taskgroup_nerrors(p.tg));
  parent_close(t, &p);
  test_loop_close(loop);
}

/* The group's own cancellation of its parent is taken back: nothing is
** re-armed, and the parent's next await completes. */
TEST(child_fails_nothing_rearmed) {
  luaio_loop_t *loop = loop_open();
  child c[1] = {{"a", 0.001, 0, UV_EIO, 0, 0, NULL}};
  parent p = {c, 1, 10, 0, 0, NULL, NULL, 0, 0.001};
  luaio_task_t *t = parent_spawn(loop, &p);
  run(loop);
  ASSERT_STR_EQ("a:OK,body:ECANCELLED,outcome:EFAILED,after:OK", test_log);
  ASSERT_EQ(LUAIO_RESOLVED, state_of(t));
  ASSERT_EQ(0, luaio_task_cancelling(t));
  parent_close(t, &p);
  test_loop_close(loop);
}

/* {======================================================================
** Adding children
** ======================================================================= */

static int return_step(luaio_task_t *t, int err) {
  (void)t;
  test_logf("late:%s", luaio_err_name(err));
  return err != 0 ? err : LUAIO_STEP_RETURNED;
}

typedef struct {
  parent *p;
  luaio_task_t *late; /* owns */
  int rc;             /* what luaio_taskgroup_add() returned */
} adder;

/* Adds a late child; one the group refuses is cancelled, as the binding
** does, so that it never runs. */
static void add_cb(void *arg) {
  adder *a = arg;
  luaio_loop_t *loop = luaio_future_loop(luaio_task_future(
      a->p->children[0].task));
  a->late = luaio_task_new(loop, return_step, NULL, 0);
  ASSERT_NOT_NULL(a->late);
  a->rc = luaio_taskgroup_add(a->p->tg, a->late);
  if (a->rc != 0)
    ASSERT_EQ(1, luaio_task_cancel(a->late, NULL));
}

/* While the exit waits, a child may still be added; the group waits for
** it too. */
TEST(add_while_exiting) {
  luaio_loop_t *loop = loop_open();
  child c[1] = {{"a", 0, 3, 0, 0, 0, NULL}};
  parent p = {c, 1, 0, 0, 0, NULL, NULL, 0, 0};
  luaio_task_t *t = parent_spawn(loop, &p);
  adder a = {&p, NULL, -1};
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT); /* the body ended */
  ASSERT_OK(luaio_call_soon(loop, add_cb, &a, NULL, NULL));
  run(loop);
  ASSERT_OK(a.rc);
  ASSERT_STR_EQ("body:OK,late:OK,a:OK,outcome:OK", test_log);
  luaio_task_unref(a.late);
  parent_close(t, &p);
  test_loop_close(loop);
}

/* A group that is shutting down (its body failed here) refuses a new
** child, as asyncio's raises "is shutting down"; the group does not wait
** for it. */
TEST(add_while_aborting) {
  luaio_loop_t *loop = loop_open();
  child c[1] = {{"a", 10, 0, 0, 0, 0, NULL}};
  parent p = {c, 1, 0, 0, UV_EINVAL, NULL, NULL, 0, 0};
  luaio_task_t *t = parent_spawn(loop, &p);
  adder a = {&p, NULL, -1};
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT); /* the body failed */
  ASSERT_OK(luaio_call_soon(loop, add_cb, &a, NULL, NULL));
  run(loop);
  ASSERT_EQ(LUAIO_ESHUTDOWN, a.rc);
  ASSERT_STR_EQ("body:EINVAL,a:ECANCELLED,late:ECANCELLED,outcome:EFAILED",
                test_log);
  ASSERT_EQ(1, luaio_taskgroup_nerrors(p.tg)); /* the body's alone */
  luaio_task_unref(a.late);
  parent_close(t, &p);
  test_loop_close(loop);
}

/* Finished: no more children. */
TEST(add_after_finish) {
  luaio_loop_t *loop = loop_open();
  child c[1] = {{"a", 0, 0, 0, 0, 0, NULL}};
  parent p = {c, 1, 0, 0, 0, NULL, NULL, 0, 0};
  luaio_task_t *t = parent_spawn(loop, &p);
  run(loop);
  ASSERT_EQ(0, luaio_taskgroup_outcome(p.tg));
  luaio_task_t *late = luaio_task_new(loop, return_step, NULL, 0);
  ASSERT_NOT_NULL(late);
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_taskgroup_add(p.tg, late));
  run(loop);
  ASSERT_STR_EQ("body:OK,a:OK,outcome:OK,late:OK", test_log);
  luaio_task_unref(late);
  parent_close(t, &p);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** Out of memory
** ======================================================================= */

static int idle_step(luaio_task_t *t, int err) {
  (void)t;
  (void)err;
  return LUAIO_STEP_RETURNED;
}

TEST(oom_taskgroup_new) {
  luaio_loop_t *loop = loop_open();
  luaio_task_t *parent_task = luaio_task_new(loop, idle_step, NULL, 0);
  ASSERT_NOT_NULL(parent_task);
  long live = test_alloc_live();
  for (long n = 1;; n++) {
    test_alloc_fail_after(n);
    luaio_taskgroup_t *tg = luaio_taskgroup_new(loop, parent_task);
    if (!test_alloc_failed()) {
      ASSERT_NOT_NULL(tg);
      luaio_taskgroup_unref(tg);
      break;
    }
    ASSERT_NULL(tg);
    ASSERT_EQ(live, test_alloc_live());
  }
  test_alloc_fail_after(0);
  run(loop);
  luaio_task_unref(parent_task);
  test_loop_close(loop);
}

/* A failed add adopts nothing: the group does not wait for that child.
** Driven from outside a task, with the exit called directly. */
TEST(oom_add) {
  luaio_loop_t *loop = loop_open();
  luaio_task_t *parent_task = luaio_task_new(loop, idle_step, NULL, 0);
  ASSERT_NOT_NULL(parent_task);
  luaio_taskgroup_t *tg = luaio_taskgroup_new(loop, parent_task);
  ASSERT_NOT_NULL(tg);
  child c[2] = {{"a", 10, 0, 0, 0, 0, NULL}, {"b", 0, 0, 0, 0, 0, NULL}};
  c[0].task = luaio_task_new(loop, child_step, &c[0], 0);
  c[1].task = luaio_task_new(loop, child_step, &c[1], 0);
  ASSERT_NOT_NULL(c[0].task);
  ASSERT_NOT_NULL(c[1].task);
  long n;
  for (n = 1;; n++) {
    test_alloc_fail_after(n);
    int rc = luaio_taskgroup_add(tg, c[0].task);
    if (!test_alloc_failed()) {
      ASSERT_OK(rc);
      break;
    }
    ASSERT_EQ(LUAIO_ENOMEM, rc);
  }
  ASSERT_EQ(3, n); /* arrays grown by a failed add stay grown */
  test_alloc_fail_after(0);
  /* The done callback alone can fail now (the arrays have room). */
  test_alloc_fail_after(1);
  ASSERT_EQ(LUAIO_ENOMEM, luaio_taskgroup_add(tg, c[1].task));
  test_alloc_fail_after(0);
  /* The exit waits for a alone; cancel it to be quick. */
  luaio_future_t *fut = luaio_taskgroup_exit(tg, 0);
  ASSERT_NOT_NULL(fut);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_EQ(1, luaio_task_cancel(c[0].task, NULL));
  run(loop);
  ASSERT(luaio_future_done(fut));
  ASSERT_NULL(luaio_taskgroup_exit_step(tg, 0));
  ASSERT_EQ(0, luaio_taskgroup_outcome(tg));
  ASSERT_STR_EQ("b:OK,a:ECANCELLED", test_log);
  luaio_taskgroup_unref(tg);
  children_unref(c, 2);
  luaio_task_unref(parent_task);
  test_loop_close(loop);
}

/* }====================================================================== */

int main(int argc, char **argv) { return test_main(argc, argv); }
