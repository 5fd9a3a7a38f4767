/* test_typed.c -- the typed softmax kernels (issue 12 part 1): float16,
 * bfloat16, int8 and uint8 (per-tensor and per-class scale / zero point) and
 * float32 input, float32 or float16 output, through every kernel table this
 * CPU has (each made the dispatched one with calib__kernels_force, so the
 * public calib_softmax_typed and the typed.h seam are driven).
 *
 * References, computed here without the library: the input decoded by this
 * file's own converters (binary16 by ldexp of its fields, bfloat16 by the
 * 16-bit shift, int8/uint8 as the float32 product scale * (float)(q - zp),
 * the dequantization calib.h defines), then a float64 softmax
 * p_j = exp(t_j) / sum exp(t), t_j = beta (v_j - max v). Tolerances, per
 * probability, those of test_kernels.c (the float32 contract, calib.h):
 * |p - ref| <= 1e-6 and <= ref (2e-6 + 1.2e-7 |t|) + 3e-45. A float16
 * output is compared with this file's round-to-nearest-even of ref to
 * binary16: equal, or the neighbour when ref is within the float32 contract
 * of their midpoint (so at most 1 ulp of binary16 apart). On the scalar table the typed
 * result must be bit for bit calib_softmax of the dequantized float32 rows
 * (and its float16 output that float32 result rounded to nearest even).
 *
 * Shapes: k in {1 (softmax: 1.0; sigmoid through the seam), 2, 3, 7, 10,
 * 16, 17, 100, 1000, 1023}; four layouts (input offset 0..3 bytes, output
 * offset 0..3 bytes -- byte-misaligned for every type --, padded ld and
 * ldy whose padding must stay untouched); beta 1 and 0.37 (each on two
 * layouts); outputs of >= 4 MiB (the streamed path of the x86 tables; the
 * scalar and NEON tables have no size-dependent path) at offsets 0 and 1. Zero points include the
 * extremes of each type. Non-finite float16/bfloat16 rows: strict mode
 * returns CALIB_E_NONFINITE and writes nothing; row-wise mode (the seam
 * calib__typed_softmax_rows) writes NaN rows, reports them, and its good rows
 * are bit-identical to the strict call's. Argument errors through
 * calib_softmax_typed (calib__tin_init): CALIB_E_ARG, output untouched.
 * Usage: test_typed [seed] */
#include "harness.h"
#include "internal.h"
#include "kernels.h"
#include "typed.h"

#if defined(CALIB_HAVE_NEON_KERNELS)
static const char *const ISAS[] = {"scalar", "neon"};
#else
static const char *const ISAS[] = {"scalar", "avx2", "avx512"};
#endif
#define NISA (sizeof ISAS / sizeof ISAS[0])
#define SENT 0xA5

/* ---- independent conversions ---------------------------------------------- */

static double h2d(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 31) v = m ? NAN : INFINITY;
  else if (e == 0) v = ldexp((double)m, -24);
  else v = ldexp((double)(m + 1024), e - 25);
  return s ? -v : v;
}
static double bf2d(uint16_t h) {
  uint32_t b = (uint32_t)h << 16;
  float f;
  memcpy(&f, &b, 4);
  return (double)f;
}
/* p in [0, 1] -> binary16 bits, round to nearest even */
static int d2h_pos(double p) {
  if (p < 0x1p-14) return (int)nearbyint(p * 0x1p24); /* may give 0x400: the smallest normal */
  int e;
  const double fr = frexp(p, &e); /* p = fr 2^e, fr in [0.5, 1) */
  const double q = nearbyint((fr * 2.0 - 1.0) * 1024.0);
  return ((e - 1 + 15) << 10) + (int)q; /* a carry of q = 1024 moves to the next binade */
}

typedef struct {
  const char *name;
  int dtype, pc;      /* pc: per-class scale and zero point */
  int32_t zp;         /* per tensor */
  float scale;
} tcase;

static const tcase CASES[] = {
    {"f32", CALIB_DTYPE_F32, 0, 0, 0},        {"f16", CALIB_DTYPE_F16, 0, 0, 0},
    {"bf16", CALIB_DTYPE_BF16, 0, 0, 0},      {"i8 zp0", CALIB_DTYPE_I8, 0, 0, 0.11f},
    {"i8 zp-128", CALIB_DTYPE_I8, 0, -128, 0.05f}, {"i8 zp127", CALIB_DTYPE_I8, 0, 127, 0.3f},
    {"i8 zp7", CALIB_DTYPE_I8, 0, 7, 0.0371f}, {"i8 per-class", CALIB_DTYPE_I8, 1, 0, 0},
    {"u8 zp0", CALIB_DTYPE_U8, 0, 0, 0.07f},  {"u8 zp128", CALIB_DTYPE_U8, 0, 128, 0.125f},
    {"u8 zp255", CALIB_DTYPE_U8, 0, 255, 0.2f}, {"u8 per-class", CALIB_DTYPE_U8, 1, 0, 0},
};
#define NCASES (sizeof CASES / sizeof CASES[0])

/* A typed input of n rows of k (stride ld) at byte offset off. */
typedef struct {
  unsigned char *mem, *data;
  size_t n, k, ld, es;
  int dtype;
  float scale;
  int32_t zp;
  float *cs;
  int32_t *cz;
} tin;

static void tin_free(tin *x) {
  free(x->mem);
  free(x->cs);
  free(x->cz);
}

static void tin_make(tin *x, const tcase *c, size_t n, size_t k, size_t ld, size_t off) {
  memset(x, 0, sizeof *x);
  x->n = n, x->k = k, x->ld = ld, x->dtype = c->dtype;
  x->es = calib_dtype_size(c->dtype);
  const size_t bytes = ((n - 1) * ld + k) * x->es;
  x->mem = malloc(bytes + off + 1);
  memset(x->mem, SENT, bytes + off + 1);
  x->data = x->mem + off;
  x->scale = c->scale;
  x->zp = c->zp;
  if (c->pc) {
    x->cs = malloc(k * sizeof(float));
    x->cz = malloc(k * sizeof(int32_t));
    const int lo = c->dtype == CALIB_DTYPE_I8 ? -128 : 0;
    for (size_t j = 0; j < k; j++) {
      x->cs[j] = (float)(0.02 + 0.3 * th_uniform());
      x->cz[j] = j % 5 == 0 ? lo : j % 5 == 1 ? lo + 255 : lo + (int32_t)(th_next() % 256);
    }
  }
  const double spread = 3.0 + 20.0 * th_uniform();
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < k; j++) {
      unsigned char *p = x->data + (i * ld + j) * x->es;
      const double z = spread * th_normal();
      switch (c->dtype) {
      case CALIB_DTYPE_F16: {
        uint16_t h;
        if (th_next() % 97 == 0) h = (uint16_t)(th_next() % 1024); /* subnormal */
        else h = (uint16_t)(d2h_pos(fabs(z) > 60000 ? 60000 : fabs(z)) | (z < 0 ? 0x8000 : 0));
        if (th_next() % 211 == 0) h = 0xfc00; /* -inf */
        memcpy(p, &h, 2);
        break;
      }
      case CALIB_DTYPE_BF16: {
        float f = (float)z;
        uint32_t b;
        memcpy(&b, &f, 4);
        uint16_t h = (uint16_t)(b >> 16);
        if (th_next() % 211 == 0) h = 0xff80; /* -inf */
        memcpy(p, &h, 2);
        break;
      }
      case CALIB_DTYPE_F32: {
        float f = th_next() % 211 == 0 ? -INFINITY : (float)z;
        memcpy(p, &f, 4);
        break;
      }
      default: *p = (unsigned char)(th_next() % 256); break;
      }
    }
}

static calib_input tin_desc(const tin *x) {
  calib_input d;
  memset(&d, 0, sizeof d);
  d.dtype = x->dtype;
  d.data = x->data;
  d.ld = x->ld;
  if (x->dtype == CALIB_DTYPE_I8 || x->dtype == CALIB_DTYPE_U8) {
    d.scale = x->scale;
    d.zero_point = x->zp;
    d.col_scale = x->cs;
    d.col_zero_point = x->cz;
  }
  return d;
}

/* element (i, j) decoded here; f32: the dequantized float32 value */
static double tin_val(const tin *x, size_t i, size_t j) {
  const unsigned char *p = x->data + (i * x->ld + j) * x->es;
  uint16_t h;
  switch (x->dtype) {
  case CALIB_DTYPE_F16: memcpy(&h, p, 2); return h2d(h);
  case CALIB_DTYPE_BF16: memcpy(&h, p, 2); return bf2d(h);
  case CALIB_DTYPE_I8:
  case CALIB_DTYPE_U8: {
    const int32_t q = x->dtype == CALIB_DTYPE_I8 ? (int32_t)(signed char)*p : (int32_t)*p;
    const float s = x->cs ? x->cs[j] : x->scale;
    const int32_t zp = x->cz ? x->cz[j] : x->zp;
    const float v = s * (float)(q - zp);
    return (double)v;
  }
  default: {
    float f;
    memcpy(&f, p, 4);
    return (double)f;
  }
  }
}

static void ref_row(const tin *x, size_t i, double beta, int sig, double *p, double *t) {
  const size_t k = x->k;
  if (sig) {
    const double z = beta * tin_val(x, i, 0);
    p[0] = 1.0 / (1.0 + exp(-z));
    t[0] = -fabs(z); /* the exp argument: its float rounding is allowed for */
    return;
  }
  double m = -INFINITY, s = 0;
  for (size_t j = 0; j < k; j++) m = fmax(m, tin_val(x, i, j));
  for (size_t j = 0; j < k; j++) {
    t[j] = beta * (tin_val(x, i, j) - m);
    s += exp(t[j]);
  }
  for (size_t j = 0; j < k; j++) p[j] = exp(t[j]) / s;
}

static int prob_ok(double p, double ref, double t) {
  const double d = fabs(p - ref);
  if (!(d <= 1e-6)) return 0;
  if (t == -INFINITY) return p == 0.0;
  return d <= ref * (2e-6 + 1.2e-7 * fabs(t)) + 3e-45;
}

/* A float16 output h of a probability with reference ref: the nearest-even
 * binary16 of ref, or its neighbour when ref is within the float32 contract
 * of the midpoint between the two (the float32 result may then round
 * either way): at most 1 ulp of binary16. */
static int f16_ok(uint16_t h, double ref, double t) {
  const int hr = d2h_pos(ref);
  if (h == hr) return 1;
  if (h & 0x8000 || abs((int)h - hr) != 1) return 0;
  const double mid = 0.5 * (h2d(h) + h2d((uint16_t)hr));
  const double tol = fmin(1e-6, ref * (2e-6 + 1.2e-7 * fabs(t)) + 3e-45);
  return fabs(ref - mid) <= tol;
}

static double out_get(const unsigned char *y, size_t idx, int ydt, uint16_t *h) {
  if (ydt == CALIB_DTYPE_F16) {
    memcpy(h, y + 2 * idx, 2);
    return h2d(*h);
  }
  float f;
  memcpy(&f, y + 4 * idx, 4);
  return (double)f;
}

/* Output buffer of n rows (stride ldy) at offset off, sentinel-filled. */
static unsigned char *out_make(size_t n, size_t k, size_t ldy, int ydt, size_t off, unsigned char **mem,
                               size_t *span) {
  const size_t ob = ydt == CALIB_DTYPE_F16 ? 2 : 4;
  *span = ((n - 1) * ldy + k) * ob;
  *mem = malloc(*span + off + 8);
  memset(*mem, SENT, *span + off + 8);
  return *mem + off;
}

static int untouched(const unsigned char *p, size_t len) {
  for (size_t b = 0; b < len; b++)
    if (p[b] != SENT) return 0;
  return 1;
}

/* Compares y (n rows) with the reference; padding and guard bytes checked. */
static void check_out(const char *what, const tin *x, double beta, int sig, const unsigned char *mem,
                      const unsigned char *y, size_t off, size_t ldy, int ydt, size_t span) {
  const size_t n = x->n, k = x->k, ob = ydt == CALIB_DTYPE_F16 ? 2 : 4;
  double *p = malloc(k * sizeof(double)), *t = malloc(k * sizeof(double));
  int bad = 0;
  if (!untouched(mem, off) || !untouched(y + span, 8)) {
    TH_FAIL("%s: guard bytes written", what);
    bad++;
  }
  for (size_t i = 0; i < n && bad < 3; i++) {
    ref_row(x, i, beta, sig, p, t);
    for (size_t j = 0; j < k && bad < 3; j++) {
      uint16_t h = 0;
      const double v = out_get(y, i * ldy + j, ydt, &h);
      int ok;
      if (ydt == CALIB_DTYPE_F16) ok = f16_ok(h, p[j], t[j]);
      else ok = prob_ok(v, p[j], t[j]);
      th_checks++;
      if (!ok) {
        TH_FAIL("%s: row %zu col %zu: got %.9g (0x%04x) ref %.12g t %g", what, i, j, v, h, p[j], t[j]);
        bad++;
      }
    }
    if (i + 1 < n && !untouched(y + (i * ldy + k) * ob, (ldy - k) * ob)) {
      TH_FAIL("%s: padding of row %zu written", what, i);
      bad++;
    }
  }
  free(p);
  free(t);
}

/* Scalar table: bit for bit calib_softmax of the dequantized float32 rows. */
static void check_scalar_identity(const char *what, const tin *x, float beta, const unsigned char *y,
                                  size_t ldy, int ydt) {
  const size_t n = x->n, k = x->k;
  float *v = malloc(n * k * sizeof(float)), *r = malloc(n * k * sizeof(float));
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < k; j++) v[i * k + j] = (float)tin_val(x, i, j);
  CHECK_OK(calib_softmax(v, n, k, k, beta, r, k));
  size_t diff = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < k; j++) {
      uint16_t h = 0;
      const double g = out_get(y, i * ldy + j, ydt, &h);
      if (ydt == CALIB_DTYPE_F16) diff += h != (uint16_t)d2h_pos((double)r[i * k + j]);
      else diff += g != (double)r[i * k + j];
    }
  CHECK(diff == 0);
  if (diff) TH_FAIL("%s: %zu values differ from calib_softmax on the dequantized rows", what, diff);
  free(v);
  free(r);
}

static const size_t KS[] = {1, 2, 3, 7, 10, 16, 17, 100, 1000, 1023};
#define NK (sizeof KS / sizeof KS[0])
static const size_t LAY[4][4] = {{0, 0, 0, 0}, {1, 2, 3, 0}, {3, 1, 0, 5}, {2, 3, 3, 5}}; /* io, oo, +ld, +ldy */

static void conformance(const char *isa) {
  char what[256];
  const float betas[2] = {1.0f, 0.37f};
  for (size_t c = 0; c < NCASES; c++)
    for (size_t ki = 0; ki < NK; ki++)
      for (size_t l = 0; l < 4; l++)
        for (int od = 0; od < 2; od++) {
            const int bi = (int)(l & 1) ^ od; /* each beta on two layouts per output type */
            const size_t k = KS[ki], n = k >= 100 ? 5 : k % 2 ? 23 : 24; /* 24: a last 8-row block ends the input */
            const int ydt = od ? CALIB_DTYPE_F16 : CALIB_DTYPE_F32;
            const float beta = betas[bi];
            tin x;
            tin_make(&x, &CASES[c], n, k, k + LAY[l][2], LAY[l][0]);
            const calib_input d = tin_desc(&x);
            unsigned char *mem;
            size_t span, ldy = k + LAY[l][3];
            unsigned char *y = out_make(n, k, ldy, ydt, LAY[l][1], &mem, &span);
            snprintf(what, sizeof what, "%s %s k=%zu layout %zu %s beta %g", isa, CASES[c].name, k, l,
                     od ? "f16 out" : "f32 out", (double)beta);
            int st = calib_softmax_typed(&d, n, k, beta, y, ydt, ldy);
            /* an all -inf row is possible at k <= 2 for the float types */
            int allninf = 0;
            for (size_t i = 0; i < n; i++) {
              int a = 1;
              for (size_t j = 0; j < k; j++) a &= tin_val(&x, i, j) == -INFINITY;
              allninf |= a;
            }
            if (allninf) {
              CHECK(st == CALIB_E_NONFINITE && untouched(mem, span + LAY[l][1] + 8));
            } else {
              CHECK_OK(st);
              if (st == CALIB_OK) {
                check_out(what, &x, beta, 0, mem, y, LAY[l][1], ldy, ydt, span);
                if (!strcmp(isa, "scalar")) check_scalar_identity(what, &x, beta, y, ldy, ydt);
              }
            }
            if (k == 1) { /* sigmoid through the seam (strict and row-wise) */
              calib__tin t;
              size_t ldo = ldy;
              CHECK_OK(calib__tin_init(&t, &d, n, k, y, ydt, &ldo, NULL));
              memset(mem, SENT, span + LAY[l][1] + 8);
              st = calib__typed_softmax(&t, n, 1, beta, 1, y, ydt, ldy);
              CHECK_OK(st);
              snprintf(what + strlen(what), sizeof what - strlen(what), " sigmoid");
              if (st == CALIB_OK) check_out(what, &x, beta, 1, mem, y, LAY[l][1], ldy, ydt, span);
              memset(mem, SENT, span + LAY[l][1] + 8);
              size_t first = 0;
              CHECK(calib__typed_softmax_rows(&t, n, 1, beta, 1, y, ydt, ldy, NULL, &first) == 0 &&
                    first == n);
              check_out(what, &x, beta, 1, mem, y, LAY[l][1], ldy, ydt, span);
            }
            free(mem);
            tin_free(&x);
          }
}

/* >= 4 MiB outputs: the streamed path, output float-aligned and not. */
static void streamed(const char *isa) {
  static const size_t cs[] = {1, 3, 4, 11}; /* f16, i8 zp0, i8 zp-128, u8 per-class */
  char what[160];
  for (size_t ci = 0; ci < 4; ci++)
    for (int od = 0; od < 2; od++)
      for (size_t off = 0; off < 2; off++) {
        const int ydt = od ? CALIB_DTYPE_F16 : CALIB_DTYPE_F32;
        const size_t k = 1000, n = od ? 2100 : 1050;
        tin x;
        tin_make(&x, &CASES[cs[ci]], n, k, k, off ? 3 : 0);
        const calib_input d = tin_desc(&x);
        unsigned char *mem;
        size_t span;
        unsigned char *y = out_make(n, k, k, ydt, off, &mem, &span);
        snprintf(what, sizeof what, "%s streamed %s %s out offset %zu", isa, CASES[cs[ci]].name,
                 od ? "f16" : "f32", off);
        const int st = calib_softmax_typed(&d, n, k, 1.0f, y, ydt, 0);
        CHECK_OK(st);
        if (st == CALIB_OK) check_out(what, &x, 1.0, 0, mem, y, off, k, ydt, span);
        free(mem);
        tin_free(&x);
      }
}

/* Non-finite float16 / bfloat16 / float32 rows. */
static void nonfinite(const char *isa) {
  static const uint16_t nan16[2] = {0x7e00, 0x7fc0}, pinf16[2] = {0x7c00, 0x7f80},
                        ninf16[2] = {0xfc00, 0xff80}, nnan16[2] = {0xfe01, 0xffc1};
  char what[160];
  for (int bt = 0; bt < 3; bt++) /* f16, bf16, f32 (with f16 output: the typed table) */
    for (size_t ki = 0; ki < NK; ki++)
      for (int kind = 0; kind < 4; kind++) { /* NaN, -NaN, +inf, all -inf */
        const size_t k = KS[ki], n = 37; /* two 16-row blocks and 5 single rows */
        const tcase *c = &CASES[bt == 2 ? 0 : 1 + bt];
        tin x;
        tin_make(&x, c, n, k, k, 1);
        for (size_t i = 0; i < n; i++) /* no accidental all -inf row */
          for (size_t j = 0; j < k; j++)
            if (tin_val(&x, i, j) == -INFINITY) {
              if (bt == 2) { float f = 1.5f; memcpy(x.data + (i * k + j) * 4, &f, 4); }
              else { const uint16_t h = bt == 1 ? 0x3f80 : 0x3c00; memcpy(x.data + (i * k + j) * 2, &h, 2); }
            }
        const size_t badrows[3] = {2, 19, 35};
        for (int b = 0; b < 3; b++) {
          const size_t i = badrows[b];
          const size_t j = (size_t)(th_next() % k);
          if (bt == 2) {
            const float fv[4] = {NAN, -NAN, INFINITY, -INFINITY};
            if (kind == 3) for (size_t jj = 0; jj < k; jj++) memcpy(x.data + (i * k + jj) * 4, &fv[3], 4);
            else memcpy(x.data + (i * k + j) * 4, &fv[kind], 4);
          } else {
            const uint16_t hv[4] = {nan16[bt], nnan16[bt], pinf16[bt], ninf16[bt]};
            if (kind == 3) for (size_t jj = 0; jj < k; jj++) memcpy(x.data + (i * k + jj) * 2, &hv[3], 2);
            else memcpy(x.data + (i * k + j) * 2, &hv[kind], 2);
          }
        }
        const calib_input d = tin_desc(&x);
        const int ydt = bt == 2 ? CALIB_DTYPE_F16 : (ki & 1) ? CALIB_DTYPE_F16 : CALIB_DTYPE_F32;
        const size_t ob = ydt == CALIB_DTYPE_F16 ? 2 : 4;
        unsigned char *mem, *mem2;
        size_t span;
        unsigned char *y = out_make(n, k, k, ydt, 1, &mem, &span);
        unsigned char *y2 = out_make(n, k, k, ydt, 1, &mem2, &span);
        snprintf(what, sizeof what, "%s nonfinite %s k=%zu kind %d", isa, c->name, k, kind);
        CHECK_ERR(calib_softmax_typed(&d, n, k, 1.0f, y, ydt, 0), CALIB_E_NONFINITE);
        CHECK(untouched(mem, span + 9));
        CHECK(untouched(mem2, span + 9));
        /* row-wise through the seam */
        calib__tin t;
        size_t ldo = k;
        CHECK_OK(calib__tin_init(&t, &d, n, k, y, ydt, &ldo, NULL));
        uint8_t status[37];
        memset(status, 0x77, sizeof status);
        size_t first = 0;
        const size_t nb = calib__typed_softmax_rows(&t, n, k, 0.5f, 0, y, ydt, k, status, &first);
        CHECK(nb == 3 && first == 2);
        if (nb != 3 || first != 2) TH_FAIL("%s: %zu bad rows, first %zu", what, nb, first);
        for (size_t i = 0; i < n; i++) {
          const int isbad = i == 2 || i == 19 || i == 35;
          CHECK(status[i] == (isbad ? 2 : 0));
          if (isbad)
            for (size_t j = 0; j < k; j++) {
              uint16_t h = 0;
              const double v = out_get(y, i * k + j, ydt, &h);
              CHECK(v != v);
            }
        }
        /* good rows bit-identical to the strict call on the same rows (bad rows made finite) */
        for (size_t b = 0; b < 3; b++) {
          const size_t i = badrows[b];
          for (size_t j = 0; j < k; j++) {
            if (bt == 2) { float f = 0.25f; memcpy(x.data + (i * k + j) * 4, &f, 4); }
            else { uint16_t h = bt == 1 ? 0x3e80 : 0x3400; memcpy(x.data + (i * k + j) * 2, &h, 2); }
          }
        }
        CHECK_OK(calib_softmax_typed(&d, n, k, 0.5f, y2, ydt, 0));
        size_t diff = 0;
        for (size_t i = 0; i < n; i++)
          if (i != 2 && i != 19 && i != 35) diff += memcmp(y + i * k * ob, y2 + i * k * ob, k * ob) != 0;
        CHECK(diff == 0);
        if (diff) TH_FAIL("%s: %zu good rows differ from the strict call", what, diff);
        /* sigmoid (k == 1): NaN only is bad; +-inf give 1 and 0. x holds the
         * bad rows made finite (above): spoil them again. */
        if (k == 1) {
          for (int b = 0; b < 3; b++) {
            const size_t i = badrows[b];
            if (bt == 2) {
              const float fv[4] = {NAN, -NAN, INFINITY, -INFINITY};
              memcpy(x.data + i * 4, &fv[kind], 4);
            } else {
              const uint16_t hv[4] = {nan16[bt], nnan16[bt], pinf16[bt], ninf16[bt]};
              memcpy(x.data + i * 2, &hv[kind], 2);
            }
          }
          memset(mem, SENT, span + 9);
          const int isnan_kind = kind == 0 || kind == 1;
          CHECK_ERR(calib__typed_softmax(&t, n, 1, 0.7f, 1, y, ydt, k), isnan_kind ? CALIB_E_NONFINITE : CALIB_OK);
          if (isnan_kind) CHECK(untouched(mem, span + 9));
          memset(status, 0x77, sizeof status);
          const size_t nb1 = calib__typed_softmax_rows(&t, n, 1, 0.7f, 1, y, ydt, k, status, &first);
          CHECK(nb1 == (isnan_kind ? 3u : 0u) && first == (isnan_kind ? 2u : n));
          for (size_t i = 0; i < n; i++) {
            const int isbad = i == 2 || i == 19 || i == 35;
            uint16_t h = 0;
            const double v = out_get(y, i, ydt, &h);
            const double xv = tin_val(&x, i, 0);
            CHECK(status[i] == (isbad && isnan_kind ? 2 : 0));
            if (isbad && isnan_kind) CHECK(v != v);
            else if (isinf(xv)) CHECK(v == (xv > 0 ? 1.0 : 0.0));
            else if (ydt == CALIB_DTYPE_F32) CHECK(prob_ok(v, 1.0 / (1.0 + exp(-0.7 * xv)), -fabs(0.7 * xv)));
            else CHECK(f16_ok(h, 1.0 / (1.0 + exp(-0.7 * xv)), -fabs(0.7 * xv)));
          }
        }
        free(mem);
        free(mem2);
        tin_free(&x);
      }
}

static void arg_errors(void) {
  int8_t q[64];
  uint16_t h[64];
  float yb[64], cs[4] = {0.1f, 0.2f, 0.3f, 0.4f};
  int32_t cz[4] = {0, 1, 2, 3};
  for (int i = 0; i < 64; i++) q[i] = (int8_t)i, h[i] = 0x3c00;
  memset(yb, SENT, sizeof yb);
  calib_input d;
#define RESET(DT, DATA)                                                                            \
  memset(&d, 0, sizeof d);                                                                         \
  d.dtype = (DT);                                                                                  \
  d.data = DATA;                                                                                   \
  if ((DT) == CALIB_DTYPE_I8 || (DT) == CALIB_DTYPE_U8) d.scale = 0.5f
#define ERR(n, k, y, ydt, ldy)                                                                     \
  do {                                                                                             \
    CHECK_ERR(calib_softmax_typed(&d, n, k, 1.0f, y, ydt, ldy), CALIB_E_ARG);                      \
    CHECK(untouched((const unsigned char *)yb, sizeof yb));                                        \
  } while (0)
  RESET(CALIB_DTYPE_I8, q);
  CHECK_OK(calib_softmax_typed(&d, 4, 4, 1.0f, yb + 32, CALIB_DTYPE_F32, 0));
  memset(yb, SENT, sizeof yb);
  const float badsc[4] = {0.0f, -1.0f, NAN, INFINITY};
  for (int b = 0; b < 4; b++) {
    RESET(CALIB_DTYPE_I8, q);
    d.scale = badsc[b];
    ERR(4, 4, yb, CALIB_DTYPE_F32, 0);
    RESET(CALIB_DTYPE_U8, q);
    float c2[4] = {0.1f, 0.1f, 0.1f, 0.1f};
    c2[b] = badsc[b];
    d.col_scale = c2;
    ERR(4, 4, yb, CALIB_DTYPE_F32, 0);
  }
  const int32_t badzp[2][2] = {{-129, 128}, {-1, 256}};
  for (int t = 0; t < 2; t++)
    for (int b = 0; b < 2; b++) {
      RESET(t ? CALIB_DTYPE_U8 : CALIB_DTYPE_I8, q);
      d.zero_point = badzp[t][b];
      ERR(4, 4, yb, CALIB_DTYPE_F32, 0);
      RESET(t ? CALIB_DTYPE_U8 : CALIB_DTYPE_I8, q);
      int32_t z2[4] = {0, 0, 0, 0};
      z2[3] = badzp[t][b];
      d.col_zero_point = z2;
      ERR(4, 4, yb, CALIB_DTYPE_F32, 0);
    }
  for (int ft = 0; ft < 3; ft++) { /* quantization fields on a float type */
    const int dt = ft == 0 ? CALIB_DTYPE_F16 : ft == 1 ? CALIB_DTYPE_BF16 : CALIB_DTYPE_F32;
    RESET(dt, h);
    CHECK_OK(calib_softmax_typed(&d, 2, 4, 1.0f, yb + 32, CALIB_DTYPE_F16, 0));
    memset(yb, SENT, sizeof yb);
    RESET(dt, h);
    d.scale = 1.0f;
    CHECK_OK(calib_softmax_typed(&d, 2, 4, 1.0f, yb + 32, CALIB_DTYPE_F16, 0));
    memset(yb, SENT, sizeof yb);
    RESET(dt, h);
    d.scale = 0.5f;
    ERR(2, 4, yb, CALIB_DTYPE_F32, 0);
    RESET(dt, h);
    d.zero_point = 1;
    ERR(2, 4, yb, CALIB_DTYPE_F32, 0);
    RESET(dt, h);
    d.col_scale = cs;
    ERR(2, 4, yb, CALIB_DTYPE_F32, 0);
    RESET(dt, h);
    d.col_zero_point = cz;
    ERR(2, 4, yb, CALIB_DTYPE_F32, 0);
  }
  RESET(CALIB_DTYPE_I8, q);
  CHECK_ERR(calib_softmax_typed(NULL, 2, 4, 1.0f, yb, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
  d.data = NULL;
  ERR(2, 4, yb, CALIB_DTYPE_F32, 0);
  RESET(CALIB_DTYPE_I8, q);
  ERR(2, 4, NULL, CALIB_DTYPE_F32, 0);
  ERR(2, 0, yb, CALIB_DTYPE_F32, 0);                  /* k == 0 */
  ERR(2, 4, yb, CALIB_DTYPE_BF16, 0);                 /* output type */
  ERR(2, 4, yb, CALIB_DTYPE_I8, 0);
  ERR(2, 4, yb, 99, 0);
  ERR(2, 4, yb, CALIB_DTYPE_F32, 3);                  /* ldy < k */
  d.ld = 3;
  ERR(2, 4, yb, CALIB_DTYPE_F32, 0);                  /* ld < k */
  RESET(99, q);
  ERR(2, 4, yb, CALIB_DTYPE_F32, 0);                  /* input type */
  RESET(CALIB_DTYPE_I8, q);
  CHECK_ERR(calib_softmax_typed(&d, 2, 4, 0.0f, yb, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
  CHECK_ERR(calib_softmax_typed(&d, 2, 4, NAN, yb, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
  CHECK_ERR(calib_softmax_typed(&d, 2, 4, INFINITY, yb, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
  CHECK(untouched((const unsigned char *)yb, sizeof yb));
  /* overflow of n * ld */
  d.ld = SIZE_MAX / 2;
  ERR(3, 4, yb, CALIB_DTYPE_F32, 0);
  RESET(CALIB_DTYPE_I8, q);
  ERR(3, 4, yb, CALIB_DTYPE_F32, SIZE_MAX / 4);
  RESET(CALIB_DTYPE_F16, h);
  ERR(SIZE_MAX / 2, 4, yb, CALIB_DTYPE_F16, 0);
  /* overlap: output over the input, over the quantization arrays */
  {
    unsigned char buf[256];
    memset(buf, 1, sizeof buf);
    RESET(CALIB_DTYPE_I8, buf + 64);
    CHECK_ERR(calib_softmax_typed(&d, 2, 4, 1.0f, buf + 60, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
    CHECK_ERR(calib_softmax_typed(&d, 2, 4, 1.0f, buf + 64, CALIB_DTYPE_F16, 0), CALIB_E_ARG);
    CHECK_ERR(calib_softmax_typed(&d, 2, 4, 1.0f, buf + 69, CALIB_DTYPE_F16, 0), CALIB_E_ARG);
    float fb[16] = {0};
    RESET(CALIB_DTYPE_F32, fb);
    CHECK_OK(calib_softmax_typed(&d, 2, 4, 1.0f, fb, CALIB_DTYPE_F32, 0)); /* exact in place */
    CHECK_ERR(calib_softmax_typed(&d, 2, 4, 1.0f, fb, CALIB_DTYPE_F16, 0), CALIB_E_ARG);
    CHECK_ERR(calib_softmax_typed(&d, 2, 4, 1.0f, fb + 1, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
    float pcs[12] = {0.1f, 0.1f, 0.1f, 0.1f};
    RESET(CALIB_DTYPE_I8, q);
    d.col_scale = pcs;
    CHECK_ERR(calib_softmax_typed(&d, 1, 4, 1.0f, pcs + 2, CALIB_DTYPE_F32, 0), CALIB_E_ARG);
    int32_t pcz[12] = {0};
    RESET(CALIB_DTYPE_I8, q);
    d.col_zero_point = pcz;
    CHECK_ERR(calib_softmax_typed(&d, 1, 4, 1.0f, pcz + 3, CALIB_DTYPE_F16, 0), CALIB_E_ARG);
  }
  /* n == 0: success, nothing read or written */
  RESET(CALIB_DTYPE_I8, NULL);
  CHECK_OK(calib_softmax_typed(&d, 0, 4, 1.0f, NULL, CALIB_DTYPE_F32, 0));
#undef ERR
#undef RESET
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  arg_errors();
  int ran = 0;
  for (size_t s = 0; s < NISA; s++) {
    if (!calib__kernels_force(ISAS[s])) {
      printf("%s: not supported here\n", ISAS[s]);
      continue;
    }
    ran++;
    conformance(ISAS[s]);
    if (strcmp(ISAS[s], "scalar") && strcmp(ISAS[s], "neon")) /* the x86 tables stream from 4 MiB */
      streamed(ISAS[s]);
    nonfinite(ISAS[s]);
    printf("%s: done (%ld checks, %ld failed so far)\n", ISAS[s], th_checks, th_failed);
  }
  CHECK(ran >= 1);
  TEST_MAIN_END();
}
