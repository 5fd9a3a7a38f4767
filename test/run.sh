#!/bin/sh
# test/run.sh PYTHON [c|py|all] -- runs every C test binary in build/test and
# every Python test in test/py, then prints one closing line
# "tests: N passed, N failed, N skipped". A test that exits 77 is skipped
# (it prints why, e.g. ../shared absent); a passing test's skipped parts are
# listed under it. With CALIB_REQUIRE_SHARED=1 (CI) a test whose reference
# data is missing fails instead of skipping (test/harness.h, test/py/datagate.py).
# Exit status 1 if anything failed.
PY=${1:-/usr/bin/python3}
what=${2:-all}
pass=0; fail=0; skip=0; failed=""
run_one() {
  name=$1; shift
  out=$("$@" 2>&1); rc=$?
  if [ $rc -eq 0 ]; then pass=$((pass+1)); echo "PASS $name"
    # a passing test still names every part it skipped and why (honest skips)
    echo "$out" | grep -E '^(skipped (part|test)|not in this build)' | sed 's/^/    /'
  elif [ $rc -eq 77 ]; then skip=$((skip+1)); echo "SKIP $name: $(echo "$out" | tail -1)"
  else fail=$((fail+1)); failed="$failed $name"; echo "FAIL $name (exit $rc)"; echo "$out" | tail -40 | sed 's/^/    /'
  fi
}
if [ "$what" != py ]; then
  for t in build/test/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
  done
  for s in test/sh/test_*.sh; do
    [ -f "$s" ] || continue
    run_one "$(basename "$s")" sh "$s" "$PY"
  done
fi
if [ "$what" != c ]; then
  if [ -z "$PY" ]; then
    echo "FAIL python: no python3 with numpy found (run: make deps)"; fail=$((fail+1))
  else
    for t in test/py/test_*.py; do
      [ -f "$t" ] || continue
      run_one "$(basename "$t")" env PYTHONPATH=python "$PY" "$t"
    done
  fi
fi
[ -n "$failed" ] && echo "failed:$failed"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
