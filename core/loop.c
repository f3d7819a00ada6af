/*
** loop.c - the event loop: ready callbacks, deadlines, then libuv I/O.
*/
#include <math.h>
#include <signal.h>
#include <string.h>

#include "internal.h"

/* Writing to a socket or pipe whose reader is gone must fail with EPIPE,
** not end the program: SIGPIPE left at its default is ignored, as Python
** and Node do at startup. A handler the host installed is kept. */
static void ignore_sigpipe(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
  }
}

/* The wakeup ends the current uv_run iteration: libuv runs due timers
** before it computes the poll timeout, so a wakeup that is already due by
** then fires first, and without a stop the poll would block for as long as
** any other handle keeps libuv alive. The stop is only made inside our own
** uv_run (libuv clears it on return), never in a host's uv_run of a shared
** loop, where it would end the host's run instead. Due timers are run by
** loop_iterate after uv_run returns. */
static void attach_run(luaio_loop_t *loop, uint64_t deadline);

static void wakeup_cb(uv_timer_t *handle) {
  luaio_loop_t *loop = handle->data;
  if (loop->in_uv_run)
    uv_stop(loop->uv);
  loop->clock.woke = 1; /* a virtual clock's threshold passed */
  if (loop->attached)
    attach_run(loop, 0);
}

void luaio__wakeup_arm(luaio_loop_t *loop, double ms) {
  if (ms > 1e12) /* some thirty years; keeps the cast defined */
    ms = 1e12;
  uv_timer_start(&loop->wakeup, wakeup_cb, (uint64_t)ms, 0);
  /* Referenced while armed, so that a poll with nothing else waits. */
  uv_ref((uv_handle_t *)&loop->wakeup);
}

luaio_loop_t *luaio_loop_new(uv_loop_t *uv) {
  return luaio_loop_new_clock(uv, LUAIO_CLOCK_REAL);
}

luaio_loop_t *luaio_loop_new_clock(uv_loop_t *uv, luaio_clock_kind kind) {
  if (kind != LUAIO_CLOCK_REAL && kind != LUAIO_CLOCK_MANUAL &&
      kind != LUAIO_CLOCK_VIRTUAL)
    return NULL;
  luaio_loop_t *loop = luaio__alloc(sizeof *loop);
  if (loop == NULL)
    return NULL;
  ignore_sigpipe();
  memset(loop, 0, sizeof *loop);
  if (uv == NULL) {
    if (uv_loop_init(&loop->own_uv) != 0) {
      luaio__free(loop, sizeof *loop);
      return NULL;
    }
    uv = &loop->own_uv;
    loop->owns_uv = 1;
  }
  loop->uv = uv;
  uv_timer_init(uv, &loop->wakeup);
  /* The wakeup timer must not keep libuv alive: only real work does. */
  uv_unref((uv_handle_t *)&loop->wakeup);
  loop->wakeup.data = loop;
  if (luaio__post_init(loop) != 0) {
    uv_close((uv_handle_t *)&loop->wakeup, NULL);
    uv_run(uv, UV_RUN_NOWAIT);
    if (loop->owns_uv)
      uv_loop_close(uv);
    luaio__free(loop, sizeof *loop);
    return NULL;
  }
  loop->clock.kind = kind;
  loop->clock.threshold = INFINITY;
  return loop;
}

static void wakeup_close_cb(uv_handle_t *handle) { (void)handle; }

typedef struct {
  const luaio_loop_t *loop;
  int nopen;
} open_count;

static void count_open(uv_handle_t *h, void *arg) {
  open_count *c = arg;
  const luaio_loop_t *loop = c->loop;
  if (h != (const uv_handle_t *)&loop->wakeup &&
      h != (const uv_handle_t *)&loop->post_async &&
      h != (const uv_handle_t *)&loop->attach_idle &&
      h != (const uv_handle_t *)&loop->attach_check && !uv_is_closing(h))
    c->nopen++;
}

/* The handles on a libuv loop of our own that nobody has closed: a
** stream, server or pipe still open. Closing the loop would wait for a
** listening socket forever; libuv refuses to close it with any of them. */
static int open_handles(luaio_loop_t *loop) {
  open_count c = {loop, 0};
  if (loop->owns_uv)
    uv_walk(loop->uv, count_open, &c);
  return c.nopen;
}

int luaio_loop_delete(luaio_loop_t *loop) {
  if (loop->ntasks > 0 || loop->nready > 0)
    return LUAIO_EBUSY;
  luaio__handles_cancel_all(loop);
  if (luaio__timers_count(loop) > 0 || loop->nhandles > 0 ||
      open_handles(loop) > 0)
    return LUAIO_EBUSY;
  luaio_loop_detach(loop);
  uv_close((uv_handle_t *)&loop->wakeup, wakeup_close_cb);
  if (loop->attach_inited) {
    uv_close((uv_handle_t *)&loop->attach_idle, wakeup_close_cb);
    uv_close((uv_handle_t *)&loop->attach_check, wakeup_close_cb);
  }
  luaio__post_close(loop);
  /* Let libuv finish the close; it runs only close callbacks here. */
  uv_run(loop->uv, UV_RUN_NOWAIT);
  if (loop->owns_uv) {
    int rc = uv_loop_close(loop->uv);
    if (rc != 0) {
      uv_run(loop->uv, UV_RUN_DEFAULT);
      rc = uv_loop_close(loop->uv);
    }
    assert(rc == 0);
  }
  luaio__timers_free(loop);
  luaio__free(loop, sizeof *loop);
  return 0;
}

double luaio_loop_time(const luaio_loop_t *loop) {
  if (loop->clock.kind == LUAIO_CLOCK_REAL) /* the hot path: one test */
    return (double)uv_hrtime() / 1e9;
  return luaio__clock_time(loop);
}

uv_loop_t *luaio_loop_uv(luaio_loop_t *loop) { return loop->uv; }

void luaio_loop_set_data(luaio_loop_t *loop, void *data) { loop->data = data; }

void *luaio_loop_data(const luaio_loop_t *loop) { return loop->data; }

size_t luaio_loop_ntasks(const luaio_loop_t *loop) { return loop->ntasks; }

size_t luaio_loop_ntimers(const luaio_loop_t *loop) {
  return luaio__timers_count(loop);
}

size_t luaio_loop_nready(const luaio_loop_t *loop) { return loop->nready; }

int luaio_loop_can_progress(luaio_loop_t *loop) {
  if (loop->nready > 0 || uv_loop_alive(loop->uv))
    return 1;
  if (luaio__timers_count(loop) == 0)
    return 0;
  /* Nothing in the loop moves a stopped manual clock. */
  if (loop->clock.kind != LUAIO_CLOCK_MANUAL || loop->clock.rate > 0)
    return 1;
  return luaio__timers_next(loop) <= luaio__clock_time(loop);
}

int luaio_loop_alive(const luaio_loop_t *loop) {
  return loop->nready > 0 || luaio__timers_count(loop) > 0 ||
         loop->ntasks > 0;
}

void luaio_loop_stop(luaio_loop_t *loop) { loop->stopping = 1; }

/* Arms the wakeup timer so that a blocking poll ends at the earliest
** deadline. Returns the libuv run mode for this iteration. */
static uv_run_mode loop_prepare_poll(luaio_loop_t *loop, luaio_run_mode mode) {
  if (loop->nready > 0 || loop->stopping)
    return UV_RUN_NOWAIT;
  if (mode == LUAIO_RUN_NOWAIT) {
    if (loop->clock.kind == LUAIO_CLOCK_VIRTUAL)
      luaio__clock_prepare_nowait(loop); /* a host's step jumps too */
    return UV_RUN_NOWAIT;
  }
  double next = luaio__timers_next(loop);
  if (next < 0) {
    uv_timer_stop(&loop->wakeup);
    return UV_RUN_ONCE;
  }
  double wait = next - luaio_loop_time(loop);
  if (wait <= 0)
    return UV_RUN_NOWAIT;
  if (loop->clock.kind != LUAIO_CLOCK_REAL)
    return luaio__clock_prepare_poll(loop, wait);
  uv_update_time(loop->uv); /* arm from now, not from a stale uv_now */
  luaio__wakeup_arm(loop, ceil(wait * 1e3));
  return UV_RUN_ONCE;
}

/* The work of one iteration, once libuv has polled: what was posted, the
** due timers, then what was ready. deadline: 0, or the uv_hrtime after
** which ready callbacks wait for the next iteration. */
static void loop_work(luaio_loop_t *loop, uint64_t deadline) {
  if (loop->clock.kind != LUAIO_CLOCK_REAL)
    luaio__clock_after_poll(loop);
  if (atomic_load_explicit(&loop->post_pending, memory_order_relaxed))
    luaio__post_take(loop);
  luaio__timers_expire(loop, luaio_loop_time(loop));
  if (deadline == 0)
    luaio__ready_run(loop);
  else
    luaio__ready_run_until(loop, deadline);
}

static int loop_iterate(luaio_loop_t *loop, luaio_run_mode mode,
                        uint64_t deadline) {
  uv_run_mode uvmode = loop_prepare_poll(loop, mode);
  int was_in_uv_run = loop->in_uv_run;
  loop->in_uv_run = 1;
  uv_run(loop->uv, uvmode);
  loop->in_uv_run = was_in_uv_run;
  uv_unref((uv_handle_t *)&loop->wakeup);
  loop_work(loop, deadline);
  return luaio_loop_alive(loop) || uv_loop_alive(loop->uv);
}

/* {======================================================================
** Attached loops: runs inside the owner's uv_run
** ======================================================================= */

static void attach_idle_cb(uv_idle_t *h) { attach_run(h->data, 0); }

static void attach_check_cb(uv_check_t *h) { attach_run(h->data, 0); }

void luaio__loop_kick(luaio_loop_t *loop) {
  uv_idle_start(&loop->attach_idle, attach_idle_cb);
}

/* Sets the handles for the owner's next poll, as loop_prepare_poll does
** for ours: an active idle handle keeps libuv from blocking while work is
** ready (or a virtual clock is to jump); the wakeup timer, armed and
** referenced, ends the poll at the earliest deadline. */
static void attach_arm(luaio_loop_t *loop) {
  if (loop_prepare_poll(loop, LUAIO_RUN_ONCE) == UV_RUN_NOWAIT)
    uv_idle_start(&loop->attach_idle, attach_idle_cb);
  else
    uv_idle_stop(&loop->attach_idle);
}

/* One iteration from a handle (or a step): deadline 0 takes the loop's
** budget. A step made from inside the run (a task that calls back into
** the host, which steps) finds it running and returns. */
static void attach_run(luaio_loop_t *loop, uint64_t deadline) {
  if (loop->in_attached_run)
    return;
  loop->in_attached_run = 1;
  loop->kick = 0; /* what the run adds is seen by attach_arm */
  loop->stopping = 0; /* the owner's uv_run stops, not this */
  if (deadline == 0 && loop->budget > 0)
    deadline = uv_hrtime() + (uint64_t)(loop->budget * 1e9);
  loop_work(loop, deadline);
  attach_arm(loop);
  loop->in_attached_run = 0;
  loop->kick = 1;
  if (loop->after != NULL)
    loop->after(loop->after_arg, deadline);
}

int luaio_loop_attach(luaio_loop_t *loop, double budget,
                      luaio_after_run_cb after, void *arg) {
  if (!(budget >= 0)) /* also NaN */
    return LUAIO_EINVAL;
  if (budget > 1e6) /* some eleven days; keeps the cast defined */
    budget = 1e6;
  if (!loop->attach_inited) {
    uv_idle_init(loop->uv, &loop->attach_idle);
    uv_check_init(loop->uv, &loop->attach_check);
    loop->attach_idle.data = loop->attach_check.data = loop;
    /* Only work keeps the owner's uv_run going: see attach_arm. */
    uv_unref((uv_handle_t *)&loop->attach_check);
    loop->attach_inited = 1;
  }
  loop->budget = budget;
  loop->after = after;
  loop->after_arg = arg;
  if (!loop->attached) {
    loop->attached = 1;
    uv_check_start(&loop->attach_check, attach_check_cb);
    /* The first run arms what the loop has already. */
    loop->kick = !loop->in_attached_run;
    luaio__loop_kick(loop);
  }
  return 0;
}

void luaio_loop_detach(luaio_loop_t *loop) {
  if (!loop->attached)
    return;
  loop->attached = 0;
  loop->kick = 0;
  uv_idle_stop(&loop->attach_idle);
  uv_check_stop(&loop->attach_check);
  uv_timer_stop(&loop->wakeup);
  uv_unref((uv_handle_t *)&loop->wakeup);
}

int luaio_loop_attached(const luaio_loop_t *loop) { return loop->attached; }

/* }====================================================================== */

int luaio_loop_run(luaio_loop_t *loop, luaio_run_mode mode) {
  int alive;
  loop->stopping = 0;
  if (loop->attached) {
    attach_run(loop, 0);
    return luaio_loop_alive(loop) || uv_loop_alive(loop->uv);
  }
  if (mode != LUAIO_RUN_DEFAULT)
    return loop_iterate(loop, mode, 0);
  do {
    alive = loop_iterate(loop, mode, 0);
    /* Live tasks alone, with nothing that could wake them, cannot make
    ** progress: the loop ends and the embedder sees them still pending. */
    if (!luaio_loop_can_progress(loop))
      break;
  } while (alive && !loop->stopping);
  loop->stopping = 0;
  return luaio_loop_alive(loop) || uv_loop_alive(loop->uv);
}

int luaio_loop_run_for(luaio_loop_t *loop, double seconds) {
  if (!(seconds >= 0)) /* also NaN */
    return LUAIO_EINVAL;
  if (seconds > 1e6) /* some eleven days; keeps the cast defined */
    seconds = 1e6;
  loop->stopping = 0;
  uint64_t deadline = uv_hrtime() + (uint64_t)(seconds * 1e9);
  if (loop->attached) {
    attach_run(loop, deadline);
    return luaio_loop_alive(loop) || uv_loop_alive(loop->uv);
  }
  return loop_iterate(loop, LUAIO_RUN_NOWAIT, deadline);
}

double luaio_loop_next_deadline(luaio_loop_t *loop) {
  if (loop->nready > 0 ||
      atomic_load_explicit(&loop->post_pending, memory_order_relaxed))
    return 0;
  return luaio__timers_next(loop);
}
