/* mx_topm.c -- per-class blocks from each class's heaviest rows: the
 * preconditioner of mx_ncg.c's Newton-CG solves beyond BJ_MAX_K classes on
 * penalised matrix/Dirichlet fits (ODIR, l2).
 *
 * Class a's block of the Hessian is H_aa = sum_i h_ia f_i f_i^T + diag(c_a)
 * (h_ia the row's softmax curvature, c_aj the penalty curvature of entry
 * (a, j)); beyond BJ_MAX_K its k n d^2 flops a build are hundreds of
 * products. Here each class keeps only its m = CALIB__TM_ROWS rows of
 * largest h_ia (all rows when n is smaller):
 *     M_a = G_a^T G_a + D_a,   G_a = the m rows sqrt(h_ia) f_i (m x d),
 *                              D_a = diag(c_a),
 * which is below H_aa (rows left out only lower it: mx_ncg.c's stop test
 * needs M no larger than its blocks) and, with m < d, is applied through
 * Woodbury's identity instead of a d x d factor.
 *
 * Why: a numpy prototype (bench/proto_precond.py, bench/README "Run 23")
 * counted the CG steps to 1e-3 on the Hessian at the k = 500 optimum: 49 / 30
 * with mx_kfac.c's Kronecker M, 14 / 16 with the top 2.5 % of the rows a
 * class. In the library, on bench_matrix_scale.py's k = 1000 Dirichlet ODIR
 * fit (n = 10000), the Newton-CG phase after the warm start took 25-32
 * products instead of 98 for m = 32 to 256 (32: 32, 64: 29, 96: 26, 128:
 * 25, 256: 21), 10.8-11.4 s for m = 32-96, 15 s at 128, 17.9 s at 256 (the
 * apply and the build grow with m), against 30.6 s with the Kronecker M;
 * the fit went from 66-71 s to 48-50 s. m = 64 keeps the
 * factors at 35 MB there. As L-BFGS's H0 in the warm start (mx_warm.c)
 * these blocks were worse than the Kronecker M (204 iterations and 109 s
 * instead of 84 and 35 s: far from the optimum the classes' coupling, which
 * blocks lack, matters), so the warm start keeps mx_kfac.c's. Handing over
 * to Newton-CG earlier did not pay either (warm start to 10 tol or 1000 tol
 * instead of tol / 10: 67 and 94 s).
 *
 * The penalised coordinates p of class a (c_aj > TM_PEN_MIN times G's
 * column norm^2) go through Woodbury with Cp = I + Gp Dp^-1 Gp^T (m x m,
 * Cholesky; >= I, so always definite); the few unpenalised ones u (ODIR
 * leaves W_aa free: one a class; at most CALIB__TM_MAX_U) through their
 * Schur complement S = Gu^T Cp^-1 Gu + ridge (u x u) -- a floor on D there
 * would make Woodbury subtract two numbers of size 1 / floor. With
 * B = Cp^-1 Gu and y = Gp Dp^-1 r_p, the solve of M_a z = r is
 *     z_u = S^-1 (r_u - B^T y),   z_p = Dp^-1 (r_p - Gp^T (Cp^-1 y + B z_u)),
 * (push-through: Gp (Dp + Gp^T Gp)^-1 = Cp^-1 Gp Dp^-1): the class's m rows
 * of X gathered (the float copy where the fit has one, then sgemv), two
 * GEMVs over them and two m x m triangular solves. Storage: k (m (m + U +
 * 2) + U^2) doubles and P for Dp^-1 (35 MB at k = 1000, m = 64). A class
 * with more than CALIB__TM_MAX_U unpenalised coordinates (unregularised
 * fits: all of them) fails the build (CALIB_E_NOCONV): mx_ncg.c then keeps
 * mx_kfac.c's M.
 */
#include "mx_internal.h"
#include "checked.h"
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TM_PEN_MIN 1e-8
#define TM_RIDGE 1e-12

void calib__mx_topm_free(calib__mx_topm *t) {
  calib__free(t->dbl);
  calib__free(t->rows);
  calib__free(t->hk);
  calib__free(t->ui);
  calib__free(t->cnt);
  memset(t, 0, sizeof *t);
}

int calib__mx_topm_alloc(calib__mx_topm *t, const calib__mx_problem *p) {
  const size_t k = p->k, d = p->d, m = p->n < CALIB__TM_ROWS ? p->n : CALIB__TM_ROWS, U = CALIB__TM_MAX_U;
  memset(t, 0, sizeof *t);
  t->k = k;
  t->d = d;
  t->m = m;
  /* doubles: per class Lc (m m), B (m U), Ls (U U), sh (m); then Dinv (P),
   * the gather block G (m d) and the scratch y, c (m each), tv (d), zu (U),
   * tv2 (d + m) */
  size_t per, cls, gd, nd, nr, nh, nb;
  if (!calib__size_mul3(m, m + U + 1, 1, &per) || !calib__size_mul3(k, per + U * U, 1, &cls) ||
      !calib__size_mul3(m, d, 1, &gd) || cls > CALIB__MAX_ALLOC / 4 || gd > CALIB__MAX_ALLOC / 4 ||
      !calib__size_mul3(cls + p->P + gd + 3 * m + 2 * d + U, 1, sizeof(double), &nd) || nd > CALIB__MAX_ALLOC ||
      !calib__size_mul3(k, m, sizeof(uint32_t), &nr) || !calib__size_mul3(k, m, sizeof(float), &nh) ||
      !calib__size_mul3(k, U + 1, sizeof(uint32_t), &nb) || p->n > UINT32_MAX)
    return CALIB_E_NOMEM;
  t->dbl = (double *)calib__malloc(nd);
  t->rows = (uint32_t *)calib__malloc(nr);
  t->hk = (float *)calib__malloc(nh);
  t->ui = (uint32_t *)calib__malloc(nb);
  t->cnt = (size_t *)calib__malloc(k * sizeof(size_t)); /* k <= P: no overflow */
  if (!t->dbl || !t->rows || !t->hk || !t->ui || !t->cnt) {
    calib__mx_topm_free(t);
    return CALIB_E_NOMEM;
  }
  t->nu = t->ui + k * U;
  t->Lc = t->dbl;
  t->B = t->Lc + k * m * m;
  t->Ls = t->B + k * m * U;
  t->sh = t->Ls + k * U * U;
  t->Dinv = t->sh + k * m;
  t->G = t->Dinv + p->P;
  t->y = t->G + m * d;
  t->c = t->y + m;
  t->tv = t->c + m;
  t->zu = t->tv + d;
  t->tv2 = t->zu + U;
  return CALIB_OK;
}

/* ---- the rows: a min-heap of (h, row) of at most m entries a class ---------- */

static void sift_down(float *h, uint32_t *ix, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, s = i;
    if (l < n && h[l] < h[s]) s = l;
    if (l + 1 < n && h[l + 1] < h[s]) s = l + 1;
    if (s == i) return;
    const float th = h[i];
    const uint32_t ti = ix[i];
    h[i] = h[s], ix[i] = ix[s];
    h[s] = th, ix[s] = ti;
    i = s;
  }
}

static void heap_push(float *h, uint32_t *ix, size_t *cnt, size_t m, float v, uint32_t i) {
  if (*cnt < m) { /* sift up */
    size_t c = (*cnt)++;
    while (c > 0 && h[(c - 1) / 2] > v) {
      h[c] = h[(c - 1) / 2], ix[c] = ix[(c - 1) / 2];
      c = (c - 1) / 2;
    }
    h[c] = v, ix[c] = i;
  } else if (v > h[0]) {
    h[0] = v, ix[0] = i;
    sift_down(h, ix, m, 0);
  }
}

static int cmp_u32(const void *a, const void *b) {
  const uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

/* each class's m rows of largest h_ia (rows of h = 0 never: they add
 * nothing), in ascending row order (apply reads X in memory order), sh =
 * sqrt(h); a class with fewer is padded with sh = 0, which marks padding
 * everywhere below */
static void select_rows(calib__mx_topm *t, const calib__mx_problem *p) {
  const size_t k = p->k, m = t->m;
  size_t *cnt = t->cnt;
  for (size_t a = 0; a < k; a++) cnt[a] = 0;
  for (size_t i = 0; i < p->n; i++)
    for (size_t a = 0; a < k; a++) {
      const double h = calib__mx_row_curv(p, i, a);
      if (h > 0) heap_push(t->hk + a * m, t->rows + a * m, cnt + a, m, (float)h, (uint32_t)i);
    }
  for (size_t a = 0; a < k; a++) {
    uint32_t *ra = t->rows + a * m;
    qsort(ra, cnt[a], sizeof *ra, cmp_u32);
    for (size_t r = 0; r < cnt[a]; r++) t->sh[a * m + r] = sqrt(calib__mx_row_curv(p, ra[r], a));
    for (size_t r = cnt[a]; r < m; r++) t->sh[a * m + r] = 0.0, ra[r] = 0; /* padding: adds nothing */
  }
}

static inline const float *row_f(const calib__mx_problem *p, size_t i) { return p->Xf + i * p->d; }
static inline const double *row_d(const calib__mx_problem *p, size_t i) { return p->X + i * p->d; }

/* The build's G = the class's rows sqrt(h) f_i in double (m x d; padding
 * rows zero), whichever copy of X the fit has: the factors are formed in
 * double. (gather_x below gathers the same rows unscaled, in X's own type,
 * for the apply's GEMVs.) */
static void gather(calib__mx_topm *t, const calib__mx_problem *p, size_t a) {
  const size_t d = t->d, m = t->m;
  for (size_t r = 0; r < m; r++) {
    double *g = t->G + r * d;
    const size_t i = t->rows[a * m + r];
    const double s = t->sh[a * m + r];
    if (s == 0) { /* padding */
      memset(g, 0, d * sizeof(double));
      continue;
    }
    if (t->xf) {
      const float *x = row_f(p, i);
      for (size_t j = 0; j < d; j++) g[j] = s * (double)x[j];
    } else {
      const double *x = row_d(p, i);
      for (size_t j = 0; j < d; j++) g[j] = s * x[j];
    }
  }
}

/* Class a's factors from G: u-set, Dinv, Cp's Cholesky, B, S's Cholesky. */
static int factor_class(calib__mx_topm *t, size_t a, const double *pc) {
  const size_t d = t->d, m = t->m, U = CALIB__TM_MAX_U;
  double *G = t->G, *Da = t->Dinv + a * d, *L = t->Lc + a * m * m, *B = t->B + a * m * U;
  uint32_t *ui = t->ui + a * U;
  size_t nu = 0;
  for (size_t j = 0; j < d; j++) {
    double cn = 0;
    for (size_t r = 0; r < m; r++) cn += G[r * d + j] * G[r * d + j];
    const double c = pc[a * d + j];
    if (c > TM_PEN_MIN * cn && c > 0) {
      Da[j] = 1.0 / c;
      continue;
    }
    if (nu == U) return CALIB_E_NOCONV; /* too many unpenalised coordinates */
    Da[j] = 0.0;
    ui[nu++] = (uint32_t)j;
  }
  t->nu[a] = (uint32_t)nu;
  /* B's columns: Gu before G is scaled */
  for (size_t r = 0; r < m; r++)
    for (size_t q = 0; q < nu; q++) B[r * U + q] = G[r * d + ui[q]];
  for (size_t r = 0; r < m; r++)
    for (size_t j = 0; j < d; j++) G[r * d + j] *= sqrt(Da[j]);
  cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)m, (int)d, 1.0, G, (int)d, 0.0, L, (int)m);
  for (size_t r = 0; r < m; r++) L[r * m + r] += 1.0;
  if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)m, L, (lapack_int)m) != 0) return CALIB_E_NOCONV;
  if (!nu) return CALIB_OK;
  double Gu[CALIB__TM_MAX_U * CALIB__TM_ROWS], S[CALIB__TM_MAX_U * CALIB__TM_MAX_U], tr = 0;
  memcpy(Gu, B, m * U * sizeof(double));
  if (LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', (lapack_int)m, (lapack_int)nu, L, (lapack_int)m, B, (lapack_int)U) != 0)
    return CALIB_E_NOCONV;
  for (size_t q = 0; q < nu; q++)
    for (size_t s = 0; s < nu; s++) {
      double v = 0;
      for (size_t r = 0; r < m; r++) v += Gu[r * U + q] * B[r * U + s];
      S[q * nu + s] = v;
    }
  for (size_t q = 0; q < nu; q++) tr += S[q * nu + q];
  double rg = TM_RIDGE * tr / (double)nu;
  if (!(rg > 0)) rg = 1e-300;
  double *Ls = t->Ls + a * U * U;
  for (int attempt = 0; attempt < 40; attempt++, rg *= 100) {
    memcpy(Ls, S, nu * nu * sizeof(double));
    for (size_t q = 0; q < nu; q++) Ls[q * nu + q] += rg;
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)nu, Ls, (lapack_int)nu) == 0) return CALIB_OK;
  }
  return CALIB_E_NOCONV;
}

int calib__mx_topm_build(calib__mx_topm *t, const calib__mx_problem *p, const double *pc) {
  t->xf = p->Xf != NULL;
  select_rows(t, p);
  for (size_t a = 0; a < p->k; a++) {
    gather(t, p, a);
    const int st = factor_class(t, a, pc);
    if (st != CALIB_OK) return st;
  }
  return CALIB_OK;
}

/* The class's m rows of X (unscaled; padding rows zero) into t->G: floats
 * where the build read p->Xf (then G holds m d floats), else doubles. A copy
 * of m rows a class on every apply (the GEMVs need them contiguous); keeping
 * them gathered from the build would cost k m d floats (256 MB at k = 1000)
 * for a copy that is a small part of an apply. */
static void gather_x(calib__mx_topm *t, const calib__mx_problem *p, size_t a) {
  const size_t d = t->d, m = t->m;
  for (size_t r = 0; r < m; r++) {
    const int pad = t->sh[a * m + r] == 0;
    const size_t i = t->rows[a * m + r];
    if (t->xf) {
      float *g = (float *)t->G + r * d;
      if (pad) memset(g, 0, d * sizeof(float));
      else memcpy(g, row_f(p, i), d * sizeof(float));
    } else {
      double *g = t->G + r * d;
      if (pad) memset(g, 0, d * sizeof(double));
      else memcpy(g, row_d(p, i), d * sizeof(double));
    }
  }
}

/* y = sh o (X_a v) (m), with X_a the gathered rows in t->G */
static void rows_dot(calib__mx_topm *t, size_t a, const double *v, double *y) {
  const size_t d = t->d, m = t->m;
  const double *sh = t->sh + a * m;
  if (t->xf) {
    float *vf = (float *)t->tv2, *yf = vf + d;
    for (size_t j = 0; j < d; j++) vf[j] = (float)v[j];
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)d, 1.0f, (const float *)t->G, (int)d, vf, 1, 0.0f, yf,
                1);
    for (size_t r = 0; r < m; r++) y[r] = sh[r] * (double)yf[r];
  } else {
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)d, 1.0, t->G, (int)d, v, 1, 0.0, y, 1);
    for (size_t r = 0; r < m; r++) y[r] *= sh[r];
  }
}

/* v -= X_a^T (sh o c) */
static void rows_axpy(calib__mx_topm *t, size_t a, const double *c, double *v) {
  const size_t d = t->d, m = t->m;
  const double *sh = t->sh + a * m;
  if (t->xf) {
    float *cf = (float *)t->tv2, *of = cf + m;
    for (size_t r = 0; r < m; r++) cf[r] = (float)(c[r] * sh[r]);
    cblas_sgemv(CblasRowMajor, CblasTrans, (int)m, (int)d, 1.0f, (const float *)t->G, (int)d, cf, 1, 0.0f, of, 1);
    for (size_t j = 0; j < d; j++) v[j] -= (double)of[j];
  } else {
    double *cs = t->tv2;
    for (size_t r = 0; r < m; r++) cs[r] = c[r] * sh[r];
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)m, (int)d, -1.0, t->G, (int)d, cs, 1, 1.0, v, 1);
  }
}

void calib__mx_topm_apply(calib__mx_topm *t, const calib__mx_problem *p, const double *r, double *z) {
  const size_t k = t->k, d = t->d, m = t->m, U = CALIB__TM_MAX_U;
  for (size_t a = 0; a < k; a++) {
    const double *ra = r + a * d, *Da = t->Dinv + a * d, *L = t->Lc + a * m * m, *B = t->B + a * m * U;
    const uint32_t *ui = t->ui + a * U;
    const size_t nu = t->nu[a];
    double *za = z + a * d, *tv = t->tv, *y = t->y, *c = t->c, *zu = t->zu;
    for (size_t j = 0; j < d; j++) tv[j] = Da[j] * ra[j];
    gather_x(t, p, a);
    rows_dot(t, a, tv, y); /* y = Gp Dp^-1 r_p */
    for (size_t q = 0; q < nu; q++) { /* z_u = S^-1 (r_u - B^T y) */
      double v = ra[ui[q]];
      for (size_t s = 0; s < m; s++) v -= B[s * U + q] * y[s];
      zu[q] = v;
    }
    if (nu) { /* Ls w = v, then Ls^T zu = w */
      const double *Ls = t->Ls + a * U * U;
      cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)nu, Ls, (int)nu, zu, 1);
      cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, (int)nu, Ls, (int)nu, zu, 1);
    }
    memcpy(c, y, m * sizeof(double)); /* c = Cp^-1 y + B z_u */
    cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)m, L, (int)m, c, 1);
    cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, (int)m, L, (int)m, c, 1);
    for (size_t s = 0; s < m; s++)
      for (size_t q = 0; q < nu; q++) c[s] += B[s * U + q] * zu[q];
    memcpy(tv, ra, d * sizeof(double)); /* z_p = Dp^-1 (r_p - Gp^T c) */
    rows_axpy(t, a, c, tv);
    for (size_t j = 0; j < d; j++) za[j] = Da[j] * tv[j];
    for (size_t q = 0; q < nu; q++) za[ui[q]] = zu[q];
  }
}

