/* rowmath.h -- the double-precision row maths that several methods share, so
 * each formula has one definition: the stable logistic function and softplus,
 * the log-sum-exp of a float32 row, and the one-vs-rest renormalisation with
 * its "a row whose sum is 0 becomes uniform" rule (Platt, beta, isotonic,
 * histogram binning). Used by the apply maps (src/model/) and by the fitters
 * that reuse them, so fit and apply compute the same numbers.
 * Header-only (static inline, so the apply loops inline them); firmware core:
 * no allocation, no stdio; exp/log/log1p only. */
#ifndef CALIB_MODEL_ROWMATH_H
#define CALIB_MODEL_ROWMATH_H

#include "kernels.h" /* calib__f32u: caller arrays at any byte address */
#include "vmath.h"   /* calib__softmax_row_f64 */
#include "applyd.h"  /* the SIMD division of the renormalisation */
#include <math.h>
#include <stddef.h>

/* Stable logistic function 1 / (1 + e^-u), in double: exact 0 and 1 at
 * -inf and +inf, no overflow. */
static inline double calib__sigmoid_d(double u) {
  const double e = exp(-fabs(u));
  return u >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* Softplus ln(1 + e^u), in double, without overflow. */
static inline double calib__softplus_d(double u) {
  return (u > 0 ? u : 0.0) + log1p(exp(-fabs(u)));
}

/* ln sum_j exp(row_j) of k >= 1 finite floats, max-subtracted, in double
 * (the float64 softmax row of vmath.h). */
static inline double calib__row_lse(const calib__f32u *row, size_t k) {
  return calib__softmax_row_f64(row, k, NULL, NULL);
}

/* The same on a SIMD row table (ad non-NULL), for a row of finite values:
 * the maximum, then the exps by ad->sum_exp_excl (vmath.h's exp, ~1 ulp;
 * libm's scalar exp was 5 of the 60 us of a k = 1000 Dirichlet row,
 * bench_latency). */
static inline double calib__row_lse_simd(const calib__applyd *ad, const calib__f32u *row, size_t k) {
  float mx = row[0];
  for (size_t j = 1; j < k; j++) mx = row[j] > mx ? row[j] : mx;
  return (double)mx + log(ad->sum_exp_excl(row, k, k, (double)mx));
}

/* ---- one-vs-rest renormalisation ------------------------------------------
 * out_j = q_j / sum_l q_l for the k >= 2 per-class values q_j >= 0 of one row,
 * or 1/k for every class when the sum is not > 0; in double, rounded once.
 * q(ctx, row, j, &cur) returns q_j; it is called for j = 0, 1, ..., k-1 in
 * order, with *cur = 0 before class 0 (a method with per-class tables keeps
 * the offset of class j's table there). Rows of k <= CALIB__OVR_BUF keep the
 * q_j on the stack; wider rows call q a second time instead (no allocation).
 * out may equal row provided q for class j reads no row entry but row[j]
 * (and values computed before the call): row[j] is read before out[j] is
 * written. */
#ifdef CALIB_CORE
#define CALIB__OVR_BUF 64 /* firmware: 512 bytes of stack */
#else
#define CALIB__OVR_BUF 1024 /* 8 KiB of stack: k = 1000 computes each q_j once */
#endif

typedef double (*calib__ovr_q)(const void *ctx, const calib__f32u *row, size_t j, size_t *cur);

static inline void calib__ovr_normalise(calib__ovr_q q, const void *ctx, const calib__f32u *row,
                                        size_t k, calib__f32u *out) {
  double buf[CALIB__OVR_BUF], sum = 0;
  size_t cur = 0;
  for (size_t j = 0; j < k; j++) {
    const double qj = q(ctx, row, j, &cur);
    if (k <= CALIB__OVR_BUF) buf[j] = qj;
    sum += qj;
  }
  if (!(sum > 0)) {
    for (size_t j = 0; j < k; j++) out[j] = (float)(1.0 / (double)k);
    return;
  }
  if (k <= CALIB__OVR_BUF) {
    const calib__applyd *ad = CALIB__APPLYD();
    if (ad) ad->div_store(buf, k, sum, out); /* the same divisions, 8 (4) per instruction */
    else
      for (size_t j = 0; j < k; j++) out[j] = (float)(buf[j] / sum);
    return;
  }
  cur = 0;
  for (size_t j = 0; j < k; j++) out[j] = (float)(q(ctx, row, j, &cur) / sum);
}

#endif
