/* ets_apply.c -- ensemble temperature scaling: validation and apply.
 *
 * Sections (float64, see format.c), exactly these two:
 *   CALIB_MP_ETS_TEMPERATURE  1 value: T, finite, > 0, with 1/T finite
 *   CALIB_MP_ETS_WEIGHTS      3 values: w1, w2, w3, each in [0, 1], with
 *                             |w1 + w2 + w3 - 1| <= 1e-9
 * k >= 1. Anything else is CALIB_E_FORMAT.
 *
 * Apply, per row in double: k >= 2,
 *   p_j = w1 exp(beta (x_j - m)) / s1 + w2 exp(x_j - m) / s2 + w3 / k
 * (beta = 1/T, m the row maximum, s1 and s2 the two sums: -inf entries give
 * the uniform share w3 / k only); k == 1, p = w1 sigmoid(beta x) +
 * w2 sigmoid(x) + w3 / 2. Input rules: calib_softmax()'s for k >= 2 (the
 * kernels' row check runs over every row before the first write) and
 * calib_sigmoid()'s for k == 1 (NaN rejected, +-inf allowed). Each output
 * depends on its own input and its row's sums, so in place is safe.
 */
#include "ets_apply.h"
#include "kernels.h"
#include "applyd.h"
#include <math.h>

void calib__ets_row_stats(const calib__f32u *x, size_t k, double beta, double *mx, double *s1,
                          double *s2) {
  double m = -HUGE_VAL, a = 0, b = 0;
  for (size_t j = 0; j < k; j++)
    if ((double)x[j] > m) m = (double)x[j];
  for (size_t j = 0; j < k; j++) {
    const double d = (double)x[j] - m;
    a += exp(beta * d);
    b += exp(d);
  }
  *mx = m;
  *s1 = a;
  *s2 = b;
}

int calib__ets_validate(calib_model *m) {
  const calib__section *t = calib__model_section(m, CALIB_MP_ETS_TEMPERATURE);
  const calib__section *w = calib__model_section(m, CALIB_MP_ETS_WEIGHTS);
  if (m->nsections != 2 || !t || !w || t->count != 1 || w->count != 3) return CALIB_E_FORMAT;
  const double T = t->data[0];
  if (!(T > 0) || !isfinite(T) || !isfinite(1.0 / T)) return CALIB_E_FORMAT;
  double sum = 0;
  for (int i = 0; i < 3; i++) {
    if (!(w->data[i] >= 0 && w->data[i] <= 1)) return CALIB_E_FORMAT;
    sum += w->data[i];
  }
  if (!(fabs(sum - 1.0) <= 1e-9)) return CALIB_E_FORMAT;
  return CALIB_OK;
}

static void apply_binary(double beta, const double *w, const calib__f32u *x, size_t n, calib__f32u *y) {
  for (size_t i = 0; i < n; i++) {
    const double v = (double)x[i];
    y[i] = (float)(w[0] * calib__sigmoid_d(beta * v) + w[1] * calib__sigmoid_d(v) +
                   0.5 * w[2]);
  }
}

static void apply_multi(double beta, const double *w, const calib__f32u *x, size_t n, size_t k,
                        calib__f32u *y) {
  const calib__applyd *ad = CALIB__APPLYD();
  if (ad && k <= CALIB__APPLYD_MAX_K) {
    ad->ets_rows(beta, w, x, n, k, y); /* the same map with the SIMD exp (applyd.h) */
    return;
  }
  const double u = w[2] / (double)k;
  for (size_t i = 0; i < n; i++) {
    const calib__f32u *xr = x + i * k;
    calib__f32u *yr = y + i * k;
    double m, s1, s2;
    calib__ets_row_stats(xr, k, beta, &m, &s1, &s2);
    const double c1 = w[0] / s1, c2 = w[1] / s2;
    for (size_t j = 0; j < k; j++) {
      const double d = (double)xr[j] - m;
      yr[j] = (float)(c1 * exp(beta * d) + c2 * exp(d) + u);
    }
  }
}

int calib__ets_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k) {
  CALIB__UNUSED(m);
  if (k == 1) {
    for (size_t i = 0; i < n; i++)
      if (isnan(x[i])) return CALIB_E_NONFINITE;
    return CALIB_OK;
  }
  /* the kernels read caller arrays through unaligned-safe loads (calib__f32u, SIMD loadu) */
  return calib__kernels_get()->check_rows((const float *)(const void *)x, n, k, k);
}

void calib__ets_map(const calib_model *m, const calib__f32u *x, size_t n, size_t k, calib__f32u *y) {
  const double T = calib__model_section(m, CALIB_MP_ETS_TEMPERATURE)->data[0];
  const double *w = calib__model_section(m, CALIB_MP_ETS_WEIGHTS)->data;
  if (k == 1) apply_binary(1.0 / T, w, x, n, y);
  else apply_multi(1.0 / T, w, x, n, k, y);
}

int calib__ets_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k, calib__f32u *y) {
  const int st = calib__ets_check(m, x, n, k);
  if (st != CALIB_OK) return st;
  calib__ets_map(m, x, n, k, y);
  return CALIB_OK;
}
