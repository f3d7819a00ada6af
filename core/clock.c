/*
** clock.c - manual and virtual clocks: time that moves when it is told
** to, or jumps to the next deadline once nothing else can happen first
** (Trio's MockClock). A real clock never comes here: luaio_loop_time()
** reads libuv's clock itself.
*/
#include <math.h>

#include "internal.h"

/* What luaio__clock_after_poll() does, as prepare left it in c->jump. */
#define JUMP_NONE 0
#define JUMP_IDLE 1 /* jump if the poll found nothing and no real work */
#define JUMP_LATE 2 /* jump if the threshold passed with nothing to do */

static double real_now(void) { return (double)uv_hrtime() / 1e9; }

double luaio__clock_time(const luaio_loop_t *loop) {
  const luaio__clock *c = &loop->clock;
  if (c->rate == 0)
    return c->now;
  return c->now + c->rate * (real_now() - (double)c->base / 1e9);
}

static void clock_set(luaio__clock *c, double t) {
  c->now = t;
  if (c->rate > 0)
    c->base = uv_hrtime();
}

/* The clock was moved from outside the runs of an attached loop: what
** fell due runs in the owner's next uv_run iteration. */
static void clock_moved(luaio_loop_t *loop) {
  if (loop->kick)
    luaio__loop_kick(loop);
}

static void count_process(uv_handle_t *h, void *arg) {
  if (uv_handle_get_type(h) == UV_PROCESS && uv_is_active(h))
    (*(int *)arg)++;
}

/* Whether real work is under way that ends by itself: a libuv request
** (thread-pool job, file operation, name lookup, connect) or a running
** subprocess. A read, a listen, a stream write or shutdown waits on a
** peer, which may be in the program and wait for the clock: it is not. */
static int real_pending(luaio_loop_t *loop) {
  if (loop->uv->active_reqs.count > loop->npeer_reqs)
    return 1;
  int n = 0;
  uv_walk(loop->uv, count_process, &n);
  return n > 0;
}

uv_run_mode luaio__clock_prepare_poll(luaio_loop_t *loop, double wait) {
  luaio__clock *c = &loop->clock;
  double real_wait = c->rate > 0 ? wait / c->rate : INFINITY;
  uv_timer_stop(&loop->wakeup);
  c->woke = 0;
  c->sent = 0;
  c->jump = JUMP_NONE;
  if (c->kind == LUAIO_CLOCK_VIRTUAL) {
    if (!real_pending(loop)) {
      c->jump = JUMP_IDLE; /* look for events ready now, then jump */
      return UV_RUN_NOWAIT;
    }
    if (c->threshold == 0) {
      c->jump = JUMP_LATE;
      c->woke = 1;
      return UV_RUN_NOWAIT;
    }
    if (c->threshold < real_wait) {
      c->jump = JUMP_LATE;
      real_wait = c->threshold;
    }
  }
  if (isinf(real_wait))
    return UV_RUN_ONCE; /* only I/O, or the owner's jump, moves on */
  uv_update_time(loop->uv);
  luaio__wakeup_arm(loop, ceil(real_wait * 1e3));
  return UV_RUN_ONCE;
}

void luaio__clock_prepare_nowait(luaio_loop_t *loop) {
  luaio__clock *c = &loop->clock;
  c->jump = c->threshold == 0 ? JUMP_LATE : JUMP_IDLE;
  c->sent = 0;
  c->woke = 1; /* a step never waits: a threshold of 0 is already past */
}

void luaio__clock_after_poll(luaio_loop_t *loop) {
  luaio__clock *c = &loop->clock;
  int jump = c->jump;
  int woke = c->woke, sent = c->sent;
  c->jump = JUMP_NONE;
  c->woke = 0;
  c->sent = 0;
  if (jump == JUMP_NONE || loop->nready > 0)
    return;
  /* The poll's callbacks may have started real work, or sent a peer
  ** something it answers: polling again sees the answer. */
  if (jump == JUMP_IDLE && (sent || real_pending(loop)))
    return;
  if (jump == JUMP_LATE && !woke)
    return;
  double next = luaio__timers_next(loop);
  if (next > luaio__clock_time(loop))
    clock_set(c, next);
}

luaio_clock_kind luaio_clock_kind_of(const luaio_loop_t *loop) {
  return loop->clock.kind;
}

int luaio_clock_jump(luaio_loop_t *loop, double seconds) {
  luaio__clock *c = &loop->clock;
  if (c->kind == LUAIO_CLOCK_REAL)
    return LUAIO_EINVALSTATE;
  if (!isfinite(seconds) || seconds < 0)
    return LUAIO_EINVAL;
  clock_set(c, luaio__clock_time(loop) + seconds);
  clock_moved(loop);
  return 0;
}

int luaio_clock_set_rate(luaio_loop_t *loop, double rate) {
  luaio__clock *c = &loop->clock;
  if (c->kind == LUAIO_CLOCK_REAL)
    return LUAIO_EINVALSTATE;
  if (!isfinite(rate) || rate < 0)
    return LUAIO_EINVAL;
  double now = luaio__clock_time(loop);
  c->rate = rate;
  clock_set(c, now); /* the new rate counts from now */
  clock_moved(loop);
  return 0;
}

double luaio_clock_rate(const luaio_loop_t *loop) {
  return loop->clock.kind == LUAIO_CLOCK_REAL ? 1.0 : loop->clock.rate;
}

int luaio_clock_set_autojump_threshold(luaio_loop_t *loop, double seconds) {
  if (loop->clock.kind != LUAIO_CLOCK_VIRTUAL)
    return LUAIO_EINVALSTATE;
  if (isnan(seconds) || seconds < 0)
    return LUAIO_EINVAL;
  loop->clock.threshold = seconds;
  clock_moved(loop);
  return 0;
}

double luaio_clock_autojump_threshold(const luaio_loop_t *loop) {
  return loop->clock.threshold;
}
