/*
** test-dns.c - luaio_getaddrinfo: numeric hosts, names, a name that does
** not resolve, and a lookup cancelled before it is done.
*/
#include "luaio.h"
#include "test.h"

static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  return loop;
}

static void wait_done(luaio_loop_t *loop, luaio_future_t *fut) {
  for (int i = 0; i < 10000 && !luaio_future_done(fut); i++)
    luaio_loop_run(loop, LUAIO_RUN_ONCE);
  ASSERT(luaio_future_done(fut));
}

TEST(numeric_ipv4) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_getaddrinfo(loop, "127.0.0.1", 80, 0);
  ASSERT_NOT_NULL(fut);
  wait_done(loop, fut);
  const luaio_addrinfo_t *list;
  size_t n;
  ASSERT_OK(luaio_getaddrinfo_finish(fut, 0, &list, &n));
  ASSERT_EQ(1, n);
  ASSERT_EQ(AF_INET, list[0].family);
  ASSERT_STR_EQ("127.0.0.1", list[0].addr);
  ASSERT_EQ(80, list[0].port);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

TEST(numeric_ipv6) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_getaddrinfo(loop, "::1", 443, 0);
  wait_done(loop, fut);
  const luaio_addrinfo_t *list;
  size_t n;
  ASSERT_OK(luaio_getaddrinfo_finish(fut, 0, &list, &n));
  ASSERT_EQ(1, n);
  ASSERT_EQ(AF_INET6, list[0].family);
  ASSERT_STR_EQ("::1", list[0].addr);
  ASSERT_EQ(443, list[0].port);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* localhost resolves to loopback addresses, without duplicates. */
TEST(localhost) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_getaddrinfo(loop, "localhost", 0, 0);
  wait_done(loop, fut);
  const luaio_addrinfo_t *list;
  size_t n;
  ASSERT_OK(luaio_getaddrinfo_finish(fut, 0, &list, &n));
  ASSERT(n >= 1);
  for (size_t i = 0; i < n; i++) {
    ASSERT(strcmp(list[i].addr, "127.0.0.1") == 0 ||
           strcmp(list[i].addr, "::1") == 0);
    for (size_t j = 0; j < i; j++)
      ASSERT(strcmp(list[i].addr, list[j].addr) != 0);
  }
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* The .invalid domain never resolves (RFC 6761). */
TEST(unknown_name) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_getaddrinfo(loop, "no-such-host.invalid", 0, 0);
  wait_done(loop, fut);
  const luaio_addrinfo_t *list;
  size_t n;
  int rc = luaio_getaddrinfo_finish(fut, 0, &list, &n);
  ASSERT(rc == UV_EAI_NONAME || rc == UV_EAI_AGAIN || rc == UV_EAI_FAIL);
  ASSERT_NULL(list);
  ASSERT_EQ(0, n);
  luaio_future_unref(fut);
  test_loop_close(loop);
}

/* Cancelled at once, the future is cancelled and the request's callback
** still frees it (loop deletion waits for the thread pool). */
TEST(cancelled) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut = luaio_getaddrinfo(loop, "localhost", 0, 0);
  ASSERT_EQ(1, luaio_future_cancel(fut, NULL));
  ASSERT(luaio_future_cancelled(fut));
  const luaio_addrinfo_t *list;
  size_t n;
  ASSERT_EQ(LUAIO_ECANCELLED, luaio_getaddrinfo_finish(fut, 0, &list, &n));
  luaio_future_unref(fut);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  test_loop_close(loop);
}

int main(int argc, char **argv) {
  return test_main(argc, argv);
}
