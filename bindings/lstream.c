/*
** lstream.c - asyncio.open_connection, start_server, StreamReader,
** StreamWriter, Server and getaddrinfo: the Lua face of core/stream.c
** and core/dns.c.
**
** For the loop's close path (bindings/lloop.c), declared in lbind.h:
**
**   int luaioL_close_streams(lua_State *L);
**
** closes every stream and server still open at once (peers of open
** connections see a reset). loop_close must call it after the remaining
** tasks have finished and before luaio_loop_delete(), which then runs
** the close callbacks, so that the loop is left with no handle.
**
** A reader and its writer are two boxes on one core stream; each holds
** the other as its user value, so that neither is collected while the
** other is in use. Collecting them closes the stream.
*/
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "lbind.h"


#define READER_MT "asyncio.StreamReader"
#define WRITER_MT "asyncio.StreamWriter"
#define SERVER_MT "asyncio.Server"

#define ADDR_SIZE 112 /* a numeric host or a Unix-domain socket's path */

static const char STREAMS_KEY = 's'; /* registry: weak set of open boxes */

typedef struct {
  luaio_stream_t *s; /* owns one reference */
} lstream;

typedef struct {
  luaio_server_t *srv; /* owns one reference */
  luaioL_runtime *rt;
  int pin; /* registry ref to this box while listening */
  uint32_t scope; /* where its connections and handlers belong, or 0 */
  double tls_timeout, tls_shutdown; /* with ssl=: the two deadlines */
} lserver;

/* User value 1 of a reader or writer: the other half (or nil). User
** value 1 of a server: the handler. */

static luaio_stream_t *checkstream(lua_State *L, const char *mt) {
  lstream *ls = luaioL_checkobject(L, mt);
  if (ls->s == NULL)
    luaL_error(L, "attempt to use a collected stream");
  return ls->s;
}

#define checkreader(L) checkstream(L, READER_MT)
#define checkwriter(L) checkstream(L, WRITER_MT)

static lserver *checkserver(lua_State *L) {
  lserver *ls = luaioL_checkobject(L, SERVER_MT);
  if (ls->srv == NULL)
    luaL_error(L, "attempt to use a collected server");
  return ls;
}

/* Adds the box at top to the weak set that luaioL_close_streams walks.
** [-0, +0, m] */
static void track(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &STREAMS_KEY);
  lua_pushvalue(L, -2);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* Makes the pair at top (reader, writer) a member of the running code's
** scope, if any: closing it closes the stream. [-0, +0, m] */
static void adopt_pair(lua_State *L) {
  uint32_t scope = luaioL_curscope(luaioL_runtime_of(L));
  if (scope != 0)
    luaioL_scope_adopt(L, scope, -1, 0); /* the reader holds the writer */
}

/* Raises naming fname when the running code's scope is closed. */
static void checkscope(lua_State *L, const char *fname) {
  uint32_t scope = luaioL_curscope(luaioL_runtime_of(L));
  if (scope != 0)
    luaioL_scope_check(L, scope, fname);
}

/* Pushes a box of type mt with no stream yet. [-0, +1, m] */
static lstream *newbox(lua_State *L, const char *mt) {
  lstream *ls = lua_newuserdatauv(L, sizeof *ls, 1);
  ls->s = NULL;
  luaL_setmetatable(L, mt);
  return ls;
}

/* Pushes a reader and a writer, linked and tracked, with no stream yet;
** setpair() gives them one. Built first, so that taking a stream cannot
** fail afterwards and leave it in no box. [-0, +2, m] */
static void pushpair(lua_State *L) {
  newbox(L, READER_MT);
  newbox(L, WRITER_MT);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, -3, 1); /* reader -> writer */
  lua_pushvalue(L, -2);
  lua_setiuservalue(L, -2, 1); /* writer -> reader */
  track(L);
}

/* Gives the pair at top s, taking the caller's reference. [-0, +0, -] */
static void setpair(lua_State *L, luaio_stream_t *s) {
  ((lstream *)lua_touserdata(L, -2))->s = s;
  luaio_stream_ref(s);
  ((lstream *)lua_touserdata(L, -1))->s = s;
}

/* In debug mode, keeps where the pair whose box is at idx is opened:
** both halves share the origin, so that the one collected first reports.
** [-0, +0, m] */
static void pairorigin(lua_State *L, int idx, const char *what) {
  idx = lua_absindex(L, idx);
  luaioL_setorigin(L, idx, what);
  lua_getiuservalue(L, idx, 1);
  luaioL_copyorigin(L, idx, -1, NULL);
  lua_pop(L, 1);
}

/* {======================================================================
** Reading
** ======================================================================= */

enum { OP_READ, OP_READLINE, OP_EXACTLY, OP_UNTIL };

static const char *const opnames[] = {"read", "readline", "readexactly",
                                      "readuntil"};

/* Raises IncompleteReadError for the first len bytes, consuming them. */
static int raise_incomplete(lua_State *L, luaio_stream_t *s, size_t len,
                            int op) {
  size_t n;
  const char *p = luaio_stream_buffer(s, &n);
  if (op == OP_EXACTLY)
    lua_pushfstring(L, "%s: %I bytes read on a total of %I expected bytes",
                    opnames[op], (lua_Integer)len, lua_tointeger(L, 2));
  else
    lua_pushfstring(L, "%s: %I bytes read before the end of input", opnames[op],
                    (lua_Integer)len);
  luaioL_newerror(L, "IncompleteReadError", lua_tostring(L, -1));
  lua_pushlstring(L, p, len);
  lua_setfield(L, -2, "partial");
  if (op == OP_EXACTLY) {
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "expected");
  }
  luaio_stream_consume(s, len);
  return lua_error(L);
}

/* Raises LimitOverrunError. readline first drops the overlong line, or
** the whole buffer when it holds no "\n", as asyncio does. */
static int raise_overrun(lua_State *L, luaio_stream_t *s, size_t len, int op) {
  if (op == OP_READLINE) {
    size_t n;
    const char *p = luaio_stream_buffer(s, &n);
    const char *nl = memchr(p, '\n', n);
    luaio_stream_consume(s, nl != NULL ? (size_t)(nl - p) + 1 : n);
  }
  luaioL_newerror(L, "LimitOverrunError",
                  op == OP_READLINE
                      ? "readline: line is longer than the limit"
                      : "readuntil: separator is not found, and chunk "
                        "exceeds the limit");
  lua_pushinteger(L, (lua_Integer)len);
  lua_setfield(L, -2, "consumed");
  return lua_error(L);
}

static int read_k(lua_State *L, int status, lua_KContext ctx);

/* Stack: stream arg [waiter box]. Tries the request on the buffer, and
** waits for input when it cannot be met yet. */
static int read_try(lua_State *L, int op) {
  luaio_stream_t *s = ((lstream *)lua_touserdata(L, 1))->s;
  size_t len = 0, seplen;
  const char *sep;
  int rc;
  lua_settop(L, 2);
  switch (op) {
  case OP_READ:
    rc = luaio_stream_read(s, (long)luaL_optinteger(L, 2, -1), &len);
    break;
  case OP_READLINE:
    rc = luaio_stream_readuntil(s, "\n", 1, &len);
    break;
  case OP_EXACTLY:
    rc = luaio_stream_readexactly(s, (size_t)lua_tointeger(L, 2), &len);
    break;
  default:
    sep = lua_tolstring(L, 2, &seplen);
    rc = luaio_stream_readuntil(s, sep, seplen, &len);
    break;
  }
  if (rc == UV_EAGAIN) {
    lfuture *task = luaioL_checktask(L, opnames[op]);
    luaio_future_t *fut;
    rc = luaio_stream_wait_read(s, &fut);
    if (rc == LUAIO_EBUSY)
      return luaL_error(L,
                        "%s: another task is already waiting to read "
                        "from this stream",
                        opnames[op]);
    luaioL_check(L, rc, opnames[op]);
    luaioL_pushfuture(L, fut); /* owns fut; at 3 */
    return luaioL_await(L, task, fut, op, read_k);
  }
  if (rc == UV_EOF && op == OP_READLINE)
    rc = 0; /* the last line, without its "\n", or "" at the end */
  if (rc == 0) {
    size_t n;
    const char *p = luaio_stream_buffer(s, &n);
    lua_pushlstring(L, p, len);
    luaio_stream_consume(s, len);
    return 1;
  }
  if (rc == UV_EOF)
    return raise_incomplete(L, s, len, op);
  if (rc == UV_ENOBUFS)
    return raise_overrun(L, s, len, op);
  return luaioL_check(L, rc, opnames[op]);
}

static int read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaio_stream_t *s = ((lstream *)lua_touserdata(L, 1))->s;
  lfuture *w = lua_touserdata(L, 3);
  int rc = luaio_stream_wait_read_finish(s, w->fut, luaioL_resumeerr(L));
  if (rc != 0)
    return luaioL_raisewait(L, rc, opnames[ctx]);
  return read_try(L, (int)ctx);
}

static int lreader_read(lua_State *L) {
  checkreader(L);
  luaL_optinteger(L, 2, -1);
  return read_try(L, OP_READ);
}

static int lreader_readline(lua_State *L) {
  checkreader(L);
  return read_try(L, OP_READLINE);
}

static int lreader_readexactly(lua_State *L) {
  checkreader(L);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "readexactly size can not be less than zero");
  return read_try(L, OP_EXACTLY);
}

static int lreader_readuntil(lua_State *L) {
  checkreader(L);
  size_t seplen;
  luaL_optlstring(L, 2, "\n", &seplen);
  luaL_argcheck(L, seplen > 0, 2,
                "separator should be at least one-byte "
                "string");
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_pushliteral(L, "\n");
  }
  return read_try(L, OP_UNTIL);
}

static int lreader_at_eof(lua_State *L) {
  lua_pushboolean(L, luaio_stream_at_eof(checkreader(L)));
  return 1;
}

static int lreader_feed_data(lua_State *L) {
  luaio_stream_t *s = checkreader(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int rc = luaio_stream_feed(s, data, len);
  if (rc == LUAIO_EINVALSTATE)
    return luaL_error(L, "feed_data: the input has ended (feed_eof)");
  luaioL_check(L, rc, "feed_data");
  return 0;
}

static int lreader_feed_eof(lua_State *L) {
  luaio_stream_feed_eof(checkreader(L), 0);
  return 0;
}

/* asyncio.StreamReader([limit]): a reader fed by feed_data/feed_eof. */
static int lreader_new(lua_State *L) {
  luaio_loop_t *loop = luaioL_checkloop(L, "StreamReader");
  lua_Integer limit = luaL_optinteger(L, 1, 0);
  luaL_argcheck(L, limit >= 0, 1, "limit must be positive");
  lstream *ls = newbox(L, READER_MT);
  ls->s = luaio_stream_new(loop, (size_t)limit);
  if (ls->s == NULL)
    return luaL_error(L, "not enough memory");
  return 1;
}

/* }====================================================================== */

/* {======================================================================
** Writing
** ======================================================================= */

/* Queues data, or raises: write after write_eof() is a mistake (as
** asyncio's RuntimeError); a closed or lost connection is not (the data
** is dropped, and drain and the reads report the loss). */
static int write_error(lua_State *L, int rc, const char *fname) {
  if (rc == UV_EPIPE)
    return luaL_error(L, "%s: cannot write after write_eof()", fname);
  return luaioL_check(L, rc, fname);
}

static const char STDIO_KEY = 'i'; /* registry: fd -> reader or writer */

/* Calls the runtime's stdio_write hook (the REPL's) if the writer at 1
** is that of stdout or stderr; without a hook, one test. */
static void stdio_write(lua_State *L) {
  luaioL_runtime *rt = luaioL_rt(L);
  if (rt->stdio_write == NULL)
    return;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &STDIO_KEY);
  int found = 0;
  for (int fd = 1; fd <= 2 && !found; fd++) {
    lua_rawgeti(L, -1, fd);
    found = lua_rawequal(L, -1, 1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (found)
    rt->stdio_write(L);
}

static int lwriter_write(lua_State *L) {
  luaio_stream_t *s = checkwriter(L);
  stdio_write(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int rc = luaio_stream_write(s, data, len);
  if (rc != 0)
    return write_error(L, rc, "write");
  return 0;
}

static int lwriter_writelines(lua_State *L) {
  luaio_stream_t *s = checkwriter(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 2);
  for (lua_Integer i = 1; i <= n; i++) { /* all or nothing, as asyncio */
    int t = lua_geti(L, 2, i);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
      luaL_argerror(L, 2,
                    lua_pushfstring(L, "element %I: string expected, got %s",
                                    i, luaL_typename(L, -1)));
    lua_pop(L, 1);
  }
  stdio_write(L);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 2, i);
    size_t len;
    const char *data = lua_tolstring(L, -1, &len);
    int rc = luaio_stream_write(s, data, len);
    if (rc != 0)
      return write_error(L, rc, "writelines");
    lua_pop(L, 1);
  }
  return 0;
}

/* Raises "fname: why" for TLS's failure on s, with code SSLError. */
static int tls_error(lua_State *L, luaio_stream_t *s, const char *fname) {
  luaioL_newerror(L, "Error", lua_pushfstring(L, "%s: %s", fname,
                                              luaio_stream_tls_error(s)));
  lua_remove(L, -2); /* the message */
  lua_pushliteral(L, "SSLError");
  lua_setfield(L, -2, "code");
  return lua_error(L);
}

/* Raises drain's error: the writer closed by its own close() or abort()
** says so (asyncio raises "Connection lost" there); a failed handshake
** says why. */
static int drain_error(lua_State *L, luaio_stream_t *s, int rc) {
  if (rc == LUAIO_EINVALSTATE) {
    luaioL_newerror(L, "Error", "drain: the writer is closed");
    return lua_error(L);
  }
  if (rc == LUAIO_ETLS)
    return tls_error(L, s, "drain");
  return luaioL_raisewait(L, rc, "drain");
}

static int drain_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  luaio_stream_t *s = ((lstream *)lua_touserdata(L, 1))->s;
  lfuture *w = lua_touserdata(L, 2);
  int rc = luaio_stream_drain_finish(s, w->fut, luaioL_resumeerr(L));
  if (rc != 0)
    return drain_error(L, s, rc);
  return 0;
}

static int lwriter_drain(lua_State *L) {
  luaio_stream_t *s = checkwriter(L);
  lua_settop(L, 1);
  luaio_future_t *fut;
  int rc = luaio_stream_drain(s, &fut);
  if (rc != 0)
    return drain_error(L, s, rc);
  if (fut == NULL)
    return 0;
  luaioL_pushfuture(L, fut); /* owns fut; at 2 */
  lfuture *task = luaioL_checktask(L, "drain");
  return luaioL_await(L, task, fut, 0, drain_k);
}

static int lwriter_write_eof(lua_State *L) {
  luaioL_check(L, luaio_stream_write_eof(checkwriter(L)), "write_eof");
  return 0;
}

static int lwriter_can_write_eof(lua_State *L) {
  checkwriter(L);
  lua_pushboolean(L, 1);
  return 1;
}

static int lwriter_close(lua_State *L) {
  luaio_stream_close(checkwriter(L));
  return 0;
}

static int lwriter_abort(lua_State *L) {
  luaio_stream_abort(checkwriter(L));
  return 0;
}

static int lwriter_is_closing(lua_State *L) {
  lua_pushboolean(L, luaio_stream_is_closing(checkwriter(L)));
  return 1;
}

/* Awaits the future at top (the closers' kind), then returns nothing. */
static int closed_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lfuture *w = lua_touserdata(L, (int)ctx);
  int err = luaioL_resumeerr(L);
  if (err == 0 && !luaio_future_done(w->fut))
    err = LUAIO_ECANCELLED;
  if (err == 0)
    err = luaio_future_error(w->fut);
  if (err != 0) {
    luaio_future_cancel(w->fut, NULL);
    return luaioL_raisewait(L, err, "wait_closed");
  }
  return 0;
}

static int lwriter_wait_closed(lua_State *L) {
  luaio_stream_t *s = checkwriter(L);
  lua_settop(L, 1);
  luaio_future_t *fut;
  luaioL_check(L, luaio_stream_wait_closed(s, &fut), "wait_closed");
  if (fut == NULL)
    return 0;
  luaioL_pushfuture(L, fut); /* owns fut; at 2 */
  lfuture *task = luaioL_checktask(L, "wait_closed");
  return luaioL_await(L, task, fut, 2, closed_k);
}

static int lwriter_get_write_buffer_size(lua_State *L) {
  luaio_stream_t *s = checkwriter(L);
  lua_pushinteger(L, (lua_Integer)luaio_stream_write_buffer_size(s));
  return 1;
}

/* set_write_buffer_limits([high [, low]]), as asyncio's transport. */
static int lwriter_set_write_buffer_limits(lua_State *L) {
  luaio_stream_t *s = checkwriter(L);
  lua_Integer high = luaL_optinteger(L, 2, LUAIO_STREAM_HIGH_WATER);
  lua_Integer low = luaL_optinteger(L, 3, high / 4);
  luaL_argcheck(L, high >= 0, 2, "high must be >= 0");
  luaL_argcheck(L, low >= 0 && low <= high, 3, "low must be in [0, high]");
  luaio_stream_set_write_limits(s, (size_t)high, (size_t)low);
  return 0;
}

/* Pushes {host, port, host=, port=, family=}, a Unix-domain socket's
** path (port < 0), or nil. [-0, +1, m] */
static void pushaddr(lua_State *L, int rc, const char *host, int port) {
  if (rc != 0) {
    lua_pushnil(L);
    return;
  }
  if (port < 0) { /* as asyncio: the path, "" for an unnamed socket */
    lua_pushstring(L, host);
    return;
  }
  lua_createtable(L, 2, 3);
  lua_pushstring(L, host);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, 1);
  lua_setfield(L, -2, "host");
  lua_pushinteger(L, port);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, 2);
  lua_setfield(L, -2, "port");
  lua_pushstring(L, strchr(host, ':') != NULL ? "inet6" : "inet");
  lua_setfield(L, -2, "family");
}

/* Pushes what of s's TLS session, as a string, or nil. [-0, +1, m] */
static void pushtlsinfo(lua_State *L, luaio_stream_t *s, int what) {
  char buf[256];
  if (luaio_stream_tls_info(s, what, buf, sizeof buf) == 0)
    lua_pushstring(L, buf);
  else
    lua_pushnil(L);
}

/* get_extra_info's TLS names: "cipher" ({name, version, bits}),
** "peercert" ({subject=, issuer=}, one-line names), "ssl_version",
** "alpn_protocol".
** Pushes the value (nil when s has none), or returns 0 for another
** name. */
static int tls_extra_info(lua_State *L, luaio_stream_t *s, const char *name) {
  if (strcmp(name, "ssl_version") == 0) {
    pushtlsinfo(L, s, LUAIO_TLS_VERSION);
  } else if (strcmp(name, "alpn_protocol") == 0) {
    pushtlsinfo(L, s, LUAIO_TLS_ALPN);
  } else if (strcmp(name, "cipher") == 0) {
    pushtlsinfo(L, s, LUAIO_TLS_CIPHER);
    if (!lua_isnil(L, -1)) {
      lua_createtable(L, 3, 0);
      lua_insert(L, -2);
      lua_rawseti(L, -2, 1);
      pushtlsinfo(L, s, LUAIO_TLS_VERSION);
      lua_rawseti(L, -2, 2);
      pushtlsinfo(L, s, LUAIO_TLS_CIPHER_BITS);
      lua_pushinteger(L, (lua_Integer)lua_tointeger(L, -1));
      lua_rawseti(L, -3, 3);
      lua_pop(L, 1);
    }
  } else if (strcmp(name, "peercert") == 0) {
    pushtlsinfo(L, s, LUAIO_TLS_PEER_SUBJECT);
    if (!lua_isnil(L, -1)) {
      lua_createtable(L, 0, 2);
      lua_insert(L, -2);
      lua_setfield(L, -2, "subject");
      pushtlsinfo(L, s, LUAIO_TLS_PEER_ISSUER);
      lua_setfield(L, -2, "issuer");
    }
  } else {
    return 0;
  }
  return 1;
}

/* get_extra_info(name [, default]): "peername" and "sockname"; with TLS,
** "cipher", "peercert" and "ssl_version". */
static int lwriter_get_extra_info(lua_State *L) {
  luaio_stream_t *s = checkwriter(L);
  const char *name = luaL_checkstring(L, 2);
  char host[ADDR_SIZE];
  int port = 0, rc = LUAIO_EINVAL;
  if (tls_extra_info(L, s, name)) {
    if (lua_isnil(L, -1))
      lua_pushvalue(L, 3);
    return 1;
  }
  if (strcmp(name, "peername") == 0)
    rc = luaio_stream_peername(s, host, sizeof host, &port);
  else if (strcmp(name, "sockname") == 0)
    rc = luaio_stream_sockname(s, host, sizeof host, &port);
  pushaddr(L, rc, host, port);
  if (lua_isnil(L, -1))
    lua_pushvalue(L, 3);
  return 1;
}

/* Collected or closed as a to-be-closed variable: a stream with nothing
** queued closes cleanly, one with data stuck is aborted, so that no
** handle outlives every Lua reference to it. */
static int lstream__gc(lua_State *L) {
  lstream *ls = lua_touserdata(L, 1);
  if (ls->s != NULL) {
    if (!luaio_stream_is_closing(ls->s))
      luaioL_unclosed(L, 1, ORIGIN_DROPPED); /* debug mode: never closed */
    if (luaio_stream_write_buffer_size(ls->s) == 0)
      luaio_stream_close(ls->s);
    else
      luaio_stream_abort(ls->s);
    luaio_stream_unref(ls->s);
    ls->s = NULL;
  }
  return 0;
}

/* __scope(writer, what): its scope closes; once the tasks are done
** (what they wrote in their cleanup is sent), the stream is closed. */
static int lstream__scope(lua_State *L) {
  lstream *ls = luaioL_scopeself(L, WRITER_MT, "close");
  if (ls != NULL && ls->s != NULL)
    luaio_stream_close(ls->s);
  return 0;
}

static int lwriter__close(lua_State *L) {
  lstream *ls = luaioL_checkobject(L, WRITER_MT);
  if (ls->s != NULL)
    luaio_stream_close(ls->s);
  return 0;
}

static int lreader__tostring(lua_State *L) {
  lua_pushfstring(L, "%s (%p)", READER_MT, lua_touserdata(L, 1));
  return 1;
}

static int lwriter__tostring(lua_State *L) {
  lua_pushfstring(L, "%s (%p)", WRITER_MT, lua_touserdata(L, 1));
  return 1;
}

/* }====================================================================== */

/* {======================================================================
** TLS: a handshake on a connected pair, for open_connection (ssl=),
** start_server (ssl=) and writer:start_tls.
** ======================================================================= */

enum { TLS_CONNECT, TLS_SERVE, TLS_STARTTLS, TLS_UNIX };
static const char *const tlsnames[] = {"open_connection", "start_server",
                                       "start_tls", "open_unix_connection"};

#define TLS_HANDSHAKE_TIMEOUT 60.0 /* asyncio's ssl_handshake_timeout */

static double optfield(lua_State *L, int idx, const char *name, double def);

static int tls_served(lua_State *L, int status, lua_KContext ctx) {
  (void)L, (void)status, (void)ctx;
  return 0;
}

/* Stack: ... reader writer handshake (at ctx % 256). */
static int tls_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  int idx = (int)(ctx % 256), op = (int)(ctx / 256);
  lfuture *w = lua_touserdata(L, idx);
  luaio_stream_t *s = ((lstream *)lua_touserdata(L, idx - 1))->s;
  int rc = luaio_stream_start_tls_finish(s, w->fut, luaioL_resumeerr(L));
  if (rc != 0 && op == TLS_SERVE && rc != LUAIO_ECANCELLED)
    return 0; /* as asyncio: a failed handshake ends the connection only */
  if (rc == LUAIO_ETLS || (rc != 0 && rc != LUAIO_ECANCELLED &&
                           rc != LUAIO_ETIMEOUT && rc != LUAIO_ENOMEM)) {
    return tls_error(L, s, tlsnames[op]);
  }
  if (rc != 0)
    return luaioL_raisewait(L, rc, tlsnames[op]);
  if (op == TLS_CONNECT || op == TLS_UNIX) {
    lua_pushvalue(L, idx - 2);
    lua_pushvalue(L, idx - 1);
    return 2;
  }
  if (op == TLS_SERVE) { /* stack: ctx timeout shutdown handler reader
                          ** writer hs */
    lua_settop(L, 6);
    lua_pushvalue(L, 4);
    lua_pushvalue(L, 5);
    lua_pushvalue(L, 6);
    lua_callk(L, 2, 0, 0, tls_served);
  }
  return 0;
}

/* Starts TLS on s, the pair's at top, and awaits the handshake, which
** must end within timeout s; closing waits shutdown s at most for the
** peer's close_notify. op says what for. */
static int tls_begin(lua_State *L, luaio_stream_t *s, luaio_tls_ctx_t *ctx,
                     const char *hostname, double timeout, double shutdown,
                     int op) {
  lfuture *task = luaioL_checktask(L, tlsnames[op]);
  luaio_future_t *fut = luaio_stream_start_tls(s, ctx, hostname, timeout);
  if (fut == NULL) {
    luaio_stream_abort(s);
    return luaL_error(L, "not enough memory");
  }
  luaio_stream_set_tls_shutdown_timeout(s, shutdown); /* none: failed */
  luaioL_pushfuture(L, fut);
  return luaioL_await(L, task, fut, lua_gettop(L) + 256 * op, tls_k);
}

/* The handshake timeout opts.ssl_handshake_timeout at idx asks for. */
static double tls_timeout(lua_State *L, int idx) {
  return optfield(L, idx, "ssl_handshake_timeout", TLS_HANDSHAKE_TIMEOUT);
}

/* The shutdown timeout opts.ssl_shutdown_timeout at idx asks for. */
static double tls_shutdown(lua_State *L, int idx) {
  return optfield(L, idx, "ssl_shutdown_timeout", LUAIO_TLS_SHUTDOWN_TIMEOUT);
}

/* The string opts.server_hostname at idx, or NULL. */
static const char *tls_hostname(lua_State *L, int idx) {
  if (!lua_istable(L, idx) ||
      lua_getfield(L, idx, "server_hostname") == LUA_TNIL) {
    if (lua_istable(L, idx))
      lua_pop(L, 1);
    return NULL;
  }
  const char *h = luaioL_tocstring(L, -1, idx, "opts.server_hostname");
  lua_pop(L, 1); /* the table keeps it */
  return h;
}

/* A server's handler task with TLS: ctx timeout shutdown handler reader
** writer. */
static int tls_serve(lua_State *L) {
  luaio_tls_ctx_t *ctx = luaioL_tlscontext(L, 1, 1, "start_server");
  double timeout = lua_tonumber(L, 2), shutdown = lua_tonumber(L, 3);
  lua_settop(L, 6);
  return tls_begin(L, ((lstream *)lua_touserdata(L, 6))->s, ctx, NULL,
                   timeout, shutdown, TLS_SERVE);
}

/* writer:start_tls(ctx [, {server_hostname=, ssl_handshake_timeout=,
** ssl_shutdown_timeout=}]):
** upgrades the connection in place (STARTTLS); the reader and writer
** read and write through TLS once it returns. */
static int lwriter_start_tls(lua_State *L) {
  luaio_stream_t *s = checkwriter(L);
  luaL_checkudata(L, 2, "asyncio.SSLContext");
  luaio_tls_ctx_t *ctx = luaioL_tlscontext(L, 2, -1, "start_tls");
  if (!lua_isnoneornil(L, 3))
    luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  double timeout = tls_timeout(L, 3), shutdown = tls_shutdown(L, 3);
  const char *hostname = tls_hostname(L, 3);
  char host[ADDR_SIZE];
  int port;
  /* As the address connected to, the best known: over TCP, the peer's IP
  ** address is checked against the certificate's; a Unix-domain socket's
  ** path names no host. */
  if (hostname == NULL && !luaio_tls_ctx_is_server(ctx) &&
      luaio_stream_peername(s, host, sizeof host, &port) == 0 && port >= 0)
    hostname = host;
  if (luaio_stream_is_tls(s))
    return luaL_error(L, "start_tls: the stream already speaks TLS");
  lua_getiuservalue(L, 1, 1); /* the reader */
  lua_pushvalue(L, 1);
  return tls_begin(L, s, ctx, hostname, timeout, shutdown, TLS_STARTTLS);
}

/* }====================================================================== */

/* {======================================================================
** open_connection and getaddrinfo
** ======================================================================= */

/* Reads opts.<name> at idx as a non-negative number, or def. */
static double optfield(lua_State *L, int idx, const char *name, double def) {
  if (!lua_istable(L, idx))
    return def;
  lua_getfield(L, idx, name);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return def;
  }
  int isnum;
  double v = lua_tonumberx(L, -1, &isnum);
  lua_pop(L, 1);
  if (!isnum || !(v >= 0))
    luaL_argerror(L, idx,
                  lua_pushfstring(L,
                                  "opts.%s must be a "
                                  "non-negative number",
                                  name));
  return v;
}

static int checkport(lua_State *L, int idx) {
  lua_Integer port = luaL_checkinteger(L, idx);
  luaL_argcheck(L, port >= 0 && port <= 65535, idx, "port out of range");
  return (int)port;
}

static int pushpair_p(lua_State *L) {
  pushpair(L);
  return 2;
}

/* ctx: the future's index, plus CONNECT_UNIX for open_unix_connection. */
#define CONNECT_UNIX 256

static int connect_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lfuture *w = lua_touserdata(L, (int)(ctx % CONNECT_UNIX));
  int err = luaioL_resumeerr(L);
  luaio_stream_t *s;
  lua_pushcfunction(L, pushpair_p);
  if (lua_pcall(L, 0, 2, 0) != LUA_OK) {
    /* No boxes: the connection would stay open, found by nobody. */
    if (luaio_stream_connect_finish(w->fut, err, &s) == 0) {
      luaio_stream_abort(s);
      luaio_stream_unref(s);
    }
    return lua_error(L);
  }
  const char *fname =
      ctx >= CONNECT_UNIX ? "open_unix_connection" : "open_connection";
  int rc = luaio_stream_connect_finish(w->fut, err, &s);
  if (rc != 0)
    return luaioL_raisewait(L, rc, fname);
  uint32_t scope = luaioL_curscope(luaioL_runtime_of(L));
  if (scope != 0 && !luaioL_scope_open(L, scope)) {
    /* Closed while it connected: the connection would join nothing. */
    luaio_stream_abort(s);
    luaio_stream_unref(s);
    return luaL_error(L, "%s: the scope is closed", fname);
  }
  setpair(L, s);
  if (luaioL_runtime_of(L)->debug)
    pairorigin(L, -1, ctx >= CONNECT_UNIX ? "Unix connection"
                      : lua_isnil(L, 4)   ? "TCP connection"
                                          : "TLS connection");
  adopt_pair(L);
  if (!lua_isnil(L, 4)) /* ssl=: the context, at 4 */
    return tls_begin(L, s, luaioL_tlscontext(L, 4, 0, "open_connection"),
                     ctx >= CONNECT_UNIX ? tls_hostname(L, 3)
                                         : lua_tostring(L, 1),
                     tls_timeout(L, 3), tls_shutdown(L, 3),
                     ctx >= CONNECT_UNIX ? TLS_UNIX : TLS_CONNECT);
  return 2;
}

/* Reads the options {timeout=, limit=} at idx (a table or nothing). */
static void connect_opts(lua_State *L, int idx, double *timeout,
                         size_t *limit) {
  if (!lua_isnoneornil(L, idx))
    luaL_checktype(L, idx, LUA_TTABLE);
  *timeout = optfield(L, idx, "timeout", 0);
  *limit = (size_t)optfield(L, idx, "limit", 0);
}

/* Checks the TLS options of the options at 3 (a table or nil) for fname:
** leaves the client context opts.ssl asks for at 4 (or nil) and, when
** given, opts.server_hostname at 1 (the name TLS checks), what was there
** moving to 2. [-0, +0, e] */
static void connect_tls_opts(lua_State *L, const char *fname) {
  lua_settop(L, 3);
  if (!lua_istable(L, 3)) {
    lua_pushnil(L);
    return;
  }
  lua_getfield(L, 3, "ssl"); /* at 4 */
  if (luaioL_tlscontext(L, 4, 0, fname) == NULL)
    lua_pushnil(L), lua_replace(L, 4);
  if (tls_hostname(L, 3) != NULL) {
    lua_pushvalue(L, 1);
    lua_replace(L, 2); /* still anchored: it is being connected to */
    lua_getfield(L, 3, "server_hostname");
    lua_replace(L, 1);
  }
  tls_timeout(L, 3);
  tls_shutdown(L, 3);
}

/* Awaits the connection fut (NULL: out of memory) from slot 5, with
** the TLS context (or nil) at 4. */
static int connect_await(lua_State *L, lfuture *task, luaio_future_t *fut,
                         lua_KContext ctx) {
  if (fut == NULL)
    return luaL_error(L, "not enough memory");
  lua_settop(L, 4);
  luaioL_pushfuture(L, fut); /* owns fut; at 5 */
  return luaioL_await(L, task, fut, 5 + ctx, connect_k);
}

/* {======================================================================
** Pipes and the standard streams
** ======================================================================= */

/* Pushes the reader (or, with writable, the writer) of a new stream over
** fd. [-0, +1, e] */
static void pushfd(lua_State *L, luaio_loop_t *loop, int fd, int writable,
                   size_t limit, const char *fname) {
  pushpair(L);
  luaio_stream_t *s;
  int rc = luaio_stream_open_fd(loop, fd, writable, limit, &s);
  if (rc != 0)
    luaioL_check(L, rc, fname);
  setpair(L, s);
  if (strncmp(fname, "connect_", 8) == 0) /* stdin() and the rest: shared */
    adopt_pair(L);
  if (!writable)
    lua_pop(L, 1);
  else
    lua_remove(L, -2);
}

static int checkfd(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  luaL_argcheck(L, fd >= 0 && fd <= INT_MAX, 1, "a file descriptor expected");
  return (int)fd;
}

/* connect_read_pipe(fd [, {limit=}]) */
static int lstream_connect_read_pipe(lua_State *L) {
  luaio_loop_t *loop = luaioL_checkloop(L, "connect_read_pipe");
  int fd = checkfd(L);
  double timeout;
  size_t limit;
  connect_opts(L, 2, &timeout, &limit);
  checkscope(L, "connect_read_pipe");
  pushfd(L, loop, fd, 0, limit, "connect_read_pipe");
  pairorigin(L, -1, "read pipe");
  return 1;
}

/* connect_write_pipe(fd) */
static int lstream_connect_write_pipe(lua_State *L) {
  luaio_loop_t *loop = luaioL_checkloop(L, "connect_write_pipe");
  int fd = checkfd(L);
  checkscope(L, "connect_write_pipe");
  pushfd(L, loop, fd, 1, 0, "connect_write_pipe");
  pairorigin(L, -1, "write pipe");
  return 1;
}

/* The reader of fd 0 or writer of fd 1 or 2, made once per loop and
** made again once closed. */
static int stdio(lua_State *L, int fd, const char *fname) {
  luaio_loop_t *loop = luaioL_checkloop(L, fname);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &STDIO_KEY);
  lua_rawgeti(L, -1, fd + 3); /* the loop it was made on */
  if (lua_touserdata(L, -1) == (void *)loop) {
    lua_rawgeti(L, -2, fd);
    lstream *ls = lua_touserdata(L, -1);
    if (ls != NULL && ls->s != NULL && !luaio_stream_is_closing(ls->s) &&
        !(fd == 0 && luaio_stream_at_eof(ls->s)))
      return 1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  pushfd(L, loop, fd, fd != 0, 0, fname);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, fd);
  lua_pushlightuserdata(L, loop);
  lua_rawseti(L, -3, fd + 3);
  return 1;
}

static int lstream_stdin(lua_State *L) {
  return stdio(L, 0, "stdin");
}

static int lstream_stdout(lua_State *L) {
  return stdio(L, 1, "stdout");
}

static int lstream_stderr(lua_State *L) {
  return stdio(L, 2, "stderr");
}

/* }====================================================================== */

/* open_connection(host, port [, {timeout=, limit=, ssl=,
** server_hostname=, ssl_handshake_timeout=, ssl_shutdown_timeout=}]) */
static int lstream_open_connection(lua_State *L) {
  luaio_loop_t *loop = luaioL_checkloop(L, "open_connection");
  const char *host = luaioL_tocstring(L, 1, 1, NULL);
  int port = checkport(L, 2);
  double timeout;
  size_t limit;
  connect_opts(L, 3, &timeout, &limit);
  connect_tls_opts(L, "open_connection");
  lfuture *task = luaioL_checktask(L, "open_connection");
  checkscope(L, "open_connection");
  return connect_await(L, task,
                       luaio_stream_connect(loop, host, port, timeout, limit),
                       0);
}

/* open_unix_connection(path [, {timeout=, limit=, ssl=, server_hostname=,
** ssl_handshake_timeout=, ssl_shutdown_timeout=}]) */
static int lstream_open_unix_connection(lua_State *L) {
  luaio_loop_t *loop = luaioL_checkloop(L, "open_unix_connection");
  const char *path = luaioL_tocstring(L, 1, 1, NULL);
  double timeout;
  size_t limit;
  connect_opts(L, 2, &timeout, &limit);
  tls_hostname(L, 2); /* checked here, where they are argument 2 */
  tls_timeout(L, 2);
  tls_shutdown(L, 2);
  lua_settop(L, 2);
  lua_pushnil(L);
  lua_insert(L, 2); /* path nil opts: as open_connection's stack */
  connect_tls_opts(L, "open_unix_connection");
  lfuture *task = luaioL_checktask(L, "open_unix_connection");
  checkscope(L, "open_unix_connection");
  return connect_await(
      L, task, luaio_stream_connect_unix(loop, path, timeout, limit),
      CONNECT_UNIX);
}

static int getaddrinfo_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lfuture *w = lua_touserdata(L, (int)ctx);
  const luaio_addrinfo_t *list;
  size_t n;
  int rc = luaio_getaddrinfo_finish(w->fut, luaioL_resumeerr(L), &list, &n);
  if (rc != 0)
    return luaioL_raisewait(L, rc, "getaddrinfo");
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, list[i].family == AF_INET6 ? "inet6" : "inet");
    lua_setfield(L, -2, "family");
    lua_pushstring(L, list[i].addr);
    lua_setfield(L, -2, "addr");
    lua_pushinteger(L, list[i].port);
    lua_setfield(L, -2, "port");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* getaddrinfo(host, port) */
static int lstream_getaddrinfo(lua_State *L) {
  luaio_loop_t *loop = luaioL_checkloop(L, "getaddrinfo");
  const char *host = luaioL_tocstring(L, 1, 1, NULL);
  int port = (int)luaL_optinteger(L, 2, 0);
  luaL_argcheck(L, port >= 0 && port <= 65535, 2, "port out of range");
  lfuture *task = luaioL_checktask(L, "getaddrinfo");
  lua_settop(L, 2);
  luaio_future_t *fut = luaio_getaddrinfo(loop, host, port, 0);
  if (fut == NULL)
    return luaL_error(L, "not enough memory");
  luaioL_pushfuture(L, fut); /* owns fut; at 3 */
  return luaioL_await(L, task, fut, 3, getaddrinfo_k);
}

/* }====================================================================== */

/* {======================================================================
** Servers
** ======================================================================= */

typedef struct {
  lserver *ls;
  luaio_stream_t *conn; /* owned until put in a box */
} lconn;

/* As asyncio: a handler that fails or is cancelled closes its
** connection, so that the client is not left waiting. */
static void handler_done(luaio_future_t *fut, void *arg) {
  if (luaio_future_state(fut) != LUAIO_RESOLVED)
    luaio_stream_close(arg);
}

static void handler_fin(void *arg) {
  luaio_stream_unref(arg);
}

/* Starts handler(reader, writer) as a task. [-0, +0, e] */
static int spawn_handler(lua_State *L) {
  lconn *c = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->ls->pin);
  int nargs = 2;
  if (lua_getiuservalue(L, -1, 2) != LUA_TNIL) { /* ssl= */
    lua_pushcfunction(L, tls_serve);
    lua_insert(L, -2);
    lua_pushnumber(L, c->ls->tls_timeout);
    lua_pushnumber(L, c->ls->tls_shutdown);
    nargs = 6;
    lua_getiuservalue(L, -5, 1); /* the handler */
  } else {
    lua_pop(L, 1);
    lua_getiuservalue(L, -1, 1); /* the handler */
  }
  pushpair(L);
  luaio_stream_t *s = c->conn;
  luaio_stream_ref(s);
  setpair(L, s); /* the boxes own that reference; c keeps its own */
  if (c->ls->rt->norigins > 0) { /* debug mode: the server's origin */
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ls->pin);
    luaioL_copyorigin(L, -1, -2, "connection accepted by the server");
    lua_pop(L, 1);
    lua_getiuservalue(L, -1, 1);
    luaioL_copyorigin(L, -2, -1, NULL);
    lua_pop(L, 1);
  }
  adopt_pair(L); /* the server's scope, which on_connection set */
  lfuture *task = luaioL_spawn(L, nargs, 0); /* on error, c's aborts it */
  task->handler = 1; /* its failure is reported at once */
  c->conn = NULL; /* c's reference goes to the done callback */
  if (task->fut == NULL ||
      luaio_future_add_done_cb(task->fut, handler_done, s, handler_fin) != 0)
    luaio_stream_unref(s); /* out of memory: closed when collected */
  return 0;
}

static void on_connection(luaio_server_t *srv, luaio_stream_t *conn,
                          void *arg) {
  lconn c = {arg, conn};
  luaioL_runtime *rt = c.ls->rt;
  lua_State *L = rt->L;
  (void)srv;
  luaL_checkstack(L, LUA_MINSTACK, NULL);
  uint32_t outer = rt->scope;
  rt->scope = c.ls->scope; /* the handler runs where the server was made */
  lua_pushcfunction(L, spawn_handler);
  lua_pushlightuserdata(L, &c);
  luaioL_pcallreport(L, 1, "start_server: cannot start a handler");
  rt->scope = outer;
  if (c.conn != NULL) { /* the error came before the boxes owned it */
    luaio_stream_abort(c.conn);
    luaio_stream_unref(c.conn);
  }
}

/* Raises the error that the code at 1 stands for. */
static int accept_raise(lua_State *L) {
  return luaioL_check(L, (int)lua_tointeger(L, 1), "accept");
}

/* Stack: the server (light userdata), the code. As asyncio's loop does
** with "socket.accept() out of system resource", the failure goes to the
** exception handler, and the server goes on. [-0, +0, m] */
static int accept_failed_p(lua_State *L) {
  lserver *ls = lua_touserdata(L, 1);
  lua_createtable(L, 0, 3);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ls->pin);
  lua_pushfstring(L, "accept failed on server %s",
                  luaL_tolstring(L, -1, NULL));
  lua_setfield(L, 3, "message");
  lua_pop(L, 1);
  lua_setfield(L, 3, "server");
  lua_pushcfunction(L, accept_raise);
  lua_pushvalue(L, 2);
  lua_pcall(L, 1, 0, 0); /* the error, with its code */
  lua_pushvalue(L, -1);
  lua_setfield(L, 3, "error");
  lua_setfield(L, 3, "exception");
  luaioL_queuecontext(L, 3);
  return 0;
}

static void on_accept_error(luaio_server_t *srv, int err, void *arg) {
  lserver *ls = arg;
  lua_State *L = ls->rt->L;
  (void)srv;
  if (ls->pin == LUA_NOREF || !lua_checkstack(L, 3))
    return;
  lua_pushcfunction(L, accept_failed_p);
  lua_pushlightuserdata(L, ls);
  lua_pushinteger(L, err);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) { /* out of memory */
    fprintf(stderr, "luaio: accept failed on a server (%s); cannot report "
                    "it: %s\n", luaio_err_name(err), lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

static void server_unpin(lua_State *L, lserver *ls) {
  luaL_unref(L, LUA_REGISTRYINDEX, ls->pin);
  ls->pin = LUA_NOREF;
}

/* Listens on every address of list, all on the first one's port (a
** free one when that is 0), as asyncio does. An address of a family the
** host cannot bind (no IPv6, say) is skipped while another one listens.
** Returns 0 or the error. */
static int listen_all(luaio_server_t *srv, const luaio_addrinfo_t *list,
                      size_t n, int backlog, int serving) {
  int first_err = UV_EAI_NONAME, nlistening = 0;
  for (size_t i = 0; i < n; i++) {
    struct sockaddr_storage sa = list[i].sa;
    int port = luaio_server_port(srv);
    if (port >= 0 && sa.ss_family == AF_INET)
      ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);
    else if (port >= 0 && sa.ss_family == AF_INET6)
      ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)port);
    int rc = luaio_server_listen(srv, (const struct sockaddr *)&sa, backlog,
                                 serving);
    if (rc == 0)
      nlistening++;
    else if (rc != UV_EAFNOSUPPORT && rc != UV_EADDRNOTAVAIL)
      return rc;
    else if (first_err == UV_EAI_NONAME)
      first_err = rc; /* skipped; raised if no address listens */
  }
  return nlistening > 0 ? 0 : first_err;
}

/* Listens on the addresses of list (n of them), or on the Unix-domain
** socket at path, with the options at 4 (backlog=, start_serving=,
** reuse_port=); pushes the server, the box at 5, or raises. */
static int server_listen(lua_State *L, const luaio_addrinfo_t *list,
                         size_t n, const char *path, const char *fname) {
  lserver *ls = lua_touserdata(L, 5);
  int backlog = (int)optfield(L, 4, "backlog", 100);
  int serving = 1, reuse_port = 0;
  if (lua_istable(L, 4)) {
    if (lua_getfield(L, 4, "start_serving") != LUA_TNIL)
      serving = lua_toboolean(L, -1);
    reuse_port = lua_getfield(L, 4, "reuse_port") != LUA_TNIL &&
                 lua_toboolean(L, -1);
    lua_pop(L, 2);
  }
  luaio_server_set_reuse_port(ls->srv, reuse_port);
  /* Tracked and pinned before it listens: memory running out here must
  ** not leave a socket listening that closing the loop cannot find. */
  lua_pushvalue(L, 5);
  track(L);
  if (ls->scope != 0)
    luaioL_scope_adopt(L, ls->scope, -1, 0); /* pinned while it listens */
  ls->pin = luaL_ref(L, LUA_REGISTRYINDEX); /* while it listens */
  int rc = path != NULL
               ? luaio_server_listen_unix(ls->srv, path, backlog, serving)
               : listen_all(ls->srv, list, n, backlog, serving);
  if (rc != 0) {
    luaio_server_close(ls->srv);
    server_unpin(L, ls);
    return luaioL_check(L, rc, fname);
  }
  luaioL_setorigin(L, 5, path != NULL ? "Unix server" : "server");
  lua_pushvalue(L, 5);
  return 1;
}

/* Stack: handler host port opts server lookup. */
static int start_server_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  lfuture *w = lua_touserdata(L, 6);
  const luaio_addrinfo_t *list;
  size_t n;
  int rc = luaio_getaddrinfo_finish(w->fut, luaioL_resumeerr(L), &list, &n);
  if (rc != 0)
    return luaioL_raisewait(L, rc, "start_server");
  return server_listen(L, list, n, NULL, "start_server");
}

/* Checks the options at 4 and pushes a server box for the handler at 1,
** not listening yet. [-0, +1, e] */
static lserver *newserver(lua_State *L, luaio_loop_t *loop,
                          const char *fname) {
  if (!lua_isnoneornil(L, 4))
    luaL_checktype(L, 4, LUA_TTABLE);
  checkscope(L, fname);
  uint32_t scope = luaioL_curscope(luaioL_runtime_of(L));
  double limit = optfield(L, 4, "limit", 0);
  optfield(L, 4, "backlog", 100);
  lua_settop(L, 4);
  lserver *ls = lua_newuserdatauv(L, sizeof *ls, 2); /* at 5 */
  ls->srv = NULL;
  ls->rt = luaioL_runtime_of(L);
  ls->pin = LUA_NOREF;
  ls->scope = scope;
  ls->tls_timeout = ls->tls_shutdown = 0;
  luaL_setmetatable(L, SERVER_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 5, 1);
  if (lua_istable(L, 4)) { /* ssl=: the context is user value 2 */
    lua_getfield(L, 4, "ssl");
    if (luaioL_tlscontext(L, -1, 1, fname) != NULL) {
      ls->tls_timeout = tls_timeout(L, 4);
      ls->tls_shutdown = tls_shutdown(L, 4);
    }
    lua_setiuservalue(L, 5, 2);
  }
  ls->srv = luaio_server_new(loop, on_connection, ls, (size_t)limit);
  if (ls->srv == NULL)
    luaL_error(L, "not enough memory");
  luaio_server_on_accept_error(ls->srv, on_accept_error);
  return ls;
}

/* start_server(handler, host, port [, {limit=, backlog=, start_serving=,
** reuse_port=, ssl=, ssl_handshake_timeout=, ssl_shutdown_timeout=}]) */
static int lstream_start_server(lua_State *L) {
  luaio_loop_t *loop = luaioL_checkloop(L, "start_server");
  luaL_checktype(L, 1, LUA_TFUNCTION);
  const char *host =
      lua_isnoneornil(L, 2) ? NULL : luaioL_tocstring(L, 2, 2, NULL);
  int port = checkport(L, 3);
  lfuture *task = luaioL_checktask(L, "start_server");
  newserver(L, loop, "start_server");
  luaio_future_t *fut = luaio_getaddrinfo(loop, host, port, host == NULL);
  if (fut == NULL)
    return luaL_error(L, "not enough memory");
  luaioL_pushfuture(L, fut); /* owns fut; at 6 */
  return luaioL_await(L, task, fut, 0, start_server_k);
}

/* start_unix_server(handler, path [, {limit=, backlog=, start_serving=,
** ssl=, ssl_handshake_timeout=, ssl_shutdown_timeout=}]) */
static int lstream_start_unix_server(lua_State *L) {
  luaio_loop_t *loop = luaioL_checkloop(L, "start_unix_server");
  luaL_checktype(L, 1, LUA_TFUNCTION);
  const char *path = luaioL_tocstring(L, 2, 2, NULL);
  if (!lua_isnoneornil(L, 3))
    luaL_checktype(L, 3, LUA_TTABLE);
  /* Checked here, where the options are argument 3. */
  optfield(L, 3, "limit", 0);
  optfield(L, 3, "backlog", 100);
  tls_timeout(L, 3);
  tls_shutdown(L, 3);
  lua_settop(L, 3);
  lua_pushnil(L);
  lua_insert(L, 3); /* handler path nil opts, as start_server's */
  newserver(L, loop, "start_unix_server");
  return server_listen(L, NULL, 0, path, "start_unix_server");
}

/* sockets(): the addresses the server listens on, as get_extra_info's
** "sockname" ({host, port} tables, or a Unix-domain socket's path). */
static int lserver_sockets(lua_State *L) {
  lserver *ls = checkserver(L);
  char host[ADDR_SIZE];
  int port;
  lua_newtable(L);
  for (size_t i = 0;
       luaio_server_sockname(ls->srv, i, host, sizeof host, &port) == 0; i++) {
    pushaddr(L, 0, host, port);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static int lserver_port(lua_State *L) {
  lserver *ls = checkserver(L);
  int port = luaio_server_port(ls->srv);
  if (port < 0)
    lua_pushnil(L);
  else
    lua_pushinteger(L, port);
  return 1;
}

static int lserver_close(lua_State *L) {
  lserver *ls = checkserver(L);
  luaio_server_close(ls->srv);
  server_unpin(L, ls);
  return 0;
}

static int lserver_is_serving(lua_State *L) {
  lua_pushboolean(L, luaio_server_is_serving(checkserver(L)->srv));
  return 1;
}

static int lserver_start_serving(lua_State *L) {
  luaio_server_start_serving(checkserver(L)->srv);
  return 0;
}

static int lserver_wait_closed(lua_State *L) {
  lserver *ls = checkserver(L);
  lua_settop(L, 1);
  luaio_future_t *fut;
  luaioL_check(L, luaio_server_wait_closed(ls->srv, &fut), "wait_closed");
  if (fut == NULL)
    return 0;
  luaioL_pushfuture(L, fut); /* owns fut; at 2 */
  lfuture *task = luaioL_checktask(L, "wait_closed");
  return luaioL_await(L, task, fut, 2, closed_k);
}

static int serve_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  lserver *ls = lua_touserdata(L, 1);
  lfuture *w = lua_touserdata(L, 2);
  int err = luaioL_resumeerr(L);
  if (err == 0 && !luaio_future_done(w->fut))
    err = LUAIO_ECANCELLED;
  if (err == 0)
    err = luaio_future_error(w->fut);
  if (err != 0) {
    /* As asyncio: a cancelled serve_forever closes the server. */
    luaio_future_cancel(w->fut, NULL);
    luaio_server_close(ls->srv);
    server_unpin(L, ls);
    return luaioL_raisewait(L, err, "serve_forever");
  }
  /* As asyncio, whose close() cancels serve_forever's future. */
  return luaioL_raise(L, LUAIO_ECANCELLED,
                      "serve_forever: the server was closed");
}

/* Serves until the server is closed (then raises CancelledError, as
** asyncio), or closes it when cancelled. */
static int lserver_serve_forever(lua_State *L) {
  lserver *ls = checkserver(L);
  lua_settop(L, 1);
  if (luaio_server_is_closing(ls->srv))
    return luaL_error(L, "serve_forever: the server is closed");
  luaio_server_start_serving(ls->srv);
  luaio_future_t *fut;
  luaioL_check(L, luaio_server_wait_closed(ls->srv, &fut), "serve_forever");
  if (fut == NULL)
    return 0;
  luaioL_pushfuture(L, fut); /* owns fut; at 2 */
  lfuture *task = luaioL_checktask(L, "serve_forever");
  return luaioL_await(L, task, fut, 0, serve_k);
}

static int lserver__gc(lua_State *L) {
  lserver *ls = lua_touserdata(L, 1);
  if (ls->srv != NULL) {
    if (!luaio_server_is_closing(ls->srv))
      luaioL_unclosed(L, 1, ORIGIN_DROPPED);
    luaio_server_close(ls->srv);
    luaio_server_unref(ls->srv);
    ls->srv = NULL;
  }
  return 0;
}

static int lserver__close(lua_State *L) {
  lserver *ls = luaioL_checkobject(L, SERVER_MT);
  if (ls->srv != NULL) {
    luaio_server_close(ls->srv);
    server_unpin(L, ls);
  }
  return 0;
}

/* __scope(server, what): its scope closes; it stops listening at once,
** so that no new connection comes. */
static int lserver__scope(lua_State *L) {
  lserver *ls = luaioL_scopeself(L, SERVER_MT, "cancel");
  if (ls != NULL && ls->srv != NULL) {
    luaio_server_close(ls->srv);
    server_unpin(L, ls);
  }
  return 0;
}

static int lserver__tostring(lua_State *L) {
  lserver *ls = luaioL_checkobject(L, SERVER_MT);
  int port = ls->srv != NULL ? luaio_server_port(ls->srv) : -1;
  char path[ADDR_SIZE];
  const char *closed =
      ls->srv == NULL || luaio_server_is_closing(ls->srv) ? ", closed" : "";
  if (port < 0 && ls->srv != NULL &&
      luaio_server_sockname(ls->srv, 0, path, sizeof path, &port) == 0 &&
      port < 0)
    lua_pushfstring(L, "%s (%s%s)", SERVER_MT, path, closed);
  else
    lua_pushfstring(L, "%s (port %d%s)", SERVER_MT, port, closed);
  return 1;
}

/* _stream_memory(): a debug aid, the bytes the running loop's streams
** hold in their own input buffers, and in the buffers they share. */
static int lstream__stream_memory(lua_State *L) {
  luaio_loop_t *loop = luaioL_checkloop(L, "_stream_memory");
  size_t shared;
  lua_pushinteger(L, (lua_Integer)luaio_stream_memory(loop, &shared));
  lua_pushinteger(L, (lua_Integer)shared);
  return 2;
}

/* }====================================================================== */

int luaioL_close_streams(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &STREAMS_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    if (luaL_testudata(L, -1, SERVER_MT) != NULL) {
      lserver *ls = lua_touserdata(L, -1);
      if (ls->srv != NULL) {
        if (!luaio_server_is_closing(ls->srv))
          luaioL_unclosed(L, -1, ORIGIN_AT_CLOSE);
        luaio_server_close(ls->srv);
        server_unpin(L, ls);
      }
    } else {
      lstream *ls = lua_touserdata(L, -1);
      if (ls->s != NULL) {
        if (!luaio_stream_is_closing(ls->s))
          luaioL_unclosed(L, -1, ORIGIN_AT_CLOSE);
        luaio_stream_abort(ls->s);
      }
    }
  }
  lua_pop(L, 1);
  return 0;
}

static const luaL_Reg lstream_funcs[] = {
    {"open_connection", lstream_open_connection},
    {"start_server", lstream_start_server},
    {"open_unix_connection", lstream_open_unix_connection},
    {"start_unix_server", lstream_start_unix_server},
    {"getaddrinfo", lstream_getaddrinfo},
    {"connect_read_pipe", lstream_connect_read_pipe},
    {"connect_write_pipe", lstream_connect_write_pipe},
    {"stdin", lstream_stdin},
    {"stdout", lstream_stdout},
    {"stderr", lstream_stderr},
    {"StreamReader", lreader_new},
    {"_stream_memory", lstream__stream_memory},
    {NULL, NULL}};

static const luaL_Reg lreader_methods[] = {{"read", lreader_read},
                                           {"readline", lreader_readline},
                                           {"readexactly", lreader_readexactly},
                                           {"readuntil", lreader_readuntil},
                                           {"at_eof", lreader_at_eof},
                                           {"feed_data", lreader_feed_data},
                                           {"feed_eof", lreader_feed_eof},
                                           {NULL, NULL}};

static const luaL_Reg lreader_meta[] = {
    {"__gc", lstream__gc}, {"__tostring", lreader__tostring}, {NULL, NULL}};

static const luaL_Reg lwriter_methods[] = {
    {"write", lwriter_write},
    {"writelines", lwriter_writelines},
    {"drain", lwriter_drain},
    {"write_eof", lwriter_write_eof},
    {"can_write_eof", lwriter_can_write_eof},
    {"close", lwriter_close},
    {"abort", lwriter_abort},
    {"is_closing", lwriter_is_closing},
    {"wait_closed", lwriter_wait_closed},
    {"get_extra_info", lwriter_get_extra_info},
    {"start_tls", lwriter_start_tls},
    {"get_write_buffer_size", lwriter_get_write_buffer_size},
    {"set_write_buffer_limits", lwriter_set_write_buffer_limits},
    {NULL, NULL}};

static const luaL_Reg lwriter_meta[] = {{"__gc", lstream__gc},
                                        {"__close", lwriter__close},
                                        {"__scope", lstream__scope},
                                        {"__tostring", lwriter__tostring},
                                        {NULL, NULL}};

static const luaL_Reg lserver_methods[] = {
    {"port", lserver_port},
    {"sockets", lserver_sockets},
    {"close", lserver_close},
    {"wait_closed", lserver_wait_closed},
    {"serve_forever", lserver_serve_forever},
    {"start_serving", lserver_start_serving},
    {"is_serving", lserver_is_serving},
    {NULL, NULL}};

static const luaL_Reg lserver_meta[] = {{"__gc", lserver__gc},
                                        {"__close", lserver__close},
                                        {"__scope", lserver__scope},
                                        {"__tostring", lserver__tostring},
                                        {NULL, NULL}};

void luaioL_open_stream(lua_State *L) {
  luaioL_setfuncs(L, lstream_funcs);
  luaioL_newclass(L, READER_MT, lreader_methods, lreader_meta);
  luaioL_newclass(L, WRITER_MT, lwriter_methods, lwriter_meta);
  luaioL_newclass(L, SERVER_MT, lserver_methods, lserver_meta);
  luaioL_newweakset(L, &STREAMS_KEY); /* open stream and server boxes */
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &STDIO_KEY);
}
