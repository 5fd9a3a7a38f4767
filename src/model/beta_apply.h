/* beta_apply.h -- beta calibration on the model side: validation, apply, and
 * the feature and row maths the fitter reuses (fit and apply share one
 * definition of the map). Firmware core: no allocation, no stdio. */
#ifndef CALIB_BETA_APPLY_H
#define CALIB_BETA_APPLY_H

#include "internal.h"
#include "kernels.h" /* calib__f32u: caller arrays at any byte address */

int calib__beta_validate(calib_model *m);
int calib__beta_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                      calib__f32u *y);
/* apply = check (the input rule, nothing written) + map (no check). */
int calib__beta_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k);
void calib__beta_map(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                     calib__f32u *y);

/* The probability s of class j of a row, clipped to [eps, 1 - eps], as
 * ls = ln s and l1s = ln(1 - s). k == 1: s = sigmoid(row[0]) (logits) or
 * row[0] (probs); k >= 2: s = exp(row[j] - lse) (logits; lse from
 * calib__row_lse, rowmath.h) or row[j] (probs, lse unused). */
void calib__beta_features(const calib__f32u *row, size_t k, size_t j, int input,
                          double eps, double lse, double *ls, double *l1s);
/* Log-odds of class j: a_j ln s - b_j ln(1 - s) + c_j (abc: k x 3). */
double calib__beta_u(const double *abc, size_t j, double ls, double l1s);
/* -ln P(y | row) under the beta model (k >= 2: one-vs-rest, normalised). */
double calib__beta_row_nll(const double *abc, size_t k, int input, double eps,
                           const calib__f32u *row, size_t y);

#endif
