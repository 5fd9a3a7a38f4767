/* matrix_fit.h -- vector, matrix and Dirichlet scaling fitters (src/fit_matrix/).
 * Included by src/fit/fitter.c for its method table; this header itself needs
 * no BLAS (only the .c files of src/fit_matrix/ include cblas.h/lapacke.h). */
#ifndef CALIB_MATRIX_FIT_H
#define CALIB_MATRIX_FIT_H

#include "../fit/fit_internal.h"

extern const calib__param_spec calib__vector_params[];
extern const calib__param_spec calib__matrix_params[];
extern const calib__param_spec calib__dirichlet_params[];
int calib__vector_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out);
int calib__matrix_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out);
int calib__dirichlet_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out);

#endif
