/*
** luaio.h - the C core of luaio: an asyncio-style event loop on libuv.
**
** Pure C, no Lua. Everything here is usable from a C program alone.
** Loops are created and deleted; futures, tasks and the other shared
** objects are opaque and reference counted. Every function that fails
** returns a negative code: LUAIO_E* below, or a UV_E* code unchanged.
** Callbacks are never called synchronously by the function that
** registers them; they run from the loop's ready queue.
*/
#ifndef LUAIO_H
#define LUAIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#if defined(__GNUC__)
#define LUAIO_EXTERN __attribute__((visibility("default")))
#else
#define LUAIO_EXTERN
#endif

/* {======================================================================
** Version. These three lines are the one place the version is kept: the
** build reads them for the shared library's soname, luaio.pc and the
** CMake package, and a test checks that the rockspec names the same.
** ======================================================================= */

#define LUAIO_VERSION_MAJOR 0
#define LUAIO_VERSION_MINOR 1
#define LUAIO_VERSION_PATCH 0

#define LUAIO_VERSION_HEX                                                   \
  ((LUAIO_VERSION_MAJOR << 16) | (LUAIO_VERSION_MINOR << 8) |               \
   LUAIO_VERSION_PATCH)
#define LUAIO__STRINGIFY(v) #v
#define LUAIO__VERSION_STR(a, b, c)                                         \
  LUAIO__STRINGIFY(a) "." LUAIO__STRINGIFY(b) "." LUAIO__STRINGIFY(c)
/* "0.1.0": the version of the headers a program was compiled with. */
#define LUAIO_VERSION_STRING                                                \
  LUAIO__VERSION_STR(LUAIO_VERSION_MAJOR, LUAIO_VERSION_MINOR,              \
                     LUAIO_VERSION_PATCH)

/* The version of the library the program runs with, which may be newer
** than the headers it was compiled with: LUAIO_VERSION_HEX's form
** (major << 16 | minor << 8 | patch), and "major.minor.patch". */
LUAIO_EXTERN unsigned int luaio_version(void);
LUAIO_EXTERN const char *luaio_version_string(void);

/* }====================================================================== */

/* {======================================================================
** Errors. The core's own codes sit below libuv's (which uses -errno,
** -3000... and -4095...), so a core function may pass a UV_E* code on.
** ======================================================================= */

#define LUAIO_ECANCELLED (-5001)  /* the future or task was cancelled */
#define LUAIO_ETIMEOUT (-5002)    /* a deadline passed (not UV_ETIMEDOUT) */
#define LUAIO_EINVALSTATE (-5003) /* the object is not in a usable state */
#define LUAIO_EFAILED (-5004)     /* failed with an error its owner holds */
#define LUAIO_EQUEUEEMPTY (-5005) /* get_nowait on an empty queue */
#define LUAIO_EQUEUEFULL (-5006)  /* put_nowait on a full queue */
#define LUAIO_ESHUTDOWN (-5007)   /* the queue or task group shut down */
#define LUAIO_EBROKEN (-5008)     /* the barrier was aborted or reset */
#define LUAIO_EVALUE (-5009)      /* released more often than acquired */
#define LUAIO_ESELF (-5010)       /* a task awaited itself */
#define LUAIO_ECYCLE (-5011)      /* an await would close a cycle of awaits */
#define LUAIO_ENOMEM UV_ENOMEM
#define LUAIO_EINVAL UV_EINVAL
#define LUAIO_EBUSY UV_EBUSY

/* Returns a static message for any LUAIO_E* or UV_E* code. */
LUAIO_EXTERN const char *luaio_strerror(int err);
/* Returns the code's name ("ECANCELLED", "ECONNREFUSED", ...). */
LUAIO_EXTERN const char *luaio_err_name(int err);

/* }====================================================================== */

/* {======================================================================
** Memory. One allocator serves the whole core, with lua_Alloc's
** contract: nsize 0 frees ptr and returns NULL; osize is ptr's size, or
** 0 when ptr is NULL. It must be set before any object exists.
** ======================================================================= */

typedef void *(*luaio_alloc_fn)(void *ud, void *ptr, size_t osize,
                                size_t nsize);

LUAIO_EXTERN void luaio_set_allocator(luaio_alloc_fn fn, void *ud);

/* }====================================================================== */

typedef struct luaio_loop_s luaio_loop_t;
typedef struct luaio_future_s luaio_future_t;
typedef struct luaio_task_s luaio_task_t;
typedef struct luaio_handle_s luaio_handle_t;

typedef void (*luaio_cb)(void *arg);
typedef void (*luaio_free_cb)(void *arg);
typedef void (*luaio_done_cb)(luaio_future_t *fut, void *arg);

/* {======================================================================
** Loop
** ======================================================================= */

typedef enum {
  LUAIO_RUN_DEFAULT = 0, /* until nothing is left to do or stop is called */
  LUAIO_RUN_ONCE,        /* one iteration; blocks for I/O if idle */
  LUAIO_RUN_NOWAIT       /* one iteration; never blocks (host frame loops) */
} luaio_run_mode;

/* Creates a loop on uv, or on a libuv loop of its own when uv is NULL.
** The caller owns the loop and deletes it with luaio_loop_delete().
** Returns NULL only when out of memory or when libuv fails to start.
** SIGPIPE, when left at its default, is set to be ignored, so that
** writing to a peer that went away fails with EPIPE instead of ending the
** program (as Python and Node do at startup). */
LUAIO_EXTERN luaio_loop_t *luaio_loop_new(uv_loop_t *uv);

/* Deletes a loop that has no live task and no ready callback. Handles
** still scheduled with call_later or call_at are cancelled (their fin
** runs), as asyncio's loop.close() drops them. Returns 0, or LUAIO_EBUSY
** and leaves the loop as it was: a task, a ready callback or a timer is
** left, or, on a libuv loop of its own, a stream, server or pipe is still
** open. A libuv loop passed to luaio_loop_new() is not closed. */
LUAIO_EXTERN int luaio_loop_delete(luaio_loop_t *loop);

/* Runs the loop. Each iteration runs what was ready when it began,
** then the due timers, then polls libuv. Returns nonzero when work is
** left (ready callbacks, timers, live tasks or active libuv handles). */
LUAIO_EXTERN int luaio_loop_run(luaio_loop_t *loop, luaio_run_mode mode);

/* The one call that may come from any thread: runs cb(arg) on the
** loop's thread, in its next iteration, after what is ready already, and
** wakes the loop if it waits for I/O. Posts from one thread run in the
** order they were made. cb must not be NULL; the loop must not be
** deleted while a call is under way, and what is posted after its last
** iteration never runs. Returns 0, or LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_call_soon_threadsafe(luaio_loop_t *loop,
                                           void (*cb)(void *), void *arg);

/* The fd a host on an event loop of its own polls for reading: libuv's,
** readable also when another thread posted work. Call it from the loop's
** thread, outside uv_run: it polls libuv once, without blocking, so that
** libuv watches the posting handle. */
LUAIO_EXTERN int luaio_loop_backend_fd(luaio_loop_t *loop);

/* When the loop next has work of its own, on its clock: 0 when callbacks
** are ready (or were posted), else the earliest timer's time, or -1 when
** none is armed. I/O is libuv's: uv_backend_timeout(). */
LUAIO_EXTERN double luaio_loop_next_deadline(luaio_loop_t *loop);

/* Runs one iteration without blocking, as LUAIO_RUN_NOWAIT, but runs
** ready callbacks within seconds (>= 0) of real time from the call: each
** only if, costing what those before it did (smoothed), it would end in
** time; one at least. The rest stay queued, in their order, and run
** first in the next iteration, before what was scheduled later.
** For a host with a time budget per frame. Returns as luaio_loop_run(),
** or LUAIO_EINVAL for a negative or NaN seconds. */
LUAIO_EXTERN int luaio_loop_run_for(luaio_loop_t *loop, double seconds);

/* Makes luaio_loop_run() return after the current iteration. */
LUAIO_EXTERN void luaio_loop_stop(luaio_loop_t *loop);

/* Nonzero while callbacks, timers or tasks are pending in the core. */
LUAIO_EXTERN int luaio_loop_alive(const luaio_loop_t *loop);

/* The loop's clock in seconds, as asyncio's loop.time(): libuv's
** monotonic clock on a real clock, else the clock's own time (see
** Clocks below). Every deadline in the core is read against it. */
LUAIO_EXTERN double luaio_loop_time(const luaio_loop_t *loop);

/* The underlying libuv loop (borrowed). */
LUAIO_EXTERN uv_loop_t *luaio_loop_uv(luaio_loop_t *loop);

/* A pointer the embedder may keep on the loop; the core never uses it. */
LUAIO_EXTERN void luaio_loop_set_data(luaio_loop_t *loop, void *data);
LUAIO_EXTERN void *luaio_loop_data(const luaio_loop_t *loop);

/* The number of live tasks, armed timers and ready callbacks. */
LUAIO_EXTERN size_t luaio_loop_ntasks(const luaio_loop_t *loop);
LUAIO_EXTERN size_t luaio_loop_ntimers(const luaio_loop_t *loop);
LUAIO_EXTERN size_t luaio_loop_nready(const luaio_loop_t *loop);

/* Nonzero while something can still wake a task: ready callbacks, armed
** timers or active libuv handles. Live tasks with none of these wait
** for something that can never happen. On a manual clock that does not
** move with real time, only timers already due count: nothing in the
** loop moves that clock. */
LUAIO_EXTERN int luaio_loop_can_progress(luaio_loop_t *loop);

/* Attached loops. A loop attached to its libuv loop runs inside the
** uv_run of whoever owns that loop, from handles on it: a timer armed at
** its earliest deadline, an idle handle while callbacks are ready (so
** that libuv polls without blocking) and a check handle after each poll
** (so that what the poll made ready runs in the same uv_run). Each run
** of them is one iteration: due timers, then what was ready when it
** began. The owner only calls uv_run(), in any mode; nothing in luaio
** calls uv_run() while the loop is attached, and luaio_loop_run() and
** luaio_loop_run_for() then run one iteration without polling libuv,
** whatever the mode, so that a step from a libuv callback does not nest.
**
** What keeps the owner's uv_run(UV_RUN_DEFAULT) going: ready callbacks,
** armed timers (but not on a manual clock that does not move with real
** time: nothing in the loop moves it) and the libuv handles of the
** loop's I/O. Tasks that wait for anything else (a post from another
** thread, a future the owner settles) do not; with none of those left,
** uv_run returns.
**
** budget (seconds, >= 0) bounds the ready work of each run as
** luaio_loop_run_for() does (0: all that was ready runs). after, when not
** NULL, is called with arg at the end of each run, with the uv_hrtime()
** at which the run's budget ends (0 without one). Attaching an attached
** loop sets its budget and callback anew. Returns 0, or LUAIO_EINVAL for
** a negative or NaN budget. */
typedef void (*luaio_after_run_cb)(void *arg, uint64_t deadline);
LUAIO_EXTERN int luaio_loop_attach(luaio_loop_t *loop, double budget,
                                   luaio_after_run_cb after, void *arg);

/* Stops running from the libuv loop's handles: the loop is run by
** luaio_loop_run() again. luaio_loop_delete() closes the handles. */
LUAIO_EXTERN void luaio_loop_detach(luaio_loop_t *loop);

/* Nonzero while the loop is attached. */
LUAIO_EXTERN int luaio_loop_attached(const luaio_loop_t *loop);

/* }====================================================================== */

/* {======================================================================
** Clocks. Every loop has one, chosen when it is made; timers, sleeps,
** timeouts, call_later/call_at and luaio_loop_time() all read it.
**
** A real clock is libuv's monotonic clock. A manual or virtual clock
** starts at 0 and moves by luaio_clock_jump(), and, at a rate other than
** 0, with real time. A virtual clock also jumps by itself to the next
** deadline once nothing else can happen first: no callback is ready, a
** poll of libuv finds no event, and no real work is pending (a libuv
** request: a thread-pool job, a file operation, a name lookup, a
** connect in flight; or a running subprocess). While real work is
** pending it waits for it, or jumps anyway once the loop has found
** nothing to do for the autojump threshold in real seconds. A read, a
** listen or a stream write waiting for a peer does not hold the clock:
** the peer is taken to be part of the program, as in a test. A manual clock never jumps by
** itself: its owner (a test, a game's frame loop) moves it.
** ======================================================================= */

typedef enum {
  LUAIO_CLOCK_REAL = 0, /* libuv's monotonic clock, the default */
  LUAIO_CLOCK_MANUAL,   /* moves only when jumped (or at its rate) */
  LUAIO_CLOCK_VIRTUAL   /* manual, and jumps to the next deadline by itself */
} luaio_clock_kind;

/* Like luaio_loop_new(), with a clock of the given kind. */
LUAIO_EXTERN luaio_loop_t *luaio_loop_new_clock(uv_loop_t *uv,
                                                luaio_clock_kind kind);

/* The kind of the loop's clock. */
LUAIO_EXTERN luaio_clock_kind luaio_clock_kind_of(const luaio_loop_t *loop);

/* Moves a manual or virtual clock forward by seconds (>= 0, finite);
** what falls due runs in the loop's next iteration, in deadline order.
** Returns 0, LUAIO_EINVAL for a negative, NaN or infinite jump (a clock
** never goes back), LUAIO_EINVALSTATE on a real clock. */
LUAIO_EXTERN int luaio_clock_jump(luaio_loop_t *loop, double seconds);

/* The clock seconds that pass per real second on a manual or virtual
** clock: 0 (the default) stops it between jumps. Returns 0, LUAIO_EINVAL
** for a negative, NaN or infinite rate, LUAIO_EINVALSTATE on a real
** clock. A real clock's rate is 1. */
LUAIO_EXTERN int luaio_clock_set_rate(luaio_loop_t *loop, double rate);
LUAIO_EXTERN double luaio_clock_rate(const luaio_loop_t *loop);

/* How long, in real seconds, a virtual clock waits on pending real work
** with nothing else to do before it jumps anyway: INFINITY (the default)
** never, 0 at once (Trio's autojump_threshold). Returns 0, LUAIO_EINVAL
** for a negative or NaN threshold, LUAIO_EINVALSTATE unless the clock is
** virtual. */
LUAIO_EXTERN int luaio_clock_set_autojump_threshold(luaio_loop_t *loop,
                                                    double seconds);
LUAIO_EXTERN double luaio_clock_autojump_threshold(const luaio_loop_t *loop);

/* }====================================================================== */

/* {======================================================================
** Debugging
** ======================================================================= */

/* Debug aid: prints every live task, with its state and what it waits
** for, to f. */
LUAIO_EXTERN void luaio_print_tasks(luaio_loop_t *loop, FILE *f);

/* How a task waits for a future, as luaio_future_foreach_awaiter() tells
** it. */
typedef enum {
  LUAIO_VIA_AWAIT,    /* it awaits the future itself */
  LUAIO_VIA_GATHER,   /* it awaits a gather holding the future */
  LUAIO_VIA_SHIELD,   /* it awaits a shield of the future */
  LUAIO_VIA_WAIT,     /* it waits for it with luaio_wait_new() */
  LUAIO_VIA_TASKGROUP /* the future is a child of its task group */
} luaio_via;

typedef void (*luaio_awaiter_cb)(luaio_task_t *task, luaio_via via,
                                 void *arg);

/* Debug aid: calls cb(task, via, arg) for every task that waits for fut:
** one that awaits it, or awaits a gather, shield or wait (through at most
** 32 of them nested) that waits for it, or the parent of a running task
** group that holds it; in the order they began to wait, and once for each
** way a task waits. via names the first of those ways from fut. Nothing is
** kept for it: it reads fut's callbacks when called, so waiting costs no
** more. cb must not change any future or task. */
LUAIO_EXTERN void luaio_future_foreach_awaiter(luaio_future_t *fut,
                                               luaio_awaiter_cb cb,
                                               void *arg);
/* The name of via: "await", "gather", "shield", "wait", "TaskGroup". */
LUAIO_EXTERN const char *luaio_via_name(luaio_via via);

/* }====================================================================== */

/* {======================================================================
** Handles: callbacks scheduled with call_soon, call_later or call_at.
** ======================================================================= */

/* Schedules cb(arg) to run after the callbacks already ready. fin(arg),
** when given, runs once the handle is done with: after cb ran, or on
** cancel, or when the loop is deleted. When out is not NULL it receives
** a new reference to the handle, dropped with luaio_handle_unref().
** Returns 0 or LUAIO_ENOMEM; on error neither cb nor fin is called. */
LUAIO_EXTERN int luaio_call_soon(luaio_loop_t *loop, luaio_cb cb, void *arg,
                                 luaio_free_cb fin, luaio_handle_t **out);

/* Like luaio_call_soon(), after delay seconds (>= 0), or at loop time
** when. Handles due at the same time run in the order they were made.
** Returns LUAIO_EINVAL for a negative or NaN delay. */
LUAIO_EXTERN int luaio_call_later(luaio_loop_t *loop, double delay,
                                  luaio_cb cb, void *arg, luaio_free_cb fin,
                                  luaio_handle_t **out);
LUAIO_EXTERN int luaio_call_at(luaio_loop_t *loop, double when, luaio_cb cb,
                               void *arg, luaio_free_cb fin,
                               luaio_handle_t **out);

/* Prevents cb from running; fin runs now. Idempotent. */
LUAIO_EXTERN void luaio_handle_cancel(luaio_handle_t *h);
LUAIO_EXTERN int luaio_handle_cancelled(const luaio_handle_t *h);
/* The loop time at which a timer handle is due, or 0 for call_soon. */
LUAIO_EXTERN double luaio_handle_when(const luaio_handle_t *h);
LUAIO_EXTERN void luaio_handle_ref(luaio_handle_t *h);
LUAIO_EXTERN void luaio_handle_unref(luaio_handle_t *h);

/* }====================================================================== */

/* {======================================================================
** Futures
** ======================================================================= */

typedef enum {
  LUAIO_PENDING = 0,
  LUAIO_RESOLVED, /* done with a result */
  LUAIO_FAILED,   /* done with an error code */
  LUAIO_CANCELLED /* done by cancellation */
} luaio_state;

/* A future is pending until it is resolved, failed or cancelled. The
** caller owns the reference returned here and drops it with
** luaio_future_unref(). Returns NULL only when out of memory. */
LUAIO_EXTERN luaio_future_t *luaio_future_new(luaio_loop_t *loop);
LUAIO_EXTERN void luaio_future_ref(luaio_future_t *fut);
LUAIO_EXTERN void luaio_future_unref(luaio_future_t *fut);
/* Drops the caller's reference to a future whose outcome nobody will
** take, such as one whose Lua object could not be made, and cancels it
** when pending: a future waiting in a queue, lock or other primitive
** leaves it, so that a wake-up goes to the next waiter, and an operation
** (a connect, a name lookup, a file request, to_thread work) stops. A
** task or a gather is only unreferenced: cancelling a gather would cancel
** children that others still use. */
LUAIO_EXTERN void luaio_future_abandon(luaio_future_t *fut);

LUAIO_EXTERN luaio_loop_t *luaio_future_loop(const luaio_future_t *fut);
LUAIO_EXTERN luaio_state luaio_future_state(const luaio_future_t *fut);
LUAIO_EXTERN int luaio_future_done(const luaio_future_t *fut);
LUAIO_EXTERN int luaio_future_cancelled(const luaio_future_t *fut);

/* Marks the future resolved. The values themselves are the owner's
** business (a Lua binding keeps them beside its object). Returns 0, or
** LUAIO_EINVALSTATE when the future is already done. */
LUAIO_EXTERN int luaio_future_set_result(luaio_future_t *fut);

/* Marks the future failed with err (< 0, not LUAIO_ECANCELLED). Use
** LUAIO_EFAILED when the owner holds the error value. Returns 0 or
** LUAIO_EINVALSTATE. */
LUAIO_EXTERN int luaio_future_set_error(luaio_future_t *fut, int err);

/* 0 when pending or resolved, the error code when failed, and
** LUAIO_ECANCELLED when cancelled. */
LUAIO_EXTERN int luaio_future_error(const luaio_future_t *fut);

/* Cancels the future, as asyncio's Future.cancel(): returns 1 when this
** call (or, for a task, a request it made) will cancel it, 0 when it was
** already done. msg is copied; NULL means no message. Cancelling a task
** or a gather through this function does what luaio_task_cancel() or
** luaio_gather_cancel() does. Returns LUAIO_ENOMEM when msg cannot be
** copied. */
LUAIO_EXTERN int luaio_future_cancel(luaio_future_t *fut, const char *msg);

/* The message given to cancel, or NULL (borrowed, valid while fut is). */
LUAIO_EXTERN const char *luaio_future_cancel_message(const luaio_future_t *f);

/* Calls cb(fut, arg) from the ready queue once fut is done, in
** registration order; if fut is already done the call is scheduled now.
** arg is borrowed and fin(arg), if given, runs when the callback is
** dropped (after it ran, or when removed). Returns 0 or LUAIO_ENOMEM; on
** error cb is never called. */
LUAIO_EXTERN int luaio_future_add_done_cb(luaio_future_t *fut,
                                          luaio_done_cb cb, void *arg,
                                          luaio_free_cb fin);

/* Removes every registration of (cb, arg) not yet scheduled, running
** their fin. Returns how many were removed. */
LUAIO_EXTERN size_t luaio_future_remove_done_cb(luaio_future_t *fut,
                                                luaio_done_cb cb, void *arg);

/* A pointer the embedder keeps on the future; the core never uses it. */
LUAIO_EXTERN void luaio_future_set_data(luaio_future_t *fut, void *data);
LUAIO_EXTERN void *luaio_future_data(const luaio_future_t *fut);

/* The task when fut is one, else NULL. */
LUAIO_EXTERN luaio_task_t *luaio_future_task(luaio_future_t *fut);

/* }====================================================================== */

/* {======================================================================
** Tasks: futures that drive a coroutine, one step at a time.
** ======================================================================= */

/* What a step did, returned by a luaio_step_fn. */
#define LUAIO_STEP_SUSPENDED 0 /* waits for what it registered, if anything */
#define LUAIO_STEP_RETURNED 1  /* finished with values its owner holds */
/* Any negative code: the coroutine raised. LUAIO_ECANCELLED means it
** raised a cancellation; anything else fails the task with that code. */

/* Runs one step of the task's coroutine. err is 0 to resume it, or
** LUAIO_ECANCELLED to raise a cancellation at its suspension point
** (luaio_task_cancel_message() gives the message). A step that suspends
** has called luaio_task_await() or luaio_task_sleep(), or neither, which
** yields once to the loop (asyncio's bare yield, sleep(0)). With
** LUAIO_TASK_DONE_STEP, step is called once more when the task is done
** (its outcome already set), with err LUAIO_TASK_DONE: the owner's last
** look at it, for instance to copy the outcome and drop its reference.
** That call's return value is ignored. */
typedef int (*luaio_step_fn)(luaio_task_t *task, int err);

#define LUAIO_TASK_DONE 1 /* the err of the last call, see above */

/* Flags of luaio_task_new(). */
#define LUAIO_TASK_EAGER 1     /* the first step runs before new returns */
#define LUAIO_TASK_DONE_STEP 2 /* step is told when the task is done */

/* Creates a task that will run step. The task is scheduled: its first
** step runs from the ready queue, or at once with LUAIO_TASK_EAGER (then
** before this function returns, as asyncio's eager task factory does).
** The loop keeps the task alive until it is done; the caller owns the
** reference returned here. data is the embedder's (see
** luaio_future_data()). Returns NULL only when out of memory. */
LUAIO_EXTERN luaio_task_t *luaio_task_new(luaio_loop_t *loop,
                                          luaio_step_fn step, void *data,
                                          int flags);
LUAIO_EXTERN void luaio_task_ref(luaio_task_t *task);
LUAIO_EXTERN void luaio_task_unref(luaio_task_t *task);

/* The task viewed as its future (borrowed; same lifetime). */
LUAIO_EXTERN luaio_future_t *luaio_task_future(luaio_task_t *task);

/* The task whose step is running on loop, or NULL. */
LUAIO_EXTERN luaio_task_t *luaio_task_current(const luaio_loop_t *loop);

/* A number unique among the loop's tasks, counting from 1. */
LUAIO_EXTERN uint64_t luaio_task_id(const luaio_task_t *task);

/* Requests cancellation as asyncio's Task.cancel(): cancels what the
** task waits for, or raises a cancellation at its next step. Returns 1
** when requested, 0 when the task is already done, LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_task_cancel(luaio_task_t *task, const char *msg);

/* The number of cancellation requests not yet taken back. */
LUAIO_EXTERN int luaio_task_cancelling(const luaio_task_t *task);
/* Takes one request back; returns the number left. */
LUAIO_EXTERN int luaio_task_uncancel(luaio_task_t *task);
/* The message of the latest cancellation request, or NULL (borrowed). */
LUAIO_EXTERN const char *luaio_task_cancel_message(const luaio_task_t *task);

/* Called from the running step of task: makes it wait for fut, and
** resume (step with err 0) once fut is done, whatever its outcome. The
** task holds a reference to fut until then. Returns 0, LUAIO_ESELF when
** fut is the task itself, LUAIO_ECYCLE when fut waits, through tasks and
** gathers, for the task (the wait would never end), LUAIO_EINVALSTATE when
** task is not the running one, LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_task_await(luaio_task_t *task, luaio_future_t *fut);

/* Like luaio_task_await(), for a future that many tasks wait on (an
** event that is set for all of them): cancelling the task takes it off
** fut's callbacks and wakes it to raise the cancellation, and leaves fut
** alone, where luaio_task_await() would cancel fut. Needs no
** allocation. */
LUAIO_EXTERN int luaio_task_await_shared(luaio_task_t *task,
                                         luaio_future_t *fut);

/* Called from the running step of task: makes it resume after delay
** seconds; a delay of 0 yields once. Needs no allocation. Returns 0,
** LUAIO_EINVAL for a negative or NaN delay, LUAIO_EINVALSTATE. */
LUAIO_EXTERN int luaio_task_sleep(luaio_task_t *task, double delay);

/* What the task waits for: a future (borrowed) or NULL. */
LUAIO_EXTERN luaio_future_t *luaio_task_waiter(const luaio_task_t *task);
/* Nonzero while the task sleeps. */
LUAIO_EXTERN int luaio_task_sleeping(const luaio_task_t *task);

/* Calls fn(task, arg) for every live (not done) task, oldest first.
** fn must not create or finish tasks. */
LUAIO_EXTERN void luaio_loop_foreach_task(luaio_loop_t *loop,
                                          void (*fn)(luaio_task_t *, void *),
                                          void *arg);

/* }====================================================================== */

/* {======================================================================
** Gather: one future for many (asyncio.gather).
** ======================================================================= */

/* Returns a new future (a reference the caller owns) that resolves once
** every child is done, taking its own reference to each. Unless
** return_errors is set, the first child to fail or be cancelled makes it
** fail at once with that child's code (luaio_gather_failed() tells which
** child) while the others keep running. Cancelling it cancels every child
** not done: without return_errors the first child to end cancelled fails
** it with LUAIO_ECANCELLED, as asyncio.gather does; with return_errors
** it ends cancelled once every child is done. With n == 0 it resolves
** at once. Returns NULL when out of memory. */
LUAIO_EXTERN luaio_future_t *luaio_gather_new(luaio_loop_t *loop,
                                              luaio_future_t *const *children,
                                              size_t n, int return_errors);

/* The index of the child whose failure failed the gather, or -1. */
LUAIO_EXTERN long luaio_gather_failed(const luaio_future_t *gather);

/* }====================================================================== */

/* {======================================================================
** Wait: asyncio.wait and asyncio.as_completed.
** ======================================================================= */

typedef enum {
  LUAIO_ALL_COMPLETED = 0,
  LUAIO_FIRST_COMPLETED,
  LUAIO_FIRST_EXCEPTION
} luaio_wait_mode;

typedef struct luaio_wait_s luaio_wait_t;

/* Watches n futures. Returns a new reference owned by the caller, or
** NULL when out of memory. The waiter takes a reference to each future.
** timeout < 0 means none; otherwise, once it passes, the waiter's future
** resolves (wait) or fails with LUAIO_ETIMEOUT (as_completed). A future
** listed twice is watched twice: asyncio takes a set, so a caller that
** wants its semantics drops repeats first (the Lua functions do). */
LUAIO_EXTERN luaio_wait_t *luaio_wait_new(luaio_loop_t *loop,
                                          luaio_future_t *const *futs,
                                          size_t n, luaio_wait_mode mode,
                                          double timeout);
LUAIO_EXTERN void luaio_wait_unref(luaio_wait_t *w);

/* asyncio.wait: a future (borrowed) that resolves once the mode is met
** or the timeout passes. */
LUAIO_EXTERN luaio_future_t *luaio_wait_future(luaio_wait_t *w);

/* asyncio.as_completed: the index of the next future to complete, in
** completion order, or -1 when none is waiting to be taken; then
** luaio_wait_next_future() returns a future (a new reference) that is
** done when one is, or failed with LUAIO_ETIMEOUT once the timeout
** passed. Returns NULL when out of memory. */
LUAIO_EXTERN long luaio_wait_take(luaio_wait_t *w);
LUAIO_EXTERN luaio_future_t *luaio_wait_next_future(luaio_wait_t *w);
/* How many of the futures are done, and how many were taken. */
LUAIO_EXTERN size_t luaio_wait_ndone(const luaio_wait_t *w);
LUAIO_EXTERN size_t luaio_wait_ntaken(const luaio_wait_t *w);

/* }====================================================================== */

/* {======================================================================
** Timeouts (asyncio.timeout), shield, task groups.
** ======================================================================= */

typedef struct luaio_timeout_s luaio_timeout_t;

/* A deadline scope for the running task, as asyncio.Timeout. enter
** arms it at loop time when (a negative when: no deadline). Past the
** deadline the task is cancelled. exit takes the scope's outcome (0, or
** the error code the body ended with) and returns the outcome to pass
** on: LUAIO_ETIMEOUT where the cancellation was the deadline's own.
** Returns NULL when out of memory. */
LUAIO_EXTERN luaio_timeout_t *luaio_timeout_new(luaio_loop_t *loop);
LUAIO_EXTERN void luaio_timeout_unref(luaio_timeout_t *to);
LUAIO_EXTERN int luaio_timeout_enter(luaio_timeout_t *to, luaio_task_t *task,
                                     double when);
LUAIO_EXTERN int luaio_timeout_exit(luaio_timeout_t *to, int err);
/* Moves the deadline (asyncio's Timeout.reschedule). */
LUAIO_EXTERN int luaio_timeout_reschedule(luaio_timeout_t *to, double when);
/* Nonzero once the deadline passed. */
LUAIO_EXTERN int luaio_timeout_expired(const luaio_timeout_t *to);
LUAIO_EXTERN double luaio_timeout_when(const luaio_timeout_t *to);

/* Returns a new future that mirrors inner's outcome but whose
** cancellation does not reach inner (asyncio.shield). Returns NULL when
** out of memory. */
LUAIO_EXTERN luaio_future_t *luaio_shield_new(luaio_loop_t *loop,
                                              luaio_future_t *inner);

typedef struct luaio_taskgroup_s luaio_taskgroup_t;

/* A task group whose body runs in parent (asyncio.TaskGroup). Returns a
** new reference or NULL when out of memory. */
LUAIO_EXTERN luaio_taskgroup_t *luaio_taskgroup_new(luaio_loop_t *loop,
                                                    luaio_task_t *parent);
LUAIO_EXTERN void luaio_taskgroup_unref(luaio_taskgroup_t *tg);
/* Adopts a child task (the group takes a reference). Returns 0,
** LUAIO_EINVALSTATE once the group is finished or its body has ended
** and no child is left, LUAIO_ESHUTDOWN once the group is shutting down
** (a child failed, the body failed or the parent was cancelled: the
** group cancels its children), LUAIO_ENOMEM. A child not adopted is the
** caller's to cancel. */
LUAIO_EXTERN int luaio_taskgroup_add(luaio_taskgroup_t *tg,
                                     luaio_task_t *child);
/* Called when the body ended, with 0 or its error code: starts the exit.
** While it returns a future (borrowed), the parent must await it and then
** call luaio_taskgroup_exit_step(), saying whether that wait ended by a
** cancellation of the parent. NULL means the group is finished and
** luaio_taskgroup_outcome() tells what to do: 0, LUAIO_ECANCELLED
** (propagate the cancellation) or LUAIO_EFAILED (raise a group of the
** failures: luaio_taskgroup_nerrors() and luaio_taskgroup_error() list
** them in the order they happened, the body's own error last when err
** was neither 0 nor a cancellation). With LUAIO_EFAILED while the parent
** is still being cancelled from outside, that request is made again
** (its count kept), so the parent's next await is cancelled. */
LUAIO_EXTERN luaio_future_t *luaio_taskgroup_exit(luaio_taskgroup_t *tg,
                                                  int err);
LUAIO_EXTERN luaio_future_t *luaio_taskgroup_exit_step(luaio_taskgroup_t *tg,
                                                       int cancelled);
LUAIO_EXTERN int luaio_taskgroup_outcome(const luaio_taskgroup_t *tg);
LUAIO_EXTERN size_t luaio_taskgroup_nerrors(const luaio_taskgroup_t *tg);
/* The i-th failed child (borrowed), or NULL for the body's own error. */
LUAIO_EXTERN luaio_task_t *luaio_taskgroup_error(const luaio_taskgroup_t *tg,
                                                 size_t i);

/* }====================================================================== */

/*
** Queues and synchronisation: asyncio.Queue, LifoQueue, PriorityQueue,
** Event, Lock, Semaphore, BoundedSemaphore, Condition and Barrier.
**
** They follow CPython's asyncio (queues.py of 3.13, locks.py of 3.12.3 and
** later) step by step. An operation that can complete at once does so;
** one that must suspend returns a new future (a reference the caller
** owns) for the running task to await with luaio_task_await(). When the
** task resumes, the caller passes that future and the step's err (0, or
** LUAIO_ECANCELLED) to the matching *_finish function. It borrows the
** future, does what CPython does after its `await` (on success, or in
** its `except`/`finally` clause on cancellation, such as passing a
** wake-up on to the next waiter) and returns 0, or the error to raise
** (LUAIO_ECANCELLED). The caller then drops its reference. Calling
** *_finish while the future is still pending abandons the wait as a
** cancellation would. The caller must hold a reference to the object
** for as long as a wait on it is in progress. Waiters are woken in the
** order they began to wait.
*/

/* {======================================================================
** Queues. The core stores no items: it hands out slot ids and keeps
** their order, and the caller keeps each item under its slot id (a Lua
** binding in the array part of a table). Slot ids are dense, start at
** 1 and are recycled: the largest id is the largest number of items
** ever held at once, counting those being put or taken.
**
** put:  loop { rc = put_nowait(q, &slot): 0 -> store the item under
**       slot, commit(q, slot), done; LUAIO_EQUEUEFULL -> fut = putter(q),
**       await fut, rc = putter_finish(q, fut, err), raise rc if nonzero,
**       loop; anything else -> raise it }
** get:  the same with get_nowait (LUAIO_EQUEUEEMPTY), getter() and
**       getter_finish(); on 0 take the item under slot, then release it.
** ======================================================================= */

typedef struct luaio_queue_s luaio_queue_t;

typedef enum {
  LUAIO_QUEUE_FIFO = 0, /* asyncio.Queue */
  LUAIO_QUEUE_LIFO,     /* asyncio.LifoQueue */
  LUAIO_QUEUE_PRIORITY  /* asyncio.PriorityQueue, smallest first */
} luaio_queue_kind;

/* Returns nonzero when the item under slot a sorts before the item under
** slot b. Items that sort before neither come out in the order they were
** committed. It runs within luaio_queue_commit() and
** luaio_queue_get_nowait() of a PRIORITY queue; it must not call into
** the queue, and it must return rather than fail or longjmp (a Lua
** binding compares in protected mode and raises afterwards). */
typedef int (*luaio_queue_cmp)(void *ud, uint32_t a, uint32_t b);

/* Told, by luaio_queue_shutdown(), of each item it dropped. */
typedef void (*luaio_queue_drop_fn)(void *ud, uint32_t slot);

/* Creates an empty queue of the given kind. maxsize <= 0 means unbounded.
** cmp and ud (borrowed) order a PRIORITY queue; with cmp NULL all items
** tie. The caller owns the reference returned and drops it with
** luaio_queue_unref(). Returns NULL only when out of memory. */
LUAIO_EXTERN luaio_queue_t *luaio_queue_new(luaio_loop_t *loop,
                                            luaio_queue_kind kind,
                                            long maxsize, luaio_queue_cmp cmp,
                                            void *ud);
/* As luaio_event_bind() (a NULL loop: bound before the first wait). */
LUAIO_EXTERN int luaio_queue_bind(luaio_queue_t *q, luaio_loop_t *loop);
LUAIO_EXTERN void luaio_queue_ref(luaio_queue_t *q);
/* Drops a reference; the last one frees the queue and lets go of any
** waiter futures still queued (they stay pending). */
LUAIO_EXTERN void luaio_queue_unref(luaio_queue_t *q);

/* The number of items in the queue (committed and not yet taken). */
LUAIO_EXTERN size_t luaio_queue_qsize(const luaio_queue_t *q);
/* maxsize as given to luaio_queue_new(). */
LUAIO_EXTERN long luaio_queue_maxsize(const luaio_queue_t *q);
LUAIO_EXTERN int luaio_queue_empty(const luaio_queue_t *q);
/* Nonzero when maxsize > 0 and qsize (with puts in progress) reaches it. */
LUAIO_EXTERN int luaio_queue_full(const luaio_queue_t *q);
LUAIO_EXTERN int luaio_queue_is_shutdown(const luaio_queue_t *q);
/* Items put and not yet marked done by luaio_queue_task_done(). */
LUAIO_EXTERN size_t luaio_queue_unfinished(const luaio_queue_t *q);

/* First phase of put_nowait: reserves a slot id in *slot, under which the
** caller stores its item before luaio_queue_commit(). Returns 0,
** LUAIO_ESHUTDOWN once the queue is shut down, LUAIO_EQUEUEFULL, or
** LUAIO_ENOMEM when the slot arrays cannot grow (they grow by doubling;
** once grown, put and get allocate nothing). */
LUAIO_EXTERN int luaio_queue_put_nowait(luaio_queue_t *q, uint32_t *slot);

/* Second phase: inserts the reserved slot in order, counts one unfinished
** task and wakes the first waiting getter. Cannot fail. */
LUAIO_EXTERN void luaio_queue_commit(luaio_queue_t *q, uint32_t slot);

/* Gives back a slot reserved by luaio_queue_put_nowait() and not
** committed (the caller failed to store its item). */
LUAIO_EXTERN void luaio_queue_discard(luaio_queue_t *q, uint32_t slot);

/* Takes the next item: sets *slot to its slot id and wakes the first
** waiting putter. The caller takes its item from under the slot, then
** calls luaio_queue_release(). Returns 0, LUAIO_EQUEUEEMPTY, or
** LUAIO_ESHUTDOWN when the queue is empty and shut down. */
LUAIO_EXTERN int luaio_queue_get_nowait(luaio_queue_t *q, uint32_t *slot);

/* Recycles a slot id returned by luaio_queue_get_nowait(). */
LUAIO_EXTERN void luaio_queue_release(luaio_queue_t *q, uint32_t slot);

/* After luaio_queue_get_nowait() returned LUAIO_EQUEUEEMPTY: returns a new
** future, queued behind the other getters, that resolves when an item
** is put or the queue is shut down; the caller owns the reference.
** Returns NULL when out of memory. */
LUAIO_EXTERN luaio_future_t *luaio_queue_getter(luaio_queue_t *q);

/* After the getter fut was awaited: returns 0 to try get_nowait again,
** or the error to raise; in that case fut is dropped from the getters
** and, if it had been woken and items are left, the wake-up passes to
** the next getter, so that no item waits while a getter does. Borrows
** fut. */
LUAIO_EXTERN int luaio_queue_getter_finish(luaio_queue_t *q,
                                           luaio_future_t *fut, int err);

/* The same for put: after luaio_queue_put_nowait() returned
** LUAIO_EQUEUEFULL, a new future that resolves when an item is taken or
** the queue is shut down; NULL when out of memory. */
LUAIO_EXTERN luaio_future_t *luaio_queue_putter(luaio_queue_t *q);
LUAIO_EXTERN int luaio_queue_putter_finish(luaio_queue_t *q,
                                           luaio_future_t *fut, int err);

/* Marks one item done; when none is left unfinished, resolves the join
** futures. Returns 0, or LUAIO_EVALUE when called more often than items
** were put. */
LUAIO_EXTERN int luaio_queue_task_done(luaio_queue_t *q);

/* asyncio's Queue.join(): sets *out to NULL when no item is unfinished,
** else to a new future (the caller owns the reference) that resolves
** once none is. Returns 0 or LUAIO_ENOMEM. join_finish returns 0 or the
** error to raise, and borrows fut. */
LUAIO_EXTERN int luaio_queue_join(luaio_queue_t *q, luaio_future_t **out);
LUAIO_EXTERN int luaio_queue_join_finish(luaio_queue_t *q,
                                         luaio_future_t *fut, int err);

/* Shuts the queue down: put_nowait fails with LUAIO_ESHUTDOWN from now on,
** get_nowait once the queue is empty. When immediate is nonzero, the
** queue is emptied first: drop(ud, slot), if given, is called before
** this function returns for each item dropped, whose slot id is then
** recycled, and each counts as a task done (join futures resolve once
** none is unfinished). Every waiting getter and putter is woken, to
** find the queue shut down. drop must not call into the queue. */
LUAIO_EXTERN void luaio_queue_shutdown(luaio_queue_t *q, int immediate,
                                       luaio_queue_drop_fn drop, void *ud);

/* }====================================================================== */

/* {======================================================================
** Event: a flag that tasks wait for.
** ======================================================================= */

typedef struct luaio_event_s luaio_event_t;

/* Creates a clear event. The caller owns the reference returned. Returns
** NULL only when out of memory. */
LUAIO_EXTERN luaio_event_t *luaio_event_new(luaio_loop_t *loop);
/* An event, lock, semaphore, condition, barrier or queue made with a NULL
** loop belongs to none yet, as asyncio's are bound to the loop that first
** uses them: everything but a wait works. *_bind gives it its loop, which
** must be done before its first wait (the waiter futures live on it).
** Returns 0, or LUAIO_EINVALSTATE when it is bound to another loop
** already (then nothing changes). */
LUAIO_EXTERN int luaio_event_bind(luaio_event_t *ev, luaio_loop_t *loop);
LUAIO_EXTERN void luaio_event_ref(luaio_event_t *ev);
LUAIO_EXTERN void luaio_event_unref(luaio_event_t *ev);

/* Sets the flag and wakes every waiter. */
LUAIO_EXTERN void luaio_event_set(luaio_event_t *ev);
LUAIO_EXTERN void luaio_event_clear(luaio_event_t *ev);
LUAIO_EXTERN int luaio_event_is_set(const luaio_event_t *ev);

/* Sets *out to NULL when the flag is set, else to a future that
** resolves when it is; the caller owns the new reference returned. The
** future is shared by every waiter: await it with
** luaio_task_await_shared(), so that cancelling one waiter leaves the
** others waiting. Returns 0 or LUAIO_ENOMEM. wait_finish returns 0 (the
** flag was set, though it may be clear again) or the error to raise. */
LUAIO_EXTERN int luaio_event_wait(luaio_event_t *ev, luaio_future_t **out);
LUAIO_EXTERN int luaio_event_wait_finish(luaio_event_t *ev,
                                         luaio_future_t *fut, int err);

/* }====================================================================== */

/* {======================================================================
** Lock: a fair mutex, not owned by any task. Released, it is handed to
** the first waiter; a waiter that is cancelled after being woken passes
** the hand-off on to the next.
** ======================================================================= */

typedef struct luaio_lock_s luaio_lock_t;

/* Creates an unlocked lock. The caller owns the reference returned.
** Returns NULL only when out of memory. */
LUAIO_EXTERN luaio_lock_t *luaio_lock_new(luaio_loop_t *loop);
/* As luaio_event_bind(). */
LUAIO_EXTERN int luaio_lock_bind(luaio_lock_t *lock, luaio_loop_t *loop);
LUAIO_EXTERN void luaio_lock_ref(luaio_lock_t *lock);
LUAIO_EXTERN void luaio_lock_unref(luaio_lock_t *lock);
LUAIO_EXTERN int luaio_lock_locked(const luaio_lock_t *lock);

/* Takes the lock at once when it is unlocked and nobody waits for it
** (cancelled waiters aside), setting *out to NULL. Otherwise sets *out
** to a new future (the caller owns the reference) to await; then
** acquire_finish returns 0 once the lock is the caller's, or the error
** to raise. Returns 0 or LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_lock_acquire(luaio_lock_t *lock, luaio_future_t **out);
LUAIO_EXTERN int luaio_lock_acquire_finish(luaio_lock_t *lock,
                                           luaio_future_t *fut, int err);

/* Unlocks and wakes the first waiter. Returns 0, or LUAIO_EINVALSTATE
** when the lock is not locked. */
LUAIO_EXTERN int luaio_lock_release(luaio_lock_t *lock);

/* }====================================================================== */

/* {======================================================================
** Semaphore and BoundedSemaphore: a counter that acquire decrements and
** release increments, with FIFO wake-ups.
** ======================================================================= */

typedef struct luaio_semaphore_s luaio_semaphore_t;

/* Creates a semaphore with counter value (>= 0). When bounded is
** nonzero, a release that would raise the counter above value fails.
** The caller owns the reference returned. Returns NULL when value < 0
** or out of memory. */
LUAIO_EXTERN luaio_semaphore_t *luaio_semaphore_new(luaio_loop_t *loop,
                                                    long value, int bounded);
/* As luaio_event_bind(). */
LUAIO_EXTERN int luaio_semaphore_bind(luaio_semaphore_t *sem,
                                      luaio_loop_t *loop);
LUAIO_EXTERN void luaio_semaphore_ref(luaio_semaphore_t *sem);
LUAIO_EXTERN void luaio_semaphore_unref(luaio_semaphore_t *sem);

/* Nonzero when an acquire would wait: the counter is 0, or others (not
** cancelled) are waiting already. */
LUAIO_EXTERN int luaio_semaphore_locked(const luaio_semaphore_t *sem);
LUAIO_EXTERN long luaio_semaphore_value(const luaio_semaphore_t *sem);

/* As luaio_lock_acquire(): *out is NULL when the counter was taken at
** once, else a new future to await before acquire_finish. */
LUAIO_EXTERN int luaio_semaphore_acquire(luaio_semaphore_t *sem,
                                         luaio_future_t **out);
LUAIO_EXTERN int luaio_semaphore_acquire_finish(luaio_semaphore_t *sem,
                                                luaio_future_t *fut, int err);

/* Increments the counter and wakes the first waiter. Returns 0, or
** LUAIO_EVALUE when a bounded semaphore is released too often. */
LUAIO_EXTERN int luaio_semaphore_release(luaio_semaphore_t *sem);

/* }====================================================================== */

/* {======================================================================
** Condition: waiters notified under a Lock. Condition.wait is done in
** steps, the lock being re-acquired through the Lock API:
**
**   rc = luaio_condition_wait_begin(cond, &fut);  (releases the lock)
**   await fut; rc = luaio_condition_wait_finish(cond, fut, err);
**   for (;;) {  (the lock is re-acquired even when cancelled)
**     r = luaio_lock_acquire(lock, &f);
**     if (r == 0 && f != NULL) { await f;
**       r = luaio_lock_acquire_finish(lock, f, err); drop f; }
**     if (r == 0) break;
**     if (r != LUAIO_ECANCELLED) raise r;  (without the lock)
**     rc = r;
**   }
**   if (rc != 0) { luaio_condition_notify(cond, 1); raise rc; }
**
** The extra notify after a failure passes on a notification this waiter
** may have consumed (a spurious wake-up for another is allowed).
** ======================================================================= */

typedef struct luaio_condition_s luaio_condition_t;

/* Creates a condition on lock (it takes a reference), or on a new lock
** of its own when lock is NULL. The caller owns the reference returned.
** Returns NULL only when out of memory. */
LUAIO_EXTERN luaio_condition_t *luaio_condition_new(luaio_loop_t *loop,
                                                    luaio_lock_t *lock);
/* As luaio_event_bind(); binds the condition's lock too when it is not
** bound, and fails when it is bound to another loop. */
LUAIO_EXTERN int luaio_condition_bind(luaio_condition_t *cond,
                                      luaio_loop_t *loop);
LUAIO_EXTERN void luaio_condition_ref(luaio_condition_t *cond);
LUAIO_EXTERN void luaio_condition_unref(luaio_condition_t *cond);

/* The condition's lock (borrowed, valid while cond is). */
LUAIO_EXTERN luaio_lock_t *luaio_condition_lock(luaio_condition_t *cond);

/* Releases the lock and sets *out to a new future (the caller owns the
** reference) that resolves when notified. Returns 0, LUAIO_EINVALSTATE
** when the lock is not held, or LUAIO_ENOMEM (the lock is then still
** held). wait_finish returns 0 when notified or the error to raise; the
** lock is not held yet in either case. */
LUAIO_EXTERN int luaio_condition_wait_begin(luaio_condition_t *cond,
                                            luaio_future_t **out);
LUAIO_EXTERN int luaio_condition_wait_finish(luaio_condition_t *cond,
                                             luaio_future_t *fut, int err);

/* Wakes up to n waiters, or all of them. The lock must be held: returns
** 0 or LUAIO_EINVALSTATE. */
LUAIO_EXTERN int luaio_condition_notify(luaio_condition_t *cond, size_t n);
LUAIO_EXTERN int luaio_condition_notify_all(luaio_condition_t *cond);

/* }====================================================================== */

/* {======================================================================
** Barrier: parties tasks meet, then all go on. States as CPython's:
** filling, draining (tasks leaving a tripped barrier; newcomers wait),
** resetting, broken.
**
**   rc = luaio_barrier_wait(b, &fut, &index);
**   while (rc == 0 && fut != NULL) {
**     await fut;
**     rc = luaio_barrier_wait_finish(b, fut, err, &next, &index);
**     drop fut; fut = next;
**   }
**   rc == 0: index is the arrival index; LUAIO_EBROKEN: raise
**   BrokenBarrierError; otherwise raise rc.
** ======================================================================= */

typedef struct luaio_barrier_s luaio_barrier_t;

/* Creates a barrier for parties (>= 1) tasks. The caller owns the
** reference returned. Returns NULL when parties < 1 or out of memory. */
LUAIO_EXTERN luaio_barrier_t *luaio_barrier_new(luaio_loop_t *loop,
                                                long parties);
/* As luaio_event_bind(). */
LUAIO_EXTERN int luaio_barrier_bind(luaio_barrier_t *b, luaio_loop_t *loop);
LUAIO_EXTERN void luaio_barrier_ref(luaio_barrier_t *b);
LUAIO_EXTERN void luaio_barrier_unref(luaio_barrier_t *b);

/* Arrives at the barrier. Sets *out to NULL and *index to the arrival
** index (0 .. parties - 1) when done at once (the last party trips the
** barrier), else *out to a new future (the caller owns the reference) to
** await before wait_finish. Returns 0, LUAIO_EBROKEN when the barrier is
** broken, or LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_barrier_wait(luaio_barrier_t *b, luaio_future_t **out,
                                    long *index);

/* Goes on with the wait once fut (borrowed) is done, in the same way:
** *out is NULL and *index set when the barrier was passed, else *out is
** another new future to await. Returns 0, LUAIO_EBROKEN when the
** barrier was aborted or reset meanwhile, the error to raise, or
** LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_barrier_wait_finish(luaio_barrier_t *b,
                                           luaio_future_t *fut, int err,
                                           luaio_future_t **out, long *index);

/* Returns the barrier to filling; the tasks waiting in it fail with
** LUAIO_EBROKEN. */
LUAIO_EXTERN void luaio_barrier_reset(luaio_barrier_t *b);
/* Breaks the barrier: waiting and arriving tasks fail with
** LUAIO_EBROKEN until it is reset. */
LUAIO_EXTERN void luaio_barrier_abort(luaio_barrier_t *b);

LUAIO_EXTERN long luaio_barrier_parties(const luaio_barrier_t *b);
/* The number of tasks waiting for the barrier to fill. */
LUAIO_EXTERN long luaio_barrier_n_waiting(const luaio_barrier_t *b);
LUAIO_EXTERN int luaio_barrier_broken(const luaio_barrier_t *b);

/* }====================================================================== */

/* The I/O parts of the API, kept in files of their own. */
#include "luaio_stream.h"  /* TCP streams and name resolution */
#include "luaio_tls.h"     /* TLS on streams */
#include "luaio_process.h" /* subprocesses and signals */
#include "luaio_fs.h"      /* files */
#include "luaio_thread.h"  /* work on libuv's thread pool */
#include "luaio_udp.h"     /* UDP endpoints */

#endif
