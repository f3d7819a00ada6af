/*
** post.c - work posted to a loop from other threads: it runs on the
** loop's thread, in the loop's next iteration, and a uv_async wakes a
** loop that waits for I/O.
*/
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

typedef struct {
  luaio__node node; /* first: the ready queue runs it */
  void (*cb)(void *);
  void *arg;
} post_item;

/* Items are malloc'd, not taken from the core's allocator: a host's
** allocator need not be safe to call from other threads. */
static void post_run(luaio__node *node) {
  post_item *p = (post_item *)node;
  void (*cb)(void *) = p->cb;
  void *arg = p->arg;
  free(p);
  cb(arg);
}

void luaio__post_take(luaio_loop_t *loop) {
  uv_mutex_lock(&loop->post_lock);
  atomic_store_explicit(&loop->post_pending, 0, memory_order_relaxed);
  luaio__list got = loop->posted;
  size_t n = loop->nposted;
  loop->posted.head = loop->posted.tail = NULL;
  loop->nposted = 0;
  uv_mutex_unlock(&loop->post_lock);
  luaio__list_splice(&loop->ready, &got);
  loop->nready += n;
}

static void post_async_cb(uv_async_t *h) {
  luaio_loop_t *loop = h->data;
  luaio__post_take(loop);
  if (loop->kick && loop->nready > 0) /* an attached loop: run it */
    luaio__loop_kick(loop);
}

int luaio__post_init(luaio_loop_t *loop) {
  if (uv_mutex_init(&loop->post_lock) != 0)
    return LUAIO_ENOMEM;
  if (uv_async_init(loop->uv, &loop->post_async, post_async_cb) != 0) {
    uv_mutex_destroy(&loop->post_lock);
    return LUAIO_ENOMEM;
  }
  loop->post_async.data = loop;
  /* Posting may come at any time, but is no work of the loop's own. */
  uv_unref((uv_handle_t *)&loop->post_async);
  return 0;
}

static void post_close_cb(uv_handle_t *h) { (void)h; }

void luaio__post_close(luaio_loop_t *loop) {
  uv_close((uv_handle_t *)&loop->post_async, post_close_cb);
  /* What was posted after the last iteration never runs. */
  luaio__node *node = loop->posted.head;
  while (node != NULL) {
    luaio__node *next = node->next;
    free(node);
    node = next;
  }
  loop->posted.head = loop->posted.tail = NULL;
  loop->nposted = 0;
  uv_mutex_destroy(&loop->post_lock);
}

int luaio_call_soon_threadsafe(luaio_loop_t *loop, void (*cb)(void *),
                               void *arg) {
  post_item *p = malloc(sizeof *p);
  if (p == NULL)
    return LUAIO_ENOMEM;
  p->node.run = post_run;
  p->cb = cb;
  p->arg = arg;
  uv_mutex_lock(&loop->post_lock);
  luaio__list_push(&loop->posted, &p->node);
  loop->nposted++;
  atomic_store_explicit(&loop->post_pending, 1, memory_order_relaxed);
  uv_mutex_unlock(&loop->post_lock);
  uv_async_send(&loop->post_async);
  return 0;
}

int luaio_loop_backend_fd(luaio_loop_t *loop) {
  /* libuv adds a handle's fd to its poll set when it polls, and it polls
  ** only while something keeps it alive: one poll now, with the posting
  ** handle referenced, so that a post makes the fd readable. */
  uv_ref((uv_handle_t *)&loop->post_async);
  int was_in_uv_run = loop->in_uv_run;
  loop->in_uv_run = 1;
  uv_run(loop->uv, UV_RUN_NOWAIT);
  loop->in_uv_run = was_in_uv_run;
  uv_unref((uv_handle_t *)&loop->post_async);
  return uv_backend_fd(loop->uv);
}
