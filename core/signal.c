/*
** signal.c - signal handlers on uv_signal_t, whose callbacks run from the
** ready queue, as asyncio's loop.add_signal_handler runs them.
*/
#include <signal.h>
#include <string.h>

#include "internal.h"

struct luaio_signal_s {
  uv_signal_t handle;
  luaio_loop_t *loop;
  int refs;
  int signum;
  luaio_signal_cb cb;
  void *arg; /* borrowed; fin(arg) once done with */
  luaio_free_cb fin;
  size_t pending; /* callbacks scheduled and not yet done with */
  unsigned stopped : 1;
  unsigned closing : 1; /* the handle is closing or closed */
  unsigned open : 1;    /* the handle's close callback has not run */
};

/* Frees s once nothing refers to it: no reference, no scheduled
** callback, no open handle. */
static void signal_maybe_free(luaio_signal_t *s) {
  if (s->refs > 0 || s->pending > 0 || s->open)
    return;
  if (s->fin != NULL)
    s->fin(s->arg);
  luaio__free(s, sizeof *s);
}

static void signal_run(void *arg) {
  luaio_signal_t *s = arg;
  if (!s->stopped)
    s->cb(s->arg, s->signum);
}

static void signal_done(void *arg) {
  luaio_signal_t *s = arg;
  s->pending--;
  signal_maybe_free(s);
}

static void signal_uv_cb(uv_signal_t *h, int signum) {
  luaio_signal_t *s = h->data;
  (void)signum;
  if (s->stopped)
    return;
  s->pending++;
  if (luaio_call_soon(s->loop, signal_run, s, signal_done, NULL) != 0)
    s->pending--; /* out of memory: this delivery is lost */
}

static void signal_close_cb(uv_handle_t *h) {
  luaio_signal_t *s = h->data;
  s->open = 0;
  signal_maybe_free(s);
}

int luaio_signal_start(luaio_loop_t *loop, int signum, luaio_signal_cb cb,
                       void *arg, luaio_free_cb fin, luaio_signal_t **out) {
  *out = NULL;
  luaio_signal_t *s = luaio__alloc(sizeof *s);
  if (s == NULL)
    return LUAIO_ENOMEM;
  memset(s, 0, sizeof *s);
  s->loop = loop;
  s->refs = 1;
  s->signum = signum;
  s->cb = cb;
  s->arg = arg;
  int rc = uv_signal_init(luaio_loop_uv(loop), &s->handle);
  if (rc != 0) {
    luaio__free(s, sizeof *s);
    return rc;
  }
  s->handle.data = s;
  s->open = 1;
  rc = uv_signal_start(&s->handle, signal_uv_cb, signum);
  if (rc != 0) {
    s->refs = 0;
    s->stopped = s->closing = 1;
    uv_close((uv_handle_t *)&s->handle, signal_close_cb); /* frees s */
    return rc;
  }
  uv_unref((uv_handle_t *)&s->handle); /* it must not keep the loop alive */
  s->fin = fin;
  *out = s;
  return 0;
}

void luaio_signal_stop(luaio_signal_t *s) {
  s->stopped = 1;
  if (s->closing)
    return;
  s->closing = 1;
  uv_close((uv_handle_t *)&s->handle, signal_close_cb);
}

void luaio_signal_ref(luaio_signal_t *s) {
  s->refs++;
}

void luaio_signal_unref(luaio_signal_t *s) {
  assert(s->refs > 0);
  if (--s->refs > 0)
    return;
  luaio_signal_stop(s);
  signal_maybe_free(s);
}

int luaio_signal_signum(const luaio_signal_t *s) {
  return s->signum;
}

static const struct {
  const char *name;
  int num;
} signames[] = {{"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},
                {"ILL", SIGILL},       {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},
                {"BUS", SIGBUS},       {"FPE", SIGFPE},   {"KILL", SIGKILL},
                {"USR1", SIGUSR1},     {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
                {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},
                {"CHLD", SIGCHLD},     {"CONT", SIGCONT}, {"STOP", SIGSTOP},
                {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},
                {"URG", SIGURG},       {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
                {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
                {"IO", SIGIO},         {"SYS", SIGSYS},   {NULL, 0}};

int luaio_signal_number(const char *name) {
  if (strncmp(name, "SIG", 3) == 0)
    name += 3;
  for (int i = 0; signames[i].name != NULL; i++)
    if (strcmp(signames[i].name, name) == 0)
      return signames[i].num;
  return 0;
}
