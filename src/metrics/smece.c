/* smece.c -- smooth ECE of Blasiok & Nakkiran (ICLR 2024), formula in
 * calib.h.
 *
 * smECE_sigma = int_0^1 |g(u)| du with g(u) = (1/n) sum_i r_i K(u, s_i), K the
 * Gaussian of width sigma reflected at 0 and 1 with all its images:
 *   K(u, s) = sum_m phi(u - s - 2m) + phi(u + s - 2m).
 * Evaluation on the grid u_j = j/G, j = 0..G: the residuals r_i/n are split
 * linearly between the two nodes around s_i (mass_v), the grid function is
 *   g_j = sum_v mass_v [Phi(j - v) + Phi(j + v)],  Phi(d) = sum_m phi((d - 2mG)/G)
 * (a node at 0 or 1 meets its own image, so it counts twice, as it must),
 * and the integral is the trapezoid rule. G = max(1000, ceil(64/sigma)):
 * both the binning and the quadrature error are O((G sigma)^-2), about 1e-5.
 * sigma is at least SIGMA_MIN = 0.001 (calib_smooth_ece refuses smaller
 * values before allocating, and the search never goes below it), so G is at
 * most 64000 (+ the 0.8 sigma margin of the refinement: 80000): the grid,
 * 3G + 2 doubles (< 2 MB), and the O(G * 9 sigma G) = O(576 G) work per
 * evaluation are bounded whatever the caller passes.
 * sigma* is the root of sigma - smECE_sigma (increasing: smECE_sigma does not
 * increase with sigma), found by the Illinois method on [0.001, 1], first on a
 * coarse grid, then on the grid of the coarse root. */
#include "ce_internal.h"
#include <math.h>

#define SIGMA_MIN 0.001
#define CUT 9.0        /* kernel truncated at 9 sigma: phi(9)/phi(0) = 2.6e-18 */
#define G_MIN 1000
#define PER_SIGMA 64.0

typedef struct {
  size_t G;
  double *mass;  /* G + 1 */
  double *phi;   /* 2G + 1 */
  size_t *nz;    /* the nodes that received mass, ascending (nnz <= min(2n, G + 1)) */
  size_t nnz;
  const calib__sorted *x;
} sm_grid;

/* sigma >= 0.8 * SIGMA_MIN here (the range check and the search bounds), so
 * g <= 80000 and the conversion is exact. */
static size_t grid_for(double sigma) {
  const double g = ceil(PER_SIGMA / sigma);
  return g < G_MIN ? G_MIN : (size_t)g;
}

static void sm_free(sm_grid *s) {
  calib__free(s->mass);
  calib__free(s->nz);
  s->mass = s->phi = NULL;
  s->nz = NULL;
}

static int sm_init(sm_grid *s, const calib__sorted *x, size_t G) {
  s->G = G;
  s->x = x;
  size_t cells, bytes;
  s->mass = NULL;
  s->nz = NULL;
  if (!calib__size_mul(3, G, &cells) || !calib__size_add(cells, 2, &cells) ||
      !calib__size_bytes(cells, sizeof(double), &bytes))
    return CALIB_E_NOMEM;
  const size_t maxnz = x->n < G / 2 ? 2 * x->n : G + 1;
  s->mass = (double *)calib__calloc(cells, sizeof(double));
  s->nz = (size_t *)calib__malloc(maxnz * sizeof(size_t)); /* <= G + 1: bounded above */
  s->nnz = 0;
  s->phi = s->mass ? s->mass + G + 1 : NULL;
  if (!s->mass || !s->nz) {
    sm_free(s);
    return CALIB_E_NOMEM;
  }
  const double inv = 1.0 / (double)x->n;
  for (size_t i = 0; i < x->n; i++) {
    const double pos = x->s[i] * (double)G, f0 = floor(pos);
    size_t v = (size_t)f0;
    if (v >= G) v = G - 1;
    const double frac = pos - (double)v, r = (x->s[i] - (double)x->t[i]) * inv;
    s->mass[v] += (1.0 - frac) * r;
    s->mass[v + 1] += frac * r;
    /* scores ascend, so v does: append v and v + 1 unless already last */
    if (s->nnz == 0 || s->nz[s->nnz - 1] < v) s->nz[s->nnz++] = v;
    if (s->nz[s->nnz - 1] < v + 1) s->nz[s->nnz++] = v + 1;
  }
  return CALIB_OK;
}

/* phi[d] = Phi(d) for d = 0..2G, or only d <= D when D < G (the images are
 * then negligible and the wrap is handled by the windows). */
static size_t kernel_table(sm_grid *s, double sigma) {
  const size_t G = s->G;
  const double h = 1.0 / (double)G, c = 1.0 / (sigma * sqrt(2.0 * 3.14159265358979323846));
  const double dd = ceil(CUT * sigma * (double)G);
  const size_t D = dd > (double)(2 * G) ? 2 * G : (size_t)dd;
  if (D < G) {
    for (size_t d = 0; d <= D; d++) {
      const double u = (double)d * h / sigma;
      s->phi[d] = c * exp(-0.5 * u * u);
    }
    return D;
  }
  const long M = (long)ceil(CUT * sigma / 2.0) + 1;
  for (size_t d = 0; d <= 2 * G; d++) {
    double sum = 0;
    for (long m = -M; m <= M; m++) {
      const double u = ((double)d * h - 2.0 * (double)m) / sigma;
      if (fabs(u) <= CUT + 2.0) sum += exp(-0.5 * u * u);
    }
    s->phi[d] = c * sum;
  }
  return D;
}

/* g_j with the windowed kernel (D < G). */
static double node_windowed(const sm_grid *s, size_t D, size_t j) {
  const size_t G = s->G;
  const size_t a = j > D ? j - D : 0, b = j + D < G ? j + D : G;
  double g = 0;
  for (size_t v = a; v <= b; v++) g += s->mass[v] * s->phi[v > j ? v - j : j - v];
  for (size_t v = 0; j + v <= D && v <= G; v++) g += s->mass[v] * s->phi[j + v];
  for (size_t v = 2 * G - D > j ? 2 * G - D - j : 0; v <= G; v++)
    g += s->mass[v] * s->phi[2 * G - j - v];
  return g;
}

/* The same sum over the nodes holding mass only (the others add exact
 * zeros): a binary search for the window's first listed node, then the
 * listed nodes inside it; the reflected terms exist only for j <= D or
 * j >= G - D (v <= G). For small data instead of O(D) per node. */
static double node_sparse(const sm_grid *s, size_t D, size_t j) {
  const size_t G = s->G, lo = j > D ? j - D : 0;
  double g = 0;
  size_t a = 0, b = s->nnz; /* first listed node >= lo (the list ascends) */
  while (a < b) {
    const size_t mid = a + (b - a) / 2;
    if (s->nz[mid] < lo) a = mid + 1; else b = mid;
  }
  for (size_t q = a; q < s->nnz && s->nz[q] <= j + D; q++) {
    const size_t v = s->nz[q];
    g += s->mass[v] * s->phi[v > j ? v - j : j - v];
  }
  if (j <= D || j + D >= G) /* the reflections reach only the ends */
    for (size_t q = 0; q < s->nnz; q++) {
      const size_t v = s->nz[q];
      if (j + v <= D) g += s->mass[v] * s->phi[j + v];
      if (j + v >= 2 * G - D) g += s->mass[v] * s->phi[2 * G - j - v];
    }
  return g;
}

/* g_j with the full periodised kernel (D >= G): over every node, or over
 * the listed nodes when they are fewer (small data, wide kernels). */
static double node_full(const sm_grid *s, size_t j) {
  double g = 0;
  if (s->nnz <= s->G) {
    for (size_t q = 0; q < s->nnz; q++) {
      const size_t v = s->nz[q];
      g += s->mass[v] * (s->phi[v > j ? v - j : j - v] + s->phi[j + v]);
    }
    return g;
  }
  for (size_t v = 0; v <= s->G; v++)
    g += s->mass[v] * (s->phi[v > j ? v - j : j - v] + s->phi[j + v]);
  return g;
}

static double smece_at(sm_grid *s, double sigma) {
  const size_t D = kernel_table(s, sigma), G = s->G;
  const int sparse = s->nnz < D; /* fewer terms than the window's 2D + 1 */
  double sum = 0;
  for (size_t j = 0; j <= G; j++) {
    const double g = fabs(D >= G ? node_full(s, j)
                          : sparse ? node_sparse(s, D, j) : node_windowed(s, D, j));
    sum += j == 0 || j == G ? 0.5 * g : g;
  }
  return sum / (double)G;
}

/* Illinois (modified regula falsi) on f(sigma) = sigma - smECE_sigma over
 * [a, b] with f(a) < 0 < f(b). */
static double illinois(sm_grid *s, double a, double fa, double b, double fb, double rtol) {
  int side = 0;
  double c = a;
  for (int it = 0; it < 200; it++) {
    c = (a * fb - b * fa) / (fb - fa);
    if (!(c > a && c < b)) c = 0.5 * (a + b);
    const double fc = c - smece_at(s, c);
    if (fc == 0 || b - a <= rtol * c) break;
    if (fc > 0) {
      b = c;
      fb = fc;
      if (side == -1) fa *= 0.5;
      side = -1;
    } else {
      a = c;
      fa = fc;
      if (side == 1) fb *= 0.5;
      side = 1;
    }
  }
  return c;
}

/* Root on the fine grid around the coarse root r1, widening the bracket
 * until f changes sign. */
static double refine(sm_grid *s, double r1) {
  double a = r1 * 0.8 > SIGMA_MIN ? r1 * 0.8 : SIGMA_MIN, b = r1 * 1.25 < 1 ? r1 * 1.25 : 1.0;
  double fa = a - smece_at(s, a), fb = b - smece_at(s, b);
  while (fa > 0 && a > SIGMA_MIN) {
    a = a * 0.5 > SIGMA_MIN ? a * 0.5 : SIGMA_MIN;
    fa = a - smece_at(s, a);
  }
  while (fb < 0 && b < 1) {
    b = b * 2 < 1 ? b * 2 : 1.0;
    fb = b - smece_at(s, b);
  }
  if (fa >= 0) return a;
  if (fb <= 0) return b;
  return illinois(s, a, fa, b, fb, 1e-10);
}

/* sigma* on a coarse grid, then on the grid that sigma needs; *value is
 * smECE at sigma* on that same grid. */
static int search_sigma(const calib__sorted *x, double *sigma, double *value) {
  sm_grid s;
  if (sm_init(&s, x, G_MIN) != CALIB_OK) return CALIB_E_NOMEM;
  const double f1 = 1.0 - smece_at(&s, 1.0), f0 = SIGMA_MIN - smece_at(&s, SIGMA_MIN);
  const double r = f1 <= 0 ? 1.0 : f0 >= 0 ? SIGMA_MIN : illinois(&s, SIGMA_MIN, f0, 1.0, f1, 1e-3);
  sm_free(&s);
  const int ends = r == 1.0 || r == SIGMA_MIN;
  if (sm_init(&s, x, grid_for(ends ? r : 0.8 * r)) != CALIB_OK) return CALIB_E_NOMEM;
  *sigma = ends ? r : refine(&s, r);
  *value = smece_at(&s, *sigma);
  sm_free(&s);
  return CALIB_OK;
}

int calib__smece_sorted(const calib__sorted *x, double sigma, double *out, double *sigma_used) {
  if (sigma == 0) {
    const int st = search_sigma(x, &sigma, out);
    if (st == CALIB_OK) *sigma_used = sigma;
    return st;
  }
  sm_grid s;
  if (sm_init(&s, x, grid_for(sigma)) != CALIB_OK) return CALIB_E_NOMEM;
  *out = smece_at(&s, sigma);
  sm_free(&s);
  *sigma_used = sigma;
  return CALIB_OK;
}

typedef struct {
  double sigma, sigma_sum;
  size_t count;
} sm_ctx;

static int sm_fn(const calib__sorted *x, void *ctx, double *value) {
  sm_ctx *c = (sm_ctx *)ctx;
  double used;
  const int st = calib__smece_sorted(x, c->sigma, value, &used);
  if (st == CALIB_OK) {
    c->sigma_sum += used;
    c->count++;
  }
  return st;
}

/* The documented range: 0 (search) or [SIGMA_MIN, 1]; NaN fails both. */
static int sigma_ok(double sigma) { return sigma == 0 || (sigma >= SIGMA_MIN && sigma <= 1); }

int calib_smooth_ece(const float *probs, size_t n, size_t k, const int64_t *labels, int scope,
                     double sigma, double *out, double *sigma_used) {
  if (!out || k == 0 || !sigma_ok(sigma)) return CALIB_E_ARG;
  int st = calib__check_scope_input(probs, n, k, labels, scope, out);
  if (st != CALIB_OK) return st;
  const calib__source src = {probs, n, k, labels, NULL, NULL};
  sm_ctx c = {sigma, 0, 0};
  double v;
  st = calib__scope_eval(&src, scope, CALIB__AGG_MEAN, 0, sm_fn, &c, &v);
  if (st != CALIB_OK) return st;
  *out = v;
  if (sigma_used) *sigma_used = c.sigma_sum / (double)c.count;
  return CALIB_OK;
}
