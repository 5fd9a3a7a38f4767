/* fit_internal.h -- the fitter object and the per-method fit table (src/fit/). */
#ifndef CALIB_FIT_INTERNAL_H
#define CALIB_FIT_INTERNAL_H

#include "internal.h"

#define CALIB__MAX_PARAM_ID 32

/* One option of a method: id (CALIB_P_*), bounds, default, integer-valued? */
typedef struct {
  int id;
  const char *name;
  double lo, hi, def;
  int is_int;
} calib__param_spec;

/* Validated fit input (calib_fit checks NULLs, sizes, finiteness, labels,
 * weights and the two-class condition before calling a method). Except
 * finiteness when finite_deferred: temperature scaling with k >= 2 tests it
 * in its first pass over the logits (the ts_first kernel) and returns
 * CALIB_E_NONFINITE, which calib_fit reports as fit_validate would have. */
typedef struct {
  const float *x;
  size_t n, k;
  const int64_t *y;
  const double *w;     /* NULL: all ones */
  double wsum;         /* sum of weights (n when w == NULL) */
  int finite_deferred; /* 1: x not yet checked finite (see above) */
  /* Temperature scaling, k >= 2, provenance on: n row records
   * (CALIB__TS_REC doubles each, kernels.h) that the fit's first pass fills
   * at beta = 1 and fit_provenance.c turns into the before metrics, so the
   * uncalibrated softmax is not computed a second time. NULL otherwise (or
   * when the scratch could not be had: provenance then computes them). */
  double *ts_rec;
} calib__fit_data;

/* A binary (k == 1) fit's rows grouped by distinct float32 score, which a
 * method that has them for free (isotonic: its sorted stream) hands to
 * provenance through calib_fitter.groups, so the metrics cost one calib_apply
 * value per score instead of one per row (calib_apply maps each value on its
 * own, so a score's rows all get its value). x: the scores, increasing,
 * widened to double (-0 as +0); n0, n1: how many rows have label 0 / 1 there,
 * zero weights included (the provenance is unweighted), exact in double. */
typedef struct {
  const double *x, *n0, *n1;
  size_t count; /* 0: none; provenance then goes over the rows */
} calib__score_groups;

/* What a fit reports (calib_fitter_report). gap and condition are NaN
 * unless the method fills them (calib_fit sets them NaN before the fit). */
typedef struct {
  int valid;
  double iterations, nll_before, nll_after, gradient, status;
  double gap;       /* estimated objective gap f - f* at the end (Newton decrement / 2) */
  double condition; /* condition number of the Hessian at the end */
} calib__fit_report;


struct calib_fitter {
  int method;
  double opt[CALIB__MAX_PARAM_ID + 1];
  calib__fit_report report;
  calib_error err; /* the detail of the last calib_fit (calib_fitter_error) */
  int no_provenance;                    /* calib_fitter_set_provenance(f, 0, ...) */
  char tag[CALIB_MODEL_TAG_MAX + 1];    /* its tag ("" = none) */
  float *typed_scratch;                 /* calib_fit_typed's float32 rows (fit_typed.c), */
  size_t typed_cap;                     /* its capacity in floats; freed with the fitter */
  void *scratch;                        /* a method's scratch kept between fits (calib__fitter_scratch), */
  size_t scratch_cap;                   /* its size in bytes; freed with the fitter */
  /* Set by a method for the provenance of its fit (points into scratch):
   * calib_fit clears it before each fit, the isotonic fitter sets it on
   * success, calib__fit_provenance clears it when it takes it. */
  calib__score_groups groups;
};

/* At least `bytes` of 8-byte aligned scratch owned by f (its contents are
 * unspecified), valid until the next call or calib_fitter_free: grow-only,
 * so refits of the same size reuse memory that is already paged in. NULL if
 * the allocation fails (f then holds none). */
void *calib__fitter_scratch(calib_fitter *f, size_t bytes);

typedef struct {
  int id;
  const calib__param_spec *params; /* terminated by id == 0 */
  int (*fit)(calib_fitter *f, const calib__fit_data *d, calib_model **out);
} calib__fit_method;

const calib__fit_method *calib__fit_method_get(int id);

/* The label of the positive class of one-vs-rest problem cls: 1 when k == 1
 * (the binary problem itself), else cls. */
static inline int64_t calib__ovr_positive(size_t k, size_t cls) {
  return k == 1 ? 1 : (int64_t)cls;
}

/* Provenance (src/fit/fit_provenance.c): replaces the freshly fitted *m by a
 * copy carrying the fit-time reference, the before/after metrics, the time and
 * f's tag (model format version 2). On failure *m is freed and set to NULL. */
int calib__fit_provenance(calib_fitter *f, const calib__fit_data *d, calib_model **m);

/* Condition number lambda_max / lambda_min of a symmetric d x d matrix
 * (d <= 3, row-major, full), by cyclic Jacobi rotations (platt_newton.c);
 * +inf if lambda_min <= 0, NaN if d == 0. */
double calib__small_cond(const double *H, size_t d);

/* Temperature scaling (src/fit/temperature.c). */
extern const calib__param_spec calib__temperature_params[];
int calib__temperature_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out);
/* Binary (k == 1) temperature sums at beta over n rows: acc = (sum w NLL,
 * sum w dNLL/dbeta, sum w d2NLL/dbeta2), unnormalised. temperature.c's fit and
 * partial.c's per-partition sums share it. */
void calib__ts_binary_sums(const float *x, const int64_t *y, const double *w, size_t n, double beta,
                           double acc[3]);

/* The objective-gap rule every Newton path stops on (temperature, Platt/beta,
 * the matrix family): the Newton decrement lambda^2 / 2, an estimate of
 * f - f*, at most max(tol^2, CALIB__GAP_FLOOR) * max(1, |f|). tol is in
 * gradient units: on unit curvature a gradient of tol is a gap of tol^2 / 2. */
#define CALIB__GAP_FLOOR 1e-14
static inline double calib__gap_target(double tol, double f) {
  const double t2 = tol * tol > CALIB__GAP_FLOOR ? tol * tol : CALIB__GAP_FLOOR;
  const double af = f < 0 ? -f : f;
  return t2 * (af > 1 ? af : 1.0);
}

#endif
