/*
** test-lalloc.c - the size-class allocator of luaio_newstate (lalloc.c),
** called directly through lua_getallocf, and the memory limit. Under
** ASan the state uses the system allocator instead, and only what holds
** for any allocator is checked.
*/
#include <stdint.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>

#include "../../core/test/test.h"
#include "luaiolib.h"

/* ASan must see every block: luaio_newstate then takes the system's. */
#if defined(__SANITIZE_ADDRESS__)
#define SYSTEM_ALLOC 1
#else
#define SYSTEM_ALLOC 0
#endif

static lua_State *L;
static luaio_alloc_t *A;
static lua_Alloc f;
static void *ud;

static void open_state(void) {
  unsetenv("LUAIO_ALLOC"); /* the valgrind run sets it; test the slab */
  L = luaio_newstate(&A);
  ASSERT_NOT_NULL(L);
  f = lua_getallocf(L, &ud);
}

static void close_state(void) {
  luaio_closestate(L, A);
  L = NULL;
  A = NULL;
}

static void *alloc(size_t n) { return f(ud, NULL, LUA_TTABLE, n); }
static void release(void *p, size_t n) { f(ud, p, n, 0); }
static void *resize(void *p, size_t o, size_t n) { return f(ud, p, o, n); }

static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    p[i] = (unsigned char)(seed * 31u + i);
}

static int intact(const unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(seed * 31u + i))
      return 0;
  return 1;
}

#define NBLOCKS 3000

/* Blocks of every small size, many chunks' worth: each is 16-byte
** aligned and none overlaps another (each keeps its own pattern). */
TEST(blocks_are_aligned_and_distinct) {
  open_state();
  if (SYSTEM_ALLOC) {
    close_state();
    return; /* system allocator */
  }
  static unsigned char *p[NBLOCKS];
  static size_t n[NBLOCKS];
  for (unsigned i = 0; i < NBLOCKS; i++) {
    n[i] = 1 + (i * 37u) % 1100; /* small ones and a few large */
    p[i] = alloc(n[i]);
    ASSERT_NOT_NULL(p[i]);
    ASSERT_EQ(0, (uintptr_t)p[i] % 16);
    fill(p[i], n[i], i);
  }
  for (unsigned i = 0; i < NBLOCKS; i++)
    ASSERT(intact(p[i], n[i], i));
  for (unsigned i = 0; i < NBLOCKS; i++)
    release(p[i], n[i]);
  close_state();
}

/* A freed block is the next one handed out for its size class. */
TEST(freed_blocks_are_reused) {
  open_state();
  if (SYSTEM_ALLOC) {
    close_state();
    return;
  }
  void *a = alloc(100), *b = alloc(100);
  ASSERT_PTR_NE(a, b);
  release(a, 100);
  ASSERT_PTR_EQ(a, alloc(97)); /* same class: 97..112 bytes */
  void *c = alloc(100);
  ASSERT_PTR_NE(a, c);
  ASSERT_PTR_NE(b, c);
  release(a, 97);
  release(b, 100);
  release(c, 100);
  close_state();
}

/* Past a few MiB the chunks come from mmap, 2 MiB at a time: blocks
** stay distinct across the change and the state closes cleanly. */
TEST(large_heaps_take_mapped_chunks) {
  open_state();
  if (SYSTEM_ALLOC) {
    close_state();
    return;
  }
  enum { N = 40000, SIZE = 320 }; /* 12.8 MB of blocks */
  unsigned char **p = malloc(N * sizeof *p);
  ASSERT_NOT_NULL(p);
  for (unsigned i = 0; i < N; i++) {
    p[i] = alloc(SIZE);
    ASSERT_NOT_NULL(p[i]);
    ASSERT_EQ(0, (uintptr_t)p[i] % 16);
    fill(p[i], SIZE, i);
  }
  for (unsigned i = 0; i < N; i++)
    ASSERT(intact(p[i], SIZE, i));
  for (unsigned i = 0; i < N; i += 2) /* half back, then reused */
    release(p[i], SIZE);
  for (unsigned i = 0; i < N; i += 2) {
    p[i] = alloc(SIZE);
    fill(p[i], SIZE, i);
  }
  for (unsigned i = 0; i < N; i++)
    ASSERT(intact(p[i], SIZE, i));
  free(p);
  close_state();
}

/* Growing and shrinking keep the contents: within a class, between
** classes, and across the line to and from malloc's blocks. */
TEST(resize_keeps_contents) {
  open_state();
  unsigned char *p = alloc(20);
  fill(p, 20, 7);
  unsigned char *q = resize(p, 20, 30);
  if (!SYSTEM_ALLOC)
    ASSERT_PTR_EQ(p, q); /* same class: stays */
  p = resize(q, 30, 200);
  ASSERT(intact(p, 20, 7));
  fill(p, 200, 8);
  p = resize(p, 200, 5000);
  ASSERT(intact(p, 200, 8));
  fill(p, 5000, 9);
  p = resize(p, 5000, 9000);
  ASSERT(intact(p, 5000, 9));
  p = resize(p, 9000, 40);
  ASSERT(intact(p, 40, 9));
  release(p, 40);
  ASSERT_NULL(alloc(0));
  close_state();
}

/* A whole Lua state runs on it: many tables and strings, collected. */
TEST(state_runs_and_collects) {
  open_state();
  for (int i = 0; i < 20000; i++) {
    lua_createtable(L, i % 7, i % 3);
    lua_pushfstring(L, "s%d", i);
    lua_setfield(L, -2, "k");
    lua_pop(L, 1);
  }
  lua_gc(L, LUA_GCCOLLECT);
  ASSERT(lua_gc(L, LUA_GCCOUNT) < 1024); /* KiB: the garbage is gone */
  close_state();
}

/* Grows a table to n integer keys; protected. */
static int grow(lua_State *S) {
  lua_Integer n = lua_tointeger(S, 1);
  lua_newtable(S);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_pushinteger(S, i);
    lua_rawseti(S, -2, i);
  }
  return 1;
}

static int pgrow(lua_Integer n) {
  lua_pushcfunction(L, grow);
  lua_pushinteger(L, n);
  int rc = lua_pcall(L, 1, 0, 0);
  if (rc != LUA_OK)
    lua_pop(L, 1);
  return rc;
}

/* Past the limit an allocation fails with a memory error the caller can
** catch; the state goes on, the count stays exact, and the limit can
** be raised, lowered and removed while the state lives. */
TEST(memory_limit_refuses_then_recovers) {
  open_state();
  lua_gc(L, LUA_GCCOLLECT);
  size_t limit = 1;
  size_t base = luaio_memory(L, &limit);
  ASSERT_EQ(0, limit); /* none yet */
  ASSERT(base > 0);
  ASSERT_OK(luaio_setmemlimit(L, base + 256 * 1024));
  luaio_memory(L, &limit);
  ASSERT_EQ(base + 256 * 1024, limit);
  ASSERT_EQ(LUA_ERRMEM, pgrow(1000000)); /* about 16 MB */
  ASSERT(luaio_memory(L, NULL) <= limit);
  ASSERT_OK(pgrow(1000)); /* what is freed is counted back */
  lua_gc(L, LUA_GCCOLLECT);
  ASSERT(luaio_memory(L, NULL) < base + 4096);
  ASSERT_OK(luaio_setmemlimit(L, base + 32 * 1024 * 1024)); /* raised */
  ASSERT_OK(pgrow(1000000));
  lua_gc(L, LUA_GCCOLLECT);
  ASSERT_OK(luaio_setmemlimit(L, 0)); /* removed */
  luaio_memory(L, &limit);
  ASSERT_EQ(0, limit);
  ASSERT_OK(pgrow(2000000));
  lua_gc(L, LUA_GCCOLLECT);
  ASSERT_OK(luaio_setmemlimit(L, luaio_memory(L, NULL) + 1024)); /* again */
  ASSERT_EQ(LUA_ERRMEM, pgrow(100000));
  close_state();
}

/* A state made elsewhere has an allocator luaio does not know. */
TEST(memory_limit_needs_luaio_state) {
  lua_State *S = luaL_newstate();
  ASSERT_NOT_NULL(S);
  ASSERT_EQ(LUAIO_EINVAL, luaio_setmemlimit(S, 1 << 20));
  size_t limit = 1;
  ASSERT(luaio_memory(S, &limit) > 0);
  ASSERT_EQ(0, limit);
  lua_close(S);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
