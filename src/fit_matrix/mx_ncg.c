/* mx_ncg.c -- truncated Newton (Newton-CG) for the matrix family when the
 * full Hessian is too large to form (P > CALIB_P_NEWTON_MAX).
 *
 * Each outer step solves H s = -g approximately by preconditioned conjugate
 * gradients on Hessian-vector products (calib__mx_hessvec: one forward dgemm,
 * a row pass, one gradient dgemm -- the Hessian, P x P, is never formed),
 * then backtracks (Armijo, c = 1e-4, halving) along s. The objective is the
 * gauge-minimised F(theta) = NLL + min_v penalty(theta + 1 v^T) (mx_internal.h:
 * the same minimum as L, exactly flat along the d softmax gauge directions
 * u_j = 1 (x) e_j / sqrt(k); vector scaling: the intercept only), and CG works
 * on their orthogonal complement, where F's Hessian is definite whenever L
 * has a unique minimiser: a weak penalty then leaves no near-flat gauge
 * direction to slow CG down (the same reason L-BFGS minimised over the gauge).
 * F's Hessian-vector product is L's with the penalty part replaced by the
 * gauge-reduced one, 2 c_aj (v_aj - sum_b c_bj v_bj / sum_b c_bj) for the
 * penalty curvature c_aj of entry (a, j).
 *
 * Preconditioner: per class a, M_a = H_aa + diag(penalty curvature) + r I,
 * H_aa = sum_i h_ia f_i f_i^T with h_ia = q_ia (1 - q_ia / wt_i) the class's
 * own softmax curvature on row i: the exact diagonal blocks of the NLL's
 * Hessian (block Jacobi), by dsyrk on gathered rows, or, in float, by one
 * sgemm per row block over every class at once (build_blocks_gemm: no row
 * dropped) (k n d^2 flops, ~10-20 products' worth
 * at k = 100, so rebuilt only when the last CG solve needed more than
 * CG_REBUILD products and more than twice the solve right after the last
 * build -- near the end of ill-conditioned fits fresh blocks do not shorten
 * the solves, which are long by CG's own count; rows with h_ia <= BJ_DROP s_a / n, together at most
 * BJ_DROP of the block's weight, are left out), while k <= BJ_MAX_K; beyond
 * it (k n d^2 would cost hundreds of products) mx_kfac.c's Kronecker-factored
 * M (the classes' softmax coupling times the curvature-weighted feature
 * moment, plus the penalty, rescaled to H's exact diagonal), and an L-BFGS
 * warm start with H0 = gamma M^-1 (mx_warm.c) runs first, in float and then
 * in double, until max |g| <= tol / 10 or it stalls: the Newton-CG steps
 * then only certify and finish. Before (one shared block scaled per class,
 * no coupling between classes, and no warm start) the bench's k = 1000
 * Dirichlet ODIR fit (n = 10000) took 2200 products and more than 720 s.
 * On penalised fits there (l2, or ODIR's lambda: at most CALIB__TM_MAX_U
 * unpenalised entries a class) the Newton-CG solves after the warm start
 * use mx_topm.c's per-class blocks from each class's CALIB__TM_ROWS rows
 * of largest h_ia instead (that fit: 29 products instead of 98, 48-50 s
 * instead of 66-71 s); the warm start keeps the Kronecker M (see mx_topm.c).
 * Keep M no larger than these blocks: CG's stop is measured
 * in M's norm, so a preconditioner above the Hessian in some direction lets
 * an inexact step pass the decrement test far from the optimum (dropped rows
 * put back as a diagonal term certified NLL 2.5220 against the true 2.3225
 * on unpenalised LeNet-5 matrix scaling, gap "1e-12"; tried and reverted).
 * Dropping rows only lowers M. Vector scaling: the exact 2 x 2 blocks. The factor is
 * Cholesky with a ridge r grown from 1e-12 of the mean diagonal until it
 * succeeds (a larger ridge, 1e-8, left the flat directions of unregularised
 * LeNet-5 fits unpreconditioned: 31.8 s instead of 8.4 s).
 * On matrix/Dirichlet problems with n k (k+1) >= 2^22 that are definite
 * (penalised) or whose features' correlation matrix has condition <=
 * FAST_MAX_COND (one dsyrk and a d x d eigensolve per fit; collinear features
 * such as LeNet-5's logits fail it) the products and evaluations run in
 * float32 (mx_fast.c) while max |g| > FAST_SWITCH, then in double; a CG
 * solve whose residual does not shrink in float hands over to double at
 * once. On well-conditioned features the blocks are then also built in
 * float (ssyrk).
 *
 * Forcing: CG stops at a relative preconditioned residual
 * sqrt(r^T M^-1 r / g^T M^-1 g) <= eta, eta = min(0.1, sqrt(max|g| / max|g0|))
 * (superlinear: Eisenstat-Walker's choice 2 in the gradient's own scale),
 * or after CG_MAX products, never below ETA_FINAL. (A step bound
 * -- Steihaug's rule, or shortening s to 10 or 1000 x max(1, max |theta|)
 * -- was tried and dropped: on LeNet-5's collinear logits the step has huge,
 * harmless components along the features' null directions, and bounding it
 * stalled unregularised fits at 1e-4 above the minimum.) Once max |g| <= tol the
 * step is solved to eta = ETA_FINAL = 1e-3 (ETA_CERT = 0.1 on the Kronecker path,
 * beyond BJ_MAX_K) and its decrement lambda^2 = -g.s, a
 * lower bound of g^T H^-1 g whose deficit is the energy norm of the CG error
 * (e^T H e = r^T H^-1 r), decides the stop: max |g| <= tol and lambda^2 / 2
 * <= calib__gap_target (the rule every matrix-family solver keeps); unmet,
 * the accurate step is taken. After one such solve the next can stop early,
 * certified by an upper estimate of the gap built from the smallest Ritz
 * value of the solves so far (CERT_SAFETY below). GAP_EXTRA_STEPS accurate steps after the
 * gradient test first held, or a line search that rounding stops once it
 * holds, end the fit as a success with the decrement reached (reported), as
 * on the dense Newton path. A first step that cannot be taken (no
 * preconditioner, no descent) sets res->fallback: matrix_fit.c then runs
 * L-BFGS. Without any penalty (lambda = mu = l2 = 0) the
 * solver also stops, with CALIB_E_NOCONV, as soon as its theta ranks every
 * row of non-zero weight strictly first on its label: the caller's
 * separability check (matrix_fit.c) then certifies "no optimum" without
 * waiting for the weights to diverge.
 *
 * At the end theta is moved to the minimising gauge shift (L = F there, and
 * g_L = g_F) and the condition number is estimated by Lanczos on
 * Hessian-vector products (mx_gap.c), started from M^-16 v, with
 * CALIB__LANCZOS_STEPS_LARGE steps once a product costs more than ~1e9 flops;
 * in float first where the float buffers exist (condition()).
 */
#include "mx_internal.h"
#include "checked.h"
#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>

#define CG_MAX 250
/* After the switch to double evaluations, the steps taken before the
 * gradient test holds (CG to eta >= ETA_FINAL, none of them certifies
 * anything) keep float products (twice dgemm's throughput) on Q rounded to
 * float, at most HV32_MAX per solve; a solve that does not reach eta, or a
 * step the line search refuses, is redone in double, and float products are
 * not used again in that fit. The certifying solve (max |g| <= tol) is
 * in double, except on the Kronecker path (k > BJ_MAX_K), where a double
 * product is ~0.6 s at k = 1000 and a solve to ETA_FINAL takes 60-70 of
 * them: there float products (relative error ~1e-6) give the decrement,
 * which is an estimate of the gap anyway, and a solve they fail is redone
 * in double as above. */
#define HV32_MAX 40
#define ETA_MAX 0.1
#define ETA_FINAL 1e-3
#define GAP_EXTRA_STEPS 20
/* exact per-class diagonal blocks up to this k (k n d^2 flops per build) */
#define BJ_MAX_K 200
#define START_POWER 16
#define BJ_DROP 1e-3
/* exact blocks: rows per pass (their X in L2), gathered rows per class and dsyrk */
#define BJ_ROWS ((size_t)256)
#define BJ_GATHER ((size_t)128)
#define PRE_RIDGE 1e-12
/* the preconditioner is rebuilt when the last solve took more products */
#define CG_REBUILD 6
/* The gap's upper estimate. CG on H s = -g gives, after j steps, exactly
 * g^T H^-1 g = lambda_j^2 + r_j^T H^-1 r_j (lambda_j^2 = -g.s_j, the
 * decrement, r_j the residual), and r_j^T H^-1 r_j <= r_j^T M^-1 r_j /
 * lambda_min(M^-1 H). The smallest Ritz value theta of a solve's Lanczos
 * tridiagonal (from CG's alpha and beta) estimates lambda_min(M^-1 H) from
 * above, so it is divided by CERT_SAFETY: U_j = (lambda_j^2 + CERT_SAFETY
 * r_j^T M^-1 r_j / theta) / 2 bounds the gap from above unless theta is more
 * than CERT_SAFETY times lambda_min (theta: the smallest over the solves at
 * points that passed the gradient test, each of at least CERT_MIN_STEPS
 * steps, since M was built). The stopping test uses U (>= lambda^2 / 2; with
 * eta = 1e-3, U exceeds it by ~1e-4 relative), and a solve at such a point
 * stops as soon as U_j <= calib__gap_target once a theta is known: the
 * point is certified without the rest of the solve. On the Kronecker path
 * those solves run to ETA_CERT instead of ETA_FINAL: there a step's
 * accuracy was limited by the model, not by CG (the bench's k = 1000
 * Dirichlet ODIR fit: the same F = 0.003882220372 after the first step at
 * eta = 1e-2, 1e-3, 1e-4 and 1e-5, 56, 78, 104 and 128 products), and the
 * residual term of U covers the looser solve. That fit: 78 + 71 + 68
 * products (the last one certifying a gap of 6e-15 by the decrement) became
 * 56 + 45 + 0 (U = 9.2e-13 from the gradient after the second step). With
 * the warm start as it is now (mx_warm.c) that fit's solves at 1e-2 took
 * 50 + 50 + 17 products; at ETA_CERT = 0.1 they take 26 + 34 + 28 + 14 =
 * 102 (0.05: 108, 0.25: 107 in six steps, 0.03: 101 but longer solves
 * between line searches), 86.1 -> 78.6 s, the same F to 11 digits and a
 * certified gap of 8.7e-13. */
#define CERT_SAFETY 10.0
#define CERT_MIN_STEPS 5
#define ETA_CERT 0.1
/* float32 products and evaluations (mx_fast.c) while max |g| > FAST_SWITCH
 * (or tol), on matrix/Dirichlet problems with n k (k+1) >= 2^22, as on the
 * L-BFGS path: the GEMMs are the cost, sgemm has twice dgemm's throughput */
#define FAST_MIN_WORK ((double)(1u << 22))
#define FAST_SWITCH 3e-5
#define FAST_MAX_COND 1e6
/* evaluations of the L-BFGS warm start (k > BJ_MAX_K, mx_warm.c) */
#define WARM_EVALS 1000

typedef struct {
  calib__mx_problem *p;
  size_t P, d, nb;  /* nb: 2 x 2 / d x d blocks stored (k), or 1 shared */
  double *L;        /* Cholesky factors of the preconditioner blocks */
  double *cs;       /* k: the classes' curvature (scratch) */
  float *ht;        /* k x n: h_ia, class-major */
  size_t *cnt;      /* k: rows in each class's gather buffer (in T) */
  float *Tf;        /* T as floats (the gather buffers, then one d x d block) */
  int f32, fcond;   /* build the blocks in float now; the features allow it */
  double *pc;       /* P: penalty curvature c_aj (for F's Hessian) */
  double *pcs;      /* d: sum_a c_aj */
  double *g, *s, *r, *z, *dv, *Hd, *A, *tt, *gt, *T, *C, *tmp;
  int hv;           /* Hessian-vector products so far */
  int hv32, no32;   /* products in float while evaluating in double; float products failed there */
  int kfac;         /* matrix/Dirichlet beyond BJ_MAX_K: M is mx_kfac.c's */
  calib__mx_kfac kf;
  int topm;         /* beyond BJ_MAX_K, penalised: Newton-CG's M is mx_topm.c's */
  calib__mx_topm tm;
  /* the gap's upper estimate (see CERT_SAFETY): tmin, the smallest Ritz
   * value of M^-1 H_F over the solves at points that passed the gradient
   * test since M was built (0: none yet); cert, this solve's gap target
   * (<= 0: not such a solve); certified / ubound, set by pcg when the
   * estimate met cert before the solve ended; rzf, the last solve's final
   * r^T M^-1 r */
  double tmin, cert, ubound, rzf;
  int certified;
} ncg_ws;

/* v -= its projection on F's gauge directions (all of them) */
static void proj(const ncg_ws *w, double *v) { calib__mx_gauge_project(w->p, v, 0); }

/* Penalty curvature c_aj of L (second derivative / 2 is the coefficient:
 * here the full second derivative) from one unit Hessian-vector product of
 * the penalty alone: the coefficients are those of mx_problem.c's penalty. */
static void penalty_curvature(ncg_ws *w) {
  const calib__mx_problem *p = w->p;
  const size_t k = p->k, d = p->d;
  for (size_t a = 0; a < k; a++)
    for (size_t j = 0; j < d; j++) {
      const int bias = j == d - 1;
      const int diag = p->method == CALIB_METHOD_VECTOR ? j == 0 : j == a;
      const double coef = bias ? p->mu : (diag ? 0.0 : p->lam);
      const double pw = bias ? 1.0 : p->fs2;
      w->pc[a * d + j] = 2 * pw * (coef + p->l2);
    }
  for (size_t j = 0; j < d; j++) {
    w->pcs[j] = 0;
    for (size_t a = 0; a < k; a++) w->pcs[j] += w->pc[a * d + j];
  }
}

/* out = H_F v (v off the gauge; out projected off it too). */
static void hessvec_f(ncg_ws *w, const double *v, double *out) {
  const calib__mx_problem *p = w->p;
  const size_t k = p->k, d = p->d;
  if (p->fast || w->hv32) /* NLL + the plain penalty c_aj v_aj */
    calib__mx_hessvec_fast(p, v, out);
  else
    calib__mx_hessvec(p, v, out, w->A);
  w->hv++;
  for (size_t j = 0; j < d; j++) {
    if (!(w->pcs[j] > 0)) continue;
    if (p->method == CALIB_METHOD_VECTOR && j == 0) continue; /* not a gauge */
    double m = 0;
    for (size_t a = 0; a < k; a++) m += w->pc[a * d + j] * v[a * d + j];
    m /= w->pcs[j];
    for (size_t a = 0; a < k; a++) out[a * d + j] -= w->pc[a * d + j] * m;
  }
  proj(w, out);
}

/* Condition number of the features' correlation matrix (X^T X scaled to a
 * unit diagonal, the intercept column included): one dsyrk (n d^2 flops,
 * about a quarter of one Hessian-vector product) and a d x d eigensolve
 * (dsyev_work on the lower triangle read column-major as the upper: no
 * allocation). C: 2 d^2 + d doubles. +inf if it cannot be computed. */
static double feature_cond(const calib__mx_problem *p, double *C) {
  const size_t d = p->d;
  double *ev = C + d * d, *s = ev + d; /* s, then dsyev's work: d^2 >= 3 d - 1 */
  cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)p->n, 1.0, p->X, (int)d, 0.0, C,
              (int)d);
  for (size_t j = 0; j < d; j++) s[j] = C[j * d + j] > 0 ? 1.0 / sqrt(C[j * d + j]) : 0.0;
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j <= i; j++) C[i * d + j] *= s[i] * s[j];
  if (LAPACKE_dsyev_work(LAPACK_COL_MAJOR, 'N', 'U', (lapack_int)d, C, (lapack_int)d, ev, s,
                         (lapack_int)(d * d)) != 0)
    return HUGE_VAL;
  return ev[0] > 0 ? ev[d - 1] / ev[0] : HUGE_VAL;
}

static int use_fast(const calib__mx_problem *p, double *C, int *fcond) {
  *fcond = 0;
  if (p->method == CALIB_METHOD_VECTOR || (double)p->n * (double)p->P < FAST_MIN_WORK) return 0;
  *fcond = feature_cond(p, C) <= FAST_MAX_COND;
  /* where the penalty makes the Hessian definite off the gauge (ODIR on W's
   * off-diagonal and b, or l2), always */
  if (p->l2 > 0 || (p->lam > 0 && p->mu > 0)) return 1;
  /* unpenalised, only on well-conditioned features: collinear ones (a
   * LeNet-5's 100 logits span ~86 dimensions) leave null directions, which
   * the preconditioner amplifies by ~1e12, and float products are not exact
   * enough there -- CG's residual grew instead of shrinking */
  return *fcond;
}

/* ---- the preconditioner ----------------------------------------------------- */

/* Cholesky of B + diag(pen) + r I into Lout (d x d lower), r grown from 1e-12
 * of the mean diagonal until it succeeds. */
static int factor(double *Lout, const double *B, size_t d, const double *pen, double *tmp) {
  double tr = 0;
  for (size_t j = 0; j < d; j++) tr += B[j * d + j] + pen[j];
  double r = PRE_RIDGE * tr / (double)d;
  if (!(r > 0)) r = 1e-300;
  for (int attempt = 0; attempt < 40; attempt++, r *= 100) {
    memcpy(tmp, B, d * d * sizeof(double));
    for (size_t j = 0; j < d; j++) tmp[j * d + j] += pen[j] + r;
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)d, tmp, (lapack_int)d) == 0) {
      memcpy(Lout, tmp, d * d * sizeof(double));
      return CALIB_OK;
    }
  }
  return CALIB_E_NOCONV;
}

#define PRE_BLOCK ((size_t)2048)

/* The rows of each class's block: s_a = sum_i h_ia into w->cs, h_ia into
 * w->ht (class-major, so that each class's pass reads it in order: a column
 * of Q is one cache line per row), and cut[a] = BJ_DROP s_a / n: rows with
 * h_ia <= cut[a] (together at most BJ_DROP of the block's weight) are left
 * out of the block -- most of them at k = 100. (Dropping the lightest rows
 * up to 3 % of s_a instead, a third of the rows kept, made CG stall on the
 * near-separable unregularised fit of test_matrix_scale.py: the directions
 * only those rows span were left to the 1e-12 ridge.) */
static void drop_cuts(ncg_ws *w, double *cut) {
  const calib__mx_problem *p = w->p;
  const size_t k = p->k, n = p->n;
  for (size_t a = 0; a < k; a++) w->cs[a] = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t a = 0; a < k; a++) {
      const double h = calib__mx_row_curv(p, i, a);
      w->cs[a] += h;
      w->ht[a * n + i] = (float)h;
    }
  for (size_t a = 0; a < k; a++) cut[a] = BJ_DROP * w->cs[a] / (double)n;
}

/* Class a's gathered rows sqrt(h_ia) f_i into its block (lower, in w->L).
 * In float (w->f32: ssyrk, twice dsyrk's throughput) each flush's BJ_GATHER
 * rows are summed into a fresh float block, which is added to the double
 * one: relative error ~1e-6 per entry, not the ~sqrt(n) 6e-8 growth of one
 * float sum over all rows. */
static void flush_rows(ncg_ws *w, size_t a) {
  const size_t d = w->d;
  if (!w->cnt[a]) return;
  double *La = w->L + a * d * d;
  if (w->f32) {
    float *Bf = w->Tf + w->p->k * BJ_GATHER * d;
    cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)w->cnt[a], 1.0f,
                w->Tf + a * BJ_GATHER * d, (int)d, 0.0f, Bf, (int)d);
    for (size_t i = 0; i < d; i++)
      for (size_t j = 0; j <= i; j++) La[i * d + j] += (double)Bf[i * d + j];
  } else {
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)w->cnt[a], 1.0,
                w->T + a * BJ_GATHER * d, (int)d, 1.0, La, (int)d);
  }
  w->cnt[a] = 0;
}

/* Rows i0 .. i0+m-1 (BJ_ROWS of them stay in L2) into every class's gather
 * buffer: row blocks outside, classes inside, so X is read once per build
 * (class by class over all rows, each class re-read the kept rows of X from
 * memory: 0.45 s of a 1 s build at (50000, 100)). */
static void gather_rows(ncg_ws *w, size_t i0, size_t m, const double *cut) {
  const calib__mx_problem *p = w->p;
  const size_t k = p->k, d = p->d, n = p->n;
  for (size_t a = 0; a < k; a++) {
    const float *ha = w->ht + a * n + i0;
    for (size_t r = 0; r < m; r++) {
      const double h = (double)ha[r];
      if (!(h > cut[a])) continue;
      const size_t at = (a * BJ_GATHER + w->cnt[a]) * d;
      if (w->f32) {
        const float sh = (float)sqrt(h), *x = p->Xf + (i0 + r) * d;
        for (size_t j = 0; j < d; j++) w->Tf[at + j] = sh * x[j];
      } else {
        const double sh = sqrt(h), *x = p->X + (i0 + r) * d;
        for (size_t j = 0; j < d; j++) w->T[at + j] = sh * x[j];
      }
      if (++w->cnt[a] == BJ_GATHER) flush_rows(w, a);
    }
  }
}

/* The float build of the exact blocks (w->f32: well-conditioned features,
 * float products) as one GEMM per block of PB_ROWS rows instead of a dsyrk /
 * ssyrk per class: with w_i the row's feature products x_ij x_il (j >= l,
 * D2 = d (d + 1) / 2 of them, packed row by row of the lower triangle),
 * every class's lower block at once is
 *   B[a][jl] = sum_i h_ia w_i[jl]   (an sgemm, k x D2 from (m x k)^T (m x D2))
 * -- k n d^2 flops as the per-class ssyrk calls, but in one large GEMM
 * (~185 GFLOP/s single-threaded here, against ~105 for ssyrk at d = 101 on
 * 128 gathered rows, before the gather and the per-flush adds: 0.9 -> 0.4 s
 * a build at (50000, 100)). Every row is in (h_ia = 0 adds nothing): M is the
 * exact diagonal block, no row dropped. The float sums of PB_GROUP blocks
 * (1024 rows, relative error ~2e-6 of their sum) are added into the double
 * blocks in w->L, as the gathered path's flushes were. */
#define PB_ROWS ((size_t)256)
#define PB_GROUP ((size_t)4)

static size_t pb_floats(size_t k, size_t d) {
  const size_t D2 = d * (d + 1) / 2;
  return PB_ROWS * D2 + PB_ROWS * k + k * D2; /* W, h, the float blocks */
}

/* w[l] = s x[l] and L[l] += c[l] for l < len, written eight at a time so
 * that the compiler's basic-block vectoriser packs them at -O2 (this file has
 * no -m flags; the plain loops stayed scalar, and were a third of a build). */
static void scale_row(float *restrict w, const float *restrict x, float s, size_t len) {
  size_t l = 0;
  for (; l + 8 <= len; l += 8) {
    w[l] = s * x[l], w[l + 1] = s * x[l + 1], w[l + 2] = s * x[l + 2], w[l + 3] = s * x[l + 3];
    w[l + 4] = s * x[l + 4], w[l + 5] = s * x[l + 5], w[l + 6] = s * x[l + 6], w[l + 7] = s * x[l + 7];
  }
  for (; l < len; l++) w[l] = s * x[l];
}

static void add_floats(double *restrict L, const float *restrict c, size_t len) {
  size_t l = 0;
  for (; l + 8 <= len; l += 8) {
    L[l] += (double)c[l], L[l + 1] += (double)c[l + 1], L[l + 2] += (double)c[l + 2];
    L[l + 3] += (double)c[l + 3], L[l + 4] += (double)c[l + 4], L[l + 5] += (double)c[l + 5];
    L[l + 6] += (double)c[l + 6], L[l + 7] += (double)c[l + 7];
  }
  for (; l < len; l++) L[l] += (double)c[l];
}

static void pb_flush(ncg_ws *w, const float *Cb) {
  const size_t k = w->p->k, d = w->d, D2 = d * (d + 1) / 2;
  for (size_t a = 0; a < k; a++) {
    const float *c = Cb + a * D2;
    double *La = w->L + a * d * d;
    for (size_t j = 0; j < d; j++) {
      add_floats(La + j * d, c, j + 1);
      c += j + 1;
    }
  }
}

static void build_blocks_gemm(ncg_ws *w) {
  const calib__mx_problem *p = w->p;
  const size_t k = p->k, d = p->d, n = p->n, D2 = d * (d + 1) / 2;
  float *Wb = w->Tf, *Hb = Wb + PB_ROWS * D2, *Cb = Hb + PB_ROWS * k;
  memset(w->L, 0, k * d * d * sizeof(double));
  size_t blk = 0;
  for (size_t i0 = 0; i0 < n; i0 += PB_ROWS, blk++) {
    const size_t m = n - i0 < PB_ROWS ? n - i0 : PB_ROWS;
    for (size_t r = 0; r < m; r++) {
      float *h = Hb + r * k, *wr = Wb + r * D2;
      for (size_t a = 0; a < k; a++) h[a] = (float)calib__mx_row_curv(p, i0 + r, a);
      const float *x = p->Xf + (i0 + r) * d;
      for (size_t j = 0; j < d; j++) {
        scale_row(wr, x, x[j], j + 1);
        wr += j + 1;
      }
    }
    const int first = blk % PB_GROUP == 0;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)D2, (int)m, 1.0f, Hb, (int)k, Wb,
                (int)D2, first ? 0.0f : 1.0f, Cb, (int)D2);
    if (blk % PB_GROUP == PB_GROUP - 1 || i0 + m == n) pb_flush(w, Cb);
  }
}

static int build_pre(ncg_ws *w) {
  calib__mx_problem *p = w->p;
  const size_t k = p->k, d = p->d, n = p->n;
  if (w->topm) {
    const int st = calib__mx_topm_build(&w->tm, p, w->pc);
    if (st == CALIB_OK) return st;
    calib__mx_topm_free(&w->tm); /* a class with too many free coordinates: the Kronecker M from now on */
    w->topm = 0;
  }
  if (w->kfac) return calib__mx_kfac_build(&w->kf, p, w->pc);
  if (p->method == CALIB_METHOD_VECTOR) { /* the exact 2 x 2 blocks, rows in memory order */
    double *B = w->cs + k; /* 3 k moments */
    memset(B, 0, 3 * k * sizeof(double));
    for (size_t i = 0; i < n; i++) {
      const float *zr = p->z + i * k;
      for (size_t a = 0; a < k; a++) {
        const double h = calib__mx_row_curv(p, i, a), z = (double)zr[a] * p->fs;
        B[3 * a] += h * z * z;
        B[3 * a + 1] += h * z;
        B[3 * a + 2] += h;
      }
    }
    for (size_t a = 0; a < k; a++) {
      const double Ba[4] = {B[3 * a], B[3 * a + 1], B[3 * a + 1], B[3 * a + 2]};
      double tmp[4];
      if (factor(w->L + 4 * a, Ba, 2, w->pc + 2 * a, tmp) != CALIB_OK) return CALIB_E_NOCONV;
      w->cs[a] = 1.0;
    }
    return CALIB_OK;
  }
  if (w->nb == k) { /* exact diagonal blocks, accumulated in w->L, then factored */
    w->f32 = p->fast && w->fcond;
    if (w->f32) {
      build_blocks_gemm(w);
    } else {
      double *cut = w->cs + k;
      drop_cuts(w, cut);
      memset(w->L, 0, k * d * d * sizeof(double));
      for (size_t a = 0; a < k; a++) w->cnt[a] = 0;
      for (size_t i0 = 0; i0 < n; i0 += BJ_ROWS)
        gather_rows(w, i0, n - i0 < BJ_ROWS ? n - i0 : BJ_ROWS, cut);
    }
    for (size_t a = 0; a < k; a++) {
      if (!w->f32) flush_rows(w, a);
      double *B = w->C, *La = w->L + a * d * d;
      for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j <= i; j++) B[i * d + j] = B[j * d + i] = La[i * d + j];
      if (factor(La, B, d, w->pc + a * d, w->tmp) != CALIB_OK) return CALIB_E_NOCONV;
    }
    for (size_t a = 0; a < k; a++) w->cs[a] = 1.0;
    return CALIB_OK;
  }
  return CALIB_E_NOCONV; /* not reached: k > BJ_MAX_K takes mx_kfac.c's M */
}

/* z = M^-1 r (then projected off the gauge) */
static void precond(ncg_ws *w, const double *r, double *z) {
  const calib__mx_problem *p = w->p;
  const size_t k = p->k, d = p->d;
  if (w->topm) {
    calib__mx_topm_apply(&w->tm, p, r, z);
    proj(w, z);
    return;
  }
  if (w->kfac) {
    calib__mx_kfac_apply(&w->kf, r, z);
    proj(w, z);
    return;
  }
  memcpy(z, r, w->P * sizeof(double));
  if (p->method == CALIB_METHOD_VECTOR) {
    for (size_t a = 0; a < k; a++) {
      const double *L = w->L + 4 * a;
      double *x = z + 2 * a;
      x[0] /= L[0]; /* L y = x, then L^T z = y */
      x[1] = (x[1] - L[2] * x[0]) / L[3];
      x[1] /= L[3];
      x[0] = (x[0] - L[2] * x[1]) / L[0];
    }
  } else {
    for (size_t a = 0; a < k; a++) {
      cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)d, w->L + a * d * d,
                  (int)d, z + a * d, 1);
      cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, (int)d, w->L + a * d * d,
                  (int)d, z + a * d, 1);
    }
  }
  proj(w, z);
}

/* The smallest eigenvalue of PCG's Lanczos tridiagonal after m <= CG_MAX
 * steps (alpha al[0..m), beta be[0..m-1)): diagonal 1/al_i +
 * be_(i-1)/al_(i-1), off-diagonal sqrt(be_i)/al_i; dsterf as mx_gap.c's
 * Lanczos; 0 if it cannot be computed. */
static double ritz_min(const double *al, const double *be, int m) {
  double dg[CG_MAX], of[CG_MAX];
  for (int i = 0; i < m; i++) {
    dg[i] = 1.0 / al[i] + (i > 0 ? be[i - 1] / al[i - 1] : 0.0);
    if (i + 1 < m) of[i] = sqrt(be[i]) / al[i];
  }
  if (LAPACKE_dsterf((lapack_int)m, dg, of) != 0) return 0.0;
  return dg[0] > 0 && isfinite(dg[0]) ? dg[0] : 0.0;
}

/* The gap's upper estimate (CERT_SAFETY) from the decrement lam2 = -g.s and
 * the residual's r^T M^-1 r; lam2 / 2 while no theta is known. */
static double gap_upper(const ncg_ws *w, double lam2, double rz) {
  return 0.5 * (w->tmin > 0 ? lam2 + CERT_SAFETY * rz / w->tmin : lam2);
}

/* s ~ -H^-1 g by PCG to a relative preconditioned residual eta (or CG_MAX
 * products); returns the residual ratio reached. A solve with w->cert > 0
 * (at a point that passed the gradient test) returns early with
 * w->certified = 1 (s unusable) once the gap's upper estimate meets
 * w->cert, and otherwise records its smallest Ritz value in w->tmin. */
static double pcg(ncg_ws *w, double eta) {
  const size_t P = w->P;
  double al_h[CG_MAX], be_h[CG_MAX], lam2 = 0;
  int m = 0;
  const int cert = w->cert > 0;
  w->certified = 0;
  memset(w->s, 0, P * sizeof(double));
  for (size_t i = 0; i < P; i++) w->r[i] = -w->g[i];
  proj(w, w->r);
  precond(w, w->r, w->z);
  memcpy(w->dv, w->z, P * sizeof(double));
  double rz = calib__mx_dotv(w->r, w->z, P), best = HUGE_VAL;
  const double rz0 = rz;
  if (!(rz0 > 0)) return 0.0;
  const int cg_max = w->hv32 && !w->kfac ? HV32_MAX : CG_MAX; /* Kronecker path: see HV32_MAX */
  /* a certifying solve takes at least CERT_MIN_STEPS steps (or reaches
   * ETA_FINAL) before it ends at eta: its theta needs them */
  for (int it = 0; it < cg_max; it++) {
    if (cert && w->tmin > 0) { /* the gap's upper estimate (CERT_SAFETY) */
      const double u = gap_upper(w, lam2, rz);
      if (u <= w->cert) {
        w->certified = 1;
        w->ubound = u;
        return sqrt(rz / rz0);
      }
    }
    if (!(rz > eta * eta * rz0) && (!cert || m >= CERT_MIN_STEPS || !(rz > ETA_FINAL * ETA_FINAL * rz0)))
      break;
    /* rounding can make CG diverge (near-separable data: the blocks are
     * singular to ~1e-12; the residual grew 5800-fold): past 100 x the
     * starting residual, stop at the iterate of the smallest one (PCG's
     * residual is not monotone, so nothing short of that is a sign) */
    if (rz < best) {
      best = rz;
      memcpy(w->tt, w->s, P * sizeof(double));
    } else if (rz > 1e2 * rz0) {
      memcpy(w->s, w->tt, P * sizeof(double));
      rz = best;
      break;
    }
    hessvec_f(w, w->dv, w->Hd);
    const double dHd = calib__mx_dotv(w->dv, w->Hd, P);
    if (!(dHd > 0)) break; /* rounding: F is convex */
    const double al = rz / dHd;
    lam2 += al * rz; /* -g.s after this step (r_0.d_i = r_i.z_i) */
    for (size_t i = 0; i < P; i++) {
      w->s[i] += al * w->dv[i];
      w->r[i] -= al * w->Hd[i];
    }
    precond(w, w->r, w->z);
    const double rz1 = calib__mx_dotv(w->r, w->z, P);
    const double be = rz1 / rz;
    for (size_t i = 0; i < P; i++) w->dv[i] = w->z[i] + be * w->dv[i];
    rz = rz1;
    al_h[m] = al;
    be_h[m++] = be;
  }
  if (cert && m >= CERT_MIN_STEPS && rz <= eta * eta * rz0) {
    const double th = ritz_min(al_h, be_h, m);
    if (th > 0 && (!(w->tmin > 0) || th < w->tmin)) w->tmin = th;
  }
  if (rz > 1e2 * rz0 && rz > best) { /* ended diverged: take the best iterate */
    memcpy(w->s, w->tt, P * sizeof(double));
    rz = best;
  }
  w->rzf = rz;
  if (calib__mx_dotv(w->s, w->g, P) >= 0) { /* no CG progress: the preconditioned gradient */
    precond(w, w->g, w->s);
    for (size_t i = 0; i < P; i++) w->s[i] = -w->s[i];
  }
  return sqrt(rz > 0 ? rz / rz0 : 0.0);
}

static void ws_free(ncg_ws *w) {
  if (w->kfac) calib__mx_kfac_free(&w->kf);
  if (w->topm) calib__mx_topm_free(&w->tm);
  calib__free(w->L);
  calib__free(w->cs);
  calib__free(w->ht);
  calib__free(w->cnt);
  calib__free(w->pc);
  calib__free(w->g);
  calib__free(w->A);
  calib__free(w->T);
  calib__free(w->C);
}

static int ws_alloc(ncg_ws *w, calib__mx_problem *p) {
  const size_t P = p->P, d = p->d, k = p->k;
  memset(w, 0, sizeof *w);
  w->p = p;
  w->P = P;
  w->d = d;
  const int vec = p->method == CALIB_METHOD_VECTOR;
  w->nb = vec || k <= BJ_MAX_K ? k : 1;
  w->kfac = w->nb == 1; /* matrix/Dirichlet beyond BJ_MAX_K: M from mx_kfac.c, no L, T */
  const size_t dd = vec ? 4 : d * d;
  size_t lbytes;
  if (!calib__size_mul3(w->nb, dd, sizeof(double), &lbytes) || lbytes > CALIB__MAX_ALLOC)
    return CALIB_E_NOMEM;
  w->L = w->kfac ? NULL : (double *)calib__malloc(lbytes);
  w->cs = (double *)calib__malloc(4 * k * sizeof(double)); /* + vector's 3 k moments */
  w->pc = (double *)calib__malloc((P + d) * sizeof(double));
  w->g = (double *)calib__malloc(9 * P * sizeof(double));
  w->A = (double *)calib__malloc(calib__mx_hessvec_scratch(p) * sizeof(double));
  const size_t trows = w->nb == k && k * BJ_GATHER > PRE_BLOCK ? k * BJ_GATHER : PRE_BLOCK;
  size_t tbytes = 0;
  if (!vec && (!calib__size_mul3(trows, d, sizeof(double), &tbytes) || tbytes > CALIB__MAX_ALLOC)) {
    ws_free(w);
    return CALIB_E_NOMEM;
  }
  /* the GEMM build's floats (k <= BJ_MAX_K: no overflow) */
  if (!vec && w->nb == k && pb_floats(k, d) * sizeof(float) > tbytes) tbytes = pb_floats(k, d) * sizeof(float);
  w->T = vec || w->kfac ? NULL : (double *)calib__malloc(tbytes);
  w->Tf = (float *)w->T; /* k BJ_GATHER d + d^2 floats fit in trows d doubles */
  w->C = vec ? NULL : (double *)calib__malloc((2 * d * d + d) * sizeof(double));
  if (!vec && w->nb == k) {
    size_t hb;
    w->ht = calib__size_mul3(k, p->n, sizeof(float), &hb) && hb <= CALIB__MAX_ALLOC
                ? (float *)calib__malloc(hb) : NULL;
    w->cnt = (size_t *)calib__malloc(k * sizeof(size_t));
    if (!w->ht || !w->cnt) {
      ws_free(w);
      return CALIB_E_NOMEM;
    }
  }
  if (w->kfac && calib__mx_kfac_alloc(&w->kf, p) != CALIB_OK) {
    w->kfac = 0; /* nothing of kf to free */
    ws_free(w);
    return CALIB_E_NOMEM;
  }
  /* penalised beyond BJ_MAX_K: mx_topm.c's blocks where memory allows (else the Kronecker M) */
  if (w->kfac && (p->l2 > 0 || p->lam > 0))
    w->topm = calib__mx_topm_alloc(&w->tm, p) == CALIB_OK;
  if ((!w->L && !w->kfac) || !w->cs || !w->pc || !w->g || !w->A || (!vec && !w->C) ||
      (!vec && !w->kfac && !w->T)) {
    ws_free(w);
    return CALIB_E_NOMEM;
  }
  w->pcs = w->pc + P;
  w->s = w->g + P;
  w->r = w->g + 2 * P;
  w->z = w->g + 3 * P;
  w->dv = w->g + 4 * P;
  w->Hd = w->g + 5 * P;
  w->tt = w->g + 6 * P;
  w->gt = w->g + 7 * P;
  w->tmp = w->C ? w->C + d * d : NULL;
  return CALIB_OK;
}

/* Qf := Q rounded to float: the float products at the point of the last
 * double evaluation (mx_fast.c reads the weighted softmax rows from Qf). */
static void qf_from_q(calib__mx_problem *p) {
  const size_t nk = p->n * p->k;
  for (size_t i = 0; i < nk; i++) p->Qf[i] = (float)p->Q[i];
}

/* The condition estimate at theta (p->Q evaluated there, in double): on
 * float products first where the float buffers exist (large problems that
 * ran their products in float), kept if at most CALIB__LANCZOS_F32_MAX
 * (mx_internal.h: within float's resolution) or if one double product
 * confirms its smallest Ritz value, else recomputed in double. */
static double condition(calib__mx_problem *p, const double *v0, int steps) {
  if (p->Xf) {
    qf_from_q(p);
    const double c = calib__mx_cond_lanczos_f32(p, v0, steps);
    if (!isnan(c)) return c;
  }
  return calib__mx_cond_lanczos(p, v0, steps);
}

/* Backtracking along s from theta (F at theta is *f, gradient w->g); 1 if a
 * step was taken (theta, *f, w->g updated). */
static int line_search(ncg_ws *w, double *theta, double *f) {
  const size_t P = w->P;
  const double slope = calib__mx_dotv(w->g, w->s, P), g0 = calib__mx_absmax(w->g, P);
  const int tiny = -slope < 1e3 * DBL_EPSILON * fabs(*f);
  double t = 1.0;
  for (int ls = 0; ls < 60; ls++, t *= 0.5) {
    for (size_t i = 0; i < P; i++) w->tt[i] = theta[i] + t * w->s[i];
    const double ft = calib__mx_eval(w->p, w->tt, w->gt);
    const int armijo = ft <= *f + 1e-4 * t * slope;
    const int rounding = tiny && ls == 0 && ft <= *f + 1e3 * DBL_EPSILON * fabs(*f) &&
                         calib__mx_absmax(w->gt, P) < g0;
    if (armijo || rounding) {
      memcpy(theta, w->tt, P * sizeof(double));
      memcpy(w->g, w->gt, P * sizeof(double));
      *f = ft;
      return 1;
    }
  }
  (void)calib__mx_eval(w->p, theta, w->g); /* Q back at theta */
  return 0;
}

int calib__mx_newton_cg(calib__mx_problem *p, double *theta, int max_iter, double tol,
                        calib__mx_result *res) {
  ncg_ws w;
  res->iters = 0;
  res->gmax = HUGE_VAL;
  res->gap = res->cond = res->L = (double)NAN;
  res->fallback = 0;
  int st = ws_alloc(&w, p);
  if (st != CALIB_OK) return st;
  const size_t P = p->P;
  penalty_curvature(&w);
  const int no_penalty = p->lam == 0 && p->mu == 0 && p->l2 == 0;
  p->fast = 0;
  if (use_fast(p, w.C, &w.fcond) && calib__mx_fast_alloc(p) == CALIB_OK) p->fast = 1;
  const double switch_tol = tol > FAST_SWITCH ? tol : FAST_SWITCH;
  p->gauge = 1;
  double f = calib__mx_eval(p, theta, w.g);
  const double g0 = calib__mx_absmax(w.g, P);
  int it = 0, extra = 0, hv_last = 0, fresh = -1, since = 0, rebuild = 1, warm = 0;
  /* beyond BJ_MAX_K: L-BFGS first (mx_warm.c) */
  if (w.kfac && p->fast && isfinite(f) &&
      calib__mx_warm_lbfgs(p, theta, &f, w.g, max_iter < WARM_EVALS ? max_iter : WARM_EVALS, 0.1 * tol, &w.kf,
                           w.pc, &warm) != CALIB_OK)
    warm = 0; /* no memory for it: Newton-CG from the start */
  it = warm; /* CALIB_P_MAX_ITER counts the warm start's iterations too */
  st = CALIB_E_NOCONV;
  while (isfinite(f) || p->fast) {
    double gmax = calib__mx_absmax(w.g, P);
    if (p->fast && (gmax <= switch_tol || !isfinite(f))) { /* on in double */
      p->fast = 0;
      f = calib__mx_eval(p, theta, w.g);
      if (!isfinite(f)) break;
      gmax = calib__mx_absmax(w.g, P);
    }
    const int grad_ok = gmax <= tol && !p->fast;
    if (no_penalty && it > 0 && calib__mx_separates(p)) break; /* NOCONV: matrix_fit.c certifies */
    if (rebuild) {
      if (build_pre(&w) != CALIB_OK) {
        res->fallback = it == warm;
        break;
      }
      since = 0;
      w.tmin = 0; /* a Ritz value of the former M^-1 H */
    }
    double eta = g0 > 0 ? sqrt(gmax / g0) : ETA_MAX;
    if (!(eta <= ETA_MAX)) eta = ETA_MAX;
    if (eta < ETA_FINAL || grad_ok) eta = grad_ok && w.kfac ? ETA_CERT : ETA_FINAL;
    hv_last = w.hv;
    since++;
    /* float products in double evaluations: before the gradient test holds,
     * and on the Kronecker path (k > BJ_MAX_K) for the certifying solves too
     * (see the header) */
    w.hv32 = !p->fast && p->Xf && !w.no32 && (!grad_ok || w.kfac);
    if (w.hv32) qf_from_q(p); /* Q is at theta */
    w.cert = grad_ok ? calib__gap_target(tol, f) : -1.0;
    const double rr = pcg(&w, eta);
    if (w.certified) { /* the early certificate: theta is the result */
      res->gap = w.ubound;
      st = CALIB_OK;
      break;
    }
    if (p->fast && !(rr < 1)) { /* float products failed CG: on in double */
      f = HUGE_VAL;
      continue;
    }
    if (w.hv32 && !(rr <= eta)) { /* the same step with double products */
      w.no32 = 1;
      w.hv32 = 0;
      continue;
    }
    const int used = w.hv - hv_last;
    if (since == 1) fresh = used;
    /* rebuild when the solve was long and at least twice the one right after
     * the last build (near the end the count is CG's, not the staleness's) */
    rebuild = used > CG_REBUILD && used > 2 * fresh;
    const double slope = calib__mx_dotv(w.g, w.s, P);
    if (grad_ok) {
      res->gap = gap_upper(&w, -slope, w.rzf); /* lambda^2 / 2 and the residual's part */
      if (res->gap <= calib__gap_target(tol, f) || ++extra > GAP_EXTRA_STEPS) {
        st = CALIB_OK;
        break;
      }
    }
    if (it >= max_iter) break;
    it++;
    if (!(slope < 0) || !line_search(&w, theta, &f)) {
      if (p->fast) { /* float rounding: go on in double */
        f = HUGE_VAL;
        continue;
      }
      if (w.hv32) { /* the step from float products: again with double ones */
        w.no32 = 1;
        w.hv32 = 0;
        continue;
      }
      if (grad_ok) st = CALIB_OK; /* rounding stops it: the gap reached is reported */
      res->fallback = it == warm + 1 && !grad_ok;
      break;
    }
  }
  p->fast = 0; /* the float buffers stay for the condition estimate */
  p->gauge = 0;
  calib__mx_gauge_fix(p, theta);
  if (isfinite(f)) {
    f = calib__mx_eval(p, theta, w.g); /* Q at theta for Lanczos; L = F here */
    res->gmax = calib__mx_absmax(w.g, P);
    res->L = f;
    if (st == CALIB_OK && isnan(res->gap)) res->gap = 0.0;
    /* Lanczos from M^-START_POWER v: M ~ H weights the flattest directions */
    for (size_t i = 0; i < P; i++) w.z[i] = 1.0 + 0.5 * sin(1.7 * (double)i + 0.3);
    for (int k = 0; k < START_POWER; k++) {
      precond(&w, w.z, w.r);
      const double nz = sqrt(calib__mx_dotv(w.r, w.r, P));
      if (!(nz > 0 && nz < HUGE_VAL)) break;
      for (size_t i = 0; i < P; i++) w.z[i] = w.r[i] / nz;
    }
    const double flops = 4.0 * (double)p->n * (double)p->k * (double)p->d;
    if (st == CALIB_OK) res->cond = condition(p, w.z, flops > 1e9 ? CALIB__LANCZOS_STEPS_LARGE : CALIB__LANCZOS_STEPS);
  }
  calib__mx_fast_free(p);
  res->iters = it;
  ws_free(&w);
  return st;
}
