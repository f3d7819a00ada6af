/*
** test-host-errors.c - errors handed to a host: the exception handler a
** host installs with luaio_set_exception_handler() hears of every error
** no Lua code can catch, on a loop the host steps itself.
*/

#include "host.h"

static int ncalls;

/* Logs "message|error|task" for each context it is given. */
static void host_cb(lua_State *L, int ctx, void *ud) {
  ASSERT_PTR_EQ(ud, &ncalls);
  ncalls++;
  lua_getfield(L, ctx, "message");
  const char *msg = lua_tostring(L, -1);
  lua_getfield(L, ctx, "exception");
  const char *err = lua_isnil(L, -1) ? "-" : luaL_tolstring(L, -1, NULL);
  int has_task = lua_getfield(L, ctx, "task") != LUA_TNIL;
  test_logf("%s|%s|%s", msg, err, has_task ? "task" : "-");
  lua_settop(L, ctx);
}

static int fail_next;

/* Raises when fail_next is set (once), else logs. */
static void failing_cb(lua_State *L, int ctx, void *ud) {
  if (fail_next) {
    fail_next = 0;
    luaL_error(L, "the host's handler failed");
  }
  host_cb(L, ctx, ud);
}

static lua_State *open_host(luaio_exception_cb cb) {
  lua_State *L = host_newstate();
  luaio_set_exception_handler(L, cb, &ncalls);
  ASSERT_OK(luaio_host_open(L, NULL));
  ncalls = 0;
  test_log_reset();
  return L;
}

/* Steps until no task is left; then one more step, for what the last
** ones scheduled. */
static void settle(lua_State *L) {
  for (int i = 0; i < 100 && luaio_host_step(L) > 0; i++)
    ;
  luaio_host_step(L);
}

static int eval_bool(lua_State *L, const char *expr) {
  lua_pushfstring(L, "return %s", expr);
  ASSERT_OK(luaL_dostring(L, lua_tostring(L, -1)));
  int r = lua_toboolean(L, -1);
  lua_settop(L, 0);
  return r;
}

static void close_host(lua_State *L) {
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

TEST(unawaited_task_failure_reported_when_collected_before_close) {
  lua_State *L = open_host(host_cb);
  run(L, "local asyncio = require 'asyncio'\n"
         "weak = setmetatable({}, {__mode = 'v'})\n"
         "weak[1] = asyncio.create_task(function() error('boom', 0) end)\n");
  settle(L);
  ASSERT_STR_EQ("", test_log); /* still referenced (weakly) */
  run(L, "collectgarbage(); collectgarbage()");
  luaio_host_step(L);
  ASSERT_STR_EQ("error in task 'Task-1' was never retrieved|boom|task",
                test_log);
  run(L, "collectgarbage(); collectgarbage()");
  ASSERT(eval_bool(L, "weak[1] == nil")); /* the task is gone */
  close_host(L);
  ASSERT_EQ(1, ncalls); /* not reported again at close */
}

TEST(task_still_referenced_reported_at_close) {
  lua_State *L = open_host(host_cb);
  run(L, "local asyncio = require 'asyncio'\n"
         "keep = asyncio.create_task(function() error('kept', 0) end)\n");
  settle(L);
  run(L, "collectgarbage()");
  settle(L);
  ASSERT_STR_EQ("", test_log);
  ASSERT_OK(luaio_host_close(L));
  ASSERT_STR_EQ("error in task 'Task-1' was never retrieved|kept|task",
                test_log);
  lua_close(L);
}

TEST(callback_errors_reach_the_host) {
  lua_State *L = open_host(host_cb);
  run(L, "local asyncio = require 'asyncio'\n"
         "local loop = asyncio.get_running_loop()\n"
         "loop:call_soon(function() error('soon', 0) end)\n"
         "local fut = loop:create_future()\n"
         "fut:add_done_callback(function() error('done cb', 0) end)\n"
         "fut:set_result(1)\n");
  settle(L);
  ASSERT_STR_EQ("error in callback|soon|-,error in done callback|done cb|-",
                test_log);
  close_host(L);
}

TEST(a_lua_handler_comes_first_and_its_default_is_the_host) {
  lua_State *L = open_host(host_cb);
  run(L, "local asyncio = require 'asyncio'\n"
         "local loop = asyncio.get_running_loop()\n"
         "loop:set_exception_handler(function(l, context)\n"
         "  context.message = 'lua saw ' .. context.message\n"
         "  l:default_exception_handler(context)\n"
         "end)\n"
         "loop:call_soon(function() error('x', 0) end)\n");
  settle(L);
  ASSERT_STR_EQ("lua saw error in callback|x|-", test_log);
  close_host(L);
}

TEST(an_error_in_the_host_handler_does_not_stop_the_loop) {
  lua_State *L = open_host(failing_cb);
  fail_next = 1;
  run(L, "local asyncio = require 'asyncio'\n"
         "local loop = asyncio.get_running_loop()\n"
         "loop:call_soon(function() error('first', 0) end)\n"
         "loop:call_soon(function() error('second', 0) end)\n"
         "ran = false\n"
         "asyncio.create_task(function() ran = true end)\n");
  settle(L);
  ASSERT_STR_EQ("error in callback|second|-", test_log); /* first: stderr */
  ASSERT(eval_bool(L, "ran"));
  close_host(L);
}

TEST(no_handler_means_stderr) {
  lua_State *L = open_host(host_cb);
  luaio_set_exception_handler(L, NULL, NULL);
  run(L, "require('asyncio').get_running_loop():call_soon(function()\n"
         "  error('to stderr', 0)\n"
         "end)\n");
  settle(L);
  ASSERT_STR_EQ("", test_log);
  ASSERT_EQ(0, ncalls);
  close_host(L);
}

TEST(debug_mode_reports_what_was_dropped_open_to_the_host) {
  lua_State *L = open_host(host_cb);
  luaio_set_debug(L, 1);
  run(L, "local asyncio = require 'asyncio'\n"
         "asyncio.open_datagram({'127.0.0.1', 0})\n"
         "collectgarbage(); collectgarbage()\n");
  luaio_host_step(L); /* finalizers' reports come in a loop callback */
  ASSERT_EQ(1, ncalls);
  ASSERT(strncmp(test_log, "unclosed UDP endpoint opened at [string ", 40) ==
         0);
  ASSERT(strstr(test_log, "]:2, dropped without being closed|-|-") != NULL);
  luaio_set_debug(L, 0); /* off: nothing kept, nothing reported */
  run(L, "require('asyncio').open_datagram({'127.0.0.1', 0})\n"
         "collectgarbage(); collectgarbage()\n");
  settle(L);
  ASSERT_EQ(1, ncalls);
  close_host(L);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
