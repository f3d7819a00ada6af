/*
** test-handle.c - handles of call_soon, call_later and call_at: fin runs
** exactly once, after cb or on cancel; a cancelled handle's cb never runs;
** references keep a handle readable.
*/
#include "luaio.h"
#include "test.h"

/* On a virtual clock: deadlines come at once and exactly, in order, however
** loaded the machine. */
static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new_clock(NULL, LUAIO_CLOCK_VIRTUAL);
  ASSERT_NOT_NULL(loop);
  return loop;
}

/* What a handle's callbacks saw. */
typedef struct {
  const char *name;
  int ncb, nfin;
  luaio_handle_t *self;   /* cancelled by its own cb when set */
  luaio_handle_t *victim; /* cancelled by cb when set */
} probe;

static void probe_cb(void *arg) {
  probe *p = arg;
  p->ncb++;
  test_logf("%s", p->name);
  if (p->self != NULL)
    luaio_handle_cancel(p->self);
  if (p->victim != NULL)
    luaio_handle_cancel(p->victim);
}

static void probe_fin(void *arg) {
  probe *p = arg;
  p->nfin++;
  test_logf("fin:%s", p->name);
}

TEST(fin_once_after_cb) {
  luaio_loop_t *loop = loop_open();
  probe a = {"a", 0, 0, NULL, NULL}, b = {"b", 0, 0, NULL, NULL};
  luaio_handle_t *ha, *hb;
  ASSERT_OK(luaio_call_soon(loop, probe_cb, &a, probe_fin, &ha));
  ASSERT_OK(luaio_call_later(loop, 0, probe_cb, &b, probe_fin, &hb));
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("a,fin:a,b,fin:b", test_log);
  /* Cancelling after the fact changes nothing. */
  luaio_handle_cancel(ha);
  luaio_handle_cancel(hb);
  ASSERT(!luaio_handle_cancelled(ha));
  ASSERT(!luaio_handle_cancelled(hb));
  luaio_handle_unref(ha);
  luaio_handle_unref(hb);
  ASSERT_EQ(1, a.ncb);
  ASSERT_EQ(1, a.nfin);
  ASSERT_EQ(1, b.nfin);
  test_loop_close(loop);
}

/* Cancelled before it ran: fin runs at once, cb never; cancel is
** idempotent. */
TEST(cancel_soon) {
  luaio_loop_t *loop = loop_open();
  probe a = {"a", 0, 0, NULL, NULL}, b = {"b", 0, 0, NULL, NULL};
  luaio_handle_t *ha;
  ASSERT_OK(luaio_call_soon(loop, probe_cb, &a, probe_fin, &ha));
  ASSERT_OK(luaio_call_soon(loop, probe_cb, &b, probe_fin, NULL));
  ASSERT_EQ(0, luaio_handle_when(ha));
  ASSERT(!luaio_handle_cancelled(ha));
  luaio_handle_cancel(ha);
  ASSERT(luaio_handle_cancelled(ha));
  ASSERT_STR_EQ("fin:a", test_log);
  luaio_handle_cancel(ha);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("fin:a,b,fin:b", test_log);
  ASSERT_EQ(0, a.ncb);
  ASSERT_EQ(1, a.nfin);
  luaio_handle_unref(ha);
  test_loop_close(loop);
}

TEST(cancel_timer) {
  luaio_loop_t *loop = loop_open();
  probe a = {"a", 0, 0, NULL, NULL};
  luaio_handle_t *ha;
  ASSERT_OK(luaio_call_later(loop, 10, probe_cb, &a, probe_fin, &ha));
  ASSERT(luaio_handle_when(ha) > luaio_loop_time(loop));
  ASSERT_EQ(1, luaio_loop_ntimers(loop));
  luaio_handle_cancel(ha);
  luaio_handle_cancel(ha);
  ASSERT_EQ(0, luaio_loop_ntimers(loop));
  ASSERT_EQ(0, luaio_loop_run(loop, LUAIO_RUN_DEFAULT));
  ASSERT_STR_EQ("fin:a", test_log);
  ASSERT_EQ(0, a.ncb);
  luaio_handle_unref(ha);
  test_loop_close(loop);
}

/* Two timers due together: the first cancels the second, which is
** already out of the heap and in the ready queue. It does not run. */
TEST(cancel_due_timer) {
  luaio_loop_t *loop = loop_open();
  probe a = {"a", 0, 0, NULL, NULL}, b = {"b", 0, 0, NULL, NULL};
  luaio_handle_t *hb;
  ASSERT_OK(luaio_call_at(loop, 0, probe_cb, &a, probe_fin, NULL));
  ASSERT_OK(luaio_call_at(loop, 0, probe_cb, &b, probe_fin, &hb));
  a.victim = hb;
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("a,fin:b,fin:a", test_log);
  ASSERT_EQ(0, b.ncb);
  ASSERT_EQ(1, b.nfin);
  ASSERT(luaio_handle_cancelled(hb));
  luaio_handle_unref(hb);
  test_loop_close(loop);
}

/* A callback cancelling its own handle, as asyncio allows: fin still runs
** once, after cb. */
TEST(cancel_from_own_cb) {
  luaio_loop_t *loop = loop_open();
  probe a = {"a", 0, 0, NULL, NULL}, b = {"b", 0, 0, NULL, NULL};
  luaio_handle_t *ha, *hb;
  ASSERT_OK(luaio_call_soon(loop, probe_cb, &a, probe_fin, &ha));
  ASSERT_OK(luaio_call_later(loop, 0, probe_cb, &b, probe_fin, &hb));
  a.self = ha;
  b.self = hb;
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("a,fin:a,b,fin:b", test_log);
  ASSERT_EQ(1, a.nfin);
  ASSERT_EQ(1, b.nfin);
  luaio_handle_unref(ha);
  luaio_handle_unref(hb);
  test_loop_close(loop);
}

/* The caller's references keep the handle readable after it ran; the
** last one frees it. */
TEST(ref_unref) {
  luaio_loop_t *loop = loop_open();
  probe a = {"a", 0, 0, NULL, NULL};
  luaio_handle_t *h;
  long live = test_alloc_live();
  ASSERT_OK(luaio_call_soon(loop, probe_cb, &a, probe_fin, &h));
  luaio_handle_ref(h);
  ASSERT_EQ(live + 1, test_alloc_live());
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT); /* the queue lets go */
  ASSERT_EQ(live + 1, test_alloc_live());
  luaio_handle_unref(h);
  ASSERT(!luaio_handle_cancelled(h));
  ASSERT_EQ(0, luaio_handle_when(h));
  luaio_handle_unref(h);
  ASSERT_EQ(live, test_alloc_live());
  /* Without out, the loop holds the only reference. */
  ASSERT_OK(luaio_call_soon(loop, probe_cb, &a, probe_fin, NULL));
  ASSERT_EQ(live + 1, test_alloc_live());
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_EQ(live, test_alloc_live());
  ASSERT_EQ(2, a.ncb);
  ASSERT_EQ(2, a.nfin);
  test_loop_close(loop);
}

/* Dropping the caller's reference before the handle ran does not cancel
** it. */
TEST(unref_does_not_cancel) {
  luaio_loop_t *loop = loop_open();
  probe a = {"a", 0, 0, NULL, NULL}, b = {"b", 0, 0, NULL, NULL};
  luaio_handle_t *ha, *hb;
  ASSERT_OK(luaio_call_soon(loop, probe_cb, &a, probe_fin, &ha));
  ASSERT_OK(luaio_call_later(loop, 0.001, probe_cb, &b, probe_fin, &hb));
  luaio_handle_unref(ha);
  luaio_handle_unref(hb);
  luaio_loop_run(loop, LUAIO_RUN_DEFAULT);
  ASSERT_STR_EQ("a,fin:a,b,fin:b", test_log);
  test_loop_close(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
