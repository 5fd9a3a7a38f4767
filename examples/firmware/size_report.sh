#!/bin/sh
# size_report.sh PREFIX CORE_LIB MAP -- `make size-report`: the bytes of the
# firmware core built for a Cortex-M4F.
#  1. every member of CORE_LIB (arm-none-eabi-size), before link-time garbage
#     collection: an upper bound (fit-only helpers that share a file with apply
#     code are still counted here);
#  2. what the linked example (examples/firmware, --gc-sections) really holds,
#     read from its link map MAP and split by origin: the libcalib core per
#     member, newlib's libm/libc and libgcc, and the example itself.
# Budget (issue 6), checked here (exit 1 when exceeded):
#   .text of temperature + Platt + isotonic apply, with everything they share
#   (loader, CRC, kernels, checks, status strings, and the typed-input path
#   the example links: apply_typed.o, typed.o, typed_softmax.o), <= 16384
#   bytes; the core's
#   .data + .bss together <= 16 bytes.
set -u
prefix=$1 lib=$2 map=$3
TEXT_BUDGET=16384
RAM_BUDGET=16
echo "size-report: Cortex-M4F core, $("${prefix}gcc" --version | head -1)"
echo
echo "1. $lib, every member (bytes, before --gc-sections):"
"${prefix}size" -t "$lib" | sed 's/ (ex [^)]*)//; s/^/   /'
echo
echo "2. $(dirname "$map")/firmware.elf, linked with --gc-sections (bytes, from $(basename "$map")):"
awk -v tb="$TEXT_BUDGET" -v rb="$RAM_BUDGET" '
  function origin(f,   m) {
    if (match(f, /libcalib_core\.a\([^)]*\)/)) { m = substr(f, RSTART + 16, RLENGTH - 17); return "core:" m }
    if (f ~ /libm\.a|libm_nano\.a/) return "rt:newlib libm"
    if (f ~ /libc\.a|libc_nano\.a/) return "rt:newlib libc"
    if (f ~ /libgcc\.a/) return "rt:libgcc"
    return "ex:example (main, start-up, models, buffers)"
  }
  function hex(s,   i, c, v) {
    v = 0; s = tolower(s); sub(/^0x/, "", s)
    for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)); v = v * 16 + c - 1 }
    return v
  }
  function add(sec, size, f,   o) {
    o = origin(f); sz[o, sec] += size; seen[o] = 1
  }
  /^\.isr_vector|^\.text|^\.ARM\.exidx|^\.rodata/ { out = "text"; next }
  /^\.data/ { out = "data"; next }
  /^\.bss/ { out = "bss"; next }
  /^\.[a-zA-Z]/ { out = ""; next }
  /^[A-Z]/ { out = "" }
  out != "" && /^ \.[^ ]+$/ { pending = 1; next }
  out != "" && pending && /^ +0x/ { pending = 0; if (NF >= 3) add(out, hex($2), $3); next }
  out != "" && /^ \.[^ ]+ +0x[0-9a-f]+ +0x[0-9a-f]+ / { pending = 0; add(out, hex($3), $4); next }
  { pending = 0 }
  END {
    printf "   %-46s %7s %6s %6s\n", "origin", ".text", ".data", ".bss"
    n = 0
    for (o in seen) names[++n] = o
    for (i = 2; i <= n; i++) { v = names[i]; j = i - 1; while (j > 0 && names[j] > v) { names[j + 1] = names[j]; j-- } names[j + 1] = v }
    for (i = 1; i <= n; i++) {
      o = names[i]; t = sz[o, "text"]; d = sz[o, "data"]; b = sz[o, "bss"]
      label = o; sub(/^[a-z]+:/, "", label)
      if (o ~ /^core:/) {
        label = "  libcalib_core " label
        ct += t; cd += d; cb += b
        if (label !~ /(beta|histogram|vector|matrix|dirichlet|ets)_apply|binning/) tpi += t
        else other += t
      } else { rt += (o ~ /^rt:/) ? t : 0 }
      printf "   %-46s %7d %6d %6d\n", label, t, d, b
    }
    printf "   %-46s %7d %6d %6d\n", "libcalib core, total", ct, cd, cb
    printf "     of which temperature + Platt + isotonic apply and all they share: %d .text (budget %d)\n", tpi, tb
    printf "     of which the other registered methods (beta, histogram, ...):     %d .text\n", other
    printf "   newlib libm/libc + libgcc (expf, exp, log, log1p, floor, ceil, mem*, soft double): %d .text\n", rt
    ok = tpi <= tb && cd + cb <= rb
    printf "size-report: %s (.text %d <= %d; core .data+.bss %d <= %d)\n", ok ? "ok" : "OVER BUDGET", tpi, tb, cd + cb, rb
    exit ok ? 0 : 1
  }' "$map"
