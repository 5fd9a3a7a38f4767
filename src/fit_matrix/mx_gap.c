/* mx_gap.c -- the condition number of the matrix family's Hessian at the end
 * of a fit, with the exactly flat gauge directions left out
 * (calib__mx_null_gauge): from the dense Hessian's eigenvalues (Newton path),
 * or by Lanczos on Hessian-vector products (L-BFGS path, where the Hessian
 * is never formed). See mx_internal.h for the contracts. */
#include "mx_internal.h"
#include <lapacke.h>
#include <math.h>

double calib__mx_cond_dense(const double *H, size_t P, size_t m, double *work) {
  double *ev = (double *)calib__malloc(P * sizeof(double));
  if (!ev || m >= P) {
    calib__free(ev);
    return (double)NAN;
  }
  for (size_t i = 0; i < P; i++) memcpy(work + i * P, H + i * P, (i + 1) * sizeof(double));
  const lapack_int info =
      LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'L', (lapack_int)P, work, (lapack_int)P, ev);
  double c = (double)NAN;
  if (info == 0) { /* ascending; the m smallest are the gauge's zeros */
    const double lo = ev[m], hi = ev[P - 1];
    c = lo > 0 ? hi / lo : (double)INFINITY;
  }
  calib__free(ev);
  return c;
}

#define LANCZOS_STEPS 32

static double dotp(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* v -= (v . u) u for each orthonormal row u of B (nb rows of P). */
static void orth(double *v, const double *B, size_t nb, size_t P) {
  for (int pass = 0; pass < 2; pass++)
    for (size_t r = 0; r < nb; r++) {
      const double *u = B + r * P, c = dotp(v, u, P);
      for (size_t i = 0; i < P; i++) v[i] -= c * u[i];
    }
}

double calib__mx_cond_lanczos(const calib__mx_problem *p, const double *U, size_t m,
                              const double *v0) {
  const size_t P = p->P;
  if (m >= P) return (double)NAN;
  size_t steps = P - m < LANCZOS_STEPS ? P - m : LANCZOS_STEPS;
  double *V = (double *)calib__malloc((steps + 1) * P * sizeof(double));
  double *w = (double *)calib__malloc(P * sizeof(double));
  double *A = (double *)calib__malloc(calib__mx_hessvec_scratch(p) * sizeof(double));
  double *al = (double *)calib__malloc(2 * (steps + 1) * sizeof(double));
  double c = (double)NAN;
  if (!V || !w || !A || !al) goto done;
  double *be = al + steps + 1;
  /* the caller's start, or a deterministic one with weight on every
   * coordinate; off the gauge */
  for (size_t i = 0; i < P; i++) V[i] = v0 ? v0[i] : 1.0 + 0.5 * sin(1.7 * (double)i + 0.3);
  orth(V, U, m, P);
  double nv = sqrt(dotp(V, V, P));
  if (!(nv > 0)) goto done;
  for (size_t i = 0; i < P; i++) V[i] /= nv;
  size_t j = 0;
  for (; j < steps; j++) {
    double *v = V + j * P;
    calib__mx_hessvec(p, v, w, A);
    al[j] = dotp(w, v, P);
    orth(w, U, m, P);
    orth(w, V, j + 1, P); /* full reorthogonalisation */
    be[j] = sqrt(dotp(w, w, P));
    if (!(be[j] > 1e-13 * fabs(al[0])) || j + 1 == steps) {
      j++;
      break;
    }
    for (size_t i = 0; i < P; i++) V[(j + 1) * P + i] = w[i] / be[j];
  }
  /* Ritz values: eigenvalues of the j x j tridiagonal (al, be) */
  if (LAPACKE_dsterf((lapack_int)j, al, be) == 0) {
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
