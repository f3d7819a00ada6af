#!/bin/sh
# luarocks.sh SOURCE_DIR - `luarocks make` of the rockspec in a copy of the
# source tree, into a temporary tree, then `require "asyncio"` from that
# tree with a stock lua5.4. Exit 77 (skipped) without luarocks.
set -eu

src=$(cd "$1" && pwd)
if ! command -v luarocks >/dev/null 2>&1; then
  echo "skipped: luarocks is not installed (Debian package luarocks;" \
    "make test installs it when run as root)"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/luaio-luarocks.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# A copy, so that the build (in build.luarocks/) stays out of the tree.
mkdir "$tmp/src"
tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . |
  tar -C "$tmp/src" -xf -
set -- "$tmp"/src/luaio-*.rockspec
[ $# -eq 1 ] && [ -f "$1" ] || fail "expected one luaio-*.rockspec, found: $*"
rockspec=$(basename "$1")
echo "== luarocks lint $rockspec"
(cd "$tmp/src" && HOME=$tmp/home luarocks lint "$rockspec") ||
  fail "luarocks lint $rockspec"
echo "== luarocks make $rockspec"
(cd "$tmp/src" && HOME=$tmp/home CMAKE_BUILD_PARALLEL_LEVEL=2 \
  luarocks --lua-version=5.4 make --tree "$tmp/tree" "$rockspec") \
  >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "luarocks make"; }
tail -n 1 "$tmp/log"

rock=$tmp/tree/lib/luarocks/rocks-5.4/luaio
for f in docs/luaio.1 types/library/asyncio.lua; do
  [ -f "$rock"/*/"$f" ] || fail "the rock has no $f"
done

echo "== require \"asyncio\" from the tree"
module=$tmp/tree/lib/lua/5.4/asyncio.so
[ -f "$module" ] || fail "no $module"
(cd "$tmp" && LUA_CPATH="$tmp/tree/lib/lua/5.4/?.so" MODULE=$module \
  lua5.4 -e '
    local asyncio = require "asyncio"
    local where = package.searchpath("asyncio", package.cpath)
    assert(where == os.getenv("MODULE"), where)
    local got = asyncio.run(function()
      local r = asyncio.gather(function() asyncio.sleep(0); return "a" end,
                               function() return "b" end)
      return r[1] .. r[2]
    end)
    assert(got == "ab", got)
    print("required " .. where .. ", version " .. asyncio._VERSION)') ||
  fail "require \"asyncio\" from the LuaRocks tree"
