-- luaio-0.1.0-1.rockspec - `luarocks make` in the source tree builds the
-- asyncio module with CMake against the system's Lua 5.4 and libuv, and
-- installs it, with the manual page and the editor type definitions in
-- the rock's directory (`luarocks show luaio` names it).
-- The version must be the one core/luaio.h defines (ctest checks it).
rockspec_format = "3.0"
package = "luaio"
version = "0.1.0-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "asyncio-style concurrency for Lua 5.4 on libuv",
  license = "MIT",
  detailed = [[
The asyncio module: tasks, gather, timeouts, cancellation, queues, locks,
streams, subprocesses and files on a libuv event loop, with the names and
behaviour of Python's asyncio. Lua coroutines are stackful, so any
function may suspend while it runs inside a task.]],
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  LIBUV = { header = "uv.h" },
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    BUILD_TESTING = "OFF",
    LUAIO_MODULE_ONLY = "ON",
    LUAIO_LUA_CMOD_DIR = "$(LIBDIR)",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
  },
  copy_directories = { "docs", "types" },
}
