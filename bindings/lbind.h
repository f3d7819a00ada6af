/*
** lbind.h - what the binding files share: the runtime of one Lua state,
** the box behind Future and Task objects, and the suspend protocol.
** Bindings use only core/luaio.h, never the core's internals.
*/
#ifndef LUAIO_LBIND_H
#define LUAIO_LBIND_H

#include <stddef.h>
#include <stdint.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "luaio.h"
#include "luaiolib.h"

#if LUA_VERSION_NUM != 504
#error "luaio needs Lua 5.4"
#endif

#define FUTURE_MT "asyncio.Future"
#define TASK_MT "asyncio.Task"
#define CORO_MT "asyncio.Coroutine"
#define LOOP_MT "asyncio.Loop"
#define HANDLE_MT "asyncio.Handle"

typedef struct lfuture lfuture;

/* The runtime of one Lua state: created by luaopen_asyncio, kept in the
** registry and given to every module function as upvalue 1. */
#define LUAIO_RT_MAGIC 0x6c75616f72746d31ULL /* tells a runtime apart */

typedef struct luaioL_runtime {
  unsigned long long magic; /* LUAIO_RT_MAGIC */
  lua_State *L;          /* the thread that runs the loop */
  luaio_loop_t *loop;    /* the running loop, or NULL */
  uv_loop_t *host_uv;    /* a host's libuv loop, or NULL */
  lfuture *current;      /* the task whose coroutine runs now */
  lfuture *main;         /* asyncio.run's main task */
  uv_signal_t *sigint;   /* owns; while asyncio.run runs */
  int interrupted;       /* SIGINT arrived during asyncio.run */
  lfuture *interrupt_target; /* what a signal cancels if not main (REPL) */
  int dump_on_sigquit;   /* SIGQUIT prints the tasks (the luaio command) */
  /* Called before a writer of stdout or stderr writes, or NULL: the REPL
  ** clears the line being typed (luaio.c). */
  void (*stdio_write)(lua_State *L);
  int nreports;          /* boxes in the report queue (ltask.c) */
  int drain_scheduled;   /* a loop callback will deliver those reports */
  int closing;           /* the loop is closing: reports wait for it */
  int inhandler;         /* an exception handler is running */
  luaio_exception_cb host_handler; /* the host's, or NULL: stderr */
  void *host_ud;
  int task_mt, future_mt; /* registry refs to the two hot metatables */
  unsigned gen;          /* which loop: a new number for every loop */
  int pins;              /* registry ref to the table of pinned boxes */
  int npins;             /* slots of that table ever used */
  int *freepins;         /* owns; slots free again, a stack */
  int nfreepins, capfreepins;
  /* The core futures that Future boxes own (lfuture.c): those of boxes
  ** Lua collected without calling their finalizer are released when the
  ** state closes. A free slot holds the next free slot << 1 | 1. */
  uintptr_t *owned;      /* owns */
  uint32_t nowned, capowned, freeowned; /* freeowned: 1-based, or 0 */
  int lostreports;       /* errors a finalizer could not queue: no memory */
  int ntasks_created;
  int default_clock;     /* the luaio_clock_kind asyncio.run uses */
  double host_scale;     /* a host's clock seconds per frame second */
  int host_paused;       /* a host's clock ignores its frames */
  /* Slices (ltask.c): how long a task may run without suspending. */
  int slice_on;          /* a limit or a warning is set: tasks are hooked */
  int slice_state;       /* the running task: 1 warned, 2 past the limit */
  double slice;          /* the limit in seconds, or 0 */
  double slice_warn;     /* the warning threshold in seconds, or 0 */
  double slice_start;    /* when the running task was resumed */
  double warn_at;        /* slice_warn, else slow_step in debug mode, or 0 */
  /* Debug mode (ldebug.c). */
  int debug;             /* on: resources keep where they were opened */
  int norigins;          /* origins ever kept: 0 until debug mode is used */
  /* The collector of a host that steps with a budget (lloop.c). */
  int gc_owned;          /* stopped by luaio_host_step_for or
                         ** luaio_host_set_budget: their runs run it */
  int gc_was_running;    /* as it was before: restored at the loop's close */
  int gc_active;         /* a cycle is under way: the steps run it */
  int gc_ended;          /* a cycle ended (the sentinel's finalizer) */
  int gc_base;           /* KB in use when its last cycle ended */
  int gc_last;           /* KB in use after the last step */
  /* Scopes (lscope.c). */
  uint32_t scope;        /* the scope of the callback running (0: none) */
  uint32_t scope_ids;    /* the last scope id given */
  lua_Integer scope_seq; /* the last member's number, for their order */
} luaioL_runtime;

/* User values of a Future or Task box. A task's name, Lua done
** callbacks and a shield's source are rare, so they share one table. */
#define UV_VALUES 1 /* result: one value, or a table with .n; or error */
#define UV_THREAD 2 /* a task's coroutine, while it runs; after it failed,
                    ** the guard that reports an unretrieved error */
#define UV_EXTRA 3  /* nil, or {name =, callbacks =, source =} */
#define NUV 3

/* For luaiolib.h's calls that hand a host an object: calls make
** (protected), which pushes the object, and returns a registry reference
** (> 0) to it, left pushed; or LUAIO_EINVALSTATE when no loop is open,
** LUAIO_ENOMEM when make failed (nothing pushed). */
int luaioL_hostref(lua_State *L, lua_CFunction make);

/* Closes a host loop the host never closed: lua_close alone closes what
** the host opened (the runtime's finalizer). */
void luaioL_close_at_exit(lua_State *L, luaioL_runtime *rt);
/* Releases the core futures of Future boxes that Lua collected without
** calling their finalizer; called last when the state closes. */
void luaioL_release_owned(luaioL_runtime *rt);

/* Pushes field of the box at idx's extra table, or nil. [-0, +1, -] */
int luaioL_getextra(lua_State *L, int idx, const char *field);
/* Sets field of the box at idx's extra table to the value at the top,
** popped. [-1, +0, m] */
void luaioL_setextra(lua_State *L, int idx, const char *field);

#define LUAIO_BOX_MAGIC 0x6c75616f66757431ULL /* tells a box apart */

/* The Lua side of a core future or task. */
struct lfuture {
  unsigned long long magic; /* LUAIO_BOX_MAGIC */
  luaio_future_t *fut;  /* owns one reference; NULL once a task is done */
  luaio_task_t *task;   /* borrowed, while a task lives; else NULL */
  luaioL_runtime *rt;
  lua_State *co;        /* a task's thread (anchored by UV_THREAD) */
  int nvalues;          /* values in UV_VALUES: 0, 1, or -1 for a table */
  int pin;              /* slot in the runtime's pins while C needs it */
  int resume_err;       /* the err of the step that resumes the task */
  unsigned gen;         /* the runtime's gen when the box was made */
  union {
    uint32_t id;        /* a task's id (names wrap after 2^32 tasks) */
    uint32_t owned;     /* a future's slot in rt->owned (1-based), or 0 */
  };
  int final_err;        /* a finished task's error code */
  unsigned short ncancels; /* a finished task's cancellation count */
  unsigned char final;  /* a finished task's luaio_state */
  /* Flags, packed in one byte: a box is 72 bytes, 160 with its header. */
  unsigned char is_task : 1;
  unsigned char started : 1;
  unsigned char has_error : 1; /* UV_VALUES holds the error it failed with */
  unsigned char retrieved : 1; /* someone took the error (or the result) */
  unsigned char reported : 1;
  unsigned char sourced : 1;   /* extra.source names the box with the values */
  unsigned char done_early : 1; /* the task ended inside luaio_task_new */
  unsigned char handler : 1; /* a server's handler: a failure is reported
                             ** at once, as nobody else can retrieve it */
  uint32_t scope; /* a task's scope, by id (lscope.c), or 0; it fills what
                  ** was padding, so the box stays 72 bytes */
};

/* A Task box lets go of its core task when the task is done (it keeps
** the outcome itself), so that Task objects need no finalizer: fut and
** task are then NULL. These read a box's state either way. */
luaio_state luaioL_state(const lfuture *box);
#define luaioL_isdone(box) (luaioL_state(box) != LUAIO_PENDING)
/* Returns a new reference to a core future with the box's outcome: its
** own, or, for a finished task, a new one already done; NULL when out of
** memory. */
luaio_future_t *luaioL_corefuture(lfuture *box);

/* The runtime, from the calling C function's first upvalue when it is
** the runtime (module functions), else from the registry. [-0, +0, -] */
luaioL_runtime *luaioL_runtime_of(lua_State *L);
#define luaioL_rt(L) ((luaioL_runtime *)lua_touserdata(L, lua_upvalueindex(1)))

/* Registers funcs with the runtime as their one upvalue. [-0, +0, m] */
void luaioL_setfuncs(lua_State *L, const luaL_Reg *funcs);
/* Stores a new table with weak keys in the registry at key: a set of
** objects that does not keep them alive. [-0, +0, m] */
void luaioL_newweakset(lua_State *L, const void *key);
/* Makes a metatable named tname with methods and metamethods, all with
** the runtime as upvalue; meta.__index = methods. [-0, +0, m] */
void luaioL_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                     const luaL_Reg *meta);

/* The object at 1 when its metatable is the calling method's second
** upvalue (methods made by luaioL_newclass carry it), which costs one
** comparison; otherwise as luaL_checkudata(L, 1, tname). [-0, +0, v] */
void *luaioL_checkself(lua_State *L, const char *tname);
/* The object at 1, a method's self, when it is a tname; otherwise raises
** luaioL_selferror(L, tname). [-0, +0, v] */
void *luaioL_checkobject(lua_State *L, const char *tname);
/* Raises "bad argument #1" for a method's self that is not what expected
** names, saying to call it with ':' when it was called with '.'.
** [-0, +0, v] */
int luaioL_selferror(lua_State *L, const char *expected);
/* The coroutine object at idx, or NULL. [-0, +0, -] */
#define luaioL_iscoro(L, idx)                                                  \
  (lua_type(L, (idx)) == LUA_TUSERDATA &&                                    \
   luaL_testudata(L, (idx), CORO_MT) != NULL)

/* The string (or number, converted in place) at idx, for a C call that
** stops at the first NUL byte: raises "bad argument #arg" unless it is
** one with no NUL byte. what, when given, is a lua_pushfstring format
** (with the arguments that follow) naming the part of argument arg it is,
** as "element %d"; NULL when it is the argument itself. [-0, +0, v] */
const char *luaioL_tocstring(lua_State *L, int idx, int arg,
                             const char *what, ...);

/* The running loop, or an error naming fname. [-0, +0, v] */
luaio_loop_t *luaioL_checkloop(lua_State *L, const char *fname);

/* {======================================================================
** Boxes (lfuture.c)
** ======================================================================= */

/* Pushes a new Future box for fut, taking the caller's reference (Task
** boxes are made by luaioL_spawn). On a memory error fut is abandoned
** (luaio_future_abandon) before the error is raised. [-0, +1, m] */
lfuture *luaioL_pushfuture(lua_State *L, luaio_future_t *fut);
/* The box at idx when it is a Future or Task, else NULL. [-0, +0, -] */
lfuture *luaioL_tofuture(lua_State *L, int idx);
lfuture *luaioL_checkfuture(lua_State *L, int idx);
/* Pushes the box of a pinned future (a task). [-0, +1, -] */
void luaioL_pushbox(lua_State *L, lfuture *box);
/* Keeps the box alive from C until unpinned. The box is at idx. */
void luaioL_pin(lua_State *L, int idx, lfuture *box);
void luaioL_unpin(lua_State *L, lfuture *box);

/* Pushes a done box's outcome: its values (returns how many), or raises
** its error; marks it retrieved. [-0, +n, e] */
int luaioL_pushresult(lua_State *L, int idx);
/* Pushes the error object of a done box (CancelledError when cancelled),
** or nil when it resolved; marks it retrieved. [-0, +1, m] */
void luaioL_pusherror(lua_State *L, int idx);
/* Pushes the first value of a done box, or its error object when it
** failed or was cancelled (gather with return_exceptions). [-0, +1, m] */
void luaioL_pushfirst(lua_State *L, int idx);
/* Sets the box at idx resolved with the n values on top (popped). */
void luaioL_resolve(lua_State *L, int idx, int n);
/* Sets the box at idx failed with the error object on top (popped). */
void luaioL_fail(lua_State *L, int idx);

/* __tostring of Future and Task boxes. */
int luaioL_future_tostring(lua_State *L);
/* Methods and metamethods of Future boxes, which Task objects share. */
extern const luaL_Reg luaioL_future_methods[];
extern const luaL_Reg luaioL_future_meta[];

/* Raises, naming fname, when box belongs to a loop that is closed: its
** core future would wake that loop. [-0, +0, v] */
void luaioL_checkalive(lua_State *L, lfuture *box, const char *fname);

/* Turns the awaitable at idx into a future box in place: a Future or Task
** stays; a coroutine object or (when allowfn) a function becomes a new
** task. Raises "bad argument" naming fname otherwise. [-0, +0, e] */
lfuture *luaioL_toawaitable(lua_State *L, int idx, const char *fname,
                            int allowfn);

/* }====================================================================== */

/* {======================================================================
** Tasks and suspension (ltask.c)
** ======================================================================= */

/* The running task's box when L may suspend; otherwise raises an error
** that says why, naming fname. [-0, +0, v] */
lfuture *luaioL_checktask(lua_State *L, const char *fname);

/* Suspends the running task until fut is done, then continues with k
** (which must begin with luaioL_resumed). Never returns. */
int luaioL_await(lua_State *L, lfuture *task, luaio_future_t *fut,
                 lua_KContext ctx, lua_KFunction k);
/* As luaioL_await, for a future shared by many waiters (an event):
** cancelling the task leaves fut alone. Takes the caller's reference to
** fut (the task holds its own while it waits). Never returns. */
int luaioL_await_shared(lua_State *L, lfuture *task, luaio_future_t *fut,
                        lua_KContext ctx, lua_KFunction k);
/* Suspends the running task for delay seconds (0: one loop turn). */
int luaioL_sleep(lua_State *L, lfuture *task, double delay, lua_KContext ctx,
                 lua_KFunction k);
/* In a continuation: raises CancelledError when the task was woken by a
** cancellation. Returns the task's box. [-0, +0, e] */
lfuture *luaioL_resumed(lua_State *L);
/* In a continuation: returns the err the task was resumed with (0 or
** LUAIO_ECANCELLED) and clears it, for callers that clean up first. */
int luaioL_resumeerr(lua_State *L);
/* Raises what a *_finish function of the core returned (nonzero). */
int luaioL_raisewait(lua_State *L, int rc, const char *fname);

/* Creates and schedules a task running the function at top with nargs
** arguments above it (all popped), in scope (0: none; raises when it is
** closed); pushes the Task. [-(nargs+1), +1, e] */
lfuture *luaioL_spawnin(lua_State *L, int nargs, int eager, uint32_t scope);
/* As luaioL_spawnin, in the scope of the running code. */
lfuture *luaioL_spawn(lua_State *L, int nargs, int eager);

/* Reports failed tasks whose error nobody retrieved (loop close). A
** lua_CFunction, so that closing can run it protected; returns 0. */
int luaioL_report_unretrieved(lua_State *L);
/* Queues a report of the error of the failed box at idx, which nobody
** can retrieve any more (collected, or a server's handler); a loop
** callback delivers it to the exception handler, or the loop's close.
** Safe in a finalizer. [-0, +0, m] */
void luaioL_queuereport(lua_State *L, int idx);
/* Queues the context table at idx for the exception handler, delivered
** as luaioL_queuereport's are. Safe in a finalizer. [-0, +0, m] */
void luaioL_queuecontext(lua_State *L, int idx);
/* Delivers the queued reports now (a loop that closed). Never raises. */
void luaioL_drainreports(lua_State *L);

/* Pushes the list of loop's live tasks, oldest first (all_tasks; empty
** when loop is NULL). [-0, +1, m] */
void luaioL_pushtasks(lua_State *L, luaio_loop_t *loop);
/* Pushes the name of the task whose box is at idx (box). [-0, +1, m] */
void luaioL_pushname(lua_State *L, int idx, lfuture *box);
/* Pushes what the suspended task of box waits on, as its traceback's
** first line says it (", in asyncio.sleep", ", waiting for ..."), or "".
** [-0, +1, m] */
void luaioL_pushwaitson(lua_State *L, lfuture *box);

/* Pushes the chain of tasks waiting for task (NULL: none), following the
** first of each (lgraph.c): ", awaited by task 'a' (via TaskGroup),
** awaited by task 'b'", or "" when none waits. [-0, +1, m] */
void luaioL_pushawaitchain(lua_State *L, luaio_task_t *task);

/* Pushes the table of loop's live tasks that `luaio ps` reads, as text
** (lgraph.c): a line "luaio-tasks 1<TAB>count", then one per task, oldest
** first: id, name, state, what it waits on, where (source:line), who
** waits for it ("id:via,..."), the frames of its call stack (innermost
** first, separated by ASCII's unit separator 0x1F), tab-separated, "-"
** for none. [-0, +1, m] */
void luaioL_pushtasktable(lua_State *L, luaio_loop_t *loop);

/* Awaits the awaitable at idx in the running task: runs a coroutine
** object inline, else waits for the future; leaves its values.
** For use by C functions that are themselves continuations. */
int luaioL_awaitvalue(lua_State *L, int idx, const char *fname);

/* }====================================================================== */

/* {======================================================================
** Scopes (lscope.c): what a script made, to cancel and close together
** ======================================================================= */

#define SCOPE_MT "asyncio.Scope"

/* The scope that what the running code makes joins: the running task's,
** else that of the callback that runs (0: none). */
#define luaioL_curscope(rt)                                                  \
  ((rt)->current != NULL ? (rt)->current->scope : (rt)->scope)

/* Raises "fname: the scope is closed" when scope (nonzero) is closed.
** [-0, +0, v] */
void luaioL_scope_check(lua_State *L, uint32_t scope, const char *fname);
/* Makes the object at idx a member of scope (nonzero): closing the scope
** calls the __scope metamethod of the object's class as
** __scope(obj, what, msg, tasks), what being "cancel" (tasks, handles,
** done callbacks, servers, nested scopes: at once) or "close" (streams,
** endpoints, processes: once the tasks are done); a task that is not
** done appends itself to the list tasks. A member is held weakly unless
** strong (a process, which runs on when dropped). Nothing when scope is
** closed. [-0, +0, m] */
void luaioL_scope_adopt(lua_State *L, uint32_t scope, int idx, int strong);
/* For __scope metamethods: the object at 1, a tname, when the pass at 2
** is pass ("cancel" or "close"), else NULL; raises for bad arguments.
** [-0, +0, v] */
void *luaioL_scopeself(lua_State *L, const char *tname, const char *pass);
/* Runs fn(arg), a callback scheduled in scope (nonzero), with the
** running code's scope set to scope, and puts it back after; when scope
** is closed by then and skipclosed, fn is not called. Out of line, so
** that callbacks scheduled in no scope pay one test. */
void luaioL_scope_call(luaioL_runtime *rt, uint32_t scope, void (*fn)(void *),
                       void *arg, int skipclosed);
/* Whether the scope is open. [-0, +0, -] */
int luaioL_scope_open(lua_State *L, uint32_t scope);
void luaioL_open_scope(lua_State *L);
/* Marks the scopes of the loop that closes closed. [-0, +0, m] */
int luaioL_close_scopes(lua_State *L);

/* }====================================================================== */

/* {======================================================================
** Errors (lerror.c)
** ======================================================================= */

/* Pushes a new error of class (by name: "CancelledError", ...) with msg
** (NULL: the class's default). [-0, +1, m] */
void luaioL_newerror(lua_State *L, const char *cls, const char *msg);
/* Raises the error that a core code stands for. [-0, +0, v] */
int luaioL_raise(lua_State *L, int err, const char *msg);
/* Raises "fname: msg" for a failed core call, mapping codes. */
int luaioL_check(lua_State *L, int rc, const char *fname);
/* Nonzero when the value at idx is a CancelledError. [-0, +0, -] */
int luaioL_iscancelled(lua_State *L, int idx);
/* Replaces the error at top by what crosses a task boundary: asyncio
** errors and tables stay (tables are remembered as carried), others are
** wrapped in an asyncio.Error; sets .traceback from tb when missing.
** [-1, +1, m] */
void luaioL_carryerror(lua_State *L, const char *tb);
/* Reports the error at idx with message prefix through the loop's
** exception handler (by default: "prefix: message" and the error's
** traceback on stderr). Never raises. [-0, +0, -] */
void luaioL_report(lua_State *L, int idx, const char *prefix);

/* Calls the function at top (with nargs below... ) in protected mode and
** reports an error instead of raising it. [-(nargs+1), +0, -] */
void luaioL_pcallreport(lua_State *L, int nargs, const char *what);

/* A message handler for lua_pcall: turns the error into what crosses a
** task boundary (luaioL_carryerror), with the traceback. */
int luaioL_msghandler(lua_State *L);

/* Writes the context table at idx to stderr as the default exception
** handler does. [-0, +0, e] */
void luaioL_printcontext(lua_State *L, int idx);

/* Passes the context table at top (popped) to the exception handler:
** the running loop's, else the host's, else luaioL_printcontext. An
** error in the handler goes to stderr. Never raises (lloop.c).
** [-1, +0, -] */
void luaioL_callhandler(lua_State *L);

/* }====================================================================== */

/* {======================================================================
** Debug mode (ldebug.c)
** ======================================================================= */

/* A step that runs longer than this without suspending is reported in
** debug mode, as asyncio's slow_callback_duration. */
#define LUAIO_SLOW_STEP 0.1

/* In debug mode, keeps where the object at idx is being opened, as what
** ("TCP connection"): the first Lua frame's file:line and the traceback
** from there; out of it, does nothing. [-0, +0, m] */
void luaioL_setorigin(lua_State *L, int idx, const char *what);
/* Gives the object at to the origin of the object at from, if it has
** one: the same record (a stream's two halves, reported once), or, with
** what, a new one naming it (a connection that a server accepted).
** [-0, +0, m] */
void luaioL_copyorigin(lua_State *L, int from, int to, const char *what);
/* Queues a report that the object at idx, which has an origin, is being
** closed by luaio rather than by the program: how it was left. Once per
** origin; nothing for an object with none. Returns 1 when it reported.
** Never raises; safe in a finalizer. [-0, +0, -] */
enum {
  ORIGIN_DROPPED,      /* collected while open */
  ORIGIN_AT_CLOSE,     /* open when its loop closed */
  ORIGIN_NEVER_AWAITED /* a coroutine object collected unused */
};
int luaioL_unclosed(lua_State *L, int idx, int how);

/* }====================================================================== */

/* Openers, one per binding file, called by luaopen_asyncio with the
** module table at top. [-0, +0, e] */
void luaioL_open_error(lua_State *L);
void luaioL_open_future(lua_State *L);
void luaioL_open_task(lua_State *L);
void luaioL_open_loop(lua_State *L);
void luaioL_open_gather(lua_State *L);
void luaioL_open_timeout(lua_State *L);
void luaioL_open_taskgroup(lua_State *L);
void luaioL_open_queue(lua_State *L);
void luaioL_open_sync(lua_State *L);
void luaioL_open_stream(lua_State *L);  /* TCP streams, getaddrinfo */
void luaioL_open_tls(lua_State *L);     /* asyncio.ssl */
/* The TLS context that opts.ssl (at idx) asks for, or NULL for none: an
** SSLContext (a server's when server is 1, a client's when 0, either
** when -1), or, for a client, true, which
** is replaced at idx by a new default context. Raises naming fname.
** [-0, +0, e] */
luaio_tls_ctx_t *luaioL_tlscontext(lua_State *L, int idx, int server,
                                   const char *fname);
void luaioL_open_process(lua_State *L); /* subprocesses, signals */
void luaioL_open_udp(lua_State *L);     /* UDP endpoints */
void luaioL_open_fs(lua_State *L);      /* asyncio.fs */
void luaioL_open_thread(lua_State *L);  /* to_thread */
void luaioL_open_clock(lua_State *L);   /* asyncio.Clock */
void luaioL_open_debug(lua_State *L);   /* debug mode's origins */
void luaioL_open_graph(lua_State *L);   /* capture_call_graph... */

/* The kind of clock named by the value at idx: nil (the default), a
** kind's name or an asyncio.Clock. [-0, +0, v] */
luaio_clock_kind luaioL_clockkind(lua_State *L, int idx);
/* Makes the running loop's clock the one at idx (an asyncio.Clock, or a
** name: then a new one), which then shows the loop's time. [-0, +0, m] */
void luaioL_bindclock(lua_State *L, int idx);
/* Before the running loop closes: its clock keeps the time. [-0, +0, -] */
void luaioL_unbindclock(lua_State *L);
/* Last: applies the state's policy to the module (lsandbox.c). */
void luaioL_open_sandbox(lua_State *L);

/* {======================================================================
** Policies (lsandbox.c): what a state's scripts may reach, shared with
** its to_thread workers.
** ======================================================================= */

typedef struct luaioL_policy luaioL_policy;

/* Returns a new reference to L's policy (made when missing). [-0, +0, m] */
luaioL_policy *luaioL_policy_get(lua_State *L);
void luaioL_policy_ref(luaioL_policy *p);
void luaioL_policy_unref(luaioL_policy *p);
/* A new state for a to_thread worker, set up as p says: its libraries,
** then prepare(W), then p itself and the host's setup. *a receives its
** allocator. Returns NULL when out of memory or when the setup failed;
** *err then receives the error's message (malloc'd; NULL when out of
** memory). Any thread. */
lua_State *luaioL_worker_newstate(luaioL_policy *p, luaio_alloc_t **a,
                                  lua_CFunction prepare, char **err);

/* }====================================================================== */

/* Ctrl-C and SIGTERM while asyncio.run runs (linterrupt.c): open starts
** handling them for rt's running loop, close stops; reset forgets a
** handled interruption, so the next signal is a first one again. */
void luaioL_interrupt_open(luaioL_runtime *rt);
void luaioL_interrupt_close(luaioL_runtime *rt);
void luaioL_interrupt_reset(luaioL_runtime *rt);

/* `luaio ps PID` and `luaio pstree PID`. psdir puts the private directory
** of the real user's requests and answers, /tmp/luaio-<uid>, in buf and
** returns 0 (-1 when buf is too small); psdir_private tells whether dir is
** a directory, not a link, of the real user's, closed to others. The
** luaio command's SIGQUIT handler calls ps_answer, which answers the
** requests to this process with loop's task table and returns how many
** (0: the signal was no request; a signal of askers answered already, in
** the second after, counts as one) (lps.c). The command runs ps_main for
** `luaio ps|pstree ...` and exits with what it returns (luaio_ps.c). */
int luaioL_psdir(char *buf, size_t size);
int luaioL_psdir_private(const char *dir);
int luaioL_ps_answer(lua_State *L, luaio_loop_t *loop);
int luaio_ps_main(int argc, char **argv);

/* Debug aid: prints to stderr where each live task of loop is suspended,
** with task:traceback(). May raise memory errors. [-0, +0, m] */
void luaioL_print_tasks(lua_State *L, luaio_loop_t *loop);

/* Closes the subprocess handles, pipes and signal handlers still open on
** the running loop, leaving the children running (lprocess.c). For
** loop_close, before the loop is deleted; a lua_CFunction, returning 0.
** [-0, +0, m] */
int luaioL_close_processes(lua_State *L);

/* Closes every stream and server still open (lstream.c); called when a
** loop closes, after its tasks are done; a lua_CFunction, returning 0.
** [-0, +0, m] */
int luaioL_close_streams(lua_State *L);
int luaioL_close_udp(lua_State *L); /* closes the endpoints left open */

/* Lua sources embedded at build time (generated luaio_embedded.c). */
typedef struct {
  const char *name;
  const char *src;
  size_t len;
} luaio_embedded_t;
extern const luaio_embedded_t luaio_embedded[];

#if LUA_VERSION_RELEASE_NUM >= 50406
#define luaioL_closethread(co, from) lua_closethread(co, from)
#else
#define luaioL_closethread(co, from) ((void)(from), lua_resetthread(co))
#endif

#endif
