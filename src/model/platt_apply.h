/* platt_apply.h -- Platt scaling (and what beta calibration shares with it)
 * on the model side: validation, apply, and the per-row maths the fitter
 * reuses so that fit and apply compute exactly the same map.
 * Firmware core: no allocation, no stdio; exp/log/log1p only. */
#ifndef CALIB_PLATT_APPLY_H
#define CALIB_PLATT_APPLY_H

#include "internal.h"

/* Accepted range of the probability clip eps (CALIB_P_CLIP_EPS, CALIB_MP_INPUT[1]). */
#define CALIB__CLIP_EPS_MIN 1e-15
#define CALIB__CLIP_EPS_MAX 1e-2

int calib__platt_validate(calib_model *m);
int calib__platt_apply(const calib_model *m, const float *x, size_t n, size_t k,
                       float *y);

/* Reads and checks a model's CALIB_MP_INPUT section (2 values: kind, eps).
 * CALIB_OK or CALIB_E_FORMAT. */
int calib__pb_input_section(const calib_model *m, int *input, double *eps);
/* Input values of n*k floats: finite (else CALIB_E_NONFINITE) and, for
 * CALIB_INPUT_PROBS, in [0, 1] (else CALIB_E_DOMAIN). */
int calib__pb_check_values(const float *x, size_t nk, int input);

/* Stable logistic function and softplus (log(1 + e^u)), in double. */
double calib__sigmoid_d(double u);
double calib__softplus_d(double u);
/* ln(s) - ln(1 - s) for s = p clipped to [eps, 1 - eps]. */
double calib__logit_clipped(double p, double eps);

/* Platt log-odds of class j for the value v (a logit, or a probability when
 * input == CALIB_INPUT_PROBS): u = -(A_j z + B_j), z = v or logit(clip(v)). */
double calib__platt_u(const double *ab, size_t j, double v, int input, double eps);
/* -ln P(y | row) under the Platt model (ab: k x 2; k >= 2: one-vs-rest,
 * normalised, uniform if the sum is 0). */
double calib__platt_row_nll(const double *ab, size_t k, int input, double eps,
                            const float *row, size_t y);

/* One-vs-rest normalisation shared by Platt and beta: sum of sigmoid(u_j)
 * and the normalised value; the per-class u comes from a callback so that
 * the row is read twice instead of buffered (no allocation). */
typedef double (*calib__ovr_u)(const void *ctx, const float *row, size_t j);
void calib__ovr_row(calib__ovr_u fu, const void *ctx, const float *row,
                    size_t k, float *out);
double calib__ovr_row_nll(calib__ovr_u fu, const void *ctx, const float *row,
                          size_t k, size_t y);

#endif
