/* partial.c -- per-partition sums for fits driven from outside the library
 * (issue 13: a Newton solver on a Dask driver, each partition's sums from
 * here, added up on the driver). Contract in include/calib.h (the "Partial
 * sums" block at the end).
 *
 * Temperature: the same row maths as temperature.c, through the same
 * kernels (ts_prepass and the exact ts_moments for k >= 2; the binary loop
 * below is temperature.c's eval_binary, repeated here because that file is
 * not to be changed and keeps it static). Sums, not means: the driver
 * divides by the total weight.
 *
 * Platt: the Lin, Lin & Weng objective of platt_newton.c, through the same
 * block kernel (platt_pass.c: calib__lr_kernel_get), on one feature (the
 * score) with u = -(A s + B), so P(y = 1 | s) = sigmoid(u) = 1/(1 + exp(A s + B)).
 * The kernel works in theta = (-A, -B): the gradient changes sign, the
 * Hessian does not. Block sums of the objectives are added with Kahan
 * compensation, as platt_newton.c does.
 */
#include "fit_internal.h"
#include "kernels.h"
#include "platt_pass.h"
#include "checked.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* Weights: the fit's own check (calib__check_weights), except that a
 * partition whose weights are all zero is allowed (its sums are 0). */
static int check_part_weights(const double *w, size_t n, double *wsum) {
  const int st = calib__check_weights(w, n, wsum);
  if (st != CALIB_E_EMPTY) return st;
  *wsum = 0;
  return CALIB_OK;
}

/* n rows of k floats must be addressable (n * k * 4 bytes). */
static int check_size(size_t n, size_t k) {
  size_t bytes;
  return calib__size_bytes(n, k * sizeof(float), &bytes) ? CALIB_OK : CALIB_E_ARG;
}

/* The checks both temperature entry points share. */
static int check_ts(const float *x, size_t n, size_t k, const int64_t *y, const double *w,
                    double *wsum) {
  if (k == 0 || (n > 0 && (!x || !y))) return CALIB_E_ARG;
  if (n == 0) {
    *wsum = 0;
    return CALIB_OK;
  }
  int st = check_size(n, k);
  if (st == CALIB_OK) st = calib__check_labels(y, n, k);
  if (st == CALIB_OK) st = calib__check_finite(x, n, k, k);
  if (st == CALIB_OK) st = check_part_weights(w, n, wsum);
  return st;
}

int calib_temperature_prepass(const float *logits, size_t n, size_t k, const int64_t *labels,
                              const double *weights, double *out) {
  double wsum = 0, g = 0;
  int sep = 1;
  if (!out) return CALIB_E_ARG;
  const int st = check_ts(logits, n, k, labels, weights, &wsum);
  if (st != CALIB_OK) return st;
  if (n > 0 && k >= 2) calib__kernels_get()->ts_prepass(logits, n, k, k, labels, weights, &g, &sep);
  for (size_t i = 0; i < n && k == 1; i++) { /* temperature.c's prepass, k == 1 */
    const double w = weights ? weights[i] : 1.0;
    if (w == 0) continue;
    const float x = logits[i];
    const int y = labels[i] == 1;
    g += w * (double)x * (0.5 - y);
    sep &= y ? x >= 0.0f : x <= 0.0f;
  }
  out[0] = wsum;
  out[1] = g;
  out[2] = sep ? 1.0 : 0.0;
  return CALIB_OK;
}

int calib_temperature_partial(const float *logits, size_t n, size_t k, const int64_t *labels,
                              const double *weights, double beta, double *out) {
  double wsum = 0;
  if (!out || !isfinite(beta) || beta < 0) return CALIB_E_ARG;
  const int st = check_ts(logits, n, k, labels, weights, &wsum);
  if (st != CALIB_OK) return st;
  double acc[3] = {0, 0, 0};
  if (n > 0 && k >= 2) {
    calib__kernels_get()->ts_moments(logits, n, k, k, labels, weights, beta, acc);
  } else if (n > 0) {
    calib__ts_binary_sums(logits, labels, weights, n, beta, acc); /* the fit's own binary pass */
  }
  memcpy(out, acc, sizeof acc);
  return CALIB_OK;
}

/* ---- Platt ---------------------------------------------------------------------- */

static void kahan_add(double *sum, double *comp, double v) {
  const double t0 = v - *comp, t = *sum + t0;
  *comp = (t - *sum) - t0;
  *sum = t;
}

int calib_platt_partial(const float *scores, size_t n, size_t k, size_t cls,
                        const int64_t *labels, const double *weights, double t0, double t1,
                        double a, double b, double *out) {
  double wsum = 0;
  if (!out || k == 0 || cls >= k || (n > 0 && (!scores || !labels))) return CALIB_E_ARG;
  if (!isfinite(a) || !isfinite(b) || !(t0 >= 0 && t0 <= 1) || !(t1 >= 0 && t1 <= 1))
    return CALIB_E_ARG;
  int st = check_size(n, k); /* every check before the first write to out */
  if (st == CALIB_OK && n > 0) st = calib__check_labels(labels, n, k);
  if (st == CALIB_OK && n > 0) st = calib__check_finite(scores, n, k, k);
  if (st == CALIB_OK && n > 0) st = check_part_weights(weights, n, &wsum);
  if (st != CALIB_OK) return st;
  memset(out, 0, 7 * sizeof *out);
  if (n == 0) return CALIB_OK;

  const calib__lr_kernel kernel = calib__lr_kernel_get();
  const int64_t positive = calib__ovr_positive(k, cls);
  calib__lr_bparams bp;
  calib__lr_block blk;
  calib__lr_bsums bs;
  memset(&bp, 0, sizeof bp);
  memset(&blk, 0, sizeof blk);
  bp.th1 = -a;
  bp.b = -b;
  bp.t0 = t0;
  bp.t1 = t1;
  bp.nfeat = 1;
  bp.weighted = weights != NULL;
  double F = 0, Fc = 0, Fh = 0, Fhc = 0, g[2] = {0, 0}, h[3] = {0, 0, 0};
  for (size_t i0 = 0; i0 < n; i0 += CALIB__LR_BLOCK) {
    const size_t m = n - i0 < CALIB__LR_BLOCK ? n - i0 : CALIB__LR_BLOCK;
    for (size_t i = 0; i < CALIB__LR_BLOCK; i++) { /* padding repeats a valid row, weight 0 */
      const size_t r = i0 + (i < m ? i : 0);
      blk.f1[i] = (double)scores[r * k + cls];
      blk.y[i] = labels[r] == positive ? 1.0 : 0.0;
      blk.w[i] = i >= m ? 0.0 : weights ? weights[r] : 1.0;
    }
    kernel(&blk, &bp, &bs);
    kahan_add(&F, &Fc, bs.F);
    kahan_add(&Fh, &Fhc, bs.Fh);
    g[0] += bs.g[0];
    g[1] += bs.g[2];
    h[0] += bs.h[0];
    h[1] += bs.h[2];
    h[2] += bs.h[5];
  }
  out[0] = F;
  out[1] = -g[0]; /* d/dA = -d/dtheta1 */
  out[2] = -g[1]; /* d/dB = -d/dtheta_int */
  out[3] = h[0];
  out[4] = h[1];
  out[5] = h[2];
  out[6] = Fh;
  return CALIB_OK;
}

/* ---- models from the driver's parameters ------------------------------------------ */

/* calib__model_build, with a parameter the model validator rejects (e.g. a
 * subnormal T) reported as the argument error it is. */
static int build_from_params(calib_model **out, int method, size_t k, const calib__section *secs, size_t n) {
  const int st = calib__model_build(out, method, k, secs, n);
  return st == CALIB_E_FORMAT ? CALIB_E_ARG : st;
}

int calib_temperature_model(calib_model **out, size_t k, double temperature) {
  if (!out || k == 0 || !isfinite(temperature) || !(temperature > 0)) return CALIB_E_ARG;
  const calib__section sec = {CALIB_MP_TEMPERATURE, 1, &temperature};
  return build_from_params(out, CALIB_METHOD_TEMPERATURE, k, &sec, 1);
}

int calib_platt_model(calib_model **out, size_t k, const double *ab) {
  size_t bytes;
  if (!out || k == 0 || !ab || !calib__size_mul3(2, k, sizeof(double), &bytes)) return CALIB_E_ARG;
  for (size_t i = 0; i < 2 * k; i++)
    if (!isfinite(ab[i])) return CALIB_E_ARG;
  const double inp[2] = {(double)CALIB_INPUT_LOGITS, (double)FLT_EPSILON};
  const calib__section secs[2] = {{CALIB_MP_PLATT, 2 * k, ab}, {CALIB_MP_INPUT, 2, inp}};
  return build_from_params(out, CALIB_METHOD_PLATT, k, secs, 2);
}
