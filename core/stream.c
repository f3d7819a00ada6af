/*
** stream.c - buffered TCP streams (asyncio's StreamReader and
** StreamWriter over one libuv handle), connecting, and servers.
*/
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

/* {======================================================================
** Waiting: the waiter lists of waiter.c, and how a wait ends here.
** ======================================================================= */

typedef luaio__waiter waiter;
typedef luaio__waitlist waitlist;

/* Resolves every waiter still pending and empties the list. */
static void waitlist_wake_all(waitlist *list) {
  luaio__waitlist_wake(list, SIZE_MAX);
}

/* What a wait ended with: the step's error, else cancellation when the
** future is still pending (the wait is abandoned). */
static int wait_outcome(const luaio_future_t *fut, int err) {
  if (err != 0)
    return err;
  if (!luaio_future_done(fut))
    return LUAIO_ECANCELLED;
  return luaio_future_error(fut);
}

/* }====================================================================== */

/* {======================================================================
** Streams
** ======================================================================= */

enum { H_NONE, H_OPEN, H_CLOSING, H_CLOSED }; /* the handle's life */

#define READ_CHUNK 65536  /* the shared read buffer: what one read may take */
#define READ_DIRECT 16384 /* room enough in a stream's buffer to read there */

struct luaio_stream_s {
  luaio_loop_t *loop;
  int refs; /* an open handle holds one */
  int hstate;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe; /* a Unix-domain socket, a pipe or a regular file */
    uv_tty_t tty;
  } h;
  char *buf; /* owns, or NULL when empty; the input is buf[start .. +len) */
  size_t start, len, cap;
  size_t limit;
  int rerr;              /* the error the input ended with, or 0 */
  luaio_future_t *rwait; /* owns: the reader's wait, or NULL */
  size_t wqueued;        /* bytes in write requests not yet done */
  size_t wheld;          /* text TLS holds until its handshake ends */
  size_t high, low;
  int werr;               /* the error that lost the connection */
  unsigned eof : 1;       /* no more input will come */
  unsigned reading : 1;   /* uv_read_start is in effect */
  unsigned connected : 1; /* peer and local hold addresses */
  unsigned wpaused : 1;   /* wqueued passed high, not yet below low */
  unsigned eof_written : 1;
  unsigned closing : 1; /* close or abort was called, or the connection lost */
  unsigned dropped : 1; /* the queued writes are being dropped */
  unsigned is_pipe : 1; /* h is a pipe or a TTY, else TCP */
  unsigned is_file : 1; /* no handle: reads fd on the thread pool */
  unsigned fbusy : 1;   /* a read of fd is in progress */
  unsigned linger : 1;  /* closed, the handle waits for TLS's closing
                        ** exchange (the peer's close_notify) to end */
  uv_file fd;           /* owns: a TTY's, or a regular file's to read */
  waitlist drainers, closers;
  struct sockaddr_storage peer, local;
  luaio_stream_t *next_conn; /* a server's queue of accepted streams */
  luaio__tls *tls;           /* owns: TLS (tls.c), or NULL */
};

luaio_stream_t *luaio_stream_new(luaio_loop_t *loop, size_t limit) {
  luaio_stream_t *s = luaio__alloc(sizeof *s);
  if (s == NULL)
    return NULL;
  memset(s, 0, sizeof *s);
  s->loop = loop;
  s->refs = 1;
  s->hstate = H_NONE;
  s->limit = limit > 0 ? limit : LUAIO_STREAM_LIMIT;
  s->high = LUAIO_STREAM_HIGH_WATER;
  s->low = LUAIO_STREAM_LOW_WATER;
  return s;
}

void luaio_stream_ref(luaio_stream_t *s) {
  s->refs++;
}

/* Small input buffers go back to a pool of the loop's, while a stream
** handle is open, so that a stream at rest holds none and one that
** reads holds one without a malloc per read. */
#define SMALL_BUF 1024
#define POOL_MAX 64

/* Nonzero while s has a handle, which the loop outlives: only then is its
** buffer counted in the loop's and taken from its pool. A stream without
** one may outlive its loop. */
static inline int attached(const luaio_stream_t *s) {
  return s->hstate == H_OPEN || s->hstate == H_CLOSING;
}

/* Gives s, which holds no input buffer, a small one; att is attached(s).
** Returns 0 or LUAIO_ENOMEM. */
static inline int buf_take_small(luaio_stream_t *s, int att) {
  luaio_loop_t *loop = s->loop;
  char *b;
  if (att && (b = loop->stream_pool) != NULL) {
    memcpy(&loop->stream_pool, b, sizeof b); /* the next one */
    loop->stream_npool--;
  } else if ((b = luaio__alloc(SMALL_BUF)) == NULL) {
    return LUAIO_ENOMEM;
  }
  s->buf = b;
  s->cap = SMALL_BUF;
  if (att)
    loop->stream_bytes += SMALL_BUF;
  return 0;
}

/* Frees the input buffer, which must be empty or no longer wanted. */
static inline void buf_release(luaio_stream_t *s) {
  char *b = s->buf;
  if (b == NULL)
    return;
  luaio_loop_t *loop = s->loop;
  if (!attached(s)) {
    luaio__free(b, s->cap);
  } else {
    loop->stream_bytes -= s->cap;
    if (s->cap == SMALL_BUF && loop->stream_npool < POOL_MAX) {
      memcpy(b, &loop->stream_pool, sizeof b);
      loop->stream_pool = b;
      loop->stream_npool++;
    } else if (s->cap == READ_CHUNK && loop->stream_spare == NULL) {
      loop->stream_spare = b; /* the next read buffer, see read_cb */
    } else {
      luaio__free(b, s->cap);
    }
  }
  s->buf = NULL;
  s->start = s->len = s->cap = 0;
}

/* Makes room for n more bytes after the input. Returns 0 or
** LUAIO_ENOMEM. */
static int buf_reserve(luaio_stream_t *s, size_t n) {
  if (s->cap - (s->start + s->len) >= n)
    return 0;
  if (s->buf == NULL && n <= SMALL_BUF)
    return buf_take_small(s, attached(s));
  if (s->start > 0) {
    memmove(s->buf, s->buf + s->start, s->len);
    s->start = 0;
    if (s->cap - s->len >= n)
      return 0;
  }
  size_t ncap = s->cap * 2;
  if (ncap < s->len + n)
    ncap = s->len + n;
  char *nbuf = luaio__realloc(s->buf, s->cap, ncap);
  if (nbuf == NULL)
    return LUAIO_ENOMEM;
  if (attached(s))
    s->loop->stream_bytes += ncap - s->cap;
  s->buf = nbuf;
  s->cap = ncap;
  return 0;
}

void luaio_stream_unref(luaio_stream_t *s) {
  assert(s->refs > 0);
  if (--s->refs > 0)
    return;
  assert(s->hstate == H_NONE || s->hstate == H_CLOSED);
  luaio__waitlist_clear(&s->drainers);
  luaio__waitlist_clear(&s->closers);
  if (s->rwait != NULL)
    luaio_future_unref(s->rwait);
  buf_release(s);
  if (s->is_file) {
    uv_fs_t req;
    uv_fs_close(NULL, &req, s->fd, NULL);
    uv_fs_req_cleanup(&req);
  }
  if (s->tls != NULL)
    luaio__tls_free(s->tls);
  luaio__free(s, sizeof *s);
}

size_t luaio_stream_memory(const luaio_loop_t *loop, size_t *shared) {
  *shared = loop->stream_npool * SMALL_BUF +
            (loop->stream_rbuf != NULL ? READ_CHUNK : 0) +
            (loop->stream_spare != NULL ? READ_CHUNK : 0);
  return loop->stream_bytes;
}

static void wake_reader(luaio_stream_t *s) {
  luaio_future_t *fut = s->rwait;
  if (fut == NULL)
    return;
  s->rwait = NULL;
  if (!luaio_future_done(fut))
    luaio_future_set_result(fut);
  luaio_future_unref(fut);
}

/* {======================================================================
** Reading from libuv. A stream at rest holds no input buffer: libuv reads
** into a buffer the loop's streams share, and what arrives is copied into
** the stream's own, sized to what it holds. A read of READ_DIRECT bytes
** or more into a stream that held none makes the shared buffer the
** stream's (the loop keeps a spare to read into next), and such a stream
** is then read into in place while it holds input. Reading stops while
** more than twice limit bytes are buffered and nobody waits for more
** (asyncio's pause_reading).
** ======================================================================= */

static void read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);

/* libuv calls read_cb with the buffer before it calls alloc_cb again, and
** read_cb never reads, so one shared buffer serves every stream. */
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  luaio_stream_t *s = h->data;
  (void)suggested;
  /* A stream in a bulk transfer (its buffer is a read's size) that still
  ** holds input is read into in place, its buffer made room in; with TLS,
  ** the shared buffer always takes what comes. */
  if (s->cap >= READ_CHUNK && s->tls == NULL &&
      buf_reserve(s, READ_DIRECT) == 0) {
    size_t end = s->start + s->len;
    *buf = uv_buf_init(s->buf + end, (unsigned)(s->cap - end));
  } else {
    *buf = uv_buf_init(s->loop->stream_rbuf, READ_CHUNK);
  }
}

static void read_resume(luaio_stream_t *s) {
  if (s->hstate != H_OPEN || !s->connected || s->reading || s->eof ||
      s->closing)
    return;
  if (s->len > s->limit && s->rwait == NULL)
    return;
  if (uv_read_start(&s->h.stream, alloc_cb, read_cb) == 0)
    s->reading = 1;
}

static void read_pause(luaio_stream_t *s) {
  if (s->reading) {
    uv_read_stop(&s->h.stream);
    s->reading = 0;
  }
}

static void handle_close(luaio_stream_t *s);

/* A regular file cannot be polled: a stream over one to read has no
** handle, and reads a chunk on the thread pool each time a reader waits
** (so it reads no further ahead than asked), feeding what it gets. */
typedef struct {
  uv_fs_t req;
  luaio_stream_t *s; /* holds a reference while the read runs */
  char data[READ_CHUNK];
} file_read;

static void file_read_cb(uv_fs_t *req) {
  file_read *r = req->data;
  luaio_stream_t *s = r->s;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  s->fbusy = 0;
  if (!s->eof) { /* else closed meanwhile: what was read is dropped */
    if (n > 0 && luaio_stream_feed(s, r->data, (size_t)n) != 0)
      n = LUAIO_ENOMEM;
    if (n <= 0)
      luaio_stream_feed_eof(s, (int)n);
  }
  luaio__free(r, sizeof *r);
  luaio_stream_unref(s);
}

static void file_read_start(luaio_stream_t *s) {
  if (s->fbusy)
    return;
  file_read *r = luaio__alloc(sizeof *r);
  if (r == NULL) {
    luaio_stream_feed_eof(s, LUAIO_ENOMEM);
    return;
  }
  r->s = s;
  r->req.data = r;
  uv_buf_t b = uv_buf_init(r->data, sizeof r->data);
  int rc = uv_fs_read(luaio_loop_uv(s->loop), &r->req, s->fd, &b, 1, -1,
                      file_read_cb);
  if (rc != 0) {
    luaio__free(r, sizeof *r);
    luaio_stream_feed_eof(s, rc);
    return;
  }
  s->fbusy = 1;
  luaio_stream_ref(s);
}

/* The connection is lost (asyncio's _force_close): queued data is
** dropped, writing and drain report err, and the handle closes. */
static void stream_lost(luaio_stream_t *s, int err) {
  if (s->werr == 0) {
    s->werr = err;
    waitlist_wake_all(&s->drainers);
  }
  s->closing = 1;
  s->dropped = 1;
  handle_close(s);
}

/* The input ended, cleanly (err 0) or not (the connection is lost). */
static void input_end(luaio_stream_t *s, int err) {
  if (s->tls != NULL)
    luaio__tls_input_end(s, err);
  read_pause(s);
  if (!s->eof) {
    s->eof = 1;
    s->rerr = err;
  }
  if (err != 0)
    stream_lost(s, err);
  wake_reader(s);
}

static void read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
  luaio_stream_t *s = h->data;
  if (nread > 0) {
    size_t n = (size_t)nread;
    luaio_loop_t *loop = s->loop;
    if (s->tls != NULL) {
      luaio__tls_input(s, buf->base, n); /* appends the text decrypted */
      if (s->eof)
        return;
      n = 0;
    } else if (buf->base == loop->stream_rbuf) {
      /* Much input for a stream that held none (a bulk transfer): the
      ** stream takes the shared buffer as its own rather than a copy,
      ** and the loop reads into its spare one next. */
      if (s->buf == NULL && n >= READ_DIRECT &&
          (loop->stream_spare != NULL ||
           (loop->stream_spare = luaio__alloc(READ_CHUNK)) != NULL)) {
        s->buf = loop->stream_rbuf;
        s->cap = READ_CHUNK;
        loop->stream_bytes += READ_CHUNK;
        loop->stream_rbuf = loop->stream_spare;
        loop->stream_spare = NULL;
        goto kept;
      }
      int rc = s->buf == NULL && n <= SMALL_BUF ? buf_take_small(s, 1)
                                                : buf_reserve(s, n);
      if (rc != 0) {
        input_end(s, UV_ENOBUFS); /* the data is lost: so is the stream */
        return;
      }
      memcpy(s->buf + s->start + s->len, buf->base, n);
    }
  kept:
    s->len += n;
    if (s->len > 2 * s->limit && s->rwait == NULL)
      read_pause(s);
    wake_reader(s);
  } else if (nread < 0) {
    input_end(s, nread == UV_EOF ? 0 : (int)nread);
  }
}

/* }====================================================================== */

/* {======================================================================
** The input buffer and the read requests
** ======================================================================= */

int luaio_stream_feed(luaio_stream_t *s, const char *data, size_t len) {
  if (s->eof)
    return LUAIO_EINVALSTATE;
  if (len == 0)
    return 0;
  if (buf_reserve(s, len) != 0)
    return LUAIO_ENOMEM;
  memcpy(s->buf + s->start + s->len, data, len);
  s->len += len;
  wake_reader(s);
  return 0;
}

void luaio_stream_feed_eof(luaio_stream_t *s, int err) {
  input_end(s, err);
}

const char *luaio_stream_buffer(const luaio_stream_t *s, size_t *len) {
  *len = s->len;
  return s->buf != NULL ? s->buf + s->start : "";
}

void luaio_stream_consume(luaio_stream_t *s, size_t n) {
  assert(n <= s->len);
  s->start += n;
  s->len -= n;
  if (s->len == 0)
    buf_release(s); /* at rest, a stream holds no input buffer */
  if (!s->reading)
    read_resume(s);
}

int luaio_stream_at_eof(const luaio_stream_t *s) {
  return s->eof && s->len == 0;
}

int luaio_stream_read(luaio_stream_t *s, long n, size_t *len) {
  *len = 0;
  if (n == 0)
    return 0;
  if (n > 0 && s->len > 0) {
    *len = s->len < (size_t)n ? s->len : (size_t)n;
    return 0;
  }
  if (!s->eof)
    return UV_EAGAIN;
  if (s->rerr != 0)
    return s->rerr;
  *len = s->len;
  return 0;
}

int luaio_stream_readexactly(luaio_stream_t *s, size_t n, size_t *len) {
  *len = 0;
  if (s->len >= n) {
    *len = n;
    return 0;
  }
  if (!s->eof)
    return UV_EAGAIN;
  if (s->rerr != 0)
    return s->rerr;
  *len = s->len;
  return UV_EOF;
}

/* The offset of the first sep in the buffer, or -1. */
static long find_sep(const luaio_stream_t *s, const char *sep, size_t seplen) {
  const char *p = s->buf + s->start;
  if (s->len < seplen)
    return -1;
  for (size_t i = 0; i + seplen <= s->len; i++) {
    const char *q = memchr(p + i, sep[0], s->len - seplen + 1 - i);
    if (q == NULL)
      return -1;
    i = (size_t)(q - p);
    if (memcmp(q, sep, seplen) == 0)
      return (long)i;
  }
  return -1;
}

int luaio_stream_readuntil(luaio_stream_t *s, const char *sep, size_t seplen,
                           size_t *len) {
  assert(seplen >= 1);
  *len = 0;
  long isep = find_sep(s, sep, seplen);
  if (isep >= 0) {
    /* As asyncio: a separator found past the limit is an overrun too. */
    if ((size_t)isep > s->limit) {
      *len = (size_t)isep;
      return UV_ENOBUFS;
    }
    *len = (size_t)isep + seplen;
    return 0;
  }
  if (s->len + 1 > s->limit + seplen) {
    *len = s->len;
    return UV_ENOBUFS;
  }
  if (!s->eof)
    return UV_EAGAIN;
  if (s->rerr != 0)
    return s->rerr;
  *len = s->len;
  return UV_EOF;
}

int luaio_stream_wait_read(luaio_stream_t *s, luaio_future_t **out) {
  *out = NULL;
  if (s->rwait != NULL)
    return LUAIO_EBUSY;
  luaio_future_t *fut = luaio_future_new(s->loop);
  if (fut == NULL)
    return LUAIO_ENOMEM;
  luaio_future_ref(fut); /* the stream's, until woken */
  s->rwait = fut;
  if (s->eof)
    wake_reader(s); /* nothing more will come: try again at once */
  else if (s->is_file)
    file_read_start(s);
  else
    read_resume(s); /* someone waits: read even past the limit */
  *out = fut;
  return 0;
}

int luaio_stream_wait_read_finish(luaio_stream_t *s, luaio_future_t *fut,
                                  int err) {
  int rc = wait_outcome(fut, err);
  if (s->rwait == fut) {
    s->rwait = NULL;
    luaio_future_unref(fut);
  }
  if (s->len > 2 * s->limit && s->rwait == NULL)
    read_pause(s);
  return rc;
}

/* }====================================================================== */

/* {======================================================================
** Writing
** ======================================================================= */

typedef struct {
  uv_write_t req;
  luaio_stream_t *s;
  size_t len;
  char data[];
} wreq;

static void write_cb(uv_write_t *req, int status) {
  wreq *w = container_of(req, wreq, req);
  luaio_stream_t *s = w->s;
  s->loop->npeer_reqs--;
  s->wqueued -= w->len;
  luaio__free(w, sizeof *w + w->len);
  if (status < 0 && status != UV_ECANCELED)
    input_end(s, status); /* as asyncio: the reader hears of it too */
  if (s->wpaused && s->wqueued + s->wheld <= s->low) {
    s->wpaused = 0;
    waitlist_wake_all(&s->drainers);
  }
  if (s->closing && s->wqueued == 0 && !s->linger)
    handle_close(s);
}

int luaio_stream_write(luaio_stream_t *s, const char *data, size_t len) {
  if (s->hstate == H_NONE)
    return LUAIO_EINVALSTATE;
  if (s->eof_written)
    return UV_EPIPE;
  /* As asyncio: what is written to a closed or lost connection is
  ** dropped; drain() and the reads report the loss. */
  if (s->closing || s->hstate != H_OPEN || len == 0)
    return 0;
  if (s->tls != NULL) {
    luaio__tls_write(s, data, len);
    return 0;
  }
  return luaio__stream_send(s, data, len);
}

int luaio__stream_send(luaio_stream_t *s, const char *data, size_t len) {
  if (s->hstate != H_OPEN || s->dropped || len == 0)
    return 0;
  if (s->wqueued == 0) {
    /* Nothing queued: write at once what the socket takes. A request
    ** costs an allocation, a copy, and in libuv one more epoll_ctl when
    ** it completes; most writes fit and need none. Errors are left to
    ** the request below, which reports them as it always has. */
    uv_buf_t now = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write(&s->h.stream, &now, 1);
    if (n > 0) {
      data += n;
      len -= (size_t)n;
      if (len == 0)
        return 0;
    }
  }
  wreq *w = luaio__alloc(sizeof *w + len);
  if (w == NULL)
    return LUAIO_ENOMEM;
  w->s = s;
  w->len = len;
  memcpy(w->data, data, len);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
  int rc = uv_write(&w->req, &s->h.stream, &b, 1, write_cb);
  if (rc != 0) {
    luaio__free(w, sizeof *w + len);
    input_end(s, rc);
    return 0;
  }
  s->loop->npeer_reqs++; /* a virtual clock may jump over it (clock.c) */
  s->wqueued += len;
  if (s->wqueued > s->high)
    s->wpaused = 1;
  return 0;
}

size_t luaio_stream_write_buffer_size(const luaio_stream_t *s) {
  return s->dropped ? 0 : s->wqueued + s->wheld;
}

void luaio_stream_set_write_limits(luaio_stream_t *s, size_t high, size_t low) {
  s->high = high;
  s->low = low < high ? low : high;
  if (s->wqueued + s->wheld > s->high)
    s->wpaused = 1;
  else if (s->wpaused && s->wqueued + s->wheld <= s->low) {
    s->wpaused = 0;
    waitlist_wake_all(&s->drainers);
  }
}

int luaio_stream_drain(luaio_stream_t *s, luaio_future_t **out) {
  *out = NULL;
  if (!s->wpaused && !s->closing && s->werr == 0)
    return 0;
  if (s->werr != 0)
    return s->werr;
  if (s->closing && (s->dropped || s->wqueued == 0))
    return LUAIO_EINVALSTATE; /* closed by us: nothing will drain */
  if (!s->wpaused)
    return 0;
  waiter *w = luaio__waiter_push(&s->drainers, s->loop);
  if (w == NULL)
    return LUAIO_ENOMEM;
  *out = &w->base;
  return 0;
}

int luaio_stream_drain_finish(luaio_stream_t *s, luaio_future_t *fut, int err) {
  waiter *w = luaio__waiter_of(fut, &s->drainers);
  int rc = wait_outcome(fut, err);
  luaio__waiter_unlink(w);
  if (rc == 0)
    rc = s->werr;
  return rc;
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  (void)status; /* a failed shutdown shows in later reads and writes */
  ((luaio_stream_t *)req->handle->data)->loop->npeer_reqs--;
  luaio__free(req, sizeof *req);
}

/* Ends the output: close_notify with TLS, then the socket's. Returns 0,
** LUAIO_ENOMEM or libuv's error. */
static int send_eof(luaio_stream_t *s) {
  uv_shutdown_t *req = luaio__alloc(sizeof *req);
  if (req == NULL)
    return LUAIO_ENOMEM;
  if (s->tls != NULL)
    luaio__tls_shutdown(s);
  int rc = uv_shutdown(req, &s->h.stream, shutdown_cb);
  if (rc != 0) {
    luaio__free(req, sizeof *req);
    return rc;
  }
  s->loop->npeer_reqs++;
  return 0;
}

int luaio_stream_write_eof(luaio_stream_t *s) {
  if (s->hstate == H_NONE)
    return LUAIO_EINVALSTATE;
  if (s->closing || s->hstate != H_OPEN || s->eof_written)
    return 0; /* as asyncio: nothing to do */
  /* During a TLS handshake, the end follows what is queued, after it. */
  int rc = s->tls != NULL && luaio__tls_defer_eof(s) ? 0 : send_eof(s);
  if (rc == 0)
    s->eof_written = 1;
  return rc;
}

void luaio__stream_send_eof(luaio_stream_t *s) {
  if (s->hstate != H_OPEN || s->closing)
    return;
  int rc = send_eof(s);
  if (rc != 0)
    input_end(s, rc); /* the end cannot be sent: the connection is lost */
}

/* }====================================================================== */

/* {======================================================================
** The handle's life
** ======================================================================= */

/* Frees the shared read buffer and the pool once no stream handle is
** open. */
static void stream_rbuf_drop(luaio_loop_t *loop) {
  if (loop->stream_nopen > 0)
    return;
  luaio__free(loop->stream_rbuf, READ_CHUNK);
  luaio__free(loop->stream_spare, READ_CHUNK);
  loop->stream_rbuf = loop->stream_spare = NULL;
  while (loop->stream_pool != NULL) {
    char *b = loop->stream_pool;
    memcpy(&loop->stream_pool, b, sizeof b);
    luaio__free(b, SMALL_BUF);
  }
  loop->stream_npool = 0;
}

#define OPEN_TTY 2 /* stream_open's is_pipe for a TTY: on s->fd */

/* Gives s an open handle (a pipe, a TTY, else TCP), which holds a
** reference to s and keeps the shared read buffer. */
static int stream_open(luaio_stream_t *s, int is_pipe) {
  assert(s->hstate == H_NONE);
  luaio_loop_t *loop = s->loop;
  if (loop->stream_rbuf == NULL) {
    loop->stream_rbuf = luaio__alloc(READ_CHUNK);
    if (loop->stream_rbuf == NULL)
      return LUAIO_ENOMEM;
  }
  int rc = is_pipe == OPEN_TTY ? uv_tty_init(luaio_loop_uv(loop), &s->h.tty,
                                              s->fd, 1)
           : is_pipe          ? uv_pipe_init(luaio_loop_uv(loop), &s->h.pipe, 0)
                              : uv_tcp_init(luaio_loop_uv(loop), &s->h.tcp);
  if (rc != 0) {
    stream_rbuf_drop(loop);
    return rc;
  }
  loop->stream_nopen++;
  loop->stream_bytes += s->cap;
  s->is_pipe = is_pipe != 0;
  s->h.handle.data = s;
  s->hstate = H_OPEN;
  s->refs++;
  return 0;
}

/* The handle is connected: remember the addresses and start reading. */
static void stream_connected(luaio_stream_t *s) {
  uv_os_fd_t fd;
  if (uv_fileno(&s->h.handle, &fd) == 0) {
    socklen_t len = sizeof s->peer;
    getpeername(fd, (struct sockaddr *)&s->peer, &len);
    len = sizeof s->local;
    getsockname(fd, (struct sockaddr *)&s->local, &len);
  }
  s->connected = 1;
  if (!s->is_pipe)
    uv_tcp_nodelay(&s->h.tcp, 1); /* as asyncio does for TCP */
  read_resume(s);
}

static void close_cb(uv_handle_t *h) {
  luaio_stream_t *s = h->data;
  s->loop->stream_bytes -= s->cap; /* what is unread stays, uncounted */
  s->hstate = H_CLOSED;
  s->loop->stream_nopen--;
  stream_rbuf_drop(s->loop);
  input_end(s, 0);
  waitlist_wake_all(&s->drainers);
  waitlist_wake_all(&s->closers);
  luaio_stream_unref(s); /* the handle's reference */
}

static void handle_close(luaio_stream_t *s) {
  if (s->hstate != H_OPEN)
    return;
  s->hstate = H_CLOSING;
  read_pause(s);
  uv_close(&s->h.handle, close_cb);
}

void luaio_stream_close(luaio_stream_t *s) {
  if (s->closing)
    return;
  int peer_open = !s->eof;
  /* The reader sees the end of input now; what is buffered stays. */
  input_end(s, 0);
  /* With TLS, the handle stays open until the peer answers close_notify
  ** (or TLS's deadline passes): reading goes on, for tls.c only. */
  int linger = s->tls != NULL && peer_open && luaio__tls_close(s);
  s->closing = 1;
  if (linger) {
    s->linger = 1;
    if (!s->reading && uv_read_start(&s->h.stream, alloc_cb, read_cb) == 0)
      s->reading = 1;
    return;
  }
  if (s->wqueued == 0)
    handle_close(s);
}

void luaio_stream_abort(luaio_stream_t *s) {
  s->linger = 0; /* a reset, not the end of TLS's closing exchange */
  s->closing = 1;
  s->dropped = 1;
  input_end(s, 0);
  if (s->hstate != H_OPEN)
    return;
  if (s->connected && !s->is_pipe) {
    s->hstate = H_CLOSING;
    read_pause(s);
    if (uv_tcp_close_reset(&s->h.tcp, close_cb) == 0)
      return;
    s->hstate = H_OPEN; /* a shutdown in progress: close plainly */
  }
  handle_close(s);
}

int luaio_stream_is_closing(const luaio_stream_t *s) {
  return s->closing;
}

int luaio_stream_wait_closed(luaio_stream_t *s, luaio_future_t **out) {
  *out = NULL;
  if (s->hstate == H_NONE || s->hstate == H_CLOSED)
    return 0;
  waiter *w = luaio__waiter_push(&s->closers, s->loop);
  if (w == NULL)
    return LUAIO_ENOMEM;
  *out = &w->base;
  return 0;
}

int luaio_stream_open_fd(luaio_loop_t *loop, int fd, int writable,
                         size_t limit, luaio_stream_t **out) {
  *out = NULL;
  uv_handle_type type = uv_guess_handle(fd);
  if (type == UV_UNKNOWN_HANDLE)
    return UV_EBADF;
  if (type == UV_UDP)
    return UV_EINVAL;
  /* A copy of fd, so that closing the stream leaves fd open. */
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (dup < 0)
    return uv_translate_sys_error(errno);
  luaio_stream_t *s = luaio_stream_new(loop, limit);
  int rc = LUAIO_ENOMEM;
  if (s == NULL)
    goto fail;
  s->fd = dup;
  if (type == UV_FILE && !writable) {
    s->is_file = 1; /* owns dup now */
    *out = s;
    return 0;
  }
  rc = stream_open(s, type == UV_TTY ? OPEN_TTY : 1);
  if (rc != 0)
    goto fail;
  if (type != UV_TTY) {
    rc = uv_pipe_open(&s->h.pipe, dup);
    if (rc != 0) {
      luaio_stream_abort(s);
      luaio_stream_unref(s);
      goto close;
    }
  }
  if (type == UV_FILE)
    uv_stream_set_blocking(&s->h.stream, 1); /* never polled: see above */
  if (writable)
    s->eof = 1; /* a writer reads nothing; fd may be write-only */
  stream_connected(s);
  *out = s;
  return 0;
fail:
  if (s != NULL)
    luaio_stream_unref(s);
close:;
  uv_fs_t req;
  uv_fs_close(NULL, &req, dup, NULL);
  uv_fs_req_cleanup(&req);
  return rc;
}

static int name_of(const struct sockaddr_storage *sa, char *host, size_t size,
                   int *port) {
  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const void *)sa;
    uv_ip4_name(in, host, size);
    *port = ntohs(in->sin_port);
  } else if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const void *)sa;
    uv_ip6_name(in6, host, size);
    *port = ntohs(in6->sin6_port);
  } else if (sa->ss_family == AF_UNIX && size > 0) {
    const struct sockaddr_un *un = (const void *)sa;
    size_t n = strnlen(un->sun_path, sizeof un->sun_path);
    if (n >= size)
      n = size - 1;
    memcpy(host, un->sun_path, n);
    host[n] = '\0';
    *port = -1;
  } else {
    return LUAIO_EINVALSTATE;
  }
  return 0;
}

int luaio_stream_peername(const luaio_stream_t *s, char *host, size_t size,
                          int *port) {
  if (!s->connected)
    return LUAIO_EINVALSTATE;
  return name_of(&s->peer, host, size, port);
}

int luaio_stream_sockname(const luaio_stream_t *s, char *host, size_t size,
                          int *port) {
  if (!s->connected)
    return LUAIO_EINVALSTATE;
  return name_of(&s->local, host, size, port);
}

/* }====================================================================== */

/* {======================================================================
** Connecting: resolve, then try each address in turn, under an optional
** deadline. The operation is a future; the pending libuv request, the
** lookup's callback and the timer each hold a reference to it.
** ======================================================================= */

typedef struct {
  luaio_future_t base;           /* first: the operation is a future */
  luaio_future_t *gai;           /* owns: the lookup */
  const luaio_addrinfo_t *addrs; /* borrowed from gai */
  size_t naddrs, next;
  luaio_stream_t *s; /* owns: the attempt in progress, then the result */
  uv_connect_t req;
  int connecting; /* req is in flight */
  int lasterr;
  luaio_handle_t *timer; /* owns, while armed */
  size_t limit;
} connect_op;

static void op_stop(connect_op *op);

/* Closes a connection that nobody took, dropping the op's reference. */
static void op_drop_stream(connect_op *op) {
  if (op->s != NULL) {
    luaio_stream_abort(op->s);
    luaio_stream_unref(op->s);
    op->s = NULL;
  }
}

static void op_free(luaio_future_t *fut) {
  connect_op *op = (connect_op *)fut;
  assert(!op->connecting && op->timer == NULL);
  op_drop_stream(op);
  if (op->gai != NULL)
    luaio_future_unref(op->gai);
  luaio__free(op, sizeof *op);
}

static int op_cancel(luaio_future_t *fut, const char *msg) {
  int rc = luaio__future_cancel_plain(fut, msg);
  if (rc == 1)
    op_stop((connect_op *)fut);
  return rc;
}

static const luaio__future_kind connect_kind = {.cancel = op_cancel,
                                                .free = op_free};

/* The operation is done: let go of the timer, the lookup and the
** attempt in progress (its callback will find the operation done). */
static void op_stop(connect_op *op) {
  if (op->timer != NULL) {
    luaio_handle_t *h = op->timer;
    op->timer = NULL;
    luaio_handle_cancel(h);
    luaio_handle_unref(h);
  }
  if (op->gai != NULL && !luaio_future_done(op->gai))
    luaio_future_cancel(op->gai, NULL);
  if (op->connecting)
    luaio_stream_abort(op->s); /* connect_cb comes with UV_ECANCELED */
}

static void op_fail(connect_op *op, int err) {
  if (luaio_future_done(&op->base))
    return;
  luaio_future_set_error(&op->base, err);
  op_stop(op);
}

static void connect_cb(uv_connect_t *req, int status);

static void op_try_next(connect_op *op) {
  while (op->next < op->naddrs) {
    const luaio_addrinfo_t *a = &op->addrs[op->next++];
    luaio_stream_t *s = luaio_stream_new(op->base.loop, op->limit);
    if (s == NULL) {
      op_fail(op, LUAIO_ENOMEM);
      return;
    }
    int rc = stream_open(s, 0);
    if (rc == 0)
      rc = uv_tcp_connect(&op->req, &s->h.tcp, (const struct sockaddr *)&a->sa,
                          connect_cb);
    if (rc == 0) {
      op->s = s;
      op->connecting = 1;
      luaio_future_ref(&op->base); /* the request's */
      return;
    }
    op->lasterr = rc;
    luaio_stream_abort(s);
    luaio_stream_unref(s);
  }
  op_fail(op, op->lasterr != 0 ? op->lasterr : UV_EAI_NONAME);
}

static void connect_cb(uv_connect_t *req, int status) {
  connect_op *op = container_of(req, connect_op, req);
  luaio_stream_t *s = op->s;
  op->connecting = 0;
  if (luaio_future_done(&op->base) || status < 0) {
    op->s = NULL;
    luaio_stream_abort(s);
    luaio_stream_unref(s);
    if (!luaio_future_done(&op->base)) {
      op->lasterr = status;
      op_try_next(op);
    }
  } else {
    stream_connected(s);
    luaio_future_set_result(&op->base);
    op_stop(op);
  }
  luaio_future_unref(&op->base); /* the request's */
}

static void resolved_cb(luaio_future_t *gai, void *arg) {
  connect_op *op = arg;
  if (luaio_future_done(&op->base))
    return;
  int rc = luaio_getaddrinfo_finish(gai, 0, &op->addrs, &op->naddrs);
  if (rc != 0)
    op_fail(op, rc);
  else
    op_try_next(op);
}

static void timeout_cb(void *arg) {
  op_fail(arg, LUAIO_ETIMEOUT);
}

static void op_unref(void *arg) {
  luaio_future_unref(arg);
}

/* Finishes starting op: when ok, arms its deadline (if it has one) and
** returns it; else, or out of memory, stops and drops it, and returns
** NULL. */
static luaio_future_t *op_started(connect_op *op, int ok, double timeout) {
  if (ok && timeout > 0) {
    luaio_future_ref(&op->base);
    ok = luaio_call_later(op->base.loop, timeout, timeout_cb, op, op_unref,
                          &op->timer) == 0;
    if (!ok)
      luaio_future_unref(&op->base);
  }
  if (ok)
    return &op->base;
  op_stop(op);
  luaio_future_unref(&op->base);
  return NULL;
}

luaio_future_t *luaio_stream_connect(luaio_loop_t *loop, const char *host,
                                     int port, double timeout, size_t limit) {
  connect_op *op =
      (connect_op *)luaio__future_alloc(loop, &connect_kind, sizeof *op);
  if (op == NULL)
    return NULL;
  op->limit = limit;
  op->gai = luaio_getaddrinfo(loop, host, port, 0);
  if (op->gai == NULL)
    return op_started(op, 0, 0);
  luaio_future_ref(&op->base);
  if (luaio_future_add_done_cb(op->gai, resolved_cb, op, op_unref) != 0) {
    luaio_future_unref(&op->base);
    return op_started(op, 0, 0);
  }
  return op_started(op, 1, timeout);
}

luaio_future_t *luaio_stream_connect_unix(luaio_loop_t *loop, const char *path,
                                          double timeout, size_t limit) {
  connect_op *op =
      (connect_op *)luaio__future_alloc(loop, &connect_kind, sizeof *op);
  if (op == NULL)
    return NULL;
  op->limit = limit;
  if (strlen(path) >= sizeof ((struct sockaddr_un *)0)->sun_path) {
    op_fail(op, UV_ENAMETOOLONG); /* libuv would cut it short */
    return &op->base;
  }
  luaio_stream_t *s = luaio_stream_new(loop, limit);
  if (s == NULL || stream_open(s, 1) != 0) {
    if (s != NULL)
      luaio_stream_unref(s);
    return op_started(op, 0, 0);
  }
  op->s = s;
  op->connecting = 1;
  luaio_future_ref(&op->base); /* the request's */
  uv_pipe_connect(&op->req, &s->h.pipe, path, connect_cb);
  return op_started(op, 1, timeout);
}

int luaio_stream_connect_finish(luaio_future_t *fut, int err,
                                luaio_stream_t **out) {
  connect_op *op = (connect_op *)fut;
  assert(fut->kind == &connect_kind);
  *out = NULL;
  int rc = wait_outcome(fut, err);
  if (rc != 0) {
    luaio_future_cancel(fut, NULL); /* stops it, when still pending */
    op_drop_stream(op); /* connected meanwhile: close now, not when the
                        ** last reference to fut goes */
    return rc;
  }
  assert(op->s != NULL);
  *out = op->s; /* moves ownership */
  op->s = NULL;
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** Servers: one listening socket per address. libuv accepts one
** connection at a time: while the server is not serving, a connection
** waits in libuv (not accepted) and libuv stops polling that socket, so
** the others wait in the kernel's queue.
** ======================================================================= */

typedef struct listener listener;
struct listener {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  luaio_server_t *srv;
  listener *next;
  int hstate;
  unsigned pending : 1; /* libuv holds a connection not yet accepted */
  unsigned is_pipe : 1;
  struct sockaddr_storage local; /* where it listens, once it does */
  char *path; /* owns: the socket file to remove on close, or NULL */
  struct stat st; /* the file's, to remove it only if it is still ours */
};

struct luaio_server_s {
  luaio_loop_t *loop;
  int refs; /* an open handle holds one; so does a scheduled delivery */
  int hstate;     /* H_OPEN from the first listen until every socket closed */
  int nopen;      /* sockets open or closing */
  listener *head; /* owns; freed with the server */
  luaio_connection_cb cb;
  luaio_accept_error_cb on_error; /* or NULL */
  void *arg; /* borrowed */
  size_t limit;
  int port;
  unsigned serving : 1;
  unsigned closing : 1;
  unsigned reuse_port : 1;
  luaio_stream_t *qhead, *qtail; /* owns: accepted, not yet delivered */
  luaio_handle_t *deliver;       /* owns, while scheduled */
  waitlist closers;
};

luaio_server_t *luaio_server_new(luaio_loop_t *loop, luaio_connection_cb cb,
                                 void *arg, size_t limit) {
  luaio_server_t *srv = luaio__alloc(sizeof *srv);
  if (srv == NULL)
    return NULL;
  memset(srv, 0, sizeof *srv);
  srv->loop = loop;
  srv->refs = 1;
  srv->hstate = H_NONE;
  srv->cb = cb;
  srv->arg = arg;
  srv->limit = limit;
  srv->port = -1;
  return srv;
}

void luaio_server_on_accept_error(luaio_server_t *srv,
                                  luaio_accept_error_cb cb) {
  srv->on_error = cb;
}

/* Tells of a failed accept, unless the server is closing. */
static void server_accept_failed(luaio_server_t *srv, int err) {
  if (srv->on_error != NULL && !srv->closing)
    srv->on_error(srv, err, srv->arg);
}

void luaio_server_ref(luaio_server_t *srv) {
  srv->refs++;
}

void luaio_server_unref(luaio_server_t *srv) {
  assert(srv->refs > 0);
  if (--srv->refs > 0)
    return;
  assert(srv->hstate == H_NONE || srv->hstate == H_CLOSED);
  assert(srv->qhead == NULL && srv->deliver == NULL);
  luaio__waitlist_clear(&srv->closers);
  while (srv->head != NULL) {
    listener *l = srv->head;
    srv->head = l->next;
    luaio__strfree(l->path);
    luaio__free(l, sizeof *l);
  }
  luaio__free(srv, sizeof *srv);
}

/* Closes the connections accepted and not delivered. */
static void server_drop_queue(luaio_server_t *srv) {
  while (srv->qhead != NULL) {
    luaio_stream_t *s = srv->qhead;
    srv->qhead = s->next_conn;
    s->next_conn = NULL;
    luaio_stream_abort(s);
    luaio_stream_unref(s);
  }
  srv->qtail = NULL;
}

static void deliver_cb(void *arg) {
  luaio_server_t *srv = arg;
  luaio_handle_unref(srv->deliver);
  srv->deliver = NULL;
  /* cb may close the server: then the rest is dropped by the close. */
  while (srv->qhead != NULL && !srv->closing) {
    luaio_stream_t *s = srv->qhead;
    srv->qhead = s->next_conn;
    if (srv->qhead == NULL)
      srv->qtail = NULL;
    s->next_conn = NULL;
    srv->cb(srv, s, srv->arg);
  }
}

static void server_unref_cb(void *arg) {
  luaio_server_unref(arg);
}

static void server_accept(listener *l) {
  luaio_server_t *srv = l->srv;
  l->pending = 0;
  luaio_stream_t *s = luaio_stream_new(srv->loop, srv->limit);
  if (s == NULL) {
    l->pending = 1; /* it stays in libuv; the next accept takes it */
    return;
  }
  int rc = stream_open(s, l->is_pipe);
  if (rc == 0)
    rc = uv_accept(&l->h.stream, &s->h.stream);
  if (rc != 0) {
    luaio_stream_abort(s);
    luaio_stream_unref(s);
    if (rc != UV_EAGAIN) /* the connection went away: nothing failed */
      server_accept_failed(srv, rc);
    return;
  }
  stream_connected(s);
  if (srv->qtail != NULL)
    srv->qtail->next_conn = s;
  else
    srv->qhead = s;
  srv->qtail = s;
  if (srv->deliver == NULL) {
    srv->refs++;
    if (luaio_call_soon(srv->loop, deliver_cb, srv, server_unref_cb,
                        &srv->deliver) != 0) {
      srv->refs--;
      server_drop_queue(srv);
    }
  }
}

static void connection_cb(uv_stream_t *h, int status) {
  listener *l = h->data;
  /* A failed accept (ENOBUFS, EPERM from a firewall, ...) is told and the
  ** server goes on: libuv calls again for the next connection. */
  if (status < 0) {
    server_accept_failed(l->srv, status);
    return;
  }
  if (l->srv->closing)
    return;
  if (!l->srv->serving) {
    l->pending = 1;
    return;
  }
  server_accept(l);
}

static void listener_close_cb(uv_handle_t *h) {
  listener *l = h->data;
  luaio_server_t *srv = l->srv;
  l->hstate = H_CLOSED;
  if (--srv->nopen == 0) {
    srv->hstate = H_CLOSED;
    waitlist_wake_all(&srv->closers);
  }
  luaio_server_unref(srv); /* the handle's reference */
}

/* Closes l's socket; as asyncio, removes the socket file it made, unless
** another has taken its place. */
static void listener_close(listener *l) {
  struct stat st;
  l->hstate = H_CLOSING;
  /* An inode number may be reused at once: the change time tells too. */
  if (l->path != NULL && lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
      st.st_ino == l->st.st_ino && st.st_dev == l->st.st_dev &&
      st.st_ctim.tv_sec == l->st.st_ctim.tv_sec &&
      st.st_ctim.tv_nsec == l->st.st_ctim.tv_nsec)
    unlink(l->path);
  uv_close(&l->h.handle, listener_close_cb);
}

/* Adds a listener of the kind asked to srv, its handle open. Returns it,
** or NULL with *rc set. */
static listener *listener_new(luaio_server_t *srv, int is_pipe, int family,
                              int *rc) {
  *rc = LUAIO_EINVALSTATE;
  if (srv->closing)
    return NULL;
  *rc = LUAIO_ENOMEM;
  listener *l = luaio__alloc(sizeof *l);
  if (l == NULL)
    return NULL;
  memset(l, 0, sizeof *l);
  uv_loop_t *uv = luaio_loop_uv(srv->loop);
  if (is_pipe)
    *rc = uv_pipe_init(uv, &l->h.pipe, 0);
  else if (srv->reuse_port) /* the socket is needed now, to set it */
    *rc = uv_tcp_init_ex(uv, &l->h.tcp, (unsigned)family);
  else
    *rc = uv_tcp_init(uv, &l->h.tcp);
  if (*rc != 0) {
    luaio__free(l, sizeof *l);
    return NULL;
  }
  l->h.handle.data = l;
  l->is_pipe = is_pipe != 0;
  l->srv = srv;
  l->hstate = H_OPEN;
  listener **tail = &srv->head; /* in the order they listen */
  while (*tail != NULL)
    tail = &(*tail)->next;
  *tail = l;
  srv->hstate = H_OPEN;
  srv->nopen++;
  srv->refs++; /* the handle's */
  return l;
}

/* Listens on l once bound (rc, the bind's outcome). On error l closes;
** the other listeners are not affected. */
static int listener_start(listener *l, int rc, int backlog, int serving) {
  luaio_server_t *srv = l->srv;
  if (srv->nopen == 1)
    srv->serving = serving != 0;
  if (rc == 0)
    rc = uv_listen(&l->h.stream, backlog > 0 ? backlog : 100, connection_cb);
  if (rc != 0) {
    listener_close(l);
    return rc;
  }
  uv_os_fd_t fd;
  socklen_t len = sizeof l->local;
  char host[64];
  if (uv_fileno(&l->h.handle, &fd) == 0 &&
      getsockname(fd, (struct sockaddr *)&l->local, &len) == 0 &&
      srv->port < 0 && !l->is_pipe)
    name_of(&l->local, host, sizeof host, &srv->port);
  return 0;
}

int luaio_server_listen(luaio_server_t *srv, const struct sockaddr *addr,
                        int backlog, int serving) {
  int rc;
  listener *l = listener_new(srv, 0, addr->sa_family, &rc);
  if (l == NULL)
    return rc;
  if (srv->reuse_port) {
    uv_os_fd_t fd;
    int on = 1;
    rc = uv_fileno(&l->h.handle, &fd);
    if (rc == 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on))
      rc = uv_translate_sys_error(errno);
  }
  /* As asyncio: an IPv6 socket takes IPv6 only, so that "::" and
  ** "0.0.0.0" can both listen on one port. */
  if (rc == 0)
    rc = uv_tcp_bind(&l->h.tcp, addr,
                     addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
  return listener_start(l, rc, backlog, serving);
}

int luaio_server_listen_unix(luaio_server_t *srv, const char *path,
                             int backlog, int serving) {
  struct stat st;
  if (strlen(path) >= sizeof ((struct sockaddr_un *)0)->sun_path)
    return UV_ENAMETOOLONG;
  int rc;
  listener *l = listener_new(srv, 1, AF_UNIX, &rc);
  if (l == NULL)
    return rc;
  /* As asyncio: a socket file left by an earlier server is replaced. */
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
    unlink(path);
  rc = uv_pipe_bind(&l->h.pipe, path);
  if (rc == 0 && lstat(path, &l->st) == 0) {
    l->path = luaio__strdup(path);
    if (l->path == NULL) {
      unlink(path);
      rc = LUAIO_ENOMEM;
    }
  }
  return listener_start(l, rc, backlog, serving);
}

void luaio_server_set_reuse_port(luaio_server_t *srv, int on) {
  srv->reuse_port = on != 0;
}

int luaio_server_sockname(const luaio_server_t *srv, size_t i, char *host,
                          size_t size, int *port) {
  for (const listener *l = srv->head; l != NULL; l = l->next) {
    if (l->hstate != H_OPEN || l->local.ss_family == AF_UNSPEC)
      continue;
    if (i-- == 0)
      return name_of(&l->local, host, size, port);
  }
  return LUAIO_EINVAL;
}

void luaio_server_start_serving(luaio_server_t *srv) {
  if (srv->serving || srv->closing)
    return;
  srv->serving = 1;
  for (listener *l = srv->head; l != NULL; l = l->next)
    if (l->pending && l->hstate == H_OPEN)
      server_accept(l);
}

int luaio_server_is_serving(const luaio_server_t *srv) {
  return srv->serving && srv->hstate == H_OPEN && !srv->closing;
}

int luaio_server_port(const luaio_server_t *srv) {
  return srv->port;
}

void luaio_server_close(luaio_server_t *srv) {
  if (srv->closing)
    return;
  srv->closing = 1;
  server_drop_queue(srv);
  if (srv->deliver != NULL) {
    luaio_handle_t *h = srv->deliver;
    srv->deliver = NULL;
    luaio_handle_cancel(h); /* its fin drops the server's reference */
    luaio_handle_unref(h);
  }
  for (listener *l = srv->head; l != NULL; l = l->next) {
    if (l->hstate == H_OPEN)
      listener_close(l); /* libuv closes a connection it held back too */
  }
}

int luaio_server_is_closing(const luaio_server_t *srv) {
  return srv->closing;
}

int luaio_server_wait_closed(luaio_server_t *srv, luaio_future_t **out) {
  *out = NULL;
  if (srv->hstate == H_NONE || srv->hstate == H_CLOSED)
    return 0;
  waiter *w = luaio__waiter_push(&srv->closers, srv->loop);
  if (w == NULL)
    return LUAIO_ENOMEM;
  *out = &w->base;
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** What tls.c needs of a stream
** ======================================================================= */

luaio__tls *luaio__stream_tls(const luaio_stream_t *s) {
  return s->tls;
}

void luaio__stream_set_tls(luaio_stream_t *s, luaio__tls *t) {
  s->tls = t;
}

luaio_loop_t *luaio__stream_loop(const luaio_stream_t *s) {
  return s->loop;
}

int luaio__stream_open(const luaio_stream_t *s) {
  return s->hstate == H_OPEN && s->connected && !s->closing && !s->dropped;
}

char *luaio__stream_reserve(luaio_stream_t *s, size_t n, size_t *room) {
  if (buf_reserve(s, n) != 0)
    return NULL;
  size_t end = s->start + s->len;
  *room = s->cap - end;
  return s->buf + end;
}

void luaio__stream_commit(luaio_stream_t *s, size_t k) {
  assert(s->start + s->len + k <= s->cap);
  s->len += k;
}

void luaio__stream_trim(luaio_stream_t *s) {
  if (s->len == 0)
    buf_release(s);
}

void luaio__stream_end(luaio_stream_t *s, int err) {
  input_end(s, err);
}

void luaio__stream_hold(luaio_stream_t *s, size_t n) {
  s->wheld += n;
  if (s->wqueued + s->wheld > s->high)
    s->wpaused = 1;
}

void luaio__stream_unhold(luaio_stream_t *s, int err) {
  s->wheld = 0;
  if (err != 0 && s->werr == 0 && !s->dropped) {
    s->werr = err; /* drain reports the handshake's failure */
    waitlist_wake_all(&s->drainers);
  } else if (s->wpaused && s->wqueued <= s->low) {
    s->wpaused = 0;
    waitlist_wake_all(&s->drainers);
  }
}

void luaio__stream_linger_end(luaio_stream_t *s) {
  if (!s->linger)
    return;
  s->linger = 0;
  read_pause(s);
  if (s->wqueued == 0)
    handle_close(s);
}

/* }====================================================================== */
