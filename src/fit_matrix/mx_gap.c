/* mx_gap.c -- the condition number of the matrix family's Hessian at the end
 * of a fit, with the exactly flat gauge directions left out
 * (calib__mx_null_gauge): from the dense Hessian by power iteration on H and
 * on H^-1 through its Cholesky factor (Newton path; no LAPACK eigensolver:
 * OpenBLAS runs dsyevd's inner BLAS on its thread pool, and a fit must not
 * touch that pool from a caller's thread -- test_threads under TSan),
 * or by Lanczos on Hessian-vector products (L-BFGS path, where the Hessian
 * is never formed). See mx_internal.h for the contracts. */
#include "mx_internal.h"
#include <lapacke.h>
#include <math.h>
#include <string.h>

/* Power-iteration steps per extreme eigenvalue (the dense condition number). */
#define COND_POWER_STEPS 500

/* y = H x from the lower triangle of H (P x P): plain loops, P^2. */
static void symv(const double *H, size_t P, const double *x, double *y) {
  memset(y, 0, P * sizeof(double));
  for (size_t i = 0; i < P; i++) {
    const double *hi = H + i * P;
    double acc = 0;
    for (size_t j = 0; j < i; j++) {
      acc += hi[j] * x[j];
      y[j] += hi[j] * x[i];
    }
    y[i] += acc + hi[i] * x[i];
  }
}

static void orth(double *v, const double *B, size_t nb, size_t P);

/* The largest eigenvalue of the operator op (x -> y) on the complement of U,
 * by power iteration with Rayleigh quotients; v, y: P scratch. */
typedef void (*op_fn)(const void *ctx, const double *x, double *y);
static double power_max(op_fn op, const void *ctx, size_t P, const double *U, size_t m, double *v,
                        double *y) {
  for (size_t i = 0; i < P; i++) v[i] = 1.0 + 0.5 * sin(1.7 * (double)i + 0.3);
  double lam = 0;
  for (int it = 0; it < COND_POWER_STEPS; it++) {
    orth(v, U, m, P);
    const double nv = sqrt(calib__mx_dotv(v, v, P));
    if (!(nv > 0 && nv < HUGE_VAL)) return (double)NAN;
    for (size_t i = 0; i < P; i++) v[i] /= nv;
    op(ctx, v, y);
    const double next = calib__mx_dotv(v, y, P);
    memcpy(v, y, P * sizeof(double));
    if (it > 8 && fabs(next - lam) <= 1e-10 * fabs(next)) return next;
    lam = next;
  }
  return lam;
}

typedef struct {
  const double *H, *L;
  size_t P;
} dense_ctx;

static void op_h(const void *ctx, const double *x, double *y) {
  const dense_ctx *c = (const dense_ctx *)ctx;
  symv(c->H, c->P, x, y);
}

static void op_hinv(const void *ctx, const double *x, double *y) {
  const dense_ctx *c = (const dense_ctx *)ctx;
  memcpy(y, x, c->P * sizeof(double));
  (void)LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', (lapack_int)c->P, 1, c->L, (lapack_int)c->P, y, 1);
}

double calib__mx_cond_dense(const double *H, size_t P, const double *U, size_t m, double *work) {
  double *v = (double *)calib__malloc(2 * P * sizeof(double));
  if (!v || m >= P) {
    calib__free(v);
    return (double)NAN;
  }
  double maxdiag = 1.0;
  for (size_t i = 0; i < P; i++)
    if (H[i * P + i] > maxdiag) maxdiag = H[i * P + i];
  /* the factor of H + c U U^T (c = max diag: U's directions become definite
   * and stay out of the way), undamped, else at the Newton solver's first
   * damping: failing both, H is singular to double precision */
  int ok = 0;
  for (int attempt = 0; attempt < 2 && !ok; attempt++) {
    for (size_t i = 0; i < P; i++) memcpy(work + i * P, H + i * P, (i + 1) * sizeof(double));
    for (size_t r = 0; r < m; r++)
      for (size_t i = 0; i < P; i++)
        for (size_t j = 0; j <= i; j++) work[i * P + j] += maxdiag * U[r * P + i] * U[r * P + j];
    if (attempt) for (size_t i = 0; i < P; i++) work[i * P + i] += 1e-15 * maxdiag;
    ok = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)P, work, (lapack_int)P) == 0;
  }
  double c = (double)INFINITY;
  if (ok) {
    const dense_ctx ctx = {H, work, P};
    const double hi = power_max(op_h, &ctx, P, U, m, v, v + P);
    const double inv = power_max(op_hinv, &ctx, P, U, m, v, v + P); /* 1 / lambda_min */
    c = isnan(hi) || isnan(inv) ? (double)NAN : (inv > 0 ? hi * inv : (double)INFINITY);
  }
  calib__free(v);
  return c;
}



/* v -= (v . u) u for each orthonormal row u of B (nb rows of P). */
static void orth(double *v, const double *B, size_t nb, size_t P) {
  for (int pass = 0; pass < 2; pass++)
    for (size_t r = 0; r < nb; r++) {
      const double *u = B + r * P, c = calib__mx_dotv(v, u, P);
      for (size_t i = 0; i < P; i++) v[i] -= c * u[i];
    }
}

/* The float Lanczos run's estimate from its j x j tridiagonal (al, be) and
 * basis V: the extreme Ritz values (dstev, ascending; al and be copied to T
 * first, the vectors into Z = T + 2j, row-major), their ratio if it is at
 * most CALIB__LANCZOS_F32_MAX (within float's resolution); else the smallest
 * Ritz vector u = V^T z_0 (into w) and its Rayleigh quotient rho on one
 * double product, theta_max / rho when rho agrees with theta_min to
 * CALIB__LANCZOS_RQ_AGREE, NaN when it does not or on failure (mx_internal.h). */
static double ritz_estimate(const calib__mx_problem *p, const double *V, size_t j, const double *al,
                            const double *be, double *T, double *w) {
  const size_t P = p->P;
  double *e = T + j, *Z = T + 2 * j;
  memcpy(T, al, j * sizeof(double));
  memcpy(e, be, j * sizeof(double));
  if (LAPACKE_dstev(LAPACK_ROW_MAJOR, 'V', (lapack_int)j, T, e, Z, (lapack_int)j) != 0) return (double)NAN;
  const double lo = T[0], hi = T[j - 1];
  if (lo > 0 && hi / lo <= CALIB__LANCZOS_F32_MAX) return hi / lo;
  memset(w, 0, P * sizeof(double));
  for (size_t r = 0; r < j; r++) { /* column 0 of Z: the smallest value's vector */
    const double zr = Z[r * j];
    const double *v = V + r * P;
    for (size_t i = 0; i < P; i++) w[i] += zr * v[i];
  }
  calib__mx_gauge_project(p, w, 1);
  /* the double product's output and row-block scratch, only now */
  double *hu = (double *)calib__malloc(P * sizeof(double));
  double *A = (double *)calib__malloc(calib__mx_hessvec_scratch(p) * sizeof(double));
  double rq = (double)NAN;
  if (hu && A) {
    calib__mx_hessvec(p, w, hu, A);
    calib__mx_gauge_project(p, hu, 1);
    const double uu = calib__mx_dotv(w, w, P), uhu = calib__mx_dotv(w, hu, P);
    if (uu > 0) rq = uhu / uu;
  }
  calib__free(hu);
  calib__free(A);
  return rq > 0 && fabs(rq - lo) <= CALIB__LANCZOS_RQ_AGREE * rq ? hi / rq : (double)NAN;
}

/* Lanczos on H: double products, the ratio of the extreme Ritz values
 * (dsterf); or float products (f32), ritz_estimate's value. */
static double lanczos(const calib__mx_problem *p, const double *v0, int nsteps, int f32) {
  const size_t P = p->P, m = calib__mx_null_gauge(p, NULL);
  if (m >= P || nsteps < 2) return (double)NAN;
  size_t steps = P - m < (size_t)nsteps ? P - m : (size_t)nsteps;
  double *V = (double *)calib__malloc((steps + 1) * P * sizeof(double));
  double *w = (double *)calib__malloc(P * sizeof(double));
  /* the double products' row-block scratch (the float ones use p's buffers) */
  double *A = f32 ? NULL : (double *)calib__malloc(calib__mx_hessvec_scratch(p) * sizeof(double));
  /* al, be, and (f32) ritz_estimate's copy of each plus the tridiagonal's eigenvectors */
  const size_t na = 2 * (steps + 1) + (f32 ? 2 * (steps + 1) + steps * steps : 0);
  double *al = (double *)calib__malloc(na * sizeof(double));
  double c = (double)NAN;
  if (!V || !w || (!f32 && !A) || !al) goto done;
  double *be = al + steps + 1;
  /* the caller's start, or a deterministic one with weight on every
   * coordinate; off the gauge */
  for (size_t i = 0; i < P; i++) V[i] = v0 ? v0[i] : 1.0 + 0.5 * sin(1.7 * (double)i + 0.3);
  calib__mx_gauge_project(p, V, 1);
  double nv = sqrt(calib__mx_dotv(V, V, P));
  if (!(nv > 0)) goto done;
  for (size_t i = 0; i < P; i++) V[i] /= nv;
  size_t j = 0;
  for (; j < steps; j++) {
    double *v = V + j * P;
    if (f32)
      calib__mx_hessvec_fast(p, v, w);
    else
      calib__mx_hessvec(p, v, w, A);
    al[j] = calib__mx_dotv(w, v, P);
    calib__mx_gauge_project(p, w, 1);
    orth(w, V, j + 1, P); /* full reorthogonalisation */
    be[j] = sqrt(calib__mx_dotv(w, w, P));
    if (!(be[j] > 1e-13 * fabs(al[0])) || j + 1 == steps) {
      j++;
      break;
    }
    for (size_t i = 0; i < P; i++) V[(j + 1) * P + i] = w[i] / be[j];
  }
  /* Ritz values: eigenvalues of the j x j tridiagonal (al, be) */
  if (f32) {
    c = ritz_estimate(p, V, j, al, be, al + 2 * (steps + 1), w);
  } else if (LAPACKE_dsterf((lapack_int)j, al, be) == 0) {
    const double lo = al[0], hi = al[j - 1];
    c = lo > 0 ? hi / lo : (double)INFINITY;
  }
done:
  calib__free(V);
  calib__free(w);
  calib__free(A);
  calib__free(al);
  return c;
}

double calib__mx_cond_lanczos(const calib__mx_problem *p, const double *v0, int nsteps) {
  return lanczos(p, v0, nsteps, 0);
}

double calib__mx_cond_lanczos_f32(const calib__mx_problem *p, const double *v0, int nsteps) {
  return lanczos(p, v0, nsteps, 1);
}
