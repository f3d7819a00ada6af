/*
** test-tls.c - TLS contexts and what start_tls refuses: the defaults,
** file errors that say which file and why, a stream with no connection,
** and the session information of a stream without TLS. The handshakes
** themselves run in spec/tls_spec.lua, with certificates made there.
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

int main(int argc, char **argv) {
  return test_main(argc, argv);
}
