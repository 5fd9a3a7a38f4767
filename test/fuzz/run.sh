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
# Targets: model_load (calib_model_load), model_static
# (calib_model_init_static, differential with the copying loader), npy
# (calib__npy_parse). FUZZ_SRCS / IO_SRCS: the library and io sources (the
# Makefile passes its own lists; defaults below). A crash fails the run: copy
# the artifact into test/fuzz/corpus/TARGET/ as regress-NAME with the fix.
# Closing line: "fuzz: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
mode=${1:-replay}
seconds=${2:-60}
TARGETS="model_load model_static npy"
B=build/fuzz
if [ -z "${FUZZ_SRCS:-}" ]; then
  FUZZ_SRCS=$(ls src/common/*.c src/kernels/*.c src/model/*.c src/metrics/binning.c 2>/dev/null |
    grep -v -e '_avx2\.c$' -e '_avx512\.c$' -e '_neon\.c$' -e '_file\.c$')
fi
IO_SRCS=${IO_SRCS:-$(ls src/io/*.c)}
INC="-Iinclude -Isrc/common -Isrc/kernels -Isrc/io -Itest/fuzz"
DEFS="-DCALIB_BUILDING_LIBRARY -D_POSIX_C_SOURCE=200809L"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
pass=0; fail=0

dict_of() { case $1 in npy) echo test/fuzz/npy.dict ;; *) echo test/fuzz/model.dict ;; esac; }

# build_lib CC FLAGS DIR: the library + io sources into DIR/lib.a.
build_lib() {
  cc=$1 flags=$2 dir=$3
  mkdir -p "$dir/obj"
  objs=""
  for s in $FUZZ_SRCS $IO_SRCS; do
    o="$dir/obj/$(echo "$s" | tr '/' '_' | sed 's/\.c$/.o/')"
    if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ src/common/internal.h -nt "$o" ] || [ include/calib.h -nt "$o" ]; then
      $cc $INC $DEFS -std=c99 -O1 -g $flags -c "$s" -o "$o" || return 1
    fi
    objs="$objs $o"
  done
  rm -f "$dir/lib.a"
  ar rcs "$dir/lib.a" $objs
}

replay() {
  build_lib gcc "$SAN" $B/gcc || { echo "FAIL fuzz-replay: library build"; fail=$((fail + 1)); return; }
  for t in $TARGETS; do
    bin=$B/replay_$t
    if ! gcc $INC $DEFS -std=c99 -O1 -g $SAN -o "$bin" test/fuzz/replay.c "test/fuzz/fuzz_$t.c" $B/gcc/lib.a -lm; then
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
  build_lib clang "-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" $B/clang ||
    { echo "FAIL fuzz: library build"; fail=$((fail + 1)); return; }
  mkdir -p $B/artifacts
  total=0
  for t in $TARGETS; do
    bin=$B/fuzz_$t
    if ! clang $INC $DEFS -std=c99 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -o "$bin" "test/fuzz/fuzz_$t.c" $B/clang/lib.a -lm; then
      echo "FAIL fuzz/$t: build"; fail=$((fail + 1)); continue
    fi
    mkdir -p "$B/work/$t"
    log=$B/fuzz_$t.log
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -dict="$(dict_of "$t")" -artifact_prefix="$B/artifacts/$t-" "$B/work/$t" "test/fuzz/corpus/$t" >"$log" 2>&1
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
      $(pkg-config --libs openblas lapacke 2>/dev/null) -lm && $B/gen_corpus || exit 1
    exit 0 ;;
  *) echo "usage: test/fuzz/run.sh fuzz SECONDS | replay | seed" >&2; exit 2 ;;
esac
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
