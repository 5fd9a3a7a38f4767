#!/bin/sh
# examples/drift/sweep.sh [FIRST LAST] -- reruns the drift demo over seeds FIRST..LAST
# (default 1..200), the sweep behind the bounds stated in demo_drift.c and the
# README: each run checks every bound itself (exit 1 on a miss). Prints one line
# per failing seed and a count; exit 1 if any seed failed. Build first:
# `make demo-drift` (or `make build/drift/demo-drift`).
set -u
cd "$(dirname "$0")/../.."
first=${1:-1}
last=${2:-200}
bin=build/drift/demo-drift
[ -x "$bin" ] || { echo "sweep: $bin not built (run make demo-drift)" >&2; exit 2; }
fail=0
s=$first
while [ "$s" -le "$last" ]; do
  if ! "$bin" --seed "$s" >/tmp/calib-drift-sweep.$$ 2>&1; then
    echo "sweep: seed $s failed:"; grep -i "fail\|bound" /tmp/calib-drift-sweep.$$ | head -5
    fail=$((fail + 1))
  fi
  s=$((s + 1))
done
rm -f /tmp/calib-drift-sweep.$$
echo "sweep: seeds $first..$last: $fail failed"
[ "$fail" -eq 0 ]
