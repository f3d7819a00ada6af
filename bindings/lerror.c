/*
** lerror.c - asyncio's error classes, and the one place where core codes
** become Lua errors.
*/
#include <string.h>

#include "lbind.h"

static const char ERRORS_KEY = 'e';  /* registry: name -> class */
static const char CARRIED_KEY = 'c'; /* registry: weak set of errors */

/* Classes by name, with the name of their base and a default message. */
static const struct {
  const char *name, *base, *msg;
} classes[] = {
    {"Error", NULL, "error"},
    {"CancelledError", "Error", "cancelled"},
    {"TimeoutError", "Error", "timed out"},
    {"InvalidStateError", "Error", "invalid state"},
    {"QueueEmpty", "Error", "queue is empty"},
    {"QueueFull", "Error", "queue is full"},
    {"QueueShutDown", "Error", "queue is shut down"},
    {"ExceptionGroup", "Error", "unhandled errors"},
    {"BrokenBarrierError", "Error", "barrier is broken"},
    {"IncompleteReadError", "Error", "incomplete read"},
    {"LimitOverrunError", "Error", "limit overrun"},
    {"SliceError", "Error", "the task ran past the loop's slice"},
    {NULL, NULL, NULL}};

/* [-0, +1, -] */
static void getclass(lua_State *L, const char *name) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ERRORS_KEY);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
}

/* Nonzero when the value at idx is an instance of an asyncio class. */
static int isinstance(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx))
    return 0;
  int r = lua_getfield(L, -1, "__asyncio_error") == LUA_TBOOLEAN;
  lua_pop(L, 2);
  return r;
}

/* Nonzero when the class at cls is the class of the value at idx or one of
** its bases. */
static int isa(lua_State *L, int idx, int cls) {
  cls = lua_absindex(L, cls);
  if (!lua_istable(L, idx) || !isinstance(L, idx))
    return 0;
  lua_getmetatable(L, idx);
  while (lua_istable(L, -1)) {
    if (lua_rawequal(L, -1, cls)) {
      lua_pop(L, 1);
      return 1;
    }
    lua_getfield(L, -1, "super");
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
  return 0;
}

void luaioL_newerror(lua_State *L, const char *cls, const char *msg) {
  getclass(L, cls);
  lua_createtable(L, 0, 3);
  if (msg == NULL) {
    lua_getfield(L, -2, "default_message");
    lua_setfield(L, -2, "message");
  } else {
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "message");
  }
  lua_insert(L, -2);
  lua_setmetatable(L, -2);
}

int luaioL_iscancelled(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  getclass(L, "CancelledError");
  int r = isa(L, idx, -1);
  lua_pop(L, 1);
  return r;
}

static const char *class_for(int err) {
  switch (err) {
  case LUAIO_ECANCELLED: return "CancelledError";
  case LUAIO_ETIMEOUT: return "TimeoutError";
  case LUAIO_EINVALSTATE: return "InvalidStateError";
  case LUAIO_EQUEUEEMPTY: return "QueueEmpty";
  case LUAIO_EQUEUEFULL: return "QueueFull";
  case LUAIO_ESHUTDOWN: return "QueueShutDown";
  case LUAIO_EBROKEN: return "BrokenBarrierError";
  default: return NULL;
  }
}

int luaioL_raise(lua_State *L, int err, const char *msg) {
  const char *cls = class_for(err);
  if (err == LUAIO_ENOMEM) {
    lua_pushliteral(L, "not enough memory");
    return lua_error(L);
  }
  if (cls != NULL) {
    luaioL_newerror(L, cls, msg);
  } else {
    /* A libuv or other core code: the message carries its name. */
    if (msg != NULL)
      lua_pushfstring(L, "%s: %s (%s)", msg, luaio_strerror(err),
                      luaio_err_name(err));
    else
      lua_pushfstring(L, "%s (%s)", luaio_strerror(err), luaio_err_name(err));
    luaioL_newerror(L, "Error", lua_tostring(L, -1));
    lua_pushstring(L, luaio_err_name(err));
    lua_setfield(L, -2, "code");
    lua_remove(L, -2);
  }
  return lua_error(L);
}

int luaioL_check(lua_State *L, int rc, const char *fname) {
  if (rc >= 0)
    return rc;
  if (rc == LUAIO_EINVAL)
    return luaL_error(L, "%s: invalid argument", fname);
  return luaioL_raise(L, rc, class_for(rc) != NULL ? NULL : fname);
}

void luaioL_carryerror(lua_State *L, const char *tb) {
  if (lua_istable(L, -1)) {
    if (isinstance(L, -1) || !lua_getmetatable(L, -1)) {
      /* Ours, or a plain table: it may carry where it failed. */
      if (lua_getfield(L, -1, "traceback") == LUA_TNIL && tb != NULL) {
        lua_pushstring(L, tb);
        lua_setfield(L, -3, "traceback");
      }
      lua_pop(L, 1);
    } else {
      lua_pop(L, 1); /* a table with a metatable is left untouched */
    }
    if (!isinstance(L, -1)) {
      lua_rawgetp(L, LUA_REGISTRYINDEX, &CARRIED_KEY);
      lua_pushvalue(L, -2);
      lua_pushboolean(L, 1);
      lua_rawset(L, -3);
      lua_pop(L, 1);
    }
    return;
  }
  /* Anything else is wrapped; tostring gives the message unchanged. */
  int v = lua_gettop(L);
  luaioL_newerror(L, "Error", luaL_tolstring(L, v, NULL));
  lua_remove(L, -2); /* the luaL_tolstring copy */
  lua_pushvalue(L, v);
  lua_setfield(L, -2, "value");
  if (tb != NULL) {
    lua_pushstring(L, tb);
    lua_setfield(L, -2, "traceback");
  }
  lua_remove(L, v);
}

/* {======================================================================
** Reports: contexts for the exception handler
** ======================================================================= */

void luaioL_printcontext(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  int top = lua_gettop(L);
  luaL_checkstack(L, 4, NULL);
  lua_getfield(L, idx, "message");
  const char *msg = lua_isstring(L, -1) ? lua_tostring(L, -1)
                                        : "unhandled error in the event loop";
  if (lua_getfield(L, idx, "exception") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_getfield(L, idx, "error");
  }
  int err = lua_gettop(L);
  if (lua_isnil(L, err)) {
    fprintf(stderr, "%s\n", msg);
    /* Where the object of the report was made (debug mode). */
    if (lua_getfield(L, idx, "source_traceback") == LUA_TSTRING)
      fprintf(stderr, "created here:\n%s\n",
              strncmp(lua_tostring(L, -1), "stack traceback:\n", 17) == 0
                  ? lua_tostring(L, -1) + 17
                  : lua_tostring(L, -1));
  } else {
    const char *text = luaL_tolstring(L, err, NULL);
    const char *tb = NULL;
    if (lua_istable(L, err) &&
        lua_getfield(L, err, "traceback") == LUA_TSTRING)
      tb = lua_tostring(L, -1);
    fprintf(stderr, "%s: %s\n", msg, text);
    if (tb != NULL)
      fprintf(stderr, "%s\n", tb);
  }
  fflush(stderr);
  lua_settop(L, top);
}

LUAIO_EXTERN void luaio_print_exception(lua_State *L, int ctx) {
  luaioL_printcontext(L, ctx);
}

/* Stack: prefix (light userdata), error. [-0, +0, m] */
static int report_p(lua_State *L) {
  const char *prefix = lua_touserdata(L, 1);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, prefix);
  lua_setfield(L, -2, "message");
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "exception");
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "error");
  luaioL_callhandler(L);
  return 0;
}

void luaioL_report(lua_State *L, int idx, const char *prefix) {
  idx = lua_absindex(L, idx);
  if (!lua_checkstack(L, 3)) {
    fprintf(stderr, "%s: (no stack space to report the error)\n", prefix);
    return;
  }
  lua_pushcfunction(L, report_p);
  lua_pushlightuserdata(L, (void *)prefix);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) { /* out of memory */
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "%s: (cannot be reported: %s)\n", prefix,
            msg != NULL ? msg : "?");
    fflush(stderr);
    lua_pop(L, 1);
  }
}

int luaioL_msghandler(lua_State *L) {
  luaL_traceback(L, L, NULL, 1);
  lua_pushvalue(L, 1);
  luaioL_carryerror(L, lua_tostring(L, -2));
  return 1;
}

void luaioL_pcallreport(lua_State *L, int nargs, const char *what) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, luaioL_msghandler);
  lua_insert(L, base);
  if (lua_pcall(L, nargs, 0, base) != LUA_OK) {
    luaioL_report(L, -1, what);
    lua_pop(L, 1);
  }
  lua_remove(L, base);
}

/* }====================================================================== */

/* {======================================================================
** Lua functions
** ======================================================================= */

static int lerror_is(lua_State *L) { /* Class:is(v) */
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushboolean(L, isa(L, 2, 1));
  return 1;
}

/* Makes an instance of the class at 1: Class:new(msg [, fields]), or,
** when shift is 1, Class(msg [, fields]), whose caller counts msg as
** argument 1. */
static int newinstance(lua_State *L, int shift) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2) && !lua_isstring(L, 2))
    luaL_argerror(L, 2 - shift,
                  lua_pushfstring(L, "message: string or nil expected, got %s",
                                  luaL_typename(L, 2)));
  if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3))
    luaL_argerror(L, 3 - shift,
                  lua_pushfstring(L, "fields: table or nil expected, got %s",
                                  luaL_typename(L, 3)));
  const char *msg = lua_tostring(L, 2);
  lua_createtable(L, 0, 2);
  if (lua_istable(L, 3)) { /* copy extra fields */
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, -4);
    }
  }
  if (msg != NULL)
    lua_pushstring(L, msg);
  else
    lua_getfield(L, 1, "default_message");
  lua_setfield(L, -2, "message");
  lua_pushvalue(L, 1);
  lua_setmetatable(L, -2);
  return 1;
}

static int lerror_new(lua_State *L) { /* Class:new(msg [, fields]) */
  return newinstance(L, 0);
}

static int lclass__call(lua_State *L) { /* Class(msg [, fields]) */
  return newinstance(L, 1);
}

static int lerror__tostring(lua_State *L) {
  if (lua_getfield(L, 1, "message") != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushstring(L, "error");
  }
  return 1;
}

static int lerror_iserror(lua_State *L) {
  int r = 0;
  if (lua_istable(L, 1)) {
    r = isinstance(L, 1);
    if (!r) {
      lua_rawgetp(L, LUA_REGISTRYINDEX, &CARRIED_KEY);
      lua_pushvalue(L, 1);
      r = lua_rawget(L, -2) != LUA_TNIL;
    }
  }
  lua_pushboolean(L, r);
  return 1;
}

static int lclass__tostring(lua_State *L) {
  lua_getfield(L, 1, "__name");
  return 1;
}

void luaioL_open_error(lua_State *L) {
  int module = lua_gettop(L);
  lua_newtable(L); /* name -> class */
  lua_newtable(L); /* metatable of classes: Class(...) makes an instance */
  lua_pushcfunction(L, lclass__call);
  lua_setfield(L, -2, "__call");
  lua_pushcfunction(L, lclass__tostring);
  lua_setfield(L, -2, "__tostring");
  int classmeta = lua_gettop(L);
  for (int i = 0; classes[i].name != NULL; i++) {
    lua_createtable(L, 0, 8);
    lua_pushstring(L, classes[i].name);
    lua_setfield(L, -2, "name");
    lua_pushfstring(L, "asyncio.%s", classes[i].name);
    lua_setfield(L, -2, "__name");
    lua_pushstring(L, classes[i].msg);
    lua_setfield(L, -2, "default_message");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "__asyncio_error");
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, lerror__tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, lerror_is);
    lua_setfield(L, -2, "is");
    lua_pushcfunction(L, lerror_new);
    lua_setfield(L, -2, "new");
    if (classes[i].base != NULL) {
      lua_getfield(L, classmeta - 1, classes[i].base);
      lua_setfield(L, -2, "super");
    }
    lua_pushvalue(L, classmeta);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, classmeta - 1, classes[i].name);
    lua_setfield(L, module, classes[i].name); /* asyncio.<Class> */
  }
  lua_pop(L, 1); /* classmeta */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ERRORS_KEY);
  luaioL_newweakset(L, &CARRIED_KEY); /* carried error tables */
  lua_pushcfunction(L, lerror_iserror);
  lua_setfield(L, module, "iserror");
}

/* }====================================================================== */
