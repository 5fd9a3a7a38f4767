/* kernels_neon.c -- the AArch64 Advanced SIMD (NEON) kernel table.
 *
 * Compiled only when the compiler targets aarch64 (Makefile: *_neon.c and
 * -DCALIB_HAVE_NEON_KERNELS), where NEON is architectural: no run-time check
 * is needed, and the firmware core uses this table when built for aarch64.
 * Same numerics as the AVX2 table (kernels_avx2.c), 4 floats / 2 doubles per
 * vector; every helper is static (DESIGN.md section 5):
 *  - exp_ps: Cody-Waite reduction, the AVX2 exp's degree-6 minimax polynomial (about 1 ulp),
 *    2^n applied as two exact power-of-two factors 2^(n/2) so that results in
 *    the subnormal range are rounded once; inputs <= -120 (-inf included)
 *    give +0.
 *  - log_ps: cephes logf for positive normal floats (about 1 ulp).
 *  - exp_pd: reduction to |r| <= ln2/2, degree-13 Taylor polynomial
 *    (truncation < 5e-18), 2^n as two factors; about 1 ulp.
 *  - softmax rows: max, exp pass (stored, summed in double), scale by 1/sum. A row's
 *    last k mod 4 entries go through the same vector code, padded with -inf
 *    (exp gives 0, so the pad never changes the sum); padding columns of the
 *    caller's arrays are never read or written.
 * Tested against the scalar oracle by test/test_neon.c (under qemu-aarch64 in
 * `make test-cross`). */
#include "internal.h"
#include "kernels.h"
#include "vmath.h"
#include <arm_neon.h>
#include <math.h>

#define TS_BUF 2048

/* ---- exp / log (vmath.h) --------------------------------------------------- */

static inline float32x4_t exp_ps(float32x4_t x) { return calib__exp4_ps(x); }
/* Natural log of positive normal floats (cephes logf; about 1 ulp). */
static inline float32x4_t log_ps(float32x4_t s) { return calib__log4_ps(s); }
static inline float64x2_t exp_pd(float64x2_t t) { return calib__exp2_pd(t); }

/* ---- loads and stores of a row's last r < 4 entries --------------------------- */

/* Plain C element access: through calib__f32u (any byte address, kernels.h). */
static inline float32x4_t load_tail(const calib__f32u *p, size_t r, float pad) {
  float t[4] = {pad, pad, pad, pad};
  for (size_t j = 0; j < r; j++) t[j] = p[j];
  return vld1q_f32(t);
}
static inline void store_tail(calib__f32u *p, size_t r, float32x4_t v) {
  float t[4];
  vst1q_f32(t, v);
  for (size_t j = 0; j < r; j++) p[j] = t[j];
}

/* ---- validation ------------------------------------------------------------- */

static int check_rows_neon(const float *x, size_t n, size_t k, size_t ldx) {
  const float32x4_t pinf = vdupq_n_f32(INFINITY), ninf = vdupq_n_f32(-INFINITY);
  const size_t kv = k - k % 4;
  for (size_t i = 0; i < n; i++) {
    const float *r = x + i * ldx;
    uint32x4_t ok = vdupq_n_u32(~0u), fin = vdupq_n_u32(0);
    size_t j = 0;
    for (; j < kv; j += 4) {
      const float32x4_t a = vld1q_f32(r + j);
      ok = vandq_u32(ok, vcltq_f32(a, pinf));              /* false for NaN and +inf */
      fin = vorrq_u32(fin, vmvnq_u32(vceqq_f32(a, ninf))); /* some entry not -inf */
    }
    if (j < k) {
      const float32x4_t a = load_tail(r + j, k - j, -INFINITY);
      ok = vandq_u32(ok, vcltq_f32(a, pinf));
      fin = vorrq_u32(fin, vmvnq_u32(vceqq_f32(a, ninf)));
    }
    if (vminvq_u32(ok) == 0 || vmaxvq_u32(fin) == 0) return CALIB_E_NONFINITE;
  }
  return CALIB_OK;
}

/* ---- row kernels -------------------------------------------------------------- */

static inline float row_max(const float *r, size_t k) {
  float32x4_t m0 = vdupq_n_f32(-INFINITY), m1 = m0;
  size_t j = 0;
  for (; j + 8 <= k; j += 8) {
    m0 = vmaxq_f32(m0, vld1q_f32(r + j));
    m1 = vmaxq_f32(m1, vld1q_f32(r + j + 4));
  }
  for (; j + 4 <= k; j += 4) m0 = vmaxq_f32(m0, vld1q_f32(r + j));
  if (j < k) m1 = vmaxq_f32(m1, load_tail(r + j, k - j, -INFINITY));
  return vmaxvq_f32(vmaxq_f32(m0, m1));
}

static inline float32x4_t exp_shift(float32x4_t v, float32x4_t m, float32x4_t b) {
  return exp_ps(vmulq_f32(vsubq_f32(v, m), b));
}

/* Adds the four lanes of v to the double accumulators (lo: lanes 0-1, hi: 2-3). */
static inline void acc_pd(float64x2_t *lo, float64x2_t *hi, float32x4_t v) {
  *lo = vaddq_f64(*lo, vcvt_f64_f32(vget_low_f32(v)));
  *hi = vaddq_f64(*hi, vcvt_high_f64_f32(v));
}

/* o[j] = exp((r[j] - m) b); returns the sum, accumulated in double (as the
 * scalar oracle does): a float sum of a 1000-entry row drifts by ~1e-6,
 * the whole error budget of a probability. o may equal r. */
static inline double row_exp_store(const float *r, size_t k, float32x4_t m, float32x4_t b, float *o) {
  float64x2_t lo = vdupq_n_f64(0.0), hi = lo;
  size_t j = 0;
  for (; j + 8 <= k; j += 8) {
    const float32x4_t e0 = exp_shift(vld1q_f32(r + j), m, b);
    const float32x4_t e1 = exp_shift(vld1q_f32(r + j + 4), m, b);
    vst1q_f32(o + j, e0);
    vst1q_f32(o + j + 4, e1);
    acc_pd(&lo, &hi, e0);
    acc_pd(&lo, &hi, e1);
  }
  for (; j + 4 <= k; j += 4) {
    const float32x4_t e = exp_shift(vld1q_f32(r + j), m, b);
    vst1q_f32(o + j, e);
    acc_pd(&lo, &hi, e);
  }
  if (j < k) {
    const float32x4_t e = exp_shift(load_tail(r + j, k - j, -INFINITY), m, b);
    store_tail(o + j, k - j, e);
    acc_pd(&lo, &hi, e);
  }
  return vaddvq_f64(vaddq_f64(lo, hi));
}

static inline void row_scale(float *o, size_t k, float32x4_t inv) {
  size_t j = 0;
  for (; j + 4 <= k; j += 4) vst1q_f32(o + j, vmulq_f32(vld1q_f32(o + j), inv));
  for (; j < k; j++) ((calib__f32u *)o)[j] *= vgetq_lane_f32(inv, 0);
}

static void softmax_neon(const float *x, size_t n, size_t k, size_t ldx, float beta, float *y,
                         size_t ldy) {
  const float32x4_t b = vdupq_n_f32(beta);
  for (size_t i = 0; i < n; i++) {
    const float *r = x + i * ldx;
    float *o = y + i * ldy;
    const float32x4_t m = vdupq_n_f32(row_max(r, k));
    const double s = row_exp_store(r, k, m, b, o);
    row_scale(o, k, vdupq_n_f32((float)(1.0 / s)));
  }
}

/* Row-wise mode, fused into the max pass for free: FMAX/FMAXV propagate NaN,
 * so a row is bad iff its maximum is not finite (NaN, +inf, or every entry
 * -inf). A bad row is scaled by NaN. */
static size_t softmax_rows_neon(const float *x, size_t n, size_t k, size_t ldx, float beta, float *y,
                                size_t ldy, uint8_t *status, size_t *first_bad) {
  const float32x4_t b = vdupq_n_f32(beta);
  calib__rstat rs = {status, 0, n};
  for (size_t i = 0; i < n; i++) {
    const float *r = x + i * ldx;
    float *o = y + i * ldy;
    const float mx = row_max(r, k);
    const int bad = !(fabsf(mx) < INFINITY);
    const double s = row_exp_store(r, k, vdupq_n_f32(mx), b, o);
    calib__rstat_row(&rs, i, bad);
    row_scale(o, k, vdupq_n_f32(bad ? NAN : (float)(1.0 / s)));
  }
  *first_bad = rs.first;
  return rs.bad;
}

/* One row of log-softmax; with bad (row-wise mode), every output NaN. */
static inline void log_softmax_row(const float *r, size_t k, float32x4_t b, float *o, float mx, int bad) {
  const float32x4_t m = vdupq_n_f32(mx);
  float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
  size_t j = 0;
  for (; j + 8 <= k; j += 8) {
    s0 = vaddq_f32(s0, exp_shift(vld1q_f32(r + j), m, b));
    s1 = vaddq_f32(s1, exp_shift(vld1q_f32(r + j + 4), m, b));
  }
  for (; j + 4 <= k; j += 4) s0 = vaddq_f32(s0, exp_shift(vld1q_f32(r + j), m, b));
  if (j < k) s1 = vaddq_f32(s1, exp_shift(load_tail(r + j, k - j, -INFINITY), m, b));
  const float32x4_t ls = bad ? vdupq_n_f32(NAN) : log_ps(vdupq_n_f32(vaddvq_f32(vaddq_f32(s0, s1))));
  for (j = 0; j + 4 <= k; j += 4)
    vst1q_f32(o + j, vsubq_f32(vmulq_f32(vsubq_f32(vld1q_f32(r + j), m), b), ls));
  if (j < k)
    store_tail(o + j, k - j, vsubq_f32(vmulq_f32(vsubq_f32(load_tail(r + j, k - j, 0.0f), m), b), ls));
}

static void log_softmax_neon(const float *x, size_t n, size_t k, size_t ldx, float beta, float *y,
                             size_t ldy) {
  const float32x4_t b = vdupq_n_f32(beta);
  for (size_t i = 0; i < n; i++) log_softmax_row(x + i * ldx, k, b, y + i * ldy, row_max(x + i * ldx, k), 0);
}

/* Row-wise log-softmax: the row test of softmax_rows_neon (FMAX propagates NaN). */
static size_t log_softmax_rows_neon(const float *x, size_t n, size_t k, size_t ldx, float beta, float *y,
                                    size_t ldy, uint8_t *status, size_t *first_bad) {
  const float32x4_t b = vdupq_n_f32(beta);
  calib__rstat rs = {status, 0, n};
  for (size_t i = 0; i < n; i++) {
    const float mx = row_max(x + i * ldx, k);
    const int bad = !(fabsf(mx) < INFINITY);
    calib__rstat_row(&rs, i, bad);
    log_softmax_row(x + i * ldx, k, b, y + i * ldy, mx, bad);
  }
  *first_bad = rs.first;
  return rs.bad;
}

/* ---- sigmoid -------------------------------------------------------------------- */

static inline float32x4_t sigmoid_vec(float32x4_t v, float32x4_t b) {
  const float32x4_t t = vmulq_f32(v, b);
  const float32x4_t e = exp_ps(vnegq_f32(vabsq_f32(t))); /* exp(-|t|) */
  const float32x4_t q = vdivq_f32(vdupq_n_f32(1.0f), vaddq_f32(e, vdupq_n_f32(1.0f)));
  return vbslq_f32(vcltq_f32(t, vdupq_n_f32(0.0f)), vmulq_f32(e, q), q);
}

static size_t sigmoid_rows_neon(const float *x, size_t n, float beta, float *y, uint8_t *status,
                                size_t *first_bad) {
  const float32x4_t b = vdupq_n_f32(beta), qnan = vdupq_n_f32(NAN);
  calib__rstat rs = {status, 0, n};
  for (size_t i = 0; i < n; i += 4) {
    const size_t cnt = n - i < 4 ? n - i : 4;
    const float32x4_t v = cnt == 4 ? vld1q_f32(x + i) : load_tail(x + i, cnt, 0.0f);
    const uint32x4_t ok = vceqq_f32(v, v); /* all ones unless NaN */
    const float32x4_t p = vbslq_f32(ok, sigmoid_vec(v, b), qnan);
    if (cnt == 4) vst1q_f32(y + i, p);
    else store_tail(y + i, cnt, p);
    const uint32_t m = (vgetq_lane_u32(ok, 0) ? 0u : 1u) | (vgetq_lane_u32(ok, 1) ? 0u : 2u) |
                       (vgetq_lane_u32(ok, 2) ? 0u : 4u) | (vgetq_lane_u32(ok, 3) ? 0u : 8u);
    calib__rstat_mask(&rs, i, m, cnt);
  }
  *first_bad = rs.first;
  return rs.bad;
}

static void sigmoid_neon(const float *x, size_t n, float beta, float *y) {
  const float32x4_t b = vdupq_n_f32(beta);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t p0 = sigmoid_vec(vld1q_f32(x + i), b);
    const float32x4_t p1 = sigmoid_vec(vld1q_f32(x + i + 4), b);
    vst1q_f32(y + i, p0);
    vst1q_f32(y + i + 4, p1);
  }
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, sigmoid_vec(vld1q_f32(x + i), b));
  if (i < n) store_tail(y + i, n - i, sigmoid_vec(load_tail(x + i, n - i, 0.0f), b));
}

/* ---- temperature-scaling moments -------------------------------------------------- */

/* d = (double)r[j..j+1] - m; e = exp(b d), with lane 1 zeroed when only one
 * entry is left (j + 1 == k). */
static inline void ts_pair(const float *r, size_t j, size_t k, float64x2_t m, float64x2_t b,
                           float64x2_t *d, float64x2_t *e) {
  float32x2_t v;
  if (j + 2 <= k) {
    v = vld1_f32(r + j);
  } else {
    v = vdup_n_f32(0.0f);
    v = vset_lane_f32(((const calib__f32u *)r)[j], v, 0);
  }
  *d = vsubq_f64(vcvt_f64_f32(v), m);
  float64x2_t ex = exp_pd(vmulq_f64(b, *d));
  if (j + 2 > k) ex = vsetq_lane_f64(0.0, ex, 1);
  *e = ex;
}

static inline void ts_pass1(const float *r, size_t k, float64x2_t m, float64x2_t b, double *eb,
                            double *s0, double *s1) {
  float64x2_t a0 = vdupq_n_f64(0.0), a1 = a0, c0 = a0, c1 = a0;
  size_t j = 0;
  for (; j + 4 <= k; j += 4) {
    float64x2_t d0, e0, d1, e1;
    ts_pair(r, j, k, m, b, &d0, &e0);
    ts_pair(r, j + 2, k, m, b, &d1, &e1);
    if (j + 4 <= TS_BUF) {
      vst1q_f64(eb + j, e0);
      vst1q_f64(eb + j + 2, e1);
    }
    a0 = vaddq_f64(a0, e0);
    a1 = vaddq_f64(a1, e1);
    c0 = vfmaq_f64(c0, e0, d0);
    c1 = vfmaq_f64(c1, e1, d1);
  }
  for (; j < k; j += 2) {
    float64x2_t d, e;
    ts_pair(r, j, k, m, b, &d, &e);
    if (j + 2 <= TS_BUF) vst1q_f64(eb + j, e);
    a0 = vaddq_f64(a0, e);
    c0 = vfmaq_f64(c0, e, d);
  }
  *s0 = vaddvq_f64(vaddq_f64(a0, a1));
  *s1 = vaddvq_f64(vaddq_f64(c0, c1));
}

/* Pass 2: sum e_j (d_j - mu)^2 (returned) and sum e_j^2 (*q). */
static inline double ts_pass2(const float *r, size_t k, float64x2_t m, float64x2_t b, float64x2_t mu,
                              const double *eb, double *q) {
  float64x2_t a0 = vdupq_n_f64(0.0), a1 = a0, q0 = a0, q1 = a0;
  for (size_t j = 0; j < k; j += 2) {
    float64x2_t d, e;
    if (j + 2 <= TS_BUF) {
      float32x2_t v = j + 2 <= k ? vld1_f32(r + j) : vset_lane_f32(((const calib__f32u *)r)[j], vdup_n_f32(0.0f), 0);
      d = vsubq_f64(vcvt_f64_f32(v), m);
      e = vld1q_f64(eb + j); /* lane 1 already 0 for a lone last entry */
    } else {
      ts_pair(r, j, k, m, b, &d, &e);
    }
    const float64x2_t t = vsubq_f64(d, mu);
    if ((j / 2) % 2 == 0) {
      a0 = vfmaq_f64(a0, vmulq_f64(e, t), t);
      q0 = vfmaq_f64(q0, e, e);
    } else {
      a1 = vfmaq_f64(a1, vmulq_f64(e, t), t);
      q1 = vfmaq_f64(q1, e, e);
    }
  }
  *q = vaddvq_f64(vaddq_f64(q0, q1));
  return vaddvq_f64(vaddq_f64(a0, a1));
}

/* One row of ts_moments (kernels_rows.h); e_j kept in eb[0..TS_BUF). */
static inline void ts_row(const float *r, size_t k, double m, double beta, double *eb, double s[4]) {
  const float64x2_t mv = vdupq_n_f64(m), b = vdupq_n_f64(beta);
  ts_pass1(r, k, mv, b, eb, &s[0], &s[1]);
  s[2] = ts_pass2(r, k, mv, b, vdupq_n_f64(s[1] / s[0]), eb, &s[3]);
}

/* The per-row drivers need no software prefetch here. */
static inline void prefetch_ahead(const float *r, size_t ldx, size_t k) {
  CALIB__UNUSED(r);
  CALIB__UNUSED(ldx);
  CALIB__UNUSED(k);
}

/* ---- finiteness check (driver: kernels_rows.h) ------------------------------ */
typedef uint32x4_t mag_vec;
static inline mag_vec mag_zero(void) { return vdupq_n_u32(0); }

static inline uint32x4_t mag_bits(const float *p) {
  return vandq_u32(vld1q_u32((const uint32_t *)(const void *)p), vdupq_n_u32(0x7fffffffu));
}

/* acc := lane-wise max of acc and the magnitude bits of p[0..cnt). */
static inline uint32x4_t mag_max(const float *p, size_t cnt, uint32x4_t acc) {
  uint32x4_t a1 = vdupq_n_u32(0), a2 = a1, a3 = a1;
  size_t j = 0;
  for (; j + 16 <= cnt; j += 16) {
    acc = vmaxq_u32(acc, mag_bits(p + j));
    a1 = vmaxq_u32(a1, mag_bits(p + j + 4));
    a2 = vmaxq_u32(a2, mag_bits(p + j + 8));
    a3 = vmaxq_u32(a3, mag_bits(p + j + 12));
  }
  for (; j + 4 <= cnt; j += 4) acc = vmaxq_u32(acc, mag_bits(p + j));
  if (j < cnt) { /* padded with +0: magnitude 0 */
    const float32x4_t t = load_tail(p + j, cnt - j, 0.0f);
    a1 = vmaxq_u32(a1, vandq_u32(vreinterpretq_u32_f32(t), vdupq_n_u32(0x7fffffffu)));
  }
  return vmaxq_u32(vmaxq_u32(acc, a1), vmaxq_u32(a2, a3));
}

static inline int mag_bad(uint32x4_t acc) { return vmaxvq_u32(acc) >= 0x7f800000u; }

/* ---- temperature-scaling pre-pass ------------------------------------------- */

/* Sum (in double) and maximum of r[0..k), k >= 1. */
static inline double row_sum_max(const float *r, size_t k, float *mx) {
  float32x4_t m0 = vdupq_n_f32(-INFINITY), m1 = m0;
  float64x2_t s0 = vdupq_n_f64(0.0), s1 = s0, s2 = s0, s3 = s0;
  size_t j = 0;
  for (; j + 8 <= k; j += 8) {
    const float32x4_t a = vld1q_f32(r + j), b = vld1q_f32(r + j + 4);
    m0 = vmaxq_f32(m0, a);
    m1 = vmaxq_f32(m1, b);
    s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(a)));
    s1 = vaddq_f64(s1, vcvt_high_f64_f32(a));
    s2 = vaddq_f64(s2, vcvt_f64_f32(vget_low_f32(b)));
    s3 = vaddq_f64(s3, vcvt_high_f64_f32(b));
  }
  for (; j < k; j += 4) { /* the last k mod 8: padded with +0 (sums) and -inf (max) */
    const size_t rem = k - j < 4 ? k - j : 4;
    const float32x4_t a = load_tail(r + j, rem, 0.0f);
    m0 = vmaxq_f32(m0, load_tail(r + j, rem, -INFINITY));
    s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(a)));
    s1 = vaddq_f64(s1, vcvt_high_f64_f32(a));
  }
  *mx = vmaxvq_f32(vmaxq_f32(m0, m1));
  return vaddvq_f64(vaddq_f64(vaddq_f64(s0, s1), vaddq_f64(s2, s3)));
}

/* ---- temperature-scaling moments, single-precision exp ---------------------------- */

#define TSF_BLOCK 128 /* entries summed in float (16 per lane) before the sums move to double */

typedef struct {
  float32x4_t s0, s1, s2;
} tsf_acc;

/* e = exp(bh d + bl d) and-ed with mk; s0 += e, s1 += e d, s2 += e d^2. */
static inline void tsf_step(tsf_acc *a, float32x4_t d, float32x4_t bh, float32x4_t bl, uint32x4_t mk) {
  const float32x4_t t = vfmaq_f32(vmulq_f32(d, bl), d, bh);
  const float32x4_t e = vreinterpretq_f32_u32(vandq_u32(mk, vreinterpretq_u32_f32(exp_ps(t))));
  const float32x4_t ed = vmulq_f32(e, d);
  a->s0 = vaddq_f32(a->s0, e);
  a->s1 = vaddq_f32(a->s1, ed);
  a->s2 = vfmaq_f32(a->s2, ed, d);
}

static inline double hsum_ps_pd(float32x4_t v) {
  return vaddvq_f64(vaddq_f64(vcvt_f64_f32(vget_low_f32(v)), vcvt_high_f64_f32(v)));
}

/* One block r[0..cnt) (cnt <= TSF_BLOCK), float sums added to s[0..2] in double. */
static inline void tsf_block(const float *r, size_t cnt, float32x4_t m, float32x4_t bh, float32x4_t bl,
                             double s[3]) {
  static const uint32_t iota[4] = {0, 1, 2, 3};
  const float32x4_t z = vdupq_n_f32(0.0f);
  const uint32x4_t all = vdupq_n_u32(~0u);
  tsf_acc a[2] = {{z, z, z}, {z, z, z}};
  size_t j = 0;
  for (; j + 8 <= cnt; j += 8) {
    tsf_step(&a[0], vsubq_f32(vld1q_f32(r + j), m), bh, bl, all);
    tsf_step(&a[1], vsubq_f32(vld1q_f32(r + j + 4), m), bh, bl, all);
  }
  for (; j < cnt; j += 4) {
    const size_t left = cnt - j < 4 ? cnt - j : 4;
    const uint32x4_t mk = vcltq_u32(vld1q_u32(iota), vdupq_n_u32((uint32_t)left));
    const float32x4_t v = left == 4 ? vld1q_f32(r + j) : load_tail(r + j, left, 0.0f);
    tsf_step(&a[0], vsubq_f32(v, m), bh, bl, mk);
  }
  s[0] += hsum_ps_pd(vaddq_f32(a[0].s0, a[1].s0));
  s[1] += hsum_ps_pd(vaddq_f32(a[0].s1, a[1].s1));
  s[2] += hsum_ps_pd(vaddq_f32(a[0].s2, a[1].s2));
}

/* The three sums of one row of ts_moments_fast, TSF_BLOCK entries at a time. */
static inline void tsf_row(const float *r, size_t k, float m, double beta, double s[3]) {
  const float bhf = (float)beta;
  const float32x4_t bh = vdupq_n_f32(bhf), bl = vdupq_n_f32((float)(beta - (double)bhf));
  const float32x4_t mv = vdupq_n_f32(m);
  for (size_t j = 0; j < k; j += TSF_BLOCK) tsf_block(r + j, k - j < TSF_BLOCK ? k - j : TSF_BLOCK, mv, bh, bl, s);
}

#include "kernels_rows.h"

const calib__kernels calib__kernels_neon = {
    "neon",       check_rows_neon, softmax_neon,      log_softmax_neon,
    sigmoid_neon, ts_moments_rows, check_finite_rows, ts_prepass_rows,
    ts_moments_fast_rows, softmax_rows_neon, log_softmax_rows_neon, sigmoid_rows_neon,
    NULL, /* prob_sumsq_argmax: fit_provenance.c's own loop */
    ts_first_rows,
    NULL, /* top_label_rows: binned.c's own loop */
};

/* ---- test hooks of vmath.h's NEON instances (test/test_vmath.c) ------------- */
#ifndef CALIB_CORE
static void vm_exp_f32(const float *x, size_t n, float *y) {
  for (size_t i = 0; i < n; i += 4) {
    float t[4] = {0, 0, 0, 0};
    const size_t m = n - i < 4 ? n - i : 4;
    memcpy(t, x + i, m * sizeof *t);
    vst1q_f32(t, exp_ps(vld1q_f32(t)));
    memcpy(y + i, t, m * sizeof *t);
  }
}
static void vm_log_f32(const float *x, size_t n, float *y) {
  for (size_t i = 0; i < n; i += 4) {
    float t[4] = {1, 1, 1, 1};
    const size_t m = n - i < 4 ? n - i : 4;
    memcpy(t, x + i, m * sizeof *t);
    vst1q_f32(t, log_ps(vld1q_f32(t)));
    memcpy(y + i, t, m * sizeof *t);
  }
}
static void vm_exp_f64(const double *x, size_t n, double *y) {
  for (size_t i = 0; i < n; i += 2) {
    double t[2] = {0, 0};
    const size_t m = n - i < 2 ? n - i : 2;
    memcpy(t, x + i, m * sizeof *t);
    vst1q_f64(t, exp_pd(vld1q_f64(t)));
    memcpy(y + i, t, m * sizeof *t);
  }
}
const calib__vmath_fns calib__vmath_neon = {"neon", vm_exp_f32, vm_log_f32, vm_exp_f64, NULL, NULL};
#endif
