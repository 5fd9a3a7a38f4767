/* kernels_avx2.c -- the AVX2 + FMA kernel table.
 *
 * Compiled with -mavx2 -mfma (Makefile); only reached after cpuid says the
 * CPU has both. Every helper is static (DESIGN.md section 5). Same structure
 * as kernels_avx512.c, with 8-float vectors and vector masks:
 *  - exp_ps (x <= 0): Cody-Waite reduction, degree-6 minimax-fitted polynomial (~1 ulp),
 *    2^n applied as two exact power-of-two factors 2^(n/2) so that results in
 *    the subnormal range are rounded once and correctly; inputs <= -120
 *    (-inf included) give +0.
 *  - exp_pd: reduction to |r| <= ln2/2, degree-13 Taylor polynomial
 *    (truncation < 5e-18), 2^n as two factors as above; about 1 ulp.
 *  - softmax rows: k <= 16 eight rows at a time transposed in registers
 *    (lane = row), else three passes over the row (software-prefetched 8 KiB
 *    ahead); large outputs are written in chunks of rows into lines
 *    prefetched for writing (the drivers below); inputs over 12 MiB do their last 8 MiB of rows
 *    first (still in the last-level cache after the validation pass).
 */
#include "internal.h"
#include "kernels.h"
#include "transpose.h"
#define PFW_HINT _MM_HINT_T0 /* not prefetchw: see pfw.h */
#include "pfw.h"
#include "vmath.h"
#include <immintrin.h>
#include <math.h>

/* Prefetch helpers and the transposed block bodies must be inlined: GCC
 * classifies a non-inlined function whose only effect is a prefetch as
 * side-effect free and deletes the call (observed with GCC 12). */
#if defined(__GNUC__)
#define ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define ALWAYS_INLINE inline
#endif


#define TS_BUF 2048

static const int32_t mask_src[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* Lanes 0..r-1 set (r clamped to 8). */
static inline __m256i mask8i(size_t r) {
  return _mm256_loadu_si256((const __m256i *)(const void *)(mask_src + 8 - (r < 8 ? r : 8)));
}
/* 64-bit lanes 0..r-1 set (r clamped to 4). */
static inline __m256i mask4q(size_t r) {
  return _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(const void *)(mask_src + 8 - (r < 4 ? r : 4))));
}
static inline __m128i mask4i(size_t r) {
  return _mm_loadu_si128((const __m128i *)(const void *)(mask_src + 8 - (r < 4 ? r : 4)));
}

/* Masked load with -inf in the unselected lanes. */
static inline __m256 load_ninf(const float *p, __m256i mk) {
  return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps(p, mk), _mm256_castsi256_ps(mk));
}

/* Software prefetch PF_BYTES ahead of the read position (the exp passes
 * otherwise wait on DRAM); the address may pass the end of the array, which
 * a prefetch tolerates, so it is formed as an integer. */
#define PF_BYTES 8192
static ALWAYS_INLINE void prefetch1(const float *p) {
  _mm_prefetch((const char *)((uintptr_t)p + PF_BYTES), _MM_HINT_T0);
}

/* ---- float exp / log (vmath.h) --------------------------------------------- */

/* Domain: x <= 0 or -inf (every caller passes beta * (x - max) or -|t|). */
static ALWAYS_INLINE __m256 exp_ps(__m256 x) { return calib__exp8_ps(x); }
/* Natural log of positive normal floats (cephes logf; about 1 ulp). */
static ALWAYS_INLINE __m256 log_ps(__m256 s) { return calib__log8_ps(s); }

static ALWAYS_INLINE __m256 bcast_max(__m256 v) {
  v = _mm256_max_ps(v, _mm256_permute2f128_ps(v, v, 1));
  v = _mm256_max_ps(v, _mm256_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm256_max_ps(v, _mm256_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
}
static ALWAYS_INLINE __m256 bcast_add(__m256 v) {
  v = _mm256_add_ps(v, _mm256_permute2f128_ps(v, v, 1));
  v = _mm256_add_ps(v, _mm256_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm256_add_ps(v, _mm256_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
}
static inline float hmax(__m256 v) { return _mm256_cvtss_f32(bcast_max(v)); }
static inline float hadd(__m256 v) { return _mm256_cvtss_f32(bcast_add(v)); }
static inline double hadd_pd(__m256d v) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* ---- double exp (vmath.h) ------------------------------------------------- */

static ALWAYS_INLINE __m256d exp_pd(__m256d t) { return calib__exp4_pd(t); }

/* ---- validation ------------------------------------------------------------- */

static int check_rows_avx2(const float *x, size_t n, size_t k, size_t ldx) {
  const __m256 pinf = _mm256_set1_ps(INFINITY), ninf = _mm256_set1_ps(-INFINITY);
  const __m256i mt = mask8i(k % 8);
  const size_t kv = k - k % 8;
  for (size_t i = 0; i < n; i++) {
    const float *r = x + i * ldx;
    __m256 bad = _mm256_setzero_ps(), fin = bad;
    size_t j = 0;
    for (; j + 32 <= kv; j += 32) {
      const __m256 a = _mm256_loadu_ps(r + j), b = _mm256_loadu_ps(r + j + 8);
      const __m256 c = _mm256_loadu_ps(r + j + 16), d = _mm256_loadu_ps(r + j + 24);
      bad = _mm256_or_ps(bad, _mm256_or_ps(_mm256_or_ps(_mm256_cmp_ps(a, pinf, _CMP_NLT_UQ),
                                                        _mm256_cmp_ps(b, pinf, _CMP_NLT_UQ)),
                                           _mm256_or_ps(_mm256_cmp_ps(c, pinf, _CMP_NLT_UQ),
                                                        _mm256_cmp_ps(d, pinf, _CMP_NLT_UQ))));
      fin = _mm256_or_ps(fin, _mm256_or_ps(_mm256_or_ps(_mm256_cmp_ps(a, ninf, _CMP_NEQ_OQ),
                                                        _mm256_cmp_ps(b, ninf, _CMP_NEQ_OQ)),
                                           _mm256_or_ps(_mm256_cmp_ps(c, ninf, _CMP_NEQ_OQ),
                                                        _mm256_cmp_ps(d, ninf, _CMP_NEQ_OQ))));
    }
    for (; j < kv; j += 8) {
      const __m256 a = _mm256_loadu_ps(r + j);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, pinf, _CMP_NLT_UQ));
      fin = _mm256_or_ps(fin, _mm256_cmp_ps(a, ninf, _CMP_NEQ_OQ));
    }
    if (j < k) { /* unselected lanes load as 0: finite, not -inf, so mask fin */
      const __m256 a = _mm256_maskload_ps(r + j, mt);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, pinf, _CMP_NLT_UQ));
      fin = _mm256_or_ps(fin, _mm256_and_ps(_mm256_cmp_ps(a, ninf, _CMP_NEQ_OQ), _mm256_castsi256_ps(mt)));
    }
    if (_mm256_movemask_ps(bad) || !_mm256_movemask_ps(fin)) return CALIB_E_NONFINITE;
  }
  return CALIB_OK;
}

/* ---- row kernels --------------------------------------------------------------
 * rows_fn(x, nr, k, ldx, beta, o, ldo, rs, i0): nr rows of x into o. The
 * strict instances ignore rs and i0; the row-wise ones (*_chk) test each row
 * inside its max pass, record row i0 + i in *rs and write a bad row as NaN. */
typedef void (*rows_fn)(const float *x, size_t nr, size_t k, size_t ldx, float beta, float *o,
                        size_t ldo, calib__rstat *rs, size_t i0);

/* The row maximum; with chk, *bad = 1 iff the row has a NaN (an unordered
 * compare OR-ed in during the max pass) or its maximum is +-inf. */
static ALWAYS_INLINE float row_max_c(const float *r, size_t k, const int chk, int *bad) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  __m256 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf, nan = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 32 <= k; j += 32) {
    const __m256 a = _mm256_loadu_ps(r + j), b = _mm256_loadu_ps(r + j + 8);
    const __m256 c = _mm256_loadu_ps(r + j + 16), d = _mm256_loadu_ps(r + j + 24);
    if (chk)
      nan = _mm256_or_ps(nan, _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_UNORD_Q), _mm256_cmp_ps(c, d, _CMP_UNORD_Q)));
    m0 = _mm256_max_ps(m0, a);
    m1 = _mm256_max_ps(m1, b);
    m2 = _mm256_max_ps(m2, c);
    m3 = _mm256_max_ps(m3, d);
  }
  for (; j + 8 <= k; j += 8) {
    const __m256 a = _mm256_loadu_ps(r + j);
    if (chk) nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
    m0 = _mm256_max_ps(m0, a);
  }
  if (j < k) {
    const __m256 a = load_ninf(r + j, mask8i(k - j));
    if (chk) nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
    m1 = _mm256_max_ps(m1, a);
  }
  const float m = hmax(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
  if (chk) *bad = _mm256_movemask_ps(nan) != 0 || !(fabsf(m) < INFINITY);
  return m;
}

static inline float row_max(const float *r, size_t k) { return row_max_c(r, k, 0, NULL); }

static ALWAYS_INLINE __m256 exp_shift(__m256 v, __m256 m, __m256 b) {
  return exp_ps(_mm256_mul_ps(_mm256_sub_ps(v, m), b));
}

static ALWAYS_INLINE float row_exp_store(const float *r, size_t k, __m256 m, __m256 b, float *o) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t j = 0;
  for (; j + 32 <= k; j += 32) {
    prefetch1(r + j);
    prefetch1(r + j + 16);
    const __m256 e0 = exp_shift(_mm256_loadu_ps(r + j), m, b);
    const __m256 e1 = exp_shift(_mm256_loadu_ps(r + j + 8), m, b);
    const __m256 e2 = exp_shift(_mm256_loadu_ps(r + j + 16), m, b);
    const __m256 e3 = exp_shift(_mm256_loadu_ps(r + j + 24), m, b);
    _mm256_storeu_ps(o + j, e0);
    _mm256_storeu_ps(o + j + 8, e1);
    _mm256_storeu_ps(o + j + 16, e2);
    _mm256_storeu_ps(o + j + 24, e3);
    s0 = _mm256_add_ps(s0, e0);
    s1 = _mm256_add_ps(s1, e1);
    s2 = _mm256_add_ps(s2, e2);
    s3 = _mm256_add_ps(s3, e3);
  }
  for (; j + 8 <= k; j += 8) {
    prefetch1(r + j);
    const __m256 e = exp_shift(_mm256_loadu_ps(r + j), m, b);
    _mm256_storeu_ps(o + j, e);
    s0 = _mm256_add_ps(s0, e);
  }
  if (j < k) {
    const __m256i mt = mask8i(k - j);
    const __m256 e = exp_shift(load_ninf(r + j, mt), m, b);
    _mm256_maskstore_ps(o + j, mt, e);
    s1 = _mm256_add_ps(s1, e);
  }
  return hadd(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static ALWAYS_INLINE void row_scale(float *o, size_t k, __m256 inv) {
  size_t j = 0;
  for (; j + 16 <= k; j += 16) {
    _mm256_storeu_ps(o + j, _mm256_mul_ps(_mm256_loadu_ps(o + j), inv));
    _mm256_storeu_ps(o + j + 8, _mm256_mul_ps(_mm256_loadu_ps(o + j + 8), inv));
  }
  for (; j < k; j += 8) {
    const __m256i mt = mask8i(k - j);
    _mm256_maskstore_ps(o + j, mt, _mm256_mul_ps(_mm256_maskload_ps(o + j, mt), inv));
  }
}

static ALWAYS_INLINE void softmax_big_body(const float *x, size_t nr, size_t k, size_t ldx, float beta,
                                           float *o, size_t ldo, calib__rstat *rs, size_t i0,
                                           const int chk) {
  const __m256 b = _mm256_set1_ps(beta);
  for (size_t i = 0; i < nr; i++) {
    const float *r = x + i * ldx;
    float *w = o + i * ldo;
    int bad = 0;
    const __m256 m = _mm256_set1_ps(row_max_c(r, k, chk, &bad));
    const float s = row_exp_store(r, k, m, b, w);
    if (chk) calib__rstat_row(rs, i0 + i, bad);
    row_scale(w, k, _mm256_set1_ps(chk && bad ? NAN : 1.0f / s));
  }
}

static void softmax_rows_big(const float *x, size_t nr, size_t k, size_t ldx, float beta, float *o,
                             size_t ldo, calib__rstat *rs, size_t i0) {
  softmax_big_body(x, nr, k, ldx, beta, o, ldo, rs, i0, 0);
}

static void softmax_rows_big_chk(const float *x, size_t nr, size_t k, size_t ldx, float beta, float *o,
                                 size_t ldo, calib__rstat *rs, size_t i0) {
  softmax_big_body(x, nr, k, ldx, beta, o, ldo, rs, i0, 1);
}

/* ---- k <= 16: eight rows at a time, transposed (lane = row) -----------------
 * Columns 0-7 and 8-15 of eight rows are loaded (-inf in the lanes >= k),
 * transposed with 8x8 transposes so that vector c holds column c of the
 * eight rows, processed lane-wise (no horizontal reductions), transposed
 * back and stored with the same masks. */


/* Lane-wise softmax (or log-softmax) over nc column vectors. With chk,
 * returns the bit mask of bad lanes (rows: a NaN, or a maximum of +-inf),
 * whose outputs become NaN; 0 without. */
static ALWAYS_INLINE int soa_softmax(__m256 *c, int nc, __m256 b, int logp, const int chk) {
  __m256 m = c[0], bad = _mm256_setzero_ps();
  if (chk) bad = _mm256_cmp_ps(c[0], c[0], _CMP_UNORD_Q);
#pragma GCC unroll 16
  for (int j = 1; j < nc; j++) {
    if (chk) bad = _mm256_or_ps(bad, _mm256_cmp_ps(c[j], c[j], _CMP_UNORD_Q));
    m = _mm256_max_ps(m, c[j]);
  }
  if (chk) { /* |m| == inf */
    const __m256 am = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), m);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(am, _mm256_set1_ps(INFINITY), _CMP_EQ_OQ));
  }
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
#pragma GCC unroll 16
  for (int j = 0; j < nc; j++) {
    c[j] = _mm256_mul_ps(_mm256_sub_ps(c[j], m), b);
    const __m256 e = exp_ps(c[j]);
    if (j & 1) s1 = _mm256_add_ps(s1, e);
    else s0 = _mm256_add_ps(s0, e);
    if (!logp) c[j] = e;
  }
  const __m256 s = _mm256_add_ps(s0, s1);
  if (logp) {
    __m256 ls = log_ps(s);
    if (chk) ls = _mm256_blendv_ps(ls, _mm256_set1_ps(NAN), bad);
#pragma GCC unroll 16
    for (int j = 0; j < nc; j++) c[j] = _mm256_sub_ps(c[j], ls);
  } else {
    __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), s);
    if (chk) inv = _mm256_blendv_ps(inv, _mm256_set1_ps(NAN), bad);
#pragma GCC unroll 16
    for (int j = 0; j < nc; j++) c[j] = _mm256_mul_ps(c[j], inv);
  }
  return chk ? _mm256_movemask_ps(bad) : 0;
}

#define PF_ROWS 96 /* software prefetch distance in rows (masked loads are not hardware-prefetched) */

static ALWAYS_INLINE void prefetch_row(const float *x, size_t i, size_t ldx, size_t k) {
  const uintptr_t p = (uintptr_t)x + (i + PF_ROWS) * ldx * sizeof(float); /* may pass the end: a prefetch */
  _mm_prefetch((const char *)p, _MM_HINT_T0);
  _mm_prefetch((const char *)(p + (k - 1) * sizeof(float)), _MM_HINT_T0);
}

/* The per-row drivers' prefetch (kernels_rows.h): short rows only. */
static ALWAYS_INLINE void prefetch_ahead(const float *r, size_t ldx, size_t k) {
  if (k <= 64) prefetch_row(r, 0, ldx, k);
}

/* Eight rows starting at i0, k <= 16 columns, nc == k. */
static ALWAYS_INLINE int block8(const float *x, size_t ldx, size_t k, size_t i0, __m256 b, float *o,
                                size_t ldo, int logp, const int nc, const int chk) {
  __m256 v[16];
  const __m256i m0 = mask8i(k), m1 = mask8i(k > 8 ? k - 8 : 0);
#pragma GCC unroll 8
  for (int r = 0; r < 8; r++) {
    const float *row = x + (i0 + (size_t)r) * ldx;
    prefetch_row(x, i0 + (size_t)r, ldx, k);
    v[r] = load_ninf(row, m0);
    if (nc > 8) v[8 + r] = load_ninf(row + 8, m1);
  }
  calib__tr8_ps(v);
  if (nc > 8) calib__tr8_ps(v + 8);
  const int bad = soa_softmax(v, nc, b, logp, chk); /* lane r = row i0 + r */
  calib__tr8_ps(v);
  if (nc > 8) calib__tr8_ps(v + 8);
#pragma GCC unroll 8
  for (int r = 0; r < 8; r++) {
    float *w = o + (i0 + (size_t)r) * ldo;
    _mm256_maskstore_ps(w, m0, v[r]);
    if (nc > 8) _mm256_maskstore_ps(w + 8, m1, v[8 + r]);
  }
  return bad;
}

/* One row with k <= 16 (the n % 8 leftover rows): two vectors. With chk,
 * returns 1 for a bad row, written as NaN. */
static ALWAYS_INLINE int row_small(const float *r, size_t k, __m256 b, float *o, int logp, const int chk) {
  const __m256i m0 = mask8i(k), m1 = mask8i(k > 8 ? k - 8 : 0);
  const __m256 v0 = load_ninf(r, m0), v1 = load_ninf(r + 8, m1);
  const __m256 m = bcast_max(_mm256_max_ps(v0, v1));
  const __m256 t0 = _mm256_mul_ps(_mm256_sub_ps(v0, m), b), t1 = _mm256_mul_ps(_mm256_sub_ps(v1, m), b);
  const __m256 e0 = exp_ps(t0), e1 = exp_ps(t1), s = bcast_add(_mm256_add_ps(e0, e1));
  if (chk && (_mm256_movemask_ps(_mm256_cmp_ps(v0, v1, _CMP_UNORD_Q)) ||
              !(fabsf(_mm256_cvtss_f32(m)) < INFINITY))) {
    _mm256_maskstore_ps(o, m0, _mm256_set1_ps(NAN));
    _mm256_maskstore_ps(o + 8, m1, _mm256_set1_ps(NAN));
    return 1;
  }
  if (logp) {
    const __m256 ls = log_ps(s);
    _mm256_maskstore_ps(o, m0, _mm256_sub_ps(t0, ls));
    _mm256_maskstore_ps(o + 8, m1, _mm256_sub_ps(t1, ls));
  } else {
    _mm256_maskstore_ps(o, m0, _mm256_div_ps(e0, s));
    _mm256_maskstore_ps(o + 8, m1, _mm256_div_ps(e1, s));
  }
  return 0;
}

typedef void (*small_fn)(const float *x, size_t nr, size_t k, size_t ldx, __m256 b, float *o, size_t ldo,
                         int logp, calib__rstat *rs, size_t i0);
static ALWAYS_INLINE void small_body(const float *x, size_t nr, size_t k, size_t ldx, __m256 b, float *o,
                                     size_t ldo, int logp, calib__rstat *rs, size_t i0, const int nc,
                                     const int chk) {
  size_t i = 0;
  for (; i + 8 <= nr; i += 8) {
    const int bad = block8(x, ldx, k, i, b, o, ldo, logp, nc, chk);
    if (chk) calib__rstat_mask(rs, i0 + i, (uint32_t)bad, 8);
  }
  for (; i < nr; i++) {
    const int bad = row_small(x + i * ldx, k, b, o + i * ldo, logp, chk);
    if (chk) calib__rstat_row(rs, i0 + i, bad);
  }
}
#define DEF_SMALL(NC)                                                                              \
  static void rows_k##NC(const float *x, size_t nr, size_t k, size_t ldx, __m256 b, float *o,      \
                         size_t ldo, int logp, calib__rstat *rs, size_t i0) {                      \
    small_body(x, nr, k, ldx, b, o, ldo, logp, rs, i0, NC, 0);                                     \
  }                                                                                                \
  static void rowsc_k##NC(const float *x, size_t nr, size_t k, size_t ldx, __m256 b, float *o,     \
                          size_t ldo, int logp, calib__rstat *rs, size_t i0) {                     \
    small_body(x, nr, k, ldx, b, o, ldo, logp, rs, i0, NC, 1);                                     \
  }
DEF_SMALL(1)
DEF_SMALL(2)
DEF_SMALL(3)
DEF_SMALL(4)
DEF_SMALL(5)
DEF_SMALL(6)
DEF_SMALL(7)
DEF_SMALL(8)
DEF_SMALL(9)
DEF_SMALL(10)
DEF_SMALL(11)
DEF_SMALL(12)
DEF_SMALL(13)
DEF_SMALL(14)
DEF_SMALL(15)
DEF_SMALL(16)
static const small_fn small_tab[17] = {NULL,     rows_k1,  rows_k2,  rows_k3,  rows_k4,  rows_k5,
                                       rows_k6,  rows_k7,  rows_k8,  rows_k9,  rows_k10, rows_k11,
                                       rows_k12, rows_k13, rows_k14, rows_k15, rows_k16};

static const small_fn smallc_tab[17] = {NULL,      rowsc_k1,  rowsc_k2,  rowsc_k3,  rowsc_k4,  rowsc_k5,
                                        rowsc_k6,  rowsc_k7,  rowsc_k8,  rowsc_k9,  rowsc_k10, rowsc_k11,
                                        rowsc_k12, rowsc_k13, rowsc_k14, rowsc_k15, rowsc_k16};

static void softmax_rows_small(const float *x, size_t nr, size_t k, size_t ldx, float beta,
                               float *o, size_t ldo, calib__rstat *rs, size_t i0) {
  small_tab[k](x, nr, k, ldx, _mm256_set1_ps(beta), o, ldo, 0, rs, i0);
}

static void softmax_rows_small_chk(const float *x, size_t nr, size_t k, size_t ldx, float beta,
                                   float *o, size_t ldo, calib__rstat *rs, size_t i0) {
  smallc_tab[k](x, nr, k, ldx, _mm256_set1_ps(beta), o, ldo, 0, rs, i0);
}

static void log_softmax_rows_small(const float *x, size_t nr, size_t k, size_t ldx, float beta,
                                   float *o, size_t ldo, calib__rstat *rs, size_t i0) {
  small_tab[k](x, nr, k, ldx, _mm256_set1_ps(beta), o, ldo, 1, rs, i0);
}

static void log_softmax_rows_small_chk(const float *x, size_t nr, size_t k, size_t ldx, float beta,
                                       float *o, size_t ldo, calib__rstat *rs, size_t i0) {
  smallc_tab[k](x, nr, k, ldx, _mm256_set1_ps(beta), o, ldo, 1, rs, i0);
}

static ALWAYS_INLINE void log_softmax_body(const float *x, size_t nr, size_t k, size_t ldx, float beta, float *o,
                                           size_t ldo, calib__rstat *rs, size_t i0, const int chk) {
  const __m256 b = _mm256_set1_ps(beta);
  for (size_t i = 0; i < nr; i++) {
    const float *r = x + i * ldx;
    float *w = o + i * ldo;
    int bad = 0;
    const __m256 m = _mm256_set1_ps(row_max_c(r, k, chk, &bad));
    if (chk) calib__rstat_row(rs, i0 + i, bad);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t j = 0;
    for (; j + 16 <= k; j += 16) {
      prefetch1(r + j);
      s0 = _mm256_add_ps(s0, exp_shift(_mm256_loadu_ps(r + j), m, b));
      s1 = _mm256_add_ps(s1, exp_shift(_mm256_loadu_ps(r + j + 8), m, b));
    }
    for (; j < k; j += 8) s0 = _mm256_add_ps(s0, exp_shift(load_ninf(r + j, mask8i(k - j)), m, b));
    const __m256 ls = chk && bad ? _mm256_set1_ps(NAN) : log_ps(bcast_add(_mm256_add_ps(s0, s1)));
    for (j = 0; j + 8 <= k; j += 8)
      _mm256_storeu_ps(w + j, _mm256_fmsub_ps(_mm256_sub_ps(_mm256_loadu_ps(r + j), m), b, ls));
    if (j < k) {
      const __m256i mt = mask8i(k - j);
      _mm256_maskstore_ps(w + j, mt, _mm256_fmsub_ps(_mm256_sub_ps(_mm256_maskload_ps(r + j, mt), m), b, ls));
    }
  }
}

static void log_softmax_rows(const float *x, size_t nr, size_t k, size_t ldx, float beta, float *o,
                             size_t ldo, calib__rstat *rs, size_t i0) {
  log_softmax_body(x, nr, k, ldx, beta, o, ldo, rs, i0, 0);
}

static void log_softmax_rows_chk(const float *x, size_t nr, size_t k, size_t ldx, float beta, float *o,
                                 size_t ldo, calib__rstat *rs, size_t i0) {
  log_softmax_body(x, nr, k, ldx, beta, o, ldo, rs, i0, 1);
}

/* ---- drivers ------------------------------------------------------------------ */

static void run_rows_part(rows_fn f, const float *x, size_t n, size_t k, size_t ldx, float beta,
                          float *y, size_t ldy, calib__rstat *rs, size_t i0);

/* The public wrappers validate the whole input just before the kernel runs,
 * which leaves its last few MiB in the last-level cache: the rows in the
 * final TAIL_BYTES of the input are done first, then the rest from row 0. */
#define TAIL_BYTES ((size_t)8 << 20)
static void run_rows(rows_fn f, const float *x, size_t n, size_t k, size_t ldx, float beta,
                     float *y, size_t ldy) {
  const size_t tail = TAIL_BYTES / (ldx * sizeof(float));
  if (tail == 0 || n <= tail + tail / 2) {
    run_rows_part(f, x, n, k, ldx, beta, y, ldy, NULL, 0);
    return;
  }
  run_rows_part(f, x + (n - tail) * ldx, tail, k, ldx, beta, y + (n - tail) * ldy, ldy, NULL, 0);
  run_rows_part(f, x, n - tail, k, ldx, beta, y, ldy, NULL, 0);
}

/* Large outputs (>= PFW_BYTES): chunks of about PFW_CHUNK bytes of whole
 * row blocks (8 rows for k <= 16), the lines PFW_AHEAD bytes ahead of each
 * chunk prefetched, ordinary stores -- as kernels_avx512.c's drivers, which
 * say why (the writes overlap the exps; non-temporal stores from a staging
 * buffer did not on this project's machines). Constants and helpers: pfw.h;
 * a plain prefetcht0 here, not prefetchw: AVX2 reaches CPUs without the
 * PRFCHW feature (Haswell), and on the AVX-512 machine the two measured the
 * same. */
static void run_rows_part(rows_fn f, const float *x, size_t n, size_t k, size_t ldx, float beta,
                          float *y, size_t ldy, calib__rstat *rs, size_t i0) {
  if (n * ldy * sizeof(float) < PFW_BYTES) {
    f(x, n, k, ldx, beta, y, ldy, rs, i0);
    return;
  }
  const size_t rows = pfw_rows(ldy * sizeof(float), k <= 16 ? 8 : 1);
  pfw_lines((uintptr_t)y, PFW_AHEAD);
  for (size_t i = 0; i < n; i += rows) {
    const size_t nr = n - i < rows ? n - i : rows;
    pfw_lines((uintptr_t)(y + i * ldy) + PFW_AHEAD, nr * ldy * sizeof(float));
    f(x + i * ldx, nr, k, ldx, beta, y + i * ldy, ldy, rs, i0 + i);
  }
}

static void softmax_avx2(const float *x, size_t n, size_t k, size_t ldx, float beta, float *y,
                         size_t ldy) {
  run_rows(k <= 16 ? softmax_rows_small : softmax_rows_big, x, n, k, ldx, beta, y, ldy);
}

static void log_softmax_avx2(const float *x, size_t n, size_t k, size_t ldx, float beta, float *y,
                             size_t ldy) {
  run_rows(k <= 16 ? log_softmax_rows_small : log_softmax_rows, x, n, k, ldx, beta, y, ldy);
}

/* Row-wise mode: one pass, rows in order. */
static size_t softmax_rows_avx2(const float *x, size_t n, size_t k, size_t ldx, float beta, float *y,
                                size_t ldy, uint8_t *status, size_t *first_bad) {
  calib__rstat rs = {status, 0, n};
  run_rows_part(k <= 16 ? softmax_rows_small_chk : softmax_rows_big_chk, x, n, k, ldx, beta, y, ldy,
                &rs, 0);
  *first_bad = rs.first;
  return rs.bad;
}

static size_t log_softmax_rows_avx2(const float *x, size_t n, size_t k, size_t ldx, float beta, float *y,
                                    size_t ldy, uint8_t *status, size_t *first_bad) {
  calib__rstat rs = {status, 0, n};
  run_rows_part(k <= 16 ? log_softmax_rows_small_chk : log_softmax_rows_chk, x, n, k, ldx, beta, y, ldy,
                &rs, 0);
  *first_bad = rs.first;
  return rs.bad;
}

/* ---- sigmoid -------------------------------------------------------------------- */

static ALWAYS_INLINE __m256 sigmoid_vec(__m256 v, __m256 b) {
  const __m256 t = _mm256_mul_ps(v, b);
  const __m256 e = exp_ps(_mm256_or_ps(t, _mm256_set1_ps(-0.0f))); /* exp(-|t|) */
  const __m256 q = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f)));
  return _mm256_blendv_ps(q, _mm256_mul_ps(e, q), _mm256_cmp_ps(t, _mm256_setzero_ps(), _CMP_LT_OQ));
}

static size_t sigmoid_rows_avx2(const float *x, size_t n, float beta, float *y, uint8_t *status,
                                size_t *first_bad) {
  const __m256 b = _mm256_set1_ps(beta);
  calib__rstat rs = {status, 0, n};
  for (size_t i = 0; i < n; i += 8) {
    const size_t cnt = n - i < 8 ? n - i : 8;
    const __m256i mt = mask8i(cnt);
    const __m256 v = _mm256_maskload_ps(x + i, mt); /* masked-off lanes load as 0 */
    const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    _mm256_maskstore_ps(y + i, mt, _mm256_blendv_ps(sigmoid_vec(v, b), _mm256_set1_ps(NAN), nan));
    calib__rstat_mask(&rs, i, (uint32_t)_mm256_movemask_ps(nan), cnt);
  }
  *first_bad = rs.first;
  return rs.bad;
}

static void sigmoid_avx2(const float *x, size_t n, float beta, float *y) {
  const __m256 b = _mm256_set1_ps(beta);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 p0 = sigmoid_vec(_mm256_loadu_ps(x + i), b);
    const __m256 p1 = sigmoid_vec(_mm256_loadu_ps(x + i + 8), b);
    _mm256_storeu_ps(y + i, p0);
    _mm256_storeu_ps(y + i + 8, p1);
  }
  for (; i < n; i += 8) {
    const __m256i mt = mask8i(n - i);
    _mm256_maskstore_ps(y + i, mt, sigmoid_vec(_mm256_maskload_ps(x + i, mt), b));
  }
}

/* ---- temperature-scaling moments -------------------------------------------------- */

static inline __m256d load_d(const float *p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }

static ALWAYS_INLINE void ts_pass1(const float *r, size_t k, __m256d m, __m256d b, double *eb, double *s0,
                                   double *s1) {
  __m256d a0 = _mm256_setzero_pd(), a1 = a0, c0 = a0, c1 = a0;
  size_t j = 0;
  for (; j + 8 <= k; j += 8) {
    if ((j & 15) == 0) prefetch1(r + j);
    const __m256d d0 = _mm256_sub_pd(load_d(r + j), m), d1 = _mm256_sub_pd(load_d(r + j + 4), m);
    const __m256d e0 = exp_pd(_mm256_mul_pd(b, d0)), e1 = exp_pd(_mm256_mul_pd(b, d1));
    if (j + 8 <= TS_BUF) {
      _mm256_storeu_pd(eb + j, e0);
      _mm256_storeu_pd(eb + j + 4, e1);
    }
    a0 = _mm256_add_pd(a0, e0);
    a1 = _mm256_add_pd(a1, e1);
    c0 = _mm256_fmadd_pd(e0, d0, c0);
    c1 = _mm256_fmadd_pd(e1, d1, c1);
  }
  for (; j < k; j += 4) {
    const __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_maskload_ps(r + j, mask4i(k - j))), m);
    const __m256d e = _mm256_and_pd(exp_pd(_mm256_mul_pd(b, d)), _mm256_castsi256_pd(mask4q(k - j)));
    if (j + 4 <= TS_BUF) _mm256_storeu_pd(eb + j, e);
    a0 = _mm256_add_pd(a0, e);
    c0 = _mm256_fmadd_pd(e, d, c0);
  }
  *s0 = hadd_pd(_mm256_add_pd(a0, a1));
  *s1 = hadd_pd(_mm256_add_pd(c0, c1));
}

/* Pass 2: sum e_j (d_j - mu)^2 (returned) and sum e_j^2 (*q). */
static ALWAYS_INLINE double ts_pass2(const float *r, size_t k, __m256d m, __m256d b, __m256d mu,
                                     const double *eb, double *q) {
  __m256d a0 = _mm256_setzero_pd(), a1 = a0, q0 = a0, q1 = a0;
  size_t j = 0;
  for (; j + 8 <= k; j += 8) {
    const __m256d d0 = _mm256_sub_pd(load_d(r + j), m), d1 = _mm256_sub_pd(load_d(r + j + 4), m);
    __m256d e0, e1;
    if (j + 8 <= TS_BUF) {
      e0 = _mm256_loadu_pd(eb + j);
      e1 = _mm256_loadu_pd(eb + j + 4);
    } else {
      e0 = exp_pd(_mm256_mul_pd(b, d0));
      e1 = exp_pd(_mm256_mul_pd(b, d1));
    }
    const __m256d t0 = _mm256_sub_pd(d0, mu), t1 = _mm256_sub_pd(d1, mu);
    a0 = _mm256_fmadd_pd(_mm256_mul_pd(e0, t0), t0, a0);
    a1 = _mm256_fmadd_pd(_mm256_mul_pd(e1, t1), t1, a1);
    q0 = _mm256_fmadd_pd(e0, e0, q0);
    q1 = _mm256_fmadd_pd(e1, e1, q1);
  }
  for (; j < k; j += 4) {
    const __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_maskload_ps(r + j, mask4i(k - j))), m);
    const __m256d e = j + 4 <= TS_BUF
                          ? _mm256_loadu_pd(eb + j)
                          : _mm256_and_pd(exp_pd(_mm256_mul_pd(b, d)), _mm256_castsi256_pd(mask4q(k - j)));
    const __m256d t = _mm256_sub_pd(d, mu);
    a0 = _mm256_fmadd_pd(_mm256_mul_pd(e, t), t, a0);
    q0 = _mm256_fmadd_pd(e, e, q0);
  }
  *q = hadd_pd(_mm256_add_pd(q0, q1));
  return hadd_pd(_mm256_add_pd(a0, a1));
}

/* One row of ts_moments (kernels_rows.h); e_j kept in eb[0..TS_BUF). */
static inline void ts_row(const float *r, size_t k, double m, double beta, double *eb, double s[4]) {
  const __m256d mv = _mm256_set1_pd(m), b = _mm256_set1_pd(beta);
  ts_pass1(r, k, mv, b, eb, &s[0], &s[1]);
  s[2] = ts_pass2(r, k, mv, b, _mm256_set1_pd(s[1] / s[0]), eb, &s[3]);
}

/* ---- finiteness check (driver: kernels_rows.h) ------------------------------
 * The magnitudes are below 2^31, so the signed integer max and compare serve. */
typedef __m256i mag_vec;
static inline mag_vec mag_zero(void) { return _mm256_setzero_si256(); }

static inline __m256i mag_bits(__m256 v) {
  return _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x7fffffff));
}

/* acc := lane-wise max of acc and the magnitude bits of p[0..cnt). */
static inline __m256i mag_max(const float *p, size_t cnt, __m256i acc) {
  __m256i a1 = _mm256_setzero_si256(), a2 = a1, a3 = a1;
  size_t j = 0;
  for (; j + 32 <= cnt; j += 32) {
    acc = _mm256_max_epi32(acc, mag_bits(_mm256_loadu_ps(p + j)));
    a1 = _mm256_max_epi32(a1, mag_bits(_mm256_loadu_ps(p + j + 8)));
    a2 = _mm256_max_epi32(a2, mag_bits(_mm256_loadu_ps(p + j + 16)));
    a3 = _mm256_max_epi32(a3, mag_bits(_mm256_loadu_ps(p + j + 24)));
  }
  for (; j + 8 <= cnt; j += 8) acc = _mm256_max_epi32(acc, mag_bits(_mm256_loadu_ps(p + j)));
  if (j < cnt) /* unselected lanes load as +0: magnitude 0 */
    a1 = _mm256_max_epi32(a1, mag_bits(_mm256_maskload_ps(p + j, mask8i(cnt - j))));
  return _mm256_max_epi32(_mm256_max_epi32(acc, a1), _mm256_max_epi32(a2, a3));
}

static inline int mag_bad(__m256i acc) {
  return !_mm256_testz_si256(_mm256_cmpgt_epi32(acc, _mm256_set1_epi32(0x7f7fffff)), _mm256_set1_epi32(-1));
}

/* ---- temperature-scaling pre-pass ------------------------------------------- */

/* Sum (in double) and maximum of r[0..k), k >= 1. */
static inline double row_sum_max(const float *r, size_t k, float *mx) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  __m256 m0 = ninf, m1 = ninf;
  __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
  size_t j = 0;
  for (; j + 16 <= k; j += 16) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(r + j));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(r + j + 8));
    s0 = _mm256_add_pd(s0, load_d(r + j));
    s1 = _mm256_add_pd(s1, load_d(r + j + 4));
    s2 = _mm256_add_pd(s2, load_d(r + j + 8));
    s3 = _mm256_add_pd(s3, load_d(r + j + 12));
  }
  for (; j < k; j += 4) { /* unselected lanes: +0 to the sums, -inf to the max */
    const __m128i mt = mask4i(k - j);
    const __m128 a = _mm_maskload_ps(r + j, mt);
    m0 = _mm256_max_ps(m0, _mm256_insertf128_ps(ninf, _mm_blendv_ps(_mm256_castps256_ps128(ninf), a,
                                                                     _mm_castsi128_ps(mt)), 0));
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(a));
  }
  *mx = hmax(_mm256_max_ps(m0, m1));
  return hadd_pd(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
}

/* ---- temperature-scaling moments, single-precision exp ---------------------------- */

#define TSF_BLOCK 256 /* entries summed in float (16 per lane) before the sums move to double */

typedef struct {
  __m256 s0, s1, s2;
} tsf_acc;

/* e = exp(bh d + bl d) and-ed with mk; s0 += e, s1 += e d, s2 += e d^2. */
static ALWAYS_INLINE void tsf_step(tsf_acc *a, __m256 d, __m256 bh, __m256 bl, __m256 mk) {
  const __m256 e = _mm256_and_ps(mk, exp_ps(_mm256_fmadd_ps(d, bh, _mm256_mul_ps(d, bl))));
  const __m256 ed = _mm256_mul_ps(e, d);
  a->s0 = _mm256_add_ps(a->s0, e);
  a->s1 = _mm256_add_ps(a->s1, ed);
  a->s2 = _mm256_fmadd_ps(ed, d, a->s2);
}

static inline double hsum_ps_pd(__m256 v) {
  return hadd_pd(_mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
}

/* One block r[0..cnt) (cnt <= TSF_BLOCK), float sums added to s[0..2] in double. */
static inline void tsf_block(const float *r, size_t cnt, __m256 m, __m256 bh, __m256 bl, double s[3]) {
  const __m256 z = _mm256_setzero_ps(), all = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  tsf_acc a[2] = {{z, z, z}, {z, z, z}};
  size_t j = 0;
  for (; j + 16 <= cnt; j += 16) {
    prefetch1(r + j);
    tsf_step(&a[0], _mm256_sub_ps(_mm256_loadu_ps(r + j), m), bh, bl, all);
    tsf_step(&a[1], _mm256_sub_ps(_mm256_loadu_ps(r + j + 8), m), bh, bl, all);
  }
  for (; j < cnt; j += 8) {
    const __m256i mk = mask8i(cnt - j);
    tsf_step(&a[0], _mm256_sub_ps(_mm256_maskload_ps(r + j, mk), m), bh, bl, _mm256_castsi256_ps(mk));
  }
  s[0] += hsum_ps_pd(_mm256_add_ps(a[0].s0, a[1].s0));
  s[1] += hsum_ps_pd(_mm256_add_ps(a[0].s1, a[1].s1));
  s[2] += hsum_ps_pd(_mm256_add_ps(a[0].s2, a[1].s2));
}

/* The three sums of one row of ts_moments_fast, TSF_BLOCK entries at a time. */
static inline void tsf_row(const float *r, size_t k, float m, double beta, double s[3]) {
  const float bhf = (float)beta;
  const __m256 bh = _mm256_set1_ps(bhf), bl = _mm256_set1_ps((float)(beta - (double)bhf));
  const __m256 mv = _mm256_set1_ps(m);
  for (size_t j = 0; j < k; j += TSF_BLOCK) tsf_block(r + j, k - j < TSF_BLOCK ? k - j : TSF_BLOCK, mv, bh, bl, s);
}

/* ---- probabilities: sum of squares and first argmax (fit_provenance.c) ------ */

/* sum_j r_j^2 in double (v * v is exact in double, so fmadd = mul + add),
 * the maximum in float in the same read, then the first index holding it,
 * eight entries per compare. The scalar tail keeps the masked loads out. */
static double prob_sumsq_argmax_avx2(const float *r, size_t k, size_t *top) {
  __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
  __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
  size_t j = 0;
  for (; j + 16 <= k; j += 16) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(r + j));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(r + j + 8));
    const __m256d a0 = load_d(r + j), a1 = load_d(r + j + 4), b0 = load_d(r + j + 8), b1 = load_d(r + j + 12);
    s0 = _mm256_fmadd_pd(a0, a0, s0);
    s1 = _mm256_fmadd_pd(a1, a1, s1);
    s2 = _mm256_fmadd_pd(b0, b0, s2);
    s3 = _mm256_fmadd_pd(b1, b1, s3);
  }
  double s = hadd_pd(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
  float mx = hmax(_mm256_max_ps(m0, m1));
  const calib__f32u *p = r;
  for (; j < k; j++) {
    s += (double)p[j] * (double)p[j];
    mx = p[j] > mx ? p[j] : mx;
  }
  const __m256 m = _mm256_set1_ps(mx);
  size_t b = 0;
  for (; b + 8 <= k; b += 8) {
    const int eq = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(r + b), m, _CMP_EQ_OQ));
    if (eq) {
      *top = b + (size_t)__builtin_ctz((unsigned)eq);
      return s;
    }
  }
  while (p[b] != mx) b++;
  *top = b;
  return s;
}

/* kernels.h top_label_rows, eight entries per step: each lane keeps its
 * largest bits and the index where it first reached them (strictly greater
 * replaces), then the smallest index among the lanes holding the row's
 * maximum. Valid bits (+0 .. 0x3F800000) are non-negative as int32, so the
 * signed compares order them; bits above the bound as unsigned are those
 * above it as signed or negative, i.e. the sign bit of (v > bound) | v.
 * The masked tail loads are not hardware-prefetched: prefetch1 per step. */
/* The eight int32 lanes of v reduced by op (_mm_max_epi32 or _mm_min_epi32). */
#define HRED_EPI32(op, v)                                                               \
  __extension__({                                                                       \
    __m128i m_ = op(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));         \
    m_ = op(m_, _mm_shuffle_epi32(m_, 0x4E));                                           \
    m_ = op(m_, _mm_shuffle_epi32(m_, 0xB1));                                           \
    (int32_t)_mm_cvtsi128_si32(m_);                                                     \
  })
static size_t top_label_rows_avx2(const float *p, size_t n, size_t k, size_t *arg) {
  const __m256i lim = _mm256_set1_epi32(0x3F800000), big = _mm256_set1_epi32(INT32_MAX);
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), eight = _mm256_set1_epi32(8);
  const __m256i tail = mask8i(k % 8);
  for (size_t i = 0; i < n; i++) {
    const float *r = p + i * k;
    __m256i best = _mm256_setzero_si256(), idx = best, bad = best, jv = iota;
    for (size_t j = 0; j < k; j += 8) {
      prefetch1(r + j);
      const __m256i v = j + 8 <= k ? _mm256_loadu_si256((const __m256i *)(const void *)(r + j))
                                   : _mm256_maskload_epi32((const int *)(const void *)(r + j), tail);
      bad = _mm256_or_si256(bad, _mm256_or_si256(_mm256_cmpgt_epi32(v, lim), v));
      const __m256i g = _mm256_cmpgt_epi32(v, best);
      best = _mm256_blendv_epi8(best, v, g);
      idx = _mm256_blendv_epi8(idx, jv, g);
      jv = _mm256_add_epi32(jv, eight);
    }
    if (_mm256_movemask_ps(_mm256_castsi256_ps(bad))) return i;
    const __m256i eq = _mm256_cmpeq_epi32(best, _mm256_set1_epi32(HRED_EPI32(_mm_max_epi32, best)));
    const __m256i cand = _mm256_blendv_epi8(big, idx, eq);
    arg[i] = (size_t)HRED_EPI32(_mm_min_epi32, cand);
  }
  return n;
}

#include "kernels_rows.h"

const calib__kernels calib__kernels_avx2 = {
    "avx2",       check_rows_avx2, softmax_avx2,      log_softmax_avx2,
    sigmoid_avx2, ts_moments_rows, check_finite_rows, ts_prepass_rows,
    ts_moments_fast_rows, softmax_rows_avx2, log_softmax_rows_avx2, sigmoid_rows_avx2,
    prob_sumsq_argmax_avx2,
    ts_first_rows,
    top_label_rows_avx2,
};

/* ---- test hooks of vmath.h's AVX2 instances (test/test_vmath.c) ------------- */
#ifndef CALIB_CORE
static void vm_exp_f32(const float *x, size_t n, float *y) {
  for (size_t i = 0; i < n; i += 8) {
    float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const size_t m = n - i < 8 ? n - i : 8;
    memcpy(t, x + i, m * sizeof *t);
    _mm256_storeu_ps(t, exp_ps(_mm256_loadu_ps(t)));
    memcpy(y + i, t, m * sizeof *t);
  }
}
static void vm_log_f32(const float *x, size_t n, float *y) {
  for (size_t i = 0; i < n; i += 8) {
    float t[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    const size_t m = n - i < 8 ? n - i : 8;
    memcpy(t, x + i, m * sizeof *t);
    _mm256_storeu_ps(t, log_ps(_mm256_loadu_ps(t)));
    memcpy(y + i, t, m * sizeof *t);
  }
}
static void vm_exp_f64(const double *x, size_t n, double *y) {
  for (size_t i = 0; i < n; i += 4) {
    double t[4] = {0, 0, 0, 0};
    const size_t m = n - i < 4 ? n - i : 4;
    memcpy(t, x + i, m * sizeof *t);
    _mm256_storeu_pd(t, exp_pd(_mm256_loadu_pd(t)));
    memcpy(y + i, t, m * sizeof *t);
  }
}
const calib__vmath_fns calib__vmath_avx2 = {"avx2", vm_exp_f32, vm_log_f32, vm_exp_f64, NULL, NULL};
#endif
