/* ets.h -- ensemble temperature scaling fitter (src/fit/ets.c, ets_simplex.c). */
#ifndef CALIB_ETS_H
#define CALIB_ETS_H

#include "fit_internal.h"

extern const calib__param_spec calib__ets_params[];
int calib__ets_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out);

/* A smooth convex function of the 3 mixture weights: value, gradient and
 * Hessian at w (value +inf where undefined). */
typedef double (*calib__ets_objective)(const void *ctx, const double w[3], double g[3],
                                       double H[9]);

/* Minimises obj over the simplex {w >= 0, sum w = 1} by an active-set Newton
 * method, from w (a point of the simplex, updated). Stops when the KKT
 * residual (largest |g_j - g_r| over free coordinates, largest violation
 * g_r - g_j over coordinates at 0) is <= tol. Returns CALIB_OK or
 * CALIB_E_NOCONV; *iters = Newton steps, *kkt = the final residual. */
int calib__ets_simplex(calib__ets_objective obj, const void *ctx, double w[3], int max_iter,
                       double tol, int *iters, double *kkt);

#endif
