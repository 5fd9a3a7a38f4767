/* mx_softmax.c -- the row pass of the matrix-family objective: logits in,
 * wt_i * softmax(a_i) out, and the weighted NLL, in double.
 *
 * exp is evaluated here, four lanes at a time with compiler vector
 * extensions (libm's scalar exp was half of an evaluation at k = 100):
 * x = a - max(a) <= 0 is clamped at -708 (exp(-708) ~ 3e-308: a class that
 * far below the row maximum contributes nothing measurable to a sum >= 1),
 * then x = n ln2 + r, |r| <= ln2/2, with ln2 split in two (Cody-Waite), n
 * rounded by the 1.5 * 2^52 trick; exp(r) is its Taylor polynomial of degree
 * 13 (truncation error < 5e-18 relative) by Horner's rule, scaled by 2^n
 * built in the exponent bits. Relative error against libm a few 1e-16; the
 * NLL itself never goes through this exp (it is max + log(sum) - a_y).
 * Compiled twice on x86-64 with GCC/Clang: a plain build (SSE2 pairs) and
 * an AVX2+FMA clone, chosen from the kernels' dispatch; CALIB_ISA=scalar (or
 * a compiler without vector extensions) selects the scalar loop on libm.
 */
#include "mx_internal.h"
#include "kernels.h"
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

/* *px = exp(*px) lane-wise, for lanes <= 0 (see the file comment). */
MX_INLINE void v_exp_nonpos(mx_v *px) {
  const mx_v lo = {-708.0, -708.0, -708.0, -708.0};
  const mx_v shift = {6755399441055744.0, 6755399441055744.0, 6755399441055744.0,
                      6755399441055744.0}; /* 1.5 * 2^52 */
  mx_v x = *px;
  const mx_vi below = x < lo;
  x = (mx_v)((below & (mx_vi)lo) | (~below & (mx_vi)x));
  mx_v nd = x * 1.4426950408889634 + shift;
  const mx_vi n = (mx_vi)nd - (mx_vi)shift; /* the rounded integer, -1022 <= n <= 0 */
  nd -= shift;
  const mx_v r = (x - nd * 6.93147180369123816490e-01) - nd * 1.90821492927058770002e-10;
  mx_v p = r * (1.0 / 6227020800.0) + (1.0 / 479001600.0);
  p = p * r + (1.0 / 39916800.0);
  p = p * r + (1.0 / 3628800.0);
  p = p * r + (1.0 / 362880.0);
  p = p * r + (1.0 / 40320.0);
  p = p * r + (1.0 / 5040.0);
  p = p * r + (1.0 / 720.0);
  p = p * r + (1.0 / 120.0);
  p = p * r + (1.0 / 24.0);
  p = p * r + (1.0 / 6.0);
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  *px = p * (mx_v)((n + 1023) << 52);
}

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

MX_INLINE double rows_body(double *Q, size_t m, size_t k, const int64_t *y, const double *wt) {
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

static double rows_vec(double *Q, size_t m, size_t k, const int64_t *y, const double *wt) {
  return rows_body(Q, m, k, y, wt);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) static double rows_avx2(double *Q, size_t m, size_t k,
                                                           const int64_t *y, const double *wt) {
  return rows_body(Q, m, k, y, wt);
}
#define MX_HAVE_AVX2 1
#endif
#endif /* vector extensions */

calib__mx_rows_fn calib__mx_softmax_kernel(void) {
#if defined(MX_HAVE_AVX2)
  const char *isa = calib__kernels_get()->name;
  if (strcmp(isa, "avx2") == 0 || strcmp(isa, "avx512") == 0) return rows_avx2;
#endif
#if defined(__GNUC__) || defined(__clang__)
  if (strcmp(calib__kernels_get()->name, "scalar") != 0) return rows_vec;
#endif
  return rows_scalar;
}

