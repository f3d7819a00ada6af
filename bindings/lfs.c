/*
** lfs.c - asyncio.fs and its File objects: the Lua face of core/fs.c.
** Every function suspends the running task until libuv's thread pool
** has done the work; errors name the function and the path, and carry
** the errno name in .code ("read_file: /x: no such file or directory
** (ENOENT)", code "ENOENT").
*/
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "lbind.h"

#define FILE_MT "asyncio.File"
#define READ_ALL_CHUNK 65536

typedef struct {
  luaio_file_t *f; /* owns one reference; NULL once closed */
  int64_t pos;     /* where the next read or write goes */
  unsigned append : 1;
} lfile;

/* User value 1 of a File: its path, for messages. */

static lfile *checkfile(lua_State *L) {
  lfile *lf = luaioL_checkobject(L, FILE_MT);
  if (lf->f == NULL || luaio_file_fd(lf->f) < 0)
    luaL_error(L, "attempt to use a closed file");
  return lf;
}

/* {======================================================================
** Suspending on a request
** ======================================================================= */

/* Raises "fname: path: strerror (CODE)". [-0, +0, v] */
static int fs_raise(lua_State *L, int rc, const char *fname, const char *path) {
  if (rc == LUAIO_ENOMEM || rc == LUAIO_ECANCELLED)
    return luaioL_raisewait(L, rc, fname);
  if (path == NULL)
    return luaioL_raise(L, rc, fname);
  lua_pushfstring(L, "%s: %s", fname, path);
  return luaioL_raise(L, rc, lua_tostring(L, -1));
}

/* Awaits the request that start returned (rc, fut): pushes the future's
** box (it owns fut) and suspends; k continues. [-0, +1, v] */
static int fs_await(lua_State *L, lfuture *task, int rc, luaio_future_t *fut,
                    const char *fname, const char *path, lua_KFunction k) {
  if (rc != 0)
    return fs_raise(L, rc, fname, path);
  luaioL_pushfuture(L, fut);
  return luaioL_await(L, task, fut, lua_gettop(L), k);
}

/* In a continuation: the finished request, or raises the cancellation
** or its error. The box stays at ctx. [-0, +0, v] */
static luaio_future_t *fs_resumed(lua_State *L, lua_KContext ctx,
                                  const char *fname, const char *path) {
  int err = luaioL_resumeerr(L);
  lfuture *box = lua_touserdata(L, (int)ctx);
  if (err != 0)
    luaioL_raisewait(L, err, fname);
  int rc = luaio_future_error(box->fut);
  if (rc != 0)
    fs_raise(L, rc, fname, path);
  return box->fut;
}

/* }====================================================================== */

/* {======================================================================
** asyncio.fs functions
** ======================================================================= */

static int read_file_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaio_future_t *fut = fs_resumed(L, ctx, "read_file", lua_tostring(L, 1));
  size_t len;
  const char *data = luaio_fs_result_data(fut, &len);
  lua_pushlstring(L, data, len);
  return 1;
}

static int lfs_read_file(lua_State *L) {
  const char *path = luaioL_tocstring(L, 1, 1, NULL);
  lfuture *task = luaioL_checktask(L, "read_file");
  lua_settop(L, 1);
  luaio_future_t *fut;
  int rc = luaio_fs_read_file(luaioL_checkloop(L, "read_file"), path, &fut);
  return fs_await(L, task, rc, fut, "read_file", path, read_file_k);
}

static int done_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  const char *fname = lua_tostring(L, lua_upvalueindex(2));
  fs_resumed(L, ctx, fname, lua_tostring(L, 1));
  return 0;
}

/* Boolean option name of the table at idx, if any. */
static int optflag(lua_State *L, int idx, const char *name) {
  if (lua_isnoneornil(L, idx))
    return 0;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_getfield(L, idx, name);
  int r = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return r;
}

static int lfs_write_file(lua_State *L) {
  const char *path = luaioL_tocstring(L, 1, 1, NULL);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int flags = optflag(L, 3, "atomic") ? LUAIO_FS_ATOMIC : 0;
  lfuture *task = luaioL_checktask(L, "write_file");
  lua_settop(L, 1);
  luaio_future_t *fut;
  int rc = luaio_fs_write_file(luaioL_checkloop(L, "write_file"), path, data,
                               len, flags, &fut);
  return fs_await(L, task, rc, fut, "write_file", path, done_k);
}

/* Python's and C's mode strings: r w a x, with + and b. */
static int checkmode(lua_State *L, int idx, int *append) {
  const char *mode = luaL_optstring(L, idx, "r");
  int flags;
  *append = 0;
  switch (mode[0]) {
  case 'r':
    flags = 0;
    break;
  case 'w':
    flags = O_CREAT | O_TRUNC;
    break;
  case 'a':
    flags = O_CREAT | O_APPEND;
    *append = 1;
    break;
  case 'x':
    flags = O_CREAT | O_EXCL;
    break;
  default:
    goto bad;
  }
  int plus = 0;
  for (const char *m = mode + 1; *m != '\0'; m++) {
    if (*m == '+' && !plus)
      plus = 1;
    else if (*m != 'b')
      goto bad;
  }
  if (plus)
    return flags | O_RDWR;
  return flags | (mode[0] == 'r' ? O_RDONLY : O_WRONLY);
bad:
  return luaL_argerror(L, idx, lua_pushfstring(L, "invalid mode '%s'", mode));
}

static int open_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaio_future_t *fut = fs_resumed(L, ctx, "open", lua_tostring(L, 1));
  lfile *lf = lua_newuserdatauv(L, sizeof *lf, 1);
  lf->f = NULL;
  lf->pos = 0;
  lf->append = lua_toboolean(L, 2);
  luaL_setmetatable(L, FILE_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  lf->f = luaio_fs_result_file(fut);
  if (luaioL_runtime_of(L)->debug) {
    char what[128];
    snprintf(what, sizeof what, "file %.100s", lua_tostring(L, 1));
    luaioL_setorigin(L, -1, what);
  }
  return 1;
}

static int lfs_open(lua_State *L) {
  const char *path = luaioL_tocstring(L, 1, 1, NULL);
  int append;
  int flags = checkmode(L, 2, &append);
  lfuture *task = luaioL_checktask(L, "open");
  lua_settop(L, 1);
  lua_pushboolean(L, append); /* at 2, for open_k */
  luaio_future_t *fut;
  int rc = luaio_fs_open(luaioL_checkloop(L, "open"), path, flags, 0666, &fut);
  return fs_await(L, task, rc, fut, "open", path, open_k);
}

static const char *typename_of(uint64_t mode) {
  switch (mode & S_IFMT) {
  case S_IFREG:
    return "file";
  case S_IFDIR:
    return "directory";
  case S_IFLNK:
    return "link";
  case S_IFIFO:
    return "fifo";
  case S_IFSOCK:
    return "socket";
  case S_IFCHR:
    return "char";
  case S_IFBLK:
    return "block";
  default:
    return "other";
  }
}

static double seconds(uv_timespec_t t) {
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Pushes a table for st. [-0, +1, m] */
static void pushstat(lua_State *L, const uv_stat_t *st) {
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, (lua_Integer)st->st_size);
  lua_setfield(L, -2, "size");
  lua_pushstring(L, typename_of(st->st_mode));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, (lua_Integer)(st->st_mode & 07777));
  lua_setfield(L, -2, "mode");
  lua_pushnumber(L, seconds(st->st_mtim));
  lua_setfield(L, -2, "mtime");
  lua_pushnumber(L, seconds(st->st_atim));
  lua_setfield(L, -2, "atime");
  lua_pushnumber(L, seconds(st->st_ctim));
  lua_setfield(L, -2, "ctime");
  lua_pushinteger(L, (lua_Integer)st->st_nlink);
  lua_setfield(L, -2, "nlink");
  lua_pushinteger(L, (lua_Integer)st->st_uid);
  lua_setfield(L, -2, "uid");
  lua_pushinteger(L, (lua_Integer)st->st_gid);
  lua_setfield(L, -2, "gid");
  lua_pushinteger(L, (lua_Integer)st->st_ino);
  lua_setfield(L, -2, "ino");
}

static int stat_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaio_future_t *fut = fs_resumed(L, ctx, "stat", lua_tostring(L, 1));
  pushstat(L, luaio_fs_result_stat(fut));
  return 1;
}

static int lfs_stat(lua_State *L) {
  const char *path = luaioL_tocstring(L, 1, 1, NULL);
  lfuture *task = luaioL_checktask(L, "stat");
  lua_settop(L, 1);
  luaio_future_t *fut;
  int rc = luaio_fs_stat(luaioL_checkloop(L, "stat"), path, &fut);
  return fs_await(L, task, rc, fut, "stat", path, stat_k);
}

static int listdir_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaio_future_t *fut = fs_resumed(L, ctx, "listdir", lua_tostring(L, 1));
  size_t n = luaio_fs_result_count(fut);
  lua_createtable(L, n > INT32_MAX ? INT32_MAX : (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, luaio_fs_result_name(fut, i));
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static int lfs_listdir(lua_State *L) {
  const char *path = luaioL_tocstring(L, 1, 1, NULL);
  lfuture *task = luaioL_checktask(L, "listdir");
  lua_settop(L, 1);
  luaio_future_t *fut;
  int rc = luaio_fs_listdir(luaioL_checkloop(L, "listdir"), path, &fut);
  return fs_await(L, task, rc, fut, "listdir", path, listdir_k);
}

static int lfs_mkdir(lua_State *L) {
  const char *path = luaioL_tocstring(L, 1, 1, NULL);
  int flags = optflag(L, 2, "parents") ? LUAIO_FS_PARENTS : 0;
  int mode = 0777;
  if (lua_istable(L, 2) && lua_getfield(L, 2, "mode") != LUA_TNIL) {
    if (!lua_isinteger(L, -1))
      luaL_argerror(L, 2,
                    lua_pushfstring(L, "mode: integer expected, got %s",
                                    luaL_typename(L, -1)));
    mode = (int)lua_tointeger(L, -1);
  }
  lfuture *task = luaioL_checktask(L, "mkdir");
  lua_settop(L, 1);
  luaio_future_t *fut;
  int rc =
      luaio_fs_mkdir(luaioL_checkloop(L, "mkdir"), path, mode, flags, &fut);
  return fs_await(L, task, rc, fut, "mkdir", path, done_k);
}

static int lfs_remove(lua_State *L) {
  const char *path = luaioL_tocstring(L, 1, 1, NULL);
  lfuture *task = luaioL_checktask(L, "remove");
  lua_settop(L, 1);
  luaio_future_t *fut;
  int rc = luaio_fs_remove(luaioL_checkloop(L, "remove"), path, &fut);
  return fs_await(L, task, rc, fut, "remove", path, done_k);
}

static int rename_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  fs_resumed(L, ctx, "rename", lua_tostring(L, 3));
  return 0;
}

static int lfs_rename(lua_State *L) {
  const char *from = luaioL_tocstring(L, 1, 1, NULL);
  const char *to = luaioL_tocstring(L, 2, 2, NULL);
  lfuture *task = luaioL_checktask(L, "rename");
  lua_settop(L, 2);
  lua_pushfstring(L, "%s -> %s", from, to); /* at 3, for messages */
  luaio_future_t *fut;
  int rc = luaio_fs_rename(luaioL_checkloop(L, "rename"), from, to, &fut);
  return fs_await(L, task, rc, fut, "rename", lua_tostring(L, 3), rename_k);
}

/* }====================================================================== */

/* {======================================================================
** File objects. Stack of a method: file at 1, its arguments, then the
** request's box.
** ======================================================================= */

static const char *filepath(lua_State *L) {
  lua_getiuservalue(L, 1, 1);
  const char *path = lua_tostring(L, -1);
  lua_pop(L, 1); /* the user value keeps it alive */
  return path;
}

static int file_read_start(lua_State *L, lfile *lf, size_t n, lua_KFunction k) {
  lfuture *task = luaioL_checktask(L, "read");
  luaio_future_t *fut;
  int rc = luaio_fs_read(luaioL_checkloop(L, "read"), lf->f, n, lf->pos, &fut);
  return fs_await(L, task, rc, fut, "read", filepath(L), k);
}

/* read(n): up to n bytes, or nil at the end of the file. */
static int read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lfile *lf = lua_touserdata(L, 1);
  luaio_future_t *fut = fs_resumed(L, ctx, "read", filepath(L));
  size_t len;
  const char *data = luaio_fs_result_data(fut, &len);
  lf->pos += (int64_t)len;
  if (len == 0 && lua_tointeger(L, 2) > 0)
    lua_pushnil(L);
  else
    lua_pushlstring(L, data, len);
  return 1;
}

/* read(): the rest of the file; chunks gather in a table at 2. */
static int read_all_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lfile *lf = lua_touserdata(L, 1);
  luaio_future_t *fut = fs_resumed(L, ctx, "read", filepath(L));
  size_t len;
  const char *data = luaio_fs_result_data(fut, &len);
  lf->pos += (int64_t)len;
  if (len > 0) {
    lua_pushlstring(L, data, len);
    lua_rawseti(L, 2, (lua_Integer)lua_rawlen(L, 2) + 1);
    lua_settop(L, 2);
    return file_read_start(L, lf, READ_ALL_CHUNK, read_all_k);
  }
  lua_settop(L, 2);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  return 1;
}

static int lfile_read(lua_State *L) {
  lfile *lf = checkfile(L);
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L); /* at 2 */
    return file_read_start(L, lf, READ_ALL_CHUNK, read_all_k);
  }
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "non-negative count expected");
  lua_settop(L, 2);
  return file_read_start(L, lf, (size_t)n, read_k);
}

static int write_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lfile *lf = lua_touserdata(L, 1);
  luaio_future_t *fut = fs_resumed(L, ctx, "write", filepath(L));
  lf->pos += luaio_fs_result(fut);
  lua_settop(L, 1);
  return 1; /* the file, as Lua's file:write */
}

static int lfile_write(lua_State *L) {
  lfile *lf = checkfile(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  lfuture *task = luaioL_checktask(L, "write");
  lua_settop(L, 2);
  luaio_future_t *fut;
  int rc = luaio_fs_write(luaioL_checkloop(L, "write"), lf->f, data, len,
                          lf->append ? -1 : lf->pos, &fut);
  return fs_await(L, task, rc, fut, "write", filepath(L), write_k);
}

static int seek_end_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lfile *lf = lua_touserdata(L, 1);
  luaio_future_t *fut = fs_resumed(L, ctx, "seek", filepath(L));
  int64_t pos = (int64_t)luaio_fs_result_stat(fut)->st_size +
                (int64_t)lua_tointeger(L, 2);
  if (pos < 0)
    return luaL_error(L, "seek: position would be negative");
  lf->pos = pos;
  lua_pushinteger(L, (lua_Integer)pos);
  return 1;
}

/* seek([offset [, whence]]): whence "set" (default), "cur" or "end", or
** 0, 1, 2 as in Python; Lua's order seek(whence [, offset]) works too.
** Returns the new position. */
static int lfile_seek(lua_State *L) {
  static const char *const names[] = {"set", "cur", "end", NULL};
  lfile *lf = checkfile(L);
  int oi = 2, wi = 3;
  if (lua_type(L, 2) == LUA_TSTRING) { /* Lua's order */
    oi = 3;
    wi = 2;
  }
  lua_Integer off = luaL_optinteger(L, oi, 0);
  int whence = 0;
  if (lua_type(L, wi) == LUA_TNUMBER) {
    whence = (int)lua_tointeger(L, wi);
    luaL_argcheck(L, whence >= 0 && whence <= 2, wi, "invalid whence");
  } else {
    whence = luaL_checkoption(L, wi, "set", names);
  }
  if (whence == 2) {
    lfuture *task = luaioL_checktask(L, "seek");
    lua_settop(L, 1);
    lua_pushinteger(L, off); /* at 2, for seek_end_k */
    luaio_future_t *fut;
    int rc = luaio_fs_fstat(luaioL_checkloop(L, "seek"), lf->f, &fut);
    return fs_await(L, task, rc, fut, "seek", filepath(L), seek_end_k);
  }
  int64_t pos = (whence == 1 ? lf->pos : 0) + (int64_t)off;
  if (pos < 0)
    return luaL_error(L, "seek: position would be negative");
  lf->pos = pos;
  lua_pushinteger(L, (lua_Integer)pos);
  return 1;
}

static int close_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  fs_resumed(L, ctx, "close", filepath(L));
  return 0;
}

/* close(): idempotent, as Python's. */
static int lfile_close(lua_State *L) {
  lfile *lf = luaioL_checkobject(L, FILE_MT);
  if (lf->f == NULL || luaio_file_fd(lf->f) < 0)
    return 0;
  lfuture *task = luaioL_checktask(L, "close");
  lua_settop(L, 1);
  luaio_future_t *fut;
  int rc = luaio_fs_close(luaioL_checkloop(L, "close"), lf->f, &fut);
  if (rc == LUAIO_EBUSY)
    return luaL_error(L, "close: another task is reading or writing this "
                         "file; wait for it first");
  return fs_await(L, task, rc, fut, "close", filepath(L), close_k);
}

static int lfile_closed(lua_State *L) {
  lfile *lf = luaioL_checkobject(L, FILE_MT);
  lua_pushboolean(L, lf->f == NULL || luaio_file_fd(lf->f) < 0);
  return 1;
}

/* __gc and __close: the descriptor is closed at once (or by the last
** request still using it, when a task was cancelled meanwhile). */
static void release(lua_State *L, lfile *lf, int closing) {
  if (lf->f != NULL) {
    if (!closing && luaio_file_fd(lf->f) >= 0)
      luaioL_unclosed(L, 1, ORIGIN_DROPPED); /* debug mode: never closed */
    luaio_file_unref(lf->f);
    lf->f = NULL;
  }
}

static int lfile__gc(lua_State *L) {
  release(L, luaioL_checkobject(L, FILE_MT), 0);
  return 0;
}

static int lfile__close(lua_State *L) {
  release(L, luaioL_checkobject(L, FILE_MT), 1);
  return 0;
}

static int lfile__tostring(lua_State *L) {
  lfile *lf = luaioL_checkobject(L, FILE_MT);
  lua_pushfstring(L, "asyncio.File (%s)%s", filepath(L),
                  lf->f == NULL || luaio_file_fd(lf->f) < 0 ? " closed" : "");
  return 1;
}

/* }====================================================================== */

static const luaL_Reg lfs_funcs[] = {{"read_file", lfs_read_file},
                                     {"write_file", lfs_write_file},
                                     {"open", lfs_open},
                                     {"stat", lfs_stat},
                                     {"listdir", lfs_listdir},
                                     {"mkdir", lfs_mkdir},
                                     {"remove", lfs_remove},
                                     {"rename", lfs_rename},
                                     {NULL, NULL}};

static const luaL_Reg lfile_methods[] = {
    {"read", lfile_read},   {"write", lfile_write},   {"seek", lfile_seek},
    {"close", lfile_close}, {"closed", lfile_closed}, {NULL, NULL}};

static const luaL_Reg lfile_meta[] = {{"__gc", lfile__gc},
                                      {"__close", lfile__close},
                                      {"__tostring", lfile__tostring},
                                      {NULL, NULL}};

void luaioL_open_fs(lua_State *L) {
  lua_newtable(L); /* asyncio.fs */
  for (const luaL_Reg *r = lfs_funcs; r->name != NULL; r++) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushstring(L, r->name); /* upvalue 2: the name, for done_k */
    lua_pushcclosure(L, r->func, 2);
    lua_setfield(L, -2, r->name);
  }
  lua_setfield(L, -2, "fs");
  luaioL_newclass(L, FILE_MT, lfile_methods, lfile_meta);
}
