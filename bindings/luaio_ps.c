/*
** luaio_ps.c - `luaio ps PID` and `luaio pstree PID`: the tasks of a
** running luaio command, seen from another shell, as `python -m asyncio
** ps` shows a Python process's. The answering side is bindings/lps.c.
**
** A signal would kill a process that does not handle it, so the target is
** checked first: a process of the same user, running the luaio command
** (/proc/PID/exe), which handles SIGQUIT now (SigCgt in /proc/PID/status:
** it does while asyncio.run runs). Only then is the request left in
** /tmp/luaio-<uid> (a directory of the user's, closed to others) and
** SIGQUIT sent; the answer is waited for, a few seconds at most.
*/
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lbind.h"

/* Exit statuses, as --help and docs/luaio.1 list them. */
enum {
  PS_OK = 0,
  PS_NOANSWER = 1, /* no answer in time, or the request could not be made */
  PS_USAGE = 2,
  PS_NOPROCESS = 3,
  PS_NOTLUAIO = 4, /* not the luaio command, or no loop running there */
  PS_DENIED = 5    /* another user's process */
};

/* Seconds to wait for the answer, unless LUAIO_PS_TIMEOUT says. */
#define PS_TIMEOUT 5.0

static const char *mode = "ps";

static int fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "luaio %s: ", mode);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return status;
}

/* Reads at most size - 1 bytes of path into buf (NUL-terminated); returns
** the length, or -1 with errno set. */
static ssize_t read_small(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t n = 0;
  while (n < size - 1) {
    ssize_t r = read(fd, buf + n, size - 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  return (ssize_t)n;
}

/* Whether sig is in the mask of the field (as "\nSigCgt:") of a process
** status. */
static int catches(const char *status, const char *field, int sig) {
  const char *line = strstr(status, field);
  if (line == NULL)
    return 0;
  unsigned long long mask = strtoull(line + strlen(field), NULL, 16);
  return (mask >> (sig - 1)) & 1;
}

/* Checks that pid is a process that may be asked; returns PS_OK or a
** status after saying why not. */
static int check_target(long pid) {
  char path[64], buf[4096];
  struct stat st;
  snprintf(path, sizeof path, "/proc/%ld", pid);
  if (stat(path, &st) != 0)
    return fail(PS_NOPROCESS, "no process %ld", pid);
  if (st.st_uid != getuid())
    return fail(PS_DENIED, "process %ld belongs to another user: permission "
                           "denied", pid);
  snprintf(path, sizeof path, "/proc/%ld/status", pid);
  if (read_small(path, buf, sizeof buf) < 0)
    return fail(errno == EACCES ? PS_DENIED : PS_NOPROCESS,
                "process %ld: cannot read %s: %s", pid, path,
                strerror(errno));
  if (strstr(buf, "\nState:\tZ") != NULL)
    return fail(PS_NOPROCESS, "process %ld has ended", pid);
  int handles = catches(buf, "\nSigCgt:", SIGQUIT);
  int ignores = catches(buf, "\nSigIgn:", SIGQUIT);
  snprintf(path, sizeof path, "/proc/%ld/exe", pid);
  ssize_t n = readlink(path, buf, sizeof buf - 1);
  if (n < 0)
    return fail(errno == EACCES ? PS_DENIED : PS_NOPROCESS,
                "process %ld: cannot read %s: %s", pid, path,
                strerror(errno));
  buf[n] = '\0';
  const char *base = strrchr(buf, '/');
  base = base != NULL ? base + 1 : buf;
  if (strcmp(base, "luaio") != 0 && strcmp(base, "luaio (deleted)") != 0)
    return fail(PS_NOTLUAIO, "process %ld is not a luaio process (it runs "
                             "%s)", pid, buf);
  if (!handles && ignores)
    return fail(PS_NOTLUAIO, "process %ld was started with SIGQUIT ignored "
                             "(as a shell script's background jobs are), so "
                             "it cannot be asked", pid);
  if (!handles)
    return fail(PS_NOTLUAIO, "process %ld runs no asyncio loop now "
                             "(asyncio.run has not started or has ended, "
                             "or it runs --sandbox), so it cannot answer",
                pid);
  return PS_OK;
}

/* Makes the private directory of requests (dir) if it is missing. */
static int make_dir(const char *dir) {
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return fail(PS_NOANSWER, "cannot make %s: %s", dir, strerror(errno));
  if (!luaioL_psdir_private(dir))
    return fail(PS_NOANSWER, "%s is not a directory of yours closed to "
                             "others: remove it, or make it so", dir);
  return PS_OK;
}

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* Waits for the answer at out and reads it into a new string (*text).
** Returns PS_OK or a status after saying why not. */
static int wait_answer(long pid, const char *out, char **text) {
  struct stat st;
  const char *env = getenv("LUAIO_PS_TIMEOUT");
  double timeout = env != NULL ? strtod(env, NULL) : PS_TIMEOUT;
  if (!(timeout > 0 && timeout < 3600))
    timeout = PS_TIMEOUT;
  int polls = (int)(timeout * 100);
  for (int i = 0; stat(out, &st) != 0; i++) {
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
      return fail(PS_NOPROCESS, "process %ld ended before it answered", pid);
    if (i == polls)
      return fail(PS_NOANSWER, "process %ld did not answer within %g s: a "
                               "task may be running without suspending, "
                               "which keeps its loop from looking",
                  pid, timeout);
    pause_ms(10);
  }
  *text = malloc((size_t)st.st_size + 1);
  if (*text == NULL)
    return fail(PS_NOANSWER, "not enough memory");
  if (read_small(out, *text, (size_t)st.st_size + 1) < 0) {
    free(*text);
    return fail(PS_NOANSWER, "cannot read %s: %s", out, strerror(errno));
  }
  return PS_OK;
}

/* Lua sources of the command's own (luaio.c embeds them). */
extern const luaio_embedded_t luaio_cli_embedded[];

/* Prints the answer as lua/cli/ps.lua draws it for mode. */
static int show(long pid, const char *text) {
  const luaio_embedded_t *e = luaio_cli_embedded;
  while (e->name != NULL && strcmp(e->name, "ps") != 0)
    e++;
  lua_State *L = luaL_newstate();
  if (L == NULL || e->name == NULL)
    return fail(PS_NOANSWER, "cannot start Lua");
  luaL_openlibs(L);
  int status = PS_OK;
  if (luaL_loadbuffer(L, e->src, e->len, "=[luaio] ps.lua") != LUA_OK) {
    status = fail(PS_NOANSWER, "%s", lua_tostring(L, -1));
  } else {
    lua_pushstring(L, text);
    lua_pushstring(L, mode);
    lua_pushinteger(L, pid);
    if (lua_pcall(L, 3, 1, 0) != LUA_OK)
      status = fail(PS_NOANSWER, "%s", lua_tostring(L, -1));
    else
      fputs(lua_tostring(L, -1), stdout);
  }
  lua_close(L);
  return status;
}

int luaio_ps_main(int argc, char **argv) {
  mode = argv[1];
  char *end = NULL;
  long pid = argc == 3 ? strtol(argv[2], &end, 10) : 0;
  if (argc != 3 || end == argv[2] || *end != '\0' || pid <= 0 ||
      pid > INT_MAX) {
    fprintf(stderr, "usage: luaio %s PID\n", mode);
    return PS_USAGE;
  }
  char dir[64], req[128], out[128];
  if (luaioL_psdir(dir, sizeof dir) != 0)
    return fail(PS_NOANSWER, "no directory for requests");
  long self = (long)getpid();
  snprintf(req, sizeof req, "%s/%ld.%ld.req", dir, pid, self);
  snprintf(out, sizeof out, "%s/%ld.%ld.out", dir, pid, self);
  int status = check_target(pid);
  if (status != PS_OK || (status = make_dir(dir)) != PS_OK)
    return status;
  unlink(out); /* left by an asker of the same pid that gave up */
  int fd = open(req, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                0600);
  if (fd < 0)
    return fail(PS_NOANSWER, "cannot write %s: %s", req, strerror(errno));
  close(fd);
  /* Checked again just before the signal: the process may have ended,
  ** its pid taken by another, while the request was made. */
  if ((status = check_target(pid)) != PS_OK) {
    unlink(req);
    return status;
  }
  if (kill((pid_t)pid, SIGQUIT) != 0) {
    int err = errno;
    unlink(req);
    if (err == EPERM)
      return fail(PS_DENIED, "process %ld: permission denied", pid);
    return fail(PS_NOPROCESS, "no process %ld", pid);
  }
  char *text = NULL;
  status = wait_answer(pid, out, &text);
  unlink(req);
  unlink(out);
  if (status != PS_OK)
    return status;
  status = show(pid, text);
  free(text);
  return status;
}
