#!/bin/sh
# test/sh/test_cpp.sh PYTHON -- include/calib.hpp compiles warning-free as
# C++17 with g++ and clang++ (-Wall -Wextra -Werror -pedantic) and its test
# passes with each (test/cpp/test_calib_hpp.cpp, linked to lib/libcalib.a).
# A missing compiler is a failure: .ci/deps.sh installs both.
set -u
cd "$(dirname "$0")/../.." || exit 1
LIBS=$(make -s --no-print-directory print-static-libs)
mkdir -p build/cpp
rc=0
for cxx in g++ clang++; do
  if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "test_cpp: $cxx not found (make deps installs it)"; rc=1; continue
  fi
  out=build/cpp/test_calib_hpp_$cxx
  if ! "$cxx" -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -o "$out" test/cpp/test_calib_hpp.cpp \
       lib/libcalib.a $LIBS -lm -pthread; then
    echo "test_cpp: $cxx failed to compile include/calib.hpp's test"; rc=1; continue
  fi
  "$out" || { echo "test_cpp: $cxx build failed its checks"; rc=1; }
done
exit $rc
