/*
** lsandbox.c - what a script may reach: the capabilities the asyncio
** module is opened with (and finer grants: directories, hosts), the
** sandbox preset of the standard library, asyncio.memory and the setup
** of to_thread's worker states.
**
** A policy is a C object, so that worker states on other threads can
** share it: the host fills it in before the module is opened, opening
** seals it, and from then on it is only read. Functions whose capability
** is missing are replaced, when the module opens, by one that raises an
** error naming the capability; functions with finer grants are wrapped
** by a guard that checks their arguments, then runs the original in the
** same call (it shares its upvalues), so a state opened with every
** capability runs the original functions untouched.
*/
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lbind.h"

static const char POLICY_KEY = 'p';

typedef struct {
  char *host; /* owns */
  int port;   /* 0: any */
} granthost;

struct luaioL_policy {
  atomic_int refs;
  unsigned caps;
  unsigned char granted; /* luaio_grant was called */
  unsigned char sealed;  /* the module was opened: read only from now */
  unsigned char sandbox; /* the standard library is the sandbox's */
  unsigned libs;         /* the standard libraries the state had open */
  char **dirs;           /* owns: resolved paths; NULL: anywhere */
  int ndirs;
  granthost *hosts; /* owns; NULL: any host */
  int nhosts;
  luaio_setup_cb setup;
  void *setup_ud;
};

/* {======================================================================
** Policies
** ======================================================================= */

static luaioL_policy *policy_new(void) {
  luaioL_policy *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  atomic_init(&p->refs, 1);
  p->caps = LUAIO_CAP_ALL;
  return p;
}

void luaioL_policy_ref(luaioL_policy *p) {
  atomic_fetch_add(&p->refs, 1);
}

void luaioL_policy_unref(luaioL_policy *p) {
  if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
    return;
  for (int i = 0; i < p->ndirs; i++)
    free(p->dirs[i]);
  free(p->dirs);
  for (int i = 0; i < p->nhosts; i++)
    free(p->hosts[i].host);
  free(p->hosts);
  free(p);
}

static int policy__gc(lua_State *L) {
  luaioL_policy **box = lua_touserdata(L, 1);
  luaioL_policy_unref(*box);
  *box = NULL;
  return 0;
}

/* Pushes the box of L's policy, making a new one when make is true and
** p is NULL (else taking p's reference), or nil. [-0, +1, m] */
static void pushpolicybox(lua_State *L, int make, luaioL_policy *p) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &POLICY_KEY) != LUA_TNIL || !make) {
    luaioL_policy_unref(p);
    return;
  }
  lua_pop(L, 1);
  luaioL_policy **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL; /* safe to collect before the policy exists */
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, policy__gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  *box = p != NULL ? p : policy_new();
  if (*box == NULL)
    luaL_error(L, "not enough memory");
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &POLICY_KEY);
}

static luaioL_policy *policy_at(lua_State *L, int idx) {
  luaioL_policy **box = lua_touserdata(L, idx);
  return box != NULL ? *box : NULL;
}

/* L's policy, made when missing; NULL when out of memory. Runs the
** making protected, for hosts that call before anything is open. */
static int getpolicy_p(lua_State *L) {
  pushpolicybox(L, 1, NULL);
  return 1;
}

static luaioL_policy *getpolicy(lua_State *L) {
  lua_pushcfunction(L, getpolicy_p);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    return NULL;
  }
  luaioL_policy *p = policy_at(L, -1);
  lua_pop(L, 1); /* the registry keeps it */
  return p;
}

/* Returns L's policy, unsealed, or NULL with *rc set. */
static luaioL_policy *openpolicy(lua_State *L, int *rc) {
  luaioL_policy *p = getpolicy(L);
  *rc = p == NULL ? LUAIO_ENOMEM : p->sealed ? LUAIO_EINVALSTATE : 0;
  return *rc == 0 ? p : NULL;
}

int luaio_grant(lua_State *L, unsigned caps) {
  int rc;
  luaioL_policy *p = openpolicy(L, &rc);
  if (p == NULL)
    return rc;
  p->caps = caps & LUAIO_CAP_ALL;
  p->granted = 1;
  return 0;
}

int luaio_grant_dir(lua_State *L, const char *dir) {
  int rc;
  luaioL_policy *p = openpolicy(L, &rc);
  if (p == NULL)
    return rc;
  char *real = realpath(dir, NULL);
  if (real == NULL)
    return errno == ENOMEM ? LUAIO_ENOMEM : -errno;
  char **dirs = realloc(p->dirs, (size_t)(p->ndirs + 1) * sizeof *dirs);
  if (dirs == NULL) {
    free(real);
    return LUAIO_ENOMEM;
  }
  p->dirs = dirs;
  p->dirs[p->ndirs++] = real;
  return 0;
}

int luaio_grant_host(lua_State *L, const char *host, int port) {
  int rc;
  luaioL_policy *p = openpolicy(L, &rc);
  if (p == NULL)
    return rc;
  if (host == NULL || port < 0 || port > 65535)
    return LUAIO_EINVAL;
  granthost *hosts =
      realloc(p->hosts, (size_t)(p->nhosts + 1) * sizeof *hosts);
  if (hosts == NULL)
    return LUAIO_ENOMEM;
  p->hosts = hosts;
  char *copy = strdup(host);
  if (copy == NULL)
    return LUAIO_ENOMEM;
  p->hosts[p->nhosts].host = copy;
  p->hosts[p->nhosts++].port = port;
  return 0;
}

int luaio_set_worker_setup(lua_State *L, luaio_setup_cb setup, void *ud) {
  int rc;
  luaioL_policy *p = openpolicy(L, &rc);
  if (p == NULL)
    return rc;
  p->setup = setup;
  p->setup_ud = ud;
  return 0;
}

static const struct {
  const char *name;
  unsigned caps;
} capnames[] = {{"fs.read", LUAIO_CAP_FS_READ},
                {"fs.write", LUAIO_CAP_FS_WRITE},
                {"process", LUAIO_CAP_PROCESS},
                {"net.connect", LUAIO_CAP_CONNECT},
                {"net.listen", LUAIO_CAP_LISTEN},
                {"net.dns", LUAIO_CAP_DNS},
                {"signal", LUAIO_CAP_SIGNAL},
                {"thread", LUAIO_CAP_THREAD},
                {"fs", LUAIO_CAP_FS},
                {"net", LUAIO_CAP_NET},
                {"all", LUAIO_CAP_ALL},
                {"none", 0},
                {NULL, 0}};

int luaio_parsecaps(const char *list, unsigned *caps) {
  unsigned set = 0;
  const char *s = list;
  while (*s != '\0') {
    size_t n = strcspn(s, ",");
    int found = 0;
    for (int i = 0; capnames[i].name != NULL && !found; i++) {
      if (strlen(capnames[i].name) == n &&
          strncmp(capnames[i].name, s, n) == 0) {
        set |= capnames[i].caps;
        found = 1;
      }
    }
    if (!found && n > 0)
      return LUAIO_EINVAL;
    s += n;
    if (*s == ',')
      s++;
  }
  *caps = set;
  return 0;
}

/* The name of one capability bit. */
static const char *capname(unsigned cap) {
  for (int i = 0; capnames[i].name != NULL; i++)
    if (capnames[i].caps == cap)
      return capnames[i].name;
  return "?";
}

/* }====================================================================== */

/* {======================================================================
** Guards: what the module's functions check
** ======================================================================= */

/* What a guard checks: the path at 1, the paths at 1 and 2, the path at
** 2, the paths at 2 and 3, an fs.open (mode and path), a host and port, a
** socket's path, the file options of a TLS context. */
enum { CHK_NONE, CHK_PATH, CHK_PATH2, CHK_PATHAT2, CHK_PATHS23, CHK_OPEN,
       CHK_HOST, CHK_UNIX, CHK_NOHOSTS, CHK_SSLOPTS };

typedef struct {
  const char *where; /* NULL: the module; "fs": asyncio.fs; "loop";
                        "ssl": asyncio.ssl; "SSLContext": its methods */
  const char *name;
  unsigned cap; /* for open: either fs capability */
  int check;
} entry;

static const entry entries[] = {
    {"fs", "read_file", LUAIO_CAP_FS_READ, CHK_PATH},
    {"fs", "write_file", LUAIO_CAP_FS_WRITE, CHK_PATH},
    {"fs", "open", LUAIO_CAP_FS, CHK_OPEN},
    {"fs", "stat", LUAIO_CAP_FS_READ, CHK_PATH},
    {"fs", "listdir", LUAIO_CAP_FS_READ, CHK_PATH},
    {"fs", "mkdir", LUAIO_CAP_FS_WRITE, CHK_PATH},
    {"fs", "remove", LUAIO_CAP_FS_WRITE, CHK_PATH},
    {"fs", "rename", LUAIO_CAP_FS_WRITE, CHK_PATH2},
    {NULL, "create_subprocess_exec", LUAIO_CAP_PROCESS, CHK_NONE},
    {NULL, "create_subprocess_shell", LUAIO_CAP_PROCESS, CHK_NONE},
    {NULL, "open_connection", LUAIO_CAP_CONNECT, CHK_HOST},
    {NULL, "open_unix_connection", LUAIO_CAP_CONNECT, CHK_UNIX},
    {NULL, "start_server", LUAIO_CAP_LISTEN, CHK_NONE},
    {NULL, "start_unix_server", LUAIO_CAP_LISTEN, CHK_PATHAT2},
    {NULL, "getaddrinfo", LUAIO_CAP_DNS, CHK_NONE},
    {NULL, "open_datagram", LUAIO_CAP_CONNECT, CHK_NOHOSTS},
    {NULL, "connect_read_pipe", LUAIO_CAP_FS_READ, CHK_NONE},
    {NULL, "stdin", LUAIO_CAP_FS_READ, CHK_NONE},
    {NULL, "connect_write_pipe", LUAIO_CAP_FS_WRITE, CHK_NONE},
    {NULL, "stdout", LUAIO_CAP_FS_WRITE, CHK_NONE},
    {NULL, "stderr", LUAIO_CAP_FS_WRITE, CHK_NONE},
    {NULL, "to_thread", LUAIO_CAP_THREAD, CHK_NONE},
    {"loop", "add_signal_handler", LUAIO_CAP_SIGNAL, CHK_NONE},
    {"loop", "remove_signal_handler", LUAIO_CAP_SIGNAL, CHK_NONE},
    /* A TLS context reads the files it is given: certificates, keys and
    ** CAs are files like any other. Without file options it needs none. */
    {"ssl", "create_default_context", 0, CHK_SSLOPTS},
    {"SSLContext", "load_cert_chain", LUAIO_CAP_FS_READ, CHK_PATHS23},
    {"SSLContext", "load_verify_locations", LUAIO_CAP_FS_READ, CHK_PATHS23},
    {NULL, NULL, 0, CHK_NONE}};

/* Upvalues of a guard: the original's (up to two), then these. */
#define GUARD_FN 3
#define GUARD_ENTRY 4
#define GUARD_POLICY 5

/* Pushes the name scripts know the function by. [-0, +1, m] */
static void pushfname(lua_State *L, const entry *e) {
  if (e->where == NULL)
    lua_pushfstring(L, "asyncio.%s", e->name);
  else if (strcmp(e->where, "loop") == 0)
    lua_pushfstring(L, "loop:%s", e->name);
  else if (strcmp(e->where, "SSLContext") == 0)
    lua_pushfstring(L, "SSLContext:%s", e->name);
  else
    lua_pushfstring(L, "asyncio.%s.%s", e->where, e->name);
}

/* Raises an asyncio.Error "<fname>: <why>" with code EACCES and the
** capability that is missing, if any. [-0, +0, v] */
static int refuse(lua_State *L, const entry *e, const char *cap,
                  const char *fmt, const char *arg) {
  pushfname(L, e);
  lua_pushfstring(L, fmt, arg);
  lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
  luaioL_newerror(L, "Error", lua_tostring(L, -1));
  lua_pushliteral(L, "EACCES");
  lua_setfield(L, -2, "code");
  if (cap != NULL) {
    lua_pushstring(L, cap);
    lua_setfield(L, -2, "capability");
  }
  return lua_error(L);
}

static int refusecap(lua_State *L, const entry *e, unsigned cap) {
  const char *name = capname(cap);
  return refuse(L, e, name, "the '%s' capability is not granted", name);
}

/* What a function without its capability becomes. */
static int denied(lua_State *L) {
  const entry *e = lua_touserdata(L, lua_upvalueindex(1));
  unsigned cap = e->cap == LUAIO_CAP_FS ? LUAIO_CAP_FS_READ : e->cap;
  return refusecap(L, e, cap);
}

/* Resolves path as the kernel would follow it: the longest part that
** exists through realpath (symbolic links, "..") and the rest as
** written. Returns 0, or -1 when it cannot tell (a "." or ".." after a
** missing directory, a path too long, a directory it cannot search). */
static int resolve(const char *path, char *out) {
  char buf[PATH_MAX];
  size_t len = strlen(path);
  if (len == 0)
    return -1;
  if (path[0] == '/') {
    if (len >= sizeof buf)
      return -1;
    memcpy(buf, path, len + 1);
  } else {
    if (getcwd(buf, sizeof buf) == NULL)
      return -1;
    size_t n = strlen(buf);
    if (n + 1 + len >= sizeof buf)
      return -1;
    buf[n] = '/';
    memcpy(buf + n + 1, path, len + 1);
    len += n + 1;
  }
  size_t cut = len; /* buf[0, cut) exists; buf[cut, len) does not */
  for (;;) {
    char save = buf[cut];
    buf[cut] = '\0';
    char *r = realpath(cut == 0 ? "/" : buf, out);
    buf[cut] = save;
    if (r != NULL)
      break;
    if (errno != ENOENT)
      return -1;
    while (cut > 0 && buf[cut - 1] == '/')
      cut--;
    while (cut > 0 && buf[cut - 1] != '/')
      cut--;
    if (cut > 0)
      cut--; /* at the slash before the component */
  }
  size_t olen = strcmp(out, "/") == 0 ? 0 : strlen(out);
  for (const char *s = buf + cut; *s != '\0';) {
    size_t n = strcspn(s, "/");
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
      return -1;
    if (n > 0) {
      if (olen + 1 + n >= PATH_MAX)
        return -1;
      out[olen++] = '/';
      memcpy(out + olen, s, n);
      olen += n;
    }
    s += n;
    if (*s == '/')
      s++;
  }
  if (olen == 0)
    out[olen++] = '/';
  out[olen] = '\0';
  return 0;
}

static int under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  if (n == 1 && dir[0] == '/')
    return 1;
  return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Raises unless the path at idx is under a granted directory; a value
** that is no path is left to the function's own check. */
static void checkpath(lua_State *L, const luaioL_policy *p, const entry *e,
                      int idx) {
  if (p->dirs == NULL || !lua_isstring(L, idx))
    return;
  const char *path = lua_tostring(L, idx);
  char real[PATH_MAX];
  if (resolve(path, real) == 0)
    for (int i = 0; i < p->ndirs; i++)
      if (under(real, p->dirs[i]))
        return;
  refuse(L, e, NULL, "'%s' is outside the directories granted to this script",
         path);
}

static void checkhost(lua_State *L, const luaioL_policy *p, const entry *e) {
  if (p->hosts == NULL || !lua_isstring(L, 1))
    return;
  int isnum;
  lua_Integer port = lua_tointegerx(L, 2, &isnum);
  if (!isnum)
    return; /* open_connection raises */
  const char *host = lua_tostring(L, 1);
  for (int i = 0; i < p->nhosts; i++)
    if (strcasecmp(p->hosts[i].host, host) == 0 &&
        (p->hosts[i].port == 0 || p->hosts[i].port == port))
      return;
  lua_pushfstring(L, "%s:%I is not among the hosts granted to this script",
                  host, port);
  refuse(L, e, NULL, "%s", lua_tostring(L, -1));
}

/* A Unix socket's path at 1 must be granted as a host, as written. */
static void checkunix(lua_State *L, const luaioL_policy *p, const entry *e) {
  if (p->hosts == NULL || !lua_isstring(L, 1))
    return;
  const char *path = lua_tostring(L, 1);
  for (int i = 0; i < p->nhosts; i++)
    if (strcmp(p->hosts[i].host, path) == 0)
      return;
  refuse(L, e, NULL, "'%s' is not among the hosts granted to this script",
         path);
}

/* The file options of asyncio.ssl.create_default_context need fs.read,
** and must be under the granted directories. */
static void checksslopts(lua_State *L, const luaioL_policy *p,
                         const entry *e) {
  static const char *const files[] = {"cafile", "capath", "certfile",
                                      "keyfile", NULL};
  if (!lua_istable(L, 1))
    return; /* the function's own check */
  for (int i = 0; files[i] != NULL; i++) {
    if (lua_getfield(L, 1, files[i]) != LUA_TNIL) {
      if ((p->caps & LUAIO_CAP_FS_READ) == 0)
        refusecap(L, e, LUAIO_CAP_FS_READ);
      checkpath(L, p, e, lua_gettop(L));
    }
    lua_pop(L, 1);
  }
}

/* Checks the arguments, then runs the original function in this call. */
static int guard(lua_State *L) {
  const entry *e = lua_touserdata(L, lua_upvalueindex(GUARD_ENTRY));
  const luaioL_policy *p = policy_at(L, lua_upvalueindex(GUARD_POLICY));
  switch (e->check) {
  case CHK_OPEN: {
    const char *mode = lua_isstring(L, 2) ? lua_tostring(L, 2) : "r";
    unsigned cap = strpbrk(mode, "wax+") != NULL ? LUAIO_CAP_FS_WRITE
                                                 : LUAIO_CAP_FS_READ;
    if ((p->caps & cap) == 0)
      refusecap(L, e, cap);
    checkpath(L, p, e, 1);
    break;
  }
  case CHK_PATH2:
    checkpath(L, p, e, 2);
    /* FALLTHROUGH */
  case CHK_PATH:
    checkpath(L, p, e, 1);
    break;
  case CHK_PATHAT2:
    checkpath(L, p, e, 2);
    break;
  case CHK_PATHS23:
    checkpath(L, p, e, 2);
    checkpath(L, p, e, 3);
    break;
  case CHK_SSLOPTS:
    checksslopts(L, p, e);
    break;
  case CHK_HOST:
    checkhost(L, p, e);
    break;
  case CHK_UNIX:
    checkunix(L, p, e);
    break;
  case CHK_NOHOSTS: /* datagrams go anywhere: no host list confines them */
    refuse(L, e, NULL, "%s", "not allowed while hosts are restricted");
    break;
  }
  return lua_tocfunction(L, lua_upvalueindex(GUARD_FN))(L);
}

/* Does the function of e need its arguments checked under p? */
static int needsguard(const luaioL_policy *p, const entry *e) {
  switch (e->check) {
  case CHK_OPEN:
    return p->dirs != NULL || (p->caps & LUAIO_CAP_FS) != LUAIO_CAP_FS;
  case CHK_PATH:
  case CHK_PATH2:
  case CHK_PATHAT2:
  case CHK_PATHS23:
    return p->dirs != NULL;
  case CHK_SSLOPTS:
    return p->dirs != NULL || (p->caps & LUAIO_CAP_FS_READ) == 0;
  case CHK_HOST:
  case CHK_UNIX:
  case CHK_NOHOSTS:
    return p->hosts != NULL;
  }
  return 0;
}

/* Replaces or wraps the field e->name of the table at t, as p says;
** the policy's box is at pbox. [-0, +0, m] */
static void apply_entry(lua_State *L, int t, int pbox, const entry *e) {
  const luaioL_policy *p = policy_at(L, pbox);
  if (lua_getfield(L, t, e->name) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    return;
  }
  if (e->cap != 0 && (p->caps & e->cap) == 0) {
    lua_pushlightuserdata(L, (void *)e);
    lua_pushcclosure(L, denied, 1);
  } else if (needsguard(p, e)) {
    int fn = lua_gettop(L);
    for (int i = 1; i < GUARD_FN; i++)
      if (lua_getupvalue(L, fn, i) == NULL)
        lua_pushnil(L);
    lua_pushvalue(L, fn);
    lua_pushlightuserdata(L, (void *)e);
    lua_pushvalue(L, pbox);
    lua_pushcclosure(L, guard, GUARD_POLICY);
  } else {
    lua_pop(L, 1);
    return;
  }
  lua_setfield(L, t, e->name);
  lua_pop(L, 1);
}

/* }====================================================================== */

/* {======================================================================
** asyncio.memory and asyncio.set_memory_limit
** ======================================================================= */

/* asyncio.memory() -> used, limit (nil: none) */
static int lsandbox_memory(lua_State *L) {
  size_t limit;
  size_t used = luaio_memory(L, &limit);
  lua_pushinteger(L, (lua_Integer)used);
  if (limit > 0)
    lua_pushinteger(L, (lua_Integer)limit);
  else
    lua_pushnil(L);
  return 2;
}

/* asyncio.set_memory_limit(bytes): a script may set or lower its limit;
** raising or removing one is for the host. */
static int lsandbox_set_memory_limit(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n > 0, 1, "the limit must be above 0");
  size_t limit;
  luaio_memory(L, &limit);
  if (limit > 0 && (size_t)n > limit)
    return luaL_error(L,
                      "set_memory_limit: a script may lower its limit "
                      "(%I bytes), not raise it",
                      (lua_Integer)limit);
  if (luaio_setmemlimit(L, (size_t)n) != 0)
    return luaL_error(L, "set_memory_limit: this Lua state was not made by "
                         "luaio_newstate, so it cannot have a limit");
  return 0;
}

static const luaL_Reg lsandbox_funcs[] = {
    {"memory", lsandbox_memory},
    {"set_memory_limit", lsandbox_set_memory_limit},
    {NULL, NULL}};

/* }====================================================================== */

/* {======================================================================
** Opening the module under the policy
** ======================================================================= */

/* The standard libraries, as bits of policy->libs. */
static const luaL_Reg stdlibs[] = {
    {LUA_GNAME, luaopen_base},          {LUA_LOADLIBNAME, luaopen_package},
    {LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
    {LUA_IOLIBNAME, luaopen_io},        {LUA_OSLIBNAME, luaopen_os},
    {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
    {LUA_UTF8LIBNAME, luaopen_utf8},    {LUA_DBLIBNAME, luaopen_debug},
    {NULL, NULL}};

/* Which standard libraries L has open (in its LOADED table). */
static unsigned openlibs_of(lua_State *L) {
  unsigned libs = 0;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  for (int i = 0; stdlibs[i].name != NULL; i++) {
    if (lua_getfield(L, -1, stdlibs[i].name) != LUA_TNIL)
      libs |= 1u << i;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return libs;
}

void luaioL_open_sandbox(lua_State *L) {
  int mod = lua_gettop(L);
  luaioL_setfuncs(L, lsandbox_funcs);
  pushpolicybox(L, 1, NULL);
  int pbox = lua_gettop(L);
  luaioL_policy *p = policy_at(L, pbox);
  if (!p->sealed) {
    p->sealed = 1;
    p->libs = openlibs_of(L);
  }
  if (p->caps == LUAIO_CAP_ALL && p->dirs == NULL && p->hosts == NULL) {
    lua_settop(L, mod);
    return;
  }
  lua_getfield(L, mod, "fs");
  int fs = lua_gettop(L);
  luaL_getmetatable(L, LOOP_MT);
  lua_getfield(L, -1, "__index");
  int loop = lua_gettop(L);
  lua_getfield(L, mod, "ssl");
  int ssl = lua_gettop(L);
  luaL_getmetatable(L, "asyncio.SSLContext"); /* nil without TLS */
  if (lua_istable(L, -1))
    lua_getfield(L, -1, "__index");
  int sslctx = lua_gettop(L);
  for (const entry *e = entries; e->name != NULL; e++) {
    int t = e->where == NULL                  ? mod
            : strcmp(e->where, "fs") == 0     ? fs
            : strcmp(e->where, "loop") == 0   ? loop
            : strcmp(e->where, "ssl") == 0    ? ssl
                                              : sslctx;
    if (lua_istable(L, t))
      apply_entry(L, t, pbox, e);
  }
  lua_settop(L, mod);
}

/* }====================================================================== */

/* {======================================================================
** The sandbox preset
** ======================================================================= */

/* load(chunk [, name [, mode [, env]]]), text chunks only: a binary
** chunk can crash Lua's undumper. */
static int sb_load(lua_State *L) {
  int nargs = lua_gettop(L) < 4 ? 3 : 4; /* an env given as nil counts */
  lua_settop(L, nargs);
  if (!lua_isnil(L, 3) && strcmp(luaL_checkstring(L, 3), "t") != 0)
    return luaL_argerror(L, 3, "only text chunks ('t') load in the sandbox");
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, nargs, LUA_MULTRET);
  return lua_gettop(L);
}

/* collectgarbage with the options that cannot starve the host. */
static int sb_collectgarbage(lua_State *L) {
  static const char *const allowed[] = {"collect", "count", "step",
                                        "isrunning", NULL};
  const char *opt = luaL_optstring(L, 1, "collect");
  for (int i = 0; allowed[i] != NULL; i++) {
    if (strcmp(opt, allowed[i]) == 0) {
      int n = lua_gettop(L);
      lua_pushvalue(L, lua_upvalueindex(1));
      lua_insert(L, 1);
      lua_call(L, n, LUA_MULTRET);
      return lua_gettop(L);
    }
  }
  return luaL_error(L, "collectgarbage: option '%s' is not allowed in the "
                       "sandbox",
                    opt);
}

/* getmetatable(v), which hides the metatables of asyncio's classes (all
** named "asyncio.<Class>"), so that a script cannot change the methods
** its host calls on its Tasks or Queues. */
static int sb_getmetatable(lua_State *L) {
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 1, 1);
  lua_pushliteral(L, "__name");
  if (lua_istable(L, 1) && lua_rawget(L, 1) == LUA_TSTRING &&
      strncmp(lua_tostring(L, -1), "asyncio.", 8) == 0)
    lua_pushliteral(L, "the asyncio metatables are protected");
  else
    lua_settop(L, 1);
  return 1;
}

/* require(name): only modules the host has loaded already. */
static int sb_require(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, name) != LUA_TNIL)
    return 1;
  return luaL_error(L,
                    "module '%s' not found: the sandbox loads no modules "
                    "from files, only those its host provides",
                    name);
}

/* Replaces _G[name] by a C closure of f over the old value. */
static void wrapglobal(lua_State *L, const char *name, lua_CFunction f) {
  lua_getglobal(L, name);
  lua_pushcclosure(L, f, 1);
  lua_setglobal(L, name);
}

/* Opens the standard library as the preset has it. [-0, +0, e] */
static int opensafelibs(lua_State *L) {
  static const char *const safe[] = {LUA_GNAME,       LUA_COLIBNAME,
                                     LUA_TABLIBNAME,  LUA_STRLIBNAME,
                                     LUA_MATHLIBNAME, LUA_UTF8LIBNAME,
                                     NULL};
  for (int i = 0; safe[i] != NULL; i++) {
    for (int j = 0; stdlibs[j].name != NULL; j++) {
      if (strcmp(stdlibs[j].name, safe[i]) == 0) {
        luaL_requiref(L, safe[i], stdlibs[j].func, 1);
        lua_pop(L, 1);
      }
    }
  }
  /* os: the clock and the calendar only. */
  luaopen_os(L);
  lua_createtable(L, 0, 3);
  static const char *const times[] = {"time", "clock", "date", NULL};
  for (int i = 0; times[i] != NULL; i++) {
    lua_getfield(L, -2, times[i]);
    lua_setfield(L, -2, times[i]);
  }
  lua_pushvalue(L, -1);
  lua_setglobal(L, LUA_OSLIBNAME);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_insert(L, -2);
  lua_setfield(L, -2, LUA_OSLIBNAME);
  lua_pop(L, 2);
  /* The base library without the file loaders, with text-only load. */
  lua_pushnil(L);
  lua_setglobal(L, "dofile");
  lua_pushnil(L);
  lua_setglobal(L, "loadfile");
  wrapglobal(L, "load", sb_load);
  wrapglobal(L, "collectgarbage", sb_collectgarbage);
  wrapglobal(L, "getmetatable", sb_getmetatable);
  lua_pushcfunction(L, sb_require);
  lua_setglobal(L, "require");
  /* The string metatable: its methods come from a private copy of the
  ** string library, and getmetatable("") hides the metatable itself. */
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_newtable(L);
  lua_getglobal(L, LUA_STRLIBNAME);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -5);
  }
  lua_pop(L, 1);
  lua_setfield(L, -2, "__index");
  lua_pushliteral(L, "the string metatable is protected");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 2);
  return 0;
}

static int opensandbox_p(lua_State *L) {
  pushpolicybox(L, 1, NULL);
  luaioL_policy *p = policy_at(L, -1);
  if (p->sealed)
    return luaL_error(L, "the asyncio module is open already");
  p->sandbox = 1;
  if (!p->granted)
    p->caps = 0;
  opensafelibs(L);
  luaL_requiref(L, "asyncio", luaopen_asyncio, 1);
  return 0;
}

int luaio_opensandbox(lua_State *L, size_t memlimit) {
  if (memlimit > 0 && luaio_setmemlimit(L, memlimit) != 0)
    return LUAIO_EINVAL;
  lua_pushcfunction(L, opensandbox_p);
  int rc = lua_pcall(L, 0, 0, 0);
  if (rc == LUA_OK)
    return 0;
  int sealed = rc != LUA_ERRMEM;
  lua_pop(L, 1);
  return sealed ? LUAIO_EINVALSTATE : LUAIO_ENOMEM;
}

/* }====================================================================== */

/* {======================================================================
** Worker states of to_thread
** ======================================================================= */

luaioL_policy *luaioL_policy_get(lua_State *L) {
  pushpolicybox(L, 1, NULL);
  luaioL_policy *p = policy_at(L, -1);
  lua_pop(L, 1);
  luaioL_policy_ref(p);
  return p;
}

/* Opens W's libraries as the policy at 1 says, runs the function at 2,
** installs the policy and runs the host's setup. [-0, +0, e] */
static int setupworker(lua_State *W) {
  luaioL_policy *p = lua_touserdata(W, 1);
  if (p->sandbox) {
    opensafelibs(W);
  } else {
    for (int i = 0; stdlibs[i].name != NULL; i++) {
      if (p->libs & (1u << i)) {
        luaL_requiref(W, stdlibs[i].name, stdlibs[i].func, 1);
        lua_pop(W, 1);
      }
    }
  }
  lua_pushvalue(W, 2);
  lua_call(W, 0, 0);
  luaioL_policy_ref(p);
  pushpolicybox(W, 1, p);
  lua_pop(W, 1);
  if (p->setup != NULL)
    p->setup(W, p->setup_ud);
  return 0;
}

lua_State *luaioL_worker_newstate(luaioL_policy *p, luaio_alloc_t **a,
                                  lua_CFunction prepare, char **err) {
  lua_State *W = luaio_newstate(a);
  if (W == NULL)
    return NULL;
  lua_pushcfunction(W, setupworker);
  lua_pushlightuserdata(W, p);
  lua_pushcfunction(W, prepare);
  *err = NULL;
  if (lua_pcall(W, 2, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(W, -1);
    *err = msg != NULL ? strdup(msg) : NULL;
    luaio_closestate(W, *a);
    *a = NULL;
    return NULL;
  }
  return W;
}

/* }====================================================================== */
