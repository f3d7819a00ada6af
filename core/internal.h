/*
** internal.h - what the core's files share and nobody else sees.
*/
#ifndef LUAIO_INTERNAL_H
#define LUAIO_INTERNAL_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "luaio.h"

#define container_of(ptr, type, member)                                        \
  ((type *)((char *)(ptr) - offsetof(type, member)))

/* {======================================================================
** Memory (alloc.c)
** ======================================================================= */

void *luaio__alloc(size_t size);
void *luaio__realloc(void *ptr, size_t osize, size_t nsize);
/* Doubles the capacity *cap of the array arr of elem-byte elements (to
** first when it is 0). Returns the array, moved, or NULL when out of
** memory; then arr and *cap are as they were. */
void *luaio__grow(void *arr, size_t *cap, size_t elem, size_t first);
void luaio__free(void *ptr, size_t size);
char *luaio__strdup(const char *s);
void luaio__strfree(char *s);

/* }====================================================================== */

/* {======================================================================
** Ready queue (ready.c): an intrusive FIFO of nodes. A node lives inside
** the object it runs, so scheduling allocates nothing. A node is in at
** most one list at a time: the ready queue or a future's callbacks.
** ======================================================================= */

typedef struct luaio__node luaio__node;
struct luaio__node {
  luaio__node *next;
  void (*run)(luaio__node *node);
};

typedef struct {
  luaio__node *head;
  luaio__node *tail;
} luaio__list;

void luaio__list_push(luaio__list *list, luaio__node *node);
/* Appends every node of from to list, leaving from empty. */
void luaio__list_splice(luaio__list *list, luaio__list *from);
void luaio__ready_push(luaio_loop_t *loop, luaio__node *node);
/* Runs the nodes that were ready when it was called; returns how many. */
size_t luaio__ready_run(luaio_loop_t *loop);
size_t luaio__ready_run_until(luaio_loop_t *loop, uint64_t deadline);

/* }====================================================================== */

/* {======================================================================
** Timers (timer.c): deadlines in arming order in a FIFO run when they
** come in order, else in a binary min-heap; ties are broken by the order
** of arming. A due timer's node is pushed on the ready queue.
** ======================================================================= */

#define LUAIO__NOT_ARMED SIZE_MAX

typedef struct {
  double when;
  uint64_t seq;
  size_t index; /* where it is armed (timer.c), or LUAIO__NOT_ARMED */
  luaio__node *node;
} luaio__timer;

void luaio__timer_init(luaio__timer *t, luaio__node *node);
int luaio__timer_arm(luaio_loop_t *loop, luaio__timer *t, double when);
void luaio__timer_disarm(luaio_loop_t *loop, luaio__timer *t);
/* The number of armed timers, in the heap and in the run. */
#define luaio__timers_count(loop) ((loop)->nheap + (loop)->nrun)
/* The armed timer due first, or NULL. */
luaio__timer *luaio__timers_first(const luaio_loop_t *loop);
/* Moves the timers due at now to the ready queue; returns how many. */
size_t luaio__timers_expire(luaio_loop_t *loop, double now);
/* The earliest deadline, or a negative number when none is armed. */
double luaio__timers_next(const luaio_loop_t *loop);
void luaio__timers_free(luaio_loop_t *loop);

/* }====================================================================== */

/* {======================================================================
** Clock (clock.c): a manual or virtual clock's state. A real clock reads
** uv_hrtime() in luaio_loop_time() and uses none of it.
** ======================================================================= */

typedef struct {
  luaio_clock_kind kind;
  double now;       /* the time at base, or the time when rate is 0 */
  double rate;      /* clock seconds per real second */
  uint64_t base;    /* uv_hrtime() when now was last taken, if rate > 0 */
  double threshold; /* virtual: real seconds before jumping over real work */
  unsigned jump : 2; /* whether to jump after this poll (clock.c) */
  unsigned woke : 1; /* the wakeup timer fired during the poll */
  unsigned sent : 1; /* the poll's callbacks sent to a peer (TLS) */
} luaio__clock;

/* The time of a manual or virtual clock. */
double luaio__clock_time(const luaio_loop_t *loop);
/* Chooses how to poll libuv when the earliest deadline is wait clock
** seconds away on a manual or virtual clock; may arm the wakeup timer
** (for wait or for the autojump threshold). */
uv_run_mode luaio__clock_prepare_poll(luaio_loop_t *loop, double wait);
/* The same for a poll that must not block (LUAIO_RUN_NOWAIT): a virtual
** clock may still jump after it when nothing is ready. */
void luaio__clock_prepare_nowait(luaio_loop_t *loop);
/* After the poll: jumps a virtual clock to the earliest deadline when
** prepare said so and the poll found nothing to do. */
void luaio__clock_after_poll(luaio_loop_t *loop);
/* A poll callback sent bytes of its own to a peer (a TLS handshake's
** next flight): a peer in the program may answer, so a virtual clock
** polls again rather than jump. */
#define luaio__clock_sent(loop) ((loop)->clock.sent = 1)
/* Arms the wakeup timer for ms real milliseconds and refs it. */
void luaio__wakeup_arm(luaio_loop_t *loop, double ms);

/* }====================================================================== */

/* {======================================================================
** Loop
** ======================================================================= */

struct luaio_loop_s {
  uv_loop_t *uv;
  uv_loop_t own_uv;
  int owns_uv;
  uv_timer_t wakeup; /* armed at the earliest deadline; unreferenced */
  luaio__list ready;
  size_t nready;
  uint64_t cb_ns; /* a ready callback's cost in a budgeted run, smoothed */
  luaio__timer **heap; /* a min-heap */
  size_t nheap, capheap;
  luaio__timer **run;  /* a FIFO in deadline order, with holes */
  size_t nrun, caprun, run_head, run_tail;
  double run_last_when; /* of the last timer put in the run */
  uint64_t run_last_seq;
  uint64_t timer_seq;
  luaio_task_t *tasks_head, *tasks_tail; /* live tasks, oldest first */
  size_t ntasks;
  uint64_t task_seq;
  luaio_task_t *current;
  size_t nhandles; /* call_soon/call_later handles not yet done with */
  int stopping;
  int in_uv_run; /* inside loop_iterate's uv_run: the wakeup may stop it */
  /* An attached loop (loop.c) runs inside its owner's uv_run, from the
  ** wakeup timer, attach_idle and attach_check. */
  int kick; /* attached, outside a run: new work starts attach_idle */
  unsigned attached : 1;
  unsigned attach_inited : 1; /* attach_idle and attach_check to close */
  unsigned in_attached_run : 1;
  uv_idle_t attach_idle;   /* active while callbacks are ready */
  uv_check_t attach_check; /* after each poll; unreferenced */
  double budget;           /* seconds of ready work per run, or 0 */
  luaio_after_run_cb after; /* borrowed, with after_arg */
  void *after_arg;
  size_t npeer_reqs; /* stream writes and shutdowns: they wait on a peer */
  luaio__clock clock;
  void *data;
  /* stream.c's: while a stream handle is open, the read buffer streams
  ** share, one more of its size, and small input buffers kept for reuse
  ** (a list through them) */
  char *stream_rbuf, *stream_spare, *stream_pool; /* owns */
  size_t stream_nopen, stream_npool;
  size_t stream_bytes; /* in the streams' own input buffers (debug aid) */
  /* post.c's: what other threads posted, under the lock, and the async
  ** handle that wakes the loop for it (unreferenced) */
  uv_async_t post_async;
  uv_mutex_t post_lock;
  luaio__list posted;
  size_t nposted;
  atomic_int post_pending; /* set with the lock held: something was posted */
};

/* Sets up and tears down threadsafe posting (post.c). */
int luaio__post_init(luaio_loop_t *loop);
void luaio__post_close(luaio_loop_t *loop);
/* Moves what was posted to the ready queue. libuv runs the async handle
** only when it polls, which it does not when nothing keeps it alive, so
** each iteration also looks at post_pending. */
void luaio__post_take(luaio_loop_t *loop);

/* Work came from outside the runs of an attached loop (loop->kick is
** set): starts attach_idle, so that the owner's uv_run runs it and does
** not block before it has. */
void luaio__loop_kick(luaio_loop_t *loop);

/* Cancels every call_later/call_at handle still armed (handle.c). */
void luaio__handles_cancel_all(luaio_loop_t *loop);

/* }====================================================================== */

/* {======================================================================
** Futures
** ======================================================================= */

typedef struct {
  /* Cancels the future; returns 1 when cancelled or requested, 0 when
  ** already done, or a negative code. */
  int (*cancel)(luaio_future_t *fut, const char *msg);
  /* Frees the object, after the base has released what it owns. */
  void (*free)(luaio_future_t *fut);
  /* Nonzero when luaio_future_abandon() must not cancel: the cancel
  ** would reach objects that others still use (a gather's children). */
  int abandon_keeps;
  /* For a kind whose cancellation passes on to other futures (a task to
  ** what it awaits, a gather to its children), NULL for the others: the
  ** i-th future a cancel of fut passes on to, or NULL past the last. Its
  ** cancel returns LUAIO__CANCEL_PASS to have them cancelled in turn,
  ** then cancel_end is called with any = 1 when one of them took the
  ** request, and returns the cancel's result. luaio_future_cancel() walks
  ** them with a stack of its own, never by recursion, so that a chain of
  ** any depth or a cycle of awaits cannot overflow the C stack. */
  luaio_future_t *(*target)(luaio_future_t *fut, size_t i);
  int (*cancel_end)(luaio_future_t *fut, int any);
} luaio__future_kind;

/* What a kind's cancel returns to have its targets cancelled. */
#define LUAIO__CANCEL_PASS 2

struct luaio_future_s {
  const luaio__future_kind *kind;
  luaio_loop_t *loop;
  int refs;
  luaio_state state;
  int err;
  unsigned char mark; /* on a cancel's path, or seen by a cycle check */
  char *cancel_msg; /* owns */
  luaio__list callbacks; /* done callbacks and waiting tasks */
  void *data;
};

extern const luaio__future_kind luaio__plain_future;
extern const luaio__future_kind luaio__task_kind;

/* Allocates size bytes (at least a future), zeroed, with one reference
** owned by the caller. Returns NULL when out of memory. */
luaio_future_t *luaio__future_alloc(luaio_loop_t *loop,
                                    const luaio__future_kind *kind,
                                    size_t size);
/* Marks fut done and moves its callbacks to the ready queue. */
void luaio__future_finish(luaio_future_t *fut, luaio_state state, int err);
/* Cancels as a plain future does, ignoring the kind. */
int luaio__future_cancel_plain(luaio_future_t *fut, const char *msg);
/* Queues node to run when fut is done (now, if it is). */
void luaio__future_add_node(luaio_future_t *fut, luaio__node *node);
/* Finishes fut unless it is done: mirrors src's outcome. */
void luaio__future_copy_state(luaio_future_t *fut, const luaio_future_t *src);
/* Removes node if it is still queued on fut; returns 1 if it was. */
int luaio__future_remove_node(luaio_future_t *fut, luaio__node *node);
/* Returns 1 when a cancel of fut would reach goal through the kinds'
** targets (an await of fut by goal would close a cycle), 0 when not (or
** not within the first few hundred futures), LUAIO_ENOMEM. */
int luaio__future_reaches(luaio_future_t *fut, const luaio_future_t *goal);

/* }====================================================================== */

/* {======================================================================
** Tasks
** ======================================================================= */

struct luaio_task_s {
  luaio_future_t base; /* first: a task is a future */
  luaio_step_fn step;
  luaio__node node; /* in the ready queue or in waiter's callbacks */
  luaio__timer sleep;
  luaio_future_t *waiter; /* owns one reference */
  luaio_task_t *prev, *next; /* the loop's live tasks */
  uint64_t id;
  char *cancel_msg; /* owns; the latest request's message */
  int num_cancels;
  unsigned must_cancel : 1;
  unsigned stepping : 1;
  unsigned scheduled : 1;
  unsigned loop_ref : 1; /* the loop holds a reference until done */
  unsigned shared_wait : 1; /* waiter is shared: cancel detaches, no more */
  unsigned done_step : 1; /* LUAIO_TASK_DONE_STEP */
};

/* }====================================================================== */

/* {======================================================================
** Awaiters (graph.c): who waits for a future, read off its callbacks when
** asked, so that waiting costs nothing more. Each file whose nodes sit on
** other futures' callbacks says where a node of its own leads.
** ======================================================================= */

/* task.c: the task waiting with node, or NULL. */
luaio_task_t *luaio__node_task(luaio__node *node);
/* gather.c: the gather node is a child's entry of, or NULL. */
luaio_future_t *luaio__node_gather(luaio__node *node);
/* shield.c: the shield listening with node, or NULL. */
luaio_future_t *luaio__node_shield(luaio__node *node);
/* wait.c: whether node is an entry of a wait; *waiter and *next receive
** its two futures (asyncio.wait's, as_completed's; NULL when none). */
int luaio__node_wait(luaio__node *node, luaio_future_t **waiter,
                     luaio_future_t **next);
/* future.c: whether node is a done callback; *cb and *arg receive it. */
int luaio__node_donecb(luaio__node *node, luaio_done_cb *cb, void **arg);
/* taskgroup.c: the parent task of the group whose done callback this is,
** while the group runs, or NULL. */
luaio_task_t *luaio__taskgroup_parent(luaio_done_cb cb, void *arg);

/* }====================================================================== */

/* {======================================================================
** Waiters (waiter.c): futures in an intrusive FIFO, for the objects that
** tasks wait on. A list owns one reference to each future in it.
** ======================================================================= */

typedef struct luaio__waiter luaio__waiter;

typedef struct {
  luaio__waiter *head, *tail;
} luaio__waitlist;

struct luaio__waiter {
  luaio_future_t base; /* first: a waiter is a future */
  luaio__waiter *prev, *next;
  luaio__waitlist *list; /* the list holding it, or NULL */
  int phase;             /* barrier: blocked while draining, or waiting */
  long index;            /* barrier: the arrival index, while waiting */
};

/* Returns a new waiter at the tail of list, or NULL when out of memory.
** The caller owns the reference returned; the list owns another. */
luaio__waiter *luaio__waiter_push(luaio__waitlist *list, luaio_loop_t *loop);
/* Takes w out of its list, if it is in one, dropping the list's
** reference: w may be freed. */
void luaio__waiter_unlink(luaio__waiter *w);
/* The waiter fut is (asserted), borrowed. */
luaio__waiter *luaio__waiter_of(luaio_future_t *fut,
                                const luaio__waitlist *list);
/* Resolves up to n waiters not done yet, in FIFO order, popping them and
** the done ones met on the way (CPython's _wakeup_next for n == 1).
** Returns how many it woke. */
size_t luaio__waitlist_wake(luaio__waitlist *list, size_t n);
/* Lets go of every waiter; those still pending stay so. */
void luaio__waitlist_clear(luaio__waitlist *list);
/* Binds an object that keeps waiters, whose loop is *slot, to loop (the
** *_bind functions): 0, or LUAIO_EINVALSTATE when bound to another. */
int luaio__bind_loop(luaio_loop_t **slot, luaio_loop_t *loop);

/* }====================================================================== */

/* {======================================================================
** TLS on streams: what stream.c and tls.c share. A stream with TLS holds
** a luaio__tls; stream.c hands it the bytes read and the text written.
** ======================================================================= */

typedef struct luaio__tls luaio__tls;

/* stream.c's, for tls.c */
luaio__tls *luaio__stream_tls(const luaio_stream_t *s);
void luaio__stream_set_tls(luaio_stream_t *s, luaio__tls *t);
luaio_loop_t *luaio__stream_loop(const luaio_stream_t *s);
/* Nonzero while s is connected and may send. */
int luaio__stream_open(const luaio_stream_t *s);
/* Makes room for at least n bytes of plain text after the input, and
** returns where they go, with *room set to the room there is; NULL when
** out of memory. luaio__stream_commit(s, k) then adds the k bytes put
** there to the input (not waking the reader). */
char *luaio__stream_reserve(luaio_stream_t *s, size_t n, size_t *room);
void luaio__stream_commit(luaio_stream_t *s, size_t k);
/* Gives the input buffer back if it holds nothing (after a reserve that
** nothing was committed to). */
void luaio__stream_trim(luaio_stream_t *s);
/* Sends bytes as they are (the write path below TLS). Returns 0 or
** LUAIO_ENOMEM. */
int luaio__stream_send(luaio_stream_t *s, const char *data, size_t len);
/* Ends the input with err (0: a clean end), as a lost connection does. */
void luaio__stream_end(luaio_stream_t *s, int err);
/* Counts n bytes of text held during the handshake in the write buffer's
** size and in drain's marks. luaio__stream_unhold(s, err) lets go of all
** of them once sent (err 0: drain waits for what they became) or dropped
** (err: the handshake's, which wakes drain with it). */
void luaio__stream_hold(luaio_stream_t *s, size_t n);
void luaio__stream_unhold(luaio_stream_t *s, int err);
/* Sends the end of output that luaio__tls_defer_eof() put off. */
void luaio__stream_send_eof(luaio_stream_t *s);
/* TLS's closing exchange is over (luaio__tls_close): a closed stream's
** handle closes once its writes are out. */
void luaio__stream_linger_end(luaio_stream_t *s);

/* tls.c's, for stream.c */
void luaio__tls_input(luaio_stream_t *s, const char *data, size_t len);
void luaio__tls_write(luaio_stream_t *s, const char *data, size_t len);
/* Sends close_notify once the handshake is done. */
void luaio__tls_shutdown(luaio_stream_t *s);
/* write_eof during the handshake: returns nonzero when the end of output
** is to be sent after it (luaio__stream_send_eof), behind what was
** written meanwhile. */
int luaio__tls_defer_eof(luaio_stream_t *s);
/* s is being closed: sends close_notify, and returns nonzero when s is
** then to wait for the peer's, under the shutdown deadline (s lingers
** until tls.c calls luaio__stream_linger_end or aborts it). */
int luaio__tls_close(luaio_stream_t *s);
/* The input ended: a handshake in progress fails; a closing exchange
** ends. */
void luaio__tls_input_end(luaio_stream_t *s, int err);
void luaio__tls_free(luaio__tls *t);

/* }====================================================================== */

#endif
