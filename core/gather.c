/*
** gather.c - one future for many children (asyncio.gather).
*/
#include "internal.h"

typedef struct gather gather;

typedef struct {
  luaio__node node; /* in the child's callbacks, then the ready queue */
  luaio_future_t *child; /* owns one reference */
  gather *g;
} gather_child;

struct gather {
  luaio_future_t base;
  size_t n, nfinished;
  long failed;
  int return_errors;
  int cancel_requested;
  gather_child children[];
};

/* Cancels every child (through its targets), then gather_cancel_end. */
static int gather_cancel(luaio_future_t *fut, const char *msg) {
  (void)msg;
  return fut->state == LUAIO_PENDING ? LUAIO__CANCEL_PASS : 0;
}

static luaio_future_t *gather_target(luaio_future_t *fut, size_t i) {
  gather *g = (gather *)fut;
  return i < g->n ? g->children[i].child : NULL;
}

static int gather_cancel_end(luaio_future_t *fut, int any) {
  /* The gather ends cancelled once every child is done. */
  if (any)
    ((gather *)fut)->cancel_requested = 1;
  return any;
}

static void gather_free(luaio_future_t *fut) {
  gather *g = (gather *)fut;
  for (size_t i = 0; i < g->n; i++)
    luaio_future_unref(g->children[i].child);
  luaio__free(g, sizeof *g + g->n * sizeof g->children[0]);
}

static const luaio__future_kind gather_kind = {.cancel = gather_cancel,
                                               .free = gather_free,
                                               .abandon_keeps = 1,
                                               .target = gather_target,
                                               .cancel_end = gather_cancel_end};

/* Counts the child c, which is done. */
static void gather_count(gather *g, gather_child *c) {
  luaio_future_t *child = c->child;
  g->nfinished++;
  if (g->base.state == LUAIO_PENDING) {
    if (!g->return_errors && (child->state == LUAIO_FAILED ||
                              child->state == LUAIO_CANCELLED)) {
      /* The first failure ends the gather; the others keep running. */
      g->failed = (long)(c - g->children);
      luaio__future_finish(&g->base, LUAIO_FAILED, child->err);
    } else if (g->nfinished == g->n) {
      if (g->cancel_requested)
        luaio__future_finish(&g->base, LUAIO_CANCELLED, LUAIO_ECANCELLED);
      else
        luaio__future_finish(&g->base, LUAIO_RESOLVED, 0);
    }
  }
}

static void gather_child_done(luaio__node *node) {
  gather_child *c = container_of(node, gather_child, node);
  gather *g = c->g;
  gather_count(g, c);
  luaio_future_unref(&g->base); /* each waiting child held one */
}

luaio_future_t *luaio_gather_new(luaio_loop_t *loop,
                                 luaio_future_t *const *children, size_t n,
                                 int return_errors) {
  gather *g = (gather *)luaio__future_alloc(
      loop, &gather_kind, sizeof *g + n * sizeof g->children[0]);
  if (g == NULL)
    return NULL;
  g->n = n;
  g->failed = -1;
  g->return_errors = return_errors;
  for (size_t i = 0; i < n; i++) {
    gather_child *c = &g->children[i];
    c->node.run = gather_child_done;
    c->child = children[i];
    c->g = g;
    luaio_future_ref(c->child);
    /* A child already done counts at once, as asyncio's gather counts it
    ** since 3.12: a gather of finished children is done before anyone
    ** awaits it, and its awaiter keeps its turn. */
    if (luaio_future_done(c->child)) {
      gather_count(g, c);
      continue;
    }
    g->base.refs++; /* until this child is done and counted */
    luaio__future_add_node(c->child, &c->node);
  }
  if (n == 0)
    luaio__future_finish(&g->base, LUAIO_RESOLVED, 0);
  return &g->base;
}

long luaio_gather_failed(const luaio_future_t *fut) {
  if (fut->kind != &gather_kind)
    return -1;
  return ((const gather *)fut)->failed;
}

luaio_future_t *luaio__node_gather(luaio__node *node) {
  if (node->run != gather_child_done)
    return NULL;
  return &container_of(node, gather_child, node)->g->base;
}
