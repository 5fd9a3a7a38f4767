#!/bin/sh
# test/sh/test_core_nm.sh [PYTHON] -- the firmware core links against nothing
# but a short allow-list (issue 6). Builds lib/libcalib_core.a (`make core`),
# then checks with nm that
#   1. every symbol the archive leaves undefined (referenced by a member and
#      defined by none) is in ALLOW below -- so no malloc/free, no stdio, no
#      getenv, no cpuid (__cpu_model, __cpu_indicator_init), no BLAS/LAPACK,
#      no pthread, no abort/exit can creep in;
#   2. every global symbol it defines carries the calib_ prefix (public
#      calib_*, internal calib__*), so it never clashes in a firmware image.
# The allow-list, and why each is needed:
#   expf              float exp of the softmax/sigmoid kernels (temperature
#                     scaling, histogram binning of softmax/sigmoid input)
#   exp, log, log1p   the double-precision stable sigmoid/softplus and the
#                     clipped logit ln(s) - log1p(-s) of Platt and beta apply;
#                     log also in log-softmax (log of the double row sum)
#   floor, ceil       the exact equal-width bin index (binning.c, shared by
#                     histogram binning and the metrics) and table lookups
#   memcpy, memset,   the compiler may call these for struct copies and
#   memcmp            clears (the loader copies its parsed view into the
#                     workspace); memcmp checks the model magic
#   memmove           typed inputs (kernels/typed.c calib__tout_row): a float32
#                     output row stored from the conversion block
#   strcmp            method names (calib_method_from_name) and the fixed
#                     ISA table lookup (calib__kernels_by_name)
#   fabs              inlined on hosted builds; a call under -ffreestanding
#   __aeabi_*         (pattern) ARM EABI run-time helpers from libgcc: the
#                     double arithmetic and conversions of a Cortex-M4F, whose
#                     FPU is single precision (cross builds only)
#   __aarch64_*       (pattern) libgcc's outline-atomics helpers on aarch64
#                     (-moutline-atomics is GCC's default there): the relaxed
#                     atomic counter of the allocator hook (alloc.c)
# A method that lands with a new libm need adds it here with its reason.
# Cross builds (test/cross.sh): CORE_NM_LIB=archive NM=cross-nm check that
# archive instead of building lib/libcalib_core.a.
set -u
cd "$(dirname "$0")/../.." || exit 1
MAKE=${MAKE:-make}
NM=${NM:-nm}
ALLOW="expf exp log log1p floor ceil fabs memcpy memset memcmp memmove strcmp"
lib=${CORE_NM_LIB:-lib/libcalib_core.a}

if [ -z "${CORE_NM_LIB:-}" ] && ! $MAKE --no-print-directory -s core >/tmp/calib_core_nm_build.$$ 2>&1; then
  echo "test_core_nm: make core failed:"
  tail -20 /tmp/calib_core_nm_build.$$
  rm -f /tmp/calib_core_nm_build.$$
  exit 1
fi
rm -f /tmp/calib_core_nm_build.$$
[ -f "$lib" ] || { echo "test_core_nm: $lib missing after make core"; exit 1; }

undef=$($NM -u "$lib" 2>/dev/null | awk 'NF >= 2 && $(NF-1) == "U" {print $NF} NF == 1 && $1 !~ /:$/ {print $1}' | sort -u)
defined=$($NM -g --defined-only "$lib" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u)
fail=0
external=""
for s in $undef; do
  if echo "$defined" | grep -qx "$s"; then continue; fi
  external="$external $s"
  ok=0
  for a in $ALLOW; do [ "$s" = "$a" ] && ok=1; done
  case "$s" in __aeabi_* | __aarch64_*) ok=1 ;; esac
  if [ $ok -eq 0 ]; then
    users=$($NM -A -u "$lib" | grep -w "$s" | awk -F: '{print $2}' | sort -u | tr '\n' ' ')
    echo "FAIL: $lib needs '$s' (from: ${users:-?}), not in the core allow-list"
    fail=1
  fi
done
bad_defs=$(echo "$defined" | grep -v '^calib_' | grep -v '^$' || true)
if [ -n "$bad_defs" ]; then
  echo "FAIL: global symbols without the calib_ prefix:" $bad_defs
  fail=1
fi
nmembers=$($NM -A "$lib" 2>/dev/null | awk -F: '{print $2}' | sort -u | wc -l)
echo "test_core_nm: $nmembers members; external symbols:$external"
echo "test_core_nm: allow-list: $ALLOW"
[ $fail -eq 0 ] && echo "test_core_nm: ok" || exit 1
