/* beta_apply.h -- beta calibration on the model side: validation, apply, and
 * the feature and row maths the fitter reuses (fit and apply share one
 * definition of the map). Firmware core: no allocation, no stdio. */
#ifndef CALIB_BETA_APPLY_H
#define CALIB_BETA_APPLY_H

#include "internal.h"
#include "kernels.h" /* calib__f32u: caller arrays at any byte address */

int calib__beta_validate(calib_model *m);
/* The input rule (calib__beta_check), then the map: CALIB_OK, or the rule's
 * error with y unwritten. Reentrant; x and y are the caller's. */
int calib__beta_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                      calib__f32u *y);
/* apply = check (the input rule, nothing written) + map (no check). */
int calib__beta_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k);
void calib__beta_map(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                     calib__f32u *y);

/* 1 if m carries CALIB_MP_BETA_FEATURES (exact logit features), else 0. */
int calib__beta_exact_of(const calib_model *m);
/* 1 where a model of k classes with this input and these features is mapped
 * a whole row at a time by applyd.h's beta_row_x (when the ISA has the
 * table): logits, exact features, 2 <= k <= CALIB__APPLYD_MAX_K. The
 * planar copy (beta_planar.c) is made for exactly these models. */
int calib__beta_rowx_fits(size_t k, int input, int exact);

/* What the features of one row need besides the row itself (beta_apply.c):
 * logits k >= 2, exact: the maximum m = row[jmax] and d = logsumexp of the
 * other entries minus m; logits k >= 2, clipped (older models): lse, the
 * row's log-sum-exp (calib__row_lse). Unused otherwise. */
typedef struct {
  double lse, m, d;
  size_t jmax;
} calib__beta_row;

void calib__beta_row_info(const calib__f32u *row, size_t k, int input, int exact,
                          calib__beta_row *ri);
/* ls = ln s and l1s = ln(1 - s) of class j of a row (the map of
 * beta_apply.c): exact for logit input when `exact`, else from s clipped to
 * [eps, 1 - eps]. ri from calib__beta_row_info for the same row. */
void calib__beta_features(const calib__f32u *row, size_t k, size_t j, int input,
                          double eps, int exact, const calib__beta_row *ri,
                          double *ls, double *l1s);
/* Log-odds of class j: a_j ln s - b_j ln(1 - s) + c_j (abc: k x 3). */
double calib__beta_u(const double *abc, size_t j, double ls, double l1s);
/* -ln P(y | row) under the beta model (k >= 2: one-vs-rest, normalised). */
double calib__beta_row_nll(const double *abc, size_t k, int input, double eps, int exact,
                           const calib__f32u *row, size_t y);

#endif
