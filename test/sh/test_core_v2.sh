#!/bin/sh
# test/sh/test_core_v2.sh [PYTHON] -- the firmware core (lib/libcalib_core.a,
# built with CALIB_CORE by `make core`) loads model format version 2 without
# reading its metadata, and applies it exactly: test/core/core_v2.c, linked
# against the core archive and libm only (see that file for the cases).
set -u
cd "$(dirname "$0")/../.." || exit 1
MAKE=${MAKE:-make}
CC=${CC:-cc}
if ! $MAKE --no-print-directory -s core >/tmp/calib_core_v2_build.$$ 2>&1; then
  echo "test_core_v2: make core failed:"
  tail -20 /tmp/calib_core_v2_build.$$
  rm -f /tmp/calib_core_v2_build.$$
  exit 1
fi
rm -f /tmp/calib_core_v2_build.$$
mkdir -p build/test_core_v2
out=build/test_core_v2/core_v2
if ! $CC -std=c99 -Wall -Wextra -Wno-unused-function -O1 -g -Iinclude -Isrc/common -Isrc/kernels -Itest \
     -D_POSIX_C_SOURCE=200809L -o "$out" test/core/core_v2.c lib/libcalib_core.a -lm; then
  echo "test_core_v2: test/core/core_v2.c does not build against lib/libcalib_core.a"
  exit 1
fi
"$out"
