/* mx_kfac.c -- the Kronecker-factored preconditioner of the matrix family
 * beyond BJ_MAX_K classes (mx_ncg.c's Newton-CG and mx_warm.c's L-BFGS).
 *
 * The NLL's Hessian is sum_i A_i (x) f_i f_i^T with A_i = diag(Q_i) -
 * Q_i Q_i^T / wt_i (Q_i = wt_i softmax of row i). It is approximated by
 *     K = A (x) C + I (x) diag(Dp),
 *     A = sum_i A_i                     (k x k: the classes' coupling),
 *     C = sum_i t_i f_i f_i^T / sum t_i (d x d, t_i = sum_a h_ia, the
 *                                        row's curvature: the features'
 *                                        curvature-weighted moment),
 *     Dp_j = the penalty curvature of feature j averaged over the classes,
 * then rescaled to the exact diagonal of the Hessian (NLL + penalty):
 *     M = S^-1 K S^-1,  S_aj = sqrt(K_aj,aj / H_aj,aj),
 * so diag(M) = diag(H). With A = U diag(l) U^T and Dp^-1/2 C Dp^-1/2 =
 * V diag(g) V^T, Wm = Dp^-1/2 V, K^-1 R = U ((U^T R Wm) o 1 / (l g^T + 1)) Wm^T
 * (R as k x d): four k x k x d GEMMs (in float: a preconditioner needs no more),
 * against two n x k x d GEMMs for a Hessian-vector product. A build is two
 * syrks, one GEMM over the rows (the exact diagonal) and two symmetric
 * eigensolves (k x k, d x d).
 *
 * Why: the shared block that mx_ncg.c used beyond BJ_MAX_K (one d x d block
 * scaled per class) has no coupling between classes, which the softmax's
 * curvature is full of while the predictions are spread. A numpy prototype
 * on bench_matrix_scale.py's k = 1000 shape (n = 10000, Dirichlet ODIR)
 * compared them: Newton-CG needed 2-5x fewer products with this one at equal
 * forcing, and L-BFGS with H0 = gamma M^-1 (mx_warm.c) reached max |g| 8e-8
 * in 85 evaluations where plain L-BFGS was at 0.004165 (optimum 0.003882)
 * after 204. (A prototype also showed that dropping small q from the
 * products is not possible: entries above 1e-8 stay 40-100 % dense.)
 * Where Dp_j is 0 (no penalty on a feature) a floor of 1e-10 of the largest
 * A_aa C_jj stands in.
 */
#include "mx_internal.h"
#include "checked.h"
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#define KF_ROWS ((size_t)512)

void calib__mx_kfac_free(calib__mx_kfac *kf) {
  calib__free(kf->iw);
  calib__free(kf->dbl);
  calib__free(kf->flt);
  memset(kf, 0, sizeof *kf);
}

int calib__mx_kfac_alloc(calib__mx_kfac *kf, const calib__mx_problem *p) {
  const size_t k = p->k, d = p->d, P = p->P, m = KF_ROWS;
  memset(kf, 0, sizeof *kf);
  kf->k = k;
  kf->d = d;
  /* doubles: A (k k), C (d d), l (k), g (d), Dp (d), S (P), Hd (P), colsum (k), eig work */
  size_t kk, dd, nd, nf, mk, md, t, ib;
  /* every size below is at most ~10 P + 2 (k + d)^2; P = k d fits (mx_problem.c) */
  if (!calib__size_mul3(k, k, 1, &kk) || !calib__size_mul3(d, d, 1, &dd) || kk > CALIB__MAX_ALLOC ||
      dd > CALIB__MAX_ALLOC)
    return CALIB_E_NOMEM;
  const size_t big = kk > dd ? kk : dd, nmax = k > d ? k : d;
  kf->lwork = 1 + 6 * nmax + 2 * big; /* dsyevd, jobz 'V' */
  kf->liwork = 3 + 5 * nmax;
  if (!calib__size_mul3(kk + dd + k + 2 * d + 2 * P + k + kf->lwork, 1, sizeof(double), &nd) ||
      nd > CALIB__MAX_ALLOC || !calib__size_mul3(kf->liwork, 1, sizeof(lapack_int), &ib))
    return CALIB_E_NOMEM;
  /* floats: U (k k), Wm (d d), and scratch: two k x d, or the build's row
   * blocks (m k twice, m d twice) and its float sums (k k, d d, k d) */
  if (!calib__size_mul3(m, k, 2, &mk) || !calib__size_mul3(m, d, 2, &md)) return CALIB_E_NOMEM;
  t = mk + md + kk + dd + P;
  if (t < 2 * P) t = 2 * P;
  if (!calib__size_mul3(1, kk + dd + t, sizeof(float), &nf) || nf > CALIB__MAX_ALLOC) return CALIB_E_NOMEM;
  kf->dbl = (double *)calib__malloc(nd);
  kf->flt = (float *)calib__malloc(nf);
  kf->iw = calib__malloc(ib);
  if (!kf->dbl || !kf->flt || !kf->iw) {
    calib__mx_kfac_free(kf);
    return CALIB_E_NOMEM;
  }
  kf->A = kf->dbl;
  kf->C = kf->A + kk;
  kf->l = kf->C + dd;
  kf->g = kf->l + k;
  kf->Dp = kf->g + d;
  kf->S = kf->Dp + d;
  kf->Hd = kf->S + P;
  kf->cs = kf->Hd + P;
  kf->work = kf->cs + k;
  kf->Ut = kf->flt;
  kf->Wt = kf->Ut + kk;
  kf->scr = kf->Wt + dd;
  return CALIB_OK;
}

static inline double kf_x(const calib__mx_problem *p, size_t i, size_t j) {
  return p->Xf ? (double)p->Xf[i * p->d + j] : p->X[i * p->d + j];
}

/* the lower triangle of the float n x n sum Bf added to the double B (full) */
static void add_lower(double *B, const float *Bf, size_t n) {
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j <= i; j++) B[i * n + j] += (double)Bf[i * n + j];
}

/* A, C (lower, unnormalised), colsum, Hd (NLL part) from the rows, in float
 * blocks of KF_ROWS rows added into double sums */
static void kf_moments(calib__mx_kfac *kf, const calib__mx_problem *p, double *tsum) {
  const size_t k = p->k, d = p->d, n = p->n, m0 = KF_ROWS;
  float *Tq = kf->scr, *H = Tq + m0 * k, *Tx = H + m0 * k, *X2 = Tx + m0 * d;
  float *Af = X2 + m0 * d, *Cf = Af + k * k, *Hf = Cf + d * d;
  memset(kf->A, 0, k * k * sizeof(double));
  memset(kf->C, 0, d * d * sizeof(double));
  memset(kf->cs, 0, k * sizeof(double));
  memset(kf->Hd, 0, p->P * sizeof(double));
  *tsum = 0;
  for (size_t i0 = 0; i0 < n; i0 += m0) {
    const size_t m = n - i0 < m0 ? n - i0 : m0;
    for (size_t r = 0; r < m; r++) {
      const size_t i = i0 + r;
      const double wt = p->wt[i], sw = wt > 0 ? 1.0 / sqrt(wt) : 0.0;
      double t = 0;
      for (size_t a = 0; a < k; a++) {
        const double q = wt > 0 ? calib__mx_q_at(p, i, a) : 0.0, h = calib__mx_row_curv(p, i, a);
        Tq[r * k + a] = (float)(q * sw);
        H[r * k + a] = (float)h;
        kf->cs[a] += q;
        t += h;
      }
      *tsum += t;
      const double st = sqrt(t);
      for (size_t j = 0; j < d; j++) {
        const double x = kf_x(p, i, j);
        Tx[r * d + j] = (float)(st * x);
        X2[r * d + j] = (float)(x * x);
      }
    }
    cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, (int)k, (int)m, 1.0f, Tq, (int)k, 0.0f, Af, (int)k);
    add_lower(kf->A, Af, k);
    cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)m, 1.0f, Tx, (int)d, 0.0f, Cf, (int)d);
    add_lower(kf->C, Cf, d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)d, (int)m, 1.0f, H, (int)k, X2, (int)d,
                0.0f, Hf, (int)d);
    for (size_t q = 0; q < p->P; q++) kf->Hd[q] += (double)Hf[q];
  }
}

/* symmetric eigensolve of the full n x n B in place (read as column-major:
 * symmetric, so the same matrix; no transposed copy): row c of B becomes
 * eigenvector c, values ascending into ev (clipped at 0) */
static int kf_eig(calib__mx_kfac *kf, double *B, size_t n, double *ev) {
  const lapack_int info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)n, B, (lapack_int)n, ev,
                                              kf->work, (lapack_int)kf->lwork, (lapack_int *)kf->iw,
                                              (lapack_int)kf->liwork);
  if (info != 0) return CALIB_E_NOCONV;
  for (size_t i = 0; i < n; i++)
    if (!(ev[i] > 0)) ev[i] = 0.0;
  return CALIB_OK;
}

int calib__mx_kfac_build(calib__mx_kfac *kf, const calib__mx_problem *p, const double *pc) {
  const size_t k = p->k, d = p->d;
  double tsum;
  kf_moments(kf, p, &tsum);
  double *A = kf->A, *C = kf->C;
  const double ct = tsum > 0 ? 1.0 / tsum : 0.0;
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j <= i; j++) C[i * d + j] = C[j * d + i] = C[i * d + j] * ct;
  for (size_t i = 0; i < k; i++)
    for (size_t j = 0; j <= i; j++) A[i * k + j] = A[j * k + i] = (i == j ? kf->cs[i] : 0.0) - A[i * k + j];
  /* Dp: the classes' mean penalty curvature per feature, floored */
  double kmax = 0;
  for (size_t a = 0; a < k; a++)
    for (size_t j = 0; j < d; j++)
      if (A[a * k + a] * C[j * d + j] > kmax) kmax = A[a * k + a] * C[j * d + j];
  const double floor = kmax > 0 ? 1e-10 * kmax : 1e-300;
  for (size_t j = 0; j < d; j++) {
    double s = 0;
    for (size_t a = 0; a < k; a++) s += pc[a * d + j];
    s /= (double)k;
    kf->Dp[j] = s > floor ? s : floor;
  }
  /* S from the diagonals, before the eigensolves overwrite A and C */
  for (size_t a = 0; a < k; a++)
    for (size_t j = 0; j < d; j++) {
      const size_t q = a * d + j;
      const double hd = kf->Hd[q] + pc[q], kd = A[a * k + a] * C[j * d + j] + kf->Dp[j];
      kf->S[q] = hd > 0 && kd > 0 ? sqrt(kd / hd) : 1.0;
    }
  for (size_t i = 0; i < d; i++) {
    const double si = 1.0 / sqrt(kf->Dp[i]);
    for (size_t j = 0; j < d; j++) C[i * d + j] *= si / sqrt(kf->Dp[j]);
  }
  /* A's null vector 1 (the softmax gauge) raised to A's mean eigenvalue:
   * the rescaling by S leaves S r with a gauge component even when r has
   * none, and with l = 0 there K^-1 multiplied it by 1 / Dp (1e10 / kmax
   * at the floor, unpenalised fits): the steps then pointed along the
   * gauge, which the projection removes, leaving almost nothing (k = 210
   * unregularised matrix scaling: first steps of t = 3e-7, F from 4.87 to
   * 4.72 in 1500 Newton-CG steps) */
  double tr = 0;
  for (size_t a = 0; a < k; a++) tr += A[a * k + a];
  const double sh = tr / ((double)k * (double)k);
  for (size_t i = 0; i < k * k; i++) A[i] += sh;
  int st = kf_eig(kf, A, k, kf->l);
  if (st == CALIB_OK) st = kf_eig(kf, C, d, kf->g);
  if (st != CALIB_OK) return st;
  for (size_t i = 0; i < k * k; i++) kf->Ut[i] = (float)A[i];
  for (size_t c = 0; c < d; c++) /* Wt[c][j] = V[j][c] / sqrt(Dp_j): Wm^T */
    for (size_t j = 0; j < d; j++) kf->Wt[c * d + j] = (float)(C[c * d + j] / sqrt(kf->Dp[j]));
  return CALIB_OK;
}

void calib__mx_kfac_apply(calib__mx_kfac *kf, const double *r, double *z) {
  const size_t k = kf->k, d = kf->d, P = k * d;
  float *R = kf->scr, *T = R + P;
  for (size_t q = 0; q < P; q++) R[q] = (float)(kf->S[q] * r[q]);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k, (int)d, (int)k, 1.0f, kf->Ut, (int)k, R, (int)d,
              0.0f, T, (int)d); /* U^T R */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)k, (int)d, (int)d, 1.0f, T, (int)d, kf->Wt, (int)d,
              0.0f, R, (int)d); /* (U^T R) Wm */
  for (size_t a = 0; a < k; a++)
    for (size_t j = 0; j < d; j++) R[a * d + j] = (float)((double)R[a * d + j] / (kf->l[a] * kf->g[j] + 1.0));
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)d, (int)k, 1.0f, kf->Ut, (int)k, R, (int)d,
              0.0f, T, (int)d); /* U Z */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k, (int)d, (int)d, 1.0f, T, (int)d, kf->Wt, (int)d,
              0.0f, R, (int)d); /* (U Z) Wm^T */
  for (size_t q = 0; q < P; q++) z[q] = kf->S[q] * (double)R[q];
}
