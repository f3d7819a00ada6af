/*
** test-host-budget.c - steps with a time budget: the work a step leaves
** runs first in the next one, in the order an unbudgeted loop gives, and
** the collector, stopped outside the steps, keeps the heap bounded.
** Budgets of 0 (one callback per step) and of a day (everything) need no
** clock to be told apart.
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
TEST(the_collector_runs_inside_the_steps_and_keeps_up) {
  int frames = getenv("LUAIO_VALGRIND") != NULL ? 100 : 1000;
  lua_State *L = open_host();
  ASSERT(lua_gc(L, LUA_GCISRUNNING));
  run(L, "asyncio.create_task(function()\n"
         "  while true do\n"
         "    local t = {}\n"
         "    for i = 1, 2000 do t[i] = {i} end\n"
         "    asyncio.sleep(0)\n"
         "  end\n"
         "end)\n");
  int most = 0;
  for (int i = 0; i < frames; i++) {
    ASSERT_EQ(1, luaio_host_step_for(L, 0));
    ASSERT(!lua_gc(L, LUA_GCISRUNNING));
    int kb = lua_gc(L, LUA_GCCOUNT);
    most = kb > most ? kb : most;
  }
  /* 100 MB of garbage in all, without a collection. */
  ASSERT(most < 8 * 1024);
  ASSERT_OK(luaio_host_close(L));
  ASSERT(lua_gc(L, LUA_GCISRUNNING)); /* given back */
  lua_close(L);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
