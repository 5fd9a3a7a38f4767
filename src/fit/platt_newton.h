/* platt_newton.h -- the Lin, Lin & Weng (2007) Newton method with
 * backtracking line search (libsvm's sigmoid_train), generalised to a binary
 * logistic fit on at most two features plus an intercept. Shared by Platt
 * scaling (one feature: the score) and beta calibration (ln s, -ln(1-s)).
 *
 * Model: P(y = 1 | row i) = sigmoid(u_i), u_i = sum_j theta_j phi_ij + theta_int.
 * Objective: F = sum_i w_i [t_i softplus(-u_i) + (1 - t_i) softplus(u_i)].
 * See include/calib.h (Platt and beta block) for the algorithm's contract.
 */
#ifndef CALIB_PLATT_NEWTON_H
#define CALIB_PLATT_NEWTON_H

#include "fit_internal.h"

#define CALIB__LR_MAXP 3 /* parameters: two features and the intercept */

/* One binary problem. Features of row i: either the float xf[i * ldf]
 * (nfeat == 1, xf != NULL) or the doubles col[j][i * ldd], j < nfeat. */
typedef struct {
  size_t n;
  size_t nfeat;            /* 0, 1 or 2 */
  const float *xf;         /* nfeat == 1: float feature column, or NULL */
  size_t ldf;
  const double *col[2];    /* double feature columns (when xf == NULL) */
  size_t ldd;
  const uint8_t *pos;      /* pos[i] = 1 for a positive row, else 0 */
  const double *w;         /* row weights, NULL = all 1 */
  int smooth;              /* 1: Platt's smoothed targets, 0: 0/1 targets */
} calib__lr_problem;

typedef struct {
  int max_iter;            /* Newton steps */
  double tol;              /* stop when every |g_j| < tol * wbar (g of the
                              standardised coefficients: platt_newton.c) */
  double min_step;         /* line search gives up below this step */
} calib__lr_options;

typedef struct {
  double theta[CALIB__LR_MAXP]; /* feature coefficients, then the intercept
                                   (at theta[nfeat]) */
  int iterations;          /* Newton steps taken */
  double gradient;         /* final max_j |g_j| / wbar (standardised) */
  double nll_hard;         /* weighted mean NLL with 0/1 labels at theta */
  double gap;              /* Newton decrement / 2 at theta, per unit weight
                              (the mean objective's; with sigma added to H) */
  double cond;             /* condition number of H at theta (standardised
                              coordinates) */
} calib__lr_result;

/* Fits p; fills r (also on failure: the last iterate). Returns CALIB_OK,
 * CALIB_E_NOCONV (max_iter reached, or line search below min_step) or
 * CALIB_E_SEPARABLE (0/1 targets with one class absent). */
int calib__lr_fit(const calib__lr_problem *p, const calib__lr_options *o,
                  calib__lr_result *r);

/* Weighted mean NLL with 0/1 labels of the model sigmoid(u) at theta. */
double calib__lr_nll(const calib__lr_problem *p, const double *theta);

/* 1 if, among rows of non-zero weight, a threshold on v separates the
 * classes (max over one class <= min over the other, and v not constant),
 * or one class is absent: the 0/1-target fit then has no finite optimum. */
int calib__lr_separable(const float *xf, const double *xd, size_t ld, size_t n,
                        const uint8_t *pos, const double *w);

/* 1 if v (float xf or double xd, stride ld) is constant over the rows of
 * non-zero weight. */
int calib__lr_constant(const float *xf, const double *xd, size_t ld, size_t n,
                       const double *w);

#endif
