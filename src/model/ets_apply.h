/* ets_apply.h -- ensemble temperature scaling (Zhang, Kailkhura & Han 2020):
 * model validation and the allocation-free apply (src/model/ets_apply.c),
 * plus the row maths the fitter (src/fit/ets.c) reuses, so fit and apply share
 * one definition. Plain C: part of the firmware core. */
#ifndef CALIB_ETS_APPLY_H
#define CALIB_ETS_APPLY_H

#include "internal.h"
#include "rowmath.h"

int calib__ets_validate(calib_model *m);
int calib__ets_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k, calib__f32u *y);
/* apply = check (the input rule, nothing written) + map (no check). */
int calib__ets_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k);
void calib__ets_map(const calib_model *m, const calib__f32u *x, size_t n, size_t k, calib__f32u *y);

/* Row statistics of k >= 2 logits (no NaN/+inf, not all -inf), in double:
 * *mx = max_j x_j, *s1 = sum_j exp(beta (x_j - mx)), *s2 = sum_j exp(x_j - mx).
 * softmax(beta x)_j = exp(beta (x_j - mx)) / s1 and softmax(x)_j = exp(x_j - mx) / s2. */
void calib__ets_row_stats(const calib__f32u *x, size_t k, double beta, double *mx, double *s1,
                          double *s2);

#endif
