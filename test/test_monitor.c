/* test_monitor.c -- calib_reference, calib_monitor and their statistics
 * (issue 11, part 3). The data come from a known model, so the truth is known:
 * y ~ prior, x = a e_y + N(0, I) in K dimensions, and the calibrated
 * probabilities under the training prior pi_t are softmax(a x + ln pi_t) (the
 * exact Bayes posterior). A model that is "sharpened x s" serves
 * softmax(s (a x + ln pi_t)).
 *
 *  1. calib_chi2_sf on closed forms; calib_reference and every documented error.
 *  2. False alarms on unshifted data: 2000 windows of 500 rows, per-window rate
 *     of each chi-square test within the binomial interval of alpha; the
 *     rate of the hysteresis alarm state.
 *  3. Detection delays: logits sharpened x2, class prior shifted to 50% one
 *     class; the alarm clears after off_count clean windows.
 *  4. EM: error of calib_prior_em on 20,000 shifted rows, the monitor's ring
 *     estimate, and the prior correction lowering the NLL.
 *  5. Labelled windows: NLL/Brier/ECE equal to calib_nll/_brier/_ece on the
 *     same rows; coverage of the NLL interval over 200 windows.
 *  6. Trials through a calib_slot: a bad challenger is rolled back, a good one
 *     promoted, and an equally good one is rolled back at most at rate alpha.
 *  7. Threads: 4 writers through their own shards, one reader merging, a
 *     shard freed mid-run (ThreadSanitizer in make check).
 * Usage: test_monitor [seed] */
#include "internal.h" /* the allocation fault hook, for the out-of-memory loop */
#include "harness.h"
#include <pthread.h>
#include <sched.h>

#define K 5
#define A 1.5 /* class separation */
#define W 500 /* CALIB_MO_WINDOW default */

static const double UNIFORM[K] = {0.2, 0.2, 0.2, 0.2, 0.2};
static const double SHIFTED[K] = {0.5, 0.125, 0.125, 0.125, 0.125};

static size_t draw(const double *prior) {
  double u = th_uniform(), c = 0;
  for (size_t j = 0; j + 1 < K; j++)
    if (u < (c += prior[j])) return j;
  return K - 1;
}

/* n rows: labels from `truth`, probabilities of a model calibrated under
 * UNIFORM, sharpened by s (s = 1: calibrated). champion (may be NULL): the
 * same rows under sharpening s2. */
static void gen(size_t n, const double *truth, double s, float *p, int64_t *y, double s2,
                float *champion) {
  for (size_t i = 0; i < n; i++) {
    const size_t c = draw(truth);
    double z[K], mx = -1e300;
    for (size_t j = 0; j < K; j++) {
      z[j] = A * ((j == c ? A : 0.0) + th_normal()) + log(UNIFORM[j]);
      mx = z[j] > mx ? z[j] : mx;
    }
    for (int pass = 0; pass < (champion ? 2 : 1); pass++) {
      const double f = pass ? s2 : s;
      float *out = (pass ? champion : p) + i * K;
      double sum = 0, e[K];
      for (size_t j = 0; j < K; j++) sum += (e[j] = exp(f * (z[j] - mx)));
      for (size_t j = 0; j < K; j++) out[j] = (float)(e[j] / sum);
    }
    if (y) y[i] = (int64_t)c;
  }
}

static calib_reference *make_reference(size_t n) {
  float *p = (float *)malloc(n * K * sizeof(float));
  int64_t *y = (int64_t *)malloc(n * sizeof(int64_t));
  gen(n, UNIFORM, 1.0, p, y, 0, NULL);
  calib_reference *r = NULL;
  CHECK_OK(calib_reference_compute(&r, p, n, K, y));
  free(p);
  free(y);
  return r;
}

/* ---- 1. closed forms, reference, errors ----------------------------------------- */

static void test_chi2_sf(void) {
  CHECK_NEAR(calib_chi2_sf(3.841458820694124, 1), 0.05, 1e-12);
  for (double x = 0.1; x < 80; x *= 1.7) CHECK_REL(calib_chi2_sf(x, 2), exp(-x / 2), 1e-12);
  /* dof 4: Q(2, x/2) = exp(-x/2) (1 + x/2) */
  for (double x = 0.1; x < 80; x *= 1.7) CHECK_REL(calib_chi2_sf(x, 4), exp(-x / 2) * (1 + x / 2), 1e-12);
  CHECK(calib_chi2_sf(0, 3) == 1.0 && calib_chi2_sf(-1, 3) == 1.0);
  CHECK(isnan(calib_chi2_sf(NAN, 3)) && isnan(calib_chi2_sf(1, 0)) && isnan(calib_chi2_sf(1, NAN)));
  CHECK(calib_chi2_sf(INFINITY, 3) == 0.0);
}

static void test_reference(void) {
  const size_t n = 400;
  float p[400 * K];
  int64_t y[400];
  gen(n, SHIFTED, 1.0, p, y, 0, NULL);
  calib_reference *r = NULL;
  CHECK_ERR(calib_reference_compute(NULL, p, n, K, y), CALIB_E_ARG);
  CHECK_ERR(calib_reference_compute(&r, NULL, n, K, y), CALIB_E_ARG);
  CHECK_ERR(calib_reference_compute(&r, p, n, 0, y), CALIB_E_ARG);
  CHECK_ERR(calib_reference_compute(&r, p, 0, K, y), CALIB_E_EMPTY);
  y[7] = K;
  CHECK_ERR(calib_reference_compute(&r, p, n, K, y), CALIB_E_LABEL);
  y[7] = 0;
  const float keep = p[3];
  p[3] = NAN;
  CHECK_ERR(calib_reference_compute(&r, p, n, K, y), CALIB_E_NONFINITE);
  p[3] = 1.5f;
  CHECK_ERR(calib_reference_compute(&r, p, n, K, y), CALIB_E_DOMAIN);
  p[3] = keep;
  CHECK(r == NULL);
  CHECK_OK(calib_reference_compute(&r, p, n, K, y));
  CHECK(calib_reference_classes(r) == K && calib_reference_classes(NULL) == 0);
  double v[CALIB_REF_CONF_BINS], met[4], want;
  size_t c = 0;
  CHECK_OK(calib_reference_get(r, CALIB_REF_PRIOR, NULL, 0, &c));
  CHECK(c == K);
  CHECK_ERR(calib_reference_get(r, CALIB_REF_CONF_HIST, v, 3, &c), CALIB_E_SMALLBUF);
  CHECK_ERR(calib_reference_get(r, 99, v, 20, &c), CALIB_E_ARG);
  CHECK_ERR(calib_reference_get(r, CALIB_REF_PRIOR, v, 20, NULL), CALIB_E_ARG);
  CHECK_OK(calib_reference_get(r, CALIB_REF_PRIOR, v, 20, &c));
  size_t n0 = 0;
  for (size_t i = 0; i < n; i++) n0 += y[i] == 0;
  CHECK_NEAR(v[0], (double)n0 / (double)n, 1e-15);
  CHECK_OK(calib_reference_get(r, CALIB_REF_CONF_HIST, v, 20, &c));
  double tot = 0;
  for (size_t b = 0; b < c; b++) tot += v[b];
  CHECK(c == CALIB_REF_CONF_BINS && tot == (double)n);
  CHECK_OK(calib_reference_get(r, CALIB_REF_CLASS_HIST, v, 20, &c));
  tot = 0;
  for (size_t b = 0; b < c; b++) tot += v[b];
  CHECK(c == K && tot == (double)n);
  CHECK_OK(calib_reference_get(r, CALIB_REF_METRICS, met, 4, &c));
  CHECK(c == 4 && met[0] == (double)n);
  CHECK_OK(calib_nll(p, n, K, y, &want));
  CHECK_NEAR(met[1], want, 0);
  CHECK_OK(calib_ece(p, n, K, y, 15, &want));
  CHECK_NEAR(met[2], want, 0);
  CHECK_OK(calib_brier(p, n, K, y, &want));
  CHECK_NEAR(met[3], want, 0);
  calib_reference_free(r);
  /* without labels: prior = mean probability, NaN metrics; binary k == 1 */
  float b[4] = {0.9f, 0.2f, 0.6f, 0.3f};
  CHECK_OK(calib_reference_compute(&r, b, 4, 1, NULL));
  CHECK_OK(calib_reference_get(r, CALIB_REF_PRIOR, v, 20, &c));
  CHECK(c == 2);
  CHECK_NEAR(v[1], (0.9 + 0.2 + 0.6 + 0.3) / 4, 1e-7);
  CHECK_OK(calib_reference_get(r, CALIB_REF_CLASS_HIST, v, 20, &c));
  CHECK(v[0] == 2 && v[1] == 2);
  CHECK_OK(calib_reference_get(r, CALIB_REF_METRICS, met, 4, &c));
  CHECK(isnan(met[1]) && isnan(met[2]) && isnan(met[3]));
  calib_reference_free(r);
  calib_reference_free(NULL);
}

static void test_monitor_errors(void) {
  calib_reference *r = make_reference(2000);
  calib_monitor *m = NULL;
  const double bad[][3] = {{CALIB_MO_WINDOW, 10, 0},       {CALIB_MO_ALPHA, 0, 0},
                           {CALIB_MO_ALPHA, 0.7, 0},       {CALIB_MO_ON_COUNT, 1.5, 0},
                           {99, 1, 0},                     {CALIB_MO_TRIAL_ROWS, 100, 0},
                           {CALIB_MO_EM_TOL, NAN, 0},      {1.5, 1, 0}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_ERR(calib_monitor_create(&m, r, bad[i]), CALIB_E_ARG);
  CHECK_ERR(calib_monitor_create(&m, NULL, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_monitor_create(NULL, r, NULL), CALIB_E_ARG);
  CHECK(m == NULL);
  const double opts[] = {CALIB_MO_MAX_SHARDS, 2, CALIB_MO_EM_ROWS, 0, 0};
  CHECK_OK(calib_monitor_create(&m, r, opts));
  calib_reference_free(r); /* the monitor keeps its own copy */
  double v;
  CHECK_OK(calib_monitor_get(m, CALIB_MO_WINDOW, &v));
  CHECK(v == 500);
  CHECK_OK(calib_monitor_get(m, CALIB_MO_MAX_SHARDS, &v));
  CHECK(v == 2);
  CHECK_ERR(calib_monitor_get(m, 0, &v), CALIB_E_ARG);
  calib_monitor_shard *s[3] = {NULL, NULL, NULL};
  CHECK_OK(calib_monitor_shard_create(m, &s[0]));
  CHECK_OK(calib_monitor_shard_create(m, &s[1]));
  CHECK_ERR(calib_monitor_shard_create(m, &s[2]), CALIB_E_SMALLBUF);
  CHECK(s[2] == NULL);
  float p[3 * K] = {0.2f, 0.2f, 0.2f, 0.2f, 0.2f, 0.9f, 0.1f, 0, 0, 0, 0, 0, 0, 0, 1};
  int64_t y[3] = {0, 1, 4};
  CHECK_ERR(calib_monitor_observe(NULL, p, 3, K), CALIB_E_ARG);
  CHECK_ERR(calib_monitor_observe(s[0], NULL, 3, K), CALIB_E_ARG);
  CHECK_ERR(calib_monitor_observe(s[0], p, 3, K + 1), CALIB_E_SHAPE);
  CHECK_ERR(calib_monitor_observe(s[0], p, 3, 0), CALIB_E_ARG);
  CHECK_ERR(calib_monitor_observe(s[0], p, SIZE_MAX, K), CALIB_E_ARG);
  CHECK_OK(calib_monitor_observe(s[0], NULL, 0, K));
  p[4] = NAN;
  CHECK_ERR(calib_monitor_observe(s[0], p, 3, K), CALIB_E_NONFINITE);
  CHECK_ERR(calib_monitor_feedback(s[0], p, NULL, 3, K, y), CALIB_E_NONFINITE);
  p[4] = -0.5f;
  CHECK_ERR(calib_monitor_observe(s[0], p, 3, K), CALIB_E_DOMAIN);
  p[4] = 0.2f;
  CHECK_ERR(calib_monitor_feedback(s[0], p, NULL, 3, K, NULL), CALIB_E_ARG);
  y[2] = -1;
  CHECK_ERR(calib_monitor_feedback(s[0], p, NULL, 3, K, y), CALIB_E_LABEL);
  y[2] = 4;
  CHECK_ERR(calib_monitor_feedback(s[0], p, p + 1, 3, K + 1, y), CALIB_E_SHAPE);
  float champ[3 * K];
  memcpy(champ, p, sizeof champ);
  champ[0] = INFINITY;
  CHECK_ERR(calib_monitor_feedback(s[0], p, champ, 3, K, y), CALIB_E_NONFINITE);
  calib_monitor_state st;
  CHECK_ERR(calib_monitor_read(m, NULL), CALIB_E_ARG);
  CHECK_OK(calib_monitor_read(m, &st));
  CHECK(st.rows_observed == 0 && st.rows_labelled == 0 && st.windows == 0); /* nothing counted */
  CHECK(isnan(st.p_confidence) && isnan(st.nll) && st.trial_decision == CALIB_DECISION_NONE);
  CHECK_OK(calib_monitor_observe(s[0], p, 3, K));
  CHECK_OK(calib_monitor_feedback(s[1], p, NULL, 3, K, y));
  calib_monitor_shard_free(s[0]); /* its counts stay */
  CHECK_OK(calib_monitor_shard_create(m, &s[0]));
  CHECK_OK(calib_monitor_read(m, &st));
  CHECK(st.rows_observed == 3 && st.rows_labelled == 3 && st.em_rows == 0);
  double pr[K];
  CHECK_ERR(calib_monitor_prior(m, pr, K, NULL), CALIB_E_EMPTY); /* EM off */
  size_t c = 0;
  CHECK_ERR(calib_monitor_reference_prior(m, pr, K - 1, &c), CALIB_E_SMALLBUF);
  CHECK_OK(calib_monitor_reference_prior(m, pr, K, &c));
  CHECK(c == K);
  int d = -1;
  CHECK_OK(calib_monitor_decide(m, &d));
  CHECK(d == CALIB_DECISION_NONE);
  CHECK_ERR(calib_monitor_decide(m, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_monitor_decide_slot(m, NULL, &d, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_monitor_trial_start(NULL), CALIB_E_ARG);
  calib_monitor_shard_free(NULL);
  calib_monitor_free(m); /* frees the shards still registered */
  calib_monitor_free(NULL);
  /* EM and correction errors */
  double out[K] = {-1, -1, -1, -1, -1}, tr[K] = {0.2, 0.2, 0.2, 0.2, 0.2};
  size_t it = 0;
  CHECK_ERR(calib_prior_em(p, 3, K, tr, 0, 10, out, &it), CALIB_E_ARG);
  CHECK_ERR(calib_prior_em(p, 3, K, tr, 1e-6, 0, out, &it), CALIB_E_ARG);
  CHECK_ERR(calib_prior_em(p, 0, K, tr, 1e-6, 10, out, &it), CALIB_E_EMPTY);
  CHECK_ERR(calib_prior_em(p, 3, CALIB_PRIOR_EM_MAX_K + 1, tr, 1e-6, 10, out, &it), CALIB_E_ARG);
  tr[2] = 0;
  CHECK_ERR(calib_prior_em(p, 3, K, tr, 1e-6, 10, out, &it), CALIB_E_DOMAIN);
  CHECK_ERR(calib_prior_correct(p, 3, K, tr, UNIFORM), CALIB_E_DOMAIN);
  tr[2] = 0.2;
  CHECK_ERR(calib_prior_em(p, 3, K, tr, 1e-300, 1, out, &it), CALIB_E_NOCONV);
  CHECK(out[0] == -1 && it == 0); /* nothing written */
  const double neg[K] = {0.5, -0.1, 0.2, 0.2, 0.2};
  CHECK_ERR(calib_prior_correct(p, 3, K, tr, neg), CALIB_E_DOMAIN);
  CHECK_ERR(calib_prior_correct(NULL, 3, K, tr, UNIFORM), CALIB_E_ARG);
  CHECK_OK(calib_prior_correct(NULL, 0, K, tr, UNIFORM));
}

/* ---- 2. false alarms on unshifted data ---------------------------------------- */

#define NREF 20000
#define FA_WINDOWS 2000

/* Feeds `rows` rows of gen(truth, s) in batches of 50 through shard sh. */
static void feed(calib_monitor_shard *sh, size_t rows, const double *truth, double s) {
  float p[50 * K];
  for (size_t done = 0; done < rows; done += 50) {
    gen(50, truth, s, p, NULL, 0, NULL);
    CHECK_OK(calib_monitor_observe(sh, p, 50, K));
  }
}

/* Binomial check: x of n within 4.5 sd of n q (sd floor 1 count). */
static int binomial_ok(long x, long n, double q) {
  const double sd = sqrt((double)n * q * (1 - q));
  return fabs((double)x - (double)n * q) <= 4.5 * (sd > 1 ? sd : 1);
}

/* The windows of one monitor share its reference sample, so their alarms are
 * correlated through it (a reference that happens to be off alarms more often):
 * 10 references of NREF rows, 200 windows each, make the count binomial enough. */
static void test_false_alarms(void) {
  long alarms_conf = 0, alarms_class = 0, state_conf = 0, state_class = 0, windows_ok = 1;
  for (int block = 0; block < 10; block++) {
    calib_reference *r = make_reference(NREF);
    calib_monitor *m = NULL;
    calib_monitor_shard *sh = NULL;
    const double opts[] = {CALIB_MO_EM_ROWS, 0, 0};
    CHECK_OK(calib_monitor_create(&m, r, opts));
    CHECK_OK(calib_monitor_shard_create(m, &sh));
    calib_monitor_state st;
    for (long w = 0; w < FA_WINDOWS / 10; w++) {
      feed(sh, W, UNIFORM, 1.0);
      CHECK_OK(calib_monitor_read(m, &st));
      windows_ok &= st.windows == (uint64_t)w + 1 && st.window_rows == W;
      alarms_conf += st.p_confidence < 0.01;
      alarms_class += st.p_class < 0.01;
      state_conf += st.alarm_confidence;
      state_class += st.alarm_class;
    }
    calib_monitor_free(m);
    calib_reference_free(r);
  }
  CHECK(windows_ok);
  printf("false alarms, unshifted data, %d windows of %d rows (k = %d, 10 references of n = %d, alpha 0.01): "
         "per window: confidence %.4f, class %.4f; alarm state (on 3 / off 3): confidence %.4f, class %.4f\n",
         FA_WINDOWS, W, K, NREF, (double)alarms_conf / FA_WINDOWS, (double)alarms_class / FA_WINDOWS,
         (double)state_conf / FA_WINDOWS, (double)state_class / FA_WINDOWS);
  CHECK(binomial_ok(alarms_conf, FA_WINDOWS, 0.01));
  CHECK(binomial_ok(alarms_class, FA_WINDOWS, 0.01));
  /* P(3 alarming windows in a row) = 1e-6 per window: 2000 windows see none
   * unless the test's level is broken */
  CHECK(state_conf <= 3 && state_class <= 3);
}

/* ---- 3. detection delays ---------------------------------------------------------- */

/* Rows of shifted data until the alarm (which) turns on; 0 if not within max_windows. */
static long detection_delay(const calib_reference *r, const double *truth, double s, int which,
                            long max_windows, calib_monitor **keep) {
  calib_monitor *m = NULL;
  calib_monitor_shard *sh = NULL;
  CHECK_OK(calib_monitor_create(&m, r, NULL));
  CHECK_OK(calib_monitor_shard_create(m, &sh));
  calib_monitor_state st;
  long rows = 0;
  for (long w = 0; w < max_windows; w++) {
    feed(sh, W, truth, s);
    rows += W;
    CHECK_OK(calib_monitor_read(m, &st));
    if (which ? st.alarm_class : st.alarm_confidence) break;
  }
  if (!(which ? st.alarm_class : st.alarm_confidence)) rows = 0;
  if (keep) *keep = m;
  else calib_monitor_free(m);
  return rows;
}

static void test_detection(const calib_reference *r) {
  const long sharp = detection_delay(r, UNIFORM, 2.0, 0, 20, NULL);
  calib_monitor *m = NULL;
  const long prior = detection_delay(r, SHIFTED, 1.0, 1, 20, &m);
  printf("detection delay (window %d, on_count 3): logits sharpened x2: %ld rows (confidence alarm); "
         "class prior 50%% on class 0: %ld rows (class alarm)\n", W, sharp, prior);
  /* 3 windows is the least hysteresis allows; both shifts are strong */
  CHECK(sharp == 3 * W);
  CHECK(prior == 3 * W);
  /* back to unshifted traffic: the alarm clears after off_count clean windows */
  calib_monitor_shard *sh = NULL;
  CHECK_OK(calib_monitor_shard_create(m, &sh));
  calib_monitor_state st;
  long clean = 0;
  do {
    feed(sh, W, UNIFORM, 1.0);
    CHECK_OK(calib_monitor_read(m, &st));
    clean++;
  } while (st.alarm_class && clean < 20);
  printf("alarm cleared after %ld unshifted windows (off_count 3)\n", clean);
  CHECK(!st.alarm_class && clean >= 3 && clean <= 6);
  calib_monitor_free(m);
}

/* ---- 4. EM --------------------------------------------------------------------------- */

static double nll_of(const float *p, size_t n, const int64_t *y) {
  double v = 0;
  CHECK_OK(calib_nll(p, n, K, y, &v));
  return v;
}

static void test_em(const calib_reference *r) {
  const size_t n = 20000;
  float *p = (float *)malloc(n * K * sizeof(float));
  int64_t *y = (int64_t *)malloc(n * sizeof(int64_t));
  gen(n, SHIFTED, 1.0, p, y, 0, NULL);
  double est[K], err = 0, freq_err = 0, cnt[K] = {0};
  size_t iters = 0;
  CHECK_OK(calib_prior_em(p, n, K, UNIFORM, 1e-8, 10000, est, &iters));
  for (size_t i = 0; i < n; i++) cnt[y[i]] += 1;
  for (size_t j = 0; j < K; j++) {
    err = fmax(err, fabs(est[j] - SHIFTED[j]));
    freq_err = fmax(freq_err, fabs(cnt[j] / (double)n - SHIFTED[j]));
  }
  printf("EM (calib_prior_em, %zu rows, true prior 0.5/0.125x4, training prior uniform): "
         "max |error| %.4f (sample frequencies' own: %.4f), %zu iterations\n", n, err, freq_err, iters);
  CHECK(err < 0.02);
  /* a prior that does not shift: EM stays near it */
  double same[K];
  gen(n, UNIFORM, 1.0, p, y, 0, NULL);
  CHECK_OK(calib_prior_em(p, n, K, UNIFORM, 1e-8, 10000, same, NULL));
  double err0 = 0;
  for (size_t j = 0; j < K; j++) err0 = fmax(err0, fabs(same[j] - 0.2));
  CHECK(err0 < 0.02);
  /* the monitor's estimate from its rings (2 shards x 1000 rows) */
  calib_monitor *m = NULL;
  calib_monitor_shard *a = NULL, *b = NULL;
  CHECK_OK(calib_monitor_create(&m, r, NULL));
  CHECK_OK(calib_monitor_shard_create(m, &a));
  CHECK_OK(calib_monitor_shard_create(m, &b));
  feed(a, 3000, SHIFTED, 1.0); /* the ring keeps the last 1000 */
  feed(b, 1000, SHIFTED, 1.0);
  calib_monitor_state st;
  CHECK_OK(calib_monitor_read(m, &st));
  double mon[K], ref[K];
  size_t c = 0;
  CHECK_OK(calib_monitor_prior(m, mon, K, &c));
  CHECK_OK(calib_monitor_reference_prior(m, ref, K, NULL));
  double merr = 0;
  for (size_t j = 0; j < K; j++) merr = fmax(merr, fabs(mon[j] - SHIFTED[j]));
  printf("monitor EM: %llu ring rows, max |error| %.4f, shift from reference %.4f, %llu iterations\n",
         (unsigned long long)st.em_rows, merr, st.em_shift, (unsigned long long)st.em_iters);
  CHECK(c == K && st.em_rows == 2000 && st.em_converged && merr < 0.07 && st.em_shift > 0.2);
  /* the correction with the estimate lowers the NLL on shifted data */
  gen(n, SHIFTED, 1.0, p, y, 0, NULL);
  const double before = nll_of(p, n, y);
  CHECK_OK(calib_prior_correct(p, n, K, ref, mon));
  const double after = nll_of(p, n, y);
  printf("prior correction on %zu shifted rows: NLL %.4f -> %.4f\n", n, before, after);
  CHECK(after < before - 0.02);
  /* k == 1: the same EM on two classes */
  for (size_t i = 0; i < n; i++) {
    const int pos = th_uniform() < 0.8;
    const double lz = 2.0 * ((pos ? 1.0 : -1.0) + th_normal()); /* posterior at prior 1/2 */
    p[i] = (float)(1 / (1 + exp(-lz)));
  }
  const double half[2] = {0.5, 0.5};
  double bin[2];
  CHECK_OK(calib_prior_em(p, n, 1, half, 1e-8, 10000, bin, NULL));
  printf("EM, k == 1, true P(y = 1) = 0.8: estimate %.4f\n", bin[1]);
  CHECK_NEAR(bin[1], 0.8, 0.02);
  CHECK_NEAR(bin[0] + bin[1], 1.0, 1e-12);
  calib_monitor_free(m);
  free(p);
  free(y);
}

/* ---- 5. labelled windows ------------------------------------------------------------- */

static void test_labelled(const calib_reference *r) {
  calib_monitor *m = NULL;
  calib_monitor_shard *sh = NULL;
  CHECK_OK(calib_monitor_create(&m, r, NULL));
  CHECK_OK(calib_monitor_shard_create(m, &sh));
  const size_t n = 1000;
  float *p = (float *)malloc(n * K * sizeof(float));
  int64_t *y = (int64_t *)malloc(n * sizeof(int64_t));
  calib_monitor_state st;
  gen(600, UNIFORM, 1.0, p, y, 0, NULL);
  CHECK_OK(calib_monitor_feedback(sh, p, NULL, 600, K, y));
  CHECK_OK(calib_monitor_read(m, &st));
  CHECK(st.label_windows == 0 && isnan(st.nll) && st.rows_labelled == 600);
  gen(400, UNIFORM, 1.0, p + 600 * K, y + 600, 0, NULL);
  CHECK_OK(calib_monitor_feedback(sh, p + 600 * K, NULL, 400, K, y + 600));
  CHECK_OK(calib_monitor_read(m, &st));
  double nll, brier, ece, acc;
  CHECK_OK(calib_nll(p, n, K, y, &nll));
  CHECK_OK(calib_brier(p, n, K, y, &brier));
  CHECK_OK(calib_ece(p, n, K, y, 15, &ece));
  CHECK_OK(calib_accuracy(p, n, K, y, &acc));
  CHECK(st.label_windows == 1 && st.label_window_rows == n);
  CHECK_NEAR(st.nll, nll, 1e-12);
  CHECK_NEAR(st.brier, brier, 1e-12);
  CHECK_NEAR(st.ece, ece, 1e-12);
  CHECK_NEAR(st.accuracy, acc, 1e-15);
  CHECK(st.nll_lo < st.nll && st.nll < st.nll_hi && st.brier_lo < st.brier && st.brier < st.brier_hi);
  CHECK(st.ece_lo <= st.ece && st.ece < st.ece_hi);
  /* coverage over 200 windows of the true NLL and Brier (from 200,000 rows) */
  double true_nll = 0, true_brier = 0, mean_ece = 0;
  for (int rep = 0; rep < 200; rep++) {
    gen(n, UNIFORM, 1.0, p, y, 0, NULL);
    double a, b, e;
    CHECK_OK(calib_nll(p, n, K, y, &a));
    CHECK_OK(calib_brier(p, n, K, y, &b));
    CHECK_OK(calib_ece(p, n, K, y, 15, &e));
    true_nll += a / 200, true_brier += b / 200, mean_ece += e / 200;
  }
  int cov_nll = 0, cov_brier = 0, cov_ece = 0, zero_ece = 0;
  for (int rep = 0; rep < 200; rep++) {
    gen(n, UNIFORM, 1.0, p, y, 0, NULL);
    CHECK_OK(calib_monitor_feedback(sh, p, NULL, n, K, y));
    CHECK_OK(calib_monitor_read(m, &st));
    cov_nll += st.nll_lo <= true_nll && true_nll <= st.nll_hi;
    cov_brier += st.brier_lo <= true_brier && true_brier <= st.brier_hi;
    cov_ece += st.ece_lo <= mean_ece && mean_ece <= st.ece_hi;
    zero_ece += st.ece_lo <= 0.0; /* a calibrated model: true ECE 0 */
  }
  printf("labelled windows of %zu rows, 200 windows: coverage of the 95%% intervals: NLL %.3f, Brier %.3f, "
         "ECE (of the plug-in ECE's mean %.4f at this n) %.3f; ECE interval reaching 0 (the true ECE of "
         "this calibrated model): %.3f\n", n, cov_nll / 200.0, cov_brier / 200.0, mean_ece,
         cov_ece / 200.0, zero_ece / 200.0);
  /* The count of covering windows is Binomial(200, c); over 82 seeds (41 runs,
   * NLL and Brier) it ranged 182-196 around a mean of 189.5 (c ~ 0.947, sd
   * ~3.2). The former bounds [180, 198] failed about one run in a hundred
   * (clock seeds); [172, 199] fail with probability ~1e-6 below (-5 sd) and
   * ~2e-5 above (all 200 covered) per quantity, and still catch an interval
   * that covers 85% of the time (mean 170) or always. */
  CHECK(cov_nll >= 172 && cov_nll <= 199 && cov_brier >= 172 && cov_brier <= 199);
  CHECK(cov_ece >= 180);
  calib_monitor_free(m);
  free(p);
  free(y);
}

/* ---- 6. champion/challenger trials ---------------------------------------------- */

/* Logits a x + ln pi_t (up to a constant) of n rows with labels from truth. */
static void gen_logits(size_t n, const double *truth, float *z, int64_t *y) {
  for (size_t i = 0; i < n; i++) {
    const size_t c = draw(truth);
    for (size_t j = 0; j < K; j++) z[i * K + j] = (float)(A * ((j == c ? A : 0.0) + th_normal()) + log(UNIFORM[j]));
    y[i] = (int64_t)c;
  }
}

/* A trial through a slot: champion T0 installed, pinned, challenger T1
 * installed; labelled batches of 100 rows until a decision. Returns the
 * decision; *rows = paired rows fed; *version = the slot's version after. */
static int slot_trial(const calib_reference *r, double T0, double T1, long *rows, uint64_t *version) {
  calib_slot *slot = NULL;
  calib_monitor *m = NULL;
  calib_monitor_shard *sh = NULL;
  CHECK_OK(calib_slot_create(&slot, 2));
  CHECK_OK(calib_monitor_create(&m, r, NULL));
  CHECK_OK(calib_monitor_shard_create(m, &sh));
  uint64_t v0 = 0, v1 = 0, v = 0;
  CHECK_OK(calib_slot_install(slot, th_temperature_model(T0, K), &v0));
  calib_slot_ref champion;
  CHECK_OK(calib_slot_acquire(slot, &champion)); /* the previous model, kept for scoring */
  CHECK_OK(calib_slot_install(slot, th_temperature_model(T1, K), &v1));
  CHECK_OK(calib_monitor_trial_start(m));
  float z[100 * K], p[100 * K], c[100 * K];
  int64_t y[100];
  int d = CALIB_DECISION_CONTINUE;
  *rows = 0;
  while (d == CALIB_DECISION_CONTINUE && *rows < 100000) {
    gen_logits(100, UNIFORM, z, y);
    CHECK_OK(calib_slot_apply(slot, z, 100, K, p, &v));
    CHECK(v == v1);
    CHECK_OK(calib_apply(champion.model, z, 100, K, c));
    CHECK_OK(calib_monitor_feedback(sh, p, c, 100, K, y));
    *rows += 100;
    CHECK_OK(calib_monitor_decide_slot(m, slot, &d, version));
  }
  calib_monitor_state st;
  CHECK_OK(calib_monitor_read(m, &st));
  CHECK(st.trial_decision == d && st.trial_rows == 0); /* the trial has ended */
  int again = -1;
  CHECK_OK(calib_monitor_decide(m, &again));
  CHECK(again == CALIB_DECISION_NONE);
  calib_slot_release(&champion);
  CHECK(*version == (d == CALIB_DECISION_ROLLBACK ? v0 : v1));
  calib_monitor_free(m);
  calib_slot_free(slot);
  return d;
}

/* Paired rows where champion and challenger are equally good by symmetry:
 * softmax(z + delta u) and softmax(z - delta u), u = e_0 - e_1, uniform prior. */
static void gen_equal(size_t n, float *chal, float *champ, int64_t *y) {
  float z[100 * K];
  gen_logits(n, UNIFORM, z, y);
  for (size_t i = 0; i < n; i++) {
    for (int pass = 0; pass < 2; pass++) {
      const double sg = pass ? -0.4 : 0.4;
      double e[K], sum = 0;
      for (size_t j = 0; j < K; j++) {
        const double u = j == 0 ? 1.0 : (j == 1 ? -1.0 : 0.0);
        sum += (e[j] = exp((double)z[i * K + j] + sg * u));
      }
      for (size_t j = 0; j < K; j++) (pass ? champ : chal)[i * K + j] = (float)(e[j] / sum);
    }
  }
}

static void test_trials(const calib_reference *r) {
  long rows_bad = 0, rows_good = 0;
  uint64_t v = 0;
  const int bad = slot_trial(r, 1.0, 3.0, &rows_bad, &v);
  printf("trial: challenger T = 3 against the calibrated champion: decision %d (3 = rollback) after %ld "
         "labelled rows, slot back to version %llu\n", bad, rows_bad, (unsigned long long)v);
  CHECK(bad == CALIB_DECISION_ROLLBACK && rows_bad <= 500 && v == 1);
  long rows_mild = 0;
  const int mild = slot_trial(r, 1.0, 1.5, &rows_mild, &v);
  printf("trial: challenger T = 1.5 against the calibrated champion: decision %d after %ld labelled rows\n",
         mild, rows_mild);
  CHECK(mild == CALIB_DECISION_ROLLBACK && rows_mild <= 4000 && v == 1);
  const int good = slot_trial(r, 3.0, 1.0, &rows_good, &v);
  printf("trial: calibrated challenger against a T = 3 champion: decision %d (2 = promote) after %ld rows\n",
         good, rows_good);
  CHECK(good == CALIB_DECISION_PROMOTE && rows_good <= 500 && v == 2);
  /* equally good: rollbacks at most at rate alpha = 0.05 */
  calib_monitor *m = NULL;
  calib_monitor_shard *sh = NULL;
  CHECK_OK(calib_monitor_create(&m, r, NULL));
  CHECK_OK(calib_monitor_shard_create(m, &sh));
  const int trials = 300;
  long rollbacks = 0, promotes = 0, total_rows = 0;
  float a[100 * K], b[100 * K];
  int64_t y[100];
  for (int t = 0; t < trials; t++) {
    CHECK_OK(calib_monitor_trial_start(m));
    int d = CALIB_DECISION_CONTINUE;
    while (d == CALIB_DECISION_CONTINUE) {
      gen_equal(100, a, b, y);
      CHECK_OK(calib_monitor_feedback(sh, a, b, 100, K, y));
      total_rows += 100;
      CHECK_OK(calib_monitor_decide(m, &d));
    }
    rollbacks += d == CALIB_DECISION_ROLLBACK;
    promotes += d == CALIB_DECISION_PROMOTE;
  }
  printf("trial: equally good challenger, %d trials (alpha 0.05, 8 looks of 500 rows): rollback rate %.4f, "
         "promote rate %.4f, mean %.0f rows per trial\n", trials, (double)rollbacks / trials,
         (double)promotes / trials, (double)total_rows / trials);
  CHECK(rollbacks + promotes == trials);
  CHECK(rollbacks <= trials * 0.05 + 4.5 * sqrt(trials * 0.05 * 0.95));
  calib_monitor_free(m);
}

/* ---- 7. threads ------------------------------------------------------------------- */

#define WRITERS 4
#define BATCHES 400

typedef struct { calib_monitor *m; uint64_t rng; int errors; long observed, labelled; } writer_arg;

static double wr_uniform(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) * (1.0 / 9007199254740992.0);
}

/* A batch of random rows (softmax of uniform logits) and labels. */
static void wr_batch(uint64_t *rng, size_t n, float *p, int64_t *y) {
  for (size_t i = 0; i < n; i++) {
    double e[K], sum = 0;
    for (size_t j = 0; j < K; j++) sum += (e[j] = exp(4 * wr_uniform(rng)));
    for (size_t j = 0; j < K; j++) p[i * K + j] = (float)(e[j] / sum);
    y[i] = (int64_t)(wr_uniform(rng) * K);
  }
}

static int writers_done = 0;

/* No CHECK here: the harness's counters belong to the main thread. */
static void *writer(void *arg) {
  writer_arg *a = (writer_arg *)arg;
  calib_monitor_shard *sh = NULL;
  if (calib_monitor_shard_create(a->m, &sh) != CALIB_OK) a->errors++;
  float p[37 * K];
  int64_t y[37];
  for (int b = 0; sh && b < BATCHES; b++) {
    const size_t n = 1 + (size_t)(wr_uniform(&a->rng) * 37);
    wr_batch(&a->rng, n, p, y);
    a->errors += calib_monitor_observe(sh, p, n, K) != CALIB_OK;
    a->observed += (long)n;
    if (b % 3 == 0) {
      a->errors += calib_monitor_feedback(sh, p, b % 2 ? p : NULL, n, K, y) != CALIB_OK;
      a->labelled += (long)n;
    }
    sched_yield(); /* interleave with the reader on a small machine */
    if (b == BATCHES / 2) { /* a thread that ends and restarts: its counts stay */
      calib_monitor_shard_free(sh);
      if (calib_monitor_shard_create(a->m, &sh) != CALIB_OK) a->errors++;
    }
  }
  calib_monitor_shard_free(sh);
  __atomic_add_fetch(&writers_done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void test_threads(const calib_reference *r) {
  calib_monitor *m = NULL;
  const double opts[] = {CALIB_MO_WINDOW, 100, CALIB_MO_LABEL_WINDOW, 100, CALIB_MO_EM_ROWS, 200, 0};
  CHECK_OK(calib_monitor_create(&m, r, opts));
  pthread_t t[WRITERS];
  writer_arg a[WRITERS];
  for (int i = 0; i < WRITERS; i++) {
    memset(&a[i], 0, sizeof a[i]);
    a[i].m = m;
    a[i].rng = th_seed_value * 7919 + (uint64_t)i + 1;
    pthread_create(&t[i], NULL, writer, &a[i]);
  }
  calib_monitor_state st;
  uint64_t last = 0;
  int monotonic = 1, reads = 0, em_ok = 1;
  /* read and merge while the writers run */
  for (; reads < 100 || __atomic_load_n(&writers_done, __ATOMIC_SEQ_CST) < WRITERS; reads++) {
    CHECK_OK(calib_monitor_read(m, &st));
    monotonic &= st.rows_observed >= last;
    last = st.rows_observed;
    double pr[K];
    if (calib_monitor_prior(m, pr, K, NULL) == CALIB_OK) {
      double sum = 0;
      for (int j = 0; j < K; j++) sum += pr[j];
      em_ok &= fabs(sum - 1) < 1e-9 && st.em_rows <= (uint64_t)WRITERS * 200;
    }
  }
  long observed = 0, labelled = 0;
  int errors = 0;
  for (int i = 0; i < WRITERS; i++) {
    pthread_join(t[i], NULL);
    observed += a[i].observed, labelled += a[i].labelled, errors += a[i].errors;
  }
  CHECK_OK(calib_monitor_read(m, &st));
  printf("threads: %d writers, %d concurrent reads: %llu rows observed (%ld fed), %llu labelled (%ld fed), "
         "%llu windows\n", WRITERS, reads, (unsigned long long)st.rows_observed, observed,
         (unsigned long long)st.rows_labelled, labelled, (unsigned long long)st.windows);
  CHECK(errors == 0 && monotonic && em_ok);
  CHECK(st.rows_observed == (uint64_t)observed && st.rows_labelled == (uint64_t)labelled);
  CHECK(st.windows > 0 && st.label_windows > 0);
  calib_monitor_free(m);
}

/* ---- out of memory: every allocation of the create functions ----------------------- */

static void test_oom(const calib_reference *r) {
  float p[4 * K];
  for (int i = 0; i < 4 * K; i++) p[i] = 0.2f;
  int ok_ref = 0, ok_mon = 0, ok_shard = 0;
  for (size_t nth = 1; nth < 40 && !(ok_ref && ok_mon && ok_shard); nth++) {
    calib_reference *rr = NULL;
    calib_monitor *m = NULL;
    calib_monitor_shard *sh = NULL;
    int st;
    calib__alloc_fail_at(nth, 1);
    st = calib_reference_compute(&rr, p, 4, K, NULL);
    calib__alloc_fail_at(0, 0);
    if (st == CALIB_OK) ok_ref = 1;
    else CHECK(st == CALIB_E_NOMEM && rr == NULL);
    calib__alloc_fail_at(nth, 1);
    st = calib_monitor_create(&m, r, NULL);
    calib__alloc_fail_at(0, 0);
    if (st == CALIB_OK) {
      ok_mon = 1;
      calib__alloc_fail_at(nth, 1);
      st = calib_monitor_shard_create(m, &sh);
      calib__alloc_fail_at(0, 0);
      if (st == CALIB_OK) ok_shard = 1;
      else CHECK(st == CALIB_E_NOMEM && sh == NULL);
    } else {
      CHECK(st == CALIB_E_NOMEM && m == NULL);
    }
    calib_monitor_free(m);
    calib_reference_free(rr);
  }
  CHECK(ok_ref && ok_mon && ok_shard);
}

/* ---- k == 1: the binary problem as two classes ------------------------------------- */

static void test_binary(void) {
  const size_t n = 3000;
  float *p = (float *)malloc(n * sizeof(float));
  int64_t *y = (int64_t *)malloc(n * sizeof(int64_t));
  for (size_t i = 0; i < n; i++) { /* P(y = 1 | x) = sigmoid(2 x), prior 1/2 */
    y[i] = th_uniform() < 0.5;
    p[i] = (float)(1 / (1 + exp(-2.0 * ((y[i] ? 1.0 : -1.0) + th_normal()))));
  }
  calib_reference *r = NULL;
  CHECK_OK(calib_reference_compute(&r, p, n, 1, y));
  calib_monitor *m = NULL;
  calib_monitor_shard *sh = NULL;
  const double opts[] = {CALIB_MO_LABEL_WINDOW, 3000, 0};
  CHECK_OK(calib_monitor_create(&m, r, opts));
  CHECK_OK(calib_monitor_shard_create(m, &sh));
  CHECK_ERR(calib_monitor_observe(sh, p, n, 2), CALIB_E_SHAPE);
  y[5] = 2;
  CHECK_ERR(calib_monitor_feedback(sh, p, NULL, n, 1, y), CALIB_E_LABEL);
  y[5] = 1;
  CHECK_OK(calib_monitor_observe(sh, p, n, 1));
  CHECK_OK(calib_monitor_feedback(sh, p, NULL, n, 1, y));
  calib_monitor_state st;
  CHECK_OK(calib_monitor_read(m, &st));
  double nll, brier, ece, pr[2];
  CHECK_OK(calib_nll(p, n, 1, y, &nll));
  CHECK_OK(calib_brier(p, n, 1, y, &brier));
  CHECK_OK(calib_ece(p, n, 1, y, 15, &ece));
  /* one read closes one window holding every row since the last */
  CHECK(st.windows == 1 && st.window_rows == n && st.label_windows == 1 && st.em_rows == 1000);
  CHECK(st.p_confidence > 1e-4 && st.p_class > 1e-4); /* the reference's own rows */
  CHECK_NEAR(st.nll, nll, 1e-12);
  CHECK_NEAR(st.brier, brier, 1e-12);
  CHECK_NEAR(st.ece, ece, 1e-12);
  size_t c = 0;
  CHECK_OK(calib_monitor_prior(m, pr, 2, &c));
  CHECK(c == 2);
  /* the ring holds the last 1000 rows: the same EM on them directly */
  double rp[2], want[2];
  CHECK_OK(calib_monitor_reference_prior(m, rp, 2, NULL));
  CHECK_OK(calib_prior_em(p + n - 1000, 1000, 1, rp, 1e-6, 1000, want, NULL));
  CHECK_NEAR(pr[0], want[0], 1e-15);
  CHECK_NEAR(pr[1], want[1], 1e-15);
  CHECK_NEAR(pr[0] + pr[1], 1.0, 1e-12);
  calib_monitor_free(m);
  calib_reference_free(r);
  free(p);
  free(y);
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  test_chi2_sf();
  test_reference();
  test_monitor_errors();
  calib_reference *r = make_reference(NREF);
  test_false_alarms();
  test_detection(r);
  test_em(r);
  test_labelled(r);
  test_trials(r);
  test_threads(r);
  test_oom(r);
  test_binary();
  calib_reference_free(r);
  TEST_MAIN_END();
}
