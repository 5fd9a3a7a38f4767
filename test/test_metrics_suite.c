/* test_metrics_suite.c -- the metrics suite's C-side contract: every
 * documented error (code, nothing written), the out-of-memory loop, the
 * accumulator's bytes, and the bin conventions shared between the one-pass
 * and the sorted paths. Numerical references live in test/py/test_metrics*.py. */
#include "harness.h"
#include "internal.h"

#define SENT -7.25

static float P3[] = {0.7f, 0.2f, 0.1f, 0.1f, 0.8f, 0.1f, 0.3f, 0.3f, 0.4f, 0.5f, 0.25f, 0.25f};
static int64_t Y3[] = {0, 1, 0, 2};

/* Every scope-taking measure through one signature, for the error table. */
static int m_ce(const float *p, size_t n, size_t k, const int64_t *y, int scope, double *o) {
  return calib_calibration_error(p, n, k, y, 10, scope, CALIB_BINNING_EQUAL_WIDTH, CALIB_NORM_L1, o);
}
static int m_cekum(const float *p, size_t n, size_t k, const int64_t *y, int scope, double *o) {
  return calib_calibration_error(p, n, k, y, 10, scope, CALIB_BINNING_EQUAL_MASS_KUMAR, CALIB_NORM_L2, o);
}
static int m_deb(const float *p, size_t n, size_t k, const int64_t *y, int scope, double *o) {
  return calib_debiased_l2_ce(p, n, k, y, 10, scope, CALIB_BINNING_EQUAL_MASS_INDEX, o);
}
static int m_ks(const float *p, size_t n, size_t k, const int64_t *y, int scope, double *o) {
  return calib_ks_error(p, n, k, y, scope, o);
}
static int m_mmce(const float *p, size_t n, size_t k, const int64_t *y, int scope, double *o) {
  return calib_mmce(p, n, k, y, scope, CALIB_MMCE_WIDTH, o);
}
static int m_kde(const float *p, size_t n, size_t k, const int64_t *y, int scope, double *o) {
  return calib_kde_ece(p, n, k, y, scope, o);
}
static int m_sm(const float *p, size_t n, size_t k, const int64_t *y, int scope, double *o) {
  double used = SENT;
  const int st = calib_smooth_ece(p, n, k, y, scope, 0.0, o, &used);
  if (st != CALIB_OK && used != SENT) return 99; /* wrote on failure */
  return st;
}
static int m_rd(const float *p, size_t n, size_t k, const int64_t *y, int scope, double *o) {
  double rows[10 * CALIB_RD_FIELDS];
  size_t nb = 12345;
  for (size_t i = 0; i < 10 * CALIB_RD_FIELDS; i++) rows[i] = SENT;
  const int st = calib_reliability(p, n, k, y, 10, scope, CALIB_BINNING_EQUAL_WIDTH, 1.96, o ? rows : NULL,
                                   10 * CALIB_RD_FIELDS, &nb);
  if (st != CALIB_OK && (nb != 12345 || rows[0] != SENT)) return 99;
  if (st == CALIB_OK) *o = rows[CALIB_RD_ACC];
  return st;
}

typedef int (*measure_fn)(const float *, size_t, size_t, const int64_t *, int, double *);

static void check_errors(const char *name, measure_fn f) {
  double o = SENT;
  float bad[] = {0.5f, 0.5f, NAN, 0.5f};
  float dom[] = {0.5f, 0.5f, 1.5f, -0.5f};
  int64_t y2[] = {0, 1}, ybad[] = {0, 3};
  printf("errors: %s\n", name);
  CHECK_ERR(f(P3, 4, 3, Y3, CALIB_SCOPE_TOP_LABEL, NULL), CALIB_E_ARG);
  CHECK_ERR(f(P3, 4, 0, Y3, CALIB_SCOPE_TOP_LABEL, &o), CALIB_E_ARG);
  CHECK_ERR(f(P3, 4, 3, Y3, 0, &o), CALIB_E_ARG);
  CHECK_ERR(f(P3, 4, 3, Y3, 9, &o), CALIB_E_ARG);
  CHECK_ERR(f(P3, 4, 3, Y3, CALIB_SCOPE_POSITIVE_CLASS, &o), CALIB_E_ARG);
  CHECK_ERR(f(P3, 0, 3, Y3, CALIB_SCOPE_TOP_LABEL, &o), CALIB_E_EMPTY);
  CHECK_ERR(f(NULL, 4, 3, Y3, CALIB_SCOPE_TOP_LABEL, &o), CALIB_E_ARG);
  CHECK_ERR(f(P3, 4, 3, NULL, CALIB_SCOPE_TOP_LABEL, &o), CALIB_E_ARG);
  CHECK_ERR(f(bad, 2, 2, y2, CALIB_SCOPE_TOP_LABEL, &o), CALIB_E_NONFINITE);
  CHECK_ERR(f(dom, 2, 2, y2, CALIB_SCOPE_TOP_LABEL, &o), CALIB_E_DOMAIN);
  CHECK_ERR(f(P3, 2, 2, ybad, CALIB_SCOPE_TOP_LABEL, &o), CALIB_E_LABEL);
  CHECK(o == SENT);
}

static void test_error_table(void) {
  check_errors("calibration_error", m_ce);
  check_errors("calibration_error kumar", m_cekum);
  check_errors("debiased", m_deb);
  check_errors("ks", m_ks);
  check_errors("mmce", m_mmce);
  check_errors("kde_ece", m_kde);
  check_errors("smooth_ece", m_sm);
  check_errors("reliability", m_rd);
}

static void test_option_errors(void) {
  double o = SENT, rows[4 * CALIB_RD_FIELDS];
  size_t nb = 77;
  const int EW = CALIB_BINNING_EQUAL_WIDTH, TL = CALIB_SCOPE_TOP_LABEL;
  CHECK_ERR(calib_calibration_error(P3, 4, 3, Y3, 0, TL, EW, CALIB_NORM_L1, &o), CALIB_E_ARG);
  CHECK_ERR(calib_calibration_error(P3, 4, 3, Y3, 5, TL, 0, CALIB_NORM_L1, &o), CALIB_E_ARG);
  CHECK_ERR(calib_calibration_error(P3, 4, 3, Y3, 5, TL, 5, CALIB_NORM_L1, &o), CALIB_E_ARG);
  CHECK_ERR(calib_calibration_error(P3, 4, 3, Y3, 5, TL, EW, 0, &o), CALIB_E_ARG);
  CHECK_ERR(calib_calibration_error(P3, 4, 3, Y3, 5, TL, EW, 4, &o), CALIB_E_ARG);
  CHECK_ERR(calib_debiased_l2_ce(P3, 4, 3, Y3, 0, TL, EW, &o), CALIB_E_ARG);
  CHECK_ERR(calib_mmce(P3, 4, 3, Y3, TL, 0.0, &o), CALIB_E_ARG);
  CHECK_ERR(calib_mmce(P3, 4, 3, Y3, TL, -1.0, &o), CALIB_E_ARG);
  CHECK_ERR(calib_mmce(P3, 4, 3, Y3, TL, NAN, &o), CALIB_E_ARG);
  CHECK_ERR(calib_mmce(P3, 4, 3, Y3, TL, INFINITY, &o), CALIB_E_ARG);
  CHECK_ERR(calib_smooth_ece(P3, 4, 3, Y3, TL, -0.1, &o, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_smooth_ece(P3, 4, 3, Y3, TL, 1.5, &o, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_smooth_ece(P3, 4, 3, Y3, TL, NAN, &o, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_brier_score(P3, 4, 3, Y3, 0, &o), CALIB_E_ARG);
  CHECK_ERR(calib_brier_score(P3, 4, 3, Y3, 5, &o), CALIB_E_ARG);
  CHECK_ERR(calib_brier_score(P3, 4, 3, Y3, CALIB_BRIER_POSITIVE, &o), CALIB_E_ARG);
  CHECK_ERR(calib_brier_score(P3, 0, 3, Y3, CALIB_BRIER_SUM, &o), CALIB_E_EMPTY);
  CHECK_ERR(calib_brier_score(P3, 4, 3, Y3, CALIB_BRIER_SUM, NULL), CALIB_E_ARG);
  CHECK(o == SENT);
  /* reliability: z, scope, cap, nbins */
  CHECK_ERR(calib_reliability(P3, 4, 3, Y3, 4, TL, EW, 0.0, rows, 28, &nb), CALIB_E_ARG);
  CHECK_ERR(calib_reliability(P3, 4, 3, Y3, 4, TL, EW, NAN, rows, 28, &nb), CALIB_E_ARG);
  CHECK_ERR(calib_reliability(P3, 4, 3, Y3, 4, CALIB_SCOPE_CLASSWISE, EW, 1.96, rows, 28, &nb), CALIB_E_ARG);
  CHECK_ERR(calib_reliability(P3, 4, 3, Y3, 4, TL, EW, 1.96, rows, 27, &nb), CALIB_E_SMALLBUF);
  CHECK_ERR(calib_reliability(P3, 4, 3, Y3, 4, TL, EW, 1.96, rows, 28, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_reliability(P3, 4, 3, Y3, 0, TL, EW, 1.96, rows, 28, &nb), CALIB_E_ARG);
  CHECK_ERR(calib_reliability(P3, 4, 3, Y3, 4, TL, 7, 1.96, rows, 28, &nb), CALIB_E_ARG);
  CHECK(nb == 77);
}

/* The one-pass top-label path validates as it goes: same codes, same
 * precedence (values before labels, the first bad value decides) as the
 * separate validation pass of calib_ece. */
static void test_fused_validation_order(void) {
  const float cases[][4] = {{0.5f, 0.5f, NAN, 0.5f}, {0.5f, 0.5f, 1.5f, NAN}, {0.5f, 0.5f, NAN, 1.5f},
                            {-0.5f, 0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f, INFINITY}, {-0.0f, 1.0f, 0.5f, -0.0f}};
  const int64_t bad_label[] = {5, 0}, good[] = {1, 0};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (int l = 0; l < 2; l++) {
      double a = SENT, b = SENT;
      const int64_t *y = l ? bad_label : good;
      const int sa = calib_calibration_error(cases[c], 2, 2, y, 10, CALIB_SCOPE_TOP_LABEL,
                                             CALIB_BINNING_EQUAL_WIDTH, CALIB_NORM_L1, &a);
      const int sb = calib_ece(cases[c], 2, 2, y, 10, &b);
      CHECK(sa == sb);
      CHECK(sa != CALIB_OK || a == b);
      if (sa != CALIB_OK) CHECK(a == SENT);
    }
  }
}

static void test_kde_undefined(void) {
  double o = SENT;
  float p[] = {0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f};
  int64_t wrong[] = {1, 0, 1}, one_right[] = {0, 0, 1}, same[] = {0, 0, 0};
  float q[] = {0.9f, 0.1f, 0.9f, 0.1f, 0.3f, 0.7f};
  CHECK_ERR(calib_kde_ece(p, 3, 2, wrong, CALIB_SCOPE_TOP_LABEL, &o), CALIB_E_ONECLASS);
  CHECK_ERR(calib_kde_ece(p, 3, 2, one_right, CALIB_SCOPE_TOP_LABEL, &o), CALIB_E_DOMAIN);
  /* two correct rows, both at confidence 0.9: spread 0 */
  CHECK_ERR(calib_kde_ece(q, 3, 2, same, CALIB_SCOPE_TOP_LABEL, &o), CALIB_E_DOMAIN);
  /* classwise with an absent class */
  CHECK_ERR(calib_kde_ece(P3, 4, 3, Y3, CALIB_SCOPE_CLASSWISE, &o), CALIB_E_DOMAIN);
  CHECK(o == SENT);
}

/* Out of memory at every allocation: NOMEM, nothing written, then success. */
static void test_oom(void) {
  double o = SENT, used;
  int st = CALIB_E_NOMEM;
  size_t nth;
  for (int f = 0; f < 7; f++) {
    for (nth = 1; nth < 200; nth++) {
      double rows[5 * CALIB_RD_FIELDS];
      size_t nb;
      calib__alloc_fail_at(nth, 1);
      switch (f) {
        case 0: st = calib_calibration_error(P3, 4, 3, Y3, 5, CALIB_SCOPE_CLASSWISE, CALIB_BINNING_EQUAL_MASS_KUMAR, CALIB_NORM_L1, &o); break;
        case 1: st = calib_calibration_error(P3, 4, 3, Y3, 5, CALIB_SCOPE_CLASSWISE, CALIB_BINNING_EQUAL_WIDTH, CALIB_NORM_L2, &o); break;
        case 2: st = calib_kde_ece(P3, 4, 3, Y3, CALIB_SCOPE_TOP_LABEL, &o); break;
        case 3: st = calib_smooth_ece(P3, 4, 3, Y3, CALIB_SCOPE_CLASSWISE, 0.0, &o, &used); break;
        case 4: st = calib_mmce(P3, 4, 3, Y3, CALIB_SCOPE_TOP_LABEL, 0.4, &o); break;
        case 5: st = calib_reliability(P3, 4, 3, Y3, 5, CALIB_SCOPE_TOP_LABEL, CALIB_BINNING_EQUAL_MASS_KUMAR, 1.96, rows, 35, &nb); break;
        default: {
          double out[50];
          st = calib_suite_eval(CALIB_SUITE_TAO2024, P3, 4, 3, Y3, CALIB_INPUT_PROBS, out, NULL, 50);
          if (st != CALIB_OK) CHECK(1);
          break;
        }
      }
      calib__alloc_fail_at(0, 0);
      if (st == CALIB_OK) break;
      CHECK_ERR(st, CALIB_E_NOMEM);
      CHECK(o == SENT);
    }
    CHECK_OK(st);
    printf("oom: function %d succeeded after %zu failing allocation points\n", f, nth - 1);
    o = SENT;
  }
}

/* The one-pass bins (calib_calibration_error) and the sorted walk
 * (calib_reliability) agree with calib_bin_index on every value, including
 * exact edges, 0 and 1. */
static void test_bin_consistency(void) {
  enum { N = 600 };
  static float s[N];
  static int64_t t[N];
  const size_t Ms[] = {1, 2, 3, 5, 7, 10, 15, 100, 255, 1000};
  for (size_t i = 0; i < N; i++) {
    const double u = th_uniform();
    s[i] = i < 256 ? (float)((double)i / 255.0) : (i < 300 ? (float)((i % 11) / 10.0) : (float)u);
    t[i] = th_uniform() < s[i];
  }
  s[0] = 0.0f;
  s[1] = 1.0f;
  for (size_t q = 0; q < sizeof Ms / sizeof Ms[0]; q++) {
    const size_t M = Ms[q];
    double *rows = (double *)malloc(M * CALIB_RD_FIELDS * sizeof(double));
    double *cnt = (double *)calloc(M, sizeof(double));
    size_t nb = 0;
    for (size_t i = 0; i < N; i++) cnt[calib_bin_index((double)s[i], M)] += 1;
    CHECK_OK(calib_reliability(s, N, 1, t, M, CALIB_SCOPE_POSITIVE_CLASS, CALIB_BINNING_EQUAL_WIDTH, 1.96,
                               rows, M * CALIB_RD_FIELDS, &nb));
    CHECK(nb == M);
    double ece_rd = 0, ece = 0;
    for (size_t b = 0; b < M; b++) {
      CHECK(rows[b * CALIB_RD_FIELDS + CALIB_RD_COUNT] == cnt[b]);
      if (cnt[b] > 0)
        ece_rd += cnt[b] / N * fabs(rows[b * CALIB_RD_FIELDS + CALIB_RD_ACC] - rows[b * CALIB_RD_FIELDS + CALIB_RD_CONF]);
    }
    CHECK_OK(calib_calibration_error(s, N, 1, t, M, CALIB_SCOPE_POSITIVE_CLASS, CALIB_BINNING_EQUAL_WIDTH,
                                     CALIB_NORM_L1, &ece));
    CHECK_NEAR(ece, ece_rd, 1e-14);
    /* left-closed: the same bins mirrored, 1 in the last */
    CHECK_OK(calib_reliability(s, N, 1, t, M, CALIB_SCOPE_POSITIVE_CLASS, CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED,
                               1.96, rows, M * CALIB_RD_FIELDS, &nb));
    for (size_t b = 0; b < M; b++) {
      double c = 0;
      for (size_t i = 0; i < N; i++) {
        const double v = (double)s[i], lo = (double)b / (double)M, hi = (double)(b + 1) / (double)M;
        c += (v >= lo && (v < hi || (b + 1 == M && v <= 1.0)));
      }
      CHECK(rows[b * CALIB_RD_FIELDS + CALIB_RD_COUNT] == c);
    }
    free(rows);
    free(cnt);
  }
}

static void test_accumulator_contract(void) {
  calib_accumulator *a = NULL, *b = NULL, *c = NULL, *d = NULL;
  double v = SENT;
  CHECK_ERR(calib_accumulator_create(NULL, 3, 10, CALIB_BINNING_EQUAL_WIDTH), CALIB_E_ARG);
  CHECK_ERR(calib_accumulator_create(&a, 0, 10, CALIB_BINNING_EQUAL_WIDTH), CALIB_E_ARG);
  CHECK_ERR(calib_accumulator_create(&a, 3, 0, CALIB_BINNING_EQUAL_WIDTH), CALIB_E_ARG);
  CHECK_ERR(calib_accumulator_create(&a, 3, 10, CALIB_BINNING_EQUAL_MASS_KUMAR), CALIB_E_UNSUPPORTED);
  CHECK_ERR(calib_accumulator_create(&a, 3, 10, 9), CALIB_E_ARG);
  CHECK(a == NULL);
  CHECK_OK(calib_accumulator_create(&a, 3, 10, CALIB_BINNING_EQUAL_WIDTH));
  CHECK_OK(calib_accumulator_create(&b, 4, 10, CALIB_BINNING_EQUAL_WIDTH));
  CHECK_OK(calib_accumulator_create(&c, 3, 11, CALIB_BINNING_EQUAL_WIDTH));
  CHECK_OK(calib_accumulator_create(&d, 3, 10, CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED));
  CHECK_OK(calib_accumulator_value(a, CALIB_M_COUNT, &v));
  CHECK(v == 0);
  v = SENT;
  CHECK_ERR(calib_accumulator_value(a, CALIB_M_ECE, &v), CALIB_E_EMPTY);
  CHECK_ERR(calib_accumulator_value(a, 0, &v), CALIB_E_ARG);
  CHECK_ERR(calib_accumulator_value(a, 20, &v), CALIB_E_ARG);
  CHECK_ERR(calib_accumulator_value(a, CALIB_M_POS_ECE, &v), CALIB_E_ARG); /* k = 3 */
  CHECK_ERR(calib_accumulator_value(a, CALIB_M_BRIER_POSITIVE, &v), CALIB_E_ARG);
  CHECK(v == SENT);
  CHECK_ERR(calib_accumulator_merge(a, b), CALIB_E_SHAPE);
  CHECK_ERR(calib_accumulator_merge(a, c), CALIB_E_ARG);
  CHECK_ERR(calib_accumulator_merge(a, d), CALIB_E_ARG);
  CHECK_ERR(calib_accumulator_merge(a, NULL), CALIB_E_ARG);
  /* a bad batch leaves the accumulator unchanged */
  float bad[] = {0.5f, 0.5f, 0.0f, 0.2f, 0.3f, NAN};
  int64_t yb[] = {0, 1};
  CHECK_ERR(calib_accumulator_add(a, bad, 2, yb), CALIB_E_NONFINITE);
  CHECK_ERR(calib_accumulator_add(a, P3, 4, (const int64_t[]){0, 1, 3, 0}), CALIB_E_LABEL);
  float badz[] = {1.0f, INFINITY, 0.0f};
  CHECK_ERR(calib_accumulator_add_logits(a, badz, 1, yb), CALIB_E_NONFINITE);
  float allneg[] = {-INFINITY, -INFINITY, -INFINITY};
  CHECK_ERR(calib_accumulator_add_logits(a, allneg, 1, yb), CALIB_E_NONFINITE);
  CHECK_OK(calib_accumulator_add(a, P3, 0, NULL));
  CHECK_OK(calib_accumulator_value(a, CALIB_M_COUNT, &v));
  CHECK(v == 0);
  /* empty reliability */
  double rows[10 * CALIB_RD_FIELDS];
  size_t nb;
  CHECK_ERR(calib_accumulator_reliability(a, CALIB_SCOPE_TOP_LABEL, 1.96, rows, 70, &nb), CALIB_E_EMPTY);
  /* add, then reliability equals calib_reliability, merge with itself doubles counts */
  CHECK_OK(calib_accumulator_add(a, P3, 4, Y3));
  double rows2[10 * CALIB_RD_FIELDS];
  size_t nb2;
  CHECK_OK(calib_accumulator_reliability(a, CALIB_SCOPE_TOP_LABEL, 1.96, rows, 70, &nb));
  CHECK_OK(calib_reliability(P3, 4, 3, Y3, 10, CALIB_SCOPE_TOP_LABEL, CALIB_BINNING_EQUAL_WIDTH, 1.96, rows2, 70, &nb2));
  CHECK(nb == 10 && nb2 == 10);
  for (size_t i = 0; i < 70; i++)
    CHECK((isnan(rows[i]) && isnan(rows2[i])) || fabs(rows[i] - rows2[i]) <= 1e-15);
  double e1, e2;
  CHECK_OK(calib_accumulator_value(a, CALIB_M_ECE, &e1));
  CHECK_OK(calib_accumulator_merge(a, a));
  CHECK_OK(calib_accumulator_value(a, CALIB_M_COUNT, &v));
  CHECK(v == 8);
  CHECK_OK(calib_accumulator_value(a, CALIB_M_ECE, &e2));
  CHECK_NEAR(e1, e2, 1e-15);
  /* bytes: save with a small buffer, then load errors */
  const size_t size = calib_accumulator_size(a);
  CHECK(size == 80 + 24 * 10 * 4 + 4);
  CHECK(calib_accumulator_size(NULL) == 0);
  uint8_t *buf = (uint8_t *)malloc(size);
  size_t w = 999;
  memset(buf, 0xAB, size);
  CHECK_ERR(calib_accumulator_save(a, buf, size - 1, &w), CALIB_E_SMALLBUF);
  CHECK(w == 999 && buf[0] == 0xAB);
  CHECK_OK(calib_accumulator_save(a, buf, size, &w));
  CHECK(w == size);
  calib_accumulator *l = NULL;
  CHECK_ERR(calib_accumulator_load(NULL, buf, size), CALIB_E_ARG);
  CHECK_ERR(calib_accumulator_load(&l, NULL, size), CALIB_E_ARG);
  CHECK_ERR(calib_accumulator_load(&l, buf, size - 1), CALIB_E_FORMAT);
  buf[8] = 2; /* future version: also breaks the CRC, both are FORMAT */
  CHECK_ERR(calib_accumulator_load(&l, buf, size), CALIB_E_FORMAT);
  buf[8] = 1;
  /* a consistent CRC over inconsistent counts is still rejected */
  calib__put_u64(buf + 32, 9);
  th_put_le(buf + size - 4, th_crc32(buf, size - 4), 4);
  CHECK_ERR(calib_accumulator_load(&l, buf, size), CALIB_E_FORMAT);
  calib__put_u64(buf + 32, 8);
  calib__put_f64(buf + 80 + 16, 1e9); /* score sum above the bin's row count */
  th_put_le(buf + size - 4, th_crc32(buf, size - 4), 4);
  CHECK_ERR(calib_accumulator_load(&l, buf, size), CALIB_E_FORMAT);
  CHECK(l == NULL);
  CHECK_OK(calib_accumulator_save(a, buf, size, &w));
  CHECK_OK(calib_accumulator_load(&l, buf, size));
  CHECK_OK(calib_accumulator_value(l, CALIB_M_ECE, &e2));
  CHECK(e1 == e2);
  free(buf);
  calib_accumulator_free(l);
  calib_accumulator_free(a);
  calib_accumulator_free(b);
  calib_accumulator_free(c);
  calib_accumulator_free(d);
  calib_accumulator_free(NULL);
}

/* Merging the accumulators of random splits: counts bit for bit, sums 1e-12. */
static void test_random_splits(void) {
  enum { N = 2000, K = 5, B = 15 };
  static float p[N * K];
  static int64_t y[N];
  for (size_t i = 0; i < N; i++) {
    double s = 0;
    for (size_t j = 0; j < K; j++) s += p[i * K + j] = (float)(th_uniform() * th_uniform());
    for (size_t j = 0; j < K; j++) p[i * K + j] = (float)((double)p[i * K + j] / s);
    y[i] = (int64_t)(th_next() % K);
  }
  calib_accumulator *one = NULL;
  CHECK_OK(calib_accumulator_create(&one, K, B, CALIB_BINNING_EQUAL_WIDTH));
  CHECK_OK(calib_accumulator_add(one, p, N, y));
  const size_t size = calib_accumulator_size(one);
  uint8_t *b1 = (uint8_t *)malloc(size), *b2 = (uint8_t *)malloc(size);
  CHECK_OK(calib_accumulator_save(one, b1, size, NULL));
  for (int trial = 0; trial < 20; trial++) {
    calib_accumulator *parts[8] = {0};
    size_t start = 0;
    for (int s = 0; s < 8; s++) {
      const size_t len = s == 7 ? N - start : (size_t)(th_next() % (N - start + 1));
      CHECK_OK(calib_accumulator_create(&parts[s], K, B, CALIB_BINNING_EQUAL_WIDTH));
      CHECK_OK(calib_accumulator_add(parts[s], p + start * K, len, y + start));
      start += len;
    }
    for (int s = 1; s < 8; s++) CHECK_OK(calib_accumulator_merge(parts[0], parts[(s + trial) % 7 + 1]));
    CHECK_OK(calib_accumulator_save(parts[0], b2, size, NULL));
    /* counts: header u64s and every cell's two u64s identical */
    CHECK(memcmp(b1 + 32, b2 + 32, 16) == 0);
    for (size_t c = 0; c < B * (K + 1); c++) CHECK(memcmp(b1 + 80 + 24 * c, b2 + 80 + 24 * c, 16) == 0);
    for (int m = CALIB_M_COUNT; m <= CALIB_M_CW_DEBIASED_L2; m++) {
      double v1, v2;
      if (m == CALIB_M_BRIER_POSITIVE) continue; /* k = 5 */
      CHECK_OK(calib_accumulator_value(one, m, &v1));
      CHECK_OK(calib_accumulator_value(parts[0], m, &v2));
      CHECK_NEAR(v1, v2, 1e-12 * (fabs(v1) > 1 ? fabs(v1) : 1));
    }
    for (int s = 0; s < 8; s++) calib_accumulator_free(parts[s]);
  }
  free(b1);
  free(b2);
  calib_accumulator_free(one);
}

/* calib_accumulator_add_logits_many: bit-identical to separate add_logits
 * calls (one softmax per row shared by bin counts and binnings that differ),
 * and all-or-nothing on every error. */
static int acc_same(const calib_accumulator *x, const calib_accumulator *y) {
  const size_t n = calib_accumulator_size(x);
  if (n != calib_accumulator_size(y)) return 0;
  uint8_t *b1 = (uint8_t *)malloc(n), *b2 = (uint8_t *)malloc(n);
  int same = b1 && b2 && calib_accumulator_save(x, b1, n, NULL) == CALIB_OK &&
             calib_accumulator_save(y, b2, n, NULL) == CALIB_OK && memcmp(b1, b2, n) == 0;
  free(b1);
  free(b2);
  return same;
}

static void test_add_logits_many(void) {
  enum { N = 3000, A = 4 };
  static float z[N * 4];
  static int64_t y[N];
  const size_t bins[A] = {5, 15, 15, 500};
  const int binning[A] = {CALIB_BINNING_EQUAL_WIDTH, CALIB_BINNING_EQUAL_WIDTH,
                          CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED, CALIB_BINNING_EQUAL_WIDTH};
  for (size_t k = 1; k <= 4; k += 3) {
    for (size_t i = 0; i < N * k; i++) z[i] = (float)(8 * th_uniform() - 4);
    for (size_t i = 0; i < N; i++) y[i] = (int64_t)(th_next() % (k == 1 ? 2 : k));
    calib_accumulator *many[A], *sep[A];
    for (size_t a = 0; a < A; a++) {
      CHECK_OK(calib_accumulator_create(&many[a], k, bins[a], binning[a]));
      CHECK_OK(calib_accumulator_create(&sep[a], k, bins[a], binning[a]));
      CHECK_OK(calib_accumulator_add_logits(sep[a], z, N / 3, y));
      CHECK_OK(calib_accumulator_add_logits(sep[a], z + N / 3 * k, N - N / 3, y + N / 3));
    }
    CHECK_OK(calib_accumulator_add_logits_many(many, A, z, N / 3, y));
    CHECK_OK(calib_accumulator_add_logits_many(many, A, z + N / 3 * k, N - N / 3, y + N / 3));
    for (size_t a = 0; a < A; a++) CHECK(acc_same(many[a], sep[a]));
    /* errors: nothing changes in any accumulator */
    calib_accumulator *dup[2] = {many[0], many[0]}, *hole[2] = {many[0], NULL};
    CHECK_ERR(calib_accumulator_add_logits_many(NULL, 1, z, 1, y), CALIB_E_ARG);
    CHECK_ERR(calib_accumulator_add_logits_many(many, 0, z, 1, y), CALIB_E_ARG);
    CHECK_ERR(calib_accumulator_add_logits_many(hole, 2, z, 1, y), CALIB_E_ARG);
    CHECK_ERR(calib_accumulator_add_logits_many(dup, 2, z, 1, y), CALIB_E_ARG);
    CHECK_ERR(calib_accumulator_add_logits_many(many, A, NULL, 1, y), CALIB_E_ARG);
    CHECK_ERR(calib_accumulator_add_logits_many(many, A, z, 1, NULL), CALIB_E_ARG);
    CHECK_ERR(calib_accumulator_add_logits_many(many, A, z, SIZE_MAX / 2, y), CALIB_E_ARG);
    const float keep = z[(N - 1) * k];
    z[(N - 1) * k] = NAN; /* the last row: the rows before it must not be added */
    CHECK_ERR(calib_accumulator_add_logits_many(many, A, z, N, y), CALIB_E_NONFINITE);
    z[(N - 1) * k] = keep;
    const int64_t ykeep = y[N - 1];
    y[N - 1] = 7;
    CHECK_ERR(calib_accumulator_add_logits_many(many, A, z, N, y), CALIB_E_LABEL);
    y[N - 1] = ykeep;
    calib_accumulator *other = NULL, *mixed[2];
    CHECK_OK(calib_accumulator_create(&other, k + 1, 15, CALIB_BINNING_EQUAL_WIDTH));
    mixed[0] = many[1];
    mixed[1] = other;
    CHECK_ERR(calib_accumulator_add_logits_many(mixed, 2, z, N, y), CALIB_E_SHAPE);
    CHECK_OK(calib_accumulator_add_logits_many(many, A, z, 0, NULL)); /* n == 0: no-op */
    for (size_t a = 0; a < A; a++) CHECK(acc_same(many[a], sep[a]));
    calib_accumulator_free(other);
    for (size_t a = 0; a < A; a++) {
      calib_accumulator_free(many[a]);
      calib_accumulator_free(sep[a]);
    }
  }
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  test_error_table();
  test_option_errors();
  test_fused_validation_order();
  test_kde_undefined();
  test_oom();
  test_bin_consistency();
  test_accumulator_contract();
  test_random_splits();
  test_add_logits_many();
  TEST_MAIN_END();
}
