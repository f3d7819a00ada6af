/*
** test-stream.c - luaio_stream_t and luaio_server_t: the input buffer's
** read, readexactly and readuntil on fed data, waiting readers and their
** cancellation, and loopback TCP connections (echo, refused, reset,
** back-pressure, cancelled connect, timeout).
**
** Tasks are driven from C as a binding drives them: a step tries an
** operation, and when it must wait it awaits the future the core returns,
** then finishes it in its next step.
*/
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "luaio.h"
#include "test.h"

static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  return loop;
}

static size_t buffered(const luaio_stream_t *s) {
  size_t n;
  luaio_stream_buffer(s, &n);
  return n;
}

/* Takes the first len bytes of the buffer as a string (static storage). */
static const char *take(luaio_stream_t *s, size_t len) {
  static char out[1024];
  size_t n;
  const char *p = luaio_stream_buffer(s, &n);
  ASSERT(len <= n && len < sizeof out);
  memcpy(out, p, len);
  out[len] = '\0';
  luaio_stream_consume(s, len);
  return out;
}

/* {======================================================================
** The buffer, fed by hand
** ======================================================================= */

TEST(read_some_and_all) {
  luaio_loop_t *loop = loop_open();
  luaio_stream_t *s = luaio_stream_new(loop, 0);
  ASSERT_NOT_NULL(s);
  size_t len;
  ASSERT_EQ(UV_EAGAIN, luaio_stream_read(s, 10, &len));
  ASSERT_OK(luaio_stream_read(s, 0, &len));
  ASSERT_EQ(0, len);
  ASSERT_OK(luaio_stream_feed(s, "hello world", 11));
  ASSERT_OK(luaio_stream_read(s, 5, &len));
  ASSERT_STR_EQ("hello", take(s, len));
  ASSERT_EQ(UV_EAGAIN, luaio_stream_read(s, -1, &len)); /* until EOF */
  ASSERT_OK(luaio_stream_feed(s, "!", 1));
  luaio_stream_feed_eof(s, 0);
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_stream_feed(s, "x", 1));
  ASSERT(!luaio_stream_at_eof(s));
  ASSERT_OK(luaio_stream_read(s, -1, &len));
  ASSERT_STR_EQ(" world!", take(s, len));
  ASSERT(luaio_stream_at_eof(s));
  ASSERT_OK(luaio_stream_read(s, 10, &len)); /* "" at the end */
  ASSERT_EQ(0, len);
  luaio_stream_unref(s);
  test_loop_close(loop);
}

TEST(readexactly_partial) {
  luaio_loop_t *loop = loop_open();
  luaio_stream_t *s = luaio_stream_new(loop, 0);
  size_t len;
  ASSERT_OK(luaio_stream_feed(s, "abcdef", 6));
  ASSERT_OK(luaio_stream_readexactly(s, 4, &len));
  ASSERT_STR_EQ("abcd", take(s, len));
  ASSERT_EQ(UV_EAGAIN, luaio_stream_readexactly(s, 4, &len));
  luaio_stream_feed_eof(s, 0);
  ASSERT_EQ(UV_EOF, luaio_stream_readexactly(s, 4, &len));
  ASSERT_STR_EQ("ef", take(s, len)); /* the partial result */
  luaio_stream_unref(s);
  test_loop_close(loop);
}

TEST(readuntil_lines_and_limit) {
  luaio_loop_t *loop = loop_open();
  luaio_stream_t *s = luaio_stream_new(loop, 8);
  size_t len;
  ASSERT_OK(luaio_stream_feed(s, "one\ntw", 6));
  ASSERT_OK(luaio_stream_readuntil(s, "\n", 1, &len));
  ASSERT_STR_EQ("one\n", take(s, len));
  ASSERT_EQ(UV_EAGAIN, luaio_stream_readuntil(s, "\n", 1, &len));
  ASSERT_OK(luaio_stream_feed(s, "o\r", 2));
  ASSERT_EQ(UV_EAGAIN, luaio_stream_readuntil(s, "\r\n", 2, &len));
  ASSERT_OK(luaio_stream_feed(s, "\nxyz", 4)); /* a split separator */
  ASSERT_OK(luaio_stream_readuntil(s, "\r\n", 2, &len));
  ASSERT_STR_EQ("two\r\n", take(s, len));
  /* Past the limit with no separator: an overrun; the data stays. */
  ASSERT_OK(luaio_stream_feed(s, "0123456789", 10));
  ASSERT_EQ(UV_ENOBUFS, luaio_stream_readuntil(s, "\n", 1, &len));
  ASSERT_EQ(13, len);
  ASSERT_OK(luaio_stream_read(s, 3, &len));
  ASSERT_STR_EQ("xyz", take(s, len));
  ASSERT_OK(luaio_stream_feed(s, "\n", 1)); /* found, but past the limit */
  ASSERT_EQ(UV_ENOBUFS, luaio_stream_readuntil(s, "\n", 1, &len));
  luaio_stream_consume(s, 11);
  ASSERT_OK(luaio_stream_feed(s, "tail", 4));
  luaio_stream_feed_eof(s, 0);
  ASSERT_EQ(UV_EOF, luaio_stream_readuntil(s, "\n", 1, &len));
  ASSERT_STR_EQ("tail", take(s, len));
  luaio_stream_unref(s);
  test_loop_close(loop);
}

TEST(error_after_buffered_data) {
  luaio_loop_t *loop = loop_open();
  luaio_stream_t *s = luaio_stream_new(loop, 0);
  size_t len;
  ASSERT_OK(luaio_stream_feed(s, "ab", 2));
  luaio_stream_feed_eof(s, UV_ECONNRESET);
  ASSERT_EQ(UV_ECONNRESET, luaio_stream_readexactly(s, 3, &len));
  ASSERT_OK(luaio_stream_read(s, 5, &len)); /* buffered data first */
  ASSERT_STR_EQ("ab", take(s, len));
  ASSERT_EQ(UV_ECONNRESET, luaio_stream_read(s, 5, &len));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_stream_write(s, "x", 1));
  luaio_stream_unref(s);
  test_loop_close(loop);
}

TEST(oom_new_and_feed) {
  luaio_loop_t *loop = loop_open();
  long before = test_alloc_live();
  for (long n = 1;; n++) {
    test_alloc_fail_after(n);
    luaio_stream_t *s = luaio_stream_new(loop, 0);
    int rc = s != NULL ? luaio_stream_feed(s, "data", 4) : LUAIO_ENOMEM;
    if (!test_alloc_failed()) {
      ASSERT_OK(rc);
      luaio_stream_unref(s);
      break;
    }
    ASSERT_EQ(LUAIO_ENOMEM, rc);
    if (s != NULL)
      luaio_stream_unref(s);
    ASSERT_EQ(before, test_alloc_live());
  }
  test_alloc_fail_after(0);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** A reader task: readuntil("\n") in a loop, logging each line.
** ======================================================================= */

typedef struct {
  luaio_stream_t *s;
  luaio_future_t *fut; /* owns: the wait in progress */
  int lines;
} reader;

static int reader_step(luaio_task_t *t, int err) {
  reader *r = luaio_future_data(luaio_task_future(t));
  if (r->fut != NULL) {
    int rc = luaio_stream_wait_read_finish(r->s, r->fut, err);
    luaio_future_unref(r->fut);
    r->fut = NULL;
    if (rc != 0) {
      test_logf("read!%s", luaio_err_name(rc));
      return rc;
    }
  }
  for (;;) {
    size_t len;
    int rc = luaio_stream_readuntil(r->s, "\n", 1, &len);
    if (rc == 0) {
      const char *line = take(r->s, len);
      test_logf("line:%.*s", (int)len - 1, line);
      r->lines++;
      continue;
    }
    if (rc == UV_EAGAIN) {
      ASSERT_OK(luaio_stream_wait_read(r->s, &r->fut));
      luaio_future_t *again;
      ASSERT_EQ(LUAIO_EBUSY, luaio_stream_wait_read(r->s, &again));
      ASSERT_OK(luaio_task_await(t, r->fut));
      return LUAIO_STEP_SUSPENDED;
    }
    test_logf("end:%s", luaio_err_name(rc));
    if (rc == UV_EOF)
      luaio_stream_consume(r->s, len);
    return LUAIO_STEP_RETURNED;
  }
}

TEST(waiting_reader_is_woken_by_feed) {
  luaio_loop_t *loop = loop_open();
  reader r = {luaio_stream_new(loop, 0), NULL, 0};
  luaio_task_t *t = luaio_task_new(loop, reader_step, &r, 0);
  luaio_loop_run(loop, LUAIO_RUN_ONCE);
  ASSERT_NOT_NULL(r.fut);
  ASSERT_OK(luaio_stream_feed(r.s, "a\nb", 3));
  luaio_loop_run(loop, LUAIO_RUN_ONCE);
  ASSERT_OK(luaio_stream_feed(r.s, "\nc", 2));
  luaio_stream_feed_eof(r.s, 0);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("line:a,line:b,end:EOF", test_log);
  ASSERT(luaio_future_done(luaio_task_future(t)));
  luaio_task_unref(t);
  luaio_stream_unref(r.s);
  test_loop_close(loop);
}

/* Cancelled mid-read, the reader loses nothing: a new one finds it all. */
TEST(cancelled_reader_loses_nothing) {
  luaio_loop_t *loop = loop_open();
  reader r = {luaio_stream_new(loop, 0), NULL, 0};
  luaio_task_t *t = luaio_task_new(loop, reader_step, &r, 0);
  luaio_loop_run(loop, LUAIO_RUN_ONCE);
  ASSERT_OK(luaio_stream_feed(r.s, "partial", 7));
  ASSERT_EQ(1, luaio_task_cancel(t, NULL));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT(luaio_future_cancelled(luaio_task_future(t)));
  luaio_task_unref(t);
  ASSERT_STR_EQ("read!ECANCELLED", test_log);
  test_log_reset();
  t = luaio_task_new(loop, reader_step, &r, 0);
  ASSERT_OK(luaio_stream_feed(r.s, " line\n", 6));
  luaio_stream_feed_eof(r.s, 0);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("line:partial line,end:EOF", test_log);
  luaio_task_unref(t);
  luaio_stream_unref(r.s);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** Loopback connections
** ======================================================================= */

typedef struct {
  luaio_loop_t *loop;
  luaio_server_t *srv;
  luaio_stream_t *conn; /* owns: the last accepted connection */
  int naccepted;
} server_ctx;

static void on_conn(luaio_server_t *srv, luaio_stream_t *conn, void *arg) {
  server_ctx *sc = arg;
  (void)srv;
  sc->naccepted++; /* not logged: it races with the client's connect */
  if (sc->conn != NULL) {
    luaio_stream_close(sc->conn);
    luaio_stream_unref(sc->conn);
  }
  sc->conn = conn;
}

static void server_open(server_ctx *sc, luaio_loop_t *loop, int serving,
                        int backlog) {
  memset(sc, 0, sizeof *sc);
  sc->loop = loop;
  sc->srv = luaio_server_new(loop, on_conn, sc, 0);
  ASSERT_NOT_NULL(sc->srv);
  struct sockaddr_in addr;
  ASSERT_OK(uv_ip4_addr("127.0.0.1", 0, &addr));
  ASSERT_OK(luaio_server_listen(sc->srv, (const struct sockaddr *)&addr,
                                backlog, serving));
  ASSERT(luaio_server_port(sc->srv) > 0);
}

static void server_shut(server_ctx *sc) {
  if (sc->conn != NULL) {
    luaio_stream_abort(sc->conn);
    luaio_stream_unref(sc->conn);
    sc->conn = NULL;
  }
  luaio_server_close(sc->srv);
  luaio_server_unref(sc->srv);
}

/* A client task: connects, then runs a script of steps. */
typedef struct {
  luaio_loop_t *loop;
  int port;
  double timeout;
  luaio_future_t *fut; /* owns: the wait in progress */
  int state;
  luaio_stream_t *s; /* owns */
  int (*script)(luaio_task_t *t, void *c);
  const char *send;
  const char *path; /* a Unix-domain socket's, instead of the port */
} client;

static int client_step(luaio_task_t *t, int err) {
  client *c = luaio_future_data(luaio_task_future(t));
  if (c->state == 0) {
    c->fut = c->path != NULL
                 ? luaio_stream_connect_unix(c->loop, c->path, c->timeout, 0)
                 : luaio_stream_connect(c->loop, "127.0.0.1", c->port,
                                        c->timeout, 0);
    ASSERT_NOT_NULL(c->fut);
    ASSERT_OK(luaio_task_await(t, c->fut));
    c->state = 1;
    return LUAIO_STEP_SUSPENDED;
  }
  if (c->state == 1) {
    int rc = luaio_stream_connect_finish(c->fut, err, &c->s);
    luaio_future_unref(c->fut);
    c->fut = NULL;
    if (rc != 0) {
      test_logf("connect!%s", luaio_err_name(rc));
      return rc;
    }
    test_logf("connected");
    c->state = 2;
    err = 0;
  }
  return c->script(t, c);
}

/* Sends c->send, then waits for the reply line and closes. */
static int echo_script(luaio_task_t *t, void *arg) {
  client *c = arg;
  if (c->state == 2) {
    ASSERT_OK(luaio_stream_write(c->s, c->send, strlen(c->send)));
    char host[128];
    int port;
    ASSERT_OK(luaio_stream_peername(c->s, host, sizeof host, &port));
    ASSERT_STR_EQ(c->path != NULL ? c->path : "127.0.0.1", host);
    ASSERT_EQ(c->path != NULL ? -1 : c->port, port);
    c->state = 3;
  } else {
    ASSERT_OK(luaio_stream_wait_read_finish(c->s, c->fut, 0));
    luaio_future_unref(c->fut);
    c->fut = NULL;
  }
  size_t len;
  int rc = luaio_stream_readuntil(c->s, "\n", 1, &len);
  if (rc == UV_EAGAIN) {
    ASSERT_OK(luaio_stream_wait_read(c->s, &c->fut));
    ASSERT_OK(luaio_task_await(t, c->fut));
    return LUAIO_STEP_SUSPENDED;
  }
  if (rc == 0)
    test_logf("reply:%s", take(c->s, len));
  else
    test_logf("reply!%s", luaio_err_name(rc));
  luaio_stream_close(c->s);
  return rc == 0 ? LUAIO_STEP_RETURNED : rc;
}

static void client_start(client *c, luaio_loop_t *loop, int port,
                         int (*script)(luaio_task_t *, void *),
                         luaio_task_t **t) {
  memset(c, 0, sizeof *c);
  c->loop = loop;
  c->port = port;
  c->script = script;
  *t = luaio_task_new(loop, client_step, c, 0);
  ASSERT_NOT_NULL(*t);
}

static void client_done(client *c, luaio_task_t *t) {
  ASSERT(luaio_future_done(luaio_task_future(t)));
  luaio_task_unref(t);
  if (c->s != NULL) {
    luaio_stream_abort(c->s);
    luaio_stream_unref(c->s);
  }
  ASSERT_NULL(c->fut);
}

/* A loop with a serving server and a client task running script. */
static luaio_loop_t *loopback_open(server_ctx *sc, client *c,
                                   int (*script)(luaio_task_t *, void *),
                                   luaio_task_t **t) {
  luaio_loop_t *loop = loop_open();
  server_open(sc, loop, 1, 0);
  client_start(c, loop, luaio_server_port(sc->srv), script, t);
  return loop;
}

static void loopback_close(luaio_loop_t *loop, server_ctx *sc, client *c,
                           luaio_task_t *t) {
  client_done(c, t);
  server_shut(sc);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  test_loop_close(loop);
}

/* Runs the loop until cond holds (with a bound, so a bug fails fast). */
#define RUN_UNTIL(loop, cond)                                                  \
  do {                                                                         \
    for (int i_ = 0; i_ < 10000 && !(cond); i_++)                              \
      luaio_loop_run(loop, LUAIO_RUN_ONCE);                                    \
    ASSERT(cond);                                                              \
  } while (0)

TEST(loopback_echo) {
  server_ctx sc;
  client c;
  luaio_task_t *t;
  luaio_loop_t *loop = loopback_open(&sc, &c, echo_script, &t);
  c.send = "ping\n";
  RUN_UNTIL(loop, sc.conn != NULL && buffered(sc.conn) == 5);
  size_t len;
  ASSERT_OK(luaio_stream_readuntil(sc.conn, "\n", 1, &len));
  ASSERT_STR_EQ("ping\n", take(sc.conn, len));
  ASSERT_OK(luaio_stream_write(sc.conn, "pong\n", 5));
  ASSERT_EQ(0, luaio_stream_write_buffer_size(sc.conn)); /* taken at once */
  char host[64];
  int port;
  ASSERT_OK(luaio_stream_sockname(sc.conn, host, sizeof host, &port));
  ASSERT_EQ(luaio_server_port(sc.srv), port);
  RUN_UNTIL(loop, luaio_future_done(luaio_task_future(t)));
  /* The client closed: the server's side reads the end of input. */
  RUN_UNTIL(loop, luaio_stream_at_eof(sc.conn));
  ASSERT_STR_EQ("connected,reply:pong\n", test_log);
  loopback_close(loop, &sc, &c, t);
}

static int nop_script(luaio_task_t *t, void *arg) {
  (void)t;
  (void)arg;
  return LUAIO_STEP_RETURNED;
}

TEST(connection_refused) {
  luaio_loop_t *loop = loop_open();
  server_ctx sc;
  server_open(&sc, loop, 1, 0);
  int port = luaio_server_port(sc.srv);
  server_shut(&sc);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT); /* the port is closed now */
  client c;
  luaio_task_t *t;
  client_start(&c, loop, port, nop_script, &t);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("connect!ECONNREFUSED", test_log);
  client_done(&c, t);
  test_loop_close(loop);
}

/* The server aborts: the client reads a reset. */
TEST(peer_reset) {
  server_ctx sc;
  client c;
  luaio_task_t *t;
  luaio_loop_t *loop = loopback_open(&sc, &c, echo_script, &t);
  c.send = "x";
  RUN_UNTIL(loop, sc.conn != NULL && c.fut != NULL);
  luaio_stream_abort(sc.conn);
  RUN_UNTIL(loop, luaio_future_done(luaio_task_future(t)));
  ASSERT_STR_EQ("connected,reply!ECONNRESET", test_log);
  loopback_close(loop, &sc, &c, t);
}

/* Writes until drain must wait, then drains while the server reads. */
static int flood_script(luaio_task_t *t, void *arg) {
  client *c = arg;
  static char chunk[65536];
  if (c->state == 2) {
    luaio_stream_set_write_limits(c->s, 1 << 16, 1 << 12);
    for (int i = 0; i < 256; i++) /* 16 MiB: more than the kernel holds */
      ASSERT_OK(luaio_stream_write(c->s, chunk, sizeof chunk));
    ASSERT_OK(luaio_stream_drain(c->s, &c->fut));
    ASSERT_NOT_NULL(c->fut);
    test_logf("drain-waits");
    ASSERT_OK(luaio_task_await(t, c->fut));
    c->state = 3;
    return LUAIO_STEP_SUSPENDED;
  }
  int rc = luaio_stream_drain_finish(c->s, c->fut, 0);
  luaio_future_unref(c->fut);
  c->fut = NULL;
  if (rc != 0) { /* the peer went away */
    test_logf("drain:%s", rc == UV_ECONNRESET || rc == UV_EPIPE ? "lost" : "?");
    return LUAIO_STEP_RETURNED;
  }
  ASSERT(luaio_stream_write_buffer_size(c->s) <= 1 << 12);
  test_logf("drained");
  luaio_stream_close(c->s);
  return LUAIO_STEP_RETURNED;
}

TEST(drain_waits_for_a_slow_reader) {
  server_ctx sc;
  client c;
  luaio_task_t *t;
  luaio_loop_t *loop = loopback_open(&sc, &c, flood_script, &t);
  RUN_UNTIL(loop, sc.conn != NULL && c.fut != NULL);
  for (int i = 0; i < 20; i++)
    luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  /* Nobody reads the server's side: its buffer stops at twice the limit,
  ** and the writer still waits. */
  size_t n;
  luaio_stream_buffer(sc.conn, &n);
  ASSERT(n <= 2 * LUAIO_STREAM_LIMIT + 65536);
  ASSERT(!luaio_future_done(luaio_task_future(t)));
  test_logf("reading");
  size_t total = 0;
  while (!luaio_stream_at_eof(sc.conn)) {
    luaio_stream_buffer(sc.conn, &n);
    luaio_stream_consume(sc.conn, n);
    total += n;
    if (!luaio_stream_at_eof(sc.conn))
      luaio_loop_run(loop, LUAIO_RUN_ONCE);
  }
  ASSERT_EQ(256 * 65536, total);
  ASSERT_STR_EQ("connected,drain-waits,reading,drained", test_log);
  loopback_close(loop, &sc, &c, t);
}

/* Writes of many sizes, some taken by the socket at once and some queued
** behind others: the peer gets every byte, in order. */
#define ORDER_WRITES 200
static unsigned char order_byte(size_t off) {
  return (unsigned char)(off * 7 + off / 251);
}

static size_t order_len(int i) { return i % 7 == 0 ? (size_t)1 << 20 : 50 + (size_t)i; }

static int order_script(luaio_task_t *t, void *arg) {
  client *c = arg;
  (void)t;
  static unsigned char buf[1 << 20];
  size_t off = 0;
  for (int i = 0; i < ORDER_WRITES; i++) {
    size_t len = order_len(i);
    for (size_t k = 0; k < len; k++)
      buf[k] = order_byte(off + k);
    ASSERT_OK(luaio_stream_write(c->s, (const char *)buf, len));
    off += len;
  }
  ASSERT(luaio_stream_write_buffer_size(c->s) > 0); /* some had to wait */
  luaio_stream_close(c->s); /* after what is queued */
  return LUAIO_STEP_RETURNED;
}

TEST(writes_keep_their_order) {
  server_ctx sc;
  client c;
  luaio_task_t *t;
  luaio_loop_t *loop = loopback_open(&sc, &c, order_script, &t);
  RUN_UNTIL(loop, sc.conn != NULL && luaio_future_done(luaio_task_future(t)));
  size_t expected = 0, total = 0;
  for (int i = 0; i < ORDER_WRITES; i++)
    expected += order_len(i);
  int bad = 0;
  for (int i = 0; i < 1000000 && !luaio_stream_at_eof(sc.conn); i++) {
    size_t n;
    const char *p = luaio_stream_buffer(sc.conn, &n);
    for (size_t k = 0; k < n; k++)
      bad += (unsigned char)p[k] != order_byte(total + k);
    luaio_stream_consume(sc.conn, n);
    total += n;
    if (!luaio_stream_at_eof(sc.conn))
      luaio_loop_run(loop, LUAIO_RUN_ONCE);
  }
  ASSERT(luaio_stream_at_eof(sc.conn));
  ASSERT_EQ(expected, total);
  ASSERT_EQ(0, bad);
  loopback_close(loop, &sc, &c, t);
}

/* A server that accepts nothing, with a backlog of 1: once the kernel's
** queue is full a connect hangs, and the timeout ends it; a cancelled
** connect closes its socket too. */
static void raw_connect_cb(uv_connect_t *req, int status) {
  ASSERT_EQ(0, status);
  uv_close((uv_handle_t *)req->handle, NULL);
}

/* Connects a plain libuv client to addr; closes it once connected. */
static void raw_connect(luaio_loop_t *loop, uv_tcp_t *tcp, uv_connect_t *req,
                        const struct sockaddr *addr) {
  ASSERT_OK(uv_tcp_init(luaio_loop_uv(loop), tcp));
  ASSERT_OK(uv_tcp_connect(req, tcp, addr, raw_connect_cb));
}

static void count_open_tcp(uv_handle_t *h, void *arg) {
  if (h->type == UV_TCP && !uv_is_closing(h))
    ++*(int *)arg;
}

static int open_tcp(luaio_loop_t *loop) {
  int n = 0;
  uv_walk(luaio_loop_uv(loop), count_open_tcp, &n);
  return n;
}

/* A wait for a connect cancelled after the connection was made: finish
** closes the connection at once, not when the future goes. */
TEST(connect_cancelled_after_connecting) {
  luaio_loop_t *loop = loop_open();
  server_ctx sc;
  server_open(&sc, loop, 0, 0); /* the kernel completes the handshake */
  luaio_future_t *fut = luaio_stream_connect(
      loop, "127.0.0.1", luaio_server_port(sc.srv), 0, 0);
  ASSERT_NOT_NULL(fut);
  RUN_UNTIL(loop, luaio_future_done(fut));
  ASSERT_EQ(0, luaio_future_error(fut));
  ASSERT_EQ(2, open_tcp(loop)); /* the listener and the connection */
  luaio_stream_t *s = NULL;
  ASSERT_EQ(LUAIO_ECANCELLED,
            luaio_stream_connect_finish(fut, LUAIO_ECANCELLED, &s));
  ASSERT_NULL(s);
  ASSERT_EQ(1, open_tcp(loop));
  luaio_future_unref(fut);
  server_shut(&sc);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  test_loop_close(loop);
}

/* A failed accept is told, with the server's arg, and the server goes on
** serving. libuv passes accept's error to the listening handle's
** connection_cb, which a test can call as libuv would. */
static void on_accept_error(luaio_server_t *srv, int err, void *arg) {
  server_ctx *sc = arg;
  ASSERT(srv == sc->srv);
  test_logf("accept:%s", uv_err_name(err));
}

static void fail_accept(uv_handle_t *h, void *arg) {
  if (h->type == UV_TCP && ((uv_stream_t *)h)->connection_cb != NULL)
    ((uv_stream_t *)h)->connection_cb((uv_stream_t *)h, *(int *)arg);
}

TEST(accept_error_is_told) {
  luaio_loop_t *loop = loop_open();
  server_ctx sc;
  server_open(&sc, loop, 1, 0);
  int err = UV_ENOBUFS;
  uv_walk(luaio_loop_uv(loop), fail_accept, &err); /* nobody to tell */
  luaio_server_on_accept_error(sc.srv, on_accept_error);
  uv_walk(luaio_loop_uv(loop), fail_accept, &err);
  err = UV_EPERM;
  uv_walk(luaio_loop_uv(loop), fail_accept, &err);
  ASSERT_STR_EQ("accept:ENOBUFS,accept:EPERM", test_log);
  /* Still serving. */
  luaio_future_t *fut = luaio_stream_connect(
      loop, "127.0.0.1", luaio_server_port(sc.srv), 0, 0);
  ASSERT_NOT_NULL(fut);
  RUN_UNTIL(loop, luaio_future_done(fut) && sc.naccepted == 1);
  luaio_stream_t *s = NULL;
  ASSERT_OK(luaio_stream_connect_finish(fut, 0, &s));
  luaio_future_unref(fut);
  luaio_stream_abort(s);
  luaio_stream_unref(s);
  /* Closing: nothing more is told. */
  luaio_server_close(sc.srv);
  test_log_reset();
  uv_walk(luaio_loop_uv(loop), fail_accept, &err);
  ASSERT_STR_EQ("", test_log);
  server_shut(&sc);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  test_loop_close(loop);
}

/* A stream holds an input buffer only while input waits to be read; the
** buffers streams share go with the last stream. */
TEST(input_buffer_only_while_input_waits) {
  server_ctx sc;
  client c;
  luaio_task_t *t;
  luaio_loop_t *loop = loopback_open(&sc, &c, echo_script, &t);
  size_t shared;
  ASSERT_EQ(0, luaio_stream_memory(loop, &shared)); /* none open yet */
  ASSERT_EQ(0, shared);
  c.send = "ping\n";
  RUN_UNTIL(loop, sc.conn != NULL && buffered(sc.conn) == 5);
  size_t held = luaio_stream_memory(loop, &shared);
  ASSERT(held >= 5 && held <= 4096); /* not a 64 KiB buffer */
  ASSERT(shared > 0 && shared <= 192 * 1024);
  ASSERT_STR_EQ("ping\n", take(sc.conn, 5));
  ASSERT_EQ(0, luaio_stream_memory(loop, &shared)); /* both at rest */
  ASSERT_OK(luaio_stream_write(sc.conn, "pong\n", 5));
  RUN_UNTIL(loop, luaio_future_done(luaio_task_future(t)));
  ASSERT_STR_EQ("connected,reply:pong\n", test_log);
  ASSERT_EQ(0, luaio_stream_memory(loop, &shared));
  client_done(&c, t);
  server_shut(&sc);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_EQ(0, luaio_stream_memory(loop, &shared));
  ASSERT_EQ(0, shared);
  test_loop_close(loop);
}

/* As asyncio's transport: a lost connection drops what is queued, and
** the stream is closing; later writes are dropped, drain reports the
** loss, and the reader reads it after what was buffered. */
TEST(lost_connection_drops_queued_writes) {
  server_ctx sc;
  client c;
  luaio_task_t *t;
  luaio_loop_t *loop = loopback_open(&sc, &c, flood_script, &t);
  RUN_UNTIL(loop, sc.conn != NULL && c.fut != NULL);
  ASSERT(!luaio_stream_is_closing(c.s));
  luaio_stream_abort(sc.conn);
  RUN_UNTIL(loop, luaio_future_done(luaio_task_future(t)));
  ASSERT_STR_EQ("connected,drain-waits,drain:lost", test_log);
  ASSERT(luaio_stream_is_closing(c.s));
  ASSERT_EQ(0, luaio_stream_write_buffer_size(c.s));
  ASSERT_OK(luaio_stream_write(c.s, "x", 1)); /* dropped */
  ASSERT_EQ(0, luaio_stream_write_buffer_size(c.s));
  luaio_future_t *fut;
  int rc = luaio_stream_drain(c.s, &fut);
  ASSERT(rc == UV_ECONNRESET || rc == UV_EPIPE);
  size_t len;
  ASSERT_EQ(rc, luaio_stream_read(c.s, 1, &len));
  ASSERT_OK(luaio_stream_write_eof(c.s)); /* nothing to do */
  RUN_UNTIL(loop, open_tcp(loop) == 1);     /* closed by itself */
  loopback_close(loop, &sc, &c, t);
}

/* Writing after write_eof is an error; after close, data is dropped and
** drain says the stream is closed. */
TEST(write_after_eof_and_close) {
  server_ctx sc;
  client c;
  luaio_task_t *t;
  luaio_loop_t *loop = loopback_open(&sc, &c, nop_script, &t);
  RUN_UNTIL(loop, sc.conn != NULL && luaio_future_done(luaio_task_future(t)));
  ASSERT_OK(luaio_stream_write_eof(c.s));
  ASSERT_OK(luaio_stream_write_eof(c.s));
  ASSERT_EQ(UV_EPIPE, luaio_stream_write(c.s, "x", 1));
  luaio_future_t *fut;
  ASSERT_OK(luaio_stream_drain(c.s, &fut));
  ASSERT_NULL(fut);
  ASSERT_OK(luaio_stream_write(sc.conn, "y", 1));
  luaio_stream_close(sc.conn);
  ASSERT(luaio_stream_is_closing(sc.conn));
  ASSERT_OK(luaio_stream_write(sc.conn, "z", 1)); /* dropped */
  ASSERT_EQ(0, luaio_stream_write_buffer_size(sc.conn));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_stream_drain(sc.conn, &fut));
  ASSERT_NULL(fut);
  size_t len;
  RUN_UNTIL(loop, luaio_stream_readexactly(c.s, 2, &len) == UV_EOF);
  ASSERT_STR_EQ("y", take(c.s, len)); /* what was written before close */
  loopback_close(loop, &sc, &c, t);
}

static int path_exists(const char *path) {
  uv_fs_t req;
  int rc = uv_fs_lstat(NULL, &req, path, NULL);
  uv_fs_req_cleanup(&req);
  return rc == 0;
}

/* The echo over a Unix-domain socket, whose file goes with the server. */
TEST(unix_echo) {
  luaio_loop_t *loop = loop_open();
  char path[64];
  snprintf(path, sizeof path, "/tmp/luaio-test-%d.sock", (int)uv_os_getpid());
  server_ctx sc;
  memset(&sc, 0, sizeof sc);
  sc.loop = loop;
  sc.srv = luaio_server_new(loop, on_conn, &sc, 0);
  ASSERT_NOT_NULL(sc.srv);
  ASSERT_OK(luaio_server_listen_unix(sc.srv, path, 0, 1));
  ASSERT(path_exists(path));
  ASSERT_EQ(-1, luaio_server_port(sc.srv));
  char host[128];
  int port;
  ASSERT_OK(luaio_server_sockname(sc.srv, 0, host, sizeof host, &port));
  ASSERT_STR_EQ(path, host);
  ASSERT_EQ(-1, port);
  ASSERT_EQ(LUAIO_EINVAL,
            luaio_server_sockname(sc.srv, 1, host, sizeof host, &port));
  client c;
  luaio_task_t *t;
  client_start(&c, loop, 0, echo_script, &t);
  c.path = path;
  c.send = "ping\n";
  RUN_UNTIL(loop, sc.conn != NULL && buffered(sc.conn) == 5);
  ASSERT_STR_EQ("ping\n", take(sc.conn, 5));
  ASSERT_OK(luaio_stream_sockname(sc.conn, host, sizeof host, &port));
  ASSERT_STR_EQ(path, host);
  ASSERT_OK(luaio_stream_write(sc.conn, "pong\n", 5));
  RUN_UNTIL(loop, luaio_future_done(luaio_task_future(t)));
  ASSERT_STR_EQ("connected,reply:pong\n", test_log);
  loopback_close(loop, &sc, &c, t);
  ASSERT(!path_exists(path));
}

/* A connect to no socket fails; so does one to a path too long. */
TEST(unix_connect_errors) {
  luaio_loop_t *loop = loop_open();
  client c;
  luaio_task_t *t;
  client_start(&c, loop, 0, nop_script, &t);
  c.path = "/nonexistent/luaio.sock";
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("connect!ENOENT", test_log);
  client_done(&c, t);
  char longpath[200];
  memset(longpath, 'x', sizeof longpath - 1);
  longpath[sizeof longpath - 1] = '\0';
  luaio_future_t *fut = luaio_stream_connect_unix(loop, longpath, 0, 0);
  ASSERT_NOT_NULL(fut);
  luaio_stream_t *s;
  ASSERT_EQ(UV_ENAMETOOLONG, luaio_stream_connect_finish(fut, 0, &s));
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* With reuse_port, two servers listen on one port. */
TEST(reuse_port) {
  luaio_loop_t *loop = loop_open();
  luaio_server_t *a = luaio_server_new(loop, on_conn, NULL, 0);
  luaio_server_t *b = luaio_server_new(loop, on_conn, NULL, 0);
  ASSERT_NOT_NULL(a);
  ASSERT_NOT_NULL(b);
  luaio_server_set_reuse_port(a, 1);
  luaio_server_set_reuse_port(b, 1);
  struct sockaddr_in addr;
  ASSERT_OK(uv_ip4_addr("127.0.0.1", 0, &addr));
  ASSERT_OK(luaio_server_listen(a, (const struct sockaddr *)&addr, 0, 0));
  ASSERT_OK(uv_ip4_addr("127.0.0.1", luaio_server_port(a), &addr));
  ASSERT_OK(luaio_server_listen(b, (const struct sockaddr *)&addr, 0, 0));
  ASSERT_EQ(luaio_server_port(a), luaio_server_port(b));
  luaio_server_set_reuse_port(b, 0);
  ASSERT_EQ(UV_EADDRINUSE,
            luaio_server_listen(b, (const struct sockaddr *)&addr, 0, 0));
  luaio_server_close(a);
  luaio_server_close(b);
  luaio_server_unref(a);
  luaio_server_unref(b);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  test_loop_close(loop);
}

/* One server on 127.0.0.1 and ::1, one port: both accept, and only after
** start_serving; a failed listen closes its own socket only; wait_closed
** waits for every socket. */
TEST(listens_on_every_address) {
  luaio_loop_t *loop = loop_open();
  server_ctx sc;
  server_open(&sc, loop, 0, 0);
  int port = luaio_server_port(sc.srv);
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
  ASSERT_OK(uv_ip4_addr("127.0.0.1", port, &in4));
  ASSERT_OK(uv_ip6_addr("::1", port, &in6));
  int rc = luaio_server_listen(sc.srv, (const struct sockaddr *)&in6, 0, 1);
  int has6 = rc == 0;
  if (!has6) /* a host without IPv6 */
    ASSERT(rc == UV_EADDRNOTAVAIL || rc == UV_EAFNOSUPPORT);
  ASSERT_EQ(port, luaio_server_port(sc.srv));
  ASSERT_EQ(UV_EADDRINUSE,
            luaio_server_listen(sc.srv, (const struct sockaddr *)&in4, 0, 1));
  ASSERT(!luaio_server_is_serving(sc.srv)); /* the first listen decided */
  uv_tcp_t tcp[2];
  uv_connect_t req[2];
  raw_connect(loop, &tcp[0], &req[0], (const struct sockaddr *)&in4);
  if (has6)
    raw_connect(loop, &tcp[1], &req[1], (const struct sockaddr *)&in6);
  for (int i = 0; i < 20; i++)
    luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_EQ(0, sc.naccepted);
  luaio_server_start_serving(sc.srv);
  RUN_UNTIL(loop, sc.naccepted == 1 + has6);
  if (!has6)
    printf("# no IPv6 here: checked 127.0.0.1 only\n");
  luaio_future_t *closed;
  luaio_server_close(sc.srv);
  ASSERT_OK(luaio_server_wait_closed(sc.srv, &closed));
  ASSERT_NOT_NULL(closed);
  RUN_UNTIL(loop, luaio_future_done(closed));
  ASSERT_EQ(0, luaio_future_error(closed));
  luaio_future_unref(closed);
  ASSERT_OK(luaio_server_wait_closed(sc.srv, &closed));
  ASSERT_NULL(closed);
  ASSERT_EQ(LUAIO_EINVALSTATE,
            luaio_server_listen(sc.srv, (const struct sockaddr *)&in4, 0, 1));
  server_shut(&sc);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  test_loop_close(loop);
}

TEST(connect_timeout_and_cancel) {
  luaio_loop_t *loop = loop_open();
  server_ctx sc;
  server_open(&sc, loop, 0, 1);
  client c[8];
  luaio_task_t *t[8];
  int timedout = -1;
  for (int i = 0; i < 8 && timedout < 0; i++) {
    client_start(&c[i], loop, luaio_server_port(sc.srv), nop_script, &t[i]);
    c[i].timeout = 0.05;
    RUN_UNTIL(loop, luaio_future_done(luaio_task_future(t[i])));
    if (luaio_future_error(luaio_task_future(t[i])) == LUAIO_ETIMEOUT)
      timedout = i;
  }
  ASSERT(timedout > 0);
  /* The same hanging connect, cancelled. */
  client cc;
  luaio_task_t *ct;
  client_start(&cc, loop, luaio_server_port(sc.srv), nop_script, &ct);
  RUN_UNTIL(loop, cc.fut != NULL && cc.state == 1);
  for (int i = 0; i < 5; i++)
    luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_EQ(1, luaio_task_cancel(ct, NULL));
  RUN_UNTIL(loop, luaio_future_done(luaio_task_future(ct)));
  ASSERT(luaio_future_cancelled(luaio_task_future(ct)));
  client_done(&cc, ct);
  for (int i = 0; i <= timedout; i++)
    client_done(&c[i], t[i]);
  ASSERT_EQ(0, sc.naccepted);
  server_shut(&sc);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  test_loop_close(loop);
}

/* }====================================================================== */

/* {======================================================================
** Streams over a descriptor: a pipe, a regular file
** ======================================================================= */

/* Reads s to its end, driving the loop while it waits; returns the
** number of bytes, checking each against check(offset). */
static size_t read_to_end(luaio_loop_t *loop, luaio_stream_t *s,
                          char (*check)(size_t)) {
  size_t total = 0;
  for (;;) {
    size_t len;
    int rc = luaio_stream_read(s, 65536, &len);
    if (rc == UV_EAGAIN) {
      luaio_future_t *fut;
      ASSERT_OK(luaio_stream_wait_read(s, &fut));
      while (!luaio_future_done(fut))
        luaio_loop_run(loop, LUAIO_RUN_ONCE);
      ASSERT_OK(luaio_stream_wait_read_finish(s, fut, 0));
      luaio_future_unref(fut);
      continue;
    }
    ASSERT_OK(rc);
    if (len == 0)
      return total;
    const char *b = luaio_stream_buffer(s, &len);
    for (size_t i = 0; i < len; i++)
      ASSERT_EQ(check(total + i), b[i]);
    total += len;
    luaio_stream_consume(s, len);
  }
}

static char byte_at(size_t off) {
  return (char)('a' + off % 23);
}

TEST(open_fd_pipe_and_file) {
  luaio_loop_t *loop = loop_open();
  luaio_stream_t *r, *w;
  ASSERT_EQ(UV_EBADF, luaio_stream_open_fd(loop, 987, 0, 0, &r));
  ASSERT_NULL(r);
  /* A pipe: the streams work on copies of the descriptors. */
  int fds[2];
  ASSERT_OK(pipe(fds));
  ASSERT_OK(luaio_stream_open_fd(loop, fds[0], 0, 0, &r));
  ASSERT_OK(luaio_stream_open_fd(loop, fds[1], 1, 0, &w));
  close(fds[0]);
  close(fds[1]);
  size_t n = 300000; /* more than a pipe holds: the writer waits */
  char *data = malloc(n);
  for (size_t i = 0; i < n; i++)
    data[i] = byte_at(i);
  ASSERT_OK(luaio_stream_write(w, data, n));
  luaio_stream_close(w); /* once written: then the reader sees its end */
  ASSERT_EQ(n, read_to_end(loop, r, byte_at));
  luaio_stream_close(r);
  luaio_stream_unref(r);
  luaio_stream_unref(w);
  /* A regular file, read on the thread pool. */
  char path[] = "/tmp/luaio-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT(fd >= 0);
  ASSERT_EQ((ssize_t)n, write(fd, data, n));
  ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
  ASSERT_OK(luaio_stream_open_fd(loop, fd, 0, 0, &r));
  ASSERT_EQ(n, read_to_end(loop, r, byte_at));
  luaio_stream_close(r);
  luaio_stream_unref(r);
  /* Written to, the same file grows at its offset, and stays open. */
  ASSERT_OK(luaio_stream_open_fd(loop, fd, 1, 0, &w));
  ASSERT_OK(luaio_stream_write(w, "tail", 4));
  luaio_stream_close(w);
  luaio_stream_unref(w);
  while (uv_loop_alive(luaio_loop_uv(loop)))
    luaio_loop_run(loop, LUAIO_RUN_ONCE);
  ASSERT_EQ((off_t)n + 4, lseek(fd, 0, SEEK_CUR));
  close(fd);
  unlink(path);
  free(data);
  test_loop_close(loop);
}

/* }====================================================================== */

int main(int argc, char **argv) {
  return test_main(argc, argv);
}
