/*
** test-tls.c - TLS contexts and what start_tls refuses: the defaults,
** file errors that say which file and why, a stream with no connection,
** and the session information of a stream without TLS; then one TLS
** connection over loopback, with a certificate the openssl command makes:
** the handshake with text written during it (counted in the write buffer,
** drained after it), small records each way, writes of several chunks read
** back whole, close_notify, and every buffer given back. Verification and
** its errors run in spec/tls_spec.lua.
*/
#include <string.h>

#include "luaio.h"
#include "test.h"

TEST(context_files) {
  char msg[256] = "";
  int err = 0;
  luaio_tls_ctx_t *ctx = luaio_tls_ctx_new(0, &err);
  if (!luaio_tls_available()) {
    ASSERT_NULL(ctx);
    ASSERT_EQ(UV_ENOTSUP, err);
    ASSERT(strncmp(luaio_tls_unavailable(), "TLS is not available: ", 22) ==
           0);
    return;
  }
  ASSERT_NULL(luaio_tls_unavailable());
  ASSERT_NOT_NULL(ctx);
  ASSERT_EQ(0, luaio_tls_ctx_is_server(ctx));
  luaio_tls_ctx_set_default_cas(ctx, 0);
  ASSERT_EQ(LUAIO_ETLS,
            luaio_tls_ctx_load_cert_chain(ctx, "/nonexistent/cert.pem", NULL,
                                          msg, sizeof msg));
  ASSERT(strncmp(msg, "/nonexistent/cert.pem: ", 23) == 0);
  ASSERT_EQ(LUAIO_ETLS,
            luaio_tls_ctx_load_verify_locations(ctx, "/nonexistent/ca.pem",
                                                NULL, msg, sizeof msg));
  ASSERT(strncmp(msg, "/nonexistent/ca.pem: ", 21) == 0);
  /* Nothing to load is no error. */
  ASSERT_OK(luaio_tls_ctx_load_verify_locations(ctx, NULL, NULL, msg,
                                                sizeof msg));
  const char *good[] = {"h2", "http/1.1"}, *empty[] = {""};
  ASSERT_OK(luaio_tls_ctx_set_alpn(ctx, good, 2));
  ASSERT_EQ(LUAIO_EINVAL, luaio_tls_ctx_set_alpn(ctx, empty, 1));
  luaio_tls_ctx_ref(ctx);
  luaio_tls_ctx_unref(ctx);
  luaio_tls_ctx_unref(ctx);
  ctx = luaio_tls_ctx_new(1, &err);
  ASSERT_NOT_NULL(ctx);
  ASSERT_EQ(1, luaio_tls_ctx_is_server(ctx));
  luaio_tls_ctx_set_verify(ctx, 1, 0);
  ASSERT_OK(luaio_tls_ctx_set_alpn(ctx, good, 2)); /* kept by the context */
  ASSERT_OK(luaio_tls_ctx_set_alpn(ctx, good, 1)); /* and replaced */
  luaio_tls_ctx_unref(ctx);
}

TEST(start_tls_needs_a_connection) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  int err;
  luaio_tls_ctx_t *ctx = luaio_tls_ctx_new(0, &err);
  luaio_stream_t *s = luaio_stream_new(loop, 0);
  ASSERT_NOT_NULL(s);
  char buf[64];
  ASSERT_EQ(LUAIO_EINVALSTATE,
            luaio_stream_tls_info(s, LUAIO_TLS_VERSION, buf, sizeof buf));
  ASSERT_STR_EQ("", luaio_stream_tls_error(s));
  ASSERT_EQ(0, luaio_stream_is_tls(s));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_stream_set_tls_shutdown_timeout(s, 1));
  if (ctx != NULL) {
    luaio_future_t *fut = luaio_stream_start_tls(s, ctx, "localhost", 1);
    ASSERT_NOT_NULL(fut);
    ASSERT(luaio_future_done(fut));
    ASSERT_EQ(LUAIO_EINVALSTATE, luaio_stream_start_tls_finish(s, fut, 0));
    ASSERT_EQ(0, luaio_stream_is_tls(s));
    luaio_future_unref(fut);
    luaio_tls_ctx_unref(ctx);
  }
  luaio_stream_unref(s);
  test_loop_close(loop);
}

/* {======================================================================
** A TLS connection over loopback, both ends on one loop
** ======================================================================= */

static char certdir[64]; /* the certificate made for these tests, or "" */

/* Makes a self-signed certificate with the openssl command. Returns 0, or
** -1 when there is no openssl command (the test is then skipped). */
static int make_cert(void) {
  if (certdir[0] != '\0')
    return 0;
  snprintf(certdir, sizeof certdir, "/tmp/luaio-test-tls-XXXXXX");
  ASSERT_NOT_NULL(mkdtemp(certdir));
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey ec -pkeyopt "
           "ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost "
           "-keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1",
           certdir, certdir);
  if (system(cmd) != 0) {
    certdir[0] = '\0';
    return -1;
  }
  return 0;
}

static void remove_cert(void) {
  char path[128];
  snprintf(path, sizeof path, "%s/key.pem", certdir);
  remove(path);
  snprintf(path, sizeof path, "%s/cert.pem", certdir);
  remove(path);
  remove(certdir);
}

typedef struct {
  luaio_tls_ctx_t *ctx;
  luaio_stream_t *conn; /* owns: the accepted connection */
  luaio_future_t *hs;   /* owns: its handshake */
} tls_server;

static void on_tls_conn(luaio_server_t *srv, luaio_stream_t *conn,
                        void *arg) {
  tls_server *sv = arg;
  (void)srv;
  ASSERT_NULL(sv->conn);
  sv->conn = conn;
  sv->hs = luaio_stream_start_tls(conn, sv->ctx, NULL, 10);
  ASSERT_NOT_NULL(sv->hs);
}

#define RUN_UNTIL(loop, cond)                                                  \
  do {                                                                         \
    for (int i_ = 0; i_ < 100000 && !(cond); i_++)                             \
      luaio_loop_run(loop, LUAIO_RUN_ONCE);                                    \
    ASSERT(cond);                                                              \
  } while (0)

static size_t buffered(const luaio_stream_t *s) {
  size_t n;
  luaio_stream_buffer(s, &n);
  return n;
}

/* The byte at offset i of the bulk transfer. */
static char bulk_byte(size_t i) {
  return (char)('a' + (i * 7 + i / 4093) % 26);
}

/* Reads from s until n bytes of the bulk pattern came, checking each. */
static void read_bulk(luaio_loop_t *loop, luaio_stream_t *s, size_t n) {
  size_t got = 0;
  for (int i = 0; i < 100000 && got < n; i++) {
    size_t len;
    const char *p = luaio_stream_buffer(s, &len);
    for (size_t k = 0; k < len; k++)
      ASSERT_EQ(bulk_byte(got + k), p[k]);
    luaio_stream_consume(s, len);
    got += len;
    if (got < n)
      luaio_loop_run(loop, LUAIO_RUN_ONCE);
  }
  ASSERT_EQ(n, got);
}

TEST(echo_and_bulk_through_tls) {
  if (!luaio_tls_available() || make_cert() != 0) {
    printf("# skipped: no TLS, or no openssl command\n");
    return;
  }
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  int err;
  char msg[256], cert[128], key[128];
  snprintf(cert, sizeof cert, "%s/cert.pem", certdir);
  snprintf(key, sizeof key, "%s/key.pem", certdir);
  tls_server sv = {0};
  sv.ctx = luaio_tls_ctx_new(1, &err);
  ASSERT_NOT_NULL(sv.ctx);
  ASSERT_OK(luaio_tls_ctx_load_cert_chain(sv.ctx, cert, key, msg, sizeof msg));
  luaio_tls_ctx_t *cctx = luaio_tls_ctx_new(0, &err);
  ASSERT_NOT_NULL(cctx);
  luaio_tls_ctx_set_verify(cctx, 0, 0); /* self-signed */
  luaio_server_t *srv = luaio_server_new(loop, on_tls_conn, &sv, 0);
  ASSERT_NOT_NULL(srv);
  struct sockaddr_in addr;
  ASSERT_OK(uv_ip4_addr("127.0.0.1", 0, &addr));
  ASSERT_OK(luaio_server_listen(srv, (const struct sockaddr *)&addr, 0, 1));

  /* Connect, and the handshake on both ends. */
  luaio_future_t *fut = luaio_stream_connect(loop, "127.0.0.1",
                                             luaio_server_port(srv), 10, 0);
  ASSERT_NOT_NULL(fut);
  RUN_UNTIL(loop, luaio_future_done(fut));
  luaio_stream_t *c;
  ASSERT_OK(luaio_stream_connect_finish(fut, 0, &c));
  luaio_future_unref(fut);
  luaio_future_t *hs = luaio_stream_start_tls(c, cctx, "localhost", 10);
  ASSERT_NOT_NULL(hs);

  /* Text written during the handshake counts in the write buffer, and
  ** drain waits until it is sent, after the handshake. */
  size_t nbig = 5 * 65536 + 1234;
  char *big = malloc(nbig);
  ASSERT_NOT_NULL(big);
  for (size_t i = 0; i < nbig; i++)
    big[i] = bulk_byte(i);
  ASSERT_OK(luaio_stream_write(c, big, nbig));
  ASSERT(luaio_stream_write_buffer_size(c) >= nbig);
  luaio_future_t *drain;
  ASSERT_OK(luaio_stream_drain(c, &drain));
  ASSERT_NOT_NULL(drain);
  RUN_UNTIL(loop, luaio_future_done(hs) && sv.hs != NULL &&
                      luaio_future_done(sv.hs));
  ASSERT_OK(luaio_stream_start_tls_finish(c, hs, 0));
  ASSERT_OK(luaio_stream_start_tls_finish(sv.conn, sv.hs, 0));
  luaio_future_unref(hs);
  luaio_future_unref(sv.hs);
  read_bulk(loop, sv.conn, nbig);
  RUN_UNTIL(loop, luaio_future_done(drain));
  ASSERT_OK(luaio_stream_drain_finish(c, drain, 0));
  luaio_future_unref(drain);
  ASSERT(luaio_stream_write_buffer_size(c) <= LUAIO_STREAM_LOW_WATER);
  char info[64];
  ASSERT_OK(luaio_stream_tls_info(c, LUAIO_TLS_VERSION, info, sizeof info));
  ASSERT_STR_EQ("TLSv1.3", info);

  /* Small messages each way, each its own record, in order. */
  for (int i = 0; i < 20; i++) {
    char ping[32], pong[32];
    int n = snprintf(ping, sizeof ping, "ping %d\n", i);
    ASSERT_OK(luaio_stream_write(c, ping, (size_t)n));
    RUN_UNTIL(loop, buffered(sv.conn) == (size_t)n);
    ASSERT(memcmp(luaio_stream_buffer(sv.conn, &(size_t){0}), ping, n) == 0);
    luaio_stream_consume(sv.conn, (size_t)n);
    n = snprintf(pong, sizeof pong, "pong %d\n", i);
    ASSERT_OK(luaio_stream_write(sv.conn, pong, (size_t)n));
    RUN_UNTIL(loop, buffered(c) == (size_t)n);
    ASSERT(memcmp(luaio_stream_buffer(c, &(size_t){0}), pong, n) == 0);
    luaio_stream_consume(c, (size_t)n);
  }

  /* One write of several chunks of records, then the other way. */
  ASSERT_OK(luaio_stream_write(c, big, nbig));
  read_bulk(loop, sv.conn, nbig);
  ASSERT_OK(luaio_stream_write(sv.conn, big, nbig));
  read_bulk(loop, c, nbig);
  free(big);

  /* close_notify ends the other side's input cleanly. */
  luaio_stream_close(c);
  RUN_UNTIL(loop, luaio_stream_at_eof(sv.conn));
  ASSERT_EQ(0, buffered(sv.conn));
  luaio_stream_close(sv.conn);
  luaio_stream_unref(sv.conn);
  luaio_stream_unref(c);
  luaio_server_close(srv);
  luaio_server_unref(srv);
  luaio_tls_ctx_unref(sv.ctx);
  luaio_tls_ctx_unref(cctx);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  test_loop_close(loop);
  remove_cert();
}

/* }====================================================================== */

int main(int argc, char **argv) {
  return test_main(argc, argv);
}
