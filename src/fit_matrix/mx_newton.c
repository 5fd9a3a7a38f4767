/* mx_newton.c -- damped Newton for the matrix family (small P).
 *
 * Each step solves (H + c U U^T + delta I) s = -g. L is convex but not
 * strictly: softmax is unchanged when the same vector is added to every row
 * of theta, and where no penalty sees such a shift (U: the exactly flat gauge
 * directions, calib__mx_null_gauge) H is singular; c = max(1, max diag H)
 * along U makes the system definite without touching any other direction (g
 * is orthogonal to U, so s is too). delta starts at 1e-15 * max(1, max diag
 * H), small enough that directions with curvature down to ~1e-14 of the
 * largest -- nearly collinear features, e.g. logit rows with a near-constant
 * sum next to the intercept -- still get their Newton step (with 1e-12, these
 * were crawled along at a rate of delta / curvature per step, and the
 * gradient test stopped the fit far from the optimum along them). The solve
 * is a Cholesky factorisation (LAPACKE_dpotrf/dpotrs), accepted when its
 * residual is below 1e-2 |g| (beyond a condition of ~1e14 rounding swamps
 * the step along the flattest directions, e.g. Dirichlet on logits x 1e-10,
 * whose features are collinear with the intercept to 1e-10); if it fails, a
 * Bunch-Kaufman symmetric-indefinite solve (LAPACKE_dsysv) is tried, and then
 * delta grows by 100x until the step is a descent direction. Armijo
 * backtracking (c = 1e-4, halving) on the full objective; when the predicted
 * decrease of the full step is below rounding (1e3 eps |L|), the step is also
 * accepted if it lowers the largest gradient entry (close to the optimum the
 * Armijo test is decided by rounding).
 * Stopping: the Newton decrement lambda^2 = -g.s bounds the objective gap
 * (lambda^2 / 2 ~ L - L* near the optimum, whatever the conditioning), so
 * the fit stops when lambda^2 / 2 <= max(tol^2, CALIB__GAP_FLOOR)
 * max(1, L) and max |g| <= tol. The gradient test alone certified little
 * when the curvature spans 12+ decades (a small gradient along a flat
 * direction hides a large gap). If the line search can no longer make
 * progress (rounding) once the gradient test holds, or the decrement test
 * is still unmet GAP_EXTRA_STEPS steps after it, the fit succeeds with the
 * decrement it reached (reported). The condition number of H at the end
 * (gauge left out) is computed by power iteration on H and H^-1 when P <= 1000.
 */
#include "mx_internal.h"
#include "checked.h"
#include <float.h>
#include <lapacke.h>
#include <math.h>

typedef struct {
  double *H, *Hd, *s, *g, *gt, *theta_t, *scratch, *U;
  size_t nnull;
  lapack_int *ipiv;
} newton_ws;

/* Newton steps allowed after the gradient test holds, for the decrement test:
 * Newton converges quadratically, so a decrement that has not met it by then
 * is rounding (curvature below double precision, e.g. Dirichlet on logits x
 * 1e-10, whose features are collinear with the intercept to 1e-10). */
#define GAP_EXTRA_STEPS 20

/* Dense eigenvalues for the condition number up to this P (P^3 flops once). */
#define COND_DENSE_MAX 1000

static void ws_free(newton_ws *w) {
  calib__free(w->H);
  calib__free(w->Hd);
  calib__free(w->s);
  calib__free(w->g);
  calib__free(w->gt);
  calib__free(w->theta_t);
  calib__free(w->scratch);
  calib__free(w->ipiv);
  calib__free(w->U);
}

static int ws_alloc(newton_ws *w, const calib__mx_problem *p) {
  const size_t P = p->P;
  memset(w, 0, sizeof *w);
  size_t hbytes;
  if (!calib__size_mul3(P, P, sizeof(double), &hbytes) || hbytes > CALIB__MAX_ALLOC) return CALIB_E_NOMEM;
  w->H = (double *)calib__malloc(P * P * sizeof(double));
  w->Hd = (double *)calib__malloc(P * P * sizeof(double));
  w->s = (double *)calib__malloc(P * sizeof(double));
  w->g = (double *)calib__malloc(P * sizeof(double));
  w->gt = (double *)calib__malloc(P * sizeof(double));
  w->theta_t = (double *)calib__malloc(P * sizeof(double));
  w->scratch = (double *)calib__malloc(calib__mx_hessian_scratch(p) * sizeof(double));
  w->ipiv = (lapack_int *)calib__malloc(P * sizeof(lapack_int));
  w->U = (double *)calib__malloc(p->d * P * sizeof(double));
  if (!w->H || !w->Hd || !w->s || !w->g || !w->gt || !w->theta_t || !w->scratch || !w->ipiv || !w->U) {
    ws_free(w);
    return CALIB_E_NOMEM;
  }
  return CALIB_OK;
}

/* Hd = H + c U U^T + delta I (lower triangle), s = -g. */
static void load_system(const newton_ws *w, size_t P, double c, double delta) {
  for (size_t i = 0; i < P; i++) {
    memcpy(w->Hd + i * P, w->H + i * P, (i + 1) * sizeof(double));
    w->Hd[i * P + i] += delta;
    w->s[i] = -w->g[i];
  }
  for (size_t m = 0; m < w->nnull; m++) {
    const double *u = w->U + m * P;
    for (size_t i = 0; i < P; i++) {
      if (u[i] == 0) continue;
      for (size_t j = 0; j <= i; j++) w->Hd[i * P + j] += c * u[i] * u[j];
    }
  }
}

static int good_step(const newton_ws *w, size_t P) {
  for (size_t i = 0; i < P; i++)
    if (!isfinite(w->s[i])) return 0;
  return calib__mx_dotv(w->g, w->s, P) < 0;
}

/* 1 if s solves (H + c U U^T + delta I) s = -g to a relative residual of
 * SOLVE_RESIDUAL (r: P scratch). A backward-stable Cholesky solve leaves a
 * residual ~ eps cond |g|: beyond cond ~ 1e14 the step is rounding noise
 * along the flattest directions, and delta must grow instead. */
#define SOLVE_RESIDUAL 1e-2
static int accurate(const newton_ws *w, size_t P, double c, double delta, double *r) {
  memcpy(r, w->g, P * sizeof(double));
  /* r += H s from the lower triangle; plain loops (P^2, once per step): no
   * BLAS level-2 call, which OpenBLAS may hand to its thread pool */
  for (size_t i = 0; i < P; i++) {
    const double *hi = w->H + i * P;
    double acc = 0;
    for (size_t j = 0; j < i; j++) {
      acc += hi[j] * w->s[j];
      r[j] += hi[j] * w->s[i];
    }
    r[i] += acc + hi[i] * w->s[i];
  }
  for (size_t i = 0; i < P; i++) r[i] += delta * w->s[i];
  for (size_t m = 0; m < w->nnull; m++) {
    const double *u = w->U + m * P, us = c * calib__mx_dotv(u, w->s, P);
    for (size_t i = 0; i < P; i++) r[i] += us * u[i];
  }
  return calib__mx_dotv(r, r, P) <= SOLVE_RESIDUAL * SOLVE_RESIDUAL * calib__mx_dotv(w->g, w->g, P);
}

/* Direction s with (H + c U U^T + delta I) s = -g, delta as small as works. */
static void newton_direction(newton_ws *w, size_t P) {
  double maxdiag = 1.0;
  for (size_t i = 0; i < P; i++)
    if (w->H[i * P + i] > maxdiag) maxdiag = w->H[i * P + i];
  double delta = 1e-15 * maxdiag;
  const lapack_int np = (lapack_int)P;
  for (int attempt = 0; attempt < 14; attempt++, delta *= 100) {
    load_system(w, P, maxdiag, delta);
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', np, w->Hd, np) == 0 &&
        LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', np, 1, w->Hd, np, w->s, 1) == 0 && good_step(w, P) &&
        accurate(w, P, maxdiag, delta, w->gt))
      return;
    load_system(w, P, maxdiag, delta);
    if (LAPACKE_dsysv(LAPACK_ROW_MAJOR, 'L', np, 1, w->Hd, np, w->ipiv, w->s, 1) == 0 &&
        good_step(w, P))
      return;
  }
  for (size_t i = 0; i < P; i++) w->s[i] = -w->g[i] / maxdiag; /* steepest descent */
}

/* Backtracking from the full step; 1 if a step was taken (theta, *f, g updated). */
static int line_search(calib__mx_problem *p, newton_ws *w, double *theta, double *f) {
  const size_t P = p->P;
  const double slope = calib__mx_dotv(w->g, w->s, P), g0 = calib__mx_absmax(w->g, P);
  const int tiny = -slope < 1e3 * DBL_EPSILON * fabs(*f);
  double t = 1.0;
  for (int ls = 0; ls < 60; ls++, t *= 0.5) {
    for (size_t i = 0; i < P; i++) w->theta_t[i] = theta[i] + t * w->s[i];
    const double ft = calib__mx_eval(p, w->theta_t, w->gt);
    const int armijo = ft <= *f + 1e-4 * t * slope;
    const int rounding = tiny && ls == 0 && ft <= *f + 1e3 * DBL_EPSILON * fabs(*f) &&
                         calib__mx_absmax(w->gt, P) < g0;
    if (armijo || rounding) {
      memcpy(theta, w->theta_t, P * sizeof(double));
      memcpy(w->g, w->gt, P * sizeof(double));
      *f = ft;
      return 1;
    }
  }
  return 0;
}

int calib__mx_newton(calib__mx_problem *p, double *theta, int max_iter, double tol,
                     calib__mx_result *r) {
  newton_ws w;
  int st = ws_alloc(&w, p);
  r->iters = 0;
  r->gmax = HUGE_VAL;
  r->gap = r->cond = r->L = (double)NAN;
  r->fallback = 0;
  if (st != CALIB_OK) return st;
  w.nnull = calib__mx_null_gauge(p, w.U);
  double f = calib__mx_eval(p, theta, w.g);
  int it = 0, have_h = 0, extra = 0;
  st = CALIB_E_NOCONV;
  while (isfinite(f)) {
    calib__mx_hessian(p, theta, w.H, w.scratch); /* Q describes theta here */
    have_h = 1;
    newton_direction(&w, p->P);
    r->gap = -0.5 * calib__mx_dotv(w.g, w.s, p->P); /* lambda^2 / 2 */
    const int grad_ok = calib__mx_absmax(w.g, p->P) <= tol;
    if (grad_ok && r->gap <= calib__gap_target(tol, f)) {
      st = CALIB_OK;
      break;
    }
    if (grad_ok && ++extra > GAP_EXTRA_STEPS) { /* the decrement is rounding: see above */
      st = CALIB_OK;
      break;
    }
    if (it >= max_iter) break;
    it++;
    if (!line_search(p, &w, theta, &f)) {
      if (grad_ok) st = CALIB_OK; /* rounding stops it: the gap reached is reported */
      break;
    }
  }
  if (isfinite(f)) {
    r->gmax = calib__mx_absmax(w.g, p->P);
    if (have_h && p->P <= COND_DENSE_MAX) r->cond = calib__mx_cond_dense(w.H, p->P, w.U, w.nnull, w.Hd);
  }
  r->iters = it;
  ws_free(&w);
  return st;
}
