/* isotonic_apply.h -- isotonic regression models: validate and apply
 * (src/model/isotonic_apply.c; firmware core: no allocation, no stdio). */
#ifndef CALIB_MODEL_ISOTONIC_APPLY_H
#define CALIB_MODEL_ISOTONIC_APPLY_H

#include "internal.h"
#include "kernels.h" /* calib__f32u: caller arrays at any byte address */

int calib__isotonic_validate(calib_model *m);
int calib__isotonic_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                          calib__f32u *y);
/* apply = check (the input rule, nothing written) + map (no check). */
int calib__isotonic_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k);
void calib__isotonic_map(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                         calib__f32u *y);

/* The interpolated table (x, y) of m >= 1 thresholds at s, which must lie in
 * [x[0], x[m-1]] (numpy.interp's formula; see calib.h). */
double calib__iso_interp(const double *x, const double *y, size_t m, double s);
/* The same for any s, clipped to [x[0], x[m-1]] first (CALIB_OOB_CLIP). */
double calib__iso_eval_clip(const double *x, const double *y, size_t m, double s);

/* Probabilities from float32 logits, computed in double and rounded once to
 * float (shared by isotonic and histogram binning, fit and apply):
 *   k == 1: p = 1 / (1 + exp(-z));  k >= 2: p_j = exp(z_j - max z) / sum_l exp(z_l - max z).
 * NaN or +inf anywhere, or (k >= 2) a row of only -inf, is CALIB_E_NONFINITE
 * with nothing written; -inf gives 0. y may equal x. */
int calib__probs_from_logits(const calib__f32u *x, size_t n, size_t k, calib__f32u *y);
/* Its two halves: the input rule alone (nothing written) and the
 * probabilities alone (on input the check accepted). */
int calib__logits_check(const calib__f32u *x, size_t n, size_t k);
void calib__logits_to_probs(const calib__f32u *x, size_t n, size_t k, calib__f32u *y);

#endif
