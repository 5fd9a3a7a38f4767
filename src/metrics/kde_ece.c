/* kde_ece.c -- KDE-based ECE of Zhang, Kailkhura & Han (ICML 2020,
 * "Mix-n-Match"), with the parameters of their ece_kde_binary and the
 * conventions of shared/data/REFERENCE_METRICS.md (formula in calib.h).
 *
 * The density estimate is KDEpy's FFTKDE estimator evaluated by a direct
 * convolution: linear binning of the (mirrored) data onto the grid
 * linspace(-0.6, 1.6, 2^14), then the triweight kernel sampled at j*dx for
 * |j| <= floor(R/dx), R = 3h. Only grid points strictly inside (0, 1) need
 * the density (it is set to 0 elsewhere). */
#include "ce_internal.h"
#include <math.h>

#define GRID 16384
#define GRID_LO (-0.6)
#define GRID_HI 1.6
#define HOLD 1e-6

typedef struct {
  double step;     /* dx = (1.6 - (-0.6)) / (GRID - 1), numpy's linspace step */
  double *xg;      /* grid points, numpy's linspace values */
  double *mall;    /* binned masses of all scores and their mirror images */
  double *mpos;    /* the same for the scores with t = 1 */
  size_t lo, hi;   /* node range holding mass */
  uint32_t *nz;    /* the nodes holding mass, ascending (nnz of them; < GRID) */
  size_t nnz;
} kde_grid;

/* Mass w split linearly between the two grid nodes around v. */
static void deposit(kde_grid *g, double *m, double v, double w) {
  const double t = (v - GRID_LO) / g->step, f0 = floor(t);
  const size_t i = (size_t)f0;
  const double frac = t - f0;
  m[i] += (1.0 - frac) * w;
  m[i + 1] += frac * w;
  if (i < g->lo) g->lo = i;
  if (i + 1 > g->hi) g->hi = i + 1;
}

/* The value and its mirror image about the nearer end of [0, 1]. */
static void deposit_mirrored(kde_grid *g, double *m, double v, double w) {
  deposit(g, m, v, w);
  deposit(g, m, v < 0.5 ? -v : 2.0 - v, w);
}

static void bin_scores(const calib__sorted *x, size_t npos, kde_grid *g) {
  const double wall = 1.0 / (2.0 * (double)x->n), wpos = 1.0 / (2.0 * (double)npos);
  for (size_t i = 0; i < x->n; i++) {
    deposit_mirrored(g, g->mall, x->s[i], wall);
    if (x->t[i]) deposit_mirrored(g, g->mpos, x->s[i], wpos);
  }
}

/* The nodes that received mass (all scores' and mirror images' nodes; the
 * t = 1 masses are a subset), for the sparse sum of small data. */
static void list_nodes(kde_grid *g) {
  g->nnz = 0;
  for (size_t u = g->lo; u <= g->hi && u < GRID; u++)
    if (g->mall[u] != 0) g->nz[g->nnz++] = (uint32_t)u;
}

/* Density at node i (inside (0, 1)), already zeroed outside and doubled.
 * With fewer mass nodes than window taps, the sum runs over those nodes only
 * (the others add exact zeros): O(min(4n, J)) per node, so small data cost
 * little whatever the bandwidth. */
static double density(const kde_grid *g, const double *m, const double *taps, size_t J,
                      size_t i) {
  if (g->nnz < 2 * J + 1) {
    const size_t lo = i > J ? i - J : 0;
    size_t a = 0, b = g->nnz; /* first listed node >= lo (the list ascends) */
    while (a < b) {
      const size_t mid = a + (b - a) / 2;
      if (g->nz[mid] < lo) a = mid + 1; else b = mid;
    }
    double f = 0;
    for (size_t q = a; q < g->nnz && g->nz[q] <= i + J; q++)
      f += m[g->nz[q]] * taps[g->nz[q] > i ? g->nz[q] - i : i - g->nz[q]];
    return 2.0 * f;
  }
  const size_t a = i >= J ? i - J : 0, b = i + J < GRID - 1 ? i + J : GRID - 1;
  const size_t from = a > g->lo ? a : g->lo, to = b < g->hi ? b : g->hi;
  double f = 0;
  for (size_t u = from; u <= to; u++) f += m[u] * taps[u > i ? u - i : i - u];
  return 2.0 * f;
}

/* Trapezoid integrals over the grid points in [0, 1] of |z - r(z)| f(z) and
 * f(z), with Mix-n-Match's hold rule where max(f1, f) <= 1e-6. */
static void integrate(const kde_grid *g, const double *taps, size_t J, double acc,
                      double *num, double *den) {
  double prev_int = 0, prev_f = 0, prev_x = 0;
  int started = 0;
  *num = *den = 0;
  for (size_t i = 0; i < GRID; i++) {
    const double z = g->xg[i];
    if (z > 1.0) break;
    const int inside = z > 0.0 && z < 1.0;
    const double f = inside ? density(g, g->mall, taps, J, i) : 0.0;
    const double f1 = inside ? density(g, g->mpos, taps, J, i) : 0.0;
    double integ = prev_int;
    if ((f1 > f ? f1 : f) > HOLD) {
      double r = f > 0 ? acc * f1 / f : 1.0;
      if (r > 1.0) r = 1.0;
      integ = fabs(z - r) * f;
    }
    if (z >= 0.0) {
      if (started) {
        *num += (z - prev_x) * (integ + prev_int) / 2.0;
        *den += (z - prev_x) * (f + prev_f) / 2.0;
      }
      started = 1;
      prev_x = z;
      prev_f = f;
    }
    prev_int = integ;
  }
}

static void kde_free(kde_grid *g) {
  calib__free(g->xg);
  calib__free(g->mall);
  calib__free(g->nz);
}

static int kde_alloc(kde_grid *g) {
  g->xg = (double *)calib__malloc(GRID * sizeof(double));
  g->mall = (double *)calib__calloc(2 * GRID, sizeof(double));
  g->nz = (uint32_t *)calib__malloc(GRID * sizeof(uint32_t));
  g->mpos = g->mall ? g->mall + GRID : NULL;
  if (!g->xg || !g->mall || !g->nz) {
    kde_free(g);
    return CALIB_E_NOMEM;
  }
  g->step = (GRID_HI - GRID_LO) / (double)(GRID - 1);
  for (size_t i = 0; i < GRID; i++) g->xg[i] = (double)i * g->step + GRID_LO;
  g->xg[GRID - 1] = GRID_HI;
  g->lo = GRID;
  g->hi = 0;
  return CALIB_OK;
}

/* Population standard deviation of the t = 1 scores (two passes). */
static double positive_std(const calib__sorted *x, size_t npos) {
  double m = 0, v = 0;
  for (size_t i = 0; i < x->n; i++)
    if (x->t[i]) m += x->s[i];
  m /= (double)npos;
  for (size_t i = 0; i < x->n; i++)
    if (x->t[i]) v += (x->s[i] - m) * (x->s[i] - m);
  return sqrt(v / (double)npos);
}

int calib__kde_ece_sorted(const calib__sorted *x, double *out) {
  size_t npos = 0;
  for (size_t i = 0; i < x->n; i++) npos += x->t[i];
  if (npos == 0) return CALIB_E_ONECLASS;
  const double h = positive_std(x, npos) * pow(2.0 * (double)x->n, -0.2);
  if (!(h > 0)) return CALIB_E_DOMAIN;
  kde_grid g;
  if (kde_alloc(&g) != CALIB_OK) return CALIB_E_NOMEM;
  const double R = 3.0 * h, rj = floor(R / g.step);
  const size_t J = rj > GRID ? GRID : (size_t)rj; /* so J + 1 doubles <= 128 KiB */
  double *taps = (double *)calib__malloc((J + 1) * sizeof(double));
  if (!taps) {
    kde_free(&g);
    return CALIB_E_NOMEM;
  }
  for (size_t j = 0; j <= J; j++) {
    const double u = (double)j * g.step / R, q = 1.0 - u * u;
    taps[j] = q > 0 ? 35.0 / (32.0 * R) * q * q * q : 0.0;
  }
  bin_scores(x, npos, &g);
  list_nodes(&g);
  double num, den;
  integrate(&g, taps, J, (double)npos / (double)x->n, &num, &den);
  calib__free(taps);
  kde_free(&g);
  if (!(den > 0)) return CALIB_E_DOMAIN;
  *out = num / den;
  return CALIB_OK;
}

static int kde_fn(const calib__sorted *x, void *ctx, double *value) {
  CALIB__UNUSED(ctx);
  return calib__kde_ece_sorted(x, value);
}

int calib_kde_ece(const float *probs, size_t n, size_t k, const int64_t *labels, int scope,
                  double *out) {
  int st = calib__check_scope_input(probs, n, k, labels, scope, out);
  if (st != CALIB_OK) return st;
  const calib__source src = {probs, n, k, labels, NULL, NULL};
  return calib__scope_eval(&src, scope, CALIB__AGG_MEAN, 0, kde_fn, NULL, out);
}
