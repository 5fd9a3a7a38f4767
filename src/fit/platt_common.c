/* platt_common.c -- fitter-side helpers shared by Platt and beta calibration. */
#include "platt_common.h"
#include "../model/platt_apply.h"
#include "../model/beta_apply.h"
#include "kernels.h"

#include <math.h>

void calib__pb_read_options(const calib_fitter *f, calib__pb_opts *o) {
  o->lr.max_iter = (int)f->opt[CALIB_P_MAX_ITER];
  o->lr.tol = f->opt[CALIB_P_TOL];
  o->lr.min_step = f->opt[CALIB_P_MIN_STEP];
  o->smooth = (int)f->opt[CALIB_P_SMOOTH_TARGETS];
  o->input = (int)f->opt[CALIB_P_INPUT];
  o->eps = f->opt[CALIB_P_CLIP_EPS];
}

int calib__pb_check_fit_input(const calib__fit_data *d, int input) {
  /* calib_fit has checked finiteness: only the range of probabilities is left */
  return input == CALIB_INPUT_PROBS ? calib__check_probs(d->x, d->n, d->k) : CALIB_OK;
}

void calib__pb_labels(const calib__fit_data *d, size_t cls, uint8_t *pos) {
  const int64_t want = calib__ovr_positive(d->k, cls);
  for (size_t i = 0; i < d->n; i++) pos[i] = d->y[i] == want;
}

double calib__pb_constant_logodds(const uint8_t *pos, const double *w, size_t n,
                                  int smooth, int *ok) {
  double np = 0, nn = 0;
  for (size_t i = 0; i < n; i++) {
    const double wi = w ? w[i] : 1.0;
    if (pos[i]) np += wi; else nn += wi;
  }
  const double t1 = smooth ? (np + 1.0) / (np + 2.0) : 1.0;
  const double t0 = smooth ? 1.0 / (nn + 2.0) : 0.0;
  const double a = np * t1 + nn * t0, b = np * (1.0 - t1) + nn * (1.0 - t0);
  *ok = a > 0 && b > 0;
  return *ok ? log(a / b) : 0.0;
}

static double probs_row_nll(const float *row, size_t k, size_t y, double eps) {
  double sum = 0;
  for (size_t j = 0; j < k; j++) sum += (double)row[j];
  double q = sum > 0 ? (double)row[y] / sum : 1.0 / (double)k;
  if (q < eps) q = eps;
  return -log(q);
}

double calib__pb_nll_before_multi(const calib__fit_data *d, int input, double eps) {
  if (input == CALIB_INPUT_LOGITS) {
    double acc[3] = {0, 0, 0};
    calib__kernels_get()->ts_moments(d->x, d->n, d->k, d->k, d->y, d->w, 1.0, acc);
    return acc[0] / d->wsum;
  }
  double s = 0;
  for (size_t i = 0; i < d->n; i++) {
    const double wi = d->w ? d->w[i] : 1.0;
    if (wi != 0) s += wi * probs_row_nll(d->x + i * d->k, d->k, (size_t)d->y[i], eps);
  }
  return s / d->wsum;
}

double calib__pb_nll_after_multi(const calib__fit_data *d, const calib_model *m) {
  int input;
  double eps, s = 0;
  if (calib__pb_input_section(m, &input, &eps) != CALIB_OK) return (double)NAN;
  const calib__section *pl = calib__model_section(m, CALIB_MP_PLATT);
  const calib__section *be = calib__model_section(m, CALIB_MP_BETA);
  for (size_t i = 0; i < d->n; i++) {
    const double wi = d->w ? d->w[i] : 1.0;
    if (wi == 0) continue;
    const float *row = d->x + i * d->k;
    const size_t y = (size_t)d->y[i];
    s += wi * (pl ? calib__platt_row_nll(pl->data, d->k, input, eps, row, y)
                  : calib__beta_row_nll(be->data, d->k, input, eps, calib__beta_exact_of(m), row, y));
  }
  return s / d->wsum;
}

int calib__pb_class_fail(calib_fitter *f, const calib__fit_data *d, size_t c, int st) {
  if (d->k < 2) return st; /* the binary problem: calib_fit's own detail */
  const char *name = calib_method_name(f->method);
  if (st == CALIB_E_NOCONV)
    return calib__error_set(&f->err, st, name, "max_iter reached before the tolerance in the one-vs-rest fit of "
                            "the class", (uint64_t)c, 0);
  if (st != CALIB_E_SEPARABLE) return st;
  size_t with = 0, rows = 0; /* rows of non-zero weight, and those labelled c */
  for (size_t i = 0; i < d->n; i++)
    if (!d->w || d->w[i] != 0) {
      rows++;
      with += d->y[i] == (int64_t)c;
    }
  return calib__error_set(&f->err, st, name,
                          with == 0      ? "no row of non-zero weight has the class's label"
                          : with == rows ? "every row of non-zero weight has the class's label"
                                         : "the one-vs-rest labels of the class are separated by its scores",
                          (uint64_t)c, 0);
}
