/*
** test.h - the harness for core/test/test-<concept>.c, after libuv's
** test/task.h.
**
** A test file includes "luaio.h" and this header only, defines its tests
** with TEST(name) and ends with
**
**   int main(int argc, char **argv) { return test_main(argc, argv); }
**
** Each file is its own executable and ctest entry (luaio_add_c_test in
** CMakeLists.txt). test_main() runs the tests in the order they appear in the
** file, or only the one named by argv[1], and prints TAP lines ("ok 3 -
** name") and a final "N passed, 0 failed". A failed assertion prints both
** operands with file:line, a "not ok" line and the tally, then aborts, so
** the crash stays within one module's executable.
**
** Order is asserted by logging events and comparing strings, never by
** timing:
**
**   test_logf("a%d", 1);  ...  ASSERT_STR_EQ("a1,b1,a2,b2", test_log);
**
** test_alloc_install() routes the core's allocations through a counting
** allocator; test_loop_close(loop) then checks that the loop is idle, deletes
** it and requires every allocation to be freed. An OOM sweep fails the n-th
** allocation for n = 1, 2, ... until the constructor no longer hits it:
**
**   for (long n = 1;; n++) {
**     test_alloc_fail_after(n);
**     luaio_future_t *fut = luaio_future_new(loop);
**     if (!test_alloc_failed()) {
**       ASSERT_NOT_NULL(fut);
**       luaio_future_unref(fut);
**       break;
**     }
**     ASSERT_NULL(fut);
**     ASSERT_EQ(live_before, test_alloc_live());
**   }
**   test_alloc_fail_after(0);
*/
#ifndef LUAIO_TEST_H
#define LUAIO_TEST_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luaio.h"

/* Not every test file uses every helper. */
#define TEST_UNUSED __attribute__((unused))

/* {======================================================================
** Registration and the runner
** ======================================================================= */

#define TEST_MAX 256

typedef struct {
  const char *name;
  void (*fn)(void);
  int line; /* constructors may run in any order; lines give file order */
} test_entry;

static test_entry test_entries[TEST_MAX];
static int test_count;
static int test_number;       /* TAP number of the running test, from 1 */
static const char *test_name; /* name of the running test, or NULL */
static int test_passed;

/* Defines a test. The constructor registers it before main() runs. */
#define TEST(name)                                                             \
  static void test_fn_##name(void);                                            \
  __attribute__((constructor)) static void test_reg_##name(void) {             \
    test_register(#name, test_fn_##name, __LINE__);                            \
  }                                                                            \
  static void test_fn_##name(void)

TEST_UNUSED static void test_register(const char *name, void (*fn)(void),
                                      int line) {
  if (test_count == TEST_MAX) {
    fprintf(stderr, "test.h: more than %d tests; raise TEST_MAX\n", TEST_MAX);
    abort();
  }
  int i = test_count++;
  /* Insertion by line keeps the table in file order. */
  while (i > 0 && test_entries[i - 1].line > line) {
    test_entries[i] = test_entries[i - 1];
    i--;
  }
  test_entries[i].name = name;
  test_entries[i].fn = fn;
  test_entries[i].line = line;
}

/* Reports a failed check in the running test and aborts. */
__attribute__((format(printf, 3, 4))) TEST_UNUSED static _Noreturn void
test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "%s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  if (test_name != NULL)
    printf("not ok %d - %s\n", test_number, test_name);
  printf("%d passed, 1 failed\n", test_passed);
  fflush(stdout);
  abort();
}

/* {======================================================================
** Assertions. Each prints the expression and both operands.
** ======================================================================= */

#define TEST_CMP(type, fmt, a, op, b)                                          \
  do {                                                                         \
    type test_a_ = (type)(a);                                                  \
    type test_b_ = (type)(b);                                                  \
    if (!(test_a_ op test_b_))                                                 \
      test_fail(__FILE__, __LINE__, "%s %s %s failed: " fmt " vs " fmt, #a,    \
                #op, #b, test_a_, test_b_);                                    \
  } while (0)

#define ASSERT(cond)                                                           \
  do {                                                                         \
    if (!(cond))                                                               \
      test_fail(__FILE__, __LINE__, "ASSERT(%s) failed", #cond);               \
  } while (0)

/* Integers of any type, compared as intmax_t. */
#define ASSERT_EQ(a, b) TEST_CMP(intmax_t, "%" PRIdMAX, a, ==, b)
#define ASSERT_NE(a, b) TEST_CMP(intmax_t, "%" PRIdMAX, a, !=, b)

/* expr returns 0; otherwise the code is printed with its name. */
#define ASSERT_OK(expr)                                                        \
  do {                                                                         \
    intmax_t test_r_ = (intmax_t)(expr);                                       \
    if (test_r_ != 0)                                                          \
      test_fail(__FILE__, __LINE__, "%s failed: %" PRIdMAX " (%s)", #expr,     \
                test_r_, luaio_err_name((int)test_r_));                        \
  } while (0)

#define ASSERT_PTR_EQ(a, b) TEST_CMP(const void *, "%p", a, ==, b)
#define ASSERT_PTR_NE(a, b) TEST_CMP(const void *, "%p", a, !=, b)
#define ASSERT_NULL(p) ASSERT_PTR_EQ(p, NULL)
#define ASSERT_NOT_NULL(p) ASSERT_PTR_NE(p, NULL)

/* Two NULLs are equal; a NULL and a string are not. */
#define ASSERT_STR_EQ(a, b)                                                    \
  do {                                                                         \
    const char *test_sa_ = (a);                                                \
    const char *test_sb_ = (b);                                                \
    if (test_sa_ == NULL ? test_sb_ != NULL                                    \
                         : test_sb_ == NULL || strcmp(test_sa_, test_sb_))     \
      test_fail(__FILE__, __LINE__, "%s == %s failed: %s%s%s vs %s%s%s", #a,   \
                #b, test_sa_ ? "\"" : "", test_sa_ ? test_sa_ : "NULL",        \
                test_sa_ ? "\"" : "", test_sb_ ? "\"" : "",                    \
                test_sb_ ? test_sb_ : "NULL", test_sb_ ? "\"" : "");           \
  } while (0)

/* }====================================================================== */

/* {======================================================================
** Event log: comma-separated events, compared with ASSERT_STR_EQ.
** ======================================================================= */

static char test_log[4096];

TEST_UNUSED static void test_log_reset(void) {
  test_log[0] = '\0';
}

/* Appends one event; fails the test rather than truncate the log. */
__attribute__((format(printf, 1, 2))) TEST_UNUSED static void
test_logf(const char *fmt, ...) {
  size_t len = strlen(test_log);
  if (len > 0 && len + 1 < sizeof test_log)
    test_log[len++] = ',';
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(test_log + len, sizeof test_log - len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof test_log - len)
    test_fail(__FILE__, __LINE__, "test_log is full (%zu bytes)",
              sizeof test_log);
}

/* }====================================================================== */

/* {======================================================================
** Counting allocator, installed with luaio_set_allocator(). Counters are
** atomic because worker threads may allocate too.
** ======================================================================= */

static atomic_long test_alloc_nlive;     /* blocks allocated and not freed */
static atomic_long test_alloc_nbytes;    /* their bytes, as the core reports */
static atomic_long test_alloc_countdown; /* > 0: requests until a failure */
static atomic_int test_alloc_fired;      /* the armed failure happened */

static void *test_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) {
    if (ptr != NULL) {
      free(ptr);
      atomic_fetch_sub(&test_alloc_nlive, 1);
      atomic_fetch_sub(&test_alloc_nbytes, (long)osize);
    }
    return NULL;
  }
  /* Every request that needs memory counts, growing reallocs included; a
   * failed realloc leaves ptr as it was, as lua_Alloc's contract says. */
  if (atomic_load(&test_alloc_countdown) > 0 &&
      atomic_fetch_sub(&test_alloc_countdown, 1) == 1) {
    atomic_store(&test_alloc_fired, 1);
    return NULL;
  }
  void *block = realloc(ptr, nsize);
  if (block == NULL)
    return NULL;
  if (ptr == NULL)
    atomic_fetch_add(&test_alloc_nlive, 1);
  atomic_fetch_add(&test_alloc_nbytes, (long)nsize - (long)osize);
  return block;
}

/* Routes the core's allocations through the counting allocator and zeroes
 * the counters. Call it first in a test, before any loop exists. */
TEST_UNUSED static void test_alloc_install(void) {
  atomic_store(&test_alloc_nlive, 0);
  atomic_store(&test_alloc_nbytes, 0);
  atomic_store(&test_alloc_countdown, 0);
  atomic_store(&test_alloc_fired, 0);
  luaio_set_allocator(test_alloc, NULL);
}

/* The number of blocks allocated through the hook and not yet freed. */
TEST_UNUSED static long test_alloc_live(void) {
  return atomic_load(&test_alloc_nlive);
}

/* Their total size, by the sizes the core passed in. */
TEST_UNUSED static long test_alloc_live_bytes(void) {
  return atomic_load(&test_alloc_nbytes);
}

/* Makes the n-th next allocation request return NULL, once; n = 0 disarms.
 * Also clears test_alloc_failed(). */
TEST_UNUSED static void test_alloc_fail_after(long n) {
  atomic_store(&test_alloc_fired, 0);
  atomic_store(&test_alloc_countdown, n);
}

/* Nonzero when the failure armed by test_alloc_fail_after() has happened. */
TEST_UNUSED static int test_alloc_failed(void) {
  return atomic_load(&test_alloc_fired);
}

/* }====================================================================== */

/* {======================================================================
** Every test ends with test_loop_close(loop): nothing may be pending, the
** loop must delete cleanly, and no allocation may be left (libuv's
** MAKE_VALGRIND_HAPPY, as an assertion).
** ======================================================================= */

#define test_loop_close(loop) test_loop_close_((loop), __FILE__, __LINE__)

TEST_UNUSED static void test_loop_close_(luaio_loop_t *loop, const char *file,
                                         int line) {
  size_t ntasks = luaio_loop_ntasks(loop);
  size_t ntimers = luaio_loop_ntimers(loop);
  if (ntasks != 0 || ntimers != 0) {
    luaio_print_tasks(loop, stderr);
    test_fail(file, line, "loop not idle: %zu tasks, %zu timers", ntasks,
              ntimers);
  }
  int r = luaio_loop_delete(loop);
  if (r != 0) {
    luaio_print_tasks(loop, stderr);
    test_fail(file, line, "luaio_loop_delete failed: %d (%s)", r,
              luaio_err_name(r));
  }
  if (test_alloc_live() != 0)
    test_fail(file, line, "%ld blocks (%ld bytes) still allocated",
              test_alloc_live(), test_alloc_live_bytes());
}

/* }====================================================================== */

/* Runs every test in file order, or only the one named by argv[1]. */
TEST_UNUSED static int test_main(int argc, char **argv) {
  const char *only = argc > 1 ? argv[1] : NULL;
  int planned = 0;
  for (int i = 0; i < test_count; i++)
    if (only == NULL || strcmp(only, test_entries[i].name) == 0)
      planned++;
  if (planned == 0) {
    fprintf(stderr, "%s: no test named %s; the tests are:\n", argv[0],
            only != NULL ? only : "(any)");
    for (int i = 0; i < test_count; i++)
      fprintf(stderr, "  %s\n", test_entries[i].name);
    return 1;
  }
  printf("1..%d\n", planned);
  for (int i = 0; i < test_count; i++) {
    if (only != NULL && strcmp(only, test_entries[i].name) != 0)
      continue;
    test_number++;
    test_name = test_entries[i].name;
    test_log_reset();
    test_alloc_fail_after(0);
    test_entries[i].fn();
    printf("ok %d - %s\n", test_number, test_name);
    fflush(stdout);
    test_passed++;
  }
  test_name = NULL;
  printf("%d passed, 0 failed\n", test_passed);
  return 0;
}

#endif
