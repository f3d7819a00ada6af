/* W3 queue in C on libuv, the floor: N integers through a ring buffer of
 * 100. The producer and the consumer are idle callbacks; on each turn of the
 * loop the producer fills the buffer and the consumer empties it. */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#define QMAX 100

static long ring[QMAX];
static int first, count;
static long n, next = 1, got, sum;

static void produce(uv_idle_t *h) {
  while (count < QMAX && next <= n) {
    ring[(first + count) % QMAX] = next++;
    count++;
  }
  if (next > n)
    uv_idle_stop(h);
}

static void consume(uv_idle_t *h) {
  while (count > 0) {
    sum += ring[first];
    first = (first + 1) % QMAX;
    count--;
    got++;
  }
  if (got == n)
    uv_idle_stop(h);
}

int main(int argc, char **argv) {
  n = argc > 1 ? atol(argv[1]) : 1000000;
  uv_loop_t *loop = uv_default_loop();
  uv_idle_t producer, consumer;
  uv_idle_init(loop, &producer);
  uv_idle_init(loop, &consumer);
  uv_idle_start(&producer, produce);
  uv_idle_start(&consumer, consume);
  uv_run(loop, UV_RUN_DEFAULT);
  if (got != n || sum != n * (n + 1) / 2) {
    fprintf(stderr, "W3 c: wrong sum %ld\n", sum);
    return 1;
  }
  printf("W3 c ok n=%ld sum=%ld\n", n, sum);
  uv_close((uv_handle_t *)&producer, NULL);
  uv_close((uv_handle_t *)&consumer, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) != 0;
}
