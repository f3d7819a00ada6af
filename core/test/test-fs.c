/*
** test-fs.c - file operations as futures: results, errors, cancellation
** mid-request, and no allocation or descriptor left behind.
*/
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "luaio.h"
#include "test.h"

static char dir[64];

static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  snprintf(dir, sizeof dir, "/tmp/luaio-test-fs-XXXXXX");
  ASSERT_NOT_NULL(mkdtemp(dir));
  return loop;
}

static void loop_close(luaio_loop_t *loop) {
  test_loop_close(loop);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ASSERT_EQ(0, system(cmd));
}

static const char *at(const char *name) {
  static char buf[4][128];
  static int i;
  char *b = buf[i++ % 4];
  snprintf(b, sizeof buf[0], "%s/%s", dir, name);
  return b;
}

/* Runs the loop until fut is done; returns its error (0 on success). */
static int settle(luaio_loop_t *loop, luaio_future_t *fut) {
  while (!luaio_future_done(fut))
    luaio_loop_run(loop, LUAIO_RUN_ONCE);
  return luaio_future_error(fut);
}

/* Waits for the operation that returned rc and set *fut; returns its
** error and drops *fut. (fut is a pointer: rc is computed first.) */
static int run_op(luaio_loop_t *loop, int rc, luaio_future_t **fut) {
  ASSERT_OK(rc);
  int err = settle(loop, *fut);
  luaio_future_unref(*fut);
  return err;
}

static int count_fds(void) {
  int n = 0;
  for (int fd = 0; fd < 1024; fd++)
    if (fcntl(fd, F_GETFD) != -1)
      n++;
  return n;
}

TEST(write_read_stat) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut;
  static const char data[] = "hello, file";
  ASSERT_EQ(0, run_op(loop,
                      luaio_fs_write_file(loop, at("a"), data, sizeof data - 1,
                                          0, &fut),
                      &fut));
  ASSERT_OK(luaio_fs_read_file(loop, at("a"), &fut));
  ASSERT_EQ(0, settle(loop, fut));
  size_t len;
  const char *got = luaio_fs_result_data(fut, &len);
  ASSERT_EQ(sizeof data - 1, len);
  ASSERT(memcmp(got, data, len) == 0);
  luaio_future_unref(fut);
  ASSERT_OK(luaio_fs_stat(loop, at("a"), &fut));
  ASSERT_EQ(0, settle(loop, fut));
  ASSERT_EQ(sizeof data - 1, luaio_fs_result_stat(fut)->st_size);
  luaio_future_unref(fut);
  loop_close(loop);
}

TEST(errors_pass_through) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut;
  ASSERT_EQ(UV_ENOENT,
            run_op(loop, luaio_fs_read_file(loop, at("none"), &fut), &fut));
  ASSERT_EQ(UV_ENOENT,
            run_op(loop, luaio_fs_remove(loop, at("none"), &fut), &fut));
  ASSERT_EQ(
      UV_ENOENT,
      run_op(loop, luaio_fs_rename(loop, at("none"), at("b"), &fut), &fut));
  ASSERT_EQ(UV_EISDIR, run_op(loop, luaio_fs_read_file(loop, dir, &fut), &fut));
  loop_close(loop);
}

TEST(listdir_sorted_mkdir_parents_remove) {
  luaio_loop_t *loop = loop_open();
  luaio_future_t *fut;
  ASSERT_EQ(
      0, run_op(loop,
                luaio_fs_mkdir(loop, at("x/y/z"), 0777, LUAIO_FS_PARENTS, &fut),
                &fut));
  ASSERT_EQ(
      0, run_op(loop,
                luaio_fs_mkdir(loop, at("x/y/z"), 0777, LUAIO_FS_PARENTS, &fut),
                &fut));
  ASSERT_EQ(UV_EEXIST,
            run_op(loop, luaio_fs_mkdir(loop, at("x"), 0777, 0, &fut), &fut));
  const char *names[] = {"c", "a", "b"};
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(0, run_op(loop,
                        luaio_fs_write_file(loop, at(names[i]), "", 0, 0, &fut),
                        &fut));
  ASSERT_OK(luaio_fs_listdir(loop, dir, &fut));
  ASSERT_EQ(0, settle(loop, fut));
  ASSERT_EQ(4, luaio_fs_result_count(fut));
  test_logf("%s", luaio_fs_result_name(fut, 0));
  test_logf("%s", luaio_fs_result_name(fut, 1));
  test_logf("%s", luaio_fs_result_name(fut, 2));
  test_logf("%s", luaio_fs_result_name(fut, 3));
  ASSERT_STR_EQ("a,b,c,x", test_log);
  luaio_future_unref(fut);
  ASSERT_EQ(UV_ENOTEMPTY,
            run_op(loop, luaio_fs_remove(loop, at("x/y"), &fut), &fut));
  ASSERT_EQ(0, run_op(loop, luaio_fs_remove(loop, at("x/y/z"), &fut), &fut));
  ASSERT_EQ(0, run_op(loop, luaio_fs_remove(loop, at("a"), &fut), &fut));
  loop_close(loop);
}

TEST(open_read_write_close) {
  luaio_loop_t *loop = loop_open();
  int fds = count_fds();
  luaio_future_t *fut;
  ASSERT_OK(luaio_fs_open(loop, at("f"), O_RDWR | O_CREAT, 0644, &fut));
  ASSERT_EQ(0, settle(loop, fut));
  luaio_file_t *f = luaio_fs_result_file(fut);
  ASSERT_NOT_NULL(f);
  luaio_future_unref(fut);
  ASSERT_EQ(0,
            run_op(loop, luaio_fs_write(loop, f, "abcdef", 6, 0, &fut), &fut));
  ASSERT_OK(luaio_fs_read(loop, f, 3, 2, &fut));
  ASSERT_EQ(LUAIO_EBUSY, luaio_fs_close(loop, f, &(luaio_future_t *){NULL}));
  ASSERT_EQ(0, settle(loop, fut));
  size_t len;
  const char *got = luaio_fs_result_data(fut, &len);
  ASSERT_EQ(3, len);
  ASSERT(memcmp(got, "cde", 3) == 0);
  luaio_future_unref(fut);
  ASSERT_OK(luaio_fs_fstat(loop, f, &fut));
  ASSERT_EQ(0, settle(loop, fut));
  ASSERT_EQ(6, luaio_fs_result_stat(fut)->st_size);
  luaio_future_unref(fut);
  ASSERT_EQ(0, run_op(loop, luaio_fs_close(loop, f, &fut), &fut));
  ASSERT_EQ(-1, luaio_file_fd(f));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_fs_read(loop, f, 1, 0, &fut));
  luaio_file_unref(f);
  ASSERT_EQ(fds, count_fds());
  loop_close(loop);
}

/* A file dropped without close is closed by its last reference. */
TEST(unref_closes) {
  luaio_loop_t *loop = loop_open();
  int fds = count_fds();
  luaio_future_t *fut;
  ASSERT_OK(luaio_fs_open(loop, at("g"), O_WRONLY | O_CREAT, 0644, &fut));
  ASSERT_EQ(0, settle(loop, fut));
  luaio_file_t *f = luaio_fs_result_file(fut);
  luaio_future_unref(fut);
  ASSERT_EQ(fds + 1, count_fds());
  ASSERT_OK(luaio_fs_write(loop, f, "x", 1, -1, &fut));
  luaio_file_unref(f); /* the write still holds it */
  ASSERT_EQ(fds + 1, count_fds());
  ASSERT_EQ(0, settle(loop, fut));
  luaio_future_unref(fut);
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT_EQ(fds, count_fds());
  loop_close(loop);
}

/* Cancelled at once, or after one turn: whether libuv stops the request
** or it runs to its end, nothing is left open or allocated. */
TEST(cancel_mid_request) {
  luaio_loop_t *loop = loop_open();
  int fds = count_fds();
  luaio_future_t *fut;
  size_t big = 4 << 20;
  char *data = calloc(1, big);
  ASSERT_NOT_NULL(data);
  ASSERT_EQ(0, run_op(loop,
                      luaio_fs_write_file(loop, at("big"), data, big, 0, &fut),
                      &fut));
  for (int round = 0; round < 12; round++) {
    if (round % 3 == 0)
      ASSERT_OK(luaio_fs_read_file(loop, at("big"), &fut));
    else if (round % 3 == 1)
      ASSERT_OK(luaio_fs_write_file(loop, at("out"), data, big, LUAIO_FS_ATOMIC,
                                    &fut));
    else
      ASSERT_OK(luaio_fs_open(loop, at("big"), O_RDONLY, 0, &fut));
    for (int i = 0; i < round / 3; i++)
      luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
    /* It may have finished already, on a fast thread pool. */
    if (luaio_future_cancel(fut, "stop") == 1)
      ASSERT(luaio_future_cancelled(fut));
    else
      ASSERT(luaio_future_done(fut));
    luaio_future_unref(fut);
  }
  free(data);
  while (uv_loop_alive(luaio_loop_uv(loop)))
    luaio_loop_run(loop, LUAIO_RUN_ONCE);
  ASSERT_EQ(fds, count_fds());
  /* No temporary file of the atomic writes is left. */
  ASSERT_OK(luaio_fs_listdir(loop, dir, &fut));
  ASSERT_EQ(0, settle(loop, fut));
  for (size_t i = 0; i < luaio_fs_result_count(fut); i++) {
    const char *name = luaio_fs_result_name(fut, i);
    ASSERT(strcmp(name, "big") == 0 || strcmp(name, "out") == 0);
  }
  luaio_future_unref(fut);
  loop_close(loop);
}

TEST(oom_sweep) {
  luaio_loop_t *loop = loop_open();
  long live = test_alloc_live();
  for (long n = 1;; n++) {
    test_alloc_fail_after(n);
    luaio_future_t *fut = NULL;
    int rc =
        luaio_fs_write_file(loop, at("oom"), "data", 4, LUAIO_FS_ATOMIC, &fut);
    if (!test_alloc_failed()) {
      test_alloc_fail_after(0);
      ASSERT_OK(rc);
      ASSERT_EQ(0, settle(loop, fut));
      luaio_future_unref(fut);
      break;
    }
    test_alloc_fail_after(0);
    if (rc == 0) { /* a later allocation failed: the chain fails */
      ASSERT_EQ(LUAIO_ENOMEM, settle(loop, fut));
      luaio_future_unref(fut);
    } else {
      ASSERT_EQ(LUAIO_ENOMEM, rc);
      ASSERT_NULL(fut);
    }
    while (uv_loop_alive(luaio_loop_uv(loop)))
      luaio_loop_run(loop, LUAIO_RUN_ONCE);
    ASSERT_EQ(live, test_alloc_live());
  }
  loop_close(loop);
}

int main(int argc, char **argv) {
  return test_main(argc, argv);
}
