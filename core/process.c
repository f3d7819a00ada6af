/*
** process.c - subprocesses on uv_spawn, and the pipes to them: minimal
** streams with a read-ahead buffer and a write queue.
*/
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define READ_AHEAD (256 * 1024) /* default read-ahead limit */
#define READ_ROOM 65536         /* free space offered to each read */
#define DRAIN_HIGH 65536        /* drain waits above this */
#define DRAIN_LOW 16384         /* and until this */

/* {======================================================================
** Waiting futures: plain futures in an array that owns a reference to
** each. Cancelled ones stay until the next wake-up, which skips them.
** ======================================================================= */

typedef struct {
  luaio_future_t **v; /* owns */
  size_t n, cap;
} futlist;

/* Returns a new future (the caller owns the reference) waiting in l. */
static luaio_future_t *futlist_push(futlist *l, luaio_loop_t *loop) {
  if (l->n == l->cap) {
    luaio_future_t **v = luaio__grow(l->v, &l->cap, sizeof *v, 4);
    if (v == NULL)
      return NULL;
    l->v = v;
  }
  luaio_future_t *fut = luaio_future_new(loop);
  if (fut == NULL)
    return NULL;
  luaio_future_ref(fut);
  l->v[l->n++] = fut;
  return fut;
}

/* Settles every waiter: resolved when err is 0, cancelled when err is
** LUAIO_ECANCELLED, failed otherwise. */
static void futlist_wake(futlist *l, int err) {
  size_t n = l->n;
  l->n = 0; /* settling runs no callback now, but stay safe */
  for (size_t i = 0; i < n; i++) {
    luaio_future_t *fut = l->v[i];
    if (!luaio_future_done(fut)) {
      if (err == 0)
        luaio_future_set_result(fut);
      else if (err == LUAIO_ECANCELLED)
        luaio_future_cancel(fut, NULL);
      else
        luaio_future_set_error(fut, err);
    }
    luaio_future_unref(fut);
  }
}

static void futlist_free(futlist *l) {
  futlist_wake(l, LUAIO_ECANCELLED);
  luaio__free(l->v, l->cap * sizeof *l->v);
  l->v = NULL;
  l->cap = 0;
}

/* }====================================================================== */

/* {======================================================================
** Open handles of this thread's loops, for luaio_process_close_all().
** A loop runs on one thread, so a thread-local list needs no lock.
** ======================================================================= */

typedef struct live live;
struct live {
  live *prev, *next;
  luaio_loop_t *loop;
  int is_pipe;
};

static _Thread_local live *live_head;

static void live_add(live *l, luaio_loop_t *loop, int is_pipe) {
  l->loop = loop;
  l->is_pipe = is_pipe;
  l->prev = NULL;
  l->next = live_head;
  if (live_head != NULL)
    live_head->prev = l;
  live_head = l;
}

static void live_remove(live *l) {
  if (l->prev != NULL)
    l->prev->next = l->next;
  else
    live_head = l->next;
  if (l->next != NULL)
    l->next->prev = l->prev;
  l->prev = l->next = NULL;
}

/* }====================================================================== */

/* {======================================================================
** Pipes
** ======================================================================= */

enum { H_NONE, H_OPEN, H_CLOSING };

struct luaio_pipe_s {
  live link; /* while the handle is open or closing */
  uv_pipe_t handle;
  luaio_loop_t *loop;
  int refs;
  int hstate;            /* H_*: the object is freed after H_NONE */
  unsigned readable : 1; /* a read end (the child's stdout or stderr) */
  unsigned reading : 1;  /* uv_read_start is on */
  unsigned eof : 1;
  unsigned shutting : 1; /* a write end closes once its queue is empty */
  int err;               /* the read error, or the first write error */
  char *buf;             /* owns: data in buf[start .. end) */
  size_t start, end, cap;
  size_t limit;
  size_t queued; /* bytes in pending writes */
  size_t nwrites;
  futlist waiters; /* readers or drainers */
  futlist closers; /* luaio_pipe_wait_closed() */
};

typedef struct {
  uv_write_t req;
  luaio_pipe_t *p;
  size_t len;
  char data[]; /* the copy being written */
} wreq;

static void pipe_free(luaio_pipe_t *p) {
  assert(p->refs == 0 && p->hstate == H_NONE);
  futlist_free(&p->waiters);
  futlist_free(&p->closers);
  luaio__free(p->buf, p->cap);
  luaio__free(p, sizeof *p);
}

static void pipe_close_cb(uv_handle_t *h) {
  luaio_pipe_t *p = h->data;
  p->hstate = H_NONE;
  live_remove(&p->link);
  futlist_wake(&p->closers, 0);
  if (p->refs == 0)
    pipe_free(p);
}

/* Closes the handle now: pending writes are cancelled by libuv. */
static void pipe_close_now(luaio_pipe_t *p) {
  p->eof = 1;
  futlist_wake(&p->waiters, p->readable ? 0 : p->err);
  if (p->hstate != H_OPEN)
    return;
  p->hstate = H_CLOSING;
  p->reading = 0;
  uv_close((uv_handle_t *)&p->handle, pipe_close_cb);
}

static luaio_pipe_t *pipe_new(luaio_loop_t *loop, int readable) {
  luaio_pipe_t *p = luaio__alloc(sizeof *p);
  if (p == NULL)
    return NULL;
  memset(p, 0, sizeof *p);
  p->loop = loop;
  p->refs = 1;
  p->readable = readable != 0;
  p->limit = READ_AHEAD;
  uv_pipe_init(luaio_loop_uv(loop), &p->handle, 0);
  p->handle.data = p;
  p->hstate = H_OPEN;
  live_add(&p->link, loop, 1);
  return p;
}

void luaio_pipe_ref(luaio_pipe_t *p) {
  p->refs++;
}

void luaio_pipe_unref(luaio_pipe_t *p) {
  assert(p->refs > 0);
  if (--p->refs > 0)
    return;
  if (p->hstate == H_NONE)
    pipe_free(p);
  else if (p->hstate == H_OPEN && !p->shutting)
    luaio_pipe_close(p); /* freed in its close callback */
}

static void pipe_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  luaio_pipe_t *p = h->data;
  (void)hint;
  *b = uv_buf_init(NULL, 0); /* UV_ENOBUFS, should memory run out */
  if (p->cap - p->end < READ_ROOM && p->start > 0) {
    memmove(p->buf, p->buf + p->start, p->end - p->start);
    p->end -= p->start;
    p->start = 0;
  }
  if (p->cap - p->end < READ_ROOM) {
    size_t cap = p->cap > 0 ? p->cap : READ_ROOM;
    while (cap - p->end < READ_ROOM)
      cap *= 2;
    char *buf = luaio__realloc(p->buf, p->cap, cap);
    if (buf == NULL)
      return;
    p->buf = buf;
    p->cap = cap;
  }
  *b = uv_buf_init(p->buf + p->end, (unsigned)(p->cap - p->end));
}

static void pipe_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  luaio_pipe_t *p = s->data;
  (void)b;
  if (nread > 0) {
    p->end += (size_t)nread;
    futlist_wake(&p->waiters, 0);
    /* Nobody waits now: read ahead no further than the limit. */
    if (p->limit > 0 && p->end - p->start >= p->limit) {
      uv_read_stop(s);
      p->reading = 0;
    }
  } else if (nread < 0) {
    if (nread != UV_EOF)
      p->err = (int)nread;
    pipe_close_now(p); /* all there is is in the buffer */
  }
}

static void pipe_read_start(luaio_pipe_t *p) {
  if (p->reading || p->hstate != H_OPEN || p->eof)
    return;
  int rc =
      uv_read_start((uv_stream_t *)&p->handle, pipe_alloc_cb, pipe_read_cb);
  if (rc == 0) {
    p->reading = 1;
  } else {
    p->err = rc;
    pipe_close_now(p);
  }
}

const char *luaio_pipe_buffer(const luaio_pipe_t *p, size_t *len) {
  *len = p->end - p->start;
  return p->buf != NULL ? p->buf + p->start : "";
}

void luaio_pipe_consume(luaio_pipe_t *p, size_t n) {
  assert(n <= p->end - p->start);
  p->start += n;
  if (p->start == p->end)
    p->start = p->end = 0;
  if (p->readable && (p->limit == 0 || p->end - p->start < p->limit))
    pipe_read_start(p);
}

int luaio_pipe_at_eof(const luaio_pipe_t *p) {
  return p->eof;
}

int luaio_pipe_error(const luaio_pipe_t *p) {
  return p->readable ? p->err : 0;
}

void luaio_pipe_set_limit(luaio_pipe_t *p, size_t limit) {
  p->limit = limit;
  if (p->readable && (limit == 0 || p->end - p->start < limit))
    pipe_read_start(p);
}

int luaio_pipe_wait_closed(luaio_pipe_t *p, luaio_future_t **out) {
  *out = NULL;
  if (p->hstate == H_NONE)
    return 0;
  luaio_future_t *fut = futlist_push(&p->closers, p->loop);
  if (fut == NULL)
    return LUAIO_ENOMEM;
  *out = fut;
  return 0;
}

int luaio_pipe_wait_readable(luaio_pipe_t *p, luaio_future_t **out) {
  *out = NULL;
  if (!p->readable)
    return LUAIO_EINVAL;
  if (p->eof)
    return 0;
  luaio_future_t *fut = futlist_push(&p->waiters, p->loop);
  if (fut == NULL)
    return LUAIO_ENOMEM;
  pipe_read_start(p); /* a waiting reader reads past the limit */
  *out = fut;
  return 0;
}

static void pipe_write_cb(uv_write_t *req, int status) {
  wreq *w = container_of(req, wreq, req);
  luaio_pipe_t *p = w->p;
  p->queued -= w->len;
  p->nwrites--;
  luaio__free(w, sizeof *w + w->len);
  if (status < 0 && p->err == 0 && status != UV_ECANCELED)
    p->err = status;
  if (p->err != 0 || p->queued <= DRAIN_LOW)
    futlist_wake(&p->waiters, p->err);
  if (p->shutting && p->nwrites == 0)
    pipe_close_now(p);
}

int luaio_pipe_write(luaio_pipe_t *p, const void *data, size_t len) {
  if (p->readable)
    return LUAIO_EINVAL;
  if (p->err != 0)
    return p->err;
  if (p->hstate != H_OPEN || p->shutting)
    return LUAIO_EINVALSTATE;
  if (len == 0)
    return 0;
  if (len > UINT32_MAX || sizeof(wreq) + len < len)
    return LUAIO_ENOMEM;
  wreq *w = luaio__alloc(sizeof *w + len);
  if (w == NULL)
    return LUAIO_ENOMEM;
  w->p = p;
  w->len = len;
  memcpy(w->data, data, len);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
  int rc = uv_write(&w->req, (uv_stream_t *)&p->handle, &b, 1, pipe_write_cb);
  if (rc != 0) {
    luaio__free(w, sizeof *w + len);
    return rc;
  }
  p->queued += len;
  p->nwrites++;
  return 0;
}

int luaio_pipe_drain(luaio_pipe_t *p, luaio_future_t **out) {
  *out = NULL;
  if (p->readable)
    return LUAIO_EINVAL;
  if (p->err != 0)
    return p->err;
  if (p->queued <= DRAIN_HIGH)
    return 0;
  luaio_future_t *fut = futlist_push(&p->waiters, p->loop);
  if (fut == NULL)
    return LUAIO_ENOMEM;
  *out = fut;
  return 0;
}

size_t luaio_pipe_queued(const luaio_pipe_t *p) {
  return p->queued;
}

void luaio_pipe_close(luaio_pipe_t *p) {
  if (p->hstate != H_OPEN || p->shutting)
    return;
  if (!p->readable && p->nwrites > 0) {
    p->shutting = 1; /* pipe_write_cb closes it after the last write */
    return;
  }
  pipe_close_now(p);
}

int luaio_pipe_closed(const luaio_pipe_t *p) {
  return p->hstate != H_OPEN || p->shutting;
}

/* }====================================================================== */

/* {======================================================================
** Processes
** ======================================================================= */

struct luaio_process_s {
  live link; /* while the handle is open or closing */
  uv_process_t handle;
  luaio_loop_t *loop;
  int refs;
  int hstate;
  int pid;
  int exited;
  int returncode;
  luaio_pipe_t *pipes[3]; /* owns one reference each */
  futlist waiters;
};

static void process_release_pipes(luaio_process_t *p) {
  for (int i = 0; i < 3; i++) {
    if (p->pipes[i] != NULL) {
      luaio_pipe_unref(p->pipes[i]);
      p->pipes[i] = NULL;
    }
  }
}

static void process_free(luaio_process_t *p) {
  assert(p->refs == 0 && p->hstate == H_NONE);
  futlist_free(&p->waiters);
  process_release_pipes(p);
  luaio__free(p, sizeof *p);
}

static void process_close_cb(uv_handle_t *h) {
  luaio_process_t *p = h->data;
  p->hstate = H_NONE;
  live_remove(&p->link);
  if (p->refs == 0)
    process_free(p);
}

static void process_close(luaio_process_t *p) {
  if (p->hstate != H_OPEN)
    return;
  p->hstate = H_CLOSING;
  uv_close((uv_handle_t *)&p->handle, process_close_cb);
}

static void process_exit_cb(uv_process_t *h, int64_t status, int signum) {
  luaio_process_t *p = h->data;
  p->exited = 1;
  p->returncode = signum != 0 ? -signum : (int)status;
  futlist_wake(&p->waiters, 0);
  process_close(p);
}

int luaio_process_check_cwd(const char *cwd) {
  uv_fs_t req;
  int rc = uv_fs_stat(NULL, &req, cwd, NULL);
  int isdir = rc == 0 && (req.statbuf.st_mode & S_IFMT) == S_IFDIR;
  uv_fs_req_cleanup(&req);
  if (rc != 0)
    return rc;
  if (!isdir)
    return UV_ENOTDIR;
  rc = uv_fs_access(NULL, &req, cwd, X_OK, NULL);
  uv_fs_req_cleanup(&req);
  return rc;
}

/* Closes the parent's copies of the descriptors a spawn gave the child
** (each -1 when unused). */
static void close_fds(const uv_file devnull[3], uv_file shared) {
  for (int i = 0; i < 4; i++) {
    uv_file fd = i < 3 ? devnull[i] : shared;
    if (fd >= 0) {
      uv_fs_t req;
      uv_fs_close(NULL, &req, fd, NULL);
      uv_fs_req_cleanup(&req);
    }
  }
}

int luaio_process_spawn(luaio_loop_t *loop, const luaio_process_options_t *opts,
                        luaio_process_t **out) {
  *out = NULL;
  uv_loop_t *uv = luaio_loop_uv(loop);
  luaio_process_t *p = luaio__alloc(sizeof *p);
  if (p == NULL)
    return LUAIO_ENOMEM;
  memset(p, 0, sizeof *p);
  p->loop = loop;
  p->refs = 1;
  p->hstate = H_NONE;
  uv_stdio_container_t stdio[3];
  uv_file devnull[3] = {-1, -1, -1};
  /* With stderr to stdout's pipe, the child's end of that pipe is made
  ** here, for both fds: libuv's UV_INHERIT_STREAM could not name a pipe
  ** the same spawn creates. */
  uv_file shared = -1;
  int rc = 0;
  for (int i = 0; i < 3; i++) {
    if (i == 2 && opts->stdio[2] == LUAIO_STDIO_STDOUT) {
      stdio[2] = stdio[1];
      break;
    }
    switch (opts->stdio[i]) {
    case LUAIO_STDIO_PIPE:
      p->pipes[i] = pipe_new(loop, i != 0);
      if (p->pipes[i] == NULL) {
        rc = LUAIO_ENOMEM;
        goto fail;
      }
      if (i == 1 && opts->stdio[2] == LUAIO_STDIO_STDOUT) {
        uv_file fds[2];
        rc = uv_pipe(fds, 0, 0);
        if (rc != 0)
          goto fail;
        shared = fds[1];
        rc = uv_pipe_open(&p->pipes[1]->handle, fds[0]);
        if (rc != 0) {
          uv_fs_t req;
          uv_fs_close(NULL, &req, fds[0], NULL);
          uv_fs_req_cleanup(&req);
          goto fail;
        }
        stdio[1].flags = UV_INHERIT_FD;
        stdio[1].data.fd = shared;
        break;
      }
      stdio[i].flags =
          UV_CREATE_PIPE | (i == 0 ? UV_READABLE_PIPE : UV_WRITABLE_PIPE);
      stdio[i].data.stream = (uv_stream_t *)&p->pipes[i]->handle;
      break;
    case LUAIO_STDIO_DEVNULL: {
      uv_fs_t req;
      rc = uv_fs_open(NULL, &req, "/dev/null", O_RDWR | O_CLOEXEC, 0, NULL);
      uv_fs_req_cleanup(&req);
      if (rc < 0)
        goto fail;
      devnull[i] = rc;
      rc = 0;
      stdio[i].flags = UV_INHERIT_FD;
      stdio[i].data.fd = devnull[i];
      break;
    }
    default:
      stdio[i].flags = UV_INHERIT_FD;
      stdio[i].data.fd = i;
      break;
    }
  }
  uv_process_options_t o;
  memset(&o, 0, sizeof o);
  o.exit_cb = process_exit_cb;
  o.file = opts->file;
  o.args = opts->args;
  o.env = opts->env;
  o.cwd = opts->cwd;
  o.stdio_count = 3;
  o.stdio = stdio;
  p->handle.data = p;
  rc = uv_spawn(uv, &p->handle, &o);
  /* The handle is initialised even when the spawn fails: close it. */
  p->hstate = H_OPEN;
  live_add(&p->link, loop, 0);
  if (rc != 0)
    goto fail;
  p->pid = p->handle.pid;
  for (int i = 1; i < 3; i++)
    if (p->pipes[i] != NULL)
      pipe_read_start(p->pipes[i]);
  close_fds(devnull, shared);
  *out = p;
  return 0;
fail:
  close_fds(devnull, shared);
  p->refs = 0;
  process_release_pipes(p); /* each closes, freed in its callback */
  if (p->hstate == H_OPEN)
    process_close(p); /* freed in process_close_cb */
  else
    process_free(p);
  return rc;
}

void luaio_process_ref(luaio_process_t *p) {
  p->refs++;
}

void luaio_process_unref(luaio_process_t *p) {
  assert(p->refs > 0);
  if (--p->refs > 0)
    return;
  /* Pipes nobody else holds close now, so that the child sees EOF or
  ** EPIPE; a running child keeps the handle until it exits. */
  process_release_pipes(p);
  if (p->hstate == H_NONE)
    process_free(p);
}

int luaio_process_pid(const luaio_process_t *p) {
  return p->pid;
}

luaio_pipe_t *luaio_process_pipe(luaio_process_t *p, int fd) {
  return fd >= 0 && fd < 3 ? p->pipes[fd] : NULL;
}

int luaio_process_wait(luaio_process_t *p, luaio_future_t **out) {
  *out = NULL;
  if (p->exited || p->hstate != H_OPEN)
    return 0;
  luaio_future_t *fut = futlist_push(&p->waiters, p->loop);
  if (fut == NULL)
    return LUAIO_ENOMEM;
  *out = fut;
  return 0;
}

int luaio_process_returncode(const luaio_process_t *p, int *code) {
  if (!p->exited)
    return 0;
  *code = p->returncode;
  return 1;
}

int luaio_process_kill(luaio_process_t *p, int signum) {
  if (p->exited || p->hstate != H_OPEN)
    return 0;
  return uv_process_kill(&p->handle, signum);
}

void luaio_process_close_all(luaio_loop_t *loop) {
  for (live *l = live_head; l != NULL; l = l->next) {
    if (l->loop != loop)
      continue;
    if (l->is_pipe) {
      pipe_close_now(container_of(l, luaio_pipe_t, link));
    } else {
      luaio_process_t *p = container_of(l, luaio_process_t, link);
      futlist_wake(&p->waiters, LUAIO_ECANCELLED);
      process_close(p);
    }
  }
}

/* }====================================================================== */
