/*
** alloc.c - the core's one allocator, replaceable for tests and hosts.
*/
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void *default_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  (void)osize;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  return realloc(ptr, nsize);
}

static luaio_alloc_fn alloc_fn = default_alloc;
static void *alloc_ud = NULL;

void luaio_set_allocator(luaio_alloc_fn fn, void *ud) {
  alloc_fn = fn != NULL ? fn : default_alloc;
  alloc_ud = fn != NULL ? ud : NULL;
}

void *luaio__alloc(size_t size) { return alloc_fn(alloc_ud, NULL, 0, size); }

void *luaio__realloc(void *ptr, size_t osize, size_t nsize) {
  return alloc_fn(alloc_ud, ptr, osize, nsize);
}

void *luaio__grow(void *arr, size_t *cap, size_t elem, size_t first) {
  size_t ncap = *cap > 0 ? *cap * 2 : first;
  void *p = luaio__realloc(arr, *cap * elem, ncap * elem);
  if (p != NULL)
    *cap = ncap;
  return p;
}

void luaio__free(void *ptr, size_t size) {
  if (ptr != NULL)
    alloc_fn(alloc_ud, ptr, size, 0);
}

char *luaio__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *copy = luaio__alloc(n);
  if (copy != NULL)
    memcpy(copy, s, n);
  return copy;
}

void luaio__strfree(char *s) {
  if (s != NULL)
    luaio__free(s, strlen(s) + 1);
}
