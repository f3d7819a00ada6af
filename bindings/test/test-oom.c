/*
** test-oom.c - Lua running out of memory in the middle of asyncio calls:
** each sweep fails the n-th Lua allocation of a script, for n = 1, 2, ...
** until the script runs through, and requires that the script saw a
** memory error and that the core holds no allocation once the state is
** closed.
*/
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../../core/test/test.h"
#include "luaiolib.h"

static long countdown; /* > 0: Lua allocations until the one that fails */
static int fired, retry;

/* The core's blocks are counted. Worker threads allocate too, hence the
** lock. */
static long nlive;
static uv_mutex_t live_mu;

static void *tracking_alloc(void *ud, void *ptr, size_t osize,
                            size_t nsize) {
  (void)ud;
  (void)osize;
  void *p = NULL;
  uv_mutex_lock(&live_mu);
  if (nsize == 0) {
    nlive -= ptr != NULL;
    free(ptr);
  } else {
    p = realloc(ptr, nsize);
    nlive += ptr == NULL && p != NULL;
  }
  uv_mutex_unlock(&live_mu);
  return p;
}

/* Fails one request twice: Lua retries a failed allocation once, after
** an emergency collection, before it raises the memory error. */
static void *failing_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  int grows = ptr == NULL || nsize > osize;
  if (grows && retry) {
    retry = 0;
    return NULL;
  }
  if (grows && countdown > 0 && --countdown == 0) {
    fired = retry = 1;
    return NULL;
  }
  return realloc(ptr, nsize);
}

/* Runs source in a new state whose n-th allocation after loading fails
** (none when n is 0). Returns 1 when the script ran through. */
static int run_failing(const char *source, long n) {
  lua_State *L = lua_newstate(failing_alloc, NULL);
  ASSERT_NOT_NULL(L);
  luaL_openlibs(L);
  luaL_requiref(L, "asyncio", luaopen_asyncio, 0);
  lua_pop(L, 1);
  ASSERT_OK(luaL_loadstring(L, source));
  fired = retry = 0;
  countdown = n;
  int rc = lua_pcall(L, 0, 1, 0);
  countdown = retry = 0;
  int done = rc == LUA_OK && lua_toboolean(L, -1);
  if (rc == LUA_OK && !done && !fired)
    test_fail(__FILE__, __LINE__, "the script failed: %s",
              lua_tostring(L, -1));
  lua_close(L);
  return done && !fired;
}

/* Sweeps n until the script runs through; every failed run must leave the
** core with nothing allocated, even where the failed allocation was the
** one Lua needed to call a finalizer ("error in __gc", a warning, and the
** object is collected all the same). */
static void sweep(const char *source) {
  /* The collector at its usual pace, whatever the environment says: the
  ** valgrind run's LUAIO_GCPAUSE=0 would make every sweep much longer. */
  unsetenv("LUAIO_GCPAUSE");
  luaio_set_allocator(tracking_alloc, NULL);
  ASSERT(run_failing(source, 0));
  ASSERT_EQ(0, nlive);
  for (long n = 1;; n++) {
    int done = run_failing(source, n);
    if (nlive != 0)
      test_fail(__FILE__, __LINE__,
                "%ld core allocations left after failing Lua allocation %ld",
                nlive, n);
    if (done)
      break;
  }
}

/* The script returns true when asyncio.run completed; a memory error
** anywhere is caught and returned as false. */
#define SCRIPT(body)                                                           \
  "local asyncio = require 'asyncio'\n"                                        \
  "local ok = pcall(asyncio.run, function()\n" body "\nend)\n"                 \
  "return ok\n"

TEST(to_thread) {
  sweep(SCRIPT("assert(asyncio.to_thread(function(x) return x * 2 end, 21)"
               " == 42)"));
}

TEST(tasks_and_gather) {
  sweep(SCRIPT("local t = {}\n"
               "for i = 1, 3 do\n"
               "  t[i] = asyncio.create_task(function()\n"
               "    asyncio.sleep(0) return i end)\n"
               "end\n"
               "assert(asyncio.gather(t)[3] == 3)"));
}

TEST(primitives) {
  sweep(SCRIPT("local q, lock = asyncio.Queue(1), asyncio.Lock()\n"
               "local ev, sem = asyncio.Event(), asyncio.Semaphore(1)\n"
               "local got = {}\n"
               "local consumer = asyncio.create_task(function()\n"
               "  for i = 1, 3 do got[i] = q:get() end\n"
               "  ev:set()\n"
               "end)\n"
               "for i = 1, 3 do q:put(i) end\n"
               "ev:wait()\n"
               "lock:with(function() sem:with(asyncio.sleep, 0) end)\n"
               "assert(asyncio.wait_for(consumer, 1) == nil)\n"
               "local s = asyncio.shield(asyncio.create_task(function()\n"
               "  return 5 end))\n"
               "assert(asyncio.await(s) == 5)\n"
               "assert(got[3] == 3)"));
}

TEST(task_group_and_timeout) {
  sweep(SCRIPT("local r = asyncio.TaskGroup(function(tg)\n"
               "  tg:create_task(function() asyncio.sleep(0) end)\n"
               "  tg:create_task(function() asyncio.sleep(0.001) end)\n"
               "  return 7\n"
               "end)\n"
               "assert(r == 7)\n"
               "local slow = asyncio.async(function() asyncio.sleep(1) end)\n"
               "assert(not pcall(asyncio.wait_for, slow(), 0.001))"));
}

/* Errors to the exception handler: a task nobody awaits, collected; a
** task kept until the loop closes; failed futures dropped, whose
** finalizers report them; a failing done callback; a handler that fails
** once. */
TEST(exception_handler) {
  sweep(SCRIPT("local loop = asyncio.get_running_loop()\n"
               "local n = 0\n"
               "loop:set_exception_handler(function(_, c)\n"
               "  n = n + 1\n"
               "  if n == 1 then error('handler failed', 0) end\n"
               "end)\n"
               "asyncio.create_task(function() error('lost', 0) end)\n"
               "for i = 1, 8 do\n"
               "  local f = asyncio.Future()\n"
               "  if i % 2 == 0 then f:set_exception('dropped') end\n"
               "end\n"
               "local kept = asyncio.create_task(function()\n"
               "  error('kept', 0) end)\n"
               "asyncio.sleep(0)\n"
               "kept:add_done_callback(function() error('cb', 0) end)\n"
               "collectgarbage(); collectgarbage()\n"
               "asyncio.sleep(0)\n"
               "asyncio.sleep(0)\n"
               "assert(n == 6 and kept:done())"));
}

/* Tasks that fail: recording the error cannot raise into the core. */
TEST(failing_tasks) {
  sweep(SCRIPT("local t = asyncio.create_task(function() error('x', 0) end)\n"
               "assert(not pcall(asyncio.await, t))\n"
               "t = asyncio.create_task(function()\n"
               "  asyncio.sleep(0)\n"
               "  error({code = 1})\n"
               "end)\n"
               "assert(not pcall(asyncio.await, t))"));
}

/* A server, a client and a handler. The client's waits are bounded, so
** that no failure can leave a run waiting for good. */
TEST(streams) {
  sweep(SCRIPT("local server = asyncio.start_server(function(r, w)\n"
               "  w:write(r:readline())\n"
               "  w:close()\n"
               "end, '127.0.0.1', 0)\n"
               "local connect = asyncio.async(asyncio.open_connection)\n"
               "local r, w = asyncio.wait_for(\n"
               "  connect('127.0.0.1', server:port()), 5)\n"
               "w:write('hi\\n')\n"
               "w:drain()\n"
               "local readline = asyncio.async(function()\n"
               "  return r:readline() end)\n"
               "assert(asyncio.wait_for(readline(), 2) == 'hi\\n')\n"
               "w:close()\n"
               "w:wait_closed()\n"
               "server:close()\n"
               "server:wait_closed()"));
}

TEST(processes) {
  sweep(SCRIPT("local p = asyncio.create_subprocess_exec('cat', {},\n"
               "  {stdin = asyncio.PIPE, stdout = asyncio.PIPE})\n"
               "p.stdin:write('hi\\n')\n"
               "p.stdin:close()\n"
               "p.stdin:wait_closed()\n"
               "assert(p.stdout:readline() == 'hi\\n')\n"
               "assert(p:wait() == 0)\n"
               "local out = asyncio.create_subprocess_exec('printf', {'x'},\n"
               "  {stdout = asyncio.PIPE}):communicate()\n"
               "assert(out == 'x')"));
}

TEST(files) {
  char dir[] = "/tmp/luaio-test-oom-XXXXXX";
  ASSERT_NOT_NULL(mkdtemp(dir));
  char source[2048];
  snprintf(source, sizeof source,
           SCRIPT("local fs, d = asyncio.fs, '%s'\n"
                  "for _, name in ipairs(fs.listdir(d)) do\n"
                  "  fs.remove(d .. '/' .. name) -- what a failed run left\n"
                  "end\n"
                  "fs.write_file(d .. '/a', 'hello')\n"
                  "assert(fs.read_file(d .. '/a') == 'hello')\n"
                  "assert(fs.stat(d .. '/a').size == 5)\n"
                  "local f <close> = fs.open(d .. '/a', 'r')\n"
                  "assert(f:read(2) == 'he')\n"
                  "fs.rename(d .. '/a', d .. '/b')\n"
                  "assert(#fs.listdir(d) == 1)\n"
                  "fs.remove(d .. '/b')"),
           dir);
  sweep(source);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ASSERT_EQ(0, system(cmd));
}

int main(int argc, char **argv) {
  ASSERT_OK(uv_mutex_init(&live_mu));
  return test_main(argc, argv);
}
