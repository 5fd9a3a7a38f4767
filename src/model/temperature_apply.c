/* temperature_apply.c -- temperature scaling: model validation and apply.
 *
 * Sections: CALIB_MP_TEMPERATURE, 1 value: T, finite, > 0, with 1/T a finite
 * positive normal float (T in about [3e-39, 3e38]).
 * Apply: k >= 2: softmax(x / T) row-wise; k == 1: sigmoid(x / T).
 * The float inverse temperature is computed once at load (fparam[0]). */
#include "internal.h"
#include <float.h>
#include <math.h>

int calib__temperature_validate(calib_model *m) {
  const calib__section *s = calib__model_section(m, CALIB_MP_TEMPERATURE);
  if (!s || s->count != 1 || m->nsections != 1) return CALIB_E_FORMAT;
  const double T = s->data[0];
  if (!isfinite(T) || !(T > 0)) return CALIB_E_FORMAT;
  const double beta = 1.0 / T;
  if (!(beta >= (double)FLT_MIN && beta <= (double)FLT_MAX)) return CALIB_E_FORMAT;
  m->fparam[0] = (float)beta;
  return CALIB_OK;
}

int calib__temperature_apply(const calib_model *m, const float *x, size_t n,
                             size_t k, float *y) {
  if (k == 1) return calib_sigmoid(x, n, m->fparam[0], y);
  return calib_softmax(x, n, k, k, m->fparam[0], y, k);
}
