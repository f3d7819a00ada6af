/* W4 TCP echo server in C on libuv, the floor: listens on 127.0.0.1 on a
 * free port, prints "W4 c listening PORT", and writes back whatever each
 * connection sends until it is killed. Each connection reads into a buffer
 * of its own; what uv_try_write cannot send at once is copied into a
 * queued uv_write request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define BUFSIZE 65536

typedef struct {
  uv_tcp_t tcp;
  char buf[BUFSIZE];
} conn_t;

typedef struct {
  uv_write_t req;
  char data[]; /* the bytes uv_try_write left over */
} echo_t;

static void conn_free(uv_handle_t *h) { free(h); }

static void alloc_buf(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  *buf = uv_buf_init(((conn_t *)h)->buf, BUFSIZE);
}

static void echo_done(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  if (nread < 0) {
    uv_close((uv_handle_t *)s, conn_free);
    return;
  }
  uv_buf_t out = uv_buf_init(buf->base, nread);
  int sent = uv_try_write(s, &out, 1);
  if (sent == nread)
    return;
  if (sent < 0)
    sent = 0; /* UV_EAGAIN: queue all of it */
  echo_t *e = malloc(sizeof *e + nread - sent);
  memcpy(e->data, buf->base + sent, nread - sent);
  out = uv_buf_init(e->data, nread - sent);
  if (uv_write(&e->req, s, &out, 1, echo_done) < 0) {
    free(e);
    uv_close((uv_handle_t *)s, conn_free);
  }
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0)
    return;
  conn_t *conn = malloc(sizeof *conn);
  uv_tcp_init(server->loop, &conn->tcp);
  if (uv_accept(server, (uv_stream_t *)conn) < 0) {
    uv_close((uv_handle_t *)conn, conn_free);
    return;
  }
  uv_tcp_nodelay(&conn->tcp, 1);
  uv_read_start((uv_stream_t *)conn, alloc_buf, on_read);
}

int main(void) {
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
    fprintf(stderr, "W4 c: %s\n", uv_strerror(err));
    return 1;
  }
  printf("W4 c listening %d\n",
         ntohs(((struct sockaddr_in *)&bound)->sin_port));
  fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
