/*
** test-queue.c - luaio_queue_t: FIFO, LIFO and priority order, waiting
** getters and putters, cancellation, shutdown, task_done and join.
**
** Each task runs a small script of queue operations through actor_step(),
** which drives get and put as a binding does: try the nowait form, else
** await a getter or putter future and finish it.
*/
#include "luaio.h"
#include "test.h"

#define NVALUES 4096

typedef struct {
  luaio_loop_t *loop;
  luaio_queue_t *q;
  int values[NVALUES]; /* the items, by slot id */
} ctx_t;

static ctx_t C;

/* PRIORITY order: by value / 100, so values 101 and 150 tie. */
static int cmp_values(void *ud, uint32_t a, uint32_t b) {
  ctx_t *c = ud;
  return c->values[a] / 100 < c->values[b] / 100;
}

static void ctx_open(luaio_queue_kind kind, long maxsize) {
  test_alloc_install();
  memset(&C, 0, sizeof C);
  C.loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(C.loop);
  C.q = luaio_queue_new(C.loop, kind, maxsize, cmp_values, &C);
  ASSERT_NOT_NULL(C.q);
}

/* Direct puts and gets, outside any task. */
static uint32_t put(int value) {
  uint32_t slot = 0;
  ASSERT_OK(luaio_queue_put_nowait(C.q, &slot));
  ASSERT(slot >= 1 && slot < NVALUES);
  C.values[slot] = value;
  luaio_queue_commit(C.q, slot);
  return slot;
}

static int get(void) {
  uint32_t slot = 0;
  ASSERT_OK(luaio_queue_get_nowait(C.q, &slot));
  ASSERT(slot >= 1 && slot < NVALUES);
  int value = C.values[slot];
  C.values[slot] = -1;
  luaio_queue_release(C.q, slot);
  return value;
}

static int try_get(void) {
  uint32_t slot = 0;
  return luaio_queue_get_nowait(C.q, &slot);
}

/* {======================================================================
** Actors: tasks running scripts of queue operations.
** ======================================================================= */

enum { END, PUT, GET, PUT_NOWAIT, GET_NOWAIT, YIELD, TASK_DONE, JOIN,
       SHUTDOWN };

typedef struct {
  int op, arg;
} op_t;

typedef struct {
  const char *name;
  const op_t *ops;
  int pc;
  luaio_future_t *fut; /* owns: the wait in progress, or NULL */
  luaio_task_t *task;  /* owns */
} actor;

static void drop_logged(void *ud, uint32_t slot) {
  ctx_t *c = ud;
  test_logf("drop%d", c->values[slot]);
  c->values[slot] = -1;
}

/* The error reaches the top of the task: it ends with it. */
static int actor_raise(actor *a, int rc) {
  test_logf("%s!%s", a->name, luaio_err_name(rc));
  return rc;
}

static int actor_step(luaio_task_t *t, int err) {
  actor *a = luaio_future_data(luaio_task_future(t));
  luaio_queue_t *q = C.q;
  int rc;
  if (a->fut != NULL) {
    /* Resumed from the wait of ops[pc]. */
    luaio_future_t *fut = a->fut;
    int op = a->ops[a->pc].op;
    a->fut = NULL;
    if (op == GET)
      rc = luaio_queue_getter_finish(q, fut, err);
    else if (op == PUT)
      rc = luaio_queue_putter_finish(q, fut, err);
    else
      rc = luaio_queue_join_finish(q, fut, err);
    luaio_future_unref(fut);
    if (rc != 0)
      return actor_raise(a, rc);
    if (op == JOIN) {
      test_logf("%s:joined", a->name);
      a->pc++;
    }
  } else if (err != 0) {
    return actor_raise(a, err); /* cancelled at a bare yield */
  }
  for (;;) {
    const op_t *o = &a->ops[a->pc];
    uint32_t slot;
    switch (o->op) {
    case END:
      return LUAIO_STEP_RETURNED;
    case PUT:
    case PUT_NOWAIT:
      rc = luaio_queue_put_nowait(q, &slot);
      if (rc == 0) {
        C.values[slot] = o->arg;
        luaio_queue_commit(q, slot);
        test_logf("%s+%d", a->name, o->arg);
      } else if (rc == LUAIO_EQUEUEFULL && o->op == PUT) {
        a->fut = luaio_queue_putter(q);
        ASSERT_NOT_NULL(a->fut);
        ASSERT_OK(luaio_task_await(t, a->fut));
        return LUAIO_STEP_SUSPENDED;
      } else {
        test_logf("%s+%d!%s", a->name, o->arg, luaio_err_name(rc));
      }
      break;
    case GET:
    case GET_NOWAIT:
      rc = luaio_queue_get_nowait(q, &slot);
      if (rc == 0) {
        test_logf("%s-%d", a->name, C.values[slot]);
        C.values[slot] = -1;
        luaio_queue_release(q, slot);
      } else if (rc == LUAIO_EQUEUEEMPTY && o->op == GET) {
        a->fut = luaio_queue_getter(q);
        ASSERT_NOT_NULL(a->fut);
        ASSERT_OK(luaio_task_await(t, a->fut));
        return LUAIO_STEP_SUSPENDED;
      } else {
        test_logf("%s-!%s", a->name, luaio_err_name(rc));
      }
      break;
    case YIELD:
      a->pc++;
      return LUAIO_STEP_SUSPENDED;
    case TASK_DONE:
      rc = luaio_queue_task_done(q);
      if (rc == 0)
        test_logf("%s:done", a->name);
      else
        test_logf("%s:done!%s", a->name, luaio_err_name(rc));
      break;
    case JOIN:
      ASSERT_OK(luaio_queue_join(q, &a->fut));
      if (a->fut != NULL) {
        ASSERT_OK(luaio_task_await(t, a->fut));
        return LUAIO_STEP_SUSPENDED;
      }
      test_logf("%s:joined", a->name);
      break;
    case SHUTDOWN:
      luaio_queue_shutdown(q, o->arg, drop_logged, &C);
      test_logf("%s:shutdown", a->name);
      break;
    }
    a->pc++;
  }
}

static void spawn(actor *a, const char *name, const op_t *ops) {
  a->name = name;
  a->ops = ops;
  a->pc = 0;
  a->fut = NULL;
  a->task = luaio_task_new(C.loop, actor_step, a, 0);
  ASSERT_NOT_NULL(a->task);
}

static void run(void) { luaio_loop_run(C.loop, LUAIO_RUN_DEFAULT); }

/* One loop iteration: what is ready now runs. */
static void run_once(void) { luaio_loop_run(C.loop, LUAIO_RUN_NOWAIT); }

/* Every actor is done; drops everything and checks for leaks. */
static void ctx_close(actor *actors, int n) {
  for (int i = 0; i < n; i++) {
    ASSERT(luaio_future_done(luaio_task_future(actors[i].task)));
    ASSERT_NULL(actors[i].fut);
    luaio_task_unref(actors[i].task);
  }
  luaio_queue_unref(C.q);
  test_loop_close(C.loop);
}

/* }====================================================================== */

TEST(fifo_nowait) {
  ctx_open(LUAIO_QUEUE_FIFO, 3);
  uint32_t slot = 99;
  ASSERT_EQ(3, luaio_queue_maxsize(C.q));
  ASSERT(luaio_queue_empty(C.q));
  ASSERT(!luaio_queue_full(C.q));
  ASSERT_EQ(LUAIO_EQUEUEEMPTY, luaio_queue_get_nowait(C.q, &slot));
  ASSERT_EQ(99, slot);
  /* Slot ids are dense from 1. */
  ASSERT_EQ(1, put(10));
  ASSERT_EQ(2, put(20));
  ASSERT_EQ(3, put(30));
  ASSERT(luaio_queue_full(C.q));
  ASSERT_EQ(3, luaio_queue_qsize(C.q));
  ASSERT_EQ(LUAIO_EQUEUEFULL, luaio_queue_put_nowait(C.q, &slot));
  ASSERT_EQ(10, get());
  /* A reserved slot counts toward maxsize until committed or discarded;
  ** the id taken and released is recycled first. */
  ASSERT_OK(luaio_queue_put_nowait(C.q, &slot));
  ASSERT_EQ(1, slot);
  ASSERT(luaio_queue_full(C.q));
  ASSERT_EQ(2, luaio_queue_qsize(C.q));
  luaio_queue_discard(C.q, slot);
  ASSERT(!luaio_queue_full(C.q));
  ASSERT_EQ(1, put(40));
  ASSERT_EQ(20, get());
  ASSERT_EQ(30, get());
  ASSERT_EQ(3, put(50)); /* the id freed last is reused first */
  ASSERT_EQ(40, get());
  ASSERT_EQ(50, get());
  ASSERT(luaio_queue_empty(C.q));
  ASSERT_EQ(LUAIO_EQUEUEEMPTY, try_get());
  /* Five items were put: five task_done calls, no more. */
  ASSERT_EQ(5, luaio_queue_unfinished(C.q));
  for (int i = 0; i < 5; i++)
    ASSERT_OK(luaio_queue_task_done(C.q));
  ASSERT_EQ(LUAIO_EVALUE, luaio_queue_task_done(C.q));
  ASSERT_EQ(0, luaio_queue_unfinished(C.q));
  ctx_close(NULL, 0);
}

TEST(unbounded) {
  ctx_open(LUAIO_QUEUE_FIFO, 0);
  for (int i = 0; i < 1000; i++)
    put(i);
  ASSERT(!luaio_queue_full(C.q));
  ASSERT_EQ(1000, luaio_queue_qsize(C.q));
  for (int i = 0; i < 1000; i++)
    ASSERT_EQ(i, get());
  luaio_queue_unref(C.q);
  C.q = luaio_queue_new(C.loop, LUAIO_QUEUE_FIFO, -5, NULL, NULL);
  put(1);
  put(2);
  ASSERT(!luaio_queue_full(C.q));
  ASSERT_EQ(-5, luaio_queue_maxsize(C.q));
  ctx_close(NULL, 0);
}

TEST(lifo_order) {
  ctx_open(LUAIO_QUEUE_LIFO, 0);
  put(1);
  put(2);
  put(3);
  ASSERT_EQ(3, get());
  put(4);
  ASSERT_EQ(4, get());
  ASSERT_EQ(2, get());
  ASSERT_EQ(1, get());
  ASSERT_EQ(LUAIO_EQUEUEEMPTY, try_get());
  ctx_close(NULL, 0);
}

TEST(priority_ties_in_insertion_order) {
  ctx_open(LUAIO_QUEUE_PRIORITY, 0);
  static const int in[] = {301, 102, 203, 104, 305, 106, 207, 108};
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
    put(in[i]);
  for (int i = 0; i < 8; i++)
    test_logf("%d", get());
  ASSERT_STR_EQ("102,104,106,108,203,207,301,305", test_log);
  ctx_close(NULL, 0);
}

/* Random puts and gets against a reference model: the item to come out
** is the oldest (FIFO), the newest (LIFO), or the oldest of the lowest
** priority (PRIORITY). */
static void check_random(luaio_queue_kind kind) {
  ctx_open(kind, 0);
  static int model[NVALUES]; /* values in commit order */
  int n = 0, next = 0;
  uint32_t rnd = 12345;
  for (int step = 0; step < 20000; step++) {
    rnd = rnd * 1103515245u + 12345u;
    int r = (int)((rnd >> 16) % 100);
    /* Grow up to a few hundred items, then drain, twice over. */
    int putting = (step / 5000) % 2 == 0 ? r < 60 : r < 40;
    if (n == 0 || (putting && n < 1000)) {
      int v = (int)((rnd >> 8) % 10) * 100 + (next++ % 100);
      put(v);
      model[n++] = v;
    } else {
      int pick = 0;
      if (kind == LUAIO_QUEUE_LIFO)
        pick = n - 1;
      else if (kind == LUAIO_QUEUE_PRIORITY)
        for (int i = 1; i < n; i++)
          if (model[i] / 100 < model[pick] / 100)
            pick = i;
      ASSERT_EQ(model[pick], get());
      for (int i = pick; i + 1 < n; i++)
        model[i] = model[i + 1];
      n--;
    }
    ASSERT_EQ(n, luaio_queue_qsize(C.q));
  }
  luaio_queue_shutdown(C.q, 1, NULL, NULL);
  ASSERT_EQ(LUAIO_ESHUTDOWN, try_get());
  ctx_close(NULL, 0);
}

TEST(random_fifo) { check_random(LUAIO_QUEUE_FIFO); }
TEST(random_lifo) { check_random(LUAIO_QUEUE_LIFO); }
TEST(random_priority) { check_random(LUAIO_QUEUE_PRIORITY); }

/* The FIFO ring grows while it wraps around its end. */
TEST(fifo_grows_wrapped) {
  ctx_open(LUAIO_QUEUE_FIFO, 0);
  for (int i = 0; i < 4; i++)
    put(i);
  ASSERT_EQ(0, get());
  ASSERT_EQ(1, get());
  ASSERT_EQ(2, get());
  for (int i = 4; i < 40; i++)
    put(i);
  for (int i = 3; i < 40; i++)
    ASSERT_EQ(i, get());
  ctx_close(NULL, 0);
}

TEST(getters_fifo) {
  ctx_open(LUAIO_QUEUE_FIFO, 0);
  static const op_t g[] = {{GET, 0}, {END, 0}};
  static const op_t p[] = {{PUT, 1}, {PUT, 2}, {PUT, 3}, {END, 0}};
  actor a[4];
  spawn(&a[0], "g1", g);
  spawn(&a[1], "g2", g);
  spawn(&a[2], "g3", g);
  spawn(&a[3], "p", p);
  run();
  ASSERT_STR_EQ("p+1,p+2,p+3,g1-1,g2-2,g3-3", test_log);
  ctx_close(a, 4);
}

/* A queue made with no loop takes items; bound later, it waits as usual,
** and refuses another loop. */
TEST(bind_at_first_use) {
  test_alloc_install();
  memset(&C, 0, sizeof C);
  C.q = luaio_queue_new(NULL, LUAIO_QUEUE_FIFO, 1, NULL, NULL);
  ASSERT_NOT_NULL(C.q);
  put(1);
  C.loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(C.loop);
  ASSERT_OK(luaio_queue_bind(C.q, C.loop));
  static const op_t g[] = {{GET, 0}, {GET, 0}, {END, 0}};
  static const op_t p[] = {{PUT, 2}, {PUT, 3}, {END, 0}};
  actor a[2];
  spawn(&a[0], "p", p);
  spawn(&a[1], "g", g);
  run();
  ASSERT_STR_EQ("g-1,p+2,g-2,p+3", test_log);
  luaio_loop_t *other = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(other);
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_queue_bind(C.q, other));
  ASSERT_OK(luaio_queue_bind(C.q, C.loop));
  ASSERT_OK(luaio_loop_delete(other));
  ASSERT_EQ(3, get());
  ctx_close(a, 2);
}

/* maxsize 2 holds the producer back; the order is CPython's. */
TEST(producer_consumer_backpressure) {
  ctx_open(LUAIO_QUEUE_FIFO, 2);
  static const op_t p[] = {{PUT, 1}, {PUT, 2}, {PUT, 3}, {PUT, 4},
                           {PUT, 5}, {END, 0}};
  static const op_t c[] = {{GET, 0}, {GET, 0}, {GET, 0}, {GET, 0},
                           {GET, 0}, {END, 0}};
  actor a[2];
  spawn(&a[0], "p", p);
  spawn(&a[1], "c", c);
  run();
  ASSERT_STR_EQ("p+1,p+2,c-1,c-2,p+3,p+4,c-3,c-4,p+5,c-5", test_log);
  ASSERT_EQ(5, luaio_queue_unfinished(C.q));
  ctx_close(a, 2);
}

/* A getter woken by a put and cancelled before it ran passes the item
** on to the next getter: nothing is lost. */
TEST(woken_getter_cancelled) {
  ctx_open(LUAIO_QUEUE_FIFO, 0);
  static const op_t g[] = {{GET, 0}, {END, 0}};
  actor a[2];
  spawn(&a[0], "g1", g);
  spawn(&a[1], "g2", g);
  run_once();
  put(7);
  ASSERT_EQ(1, luaio_task_cancel(a[0].task, NULL));
  run();
  ASSERT_STR_EQ("g1!ECANCELLED,g2-7", test_log);
  ASSERT(luaio_future_cancelled(luaio_task_future(a[0].task)));
  ASSERT(luaio_queue_empty(C.q));
  ctx_close(a, 2);
}

/* A getter cancelled while waiting does not swallow the next put. */
TEST(waiting_getter_cancelled) {
  ctx_open(LUAIO_QUEUE_FIFO, 0);
  static const op_t g[] = {{GET, 0}, {END, 0}};
  actor a[2];
  spawn(&a[0], "g1", g);
  spawn(&a[1], "g2", g);
  run_once();
  ASSERT_EQ(1, luaio_task_cancel(a[0].task, NULL));
  put(5); /* before g1 has run its cleanup */
  run();
  ASSERT_STR_EQ("g1!ECANCELLED,g2-5", test_log);
  ctx_close(a, 2);
}

/* A woken getter whose item is taken by someone else waits again. */
TEST(woken_getter_waits_again) {
  ctx_open(LUAIO_QUEUE_FIFO, 0);
  static const op_t g[] = {{GET, 0}, {END, 0}};
  actor a[1];
  spawn(&a[0], "g", g);
  run_once();
  put(1);
  ASSERT_EQ(1, get());
  run_once();
  ASSERT_STR_EQ("", test_log);
  ASSERT(!luaio_future_done(luaio_task_future(a[0].task)));
  put(2);
  run();
  ASSERT_STR_EQ("g-2", test_log);
  ctx_close(a, 1);
}

/* A putter cancelled while waiting for room inserts nothing. */
TEST(waiting_putter_cancelled) {
  ctx_open(LUAIO_QUEUE_FIFO, 1);
  put(1);
  static const op_t p[] = {{PUT, 2}, {END, 0}};
  actor a[1];
  spawn(&a[0], "p", p);
  run_once();
  ASSERT_EQ(1, luaio_task_cancel(a[0].task, NULL));
  run();
  ASSERT_STR_EQ("p!ECANCELLED", test_log);
  ASSERT_EQ(1, luaio_queue_qsize(C.q));
  ASSERT_EQ(1, get());
  ASSERT_EQ(LUAIO_EQUEUEEMPTY, try_get());
  ASSERT_EQ(1, luaio_queue_unfinished(C.q));
  ctx_close(a, 1);
}

/* A putter woken by a get and cancelled before it ran passes the room on
** to the next putter. */
TEST(woken_putter_cancelled) {
  ctx_open(LUAIO_QUEUE_FIFO, 1);
  put(1);
  static const op_t p1[] = {{PUT, 2}, {END, 0}};
  static const op_t p2[] = {{PUT, 3}, {END, 0}};
  actor a[2];
  spawn(&a[0], "p1", p1);
  spawn(&a[1], "p2", p2);
  run_once();
  ASSERT_EQ(1, get());
  ASSERT_EQ(1, luaio_task_cancel(a[0].task, NULL));
  run();
  ASSERT_STR_EQ("p1!ECANCELLED,p2+3", test_log);
  ASSERT_EQ(3, get());
  ASSERT(luaio_queue_empty(C.q));
  ctx_close(a, 2);
}

TEST(shutdown_wakes_getters) {
  ctx_open(LUAIO_QUEUE_FIFO, 0);
  static const op_t g[] = {{GET, 0}, {GET_NOWAIT, 0}, {END, 0}};
  static const op_t s[] = {{YIELD, 0}, {SHUTDOWN, 0}, {PUT_NOWAIT, 9},
                           {END, 0}};
  actor a[3];
  spawn(&a[0], "g1", g);
  spawn(&a[1], "g2", g);
  spawn(&a[2], "s", s);
  run();
  ASSERT_STR_EQ("s:shutdown,s+9!ESHUTDOWN,g1-!ESHUTDOWN,g1-!ESHUTDOWN,"
                "g2-!ESHUTDOWN,g2-!ESHUTDOWN",
                test_log);
  ASSERT(luaio_queue_is_shutdown(C.q));
  ctx_close(a, 3);
}

/* Without immediate, the items left can still be taken. */
TEST(shutdown_wakes_putters) {
  ctx_open(LUAIO_QUEUE_FIFO, 1);
  put(1);
  static const op_t p[] = {{PUT, 2}, {END, 0}};
  actor a[1];
  spawn(&a[0], "p", p);
  run_once();
  luaio_queue_shutdown(C.q, 0, drop_logged, &C);
  run();
  ASSERT_STR_EQ("p+2!ESHUTDOWN", test_log);
  ASSERT_EQ(1, get());
  ASSERT_EQ(LUAIO_ESHUTDOWN, try_get());
  ctx_close(a, 1);
}

/* immediate drops the items, counts them as done and releases join. */
TEST(shutdown_immediate) {
  ctx_open(LUAIO_QUEUE_FIFO, 0);
  put(1);
  put(2);
  put(3);
  ASSERT_EQ(1, get()); /* taken, not yet done */
  static const op_t j[] = {{JOIN, 0}, {END, 0}};
  actor a[1];
  spawn(&a[0], "j", j);
  run_once();
  luaio_queue_shutdown(C.q, 1, drop_logged, &C);
  ASSERT_EQ(1, luaio_queue_unfinished(C.q));
  ASSERT(luaio_queue_empty(C.q));
  ASSERT_EQ(LUAIO_ESHUTDOWN, try_get());
  run_once();
  ASSERT_OK(luaio_queue_task_done(C.q));
  run();
  ASSERT_STR_EQ("drop2,drop3,j:joined", test_log);
  uint32_t slot;
  ASSERT_EQ(LUAIO_ESHUTDOWN, luaio_queue_put_nowait(C.q, &slot));
  ctx_close(a, 1);
}

TEST(shutdown_immediate_priority) {
  ctx_open(LUAIO_QUEUE_PRIORITY, 0);
  put(300);
  put(100);
  put(200);
  static const op_t j[] = {{JOIN, 0}, {END, 0}};
  actor a[1];
  spawn(&a[0], "j", j);
  run_once();
  luaio_queue_shutdown(C.q, 1, NULL, NULL);
  run();
  ASSERT_STR_EQ("j:joined", test_log);
  ASSERT_EQ(0, luaio_queue_unfinished(C.q));
  /* The dropped ids were recycled. */
  ctx_close(a, 1);
}

TEST(join_and_task_done) {
  ctx_open(LUAIO_QUEUE_FIFO, 0);
  put(1);
  put(2);
  static const op_t j[] = {{JOIN, 0}, {END, 0}};
  static const op_t w[] = {{GET, 0}, {YIELD, 0}, {TASK_DONE, 0},
                           {GET, 0}, {YIELD, 0}, {TASK_DONE, 0},
                           {TASK_DONE, 0}, {JOIN, 0}, {END, 0}};
  actor a[2];
  spawn(&a[0], "j", j);
  spawn(&a[1], "w", w);
  run();
  ASSERT_STR_EQ("w-1,w:done,w-2,w:done,w:done!EVALUE,w:joined,j:joined",
                test_log);
  ctx_close(a, 2);
}

TEST(join_cancelled) {
  ctx_open(LUAIO_QUEUE_FIFO, 0);
  put(1);
  static const op_t j[] = {{JOIN, 0}, {END, 0}};
  actor a[2];
  spawn(&a[0], "j1", j);
  spawn(&a[1], "j2", j);
  run_once();
  ASSERT_EQ(1, luaio_task_cancel(a[0].task, NULL));
  run_once();
  ASSERT_EQ(1, get());
  ASSERT_OK(luaio_queue_task_done(C.q));
  run();
  ASSERT_STR_EQ("j1!ECANCELLED,j2:joined", test_log);
  ctx_close(a, 2);
}

/* A getter abandoned by calling finish while its future is pending (as a
** binding does when its coroutine is closed) is cancelled. */
TEST(getter_abandoned) {
  ctx_open(LUAIO_QUEUE_FIFO, 0);
  luaio_future_t *f1 = luaio_queue_getter(C.q);
  luaio_future_t *f2 = luaio_queue_getter(C.q);
  ASSERT_NOT_NULL(f1);
  ASSERT_NOT_NULL(f2);
  ASSERT_EQ(LUAIO_ECANCELLED, luaio_queue_getter_finish(C.q, f1, 0));
  ASSERT(luaio_future_cancelled(f1));
  put(1);
  ASSERT(luaio_future_done(f2));
  ASSERT_OK(luaio_queue_getter_finish(C.q, f2, 0));
  luaio_future_unref(f1);
  luaio_future_unref(f2);
  /* Dropping the queue with a getter still queued lets go of it. */
  luaio_future_t *f3 = luaio_queue_putter(C.q);
  luaio_queue_unref(C.q);
  C.q = luaio_queue_new(C.loop, LUAIO_QUEUE_FIFO, 0, NULL, NULL);
  ASSERT(!luaio_future_done(f3));
  luaio_future_unref(f3);
  run();
  ctx_close(NULL, 0);
}

/* Once the arrays have grown, put and get allocate nothing. */
TEST(no_allocation_per_item) {
  static const luaio_queue_kind kinds[] = {
      LUAIO_QUEUE_FIFO, LUAIO_QUEUE_LIFO, LUAIO_QUEUE_PRIORITY};
  for (int k = 0; k < 3; k++) {
    ctx_open(kinds[k], 0);
    for (int i = 0; i < 64; i++)
      put(i);
    for (int i = 0; i < 64; i++)
      get();
    test_alloc_fail_after(1);
    for (int round = 0; round < 100; round++) {
      for (int i = 0; i < 64; i++)
        put(round * 7 + i);
      for (int i = 0; i < 64; i++)
        get();
    }
    ASSERT(!test_alloc_failed());
    test_alloc_fail_after(0);
    ctx_close(NULL, 0);
  }
}

TEST(oom_new) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  long before = test_alloc_live();
  for (long n = 1;; n++) {
    test_alloc_fail_after(n);
    luaio_queue_t *q = luaio_queue_new(loop, LUAIO_QUEUE_FIFO, 0, NULL, NULL);
    if (!test_alloc_failed()) {
      ASSERT_NOT_NULL(q);
      luaio_queue_unref(q);
      break;
    }
    ASSERT_NULL(q);
    ASSERT_EQ(before, test_alloc_live());
  }
  test_alloc_fail_after(0);
  test_loop_close(loop);
}

/* Fails the n-th allocation of a run of puts, for every n: the put that
** hits it fails cleanly and the queue keeps what it had. */
TEST(oom_put_path) {
  static const luaio_queue_kind kinds[] = {
      LUAIO_QUEUE_FIFO, LUAIO_QUEUE_LIFO, LUAIO_QUEUE_PRIORITY};
  for (int k = 0; k < 3; k++) {
    ctx_open(kinds[k], 0);
    long before = test_alloc_live();
    for (long n = 1;; n++) {
      luaio_queue_t *q = luaio_queue_new(C.loop, kinds[k], 0, cmp_values, &C);
      ASSERT_NOT_NULL(q);
      test_alloc_fail_after(n);
      int i, rc = 0;
      for (i = 0; i < 40; i++) {
        uint32_t slot;
        rc = luaio_queue_put_nowait(q, &slot);
        if (rc != 0)
          break;
        C.values[slot] = 100 * (i % 3) + i;
        luaio_queue_commit(q, slot);
        /* A wrapped ring for FIFO: take one out now and then. */
        if (i % 4 == 3) {
          ASSERT_OK(luaio_queue_get_nowait(q, &slot));
          luaio_queue_release(q, slot);
        }
      }
      int failed = test_alloc_failed();
      test_alloc_fail_after(0);
      if (failed) {
        ASSERT_EQ(LUAIO_ENOMEM, rc);
        ASSERT_EQ(i - i / 4, luaio_queue_qsize(q));
      } else {
        ASSERT_EQ(40, i);
      }
      /* The queue still works, and in order. */
      uint32_t slot;
      ASSERT_OK(luaio_queue_put_nowait(q, &slot));
      C.values[slot] = 999;
      luaio_queue_commit(q, slot);
      int prev = -1;
      while (luaio_queue_get_nowait(q, &slot) == 0) {
        /* The order of puts is v % 100, the priority v / 100. */
        int v = C.values[slot];
        if (kinds[k] == LUAIO_QUEUE_FIFO)
          ASSERT(prev < 0 || v % 100 > prev % 100);
        else if (kinds[k] == LUAIO_QUEUE_LIFO)
          ASSERT(prev < 0 || v % 100 < prev % 100);
        else
          ASSERT(prev < 0 || v / 100 > prev / 100 ||
                 (v / 100 == prev / 100 && v % 100 > prev % 100));
        prev = v;
        luaio_queue_release(q, slot);
      }
      luaio_queue_unref(q);
      ASSERT_EQ(before, test_alloc_live());
      if (!failed)
        break;
    }
    ctx_close(NULL, 0);
  }
}

TEST(oom_waiters) {
  ctx_open(LUAIO_QUEUE_FIFO, 1);
  put(1);
  long before = test_alloc_live();
  test_alloc_fail_after(1);
  ASSERT_NULL(luaio_queue_getter(C.q));
  test_alloc_fail_after(1);
  ASSERT_NULL(luaio_queue_putter(C.q));
  luaio_future_t *fut = (luaio_future_t *)&fut;
  test_alloc_fail_after(1);
  ASSERT_EQ(LUAIO_ENOMEM, luaio_queue_join(C.q, &fut));
  ASSERT_NULL(fut);
  test_alloc_fail_after(0);
  ASSERT_EQ(before, test_alloc_live());
  ctx_close(NULL, 0);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
