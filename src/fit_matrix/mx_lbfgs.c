/* mx_lbfgs.c -- L-BFGS for the matrix family (large P), through Debian's
 * liblbfgs (Okazaki's C port of Nocedal's L-BFGS, More-Thuente line search).
 *
 * Preconditioning by a change of variables, theta_a = phi_a L_a^-1, where
 * L_a L_a^T is the class-a diagonal block of an approximate Hessian:
 *     s C + diag(penalty curvature of row a) + r I,
 *     C = sum_i wt_i f_i f_i^T  (the weighted feature second moment),
 * s the mean per-class softmax curvature at the start, r a tiny ridge (grown
 * only if the factorisation fails: collinear features, e.g. a network whose
 * logits live in a lower-dimensional subspace). In phi the features are
 * white, which removes the ill-conditioning that uncentred, correlated logits
 * cause (cifar10 DenseNet-40, matrix scaling: ~130 evaluations instead of
 * ~2800), and the penalty enters per entry (ODIR leaves the diagonal free, so
 * diagonal and off-diagonal entries of a row need different scales). Vector:
 * one 2 x 2 block per class; matrix/Dirichlet: one (k+1) x (k+1) block per
 * class while k (k+1)^2 doubles fit in 64 MB, else one shared block with the
 * class-averaged penalty. The objective and the stopping
 * test stay in theta: liblbfgs's own gradient test is disabled (epsilon = 0)
 * and the progress callback stops it when max |dL/dtheta| <= tol. A failed
 * line search restarts L-BFGS (fresh memory) from the last point, at most
 * three times. Large matrix/Dirichlet problems start with float32 GEMMs
 * (mx_fast.c) and switch to double, keeping the L-BFGS memory, once the
 * gradient is below FAST_SWITCH; only double evaluations can stop the fit.
 *
 * Certificate (polish): once the gradient test holds, the objective gap is
 * estimated by the Newton decrement lambda^2 = -g.s, with s solving H s = -g
 * by conjugate gradients on Hessian-vector products (calib__mx_hessvec, two
 * dgemm per product), preconditioned by the same whitening blocks (in theta,
 * M^-1 = L^-T L^-1 per class) and kept off the exactly flat gauge directions.
 * The same polish runs when rounding stopped L-BFGS's line search before the
 * gradient test held (it then decides the status by that test).
 * While lambda^2 / 2 > max(tol^2, CALIB__GAP_FLOOR) max(1, L), s is taken
 * as a Newton-CG step with backtracking, at most POLISH_STEPS times: the
 * gradient test alone stopped L-BFGS far from the optimum along nearly flat
 * directions. The reported gap is the last decrement / 2, an estimate: CG
 * stops at a relative preconditioned residual of 1e-3 or after CG_MAX
 * products, and its decrement is a lower bound that converges quadratically
 * in that residual. The condition number is a lower bound from Lanczos
 * (mx_gap.c) started from M^-16 v, which weights the flattest directions.
 */
#include "mx_internal.h"
#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <lbfgs.h>
#include <math.h>

typedef struct {
  calib__mx_problem *p;
  double *L;     /* nblocks lower Cholesky factors, d x d each (vector: 2 x 2) */
  double *theta; /* P */
  double *gt;    /* P: gradient in theta */
  size_t nblocks; /* k: one factor per class; 1: one shared factor */
  double tol, gmax, switch_tol;
  int converged, iters, base;
} lb_ctx;

/* ---- the change of variables ------------------------------------------------ */

/* Per-class blocks are stored for matrix/Dirichlet when k d^2 doubles stay
 * within this (k <= ~200 at 64 MB); beyond it one shared block. */
#define MAX_BLOCK_DOUBLES ((size_t)1 << 23)

/* 2 x 2 lower factor L = [l00 0; l10 l11] stored as {l00, -, l10, l11}:
 * x = x L^-1 (dir 0), x L^-T (1), x L^T (2), x L (3). */
static void apply2(const double *L, double *x, int dir) {
  const double l00 = L[0], l10 = L[2], l11 = L[3];
  if (dir == 0) { /* y L = x */
    x[1] /= l11;
    x[0] = (x[0] - x[1] * l10) / l00;
  } else if (dir == 1) { /* y L^T = x */
    x[0] /= l00;
    x[1] = (x[1] - x[0] * l10) / l11;
  } else if (dir == 2) {
    const double y0 = x[0] * l00, y1 = x[0] * l10 + x[1] * l11;
    x[0] = y0;
    x[1] = y1;
  } else {
    const double y0 = x[0] * l00 + x[1] * l10, y1 = x[1] * l11;
    x[0] = y0;
    x[1] = y1;
  }
}

/* Row vector x (d) times a d x d lower factor, as above, by BLAS level 2. */
static void apply_row(const double *L, int d, double *x, int dir) {
  if (dir == 0 || dir == 1) /* y L = x <=> L^T y = x;  y L^T = x <=> L y = x */
    cblas_dtrsv(CblasRowMajor, CblasLower, dir == 0 ? CblasTrans : CblasNoTrans, CblasNonUnit, d, L,
                d, x, 1);
  else /* x L^T = (L x)^T;  x L = (L^T x)^T */
    cblas_dtrmv(CblasRowMajor, CblasLower, dir == 2 ? CblasNoTrans : CblasTrans, CblasNonUnit, d, L,
                d, x, 1);
}

static void transform(const lb_ctx *c, double *v, int dir) {
  const calib__mx_problem *p = c->p;
  const size_t k = p->k, d = p->d;
  if (p->method == CALIB_METHOD_VECTOR) {
    for (size_t a = 0; a < k; a++) apply2(c->L + 4 * a, v + 2 * a, dir);
  } else if (c->nblocks == k) {
    for (size_t a = 0; a < k; a++) apply_row(c->L + a * d * d, (int)d, v + a * d, dir);
  } else if (dir == 0 || dir == 1) {
    cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, dir ? CblasTrans : CblasNoTrans,
                CblasNonUnit, (int)k, (int)d, 1.0, c->L, (int)d, v, (int)d);
  } else {
    cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, dir == 2 ? CblasTrans : CblasNoTrans,
                CblasNonUnit, (int)k, (int)d, 1.0, c->L, (int)d, v, (int)d);
  }
}

/* ---- the preconditioner ----------------------------------------------------- */

/* C (d x d, lower) = sum_i wt_i f_i f_i^T for the shared features. */
static int full_moment(const calib__mx_problem *p, double *C) {
  const size_t d = p->d, B = p->n < 4096 ? p->n : 4096;
  double *T = (double *)calib__malloc(B * d * sizeof(double));
  if (!T) return CALIB_E_NOMEM;
  memset(C, 0, d * d * sizeof(double));
  for (size_t i0 = 0; i0 < p->n; i0 += B) {
    const size_t m = p->n - i0 < B ? p->n - i0 : B;
    for (size_t r = 0; r < m; r++) {
      const double s = sqrt(p->wt[i0 + r]);
      for (size_t j = 0; j < d; j++) T[r * d + j] = s * p->X[(i0 + r) * d + j];
    }
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)m, 1.0, T, (int)d, 1.0, C,
                (int)d);
  }
  calib__free(T);
  return CALIB_OK;
}

/* Per-class 2 x 2 moments of (z_ia, 1) into C (k blocks, row-major 2 x 2). */
static void vector_moments(const calib__mx_problem *p, double *C) {
  const size_t k = p->k;
  memset(C, 0, 4 * k * sizeof(double));
  for (size_t i = 0; i < p->n; i++)
    for (size_t a = 0; a < k; a++) {
      const double z = (double)p->z[i * k + a] * p->fs, w = p->wt[i];
      C[4 * a] += w * z * z;
      C[4 * a + 2] += w * z;
    }
  for (size_t a = 0; a < k; a++) C[4 * a + 3] = 1.0;
}

/* Mean per-class softmax curvature sum_i wt_i sum_a p_ia (1 - p_ia) / k at the
 * last evaluation (floored, so a saturated start still gives a scale). */
static double mean_curvature(const calib__mx_problem *p) {
  double s = 0;
  for (size_t i = 0; i < p->n; i++) {
    if (!(p->wt[i] > 0)) continue;
    for (size_t a = 0; a < p->k; a++) {
      const double q = p->Q[i * p->k + a];
      s += q * (1.0 - q / p->wt[i]);
    }
  }
  s /= (double)p->k;
  return s > 1e-6 / (double)p->k ? s : 1e-6 / (double)p->k;
}

/* Penalty curvature (second derivative) of parameter j of class a; class
 * a < 0: the average over classes (shared block). */
static double pen_curv(const calib__mx_problem *p, long a, size_t j) {
  if (j == p->d - 1) return 2 * (p->mu + p->l2);
  if (p->method == CALIB_METHOD_VECTOR) return 2 * p->fs2 * p->l2;
  if (a < 0) return 2 * p->fs2 * (p->lam * (double)(p->k - 1) / (double)p->k + p->l2);
  return 2 * p->fs2 * ((size_t)a == j ? p->l2 : p->lam + p->l2);
}

/* Cholesky of s C + diag(pen) + r I in place (d x d, lower; tmp: d x d),
 * with the ridge r grown from 1e-12 of the mean diagonal until it succeeds. */
static int factor(double *B, const double *C, size_t d, double s, const double *pen, double *tmp) {
  double tr = 0;
  for (size_t j = 0; j < d; j++) tr += s * C[j * d + j] + pen[j];
  double r = 1e-12 * tr / (double)d;
  if (!(r > 0)) r = 1e-300;
  for (int attempt = 0; attempt < 40; attempt++, r *= 100) {
    for (size_t i = 0; i < d * d; i++) tmp[i] = s * C[i];
    for (size_t j = 0; j < d; j++) tmp[j * d + j] += pen[j] + r;
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)d, tmp, (lapack_int)d) == 0) {
      memcpy(B, tmp, d * d * sizeof(double));
      return CALIB_OK;
    }
  }
  return CALIB_E_NOCONV;
}

/* c->L = Cholesky factors of the blocks of s (S (x) C) + penalty curvature,
 * one per class (vector; matrix/Dirichlet while k d^2 is small), else one
 * shared block with the class-averaged penalty. */
static int build_preconditioner(lb_ctx *c) {
  const calib__mx_problem *p = c->p;
  const int vec = p->method == CALIB_METHOD_VECTOR;
  const size_t k = p->k, d = vec ? 2 : p->d;
  c->nblocks = vec || k * d * d <= MAX_BLOCK_DOUBLES ? k : 1;
  const size_t nc = vec ? k : 1; /* moment blocks */
  double *C = (double *)calib__malloc((nc * d * d + d * d + d) * sizeof(double));
  c->L = (double *)calib__malloc(c->nblocks * d * d * sizeof(double));
  int st = C && c->L ? CALIB_OK : CALIB_E_NOMEM;
  if (st == CALIB_OK) {
    if (vec) vector_moments(p, C);
    else st = full_moment(p, C);
  }
  const double s = mean_curvature(p);
  double *tmp = C ? C + nc * d * d : NULL, *pen = tmp ? tmp + d * d : NULL;
  for (size_t b = 0; st == CALIB_OK && b < c->nblocks; b++) {
    for (size_t j = 0; j < d; j++) pen[j] = pen_curv(p, c->nblocks == 1 ? -1 : (long)b, j);
    st = factor(c->L + b * d * d, C + (vec ? b * d * d : 0), d, s, pen, tmp);
  }
  calib__free(C);
  return st;
}

/* ---- liblbfgs callbacks ----------------------------------------------------- */

static lbfgsfloatval_t evaluate(void *inst, const lbfgsfloatval_t *x, lbfgsfloatval_t *g,
                                const int n, const lbfgsfloatval_t step) {
  lb_ctx *c = (lb_ctx *)inst;
  CALIB__UNUSED(step);
  memcpy(c->theta, x, (size_t)n * sizeof(double));
  transform(c, c->theta, 0);
  const double f = calib__mx_eval(c->p, c->theta, c->gt);
  if (!isfinite(f)) { /* a wild trial point: make the line search back off */
    memset(g, 0, (size_t)n * sizeof(double));
    return DBL_MAX;
  }
  memcpy(g, c->gt, (size_t)n * sizeof(double));
  transform(c, g, 1);
  return f;
}

static int progress(void *inst, const lbfgsfloatval_t *x, const lbfgsfloatval_t *g,
                    const lbfgsfloatval_t fx, const lbfgsfloatval_t xnorm,
                    const lbfgsfloatval_t gnorm, const lbfgsfloatval_t step, int n, int k,
                    int ls) {
  lb_ctx *c = (lb_ctx *)inst;
  CALIB__UNUSED(x);
  CALIB__UNUSED(fx);
  CALIB__UNUSED(xnorm);
  CALIB__UNUSED(gnorm);
  CALIB__UNUSED(step);
  CALIB__UNUSED(ls);
  memcpy(c->gt, g, (size_t)n * sizeof(double));
  transform(c, c->gt, 2);
  c->iters = c->base + k;
  c->gmax = calib__mx_absmax(c->gt, (size_t)n);
  if (c->p->fast) { /* float phase: hand over to double precision, never stop here */
    if (c->gmax <= c->switch_tol) c->p->fast = 0;
    return 0;
  }
  if (c->gmax <= c->tol) {
    c->converged = 1;
    return 1;
  }
  return 0;
}

/* ---- driver ------------------------------------------------------------------ */

/* The float32 first phase (mx_fast.c) pays for itself once the GEMMs are
 * large: matrix/Dirichlet with n k (k+1) >= 2^22 multiply-adds per product. */
#define FAST_MIN_WORK ((double)(1u << 22))
/* ... and hands over to double precision once max |dL/dtheta| <= this (or
 * tol, if larger): well above the ~1e-6 relative noise of the float gradient. */
#define FAST_SWITCH 3e-5

static int use_fast(const calib__mx_problem *p) {
  return p->method != CALIB_METHOD_VECTOR && (double)p->n * (double)p->P >= FAST_MIN_WORK;
}

static int run(lb_ctx *c, double *phi, int max_iter, int mem) {
  lbfgs_parameter_t prm;
  lbfgs_parameter_init(&prm);
  prm.m = mem;
  prm.epsilon = 0.0;
  prm.max_linesearch = 64;
  const int n = (int)c->p->P;
  for (int restart = 0; restart < 4 && !c->converged && c->iters < max_iter; restart++) {
    c->base = c->iters;
    prm.max_iterations = max_iter - c->iters;
    const int before = c->iters;
    const int ret = lbfgs(n, phi, NULL, evaluate, progress, c, &prm);
    if (ret == LBFGSERR_OUTOFMEMORY) return CALIB_E_NOMEM;
    if (c->p->fast) { /* the float phase ended first (its line search hit float
                         rounding): go on in double, which is not a restart */
      c->p->fast = 0;
      restart--;
      continue;
    }
    if (c->converged || ret == LBFGSERR_MAXIMUMITERATION || c->iters == before) break;
  }
  return c->converged ? CALIB_OK : CALIB_E_NOCONV;
}

/* ---- the Newton-CG polish and its decrement ------------------------------------- */

#define POLISH_STEPS 8
#define CG_MAX 50
#define START_POWER 16

typedef struct {
  const calib__mx_problem *p;
  double *g, *s, *r, *z, *d, *Hd, *A, *tt;
} polish_ws;

static void proj(const polish_ws *w, double *v, size_t P) {
  CALIB__UNUSED(P);
  calib__mx_gauge_project(w->p, v, 1); /* the exactly flat gauge directions */
}

/* s ~ -H^-1 g by preconditioned CG (Q describes the current theta). */
static void pcg(const lb_ctx *c, polish_ws *w) {
  const size_t P = c->p->P;
  memset(w->s, 0, P * sizeof(double));
  for (size_t i = 0; i < P; i++) w->r[i] = -w->g[i];
  proj(w, w->r, P);
  memcpy(w->z, w->r, P * sizeof(double));
  transform(c, w->z, 1);
  transform(c, w->z, 0);
  proj(w, w->z, P);
  memcpy(w->d, w->z, P * sizeof(double));
  double rz = calib__mx_dotv(w->r, w->z, P);
  const double rz0 = rz;
  for (int it = 0; it < CG_MAX && rz > 1e-6 * rz0 && rz > 0; it++) {
    calib__mx_hessvec(c->p, w->d, w->Hd, w->A);
    proj(w, w->Hd, P);
    const double dHd = calib__mx_dotv(w->d, w->Hd, P);
    if (!(dHd > 0)) break;
    const double al = rz / dHd;
    for (size_t i = 0; i < P; i++) {
      w->s[i] += al * w->d[i];
      w->r[i] -= al * w->Hd[i];
    }
    memcpy(w->z, w->r, P * sizeof(double));
    transform(c, w->z, 1);
    transform(c, w->z, 0);
    proj(w, w->z, P);
    const double rz1 = calib__mx_dotv(w->r, w->z, P);
    for (size_t i = 0; i < P; i++) w->d[i] = w->z[i] + (rz1 / rz) * w->d[i];
    rz = rz1;
  }
}

/* Polishes theta (gauge-fixed; p->gauge == 0) until the decrement test holds;
 * fills r's gap, gmax and cond, adds the steps taken to r->iters. */
static int polish(lb_ctx *c, double *theta, double tol, calib__mx_result *res) {
  calib__mx_problem *p = c->p;
  const size_t P = p->P;
  polish_ws w;
  memset(&w, 0, sizeof w);
  double *buf = (double *)calib__malloc(8 * P * sizeof(double));
  w.A = (double *)calib__malloc(calib__mx_hessvec_scratch(p) * sizeof(double));
  if (!buf || !w.A) {
    calib__free(buf);
    calib__free(w.A);
    return CALIB_E_NOMEM;
  }
  w.g = buf; w.s = buf + P; w.r = buf + 2 * P; w.z = buf + 3 * P;
  w.d = buf + 4 * P; w.Hd = buf + 5 * P; w.tt = buf + 6 * P;
  w.p = p;
  p->fast = 0;
  double f = calib__mx_eval(p, theta, w.g);
  for (int step = 0; isfinite(f); step++) {
    pcg(c, &w);
    const double slope = calib__mx_dotv(w.g, w.s, P);
    res->gap = -0.5 * slope;
    res->gmax = calib__mx_absmax(w.g, P);
    if (res->gap <= calib__gap_target(tol, f) || step >= POLISH_STEPS || !(slope < 0)) break;
    const int tiny = -slope < 1e3 * DBL_EPSILON * fabs(f);
    int taken = 0;
    double t = 1.0;
    for (int ls = 0; ls < 40 && !taken; ls++, t *= 0.5) {
      for (size_t i = 0; i < P; i++) w.tt[i] = theta[i] + t * w.s[i];
      const double ft = calib__mx_eval(p, w.tt, w.Hd);
      if (ft <= f + 1e-4 * t * slope ||
          (tiny && ls == 0 && ft <= f + 1e3 * DBL_EPSILON * fabs(f) &&
           calib__mx_absmax(w.Hd, P) < res->gmax)) {
        memcpy(theta, w.tt, P * sizeof(double));
        memcpy(w.g, w.Hd, P * sizeof(double));
        f = ft;
        taken = 1;
      }
    }
    if (!taken) break;
    res->iters++;
  }
  (void)calib__mx_eval(p, theta, w.g); /* Q at theta for Lanczos, and the final gradient */
  res->gmax = calib__mx_absmax(w.g, P);
  /* Lanczos starts from M^-START_POWER v: the preconditioner M ~ H, so this
   * weights the flattest directions, whose Ritz value the 32 steps then
   * resolve (from a plain start they stay far above lambda_min) */
  for (size_t i = 0; i < P; i++) w.z[i] = 1.0 + 0.5 * sin(1.7 * (double)i + 0.3);
  for (int it = 0; it < START_POWER; it++) {
    transform(c, w.z, 1);
    transform(c, w.z, 0);
    proj(&w, w.z, P);
    const double nz = sqrt(calib__mx_dotv(w.z, w.z, P));
    if (!(nz > 0 && nz < HUGE_VAL)) break;
    for (size_t i = 0; i < P; i++) w.z[i] /= nz;
  }
  res->cond = calib__mx_cond_lanczos(p, w.z, CALIB__LANCZOS_STEPS);
  calib__free(buf);
  calib__free(w.A);
  return res->gmax <= tol ? CALIB_OK : CALIB_E_NOCONV;
}

int calib__mx_lbfgs(calib__mx_problem *p, double *theta, int max_iter, double tol, int mem,
                    calib__mx_result *res) {
  lb_ctx c;
  memset(&c, 0, sizeof c);
  c.p = p;
  c.tol = tol;
  const size_t P = p->P;
  c.theta = (double *)calib__malloc(P * sizeof(double));
  c.gt = (double *)calib__malloc(P * sizeof(double));
  lbfgsfloatval_t *phi = lbfgs_malloc((int)P);
  int st = c.theta && c.gt && phi ? CALIB_OK : CALIB_E_NOMEM;
  if (st == CALIB_OK && use_fast(p)) {
    st = calib__mx_fast_alloc(p);
    p->fast = st == CALIB_OK;
    c.switch_tol = tol > FAST_SWITCH ? tol : FAST_SWITCH;
  }
  double f = 0;
  if (st == CALIB_OK) { /* in double: Q gives the start's curvature to the preconditioner */
    const int fast = p->fast;
    p->fast = 0;
    f = calib__mx_eval(p, theta, fast ? NULL : c.gt);
    p->fast = fast;
  }
  if (st == CALIB_OK && !isfinite(f)) st = CALIB_E_NOCONV;
  if (st == CALIB_OK) {
    c.gmax = p->fast ? HUGE_VAL : calib__mx_absmax(c.gt, P);
    c.converged = c.gmax <= tol;
    st = build_preconditioner(&c);
  }
  if (st == CALIB_OK && !c.converged) {
    memcpy(phi, theta, P * sizeof(double));
    transform(&c, phi, 3);
    p->gauge = 1;
    st = run(&c, phi, max_iter, mem);
    p->gauge = 0;
    memcpy(theta, phi, P * sizeof(double));
    transform(&c, theta, 0);
    calib__mx_gauge_fix(p, theta);
  }
  if (st == CALIB_OK && !c.converged) st = CALIB_E_NOCONV;
  res->iters = c.iters;
  res->gmax = c.gmax;
  res->gap = res->cond = res->L = (double)NAN;
  res->fallback = 0;
  /* also after a line search that rounding stopped short of the gradient
   * test: the Newton-CG steps may still meet it */
  if (st == CALIB_OK || (st == CALIB_E_NOCONV && c.iters < max_iter && isfinite(c.gmax)))
    st = polish(&c, theta, tol, res);
  calib__mx_fast_free(p);
  lbfgs_free(phi);
  calib__free(c.theta);
  calib__free(c.gt);
  calib__free(c.L);
  return st;
}
