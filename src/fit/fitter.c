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
#include "checked.h"
#include "kernels.h" /* CALIB__TS_REC */
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

void calib_fitter_free(calib_fitter *f) {
  if (f) {
    calib__free(f->typed_scratch);
    calib__free(f->scratch);
  }
  calib__free(f);
}

void *calib__fitter_scratch(calib_fitter *f, size_t bytes) {
  if (bytes <= f->scratch_cap && f->scratch) return f->scratch;
  calib__free(f->scratch); /* before the larger one: a lower peak */
  f->scratch = calib__malloc(bytes);
  f->scratch_cap = f->scratch ? bytes : 0;
  return f->scratch;
}

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
    case CALIB_R_GAP: *value = f->report.gap; return CALIB_OK;
    case CALIB_R_CONDITION: *value = f->report.condition; return CALIB_OK;
    default: return CALIB_E_ARG;
  }
}

/* ---- The detail of a failed fit (calib_fitter_error) ------------------------
 * Each check below names the argument at fault and, where it is one entry,
 * its index; the scans that find the index run only on the error path. */

static int fit_fail(calib_fitter *f, int code, const char *arg, const char *check, uint64_t index) {
  return calib__error_set(&f->err, code, arg, check, index, 0);
}

/* The first row holding a NaN or infinite entry. */
static uint64_t first_nonfinite_row(const float *x, size_t n, size_t k) {
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < k; j++)
      if (!isfinite(x[i * k + j])) return (uint64_t)i;
  return UINT64_MAX;
}

static uint64_t first_bad_label(const int64_t *y, size_t n, size_t k) {
  const int64_t hi = k == 1 ? 1 : (int64_t)k - 1;
  for (size_t i = 0; i < n; i++)
    if (y[i] < 0 || y[i] > hi) return (uint64_t)i;
  return UINT64_MAX;
}

static int weights_fail(calib_fitter *f, int st, const double *w, size_t n) {
  if (st == CALIB_E_EMPTY) return fit_fail(f, st, "weights", "every weight is zero", UINT64_MAX);
  for (size_t i = 0; i < n; i++) {
    if (st == CALIB_E_NONFINITE && !isfinite(w[i]))
      return fit_fail(f, st, "weights", "NaN or infinite weight", (uint64_t)i);
    if (st == CALIB_E_DOMAIN && w[i] < 0) return fit_fail(f, st, "weights", "negative weight", (uint64_t)i);
  }
  return fit_fail(f, st, "weights", "", UINT64_MAX);
}

static int logits_fail(calib_fitter *f, int st, const calib__fit_data *d) {
  return fit_fail(f, st, "logits", "NaN or infinite logit", first_nonfinite_row(d->x, d->n, d->k));
}

/* Temperature scaling with k >= 2 checks the logits finite in its first read
 * of them (temperature.c, the ts_first kernel), which saves a pass over the
 * data; fit_validate then defers the check (d->finite_deferred). */
static int defers_finite(const calib_fitter *f, const calib__fit_data *d) {
  return f->method == CALIB_METHOD_TEMPERATURE && d->k >= 2;
}

/* A failure after the deferred finiteness check's place: the logits' error
 * first, as when the check ran in order. */
static int after_finite(calib_fitter *f, const calib__fit_data *d) {
  int st;
  if (d->finite_deferred && (st = calib__check_finite(d->x, d->n, d->k, d->k)) != CALIB_OK)
    return logits_fail(f, st, d);
  return CALIB_OK;
}

/* Checks shared by every method, in a fixed order so each bad input maps to
 * one documented code; each failure names its argument in f->err. */
static int fit_validate(calib_fitter *f, calib__fit_data *d, calib_model **out) {
  size_t bytes;
  int st;
  if (!out) return fit_fail(f, CALIB_E_ARG, "out", "is NULL", UINT64_MAX);
  if (d->k == 0) return fit_fail(f, CALIB_E_ARG, "k", "must be at least 1", UINT64_MAX);
  if (d->n > 0 && !d->x) return fit_fail(f, CALIB_E_ARG, "logits", "is NULL", UINT64_MAX);
  if (d->n > 0 && !d->y) return fit_fail(f, CALIB_E_ARG, "labels", "is NULL", UINT64_MAX);
  if (d->n == 0) return fit_fail(f, CALIB_E_EMPTY, "n", "no rows to fit on", UINT64_MAX);
  if (!calib__size_mul3(d->n, d->k, sizeof(float), &bytes) || bytes > CALIB__MAX_ALLOC)
    return fit_fail(f, CALIB_E_ARG, "n, k", "n * k * 4 bytes of logits exceed the address space", UINT64_MAX);
  d->finite_deferred = defers_finite(f, d);
  if (!d->finite_deferred && (st = calib__check_finite(d->x, d->n, d->k, d->k)) != CALIB_OK)
    return logits_fail(f, st, d);
  if ((st = calib__check_labels(d->y, d->n, d->k)) != CALIB_OK)
    return after_finite(f, d) != CALIB_OK ? f->err.code
                              : fit_fail(f, st, "labels", d->k == 1 ? "label not 0 or 1" : "label outside 0..k-1",
                                         first_bad_label(d->y, d->n, d->k));
  if ((st = calib__check_weights(d->w, d->n, &d->wsum)) != CALIB_OK)
    return after_finite(f, d) != CALIB_OK ? f->err.code : weights_fail(f, st, d->w, d->n);
  if ((st = calib__check_two_classes(d->y, d->w, d->n)) != CALIB_OK)
    return after_finite(f, d) != CALIB_OK ? f->err.code
                              : fit_fail(f, st, "labels", "every row (of non-zero weight) has the same label",
                                         UINT64_MAX);
  if (d->k == 1 && f->method >= CALIB_METHOD_VECTOR && f->method <= CALIB_METHOD_DIRICHLET)
    return fit_fail(f, CALIB_E_ARG, "k",
                    "vector, matrix and Dirichlet scaling need k >= 2 logits per row (k = 1 is a binary "
                    "score: use temperature, platt, beta, isotonic or histogram)", UINT64_MAX);
  return CALIB_OK;
}

/* The detail of a method's own failure, unless the method recorded one. A
 * fitted model that the model validator rejects (non-finite or out-of-range
 * parameters: CALIB_E_FORMAT from calib__model_build, or CALIB_E_NONFINITE
 * from a method's own arithmetic; the inputs were already checked finite) is a
 * solver failure: CALIB_E_NOCONV. */
static int method_fail(calib_fitter *f, int st) {
  const char *name = calib_method_name(f->method);
  if (st == CALIB_E_NONFINITE || st == CALIB_E_FORMAT)
    return fit_fail(f, CALIB_E_NOCONV, name,
                    "the solver produced parameters that are not a valid model (non-finite or out of range)",
                    UINT64_MAX);
  if (f->err.code == st) return st; /* the method said more */
  switch (st) {
    case CALIB_E_NOCONV:
      return fit_fail(f, st, name, "max_iter reached before the tolerance (see calib_fitter_report)", UINT64_MAX);
    case CALIB_E_SEPARABLE:
      return fit_fail(f, st, "logits", "the labels are perfectly separated by the logits: no finite optimum",
                      UINT64_MAX);
    case CALIB_E_NOSIGNAL:
      return fit_fail(f, st, "logits", "the logits carry no positive signal about the labels", UINT64_MAX);
    default:
      return fit_fail(f, st, name, "", UINT64_MAX);
  }
}

/* The row records of temperature scaling's first pass (fit_internal.h:
 * ts_rec) in the fitter's scratch, when provenance will want them; NULL
 * otherwise or when the scratch cannot be had (provenance then computes the
 * before metrics itself, as for the other methods). */
static double *ts_records(calib_fitter *f, const calib__fit_data *d) {
  size_t bytes;
  if (f->no_provenance || f->method != CALIB_METHOD_TEMPERATURE || d->k < 2 ||
      !calib__size_mul3(d->n, CALIB__TS_REC, sizeof(double), &bytes))
    return NULL;
  return (double *)calib__fitter_scratch(f, bytes);
}

int calib_fit(calib_fitter *f, const float *logits, size_t n, size_t k,
              const int64_t *labels, const double *weights, calib_model **out) {
  if (!f) return CALIB_E_ARG;
  calib__fit_data d = {logits, n, k, labels, weights, 0.0, 0, NULL};
  memset(&f->report, 0, sizeof f->report);
  f->report.gap = f->report.condition = (double)NAN;
  calib__error_ok(&f->err);
  int st = fit_validate(f, &d, out);
  if (st == CALIB_OK) {
    calib_model *m = NULL;
    d.ts_rec = ts_records(f, &d);
    f->groups.count = 0; /* a method sets them for this fit's provenance only */
    st = calib__fit_method_get(f->method)->fit(f, &d, &m);
    /* the deferred finiteness check failed: fit_validate's detail */
    const int bad_logits = st == CALIB_E_NONFINITE && d.finite_deferred && after_finite(f, &d) != CALIB_OK;
    if (st == CALIB_OK && !f->no_provenance) st = calib__fit_provenance(f, &d, &m); /* fit_provenance.c */
    if (st == CALIB_OK) *out = m;
    else if (!bad_logits) st = method_fail(f, st);
  }
  f->report.valid = 1;
  f->report.status = st;
  return st;
}

int calib_fitter_error(const calib_fitter *f, calib_error *err) {
  if (!f || !err || !f->report.valid) return CALIB_E_ARG;
  *err = f->err;
  return CALIB_OK;
}
