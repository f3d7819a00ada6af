/*
** test-host-poll.c - a host on an event loop of its own waits on
** luaio_host_backend_fd() for at most luaio_host_timeout() milliseconds,
** then steps: the timeout follows luaio's timers and ready work, and a
** post from another thread makes the fd readable.
*/
#include <poll.h>

#include "host.h"

static void close_host(lua_State *L) {
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

TEST(the_timeout_follows_ready_work_and_manual_timers) {
  lua_State *L = host_newstate();
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_timeout(L));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_backend_fd(L));
  ASSERT_OK(luaio_host_open_clock(L, NULL, LUAIO_CLOCK_MANUAL));
  ASSERT_EQ(-1, luaio_host_timeout(L)); /* nothing to do */
  run(L, "asyncio.create_task(function() asyncio.sleep(1) log('woke') end)");
  ASSERT_EQ(0, luaio_host_timeout(L)); /* the task is ready */
  luaio_host_step(L);
  ASSERT_EQ(-1, luaio_host_timeout(L)); /* game time must move first */
  ASSERT_OK(luaio_host_advance(L, 1));
  ASSERT_EQ(0, luaio_host_timeout(L));
  ASSERT_EQ(0, luaio_host_step(L));
  ASSERT_STR_EQ("woke", test_log);
  close_host(L);
}

TEST(the_timeout_ends_at_a_real_timer) {
  lua_State *L = host_newstate();
  ASSERT_OK(luaio_host_open(L, NULL));
  run(L, "asyncio.create_task(function() asyncio.sleep(3600) end)");
  luaio_host_step(L);
  int ms = luaio_host_timeout(L);
  ASSERT(ms > 0 && ms <= 3600 * 1000);
  close_host(L);
}

static void posted(void *arg) { test_logf("%s", (const char *)arg); }

static void post_from_thread(void *arg) {
  ASSERT_OK(luaio_call_soon_threadsafe(arg, posted, (void *)(uintptr_t)"posted"));
}

TEST(a_post_makes_the_fd_readable_and_the_next_step_runs_it) {
  lua_State *L = host_newstate();
  ASSERT_OK(luaio_host_open(L, NULL));
  int fd = luaio_host_backend_fd(L);
  ASSERT(fd >= 0);
  uv_thread_t t;
  ASSERT_OK(uv_thread_create(&t, post_from_thread, luaio_host_loop(L)));
  struct pollfd p = {fd, POLLIN, 0};
  ASSERT_EQ(1, poll(&p, 1, 60 * 1000)); /* the host's own wait */
  ASSERT_OK(uv_thread_join(&t));
  luaio_host_step(L);
  ASSERT_STR_EQ("posted", test_log);
  close_host(L);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
