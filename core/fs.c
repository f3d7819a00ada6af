/*
** fs.c - file operations as futures, each a chain of libuv fs requests
** (read_file is open, read..., close) run from libuv's callbacks.
*/
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define READ_CHUNK 65536

struct luaio_file_s {
  int refs;
  uv_file fd; /* -1 once closed or handed to a close request */
  int busy;   /* requests using fd now */
};

static luaio_file_t *file_new(uv_file fd) {
  luaio_file_t *f = luaio__alloc(sizeof *f);
  if (f == NULL)
    return NULL;
  f->refs = 1;
  f->fd = fd;
  f->busy = 0;
  return f;
}

/* Closes fd on this thread: used only where nobody can wait. */
static void close_now(uv_file fd) {
  uv_fs_t req;
  uv_fs_close(NULL, &req, fd, NULL); /* a NULL callback runs it here */
  uv_fs_req_cleanup(&req);
}

void luaio_file_ref(luaio_file_t *f) {
  f->refs++;
}

void luaio_file_unref(luaio_file_t *f) {
  assert(f->refs > 0);
  if (--f->refs > 0)
    return;
  assert(f->busy == 0); /* a request holds a reference while busy */
  if (f->fd >= 0)
    close_now(f->fd);
  luaio__free(f, sizeof *f);
}

int luaio_file_fd(const luaio_file_t *f) {
  return f->fd;
}

/* {======================================================================
** Requests
** ======================================================================= */

typedef enum {
  OP_READ_FILE,
  OP_WRITE_FILE,
  OP_OPEN,
  OP_READ,
  OP_WRITE,
  OP_CLOSE,
  OP_STAT,
  OP_FSTAT,
  OP_LISTDIR,
  OP_MKDIR,
  OP_REMOVE,
  OP_RENAME
} fsop;

#define STEP_CLEANUP (-1)

typedef struct {
  luaio_future_t base; /* first: a request is a future */
  uv_fs_t req;
  fsop op;
  int step;
  int err; /* the outcome, once failed */
  int flags, mode;
  unsigned inflight : 1; /* holds a reference until libuv is done */
  unsigned opening : 1;  /* the request in flight opens a descriptor */
  unsigned has_tmp : 1;  /* path2 names a temporary file to remove */
  char *path;            /* owns */
  char *path2;           /* owns: rename's target, write_file's temp file */
  char *buf;             /* owns: data read, or to write */
  size_t len, cap, done;
  int64_t offset;
  uv_file fd;         /* opened by this request and not handed out */
  luaio_file_t *file; /* owns one reference */
  uv_stat_t st;
  char **names; /* owns, and each name */
  size_t nnames, capnames;
  size_t pos; /* mkdir with parents: end of the prefix made */
} fsreq;

static void fsreq_free(luaio_future_t *fut) {
  fsreq *r = (fsreq *)fut;
  assert(!r->inflight);
  assert(r->fd < 0);
  luaio__strfree(r->path);
  luaio__strfree(r->path2);
  luaio__free(r->buf, r->cap);
  for (size_t i = 0; i < r->nnames; i++)
    luaio__strfree(r->names[i]);
  luaio__free(r->names, r->capnames * sizeof *r->names);
  if (r->file != NULL)
    luaio_file_unref(r->file);
  luaio__free(r, sizeof *r);
}

/* A cancelled request is stopped where libuv can still stop it; if not,
** the callback finds the future done and cleans up. */
static int fsreq_cancel(luaio_future_t *fut, const char *msg) {
  fsreq *r = (fsreq *)fut;
  int rc = luaio__future_cancel_plain(fut, msg);
  if (rc == 1 && r->inflight)
    uv_cancel((uv_req_t *)&r->req);
  return rc;
}

static const luaio__future_kind fsreq_kind = {
    .cancel = fsreq_cancel,
    .free = fsreq_free,
};

static fsreq *fsreq_new(luaio_loop_t *loop, fsop op, const char *path) {
  fsreq *r = (fsreq *)luaio__future_alloc(loop, &fsreq_kind, sizeof *r);
  if (r == NULL)
    return NULL;
  r->op = op;
  r->fd = -1;
  r->offset = -1;
  if (path != NULL && (r->path = luaio__strdup(path)) == NULL) {
    luaio_future_unref(&r->base);
    return NULL;
  }
  return r;
}

static int fsreq_reserve(fsreq *r, size_t need) {
  if (need <= r->cap)
    return 0;
  size_t cap = r->cap > 0 ? r->cap : READ_CHUNK;
  while (cap < need)
    cap *= 2;
  char *buf = luaio__realloc(r->buf, r->cap, cap);
  if (buf == NULL)
    return LUAIO_ENOMEM;
  r->buf = buf;
  r->cap = cap;
  return 0;
}

static uv_loop_t *fsreq_uv(fsreq *r) {
  return luaio_loop_uv(r->base.loop);
}

static void fs_cb(uv_fs_t *req);

/* Settles the future, unless it was cancelled meanwhile. */
static void fs_settle(fsreq *r) {
  if (luaio_future_done(&r->base))
    return;
  if (r->err != 0)
    luaio_future_set_error(&r->base, r->err);
  else
    luaio_future_set_result(&r->base);
}

/* Closes what the request still holds, one request at a time, then
** settles it. Cleanup errors are not reported: r->err is the outcome. */
static void fs_cleanup(fsreq *r) {
  r->step = STEP_CLEANUP;
  for (;;) {
    int rc;
    if (r->fd >= 0) {
      uv_file fd = r->fd;
      r->fd = -1;
      rc = uv_fs_close(fsreq_uv(r), &r->req, fd, fs_cb);
    } else if (r->has_tmp) {
      r->has_tmp = 0;
      rc = uv_fs_unlink(fsreq_uv(r), &r->req, r->path2, fs_cb);
    } else {
      break;
    }
    if (rc == 0) {
      r->inflight = 1;
      return;
    }
  }
  fs_settle(r);
}

static void fs_fail(fsreq *r, int err) {
  r->err = err;
  fs_cleanup(r);
}

/* Counts a started request, or fails the chain with rc. */
static void fs_started(fsreq *r, int rc) {
  if (rc == 0)
    r->inflight = 1;
  else
    fs_fail(r, rc);
}

/* Reads the next chunk of read_file into the buffer's free end. */
static void fs_read_chunk(fsreq *r) {
  int rc = fsreq_reserve(r, r->len + READ_CHUNK);
  if (rc != 0) {
    fs_fail(r, rc);
    return;
  }
  uv_buf_t b = uv_buf_init(r->buf + r->len, (unsigned)(r->cap - r->len));
  fs_started(r, uv_fs_read(fsreq_uv(r), &r->req, r->fd, &b, 1, -1, fs_cb));
}

static void fs_write_chunk(fsreq *r, uv_file fd) {
  size_t left = r->len - r->done;
  if (left > INT32_MAX)
    left = INT32_MAX;
  uv_buf_t b = uv_buf_init(r->buf + r->done, (unsigned)left);
  int64_t off = r->offset >= 0 ? r->offset + (int64_t)r->done : -1;
  fs_started(r, uv_fs_write(fsreq_uv(r), &r->req, fd, &b, 1, off, fs_cb));
}

/* mkdir with parents: makes the next prefix of path, up to the next '/'
** after pos (the whole path last). */
static void fs_mkdir_next(fsreq *r) {
  size_t n = strlen(r->path);
  size_t end = r->pos;
  while (end < n && r->path[end] == '/')
    end++;
  while (end < n && r->path[end] != '/')
    end++;
  r->pos = end;
  char saved = r->path[end];
  r->path[end] = '\0'; /* libuv copies the path of an async request */
  int rc = uv_fs_mkdir(fsreq_uv(r), &r->req, r->path, r->mode, fs_cb);
  r->path[end] = saved;
  fs_started(r, rc);
}

static int names_less(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Copies the entries of a finished scandir. */
static int fs_take_names(fsreq *r) {
  uv_dirent_t ent;
  while (uv_fs_scandir_next(&r->req, &ent) != UV_EOF) {
    if (r->nnames == r->capnames) {
      char **names = luaio__grow(r->names, &r->capnames, sizeof *names, 16);
      if (names == NULL)
        return LUAIO_ENOMEM;
      r->names = names;
    }
    char *name = luaio__strdup(ent.name);
    if (name == NULL)
      return LUAIO_ENOMEM;
    r->names[r->nnames++] = name;
  }
  if (r->nnames > 1)
    qsort(r->names, r->nnames, sizeof *r->names, names_less);
  return 0;
}

/* write_file after its open or a write: more writes, then a sync when
** atomic, the close (whose error may be a write's), the rename. */
enum { WF_OPEN, WF_WRITE, WF_SYNC, WF_CLOSE, WF_RENAME };

static void fs_write_file_next(fsreq *r) {
  if (r->step <= WF_WRITE && r->done < r->len) {
    r->step = WF_WRITE;
    fs_write_chunk(r, r->fd);
  } else if (r->step <= WF_WRITE && (r->flags & LUAIO_FS_ATOMIC)) {
    r->step = WF_SYNC;
    fs_started(r, uv_fs_fdatasync(fsreq_uv(r), &r->req, r->fd, fs_cb));
  } else if (r->step <= WF_SYNC) {
    uv_file fd = r->fd;
    r->fd = -1;
    r->step = WF_CLOSE;
    fs_started(r, uv_fs_close(fsreq_uv(r), &r->req, fd, fs_cb));
  } else if (r->step == WF_CLOSE && r->has_tmp) {
    r->step = WF_RENAME;
    fs_started(r, uv_fs_rename(fsreq_uv(r), &r->req, r->path2, r->path, fs_cb));
  } else {
    r->has_tmp = 0; /* renamed */
    fs_settle(r);
  }
}

/* mkdir with parents: EEXIST is fine for every prefix; for the whole
** path, a stat (pos SIZE_MAX) then checks that it is a directory. */
static void fs_mkdir_parents(fsreq *r, ssize_t res) {
  if (r->pos == SIZE_MAX) {
    if (res < 0 || (r->st.st_mode & S_IFMT) != S_IFDIR)
      fs_fail(r, UV_EEXIST);
    else
      fs_settle(r);
  } else if (res < 0 && res != UV_EEXIST) {
    fs_fail(r, (int)res);
  } else if (r->path[r->pos] != '\0') {
    fs_mkdir_next(r);
  } else if (res == UV_EEXIST) {
    r->pos = SIZE_MAX;
    fs_started(r, uv_fs_stat(fsreq_uv(r), &r->req, r->path, fs_cb));
  } else {
    fs_settle(r);
  }
}

/* Goes on after the request that ended with res. */
static void fs_advance(fsreq *r, ssize_t res) {
  if (r->opening) {
    r->opening = 0;
    if (res >= 0) {
      r->fd = (uv_file)res;
      /* Only a temporary file made here is ours to remove. */
      r->has_tmp = r->op == OP_WRITE_FILE && (r->flags & LUAIO_FS_ATOMIC);
    }
  }
  if (r->step == STEP_CLEANUP || luaio_future_done(&r->base)) {
    fs_cleanup(r); /* a cancelled request drops its result */
    return;
  }
  if (res < 0 && !(r->op == OP_MKDIR && (r->flags & LUAIO_FS_PARENTS)) &&
      !(r->op == OP_REMOVE && r->step == 0 &&
        (res == UV_EISDIR || res == UV_EPERM))) {
    if (r->op == OP_REMOVE && r->step == 1 && res == UV_ENOTDIR)
      res = UV_EPERM; /* not a directory after all: unlink's error */
    fs_fail(r, (int)res);
    return;
  }
  switch (r->op) {
  case OP_READ_FILE:
    if (r->step > 0)
      r->len += (size_t)res;
    if (r->step == 0 || res > 0) {
      r->step = 1;
      fs_read_chunk(r);
    } else {
      fs_cleanup(r); /* end of file: close, then settle */
    }
    break;
  case OP_WRITE_FILE:
    if (r->step == WF_WRITE)
      r->done += (size_t)res;
    fs_write_file_next(r);
    break;
  case OP_OPEN:
    if ((r->file = file_new(r->fd)) == NULL) {
      fs_fail(r, LUAIO_ENOMEM);
      break;
    }
    r->fd = -1; /* the file has it */
    fs_settle(r);
    break;
  case OP_WRITE:
    r->done += (size_t)res;
    if (r->done < r->len && res > 0)
      fs_write_chunk(r, r->file->fd);
    else
      fs_settle(r);
    break;
  case OP_MKDIR:
    if (r->flags & LUAIO_FS_PARENTS)
      fs_mkdir_parents(r, res);
    else
      fs_settle(r);
    break;
  case OP_REMOVE:
    if (r->step == 0 && res < 0) {
      r->step = 1;
      fs_started(r, uv_fs_rmdir(fsreq_uv(r), &r->req, r->path, fs_cb));
    } else {
      fs_settle(r);
    }
    break;
  default: /* one request: read, close, stat, fstat, listdir, rename */
    r->len = r->op == OP_READ ? (size_t)res : r->len;
    fs_settle(r);
    break;
  }
}

static void fs_cb(uv_fs_t *req) {
  fsreq *r = container_of(req, fsreq, req);
  ssize_t res = req->result;
  r->inflight = 0;
  if (res >= 0 && r->step != STEP_CLEANUP) {
    if (req->fs_type == UV_FS_STAT || req->fs_type == UV_FS_FSTAT) {
      r->st = req->statbuf;
    } else if (req->fs_type == UV_FS_SCANDIR) {
      int rc = fs_take_names(r);
      if (rc != 0)
        res = rc;
    }
  }
  uv_fs_req_cleanup(req);
  fs_advance(r, res);
  if (!r->inflight) { /* the chain ended */
    if (r->file != NULL && r->op != OP_OPEN)
      r->file->busy--;
    luaio_future_unref(&r->base); /* the chain's own reference */
  }
}

/* Starts r, whose first request is issued by start. On success *out gets
** the caller's reference and the chain keeps one of its own. */
static int fs_start(fsreq *r, int rc, luaio_future_t **out) {
  if (rc != 0) {
    r->inflight = 0;
    r->opening = 0;
    luaio_future_unref(&r->base);
    return rc;
  }
  r->inflight = 1;
  luaio_future_ref(&r->base); /* the chain's, dropped when it ends */
  *out = &r->base;
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** Operations
** ======================================================================= */

#define FS_BEGIN(op, path)                                                     \
  *out = NULL;                                                                 \
  fsreq *r = fsreq_new(loop, op, path);                                        \
  if (r == NULL)                                                               \
  return LUAIO_ENOMEM

int luaio_fs_read_file(luaio_loop_t *loop, const char *path,
                       luaio_future_t **out) {
  FS_BEGIN(OP_READ_FILE, path);
  r->opening = 1;
  return fs_start(r,
                  uv_fs_open(luaio_loop_uv(loop), &r->req, r->path,
                             O_RDONLY | O_CLOEXEC, 0, fs_cb),
                  out);
}

/* A name for write_file's temporary file beside path, made with O_EXCL. */
static char *tmpname_for(const char *path) {
  static unsigned counter;
  const char *slash = strrchr(path, '/');
  size_t dirlen = slash != NULL ? (size_t)(slash - path) + 1 : 0;
  size_t n = strlen(path) + 64;
  char *s = luaio__alloc(n);
  if (s == NULL)
    return NULL;
  snprintf(s, n, "%.*s.%s.%lu.%u.tmp", (int)dirlen, path, path + dirlen,
           (unsigned long)uv_os_getpid(), ++counter);
  /* luaio__strfree needs the exact size: hand back a right-sized copy */
  char *t = luaio__strdup(s);
  luaio__free(s, n);
  return t;
}

int luaio_fs_write_file(luaio_loop_t *loop, const char *path, const void *data,
                        size_t len, int flags, luaio_future_t **out) {
  FS_BEGIN(OP_WRITE_FILE, path);
  r->flags = flags;
  if (fsreq_reserve(r, len > 0 ? len : 1) != 0) {
    luaio_future_unref(&r->base);
    return LUAIO_ENOMEM;
  }
  if (len > 0)
    memcpy(r->buf, data, len);
  r->len = len;
  const char *target = r->path;
  int oflags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
  if (flags & LUAIO_FS_ATOMIC) {
    if ((r->path2 = tmpname_for(path)) == NULL) {
      luaio_future_unref(&r->base);
      return LUAIO_ENOMEM;
    }
    target = r->path2;
    oflags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  }
  r->opening = 1;
  return fs_start(
      r, uv_fs_open(luaio_loop_uv(loop), &r->req, target, oflags, 0666, fs_cb),
      out);
}

int luaio_fs_open(luaio_loop_t *loop, const char *path, int flags, int mode,
                  luaio_future_t **out) {
  FS_BEGIN(OP_OPEN, path);
  r->opening = 1;
  return fs_start(r,
                  uv_fs_open(luaio_loop_uv(loop), &r->req, r->path,
                             flags | O_CLOEXEC, mode, fs_cb),
                  out);
}

/* Binds r to f for a request on its descriptor. */
static int fs_use(fsreq *r, luaio_file_t *f) {
  if (f->fd < 0) {
    luaio_future_unref(&r->base);
    return LUAIO_EINVALSTATE;
  }
  luaio_file_ref(f);
  r->file = f;
  return 0;
}

static int fs_start_file(fsreq *r, int rc, luaio_future_t **out) {
  rc = fs_start(r, rc, out);
  if (rc == 0)
    r->file->busy++;
  return rc;
}

int luaio_fs_read(luaio_loop_t *loop, luaio_file_t *f, size_t n, int64_t offset,
                  luaio_future_t **out) {
  FS_BEGIN(OP_READ, NULL);
  int rc = fs_use(r, f);
  if (rc != 0)
    return rc;
  if (n > INT32_MAX)
    n = INT32_MAX;
  if (fsreq_reserve(r, n > 0 ? n : 1) != 0) {
    luaio_future_unref(&r->base);
    return LUAIO_ENOMEM;
  }
  uv_buf_t b = uv_buf_init(r->buf, (unsigned)n);
  return fs_start_file(
      r, uv_fs_read(luaio_loop_uv(loop), &r->req, f->fd, &b, 1, offset, fs_cb),
      out);
}

int luaio_fs_write(luaio_loop_t *loop, luaio_file_t *f, const void *data,
                   size_t len, int64_t offset, luaio_future_t **out) {
  FS_BEGIN(OP_WRITE, NULL);
  int rc = fs_use(r, f);
  if (rc != 0)
    return rc;
  if (fsreq_reserve(r, len > 0 ? len : 1) != 0) {
    luaio_future_unref(&r->base);
    return LUAIO_ENOMEM;
  }
  if (len > 0)
    memcpy(r->buf, data, len);
  r->len = len;
  r->offset = offset;
  uv_buf_t b =
      uv_buf_init(r->buf, (unsigned)(len > INT32_MAX ? INT32_MAX : len));
  return fs_start_file(
      r, uv_fs_write(luaio_loop_uv(loop), &r->req, f->fd, &b, 1, offset, fs_cb),
      out);
}

int luaio_fs_close(luaio_loop_t *loop, luaio_file_t *f, luaio_future_t **out) {
  *out = NULL;
  if (f->fd < 0)
    return LUAIO_EINVALSTATE;
  if (f->busy > 0)
    return LUAIO_EBUSY;
  FS_BEGIN(OP_CLOSE, NULL);
  uv_file fd = f->fd;
  int rc = uv_fs_close(luaio_loop_uv(loop), &r->req, fd, fs_cb);
  if (rc == 0)
    f->fd = -1; /* closed whatever the outcome, as close(2) */
  return fs_start(r, rc, out);
}

int luaio_fs_stat(luaio_loop_t *loop, const char *path, luaio_future_t **out) {
  FS_BEGIN(OP_STAT, path);
  return fs_start(r, uv_fs_stat(luaio_loop_uv(loop), &r->req, r->path, fs_cb),
                  out);
}

int luaio_fs_fstat(luaio_loop_t *loop, luaio_file_t *f, luaio_future_t **out) {
  FS_BEGIN(OP_FSTAT, NULL);
  int rc = fs_use(r, f);
  if (rc != 0)
    return rc;
  return fs_start_file(
      r, uv_fs_fstat(luaio_loop_uv(loop), &r->req, f->fd, fs_cb), out);
}

int luaio_fs_listdir(luaio_loop_t *loop, const char *path,
                     luaio_future_t **out) {
  FS_BEGIN(OP_LISTDIR, path);
  return fs_start(
      r, uv_fs_scandir(luaio_loop_uv(loop), &r->req, r->path, 0, fs_cb), out);
}

int luaio_fs_mkdir(luaio_loop_t *loop, const char *path, int mode, int flags,
                   luaio_future_t **out) {
  FS_BEGIN(OP_MKDIR, path);
  r->mode = mode;
  r->flags = flags;
  if (!(flags & LUAIO_FS_PARENTS))
    return fs_start(
        r, uv_fs_mkdir(luaio_loop_uv(loop), &r->req, r->path, mode, fs_cb),
        out);
  /* The first prefix; fs_mkdir_next's logic, before the chain exists. */
  size_t n = strlen(r->path), end = 0;
  while (end < n && r->path[end] == '/')
    end++;
  while (end < n && r->path[end] != '/')
    end++;
  r->pos = end;
  char saved = r->path[end];
  r->path[end] = '\0';
  int rc = uv_fs_mkdir(luaio_loop_uv(loop), &r->req, r->path, mode, fs_cb);
  r->path[end] = saved;
  return fs_start(r, rc, out);
}

int luaio_fs_remove(luaio_loop_t *loop, const char *path,
                    luaio_future_t **out) {
  FS_BEGIN(OP_REMOVE, path);
  return fs_start(r, uv_fs_unlink(luaio_loop_uv(loop), &r->req, r->path, fs_cb),
                  out);
}

int luaio_fs_rename(luaio_loop_t *loop, const char *from, const char *to,
                    luaio_future_t **out) {
  FS_BEGIN(OP_RENAME, from);
  if ((r->path2 = luaio__strdup(to)) == NULL) {
    luaio_future_unref(&r->base);
    return LUAIO_ENOMEM;
  }
  return fs_start(
      r, uv_fs_rename(luaio_loop_uv(loop), &r->req, r->path, r->path2, fs_cb),
      out);
}

/* }====================================================================== */

/* {======================================================================
** Results
** ======================================================================= */

static const fsreq *checkreq(const luaio_future_t *fut) {
  assert(fut->kind == &fsreq_kind);
  return (const fsreq *)fut;
}

int64_t luaio_fs_result(const luaio_future_t *fut) {
  const fsreq *r = checkreq(fut);
  return r->op == OP_WRITE || r->op == OP_WRITE_FILE ? (int64_t)r->done
                                                     : (int64_t)r->len;
}

const char *luaio_fs_result_data(const luaio_future_t *fut, size_t *len) {
  const fsreq *r = checkreq(fut);
  *len = r->len;
  return r->buf != NULL ? r->buf : "";
}

const uv_stat_t *luaio_fs_result_stat(const luaio_future_t *fut) {
  return &checkreq(fut)->st;
}

size_t luaio_fs_result_count(const luaio_future_t *fut) {
  return checkreq(fut)->nnames;
}

const char *luaio_fs_result_name(const luaio_future_t *fut, size_t i) {
  const fsreq *r = checkreq(fut);
  return i < r->nnames ? r->names[i] : NULL;
}

luaio_file_t *luaio_fs_result_file(luaio_future_t *fut) {
  fsreq *r = (fsreq *)(void *)fut;
  assert(fut->kind == &fsreq_kind);
  if (r->op != OP_OPEN || r->file == NULL)
    return NULL;
  luaio_file_ref(r->file);
  return r->file;
}

/* }====================================================================== */
