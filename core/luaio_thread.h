/*
** luaio_thread.h - part of luaio.h (included by it, never on its own).
*/
#ifndef LUAIO_THREAD_H
#define LUAIO_THREAD_H

/* {======================================================================
** Work on libuv's thread pool (uv_queue_work), as asyncio's to_thread.
**
** A work item runs work(arg) once on a pool thread and is a future that
** resolves on the loop thread when work(arg) has returned. work(arg)
** must not touch the loop, its futures or tasks: nothing in the core is
** thread-safe. It reads what arg holds and leaves its results there; the
** owner reads them on the loop thread once the future is resolved.
**
**   luaio_work_t *w = luaio_work_new(loop, crunch, job, job_free);
**   await luaio_work_future(w);
**   if resolved: read job's results;  (cancelled: they are dropped)
**   luaio_work_unref(w);              (job_free(job) runs here or later)
**
** Cancelling is always safe. Work that has not started is taken off the
** pool's queue (uv_cancel) and never runs; work that runs cannot be
** stopped, so the future is cancelled at once and the work finishes in
** its thread, unobserved. Either way arg stays alive until the work is
** over: the work item keeps a reference to itself while it is in flight,
** that is from luaio_work_new() until libuv's after-work callback ran on
** the loop thread. libuv always calls that callback, and it keeps the
** libuv loop alive until then (uv_loop_alive() is nonzero).
**
** The loop must outlive work in flight. luaio_loop_delete() of a loop
** that owns its libuv loop waits for it: libuv refuses to close a loop
** with an active request, and the core then runs libuv until it can (the
** work still pending is resolved with nobody waiting for it). With an
** embedder's libuv loop, the embedder runs that loop until the work is
** over, and must not leave a done callback on a future still pending.
** ======================================================================= */

typedef struct luaio_work_s luaio_work_t;

/* What runs on a pool thread: arg is the one given to luaio_work_new(). */
typedef void (*luaio_work_fn)(void *arg);

/* Queues work(arg) on libuv's thread pool. arg is borrowed: it must stay
** valid until fin(arg), when given, runs. fin runs once, on the loop
** thread, when the work item is freed, that is after work(arg) returned
** (or was cancelled before it started) and the last reference was
** dropped; fin must not touch the loop either (the loop may be gone).
** The caller owns the reference returned here and drops it with
** luaio_work_unref(). Returns NULL when out of memory or when loop or
** work is NULL; neither work nor fin is then called. */
LUAIO_EXTERN luaio_work_t *luaio_work_new(luaio_loop_t *loop,
                                          luaio_work_fn work, void *arg,
                                          luaio_free_cb fin);
LUAIO_EXTERN void luaio_work_ref(luaio_work_t *w);
LUAIO_EXTERN void luaio_work_unref(luaio_work_t *w);

/* The work item viewed as its future (borrowed; same lifetime, and the
** references are shared: luaio_future_ref() on it keeps w alive). It
** resolves when work(arg) has returned, and is never failed. */
LUAIO_EXTERN luaio_future_t *luaio_work_future(luaio_work_t *w);

/* The work item whose future fut is, or NULL (borrowed). */
LUAIO_EXTERN luaio_work_t *luaio_future_work(luaio_future_t *fut);

/* arg as given to luaio_work_new() (borrowed). */
LUAIO_EXTERN void *luaio_work_arg(const luaio_work_t *w);

/* Cancels the future at once and takes the work off the pool's queue if
** it has not started; luaio_future_cancel() on the future does the same.
** Returns 1 when cancelled, 0 when the future was already done, or
** LUAIO_ENOMEM when msg cannot be copied (nothing is cancelled then). */
LUAIO_EXTERN int luaio_work_cancel(luaio_work_t *w, const char *msg);

/* Nonzero while the work is in flight: until libuv's after-work callback
** ran on the loop thread, even when the future is already cancelled. */
LUAIO_EXTERN int luaio_work_busy(const luaio_work_t *w);

/* Nonzero once the loop knows that work(arg) ran to its end; zero while
** busy, and for good when it was cancelled before it started. */
LUAIO_EXTERN int luaio_work_ran(const luaio_work_t *w);

/* }====================================================================== */

#endif
