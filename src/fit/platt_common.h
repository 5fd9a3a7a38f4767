/* platt_common.h -- fitter-side helpers shared by Platt scaling (platt.c)
 * and beta calibration (beta.c): options, input checks, one-vs-rest labels,
 * closed forms and the "before" NLL. */
#ifndef CALIB_PLATT_COMMON_H
#define CALIB_PLATT_COMMON_H

#include "fit_internal.h"
#include "platt_newton.h"
#include "../model/platt_apply.h"

#include <float.h>

typedef struct {
  calib__lr_options lr;
  int smooth;   /* CALIB_P_SMOOTH_TARGETS */
  int input;    /* CALIB_P_INPUT */
  double eps;   /* CALIB_P_CLIP_EPS */
} calib__pb_opts;

void calib__pb_read_options(const calib_fitter *f, calib__pb_opts *o);
/* CALIB_E_DOMAIN if input is probabilities and a value is outside [0, 1]
 * (the values are already known finite: calib_fit checks that first). */
int calib__pb_check_fit_input(const calib__fit_data *d, int input);
/* pos[i] = 1[y_i == 1] (k == 1) or 1[y_i == cls] (k >= 2). */
void calib__pb_labels(const calib__fit_data *d, size_t cls, uint8_t *pos);
/* Log-odds u minimising the objective when the linear predictor is constant:
 * ln(tbar / (1 - tbar)), tbar = weighted mean target. Sets *ok = 0 when the
 * optimum is infinite (0/1 targets and one class absent). */
double calib__pb_constant_logodds(const uint8_t *pos, const double *w, size_t n,
                                  int smooth, int *ok);
/* Weighted mean NLL of the uncalibrated input for k >= 2 (logits: softmax;
 * probs: rows normalised, uniform if the sum is 0, clipped below at eps). */
double calib__pb_nll_before_multi(const calib__fit_data *d, int input, double eps);
/* A one-vs-rest class fit (k >= 2) that failed with st: for CALIB_E_NOCONV
 * and CALIB_E_SEPARABLE, f's error detail names the method and the class
 * (calib_error.index = c; for SEPARABLE also whether the class is absent
 * from, or alone in, the rows of non-zero weight), which calib_fit keeps;
 * returns st. */
int calib__pb_class_fail(calib_fitter *f, const calib__fit_data *d, size_t c, int st);
/* Weighted mean NLL of a fitted model over the fit data (k >= 2). */
double calib__pb_nll_after_multi(const calib__fit_data *d, const calib_model *m);
#define CALIB__PB_INPUT_MIN \
  (CALIB_INPUT_LOGITS < CALIB_INPUT_PROBS ? CALIB_INPUT_LOGITS : CALIB_INPUT_PROBS)
#define CALIB__PB_INPUT_MAX \
  (CALIB_INPUT_LOGITS > CALIB_INPUT_PROBS ? CALIB_INPUT_LOGITS : CALIB_INPUT_PROBS)
/* Common parameter table of both methods (def_smooth differs). */
#define CALIB__PB_PARAMS(def_smooth)                                            \
  {CALIB_P_MAX_ITER, "max_iter", 1, 10000, 100, 1},                            \
  {CALIB_P_TOL, "tol", 1e-15, 1, 1e-5, 0},                                     \
  {CALIB_P_SMOOTH_TARGETS, "smooth_targets", 0, 1, (def_smooth), 1},           \
  {CALIB_P_INPUT, "input", CALIB__PB_INPUT_MIN, CALIB__PB_INPUT_MAX,           \
   CALIB_INPUT_LOGITS, 1},                                                     \
  {CALIB_P_CLIP_EPS, "clip_eps", CALIB__CLIP_EPS_MIN, CALIB__CLIP_EPS_MAX,     \
   (double)FLT_EPSILON, 0},                                                    \
  {CALIB_P_MIN_STEP, "min_step", 1e-16, 0.5, 1e-10, 0},                        \
  {0, NULL, 0, 0, 0, 0}

#endif
