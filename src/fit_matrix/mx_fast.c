/* mx_fast.c -- the single-precision evaluation used by the first phase of
 * L-BFGS on large matrix/Dirichlet problems.
 *
 * Far from the optimum the objective needs only a few correct digits, and
 * the two GEMMs dominate an evaluation (n k (k+1) multiply-adds each), so
 * they run in float32 (sgemm, twice the throughput of dgemm and half the
 * memory traffic): the features are kept as float32 (Xf), theta is rounded
 * to float32, the logits of each row block come back as float32, the row
 * pass (max, exp, log-sum-exp, NLL) runs in double on them, one row at a
 * time in a buffer that stays in L1 (p->Q is not touched), and the
 * gradient is accumulated in float32 by sgemm, then completed in double.
 * Relative error of the value and the gradient: ~1e-6. L-BFGS switches to
 * the double evaluation (mx_problem.c) once the float gradient is small
 * (mx_lbfgs.c), and every reported number and the stopping test are double.
 * The Newton-CG path (mx_ncg.c) also takes its Hessian-vector products from
 * here while it is in float32 (calib__mx_hessvec_fast: sgemm forward, the
 * row pass on the float softmax rows kept in Qf, sgemm back), so Qf holds
 * every row's weighted softmax, not one block.
 */
#include "mx_internal.h"
#include <cblas.h>
#include <math.h>

#define FAST_BLOCK ((size_t)4096)

int calib__mx_fast_alloc(calib__mx_problem *p) {
  const size_t n = p->n, k = p->k, d = p->d, B = n < FAST_BLOCK ? n : FAST_BLOCK;
  p->Xf = (float *)calib__malloc(n * d * sizeof(float));
  /* all rows' weighted softmax (the Newton-CG path's float Hessian-vector
   * products need them), plus one block of directional logits */
  p->Qf = (float *)calib__malloc((n + B) * k * sizeof(float));
  p->thf = (float *)calib__malloc(4 * k * d * sizeof(float));
  p->rowbuf = (double *)calib__malloc(k * sizeof(double));
  if (!p->Xf || !p->Qf || !p->thf || !p->rowbuf) {
    calib__mx_fast_free(p);
    return CALIB_E_NOMEM;
  }
  for (size_t i = 0; i < n * d; i++) p->Xf[i] = (float)p->X[i];
  return CALIB_OK;
}

void calib__mx_fast_free(calib__mx_problem *p) {
  calib__free(p->Xf);
  calib__free(p->Qf);
  calib__free(p->thf);
  calib__free(p->rowbuf);
  p->Xf = p->Qf = p->thf = NULL;
  p->rowbuf = NULL;
  p->fast = 0;
}

/* One row block: float logits -> (per row, in a double buffer that stays in
 * L1) softmax rows -> float weights q -> gradient sgemm. */
static double block(calib__mx_problem *p, size_t i0, size_t m, float *gf, int first) {
  const size_t k = p->k, d = p->d;
  double *buf = p->rowbuf, nll = 0;
  float *Qb = p->Qf + i0 * k;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)k, (int)d, 1.0f, p->Xf + i0 * d,
              (int)d, p->thf, (int)d, 0.0f, Qb, (int)k);
  for (size_t r = 0; r < m; r++) {
    float *a = Qb + r * k;
    for (size_t j = 0; j < k; j++) buf[j] = (double)a[j];
    nll += p->rows(buf, 1, k, p->y + i0 + r, p->wt + i0 + r);
    for (size_t j = 0; j < k; j++) a[j] = (float)buf[j];
  }
  if (!isfinite(nll) || !gf) return nll;
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)d, (int)m, 1.0f, Qb, (int)k,
              p->Xf + i0 * d, (int)d, first ? 0.0f : 1.0f, gf, (int)d);
  return nll;
}

double calib__mx_eval_fast_nll(calib__mx_problem *p, const double *theta, double *g) {
  const size_t P = p->P;
  float *gf = p->thf + P;
  for (size_t i = 0; i < P; i++) p->thf[i] = (float)theta[i];
  double nll = 0;
  for (size_t i0 = 0; i0 < p->n; i0 += FAST_BLOCK) {
    const size_t m = p->n - i0 < FAST_BLOCK ? p->n - i0 : FAST_BLOCK;
    nll += block(p, i0, m, g ? gf : NULL, i0 == 0);
    if (!isfinite(nll)) return HUGE_VAL;
  }
  if (g)
    for (size_t j = 0; j < P; j++) g[j] = (double)gf[j] - p->MY[j];
  return nll;
}

void calib__mx_hessvec_fast(const calib__mx_problem *p, const double *v, double *out) {
  const size_t n = p->n, k = p->k, d = p->d, P = p->P;
  float *vf = p->thf + 2 * P, *of = p->thf + 3 * P, *A = p->Qf + n * k;
  for (size_t i = 0; i < P; i++) vf[i] = (float)v[i];
  for (size_t i0 = 0; i0 < n; i0 += FAST_BLOCK) {
    const size_t m = n - i0 < FAST_BLOCK ? n - i0 : FAST_BLOCK;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)k, (int)d, 1.0f,
                p->Xf + i0 * d, (int)d, vf, (int)d, 0.0f, A, (int)k);
    for (size_t r = 0; r < m; r++) { /* R_ia = q_ia (A_ia - sum_c q_ic A_ic / wt_i) */
      const float *q = p->Qf + (i0 + r) * k;
      const double wt = p->wt[i0 + r];
      float *a = A + r * k;
      if (!(wt > 0)) {
        memset(a, 0, k * sizeof(float));
        continue;
      }
      calib__mx_curv4f(a, q, (float)(calib__mx_dot4f(q, a, k) / wt), k);
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)d, (int)m, 1.0f, A, (int)k,
                p->Xf + i0 * d, (int)d, i0 == 0 ? 0.0f : 1.0f, of, (int)d);
  }
  for (size_t i = 0; i < P; i++) out[i] = (double)of[i];
  calib__mx_penalty_hessvec(p, v, out);
}
