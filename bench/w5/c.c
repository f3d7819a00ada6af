/* W5 memory in C on libuv, the floor: N tasks suspended on one event, each
 * a heap-allocated continuation (callback, argument, link) in the event's
 * waiter list; an idle callback sets the event on the first turn of the
 * loop. Prints VmHWM (peak RSS) once they all wait; given the VmHWM of an
 * N=0 run, bytes per task. Usage: c [N [baseline_kB]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct task_s task_t;
struct task_s {
  void (*resume)(task_t *t);
  task_t *next;
  long index;
};

static task_t *waiters; /* the event's waiter list */
static long *results;

static void task_resume(task_t *t) {
  results[t->index] = t->index;
  free(t);
}

static void event_set(uv_idle_t *h) {
  task_t *t = waiters;
  waiters = NULL;
  while (t != NULL) {
    task_t *next = t->next;
    t->resume(t);
    t = next;
  }
  uv_idle_stop(h);
}

static long vmhwm_kb(void) {
  char line[256];
  long kb = -1;
  FILE *f = fopen("/proc/self/status", "r");
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "VmHWM:", 6) == 0)
      kb = atol(line + 6);
  if (f != NULL)
    fclose(f);
  return kb;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  long base = argc > 2 ? atol(argv[2]) : -1;
  uv_loop_t *loop = uv_default_loop();
  results = calloc(n > 0 ? n : 1, sizeof *results);
  for (long i = 0; i < n; i++) {
    task_t *t = malloc(sizeof *t);
    t->resume = task_resume;
    t->index = i;
    t->next = waiters;
    waiters = t;
    results[i] = -1;
  }
  long kb = vmhwm_kb();
  uv_idle_t setter;
  uv_idle_init(loop, &setter);
  uv_idle_start(&setter, event_set);
  uv_run(loop, UV_RUN_DEFAULT);
  for (long i = 0; i < n; i++) {
    if (results[i] != i) {
      fprintf(stderr, "W5 c: wrong result at %ld\n", i);
      return 1;
    }
  }
  if (base >= 0 && n > 0)
    printf("W5 c %ld bytes/task n=%ld vmhwm_kb=%ld base_kb=%ld\n",
           (kb - base) * 1024 / n, n, kb, base);
  else
    printf("W5 c %ld kB n=%ld\n", kb, n);
  free(results);
  uv_close((uv_handle_t *)&setter, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) != 0;
}
