/*
** timer.c - deadlines in a binary min-heap, cheap with 100,000 pending.
*/
#include "internal.h"

static int timer_less_than(const luaio__timer *a, const luaio__timer *b) {
  if (a->when != b->when)
    return a->when < b->when;
  return a->seq < b->seq; /* equal deadlines run in the order armed */
}

static void heap_set(luaio_loop_t *loop, size_t i, luaio__timer *t) {
  loop->heap[i] = t;
  t->index = i;
}

static void heap_up(luaio_loop_t *loop, size_t i) {
  luaio__timer *t = loop->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!timer_less_than(t, loop->heap[parent]))
      break;
    heap_set(loop, i, loop->heap[parent]);
    i = parent;
  }
  heap_set(loop, i, t);
}

static void heap_down(luaio_loop_t *loop, size_t i) {
  luaio__timer *t = loop->heap[i];
  size_t n = loop->nheap;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n)
      break;
    if (child + 1 < n && timer_less_than(loop->heap[child + 1],
                                         loop->heap[child]))
      child++;
    if (!timer_less_than(loop->heap[child], t))
      break;
    heap_set(loop, i, loop->heap[child]);
    i = child;
  }
  heap_set(loop, i, t);
}

void luaio__timer_init(luaio__timer *t, luaio__node *node) {
  t->when = 0;
  t->seq = 0;
  t->index = LUAIO__NOT_ARMED;
  t->node = node;
}

int luaio__timer_arm(luaio_loop_t *loop, luaio__timer *t, double when) {
  if (t->index != LUAIO__NOT_ARMED)
    luaio__timer_disarm(loop, t);
  if (loop->nheap == loop->capheap) {
    size_t cap = loop->capheap ? loop->capheap * 2 : 64;
    luaio__timer **heap = luaio__realloc(
        loop->heap, loop->capheap * sizeof *heap, cap * sizeof *heap);
    if (heap == NULL)
      return LUAIO_ENOMEM;
    loop->heap = heap;
    loop->capheap = cap;
  }
  t->when = when;
  t->seq = loop->timer_seq++;
  loop->heap[loop->nheap] = t;
  t->index = loop->nheap++;
  heap_up(loop, t->index);
  return 0;
}

void luaio__timer_disarm(luaio_loop_t *loop, luaio__timer *t) {
  size_t i = t->index;
  if (i == LUAIO__NOT_ARMED)
    return;
  t->index = LUAIO__NOT_ARMED;
  luaio__timer *last = loop->heap[--loop->nheap];
  if (last == t)
    return;
  heap_set(loop, i, last);
  if (i > 0 && timer_less_than(last, loop->heap[(i - 1) / 2]))
    heap_up(loop, i);
  else
    heap_down(loop, i);
}

size_t luaio__timers_expire(luaio_loop_t *loop, double now) {
  size_t n = 0;
  while (loop->nheap > 0 && loop->heap[0]->when <= now) {
    luaio__timer *t = loop->heap[0];
    luaio__timer_disarm(loop, t);
    luaio__ready_push(loop, t->node);
    n++;
  }
  return n;
}

double luaio__timers_next(const luaio_loop_t *loop) {
  return loop->nheap > 0 ? loop->heap[0]->when : -1.0;
}

void luaio__timers_free(luaio_loop_t *loop) {
  luaio__free(loop->heap, loop->capheap * sizeof *loop->heap);
  loop->heap = NULL;
  loop->nheap = loop->capheap = 0;
}
