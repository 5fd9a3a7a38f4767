/* mx_internal.h -- the matrix-family fitting problem shared by the files of
 * src/fit_matrix/ (the only directory that includes cblas.h / lapacke.h).
 *
 * Parameters theta are k rows of d values, row-major: row a holds the weights
 * of output class a and then its intercept:
 *   vector             d = 2:      (w_a, b_a),        feature row f_ia = (z_ia, 1)
 *   matrix, Dirichlet  d = k + 1:  (W_a0..W_a,k-1, b_a), feature row f_i = (x_i, 1)
 * with x_i = z_i (matrix) or log_softmax(z_i) (Dirichlet), both times the
 * power-of-two feature scale fs (so the weights are the model's / fs and the
 * solver's numbers do not depend on the logits' scale). Output logits
 * a_ia = theta_a . f_ia; the objective is calib.h's L(theta): weighted mean NLL
 * plus the ODIR / L2 penalty.
 */
#ifndef CALIB_MX_INTERNAL_H
#define CALIB_MX_INTERNAL_H

#include "../fit/fit_internal.h"
#include <stdint.h>

/* Row pass of the objective (mx_softmax.c). */
typedef double (*calib__mx_rows_fn)(double *Q, size_t m, size_t k, const int64_t *y,
                                    const double *wt);

typedef struct {
  int method;            /* CALIB_METHOD_VECTOR / MATRIX / DIRICHLET */
  size_t n, k, d, P;     /* rows, classes, parameters per class, P = k d */
  const float *z;        /* the caller's logits (vector: read directly) */
  const int64_t *y;
  double *wt;            /* n normalised row weights w_i / sum w */
  double *X;             /* matrix/Dirichlet: n x (k+1) features (x_i, 1); NULL for vector */
  double *Q;             /* n x k: wt_i * softmax(a_i) at the last evaluation */
  double *MY;            /* P: sum_i wt_i e_{y_i} (x) f_i, the label part of the gradient */
  double lam, mu, l2;    /* normalised: lambda/(k(k-1)), mu/k, l2/P */
  double fs, fs2;        /* feature scale: the solver's theta holds W / fs (w / fs)
                            and its features z fs (x fs), fs a power of two (1
                            unless the logits' RMS is outside [1/16, 16]);
                            fs2 = fs^2 scales the penalty of those entries */
  int l2_center;         /* 1: penalise theta - identity, 0: theta */
  int gauge;             /* 1: evaluate the gauge-minimised penalty (L-BFGS) */
  double *gv;            /* d: the gauge shift of the last penalty evaluation */
  double nll;            /* weighted mean NLL at the last evaluation */
  calib__mx_rows_fn rows; /* the row pass (calib__mx_softmax_kernel) */
  int fast;              /* 1: evaluate with float32 GEMMs (mx_fast.c) */
  float *Xf, *Qf, *thf;  /* mx_fast.c buffers: features, one logit block, theta + gradient */
  double *rowbuf;        /* mx_fast.c: one row of k doubles */
  /* The last double evaluation without the gauge (calib__mx_eval): its theta
   * and gradient (2 P), value and NLL; cvalid 0 (none), 1 (value), 2 (and
   * gradient). The end of a fit evaluates one theta up to three times (the
   * solver's last point, matrix_fit.c's separability test, round_fitted). */
  double *ctheta, cval, cnll;
  int cvalid;
} calib__mx_problem;

/* Allocates and fills the problem for validated data; CALIB_OK or CALIB_E_NOMEM. */
int calib__mx_setup(calib__mx_problem *p, int method, const calib__fit_data *d,
                    const double *opt);
void calib__mx_release(calib__mx_problem *p);
/* The identity map (W = I or w = 1, b = 0, i.e. 1/fs in theta) into theta (P values). */
void calib__mx_identity(const calib__mx_problem *p, double *theta);
/* The solver's start: the identity of the standardised features (W = fs I,
 * w = fs, b = 0), i.e. softmax(fs z): the identity map itself when fs = 1;
 * at other scales the identity would start the solver deep in the
 * saturated (fs << 1) or flat (fs >> 1) region of the softmax. */
void calib__mx_start(const calib__mx_problem *p, double *theta);
/* Gauge. Adding one vector v to every row of theta (matrix, Dirichlet; for
 * vector scaling, one constant to every intercept) leaves every softmax
 * unchanged, so only the penalty sees it. With gauge = 1, calib__mx_eval
 * returns F(theta) = NLL(theta) + min_v penalty(theta + 1 v^T), whose
 * minimum equals L's and which is exactly flat along the gauge (a weak
 * penalty otherwise leaves a nearly flat, slow direction for L-BFGS);
 * calib__mx_gauge_fix then moves theta to the minimising shift, where
 * L(theta) = F and the gradients agree. */
void calib__mx_gauge_fix(const calib__mx_problem *p, double *theta);
/* L(theta); fills g (P values, may be NULL) with dL/dtheta; leaves Q and nll
 * describing theta. Returns +inf when a logit overflows. */
double calib__mx_eval(calib__mx_problem *p, const double *theta, double *g);
/* The NLL alone (plain, in double) at a matrix/Dirichlet theta whose only
 * non-zero entries are the diagonal weights (a, a) and the intercepts, for
 * matrix_fit.c's separability certificate: logits W_aa x_ia + b_a row by
 * row, O(n k) instead of the forward dgemm's O(n k d) (~0.3 s at k = 1000).
 * Leaves p->nll and Q as calib__mx_eval(p, theta, NULL) would, up to the
 * order of the two terms' rounding; HUGE_VAL if not finite. */
double calib__mx_eval_diag(calib__mx_problem *p, const double *theta);
/* Hessian of L at the theta of the last evaluation into the lower triangle of
 * H (P x P, row-major). scratch: see calib__mx_hessian_scratch. */
void calib__mx_hessian(const calib__mx_problem *p, const double *theta, double *H,
                       double *scratch);
/* Number of doubles calib__mx_hessian needs as scratch. */
size_t calib__mx_hessian_scratch(const calib__mx_problem *p);
/* max_j |g_j| */
double calib__mx_absmax(const double *g, size_t len);

/* Rows of logits Q (m x k) -> wt_i softmax(a_i) in place; returns the
 * weighted NLL sum_i wt_i (logsumexp(a_i) - a_{i,y_i}), +inf if a row has a
 * non-finite maximum. calib__mx_softmax_kernel() picks the version for this
 * CPU once per problem (mx_softmax.c: vectorised exp). */
calib__mx_rows_fn calib__mx_softmax_kernel(void);

/* mx_fast.c: float32 copies of the features and block buffers (matrix and
 * Dirichlet only); the NLL and its gradient (label part included) from
 * float32 GEMMs with the row pass in double. */
int calib__mx_fast_alloc(calib__mx_problem *p);
void calib__mx_fast_free(calib__mx_problem *p);
double calib__mx_eval_fast_nll(calib__mx_problem *p, const double *theta, double *g);
/* out = H v from the float32 state of the last fast evaluation (Qf), the
 * penalty's part in double; relative error ~1e-6. */
void calib__mx_hessvec_fast(const calib__mx_problem *p, const double *v, double *out);
/* out += the (plain, not gauge-reduced) penalty's Hessian times v */
void calib__mx_penalty_hessvec(const calib__mx_problem *p, const double *v, double *out);

/* The exactly flat gauge directions: the columns j whose common shift (the
 * same v_j added to every row of theta) no penalty term sees -- for matrix
 * and Dirichlet every column when lambda = mu = l2 = 0, for vector scaling
 * only the intercept. Returns their number m <= d; U (m x P, may be NULL)
 * receives them as orthonormal rows. The NLL's Hessian is exactly 0 along
 * them and its gradient exactly orthogonal to them. */
size_t calib__mx_null_gauge(const calib__mx_problem *p, double *U);
/* v -= its projection on the gauge directions (the mean over classes of
 * each gauge column j, i.e. of each column for matrix/Dirichlet, of the
 * intercept for vector): all of them (flat_only = 0), or only the exactly
 * flat ones of calib__mx_null_gauge (1). O(P), no U matrix (d x P doubles
 * is 8 GB at k = 1000). */
void calib__mx_gauge_project(const calib__mx_problem *p, double *v, int flat_only);
/* out = H v (H: Hessian of L, penalty included, at the theta of the last
 * double evaluation, i.e. from Q). A: calib__mx_hessvec_scratch doubles. */
void calib__mx_hessvec(const calib__mx_problem *p, const double *v, double *out, double *A);
size_t calib__mx_hessvec_scratch(const calib__mx_problem *p);

/* mx_gap.c: condition numbers with the m flat gauge directions U left out.
 * Dense: lambda_max / lambda_min of the lower triangle of H (P x P) on the
 * complement of U, by power iteration on H and on H^-1 (the Cholesky factor
 * of H + c U U^T, in work: P*P doubles; to 1e-10 relative or 500 steps);
 * +inf if H is singular to double precision; NaN on failure.
 * Lanczos: `steps` steps (fewer if P is small) on Hessian-vector products
 * from v0 (P values; NULL: a fixed vector), fully reorthogonalised and kept
 * off the exactly flat gauge directions (calib__mx_gauge_project(p, ., 1)):
 * the ratio of the extreme Ritz values, a lower bound of the condition
 * number. NaN on failure (allocation). Both leave p's evaluation unchanged. */
double calib__mx_cond_dense(const double *H, size_t P, const double *U, size_t m, double *work);
/* The Hessian-vector products' row pass, R_a = q_a (A_a - sum_c q_c A_c / wt)
 * (mx_problem.c in double, mx_fast.c on float rows): four partial sums and
 * statements written four at a time, so that the basic-block vectoriser packs
 * them at -O2 (this directory has no -m flags: the plain loops stayed scalar,
 * the sum a chain of dependent adds). */
static inline double calib__mx_dot4(const double *restrict q, const double *restrict a, size_t k) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t c = 0;
  for (; c + 4 <= k; c += 4) {
    s0 += q[c] * a[c], s1 += q[c + 1] * a[c + 1];
    s2 += q[c + 2] * a[c + 2], s3 += q[c + 3] * a[c + 3];
  }
  for (; c < k; c++) s0 += q[c] * a[c];
  return (s0 + s1) + (s2 + s3);
}

static inline void calib__mx_curv4(double *restrict a, const double *restrict q, double s, size_t k) {
  size_t c = 0;
  for (; c + 4 <= k; c += 4) {
    a[c] = q[c] * (a[c] - s), a[c + 1] = q[c + 1] * (a[c + 1] - s);
    a[c + 2] = q[c + 2] * (a[c + 2] - s), a[c + 3] = q[c + 3] * (a[c + 3] - s);
  }
  for (; c < k; c++) a[c] = q[c] * (a[c] - s);
}

static inline double calib__mx_dot4f(const float *restrict q, const float *restrict a, size_t k) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t c = 0;
  for (; c + 4 <= k; c += 4) {
    s0 += (double)q[c] * (double)a[c], s1 += (double)q[c + 1] * (double)a[c + 1];
    s2 += (double)q[c + 2] * (double)a[c + 2], s3 += (double)q[c + 3] * (double)a[c + 3];
  }
  for (; c < k; c++) s0 += (double)q[c] * (double)a[c];
  return (s0 + s1) + (s2 + s3);
}

static inline void calib__mx_curv4f(float *restrict a, const float *restrict q, float s, size_t k) {
  size_t c = 0;
  for (; c + 4 <= k; c += 4) {
    a[c] = q[c] * (a[c] - s), a[c + 1] = q[c + 1] * (a[c + 1] - s);
    a[c + 2] = q[c + 2] * (a[c + 2] - s), a[c + 3] = q[c + 3] * (a[c + 3] - s);
  }
  for (; c < k; c++) a[c] = q[c] * (a[c] - s);
}

#define CALIB__LANCZOS_STEPS 32
/* ... and on the Newton-CG path once one product costs > 1e9 flops (k = 1000:
 * each product is ~1 s there, and the estimate is a lower bound anyway) */
#define CALIB__LANCZOS_STEPS_LARGE 8
double calib__mx_cond_lanczos(const calib__mx_problem *p, const double *v0, int steps);
/* The same on float32 products (calib__mx_hessvec_fast; p's float buffers
 * allocated and Qf holding the weighted softmax at the point, p->Q in
 * double too): ~1e-6 of the largest eigenvalue is their resolution, so an
 * estimate above CALIB__LANCZOS_F32_MAX is checked in double: the Rayleigh
 * quotient rho = u^T H u / u^T u of the smallest Ritz value's vector u, on
 * one double product, must agree with that Ritz value to
 * CALIB__LANCZOS_RQ_AGREE (relative); then the estimate is theta_max / rho
 * (rho >= lambda_min, as for any vector: still a lower bound of the
 * condition number, and theta_max is well inside float's resolution), else
 * NaN: the caller recomputes it by double Lanczos (as on allocation failure).
 * The bench's k = 1000 Dirichlet ODIR fit (condition 2.3e6): float 2.3044e6,
 * eight double Lanczos steps 2.3039e6; the check costs one double product
 * (~0.55 s there) instead of eight (4.3 s). */
#define CALIB__LANCZOS_F32_MAX 1e4
#define CALIB__LANCZOS_RQ_AGREE 0.1
double calib__mx_cond_lanczos_f32(const calib__mx_problem *p, const double *v0, int steps);

/* The decrement test lambda^2 / 2 <= max(tol^2, CALIB__GAP_FLOOR) max(1, L) is
 * calib__gap_target (fit_internal.h), shared with temperature and Platt/beta. */

/* What a solver returns besides theta. */
typedef struct {
  int iters;      /* iterations (Newton steps; L-BFGS iterations + Newton-CG polish steps;
                     Newton-CG beyond BJ_MAX_K: its warm start's iterations + its steps) */
  double gmax;    /* final max |dL/dtheta| */
  double gap;     /* final Newton decrement lambda^2 / 2, or Newton-CG's upper estimate of
                     it (mx_ncg.c, CERT_SAFETY); NaN if not computed */
  double cond;    /* Hessian condition number at the end (NaN if not computed) */
  double L;       /* L at the returned theta (double, plain penalty, no gauge
                     reduction: what calib__mx_eval gives with fast = gauge = 0),
                     gmax its gradient's largest entry; NaN if not known */
  int fallback;   /* Newton-CG: 1 if it stopped without any progress (its
                     preconditioner could not be factored, or no descent at
                     the start): matrix_fit.c then runs L-BFGS from theta */
} calib__mx_result;

/* Solvers: minimise L from theta (updated in place), filling r. CALIB_OK
 * when the tolerances were met, CALIB_E_NOCONV otherwise, CALIB_E_NOMEM. */
int calib__mx_newton(calib__mx_problem *p, double *theta, int max_iter, double tol,
                     calib__mx_result *r);
int calib__mx_lbfgs(calib__mx_problem *p, double *theta, int max_iter, double tol, int mem,
                    calib__mx_result *r);
int calib__mx_newton_cg(calib__mx_problem *p, double *theta, int max_iter, double tol,
                        calib__mx_result *r);
/* Helpers of the solvers (mx_newton.c, mx_lbfgs.c, mx_ncg.c, mx_gap.c,
 * mx_kfac.c, mx_warm.c): the plain dot product (summed in index order), Q_ia at the last evaluation (Qf in
 * the float phase), and row i's softmax curvature for class a,
 * h_ia = q_ia (1 - q_ia / wt_i) >= 0 (0 for rows of weight 0). */
static inline double calib__mx_dotv(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}
static inline double calib__mx_q_at(const calib__mx_problem *p, size_t i, size_t a) {
  return p->fast ? (double)p->Qf[i * p->k + a] : p->Q[i * p->k + a];
}
/* 1 if every row of non-zero weight has its label strictly first in Q (Qf
 * in the float phase) at p's last evaluation: with no penalty, theta then
 * ranks every row correctly and scaling it up lowers the NLL without end
 * (mx_ncg.c and mx_warm.c stop on it; matrix_fit.c certifies it in double). */
static inline int calib__mx_separates(const calib__mx_problem *p) {
  for (size_t i = 0; i < p->n; i++) {
    if (!(p->wt[i] > 0)) continue;
    const double qy = calib__mx_q_at(p, i, (size_t)p->y[i]);
    for (size_t j = 0; j < p->k; j++)
      if (j != (size_t)p->y[i] && !(calib__mx_q_at(p, i, j) < qy)) return 0;
  }
  return 1;
}
static inline double calib__mx_row_curv(const calib__mx_problem *p, size_t i, size_t a) {
  const double wt = p->wt[i];
  if (!(wt > 0)) return 0.0;
  const double q = calib__mx_q_at(p, i, a);
  const double h = q * (1.0 - q / wt);
  return h > 0 ? h : 0.0;
}

/* mx_kfac.c: the Kronecker-factored preconditioner M (k > BJ_MAX_K).
 * alloc: CALIB_OK or CALIB_E_NOMEM (nothing to free); build: at p's last
 * evaluation (Q, or Qf in the float phase) with pc the P penalty curvatures,
 * CALIB_E_NOCONV if an eigensolve fails; apply: z = M^-1 r (P values;
 * r and z must not overlap). kf owns its buffers (free releases them; free
 * of a zeroed or failed-alloc kf is a no-op); apply writes kf's scratch, so
 * one kf serves one fit on one thread. */
typedef struct {
  size_t k, d, lwork, liwork;
  double *dbl;
  float *flt;
  void *iw;
  double *A, *C, *l, *g, *Dp, *S, *Hd, *cs, *work;
  float *Ut, *Wt, *scr;
} calib__mx_kfac;
int calib__mx_kfac_alloc(calib__mx_kfac *kf, const calib__mx_problem *p);
void calib__mx_kfac_free(calib__mx_kfac *kf);
int calib__mx_kfac_build(calib__mx_kfac *kf, const calib__mx_problem *p, const double *pc);
void calib__mx_kfac_apply(calib__mx_kfac *kf, const double *r, double *z);
/* mx_topm.c: per-class blocks of the Hessian from each class's
 * CALIB__TM_ROWS rows of largest h_ia, applied by Woodbury (k > BJ_MAX_K,
 * penalised fits). alloc: CALIB_OK or CALIB_E_NOMEM (nothing to free);
 * build: at p's last evaluation with pc the P penalty curvatures,
 * CALIB_E_NOCONV if a class has more than CALIB__TM_MAX_U unpenalised
 * coordinates or a factor fails (no allocation); apply: z = M^-1 r (P values,
 * not overlapping), reading p's features (the float copy if the build saw
 * one: p must keep it). t owns its buffers; apply writes t's scratch (one
 * fit, one thread). */
#define CALIB__TM_ROWS ((size_t)64)
#define CALIB__TM_MAX_U ((size_t)4)
typedef struct {
  size_t k, d, m;
  int xf;           /* the rows are read from p->Xf */
  double *dbl;      /* Lc, B, Ls, sh, Dinv, then scratch G, y, c, tv, zu */
  double *Lc, *B, *Ls, *sh, *Dinv, *G, *y, *c, *tv, *zu, *tv2;
  uint32_t *rows;   /* k x m: each class's rows, ascending (padding: sh = 0) */
  float *hk;        /* k x m: the selection's heaps */
  uint32_t *ui, *nu; /* k x CALIB__TM_MAX_U unpenalised coordinates; k counts */
  size_t *cnt;      /* k: rows selected a class (scratch of the selection) */
} calib__mx_topm;
int calib__mx_topm_alloc(calib__mx_topm *t, const calib__mx_problem *p);
void calib__mx_topm_free(calib__mx_topm *t);
int calib__mx_topm_build(calib__mx_topm *t, const calib__mx_problem *p, const double *pc);
void calib__mx_topm_apply(calib__mx_topm *t, const calib__mx_problem *p, const double *r, double *z);
/* mx_warm.c: L-BFGS iterations on F (p->gauge = 1) from theta, where *f and
 * g (P) are F and its gradient, updated in place with theta; at most
 * max_evals evaluations, stopping early once max |g| <= g_stop or progress
 * slows (see the file); H0 = gamma M^-1 with kf's M (rebuilt every
 * WARM_REBUILD iterations; pc: the penalty curvatures) unless kf is NULL.
 * *iters = iterations taken. CALIB_E_NOMEM (nothing changed) if its
 * (2 WARM_MEM + 1) P + CAP_ROWS k floats and 5 P doubles cannot be
 * allocated. */
int calib__mx_warm_lbfgs(calib__mx_problem *p, double *theta, double *f, double *g, int max_evals,
                         double g_stop, calib__mx_kfac *kf, const double *pc, int *iters);

#endif
