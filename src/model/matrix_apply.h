/* matrix_apply.h -- vector, matrix and Dirichlet scaling: model validation and
 * the allocation-free apply (src/model/matrix_apply.c). Plain C, no BLAS:
 * part of the firmware core. The fitters (src/fit_matrix/) reuse
 * calib__mx_row_logits so fit and apply share one definition of the map. */
#ifndef CALIB_MATRIX_APPLY_H
#define CALIB_MATRIX_APPLY_H

#include "internal.h"
#include "rowmath.h"

/* Rows of at most this many classes are computed in one pass through a stack
 * buffer of as many doubles (8 KB), which is also what in-place apply of a
 * matrix or Dirichlet model needs. */
#define CALIB__MX_STACK_K 1024

/* Largest magnitude a stored parameter may have (|value| <= 1e100). */
#define CALIB__MX_PARAM_MAX 1e100

int calib__vector_validate(calib_model *m);
int calib__matrix_validate(calib_model *m);
int calib__dirichlet_validate(calib_model *m);
int calib__vector_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                        calib__f32u *y);
int calib__matrix_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                        calib__f32u *y);
int calib__dirichlet_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                           calib__f32u *y);
/* The three applies = an in-place test (calib__mx_inplace_ok: 0 for a
 * matrix or Dirichlet model with k > CALIB__MX_STACK_K and x == y, which
 * apply refuses with CALIB_E_UNSUPPORTED), check (every entry finite, nothing
 * written) and map (no check), for any of the three methods. */
int calib__mx_inplace_ok(const calib_model *m, const calib__f32u *x, const calib__f32u *y);
int calib__mx_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k);
void calib__mx_map_rows(const calib_model *m, const calib__f32u *x, size_t n, size_t k, calib__f32u *y);

/* The parameters of a matrix-family map, as views into the model bytes (or
 * into a fitter's arrays). method: CALIB_METHOD_VECTOR/MATRIX/DIRICHLET.
 * W: k*k (matrix, Dirichlet) or k (vector), b: k. */
typedef struct {
  int method;
  size_t k;
  const double *W, *b;
} calib__mx_map;

/* Output logits a[j0..j1) of the map for one input row x (k floats), in
 * double. shift is calib__row_lse(x, k) (rowmath.h) for Dirichlet (ln p = x - shift), ignored
 * otherwise. */
void calib__mx_row_logits(const calib__mx_map *mp, const calib__f32u *x, double shift,
                          size_t j0, size_t j1, double *a);

#endif
