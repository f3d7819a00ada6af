/*
** linterrupt.c - Ctrl-C (SIGINT) and SIGTERM while asyncio.run runs: the
** first cancels the main task, so that its cleanup runs; a second ends
** the process at once.
**
** The cancelling is done by a libuv signal handle, on the loop thread,
** when the loop polls. A task that runs without suspending (a CPU loop)
** or blocks in a call (io.read) keeps the loop from polling, so a handler
** of ours runs first, in the signal itself: it sets a Lua hook on the
** running task's coroutine that raises CancelledError("interrupted") at
** the task's next instruction, as lua.c's handler does with its
** "interrupted!" error; it is installed without SA_RESTART, so a blocking
** read returns at once. It then calls libuv's handler, which it wraps.
** A signal that is ignored when the loop opens (nohup, a background job)
** stays ignored: neither handler is installed for it.
**
** In the luaio command (rt->dump_on_sigquit), SIGQUIT (Ctrl-\) prints
** where every task is suspended and the program goes on, as the JVM and
** Go do; or, when `luaio ps` asked, answers it (lps.c).
*/
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "lbind.h"

static const int signums[3] = {SIGINT, SIGTERM, SIGQUIT};

/* The SIGINT, SIGTERM and SIGQUIT handles, in one block: rt->sigint is
** h[0]. */
typedef struct {
  uv_signal_t h[3];
  int open;
} lsigint;

/* What the signal handler sees. Signal dispositions belong to the
** process, so one runtime at a time has them: the first loop to open. */
static struct {
  luaioL_runtime *rt;              /* NULL when no loop has them */
  struct sigaction uv_action[2];   /* libuv's handlers, which ours call */
  int wrapped[2];                  /* ours is installed over libuv's */
  volatile sig_atomic_t nsignals;  /* signals since the last was handled */
  volatile sig_atomic_t signum;    /* the first of them */
  volatile sig_atomic_t armed;     /* the hook is to raise */
} irq;

/* The hook set by the handler: raises in the coroutine that was running,
** unless the loop has seen the signal meanwhile. */
static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  if (!irq.armed || irq.rt == NULL)
    return;
  irq.armed = 0;
  if (irq.rt->interrupted == 0)
    irq.rt->interrupted = irq.signum;
  luaioL_newerror(L, "CancelledError", "interrupted");
  lua_error(L);
}

static void on_signal(int sig, siginfo_t *info, void *ctx) {
  int saved_errno = errno;
  int i = sig == SIGINT ? 0 : 1;
  luaioL_runtime *rt = irq.rt;
  if (irq.nsignals > 0 || (rt != NULL && rt->interrupted)) {
    /* A second signal while the first is being handled: end now. The
    ** signal is blocked in its handler, so it is delivered, with the
    ** default action, as soon as this returns. */
    signal(sig, SIG_DFL);
    raise(sig);
    errno = saved_errno;
    return;
  }
  irq.nsignals = 1;
  irq.signum = sig;
  if (rt != NULL) {
    lfuture *cur = rt->current;
    lua_State *co = cur != NULL && cur->co != NULL ? cur->co : rt->L;
    irq.armed = 1;
    lua_sethook(co, interrupt_hook,
                LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
  }
  struct sigaction *uv = &irq.uv_action[i];
  if (uv->sa_flags & SA_SIGINFO)
    uv->sa_sigaction(sig, info, ctx);
  else if (uv->sa_handler != SIG_DFL && uv->sa_handler != SIG_IGN)
    uv->sa_handler(sig);
  errno = saved_errno;
}

static int dump_tasks(lua_State *L) {
  luaioL_runtime *rt = lua_touserdata(L, 1);
  if (luaioL_ps_answer(L, rt->loop) > 0)
    return 0; /* it was `luaio ps` asking (lps.c) */
  fprintf(stderr, "luaio: SIGQUIT: %zu task(s) alive:\n",
          luaio_loop_ntasks(rt->loop));
  luaioL_print_tasks(L, rt->loop);
  fflush(stderr);
  return 0;
}

/* The loop polled and saw the signal: cancel the main task. */
static void sigint_cb(uv_signal_t *h, int signum) {
  luaioL_runtime *rt = h->data;
  if (signum == SIGQUIT) {
    lua_pushcfunction(rt->L, dump_tasks);
    lua_pushlightuserdata(rt->L, rt);
    if (lua_pcall(rt->L, 1, 0, 0) != LUA_OK)
      lua_pop(rt->L, 1);
    return;
  }
  irq.armed = 0;
  if (irq.rt == rt && irq.wrapped[signum == SIGINT ? 0 : 1] &&
      irq.nsignals == 0)
    return; /* the hook raised it and it was handled and forgotten since */
  if (rt->interrupted == 0)
    rt->interrupted = signum; /* SIGINT or SIGTERM */
  lfuture *target =
      rt->interrupt_target != NULL ? rt->interrupt_target : rt->main;
  if (target != NULL && target->task != NULL)
    luaio_task_cancel(target->task, "interrupted");
}

static void sigint_close_cb(uv_handle_t *h) {
  lsigint *s = h->data;
  if (--s->open == 0)
    free(s);
}

void luaioL_interrupt_open(luaioL_runtime *rt) {
  lsigint *s = malloc(sizeof *s);
  if (s == NULL)
    return;
  s->open = 3;
  int mine = irq.rt == NULL;
  if (mine) {
    irq.nsignals = 0;
    irq.armed = 0;
  }
  for (int i = 0; i < 3; i++) {
    uv_signal_init(luaio_loop_uv(rt->loop), &s->h[i]);
    s->h[i].data = rt;
    struct sigaction old;
    if ((i == 2 && !rt->dump_on_sigquit) ||
        (sigaction(signums[i], NULL, &old) == 0 &&
         old.sa_handler == SIG_IGN && !(old.sa_flags & SA_SIGINFO)))
      continue; /* ignored when we started: it stays so */
    /* A handle that fails to start stays inactive until closed. */
    if (uv_signal_start(&s->h[i], sigint_cb, signums[i]) != 0)
      continue;
    uv_unref((uv_handle_t *)&s->h[i]); /* must not keep the loop alive */
    if (i == 2 || !mine ||
        sigaction(signums[i], NULL, &irq.uv_action[i]) != 0)
      continue;
    struct sigaction sa;
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: a blocking read returns */
    sigfillset(&sa.sa_mask);
    irq.wrapped[i] = sigaction(signums[i], &sa, NULL) == 0;
  }
  if (mine)
    irq.rt = rt;
  rt->sigint = &s->h[0];
}

void luaioL_interrupt_close(luaioL_runtime *rt) {
  rt->interrupt_target = NULL;
  if (rt->sigint == NULL)
    return;
  if (irq.rt == rt) {
    for (int i = 0; i < 2; i++) /* libuv's back, for it to remove */
      if (irq.wrapped[i] && sigaction(signums[i], &irq.uv_action[i], NULL) == 0)
        irq.wrapped[i] = 0;
    irq.rt = NULL;
    irq.armed = 0;
  }
  lsigint *s = (lsigint *)(void *)rt->sigint;
  for (int i = 0; i < 3; i++) {
    s->h[i].data = s;
    uv_close((uv_handle_t *)&s->h[i], sigint_close_cb);
  }
  rt->sigint = NULL;
}

void luaioL_interrupt_reset(luaioL_runtime *rt) {
  rt->interrupted = 0;
  irq.armed = 0;
  irq.nsignals = 0;
}
