#!/bin/sh
# test/install_test.sh -- `make install` / `make uninstall` into temporary
# directories, and the examples built and run against the INSTALLED copy.
#   1. DESTDIR staging (PREFIX=/usr DESTDIR=tmp/stage): every file lands under
#      DESTDIR/PREFIX, calib.pc names the final PREFIX; uninstall removes them.
#   2. PREFIX=tmp/usr: exact file list, SONAME and symlinks, calib_ prefix of
#      every exported (.so) and defined global (.a) symbol; examples/c and
#      examples/cpp built with pkg-config shared and static (STATIC=1) and run;
#      ldd shows the shared binaries use tmp/usr/lib/libcalib.so.MAJOR and the
#      static ones no libcalib.so at all; uninstall leaves no file behind.
# Run from anywhere; exits 0 on success, 1 on the first failure.
set -eu
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
M="$MAKE --no-print-directory"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/calib-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
log=$tmp/log

fail() { echo "install_test: FAIL: $*" >&2; exit 1; }
ok() { echo "install_test: ok   $*"; }
run() { "$@" >"$log" 2>&1 || { tail -30 "$log" | sed 's/^/    /' >&2; fail "$*"; }; }
for tool in pkg-config readelf nm ldd "${CXX:-c++}"; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (make deps)"
done

VERSION=$(sed -n 's/^#define CALIB_VERSION_STRING "\(.*\)".*/\1/p' include/calib.h)
MAJOR=${VERSION%%.*}
[ -n "$VERSION" ] || fail "cannot read CALIB_VERSION_STRING from include/calib.h"
HEADERS="calib.h"
[ -f include/calib_core.h ] && HEADERS="$HEADERS calib_core.h"
[ -f include/calib.hpp ] && HEADERS="$HEADERS calib.hpp"

# Build first with default variables, so `install` (which depends on `all`)
# only copies.
run $M all

# expected_files ROOT: the installed files, sorted, one per line.
expected_files() {
  { for h in $HEADERS; do echo "$1/include/$h"; done
    for f in libcalib.a libcalib.so libcalib.so.$MAJOR libcalib.so.$VERSION pkgconfig/calib.pc; do
      echo "$1/lib/$f"; done
    echo "$1/bin/calib"; } | sort
}
installed_files() { find "$1" \( -type f -o -type l \) | sort; }

# ---- 1. DESTDIR staging ------------------------------------------------------
stage=$tmp/stage
run $M install PREFIX=/usr DESTDIR="$stage"
[ "$(ls -A "$stage")" = usr ] || fail "DESTDIR install wrote outside DESTDIR/PREFIX: $(ls -A "$stage")"
expected_files "$stage/usr" >"$tmp/want"
installed_files "$stage" >"$tmp/got"
cmp -s "$tmp/want" "$tmp/got" || fail "DESTDIR install file list: $(diff "$tmp/want" "$tmp/got" | tr '\n' ' ')"
grep -qx 'prefix=/usr' "$stage/usr/lib/pkgconfig/calib.pc" || fail "staged calib.pc: prefix is not /usr"
grep -qx 'libdir=/usr/lib' "$stage/usr/lib/pkgconfig/calib.pc" || fail "staged calib.pc: libdir is not /usr/lib"
grep -q "$stage" "$stage/usr/lib/pkgconfig/calib.pc" && fail "staged calib.pc mentions DESTDIR"
run $M uninstall PREFIX=/usr DESTDIR="$stage"
[ -z "$(installed_files "$stage")" ] || fail "DESTDIR uninstall left: $(installed_files "$stage" | tr '\n' ' ')"
ok "DESTDIR=$stage PREFIX=/usr: install lands under DESTDIR/PREFIX, uninstall removes it"

# ---- 2. install into a prefix ------------------------------------------------
P=$tmp/usr
L=$P/lib
run $M install PREFIX="$P"
expected_files "$P" >"$tmp/want"
installed_files "$P" >"$tmp/got"
cmp -s "$tmp/want" "$tmp/got" || fail "install file list: $(diff "$tmp/want" "$tmp/got" | tr '\n' ' ')"
for h in $HEADERS; do cmp -s "include/$h" "$P/include/$h" || fail "installed $h differs from include/$h"; done
ok "PREFIX=$P: $(wc -l <"$tmp/got") files installed"

soname=$(readelf -d "$L/libcalib.so.$VERSION" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[ "$soname" = "libcalib.so.$MAJOR" ] || fail "SONAME is '$soname', expected libcalib.so.$MAJOR"
[ -L "$L/libcalib.so.$MAJOR" ] && [ "$(readlink "$L/libcalib.so.$MAJOR")" = "libcalib.so.$VERSION" ] ||
  fail "libcalib.so.$MAJOR is not a symlink to libcalib.so.$VERSION"
[ -L "$L/libcalib.so" ] && [ "$(readlink "$L/libcalib.so")" = "libcalib.so.$MAJOR" ] ||
  fail "libcalib.so is not a symlink to libcalib.so.$MAJOR"
[ -f "$L/libcalib.so.$VERSION" ] && [ ! -L "$L/libcalib.so.$VERSION" ] || fail "libcalib.so.$VERSION is not a file"
ok "SONAME $soname, symlinks libcalib.so -> libcalib.so.$MAJOR -> libcalib.so.$VERSION"

# Symbols: everything the .so exports and every global the .a defines starts
# with calib_ (internal ones with calib__).
nm -D --defined-only "$L/libcalib.so.$VERSION" | awk 'NF >= 3 { print $3 }' >"$tmp/dsyms"
[ -s "$tmp/dsyms" ] || fail "nm -D found no exported symbol in libcalib.so"
bad=$(grep -v '^calib_' "$tmp/dsyms" || true)
[ -z "$bad" ] || fail "libcalib.so exports symbols without the calib_ prefix: $(echo $bad)"
nm -g --defined-only "$L/libcalib.a" | awk 'NF >= 3 && $2 ~ /^[A-Z]$/ { print $3 }' | sort -u >"$tmp/ssyms"
[ -s "$tmp/ssyms" ] || fail "nm found no global symbol in libcalib.a"
bad=$(grep -v '^calib_' "$tmp/ssyms" || true)
[ -z "$bad" ] || fail "libcalib.a defines globals without the calib_ prefix: $(echo $bad)"
ok "symbols: $(wc -l <"$tmp/dsyms") exported by the .so, $(wc -l <"$tmp/ssyms") globals in the .a, all calib_*"

# pkg-config must find the installed calib.pc first.
PKG_CONFIG_PATH=$L/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
[ "$(pkg-config --modversion calib)" = "$VERSION" ] || fail "pkg-config --modversion calib != $VERSION"
[ "$(pkg-config --variable=libdir calib)" = "$L" ] || fail "pkg-config libdir is not $L"
pkg-config --cflags calib | grep -q -- "-I$P/include" || fail "pkg-config --cflags lacks -I$P/include"

# The examples against the installed copy: shared, then static.
ex=$tmp/examples
run $M -C examples BUILDDIR="$ex"
grep -q -- "-I$P/include" "$log" && grep -q -- "-L$L" "$log" || fail "examples were not built with the installed flags"
for b in calibrate-c calibrate-cpp; do
  readelf -d "$ex/$b" | grep -q "NEEDED.*\[libcalib.so.$MAJOR\]" || fail "$b does not need libcalib.so.$MAJOR"
  where=$(LD_LIBRARY_PATH=$L ldd "$ex/$b" | awk '$1 == "libcalib.so.'"$MAJOR"'" { print $3 }')
  [ "$where" = "$L/libcalib.so.$MAJOR" ] || fail "$b loads libcalib from '$where', not $L"
  LD_LIBRARY_PATH=$L "$ex/$b" >"$log" 2>&1 || fail "$b (shared) exited non-zero"
  grep -q "reloaded identically" "$log" || fail "$b (shared): unexpected output"
done
ok "examples (shared) build with pkg-config and run on $L/libcalib.so.$MAJOR"

run $M -C examples BUILDDIR="$ex" STATIC=1
grep -q -- "-Wl,-Bstatic -lcalib -Wl,-Bdynamic" "$log" || fail "static examples did not link -lcalib statically"
for b in calibrate-c-static calibrate-cpp-static; do
  readelf -d "$ex/$b" | grep -q 'NEEDED.*libcalib' && fail "$b needs libcalib.so"
  ldd "$ex/$b" 2>&1 | grep -q libcalib && fail "ldd: $b loads libcalib.so"
  nm "$ex/$b" | grep -q ' T calib_fit$' || fail "$b does not contain calib_fit from libcalib.a"
  env -u LD_LIBRARY_PATH "$ex/$b" >"$log" 2>&1 || fail "$b (static) exited non-zero"
  grep -q "reloaded identically" "$log" || fail "$b (static): unexpected output"
done
ok "examples (STATIC=1) link $L/libcalib.a and need no libcalib.so"

run $M uninstall PREFIX="$P"
[ -z "$(installed_files "$P")" ] || fail "uninstall left: $(installed_files "$P" | tr '\n' ' ')"
ok "uninstall removed every installed file"
echo "install_test: all checks passed"
