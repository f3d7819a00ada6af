/*
** handle.c - callbacks scheduled by call_soon, call_later and call_at.
*/
#include <math.h>

#include "internal.h"

struct luaio_handle_s {
  luaio__node node;
  luaio__timer timer; /* armed for call_later and call_at */
  luaio_loop_t *loop;
  luaio_cb cb;
  void *arg;
  luaio_free_cb fin;
  int refs;
  unsigned cancelled : 1;
  unsigned done : 1; /* cb ran or was cancelled; fin ran */
  unsigned timed : 1;
};

static void handle_finish(luaio_handle_t *h) {
  h->done = 1;
  h->loop->nhandles--;
  if (h->fin != NULL)
    h->fin(h->arg);
}

static void handle_run(luaio__node *node) {
  luaio_handle_t *h = container_of(node, luaio_handle_t, node);
  if (!h->cancelled) {
    /* Done from now on: a cb that cancels its own handle (as asyncio
    ** allows) must not run fin early, or a second time below. */
    h->done = 1;
    h->cb(h->arg);
    handle_finish(h);
  }
  luaio_handle_unref(h); /* the queue's reference */
}

static int handle_new(luaio_loop_t *loop, luaio_cb cb, void *arg,
                      luaio_free_cb fin, luaio_handle_t **out) {
  luaio_handle_t *h = luaio__alloc(sizeof *h);
  if (h == NULL)
    return LUAIO_ENOMEM;
  h->node.next = NULL;
  h->node.run = handle_run;
  luaio__timer_init(&h->timer, &h->node);
  h->loop = loop;
  h->cb = cb;
  h->arg = arg;
  h->fin = fin;
  h->refs = 1; /* the ready queue's or the timer heap's */
  h->cancelled = h->done = h->timed = 0;
  *out = h;
  return 0;
}

int luaio_call_soon(luaio_loop_t *loop, luaio_cb cb, void *arg,
                    luaio_free_cb fin, luaio_handle_t **out) {
  luaio_handle_t *h;
  int rc = handle_new(loop, cb, arg, fin, &h);
  if (rc != 0)
    return rc;
  loop->nhandles++;
  luaio__ready_push(loop, &h->node);
  if (out != NULL) {
    h->refs++;
    *out = h;
  }
  return 0;
}

int luaio_call_at(luaio_loop_t *loop, double when, luaio_cb cb, void *arg,
                  luaio_free_cb fin, luaio_handle_t **out) {
  if (isnan(when))
    return LUAIO_EINVAL;
  luaio_handle_t *h;
  int rc = handle_new(loop, cb, arg, fin, &h);
  if (rc != 0)
    return rc;
  h->timed = 1;
  rc = luaio__timer_arm(loop, &h->timer, when);
  if (rc != 0) {
    luaio__free(h, sizeof *h);
    return rc;
  }
  if (loop->kick) /* the attached loop's timer is to be armed anew */
    luaio__loop_kick(loop);
  loop->nhandles++;
  if (out != NULL) {
    h->refs++;
    *out = h;
  }
  return 0;
}

int luaio_call_later(luaio_loop_t *loop, double delay, luaio_cb cb, void *arg,
                     luaio_free_cb fin, luaio_handle_t **out) {
  if (isnan(delay) || delay < 0)
    return LUAIO_EINVAL;
  return luaio_call_at(loop, luaio_loop_time(loop) + delay, cb, arg, fin, out);
}

void luaio_handle_cancel(luaio_handle_t *h) {
  if (h->cancelled || h->done)
    return;
  h->cancelled = 1;
  if (h->timer.index != LUAIO__NOT_ARMED) {
    /* Still in the heap: take it out, and drop the heap's reference. */
    luaio__timer_disarm(h->loop, &h->timer);
    handle_finish(h);
    luaio_handle_unref(h);
    return;
  }
  handle_finish(h); /* in the ready queue: skipped when reached */
}

int luaio_handle_cancelled(const luaio_handle_t *h) { return h->cancelled; }

double luaio_handle_when(const luaio_handle_t *h) {
  return h->timed ? h->timer.when : 0;
}

void luaio_handle_ref(luaio_handle_t *h) { h->refs++; }

void luaio_handle_unref(luaio_handle_t *h) {
  assert(h->refs > 0);
  if (--h->refs == 0)
    luaio__free(h, sizeof *h);
}

void luaio__handles_cancel_all(luaio_loop_t *loop) {
  /* With no live task left, every armed timer belongs to a handle. */
  luaio__timer *t;
  while ((t = luaio__timers_first(loop)) != NULL &&
         t->node->run == handle_run)
    luaio_handle_cancel(container_of(t->node, luaio_handle_t, node));
}
