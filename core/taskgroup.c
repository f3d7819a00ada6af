/*
** taskgroup.c - structured concurrency (asyncio.TaskGroup): the first
** failure cancels the rest; exit waits for every child.
*/
#include "internal.h"

struct luaio_taskgroup_s {
  luaio_loop_t *loop;
  int refs;
  luaio_task_t *parent;     /* owns one reference */
  luaio_task_t **children;  /* owns one reference each */
  size_t nchildren, capchildren, nlive;
  luaio_task_t **errors;    /* borrowed from children; NULL: the body */
  size_t nerrors, caperrors;
  luaio_future_t *on_completed; /* owns; while the exit waits */
  int body_err;
  int outcome;
  unsigned exiting : 1;
  unsigned aborting : 1;
  unsigned parent_cancel_requested : 1;
  unsigned propagate_cancel : 1;
  unsigned finished : 1;
};

luaio_taskgroup_t *luaio_taskgroup_new(luaio_loop_t *loop,
                                       luaio_task_t *parent) {
  luaio_taskgroup_t *tg = luaio__alloc(sizeof *tg);
  if (tg == NULL)
    return NULL;
  *tg = (luaio_taskgroup_t){0};
  tg->loop = loop;
  tg->refs = 1;
  tg->parent = parent;
  luaio_task_ref(parent);
  return tg;
}

void luaio_taskgroup_unref(luaio_taskgroup_t *tg) {
  assert(tg->refs > 0);
  if (--tg->refs > 0)
    return;
  for (size_t i = 0; i < tg->nchildren; i++)
    luaio_task_unref(tg->children[i]);
  luaio__free(tg->children, tg->capchildren * sizeof *tg->children);
  luaio__free(tg->errors, tg->caperrors * sizeof *tg->errors);
  if (tg->on_completed != NULL)
    luaio_future_unref(tg->on_completed);
  luaio_task_unref(tg->parent);
  luaio__free(tg, sizeof *tg);
}

/* Makes room in *arr (capacity *cap) for an element at index n. */
static int reserve(luaio_task_t ***arr, size_t *cap, size_t n) {
  if (n < *cap)
    return 0;
  luaio_task_t **p = luaio__grow(*arr, cap, sizeof **arr, 8);
  if (p == NULL)
    return LUAIO_ENOMEM;
  *arr = p;
  return 0;
}

static void taskgroup_abort(luaio_taskgroup_t *tg) {
  tg->aborting = 1;
  for (size_t i = 0; i < tg->nchildren; i++)
    if (!luaio_future_done(&tg->children[i]->base))
      luaio_task_cancel(tg->children[i], NULL);
}

static void taskgroup_on_child_done(luaio_future_t *fut, void *arg) {
  luaio_taskgroup_t *tg = arg;
  tg->nlive--;
  if (tg->on_completed != NULL && tg->nlive == 0 &&
      !luaio_future_done(tg->on_completed))
    luaio_future_set_result(tg->on_completed);
  if (fut->state != LUAIO_FAILED)
    return;
  /* The errors array was grown when the child was added. */
  tg->errors[tg->nerrors++] = (luaio_task_t *)fut;
  if (luaio_future_done(&tg->parent->base))
    return;
  if (!tg->aborting && !tg->parent_cancel_requested) {
    /* Stop whatever the body runs now: cancel the siblings and the
    ** parent; the exit takes the parent's cancellation back. */
    taskgroup_abort(tg);
    tg->parent_cancel_requested = 1;
    luaio_task_cancel(tg->parent, NULL);
  }
}

static void taskgroup_release(void *arg) { luaio_taskgroup_unref(arg); }

int luaio_taskgroup_add(luaio_taskgroup_t *tg, luaio_task_t *child) {
  if (tg->finished || (tg->exiting && tg->nlive == 0))
    return LUAIO_EINVALSTATE;
  if (tg->aborting)
    return LUAIO_ESHUTDOWN; /* asyncio: "TaskGroup ... is shutting down" */
  if (reserve(&tg->children, &tg->capchildren, tg->nchildren) != 0 ||
      reserve(&tg->errors, &tg->caperrors, tg->nchildren + 1) != 0)
    return LUAIO_ENOMEM;
  int rc = luaio_future_add_done_cb(&child->base, taskgroup_on_child_done, tg,
                                    taskgroup_release);
  if (rc != 0)
    return rc;
  tg->refs++; /* the callback's, dropped by taskgroup_release */
  luaio_task_ref(child);
  tg->children[tg->nchildren++] = child;
  tg->nlive++;
  return 0;
}

/* The group cancelled its parent: take that request back. This waits
** until the group is finished, because a child failing while the exit
** waits cancels the parent too (CPython 3.13, gh-116720); taken back at
** the start of the exit, as in 3.12, that request would stay counted. */
static void taskgroup_uncancel_parent(luaio_taskgroup_t *tg) {
  if (tg->parent_cancel_requested && luaio_task_uncancel(tg->parent) == 0)
    tg->propagate_cancel = 0;
}

static luaio_future_t *taskgroup_wait_or_finish(luaio_taskgroup_t *tg) {
  if (tg->nlive > 0) {
    tg->on_completed = luaio_future_new(tg->loop);
    if (tg->on_completed != NULL)
      return tg->on_completed;
    /* Out of memory: the caller sees no future and an ENOMEM outcome. */
    tg->outcome = LUAIO_ENOMEM;
    tg->finished = 1;
    taskgroup_uncancel_parent(tg);
    return NULL;
  }
  tg->finished = 1;
  taskgroup_uncancel_parent(tg);
  /* Cancellation propagates only when nothing failed. */
  if (tg->propagate_cancel && tg->nerrors == 0) {
    tg->outcome = LUAIO_ECANCELLED;
    return NULL;
  }
  if (tg->body_err != 0 && tg->body_err != LUAIO_ECANCELLED) {
    if (reserve(&tg->errors, &tg->caperrors, tg->nerrors + 1) != 0) {
      tg->outcome = LUAIO_ENOMEM;
      return NULL;
    }
    tg->errors[tg->nerrors++] = NULL;
  }
  tg->outcome = tg->nerrors > 0 ? LUAIO_EFAILED : 0;
  if (tg->outcome == LUAIO_EFAILED && luaio_task_cancelling(tg->parent) > 0) {
    /* The errors win over a cancellation of the parent from outside, but
    ** that cancellation is not lost: taken back and made again, it keeps
    ** its count and cancels the parent's next await (CPython 3.13,
    ** gh-116720). The wait consumed the one made before. */
    luaio_task_uncancel(tg->parent);
    luaio_task_cancel(tg->parent, NULL);
  }
  return NULL;
}

luaio_future_t *luaio_taskgroup_exit(luaio_taskgroup_t *tg, int err) {
  assert(!tg->exiting);
  tg->exiting = 1;
  tg->body_err = err;
  tg->propagate_cancel = err == LUAIO_ECANCELLED;
  if (err != 0 && !tg->aborting)
    taskgroup_abort(tg);
  return taskgroup_wait_or_finish(tg);
}

luaio_future_t *luaio_taskgroup_exit_step(luaio_taskgroup_t *tg,
                                          int cancelled) {
  assert(tg->exiting && !tg->finished);
  if (cancelled && !tg->aborting) {
    /* The parent itself is being cancelled while the group waits. */
    tg->propagate_cancel = 1;
    taskgroup_abort(tg);
  }
  if (tg->on_completed != NULL) {
    luaio_future_unref(tg->on_completed);
    tg->on_completed = NULL;
  }
  return taskgroup_wait_or_finish(tg);
}

int luaio_taskgroup_outcome(const luaio_taskgroup_t *tg) {
  return tg->outcome;
}

size_t luaio_taskgroup_nerrors(const luaio_taskgroup_t *tg) {
  return tg->nerrors;
}

luaio_task_t *luaio_taskgroup_error(const luaio_taskgroup_t *tg, size_t i) {
  return i < tg->nerrors ? tg->errors[i] : NULL;
}

luaio_task_t *luaio__taskgroup_parent(luaio_done_cb cb, void *arg) {
  if (cb != taskgroup_on_child_done)
    return NULL;
  luaio_taskgroup_t *tg = arg;
  return tg->finished || luaio_future_done(&tg->parent->base) ? NULL
                                                              : tg->parent;
}
