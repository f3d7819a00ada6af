/*
** test-host-slice.c - slices on a loop a host steps itself: a runaway
** task is stopped while another keeps its schedule; a task that asked to
** be preempted finishes its work across steps; a count hook of the
** program's own that yields pauses a task instead of failing it. Time is
** the loop's manual clock: the host moves it by one frame per step, and
** busy Lua code moves it by a millisecond per call of burn(), which
** stands in for the time its work takes.
*/

#include "host.h"

#define FRAME (1.0 / 64) /* a frame: exact in binary, so times compare */

/* Logs the context's message up to the seconds it names, which depend on
** how often the slice looks at the clock. */
static void host_cb(lua_State *L, int ctx, void *ud) {
  (void)ud;
  lua_getfield(L, ctx, "message");
  const char *msg = lua_tostring(L, -1);
  const char *end = strstr(msg, " for ");
  int len = end != NULL ? (int)(end - msg) : (int)strcspn(msg, "\n");
  test_logf("report: %.*s", len, msg);
  lua_settop(L, ctx);
}

static int l_burn(lua_State *L) {
  lua_pushinteger(L, luaio_host_advance(L, 0.001));
  return 1;
}

static lua_State *open_host(double slice, double warn) {
  lua_State *L = host_newstate();
  lua_register(L, "burn", l_burn);
  luaio_set_exception_handler(L, host_cb, NULL);
  ASSERT_OK(luaio_host_open_clock(L, NULL, LUAIO_CLOCK_MANUAL));
  ASSERT_OK(luaio_set_slice(L, slice, warn));
  test_log_reset();
  return L;
}

/* Runs frames until no task is left (at most max); returns how many. */
static int frames(lua_State *L, int max) {
  int n = 0;
  while (n < max && luaio_host_step(L) > 0) {
    ASSERT_OK(luaio_host_advance(L, FRAME));
    n++;
  }
  return n;
}

static void close_host(lua_State *L) {
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

TEST(bad_values_are_refused) {
  lua_State *L = open_host(0, 0);
  ASSERT_EQ(LUAIO_EINVAL, luaio_set_slice(L, -1, 0));
  ASSERT_EQ(LUAIO_EINVAL, luaio_set_slice(L, 0, 0.0 / 0.0));
  close_host(L);
}

TEST(a_runaway_task_is_stopped_and_the_other_keeps_its_schedule) {
  lua_State *L = open_host(0.1, 0.05);
  run(L, "local loop = asyncio.get_running_loop()\n"
         "at = {}\n"
         "asyncio.create_task(function()\n"
         "  for i = 1, 4 do\n"
         "    at[i] = math.floor(loop:time() * 64 + 0.5)\n"
         "    log('tick ' .. i)\n"
         "    asyncio.sleep(1 / 64)\n"
         "  end\n"
         "end)\n"
         "runaway = asyncio.create_task(function()\n"
         "  local ok, err = pcall(function() while true do burn() end end)\n"
         "  log('runaway cleans up')\n"
         "  error(err)\n"
         "end, {name = 'runaway'})\n");
  ASSERT_EQ(4, frames(L, 100));
  /* The runaway took the first frame's clock past the slice: the ticker
  ** is late once, then on time for every frame again. */
  run(L, "local err = runaway:exception()\n"
         "assert(asyncio.SliceError:is(err))\n"
         "local msg = tostring(err)\n"
         "assert(msg:find(\"task 'runaway' ran for \", 1, true), msg)\n"
         "assert(msg:find(\" s without suspending, past the loop's slice of \"\n"
         "  .. \"0.1 s\", 1, true), msg)\n"
         "assert(at[3] == at[2] + 1 and at[4] == at[3] + 1)\n");
  ASSERT_STR_EQ("tick 1,report: task 'runaway' has run,runaway cleans up,"
                "tick 2,tick 3,tick 4",
                test_log);
  close_host(L);
}

TEST(a_preempted_computation_finishes_across_steps) {
  lua_State *L = open_host(0.01, 0);
  run(L, "sum = asyncio.create_task(function()\n"
         "  local s = 0\n"
         "  for i = 1, 100000 do\n"
         "    s = s + i\n"
         "    if i % 100 == 0 then burn() end\n"
         "  end\n"
         "  log('sum done')\n"
         "  return s\n"
         "end, {preempt = true})\n"
         "others = 0\n"
         "asyncio.create_task(function()\n"
         "  while not sum:done() do others = others + 1; asyncio.sleep(0) end\n"
         "end)\n");
  int n = frames(L, 10000);
  ASSERT(n > 10); /* 1,000 ms of work in slices of 10 ms */
  ASSERT_STR_EQ("sum done", test_log);
  run(L, "assert(sum:result() == 5000050000)\n"
         "assert(others > 10, others)\n");
  close_host(L);
}

/* A hook of the program's own that yields from every 100th instruction
** while set: the task is paused there, not failed. */
static void yield_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_yield(L, 0);
}

static int l_sethook(lua_State *L) {
  if (lua_toboolean(L, 1))
    lua_sethook(L, yield_hook, LUA_MASKCOUNT, 100);
  else
    lua_sethook(L, NULL, 0, 0);
  return 0;
}

TEST(a_yield_from_a_hook_of_the_program_pauses_the_task) {
  lua_State *L = open_host(0, 0);
  lua_register(L, "sethook", l_sethook);
  run(L, "sum = asyncio.create_task(function()\n"
         "  sethook(true)\n"
         "  local s = 0\n"
         "  for i = 1, 10000 do s = s + i end\n"
         "  sethook(false)\n"
         "  return s\n"
         "end)\n");
  ASSERT(frames(L, 10000) > 10);
  run(L, "assert(sum:result() == 50005000, tostring(sum:exception()))\n");
  close_host(L);
}

TEST(a_paused_task_can_be_cancelled) {
  lua_State *L = open_host(0.01, 0);
  run(L, "spin = asyncio.create_task(function()\n"
         "  local ok, err = pcall(function() while true do burn() end end)\n"
         "  log(tostring(err))\n"
         "  error(err)\n"
         "end, {preempt = true})\n");
  luaio_host_step(L);
  luaio_host_step(L);
  ASSERT_STR_EQ("", test_log);
  run(L, "spin:cancel('reload')");
  frames(L, 10);
  ASSERT_STR_EQ("reload", test_log);
  run(L, "assert(spin:cancelled())");
  close_host(L);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
