/*
** luaio.c - the luaio command: runs a Lua script with the asyncio module
** preloaded, as lua.c does for Lua's library.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "luaiolib.h"

static const char *progname = "luaio";

static void print_usage(FILE *f) {
  fprintf(f,
          "usage: %s [options] [script [args]]\n"
          "Runs a Lua %s script with the asyncio module loaded.\n"
          "Options:\n"
          "  -e CODE   run the string CODE\n"
          "  -v        show version information\n"
          "  -h, --help  show this help\n"
          "  -         run standard input (also without a script)\n"
          "Exit status: 0 on success, 1 on an uncaught error, 130 after "
          "Ctrl-C.\n",
          progname, LUA_VERSION_MAJOR "." LUA_VERSION_MINOR);
}

/* Adds the traceback, and for errors that came from a task, the task's
** own traceback, to the message. */
static int msghandler(lua_State *L) {
  const char *msg;
  if (lua_istable(L, 1)) {
    msg = luaL_tolstring(L, 1, NULL);
    if (lua_getfield(L, 1, "traceback") == LUA_TSTRING) {
      lua_pushfstring(L, "%s\n%s", msg, lua_tostring(L, -1));
      msg = lua_tostring(L, -1);
    }
  } else {
    msg = luaL_tolstring(L, 1, NULL);
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "%s: %s\n", progname, msg ? msg : "(error object)");
    fflush(stderr);
    lua_pop(L, 1);
  }
  return status;
}

static int docall(lua_State *L, int narg) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, 0, base);
  lua_remove(L, base);
  return status;
}

static void createargtable(lua_State *L, char **argv, int argc, int script) {
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

typedef struct {
  int argc;
  char **argv;
  int status;
} args;

static int pmain(lua_State *L) {
  args *a = lua_touserdata(L, 1);
  int argc = a->argc;
  char **argv = a->argv;
  luaL_checkversion(L);
  /* Tasks keep many objects alive (a thread with its stack each) and
  ** every cycle of the collector walks them all, so it starts a cycle
  ** once the heap has tripled rather than doubled: spawning 100,000
  ** tasks takes about a sixth less time, for more room left to garbage.
  ** Scripts may set their own with collectgarbage("setpause", n). */
  lua_gc(L, LUA_GCINC, 300, 0, 0);
  luaL_openlibs(L);
  luaL_requiref(L, "asyncio", luaopen_asyncio, 1); /* global and loaded */
  lua_pop(L, 1);
  int script = 0;
  int i;
  for (i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (strcmp(o, "-v") == 0) {
      printf("luaio %s (%s)\n", luaio_version_string(), LUA_RELEASE);
      a->status = 0;
      return 0;
    } else if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
      print_usage(stdout);
      a->status = 0;
      return 0;
    } else if (strcmp(o, "-e") == 0) {
      if (++i >= argc) {
        fprintf(stderr, "%s: '-e' needs an argument\n", progname);
        print_usage(stderr);
        a->status = 1;
        return 0;
      }
    } else if (strcmp(o, "-") == 0 || o[0] != '-') {
      script = i;
      break;
    } else {
      fprintf(stderr, "%s: unrecognized option '%s'\n", progname, o);
      print_usage(stderr);
      a->status = 1;
      return 0;
    }
  }
  createargtable(L, argv, argc, script > 0 ? script : 0);
  /* Run the -e chunks in order, then the script. */
  int ran = 0;
  for (i = 1; i < (script > 0 ? script : argc); i++) {
    if (strcmp(argv[i], "-e") == 0) {
      i++;
      ran = 1;
      int st = luaL_loadbuffer(L, argv[i], strlen(argv[i]), "=(command line)");
      if (st == LUA_OK)
        st = docall(L, 0);
      if (report(L, st) != LUA_OK) {
        a->status = 1;
        return 0;
      }
    }
  }
  if (script > 0 || !ran) {
    const char *fname = script > 0 ? argv[script] : "-";
    if (strcmp(fname, "-") == 0)
      fname = NULL; /* stdin */
    int st = luaL_loadfile(L, fname);
    if (st == LUA_OK) {
      int n = 0;
      if (script > 0)
        for (int j = script + 1; j < argc; j++, n++)
          lua_pushstring(L, argv[j]);
      st = docall(L, n);
    }
    if (report(L, st) != LUA_OK) {
      a->status = 1;
      return 0;
    }
  }
  a->status = 0;
  return 0;
}

int main(int argc, char **argv) {
  if (argv[0] != NULL && argv[0][0] != '\0')
    progname = "luaio";
  luaio_alloc_t *alloc;
  lua_State *L = luaio_newstate(&alloc);
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create state: not enough memory\n", progname);
    return 1;
  }
  args a = {argc, argv, 1};
  lua_pushcfunction(L, pmain);
  lua_pushlightuserdata(L, &a);
  int st = lua_pcall(L, 1, 0, 0);
  report(L, st);
  int interrupted = luaio_interrupted(L);
  luaio_closestate(L, alloc);
  if (interrupted) /* the signal's number: 130 for SIGINT, 143 for SIGTERM */
    return 128 + interrupted;
  return st == LUA_OK ? a.status : 1;
}
