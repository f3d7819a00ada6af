/*
** graph.c - who waits for a future: the tasks awaiting it, directly or
** through gathers, shields, waits and task groups (the debug aid under
** asyncio.capture_call_graph). Nothing is recorded when a task starts to
** wait: the walk reads the callbacks each future already keeps, and asks
** the file that queued a node where that node leads.
*/
#include "internal.h"

/* Nested gathers, shields and waits followed at most. Each one leads to a
** future made after the one it waits for, so the walk never loops. */
#define GRAPH_DEPTH 32

typedef struct {
  luaio__node *node; /* the next callback to look at */
  luaio_via via;     /* the way the walk came here (frame 0: unused) */
} graph_frame;

/* Queues the callbacks of fut to be looked at, if there is room. */
static void graph_push(graph_frame *stack, size_t *n, luaio_future_t *fut,
                       luaio_via via) {
  if (fut != NULL && fut->state == LUAIO_PENDING && *n < GRAPH_DEPTH)
    stack[(*n)++] = (graph_frame){fut->callbacks.head, via};
}

void luaio_future_foreach_awaiter(luaio_future_t *fut, luaio_awaiter_cb cb,
                                  void *arg) {
  graph_frame stack[GRAPH_DEPTH];
  size_t n = 0;
  graph_push(stack, &n, fut, LUAIO_VIA_AWAIT);
  while (n > 0) {
    graph_frame *f = &stack[n - 1];
    luaio__node *node = f->node;
    if (node == NULL) {
      n--;
      continue;
    }
    f->node = node->next;
    /* The way out of fut's own callbacks names the way for the rest. */
    int top = n == 1;
    luaio_task_t *t;
    luaio_future_t *g, *next;
    luaio_done_cb dcb;
    void *darg;
    if ((t = luaio__node_task(node)) != NULL) {
      cb(t, top ? LUAIO_VIA_AWAIT : f->via, arg);
    } else if ((g = luaio__node_gather(node)) != NULL) {
      graph_push(stack, &n, g, top ? LUAIO_VIA_GATHER : f->via);
    } else if ((g = luaio__node_shield(node)) != NULL) {
      graph_push(stack, &n, g, top ? LUAIO_VIA_SHIELD : f->via);
    } else if (luaio__node_wait(node, &g, &next)) {
      luaio_via via = top ? LUAIO_VIA_WAIT : f->via;
      graph_push(stack, &n, g, via);
      graph_push(stack, &n, next, via);
    } else if (luaio__node_donecb(node, &dcb, &darg) &&
               (t = luaio__taskgroup_parent(dcb, darg)) != NULL) {
      cb(t, top ? LUAIO_VIA_TASKGROUP : f->via, arg);
    }
  }
}

const char *luaio_via_name(luaio_via via) {
  switch (via) {
  case LUAIO_VIA_GATHER:
    return "gather";
  case LUAIO_VIA_SHIELD:
    return "shield";
  case LUAIO_VIA_WAIT:
    return "wait";
  case LUAIO_VIA_TASKGROUP:
    return "TaskGroup";
  default:
    return "await";
  }
}
