/* test_histogram.c -- histogram binning: hand-computed bins (edges shared
 * with calib_bin_index, right-closed, 0 in bin 0, empty bins at their
 * midpoint), Kumar equal-mass edges (ties, B > N), weights, one-vs-rest
 * renormalisation and uniform rows, logits vs probability input, every
 * error code with untouched outputs, model bytes (round trip, corruption,
 * crafted invalid models) and out-of-memory. The independent numpy
 * reference is test/py/test_histogram.py. Usage: test_histogram [seed] */
#include "harness.h"
#include "internal.h"

#define SENTINEL 12345.0f

#define softmax_f64 th_softmax_f64 /* harness.h */
#define get_param th_param

static calib_model *fit_hist(const float *x, size_t n, size_t k, const int64_t *y,
                             const double *w, const double *opts, int *status) {
  calib_model *m = NULL;
  const int st = th_fit(CALIB_METHOD_HISTOGRAM, x, n, k, y, w, opts, &m);
  if (status) *status = st;
  else CHECK_OK(st);
  return m;
}

static void test_equal_width(void) {
  /* M = 4: 0 and 0.25 in bin 0 (right-closed), 0.5 in bin 1, 1 in bin 3;
   * bin 2 empty -> midpoint 0.625. */
  const float p[6] = {0.0f, 0.25f, 0.25f, 0.5f, 1.0f, 0.26f};
  const int64_t y[6] = {0, 1, 1, 0, 1, 0};
  const double opts[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, CALIB_P_HIST_BINS, 4, 0};
  calib_model *m = fit_hist(p, 6, 1, y, NULL, opts, NULL);
  double v[4], cfg[3];
  CHECK(get_param(m, CALIB_MP_HIST_VALUES, v, 4) == 4);
  CHECK_NEAR(v[0], 2.0 / 3, 0);
  CHECK_NEAR(v[1], 0.0, 0);
  CHECK_NEAR(v[2], 0.625, 0);
  CHECK_NEAR(v[3], 1.0, 0);
  CHECK(get_param(m, CALIB_MP_HIST_CONFIG, cfg, 3) == 3);
  CHECK(cfg[0] == CALIB_HIST_EQUAL_WIDTH && cfg[1] == 4 && cfg[2] == CALIB_INPUT_PROBS);
  size_t c = 0;
  CHECK_ERR(calib_model_param(m, CALIB_MP_HIST_EDGES, NULL, 0, &c), CALIB_E_ARG);
  /* apply agrees with calib_bin_index on a fine grid, in place too */
  float g[201], out[201];
  for (int i = 0; i <= 200; i++) g[i] = (float)i / 200.0f;
  CHECK_OK(calib_apply(m, g, 201, 1, out));
  size_t bad = 0;
  for (int i = 0; i <= 200; i++) bad += out[i] != (float)v[calib_bin_index((double)g[i], 4)];
  CHECK(bad == 0);
  CHECK_OK(calib_apply(m, g, 201, 1, g));
  CHECK(memcmp(g, out, sizeof out) == 0);
  calib_model_free(m);
  /* weights: theta is the weighted mean; zero weights ignored */
  const double w[6] = {1, 3, 0, 2, 1, 1};
  m = fit_hist(p, 6, 1, y, w, opts, NULL);
  CHECK(get_param(m, CALIB_MP_HIST_VALUES, v, 4) == 4);
  CHECK_NEAR(v[0], 3.0 / 4, 0);
  calib_model_free(m);
}

static void test_equal_mass(void) {
  /* Kumar: 5 values, B = 2 -> parts of 3 and 2, edge (p2 + p3)/2, then 1.0 */
  const float p[5] = {0.4f, 0.1f, 0.3f, 0.2f, 0.9f};
  const int64_t y[5] = {1, 0, 1, 0, 1};
  const double opts[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, CALIB_P_HIST_BINS, 2,
                         CALIB_P_HIST_BINNING, CALIB_HIST_EQUAL_MASS, 0};
  calib_model *m = fit_hist(p, 5, 1, y, NULL, opts, NULL);
  double e[4], v[4], c[1];
  CHECK(get_param(m, CALIB_MP_HIST_EDGES, e, 4) == 2);
  CHECK(get_param(m, CALIB_MP_HIST_COUNTS, c, 1) == 1 && c[0] == 2);
  CHECK_NEAR(e[0], ((double)0.3f + (double)0.4f) / 2.0, 0);
  CHECK(e[1] == 1.0);
  CHECK(get_param(m, CALIB_MP_HIST_VALUES, v, 4) == 2);
  CHECK_NEAR(v[0], 1.0 / 3, 0);
  CHECK_NEAR(v[1], 1.0, 0);
  const float t[3] = {0.0f, (float)e[0], 0.36f};
  float out[3];
  CHECK_OK(calib_apply(m, t, 3, 1, out));
  CHECK(out[0] == (float)(1.0 / 3) && out[2] == 1.0f);
  CHECK(out[1] == ((double)(float)e[0] <= e[0] ? (float)(1.0 / 3) : 1.0f));
  calib_model_free(m);
  /* B > N -> N bins; all ties -> one bin (edges merged) */
  const double many[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, CALIB_P_HIST_BINS, 50,
                         CALIB_P_HIST_BINNING, CALIB_HIST_EQUAL_MASS, 0};
  m = fit_hist(p, 5, 1, y, NULL, many, NULL);
  CHECK(get_param(m, CALIB_MP_HIST_COUNTS, c, 1) == 1 && c[0] == 5);
  calib_model_free(m);
  const float tied[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  m = fit_hist(tied, 4, 1, y, NULL, many, NULL);
  CHECK(get_param(m, CALIB_MP_HIST_COUNTS, c, 1) == 1 && c[0] == 2);
  CHECK(get_param(m, CALIB_MP_HIST_EDGES, e, 4) == 2 && e[0] == 0.5 && e[1] == 1.0);
  CHECK(get_param(m, CALIB_MP_HIST_VALUES, v, 4) == 2);
  CHECK_NEAR(v[0], 0.5, 0);
  CHECK_NEAR(v[1], 0.75, 0); /* empty (0.5, 1]: midpoint */
  calib_model_free(m);
}

static void test_logits_and_multiclass(void) {
  enum { N = 600, K = 4 };
  float x[N * K], p[N * K], a[N * K], b[N * K];
  int64_t y[N];
  for (size_t i = 0; i < N; i++) {
    y[i] = (int64_t)(th_next() % K);
    for (size_t j = 0; j < K; j++) x[i * K + j] = (float)(th_normal() + (j == (size_t)y[i] ? 1.5 : 0));
  }
  /* logits input == probability input fed with the double softmax */
  softmax_f64(x, N, K, p);
  for (int mass = 0; mass < 2; mass++) {
    const double lo[] = {CALIB_P_HIST_BINS, 12, CALIB_P_HIST_BINNING, mass, 0};
    const double pr[] = {CALIB_P_HIST_BINS, 12, CALIB_P_HIST_BINNING, mass, CALIB_P_INPUT, CALIB_INPUT_PROBS, 0};
    calib_model *ml = fit_hist(x, N, K, y, NULL, lo, NULL);
    calib_model *mp = fit_hist(p, N, K, y, NULL, pr, NULL);
    CHECK_OK(calib_apply(ml, x, N, K, a));
    CHECK_OK(calib_apply(mp, p, N, K, b));
    CHECK(memcmp(a, b, sizeof a) == 0);
    size_t bad = 0;
    for (size_t i = 0; i < N; i++) {
      double s = 0;
      for (size_t j = 0; j < K; j++) s += a[i * K + j];
      bad += fabs(s - 1) > 1e-6;
    }
    CHECK(bad == 0);
    /* in place from logits */
    float c[N * K];
    memcpy(c, x, sizeof c);
    CHECK_OK(calib_apply(ml, c, N, K, c));
    CHECK(memcmp(a, c, sizeof a) == 0);
    calib_fitter *f = NULL;
    calib_model *m2 = NULL;
    CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_HISTOGRAM));
    CHECK_OK(calib_fit(f, x, N, K, y, NULL, &m2));
    double before = 0, after = 0;
    CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_BEFORE, &before));
    CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_AFTER, &after));
    CHECK(before > 0 && after > 0 && after < before);
    calib_fitter_free(f);
    calib_model_free(m2);
    calib_model_free(ml);
    calib_model_free(mp);
  }
  /* uniform row: q = 0 for every class */
  const float pu[8] = {0.9f, 0.6f, 0.9f, 0.6f, 0.1f, 0.1f, 0.1f, 0.1f};
  const int64_t yu[4] = {1, 1, 0, 0};
  const double two[] = {CALIB_P_HIST_BINS, 2, CALIB_P_INPUT, CALIB_INPUT_PROBS, 0};
  calib_model *m = fit_hist(pu, 4, 2, yu, NULL, two, NULL);
  const float t[2] = {0.9f, 0.1f};
  float o[2];
  CHECK_OK(calib_apply(m, t, 1, 2, o));
  CHECK(o[0] == 0.5f && o[1] == 0.5f);
  calib_model_free(m);
}

static void test_errors(void) {
  const float x[4] = {0.1f, 0.2f, 0.3f, 0.4f};
  const int64_t y[4] = {0, 1, 0, 1};
  const double probs[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, 0};
  int st = 0;
  const float notp[4] = {0.1f, 1.2f, 0.3f, 0.4f};
  calib_model *m = fit_hist(notp, 4, 1, y, NULL, probs, &st);
  CHECK(st == CALIB_E_DOMAIN && m == NULL);
  m = fit_hist(x, 4, 1, y, NULL, probs, NULL);
  float s[4] = {SENTINEL, SENTINEL, SENTINEL, SENTINEL};
  const float nanv[4] = {0.1f, 2.0f, NAN, 0.3f}, pinf[2] = {INFINITY, 0.5f}, minf[2] = {-INFINITY, 0.5f};
  CHECK_ERR(calib_apply(m, nanv, 4, 1, s), CALIB_E_NONFINITE);
  CHECK_ERR(calib_apply(m, pinf, 2, 1, s), CALIB_E_NONFINITE);
  CHECK_ERR(calib_apply(m, minf, 2, 1, s), CALIB_E_DOMAIN);
  CHECK_ERR(calib_apply(m, notp, 4, 1, s), CALIB_E_DOMAIN);
  CHECK_ERR(calib_apply(m, x, 2, 2, s), CALIB_E_SHAPE);
  CHECK(s[0] == SENTINEL && s[3] == SENTINEL);
  calib_model_free(m);
  /* logits: -inf allowed (probability 0), +inf rejected, all -inf row rejected */
  m = fit_hist(x, 2, 2, (const int64_t[]){0, 1}, NULL, NULL, NULL);
  const float rowinf[4] = {-INFINITY, -INFINITY, 0.0f, 1.0f}, okinf[4] = {-INFINITY, 0.0f, 0.0f, 1.0f};
  CHECK_ERR(calib_apply(m, rowinf, 2, 2, s), CALIB_E_NONFINITE);
  CHECK(s[0] == SENTINEL);
  CHECK_OK(calib_apply(m, okinf, 2, 2, s));
  calib_model_free(m);
  calib_fitter *f = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_HISTOGRAM));
  CHECK_ERR(calib_fitter_set(f, CALIB_P_HIST_BINS, 0), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_HIST_BINS, 2.5), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_HIST_BINS, 100001), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_HIST_BINNING, 2), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_ISO_STRICT, 0.1), CALIB_E_ARG);
  double def = 0;
  CHECK_OK(calib_param_bounds(CALIB_METHOD_HISTOGRAM, CALIB_P_HIST_BINS, NULL, NULL, &def));
  CHECK(def == 10);
  calib_fitter_free(f);
}

static int build(const double *cfg, const double *vals, size_t nv, const double *cnt,
                 const double *edges, size_t ne, size_t k) {
  calib__section s[4] = {{CALIB_MP_HIST_CONFIG, 3, cfg},
                         {CALIB_MP_HIST_VALUES, nv, vals},
                         {CALIB_MP_HIST_COUNTS, k, cnt},
                         {CALIB_MP_HIST_EDGES, ne, edges}};
  calib_model *m = NULL;
  const int st = calib__model_build(&m, CALIB_METHOD_HISTOGRAM, k, s, cnt ? 4 : 2);
  CHECK((st == CALIB_OK) == (m != NULL));
  calib_model_free(m);
  return st;
}

static void test_bytes_and_invalid(void) {
  enum { N = 300 };
  float x[N], a[N], b[N];
  int64_t y[N];
  for (size_t i = 0; i < N; i++) {
    y[i] = (int64_t)(th_next() % 2);
    x[i] = (float)(th_normal() + (y[i] ? 1 : -1));
  }
  const double mass[] = {CALIB_P_HIST_BINNING, CALIB_HIST_EQUAL_MASS, CALIB_P_HIST_BINS, 20, 0};
  calib_model *m = fit_hist(x, N, 1, y, NULL, mass, NULL);
  const size_t sz = calib_model_size(m);
  unsigned char *buf = malloc(sz);
  size_t w = 0;
  CHECK_OK(calib_model_save(m, buf, sz, &w));
  calib_model *m2 = NULL;
  CHECK_OK(calib_model_load(&m2, buf, w));
  CHECK_OK(calib_apply(m, x, N, 1, a));
  CHECK_OK(calib_apply(m2, x, N, 1, b));
  CHECK(memcmp(a, b, sizeof a) == 0);
  size_t rejected = 0, tried = 0;
  for (size_t i = 0; i < sz; i += 5, tried++) {
    calib_model *bad = NULL;
    buf[i] ^= 0x01;
    rejected += calib_model_load(&bad, buf, sz) == CALIB_E_FORMAT && bad == NULL;
    buf[i] ^= 0x01;
  }
  CHECK(rejected == tried);
  free(buf);
  calib_model_free(m2);
  calib_model_free(m);
  /* crafted: equal width */
  const double cw[3] = {CALIB_HIST_EQUAL_WIDTH, 2, CALIB_INPUT_PROBS}, v2[2] = {0.1, 0.9};
  CHECK_OK(build(cw, v2, 2, NULL, NULL, 0, 1));
  const double v3[3] = {0.1, 0.9, 0.5}, vbig[2] = {0.1, 1.1};
  CHECK(build(cw, v3, 3, NULL, NULL, 0, 1) != CALIB_OK);
  CHECK(build(cw, vbig, 2, NULL, NULL, 0, 1) != CALIB_OK);
  const double cbad[3] = {CALIB_HIST_EQUAL_WIDTH, 0, CALIB_INPUT_PROBS}, cfr[3] = {0, 2.5, CALIB_INPUT_PROBS};
  const double cin[3] = {0, 2, 9}, cbin[3] = {3, 2, CALIB_INPUT_PROBS};
  CHECK(build(cbad, v2, 2, NULL, NULL, 0, 1) != CALIB_OK);
  CHECK(build(cfr, v2, 2, NULL, NULL, 0, 1) != CALIB_OK);
  CHECK(build(cin, v2, 2, NULL, NULL, 0, 1) != CALIB_OK);
  CHECK(build(cbin, v2, 2, NULL, NULL, 0, 1) != CALIB_OK);
  /* crafted: equal mass */
  const double cm[3] = {CALIB_HIST_EQUAL_MASS, 4, CALIB_INPUT_LOGITS}, c2[1] = {2};
  const double e_ok[2] = {0.3, 1.0}, e_last[2] = {0.3, 0.9}, e_dec[2] = {1.0, 1.0}, e_neg[2] = {-0.1, 1.0};
  CHECK_OK(build(cm, v2, 2, c2, e_ok, 2, 1));
  CHECK(build(cm, v2, 2, c2, e_last, 2, 1) != CALIB_OK);
  CHECK(build(cm, v2, 2, c2, e_dec, 2, 1) != CALIB_OK);
  CHECK(build(cm, v2, 2, c2, e_neg, 2, 1) != CALIB_OK);
  const double c3[1] = {3}, c5[1] = {5}, cm2[3] = {CALIB_HIST_EQUAL_MASS, 1, CALIB_INPUT_LOGITS};
  CHECK(build(cm, v2, 2, c3, e_ok, 2, 1) != CALIB_OK);
  CHECK(build(cm, v2, 2, c5, e_ok, 2, 1) != CALIB_OK);
  CHECK(build(cm2, v2, 2, c2, e_ok, 2, 1) != CALIB_OK); /* c_j > M */
}

static void test_oom(void) {
  enum { N = 200, K = 3 };
  float x[N * K];
  int64_t y[N];
  for (size_t i = 0; i < N; i++) {
    y[i] = (int64_t)(i % K);
    for (size_t j = 0; j < K; j++) x[i * K + j] = (float)th_normal() + (j == (size_t)y[i] ? 1.0f : 0.0f);
  }
  for (int mass = 0; mass < 2; mass++) {
    int done = 0;
    for (size_t nth = 1; nth < 30 && !done; nth++) {
      calib_fitter *f = NULL;
      calib_model *m = NULL;
      calib__alloc_fail_at(nth, 1);
      int st = calib_fitter_create(&f, CALIB_METHOD_HISTOGRAM);
      if (st == CALIB_OK) st = calib_fitter_set(f, CALIB_P_HIST_BINNING, mass);
      if (st == CALIB_OK) st = calib_fit(f, x, N, K, y, NULL, &m);
      calib__alloc_fail_at(0, 0);
      if (st == CALIB_OK) done = 1;
      else CHECK(st == CALIB_E_NOMEM && m == NULL);
      calib_model_free(m);
      calib_fitter_free(f);
    }
    CHECK(done);
  }
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  test_equal_width();
  test_equal_mass();
  test_logits_and_multiclass();
  test_errors();
  test_bytes_and_invalid();
  test_oom();
  TEST_MAIN_END();
}
