/* test_apply_typed.c -- typed inputs outside the softmax core: calib_apply_typed,
 * calib_apply_typed_rows, calib_fit_typed, calib_accumulator_add_logits_typed
 * (contract in calib.h, "Typed inputs").
 *
 * Reference: the float32 API on the rows dequantized BY THIS TEST (its own
 * decoders: float16 from sign/exponent/mantissa with ldexp, bfloat16 as the
 * high half of a float32, int8/uint8 as scale * (float)(q - zp)); float16
 * output against this test's own round-to-nearest-even (nearbyint of the
 * value scaled to 11 significant bits, in double). Every method but
 * temperature maps through the same code as calib_apply: bit for bit.
 * Temperature goes through the typed softmax kernels: within 2e-6 per
 * probability (calib_apply's float32 contract is 1e-6 from float64, twice
 * that between two float32 paths), and float16 output within one float16
 * ulp of the reference rounded.
 * Methods x k in {1 (where the method has it), 3, 10, 100} x input types
 * {F16, BF16, I8, U8 per tensor, I8, U8 per class} x output {F32 (ldp = k and
 * k + 3), F16}; the row-wise call with NaN rows sprinkled in float16 input;
 * strict calls with a bad row write nothing; probability models refuse
 * integer input; rows longer than the stack block (k = 5000); argument
 * errors; fitted models (calib_fit on synthetic data) as well as hand-built
 * ones; the accumulator (saved state == add_logits on the dequantized rows,
 * byte for byte); calib_fit_typed (parameters == calib_fit on the
 * dequantized rows). Usage: test_apply_typed [seed] */
#include "harness.h"
#include "internal.h" /* calib__alloc_fail_at */
#include "../src/model/typed_convert.h"

/* ---- the test's own conversions ------------------------------------------- */

static float ref_f16_decode(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 31) v = m ? NAN : INFINITY;
  else if (e == 0) v = ldexp((double)m, -24);
  else v = ldexp((double)(m + 1024), e - 25);
  return (float)(s ? -v : v);
}

/* round to nearest even binary16, by scaling to an integer significand */
static uint16_t ref_f16_encode(float f) {
  if (f != f) return 0x7e00;
  const uint16_t sign = signbit(f) ? 0x8000 : 0;
  double a = fabs((double)f);
  if (a == 0) return sign;
  int e;
  frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
  int ex = e - 1;  /* a in [2^ex, 2^(ex+1)) */
  if (ex < -14) ex = -14;
  double q = nearbyint(ldexp(a, 10 - ex)); /* significand with 10 fraction bits */
  if (q >= 2048) { q /= 2; ex++; }
  if (ex > 15) return sign | 0x7c00;
  if (q < 1024) return sign | (uint16_t)q; /* subnormal (ex == -14) */
  return sign | (uint16_t)(((ex + 15) << 10) | ((int)q - 1024));
}

static uint16_t bf16_of(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  return (uint16_t)(b >> 16);
}

static float bf16_decode(uint16_t h) {
  uint32_t b = (uint32_t)h << 16;
  float f;
  memcpy(&f, &b, 4);
  return f;
}

#include "method_models.h"

/* synthetic labelled logits: class = argmax of a noisy copy */
static void synth(float *z, int64_t *y, size_t n, size_t k) {
  for (size_t i = 0; i < n; i++) {
    size_t best = 0;
    for (size_t j = 0; j < k; j++) {
      z[i * k + j] = (float)(2.5 * th_normal());
      if (z[i * k + j] > z[i * k + best]) best = j;
    }
    if (k == 1) y[i] = th_uniform() < 1.0 / (1.0 + exp(-(double)z[i])) ? 1 : 0;
    else y[i] = th_uniform() < 0.7 ? (int64_t)best : (int64_t)(th_next() % k);
  }
}

/* a model fitted by calib_fit on synthetic data (NULL if the fit fails) */
static calib_model *fit_model(int method, size_t k) {
  const size_t n = 400;
  float *z = (float *)malloc(n * k * sizeof(float));
  int64_t *y = (int64_t *)malloc(n * sizeof(int64_t));
  synth(z, y, n, k);
  calib_fitter *f = NULL;
  calib_model *m = NULL;
  const int cst = calib_fitter_create(&f, method);
  if (cst == CALIB_OK) { /* a fit that fails is a failure, not a skipped case */
    const int st = calib_fit(f, z, n, k, y, NULL, &m);
    if (st != CALIB_OK) {
      TH_FAIL("fit of %s on synthetic (%zu, %zu) failed: %s", calib_method_name(method), n, k, calib_strerror(st));
      m = NULL;
    }
    calib_fitter_free(f);
  } else if (cst != CALIB_E_UNSUPPORTED) { /* CALIB_E_UNSUPPORTED: not in this build (NO_BLAS) */
    TH_FAIL("calib_fitter_create(%s): %s", calib_method_name(method), calib_strerror(cst));
  }
  free(z);
  free(y);
  return m;
}

/* ---- typed inputs ----------------------------------------------------------- */

enum { T_F16, T_BF16, T_I8, T_U8, T_I8C, T_U8C, NTYPES };
static const char *const TNAME[] = {"f16", "bf16", "i8", "u8", "i8/class", "u8/class"};

typedef struct {
  calib_input in;
  void *raw;
  float *deq; /* n x k, this test's dequantization */
  float *cs;
  int32_t *cz;
} tdata;

static void make_typed(tdata *d, int type, size_t n, size_t k, double spread) {
  memset(d, 0, sizeof *d);
  const size_t nk = n * k;
  d->deq = (float *)malloc(nk * sizeof(float));
  if (type == T_F16 || type == T_BF16) {
    uint16_t *r = (uint16_t *)malloc(nk * 2);
    for (size_t i = 0; i < nk; i++) {
      const float v = (float)(spread * th_normal());
      r[i] = type == T_F16 ? ref_f16_encode(v) : bf16_of(v);
      d->deq[i] = type == T_F16 ? ref_f16_decode(r[i]) : bf16_decode(r[i]);
    }
    d->raw = r;
    d->in.dtype = type == T_F16 ? CALIB_DTYPE_F16 : CALIB_DTYPE_BF16;
  } else {
    const int sgn = type == T_I8 || type == T_I8C, per = type == T_I8C || type == T_U8C;
    unsigned char *r = (unsigned char *)malloc(nk);
    d->in.dtype = sgn ? CALIB_DTYPE_I8 : CALIB_DTYPE_U8;
    d->in.scale = (float)(spread / 40.0);
    d->in.zero_point = sgn ? 3 : 131;
    if (per) {
      d->cs = (float *)malloc(k * sizeof(float));
      d->cz = (int32_t *)malloc(k * sizeof(int32_t));
      for (size_t j = 0; j < k; j++) {
        d->cs[j] = (float)(spread / 40.0 * (0.7 + 0.1 * (double)(j % 6)));
        d->cz[j] = sgn ? (int32_t)(j % 9) - 4 : 120 + (int32_t)(j % 17);
      }
      d->in.col_scale = d->cs;
      d->in.col_zero_point = d->cz;
    }
    for (size_t i = 0; i < nk; i++) {
      const size_t j = i % k;
      const int q = sgn ? (int)(th_next() % 256) - 128 : (int)(th_next() % 256);
      if (sgn) {
        const signed char c = (signed char)q;
        memcpy(r + i, &c, 1);
      } else {
        r[i] = (unsigned char)q;
      }
      const float sc = per ? d->cs[j] : d->in.scale;
      const int32_t zp = per ? d->cz[j] : d->in.zero_point;
      d->deq[i] = sc * (float)(q - zp);
    }
    d->raw = r;
  }
  d->in.data = d->raw;
}

static void free_typed(tdata *d) {
  free(d->raw);
  free(d->deq);
  free(d->cs);
  free(d->cz);
}

static int same_bits(float a, float b) { return memcmp(&a, &b, 4) == 0 || (a != a && b != b); }

static int close_prob(float a, float b) {
  if (a != a || b != b) return a != a && b != b;
  return fabs((double)a - (double)b) <= 2e-6;
}

/* one float16 output against the reference float32 value */
static int f16_ok(uint16_t got, float ref, int exact) {
  const uint16_t want = ref_f16_encode(ref);
  if (ref != ref) return ((got >> 10) & 31) == 31 && (got & 1023);
  if (exact) return got == want;
  return abs((int)got - (int)want) <= 1;
}

/* calib_apply_typed and _rows of m against calib_apply(_rows) on d->deq */
static void check_apply(const calib_model *m, const char *what, tdata *d, size_t n, size_t k) {
  const int exact = calib_model_method(m) != CALIB_METHOD_TEMPERATURE;
  const size_t ld2 = k + 3;
  float *ref = (float *)malloc(n * k * sizeof(float));
  float *out = (float *)malloc(n * ld2 * sizeof(float));
  uint16_t *h = (uint16_t *)malloc(n * k * 2);
  int st = calib_apply(m, d->deq, n, k, ref);
  if (st != CALIB_OK) {
    TH_FAIL("%s: reference calib_apply failed %d", what, st);
    goto done;
  }
  for (int pass = 0; pass < 2; pass++) {
    const size_t ldp = pass ? ld2 : k;
    memset(out, 0, n * ld2 * sizeof(float));
    CHECK_OK(calib_apply_typed(m, &d->in, n, k, out, CALIB_DTYPE_F32, pass ? ldp : 0));
    size_t badv = 0;
    for (size_t i = 0; i < n; i++)
      for (size_t j = 0; j < k; j++)
        if (!(exact ? same_bits(out[i * ldp + j], ref[i * k + j]) : close_prob(out[i * ldp + j], ref[i * k + j])))
          badv++;
    th_checks++;
    if (badv) TH_FAIL("%s: F32 output (ldp %zu): %zu values differ from calib_apply", what, ldp, badv);
  }
  CHECK_OK(calib_apply_typed(m, &d->in, n, k, h, CALIB_DTYPE_F16, 0));
  size_t badh = 0;
  for (size_t i = 0; i < n * k; i++)
    if (!f16_ok(h[i], ref[i], exact)) badh++;
  th_checks++;
  if (badh) TH_FAIL("%s: F16 output: %zu values differ from the reference rounded", what, badh);
  /* row-wise, no bad rows: equals the strict call */
  size_t bad = 99, first = 99;
  uint8_t *rs = (uint8_t *)malloc(n);
  memset(rs, 7, n);
  CHECK_OK(calib_apply_typed_rows(m, &d->in, n, k, out, CALIB_DTYPE_F32, 0, rs, &bad, &first));
  CHECK(bad == 0 && first == n);
  size_t badr = 0;
  for (size_t i = 0; i < n * k; i++)
    if (!(exact ? same_bits(out[i], ref[i]) : close_prob(out[i], ref[i]))) badr++;
  for (size_t i = 0; i < n; i++)
    if (rs[i]) badr++;
  th_checks++;
  if (badr) TH_FAIL("%s: row-wise without bad rows: %zu differences", what, badr);
  free(rs);
done:
  free(ref);
  free(out);
  free(h);
}

static const int METHODS[] = {CALIB_METHOD_TEMPERATURE, CALIB_METHOD_PLATT,  CALIB_METHOD_BETA,
                              CALIB_METHOD_ISOTONIC,    CALIB_METHOD_HISTOGRAM, CALIB_METHOD_VECTOR,
                              CALIB_METHOD_MATRIX,      CALIB_METHOD_DIRICHLET, CALIB_METHOD_ETS};
#define NMETH (sizeof METHODS / sizeof METHODS[0])

static void test_methods(void) {
  static const size_t KS[] = {1, 3, 10, 100};
  for (size_t mi = 0; mi < NMETH; mi++) {
    for (size_t ki = 0; ki < 4; ki++) {
      const int method = METHODS[mi];
      const size_t k = KS[ki];
      if (k == 1 && method >= CALIB_METHOD_VECTOR && method <= CALIB_METHOD_DIRICHLET) continue;
      calib_model *models[2] = {build_model(method, k, 0, 0), k <= 10 ? fit_model(method, k) : NULL};
      for (int w = 0; w < 2; w++) {
        if (!models[w]) continue;
        for (int type = 0; type < NTYPES; type++) {
          const size_t n = 1 + (size_t)(th_next() % 60);
          tdata d;
          make_typed(&d, type, n, k, 3.0);
          char what[160];
          snprintf(what, sizeof what, "%s (%s) k=%zu n=%zu %s", calib_method_name(method),
                   w ? "fitted" : "built", k, n, TNAME[type]);
          check_apply(models[w], what, &d, n, k);
          free_typed(&d);
        }
      }
      calib_model_free(models[0]);
      calib_model_free(models[1]);
    }
  }
}

/* row-wise with bad rows (float16 NaN / +inf) against calib_apply_rows, and
 * the strict call on the same input writes nothing */
static void test_bad_rows(void) {
  for (size_t mi = 0; mi < NMETH; mi++) {
    const int method = METHODS[mi];
    const size_t k = method == CALIB_METHOD_VECTOR || method == CALIB_METHOD_MATRIX ? 10 : 3, n = 41;
    calib_model *m = build_model(method, k, 0, 0);
    if (!m) continue;
    for (int type = T_F16; type <= T_BF16; type++) {
      tdata d;
      make_typed(&d, type, n, k, 2.0);
      uint16_t *r = (uint16_t *)d.raw;
      const size_t bads[] = {0, 7, 8, 40};
      for (size_t b = 0; b < 4; b++) {
        const size_t i = bads[b];
        const uint16_t v = b % 2 ? (type == T_F16 ? 0x7c00 : 0x7f80) : (type == T_F16 ? 0x7e00 : 0x7fc0);
        r[i * k + 1] = v;
        d.deq[i * k + 1] = b % 2 ? INFINITY : NAN;
      }
      float *ref = (float *)malloc(n * k * 4), *out = (float *)malloc(n * k * 4);
      uint8_t rst[41], tst[41];
      size_t rb, rf, tb = 0, tf = 0;
      const int rc = calib_apply_rows(m, d.deq, n, k, ref, rst, &rb, &rf);
      const int tc = calib_apply_typed_rows(m, &d.in, n, k, out, CALIB_DTYPE_F32, 0, tst, &tb, &tf);
      CHECK(rc == tc && rb == tb && rf == tf && rb == 4 && rf == 0);
      CHECK(memcmp(rst, tst, n) == 0);
      const int exact = method != CALIB_METHOD_TEMPERATURE;
      size_t diff = 0;
      for (size_t i = 0; i < n * k; i++)
        if (!(exact ? same_bits(out[i], ref[i]) : close_prob(out[i], ref[i]))) diff++;
      th_checks++;
      if (diff) TH_FAIL("%s %s: row-wise with bad rows: %zu values differ", calib_method_name(method), TNAME[type], diff);
      /* float16 output of the row-wise call: NaN rows stay NaN */
      uint16_t *h = (uint16_t *)malloc(n * k * 2);
      CHECK(calib_apply_typed_rows(m, &d.in, n, k, h, CALIB_DTYPE_F16, 0, NULL, NULL, NULL) == rc);
      size_t dh = 0;
      for (size_t i = 0; i < n * k; i++)
        if (!f16_ok(h[i], ref[i], exact)) dh++;
      th_checks++;
      if (dh) TH_FAIL("%s %s: row-wise F16: %zu values differ", calib_method_name(method), TNAME[type], dh);
      /* strict: the code of calib_apply, nothing written */
      memset(out, 0x5a, n * k * 4);
      memset(h, 0x5a, n * k * 2);
      const int sc = calib_apply(m, d.deq, n, k, ref);
      CHECK(sc != CALIB_OK);
      CHECK(calib_apply_typed(m, &d.in, n, k, out, CALIB_DTYPE_F32, 0) == sc);
      CHECK(calib_apply_typed(m, &d.in, n, k, h, CALIB_DTYPE_F16, 0) == sc);
      int untouched = 1;
      for (size_t i = 0; i < n * k * 4; i++) untouched &= ((unsigned char *)out)[i] == 0x5a;
      for (size_t i = 0; i < n * k * 2; i++) untouched &= ((unsigned char *)h)[i] == 0x5a;
      CHECK(untouched);
      free(h);
      free(ref);
      free(out);
      free_typed(&d);
    }
    calib_model_free(m);
  }
}

/* probability models: float16/bfloat16 probabilities work, integers are refused */
static void test_probs(void) {
  const int ms[] = {CALIB_METHOD_PLATT, CALIB_METHOD_BETA, CALIB_METHOD_ISOTONIC, CALIB_METHOD_HISTOGRAM};
  for (size_t mi = 0; mi < 4; mi++) {
    for (size_t k = 1; k <= 3; k += 2) {
      calib_model *m = build_model(ms[mi], k, 1, 0);
      if (!m) continue;
      const size_t n = 23;
      for (int type = 0; type < NTYPES; type++) {
        tdata d;
        make_typed(&d, type, n, k, 1.0);
        if (type <= T_BF16) { /* probabilities in [0, 1] */
          uint16_t *r = (uint16_t *)d.raw;
          for (size_t i = 0; i < n * k; i++) {
            const float p = (float)th_uniform();
            r[i] = type == T_F16 ? ref_f16_encode(p) : bf16_of(p);
            d.deq[i] = type == T_F16 ? ref_f16_decode(r[i]) : bf16_decode(r[i]);
          }
          char what[96];
          snprintf(what, sizeof what, "%s(probs) k=%zu %s", calib_method_name(ms[mi]), k, TNAME[type]);
          check_apply(m, what, &d, n, k);
          /* a probability out of [0, 1]: CALIB_E_DOMAIN, nothing written */
          r[5] = type == T_F16 ? ref_f16_encode(1.5f) : bf16_of(1.5f);
          float out[69];
          memset(out, 0x5a, sizeof out);
          CHECK_ERR(calib_apply_typed(m, &d.in, n, k, out, CALIB_DTYPE_F32, 0), CALIB_E_DOMAIN);
          CHECK(((unsigned char *)out)[0] == 0x5a && ((unsigned char *)out)[sizeof out - 1] == 0x5a);
        } else {
          float out[69];
          CHECK_ERR(calib_apply_typed(m, &d.in, n, k, out, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
          CHECK_ERR(calib_apply_typed_rows(m, &d.in, n, k, out, CALIB_DTYPE_F32, 0, NULL, NULL, NULL), CALIB_E_ARG);
        }
        free_typed(&d);
      }
      calib_model_free(m);
    }
  }
  /* isotonic on raw scores with CALIB_OOB_ERROR: int8 values outside the
   * knots are CALIB_E_DOMAIN, nothing written; row-wise marks those rows */
  calib_model *m = build_model(CALIB_METHOD_ISOTONIC, 1, 0, 1);
  if (m) {
    const signed char q[4] = {0, 10, -100, 5};
    calib_input in = {CALIB_DTYPE_I8, q, 0, 0.05f, 0, NULL, NULL}; /* -100 * 0.05 = -5 < -3 */
    float out[4] = {7, 7, 7, 7}, ref[4];
    const float deq[4] = {0.0f, 0.05f * 10.0f, 0.05f * -100.0f, 0.05f * 5.0f};
    CHECK_ERR(calib_apply_typed(m, &in, 4, 1, out, CALIB_DTYPE_F32, 0), CALIB_E_DOMAIN);
    CHECK(out[0] == 7 && out[3] == 7);
    uint8_t st[4];
    size_t bad = 0, first = 0;
    CHECK_ERR(calib_apply_typed_rows(m, &in, 4, 1, out, CALIB_DTYPE_F32, 0, st, &bad, &first), CALIB_E_DOMAIN);
    CHECK(bad == 1 && first == 2 && st[2] == (uint8_t)-CALIB_E_DOMAIN && st[0] == 0 && out[2] != out[2]);
    CHECK_ERR(calib_apply_rows(m, deq, 4, 1, ref, NULL, NULL, NULL), CALIB_E_DOMAIN);
    CHECK(same_bits(out[0], ref[0]) && same_bits(out[3], ref[3]));
    calib_model_free(m);
  }
}

/* rows longer than the stack block: streamed through the float32 output */
static void test_long_rows(void) {
  const size_t k = 5000, n = 3;
  const int ms[] = {CALIB_METHOD_PLATT, CALIB_METHOD_ISOTONIC, CALIB_METHOD_ETS, CALIB_METHOD_VECTOR,
                    CALIB_METHOD_TEMPERATURE};
  for (size_t mi = 0; mi < 5; mi++) {
    calib_model *m = build_model(ms[mi], k, 0, 0);
    if (!m) continue;
    for (int type = T_F16; type <= T_I8C; type += 2) {
      tdata d;
      make_typed(&d, type, n, k, 3.0);
      char what[96];
      snprintf(what, sizeof what, "long rows %s k=%zu %s", calib_method_name(ms[mi]), k, TNAME[type]);
      float *ref = (float *)malloc(n * k * 4), *out = (float *)malloc(n * k * 4);
      uint16_t *h = (uint16_t *)malloc(n * k * 2);
      CHECK_OK(calib_apply(m, d.deq, n, k, ref));
      CHECK_OK(calib_apply_typed(m, &d.in, n, k, out, CALIB_DTYPE_F32, 0));
      const int exact = ms[mi] != CALIB_METHOD_TEMPERATURE;
      size_t diff = 0;
      for (size_t i = 0; i < n * k; i++)
        if (!(exact ? same_bits(out[i], ref[i]) : close_prob(out[i], ref[i]))) diff++;
      th_checks++;
      if (diff) TH_FAIL("%s: %zu values differ", what, diff);
      if (exact) { /* float16 output of a long row: needs a heap, refused */
        CHECK_ERR(calib_apply_typed(m, &d.in, n, k, h, CALIB_DTYPE_F16, 0), CALIB_E_UNSUPPORTED);
      } else {
        CHECK_OK(calib_apply_typed(m, &d.in, n, k, h, CALIB_DTYPE_F16, 0));
      }
      if (type == T_F16) { /* a NaN in row 1, a -inf (bad for platt/vector) in row 2 */
        uint16_t *r = (uint16_t *)d.raw;
        r[1 * k + 4500] = 0x7e00;
        d.deq[1 * k + 4500] = NAN;
        r[2 * k + 10] = 0xfc00;
        d.deq[2 * k + 10] = -INFINITY;
        uint8_t rs[3], ts[3];
        size_t rb, rf, tb, tf;
        const int rc = calib_apply_rows(m, d.deq, n, k, ref, rs, &rb, &rf);
        const int tc = calib_apply_typed_rows(m, &d.in, n, k, out, CALIB_DTYPE_F32, 0, ts, &tb, &tf);
        CHECK(rc == tc && rb == tb && rf == tf && memcmp(rs, ts, 3) == 0);
        diff = 0;
        for (size_t i = 0; i < n * k; i++)
          if (!(exact ? same_bits(out[i], ref[i]) : close_prob(out[i], ref[i]))) diff++;
        th_checks++;
        if (diff) TH_FAIL("%s row-wise: %zu values differ", what, diff);
        memset(out, 0x5a, n * k * 4);
        CHECK(calib_apply_typed(m, &d.in, n, k, out, CALIB_DTYPE_F32, 0) == calib_apply(m, d.deq, n, k, ref));
        CHECK(((unsigned char *)out)[0] == 0x5a && ((unsigned char *)out)[n * k * 4 - 1] == 0x5a);
        /* only the all -inf rule: a row of -inf everywhere but one class is fine for ETS */
        for (size_t j = 0; j < k; j++) {
          r[j] = j == 4999 ? 0 : 0xfc00;
          d.deq[j] = j == 4999 ? 0.0f : -INFINITY;
        }
        CHECK(calib_apply_typed(m, &d.in, 1, k, out, CALIB_DTYPE_F32, 0) == calib_apply(m, d.deq, 1, k, ref));
        r[4999] = 0xfc00;
        d.deq[4999] = -INFINITY;
        CHECK(calib_apply_typed(m, &d.in, 1, k, out, CALIB_DTYPE_F32, 0) == calib_apply(m, d.deq, 1, k, ref));
      }
      free(ref);
      free(out);
      free(h);
      free_typed(&d);
    }
    calib_model_free(m);
  }
}

static void test_args(void) {
  calib_model *m = build_model(CALIB_METHOD_PLATT, 3, 0, 0);
  if (!m) return;
  signed char q[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  float out[16];
  calib_input in = {CALIB_DTYPE_I8, q, 0, 0.1f, 0, NULL, NULL};
  CHECK_ERR(calib_apply_typed(NULL, &in, 4, 3, out, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
  CHECK_ERR(calib_apply_typed(m, NULL, 4, 3, out, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
  CHECK_ERR(calib_apply_typed(m, &in, 4, 3, NULL, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
  CHECK_ERR(calib_apply_typed(m, &in, 4, 3, out, CALIB_DTYPE_I8, 0), CALIB_E_ARG);
  CHECK_ERR(calib_apply_typed(m, &in, 4, 3, out, CALIB_DTYPE_F32, 2), CALIB_E_ARG);
  CHECK_ERR(calib_apply_typed(m, &in, 3, 4, out, CALIB_DTYPE_F32, 0), CALIB_E_SHAPE);
  CHECK_ERR(calib_apply_typed(m, &in, 4, 3, q, CALIB_DTYPE_F32, 0), CALIB_E_ARG); /* overlap */
  in.scale = 0;
  CHECK_ERR(calib_apply_typed(m, &in, 4, 3, out, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
  in.scale = NAN;
  CHECK_ERR(calib_apply_typed(m, &in, 4, 3, out, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
  in.scale = 0.1f;
  in.zero_point = 128;
  CHECK_ERR(calib_apply_typed(m, &in, 4, 3, out, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
  in.zero_point = 0;
  in.dtype = 9;
  CHECK_ERR(calib_apply_typed(m, &in, 4, 3, out, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
  in.dtype = CALIB_DTYPE_F16; /* quantization fields on a float type */
  CHECK_ERR(calib_apply_typed(m, &in, 2, 3, out, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
  in.dtype = CALIB_DTYPE_I8;
  uint8_t st[4];
  CHECK_ERR(calib_apply_typed_rows(m, &in, 4, 3, out, CALIB_DTYPE_F32, 0, (uint8_t *)out + 4, NULL, NULL),
            CALIB_E_ARG);
  size_t bad = 5, first = 5;
  CHECK_ERR(calib_apply_typed_rows(m, &in, 4, 2, out, CALIB_DTYPE_F32, 0, st, &bad, &first), CALIB_E_SHAPE);
  CHECK(bad == 5 && first == 5);
  CHECK_OK(calib_apply_typed_rows(m, &in, 0, 3, NULL, CALIB_DTYPE_F32, 0, NULL, &bad, &first));
  CHECK(bad == 0 && first == 0);
  CHECK_OK(calib_apply_typed(m, &in, 0, 3, NULL, CALIB_DTYPE_F32, 0));
  /* misaligned output (byte offset 1) equals aligned */
  unsigned char buf[64];
  float a[12];
  CHECK_OK(calib_apply_typed(m, &in, 4, 3, a, CALIB_DTYPE_F32, 0));
  CHECK_OK(calib_apply_typed(m, &in, 4, 3, buf + 1, CALIB_DTYPE_F32, 0));
  CHECK(memcmp(buf + 1, a, sizeof a) == 0);
  CHECK(calib_dtype_size(CALIB_DTYPE_F32) == 4 && calib_dtype_size(CALIB_DTYPE_BF16) == 2 &&
        calib_dtype_size(CALIB_DTYPE_U8) == 1 && calib_dtype_size(0) == 0);
  calib_model_free(m);
}

/* ---- the accumulator and the fitters ----------------------------------------- */

static void test_accumulator(void) {
  const size_t KS[] = {1, 3, 10};
  for (size_t ki = 0; ki < 3; ki++) {
    const size_t k = KS[ki], n = 77;
    for (int type = 0; type < NTYPES; type++) {
      tdata d;
      make_typed(&d, type, n, k, 3.0);
      int64_t y[77];
      for (size_t i = 0; i < n; i++) y[i] = (int64_t)(th_next() % (k == 1 ? 2 : k));
      calib_accumulator *a = NULL, *b = NULL;
      if (calib_accumulator_create(&a, k, 15, CALIB_BINNING_EQUAL_WIDTH) != CALIB_OK ||
          calib_accumulator_create(&b, k, 15, CALIB_BINNING_EQUAL_WIDTH) != CALIB_OK) {
        TH_FAIL("accumulator create");
        break;
      }
      CHECK_OK(calib_accumulator_add_logits(a, d.deq, n, y));
      CHECK_OK(calib_accumulator_add_logits_typed(b, &d.in, n, y));
      size_t la = 0, lb = 0;
      static unsigned char sa[1 << 16], sb[1 << 16];
      CHECK_OK(calib_accumulator_save(a, sa, sizeof sa, &la));
      CHECK_OK(calib_accumulator_save(b, sb, sizeof sb, &lb));
      CHECK(la == lb && memcmp(sa, sb, la) == 0);
      if (type == T_F16) { /* a NaN: CALIB_E_NONFINITE, state unchanged */
        ((uint16_t *)d.raw)[n * k - 1] = 0x7e00;
        CHECK_ERR(calib_accumulator_add_logits_typed(b, &d.in, n, y), CALIB_E_NONFINITE);
        CHECK_OK(calib_accumulator_save(b, sb, sizeof sb, &lb));
        CHECK(la == lb && memcmp(sa, sb, la) == 0);
        ((uint16_t *)d.raw)[n * k - 1] = 0x3c00;
      }
      y[3] = 99;
      CHECK_ERR(calib_accumulator_add_logits_typed(b, &d.in, n, y), CALIB_E_LABEL);
      CHECK_ERR(calib_accumulator_add_logits_typed(b, NULL, n, y), CALIB_E_ARG);
      calib_accumulator_free(a);
      calib_accumulator_free(b);
      free_typed(&d);
    }
  }
}

static void params_of(const calib_model *m, int which, double *v, size_t cap, size_t *cnt) {
  *cnt = 0;
  if (calib_model_param(m, which, v, cap, cnt) != CALIB_OK) *cnt = 0;
}

static void test_fit(void) {
  const struct { int method, which; size_t k; } F[] = {
      {CALIB_METHOD_TEMPERATURE, CALIB_MP_TEMPERATURE, 10}, {CALIB_METHOD_TEMPERATURE, CALIB_MP_TEMPERATURE, 1},
      {CALIB_METHOD_PLATT, CALIB_MP_PLATT, 3},             {CALIB_METHOD_VECTOR, CALIB_MP_VECTOR_W, 3},
      {CALIB_METHOD_ISOTONIC, CALIB_MP_ISO_Y, 3},          {CALIB_METHOD_ETS, CALIB_MP_ETS_WEIGHTS, 10},
  };
  for (size_t fi = 0; fi < sizeof F / sizeof F[0]; fi++) {
    const size_t k = F[fi].k, n = 500;
    calib_fitter *probe = NULL; /* a build without BLAS has no vector fitter: only that may be missing */
    const int cst = calib_fitter_create(&probe, F[fi].method);
    calib_fitter_free(probe);
    if (cst == CALIB_E_UNSUPPORTED && F[fi].method == CALIB_METHOD_VECTOR) continue;
    for (int type = 0; type < NTYPES; type++) {
      tdata d;
      make_typed(&d, type, n, k, 3.0);
      int64_t *y = (int64_t *)malloc(n * sizeof(int64_t));
      for (size_t i = 0; i < n; i++) { /* labels that follow the dequantized logits */
        size_t best = 0;
        for (size_t j = 1; j < k; j++)
          if (d.deq[i * k + j] > d.deq[i * k + best]) best = j;
        y[i] = k == 1 ? (th_uniform() < 1 / (1 + exp(-(double)d.deq[i])) ? 1 : 0)
                      : (th_uniform() < 0.6 ? (int64_t)best : (int64_t)(th_next() % k));
      }
      calib_fitter *f = NULL;
      calib_model *ma = NULL, *mb = NULL;
      CHECK_OK(calib_fitter_create(&f, F[fi].method));
      const int sa = calib_fit(f, d.deq, n, k, y, NULL, &ma);
      const int sb = calib_fit_typed(f, &d.in, n, k, y, NULL, &mb);
      CHECK(sa == sb);
      if (sa == CALIB_OK && sb == CALIB_OK) {
        double va[4096], vb[4096];
        size_t ca, cb;
        params_of(ma, F[fi].which, va, 4096, &ca);
        params_of(mb, F[fi].which, vb, 4096, &cb);
        CHECK(ca == cb && ca > 0 && memcmp(va, vb, ca * sizeof(double)) == 0);
      }
      calib_model_free(ma);
      calib_model_free(mb);
      if (type == T_F16) { /* a NaN: the fitter's detail names the row */
        ((uint16_t *)d.raw)[7 * k] = 0x7e00;
        calib_model *mc = NULL;
        CHECK_ERR(calib_fit_typed(f, &d.in, n, k, y, NULL, &mc), CALIB_E_NONFINITE);
        calib_error e;
        CHECK_OK(calib_fitter_error(f, &e));
        CHECK(e.code == CALIB_E_NONFINITE && e.index == 7);
      }
      free(y);
      calib_fitter_free(f);
      free_typed(&d);
    }
  }
  /* a fit on probabilities refuses integer input, with the detail */
  calib_fitter *f = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_PLATT));
  CHECK_OK(calib_fitter_set(f, CALIB_P_INPUT, CALIB_INPUT_PROBS));
  unsigned char q[8] = {0};
  int64_t y[8] = {0, 1, 0, 1, 0, 1, 0, 1};
  calib_input in = {CALIB_DTYPE_U8, q, 0, 0.004f, 0, NULL, NULL};
  calib_model *m = NULL;
  CHECK_ERR(calib_fit_typed(f, &in, 8, 1, y, NULL, &m), CALIB_E_ARG);
  calib_error e;
  CHECK_OK(calib_fitter_error(f, &e));
  CHECK(e.code == CALIB_E_ARG && strstr(e.message, "probabilities") != NULL);
  in.scale = -1;
  CHECK_ERR(calib_fit_typed(f, &in, 8, 1, y, NULL, &m), CALIB_E_ARG);
  CHECK_OK(calib_fitter_error(f, &e));
  CHECK(strstr(e.message, "scale") != NULL);
  CHECK_ERR(calib_fit_typed(NULL, &in, 8, 1, y, NULL, &m), CALIB_E_ARG);
  calib_fitter_free(f);
  /* no memory for the scratch: CALIB_E_NOMEM with the detail, the fitter still usable */
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  signed char q8[8] = {-3, 4, -9, 7, 2, 2, -5, -1};
  calib_input i8 = {CALIB_DTYPE_I8, q8, 0, 0.5f, 0, NULL, NULL};
  calib__alloc_fail_at(1, 0);
  CHECK_ERR(calib_fit_typed(f, &i8, 8, 1, y, NULL, &m), CALIB_E_NOMEM);
  calib__alloc_fail_at(0, 0);
  CHECK(m == NULL);
  CHECK_OK(calib_fitter_error(f, &e));
  CHECK(e.code == CALIB_E_NOMEM && strstr(e.message, "float32 copy") != NULL);
  CHECK_OK(calib_fit_typed(f, &i8, 8, 1, y, NULL, &m));
  calib_model_free(m);
  calib_fitter_free(f);
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  /* the test's own float16 rounding against known values */
  CHECK(ref_f16_encode(1.0f) == 0x3c00 && ref_f16_encode(65504.0f) == 0x7bff &&
        ref_f16_encode(65520.0f) == 0x7c00 && ref_f16_encode(5.960464477539063e-08f) == 0x0001 &&
        ref_f16_encode(2.98023223876953125e-08f) == 0x0000 && ref_f16_encode(1.00048828125f) == 0x3c00 &&
        ref_f16_encode(1.00146484375f) == 0x3c02 && ref_f16_encode(-0.333333343f) == 0xb555);
  CHECK(ref_f16_decode(0x3555) == 0.333251953125f && ref_f16_decode(0x0001) == 5.960464477539063e-08f);
  /* the typed apply's branch-free float16 conversion, every bit pattern */
  size_t f16_bad = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    const float a = calib__f16_fast((uint16_t)h), b = ref_f16_decode((uint16_t)h);
    if (!(same_bits(a, b) || (a != a && b != b && signbit(a) == signbit(b)))) f16_bad++;
  }
  CHECK(f16_bad == 0);
  /* and its branch-free float32 -> float16 rounding: 2^32 / 1021 bit patterns
   * strided over the whole range, then every tie between two neighbouring
   * float16 values and the float32 values either side of it */
  size_t r16_bad = 0;
  for (uint64_t b = 0; b < ((uint64_t)1 << 32); b += 1021) {
    const uint32_t u = (uint32_t)b;
    float f;
    memcpy(&f, &u, 4);
    if (f != f) continue; /* NaN: checked below */
    if (calib__f32_to_f16_fast(f) != ref_f16_encode(f)) r16_bad++;
  }
  for (uint32_t h = 0; h < 0x7bff; h++) {
    const float lo = ref_f16_decode((uint16_t)h), hi = ref_f16_decode((uint16_t)(h + 1)), mid = (lo + hi) / 2;
    const float v[3] = {mid, nextafterf(mid, 0.0f), nextafterf(mid, INFINITY)};
    for (int i = 0; i < 3; i++)
      for (int sg = 0; sg < 2; sg++) {
        const float x = sg ? -v[i] : v[i];
        if (calib__f32_to_f16_fast(x) != ref_f16_encode(x)) r16_bad++;
      }
  }
  CHECK(r16_bad == 0);
  CHECK(calib__f32_to_f16_fast(NAN) == 0x7e00 || calib__f32_to_f16_fast(NAN) == 0xfe00);
  CHECK(calib__f32_to_f16_fast(INFINITY) == 0x7c00 && calib__f32_to_f16_fast(-65520.0f) == 0xfc00);
  test_methods();
  test_bad_rows();
  test_probs();
  test_long_rows();
  test_args();
  test_accumulator();
  test_fit();
  TEST_MAIN_END();
}
