/*
** mods_host.c - a host that runs two mods it does not trust, each in a
** Lua state of its own with the sandbox preset, its own capabilities and
** a memory limit, stepping both from its frame loop. One mod keeps a
** diary in a directory the host gives it; the other tries to escape,
** then to eat the host's memory. The host survives, the diarist keeps
** writing, and the hostile mod ends with a clear error.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "luaiolib.h"

#define MOD_MEMORY (8u << 20)

static const char *diarist =
    "local dir = ...\n"
    "for day = 1, 5 do\n"
    "  asyncio.fs.write_file(dir .. '/diary.txt',\n"
    "    (day > 1 and asyncio.fs.read_file(dir .. '/diary.txt') or '')\n"
    "    .. 'day ' .. day .. '\\n')\n"
    "  asyncio.sleep(0)\n"
    "end\n"
    "local _, n = asyncio.fs.read_file(dir .. '/diary.txt'):gsub('\\n', '')\n"
    "return n .. ' days written'\n";

static const char *hostile =
    "local dir = ...\n"
    "local function try(what, fn)\n"
    "  local ok, err = pcall(fn)\n"
    "  print('griefer: ' .. what .. ': ' .. (ok and 'got through!' or\n"
    "        tostring(err):gsub('^[^:]*:%d+: ', '')))\n"
    "end\n"
    "try('write /etc', function()\n"
    "  asyncio.fs.write_file('/etc/owned', 'x') end)\n"
    "try('read the diary', function()\n"
    "  asyncio.fs.read_file(dir .. '/diary.txt') end)\n"
    "try('shell', function() asyncio.create_subprocess_shell('id') end)\n"
    "try('listen', function()\n"
    "  asyncio.start_server(print, '0.0.0.0', 0) end)\n"
    "try('thread', function()\n"
    "  asyncio.to_thread(function() os.execute('id') end) end)\n"
    "try('os.exit', function() os.exit(1) end)\n"
    "try('binary chunk', function()\n"
    "  assert(load(string.dump(function() end))) end)\n"
    "try('string methods', function()\n"
    "  getmetatable('').__index.rep = nil end)\n"
    "try('task methods', function()\n"
    "  getmetatable(asyncio.current_task()).__index.exception = nil end)\n"
    "try('raise the memory limit', function()\n"
    "  asyncio.set_memory_limit(1 << 40) end)\n"
    "print('griefer: now eating memory')\n"
    "local hoard = {}\n"
    "for i = 1, math.huge do hoard[i] = ('x'):rep(64) .. i end\n";

typedef struct {
  const char *name;
  lua_State *L;
  luaio_alloc_t *alloc;
  int task; /* registry ref to the mod's main Task */
} mod;

/* Opens a sandboxed state for m with caps (and dir for fs), then starts
** src as a task given dir. Returns 0, or -1 after saying why. */
static int mod_start(mod *m, const char *src, unsigned caps, const char *dir) {
  m->L = luaio_newstate(&m->alloc);
  if (m->L == NULL)
    return -1;
  lua_State *L = m->L;
  if (luaio_grant(L, caps) != 0 ||
      (dir != NULL && luaio_grant_dir(L, dir) != 0) ||
      luaio_opensandbox(L, MOD_MEMORY) != 0 || luaio_host_open(L, NULL) != 0) {
    fprintf(stderr, "%s: cannot open its state\n", m->name);
    return -1;
  }
  /* create_task(function() return chunk(dir) end), through the host's
  ** own reference to create_task, taken before the mod runs. */
  lua_getglobal(L, "asyncio");
  lua_getfield(L, -1, "create_task");
  luaL_loadstring(L, "local chunk, dir = ... "
                     "return function() return chunk(dir) end");
  if (luaL_loadbuffer(L, src, strlen(src), m->name) != LUA_OK) {
    fprintf(stderr, "%s: %s\n", m->name, lua_tostring(L, -1));
    return -1;
  }
  lua_pushstring(L, dir);
  lua_call(L, 2, 1);
  lua_call(L, 1, 1);
  m->task = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  return 0;
}

/* Prints how m's task ended, read through the Task's own methods: the
** sandbox keeps the mod from changing them. */
static void mod_report(mod *m) {
  lua_State *L = m->L;
  luaL_loadstring(L, "local t = ... "
                     "if not t:done() then return 'still running' end "
                     "local err = t:exception() "
                     "if err then return 'ended with an error: ' .. "
                     "tostring(err) end "
                     "return 'finished: ' .. tostring(t:result())");
  lua_rawgeti(L, LUA_REGISTRYINDEX, m->task);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK)
    printf("%s: cannot tell: %s\n", m->name, lua_tostring(L, -1));
  else
    printf("%s: %s\n", m->name, lua_tostring(L, -1));
  lua_pop(L, 1);
}

static void mod_close(mod *m) {
  if (m->L == NULL)
    return;
  luaio_host_close(m->L);
  luaio_closestate(m->L, m->alloc);
  m->L = NULL;
}

int main(void) {
  char dir[] = "/tmp/luaio-mods-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  mod mods[2] = {{"diarist", NULL, NULL, 0}, {"griefer", NULL, NULL, 0}};
  int status = 1;
  if (mod_start(&mods[0], diarist, LUAIO_CAP_FS, dir) != 0 ||
      mod_start(&mods[1], hostile, 0, dir) != 0)
    goto done;
  int live;
  do {
    live = 0;
    for (int i = 0; i < 2; i++) {
      int n = luaio_host_step(mods[i].L);
      live += n > 0 ? n : 0;
    }
    usleep(1000); /* the host renders its frame here */
  } while (live > 0);
  for (int i = 0; i < 2; i++)
    mod_report(&mods[i]);
  size_t limit;
  size_t used = luaio_memory(mods[1].L, &limit);
  printf("griefer's memory stayed under its limit: %s\n",
         used <= limit ? "yes" : "no");
  printf("host: still here\n");
  status = 0;
done:
  for (int i = 0; i < 2; i++)
    mod_close(&mods[i]);
  char path[sizeof dir + 16];
  snprintf(path, sizeof path, "%s/diary.txt", dir);
  unlink(path);
  rmdir(dir);
  return status;
}
