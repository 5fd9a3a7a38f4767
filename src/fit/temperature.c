/* temperature.c -- temperature scaling fit (Guo et al. 2017).
 *
 * Minimises the weighted mean NLL over beta = 1/T. With d_ij = z_ij - max_j z_ij
 * and p_i = softmax(beta d_i):
 *   L(beta)   = mean_w [ log sum_j exp(beta d_ij) - beta d_{i,y_i} ]
 *   L'(beta)  = mean_w [ E_{p_i}[d_i] - d_{i,y_i} ]
 *   L''(beta) = mean_w [ Var_{p_i}[d_i] ] >= 0
 * so L is convex in beta (not in T). Binary (k == 1): p = sigmoid(beta x),
 *   L = mean_w [softplus(beta x) - y beta x], L' = mean_w [x (p - y)],
 *   L'' = mean_w [x^2 p (1 - p)].
 * Before iterating, the two cases without a finite positive optimum are
 * reported: L'(0) >= 0 (CALIB_E_NOSIGNAL) and "every label attains its row
 * maximum" (CALIB_E_SEPARABLE: L' < 0 for every beta).
 * Solver: Newton from beta = 1 inside a bracket [lo, hi] on the sign of L'
 * (lo = 0 since L'(0) < 0; hi = +inf until L' > 0 is seen), in beta, or in
 * log beta when the softmax is saturated at beta = 1 (step(): L nearly
 * linear in beta there, and Newton in beta overshot: 9 iterations on
 * DenseNet-40's and ResNet-50's CIFAR-10 logits, 6 and 5 in log beta); the
 * first step in beta from a quadratic model of L' through L'(0) (first_step);
 * a step that leaves the bracket is replaced, once, by a guess from the data's scale
 * (a power of two near 1/|L'(0)|) when beta is more than 64x away from it,
 * else by doubling (hi infinite), geometric bisection (hi > 4 lo > 0) or
 * bisection. Stops when |dL/dlogT| = |beta L'| <= tol * L, |L'| <=
 * |L'(0)| / 2 and the Newton decrement L'^2 / (2 L'') (the estimated gap
 * L - L*) is at most max(tol^2, 1e-14) max(1, L), or when the bracket has shrunk to the resolution of a double
 * (beta located to machine precision). The second condition is what makes
 * the rule scale-free: on the plateau of large T (logits x 1e-20 seen at
 * beta = 1) |beta L'| vanishes with beta although L' ~ L'(0), and the first
 * test alone accepted T = 1 after 0 iterations. Every quantity the solver
 * compares is homogeneous in the logits (L' and 1/beta of degree 1, L and
 * beta L' of degree 0), so logits x c give the iterates / c, up to the
 * start at beta = 1 (with the regime test and the first step's model, both
 * made there) and the guess; the guess turns the step-per-factor-2
 * walk from beta = 1 at extreme scales (1e30: 100 halvings, NOCONV) into a
 * jump.
 * One pass over the data per iteration. The first (k >= 2) is the ts_first
 * kernel: calib_fit defers the finiteness check of the logits to it
 * (fit_internal.h: finite_deferred), and it gives the pre-pass below and the
 * exact evaluation at beta = 1 in the same read of each row (separately, the
 * check and the pre-pass were two more memory-bound passes, 7 ms each at
 * 50000 x 1000). Two precisions (k >= 2):
 *  - exact: the ts_moments kernel (double exp). The first evaluation
 *    (beta = 1: nll_before), every convergence decision and every reported
 *    value (nll_after, gradient) use it.
 *  - fast: ts_moments_fast (float exp, about 2.3x cheaper), used for the
 *    Newton steps in between. Its L' is within FAST_RHO * (L/beta + |L'|) of
 *    the exact one (see fast_bound), so its sign is used for the bracket
 *    only when |L'| exceeds that bound; a fast evaluation whose sign is not
 *    reliable, or that already meets the tolerance, still gives a Newton step
 *    (clipped to the bracket), and from then on every evaluation is exact.
 * Typically: exact at beta = 1 (with the check and the pre-pass), two or
 * three fast steps, one exact check.
 */
#include "fit_internal.h"
#include "kernels.h"
#include "../model/rowmath.h"
#include <float.h>
#include <math.h>

const calib__param_spec calib__temperature_params[] = {
    {CALIB_P_MAX_ITER, "max_iter", 1, 10000, 100, 1},
    {CALIB_P_TOL, "tol", 1e-15, 1e-2, 1e-10, 0},
    {0, NULL, 0, 0, 0, 0},
};

typedef struct {
  double L, G, H; /* weighted means: NLL, dNLL/dbeta, d2NLL/dbeta2 */
  int exact;      /* 1: double-precision moments; 0: ts_moments_fast */
} ts_eval;

/* Relative accuracy of the fast kernel's per-row mean mu_i = E_i[d] (and so
 * of |L'_fast - L'| against mean_w |mu_i| + ... ): with u = 2^-24, e_j is
 * within (2 + 2|t_j|) u of exp(t_j) (float d and t, 1-ulp exp), a float
 * partial sum of at most 16 same-sign terms adds 16 u, products and the block
 * combination a few u more; every e_j != 0 has |t_j| < 104 (float underflow),
 * so |mu_fast - mu| <= 232 u |mu| < 2^-16 |mu|. */
#define FAST_RHO 0x1p-16

void calib__ts_binary_sums(const float *x, const int64_t *y, const double *w, size_t n, double beta,
                           double acc[3]) {
  double L = 0, G = 0, H = 0;
  for (size_t i = 0; i < n; i++) {
    const double wi = w ? w[i] : 1.0, xi = (double)x[i], yi = (double)y[i];
    const double t = beta * xi, p = calib__sigmoid_d(t);
    L += wi * (calib__softplus_d(t) - yi * t);
    G += wi * xi * (p - yi);
    H += wi * xi * xi * p * (1.0 - p);
  }
  acc[0] = L;
  acc[1] = G;
  acc[2] = H;
}

static void eval_binary(const calib__fit_data *d, double beta, ts_eval *e) {
  double acc[3];
  calib__ts_binary_sums(d->x, d->y, d->w, d->n, beta, acc);
  e->L = acc[0] / d->wsum;
  e->G = acc[1] / d->wsum;
  e->H = acc[2] / d->wsum;
}

static void eval_at(const calib__fit_data *d, double beta, ts_eval *e) {
  e->exact = 1;
  if (d->k == 1) {
    eval_binary(d, beta, e);
    return;
  }
  double acc[3] = {0, 0, 0};
  calib__kernels_get()->ts_moments(d->x, d->n, d->k, d->k, d->y, d->w, beta, acc);
  e->L = acc[0] / d->wsum;
  e->G = acc[1] / d->wsum;
  e->H = acc[2] / d->wsum;
}

/* The fast moments (k >= 2; the binary case is cheap and always exact). A
 * non-finite result (float overflow of d^2 for |d| > ~1e19) or a zero
 * curvature (float underflow of d^2 for |d| < ~1e-19, or every row saturated)
 * falls back to the exact kernel. */
static void eval_fast(const calib__fit_data *d, double beta, ts_eval *e) {
  if (d->k == 1) {
    eval_at(d, beta, e);
    return;
  }
  double acc[3] = {0, 0, 0};
  calib__kernels_get()->ts_moments_fast(d->x, d->n, d->k, d->k, d->y, d->w, beta, acc);
  if (!(isfinite(acc[0]) && isfinite(acc[1]) && acc[2] > 0 && acc[2] < HUGE_VAL)) {
    eval_at(d, beta, e);
    return;
  }
  e->exact = 0;
  e->L = acc[0] / d->wsum;
  e->G = acc[1] / d->wsum;
  e->H = acc[2] / d->wsum;
}

/* Bound on |L'_fast - L'|: mean_w |mu_i| = mean_w (-mu_i) (d <= 0)
 * = mean_w (-d_{i,y_i}) - L' <= L/beta - L' (lse_i >= 0, so
 * -beta mean_w d_{i,y_i} <= L), times FAST_RHO. */
static double fast_bound(const ts_eval *e, double beta) {
  return FAST_RHO * (fabs(e->L) / beta + fabs(e->G));
}

/* The pre-pass, one read, no exp, before iterating: the derivative at
 * beta = 0 and the separability test. At beta = 0, p_i is uniform, so (shift
 * invariance) L'(0) = mean_w [ mean_j z_ij - z_{i,y_i} ] (k >= 2) or
 * mean_w [x (1/2 - y)] (k == 1). *separable = 1 if every row of non-zero
 * weight has its label at the row maximum (k >= 2), or every non-zero score
 * has the sign of its label (k == 1): then L' < 0 for every beta.
 * The binary case here; k >= 2 in first_pass. */
static void prepass_binary(const calib__fit_data *d, double *g0, int *separable) {
  double g = 0;
  int sep = 1;
  for (size_t i = 0; i < d->n; i++) {
    const double w = d->w ? d->w[i] : 1.0;
    if (w == 0) continue;
    const float x = d->x[i];
    const int y = d->y[i] == 1;
    g += w * (double)x * (0.5 - y);
    sep &= y ? x >= 0.0f : x <= 0.0f;
  }
  *g0 = g / d->wsum;
  *separable = sep;
}

/* The first read of the data, k >= 2 (calib_fit deferred the finiteness
 * check of the logits to here: d->finite_deferred): the ts_first kernel gives
 * that check, the pre-pass (row sums in double, row max) and the exact
 * evaluation at beta = 1 in one pass, and, provenance on (d->ts_rec), the
 * row records of the before metrics. CALIB_E_NONFINITE on a NaN or infinite
 * logit (calib_fit then names the row). */
static int first_pass(const calib__fit_data *d, ts_eval *e, double *g0, int *separable) {
  double acc[3] = {0, 0, 0}, g = 0;
  int sep = 1;
  if (calib__kernels_get()->ts_first(d->x, d->n, d->k, d->k, d->y, d->w, 1.0, acc, &g, &sep, d->ts_rec) !=
      CALIB_OK)
    return CALIB_E_NONFINITE;
  e->exact = 1;
  e->L = acc[0] / d->wsum;
  e->G = acc[1] / d->wsum;
  e->H = acc[2] / d->wsum;
  *g0 = g / d->wsum;
  *separable = sep;
  return CALIB_OK;
}

/* A power of two near 1/|L'(0)|, the data's own scale of beta: L'(0) is
 * homogeneous of degree 1 in the logits, so the guess scales exactly as beta*
 * does (a power of two keeps every iterate derived from it exactly scaled).
 * On the ../shared/data sets it lies 1.7x to 10x below beta* (beta* |L'(0)|
 * = 1.7 .. 10.4), on the side where Newton steps stay inside the bracket. */
static double scale_guess(double g0) {
  int e;
  const double s = -1.0 / g0;
  if (!(s > 0 && s < HUGE_VAL)) return 0.0; /* no guess */
  (void)frexp(s, &e);
  return ldexp(1.0, e - 1);
}

/* The next beta: the Newton step if it stays inside (lo, hi); otherwise, once,
 * the scale guess if it lies inside and more than 64x away from the bracket
 * (far on the saturated side, where L'' ~ 0, or far on the flat side, where
 * halving or doubling from beta = 1 would take a step per factor of 2 of
 * scale); else doubling (hi infinite), a
 * geometric bisection while the bracket spans more than a factor 4 (so a
 * bracket of any width shrinks in O(log log) steps), an arithmetic one below. */
static double next_beta(double beta, const ts_eval *e, double lo, double hi, double *guess) {
  double nb = e->H > 0 ? beta - e->G / e->H : (double)NAN;
  if (nb > lo && nb < hi) return nb;
  if (*guess > lo && *guess < hi && (hi > 64 * *guess || beta < *guess / 64)) {
    nb = *guess;
    *guess = 0; /* used */
    return nb;
  }
  if (isinf(hi)) return 2.0 * beta;
  if (lo > 0 && hi > 4 * lo) return sqrt(lo) * sqrt(hi);
  return 0.5 * (lo + hi);
}

/* The first step from beta = 1 when L'(1) > 0 (the optimum in (0, 1): the
 * logits are over-confident), from a quadratic model of L' through what the
 * first pass gives: L'(0) = g0 (the pre-pass), L'(1) and L''(1). With
 * x = beta - 1, L'(beta) ~ G + H x + a x^2, a = g0 - G + H; its root in
 * (-1, 0) is x = -2 G / (H + sqrt(H^2 - 4 a G)) (Newton's -G / H when a = 0).
 * On the bench's 50000 x 1000 logits it lands at beta = 0.5730 where
 * Newton's step lands at 0.5451 (beta* = 0.5897): L' -0.066 instead of
 * -0.176, and the fit takes three evaluations after the first instead of
 * four (one memory-bound pass each). Taken only outside the saturated
 * regime (step(): G <= H, Newton's own step stays in [0, 1)): where the
 * softmax is saturated at beta = 1 (L''(1) tiny: VGG-16 and ResNet-50 on
 * CIFAR-10, COCO's binary scores in ../shared/data) this model's root was a
 * poor step (two to three iterations more than next_beta's bisection). NaN
 * when the model has no root there (then next_beta). */
static double first_step(const ts_eval *e, double g0) {
  if (!(e->G > 0 && e->H > 0 && g0 < 0)) return (double)NAN;
  const double a = g0 - e->G + e->H, disc = e->H * e->H - 4.0 * a * e->G;
  if (!(disc >= 0)) return (double)NAN;
  const double x = -2.0 * e->G / (e->H + sqrt(disc));
  return x > -1.0 && x < 0.0 ? 1.0 + x : (double)NAN;
}

/* Newton's step in u = log beta, where L(e^u) has dL/du = beta L' and
 * d2L/du2 = beta L' + beta^2 L'': beta exp(-beta L' / (beta L' + beta^2
 * L'')), NaN where d2L/du2 <= 0 (L is not convex in u there). Used while
 * the fit is in the saturated regime (see calib__temperature_fit). */
static double log_newton(double beta, const ts_eval *e) {
  const double du = beta * e->G, d2u = du + beta * beta * e->H;
  return d2u > 0 ? beta * exp(-du / d2u) : (double)NAN;
}

/* The objective-gap condition every Newton path shares (calib__gap_target):
 * the Newton decrement G^2 / (2H), which estimates L - L*, at most
 * max(tol^2, 1e-14) * max(1, L). Kept as a condition of its own because a
 * small gradient says little where the NLL is flat in beta (small logits,
 * tol = 1e-2: the gradient test alone accepted T = 1 with L 6.6e-4 above the
 * minimum, test_temperature's test_gap_rule). */
static double decrement(const ts_eval *e) {
  return e->H > 0 ? 0.5 * e->G * e->G / e->H : (double)INFINITY;
}

static int gap_small(const ts_eval *e, double tol) {
  return decrement(e) <= calib__gap_target(tol, e->L);
}

/* The next beta (see the header): at the first step the regime is decided
 * once, from the first pass at beta = 1: saturated when beta L' > beta^2 L''
 * (Newton's step in beta would leave (0, 1): the softmax is saturated at
 * beta = 1, L nearly linear in beta, L'' tiny); then Newton's steps in log
 * beta, where L is closer to quadratic, else Newton's in beta, the first one
 * from the quadratic model (first_step). A step outside (lo, hi), or a log
 * step taken while beta is more than 64x away from the scale guess (extreme
 * logit scales: a jump, not a factor e per iteration), goes to next_beta.
 * On ../shared/data's validation splits (evaluations, Newton in beta alone ->
 * this): DenseNet-40 10 -> 6, ResNet-50 9 -> 5, VGG-16 7 -> 6, LeNet-5 6 and
 * CIFAR-100 LeNet-5 4 unchanged, COCO's binary scores 5 -> 6; the bench's
 * synthetic 50000 x 1000 logits 5 -> 4. */
static double step(double beta, const ts_eval *e, double g0, int it, double lo, double hi, double *guess,
                   int *saturated) {
  double nb = (double)NAN;
  const int first = it == 0 && beta == 1.0;
  if (first) *saturated = beta * e->G > beta * beta * e->H;
  const int far = *guess > 0 && (beta > 64 * *guess || beta < *guess / 64);
  if (*saturated && !far)
    nb = log_newton(beta, e);
  else if (first && !*saturated)
    nb = first_step(e, g0);
  return nb > lo && nb < hi ? nb : next_beta(beta, e, lo, hi, guess);
}

int calib__temperature_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out) {
  const int max_iter = (int)f->opt[CALIB_P_MAX_ITER];
  const double tol = f->opt[CALIB_P_TOL];
  ts_eval e;
  double g0;
  int sep;
  if (d->k >= 2) {
    if (first_pass(d, &e, &g0, &sep) != CALIB_OK) return CALIB_E_NONFINITE;
  } else {
    eval_at(d, 1.0, &e);
    prepass_binary(d, &g0, &sep);
  }
  f->report.nll_before = e.L;
  f->report.nll_after = e.L;
  f->report.gradient = fabs(e.G);
  if (!(g0 < 0)) return CALIB_E_NOSIGNAL;
  if (sep) return CALIB_E_SEPARABLE;

  double beta = 1.0, lo = 0.0, hi = INFINITY, guess = scale_guess(g0);
  int it = 0, converged = 0, fast = 1, saturated = 0;
  for (;;) {
    /* stationary: the scale-free test on dL/dlogT, and L' at most half of
     * L'(0) (on the plateau of large T, beta -> 0, beta L' vanishes with beta
     * while L' stays near L'(0) < 0: not an optimum) */
    const int small = fabs(beta * e.G) <= tol * e.L && fabs(e.G) <= -0.5 * g0 && gap_small(&e, tol);
    if (e.exact) {
      f->report.nll_after = e.L;
      f->report.gradient = fabs(beta * e.G);
      /* Newton decrement in beta (one parameter: condition 1) */
      f->report.gap = decrement(&e);
      f->report.condition = 1.0;
      if (small) { converged = 1; break; }
    }
    /* a fast sign is used only outside the fast kernel's error bound */
    const int reliable = e.exact || fabs(e.G) > fast_bound(&e, beta);
    if (!reliable || small) fast = 0;
    if (reliable) {
      if (e.G < 0) lo = beta; else hi = beta;
    }
    const int collapsed = hi - lo <= 4 * DBL_EPSILON * beta;
    if (collapsed && e.exact) { converged = 1; break; }
    if (it >= max_iter) break;
    if (collapsed)
      fast = 0; /* confirm this beta with the exact moments */
    else
      beta = step(beta, &e, g0, it, lo, hi, &guess, &saturated);
    if (!isfinite(beta) || beta > 1e300 || beta < 1e-300) break;
    if (fast)
      eval_fast(d, beta, &e);
    else
      eval_at(d, beta, &e);
    it++;
  }
  f->report.iterations = it;
  if (!converged) return CALIB_E_NOCONV;
  const double T = 1.0 / beta;
  const calib__section sec = {CALIB_MP_TEMPERATURE, 1, &T};
  return calib__model_build(out, CALIB_METHOD_TEMPERATURE, d->k, &sec, 1);
}
