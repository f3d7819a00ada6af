/*
** luaio.c - the luaio command: lua5.4's interpreter, with the asyncio
** module preloaded. It takes lua5.4's options with their meaning, builds
** the same `arg` table, runs LUA_INIT and reports errors in the same
** words and with the same exit statuses, as lua.c does beside Lua's
** library; the options and the REPL of luaio's own come on top.
*/
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "lbind.h"

static const char *progname = "luaio";

/* {======================================================================
** Options
** ======================================================================= */

#define MAXGRANTS 16 /* --allow-dir and --allow-host, each */
#define SANDBOX_MEMORY ((size_t)64 << 20) /* --sandbox's --memory-limit */
#define SANDBOX_SLICE 1.0 /* --sandbox's --slice, in seconds */

/* What the command line asks for; filled in by collectargs. */
typedef struct cli {
  int argc;
  char **argv;
  int script;   /* argv index of the script, or 0 when there is none */
  int optlim;   /* argv index of the first argument that is not an option */
  unsigned has; /* HAS_* */
  int status;   /* the exit status */
  /* What the script may reach (--sandbox and the options after it). */
  unsigned caps;      /* the union of the --allow lists */
  size_t memlimit;    /* --memory-limit; 0: none */
  double slice;       /* --slice; 0: none */
  int ndirs, nhosts;
  const char *dirs[MAXGRANTS];  /* --allow-dir arguments */
  const char *hosts[MAXGRANTS]; /* --allow-host arguments */
} cli;

enum {
  HAS_ERROR = 1 << 0, /* a bad option: argv[script] names it */
  HAS_I = 1 << 1,     /* -i */
  HAS_V = 1 << 2,     /* -v (also -i) */
  HAS_EXEC = 1 << 3,  /* -e */
  HAS_NOENV = 1 << 4, /* -E */
  HAS_HELP = 1 << 5,  /* --help */
  HAS_VIRTUAL_TIME = 1 << 6, /* --virtual-time */
  HAS_SANDBOX = 1 << 7, /* --sandbox */
  HAS_ALLOW = 1 << 8,   /* --allow */
  HAS_DEBUG = 1 << 9,   /* --debug, or LUAIO_DEBUG=1 without -E */
};

/* luaio's own options, beyond lua5.4's. To add one, add a row: it is
** recognised anywhere before the script (as --name or --name=ARG, or
** --name ARG when it takes an argument), listed by --help, and applied
** before any Lua code runs. apply returns 0, or -1 after printing why
** its argument is bad. */
typedef struct longopt {
  const char *name;    /* with its dashes */
  const char *argname; /* NULL when it takes no argument */
  int (*apply)(cli *c, const char *arg);
  const char *help;
} longopt;

static int opt_help(cli *c, const char *arg) {
  (void)arg;
  c->has |= HAS_HELP;
  return 0;
}

static int opt_virtual_time(cli *c, const char *arg) {
  (void)arg;
  c->has |= HAS_VIRTUAL_TIME;
  return 0;
}

/* {======================================================================
** What the script may reach: see luaiolib.h.
** ======================================================================= */

static int opt_sandbox(cli *c, const char *arg) {
  (void)arg;
  c->has |= HAS_SANDBOX;
  return 0;
}

static int bad_argument(const char *opt, const char *arg) {
  fprintf(stderr, "%s: %s '%s': not understood\n", progname, opt, arg);
  return -1;
}

static int opt_allow(cli *c, const char *arg) {
  unsigned caps;
  if (luaio_parsecaps(arg, &caps) != 0)
    return bad_argument("--allow", arg);
  c->caps |= caps;
  c->has |= HAS_ALLOW;
  return 0;
}

static int add_grant(const char **list, int *n, const char *opt,
                     const char *arg) {
  if (*n == MAXGRANTS) {
    fprintf(stderr, "%s: more than %d %s options\n", progname, MAXGRANTS,
            opt);
    return -1;
  }
  list[(*n)++] = arg;
  return 0;
}

static int opt_allow_dir(cli *c, const char *arg) {
  return add_grant(c->dirs, &c->ndirs, "--allow-dir", arg);
}

/* "host" or "host:port" into host (size n) and *port (0: any). */
static int split_host(const char *arg, char *host, size_t n, int *port) {
  const char *colon = strrchr(arg, ':');
  size_t len = colon != NULL ? (size_t)(colon - arg) : strlen(arg);
  *port = 0;
  if (colon != NULL) {
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || p < 1 || p > 65535)
      return -1;
    *port = (int)p;
  }
  if (len == 0 || len >= n)
    return -1;
  memcpy(host, arg, len);
  host[len] = '\0';
  return 0;
}

static int opt_allow_host(cli *c, const char *arg) {
  char host[256];
  int port;
  if (split_host(arg, host, sizeof host, &port) != 0)
    return bad_argument("--allow-host", arg);
  return add_grant(c->hosts, &c->nhosts, "--allow-host", arg);
}

/* "64M" and the like (K, M, G: powers of 1024), in bytes. */
static int opt_memory_limit(cli *c, const char *arg) {
  char *end;
  unsigned long long n = strtoull(arg, &end, 10);
  int shift = 0;
  switch (*end) {
  case 'K': case 'k': shift = 10; end++; break;
  case 'M': case 'm': shift = 20; end++; break;
  case 'G': case 'g': shift = 30; end++; break;
  }
  if (end == arg || *end != '\0' || arg[0] == '-' || n == 0 ||
      n > (SIZE_MAX >> shift))
    return bad_argument("--memory-limit", arg);
  c->memlimit = (size_t)n << shift;
  return 0;
}

static int opt_debug(cli *c, const char *arg) {
  (void)arg;
  c->has |= HAS_DEBUG;
  return 0;
}

static int opt_slice(cli *c, const char *arg) {
  char *end;
  double s = strtod(arg, &end);
  if (end == arg || *end != '\0' || !(s > 0) || isinf(s))
    return bad_argument("--slice", arg);
  c->slice = s;
  return 0;
}

/* Grants what the options say, then opens the standard library and
** asyncio: the sandbox preset's, or all of them. Returns 0, or -1 after
** saying what is wrong. */
static int open_runtime(lua_State *L, cli *c) {
  int rc = 0;
  const char *what = NULL;
  if (c->has & HAS_ALLOW)
    rc = luaio_grant(L, c->caps);
  for (int i = 0; rc == 0 && i < c->ndirs; i++)
    if ((rc = luaio_grant_dir(L, c->dirs[i])) != 0)
      what = c->dirs[i];
  for (int i = 0; rc == 0 && i < c->nhosts; i++) {
    char host[256];
    int port;
    split_host(c->hosts[i], host, sizeof host, &port);
    rc = luaio_grant_host(L, host, port);
  }
  size_t limit = c->memlimit;
  if (limit == 0 && (c->has & HAS_SANDBOX))
    limit = SANDBOX_MEMORY;
  if (rc == 0 && limit > 0)
    rc = luaio_setmemlimit(L, limit);
  if (rc != 0) {
    fprintf(stderr, "%s: %s%s%s\n", progname, what ? what : "",
            what ? ": " : "", luaio_strerror(rc));
    return -1;
  }
  if (c->has & HAS_SANDBOX)
    return luaio_opensandbox(L, 0) == 0 ? 0 : -1;
  luaL_openlibs(L);
  luaL_requiref(L, "asyncio", luaopen_asyncio, 1); /* global and loaded */
  lua_pop(L, 1);
  luaioL_runtime_of(L)->dump_on_sigquit = 1;
  return 0;
}

/* }====================================================================== */

static const longopt longopts[] = {
    {"--help", NULL, opt_help, "show this help and exit"},
    {"--virtual-time", NULL, opt_virtual_time,
     "run asyncio.run's loops on a virtual clock"},
    {"--sandbox", NULL, opt_sandbox,
     "no io, debug, package, most of os; 64M of memory; 1 s slices"},
    {"--allow", "LIST", opt_allow,
     "grant fs, net, process, signal, thread (docs/sandbox.md)"},
    {"--allow-dir", "DIR", opt_allow_dir, "asyncio.fs only under DIR"},
    {"--allow-host", "HOST[:PORT]", opt_allow_host,
     "open_connection only to HOST"},
    {"--memory-limit", "N", opt_memory_limit,
     "limit Lua's memory to N bytes (K, M, G)"},
    {"--debug", NULL, opt_debug,
     "debug mode: slow steps, unclosed resources (also LUAIO_DEBUG=1)"},
    {"--slice", "SECONDS", opt_slice,
     "fail a task that runs SECONDS without suspending"},
    {NULL, NULL, NULL, NULL}};

static void print_options(FILE *f) {
  fprintf(f,
          "usage: %s [options] [script [args]]\n"
          "Available options are:\n"
          "  -e stat   execute string 'stat'\n"
          "  -i        enter interactive mode after executing 'script'\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
          "  -l g=mod  require library 'mod' into global 'g'\n"
          "  -v        show version information\n"
          "  -E        ignore environment variables\n"
          "  -W        turn warnings on\n"
          "  --        stop handling options\n"
          "  -         stop handling options and execute stdin\n",
          progname);
  for (const longopt *o = longopts; o->name != NULL; o++) {
    char head[40];
    snprintf(head, sizeof head, "%s%s%s", o->name, o->argname ? " " : "",
             o->argname ? o->argname : "");
    fprintf(f, "  %-15s %s\n", head, o->help);
  }
}

/* The message for a bad option, as lua5.4 words it, then the usage. */
static void print_usage(const char *badoption) {
  fprintf(stderr, "%s: ", progname);
  if (badoption[1] == 'e' || badoption[1] == 'l')
    fprintf(stderr, "'%s' needs argument\n", badoption);
  else
    fprintf(stderr, "unrecognized option '%s'\n", badoption);
  print_options(stderr);
  fflush(stderr);
}

static void print_help(void) {
  printf("%s runs Lua %s scripts with the asyncio module loaded;\n"
         "with no script on a terminal it starts a REPL.\n",
         progname, LUA_VERSION_MAJOR "." LUA_VERSION_MINOR);
  print_options(stdout);
  printf("Environment: LUA_INIT_%s_%s or LUA_INIT (code, or @file to run "
         "first),\n"
         "  LUA_PATH, LUA_CPATH and their _%s_%s forms (ignored with -E).\n"
         "Exit status: 0 on success; 1 on an uncaught error or a bad "
         "option;\n"
         "  130 after Ctrl-C (SIGINT) and 143 after SIGTERM, once the main "
         "task's\n"
         "  cleanup has run; a second signal ends the process at once.\n"
         "SIGQUIT (Ctrl-\\) prints where every task is suspended and goes "
         "on.\n"
         "luaio ps PID, luaio pstree PID: the tasks of a running luaio "
         "process, as\n"
         "  a table or as the tree of who waits for whom; they exit with 0 "
         "when\n"
         "  shown, 1 with no answer in time, 2 on a wrong command line, 3 "
         "with no\n"
         "  such process, 4 when it is not a luaio process running a loop, "
         "5 when\n"
         "  permission is denied.\n",
         LUA_VERSION_MAJOR, LUA_VERSION_MINOR, LUA_VERSION_MAJOR,
         LUA_VERSION_MINOR);
}

static void print_version(void) {
  printf("luaio %s (%s)\n", luaio_version_string(), LUA_COPYRIGHT);
  fflush(stdout);
}

/* A long option of luaio's own at argv[*i]: 1 if it is one (applied,
** *i moved past its argument), 0 if not, -1 on a bad argument. */
static int longoption(cli *c, int *i) {
  const char *a = c->argv[*i];
  for (const longopt *o = longopts; o->name != NULL; o++) {
    size_t n = strlen(o->name);
    if (strncmp(a, o->name, n) != 0 || (a[n] != '\0' && a[n] != '='))
      continue;
    const char *arg = NULL;
    if (o->argname == NULL) {
      if (a[n] == '=')
        return 0; /* --help=x is no option of ours */
    } else if (a[n] == '=') {
      arg = a + n + 1;
    } else if (*i + 1 < c->argc) {
      arg = c->argv[++*i];
    } else {
      fprintf(stderr, "%s: '%s' needs argument\n", progname, o->name);
      return -1;
    }
    return o->apply(c, arg) == 0 ? 1 : -1;
  }
  return 0;
}

/* Reads the options as lua5.4 does: they end at the first argument that
** is not one (the script), at "--" or at "-". On a bad option, sets
** HAS_ERROR with c->script at it. Returns 0, or -1 when an option of
** luaio's own was given a bad argument (the message is printed). */
static int collectargs(cli *c) {
  char **argv = c->argv;
  c->script = 0;
  for (int i = 1; i < c->argc; i++) {
    const char *a = argv[i];
    c->script = i;
    if (a[0] != '-') /* the script */
      goto done;
    switch (a[1]) {
    case '-': {
      if (a[2] == '\0') { /* "--": the script, if any, comes next */
        c->script = i + 1 < c->argc ? i + 1 : 0;
        c->optlim = i + 1;
        return 0;
      }
      int r = longoption(c, &i);
      if (r < 0)
        return -1;
      if (r == 0)
        goto bad;
      break;
    }
    case '\0': /* "-": standard input is the script */
      goto done;
    case 'E':
    case 'W':
      if (a[2] != '\0')
        goto bad;
      if (a[1] == 'E')
        c->has |= HAS_NOENV;
      break;
    case 'i':
      c->has |= HAS_I; /* and -v */
      /* FALLTHROUGH */
    case 'v':
      if (a[2] != '\0')
        goto bad;
      c->has |= HAS_V;
      break;
    case 'h': /* luaio's own, short for --help */
      if (a[2] != '\0')
        goto bad;
      c->has |= HAS_HELP;
      break;
    case 'e':
      c->has |= HAS_EXEC;
      /* FALLTHROUGH */
    case 'l': /* both need an argument, joined or next */
      if (a[2] == '\0') {
        i++;
        if (i >= c->argc || argv[i][0] == '-')
          goto bad;
      }
      break;
    default:
      goto bad;
    }
  }
  c->script = 0; /* no script */
  c->optlim = c->argc;
  return 0;
done:
  c->optlim = c->script;
  return 0;
bad:
  c->has |= HAS_ERROR;
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** Running code, reporting errors
** ======================================================================= */

/* Lua sources of the command's own, embedded at build time (generated
** luaio_cli_embedded.c). */
extern const luaio_embedded_t luaio_cli_embedded[];

/* Loads lua/cli/<name>.lua. [-0, +1, -] */
static int loadchunk(lua_State *L, const char *name) {
  const luaio_embedded_t *e = luaio_cli_embedded;
  while (e->name != NULL && strcmp(e->name, name) != 0)
    e++;
  lua_pushfstring(L, "=[luaio] %s.lua", name);
  int status = luaL_loadbuffer(L, e->src, e->len, lua_tostring(L, -1));
  lua_remove(L, -2);
  return status;
}

/* Appends the sub-errors of the ExceptionGroup at 1, if it is one, to the
** message at the top (lua/cli/report.lua draws them). [-1, +1, -] */
static void addsuberrors(lua_State *L) {
  if (!lua_istable(L, 1))
    return;
  int t = lua_getfield(L, 1, "errors");
  lua_pop(L, 1);
  if (t != LUA_TTABLE)
    return;
  if (loadchunk(L, "report") == LUA_OK) {
    lua_pushvalue(L, 1);
    lua_getglobal(L, "asyncio");
    if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_isstring(L, -1) &&
        lua_rawlen(L, -1) > 0) {
      lua_pushliteral(L, "\n");
      lua_insert(L, -2);
      lua_concat(L, 3);
      return;
    }
  }
  lua_pop(L, 1); /* the error of loading or drawing: the message stays */
}

/* Makes the message that report prints: lua5.4's (the message with a
** traceback; an object's __tostring alone), and for an error that left a
** task, the task's traceback before the traceback of the call. */
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (!luaL_callmeta(L, 1, "__tostring") || !lua_isstring(L, -1))
      msg = lua_pushfstring(L, "(error object is a %s value)",
                            luaL_typename(L, 1));
    else if (!lua_istable(L, 1) ||
             lua_getfield(L, 1, "traceback") != LUA_TSTRING) {
      lua_settop(L, 2);
      return 1; /* as lua5.4: the object's own string, no traceback */
    } else {
      msg = lua_pushfstring(L, "%s\n%s", lua_tostring(L, -2),
                            lua_tostring(L, -1));
    }
  }
  luaL_traceback(L, L, msg, 1);
  addsuberrors(L);
  return 1;
}

static void l_message(const char *pname, const char *msg) {
  if (pname != NULL)
    fprintf(stderr, "%s: ", pname);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    l_message(progname, msg != NULL ? msg : "(error object is not a string)");
    lua_pop(L, 1);
  }
  return status;
}

/* Calls the function below its narg arguments with msghandler, leaving
** nres results. */
static int docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  return status;
}

static int dochunk(lua_State *L, int status) {
  if (status == LUA_OK)
    status = docall(L, 0, 0);
  return report(L, status);
}

static int dofile(lua_State *L, const char *name) {
  return dochunk(L, luaL_loadfile(L, name));
}

static int dostring(lua_State *L, const char *s, const char *name) {
  return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* -l g=mod sets global g to require("mod"); -l mod sets mod. */
static int dolibrary(lua_State *L, const char *spec) {
  const char *eq = strchr(spec, '=');
  const char *mod = eq != NULL ? eq + 1 : spec;
  size_t glen = eq != NULL ? (size_t)(eq - spec) : strlen(spec);
  lua_getglobal(L, "require");
  lua_pushstring(L, mod);
  int status = docall(L, 1, 1);
  if (status == LUA_OK) {
    lua_pushlstring(L, spec, glen);
    lua_insert(L, -2);
    lua_setglobal(L, lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  return report(L, status);
}

/* arg[0] is the script, arg[-1]... what came before it, arg[1]... its
** arguments; with no script, arg[0] is the program. */
static void createargtable(lua_State *L, char **argv, int argc, int script) {
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int handle_luainit(lua_State *L) {
  const char *name = "=LUA_INIT_" LUA_VERSION_MAJOR "_" LUA_VERSION_MINOR;
  const char *init = getenv(name + 1);
  if (init == NULL) {
    name = "=LUA_INIT";
    init = getenv(name + 1);
  }
  if (init == NULL)
    return LUA_OK;
  if (init[0] == '@')
    return dofile(L, init + 1);
  return dostring(L, init, name);
}

/* Runs -e, -l and -W in their order. */
static int runargs(lua_State *L, char **argv, int n) {
  for (int i = 1; i < n; i++) {
    int option = argv[i][1];
    if (option == 'e' || option == 'l') {
      const char *extra = argv[i][2] != '\0' ? argv[i] + 2 : argv[++i];
      int status = option == 'e' ? dostring(L, extra, "=(command line)")
                                 : dolibrary(L, extra);
      if (status != LUA_OK)
        return 0;
    } else if (option == 'W') {
      lua_warning(L, "@on", 0);
    } else if (option == '-' && argv[i][2] != '\0') {
      const longopt *o = longopts; /* skip a long option's argument */
      for (; o->name != NULL; o++)
        if (strcmp(argv[i], o->name) == 0)
          break;
      if (o->name != NULL && o->argname != NULL)
        i++;
    }
  }
  return 1;
}

static int handle_script(lua_State *L, cli *c) {
  const char *fname = c->argv[c->script];
  if (strcmp(fname, "-") == 0 && strcmp(c->argv[c->script - 1], "--") != 0)
    fname = NULL; /* stdin */
  int status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    /* The script's arguments come from the global arg, as in lua5.4. */
    if (lua_getglobal(L, "arg") != LUA_TTABLE)
      luaL_error(L, "'arg' is not a table");
    int n = (int)luaL_len(L, -1);
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = 1; i <= n; i++)
      lua_rawgeti(L, -i, i);
    lua_remove(L, -n - 1);
    status = docall(L, n, 0);
  }
  return report(L, status);
}

/* }====================================================================== */

/* {======================================================================
** The REPL
** ======================================================================= */

#ifdef LUAIO_USE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

/* The reader of the REPL's lines. The loop runs while the user types: a
** line is asked for with a future, which a uv_poll on standard input
** resolves. On a terminal, readline's callback interface edits the line;
** elsewhere lines are read as they come. Input that cannot be polled (a
** regular file) is read at once, blocking. One reader per process, since
** there is one standard input. */
static struct {
  lua_State *L;      /* the main thread: callbacks call Lua on it */
  int fut;           /* registry ref to the future of the line asked for */
  uv_poll_t poll;    /* on fd 0, when pollable */
  int poll_state;    /* 0 not tried, 1 open, -1 cannot poll, 2 closed */
  int editing;       /* readline's handler is installed */
  int hidden;        /* the line is cleared for a task's output */
  int eof;
  char *buf;         /* read but not yet delivered (without readline) */
  size_t len, cap;
  char *history;     /* owns; the history file, or NULL */
} rd = {NULL, LUA_NOREF, {0}, 0, 0, 0, 0, NULL, 0, 0, NULL};

static int use_readline(void) {
#ifdef LUAIO_USE_READLINE
  return isatty(STDIN_FILENO);
#else
  return 0;
#endif
}

/* Resolves the line's future with the line, or with nil at the end of
** input; len is the line's length. */
static void deliver(const char *line, size_t len) {
  if (rd.poll_state == 1)
    uv_poll_stop(&rd.poll);
  int ref = rd.fut;
  rd.fut = LUA_NOREF;
  if (ref == LUA_NOREF)
    return;
  lua_State *L = rd.L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  lua_getfield(L, -1, "set_result");
  lua_insert(L, -2);
  if (line != NULL)
    lua_pushlstring(L, line, len);
  else
    lua_pushnil(L);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    l_message(progname, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

/* Delivers the first whole line buffered, or what is left at the end of
** input; returns 0 when more input is needed. */
static int deliver_buffered(void) {
  char *nl = rd.len > 0 ? memchr(rd.buf, '\n', rd.len) : NULL;
  if (nl == NULL && !rd.eof)
    return 0;
  size_t n = nl != NULL ? (size_t)(nl - rd.buf) : rd.len;
  if (nl == NULL && n == 0) {
    deliver(NULL, 0);
    return 1;
  }
  char *line = malloc(n + 1);
  if (line == NULL)
    return 0;
  memcpy(line, rd.buf, n);
  size_t used = nl != NULL ? n + 1 : n;
  memmove(rd.buf, rd.buf + used, rd.len - used);
  rd.len -= used;
  deliver(line, n);
  free(line);
  return 1;
}

/* Reads what standard input has; with block, waits for it. */
static void read_input(int block) {
  (void)block;
  if (rd.cap - rd.len < 512) {
    size_t cap = rd.cap * 2 + 1024;
    char *b = realloc(rd.buf, cap);
    if (b == NULL) {
      rd.eof = 1;
      return;
    }
    rd.buf = b;
    rd.cap = cap;
  }
  ssize_t n = read(STDIN_FILENO, rd.buf + rd.len, rd.cap - rd.len);
  if (n > 0)
    rd.len += (size_t)n;
  else if (n == 0 || errno != EINTR)
    rd.eof = 1;
}

#ifdef LUAIO_USE_READLINE
static void on_edited_line(char *line) {
  rl_callback_handler_remove();
  rd.editing = 0;
  deliver(line, line != NULL ? strlen(line) : 0);
  free(line);
}
#endif

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)events;
#ifdef LUAIO_USE_READLINE
  if (rd.editing && status == 0) {
    rl_callback_read_char();
    return;
  }
#endif
  if (status < 0)
    rd.eof = 1;
  else
    read_input(0);
  deliver_buffered();
}

/* cli.read(prompt, fut): asks for the next line; fut gets it, or nil at
** the end of input. */
static int repl_read(lua_State *L) {
  const char *prompt = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TUSERDATA);
  luaioL_runtime *rt = luaioL_runtime_of(L);
  if (rd.fut != LUA_NOREF)
    return luaL_error(L, "a line is already asked for");
  lua_settop(L, 2);
  rd.fut = luaL_ref(L, LUA_REGISTRYINDEX);
  if (rd.poll_state == 0) {
    rd.poll_state = -1;
    if (uv_poll_init(luaio_loop_uv(rt->loop), &rd.poll, STDIN_FILENO) == 0)
      rd.poll_state = 1;
  }
  if (use_readline() && rd.poll_state == 1) {
#ifdef LUAIO_USE_READLINE
    rl_catch_signals = 0; /* Ctrl-C is the runtime's: see repl_cancel */
    rl_callback_handler_install(prompt, on_edited_line);
    rd.editing = 1;
#endif
  } else {
    fputs(prompt, stdout);
    fflush(stdout);
    if (deliver_buffered())
      return 0;
    if (rd.poll_state != 1) { /* a file: read it as it comes */
      do
        read_input(1);
      while (!deliver_buffered());
      return 0;
    }
  }
  uv_poll_start(&rd.poll, UV_READABLE, on_readable);
  return 0;
}

/* cli.cancel(): forgets the line asked for (Ctrl-C at the prompt). */
static int repl_cancel(lua_State *L) {
  if (rd.fut != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, rd.fut);
    rd.fut = LUA_NOREF;
  }
  if (rd.poll_state == 1)
    uv_poll_stop(&rd.poll);
#ifdef LUAIO_USE_READLINE
  if (rd.editing) {
    rl_free_line_state();
    rl_callback_sigcleanup();
    rl_callback_handler_remove();
    rd.editing = 0;
  }
#endif
  rd.len = 0; /* the partial line typed */
  return 0;
}

/* cli.close(): the reader's handle goes, before the loop closes. */
static int repl_close(lua_State *L) {
  repl_cancel(L);
  if (rd.poll_state == 1)
    uv_close((uv_handle_t *)&rd.poll, NULL);
  rd.poll_state = 2;
  free(rd.buf);
  rd.buf = NULL;
  rd.len = rd.cap = 0;
  return 0;
}

/* cli.addhistory(line) */
static int repl_addhistory(lua_State *L) {
  const char *line = luaL_checkstring(L, 1);
#ifdef LUAIO_USE_READLINE
  if (line[0] != '\0' && use_readline()) {
    add_history(line);
    if (rd.history != NULL)
      append_history(1, rd.history);
  }
#else
  (void)line;
#endif
  return 0;
}

/* Output while a line is typed: a task that writes to the terminal while
** the prompt waits would write into the middle of the line. The prompt
** and the line are cleared first and drawn again by a loop callback,
** after what the other callbacks of that turn write. */

#ifdef LUAIO_USE_READLINE
static void repl_show(void *arg) {
  (void)arg;
  rd.hidden = 0;
  if (rd.editing)
    rl_forced_update_display();
}
#endif

static void repl_hide(void) {
#ifdef LUAIO_USE_READLINE
  if (!rd.editing || rd.hidden)
    return;
  luaio_loop_t *loop = luaio_host_loop(rd.L);
  if (loop == NULL || luaio_call_soon(loop, repl_show, NULL, NULL, NULL) != 0)
    return;
  rl_clear_visible_line();
  fflush(rl_outstream != NULL ? rl_outstream : stdout);
  rd.hidden = 1;
#endif
}

/* cli.hide(): a task is about to write to the terminal. */
static int repl_hide_l(lua_State *L) {
  (void)L;
  repl_hide();
  return 0;
}

/* The runtime's stdio_write hook: a task writes with asyncio.stdout()
** or asyncio.stderr(). */
static void repl_hide_stdio(lua_State *L) {
  (void)L;
  repl_hide();
}

/* The exception handler of the REPL's loops, in place of stderr's: the
** errors of background tasks are output too. */
static void repl_exception(lua_State *L, int ctx, void *ud) {
  (void)ud;
  repl_hide();
  luaio_print_exception(L, ctx);
}

/* The history file: $LUAIO_HISTORY (none when it is empty), else
** ~/.luaio_history; multi-line entries stay whole (readline's timestamps
** mark where each begins), and the last HISTORY_MAX are kept. */

#define HISTORY_MAX 1000

static void history_open(lua_State *L) {
#ifdef LUAIO_USE_READLINE
  if (!use_readline())
    return;
  int noenv = lua_getfield(L, LUA_REGISTRYINDEX, "LUA_NOENV") != LUA_TNIL;
  lua_pop(L, 1);
  const char *path = noenv ? NULL : getenv("LUAIO_HISTORY");
  const char *home = getenv("HOME");
  if (path != NULL && path[0] == '\0')
    return;
  if (path == NULL && (home == NULL || home[0] == '\0'))
    return;
  size_t n = path != NULL ? strlen(path) + 1
                          : strlen(home) + sizeof "/.luaio_history";
  rd.history = malloc(n);
  if (rd.history == NULL)
    return;
  if (path != NULL)
    memcpy(rd.history, path, n);
  else
    snprintf(rd.history, n, "%s/.luaio_history", home);
  history_comment_char = '#'; /* marks the timestamps in the file */
  history_write_timestamps = 1;
  history_multiline_entries = 1;
  int rc = read_history(rd.history);
  if (rc == ENOENT)
    rc = write_history(rd.history); /* append_history needs the file */
  if (rc != 0) {
    free(rd.history); /* unreadable: the session goes on without it */
    rd.history = NULL;
  }
#else
  (void)L;
#endif
}

static void history_close(void) {
#ifdef LUAIO_USE_READLINE
  if (rd.history != NULL)
    history_truncate_file(rd.history, HISTORY_MAX);
  free(rd.history);
  rd.history = NULL;
#endif
}

/* cli.report(msg): an error in the REPL, without the program's name. */
static int repl_report(lua_State *L) {
  l_message(NULL, luaL_checkstring(L, 1));
  return 0;
}

/* cli.interrupt_to(task): what Ctrl-C cancels from now on (the REPL's
** own task at the prompt, a line's task while it runs). */
static int repl_interrupt_to(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  lfuture *box = luaioL_tofuture(L, 1);
  luaL_argexpected(L, box != NULL && box->is_task, 1, "asyncio.Task");
  rt->interrupt_target = box;
  return 0;
}

/* cli.interrupted(): true once after each Ctrl-C, which is then
** forgotten, so that the next one is a first one again. */
static int repl_interrupted(lua_State *L) {
  luaioL_runtime *rt = luaioL_runtime_of(L);
  lua_pushboolean(L, rt->interrupted != 0);
  luaioL_interrupt_reset(rt);
  return 1;
}

/* Runs lua/cli/repl.lua as the main task of asyncio.run. */
static void doREPL(lua_State *L) {
  rd.L = L;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "asyncio"); /* the module, whatever the globals say */
  lua_remove(L, -2);
  int module = lua_gettop(L);
  lua_getfield(L, module, "run");
  int status = loadchunk(L, "repl");
  if (status == LUA_OK) {
    static const luaL_Reg funcs[] = {{"read", repl_read},
                                     {"cancel", repl_cancel},
                                     {"close", repl_close},
                                     {"addhistory", repl_addhistory},
                                     {"hide", repl_hide_l},
                                     {"msghandler", msghandler},
                                     {"report", repl_report},
                                     {"interrupt_to", repl_interrupt_to},
                                     {"interrupted", repl_interrupted},
                                     {NULL, NULL}};
    luaL_newlib(L, funcs);
    lua_pushvalue(L, module);
    history_open(L);
    luaio_set_exception_handler(L, repl_exception, NULL);
    luaioL_runtime *rt = luaioL_runtime_of(L);
    rt->stdio_write = repl_hide_stdio;
    status = docall(L, 3, 0); /* asyncio.run(repl, cli, asyncio) */
    rt->stdio_write = NULL;
    luaio_set_exception_handler(L, NULL, NULL);
    history_close();
  }
  report(L, status);
  lua_pop(L, 1);
}

/* }====================================================================== */

static int pmain(lua_State *L) {
  cli *c = lua_touserdata(L, 1);
  char **argv = c->argv;
  luaL_checkversion(L);
  if (c->has & HAS_ERROR) {
    print_usage(argv[c->script]);
    return 0;
  }
  if (c->has & HAS_HELP) {
    print_help();
    c->status = EXIT_SUCCESS;
    return 0;
  }
  if (c->has & HAS_V)
    print_version();
  if (c->has & HAS_NOENV) { /* the libraries then ignore LUA_PATH... */
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  /* Tasks keep many objects alive (a thread with its stack each) and
  ** every cycle of the collector walks them all, so it starts a cycle
  ** once the heap has tripled rather than doubled: spawning 100,000
  ** tasks takes about a sixth less time, for more room left to garbage.
  ** Scripts may set their own with collectgarbage("setpause", n). */
  lua_gc(L, LUA_GCINC, 300, 0, 0);
  if (open_runtime(L, c) != 0)
    return 0;
  if (c->has & HAS_VIRTUAL_TIME)
    luaio_set_default_clock(L, LUAIO_CLOCK_VIRTUAL);
  const char *debug = getenv("LUAIO_DEBUG");
  if (!(c->has & HAS_NOENV) && debug != NULL && strcmp(debug, "1") == 0)
    c->has |= HAS_DEBUG;
  /* A sandboxed script's tasks get a slice unless --slice gives one. */
  double slice = c->slice;
  if (slice == 0 && (c->has & HAS_SANDBOX))
    slice = SANDBOX_SLICE;
  if (slice > 0)
    luaio_set_slice(L, slice, 0);
  if (c->has & HAS_DEBUG)
    luaio_set_debug(L, 1);
  createargtable(L, argv, c->argc, c->script);
  if (!(c->has & HAS_NOENV) && handle_luainit(L) != LUA_OK)
    return 0;
  if (!runargs(L, argv, c->optlim))
    return 0;
  if (c->script > 0 && handle_script(L, c) != LUA_OK)
    return 0;
  if (c->has & HAS_I) {
    doREPL(L);
  } else if (c->script == 0 && !(c->has & (HAS_EXEC | HAS_V))) {
    if (isatty(STDIN_FILENO)) {
      print_version();
      doREPL(L);
    } else if (dofile(L, NULL) != LUA_OK) {
      return 0;
    }
  }
  c->status = EXIT_SUCCESS;
  return 0;
}

int main(int argc, char **argv) {
  /* `luaio ps PID`, `luaio pstree PID` (luaio_ps.c): a script of either
  ** name runs as ./ps. */
  if (argc > 1 && (strcmp(argv[1], "ps") == 0 ||
                   strcmp(argv[1], "pstree") == 0))
    return luaio_ps_main(argc, argv);
  cli c = {.argc = argc, .argv = argv, .optlim = argc,
           .status = EXIT_FAILURE};
  if (collectargs(&c) != 0)
    return EXIT_FAILURE;
  luaio_alloc_t *alloc;
  lua_State *L = luaio_newstate(&alloc);
  if (L == NULL) {
    l_message(progname, "cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  lua_pushcfunction(L, pmain);
  lua_pushlightuserdata(L, &c);
  int st = lua_pcall(L, 1, 0, 0);
  report(L, st);
  int interrupted = luaio_interrupted(L);
  luaio_closestate(L, alloc);
  if (interrupted) { /* the signal's number: 130 for SIGINT, 143 for SIGTERM */
    /* Without running exit's handlers: libuv's would wait for the thread
    ** pool, where to_thread work may still run. */
    fflush(NULL);
    _exit(128 + interrupted);
  }
  return st == LUA_OK ? c.status : EXIT_FAILURE;
}
