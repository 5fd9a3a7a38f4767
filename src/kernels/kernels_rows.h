/*
 * kernels_rows.h -- the per-row drivers shared by the SIMD kernel tables
 * (kernels_avx2.c, kernels_avx512.c, kernels_neon.c; the scalar oracle keeps
 * its own, written out plainly).
 *
 * The loops over rows of ts_moments, ts_moments_fast, ts_prepass,
 * check_finite and ts_first (contracts in kernels.h) are the same in every ISA; only the
 * work on one row differs. Each ISA file includes this header after defining,
 * all static (inline), with its own -m flags:
 *
 *   float  row_max(const float *r, size_t k);
 *   void   ts_row(const float *r, size_t k, double m, double beta, double *eb,
 *                 double s[4]);
 *            d_j = r_j - m, e_j = exp(beta d_j) in double: s[0] = sum e_j,
 *            s[1] = sum e_j d_j, s[2] = sum e_j (d_j - s[1]/s[0])^2,
 *            s[3] = sum e_j^2 (ts_first's row records);
 *            eb: TS_BUF doubles of scratch (TS_BUF defined by the ISA file)
 *   void   tsf_row(const float *r, size_t k, float m, double beta, double s[3]);
 *            the three float-exp sums of ts_moments_fast (kernels.h)
 *   double row_sum_max(const float *r, size_t k, float *mx);
 *            sum of r[0..k) in double, its maximum in *mx
 *   void   prefetch_ahead(const float *r, size_t ldx, size_t k);
 *            software prefetch of the rows ahead of r (may do nothing)
 *   mag_vec, mag_zero(), mag_max(p, cnt, acc), mag_bad(acc):
 *            lane-wise maximum of the magnitude bits (bits & 0x7fffffff) of
 *            p[0..cnt) folded into acc; mag_bad: some lane >= 0x7f800000
 *
 * Helpers must stay static: a non-static inline compiled with -mavx512f could
 * be the copy the linker keeps for every caller.
 */
#ifndef CALIB_KERNELS_ROWS_H
#define CALIB_KERNELS_ROWS_H

#include "internal.h"
#include "kernels.h"
#include <math.h>

#if defined(__GNUC__) || defined(__clang__)
#define ROWS_INLINE static inline __attribute__((always_inline))
#else
#define ROWS_INLINE static inline
#endif

/* One row's weighted terms of ts_moments (dy = z_{i,y_i} - m; s from ts_row)
 * added to the running sums: ts_moments_rows and ts_first_rows, the same
 * arithmetic. */
ROWS_INLINE void ts_add(const double s[4], double dy, double wi, double beta, double *aL, double *aG, double *aH) {
  const double mu = s[1] / s[0];
  *aL += wi * (log(s[0]) - beta * dy);
  *aG += wi * (mu - dy);
  *aH += wi * (s[2] / s[0]);
}

ROWS_INLINE void ts_row_add(const float *r, size_t k, double m, double dy, double wi, double beta, double *eb,
                            double *aL, double *aG, double *aH) {
  double s[4];
  ts_row(r, k, m, beta, eb, s);
  ts_add(s, dy, wi, beta, aL, aG, aH);
}

/* 1 iff c is the first index of the maximum mx of r[0..k) (r[c] == mx and no
 * earlier entry equals it), searched eight entries at a time (a branch per
 * eight; the row is in L1). */
ROWS_INLINE int first_max_at(const float *r, size_t c, float mx) {
  const calib__f32u *p = r;
  if (!(p[c] == mx)) return 0;
  size_t b = 0;
  for (; b + 8 <= c; b += 8) {
    int hit = 0;
    for (size_t l = 0; l < 8; l++) hit |= p[b + l] == mx;
    if (hit) return 0;
  }
  for (; b < c; b++)
    if (p[b] == mx) return 0;
  return 1;
}

/* ts_first's row record (kernels.h, CALIB__TS_REC doubles) from ts_row's s. */
ROWS_INLINE void ts_record(double *rec, const double s[4], const float *r, size_t c, float mx, double beta,
                           double dy) {
  rec[0] = s[0];
  rec[1] = s[3];
  rec[2] = beta * dy;
  rec[3] = first_max_at(r, c, mx) ? 1.0 : 0.0;
}

static void ts_moments_rows(const float *x, size_t n, size_t k, size_t ldx, const int64_t *y,
                            const double *w, double beta, double acc[3]) {
  double eb[TS_BUF];
  double aL = 0, aG = 0, aH = 0;
  for (size_t i = 0; i < n; i++) {
    const double wi = w ? w[i] : 1.0;
    if (wi == 0) continue;
    const float *r = x + i * ldx;
    const double m = (double)row_max(r, k);
    ts_row_add(r, k, m, (double)((const calib__f32u *)r)[y[i]] - m, wi, beta, eb, &aL, &aG, &aH);
  }
  acc[0] += aL;
  acc[1] += aG;
  acc[2] += aH;
}

static void ts_moments_fast_rows(const float *x, size_t n, size_t k, size_t ldx, const int64_t *y,
                                 const double *w, double beta, double acc[3]) {
  double aL = 0, aG = 0, aH = 0;
  for (size_t i = 0; i < n; i++) {
    const double wi = w ? w[i] : 1.0;
    if (wi == 0) continue;
    const float *r = x + i * ldx;
    prefetch_ahead(r, ldx, k);
    const float mf = row_max(r, k);
    double s[3] = {0, 0, 0};
    tsf_row(r, k, mf, beta, s);
    const double mu = s[1] / s[0], var = s[2] / s[0] - mu * mu;
    const double dy = (double)((const calib__f32u *)r)[y[i]] - (double)mf;
    aL += wi * (log(s[0]) - beta * dy);
    aG += wi * (mu - dy);
    aH += wi * (var > 0 ? var : 0.0);
  }
  acc[0] += aL;
  acc[1] += aG;
  acc[2] += aH;
}

static void ts_prepass_rows(const float *x, size_t n, size_t k, size_t ldx, const int64_t *y, const double *w,
                            double *g, int *sep) {
  double acc = 0;
  int s = 1;
  for (size_t i = 0; i < n; i++) {
    const double wi = w ? w[i] : 1.0;
    if (wi == 0) continue;
    const float *r = x + i * ldx;
    prefetch_ahead(r, ldx, k);
    float mx;
    const double sum = row_sum_max(r, k, &mx);
    const float zy = ((const calib__f32u *)r)[y[i]];
    acc += wi * (sum / (double)k - (double)zy);
    s &= zy >= mx;
  }
  *g = acc;
  *sep = s;
}

/* ts_prepass_rows, the finiteness test of every row and ts_moments_rows in
 * one read of each row (kernels.h's ts_first): the row is in L1 when ts_row
 * reads it. The row maximum is row_sum_max's (the same float as row_max's). */
static int ts_first_rows(const float *x, size_t n, size_t k, size_t ldx, const int64_t *y, const double *w,
                         double beta, double acc[3], double *g, int *sep, double *rec) {
  double eb[TS_BUF];
  double aL = 0, aG = 0, aH = 0, ga = 0;
  int sp = 1;
  for (size_t i = 0; i < n; i++) {
    const float *r = x + i * ldx;
    float mx;
    const double sum = row_sum_max(r, k, &mx);
    if (!isfinite(sum)) return CALIB_E_NONFINITE;
    const double wi = w ? w[i] : 1.0;
    if (wi == 0 && !rec) continue;
    const size_t c = (size_t)y[i];
    const float zy = ((const calib__f32u *)r)[c];
    const double dy = (double)zy - (double)mx;
    double s[4];
    ts_row(r, k, (double)mx, beta, eb, s);
    if (rec) ts_record(rec + i * CALIB__TS_REC, s, r, c, mx, beta, dy);
    if (wi == 0) continue;
    ga += wi * (sum / (double)k - (double)zy);
    sp &= zy >= mx;
    ts_add(s, dy, wi, beta, &aL, &aG, &aH);
  }
  acc[0] += aL;
  acc[1] += aG;
  acc[2] += aH;
  *g = ga;
  *sep = sp;
  return CALIB_OK;
}

/* x is non-finite iff its magnitude bits are >= 0x7f800000 (+-inf: equal,
 * NaN: above). Their lane-wise maximum is accumulated and tested once per
 * CF_BLOCK entries: an early exit at most one block after the first bad
 * entry. */
#define CF_BLOCK 8192

static int check_finite_rows(const float *x, size_t n, size_t k, size_t ldx) {
  if (ldx == k || n == 1) { /* one contiguous span of n * k entries */
    const size_t cnt = n * k;
    for (size_t j = 0; j < cnt; j += CF_BLOCK)
      if (mag_bad(mag_max(x + j, cnt - j < CF_BLOCK ? cnt - j : CF_BLOCK, mag_zero()))) return CALIB_E_NONFINITE;
    return CALIB_OK;
  }
  mag_vec acc = mag_zero();
  size_t seen = 0;
  for (size_t i = 0; i < n; i++) {
    prefetch_ahead(x + i * ldx, ldx, k);
    acc = mag_max(x + i * ldx, k, acc);
    if ((seen += k) >= CF_BLOCK) {
      if (mag_bad(acc)) return CALIB_E_NONFINITE;
      acc = mag_zero();
      seen = 0;
    }
  }
  return mag_bad(acc) ? CALIB_E_NONFINITE : CALIB_OK;
}

#endif /* CALIB_KERNELS_ROWS_H */
