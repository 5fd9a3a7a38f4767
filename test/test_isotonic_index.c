/* test_isotonic_index.c -- the isotonic one-vs-rest search index
 * (model/isotonic_index.c, kernels/applyd.h iso_rows_idx) against the
 * full-table search it replaces and against an independent reference.
 *
 *  - Bit for bit: a loaded (owned) model applies through its bucket index,
 *    the same bytes by reference (calib_model_init_static: no heap, no index)
 *    through the full branch-free binary search (iso_rows); on every ISA the
 *    two outputs must be identical, strict and row-wise (NaN rows), for
 *    k = 2..1024 (the 4-class and W-class tails, the padding classes).
 *  - Adversarial tables: m = 1 and 2, flat and decreasing y, thresholds of
 *    float32 values hit exactly by the inputs and by their float neighbours,
 *    inputs below the first and above the last threshold, -0.0 and +0.0
 *    against a threshold 0, negative scores, thresholds packed into a range
 *    of a few ulps (buckets whose range holds many thresholds: the halving
 *    path), subnormal steps (infinite slopes: the NaN fallback), thresholds
 *    over the whole double range, -inf scores.
 *  - Independent reference: numpy.interp's formula with clipping, written here
 *    as a linear scan in double, then the one-vs-rest renormalisation in long
 *    double (1/k for a zero sum); outputs within 2 float32 ulps (the row sum's
 *    order differs), for the tables with finite slopes.
 * Usage: test_isotonic_index [seed] */
#include "internal.h"
#include "harness.h"
#include "calib_core.h"
#include "kernels.h"
#include "applyd.h"
#include <float.h>

#define MAXM 600

typedef struct {
  size_t k, *m;
  double *x, *y; /* tables back to back */
  int input;     /* CALIB_INPUT_PROBS or CALIB_INPUT_SCORES or CALIB_INPUT_LOGITS */
  int finite;    /* every slope finite (the reference check applies) */
} tables;

static double fl(double v) { return (double)(float)v; }

/* One class table of kind `kind` into x, y (m values); returns m. */
static size_t make_table(int kind, int probs, double *x, double *y) {
  size_t m = 0;
  const double lo = probs ? 0.0 : -8.0, span = probs ? 1.0 : 16.0;
  switch (kind) {
  case 0: /* m = 1 */
    x[0] = fl(lo + span * th_uniform()), y[0] = th_uniform();
    return 1;
  case 1: /* m = 2 */
    x[0] = fl(lo + 0.5 * span * th_uniform()), x[1] = fl(x[0] + 0.5 * span * th_uniform() + 1e-3);
    y[0] = 0.25 * th_uniform(), y[1] = 0.5 + 0.5 * th_uniform();
    return 2;
  case 2: /* a fitted shape: close pairs (a block's two ends), increasing y, float32 thresholds */
  case 3: /* the same, decreasing y */
  case 4: { /* flat runs: repeated y values */
    m = 2 + (size_t)(th_uniform() * 300);
    double v = lo + 1e-3 * span * th_uniform(), yy = 0.0;
    for (size_t t = 0; t < m; t++) {
      x[t] = fl(v);
      if (t > 0 && x[t] <= x[t - 1]) x[t] = (double)nextafterf((float)x[t - 1], INFINITY);
      v = x[t] + (t % 2 ? span * 1e-3 * th_uniform() : span * 1e-7 * (1 + th_uniform()));
      if (kind != 4 || t % 3 == 0) yy += th_uniform();
      y[t] = yy;
    }
    for (size_t t = 0; t < m; t++) y[t] = kind == 3 ? 1.0 - y[t] / yy : y[t] / yy;
    return m;
  }
  case 5: { /* thresholds a few float ulps apart, one far away: many thresholds per bucket */
    m = 40 + (size_t)(th_uniform() * 400);
    float v = (float)(probs ? 1e-3 : -1.0);
    for (size_t t = 0; t + 1 < m; t++) {
      x[t] = v, y[t] = (double)t / (double)m;
      v = nextafterf(v, INFINITY);
    }
    x[m - 1] = probs ? 1.0 : 7.0, y[m - 1] = 1.0;
    return m;
  }
  case 8: { /* doubles 1 to 7 ulps apart: buckets of a few keys (shift 0 to 3), thresholds on their edges */
    m = 2 + (size_t)(th_uniform() * 40);
    x[0] = probs ? 0.5 : -0.25, y[0] = 0.0;
    for (size_t t = 1; t < m; t++) {
      x[t] = nextafter(x[t - 1], INFINITY);
      for (int u = (int)(th_uniform() * 7); u > 0; u--) x[t] = nextafter(x[t], INFINITY);
      y[t] = (double)t / (double)m;
    }
    return m;
  }
  case 9: { /* consecutive floats: thresholds on bucket edges (shift <= 29) */
    m = 2 + (size_t)(th_uniform() * 40);
    float v = probs ? 0.75f : 3.0f;
    for (size_t t = 0; t < m; t++) x[t] = v, y[t] = (double)t / (double)m, v = nextafterf(v, INFINITY);
    return m;
  }
  case 6: /* a threshold at 0 (inputs +0.0 and -0.0 hit it) */
    x[0] = probs ? 0.0 : -1.0, x[1] = probs ? 0.25 : 0.0, x[2] = 0.5, x[3] = 1.0;
    y[0] = 0.0, y[1] = 0.125, y[2] = 0.125, y[3] = 0.75;
    return 4;
  case 7: /* scores only: thresholds of both signs from 1e-37 to 1e37 (float inputs reach them all) */
    m = 24;
    for (size_t t = 0; t < m; t++) {
      const double e = 37.0 - 74.0 * (double)(t < m / 2 ? t : m - 1 - t) / (double)(m / 2 - 1);
      x[t] = fl((t < m / 2 ? -1.0 : 1.0) * pow(10.0, e));
      y[t] = (double)t / (double)(m - 1);
    }
    return m;
  }
  return 0;
}

/* A table whose first step is subnormal: its slope overflows to +inf. Scores:
 * the input 0.0f (or -0.0f) is its second threshold exactly, so an index one
 * too low there gives inf instead of y_1 (the interpolant is continuous at
 * the other knots, which would hide it). */
static size_t inf_slope_table(int probs, double *x, double *y) {
  x[0] = probs ? 0.0 : -5e-324, x[1] = probs ? 5e-324 : 0.0, x[2] = 0.5, x[3] = 1.0;
  y[0] = 0.0, y[1] = 0.5, y[2] = 0.75, y[3] = 1.0;
  return 4;
}

static void make_tables(tables *T, size_t k, int input, int inf_slopes) {
  T->k = k, T->input = input, T->finite = !inf_slopes;
  T->m = malloc(k * sizeof *T->m);
  T->x = malloc(k * MAXM * sizeof *T->x);
  T->y = malloc(k * MAXM * sizeof *T->y);
  const int probs = input != CALIB_INPUT_SCORES;
  size_t off = 0;
  for (size_t j = 0; j < k; j++) {
    int kind = (int)(th_uniform() * 10);
    if (probs && kind == 7) kind = 2; /* 7: scores only */
    T->m[j] = inf_slopes && j % 3 == 0 ? inf_slope_table(probs, T->x + off, T->y + off)
                                        : make_table(kind, probs, T->x + off, T->y + off);
    off += T->m[j];
  }
}

static void free_tables(tables *T) {
  free(T->m), free(T->x), free(T->y);
}

static uint8_t *craft(const tables *T, size_t *len) {
  size_t total = 0;
  for (size_t j = 0; j < T->k; j++) total += T->m[j];
  double cfg[3] = {CALIB_OOB_CLIP, T->input, 0.0}, *cnt = malloc(T->k * sizeof *cnt);
  for (size_t j = 0; j < T->k; j++) cnt[j] = (double)T->m[j];
  const th_section s[4] = {{CALIB_MP_ISO_CONFIG, 3, cfg}, {CALIB_MP_ISO_COUNTS, T->k, cnt},
                           {CALIB_MP_ISO_X, total, T->x}, {CALIB_MP_ISO_Y, total, T->y}};
  uint8_t *b = th_craft_model(CALIB_METHOD_ISOTONIC, T->k, s, 4, len);
  free(cnt);
  return b;
}

/* Inputs for class table (x, m): its thresholds, their float neighbours,
 * points between, outside, zeros of both signs. */
static float pick_input(const double *x, size_t m, int probs) {
  const size_t t = (size_t)(th_uniform() * (double)m);
  const float xt = (float)x[t];
  const double u = th_uniform();
  float v;
  if (u < 0.3) v = xt;
  else if (u < 0.45) v = nextafterf(xt, INFINITY);
  else if (u < 0.6) v = nextafterf(xt, -INFINITY);
  else if (u < 0.75) v = t + 1 < m ? (float)(x[t] + (x[t + 1] - x[t]) * th_uniform()) : xt;
  else if (u < 0.82) v = (float)(x[0] - 1.0 - th_uniform());
  else if (u < 0.89) v = (float)(x[m - 1] + 1.0 + th_uniform());
  else if (u < 0.93) v = 0.0f;
  else if (u < 0.97) v = -0.0f;
  else v = probs ? 1.0f : -INFINITY;
  if (probs) v = v < 0.0f ? (u < 0.97 ? 0.0f : -0.0f) : (v > 1.0f ? 1.0f : v);
  return v;
}

/* numpy.interp with clipping, by a linear scan (independent of last_le). */
static double ref_interp(const double *x, const double *y, size_t m, double s) {
  if (s <= x[0]) return y[0];
  if (s >= x[m - 1]) return y[m - 1];
  size_t j = 0;
  while (j + 1 < m && x[j + 1] <= s) j++;
  if (x[j] == s) return y[j];
  return (y[j + 1] - y[j]) / (x[j + 1] - x[j]) * (s - x[j]) + y[j];
}

static int within_ulps(float a, float b, int ulps) {
  if (a == b) return 1;
  float lo = b, hi = b;
  for (int i = 0; i < ulps; i++) lo = nextafterf(lo, -INFINITY), hi = nextafterf(hi, INFINITY);
  return a >= lo && a <= hi;
}

static void check_reference(const tables *T, const float *in, size_t n, const float *out) {
  const size_t k = T->k;
  double *q = malloc(k * sizeof *q);
  for (size_t i = 0; i < n; i++) {
    long double sum = 0;
    size_t off = 0;
    for (size_t j = 0; j < k; j++) {
      q[j] = ref_interp(T->x + off, T->y + off, T->m[j], (double)in[i * k + j]);
      sum += q[j];
      off += T->m[j];
    }
    for (size_t j = 0; j < k; j++) {
      const float r = sum > 0 ? (float)((long double)q[j] / sum) : (float)(1.0 / (double)k);
      if (!within_ulps(out[i * k + j], r, 2)) {
        TH_FAIL("reference: k %zu row %zu class %zu: %.9g against %.9g (input %.9g)", k, i, j,
                (double)out[i * k + j], (double)r, (double)in[i * k + j]);
        free(q);
        return;
      }
    }
  }
  th_checks++;
  free(q);
}

static int bits_equal(const float *a, const float *b, size_t n) {
  return memcmp(a, b, n * sizeof *a) == 0;
}

/* One set of tables: owned (index) against by reference (full search), on
 * every ISA; strict and row-wise; the reference on the first ISA. */
static void check_case(size_t k, int input, int inf_slopes, size_t n) {
  static const char *isas[] = {"scalar", "avx2", "avx512"};
  tables T;
  make_tables(&T, k, input, inf_slopes);
  size_t len = 0;
  uint8_t *buf = craft(&T, &len);
  calib_model *m = NULL;
  CHECK_OK(calib_model_load(&m, buf, len));
  uint64_t ws[CALIB_MODEL_WORKSPACE_MAX / 8];
  const calib_model *mr = NULL;
  CHECK_OK(calib_model_init_static(&mr, ws, sizeof ws, buf, len));
  if (!m || !mr) {
    calib_model_free(m), free(buf), free_tables(&T);
    return;
  }
#if defined(CALIB_HAVE_X86_KERNELS)
  CHECK(m->isoidx != NULL && mr->isoidx == NULL); /* the index exists, the by-reference model has none */
#endif
  float *x = malloc(n * k * sizeof *x), *p = malloc(n * k * sizeof *p), *q = malloc(n * k * sizeof *q);
  const int probs = input != CALIB_INPUT_SCORES;
  for (size_t i = 0; i < n; i++) {
    size_t off = 0;
    for (size_t j = 0; j < k; j++) {
      x[i * k + j] = input == CALIB_INPUT_LOGITS ? (float)(3 * th_normal()) : pick_input(T.x + off, T.m[j], probs);
      off += T.m[j];
    }
  }
  const char *orig = calib_isa();
  for (size_t t = 0; t < sizeof isas / sizeof *isas; t++) {
    if (!calib__kernels_force(isas[t])) continue;
    CHECK_OK(calib_apply(m, x, n, k, p));
    CHECK_OK(calib_apply(mr, x, n, k, q));
    if (!bits_equal(p, q, n * k)) TH_FAIL("k %zu input %d inf %d isa %s: index and full search differ", k, input, inf_slopes, isas[t]);
    th_checks++;
    if (t == 0 && T.finite && input != CALIB_INPUT_LOGITS) check_reference(&T, x, n, p);
    /* row-wise, with a NaN row and (scores) a +inf row: bad rows NaN, the rest as strict */
    float *xb = malloc(n * k * sizeof *xb);
    memcpy(xb, x, n * k * sizeof *xb);
    xb[0] = NAN;
    if (n > 2) xb[2 * k + k - 1] = INFINITY;
    size_t bad = 0, first = 0, bad2 = 0, first2 = 0;
    (void)calib_apply_rows(m, xb, n, k, p, NULL, &bad, &first);
    (void)calib_apply_rows(mr, xb, n, k, q, NULL, &bad2, &first2);
    CHECK(bad == bad2 && first == first2 && bad >= 1);
    for (size_t i = 0; i < n * k; i++)
      if (memcmp(&p[i], &q[i], sizeof p[i]) != 0) {
        TH_FAIL("rows: k %zu isa %s value %zu: %.9g against %.9g", k, isas[t], i, (double)p[i], (double)q[i]);
        break;
      }
    th_checks++;
    free(xb);
  }
  calib__kernels_force(orig);
  free(x), free(p), free(q);
  calib_model_free(m);
  free(buf);
  free_tables(&T);
}

/* A single-valued probability input of every threshold of every class, in
 * place (probs == logits): the in-place path must give the same. */
static void check_in_place(void) {
  tables T;
  make_tables(&T, 37, CALIB_INPUT_PROBS, 0);
  size_t len = 0;
  uint8_t *buf = craft(&T, &len);
  calib_model *m = NULL;
  CHECK_OK(calib_model_load(&m, buf, len));
  const size_t n = 50, k = T.k;
  float *x = malloc(n * k * sizeof *x), *p = malloc(n * k * sizeof *p);
  size_t off = 0;
  for (size_t j = 0; j < k; j++) {
    for (size_t i = 0; i < n; i++) x[i * k + j] = pick_input(T.x + off, T.m[j], 1);
    off += T.m[j];
  }
  CHECK_OK(calib_apply(m, x, n, k, p));
  CHECK_OK(calib_apply(m, x, n, k, x));
  CHECK(bits_equal(p, x, n * k));
  free(x), free(p);
  calib_model_free(m);
  free(buf);
  free_tables(&T);
}

#if defined(CALIB_HAVE_X86_KERNELS)
static long long rec_int(double v) {
  long long r;
  memcpy(&r, &v, sizeof r);
  return r;
}

/* The last index with x <= s (s >= x[0]), by a linear scan. */
static size_t ref_last_le(const double *x, size_t m, double s) {
  size_t j = 0;
  while (j + 1 < m && x[j + 1] <= s) j++;
  return j;
}

/* The index itself, by a scalar reading of its documented layout (applyd.h):
 * for each class, at every threshold, its double neighbours and points
 * between, the bucket of s, its record's [start, start + rem] must hold the
 * last index with x <= s, and start + (the two next thresholds <= s) must be
 * it when rem <= 2. Catches an off-by-one at a knot that the outputs cannot
 * show (the interpolant is continuous there). */
static void check_index_structure(size_t k, int input) {
  tables T;
  make_tables(&T, k, input, 0);
  size_t len = 0;
  uint8_t *buf = craft(&T, &len);
  calib_model *m = NULL;
  CHECK_OK(calib_model_load(&m, buf, len));
  const calib__iso_index *ix = m ? m->isoidx : NULL;
  CHECK(ix != NULL);
  if (!ix) { calib_model_free(m), free(buf), free_tables(&T); return; }
  size_t off = 0, bad = 0;
  for (size_t j = 0; j < k; j++) {
    const double *x = T.x + off;
    const size_t mj = T.m[j];
    CHECK(ix->off[j] == (long long)off && ix->m[j] == (long long)mj && ix->lo[j] == x[0] && ix->hi[j] == x[mj - 1]);
    for (size_t t = 0; t < mj; t++)
      for (int w = 0; w < 5; w++) {
        double s = w == 0 ? x[t] : w == 1 ? nextafter(x[t], INFINITY) : w == 2 ? nextafter(x[t], -INFINITY)
                 : w == 3 && t + 1 < mj ? x[t] + (x[t + 1] - x[t]) * th_uniform() : x[t] + 1.0;
        if (s == 0.0 && th_uniform() < 0.5) s = -0.0;
        unsigned long long b = (calib__iso_ukey(s) - (unsigned long long)ix->uklo[j]) >> ix->sh[j];
        if (s >= ix->hi[j]) b = (unsigned long long)ix->nbm1[j];
        if (!(s > ix->lo[j])) b = 0;
        const double *r = ix->brec + 4 * ((size_t)ix->boff[j] + b);
        const long long start = rec_int(r[2]) - (long long)off, rem = rec_int(r[3]);
        const long long want = s < x[0] ? 0 : (long long)ref_last_le(x, mj, s);
        const long long two = start + (r[0] <= s) + (r[1] <= s);
        if (!(start <= want && want <= start + rem && (rem > 2 || two == want))) bad++;
        if (rem <= 2 && (r[0] != (rem >= 1 ? x[start + 1] : INFINITY) || r[1] != (rem >= 2 ? x[start + 2] : INFINITY))) bad++;
      }
    off += mj;
  }
  if (bad) TH_FAIL("index structure: k %zu input %d: %zu bad lookups", k, input, bad);
  th_checks++;
  calib_model_free(m);
  free(buf);
  free_tables(&T);
}
#endif

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  static const size_t ks[] = {2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 100, 1000, 1024};
  for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
    const size_t k = ks[ki], n = k >= 1000 ? 12 : 60;
    check_case(k, CALIB_INPUT_PROBS, 0, n);
    check_case(k, CALIB_INPUT_SCORES, 0, n);
    check_case(k, CALIB_INPUT_PROBS, 1, n);
    check_case(k, CALIB_INPUT_SCORES, 1, n);
    check_case(k, CALIB_INPUT_LOGITS, 0, n);
  }
  check_in_place();
#if defined(CALIB_HAVE_X86_KERNELS)
  for (int rep = 0; rep < 3; rep++) {
    check_index_structure(50, CALIB_INPUT_PROBS);
    check_index_structure(50, CALIB_INPUT_SCORES);
  }
#endif
  TEST_MAIN_END();
}
