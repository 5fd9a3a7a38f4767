#!/bin/sh
# .ci/deps.sh check|install|bench -- the Debian packages libcalib needs.
#   check   : exit 0 if every build+test+server package is installed, else 1 (prints what is missing)
#   install : install the missing ones with apt-get (as root), else print the exact command
#   bench   : same as install, for the benchmark-only packages
#   cross   : install the cross toolchains and emulators of `make test-cross` (issue 6)
#   fuzz    : install clang and its libFuzzer runtime for `make fuzz` (issue 6)
set -u
BUILD_PKGS="gcc g++ make libopenblas-dev liblapacke-dev liblbfgs-dev pkg-config"
TEST_PKGS="python3 python3-numpy python3-scipy python3-sklearn python3-dask python3-distributed python3-pandas python3-torch clang"  # clang: clang++ for test/sh/test_cpp.sh
SERVER_PKGS="libmicrohttpd-dev wrk"  # bin/calib-serve (make server) and its load test (make test-server)
BENCH_PKGS="libdnnl-dev"
CROSS_PKGS="gcc-arm-none-eabi libnewlib-arm-none-eabi gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user qemu-system-arm"
FUZZ_PKGS="clang libclang-rt-14-dev"
mode=${1:-check}
case "$mode" in
  bench) want="$BUILD_PKGS $TEST_PKGS $SERVER_PKGS $BENCH_PKGS" ;;
  cross) want="$CROSS_PKGS" ;;
  fuzz)  want="$FUZZ_PKGS" ;;
  *)     want="$BUILD_PKGS $TEST_PKGS $SERVER_PKGS" ;;
esac
missing=""
for p in $want; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  exit 0
fi
if [ "$mode" = check ]; then
  echo "deps: missing Debian packages:$missing" >&2
  exit 1
fi
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing
else
  echo "deps: run as root:  apt-get update && apt-get install -y$missing" >&2
  exit 1
fi
