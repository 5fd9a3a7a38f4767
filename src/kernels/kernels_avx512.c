/* kernels_avx512.c -- the AVX-512 (F/DQ/BW/VL) kernel table.
 *
 * Compiled with the AVX-512 flags (Makefile); only reached through
 * calib__kernels_by_name()/calib__kernels_get() after cpuid says the CPU has
 * them. Every helper is static (see DESIGN.md section 5).
 *
 * Layout of the work (same shape as kernels_avx2.c):
 *  - exp_ps: float exp of x <= 0 (vmath.h calib__exp16_ps, 0.98 ulp; inputs
 *    <= -120, -inf included, give +0; NaN gives NaN): the sigmoid and the
 *    temperature fit's moments. exp_ps_lo (calib__exp16_ps_lo, the same
 *    domain, 1.65e-7 + 2.75e-9 |x| relative, two FMA-port operations fewer):
 *    every softmax and log-softmax kernel, whose contract is 2e-6 relative
 *    (calib.h) and whose time, once the passes over memory are tight, is
 *    their exps' arithmetic (bench/README run 27).
 *  - exp_pd: double exp (vmath.h calib__exp8_pd), t = (m + j/16) ln2 + r with
 *    |r| <= ln2/32, a 16-entry table of 2^(j/16) held in two registers
 *    (vpermt2pd), a degree-6 minimax polynomial and vscalefpd; about 1.1 ulp.
 *    Used by ts_moments, the temperature fit's hot loop.
 *  - softmax rows: k <= 16 takes sixteen rows at a time, transposed in
 *    registers so that lane = row (no horizontal reductions), one variant
 *    per k so that only k exps are computed per 16 rows; 16 < k <= 128
 *    holds 2 or 4 whole rows in registers (one load and one store per
 *    vector); 128 < k < 512 takes four rows interleaved (max, exp + sum,
 *    scale); longer rows one at a time. The hot paths have a beta == 1
 *    instance (no multiply).
 *  - large outputs (>= PFW_BYTES) are written with ordinary stores into
 *    lines prefetched for writing a few KiB ahead, one chunk of rows at a
 *    time (see the drivers below for why not non-temporal stores), except
 *    the softmax rows held in registers, which prefetch each line they store. Padding
 *    columns are never written (masked stores). All loads and stores are
 *    unaligned (loadu/storeu, masked), so no instruction here assumes an
 *    aligned caller pointer, and a byte-misaligned output takes the same path.
 *  - inputs over 12 MiB: the rows in the last 8 MiB are done first, while
 *    the validation pass has just left them in the last-level cache.
 *  - software prefetch: 8 KiB ahead in row passes, and PF_ROWS rows ahead for
 *    short rows (AMD's hardware prefetchers do not follow masked loads).
 */
#include "internal.h"
#include "kernels.h"
#include "transpose.h"
#define PFW_HINT _MM_HINT_ET0 /* prefetchw: -mprfchw, every AVX-512 CPU has it */
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

#define TS_BUF 2048                         /* doubles of exp values kept per row by ts_moments */

static inline __mmask16 mask16(size_t r) {
  return r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1u);
}
static inline __mmask8 mask8(size_t r) {
  return r >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << r) - 1u);
}

/* Software prefetch PF_BYTES ahead of the current read position: the
 * hardware prefetcher alone leaves the exp passes waiting on DRAM. The
 * address is formed as an integer (it may pass the end of the array, which
 * a prefetch tolerates). prefetch4 covers the 4 lines of a 64-float step. */
#define PF_BYTES 8192
/* row_regs (16 < k <= 128) prefetches for writing each output line it
 * stores, OUT_PF bytes ahead: the lines are in L1 before its stores reach
 * them (the drivers' pfw.h path, one burst of lines per chunk, was slower
 * for these rows: see the drivers' header) */
#define OUT_PF 4096
static ALWAYS_INLINE void prefetch1(const float *p) {
  _mm_prefetch((const char *)((uintptr_t)p + PF_BYTES), _MM_HINT_T0);
}
static ALWAYS_INLINE void prefetch4(const float *p) {
  const uintptr_t a = (uintptr_t)p + PF_BYTES;
  _mm_prefetch((const char *)a, _MM_HINT_T0);
  _mm_prefetch((const char *)(a + 64), _MM_HINT_T0);
  _mm_prefetch((const char *)(a + 128), _MM_HINT_T0);
  _mm_prefetch((const char *)(a + 192), _MM_HINT_T0);
}

/* ---- float exp / log (vmath.h) ------------------------------------------- */

/* Domain: x <= 0 or -inf (every caller passes beta * (x - max) or -|t|). */
static ALWAYS_INLINE __m512 exp_ps(__m512 x) { return calib__exp16_ps(x); }
/* The same domain, two FMA-port operations fewer (vmath.h: 1.65e-7 +
 * 2.75e-9 |x| relative, within the softmax core's 2e-6): every softmax and
 * log-softmax kernel below (the header). */
static ALWAYS_INLINE __m512 exp_ps_lo(__m512 x) { return calib__exp16_ps_lo(x); }
/* Natural log for positive normal floats (cephes logf; about 1 ulp). */
static ALWAYS_INLINE __m512 log_ps(__m512 s) { return calib__log16_ps(s); }

/* beta * (v - m); unit is a compile-time constant in the hot paths, which
 * are instantiated for beta == 1 (the common case: one multiply less per
 * vector) and for any beta. */
static ALWAYS_INLINE __m512 shift_scale(__m512 v, __m512 m, __m512 b, const int unit) {
  return unit ? _mm512_sub_ps(v, m) : _mm512_mul_ps(_mm512_sub_ps(v, m), b);
}

/* Every lane := max / sum over the 16 lanes. */
static ALWAYS_INLINE __m512 bcast_max(__m512 v) {
  v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm512_max_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm512_max_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
}
static ALWAYS_INLINE __m512 bcast_add(__m512 v) {
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
}

/* 1/s to about 1 ulp: rcp14 plus one Newton step. */
static ALWAYS_INLINE __m512 recip_ps(__m512 s) {
  const __m512 r = _mm512_rcp14_ps(s);
  return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(s, r, _mm512_set1_ps(1.0f)), r);
}

/* ---- double exp (vmath.h) ------------------------------------------------- */

typedef calib__exp8_pd_tab exp_pd_table;
static ALWAYS_INLINE exp_pd_table exp_pd_init(void) { return calib__exp8_pd_init(); }
static ALWAYS_INLINE __m512d exp_pd(__m512d t, const exp_pd_table *tab) { return calib__exp8_pd(t, tab); }

/* ---- validation ------------------------------------------------------------- */

/* 64 floats at p: NaN / +inf lanes OR-ed into bad, the lanes where the
 * compare PRED with -inf holds into acc (a macro: the predicate must be an
 * immediate, and the clang fuzz build compiles this file at -O0). Uses the
 * caller's pinf and ninf. */
#define CHECK64(p, bad, acc, PRED)                                                                      \
  do {                                                                                                  \
    const __m512 a_ = _mm512_loadu_ps(p), b_ = _mm512_loadu_ps((p) + 16);                               \
    const __m512 c_ = _mm512_loadu_ps((p) + 32), d_ = _mm512_loadu_ps((p) + 48);                        \
    (bad) |= _mm512_cmp_ps_mask(a_, pinf, _CMP_NLT_UQ) | _mm512_cmp_ps_mask(b_, pinf, _CMP_NLT_UQ) |    \
             _mm512_cmp_ps_mask(c_, pinf, _CMP_NLT_UQ) | _mm512_cmp_ps_mask(d_, pinf, _CMP_NLT_UQ);     \
    (acc) |= _mm512_cmp_ps_mask(a_, ninf, PRED) | _mm512_cmp_ps_mask(b_, ninf, PRED) |                  \
             _mm512_cmp_ps_mask(c_, ninf, PRED) | _mm512_cmp_ps_mask(d_, ninf, PRED);                   \
  } while (0)

/* Rows are checked without a branch per row: bad collects NaN/+inf lanes,
 * allfin stays 1 while every row so far had an entry other than -inf; the
 * verdict is taken every 64 rows (a failure is found at most 63 rows late,
 * which is harmless: nothing is written here). */
static int check_rows_strided(const float *x, size_t n, size_t k, size_t ldx) {
  const __m512 pinf = _mm512_set1_ps(INFINITY), ninf = _mm512_set1_ps(-INFINITY);
  const __mmask16 mt = mask16(k % 16);
  const size_t kv = k - k % 16;
  __mmask16 bad = 0;
  unsigned allfin = 1;
  for (size_t i = 0; i < n; i++) {
    const float *r = x + i * ldx;
    __mmask16 fin = 0;
    size_t j = 0;
    if (i + 64 < n && k <= 64) { /* short rows: masked loads need a software prefetch */
      _mm_prefetch((const char *)(r + 64 * ldx), _MM_HINT_T0);
      _mm_prefetch((const char *)(r + 64 * ldx + k - 1), _MM_HINT_T0);
    }
    for (; j + 64 <= kv; j += 64) CHECK64(r + j, bad, fin, _CMP_NEQ_OQ);
    for (; j < kv; j += 16) {
      const __m512 a = _mm512_loadu_ps(r + j);
      bad |= _mm512_cmp_ps_mask(a, pinf, _CMP_NLT_UQ);
      fin |= _mm512_cmp_ps_mask(a, ninf, _CMP_NEQ_OQ);
    }
    if (j < k) {
      const __m512 a = _mm512_maskz_loadu_ps(mt, r + j);
      bad |= _mm512_mask_cmp_ps_mask(mt, a, pinf, _CMP_NLT_UQ);
      fin |= _mm512_mask_cmp_ps_mask(mt, a, ninf, _CMP_NEQ_OQ);
    }
    allfin &= fin != 0;
    if ((i & 63) == 63 && (bad || !allfin)) return CALIB_E_NONFINITE;
  }
  return bad || !allfin ? CALIB_E_NONFINITE : CALIB_OK;
}

#define FLAT_FLOATS 4096 /* floats per span of whole rows in the flat check */

/* Contiguous rows (ldx == k): the floats of a span of whole rows as one
 * array, 64 per step with full-width loads (a masked load per row of
 * k = 10 cost 1.5 ns per row, more than reading memory): NaN or +inf anywhere
 * fails; a span holding any -inf goes through the per-row check (a row of
 * -inf only fails, other -inf entries are allowed). n k floats exist (the
 * caller's array), so the products cannot overflow. */
static int check_rows_avx512(const float *x, size_t n, size_t k, size_t ldx) {
  if (ldx != k) return check_rows_strided(x, n, k, ldx);
  const __m512 pinf = _mm512_set1_ps(INFINITY), ninf = _mm512_set1_ps(-INFINITY);
  const size_t R = k >= FLAT_FLOATS ? 1 : FLAT_FLOATS / k;
  for (size_t i0 = 0; i0 < n; i0 += R) {
    const size_t rows = n - i0 < R ? n - i0 : R, cnt = rows * k;
    const float *p = x + i0 * k;
    __mmask16 bad = 0, neg = 0;
    size_t j = 0;
    for (; j + 64 <= cnt; j += 64) CHECK64(p + j, bad, neg, _CMP_EQ_OQ);
    for (; j < cnt; j += 16) {
      const __mmask16 mt = mask16(cnt - j);
      const __m512 a = _mm512_maskz_loadu_ps(mt, p + j);
      bad |= _mm512_mask_cmp_ps_mask(mt, a, pinf, _CMP_NLT_UQ);
      neg |= _mm512_mask_cmp_ps_mask(mt, a, ninf, _CMP_EQ_OQ);
    }
    if (bad) return CALIB_E_NONFINITE;
    if (neg && check_rows_strided(p, rows, k, k) != CALIB_OK) return CALIB_E_NONFINITE;
  }
  return CALIB_OK;
}

/* ---- row kernels -------------------------------------------------------------
 * rows_fn(x, nr, k, ldx, beta, o, ldo, rs, i0): nr rows of x into o (regular
 * stores). The strict instances ignore rs and i0; the row-wise ones (the
 * *_chk functions, kernels.h softmax_rows) test each row inside its max pass,
 * record row i0 + i in *rs and write a bad row as NaN (1/sum := NaN). */
typedef void (*rows_fn)(const float *x, size_t nr, size_t k, size_t ldx, float beta, float *o,
                        size_t ldo, calib__rstat *rs, size_t i0);

/* The row maximum; with chk, *bad = 1 iff the row has a NaN (an unordered
 * compare OR-ed into a mask during the max pass) or its maximum is +-inf
 * (+inf present, or every entry -inf). NaN lanes may make the returned
 * maximum meaningless: the row is bad then anyway. */
static ALWAYS_INLINE float row_max_c(const float *r, size_t k, const int chk, int *bad) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  __m512 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
  __mmask16 nan = 0;
  size_t j = 0;
  for (; j + 64 <= k; j += 64) {
    const __m512 a = _mm512_loadu_ps(r + j), b = _mm512_loadu_ps(r + j + 16);
    const __m512 c = _mm512_loadu_ps(r + j + 32), d = _mm512_loadu_ps(r + j + 48);
    if (chk) nan |= _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(c, d, _CMP_UNORD_Q);
    m0 = _mm512_max_ps(m0, a);
    m1 = _mm512_max_ps(m1, b);
    m2 = _mm512_max_ps(m2, c);
    m3 = _mm512_max_ps(m3, d);
  }
  for (; j + 16 <= k; j += 16) {
    const __m512 a = _mm512_loadu_ps(r + j);
    if (chk) nan |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
    m0 = _mm512_max_ps(m0, a);
  }
  if (j < k) {
    const __m512 a = _mm512_mask_loadu_ps(ninf, mask16(k - j), r + j);
    if (chk) nan |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
    m1 = _mm512_max_ps(m1, a);
  }
  const float m = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
  if (chk) *bad = nan != 0 || !(fabsf(m) < INFINITY);
  return m;
}

static inline float row_max(const float *r, size_t k) { return row_max_c(r, k, 0, NULL); }

/* 1/s, or NaN for a bad row (every output of the row becomes NaN). */
static inline __m512 inv_or_nan(float s, int bad) {
  return _mm512_set1_ps(bad ? NAN : 1.0f / s);
}

/* e_j = exp(beta (x_j - m)) stored to o (may be r), returns sum_j e_j. */
static ALWAYS_INLINE float row_exp_store(const float *r, size_t k, __m512 m, __m512 b, float *o) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  size_t j = 0;
  for (; j + 64 <= k; j += 64) {
    prefetch4(r + j);
    const __m512 e0 = exp_ps_lo(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(r + j), m), b));
    const __m512 e1 = exp_ps_lo(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(r + j + 16), m), b));
    const __m512 e2 = exp_ps_lo(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(r + j + 32), m), b));
    const __m512 e3 = exp_ps_lo(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(r + j + 48), m), b));
    _mm512_storeu_ps(o + j, e0);
    _mm512_storeu_ps(o + j + 16, e1);
    _mm512_storeu_ps(o + j + 32, e2);
    _mm512_storeu_ps(o + j + 48, e3);
    s0 = _mm512_add_ps(s0, e0);
    s1 = _mm512_add_ps(s1, e1);
    s2 = _mm512_add_ps(s2, e2);
    s3 = _mm512_add_ps(s3, e3);
  }
  for (; j + 16 <= k; j += 16) {
    prefetch1(r + j);
    const __m512 e = exp_ps_lo(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(r + j), m), b));
    _mm512_storeu_ps(o + j, e);
    s0 = _mm512_add_ps(s0, e);
  }
  if (j < k) {
    const __mmask16 mt = mask16(k - j);
    prefetch1(r + j);
    const __m512 v = _mm512_mask_loadu_ps(ninf, mt, r + j);
    const __m512 e = exp_ps_lo(_mm512_mul_ps(_mm512_sub_ps(v, m), b));
    _mm512_mask_storeu_ps(o + j, mt, e);
    s1 = _mm512_add_ps(s1, e);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static ALWAYS_INLINE void row_scale(float *o, size_t k, __m512 inv) {
  size_t j = 0;
  for (; j + 32 <= k; j += 32) {
    _mm512_storeu_ps(o + j, _mm512_mul_ps(_mm512_loadu_ps(o + j), inv));
    _mm512_storeu_ps(o + j + 16, _mm512_mul_ps(_mm512_loadu_ps(o + j + 16), inv));
  }
  for (; j < k; j += 16) {
    const __mmask16 mt = mask16(k - j);
    _mm512_mask_storeu_ps(o + j, mt, _mm512_mul_ps(_mm512_maskz_loadu_ps(mt, o + j), inv));
  }
}

/* Four rows interleaved (128 < k < 512; shorter rows: row_regs): the
 * per-row chain max -> exp -> sum -> scale has two horizontal reductions;
 * four independent rows keep the pipelines busy where one row cannot. */
/* With chk (row-wise mode): NaN lanes collected per row during the max
 * pass, a row bad if it has one or its maximum is +-inf; the bit mask of bad
 * rows is returned (0 without chk). */
static ALWAYS_INLINE unsigned softmax_rows4(const float *x, size_t ldx, size_t k, __m512 b, float *o,
                                            size_t ldo, const int unit, const int chk) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  const size_t kv = k & ~(size_t)15;
  const __mmask16 mt = mask16(k - kv);
  __m512 m[4], s[4];
  __mmask16 nan[4] = {0, 0, 0, 0};
#pragma GCC unroll 4
  for (int q = 0; q < 4; q++) m[q] = ninf;
  for (size_t j = 0; j < kv; j += 16)
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
      prefetch1(x + (size_t)q * ldx + j);
      const __m512 v = _mm512_loadu_ps(x + (size_t)q * ldx + j);
      if (chk) nan[q] |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      m[q] = _mm512_max_ps(m[q], v);
    }
  if (kv < k)
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
      prefetch1(x + (size_t)q * ldx + kv);
      const __m512 v = _mm512_mask_loadu_ps(ninf, mt, x + (size_t)q * ldx + kv);
      if (chk) nan[q] |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      m[q] = _mm512_max_ps(m[q], v);
    }
  unsigned badrows = 0;
#pragma GCC unroll 4
  for (int q = 0; q < 4; q++) {
    m[q] = bcast_max(m[q]);
    s[q] = _mm512_setzero_ps();
    if (chk) badrows |= (unsigned)(nan[q] != 0 || !(fabsf(_mm512_cvtss_f32(m[q])) < INFINITY)) << q;
  }
  for (size_t j = 0; j < kv; j += 16)
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
      const __m512 e = exp_ps_lo(shift_scale(_mm512_loadu_ps(x + (size_t)q * ldx + j), m[q], b, unit));
      _mm512_storeu_ps(o + (size_t)q * ldo + j, e);
      s[q] = _mm512_add_ps(s[q], e);
    }
  if (kv < k)
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
      const __m512 v = _mm512_mask_loadu_ps(ninf, mt, x + (size_t)q * ldx + kv);
      const __m512 e = exp_ps_lo(shift_scale(v, m[q], b, unit));
      _mm512_mask_storeu_ps(o + (size_t)q * ldo + kv, mt, e);
      s[q] = _mm512_add_ps(s[q], e);
    }
#pragma GCC unroll 4
  for (int q = 0; q < 4; q++) {
    s[q] = _mm512_div_ps(_mm512_set1_ps(1.0f), bcast_add(s[q]));
    if (chk && ((badrows >> q) & 1u)) s[q] = _mm512_set1_ps(NAN);
  }
  for (size_t j = 0; j < kv; j += 16)
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
      float *w = o + (size_t)q * ldo + j;
      _mm512_storeu_ps(w, _mm512_mul_ps(_mm512_loadu_ps(w), s[q]));
    }
  if (kv < k)
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
      float *w = o + (size_t)q * ldo + kv;
      _mm512_mask_storeu_ps(w, mt, _mm512_mul_ps(_mm512_maskz_loadu_ps(mt, w), s[q]));
    }
  return badrows;
}

/* The longest rows row_regs holds (8 vectors). */
#define REGS_MAX_K 128
/* Softmax rows of this k go through row_regs, which prefetches its own
 * output lines (OUT_PF): the drivers skip pfw.h's chunks for them. */
static inline int regs_rows(size_t k) { return k > 16 && k <= REGS_MAX_K; }

/* Softmax rows of 16 < k <= 128 held in registers, nv = ceil(k/16) vectors
 * a row (the last one masked, -inf in its lanes >= k): one load and one
 * store per vector, where softmax_rows4 loads each vector three times and
 * stores it twice (the exps to o, then the scaled values). The maximum by a
 * tree (exact in any order); the sum vector by vector, the tail last; the
 * exps by exp_ps_lo (above).
 * Two stages, software-pipelined row by row (regs_rows_body): regs_load_max
 * loads row i + 1 and takes its maximum while regs_exp_store computes row
 * i's exps, sum and scaled stores. Done a row (or a group of rows) at a
 * time, the chain load -> maximum -> exps -> sum -> 1/sum -> stores is some
 * hundred cycles long and every exp waits on the maximum: the out-of-order
 * window filled with those waiting exps before the next rows' loads could
 * start. bench/ab_rows.c, 12 rounds, one group at a time (2 rows for k =
 * 100) against this pipeline: (100000, 100) 0.78-0.99 of the time, median
 * 0.89, in twenty runs (old 83-88 % of the copy's speed, new 89-99 %); strict
 * calib_softmax 0.97-1.03;
 * (N, k) with N k = 1e7, 8 rounds: k = 40 0.86, 64 0.82, 80 0.93, 128 0.80,
 * 20 0.97-1.02. Pipelining groups of two rows (k = 100) instead lost 10 %
 * (two groups of 14 registers live spill), and one row at a time was also
 * best for k = 20-64 (groups of 2 or 4 rows: 0.97-1.05 of it).
 * History: (100000, 100) row-wise, the version before the in-register rows
 * against them (/tmp probe, best of 60): 3.45 -> 2.82 ms, memcpy 2.13 ms;
 * what remained to the copy was the exps' arithmetic (with the exp replaced
 * by an add, timing only: 2.10-2.21 ms; the same rows in L1 9.6 against
 * 19.5-24 ns a row in a later probe), hence exp_ps_lo, two FMA-port
 * operations an exp fewer than exp_ps (vmath.h; bench/README run 27), and
 * then this pipeline. */

/* The lane-wise maximum of t[0 .. n), 1 <= n <= 8, by a tree, written out:
 * the loop form was left rolled once nv became a constant only by
 * inlining, and ran through a stack array. */
static ALWAYS_INLINE __m512 max_tree(const __m512 *t, const int n) {
  const __m512 a = n > 1 ? _mm512_max_ps(t[0], t[1]) : t[0];
  if (n <= 2) return a;
  const __m512 ab = _mm512_max_ps(a, n > 3 ? _mm512_max_ps(t[2], t[3]) : t[2]);
  if (n <= 4) return ab;
  const __m512 c = n > 5 ? _mm512_max_ps(t[4], t[5]) : t[4];
  if (n <= 6) return _mm512_max_ps(ab, c);
  return _mm512_max_ps(ab, _mm512_max_ps(c, n > 7 ? _mm512_max_ps(t[6], t[7]) : t[6]));
}

/* Loads one row into v[0 .. nv) (input prefetched PF_BYTES ahead); returns
 * its maximum in every lane. */
static ALWAYS_INLINE __m512 regs_load_max(const float *r, __mmask16 mt, const int nv, __m512 v[8]) {
#pragma GCC unroll 8
  for (int q = 0; q < nv; q++) {
    prefetch1(r + 16 * q);
    v[q] = q < nv - 1 ? _mm512_loadu_ps(r + 16 * q) : _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), mt, r + 16 * q);
  }
  return bcast_max(max_tree(v, nv));
}

/* The exps of a loaded row, their sum and the scaled stores, each output
 * line prefetched for writing OUT_PF ahead. Returns 1 for a bad row (chk):
 * a row is bad exactly when its sum is NaN. A NaN entry gives a NaN exp
 * (calib__exp16_ps_lo keeps NaN); +inf makes the maximum +inf and its own
 * x - m NaN; a row of -inf has m = -inf and -inf - m NaN; -inf among finite
 * values is exp 0, as in the strict mode. The NaN sum then makes the whole
 * row NaN. */
static ALWAYS_INLINE int regs_exp_store(__m512 v[8], __m512 m, __m512 b, __mmask16 mt, float *o, const int nv,
                                        const int unit, const int chk) {
  __m512 s = _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int q = 0; q < nv; q++) {
    v[q] = exp_ps_lo(shift_scale(v[q], m, b, unit));
    s = _mm512_add_ps(s, v[q]);
  }
  s = _mm512_div_ps(_mm512_set1_ps(1.0f), bcast_add(s));
  const int bad = chk && _mm512_cvtss_f32(s) != _mm512_cvtss_f32(s);
#pragma GCC unroll 8
  for (int q = 0; q < nv; q++) {
    _mm_prefetch((const char *)((uintptr_t)(o + 16 * q) + OUT_PF), _MM_HINT_ET0);
    if (q < nv - 1)
      _mm512_storeu_ps(o + 16 * q, _mm512_mul_ps(v[q], s));
    else
      _mm512_mask_storeu_ps(o + 16 * q, mt, _mm512_mul_ps(v[q], s));
  }
  return bad;
}

/* Rows in pairs, a and b alternating: row i + 1 is loaded before row i's
 * exps, row i + 2 before row i + 1's. Instantiated for each nv, unit and chk
 * as compile-time constants (rows_regs<nv>_<unit><chk>, called through
 * regs_tab): with unit and chk read at run time the two live rows spilled
 * (20 -> 219 stack accesses in rows_regs7) and the pipeline lost 10-15 %
 * instead of gaining. */
static ALWAYS_INLINE void regs_rows_body(const float *x, size_t nr, size_t k, size_t ldx, __m512 b, float *o,
                                         size_t ldo, calib__rstat *rs, size_t i0, const int nv,
                                         const int unit, const int chk) {
  const __mmask16 mt = mask16(k - 16 * (size_t)(nv - 1));
  __m512 va[8], vb[8], ma, mb;
  size_t i = 0;
  if (nr == 0) return;
  ma = regs_load_max(x, mt, nv, va);
  for (; i + 2 <= nr; i += 2) {
    mb = regs_load_max(x + (i + 1) * ldx, mt, nv, vb);
    const int bad_a = regs_exp_store(va, ma, b, mt, o + i * ldo, nv, unit, chk);
    if (chk) calib__rstat_row(rs, i0 + i, bad_a);
    if (i + 3 <= nr) ma = regs_load_max(x + (i + 2) * ldx, mt, nv, va);
    const int bad_b = regs_exp_store(vb, mb, b, mt, o + (i + 1) * ldo, nv, unit, chk);
    if (chk) calib__rstat_row(rs, i0 + i + 1, bad_b);
  }
  if (i < nr) { /* the odd last row, loaded in the loop (or above, nr = 1) */
    const int bad = regs_exp_store(va, ma, b, mt, o + i * ldo, nv, unit, chk);
    if (chk) calib__rstat_row(rs, i0 + i, bad);
  }
}

#define ROWS_REGS_UC(NV, U, C)                                                                           \
  static void rows_regs##NV##_##U##C(const float *x, size_t nr, size_t k, size_t ldx, __m512 b, float *o,   \
                                     size_t ldo, calib__rstat *rs, size_t i0) {                          \
    regs_rows_body(x, nr, k, ldx, b, o, ldo, rs, i0, NV, U, C);                                          \
  }
#define ROWS_REGS(NV)                                                                                    \
  ROWS_REGS_UC(NV, 0, 0)                                                                                 \
  ROWS_REGS_UC(NV, 0, 1)                                                                                 \
  ROWS_REGS_UC(NV, 1, 0)                                                                                 \
  ROWS_REGS_UC(NV, 1, 1)
ROWS_REGS(2)
ROWS_REGS(3)
ROWS_REGS(4)
ROWS_REGS(5)
ROWS_REGS(6)
ROWS_REGS(7)
ROWS_REGS(8)
#undef ROWS_REGS
#undef ROWS_REGS_UC

typedef void (*regs_fn)(const float *x, size_t nr, size_t k, size_t ldx, __m512 b, float *o, size_t ldo,
                        calib__rstat *rs, size_t i0);
/* [nv][unit][chk], nv = ceil(k / 16): 2 .. 8 for the 16 < k <= 128 that
 * softmax_big_body sends here; unit: beta == 1; chk: the row-wise mode */
#define REGS_ROW(NV) {{rows_regs##NV##_00, rows_regs##NV##_01}, {rows_regs##NV##_10, rows_regs##NV##_11}}
static const regs_fn regs_tab[9][2][2] = {{{NULL, NULL}, {NULL, NULL}}, {{NULL, NULL}, {NULL, NULL}},
                                          REGS_ROW(2), REGS_ROW(3), REGS_ROW(4), REGS_ROW(5),
                                          REGS_ROW(6), REGS_ROW(7), REGS_ROW(8)};
#undef REGS_ROW

static ALWAYS_INLINE void softmax_big_body(const float *x, size_t nr, size_t k, size_t ldx, float beta,
                                           float *o, size_t ldo, calib__rstat *rs, size_t i0,
                                           const int chk) {
  const __m512 b = _mm512_set1_ps(beta);
  size_t i = 0;
  if (k <= REGS_MAX_K) {
    regs_tab[(k + 15) / 16][beta == 1.0f][chk != 0](x, nr, k, ldx, b, o, ldo, rs, i0);
    return;
  }
  if (k < 512 && beta == 1.0f)
    for (; i + 4 <= nr; i += 4) {
      const unsigned bad = softmax_rows4(x + i * ldx, ldx, k, b, o + i * ldo, ldo, 1, chk);
      if (chk) calib__rstat_mask(rs, i0 + i, bad, 4);
    }
  else if (k < 512)
    for (; i + 4 <= nr; i += 4) {
      const unsigned bad = softmax_rows4(x + i * ldx, ldx, k, b, o + i * ldo, ldo, 0, chk);
      if (chk) calib__rstat_mask(rs, i0 + i, bad, 4);
    }
  for (; i < nr; i++) {
    const float *r = x + i * ldx;
    float *w = o + i * ldo;
    int bad = 0;
    const __m512 m = _mm512_set1_ps(row_max_c(r, k, chk, &bad));
    const float s = row_exp_store(r, k, m, b, w);
    if (chk) calib__rstat_row(rs, i0 + i, bad);
    row_scale(w, k, chk ? inv_or_nan(s, bad) : _mm512_set1_ps(1.0f / s));
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

/* ---- k <= 16: sixteen rows at a time, transposed (lane = row) ---------------
 * The rows are loaded as masked vectors (-inf in the lanes >= k), transposed
 * in registers so that vector c holds column c of the 16 rows, processed with
 * lane-wise max/exp/sum (no horizontal reductions, no long dependency chain
 * per row), transposed back and stored with the same masks. -inf columns give
 * exp = 0, so the padding lanes do not disturb max or sum. */


/* Lane-wise softmax (or log-softmax) over the first nc column vectors. */
/* With chk, returns the lanes (rows) that are bad: a NaN in some column, or
 * a maximum of +-inf; their outputs become NaN (0 without chk). */
static ALWAYS_INLINE __mmask16 soa_softmax(__m512 *c, int nc, __m512 b, int logp, const int unit,
                                           const int chk) {
  __m512 m = c[0];
  __mmask16 bad = 0;
  if (chk) bad = _mm512_cmp_ps_mask(c[0], c[0], _CMP_UNORD_Q);
#pragma GCC unroll 16
  for (int j = 1; j < nc; j++) {
    if (chk) bad |= _mm512_cmp_ps_mask(c[j], c[j], _CMP_UNORD_Q);
    m = _mm512_max_ps(m, c[j]);
  }
  if (chk) /* |m| == inf: the magnitude bits of m equal those of inf */
    bad |= _mm512_cmp_ps_mask(_mm512_abs_ps(m), _mm512_set1_ps(INFINITY), _CMP_EQ_OQ);
  __m512 s0 = _mm512_setzero_ps(), s1 = s0;
#pragma GCC unroll 16
  for (int j = 0; j < nc; j++) {
    c[j] = shift_scale(c[j], m, b, unit);
    const __m512 e = exp_ps_lo(c[j]);
    if (j & 1) s1 = _mm512_add_ps(s1, e);
    else s0 = _mm512_add_ps(s0, e);
    if (!logp) c[j] = e;
  }
  const __m512 s = _mm512_add_ps(s0, s1);
  if (logp) {
    __m512 ls = log_ps(s);
    if (chk) ls = _mm512_mask_mov_ps(ls, bad, _mm512_set1_ps(NAN));
#pragma GCC unroll 16
    for (int j = 0; j < nc; j++) c[j] = _mm512_sub_ps(c[j], ls);
  } else {
    __m512 inv = recip_ps(s);
    if (chk) inv = _mm512_mask_mov_ps(inv, bad, _mm512_set1_ps(NAN));
#pragma GCC unroll 16
    for (int j = 0; j < nc; j++) c[j] = _mm512_mul_ps(c[j], inv);
  }
  return bad;
}

#define PF_ROWS 96 /* software prefetch distance in rows (masked loads are not hardware-prefetched) */

/* Prefetch row i + PF_ROWS (the address is formed as an integer: it may lie
 * past the end of x, which a prefetch tolerates). */
static ALWAYS_INLINE void prefetch_rows(const float *x, size_t i, size_t nr, size_t ldx, size_t k) {
  CALIB__UNUSED(nr);
  const uintptr_t p = (uintptr_t)x + (i + PF_ROWS) * ldx * sizeof(float);
  _mm_prefetch((const char *)p, _MM_HINT_T0);
  _mm_prefetch((const char *)(p + (k - 1) * sizeof(float)), _MM_HINT_T0);
}

/* The per-row drivers' prefetch (kernels_rows.h): short rows only. */
static ALWAYS_INLINE void prefetch_ahead(const float *r, size_t ldx, size_t k) {
  if (k <= 64) prefetch_rows(r, 0, 0, ldx, k);
}

/* 9 <= k <= 16: nc == k columns after the transpose. */
/* The block functions return the bit mask of bad rows (bit r: row i0 + r)
 * with chk, 0 without. */
static ALWAYS_INLINE unsigned block16(const float *x, size_t ldx, size_t k, size_t nr_all, size_t i0,
                                      __m512 b, float *o, size_t ldo, int logp, const int nc,
                                      const int unit, const int chk) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  const __mmask16 mk = mask16(k);
  __m512 v[16];
#pragma GCC unroll 16
  for (int r = 0; r < 16; r++) {
    prefetch_rows(x, i0 + (size_t)r, nr_all, ldx, k);
    v[r] = _mm512_mask_loadu_ps(ninf, mk, x + (i0 + (size_t)r) * ldx);
  }
  calib__tr16_ps(v);
  const __mmask16 bad = soa_softmax(v, nc, b, logp, unit, chk); /* lane r = row r */
  calib__tr16_inv_ps(v);
#pragma GCC unroll 16
  for (int r = 0; r < 16; r++) _mm512_mask_storeu_ps(o + (i0 + (size_t)r) * ldo, mk, v[r]);
  return bad;
}

/* k <= 8: rows r and r + 8 share a register (256-bit halves); nc == k. */
static ALWAYS_INLINE unsigned block8(const float *x, size_t ldx, size_t k, size_t nr_all, size_t i0,
                                     __m512 b, float *o, size_t ldo, int logp, const int nc,
                                     const int unit, const int chk) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  const __mmask8 mk = mask8(k);
  const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i hi = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  __m512 z[8], c[8];
#pragma GCC unroll 8
  for (int r = 0; r < 8; r++) {
    prefetch_rows(x, i0 + (size_t)r, nr_all, ldx, k);
    prefetch_rows(x, i0 + (size_t)r + 8, nr_all, ldx, k);
    const __m256 a = _mm256_mask_loadu_ps(ninf, mk, x + (i0 + (size_t)r) * ldx);
    const __m256 d = _mm256_mask_loadu_ps(ninf, mk, x + (i0 + (size_t)r + 8) * ldx);
    z[r] = _mm512_insertf32x8(_mm512_castps256_ps512(a), d, 1);
  }
  calib__tr4x4_ps(&z[0], &z[1], &z[2], &z[3]);
  calib__tr4x4_ps(&z[4], &z[5], &z[6], &z[7]);
#pragma GCC unroll 4
  for (int q = 0; q < 4; q++) {
    c[q] = _mm512_shuffle_f32x4(z[q], z[q + 4], 0x88);
    c[q + 4] = _mm512_shuffle_f32x4(z[q], z[q + 4], 0xDD);
  }
  /* lane l of c[] holds row l for l in 0-3 and 12-15, row l + 4 for l in
   * 4-7, row l - 4 for l in 8-11 (the 128-bit blocks of rows 4-7 and 8-11
   * swapped by the shuffles above) */
  const unsigned lm = soa_softmax(c, nc, b, logp, unit, chk);
  const unsigned bad = (lm & 0xF00Fu) | ((lm & 0x00F0u) << 4) | ((lm & 0x0F00u) >> 4);
#pragma GCC unroll 4
  for (int q = 0; q < 4; q++) {
    z[q] = _mm512_permutex2var_ps(c[q], lo, c[q + 4]);
    z[q + 4] = _mm512_permutex2var_ps(c[q], hi, c[q + 4]);
  }
  calib__tr4x4_ps(&z[0], &z[1], &z[2], &z[3]);
  calib__tr4x4_ps(&z[4], &z[5], &z[6], &z[7]);
#pragma GCC unroll 8
  for (int r = 0; r < 8; r++) {
    _mm256_mask_storeu_ps(o + (i0 + (size_t)r) * ldo, mk, _mm512_castps512_ps256(z[r]));
    _mm256_mask_storeu_ps(o + (i0 + (size_t)r + 8) * ldo, mk, _mm512_extractf32x8_ps(z[r], 1));
  }
  return bad;
}

/* One row, k <= 16 (the n % 16 leftover rows). */
static inline void row_small(const float *r, size_t k, __m512 b, float *o, int logp) {
  const __mmask16 mk = mask16(k);
  const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), mk, r);
  const __m512 t = _mm512_mul_ps(_mm512_sub_ps(v, bcast_max(v)), b);
  const __m512 e = exp_ps_lo(t);
  const __m512 p = logp ? _mm512_sub_ps(t, log_ps(bcast_add(e))) : _mm512_mul_ps(e, recip_ps(bcast_add(e)));
  _mm512_mask_storeu_ps(o, mk, p);
}

/* The same in row-wise mode: returns 1 for a bad row (written as NaN). */
static inline int row_small_chk(const float *r, size_t k, __m512 b, float *o, int logp) {
  const __mmask16 mk = mask16(k);
  const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), mk, r);
  const __m512 mx = bcast_max(v);
  const __m512 t = _mm512_mul_ps(_mm512_sub_ps(v, mx), b);
  const __m512 e = exp_ps_lo(t);
  __m512 p = logp ? _mm512_sub_ps(t, log_ps(bcast_add(e))) : _mm512_mul_ps(e, recip_ps(bcast_add(e)));
  const int bad = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) != 0 || !(fabsf(_mm512_cvtss_f32(mx)) < INFINITY);
  if (bad) p = _mm512_set1_ps(NAN);
  _mm512_mask_storeu_ps(o, mk, p);
  return bad;
}

/* Status of 16 rows in one masked byte store (AVX512BW/VL), then the count. */
static ALWAYS_INLINE void rstat16(calib__rstat *rs, size_t i0, unsigned bad) {
  if (rs->st) _mm_storeu_si128((__m128i *)(void *)(rs->st + i0),
                               _mm_maskz_mov_epi8((__mmask16)bad, _mm_set1_epi8((char)CALIB__ROW_BAD)));
  calib__rstat_count(rs, i0, bad);
}

/* rows_k<NC>: all rows of a call with k == NC (<= 16); rowsc_k<NC>: the
 * row-wise (checking) instance. */
typedef void (*small_fn)(const float *x, size_t nr, size_t k, size_t ldx, __m512 b, float *o, size_t ldo,
                         int logp, calib__rstat *rs, size_t i0);
static ALWAYS_INLINE void small_chk_body(const float *x, size_t nr, size_t k, size_t ldx, __m512 b, float *o,
                                         size_t ldo, int logp, calib__rstat *rs, size_t i0, const int nc) {
  const int chk = 1;
  size_t i = 0;
  if (_mm512_cvtss_f32(b) == 1.0f)
    for (; i + 16 <= nr; i += 16) {
      const unsigned bad = nc <= 8 ? block8(x, ldx, k, nr, i, b, o, ldo, logp, nc, 1, chk)
                                   : block16(x, ldx, k, nr, i, b, o, ldo, logp, nc, 1, chk);
      rstat16(rs, i0 + i, bad);
    }
  else
    for (; i + 16 <= nr; i += 16) {
      const unsigned bad = nc <= 8 ? block8(x, ldx, k, nr, i, b, o, ldo, logp, nc, 0, chk)
                                   : block16(x, ldx, k, nr, i, b, o, ldo, logp, nc, 0, chk);
      rstat16(rs, i0 + i, bad);
    }
  for (; i < nr; i++) calib__rstat_row(rs, i0 + i, row_small_chk(x + i * ldx, k, b, o + i * ldo, logp));
}
/* The strict instances are written out as before the row-wise mode (the
 * shared body made GCC spill more in the hot block loop: +45 % at k = 10). */
#define DEF_SMALL(NC, BLOCK)                                                                       \
  static void rows_k##NC(const float *x, size_t nr, size_t k, size_t ldx, __m512 b, float *o,      \
                         size_t ldo, int logp, calib__rstat *rs, size_t i0) {                      \
    CALIB__UNUSED(rs);                                                                             \
    CALIB__UNUSED(i0);                                                                             \
    size_t i = 0;                                                                                  \
    if (_mm512_cvtss_f32(b) == 1.0f)                                                               \
      for (; i + 16 <= nr; i += 16) BLOCK(x, ldx, k, nr, i, b, o, ldo, logp, NC, 1, 0);           \
    else                                                                                           \
      for (; i + 16 <= nr; i += 16) BLOCK(x, ldx, k, nr, i, b, o, ldo, logp, NC, 0, 0);           \
    for (; i < nr; i++) row_small(x + i * ldx, k, b, o + i * ldo, logp);                           \
  }                                                                                                \
  static void rowsc_k##NC(const float *x, size_t nr, size_t k, size_t ldx, __m512 b, float *o,     \
                          size_t ldo, int logp, calib__rstat *rs, size_t i0) {                     \
    small_chk_body(x, nr, k, ldx, b, o, ldo, logp, rs, i0, NC);                                    \
  }
DEF_SMALL(1, block8)
DEF_SMALL(2, block8)
DEF_SMALL(3, block8)
DEF_SMALL(4, block8)
DEF_SMALL(5, block8)
DEF_SMALL(6, block8)
DEF_SMALL(7, block8)
DEF_SMALL(8, block8)
DEF_SMALL(9, block16)
DEF_SMALL(10, block16)
DEF_SMALL(11, block16)
DEF_SMALL(12, block16)
DEF_SMALL(13, block16)
DEF_SMALL(14, block16)
DEF_SMALL(15, block16)
DEF_SMALL(16, block16)
static const small_fn small_tab[17] = {NULL,     rows_k1,  rows_k2,  rows_k3,  rows_k4,  rows_k5,
                                       rows_k6,  rows_k7,  rows_k8,  rows_k9,  rows_k10, rows_k11,
                                       rows_k12, rows_k13, rows_k14, rows_k15, rows_k16};
static const small_fn smallc_tab[17] = {NULL,      rowsc_k1,  rowsc_k2,  rowsc_k3,  rowsc_k4,  rowsc_k5,
                                        rowsc_k6,  rowsc_k7,  rowsc_k8,  rowsc_k9,  rowsc_k10, rowsc_k11,
                                        rowsc_k12, rowsc_k13, rowsc_k14, rowsc_k15, rowsc_k16};

static void softmax_rows_small(const float *x, size_t nr, size_t k, size_t ldx, float beta,
                               float *o, size_t ldo, calib__rstat *rs, size_t i0) {
  small_tab[k](x, nr, k, ldx, _mm512_set1_ps(beta), o, ldo, 0, rs, i0);
}

static void softmax_rows_small_chk(const float *x, size_t nr, size_t k, size_t ldx, float beta,
                                   float *o, size_t ldo, calib__rstat *rs, size_t i0) {
  smallc_tab[k](x, nr, k, ldx, _mm512_set1_ps(beta), o, ldo, 0, rs, i0);
}

static void log_softmax_rows_small(const float *x, size_t nr, size_t k, size_t ldx, float beta,
                                   float *o, size_t ldo, calib__rstat *rs, size_t i0) {
  small_tab[k](x, nr, k, ldx, _mm512_set1_ps(beta), o, ldo, 1, rs, i0);
}

static void log_softmax_rows_small_chk(const float *x, size_t nr, size_t k, size_t ldx, float beta,
                                       float *o, size_t ldo, calib__rstat *rs, size_t i0) {
  smallc_tab[k](x, nr, k, ldx, _mm512_set1_ps(beta), o, ldo, 1, rs, i0);
}

static ALWAYS_INLINE void log_softmax_big_body(const float *x, size_t nr, size_t k, size_t ldx, float beta,
                                               float *o, size_t ldo, calib__rstat *rs, size_t i0,
                                               const int chk) {
  const __m512 b = _mm512_set1_ps(beta), ninf = _mm512_set1_ps(-INFINITY);
  for (size_t i = 0; i < nr; i++) {
    const float *r = x + i * ldx;
    float *w = o + i * ldo;
    int bad = 0;
    const __m512 m = _mm512_set1_ps(row_max_c(r, k, chk, &bad));
    if (chk) calib__rstat_row(rs, i0 + i, bad);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t j = 0;
    for (; j + 32 <= k; j += 32) {
      prefetch1(r + j);
      prefetch1(r + j + 16);
      s0 = _mm512_add_ps(s0, exp_ps_lo(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(r + j), m), b)));
      s1 = _mm512_add_ps(s1, exp_ps_lo(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(r + j + 16), m), b)));
    }
    for (; j < k; j += 16) {
      prefetch1(r + j);
      const __m512 v = _mm512_mask_loadu_ps(ninf, mask16(k - j), r + j);
      s0 = _mm512_add_ps(s0, exp_ps_lo(_mm512_mul_ps(_mm512_sub_ps(v, m), b)));
    }
    const __m512 ls = chk && bad ? _mm512_set1_ps(NAN) : log_ps(bcast_add(_mm512_add_ps(s0, s1)));
    for (j = 0; j < k; j += 16) {
      const __mmask16 mt = mask16(k - j);
      const __m512 v = _mm512_maskz_loadu_ps(mt, r + j);
      _mm512_mask_storeu_ps(w + j, mt, _mm512_fmsub_ps(_mm512_sub_ps(v, m), b, ls));
    }
  }
}

static void log_softmax_rows_big(const float *x, size_t nr, size_t k, size_t ldx, float beta,
                                 float *o, size_t ldo, calib__rstat *rs, size_t i0) {
  log_softmax_big_body(x, nr, k, ldx, beta, o, ldo, rs, i0, 0);
}

static void log_softmax_rows_big_chk(const float *x, size_t nr, size_t k, size_t ldx, float beta,
                                     float *o, size_t ldo, calib__rstat *rs, size_t i0) {
  log_softmax_big_body(x, nr, k, ldx, beta, o, ldo, rs, i0, 1);
}

/* ---- drivers: direct, the output prefetched for writing ----------------------
 * Large outputs (>= PFW_BYTES) are written with ordinary stores into lines
 * prefetched for writing PFW_AHEAD bytes ahead (prefetchw), one chunk of
 * about PFW_CHUNK bytes of rows at a time. Without it a store that misses
 * waits for its line in the store queue, the queue fills and the exps stop
 * behind it: the writes did not overlap the computation at all (1e6 x 10:
 * 5.7-6.0 ms against 3.6 ms with the output in cache). Non-temporal stores
 * through an L1 staging buffer (this file until 2026-12) did no better on
 * this project's machines (AMD Zen 5: a 40 MB NT fill 1.45 ms against 1.1 ms
 * for ordinary stores). bench_softmax back to back on a quiet machine, best
 * of 3 x 3 reps, staged NT -> this path: calib_softmax_rows 1e6 x 10 5.40 ->
 * 3.49 ms, 1e5 x 100 3.09 -> 2.70, 5e4 x 1000 17.96 -> 11.51; calib_softmax
 * (strict) 7.00 -> 4.73, 5.40 -> 4.08, 26.26 -> 18.81. Chunk and distance:
 * 1024-4096 and 6-24 KiB were within 10 % of each other; 4096 / 12 KiB was
 * the best. Chunks hold whole blocks of the row kernels (16 rows for k <= 16,
 * 4 for k < 512), so no row falls to a block's tail path. The constants and
 * the prefetch loop are pfw.h's, shared with the AVX2 and typed files.
 * Except the softmax rows of 16 < k <= 128 (row_regs, regs_rows(); the
 * log-softmax rows of that k are written one at a time and keep pfw.h's
 * path; row_regs: each output vector stored once, in order):
 * there the chunked path lost to plain stores once row_regs found bad rows
 * by their NaN sum instead of a compare per vector (the same build with and
 * without it, calib_softmax_rows (100000, 100): 2.44-2.65 against 2.09-2.14
 * ms; k = 10 and 1000 are slower without it), and row_regs prefetches each
 * output line itself, OUT_PF ahead of its store. bench/ab_rows.c, 12
 * rounds, (100000, 100): 2.41-2.52 ms before both, 2.07-2.10 with the NaN
 * sum and plain stores, 1.95-1.97 with OUT_PF; memcpy 1.55-1.60 ms. */

static void run_rows_part(rows_fn f, const float *x, size_t n, size_t k, size_t ldx, float beta,
                          float *y, size_t ldy, calib__rstat *rs, size_t i0, int plain);

/* The public wrappers validate the whole input just before the kernel runs,
 * which leaves its last few MiB in the last-level cache: the rows in the
 * final TAIL_BYTES of the input are done first, then the rest from row 0
 * (rows are independent, so the order changes nothing else). */
#define TAIL_BYTES ((size_t)8 << 20)
static void run_rows(rows_fn f, const float *x, size_t n, size_t k, size_t ldx, float beta,
                     float *y, size_t ldy, int plain) {
  const size_t tail = TAIL_BYTES / (ldx * sizeof(float));
  if (tail == 0 || n <= tail + tail / 2) {
    run_rows_part(f, x, n, k, ldx, beta, y, ldy, NULL, 0, plain);
    return;
  }
  run_rows_part(f, x + (n - tail) * ldx, tail, k, ldx, beta, y + (n - tail) * ldy, ldy, NULL, 0, plain);
  run_rows_part(f, x, n - tail, k, ldx, beta, y, ldy, NULL, 0, plain);
}

/* plain: f prefetches its own output lines (regs_rows), no pfw.h chunks */
static void run_rows_part(rows_fn f, const float *x, size_t n, size_t k, size_t ldx, float beta,
                          float *y, size_t ldy, calib__rstat *rs, size_t i0, int plain) {
  if (plain || n * ldy * sizeof(float) < PFW_BYTES) {
    f(x, n, k, ldx, beta, y, ldy, rs, i0);
    return;
  }
  const size_t rows = pfw_rows(ldy * sizeof(float), k <= 16 ? 16 : k < 512 ? 4 : 1);
  pfw_lines((uintptr_t)y, PFW_AHEAD);
  for (size_t i = 0; i < n; i += rows) {
    const size_t nr = n - i < rows ? n - i : rows;
    pfw_lines((uintptr_t)(y + i * ldy) + PFW_AHEAD, nr * ldy * sizeof(float));
    f(x + i * ldx, nr, k, ldx, beta, y + i * ldy, ldy, rs, i0 + i);
  }
}

static void softmax_avx512(const float *x, size_t n, size_t k, size_t ldx, float beta, float *y,
                           size_t ldy) {
  run_rows(k <= 16 ? softmax_rows_small : softmax_rows_big, x, n, k, ldx, beta, y, ldy, regs_rows(k));
}

static void log_softmax_avx512(const float *x, size_t n, size_t k, size_t ldx, float beta,
                               float *y, size_t ldy) {
  run_rows(k <= 16 ? log_softmax_rows_small : log_softmax_rows_big, x, n, k, ldx, beta, y, ldy, 0);
}

/* Row-wise mode: one pass, rows in order (no tail-first order: no
 * validation pass has left anything in the cache). */
static size_t softmax_rows_avx512(const float *x, size_t n, size_t k, size_t ldx, float beta, float *y,
                                  size_t ldy, uint8_t *status, size_t *first_bad) {
  calib__rstat rs = {status, 0, n};
  run_rows_part(k <= 16 ? softmax_rows_small_chk : softmax_rows_big_chk, x, n, k, ldx, beta, y, ldy,
                &rs, 0, regs_rows(k));
  *first_bad = rs.first;
  return rs.bad;
}

static size_t log_softmax_rows_avx512(const float *x, size_t n, size_t k, size_t ldx, float beta,
                                      float *y, size_t ldy, uint8_t *status, size_t *first_bad) {
  calib__rstat rs = {status, 0, n};
  run_rows_part(k <= 16 ? log_softmax_rows_small_chk : log_softmax_rows_big_chk, x, n, k, ldx, beta, y, ldy,
                &rs, 0, 0);
  *first_bad = rs.first;
  return rs.bad;
}

/* ---- sigmoid ----------------------------------------------------------------- */

static ALWAYS_INLINE __m512 sigmoid_vec(__m512 v, __m512 b) {
  const __m512 t = _mm512_mul_ps(v, b);
  const __m512 e = exp_ps(_mm512_or_ps(t, _mm512_set1_ps(-0.0f))); /* exp(-|t|) */
  const __m512 q = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
  const __mmask16 neg = _mm512_cmp_ps_mask(t, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_mul_ps(q, neg, e, q);
}

static size_t sigmoid_rows_avx512(const float *x, size_t n, float beta, float *y, uint8_t *status,
                                  size_t *first_bad) {
  const __m512 b = _mm512_set1_ps(beta);
  size_t bad = 0;
  *first_bad = n;
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mt = mask16(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(mt, x + i);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q); /* masked-off lanes are 0 */
    _mm512_mask_storeu_ps(y + i, mt, _mm512_mask_mov_ps(sigmoid_vec(v, b), nan, _mm512_set1_ps(NAN)));
    if (status) _mm_mask_storeu_epi8(status + i, mt, _mm_maskz_mov_epi8(nan, _mm_set1_epi8((char)CALIB__ROW_BAD)));
    if (nan) {
      if (!bad) *first_bad = i + (size_t)__builtin_ctz(nan);
      bad += (size_t)__builtin_popcount(nan);
    }
  }
  return bad;
}

static void sigmoid_avx512(const float *x, size_t n, float beta, float *y) {
  const __m512 b = _mm512_set1_ps(beta);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 p0 = sigmoid_vec(_mm512_loadu_ps(x + i), b);
    const __m512 p1 = sigmoid_vec(_mm512_loadu_ps(x + i + 16), b);
    _mm512_storeu_ps(y + i, p0);
    _mm512_storeu_ps(y + i + 16, p1);
  }
  for (; i < n; i += 16) {
    const __mmask16 mt = mask16(n - i);
    _mm512_mask_storeu_ps(y + i, mt, sigmoid_vec(_mm512_maskz_loadu_ps(mt, x + i), b));
  }
}

/* ---- temperature-scaling moments -------------------------------------------- */

/* Pass 1 of one row: s0 = sum e_j, s1 = sum e_j d_j with e_j = exp(beta d_j),
 * d_j = x_j - m; e_j kept in eb[j] for j < TS_BUF. */
static ALWAYS_INLINE void ts_pass1(const float *r, size_t k, __m512d m, __m512d b, double *eb,
                                   const exp_pd_table *tab, double *s0, double *s1) {
  __m512d a0 = _mm512_setzero_pd(), a1 = a0, c0 = a0, c1 = a0;
  size_t j = 0;
  for (; j + 16 <= k; j += 16) {
    prefetch1(r + j);
    const __m512d d0 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(r + j)), m);
    const __m512d d1 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(r + j + 8)), m);
    const __m512d e0 = exp_pd(_mm512_mul_pd(b, d0), tab), e1 = exp_pd(_mm512_mul_pd(b, d1), tab);
    if (j + 16 <= TS_BUF) {
      _mm512_storeu_pd(eb + j, e0);
      _mm512_storeu_pd(eb + j + 8, e1);
    }
    a0 = _mm512_add_pd(a0, e0);
    a1 = _mm512_add_pd(a1, e1);
    c0 = _mm512_fmadd_pd(e0, d0, c0);
    c1 = _mm512_fmadd_pd(e1, d1, c1);
  }
  for (; j < k; j += 8) {
    const __mmask8 mt = mask8(k - j);
    const __m512d d = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(mt, r + j)), m);
    const __m512d e = _mm512_maskz_mov_pd(mt, exp_pd(_mm512_mul_pd(b, d), tab));
    if (j + 8 <= TS_BUF) _mm512_storeu_pd(eb + j, e);
    a0 = _mm512_add_pd(a0, e);
    c0 = _mm512_fmadd_pd(e, d, c0);
  }
  *s0 = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
  *s1 = _mm512_reduce_add_pd(_mm512_add_pd(c0, c1));
}

/* Pass 2: sum e_j (d_j - mu)^2 (returned) and sum e_j^2 (*q), e_j from eb
 * or recomputed past TS_BUF. */
static ALWAYS_INLINE double ts_pass2(const float *r, size_t k, __m512d m, __m512d b, __m512d mu,
                                     const double *eb, const exp_pd_table *tab, double *q) {
  __m512d a0 = _mm512_setzero_pd(), a1 = a0, q0 = a0, q1 = a0;
  size_t j = 0;
  for (; j + 16 <= k; j += 16) {
    const __m512d d0 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(r + j)), m);
    const __m512d d1 = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(r + j + 8)), m);
    __m512d e0, e1;
    if (j + 16 <= TS_BUF) {
      e0 = _mm512_loadu_pd(eb + j);
      e1 = _mm512_loadu_pd(eb + j + 8);
    } else {
      e0 = exp_pd(_mm512_mul_pd(b, d0), tab);
      e1 = exp_pd(_mm512_mul_pd(b, d1), tab);
    }
    const __m512d t0 = _mm512_sub_pd(d0, mu), t1 = _mm512_sub_pd(d1, mu);
    a0 = _mm512_fmadd_pd(_mm512_mul_pd(e0, t0), t0, a0);
    a1 = _mm512_fmadd_pd(_mm512_mul_pd(e1, t1), t1, a1);
    q0 = _mm512_fmadd_pd(e0, e0, q0);
    q1 = _mm512_fmadd_pd(e1, e1, q1);
  }
  for (; j < k; j += 8) {
    const __mmask8 mt = mask8(k - j);
    const __m512d d = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(mt, r + j)), m);
    const __m512d e = j + 8 <= TS_BUF ? _mm512_loadu_pd(eb + j)
                                      : _mm512_maskz_mov_pd(mt, exp_pd(_mm512_mul_pd(b, d), tab));
    const __m512d t = _mm512_sub_pd(d, mu);
    a0 = _mm512_fmadd_pd(_mm512_mul_pd(e, t), t, a0);
    q0 = _mm512_fmadd_pd(e, e, q0);
  }
  *q = _mm512_reduce_add_pd(_mm512_add_pd(q0, q1));
  return _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
}

/* One row of ts_moments (kernels_rows.h); e_j kept in eb[0..TS_BUF). */
static inline void ts_row(const float *r, size_t k, double m, double beta, double *eb, double s[4]) {
  const exp_pd_table tab = exp_pd_init();
  const __m512d mv = _mm512_set1_pd(m), b = _mm512_set1_pd(beta);
  ts_pass1(r, k, mv, b, eb, &tab, &s[0], &s[1]);
  s[2] = ts_pass2(r, k, mv, b, _mm512_set1_pd(s[1] / s[0]), eb, &tab, &s[3]);
}

/* ---- finiteness check (driver: kernels_rows.h) ------------------------------
 * Two integer ops per vector: the magnitude bits and their lane-wise max. */
typedef __m512i mag_vec;
static inline mag_vec mag_zero(void) { return _mm512_setzero_si512(); }

static inline __m512i mag_bits(__m512 v) {
  return _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff));
}

/* acc := lane-wise max of acc and the magnitude bits of p[0..cnt). */
static inline __m512i mag_max(const float *p, size_t cnt, __m512i acc) {
  __m512i a1 = _mm512_setzero_si512(), a2 = a1, a3 = a1;
  size_t j = 0;
  for (; j + 64 <= cnt; j += 64) {
    acc = _mm512_max_epu32(acc, mag_bits(_mm512_loadu_ps(p + j)));
    a1 = _mm512_max_epu32(a1, mag_bits(_mm512_loadu_ps(p + j + 16)));
    a2 = _mm512_max_epu32(a2, mag_bits(_mm512_loadu_ps(p + j + 32)));
    a3 = _mm512_max_epu32(a3, mag_bits(_mm512_loadu_ps(p + j + 48)));
  }
  for (; j + 16 <= cnt; j += 16) acc = _mm512_max_epu32(acc, mag_bits(_mm512_loadu_ps(p + j)));
  if (j < cnt) /* unselected lanes load as +0: magnitude 0 */
    a1 = _mm512_max_epu32(a1, mag_bits(_mm512_maskz_loadu_ps(mask16(cnt - j), p + j)));
  return _mm512_max_epu32(_mm512_max_epu32(acc, a1), _mm512_max_epu32(a2, a3));
}

static inline int mag_bad(__m512i acc) {
  return _mm512_cmpge_epu32_mask(acc, _mm512_set1_epi32(0x7f800000)) != 0;
}

/* ---- temperature-scaling pre-pass ------------------------------------------- */

static inline __m512d lo_pd(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
static inline __m512d hi_pd(__m512 v) { return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)); }

/* Sum (in double) and maximum of r[0..k), k >= 1. */
static inline double row_sum_max(const float *r, size_t k, float *mx) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  __m512 m0 = ninf, m1 = ninf;
  __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
  size_t j = 0;
  for (; j + 32 <= k; j += 32) {
    const __m512 a = _mm512_loadu_ps(r + j), b = _mm512_loadu_ps(r + j + 16);
    m0 = _mm512_max_ps(m0, a);
    m1 = _mm512_max_ps(m1, b);
    s0 = _mm512_add_pd(s0, lo_pd(a));
    s1 = _mm512_add_pd(s1, hi_pd(a));
    s2 = _mm512_add_pd(s2, lo_pd(b));
    s3 = _mm512_add_pd(s3, hi_pd(b));
  }
  for (; j < k; j += 16) { /* unselected lanes: +0 to the sums, no change to the max */
    const __mmask16 mt = mask16(k - j);
    const __m512 a = _mm512_maskz_loadu_ps(mt, r + j);
    m0 = _mm512_mask_max_ps(m0, mt, m0, a);
    s0 = _mm512_add_pd(s0, lo_pd(a));
    s1 = _mm512_add_pd(s1, hi_pd(a));
  }
  *mx = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
  return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3)));
}

/* ---- temperature-scaling moments, single-precision exp ---------------------- */

#define TSF_BLOCK 1024 /* entries summed in float (16 per lane) before the sums move to double */

typedef struct {
  __m512 s0, s1, s2;
} tsf_acc;

/* e = exp(bh d + bl d) (masked-off lanes: e = 0); s0 += e, s1 += e d, s2 += e d^2. */
static ALWAYS_INLINE void tsf_step(tsf_acc *a, __m512 d, __m512 bh, __m512 bl, __mmask16 mt) {
  const __m512 e = _mm512_maskz_mov_ps(mt, exp_ps(_mm512_fmadd_ps(d, bh, _mm512_mul_ps(d, bl))));
  const __m512 ed = _mm512_mul_ps(e, d);
  a->s0 = _mm512_add_ps(a->s0, e);
  a->s1 = _mm512_add_ps(a->s1, ed);
  a->s2 = _mm512_fmadd_ps(ed, d, a->s2);
}

static inline double hsum_pd(__m512 v) { return _mm512_reduce_add_pd(_mm512_add_pd(lo_pd(v), hi_pd(v))); }

/* One block r[0..cnt) (cnt <= TSF_BLOCK), float sums added to s[0..2] in double. */
static inline void tsf_block(const float *r, size_t cnt, __m512 m, __m512 bh, __m512 bl, double s[3]) {
  const __m512 z = _mm512_setzero_ps();
  tsf_acc a[4] = {{z, z, z}, {z, z, z}, {z, z, z}, {z, z, z}};
  size_t j = 0;
  for (; j + 64 <= cnt; j += 64) {
    prefetch4(r + j);
    tsf_step(&a[0], _mm512_sub_ps(_mm512_loadu_ps(r + j), m), bh, bl, 0xFFFF);
    tsf_step(&a[1], _mm512_sub_ps(_mm512_loadu_ps(r + j + 16), m), bh, bl, 0xFFFF);
    tsf_step(&a[2], _mm512_sub_ps(_mm512_loadu_ps(r + j + 32), m), bh, bl, 0xFFFF);
    tsf_step(&a[3], _mm512_sub_ps(_mm512_loadu_ps(r + j + 48), m), bh, bl, 0xFFFF);
  }
  for (; j < cnt; j += 16) {
    const __mmask16 mt = mask16(cnt - j);
    tsf_step(&a[0], _mm512_sub_ps(_mm512_maskz_loadu_ps(mt, r + j), m), bh, bl, mt);
  }
  s[0] += hsum_pd(_mm512_add_ps(_mm512_add_ps(a[0].s0, a[1].s0), _mm512_add_ps(a[2].s0, a[3].s0)));
  s[1] += hsum_pd(_mm512_add_ps(_mm512_add_ps(a[0].s1, a[1].s1), _mm512_add_ps(a[2].s1, a[3].s1)));
  s[2] += hsum_pd(_mm512_add_ps(_mm512_add_ps(a[0].s2, a[1].s2), _mm512_add_ps(a[2].s2, a[3].s2)));
}

/* The three sums of one row of ts_moments_fast, TSF_BLOCK entries at a time. */
static inline void tsf_row(const float *r, size_t k, float m, double beta, double s[3]) {
  const float bhf = (float)beta;
  const __m512 bh = _mm512_set1_ps(bhf), bl = _mm512_set1_ps((float)(beta - (double)bhf));
  const __m512 mv = _mm512_set1_ps(m);
  for (size_t j = 0; j < k; j += TSF_BLOCK) tsf_block(r + j, k - j < TSF_BLOCK ? k - j : TSF_BLOCK, mv, bh, bl, s);
}

/* ---- probabilities: sum of squares and first argmax (fit_provenance.c) ------ */

/* sum_j r_j^2 in double (v * v is exact in double, so fmadd = mul + add)
 * and the first index of the maximum, in one read: each lane keeps its
 * maximum and the index where it first reached it (a strictly greater entry
 * replaces both, so a later tie does not), and the answer is the smallest
 * index among the lanes holding the row's maximum. (Searching for the first
 * entry equal to the maximum after the pass cost as much as the sums: half a
 * row of compares and a branch per sixteen entries.) Masked-off lanes load as
 * 0: +0 to the sums; they never win a compare. Probabilities are never NaN
 * and are >= 0 > -inf, so every row's maximum is in some lane. */
static double prob_sumsq_argmax_avx512(const float *r, size_t k, size_t *top) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  const __m512i sixteen = _mm512_set1_epi32(16), big = _mm512_set1_epi32(INT32_MAX);
  __m512 m0 = ninf, m1 = ninf;
  __m512i i0 = _mm512_setzero_si512(), i1 = i0; /* index of each lane's maximum */
  __m512i jv = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
  size_t j = 0;
  for (; j + 32 <= k; j += 32) {
    const __m512 a = _mm512_loadu_ps(r + j), b = _mm512_loadu_ps(r + j + 16);
    const __mmask16 ga = _mm512_cmp_ps_mask(a, m0, _CMP_GT_OQ), gb = _mm512_cmp_ps_mask(b, m1, _CMP_GT_OQ);
    m0 = _mm512_mask_mov_ps(m0, ga, a);
    m1 = _mm512_mask_mov_ps(m1, gb, b);
    i0 = _mm512_mask_mov_epi32(i0, ga, jv);
    i1 = _mm512_mask_mov_epi32(i1, gb, _mm512_add_epi32(jv, sixteen));
    jv = _mm512_add_epi32(jv, _mm512_add_epi32(sixteen, sixteen));
    const __m512d a0 = lo_pd(a), a1 = hi_pd(a), b0 = lo_pd(b), b1 = hi_pd(b);
    s0 = _mm512_fmadd_pd(a0, a0, s0);
    s1 = _mm512_fmadd_pd(a1, a1, s1);
    s2 = _mm512_fmadd_pd(b0, b0, s2);
    s3 = _mm512_fmadd_pd(b1, b1, s3);
  }
  for (; j < k; j += 16) {
    const __mmask16 mt = mask16(k - j);
    const __m512 a = _mm512_maskz_loadu_ps(mt, r + j);
    const __mmask16 ga = _mm512_mask_cmp_ps_mask(mt, a, m0, _CMP_GT_OQ);
    m0 = _mm512_mask_mov_ps(m0, ga, a);
    i0 = _mm512_mask_mov_epi32(i0, ga, jv);
    jv = _mm512_add_epi32(jv, sixteen);
    const __m512d a0 = lo_pd(a), a1 = hi_pd(a);
    s0 = _mm512_fmadd_pd(a0, a0, s0);
    s1 = _mm512_fmadd_pd(a1, a1, s1);
  }
  const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(_mm512_max_ps(m0, m1)));
  const __m512i c0 = _mm512_mask_mov_epi32(big, _mm512_cmp_ps_mask(m0, m, _CMP_EQ_OQ), i0);
  const __m512i c1 = _mm512_mask_mov_epi32(big, _mm512_cmp_ps_mask(m1, m, _CMP_EQ_OQ), i1);
  *top = (size_t)_mm512_reduce_min_epu32(_mm512_min_epu32(c0, c1));
  return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3)));
}

/* kernels.h top_label_rows. k <= 16: one masked load per row (lanes >= k
 * read as 0, which never exceeds the bound and never beats lane 0 on a tie),
 * the maximum by a reduction, the first lane equal to it by a mask. Rows are
 * independent, so the reductions of consecutive rows overlap (binned.c's
 * scalar chain of compare-and-select per entry was 45 % of the ECE-15 pass
 * at (1e6, 10)). k > 16: each lane keeps its largest bits and the index where
 * it first reached them (strictly greater replaces), then the smallest index
 * among the lanes holding the row's maximum, as prob_sumsq_argmax. */
static size_t top_label_rows_avx512(const float *p, size_t n, size_t k, size_t *arg) {
  const __m512i lim = _mm512_set1_epi32(0x3F800000), big = _mm512_set1_epi32(INT32_MAX);
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i sixteen = _mm512_set1_epi32(16);
  if (k <= 16) {
    const __mmask16 mk = mask16(k);
    for (size_t i = 0; i < n; i++) {
      prefetch1(p + i * k); /* masked loads are not hardware-prefetched */
      const __m512i v = _mm512_maskz_loadu_epi32(mk, p + i * k);
      if (_mm512_cmpgt_epu32_mask(v, lim)) return i;
      const __m512i m = _mm512_set1_epi32((int)_mm512_reduce_max_epu32(v));
      arg[i] = (size_t)__builtin_ctz((unsigned)_mm512_cmpeq_epi32_mask(v, m));
    }
    return n;
  }
  for (size_t i = 0; i < n; i++) {
    const float *r = p + i * k;
    __m512i best = _mm512_setzero_si512(), idx = best, jv = iota;
    __mmask16 over = 0;
    for (size_t j = 0; j < k; j += 16) {
      prefetch1(r + j);
      const __m512i v = _mm512_maskz_loadu_epi32(mask16(k - j), r + j);
      over |= _mm512_cmpgt_epu32_mask(v, lim);
      const __mmask16 g = _mm512_cmpgt_epu32_mask(v, best);
      best = _mm512_mask_mov_epi32(best, g, v);
      idx = _mm512_mask_mov_epi32(idx, g, jv);
      jv = _mm512_add_epi32(jv, sixteen);
    }
    if (over) return i;
    const __m512i m = _mm512_set1_epi32((int)_mm512_reduce_max_epu32(best));
    arg[i] = (size_t)_mm512_reduce_min_epu32(_mm512_mask_mov_epi32(big, _mm512_cmpeq_epi32_mask(best, m), idx));
  }
  return n;
}

#include "kernels_rows.h"

const calib__kernels calib__kernels_avx512 = {
    "avx512",       check_rows_avx512, softmax_avx512,    log_softmax_avx512,
    sigmoid_avx512, ts_moments_rows,   check_finite_rows, ts_prepass_rows,
    ts_moments_fast_rows, softmax_rows_avx512, log_softmax_rows_avx512, sigmoid_rows_avx512,
    prob_sumsq_argmax_avx512,
    ts_first_rows,
    top_label_rows_avx512,
};

/* ---- test hooks of vmath.h's AVX-512 instances (test/test_vmath.c) ---------- */
#ifndef CALIB_CORE
static void vm_exp_f32(const float *x, size_t n, float *y) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mk = mask16(n - i);
    _mm512_mask_storeu_ps(y + i, mk, exp_ps(_mm512_maskz_loadu_ps(mk, x + i)));
  }
}
static void vm_log_f32(const float *x, size_t n, float *y) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mk = mask16(n - i);
    _mm512_mask_storeu_ps(y + i, mk, log_ps(_mm512_mask_loadu_ps(_mm512_set1_ps(1.0f), mk, x + i)));
  }
}
/* lo (a constant): calib__exp8_pd_lo instead of exp_pd */
static ALWAYS_INLINE void vm_exp_f64_with(const double *x, size_t n, double *y, int lo) {
  const exp_pd_table tab = exp_pd_init();
  for (size_t i = 0; i < n; i += 8) {
    const __mmask8 mk = mask8(n - i);
    const __m512d v = _mm512_maskz_loadu_pd(mk, x + i);
    _mm512_mask_storeu_pd(y + i, mk, lo ? calib__exp8_pd_lo(v, &tab) : exp_pd(v, &tab));
  }
}
static void vm_exp_f64(const double *x, size_t n, double *y) { vm_exp_f64_with(x, n, y, 0); }
static void vm_exp_f64_lo(const double *x, size_t n, double *y) { vm_exp_f64_with(x, n, y, 1); }
static void vm_exp_f32_lo(const float *x, size_t n, float *y) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mk = mask16(n - i);
    _mm512_mask_storeu_ps(y + i, mk, calib__exp16_ps_lo(_mm512_maskz_loadu_ps(mk, x + i)));
  }
}
const calib__vmath_fns calib__vmath_avx512 = {"avx512", vm_exp_f32, vm_log_f32, vm_exp_f64, vm_exp_f64_lo,
                                              vm_exp_f32_lo};
#endif
