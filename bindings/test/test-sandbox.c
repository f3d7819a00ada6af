/*
** test-sandbox.c - the host's side of lsandbox.c: grants are fixed once
** the module is open, capability lists, the preset's calls, and the
** setup of to_thread's worker states.
*/
#include <stdatomic.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../../core/test/test.h"
#include "luaiolib.h"

/* Runs src in L; returns its one result as a string, or the error. */
static const char *run(lua_State *L, const char *src) {
  if (luaL_dostring(L, src) != LUA_OK || lua_isnil(L, -1))
    return lua_tostring(L, -1);
  return luaL_tolstring(L, -1, NULL);
}

TEST(capability_lists) {
  unsigned caps = 1;
  ASSERT_OK(luaio_parsecaps("", &caps));
  ASSERT_EQ(0, caps);
  ASSERT_OK(luaio_parsecaps("fs.read,net", &caps));
  ASSERT_EQ(LUAIO_CAP_FS_READ | LUAIO_CAP_NET, caps);
  ASSERT_OK(luaio_parsecaps("thread,,signal,process", &caps));
  ASSERT_EQ(LUAIO_CAP_THREAD | LUAIO_CAP_SIGNAL | LUAIO_CAP_PROCESS, caps);
  ASSERT_OK(luaio_parsecaps("all", &caps));
  ASSERT_EQ(LUAIO_CAP_ALL, caps);
  caps = 7;
  ASSERT_EQ(LUAIO_EINVAL, luaio_parsecaps("fs,files", &caps));
  ASSERT_EQ(LUAIO_EINVAL, luaio_parsecaps("fs.reads", &caps));
  ASSERT_EQ(7, caps); /* untouched on an error */
}

/* Grants go before the module opens; from then on they are fixed. */
TEST(grants_are_fixed_once_open) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  ASSERT_OK(luaio_grant(L, LUAIO_CAP_FS_READ));
  ASSERT_EQ(UV_ENOENT, luaio_grant_dir(L, "/no/such/directory"));
  ASSERT_OK(luaio_grant_dir(L, "/tmp"));
  ASSERT_EQ(LUAIO_EINVAL, luaio_grant_host(L, "example.com", 70000));
  ASSERT_OK(luaio_grant_host(L, "example.com", 0));
  luaL_requiref(L, "asyncio", luaopen_asyncio, 1);
  lua_pop(L, 1);
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_grant(L, LUAIO_CAP_ALL));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_grant_dir(L, "/"));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_grant_host(L, "localhost", 0));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_set_worker_setup(L, NULL, NULL));
  ASSERT_EQ(LUAIO_EINVALSTATE, luaio_opensandbox(L, 0));
  ASSERT_STR_EQ("asyncio.to_thread: the 'thread' capability is not granted",
                run(L, "local ok, err = pcall(asyncio.to_thread, print) "
                       "return tostring(err)"));
  /* Opening the module again keeps the grants. */
  run(L, "package.loaded.asyncio = nil asyncio = nil");
  luaL_requiref(L, "asyncio", luaopen_asyncio, 1);
  lua_pop(L, 1);
  ASSERT_STR_EQ("fs.write",
                run(L, "return select(2, pcall(asyncio.fs.mkdir, '/tmp/x'))"
                       ".capability"));
  lua_close(L);
}

TEST(preset_sets_the_limit) {
  lua_State *L = luaL_newstate();
  ASSERT_EQ(LUAIO_EINVAL, luaio_opensandbox(L, 1 << 20)); /* not ours */
  ASSERT_OK(luaio_opensandbox(L, 0));
  ASSERT_STR_EQ("nil nil", run(L, "return tostring(io) .. ' ' .. "
                                  "tostring(select(2, asyncio.memory()))"));
  lua_close(L);
  luaio_alloc_t *a;
  L = luaio_newstate(&a);
  ASSERT_OK(luaio_opensandbox(L, 8 << 20));
  size_t limit;
  ASSERT(luaio_memory(L, &limit) < limit);
  ASSERT_EQ(8 << 20, limit);
  ASSERT_STR_EQ("false not enough memory",
                run(L, "local ok, e = pcall(string.rep, 'x', 9 << 20) "
                       "return tostring(ok) .. ' ' .. e"));
  luaio_closestate(L, a);
}

static atomic_int setups;

static void setup(lua_State *W, void *ud) {
  atomic_fetch_add(&setups, 1);
  lua_pushstring(W, ud);
  lua_setglobal(W, "from_host");
}

static void failing_setup(lua_State *W, void *ud) {
  (void)ud;
  luaL_error(W, "no workers today");
}

static const char *to_thread =
    "return asyncio.run(function() "
    "  local ok, v = pcall(asyncio.to_thread, function() "
    "    return from_host, io == nil end) "
    "  return tostring(v) "
    "end)";

TEST(worker_states_run_the_host_setup) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  atomic_store(&setups, 0);
  static char hello[] = "hello";
  ASSERT_OK(luaio_set_worker_setup(L, setup, hello));
  luaL_requiref(L, "asyncio", luaopen_asyncio, 1);
  lua_pop(L, 1);
  ASSERT_STR_EQ("hello", run(L, to_thread));
  ASSERT_STR_EQ("hello", run(L, to_thread));
  ASSERT_EQ(1, atomic_load(&setups)); /* the state was used twice */
  lua_close(L);
}

TEST(worker_setup_errors_fail_the_call) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  ASSERT_OK(luaio_set_worker_setup(L, failing_setup, NULL));
  luaL_requiref(L, "asyncio", luaopen_asyncio, 1);
  lua_pop(L, 1);
  ASSERT_STR_EQ("to_thread: the host's setup of the worker state failed: "
                "no workers today",
                run(L, to_thread));
  lua_close(L);
}

static void open_asyncio(lua_State *W, void *ud) {
  (void)ud;
  luaL_requiref(W, "asyncio", luaopen_asyncio, 1);
  lua_pop(W, 1);
}

/* A worker that opens asyncio gets its caller's capabilities. */
TEST(worker_states_share_the_grants) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  ASSERT_OK(luaio_grant(L, LUAIO_CAP_FS_READ | LUAIO_CAP_THREAD));
  ASSERT_OK(luaio_set_worker_setup(L, open_asyncio, NULL));
  luaL_requiref(L, "asyncio", luaopen_asyncio, 1);
  lua_pop(L, 1);
  ASSERT_STR_EQ("fs.write",
                run(L, "return asyncio.run(function() "
                       "  return asyncio.to_thread(function() "
                       "    local ok, err = pcall(asyncio.fs.write_file, "
                       "      '/tmp/luaio-test-sandbox', 'x') "
                       "    return err.capability "
                       "  end) "
                       "end)"));
  lua_close(L);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
