/* ets.c -- ensemble temperature scaling fit (Zhang, Kailkhura & Han 2020).
 *
 * 1. T = the temperature-scaling fit (calib_fit with CALIB_METHOD_TEMPERATURE,
 *    its defaults, the same rows and weights); its failures are returned.
 * 2. With beta = 1/T fixed, the components of row i are P1_i = softmax(beta z_i),
 *    P2_i = softmax(z_i), U = 1/k (k == 1: sigmoids and 1/2), and the weights
 *    minimise over the simplex (ets_simplex.c) the weighted mean of
 *    NLL:  -ln(w . u_i),  u_i = (P1_iy, P2_iy, 1/k), kept as ln u_i and
 *          summed with log-sum-exp, so a label probability that underflows
 *          in double stays exact;
 *    MSE:  || w1 P1_i + w2 P2_i + w3 U - e_{y_i} ||^2, a quadratic
 *          w^T Q w - 2 c^T w + const whose moments are summed in one pass.
 * Both are convex in w. The start is the centre of the simplex.
 */
#include "ets.h"
#include "../model/ets_apply.h"
#include <math.h>

const calib__param_spec calib__ets_params[] = {
    {CALIB_P_MAX_ITER, "max_iter", 1, 10000, 100, 1},
    {CALIB_P_TOL, "tol", 1e-14, 1e-2, 1e-10, 0},
    {CALIB_P_ETS_LOSS, "loss", 0, 1, 0, 1},
    {0, NULL, 0, 0, 0, 0},
};

typedef struct {
  size_t n;
  const double *v; /* n normalised weights */
  const double *lu; /* n x 3: ln u_i */
  double Q[9], c[3], c0; /* MSE quadratic */
} ets_problem;

/* ln of the three label probabilities of row i into lu. */
static void row_logs(const float *x, size_t k, int64_t y, double beta, double lu[3]) {
  if (k == 1) {
    const double z = (double)x[0], sg = y == 1 ? -1.0 : 1.0;
    lu[0] = -calib__softplus_d(sg * beta * z);
    lu[1] = -calib__softplus_d(sg * z);
    lu[2] = log(0.5);
    return;
  }
  double m, s1, s2;
  calib__ets_row_stats(x, k, beta, &m, &s1, &s2);
  const double dy = (double)x[y] - m;
  lu[0] = beta * dy - log(s1);
  lu[1] = dy - log(s2);
  lu[2] = -log((double)k);
}

/* The MSE moments of row i (weight v) added into pr. */
static void row_moments(const float *x, size_t k, int64_t y, double beta, double v,
                        ets_problem *pr) {
  if (k == 1) {
    const double u[3] = {calib__sigmoid_d(beta * (double)x[0]),
                         calib__sigmoid_d((double)x[0]), 0.5};
    for (int a = 0; a < 3; a++) {
      for (int b = 0; b < 3; b++) pr->Q[a * 3 + b] += v * u[a] * u[b];
      pr->c[a] += v * (double)y * u[a];
    }
    pr->c0 += v * (double)y;
    return;
  }
  double m, s1, s2, q11 = 0, q12 = 0, q22 = 0;
  calib__ets_row_stats(x, k, beta, &m, &s1, &s2);
  for (size_t j = 0; j < k; j++) {
    const double d = (double)x[j] - m, p1 = exp(beta * d) / s1, p2 = exp(d) / s2;
    q11 += p1 * p1;
    q12 += p1 * p2;
    q22 += p2 * p2;
  }
  const double dy = (double)x[y] - m, u = 1.0 / (double)k;
  const double add[9] = {q11, q12, u, q12, q22, u, u, u, u};
  for (int a = 0; a < 9; a++) pr->Q[a] += v * add[a];
  pr->c[0] += v * exp(beta * dy) / s1;
  pr->c[1] += v * exp(dy) / s2;
  pr->c[2] += v * u;
  pr->c0 += v;
}

static double nll_objective(const void *ctx, const double w[3], double g[3], double H[9]) {
  const ets_problem *pr = (const ets_problem *)ctx;
  const double lw[3] = {log(w[0]), log(w[1]), log(w[2])};
  double f = 0;
  for (int a = 0; a < 9; a++) H[a] = 0;
  g[0] = g[1] = g[2] = 0;
  for (size_t i = 0; i < pr->n; i++) {
    if (!(pr->v[i] > 0)) continue;
    const double *lu = pr->lu + 3 * i;
    double t[3], m = -HUGE_VAL, s = 0;
    for (int a = 0; a < 3; a++) {
      t[a] = lu[a] + lw[a];
      if (t[a] > m) m = t[a];
    }
    if (m == -HUGE_VAL) return HUGE_VAL;
    for (int a = 0; a < 3; a++) s += exp(t[a] - m);
    const double lse = m + log(s), v = pr->v[i];
    f -= v * lse;
    double r[3]; /* u_a / (w . u) */
    for (int a = 0; a < 3; a++) r[a] = exp(lu[a] - lse);
    for (int a = 0; a < 3; a++) {
      g[a] -= v * r[a];
      for (int b = 0; b < 3; b++) H[a * 3 + b] += v * r[a] * r[b];
    }
  }
  return f;
}

static double mse_objective(const void *ctx, const double w[3], double g[3], double H[9]) {
  const ets_problem *pr = (const ets_problem *)ctx;
  double f = pr->c0;
  for (int a = 0; a < 3; a++) {
    double qa = 0;
    for (int b = 0; b < 3; b++) {
      qa += pr->Q[a * 3 + b] * w[b];
      H[a * 3 + b] = 2 * pr->Q[a * 3 + b];
    }
    f += w[a] * qa - 2 * pr->c[a] * w[a];
    g[a] = 2 * qa - 2 * pr->c[a];
  }
  return f;
}

/* Temperature scaling on the same data: *T, and its Newton iterations. */
static int fit_temperature(const calib__fit_data *d, double *T, double *iters, double *nll0) {
  calib_fitter *tf = NULL;
  calib_model *tm = NULL;
  int st = calib_fitter_create(&tf, CALIB_METHOD_TEMPERATURE);
  if (st != CALIB_OK) return st;
  /* only T is kept: the inner fit's provenance pass would be thrown away */
  st = calib_fitter_set_provenance(tf, 0, NULL);
  if (st == CALIB_OK) st = calib_fit(tf, d->x, d->n, d->k, d->y, d->w, &tm);
  (void)calib_fitter_report(tf, CALIB_R_ITERATIONS, iters);
  (void)calib_fitter_report(tf, CALIB_R_NLL_BEFORE, nll0);
  size_t cnt = 0;
  if (st == CALIB_OK) st = calib_model_param(tm, CALIB_MP_TEMPERATURE, T, 1, &cnt);
  calib_model_free(tm);
  calib_fitter_free(tf);
  return st;
}

/* Fills the per-row data the loss needs (v, lu, or the MSE moments). */
static void prepare(const calib__fit_data *d, double beta, int mse, ets_problem *pr, double *v,
                    double *lu) {
  memset(pr, 0, sizeof *pr);
  pr->n = d->n;
  pr->v = v;
  pr->lu = lu;
  for (size_t i = 0; i < d->n; i++) {
    v[i] = (d->w ? d->w[i] : 1.0) / d->wsum;
    row_logs(d->x + i * d->k, d->k, d->y[i], beta, lu + 3 * i);
    if (mse) row_moments(d->x + i * d->k, d->k, d->y[i], beta, v[i], pr);
  }
}

/* Newton decrement / 2 and condition number of the weights' objective on
 * the face of the simplex where w ends (the weights at 0 held there): in an
 * orthonormal basis Z of the face's tangent space {D: sum D = 0, D_a = 0 for
 * w_a = 0}, g^T Z (Z^T H Z)^-1 Z^T g / 2 and cond(Z^T H Z). A vertex (one
 * weight 1) has no free direction: gap 0, condition NaN. */
static void face_certificate(const double w[3], const double g[3], const double H[9], double *gap,
                             double *cond) {
  double Z[2][3];
  size_t m = 0;
  int fr[3], nf = 0;
  for (int a = 0; a < 3; a++)
    if (w[a] > 0) fr[nf++] = a;
  *gap = 0.0;
  *cond = (double)NAN;
  if (nf < 2) return;
  memset(Z, 0, sizeof Z);
  if (nf == 2) {
    Z[0][fr[0]] = sqrt(0.5);
    Z[0][fr[1]] = -sqrt(0.5);
    m = 1;
  } else {
    Z[0][0] = sqrt(0.5), Z[0][1] = -sqrt(0.5);
    Z[1][0] = Z[1][1] = 1 / sqrt(6.0), Z[1][2] = -2 / sqrt(6.0);
    m = 2;
  }
  double R[4] = {0, 0, 0, 0}, r[2] = {0, 0};
  for (size_t i = 0; i < m; i++) {
    for (int a = 0; a < 3; a++) r[i] += Z[i][a] * g[a];
    for (size_t j = 0; j < m; j++)
      for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) R[i * m + j] += Z[i][a] * H[a * 3 + b] * Z[j][b];
  }
  *cond = calib__small_cond(R, m);
  if (m == 1) {
    *gap = R[0] > 0 ? 0.5 * r[0] * r[0] / R[0] : (double)INFINITY;
  } else {
    const double det = R[0] * R[3] - R[1] * R[2];
    *gap = det > 0 ? 0.5 * (R[3] * r[0] * r[0] - 2 * R[1] * r[0] * r[1] + R[0] * r[1] * r[1]) / det
                   : (double)INFINITY;
  }
}

static int solve_weights(calib_fitter *f, const ets_problem *pr, int mse, double w[3]) {
  int it = 0;
  double kkt = 0;
  w[0] = w[1] = w[2] = 1.0 / 3.0;
  const int st = calib__ets_simplex(mse ? mse_objective : nll_objective, pr, w,
                                    (int)f->opt[CALIB_P_MAX_ITER], f->opt[CALIB_P_TOL], &it, &kkt);
  f->report.iterations += it;
  f->report.gradient = kkt;
  double g[3], H[9];
  if (mse) {
    (void)mse_objective(pr, w, g, H);
    face_certificate(w, g, H, &f->report.gap, &f->report.condition);
  }
  f->report.nll_after = nll_objective(pr, w, g, H);
  if (!mse) face_certificate(w, g, H, &f->report.gap, &f->report.condition);
  return st;
}

int calib__ets_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out) {
  double T = 1.0, its = 0, nll0 = 0;
  int st = fit_temperature(d, &T, &its, &nll0);
  f->report.iterations = its;
  f->report.nll_before = f->report.nll_after = nll0;
  if (st != CALIB_OK) return st;
  const int mse = f->opt[CALIB_P_ETS_LOSS] == CALIB_ETS_LOSS_MSE;
  double *v = (double *)calib__malloc(d->n * 4 * sizeof(double));
  if (!v) return CALIB_E_NOMEM;
  ets_problem pr;
  double w[3];
  prepare(d, 1.0 / T, mse, &pr, v, v + d->n);
  st = solve_weights(f, &pr, mse, w);
  calib__free(v);
  if (st != CALIB_OK) return st;
  const calib__section secs[2] = {{CALIB_MP_ETS_TEMPERATURE, 1, &T}, {CALIB_MP_ETS_WEIGHTS, 3, w}};
  return calib__model_build(out, CALIB_METHOD_ETS, d->k, secs, 2);
}
