/*
** luaiolib.h - luaio for Lua hosts: the asyncio module and the calls a
** host program makes to drive the loop from its own frame loop.
**
** A command-line host calls luaopen_asyncio (or preloads it) and lets
** scripts call asyncio.run(), which owns the loop while it runs.
**
** A frame-driven host (a game, a tool with its own main loop) instead
** opens a loop that stays running between frames:
**
**   luaL_requiref(L, "asyncio", luaopen_asyncio, 0);  lua_pop(L, 1);
**   luaio_host_open(L, NULL);         (a libuv loop of luaio's own)
**   ... scripts call asyncio.create_task(fn) from plain host code ...
**   each frame:  luaio_host_step(L);  (never blocks)
**   at exit:     luaio_host_close(L);
**
** A host that owns a libuv loop shares it instead, and only runs it:
**
**   luaio_host_open(L, my_uv_loop);
**   ... uv_run(my_uv_loop, UV_RUN_DEFAULT) (or ONCE, or NOWAIT per frame)
**   at exit, outside uv_run: luaio_host_close(L); uv_loop_close(...);
**
** All calls must come from the thread that owns L.
*/
#ifndef LUAIO_LUAIOLIB_H
#define LUAIO_LUAIOLIB_H

#include "lua.h"

#include "luaio.h"

/* The module entry: returns the asyncio table. [-0, +1, e] */
LUAIO_EXTERN int luaopen_asyncio(lua_State *L);

/* Opens a loop that stays the running loop until luaio_host_close().
** Must be called after luaopen_asyncio and not while asyncio.run runs.
** Returns 0, or a negative code (LUAIO_EBUSY when a loop is already
** open).
**
** With uv NULL the loop runs on a libuv loop of its own, which only
** luaio_host_step() runs. With the host's uv, the loop runs inside the
** host's uv_run (any mode), from handles luaio keeps on uv: a uv timer
** armed at the earliest deadline (a task's asyncio.sleep(0.3) wakes a
** host blocked in uv_run), an idle handle while work is ready (libuv
** then polls without blocking) and a check handle that runs, in the same
** iteration, what I/O made ready. luaio never calls uv_run itself then,
** but in luaio_host_close(). The host's uv_run(UV_RUN_DEFAULT) goes on
** while Lua work is ready, timers are armed (on a manual clock, none:
** only luaio_host_advance() moves it) or the scripts' I/O is open
** (streams, servers, subprocesses); tasks that wait for anything else (a
** post, a future the host settles) do not keep it going, and without any
** of these it returns. */
LUAIO_EXTERN int luaio_host_open(lua_State *L, uv_loop_t *uv);

/* Runs one iteration of the host loop without blocking: ready callbacks,
** due timers, pending I/O (on the host's uv loop, no I/O: the host's
** uv_run polls it, and a step made from a libuv callback does not nest
** uv_run). Errors in tasks are kept in their tasks; errors in callbacks,
** and those of tasks collected with their error never retrieved, go to
** the exception handler (see below). Returns the number of live tasks,
** or a negative code when no host loop is open. */
LUAIO_EXTERN int luaio_host_step(lua_State *L);

/* For a loop on the host's uv loop: each run from the host's uv_run runs
** ready work for seconds (>= 0) at most, as luaio_host_step_for() does,
** the collector included (0: what was ready runs, and the collector as
** before); as nothing of luaio's runs before a run, a cycle under way
** keeps the collector on from the end of one run to the end of the next.
** The rest runs in the next iteration of uv_run, which does not block
** meanwhile. Returns 0, LUAIO_EINVAL for a negative or NaN budget,
** LUAIO_EINVALSTATE when no loop on a host's uv loop is open. */
LUAIO_EXTERN int luaio_host_set_budget(lua_State *L, double seconds);

/* As luaio_host_step(), within a budget of seconds (>= 0) of real time:
** ready callbacks and task steps run in order while the next, costing
** what those before it did, would end within the budget (one at least,
** so that every step progresses); the rest stay queued, in the same
** order, and run first in the next step. From the first call on, the
** collector runs only in the steps (luaio_host_step's too): paced
** by allocation during the work, so that each callback pays for its own
** garbage inside the budget, then in what the work left of the budget
** while a cycle is under way. A cycle begins, as Lua's pause says, once
** the heap has grown by the pause since the last one ended, so a step
** with nothing to do collects nothing; garbage the host made between the
** steps is paid for as the next step begins. luaio_host_close() gives
** the collector back as it was. A task that runs long without suspending
** still takes its time: a slice (below) bounds it. Returns as
** luaio_host_step(), or LUAIO_EINVAL for a negative or NaN budget. */
LUAIO_EXTERN int luaio_host_step_for(lua_State *L, double seconds);

/* Cancels every task left, lets them finish their cleanup, reports the
** errors nobody retrieved and closes the loop. Returns 0 or a negative
** code. A libuv loop given to luaio_host_open() is left open, without a
** handle of luaio's (uv_loop_close then succeeds once the host's own
** are closed); the cleanup runs that loop, so call this outside the
** host's uv_run. A host loop still open when L is closed is closed then,
** the same way: lua_close alone is enough. */
LUAIO_EXTERN int luaio_host_close(lua_State *L);

/* For a host on an event loop of its own (SDL, GLFW, a GUI toolkit, its
** own epoll): luaio_host_backend_fd is the fd to poll for reading (the
** libuv loop's; posts from other threads make it readable too), and
** luaio_host_timeout the milliseconds to wait at most before the next
** luaio_host_step(): 0 when work is ready, -1 when nothing but I/O or a
** post can bring work. Timers count on the real clock; on a manual clock
** only those already due do. Call luaio_host_step() once the fd is
** readable or the timeout has passed. Both return LUAIO_EINVALSTATE when
** no loop is open. A host that shared its own libuv loop with
** luaio_host_open() needs neither: its uv_run waits for luaio too. */
LUAIO_EXTERN int luaio_host_backend_fd(lua_State *L);
LUAIO_EXTERN int luaio_host_timeout(lua_State *L);

/* The open loop (the host's, or asyncio.run's while it runs), or NULL.
** Other threads of the host post work to it with
** luaio_call_soon_threadsafe() (luaio.h), the one call that may come
** from any thread: the function runs on the loop's thread in the next
** step, where it may use L. */
LUAIO_EXTERN luaio_loop_t *luaio_host_loop(lua_State *L);

/* Futures a host resolves later (a request it serves, an asset it loads
** on another thread). luaio_host_future_new pushes a new asyncio.Future
** of the open loop, for scripts to await, and returns a reference (> 0)
** that keeps it until it is settled, or a negative code (nothing pushed):
** LUAIO_EINVALSTATE when no loop is open, LUAIO_ENOMEM.
** luaio_host_future_resolve pops the n values at the top of L as its
** result; luaio_host_future_fail pops the error at the top. Both drop
** the reference and return 0, LUAIO_EINVALSTATE when the future was done
** already (a script cancelled it), or LUAIO_EINVAL for a bad reference.
** To settle one from another thread, post a function that does it. */
LUAIO_EXTERN int luaio_host_future_new(lua_State *L);
LUAIO_EXTERN int luaio_host_future_resolve(lua_State *L, int ref, int n);
LUAIO_EXTERN int luaio_host_future_fail(lua_State *L, int ref);

/* Scopes, for scripts that are reloaded or unloaded: a scope owns what
** is made inside it, directly or by its tasks (a task's scope is copied
** into the tasks it makes): tasks, call_soon/call_later/call_at handles,
** done callbacks, servers, streams, datagram endpoints, subprocesses,
** signal handlers and the scopes made inside it. luaio_host_scope_new pushes a new
** asyncio.Scope of the open loop and returns a reference (> 0) that
** keeps it, or a negative code (nothing pushed): LUAIO_EINVALSTATE when
** no loop is open, LUAIO_ENOMEM. luaio_host_scope_run pops a function
** and the nargs arguments above it and starts it as a task of the scope;
** it pushes the Task and returns 0, or pops them and returns
** LUAIO_EINVALSTATE when the scope is closed (cancelled, closed, or its
** loop ended) or no loop is open, LUAIO_EINVAL when ref is no scope's or
** the value below the arguments is not a function, or LUAIO_ENOMEM when
** memory ran out (Lua's or the core's); a negative nargs, or more than
** the stack holds, is LUAIO_EINVAL with nothing popped.
** luaio_host_scope_close cancels the scope's tasks (their cleanup runs in
** the next steps), cancels its handles, removes its done callbacks,
** closes its servers, streams and endpoints, terminates its subprocesses
** and does the same to the scopes inside it; then drops the reference.
** Once the tasks are done, nothing of the scope is left: its memory is
** the collector's. Returns 0, LUAIO_EINVAL for a bad reference, or
** LUAIO_ENOMEM (the reference is dropped all the same). */
LUAIO_EXTERN int luaio_host_scope_new(lua_State *L);
LUAIO_EXTERN int luaio_host_scope_run(lua_State *L, int ref, int nargs);
LUAIO_EXTERN int luaio_host_scope_close(lua_State *L, int ref);

/* Errors to the host. Every error that no Lua code can catch is handed
** to an exception handler as a context table: "message" (a string),
** "exception" and "error" (the error, an asyncio.Error or a table that
** carries its "traceback"), and "task" or "future" when one failed. They
** are: errors in loop callbacks (call_soon, call_later, call_at), in done
** callbacks and in signal handlers; errors of server handlers (reported
** when the handler fails); and errors of tasks and futures that nobody
** retrieved (reported when the collector takes the task, or when the
** loop closes, whichever comes first).
**
** A handler set from Lua (loop:set_exception_handler) is used first.
** Without one, the host's handler is; without that, the default prints
** "message: error" and the error's traceback on stderr. The host's
** handler stands in for that default for every loop of L, also when a
** Lua handler calls loop:default_exception_handler(context).
**
** cb is called on the loop's thread with the context table at index ctx
** of L, inside a protected call: an error it raises is printed on stderr
** with the context, and the loop goes on. It may use any Lua API call
** but must not yield. NULL restores the default. */
typedef void (*luaio_exception_cb)(lua_State *L, int ctx, void *ud);
LUAIO_EXTERN void luaio_set_exception_handler(lua_State *L,
                                              luaio_exception_cb cb,
                                              void *ud);

/* Writes the context table at index ctx to stderr as the default handler
** does (a host's handler may end with it). [-0, +0, e] */
LUAIO_EXTERN void luaio_print_exception(lua_State *L, int ctx);

/* Slices: how long one task may run without suspending (as Tarantool's
** fiber slice and Luau's interrupt). A task that runs past warn seconds
** is reported to the exception handler with its traceback (the context
** has "message", "task" and "traceback"); past limit seconds it fails
** with an asyncio.SliceError that names it, which it may catch with
** pcall so that its cleanup runs, and the loop, the host and the other
** tasks go on. A task made with create_task(fn, {preempt = true}) is
** instead paused at the limit and resumed once the others have run; it
** fails as any other where it cannot be paused (inside a C function, or
** a coroutine of its own). Time is the loop's clock when it is manual,
** else the monotonic clock; it is checked every 1,000 Lua instructions.
** 0 turns each off (both are, by default); the setting holds for every
** loop of L (asyncio.run's slice options for that run only). Off, it
** costs nothing: no hook is set. Returns 0, or LUAIO_EINVAL for a
** negative or NaN value. */
LUAIO_EXTERN int luaio_set_slice(lua_State *L, double limit, double warn);

/* Turns debug mode on (on != 0) or off for every loop of L, as asyncio's
** debug mode (PYTHONASYNCIODEBUG; the luaio command's --debug): a task
** step that runs longer than 0.1 s is reported with the task and its
** traceback (a slice warning, unless one is set), and streams, servers,
** UDP endpoints, asyncio.fs files and subprocesses opened while it is on
** remember where; one that is collected, or left open when its loop
** closes, without the program closing it is reported ("unclosed TCP connection opened at
** file:line ...", with "source_traceback") through the exception
** handler, then closed; so is a coroutine object never awaited, with
** where it was made. asyncio.run's {debug = ...} overrides it for
** that run, and loop:set_debug() for the running loop. Off (the default)
** nothing is recorded. */
LUAIO_EXTERN void luaio_set_debug(lua_State *L, int on);

/* Like luaio_host_open(), on a clock of the given kind. A host with a
** frame loop of its own uses LUAIO_CLOCK_MANUAL: game time, which moves
** only by luaio_host_advance(), so a paused game fires no timer. On
** LUAIO_CLOCK_VIRTUAL, each step that finds nothing to do jumps to the
** next deadline (a simulation run as fast as the host steps it). */
LUAIO_EXTERN int luaio_host_open_clock(lua_State *L, uv_loop_t *uv,
                                       luaio_clock_kind kind);

/* Moves the host loop's manual or virtual clock by the frame's delta dt
** (seconds, >= 0) times the scale, or not at all while paused; what falls
** due runs in the next luaio_host_step(). Returns 0, LUAIO_EINVAL for a
** negative, NaN or infinite dt, LUAIO_EINVALSTATE when no host loop is
** open or its clock is real. */
LUAIO_EXTERN int luaio_host_advance(lua_State *L, double dt);

/* Pauses (paused != 0) or resumes the host loop's clock: while paused,
** luaio_host_advance() leaves it where it is. Returns 0 or
** LUAIO_EINVALSTATE when no host loop is open. */
LUAIO_EXTERN int luaio_host_pause(lua_State *L, int paused);

/* Sets the clock seconds per frame second of luaio_host_advance(): 1 by
** default, 0.5 for slow motion, 2 for double speed. Returns 0,
** LUAIO_EINVAL for a negative, NaN or infinite scale, LUAIO_EINVALSTATE
** when no host loop is open. */
LUAIO_EXTERN int luaio_host_set_scale(lua_State *L, double scale);

/* The clock of the loops asyncio.run opens from now on when its options
** name none (LUAIO_CLOCK_REAL until changed): the luaio command's
** --virtual-time sets LUAIO_CLOCK_VIRTUAL. */
LUAIO_EXTERN void luaio_set_default_clock(lua_State *L, luaio_clock_kind kind);

typedef struct luaio_alloc_s luaio_alloc_t;

/* Creates a Lua state whose allocator suits many small objects (tasks):
** per-size free lists, no header per block (or the system allocator,
** under ASan or when the environment sets LUAIO_ALLOC=system, as
** valgrind runs do). *a receives the allocator, which the caller passes
** to luaio_closestate(). Returns NULL when out of memory. The state is
** used from one thread at a time, as any. */
LUAIO_EXTERN lua_State *luaio_newstate(luaio_alloc_t **a);
/* Closes L, then frees what its allocator holds. */
LUAIO_EXTERN void luaio_closestate(lua_State *L, luaio_alloc_t *a);

/* Limits the memory L's Lua values may hold to limit bytes (0: no
** limit), at any time; L must come from luaio_newstate. Past the limit
** an allocation fails: Lua collects garbage and tries again, then raises
** "not enough memory" in the code that asked, which may catch it; other
** tasks and the host go on. A state without a limit counts nothing and
** pays nothing. Returns 0, or LUAIO_EINVAL when L has another allocator. */
LUAIO_EXTERN int luaio_setmemlimit(lua_State *L, size_t limit);
/* Returns the bytes L's Lua values hold now (Lua's own count); *limit,
** when not NULL, receives the limit (0: none). */
LUAIO_EXTERN size_t luaio_memory(lua_State *L, size_t *limit);

/* {======================================================================
** What scripts may reach. The asyncio module of a state has the
** capabilities its host grants before opening it (all by default); a
** function whose capability is missing stays in the module and raises
** an asyncio.Error naming the capability (err.code "EACCES",
** err.capability "fs.write"). Tasks, gather, timeouts, queues and
** synchronisation need none. These calls return 0, LUAIO_EINVALSTATE
** once the module is open in L (grants are fixed from then on), or
** LUAIO_ENOMEM.
** ======================================================================= */

#define LUAIO_CAP_FS_READ 0x01u   /* fs.read_file, stat, listdir, open "r" */
#define LUAIO_CAP_FS_WRITE 0x02u  /* fs.write_file, mkdir, remove, rename */
#define LUAIO_CAP_PROCESS 0x04u   /* create_subprocess_exec, _shell */
#define LUAIO_CAP_CONNECT 0x08u   /* open_connection, open_unix_connection */
#define LUAIO_CAP_LISTEN 0x10u    /* start_server, start_unix_server */
#define LUAIO_CAP_DNS 0x20u       /* getaddrinfo */
#define LUAIO_CAP_SIGNAL 0x40u    /* loop:add_signal_handler, remove_ */
#define LUAIO_CAP_THREAD 0x80u    /* to_thread */
#define LUAIO_CAP_FS (LUAIO_CAP_FS_READ | LUAIO_CAP_FS_WRITE)
#define LUAIO_CAP_NET (LUAIO_CAP_CONNECT | LUAIO_CAP_LISTEN | LUAIO_CAP_DNS)
#define LUAIO_CAP_ALL 0xffu

/* Sets the capabilities of the asyncio module that L will open. */
LUAIO_EXTERN int luaio_grant(lua_State *L, unsigned caps);
/* Reads a list such as "fs.read,net.connect" (names: fs, fs.read,
** fs.write, process, net, net.connect, net.listen, net.dns, signal,
** thread, all, none) into *caps. Returns 0 or LUAIO_EINVAL. */
LUAIO_EXTERN int luaio_parsecaps(const char *list, unsigned *caps);
/* Confines asyncio.fs to dir and what lies under it (several calls
** grant several directories), and start_unix_server's socket too. dir
** must exist; paths are resolved as the kernel would follow them
** (symbolic links, ".."). Returns a negative errno code when dir cannot
** be resolved. */
LUAIO_EXTERN int luaio_grant_dir(lua_State *L, const char *dir);
/* Confines open_connection to host (as the script writes it, letter case
** aside) and port (0: any), and open_unix_connection to the paths granted
** this way (as written); several calls grant several. */
LUAIO_EXTERN int luaio_grant_host(lua_State *L, const char *host, int port);

/* Called on a worker thread for each new Lua state of to_thread, after
** its standard libraries are open (by default the ones L had when the
** module opened, or the preset's); may open more, set globals and
** package.path, and raise an error, which fails the to_thread call. */
typedef void (*luaio_setup_cb)(lua_State *W, void *ud);
LUAIO_EXTERN int luaio_set_worker_setup(lua_State *L, luaio_setup_cb setup,
                                        void *ud);

/* The sandbox preset, in place of luaL_openlibs and luaopen_asyncio: the
** standard library without io, debug, package, dofile and loadfile; os
** with time, clock and date only; load of text chunks only;
** collectgarbage with "collect", "count", "step" and "isrunning"; require
** of the modules the host loaded; the string metatable hidden and its
** methods out of the script's reach; getmetatable hiding asyncio's
** metatables too; then the asyncio module, as the
** global asyncio, with no capability unless luaio_grant() said otherwise
** before. memlimit (0: none) is set with luaio_setmemlimit(). To_thread's
** workers get the same. Returns 0, LUAIO_EINVAL (a limit on a state not
** made by luaio_newstate), LUAIO_EINVALSTATE (asyncio is open already)
** or LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_opensandbox(lua_State *L, size_t memlimit);

/* }====================================================================== */

/* The number of the signal, SIGINT or SIGTERM, that ended the last
** asyncio.run, or 0 (the CLI then exits with status 128 + that number:
** 130 or 143). */
LUAIO_EXTERN int luaio_interrupted(lua_State *L);

#endif
