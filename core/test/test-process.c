/*
** test-process.c - subprocesses and their pipes: exit codes, signals,
** pipe round trips, spawn failures, and closing what is left.
*/
#include <signal.h>
#include <string.h>

#include "luaio.h"
#include "test.h"

static luaio_loop_t *loop_open(void) {
  test_alloc_install();
  luaio_loop_t *loop = luaio_loop_new(NULL);
  ASSERT_NOT_NULL(loop);
  return loop;
}

static int settle(luaio_loop_t *loop, luaio_future_t *fut) {
  while (!luaio_future_done(fut))
    luaio_loop_run(loop, LUAIO_RUN_ONCE);
  return luaio_future_error(fut);
}

static luaio_process_t *spawn(luaio_loop_t *loop, char **args, int in,
                              int out) {
  luaio_process_options_t o;
  memset(&o, 0, sizeof o);
  o.file = args[0];
  o.args = args;
  o.stdio[0] = in;
  o.stdio[1] = out;
  o.stdio[2] = LUAIO_STDIO_INHERIT;
  luaio_process_t *p = NULL;
  ASSERT_OK(luaio_process_spawn(loop, &o, &p));
  ASSERT_NOT_NULL(p);
  return p;
}

static int wait_exit(luaio_loop_t *loop, luaio_process_t *p) {
  luaio_future_t *fut;
  ASSERT_OK(luaio_process_wait(p, &fut));
  if (fut != NULL) {
    ASSERT_EQ(0, settle(loop, fut));
    luaio_future_unref(fut);
  }
  int code = 12345;
  ASSERT(luaio_process_returncode(p, &code));
  return code;
}

/* Lets libuv run its close callbacks. */
static void drain(luaio_loop_t *loop) {
  while (uv_loop_alive(luaio_loop_uv(loop)))
    luaio_loop_run(loop, LUAIO_RUN_ONCE);
}

TEST(exit_code) {
  luaio_loop_t *loop = loop_open();
  char *args[] = {(char *)"sh", (char *)"-c", (char *)"exit 3", NULL};
  luaio_process_t *p = spawn(loop, args, 0, 0);
  ASSERT(luaio_process_pid(p) > 0);
  int code;
  ASSERT_EQ(0, luaio_process_returncode(p, &code));
  ASSERT_EQ(3, wait_exit(loop, p));
  luaio_future_t *fut;
  ASSERT_OK(luaio_process_wait(p, &fut));
  ASSERT_NULL(fut); /* exited already */
  luaio_process_unref(p);
  drain(loop);
  test_loop_close(loop);
}

TEST(kill_gives_minus_signum) {
  luaio_loop_t *loop = loop_open();
  char *args[] = {(char *)"sleep", (char *)"10", NULL};
  luaio_process_t *p = spawn(loop, args, 0, 0);
  ASSERT_OK(luaio_process_kill(p, SIGTERM));
  ASSERT_EQ(-SIGTERM, wait_exit(loop, p));
  ASSERT_OK(luaio_process_kill(p, SIGKILL)); /* exited: a no-op */
  luaio_process_unref(p);
  drain(loop);
  test_loop_close(loop);
}

TEST(pipe_round_trip) {
  luaio_loop_t *loop = loop_open();
  char *args[] = {(char *)"cat", NULL};
  luaio_process_t *p = spawn(loop, args, LUAIO_STDIO_PIPE, LUAIO_STDIO_PIPE);
  luaio_pipe_t *in = luaio_process_pipe(p, 0);
  luaio_pipe_t *out = luaio_process_pipe(p, 1);
  ASSERT_NOT_NULL(in);
  ASSERT_NOT_NULL(out);
  ASSERT_NULL(luaio_process_pipe(p, 2));
  size_t total = 3 << 20;
  char *data = malloc(total);
  for (size_t i = 0; i < total; i++)
    data[i] = (char)(i * 7);
  ASSERT_OK(luaio_pipe_write(in, data, total));
  luaio_future_t *fut;
  ASSERT_EQ(LUAIO_EINVAL, luaio_pipe_write(out, "x", 1));
  ASSERT_OK(luaio_pipe_drain(in, &fut)); /* may wait: queued > 64 KiB */
  luaio_pipe_close(in);                  /* after the queue is written */
  size_t got = 0;
  while (!luaio_pipe_at_eof(out) || got < total) {
    size_t len;
    const char *b = luaio_pipe_buffer(out, &len);
    if (len > 0) {
      ASSERT(got + len <= total);
      ASSERT(memcmp(b, data + got, len) == 0);
      got += len;
      luaio_pipe_consume(out, len);
      continue;
    }
    if (luaio_pipe_at_eof(out))
      break;
    luaio_future_t *w;
    ASSERT_OK(luaio_pipe_wait_readable(out, &w));
    if (w != NULL) {
      settle(loop, w);
      luaio_future_unref(w);
    }
  }
  ASSERT_EQ(total, got);
  ASSERT_EQ(0, luaio_pipe_error(out));
  if (fut != NULL) {
    ASSERT(luaio_future_done(fut));
    luaio_future_unref(fut);
  }
  free(data);
  ASSERT_EQ(0, wait_exit(loop, p));
  luaio_process_unref(p);
  drain(loop);
  test_loop_close(loop);
}

/* wait_closed resolves only once a closed write end has written its
** queue; a cancelled one leaves the pipe open; after the close it is NULL. */
TEST(pipe_wait_closed) {
  luaio_loop_t *loop = loop_open();
  char *args[] = {(char *)"sh", (char *)"-c", (char *)"cat >/dev/null", NULL};
  luaio_process_t *p = spawn(loop, args, LUAIO_STDIO_PIPE, 0);
  luaio_pipe_t *in = luaio_process_pipe(p, 0);
  luaio_future_t *early, *fut;
  ASSERT_OK(luaio_pipe_wait_closed(in, &early));
  ASSERT_NOT_NULL(early);
  luaio_future_cancel(early, NULL); /* leaves the pipe as it was */
  luaio_loop_run(loop, LUAIO_RUN_NOWAIT);
  ASSERT(!luaio_pipe_closed(in));
  size_t total = 1 << 20;
  char *data = calloc(1, total);
  ASSERT_OK(luaio_pipe_write(in, data, total));
  free(data);
  ASSERT_OK(luaio_pipe_wait_closed(in, &fut));
  ASSERT_NOT_NULL(fut);
  luaio_pipe_close(in);
  ASSERT(luaio_pipe_queued(in) > 0); /* the close waits for the queue */
  ASSERT(!luaio_future_done(fut));
  ASSERT_EQ(0, settle(loop, fut));
  ASSERT_EQ(0, luaio_pipe_queued(in));
  ASSERT(luaio_future_cancelled(early));
  luaio_future_unref(early);
  luaio_future_unref(fut);
  ASSERT_OK(luaio_pipe_wait_closed(in, &fut));
  ASSERT_NULL(fut);
  ASSERT_EQ(0, wait_exit(loop, p));
  luaio_process_unref(p);
  drain(loop);
  test_loop_close(loop);
}

TEST(spawn_failure) {
  luaio_loop_t *loop = loop_open();
  char *args[] = {(char *)"/nonexistent/program", NULL};
  luaio_process_options_t o;
  memset(&o, 0, sizeof o);
  o.file = args[0];
  o.args = args;
  o.stdio[1] = LUAIO_STDIO_PIPE;
  o.stdio[2] = LUAIO_STDIO_DEVNULL;
  luaio_process_t *p = NULL;
  ASSERT_EQ(UV_ENOENT, luaio_process_spawn(loop, &o, &p));
  ASSERT_NULL(p);
  drain(loop);
  test_loop_close(loop);
}

/* A missing cwd fails the spawn with the code a missing program gives;
** luaio_process_check_cwd tells the two apart. */
TEST(spawn_failure_cwd) {
  luaio_loop_t *loop = loop_open();
  char *args[] = {(char *)"true", NULL};
  luaio_process_options_t o;
  memset(&o, 0, sizeof o);
  o.file = args[0];
  o.args = args;
  o.cwd = "/nonexistent/dir";
  luaio_process_t *p = NULL;
  ASSERT_EQ(UV_ENOENT, luaio_process_spawn(loop, &o, &p));
  ASSERT_NULL(p);
  ASSERT_EQ(UV_ENOENT, luaio_process_check_cwd(o.cwd));
  ASSERT_EQ(UV_ENOTDIR, luaio_process_check_cwd("/dev/null"));
  ASSERT_EQ(0, luaio_process_check_cwd("/"));
  ASSERT_EQ(0, luaio_process_check_cwd("."));
  drain(loop);
  test_loop_close(loop);
}

/* LUAIO_STDIO_STDOUT puts fd 2 on fd 1's pipe: both streams arrive on
** it, in the order written, and the pipe ends when the child exits. */
TEST(stderr_to_stdout) {
  luaio_loop_t *loop = loop_open();
  char *args[] = {(char *)"sh", (char *)"-c",
                  (char *)"echo 1; echo 2 >&2; echo 3", NULL};
  luaio_process_options_t o;
  memset(&o, 0, sizeof o);
  o.file = args[0];
  o.args = args;
  o.stdio[1] = LUAIO_STDIO_PIPE;
  o.stdio[2] = LUAIO_STDIO_STDOUT;
  luaio_process_t *p = NULL;
  ASSERT_OK(luaio_process_spawn(loop, &o, &p));
  ASSERT_NULL(luaio_process_pipe(p, 2));
  luaio_pipe_t *out = luaio_process_pipe(p, 1);
  ASSERT_NOT_NULL(out);
  for (;;) {
    luaio_future_t *w;
    ASSERT_OK(luaio_pipe_wait_readable(out, &w));
    if (w != NULL) {
      settle(loop, w);
      luaio_future_unref(w);
    }
    if (luaio_pipe_at_eof(out))
      break;
    size_t len;
    luaio_pipe_buffer(out, &len);
    luaio_pipe_set_limit(out, len + 1); /* keep it all, read on */
  }
  size_t len;
  const char *b = luaio_pipe_buffer(out, &len);
  ASSERT_EQ(6, len);
  ASSERT(memcmp(b, "1\n2\n3\n", 6) == 0);
  ASSERT_EQ(0, wait_exit(loop, p));
  luaio_process_unref(p);
  drain(loop);
  test_loop_close(loop);
}

/* close_all leaves the child running and the loop closable. */
TEST(close_all) {
  luaio_loop_t *loop = loop_open();
  char *args[] = {(char *)"sleep", (char *)"10", NULL};
  luaio_process_t *p = spawn(loop, args, LUAIO_STDIO_PIPE, LUAIO_STDIO_PIPE);
  int pid = luaio_process_pid(p);
  luaio_future_t *fut;
  ASSERT_OK(luaio_process_wait(p, &fut));
  ASSERT_NOT_NULL(fut);
  luaio_process_unref(p); /* the running child keeps it */
  luaio_process_close_all(loop);
  ASSERT(luaio_future_cancelled(fut));
  luaio_future_unref(fut);
  test_loop_close(loop);
  ASSERT_OK(uv_kill(pid, SIGKILL));
}

int main(int argc, char **argv) {
  return test_main(argc, argv);
}
