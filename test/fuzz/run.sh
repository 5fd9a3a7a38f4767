#!/bin/sh
# test/fuzz/run.sh MODE [SECONDS] -- the fuzz targets of test/fuzz/.
#   fuzz SECONDS  build each target with clang -fsanitize=fuzzer,address,undefined
#                 and run libFuzzer on it for SECONDS (new inputs go to
#                 build/fuzz/work/TARGET, crashes to build/fuzz/artifacts/),
#                 then `replay`. Prints the executions per target.
#   replay        build each target with gcc -fsanitize=address,undefined and
#                 the plain main() of replay.c, and feed it the committed
#                 corpus test/fuzz/corpus/TARGET (and build/fuzz/work/TARGET
#                 when a fuzz run left one).
#   seed          (re)write the committed seed corpus with gen_corpus.c (needs
#                 lib/libcalib.a and build/libcalib_io.a: `make all` first).
# FUZZ_JOBS: parallel compiles of the library builds (default 2).
# Targets: model_load (calib_model_load), model_static
# (calib_model_init_static, differential with the copying loader), npy
# (calib__npy_parse), params (the parameters of the whole public API: metrics,
# fit + apply, softmax, accumulators; fuzz_params.c). FUZZ_SRCS / IO_SRCS: the
# core library and io sources; FUZZ_FULL_SRCS: the full library without BLAS
# (params links it; -DCALIB_NO_BLAS, SIMD kernels with their -m flags and
# FUZZ_ISA_DEFS). The Makefile passes its own lists; defaults below. A crash fails the run: copy
# the artifact into test/fuzz/corpus/TARGET/ as regress-NAME with the fix.
# Closing line: "fuzz: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
mode=${1:-replay}
seconds=${2:-60}
TARGETS="model_load model_static npy params"
B=build/fuzz
if [ -z "${FUZZ_SRCS:-}" ]; then
  FUZZ_SRCS=$(ls src/common/*.c src/kernels/*.c src/model/*.c src/metrics/binning.c 2>/dev/null |
    grep -v -e '_avx2\.c$' -e '_avx512\.c$' -e '_neon\.c$' -e '_file\.c$')
fi
IO_SRCS=${IO_SRCS:-$(ls src/io/*.c)}
if [ -z "${FUZZ_FULL_SRCS:-}" ]; then
  FUZZ_FULL_SRCS=$(ls src/common/*.c src/kernels/*.c src/model/*.c src/fit/*.c src/metrics/*.c | grep -v '_neon\.c$')
  case $(uname -m) in x86_64) FUZZ_ISA_DEFS=${FUZZ_ISA_DEFS--DCALIB_HAVE_X86_KERNELS} ;;
    *) FUZZ_FULL_SRCS=$(echo "$FUZZ_FULL_SRCS" | grep -v -e '_avx2\.c$' -e '_avx512\.c$') ;; esac
fi
FUZZ_ISA_DEFS=${FUZZ_ISA_DEFS:-}
INC="-Iinclude -Isrc/common -Isrc/kernels -Isrc/io -Itest/fuzz"
DEFS="-DCALIB_BUILDING_LIBRARY -D_POSIX_C_SOURCE=200809L"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
pass=0; fail=0

dict_of() { case $1 in npy) echo "-dict=test/fuzz/npy.dict" ;; params) ;; *) echo "-dict=test/fuzz/model.dict" ;; esac; }

# The SIMD kernel files' own flags (as the Makefile's FLAGS_avx2/_avx512).
isa_flags() {
  case $1 in
    *_avx2.c) echo "-mavx2 -mfma" ;;
    *_avx512.c) echo "-mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma" ;;
  esac
}

# build_lib CC FLAGS DIR [full]: the core library + io sources into DIR/lib.a,
# and with `full` the full library (FUZZ_FULL_SRCS, no BLAS) into DIR/full/lib.a.
build_lib() {
  cc=$1 flags=$2 dir=$3 srcs="$FUZZ_SRCS $IO_SRCS" defs=$DEFS
  if [ "${4:-}" = full ]; then
    dir=$dir/full srcs=$FUZZ_FULL_SRCS defs="$DEFS -DCALIB_NO_BLAS $FUZZ_ISA_DEFS"
  fi
  mkdir -p "$dir/obj"
  objs="" pids="" bad=0
  for s in $srcs; do
    o="$dir/obj/$(echo "$s" | tr '/' '_' | sed 's/\.c$/.o/')"
    if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ src/common/internal.h -nt "$o" ] || [ include/calib.h -nt "$o" ]; then
      # FUZZ_JOBS compiles at a time (the four sanitizer builds were most of CI's fuzz step)
      $cc $INC $defs -std=c99 $(opt_of "$cc" "$s") -g $flags $(isa_flags "$s") -c "$s" -o "$o" &
      pids="$pids $!"
      if [ $(echo $pids | wc -w) -ge "${FUZZ_JOBS:-2}" ]; then
        for p in $pids; do wait "$p" || bad=1; done
        pids=""
      fi
    fi
    objs="$objs $o"
  done
  for p in $pids; do wait "$p" || bad=1; done
  [ $bad -eq 0 ] || return 1
  rm -f "$dir/lib.a"
  ar rcs "$dir/lib.a" $objs
}

# -O1, or -O0 for the two AVX-512 kernel files in the clang build: clang 14
# with -fsanitize=address at -O1 spends 100-130 s on each of them (their
# always-inline row bodies, expanded once per k <= 16), 8 s at -O0; gcc's
# replay build compiles them at -O1 in 10-15 s.
opt_of() {
  case "$1:$2" in
    clang:*/kernels_avx512.c | clang:*/kernels_typed_avx512.c) echo "-O0" ;;
    *) echo "-O1" ;;
  esac
}

# The library a target links: params needs all of it.
lib_of() { case $2 in params) echo "$1/full/lib.a" ;; *) echo "$1/lib.a" ;; esac; }

replay() {
  { build_lib gcc "$SAN" $B/gcc && build_lib gcc "$SAN" $B/gcc full; } ||
    { echo "FAIL fuzz-replay: library build"; fail=$((fail + 1)); return; }
  for t in $TARGETS; do
    bin=$B/replay_$t
    if ! gcc $INC $DEFS -std=c99 -O1 -g $SAN -o "$bin" test/fuzz/replay.c "test/fuzz/fuzz_$t.c" "$(lib_of $B/gcc $t)" -lm; then
      echo "FAIL replay/$t: build"; fail=$((fail + 1)); continue
    fi
    dirs="test/fuzz/corpus/$t"
    [ -d "$B/work/$t" ] && dirs="$dirs $B/work/$t"
    if out=$("$bin" $dirs 2>&1); then
      pass=$((pass + 1)); echo "PASS replay/$t: $(echo "$out" | tail -1) (gcc ASan+UBSan; $dirs)"
    else
      fail=$((fail + 1)); echo "FAIL replay/$t"; echo "$out" | tail -30 | sed 's/^/    /'
    fi
  done
}

fuzz() {
  if ! command -v clang >/dev/null 2>&1; then
    echo "FAIL fuzz: clang not found (sh .ci/deps.sh fuzz)"; fail=$((fail + 1)); return
  fi
  cflags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
  { build_lib clang "$cflags" $B/clang && build_lib clang "$cflags" $B/clang full; } ||
    { echo "FAIL fuzz: library build"; fail=$((fail + 1)); return; }
  mkdir -p $B/artifacts
  total=0
  for t in $TARGETS; do
    bin=$B/fuzz_$t
    if ! clang $INC $DEFS -std=c99 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -o "$bin" "test/fuzz/fuzz_$t.c" "$(lib_of $B/clang $t)" -lm; then
      echo "FAIL fuzz/$t: build"; fail=$((fail + 1)); continue
    fi
    mkdir -p "$B/work/$t"
    log=$B/fuzz_$t.log
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      $(dict_of "$t") -artifact_prefix="$B/artifacts/$t-" "$B/work/$t" "test/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    if [ $rc -eq 0 ]; then
      pass=$((pass + 1)); total=$((total + ${execs:-0}))
      echo "PASS fuzz/$t: ${execs:-?} executions in ${seconds}s, $cov, 0 crashes"
    else
      fail=$((fail + 1))
      echo "FAIL fuzz/$t (exit $rc): crash input(s): $(ls $B/artifacts/$t-* 2>/dev/null | tr '\n' ' ')"
      grep -E 'ERROR|SUMMARY|#[0-9]+ 0x' "$log" | head -25 | sed 's/^/    /'
    fi
  done
  echo "fuzz: $total executions in total"
}

case $mode in
  fuzz) fuzz; replay ;;
  replay) replay ;;
  seed)
    mkdir -p test/fuzz/corpus/model_load test/fuzz/corpus/model_static test/fuzz/corpus/npy
    gcc $INC $DEFS -std=c99 -O1 -g -o $B/gen_corpus test/fuzz/gen_corpus.c build/libcalib_io.a lib/libcalib.a \
      $(pkg-config --libs openblas lapacke 2>/dev/null) -llbfgs -lm -pthread && $B/gen_corpus || exit 1
    exit 0 ;;
  *) echo "usage: test/fuzz/run.sh fuzz SECONDS | replay | seed" >&2; exit 2 ;;
esac
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
