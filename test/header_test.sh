#!/bin/sh
# test/header_test.sh -- the public headers compile cleanly from C99 and C++11.
# include/calib.h (and include/calib_core.h when it exists):
#   - includes nothing but <stddef.h> and <stdint.h>;
#   - is self-contained and idempotent (included first, and twice);
#   - compiles with -std=c99 / -std=c++11 -pedantic -Werror -Wall -Wextra
#     (+ -Wshadow -Wundef), with and without -DCALIB_STATIC_LINKING_ONLY,
#     under gcc/g++ and, when installed, clang/clang++;
#   - links against lib/libcalib.a, and the program runs (version macros
#     match the library, a fitter is created, a model applied).
# Exits 0 on success, 1 on the first failure.
set -eu
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/calib-header.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
fail() { echo "header_test: FAIL: $*" >&2; exit 1; }

$MAKE --no-print-directory -s lib >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; fail "make lib"; }
# libcalib.a's private link dependencies (-lm, BLAS) from the generated calib.pc.
LIBS="lib/libcalib.a $(pkg-config --static --libs lib/calib.pc | tr ' ' '\n' | grep -v -e '^-L' -e '^-lcalib$' | tr '\n' ' ')"

HEADERS=include/calib.h
[ -f include/calib_core.h ] && HEADERS="$HEADERS include/calib_core.h"
for h in $HEADERS; do
  extra=$(grep -E '^[[:space:]]*#[[:space:]]*include' "$h" |
          grep -v -E '#[[:space:]]*include[[:space:]]*(<stddef\.h>|<stdint\.h>|"calib\.h")' || true)
  [ -z "$extra" ] || fail "$h includes more than <stddef.h> and <stdint.h>: $extra"
done

# The program: calib.h first (self-contained) and twice (include guard).
cat >"$tmp/use.c" <<'EOT'
#include "calib.h"
#include "calib.h"
#include <stdio.h>
#include <string.h>

int main(void) {
  static const float x[4] = {2.0f, -1.0f, 0.5f, 3.0f};
  static const int64_t y[4] = {1, 0, 0, 1};
  float p[4];
  calib_fitter *f = NULL;
  calib_model *m = NULL;
  int st;
  if (calib_version_number() != CALIB_VERSION_NUMBER ||
      strcmp(calib_version_string(), CALIB_VERSION_STRING) != 0) {
    printf("version mismatch: header %s, library %s\n", CALIB_VERSION_STRING, calib_version_string());
    return 1;
  }
  if ((st = calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE)) != CALIB_OK ||
      (st = calib_fit(f, x, 4, 1, y, NULL, &m)) != CALIB_OK ||
      (st = calib_apply(m, x, 4, 1, p)) != CALIB_OK) {
    printf("error: %s\n", calib_strerror(st));
    return 1;
  }
  calib_model_free(m);
  calib_fitter_free(f);
  return p[0] > 0.5f && p[1] < 0.5f ? 0 : 1;
}
EOT
cp "$tmp/use.c" "$tmp/use.cpp"
# calib_core.h alone, and after calib.h: compile only (its functions live in libcalib_core.a).
printf '#include "calib_core.h"\n#include "calib_core.h"\nint calib_header_test_dummy(void);\nint calib_header_test_dummy(void) { return 0; }\n' >"$tmp/core.c"
printf '#include "calib.h"\n#include "calib_core.h"\nint calib_header_test_dummy2(void);\nint calib_header_test_dummy2(void) { return 0; }\n' >"$tmp/core2.c"
cp "$tmp/core.c" "$tmp/core.cpp"
cp "$tmp/core2.c" "$tmp/core2.cpp"

COMMON="-pedantic -Werror -Wall -Wextra -Wshadow -Wundef -Iinclude"
n=0
check() {  # check COMPILER STD SOURCE-EXT LINK(0/1) DEFINES...
  cc=$1 std=$2 ext=$3 link=$4; shift 4
  case $ext in c) extra=-Wstrict-prototypes ;; *) extra= ;; esac
  if [ "$link" = 1 ]; then
    $cc -std=$std $COMMON $extra "$@" -o "$tmp/use" "$tmp/use.$ext" $LIBS >"$tmp/log" 2>&1 ||
      { cat "$tmp/log" >&2; fail "$cc -std=$std $* use.$ext"; }
    "$tmp/use" || fail "program built by $cc -std=$std $* did not run correctly"
  else
    for src in core core2; do
      $cc -std=$std $COMMON $extra "$@" -c -o "$tmp/$src.o" "$tmp/$src.$ext" >"$tmp/log" 2>&1 ||
        { cat "$tmp/log" >&2; fail "$cc -std=$std $* $src.$ext (calib_core.h)"; }
    done
  fi
  n=$((n + 1))
}
compilers=""
for pair in gcc:g++ clang:clang++; do
  c=${pair%%:*} cxx=${pair#*:}
  command -v "$c" >/dev/null 2>&1 && command -v "$cxx" >/dev/null 2>&1 && compilers="$compilers $pair"
done
[ -n "$compilers" ] || fail "no C/C++ compiler pair found (gcc/g++ or clang/clang++)"
for pair in $compilers; do
  c=${pair%%:*} cxx=${pair#*:}
  for def in "" -DCALIB_STATIC_LINKING_ONLY; do
    check "$c" c99 c 1 $def
    check "$cxx" c++11 cpp 1 $def
    if [ -f include/calib_core.h ]; then
      check "$c" c99 c 0 $def
      check "$cxx" c++11 cpp 0 $def
    fi
  done
done
echo "header_test: $n builds clean ($(echo $HEADERS); compilers:$compilers; C99, C++11, +/-CALIB_STATIC_LINKING_ONLY)"
