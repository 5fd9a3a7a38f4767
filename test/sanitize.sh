#!/bin/sh
# test/sanitize.sh -- `make check`: the C tests under sanitizers.
#   build/asan/  the library and every test/test_*.c with
#                -fsanitize=address,undefined -fno-omit-frame-pointer
#                -fno-sanitize-recover=all (LeakSanitizer on); every test runs
#                (exit 77 = skipped, as in test/run.sh).
#   build/tsan/  the library, test/test_threads.c, test/test_slot.c and
#                test/test_monitor.c with
#                -fsanitize=thread.
# Built through the Makefile with OBJDIR, STATIC_LIB, IO_LIB, TESTDIR, CFLAGS
# and CFLAGS_EXTRA overridden, so the source lists are the Makefile's own.
# Prints "sanitize: N passed, N failed, N skipped"; exits 1 if anything failed.
# Environment: SAN_CC (default gcc), JOBS (parallel make jobs, default 2),
# SAN_ONLY=asan|tsan|clang to run one part.
#   build/clang/ the library (static, shared and io) built by clang with the
#                project's warnings: gcc-only builtins or cpu-feature strings
#                fail here, not first in the CI's fuzz step (which builds with
#                clang). Skipped with a message when clang is not installed.
set -u
cd "$(dirname "$0")/.." || exit 1
MAKE=${MAKE:-make}
SAN_CC=${SAN_CC:-gcc}
JOBS=${JOBS:-2}
ONLY=${SAN_ONLY:-all}
ASAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
TSAN_FLAGS="-fsanitize=thread -fno-omit-frame-pointer"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"

pass=0; fail=0; skip=0; failed=""
note_fail() { fail=$((fail + 1)); failed="$failed $1"; }

# san_build DIR FLAGS TARGET... : library + targets into DIR; output in DIR/build.log.
san_build() {
  dir=$1 flags=$2; shift 2
  mkdir -p "$dir"
  $MAKE --no-print-directory -k -j"$JOBS" CC="$SAN_CC" OBJDIR="$dir/obj" STATIC_LIB="$dir/libcalib.a" \
    IO_LIB="$dir/libcalib_io.a" TESTDIR="$dir/test" CFLAGS="-O1 -g $flags" CFLAGS_EXTRA="$flags" \
    "$@" >"$dir/build.log" 2>&1
}

# run_one LABEL BINARY
run_one() {
  label=$1 bin=$2
  if [ ! -x "$bin" ]; then
    note_fail "$label"; echo "FAIL $label (did not build: $(dirname "$(dirname "$bin")")/build.log)"
    return
  fi
  t0=$(date +%s)
  out=$("$bin" 2>&1); rc=$?
  dt=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then pass=$((pass + 1)); echo "PASS $label (${dt}s)"
  elif [ $rc -eq 77 ]; then skip=$((skip + 1)); echo "SKIP $label: $(echo "$out" | tail -1)"
  else note_fail "$label"; echo "FAIL $label (exit $rc)"; echo "$out" | tail -40 | sed 's/^/    /'
  fi
}

start=$(date +%s)
if [ "$ONLY" = all ] || [ "$ONLY" = asan ]; then
  bins=""
  for src in test/test_*.c; do
    [ -f "$src" ] || continue
    bins="$bins build/asan/test/$(basename "$src" .c)"
  done
  echo "sanitize: building the library and tests with $SAN_CC $ASAN_FLAGS in build/asan/"
  if ! san_build build/asan "$ASAN_FLAGS" build/asan/libcalib.a $bins; then
    echo "sanitize: build errors (build/asan/build.log):"
    grep -E -i 'error|undefined reference' build/asan/build.log | head -20 | sed 's/^/    /'
    [ -f build/asan/libcalib.a ] || { note_fail "asan/libcalib.a"; echo "FAIL asan/libcalib.a (did not build)"; bins=""; }
  fi
  for b in $bins; do run_one "asan/$(basename "$b")" "$b"; done
fi

if [ "$ONLY" = all ] || [ "$ONLY" = tsan ]; then
  # the multi-threaded tests: one model shared by every method (test_threads),
  # hot swap through a slot (test_slot), monitor shards merged on read (test_monitor)
  TSAN_TESTS="test_threads test_slot test_monitor"
  bins=""
  for t in $TSAN_TESTS; do
    if [ -f "test/$t.c" ]; then bins="$bins build/tsan/test/$t"
    else note_fail "tsan/$t"; echo "FAIL tsan/$t: test/$t.c missing"; fi
  done
  echo "sanitize: building the library and$bins with $SAN_CC $TSAN_FLAGS in build/tsan/"
  if ! san_build build/tsan "$TSAN_FLAGS" $bins; then
    echo "sanitize: build errors (build/tsan/build.log):"
    grep -E -i 'error|undefined reference' build/tsan/build.log | head -20 | sed 's/^/    /'
  fi
  for b in $bins; do run_one "tsan/$(basename "$b")" "$b"; done
fi

if [ "$ONLY" = all ] || [ "$ONLY" = clang ]; then
  if command -v clang >/dev/null 2>&1; then
    mkdir -p build/clang
    t0=$(date +%s)
    if $MAKE --no-print-directory -j"$JOBS" CC=clang OBJDIR=build/clang/obj STATIC_LIB=build/clang/libcalib.a \
        SHARED_LIB=build/clang/libcalib.so IO_LIB=build/clang/libcalib_io.a \
        build/clang/libcalib.a build/clang/libcalib.so build/clang/libcalib_io.a >build/clang/build.log 2>&1; then
      pass=$((pass + 1)); echo "PASS clang/library build ($(( $(date +%s) - t0 ))s)"
    else
      note_fail "clang/library"; echo "FAIL clang/library build (build/clang/build.log):"
      grep -E -i 'error' build/clang/build.log | head -20 | sed 's/^/    /'
    fi
  else
    skip=$((skip + 1)); echo "SKIP clang/library build: clang is not installed (make deps installs it)"
  fi
fi

[ -n "$failed" ] && echo "failed:$failed"
echo "sanitize: $pass passed, $fail failed, $skip skipped ($(( $(date +%s) - start ))s)"
[ $fail -eq 0 ]
