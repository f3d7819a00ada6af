/*
** ltls.c - asyncio.ssl: TLS contexts (asyncio's ssl.SSLContext) for the
** ssl= option of open_connection and start_server, and writer:start_tls.
**
**   asyncio.ssl.create_default_context([{server=, cafile=, capath=,
**     certfile=, keyfile=, check_hostname=, verify=, alpn_protocols=}])
**     -> SSLContext
**   ctx:set_alpn_protocols(list)
**   ctx:load_cert_chain(certfile [, keyfile])
**   ctx:load_verify_locations([cafile [, capath]])
*/
#include <string.h>

#include "lbind.h"

#define CONTEXT_MT "asyncio.SSLContext"

typedef struct {
  luaio_tls_ctx_t *ctx; /* owns one reference */
} lcontext;

/* The registry's key for the context of ssl = true. */
#define DEFAULT_CONTEXT "asyncio.ssl.default_context"

/* The context of the box at idx, known to be one. */
static luaio_tls_ctx_t *context_at(lua_State *L, int idx) {
  return ((lcontext *)lua_touserdata(L, idx))->ctx;
}

static luaio_tls_ctx_t *checkcontext(lua_State *L) {
  return ((lcontext *)luaioL_checkobject(L, CONTEXT_MT))->ctx;
}

/* Raises "fname: msg" for a context that could not load a file. */
static int load_error(lua_State *L, int rc, const char *fname,
                      const char *msg) {
  if (rc == LUAIO_ETLS)
    return luaL_error(L, "%s: %s", fname, msg);
  return luaioL_check(L, rc, fname);
}

/* The string field name of the table at idx, or NULL. */
static const char *optstring(lua_State *L, int idx, const char *name) {
  if (lua_getfield(L, idx, name) == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    luaL_argerror(L, idx,
                  lua_pushfstring(L, "opts.%s must be a string", name));
  const char *s = lua_tostring(L, -1);
  lua_pop(L, 1); /* the table keeps it */
  return s;
}

/* The boolean field name of the table at idx, or def. */
static int optbool(lua_State *L, int idx, const char *name, int def) {
  int t = lua_getfield(L, idx, name);
  int v = t == LUA_TNIL ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

#define ALPN_MAX 32 /* protocols in one list */

/* Sets the ALPN list at idx (a sequence of strings) on ctx; arg names it
** in errors. [-0, +0, v] */
static void setalpn(lua_State *L, luaio_tls_ctx_t *ctx, int idx, int arg,
                    const char *fname) {
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  const char *protos[ALPN_MAX];
  lua_Integer n = luaL_len(L, idx);
  luaL_argcheck(L, n <= ALPN_MAX, arg, "too many ALPN protocols");
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, idx, i);
    protos[i - 1] = luaioL_tocstring(L, -1, arg, "element %d", (int)i);
    lua_pop(L, 1); /* the table keeps it */
  }
  int rc = luaio_tls_ctx_set_alpn(ctx, protos, (size_t)n);
  if (rc == LUAIO_EINVAL)
    luaL_argerror(L, arg, "ALPN protocols are 1 to 255 bytes");
  luaioL_check(L, rc, fname);
}

/* Pushes a new context box with asyncio's defaults. [-0, +1, m] */
static luaio_tls_ctx_t *newcontext(lua_State *L, int server) {
  lcontext *lc = lua_newuserdatauv(L, sizeof *lc, 0);
  lc->ctx = NULL;
  luaL_setmetatable(L, CONTEXT_MT);
  int err;
  lc->ctx = luaio_tls_ctx_new(server, &err);
  if (lc->ctx == NULL && err == UV_ENOTSUP)
    luaL_error(L, "create_default_context: %s", luaio_tls_unavailable());
  if (lc->ctx == NULL)
    luaioL_check(L, err, "create_default_context");
  return lc->ctx;
}

/* create_default_context([opts]) */
static int ltls_create_default_context(lua_State *L) {
  const char *fname = "create_default_context";
  lua_settop(L, 1);
  if (!lua_isnil(L, 1))
    luaL_checktype(L, 1, LUA_TTABLE);
  else
    lua_newtable(L), lua_replace(L, 1);
  int server = optbool(L, 1, "server", 0);
  const char *cafile = optstring(L, 1, "cafile");
  const char *capath = optstring(L, 1, "capath");
  const char *certfile = optstring(L, 1, "certfile");
  const char *keyfile = optstring(L, 1, "keyfile");
  int verify = optbool(L, 1, "verify", !server);
  int check_hostname = optbool(L, 1, "check_hostname", verify && !server);
  if (check_hostname && !verify)
    return luaL_argerror(L, 1, "check_hostname needs verify");
  luaio_tls_ctx_t *ctx = newcontext(L, server);
  /* As Python's: the system's store only when no CA is given. */
  luaio_tls_ctx_set_default_cas(ctx, cafile == NULL && capath == NULL);
  luaio_tls_ctx_set_verify(ctx, verify, check_hostname);
  if (lua_getfield(L, 1, "alpn_protocols") != LUA_TNIL)
    setalpn(L, ctx, -1, 1, fname);
  lua_pop(L, 1);
  char msg[256];
  int rc = luaio_tls_ctx_load_verify_locations(ctx, cafile, capath, msg,
                                               sizeof msg);
  if (rc == 0 && certfile != NULL)
    rc = luaio_tls_ctx_load_cert_chain(ctx, certfile, keyfile, msg,
                                       sizeof msg);
  else if (rc == 0 && keyfile != NULL)
    return luaL_argerror(L, 1, "opts.keyfile needs opts.certfile");
  if (rc != 0)
    return load_error(L, rc, fname, msg);
  return 1;
}

/* ctx:set_alpn_protocols(list) */
static int lcontext_set_alpn_protocols(lua_State *L) {
  setalpn(L, checkcontext(L), 2, 2, "set_alpn_protocols");
  return 0;
}

/* ctx:load_cert_chain(certfile [, keyfile]) */
static int lcontext_load_cert_chain(lua_State *L) {
  luaio_tls_ctx_t *ctx = checkcontext(L);
  const char *certfile = luaioL_tocstring(L, 2, 2, NULL);
  const char *keyfile =
      lua_isnoneornil(L, 3) ? NULL : luaioL_tocstring(L, 3, 3, NULL);
  char msg[256];
  int rc =
      luaio_tls_ctx_load_cert_chain(ctx, certfile, keyfile, msg, sizeof msg);
  if (rc != 0)
    return load_error(L, rc, "load_cert_chain", msg);
  return 0;
}

/* ctx:load_verify_locations([cafile [, capath]]) */
static int lcontext_load_verify_locations(lua_State *L) {
  luaio_tls_ctx_t *ctx = checkcontext(L);
  const char *cafile =
      lua_isnoneornil(L, 2) ? NULL : luaioL_tocstring(L, 2, 2, NULL);
  const char *capath =
      lua_isnoneornil(L, 3) ? NULL : luaioL_tocstring(L, 3, 3, NULL);
  if (cafile == NULL && capath == NULL)
    return luaL_error(L, "load_verify_locations: cafile or capath expected");
  char msg[256];
  int rc = luaio_tls_ctx_load_verify_locations(ctx, cafile, capath, msg,
                                               sizeof msg);
  if (rc != 0)
    return load_error(L, rc, "load_verify_locations", msg);
  return 0;
}

static int lcontext__gc(lua_State *L) {
  lcontext *lc = lua_touserdata(L, 1);
  if (lc->ctx != NULL) {
    luaio_tls_ctx_unref(lc->ctx);
    lc->ctx = NULL;
  }
  return 0;
}

static int lcontext__tostring(lua_State *L) {
  lcontext *lc = lua_touserdata(L, 1);
  lua_pushfstring(L, "%s (%s, %p)", CONTEXT_MT,
                  lc->ctx != NULL && luaio_tls_ctx_is_server(lc->ctx)
                      ? "server"
                      : "client",
                  (void *)lc);
  return 1;
}

luaio_tls_ctx_t *luaioL_tlscontext(lua_State *L, int idx, int server,
                                   const char *fname) {
  int t = lua_type(L, idx);
  if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, idx)))
    return NULL;
  if (t == LUA_TBOOLEAN && server <= 0) {
    /* One default context per Lua state, made on first use: a client
    ** context loads the system's CA store, a bundle of a few hundred
    ** certificates, too costly to parse again for every connection.
    ** Nobody else holds it, so nobody changes it. */
    idx = lua_absindex(L, idx);
    if (lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_CONTEXT) == LUA_TNIL) {
      lua_pop(L, 1);
      newcontext(L, 0);
      lua_pushvalue(L, -1);
      lua_setfield(L, LUA_REGISTRYINDEX, DEFAULT_CONTEXT);
    }
    lua_replace(L, idx);
    return context_at(L, idx);
  }
  lcontext *lc = luaL_testudata(L, idx, CONTEXT_MT);
  if (lc == NULL || lc->ctx == NULL)
    luaL_error(L, "%s: opts.ssl must be %s", fname,
               server ? "an SSLContext" : "true or an SSLContext");
  if (server >= 0 && luaio_tls_ctx_is_server(lc->ctx) != server)
    luaL_error(L, "%s: opts.ssl must be a %s context", fname,
               server ? "server" : "client");
  return lc->ctx;
}

static const luaL_Reg ltls_funcs[] = {
    {"create_default_context", ltls_create_default_context}, {NULL, NULL}};

static const luaL_Reg lcontext_methods[] = {
    {"load_cert_chain", lcontext_load_cert_chain},
    {"load_verify_locations", lcontext_load_verify_locations},
    {"set_alpn_protocols", lcontext_set_alpn_protocols},
    {NULL, NULL}};

static const luaL_Reg lcontext_meta[] = {{"__gc", lcontext__gc},
                                         {"__tostring", lcontext__tostring},
                                         {NULL, NULL}};

/* asyncio.ssl's __index: "available" is found out (OpenSSL loaded) when
** first read, not at start, and kept. */
static int ltls__index(lua_State *L) {
  if (lua_type(L, 2) != LUA_TSTRING ||
      strcmp(lua_tostring(L, 2), "available") != 0)
    return 0;
  lua_pushboolean(L, luaio_tls_available());
  lua_pushvalue(L, -1);
  lua_setfield(L, 1, "available");
  return 1;
}

void luaioL_open_tls(lua_State *L) {
  lua_newtable(L); /* asyncio.ssl */
  luaioL_setfuncs(L, ltls_funcs);
  lua_newtable(L); /* its metatable */
  lua_pushcfunction(L, ltls__index);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "ssl");
  luaioL_newclass(L, CONTEXT_MT, lcontext_methods, lcontext_meta);
}
