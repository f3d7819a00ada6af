/*
** test-host-uvloop.c - a host that owns a libuv loop shares it with
** luaio_host_open(L, uv) and only calls uv_run: Lua work runs from
** luaio's handles inside that uv_run, a Lua sleep wakes a host blocked in
** it, nothing nests uv_run, and closing leaves the host's loop closable.
*/
#include <string.h>

#include "host.h"

static int in_uv_run; /* the host is inside its own uv_run */
static int in_host_cb; /* the host is inside a libuv callback of its own */
static int prepares;  /* iterations of the host's uv_run */

/* note(s): logs s; Lua work must run inside the host's uv_run. */
static int host_note(lua_State *L) {
  ASSERT_EQ(1, in_uv_run);
  test_logf("%s", luaL_checkstring(L, 1));
  return 0;
}

/* A nested uv_run would run the prepare handles inside the callback. */
static void count_prepare(uv_prepare_t *h) {
  (void)h;
  ASSERT_EQ(0, in_host_cb);
  prepares++;
}

static uv_prepare_t prepare;

static lua_State *open_host(uv_loop_t *uv, luaio_clock_kind kind) {
  ASSERT_OK(uv_loop_init(uv));
  ASSERT_OK(uv_prepare_init(uv, &prepare));
  ASSERT_OK(uv_prepare_start(&prepare, count_prepare));
  uv_unref((uv_handle_t *)&prepare);
  prepares = 0;
  lua_State *L = host_newstate();
  lua_register(L, "note", host_note);
  ASSERT_OK(luaio_host_open_clock(L, uv, kind));
  test_log_reset();
  return L;
}

static int host_uv_run(uv_loop_t *uv, uv_run_mode mode) {
  in_uv_run = 1;
  int alive = uv_run(uv, mode);
  in_uv_run = 0;
  return alive;
}

/* luaio_host_close, then the host closes its own loop: nothing of
** luaio's is left on it. */
static void close_host(lua_State *L, uv_loop_t *uv) {
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
  uv_close((uv_handle_t *)&prepare, NULL);
  ASSERT_EQ(0, uv_run(uv, UV_RUN_DEFAULT));
  ASSERT_OK(uv_loop_close(uv));
}

TEST(a_lua_sleep_wakes_a_host_blocked_in_uv_run_once) {
  uv_loop_t uv;
  lua_State *L = open_host(&uv, LUAIO_CLOCK_REAL);
  run(L, "asyncio.create_task(function()\n"
         "  local loop = asyncio.get_running_loop()\n"
         "  note('start')\n"
         "  local t0 = loop:time()\n"
         "  asyncio.sleep(0.3)\n"
         "  note(loop:time() - t0 >= 0.3 and 'woke' or 'early')\n"
         "end)");
  ASSERT_STR_EQ("", test_log); /* tasks run in the host's uv_run only */
  ASSERT(uv_loop_alive(&uv));  /* ready work keeps it alive */
  ASSERT(host_uv_run(&uv, UV_RUN_ONCE)); /* the sleep's timer is armed */
  ASSERT_STR_EQ("start", test_log);
  int runs = 0;
  while (strcmp(test_log, "start") == 0) {
    host_uv_run(&uv, UV_RUN_ONCE); /* blocks in libuv's poll */
    ASSERT(++runs < 100);          /* a host spinning would take more */
  }
  ASSERT_STR_EQ("start,woke", test_log);
  /* Nothing left: the host's uv_run returns as libuv's always does. */
  ASSERT_EQ(0, host_uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_EQ(0, luaio_loop_ntasks(luaio_host_loop(L)));
  close_host(L, &uv);
}

TEST(uv_run_default_runs_the_scripts_to_their_end) {
  uv_loop_t uv;
  lua_State *L = open_host(&uv, LUAIO_CLOCK_REAL);
  /* The deadlines are taken in one step each, so that no slowness of
  ** the machine between them (valgrind) can reorder them. */
  run(L, "local loop = asyncio.get_running_loop()\n"
         "loop:call_soon(note, 'soon')\n"
         "local slow = asyncio.create_task(function()\n"
         "  asyncio.sleep(0.3); note('slow'); return 'r'\n"
         "end)\n"
         "asyncio.create_task(function()\n"
         "  loop:call_later(0.1, note, 'later')\n"
         "  asyncio.sleep(0.05); note('fast')\n"
         "  note('awaited ' .. asyncio.await(slow))\n"
         "end)");
  ASSERT_EQ(0, host_uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("soon,fast,later,slow,awaited r", test_log);
  ASSERT_EQ(0, luaio_loop_ntasks(luaio_host_loop(L)));
  ASSERT_EQ(0, luaio_loop_ntimers(luaio_host_loop(L)));
  /* Work added between two uv_runs, timers only, is seen by the next. */
  run(L, "asyncio.get_running_loop():call_later(0.01, note, 'again')");
  ASSERT_EQ(0, host_uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("soon,fast,later,slow,awaited r,again", test_log);
  close_host(L, &uv);
}

static lua_State *stepped;

/* The host's frame timer steps luaio from inside the host's uv_run. */
static void frame_cb(uv_timer_t *t) {
  in_host_cb = 1;
  int left = luaio_host_step(stepped);
  in_host_cb = 0;
  test_logf("frame");
  if (left == 0)
    uv_timer_stop(t);
}

TEST(a_host_stepping_from_its_own_timer_callback_does_not_nest) {
  uv_loop_t uv;
  lua_State *L = open_host(&uv, LUAIO_CLOCK_REAL);
  stepped = L;
  uv_timer_t frame;
  ASSERT_OK(uv_timer_init(&uv, &frame));
  run(L, "asyncio.create_task(function()\n"
         "  note('a1'); asyncio.sleep(0); note('a2')\n"
         "end)");
  ASSERT_OK(uv_timer_start(&frame, frame_cb, 0, 1));
  ASSERT_EQ(0, host_uv_run(&uv, UV_RUN_DEFAULT));
  /* The step ran the task inside the timer callback; whatever the
  ** handles did between frames, no prepare handle ran inside one. */
  ASSERT(strncmp(test_log, "a1,", 3) == 0);
  ASSERT(strstr(test_log, "a2") != NULL);
  ASSERT(prepares > 0);
  uv_close((uv_handle_t *)&frame, NULL);
  close_host(L, &uv);
}

/* step(): a script calls back into the host, which steps: the run in
** progress goes on, nothing runs twice or out of order. */
static int l_step(lua_State *L) {
  lua_pushinteger(L, luaio_host_step(L));
  return 1;
}

TEST(a_step_from_inside_a_run_does_nothing) {
  uv_loop_t uv;
  lua_State *L = open_host(&uv, LUAIO_CLOCK_REAL);
  lua_register(L, "step", l_step);
  run(L, "asyncio.create_task(function()\n"
         "  note('a'); note('live ' .. step())\n"
         "end)\n"
         "asyncio.create_task(function() note('b') end)");
  ASSERT_EQ(0, host_uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("a,live 2,b", test_log);
  close_host(L, &uv);
}

static void cancel_sleeper(void *arg) {
  lua_State *L = arg;
  run(L, "note('posted'); sleeper:cancel()");
}

static void post_from_thread(void *arg) {
  ASSERT_OK(luaio_call_soon_threadsafe(luaio_host_loop(arg), cancel_sleeper,
                                       arg));
}

TEST(a_post_from_another_thread_wakes_the_host_in_uv_run) {
  uv_loop_t uv;
  lua_State *L = open_host(&uv, LUAIO_CLOCK_REAL);
  run(L, "sleeper = asyncio.create_task(function()\n"
         "  local ok = pcall(asyncio.sleep, 3600)\n"
         "  note(ok and 'slept' or 'cancelled')\n"
         "  error(asyncio.CancelledError())\n"
         "end)");
  ASSERT(host_uv_run(&uv, UV_RUN_ONCE));
  ASSERT_STR_EQ("", test_log);
  uv_thread_t t;
  ASSERT_OK(uv_thread_create(&t, post_from_thread, L));
  while (test_log[0] == '\0') /* a spurious wake-up is no post */
    host_uv_run(&uv, UV_RUN_ONCE);
  ASSERT_OK(uv_thread_join(&t));
  ASSERT_STR_EQ("posted", test_log);
  /* The hour's timer is gone with the task: uv_run returns. */
  ASSERT_EQ(0, host_uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("posted,cancelled", test_log);
  close_host(L, &uv);
}

TEST(a_manual_clock_keeps_no_uv_run_alive_and_advance_wakes_it) {
  uv_loop_t uv;
  lua_State *L = open_host(&uv, LUAIO_CLOCK_MANUAL);
  run(L, "asyncio.create_task(function()\n"
         "  note('start'); asyncio.sleep(1); note('woke')\n"
         "end)");
  ASSERT_EQ(0, host_uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("start", test_log); /* game time has not moved */
  ASSERT_OK(luaio_host_advance(L, 0.5));
  ASSERT_EQ(0, host_uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("start", test_log);
  ASSERT_OK(luaio_host_advance(L, 0.5));
  ASSERT_EQ(0, host_uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("start,woke", test_log);
  close_host(L, &uv);
}

TEST(a_virtual_clock_jumps_to_the_deadline_inside_uv_run) {
  uv_loop_t uv;
  lua_State *L = open_host(&uv, LUAIO_CLOCK_VIRTUAL);
  run(L, "asyncio.create_task(function()\n"
         "  asyncio.sleep(3600); note('an hour later')\n"
         "end)");
  ASSERT_EQ(0, host_uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("an hour later", test_log);
  ASSERT(luaio_loop_time(luaio_host_loop(L)) >= 3600);
  close_host(L, &uv);
}

/* burn(): busy work that takes a millisecond of the manual clock. */
static int l_burn(lua_State *L) {
  lua_pushinteger(L, luaio_host_advance(L, 0.001));
  return 1;
}

TEST(slices_stop_a_runaway_and_pause_a_preempted_task_inside_uv_run) {
  uv_loop_t uv;
  lua_State *L = open_host(&uv, LUAIO_CLOCK_MANUAL);
  lua_register(L, "burn", l_burn);
  ASSERT_OK(luaio_set_slice(L, 0.01, 0));
  run(L, "asyncio.create_task(function()\n"
         "  local ok, err = pcall(function() while true do burn() end end)\n"
         "  note(asyncio.SliceError:is(err) and 'runaway stopped' or 'no')\n"
         "end)\n"
         "asyncio.create_task(function()\n"
         "  local s = 0\n"
         "  for i = 1, 100000 do\n"
         "    s = s + i\n"
         "    if i % 100 == 0 then burn() end\n"
         "  end\n"
         "  note('sum ' .. s)\n"
         "end, {preempt = true})\n"
         "asyncio.create_task(function() note('other') end)\n");
  ASSERT_EQ(0, host_uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("runaway stopped,other,sum 5000050000", test_log);
  close_host(L, &uv);
}

TEST(a_budget_leaves_work_in_order_for_the_next_iteration) {
  uv_loop_t uv;
  lua_State *L = open_host(&uv, LUAIO_CLOCK_REAL);
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_set_budget(L, -1));
  ASSERT_OK(luaio_host_set_budget(L, 1e-9)); /* one callback per run */
  run(L, "for _, name in ipairs{'a', 'b', 'c', 'd', 'e'} do\n"
         "  asyncio.create_task(function() note(name) end)\n"
         "end");
  /* One iteration: a run from the idle handle, one from the check. */
  ASSERT(host_uv_run(&uv, UV_RUN_NOWAIT));
  ASSERT_STR_EQ("a,b", test_log);
  ASSERT_EQ(0, host_uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("a,b,c,d,e", test_log);
  close_host(L, &uv);
}

TEST(a_budget_needs_a_loop_on_the_hosts_uv_loop) {
  lua_State *L = host_newstate();
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_set_budget(L, 0.004));
  ASSERT_OK(luaio_host_open(L, NULL));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_set_budget(L, 0.004));
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

TEST(lua_close_alone_takes_luaios_handles_off_the_hosts_loop) {
  uv_loop_t uv;
  lua_State *L = open_host(&uv, LUAIO_CLOCK_REAL);
  run(L, "asyncio.create_task(function()\n"
         "  local ok = pcall(asyncio.sleep, 3600)\n"
         "  note(ok and 'slept' or 'cleaned up')\n"
         "end)");
  host_uv_run(&uv, UV_RUN_NOWAIT);
  in_uv_run = 1; /* the cleanup runs in lua_close */
  lua_close(L);
  in_uv_run = 0;
  ASSERT_STR_EQ("cleaned up", test_log);
  uv_close((uv_handle_t *)&prepare, NULL);
  ASSERT_EQ(0, uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_OK(uv_loop_close(&uv));
}

/* A failed accept goes to the exception handler, with the server, and
** the server goes on. libuv passes accept's error to the listening
** handle's connection_cb; the host, owning the loop, calls it as libuv
** would. */
static uv_loop_t *host_uv;

static void fail_accept(uv_handle_t *h, void *arg) {
  if (h->type == UV_TCP && ((uv_stream_t *)h)->connection_cb != NULL)
    ((uv_stream_t *)h)->connection_cb((uv_stream_t *)h, *(int *)arg);
}

/* fail_accepts(): every listening socket's next accept fails. */
static int host_fail_accepts(lua_State *L) {
  (void)L;
  int err = UV_ENOBUFS;
  uv_walk(host_uv, fail_accept, &err);
  return 0;
}

TEST(a_failed_accept_goes_to_the_exception_handler) {
  uv_loop_t uv;
  lua_State *L = open_host(&uv, LUAIO_CLOCK_REAL);
  host_uv = &uv;
  lua_register(L, "fail_accepts", host_fail_accepts);
  run(L, "asyncio.create_task(function()\n"
         "  local loop = asyncio.get_running_loop()\n"
         "  local server\n"
         "  loop:set_exception_handler(function(_, c)\n"
         "    note(c.message == 'accept failed on server ' ..\n"
         "      tostring(server) and 'told' or c.message)\n"
         "    note(c.exception.code)\n"
         "    note(tostring(c.server == server))\n"
         "  end)\n"
         "  server = asyncio.start_server(function(r, w)\n"
         "    note('served')\n"
         "    w:close()\n"
         "  end, '127.0.0.1', 0)\n"
         "  fail_accepts()\n"
         "  asyncio.sleep(0)\n"
         "  local r, w = asyncio.open_connection('127.0.0.1',\n"
         "    server:port())\n"
         "  r:read()\n"
         "  w:close()\n"
         "  server:close()\n"
         "  server:wait_closed()\n"
         "  note('done')\n"
         "end)");
  for (int i = 0; i < 1000 && strstr(test_log, "done") == NULL; i++)
    host_uv_run(&uv, UV_RUN_ONCE);
  ASSERT_STR_EQ("told,ENOBUFS,true,served,done", test_log);
  close_host(L, &uv);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
