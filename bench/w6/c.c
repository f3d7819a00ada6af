/* W6 to_thread in C on libuv, the floor: a CPU-bound checksum loop run
 * twice, first serially on the loop's thread, then as two uv_queue_work
 * jobs at once on libuv's thread pool. Prints the speedup of the second
 * way over the first. */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

typedef struct {
  uv_work_t req;
  long seed, n, result;
} job_t;

static long checksum(long seed, long n) {
  long x = seed;
  for (long i = 1; i <= n; i++)
    x = (x * 31 + i) % 1000000007;
  return x;
}

static void job_work(uv_work_t *req) {
  job_t *j = (job_t *)req;
  j->result = checksum(j->seed, j->n);
}

static void job_done(uv_work_t *req, int status) {
  (void)req;
  if (status != 0)
    exit(1);
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000000;
  uv_loop_t *loop = uv_default_loop();
  uint64_t t0 = uv_hrtime();
  long a = checksum(1, n), b = checksum(2, n);
  uint64_t t1 = uv_hrtime();
  job_t jobs[2] = {{.seed = 1, .n = n}, {.seed = 2, .n = n}};
  for (int i = 0; i < 2; i++)
    uv_queue_work(loop, &jobs[i].req, job_work, job_done);
  uv_run(loop, UV_RUN_DEFAULT);
  uint64_t t2 = uv_hrtime();
  if (jobs[0].result != a || jobs[1].result != b) {
    fprintf(stderr, "W6 c: threads and serial runs disagree\n");
    return 1;
  }
  double serial = (t1 - t0) / 1e9, threads = (t2 - t1) / 1e9;
  printf("W6 c %.2f speedup serial_s=%.3f threads_s=%.3f checksum=%ld,%ld\n",
         serial / threads, serial, threads, a, b);
  return uv_loop_close(loop) != 0;
}
