/* mx_newton.c -- damped Newton for the matrix family (small P).
 *
 * Each step solves (H + delta I) s = -g. delta starts at 1e-12 * max(1, max
 * diag H): L is convex but not strictly (softmax is unchanged when the same
 * vector is added to every row of theta, and collinear features add more flat
 * directions); the gradient has no component along those directions, so the
 * damped step does not move along them either. The solve is a Cholesky
 * factorisation (LAPACKE_dpotrf/dpotrs); if it fails, a Bunch-Kaufman
 * symmetric-indefinite solve (LAPACKE_dsysv) is tried, and then delta grows
 * by 100x until the step is a descent direction. Armijo backtracking
 * (c = 1e-4, halving) on the full objective; when the predicted decrease of
 * the full step is below rounding (1e3 eps |L|), the step is also accepted if
 * it lowers the largest gradient entry (close to the optimum the Armijo test
 * is decided by rounding). Stops when max |g| <= tol.
 */
#include "mx_internal.h"
#include "checked.h"
#include <float.h>
#include <lapacke.h>
#include <math.h>

typedef struct {
  double *H, *Hd, *s, *g, *gt, *theta_t, *scratch;
  lapack_int *ipiv;
} newton_ws;

static void ws_free(newton_ws *w) {
  calib__free(w->H);
  calib__free(w->Hd);
  calib__free(w->s);
  calib__free(w->g);
  calib__free(w->gt);
  calib__free(w->theta_t);
  calib__free(w->scratch);
  calib__free(w->ipiv);
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
  if (!w->H || !w->Hd || !w->s || !w->g || !w->gt || !w->theta_t || !w->scratch || !w->ipiv) {
    ws_free(w);
    return CALIB_E_NOMEM;
  }
  return CALIB_OK;
}

static double dot(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* Hd = H + delta I (lower triangle), s = -g. */
static void load_system(const newton_ws *w, size_t P, double delta) {
  for (size_t i = 0; i < P; i++) {
    memcpy(w->Hd + i * P, w->H + i * P, (i + 1) * sizeof(double));
    w->Hd[i * P + i] += delta;
    w->s[i] = -w->g[i];
  }
}

static int good_step(const newton_ws *w, size_t P) {
  for (size_t i = 0; i < P; i++)
    if (!isfinite(w->s[i])) return 0;
  return dot(w->g, w->s, P) < 0;
}

/* Direction s with (H + delta I) s = -g, delta as small as works. */
static void newton_direction(newton_ws *w, size_t P) {
  double maxdiag = 1.0;
  for (size_t i = 0; i < P; i++)
    if (w->H[i * P + i] > maxdiag) maxdiag = w->H[i * P + i];
  double delta = 1e-12 * maxdiag;
  const lapack_int np = (lapack_int)P;
  for (int attempt = 0; attempt < 12; attempt++, delta *= 100) {
    load_system(w, P, delta);
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', np, w->Hd, np) == 0 &&
        LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', np, 1, w->Hd, np, w->s, 1) == 0 && good_step(w, P))
      return;
    load_system(w, P, delta);
    if (LAPACKE_dsysv(LAPACK_ROW_MAJOR, 'L', np, 1, w->Hd, np, w->ipiv, w->s, 1) == 0 &&
        good_step(w, P))
      return;
  }
  for (size_t i = 0; i < P; i++) w->s[i] = -w->g[i] / maxdiag; /* steepest descent */
}

/* Backtracking from the full step; 1 if a step was taken (theta, *f, g updated). */
static int line_search(calib__mx_problem *p, newton_ws *w, double *theta, double *f) {
  const size_t P = p->P;
  const double slope = dot(w->g, w->s, P), g0 = calib__mx_absmax(w->g, P);
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
                     int *iters, double *gmax) {
  newton_ws w;
  int st = ws_alloc(&w, p);
  if (st != CALIB_OK) return st;
  double f = calib__mx_eval(p, theta, w.g);
  int it = 0;
  st = CALIB_E_NOCONV;
  while (isfinite(f)) {
    if (calib__mx_absmax(w.g, p->P) <= tol) {
      st = CALIB_OK;
      break;
    }
    if (it >= max_iter) break;
    calib__mx_hessian(p, theta, w.H, w.scratch); /* Q describes theta here */
    newton_direction(&w, p->P);
    it++;
    if (!line_search(p, &w, theta, &f)) break;
  }
  *gmax = isfinite(f) ? calib__mx_absmax(w.g, p->P) : HUGE_VAL;
  *iters = it;
  ws_free(&w);
  return st;
}
