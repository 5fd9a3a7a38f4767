/* platt_apply.h -- Platt scaling (and what beta calibration shares with it)
 * on the model side: validation, apply, and the per-row maths the fitter
 * reuses so that fit and apply compute exactly the same map.
 * Firmware core: no allocation, no stdio; exp/log/log1p only. */
#ifndef CALIB_PLATT_APPLY_H
#define CALIB_PLATT_APPLY_H

#include "internal.h"
#include "rowmath.h"

/* Accepted range of the probability clip eps (CALIB_P_CLIP_EPS, CALIB_MP_INPUT[1]). */
#define CALIB__CLIP_EPS_MIN 1e-15
#define CALIB__CLIP_EPS_MAX 1e-2

int calib__platt_validate(calib_model *m);
int calib__platt_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                       calib__f32u *y);
/* apply = check (the input rule, nothing written) + map (no check). */
int calib__platt_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k);
void calib__platt_map(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                      calib__f32u *y);

/* Reads and checks a model's CALIB_MP_INPUT section (2 values: kind, eps).
 * CALIB_OK or CALIB_E_FORMAT. */
int calib__pb_input_section(const calib_model *m, int *input, double *eps);
/* The same section of a validated model, unchecked (the apply path). */
void calib__pb_input_of(const calib_model *m, int *input, double *eps);
/* Apply input of n*k floats: finite (else CALIB_E_NONFINITE, checked over all
 * of it first) and, for CALIB_INPUT_PROBS, in [0, 1] (else CALIB_E_DOMAIN). */
int calib__pb_check_values(const calib__f32u *x, size_t nk, int input);

/* ln(s) - ln(1 - s) for s = p clipped to [eps, 1 - eps]. */
double calib__logit_clipped(double p, double eps);

/* Platt log-odds of class j for the value v (a logit, or a probability when
 * input == CALIB_INPUT_PROBS): u = -(A_j z + B_j), z = v or logit(clip(v)). */
double calib__platt_u(const double *ab, size_t j, double v, int input, double eps);
/* -ln P(y | row) under the Platt model (ab: k x 2; k >= 2: one-vs-rest,
 * normalised, uniform if the sum is 0). */
double calib__platt_row_nll(const double *ab, size_t k, int input, double eps,
                            const calib__f32u *row, size_t y);

/* -ln P(y | row) of a one-vs-rest row (Platt and beta): P_j = sigmoid(u_j)
 * normalised as calib__ovr_normalise (rowmath.h) does, u_j from fu. */
typedef double (*calib__ovr_u)(const void *ctx, const calib__f32u *row, size_t j);
double calib__ovr_row_nll(calib__ovr_u fu, const void *ctx, const calib__f32u *row,
                          size_t k, size_t y);

#endif
