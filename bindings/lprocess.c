/*
** lprocess.c - asyncio.create_subprocess_exec and _shell, Process objects
** and their pipe streams, and the loop's signal handlers: the Lua face of
** core/process.c and core/signal.c.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"

#define PROCESS_MT "asyncio.Process"
#define READER_MT "asyncio.PipeReader"
#define WRITER_MT "asyncio.PipeWriter"

/* asyncio.PIPE, asyncio.STDOUT and asyncio.DEVNULL, with Python's values. */
#define LPIPE (-1)
#define LSTDOUT (-2)
#define LDEVNULL (-3)

typedef struct {
  luaio_process_t *p; /* owns one reference */
} lprocess;

/* User values of a Process: 1 stdin, 2 stdout, 3 stderr (or nil). */

typedef struct {
  luaio_pipe_t *p; /* owns one reference */
} lpipe;

static const char SIGNALS_KEY = 's'; /* registry: signum -> handler box */

static lprocess *checkprocess(lua_State *L) {
  return luaioL_checkobject(L, PROCESS_MT);
}

static luaio_pipe_t *checkpipe(lua_State *L, const char *mt) {
  lpipe *lp = luaioL_checkobject(L, mt);
  return lp->p;
}

/* Pushes a new Future box owning fut and suspends the task on it; k
** continues with the box at ctx. */
static int await_new(lua_State *L, lfuture *task, luaio_future_t *fut,
                     lua_KFunction k) {
  luaioL_pushfuture(L, fut);
  return luaioL_await(L, task, fut, lua_gettop(L), k);
}

/* In a continuation: raises a cancellation of the task; pops the box
** at ctx and what is above it. */
static void resumed(lua_State *L, lua_KContext ctx, const char *fname) {
  int err = luaioL_resumeerr(L);
  lfuture *box = lua_touserdata(L, (int)ctx);
  if (err == 0 && luaio_future_cancelled(box->fut))
    err = LUAIO_ECANCELLED; /* the task's cancellation reached the waiter */
  if (err != 0)
    luaioL_raisewait(L, err, fname);
  lua_settop(L, (int)ctx - 1);
}

/* {======================================================================
** Pipe readers: read([n]), readline(), readuntil(sep), readexactly(n),
** at_eof(). Each looks at the pipe's buffer and waits for more until
** it can answer. Stack: reader at 1, argument at 2.
** ======================================================================= */

enum { RD_SOME, RD_ALL, RD_LINE, RD_UNTIL, RD_EXACTLY };

static const char *const rd_names[] = {"read", "read", "readline", "readuntil",
                                       "readexactly"};

static int rd_k(lua_State *L, int status, lua_KContext ctx);

static int incomplete(lua_State *L, const char *data, size_t len,
                      lua_Integer expected) {
  luaioL_newerror(
      L, "IncompleteReadError",
      lua_pushfstring(L,
                      "%d bytes read on a total of %s "
                      "expected bytes",
                      (int)len,
                      expected < 0 ? "undefined" : lua_tostring(L, 2)));
  lua_pushlstring(L, data, len);
  lua_setfield(L, -2, "partial");
  if (expected >= 0) {
    lua_pushinteger(L, expected);
    lua_setfield(L, -2, "expected");
  }
  return lua_error(L);
}

/* Pushes and consumes n bytes of the buffer. */
static int take(lua_State *L, luaio_pipe_t *p, const char *data, size_t n) {
  lua_pushlstring(L, data, n);
  luaio_pipe_consume(p, n);
  return 1;
}

static int rd_try(lua_State *L, int mode) {
  luaio_pipe_t *p = ((lpipe *)lua_touserdata(L, 1))->p;
  for (;;) {
    size_t len;
    const char *data = luaio_pipe_buffer(p, &len);
    int eof = luaio_pipe_at_eof(p);
    if (eof && luaio_pipe_error(p) != 0 && len == 0)
      return luaioL_check(L, luaio_pipe_error(p), rd_names[mode]);
    switch (mode) {
    case RD_SOME: {
      size_t n = (size_t)lua_tointeger(L, 2);
      if (len > 0 || eof)
        return take(L, p, data, len < n ? len : n);
      break;
    }
    case RD_ALL:
      if (eof)
        return take(L, p, data, len);
      break;
    case RD_LINE:
    case RD_UNTIL: {
      size_t seplen;
      const char *sep = lua_tolstring(L, 2, &seplen);
      for (size_t i = 0; i + seplen <= len; i++)
        if (memcmp(data + i, sep, seplen) == 0)
          return take(L, p, data, i + seplen);
      if (eof && mode == RD_LINE)
        return take(L, p, data, len); /* "" at the end, as Python */
      if (eof) {
        lua_pushlstring(L, data, len);
        luaio_pipe_consume(p, len);
        return incomplete(L, lua_tostring(L, -1), len, -1);
      }
      break;
    }
    case RD_EXACTLY: {
      size_t n = (size_t)lua_tointeger(L, 2);
      if (len >= n)
        return take(L, p, data, n);
      if (eof) {
        lua_pushlstring(L, data, len);
        luaio_pipe_consume(p, len);
        return incomplete(L, lua_tostring(L, -1), len, (lua_Integer)n);
      }
      break;
    }
    }
    luaio_future_t *fut;
    luaioL_check(L, luaio_pipe_wait_readable(p, &fut), rd_names[mode]);
    if (fut != NULL) {
      lua_pushinteger(L, mode);             /* at 3 */
      luaioL_pushfuture(L, fut); /* owns fut; at 4 */
      lfuture *task = luaioL_checktask(L, rd_names[mode]);
      return luaioL_await(L, task, fut, 4, rd_k);
    }
  }
}

static int rd_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  int mode = (int)lua_tointeger(L, 3);
  resumed(L, ctx, rd_names[mode]);
  lua_settop(L, 2);
  return rd_try(L, mode);
}

static int lreader_read(lua_State *L) {
  checkpipe(L, READER_MT);
  lua_Integer n = luaL_optinteger(L, 2, -1);
  lua_settop(L, 2);
  if (n == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  return rd_try(L, n < 0 ? RD_ALL : RD_SOME);
}

static int lreader_readline(lua_State *L) {
  checkpipe(L, READER_MT);
  lua_settop(L, 1);
  lua_pushliteral(L, "\n");
  return rd_try(L, RD_LINE);
}

static int lreader_readuntil(lua_State *L) {
  checkpipe(L, READER_MT);
  luaL_optstring(L, 2, "\n");
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_pushliteral(L, "\n");
  }
  luaL_argcheck(L, lua_rawlen(L, 2) > 0, 2, "separator must not be empty");
  lua_settop(L, 2);
  return rd_try(L, RD_UNTIL);
}

static int lreader_readexactly(lua_State *L) {
  checkpipe(L, READER_MT);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "non-negative count expected");
  lua_settop(L, 2);
  return rd_try(L, RD_EXACTLY);
}

static int lreader_at_eof(lua_State *L) {
  luaio_pipe_t *p = checkpipe(L, READER_MT);
  size_t len;
  luaio_pipe_buffer(p, &len);
  lua_pushboolean(L, luaio_pipe_at_eof(p) && len == 0);
  return 1;
}

/* }====================================================================== */

/* {======================================================================
** Pipe writers: write(data) queues, drain() waits, close(), and
** wait_closed() waits for the close.
** ======================================================================= */

static int lwriter_write(lua_State *L) {
  luaio_pipe_t *p = checkpipe(L, WRITER_MT);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  luaioL_check(L, luaio_pipe_write(p, data, len), "write");
  return 0;
}

static int drain_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lfuture *box = lua_touserdata(L, (int)ctx);
  int rc = luaio_future_error(box->fut);
  resumed(L, ctx, "drain");
  return luaioL_check(L, rc, "drain");
}

/* Ends a writer method that may wait: raises for rc, returns nothing when
** fut is NULL, else suspends the task on fut, continuing with k. */
static int writer_wait(lua_State *L, int rc, luaio_future_t *fut,
                       const char *fname, lua_KFunction k) {
  luaioL_check(L, rc, fname);
  if (fut == NULL)
    return 0;
  luaioL_pushfuture(L, fut); /* owns fut; at the top */
  lfuture *task = luaioL_checktask(L, fname);
  return luaioL_await(L, task, fut, lua_gettop(L), k);
}

static int lwriter_drain(lua_State *L) {
  luaio_pipe_t *p = checkpipe(L, WRITER_MT);
  lua_settop(L, 1);
  luaio_future_t *fut;
  int rc = luaio_pipe_drain(p, &fut);
  return writer_wait(L, rc, fut, "drain", drain_k);
}

static int lwriter_close(lua_State *L) {
  luaio_pipe_close(checkpipe(L, WRITER_MT));
  return 0;
}

static int closed_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  resumed(L, ctx, "wait_closed");
  return 0;
}

/* Waits until the pipe is closed: after close(), once what was queued
** has been written (or has failed; drain() reports the error). */
static int lwriter_wait_closed(lua_State *L) {
  luaio_pipe_t *p = checkpipe(L, WRITER_MT);
  lua_settop(L, 1);
  luaio_future_t *fut;
  int rc = luaio_pipe_wait_closed(p, &fut);
  return writer_wait(L, rc, fut, "wait_closed", closed_k);
}

static int lwriter_get_write_buffer_size(lua_State *L) {
  luaio_pipe_t *p = checkpipe(L, WRITER_MT);
  lua_pushinteger(L, (lua_Integer)luaio_pipe_queued(p));
  return 1;
}

/* A pipe has no socket names: every name gives the default. */
static int lwriter_get_extra_info(lua_State *L) {
  checkpipe(L, WRITER_MT);
  luaL_checkstring(L, 2);
  lua_settop(L, 3);
  return 1;
}

static int lwriter_is_closing(lua_State *L) {
  lua_pushboolean(L, luaio_pipe_closed(checkpipe(L, WRITER_MT)));
  return 1;
}

static int lpipe__gc(lua_State *L) {
  lpipe *lp = lua_touserdata(L, 1);
  if (lp->p != NULL) {
    luaio_pipe_unref(lp->p);
    lp->p = NULL;
  }
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** Creating processes
** ======================================================================= */

static int checkstdio(lua_State *L, int opts, const char *name) {
  if (lua_isnoneornil(L, opts))
    return LUAIO_STDIO_INHERIT;
  lua_getfield(L, opts, name);
  int r = LUAIO_STDIO_INHERIT;
  if (!lua_isnil(L, -1)) {
    lua_Integer v = lua_tointeger(L, -1);
    if (v == LPIPE)
      r = LUAIO_STDIO_PIPE;
    else if (v == LDEVNULL)
      r = LUAIO_STDIO_DEVNULL;
    else if (v == LSTDOUT && strcmp(name, "stderr") == 0)
      r = LUAIO_STDIO_STDOUT;
    else
      luaL_argerror(L, opts,
                    lua_pushfstring(L,
                                    "%s: asyncio.PIPE, asyncio.DEVNULL%s or "
                                    "nil expected",
                                    name,
                                    strcmp(name, "stderr") == 0
                                        ? ", asyncio.STDOUT"
                                        : ""));
  }
  lua_pop(L, 1);
  return r;
}

/* Pushes a new pipe object for p (takes a reference). [-0, +1, m] */
static void pushpipe(lua_State *L, luaio_pipe_t *p, const char *mt) {
  if (p == NULL) {
    lua_pushnil(L);
    return;
  }
  lpipe *lp = lua_newuserdatauv(L, sizeof *lp, 0);
  lp->p = NULL;
  luaL_setmetatable(L, mt);
  luaio_pipe_ref(p);
  lp->p = p;
}

/* Starts prog with the list of arguments at args (or none) and the
** options table at opts (or none); pushes the Process. */
static int spawn(lua_State *L, const char *fname, int prog, int args,
                 int opts) {
  luaio_loop_t *loop = luaioL_checkloop(L, fname);
  uint32_t scope = luaioL_curscope(luaioL_runtime_of(L));
  if (scope != 0)
    luaioL_scope_check(L, scope, fname);
  const char *file = luaioL_tocstring(L, prog, prog, NULL);
  if (!lua_isnoneornil(L, args))
    luaL_checktype(L, args, LUA_TTABLE);
  if (!lua_isnoneornil(L, opts))
    luaL_checktype(L, opts, LUA_TTABLE);
  luaio_process_options_t o;
  memset(&o, 0, sizeof o);
  o.file = file;
  o.stdio[0] = checkstdio(L, opts, "stdin");
  o.stdio[1] = checkstdio(L, opts, "stdout");
  o.stdio[2] = checkstdio(L, opts, "stderr");
  /* argv and env live in userdata on the stack until the spawn is done;
  ** the strings they point to are anchored in args or in a table. */
  lua_Integer nargs = lua_isnoneornil(L, args) ? 0 : luaL_len(L, args);
  lua_createtable(L, (int)nargs, 0); /* anchors the strings used below */
  int anchors = lua_gettop(L);
  o.args = lua_newuserdatauv(L, (size_t)(nargs + 2) * sizeof(char *), 0);
  o.args[0] = (char *)file;
  for (lua_Integer i = 1; i <= nargs; i++) {
    lua_geti(L, args, i);
    o.args[i] = (char *)luaioL_tocstring(L, -1, args, "element %I", i);
    lua_rawseti(L, anchors, (lua_Integer)lua_rawlen(L, anchors) + 1);
  }
  o.args[nargs + 1] = NULL;
  if (!lua_isnoneornil(L, opts)) {
    if (lua_getfield(L, opts, "cwd") != LUA_TNIL)
      o.cwd = luaioL_tocstring(L, -1, opts, "cwd"); /* stays on the stack */
    if (lua_getfield(L, opts, "env") != LUA_TNIL) {
      if (!lua_istable(L, -1))
        luaL_argerror(L, opts,
                      lua_pushfstring(L, "env: table expected, got %s",
                                      luaL_typename(L, -1)));
      int env = lua_gettop(L);
      int n = 0;
      lua_pushnil(L);
      while (lua_next(L, env)) {
        if (lua_type(L, -2) != LUA_TSTRING)
          luaL_argerror(L, opts,
                        lua_pushfstring(L, "env: names must be strings, "
                                           "got %s",
                                        luaL_typename(L, -2)));
        const char *name = luaioL_tocstring(L, -2, opts, "env name");
        if (name[0] == '\0' || strchr(name, '=') != NULL)
          luaL_argerror(L, opts,
                        lua_pushfstring(L, "env: invalid variable name '%s'",
                                        name));
        const char *value = luaioL_tocstring(L, -1, opts, "env.%s", name);
        lua_pushfstring(L, "%s=%s", name, value);
        lua_rawseti(L, anchors, (lua_Integer)lua_rawlen(L, anchors) + 1);
        lua_pop(L, 1);
        n++;
      }
      o.env = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *), 0);
      for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, anchors, (lua_Integer)nargs + i);
        o.env[i - 1] = (char *)lua_tostring(L, -1);
        lua_pop(L, 1);
      }
      o.env[n] = NULL;
    }
  }
  lprocess *lp = lua_newuserdatauv(L, sizeof *lp, 3);
  lp->p = NULL;
  luaL_setmetatable(L, PROCESS_MT);
  int rc = luaio_process_spawn(loop, &o, &lp->p);
  if (rc != 0) {
    /* The child reports one errno for every step before exec: name the
    ** directory when it is the one that cannot be entered. */
    int cwdrc = o.cwd != NULL ? luaio_process_check_cwd(o.cwd) : 0;
    if (cwdrc != 0)
      return luaioL_raise(L, cwdrc,
                          lua_pushfstring(L, "%s: cwd %s", fname, o.cwd));
    return luaioL_raise(L, rc, lua_pushfstring(L, "%s: %s", fname, file));
  }
  for (int i = 0; i < 3; i++) {
    pushpipe(L, luaio_process_pipe(lp->p, i), i == 0 ? WRITER_MT : READER_MT);
    lua_setiuservalue(L, -2, i + 1);
  }
  if (luaioL_runtime_of(L)->debug) {
    char what[96];
    snprintf(what, sizeof what, "subprocess %.60s (pid %d)", file,
             luaio_process_pid(lp->p));
    luaioL_setorigin(L, -1, what);
  }
  if (scope != 0) /* held: a child runs on when its Process is dropped */
    luaioL_scope_adopt(L, scope, -1, 1);
  return 1;
}

/* create_subprocess_exec(prog, args, opts) */
static int lprocess_exec(lua_State *L) {
  lua_settop(L, 3);
  return spawn(L, "create_subprocess_exec", 1, 2, 3);
}

/* create_subprocess_shell(cmd, opts): /bin/sh -c cmd */
static int lprocess_shell(lua_State *L) {
  luaioL_tocstring(L, 1, 1, NULL);
  lua_settop(L, 2);
  lua_pushliteral(L, "/bin/sh"); /* 3 */
  lua_createtable(L, 2, 0);      /* 4 */
  lua_pushliteral(L, "-c");
  lua_rawseti(L, 4, 1);
  lua_pushvalue(L, 1);
  lua_rawseti(L, 4, 2);
  return spawn(L, "create_subprocess_shell", 3, 4, 2);
}

/* }====================================================================== */

/* {======================================================================
** Process objects
** ======================================================================= */

static int pushreturncode(lua_State *L, luaio_process_t *p) {
  int code;
  if (luaio_process_returncode(p, &code))
    lua_pushinteger(L, code);
  else
    lua_pushnil(L);
  return 1;
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  resumed(L, ctx, "wait");
  return pushreturncode(L, checkprocess(L)->p);
}

static int lprocess_wait(lua_State *L) {
  lprocess *lp = checkprocess(L);
  lua_settop(L, 1);
  int code;
  if (luaio_process_returncode(lp->p, &code))
    return pushreturncode(L, lp->p);
  lfuture *task = luaioL_checktask(L, "wait");
  luaio_future_t *fut;
  luaioL_check(L, luaio_process_wait(lp->p, &fut), "wait");
  if (fut == NULL)
    return pushreturncode(L, lp->p);
  return await_new(L, task, fut, wait_k);
}

/* communicate([input]): stack: process 1, input 2, phase 3 (1: stdout,
** 2: stderr, 3: exit), then the box awaited. */
static int communicate_k(lua_State *L, int status, lua_KContext ctx);

static int communicate_step(lua_State *L) {
  lprocess *lp = lua_touserdata(L, 1);
  for (;;) {
    int phase = (int)lua_tointeger(L, 3);
    luaio_future_t *fut = NULL;
    if (phase <= 2) {
      luaio_pipe_t *p = luaio_process_pipe(lp->p, phase);
      if (p != NULL && !luaio_pipe_at_eof(p))
        luaioL_check(L, luaio_pipe_wait_readable(p, &fut), "communicate");
    } else if (phase == 3) {
      luaioL_check(L, luaio_process_wait(lp->p, &fut), "communicate");
    } else {
      break;
    }
    if (fut != NULL) {
      lfuture *task = luaioL_runtime_of(L)->current;
      return await_new(L, task, fut, communicate_k);
    }
    lua_pushinteger(L, phase + 1);
    lua_replace(L, 3);
  }
  for (int i = 1; i <= 2; i++) {
    luaio_pipe_t *p = luaio_process_pipe(lp->p, i);
    if (p == NULL) {
      lua_pushnil(L);
      continue;
    }
    size_t len;
    const char *data = luaio_pipe_buffer(p, &len);
    if (len == 0 && luaio_pipe_error(p) != 0)
      return luaioL_check(L, luaio_pipe_error(p), "communicate");
    lua_pushlstring(L, data, len);
    luaio_pipe_consume(p, len);
  }
  return 2;
}

static int communicate_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  resumed(L, ctx, "communicate");
  return communicate_step(L);
}

static int lprocess_communicate(lua_State *L) {
  lprocess *lp = checkprocess(L);
  size_t len = 0;
  const char *input = luaL_optlstring(L, 2, NULL, &len);
  luaioL_checktask(L, "communicate");
  lua_settop(L, 2);
  luaio_pipe_t *in = luaio_process_pipe(lp->p, 0);
  if (in != NULL) {
    /* Written in the background; a child that exits without reading
    ** it makes the write fail with EPIPE, which is ignored, as Python's
    ** communicate does. The pipe closes once the write is done. */
    if (input != NULL && len > 0)
      luaio_pipe_write(in, input, len);
    luaio_pipe_close(in);
  }
  /* Both outputs are read together, with no limit, so that a child
  ** that fills one while we wait on the other cannot block. */
  for (int i = 1; i <= 2; i++)
    if (luaio_process_pipe(lp->p, i) != NULL)
      luaio_pipe_set_limit(luaio_process_pipe(lp->p, i), 0);
  lua_pushinteger(L, 1); /* phase, at 3 */
  return communicate_step(L);
}

static int checksignal(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    int sig = luaio_signal_number(lua_tostring(L, idx));
    if (sig == 0)
      luaL_argerror(
          L, idx,
          lua_pushfstring(L, "unknown signal '%s'", lua_tostring(L, idx)));
    return sig;
  }
  lua_Integer sig = luaL_checkinteger(L, idx);
  luaL_argcheck(L, sig > 0 && sig < 128, idx, "invalid signal number");
  return (int)sig;
}

static int sendsignal(lua_State *L, int sig, const char *fname) {
  lprocess *lp = checkprocess(L);
  luaioL_check(L, luaio_process_kill(lp->p, sig), fname);
  return 0;
}

static int lprocess_send_signal(lua_State *L) {
  return sendsignal(L, checksignal(L, 2), "send_signal");
}

static int lprocess_kill(lua_State *L) {
  return sendsignal(L, SIGKILL, "kill");
}

static int lprocess_terminate(lua_State *L) {
  return sendsignal(L, SIGTERM, "terminate");
}

static const luaL_Reg lprocess_methods[] = {
    {"wait", lprocess_wait},
    {"communicate", lprocess_communicate},
    {"send_signal", lprocess_send_signal},
    {"kill", lprocess_kill},
    {"terminate", lprocess_terminate},
    {NULL, NULL}};

/* Fields pid, returncode, stdin, stdout, stderr; then the methods. */
static int lprocess__index(lua_State *L) {
  lprocess *lp = checkprocess(L);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "pid") == 0) {
    lua_pushinteger(L, luaio_process_pid(lp->p));
    return 1;
  }
  if (strcmp(k, "returncode") == 0)
    return pushreturncode(L, lp->p);
  if (strcmp(k, "stdin") == 0 || strcmp(k, "stdout") == 0 ||
      strcmp(k, "stderr") == 0) {
    lua_getiuservalue(L, 1, k[3] == 'i' ? 1 : k[3] == 'o' ? 2 : 3);
    return 1;
  }
  lua_getfield(L, lua_upvalueindex(2), k);
  return 1;
}

/* Collected: its pipes are closed, and a child still running keeps
** only its handle, closed when it exits (or when the loop closes). */
static int lprocess__gc(lua_State *L) {
  lprocess *lp = lua_touserdata(L, 1);
  int code;
  if (lp->p != NULL) {
    if (!luaio_process_returncode(lp->p, &code))
      luaioL_unclosed(L, 1, ORIGIN_DROPPED); /* never waited for */
    luaio_process_unref(lp->p);
    lp->p = NULL;
  }
  return 0;
}

static int lprocess__tostring(lua_State *L) {
  lprocess *lp = checkprocess(L);
  int code;
  if (luaio_process_returncode(lp->p, &code))
    lua_pushfstring(L, "asyncio.Process (pid %d, returncode %d)",
                    luaio_process_pid(lp->p), code);
  else
    lua_pushfstring(L, "asyncio.Process (pid %d, running)",
                    luaio_process_pid(lp->p));
  return 1;
}

/* }====================================================================== */

/* {======================================================================
** Signal handlers: loop:add_signal_handler(sig, fn, ...) and
** loop:remove_signal_handler(sig). The registry table SIGNALS_KEY maps
** a signal number to a light userdata: its luaio_signal_t (one
** reference). The callback's arg holds {fn, args..., n=} in the
** registry until the handler is done with.
** ======================================================================= */

#define SIGNAL_MT "asyncio.SignalHandler"

typedef struct {
  luaioL_runtime *rt;
  int ref;        /* registry: {fn, args..., n = } */
  uint32_t scope; /* the scope of the code that added it (0: none) */
} lsignal;

static void lsignal_run(void *arg, int signum) {
  lsignal *s = arg;
  lua_State *L = s->rt->L;
  (void)signum;
  luaL_checkstack(L, LUA_MINSTACK, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref);
  int t = lua_gettop(L);
  lua_getfield(L, t, "n");
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_checkstack(L, n, NULL);
  for (int i = 1; i <= n; i++)
    lua_rawgeti(L, t, i);
  lua_remove(L, t);
  /* Run in the scope that added it, as a callback is. */
  uint32_t outer = s->rt->scope;
  s->rt->scope = s->scope;
  luaioL_pcallreport(L, n - 1, "error in signal handler");
  s->rt->scope = outer;
}

static void lsignal_free(void *arg) {
  lsignal *s = arg;
  lua_State *L = s->rt->L;
  if (s->scope != 0) { /* its scope has nothing left to remove */
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref);
    lua_pushliteral(L, "h");
    lua_pushnil(L);
    lua_rawset(L, -3); /* clearing a field allocates nothing */
    lua_pop(L, 1);
  }
  luaL_unref(L, LUA_REGISTRYINDEX, s->ref);
  free(s);
}

/* Stops the handler of sig, if any; returns 1 if there was one. */
static int signal_remove(lua_State *L, int sig) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &SIGNALS_KEY);
  int found = lua_rawgeti(L, -1, sig) == LUA_TLIGHTUSERDATA;
  if (found) {
    luaio_signal_unref(lua_touserdata(L, -1)); /* stops it */
    lua_pushnil(L);
    lua_rawseti(L, -3, sig);
  }
  lua_pop(L, 2);
  return found;
}

/* loop:add_signal_handler(sig, fn, ...) */
static int lloop_add_signal_handler(lua_State *L) {
  luaioL_runtime *rt = luaioL_rt(L);
  luaio_loop_t *loop = luaioL_checkloop(L, "add_signal_handler");
  int sig = checksignal(L, 2);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  if (sig == SIGKILL || sig == SIGSTOP)
    return luaL_argerror(L, 2, "SIGKILL and SIGSTOP cannot be caught");
  uint32_t scope = luaioL_curscope(rt);
  if (scope != 0)
    luaioL_scope_check(L, scope, "add_signal_handler");
  int n = lua_gettop(L) - 2;
  lua_createtable(L, n, 3);
  for (int i = 1; i <= n; i++) {
    lua_pushvalue(L, i + 2);
    lua_rawseti(L, -2, i);
  }
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "n");
  if (scope != 0) { /* the table stands for the handler in its scope */
    lua_pushinteger(L, sig);
    lua_setfield(L, -2, "sig");
    luaL_setmetatable(L, SIGNAL_MT);
  }
  lsignal *s = malloc(sizeof *s);
  if (s == NULL)
    return luaL_error(L, "not enough memory");
  s->rt = rt;
  s->scope = 0; /* until started: nothing to clear on failure */
  lua_pushvalue(L, -1);
  s->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  signal_remove(L, sig);
  luaio_signal_t *h;
  int rc = luaio_signal_start(loop, sig, lsignal_run, s, lsignal_free, &h);
  if (rc != 0) {
    lsignal_free(s);
    return luaioL_check(L, rc, "add_signal_handler");
  }
  s->scope = scope;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &SIGNALS_KEY);
  lua_pushlightuserdata(L, h);
  lua_rawseti(L, -2, sig);
  lua_pop(L, 1);
  if (scope != 0) {
    lua_pushlightuserdata(L, h);
    lua_setfield(L, -2, "h");
    luaioL_scope_adopt(L, scope, -1, 0); /* the registry holds it */
  }
  return 0;
}

/* __scope(handler, what): its scope is cancelled; the handler is removed
** unless it was removed or replaced already. */
static int lsignal__scope(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (strcmp(luaL_checkstring(L, 2), "cancel") != 0)
    return 0;
  lua_getfield(L, 1, "h");
  void *h = lua_touserdata(L, -1);
  lua_getfield(L, 1, "sig");
  int sig = (int)lua_tointeger(L, -1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &SIGNALS_KEY);
  lua_rawgeti(L, -1, sig);
  if (h != NULL && lua_touserdata(L, -1) == h)
    signal_remove(L, sig);
  return 0;
}

/* loop:remove_signal_handler(sig): true when a handler was removed. */
static int lloop_remove_signal_handler(lua_State *L) {
  int sig = checksignal(L, 2);
  lua_pushboolean(L, signal_remove(L, sig));
  return 1;
}

/* }====================================================================== */

/* Closes every process handle, pipe and signal handler of the running
** loop. Children are not signalled: they run on, detached from us (as
** asyncio.run leaves a child it was not told to kill). Called by
** lloop.c's loop_close once the remaining tasks are done, before the
** loop is deleted: libuv could not close a loop with these handles open.
** [-0, +0, -] */
int luaioL_close_processes(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rt->loop == NULL)
    return 0;
  luaio_process_close_all(rt->loop);
  /* Emptied in place: clearing a field allocates nothing. */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &SIGNALS_KEY);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    luaio_signal_unref(lua_touserdata(L, -1));
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushnil(L);
    lua_rawset(L, -4);
  }
  lua_pop(L, 1);
  return 0;
}

static const luaL_Reg lprocess_funcs[] = {
    {"create_subprocess_exec", lprocess_exec},
    {"create_subprocess_shell", lprocess_shell},
    {NULL, NULL}};

/* __scope(process, what): its scope closes; once the tasks are done, a
** child still running is terminated (SIGTERM), as asyncio's
** Process.terminate(). */
static int lprocess__scope(lua_State *L) {
  lprocess *lp = luaioL_scopeself(L, PROCESS_MT, "close");
  int code;
  if (lp != NULL && lp->p != NULL && !luaio_process_returncode(lp->p, &code))
    luaio_process_kill(lp->p, SIGTERM); /* gone already: nothing to do */
  return 0;
}

static const luaL_Reg lprocess_meta[] = {{"__gc", lprocess__gc},
                                         {"__tostring", lprocess__tostring},
                                         {"__scope", lprocess__scope},
                                         {NULL, NULL}};

static const luaL_Reg lreader_methods[] = {
    {"read", lreader_read},           {"readline", lreader_readline},
    {"readuntil", lreader_readuntil}, {"readexactly", lreader_readexactly},
    {"at_eof", lreader_at_eof},       {NULL, NULL}};

static const luaL_Reg lwriter_methods[] = {{"write", lwriter_write},
                                           {"drain", lwriter_drain},
                                           {"close", lwriter_close},
                                           {"is_closing", lwriter_is_closing},
                                           {"wait_closed", lwriter_wait_closed},
                                           {"get_extra_info",
                                            lwriter_get_extra_info},
                                           {"get_write_buffer_size",
                                            lwriter_get_write_buffer_size},
                                           {NULL, NULL}};

static const luaL_Reg lpipe_meta[] = {{"__gc", lpipe__gc}, {NULL, NULL}};

static const luaL_Reg lloop_signal_methods[] = {
    {"add_signal_handler", lloop_add_signal_handler},
    {"remove_signal_handler", lloop_remove_signal_handler},
    {NULL, NULL}};

void luaioL_open_process(lua_State *L) {
  luaioL_setfuncs(L, lprocess_funcs);
  lua_pushinteger(L, LPIPE);
  lua_setfield(L, -2, "PIPE");
  lua_pushinteger(L, LDEVNULL);
  lua_setfield(L, -2, "DEVNULL");
  lua_pushinteger(L, LSTDOUT);
  lua_setfield(L, -2, "STDOUT");
  /* Process: __index is a function that serves fields, then methods
  ** (upvalue 2). */
  luaL_newmetatable(L, PROCESS_MT);
  lua_pushvalue(L, lua_upvalueindex(1));
  luaL_setfuncs(L, lprocess_meta, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_newtable(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  luaL_setfuncs(L, lprocess_methods, 1);
  lua_pushcclosure(L, lprocess__index, 2);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaioL_newclass(L, READER_MT, lreader_methods, lpipe_meta);
  luaioL_newclass(L, WRITER_MT, lwriter_methods, lpipe_meta);
  /* The loop's methods: the loop opener has made its class already. */
  luaL_getmetatable(L, LOOP_MT);
  lua_getfield(L, -1, "__index");
  luaioL_setfuncs(L, lloop_signal_methods);
  lua_pop(L, 2);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &SIGNALS_KEY);
  luaL_newmetatable(L, SIGNAL_MT);
  lua_pushcfunction(L, lsignal__scope);
  lua_setfield(L, -2, "__scope");
  lua_pop(L, 1);
}
