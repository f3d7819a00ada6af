/*
** dns.c - name resolution: uv_getaddrinfo on libuv's thread pool, as a
** future.
*/
#include <stdio.h>
#include <string.h>

#include "internal.h"

typedef struct {
  luaio_future_t base; /* first: a lookup is a future */
  uv_getaddrinfo_t req;
  int inflight;           /* the request holds one reference while set */
  luaio_addrinfo_t *list; /* owns */
  size_t n;
} gai_op;

static void gai_free(luaio_future_t *fut) {
  gai_op *op = (gai_op *)fut;
  assert(!op->inflight);
  luaio__free(op->list, op->n * sizeof *op->list);
  luaio__free(op, sizeof *op);
}

/* A request the thread pool has not started is cancelled; one that runs
** completes, and its result is dropped. */
static int gai_cancel(luaio_future_t *fut, const char *msg) {
  gai_op *op = (gai_op *)fut;
  int rc = luaio__future_cancel_plain(fut, msg);
  if (rc == 1 && op->inflight)
    uv_cancel((uv_req_t *)&op->req);
  return rc;
}

static const luaio__future_kind gai_kind = {.cancel = gai_cancel,
                                            .free = gai_free};

static int same_addr(const luaio_addrinfo_t *a, const luaio_addrinfo_t *b) {
  return a->family == b->family && a->port == b->port &&
         strcmp(a->addr, b->addr) == 0;
}

/* Copies the addresses of res that are IPv4 or IPv6, without duplicates.
** Returns 0 or LUAIO_ENOMEM. */
static int gai_collect(gai_op *op, const struct addrinfo *res) {
  size_t n = 0;
  for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
    n++;
  if (n == 0)
    return 0;
  op->list = luaio__alloc(n * sizeof *op->list);
  if (op->list == NULL)
    return LUAIO_ENOMEM;
  memset(op->list, 0, n * sizeof *op->list);
  size_t k = 0;
  for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    luaio_addrinfo_t *a = &op->list[k];
    if (ai->ai_family == AF_INET) {
      const struct sockaddr_in *in = (const void *)ai->ai_addr;
      uv_ip4_name(in, a->addr, sizeof a->addr);
      a->port = ntohs(in->sin_port);
      memcpy(&a->sa, in, sizeof *in);
    } else if (ai->ai_family == AF_INET6) {
      const struct sockaddr_in6 *in6 = (const void *)ai->ai_addr;
      uv_ip6_name(in6, a->addr, sizeof a->addr);
      a->port = ntohs(in6->sin6_port);
      memcpy(&a->sa, in6, sizeof *in6);
    } else {
      continue;
    }
    a->family = ai->ai_family;
    int dup = 0;
    for (size_t i = 0; i < k && !dup; i++)
      dup = same_addr(&op->list[i], a);
    if (!dup)
      k++;
  }
  /* The array keeps its allocated size n; only k entries are used. */
  op->n = n;
  for (size_t i = k; i < n; i++)
    op->list[i].family = 0;
  return 0;
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  gai_op *op = container_of(req, gai_op, req);
  op->inflight = 0;
  if (!luaio_future_done(&op->base)) {
    if (status == 0)
      status = gai_collect(op, res);
    if (status == 0)
      luaio_future_set_result(&op->base);
    else
      luaio_future_set_error(&op->base, status);
  }
  uv_freeaddrinfo(res);
  luaio_future_unref(&op->base);
}

luaio_future_t *luaio_getaddrinfo(luaio_loop_t *loop, const char *host,
                                  int port, int passive) {
  gai_op *op = (gai_op *)luaio__future_alloc(loop, &gai_kind, sizeof(gai_op));
  if (op == NULL)
    return NULL;
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  int rc = uv_getaddrinfo(luaio_loop_uv(loop), &op->req, gai_cb, host, service,
                          &hints);
  if (rc != 0) {
    /* Reported through the future, as any later failure would be. */
    luaio_future_set_error(&op->base, rc);
    return &op->base;
  }
  op->inflight = 1;
  luaio_future_ref(&op->base); /* the request's */
  return &op->base;
}

int luaio_getaddrinfo_finish(luaio_future_t *fut, int err,
                             const luaio_addrinfo_t **list, size_t *n) {
  gai_op *op = (gai_op *)fut;
  assert(fut->kind == &gai_kind);
  *list = NULL;
  *n = 0;
  if (err != 0) {
    luaio_future_cancel(fut, NULL);
    return err;
  }
  if (!luaio_future_done(fut)) {
    luaio_future_cancel(fut, NULL);
    return LUAIO_ECANCELLED;
  }
  if (luaio_future_error(fut) != 0)
    return luaio_future_error(fut);
  size_t k = 0;
  while (k < op->n && op->list[k].family != 0)
    k++;
  if (k == 0)
    return UV_EAI_NONAME;
  *list = op->list;
  *n = k;
  return 0;
}
