/*
** lqueue.c - asyncio.Queue, LifoQueue and PriorityQueue: the Lua face of
** core/queue.c. Items live in the queue object's table, in the array
** part, under the slot ids the core hands out; no table is made per item.
*/
#include "lbind.h"

#define QUEUE_MT "asyncio.Queue"

#define QUEUE_MAGIC 0x6c75616f71756531ULL

typedef struct {
  unsigned long long magic; /* QUEUE_MAGIC: a cheap check on every call */
  luaio_queue_t *q; /* owns one reference */
  lua_State *L;     /* the caller, while a priority comparison may run */
  int keytype;      /* a PriorityQueue's key type, LUA_TNONE until set */
} lqueue;

/* User value 1: slot id -> item. User value 2: the number of the loop
** the queue is bound to, where its waiters' futures live: nil until the
** first put, get or join that waits binds it to the running loop, as
** asyncio 3.10 binds a queue at its first wait. */


static lqueue *checkqueue(lua_State *L) {
  lqueue *lq = lua_touserdata(L, 1);
  if (lq != NULL && lua_rawlen(L, 1) == sizeof *lq && lq->magic == QUEUE_MAGIC)
    return lq;
  return luaioL_checkobject(L, QUEUE_MT); /* raises */
}

/* Before a wait: the queue must be bound to the running loop, or to none
** yet (then it is bound now); not to a closed one, whose address a new
** loop may even have taken. [-0, +0, e] */
static void checkowner(lua_State *L, const char *fname) {
  luaio_loop_t *loop = luaioL_checkloop(L, fname);
  lua_Integer gen = (lua_Integer)luaioL_runtime_of(L)->gen;
  if (lua_getiuservalue(L, 1, 2) == LUA_TNIL) {
    luaioL_check(L, luaio_queue_bind(((lqueue *)lua_touserdata(L, 1))->q,
                                     loop),
                 fname);
    lua_pushinteger(L, gen);
    lua_setiuservalue(L, 1, 2);
  } else if (lua_tointeger(L, -1) != gen) {
    luaL_error(L,
               "%s: this queue is bound to a different event loop (the "
               "first to wait on it); make one for each asyncio.run",
               fname);
  }
  lua_pop(L, 1);
}

/* {======================================================================
** PriorityQueue order: numbers or strings compare with <, and
** {priority, item} pairs by their first field; ties keep insertion order.
** ======================================================================= */

/* Pushes the sort key of the value at idx. [-0, +1, -] */
static void pushkey(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TTABLE)
    lua_rawgeti(L, idx, 1);
  else
    lua_pushvalue(L, idx);
}

static int priority_less(void *ud, uint32_t a, uint32_t b) {
  lqueue *lq = ud;
  lua_State *L = lq->L;
  lua_getiuservalue(L, 1, 1);
  lua_rawgeti(L, -1, a);
  pushkey(L, -1);
  lua_rawgeti(L, -3, b);
  pushkey(L, -1);
  /* Keys were checked on put: both numbers or both strings, so < cannot
  ** raise here. */
  int r = lua_compare(L, -3, -1, LUA_OPLT);
  lua_pop(L, 5);
  return r;
}

/* Checks that the item at 2 can be ordered with those already queued. */
static void checkkey(lua_State *L, lqueue *lq) {
  pushkey(L, 2);
  int t = lua_type(L, -1);
  lua_pop(L, 1);
  if (t != LUA_TNUMBER && t != LUA_TSTRING)
    luaL_argerror(L, 2, lua_pushfstring(L, "a number, a string or a "
                                           "{priority, item} pair expected, "
                                           "got %s", luaL_typename(L, 2)));
  if (lq->keytype != LUA_TNONE && lq->keytype != t &&
      !luaio_queue_empty(lq->q))
    luaL_argerror(L, 2, lua_pushfstring(L, "priority of type %s cannot be "
                                           "compared with the %ss queued",
                                        lua_typename(L, t),
                                        lua_typename(L, lq->keytype)));
  lq->keytype = t;
}

/* }====================================================================== */

/* Stores the item at 2 under a reserved slot and commits it; leaves the
** item table on the stack (callers return nothing). */
static void store(lua_State *L, lqueue *lq, uint32_t slot) {
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, slot);
  lq->L = L;
  luaio_queue_commit(lq->q, slot);
}

/* Pushes the item table, then the item under slot, and recycles the
** slot; callers return the item alone (return 1). */
static void take(lua_State *L, lqueue *lq, uint32_t slot) {
  lua_getiuservalue(L, 1, 1);
  lua_rawgeti(L, -1, slot);
  lua_pushnil(L);
  lua_rawseti(L, -3, slot);
  luaio_queue_release(lq->q, slot);
}

static int put_k(lua_State *L, int status, lua_KContext ctx);

/* Stack: queue item [waiter box]. */
static int put_try(lua_State *L, lqueue *lq) {
  uint32_t slot;
  int rc = luaio_queue_put_nowait(lq->q, &slot);
  if (rc == 0) {
    store(L, lq, slot);
    return 0;
  }
  if (rc != LUAIO_EQUEUEFULL)
    return luaioL_check(L, rc, "put");
  lua_settop(L, 2); /* the waiter's box goes at 3 */
  lfuture *task = luaioL_checktask(L, "put");
  checkowner(L, "put");
  luaio_future_t *fut = luaio_queue_putter(lq->q);
  if (fut == NULL)
    return luaL_error(L, "not enough memory");
  luaioL_pushfuture(L, fut); /* owns fut; at 3 */
  return luaioL_await(L, task, fut, 3, put_k);
}

static int put_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lqueue *lq = lua_touserdata(L, 1);
  lfuture *w = lua_touserdata(L, (int)ctx);
  int rc = luaio_queue_putter_finish(lq->q, w->fut, luaioL_resumeerr(L));
  if (rc != 0)
    return luaioL_raisewait(L, rc, "put");
  return put_try(L, lq);
}

static int lqueue_put(lua_State *L) {
  lqueue *lq = checkqueue(L);
  if (lua_gettop(L) < 2) /* nil is an item like any other, none is not */
    luaL_checkany(L, 2);
  if (lq->keytype != LUA_TNIL) {
    if (luaio_queue_full(lq->q))
      luaioL_checktask(L, "put"); /* say so before the key type is set */
    checkkey(L, lq);
  }
  return put_try(L, lq); /* a full queue checks for a task before waiting */
}

static int lqueue_put_nowait(lua_State *L) {
  lqueue *lq = checkqueue(L);
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  if (lq->keytype != LUA_TNIL)
    checkkey(L, lq);
  uint32_t slot;
  int rc = luaio_queue_put_nowait(lq->q, &slot);
  if (rc != 0)
    return luaioL_check(L, rc, "put_nowait");
  store(L, lq, slot);
  return 0;
}

static int get_k(lua_State *L, int status, lua_KContext ctx);

static int get_try(lua_State *L, lqueue *lq) {
  uint32_t slot;
  lq->L = L;
  int rc = luaio_queue_get_nowait(lq->q, &slot);
  if (rc == 0) {
    take(L, lq, slot);
    return 1;
  }
  if (rc != LUAIO_EQUEUEEMPTY)
    return luaioL_check(L, rc, "get");
  lua_settop(L, 1); /* the waiter's box goes at 2 */
  lfuture *task = luaioL_checktask(L, "get");
  checkowner(L, "get");
  luaio_future_t *fut = luaio_queue_getter(lq->q);
  if (fut == NULL)
    return luaL_error(L, "not enough memory");
  luaioL_pushfuture(L, fut); /* owns fut; at 2 */
  return luaioL_await(L, task, fut, 2, get_k);
}

static int get_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lqueue *lq = lua_touserdata(L, 1);
  lfuture *w = lua_touserdata(L, (int)ctx);
  int rc = luaio_queue_getter_finish(lq->q, w->fut, luaioL_resumeerr(L));
  if (rc != 0)
    return luaioL_raisewait(L, rc, "get");
  return get_try(L, lq);
}

static int lqueue_get(lua_State *L) {
  return get_try(L, checkqueue(L)); /* it checks for a task before waiting */
}

static int lqueue_get_nowait(lua_State *L) {
  lqueue *lq = checkqueue(L);
  lua_settop(L, 1);
  lq->L = L;
  uint32_t slot;
  int rc = luaio_queue_get_nowait(lq->q, &slot);
  if (rc != 0)
    return luaioL_check(L, rc, "get_nowait");
  take(L, lq, slot);
  return 1;
}

static int lqueue_qsize(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)luaio_queue_qsize(checkqueue(L)->q));
  return 1;
}

static int lqueue_maxsize(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)luaio_queue_maxsize(checkqueue(L)->q));
  return 1;
}

static int lqueue_empty(lua_State *L) {
  lua_pushboolean(L, luaio_queue_empty(checkqueue(L)->q));
  return 1;
}

static int lqueue_full(lua_State *L) {
  lua_pushboolean(L, luaio_queue_full(checkqueue(L)->q));
  return 1;
}

static int lqueue_task_done(lua_State *L) {
  int rc = luaio_queue_task_done(checkqueue(L)->q);
  if (rc == LUAIO_EVALUE)
    return luaL_error(L, "task_done: called more times than there were "
                         "items put in the queue");
  return luaioL_check(L, rc, "task_done");
}

static int join_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lqueue *lq = lua_touserdata(L, 1);
  lfuture *w = lua_touserdata(L, (int)ctx);
  int rc = luaio_queue_join_finish(lq->q, w->fut, luaioL_resumeerr(L));
  if (rc != 0)
    return luaioL_raisewait(L, rc, "join");
  return 0;
}

static int lqueue_join(lua_State *L) {
  lqueue *lq = checkqueue(L);
  lua_settop(L, 1);
  if (luaio_queue_unfinished(lq->q) == 0)
    return 0;
  lfuture *task = luaioL_checktask(L, "join"); /* before a joiner exists */
  checkowner(L, "join");
  luaio_future_t *fut;
  luaioL_check(L, luaio_queue_join(lq->q, &fut), "join");
  if (fut == NULL)
    return 0;
  luaioL_pushfuture(L, fut); /* owns fut; at 2 */
  return luaioL_await(L, task, fut, 2, join_k);
}

static void drop_item(void *ud, uint32_t slot) {
  lqueue *lq = ud;
  lua_pushnil(lq->L);
  lua_rawseti(lq->L, -2, slot);
}

static int lqueue_shutdown(lua_State *L) {
  lqueue *lq = checkqueue(L);
  int immediate = lua_toboolean(L, 2);
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1); /* drop_item clears slots in it */
  lq->L = L;
  luaio_queue_shutdown(lq->q, immediate, drop_item, lq);
  return 0;
}

static int lqueue__gc(lua_State *L) {
  lqueue *lq = lua_touserdata(L, 1);
  if (lq->q != NULL) {
    luaio_queue_unref(lq->q);
    lq->q = NULL;
  }
  return 0;
}

static int lqueue__tostring(lua_State *L) {
  lqueue *lq = checkqueue(L);
  lua_pushfstring(L, "asyncio.Queue (%d items)",
                  (int)luaio_queue_qsize(lq->q));
  return 1;
}

static int newqueue(lua_State *L, luaio_queue_kind kind) {
  lua_Integer maxsize = luaL_optinteger(L, 1, 0);
  lqueue *lq = lua_newuserdatauv(L, sizeof *lq, 2);
  lq->magic = QUEUE_MAGIC;
  lq->q = NULL;
  lq->L = L;
  lq->keytype = kind == LUAIO_QUEUE_PRIORITY ? LUA_TNONE : LUA_TNIL;
  luaL_setmetatable(L, QUEUE_MT);
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  lq->q = luaio_queue_new(NULL, kind, (long)maxsize,
                          kind == LUAIO_QUEUE_PRIORITY ? priority_less : NULL,
                          lq);
  if (lq->q == NULL)
    return luaL_error(L, "not enough memory");
  return 1;
}

static int lqueue_new(lua_State *L) {
  return newqueue(L, LUAIO_QUEUE_FIFO);
}

static int lqueue_new_lifo(lua_State *L) {
  return newqueue(L, LUAIO_QUEUE_LIFO);
}

static int lqueue_new_priority(lua_State *L) {
  return newqueue(L, LUAIO_QUEUE_PRIORITY);
}

static const luaL_Reg lqueue_funcs[] = {{"Queue", lqueue_new},
                                        {"LifoQueue", lqueue_new_lifo},
                                        {"PriorityQueue", lqueue_new_priority},
                                        {NULL, NULL}};

static const luaL_Reg lqueue_methods[] = {{"put", lqueue_put},
                                          {"get", lqueue_get},
                                          {"put_nowait", lqueue_put_nowait},
                                          {"get_nowait", lqueue_get_nowait},
                                          {"qsize", lqueue_qsize},
                                          {"maxsize", lqueue_maxsize},
                                          {"empty", lqueue_empty},
                                          {"full", lqueue_full},
                                          {"task_done", lqueue_task_done},
                                          {"join", lqueue_join},
                                          {"shutdown", lqueue_shutdown},
                                          {NULL, NULL}};

static const luaL_Reg lqueue_meta[] = {{"__gc", lqueue__gc},
                                       {"__tostring", lqueue__tostring},
                                       {NULL, NULL}};

void luaioL_open_queue(lua_State *L) {
  luaioL_setfuncs(L, lqueue_funcs);
  luaioL_newclass(L, QUEUE_MT, lqueue_methods, lqueue_meta);
}
