/* platt_newton.c -- the Lin, Lin & Weng (2007) Newton solver (libsvm's
 * sigmoid_train shape) for a binary logistic fit with <= 2 features and an
 * intercept. Written from the description in REFERENCES.md section 2.14 and
 * the paper; the data pass is organised for speed on large n:
 *
 * - one fused pass per trial point computes F, the gradient and the Hessian
 *   (the accepted trial point's derivatives are those of the next step), so a
 *   fit costs (Newton steps + line-search rejections + 1) passes;
 * - rows are processed in blocks of LR_BLOCK: u, e = exp(-|u|) and the
 *   per-row derivative terms first (simple loops the compiler can schedule
 *   or vectorise), then the sums; sum log1p(e) of an unweighted block is the
 *   log of the product of (1 + e) (one log per block instead of per row:
 *   the product of 64 factors in (1, 2] cannot overflow);
 * - block sums of F are added with Kahan compensation, so F is accurate to a
 *   few ulps and the Armijo test works at n = 1e6 and beyond.
 */
#include "platt_newton.h"
#include "platt_pass.h"

#include <float.h>
#include <math.h>

#define LR_ARMIJO 1e-4   /* libsvm's sufficient-decrease constant */
#define LR_SIGMA 1e-12   /* libsvm's Hessian diagonal shift (times wbar) */
#define LR_NOISE 1e3     /* rounding floor of F: LR_NOISE * DBL_EPSILON * F */
#define LR_GAP_EXTRA 20  /* Newton steps allowed for it after the gradient test */

typedef struct {
  double F;                 /* objective with targets t */
  double Fh;                /* objective with 0/1 labels (the reported NLL) */
  double g[CALIB__LR_MAXP];
  double H[CALIB__LR_MAXP][CALIB__LR_MAXP];
} lr_eval;

typedef struct {
  const calib__lr_problem *p;
  size_t d;                 /* parameters: nfeat + 1 */
  double t0, t1;            /* targets of negative / positive rows */
  double wbar, sigma;
  double inv[2];            /* feature j is used as f_j * inv[j] (a power of 2) */
  calib__lr_kernel kernel;
} lr_ctx;

/* ---- one pass --------------------------------------------------------------- */

/* Copies the full block of rows [i0, i0 + CALIB__LR_BLOCK), each feature
 * times its power-of-two scale (exact): fixed trip counts, so the compiler
 * vectorises the conversions. Without weights, w keeps the ones set by
 * evaluate(). */
static void load_full(const lr_ctx *c, size_t i0, calib__lr_block *b) {
  const calib__lr_problem *p = c->p;
  const double s1 = c->inv[0], s2 = c->inv[1];
  if (p->nfeat >= 1 && p->xf && p->ldf == 1) {
    const float *x = p->xf + i0;
    for (size_t i = 0; i < CALIB__LR_BLOCK; i++) b->f1[i] = (double)x[i] * s1;
  } else if (p->nfeat >= 1 && p->xf) {
    const float *x = p->xf + i0 * p->ldf;
    for (size_t i = 0; i < CALIB__LR_BLOCK; i++) b->f1[i] = (double)x[i * p->ldf] * s1;
  } else if (p->nfeat >= 1) {
    const double *x = p->col[0] + i0 * p->ldd;
    for (size_t i = 0; i < CALIB__LR_BLOCK; i++) b->f1[i] = x[i * p->ldd] * s1;
  }
  if (p->nfeat >= 2) {
    const double *x = p->col[1] + i0 * p->ldd;
    for (size_t i = 0; i < CALIB__LR_BLOCK; i++) b->f2[i] = x[i * p->ldd] * s2;
  }
  const uint8_t *y = p->pos + i0;
  for (size_t i = 0; i < CALIB__LR_BLOCK; i++) b->y[i] = (double)y[i];
  if (p->w) memcpy(b->w, p->w + i0, sizeof b->w);
}

/* The last, partial block of m rows, padded with zero-weight rows. */
static void load_tail(const lr_ctx *c, size_t i0, size_t m, calib__lr_block *b) {
  const calib__lr_problem *p = c->p;
  for (size_t i = 0; i < CALIB__LR_BLOCK; i++) {
    const size_t r = i0 + (i < m ? i : 0); /* padding repeats a valid row */
    b->f1[i] = p->nfeat < 1 ? 0.0
               : (p->xf ? (double)p->xf[r * p->ldf] : p->col[0][r * p->ldd]) * c->inv[0];
    b->f2[i] = p->nfeat < 2 ? 0.0 : p->col[1][r * p->ldd] * c->inv[1];
    b->y[i] = (double)p->pos[r];
    b->w[i] = i >= m ? 0.0 : p->w ? p->w[r] : 1.0;
  }
}

static void kahan_add(double *sum, double *comp, double v) {
  const double y = v - *comp, t = *sum + y;
  *comp = (t - *sum) - y;
  *sum = t;
}

/* Maps the kernel's fixed (f1, f2, 1) sums onto the d active parameters. */
static void add_sums(size_t nfeat, const calib__lr_bsums *s, lr_eval *ev) {
  static const int gi[3][3] = {{2, 0, 0}, {0, 2, 0}, {0, 1, 2}};
  static const int hi[3][3][3] = {{{5}}, {{0, 2}, {2, 5}},
                                  {{0, 1, 2}, {1, 3, 4}, {2, 4, 5}}};
  for (size_t a = 0; a <= nfeat; a++) {
    ev->g[a] += s->g[gi[nfeat][a]];
    for (size_t b = a; b <= nfeat; b++) ev->H[a][b] += s->h[hi[nfeat][a][b]];
  }
}

/* F, Fh, gradient and Hessian (upper triangle mirrored) at theta. */
static void evaluate(const lr_ctx *c, const double *th, lr_eval *ev) {
  calib__lr_block blk;
  calib__lr_bsums bs;
  calib__lr_bparams bp;
  const size_t nf = c->p->nfeat;
  double Fc = 0, Fhc = 0;
  bp.th1 = nf >= 1 ? th[0] : 0.0;
  bp.th2 = nf >= 2 ? th[1] : 0.0;
  bp.b = th[nf];
  bp.t0 = c->t0;
  bp.t1 = c->t1;
  bp.nfeat = nf;
  bp.weighted = c->p->w != NULL;
  memset(ev, 0, sizeof *ev);
  for (size_t i = 0; i < CALIB__LR_BLOCK; i++) blk.w[i] = 1.0;
  for (size_t i0 = 0; i0 < c->p->n; i0 += CALIB__LR_BLOCK) {
    const size_t m = c->p->n - i0 < CALIB__LR_BLOCK ? c->p->n - i0 : CALIB__LR_BLOCK;
    if (m == CALIB__LR_BLOCK) load_full(c, i0, &blk);
    else load_tail(c, i0, m, &blk);
    c->kernel(&blk, &bp, &bs);
    add_sums(nf, &bs, ev);
    kahan_add(&ev->F, &Fc, bs.F);
    kahan_add(&ev->Fh, &Fhc, bs.Fh);
  }
  for (size_t a = 0; a < c->d; a++)
    for (size_t b = 0; b < a; b++) ev->H[a][b] = ev->H[b][a];
}

/* ---- Newton step -------------------------------------------------------------- */

/* Solves (H + sigma I) x = -g by LDL^T (d <= 3). A pivot that rounding has
 * made non-positive or negligible (<= 1e-14 of the largest diagonal) marks
 * a direction the data do not determine: its step is set to 0. */
static void newton_direction(const lr_ctx *c, const lr_eval *ev, double *x) {
  const size_t d = c->d;
  double L[CALIB__LR_MAXP][CALIB__LR_MAXP] = {{0}}, D[CALIB__LR_MAXP], z[CALIB__LR_MAXP];
  double hmax = 0;
  for (size_t a = 0; a < d; a++)
    if (ev->H[a][a] + c->sigma > hmax) hmax = ev->H[a][a] + c->sigma;
  for (size_t j = 0; j < d; j++) {
    double dj = ev->H[j][j] + c->sigma;
    for (size_t k = 0; k < j; k++) dj -= L[j][k] * L[j][k] * D[k];
    D[j] = dj > 1e-14 * hmax ? dj : 0.0;
    for (size_t i = j + 1; i < d; i++) {
      double v = ev->H[i][j];
      for (size_t k = 0; k < j; k++) v -= L[i][k] * L[j][k] * D[k];
      L[i][j] = D[j] > 0 ? v / D[j] : 0.0;
    }
  }
  for (size_t i = 0; i < d; i++) {
    double v = -ev->g[i];
    for (size_t k = 0; k < i; k++) v -= L[i][k] * z[k];
    z[i] = v;
  }
  for (size_t i = 0; i < d; i++) z[i] = D[i] > 0 ? z[i] / D[i] : 0.0;
  for (size_t i = d; i-- > 0;) {
    double v = z[i];
    for (size_t k = i + 1; k < d; k++) v -= L[k][i] * x[k];
    x[i] = v;
  }
}

static double dot(size_t d, const double *a, const double *b) {
  double s = 0;
  for (size_t i = 0; i < d; i++) s += a[i] * b[i];
  return s;
}

static double grad_max(size_t d, const double *g) {
  double m = 0;
  for (size_t i = 0; i < d; i++)
    if (fabs(g[i]) > m) m = fabs(g[i]);
  return m;
}

/* Backtracking from step 1 (libsvm). On success *cur holds the accepted
 * point's evaluation and th is updated; returns 0, or -1 if the step fell
 * below min_step. */
static int line_search(const lr_ctx *c, const calib__lr_options *o, double *th,
                       lr_eval *cur) {
  double dir[CALIB__LR_MAXP], trial[CALIB__LR_MAXP], dn[CALIB__LR_MAXP];
  lr_eval ev;
  newton_direction(c, cur, dir);
  const double gd = dot(c->d, cur->g, dir); /* -(Newton decrement)^2 */
  const double floor = LR_NOISE * DBL_EPSILON * fabs(cur->F);
  for (double step = 1.0; step >= o->min_step; step *= 0.5) {
    for (size_t j = 0; j < c->d; j++) trial[j] = th[j] + step * dir[j];
    evaluate(c, trial, &ev);
    int accept = ev.F < cur->F + LR_ARMIJO * step * gd;
    if (!accept && step == 1.0 && -gd <= floor) {
      newton_direction(c, &ev, dn); /* rounding regime: take the full step */
      accept = -dot(c->d, ev.g, dn) < -gd; /* if it lowers the decrement */
    }
    if (accept) {
      memcpy(th, trial, c->d * sizeof *th);
      *cur = ev;
      return 0;
    }
  }
  return -1;
}

/* ---- driver ------------------------------------------------------------------- */

static double value_at(const float *xf, const double *xd, size_t ld, size_t i);

/* Features whose root mean square is within [1/16, 16] are used as they are
 * (libsvm's iterations exactly); others are standardised internally. */
#define LR_PLAIN_SCALE 16.0

/* The power-of-two factor feature j is multiplied by inside the solver: 1, or
 * 2^-e with rms in [2^(e-1), 2^e) when the root mean square is outside
 * [1/16, 16]. Scaling is then exact, and the solver (its Hessian shift
 * sigma, its pivot threshold, its gradient test) sees the same numbers for
 * scores x c as for the scores, for every power of two c: the fitted
 * coefficient is exactly 1/c times the unscaled one, for scores of any size
 * the float range holds (libsvm's fixed shift and gradient test otherwise
 * stall above ~1e6 and accept A = 0 below ~1e-6). */
static double feature_factor(const calib__lr_problem *p, size_t j) {
  const float *xf = j == 0 ? p->xf : NULL;
  const size_t ld = xf ? p->ldf : p->ldd;
  double ss = 0;
  for (size_t i = 0; i < p->n; i++) {
    const double v = value_at(xf, p->col[j], ld, i);
    ss += v * v;
  }
  const double rms = sqrt(ss / (double)p->n);
  if (!(rms > 0 && rms < HUGE_VAL) || (rms >= 1 / LR_PLAIN_SCALE && rms <= LR_PLAIN_SCALE))
    return 1.0;
  int e;
  (void)frexp(rms, &e);
  return ldexp(1.0, -e);
}

static void weighted_counts(const calib__lr_problem *p, double *npos, double *nneg) {
  if (!p->w) { /* branch-free: labels are not predictable */
    size_t c = 0;
    for (size_t i = 0; i < p->n; i++) c += p->pos[i];
    *npos = (double)c;
    *nneg = (double)(p->n - c);
    return;
  }
  double a = 0, b = 0;
  for (size_t i = 0; i < p->n; i++) {
    const double y = (double)p->pos[i];
    a += p->w[i] * y;
    b += p->w[i] * (1.0 - y);
  }
  *npos = a;
  *nneg = b;
}

int calib__lr_fit(const calib__lr_problem *p, const calib__lr_options *o,
                  calib__lr_result *r) {
  lr_ctx c;
  double npos, nneg, th[CALIB__LR_MAXP] = {0, 0, 0};
  weighted_counts(p, &npos, &nneg);
  c.p = p;
  c.d = p->nfeat + 1;
  c.t1 = p->smooth ? (npos + 1.0) / (npos + 2.0) : 1.0;
  c.t0 = p->smooth ? 1.0 / (nneg + 2.0) : 0.0;
  c.wbar = (npos + nneg) / (double)p->n;
  c.sigma = LR_SIGMA * c.wbar;
  c.kernel = calib__lr_kernel_get();
  for (size_t j = 0; j < 2; j++) c.inv[j] = j < p->nfeat ? feature_factor(p, j) : 1.0;
  memset(r, 0, sizeof *r);
  if (!p->smooth && (npos == 0 || nneg == 0)) return CALIB_E_SEPARABLE;
  th[p->nfeat] = log((npos + 1.0) / (nneg + 1.0));
  lr_eval cur;
  evaluate(&c, th, &cur);
  int it = 0, st = CALIB_OK, extra = 0;
  const double W = npos + nneg;
  for (;;) {
    /* libsvm's gradient test, and the Newton decrement (per unit weight) as
     * a bound on the objective gap: with libsvm's tolerance on the summed
     * gradient the second holds whenever the first does on well-conditioned
     * data (libsvm's iterations are unchanged there); on nearly collinear
     * features it asks for the steps the gradient test skipped, at most
     * LR_GAP_EXTRA of them */
    const int grad_ok = grad_max(c.d, cur.g) < o->tol * c.wbar;
    if (grad_ok) {
      double dir[CALIB__LR_MAXP];
      newton_direction(&c, &cur, dir);
      const double gap = -0.5 * dot(c.d, cur.g, dir) / W, f = cur.F / W;
      if (gap <= calib__gap_target(o->tol, f) || ++extra > LR_GAP_EXTRA) break;
    }
    if (it >= o->max_iter) { st = grad_ok ? CALIB_OK : CALIB_E_NOCONV; break; }
    if (line_search(&c, o, th, &cur) != 0) { st = grad_ok ? CALIB_OK : CALIB_E_NOCONV; break; }
    it++;
  }
  memcpy(r->theta, th, sizeof th);
  for (size_t j = 0; j < p->nfeat; j++) r->theta[j] = th[j] * c.inv[j]; /* original units */
  r->iterations = it;
  r->gradient = grad_max(c.d, cur.g) / c.wbar;
  {
    double dir[CALIB__LR_MAXP], Hf[CALIB__LR_MAXP * CALIB__LR_MAXP];
    newton_direction(&c, &cur, dir);
    r->gap = -0.5 * dot(c.d, cur.g, dir) / (npos + nneg);
    for (size_t a = 0; a < c.d; a++)
      for (size_t b = 0; b < c.d; b++) Hf[a * c.d + b] = cur.H[a][b];
    r->cond = calib__small_cond(Hf, c.d);
  }
  r->nll_hard = cur.Fh / (npos + nneg);
  return st;
}

double calib__lr_nll(const calib__lr_problem *p, const double *theta) {
  lr_ctx c;
  lr_eval ev;
  double npos, nneg;
  weighted_counts(p, &npos, &nneg);
  c.p = p;
  c.d = p->nfeat + 1;
  c.t1 = 1.0;
  c.t0 = 0.0;
  c.wbar = c.sigma = 0.0;
  c.inv[0] = c.inv[1] = 1.0;
  c.kernel = calib__lr_kernel_get();
  evaluate(&c, theta, &ev);
  return ev.Fh / (npos + nneg);
}

/* ---- degenerate-data checks ------------------------------------------------- */

static double value_at(const float *xf, const double *xd, size_t ld, size_t i) {
  return xf ? (double)xf[i * ld] : xd[i * ld];
}

int calib__lr_constant(const float *xf, const double *xd, size_t ld, size_t n,
                       const double *w) {
  int seen = 0;
  double v0 = 0;
  for (size_t i = 0; i < n; i++) {
    if (w && w[i] == 0) continue;
    const double v = value_at(xf, xd, ld, i);
    if (!seen) { v0 = v; seen = 1; }
    else if (v != v0) return 0;
  }
  return 1;
}

int calib__lr_separable(const float *xf, const double *xd, size_t ld, size_t n,
                        const uint8_t *pos, const double *w) {
  const double inf = (double)INFINITY;
  double lo[2] = {inf, inf}, hi[2] = {-inf, -inf};
  for (size_t i = 0; i < n; i++) {
    if (w && w[i] == 0) continue;
    const double v = value_at(xf, xd, ld, i);
    const int c = pos[i] ? 1 : 0;
    if (v < lo[c]) lo[c] = v;
    if (v > hi[c]) hi[c] = v;
  }
  if (lo[0] > hi[0] || lo[1] > hi[1]) return 1; /* a class is absent */
  if (calib__lr_constant(xf, xd, ld, n, w)) return 0;
  return hi[0] <= lo[1] || hi[1] <= lo[0];
}

/* ---- the condition number of a small symmetric matrix ------------------------ */

double calib__small_cond(const double *H, size_t d) {
  double A[3][3] = {{0}};
  if (d == 0 || d > 3) return (double)NAN;
  for (size_t a = 0; a < d; a++)
    for (size_t b = 0; b < d; b++) A[a][b] = H[a * d + b];
  for (int sweep = 0; sweep < 50; sweep++) { /* cyclic Jacobi */
    double off = 0;
    for (size_t p = 0; p < d; p++)
      for (size_t q = p + 1; q < d; q++) off += A[p][q] * A[p][q];
    if (!(off > 0)) break;
    for (size_t p = 0; p < d; p++)
      for (size_t q = p + 1; q < d; q++) {
        if (A[p][q] == 0) continue;
        const double th = (A[q][q] - A[p][p]) / (2 * A[p][q]);
        const double t = (th >= 0 ? 1.0 : -1.0) / (fabs(th) + sqrt(th * th + 1));
        const double c = 1 / sqrt(t * t + 1), sn = t * c;
        for (size_t k = 0; k < d; k++) { /* columns p, q */
          const double akp = A[k][p], akq = A[k][q];
          A[k][p] = c * akp - sn * akq;
          A[k][q] = sn * akp + c * akq;
        }
        for (size_t k = 0; k < d; k++) { /* rows p, q */
          const double apk = A[p][k], aqk = A[q][k];
          A[p][k] = c * apk - sn * aqk;
          A[q][k] = sn * apk + c * aqk;
        }
      }
  }
  double lo = A[0][0], hi = A[0][0];
  for (size_t a = 1; a < d; a++) {
    if (A[a][a] < lo) lo = A[a][a];
    if (A[a][a] > hi) hi = A[a][a];
  }
  return lo > 0 ? hi / lo : (double)INFINITY;
}
