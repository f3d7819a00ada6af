/*
** shield.c - a future whose cancellation does not reach the one inside.
*/
#include "internal.h"

typedef struct {
  luaio_future_t base;
  luaio_future_t *inner; /* owns one reference */
  luaio__node node;      /* in inner's callbacks; holds a reference to us */
  int listening;
} shield;

static int shield_cancel(luaio_future_t *fut, const char *msg) {
  shield *s = (shield *)fut;
  int rc = luaio__future_cancel_plain(fut, msg);
  /* Nobody waits for inner through us any more: stop listening. */
  if (rc == 1 && s->listening &&
      luaio__future_remove_node(s->inner, &s->node)) {
    s->listening = 0;
    luaio_future_unref(fut);
  }
  return rc;
}

static void shield_free(luaio_future_t *fut) {
  shield *s = (shield *)fut;
  luaio_future_unref(s->inner);
  luaio__free(s, sizeof *s);
}

static const luaio__future_kind shield_kind = {.cancel = shield_cancel,
                                               .free = shield_free};

static void shield_inner_done(luaio__node *node) {
  shield *s = container_of(node, shield, node);
  s->listening = 0;
  luaio__future_copy_state(&s->base, s->inner);
  luaio_future_unref(&s->base);
}

luaio_future_t *luaio_shield_new(luaio_loop_t *loop, luaio_future_t *inner) {
  shield *s = (shield *)luaio__future_alloc(loop, &shield_kind, sizeof *s);
  if (s == NULL)
    return NULL;
  s->inner = inner;
  luaio_future_ref(inner);
  s->node.run = shield_inner_done;
  s->listening = 1;
  s->base.refs++; /* the node's, until inner is done or we are cancelled */
  luaio__future_add_node(inner, &s->node);
  return &s->base;
}

luaio_future_t *luaio__node_shield(luaio__node *node) {
  if (node->run != shield_inner_done)
    return NULL;
  return &container_of(node, shield, node)->base;
}
