/*
** queue.c - asyncio.Queue, LifoQueue and PriorityQueue (CPython 3.13's
** queues.py), holding slot ids: the items stay with the caller.
*/
#include <string.h>

#include "internal.h"

/* {======================================================================
** Waiting: the waiter lists of waiter.c, and how a wait ends here.
** ======================================================================= */

typedef luaio__waiter waiter;
typedef luaio__waitlist waitlist;

/* CPython's _wakeup_next: wakes the first waiter not done yet. Every put
** and get asks; mostly nobody waits, which is seen here without a call. */
static int waitlist_wake_next(waitlist *list) {
  return list->head != NULL && luaio__waitlist_wake(list, 1) == 1;
}

static void waitlist_wake_all(waitlist *list) {
  luaio__waitlist_wake(list, SIZE_MAX);
}

/* What a wait ended with, for the *_finish functions: the step's error,
** else the future's. A future still pending means the wait is abandoned,
** which is handled as a cancellation. */
static int wait_outcome(const luaio_future_t *fut, int err) {
  if (err != 0)
    return err;
  if (!luaio_future_done(fut))
    return LUAIO_ECANCELLED;
  return luaio_future_error(fut);
}

/* }====================================================================== */

/* {======================================================================
** The queue
** ======================================================================= */

enum { SLOT_FREE, SLOT_RESERVED, SLOT_QUEUED, SLOT_TAKEN };

typedef struct {
  uint64_t seq;  /* commit order, while queued: breaks priority ties */
  uint32_t next; /* the next free id, while free (0 ends the list) */
  uint8_t state;
} slot;

struct luaio_queue_s {
  luaio_loop_t *loop;
  int refs;
  luaio_queue_kind kind;
  long maxsize;
  luaio_queue_cmp cmp;
  void *ud;        /* borrowed, for cmp */
  slot *slots;     /* owns; slots[id - 1] */
  uint32_t nslots; /* ids handed out so far: 1 .. nslots */
  uint32_t capslots;
  uint32_t freelist; /* the first free id, or 0 */
  /* The queued ids: a ring from head (FIFO), a stack (LIFO) or a binary
  ** heap (PRIORITY). caporder >= nslots, so that commit never grows it. */
  uint32_t *order; /* owns */
  uint32_t caporder;
  uint32_t head, n;
  uint32_t nreserved; /* put_nowait done, commit not yet */
  uint64_t seq;
  size_t unfinished;
  int shutdown;
  waitlist getters, putters, joiners;
};

luaio_queue_t *luaio_queue_new(luaio_loop_t *loop, luaio_queue_kind kind,
                               long maxsize, luaio_queue_cmp cmp, void *ud) {
  assert(kind == LUAIO_QUEUE_FIFO || kind == LUAIO_QUEUE_LIFO ||
         kind == LUAIO_QUEUE_PRIORITY);
  luaio_queue_t *q = luaio__alloc(sizeof *q);
  if (q == NULL)
    return NULL;
  memset(q, 0, sizeof *q);
  q->loop = loop;
  q->refs = 1;
  q->kind = kind;
  q->maxsize = maxsize;
  q->cmp = cmp;
  q->ud = ud;
  return q;
}

int luaio_queue_bind(luaio_queue_t *q, luaio_loop_t *loop) {
  return luaio__bind_loop(&q->loop, loop);
}

void luaio_queue_ref(luaio_queue_t *q) { q->refs++; }

void luaio_queue_unref(luaio_queue_t *q) {
  assert(q->refs > 0);
  if (--q->refs > 0)
    return;
  luaio__waitlist_clear(&q->getters);
  luaio__waitlist_clear(&q->putters);
  luaio__waitlist_clear(&q->joiners);
  luaio__free(q->slots, (size_t)q->capslots * sizeof *q->slots);
  luaio__free(q->order, (size_t)q->caporder * sizeof *q->order);
  luaio__free(q, sizeof *q);
}

size_t luaio_queue_qsize(const luaio_queue_t *q) { return q->n; }

long luaio_queue_maxsize(const luaio_queue_t *q) { return q->maxsize; }

int luaio_queue_empty(const luaio_queue_t *q) { return q->n == 0; }

/* A reserved slot counts, so that maxsize holds even if a caller keeps
** one across a suspension. */
int luaio_queue_full(const luaio_queue_t *q) {
  return q->maxsize > 0 &&
         (uint64_t)q->n + q->nreserved >= (unsigned long)q->maxsize;
}

int luaio_queue_is_shutdown(const luaio_queue_t *q) { return q->shutdown; }

size_t luaio_queue_unfinished(const luaio_queue_t *q) { return q->unfinished; }

static uint32_t queue_newcap(uint32_t cap, uint32_t need, size_t elem) {
  uint64_t c = cap > 0 ? (uint64_t)cap * 2 : 4;
  if (c < need)
    c = need;
  if (c > UINT32_MAX)
    c = UINT32_MAX;
  if (c > SIZE_MAX / elem)
    return 0;
  return (uint32_t)c;
}

/* Makes room for id nslots + 1. The arrays grow one after the other; if
** the second fails, the first keeps its new size (and says so). */
static int queue_grow(luaio_queue_t *q) {
  if (q->nslots == UINT32_MAX)
    return LUAIO_ENOMEM;
  uint32_t need = q->nslots + 1;
  if (q->capslots < need) {
    uint32_t cap = queue_newcap(q->capslots, need, sizeof *q->slots);
    if (cap < need)
      return LUAIO_ENOMEM;
    slot *s = luaio__realloc(q->slots, (size_t)q->capslots * sizeof *s,
                             (size_t)cap * sizeof *s);
    if (s == NULL)
      return LUAIO_ENOMEM;
    q->slots = s;
    q->capslots = cap;
  }
  if (q->caporder < need) {
    uint32_t old = q->caporder;
    uint32_t cap = queue_newcap(old, need, sizeof *q->order);
    if (cap < need)
      return LUAIO_ENOMEM;
    uint32_t *o = luaio__realloc(q->order, (size_t)old * sizeof *o,
                                 (size_t)cap * sizeof *o);
    if (o == NULL)
      return LUAIO_ENOMEM;
    q->order = o;
    q->caporder = cap;
    /* A wrapped ring continues past the old end: cap >= 2 * old leaves
    ** room there for the part that wrapped to the front. */
    if (q->kind == LUAIO_QUEUE_FIFO && q->head + q->n > old) {
      uint32_t wrapped = q->head + q->n - old;
      assert(old + wrapped <= cap);
      memcpy(o + old, o, (size_t)wrapped * sizeof *o);
    }
  }
  return 0;
}

/* Whether the item under a is to come out before the one under b. */
static int queue_before(const luaio_queue_t *q, uint32_t a, uint32_t b) {
  if (q->cmp != NULL) {
    if (q->cmp(q->ud, a, b))
      return 1;
    if (q->cmp(q->ud, b, a))
      return 0;
  }
  return q->slots[a - 1].seq < q->slots[b - 1].seq;
}

static void heap_up(luaio_queue_t *q, uint32_t i) {
  uint32_t id = q->order[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (!queue_before(q, id, q->order[parent]))
      break;
    q->order[i] = q->order[parent];
    i = parent;
  }
  q->order[i] = id;
}

static void heap_down(luaio_queue_t *q, uint32_t i) {
  uint32_t id = q->order[i];
  for (;;) {
    uint64_t child = (uint64_t)i * 2 + 1;
    if (child >= q->n)
      break;
    if (child + 1 < q->n &&
        queue_before(q, q->order[child + 1], q->order[child]))
      child++;
    if (!queue_before(q, q->order[child], id))
      break;
    q->order[i] = q->order[child];
    i = (uint32_t)child;
  }
  q->order[i] = id;
}

/* Removes the next item from the order and returns its id. */
static uint32_t queue_pop(luaio_queue_t *q) {
  uint32_t id;
  assert(q->n > 0);
  switch (q->kind) {
  case LUAIO_QUEUE_FIFO:
    id = q->order[q->head];
    q->head = q->head + 1 == q->caporder ? 0 : q->head + 1;
    q->n--;
    break;
  case LUAIO_QUEUE_LIFO:
    id = q->order[--q->n];
    break;
  default:
    id = q->order[0];
    q->order[0] = q->order[--q->n];
    if (q->n > 0)
      heap_down(q, 0);
    break;
  }
  return id;
}

static void slot_free(luaio_queue_t *q, uint32_t id) {
  slot *s = &q->slots[id - 1];
  s->state = SLOT_FREE;
  s->next = q->freelist;
  q->freelist = id;
}

int luaio_queue_put_nowait(luaio_queue_t *q, uint32_t *out) {
  if (q->shutdown)
    return LUAIO_ESHUTDOWN;
  if (luaio_queue_full(q))
    return LUAIO_EQUEUEFULL;
  uint32_t id = q->freelist;
  if (id != 0) {
    q->freelist = q->slots[id - 1].next;
  } else {
    int rc = queue_grow(q);
    if (rc < 0)
      return rc;
    id = ++q->nslots;
  }
  q->slots[id - 1].state = SLOT_RESERVED;
  q->nreserved++;
  *out = id;
  return 0;
}

void luaio_queue_commit(luaio_queue_t *q, uint32_t id) {
  assert(id >= 1 && id <= q->nslots);
  slot *s = &q->slots[id - 1];
  assert(s->state == SLOT_RESERVED);
  s->state = SLOT_QUEUED;
  s->seq = q->seq++;
  q->nreserved--;
  assert(q->n < q->caporder);
  switch (q->kind) {
  case LUAIO_QUEUE_FIFO: {
    uint32_t tail = q->head + q->n;
    if (tail >= q->caporder)
      tail -= q->caporder;
    q->order[tail] = id;
    q->n++;
    break;
  }
  case LUAIO_QUEUE_LIFO:
    q->order[q->n++] = id;
    break;
  default:
    q->order[q->n++] = id;
    heap_up(q, q->n - 1);
    break;
  }
  q->unfinished++;
  waitlist_wake_next(&q->getters);
}

void luaio_queue_discard(luaio_queue_t *q, uint32_t id) {
  assert(id >= 1 && id <= q->nslots);
  assert(q->slots[id - 1].state == SLOT_RESERVED);
  q->nreserved--;
  slot_free(q, id);
}

int luaio_queue_get_nowait(luaio_queue_t *q, uint32_t *out) {
  if (q->n == 0)
    return q->shutdown ? LUAIO_ESHUTDOWN : LUAIO_EQUEUEEMPTY;
  uint32_t id = queue_pop(q);
  q->slots[id - 1].state = SLOT_TAKEN;
  waitlist_wake_next(&q->putters);
  *out = id;
  return 0;
}

void luaio_queue_release(luaio_queue_t *q, uint32_t id) {
  assert(id >= 1 && id <= q->nslots);
  assert(q->slots[id - 1].state == SLOT_TAKEN);
  slot_free(q, id);
}

luaio_future_t *luaio_queue_getter(luaio_queue_t *q) {
  waiter *w = luaio__waiter_push(&q->getters, q->loop);
  return w != NULL ? &w->base : NULL;
}

luaio_future_t *luaio_queue_putter(luaio_queue_t *q) {
  waiter *w = luaio__waiter_push(&q->putters, q->loop);
  return w != NULL ? &w->base : NULL;
}

/* The except clause of CPython's get() and put(): a waiter that was
** woken but will not take its turn hands it to the next one, while the
** turn is still there to take. */
static int queue_waiter_finish(waitlist *list, luaio_future_t *fut, int err,
                               int turn_left) {
  waiter *w = luaio__waiter_of(fut, list);
  int rc = wait_outcome(fut, err);
  if (rc == 0) {
    assert(w->list == NULL); /* only a wake-up resolves it, and pops it */
    return 0;
  }
  if (!luaio_future_done(fut))
    luaio_future_cancel(fut, NULL);
  luaio__waiter_unlink(w);
  if (turn_left && !luaio_future_cancelled(fut))
    waitlist_wake_next(list);
  return rc;
}

int luaio_queue_getter_finish(luaio_queue_t *q, luaio_future_t *fut,
                              int err) {
  return queue_waiter_finish(&q->getters, fut, err, q->n > 0);
}

int luaio_queue_putter_finish(luaio_queue_t *q, luaio_future_t *fut,
                              int err) {
  return queue_waiter_finish(&q->putters, fut, err, !luaio_queue_full(q));
}

int luaio_queue_task_done(luaio_queue_t *q) {
  if (q->unfinished == 0)
    return LUAIO_EVALUE;
  if (--q->unfinished == 0)
    waitlist_wake_all(&q->joiners);
  return 0;
}

int luaio_queue_join(luaio_queue_t *q, luaio_future_t **out) {
  *out = NULL;
  if (q->unfinished == 0)
    return 0;
  waiter *w = luaio__waiter_push(&q->joiners, q->loop);
  if (w == NULL)
    return LUAIO_ENOMEM;
  *out = &w->base;
  return 0;
}

int luaio_queue_join_finish(luaio_queue_t *q, luaio_future_t *fut, int err) {
  waiter *w = luaio__waiter_of(fut, &q->joiners);
  int rc = wait_outcome(fut, err);
  if (!luaio_future_done(fut))
    luaio_future_cancel(fut, NULL);
  luaio__waiter_unlink(w);
  return rc;
}

void luaio_queue_shutdown(luaio_queue_t *q, int immediate,
                          luaio_queue_drop_fn drop, void *ud) {
  q->shutdown = 1;
  if (immediate) {
    /* Dropped in get order where that costs no comparison; a heap is
    ** emptied from its end. */
    while (q->n > 0) {
      uint32_t id = q->kind == LUAIO_QUEUE_FIFO ? queue_pop(q)
                                                : q->order[--q->n];
      if (drop != NULL)
        drop(ud, id);
      slot_free(q, id);
      if (q->unfinished > 0)
        q->unfinished--;
    }
    if (q->unfinished == 0)
      waitlist_wake_all(&q->joiners);
  }
  /* Every getter must look again, to find the queue shut down. */
  waitlist_wake_all(&q->getters);
  waitlist_wake_all(&q->putters);
}

/* }====================================================================== */
