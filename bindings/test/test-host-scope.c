/*
** test-host-scope.c - a host runs scripts in scopes (luaio_host_scope_*):
** closing one cancels its tasks (which clean up), its timer handles, its
** done callbacks and what it opened, the scopes inside it too; reloading
** a script a thousand times leaves as many tasks, timers and as much
** heap as reloading it ten times.
*/
#include <stdlib.h>
#include <unistd.h>

#include "host.h"

static lua_State *open_host(void) {
  lua_State *L = host_newstate();
  ASSERT_OK(luaio_host_open_clock(L, NULL, LUAIO_CLOCK_MANUAL));
  test_log_reset();
  return L;
}

/* Runs code's chunk as a task of the scope ref, with the argument arg. */
static void run_in(lua_State *L, int ref, const char *code, int arg) {
  if (luaL_loadstring(L, code) != LUA_OK)
    test_fail(__FILE__, __LINE__, "%s", lua_tostring(L, -1));
  lua_pushinteger(L, arg);
  ASSERT_OK(luaio_host_scope_run(L, ref, 1));
  lua_pop(L, 1); /* the Task */
}

/* Steps the loop n times, a tenth of a second of game time apart. */
static void frames(lua_State *L, int n) {
  for (int i = 0; i < n; i++) {
    ASSERT(luaio_host_step(L) >= 0);
    ASSERT_OK(luaio_host_advance(L, 0.1));
  }
}

static size_t heap_after_gc(lua_State *L) {
  lua_gc(L, LUA_GCCOLLECT);
  lua_gc(L, LUA_GCCOLLECT); /* what the first one's finalizers let go */
  return (size_t)lua_gc(L, LUA_GCCOUNT) * 1024 +
         (size_t)lua_gc(L, LUA_GCCOUNTB);
}

/* The game's side: a future that stays pending for the whole run, which
** every version of the script hooks a done callback on. */
static int new_event(lua_State *L) {
  int ref = luaio_host_future_new(L);
  ASSERT(ref > 0);
  lua_setglobal(L, "level_loaded");
  return ref;
}

/* A mod as hot reload meets it: tasks that spawn tasks (directly, by
** gather and by a TaskGroup), a timer that rearms itself, a done
** callback on the host's future, a nested scope, a server and a UDP
** endpoint. Its argument is its version. */
static const char *mod =
    "local version = ...\n"
    "local loop = asyncio.get_running_loop()\n"
    "local function forever() while true do asyncio.sleep(1) end end\n"
    "asyncio.create_task(function()\n"
    "  asyncio.create_task(forever)\n"
    "  asyncio.gather(forever, forever)\n"
    "end)\n"
    "asyncio.create_task(function()\n"
    "  asyncio.TaskGroup(function(tg) tg:create_task(forever) end)\n"
    "end)\n"
    "local function tick() loop:call_later(0.5, tick) end\n"
    "tick()\n"
    "level_loaded:add_done_callback(function() log('level callback') end)\n"
    "asyncio.Scope():spawn(forever)\n"
    "asyncio.start_unix_server(function() end, sockets .. version)\n"
    "asyncio.open_datagram({'127.0.0.1', 0})\n"
    "forever()\n";

TEST(a_thousand_reloads_leave_tasks_timers_and_heap_flat) {
  int reloads = getenv("LUAIO_VALGRIND") != NULL ? 60 : 1000;
  int at = reloads / 100 > 10 ? 10 : 5;
  lua_State *L = open_host();
  luaio_loop_t *loop = luaio_host_loop(L);
  int event = new_event(L);
  char dir[] = "/tmp/luaio-scope-XXXXXX";
  ASSERT_NOT_NULL(mkdtemp(dir));
  lua_pushfstring(L, "%s/mod", dir);
  lua_setglobal(L, "sockets");
  int ref = 0;
  size_t tasks_at = 0, timers_at = 0, heap_at = 0;
  for (int i = 1; i <= reloads; i++) {
    if (ref > 0)
      ASSERT_OK(luaio_host_scope_close(L, ref));
    ref = luaio_host_scope_new(L);
    ASSERT(ref > 0);
    lua_pop(L, 1);
    run_in(L, ref, mod, i);
    frames(L, 3);
    if (i == at) {
      tasks_at = luaio_loop_ntasks(loop);
      timers_at = luaio_loop_ntimers(loop);
      heap_at = heap_after_gc(L);
    }
  }
  /* One version's worth: a root task, five tasks that run forever and
  ** the two that wait in gather and in the TaskGroup. */
  ASSERT_EQ(8, tasks_at);
  ASSERT_EQ(tasks_at, luaio_loop_ntasks(loop));
  ASSERT_EQ(timers_at, luaio_loop_ntimers(loop));
  size_t heap = heap_after_gc(L);
  if (heap > heap_at + 16 * 1024)
    test_fail(__FILE__, __LINE__, "heap grew from %zu to %zu bytes",
              heap_at, heap);
  /* The stale versions' callbacks are gone: only the live one runs. */
  lua_pushboolean(L, 1);
  ASSERT_OK(luaio_host_future_resolve(L, event, 1));
  frames(L, 1);
  ASSERT_STR_EQ("level callback", test_log);
  ASSERT_OK(luaio_host_scope_close(L, ref));
  frames(L, 5);
  ASSERT_EQ(0, luaio_loop_ntasks(loop));
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
  ASSERT_OK(rmdir(dir)); /* closing a server removes its socket */
}

TEST(closing_cancels_tasks_which_clean_up_and_stops_the_rest) {
  lua_State *L = open_host();
  int event = new_event(L);
  int ref = luaio_host_scope_new(L);
  ASSERT(ref > 0);
  lua_pop(L, 1);
  run_in(L, ref,
         "local loop = asyncio.get_running_loop()\n"
         "for _, name in ipairs({'a', 'b'}) do\n"
         "  asyncio.create_task(function()\n"
         "    local ok, err = pcall(asyncio.sleep, 10)\n"
         "    log(name .. ' cleanup: ' .. tostring(err))\n"
         "    asyncio.sleep(0)\n" /* cleanup may still wait */
         "    log(name .. ' done')\n"
         "  end)\n"
         "end\n"
         "loop:call_later(1, log, 'timer')\n"
         "loop:call_soon(function() log('soon') end)\n"
         "level_loaded:add_done_callback(function() log('callback') end)\n"
         "asyncio.sleep(10)\n",
         0);
  frames(L, 2);
  ASSERT_STR_EQ("soon", test_log);
  test_log_reset();
  ASSERT_OK(luaio_host_scope_close(L, ref));
  frames(L, 20);
  ASSERT_STR_EQ("a cleanup: cancelled,b cleanup: cancelled,"
                "a done,b done",
                test_log);
  lua_pushnil(L);
  ASSERT_OK(luaio_host_future_resolve(L, event, 1));
  frames(L, 2);
  ASSERT_STR_EQ("a cleanup: cancelled,b cleanup: cancelled,"
                "a done,b done",
                test_log); /* neither timer nor callback */
  ASSERT_EQ(0, luaio_loop_ntasks(luaio_host_loop(L)));
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

TEST(closing_a_scope_closes_the_scopes_made_inside_it) {
  lua_State *L = open_host();
  int ref = luaio_host_scope_new(L);
  ASSERT(ref > 0);
  ASSERT(luaL_testudata(L, -1, "asyncio.Scope") != NULL);
  lua_setglobal(L, "outer");
  run_in(L, ref,
         "inner = asyncio.Scope()\n"
         "assert(asyncio.current_scope() == outer)\n"
         "inner:spawn(function()\n"
         "  assert(asyncio.current_scope() == inner)\n"
         "  asyncio.create_task(function()\n"
         "    local ok, err = pcall(asyncio.sleep, 10)\n"
         "    log('inner child cleanup')\n"
         "  end)\n"
         "  asyncio.sleep(10)\n"
         "end)\n"
         "asyncio.sleep(10)\n",
         0);
  frames(L, 3); /* root, inner's task, its child: all started */
  run(L, "assert(#outer:tasks() == 3 and #inner:tasks() == 2)");
  ASSERT_OK(luaio_host_scope_close(L, ref));
  run(L, "assert(outer:closed() and inner:closed())");
  frames(L, 2);
  ASSERT_STR_EQ("inner child cleanup", test_log);
  run(L, "assert(#outer:tasks() == 0)\n"
         "assert(not pcall(inner.spawn, inner, print))");
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

TEST(opening_the_module_again_keeps_the_scopes) {
  lua_State *L = open_host();
  int ref = luaio_host_scope_new(L);
  lua_setglobal(L, "s");
  run_in(L, ref, "asyncio.sleep(10)", 0);
  lua_pushcfunction(L, luaopen_asyncio); /* as a second require would */
  lua_call(L, 0, 1);
  lua_setglobal(L, "asyncio");
  run_in(L, ref,
         "asyncio.create_task(function() log('child') end)\n"
         "assert(asyncio.current_scope() == s)\n",
         0);
  frames(L, 3);
  ASSERT_STR_EQ("child", test_log);
  ASSERT_OK(luaio_host_scope_close(L, ref));
  frames(L, 1);
  ASSERT_EQ(0, luaio_loop_ntasks(luaio_host_loop(L)));
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

TEST(bad_references_closed_scopes_and_no_loop_are_refused) {
  lua_State *L = open_host();
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_scope_close(L, 0));
  int fut = luaio_host_future_new(L); /* a reference, not a scope's */
  lua_pop(L, 1);
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_scope_close(L, fut));
  int ref = luaio_host_scope_new(L);
  lua_pop(L, 1);
  int top = lua_gettop(L);
  lua_pushinteger(L, 1);
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_scope_run(L, ref, 0)); /* no function */
  ASSERT_EQ(top, lua_gettop(L));
  lua_pushcfunction(L, host_log);
  lua_pushliteral(L, "ran");
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_scope_run(L, fut, 1));
  ASSERT_EQ(top, lua_gettop(L));
  lua_getglobal(L, "log");
  lua_pushliteral(L, "ran");
  ASSERT_OK(luaio_host_scope_run(L, ref, 1));
  ASSERT(luaL_testudata(L, -1, "asyncio.Task") != NULL);
  lua_pop(L, 1);
  ASSERT_OK(luaio_host_scope_close(L, ref));
  frames(L, 1);
  ASSERT_STR_EQ("", test_log); /* cancelled before it ran */
  ref = luaio_host_scope_new(L);
  lua_setglobal(L, "s");
  run(L, "s:cancel()");
  lua_getglobal(L, "log");
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_scope_run(L, ref, 0));
  ASSERT_EQ(top, lua_gettop(L));
  ASSERT_OK(luaio_host_scope_close(L, ref)); /* closed twice: nothing */
  ASSERT_OK(luaio_host_close(L));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_scope_new(L));
  ASSERT_EQ(top, lua_gettop(L));
  lua_close(L);
}

/* The allocator of the state, wrapped: while fail_allocs is set, every
** request that grows a block fails. */
static lua_Alloc real_alloc;
static void *real_ud;
static int fail_allocs;

static void *failing_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (fail_allocs && nsize > osize)
    return NULL;
  return real_alloc(real_ud, ptr, osize, nsize);
}

TEST(scope_run_tells_each_failure_by_its_own_code) {
  lua_State *L = open_host();
  int ref = luaio_host_scope_new(L);
  ASSERT(ref > 0);
  lua_pop(L, 1);
  int top = lua_gettop(L);
  /* Bad argument counts: nothing is popped. */
  lua_getglobal(L, "log");
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_scope_run(L, ref, -2));
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_scope_run(L, ref, 5));
  ASSERT_EQ(top + 1, lua_gettop(L));
  lua_pop(L, 1);
  /* Not a function; no scope's reference. */
  lua_pushliteral(L, "not a function");
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_scope_run(L, ref, 0));
  lua_getglobal(L, "log");
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_scope_run(L, -1, 0));
  ASSERT_EQ(top, lua_gettop(L));
  /* Memory runs out while the task is made. */
  lua_gc(L, LUA_GCCOLLECT);
  lua_gc(L, LUA_GCSTOP);
  real_alloc = lua_getallocf(L, &real_ud);
  lua_setallocf(L, failing_alloc, NULL);
  lua_getglobal(L, "log");
  lua_pushliteral(L, "ran");
  fail_allocs = 1;
  int rc = luaio_host_scope_run(L, ref, 1);
  fail_allocs = 0;
  lua_setallocf(L, real_alloc, real_ud);
  lua_gc(L, LUA_GCRESTART);
  ASSERT_EQ(LUAIO_ENOMEM, rc);
  ASSERT_EQ(top, lua_gettop(L));
  /* The scope works on, and refuses once its loop has ended. */
  lua_getglobal(L, "log");
  lua_pushliteral(L, "ran");
  ASSERT_OK(luaio_host_scope_run(L, ref, 1));
  lua_pop(L, 1);
  frames(L, 1);
  ASSERT_STR_EQ("ran", test_log);
  ASSERT_OK(luaio_host_close(L));
  ASSERT_OK(luaio_host_open_clock(L, NULL, LUAIO_CLOCK_MANUAL));
  lua_getglobal(L, "log");
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_scope_run(L, ref, 0));
  ASSERT_EQ(top, lua_gettop(L));
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
