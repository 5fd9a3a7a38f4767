/* vmath.h -- the one home of libcalib's vectorised exp and log (src/kernels/).
 *
 * Header-only: every helper is `static inline` with always_inline (a plain
 * `static inline` helper stopped being inlined into the softmax drivers once
 * and the k = 10 path slowed by 45%), so each translation unit that includes
 * this file gets its own instance compiled for its own instruction set
 * (kernels_avx2.c with -mavx2 -mfma, kernels_avx512.c with the AVX-512
 * flags, a function with __attribute__((target("avx2,fma"))), ...). A section
 * is compiled only when the including unit has its instruction set (the
 * predefined macros __AVX2__, __AVX512F__, __ARM_NEON).
 *
 * Generic (GCC/Clang vector extensions, any target):
 *  - calib__vexp_pd4: exp of 4 doubles, x <= 709.78 (below -746, -inf
 *    included, +0). x = n ln2 + r, |r| <= ln2/2 (n by the 1.5*2^52 rounding
 *    trick, ln2 in two parts: n*ln2_hi exact), the degree-13 Taylor
 *    polynomial of e^r (truncation < 5e-18 relative) by Horner's rule down
 *    to the constant term (without FMA: bit for bit the exp the matrix
 *    fitter's row pass had before, whose ill-conditioned L-BFGS test at
 *    tol 1e-8 in test_gap.py is sensitive to the last bit), times
 *    2^n as two exact power-of-two factors 2^n1 * 2^n2 (n1 = n/2 rounded,
 *    n2 = n - n1), so a subnormal result is rounded once. With FMA in the
 *    unit (__FMA__), the Horner steps are fused multiply-adds; otherwise a
 *    multiply and an add (-std=c99 does not contract). Accuracy: test_vmath.
 *    Users: the AVX2 kernels' exp_pd (ts_moments), the Platt/beta Newton
 *    block kernel (fit/platt_pass.c), the matrix-family row pass
 *    (fit_matrix/mx_softmax.c).
 * AVX2 + FMA (8 floats / 4 doubles):
 *  - calib__exp8_ps (x <= 0, -inf included): Cody-Waite reduction, degree-6
 *    minimax-fitted polynomial (relative error 1.9e-9, 0.88 ulp in float
 *    Horner form), 2^n as two exact factors (subnormal results rounded
 *    once); inputs <= -120 give +0.
 *  - calib__log8_ps: natural log of positive normal floats (cephes logf).
 *  - calib__exp4_pd: calib__vexp_pd4 on __m256d.
 * AVX-512 F/DQ (16 floats / 8 doubles):
 *  - calib__exp16_ps (x <= 0, -inf included; inputs <= -120 give +0; NaN
 *    gives NaN, which kernels_avx512.c's row_regs relies on):
 *    x = (m + j/16) ln2 + r, |r| <= ln2/32: m + j/16 by one fused
 *    multiply-add with the 1.5*2^19 rounding constant (whose low mantissa
 *    bits are then j, the vpermps index), r by Cody-Waite in two parts
 *    (the 0.693359375 part times m + j/16 is exact), the 16 values 2^(j/16)
 *    in one register, e^r = 1 + r + c2 r^2 + c3 r^3 with minimax-fitted
 *    float c2, c3 (relative error 2.3e-9), the product
 *    2^(j/16) + 2^(j/16) r q with one fused multiply-add, 2^m by vscalefps
 *    (subnormal results rounded once). Seven FMA-port operations where the
 *    degree-6 form of calib__exp8_ps needs ten: 1.70 -> 1.35 ns per 16
 *    floats in L1 (a /tmp probe), softmax on rows in cache 7-15 % faster
 *    (bench_softmax at (2000, 100), (20000, 10), (200, 1000)). The table's
 *    float rounding (up to 0.79 of a half ulp) is the largest error term:
 *    0.98 ulp over every x <= 0 against 1.05 for the degree-6 form, and
 *    0.98 subnormal ulp (test_vmath asserts 1.5 and 1).
 *  - calib__exp16_ps_lo (x <= 0, -inf included; inputs <= -120 give +0;
 *    NaN gives NaN): for the AVX-512 softmax and log-softmax kernels
 *    (kernels_avx512.c, kernels_typed_avx512.c), whose arithmetic, once
 *    their passes over memory are tight, decides their time.
 *    x = (m + j/32) ln2 + r, |r| <= ln2/64: the 1.5*2^18 rounding constant
 *    (low mantissa bits j), r by ONE fused multiply-add with ln2 rounded to
 *    float (its error, 1.9e-9, times m + j/32 adds 2.75e-9 |x| relative), the
 *    32 values 2^(j/32) in two registers (vpermt2ps), e^r = 1 + c1 r + c2 r^2
 *    (minimax with c0 = 1, float c1, c2: 5.3e-8 relative), 2^m by vscalefps.
 *    Five FMA-port operations against calib__exp16_ps's seven: softmax rows
 *    of k = 100 in L1 24.2 -> 20.9 ns a row; row-wise calls from memory
 *    at 93 % of the copy against 88 % at (100000, 100) and 98 % against 93 %
 *    at (50000, 1000) (alternations of two bench_softmax builds, the copy
 *    timed beside each call; bench/README run 27). Relative error <= 1.65e-7
 *    + 2.75e-9 |x| over every normal result (2.1e-7 for |x| <= 16, about 1.8
 *    ulp), subnormal results within that plus half a subnormal ulp
 *    (test_vmath); the softmax core's contract is 2e-6 relative (calib.h),
 *    and an input's own float rounding already moves exp(x) by up to
 *    6e-8 |x| relative.
 *  - calib__log16_ps: cephes logf with getmant/getexp.
 *  - calib__exp8_pd: t = (m + j/16) ln2 + r, |r| <= ln2/32, m + j/16 from
 *    one FMA with the 1.5*2^48 rounding constant, the 16 values 2^(j/16) in
 *    two registers (vpermt2pd; load them once per loop with
 *    calib__exp8_pd_init), a degree-6 minimax polynomial (relative
 *    error 1.2e-17; Estrin's scheme), 2^m by vscalefpd. Ten FMA-port operations where the
 *    degree-7 Taylor form with a separate multiply for m needed twelve.
 *  - calib__exp8_pd_lo: the same table, a one-constant reduction and a
 *    degree-3 minimax polynomial (relative error 1.6e-9), for x <= 0 in
 *    double computations whose result is rounded once to float32 (beta's
 *    apply row): five FMA-port operations fewer.
 * NEON (AArch64; 4 floats / 2 doubles):
 *  - calib__exp4_ps: calib__exp8_ps's reduction and degree-6 polynomial (the
 *    same coefficients, so the AVX2 and NEON float exps agree bit for bit on
 *    normal results; calib__exp16_ps differs from them by at most about one
 *    ulp), 2^n as two exact
 *    factors, inputs <= -120 give +0 (clamped at 88.72 above). It used
 *    cephes' degree-5 polynomial before, whose extra error put the NEON fast
 *    temperature moments outside test_neon's 1e-6 agreement with the scalar
 *    oracle for about one seed in forty.
 *  - calib__log4_ps: cephes logf.
 *  - calib__exp2_pd: the algorithm of calib__vexp_pd4 with NEON fused
 *    multiply-adds and rounding instructions.
 * Measured accuracy against libm (every ISA of the machine, the whole float
 * range for the float functions): test/test_vmath.c, which reaches each
 * instance through the calib__vmath_* hooks below (calib__vmath_by_name).
 */
#ifndef CALIB_KERNELS_VMATH_H
#define CALIB_KERNELS_VMATH_H

#include "kernels.h" /* calib__f32u */
#include <math.h>
#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define CALIB__VM_INLINE static inline __attribute__((always_inline))
#else
#define CALIB__VM_INLINE static inline
#endif

/* Test hooks: one table per instruction set (dispatch.c), y_i = f(x_i) for
 * i < n through that set's vector helpers (the tail padded inside a vector).
 * exp_f32 is defined for x <= 0 (the softmax domain), log_f32 for positive
 * normal floats, exp_f64 for x <= 709.78, exp_f64_lo (AVX-512's
 * calib__exp8_pd_lo; NULL elsewhere) and exp_f32_lo (AVX-512's
 * calib__exp16_ps_lo; NULL elsewhere) for x <= 0. exp_f64_generic is
 * calib__vexp_pd4 as the unit compiles it. */
typedef struct {
  const char *name;
  void (*exp_f32)(const float *x, size_t n, float *y);
  void (*log_f32)(const float *x, size_t n, float *y);
  void (*exp_f64)(const double *x, size_t n, double *y);
  void (*exp_f64_lo)(const double *x, size_t n, double *y); /* x <= 0; NULL: none */
  void (*exp_f32_lo)(const float *x, size_t n, float *y);   /* x <= 0; NULL: none */
} calib__vmath_fns;

/* The hooks of the table `name` ("avx2", "avx512", "neon", "generic"), or
 * NULL when not built or not supported by this CPU. Tests only. */
const calib__vmath_fns *calib__vmath_by_name(const char *name);

/* ---- the float64 softmax row (scalar, libm) ----------------------------------
 * The one definition of the double-precision softmax of a float32 row, for
 * the paths that need the order of tiny probabilities or a float64 NLL
 * (isotonic and histogram apply on logits, the metrics accumulator, the
 * log-sum-exp of Dirichlet and beta): mx = max_j z_j (the first maximum, in
 * double), e_j = exp(z_j - mx), s = sum_j e_j in index order. k >= 1 finite
 * or -inf floats with a finite maximum. p != NULL: p[j] = e_j / s;
 * otherwise o != NULL: o[j] = (float)(e_j / s) (the exps computed twice, no
 * buffer). Returns the log-sum-exp mx + log(s). */
static inline double calib__softmax_row_f64(const calib__f32u *z, size_t k, double *p, calib__f32u *o) {
  double mx = (double)z[0], s = 0;
  for (size_t j = 1; j < k; j++) mx = (double)z[j] > mx ? (double)z[j] : mx;
  if (p) {
    for (size_t j = 0; j < k; j++) s += p[j] = exp((double)z[j] - mx);
    for (size_t j = 0; j < k; j++) p[j] /= s;
  } else {
    for (size_t j = 0; j < k; j++) s += exp((double)z[j] - mx);
    if (o)
      for (size_t j = 0; j < k; j++) o[j] = (float)(exp((double)z[j] - mx) / s);
  }
  return mx + log(s);
}

/* ---- generic: GCC/Clang vector extensions --------------------------------- */
#if defined(__GNUC__) || defined(__clang__)
#define CALIB_HAVE_VMATH_GENERIC 1
typedef double calib__v4d __attribute__((vector_size(32)));
typedef long long calib__v4i __attribute__((vector_size(32)));
typedef unsigned long long calib__v4u __attribute__((vector_size(32)));

#if defined(__FMA__) && defined(__AVX__)
#include <immintrin.h>
#define CALIB__VFMA4(a, b, c) ((calib__v4d)_mm256_fmadd_pd((__m256d)(a), (__m256d)(b), (__m256d)(c)))
#else
#define CALIB__VFMA4(a, b, c) ((a) * (b) + (c))
#endif
/* m ? a : b lane-wise (C has no vector ?: operator) */
#define CALIB__VSEL4(m, a, b) ((calib__v4d)(((m) & (calib__v4i)(a)) | (~(m) & (calib__v4i)(b))))

/* *px = exp(*px) lane-wise (see the file comment). By pointer: no 32-byte
 * vector is passed by value, so units without AVX see no ABI question. */
CALIB__VM_INLINE void calib__vexp_pd4(calib__v4d *px) {
  const calib__v4d zero = {0, 0, 0, 0};
  const calib__v4d shift = zero + 0x1.8p52, lo = zero - 746.0, hi = zero + 709.78;
  calib__v4d x = *px;
  x = CALIB__VSEL4(x > lo, x, lo); /* NaN -> lo, as _mm256_max_pd(x, lo) */
  x = CALIB__VSEL4(x < hi, x, hi);
  calib__v4d nd = CALIB__VFMA4(x, zero + 1.4426950408889634, shift);
  const calib__v4i n = (calib__v4i)nd - (calib__v4i)shift; /* round(x / ln2) */
  nd -= shift;
  calib__v4d r = CALIB__VFMA4(-nd, zero + 0x1.62e42feep-1, x); /* nd * ln2_hi is exact */
  r = CALIB__VFMA4(-nd, zero + 1.9082149292705877e-10, r);
  calib__v4d q = zero + 1.0 / 6227020800.0;
  q = CALIB__VFMA4(q, r, zero + 1.0 / 479001600.0);
  q = CALIB__VFMA4(q, r, zero + 1.0 / 39916800.0);
  q = CALIB__VFMA4(q, r, zero + 1.0 / 3628800.0);
  q = CALIB__VFMA4(q, r, zero + 1.0 / 362880.0);
  q = CALIB__VFMA4(q, r, zero + 1.0 / 40320.0);
  q = CALIB__VFMA4(q, r, zero + 1.0 / 5040.0);
  q = CALIB__VFMA4(q, r, zero + 1.0 / 720.0);
  q = CALIB__VFMA4(q, r, zero + 1.0 / 120.0);
  q = CALIB__VFMA4(q, r, zero + 1.0 / 24.0);
  q = CALIB__VFMA4(q, r, zero + 1.0 / 6.0);
  q = CALIB__VFMA4(q, r, zero + 0.5);
  q = CALIB__VFMA4(q, r, zero + 1.0);
  const calib__v4d p = CALIB__VFMA4(q, r, zero + 1.0);
  /* n in [-1077, 1024]: n1 = floor(n/2) (a logical shift of n + 2048), n2 = n - n1,
   * 2^n1 and 2^n2 both normal */
  const calib__v4i n1 = (calib__v4i)((calib__v4u)(n + 2048) >> 1) - 1024, n2 = n - n1;
  *px = (p * (calib__v4d)((n1 + 1023) << 52)) * (calib__v4d)((n2 + 1023) << 52);
}
#endif /* vector extensions */

/* ---- AVX2 + FMA ------------------------------------------------------------- */
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

CALIB__VM_INLINE __m256 calib__exp8_ps(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-120.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(0x1.6ab926p-10f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.126d64p-7f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.55589cp-5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.55540ap-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.fffffap-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

CALIB__VM_INLINE __m256 calib__log8_ps(__m256 s) {
  const __m256i bits = _mm256_castps_si256(s);
  __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127)));
  __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)),
                                                 _mm256_set1_epi32(0x3F800000)));
  const __m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(1.41421356237f), _CMP_GT_OQ);
  m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
  e = _mm256_add_ps(e, _mm256_and_ps(big, _mm256_set1_ps(1.0f)));
  const __m256 f = _mm256_sub_ps(m, _mm256_set1_ps(1.0f)), z = _mm256_mul_ps(f, f);
  __m256 y = _mm256_set1_ps(7.0376836292e-2f);
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(-1.1514610310e-1f));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(1.1676998740e-1f));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(-1.2420140846e-1f));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(1.4249322787e-1f));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(-1.6668057665e-1f));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(2.0000714765e-1f));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(-2.4999993993e-1f));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(3.3333331174e-1f));
  y = _mm256_mul_ps(_mm256_mul_ps(y, f), z);
  y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
  y = _mm256_fnmadd_ps(z, _mm256_set1_ps(0.5f), y);
  return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(f, y));
}

CALIB__VM_INLINE __m256d calib__exp4_pd(__m256d t) {
  calib__v4d v = (calib__v4d)t;
  calib__vexp_pd4(&v);
  return (__m256d)v;
}
#endif /* AVX2 */

/* ---- AVX-512 F/DQ --------------------------------------------------------- */
#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>

/* The two float exps' first step: *x := max(-120, *x) (the bound first:
 * vmaxps returns its second operand when either is NaN, so NaN stays NaN),
 * returns s = fl(*x log2(e) + shift), whose low mantissa bits are the table
 * index (shift = 1.5 2^19: steps of 1/16; 1.5 2^18: 1/32), and *n := s - shift,
 * exact: m + j/16 (or j/32). */
CALIB__VM_INLINE __m512 calib__exp16_round(__m512 *x, __m512 shift, __m512 *n) {
  *x = _mm512_max_ps(_mm512_set1_ps(-120.0f), *x);
  const __m512 s = _mm512_fmadd_ps(*x, _mm512_set1_ps(1.44269504088896341f), shift);
  *n = _mm512_sub_ps(s, shift);
  return s;
}

CALIB__VM_INLINE __m512 calib__exp16_ps(__m512 x) {
  const __m512 tab = _mm512_setr_ps(0x1.p+0f, 0x1.0b5586p+0f, 0x1.172b84p+0f, 0x1.2387a6p+0f, 0x1.306fe0p+0f,
                                    0x1.3dea64p+0f, 0x1.4bfdaep+0f, 0x1.5ab07ep+0f, 0x1.6a09e6p+0f, 0x1.7a1148p+0f,
                                    0x1.8ace54p+0f, 0x1.9c4918p+0f, 0x1.ae89fap+0f, 0x1.c199bep+0f, 0x1.d5818ep+0f,
                                    0x1.ea4afap+0f);
  __m512 n;
  const __m512 s = calib__exp16_round(&x, _mm512_set1_ps(0x1.8p19f), &n);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  const __m512 T = _mm512_permutexvar_ps(_mm512_castps_si512(s), tab);
  __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(0x1.55575cp-3f), r, _mm512_set1_ps(0x1.00028ep-1f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(_mm512_fmadd_ps(_mm512_mul_ps(T, r), q, T), n);
}

CALIB__VM_INLINE __m512 calib__exp16_ps_lo(__m512 x) {
  const __m512 t0 = _mm512_setr_ps(0x1.000000p+0f, 0x1.059b0ep+0f, 0x1.0b5586p+0f, 0x1.11301ep+0f, 0x1.172b84p+0f,
                                   0x1.1d4874p+0f, 0x1.2387a6p+0f, 0x1.29e9e0p+0f, 0x1.306fe0p+0f, 0x1.371a74p+0f,
                                   0x1.3dea64p+0f, 0x1.44e086p+0f, 0x1.4bfdaep+0f, 0x1.5342b6p+0f, 0x1.5ab07ep+0f,
                                   0x1.6247ecp+0f);
  const __m512 t1 = _mm512_setr_ps(0x1.6a09e6p+0f, 0x1.71f75ep+0f, 0x1.7a1148p+0f, 0x1.82589ap+0f, 0x1.8ace54p+0f,
                                   0x1.93737cp+0f, 0x1.9c4918p+0f, 0x1.a5503cp+0f, 0x1.ae89fap+0f, 0x1.b7f770p+0f,
                                   0x1.c199bep+0f, 0x1.cb720ep+0f, 0x1.d5818ep+0f, 0x1.dfc974p+0f, 0x1.ea4afap+0f,
                                   0x1.f50766p+0f);
  __m512 n;
  const __m512 s = calib__exp16_round(&x, _mm512_set1_ps(0x1.8p18f), &n);
  const __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e430p-1f), x);
  const __m512 T = _mm512_permutex2var_ps(t0, _mm512_castps_si512(s), t1);
  const __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(0x1.fffffep-2f), r, _mm512_set1_ps(0x1.0000f6p+0f));
  return _mm512_scalef_ps(_mm512_fmadd_ps(_mm512_mul_ps(T, r), q, T), n);
}

CALIB__VM_INLINE __m512 calib__log16_ps(__m512 s) {
  __m512 m = _mm512_getmant_ps(s, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
  __m512 e = _mm512_getexp_ps(s);
  const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356237f), _CMP_GT_OQ);
  m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
  e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));
  const __m512 f = _mm512_sub_ps(m, _mm512_set1_ps(1.0f)), z = _mm512_mul_ps(f, f);
  __m512 y = _mm512_set1_ps(7.0376836292e-2f);
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(-1.1514610310e-1f));
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.1676998740e-1f));
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(-1.2420140846e-1f));
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.4249322787e-1f));
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(-1.6668057665e-1f));
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(2.0000714765e-1f));
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(-2.4999993993e-1f));
  y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(3.3333331174e-1f));
  y = _mm512_mul_ps(_mm512_mul_ps(y, f), z);
  y = _mm512_fmadd_ps(e, _mm512_set1_ps(-2.12194440e-4f), y);
  y = _mm512_fnmadd_ps(z, _mm512_set1_ps(0.5f), y);
  return _mm512_fmadd_ps(e, _mm512_set1_ps(0.693359375f), _mm512_add_ps(f, y));
}

typedef struct {
  __m512d tlo, thi;
} calib__exp8_pd_tab;

CALIB__VM_INLINE calib__exp8_pd_tab calib__exp8_pd_init(void) {
  static const double exp2_16th[16] = {
      0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
      0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
      0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
      0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0,
  };
  calib__exp8_pd_tab t;
  t.tlo = _mm512_loadu_pd(exp2_16th);
  t.thi = _mm512_loadu_pd(exp2_16th + 8);
  return t;
}

/* The double exps' rounding step: *kd = fl(t log2(e) + 1.5 2^48) (its low
 * mantissa bits are the table index), *nf = *kd - 1.5 2^48 = m + j/16, exact. */
CALIB__VM_INLINE void calib__exp8_pd_round(__m512d t, __m512d *kd, __m512d *nf) {
  const __m512d shifter = _mm512_set1_pd(0x1.8p48);
  *kd = _mm512_fmadd_pd(t, _mm512_set1_pd(0x1.71547652b82fep0), shifter);
  *nf = _mm512_sub_pd(*kd, shifter);
}

/* The reduction of calib__exp8_pd (calib__exp8_pd_lo takes only the
 * rounding step, with one ln2 constant), on a t already clamped to
 * [-746, 709.78]: kd = t / ln2 rounded to a multiple of 1/16 by
 * the 1.5 * 2^48 shift (its ulp is 2^-4): nf = kd - shift = m + j/16
 * exactly, j in [0, 16) the low four bits of kd (vpermt2pd's index); returns
 * r = t - nf ln2, |r| <= ln2/32, with ln2 in two parts, the first with 32
 * significant bits (nf, 15 bits, times it is exact). */
CALIB__VM_INLINE __m512d calib__exp8_pd_reduce(__m512d t, __m512d *kd, __m512d *nf) {
  calib__exp8_pd_round(t, kd, nf);
  const __m512d r = _mm512_fnmadd_pd(*nf, _mm512_set1_pd(0x1.62e42fee00000p-1), t);
  return _mm512_fnmadd_pd(*nf, _mm512_set1_pd(0x1.a39ef35793c76p-33), r);
}

/* 2^(j/16) (1 + p) 2^m, p = e^r - 1 (vscalefpd takes floor(m + j/16) = m) */
CALIB__VM_INLINE __m512d calib__exp8_pd_finish(__m512d kd, __m512d nf, __m512d p, const calib__exp8_pd_tab *tab) {
  const __m512d tj = _mm512_permutex2var_pd(tab->tlo, _mm512_castpd_si512(kd), tab->thi);
  return _mm512_scalef_pd(_mm512_fmadd_pd(tj, p, tj), nf);
}

CALIB__VM_INLINE __m512d calib__exp8_pd(__m512d t, const calib__exp8_pd_tab *tab) {
  t = _mm512_max_pd(t, _mm512_set1_pd(-746.0));
  t = _mm512_min_pd(t, _mm512_set1_pd(709.78));
  __m512d kd, nf;
  const __m512d r = calib__exp8_pd_reduce(t, &kd, &nf);
  /* e^r - 1 = r + r^2 (c2 + c3 r + ... + c6 r^4), |r| <= ln2/32: minimax
   * for the relative error of e^r (a linear programme on 1501 points around
   * a 50-digit mpmath residual, rounded to double): 1.16e-17, a tenth of a
   * half ulp (interpolating at Chebyshev nodes gave 2.8e-17), where the
   * degree-7 Taylor form needed one fused multiply-add more. Measured
   * (test_vmath): 1.11 ulp, subnormal results 1.04 subnormal ulp (rounded
   * twice: test_vmath's header) */
  const __m512d r2 = _mm512_mul_pd(r, r);
  /* q = c2 + c3 r + c4 r^2 + c5 r^3 + c6 r^4 by Estrin's scheme, (c2 + c3 r)
   * + r^2 ((c4 + c5 r) + c6 r^2): three fused multiply-adds deep after r
   * instead of Horner's four, the same count of operations (r^2 was needed
   * anyway). Callers with long dependency chains around the exp are bound by
   * latency, not by the FMA ports (beta's apply row at k = 1000, before
   * calib__exp8_pd_lo: 1.53 -> 1.39 us, bench_latency). */
  const __m512d qa = _mm512_fmadd_pd(_mm512_set1_pd(0x1.555555548f894p-3), r, _mm512_set1_pd(0x1.fffffffffffb9p-2));
  const __m512d qb = _mm512_fmadd_pd(_mm512_set1_pd(0x1.11123aae4c65bp-7), r, _mm512_set1_pd(0x1.55555558fcceap-5));
  const __m512d qc = _mm512_fmadd_pd(_mm512_set1_pd(0x1.6c14c6cb66c44p-10), r2, qb);
  const __m512d q = _mm512_fmadd_pd(r2, qc, qa);
  const __m512d p = _mm512_fmadd_pd(q, r2, r); /* e^r - 1 */
  return calib__exp8_pd_finish(kd, nf, p, tab);
}

/* calib__exp8_pd's table with a degree-3 polynomial and a one-constant
 * reduction (r = t - (m + j/16) ln2 by one fused multiply-add with ln2
 * rounded to double: its 2.3e-17 error times |m + j/16| <= 1077 is 2.5e-14
 * relative, nothing beside the polynomial's), for t <= 0 only (no upper
 * clamp; NaN gives +0): relative error 1.6e-9 (about 1/40 of a float32 ulp)
 * in five FMA-port operations fewer. For double computations whose result
 * is rounded to float32 once (beta's apply row, applyd_body.h), never for a
 * double result. (The second reduction constant dropped: beta's k = 1000
 * row 0.979 -> 0.925 us, /tmp harness alternated five times.) */
CALIB__VM_INLINE __m512d calib__exp8_pd_lo(__m512d t, const calib__exp8_pd_tab *tab) {
  t = _mm512_max_pd(t, _mm512_set1_pd(-746.0));
  __m512d kd, nf;
  calib__exp8_pd_round(t, &kd, &nf);
  const __m512d r = _mm512_fnmadd_pd(nf, _mm512_set1_pd(0x1.62e42fefa39efp-1), t);
  /* e^r - 1 = r + r^2 (c2 + c3 r), |r| <= ln2/32: c2, c3 minimise the
   * largest relative error of e^r (Nelder-Mead on the maximum over 40001
   * points, long double; the degree-3 Taylor form: 9.3e-9): 1.59e-9 */
  const __m512d r2 = _mm512_mul_pd(r, r);
  const __m512d q = _mm512_fmadd_pd(_mm512_set1_pd(0x1.55559ad9a670ep-3), r, _mm512_set1_pd(0x1.00021e272c1cdp-1));
  const __m512d p = _mm512_fmadd_pd(q, r2, r); /* e^r - 1 */
  return calib__exp8_pd_finish(kd, nf, p, tab);
}
#endif /* AVX-512 */

/* ---- NEON (AArch64) ------------------------------------------------------- */
#if defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>

CALIB__VM_INLINE float32x4_t calib__exp4_ps(float32x4_t x) {
  x = vmaxq_f32(x, vdupq_n_f32(-120.0f));
  x = vminq_f32(x, vdupq_n_f32(88.72f));
  const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(0x1.6ab926p-10f);
  p = vfmaq_f32(vdupq_n_f32(0x1.126d64p-7f), p, r);
  p = vfmaq_f32(vdupq_n_f32(0x1.55589cp-5f), p, r);
  p = vfmaq_f32(vdupq_n_f32(0x1.55540ap-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(0x1.fffffap-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  const int32x4_t ni = vcvtq_s32_f32(n);
  const int32x4_t n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
  const int32x4_t bias = vdupq_n_s32(127);
  const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
  const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
  return vmulq_f32(vmulq_f32(p, s1), s2);
}

CALIB__VM_INLINE float32x4_t calib__log4_ps(float32x4_t s) {
  const uint32x4_t bits = vreinterpretq_u32_f32(s);
  float32x4_t e = vcvtq_f32_s32(vsubq_s32(vreinterpretq_s32_u32(vshrq_n_u32(bits, 23)), vdupq_n_s32(127)));
  float32x4_t m = vreinterpretq_f32_u32(vorrq_u32(vandq_u32(bits, vdupq_n_u32(0x007FFFFFu)),
                                                  vdupq_n_u32(0x3F800000u)));
  const uint32x4_t big = vcgtq_f32(m, vdupq_n_f32(1.41421356237f));
  m = vbslq_f32(big, vmulq_f32(m, vdupq_n_f32(0.5f)), m);
  e = vaddq_f32(e, vreinterpretq_f32_u32(vandq_u32(big, vreinterpretq_u32_f32(vdupq_n_f32(1.0f)))));
  const float32x4_t f = vsubq_f32(m, vdupq_n_f32(1.0f)), z = vmulq_f32(f, f);
  float32x4_t y = vdupq_n_f32(7.0376836292e-2f);
  y = vfmaq_f32(vdupq_n_f32(-1.1514610310e-1f), y, f);
  y = vfmaq_f32(vdupq_n_f32(1.1676998740e-1f), y, f);
  y = vfmaq_f32(vdupq_n_f32(-1.2420140846e-1f), y, f);
  y = vfmaq_f32(vdupq_n_f32(1.4249322787e-1f), y, f);
  y = vfmaq_f32(vdupq_n_f32(-1.6668057665e-1f), y, f);
  y = vfmaq_f32(vdupq_n_f32(2.0000714765e-1f), y, f);
  y = vfmaq_f32(vdupq_n_f32(-2.4999993993e-1f), y, f);
  y = vfmaq_f32(vdupq_n_f32(3.3333331174e-1f), y, f);
  y = vmulq_f32(vmulq_f32(y, f), z);
  y = vfmaq_f32(y, e, vdupq_n_f32(-2.12194440e-4f));
  y = vfmsq_f32(y, z, vdupq_n_f32(0.5f));
  return vfmaq_f32(vaddq_f32(f, y), e, vdupq_n_f32(0.693359375f));
}

CALIB__VM_INLINE float64x2_t calib__pow2_pd2(float64x2_t n) { /* 2^n, integer n in [-1022, 1023] */
  const float64x2_t b = vdupq_n_f64(0x1.8p52 + 1023.0);
  return vreinterpretq_f64_u64(vshlq_n_u64(vreinterpretq_u64_f64(vaddq_f64(n, b)), 52));
}

CALIB__VM_INLINE float64x2_t calib__exp2_pd(float64x2_t t) {
  t = vmaxq_f64(t, vdupq_n_f64(-746.0));
  t = vminq_f64(t, vdupq_n_f64(709.78));
  const float64x2_t nf = vrndnq_f64(vmulq_f64(t, vdupq_n_f64(1.4426950408889634)));
  float64x2_t r = vfmsq_f64(t, nf, vdupq_n_f64(0x1.62e42feep-1));
  r = vfmsq_f64(r, nf, vdupq_n_f64(1.9082149292705877e-10));
  float64x2_t q = vdupq_n_f64(1.0 / 6227020800.0);
  q = vfmaq_f64(vdupq_n_f64(1.0 / 479001600.0), q, r);
  q = vfmaq_f64(vdupq_n_f64(1.0 / 39916800.0), q, r);
  q = vfmaq_f64(vdupq_n_f64(1.0 / 3628800.0), q, r);
  q = vfmaq_f64(vdupq_n_f64(1.0 / 362880.0), q, r);
  q = vfmaq_f64(vdupq_n_f64(1.0 / 40320.0), q, r);
  q = vfmaq_f64(vdupq_n_f64(1.0 / 5040.0), q, r);
  q = vfmaq_f64(vdupq_n_f64(1.0 / 720.0), q, r);
  q = vfmaq_f64(vdupq_n_f64(1.0 / 120.0), q, r);
  q = vfmaq_f64(vdupq_n_f64(1.0 / 24.0), q, r);
  q = vfmaq_f64(vdupq_n_f64(1.0 / 6.0), q, r);
  q = vfmaq_f64(vdupq_n_f64(0.5), q, r);
  const float64x2_t p = vaddq_f64(vfmaq_f64(r, q, vmulq_f64(r, r)), vdupq_n_f64(1.0));
  const float64x2_t n1 = vrndmq_f64(vmulq_f64(nf, vdupq_n_f64(0.5)));
  return vmulq_f64(vmulq_f64(p, calib__pow2_pd2(n1)), calib__pow2_pd2(vsubq_f64(nf, n1)));
}
#endif /* NEON */

#endif /* CALIB_KERNELS_VMATH_H */
