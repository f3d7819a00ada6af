/*
** waiter.c - waiters: futures kept in an intrusive FIFO by the objects
** tasks wait on (queues, locks, streams), so that a cancelled one leaves
** its list in O(1). A list owns one reference to each future in it.
*/
#include "internal.h"

static void waiter_free(luaio_future_t *fut) {
  assert(((luaio__waiter *)fut)->list == NULL); /* a list holds a ref */
  luaio__free(fut, sizeof(luaio__waiter));
}

static const luaio__future_kind waiter_kind = {
    .cancel = luaio__future_cancel_plain, .free = waiter_free};

luaio__waiter *luaio__waiter_push(luaio__waitlist *list, luaio_loop_t *loop) {
  assert(loop != NULL); /* an object made without one was bound first */
  luaio__waiter *w = (luaio__waiter *)luaio__future_alloc(loop, &waiter_kind,
                                                          sizeof *w);
  if (w == NULL)
    return NULL;
  luaio_future_ref(&w->base);
  w->list = list;
  w->prev = list->tail;
  w->next = NULL;
  if (list->tail != NULL)
    list->tail->next = w;
  else
    list->head = w;
  list->tail = w;
  return w;
}

void luaio__waiter_unlink(luaio__waiter *w) {
  luaio__waitlist *list = w->list;
  if (list == NULL)
    return;
  if (w->prev != NULL)
    w->prev->next = w->next;
  else
    list->head = w->next;
  if (w->next != NULL)
    w->next->prev = w->prev;
  else
    list->tail = w->prev;
  w->prev = w->next = NULL;
  w->list = NULL;
  luaio_future_unref(&w->base);
}

luaio__waiter *luaio__waiter_of(luaio_future_t *fut,
                                const luaio__waitlist *list) {
  luaio__waiter *w = (luaio__waiter *)fut;
  assert(fut->kind == &waiter_kind);
  assert(w->list == NULL || w->list == list);
  (void)list;
  return w;
}

size_t luaio__waitlist_wake(luaio__waitlist *list, size_t n) {
  size_t woken = 0;
  while (woken < n && list->head != NULL) {
    luaio__waiter *w = list->head;
    if (!luaio_future_done(&w->base)) {
      luaio_future_set_result(&w->base);
      woken++;
    }
    luaio__waiter_unlink(w);
  }
  return woken;
}

void luaio__waitlist_clear(luaio__waitlist *list) {
  while (list->head != NULL)
    luaio__waiter_unlink(list->head);
}

int luaio__bind_loop(luaio_loop_t **slot, luaio_loop_t *loop) {
  assert(loop != NULL);
  if (*slot != NULL && *slot != loop)
    return LUAIO_EINVALSTATE;
  *slot = loop;
  return 0;
}
