/*
** udp.c - UDP endpoints: datagrams sent at once, received into a bounded
** queue (asyncio's datagram transport with a receiving side that waits).
*/
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

enum { H_OPEN, H_CLOSING, H_CLOSED };

#define DGRAM_MAX 65536 /* the largest UDP payload, and then some */

typedef struct dgram {
  struct dgram *next;
  size_t len;
  struct sockaddr_storage from;
  char data[];
} dgram;

struct luaio_udp_s {
  luaio_loop_t *loop;
  int refs; /* the open handle holds one */
  int hstate;
  uv_udp_t handle;
  dgram *head, *tail; /* owns the queue */
  size_t queued, max, dropped;
  int rerr;              /* the error that ended receiving, or 0 */
  luaio_future_t *rwait; /* owns: the receiver's wait, or NULL */
  char *rbuf;            /* owns: where libuv receives, while open */
  unsigned closing : 1;
};

static void queue_clear(luaio_udp_t *u) {
  while (u->head != NULL) {
    dgram *d = u->head;
    u->head = d->next;
    luaio__free(d, sizeof *d + d->len);
  }
  u->tail = NULL;
  u->queued = 0;
}

static void wake(luaio_udp_t *u) {
  luaio_future_t *fut = u->rwait;
  if (fut == NULL)
    return;
  u->rwait = NULL;
  if (!luaio_future_done(fut))
    luaio_future_set_result(fut);
  luaio_future_unref(fut);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  luaio_udp_t *u = h->data;
  *buf = uv_buf_init(u->rbuf, DGRAM_MAX);
}

static void recv_cb(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  (void)flags;
  luaio_udp_t *u = h->data;
  if (n < 0) {
    u->rerr = (int)n;
    uv_udp_recv_stop(h);
    wake(u);
    return;
  }
  if (addr == NULL) /* nothing more to read now */
    return;
  dgram *d = u->queued < u->max ? luaio__alloc(sizeof *d + (size_t)n) : NULL;
  if (d == NULL) {
    u->dropped++; /* a full queue, as a full socket buffer, drops */
    return;
  }
  d->next = NULL;
  d->len = (size_t)n;
  memset(&d->from, 0, sizeof d->from);
  memcpy(&d->from, addr,
         addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                     : sizeof(struct sockaddr_in));
  memcpy(d->data, buf->base, (size_t)n);
  if (u->tail != NULL)
    u->tail->next = d;
  else
    u->head = d;
  u->tail = d;
  u->queued++;
  wake(u);
}

static void close_cb(uv_handle_t *h) {
  luaio_udp_t *u = h->data;
  u->hstate = H_CLOSED;
  luaio__free(u->rbuf, DGRAM_MAX);
  u->rbuf = NULL;
  luaio_udp_unref(u);
}

int luaio_udp_open(luaio_loop_t *loop, int family, const struct sockaddr *local,
                   const struct sockaddr *remote, unsigned flags, size_t queue,
                   luaio_udp_t **out) {
  *out = NULL;
  luaio_udp_t *u = luaio__alloc(sizeof *u);
  if (u == NULL)
    return LUAIO_ENOMEM;
  memset(u, 0, sizeof *u);
  u->loop = loop;
  u->refs = 2; /* the caller's and the handle's */
  u->max = queue > 0 ? queue : LUAIO_UDP_QUEUE;
  u->rbuf = luaio__alloc(DGRAM_MAX);
  int rc = u->rbuf == NULL ? LUAIO_ENOMEM
                           : uv_udp_init_ex(luaio_loop_uv(loop), &u->handle,
                                            (unsigned)family);
  if (rc != 0) {
    luaio__free(u->rbuf, DGRAM_MAX);
    luaio__free(u, sizeof *u);
    return rc;
  }
  u->handle.data = u;
  u->hstate = H_OPEN;
  struct sockaddr_storage any;
  if (local == NULL) {
    memset(&any, 0, sizeof any);
    if (family == AF_INET6)
      uv_ip6_addr("::", 0, (struct sockaddr_in6 *)&any);
    else
      uv_ip4_addr("0.0.0.0", 0, (struct sockaddr_in *)&any);
    local = (const struct sockaddr *)&any;
  }
  rc = uv_udp_bind(&u->handle, local, family == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
  if (rc == 0 && (flags & LUAIO_UDP_BROADCAST))
    rc = uv_udp_set_broadcast(&u->handle, 1);
  if (rc == 0 && remote != NULL)
    rc = uv_udp_connect(&u->handle, remote);
  if (rc == 0)
    rc = uv_udp_recv_start(&u->handle, alloc_cb, recv_cb);
  if (rc != 0) {
    luaio_udp_close(u);
    luaio_udp_unref(u);
    return rc;
  }
  *out = u;
  return 0;
}

void luaio_udp_ref(luaio_udp_t *u) {
  u->refs++;
}

void luaio_udp_unref(luaio_udp_t *u) {
  assert(u->refs > 0);
  if (--u->refs > 0)
    return;
  assert(u->hstate == H_CLOSED);
  queue_clear(u);
  if (u->rwait != NULL)
    luaio_future_unref(u->rwait);
  luaio__free(u, sizeof *u);
}

typedef struct {
  uv_udp_send_t req;
  size_t len;
  char data[];
} send_req;

static void send_cb(uv_udp_send_t *req, int status) {
  (void)status; /* a datagram lost on the way is UDP's lot */
  send_req *r = (send_req *)req;
  luaio__free(r, sizeof *r + r->len);
}

int luaio_udp_sendto(luaio_udp_t *u, const char *data, size_t len,
                     const struct sockaddr *addr) {
  if (u->closing)
    return LUAIO_EINVALSTATE;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int rc = uv_udp_try_send(&u->handle, &b, 1, addr);
  if (rc >= 0)
    return 0;
  if (rc != UV_EAGAIN)
    return rc;
  send_req *r = luaio__alloc(sizeof *r + len);
  if (r == NULL)
    return LUAIO_ENOMEM;
  r->len = len;
  memcpy(r->data, data, len);
  b = uv_buf_init(r->data, (unsigned)len);
  rc = uv_udp_send(&r->req, &u->handle, &b, 1, addr, send_cb);
  if (rc != 0)
    luaio__free(r, sizeof *r + len);
  return rc;
}

int luaio_udp_recv(luaio_udp_t *u, const char **data, size_t *len,
                   struct sockaddr_storage *from) {
  dgram *d = u->head;
  if (d == NULL)
    return u->rerr != 0 ? u->rerr : u->closing ? LUAIO_EINVALSTATE : UV_EAGAIN;
  *data = d->data;
  *len = d->len;
  *from = d->from;
  return 0;
}

void luaio_udp_consume(luaio_udp_t *u) {
  dgram *d = u->head;
  if (d == NULL)
    return;
  u->head = d->next;
  if (u->head == NULL)
    u->tail = NULL;
  u->queued--;
  luaio__free(d, sizeof *d + d->len);
}

int luaio_udp_wait_recv(luaio_udp_t *u, luaio_future_t **out) {
  *out = NULL;
  if (u->rwait != NULL)
    return LUAIO_EBUSY;
  luaio_future_t *fut = luaio_future_new(u->loop);
  if (fut == NULL)
    return LUAIO_ENOMEM;
  luaio_future_ref(fut); /* the endpoint's, until woken */
  u->rwait = fut;
  if (u->head != NULL || u->closing || u->rerr != 0)
    wake(u);
  *out = fut;
  return 0;
}

int luaio_udp_wait_recv_finish(luaio_udp_t *u, luaio_future_t *fut, int err) {
  int rc = err != 0                  ? err
           : !luaio_future_done(fut) ? LUAIO_ECANCELLED
                                     : luaio_future_error(fut);
  if (u->rwait == fut) {
    u->rwait = NULL;
    luaio_future_unref(fut);
  }
  return rc;
}

size_t luaio_udp_dropped(const luaio_udp_t *u) {
  return u->dropped;
}

int luaio_udp_sockname(const luaio_udp_t *u, char *host, size_t size,
                       int *port) {
  if (u->closing)
    return LUAIO_EINVALSTATE;
  struct sockaddr_storage sa;
  int len = sizeof sa;
  int rc = uv_udp_getsockname(&u->handle, (struct sockaddr *)&sa, &len);
  if (rc != 0)
    return rc;
  if (sa.ss_family == AF_INET6) {
    uv_ip6_name((const struct sockaddr_in6 *)&sa, host, size);
    *port = ntohs(((const struct sockaddr_in6 *)&sa)->sin6_port);
  } else {
    uv_ip4_name((const struct sockaddr_in *)&sa, host, size);
    *port = ntohs(((const struct sockaddr_in *)&sa)->sin_port);
  }
  return 0;
}

void luaio_udp_close(luaio_udp_t *u) {
  if (u->closing)
    return;
  u->closing = 1;
  queue_clear(u);
  wake(u);
  u->hstate = H_CLOSING;
  uv_close((uv_handle_t *)&u->handle, close_cb);
}

int luaio_udp_is_closing(const luaio_udp_t *u) {
  return u->closing;
}
