#!/bin/sh
# rockspec-version.sh SOURCE_DIR VERSION - the one rockspec is named after
# the version core/luaio.h defines, and says the same inside.
set -eu

cd "$1"
set -- "$2" luaio-*.rockspec
version=$1
shift
[ $# -eq 1 ] && [ -f "$1" ] || { echo "expected one luaio-*.rockspec: $*"; exit 1; }
case "$1" in
"luaio-$version-"*.rockspec) ;;
*) echo "$1 is not named after version $version (core/luaio.h)"; exit 1 ;;
esac
rev=${1#"luaio-$version-"}
rev=${rev%.rockspec}
grep -qx "version = \"$version-$rev\"" "$1" ||
  { echo "$1 does not say version = \"$version-$rev\""; exit 1; }
echo "$1 follows version $version"
