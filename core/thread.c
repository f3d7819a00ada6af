/*
** thread.c - work items: a function run on libuv's thread pool, seen by
** the loop as a future.
*/
#include <string.h>

#include "internal.h"

struct luaio_work_s {
  luaio_future_t base; /* first: a work item is a future */
  uv_work_t req;
  luaio_work_fn work;
  void *arg; /* borrowed until fin(arg) */
  luaio_free_cb fin;
  unsigned busy : 1; /* queued or running; the item owns a reference */
  unsigned ran : 1;
};

static int work_cancel_kind(luaio_future_t *fut, const char *msg);
static void work_free(luaio_future_t *fut);

static const luaio__future_kind work_kind = {.cancel = work_cancel_kind,
                                             .free = work_free};

/* Runs on a pool thread: it may read w->work and w->arg, which nobody
** changes while busy, and nothing else. */
static void work_run_cb(uv_work_t *req) {
  luaio_work_t *w = container_of(req, luaio_work_t, req);
  w->work(w->arg);
}

/* Runs on the loop thread, always, once per item: status is 0 when
** work_run_cb ran, UV_ECANCELED when uv_cancel took it off the queue. */
static void work_after_cb(uv_work_t *req, int status) {
  luaio_work_t *w = container_of(req, luaio_work_t, req);
  w->busy = 0;
  w->ran = status == 0;
  /* A cancelled future stays cancelled: the result is dropped. */
  if (w->base.state == LUAIO_PENDING) {
    if (status == 0)
      luaio__future_finish(&w->base, LUAIO_RESOLVED, 0);
    else /* only our own uv_cancel, which cancels the future first */
      luaio__future_finish(&w->base, LUAIO_CANCELLED, LUAIO_ECANCELLED);
  }
  luaio_future_unref(&w->base); /* the reference held while in flight */
}

static int work_cancel_kind(luaio_future_t *fut, const char *msg) {
  luaio_work_t *w = (luaio_work_t *)fut;
  int rc = luaio__future_cancel_plain(fut, msg);
  /* UV_EBUSY when running or finished: it then ends unobserved. */
  if (rc == 1 && w->busy)
    uv_cancel((uv_req_t *)&w->req);
  return rc;
}

static void work_free(luaio_future_t *fut) {
  luaio_work_t *w = (luaio_work_t *)fut;
  assert(!w->busy); /* the in-flight reference was dropped */
  if (w->fin != NULL)
    w->fin(w->arg);
  luaio__free(w, sizeof *w);
}

luaio_work_t *luaio_work_new(luaio_loop_t *loop, luaio_work_fn work, void *arg,
                             luaio_free_cb fin) {
  if (loop == NULL || work == NULL)
    return NULL;
  luaio_future_t *fut =
      luaio__future_alloc(loop, &work_kind, sizeof(luaio_work_t));
  if (fut == NULL)
    return NULL;
  luaio_work_t *w = (luaio_work_t *)fut;
  w->work = work;
  w->arg = arg;
  if (uv_queue_work(loop->uv, &w->req, work_run_cb, work_after_cb) != 0) {
    luaio__free(w, sizeof *w); /* fin stays NULL: never called */
    return NULL;
  }
  w->fin = fin;
  w->busy = 1;
  fut->refs++; /* in flight: dropped by work_after_cb */
  return w;
}

void luaio_work_ref(luaio_work_t *w) {
  luaio_future_ref(&w->base);
}

void luaio_work_unref(luaio_work_t *w) {
  luaio_future_unref(&w->base);
}

luaio_future_t *luaio_work_future(luaio_work_t *w) {
  return &w->base;
}

luaio_work_t *luaio_future_work(luaio_future_t *fut) {
  return fut->kind == &work_kind ? (luaio_work_t *)fut : NULL;
}

void *luaio_work_arg(const luaio_work_t *w) {
  return w->arg;
}

int luaio_work_cancel(luaio_work_t *w, const char *msg) {
  return work_cancel_kind(&w->base, msg);
}

int luaio_work_busy(const luaio_work_t *w) {
  return w->busy;
}

int luaio_work_ran(const luaio_work_t *w) {
  return w->ran;
}
