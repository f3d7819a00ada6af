/*
** task.c - tasks: futures that drive a coroutine, one step at a time,
** with asyncio's Task semantics for cancellation.
*/
#include <math.h>
#include <string.h>

#include "internal.h"

static void task_schedule(luaio_task_t *t);
static int task_detach(luaio_task_t *t);

/* A cancel request: taken at once, unless what the task awaits must be
** cancelled first (LUAIO__CANCEL_PASS, then task_cancel_end). */
static int task_cancel(luaio_future_t *fut, const char *msg) {
  luaio_task_t *t = (luaio_task_t *)fut;
  if (t->base.state != LUAIO_PENDING)
    return 0;
  /* msg may be this task's own message, passed on by task_step(). */
  if (msg != NULL && msg != t->cancel_msg) {
    char *copy = luaio__strdup(msg);
    if (copy == NULL)
      return LUAIO_ENOMEM;
    luaio__strfree(t->cancel_msg);
    t->cancel_msg = copy;
  }
  t->num_cancels++;
  if (t->waiter != NULL && t->shared_wait) {
    if (!t->stepping && task_detach(t))
      task_schedule(t);
    t->must_cancel = 1; /* the next step raises it */
    return 1;
  }
  if (t->waiter != NULL)
    return LUAIO__CANCEL_PASS;
  /* While the task steps, task_step() wakes it once the step returns;
  ** scheduling it here too would queue its node twice. */
  if (t->sleep.index != LUAIO__NOT_ARMED && !t->stepping) {
    luaio__timer_disarm(t->base.loop, &t->sleep);
    task_schedule(t);
  }
  t->must_cancel = 1;
  return 1;
}

/* A cancelled waiter wakes the task, which sees it cancelled; one that
** would not be cancelled stays awaited (a task may ignore the request and
** finish), and the task raises the cancellation at its next step. */
static int task_cancel_end(luaio_future_t *fut, int any) {
  if (!any)
    ((luaio_task_t *)fut)->must_cancel = 1;
  return 1;
}

static luaio_future_t *task_target(luaio_future_t *fut, size_t i) {
  luaio_task_t *t = (luaio_task_t *)fut;
  return i == 0 && !t->shared_wait ? t->waiter : NULL;
}

static void task_free(luaio_future_t *fut) {
  luaio_task_t *t = (luaio_task_t *)fut;
  assert(t->waiter == NULL && t->sleep.index == LUAIO__NOT_ARMED);
  luaio__strfree(t->cancel_msg);
  luaio__free(t, sizeof *t);
}

const luaio__future_kind luaio__task_kind = {.cancel = task_cancel,
                                             .free = task_free,
                                             .abandon_keeps = 1,
                                             .target = task_target,
                                             .cancel_end = task_cancel_end};

static void task_step(luaio_task_t *t);

/* Takes a task that waits on a shared future off its callbacks, so that
** a cancellation wakes this task alone. Returns 1 when it was still
** queued there (it is then woken by nobody: the caller schedules it). */
static int task_detach(luaio_task_t *t) {
  return luaio__future_remove_node(t->waiter, &t->node);
}

static void task_run(luaio__node *node) {
  luaio_task_t *t = container_of(node, luaio_task_t, node);
  t->scheduled = 0;
  task_step(t);
}

static void task_schedule(luaio_task_t *t) {
  t->scheduled = 1;
  luaio__ready_push(t->base.loop, &t->node);
}

static void task_link(luaio_task_t *t) {
  luaio_loop_t *loop = t->base.loop;
  t->prev = loop->tasks_tail;
  t->next = NULL;
  if (loop->tasks_tail != NULL)
    loop->tasks_tail->next = t;
  else
    loop->tasks_head = t;
  loop->tasks_tail = t;
  loop->ntasks++;
}

static void task_unlink(luaio_task_t *t) {
  luaio_loop_t *loop = t->base.loop;
  if (t->prev != NULL)
    t->prev->next = t->next;
  else
    loop->tasks_head = t->next;
  if (t->next != NULL)
    t->next->prev = t->prev;
  else
    loop->tasks_tail = t->prev;
  t->prev = t->next = NULL;
  loop->ntasks--;
}

static void task_finish(luaio_task_t *t, luaio_state state, int err) {
  if (state == LUAIO_CANCELLED && t->base.cancel_msg == NULL) {
    t->base.cancel_msg = t->cancel_msg; /* moves ownership */
    t->cancel_msg = NULL;
  }
  task_unlink(t);
  luaio__future_finish(&t->base, state, err);
  if (t->done_step)
    t->step(t, LUAIO_TASK_DONE); /* the owner's last look */
  if (t->loop_ref) {
    t->loop_ref = 0;
    luaio_task_unref(t);
  }
}

static void task_step(luaio_task_t *t) {
  luaio_loop_t *loop = t->base.loop;
  assert(t->base.state == LUAIO_PENDING);
  int err = 0;
  if (t->must_cancel) {
    err = LUAIO_ECANCELLED;
    t->must_cancel = 0;
  }
  if (t->waiter != NULL) {
    luaio_future_unref(t->waiter);
    t->waiter = NULL;
  }
  t->shared_wait = 0;
  luaio_task_t *prev = loop->current;
  loop->current = t;
  t->stepping = 1;
  t->base.refs++; /* the step may drop every other reference */
  int rc = t->step(t, err);
  t->stepping = 0;
  loop->current = prev;
  if (rc == LUAIO_STEP_SUSPENDED) {
    if (t->waiter != NULL) {
      /* A cancellation requested during the step goes to the waiter; if
      ** the waiter is already done, the next step raises it instead. A
      ** shared waiter is left alone: this task alone stops waiting. */
      if (t->must_cancel && t->shared_wait) {
        if (task_detach(t))
          task_schedule(t);
      } else if (t->must_cancel) {
        /* Marked, so that a cancel coming back round to this task does
        ** not touch the message it passes on. */
        t->base.mark = 1;
        if (luaio_future_cancel(t->waiter, t->cancel_msg) == 1)
          t->must_cancel = 0;
        t->base.mark = 0;
      }
    } else if (t->sleep.index != LUAIO__NOT_ARMED) {
      if (t->must_cancel) {
        luaio__timer_disarm(loop, &t->sleep);
        task_schedule(t);
      }
    } else {
      task_schedule(t); /* a bare yield: run again next iteration */
    }
  } else if (rc == LUAIO_STEP_RETURNED) {
    /* Cancelled right before it returned: it ends cancelled, as asyncio. */
    if (t->must_cancel)
      task_finish(t, LUAIO_CANCELLED, LUAIO_ECANCELLED);
    else
      task_finish(t, LUAIO_RESOLVED, 0);
  } else if (rc == LUAIO_ECANCELLED) {
    task_finish(t, LUAIO_CANCELLED, LUAIO_ECANCELLED);
  } else {
    assert(rc < 0);
    task_finish(t, LUAIO_FAILED, rc);
  }
  luaio_task_unref(t);
}

luaio_task_t *luaio_task_new(luaio_loop_t *loop, luaio_step_fn step,
                             void *data, int flags) {
  luaio_task_t *t =
      (luaio_task_t *)luaio__future_alloc(loop, &luaio__task_kind, sizeof *t);
  if (t == NULL)
    return NULL;
  t->step = step;
  t->base.data = data;
  t->node.run = task_run;
  luaio__timer_init(&t->sleep, &t->node);
  t->id = ++loop->task_seq;
  t->base.refs++; /* the loop's, until the task is done */
  t->loop_ref = 1;
  t->done_step = (flags & LUAIO_TASK_DONE_STEP) != 0;
  task_link(t);
  if (flags & LUAIO_TASK_EAGER)
    task_step(t);
  else
    task_schedule(t);
  return t;
}

void luaio_task_ref(luaio_task_t *task) { task->base.refs++; }

void luaio_task_unref(luaio_task_t *task) { luaio_future_unref(&task->base); }

luaio_future_t *luaio_task_future(luaio_task_t *task) { return &task->base; }

luaio_task_t *luaio_task_current(const luaio_loop_t *loop) {
  return loop->current;
}

uint64_t luaio_task_id(const luaio_task_t *task) { return task->id; }

int luaio_task_cancel(luaio_task_t *t, const char *msg) {
  return luaio_future_cancel(&t->base, msg);
}

int luaio_task_cancelling(const luaio_task_t *task) {
  return task->num_cancels;
}

int luaio_task_uncancel(luaio_task_t *task) {
  if (task->num_cancels > 0 && --task->num_cancels == 0)
    task->must_cancel = 0;
  return task->num_cancels;
}

const char *luaio_task_cancel_message(const luaio_task_t *task) {
  return task->cancel_msg != NULL ? task->cancel_msg : task->base.cancel_msg;
}

int luaio_task_await(luaio_task_t *t, luaio_future_t *fut) {
  if (fut == &t->base)
    return LUAIO_ESELF;
  if (!t->stepping || t->waiter != NULL || t->sleep.index != LUAIO__NOT_ARMED)
    return LUAIO_EINVALSTATE;
  if (fut->kind->target != NULL && fut->state == LUAIO_PENDING) {
    int rc = luaio__future_reaches(fut, &t->base);
    if (rc != 0)
      return rc == 1 ? LUAIO_ECYCLE : rc;
  }
  luaio_future_ref(fut);
  t->waiter = fut;
  luaio__future_add_node(fut, &t->node);
  return 0;
}

int luaio_task_await_shared(luaio_task_t *t, luaio_future_t *fut) {
  int rc = luaio_task_await(t, fut);
  if (rc == 0)
    t->shared_wait = 1;
  return rc;
}

int luaio_task_sleep(luaio_task_t *t, double delay) {
  if (isnan(delay) || delay < 0)
    return LUAIO_EINVAL;
  if (!t->stepping || t->waiter != NULL || t->sleep.index != LUAIO__NOT_ARMED)
    return LUAIO_EINVALSTATE;
  if (delay == 0)
    return 0;
  luaio_loop_t *loop = t->base.loop;
  return luaio__timer_arm(loop, &t->sleep, luaio_loop_time(loop) + delay);
}

luaio_future_t *luaio_task_waiter(const luaio_task_t *task) {
  return task->waiter;
}

int luaio_task_sleeping(const luaio_task_t *task) {
  return task->sleep.index != LUAIO__NOT_ARMED;
}

void luaio_loop_foreach_task(luaio_loop_t *loop,
                             void (*fn)(luaio_task_t *, void *), void *arg) {
  for (luaio_task_t *t = loop->tasks_head; t != NULL; t = t->next)
    fn(t, arg);
}

void luaio_print_tasks(luaio_loop_t *loop, FILE *f) {
  fprintf(f, "%zu live task(s):\n", loop->ntasks);
  for (luaio_task_t *t = loop->tasks_head; t != NULL; t = t->next) {
    fprintf(f, "  task %llu: ", (unsigned long long)t->id);
    if (t == loop->current)
      fprintf(f, "running");
    else if (t->waiter != NULL)
      fprintf(f, "waiting for a future (%p)", (void *)t->waiter);
    else if (t->sleep.index != LUAIO__NOT_ARMED)
      fprintf(f, "sleeping until %.3f (now %.3f)", t->sleep.when,
              luaio_loop_time(loop));
    else if (t->scheduled)
      fprintf(f, "ready");
    else
      fprintf(f, "suspended");
    if (t->num_cancels > 0)
      fprintf(f, ", %d cancellation(s) requested", t->num_cancels);
    fputc('\n', f);
  }
}

luaio_task_t *luaio__node_task(luaio__node *node) {
  return node->run == task_run ? container_of(node, luaio_task_t, node)
                               : NULL;
}
