/* fuzz_params.c -- libFuzzer target for the parameters of the public API
 * (issue 10): every metric of calib.h, calib_fit with options set through
 * calib_fitter_set, calib_apply of the fitted model, calib_softmax /
 * calib_log_softmax / calib_sigmoid, the float64 isotonic functions and the
 * accumulators, calib_apply_typed(_rows) with fuzzed typed descriptors, with fuzzed shapes, strides, element offsets and double
 * parameters (NaN, +-inf, 0, -0, 1e-300, 1e-20, denormals, huge, raw bits).
 *
 * Input layout: byte 0 picks the function, the following bytes are consumed
 * in order by the decoder below (a short input reads as zeros). Data sizes
 * are small (n <= 64, k <= 17; k <= 4 for KDE-ECE, smooth ECE and the suite,
 * whose fixed grids cost per class) so that each call is fast.
 *
 * Buffers are heap blocks whose data END exactly at the block end (an
 * element offset is added at the front), so ASan catches reads and writes
 * past the last element. Sizes that are huge on purpose (n * k * 4
 * overflowing size_t) come with tiny buffers: the library must refuse them
 * before touching memory.
 *
 * Oracles besides the sanitizers: a failed call leaves its outputs exactly as
 * they were (sentinel check); a successful calibration error lies in [0, 1]
 * (KDE-ECE: >= 0 only; its hold rule can exceed 1).
 * Built against the full library (common, kernels incl. SIMD, model, fit,
 * metrics) without BLAS (-DCALIB_NO_BLAS: the matrix-family fitters return
 * CALIB_E_UNSUPPORTED). */
#include "calib.h"
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- Decoder ------------------------------------------------------------- */

typedef struct {
  const uint8_t *p;
  size_t n, i;
} rd;

static uint8_t u8(rd *r) { return r->i < r->n ? r->p[r->i++] : 0; }

static uint64_t u64(rd *r) {
  uint64_t v = 0;
  for (int b = 0; b < 8; b++) v |= (uint64_t)u8(r) << (8 * b);
  return v;
}

/* A double parameter: the interesting special values, a value in [0, 1],
 * a power of ten, or raw bits. */
static double fdouble(rd *r) {
  static const double special[] = {0.0, -0.0, 1.0, 0.5, 1e-300, 1e-20, 1e-6, 1e-3, 0.001,
                                   0.0009999, 1e300, DBL_MAX, DBL_MIN, 4.9e-324, 100.0,
                                   100.0000001, 15.0, 1e15, -1.0, 1.959963984540054};
  const uint8_t sel = u8(r);
  if (sel < 8) return sel < 3 ? (double)NAN : sel < 5 ? (double)INFINITY : -(double)INFINITY;
  if (sel < 8 + sizeof special / sizeof special[0]) return special[sel - 8];
  if (sel < 160) return (double)(u8(r) | (u8(r) << 8)) / 65535.0;
  if (sel < 220) return pow(10.0, (double)((int)u8(r) - 128) / 4.0);
  const uint64_t bits = u64(r);
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

/* A count parameter (bins, cap, ...): small, the edges of documented
 * ranges, or huge. */
static size_t fcount(rd *r) {
  static const size_t special[] = {0, 1, 2, 15, 64, 1000, 1024, 1025, 100000, 100001,
                                   16777216, 16777217, (size_t)1 << 31, SIZE_MAX / 2,
                                   SIZE_MAX / 24, SIZE_MAX - 1, SIZE_MAX};
  const uint8_t sel = u8(r);
  if (sel < sizeof special / sizeof special[0]) return special[sel];
  if (sel < 200) return (size_t)(u8(r) % 80);
  return (size_t)u64(r);
}

/* ---- Buffers ------------------------------------------------------------- */

/* `count` elements of `elem` bytes ending exactly at the end of a block with
 * `off` elements of slack in front. */
typedef struct {
  void *block, *p;
} buf;

static void *buf_new(buf *b, size_t count, size_t elem, size_t off) {
  b->block = malloc((count + off) * elem + 1);
  b->p = b->block ? (uint8_t *)b->block + off * elem : NULL;
  return b->p;
}

static void buf_free(buf *b) { free(b->block); }

/* The shape of a call: n rows of k, or a huge n whose n * k * 4 overflows. */
typedef struct {
  size_t n, k, alloc_n; /* alloc_n: rows actually allocated */
  int huge;
} shape;

static void fshape(rd *r, shape *s, size_t kmax) {
  const uint8_t a = u8(r), b = u8(r);
  s->k = b % (kmax + 1); /* 0..kmax */
  s->n = a % 65; /* 0..64 */
  s->huge = (a & 0xC0) == 0xC0 && s->k > 0;
  s->alloc_n = s->n;
  if (s->huge) {
    s->n = SIZE_MAX / (4 * s->k) + 1 + (size_t)(b >> 5);
    s->alloc_n = 1;
  }
}

/* Probabilities: valid rows (normalised or raw in [0, 1]) with, on request,
 * one poisoned entry (NaN, inf, -0, > 1, < 0). */
static void fill_probs(rd *r, float *p, size_t cnt, size_t k) {
  const uint8_t mode = u8(r);
  for (size_t i = 0; i < cnt; i++) p[i] = (float)u8(r) / 255.0f;
  if ((mode & 1) && k > 1) {
    for (size_t i = 0; i + k <= cnt; i += k) {
      float s = 0;
      for (size_t j = 0; j < k; j++) s += p[i + j];
      for (size_t j = 0; j < k; j++) p[i + j] = s > 0 ? p[i + j] / s : 1.0f / (float)k;
    }
  }
  if ((mode & 6) && cnt > 0) {
    static const float bad[] = {NAN, INFINITY, -INFINITY, -0.0f, 1.5f, -0.25f, 1.0f, 0.0f};
    p[u8(r) % cnt] = bad[(mode >> 3) & 7];
  }
}

static void fill_logits(rd *r, float *z, size_t cnt) {
  const uint8_t mode = u8(r);
  for (size_t i = 0; i < cnt; i++) z[i] = ((float)u8(r) - 128.0f) / 8.0f;
  if ((mode & 6) && cnt > 0) {
    static const float bad[] = {NAN, INFINITY, -INFINITY, 3e38f, -3e38f, 1e-40f, 88.0f, -104.0f};
    z[u8(r) % cnt] = bad[(mode >> 3) & 7];
  }
}

static void fill_labels(rd *r, int64_t *y, size_t n, size_t k) {
  const uint8_t mode = u8(r);
  const size_t span = k < 2 ? 2 : k;
  for (size_t i = 0; i < n; i++) y[i] = (int64_t)(u8(r) % span);
  if ((mode & 3) == 3 && n > 0) y[u8(r) % n] = (mode & 4) ? -1 : (int64_t)span;
}

/* Everything a metric call needs: probabilities (or logits), labels, shape. */
typedef struct {
  shape s;
  buf bp, by;
  float *p;
  int64_t *y;
} input;

/* kmax: 17, or 4 for the estimators with a fixed grid per class (KDE-ECE's
 * 2^14 nodes, smooth ECE's >= 1000), whose classwise cost grows with k and
 * whose per-class code is the same for every class. */
static int input_new(rd *r, input *in, int logits, size_t kmax) {
  fshape(r, &in->s, kmax);
  const size_t cnt = in->s.alloc_n * in->s.k;
  const size_t off = u8(r) % 3;
  in->p = (float *)buf_new(&in->bp, cnt, sizeof(float), off);
  in->y = (int64_t *)buf_new(&in->by, in->s.alloc_n, sizeof(int64_t), off);
  if (!in->p || !in->y) return 0;
  if (logits) fill_logits(r, in->p, cnt);
  else fill_probs(r, in->p, cnt, in->s.k);
  fill_labels(r, in->y, in->s.alloc_n, in->s.k);
  return 1;
}

static void input_free(input *in) {
  buf_free(&in->bp);
  buf_free(&in->by);
}

/* ---- Oracles --------------------------------------------------------------- */

static const double SENTINEL = -12345.678;

static void expect_untouched(int st, const double *out, size_t cnt) {
  if (st == CALIB_OK) return;
  for (size_t i = 0; i < cnt; i++)
    if (memcmp(&out[i], &SENTINEL, sizeof SENTINEL) != 0) abort(); /* written on error */
}

static void expect_unit(int st, double v) {
  if (st == CALIB_OK && !(v >= 0.0 && v <= 1.0 + 1e-9)) abort(); /* a CE outside [0, 1] */
}

/* ---- Metrics --------------------------------------------------------------- */

static int pick_scope(rd *r) { return (int)(u8(r) % 5); } /* 0 and 4 invalid */

static void m_basic(rd *r, uint8_t which) {
  input in;
  if (input_new(r, &in, which == 2, 17)) {
    double o = SENTINEL;
    int st;
    switch (which) {
      case 0: st = calib_accuracy(in.p, in.s.n, in.s.k, in.y, &o); break;
      case 1: st = calib_nll(in.p, in.s.n, in.s.k, in.y, &o); break;
      case 2: st = calib_nll_logits(in.p, in.s.n, in.s.k, in.y, &o); break;
      case 3: st = calib_brier(in.p, in.s.n, in.s.k, in.y, &o); break;
      default: st = calib_brier_score(in.p, in.s.n, in.s.k, in.y, (int)(u8(r) % 6), &o); break;
    }
    expect_untouched(st, &o, 1);
    if (st == CALIB_OK && isnan(o)) abort();
  }
  input_free(&in);
}

static void m_binned(rd *r, uint8_t which) {
  input in;
  const size_t bins = fcount(r);
  const int scope = pick_scope(r), binning = (int)(u8(r) % 6), norm = (int)(u8(r) % 5);
  if (input_new(r, &in, 0, 17)) {
    double o = SENTINEL;
    int st;
    switch (which) {
      case 0: st = calib_ece(in.p, in.s.n, in.s.k, in.y, bins, &o); break;
      case 1: st = calib_mce(in.p, in.s.n, in.s.k, in.y, bins, &o); break;
      case 2: st = calib_calibration_error(in.p, in.s.n, in.s.k, in.y, bins, scope, binning, norm, &o); break;
      default: st = calib_debiased_l2_ce(in.p, in.s.n, in.s.k, in.y, bins, scope, binning, &o); break;
    }
    expect_untouched(st, &o, 1);
    expect_unit(st, o);
  }
  input_free(&in);
}

static void m_binfree(rd *r, uint8_t which) {
  input in;
  const int scope = pick_scope(r);
  const double param = fdouble(r);
  if (input_new(r, &in, 0, which >= 2 ? 4 : 17)) {
    double o = SENTINEL, used = SENTINEL;
    int st;
    switch (which) {
      case 0: st = calib_ks_error(in.p, in.s.n, in.s.k, in.y, scope, &o); break;
      case 1: st = calib_mmce(in.p, in.s.n, in.s.k, in.y, scope, param, &o); break;
      case 2: st = calib_kde_ece(in.p, in.s.n, in.s.k, in.y, scope, &o); break;
      default:
        st = calib_smooth_ece(in.p, in.s.n, in.s.k, in.y, scope, param, &o, &used);
        expect_untouched(st, &used, 1);
        break;
    }
    expect_untouched(st, &o, 1);
    if (which == 2) { /* KDE-ECE: Mix-n-Match's hold rule can take it past 1 */
      if (st == CALIB_OK && !(o >= 0)) abort();
    } else {
      expect_unit(st, o);
    }
  }
  input_free(&in);
}

static void m_reliability(rd *r) {
  input in;
  const size_t bins = fcount(r), cap = u8(r) % 200;
  const int scope = pick_scope(r), binning = (int)(u8(r) % 6);
  const double z = fdouble(r);
  buf bo;
  double *out = (double *)buf_new(&bo, cap, sizeof(double), 0);
  if (out && input_new(r, &in, 0, 17)) {
    size_t nb = 77;
    for (size_t i = 0; i < cap; i++) out[i] = SENTINEL;
    const int st = calib_reliability(in.p, in.s.n, in.s.k, in.y, bins, scope, binning, z, out,
                                     cap, &nb);
    expect_untouched(st, out, cap);
    if (st != CALIB_OK && nb != 77) abort();
    if (st == CALIB_OK && nb * CALIB_RD_FIELDS > cap) abort();
    input_free(&in);
  }
  buf_free(&bo);
}

static void m_suite(rd *r) {
  input in;
  const int suite = (int)(u8(r) % 3), logits = u8(r) & 1;
  const size_t cap = u8(r) % 60;
  buf bo;
  double *out = (double *)buf_new(&bo, cap, sizeof(double), 0);
  if (out && input_new(r, &in, logits, 4)) {
    for (size_t i = 0; i < cap; i++) out[i] = SENTINEL;
    int status[64];
    const int st = calib_suite_eval(suite, in.p, in.s.n, in.s.k, in.y,
                                    logits ? CALIB_INPUT_LOGITS : (int)(u8(r) % 3), out,
                                    (u8(r) & 1) ? status : NULL, cap);
    expect_untouched(st, out, cap);
    input_free(&in);
  }
  (void)calib_suite_key(suite, fcount(r));
  buf_free(&bo);
}

/* ---- Accumulators ------------------------------------------------------------ */

static void m_accumulator(rd *r) {
  calib_accumulator *a = NULL, *b = NULL;
  const size_t k = u8(r) % 18, bins = fcount(r);
  if (calib_accumulator_create(&a, k, bins, (int)(u8(r) % 5)) != CALIB_OK) return;
  for (int step = 0; step < 3; step++) {
    input in;
    if (input_new(r, &in, u8(r) & 1, 17)) {
      const size_t n = in.s.k == k ? in.s.n : 0; /* the accumulator's k */
      (void)calib_accumulator_add(a, in.p, n, in.y);
      (void)calib_accumulator_add_logits(a, in.p, n, in.y);
    }
    input_free(&in);
  }
  double v = SENTINEL;
  expect_untouched(calib_accumulator_value(a, (int)(u8(r) % 21), &v), &v, 1);
  const size_t size = calib_accumulator_size(a);
  buf bb;
  uint8_t *bytes = (uint8_t *)buf_new(&bb, size, 1, 0);
  if (bytes && calib_accumulator_save(a, bytes, size, NULL) == CALIB_OK) {
    if (size > 0 && (u8(r) & 1)) bytes[u8(r) % size] ^= (uint8_t)(1u << (u8(r) % 8));
    if (calib_accumulator_load(&b, bytes, size - (u8(r) & 1)) == CALIB_OK) {
      (void)calib_accumulator_merge(a, b);
      (void)calib_accumulator_merge(b, b);
    }
  }
  buf_free(&bb);
  calib_accumulator_free(a);
  calib_accumulator_free(b);
}

/* A blob of fuzz bytes straight into the loader (crafted counts and sums). */
static void m_accumulator_blob(rd *r) {
  calib_accumulator *a = NULL;
  const size_t len = r->n - r->i;
  buf bb;
  uint8_t *bytes = (uint8_t *)buf_new(&bb, len, 1, 0);
  if (bytes) {
    memcpy(bytes, r->p + r->i, len);
    if (calib_accumulator_load(&a, bytes, len) == CALIB_OK) {
      double v;
      for (int m = 1; m <= 19; m++) (void)calib_accumulator_value(a, m, &v);
      (void)calib_accumulator_merge(a, a);
    }
  }
  buf_free(&bb);
  calib_accumulator_free(a);
}

/* ---- Softmax family ---------------------------------------------------------- */

/* A row stride: 0 (= k), k, k + 1, k + 2, or k - 1 (invalid: CALIB_E_ARG,
 * and the buffer is sized for it, so a missing check reads past its end). */
static size_t fstride(rd *r, size_t k) {
  const uint8_t sel = u8(r) % 5;
  if (sel == 4) return k > 0 ? k - 1 : 0;
  return sel == 0 ? 0 : k + sel - 1;
}

static void k_softmax(rd *r) {
  const size_t n = u8(r) % 20, k = u8(r) % 18, ldx = fstride(r, k), ldy = fstride(r, k);
  const size_t off = u8(r) % 3;
  const uint8_t which = u8(r) % 3, inplace = u8(r) & 1;
  const float beta = (float)fdouble(r);
  /* the rows need (n - 1) * ld + k elements: padding after the last row is never read */
  const size_t lx = ldx ? ldx : k, ly = ldy ? ldy : k;
  const size_t nx = n ? (n - 1) * lx + k : 0, ny = which == 2 ? nx : n ? (n - 1) * ly + k : 0;
  buf bx, by;
  float *x = (float *)buf_new(&bx, nx, sizeof(float), off);
  float *y = (float *)buf_new(&by, ny, sizeof(float), 0);
  if (x && y) {
    fill_logits(r, x, nx);
    for (size_t i = 0; i < ny; i++) y[i] = 0.25f;
    const int same = inplace && ldx == ldy; /* in place needs the same stride */
    float *dst = same ? x : y;
    if (which == 0) (void)calib_softmax(x, n, k, ldx, beta, dst, ldy);
    else if (which == 1) (void)calib_log_softmax(x, n, k, ldx, beta, dst, ldy);
    else (void)calib_sigmoid(x, nx, beta, inplace ? x : y);
  }
  buf_free(&bx);
  buf_free(&by);
}

/* ---- Fitting and applying ------------------------------------------------------ */

/* Typed inputs (calib_input): a fuzzed descriptor (dtype, stride, scale and
 * zero point per tensor or per class, float types with stray quantization
 * fields) over raw bytes, applied strict and row-wise with a float32 or
 * float16 (or invalid) output type; a failed strict call writes nothing. */
static void apply_typed(rd *r, const calib_model *m) {
  const size_t k = (u8(r) & 3) == 0 ? (size_t)(u8(r) % 18) : calib_model_classes(m), n = u8(r) % 20;
  const int dtype = (int)(u8(r) % 7), odt = (int)(u8(r) % 4) == 3 ? 9 : (u8(r) & 1) ? CALIB_DTYPE_F16 : CALIB_DTYPE_F32;
  const size_t esz = calib_dtype_size(dtype) ? calib_dtype_size(dtype) : 1, ld = fstride(r, k), ldp = fstride(r, k);
  const size_t lx = ld ? ld : k, lp = ldp ? ldp : k;
  const size_t nx = n ? (n - 1) * lx + k : 0, np = n ? (n - 1) * lp + k : 0;
  const size_t osz = odt == CALIB_DTYPE_F16 ? 2 : 4;
  buf bx, bp, bs, bz, bst;
  uint8_t *x = (uint8_t *)buf_new(&bx, nx * esz, 1, u8(r) % 3);
  uint8_t *p = (uint8_t *)buf_new(&bp, np * osz, 1, u8(r) % 3);
  float *cs = (float *)buf_new(&bs, k, sizeof(float), 0);
  int32_t *cz = (int32_t *)buf_new(&bz, k, sizeof(int32_t), 0);
  uint8_t *st = (uint8_t *)buf_new(&bst, n, 1, 0);
  if (x && p && cs && cz && st) {
    for (size_t i = 0; i < nx * esz; i++) x[i] = u8(r);
    for (size_t j = 0; j < k; j++) {
      cs[j] = (u8(r) & 7) ? (float)(u8(r) + 1) / 64.0f : (float)fdouble(r);
      cz[j] = (u8(r) & 7) ? (int32_t)u8(r) - 128 : (int32_t)u64(r);
    }
    const uint8_t q = u8(r);
    calib_input in = {dtype, x, ld, (q & 1) ? (float)fdouble(r) : 0.05f, (q & 2) ? (int32_t)u8(r) - 128 : 0,
                      (q & 4) ? cs : NULL, (q & 8) ? cz : NULL};
    memset(p, 0x5a, np * osz);
    const int s1 = calib_apply_typed(m, &in, n, k, p, odt, ldp);
    if (s1 != CALIB_OK)
      for (size_t i = 0; i < np * osz; i++)
        if (p[i] != 0x5a) abort(); /* written on error */
    size_t bad = 0, first = 0;
    (void)calib_apply_typed_rows(m, &in, n, k, p, odt, ldp, (q & 16) ? st : NULL, &bad, &first);
  }
  buf_free(&bx);
  buf_free(&bp);
  buf_free(&bs);
  buf_free(&bz);
  buf_free(&bst);
}

static void apply_model(rd *r, const calib_model *m) {
  input in;
  if (input_new(r, &in, 1, 17)) {
    const size_t k = (u8(r) & 3) == 0 ? in.s.k : calib_model_classes(m);
    const size_t n = k == in.s.k ? in.s.n : 0;
    buf bo;
    float *out = (float *)buf_new(&bo, in.s.alloc_n * k, sizeof(float), 0);
    if (out) (void)calib_apply(m, in.p, n, k, (u8(r) & 1) && k == in.s.k ? in.p : out);
    buf_free(&bo);
    size_t cnt = 0;
    (void)calib_model_param(m, (int)(u8(r) % 24), NULL, 0, &cnt);
    if (u8(r) & 1) apply_typed(r, m);
  }
  input_free(&in);
}

static void f_fit(rd *r) {
  calib_fitter *f = NULL;
  if (calib_fitter_create(&f, (int)(u8(r) % 11)) != CALIB_OK) return;
  const int nopt = u8(r) % 5;
  for (int i = 0; i < nopt; i++) (void)calib_fitter_set(f, (int)(u8(r) % 30), fdouble(r));
  input in;
  if (input_new(r, &in, 1, 17)) {
    buf bw;
    double *w = NULL;
    if (u8(r) & 1) {
      w = (double *)buf_new(&bw, in.s.alloc_n, sizeof(double), 0);
      for (size_t i = 0; w && i < in.s.alloc_n; i++) w[i] = (u8(r) & 7) ? 1.0 : fdouble(r);
    }
    calib_model *m = NULL;
    const int st = calib_fit(f, in.p, in.s.n, in.s.k, in.y, w, &m);
    if ((st == CALIB_OK) != (m != NULL)) abort();
    if (m) apply_model(r, m);
    calib_model_free(m);
    if (w) buf_free(&bw);
  }
  input_free(&in);
  calib_fitter_free(f);
}

static void f_isotonic_f64(rd *r) {
  const size_t n = u8(r) % 65, cap = u8(r) % 66;
  const int increasing = (int)(u8(r) % 5) - 2;
  const double lo = fdouble(r), hi = fdouble(r);
  buf bx, by, bw, btx, bty;
  double *x = (double *)buf_new(&bx, n, sizeof(double), 0);
  double *y = (double *)buf_new(&by, n, sizeof(double), 1);
  double *w = (double *)buf_new(&bw, n, sizeof(double), 0);
  double *tx = (double *)buf_new(&btx, cap, sizeof(double), 0);
  double *ty = (double *)buf_new(&bty, cap, sizeof(double), 0);
  if (x && y && w && tx && ty) {
    for (size_t i = 0; i < n; i++) {
      x[i] = (u8(r) & 15) ? (double)u8(r) / 16.0 : fdouble(r);
      y[i] = (u8(r) & 15) ? (double)(u8(r) & 1) : fdouble(r);
      w[i] = (u8(r) & 15) ? 1.0 : fdouble(r);
    }
    size_t count = 0;
    int inc = 0;
    const double *wp = (u8(r) & 1) ? w : NULL;
    const int st = calib_isotonic_fit_f64(x, y, wp, n, increasing, lo, hi, tx, ty, cap, &count, &inc);
    /* the caller's-workspace variant, in a workspace of the reported size
     * (or one byte short): the same status and tables, bit for bit */
    const size_t need = calib_isotonic_work_size(n, increasing), shrt = (u8(r) & 7) == 0;
    double *work = need ? (double *)malloc(need) : NULL;
    double *tx2 = (double *)malloc(cap * sizeof(double) + 1), *ty2 = (double *)malloc(cap * sizeof(double) + 1);
    if (work && tx2 && ty2) {
      size_t c2 = 0;
      int i2 = 0;
      const int s2 = calib_isotonic_fit_f64_work(x, y, wp, n, increasing, lo, hi, tx2, ty2, cap, &c2, &i2,
                                                 work, need - shrt);
      /* the workspace is checked after the arguments */
      const int bad_args = st == CALIB_E_ARG || st == CALIB_E_EMPTY || st == CALIB_E_NONFINITE ||
                           st == CALIB_E_DOMAIN;
      if (s2 != (shrt && !bad_args ? CALIB_E_SMALLBUF : st)) abort();
      if (!shrt && st == CALIB_OK &&
          (c2 != count || i2 != inc || memcmp(tx2, tx, count * sizeof(double)) != 0 ||
           memcmp(ty2, ty, count * sizeof(double)) != 0))
        abort(); /* _work differs from calib_isotonic_fit_f64 */
    }
    free(work);
    free(tx2);
    free(ty2);
    if (st == CALIB_OK && count > 0) (void)calib_isotonic_predict_f64(tx, ty, count,
                                                                      (int)(u8(r) % 5), x, n, w);
  }
  buf_free(&bx);
  buf_free(&by);
  buf_free(&bw);
  buf_free(&btx);
  buf_free(&bty);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rd r = {data, size, 0};
  const uint8_t op = u8(&r) % 22;
  if (op < 5) m_basic(&r, op);
  else if (op < 9) m_binned(&r, (uint8_t)(op - 5));
  else if (op < 13) m_binfree(&r, (uint8_t)(op - 9));
  else if (op == 13) m_reliability(&r);
  else if (op == 14) m_suite(&r);
  else if (op == 15) m_accumulator(&r);
  else if (op == 16) m_accumulator_blob(&r);
  else if (op == 17) k_softmax(&r);
  else if (op == 18 || op == 19) f_fit(&r);
  else if (op == 20) f_isotonic_f64(&r);
  else (void)calib_bin_index(fdouble(&r), fcount(&r));
  return 0;
}
