#!/bin/sh
# test/cross.sh QEMU_A64 TEST... -- the run half of `make test-cross` (the
# Makefile has built everything first: size report, firmware, aarch64 core,
# build/a64/test/TEST):
#   firmware/m4     examples/firmware on an emulated Cortex-M4 board
#                   (qemu-system-arm -M mps2-an386) against the host build
#   nm/m4, nm/a64   the allow-list check of test/sh/test_core_nm.sh on the
#                   Cortex-M4 and aarch64 cores
#   a64/TEST        each aarch64 test binary (static) under qemu-aarch64;
#                   exit 77 counts as skipped
# Prints "cross: N passed, N failed, N skipped"; exit 1 if anything failed.
set -u
cd "$(dirname "$0")/.." || exit 1
QEMU=$1
shift
MAKE=${MAKE:-make}
pass=0; fail=0; skip=0; failed=""

run_one() { # LABEL COMMAND...
  label=$1; shift
  t0=$(date +%s)
  out=$("$@" 2>&1); rc=$?
  dt=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then pass=$((pass + 1)); echo "PASS $label (${dt}s): $(echo "$out" | tail -1)"
  elif [ $rc -eq 77 ]; then skip=$((skip + 1)); echo "SKIP $label: $(echo "$out" | tail -1)"
  else fail=$((fail + 1)); failed="$failed $label"; echo "FAIL $label (exit $rc)"; echo "$out" | tail -40 | sed 's/^/    /'
  fi
}

run_one firmware/m4 $MAKE --no-print-directory -s -C examples/firmware check
run_one nm/m4 env CORE_NM_LIB=build/m4/libcalib_core.a NM=arm-none-eabi-nm sh test/sh/test_core_nm.sh
run_one nm/a64 env CORE_NM_LIB=build/a64/libcalib_core.a NM=aarch64-linux-gnu-nm sh test/sh/test_core_nm.sh
for t in "$@"; do
  run_one "a64/$t" "$QEMU" "build/a64/test/$t"
done
[ -n "$failed" ] && echo "failed:$failed"
echo "cross: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
