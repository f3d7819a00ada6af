/*
** frame.c - frame-step times of a host that drives luaio from its own
** frame loop (luaiolib.h), as bench/README.md describes:
**
**   sleeping  10,000 tasks asleep for good: a step finds nothing to do;
**   waking    1,000 tasks that each wake every frame, add to a counter
**             and sleep again;
**   ready     1,000 tasks always ready, each step about 50 us of Lua work
**             that leaves garbage (tables and strings) behind.
**
** Each scenario runs in a fresh state twice: with luaio_host_step (no
** budget; the collector as Lua paces it) and with luaio_host_step_for
** and a budget (3 ms unless told; the collector inside the steps). The
** loop runs on a manual clock moved by 1/60 s after each step, as a game
** at 60 fps would, without sleeping between frames: a frame is the step.
** Only the step is timed, with uv_hrtime(), after warm-up frames that let
** every task start. One line per run:
**
**   HOST <scenario> <step|step_for> budget_us=B frames=N p50_us=.. \
**     p99_us=.. worst_us=.. runs_per_frame=.. heap_kb=..
**
** (heap_kb: the most the Lua heap held after a step, to show that the
** collector kept up.)
** then "HOST task_us=T" (one ready task's step, from the unbudgeted ready
** run: its median step over its 1,000 tasks) and a line per target of
** the budgeted runs: p99 at most the budget plus one task's step, worst
** at most twice the budget. The program checks its own answer (every
** waking task woke every frame, the ready tasks ran in turn) and exits
** with 1 when it is wrong; a missed target is reported, not an error.
**
** Usage: host-frame [frames [budget_ms]]   (600 frames, 3 ms)
** The unbudgeted ready run, 50 ms a frame, takes a fifth of the frames.
*/
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "luaiolib.h"

#define WARMUP 10
#define FRAME (1.0 / 60)
#define TASK_WORK_US 50.0

enum { SLEEPING, WAKING, READY, NSCENARIOS };

static const char *const names[NSCENARIOS] = {"sleeping", "waking", "ready"};
static const int ntasks[NSCENARIOS] = {10000, 1000, 1000};

/* The tasks' work: a checksum loop that keeps a small table, with a
** string in it, every 32 rounds; all of it garbage once the step ends. */
static const char *work_lua =
    "function work(iters)\n"
    "  local x, keep = 0, {}\n"
    "  for i = 1, iters do\n"
    "    x = (x * 31 + i) % 1000000007\n"
    "    if i % 32 == 0 then keep[#keep + 1] = {x, 'k' .. x} end\n"
    "  end\n"
    "  return x\n"
    "end\n";

/* Finds the iterations that make work() take about target seconds of
** CPU time (so that other processes do not shorten it); returns them and
** the KB of garbage one call makes. */
static const char *calibrate_lua =
    "local target = ...\n"
    "local iters = 1000\n"
    "for _ = 1, 4 do\n"
    "  local t0 = now()\n"
    "  for _ = 1, 200 do work(iters) end\n"
    "  local each = (now() - t0) / 200\n"
    "  iters = math.max(1, math.floor(iters * target / each))\n"
    "end\n"
    "collectgarbage('stop')\n"
    "local kb = collectgarbage('count')\n"
    "work(iters)\n"
    "kb = collectgarbage('count') - kb\n"
    "collectgarbage('restart')\n"
    "return iters, kb\n";

/* Makes n tasks of the scenario; count[i] is how often task i ran. */
static const char *const setup_lua[NSCENARIOS] = {
    "local n = ...\n"
    "count = {}\n"
    "for i = 1, n do\n"
    "  count[i] = 0\n"
    "  asyncio.create_task(function() asyncio.sleep(1e9) end)\n"
    "end\n",

    /* 0.01 s is due at the next frame's 1/60 s, with no tie to break. */
    "local n = ...\n"
    "count = {}\n"
    "for i = 1, n do\n"
    "  count[i] = 0\n"
    "  asyncio.create_task(function()\n"
    "    while true do\n"
    "      asyncio.sleep(0.01)\n"
    "      count[i] = count[i] + 1\n"
    "    end\n"
    "  end)\n"
    "end\n",

    "local n, iters = ...\n"
    "count = {}\n"
    "for i = 1, n do\n"
    "  count[i] = 0\n"
    "  asyncio.create_task(function()\n"
    "    while true do\n"
    "      work(iters)\n"
    "      count[i] = count[i] + 1\n"
    "      asyncio.sleep(0)\n"
    "    end\n"
    "  end)\n"
    "end\n",
};


/* The CPU time this thread has used, in nanoseconds. */
static uint64_t cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* now(): the thread's CPU time in seconds. */
static int lnow(lua_State *L) {
  lua_pushnumber(L, (double)cpu_ns() / 1e9);
  return 1;
}

static void fail(const char *what, const char *detail) {
  fprintf(stderr, "host-frame: %s: %s\n", what, detail);
  exit(1);
}

/* Runs code with the arguments a and b; returns its first result, and
** its second in *second when not NULL. */
static lua_Integer run(lua_State *L, const char *code, lua_Number a,
                       lua_Integer b, double *second) {
  if (luaL_loadstring(L, code) != LUA_OK)
    fail("load", lua_tostring(L, -1));
  lua_pushnumber(L, a);
  lua_pushinteger(L, b);
  if (lua_pcall(L, 2, 2, 0) != LUA_OK)
    fail("run", lua_tostring(L, -1));
  lua_Integer r = lua_tointeger(L, -2);
  if (second != NULL)
    *second = lua_tonumber(L, -1);
  lua_pop(L, 2);
  return r;
}

static lua_State *newstate(luaio_alloc_t **a) {
  lua_State *L = luaio_newstate(a);
  if (L == NULL)
    fail("luaio_newstate", "out of memory");
  luaL_openlibs(L);
  luaL_requiref(L, "asyncio", luaopen_asyncio, 1);
  lua_pop(L, 1);
  lua_register(L, "now", lnow);
  run(L, work_lua, 0, 0, NULL);
  return L;
}

/* How often each task ran: *lo and *hi, the least and the most. */
static void counts(lua_State *L, int n, lua_Integer *lo, lua_Integer *hi) {
  lua_getglobal(L, "count");
  *lo = -1, *hi = 0;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    lua_Integer c = lua_tointeger(L, -1);
    lua_pop(L, 1);
    *lo = *lo < 0 || c < *lo ? c : *lo;
    *hi = c > *hi ? c : *hi;
  }
  lua_pop(L, 1);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The nearest-rank percentile of n sorted times, in microseconds. */
static double pct(const uint64_t *t, int n, double p) {
  int rank = (int)(p / 100 * n + 0.999999);
  rank = rank < 1 ? 1 : rank > n ? n : rank;
  return (double)t[rank - 1] / 1e3;
}

/* How often the kernel has taken the CPU from this thread. */
static long preemptions(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_nivcsw;
}

typedef struct {
  double p50, p99, worst;        /* wall time, microseconds */
  double cpu50, cpu99, cpuworst; /* the thread's CPU time */
} result;

/* One scenario in a fresh state: budget < 0 steps without one. */
static result run_case(int sc, double budget, int frames, lua_Integer iters) {
  luaio_alloc_t *a;
  lua_State *L = newstate(&a);
  int n = ntasks[sc];
  if (luaio_host_open_clock(L, NULL, LUAIO_CLOCK_MANUAL) != 0)
    fail("luaio_host_open_clock", "cannot open the loop");
  run(L, setup_lua[sc], n, iters, NULL);
  uint64_t *t = malloc(sizeof *t * (size_t)frames * 2), *c = t + frames;
  if (t == NULL)
    fail("malloc", "out of memory");
  int heap_kb = 0;   /* the most the Lua heap held after a step */
  int preempted = 0; /* steps the kernel paused for other work */
  for (int f = -WARMUP; f < frames; f++) {
    long p0 = preemptions();
    uint64_t c0 = cpu_ns(), t0 = uv_hrtime();
    int live = budget < 0 ? luaio_host_step(L) : luaio_host_step_for(L, budget);
    uint64_t t1 = uv_hrtime(), c1 = cpu_ns();
    long p1 = preemptions();
    if (live != n)
      fail(names[sc], "a task ended or the step failed");
    int kb = lua_gc(L, LUA_GCCOUNT);
    heap_kb = kb > heap_kb ? kb : heap_kb;
    if (f >= 0) {
      t[f] = t1 - t0;
      c[f] = c1 - c0;
      preempted += p1 != p0;
    }
    luaio_host_advance(L, FRAME);
  }
  lua_Integer lo, hi;
  counts(L, n, &lo, &hi);
  /* The first step starts the tasks; a waking task wakes in every step
  ** after it, a ready task runs in every step, in turn under a budget. */
  int steps = WARMUP + frames;
  if (sc == WAKING && budget < 0 && (lo != steps - 1 || hi != steps - 1))
    fail("waking", "a task missed a frame");
  if (sc == WAKING && budget >= 0 && (lo < 1 || hi > steps - 1))
    fail("waking", "a task woke more often than the frames");
  if (sc == READY && budget < 0 && (lo != steps || hi != steps))
    fail("ready", "a task missed a step");
  if (sc == READY && (lo < 1 || hi - lo > 1))
    fail("ready", "the tasks did not run in turn");
  double runs = sc == SLEEPING ? 0 : (double)(lo + hi) * n / 2 / steps;
  if (luaio_host_close(L) != 0)
    fail(names[sc], "luaio_host_close failed");
  luaio_closestate(L, a);

  qsort(t, (size_t)frames, sizeof *t, cmp_u64);
  qsort(c, (size_t)frames, sizeof *c, cmp_u64);
  result r = {pct(t, frames, 50), pct(t, frames, 99), pct(t, frames, 100),
              pct(c, frames, 50), pct(c, frames, 99), pct(c, frames, 100)};
  printf("HOST %s %s budget_us=%.0f frames=%d p50_us=%.1f p99_us=%.1f "
         "worst_us=%.1f cpu_p50_us=%.1f cpu_p99_us=%.1f cpu_worst_us=%.1f "
         "preempted=%d runs_per_frame=%.1f heap_kb=%d\n",
         names[sc], budget < 0 ? "step" : "step_for",
         budget < 0 ? 0 : budget * 1e6, frames, r.p50, r.p99, r.worst, r.cpu50,
         r.cpu99, r.cpuworst, preempted, runs, heap_kb);
  fflush(stdout);
  free(t);
  return r;
}

int main(int argc, char **argv) {
  int frames = argc > 1 ? atoi(argv[1]) : 600;
  double budget = (argc > 2 ? atof(argv[2]) : 3) / 1e3;
  if (frames < 1 || !(budget >= 0))
    fail("usage", "host-frame [frames >= 1 [budget_ms >= 0]]");

  luaio_alloc_t *a;
  lua_State *L = newstate(&a);
  double garbage_kb;
  lua_Integer iters = run(L, calibrate_lua, TASK_WORK_US / 1e6, 0, &garbage_kb);
  luaio_closestate(L, a);
  printf("HOST work iters=%lld garbage_kb=%.1f\n", (long long)iters,
         garbage_kb);

  result ready = run_case(READY, -1, frames / 5 > 0 ? frames / 5 : 1, iters);
  double task_us = ready.cpu50 / ntasks[READY];
  printf("HOST task_us=%.1f\n", task_us);
  run_case(SLEEPING, -1, frames, iters);
  run_case(WAKING, -1, frames, iters);
  double b = budget * 1e6;
  for (int sc = 0; sc < NSCENARIOS; sc++) {
    result r = run_case(sc, budget, frames, iters);
    printf("HOST target %s p99 %s: %.1f <= %.1f + %.1f (CPU time: %.1f)\n",
           names[sc], r.p99 <= b + task_us ? "met" : "MISSED", r.p99, b,
           task_us, r.cpu99);
    printf("HOST target %s worst %s: %.1f <= 2 x %.1f (CPU time: %.1f)\n",
           names[sc], r.worst <= 2 * b ? "met" : "MISSED", r.worst, b,
           r.cpuworst);
  }
  return 0;
}
