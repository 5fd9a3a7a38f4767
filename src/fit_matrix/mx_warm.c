/* mx_warm.c -- the L-BFGS warm start of Newton-CG (mx_ncg.c) on
 * matrix/Dirichlet problems with k > BJ_MAX_K, where per-class blocks would
 * cost k n d^2 flops a build and the preconditioner is mx_kfac.c's
 * Kronecker-factored M.
 *
 * Why: far from the optimum of a near-separable fit (k = 1000, n = 10000,
 * Dirichlet ODIR: 1e6 parameters for 1e4 rows) Newton's quadratic model is
 * poor, yet each step paid for a CG solve: with the former shared block, 70,
 * 173 and 116 Hessian-vector products for the first three steps, 1090
 * (each two GEMMs, the cost of one evaluation) to get from F = 4.18 to
 * 0.0051. This L-BFGS gets from 4.18 to 0.0051 in 8 evaluations and to
 * max |g| 9e-8 in 86 (bench_matrix_scale.py's shape; 132 to 6e-8 before
 * the first-trial rule below and mx_kfac.c's gauge fix; with H0 =
 * gamma I it took 256 evaluations to 0.0049, and a numpy prototype of
 * plain L-BFGS 204 to 0.0042). Newton-CG then takes over at the optimum's
 * doorstep: its decrement certifies the gap, and the warm start never
 * decides the status of a fit.
 *
 * The method: two-loop L-BFGS on the gauge-minimised F (mx_internal.h, the
 * objective Newton-CG sees), memory WARM_MEM, the pairs (s, y) stored in
 * float (the direction needs only their leading digits), H0 = gamma M^-1
 * with gamma = s.y / y.M^-1 y of the newest pair and M rebuilt every
 * WARM_REBUILD iterations at the current point (without kf: H0 = s.y / y.y
 * I), directions projected off the gauge. One solve with M per iteration,
 * at the new gradient: M^-1 y = M^-1 g_new - M^-1 g, and the two-loop's
 * M^-1 q is combined from M^-1 g and the stored M^-1 y_j (in float, like
 * the pairs), since q = -g - sum al_j y_j. Before, each iteration also
 * solved for q and for y: a solve is four k x k x d sgemms, a fifth of an
 * evaluation's two n x k x d ones. After M is rebuilt the stored products
 * are recomputed (cnt + 1 solves). Line search: sufficient decrease
 * (c = 1e-4), backtracking to the minimiser of the quadratic interpolant
 * clamped to [0.02, 0.5] of the last trial; in the first WARM_CAP_ITERS
 * iterations the first trial is bounded so that no row's logit spread
 * (max - min over classes of X d) changes by more than WARM_CAP (one
 * float GEMM; without it the first steps overshoot by orders of magnitude
 * and each iteration pays for extra evaluations). After an iteration that
 * accepted t < 1 the next first trial is min(1, 3 t): in the middle of the
 * bench's k = 1000 Dirichlet ODIR fit the directions are 5-50 times too long
 * for twenty-odd iterations, and starting each search at 1 paid an extra
 * evaluation in each (103 iterations and 132 evaluations to max |g| 5.6e-8,
 * against 98 and 110 with this rule, before mx_kfac.c's gauge fix). A pair is kept only when
 * s.y > 1e-12 |s| |y|. The first direction is -M^-1 g (-g / max|g|
 * without kf). Evaluations run in float (p->fast, mx_fast.c) until a line
 * search fails or the last WARM_WINDOW iterations lowered F by less than
 * WARM_SLOW of its value (float rounding), then in double with the memory
 * kept; it stops, handing theta, F, g and p's Q at theta on, once max |g| <=
 * g_stop, after max_evals evaluations, or when the double phase fails a line
 * search or stalls the same way. Without any penalty it also stops once
 * theta ranks every row's label strictly first (calib__mx_separates, in
 * double: a float ranking first switches to double), where Newton-CG stops
 * at once and matrix_fit.c certifies separability: the unregularised k = 210
 * matrix fit of test_matrix_scale.py ran the warm start's 1000 evaluations
 * before that (~7 s).
 */
#include "mx_internal.h"
#include "checked.h"
#include <cblas.h>
#include <math.h>
#include <string.h>

#define WARM_MEM 8
#define WARM_WINDOW 10
#define WARM_SLOW 1e-5
/* the first trial step's bound on the change of a row's logit spread */
#define WARM_CAP 20.0
/* ... in the first iterations only, where the steps are wild (a GEMM each) */
#define WARM_CAP_ITERS 5
/* iterations between builds of M (kf) */
#define WARM_REBUILD 20

/* sum a_i b_i in four interleaved partial sums (as calib__mx_dotv): a
 * single running sum made these loops latency-bound, 4 cycles an entry */
static double dot_fd(const float *a, const double *b, size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += (double)a[i] * b[i];
    s1 += (double)a[i + 1] * b[i + 1];
    s2 += (double)a[i + 2] * b[i + 2];
    s3 += (double)a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += (double)a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

/* q += c u, and (v != NULL) the dot product of v with the updated q, summed
 * as dot_fd sums: one pass instead of two */
static double axpy_dot(double *restrict q, double c, const float *restrict u, const float *restrict v, size_t n) {
  if (!v) {
    for (size_t i = 0; i < n; i++) q[i] += c * (double)u[i];
    return 0.0;
  }
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    q[i] += c * (double)u[i];
    q[i + 1] += c * (double)u[i + 1];
    q[i + 2] += c * (double)u[i + 2];
    q[i + 3] += c * (double)u[i + 3];
    s0 += (double)v[i] * q[i];
    s1 += (double)v[i + 1] * q[i + 1];
    s2 += (double)v[i + 2] * q[i + 2];
    s3 += (double)v[i + 3] * q[i + 3];
  }
  for (; i < n; i++) {
    q[i] += c * (double)u[i];
    s0 += (double)v[i] * q[i];
  }
  return (s0 + s1) + (s2 + s3);
}

/* The largest change t = 1 along d makes to any row's spread of logits,
 * max_i (max_a D_ia - min_a D_ia) with D = X d^T, in float blocks of
 * CAP_ROWS rows (X as floats: p->Xf, the float phase's). */
#define CAP_ROWS ((size_t)256)
static double logit_spread(const calib__mx_problem *p, const double *d, float *df, float *blk) {
  const size_t n = p->n, k = p->k, dd = p->d;
  for (size_t q = 0; q < p->P; q++) df[q] = (float)d[q];
  double best = 0;
  for (size_t i0 = 0; i0 < n; i0 += CAP_ROWS) {
    const size_t m = n - i0 < CAP_ROWS ? n - i0 : CAP_ROWS;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)k, (int)dd, 1.0f, p->Xf + i0 * dd, (int)dd,
                df, (int)dd, 0.0f, blk, (int)k);
    for (size_t r = 0; r < m; r++) {
      float lo = blk[r * k], hi = lo;
      for (size_t a = 1; a < k; a++) {
        const float v = blk[r * k + a];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
      }
      if ((double)hi - (double)lo > best) best = (double)hi - (double)lo;
    }
  }
  return best;
}

/* q := -H g by the two-loop recursion over the stored pairs (oldest first
 * at index (head - cnt) mod WARM_MEM). With zg (kf), H0 = gamma M^-1 is
 * applied without a preconditioner solve: the first loop leaves q = -g -
 * sum_j al_j y_j, so M^-1 q = -zg - sum_j al_j Zy_j from zg = M^-1 g and the
 * stored Zy_j = M^-1 y_j (M is linear). Each pass over q also forms the
 * next pair's dot product with the updated q (the same sums, in the same
 * order, as a pass of its own: at P = 1e6 the loops are memory-bound, and
 * the pairs' 4 MB float vectors were read once for the dot and once for the
 * update). */
static void two_loop(const float *S, const float *Y, const float *Zy, const double *rho, size_t P, int head,
                     int cnt, const double *g, const double *zg, double *q, double *al, double gamma) {
#define PAIR(c) ((head - 1 - (c) + 2 * WARM_MEM) % WARM_MEM) /* c = 0: the newest */
  for (size_t i = 0; i < P; i++) q[i] = -g[i];
  double dn = cnt > 0 ? dot_fd(S + (size_t)PAIR(0) * P, q, P) : 0.0;
  for (int c = 0; c < cnt; c++) { /* newest to oldest: al_j = rho_j s_j.q; q -= al_j y_j */
    const int j = PAIR(c);
    const float *y = Y + (size_t)j * P, *sn = c + 1 < cnt ? S + (size_t)PAIR(c + 1) * P : NULL;
    al[j] = rho[j] * dn;
    dn = axpy_dot(q, -al[j], y, sn, P);
  }
  if (zg) { /* H0 = gamma M^-1: q = gamma (-zg - sum al_j Zy_j), one pass in blocks */
    enum { B = 512 };
    for (size_t i0 = 0; i0 < P; i0 += B) {
      const size_t m = P - i0 < B ? P - i0 : B;
      double v[B];
      for (size_t i = 0; i < m; i++) v[i] = -zg[i0 + i];
      for (int c = 0; c < cnt; c++) {
        const int j = PAIR(c);
        const float *z = Zy + (size_t)j * P + i0;
        const double a = al[j];
        for (size_t i = 0; i < m; i++) v[i] -= a * (double)z[i];
      }
      for (size_t i = 0; i < m; i++) q[i0 + i] = gamma * v[i];
    }
  } else {
    for (size_t i = 0; i < P; i++) q[i] *= gamma;
  }
  dn = cnt > 0 ? dot_fd(Y + (size_t)PAIR(cnt - 1) * P, q, P) : 0.0;
  for (int c = cnt - 1; c >= 0; c--) { /* oldest to newest: q += (al_j - rho_j y_j.q) s_j */
    const int j = PAIR(c);
    const float *s = S + (size_t)j * P, *yn = c > 0 ? Y + (size_t)PAIR(c - 1) * P : NULL;
    dn = axpy_dot(q, al[j] - rho[j] * dn, s, yn, P);
  }
#undef PAIR
}

/* zg := M^-1 g and Zy_j := M^-1 y_j for the stored pairs (after M was
 * built: the stored products belong to the former M); tmp: P doubles. */
static void refresh_products(calib__mx_kfac *kf, const float *Y, float *Zy, size_t P, int head, int cnt,
                             const double *g, double *zg, double *tmp, double *tmp2) {
  calib__mx_kfac_apply(kf, g, zg);
  for (int c = 0; c < cnt; c++) {
    const int j = (head - 1 - c + WARM_MEM) % WARM_MEM;
    const float *y = Y + (size_t)j * P;
    for (size_t i = 0; i < P; i++) tmp2[i] = (double)y[i];
    calib__mx_kfac_apply(kf, tmp2, tmp);
    for (size_t i = 0; i < P; i++) Zy[(size_t)j * P + i] = (float)tmp[i];
  }
}

int calib__mx_warm_lbfgs(calib__mx_problem *p, double *theta, double *f, double *g, int max_evals,
                         double g_stop, calib__mx_kfac *kf, const double *pc, int *iters) {
  int evals = 0;
  const size_t P = p->P;
  *iters = 0;
  size_t fb, cb, db;
  if (!calib__size_mul3(3 * WARM_MEM + 1, P, sizeof(float), &fb) ||
      !calib__size_mul3(CAP_ROWS, p->k, sizeof(float), &cb) || !calib__size_add(fb, cb, &fb) ||
      fb > CALIB__MAX_ALLOC || !calib__size_mul3(6, P, sizeof(double), &db) || db > CALIB__MAX_ALLOC)
    return CALIB_E_NOMEM;
  float *S = (float *)calib__malloc(fb); /* S, Y, Zy (WARM_MEM P each), d in float (P), a cap block */
  double *d = (double *)calib__malloc(db);
  if (!S || !d) {
    calib__free(S);
    calib__free(d);
    return CALIB_E_NOMEM;
  }
  float *Y = S + (size_t)WARM_MEM * P, *Zy = Y + (size_t)WARM_MEM * P, *df = Zy + (size_t)WARM_MEM * P,
        *blk = df + P;
  double *tt = d + P, *gt = d + 2 * P, *yv = d + 3 * P, *tmp = d + 4 * P, *zg = d + 5 * P;
  int zg_ok = 0, built_at = -1; /* zg = M^-1 g and Zy = M^-1 Y for the current M and g */
  double rho[WARM_MEM], al[WARM_MEM], hist[WARM_WINDOW + 1];
  double gamma = 0;
  int head = 0, cnt = 0, it = 0;
  hist[0] = *f;
  int nwin = 0, to_double = 0;
  double t_first = 1.0; /* the first trial step (see the header) */
  const int no_penalty = p->lam == 0 && p->mu == 0 && p->l2 == 0;
  for (;;) {
    const double gm = calib__mx_absmax(g, P);
    if (p->fast && (to_double || gm <= g_stop)) { /* the float phase ends: on in double, memory kept */
      p->fast = 0;
      to_double = 0;
      *f = calib__mx_eval(p, theta, g);
      ++evals;
      zg_ok = 0; /* g is the double one now */
      if (no_penalty && calib__mx_separates(p)) break;
      hist[0] = *f;
      nwin = 0;
      continue;
    }
    if (evals >= max_evals || !isfinite(*f) || gm <= g_stop) break;
    if (kf && it % WARM_REBUILD == 0 && built_at != it) { /* once per such iteration */
      built_at = it;
      zg_ok = 0;
      if (calib__mx_kfac_build(kf, p, pc) != CALIB_OK) kf = NULL;
    }
    if (kf && !zg_ok) {
      refresh_products(kf, Y, Zy, P, head, cnt, g, zg, tmp, yv);
      zg_ok = 1;
    }
    if (cnt > 0) {
      two_loop(S, Y, Zy, rho, P, head, cnt, g, kf ? zg : NULL, d, al, gamma);
    } else if (kf) {
      for (size_t i = 0; i < P; i++) d[i] = -zg[i];
    } else {
      for (size_t i = 0; i < P; i++) d[i] = -g[i] / gm;
    }
    calib__mx_gauge_project(p, d, 0);
    double slope = calib__mx_dotv(g, d, P);
    if (!(slope < 0)) { /* not a descent direction: drop the memory once */
      if (cnt == 0) break;
      cnt = 0;
      continue;
    }
    double t = t_first, ft = HUGE_VAL;
    if (p->Xf && it < WARM_CAP_ITERS) { /* the first trial changes no row's logit spread by more than WARM_CAP */
      const double sp = logit_spread(p, d, df, blk);
      if (sp > WARM_CAP) t = WARM_CAP / sp;
    }
    int ok = 0;
    for (int ls = 0; ls < 30 && evals < max_evals; ls++) {
      for (size_t i = 0; i < P; i++) tt[i] = theta[i] + t * d[i];
      ft = calib__mx_eval(p, tt, gt);
      ++evals;
      if (ft <= *f + 1e-4 * t * slope) {
        ok = 1;
        break;
      }
      const double den = 2 * (ft - *f - slope * t);
      double tn = isfinite(ft) && den > 0 ? -slope * t * t / den : 0.5 * t;
      if (tn < 0.02 * t) tn = 0.02 * t;
      if (tn > 0.5 * t) tn = 0.5 * t;
      t = tn;
    }
    if (!ok && p->fast) { /* float rounding, most likely: on in double from theta */
      to_double = 1;
      continue;
    }
    if (!ok) { /* theta, f and g stay at the last accepted point */
      (void)calib__mx_eval(p, theta, g); /* Q back at theta for the caller */
      ++evals;
      break;
    }
    t_first = t < 1 ? (3 * t < 1 ? 3 * t : 1.0) : 1.0;
    /* the pair: s = t d, y = g_new - g_old (y also in double, for M^-1 y) */
    float *sj = S + (size_t)head * P, *yj = Y + (size_t)head * P;
    double sy = 0, ss = 0, yy = 0;
    for (size_t i = 0; i < P; i++) {
      const double si = t * d[i], yi = gt[i] - g[i];
      yv[i] = yi;
      sj[i] = (float)si;
      yj[i] = (float)yi;
      sy += si * yi;
      ss += si * si;
      yy += yi * yi;
    }
    if (kf) { /* M^-1 at the new gradient, the only solve of the iteration; M^-1 y = M^-1 g_new - M^-1 g */
      calib__mx_kfac_apply(kf, gt, tmp);
      for (size_t i = 0; i < P; i++) {
        const double zy = tmp[i] - zg[i];
        zg[i] = tmp[i];
        tmp[i] = zy;
      }
    }
    if (sy > 1e-12 * sqrt(ss * yy)) {
      rho[head] = 1.0 / sy;
      if (kf) { /* gamma = s.y / y.M^-1 y */
        const double ymy = calib__mx_dotv(yv, tmp, P);
        gamma = ymy > 0 ? sy / ymy : 1.0;
        float *zj = Zy + (size_t)head * P;
        for (size_t i = 0; i < P; i++) zj[i] = (float)tmp[i];
      } else {
        gamma = sy / yy;
      }
      head = (head + 1) % WARM_MEM;
      if (cnt < WARM_MEM) cnt++;
    }
    memcpy(theta, tt, P * sizeof(double));
    memcpy(g, gt, P * sizeof(double));
    *f = ft;
    it++;
    *iters = it;
    if (no_penalty && calib__mx_separates(p)) { /* Newton-CG stops on it at once (NOCONV) */
      if (!p->fast) break;
      to_double = 1; /* Qf's ranking is checked again in double */
      continue;
    }
    if (++nwin <= WARM_WINDOW) {
      hist[nwin] = ft;
      continue;
    }
    memmove(hist, hist + 1, WARM_WINDOW * sizeof(double));
    hist[WARM_WINDOW] = ft;
    if (hist[0] - ft < WARM_SLOW * ft) { /* stalled: in float, on in double; in double, done */
      if (!p->fast) break;
      to_double = 1;
    }
  }
  calib__free(S);
  calib__free(d);
  return CALIB_OK;
}
