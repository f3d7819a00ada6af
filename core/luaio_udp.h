/*
** luaio_udp.h - part of luaio.h (included by it, never on its own).
**
** UDP endpoints (udp.c): a socket that sends datagrams at once and
** queues the ones it receives, up to a bound; past it, new datagrams are
** dropped and counted, as the kernel drops them from a full socket
** buffer. Receiving follows the recipe of the stream section:
** luaio_udp_recv() returns UV_EAGAIN when the queue is empty, and the
** caller awaits luaio_udp_wait_recv()'s future and tries again.
**
** The core owns the libuv handle: an endpoint keeps itself alive while
** it is open, and must be closed (luaio_udp_close) before
** luaio_loop_delete(), which then runs the close callback.
** ======================================================================= */

typedef struct luaio_udp_s luaio_udp_t;

#define LUAIO_UDP_QUEUE 256    /* datagrams queued by default */
#define LUAIO_UDP_BROADCAST 1u /* flag: SO_BROADCAST */

/* Opens an endpoint of family (AF_INET or AF_INET6; an IPv6 one takes
** IPv6 only) bound to local (NULL: an ephemeral port on any address),
** and, unless remote is NULL, connected to remote, the default
** destination and the only source it accepts. queue bounds the datagrams
** waiting to be received (0: LUAIO_UDP_QUEUE). Receiving starts at once.
** Sets *out to a new reference the caller owns and returns 0, or the
** UV_E* code of the bind or connect (then nothing is left open), or
** LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_udp_open(luaio_loop_t *loop, int family,
                                const struct sockaddr *local,
                                const struct sockaddr *remote, unsigned flags,
                                size_t queue, luaio_udp_t **out);
LUAIO_EXTERN void luaio_udp_ref(luaio_udp_t *u);
/* The last reference frees the endpoint once its handle is closed. */
LUAIO_EXTERN void luaio_udp_unref(luaio_udp_t *u);

/* Sends a copy of len bytes of data to addr (NULL: the remote the
** endpoint is connected to); never waits. Returns 0, LUAIO_EINVALSTATE
** once closed, UV_EDESTADDRREQ with no address to send to, UV_EISCONN
** for an address on a connected endpoint, LUAIO_ENOMEM, or the error of
** the send (UV_EMSGSIZE, ...). */
LUAIO_EXTERN int luaio_udp_sendto(luaio_udp_t *u, const char *data, size_t len,
                                  const struct sockaddr *addr);

/* The oldest datagram received: sets *data (borrowed, valid until
** luaio_udp_consume), *len and *from, and returns 0; or returns
** UV_EAGAIN when none is queued, LUAIO_EINVALSTATE once closed and
** none is left, or the error that ended receiving. */
LUAIO_EXTERN int luaio_udp_recv(luaio_udp_t *u, const char **data, size_t *len,
                                struct sockaddr_storage *from);
/* Drops the datagram luaio_udp_recv() returned. */
LUAIO_EXTERN void luaio_udp_consume(luaio_udp_t *u);
/* As luaio_stream_wait_read() and _finish(): one receiver at a time
** (LUAIO_EBUSY), woken by a datagram, an error or the close. */
LUAIO_EXTERN int luaio_udp_wait_recv(luaio_udp_t *u, luaio_future_t **out);
LUAIO_EXTERN int luaio_udp_wait_recv_finish(luaio_udp_t *u,
                                            luaio_future_t *fut, int err);

/* The datagrams dropped because the queue was full. */
LUAIO_EXTERN size_t luaio_udp_dropped(const luaio_udp_t *u);
/* As luaio_stream_sockname(). */
LUAIO_EXTERN int luaio_udp_sockname(const luaio_udp_t *u, char *host,
                                    size_t size, int *port);
/* Closes the endpoint: what is queued is dropped, a waiting receiver is
** woken and then gets LUAIO_EINVALSTATE. Idempotent. */
LUAIO_EXTERN void luaio_udp_close(luaio_udp_t *u);
LUAIO_EXTERN int luaio_udp_is_closing(const luaio_udp_t *u);
