/* mx_problem.c -- the matrix-family objective: setup, value and gradient
 * (one dgemm forward, one row pass, one dgemm back), penalty, and the exact
 * Hessian for the Newton solver (dsyrk over row chunks).
 *
 * With q_ia = wt_i softmax(a_i)_a (kept in Q after each evaluation):
 *   dL/dtheta_a   = sum_i (q_ia - wt_i [y_i = a]) f_ia   (+ penalty)
 *   d2L/dtheta_a dtheta_c = sum_i (q_ia [a = c] - q_ia q_ic / wt_i) f_ia f_ic^T
 * The label part sum_i wt_i [y_i = a] f_ia is constant (MY, computed once).
 * The Hessian is the block diagonal sum_i q_ia f_ia f_ia^T minus Z^T Z with
 * Z_i = (q_ia f_ia)_a / sqrt(wt_i), both by dsyrk on chunks of rows.
 */
#include "mx_internal.h"
#include "checked.h"
#include "../model/matrix_apply.h"
#include <cblas.h>
#include <math.h>

#define HESS_CHUNK_DOUBLES ((size_t)1 << 20) /* 8 MB of Hessian scratch */
/* Rows per fused forward / softmax / gradient block (keeps the logits in cache
 * between the two dgemm calls, and every BLAS dimension far below INT_MAX). */
#define EVAL_BLOCK ((size_t)4096)

static int alloc_arrays(calib__mx_problem *p) {
  const size_t n = p->n, k = p->k;
  size_t qbytes;
  if (!calib__size_mul3(n, k + 1, sizeof(double), &qbytes) || qbytes > CALIB__MAX_ALLOC) return CALIB_E_NOMEM;
  p->wt = (double *)calib__malloc(n * sizeof(double));
  p->Q = (double *)calib__malloc(n * k * sizeof(double));
  p->MY = (double *)calib__calloc(p->P, sizeof(double));
  p->gv = (double *)calib__malloc(p->d * sizeof(double));
  p->ctheta = (double *)calib__malloc(2 * p->P * sizeof(double)); /* P <= n (k + 1) */
  if (p->method != CALIB_METHOD_VECTOR)
    p->X = (double *)calib__malloc(n * (k + 1) * sizeof(double));
  if (!p->wt || !p->Q || !p->MY || !p->gv || !p->ctheta || (p->method != CALIB_METHOD_VECTOR && !p->X))
    return CALIB_E_NOMEM;
  return CALIB_OK;
}

static void fill_features(calib__mx_problem *p) {
  const size_t k = p->k, d = p->d;
  for (size_t i = 0; i < p->n; i++) {
    const float *zr = p->z + i * k;
    double *xr = p->X + i * d;
    const double shift = p->method == CALIB_METHOD_DIRICHLET ? calib__row_lse(zr, k) : 0.0;
    for (size_t j = 0; j < k; j++) xr[j] = (double)zr[j] - shift;
    xr[k] = 1.0;
  }
}

/* Features whose RMS is within [1/16, 16] are used as they are. */
#define PLAIN_SCALE 16.0

/* The feature scale fs (mx_internal.h), from the unscaled features (X when
 * it exists, else the logits): 1, or 2^-e with their RMS (logits;
 * Dirichlet: log-probabilities) in
 * [2^(e-1), 2^e) when it is outside [1/16, 16]. A power of two, so scaling
 * is exact and logits x c (c a power of two) give the solver the same
 * features, gradients, Hessian and stopping test for every c. */
static double feature_scale(const calib__mx_problem *p) {
  double ss = 0;
  for (size_t i = 0; i < p->n; i++)
    for (size_t j = 0; j < p->k; j++) {
      const double v = p->X ? p->X[i * p->d + j] : (double)p->z[i * p->k + j];
      ss += v * v;
    }
  const double rms = sqrt(ss / (double)p->n / (double)p->k);
  if (!(rms > 0 && rms < HUGE_VAL) || (rms >= 1 / PLAIN_SCALE && rms <= PLAIN_SCALE)) return 1.0;
  int e;
  (void)frexp(rms, &e);
  return ldexp(1.0, -e);
}

static void fill_label_moments(calib__mx_problem *p) {
  const size_t k = p->k, d = p->d;
  for (size_t i = 0; i < p->n; i++) {
    const size_t a = (size_t)p->y[i];
    double *m = p->MY + a * d;
    if (p->method == CALIB_METHOD_VECTOR) {
      m[0] += p->wt[i] * (double)p->z[i * k + a] * p->fs;
      m[1] += p->wt[i];
    } else {
      for (size_t j = 0; j < d; j++) m[j] += p->wt[i] * p->X[i * d + j];
    }
  }
}

int calib__mx_setup(calib__mx_problem *p, int method, const calib__fit_data *d,
                    const double *opt) {
  memset(p, 0, sizeof *p);
  p->method = method;
  p->n = d->n;
  p->k = d->k;
  p->d = method == CALIB_METHOD_VECTOR ? 2 : d->k + 1;
  p->P = p->k * p->d;
  p->z = d->x;
  p->y = d->y;
  p->rows = calib__mx_softmax_kernel();
  int st = alloc_arrays(p);
  if (st != CALIB_OK) {
    calib__mx_release(p);
    return st;
  }
  for (size_t i = 0; i < p->n; i++) p->wt[i] = (d->w ? d->w[i] : 1.0) / d->wsum;
  if (p->X) fill_features(p);
  p->fs = feature_scale(p);
  p->fs2 = p->fs * p->fs;
  if (p->X && p->fs != 1.0) /* exact: fs is a power of two */
    for (size_t i = 0; i < p->n; i++)
      for (size_t j = 0; j < p->k; j++) p->X[i * p->d + j] *= p->fs;
  fill_label_moments(p);
  const double k = (double)p->k;
  p->lam = method == CALIB_METHOD_VECTOR ? 0.0 : opt[CALIB_P_ODIR_LAMBDA] / (k * (k - 1));
  p->mu = opt[CALIB_P_ODIR_MU] / k;
  p->l2 = opt[CALIB_P_L2] / (double)p->P;
  p->l2_center = opt[CALIB_P_L2_CENTER] != 0;
  return CALIB_OK;
}

void calib__mx_release(calib__mx_problem *p) {
  calib__free(p->wt);
  calib__free(p->Q);
  calib__free(p->MY);
  calib__free(p->X);
  calib__free(p->gv);
  calib__free(p->ctheta);
  p->wt = p->Q = p->MY = p->X = p->gv = p->ctheta = NULL;
  p->cvalid = 0;
  calib__mx_fast_free(p);
}

void calib__mx_identity(const calib__mx_problem *p, double *theta) {
  memset(theta, 0, p->P * sizeof(double));
  for (size_t a = 0; a < p->k; a++)
    theta[a * p->d + (p->method == CALIB_METHOD_VECTOR ? 0 : a)] = 1.0 / p->fs;
}

void calib__mx_start(const calib__mx_problem *p, double *theta) {
  memset(theta, 0, p->P * sizeof(double));
  for (size_t a = 0; a < p->k; a++)
    theta[a * p->d + (p->method == CALIB_METHOD_VECTOR ? 0 : a)] = 1.0;
}

double calib__mx_absmax(const double *g, size_t len) {
  double m = 0;
  for (size_t i = 0; i < len; i++)
    if (!(fabs(g[i]) <= m)) m = fabs(g[i]);
  return m;
}

/* Rows i0..i0+m-1 of Q = output logits of theta. */
static void forward(calib__mx_problem *p, const double *theta, size_t i0, size_t m) {
  const size_t k = p->k, d = p->d;
  double *Q = p->Q + i0 * k;
  if (p->method != CALIB_METHOD_VECTOR) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)k, (int)d, 1.0,
                p->X + i0 * d, (int)d, theta, (int)d, 0.0, Q, (int)k);
    return;
  }
  const float *z = p->z + i0 * k;
  for (size_t i = 0; i < m; i++)
    for (size_t a = 0; a < k; a++)
      Q[i * k + a] = theta[2 * a] * ((double)z[i * k + a] * p->fs) + theta[2 * a + 1];
}

/* g (+)= sum over rows i0..i0+m-1 of q_ia f_ia (overwrites g when first). */
static void gradient(const calib__mx_problem *p, size_t i0, size_t m, double *g, int first) {
  const size_t k = p->k, d = p->d;
  const double *Q = p->Q + i0 * k;
  if (p->method != CALIB_METHOD_VECTOR) {
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)d, (int)m, 1.0, Q, (int)k,
                p->X + i0 * d, (int)d, first ? 0.0 : 1.0, g, (int)d);
    return;
  }
  if (first) memset(g, 0, p->P * sizeof(double));
  const float *z = p->z + i0 * k;
  for (size_t i = 0; i < m; i++)
    for (size_t a = 0; a < k; a++) {
      const double q = Q[i * k + a];
      g[2 * a] += q * ((double)z[i * k + a] * p->fs);
      g[2 * a + 1] += q;
    }
}

/* Penalty coefficient of parameter (a, j) and its centre, in the solver's
 * units: a weight W = theta fs has the centre 1/fs and every coefficient of
 * it (ODIR and l2) is multiplied by fs2 (pen_weight), so the penalty is
 * calib.h's, of the model's W. */
static double pen_coef(const calib__mx_problem *p, size_t a, size_t j, double *center) {
  const int bias = j == p->d - 1;
  const int diag = p->method == CALIB_METHOD_VECTOR ? j == 0 : j == a;
  *center = p->l2_center && diag ? 1.0 / p->fs : 0.0;
  if (bias) return p->mu;
  return diag ? 0.0 : p->lam;
}

/* The factor on both penalty coefficients of column j: fs2 for weights, 1
 * for the intercept. */
static double pen_weight(const calib__mx_problem *p, size_t j) {
  return j == p->d - 1 ? 1.0 : p->fs2;
}

/* The gauge shift v minimising the penalty of theta + 1 v^T (see
 * mx_internal.h): per column j, v_j = -sum_a [c_aj theta_aj + l2 (theta_aj -
 * centre_aj)] / sum_a (c_aj + l2), or 0 for a column nothing penalises. For
 * vector scaling only the intercept column is a symmetry. */
/* Columns per pass of the column sums below: theta is k rows of d, so a
 * column at a time strides d doubles per entry (at k = 1000 a cache miss
 * each, ~1 s of a Dirichlet fit); GAUGE_CHUNK columns at a time read each
 * row's chunk contiguously, and every column still sums over the classes in
 * the same order (the same result to the bit). */
#define GAUGE_CHUNK ((size_t)64)

/* Over the columns [j0, j0 + nj) of v (k rows of d), summed over the classes
 * in order: plain (not NULL) sum_a v_aj; pen (not NULL) sum_a [c_aj v_aj +
 * l2 (v_aj - centre_aj)]; den (not NULL) sum_a (c_aj + l2), the column's
 * penalty curvature. */
static void column_sums(const calib__mx_problem *p, const double *v, size_t j0, size_t nj, double *plain,
                        double *pen, double *den) {
  const size_t k = p->k, d = p->d;
  for (size_t jj = 0; jj < nj; jj++) {
    if (plain) plain[jj] = 0.0;
    if (pen) pen[jj] = 0.0;
    if (den) den[jj] = 0.0;
  }
  for (size_t a = 0; a < k; a++) {
    const double *va = v + a * d + j0;
    for (size_t jj = 0; jj < nj; jj++) {
      if (plain) plain[jj] += va[jj];
      if (pen || den) {
        double c;
        const double coef = pen_coef(p, a, j0 + jj, &c);
        if (pen) pen[jj] += coef * va[jj] + p->l2 * (va[jj] - c);
        if (den) den[jj] += coef + p->l2;
      }
    }
  }
}

static void gauge_shift(const calib__mx_problem *p, const double *theta, double *v) {
  for (size_t j0 = 0; j0 < p->d; j0 += GAUGE_CHUNK) {
    const size_t nj = p->d - j0 < GAUGE_CHUNK ? p->d - j0 : GAUGE_CHUNK;
    double num[GAUGE_CHUNK], den[GAUGE_CHUNK];
    column_sums(p, theta, j0, nj, NULL, num, den);
    for (size_t jj = 0; jj < nj; jj++) v[j0 + jj] = den[jj] > 0 ? -num[jj] / den[jj] : 0.0;
  }
  if (p->method == CALIB_METHOD_VECTOR) v[0] = 0.0; /* not a symmetry */
}

void calib__mx_gauge_fix(const calib__mx_problem *p, double *theta) {
  if (!p->gv) return;
  gauge_shift(p, theta, p->gv);
  for (size_t a = 0; a < p->k; a++)
    for (size_t j = 0; j < p->d; j++) theta[a * p->d + j] += p->gv[j];
}

static double penalty(const calib__mx_problem *p, const double *theta, double *g) {
  if (p->lam == 0 && p->mu == 0 && p->l2 == 0) return 0.0;
  if (p->gauge) gauge_shift(p, theta, p->gv);
  double r = 0;
  for (size_t a = 0; a < p->k; a++)
    for (size_t j = 0; j < p->d; j++) {
      const size_t i = a * p->d + j;
      double c;
      const double coef = pen_coef(p, a, j, &c), t = theta[i] + (p->gauge ? p->gv[j] : 0.0);
      const double pw = pen_weight(p, j);
      r += pw * (coef * t * t + p->l2 * (t - c) * (t - c));
      if (g) g[i] += 2 * pw * (coef * t + p->l2 * (t - c));
    }
  return r;
}

/* NLL and (g != NULL) its gradient in double: fused blocks of forward dgemm,
 * row pass and gradient dgemm. */
static double eval_double(calib__mx_problem *p, const double *theta, double *g) {
  double nll = 0;
  for (size_t i0 = 0; i0 < p->n; i0 += EVAL_BLOCK) {
    const size_t m = p->n - i0 < EVAL_BLOCK ? p->n - i0 : EVAL_BLOCK;
    forward(p, theta, i0, m);
    nll += p->rows(p->Q + i0 * p->k, m, p->k, p->y + i0, p->wt + i0);
    if (!isfinite(nll)) return HUGE_VAL;
    if (g) gradient(p, i0, m, g, i0 == 0);
  }
  if (g)
    for (size_t j = 0; j < p->P; j++) g[j] -= p->MY[j];
  return nll;
}

double calib__mx_eval_diag(calib__mx_problem *p, const double *theta) {
  const size_t k = p->k, d = p->d;
  p->cvalid = 0; /* Q no longer describes the cached theta */
  double nll = 0;
  for (size_t i0 = 0; i0 < p->n; i0 += EVAL_BLOCK) {
    const size_t m = p->n - i0 < EVAL_BLOCK ? p->n - i0 : EVAL_BLOCK;
    double *Q = p->Q + i0 * k;
    for (size_t i = 0; i < m; i++) {
      const double *x = p->X + (i0 + i) * d;
      for (size_t a = 0; a < k; a++) Q[i * k + a] = theta[a * d + a] * x[a] + theta[a * d + d - 1] * x[d - 1];
    }
    nll += p->rows(Q, m, k, p->y + i0, p->wt + i0);
    if (!isfinite(nll)) return p->nll = HUGE_VAL;
  }
  return p->nll = nll;
}

double calib__mx_eval(calib__mx_problem *p, const double *theta, double *g) {
  const size_t P = p->P;
  const int cacheable = !p->fast && !p->gauge && p->ctheta;
  if (cacheable && p->cvalid > (g ? 1 : 0) && memcmp(theta, p->ctheta, P * sizeof(double)) == 0) {
    if (g) memcpy(g, p->ctheta + P, P * sizeof(double));
    p->nll = p->cnll; /* Q, written by that evaluation, still describes theta */
    return p->cval;
  }
  p->cvalid = 0;
  const double nll = p->fast ? calib__mx_eval_fast_nll(p, theta, g) : eval_double(p, theta, g);
  p->nll = nll;
  if (!isfinite(nll)) return HUGE_VAL;
  const double val = nll + penalty(p, theta, g);
  if (cacheable) {
    memcpy(p->ctheta, theta, P * sizeof(double));
    if (g) memcpy(p->ctheta + P, g, P * sizeof(double));
    p->cval = val;
    p->cnll = nll;
    p->cvalid = g ? 2 : 1;
  }
  return val;
}

/* ---- Hessian --------------------------------------------------------------- */

static size_t chunk_rows(const calib__mx_problem *p) {
  size_t m = HESS_CHUNK_DOUBLES / p->P;
  if (m < 1) m = 1;
  return m < p->n ? m : p->n;
}

size_t calib__mx_hessian_scratch(const calib__mx_problem *p) { return chunk_rows(p) * p->P; }

/* Fills Z (m x P) for rows i0..i0+m-1: Z_i = (q_ia f_ia)_a / sqrt(wt_i). */
static void outer_rows(const calib__mx_problem *p, size_t i0, size_t m, double *Z) {
  const size_t k = p->k, d = p->d, P = p->P;
  for (size_t r = 0; r < m; r++) {
    const size_t i = i0 + r;
    double *zr = Z + r * P;
    if (!(p->wt[i] > 0)) {
      memset(zr, 0, P * sizeof(double));
      continue;
    }
    const double s = 1.0 / sqrt(p->wt[i]);
    for (size_t a = 0; a < k; a++) {
      const double q = p->Q[i * k + a] * s;
      if (p->method == CALIB_METHOD_VECTOR) {
        zr[2 * a] = q * ((double)p->z[i * k + a] * p->fs);
        zr[2 * a + 1] = q;
      } else {
        for (size_t j = 0; j < d; j++) zr[a * d + j] = q * p->X[i * d + j];
      }
    }
  }
}

/* Block diagonal sum_i q_ia f_ia f_ia^T for rows i0..i0+m-1 (T: m x d scratch). */
static void diag_blocks(const calib__mx_problem *p, size_t i0, size_t m, double *H, double *T) {
  const size_t k = p->k, d = p->d, P = p->P;
  if (p->method == CALIB_METHOD_VECTOR) {
    for (size_t i = i0; i < i0 + m; i++)
      for (size_t a = 0; a < k; a++) {
        const double q = p->Q[i * k + a], z = (double)p->z[i * k + a] * p->fs;
        H[(2 * a) * P + 2 * a] += q * z * z;
        H[(2 * a + 1) * P + 2 * a] += q * z;
        H[(2 * a + 1) * P + 2 * a + 1] += q;
      }
    return;
  }
  for (size_t a = 0; a < k; a++) {
    for (size_t r = 0; r < m; r++) {
      const double s = sqrt(p->Q[(i0 + r) * k + a]);
      for (size_t j = 0; j < d; j++) T[r * d + j] = s * p->X[(i0 + r) * d + j];
    }
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)m, 1.0, T, (int)d, 1.0,
                H + a * d * P + a * d, (int)P);
  }
}

void calib__mx_hessian(const calib__mx_problem *p, const double *theta, double *H,
                       double *scratch) {
  const size_t P = p->P, mrows = chunk_rows(p);
  CALIB__UNUSED(theta);
  memset(H, 0, P * P * sizeof(double));
  for (size_t i0 = 0; i0 < p->n; i0 += mrows) {
    const size_t m = p->n - i0 < mrows ? p->n - i0 : mrows;
    diag_blocks(p, i0, m, H, scratch);
    outer_rows(p, i0, m, scratch);
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)P, (int)m, -1.0, scratch, (int)P,
                1.0, H, (int)P);
  }
  for (size_t a = 0; a < p->k; a++)
    for (size_t j = 0; j < p->d; j++) {
      double c;
      const size_t i = a * p->d + j;
      H[i * P + i] += 2 * pen_weight(p, j) * (pen_coef(p, a, j, &c) + p->l2);
    }
}

/* ---- what the solvers' certificates need (mx_newton.c, mx_lbfgs.c, mx_gap.c) -- */

size_t calib__mx_null_gauge(const calib__mx_problem *p, double *U) {
  size_t m = 0;
  const double s = 1.0 / sqrt((double)p->k);
  for (size_t j = 0; j < p->d; j++) {
    if (p->method == CALIB_METHOD_VECTOR && j == 0) continue; /* not a symmetry */
    double curv = 0;
    for (size_t a = 0; a < p->k; a++) {
      double c;
      curv += pen_coef(p, a, j, &c) + p->l2;
    }
    if (curv != 0) continue;
    if (U) {
      double *u = U + m * p->P;
      memset(u, 0, p->P * sizeof(double));
      for (size_t a = 0; a < p->k; a++) u[a * p->d + j] = s;
    }
    m++;
  }
  return m;
}

void calib__mx_gauge_project(const calib__mx_problem *p, double *v, int flat_only) {
  const size_t k = p->k, d = p->d;
  for (size_t j0 = 0; j0 < d; j0 += GAUGE_CHUNK) { /* see gauge_shift */
    const size_t nj = d - j0 < GAUGE_CHUNK ? d - j0 : GAUGE_CHUNK;
    double m[GAUGE_CHUNK], curv[GAUGE_CHUNK] = {0};
    column_sums(p, v, j0, nj, m, NULL, flat_only ? curv : NULL);
    for (size_t jj = 0; jj < nj; jj++) {
      const int skip = (p->method == CALIB_METHOD_VECTOR && j0 + jj == 0) || curv[jj] != 0;
      m[jj] = skip ? 0.0 : m[jj] / (double)k;
    }
    for (size_t a = 0; a < k; a++) {
      double *va = v + a * d + j0;
      for (size_t jj = 0; jj < nj; jj++) va[jj] -= m[jj];
    }
  }
}

size_t calib__mx_hessvec_scratch(const calib__mx_problem *p) {
  return (p->n < EVAL_BLOCK ? p->n : EVAL_BLOCK) * p->k;
}

void calib__mx_hessvec(const calib__mx_problem *p, const double *v, double *out, double *A) {
  const size_t k = p->k, d = p->d;
  memset(out, 0, p->P * sizeof(double));
  for (size_t i0 = 0; i0 < p->n; i0 += EVAL_BLOCK) {
    const size_t m = p->n - i0 < EVAL_BLOCK ? p->n - i0 : EVAL_BLOCK;
    const float *z = p->z + i0 * k;
    /* A = directional derivative of the output logits */
    if (p->method != CALIB_METHOD_VECTOR)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)k, (int)d, 1.0,
                  p->X + i0 * d, (int)d, v, (int)d, 0.0, A, (int)k);
    else
      for (size_t i = 0; i < m; i++)
        for (size_t a = 0; a < k; a++)
          A[i * k + a] = v[2 * a] * ((double)z[i * k + a] * p->fs) + v[2 * a + 1];
    /* R_ia = q_ia (A_ia - sum_c q_ic A_ic / wt_i) */
    for (size_t i = 0; i < m; i++) {
      const double *q = p->Q + (i0 + i) * k, wt = p->wt[i0 + i];
      double *r = A + i * k;
      if (!(wt > 0)) {
        memset(r, 0, k * sizeof(double));
        continue;
      }
      calib__mx_curv4(r, q, calib__mx_dot4(q, r, k) / wt, k);
    }
    if (p->method != CALIB_METHOD_VECTOR) {
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)d, (int)m, 1.0, A, (int)k,
                  p->X + i0 * d, (int)d, 1.0, out, (int)d);
    } else {
      for (size_t i = 0; i < m; i++)
        for (size_t a = 0; a < k; a++) {
          out[2 * a] += A[i * k + a] * ((double)z[i * k + a] * p->fs);
          out[2 * a + 1] += A[i * k + a];
        }
    }
  }
  calib__mx_penalty_hessvec(p, v, out);
}

void calib__mx_penalty_hessvec(const calib__mx_problem *p, const double *v, double *out) {
  for (size_t a = 0; a < p->k; a++)
    for (size_t j = 0; j < p->d; j++) {
      double c;
      const size_t i = a * p->d + j;
      out[i] += 2 * pen_weight(p, j) * (pen_coef(p, a, j, &c) + p->l2) * v[i];
    }
}
