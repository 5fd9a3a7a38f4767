/* histogram_apply.h -- histogram binning models: validate and apply
 * (src/model/histogram_apply.c; firmware core: no allocation, no stdio). */
#ifndef CALIB_MODEL_HISTOGRAM_APPLY_H
#define CALIB_MODEL_HISTOGRAM_APPLY_H

#include "internal.h"
#include "kernels.h" /* calib__f32u: caller arrays at any byte address */

/* A parsed view of a histogram model's sections (counts/edges NULL for
 * equal-width models). */
typedef struct {
  int equal_mass, probs;
  size_t bins;                        /* M */
  const double *values, *edges, *counts;
} calib__hist_view;

/* Fills *v from arrays that passed validation (or are about to be stored). */
void calib__hist_view_of(const calib_model *m, calib__hist_view *v);

/* Number of bins of class j (M for equal width, c_j for equal mass). */
size_t calib__hist_class_bins(const calib__hist_view *v, size_t j);
/* theta at probability p of the class whose bins start at offset `off`
 * (the sum of the previous classes' bins) and number nb. */
double calib__hist_value(const calib__hist_view *v, size_t off, size_t nb, double p);

int calib__histogram_validate(calib_model *m);
int calib__histogram_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                           calib__f32u *y);
/* apply = check (the input rule, nothing written) + map (no check). */
int calib__histogram_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k);
void calib__histogram_map(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                          calib__f32u *y);

#endif
