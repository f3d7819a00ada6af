/*
** test-host-budget.c - steps with a time budget: the work a step leaves
** runs first in the next one, in the order an unbudgeted loop gives, and
** the collector, stopped outside the steps, keeps the heap bounded.
** Budgets of 0 (one callback per step) and of a day (everything) need no
** clock to be told apart, and a weak table tells when a cycle ran.
*/
#include <stdlib.h>

#include "host.h"

static lua_State *open_host(void) {
  lua_State *L = host_newstate();
  ASSERT_OK(luaio_host_open(L, NULL));
  test_log_reset();
  return L;
}

/* Three tasks of two steps each, and a callback one of them schedules. */
static const char *three =
    "local loop = asyncio.get_running_loop()\n"
    "for _, name in ipairs({'a', 'b', 'c'}) do\n"
    "  asyncio.create_task(function()\n"
    "    log(name .. '1')\n"
    "    if name == 'a' then loop:call_soon(log, 'soon') end\n"
    "    asyncio.sleep(0)\n"
    "    log(name .. '2')\n"
    "  end)\n"
    "end\n";

/* The log without the "|" that marks the ends of steps. */
static char *unmarked(const char *log) {
  char *s = malloc(strlen(log) + 1), *d = s;
  for (; *log != '\0'; log++) {
    if (*log == '|')
      log += log[1] == ',' ? 1 : 0;
    else
      *d++ = *log;
  }
  *d = '\0';
  if (d > s && d[-1] == ',')
    d[-1] = '\0';
  return s;
}

TEST(work_left_by_a_step_runs_first_in_the_next_in_order) {
  lua_State *L = open_host();
  run(L, three);
  while (luaio_host_step(L) > 0)
    test_logf("|");
  test_logf("|");
  char *whole = unmarked(test_log);
  ASSERT_STR_EQ("a1,b1,c1,|,soon,a2,b2,c2,|", test_log);
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);

  L = open_host();
  run(L, three);
  while (luaio_host_step_for(L, 0) > 0)
    test_logf("|");
  test_logf("|");
  /* One callback per step; the same order as the unbudgeted loop. */
  ASSERT_STR_EQ("a1,|,b1,|,c1,|,soon,|,a2,|,b2,|,c2,|", test_log);
  char *budgeted = unmarked(test_log);
  ASSERT_STR_EQ(whole, budgeted);
  free(whole);
  free(budgeted);
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

TEST(a_budget_not_spent_runs_the_step_whole) {
  lua_State *L = open_host();
  run(L, three);
  while (luaio_host_step_for(L, 86400) > 0)
    test_logf("|");
  ASSERT_STR_EQ("a1,b1,c1,|,soon,a2,b2,c2", test_log);
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

TEST(bad_budgets_and_no_loop_are_refused) {
  lua_State *L = open_host();
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_step_for(L, -1));
  ASSERT_EQ(LUAIO_EINVAL, luaio_host_step_for(L, 0.0 / 0.0));
  ASSERT_OK(luaio_host_close(L));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_host_step_for(L, 1));
  lua_close(L);
}

/* A task makes about 100 KB of garbage per frame; the collector runs only
** inside the steps, with no time left in them, and still keeps up. */
/* Frames of the host (100 under valgrind): the host runs between (when
** not NULL), then steps with no time for the collector, which stays
** stopped outside the steps; the Lua heap stays under 8 MB. */
static void steps_stay_small(lua_State *L, const char *between, int ntasks) {
  int frames = getenv("LUAIO_VALGRIND") != NULL ? 100 : 1000;
  int most = 0;
  for (int i = 0; i < frames; i++) {
    if (between != NULL)
      run(L, between);
    ASSERT_EQ(ntasks, luaio_host_step_for(L, 0));
    ASSERT(!lua_gc(L, LUA_GCISRUNNING));
    int kb = lua_gc(L, LUA_GCCOUNT);
    most = kb > most ? kb : most;
  }
  ASSERT(most < 8 * 1024);
}

TEST(the_collector_runs_inside_the_steps_and_keeps_up) {
  lua_State *L = open_host();
  /* Valgrind runs set the pause to 0, a full cycle for each allocation
  ** once the collector runs with the work: Lua's default is the test. */
  lua_gc(L, LUA_GCSETPAUSE, 200);
  ASSERT(lua_gc(L, LUA_GCISRUNNING));
  run(L, "asyncio.create_task(function()\n"
         "  while true do\n"
         "    local t = {}\n"
         "    for i = 1, 2000 do t[i] = {i} end\n"
         "    asyncio.sleep(0)\n"
         "  end\n"
         "end)\n");
  /* 100 MB of garbage in all, without a collection. */
  steps_stay_small(L, NULL, 1);
  ASSERT_OK(luaio_host_close(L));
  ASSERT(lua_gc(L, LUA_GCISRUNNING)); /* given back */
  lua_close(L);
}

/* Whether the table that only weak[1] holds is still there. */
static const char *kept = "log(weak[1] and 'kept' or 'collected')";

/* A step with nothing to do starts no collection: as Lua's own pacing,
** the collector waits until the heap has grown by the pause since its
** last cycle, however much time the budget leaves. */
TEST(spare_time_collects_only_once_the_heap_has_grown) {
  lua_State *L = open_host();
  lua_gc(L, LUA_GCSETPAUSE, 200); /* as above */
  run(L, "weak = setmetatable({}, {__mode = 'v'}); weak[1] = {}");
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(0, luaio_host_step_for(L, 86400));
  run(L, kept);
  /* Garbage the host makes between the steps, short of the pause. */
  run(L, "local t = {}; for i = 1, 100 do t[i] = {} end");
  ASSERT_EQ(0, luaio_host_step_for(L, 86400));
  run(L, kept);
  /* The pause as it is at the step: 100, a cycle once the heap grew. */
  lua_gc(L, LUA_GCSETPAUSE, 100);
  ASSERT_EQ(0, luaio_host_step_for(L, 86400));
  run(L, kept);
  lua_gc(L, LUA_GCSETPAUSE, 200);
  /* Past the pause. */
  run(L, "weak[1] = {}; local t = {}; for i = 1, 100000 do t[i] = {} end");
  ASSERT_EQ(0, luaio_host_step_for(L, 86400));
  run(L, kept);
  ASSERT_STR_EQ("kept,kept,collected,collected", test_log);
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

/* The host makes about 100 KB of garbage between frames, and the steps,
** with nothing to run, have no time left: they still collect it, as the
** work of making it asks. */
TEST(garbage_made_between_the_steps_is_collected_in_them) {
  lua_State *L = open_host();
  lua_gc(L, LUA_GCSETPAUSE, 200); /* as above */
  ASSERT_EQ(0, luaio_host_step_for(L, 0));
  steps_stay_small(L, "local t = {}; for i = 1, 2000 do t[i] = {i} end", 0);
  ASSERT_OK(luaio_host_close(L));
  lua_close(L);
}

/* On the host's own uv loop, with a budget for each run from its uv_run:
** the runs collect the garbage a task makes, and closing gives the
** collector back. */
TEST(runs_from_the_hosts_uv_run_collect_within_their_budget) {
  int frames = getenv("LUAIO_VALGRIND") != NULL ? 100 : 1000;
  uv_loop_t uv;
  ASSERT_OK(uv_loop_init(&uv));
  lua_State *L = host_newstate();
  lua_gc(L, LUA_GCSETPAUSE, 200); /* as above */
  ASSERT_OK(luaio_host_open(L, &uv));
  ASSERT_OK(luaio_host_set_budget(L, 1e-9)); /* one callback per run */
  lua_pushinteger(L, frames);
  lua_setglobal(L, "frames");
  run(L, "most = 0\n"
         "asyncio.create_task(function()\n"
         "  for _ = 1, frames do\n"
         "    local t = {}\n"
         "    for i = 1, 2000 do t[i] = {i} end\n"
         "    most = math.max(most, collectgarbage('count'))\n"
         "    asyncio.sleep(0)\n"
         "  end\n"
         "  log('done')\n"
         "end)\n");
  ASSERT_EQ(0, uv_run(&uv, UV_RUN_DEFAULT));
  ASSERT_STR_EQ("done", test_log);
  lua_getglobal(L, "most");
  ASSERT(lua_tonumber(L, -1) < 8 * 1024);
  lua_pop(L, 1);
  ASSERT_OK(luaio_host_close(L));
  ASSERT(lua_gc(L, LUA_GCISRUNNING));
  lua_close(L);
  ASSERT_OK(uv_loop_close(&uv));
}

int main(int argc, char **argv) { return test_main(argc, argv); }
