#!/bin/sh
# bench/run.sh PYTHON -- libcalib's side-by-side benchmarks (`make bench`).
#
# Builds bench/bench_softmax.c and bench/bench_fit.c against lib/libcalib.a
# (-O2) and bench/bench_onednn.c against Debian's libdnnl-dev (installed by
# `sh .ci/deps.sh bench` when run as root), then runs, single-threaded:
#   1. libcalib softmax (every ISA) + memcpy reference   bench_softmax
#   2. oneDNN's softmax primitive                         bench_onednn
#   3. numpy softmax                                      bench_numpy.py
# prints one table (bench/report.py), then the temperature-fit comparison
# (bench/bench_fit.py: calib_fit vs scipy minimize_scalar). See bench/README.md.
# Every section writes its table as JSON lines into build/bench/<section>.json;
# bench/collect.py merges them at the end into build/bench/results.json and
# prints (and writes to build/bench/summary.txt) every MISSED target, a
# section whose file is missing included.
# Environment: BENCH_REPS (default 9) repetitions per measurement, BENCH_ROUNDS
# (default 2) alternating rounds of the three softmax programs.
set -eu
PY=${1:-}
[ -n "$PY" ] || PY=/usr/bin/python3
REPS=${BENCH_REPS:-9}
cd "$(dirname "$0")/.."

sh .ci/deps.sh bench || echo "bench: could not install every benchmark package (oneDNN rows may be missing)"
[ -f lib/libcalib.a ] && [ -f lib/libcalib.so ] || make -j2 all

OUT=build/bench
mkdir -p "$OUT"
LIBS=$(make -s print-static-libs)   # what lib/libcalib.a needs after it
CC=${CC:-cc}
CFLAGS_B="-O2 -std=c99 -Iinclude -Isrc/kernels -Isrc/common"
$CC $CFLAGS_B bench/bench_softmax.c lib/libcalib.a $LIBS -lpthread -o "$OUT/bench_softmax"
# public API only: link the shared library, which carries its own dependencies
$CC $CFLAGS_B bench/bench_fit.c -Llib -lcalib -Wl,-rpath,"$(pwd)/lib" -lm -o "$OUT/bench_fit"
have_dnnl=0
if $CC -O2 -std=c99 bench/bench_onednn.c -ldnnl -lm -o "$OUT/bench_onednn" 2>"$OUT/onednn_build.log"; then
  have_dnnl=1
else
  echo "bench: oneDNN bench not built (libdnnl-dev missing?), see $OUT/onednn_build.log"
fi

# single thread everywhere
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 DNNL_VERBOSE=0
R="$OUT/results.txt"
: >"$R"
# no stale section file from an earlier run may stand in for a failed section
for s in softmax fit platt isotonic matrix metrics binding latency matrix_scale typed; do rm -f "$OUT/$s.json"; done
rm -f "$OUT/results.json" "$OUT/summary.txt"
FAILED=""
# The programs run in alternating rounds (calib, oneDNN, numpy, calib, ...);
# report.py keeps, per measurement, the lowest median over the rounds, so a
# burst of load from other processes does not land on one side only.
ROUNDS=${BENCH_ROUNDS:-2}
round=1
while [ $round -le "$ROUNDS" ]; do
  echo "bench: round $round/$ROUNDS: libcalib softmax (reps=$REPS) ..."
  # the machine's load while this round ran (a shared machine: read the figures with it)
  echo "INFO load average round $round: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)" >>"$R"
  "$OUT/bench_softmax" "$REPS" >"$OUT/softmax.txt"
  cat "$OUT/softmax.txt" >>"$R"
  if [ $have_dnnl = 1 ]; then
    echo "bench: round $round/$ROUNDS: oneDNN softmax ..."
    "$OUT/bench_onednn" "$REPS" >"$OUT/onednn.txt"
    cat "$OUT/onednn.txt" >>"$R"
  fi
  echo "bench: round $round/$ROUNDS: numpy softmax ..."
  # OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be set on the build machines and
  # slow numpy down: unset for the numpy commands only.
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" bench/bench_numpy.py "$REPS" >"$OUT/numpy.txt"
  cat "$OUT/numpy.txt" >>"$R"
  round=$((round + 1))
done
grep -h '^INFO' "$R" | sort -u || true
"$PY" bench/report.py "$R" "$OUT/softmax.json" || FAILED="$FAILED softmax"
echo
echo "bench: temperature fit (synthetic 50000 x 1000; calib_fit vs scipy) ..."
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PY" bench/bench_fit.py "$OUT/bench_fit" "$OUT" || FAILED="$FAILED fit"
rm -f "$OUT/fit_logits.f32" "$OUT/fit_labels.i64"

# ---- the other side-by-side benchmarks (one section per issue) ----
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
NP="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"
echo
echo "bench: Platt scaling, n = 1e6 (libcalib vs scikit-learn _sigmoid_calibration) ..."
$NP "$PY" bench/bench_platt.py || { echo "bench: platt FAILED"; FAILED="$FAILED platt"; }
echo
echo "bench: isotonic regression fit 1e6/1e7 and predict 1e6 (libcalib vs scikit-learn) ..."
$NP "$PY" bench/bench_isotonic.py "$OUT/bench_isotonic" "$OUT" || { echo "bench: isotonic FAILED"; FAILED="$FAILED isotonic"; }
if [ -f bench/bench_matrix.py ]; then
  echo
  echo "bench: matrix scaling (50000, 100) (libcalib vs scipy L-BFGS-B) ..."
  $NP "$PY" bench/bench_matrix.py || { echo "bench: matrix FAILED"; FAILED="$FAILED matrix"; }
fi
echo
echo "bench: metrics (tao2024 suite (50000,1000), ECE-15 (1e6,10), MMCE 1e5; libcalib vs numpy) ..."
$NP "$PY" bench/bench_metrics.py || { echo "bench: metrics FAILED"; FAILED="$FAILED metrics"; }
echo
echo "bench: Python binding per-call overhead, one row of 1000 logits ..."
PYTHONPATH=python $NP "$PY" bench/bench_binding.py || { echo "bench: binding FAILED"; FAILED="$FAILED binding"; }
echo
echo "bench: calib.dask on a LocalCluster, 1 vs 2 workers (BENCH_DASK_ROWS rows, default 1e7; issue 13) ..."
PYTHONPATH=python $NP "$PY" bench/bench_dask.py --rows "${BENCH_DASK_ROWS:-1e7}" || { echo "bench: dask FAILED"; FAILED="$FAILED dask"; }
# ---- issue 12 part 1: typed inputs (float16 / bfloat16 / int8 / uint8 -> probabilities) ----
echo
echo "bench: typed apply throughput (50000,1000) and (1e6,10): float32, float16, bfloat16, int8, uint8 (+ memcpy) ..."
if $CC $CFLAGS_B bench/bench_typed.c lib/libcalib.a $LIBS -lpthread -o "$OUT/bench_typed"; then
  "$OUT/bench_typed" "${BENCH_TYPED_REPS:-7}" "$OUT/typed.json" || { echo "bench: typed FAILED"; FAILED="$FAILED typed"; }
else
  echo "bench: typed FAILED (bench_typed did not build)"; FAILED="$FAILED typed"
fi


# ---- issue 12 part 3: single-row latency of calib_apply per method (bench_latency.c) ----
# Public API (lib/libcalib.so) plus OpenBLAS's cblas_sgemv as the matrix-family anchor, in the
# same process. Records: build/bench/latency.json (one JSON object per line; bench/report.py
# merges it into results.json when it knows the file).
echo
echo "bench: single-row latency of calib_apply per method, k = 10 and 1000 (issue 12) ..."
if $CC -O2 -std=c99 -Iinclude $(pkg-config --cflags openblas 2>/dev/null) bench/bench_latency.c -Llib -lcalib \
     -Wl,-rpath,"$(pwd)/lib" $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas) -lm -o "$OUT/bench_latency"; then
  OPENBLAS_NUM_THREADS=1 "$OUT/bench_latency" "$OUT/latency.json" || { echo "bench: latency FAILED"; FAILED="$FAILED latency"; }
else
  echo "bench: latency FAILED (bench_latency not built: OpenBLAS headers missing?)"; FAILED="$FAILED latency"
fi

if [ -f bench/bench_matrix_scale.py ]; then
  echo
  echo "bench: matrix-family fits as k grows (k = 100 real LeNet-5 / CIFAR-100, k = 1000 synthetic; vs scipy L-BFGS-B, capped; issue 12 part 4) ..."
  # BENCH_MATRIX_SCALE_ARGS: e.g. "--only k100" or "--scipy-budget 60" on a short run
  # shellcheck disable=SC2086
  $NP "$PY" bench/bench_matrix_scale.py --json "$OUT/matrix_scale.json" ${BENCH_MATRIX_SCALE_ARGS:-} || { echo "bench: matrix_scale FAILED"; FAILED="$FAILED matrix_scale"; }
fi

# ---- every table's records in one file, every missed target listed ----
echo
"$PY" bench/collect.py "$OUT"
if [ -n "$FAILED" ]; then
  echo "bench: sections that failed:$FAILED"
  # as before: the temperature fit's NLL check fails `make bench`; the other
  # sections' failures are reported (and are MISSED lines above)
  case " $FAILED " in *" fit "*) exit 1 ;; esac
fi
