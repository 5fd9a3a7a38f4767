/* dispatch.c -- chooses the kernel table once.
 * x86-64: cpuid (via the compiler's __builtin_cpu_supports) picks avx512 >
 * avx2 > scalar; CALIB_ISA=scalar|avx2|avx512|neon forces a path when the CPU
 * supports it (an unknown or unsupported value is ignored). The choice is
 * stored with a relaxed atomic: racing first calls compute the same answer.
 * The firmware core (CALIB_CORE) has no getenv/cpuid: the table is fixed at
 * compile time (NEON when built for it, else scalar). */
#include "internal.h"
#include "kernels.h"
#include "vmath.h"
#include "applyd.h"
#ifndef CALIB_CORE
#include <stdlib.h>
#endif

static int isa_supported(const char *name) {
  if (strcmp(name, "scalar") == 0) return 1;
#if defined(CALIB_HAVE_X86_KERNELS) && !defined(CALIB_CORE)
  __builtin_cpu_init();
  if (strcmp(name, "avx2") == 0)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (strcmp(name, "avx512") == 0)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#if defined(CALIB_HAVE_NEON_KERNELS)
  if (strcmp(name, "neon") == 0) return 1;
#endif
  return 0;
}

const calib__kernels *calib__kernels_by_name(const char *name) {
  if (!name || !isa_supported(name)) return NULL;
#if defined(CALIB_HAVE_X86_KERNELS) && !defined(CALIB_CORE)
  if (strcmp(name, "avx2") == 0) return &calib__kernels_avx2;
  if (strcmp(name, "avx512") == 0) return &calib__kernels_avx512;
#endif
#if defined(CALIB_HAVE_NEON_KERNELS)
  if (strcmp(name, "neon") == 0) return &calib__kernels_neon;
#endif
  if (strcmp(name, "scalar") == 0) return &calib__kernels_scalar;
  return NULL;
}

static const calib__kernels *detect(void) {
#ifndef CALIB_CORE
  const calib__kernels *forced = calib__kernels_by_name(getenv("CALIB_ISA"));
  if (forced) return forced;
#endif
  static const char *const order[] = {"avx512", "avx2", "neon"};
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    const calib__kernels *t = calib__kernels_by_name(order[i]);
    if (t) return t;
  }
  return &calib__kernels_scalar;
}

#ifdef CALIB_CORE
/* Fixed at compile time: no state at all (.bss stays empty). */
const calib__kernels *calib__kernels_get(void) { return detect(); }
#else
static const calib__kernels *chosen = NULL;

const calib__kernels *calib__kernels_get(void) {
  const calib__kernels *t = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
  if (!t) {
    t = detect();
    __atomic_store_n(&chosen, t, __ATOMIC_RELEASE);
  }
  return t;
}

const calib__kernels *calib__kernels_force(const char *name) {
  const calib__kernels *t = calib__kernels_by_name(name);
  if (t) __atomic_store_n(&chosen, t, __ATOMIC_RELEASE);
  return t;
}
#endif

const char *calib_isa(void) { return calib__kernels_get()->name; }

/* ---- typed kernel tables (typed.h): the one of the chosen table's ISA ---- */
#include "typed.h"
#if defined(CALIB_HAVE_X86_KERNELS) && !defined(CALIB_CORE)
#include <cpuid.h>
/* F16C: cpuid leaf 1, ecx bit 29. Read directly because clang (14) does not
 * know "f16c" as a __builtin_cpu_supports feature string. */
static int has_f16c(void) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
}
#endif

static const calib__tkernels *tk_for(const calib__kernels *k) {
#if defined(CALIB_HAVE_X86_KERNELS) && !defined(CALIB_CORE)
  /* the AVX2 typed kernels also need F16C (every AVX2 CPU so far has it) */
  if (k == &calib__kernels_avx2)
    return has_f16c() ? &calib__tkernels_avx2 : &calib__tkernels_scalar;
  if (k == &calib__kernels_avx512) return &calib__tkernels_avx512;
#endif
#if defined(CALIB_HAVE_NEON_KERNELS)
  if (k == &calib__kernels_neon) return &calib__tkernels_neon;
#endif
  (void)k;
  return &calib__tkernels_scalar;
}

const calib__tkernels *calib__tkernels_by_name(const char *name) {
  const calib__kernels *k = calib__kernels_by_name(name);
  return k ? tk_for(k) : NULL;
}

const calib__tkernels *calib__tkernels_get(void) { return tk_for(calib__kernels_get()); }

/* applyd.h: the double-precision SIMD row maps of the dispatched ISA. */
#if defined(CALIB_HAVE_X86_KERNELS) && !defined(CALIB_CORE)
extern const calib__applyd calib__applyd_avx2, calib__applyd_avx512;
const calib__applyd *calib__applyd_get(void) {
  const calib__kernels *t = calib__kernels_get();
  if (t == &calib__kernels_avx512) return &calib__applyd_avx512;
  if (t == &calib__kernels_avx2) return &calib__applyd_avx2;
  return NULL;
}
#else
const calib__applyd *calib__applyd_get(void) { return NULL; }
#endif

/* ---- vmath.h test hooks (tests only) ---------------------------------------- */
#ifndef CALIB_CORE
#if defined(CALIB_HAVE_VMATH_GENERIC)
/* calib__vexp_pd4 as a unit without ISA flags compiles it (the instance of
 * platt_pass.c's and mx_softmax.c's plain builds). */
static void generic_exp_f64(const double *x, size_t n, double *y) {
  for (size_t i = 0; i < n; i += 4) {
    calib__v4d v = {0, 0, 0, 0};
    const size_t m = n - i < 4 ? n - i : 4;
    memcpy(&v, x + i, m * sizeof *x);
    calib__vexp_pd4(&v);
    memcpy(y + i, &v, m * sizeof *y);
  }
}
static const calib__vmath_fns vmath_generic = {"generic", NULL, NULL, generic_exp_f64, NULL, NULL};
#endif
#if defined(CALIB_HAVE_X86_KERNELS)
extern const calib__vmath_fns calib__vmath_avx2, calib__vmath_avx512;
#endif
#if defined(CALIB_HAVE_NEON_KERNELS)
extern const calib__vmath_fns calib__vmath_neon;
#endif

const calib__vmath_fns *calib__vmath_by_name(const char *name) {
  if (!name) return NULL;
#if defined(CALIB_HAVE_VMATH_GENERIC)
  if (strcmp(name, "generic") == 0) return &vmath_generic;
#endif
  if (!isa_supported(name)) return NULL;
#if defined(CALIB_HAVE_X86_KERNELS)
  if (strcmp(name, "avx2") == 0) return &calib__vmath_avx2;
  if (strcmp(name, "avx512") == 0) return &calib__vmath_avx512;
#endif
#if defined(CALIB_HAVE_NEON_KERNELS)
  if (strcmp(name, "neon") == 0) return &calib__vmath_neon;
#endif
  return NULL;
}
#endif
