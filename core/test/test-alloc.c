/*
** test-alloc.c - the core's one allocator: luaio_set_allocator() routes
** every allocation through the hook with lua_Alloc's contract, and
** resetting it restores the default.
*/
#include "luaio.h"
#include "test.h"

/* {======================================================================
** A counting allocator of our own, to check what the hook is given.
** ======================================================================= */

typedef struct {
  long nalloc, nfree, nlive; /* requests for new blocks, frees, blocks */
  long nbytes;               /* live bytes, by the sizes the core passed */
  int bad_osize;             /* a growing realloc gave an osize of 0 */
} counter;

static void *counting_alloc(void *ud, void *ptr, size_t osize,
                            size_t nsize) {
  counter *c = ud;
  if (nsize == 0) {
    if (ptr != NULL) {
      c->nfree++;
      c->nlive--;
      c->nbytes -= (long)osize;
    }
    free(ptr);
    return NULL;
  }
  if (ptr == NULL) {
    c->nalloc++;
    c->nlive++;
  } else if (osize == 0) {
    c->bad_osize = 1;
  }
  void *block = realloc(ptr, nsize);
  if (block != NULL)
    c->nbytes += (long)nsize - (long)osize;
  return block;
}

static void noop(void *arg) { (void)arg; }

static int step_return(luaio_task_t *t, int err) {
  (void)t;
  (void)err;
  return LUAIO_STEP_RETURNED;
}

/* }====================================================================== */

/* Every object of the core goes through the hook, with its ud, and every
** free reports the size that was allocated. */
TEST(allocator_routes_everything) {
  counter c = {0};
  luaio_set_allocator(counting_alloc, &c);
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  ASSERT_EQ(1, c.nalloc);
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  ASSERT_EQ(1, luaio_future_cancel(fut, "a message")); /* copied: 1 more */
  luaio_task_t *t = luaio_task_new(loop, step_return, NULL, 0);
  ASSERT_NOT_NULL(t);
  for (int i = 0; i < 100; i++) /* the timer heap grows by realloc */
    ASSERT_OK(luaio_call_later(loop, 0, noop, NULL, NULL, NULL));
  ASSERT_EQ(4 + 100 + 1, c.nalloc);
  ASSERT_EQ(0, c.nfree);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  luaio_future_unref(fut);
  luaio_task_unref(t);
  ASSERT_EQ(0, luaio_loop_delete(loop));
  ASSERT_EQ(c.nalloc, c.nfree);
  ASSERT_EQ(0, c.nlive);
  ASSERT_EQ(0, c.nbytes);
  ASSERT_EQ(0, c.bad_osize);

  /* NULL restores the default allocator: the hook sees nothing more. */
  luaio_set_allocator(NULL, &c);
  long before = c.nalloc;
  loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  luaio_future_unref(fut);
  ASSERT_EQ(0, luaio_loop_delete(loop));
  ASSERT_EQ(before, c.nalloc);

  /* The harness's allocator, for test_loop_close(). */
  test_alloc_install();
  loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  test_loop_close(loop);
}

/* The harness counts blocks and bytes as the core reports them. */
TEST(counting_harness) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  long live = test_alloc_live();
  long bytes = test_alloc_live_bytes();
  ASSERT_EQ(1, live);
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  ASSERT_EQ(live + 1, test_alloc_live());
  ASSERT(test_alloc_live_bytes() > bytes);
  ASSERT_EQ(1, luaio_future_cancel(fut, "four"));
  ASSERT_EQ(live + 2, test_alloc_live());
  luaio_future_unref(fut);
  ASSERT_EQ(live, test_alloc_live());
  ASSERT_EQ(bytes, test_alloc_live_bytes());
  test_loop_close(loop);
}

/* A failed allocation is reported, nothing is half-done, and the next
** request succeeds. */
TEST(failure_is_clean) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  luaio_future_t *fut = luaio_future_new(loop);
  ASSERT_NOT_NULL(fut);
  long live = test_alloc_live();
  test_alloc_fail_after(1);
  ASSERT_EQ(LUAIO_ENOMEM, luaio_future_cancel(fut, "no room"));
  ASSERT(test_alloc_failed());
  ASSERT_EQ(live, test_alloc_live());
  ASSERT_EQ(LUAIO_PENDING, luaio_future_state(fut));
  ASSERT_NULL(luaio_future_cancel_message(fut));
  ASSERT_EQ(1, luaio_future_cancel(fut, "room"));
  ASSERT_STR_EQ("room", luaio_future_cancel_message(fut));
  luaio_future_unref(fut);
  test_loop_close(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
