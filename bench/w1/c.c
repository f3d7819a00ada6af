/* W1 spawn+gather in C on libuv, the floor: N tasks, each an idle handle
 * that runs twice (start, then one turn later after its "sleep(0)") and
 * then stores its index. */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

typedef struct {
  uv_idle_t idle;
  long index;
  int step;
} task_t;

static long *results;

static void task_free(uv_handle_t *h) { free(h); }

static void task_run(uv_idle_t *h) {
  task_t *t = (task_t *)h;
  if (t->step++ == 0)
    return; /* sleep(0): run again on the next turn */
  results[t->index] = t->index;
  uv_idle_stop(h);
  uv_close((uv_handle_t *)h, task_free);
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  uv_loop_t *loop = uv_default_loop();
  results = calloc(n, sizeof *results);
  for (long i = 0; i < n; i++) {
    task_t *t = malloc(sizeof *t);
    t->index = i;
    t->step = 0;
    results[i] = -1;
    uv_idle_init(loop, &t->idle);
    uv_idle_start(&t->idle, task_run);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  for (long i = 0; i < n; i++) {
    if (results[i] != i) {
      fprintf(stderr, "W1 c: wrong result at %ld\n", i);
      return 1;
    }
  }
  printf("W1 c ok n=%ld\n", n);
  free(results);
  return uv_loop_close(loop) != 0;
}
