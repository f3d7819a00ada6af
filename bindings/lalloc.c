/*
** lalloc.c - a lua_Alloc for states that make many small objects: tasks
** are a thread, a userdata and a few call frames each, all under 1 KiB.
** Small blocks come from per-size free lists carved out of 64 KiB
** chunks, with no header per block (Lua always says a block's size when
** it frees it), so a task touches fewer pages and allocating costs a
** few instructions. Larger blocks go to realloc/free.
**
** Once a state holds BIG_AFTER bytes of chunks, it takes 2 MiB at a time
** from mmap, populated at once: the kernel then fills 512 pages in one
** call instead of taking 512 page faults, which is most of the time a
** burst of new tasks spends in the kernel.
*/
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "lbind.h"

#define GRAIN 16                 /* block sizes are multiples of this */
#define NCLASSES 64              /* small blocks: up to 1 KiB */
#define SMALL_MAX (GRAIN * NCLASSES)
#define CHUNK_SIZE (64 * 1024)
#define BIG_SIZE (2 * 1024 * 1024)
#define BIG_AFTER (4 * 1024 * 1024)

/* The slow paths stay out of line, so the fast ones save no registers. */
#if defined(__GNUC__)
#define COLD __attribute__((noinline, cold))
#else
#define COLD
#endif

typedef struct freeblock {
  struct freeblock *next;
} freeblock;

typedef struct chunk {
  struct chunk *next;
  size_t size; /* CHUNK_SIZE from malloc, or BIG_SIZE from mmap */
} chunk;

struct luaio_alloc_s {
  freeblock *free[NCLASSES];
  chunk *chunks;
  char *bump, *bump_end; /* the unused tail of the newest chunk */
  size_t total;          /* bytes in chunks */
  lua_Alloc base;        /* lalloc or system_alloc */
  size_t used;           /* bytes Lua holds, kept while a limit is set */
  size_t limit;          /* 0: none */
};

/* A new chunk: 64 KiB from malloc while the state is small, then 2 MiB
** mapped and populated; NULL when out of memory. The caller links it on
** a->chunks, and luaio_closestate frees it (free_chunk). */
static chunk *new_chunk(luaio_alloc_t *a) {
  chunk *c = NULL;
#if defined(__linux__) && defined(MAP_POPULATE)
  if (a->total >= BIG_AFTER) {
    void *p = mmap(NULL, BIG_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p != MAP_FAILED) {
      c = p;
      c->size = BIG_SIZE;
    }
  }
#endif
  if (c == NULL) {
    c = malloc(CHUNK_SIZE);
    if (c == NULL)
      return NULL;
    c->size = CHUNK_SIZE;
  }
  a->total += c->size;
  return c;
}

static void free_chunk(chunk *c) {
#if defined(__linux__) && defined(MAP_POPULATE)
  if (c->size == BIG_SIZE) {
    munmap(c, BIG_SIZE);
    return;
  }
#endif
  free(c);
}

static size_t class_of(size_t size) { return (size - 1) / GRAIN; }

/* Starts a new chunk and carves a block of class cls from it; the tail
** of the old chunk, too small for the block, goes to its own class. */
COLD static void *refill(luaio_alloc_t *a, size_t cls) {
  size_t left = (size_t)(a->bump_end - a->bump);
  if (left >= GRAIN) {
    freeblock *t = (freeblock *)a->bump;
    size_t tc = left / GRAIN - 1;
    t->next = a->free[tc];
    a->free[tc] = t;
  }
  a->bump = a->bump_end; /* the tail is given away even if malloc fails */
  chunk *c = new_chunk(a);
  if (c == NULL)
    return NULL;
  c->next = a->chunks;
  a->chunks = c;
  a->bump = (char *)c + GRAIN + (cls + 1) * GRAIN; /* 16-byte aligned */
  a->bump_end = (char *)c + c->size;
  return (char *)c + GRAIN;
}

/* A block from its class's free list, else carved from the newest chunk. */
static void *small_alloc(luaio_alloc_t *a, size_t cls) {
  freeblock *b = a->free[cls];
  if (b != NULL) {
    a->free[cls] = b->next;
    return b;
  }
  size_t size = (cls + 1) * GRAIN;
  if ((size_t)(a->bump_end - a->bump) < size)
    return refill(a, cls);
  void *p = a->bump;
  a->bump += size;
  return p;
}

static void small_free(luaio_alloc_t *a, void *p, size_t cls) {
  freeblock *b = p;
  b->next = a->free[cls];
  a->free[cls] = b;
}

/* Moves a block between sizes; osize and nsize are both above zero. */
COLD static void *resize(luaio_alloc_t *a, void *ptr, size_t osize,
                         size_t nsize) {
  if (osize > SMALL_MAX && nsize > SMALL_MAX)
    return realloc(ptr, nsize);
  if (osize <= SMALL_MAX && nsize <= SMALL_MAX &&
      class_of(osize) == class_of(nsize))
    return ptr;
  void *np = nsize <= SMALL_MAX ? small_alloc(a, class_of(nsize))
                                : malloc(nsize);
  if (np == NULL)
    return NULL;
  memcpy(np, ptr, osize < nsize ? osize : nsize);
  if (osize <= SMALL_MAX)
    small_free(a, ptr, class_of(osize));
  else
    free(ptr);
  return np;
}

/* The common cases first: a new small block, a small block freed. */
static void *lalloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  luaio_alloc_t *a = ud;
  if (ptr == NULL) { /* osize tells the kind of object, not a size */
    if (nsize - 1 < SMALL_MAX) /* 0 < nsize <= SMALL_MAX */
      return small_alloc(a, class_of(nsize));
    return nsize == 0 ? NULL : malloc(nsize);
  }
  if (nsize == 0) {
    if (osize <= SMALL_MAX)
      small_free(a, ptr, class_of(osize));
    else
      free(ptr);
    return NULL;
  }
  return resize(a, ptr, osize, nsize);
}

static void *system_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  (void)osize;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  return realloc(ptr, nsize);
}

static int use_system_alloc(void) {
#if defined(__SANITIZE_ADDRESS__)
  return 1; /* ASan must see every block on its own */
#else
  const char *e = getenv("LUAIO_ALLOC");
  return e != NULL && strcmp(e, "system") == 0;
#endif
}

static int panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "luaio: unprotected error in a call to Lua: %s\n",
          msg != NULL ? msg : "(error object is not a string)");
  return 0;
}

/* Warnings as luaL_newstate's states have them: off until "@on", then
** written to stderr as "Lua warning: ...", pieces joined into one line. */
static void warn_off(void *ud, const char *msg, int tocont);
static void warn_on(void *ud, const char *msg, int tocont);

static int warn_control(lua_State *L, const char *msg, int tocont) {
  if (tocont || *msg != '@')
    return 0;
  if (strcmp(msg, "@off") == 0)
    lua_setwarnf(L, warn_off, L);
  else if (strcmp(msg, "@on") == 0)
    lua_setwarnf(L, warn_on, L);
  return 1; /* other control messages are ignored */
}

static void warn_off(void *ud, const char *msg, int tocont) {
  warn_control(ud, msg, tocont);
}

static void warn_cont(void *ud, const char *msg, int tocont) {
  lua_State *L = ud;
  fputs(msg, stderr);
  if (tocont) {
    lua_setwarnf(L, warn_cont, L);
  } else {
    fputs("\n", stderr);
    fflush(stderr);
    lua_setwarnf(L, warn_on, L);
  }
}

static void warn_on(void *ud, const char *msg, int tocont) {
  if (warn_control(ud, msg, tocont))
    return;
  fputs("Lua warning: ", stderr);
  warn_cont(ud, msg, tocont);
}

static lua_State *setup(lua_State *L) {
  if (L != NULL) {
    lua_atpanic(L, panic);
    lua_setwarnf(L, warn_off, L);
  }
  return L;
}

lua_State *luaio_newstate(luaio_alloc_t **out) {
  *out = NULL;
  luaio_alloc_t *a = calloc(1, sizeof *a);
  if (a == NULL)
    return NULL;
  a->base = use_system_alloc() ? system_alloc : lalloc;
  lua_State *L = lua_newstate(a->base, a);
  if (L == NULL) {
    free(a);
    return NULL;
  }
  setup(L);
  *out = a;
  return L;
}

void luaio_closestate(lua_State *L, luaio_alloc_t *a) {
  lua_close(L);
  if (a == NULL)
    return;
  chunk *c = a->chunks;
  while (c != NULL) {
    chunk *next = c->next;
    free_chunk(c);
    c = next;
  }
  free(a);
}

/* {======================================================================
** The memory limit. A state without one runs on its base allocator,
** which counts nothing; setting a limit swaps in limited_alloc, which
** counts from what Lua says it holds. A refused allocation makes Lua
** collect at once and try again, then raise its memory error in the
** code that asked.
** ======================================================================= */

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  luaio_alloc_t *a = ud;
  size_t old = ptr != NULL ? osize : 0;
  if (nsize > old &&
      (a->used >= a->limit || nsize - old > a->limit - a->used))
    return NULL;
  void *p = a->base(ud, ptr, osize, nsize);
  if (p != NULL || nsize == 0)
    a->used = a->used - old + nsize;
  return p;
}

/* L's allocator when luaio_newstate made it, else NULL. */
static luaio_alloc_t *alloc_of(lua_State *L) {
  void *ud;
  lua_Alloc f = lua_getallocf(L, &ud);
  if (f == lalloc || f == system_alloc || f == limited_alloc)
    return ud;
  return NULL;
}

/* What Lua counts as allocated: every live block's size. */
static size_t lua_bytes(lua_State *L) {
  int kb = lua_gc(L, LUA_GCCOUNT);
  if (kb < 0) /* inside a finalizer */
    return 0;
  return (size_t)kb * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB);
}

int luaio_setmemlimit(lua_State *L, size_t limit) {
  luaio_alloc_t *a = alloc_of(L);
  if (a == NULL)
    return LUAIO_EINVAL;
  if (limit == 0) {
    a->limit = 0;
    lua_setallocf(L, a->base, a);
    return 0;
  }
  if (a->limit == 0) {
    size_t used = lua_bytes(L);
    if (used == 0)
      return LUAIO_EINVALSTATE;
    a->used = used;
    lua_setallocf(L, limited_alloc, a);
  }
  a->limit = limit;
  return 0;
}

size_t luaio_memory(lua_State *L, size_t *limit) {
  luaio_alloc_t *a = alloc_of(L);
  if (limit != NULL)
    *limit = a != NULL ? a->limit : 0;
  return lua_bytes(L);
}

/* }====================================================================== */
