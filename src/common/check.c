/* check.c -- input validation shared by fitters, metrics and apply. */
#include "internal.h"
#include "kernels.h"
#include <math.h>

int calib__check_labels(const int64_t *labels, size_t n, size_t k) {
  const int64_t hi = k == 1 ? 1 : (int64_t)k - 1;
  for (size_t i = 0; i < n; i++)
    if (labels[i] < 0 || labels[i] > hi) return CALIB_E_LABEL;
  return CALIB_OK;
}

int calib__check_weights(const double *w, size_t n, double *wsum) {
  double s = 0;
  if (!w) {
    if (wsum) *wsum = (double)n;
    return n ? CALIB_OK : CALIB_E_EMPTY;
  }
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(w[i])) return CALIB_E_NONFINITE;
    if (w[i] < 0) return CALIB_E_DOMAIN;
    s += w[i];
  }
  if (!(s > 0)) return CALIB_E_EMPTY;
  if (wsum) *wsum = s;
  return CALIB_OK;
}

/* The dispatched SIMD kernel (the scalar table in the firmware core). */
int calib__check_finite(const float *x, size_t n, size_t k, size_t ld) {
  return calib__kernels_get()->check_finite(x, n, k, ld);
}

int calib__check_probs(const float *p, size_t n, size_t k) {
  const size_t nk = n * k;
  for (size_t i = 0; i < nk; i++) {
    if (!isfinite(p[i])) return CALIB_E_NONFINITE;
    if (p[i] < 0.0f || p[i] > 1.0f) return CALIB_E_DOMAIN;
  }
  return CALIB_OK;
}

int calib__check_two_classes(const int64_t *labels, const double *w, size_t n) {
  size_t i = 0;
  while (i < n && w && w[i] == 0) i++;
  if (i == n) return CALIB_E_ONECLASS;
  const int64_t first = labels[i];
  for (; i < n; i++)
    if ((!w || w[i] > 0) && labels[i] != first) return CALIB_OK;
  return CALIB_E_ONECLASS;
}

int calib__overlap(const void *a, size_t na, const void *b, size_t nb) {
  const uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
  if (!na || !nb) return 0;
  return pa < pb + nb && pb < pa + na;
}
