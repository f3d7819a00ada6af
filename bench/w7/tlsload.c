/* tlsload: the W7 and W8 load generator, in C on libuv and OpenSSL (memory
 * BIOs, as a libuv program does TLS). Every connection offers TLS 1.3
 * only, the X25519 group only and TLS_AES_128_GCM_SHA256 only, so every
 * server under test does the same work; the server's certificate is not
 * verified against a CA (its signature over the handshake still is), and
 * no session is resumed.
 *
 *   tlsload echo PORT NAME [CONNS [SECONDS [SIZE]]]
 *     W7: opens CONNS TLS connections to 127.0.0.1:PORT; once every
 *     handshake is done, each sends a SIZE-byte message, waits for it to
 *     come back whole and unchanged, and sends the next one. Prints
 *       W7 NAME <round trips per second> rt/s conns=.. seconds=.. ...
 *   tlsload handshake PORT NAME [CONNS [SECONDS [SIZE]]]
 *     W8: keeps CONNS connections in flight; each connects, does a full
 *     handshake, sends one SIZE-byte message, waits for its echo, sends
 *     close_notify, waits for the server to close, and is replaced by a
 *     new one. Prints
 *       W8 NAME <handshakes per second> hs/s conns=.. seconds=.. ...
 *
 * In W8 the client closes with a reset once the server has closed, so that
 * no connection lingers in TIME_WAIT and a long run does not exhaust the
 * ports; when the time is up, every connection is closed as usual. Exits 1 on any connection or TLS error, a wrong echo, or no
 * round trip at all. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAXSIZE 4096

enum { S_HANDSHAKE, S_ECHO, S_CLOSING };

typedef struct {
  uv_tcp_t tcp;
  uv_connect_t connect;
  SSL *ssl;
  BIO *rbio, *wbio; /* what was read; what is to be sent */
  int id, state;
  long seq;             /* number of the message in flight */
  char expect[MAXSIZE]; /* the message in flight */
  size_t got;           /* bytes of it echoed so far */
} conn_t;

typedef struct {
  uv_write_t req;
  char data[];
} write_t;

static const char *name;
static int handshakes_mode; /* W8, else W7 */
static int nconns, up, size;
static double seconds;
static int measuring, stopping;
static long done_count, open_count;
static uint64_t t0;
static SSL_CTX *ctx;
static struct sockaddr_in addr;
static uv_loop_t *loop;
static uv_timer_t timer;
static conn_t **conns; /* W7: every connection, to close them at the end */

static void fail(const char *what, const char *why) {
  fprintf(stderr, "tlsload: %s: %s\n", what, why ? why : "");
  exit(1);
}

static void fail_ssl(const char *what) {
  unsigned long e = ERR_peek_last_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  fail(what, r ? r : "failed");
}

static void write_done(uv_write_t *req, int status) {
  free(req);
  if (status < 0 && !stopping && status != UV_ECANCELED &&
      status != UV_EPIPE && status != UV_ECONNRESET)
    fail("write", uv_strerror(status));
}

/* Sends what SSL wrote to the outgoing BIO. */
static void flush(conn_t *c) {
  char *p;
  long n = BIO_get_mem_data(c->wbio, &p);
  if (n <= 0)
    return;
  uv_buf_t buf = uv_buf_init(p, (unsigned)n);
  int sent = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
  if (sent < 0)
    sent = 0;
  if (sent < n) {
    write_t *w = malloc(sizeof *w + (n - sent));
    if (w == NULL)
      fail("out of memory", NULL);
    memcpy(w->data, p + sent, n - sent);
    buf = uv_buf_init(w->data, (unsigned)(n - sent));
    int err = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, write_done);
    if (err < 0)
      fail("write", uv_strerror(err));
  }
  (void)BIO_reset(c->wbio);
}

static void send_next(conn_t *c) {
  c->seq++;
  /* Every message differs, so a wrong or stale echo is caught. */
  memset(c->expect, 'a' + c->id % 26, size);
  snprintf(c->expect, size, "%d:%ld:", c->id, c->seq);
  c->got = 0;
  if (SSL_write(c->ssl, c->expect, size) != size)
    fail_ssl("SSL_write");
  flush(c);
}

static void conn_free(uv_handle_t *h) {
  conn_t *c = (conn_t *)h;
  SSL_free(c->ssl);
  free(c);
  open_count--;
}

static void conn_start(int id);

/* W8: the server closed after the exchange; this connection is done. */
static void conn_finished(conn_t *c) {
  if (measuring)
    done_count++;
  uv_tcp_close_reset(&c->tcp, conn_free);
  if (!stopping)
    conn_start(c->id);
}

static void alloc_buf(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  static char slab[65536];
  (void)h;
  (void)hint;
  *buf = uv_buf_init(slab, sizeof slab);
}

static void all_up(void);

/* Decrypts what arrived: the echo, or in W8 the server's close_notify. */
static void read_records(conn_t *c) {
  char tmp[16384];
  for (;;) {
    int n = SSL_read(c->ssl, tmp, sizeof tmp);
    if (n <= 0) {
      int e = SSL_get_error(c->ssl, n);
      if (e == SSL_ERROR_WANT_READ)
        break;
      if (e == SSL_ERROR_ZERO_RETURN && c->state == S_CLOSING)
        break; /* the server's close_notify: its FIN follows */
      fail_ssl("SSL_read");
    }
    if (c->state != S_ECHO || c->got + n > (size_t)size ||
        memcmp(tmp, c->expect + c->got, n) != 0)
      fail("the echo differs from the message sent", NULL);
    c->got += n;
    if (c->got < (size_t)size)
      continue;
    if (handshakes_mode) {
      c->state = S_CLOSING;
      SSL_shutdown(c->ssl);
      flush(c);
      continue;
    }
    if (measuring)
      done_count++;
    send_next(c);
  }
  flush(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = (conn_t *)s;
  if (stopping)
    return;
  if (nread < 0) {
    if (nread == UV_EOF && c->state == S_CLOSING) {
      conn_finished(c);
      return;
    }
    fail("read", nread == UV_EOF ? "the server closed the connection"
                                 : uv_strerror((int)nread));
  }
  if (nread == 0)
    return;
  BIO_write(c->rbio, buf->base, (int)nread);
  if (c->state == S_HANDSHAKE) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      int e = SSL_get_error(c->ssl, r);
      flush(c);
      if (e == SSL_ERROR_WANT_READ)
        return;
      fail_ssl("handshake");
    }
    c->state = S_ECHO;
    if (handshakes_mode)
      send_next(c);
    else if (++up == nconns)
      all_up();
  }
  read_records(c);
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  if (stopping)
    return;
  if (status < 0)
    fail("connect", uv_strerror(status));
  uv_tcp_nodelay(&c->tcp, 1);
  int err = uv_read_start((uv_stream_t *)&c->tcp, alloc_buf, on_read);
  if (err < 0)
    fail("read_start", uv_strerror(err));
  if (SSL_do_handshake(c->ssl) != -1 ||
      SSL_get_error(c->ssl, -1) != SSL_ERROR_WANT_READ)
    fail_ssl("handshake");
  flush(c);
}

static void conn_start(int id) {
  conn_t *c = calloc(1, sizeof *c);
  if (c == NULL)
    fail("out of memory", NULL);
  c->id = id;
  c->state = S_HANDSHAKE;
  c->connect.data = c;
  c->ssl = SSL_new(ctx);
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL)
    fail_ssl("SSL_new");
  BIO_set_mem_eof_return(c->rbio, -1);
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
  SSL_set_connect_state(c->ssl);
  uv_tcp_init(loop, &c->tcp);
  open_count++;
  if (!handshakes_mode)
    conns[id] = c;
  int err = uv_tcp_connect(&c->connect, &c->tcp,
                           (const struct sockaddr *)&addr, on_connect);
  if (err < 0)
    fail("connect", uv_strerror(err));
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (h->type == UV_TCP && !uv_is_closing(h))
    uv_close(h, conn_free);
}

static void time_up(uv_timer_t *t) {
  (void)t;
  double elapsed = (uv_hrtime() - t0) / 1e9;
  stopping = 1;
  measuring = 0;
  uv_walk(loop, close_walk, NULL);
  uv_close((uv_handle_t *)&timer, NULL);
  if (done_count == 0)
    fail(handshakes_mode ? "no handshake completed"
                         : "no round trip completed",
         NULL);
  if (handshakes_mode)
    printf("W8 %s %.0f hs/s conns=%d seconds=%.1f size=%d handshakes=%ld\n",
           name, done_count / elapsed, nconns, elapsed, size, done_count);
  else
    printf("W7 %s %.0f rt/s conns=%d seconds=%.1f size=%d trips=%ld\n", name,
           done_count / elapsed, nconns, elapsed, size, done_count);
  fflush(stdout);
}

static void start_clock(void) {
  measuring = 1;
  t0 = uv_hrtime();
  uv_timer_start(&timer, time_up, (uint64_t)(seconds * 1000), 0);
}

/* W7: every handshake is done; the round trips begin. */
static void all_up(void) {
  for (int i = 0; i < nconns; i++)
    send_next(conns[i]);
  start_clock();
}

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[1], "echo") != 0 &&
                   strcmp(argv[1], "handshake") != 0)) {
    fprintf(stderr, "usage: tlsload echo|handshake PORT NAME "
                    "[CONNS [SECONDS [SIZE]]]\n");
    return 2;
  }
  handshakes_mode = strcmp(argv[1], "handshake") == 0;
  int port = atoi(argv[2]);
  name = argv[3];
  nconns = argc > 4 ? atoi(argv[4]) : 50;
  seconds = argc > 5 ? atof(argv[5]) : 5.0;
  size = argc > 6 ? atoi(argv[6]) : 64;
  if (nconns < 1 || seconds <= 0 || size < 16 || size > MAXSIZE) {
    fprintf(stderr, "tlsload: bad CONNS, SECONDS or SIZE\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN); /* a reset peer is an error, not a signal */
  ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL ||
      !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
      !SSL_CTX_set1_groups_list(ctx, "X25519") ||
      !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256"))
    fail_ssl("SSL_CTX");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  loop = uv_default_loop();
  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_timer_init(loop, &timer);
  if (!handshakes_mode)
    conns = calloc(nconns, sizeof *conns);
  for (int i = 0; i < nconns; i++)
    conn_start(i);
  if (handshakes_mode)
    start_clock();
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  free(conns);
  SSL_CTX_free(ctx);
  return 0;
}
