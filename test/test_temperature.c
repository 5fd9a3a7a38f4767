/* test_temperature.c -- temperature scaling: closed forms, the two no-optimum
 * cases, every error path, the shipped dataset against its published figures,
 * and every multiclass set of ../shared/data against REFERENCE.json values
 * (hard-coded below from that file, which scipy computed independently). */
#include "harness.h"

typedef th_set set;

static int load_npy_pair(const char *dir, set *s); /* below */

static void free_set(set *s) { free(s->x); free(s->y); }

#define load_raw th_load_raw /* the raw .f32/.i32 pair of ../shared/data */

static double fit_T(const set *s, int *status, double *iters) {
  calib_fitter *f = NULL;
  calib_model *m = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  *status = calib_fit(f, s->x, s->n, s->k, s->y, NULL, &m);
  double T = NAN;
  size_t cnt = 0;
  if (*status == CALIB_OK) CHECK_OK(calib_model_param(m, CALIB_MP_TEMPERATURE, &T, 1, &cnt));
  if (iters) calib_fitter_report(f, CALIB_R_ITERATIONS, iters);
  calib_model_free(m);
  calib_fitter_free(f);
  return T;
}

/* Metrics of softmax(x / T) on a set. */
static void metrics_after(const set *s, double T, double out[4]) {
  float *p = malloc(s->n * s->k * sizeof(float));
  if (s->k == 1) CHECK_OK(calib_sigmoid(s->x, s->n, (float)(1.0 / T), p));
  else CHECK_OK(calib_softmax(s->x, s->n, s->k, 0, (float)(1.0 / T), p, 0));
  CHECK_OK(calib_accuracy(p, s->n, s->k, s->y, &out[0]));
  CHECK_OK(calib_nll(p, s->n, s->k, s->y, &out[1]));
  CHECK_OK(calib_brier(p, s->n, s->k, s->y, &out[2]));
  CHECK_OK(calib_ece(p, s->n, s->k, s->y, 15, &out[3]));
  free(p);
}

/* Shipped data: the published figures of meta.json. */
static void test_shipped(void) {
  set val, test;
  if (!load_npy_pair("data/cifar10_densenet40_markus93/val", &val) ||
      !load_npy_pair("data/cifar10_densenet40_markus93/test", &test)) {
    TH_FAIL("shipped data missing (data/cifar10_densenet40_markus93)");
    return;
  }
  int st;
  double it = 0;
  const double T = fit_T(&val, &st, &it);
  CHECK_OK(st);
  printf("shipped: T = %.12f after %g Newton iterations\n", T, it);
  CHECK_NEAR(T, 2.883, 5e-4);                       /* workshop notebook, 3 digits */
  CHECK_REL(T, 2.8825607117403607, 1e-6);           /* scipy reference (REFERENCE.json) */
  double before[4], after[4];
  metrics_after(&test, 1.0, before);
  metrics_after(&test, T, after);
  CHECK_NEAR(before[0], 0.9242, 1e-12);
  CHECK_NEAR(before[3], 0.055003, 5e-7);            /* Kull et al. 2019 */
  CHECK_NEAR(before[1], 0.43005887307186097, 1e-6); /* exact NLL (sklearn-clipped: 0.428207) */
  CHECK_NEAR(after[3], 0.009464, 1.5e-6);           /* Kull et al.: 0.009464; scipy 0.0094632 */
  CHECK_NEAR(after[1], 0.225086, 1e-6);
  CHECK_NEAR(after[2] / 10, 0.010997, 1e-6);        /* Brier / k */
  free_set(&val);
  free_set(&test);
}

/* Every multiclass set of ../shared/data vs REFERENCE.json (to 1e-6). */
typedef struct { const char *name; size_t k; double T, nll, brier, ece; } ref_row;
static const ref_row refs[] = {
    /* name, k, T, then NLL, Brier (sum over classes; binary form for k = 1) and
     * top-label ECE-15 on the test split after scaling: REFERENCE.json values */
    {"cifar10_densenet40_markus93", 10, 2.8825607117403607, 0.22508592569511593, 0.10997488462579866, 0.009463242998009932},
    {"cifar10_resnet50_ce_calibrator", 10, 2.4975199220599507, 0.20381384003853983, 0.08246010265316313, 0.013729688388754003},
    {"cifar10_lenet5_netcal", 10, 1.3735837967726696, 1.325997706742092, 0.6068036356386374, 0.02243106888305398},
    {"cifar100_lenet5_netcal", 100, 1.1070690113451516, 3.814628250247542, 0.9515301152340598, 0.013745111207843061},
    {"cifar10_vgg16_kumar", 10, 1.7358775907496125, 0.1830596578405562, 0.08861003330205888, 0.01671661834383177},
    {"coco_faster_rcnn_r50_binary_netcal", 1, 2.1021530131949855, 0.5551890133224929, 0.19206841441344444, 0.06450820272475326},
};

static void test_shared_sets(void) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/index.json", th_shared_data());
  FILE *f = fopen(dir, "r");
  if (!f) { th_missing_data("T against scipy (REFERENCE.json) on every multiclass set"); return; }
  fclose(f);
  for (size_t r = 0; r < sizeof refs / sizeof refs[0]; r++) {
    set val;
    snprintf(dir, sizeof dir, "%s/%s/val", th_shared_data(), refs[r].name);
    if (!load_raw(dir, refs[r].k, &val)) { TH_FAIL("cannot read %s", dir); continue; }
    int st;
    double it = 0;
    const double T = fit_T(&val, &st, &it);
    CHECK_OK(st);
    printf("%-36s T = %.12f (reference %.12f), %g iterations\n", refs[r].name, T, refs[r].T, it);
    CHECK_REL(T, refs[r].T, 1e-6);
    set test;
    snprintf(dir, sizeof dir, "%s/%s/test", th_shared_data(), refs[r].name);
    if (!load_raw(dir, refs[r].k, &test)) { TH_FAIL("cannot read %s", dir); free_set(&val); continue; }
    double after[4];
    metrics_after(&test, T, after);
    CHECK_NEAR(after[1], refs[r].nll, 1e-6);
    CHECK_NEAR(after[2], refs[r].brier, 1e-6);
    CHECK_NEAR(after[3], refs[r].ece, 1e-6);
    free_set(&test);
    free_set(&val);
  }
}

/* Closed form: binary, two points x = +1 (y = 1) and x = +1 (y = 0) plus
 * x = -1 (y = 0): NLL(b) = 2 log(1+e^-b)... solved numerically below. Simpler
 * exact case: one row of logits (0, a) with label 1 and one with label 0 ->
 * at the optimum p(correct) averages so that dNLL/dbeta = 0. We check the
 * first-order condition directly with finite differences of calib_nll_logits. */
static void test_optimality(void) {
  th_srand(th_seed_value);
  const size_t n = 3000, k = 7;
  set s = {malloc(n * k * 4), malloc(n * 8), n, k};
  for (size_t i = 0; i < n; i++) {
    s.y[i] = (int64_t)(th_next() % k);
    for (size_t j = 0; j < k; j++) s.x[i * k + j] = (float)(3 * th_normal() + (j == (size_t)s.y[i] ? 4.0 : 0.0));
  }
  int st;
  const double T = fit_T(&s, &st, NULL);
  CHECK_OK(st);
  /* NLL at T*(1 +- h) must exceed NLL at T (convex minimum), measured in double. */
  float *z = malloc(n * k * 4);
  double nll[3];
  const double scale[3] = {1.0 - 1e-3, 1.0, 1.0 + 1e-3};
  for (int t = 0; t < 3; t++) {
    for (size_t i = 0; i < n * k; i++) z[i] = (float)(s.x[i] / (T * scale[t]));
    CHECK_OK(calib_nll_logits(z, n, k, s.y, &nll[t]));
  }
  CHECK(nll[1] < nll[0] && nll[1] < nll[2]);
  /* Weights: integer weights equal row duplication. */
  double *w = malloc(n * 8);
  set d = {malloc(2 * n * k * 4), malloc(2 * n * 8), 0, k};
  for (size_t i = 0; i < n; i++) {
    w[i] = (double)(1 + (i % 2));
    for (size_t c = 0; c < (size_t)w[i]; c++) {
      memcpy(d.x + d.n * k, s.x + i * k, k * 4);
      d.y[d.n++] = s.y[i];
    }
  }
  calib_fitter *f;
  calib_model *m = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  CHECK_OK(calib_fit(f, s.x, n, k, s.y, w, &m));
  double Tw, Td;
  size_t cnt;
  CHECK_OK(calib_model_param(m, CALIB_MP_TEMPERATURE, &Tw, 1, &cnt));
  calib_model_free(m);
  m = NULL;
  Td = fit_T(&d, &st, NULL);
  CHECK_REL(Tw, Td, 1e-9);
  calib_fitter_free(f);
  free(w); free(z); free_set(&s); free_set(&d);
}

static void test_binary_closed_form(void) {
  /* x = 1 with labels {1,1,0}: p = sigmoid(b) must equal 2/3 => b = ln 2, T = 1/ln 2.
   * Plus x = -1 with labels {0,0,1} (symmetric) keeps the same optimum. */
  const float x[6] = {1, 1, 1, -1, -1, -1};
  const int64_t y[6] = {1, 1, 0, 0, 0, 1};
  set s = {(float *)x, (int64_t *)y, 6, 1};
  int st;
  const double T = fit_T(&s, &st, NULL);
  CHECK_OK(st);
  CHECK_REL(T, 1.0 / log(2.0), 1e-10);
  /* Multiclass analogue: rows (1,0) label 0 twice, label 1 once -> beta = ln 2. */
  const float x2[6] = {1, 0, 1, 0, 1, 0};
  const int64_t y2[3] = {0, 0, 1};
  set s2 = {(float *)x2, (int64_t *)y2, 3, 2};
  const double T2 = fit_T(&s2, &st, NULL);
  CHECK_OK(st);
  CHECK_REL(T2, 1.0 / log(2.0), 1e-10);
}

static void expect_fit_error(const float *x, size_t n, size_t k, const int64_t *y,
                             const double *w, int code) {
  calib_fitter *f;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  calib_model *m = NULL;
  CHECK_ERR(calib_fit(f, x, n, k, y, w, &m), code);
  CHECK(m == NULL);
  double v;
  CHECK_OK(calib_fitter_report(f, CALIB_R_STATUS, &v));
  CHECK(v == code);
  calib_fitter_free(f);
}

static void test_errors(void) {
  const float x[6] = {2, 0, 0, 2, 1, 0};
  const int64_t y[3] = {0, 1, 1};
  float bad[6] = {2, 0, 0, 2, 1, 0};
  expect_fit_error(x, 0, 2, y, NULL, CALIB_E_EMPTY);
  expect_fit_error(NULL, 3, 2, y, NULL, CALIB_E_ARG);
  expect_fit_error(x, 3, 2, NULL, NULL, CALIB_E_ARG);
  expect_fit_error(x, 3, 0, y, NULL, CALIB_E_ARG);
  bad[3] = NAN;
  expect_fit_error(bad, 3, 2, y, NULL, CALIB_E_NONFINITE);
  bad[3] = INFINITY;
  expect_fit_error(bad, 3, 2, y, NULL, CALIB_E_NONFINITE);
  bad[3] = -INFINITY;
  expect_fit_error(bad, 3, 2, y, NULL, CALIB_E_NONFINITE);
  const int64_t yo[3] = {0, 2, 1}, yn[3] = {0, -1, 1}, y1[3] = {1, 1, 1};
  expect_fit_error(x, 3, 2, yo, NULL, CALIB_E_LABEL);
  expect_fit_error(x, 3, 2, yn, NULL, CALIB_E_LABEL);
  expect_fit_error(x, 3, 2, y1, NULL, CALIB_E_ONECLASS);
  const double wneg[3] = {1, -1, 1}, wnan[3] = {1, NAN, 1}, wzero[3] = {0, 0, 0}, wone[3] = {1, 0, 0};
  expect_fit_error(x, 3, 2, y, wneg, CALIB_E_DOMAIN);
  expect_fit_error(x, 3, 2, y, wnan, CALIB_E_NONFINITE);
  expect_fit_error(x, 3, 2, y, wzero, CALIB_E_EMPTY);
  expect_fit_error(x, 3, 2, y, wone, CALIB_E_ONECLASS);
  /* Binary labels must be 0/1. */
  const float xb[3] = {1, -1, 2};
  const int64_t yb[3] = {1, 0, 2};
  expect_fit_error(xb, 3, 1, yb, NULL, CALIB_E_LABEL);
  /* Separable: every label at its row maximum (ties included). */
  const float xs[6] = {3, 1, 0, 2, 1, 1};
  const int64_t ys[3] = {0, 1, 1};
  expect_fit_error(xs, 3, 2, ys, NULL, CALIB_E_SEPARABLE);
  const int64_t ys2[3] = {0, 1, 0};
  expect_fit_error(xs, 3, 2, ys2, NULL, CALIB_E_SEPARABLE); /* tie row counts as attained */
  const float xbs[4] = {2, -1, 3, -0.5f};
  const int64_t ybs[4] = {1, 0, 1, 0};
  expect_fit_error(xbs, 4, 1, ybs, NULL, CALIB_E_SEPARABLE);
  /* No signal: labels anti-correlated, or constant rows. */
  const int64_t ya[3] = {1, 0, 0};
  expect_fit_error(xs, 3, 2, ya, NULL, CALIB_E_NOSIGNAL);
  const float xc[6] = {1, 1, 2, 2, 0, 0};
  expect_fit_error(xc, 3, 2, y, NULL, CALIB_E_NOSIGNAL);
  const int64_t yba[4] = {0, 1, 0, 1};
  expect_fit_error(xbs, 4, 1, yba, NULL, CALIB_E_NOSIGNAL);
  /* Iteration cap: one Newton step cannot reach 1e-10 from T = 1 here. */
  calib_fitter *f;
  calib_model *m = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  CHECK_OK(calib_fitter_set(f, CALIB_P_MAX_ITER, 1));
  const float xi[6] = {5, 0, 5, 0, 5, 0};
  const int64_t yi[3] = {0, 0, 1};
  CHECK_ERR(calib_fit(f, xi, 3, 2, yi, NULL, &m), CALIB_E_NOCONV);
  CHECK(m == NULL);
  double it;
  CHECK_OK(calib_fitter_report(f, CALIB_R_ITERATIONS, &it));
  CHECK(it == 1);
  /* Options: bounds, integers, unknown ids. */
  CHECK_ERR(calib_fitter_set(f, CALIB_P_MAX_ITER, 0), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_MAX_ITER, 2.5), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_TOL, NAN), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, 999, 1), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(NULL, CALIB_P_TOL, 1e-8), CALIB_E_ARG);
  double lo, hi, def;
  CHECK_OK(calib_param_bounds(CALIB_METHOD_TEMPERATURE, CALIB_P_TOL, &lo, &hi, &def));
  CHECK(def == 1e-10 && lo <= def && def <= hi);
  CHECK_ERR(calib_param_bounds(CALIB_METHOD_TEMPERATURE, 999, &lo, &hi, &def), CALIB_E_ARG);
  calib_fitter_free(f);
  calib_fitter_free(NULL);
  calib_model_free(NULL);
  f = (calib_fitter *)0x1;
  CHECK_ERR(calib_fitter_create(&f, 12345), CALIB_E_ARG);
  CHECK(f == (calib_fitter *)0x1);
  CHECK_ERR(calib_fitter_create(NULL, CALIB_METHOD_TEMPERATURE), CALIB_E_ARG);
  /* No fit yet: no report. */
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  CHECK_ERR(calib_fitter_report(f, CALIB_R_ITERATIONS, &it), CALIB_E_ARG);
  calib_fitter_free(f);
}

/* Minimal .npy reader for the shipped files (format 1.0, '<f4' / '<i4'). */
static void *npy_payload(const char *path, size_t *bytes, char *descr) {
  size_t len;
  unsigned char *b = th_read_file(path, &len);
  if (!b || len < 10 || memcmp(b, "\x93NUMPY", 6) != 0) { free(b); return NULL; }
  size_t hl = (size_t)b[8] | ((size_t)b[9] << 8);
  const char *d = strstr((const char *)b + 10, "'descr': '");
  if (!d) { free(b); return NULL; }
  memcpy(descr, d + 10, 3);
  descr[3] = 0;
  *bytes = len - 10 - hl;
  void *out = malloc(*bytes);
  memcpy(out, b + 10 + hl, *bytes);
  free(b);
  return out;
}

static int load_npy_pair(const char *dir, set *s) {
  char p[1200], dx[4], dy[4];
  size_t bx, by;
  snprintf(p, sizeof p, "%s/logits.npy", dir);
  float *x = npy_payload(p, &bx, dx);
  snprintf(p, sizeof p, "%s/labels.npy", dir);
  int32_t *y = npy_payload(p, &by, dy);
  if (!x || !y || strcmp(dx, "<f4") || strcmp(dy, "<i4")) { free(x); free(y); return 0; }
  s->n = by / 4; s->k = 10; s->x = x;
  s->y = malloc(s->n * 8);
  for (size_t i = 0; i < s->n; i++) s->y[i] = y[i];
  free(y);
  return bx == s->n * 40;
}

/* L(beta) and L'(beta) of a multiclass set in double with libm exp, written
 * independently of the library's kernels (two passes per row). */
static void ref_LG(const set *s, double beta, double *L, double *G, double *scale) {
  double aL = 0, aG = 0, aS = 0;
  for (size_t i = 0; i < s->n; i++) {
    const float *r = s->x + i * s->k;
    double m = r[0];
    for (size_t j = 1; j < s->k; j++) m = fmax(m, (double)r[j]);
    double s0 = 0, s1 = 0;
    for (size_t j = 0; j < s->k; j++) {
      const double d = (double)r[j] - m, e = exp(beta * d);
      s0 += e;
      s1 += e * d;
    }
    const double dy = (double)r[s->y[i]] - m;
    aL += log(s0) - beta * dy;
    aG += s1 / s0 - dy;
    aS += fabs(s1 / s0) + fabs(dy);
  }
  *L = aL / (double)s->n;
  *G = aG / (double)s->n;
  *scale = aS / (double)s->n;
}

/* The fit's contract with the fast (float exp) Newton phase: the returned
 * beta meets |beta L'| <= tol L with L, L' evaluated in double here, and
 * nll_before / nll_after / gradient are double-precision values, for
 * several k and tolerances (tight ones force exact Newton steps). */
static void test_contract(void) {
  static const size_t ks[] = {3, 40, 1000};
  static const double tols[] = {1e-4, 1e-10, 1e-13};
  th_srand(th_seed_value + 7);
  for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++) {
    const size_t k = ks[a], n = k == 1000 ? 400 : 4000;
    set s = {malloc(n * k * 4), malloc(n * 8), n, k};
    for (size_t i = 0; i < n; i++) {
      s.y[i] = (int64_t)(th_next() % k);
      for (size_t j = 0; j < k; j++)
        s.x[i * k + j] = (float)(2.5 * th_normal() + (j == (size_t)s.y[i] ? 5.0 : 0.0));
    }
    double L1, G1, S1;
    ref_LG(&s, 1.0, &L1, &G1, &S1);
    for (size_t t = 0; t < sizeof tols / sizeof tols[0]; t++) {
      calib_fitter *f = NULL;
      calib_model *m = NULL;
      CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
      CHECK_OK(calib_fitter_set(f, CALIB_P_TOL, tols[t]));
      CHECK_OK(calib_fit(f, s.x, n, k, s.y, NULL, &m));
      double T = 0, before, after, grad;
      size_t cnt = 0;
      CHECK_OK(calib_model_param(m, CALIB_MP_TEMPERATURE, &T, 1, &cnt));
      CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_BEFORE, &before));
      CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_AFTER, &after));
      CHECK_OK(calib_fitter_report(f, CALIB_R_GRADIENT, &grad));
      const double beta = 1.0 / T;
      double L, G, S;
      ref_LG(&s, beta, &L, &G, &S);
      const double slack = 1e-14 * beta * S; /* rounding of the two double evaluations */
      CHECK(fabs(beta * G) <= tols[t] * L + slack);
      CHECK_REL(before, L1, 1e-13);
      CHECK_REL(after, L, 1e-13);
      CHECK(fabs(grad - fabs(beta * G)) <= slack);
      calib_model_free(m);
      calib_fitter_free(f);
    }
    free_set(&s);
  }
}

/* Logits so large that the fast kernel's float d^2 overflows (|d| > 1e19):
 * the fit falls back to the exact moments and is scale invariant (x * 2^62
 * is exact in float, T scales by 2^62). */
static void test_huge_logits(void) {
  const size_t n = 500, k = 6;
  th_srand(th_seed_value + 11);
  set s = {malloc(n * k * 4), malloc(n * 8), n, k}, h = {malloc(n * k * 4), s.y, n, k};
  for (size_t i = 0; i < n; i++) {
    s.y[i] = (int64_t)(th_next() % k);
    for (size_t j = 0; j < k; j++) {
      s.x[i * k + j] = (float)(3.0 * th_normal() + (j == (size_t)s.y[i] ? 3.0 : 0.0));
      h.x[i * k + j] = s.x[i * k + j] * 0x1p62f;
    }
  }
  int st;
  const double T = fit_T(&s, &st, NULL);
  CHECK_OK(st);
  calib_fitter *f = NULL;
  calib_model *m = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  CHECK_OK(calib_fitter_set(f, CALIB_P_MAX_ITER, 1000));
  CHECK_OK(calib_fit(f, h.x, n, k, h.y, NULL, &m));
  double Th = 0, after = 0;
  size_t cnt = 0;
  CHECK_OK(calib_model_param(m, CALIB_MP_TEMPERATURE, &Th, 1, &cnt));
  CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_AFTER, &after));
  CHECK_REL(Th, T * 0x1p62, 1e-7);
  CHECK(isfinite(after) && after > 0);
  calib_model_free(m);
  calib_fitter_free(f);
  free(h.x);
  free_set(&s);
}

/* The gap condition: with the loosest tolerance (tol = 1e-2) on small
 * logits, where the NLL is flat in beta and a small gradient says little, the
 * fit's NLL is within max(tol^2, 1e-14) max(1, L*) of the minimum found here
 * by golden-section search on the independent ref_LG, and the reported gap
 * (the Newton decrement) bounds it. */
static void test_gap_rule(void) {
  /* small logits, optimum near beta = 1.8: at beta = 1 the gradient test
   * already holds while L(1) - L* is 6.6e-4 (T = 0.553 with the gap rule) */
  enum { N = 200000 };
  static float x[N * 2];
  static int64_t y[N];
  th_srand(th_seed_value + 11);
  for (size_t i = 0; i < N; i++) {
    const double v = 0.1 * th_normal();
    x[2 * i] = (float)v;
    x[2 * i + 1] = 0.0f;
    y[i] = th_uniform() < 1.0 / (1.0 + exp(-1.8 * v)) ? 0 : 1;
  }
  const set s = {x, y, N, 2};
  calib_fitter *f = NULL;
  calib_model *m = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  CHECK_OK(calib_fitter_set(f, CALIB_P_TOL, 1e-2));
  CHECK_OK(calib_fit(f, x, N, 2, y, NULL, &m));
  double T = NAN, gap = NAN, L, G, sc;
  size_t cnt;
  CHECK_OK(calib_model_param(m, CALIB_MP_TEMPERATURE, &T, 1, &cnt));
  CHECK_OK(calib_fitter_report(f, CALIB_R_GAP, &gap));
  ref_LG(&s, 1.0 / T, &L, &G, &sc);
  /* golden section on log beta over [1e-4, 10] */
  double a = log(1e-4), b = log(10.0);
  const double r = 0.6180339887498949;
  for (int it = 0; it < 200; it++) {
    const double c = b - r * (b - a), d = a + r * (b - a);
    double Lc, Ld;
    ref_LG(&s, exp(c), &Lc, &G, &sc);
    ref_LG(&s, exp(d), &Ld, &G, &sc);
    if (Lc < Ld) b = d; else a = c;
  }
  double Lstar;
  ref_LG(&s, exp(0.5 * (a + b)), &Lstar, &G, &sc);
  const double target = 1e-4 * fmax(1.0, Lstar);
  CHECK(L - Lstar <= target + 1e-13);
  CHECK(gap <= target);
  calib_model_free(m);
  calib_fitter_free(f);
}

/* k >= 2 checks the logits finite in the fit's first pass (ts_first), after
 * the labels, weights and two-class checks: the error and its detail must be
 * those of the check in fit_validate's order (logits first), naming the first
 * bad row, with a row of weight 0 checked too, and the report left as for a
 * failed validation. n = 40 rows of k = 2 and 37 (scalar tails and SIMD). */
static void expect_logits_error(const float *x, size_t n, size_t k, const int64_t *y, const double *w,
                                uint64_t row) {
  calib_fitter *f;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  calib_model *m = NULL;
  CHECK_ERR(calib_fit(f, x, n, k, y, w, &m), CALIB_E_NONFINITE);
  CHECK(m == NULL);
  calib_error e;
  CHECK_OK(calib_fitter_error(f, &e));
  CHECK(e.code == CALIB_E_NONFINITE && strcmp(e.arg, "logits") == 0 && e.index == row);
  double v;
  CHECK_OK(calib_fitter_report(f, CALIB_R_STATUS, &v));
  CHECK(v == CALIB_E_NONFINITE);
  CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_BEFORE, &v));
  CHECK(v == 0);
  CHECK_OK(calib_fitter_report(f, CALIB_R_ITERATIONS, &v));
  CHECK(v == 0);
  calib_fitter_free(f);
}

static void test_deferred_finite(void) {
  enum { N = 40 };
  static const size_t ks[2] = {2, 37};
  for (size_t t = 0; t < 2; t++) {
    const size_t k = ks[t];
    float *x = malloc(N * k * sizeof(float));
    int64_t y[N], ybad[N], yone[N];
    double w[N], wneg[N], wzero[N];
    if (!x) { CHECK(0); return; }
    for (size_t i = 0; i < N * k; i++) x[i] = (float)((i * 7919) % 23) / 5.0f;
    for (size_t i = 0; i < N; i++) {
      y[i] = ybad[i] = (int64_t)(i % k);
      yone[i] = 0;
      w[i] = wneg[i] = 1.0;
      wzero[i] = 0.0;
    }
    ybad[2] = (int64_t)k; /* a bad label before the bad row */
    wneg[1] = -1.0;
    for (int b = 0; b < 3; b++) {
      const float bad = b == 0 ? NAN : b == 1 ? INFINITY : -INFINITY;
      x[5 * k + k - 1] = bad;
      x[9 * k] = bad;
      expect_logits_error(x, N, k, y, NULL, 5);
      expect_logits_error(x, N, k, ybad, NULL, 5);
      expect_logits_error(x, N, k, y, wneg, 5);
      expect_logits_error(x, N, k, y, wzero, 5);
      expect_logits_error(x, N, k, yone, NULL, 5);
      w[5] = 0.0; /* a row of weight 0 is checked too */
      expect_logits_error(x, N, k, y, w, 5);
      w[5] = 1.0;
      x[5 * k + k - 1] = 1.0f;
      expect_logits_error(x, N, k, y, NULL, 9);
      x[9 * k] = 1.0f;
    }
    /* finite again: the other errors keep their codes */
    expect_fit_error(x, N, k, ybad, NULL, CALIB_E_LABEL);
    expect_fit_error(x, N, k, y, wneg, CALIB_E_DOMAIN);
    expect_fit_error(x, N, k, yone, NULL, CALIB_E_ONECLASS);
    free(x);
  }
}

int main(int argc, char **argv) {
  test_seed(argc, argv);
  test_binary_closed_form();
  test_optimality();
  test_contract();
  test_gap_rule();
  test_huge_logits();
  test_errors();
  test_deferred_finite();
  test_shipped();
  test_shared_sets();
  TEST_MAIN_END();
}
