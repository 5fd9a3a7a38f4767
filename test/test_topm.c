/* test_topm.c -- mx_topm.c's per-class preconditioner against a dense solve.
 *
 * For each class a the operator must be the inverse of
 *     M_a = sum_{i in top(a)} h_ia f_i f_i^T + diag(c_a),
 * top(a) = the CALIB__TM_ROWS rows of largest h_ia = q_ia (1 - q_ia / wt_i),
 * which this test selects by a full sort and solves by Gaussian elimination
 * with partial pivoting on the d x d matrix -- neither the heap, nor
 * Woodbury, nor the Schur complement of the unpenalised coordinates that
 * mx_topm.c uses. Cases: ODIR-like penalty (one free coordinate a class, the
 * class's own feature), two free (and the intercept), every row kept
 * (n < CALIB__TM_ROWS), the float feature copy (p->Xf), and a class with
 * more free coordinates than CALIB__TM_MAX_U (the build must refuse).
 * A NO_BLAS=1 build has no matrix-family fitters (src/fit_matrix/ is not
 * compiled; the Makefile passes -DCALIB_NO_BLAS to the tests): skipped there.
 */
#include "internal.h"
#include "harness.h"
#include "../src/fit_matrix/mx_internal.h"

#ifdef CALIB_NO_BLAS
int main(void) {
  SKIP("NO_BLAS build: src/fit_matrix/ (mx_topm.c) is not compiled");
  return 77;
}
#else

typedef struct {
  size_t n, k, d;
  double *X, *Q, *wt, *pc;
  float *Xf;
} tcase;

static void make_case(tcase *c, size_t n, size_t k) {
  const size_t d = k + 1;
  c->n = n, c->k = k, c->d = d;
  c->X = malloc(n * d * sizeof(double));
  c->Xf = malloc(n * d * sizeof(float));
  c->Q = malloc(n * k * sizeof(double));
  c->wt = malloc(n * sizeof(double));
  c->pc = malloc(k * d * sizeof(double));
  for (size_t i = 0; i < n; i++) {
    double s = 0, wi = (0.5 + th_uniform()) / (double)n;
    c->wt[i] = wi;
    for (size_t a = 0; a < k; a++) {
      const double e = exp(2.0 * th_normal());
      c->Q[i * k + a] = e;
      s += e;
    }
    for (size_t a = 0; a < k; a++) {
      c->Q[i * k + a] *= wi / s;
      /* Dirichlet-like features: log-probabilities, then the intercept */
      c->X[i * d + a] = log(c->Q[i * k + a] / wi) + 0.3 * th_normal();
    }
    c->X[i * d + k] = 1.0;
    for (size_t j = 0; j < d; j++) {
      c->Xf[i * d + j] = (float)c->X[i * d + j];
      c->X[i * d + j] = (double)c->Xf[i * d + j]; /* the float path sees the same features */
    }
  }
}

static void free_case(tcase *c) {
  free(c->X), free(c->Xf), free(c->Q), free(c->wt), free(c->pc);
}

/* pc: ODIR-like (off-diagonal lam, intercept mu, W_aa free), with extra
 * free coordinates a class: nfree = 1 (W_aa), 2 (and the intercept), or
 * many (every feature free from 1 to nfree) */
static void set_penalty(tcase *c, int nfree) {
  const size_t k = c->k, d = c->d;
  for (size_t a = 0; a < k; a++)
    for (size_t j = 0; j < d; j++) {
      double v = j == k ? 2e-3 : 2e-4 * (1.0 + th_uniform());
      if (j == a) v = 0.0;
      if (nfree == 2 && j == k) v = 0.0;
      if (nfree > 2 && (int)j < nfree) v = 0.0;
      c->pc[a * d + j] = v;
    }
}

static void problem_of(const tcase *c, calib__mx_problem *p, int use_f) {
  memset(p, 0, sizeof *p);
  p->method = CALIB_METHOD_DIRICHLET;
  p->n = c->n, p->k = c->k, p->d = c->d, p->P = c->k * c->d;
  p->wt = c->wt;
  p->X = c->X;
  p->Q = c->Q;
  p->Xf = use_f ? c->Xf : NULL;
}

/* solve A x = b (n x n, destroyed) by elimination with partial pivoting */
static void dense_solve(double *A, double *b, size_t n) {
  for (size_t c = 0; c < n; c++) {
    size_t piv = c;
    for (size_t r = c + 1; r < n; r++)
      if (fabs(A[r * n + c]) > fabs(A[piv * n + c])) piv = r;
    if (piv != c) {
      for (size_t j = 0; j < n; j++) {
        const double t = A[c * n + j];
        A[c * n + j] = A[piv * n + j], A[piv * n + j] = t;
      }
      const double t = b[c];
      b[c] = b[piv], b[piv] = t;
    }
    for (size_t r = c + 1; r < n; r++) {
      const double f = A[r * n + c] / A[c * n + c];
      for (size_t j = c; j < n; j++) A[r * n + j] -= f * A[c * n + j];
      b[r] -= f * b[c];
    }
  }
  for (size_t c = n; c-- > 0;) {
    for (size_t j = c + 1; j < n; j++) b[c] -= A[c * n + j] * b[j];
    b[c] /= A[c * n + c];
  }
}

static double curv(const tcase *c, size_t i, size_t a) {
  const double q = c->Q[i * c->k + a], h = q * (1.0 - q / c->wt[i]);
  return h > 0 ? h : 0.0;
}

static const tcase *g_case;
static size_t g_class;
static int by_h_desc(const void *x, const void *y) {
  const double hx = curv(g_case, *(const size_t *)x, g_class), hy = curv(g_case, *(const size_t *)y, g_class);
  return (hx < hy) - (hx > hy);
}

/* z_a = M_a^-1 r_a by the dense definition */
static void reference(const tcase *c, const double *r, double *z) {
  const size_t n = c->n, k = c->k, d = c->d, m = n < CALIB__TM_ROWS ? n : CALIB__TM_ROWS;
  size_t *idx = malloc(n * sizeof(size_t));
  double *A = malloc(d * d * sizeof(double));
  for (size_t a = 0; a < k; a++) {
    for (size_t i = 0; i < n; i++) idx[i] = i;
    g_case = c, g_class = a;
    qsort(idx, n, sizeof *idx, by_h_desc);
    memset(A, 0, d * d * sizeof(double));
    for (size_t t = 0; t < m; t++) {
      const size_t i = idx[t];
      const double h = curv(c, i, a);
      for (size_t j = 0; j < d; j++)
        for (size_t l = 0; l < d; l++) A[j * d + l] += h * c->X[i * d + j] * c->X[i * d + l];
    }
    for (size_t j = 0; j < d; j++) A[j * d + j] += c->pc[a * d + j];
    memcpy(z + a * d, r + a * d, d * sizeof(double));
    dense_solve(A, z + a * d, d);
  }
  free(idx);
  free(A);
}

/* the largest |ours - reference| relative to the largest |reference| of a class */
static double compare(const tcase *c, int use_f) {
  calib__mx_problem p;
  calib__mx_topm t;
  problem_of(c, &p, use_f);
  const size_t P = p.P;
  double *r = malloc(P * sizeof(double)), *z = malloc(P * sizeof(double)), *zr = malloc(P * sizeof(double));
  for (size_t q = 0; q < P; q++) r[q] = th_normal();
  double worst = HUGE_VAL;
  if (calib__mx_topm_alloc(&t, &p) == CALIB_OK) {
    const int st = calib__mx_topm_build(&t, &p, c->pc);
    CHECK_OK(st);
    if (st == CALIB_OK) {
      calib__mx_topm_apply(&t, &p, r, z);
      reference(c, r, zr);
      worst = 0;
      for (size_t a = 0; a < c->k; a++) {
        double dm = 0, zm = 0;
        for (size_t j = 0; j < c->d; j++) {
          const double e = fabs(z[a * c->d + j] - zr[a * c->d + j]);
          if (e > dm) dm = e;
          if (fabs(zr[a * c->d + j]) > zm) zm = fabs(zr[a * c->d + j]);
        }
        if (dm / zm > worst) worst = dm / zm;
      }
    }
    calib__mx_topm_free(&t);
  } else {
    CHECK(!"calib__mx_topm_alloc failed");
  }
  free(r), free(z), free(zr);
  return worst;
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  tcase c;
  /* n > CALIB__TM_ROWS: the selection matters */
  make_case(&c, 600, 12);
  set_penalty(&c, 1);
  double e = compare(&c, 0);
  printf("ODIR-like, n 600, k 12, double rows: max rel err %.3g\n", e);
  CHECK(e <= 1e-8);
  e = compare(&c, 1);
  printf("ODIR-like, n 600, k 12, float rows:  max rel err %.3g\n", e);
  CHECK(e <= 1e-4);
  set_penalty(&c, 2);
  e = compare(&c, 0);
  printf("two free coordinates a class:        max rel err %.3g\n", e);
  CHECK(e <= 1e-8);
  /* more free coordinates than CALIB__TM_MAX_U: refused, not approximated */
  set_penalty(&c, (int)CALIB__TM_MAX_U + 3);
  {
    calib__mx_problem p;
    calib__mx_topm t;
    problem_of(&c, &p, 0);
    CHECK_OK(calib__mx_topm_alloc(&t, &p));
    CHECK_ERR(calib__mx_topm_build(&t, &p, c.pc), CALIB_E_NOCONV);
    calib__mx_topm_free(&t);
  }
  free_case(&c);
  /* n < CALIB__TM_ROWS: every row of a class is kept (the exact block) */
  make_case(&c, CALIB__TM_ROWS - 20, 20);
  set_penalty(&c, 1);
  e = compare(&c, 0);
  printf("n %zu < %zu rows, k 20:                max rel err %.3g\n", c.n, CALIB__TM_ROWS, e);
  CHECK(e <= 1e-8);
  free_case(&c);
  TEST_MAIN_END();
}
#endif /* CALIB_NO_BLAS */
