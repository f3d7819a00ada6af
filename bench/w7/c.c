/* W7/W8 TLS echo server in C on libuv and OpenSSL, the floor: serves TLS
 * with the certificate and key given, on 127.0.0.1 on a free port, prints
 * "W7 c listening PORT", and writes back whatever each connection sends
 * until it is killed. The SSL object of each connection talks to two
 * memory BIOs: what libuv reads goes into one, what SSL writes to the
 * other is sent with uv_try_write (the rest copied into a uv_write
 * request). On the peer's close_notify or EOF it sends its own and closes.
 * Usage: c CERT.pem KEY.pem */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct {
  uv_tcp_t tcp;
  SSL *ssl;
  BIO *rbio, *wbio;
  int closing;
} conn_t;

typedef struct {
  uv_write_t req;
  char data[];
} write_t;

static SSL_CTX *ctx;

static void conn_free(uv_handle_t *h) {
  conn_t *c = (conn_t *)h;
  SSL_free(c->ssl);
  free(c);
}

static void conn_close(conn_t *c) {
  if (!c->closing) {
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, conn_free);
  }
}

static void write_done(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

/* Sends what SSL wrote to the outgoing BIO. */
static void flush(conn_t *c) {
  char *p;
  long n = BIO_get_mem_data(c->wbio, &p);
  if (n <= 0 || c->closing)
    return;
  uv_buf_t buf = uv_buf_init(p, (unsigned)n);
  int sent = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
  if (sent < 0)
    sent = 0; /* UV_EAGAIN: queue all of it */
  if (sent < n) {
    write_t *w = malloc(sizeof *w + (n - sent));
    memcpy(w->data, p + sent, n - sent);
    buf = uv_buf_init(w->data, (unsigned)(n - sent));
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, write_done) < 0) {
      free(w);
      conn_close(c);
    }
  }
  (void)BIO_reset(c->wbio);
}

static void alloc_buf(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  static char slab[65536];
  (void)h;
  (void)hint;
  *buf = uv_buf_init(slab, sizeof slab);
}

/* Sends close_notify and closes (the write requests go out first). */
static void conn_shutdown(conn_t *c) {
  if (SSL_is_init_finished(c->ssl))
    SSL_shutdown(c->ssl);
  flush(c);
  conn_close(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = (conn_t *)s;
  if (nread < 0) {
    conn_shutdown(c);
    return;
  }
  BIO_write(c->rbio, buf->base, (int)nread);
  char tmp[16384];
  for (;;) {
    int n = SSL_read(c->ssl, tmp, sizeof tmp);
    if (n > 0) {
      SSL_write(c->ssl, tmp, n);
      continue;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ)
      break;
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN)
      conn_shutdown(c);
    else
      conn_close(c);
    return;
  }
  flush(c);
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0)
    return;
  conn_t *c = calloc(1, sizeof *c);
  uv_tcp_init(server->loop, &c->tcp);
  c->ssl = SSL_new(ctx);
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(c->rbio, -1);
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
  SSL_set_accept_state(c->ssl);
  if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, alloc_buf, on_read);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: c CERT.pem KEY.pem\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN); /* a reset peer is an error, not a signal */
  ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL ||
      SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
    fprintf(stderr, "c: cannot load %s and %s\n", argv[1], argv[2]);
    return 1;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  uv_loop_t *loop = uv_default_loop();
  uv_tcp_t server;
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_init(loop, &server);
  int err = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
  if (err == 0)
    err = uv_listen((uv_stream_t *)&server, 128, on_connection);
  if (err == 0)
    err = uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
  if (err != 0) {
    fprintf(stderr, "c: %s\n", uv_strerror(err));
    return 1;
  }
  printf("W7 c listening %d\n", ntohs(((struct sockaddr_in *)&bound)->sin_port));
  fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
