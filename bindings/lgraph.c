/*
** lgraph.c - asyncio.capture_call_graph, format_call_graph and
** print_call_graph (Python 3.14's asyncio.graph): the Lua face of
** core/graph.c. A graph is a table for one future: the future, where its
** task is suspended (call_stack, innermost frame first) and who waits for
** it (awaited_by), each awaiting task a graph of its own.
*/
#include <stdio.h>
#include <string.h>

#include "lbind.h"

typedef struct {
  int depth;          /* the current task's first level (1: the caller) */
  int haslimit;
  lua_Integer limit;  /* frames kept: > 0 innermost, < 0 outermost */
} graph_opts;

/* {======================================================================
** Capturing
** ======================================================================= */

/* Pushes the line the traceback of co writes for its frame at level.
** [-0, +1, m] */
static void pushframetext(lua_State *L, lua_State *co, int level) {
  luaL_traceback(L, co, NULL, level);
  const char *s = strstr(lua_tostring(L, -1), "\n\t");
  if (s == NULL) {
    lua_pushliteral(L, "?");
  } else {
    s += 2;
    const char *e = strchr(s, '\n');
    lua_pushlstring(L, s, e != NULL ? (size_t)(e - s) : strlen(s));
  }
  lua_remove(L, -2);
}

/* The frames' lines are cut from tracebacks of co: one gives the first
** ten levels from where it starts in full (then it skips), so a deep
** stack costs a traceback per ten frames, not per frame. */
#define TB_TAILCALLS "(...tail calls...)"

/* Appends the frames of co at levels from to to - 1 to the list at list.
** [-0, +0, m] */
static void addframes(lua_State *L, lua_State *co, int from, int to,
                      int list) {
  lua_Debug ar;
  lua_pushnil(L);
  int tb = lua_gettop(L); /* the traceback the lines come from */
  const char *line = NULL; /* its next frame's line, or NULL */
  for (int level = from; level < to && lua_getstack(co, level, &ar);
       level++) {
    lua_getinfo(co, "Sln", &ar);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, ar.short_src);
    lua_setfield(L, -2, "source");
    if (ar.currentline > 0) {
      lua_pushinteger(L, ar.currentline);
      lua_setfield(L, -2, "line");
    }
    if (ar.name != NULL) {
      lua_pushstring(L, ar.name);
      lua_setfield(L, -2, "name");
    }
    lua_pushstring(L, ar.what);
    lua_setfield(L, -2, "what");
    if (line == NULL || strncmp(line, "...", 3) == 0) {
      luaL_traceback(L, co, NULL, level);
      lua_replace(L, tb);
      line = strstr(lua_tostring(L, tb), "\n\t");
      line = line != NULL ? line + 2 : "?";
    }
    const char *end = strchr(line, '\n');
    lua_pushlstring(L, line, end != NULL ? (size_t)(end - line)
                                         : strlen(line));
    lua_setfield(L, -2, "text");
    lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
    line = end != NULL ? end + 2 : NULL; /* past "\n\t" */
    if (line != NULL && strncmp(line, TB_TAILCALLS,
                                sizeof TB_TAILCALLS - 1) == 0) {
      end = strchr(line, '\n'); /* a line of its own, for no level */
      line = end != NULL ? end + 2 : NULL;
    }
  }
  lua_remove(L, tb);
}

/* The number of frames of co from level first on. */
static int countframes(lua_State *co, int first) {
  lua_Debug ar;
  int n = 0;
  while (lua_getstack(co, first + n, &ar))
    n++;
  return n;
}

/* Pushes the call stack of the box's task: where it runs when it is the
** current one (from o's depth: the caller of the function called from
** Lua, by default), where it is suspended otherwise; empty for a future
** or a task not started or done. Only the frames the limit keeps are
** made, for a deep stack costs a traceback's walk per frame.
** [-0, +1, m] */
static void pushstack(lua_State *L, lfuture *box, int current,
                      const graph_opts *o) {
  lua_newtable(L);
  int list = lua_gettop(L);
  lua_State *part[2];
  int first[2], count[2], nparts = 0, total = 0;
  if (box->is_task && box->co != NULL && box->task != NULL) {
    if (current) {
      part[nparts] = L;
      first[nparts++] = o->depth;
      if (L != box->co) { /* called from a coroutine the task made */
        part[nparts] = box->co;
        first[nparts++] = 0;
      }
    } else if (box->started) {
      part[nparts] = box->co;
      first[nparts++] = 0;
    }
  }
  for (int i = 0; i < nparts; i++)
    total += count[i] = countframes(part[i], first[i]);
  /* The frames kept, innermost first: [lo, hi) of all of them. */
  int lo = 0, hi = total;
  if (o->haslimit) {
    lua_Integer keep = o->limit >= 0 ? o->limit : -o->limit;
    if (keep > total)
      keep = total;
    if (o->limit >= 0)
      hi = (int)keep;
    else
      lo = total - (int)keep;
  }
  for (int i = 0, at = 0; i < nparts; at += count[i++]) {
    int from = lo > at ? lo - at : 0;
    int to = hi - at < count[i] ? hi - at : count[i];
    if (from < to)
      addframes(L, part[i], first[i] + from, first[i] + to, list);
  }
}

typedef struct {
  lua_State *L;
  int list;
} awaiters_ctx;

static void add_awaiter(luaio_task_t *t, luaio_via via, void *arg) {
  awaiters_ctx *c = arg;
  lua_State *L = c->L;
  lfuture *box = luaio_future_data(luaio_task_future(t));
  if (box == NULL || box->pin == LUA_NOREF)
    return; /* not a task of Lua's */
  lua_Integer n = (lua_Integer)lua_rawlen(L, c->list);
  luaioL_pushbox(L, box);
  lua_rawseti(L, c->list, n + 1);
  lua_pushstring(L, luaio_via_name(via));
  lua_rawseti(L, c->list, n + 2);
}

/* Pushes the tasks waiting for the box's future and how, as a list
** {task, via, task, via, ...}. [-0, +1, m] */
static void pushawaiters(lua_State *L, lfuture *box) {
  lua_newtable(L);
  luaioL_runtime *rt = box->rt;
  if (box->fut == NULL || luaio_future_done(box->fut) || rt->loop == NULL ||
      box->gen != rt->gen)
    return;
  awaiters_ctx c = {L, lua_gettop(L)};
  /* Raising from add_awaiter is safe: the walk holds nothing. */
  luaio_future_foreach_awaiter(box->fut, add_awaiter, &c);
}

/* Whether box is the future of the node at node or of one it is listed
** under (parents maps a node to the node it is listed under). */
static int oncycle(lua_State *L, int parents, int node, int box) {
  lua_pushvalue(L, node);
  int found = 0;
  while (!found && !lua_isnil(L, -1)) {
    lua_getfield(L, -1, "future");
    found = lua_rawequal(L, -1, box);
    lua_pop(L, 1);
    lua_rawget(L, parents); /* the node it is listed under, or nil */
  }
  lua_pop(L, 1);
  return found;
}

/* Pushes the graph of the future or task at idx, breadth first with a
** queue of nodes to fill, so that a long chain of awaiting tasks needs no
** C recursion. A task met again on its own path is listed with cycle =
** true and not followed. [-0, +1, m] */
static void pushgraph(lua_State *L, int idx, const graph_opts *o) {
  luaL_checkstack(L, 12, "capture_call_graph");
  luaioL_runtime *rt = luaioL_runtime_of(L);
  graph_opts rest = *o;
  rest.depth = 0;
  lua_newtable(L);
  int queue = lua_gettop(L);
  lua_newtable(L);
  int parents = queue + 1;
  lua_createtable(L, 0, 3); /* the root, left at the top at the end */
  lua_pushvalue(L, idx);
  lua_setfield(L, -2, "future");
  lua_pushvalue(L, -1);
  lua_rawseti(L, queue, 1);
  for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, queue); i++) {
    lua_rawgeti(L, queue, i);
    int node = lua_gettop(L);
    lua_getfield(L, node, "future");
    lfuture *box = luaioL_tofuture(L, -1);
    int current = box == rt->current && box != NULL;
    pushstack(L, box, current, current ? o : &rest);
    lua_setfield(L, node, "call_stack");
    lua_newtable(L);
    int awaited_by = lua_gettop(L);
    pushawaiters(L, box);
    int list = awaited_by + 1;
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    for (lua_Integer j = 1; j < n; j += 2) {
      lua_createtable(L, 0, 4);
      int child = lua_gettop(L);
      lua_rawgeti(L, list, j);
      lua_setfield(L, child, "future");
      lua_rawgeti(L, list, j + 1);
      lua_setfield(L, child, "via");
      lua_rawgeti(L, list, j);
      if (oncycle(L, parents, node, lua_gettop(L))) {
        lua_pushboolean(L, 1);
        lua_setfield(L, child, "cycle");
        lua_newtable(L);
        lua_setfield(L, child, "call_stack");
        lua_newtable(L);
        lua_setfield(L, child, "awaited_by");
      } else {
        lua_pushvalue(L, child);
        lua_pushvalue(L, node);
        lua_rawset(L, parents);
        lua_pushvalue(L, child);
        lua_rawseti(L, queue, (lua_Integer)lua_rawlen(L, queue) + 1);
      }
      lua_pop(L, 1);
      lua_rawseti(L, awaited_by, (lua_Integer)lua_rawlen(L, awaited_by) + 1);
    }
    lua_pop(L, 1); /* the list */
    lua_setfield(L, node, "awaited_by");
    lua_settop(L, node - 1);
  }
  lua_replace(L, queue);
  lua_settop(L, queue);
}

/* Tasks named at most in a chain of awaiters (a task's error). */
#define CHAIN_MAX 8

typedef struct {
  luaio_task_t *task; /* the first task waiting, or NULL */
  luaio_via via;
} first_ctx;

static void first_awaiter(luaio_task_t *t, luaio_via via, void *arg) {
  first_ctx *c = arg;
  if (c->task == NULL) {
    c->task = t;
    c->via = via;
  }
}

void luaioL_pushawaitchain(lua_State *L, luaio_task_t *task) {
  luaL_checkstack(L, CHAIN_MAX + 4, "awaiters");
  luaio_task_t *seen[CHAIN_MAX + 1];
  int n = 0, pieces = 0;
  seen[n++] = task;
  for (luaio_task_t *t = task; t != NULL;) { /* NULL: a task done */
    first_ctx first = {NULL, LUAIO_VIA_AWAIT};
    luaio_future_foreach_awaiter(luaio_task_future(t), first_awaiter,
                                 &first);
    t = first.task;
    lfuture *box = t != NULL ? luaio_future_data(luaio_task_future(t)) : NULL;
    if (box == NULL || box->pin == LUA_NOREF)
      break;
    for (int i = 0; i < n && t != NULL; i++)
      if (seen[i] == t) /* a cycle: named once */
        t = NULL;
    if (t == NULL)
      break;
    if (n == CHAIN_MAX + 1) {
      lua_pushliteral(L, ", ...");
      pieces++;
      break;
    }
    seen[n++] = t;
    luaioL_pushbox(L, box);
    luaioL_pushname(L, lua_gettop(L), box);
    if (first.via == LUAIO_VIA_AWAIT)
      lua_pushfstring(L, ", awaited by task '%s'", lua_tostring(L, -1));
    else
      lua_pushfstring(L, ", awaited by task '%s' (via %s)",
                      lua_tostring(L, -1), luaio_via_name(first.via));
    lua_replace(L, -3);
    lua_pop(L, 1);
    pieces++;
  }
  lua_concat(L, pieces);
}

/* Reads the arguments common to the three functions: the future (nil:
** the current task, left at 1) and the options at 2. Returns 0 when
** there is no current task to show. [-0, +0, v] */
static int checkargs(lua_State *L, const char *fname, graph_opts *o) {
  lua_settop(L, 2);
  if (lua_isnil(L, 1)) {
    luaioL_runtime *rt = luaioL_runtime_of(L);
    if (rt->loop == NULL)
      luaL_error(L, "%s: no running event loop: pass a task or future, or "
                    "call it inside asyncio.run(main)", fname);
    if (rt->current == NULL)
      return 0;
    luaioL_pushbox(L, rt->current);
    lua_replace(L, 1);
  } else if (luaioL_tofuture(L, 1) == NULL) {
    luaL_typeerror(L, 1, "asyncio.Task or asyncio.Future");
  }
  o->depth = 1;
  o->haslimit = 0;
  o->limit = 0;
  if (lua_isnil(L, 2))
    return 1;
  luaL_checktype(L, 2, LUA_TTABLE);
  if (lua_getfield(L, 2, "depth") != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 ||
        lua_tointeger(L, -1) > 1000000)
      luaL_argerror(L, 2, lua_pushfstring(L, "depth: non-negative integer "
                                          "expected, got %s",
                                          luaL_tolstring(L, -1, NULL)));
    o->depth = (int)lua_tointeger(L, -1);
  }
  if (lua_getfield(L, 2, "limit") != LUA_TNIL) {
    if (!lua_isinteger(L, -1))
      luaL_argerror(L, 2, lua_pushfstring(L, "limit: integer or nil "
                                          "expected, got %s",
                                          luaL_tolstring(L, -1, NULL)));
    o->haslimit = 1;
    o->limit = lua_tointeger(L, -1);
  }
  lua_pop(L, 2);
  return 1;
}

static int lgraph_capture_call_graph(lua_State *L) {
  graph_opts o;
  if (!checkargs(L, "capture_call_graph", &o)) {
    lua_pushnil(L);
    return 1;
  }
  pushgraph(L, 1, &o);
  return 1;
}

/* }====================================================================== */

/* {======================================================================
** Formatting
** ======================================================================= */

/* Appends the string at the top (popped), indented by indent spaces, to
** the list at lines. [-1, +0, m] */
static void addline(lua_State *L, int lines, int indent) {
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, (size_t)indent + len);
  memset(p, ' ', (size_t)indent);
  memcpy(p + indent, s, len);
  luaL_pushresultsize(&b, (size_t)indent + len);
  lua_remove(L, -2);
  lua_rawseti(L, lines, (lua_Integer)lua_rawlen(L, lines) + 1);
}

/* Pushes the text of the graph at idx, depth first with a stack of
** (node, level) pairs, without C recursion. [-0, +1, m] */
static void pushformat(lua_State *L, int idx) {
  luaL_checkstack(L, 12, "format_call_graph");
  lua_newtable(L);
  int lines = lua_gettop(L);
  lua_newtable(L);
  int stack = lines + 1;
  lua_pushvalue(L, idx);
  lua_rawseti(L, stack, 1);
  lua_pushinteger(L, 0);
  lua_rawseti(L, stack, 2);
  lua_Integer sp = 2;
  while (sp > 0) {
    lua_rawgeti(L, stack, sp - 1);
    int node = lua_gettop(L);
    lua_rawgeti(L, stack, sp);
    int level = (int)lua_tointeger(L, -1) * 4;
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawseti(L, stack, sp);
    lua_pushnil(L);
    lua_rawseti(L, stack, sp - 1);
    sp -= 2;
    lua_getfield(L, node, "future");
    lfuture *box = luaioL_tofuture(L, -1);
    if (box != NULL && box->is_task) {
      luaioL_pushname(L, lua_gettop(L), box);
      lua_pushfstring(L, "* Task '%s' (id %I)", lua_tostring(L, -1),
                      (lua_Integer)box->id);
      lua_remove(L, -2);
    } else {
      lua_pushliteral(L, "* Future");
    }
    lua_remove(L, -2);
    if (lua_getfield(L, node, "via") == LUA_TSTRING) {
      lua_pushfstring(L, "%s via %s", lua_tostring(L, -2),
                      lua_tostring(L, -1));
      lua_replace(L, -3);
    }
    lua_pop(L, 1);
    if (lua_getfield(L, node, "cycle") != LUA_TNIL && lua_toboolean(L, -1)) {
      lua_pushfstring(L, "%s (a cycle: it waits for a task it is listed "
                         "under)", lua_tostring(L, -2));
      lua_replace(L, -3);
    }
    lua_pop(L, 1);
    addline(L, lines, level);
    if (lua_getfield(L, node, "call_stack") == LUA_TTABLE &&
        lua_rawlen(L, -1) > 0) {
      lua_pushliteral(L, "  + Call stack:");
      addline(L, lines, level);
      for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        lua_getfield(L, -1, "text");
        lua_pushfstring(L, "  |   %s", lua_tostring(L, -1));
        addline(L, lines, level);
        lua_pop(L, 2);
      }
    }
    lua_pop(L, 1);
    if (lua_getfield(L, node, "awaited_by") == LUA_TTABLE &&
        lua_rawlen(L, -1) > 0) {
      lua_pushliteral(L, "  + Awaited by:");
      addline(L, lines, level);
      /* Pushed last first, so that the first is drawn first. */
      for (lua_Integer i = (lua_Integer)lua_rawlen(L, -1); i >= 1; i--) {
        lua_rawgeti(L, -1, i);
        lua_rawseti(L, stack, ++sp);
        lua_pushinteger(L, level / 4 + 1);
        lua_rawseti(L, stack, ++sp);
      }
    }
    lua_settop(L, node - 1);
  }
  lua_pop(L, 1); /* the stack */
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_Integer n = (lua_Integer)lua_rawlen(L, lines);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, lines, i);
    luaL_addvalue(&b);
    if (i < n)
      luaL_addchar(&b, '\n');
  }
  luaL_pushresult(&b);
  lua_remove(L, lines);
}

static int lgraph_format_call_graph(lua_State *L) {
  graph_opts o;
  if (!checkargs(L, "format_call_graph", &o)) {
    lua_pushnil(L);
    return 1;
  }
  pushgraph(L, 1, &o);
  pushformat(L, lua_gettop(L));
  return 1;
}

static int lgraph_print_call_graph(lua_State *L) {
  graph_opts o;
  if (!checkargs(L, "print_call_graph", &o))
    return 0;
  int file = 0;
  if (lua_istable(L, 2) && lua_getfield(L, 2, "file") == LUA_TNIL) {
    lua_pop(L, 1);
  } else if (lua_istable(L, 2)) {
    int t = lua_type(L, -1);
    if ((t != LUA_TTABLE && t != LUA_TUSERDATA) ||
        lua_getfield(L, -1, "write") == LUA_TNIL)
      return luaL_argerror(L, 2, lua_pushfstring(L, "file: a file (a value "
                                                 "with a write method) "
                                                 "expected, got %s",
                                                 lua_typename(L, t)));
    lua_pop(L, 1);
    file = lua_gettop(L);
  }
  pushgraph(L, 1, &o);
  pushformat(L, lua_gettop(L));
  lua_pushliteral(L, "\n");
  lua_concat(L, 2);
  if (file == 0) {
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    fwrite(text, 1, len, stdout); /* as print writes, for the same order */
    return 0;
  }
  int text = lua_gettop(L);
  lua_getfield(L, file, "write");
  lua_pushvalue(L, file);
  lua_pushvalue(L, text);
  lua_call(L, 2, 0);
  return 0;
}

/* }====================================================================== */

/* {======================================================================
** The task table that `luaio ps` reads (lps.c writes it for it)
** ======================================================================= */

/* Pushes s with its tabs and line ends made spaces, or "-" for "".
** [-0, +1, m] */
static void pushfield(lua_State *L, const char *s) {
  if (*s == '\0') {
    lua_pushliteral(L, "-");
    return;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (; *s != '\0'; s++)
    luaL_addchar(&b, *s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
  luaL_pushresult(&b);
}

/* Pushes the state of the task of box, as `luaio ps` shows it. */
static const char *taskstate(lfuture *box) {
  if (!box->started)
    return "created";
  if (box->rt->current == box)
    return "running";
  if (luaio_task_sleeping(box->task))
    return "sleeping";
  if (luaio_task_waiter(box->task) != NULL)
    return "waiting";
  return "ready";
}

/* Pushes what the suspended task of the box at b waits on: its
** traceback's first words, else the C function it is suspended in ("in
** function 'asyncio.gather'"), else "". [-0, +1, m] */
static void pushwaits(lua_State *L, lfuture *box) {
  lua_Debug ar;
  if (box->co == NULL || !box->started || lua_status(box->co) != LUA_YIELD) {
    lua_pushliteral(L, "");
    return;
  }
  luaioL_pushwaitson(L, box);
  const char *w = lua_tostring(L, -1);
  if (strncmp(w, ", ", 2) == 0) {
    lua_pushstring(L, w + 2);
  } else if (lua_getstack(box->co, 0, &ar) &&
             lua_getinfo(box->co, "S", &ar) && *ar.what == 'C') {
    pushframetext(L, box->co, 0);
    const char *t = lua_tostring(L, -1);
    lua_pushstring(L, strncmp(t, "[C]: ", 5) == 0 ? t + 5 : t);
    lua_remove(L, -2);
  } else {
    lua_pushliteral(L, "");
  }
  lua_remove(L, -2);
}

/* Pushes "source:line" of the innermost Lua frame of the box's task, or
** "". [-0, +1, m] */
static void pushwhere(lua_State *L, lfuture *box) {
  lua_Debug ar;
  if (box->co != NULL && box->started && lua_status(box->co) == LUA_YIELD)
    for (int level = 0; lua_getstack(box->co, level, &ar); level++) {
      lua_getinfo(box->co, "Sl", &ar);
      if (ar.currentline > 0) {
        lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
        return;
      }
    }
  lua_pushliteral(L, "");
}

/* Pushes the frames of the call stack of the box's task, innermost first,
** each made a field, separated by FRAME_SEP; "-" when it has none.
** [-0, +1, m] */
#define FRAME_SEP "\x1f" /* ASCII's unit separator */

static void pushframes(lua_State *L, lfuture *box) {
  graph_opts o = {1, 0, 0};
  pushstack(L, box, box->rt->current == box, &o);
  int list = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, list);
  lua_pushliteral(L, "");
  for (lua_Integer i = 1; i <= n; i++) {
    lua_pushstring(L, i > 1 ? FRAME_SEP : "");
    lua_rawgeti(L, list, i);
    lua_getfield(L, -1, "text");
    pushfield(L, lua_tostring(L, -1));
    lua_replace(L, -3);
    lua_pop(L, 1);
    lua_concat(L, 3);
  }
  if (n == 0) {
    lua_pop(L, 1);
    lua_pushliteral(L, "-");
  }
  lua_remove(L, list);
}

void luaioL_pushtasktable(lua_State *L, luaio_loop_t *loop) {
  luaL_checkstack(L, 16, "task table");
  luaioL_pushtasks(L, loop);
  int tasks = lua_gettop(L);
  lua_newtable(L);
  int lines = tasks + 1;
  lua_Integer n = (lua_Integer)lua_rawlen(L, tasks);
  lua_pushfstring(L, "luaio-tasks 1\t%I", n);
  lua_rawseti(L, lines, 1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, tasks, i);
    int b = lua_gettop(L);
    lfuture *box = lua_touserdata(L, b);
    lua_pushfstring(L, "%I\t", (lua_Integer)box->id);
    luaioL_pushname(L, b, box);
    pushfield(L, lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_pushfstring(L, "\t%s\t", taskstate(box));
    pushwaits(L, box);
    pushfield(L, lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_pushliteral(L, "\t");
    pushwhere(L, box);
    pushfield(L, lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_pushliteral(L, "\t");
    pushawaiters(L, box);
    int list = lua_gettop(L);
    lua_Integer m = (lua_Integer)lua_rawlen(L, list);
    luaL_Buffer by;
    luaL_buffinit(L, &by);
    for (lua_Integer j = 1; j < m; j += 2) {
      lua_rawgeti(L, list, j);
      lfuture *a = lua_touserdata(L, -1);
      lua_pop(L, 1);
      lua_rawgeti(L, list, j + 1);
      lua_pushfstring(L, "%s%I:%s", j > 1 ? "," : "", (lua_Integer)a->id,
                      lua_tostring(L, -1));
      lua_remove(L, -2);
      luaL_addvalue(&by);
    }
    if (m == 0)
      luaL_addchar(&by, '-');
    luaL_pushresult(&by);
    lua_remove(L, list);
    lua_pushliteral(L, "\t");
    pushframes(L, box);
    lua_concat(L, lua_gettop(L) - b);
    lua_rawseti(L, lines, i + 1);
    lua_settop(L, lines);
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (lua_Integer i = 1; i <= n + 1; i++) {
    lua_rawgeti(L, lines, i);
    luaL_addvalue(&b);
    luaL_addchar(&b, '\n');
  }
  luaL_pushresult(&b);
  lua_replace(L, tasks);
  lua_settop(L, tasks);
}

/* }====================================================================== */

static const luaL_Reg lgraph_funcs[] = {
    {"capture_call_graph", lgraph_capture_call_graph},
    {"format_call_graph", lgraph_format_call_graph},
    {"print_call_graph", lgraph_print_call_graph},
    {NULL, NULL}};

void luaioL_open_graph(lua_State *L) { luaioL_setfuncs(L, lgraph_funcs); }
