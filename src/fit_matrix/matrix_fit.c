/* matrix_fit.c -- the vector, matrix and Dirichlet fitters: options, the
 * "no optimum" (separable) certificate, solver choice, model bytes.
 * The objective, solvers and options are documented in calib.h; the problem
 * and its derivatives in mx_problem.c, the solvers in mx_newton.c (dense
 * Newton, P <= CALIB_P_NEWTON_MAX), mx_ncg.c (Newton-CG beyond: the Hessian
 * is never formed -- at k = 100 it would be 10100^2 doubles, 816 MB, and
 * n P^2 = 5e11 flops per step) and mx_lbfgs.c (its fallback). Why Newton-CG
 * and not L-BFGS beyond the dense range: see solve(). */
#include "matrix_fit.h"
#include "mx_internal.h"
#include <float.h>
#include <math.h>

#define COMMON_PARAMS                                              \
  {CALIB_P_MAX_ITER, "max_iter", 1, 1e6, 10000, 1},               \
  {CALIB_P_TOL, "tol", 1e-10, 1e-2, 1e-6, 0},                     \
  {CALIB_P_L2, "l2", 0, 1e6, 0, 0},                               \
  {CALIB_P_L2_CENTER, "l2_center", 0, 1, 1, 1},                   \
  {CALIB_P_NEWTON_MAX, "newton_max", 0, 5000, 300, 1},           \
  {CALIB_P_LBFGS_M, "lbfgs_m", 3, 100, 20, 1}

const calib__param_spec calib__vector_params[] = {
    COMMON_PARAMS,
    {CALIB_P_ODIR_MU, "odir_mu", 0, 1e6, 0, 0},
    {0, NULL, 0, 0, 0, 0},
};
const calib__param_spec calib__matrix_params[] = {
    COMMON_PARAMS,
    {CALIB_P_ODIR_LAMBDA, "odir_lambda", 0, 1e6, 0, 0},
    {CALIB_P_ODIR_MU, "odir_mu", 0, 1e6, 0, 0},
    {0, NULL, 0, 0, 0, 0},
};
const calib__param_spec calib__dirichlet_params[] = {
    COMMON_PARAMS,
    {CALIB_P_ODIR_LAMBDA, "odir_lambda", 0, 1e6, 10, 0},
    {CALIB_P_ODIR_MU, "odir_mu", 0, 1e6, 10, 0},
    {0, NULL, 0, 0, 0, 0},
};

/* 1 if the part of theta that the penalty leaves free (see calib.h) ranks
 * every row of non-zero weight strictly first on its label: then scaling that
 * part up lowers the NLL towards 0 at no penalty, and L has no minimum.
 * Evaluates the NLL of that part (always, leaving it in p->nll and Q) and
 * overwrites the problem's evaluation buffers. */
static int free_part_separates(calib__mx_problem *p, const double *theta, double *tmp) {
  /* off-diagonal weights penalised: the free part is diagonal (plus the
   * intercepts when mu = 0), evaluated row by row without the dgemm */
  const int diag_only = p->method != CALIB_METHOD_VECTOR && p->lam > 0;
  for (size_t a = 0; a < p->k; a++)
    for (size_t j = 0; j < p->d; j++) {
      const size_t i = a * p->d + j;
      const int bias = j == p->d - 1;
      const int diag = p->method == CALIB_METHOD_VECTOR ? j == 0 : j == a;
      const int free_ = diag || (bias ? p->mu == 0 : p->lam == 0);
      tmp[i] = free_ ? theta[i] : 0.0;
    }
  if (!isfinite(diag_only ? calib__mx_eval_diag(p, tmp) : calib__mx_eval(p, tmp, NULL)) || p->l2 > 0) return 0;
  for (size_t i = 0; i < p->n; i++) {
    if (!(p->wt[i] > 0)) continue;
    const double *q = p->Q + i * p->k;
    const double qy = q[p->y[i]];
    for (size_t j = 0; j < p->k; j++)
      if (j != (size_t)p->y[i] && !(q[j] < qy)) return 0;
  }
  return 1;
}

static int build_model(const calib__mx_problem *p, const double *theta, calib_model **out) {
  const size_t k = p->k, d = p->d, nw = p->method == CALIB_METHOD_VECTOR ? k : k * k;
  double *w = (double *)calib__malloc((nw + k) * sizeof(double));
  if (!w) return CALIB_E_NOMEM;
  double *b = w + nw;
  for (size_t a = 0; a < k; a++) {
    for (size_t j = 0; j + 1 < d; j++) /* the solver's weights are W / fs */
      w[p->method == CALIB_METHOD_VECTOR ? a : a * k + j] = theta[a * d + j] * p->fs;
    b[a] = theta[a * d + d - 1];
  }
  const calib__section secs[2] = {
      {p->method == CALIB_METHOD_VECTOR ? CALIB_MP_VECTOR_W : CALIB_MP_MATRIX_W, nw, w},
      {CALIB_MP_BIAS, k, b}};
  const int st = calib__model_build(out, p->method, k, secs, 2);
  calib__free(w);
  return st; /* a rejected model (CALIB_E_FORMAT) is NOCONV in calib_fit's method_fail */
}

/* The model's W = theta * fs (fs a power of two), so theta_aj := fl32(theta_aj
 * fs) / fs makes every W entry a float32 value (held as a double); 0 if some
 * |W| is beyond float32's range (then nothing is rounded). */
static int round_w_f32(const calib__mx_problem *p, double *theta) {
  const size_t k = p->k, d = p->d;
  for (size_t a = 0; a < k; a++)
    for (size_t j = 0; j + 1 < d; j++)
      if (!(fabs(theta[a * d + j] * p->fs) <= (double)FLT_MAX)) return 0;
  for (size_t a = 0; a < k; a++)
    for (size_t j = 0; j + 1 < d; j++) {
      double *t = &theta[a * d + j];
      *t = (double)(float)(*t * p->fs) / p->fs;
    }
  return 1;
}

/* Matrix and Dirichlet (issue 12): the fitted W is rounded to float32 values,
 * so the model keeps a float32 copy of W and apply streams half the bytes
 * with bit-identical results (model/matrix_apply.c). The logits are float32,
 * so rounding W by a relative 2^-24 is a perturbation of the size the data
 * already carries; it moves L by g.delta + delta.H.delta / 2 (relative 2.3e-14
 * for unregularised matrix scaling on DenseNet-40 / CIFAR-10, <= 7e-16 for
 * Dirichlet ODIR on the shared data sets). The report then describes the rounded parameters:
 * L and its gradient are evaluated once at each point (double, plain penalty,
 * no gauge reduction), nll_after and gradient are those of the rounded theta,
 * and gap := gap + max(0, L(rounded) - L(theta)) (the decrement estimated L(theta) - L*).
 * The rounding is kept only when it breaks no stopping test that held (max |g|
 * <= max(tol, its value before), gap <= max(gap target, gap before)); else theta and
 * its report stay as the solver left them (W stays double; apply takes the
 * double path). theta is unchanged on CALIB_E_NOMEM. L_end: L at theta and
 * g_end its gradient's max |entry| when the solver evaluated them last (the
 * same evaluation: at k = 1000 one double evaluation is ~0.6 s), else NaN. */
static int round_fitted(calib_fitter *f, calib__mx_problem *p, double *theta, double L_end, double g_end) {
  double *save = (double *)calib__malloc(2 * p->P * sizeof(double));
  if (!save) return CALIB_E_NOMEM;
  double *g = save + p->P;
  const int fast = p->fast, gauge = p->gauge;
  p->fast = 0;
  p->gauge = 0;
  memcpy(save, theta, p->P * sizeof(double));
  const int known = isfinite(L_end) && isfinite(g_end);
  const double L0 = known ? L_end : calib__mx_eval(p, theta, g), g0 = known ? g_end : calib__mx_absmax(g, p->P);
  int keep = round_w_f32(p, theta);
  if (keep) {
    const double L1 = calib__mx_eval(p, theta, g), g1 = calib__mx_absmax(g, p->P);
    const double gap0 = f->report.gap, tol = f->opt[CALIB_P_TOL];
    const double gap1 = gap0 + (L1 > L0 ? L1 - L0 : 0.0);
    keep = isfinite(L1) && g1 <= fmax(tol, g0) &&
           (isnan(gap0) || gap1 <= fmax(calib__gap_target(tol, L1), gap0));
    if (keep) {
      f->report.gradient = g1;
      if (!isnan(gap0)) f->report.gap = gap1;
    }
  }
  if (!keep) {
    memcpy(theta, save, p->P * sizeof(double));
    (void)calib__mx_eval(p, theta, NULL); /* p->nll describes theta again */
  }
  p->fast = fast;
  p->gauge = gauge;
  calib__free(save);
  return CALIB_OK;
}

/* The solver by size: dense Newton while P <= newton_max (the P x P
 * Hessian, n P^2 flops per step, is cheap and its Cholesky solve is the most
 * robust certificate); beyond it truncated Newton (Newton-CG, mx_ncg.c),
 * which never forms the Hessian: Hessian-vector products from two GEMMs,
 * block-Jacobi preconditioned. It replaced L-BFGS there (issue 12): on
 * LeNet-5 / CIFAR-100 (n = 5000, k = 100) unregularised matrix scaling took
 * 1206 L-BFGS iterations (16 s) and 12 Newton-CG steps, and at k = 1000
 * L-BFGS did not finish Dirichlet ODIR in 15 minutes (in whitened
 * coordinates; beyond k = 200 Newton-CG now starts with its own L-BFGS,
 * preconditioned by a Kronecker-factored M: mx_warm.c). L-BFGS (mx_lbfgs.c)
 * remains the fallback when Newton-CG makes no progress at all (its
 * preconditioner cannot be factored, or its first step is no descent). */
static int solve(calib_fitter *f, calib__mx_problem *p, double *theta, double *L_end) {
  const int max_iter = (int)f->opt[CALIB_P_MAX_ITER];
  const double tol = f->opt[CALIB_P_TOL];
  calib__mx_result r;
  int st;
  if ((double)p->P <= f->opt[CALIB_P_NEWTON_MAX]) {
    st = calib__mx_newton(p, theta, max_iter, tol, &r);
  } else {
    st = calib__mx_newton_cg(p, theta, max_iter, tol, &r);
    if (st == CALIB_E_NOCONV && r.fallback)
      st = calib__mx_lbfgs(p, theta, max_iter, tol, (int)f->opt[CALIB_P_LBFGS_M], &r);
  }
  f->report.iterations = r.iters;
  f->report.gradient = r.gmax;
  f->report.gap = r.gap;
  f->report.condition = r.cond;
  *L_end = r.L;
  return st;
}

static int fit_method(calib_fitter *f, const calib__fit_data *d, int method, calib_model **out) {
  if (d->k < 2) return CALIB_E_ARG;
  calib__mx_problem p;
  int st = calib__mx_setup(&p, method, d, f->opt);
  if (st != CALIB_OK) return st;
  double *theta = (double *)calib__malloc(2 * p.P * sizeof(double));
  if (!theta) {
    calib__mx_release(&p);
    return CALIB_E_NOMEM;
  }
  double *tmp = theta + p.P, L_end = (double)NAN;
  calib__mx_identity(&p, theta);
  /* the free part of the identity is the identity: one evaluation gives the
   * raw NLL (softmax(z) for all three maps) and the start certificate */
  const int sep = free_part_separates(&p, theta, tmp);
  f->report.nll_before = f->report.nll_after = p.nll;
  if (sep) {
    st = CALIB_E_SEPARABLE;
  } else {
    calib__mx_start(&p, theta);
    st = solve(f, &p, theta, &L_end);
  }
  if (st == CALIB_OK || st == CALIB_E_NOCONV) {
    if (free_part_separates(&p, theta, tmp)) st = CALIB_E_SEPARABLE;
    /* round_fitted evaluates at the theta it leaves; otherwise p.nll must
     * describe theta again */
    if (st == CALIB_OK && p.method != CALIB_METHOD_VECTOR)
      st = round_fitted(f, &p, theta, L_end, f->report.gradient);
    else if (p.l2 > 0 || memcmp(tmp, theta, p.P * sizeof(double)) != 0)
      (void)calib__mx_eval(&p, theta, NULL);
    f->report.nll_after = p.nll; /* the last evaluation was at theta */
  }
  if (st == CALIB_OK) st = build_model(&p, theta, out);
  calib__free(theta);
  calib__mx_release(&p);
  return st;
}

int calib__vector_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out) {
  return fit_method(f, d, CALIB_METHOD_VECTOR, out);
}
int calib__matrix_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out) {
  return fit_method(f, d, CALIB_METHOD_MATRIX, out);
}
int calib__dirichlet_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out) {
  return fit_method(f, d, CALIB_METHOD_DIRICHLET, out);
}
