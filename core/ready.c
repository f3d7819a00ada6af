/*
** ready.c - the ready queue: what runs in the next loop iteration.
*/
#include "internal.h"

void luaio__list_push(luaio__list *list, luaio__node *node) {
  node->next = NULL;
  if (list->tail != NULL)
    list->tail->next = node;
  else
    list->head = node;
  list->tail = node;
}

void luaio__list_splice(luaio__list *list, luaio__list *from) {
  if (from->head == NULL)
    return;
  if (list->tail != NULL)
    list->tail->next = from->head;
  else
    list->head = from->head;
  list->tail = from->tail;
  from->head = from->tail = NULL;
}

void luaio__ready_push(luaio_loop_t *loop, luaio__node *node) {
  node->next = NULL;
  if (loop->ready.tail != NULL) {
    loop->ready.tail->next = node;
  } else {
    loop->ready.head = node;
    /* Tested only when the queue was empty: no cost per push. */
    if (loop->kick)
      luaio__loop_kick(loop);
  }
  loop->ready.tail = node;
  loop->nready++;
}

/* Takes the first node off the ready queue and runs it. */
static void ready_run_one(luaio_loop_t *loop) {
  luaio__node *node = loop->ready.head;
  loop->ready.head = node->next;
  if (loop->ready.head == NULL)
    loop->ready.tail = NULL;
  loop->nready--;
  node->next = NULL;
  node->run(node);
}

size_t luaio__ready_run(luaio_loop_t *loop) {
  /* Only what was ready when the iteration began runs now: callbacks
  ** scheduled meanwhile wait for the next iteration (asyncio's order). */
  size_t n = loop->nready;
  for (size_t i = 0; i < n; i++)
    ready_run_one(loop);
  return n;
}

size_t luaio__ready_run_until(luaio_loop_t *loop, uint64_t deadline) {
  /* As luaio__ready_run, but a callback runs only if, costing what those
  ** before it did (smoothed over the last few), it would end by the
  ** deadline (uv_hrtime); the rest stays at the head of the queue, in
  ** order, for the next iteration. So the run overshoots by what one
  ** callback costs above the usual, not by a whole callback. One runs at
  ** least, so that every iteration progresses. */
  size_t n = loop->nready, i = 0;
  uint64_t now = uv_hrtime();
  while (i < n) {
    ready_run_one(loop);
    i++;
    uint64_t then = now;
    now = uv_hrtime();
    loop->cb_ns = loop->cb_ns - loop->cb_ns / 8 + (now - then) / 8;
    if (now + loop->cb_ns >= deadline)
      break;
  }
  return i;
}
