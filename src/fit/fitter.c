/* fitter.c -- the public fitter: create, options, fit dispatch, report. */
#include "fit_internal.h"
#include "platt.h"
#include "beta.h"
#include "isotonic.h"
#include "histogram.h"
#include "ets.h"
#ifndef CALIB_NO_BLAS
#include "../fit_matrix/matrix_fit.h"
#endif
#include <math.h>

static const calib__fit_method calib_fit_methods[] = {
    {CALIB_METHOD_TEMPERATURE, calib__temperature_params, calib__temperature_fit},
    {CALIB_METHOD_PLATT, calib__platt_params, calib__platt_fit},
    {CALIB_METHOD_BETA, calib__beta_params, calib__beta_fit},
    {CALIB_METHOD_ISOTONIC, calib__isotonic_params, calib__isotonic_fit},
    {CALIB_METHOD_HISTOGRAM, calib__histogram_params, calib__histogram_fit},
    {CALIB_METHOD_ETS, calib__ets_params, calib__ets_fit},
#ifndef CALIB_NO_BLAS /* src/fit_matrix/: a build without BLAS leaves these out */
    {CALIB_METHOD_VECTOR, calib__vector_params, calib__vector_fit},
    {CALIB_METHOD_MATRIX, calib__matrix_params, calib__matrix_fit},
    {CALIB_METHOD_DIRICHLET, calib__dirichlet_params, calib__dirichlet_fit},
#endif
};

const calib__fit_method *calib__fit_method_get(int id) {
  for (size_t i = 0; i < sizeof calib_fit_methods / sizeof calib_fit_methods[0]; i++)
    if (calib_fit_methods[i].id == id) return &calib_fit_methods[i];
  return NULL;
}

static const calib__param_spec *param_spec(int method, int param) {
  const calib__fit_method *fm = calib__fit_method_get(method);
  if (!fm) return NULL;
  for (const calib__param_spec *p = fm->params; p->id; p++)
    if (p->id == param) return p;
  return NULL;
}

int calib_fitter_create(calib_fitter **out, int method) {
  if (!out) return CALIB_E_ARG;
  if (!calib_method_name(method)) return CALIB_E_ARG;
  const calib__fit_method *fm = calib__fit_method_get(method);
  if (!fm) return CALIB_E_UNSUPPORTED;
  calib_fitter *f = (calib_fitter *)calib__calloc(1, sizeof *f);
  if (!f) return CALIB_E_NOMEM;
  f->method = method;
  for (const calib__param_spec *p = fm->params; p->id; p++) f->opt[p->id] = p->def;
  *out = f;
  return CALIB_OK;
}

void calib_fitter_free(calib_fitter *f) { calib__free(f); }

int calib_fitter_method(const calib_fitter *f) { return f ? f->method : CALIB_E_ARG; }

int calib_param_bounds(int method, int param, double *lo, double *hi, double *def) {
  const calib__param_spec *p = param_spec(method, param);
  if (!p) return CALIB_E_ARG;
  if (lo) *lo = p->lo;
  if (hi) *hi = p->hi;
  if (def) *def = p->def;
  return CALIB_OK;
}

int calib_fitter_set(calib_fitter *f, int param, double value) {
  if (!f) return CALIB_E_ARG;
  const calib__param_spec *p = param_spec(f->method, param);
  if (!p || !(value >= p->lo && value <= p->hi)) return CALIB_E_ARG;
  if (p->is_int && value != floor(value)) return CALIB_E_ARG;
  f->opt[param] = value;
  return CALIB_OK;
}

int calib_fitter_get(const calib_fitter *f, int param, double *value) {
  if (!f || !value) return CALIB_E_ARG;
  if (!param_spec(f->method, param)) return CALIB_E_ARG;
  *value = f->opt[param];
  return CALIB_OK;
}

int calib_fitter_report(const calib_fitter *f, int what, double *value) {
  if (!f || !value || !f->report.valid) return CALIB_E_ARG;
  switch (what) {
    case CALIB_R_ITERATIONS: *value = f->report.iterations; return CALIB_OK;
    case CALIB_R_NLL_BEFORE: *value = f->report.nll_before; return CALIB_OK;
    case CALIB_R_NLL_AFTER: *value = f->report.nll_after; return CALIB_OK;
    case CALIB_R_GRADIENT: *value = f->report.gradient; return CALIB_OK;
    case CALIB_R_STATUS: *value = f->report.status; return CALIB_OK;
    default: return CALIB_E_ARG;
  }
}

/* Checks shared by every method, in a fixed order so each bad input maps to
 * one documented code. */
static int fit_validate(const calib__fit_data *d) {
  int st;
  if (d->n == 0) return CALIB_E_EMPTY;
  if (d->n > (size_t)-1 / d->k / sizeof(float)) return CALIB_E_ARG;
  if ((st = calib__check_finite(d->x, d->n, d->k, d->k)) != CALIB_OK) return st;
  if ((st = calib__check_labels(d->y, d->n, d->k)) != CALIB_OK) return st;
  return CALIB_OK;
}

int calib_fit(calib_fitter *f, const float *logits, size_t n, size_t k,
              const int64_t *labels, const double *weights, calib_model **out) {
  if (!f) return CALIB_E_ARG;
  calib__fit_data d = {logits, n, k, labels, weights, 0.0};
  memset(&f->report, 0, sizeof f->report);
  int st = CALIB_OK;
  if (!out || k == 0 || (n > 0 && (!logits || !labels))) st = CALIB_E_ARG;
  if (st == CALIB_OK) st = fit_validate(&d);
  if (st == CALIB_OK) st = calib__check_weights(weights, n, &d.wsum);
  if (st == CALIB_OK) st = calib__check_two_classes(labels, weights, n);
  if (st == CALIB_OK) {
    calib_model *m = NULL;
    st = calib__fit_method_get(f->method)->fit(f, &d, &m);
    if (st == CALIB_OK) *out = m;
  }
  f->report.valid = 1;
  f->report.status = st;
  return st;
}
