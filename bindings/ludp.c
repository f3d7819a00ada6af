/*
** ludp.c - UDP endpoints: asyncio.open_datagram and the DatagramEndpoint
** (core/udp.c).
**
** asyncio's create_datagram_endpoint returns a transport and calls a
** protocol back; here, as for streams, the endpoint is one object whose
** recvfrom() waits, so the name differs: open_datagram, beside
** open_connection. Addresses are {host, port} tables with numeric hosts.
*/
#include <string.h>

#include "lbind.h"

#define ENDPOINT_MT "asyncio.DatagramEndpoint"

static const char ENDPOINTS_KEY = 'u'; /* registry: weak set of endpoints */

typedef struct {
  luaio_udp_t *u; /* owns one reference */
} ludp;

static luaio_udp_t *checkudp(lua_State *L) {
  ludp *lu = luaioL_checkobject(L, ENDPOINT_MT);
  if (lu->u == NULL)
    luaL_error(L, "attempt to use a collected endpoint");
  return lu->u;
}

/* Reads the {host, port} address at idx into sa; returns its family.
** [-0, +0, v] */
static int checkaddr(lua_State *L, int idx, const char *fname,
                     struct sockaddr_storage *sa) {
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_rawgeti(L, idx, 1);
  lua_rawgeti(L, idx, 2);
  const char *host = lua_tostring(L, -2);
  int isnum;
  lua_Integer port = lua_tointegerx(L, -1, &isnum);
  lua_pop(L, 2);
  if (host == NULL || !isnum || port < 0 || port > 65535)
    return luaL_argerror(L, idx,
                         lua_pushfstring(L, "%s: {host, port} expected", fname));
  memset(sa, 0, sizeof *sa);
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)sa) == 0)
    return AF_INET;
  if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)sa) == 0)
    return AF_INET6;
  return luaL_argerror(
      L, idx, lua_pushfstring(L, "%s: '%s' is not a numeric address", fname, host));
}

/* open_datagram(local, remote [, {broadcast=, queue=, family=}]) */
static int ludp_open_datagram(lua_State *L) {
  luaio_loop_t *loop = luaioL_checkloop(L, "open_datagram");
  uint32_t scope = luaioL_curscope(luaioL_rt(L));
  if (scope != 0)
    luaioL_scope_check(L, scope, "open_datagram");
  struct sockaddr_storage local, remote;
  int family = 0, rfamily = 0;
  int haslocal = !lua_isnoneornil(L, 1), hasremote = !lua_isnoneornil(L, 2);
  if (haslocal)
    family = checkaddr(L, 1, "open_datagram", &local);
  if (hasremote)
    rfamily = checkaddr(L, 2, "open_datagram", &remote);
  unsigned flags = 0;
  lua_Integer queue = 0;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    if (lua_getfield(L, 3, "broadcast") != LUA_TNIL && lua_toboolean(L, -1))
      flags |= LUAIO_UDP_BROADCAST;
    if (lua_getfield(L, 3, "queue") != LUA_TNIL) {
      queue = lua_tointeger(L, -1);
      luaL_argcheck(L, queue > 0, 3, "queue: a positive integer expected");
    }
    if (lua_getfield(L, 3, "family") != LUA_TNIL) {
      const char *f = lua_tostring(L, -1);
      if (f != NULL && strcmp(f, "inet6") == 0)
        rfamily = rfamily ? rfamily : AF_INET6;
      else if (f == NULL || strcmp(f, "inet") != 0)
        luaL_argerror(L, 3, "family: 'inet' or 'inet6' expected");
    }
    lua_pop(L, 3);
  }
  if (family != 0 && rfamily != 0 && family != rfamily)
    return luaL_error(L, "open_datagram: local and remote addresses of "
                         "different families");
  if (family == 0)
    family = rfamily != 0 ? rfamily : AF_INET;
  ludp *lu = lua_newuserdatauv(L, sizeof *lu, 0);
  lu->u = NULL;
  luaL_setmetatable(L, ENDPOINT_MT);
  luaio_udp_t *u;
  int rc = luaio_udp_open(loop, family,
                          haslocal ? (struct sockaddr *)&local : NULL,
                          hasremote ? (struct sockaddr *)&remote : NULL, flags,
                          (size_t)queue, &u);
  luaioL_check(L, rc, "open_datagram");
  lu->u = u;
  luaioL_setorigin(L, -1, "UDP endpoint");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ENDPOINTS_KEY);
  lua_pushvalue(L, -2);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  if (scope != 0)
    luaioL_scope_adopt(L, scope, -1, 0);
  return 1;
}

/* endpoint:sendto(data [, addr]) */
static int ludp_sendto(lua_State *L) {
  luaio_udp_t *u = checkudp(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  struct sockaddr_storage sa;
  int has = !lua_isnoneornil(L, 3);
  if (has)
    checkaddr(L, 3, "sendto", &sa);
  int rc = luaio_udp_sendto(u, data, len, has ? (struct sockaddr *)&sa : NULL);
  if (rc == LUAIO_EINVALSTATE)
    return luaL_error(L, "sendto: the endpoint is closed");
  luaioL_check(L, rc, "sendto");
  return 0;
}

static void pushhost(lua_State *L, const struct sockaddr_storage *sa) {
  char host[64];
  int port;
  if (sa->ss_family == AF_INET6) {
    uv_ip6_name((const struct sockaddr_in6 *)sa, host, sizeof host);
    port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  } else {
    uv_ip4_name((const struct sockaddr_in *)sa, host, sizeof host);
    port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
  }
  lua_pushstring(L, host);
  lua_pushinteger(L, port);
}

static int recv_k(lua_State *L, int status, lua_KContext ctx);

/* Stack: endpoint [waiter box]. */
static int recv_try(lua_State *L) {
  luaio_udp_t *u = ((ludp *)lua_touserdata(L, 1))->u;
  const char *data;
  size_t len;
  struct sockaddr_storage from;
  lua_settop(L, 1);
  int rc = luaio_udp_recv(u, &data, &len, &from);
  if (rc == UV_EAGAIN) {
    lfuture *task = luaioL_checktask(L, "recvfrom");
    luaio_future_t *fut;
    rc = luaio_udp_wait_recv(u, &fut);
    if (rc == LUAIO_EBUSY)
      return luaL_error(L, "recvfrom: another task is already waiting on "
                           "this endpoint");
    luaioL_check(L, rc, "recvfrom");
    luaioL_pushfuture(L, fut); /* owns fut; at 2 */
    return luaioL_await(L, task, fut, 0, recv_k);
  }
  if (rc == LUAIO_EINVALSTATE)
    return luaL_error(L, "recvfrom: the endpoint is closed");
  luaioL_check(L, rc, "recvfrom");
  lua_pushlstring(L, data, len);
  pushhost(L, &from);
  luaio_udp_consume(u);
  return 3;
}

static int recv_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  luaio_udp_t *u = ((ludp *)lua_touserdata(L, 1))->u;
  lfuture *w = lua_touserdata(L, 2);
  int rc = luaio_udp_wait_recv_finish(u, w->fut, luaioL_resumeerr(L));
  if (rc != 0)
    return luaioL_raisewait(L, rc, "recvfrom");
  return recv_try(L);
}

/* endpoint:recvfrom() -> data, host, port */
static int ludp_recvfrom(lua_State *L) {
  checkudp(L);
  return recv_try(L);
}

static int ludp_getsockname(lua_State *L) {
  luaio_udp_t *u = checkudp(L);
  char host[64];
  int port;
  int rc = luaio_udp_sockname(u, host, sizeof host, &port);
  if (rc == LUAIO_EINVALSTATE)
    return luaL_error(L, "getsockname: the endpoint is closed");
  luaioL_check(L, rc, "getsockname");
  lua_pushstring(L, host);
  lua_pushinteger(L, port);
  return 2;
}

static int ludp_dropped(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)luaio_udp_dropped(checkudp(L)));
  return 1;
}

static int ludp_close(lua_State *L) {
  luaio_udp_close(checkudp(L));
  return 0;
}

static int ludp_is_closing(lua_State *L) {
  lua_pushboolean(L, luaio_udp_is_closing(checkudp(L)));
  return 1;
}

/* __close, and __gc (closing): releases the endpoint. */
static void release(lua_State *L, ludp *lu, int closing) {
  if (lu->u != NULL) {
    if (!closing && !luaio_udp_is_closing(lu->u))
      luaioL_unclosed(L, 1, ORIGIN_DROPPED); /* debug mode: never closed */
    luaio_udp_close(lu->u);
    luaio_udp_unref(lu->u);
    lu->u = NULL;
  }
}

static int ludp__gc(lua_State *L) {
  release(L, lua_touserdata(L, 1), 0);
  return 0;
}

static int ludp__close(lua_State *L) {
  release(L, luaioL_checkobject(L, ENDPOINT_MT), 1);
  return 0;
}

static int ludp__tostring(lua_State *L) {
  lua_pushfstring(L, "%s (%p)", ENDPOINT_MT, lua_touserdata(L, 1));
  return 1;
}

int luaioL_close_udp(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ENDPOINTS_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    ludp *lu = lua_touserdata(L, -1);
    if (lu->u != NULL) {
      if (!luaio_udp_is_closing(lu->u))
        luaioL_unclosed(L, -1, ORIGIN_AT_CLOSE);
      luaio_udp_close(lu->u);
    }
  }
  lua_pop(L, 1);
  return 0;
}

static const luaL_Reg ludp_funcs[] = {{"open_datagram", ludp_open_datagram},
                                      {NULL, NULL}};

static const luaL_Reg ludp_methods[] = {{"sendto", ludp_sendto},
                                        {"recvfrom", ludp_recvfrom},
                                        {"getsockname", ludp_getsockname},
                                        {"dropped", ludp_dropped},
                                        {"close", ludp_close},
                                        {"is_closing", ludp_is_closing},
                                        {NULL, NULL}};

/* __scope(endpoint, what): its scope closes. */
static int ludp__scope(lua_State *L) {
  ludp *lu = luaioL_scopeself(L, ENDPOINT_MT, "close");
  if (lu != NULL && lu->u != NULL)
    luaio_udp_close(lu->u);
  return 0;
}

static const luaL_Reg ludp_meta[] = {{"__gc", ludp__gc},
                                     {"__close", ludp__close},
                                     {"__scope", ludp__scope},
                                     {"__tostring", ludp__tostring},
                                     {NULL, NULL}};

void luaioL_open_udp(lua_State *L) {
  luaioL_setfuncs(L, ludp_funcs);
  luaioL_newclass(L, ENDPOINT_MT, ludp_methods, ludp_meta);
  luaioL_newweakset(L, &ENDPOINTS_KEY); /* open endpoints */
}
