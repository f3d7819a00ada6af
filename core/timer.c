/*
** timer.c - deadlines, cheap with 100,000 pending.
**
** Armed timers live in one of two places. Most programs arm many timers
** with the same delay (a sleep in every task, a timeout on every
** request), and those come in deadline order: a timer whose deadline is
** not before that of the last one put in the run is appended to the run,
** a FIFO array where arming, cancelling and firing cost O(1) and touch
** memory in order. The other timers go to a binary min-heap. The earliest
** timer is the earlier of the run's head and the heap's top, so timers
** fire by deadline, equal deadlines in the order they were armed, wherever
** they sit.
*/
#include <assert.h>

#include "internal.h"

/* t->index of a timer in the run: the bit, then its slot. */
#define IN_RUN ((SIZE_MAX >> 1) + 1)

static int timer_less_than(const luaio__timer *a, const luaio__timer *b) {
  if (a->when != b->when)
    return a->when < b->when;
  return a->seq < b->seq; /* equal deadlines run in the order armed */
}

/* {======================================================================
** The heap
** ======================================================================= */

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

static int heap_insert(luaio_loop_t *loop, luaio__timer *t) {
  if (loop->nheap == loop->capheap) {
    luaio__timer **heap =
        luaio__grow(loop->heap, &loop->capheap, sizeof *heap, 64);
    if (heap == NULL)
      return LUAIO_ENOMEM;
    loop->heap = heap;
  }
  loop->heap[loop->nheap] = t;
  t->index = loop->nheap++;
  heap_up(loop, t->index);
  return 0;
}

static void heap_remove(luaio_loop_t *loop, luaio__timer *t) {
  size_t i = t->index;
  luaio__timer *last = loop->heap[--loop->nheap];
  if (last == t)
    return;
  heap_set(loop, i, last);
  if (i > 0 && timer_less_than(last, loop->heap[(i - 1) / 2]))
    heap_up(loop, i);
  else
    heap_down(loop, i);
}

/* }====================================================================== */

/* {======================================================================
** The run: slots [run_head, run_tail) of loop->run, in deadline order,
** NULL where a timer was cancelled; the slot at run_head is never NULL.
** ======================================================================= */

/* Makes room for one more slot at the tail: squeezes out the cancelled
** slots when they are at least half, else doubles the array (the loop
** owns it; luaio__timers_free frees it). */
static int run_reserve(luaio_loop_t *loop) {
  if (loop->run_tail < loop->caprun)
    return 0;
  if (loop->nrun <= loop->caprun / 2 && loop->caprun > 0) {
    size_t j = 0;
    for (size_t i = loop->run_head; i < loop->run_tail; i++) {
      luaio__timer *t = loop->run[i];
      if (t != NULL) {
        loop->run[j] = t;
        t->index = IN_RUN | j++;
      }
    }
    loop->run_head = 0;
    loop->run_tail = j;
    return 0;
  }
  luaio__timer **run = luaio__grow(loop->run, &loop->caprun, sizeof *run, 64);
  if (run == NULL)
    return LUAIO_ENOMEM;
  loop->run = run;
  return 0;
}

static int run_append(luaio_loop_t *loop, luaio__timer *t) {
  int rc = run_reserve(loop);
  if (rc != 0)
    return rc;
  loop->run[loop->run_tail] = t;
  t->index = IN_RUN | loop->run_tail++;
  loop->nrun++;
  loop->run_last_when = t->when;
  loop->run_last_seq = t->seq;
  return 0;
}

/* Whether t may go at the run's tail: not before the last one put there
** (which may have been cancelled since; the order still holds). */
static int run_takes(const luaio_loop_t *loop, const luaio__timer *t) {
  if (loop->nrun == 0)
    return 1;
  if (t->when != loop->run_last_when)
    return t->when > loop->run_last_when;
  return t->seq > loop->run_last_seq;
}

static void run_remove(luaio_loop_t *loop, luaio__timer *t) {
  loop->run[t->index & ~IN_RUN] = NULL;
  if (--loop->nrun == 0) {
    loop->run_head = loop->run_tail = 0;
    return;
  }
  while (loop->run[loop->run_head] == NULL) {
    loop->run_head++;
    assert(loop->run_head < loop->run_tail); /* nrun counts a live one */
  }
}

/* }====================================================================== */

void luaio__timer_init(luaio__timer *t, luaio__node *node) {
  t->when = 0;
  t->seq = 0;
  t->index = LUAIO__NOT_ARMED;
  t->node = node;
}

int luaio__timer_arm(luaio_loop_t *loop, luaio__timer *t, double when) {
  if (t->index != LUAIO__NOT_ARMED)
    luaio__timer_disarm(loop, t);
  t->when = when;
  t->seq = loop->timer_seq++;
  int rc = run_takes(loop, t) ? run_append(loop, t) : heap_insert(loop, t);
  if (rc != 0)
    t->index = LUAIO__NOT_ARMED;
  return rc;
}

void luaio__timer_disarm(luaio_loop_t *loop, luaio__timer *t) {
  if (t->index == LUAIO__NOT_ARMED)
    return;
  if (t->index & IN_RUN)
    run_remove(loop, t);
  else
    heap_remove(loop, t);
  t->index = LUAIO__NOT_ARMED;
}

luaio__timer *luaio__timers_first(const luaio_loop_t *loop) {
  luaio__timer *h = loop->nheap > 0 ? loop->heap[0] : NULL;
  luaio__timer *r = loop->nrun > 0 ? loop->run[loop->run_head] : NULL;
  if (h == NULL)
    return r;
  if (r == NULL)
    return h;
  return timer_less_than(r, h) ? r : h;
}

size_t luaio__timers_expire(luaio_loop_t *loop, double now) {
  size_t n = 0;
  luaio__timer *t;
  while ((t = luaio__timers_first(loop)) != NULL && t->when <= now) {
    luaio__timer_disarm(loop, t);
    luaio__ready_push(loop, t->node);
    n++;
  }
  return n;
}

double luaio__timers_next(const luaio_loop_t *loop) {
  const luaio__timer *t = luaio__timers_first(loop);
  return t != NULL ? t->when : -1.0;
}

void luaio__timers_free(luaio_loop_t *loop) {
  luaio__free(loop->heap, loop->capheap * sizeof *loop->heap);
  luaio__free(loop->run, loop->caprun * sizeof *loop->run);
  loop->heap = NULL;
  loop->run = NULL;
  loop->nheap = loop->capheap = 0;
  loop->nrun = loop->caprun = loop->run_head = loop->run_tail = 0;
}
