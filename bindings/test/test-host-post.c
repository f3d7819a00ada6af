/*
** test-host-post.c - a host's other threads post work to the loop with
** luaio_call_soon_threadsafe(luaio_host_loop(L), ...), and settle
** futures that scripts await with luaio_host_future_*; lua_close alone
** closes a host loop, letting its tasks clean up.
*/
#include <stdlib.h>

#include "host.h"

#define NTHREADS 4
#define PER_THREAD 500

static lua_State *open_host(void) {
  lua_State *L = host_newstate();
  ASSERT_OK(luaio_host_open(L, NULL));
  test_log_reset();
  return L;
}

typedef struct {
  lua_State *L;
  int thread, seq;
  int ref; /* the thread's future, resolved by its last post */
} post;

/* On the loop's thread: hands the post to the script; the last one of
** a thread resolves its future with the count the script kept. */
static void deliver(void *arg) {
  post *p = arg;
  lua_State *L = p->L;
  lua_getglobal(L, "got");
  lua_pushinteger(L, p->thread);
  lua_pushinteger(L, p->seq);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK)
    test_fail(__FILE__, __LINE__, "%s", lua_tostring(L, -1));
  if (p->seq == PER_THREAD)
    ASSERT_OK(luaio_host_future_resolve(L, p->ref, 1));
  else
    lua_pop(L, 1);
  free(p);
}

typedef struct {
  luaio_loop_t *loop;
  lua_State *L; /* only passed along, never used off the loop's thread */
  int thread, ref;
} poster;

static void post_all(void *arg) {
  poster *ps = arg;
  for (int i = 1; i <= PER_THREAD; i++) {
    post *p = malloc(sizeof *p);
    ASSERT_NOT_NULL(p);
    *p = (post){ps->L, ps->thread, i, ps->ref};
    ASSERT_OK(luaio_call_soon_threadsafe(ps->loop, deliver, p));
  }
}

TEST(four_threads_post_and_resolve_futures_nothing_lost) {
  lua_State *L = open_host();
  run(L, "counts, futs = {}, {}\n"
         "function got(thread, seq)\n"
         "  local n = (counts[thread] or 0) + 1\n"
         "  assert(n == seq, 'out of order')\n"
         "  counts[thread] = n\n"
         "  return n\n"
         "end\n");
  poster posters[NTHREADS];
  lua_getglobal(L, "futs");
  for (int i = 0; i < NTHREADS; i++) {
    int ref = luaio_host_future_new(L);
    ASSERT(ref > 0);
    lua_rawseti(L, -2, i + 1);
    posters[i] = (poster){luaio_host_loop(L), L, i + 1, ref};
  }
  lua_pop(L, 1);
  run(L, "asyncio.create_task(function()\n"
         "  local all = asyncio.gather(futs)\n"
         "  log(table.concat(all, ' '))\n"
         "end)\n");
  uv_thread_t threads[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    ASSERT_OK(uv_thread_create(&threads[i], post_all, &posters[i]));
  while (luaio_host_step(L) > 0)
    ;
  for (int i = 0; i < NTHREADS; i++)
    ASSERT_OK(uv_thread_join(&threads[i]));
  ASSERT_STR_EQ("500 500 500 500", test_log);
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

TEST(host_futures_fail_and_refuse_a_second_settling) {
  lua_State *L = open_host();
  int ref = luaio_host_future_new(L);
  ASSERT(ref > 0);
  lua_setglobal(L, "fut");
  run(L, "asyncio.create_task(function()\n"
         "  local ok, err = pcall(asyncio.await, fut)\n"
         "  log(tostring(ok) .. ' ' .. tostring(err))\n"
         "end)\n");
  luaio_host_step(L);
  lua_pushliteral(L, "asset missing");
  ASSERT_OK(luaio_host_future_fail(L, ref));
  while (luaio_host_step(L) > 0)
    ;
  ASSERT(test_log[0] != '\0');
  ASSERT(strstr(test_log, "false") == test_log);
  ASSERT_NOT_NULL(strstr(test_log, "asset missing"));
  /* A future a script cancelled refuses its result. */
  ref = luaio_host_future_new(L);
  ASSERT(ref > 0);
  lua_setglobal(L, "fut");
  run(L, "fut:cancel()");
  int top = lua_gettop(L);
  lua_pushinteger(L, 1);
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_future_resolve(L, ref, 1));
  ASSERT_EQ(top, lua_gettop(L));
  lua_pushinteger(L, 1);
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_future_resolve(L, -5, 1));
  ASSERT_EQ(top, lua_gettop(L));
  ASSERT_OK(luaio_host_close(L));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_future_new(L));
  ASSERT_NULL(luaio_host_loop(L));
  lua_close(L);
}

TEST(lua_close_alone_closes_the_host_loop) {
  lua_State *L = open_host();
  run(L, "asyncio.create_task(function()\n"
         "  local ok, err = pcall(asyncio.sleep, 3600)\n"
         "  log('cleanup ' .. tostring(asyncio.CancelledError:is(err)))\n"
         "end)\n");
  luaio_host_step(L);
  ASSERT_STR_EQ("", test_log);
  lua_close(L); /* no luaio_host_close */
  ASSERT_STR_EQ("cleanup true", test_log);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
