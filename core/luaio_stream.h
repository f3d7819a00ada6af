/*
** luaio_stream.h - part of luaio.h (included by it, never on its own).
**
** Streams: a buffered byte stream over a TCP or Unix-domain connection
** (asyncio's StreamReader and StreamWriter in one object), servers that
** accept connections, and name resolution on libuv's thread pool.
**
** Reading follows the recipe of the queue section. A read function
** looks at the buffer only: it returns 0 when the request is met, and
** then the first *len bytes of luaio_stream_buffer() are the result,
** which the caller copies and removes with luaio_stream_consume(). It
** returns UV_EAGAIN when more input is needed: the caller gets a future
** from luaio_stream_wait_read(), awaits it, calls
** luaio_stream_wait_read_finish() and tries again. Buffered data is
** always delivered before an end of input or an error is reported.
**
** The core owns every libuv handle it opens. A stream or server keeps
** itself alive while its handle is open; luaio_stream_abort() and
** luaio_server_close() close the handle, and its memory goes with the
** last reference once the close callback has run. Every stream and
** server must be closed before luaio_loop_delete(), which then runs the
** close callbacks.
*/

/* {======================================================================
** Streams
** ======================================================================= */

typedef struct luaio_stream_s luaio_stream_t;

#define LUAIO_STREAM_LIMIT 65536      /* asyncio's default buffer limit */
#define LUAIO_STREAM_HIGH_WATER 65536 /* drain waits above this ... */
#define LUAIO_STREAM_LOW_WATER 16384  /* ... until the buffer is below this */

/* Creates a stream with no connection, read-only: input comes from
** luaio_stream_feed() (asyncio's StreamReader without a transport).
** limit (0: LUAIO_STREAM_LIMIT) bounds readuntil and the buffer: a
** connected stream stops reading while more than twice limit bytes wait
** to be read. The caller owns the reference returned. Returns NULL only
** when out of memory. */
LUAIO_EXTERN luaio_stream_t *luaio_stream_new(luaio_loop_t *loop, size_t limit);
LUAIO_EXTERN void luaio_stream_ref(luaio_stream_t *s);
/* Drops a reference. The last one frees the stream once its handle is
** closed; an open handle keeps the stream alive until then, so a stream
** still connected must be closed (luaio_stream_close or _abort) for its
** memory to go. */
LUAIO_EXTERN void luaio_stream_unref(luaio_stream_t *s);

/* Appends len bytes of data (copied) to the input and wakes the reader.
** Returns 0, LUAIO_ENOMEM, or LUAIO_EINVALSTATE after the end of input. */
LUAIO_EXTERN int luaio_stream_feed(luaio_stream_t *s, const char *data,
                                   size_t len);
/* Ends the input: with err 0 at a clean end (EOF), else with that error,
** which reads report once the buffer can no longer satisfy them. */
LUAIO_EXTERN void luaio_stream_feed_eof(luaio_stream_t *s, int err);

/* The buffered input (borrowed; valid until the stream changes): sets
** *len to its size. */
LUAIO_EXTERN const char *luaio_stream_buffer(const luaio_stream_t *s,
                                             size_t *len);
/* Removes the first n (<= buffered) bytes, resuming a paused reading. */
LUAIO_EXTERN void luaio_stream_consume(luaio_stream_t *s, size_t n);
/* Nonzero when the input has ended and the buffer is empty. */
LUAIO_EXTERN int luaio_stream_at_eof(const luaio_stream_t *s);

/* read(n): with n > 0, up to n bytes once at least one is buffered;
** n == 0 gives 0 bytes at once; n < 0 reads until the end of input.
** Returns 0, UV_EAGAIN, or the stream's error. At the end of input it
** returns 0 with *len == 0 (asyncio returns b""). */
LUAIO_EXTERN int luaio_stream_read(luaio_stream_t *s, long n, size_t *len);
/* readexactly(n): 0 once n bytes are buffered; UV_EOF when the input
** ended first, with *len the number of bytes buffered (the partial
** result, which the caller consumes); UV_EAGAIN; the stream's error. */
LUAIO_EXTERN int luaio_stream_readexactly(luaio_stream_t *s, size_t n,
                                          size_t *len);
/* readuntil(sep): 0 when sep (seplen >= 1 bytes) is found, *len counting
** up to and including it; UV_EOF as readexactly; UV_ENOBUFS when sep
** is not found within limit bytes, with *len the bytes buffered, or is
** found past them, with *len its offset; the data stays (asyncio's
** LimitOverrunError and its .consumed); UV_EAGAIN;
** the stream's error. */
LUAIO_EXTERN int luaio_stream_readuntil(luaio_stream_t *s, const char *sep,
                                        size_t seplen, size_t *len);

/* After UV_EAGAIN: sets *out to a new future (the caller owns the
** reference) that resolves when input arrives, ends or fails. Returns
** 0, LUAIO_EBUSY when another wait is in progress (one reader at a
** time, as asyncio), LUAIO_ENOMEM. wait_read_finish borrows fut and
** returns 0, or err when the wait was cancelled (the buffer is as it
** was: nothing read is lost). */
LUAIO_EXTERN int luaio_stream_wait_read(luaio_stream_t *s,
                                        luaio_future_t **out);
LUAIO_EXTERN int luaio_stream_wait_read_finish(luaio_stream_t *s,
                                               luaio_future_t *fut, int err);

/* Queues len bytes of data (copied) for writing; never waits. Data
** written once the stream is closing (closed by us, or its connection
** lost) is dropped, as asyncio's transport drops it: the loss shows in
** drain and in reads. Returns 0, UV_EPIPE after luaio_stream_write_eof(),
** LUAIO_EINVALSTATE on a stream with no connection, LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_stream_write(luaio_stream_t *s, const char *data,
                                    size_t len);
/* Bytes queued and not yet handed to the kernel (0 once they are being
** dropped, after an abort or a lost connection). */
LUAIO_EXTERN size_t luaio_stream_write_buffer_size(const luaio_stream_t *s);
/* Sets the water marks of drain; low is clamped to high. */
LUAIO_EXTERN void luaio_stream_set_write_limits(luaio_stream_t *s, size_t high,
                                                size_t low);
/* Sets *out to NULL when writing need not wait (the buffer did not pass
** the high-water mark, or has since gone below the low one), else to a
** new future (the caller owns the reference) that resolves when it
** goes below the low-water mark or writing fails. Returns 0, the error
** that lost the connection, LUAIO_EINVALSTATE once the stream was closed
** (close or abort) and has nothing left to write, LUAIO_ENOMEM.
** drain_finish borrows fut and returns 0, err when cancelled, or the
** error that lost the connection. */
LUAIO_EXTERN int luaio_stream_drain(luaio_stream_t *s, luaio_future_t **out);
LUAIO_EXTERN int luaio_stream_drain_finish(luaio_stream_t *s,
                                           luaio_future_t *fut, int err);

/* Shuts down the writing side once the queued data is written (the
** peer reads an end of input); does nothing once the stream is closing
** or its end was written. Returns 0, LUAIO_EINVALSTATE with no
** connection, or LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_stream_write_eof(luaio_stream_t *s);

/* Closes the stream once the queued data is written, as asyncio's
** transport.close(); the reading side sees an end of input at once. With
** TLS, close_notify is sent and the handle stays open until the peer's
** comes, its input ends, or the shutdown timeout aborts the stream
** (luaio_stream_set_tls_shutdown_timeout). Idempotent. */
LUAIO_EXTERN void luaio_stream_close(luaio_stream_t *s);
/* Closes at once, dropping queued data; a TCP peer sees a reset
** (ECONNRESET). Idempotent; also finishes a close in progress. A stream
** whose connection is lost (reset, or a write failing) does the same by
** itself, as asyncio's transport. */
LUAIO_EXTERN void luaio_stream_abort(luaio_stream_t *s);
/* Nonzero once close or abort was called, the connection was lost, or
** the input ended on an unconnected stream. */
LUAIO_EXTERN int luaio_stream_is_closing(const luaio_stream_t *s);
/* Sets *out to NULL when the handle is closed (or there never was one),
** else to a new future (the caller owns the reference) that resolves
** when it is. Returns 0 or LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_stream_wait_closed(luaio_stream_t *s,
                                          luaio_future_t **out);

/* Debug aid: returns the bytes the loop's streams with an open handle
** hold in their own input buffers (a stream at rest holds none; one with
** unread input, a little more than that), and sets *shared to the bytes
** of the read buffer and the small buffers they share while any is open
** (at most 192 KiB, 0 once none is). */
LUAIO_EXTERN size_t luaio_stream_memory(const luaio_loop_t *loop,
                                        size_t *shared);

/* The addresses of a connected stream, taken when it connected: copies
** the numeric host into host (size >= 46 holds any) and sets *port; for
** a Unix-domain socket, copies the path ("" when it has none; size >= 108
** holds any) and sets *port to -1. Returns 0, or LUAIO_EINVALSTATE when
** there is no connection. */
LUAIO_EXTERN int luaio_stream_peername(const luaio_stream_t *s, char *host,
                                       size_t size, int *port);
LUAIO_EXTERN int luaio_stream_sockname(const luaio_stream_t *s, char *host,
                                       size_t size, int *port);

/* Opens a TCP connection to host (a name or a numeric address) and
** port: the name is resolved on the thread pool, then each address is
** tried in turn. timeout > 0 bounds the whole operation (then it fails
** with LUAIO_ETIMEOUT); limit is as for luaio_stream_new(). Returns a
** new future (the caller owns the reference), or NULL when out of
** memory. Cancelling the future stops the attempt and closes what it
** opened. */
LUAIO_EXTERN luaio_future_t *luaio_stream_connect(luaio_loop_t *loop,
                                                  const char *host, int port,
                                                  double timeout, size_t limit);
/* As luaio_stream_connect(), to the Unix-domain socket at path (a path
** too long for one fails with UV_ENAMETOOLONG). */
LUAIO_EXTERN luaio_future_t *luaio_stream_connect_unix(luaio_loop_t *loop,
                                                       const char *path,
                                                       double timeout,
                                                       size_t limit);
/* Opens a stream over a copy of the descriptor fd (closing the stream
** closes the copy only), whatever it is: a TTY (in libuv's uv_tty_t), a
** pipe or a socket (uv_pipe_t), or a regular file. A regular file
** cannot be polled: one to read is read on the thread pool, a chunk each
** time a reader waits; one to write is written at once, blocking (as a
** full disk would block any program). With writable, nothing is read
** (the stream's input has ended). limit is as for luaio_stream_new().
** Sets *out to the stream (the caller owns the reference) and returns 0,
** UV_EBADF for a descriptor not open, UV_EINVAL for a UDP socket, or
** the error of opening it. */
LUAIO_EXTERN int luaio_stream_open_fd(luaio_loop_t *loop, int fd, int writable,
                                      size_t limit, luaio_stream_t **out);

/* After the future was awaited: sets *out to the connected stream (a
** new reference the caller owns) and returns 0, or returns the error
** (err when the wait was cancelled; the attempt is then stopped, and a
** connection made meanwhile is closed). Borrows fut; can be called once. */
LUAIO_EXTERN int luaio_stream_connect_finish(luaio_future_t *fut, int err,
                                             luaio_stream_t **out);

/* }====================================================================== */

/* {======================================================================
** Servers
** ======================================================================= */

typedef struct luaio_server_s luaio_server_t;

/* Told of each accepted connection; takes the reference to conn (a
** connected stream, already reading). Runs from the ready queue, never
** after luaio_server_close(). */
typedef void (*luaio_connection_cb)(luaio_server_t *srv, luaio_stream_t *conn,
                                    void *arg);

/* Creates a server that is not listening yet; cb and arg (borrowed) are
** told of connections, each with limit as for luaio_stream_new(). The
** caller owns the reference returned. Returns NULL when out of memory. */
LUAIO_EXTERN luaio_server_t *luaio_server_new(luaio_loop_t *loop,
                                              luaio_connection_cb cb, void *arg,
                                              size_t limit);
LUAIO_EXTERN void luaio_server_ref(luaio_server_t *srv);
/* As luaio_stream_unref(): a listening server lives until closed. */
LUAIO_EXTERN void luaio_server_unref(luaio_server_t *srv);

/* Binds a new socket to addr (copied; AF_INET or AF_INET6; an IPv6
** socket takes IPv6 only, as asyncio's) and listens with backlog (<= 0:
** 100). Call it once per address: the server listens on all of them.
** Port 0 picks a free port; pass that port (luaio_server_port()) for the
** other addresses to share it. The first call's serving decides: when it
** is zero, connections wait in the kernel's queue until
** luaio_server_start_serving(). Returns 0, a UV_E* code (UV_EADDRINUSE,
** ...: that socket is closed, the others listen on), LUAIO_ENOMEM, or
** LUAIO_EINVALSTATE when the server is closed. */
LUAIO_EXTERN int luaio_server_listen(luaio_server_t *srv,
                                     const struct sockaddr *addr, int backlog,
                                     int serving);
/* As luaio_server_listen(), on a Unix-domain socket made at path: a
** socket file already there is replaced (asyncio does the same), and
** closing the server removes the file, unless another took its place (as
** far as the file's inode and change time tell).
** Returns 0, UV_ENAMETOOLONG, a UV_E* code of the bind, LUAIO_ENOMEM, or
** LUAIO_EINVALSTATE when the server is closed. */
LUAIO_EXTERN int luaio_server_listen_unix(luaio_server_t *srv,
                                          const char *path, int backlog,
                                          int serving);
/* With on, TCP sockets listened on from now on set SO_REUSEPORT, so that
** several processes may listen on one port, the kernel spreading the
** connections among them. */
LUAIO_EXTERN void luaio_server_set_reuse_port(luaio_server_t *srv, int on);
/* The local address of the i-th socket listening (from 0, in the order
** of the listen calls), as luaio_stream_sockname(). Returns 0, or
** LUAIO_EINVAL past the last one. */
LUAIO_EXTERN int luaio_server_sockname(const luaio_server_t *srv, size_t i,
                                       char *host, size_t size, int *port);
/* Told that accepting a connection failed: err is the UV_E* code
** (UV_ENOBUFS, UV_EPERM from a firewall, ...); the server goes on
** listening. Runs from the libuv callback that saw the failure, never
** after luaio_server_close(). libuv meets UV_EMFILE and UV_ENFILE itself
** while it holds a spare descriptor: it accepts and closes the waiting
** connections, and nothing is told. */
typedef void (*luaio_accept_error_cb)(luaio_server_t *srv, int err,
                                      void *arg);
/* Sets (or, with NULL, clears) the callback told of failed accepts; it
** gets the arg of luaio_server_new(). Unset, failed accepts are ignored. */
LUAIO_EXTERN void luaio_server_on_accept_error(luaio_server_t *srv,
                                               luaio_accept_error_cb cb);
LUAIO_EXTERN void luaio_server_start_serving(luaio_server_t *srv);
LUAIO_EXTERN int luaio_server_is_serving(const luaio_server_t *srv);
/* The port of the first TCP address bound (an ephemeral one when it was
** port 0), or -1. */
LUAIO_EXTERN int luaio_server_port(const luaio_server_t *srv);
/* Stops listening and closes the sockets; connections accepted already
** are not affected (asyncio's Server.close()). Idempotent. */
LUAIO_EXTERN void luaio_server_close(luaio_server_t *srv);
LUAIO_EXTERN int luaio_server_is_closing(const luaio_server_t *srv);
/* As luaio_stream_wait_closed(): NULL once every socket is closed. */
LUAIO_EXTERN int luaio_server_wait_closed(luaio_server_t *srv,
                                          luaio_future_t **out);

/* }====================================================================== */

/* {======================================================================
** Name resolution (uv_getaddrinfo on the thread pool)
** ======================================================================= */

typedef struct {
  int family;    /* AF_INET or AF_INET6 */
  char addr[46]; /* numeric, NUL-terminated */
  int port;
  struct sockaddr_storage sa; /* ready for connect or bind */
} luaio_addrinfo_t;

/* Resolves host (NULL with passive: any address) and port for TCP.
** Returns a new future (the caller owns the reference), or NULL when out
** of memory; cancelling it cancels the request when it has not started. */
LUAIO_EXTERN luaio_future_t *
luaio_getaddrinfo(luaio_loop_t *loop, const char *host, int port, int passive);
/* After the future was awaited: sets *list to its addresses (borrowed,
** valid while fut is), in the resolver's order without duplicates, and
** *n to their number; returns 0, or the error (err when cancelled, else
** a UV_EAI_* code such as UV_EAI_NONAME). */
LUAIO_EXTERN int luaio_getaddrinfo_finish(luaio_future_t *fut, int err,
                                          const luaio_addrinfo_t **list,
                                          size_t *n);

/* }====================================================================== */
