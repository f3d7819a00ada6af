/*
** future.c - futures: a state, an error code and done callbacks.
*/
#include <string.h>

#include "internal.h"

typedef struct {
  luaio__node node;
  luaio_future_t *fut; /* owns one reference once scheduled */
  luaio_done_cb cb;
  void *arg;
  luaio_free_cb fin;
} donecb;

static void donecb_free(donecb *d) {
  if (d->fin != NULL)
    d->fin(d->arg);
  luaio__free(d, sizeof *d);
}

static void donecb_run(luaio__node *node) {
  donecb *d = container_of(node, donecb, node);
  luaio_future_t *fut = d->fut;
  d->cb(fut, d->arg);
  donecb_free(d);
  luaio_future_unref(fut);
}

static void plain_free(luaio_future_t *fut) {
  luaio__free(fut, sizeof *fut);
}

const luaio__future_kind luaio__plain_future = {
    .cancel = luaio__future_cancel_plain, .free = plain_free};

luaio_future_t *luaio__future_alloc(luaio_loop_t *loop,
                                    const luaio__future_kind *kind,
                                    size_t size) {
  assert(size >= sizeof(luaio_future_t));
  luaio_future_t *fut = luaio__alloc(size);
  if (fut == NULL)
    return NULL;
  memset(fut, 0, size);
  fut->kind = kind;
  fut->loop = loop;
  fut->refs = 1;
  fut->state = LUAIO_PENDING;
  return fut;
}

luaio_future_t *luaio_future_new(luaio_loop_t *loop) {
  return luaio__future_alloc(loop, &luaio__plain_future, sizeof(luaio_future_t));
}

void luaio_future_ref(luaio_future_t *fut) { fut->refs++; }

void luaio_future_unref(luaio_future_t *fut) {
  assert(fut->refs > 0);
  if (--fut->refs > 0)
    return;
  /* Nobody can complete it any more: drop the callbacks not yet run.
  ** Waiting tasks hold references, so only plain callbacks are here. */
  luaio__node *node = fut->callbacks.head;
  while (node != NULL) {
    luaio__node *next = node->next;
    assert(node->run == donecb_run);
    donecb_free(container_of(node, donecb, node));
    node = next;
  }
  luaio__strfree(fut->cancel_msg);
  fut->kind->free(fut);
}

void luaio_future_abandon(luaio_future_t *fut) {
  /* A waiter leaves its queue, as when a task waiting there is cancelled;
  ** an operation stops, so that nothing it holds outlives the loop. */
  if (!fut->kind->abandon_keeps)
    luaio_future_cancel(fut, NULL);
  luaio_future_unref(fut);
}

luaio_loop_t *luaio_future_loop(const luaio_future_t *fut) {
  return fut->loop;
}

luaio_state luaio_future_state(const luaio_future_t *fut) {
  return fut->state;
}

int luaio_future_done(const luaio_future_t *fut) {
  return fut->state != LUAIO_PENDING;
}

int luaio_future_cancelled(const luaio_future_t *fut) {
  return fut->state == LUAIO_CANCELLED;
}

int luaio_future_error(const luaio_future_t *fut) { return fut->err; }

const char *luaio_future_cancel_message(const luaio_future_t *fut) {
  return fut->cancel_msg;
}

void luaio_future_set_data(luaio_future_t *fut, void *data) {
  fut->data = data;
}

void *luaio_future_data(const luaio_future_t *fut) { return fut->data; }

void luaio__future_finish(luaio_future_t *fut, luaio_state state, int err) {
  assert(fut->state == LUAIO_PENDING);
  fut->state = state;
  fut->err = err;
  /* Each scheduled plain callback pins the future until it has run. */
  for (luaio__node *n = fut->callbacks.head; n != NULL; n = n->next)
    if (n->run == donecb_run)
      fut->refs++;
  luaio__node *n = fut->callbacks.head;
  while (n != NULL) {
    luaio__node *next = n->next;
    luaio__ready_push(fut->loop, n);
    n = next;
  }
  fut->callbacks.head = fut->callbacks.tail = NULL;
}

void luaio__future_copy_state(luaio_future_t *fut, const luaio_future_t *src) {
  if (fut->state != LUAIO_PENDING)
    return;
  if (src->state == LUAIO_CANCELLED && src->cancel_msg != NULL &&
      fut->cancel_msg == NULL)
    fut->cancel_msg = luaio__strdup(src->cancel_msg); /* NULL on OOM: ok */
  luaio__future_finish(fut, src->state, src->err);
}

int luaio_future_set_result(luaio_future_t *fut) {
  if (fut->state != LUAIO_PENDING)
    return LUAIO_EINVALSTATE;
  luaio__future_finish(fut, LUAIO_RESOLVED, 0);
  return 0;
}

int luaio_future_set_error(luaio_future_t *fut, int err) {
  if (fut->state != LUAIO_PENDING)
    return LUAIO_EINVALSTATE;
  if (err >= 0 || err == LUAIO_ECANCELLED)
    return LUAIO_EINVAL;
  luaio__future_finish(fut, LUAIO_FAILED, err);
  return 0;
}

int luaio__future_cancel_plain(luaio_future_t *fut, const char *msg) {
  if (fut->state != LUAIO_PENDING)
    return 0;
  if (msg != NULL) {
    char *copy = luaio__strdup(msg);
    if (copy == NULL)
      return LUAIO_ENOMEM;
    luaio__strfree(fut->cancel_msg);
    fut->cancel_msg = copy;
  }
  luaio__future_finish(fut, LUAIO_CANCELLED, LUAIO_ECANCELLED);
  return 1;
}

/* {======================================================================
** Walks over the futures that cancellation passes on to, with a stack
** of their own: chains of awaiting tasks can be as deep as memory allows.
** ======================================================================= */

#define WALK_LOCAL 16

/* Makes room for one more element in *arr, which starts as local (with
** WALK_LOCAL elements) and moves to the heap when that is full. Returns 0,
** or LUAIO_ENOMEM with *arr as it was. The caller frees a heap array with
** walk_free(). */
static int walk_reserve(void **arr, const void *local, size_t n, size_t *cap,
                        size_t elem) {
  if (n < *cap)
    return 0;
  void *p;
  if (*arr == local) {
    size_t ncap = *cap * 4;
    p = luaio__alloc(ncap * elem);
    if (p == NULL)
      return LUAIO_ENOMEM;
    memcpy(p, local, n * elem);
    *cap = ncap;
  } else if ((p = luaio__grow(*arr, cap, elem, WALK_LOCAL)) == NULL) {
    return LUAIO_ENOMEM;
  }
  *arr = p;
  return 0;
}

static void walk_free(void *arr, const void *local, size_t cap, size_t elem) {
  if (arr != local)
    luaio__free(arr, cap * elem);
}

typedef struct {
  luaio_future_t *fut;
  size_t next; /* the index of its next target */
  int any;     /* one of its targets took the request */
} cancel_frame;

/* Cancels the targets of root, whose cancel returned LUAIO__CANCEL_PASS,
** depth first; each future on the path is marked, so that a cycle ends
** where it closes (the future there is being cancelled already). */
static int cancel_walk(luaio_future_t *root, const char *msg) {
  cancel_frame local[WALK_LOCAL];
  void *frames = local;
  size_t n = 0, cap = WALK_LOCAL;
  int rc = 0;
  root->mark = 1;
  local[n++] = (cancel_frame){root, 0, 0};
  while (n > 0) {
    cancel_frame *f = (cancel_frame *)frames + n - 1;
    luaio_future_t *target = f->fut->kind->target(f->fut, f->next);
    if (target == NULL) { /* every target has had its turn */
      rc = f->fut->kind->cancel_end(f->fut, f->any);
      f->fut->mark = 0;
      if (--n > 0 && rc == 1)
        ((cancel_frame *)frames)[n - 1].any = 1;
      continue;
    }
    f->next++;
    if (target->mark) { /* a cycle: it is being cancelled already */
      f->any = 1;
      continue;
    }
    int trc = target->kind->cancel(target, msg);
    if (trc == LUAIO__CANCEL_PASS &&
        walk_reserve(&frames, local, n, &cap, sizeof(cancel_frame)) != 0)
      /* No memory for a deeper walk: its own request stands, its targets
      ** are left as they are. */
      trc = target->kind->cancel_end(target, 0);
    if (trc == LUAIO__CANCEL_PASS) {
      target->mark = 1;
      ((cancel_frame *)frames)[n++] = (cancel_frame){target, 0, 0};
    } else if (trc == 1) {
      ((cancel_frame *)frames)[n - 1].any = 1;
    }
  }
  walk_free(frames, local, cap, sizeof(cancel_frame));
  return rc;
}

int luaio_future_cancel(luaio_future_t *fut, const char *msg) {
  int rc = fut->kind->cancel(fut, msg);
  return rc == LUAIO__CANCEL_PASS ? cancel_walk(fut, msg) : rc;
}

/* How many futures luaio__future_reaches() looks at, at most: it runs at
** every await of a task or gather, and a chain built from its far end
** would make each await walk all of it. A longer cycle is not found at its
** await; the deadlock check reports it, and a cancel walks it safely. */
#define REACH_LIMIT 256

/* Breadth first over the pending futures that fut's cancellation would
** reach; the array of those seen is also the queue, and their marks are
** cleared at the end. */
int luaio__future_reaches(luaio_future_t *fut, const luaio_future_t *goal) {
  luaio_future_t *local[WALK_LOCAL];
  void *seen = local;
  size_t n = 0, cap = WALK_LOCAL;
  int found = 0;
  fut->mark = 1;
  local[n++] = fut;
  for (size_t k = 0; k < n && n < REACH_LIMIT && !found; k++) {
    luaio_future_t *f = ((luaio_future_t **)seen)[k];
    luaio_future_t *target;
    for (size_t i = 0; (target = f->kind->target(f, i)) != NULL; i++) {
      if (target == goal) {
        found = 1;
        break;
      }
      if (target->mark || target->state != LUAIO_PENDING ||
          target->kind->target == NULL)
        continue;
      if (n == REACH_LIMIT)
        break;
      if (walk_reserve(&seen, local, n, &cap, sizeof target) != 0) {
        found = LUAIO_ENOMEM;
        break;
      }
      target->mark = 1;
      ((luaio_future_t **)seen)[n++] = target;
    }
  }
  for (size_t k = 0; k < n; k++)
    ((luaio_future_t **)seen)[k]->mark = 0;
  walk_free(seen, local, cap, sizeof fut);
  return found;
}

/* }====================================================================== */

void luaio__future_add_node(luaio_future_t *fut, luaio__node *node) {
  if (fut->state != LUAIO_PENDING)
    luaio__ready_push(fut->loop, node);
  else
    luaio__list_push(&fut->callbacks, node);
}

int luaio__future_remove_node(luaio_future_t *fut, luaio__node *node) {
  luaio__node *prev = NULL;
  for (luaio__node *n = fut->callbacks.head; n != NULL; n = n->next) {
    if (n == node) {
      if (prev != NULL)
        prev->next = n->next;
      else
        fut->callbacks.head = n->next;
      if (fut->callbacks.tail == n)
        fut->callbacks.tail = prev;
      n->next = NULL;
      return 1;
    }
    prev = n;
  }
  return 0;
}

int luaio_future_add_done_cb(luaio_future_t *fut, luaio_done_cb cb, void *arg,
                             luaio_free_cb fin) {
  donecb *d = luaio__alloc(sizeof *d);
  if (d == NULL)
    return LUAIO_ENOMEM;
  d->node.next = NULL;
  d->node.run = donecb_run;
  d->fut = fut;
  d->cb = cb;
  d->arg = arg;
  d->fin = fin;
  if (fut->state != LUAIO_PENDING)
    fut->refs++; /* scheduled at once: pinned until it has run */
  luaio__future_add_node(fut, &d->node);
  return 0;
}

size_t luaio_future_remove_done_cb(luaio_future_t *fut, luaio_done_cb cb,
                                   void *arg) {
  size_t removed = 0;
  luaio__node *prev = NULL;
  luaio__node *n = fut->callbacks.head;
  while (n != NULL) {
    luaio__node *next = n->next;
    donecb *d = n->run == donecb_run ? container_of(n, donecb, node) : NULL;
    if (d != NULL && d->cb == cb && d->arg == arg) {
      if (prev != NULL)
        prev->next = next;
      else
        fut->callbacks.head = next;
      if (fut->callbacks.tail == n)
        fut->callbacks.tail = prev;
      donecb_free(d);
      removed++;
    } else {
      prev = n;
    }
    n = next;
  }
  return removed;
}

luaio_task_t *luaio_future_task(luaio_future_t *fut) {
  return fut->kind == &luaio__task_kind ? (luaio_task_t *)fut : NULL;
}

int luaio__node_donecb(luaio__node *node, luaio_done_cb *cb, void **arg) {
  if (node->run != donecb_run)
    return 0;
  donecb *d = container_of(node, donecb, node);
  *cb = d->cb;
  *arg = d->arg;
  return 1;
}
