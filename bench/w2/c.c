/* W2 timers in C on libuv, the floor: N timers of 10 ms started at the same
 * time; each counts itself done when it fires. */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#define DELAY_MS 10

static long done;

static void timer_free(uv_handle_t *h) { free(h); }

static void timer_fired(uv_timer_t *t) {
  done++;
  uv_close((uv_handle_t *)t, timer_free);
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  uv_loop_t *loop = uv_default_loop();
  uint64_t t0 = uv_hrtime();
  for (long i = 0; i < n; i++) {
    uv_timer_t *t = malloc(sizeof *t);
    uv_timer_init(loop, t);
    uv_timer_start(t, timer_fired, DELAY_MS, 0);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  if (done != n || uv_hrtime() - t0 < DELAY_MS * 1000000ull) {
    fprintf(stderr, "W2 c: %ld of %ld timers fired, or too early\n", done, n);
    return 1;
  }
  printf("W2 c ok n=%ld\n", n);
  return uv_loop_close(loop) != 0;
}
