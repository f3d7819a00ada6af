/*
** luaio_process.h - part of luaio.h (included by it, never on its own).
*/

/* {======================================================================
** Pipes (process.c): one end of a subprocess's stdin, stdout or stderr,
** as a minimal stream.
**
** A read end reads ahead into a buffer of its own, up to a limit (256
** KiB by default), and stops there until the buffer is consumed or a
** reader waits. The caller looks at the buffer, consumes what it takes,
** and when it needs more calls luaio_pipe_wait_readable():
**
**   for (;;) {
**     data = luaio_pipe_buffer(p, &len);
**     if (enough in data[0 .. len) or luaio_pipe_at_eof(p)) take it, stop;
**     rc = luaio_pipe_wait_readable(p, &fut); await fut; drop fut;
**   }
**
** A write end queues copies of what is written; luaio_pipe_drain() waits
** until little is queued. Errors of a write are kept and returned by
** the next write or drain.
** ======================================================================= */

typedef struct luaio_pipe_s luaio_pipe_t;

LUAIO_EXTERN void luaio_pipe_ref(luaio_pipe_t *p);
/* Dropping the last reference closes the pipe (luaio_pipe_close()). */
LUAIO_EXTERN void luaio_pipe_unref(luaio_pipe_t *p);

/* The unread data (borrowed, valid until the pipe is used again). */
LUAIO_EXTERN const char *luaio_pipe_buffer(const luaio_pipe_t *p, size_t *len);
/* Drops the first n bytes of the buffer (n <= its length). */
LUAIO_EXTERN void luaio_pipe_consume(luaio_pipe_t *p, size_t n);
/* Nonzero once the other end closed (or the pipe failed or was closed)
** and the buffer holds all there will be. */
LUAIO_EXTERN int luaio_pipe_at_eof(const luaio_pipe_t *p);
/* The error that ended reading, or 0 (end of input is not an error). */
LUAIO_EXTERN int luaio_pipe_error(const luaio_pipe_t *p);

/* Sets *out to a new future (the caller owns the reference) that
** resolves once more data is buffered or the end is reached, and reads
** meanwhile even past the limit. *out is NULL when that is already so.
** Returns 0, LUAIO_EINVAL on a write end, or LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_pipe_wait_readable(luaio_pipe_t *p,
                                          luaio_future_t **out);

/* Sets how much is read ahead; 0 means no limit (communicate reads
** stdout and stderr together and must not let either fill up). */
LUAIO_EXTERN void luaio_pipe_set_limit(luaio_pipe_t *p, size_t limit);

/* Queues a copy of data. Returns 0, the error of an earlier write,
** LUAIO_EINVALSTATE once closed, LUAIO_EINVAL on a read end, or
** LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_pipe_write(luaio_pipe_t *p, const void *data,
                                  size_t len);

/* Sets *out to NULL when at most 64 KiB are queued, else to a new future
** (the caller owns the reference) that resolves once at most 16 KiB are,
** or fails with the write error. Returns 0, the error of an earlier
** write, or LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_pipe_drain(luaio_pipe_t *p, luaio_future_t **out);

/* The number of bytes queued and not yet written. */
LUAIO_EXTERN size_t luaio_pipe_queued(const luaio_pipe_t *p);

/* Closes the pipe: a write end once what is queued has been written (or
** has failed), a read end at once, ending its input. Futures waiting on
** it resolve. Idempotent. */
LUAIO_EXTERN void luaio_pipe_close(luaio_pipe_t *p);
LUAIO_EXTERN int luaio_pipe_closed(const luaio_pipe_t *p);
/* Sets *out to NULL when the pipe's handle is closed, else to a new
** future (the caller owns the reference) that resolves once it is: for a
** write end, after what was queued has been written. It does not close
** the pipe. Returns 0 or LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_pipe_wait_closed(luaio_pipe_t *p, luaio_future_t **out);

/* }====================================================================== */

/* {======================================================================
** Subprocesses (process.c), on uv_spawn.
**
** A process object lives while it is referenced or its child runs: its
** libuv handle stays open until the child exits, so that the exit
** status is collected even when nobody holds the object any more.
** luaio_process_close_all() closes the handles and pipes still open on a
** loop that is about to be deleted; the children are left running.
** ======================================================================= */

typedef struct luaio_process_s luaio_process_t;

#define LUAIO_STDIO_INHERIT 0 /* the child shares the parent's descriptor */
#define LUAIO_STDIO_PIPE 1    /* a pipe to the parent (luaio_process_pipe) */
#define LUAIO_STDIO_DEVNULL 2 /* /dev/null */
#define LUAIO_STDIO_STDOUT 3  /* fd 2 only: wherever fd 1 goes, its pipe too */

typedef struct {
  const char *file; /* the program, searched in PATH */
  char **args;      /* argv: args[0] and the rest, NULL-terminated */
  char **env;       /* "NAME=value" strings, NULL-terminated, or NULL
                       to inherit the parent's environment */
  const char *cwd;  /* or NULL */
  int stdio[3];     /* LUAIO_STDIO_* for fds 0, 1 and 2 */
} luaio_process_options_t;

/* Starts a child as described by opts (borrowed: libuv copies what it
** keeps). On success *out receives a new reference the caller owns.
** Returns 0 or the UV_E* code of the failure (UV_ENOENT for a program
** that does not exist); then nothing is left running. Writing to a child
** that exited fails with EPIPE (see luaio_loop_new() on SIGPIPE). */
LUAIO_EXTERN int luaio_process_spawn(luaio_loop_t *loop,
                                     const luaio_process_options_t *opts,
                                     luaio_process_t **out);
/* Returns 0 when cwd names a directory a child may enter, else the UV_E*
** code entering it gives (UV_ENOENT, UV_ENOTDIR, UV_EACCES, ...). The
** child of a failed luaio_process_spawn() reports one code for every
** step before it runs the program; this tells when the directory was
** the step that failed. Blocks for a stat and an access call. */
LUAIO_EXTERN int luaio_process_check_cwd(const char *cwd);
LUAIO_EXTERN void luaio_process_ref(luaio_process_t *p);
LUAIO_EXTERN void luaio_process_unref(luaio_process_t *p);

LUAIO_EXTERN int luaio_process_pid(const luaio_process_t *p);

/* The pipe for fd 0, 1 or 2 (borrowed; valid while p is), or NULL when
** that descriptor is not LUAIO_STDIO_PIPE. */
LUAIO_EXTERN luaio_pipe_t *luaio_process_pipe(luaio_process_t *p, int fd);

/* Sets *out to NULL once the child has exited, else to a new future (the
** caller owns the reference) that resolves when it does. Returns 0 or
** LUAIO_ENOMEM. */
LUAIO_EXTERN int luaio_process_wait(luaio_process_t *p, luaio_future_t **out);

/* Nonzero once the child has exited; *code then receives Python's
** returncode: the exit status, or -signum when a signal ended it. */
LUAIO_EXTERN int luaio_process_returncode(const luaio_process_t *p, int *code);

/* Sends signum to the child. Returns 0 (also when the child has already
** exited: nothing is sent) or a UV_E* code. */
LUAIO_EXTERN int luaio_process_kill(luaio_process_t *p, int signum);

/* Closes every process handle and pipe still open on loop, without
** signalling the children: they run on, and their exit status is no
** longer collected. Waiting futures are cancelled. For the moment before
** luaio_loop_delete() (or asyncio.run's end). */
LUAIO_EXTERN void luaio_process_close_all(luaio_loop_t *loop);

/* }====================================================================== */

/* {======================================================================
** Signal handlers (signal.c), on uv_signal_t. The handle does not keep
** the loop alive.
** ======================================================================= */

typedef struct luaio_signal_s luaio_signal_t;

typedef void (*luaio_signal_cb)(void *arg, int signum);

/* Calls cb(arg, signum) from the ready queue each time signum arrives,
** until stopped. fin(arg), if given, runs once the handler is done with:
** after luaio_signal_stop() and the last callback that was scheduled.
** On success *out receives a new reference the caller owns. Returns 0,
** the UV_E* code of uv_signal_start (UV_EINVAL for a bad number), or
** LUAIO_ENOMEM; on error fin is not called. */
LUAIO_EXTERN int luaio_signal_start(luaio_loop_t *loop, int signum,
                                    luaio_signal_cb cb, void *arg,
                                    luaio_free_cb fin, luaio_signal_t **out);
/* Stops the handler and closes its handle; callbacks not yet run are
** dropped. Idempotent. */
LUAIO_EXTERN void luaio_signal_stop(luaio_signal_t *s);
LUAIO_EXTERN void luaio_signal_ref(luaio_signal_t *s);
/* Dropping the last reference stops the handler. */
LUAIO_EXTERN void luaio_signal_unref(luaio_signal_t *s);
LUAIO_EXTERN int luaio_signal_signum(const luaio_signal_t *s);

/* The number of a signal name ("SIGTERM" or "TERM"), or 0. */
LUAIO_EXTERN int luaio_signal_number(const char *name);

/* }====================================================================== */
