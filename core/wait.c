/*
** wait.c - watching many futures: asyncio.wait and asyncio.as_completed.
*/
#include "internal.h"

typedef struct {
  luaio__node node; /* in the future's callbacks; holds a reference */
  luaio_future_t *fut; /* owns one reference */
  luaio_wait_t *w;
  int listening;
} wait_entry;

struct luaio_wait_s {
  luaio_loop_t *loop;
  int refs;
  size_t n, ndone, ntaken;
  luaio_wait_mode mode;
  int timed_out;
  luaio_future_t *waiter; /* owns; asyncio.wait's */
  luaio_future_t *next;   /* owns; as_completed's, while one is waited */
  luaio_handle_t *timer;  /* owns; the timeout, while armed */
  size_t *order;          /* indexes in completion order */
  wait_entry entries[];
};

static void wait_free(luaio_wait_t *w) {
  for (size_t i = 0; i < w->n; i++)
    luaio_future_unref(w->entries[i].fut);
  luaio_future_unref(w->waiter);
  if (w->next != NULL)
    luaio_future_unref(w->next);
  luaio__free(w->order, w->n * sizeof *w->order);
  luaio__free(w, sizeof *w + w->n * sizeof w->entries[0]);
}

static void wait_release(luaio_wait_t *w) {
  assert(w->refs > 0);
  if (--w->refs == 0)
    wait_free(w);
}

static int wait_met(const luaio_wait_t *w, const luaio_future_t *just_done) {
  switch (w->mode) {
  case LUAIO_FIRST_COMPLETED:
    return 1;
  case LUAIO_FIRST_EXCEPTION:
    if (just_done->state == LUAIO_FAILED)
      return 1;
    return w->ndone == w->n;
  default:
    return w->ndone == w->n;
  }
}

static void wait_entry_done(luaio__node *node) {
  wait_entry *e = container_of(node, wait_entry, node);
  luaio_wait_t *w = e->w;
  e->listening = 0;
  w->order[w->ndone++] = (size_t)(e - w->entries);
  if (!luaio_future_done(w->waiter) && wait_met(w, e->fut))
    luaio__future_finish(w->waiter, LUAIO_RESOLVED, 0);
  if (w->next != NULL && !luaio_future_done(w->next))
    luaio__future_finish(w->next, LUAIO_RESOLVED, 0);
  wait_release(w);
}

static void wait_timeout_cb(void *arg) {
  luaio_wait_t *w = arg;
  w->timed_out = 1;
  if (!luaio_future_done(w->waiter))
    luaio__future_finish(w->waiter, LUAIO_RESOLVED, 0);
  if (w->next != NULL && !luaio_future_done(w->next))
    luaio__future_finish(w->next, LUAIO_FAILED, LUAIO_ETIMEOUT);
}

static void wait_timer_fin(void *arg) { wait_release(arg); }

luaio_wait_t *luaio_wait_new(luaio_loop_t *loop, luaio_future_t *const *futs,
                             size_t n, luaio_wait_mode mode, double timeout) {
  luaio_wait_t *w = luaio__alloc(sizeof *w + n * sizeof w->entries[0]);
  if (w == NULL)
    return NULL;
  w->loop = loop;
  w->refs = 1;
  w->n = n;
  w->ndone = w->ntaken = 0;
  w->mode = mode;
  w->timed_out = 0;
  w->next = NULL;
  w->timer = NULL;
  w->order = luaio__alloc(n > 0 ? n * sizeof *w->order : 1);
  w->waiter = luaio_future_new(loop);
  if (w->order == NULL || w->waiter == NULL)
    goto fail;
  if (timeout >= 0) {
    if (luaio_call_later(loop, timeout, wait_timeout_cb, w, wait_timer_fin,
                         &w->timer) != 0)
      goto fail;
    w->refs++; /* the timer's, dropped by wait_timer_fin */
  }
  for (size_t i = 0; i < n; i++) {
    wait_entry *e = &w->entries[i];
    e->node.run = wait_entry_done;
    e->fut = futs[i];
    e->w = w;
    e->listening = 1;
    luaio_future_ref(e->fut);
    w->refs++;
    luaio__future_add_node(e->fut, &e->node);
  }
  if (n == 0)
    luaio__future_finish(w->waiter, LUAIO_RESOLVED, 0);
  return w;
fail:
  if (w->waiter != NULL)
    luaio_future_unref(w->waiter);
  luaio__free(w->order, n > 0 ? n * sizeof *w->order : 1);
  luaio__free(w, sizeof *w + n * sizeof w->entries[0]);
  return NULL;
}

void luaio_wait_unref(luaio_wait_t *w) {
  /* The owner lets go (it holds the only public reference): stop the
  ** timeout and stop listening, as asyncio.wait removes its callbacks
  ** once it returns. Entries already in the ready queue still run. */
  if (w->timer != NULL) {
    luaio_handle_t *h = w->timer;
    w->timer = NULL;
    luaio_handle_cancel(h);
    luaio_handle_unref(h);
  }
  for (size_t i = 0; i < w->n; i++) {
    wait_entry *e = &w->entries[i];
    if (e->listening && luaio__future_remove_node(e->fut, &e->node)) {
      e->listening = 0;
      w->refs--;
    }
  }
  wait_release(w);
}

luaio_future_t *luaio_wait_future(luaio_wait_t *w) { return w->waiter; }

long luaio_wait_take(luaio_wait_t *w) {
  if (w->ntaken == w->ndone)
    return -1;
  return (long)w->order[w->ntaken++];
}

luaio_future_t *luaio_wait_next_future(luaio_wait_t *w) {
  if (w->next != NULL) {
    luaio_future_unref(w->next);
    w->next = NULL;
  }
  luaio_future_t *next = luaio_future_new(w->loop);
  if (next == NULL)
    return NULL;
  w->next = next;
  if (w->ntaken < w->ndone)
    luaio__future_finish(next, LUAIO_RESOLVED, 0);
  else if (w->timed_out)
    luaio__future_finish(next, LUAIO_FAILED, LUAIO_ETIMEOUT);
  luaio_future_ref(next);
  return next;
}

size_t luaio_wait_ndone(const luaio_wait_t *w) { return w->ndone; }

size_t luaio_wait_ntaken(const luaio_wait_t *w) { return w->ntaken; }

int luaio__node_wait(luaio__node *node, luaio_future_t **waiter,
                     luaio_future_t **next) {
  if (node->run != wait_entry_done)
    return 0;
  luaio_wait_t *w = container_of(node, wait_entry, node)->w;
  *waiter = w->waiter;
  *next = w->next;
  return 1;
}
