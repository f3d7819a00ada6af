#!/bin/sh
# install.sh BUILD_DIR SOURCE_DIR - installs a build into a temporary
# DESTDIR with prefix /usr/local, then uses only the installed files:
# checks the layout and the exported symbols, builds test/host/host.c with
# pkg-config and with find_package(luaio), each against the shared and the
# static library, and runs them; requires asyncio from a stock lua5.4 with
# its default search path moved under DESTDIR; runs the installed luaio
# on an example; uninstalls from the manifest.
set -eu

build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/luaio-install.XXXXXX")
manifest=$build/install_manifest.txt
# The install writes the build's install_manifest.txt: keep the one a real
# install left, so that `make uninstall` still removes that one.
saved=
if [ -f "$manifest" ]; then
  saved=$tmp/manifest.saved
  cp "$manifest" "$saved"
fi
cleanup() {
  if [ -n "$saved" ]; then cp "$saved" "$manifest"; else rm -f "$manifest"; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

dest=$tmp/dest
prefix=/usr/local
p=$dest$prefix
DESTDIR=$dest cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
  { cat "$tmp/install.log"; fail "cmake --install"; }

echo "== layout"
outside=$(find "$dest" -mindepth 1 ! -path "$dest/usr" ! -path "$dest/usr/local" \
  ! -path "$p/*")
[ -z "$outside" ] || fail "installed outside the prefix: $outside"
version=$("$p/bin/luaio" -v | sed -n 's/^luaio \([0-9.]*\) .*/\1/p')
[ -n "$version" ] || fail "luaio -v names no version"
major=${version%%.*}
minor=${version#*.}
minor=${minor%%.*}
soversion=$major
[ "$major" != 0 ] || soversion=0.$minor
for f in bin/luaio lib/lua/5.4/asyncio.so lib/libluaio.a \
  lib/libluaio.so lib/libluaio.so.$soversion lib/libluaio.so.$version \
  include/luaio/luaio.h include/luaio/luaiolib.h \
  lib/pkgconfig/luaio.pc lib/pkgconfig/luaio-static.pc \
  lib/cmake/luaio/luaioConfig.cmake lib/cmake/luaio/luaioConfigVersion.cmake \
  share/man/man1/luaio.1 share/luaio/types/config.json \
  share/luaio/types/library/asyncio.lua share/doc/luaio/LICENSE; do
  [ -e "$p/$f" ] || fail "not installed: $prefix/$f"
done
# Every header the installed ones include is installed too.
for h in "$p"/include/luaio/*.h; do
  for inc in $(sed -n 's/^#include "\(luaio[^"]*\.h\)".*/\1/p' "$h"); do
    [ -e "$p/include/luaio/$inc" ] || fail "$(basename "$h") includes $inc, not installed"
  done
done
soname=$(readelf -d "$p/lib/libluaio.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libluaio.so.$soversion" ] || fail "soname is '$soname'"
echo "soname $soname"
# Nothing installed looks for libraries in the source or build tree.
for f in "$p/bin/luaio" "$p/lib/lua/5.4/asyncio.so" "$p/lib/libluaio.so"; do
  if readelf -d "$f" | grep -E 'R(UN)?PATH' | grep -qE "$src|$build"; then
    fail "$f searches the source or build tree: $(readelf -d "$f" | grep PATH)"
  fi
done

echo "== exported symbols"
nm -D --defined-only "$p/lib/libluaio.so" | awk '{ print $3 }' >"$tmp/syms"
others=$(grep -vE '^(luaio_|luaopen_)' "$tmp/syms" || true)
[ -z "$others" ] || fail "libluaio.so exports other symbols: $others"
for s in luaopen_asyncio luaio_version luaio_loop_new luaio_host_open; do
  grep -qx "$s" "$tmp/syms" || fail "libluaio.so does not export $s"
done
echo "$(wc -l <"$tmp/syms") symbols, all luaio_* or luaopen_*"

expected=$src/test/host/host.expected
# $1: the program; $2: "shared" or "static", what it must (not) need.
run_host() {
  if [ "$2" = shared ]; then
    readelf -d "$1" | grep -q "NEEDED.*libluaio\.so\.$soversion" ||
      fail "$1 does not load libluaio.so.$soversion"
  else
    ! readelf -d "$1" | grep -q 'NEEDED.*libluaio' ||
      fail "$1 loads libluaio although linked statically"
  fi
  LD_LIBRARY_PATH=$p/lib "$1" >"$tmp/out" || fail "$1 failed"
  diff -u "$expected" "$tmp/out" || fail "$1: unexpected output"
  echo "ok $(basename "$1") ($2)"
}

echo "== pkg-config"
export PKG_CONFIG_PATH="$p/lib/pkgconfig"
[ "$(pkg-config --modversion luaio)" = "$version" ] || fail "luaio.pc version"
cc=${CC:-cc}
# shellcheck disable=SC2046 # pkg-config's output is a list of words
$cc -o "$tmp/pc_shared" "$src/test/host/host.c" \
  $(pkg-config --cflags --libs luaio) || fail "build with luaio.pc"
# shellcheck disable=SC2046
$cc -o "$tmp/pc_static" "$src/test/host/host.c" \
  $(pkg-config --cflags --libs luaio-static) || fail "build with luaio-static.pc"
run_host "$tmp/pc_shared" shared
run_host "$tmp/pc_static" static
unset PKG_CONFIG_PATH

echo "== find_package(luaio)"
cmake -S "$src/test/host" -B "$tmp/host" -DCMAKE_PREFIX_PATH="$p" \
  -DLUAIO_EXPECTED_VERSION="$version" >"$tmp/host.log" 2>&1 ||
  { cat "$tmp/host.log"; fail "configure with find_package(luaio)"; }
cmake --build "$tmp/host" >>"$tmp/host.log" 2>&1 ||
  { cat "$tmp/host.log"; fail "build with find_package(luaio)"; }
run_host "$tmp/host/host_shared" shared
run_host "$tmp/host/host_static" static

echo "== lua5.4 -e 'require \"asyncio\"'"
# Debian's lua5.4 searches /usr/local/lib/lua/5.4 by default; the same
# search path, moved under DESTDIR, must find the installed module.
cpath=$(lua5.4 -e 'io.write(package.cpath)')
case ";$cpath;" in
*";$prefix/lib/lua/5.4/?.so;"*) ;;
*) fail "lua5.4 does not search $prefix/lib/lua/5.4 ($cpath)" ;;
esac
(cd "$tmp" && LUA_CPATH=$(printf '%s' "$cpath" | sed "s#$prefix/#$p/#g") \
  MODULE=$p/lib/lua/5.4/asyncio.so VERSION=$version lua5.4 -e '
    local asyncio = require "asyncio"
    local where = package.searchpath("asyncio", package.cpath)
    assert(where == os.getenv("MODULE"), where)
    assert(asyncio._VERSION == os.getenv("VERSION"), asyncio._VERSION)
    assert(asyncio.run(function() asyncio.sleep(0); return 42 end) == 42)
    print("required " .. where)') ||
  fail "require \"asyncio\" from the installed module"

echo "== the installed luaio"
cp "$src/examples/producer_consumer.lua" "$tmp/example.lua"
(cd "$tmp" && "$p/bin/luaio" example.lua >"$tmp/out") || fail "luaio example.lua"
diff -u "$src/examples/producer_consumer.expected" "$tmp/out" ||
  fail "luaio example.lua: unexpected output"
echo "ok producer_consumer.lua"
# The manual page describes every option that --help lists.
"$p/bin/luaio" --help | sed -n 's/^  *\(-[-A-Za-z]*\).*/\1/p' | sort -u >"$tmp/opts"
[ -s "$tmp/opts" ] || fail "luaio --help lists no option"
while read -r opt; do
  grep -qF -- "$(printf '%s' "$opt" | sed 's/-/\\-/g')" "$p/share/man/man1/luaio.1" ||
    fail "luaio.1 does not describe $opt (luaio --help lists it)"
done <"$tmp/opts"
echo "ok luaio.1 describes $(wc -l <"$tmp/opts") options"

echo "== uninstall"
DESTDIR=$dest cmake -DMANIFEST="$manifest" -P "$src/cmake/uninstall.cmake" >"$tmp/uninstall.log" ||
  { cat "$tmp/uninstall.log"; fail "uninstall"; }
left=$(find "$dest" ! -type d)
[ -z "$left" ] || fail "left after uninstall: $left"
for d in include/luaio lib/cmake/luaio share/luaio; do
  [ ! -e "$p/$d" ] || fail "left after uninstall: $prefix/$d"
done
echo "ok: nothing left"
