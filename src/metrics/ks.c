/* ks.c -- the sorted-scan estimators: KS calibration error (Gupta et al.
 * 2021) and MMCE (Kumar, Sarawagi & Jain 2018) in O(n log n). Formulas in
 * include/calib.h. */
#include "ce_internal.h"
#include <math.h>

/* max over the ends of tie runs of |sum_{i<=j} (s_i - t_i)| / n. */
double calib__ks_sorted(const calib__sorted *x) {
  double h = 0, best = 0;
  for (size_t i = 0; i < x->n; i++) {
    h += x->s[i] - (double)x->t[i];
    if ((i + 1 == x->n || x->s[i + 1] != x->s[i]) && fabs(h) > best) best = fabs(h);
  }
  return best / (double)x->n;
}

/* sum_ij r_i r_j exp(-|s_i - s_j|/w) = sum_i r_i^2 + 2 sum_i r_i G_i with
 * G_i = sum_{j<i} r_j exp(-(s_i - s_j)/w), built by the recursion
 * G_i = exp(-(s_i - s_{i-1})/w) (G_{i-1} + r_{i-1}). */
double calib__mmce_sorted(const calib__sorted *x, double width) {
  double G = 0, total = 0, prev = 0;
  for (size_t i = 0; i < x->n; i++) {
    const double r = (double)x->t[i] - x->s[i];
    if (i > 0) G = exp(-(x->s[i] - x->s[i - 1]) / width) * (G + prev);
    total += r * r + 2.0 * r * G;
    prev = r;
  }
  return total > 0 ? sqrt(total) / (double)x->n : 0.0;
}

static int ks_fn(const calib__sorted *x, void *ctx, double *value) {
  CALIB__UNUSED(ctx);
  *value = calib__ks_sorted(x);
  return CALIB_OK;
}

static int mmce_fn(const calib__sorted *x, void *ctx, double *value) {
  *value = calib__mmce_sorted(x, *(const double *)ctx);
  return CALIB_OK;
}

int calib_ks_error(const float *probs, size_t n, size_t k, const int64_t *labels, int scope,
                   double *out) {
  int st = calib__check_scope_input(probs, n, k, labels, scope, out);
  if (st != CALIB_OK) return st;
  const calib__source src = {probs, n, k, labels, NULL, NULL};
  return calib__scope_eval(&src, scope, CALIB__AGG_MEAN, 0, ks_fn, NULL, out);
}

int calib_mmce(const float *probs, size_t n, size_t k, const int64_t *labels, int scope,
               double width, double *out) {
  if (!out || k == 0 || !isfinite(width) || !(width > 0)) return CALIB_E_ARG;
  int st = calib__check_scope_input(probs, n, k, labels, scope, out);
  if (st != CALIB_OK) return st;
  const calib__source src = {probs, n, k, labels, NULL, NULL};
  return calib__scope_eval(&src, scope, CALIB__AGG_MEAN, 0, mmce_fn, &width, out);
}
