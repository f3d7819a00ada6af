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

const luaio__future_kind luaio__plain_future = {luaio__future_cancel_plain,
                                                plain_free, 0};

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

int luaio_future_cancel(luaio_future_t *fut, const char *msg) {
  return fut->kind->cancel(fut, msg);
}

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
