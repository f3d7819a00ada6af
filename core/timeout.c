/*
** timeout.c - deadline scopes for a task (asyncio.timeout).
*/
#include <math.h>

#include "internal.h"

typedef enum {
  TIMEOUT_CREATED,
  TIMEOUT_ENTERED,
  TIMEOUT_EXPIRING,
  TIMEOUT_EXPIRED,
  TIMEOUT_EXITED
} timeout_state;

struct luaio_timeout_s {
  luaio_loop_t *loop;
  int refs;
  timeout_state state;
  luaio_task_t *task;     /* owns one reference once entered */
  luaio_handle_t *handle; /* owns; the armed deadline */
  double when;            /* negative: none */
  int cancelling;         /* the task's count when entered */
};

luaio_timeout_t *luaio_timeout_new(luaio_loop_t *loop) {
  luaio_timeout_t *to = luaio__alloc(sizeof *to);
  if (to == NULL)
    return NULL;
  to->loop = loop;
  to->refs = 1;
  to->state = TIMEOUT_CREATED;
  to->task = NULL;
  to->handle = NULL;
  to->when = -1;
  to->cancelling = 0;
  return to;
}

static void timeout_disarm(luaio_timeout_t *to) {
  if (to->handle != NULL) {
    luaio_handle_cancel(to->handle);
    luaio_handle_unref(to->handle);
    to->handle = NULL;
  }
}

void luaio_timeout_unref(luaio_timeout_t *to) {
  assert(to->refs > 0);
  if (--to->refs > 0)
    return;
  timeout_disarm(to);
  if (to->task != NULL)
    luaio_task_unref(to->task);
  luaio__free(to, sizeof *to);
}

static void timeout_fire(void *arg) {
  luaio_timeout_t *to = arg;
  luaio_handle_unref(to->handle);
  to->handle = NULL;
  to->state = TIMEOUT_EXPIRING;
  luaio_task_cancel(to->task, NULL);
}

int luaio_timeout_reschedule(luaio_timeout_t *to, double when) {
  if (to->state != TIMEOUT_ENTERED)
    return LUAIO_EINVALSTATE;
  if (isnan(when))
    return LUAIO_EINVAL;
  timeout_disarm(to);
  to->when = when;
  if (when < 0)
    return 0;
  /* A deadline already past fires from the ready queue, never inline. */
  if (when <= luaio_loop_time(to->loop))
    return luaio_call_soon(to->loop, timeout_fire, to, NULL, &to->handle);
  return luaio_call_at(to->loop, when, timeout_fire, to, NULL, &to->handle);
}

int luaio_timeout_enter(luaio_timeout_t *to, luaio_task_t *task,
                        double when) {
  if (to->state != TIMEOUT_CREATED)
    return LUAIO_EINVALSTATE;
  to->task = task;
  luaio_task_ref(task);
  to->state = TIMEOUT_ENTERED;
  to->cancelling = luaio_task_cancelling(task);
  return luaio_timeout_reschedule(to, when);
}

int luaio_timeout_exit(luaio_timeout_t *to, int err) {
  timeout_disarm(to);
  if (to->state == TIMEOUT_EXPIRING) {
    to->state = TIMEOUT_EXPIRED;
    /* Only when no other cancellation arrived is this one ours. */
    if (luaio_task_uncancel(to->task) <= to->cancelling &&
        err == LUAIO_ECANCELLED)
      return LUAIO_ETIMEOUT;
  } else if (to->state == TIMEOUT_ENTERED) {
    to->state = TIMEOUT_EXITED;
  }
  return err;
}

int luaio_timeout_expired(const luaio_timeout_t *to) {
  return to->state == TIMEOUT_EXPIRING || to->state == TIMEOUT_EXPIRED;
}

double luaio_timeout_when(const luaio_timeout_t *to) { return to->when; }
