/* test_neon.c -- conformance of the NEON kernel table (src/kernels/kernels_neon.c)
 * with the scalar oracle and a float64 reference, on aarch64. Built and run
 * under qemu-aarch64 by `make test-cross`; on any other CPU it skips (77).
 *
 * Cases: k = 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 1000, 1001; n = 1, 2, 7;
 * normal, masked (-inf), huge (+-1e30), subnormal and wide (tiny
 * probabilities) rows; beta 1, 0.37, 2.5; contiguous, padded (ld = k + 3,
 * padding must stay untouched) and in-place layouts.
 * Tolerances per probability (those of test/test_kernels.c):
 *   |p - ref| <= 1e-6 and |p - ref| <= ref (2e-6 + 1.2e-7 |t|) + 3e-45,
 * row sums within 1e-6 of 1; log-softmax within 1e-5 + 1.2e-7 |ref|;
 * sigmoid as softmax; check_rows gives the scalar table's verdict on every
 * NaN / +inf / all -inf placement; ts_moments within 1e-12 relative of the
 * scalar table (k up to 2100, past the NEON table's 2048-entry buffer);
 * check_finite and ts_prepass against the scalar table (see their tests).
 * Usage: test_neon [seed] */
#include "harness.h"
#include "internal.h"
#include "kernels.h"
#include <float.h>

#if defined(CALIB_HAVE_NEON_KERNELS)

#define SENT 12345.0f
static const size_t KS[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 1000, 1001};
static const size_t NS[] = {1, 2, 7};
static const float BETAS[] = {1.0f, 0.37f, 2.5f};
enum { D_NORMAL, D_NEGINF, D_HUGE, D_SUB, D_WIDE, D_COUNT };

static float draw(int kind) {
  switch (kind) {
    case D_NORMAL: return (float)(3.0 * th_normal());
    case D_NEGINF: return th_uniform() < 0.3 ? -INFINITY : (float)(3.0 * th_normal());
    case D_HUGE: {
      static const float h[] = {1e30f, -1e30f, 3e29f, -5e29f, 0.0f};
      return h[th_next() % 5];
    }
    case D_SUB: return (float)((th_uniform() < 0.5 ? -1 : 1) * pow(10.0, -38.0 - 7.0 * th_uniform()));
    default: return (float)(-100.0 * th_uniform());
  }
}

static void fill(float *x, size_t n, size_t k, size_t ld, int kind) {
  for (size_t i = 0; i < n; i++) {
    float *r = x + i * ld;
    for (size_t j = 0; j < k; j++) r[j] = draw(kind);
    if (kind == D_NEGINF) r[th_next() % k] = (float)th_normal(); /* one finite entry */
    for (size_t j = k; j < ld; j++) r[j] = SENT;
  }
}

/* float64 reference of one row: t_j = beta (x_j - max) and p_j or log p_j. */
static void ref_row(const float *r, size_t k, double beta, double *t, double *p, int logp) {
  double m = -INFINITY, s = 0;
  for (size_t j = 0; j < k; j++) m = (double)r[j] > m ? (double)r[j] : m;
  for (size_t j = 0; j < k; j++) {
    t[j] = beta * ((double)r[j] - m);
    s += exp(t[j]);
  }
  for (size_t j = 0; j < k; j++) p[j] = logp ? t[j] - log(s) : exp(t[j]) / s;
}

static long prob_fail = 0;
static void check_prob(double p, double ref, double t, const char *what, size_t k, size_t j) {
  const double d = fabs(p - ref);
  const double rel = ref * (2e-6 + 1.2e-7 * (isinf(t) ? 0.0 : fabs(t))) + 3e-45;
  th_checks++;
  if (!(d <= 1e-6 && d <= rel)) {
    if (prob_fail++ < 10) TH_FAIL("%s k=%zu j=%zu: %.9g vs ref %.9g (t=%g)", what, k, j, p, ref, t);
    else th_failed++;
  }
}

static void test_softmax_case(const calib__kernels *kt, size_t n, size_t k, int kind, float beta,
                              int layout) {
  const size_t ld = layout == 1 ? k + 3 : k;
  float *x = malloc(n * ld * sizeof *x), *y = malloc(n * ld * sizeof *y);
  double *t = malloc(k * sizeof *t), *p = malloc(k * sizeof *p);
  fill(x, n, k, ld, kind);
  for (size_t i = 0; i < n * ld; i++) y[i] = SENT;
  for (int logp = 0; logp < 2; logp++) {
    float *out = y;
    float *in = x;
    float *copy = NULL;
    if (layout == 2) { /* in place on a copy */
      copy = malloc(n * ld * sizeof *copy);
      memcpy(copy, x, n * ld * sizeof *copy);
      in = out = copy;
    }
    if (logp) kt->log_softmax(in, n, k, ld, beta, out, ld);
    else kt->softmax(in, n, k, ld, beta, out, ld);
    for (size_t i = 0; i < n; i++) {
      ref_row(x + i * ld, k, beta, t, p, logp);
      double sum = 0;
      for (size_t j = 0; j < k; j++) {
        const double v = (double)out[i * ld + j];
        if (logp) {
          th_checks++;
          if (!(fabs(v - p[j]) <= 1e-5 + 1.2e-7 * fabs(p[j])) && !(isinf(p[j]) && v < -1e30)) {
            if (prob_fail++ < 10) TH_FAIL("log_softmax k=%zu j=%zu: %.9g vs %.9g", k, j, v, p[j]);
            else th_failed++;
          }
        } else {
          check_prob(v, p[j], t[j], "softmax", k, j);
          sum += v;
        }
      }
      if (!logp) CHECK_NEAR(sum, 1.0, 1e-6);
      for (size_t j = k; j < ld; j++) CHECK(out[i * ld + j] == SENT && x[i * ld + j] == SENT);
    }
    free(copy);
  }
  free(x);
  free(y);
  free(t);
  free(p);
}

static void test_softmax(const calib__kernels *kt) {
  for (size_t a = 0; a < sizeof KS / sizeof KS[0]; a++)
    for (size_t b = 0; b < sizeof NS / sizeof NS[0]; b++)
      for (int kind = 0; kind < D_COUNT; kind++)
        for (size_t c = 0; c < sizeof BETAS / sizeof BETAS[0]; c++)
          for (int layout = 0; layout < 3; layout++)
            test_softmax_case(kt, NS[b], KS[a], kind, BETAS[c], layout);
}

static void test_sigmoid(const calib__kernels *kt) {
  for (size_t n = 1; n <= 37; n += 3)
    for (int kind = 0; kind < D_COUNT; kind++)
      for (size_t c = 0; c < sizeof BETAS / sizeof BETAS[0]; c++) {
        float x[40], y[41];
        for (size_t i = 0; i < n; i++) x[i] = kind == D_NEGINF ? (th_uniform() < 0.3 ? -INFINITY : INFINITY) : draw(kind);
        y[n] = SENT;
        kt->sigmoid(x, n, BETAS[c], y);
        for (size_t i = 0; i < n; i++) {
          const double tt = (double)BETAS[c] * (double)x[i];
          const double ref = tt >= 0 ? 1.0 / (1.0 + exp(-tt)) : exp(tt) / (1.0 + exp(tt));
          check_prob((double)y[i], ref, fabs(tt) > 200 ? 0 : tt, "sigmoid", n, i);
        }
        CHECK(y[n] == SENT);
        kt->sigmoid(x, n, BETAS[c], x); /* in place equals out of place */
        CHECK(memcmp(x, y, n * sizeof *x) == 0);
      }
}

static void test_check_rows(const calib__kernels *kt, const calib__kernels *sc) {
  const float bad[] = {NAN, INFINITY};
  for (size_t a = 0; a < sizeof KS / sizeof KS[0]; a++) {
    const size_t k = KS[a], n = 3, ld = k + 1;
    float *x = malloc(n * ld * sizeof *x);
    fill(x, n, k, ld, D_NORMAL);
    CHECK(kt->check_rows(x, n, k, ld) == CALIB_OK);
    for (size_t pos = 0; pos < k; pos += (k > 40 ? 97 : 1)) {
      for (int b = 0; b < 2; b++) {
        const float keep = x[ld + pos];
        x[ld + pos] = bad[b];
        CHECK(kt->check_rows(x, n, k, ld) == CALIB_E_NONFINITE);
        CHECK(kt->check_rows(x, n, k, ld) == sc->check_rows(x, n, k, ld));
        x[ld + pos] = keep;
      }
    }
    float *r = x + 2 * ld; /* an all -inf row, then one finite entry in it */
    for (size_t j = 0; j < k; j++) r[j] = -INFINITY;
    CHECK(kt->check_rows(x, n, k, ld) == CALIB_E_NONFINITE);
    r[k - 1] = 1.0f;
    CHECK(kt->check_rows(x, n, k, ld) == CALIB_OK);
    r[k] = NAN; /* padding is never read */
    CHECK(kt->check_rows(x, n, k, ld) == CALIB_OK);
    free(x);
  }
}

/* The temperature kernels' cases: TS_N rows of k logits of the given kind
 * (ts_case: the a-th of TS_KS's widths, normal or wide logits by a's
 * parity), random labels, weights with row 4 at 0. Returns the logits
 * (malloc'd); *scale = sum_i max(w_i, 1) r_i (1 + r_i),
 * r_i the row's range. The summed moments cancel (acc[1] = sum_i w_i (mu_i -
 * d_{i,y_i}) has terms of either sign, each up to r_i), so two correct
 * summation orders agree to 1e-12 of |acc| + 1e-3 scale, not of |acc| alone:
 * seed 1796563201 gave acc[1] = -0.0106 from terms of order 1 and differed by
 * 1.7e-12 relative (test_kernels.c compares the x86 tables the same way). */
#define TS_N 9
static const size_t TS_KS[] = {2, 3, 5, 8, 17, 1001, 2047, 2049, 2100};

static float *ts_case_k(size_t k, int kind, int64_t y[TS_N], double w[TS_N], double *scale) {
  float *x = malloc(TS_N * k * sizeof *x);
  fill(x, TS_N, k, k, kind);
  *scale = 0;
  for (size_t i = 0; i < TS_N; i++) {
    y[i] = (int64_t)(th_next() % k);
    w[i] = i == 4 ? 0.0 : th_uniform() + 0.1;
    double mx = -INFINITY, mn = INFINITY;
    for (size_t j = 0; j < k; j++) {
      mx = fmax(mx, (double)x[i * k + j]);
      mn = fmin(mn, (double)x[i * k + j]);
    }
    *scale += (w[i] > 1.0 ? w[i] : 1.0) * (mx - mn) * (1.0 + mx - mn);
  }
  return x;
}
static float *ts_case(size_t a, int64_t y[TS_N], double w[TS_N], double *scale) {
  return ts_case_k(TS_KS[a], a % 2 ? D_NORMAL : D_WIDE, y, w, scale);
}

/* |got - ref| <= rel (|ref| + 1e-3 scale), as ts_case explains. */
#define CHECK_SUM(got, ref, rel, scale) do { double cs_g = (got), cs_r = (ref); th_checks++; \
    if (!(fabs(cs_g - cs_r) <= (rel) * (fabs(cs_r) + 1e-3 * (scale)))) \
      TH_FAIL("CHECK_SUM(%s, %s): %.17g vs %.17g (diff %.3g > %.3g)", #got, #ref, cs_g, cs_r, \
              fabs(cs_g - cs_r), (rel) * (fabs(cs_r) + 1e-3 * (scale))); } while (0)

static void test_ts_moments(const calib__kernels *kt, const calib__kernels *sc) {
  for (size_t a = 0; a < sizeof TS_KS / sizeof TS_KS[0]; a++) {
    const size_t k = TS_KS[a], n = TS_N;
    int64_t y[TS_N];
    double w[TS_N], scale;
    float *x = ts_case(a, y, w, &scale);
    for (int useW = 0; useW < 2; useW++) {
      const double betas[] = {0.05, 1.0, 3.7};
      for (int bi = 0; bi < 3; bi++) {
        double an[3] = {0.5, 0, 0}, as[3] = {0.5, 0, 0};
        kt->ts_moments(x, n, k, k, y, useW ? w : NULL, betas[bi], an);
        sc->ts_moments(x, n, k, k, y, useW ? w : NULL, betas[bi], as);
        for (int q = 0; q < 3; q++) CHECK_SUM(an[q], as[q], 1e-12, scale);
      }
    }
    free(x);
  }
}

/* ts_first: the same check result, pre-pass and sums as the scalar oracle's
 * (1e-12 relative), and its row records (kernels.h: every row, weight 0
 * included): the two sums to 1e-13 relative, the label's exponent and the
 * top-label flag exactly; one row with ties at its maximum. */
static void test_ts_first(const calib__kernels *kt, const calib__kernels *sc) {
  for (size_t a = 0; a < sizeof TS_KS / sizeof TS_KS[0]; a++) {
    const size_t k = TS_KS[a], n = TS_N;
    int64_t y[TS_N];
    double w[TS_N], scale;
    float *x = ts_case(a, y, w, &scale);
    double *rn = malloc(n * CALIB__TS_REC * sizeof *rn), *rs = malloc(n * CALIB__TS_REC * sizeof *rs);
    for (size_t j = 0; j < k; j++) x[3 * k + j] = (float)(j % 2); /* ties at the maximum 1 */
    y[3] = (int64_t)(k > 2 ? 3 : 0); /* a later tie (k = 2: not the maximum): not the top label */
    double an[3] = {0.5, 0, 0}, as[3] = {0.5, 0, 0}, gn = 0, gs = 1;
    int pn = -1, ps = -2;
    CHECK(kt->ts_first(x, n, k, k, y, w, 1.0, an, &gn, &pn, rn) == CALIB_OK);
    CHECK(sc->ts_first(x, n, k, k, y, w, 1.0, as, &gs, &ps, rs) == CALIB_OK);
    CHECK(pn == ps);
    CHECK_SUM(gn, gs, 1e-12, scale);
    for (int q = 0; q < 3; q++) CHECK_SUM(an[q], as[q], 1e-12, scale);
    for (size_t i = 0; i < n; i++) {
      const double *c = rn + i * CALIB__TS_REC, *o = rs + i * CALIB__TS_REC;
      CHECK_REL(c[0], o[0], 1e-13);
      CHECK_REL(c[1], o[1], 1e-13);
      CHECK(c[2] == o[2] && c[3] == o[3]);
    }
    CHECK(rs[3 * CALIB__TS_REC + 3] == 0.0);
    free(x);
    free(rn);
    free(rs);
  }
}

/* ts_moments_fast: within 1e-6 relative of the scalar fast oracle, and its
 * gradient within the temperature fit's bound 2^-16 (acc0/beta + |acc1|) of
 * the exact scalar ts_moments; k crosses NEON's 128-entry float-sum block. */
static void test_ts_moments_fast(const calib__kernels *kt, const calib__kernels *sc) {
  static const size_t ks[] = {2, 3, 5, 8, 17, 127, 129, 1001, 2100};
  for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++) {
    const size_t k = ks[a], n = TS_N;
    int64_t y[TS_N];
    double w[TS_N], scale;
    /* The kernel's documented accuracy is relative to the row's spread (its
     * variance term to ~1e-6 of E[d^2], raw-moment formula), so the absolute
     * floor scales with ts_case's scale, as test_kernels.c's comparison of
     * the x86 tables does. */
    float *x = ts_case_k(k, a % 2 ? D_NORMAL : D_WIDE, y, w, &scale);
    for (int useW = 0; useW < 2; useW++) {
      const double betas[] = {0.05, 1.0, 3.7};
      for (int bi = 0; bi < 3; bi++) {
        double an[3] = {0.5, 0, 0}, as[3] = {0.5, 0, 0}, ex[3] = {0.5, 0, 0};
        kt->ts_moments_fast(x, n, k, k, y, useW ? w : NULL, betas[bi], an);
        sc->ts_moments_fast(x, n, k, k, y, useW ? w : NULL, betas[bi], as);
        sc->ts_moments(x, n, k, k, y, useW ? w : NULL, betas[bi], ex);
        for (int q = 0; q < 3; q++) CHECK(fabs(an[q] - as[q]) <= 1e-6 * (fabs(as[q]) + 1e-3 * scale));
        CHECK(fabs(an[1] - ex[1]) <= 0x1p-16 * (fabs(ex[0] - 0.5) / betas[bi] + fabs(ex[1])) + 1e-300);
      }
    }
    free(x);
  }
}

/* check_finite: finite rows mixing +-0, subnormals, +-FLT_MAX (padding NaN:
 * never read) pass; NaN (either sign, with a payload), +inf and -inf at
 * every position of the first, middle and last row fail, as in the scalar
 * table; and on either side of the 8192-entry verdict blocks. */
static float finite_draw(void) {
  static const float special[] = {FLT_MAX, -FLT_MAX, 0.0f, -0.0f, FLT_MIN, -0x1p-149f, 1e-40f, -3e-39f};
  return th_uniform() < 0.3 ? special[th_next() % 8] : (float)(5.0 * th_normal());
}

static float bad_value(int b) {
  static const uint32_t bits[] = {0x7fc00000u, 0x7f800000u, 0xff800000u, 0xffc00000u, 0x7f800001u, 0xffffffffu};
  float v;
  memcpy(&v, &bits[b], sizeof v);
  return v;
}

static void test_check_finite(const calib__kernels *kt, const calib__kernels *sc) {
  for (size_t a = 0; a < sizeof KS / sizeof KS[0]; a++)
    for (size_t pad = 0; pad < 2; pad++) {
      const size_t k = KS[a], ld = k + 3 * pad, n = 3;
      float *x = malloc(n * ld * sizeof *x);
      for (size_t i = 0; i < n * ld; i++) x[i] = i % ld < k ? finite_draw() : NAN;
      CHECK(kt->check_finite(x, n, k, ld) == CALIB_OK);
      CHECK(kt->check_finite(x, 0, k, ld) == CALIB_OK);
      long fails = 0;
      for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < k; j++)
          for (int b = 0; b < 6; b++) {
            const float keep = x[i * ld + j];
            x[i * ld + j] = bad_value(b);
            th_checks++;
            if ((kt->check_finite(x, n, k, ld) != CALIB_E_NONFINITE ||
                 sc->check_finite(x, n, k, ld) != CALIB_E_NONFINITE) && fails++ < 5)
              TH_FAIL("check_finite k=%zu ld=%zu: bad value %d at [%zu][%zu] missed", k, ld, b, i, j);
            x[i * ld + j] = keep;
          }
      th_failed += fails > 5 ? fails - 5 : 0;
      CHECK(kt->check_finite(x, n, k, ld) == CALIB_OK);
      free(x);
    }
  static const size_t shapes[][3] = {{3000, 7, 7}, {3000, 7, 9}, {3, 9000, 9000}, {1, 20000, 20001}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const size_t n = shapes[s][0], k = shapes[s][1], ld = shapes[s][2], tot = n * k;
    float *x = malloc(n * ld * sizeof *x);
    for (size_t i = 0; i < n * ld; i++) x[i] = i % ld < k ? finite_draw() : NAN;
    CHECK(kt->check_finite(x, n, k, ld) == CALIB_OK);
    const size_t at[] = {0, 8191, 8192, 16384, tot - 1};
    for (size_t t = 0; t < sizeof at / sizeof at[0]; t++) {
      const size_t idx = at[t] / k * ld + at[t] % k;
      const float keep = x[idx];
      x[idx] = bad_value((int)(t % 6));
      CHECK(kt->check_finite(x, n, k, ld) == CALIB_E_NONFINITE);
      x[idx] = keep;
    }
    free(x);
  }
}

/* ts_prepass: g and sep as the scalar table computes them, g to 1e-13 of
 * sum_i w_i (mean_j |x_ij| + |x_{i,y_i}|) and exactly for integer-valued
 * logits (exact double row sums, 2^24 + 1 included); separable rows (label
 * at the maximum, ties), then a label just below the maximum at every
 * position. */
static void test_ts_prepass(const calib__kernels *kt, const calib__kernels *sc) {
  for (size_t a = 0; a < sizeof KS / sizeof KS[0]; a++) {
    const size_t k = KS[a], n = 11;
    if (k < 2) continue;
    for (int kind = 0; kind < 3; kind++)
      for (size_t pad = 0; pad < 2; pad++) {
        const size_t ld = k + 3 * pad;
        float *x = malloc(n * ld * sizeof *x);
        int64_t y[11];
        double w[11], scale = 0;
        for (size_t i = 0; i < n; i++) {
          float *r = x + i * ld;
          for (size_t j = 0; j < ld; j++)
            r[j] = j >= k ? NAN : kind == 1 ? (j == 0 && i % 2 ? 16777216.0f : (float)(int)(1e3 * th_normal()))
                                : kind == 2 ? finite_draw() : (float)(4.0 * th_normal());
          y[i] = (int64_t)(th_next() % k);
          w[i] = i == 4 ? 0.0 : th_uniform() + 0.1;
          for (size_t j = 0; j < k; j++) scale += w[i] * fabs((double)r[j]) / (double)k;
          scale += w[i] * fabs((double)r[y[i]]);
        }
        for (int useW = 0; useW < 2; useW++) {
          double gn = 0, gs = 0;
          int sn = -1, ss = -1;
          kt->ts_prepass(x, n, k, ld, y, useW ? w : NULL, &gn, &sn);
          sc->ts_prepass(x, n, k, ld, y, useW ? w : NULL, &gs, &ss);
          CHECK(sn == ss);
          if (kind == 1) CHECK(gn == gs);
          else CHECK_NEAR(gn, gs, 1e-13 * scale);
        }
        /* separable: every label at its row maximum (a tie half the time) */
        for (size_t i = 0; i < n; i++) {
          float *r = x + i * ld, mx = r[0];
          for (size_t j = 1; j < k; j++) mx = r[j] > mx ? r[j] : mx;
          r[y[i]] = th_uniform() < 0.5 ? mx : mx + 1.0f;
        }
        double g;
        int sp = -1;
        kt->ts_prepass(x, n, k, ld, y, w, &g, &sp);
        CHECK(sp == 1);
        float *r = x + (n - 1) * ld;
        const float zy = r[y[n - 1]];
        for (size_t j = 0; j < k && zy < FLT_MAX; j++) {
          if ((int64_t)j == y[n - 1]) continue;
          const float keep = r[j];
          r[j] = nextafterf(zy, INFINITY);
          kt->ts_prepass(x, n, k, ld, y, w, &g, &sp);
          CHECK(sp == 0);
          r[j] = zy;
          kt->ts_prepass(x, n, k, ld, y, w, &g, &sp);
          CHECK(sp == 1);
          r[j] = keep;
        }
        free(x);
      }
  }
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  const calib__kernels *kt = calib__kernels_by_name("neon"), *sc = calib__kernels_by_name("scalar");
  CHECK(kt != NULL && sc != NULL);
  if (!kt || !sc) TEST_MAIN_END();
  CHECK(strcmp(kt->name, "neon") == 0);
  CHECK(strcmp(calib_isa(), "neon") == 0 || getenv("CALIB_ISA") != NULL);
  test_softmax(kt);
  test_sigmoid(kt);
  test_check_rows(kt, sc);
  test_ts_moments(kt, sc);
  test_ts_first(kt, sc);
  test_ts_moments_fast(kt, sc);
  test_check_finite(kt, sc);
  test_ts_prepass(kt, sc);
  TEST_MAIN_END();
}

#else

int main(void) {
  (void)th_checks;
  (void)th_failed;
  SKIP("NEON kernels are not built for this CPU (aarch64 only): `make test-cross` runs them under qemu-aarch64");
}

#endif
