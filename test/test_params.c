/* test_params.c -- issue 10: every metric parameter at the edges of its
 * documented range (include/calib.h): just inside succeeds, just outside,
 * NaN, inf, 0 and SIZE_MAX-ish are CALIB_E_ARG with nothing written; sizes
 * whose product overflows are refused before any memory is touched (tiny
 * buffers, so a read would be out of bounds under the sanitizers); crafted
 * accumulator bytes whose counts wrap around 2^64 are CALIB_E_FORMAT, and
 * adding or merging past 2^64 - 1 rows is CALIB_E_DOMAIN. */
#include "harness.h"
#include <float.h>

#define SENT -7.25
#define TL CALIB_SCOPE_TOP_LABEL
#define CW CALIB_SCOPE_CLASSWISE
#define POS CALIB_SCOPE_POSITIVE_CLASS
#define EW CALIB_BINNING_EQUAL_WIDTH
#define KUM CALIB_BINNING_EQUAL_MASS_KUMAR

static float P3[] = {0.7f, 0.2f, 0.1f, 0.1f, 0.8f, 0.1f, 0.3f, 0.3f, 0.4f, 0.5f, 0.25f, 0.25f};
static int64_t Y3[] = {0, 1, 0, 2};
static float PB[] = {0.9f, 0.2f, 0.6f, 0.4f, 0.7f, 0.1f};
static int64_t YB[] = {1, 0, 1, 1, 0, 0};

/* An error with *out untouched. */
#define CHECK_REFUSED(expr, code, out) do { (out) = SENT; CHECK_ERR(expr, code); CHECK((out) == SENT); } while (0)
/* Success with a value in [0, 1]. */
#define CHECK_UNIT(expr, out) do { (out) = SENT; CHECK_OK(expr); CHECK((out) >= 0 && (out) <= 1); } while (0)

static void test_bins(void) {
  double o;
  const size_t bad[] = {0, CALIB_MAX_BINS + 1, SIZE_MAX / 2, SIZE_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_REFUSED(calib_ece(P3, 4, 3, Y3, bad[i], &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_mce(P3, 4, 3, Y3, bad[i], &o), CALIB_E_ARG, o);
    for (int b = EW; b <= CALIB_BINNING_EQUAL_MASS_INDEX; b++) {
      CHECK_REFUSED(calib_calibration_error(P3, 4, 3, Y3, bad[i], CW, b, CALIB_NORM_L1, &o), CALIB_E_ARG, o);
      CHECK_REFUSED(calib_debiased_l2_ce(P3, 4, 3, Y3, bad[i], TL, b, &o), CALIB_E_ARG, o);
    }
  }
  /* The edges inside: 1 and CALIB_MAX_BINS, on every binning and scope (the
   * top of the range must not allocate per bin: n = 4 rows). */
  const size_t good[] = {1, 2, CALIB_MAX_BINS - 1, CALIB_MAX_BINS};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    CHECK_UNIT(calib_ece(P3, 4, 3, Y3, good[i], &o), o);
    CHECK_UNIT(calib_mce(P3, 4, 3, Y3, good[i], &o), o);
    for (int b = EW; b <= CALIB_BINNING_EQUAL_MASS_INDEX; b++)
      for (int s = TL; s <= POS; s++) {
        const size_t k = s == POS ? 1 : 3;
        const float *p = s == POS ? PB : P3;
        const int64_t *y = s == POS ? YB : Y3;
        CHECK_UNIT(calib_calibration_error(p, 4, k, y, good[i], s, b, CALIB_NORM_L2, &o), o);
        CHECK_UNIT(calib_debiased_l2_ce(p, 4, k, y, good[i], s, b, &o), o);
      }
  }
  /* Bins above n give the same ECE on both paths (direct: <= 1024 bins). */
  double a, b;
  CHECK_OK(calib_ece(P3, 4, 3, Y3, 1000, &a));
  CHECK_OK(calib_calibration_error(P3, 4, 3, Y3, 1000, TL, KUM, CALIB_NORM_L1, &b));
  CHECK_OK(calib_ece(P3, 4, 3, Y3, 5000000, &b));
  CHECK_NEAR(a, b, 1e-15);
}

static void test_enums(void) {
  double o;
  const int scopes[] = {0, 4, -1, 1 << 30};
  for (size_t i = 0; i < 4; i++) {
    CHECK_REFUSED(calib_calibration_error(P3, 4, 3, Y3, 10, scopes[i], EW, CALIB_NORM_L1, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_ks_error(P3, 4, 3, Y3, scopes[i], &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_kde_ece(P3, 4, 3, Y3, scopes[i], &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_mmce(P3, 4, 3, Y3, scopes[i], 0.4, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_smooth_ece(P3, 4, 3, Y3, scopes[i], 0.1, &o, NULL), CALIB_E_ARG, o);
  }
  CHECK_REFUSED(calib_ks_error(P3, 4, 3, Y3, POS, &o), CALIB_E_ARG, o); /* positive class, k = 3 */
  const int binnings[] = {0, 5, -1}, norms[] = {0, 4, -1}, scalings[] = {0, 5, -1};
  for (size_t i = 0; i < 3; i++) {
    CHECK_REFUSED(calib_calibration_error(P3, 4, 3, Y3, 10, TL, binnings[i], CALIB_NORM_L1, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_calibration_error(P3, 4, 3, Y3, 10, TL, EW, norms[i], &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_brier_score(P3, 4, 3, Y3, scalings[i], &o), CALIB_E_ARG, o);
  }
  for (int s = CALIB_BRIER_SUM; s <= CALIB_BRIER_TOP_LABEL; s++)
    CHECK_OK(calib_brier_score(PB, 6, 1, YB, s, &o));
}

static void test_smooth_ece_sigma(void) {
  double o, used;
  const double bad[] = {1e-20, 1e-300, 4.9e-324, DBL_MIN, 1e-6, nextafter(0.001, 0), 0.000999,
                        nextafter(1.0, 2.0), 1.5, DBL_MAX, -1e-300, -0.5, NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    used = SENT;
    CHECK_REFUSED(calib_smooth_ece(P3, 4, 3, Y3, TL, bad[i], &o, &used), CALIB_E_ARG, o);
    CHECK(used == SENT);
    CHECK_REFUSED(calib_smooth_ece(PB, 6, 1, YB, CW, bad[i], &o, &used), CALIB_E_ARG, o);
  }
  const double good[] = {0.0, -0.0, CALIB_SMECE_MIN_SIGMA, 0.001, nextafter(0.001, 1), 0.5, 1.0};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    used = SENT;
    CHECK_UNIT(calib_smooth_ece(P3, 4, 3, Y3, TL, good[i], &o, &used), o);
    CHECK(used >= 0.001 && used <= 1);
    if (good[i] != 0) CHECK(used == good[i]);
    CHECK_UNIT(calib_smooth_ece(PB, 6, 1, YB, CW, good[i], &o, NULL), o);
  }
}

static void test_mmce_width(void) {
  double o;
  const double bad[] = {0.0, -0.0, -1e-300, -1.0, NAN, INFINITY, -INFINITY};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_REFUSED(calib_mmce(P3, 4, 3, Y3, TL, bad[i], &o), CALIB_E_ARG, o);
  const double good[] = {4.9e-324, DBL_MIN, 1e-300, 0.4, 1e300, DBL_MAX};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    CHECK_UNIT(calib_mmce(P3, 4, 3, Y3, TL, good[i], &o), o);
}

/* calib_reliability: z, bins and cap; rows untouched on every error. */
static void test_reliability(void) {
  double rows[40 * CALIB_RD_FIELDS];
  size_t nb;
  const double badz[] = {0.0, -0.0, -1.0, nextafter(CALIB_RD_MAX_Z, 1e3), 1e300, NAN, INFINITY};
  for (size_t i = 0; i < sizeof badz / sizeof badz[0]; i++) {
    for (size_t j = 0; j < 40 * CALIB_RD_FIELDS; j++) rows[j] = SENT;
    nb = 77;
    CHECK_ERR(calib_reliability(P3, 4, 3, Y3, 10, TL, EW, badz[i], rows, 40 * CALIB_RD_FIELDS, &nb), CALIB_E_ARG);
    CHECK(nb == 77 && rows[0] == SENT && rows[40 * CALIB_RD_FIELDS - 1] == SENT);
  }
  const double goodz[] = {4.9e-324, 1e-300, 1.959963984540054, CALIB_RD_MAX_Z};
  for (size_t i = 0; i < sizeof goodz / sizeof goodz[0]; i++) {
    CHECK_OK(calib_reliability(P3, 4, 3, Y3, 40, TL, EW, goodz[i], rows, 40 * CALIB_RD_FIELDS, &nb));
    CHECK(nb == 40);
    for (size_t b = 0; b < nb; b++) {
      const double *r = rows + b * CALIB_RD_FIELDS;
      CHECK(r[CALIB_RD_COUNT] == 0 || (r[CALIB_RD_WILSON_LO] >= 0 && r[CALIB_RD_WILSON_HI] <= 1 &&
                                       r[CALIB_RD_WILSON_LO] <= r[CALIB_RD_WILSON_HI]));
    }
  }
  /* bins outside 1..CALIB_MAX_BINS: refused before cap is even looked at
   * (a cap of SIZE_MAX with a small buffer must not be trusted). */
  const size_t badb[] = {0, CALIB_MAX_BINS + 1, SIZE_MAX / CALIB_RD_FIELDS + 1, SIZE_MAX};
  for (size_t i = 0; i < sizeof badb / sizeof badb[0]; i++) {
    rows[0] = SENT;
    nb = 77;
    CHECK_ERR(calib_reliability(P3, 4, 3, Y3, badb[i], TL, EW, 1.96, rows, SIZE_MAX, &nb), CALIB_E_ARG);
    CHECK(nb == 77 && rows[0] == SENT);
  }
  CHECK_ERR(calib_reliability(P3, 4, 3, Y3, 40, TL, KUM, 1.96, rows, 40 * CALIB_RD_FIELDS - 1, &nb),
            CALIB_E_SMALLBUF);
  CHECK_OK(calib_reliability(P3, 4, 3, Y3, 1, TL, KUM, 1.96, rows, CALIB_RD_FIELDS, &nb));
  CHECK(nb == 1);
}

/* n * k (* element size) overflowing size_t: CALIB_E_ARG before any read.
 * The buffers hold 4 rows; a function that trusted n would run past them. */
static void test_overflowing_sizes(void) {
  struct { size_t n, k; } sh[] = {{SIZE_MAX / 4 + 1, 1}, {SIZE_MAX / 8 + 1, 1}, {SIZE_MAX / 3 + 1, 3},
                                  {SIZE_MAX / 24 + 1, 3}, {2, SIZE_MAX / 2 + 1}, {SIZE_MAX, SIZE_MAX}};
  double o, out[64];
  int status[64];
  for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) {
    const size_t n = sh[i].n, k = sh[i].k;
    CHECK_REFUSED(calib_accuracy(P3, n, k, Y3, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_nll(P3, n, k, Y3, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_nll_logits(P3, n, k, Y3, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_brier(P3, n, k, Y3, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_brier_score(P3, n, k, Y3, CALIB_BRIER_SUM, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_ece(P3, n, k, Y3, 10, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_calibration_error(P3, n, k, Y3, 10, CW, EW, CALIB_NORM_L1, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_calibration_error(P3, n, k, Y3, 10, TL, KUM, CALIB_NORM_L1, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_debiased_l2_ce(P3, n, k, Y3, 10, TL, EW, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_ks_error(P3, n, k, Y3, TL, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_mmce(P3, n, k, Y3, TL, 0.4, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_kde_ece(P3, n, k, Y3, TL, &o), CALIB_E_ARG, o);
    CHECK_REFUSED(calib_smooth_ece(P3, n, k, Y3, TL, 0.0, &o, NULL), CALIB_E_ARG, o);
    out[0] = SENT;
    size_t nb = 77;
    CHECK_ERR(calib_reliability(P3, n, k, Y3, 9, TL, EW, 1.96, out, 64, &nb), CALIB_E_ARG);
    CHECK(out[0] == SENT && nb == 77);
    for (int in = CALIB_INPUT_PROBS; in <= CALIB_INPUT_LOGITS; in++) {
      CHECK_ERR(calib_suite_eval(CALIB_SUITE_TAO2024, P3, n, k, Y3, in, out, status, 64), CALIB_E_ARG);
      CHECK(out[0] == SENT);
    }
  }
}

static void test_suite_options(void) {
  double out[64];
  for (size_t i = 0; i < 64; i++) out[i] = SENT;
  const size_t need = calib_suite_size(CALIB_SUITE_TAO2024);
  CHECK(need == 50 && calib_suite_size(0) == 0 && calib_suite_size(2) == 0);
  CHECK_ERR(calib_suite_eval(0, P3, 4, 3, Y3, CALIB_INPUT_PROBS, out, NULL, 64), CALIB_E_ARG);
  CHECK_ERR(calib_suite_eval(2, P3, 4, 3, Y3, CALIB_INPUT_PROBS, out, NULL, 64), CALIB_E_ARG);
  CHECK_ERR(calib_suite_eval(CALIB_SUITE_TAO2024, P3, 4, 3, Y3, 0, out, NULL, 64), CALIB_E_ARG);
  CHECK_ERR(calib_suite_eval(CALIB_SUITE_TAO2024, P3, 4, 3, Y3, 3, out, NULL, 64), CALIB_E_ARG);
  CHECK_ERR(calib_suite_eval(CALIB_SUITE_TAO2024, P3, 4, 3, Y3, CALIB_INPUT_PROBS, out, NULL, need - 1),
            CALIB_E_SMALLBUF);
  CHECK(out[0] == SENT && out[need - 1] == SENT);
  int status[50];
  CHECK_OK(calib_suite_eval(CALIB_SUITE_TAO2024, P3, 4, 3, Y3, CALIB_INPUT_PROBS, out, status, need));
  CHECK(out[need] == SENT);
  CHECK(calib_suite_key(CALIB_SUITE_TAO2024, need) == NULL && calib_suite_key(CALIB_SUITE_TAO2024, SIZE_MAX) == NULL);
}

static void test_accumulator_ranges(void) {
  calib_accumulator *a = NULL;
  const size_t badb[] = {0, CALIB_ACC_MAX_BINS + 1, (size_t)1 << 40, SIZE_MAX};
  for (size_t i = 0; i < sizeof badb / sizeof badb[0]; i++) {
    CHECK_ERR(calib_accumulator_create(&a, 3, badb[i], EW), CALIB_E_ARG);
    CHECK(a == NULL);
  }
  /* k whose state size overflows size_t (or exceeds PTRDIFF_MAX) */
  const size_t badk[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX / 24, SIZE_MAX / 48};
  for (size_t i = 0; i < sizeof badk / sizeof badk[0]; i++) {
    CHECK_ERR(calib_accumulator_create(&a, badk[i], 1, EW), CALIB_E_ARG);
    CHECK(a == NULL);
  }
  const size_t goodb[] = {1, CALIB_ACC_MAX_BINS};
  for (size_t i = 0; i < 2; i++) {
    CHECK_OK(calib_accumulator_create(&a, 1, goodb[i], CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED));
    CHECK_OK(calib_accumulator_add(a, PB, 6, YB));
    double v = SENT;
    CHECK_OK(calib_accumulator_value(a, CALIB_M_ECE, &v));
    CHECK(v >= 0 && v <= 1);
    CHECK_REFUSED(calib_accumulator_value(a, 0, &v), CALIB_E_ARG, v);
    CHECK_REFUSED(calib_accumulator_value(a, CALIB_M_POS_DEBIASED_L2 + 1, &v), CALIB_E_ARG, v);
    /* n * k overflowing on add: refused, state unchanged */
    CHECK_ERR(calib_accumulator_add(a, PB, SIZE_MAX / 4 + 1, YB), CALIB_E_ARG);
    CHECK_ERR(calib_accumulator_add_logits(a, PB, SIZE_MAX / 4 + 1, YB), CALIB_E_ARG);
    CHECK_OK(calib_accumulator_value(a, CALIB_M_COUNT, &v));
    CHECK(v == 6);
    double rows[CALIB_RD_FIELDS];
    size_t nb = 77;
    if (goodb[i] == 1) {
      CHECK_ERR(calib_accumulator_reliability(a, TL, 0.0, rows, CALIB_RD_FIELDS, &nb), CALIB_E_ARG);
      CHECK_ERR(calib_accumulator_reliability(a, TL, NAN, rows, CALIB_RD_FIELDS, &nb), CALIB_E_ARG);
      CHECK_ERR(calib_accumulator_reliability(a, TL, 101.0, rows, CALIB_RD_FIELDS, &nb), CALIB_E_ARG);
      CHECK(nb == 77);
      CHECK_OK(calib_accumulator_reliability(a, TL, CALIB_RD_MAX_Z, rows, CALIB_RD_FIELDS, &nb));
    } else {
      CHECK_ERR(calib_accumulator_reliability(a, TL, 1.96, rows, CALIB_RD_FIELDS, &nb), CALIB_E_SMALLBUF);
    }
    calib_accumulator_free(a);
    a = NULL;
  }
}

/* ---- Crafted accumulator bytes (layout in src/metrics/accumulate.c) ---------- */

#define HDR 80
#define CELLB 24

/* A state of k = 1 (m = 2 columns), bins = 2: header fields, then 2 top-label
 * cells and 4 classwise cells of (rows, targets, score sum). */
typedef struct {
  uint64_t n, correct, cnt[6], pos[6];
  double sums[6], nll, brier, brier_top, brier_pos;
} blob_spec;

static size_t blob_write(const blob_spec *s, uint8_t *b) {
  const size_t len = HDR + 6 * CELLB + 4;
  memset(b, 0, len);
  memcpy(b, "CALIBACC", 8);
  th_put_le(b + 8, 1, 4);
  th_put_le(b + 12, CALIB_BINNING_EQUAL_WIDTH, 4);
  th_put_le(b + 16, 1, 8);
  th_put_le(b + 24, 2, 8);
  th_put_le(b + 32, s->n, 8);
  th_put_le(b + 40, s->correct, 8);
  const double f[4] = {s->nll, s->brier, s->brier_top, s->brier_pos};
  for (int i = 0; i < 4; i++) {
    uint64_t u;
    memcpy(&u, &f[i], 8);
    th_put_le(b + 48 + 8 * i, u, 8);
  }
  for (int c = 0; c < 6; c++) {
    uint64_t u;
    memcpy(&u, &s->sums[c], 8);
    th_put_le(b + HDR + CELLB * c, s->cnt[c], 8);
    th_put_le(b + HDR + CELLB * c + 8, s->pos[c], 8);
    th_put_le(b + HDR + CELLB * c + 16, u, 8);
  }
  th_put_le(b + len - 4, th_crc32(b, len - 4), 4);
  return len;
}

/* n rows, all in bin 1 of every problem, all positive; the classwise
 * positives in column 1 (k == 1: label 1). A consistent state for any n. */
static blob_spec blob_consistent(uint64_t n) {
  blob_spec s;
  memset(&s, 0, sizeof s);
  s.n = s.correct = n;
  s.cnt[1] = s.pos[1] = n;                  /* top-label bin 1 */
  s.cnt[2 + 2] = n;                         /* classwise bin 1, column 0 (1 - p) ... */
  s.cnt[2 + 3] = s.pos[2 + 3] = n;          /* ... and column 1 */
  s.sums[1] = s.sums[2 + 3] = 0.75 * (double)n;
  return s;
}

static void test_accumulator_blobs(void) {
  uint8_t b[HDR + 6 * CELLB + 4];
  calib_accumulator *a = NULL, *c = NULL;
  blob_spec s = blob_consistent(5);
  size_t len = blob_write(&s, b);
  CHECK_OK(calib_accumulator_load(&a, b, len)); /* the writer is right */
  calib_accumulator_free(a);
  a = NULL;
  /* Counts that add up to n only modulo 2^64: two halves of 2^64 over n = 0,
   * in every problem (top-label, both classwise columns). */
  memset(&s, 0, sizeof s);
  for (int cidx = 0; cidx < 6; cidx++) s.cnt[cidx] = (uint64_t)1 << 63;
  len = blob_write(&s, b);
  CHECK_ERR(calib_accumulator_load(&a, b, len), CALIB_E_FORMAT);
  CHECK(a == NULL);
  /* n = 2, top-label rows 2^64 - 1 + 3 (wraps to 2): */
  s = blob_consistent(2);
  s.cnt[0] = UINT64_MAX;
  s.cnt[1] = 3;
  s.pos[1] = 2;
  len = blob_write(&s, b);
  CHECK_ERR(calib_accumulator_load(&a, b, len), CALIB_E_FORMAT);
  /* targets wrapping as well: every cell 2^63 rows, all positive, n = 0
   * (each sum, rows and targets, is 0 modulo 2^64) */
  memset(&s, 0, sizeof s);
  for (int cidx = 0; cidx < 6; cidx++) s.cnt[cidx] = s.pos[cidx] = (uint64_t)1 << 63;
  len = blob_write(&s, b);
  CHECK_ERR(calib_accumulator_load(&a, b, len), CALIB_E_FORMAT);
  CHECK(a == NULL);
  /* Brier sums out of their per-row range */
  s = blob_consistent(2);
  s.brier = 4.5; /* > m * n = 4 */
  len = blob_write(&s, b);
  CHECK_ERR(calib_accumulator_load(&a, b, len), CALIB_E_FORMAT);
  s.brier = 4.0;
  s.brier_top = 2.5;
  len = blob_write(&s, b);
  CHECK_ERR(calib_accumulator_load(&a, b, len), CALIB_E_FORMAT);
  /* Valid states near 2^64 rows: merging or adding past UINT64_MAX is refused. */
  s = blob_consistent((uint64_t)1 << 63);
  len = blob_write(&s, b);
  CHECK_OK(calib_accumulator_load(&a, b, len));
  CHECK_OK(calib_accumulator_load(&c, b, len));
  double v;
  CHECK_ERR(calib_accumulator_merge(a, c), CALIB_E_DOMAIN);
  CHECK_ERR(calib_accumulator_merge(a, a), CALIB_E_DOMAIN);
  CHECK_OK(calib_accumulator_value(a, CALIB_M_COUNT, &v));
  CHECK(v == 9223372036854775808.0);
  calib_accumulator_free(a);
  a = NULL;
  s = blob_consistent(UINT64_MAX);
  len = blob_write(&s, b);
  CHECK_OK(calib_accumulator_load(&a, b, len));
  CHECK_ERR(calib_accumulator_add(a, PB, 1, YB), CALIB_E_DOMAIN);
  CHECK_ERR(calib_accumulator_add_logits(a, PB, 1, YB), CALIB_E_DOMAIN);
  CHECK_OK(calib_accumulator_add(a, PB, 0, YB)); /* n == 0: a no-op, still fine */
  calib_accumulator_free(a);
  calib_accumulator_free(c);
}

int main(void) {
  test_bins();
  test_enums();
  test_smooth_ece_sigma();
  test_mmce_width();
  test_reliability();
  test_overflowing_sizes();
  test_suite_options();
  test_accumulator_ranges();
  test_accumulator_blobs();
  TEST_MAIN_END();
}
