/*
** test-udp.c - UDP endpoints on 127.0.0.1: a round trip, a full queue
** dropping and counting, a cancelled wait losing nothing, a close waking
** the receiver, and a connected endpoint.
*/
#include <string.h>

#include "luaio.h"
#include "test.h"

static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  return loop;
}

static luaio_udp_t *endpoint(luaio_loop_t *loop, const struct sockaddr *remote,
                             size_t queue) {
  struct sockaddr_in local;
  ASSERT_OK(uv_ip4_addr("127.0.0.1", 0, &local));
  luaio_udp_t *u;
  ASSERT_OK(luaio_udp_open(loop, AF_INET, (const struct sockaddr *)&local,
                           remote, 0, queue, &u));
  return u;
}

static struct sockaddr_in addr_of(luaio_udp_t *u) {
  char host[64];
  int port;
  ASSERT_OK(luaio_udp_sockname(u, host, sizeof host, &port));
  ASSERT(strcmp(host, "127.0.0.1") == 0);
  ASSERT(port > 0);
  struct sockaddr_in a;
  ASSERT_OK(uv_ip4_addr(host, port, &a));
  return a;
}

/* Waits for a datagram and checks it. */
static void expect(luaio_loop_t *loop, luaio_udp_t *u, const char *want) {
  const char *data;
  size_t len;
  struct sockaddr_storage from;
  int rc;
  while ((rc = luaio_udp_recv(u, &data, &len, &from)) == UV_EAGAIN) {
    luaio_future_t *fut;
    ASSERT_OK(luaio_udp_wait_recv(u, &fut));
    while (!luaio_future_done(fut))
      luaio_loop_run(loop, LUAIO_RUN_ONCE);
    ASSERT_OK(luaio_udp_wait_recv_finish(u, fut, 0));
    luaio_future_unref(fut);
  }
  ASSERT_OK(rc);
  ASSERT_EQ(strlen(want), len);
  ASSERT(memcmp(data, want, len) == 0);
  ASSERT_EQ(AF_INET, from.ss_family);
  luaio_udp_consume(u);
}

static void finish(luaio_loop_t *loop) {
  while (uv_loop_alive(luaio_loop_uv(loop)))
    luaio_loop_run(loop, LUAIO_RUN_ONCE);
  test_loop_close(loop);
}

TEST(round_trip_and_full_queue) {
  luaio_loop_t *loop = loop_open();
  luaio_udp_t *a = endpoint(loop, NULL, 3);
  luaio_udp_t *b = endpoint(loop, NULL, 0);
  struct sockaddr_in aa = addr_of(a), ba = addr_of(b);
  ASSERT_EQ(UV_EDESTADDRREQ, luaio_udp_sendto(a, "x", 1, NULL));
  ASSERT_OK(luaio_udp_sendto(a, "ping", 4, (const struct sockaddr *)&ba));
  expect(loop, b, "ping");
  ASSERT_OK(luaio_udp_sendto(b, "pong", 4, (const struct sockaddr *)&aa));
  expect(loop, a, "pong");
  /* Five to a queue of three: the last two are dropped and counted. */
  const char *five[] = {"1", "2", "3", "4", "5"};
  for (int i = 0; i < 5; i++)
    ASSERT_OK(luaio_udp_sendto(b, five[i], 1, (const struct sockaddr *)&aa));
  ASSERT_OK(luaio_udp_sendto(b, "end", 3, (const struct sockaddr *)&ba));
  expect(loop, b, "end"); /* sent after the five: they have arrived */
  for (int i = 0; i < 20 && luaio_udp_dropped(a) < 2; i++)
    luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_EQ(2, luaio_udp_dropped(a));
  expect(loop, a, "1");
  expect(loop, a, "2");
  expect(loop, a, "3");
  luaio_udp_close(a);
  luaio_udp_close(b);
  luaio_udp_unref(a);
  luaio_udp_unref(b);
  finish(loop);
}

TEST(cancelled_wait_and_close_while_waiting) {
  luaio_loop_t *loop = loop_open();
  luaio_udp_t *a = endpoint(loop, NULL, 0);
  struct sockaddr_in aa = addr_of(a);
  luaio_udp_t *b = endpoint(loop, (const struct sockaddr *)&aa, 0);
  ASSERT_EQ(UV_EISCONN,
            luaio_udp_sendto(b, "x", 1, (const struct sockaddr *)&aa));
  /* A wait abandoned before anything came: the next datagram stays. */
  luaio_future_t *fut;
  ASSERT_OK(luaio_udp_wait_recv(a, &fut));
  luaio_future_t *other;
  ASSERT_EQ(LUAIO_EBUSY, luaio_udp_wait_recv(a, &other));
  ASSERT_EQ(LUAIO_ECANCELLED, luaio_udp_wait_recv_finish(a, fut, 0));
  luaio_future_unref(fut);
  ASSERT_OK(luaio_udp_sendto(b, "kept", 4, NULL)); /* to its remote */
  expect(loop, a, "kept");
  /* Closed while a receiver waits: it is woken, and told so. */
  ASSERT_OK(luaio_udp_wait_recv(a, &fut));
  luaio_udp_close(a);
  luaio_udp_close(a); /* idempotent */
  ASSERT(luaio_future_done(fut));
  ASSERT_OK(luaio_udp_wait_recv_finish(a, fut, 0));
  luaio_future_unref(fut);
  const char *data;
  size_t len;
  struct sockaddr_storage from;
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_udp_recv(a, &data, &len, &from));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_udp_sendto(a, "x", 1, NULL));
  luaio_udp_close(b);
  luaio_udp_unref(a);
  luaio_udp_unref(b);
  finish(loop);
}

TEST(ipv6_loopback) {
  luaio_loop_t *loop = loop_open();
  struct sockaddr_in6 local;
  ASSERT_OK(uv_ip6_addr("::1", 0, &local));
  luaio_udp_t *u;
  int rc = luaio_udp_open(loop, AF_INET6, (const struct sockaddr *)&local,
                          NULL, 0, 0, &u);
  if (rc == UV_EADDRNOTAVAIL) { /* no IPv6 here */
    finish(loop);
    return;
  }
  ASSERT_OK(rc);
  char host[64];
  int port;
  ASSERT_OK(luaio_udp_sockname(u, host, sizeof host, &port));
  ASSERT(strcmp(host, "::1") == 0);
  struct sockaddr_in6 self;
  ASSERT_OK(uv_ip6_addr("::1", port, &self));
  ASSERT_OK(luaio_udp_sendto(u, "six", 3, (const struct sockaddr *)&self));
  const char *data;
  size_t len;
  struct sockaddr_storage from;
  while (luaio_udp_recv(u, &data, &len, &from) == UV_EAGAIN)
    luaio_loop_run(loop, LUAIO_RUN_ONCE);
  ASSERT_EQ(3, len);
  ASSERT_EQ(AF_INET6, from.ss_family);
  luaio_udp_consume(u);
  luaio_udp_close(u);
  luaio_udp_unref(u);
  finish(loop);
}

int main(int argc, char **argv) {
  return test_main(argc, argv);
}
