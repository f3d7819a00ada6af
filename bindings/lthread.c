/*
** lthread.c - asyncio.to_thread: the Lua face of core/thread.c.
**
** fn and its arguments cross to a pool thread as bytes: fn as lua_dump's
** binary chunk, the values in the small tagged format below. The worker
** runs them in a Lua state of its own, checked out of the module's pool
** of states for the duration of one call, and sends the results or the
** error back in the same format. No Lua value is shared between threads,
** and no Lua state is used by two threads at once.
**
** Buffers are malloc'd, not taken from a lua_Alloc: they are written on
** one thread and read and freed on another.
*/
#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"

#define BUF_MT "asyncio.ThreadBuffer"
#define POOL_MT "asyncio.ThreadPool"

#define MAXDEPTH 100 /* tables nested deeper than this are not copied */

/* {======================================================================
** Buffers: growable byte strings whose memory a userdata frees when the
** collector takes it, so an error raised while one is filled leaks
** nothing. A filled buffer's bytes are stolen into a blob.
** ======================================================================= */

typedef struct {
  char *data; /* owns (malloc) */
  size_t len, cap;
} tbuf;

typedef struct {
  char *data; /* owns (malloc) */
  size_t len;
} blob;

static int tbuf__gc(lua_State *L) {
  tbuf *b = lua_touserdata(L, 1);
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  return 0;
}

/* Pushes a new empty buffer, in any state (workers too). [-0, +1, m] */
static tbuf *tbuf_push(lua_State *L) {
  tbuf *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->data = NULL;
  b->len = b->cap = 0;
  if (luaL_newmetatable(L, BUF_MT)) {
    lua_pushcfunction(L, tbuf__gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}

/* Makes room for n more bytes. Returns 0, or -1 when out of memory. */
static int tbuf_grow(tbuf *b, size_t n) {
  if (b->cap - b->len >= n)
    return 0;
  size_t cap = b->cap > 0 ? b->cap : 256;
  while (cap - b->len < n) {
    if (cap > SIZE_MAX / 2)
      return -1;
    cap *= 2;
  }
  char *p = realloc(b->data, cap);
  if (p == NULL)
    return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

/* [-0, +0, m] */
static void tbuf_add(lua_State *L, tbuf *b, const void *p, size_t n) {
  if (tbuf_grow(b, n) != 0)
    luaL_error(L, "not enough memory");
  if (n > 0)
    memcpy(b->data + b->len, p, n);
  b->len += n;
}

/* Moves the bytes out: the buffer is left empty. */
static blob tbuf_steal(tbuf *b) {
  blob out = {b->data, b->len};
  b->data = NULL;
  b->len = b->cap = 0;
  return out;
}

/* }====================================================================== */

/* {======================================================================
** Values: nil, booleans, integers, floats, strings and tables of those.
** A list is an int count followed by the values; a value is a tag byte
** and its payload in host byte order (both ends are this process). A
** table is '{', then key and value pairs, then '}'. Tables reached twice
** on one path (cycles) are refused; a table shared without a cycle is
** copied twice. Metatables are not copied.
** ======================================================================= */

enum {
  T_NIL = 'n',
  T_FALSE = 'f',
  T_TRUE = 't',
  T_INT = 'i',
  T_FLT = 'd',
  T_STR = 's',
  T_TABLE = '{',
  T_END = '}'
};

typedef struct {
  lua_State *L;
  tbuf *b;
  int seen;         /* index of the set of tables on the current path */
  const char *what; /* "argument", "result" or "error object" */
  int n;            /* which one, from 1 */
} encoder;

static int encode_fail(encoder *e, const char *why) {
  return luaL_error(e->L, "to_thread: cannot copy %s %d of fn (%s)", e->what,
                    e->n, why);
}

static void encode_tag(encoder *e, char tag) {
  tbuf_add(e->L, e->b, &tag, 1);
}

static void encode(encoder *e, int idx, int depth);

/* [-0, +0, e] */
static void encode_table(encoder *e, int idx, int depth) {
  lua_State *L = e->L;
  if (depth >= MAXDEPTH)
    encode_fail(e, "tables nested too deeply");
  luaL_checkstack(L, 4, "to_thread: tables nested too deeply");
  lua_pushvalue(L, idx);
  if (lua_rawget(L, e->seen) != LUA_TNIL)
    encode_fail(e, "a table contains itself; cycles cannot be copied");
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, e->seen); /* seen[t] = true while t is on the path */
  encode_tag(e, T_TABLE);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    encode(e, lua_gettop(L) - 1, depth + 1); /* key */
    encode(e, lua_gettop(L), depth + 1);     /* value */
    lua_pop(L, 1);
  }
  encode_tag(e, T_END);
  lua_pushvalue(L, idx);
  lua_pushnil(L);
  lua_rawset(L, e->seen);
}

/* Appends the value at idx (an absolute index). [-0, +0, e] */
static void encode(encoder *e, int idx, int depth) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    encode_tag(e, T_NIL);
    break;
  case LUA_TBOOLEAN:
    encode_tag(e, lua_toboolean(L, idx) ? T_TRUE : T_FALSE);
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      lua_Integer i = lua_tointeger(L, idx);
      encode_tag(e, T_INT);
      tbuf_add(L, e->b, &i, sizeof i);
    } else {
      lua_Number x = lua_tonumber(L, idx);
      encode_tag(e, T_FLT);
      tbuf_add(L, e->b, &x, sizeof x);
    }
    break;
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    encode_tag(e, T_STR);
    tbuf_add(L, e->b, &len, sizeof len);
    tbuf_add(L, e->b, s, len);
    break;
  }
  case LUA_TTABLE:
    encode_table(e, idx, depth);
    break;
  default:
    lua_pushfstring(L,
                    "a %s cannot cross threads: only nil, booleans, "
                    "numbers, strings and tables of those can",
                    luaL_typename(L, idx));
    encode_fail(e, lua_tostring(L, -1));
  }
}

/* Appends the values from first to last to b as a list. [-0, +0, e] */
static void encode_into(lua_State *L, tbuf *b, int first, int last,
                        const char *what) {
  int count = last - first + 1;
  encoder e = {L, b, 0, what, 0};
  lua_newtable(L);
  e.seen = lua_gettop(L);
  tbuf_add(L, b, &count, sizeof count);
  for (int i = first; i <= last; i++) {
    e.n = i - first + 1;
    encode(&e, i, 0);
  }
  lua_pop(L, 1);
}

/* Encodes the values from first to the top as a list. [-0, +0, e] */
static blob encode_list(lua_State *L, int first, const char *what) {
  int top = lua_gettop(L);
  tbuf *b = tbuf_push(L);
  encode_into(L, b, first, top, what);
  blob out = tbuf_steal(b);
  lua_settop(L, top);
  return out;
}

typedef struct {
  const char *p, *end;
} decoder;

static void decode_bytes(decoder *d, void *out, size_t n) {
  assert((size_t)(d->end - d->p) >= n); /* we wrote it */
  memcpy(out, d->p, n);
  d->p += n;
}

/* Pushes the next value. [-0, +1, m] */
static void decode(lua_State *L, decoder *d) {
  char tag;
  luaL_checkstack(L, 3, "to_thread: tables nested too deeply");
  decode_bytes(d, &tag, 1);
  switch (tag) {
  case T_NIL:
    lua_pushnil(L);
    break;
  case T_FALSE:
  case T_TRUE:
    lua_pushboolean(L, tag == T_TRUE);
    break;
  case T_INT: {
    lua_Integer i;
    decode_bytes(d, &i, sizeof i);
    lua_pushinteger(L, i);
    break;
  }
  case T_FLT: {
    lua_Number x;
    decode_bytes(d, &x, sizeof x);
    lua_pushnumber(L, x);
    break;
  }
  case T_STR: {
    size_t len;
    decode_bytes(d, &len, sizeof len);
    assert((size_t)(d->end - d->p) >= len);
    lua_pushlstring(L, d->p, len);
    d->p += len;
    break;
  }
  default:
    assert(tag == T_TABLE);
    lua_newtable(L);
    while (*d->p != T_END) {
      decode(L, d); /* key */
      decode(L, d); /* value */
      lua_rawset(L, -3);
    }
    d->p++;
  }
}

/* Pushes the values of a list; returns how many. [-0, +n, m] */
static int decode_list(lua_State *L, const blob *in) {
  decoder d = {in->data, in->data + in->len};
  int count;
  decode_bytes(&d, &count, sizeof count);
  luaL_checkstack(L, count, "to_thread: too many values");
  for (int i = 0; i < count; i++)
    decode(L, &d);
  return count;
}

/* }====================================================================== */

/* {======================================================================
** The pool of worker states. A worker checks a state out for one call
** and back in; the pool only grows to the number of calls that ran at
** once (at most the size of libuv's thread pool). The module's pool box
** owns one reference and each request in flight another, so the states
** are closed when the runtime is collected and no call is left.
** ======================================================================= */

typedef struct wstate {
  lua_State *L;
  luaio_alloc_t *a;
  struct wstate *next;
} wstate;

typedef struct {
  uv_mutex_t mu;
  wstate *idle; /* owns: states no worker uses, under mu */
  luaioL_policy *policy; /* owns one reference: how states are set up */
  atomic_int refs;
} tpool;

static tpool *pool_new(void) {
  tpool *p = malloc(sizeof *p);
  if (p == NULL)
    return NULL;
  if (uv_mutex_init(&p->mu) != 0) {
    free(p);
    return NULL;
  }
  p->idle = NULL;
  p->policy = NULL;
  atomic_init(&p->refs, 1);
  return p;
}

static void pool_ref(tpool *p) {
  atomic_fetch_add(&p->refs, 1);
}

static void pool_unref(tpool *p) {
  if (atomic_fetch_sub(&p->refs, 1) != 1)
    return;
  /* Every request is over: every state is back in idle. */
  while (p->idle != NULL) {
    wstate *ws = p->idle;
    p->idle = ws->next;
    luaio_closestate(ws->L, ws->a);
    free(ws);
  }
  luaioL_policy_unref(p->policy);
  uv_mutex_destroy(&p->mu);
  free(p);
}

/* os.exit in a worker state. Lua's calls exit(), whose handlers include
** libuv's library shutdown, which joins the pool's threads, this one
** among them, and aborts. This ends the process at once with the status
** os.exit would give, after flushing C's streams, without exit handlers:
** as if the program had called os.exit, the Lua states left open. */
static int worker_exit(lua_State *W) {
  int status;
  if (lua_isboolean(W, 1))
    status = lua_toboolean(W, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
  else
    status = (int)luaL_optinteger(W, 1, EXIT_SUCCESS);
  fflush(NULL);
  _Exit(status);
}

/* Runs once the worker's libraries are open. */
static int patch_exit(lua_State *W) {
  if (lua_getglobal(W, LUA_OSLIBNAME) == LUA_TTABLE &&
      lua_getfield(W, -1, "exit") != LUA_TNIL) {
    lua_pushcfunction(W, worker_exit);
    lua_setfield(W, -3, "exit");
  }
  return 0;
}

/* Takes an idle state, or makes one. Returns NULL when out of memory or
** when the host's setup failed (*err: its message, malloc'd, or NULL). */
static wstate *pool_checkout(tpool *p, char **err) {
  uv_mutex_lock(&p->mu);
  wstate *ws = p->idle;
  if (ws != NULL)
    p->idle = ws->next;
  uv_mutex_unlock(&p->mu);
  if (ws != NULL)
    return ws;
  ws = malloc(sizeof *ws);
  if (ws == NULL)
    return NULL;
  ws->next = NULL;
  ws->L = luaioL_worker_newstate(p->policy, &ws->a, patch_exit, err);
  if (ws->L == NULL) {
    free(ws);
    return NULL;
  }
  return ws;
}

static void pool_checkin(tpool *p, wstate *ws) {
  lua_settop(ws->L, 0);
  uv_mutex_lock(&p->mu);
  ws->next = p->idle;
  p->idle = ws;
  uv_mutex_unlock(&p->mu);
}

static int pool__gc(lua_State *L) {
  tpool **box = luaL_checkudata(L, 1, POOL_MT);
  if (*box != NULL) {
    pool_unref(*box);
    *box = NULL;
  }
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** Requests: one call of fn, shared by the caller and the worker. The
** worker has it to itself while the work runs; the loop thread reads it
** once the work's future resolved, and frees it in fin (req_free).
** ======================================================================= */

enum { REQ_PENDING, REQ_RESULTS, REQ_ERROR, REQ_NOMEM, REQ_SETUP };

typedef struct {
  tpool *pool;        /* owns one reference */
  luaio_work_t *work; /* borrowed: it owns this request */
  blob code;          /* fn as a binary chunk; freed by the worker */
  blob args;          /* freed by the worker */
  blob out;           /* the results or the error, set by the worker */
  size_t memlimit;    /* the caller's memory limit, for the worker's state */
  int status;
} treq;

static void req_free(void *arg) {
  treq *req = arg;
  free(req->code.data);
  free(req->args.data);
  free(req->out.data);
  pool_unref(req->pool);
  free(req);
}

static const char *chunk_reader(lua_State *W, void *ud, size_t *size) {
  (void)W;
  blob *b = ud;
  const char *p = b->data;
  *size = b->len;
  b->len = 0; /* all of it at once, then the end */
  return p;
}

/* Runs fn in the worker state W: loads it, decodes the arguments, calls
** it and encodes its results. Stack: req. [-0, +0, e] */
static int worker_call(lua_State *W) {
  treq *req = lua_touserdata(W, 1);
  blob code = req->code;
  int rc = lua_load(W, chunk_reader, &code, "=to_thread", "b");
  free(req->code.data);
  req->code.data = NULL;
  if (rc != LUA_OK)
    return lua_error(W);
  /* lua_load set fn's one upvalue, if any (_ENV), to W's globals. */
  int nargs = decode_list(W, &req->args);
  free(req->args.data);
  req->args.data = NULL;
  lua_call(W, nargs, LUA_MULTRET);
  req->out = encode_list(W, 2, "result");
  req->status = REQ_RESULTS;
  return 0;
}

/* Encodes the error object at 1 for the caller: as it is, or, when 3 is
** true, as a string (for objects that cannot be copied). [-0, +0, e] */
static int worker_error(lua_State *W) {
  treq *req = lua_touserdata(W, 2);
  int asstring = lua_toboolean(W, 3);
  lua_settop(W, 1);
  if (asstring) {
    const char *s = luaL_tolstring(W, 1, NULL);
    lua_pushfstring(W,
                    "%s (to_thread: the error object cannot be copied "
                    "to the awaiting task)",
                    s);
    lua_replace(W, 1);
    lua_settop(W, 1);
  }
  req->out = encode_list(W, 1, "error object");
  req->status = REQ_ERROR;
  return 0;
}

/* Runs on a pool thread. */
static void to_thread_work(void *arg) {
  treq *req = arg;
  char *setup_err = NULL;
  wstate *ws = pool_checkout(req->pool, &setup_err);
  if (ws == NULL) {
    req->out.data = setup_err; /* the setup's message, as a C string */
    req->status = setup_err != NULL ? REQ_SETUP : REQ_NOMEM;
    return;
  }
  lua_State *W = ws->L;
  luaio_setmemlimit(W, req->memlimit);
  lua_pushcfunction(W, worker_call);
  lua_pushlightuserdata(W, req);
  if (lua_pcall(W, 1, 0, 0) != LUA_OK) {
    int err = lua_gettop(W);
    int done = 0;
    for (int asstring = 0; asstring <= 1 && !done; asstring++) {
      lua_pushcfunction(W, worker_error);
      lua_pushvalue(W, err);
      lua_pushlightuserdata(W, req);
      lua_pushboolean(W, asstring);
      done = lua_pcall(W, 3, 0, 0) == LUA_OK;
      if (!done)
        lua_pop(W, 1);
    }
    if (!done)
      req->status = REQ_NOMEM;
  }
  pool_checkin(req->pool, ws);
}

/* }====================================================================== */

/* Raises unless fn (at 1) can be dumped and run elsewhere: a Lua function
** whose only upvalue, if any, is _ENV. [-0, +0, v] */
static void checkfn(lua_State *L) {
  if (lua_iscfunction(L, 1))
    luaL_argerror(L, 1,
                  "a C function cannot be copied to another thread; "
                  "wrap it in a Lua function");
  const char *name;
  for (int i = 1; (name = lua_getupvalue(L, 1, i)) != NULL; i++) {
    lua_pop(L, 1);
    if (strcmp(name, "_ENV") != 0)
      luaL_error(L,
                 "to_thread: fn must not use upvalues (local variables "
                 "of enclosing functions); pass them as arguments (fn "
                 "uses '%s')",
                 name);
  }
}

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
  (void)L;
  tbuf *b = ud;
  if (tbuf_grow(b, sz) != 0)
    return 1;
  memcpy(b->data + b->len, p, sz);
  b->len += sz;
  return 0;
}

/* Dumps fn (at 1) into b, with its debug information, so that errors in
** the worker name its source and lines. [-0, +0, m] */
static void dumpfn(lua_State *L, tbuf *b) {
  lua_pushvalue(L, 1);
  int rc = lua_dump(L, dump_writer, b, 0);
  lua_pop(L, 1);
  if (rc != 0)
    luaL_error(L, "not enough memory");
}

static int to_thread_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  treq *req = (treq *)ctx; /* alive: the Future box on our stack owns w */
  int err = luaioL_resumeerr(L);
  if (err == 0 && luaio_future_cancelled(luaio_work_future(req->work)))
    err = LUAIO_ECANCELLED;
  if (err != 0)
    return luaioL_raisewait(L, err, "to_thread");
  int top = lua_gettop(L);
  switch (req->status) {
  case REQ_RESULTS: {
    int n = decode_list(L, &req->out);
    free(req->out.data);
    req->out.data = NULL;
    return n;
  }
  case REQ_ERROR:
    decode_list(L, &req->out);
    lua_settop(L, top + 1);
    return lua_error(L);
  case REQ_SETUP:
    return luaL_error(L, "to_thread: the host's setup of the worker state "
                         "failed: %s",
                      req->out.data);
  default:
    return luaL_error(L, "to_thread: not enough memory in the worker thread");
  }
}

/* asyncio.to_thread(fn, ...) */
static int lthread_to_thread(lua_State *L) {
  tpool *pool = *(tpool **)lua_touserdata(L, lua_upvalueindex(2));
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lfuture *task = luaioL_checktask(L, "to_thread");
  luaio_loop_t *loop = luaioL_checkloop(L, "to_thread");
  checkfn(L);
  int top = lua_gettop(L);
  /* The buffers stay on the stack, freed by the collector on an error,
  ** until req takes their bytes. */
  tbuf *args = tbuf_push(L);
  encode_into(L, args, 2, top, "argument");
  tbuf *code = tbuf_push(L);
  dumpfn(L, code);
  treq *req = malloc(sizeof *req);
  if (req == NULL || pool == NULL) {
    free(req);
    return luaL_error(L, "not enough memory");
  }
  memset(req, 0, sizeof *req);
  req->pool = pool;
  pool_ref(pool);
  req->code = tbuf_steal(code);
  req->args = tbuf_steal(args);
  req->status = REQ_PENDING;
  luaio_memory(L, &req->memlimit);
  req->work = luaio_work_new(loop, to_thread_work, req, req_free);
  if (req->work == NULL) {
    req_free(req);
    return luaL_error(L, "not enough memory");
  }
  luaioL_pushfuture(L, luaio_work_future(req->work)); /* owns req->work */
  return luaioL_await(L, task, luaio_work_future(req->work), (lua_KContext)req,
                      to_thread_k);
}

void luaioL_open_thread(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1)); /* the runtime */
  tpool **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL; /* safe to collect before the pool exists */
  luaL_newmetatable(L, POOL_MT);
  lua_pushcfunction(L, pool__gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  *box = pool_new();
  if (*box == NULL)
    luaL_error(L, "not enough memory");
  (*box)->policy = luaioL_policy_get(L);
  lua_pushcclosure(L, lthread_to_thread, 2);
  lua_setfield(L, -2, "to_thread");
}
