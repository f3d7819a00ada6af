/* loadgen: the W4 load generator, in C on libuv. Opens CONNS connections
 * to an echo server on 127.0.0.1:PORT; each sends a SIZE-byte message,
 * waits for it to come back whole and unchanged, and sends the next one.
 * Counts the round trips completed in SECONDS from the moment every
 * connection is up, and prints one result line:
 *   W4 NAME <round trips per second> rt/s conns=.. seconds=.. size=..
 * Usage: loadgen PORT NAME [CONNS [SECONDS [SIZE]]]
 * Exits 1 on any connection error, a wrong echo, or no round trip at all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAXSIZE 4096

typedef struct {
  uv_tcp_t tcp;
  uv_connect_t connect;
  int id;
  long seq;             /* number of the message in flight */
  char expect[MAXSIZE]; /* the message in flight */
  size_t got;           /* bytes of it echoed so far */
} conn_t;

typedef struct {
  uv_write_t req;
  char data[MAXSIZE];
} write_t;

static const char *name;
static int nconns, connected, size;
static double seconds;
static int measuring, stopping;
static long trips;
static uint64_t t0;
static conn_t *conns;
static uv_timer_t timer;

static void fail(const char *what, int err) {
  fprintf(stderr, "loadgen: %s: %s\n", what, err ? uv_strerror(err) : "");
  exit(1);
}

static void write_done(uv_write_t *req, int status) {
  free(req);
  if (status < 0 && !stopping)
    fail("write", status);
}

static void send_next(conn_t *c) {
  write_t *w = malloc(sizeof *w);
  if (w == NULL)
    fail("out of memory", 0);
  c->seq++;
  /* Every message differs, so a wrong or stale echo is caught. */
  memset(c->expect, 'a' + c->id % 26, size);
  snprintf(c->expect, size, "%d:%ld:", c->id, c->seq);
  memcpy(w->data, c->expect, size);
  c->got = 0;
  uv_buf_t buf = uv_buf_init(w->data, size);
  int err = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, write_done);
  if (err < 0)
    fail("write", err);
}

static void alloc_buf(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  static char slab[65536];
  (void)h;
  (void)hint;
  *buf = uv_buf_init(slab, sizeof slab);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = (conn_t *)s;
  if (nread < 0) {
    if (!stopping)
      fail("read", nread == UV_EOF ? 0 : (int)nread);
    return;
  }
  if (c->got + nread > (size_t)size ||
      memcmp(buf->base, c->expect + c->got, nread) != 0)
    fail("the echo differs from the message sent", 0);
  c->got += nread;
  if (c->got < (size_t)size || stopping)
    return;
  if (measuring)
    trips++;
  send_next(c);
}

static void close_all(void) {
  for (int i = 0; i < nconns; i++)
    if (!uv_is_closing((uv_handle_t *)&conns[i].tcp))
      uv_close((uv_handle_t *)&conns[i].tcp, NULL);
  uv_close((uv_handle_t *)&timer, NULL);
}

static void time_up(uv_timer_t *t) {
  (void)t;
  double elapsed = (uv_hrtime() - t0) / 1e9;
  stopping = 1;
  measuring = 0;
  close_all();
  if (trips == 0)
    fail("no round trip completed", 0);
  printf("W4 %s %.0f rt/s conns=%d seconds=%.1f size=%d trips=%ld\n", name,
         trips / elapsed, nconns, elapsed, size, trips);
  fflush(stdout);
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  if (status < 0)
    fail("connect", status);
  uv_tcp_nodelay(&c->tcp, 1);
  int err = uv_read_start((uv_stream_t *)&c->tcp, alloc_buf, on_read);
  if (err < 0)
    fail("read_start", err);
  send_next(c);
  if (++connected == nconns) {
    measuring = 1;
    t0 = uv_hrtime();
    uv_timer_start(&timer, time_up, (uint64_t)(seconds * 1000), 0);
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: loadgen PORT NAME [CONNS [SECONDS [SIZE]]]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  name = argv[2];
  nconns = argc > 3 ? atoi(argv[3]) : 50;
  seconds = argc > 4 ? atof(argv[4]) : 5.0;
  size = argc > 5 ? atoi(argv[5]) : 64;
  if (nconns < 1 || seconds <= 0 || size < 16 || size > MAXSIZE) {
    fprintf(stderr, "loadgen: bad CONNS, SECONDS or SIZE\n");
    return 2;
  }
  uv_loop_t *loop = uv_default_loop();
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_timer_init(loop, &timer);
  conns = calloc(nconns, sizeof *conns);
  for (int i = 0; i < nconns; i++) {
    conn_t *c = &conns[i];
    c->id = i;
    c->connect.data = c;
    uv_tcp_init(loop, &c->tcp);
    int err = uv_tcp_connect(&c->connect, &c->tcp,
                             (const struct sockaddr *)&addr, on_connect);
    if (err < 0)
      fail("connect", err);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  free(conns);
  return 0;
}
