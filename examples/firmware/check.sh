#!/bin/sh
# check.sh QEMU FIRMWARE_ELF HOST_BINARY -- runs the Cortex-M4 firmware on an
# emulated MPS2-AN386 board and the host build of the same main.c, and
# compares them: the same lines, and every probability (printed in units of
# 1e-9) within 2000 units = 2e-6 of the host's (the two libms' expf/exp/log
# may differ by an ulp or so). The workspace sizes differ (32- vs 64-bit
# pointers) and are not compared. Exit 0 when they agree.
set -u
qemu=$1 elf=$2 host=$3
out_m4=$elf.out out_host=$host.out
if ! command -v "$qemu" >/dev/null 2>&1; then
  echo "firmware check: $qemu not found (sh .ci/deps.sh cross installs qemu-system-arm)"
  exit 1
fi
timeout 120 "$qemu" -M mps2-an386 -nographic -monitor none -serial none \
  -semihosting-config enable=on,target=native -kernel "$elf" >"$out_m4" 2>&1
rc_m4=$?
"$host" >"$out_host" 2>&1
rc_host=$?
sed 's/^/  m4: /' "$out_m4"
if [ $rc_m4 -ne 0 ] || [ $rc_host -ne 0 ]; then
  echo "firmware check: FAILED (exit status: Cortex-M4 $rc_m4, host $rc_host)"
  cat "$out_host"
  exit 1
fi
awk -v tol=2000 '
  NR == FNR { h[FNR] = $0; nh = FNR; next }
  {
    n++
    a = $0; b = h[FNR]
    sub(/workspace [0-9]+ bytes/, "workspace", a); sub(/workspace [0-9]+ bytes/, "workspace", b)
    na = split(a, x, " "); nb = split(b, y, " ")
    if (na != nb) { bad++; print "line " FNR " differs: [" $0 "] vs host [" h[FNR] "]"; next }
    for (i = 1; i <= na; i++) {
      if (x[i] ~ /^-?[0-9]+$/ && y[i] ~ /^-?[0-9]+$/) {
        d = x[i] - y[i]; if (d < 0) d = -d
        if (d > max) max = d
        nums++
        if (d > tol) { bad++; print "line " FNR " field " i ": " x[i] " vs host " y[i] }
      } else if (x[i] != y[i]) { bad++; print "line " FNR " differs: [" $0 "] vs host [" h[FNR] "]"; break }
    }
  }
  END {
    if (n != nh) { bad++; print "line counts differ: Cortex-M4 " n ", host " nh }
    printf "firmware check: %d numbers compared, largest difference %d e-9 (tolerance %d e-9): %s\n", \
      nums, max, tol, bad ? "FAILED" : "ok"
    exit bad ? 1 : 0
  }' "$out_host" "$out_m4"
