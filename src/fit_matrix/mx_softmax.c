/* mx_softmax.c -- the row pass of the matrix-family objective: logits in,
 * wt_i * softmax(a_i) out, and the weighted NLL, in double.
 *
 * exp is evaluated four lanes at a time with compiler vector extensions
 * (libm's scalar exp was half of an evaluation at k = 100) by the library's
 * one vectorised double exp, calib__vexp_pd4 (src/kernels/vmath.h; about
 * 1 ulp, measured by test_vmath); the NLL itself never goes through it (it
 * is max + log(sum) - a_y).
 * Where the dispatched ISA has a double-precision row table
 * (kernels/applyd.h: AVX2 and AVX-512 on x86-64), its nll_rows is the row
 * pass: on AVX-512 the 8-lane calib__exp8_pd, where this file's loop runs
 * the 4-lane degree-13 calib__vexp_pd4 (3 s of the bench's 75 s Dirichlet
 * fit at k = 1000 in perf, 0.9 % after; the AVX2+FMA clone of this file's
 * loop that it replaced was then never chosen, and is gone). Elsewhere
 * (NEON, other compilers with vector extensions) the vector loop below;
 * CALIB_ISA=scalar (or a compiler without vector extensions) selects the
 * scalar loop on libm.
 */
#include "mx_internal.h"
#include "kernels.h"
#include "vmath.h"
#include "applyd.h"
#include <math.h>

/* Scalar reference: also the path for compilers without vector extensions. */
static double rows_scalar(double *Q, size_t m, size_t k, const int64_t *y, const double *wt) {
  double nll = 0;
  for (size_t i = 0; i < m; i++) {
    double *a = Q + i * k, mx = a[0], s = 0;
    for (size_t j = 1; j < k; j++)
      if (a[j] > mx) mx = a[j];
    if (!isfinite(mx)) return HUGE_VAL;
    const double ay = a[y[i]];
    for (size_t j = 0; j < k; j++) {
      a[j] = exp(a[j] - mx);
      s += a[j];
    }
    nll += wt[i] * (mx + log(s) - ay);
    const double c = wt[i] / s;
    for (size_t j = 0; j < k; j++) a[j] *= c;
  }
  return nll;
}

#if defined(__GNUC__) || defined(__clang__)
typedef double mx_v __attribute__((vector_size(32)));
typedef long long mx_vi __attribute__((vector_size(32)));
#define MX_INLINE static inline __attribute__((always_inline))

/* *px = exp(*px) lane-wise, for lanes <= 0: the shared vector exp (kernels/vmath.h). */
MX_INLINE void v_exp_nonpos(mx_v *px) { calib__vexp_pd4(px); }

/* a[j] = exp(a[j] - mx) for j < k; returns the sum. */
MX_INLINE double exp_row(double *a, size_t k, double mx) {
  mx_v acc = {0, 0, 0, 0};
  size_t j = 0;
  for (; j + 4 <= k; j += 4) {
    mx_v v;
    memcpy(&v, a + j, sizeof v);
    v -= mx;
    v_exp_nonpos(&v);
    acc += v;
    memcpy(a + j, &v, sizeof v);
  }
  double s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  if (j < k) {
    mx_v v = {0, 0, 0, 0};
    for (size_t t = 0; j + t < k; t++) v[t] = a[j + t] - mx;
    v_exp_nonpos(&v);
    for (size_t t = 0; j + t < k; t++) {
      a[j + t] = v[t];
      s += v[t];
    }
  }
  return s;
}

/* max_j a[j], four lanes at a time (NaN never occurs: a is finite or +-inf). */
MX_INLINE double max_row(const double *a, size_t k) {
  double mx = a[0];
  size_t j = 0;
  if (k >= 4) {
    mx_v acc;
    memcpy(&acc, a, sizeof acc);
    for (j = 4; j + 4 <= k; j += 4) {
      mx_v v;
      memcpy(&v, a + j, sizeof v);
      const mx_vi gt = v > acc;
      acc = (mx_v)((gt & (mx_vi)v) | (~gt & (mx_vi)acc));
    }
    mx = acc[0];
    for (int t = 1; t < 4; t++) mx = acc[t] > mx ? acc[t] : mx;
  }
  for (; j < k; j++) mx = a[j] > mx ? a[j] : mx;
  return mx;
}

/* a[j] *= c */
MX_INLINE void scale_row(double *a, size_t k, double c) {
  size_t j = 0;
  for (; j + 4 <= k; j += 4) {
    mx_v v;
    memcpy(&v, a + j, sizeof v);
    v *= c;
    memcpy(a + j, &v, sizeof v);
  }
  for (; j < k; j++) a[j] *= c;
}

static double rows_vec(double *Q, size_t m, size_t k, const int64_t *y, const double *wt) {
  double nll = 0;
  for (size_t i = 0; i < m; i++) {
    double *a = Q + i * k;
    const double mx = max_row(a, k);
    if (!isfinite(mx)) return HUGE_VAL;
    const double ay = a[y[i]];
    const double s = exp_row(a, k, mx);
    nll += wt[i] * (mx + log(s) - ay);
    scale_row(a, k, wt[i] / s);
  }
  return nll;
}

#endif /* vector extensions */

calib__mx_rows_fn calib__mx_softmax_kernel(void) {
  /* the dispatched ISA's double-precision row maps (kernels/applyd.h): on
   * AVX-512 the 8-lane table exp, ~4x this file's 4-lane loop per row */
  const calib__applyd *ad = CALIB__APPLYD();
  if (ad && ad->nll_rows) return ad->nll_rows;
#if defined(__GNUC__) || defined(__clang__)
  if (strcmp(calib__kernels_get()->name, "scalar") != 0) return rows_vec;
#endif
  return rows_scalar;
}

