#!/bin/sh
# test/server/run.sh PYTHON -- `make test-server`: the functional test of
# every endpoint (functional.py), then the load test (load.py: wrk for
# WRK_SECONDS per phase, 22 by default, while models are swapped), whose
# table ends the output. Needs bin/calib-serve, bin/calib, wrk, numpy.
# CALIB_SERVE=path runs another build (e.g. build/asan/calib-serve from
# `make server SAN=1`); SKIP_LOAD=1 runs only the functional test.
# Exit status 1 if either failed.
set -u
cd "$(dirname "$0")/../.." || exit 1
PY=${1:-/usr/bin/python3}
[ -n "$PY" ] || { echo "test-server: no python3 with numpy found (make deps)"; exit 1; }
command -v wrk >/dev/null 2>&1 || { echo "test-server: wrk is not installed (make deps)"; exit 1; }
rc=0
echo "==== test-server: functional ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
"$PY" test/server/functional.py > build/test-server-functional.log 2>&1 || rc=1
grep -E '^(FAIL|functional:|  failed:|skipped part)' build/test-server-functional.log
[ $rc -eq 0 ] || tail -30 build/test-server-functional.log
echo "    (every check: build/test-server-functional.log, $(grep -c '^ok ' build/test-server-functional.log) passed)"
if [ "${SKIP_LOAD:-0}" != 1 ]; then
  echo "==== test-server: load ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
  "$PY" test/server/load.py || rc=1
fi
echo "test-server: $([ $rc -eq 0 ] && echo passed || echo FAILED)"
exit $rc
