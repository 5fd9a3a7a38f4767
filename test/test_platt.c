/* test_platt.c -- Platt scaling: libsvm's test vector, closed forms, scale
 * and weight invariances, every error code (nothing written, *out NULL),
 * model bytes (round trip, crafted invalid payloads), apply in place, the
 * one-vs-rest normalisation, the SIMD kernels against the scalar oracle, an
 * out-of-memory loop, and the COCO binary set against REFERENCE.json
 * (a, b computed independently by scipy and scikit-learn; our A = -a, B = -b). */
#include "internal.h" /* first: harness.h's th_fit_oom needs the allocator hook */
#include "harness.h"
#include <float.h>
#include "../src/fit/platt_pass.h"

#define PL CALIB_METHOD_PLATT

typedef struct {
  float *x;
  int64_t *y;
  size_t n, k;
} set;

/* Fits Platt with options (pairs id, value; id 0 ends); returns the status,
 * (A, B) of class 0 into ab (if non-NULL) and the model into *mo (or frees). */
static int fit_opts(const float *x, size_t n, size_t k, const int64_t *y, const double *w,
                    const double *opts, double *ab, calib_model **mo, double *iters) {
  calib_fitter *f = NULL;
  calib_model *m = NULL;
  CHECK_OK(calib_fitter_create(&f, PL));
  for (; opts && opts[0] != 0; opts += 2) CHECK_OK(calib_fitter_set(f, (int)opts[0], opts[1]));
  const int st = calib_fit(f, x, n, k, y, w, &m);
  if (st == CALIB_OK && ab) {
    double v[512];
    size_t c = 0;
    CHECK_OK(calib_model_param(m, CALIB_MP_PLATT, v, 512, &c));
    CHECK(c == 2 * k);
    ab[0] = v[0];
    ab[1] = v[1];
  }
  if (iters) CHECK_OK(calib_fitter_report(f, CALIB_R_ITERATIONS, iters));
  if (mo) *mo = m;
  else calib_model_free(m);
  calib_fitter_free(f);
  return st;
}

/* Random binary data: score = N(0,1) + shift * y. */
static void make_binary(set *s, size_t n, double shift, unsigned long seed) {
  th_srand(seed);
  s->n = n;
  s->k = 1;
  s->x = malloc(n * sizeof(float));
  s->y = malloc(n * sizeof(int64_t));
  for (size_t i = 0; i < n; i++) {
    s->y[i] = th_uniform() < 0.4;
    s->x[i] = (float)(th_normal() + shift * (double)s->y[i] - 0.5);
  }
}

static void free_set(set *s) {
  free(s->x);
  free(s->y);
}

/* libsvm's / scikit-learn's test vector (REFERENCES.md 2.14). */
static void test_libsvm_vector(void) {
  const float x[3] = {5, -4, 1};
  const int64_t y[3] = {1, 0, 0};
  double ab[2], it = 0;
  CHECK_OK(fit_opts(x, 3, 1, y, NULL, NULL, ab, NULL, &it));
  CHECK_NEAR(ab[0], -0.20261354391187855, 1e-12);
  CHECK_NEAR(ab[1], 0.6523631498001051, 1e-12);
  CHECK(it == 3);
}

/* Options: defaults, bounds and rejected values. */
static void test_options(void) {
  double lo, hi, def;
  CHECK_OK(calib_param_bounds(PL, CALIB_P_TOL, &lo, &hi, &def));
  CHECK(def == 1e-5);
  CHECK_OK(calib_param_bounds(PL, CALIB_P_MAX_ITER, &lo, &hi, &def));
  CHECK(def == 100);
  CHECK_OK(calib_param_bounds(PL, CALIB_P_SMOOTH_TARGETS, &lo, &hi, &def));
  CHECK(def == 1 && lo == 0 && hi == 1);
  CHECK_OK(calib_param_bounds(PL, CALIB_P_INPUT, &lo, &hi, &def));
  CHECK(def == CALIB_INPUT_LOGITS);
  CHECK_OK(calib_param_bounds(PL, CALIB_P_CLIP_EPS, &lo, &hi, &def));
  CHECK(def == (double)FLT_EPSILON);
  CHECK_OK(calib_param_bounds(PL, CALIB_P_MIN_STEP, &lo, &hi, &def));
  CHECK(def == 1e-10);
  CHECK_OK(calib_param_bounds(CALIB_METHOD_BETA, CALIB_P_SMOOTH_TARGETS, NULL, NULL, &def));
  CHECK(def == 0);
  calib_fitter *f = NULL;
  CHECK_OK(calib_fitter_create(&f, PL));
  CHECK_ERR(calib_fitter_set(f, CALIB_P_SMOOTH_TARGETS, 0.5), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_SMOOTH_TARGETS, 2), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_INPUT, 3), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_CLIP_EPS, 0.5), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_CLIP_EPS, NAN), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_TOL, 0), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, 17, 1), CALIB_E_ARG);
  double v = 0;
  CHECK_OK(calib_fitter_set(f, CALIB_P_CLIP_EPS, 1e-6));
  CHECK_OK(calib_fitter_get(f, CALIB_P_CLIP_EPS, &v));
  CHECK(v == 1e-6);
  calib_fitter_free(f);
}

/* Constant scores: the closed-form base rate, A = 0. */
static void test_constant_scores(void) {
  const float x[5] = {2, 2, 2, 2, 2};
  const int64_t y[5] = {1, 0, 0, 1, 0};
  double ab[2];
  CHECK_OK(fit_opts(x, 5, 1, y, NULL, NULL, ab, NULL, NULL));
  /* smoothed targets: tbar = (2 * 3/4 + 3 * 1/5) / 5 = 0.42 */
  CHECK(ab[0] == 0);
  CHECK_NEAR(ab[1], -log(0.42 / 0.58), 1e-15);
  const double plain[] = {CALIB_P_SMOOTH_TARGETS, 0, 0};
  CHECK_OK(fit_opts(x, 5, 1, y, NULL, plain, ab, NULL, NULL));
  CHECK_NEAR(ab[1], -log(2.0 / 3.0), 1e-15);
  /* zero-weight rows do not count as spread */
  const float x2[4] = {1, 1, 9, 1};
  const int64_t y2[4] = {1, 0, 1, 0};
  const double w2[4] = {1, 1, 0, 2};
  CHECK_OK(fit_opts(x2, 4, 1, y2, w2, plain, ab, NULL, NULL));
  CHECK(ab[0] == 0);
  CHECK_NEAR(ab[1], -log(1.0 / 3.0), 1e-15);
}

/* 0/1 targets on separated data: no finite optimum. Smoothed: finite. */
static void test_separable(void) {
  const float x[4] = {-2, -1, 1, 2};
  const int64_t y[4] = {0, 0, 1, 1};
  const double plain[] = {CALIB_P_SMOOTH_TARGETS, 0, 0};
  calib_model *m = NULL;
  CHECK_ERR(fit_opts(x, 4, 1, y, NULL, plain, NULL, &m, NULL), CALIB_E_SEPARABLE);
  CHECK(m == NULL);
  const float xt[4] = {-2, 0, 0, 2}; /* touching at 0: quasi-complete */
  const int64_t yt[4] = {0, 0, 1, 1};
  CHECK_ERR(fit_opts(xt, 4, 1, yt, NULL, plain, NULL, NULL, NULL), CALIB_E_SEPARABLE);
  double ab[2];
  CHECK_OK(fit_opts(x, 4, 1, y, NULL, NULL, ab, NULL, NULL));
  CHECK(isfinite(ab[0]) && ab[0] < 0);
  /* k >= 2 with an absent class and 0/1 targets */
  const float z[6] = {1, 0, 0, 0, 1, 0};
  const int64_t yz[2] = {0, 1};
  CHECK_ERR(fit_opts(z, 2, 3, yz, NULL, plain, NULL, NULL, NULL), CALIB_E_SEPARABLE);
}

/* Newton is invariant to the scale of the scores: A s is unchanged. */
static void test_scale(void) {
  set s;
  make_binary(&s, 20000, 1.5, 7);
  double ab0[2];
  CHECK_OK(fit_opts(s.x, s.n, 1, s.y, NULL, NULL, ab0, NULL, NULL));
  const double scales[3] = {1e3, 1e-3, 1e6};
  float *xs = malloc(s.n * sizeof(float));
  for (int j = 0; j < 3; j++) {
    for (size_t i = 0; i < s.n; i++) xs[i] = (float)((double)s.x[i] * scales[j]);
    double ab[2];
    calib_model *m = NULL;
    CHECK_OK(fit_opts(xs, s.n, 1, s.y, NULL, NULL, ab, &m, NULL));
    CHECK_REL(ab[0] * scales[j], ab0[0], 1e-6);
    CHECK_NEAR(ab[1], ab0[1], 1e-6);
    float p[4];
    CHECK_OK(calib_apply(m, xs, 4, 1, p)); /* finite, in (0, 1) */
    for (int i = 0; i < 4; i++) CHECK(p[i] > 0 && p[i] < 1);
    calib_model_free(m);
  }
  free(xs);
  free_set(&s);
}

/* Integer weights == duplicated rows (weighted counts in the targets too);
 * with 0/1 targets, scaling every weight changes nothing. */
static void test_weights(void) {
  set s;
  make_binary(&s, 3000, 1.0, 11);
  double *w = malloc(s.n * sizeof(double));
  size_t nd = 0;
  for (size_t i = 0; i < s.n; i++) { w[i] = (double)(i % 3); nd += i % 3; }
  float *xd = malloc(nd * sizeof(float));
  int64_t *yd = malloc(nd * sizeof(int64_t));
  for (size_t i = 0, j = 0; i < s.n; i++)
    for (size_t r = 0; r < i % 3; r++, j++) { xd[j] = s.x[i]; yd[j] = s.y[i]; }
  double a1[2], a2[2], a3[2];
  CHECK_OK(fit_opts(s.x, s.n, 1, s.y, w, NULL, a1, NULL, NULL));
  CHECK_OK(fit_opts(xd, nd, 1, yd, NULL, NULL, a2, NULL, NULL));
  CHECK_NEAR(a1[0], a2[0], 1e-8);
  CHECK_NEAR(a1[1], a2[1], 1e-8);
  /* (the start B0 uses the weighted counts, so the iterates differ: compare
   * at a tight tolerance) */
  const double plain[] = {CALIB_P_SMOOTH_TARGETS, 0, CALIB_P_TOL, 1e-11, 0};
  CHECK_OK(fit_opts(s.x, s.n, 1, s.y, w, plain, a1, NULL, NULL));
  for (size_t i = 0; i < s.n; i++) w[i] *= 1e-6;
  CHECK_OK(fit_opts(s.x, s.n, 1, s.y, w, plain, a3, NULL, NULL));
  CHECK_NEAR(a1[0], a3[0], 1e-10);
  CHECK_NEAR(a1[1], a3[1], 1e-10);
  free(w); free(xd); free(yd);
  free_set(&s);
}

/* Probabilities through the explicit logit transform (clipped). */
static void test_probs_input(void) {
  set s;
  make_binary(&s, 2000, 1.0, 3);
  float *p = malloc(s.n * sizeof(float));
  for (size_t i = 0; i < s.n; i++) p[i] = (float)(1.0 / (1.0 + exp(-2.0 * (double)s.x[i])));
  p[0] = 0.0f;
  p[1] = 1.0f;
  const double probs[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, 0};
  double ab[2];
  calib_model *m = NULL;
  CHECK_OK(fit_opts(p, s.n, 1, s.y, NULL, probs, ab, &m, NULL));
  double inp[2];
  size_t c = 0;
  CHECK_OK(calib_model_param(m, CALIB_MP_INPUT, inp, 2, &c));
  CHECK(c == 2 && inp[0] == CALIB_INPUT_PROBS && inp[1] == (double)FLT_EPSILON);
  float q[8];
  CHECK_OK(calib_apply(m, p, 8, 1, q));
  for (int i = 0; i < 8; i++) {
    const double e = (double)FLT_EPSILON;
    double v = (double)p[i];
    v = v < e ? e : v > 1 - e ? 1 - e : v;
    const double z = log(v) - log1p(-v);
    CHECK_NEAR(q[i], 1.0 / (1.0 + exp(ab[0] * z + ab[1])), 2e-7);
  }
  /* out of [0, 1]: CALIB_E_DOMAIN in fit and apply, nothing written */
  p[5] = 1.5f;
  calib_model *m2 = NULL;
  CHECK_ERR(fit_opts(p, s.n, 1, s.y, NULL, probs, NULL, &m2, NULL), CALIB_E_DOMAIN);
  CHECK(m2 == NULL);
  for (int i = 0; i < 8; i++) q[i] = -7.0f;
  CHECK_ERR(calib_apply(m, p, 8, 1, q), CALIB_E_DOMAIN);
  p[5] = -0.0625f;
  CHECK_ERR(calib_apply(m, p, 8, 1, q), CALIB_E_DOMAIN);
  for (int i = 0; i < 8; i++) CHECK(q[i] == -7.0f);
  calib_model_free(m);
  free(p);
  free_set(&s);
}

/* Every documented fit error: code, *out untouched, report status. */
static void test_fit_errors(void) {
  float x[4] = {1, 2, 3, 4};
  int64_t y[4] = {0, 1, 0, 1};
  double w[4] = {1, 1, 1, 1};
  calib_fitter *f = NULL;
  calib_model *m = NULL;
  double v;
  CHECK_OK(calib_fitter_create(&f, PL));
  CHECK_ERR(calib_fit(NULL, x, 4, 1, y, NULL, &m), CALIB_E_ARG);
  CHECK_ERR(calib_fit(f, NULL, 4, 1, y, NULL, &m), CALIB_E_ARG);
  CHECK_ERR(calib_fit(f, x, 4, 1, NULL, NULL, &m), CALIB_E_ARG);
  CHECK_ERR(calib_fit(f, x, 4, 1, y, NULL, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_fit(f, x, 4, 0, y, NULL, &m), CALIB_E_ARG);
  CHECK_ERR(calib_fit(f, x, 0, 1, y, NULL, &m), CALIB_E_EMPTY);
  x[2] = NAN;
  CHECK_ERR(calib_fit(f, x, 4, 1, y, NULL, &m), CALIB_E_NONFINITE);
  x[2] = INFINITY;
  CHECK_ERR(calib_fit(f, x, 4, 1, y, NULL, &m), CALIB_E_NONFINITE);
  x[2] = 3;
  y[1] = 2;
  CHECK_ERR(calib_fit(f, x, 4, 1, y, NULL, &m), CALIB_E_LABEL);
  y[1] = -1;
  CHECK_ERR(calib_fit(f, x, 4, 1, y, NULL, &m), CALIB_E_LABEL);
  y[1] = 0; y[3] = 0;
  CHECK_ERR(calib_fit(f, x, 4, 1, y, NULL, &m), CALIB_E_ONECLASS);
  y[1] = 1; y[3] = 1;
  w[2] = -1;
  CHECK_ERR(calib_fit(f, x, 4, 1, y, w, &m), CALIB_E_DOMAIN);
  w[2] = NAN;
  CHECK_ERR(calib_fit(f, x, 4, 1, y, w, &m), CALIB_E_NONFINITE);
  w[0] = w[1] = w[2] = w[3] = 0;
  CHECK_ERR(calib_fit(f, x, 4, 1, y, w, &m), CALIB_E_EMPTY);
  /* NOCONV: one Newton step is not enough */
  set s;
  make_binary(&s, 500, 2.0, 5);
  CHECK_OK(calib_fitter_set(f, CALIB_P_MAX_ITER, 1));
  CHECK_ERR(calib_fit(f, s.x, s.n, 1, s.y, NULL, &m), CALIB_E_NOCONV);
  CHECK_OK(calib_fitter_report(f, CALIB_R_STATUS, &v));
  CHECK(v == CALIB_E_NOCONV);
  CHECK_OK(calib_fitter_report(f, CALIB_R_ITERATIONS, &v));
  CHECK(v == 1);
  CHECK(m == NULL);
  /* NOCONV: the line search gives up. A tolerance below the rounding of the
   * gradient at n = 1e4 cannot be met; once the steps reach rounding level
   * no step of 1 or 0.5 (min_step) passes the Armijo test. */
  free_set(&s);
  make_binary(&s, 10000, 1.5, 5);
  CHECK_OK(calib_fitter_set(f, CALIB_P_MAX_ITER, 10000));
  CHECK_OK(calib_fitter_set(f, CALIB_P_TOL, 1e-15));
  CHECK_OK(calib_fitter_set(f, CALIB_P_MIN_STEP, 0.5));
  CHECK_ERR(calib_fit(f, s.x, s.n, 1, s.y, NULL, &m), CALIB_E_NOCONV);
  CHECK_OK(calib_fitter_report(f, CALIB_R_ITERATIONS, &v));
  CHECK(v < 100); /* not the iteration limit */
  CHECK(m == NULL);
  free_set(&s);
  calib_fitter_free(f);
}

/* ---- model bytes -------------------------------------------------------------- */

typedef th_section sec;
#define craft th_craft_model_into /* harness.h: the format's independent writer */

static int load_crafted(int method, uint64_t k, const sec *s, size_t ns, calib_model **m) {
  uint8_t buf[1024];
  const size_t len = craft(buf, method, k, s, ns);
  *m = NULL;
  return calib_model_load(m, buf, len);
}

static void test_bytes(void) {
  const double ab[4] = {-1, 0.5, -2, 0.25}, inp[2] = {CALIB_INPUT_LOGITS, 1e-7};
  const double bad_kind[2] = {0, 1e-7}, bad_eps[2] = {CALIB_INPUT_LOGITS, 0.5};
  const double nan_eps[2] = {CALIB_INPUT_PROBS, NAN}, inf_ab[4] = {-1, INFINITY, 1, 1};
  calib_model *m = NULL;
  sec ok[2] = {{CALIB_MP_PLATT, 4, ab}, {CALIB_MP_INPUT, 2, inp}};
  CHECK_OK(load_crafted(PL, 2, ok, 2, &m));
  calib_model_free(m);
  sec s1[2] = {{CALIB_MP_PLATT, 2, ab}, {CALIB_MP_INPUT, 2, inp}}; /* count != 2k */
  CHECK_ERR(load_crafted(PL, 2, s1, 2, &m), CALIB_E_FORMAT);
  CHECK(m == NULL);
  sec s2[1] = {{CALIB_MP_PLATT, 4, ab}}; /* no input section */
  CHECK_ERR(load_crafted(PL, 2, s2, 1, &m), CALIB_E_FORMAT);
  sec s3[2] = {{CALIB_MP_PLATT, 4, ab}, {CALIB_MP_INPUT, 2, bad_kind}};
  CHECK_ERR(load_crafted(PL, 2, s3, 2, &m), CALIB_E_FORMAT);
  sec s4[2] = {{CALIB_MP_PLATT, 4, ab}, {CALIB_MP_INPUT, 2, bad_eps}};
  CHECK_ERR(load_crafted(PL, 2, s4, 2, &m), CALIB_E_FORMAT);
  sec s5[2] = {{CALIB_MP_PLATT, 4, ab}, {CALIB_MP_INPUT, 2, nan_eps}};
  CHECK_ERR(load_crafted(PL, 2, s5, 2, &m), CALIB_E_FORMAT);
  sec s6[2] = {{CALIB_MP_PLATT, 4, inf_ab}, {CALIB_MP_INPUT, 2, inp}};
  CHECK_ERR(load_crafted(PL, 2, s6, 2, &m), CALIB_E_FORMAT);
  sec s7[3] = {{CALIB_MP_PLATT, 4, ab}, {CALIB_MP_INPUT, 2, inp}, {CALIB_MP_BETA, 2, inp}};
  CHECK_ERR(load_crafted(PL, 2, s7, 3, &m), CALIB_E_FORMAT);
  sec s8[2] = {{CALIB_MP_PLATT, 4, ab}, {CALIB_MP_INPUT, 1, inp}};
  CHECK_ERR(load_crafted(PL, 2, s8, 2, &m), CALIB_E_FORMAT);
  sec s9[2] = {{CALIB_MP_BETA, 4, ab}, {CALIB_MP_INPUT, 2, inp}}; /* wrong tag */
  CHECK_ERR(load_crafted(PL, 2, s9, 2, &m), CALIB_E_FORMAT);
  CHECK(m == NULL);
}

/* Round trip: bit-identical probabilities; every single-byte flip rejected. */
static void test_round_trip(void) {
  set s;
  make_binary(&s, 1000, 1.2, 9);
  calib_model *m = NULL, *m2 = NULL;
  CHECK_OK(fit_opts(s.x, s.n, 1, s.y, NULL, NULL, NULL, &m, NULL));
  const size_t len = calib_model_size(m);
  uint8_t *buf = malloc(len);
  size_t wr = 0;
  CHECK_OK(calib_model_save(m, buf, len, &wr));
  CHECK(wr == len);
  CHECK_OK(calib_model_load(&m2, buf, len));
  float *p1 = malloc(s.n * sizeof(float)), *p2 = malloc(s.n * sizeof(float));
  CHECK_OK(calib_apply(m, s.x, s.n, 1, p1));
  CHECK_OK(calib_apply(m2, s.x, s.n, 1, p2));
  CHECK(memcmp(p1, p2, s.n * sizeof(float)) == 0);
  CHECK(calib_model_method(m2) == PL && calib_model_classes(m2) == 1);
  /* in place equals out of place */
  float *xi = malloc(s.n * sizeof(float));
  memcpy(xi, s.x, s.n * sizeof(float));
  CHECK_OK(calib_apply(m, xi, s.n, 1, xi));
  CHECK(memcmp(xi, p1, s.n * sizeof(float)) == 0);
  size_t rejected = 0;
  for (size_t i = 0; i < len; i++) {
    calib_model *bad = NULL;
    buf[i] ^= 0x10;
    rejected += calib_model_load(&bad, buf, len) == CALIB_E_FORMAT && bad == NULL;
    calib_model_free(bad);
    buf[i] ^= 0x10;
  }
  CHECK(rejected == len);
  calib_model *bad = NULL;
  CHECK_ERR(calib_model_load(&bad, buf, len - 8), CALIB_E_FORMAT);
  free(p1); free(p2); free(xi); free(buf);
  calib_model_free(m);
  calib_model_free(m2);
  free_set(&s);
}

/* Apply errors: shape, non-finite input; output untouched. */
static void test_apply_errors(void) {
  const double ab[2] = {-1, 0}, inp[2] = {CALIB_INPUT_LOGITS, 1e-7};
  sec ok[2] = {{CALIB_MP_PLATT, 2, ab}, {CALIB_MP_INPUT, 2, inp}};
  calib_model *m = NULL;
  CHECK_OK(load_crafted(PL, 1, ok, 2, &m));
  float x[4] = {0, 1, -INFINITY, 3}, y[4] = {9, 9, 9, 9};
  CHECK_ERR(calib_apply(m, x, 4, 1, y), CALIB_E_NONFINITE);
  x[2] = NAN;
  CHECK_ERR(calib_apply(m, x, 4, 1, y), CALIB_E_NONFINITE);
  x[2] = 2;
  CHECK_ERR(calib_apply(m, x, 2, 2, y), CALIB_E_SHAPE);
  CHECK_ERR(calib_apply(m, NULL, 4, 1, y), CALIB_E_ARG);
  for (int i = 0; i < 4; i++) CHECK(y[i] == 9);
  CHECK_OK(calib_apply(m, x, 0, 1, y));
  CHECK_OK(calib_apply(m, x, 4, 1, y));
  for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], 1.0 / (1.0 + exp(-(double)x[i])), 1e-7);
  calib_model_free(m);
}

/* One-vs-rest: normalised rows, zero-sum rows uniform, A/B per class. */
static void test_ovr(void) {
  const double ab[6] = {-1, 0, -2, 1, 0.5, -1}, inp[2] = {CALIB_INPUT_LOGITS, 1e-7};
  sec ok[2] = {{CALIB_MP_PLATT, 6, ab}, {CALIB_MP_INPUT, 2, inp}};
  calib_model *m = NULL;
  CHECK_OK(load_crafted(PL, 3, ok, 2, &m));
  const float x[6] = {0.5f, -1.0f, 2.0f, 3.0f, 0.0f, -0.25f};
  float y[6];
  CHECK_OK(calib_apply(m, x, 2, 3, y));
  for (int i = 0; i < 2; i++) {
    double q[3], sum = 0;
    for (int j = 0; j < 3; j++) sum += q[j] = 1.0 / (1.0 + exp(ab[2 * j] * x[3 * i + j] + ab[2 * j + 1]));
    for (int j = 0; j < 3; j++) CHECK_NEAR(y[3 * i + j], q[j] / sum, 1e-7);
  }
  calib_model_free(m);
  /* every class map underflows to 0: uniform */
  const double big[6] = {1000, 1000, 1000, 1000, 1000, 1000};
  sec s2[2] = {{CALIB_MP_PLATT, 6, big}, {CALIB_MP_INPUT, 2, inp}};
  CHECK_OK(load_crafted(PL, 3, s2, 2, &m));
  float z[3] = {10, 10, 10};
  CHECK_OK(calib_apply(m, z, 1, 3, z)); /* in place */
  for (int j = 0; j < 3; j++) CHECK(z[j] == (float)(1.0 / 3.0));
  calib_model_free(m);
  /* a fit on 3 classes: k x 2 parameters, rows of probabilities summing to 1 */
  th_srand(21);
  const size_t n = 600;
  float *xf = malloc(n * 3 * sizeof(float));
  int64_t *yf = malloc(n * sizeof(int64_t));
  for (size_t i = 0; i < n; i++) {
    yf[i] = (int64_t)(i % 3);
    for (size_t j = 0; j < 3; j++) xf[3 * i + j] = (float)(th_normal() + (j == (size_t)yf[i] ? 1.5 : 0.0));
  }
  calib_fitter *f = NULL;
  CHECK_OK(calib_fitter_create(&f, PL));
  CHECK_OK(calib_fit(f, xf, n, 3, yf, NULL, &m));
  size_t c = 0;
  CHECK_OK(calib_model_param(m, CALIB_MP_PLATT, NULL, 0, &c));
  CHECK(c == 6);
  double before, after;
  CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_BEFORE, &before));
  CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_AFTER, &after));
  double nll_raw;
  CHECK_OK(calib_nll_logits(xf, n, 3, yf, &nll_raw));
  CHECK_NEAR(before, nll_raw, 1e-12);
  float *p = malloc(n * 3 * sizeof(float));
  CHECK_OK(calib_apply(m, xf, n, 3, p));
  double nll_p;
  CHECK_OK(calib_nll(p, n, 3, yf, &nll_p));
  CHECK_NEAR(after, nll_p, 1e-6);
  for (size_t i = 0; i < n; i++) CHECK_NEAR(p[3 * i] + p[3 * i + 1] + p[3 * i + 2], 1.0, 3e-7);
  free(p); free(xf); free(yf);
  calib_model_free(m);
  calib_fitter_free(f);
}

/* The SIMD kernels against the scalar oracle on random blocks. */
static void test_kernels(void) {
  calib__lr_block b;
  calib__lr_bsums r0, r1;
  th_srand(31);
  for (int trial = 0; trial < 200; trial++) {
    calib__lr_bparams p;
    const double scale = trial % 4 == 3 ? 300.0 : 3.0; /* |u| up to ~1e3: exp clamp */
    for (int i = 0; i < CALIB__LR_BLOCK; i++) {
      b.f1[i] = th_normal() * scale;
      b.f2[i] = th_normal();
      b.y[i] = th_uniform() < 0.5;
      b.w[i] = trial % 2 ? th_uniform() * 3 : (i < 50 || trial % 3 ? 1.0 : 0.0);
    }
    p.nfeat = (size_t)(trial % 3);
    p.th1 = p.nfeat >= 1 ? th_normal() : 0.0;
    p.th2 = p.nfeat >= 2 ? th_normal() : 0.0;
    p.b = th_normal();
    p.t0 = 0.01;
    p.t1 = 0.98;
    p.weighted = trial % 2;
    calib__lr_kernel_scalar(&b, &p, &r0);
    const calib__lr_kernel ks[2] = {
#if defined(CALIB__LR_HAVE_VEC)
        calib__lr_kernel_vec,
#else
        calib__lr_kernel_scalar,
#endif
        calib__lr_kernel_get()};
    for (int j = 0; j < 2; j++) {
      ks[j](&b, &p, &r1);
      CHECK_REL(r1.F, r0.F, 1e-13);
      CHECK_REL(r1.Fh, r0.Fh, 1e-13);
      for (int g = 0; g < 3; g++) CHECK_NEAR(r1.g[g], r0.g[g], 1e-12 * (1 + fabs(r0.g[g])) * scale);
      for (int h = 0; h < 6; h++) CHECK_NEAR(r1.h[h], r0.h[h], 1e-12 * (1 + fabs(r0.h[h])) * scale * scale);
    }
  }
}

/* n = 1e6: converges (the Armijo test must survive rounding at this n). */
static void test_large(void) {
  set s;
  make_binary(&s, 1000000, 1.5, 13);
  double ab[2], it;
  CHECK_OK(fit_opts(s.x, s.n, 1, s.y, NULL, NULL, ab, NULL, &it));
  CHECK(it < 20);
  for (size_t i = 0; i < s.n; i++) s.x[i] *= 1000.0f;
  double ab2[2];
  CHECK_OK(fit_opts(s.x, s.n, 1, s.y, NULL, NULL, ab2, NULL, NULL));
  CHECK_REL(ab2[0] * 1000.0, ab[0], 1e-6);
  CHECK_NEAR(ab2[1], ab[1], 1e-6);
  free_set(&s);
}

/* Out of memory at every allocation of a fit: NOMEM, nothing stored. */
static void test_oom(void) {
  set s;
  make_binary(&s, 200, 1.0, 17);
  const double probs[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, 0};
  for (size_t i = 0; i < s.n; i++) s.x[i] = (float)(1.0 / (1.0 + exp(-(double)s.x[i])));
  calib_fitter *f = NULL;
  CHECK_OK(calib_fitter_create(&f, PL));
  CHECK_OK(calib_fitter_set(f, (int)probs[0], probs[1]));
  th_fit_oom(f, s.x, s.n, 1, s.y, 50);
  calib_fitter_free(f);
  free_set(&s);
}

/* COCO detections (../shared/data): REFERENCE.json's a, b on the val split. */
static void test_coco(void) {
  char p[1200];
  size_t lx = 0, ly = 0;
  snprintf(p, sizeof p, "%s/coco_faster_rcnn_r50_binary_netcal/val/logits.f32", th_shared_data());
  float *x = th_read_file(p, &lx);
  snprintf(p, sizeof p, "%s/coco_faster_rcnn_r50_binary_netcal/val/labels.i32", th_shared_data());
  int32_t *y32 = th_read_file(p, &ly);
  if (!x || !y32) {
    free(x); free(y32);
    th_missing_data("the COCO binary reference (REFERENCE.json a, b)");
    return;
  }
  const size_t n = ly / 4;
  int64_t *y = malloc(n * sizeof(int64_t));
  for (size_t i = 0; i < n; i++) y[i] = y32[i];
  CHECK(lx == 4 * n);
  double ab[2];
  CHECK_OK(fit_opts(x, n, 1, y, NULL, NULL, ab, NULL, NULL));
  /* REFERENCE.json platt_sklearn_smoothed_targets (sklearn 1.2.1) */
  CHECK_NEAR(ab[0], -0.8183835928357492, 1e-6);
  CHECK_NEAR(ab[1], 1.111329968520636, 1e-6);
  const double plain[] = {CALIB_P_SMOOTH_TARGETS, 0, 0};
  CHECK_OK(fit_opts(x, n, 1, y, NULL, plain, ab, NULL, NULL));
  /* REFERENCE.json platt (plain MLE, scipy BFGS gtol 1e-12) */
  CHECK_NEAR(ab[0], -0.8188161736191965, 1e-7);
  CHECK_NEAR(ab[1], 1.111793723151076, 1e-7);
  free(x); free(y32); free(y);
}

int main(int argc, char **argv) {
  test_seed(argc, argv); /* the tests use fixed seeds; printed for the record */
  test_libsvm_vector();
  test_options();
  test_constant_scores();
  test_separable();
  test_scale();
  test_weights();
  test_probs_input();
  test_fit_errors();
  test_bytes();
  test_round_trip();
  test_apply_errors();
  test_ovr();
  test_kernels();
  test_large();
  test_oom();
  test_coco();
  TEST_MAIN_END();
}
