/*
** lps.c - the answer to `luaio ps PID` and `luaio pstree PID`, whose
** asking side is bindings/luaio_ps.c. The asker leaves a request file in
** its user's private directory, /tmp/luaio-<uid>, and sends SIGQUIT; the
** luaio command, which handles SIGQUIT while asyncio.run runs
** (linterrupt.c), looks there from the loop's thread, between two
** callbacks, and writes its task table (luaioL_pushtasktable) next to the
** request. Nothing runs or stays open for it otherwise: without a request
** SIGQUIT prints the tasks on stderr, as it always did.
**
** Files, for a process PID asked by a process ASKER:
**   PID.ASKER.req  the request (written by the asker)
**   PID.ASKER.out  the answer (written as .tmp, then renamed)
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbind.h"

int luaioL_psdir(char *buf, size_t size) {
  int n = snprintf(buf, size, "/tmp/luaio-%ld", (long)getuid());
  return n > 0 && (size_t)n < size ? 0 : -1;
}

int luaioL_psdir_private(const char *dir) {
  struct stat st;
  return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
         st.st_uid == getuid() && (st.st_mode & 077) == 0;
}

/* The asker's pid when name is a request to this process, else 0. */
static long request_of(const char *name, const char *prefix) {
  size_t n = strlen(prefix);
  if (strncmp(name, prefix, n) != 0)
    return 0;
  char *end;
  long asker = strtol(name + n, &end, 10);
  return end != name + n && asker > 0 && strcmp(end, ".req") == 0 ? asker
                                                                   : 0;
}

static int write_all(int fd, const char *s, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, s, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    s += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Writes text as the answer to asker's request, and takes the request
** away. */
static void answer(const char *dir, long asker, const char *text,
                   size_t len) {
  char req[128], tmp[128], out[128];
  long self = (long)getpid();
  snprintf(req, sizeof req, "%s/%ld.%ld.req", dir, self, asker);
  snprintf(tmp, sizeof tmp, "%s/%ld.%ld.tmp", dir, self, asker);
  snprintf(out, sizeof out, "%s/%ld.%ld.out", dir, self, asker);
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                0600);
  if (fd >= 0) {
    int ok = write_all(fd, text, len) == 0;
    if (close(fd) == 0 && ok)
      rename(tmp, out);
    else
      unlink(tmp);
  }
  unlink(req);
}

/* Counts the requests to this process in dir. */
static int count_requests(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    n += request_of(e->d_name, prefix) != 0;
  closedir(d);
  return n;
}

/* When the last requests were answered (uv_hrtime), or 0. Askers that
** come together send a signal each, and one look may answer them all:
** the signals after it, within a second, find no request and are taken
** for theirs rather than printing the tasks on stderr. */
static uint64_t answered_at;

#define ANSWER_GRACE 1000000000u /* ns */

int luaioL_ps_answer(lua_State *L, luaio_loop_t *loop) {
  char dir[64], prefix[32];
  if (luaioL_psdir(dir, sizeof dir) != 0 || !luaioL_psdir_private(dir))
    return 0;
  snprintf(prefix, sizeof prefix, "%ld.", (long)getpid());
  if (count_requests(dir, prefix) == 0)
    return answered_at != 0 && uv_hrtime() - answered_at < ANSWER_GRACE;
  /* Made before the directory is opened: it may raise. */
  luaioL_pushtasktable(L, loop);
  size_t len;
  const char *text = lua_tolstring(L, -1, &len);
  int n = 0;
  DIR *d = opendir(dir);
  if (d != NULL) {
    struct dirent *e;
    long asker;
    while ((e = readdir(d)) != NULL)
      if ((asker = request_of(e->d_name, prefix)) != 0) {
        answer(dir, asker, text, len);
        n++;
      }
    closedir(d);
  }
  lua_pop(L, 1);
  answered_at = uv_hrtime();
  return n > 0 ? n : 1;
}
