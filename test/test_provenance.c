/* test_provenance.c -- models that remember where they came from (model
 * format version 2; include/calib.h's provenance block, src/model/format.c).
 *
 *  - Version-1 golden files load as before: format_version 1, no reference,
 *    calib_model_reference CALIB_E_UNSUPPORTED, and stripping gives their
 *    bytes back.
 *  - A fit with provenance (temperature k = 5, Platt k = 1 on probabilities,
 *    isotonic k = 3 with weights): the reference equals calib_reference_compute
 *    on the model's own calib_apply output (recomputed here), prior and
 *    histograms exactly; NLL/ECE/Brier before and after equal this file's own
 *    double-precision computation; n, tag and creation time are right; the
 *    calibrated map is bit-identical to the fit without provenance, whose bytes
 *    are version 1 and equal harness.h's independent writer's.
 *  - Binary isotonic fits, whose provenance comes from the rows grouped by
 *    score: the same checks against per-row computations, to 1e-12, on
 *    ties, rows of weight 0 at and beyond the first and last threshold,
 *    probabilities with exact 0s and 1s, both directions, strict ramps,
 *    clipped values, CALIB_OOB_ERROR and more scores than a block; every ISA.
 *  - Save/load round trip, the firmware loader applies a version-2 model bit
 *    for bit, calib_model_with_reference (re-tag, strip, errors),
 *    calib_fitter_set_provenance errors.
 *  - Corruption: every truncation and bit flip of a fitted version-2 model,
 *    and ~30 hand-made version-2 models with valid CRCs breaking one rule each
 *    (harness.h's independent writer): CALIB_E_FORMAT naming the check, from
 *    both loaders of this library (the firmware core build, which skips the
 *    metadata unread, is test/sh/test_core_v2.sh's).
 *  - Allocation failure at every allocation of a fit with provenance.
 * Usage: test_provenance [seed] */
#include "harness.h"
#include "internal.h"
#include "calib_core.h"
#include "kernels.h"
#include <time.h>

/* ---- data ------------------------------------------------------------------------ */

/* n rows of k logits whose label is drawn from softmax(2 z) (so T ~ 0.5). */
static void make_data(size_t n, size_t k, float *x, int64_t *y) {
  for (size_t i = 0; i < n; i++) {
    double p[16], s = 0;
    for (size_t j = 0; j < k; j++) x[i * k + j] = (float)(1.5 * th_normal());
    if (k == 1) {
      y[i] = th_uniform() < 1.0 / (1.0 + exp(-2.0 * x[i])) ? 1 : 0;
      continue;
    }
    for (size_t j = 0; j < k; j++) s += (p[j] = exp(2.0 * x[i * k + j]));
    double u = th_uniform() * s;
    size_t c = 0;
    while (c + 1 < k && u >= p[c]) u -= p[c++];
    y[i] = (int64_t)c;
  }
}

/* ---- independent measures, in double ------------------------------------------------- */
typedef struct { double nll, ece, brier; } measures;

/* Of float32 probabilities p (n x k; k == 1: P(y = 1)): the mean NLL, the
 * 15-bin top-label ECE ((b/15, (b+1)/15], 0 in bin 0) and the Brier score. */
static measures measure(const float *p, size_t n, size_t k, const int64_t *y) {
  double nll = 0, brier = 0, cnt[15] = {0}, acc[15] = {0}, conf[15] = {0};
  for (size_t i = 0; i < n; i++) {
    const float *r = p + i * k;
    double c;
    int64_t top;
    if (k == 1) {
      const double q = r[0];
      nll += y[i] ? -log(q) : -log(1.0 - q);
      brier += (q - (double)y[i]) * (q - (double)y[i]);
      top = q > 0.5;
      c = top ? q : 1.0 - q;
    } else {
      nll -= log((double)r[y[i]]);
      top = 0;
      for (size_t j = 0; j < k; j++) {
        const double d = (double)r[j] - (j == (size_t)y[i] ? 1.0 : 0.0);
        brier += d * d;
        if (r[j] > r[top]) top = (int64_t)j;
      }
      c = r[top];
    }
    size_t b = 0; /* smallest b with c <= (b+1)/15 */
    while (b < 14 && c * 15 > (double)(b + 1)) b++;
    cnt[b] += 1, acc[b] += top == y[i], conf[b] += c;
  }
  double ece = 0;
  for (size_t b = 0; b < 15; b++) ece += fabs(acc[b] - conf[b]);
  measures m = {nll / (double)n, ece / (double)n, brier / (double)n};
  return m;
}

/* |a - b| <= rel |b|, or both the same infinity. */
#define CHECK_SAME(a, b, rel) do { const double a_ = (a), b_ = (b); \
    if (isinf(a_) || isinf(b_)) CHECK(a_ == b_); else CHECK_REL(a_, b_, rel); } while (0)

/* softmax / sigmoid of logits in double, rounded to float. */
static void soft(const float *x, size_t n, size_t k, double beta, float *p) {
  for (size_t i = 0; i < n; i++) {
    if (k == 1) {
      p[i] = (float)(1.0 / (1.0 + exp(-beta * x[i])));
      continue;
    }
    double mx = -INFINITY, s = 0;
    for (size_t j = 0; j < k; j++) mx = fmax(mx, beta * x[i * k + j]);
    for (size_t j = 0; j < k; j++) s += exp(beta * x[i * k + j] - mx);
    for (size_t j = 0; j < k; j++) p[i * k + j] = (float)(exp(beta * x[i * k + j] - mx) / s);
  }
}

static void check_reference_equals(const calib_model *m, const float *probs, size_t n, size_t k,
                                   const int64_t *y) {
  calib_reference *mine = NULL, *theirs = NULL;
  CHECK_OK(calib_model_reference(m, &mine));
  CHECK_OK(calib_reference_compute(&theirs, probs, n, k, y));
  if (!mine || !theirs) goto out;
  CHECK(calib_reference_classes(mine) == k);
  for (int what = CALIB_REF_PRIOR; what <= CALIB_REF_METRICS; what++) {
    double a[64], b[64];
    size_t ca = 0, cb = 0;
    CHECK_OK(calib_reference_get(mine, what, a, 64, &ca));
    CHECK_OK(calib_reference_get(theirs, what, b, 64, &cb));
    CHECK(ca == cb);
    for (size_t i = 0; i < ca && i < cb; i++) {
      /* ECE (entry 2) sums |correct - conf| per bin: on its own fit rows an
       * isotonic map is calibrated per block, so it is rounding noise near 0
       * (3e-9 at n = 5000): absolute, as check_fit's */
      if (what == CALIB_REF_METRICS && i == 2) CHECK_NEAR(a[i], b[i], 1e-12);
      else if (what == CALIB_REF_METRICS) CHECK_SAME(a[i], b[i], 1e-12);
      else if (a[i] != b[i]) TH_FAIL("reference array %d entry %zu: %.17g vs %.17g", what, i, a[i], b[i]);
    }
  }
out:
  calib_reference_free(mine);
  calib_reference_free(theirs);
}

static uint8_t *model_bytes(const calib_model *m, size_t *len) {
  *len = calib_model_size(m);
  uint8_t *b = malloc(*len + 8);
  size_t w = 0;
  CHECK_OK(calib_model_save(m, b, *len, &w));
  CHECK(w == *len);
  return b;
}

/* ---- golden version-1 files ---------------------------------------------------------- */
static void test_v1_golden(void) {
  static const char *const files[] = {"test/golden/temperature_k10_v1.calib", "test/golden/platt_k3_v1.calib",
                                      "test/golden/beta_k1_v1.calib", "test/golden/isotonic_k2_v1.calib",
                                      "test/golden/histogram_k1_v1.calib"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    size_t len = 0, l2 = 0;
    uint8_t *b = th_read_file(files[i], &len);
    if (!b) {
      TH_FAIL("%s missing", files[i]);
      continue;
    }
    calib_model *m = NULL, *s = NULL;
    CHECK_OK(calib_model_load(&m, b, len));
    if (!m) {
      free(b);
      continue;
    }
    calib_model_info in;
    memset(&in, 0x5A, sizeof in);
    CHECK_OK(calib_model_info_get(m, &in));
    CHECK(in.format_version == 1 && in.has_reference == 0 && in.created_unix == 0 && in.n == 0);
    CHECK(isnan(in.nll_before) && isnan(in.ece_before) && isnan(in.brier_before));
    CHECK(isnan(in.nll_after) && isnan(in.ece_after) && isnan(in.brier_after) && in.tag[0] == 0);
    calib_reference *r = (calib_reference *)(uintptr_t)1;
    CHECK_ERR(calib_model_reference(m, &r), CALIB_E_UNSUPPORTED);
    CHECK(r == (calib_reference *)(uintptr_t)1);
    CHECK_OK(calib_model_with_reference(&s, m, NULL, NULL, 0)); /* a version-1 copy: the same bytes */
    if (s) {
      uint8_t *c = model_bytes(s, &l2);
      CHECK(l2 == len && memcmp(b, c, len) == 0);
      free(c);
    }
    calib_model_free(s);
    calib_model_free(m);
    free(b);
  }
}

/* ---- fits -------------------------------------------------------------------------- */

/* Fits method on (x, y, w) with provenance on and off and checks everything the
 * model records. before: the uncalibrated probabilities (computed by the caller),
 * whose measures the before metrics must equal to before_rel. */
static void check_fit(int method, const double *opts, const float *x, size_t n, size_t k, const int64_t *y,
                      const double *w, const float *before, double before_rel, const char *tag) {
  calib_fitter *f = NULL;
  calib_model *m = NULL, *m1 = NULL;
  CHECK_OK(calib_fitter_create(&f, method));
  if (!f) return;
  for (const double *o = opts; o && o[0] != 0; o += 2) CHECK_OK(calib_fitter_set(f, (int)o[0], o[1]));
  CHECK_OK(calib_fitter_set_provenance(f, 1, tag));
  const int64_t t0 = (int64_t)time(NULL);
  CHECK_OK(calib_fit(f, x, n, k, y, w, &m));
  const int64_t t1 = (int64_t)time(NULL);
  CHECK_OK(calib_fitter_set_provenance(f, 0, NULL));
  CHECK_OK(calib_fit(f, x, n, k, y, w, &m1));
  calib_fitter_free(f);
  if (!m || !m1) goto out;
  float *pa = malloc(n * k * sizeof(float)), *p1 = malloc(n * k * sizeof(float));
  CHECK_OK(calib_apply(m, x, n, k, pa));
  CHECK_OK(calib_apply(m1, x, n, k, p1));
  CHECK(memcmp(pa, p1, n * k * sizeof(float)) == 0); /* provenance never changes the map */
  calib_model_info in;
  CHECK_OK(calib_model_info_get(m, &in));
  CHECK(in.format_version == 2 && in.has_reference == 1 && in.n == (double)n);
  CHECK(in.created_unix >= t0 && in.created_unix <= t1);
  CHECK(strcmp(in.tag, tag ? tag : "") == 0);
  /* before: the library's float32 softmax kernels (documented to 1e-6) against
   * this file's double softmax; after: the same float32 probabilities */
  const measures mb = measure(before, n, k, y), ma = measure(pa, n, k, y);
  CHECK_SAME(in.nll_before, mb.nll, before_rel);
  CHECK_SAME(in.brier_before, mb.brier, before_rel);
  CHECK_NEAR(in.ece_before, mb.ece, before_rel);
  CHECK_SAME(in.nll_after, ma.nll, 1e-12);
  CHECK_SAME(in.brier_after, ma.brier, 1e-12);
  CHECK_NEAR(in.ece_after, ma.ece, 1e-12);
  check_reference_equals(m, pa, n, k, y); /* unweighted, whatever w is */
  /* the version-1 model: format 1, and its parameters with the same bytes a
   * model rebuilt from them has; the version-2 one holds the same parameters */
  calib_model_info i1;
  CHECK_OK(calib_model_info_get(m1, &i1));
  CHECK(i1.format_version == 1 && !i1.has_reference);
  CHECK(m->nsections == m1->nsections);
  for (size_t s = 0; s < m->nsections && s < m1->nsections; s++)
    CHECK(m->sec[s].tag == m1->sec[s].tag && m->sec[s].count == m1->sec[s].count &&
          memcmp(m->sec[s].data, m1->sec[s].data, m->sec[s].count * 8) == 0);
  /* round trip through bytes; the firmware loader on them */
  size_t len = 0;
  uint8_t *b = model_bytes(m, &len);
  calib_model *m2 = NULL;
  CHECK_OK(calib_model_load(&m2, b, len));
  static uint64_t ws[CALIB_MODEL_WORKSPACE_MAX / 8];
  const calib_model *ms = NULL;
  CHECK_OK(calib_model_init_static(&ms, ws, sizeof ws, b, len));
  if (m2 && ms) {
    calib_model_info i2;
    CHECK_OK(calib_model_info_get(m2, &i2));
    CHECK(memcmp(&i2, &in, sizeof in) == 0);
    CHECK(ms->nsections == m1->nsections);
    CHECK_OK(calib_apply(m2, x, n, k, p1));
    CHECK(memcmp(pa, p1, n * k * sizeof(float)) == 0);
    memset(p1, 0, n * k * sizeof(float));
    CHECK_OK(calib_apply(ms, x, n, k, p1));
    CHECK(memcmp(pa, p1, n * k * sizeof(float)) == 0);
  }
  calib_model_free(m2);
  free(b);
  free(pa);
  free(p1);
out:
  calib_model_free(m);
  calib_model_free(m1);
}

static void test_fits(void) {
  const size_t n = 3000, nb = 10000; /* nb: the multi-block case below */
  float *x = malloc(nb * 16 * sizeof(float)), *before = malloc(nb * 16 * sizeof(float));
  int64_t *y = malloc(nb * sizeof(int64_t));
  double *w = malloc(nb * sizeof(double));
  /* temperature, k = 5, a tag with a multi-byte character */
  make_data(n, 5, x, y);
  soft(x, n, 5, 1.0, before);
  check_fit(CALIB_METHOD_TEMPERATURE, NULL, x, n, 5, y, NULL, before, 1e-6, "run 7 \xc3\xa9t\xc3\xa9");
  /* temperature, k = 16 (a full AVX-512 vector per row: prob_sumsq_argmax's
   * main loop), weighted with zeros: the statistics stay unweighted */
  make_data(n, 16, x, y);
  soft(x, n, 16, 1.0, before);
  for (size_t i = 0; i < n; i++) w[i] = i % 4 == 0 ? 0.0 : 0.5 + th_uniform();
  check_fit(CALIB_METHOD_TEMPERATURE, NULL, x, n, 16, y, w, before, 1e-6, "k16");
  /* provenance goes over the rows in blocks of 65536 / k: n = 10000 at
   * k = 16 is three blocks, the last one partial (the cases above fit in
   * one); with tol 1e-2 on logits at T ~ 1 (x doubled) the fit stops after
   * fewer evaluations */
  make_data(nb, 16, x, y);
  soft(x, nb, 16, 1.0, before);
  for (size_t i = 0; i < nb; i++) w[i] = i % 5 == 0 ? 0.0 : 0.5 + th_uniform();
  check_fit(CALIB_METHOD_TEMPERATURE, NULL, x, nb, 16, y, w, before, 1e-6, "blocks");
  for (size_t i = 0; i < nb * 16; i++) x[i] *= 2.0f;
  soft(x, nb, 16, 1.0, before);
  const double loose[] = {CALIB_P_TOL, 1e-2, 0};
  check_fit(CALIB_METHOD_TEMPERATURE, loose, x, nb, 16, y, NULL, before, 1e-6, "");
  /* Platt on probabilities, k = 1: "before" are the inputs themselves */
  make_data(n, 1, x, y);
  for (size_t i = 0; i < n; i++) x[i] = (float)(1.0 / (1.0 + exp(-0.5 * x[i])));
  const double platt_opts[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, 0};
  check_fit(CALIB_METHOD_PLATT, platt_opts, x, n, 1, y, NULL, x, 1e-6, NULL);
  /* isotonic, k = 3, weighted: the reference stays unweighted */
  make_data(n, 3, x, y);
  soft(x, n, 3, 1.0, before);
  for (size_t i = 0; i < n; i++) w[i] = i % 3 == 0 ? 0.0 : 0.5 + th_uniform();
  check_fit(CALIB_METHOD_ISOTONIC, NULL, x, n, 3, y, w, before, 1e-6, "");
  free(x);
  free(before);
  free(y);
  free(w);
}

/* ---- binary isotonic: the provenance from the rows grouped by score ---------------------- */

/* Scores on a grid of 1/8 (many ties), labels from sigmoid(2 x), weights in
 * [0.5, 1.5); then rows 0..7 get weight 0: rows 0..3 below and above every
 * score of positive weight (clipped by the model), rows 4..7 at the smallest
 * and largest such score (the first and last threshold), between two grid
 * points, and on a grid point. */
static void make_ties(size_t n, float *x, int64_t *y, double *w) {
  float lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    x[i] = (float)(round(8.0 * 1.5 * th_normal()) / 8.0);
    y[i] = th_uniform() < 1.0 / (1.0 + exp(-2.0 * x[i])) ? 1 : 0;
    w[i] = 0.5 + th_uniform();
  }
  for (size_t i = 8; i < n; i++) lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
  const float extra[8] = {lo - 3.0f, hi + 5.0f, lo - 0.5f, hi + 0.25f, lo, hi, 0.0625f, 0.125f};
  for (size_t i = 0; i < 8; i++) {
    x[i] = extra[i];
    y[i] = (int64_t)(i % 2);
    w[i] = 0.0;
  }
}

/* The binary isotonic fit hands provenance its rows grouped by distinct score
 * (fit_provenance.c, add_groups); check_fit compares every metric and the
 * reference with this file's own per-row computation on calib_apply's output,
 * and the before metrics with it on the library's sigmoid of each row, both
 * to 1e-12. On every ISA (the terms come from applyd's bin_prov_rows on
 * AVX2 / AVX-512, from libm on scalar). */
static void test_isotonic_grouped(void) {
  static const char *const isas[] = {"scalar", "avx2", "avx512"};
  const size_t n = 5000, nb = 70000; /* nb: more distinct scores than a block (65536) */
  float *x = malloc(nb * sizeof(float)), *p = malloc(nb * sizeof(float)), *before = malloc(nb * sizeof(float));
  int64_t *y = malloc(nb * sizeof(int64_t));
  double *w = malloc(nb * sizeof(double));
  const char *was = calib_isa();
  const double clip[] = {CALIB_P_ISO_Y_MIN, 0.1, CALIB_P_ISO_Y_MAX, 0.9, 0};
  const double dec_strict[] = {CALIB_P_INPUT, CALIB_INPUT_SCORES, CALIB_P_ISO_INCREASING, -1,
                               CALIB_P_ISO_STRICT, 0.1, 0};
  const double probs[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, 0};
  const double oob[] = {CALIB_P_ISO_OUT_OF_BOUNDS, CALIB_OOB_ERROR, 0};
  for (size_t t = 0; t < sizeof isas / sizeof isas[0]; t++) {
    if (!calib__kernels_force(isas[t])) continue;
    make_ties(n, x, y, w);
    CHECK_OK(calib_sigmoid(x, n, 1.0f, before));
    check_fit(CALIB_METHOD_ISOTONIC, NULL, x, n, 1, y, w, before, 1e-12, "ties");
    check_fit(CALIB_METHOD_ISOTONIC, clip, x, n, 1, y, NULL, before, 1e-12, "");
    for (size_t i = 0; i < n; i++) x[i] = -x[i]; /* the labels now fall with x: auto picks decreasing */
    CHECK_OK(calib_sigmoid(x, n, 1.0f, before));
    check_fit(CALIB_METHOD_ISOTONIC, dec_strict, x, n, 1, y, w, before, 1e-12, "");
    /* probabilities with exact 0s (label 0 only, so the fitted 0 there meets no
     * label 1: a count of 0 times an infinite term must add nothing) and 1s */
    for (size_t i = 0; i < n; i++) p[i] = i >= 8 && i % 50 == 0 ? 0.0f : (float)(1.0 / (1.0 + exp(x[i])));
    for (size_t i = 0; i < n; i++) y[i] = p[i] == 0.0f ? 0 : y[i];
    for (size_t i = 8; i < n; i += 97) p[i] = 1.0f, y[i] = 1;
    check_fit(CALIB_METHOD_ISOTONIC, probs, p, n, 1, y, w, p, 1e-12, "");
    /* CALIB_OOB_ERROR: the rows of weight 0 beyond the ends make the provenance
     * fail as calib_apply on them does; without them, or without provenance, it fits */
    make_ties(n, x, y, w);
    calib_fitter *f = NULL;
    calib_model *m = NULL;
    CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_ISOTONIC));
    CHECK_OK(calib_fitter_set(f, CALIB_P_ISO_OUT_OF_BOUNDS, CALIB_OOB_ERROR));
    CHECK_ERR(calib_fit(f, x, n, 1, y, w, &m), CALIB_E_DOMAIN);
    CHECK(m == NULL);
    CHECK_OK(calib_fitter_set_provenance(f, 0, NULL));
    CHECK_OK(calib_fit(f, x, n, 1, y, w, &m));
    calib_model_free(m);
    calib_fitter_free(f);
    CHECK_OK(calib_sigmoid(x + 4, n - 4, 1.0f, before));
    check_fit(CALIB_METHOD_ISOTONIC, oob, x + 4, n - 4, 1, y + 4, w + 4, before, 1e-12, "");
    /* two blocks of scores, unweighted, nearly all distinct */
    make_data(nb, 1, x, y);
    CHECK_OK(calib_sigmoid(x, nb, 1.0f, before));
    check_fit(CALIB_METHOD_ISOTONIC, NULL, x, nb, 1, y, NULL, before, 1e-12, "blocks");
  }
  calib__kernels_force(was);
  free(x);
  free(p);
  free(before);
  free(y);
  free(w);
}

/* ---- calib_model_with_reference, calib_fitter_set_provenance --------------------------- */
static void test_with_reference(void) {
  const size_t n = 500, k = 4;
  float x[500 * 4];
  int64_t y[500];
  make_data(n, k, x, y);
  calib_fitter *f = NULL;
  calib_model *m = NULL, *t = NULL, *c = NULL;
  calib_reference *r = NULL, *r5 = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  CHECK_OK(calib_fit(f, x, n, k, y, NULL, &m));
  CHECK_OK(calib_temperature_model(&t, k, 0.75));
  if (!m || !t) goto out;
  calib_model_info in, ic;
  CHECK_OK(calib_model_info_get(m, &in));
  CHECK_OK(calib_model_reference(m, &r));
  /* re-tag with the model's own reference: before metrics kept */
  CHECK_OK(calib_model_with_reference(&c, m, r, "new tag", 12345));
  if (c) {
    CHECK_OK(calib_model_info_get(c, &ic));
    CHECK(ic.created_unix == 12345 && strcmp(ic.tag, "new tag") == 0 && ic.has_reference && ic.n == in.n);
    CHECK(ic.nll_before == in.nll_before && ic.ece_before == in.ece_before && ic.brier_before == in.brier_before);
    CHECK(ic.nll_after == in.nll_after && ic.ece_after == in.ece_after && ic.brier_after == in.brier_after);
  }
  calib_model_free(c), c = NULL;
  /* a temperature model built elsewhere, given a reference computed on other rows */
  float p[500 * 4];
  CHECK_OK(calib_apply(t, x, 250, k, p));
  CHECK_OK(calib_reference_compute(&r5, p, 250, k, y));
  CHECK_OK(calib_model_with_reference(&c, t, r5, NULL, 0));
  if (c) {
    CHECK_OK(calib_model_info_get(c, &ic));
    CHECK(ic.format_version == 2 && ic.has_reference && ic.n == 250 && ic.created_unix == 0 && ic.tag[0] == 0);
    CHECK(isnan(ic.nll_before) && isnan(ic.ece_before) && isnan(ic.brier_before));
    const measures ma = measure(p, 250, k, y);
    CHECK_SAME(ic.nll_after, ma.nll, 1e-12);
    check_reference_equals(c, p, 250, k, y);
    float q[500 * 4];
    CHECK_OK(calib_apply(c, x, n, k, q));
    CHECK_OK(calib_apply(t, x, n, k, p));
    CHECK(memcmp(p, q, sizeof p) == 0);
    /* strip it again: the bytes of the model built elsewhere */
    calib_model *s = NULL;
    CHECK_OK(calib_model_with_reference(&s, c, NULL, NULL, 0));
    if (s) {
      size_t l1, l2;
      uint8_t *b1 = model_bytes(s, &l1), *b2 = model_bytes(t, &l2);
      CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0);
      free(b1), free(b2);
    }
    calib_model_free(s);
  }
  calib_model_free(c), c = NULL;
  /* a tag alone */
  CHECK_OK(calib_model_with_reference(&c, t, NULL, "only a tag", 0));
  if (c) {
    CHECK_OK(calib_model_info_get(c, &ic));
    CHECK(ic.format_version == 2 && !ic.has_reference && ic.n == 0 && strcmp(ic.tag, "only a tag") == 0);
    calib_reference *none = NULL;
    CHECK_ERR(calib_model_reference(c, &none), CALIB_E_UNSUPPORTED);
  }
  calib_model_free(c), c = NULL;
  /* errors, and *out untouched */
  char long_tag[300];
  memset(long_tag, 'a', sizeof long_tag);
  long_tag[255] = 0;
  CHECK_OK(calib_model_with_reference(&c, t, NULL, long_tag, 1)); /* 255 bytes: fine */
  calib_model_free(c), c = NULL;
  long_tag[255] = 'a', long_tag[256] = 0;
  calib_model *keep = (calib_model *)(uintptr_t)8;
  c = keep;
  const char *const bad_tags[] = {long_tag, "\xc0\xaf", "\xed\xa0\x80", "ab\xe2\x9c", "\xf4\x90\x80\x80",
                                         "\x80", "\xff"};
  for (size_t i = 0; i < sizeof bad_tags / sizeof bad_tags[0]; i++)
    CHECK_ERR(calib_model_with_reference(&c, t, NULL, bad_tags[i], 0), CALIB_E_ARG);
  CHECK_ERR(calib_model_with_reference(&c, t, NULL, NULL, -1), CALIB_E_ARG);
  CHECK_ERR(calib_model_with_reference(&c, t, NULL, NULL, ((int64_t)1 << 53) + 1), CALIB_E_ARG);
  CHECK_ERR(calib_model_with_reference(NULL, t, NULL, NULL, 0), CALIB_E_ARG);
  CHECK_ERR(calib_model_with_reference(&c, NULL, NULL, NULL, 0), CALIB_E_ARG);
  calib_model *t3 = NULL;
  CHECK_OK(calib_temperature_model(&t3, 3, 1.0));
  CHECK_ERR(calib_model_with_reference(&c, t3, r, NULL, 0), CALIB_E_SHAPE);
  CHECK(c == keep);
  calib_model_free(t3);
  CHECK_ERR(calib_model_info_get(NULL, &ic), CALIB_E_ARG);
  CHECK_ERR(calib_model_info_get(m, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_model_reference(NULL, &r5), CALIB_E_ARG);
  /* calib_fitter_set_provenance: errors leave the fitter as it was */
  CHECK_OK(calib_fitter_set_provenance(f, 1, "kept"));
  CHECK_ERR(calib_fitter_set_provenance(f, 2, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set_provenance(f, 0, "a tag without provenance"), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set_provenance(f, 1, long_tag), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set_provenance(f, 1, "\xed\xa0\x80"), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set_provenance(NULL, 1, NULL), CALIB_E_ARG);
  calib_model *m3 = NULL;
  CHECK_OK(calib_fit(f, x, n, k, y, NULL, &m3));
  if (m3) {
    CHECK_OK(calib_model_info_get(m3, &ic));
    CHECK(strcmp(ic.tag, "kept") == 0 && ic.format_version == 2);
  }
  calib_model_free(m3);
out:
  calib_reference_free(r);
  calib_reference_free(r5);
  calib_model_free(m);
  calib_model_free(t);
  calib_fitter_free(f);
}

/* ---- corruption -------------------------------------------------------------------- */

static void expect_v2_error(const uint8_t *b, size_t len, const char *arg, const char *check, int core_ok,
                            int line) {
  calib_model *m = NULL;
  calib_error e;
  memset(&e, 0, sizeof e);
  const int st = calib_model_load_ex(&m, b, len, &e);
  th_checks++;
  if (st != CALIB_E_FORMAT || m != NULL || strcmp(e.arg ? e.arg : "", arg) != 0 || !strstr(e.check ? e.check : "", check) ||
      !strstr(e.message, check))
    TH_FAIL("line %d: status %d, arg '%s', check '%s', message '%s' (wanted '%s: %s')", line, st,
            e.arg ? e.arg : "", e.check ? e.check : "", e.message, arg, check);
  calib_model_free(m);
  /* calib_model_init_static of this (full) library validates as the copying
   * loader; the firmware core build skips metadata (test/sh/test_core_v2.sh
   * checks that one on the same kind of bytes). */
  uint64_t *al = malloc(len + 8), ws[CALIB_MODEL_WORKSPACE_MAX / 8];
  memcpy(al, b, len);
  const calib_model *ms = NULL;
  const int sc = calib_model_init_static(&ms, ws, sizeof ws, al, len);
  th_checks++;
  if (sc != CALIB_E_FORMAT || ms != NULL) TH_FAIL("line %d: init_static returned %d", line, sc);
  (void)core_ok;
  free(al);
}

/* The golden version-2 sections with one edit, through the independent writer. */
#define EDIT_SECS(stmt) do { memcpy(s, th_g2_secs, sizeof th_g2_secs); ns = TH_G2_NSEC; stmt; } while (0)
#define EXPECT(version, arg, check, core_ok) do { \
    size_t len_ = 0; uint8_t *b_ = th_craft_model2(version, CALIB_METHOD_TEMPERATURE, 10, s, ns, &len_); \
    expect_v2_error(b_, len_, arg, check, core_ok, __LINE__); free(b_); } while (0)

static void test_crafted(void) {
  th_section2 s[TH_G2_NSEC + 2];
  size_t ns;
  double info[8], prior[10], conf[20], cls[11] = {0}; /* cls[10]: the 11th value of a too-long class histogram */
  static const char utf8_bad[13] = "golden v2 \xe2\x9c\x41";
  static const char with_nul[13] = "golden\0v2 abc";
  static const char tag256[256] = {0};
  char t256[256];
  memset(t256, 'x', sizeof t256);
  (void)tag256;
  const char *TAB = "model section table", *META = "model metadata", *PAY = "model payload";
  /* the unedited bytes load */
  EDIT_SECS((void)0);
  {
    size_t len = 0;
    uint8_t *b = th_craft_model2(2, CALIB_METHOD_TEMPERATURE, 10, s, ns, &len);
    calib_model *m = NULL;
    CHECK_OK(calib_model_load(&m, b, len));
    calib_model_free(m);
    free(b);
  }
  /* structure: the firmware loader checks these too */
  EDIT_SECS((void)0);
  EXPECT(1, TAB, "metadata section tag in a version-1 model", 0);
  EDIT_SECS(s[1].type = 3);
  EXPECT(2, TAB, "metadata section type is not 1 (float64) or 2 (bytes)", 0);
  EDIT_SECS(s[0].type = 2; s[0].b = "x");
  EXPECT(2, TAB, "section type is not 1 (float64)", 0);
  EDIT_SECS(s[0] = s[1]; s[1] = th_g2_secs[0]);
  {
    /* parameters after metadata: any order is fine */
    size_t len = 0;
    uint8_t *b = th_craft_model2(2, CALIB_METHOD_TEMPERATURE, 10, s, ns, &len);
    calib_model *m = NULL;
    CHECK_OK(calib_model_load(&m, b, len));
    calib_model_free(m);
    free(b);
  }
  EDIT_SECS(s[0] = s[5]; ns = 5);
  EXPECT(2, TAB, "no parameter section (metadata only)", 0);
  EDIT_SECS(s[5].count = 0);
  EXPECT(2, TAB, "section count is 0", 0);
  /* metadata tables: the full loader only */
  EDIT_SECS(s[2].tag = 0x10009u);
  EXPECT(2, TAB, "unknown metadata section tag", 1);
  EDIT_SECS(s[6] = s[1]; ns = 7);
  EXPECT(2, TAB, "metadata section tag appears twice", 1);
  EDIT_SECS(s[1].count = 7);
  EXPECT(2, TAB, "info section count is not 8", 1);
  EDIT_SECS(s[2].count = 9);
  EXPECT(2, TAB, "prior / class histogram count is not kc", 1);
  EDIT_SECS(s[4].count = 11; memcpy(cls, th_g2_class, sizeof th_g2_class); cls[10] = 0; s[4].v = cls);
  EXPECT(2, TAB, "prior / class histogram count is not kc", 1);
  EDIT_SECS(s[3].count = 19);
  EXPECT(2, TAB, "confidence histogram count is not CALIB_REF_CONF_BINS", 1);
  EDIT_SECS(s[5].type = 1; s[5].count = 1; s[5].v = th_g2_info);
  EXPECT(2, TAB, "tag section type is not 2 (bytes)", 1);
  EDIT_SECS(s[1].type = 2; s[1].b = "12345678"; s[1].count = 8);
  EXPECT(2, TAB, "metadata section type is not 1 (float64)", 1);
  EDIT_SECS(s[5].count = 256; s[5].b = t256);
  EXPECT(2, TAB, "tag longer than CALIB_MODEL_TAG_MAX", 1);
  EDIT_SECS(s[1] = s[5]; ns = 2);
  EXPECT(2, META, "version-2 model without its info section", 1);
  EDIT_SECS(s[2] = s[5]; s[3] = th_g2_secs[3]; s[4] = th_g2_secs[4]; ns = 5);
  EXPECT(2, META, "reference incomplete", 1);
  /* metadata values */
#define INFO_EDIT(at_, val_) EDIT_SECS(memcpy(info, th_g2_info, sizeof info); info[at_] = (val_); s[1].v = info)
  INFO_EDIT(0, -1.0);
  EXPECT(2, META, "created time is not an integer", 1);
  INFO_EDIT(0, 1.5);
  EXPECT(2, META, "created time is not an integer", 1);
  INFO_EDIT(0, NAN);
  EXPECT(2, META, "created time is not an integer", 1);
  INFO_EDIT(1, 64.5);
  EXPECT(2, META, "n is not an integer", 1);
  INFO_EDIT(1, 0.0);
  EXPECT(2, META, "n is 0 in a model with a reference", 1);
  INFO_EDIT(2, -0.5);
  EXPECT(2, META, "NLL is negative", 1);
  INFO_EDIT(6, 1.5);
  EXPECT(2, META, "ECE is outside [0, 1]", 1);
  INFO_EDIT(4, 10.5);
  EXPECT(2, META, "Brier score is outside [0, kc]", 1);
  INFO_EDIT(7, -INFINITY);
  EXPECT(2, META, "Brier score is outside [0, kc]", 1);
  EDIT_SECS(memcpy(info, th_g2_info, sizeof info); info[1] = 5; s[1].v = info; s[2] = s[5]; ns = 3);
  EXPECT(2, META, "n is not 0 in a model without a reference", 1);
  EDIT_SECS(memcpy(prior, th_g2_prior, sizeof prior); prior[3] = -0.125; prior[4] = 0.375; s[2].v = prior);
  EXPECT(2, META, "prior entry is outside [0, 1]", 1);
  EDIT_SECS(memcpy(prior, th_g2_prior, sizeof prior); prior[3] = 0.0625; s[2].v = prior);
  EXPECT(2, META, "prior does not sum to 1", 1);
  EDIT_SECS(memcpy(prior, th_g2_prior, sizeof prior); prior[3] = NAN; s[2].v = prior);
  EXPECT(2, META, "prior entry is outside [0, 1]", 1);
  EDIT_SECS(memcpy(conf, th_g2_conf, sizeof conf); conf[19] = 15.5; conf[18] = 12.5; s[3].v = conf);
  EXPECT(2, META, "histogram count is not an integer", 1);
  EDIT_SECS(memcpy(conf, th_g2_conf, sizeof conf); conf[19] = 17; s[3].v = conf);
  EXPECT(2, META, "histogram counts do not sum to n", 1);
  EDIT_SECS(memcpy(cls, th_g2_class, sizeof th_g2_class); cls[0] = -1; cls[1] = 17; s[4].v = cls);
  EXPECT(2, META, "histogram count is not an integer >= 0", 1);
  EDIT_SECS(memcpy(cls, th_g2_class, sizeof th_g2_class); cls[0] = 8; s[4].v = cls);
  EXPECT(2, META, "histogram counts do not sum to n", 1);
  EDIT_SECS(memcpy(cls, th_g2_class, sizeof th_g2_class); cls[0] = 1e300; s[4].v = cls);
  EXPECT(2, META, "histogram count is not an integer >= 0", 1);
  EDIT_SECS(s[5].b = utf8_bad);
  EXPECT(2, META, "tag is not valid UTF-8", 1);
  EDIT_SECS(s[5].b = with_nul);
  EXPECT(2, META, "tag is not valid UTF-8 (or holds a NUL)", 1);
  /* a non-zero padding byte of the tag (13 bytes + 3 of padding), CRCs fixed */
  EDIT_SECS((void)0);
  {
    size_t len = 0;
    uint8_t *b = th_craft_model2(2, CALIB_METHOD_TEMPERATURE, 10, s, ns, &len);
    b[len - 1] = 1;
    th_put_le(b + 24, th_crc32(b + 32, len - 32), 4);
    th_put_le(b + 28, th_crc32(b, 28), 4);
    expect_v2_error(b, len, META, "tag padding bytes are not 0", 1, __LINE__);
    /* a future version with valid CRCs */
    b[len - 1] = 0;
    th_put_le(b + 24, th_crc32(b + 32, len - 32), 4);
    th_put_le(b + 8, 3, 4); /* (the header CRC below covers the payload CRC too) */
    th_put_le(b + 28, th_crc32(b, 28), 4);
    expect_v2_error(b, len, "model header", "format version is newer", 0, __LINE__);
    free(b);
  }
  (void)PAY;
}

/* Every truncation and every single-bit flip of a fitted version-2 model. */
static void test_truncate_flip(void) {
  const size_t n = 400, k = 3;
  float x[400 * 3];
  int64_t y[400];
  make_data(n, k, x, y);
  calib_fitter *f = NULL;
  calib_model *m = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  CHECK_OK(calib_fitter_set_provenance(f, 1, "flip me"));
  CHECK_OK(calib_fit(f, x, n, k, y, NULL, &m));
  calib_fitter_free(f);
  if (!m) return;
  size_t len = 0;
  uint8_t *b = model_bytes(m, &len);
  size_t trunc_ok = 0, flip_ok = 0, core_ok = 0;
  static uint64_t ws[CALIB_MODEL_WORKSPACE_MAX / 8];
  uint64_t *al = malloc(len + 8);
  for (size_t l = 0; l < len; l++) {
    calib_model *bad = NULL;
    trunc_ok += calib_model_load(&bad, b, l) == CALIB_E_FORMAT && bad == NULL;
    memcpy(al, b, l);
    const calib_model *ms = NULL;
    core_ok += calib_model_init_static(&ms, ws, sizeof ws, al, l) == CALIB_E_FORMAT && ms == NULL;
  }
  CHECK(trunc_ok == len && core_ok == len);
  core_ok = 0;
  for (size_t i = 0; i < len; i++)
    for (int bit = 0; bit < 8; bit++) {
      b[i] ^= (uint8_t)(1u << bit);
      calib_model *bad = NULL;
      flip_ok += calib_model_load(&bad, b, len) == CALIB_E_FORMAT && bad == NULL;
      memcpy(al, b, len);
      const calib_model *ms = NULL;
      core_ok += calib_model_init_static(&ms, ws, sizeof ws, al, len) == CALIB_E_FORMAT && ms == NULL;
      b[i] ^= (uint8_t)(1u << bit);
    }
  CHECK(flip_ok == 8 * len && core_ok == 8 * len);
  printf("  version-2 model of %zu bytes: %zu truncations and %zu bit flips rejected by both loaders\n", len,
         len, 8 * len);
  free(al);
  free(b);
  calib_model_free(m);
}

/* A fit with provenance under allocation failure: CALIB_E_NOMEM and no model,
 * or a whole model; never a leak (the sanitizer build checks). */
static void test_oom(void) {
  const size_t n = 200, k = 4;
  float x[200 * 4];
  int64_t y[200];
  make_data(n, k, x, y);
  int done = 0;
  for (size_t nth = 1; nth < 64 && !done; nth++) {
    calib_fitter *f = NULL;
    calib_model *m = NULL;
    int st = calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE);
    calib__alloc_fail_at(nth, 1);
    if (st == CALIB_OK) st = calib_fit(f, x, n, k, y, NULL, &m);
    calib__alloc_fail_at(0, 0);
    if (st == CALIB_OK) {
      calib_model_info in;
      CHECK_OK(calib_model_info_get(m, &in));
      CHECK(in.format_version == 2);
      done = 1;
    } else {
      CHECK(st == CALIB_E_NOMEM && m == NULL);
    }
    calib_model_free(m);
    calib_fitter_free(f);
  }
  CHECK(done);
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  test_v1_golden();
  test_fits();
  test_isotonic_grouped();
  test_with_reference();
  test_crafted();
  test_truncate_flip();
  test_oom();
  TEST_MAIN_END();
}
