/* test_beta.c -- beta calibration: closed forms, betacal's constraint
 * handling (each branch), clipping of float32 0 and 1, logits vs
 * probabilities input, every error code (nothing written, *out NULL), model
 * bytes (round trip, byte flips, crafted invalid payloads), apply in place,
 * one-vs-rest normalisation, exact logit features (and the clipped map of
 * older models), out of memory, and the COCO binary set against
 * an independent scipy fit (trust-exact on the exact log-likelihood, with the
 * same constraint procedure; test/py/test_beta.py recomputes it live). */
#include "internal.h" /* first: harness.h's th_fit_oom needs the allocator hook */
#include "harness.h"
#include "applyd.h"
#include "calib_core.h"
#include <float.h>

#define BE CALIB_METHOD_BETA

/* Fits beta; abc of class 0 into abc (if non-NULL); model into *mo or freed. */
static int fit_opts(const float *x, size_t n, size_t k, const int64_t *y, const double *w,
                    const double *opts, double *abc, calib_model **mo) {
  calib_model *m = NULL;
  const int st = th_fit(BE, x, n, k, y, w, opts, &m);
  if (st == CALIB_OK && abc) {
    double v[300];
    size_t c = 0;
    CHECK_OK(calib_model_param(m, CALIB_MP_BETA, v, 300, &c));
    CHECK(c == 3 * k);
    memcpy(abc, v, 3 * sizeof(double));
  }
  if (mo) *mo = m;
  else calib_model_free(m);
  return st;
}

static const double PROBS[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, 0};

/* n probabilities s ~ U(0.01, 0.99) with labels from sigmoid(a ln s - b ln(1-s) + c). */
static void make_data(size_t n, double a, double b, double c, unsigned long seed,
                      float *s, int64_t *y) {
  th_srand(seed);
  for (size_t i = 0; i < n; i++) {
    const double v = 0.01 + 0.98 * th_uniform();
    s[i] = (float)v;
    const double u = a * log((double)s[i]) - b * log1p(-(double)s[i]) + c;
    y[i] = th_uniform() < 1.0 / (1.0 + exp(-u));
  }
}

/* Gradient of the 0/1-label objective w.r.t. (a, b, c) at abc (sums). */
static void gradient(const float *s, const int64_t *y, size_t n, const double *abc, double g[3]) {
  g[0] = g[1] = g[2] = 0;
  const double e = (double)FLT_EPSILON;
  for (size_t i = 0; i < n; i++) {
    double v = (double)s[i];
    v = v < e ? e : v > 1 - e ? 1 - e : v;
    const double f1 = log(v), f2 = -log1p(-v);
    const double r = 1.0 / (1.0 + exp(-(abc[0] * f1 + abc[1] * f2 + abc[2]))) - (double)y[i];
    g[0] += r * f1; g[1] += r * f2; g[2] += r;
  }
}

static void test_constraints(void) {
  const size_t n = 4000;
  float *s = malloc(n * sizeof(float));
  int64_t *y = malloc(n * sizeof(int64_t));
  double abc[3], g[3];
  /* interior optimum: a, b > 0, full gradient ~ 0 */
  make_data(n, 0.8, 1.5, -0.3, 41, s, y);
  CHECK_OK(fit_opts(s, n, 1, y, NULL, PROBS, abc, NULL));
  CHECK(abc[0] > 0 && abc[1] > 0);
  gradient(s, y, n, abc, g);
  for (int j = 0; j < 3; j++) CHECK(fabs(g[j]) < 1e-5);
  /* unconstrained a < 0: ln s dropped, (b, c) refitted */
  make_data(n, -1.0, 2.0, 0.0, 43, s, y);
  CHECK_OK(fit_opts(s, n, 1, y, NULL, PROBS, abc, NULL));
  CHECK(abc[0] == 0 && abc[1] > 0);
  gradient(s, y, n, abc, g);
  CHECK(fabs(g[0]) > 1.0); /* the constraint is active */
  CHECK(fabs(g[1]) < 1e-5 && fabs(g[2]) < 1e-5);
  /* unconstrained b < 0: -ln(1-s) dropped, (a, c) refitted */
  make_data(n, 2.0, -1.0, 0.0, 47, s, y);
  CHECK_OK(fit_opts(s, n, 1, y, NULL, PROBS, abc, NULL));
  CHECK(abc[1] == 0 && abc[0] > 0);
  gradient(s, y, n, abc, g);
  CHECK(fabs(g[0]) < 1e-5 && fabs(g[2]) < 1e-5);
  /* anti-correlated: both dropped, c = logit of the positive rate */
  make_data(n, -1.5, -1.5, 0.0, 53, s, y);
  CHECK_OK(fit_opts(s, n, 1, y, NULL, PROBS, abc, NULL));
  CHECK(abc[0] == 0 && abc[1] == 0);
  double np = 0;
  for (size_t i = 0; i < n; i++) np += (double)y[i];
  CHECK_NEAR(abc[2], log(np / ((double)n - np)), 1e-12);
  free(s);
  free(y);
}

static void test_closed_forms_and_clipping(void) {
  /* constant probabilities: a = b = 0, base rate */
  const float s[4] = {0.3f, 0.3f, 0.3f, 0.3f};
  const int64_t y[4] = {1, 0, 0, 0};
  double abc[3];
  CHECK_OK(fit_opts(s, 4, 1, y, NULL, PROBS, abc, NULL));
  CHECK(abc[0] == 0 && abc[1] == 0);
  CHECK_NEAR(abc[2], log(1.0 / 3.0), 1e-15);
  /* float32 0 and 1 are clipped to [eps, 1 - eps]: finite fit and output */
  const size_t n = 500;
  float *p = malloc(n * sizeof(float)), *q = malloc(n * sizeof(float));
  int64_t *yy = malloc(n * sizeof(int64_t));
  make_data(n, 1.0, 1.0, 0.0, 59, p, yy);
  p[0] = 0.0f; p[1] = 1.0f; p[2] = 1.0f; p[3] = 0.0f;
  calib_model *m = NULL;
  CHECK_OK(fit_opts(p, n, 1, yy, NULL, PROBS, abc, &m));
  CHECK_OK(calib_apply(m, p, n, 1, q));
  for (size_t i = 0; i < n; i++) CHECK(q[i] >= 0 && q[i] <= 1);
  const double e = (double)FLT_EPSILON;
  CHECK_NEAR(q[1], 1.0 / (1.0 + exp(-(abc[0] * log1p(-e) - abc[1] * log(e) + abc[2]))), 1e-7);
  calib_model_free(m);
  /* logits input (sigmoid) agrees with the same data as probabilities */
  float *z = malloc(n * sizeof(float));
  for (size_t i = 4; i < n; i++) z[i] = (float)(log((double)p[i]) - log1p(-(double)p[i]));
  double a1[3], a2[3];
  CHECK_OK(fit_opts(z + 4, n - 4, 1, yy + 4, NULL, NULL, a1, NULL));
  CHECK_OK(fit_opts(p + 4, n - 4, 1, yy + 4, NULL, PROBS, a2, NULL));
  for (int j = 0; j < 3; j++) CHECK_NEAR(a1[j], a2[j], 1e-4);
  free(p); free(q); free(yy); free(z);
}

static void test_errors(void) {
  float s[6] = {0.1f, 0.2f, 0.3f, 0.7f, 0.8f, 0.9f};
  int64_t y[6] = {0, 1, 0, 1, 0, 1};
  calib_model *m = NULL;
  s[2] = 1.25f;
  CHECK_ERR(fit_opts(s, 6, 1, y, NULL, PROBS, NULL, &m), CALIB_E_DOMAIN);
  s[2] = -0.5f;
  CHECK_ERR(fit_opts(s, 6, 1, y, NULL, PROBS, NULL, &m), CALIB_E_DOMAIN);
  s[2] = NAN;
  CHECK_ERR(fit_opts(s, 6, 1, y, NULL, PROBS, NULL, &m), CALIB_E_NONFINITE);
  s[2] = 0.3f;
  y[1] = 0; y[4] = 1; /* labels now ordered by s: separable */
  CHECK_ERR(fit_opts(s, 6, 1, y, NULL, PROBS, NULL, &m), CALIB_E_SEPARABLE);
  CHECK(m == NULL);
  const double smooth[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, CALIB_P_SMOOTH_TARGETS, 1, 0};
  double abc[3];
  CHECK_OK(fit_opts(s, 6, 1, y, NULL, smooth, abc, NULL)); /* finite with Platt's targets */
  CHECK(isfinite(abc[0]) && isfinite(abc[1]) && isfinite(abc[2]));
  y[1] = 1; y[4] = 0;
  const double one[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, CALIB_P_MAX_ITER, 1, 0};
  const size_t n = 2000;
  float *p = malloc(n * sizeof(float));
  int64_t *yy = malloc(n * sizeof(int64_t));
  make_data(n, 0.5, 3.0, 1.0, 61, p, yy);
  CHECK_ERR(fit_opts(p, n, 1, yy, NULL, one, NULL, &m), CALIB_E_NOCONV);
  CHECK(m == NULL);
  const double w[6] = {1, 1, -1, 1, 1, 1};
  CHECK_ERR(fit_opts(s, 6, 1, y, w, PROBS, NULL, &m), CALIB_E_DOMAIN);
  CHECK_ERR(fit_opts(s, 0, 1, y, NULL, PROBS, NULL, &m), CALIB_E_EMPTY);
  free(p);
  free(yy);
}

/* One-vs-rest failures name their class (calib_error.index), and a fit
 * whose optimum is at infinity with b < 0 (one positive among scores around
 * e^-7: test_beta.py's reference test) is mended by the faces only when it
 * diverged, not when max_iter merely cut it short. */
static void test_class_errors(void) {
  const size_t n = 600, k = 3;
  float *z = malloc(n * k * sizeof(float));
  int64_t *y = malloc(n * sizeof(int64_t));
  th_srand(71);
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < k; j++) z[i * k + j] = (float)(2.0 * th_normal());
    const double lo = (double)z[i * k + 1] - log(exp((double)z[i * k]) + exp((double)z[i * k + 2]));
    y[i] = lo > 0 ? 1 : (th_uniform() < 0.5 ? 0 : 2); /* class 1: its log-odds separate its labels */
  }
  calib_fitter *f = NULL;
  calib_model *m = NULL;
  CHECK_OK(calib_fitter_create(&f, BE));
  if (f) {
    CHECK_ERR(calib_fit(f, z, n, k, y, NULL, &m), CALIB_E_SEPARABLE);
    calib_error e;
    CHECK_OK(calib_fitter_error(f, &e));
    CHECK(e.code == CALIB_E_SEPARABLE && e.index == 1 && strstr(e.message, "(at 1)") != NULL);
    printf("one-vs-rest error detail: %s\n", e.message);
    for (size_t i = 0; i < n; i++) y[i] = th_uniform() < 0.5 ? 0 : 1; /* classes 0, 1 at random; 2 absent */
    CHECK_ERR(calib_fit(f, z, n, k, y, NULL, &m), CALIB_E_SEPARABLE);
    CHECK_OK(calib_fitter_error(f, &e));
    CHECK(e.index == 2 && strstr(e.message, "no row of non-zero weight has the class's label") != NULL);
    printf("one-vs-rest error detail: %s\n", e.message);
    calib_fitter_free(f);
  }
  const size_t nb = 3000;
  float *sb = malloc(nb * sizeof(float));
  int64_t *yb = malloc(nb * sizeof(int64_t));
  th_srand(72);
  for (size_t i = 0; i < nb; i++) {
    sb[i] = (float)exp(-7.0 + th_normal());
    yb[i] = 0;
  }
  float med = sb[0];
  size_t at = 0;
  for (size_t i = 0; i < nb; i++) /* the positive: a row near the middle of the scores */
    if (fabsf(logf(sb[i]) + 7.0f) < fabsf(logf(med) + 7.0f)) med = sb[i], at = i;
  yb[at] = 1;
  double abc[3];
  CHECK_OK(fit_opts(sb, nb, 1, yb, NULL, PROBS, abc, NULL));
  CHECK(abc[0] >= 0 && abc[1] >= 0 && isfinite(abc[2]));
  const double few[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, CALIB_P_MAX_ITER, 3, 0};
  CHECK_ERR(fit_opts(sb, nb, 1, yb, NULL, few, NULL, &m), CALIB_E_NOCONV);
  CHECK(m == NULL);
  free(sb);
  free(yb);
  free(z);
  free(y);
}

/* ---- bytes ---------------------------------------------------------------------- */

typedef th_section sec;
#define craft th_craft_model_into /* harness.h: the format's independent writer */

static int load_crafted(uint64_t k, const sec *s, size_t ns, calib_model **m) {
  uint8_t buf[1024];
  const size_t len = craft(buf, BE, k, s, ns);
  *m = NULL;
  return calib_model_load(m, buf, len);
}

static void test_bytes(void) {
  const double inp[2] = {CALIB_INPUT_PROBS, 1e-7};
  const double ok6[6] = {1, 2, 0.5, 0, 0, -1}, nega[6] = {1, 2, 0.5, -0.1, 0, -1};
  const double negb[6] = {1, -2, 0.5, 0, 0, -1}, nanc[6] = {1, 2, NAN, 0, 0, -1};
  const double infc[6] = {1, 2, 0.5, 0, 0, -INFINITY};
  calib_model *m = NULL;
  sec s0[2] = {{CALIB_MP_BETA, 6, ok6}, {CALIB_MP_INPUT, 2, inp}};
  CHECK_OK(load_crafted(2, s0, 2, &m));
  float x[4] = {0.25f, 0.5f, 0.0f, 1.0f}, y[4];
  CHECK_OK(calib_apply(m, x, 2, 2, y));
  for (int i = 0; i < 2; i++) {
    double q[2], sum = 0;
    for (int j = 0; j < 2; j++) {
      double v = (double)x[2 * i + j];
      v = v < 1e-7 ? 1e-7 : v > 1 - 1e-7 ? 1 - 1e-7 : v;
      sum += q[j] = 1.0 / (1.0 + exp(-(ok6[3 * j] * log(v) - ok6[3 * j + 1] * log1p(-v) + ok6[3 * j + 2])));
    }
    for (int j = 0; j < 2; j++) CHECK_NEAR(y[2 * i + j], q[j] / sum, 1e-7);
  }
  x[1] = 2.0f;
  for (int i = 0; i < 4; i++) y[i] = 5.0f;
  CHECK_ERR(calib_apply(m, x, 2, 2, y), CALIB_E_DOMAIN);
  x[1] = NAN;
  CHECK_ERR(calib_apply(m, x, 2, 2, y), CALIB_E_NONFINITE);
  CHECK_ERR(calib_apply(m, x, 4, 1, y), CALIB_E_SHAPE);
  for (int i = 0; i < 4; i++) CHECK(y[i] == 5.0f);
  calib_model_free(m);
  sec s1[2] = {{CALIB_MP_BETA, 6, nega}, {CALIB_MP_INPUT, 2, inp}};
  CHECK_ERR(load_crafted(2, s1, 2, &m), CALIB_E_FORMAT);
  sec s2[2] = {{CALIB_MP_BETA, 6, negb}, {CALIB_MP_INPUT, 2, inp}};
  CHECK_ERR(load_crafted(2, s2, 2, &m), CALIB_E_FORMAT);
  sec s3[2] = {{CALIB_MP_BETA, 6, nanc}, {CALIB_MP_INPUT, 2, inp}};
  CHECK_ERR(load_crafted(2, s3, 2, &m), CALIB_E_FORMAT);
  sec s4[2] = {{CALIB_MP_BETA, 6, infc}, {CALIB_MP_INPUT, 2, inp}};
  CHECK_ERR(load_crafted(2, s4, 2, &m), CALIB_E_FORMAT);
  sec s5[2] = {{CALIB_MP_BETA, 3, ok6}, {CALIB_MP_INPUT, 2, inp}};
  CHECK_ERR(load_crafted(2, s5, 2, &m), CALIB_E_FORMAT);
  sec s6[1] = {{CALIB_MP_BETA, 6, ok6}};
  CHECK_ERR(load_crafted(2, s6, 1, &m), CALIB_E_FORMAT);
  sec s7[2] = {{CALIB_MP_PLATT, 6, ok6}, {CALIB_MP_INPUT, 2, inp}};
  CHECK_ERR(load_crafted(3, s7, 2, &m), CALIB_E_FORMAT);
  CHECK(m == NULL);
  /* all classes underflow: uniform row */
  const double low[6] = {0, 0, -1000, 0, 0, -1000};
  sec s8[2] = {{CALIB_MP_BETA, 6, low}, {CALIB_MP_INPUT, 2, inp}};
  CHECK_OK(load_crafted(2, s8, 2, &m));
  float u[2] = {0.3f, 0.9f};
  CHECK_OK(calib_apply(m, u, 1, 2, u));
  CHECK(u[0] == 0.5f && u[1] == 0.5f);
  calib_model_free(m);
}

/* One-vs-rest on logits: a fit on 4 classes, round trip, in place, byte flips. */
static void test_ovr_round_trip(void) {
  const size_t n = 800, k = 4;
  float *x = malloc(n * k * sizeof(float)), *p1 = malloc(n * k * sizeof(float));
  float *p2 = malloc(n * k * sizeof(float));
  int64_t *y = malloc(n * sizeof(int64_t));
  th_srand(67);
  for (size_t i = 0; i < n; i++) {
    y[i] = (int64_t)(i % k);
    for (size_t j = 0; j < k; j++) x[k * i + j] = (float)(2 * th_normal() + (j == (size_t)y[i] ? 2.0 : 0.0));
  }
  calib_fitter *f = NULL;
  calib_model *m = NULL, *m2 = NULL;
  CHECK_OK(calib_fitter_create(&f, BE));
  CHECK_OK(calib_fit(f, x, n, k, y, NULL, &m));
  double before, after, nll_raw, nll_p;
  CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_BEFORE, &before));
  CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_AFTER, &after));
  CHECK_OK(calib_nll_logits(x, n, k, y, &nll_raw));
  CHECK_NEAR(before, nll_raw, 1e-12);
  CHECK_OK(calib_apply(m, x, n, k, p1));
  CHECK_OK(calib_nll(p1, n, k, y, &nll_p));
  CHECK_NEAR(after, nll_p, 1e-6);
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (size_t j = 0; j < k; j++) s += (double)p1[k * i + j];
    CHECK_NEAR(s, 1.0, 4e-7);
  }
  const size_t len = calib_model_size(m);
  uint8_t *buf = malloc(len);
  CHECK_OK(calib_model_save(m, buf, len, NULL));
  CHECK_OK(calib_model_load(&m2, buf, len));
  CHECK_OK(calib_apply(m2, x, n, k, p2));
  CHECK(memcmp(p1, p2, n * k * sizeof(float)) == 0);
  CHECK_OK(calib_apply(m2, x, n, k, x)); /* in place */
  CHECK(memcmp(p1, x, n * k * sizeof(float)) == 0);
  size_t rejected = 0;
  for (size_t i = 0; i < len; i++) {
    calib_model *bad = NULL;
    buf[i] ^= 0x01;
    rejected += calib_model_load(&bad, buf, len) == CALIB_E_FORMAT && bad == NULL;
    calib_model_free(bad);
    buf[i] ^= 0x01;
  }
  CHECK(rejected == len);
  free(buf); free(x); free(p1); free(p2); free(y);
  calib_model_free(m);
  calib_model_free(m2);
  calib_fitter_free(f);
}

static void test_oom(void) {
  const size_t n = 300, k = 3;
  float *x = malloc(n * k * sizeof(float));
  int64_t *y = malloc(n * sizeof(int64_t));
  th_srand(71);
  for (size_t i = 0; i < n; i++) {
    y[i] = (int64_t)(i % k);
    for (size_t j = 0; j < k; j++) x[k * i + j] = (float)(th_normal() + (j == (size_t)y[i]));
  }
  calib_fitter *f = NULL;
  CHECK_OK(calib_fitter_create(&f, BE));
  th_fit_oom(f, x, n, k, y, 50);
  calib_fitter_free(f);
  free(x);
  free(y);
}

/* Logit input: exact log-sigmoid features (CALIB_MP_BETA_FEATURES) against
 * closed forms in long double; the same parameters without the section (a
 * model written before it existed) keep the clipped map; the section's
 * value and count are validated; a fit writes it. */
static long double sp_l(long double t) { return t > 0 ? t + log1pl(expl(-t)) : log1pl(expl(t)); }

static void test_logit_features(void) {
  const double lg[2] = {CALIB_INPUT_LOGITS, (double)FLT_EPSILON}, one[1] = {1.0};
  const double abc1[3] = {0.75, 1.25, -0.5};
  const float x1[5] = {40.0f, -40.0f, 17.0f, -3.0f, 0.0f};
  float y[5];
  calib_model *m = NULL;
  sec snew[3] = {{CALIB_MP_BETA, 3, abc1}, {CALIB_MP_INPUT, 2, lg}, {CALIB_MP_BETA_FEATURES, 1, one}};
  CHECK_OK(load_crafted(1, snew, 3, &m));
  CHECK_OK(calib_apply(m, x1, 5, 1, y));
  for (int i = 0; i < 5; i++) {
    const long double x = x1[i], u = -abc1[0] * sp_l(-x) + abc1[1] * sp_l(x) + abc1[2];
    CHECK_NEAR(y[i], (double)(1.0L / (1.0L + expl(-u))), 1e-7);
    CHECK(fabs(y[i] - (double)(1.0L / (1.0L + expl(-u)))) <= 1e-6 * (double)(1.0L / (1.0L + expl(-u))));
  }
  CHECK(y[1] < 1e-12f); /* x = -40: u = 0.75 (-40) - 0.5 */
  calib_model_free(m);
  /* the old map: s = sigmoid(x) clipped to [eps, 1 - eps] */
  sec sold[2] = {{CALIB_MP_BETA, 3, abc1}, {CALIB_MP_INPUT, 2, lg}};
  CHECK_OK(load_crafted(1, sold, 2, &m));
  CHECK_OK(calib_apply(m, x1, 5, 1, y));
  const double e = (double)FLT_EPSILON;
  for (int i = 0; i < 5; i++) {
    double v = 1.0 / (1.0 + exp(-(double)x1[i]));
    v = v < e ? e : v > 1 - e ? 1 - e : v;
    CHECK_NEAR(y[i], 1.0 / (1.0 + exp(-(abc1[0] * log(v) - abc1[1] * log1p(-v) + abc1[2]))), 1e-7);
  }
  CHECK(y[1] > 1e-6f); /* saturated at x = -40: ln s = ln eps ~ -15.9 */
  calib_model_free(m);
  /* k = 3: class 0 dominates by 40, so 1 - s_0 ~ e^-40 (clipping would give eps) */
  const double abc3[9] = {0.0, 1.0, -40.0, 1.0, 1.0, 0.0, 0.5, 2.0, 1.0};
  const float z[6] = {40.0f, 0.0f, -5.0f, 1.0f, 1.0f, 1.0f};
  float q[6];
  sec s3[3] = {{CALIB_MP_BETA, 9, abc3}, {CALIB_MP_INPUT, 2, lg}, {CALIB_MP_BETA_FEATURES, 1, one}};
  CHECK_OK(load_crafted(3, s3, 3, &m));
  CHECK_OK(calib_apply(m, z, 2, 3, q));
  for (int i = 0; i < 2; i++) {
    long double lse = 0, p[3], sum = 0;
    for (int j = 0; j < 3; j++) lse += expl((long double)z[3 * i + j]);
    lse = logl(lse);
    for (int j = 0; j < 3; j++) {
      long double rest = 0;
      for (int l = 0; l < 3; l++)
        if (l != j) rest += expl((long double)z[3 * i + l]);
      const long double ls = z[3 * i + j] - lse, l1s = logl(rest) - lse;
      const long double u = abc3[3 * j] * ls - abc3[3 * j + 1] * l1s + abc3[3 * j + 2];
      sum += p[j] = 1.0L / (1.0L + expl(-u));
    }
    for (int j = 0; j < 3; j++) CHECK_NEAR(q[3 * i + j], (double)(p[j] / sum), 1e-7);
  }
  float zz[6];
  memcpy(zz, z, sizeof zz);
  CHECK_OK(calib_apply(m, zz, 2, 3, zz)); /* in place */
  for (int i = 0; i < 6; i++) CHECK(zz[i] == q[i]);
  calib_model_free(m);
  /* the section is validated */
  const double two[1] = {2.0}, ones[2] = {1.0, 1.0};
  sec bad1[3] = {{CALIB_MP_BETA, 3, abc1}, {CALIB_MP_INPUT, 2, lg}, {CALIB_MP_BETA_FEATURES, 1, two}};
  CHECK_ERR(load_crafted(1, bad1, 3, &m), CALIB_E_FORMAT);
  sec bad2[3] = {{CALIB_MP_BETA, 3, abc1}, {CALIB_MP_INPUT, 2, lg}, {CALIB_MP_BETA_FEATURES, 2, ones}};
  CHECK_ERR(load_crafted(1, bad2, 3, &m), CALIB_E_FORMAT);
  sec bad3[3] = {{CALIB_MP_BETA, 3, abc1}, {CALIB_MP_INPUT, 2, lg}, {CALIB_MP_PLATT, 1, one}};
  CHECK_ERR(load_crafted(1, bad3, 3, &m), CALIB_E_FORMAT);
  /* a fit writes the section */
  const size_t n = 400;
  float *xs = malloc(n * sizeof(float));
  int64_t *ys = malloc(n * sizeof(int64_t));
  th_srand(71);
  for (size_t i = 0; i < n; i++) {
    xs[i] = (float)(80.0 * th_uniform() - 40.0);
    ys[i] = th_uniform() < 1.0 / (1.0 + exp(-0.3 * (double)xs[i]));
  }
  CHECK_OK(fit_opts(xs, n, 1, ys, NULL, NULL, NULL, &m));
  double v[2];
  size_t c = 0;
  CHECK_OK(calib_model_param(m, CALIB_MP_BETA_FEATURES, v, 2, &c));
  CHECK(c == 1 && v[0] == 1.0);
  calib_model_free(m);
  free(xs); free(ys);
}

/* The planar copy of an owned model (m->beta3, model/beta_planar.c) against
 * the interleaved parameters of the same bytes by reference
 * (calib_model_init_static: no copy): bit-identical rows at k = 1..67 and
 * 1000 (every vector and tail length of beta_row_x, both branches of the
 * series), and both within half a float32 ulp plus 3.3e-9 (1 + max a +
 * 2 max b) relative of a long-double reference (the one rounding to float32
 * and applyd.h's bound before it). */
/* A beta model on logits with exact features and parameters abc (3 k),
 * crafted once and made twice: owned (*mo: calib_model_load, with its planar
 * copy of abc) and static (*mr: calib_model_init_static over *buf, in *ws);
 * the caller frees *mo, *buf and *ws. */
static void beta_logit_models(const double *abc, size_t k, calib_model **mo, const calib_model **mr,
                              uint8_t **buf, void **ws) {
  const double lg[2] = {CALIB_INPUT_LOGITS, (double)FLT_EPSILON}, one[1] = {1.0};
  sec s3[3] = {{CALIB_MP_BETA, 3 * k, abc}, {CALIB_MP_INPUT, 2, lg}, {CALIB_MP_BETA_FEATURES, 1, one}};
  const size_t cap = 128 + 64 + 32 * 3 + 8 * (3 * k + 3);
  *buf = malloc(cap);
  const size_t len = craft(*buf, BE, k, s3, 3);
  CHECK(len <= cap);
  CHECK_OK(calib_model_load(mo, *buf, len));
  size_t need = 0;
  CHECK_OK(calib_model_workspace_size(*buf, len, &need));
  *ws = malloc(need);
  CHECK_OK(calib_model_init_static(mr, *ws, need, *buf, len));
}

static void test_planar(void) {
  static const size_t ks[] = {2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 63, 64, 65, 67, 1000};
  th_srand(913);
  for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
    const size_t k = ks[t], n = 5;
    double *abc = malloc(3 * k * sizeof(double));
    float *x = malloc(n * k * sizeof(float)), *y1 = malloc(n * k * sizeof(float)),
          *y2 = malloc(n * k * sizeof(float));
    for (size_t j = 0; j < k; j++) {
      abc[3 * j] = 0.5 + th_uniform();
      abc[3 * j + 1] = 0.5 + th_uniform();
      abc[3 * j + 2] = th_uniform() - 0.5;
    }
    for (size_t i = 0; i < n * k; i++) x[i] = (float)(3.0 * (th_uniform() - 0.5) * (double)(i % n + 1));
    x[k / 2] = 30.0f; /* row 0: one dominant class */
    calib_model *mo = NULL;
    const calib_model *mr = NULL;
    uint8_t *buf = NULL;
    void *ws = NULL;
    beta_logit_models(abc, k, &mo, &mr, &buf, &ws);
    CHECK_OK(calib_apply(mo, x, n, k, y1));
    CHECK_OK(calib_apply(mr, x, n, k, y2));
    CHECK(memcmp(y1, y2, n * k * sizeof(float)) == 0);
    double worst = -1;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
      const float *z = x + i * k;
      long double tot = 0, sum = 0, *q = malloc(k * sizeof(long double));
      for (size_t j = 0; j < k; j++) tot += expl((long double)z[j]);
      for (size_t j = 0; j < k; j++) {
        const long double e = expl((long double)z[j]), ls = logl(e / tot), l1s = logl((tot - e) / tot);
        const long double u = abc[3 * j] * ls - abc[3 * j + 1] * l1s + abc[3 * j + 2];
        sum += q[j] = 1.0L / (1.0L + expl(-u));
      }
      for (size_t j = 0; j < k; j++) {
        const double r = (double)(q[j] / sum);
        int ex;
        frexp(r, &ex); /* r = f 2^ex, f in [0.5, 1): half a float ulp is 2^(ex - 25) */
        const double e = (fabs((double)y1[i * k + j] - r) - ldexp(1.0, ex - 25)) / r;
        if (e > worst) worst = e;
        off += y1[i * k + j] != (float)(q[j] / sum); /* not the correctly rounded float */
      }
      free(q);
    }
    /* the one rounding to float32 (2^-24 relative) plus applyd.h's bound
     * before it, 3.3e-9 (1 + max a + 2 max b) */
    double amax = 0, bmax = 0;
    for (size_t j = 0; j < k; j++) {
      amax = fmax(amax, abc[3 * j]);
      bmax = fmax(bmax, abc[3 * j + 1]);
    }
    const double bound = 3.3e-9 * (1.0 + amax + 2.0 * bmax);
    if (k == 1000 || worst > bound)
      printf("beta planar k = %zu: worst error beyond half a float ulp %.3g relative (bound %.3g), %zu of %zu "
             "outputs one ulp from the correctly rounded float\n", k, worst, bound, off, n * k);
    CHECK(worst <= bound);
    calib_model_free(mo);
    free(ws); free(buf); free(abc); free(x); free(y1); free(y2);
  }
}

/* One row (n = 1) at k >= 2 on exact logit parameters skips the validation
 * scan: beta_row_x's widening pass finds a NaN or +-inf itself
 * (model/beta_apply.c). Each row alone must give the multi-row call's
 * output bit for bit (that call scans first, then runs the same kernel;
 * test_planar holds its output to a long-double reference, at these k),
 * huge finite values (+-FLT_MAX, 1e30) must not count as bad, and a NaN,
 * +inf or -inf at the first, a middle or the last class (the vector tail)
 * must give CALIB_E_NONFINITE with the output untouched; on every table
 * this CPU has, owned and static (no planar copy) models alike. */
static void test_one_row(void) {
  static const char *const isas[] = {"scalar", "avx2", "avx512", "neon"};
  static const size_t ks[] = {2, 9, 17, 40, 1000};
  const float bads[3] = {NAN, INFINITY, -INFINITY};
  const char *was = calib_isa();
  th_srand(4242);
  for (size_t t = 0; t < sizeof isas / sizeof isas[0]; t++) {
    if (!calib__kernels_force(isas[t])) continue;
    for (size_t q = 0; q < sizeof ks / sizeof ks[0]; q++) {
      const size_t k = ks[q], n = 4;
      double *abc = malloc(3 * k * sizeof(double));
      float *x = malloc(n * k * sizeof(float)), *ym = malloc(n * k * sizeof(float));
      float *y1 = malloc(k * sizeof(float)), *r = malloc(k * sizeof(float));
      for (size_t j = 0; j < k; j++) {
        abc[3 * j] = 0.5 + th_uniform();
        abc[3 * j + 1] = 0.5 + th_uniform();
        abc[3 * j + 2] = th_uniform() - 0.5;
      }
      for (size_t i = 0; i < n * k; i++) x[i] = (float)(4.0 * th_normal());
      x[2 * k] = FLT_MAX; /* row 2: huge finite values, still good */
      x[2 * k + 1] = -FLT_MAX;
      x[3 * k + k - 1] = 1e30f;
      calib_model *mo = NULL;
      const calib_model *mr = NULL;
      uint8_t *buf = NULL;
      void *ws = NULL;
      beta_logit_models(abc, k, &mo, &mr, &buf, &ws);
      const calib_model *models[2] = {mo, mr};
      for (int v = 0; v < 2; v++) {
        const calib_model *m = models[v];
        if (!m) continue;
        CHECK_OK(calib_apply(m, x, n, k, ym));
        for (size_t i = 0; i < n; i++) {
          CHECK_OK(calib_apply(m, x + i * k, 1, k, y1));
          if (memcmp(y1, ym + i * k, k * sizeof(float)) != 0)
            TH_FAIL("%s k = %zu model %d row %zu: one row differs from the multi-row call", isas[t], k, v, i);
        }
        const size_t pos[3] = {0, k / 2, k - 1};
        for (int b = 0; b < 3; b++)
          for (int p = 0; p < 3; p++) {
            memcpy(r, x, k * sizeof(float));
            r[pos[p]] = bads[b];
            for (size_t j = 0; j < k; j++) y1[j] = 7.0f;
            CHECK_ERR(calib_apply(m, r, 1, k, y1), CALIB_E_NONFINITE);
            size_t touched = 0;
            for (size_t j = 0; j < k; j++) touched += y1[j] != 7.0f;
            if (touched)
              TH_FAIL("%s k = %zu: a bad row (%g at %zu) wrote %zu outputs", isas[t], k, (double)bads[b], pos[p],
                      touched);
          }
      }
      calib_model_free(mo);
      free(ws);
      free(buf);
      free(abc);
      free(x);
      free(ym);
      free(y1);
      free(r);
    }
  }
  calib__kernels_force(was);
}

static void test_coco(void) {
  char p[1200];
  size_t lx = 0, ly = 0, lp = 0;
  snprintf(p, sizeof p, "%s/coco_faster_rcnn_r50_binary_netcal/val/logits.f32", th_shared_data());
  float *x = th_read_file(p, &lx);
  snprintf(p, sizeof p, "%s/coco_faster_rcnn_r50_binary_netcal/val/probs.f32", th_shared_data());
  float *pr = th_read_file(p, &lp);
  snprintf(p, sizeof p, "%s/coco_faster_rcnn_r50_binary_netcal/val/labels.i32", th_shared_data());
  int32_t *y32 = th_read_file(p, &ly);
  if (!x || !y32 || !pr) {
    free(x); free(y32); free(pr);
    th_missing_data("the COCO binary reference (betacal/scipy optimum on coco_faster_rcnn_r50_binary_netcal)");
    return;
  }
  const size_t n = ly / 4;
  int64_t *y = malloc(n * sizeof(int64_t));
  for (size_t i = 0; i < n; i++) y[i] = y32[i];
  double abc[3];
  /* scipy trust-exact, same procedure (see the file comment) */
  CHECK_OK(fit_opts(x, n, 1, y, NULL, NULL, abc, NULL));
  CHECK_NEAR(abc[0], 0.8935639218282924, 1e-6);
  CHECK_NEAR(abc[1], 0.7983766768693162, 1e-6);
  CHECK_NEAR(abc[2], -1.047719430280281, 1e-6);
  CHECK_OK(fit_opts(pr, n, 1, y, NULL, PROBS, abc, NULL));
  CHECK_NEAR(abc[0], 0.8935639224624874, 1e-6);
  CHECK_NEAR(abc[1], 0.7983766768933108, 1e-6);
  CHECK_NEAR(abc[2], -1.0477194304873205, 1e-6);
  free(x); free(pr); free(y32); free(y);
}

/* Logit rows whose other classes lie far below the maximum (the SIMD row
 * sums their terms around the maximum and hands rows whose sum is under
 * 2^-900 to the path around the others' own maximum, applyd.h), with a tie at
 * the maximum, the maximum in a vector tail, and plain rows: against the
 * closed forms in long double, 1e-6 relative per output (1e-38 absolute). */
static void test_logit_gaps(void) {
  static const size_t ks[] = {3, 20, 1000};
  const double lg[2] = {CALIB_INPUT_LOGITS, (double)FLT_EPSILON}, one[1] = {1.0};
  th_srand(73);
  for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
    const size_t k = ks[ki], n = 7;
    double *abc = malloc(3 * k * sizeof *abc);
    float *z = malloc(n * k * sizeof *z), *q = malloc(n * k * sizeof *q);
    long double *e = malloc(k * sizeof *e);
    for (size_t j = 0; j < k; j++) {
      abc[3 * j] = 0.5 + th_uniform();
      abc[3 * j + 1] = 0.5 + th_uniform();
      abc[3 * j + 2] = 2.0 * th_uniform() - 1.0;
    }
    /* b of the rows' maxima small or 0, so that ln(1 - s) there (~ -740, or -inf
     * if the others' sum underflowed) shows in the output */
    abc[3 * (k / 2) + 1] = 1e-3;
    abc[3 * 1 + 1] = 0.0;
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < k; j++) {
        float v = (float)(3.0 * th_normal());
        if (i < 4) v = (float)(-(i == 0 ? 600.0 : i == 1 ? 620.0 : i == 2 ? 740.0 : 800.0) - 0.5 * (double)(j % 7));
        z[i * k + j] = v;
      }
    z[0 * k + 0] = 0.0f;              /* the others 600 below: summed around the maximum */
    z[1 * k + k - 1] = 1.0f;          /* 620 below, the maximum last (a vector tail) */
    z[2 * k + k / 2] = 0.0f;          /* 740 below: the sum is subnormal */
    z[3 * k + 1] = 5.0f;              /* 800 below: the sum underflows to 0 */
    z[4 * k + 1] = z[4 * k + k - 1] = 9.0f; /* a tie at the maximum */
    sec s[3] = {{CALIB_MP_BETA, 3 * k, abc}, {CALIB_MP_INPUT, 2, lg}, {CALIB_MP_BETA_FEATURES, 1, one}};
    calib_model *m = NULL;
    uint8_t *mb = malloc(1024 + 3 * k * sizeof(double)); /* load_crafted's buffer holds k <= 40 */
    CHECK_OK(calib_model_load(&m, mb, craft(mb, BE, k, s, 3)));
    free(mb);
    CHECK_OK(calib_apply(m, z, n, k, q));
    for (size_t i = 0; i < n; i++) {
      const float *r = z + i * k;
      long double mx = r[0], tot = 0, sum = 0;
      for (size_t j = 1; j < k; j++) mx = r[j] > mx ? r[j] : mx;
      for (size_t j = 0; j < k; j++) tot += e[j] = expl((long double)r[j] - mx);
      for (size_t j = 0; j < k; j++) {
        long double rest = 0; /* the others' sum: tot - e[j] would cancel for the largest */
        if (e[j] > 0.5L) {
          for (size_t l = 0; l < k; l++)
            if (l != j) rest += expl((long double)r[l] - mx);
        } else rest = tot - e[j];
        const long double ls = (long double)r[j] - mx - logl(tot), l1s = logl(rest) - logl(tot);
        const long double u = abc[3 * j] * ls - abc[3 * j + 1] * l1s + abc[3 * j + 2];
        sum += e[j] = 1.0L / (1.0L + expl(-u));
      }
      long bad = 0;
      for (size_t j = 0; j < k; j++) {
        const double ref = (double)(e[j] / sum), got = (double)q[i * k + j];
        if (!(fabs(got - ref) <= 1e-6 * ref + 1e-38)) {
          if (bad++ < 3) fprintf(stderr, "logit gaps k=%zu row %zu class %zu: %.9g vs %.9g\n", k, i, j, got, ref);
        }
      }
      CHECK(bad == 0);
    }
    calib_model_free(m);
    free(abc); free(z); free(q); free(e);
  }
}

/* The SIMD beta row's log1p(-s) (applyd.h: a series for vectors with every
 * s <= 2^-5, else fdlibm's kernel), on every x86 ISA of this CPU, against
 * log1pl (and, looser, libm's log1p): s dense on [0, 1/2] uniformly (2^20
 * values) and log-spaced over [2^-60, 1/2] (2^20), sorted (whole vectors on
 * one side of 2^-5) and alternated small / large (the fdlibm kernel on small
 * s too). Where s > 2^-5 (always fdlibm's kernel): at most 1.5 ulp of the
 * double result (the kernel's 1.44) and 2 ulp from libm. Where s <= 2^-5
 * (either): at most 1.9e-9 relative (the degree-2 series' 1.84e-9, within
 * the features' budget in applyd_body.h; fdlibm's kernel is far inside). */
#if defined(CALIB_HAVE_X86_KERNELS)
static double ulps(double got, long double ref) {
  const double r = (double)ref;
  if (r == 0) return got == 0 ? 0 : INFINITY;
  return (double)(fabsl((long double)got - ref) / (long double)(nextafter(fabs(r), INFINITY) - fabs(r)));
}

static void test_log1p_neg(void) {
  static const char *const isas[] = {"avx2", "avx512"};
  const size_t n = (size_t)1 << 21;
  double *s = malloc(n * sizeof *s), *y = malloc(n * sizeof *y), *s2 = malloc(n * sizeof *s2);
  for (size_t i = 0; i < n / 2; i++) s[i] = 0.5 * (double)(i + 1) / (double)(n / 2);
  for (size_t i = 0; i < n / 2; i++) s[n / 2 + i] = exp2(-60.0 + 59.0 * (double)i / (double)(n / 2));
  for (size_t i = 0; i < n / 2; i++) { s2[2 * i] = s[n / 2 + i]; s2[2 * i + 1] = s[i]; }
  const char *was = calib_isa();
  for (size_t t = 0; t < sizeof isas / sizeof isas[0]; t++) {
    if (!calib__kernels_force(isas[t])) continue;
    const calib__applyd *ad = calib__applyd_get();
    CHECK(ad != NULL);
    if (!ad) continue;
    for (int pass = 0; pass < 2; pass++) {
      const double *in = pass ? s2 : s;
      ad->log1p_neg_n(in, n, y);
      double worst = 0, worst_libm = 0, at = 0, worst_small = 0, at_small = 0;
      for (size_t i = 0; i < n; i++) {
        const long double ref = log1pl(-(long double)in[i]);
        if (in[i] > 0x1p-5) {
          const double e = ulps(y[i], ref);
          if (!(e <= worst)) { worst = e; at = in[i]; }
          const double el = ulps(y[i], (long double)log1p(-in[i]));
          if (!(el <= worst_libm)) worst_libm = el;
        } else {
          const double e = ref == 0 ? (y[i] == 0 ? 0 : INFINITY) : (double)fabsl(((long double)y[i] - ref) / ref);
          if (!(e <= worst_small)) { worst_small = e; at_small = in[i]; }
        }
      }
      printf("log1p(-s) %s %s: s > 2^-5: max %.3f ulp against log1pl (at s = %.17g), %.3f against libm log1p; "
             "s <= 2^-5: max relative error %.3g (at s = %.17g)\n",
             isas[t], pass ? "alternated" : "sorted", worst, at, worst_libm, worst_small, at_small);
      CHECK(worst <= 1.5);
      CHECK(worst_libm <= 2.0);
      CHECK(worst_small <= 1.9e-9);
    }
  }
  calib__kernels_force(was); /* the dispatched table again */
  free(s); free(y); free(s2);
}
#else
static void test_log1p_neg(void) {}
#endif

int main(int argc, char **argv) {
  test_seed(argc, argv); /* fixed seeds inside; printed for the record */
  test_constraints();
  test_closed_forms_and_clipping();
  test_errors();
  test_class_errors();
  test_bytes();
  test_logit_features();
  test_logit_gaps();
  test_log1p_neg();
  test_planar();
  test_one_row();
  test_ovr_round_trip();
  test_oom();
  test_coco();
  TEST_MAIN_END();
}
