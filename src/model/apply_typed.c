/* apply_typed.c -- calib_apply_typed / calib_apply_typed_rows: every method
 * on typed logits (calib_input, calib.h).
 *
 * Temperature scaling goes to the typed softmax seam (kernels/typed.h:
 * calib__typed_softmax(_rows), conversion fused into the kernel) with
 * beta = the model's float 1/T, exactly what calib_apply passes to
 * calib_softmax / calib_sigmoid.
 *
 * Every other method: a block of whole rows is converted into a bounded
 * float32 buffer on the stack (TBLOCK_BYTES, 16 KiB; 1 KiB in the firmware
 * core), then the method's own check and map (its table entry, methods.c:
 * the code calib_apply runs, so the results equal calib_apply on the
 * dequantized rows bit for bit), then each output row is stored as float32
 * or rounded to float16. The block stays in L1 between the conversion, the
 * map and the store: the input is read from memory once and the output
 * written once (no float32 copy of the input exists beyond the block).
 *   - float32 output: the map writes straight into the caller's rows (the
 *     whole block at once when ldp == k);
 *   - float16 output: the map writes into the block itself (in place, which
 *     every map allows except matrix/Dirichlet above CALIB__MX_STACK_K
 *     classes: those map one row into the second half of the buffer).
 * Strict mode validates everything before writing: a first pass converts
 * and checks each block (skipped for int8/uint8 input on every method but
 * isotonic, whose check cannot fail on finite values: platt/beta/matrix
 * family/ETS/histogram take any finite logit, and probability models refuse
 * integer input), then the convert-map-store pass.
 *
 * A row longer than the buffer (k > 4096; 256 in the core) is streamed
 * through the caller's float32 output row, which holds k floats: converted
 * into it, checked there (row-wise mode) and mapped in place. Strict mode
 * checks such rows first in buffer-sized chunks (the check rules are
 * element-wise, plus the "every entry -inf" row rule, which is tracked
 * across chunks). What cannot be done without a heap, and is
 * CALIB_E_UNSUPPORTED: a long row with float16 output; a long row of a
 * matrix/Dirichlet model (no in-place map above 1024 classes); strict mode
 * on a long row of an isotonic model with CALIB_OOB_ERROR on probabilities
 * or scores (its domain rule is per class).
 * No allocation, no stdio: part of the firmware core. */
#include "internal.h"
#include "checked.h"
#include "kernels.h"
#include "typed.h"
#include "matrix_apply.h"
#include "platt_apply.h"
#include "histogram_apply.h"
#include "typed_convert.h"
#include <math.h>

#ifdef CALIB_CORE
#define TBLOCK_BYTES 1024
#else
#define TBLOCK_BYTES 16384
#endif
#define TBLOCK (TBLOCK_BYTES / sizeof(float))

/* Whether the model expects probabilities (then integer input is refused). */
static int takes_probs(const calib_model *m) {
  switch (m->method) {
  case CALIB_METHOD_PLATT:
  case CALIB_METHOD_BETA: {
    int input;
    double eps;
    calib__pb_input_of(m, &input, &eps);
    return input == CALIB_INPUT_PROBS;
  }
  case CALIB_METHOD_ISOTONIC:
    return calib__model_section(m, CALIB_MP_ISO_CONFIG)->data[1] == CALIB_INPUT_PROBS;
  case CALIB_METHOD_HISTOGRAM: {
    calib__hist_view v;
    calib__hist_view_of(m, &v);
    return v.probs;
  }
  default: return 0;
  }
}

/* Whether the check is "element-wise, plus the all -inf row rule" (the
 * logits rule of softmax-based maps) rather than element-wise only. */
static int row_rule(const calib_model *m, size_t k) {
  if (k < 2) return 0;
  if (m->method == CALIB_METHOD_ETS) return 1;
  if (m->method == CALIB_METHOD_ISOTONIC)
    return calib__model_section(m, CALIB_MP_ISO_CONFIG)->data[1] == CALIB_INPUT_LOGITS;
  if (m->method == CALIB_METHOD_HISTOGRAM) return !takes_probs(m);
  return 0;
}

/* Elements [j0, j0 + w) of row i as float32 into dst: the values of
 * calib__tin_get (typed.h's oracle; the dequantization is the same single
 * float multiply), with the type and the per-tensor/per-class choice taken
 * out of the loop. */
static void convert_span(const calib__tin *t, size_t i, size_t j0, size_t w, float *dst) {
  const unsigned char *p = t->data + (i * t->ld + j0) * t->esize;
  switch (t->dtype) {
  case CALIB_DTYPE_F16:
    for (size_t j = 0; j < w; j++) dst[j] = calib__f16_fast(calib__ld16(p + 2 * j));
    return;
  case CALIB_DTYPE_BF16:
    for (size_t j = 0; j < w; j++) dst[j] = calib__bf16_to_f32(calib__ld16(p + 2 * j));
    return;
  case CALIB_DTYPE_I8:
  case CALIB_DTYPE_U8: {
    const int sgn = t->dtype == CALIB_DTYPE_I8;
    if (!t->col_scale && !t->col_zp) {
      const float sc = t->scale;
      const int32_t zp = t->zp;
      if (sgn)
        for (size_t j = 0; j < w; j++) dst[j] = sc * (float)((int32_t)(signed char)p[j] - zp);
      else
        for (size_t j = 0; j < w; j++) dst[j] = sc * (float)((int32_t)p[j] - zp);
      return;
    }
    for (size_t j = 0; j < w; j++) {
      const size_t c = j0 + j;
      const int32_t q = (sgn ? (int32_t)(signed char)p[j] : (int32_t)p[j]) - (t->col_zp ? t->col_zp[c] : t->zp);
      dst[j] = (t->col_scale ? t->col_scale[c] : t->scale) * (float)q;
    }
    return;
  }
  default:
    memcpy(dst, p, w * sizeof(float));
  }
}

/* k float32 values -> an output row of c->odt (any byte address). float16:
 * the branch-free rounding in the full library (typed_convert.h, checked
 * against an independent rounding on 2^32 / 64 strided bit patterns by
 * test_apply_typed), typed.h's calib__tout_row in the firmware core (smaller
 * code; the same results). */
static void store_row(const float *src, size_t k, unsigned char *out, int odt) {
#ifdef CALIB_CORE
  calib__tout_row(src, k, out, odt);
#else
  if (odt != CALIB_DTYPE_F16) {
    memcpy(out, src, k * sizeof(float));
    return;
  }
  uint16_t h[256];
  for (size_t j0 = 0; j0 < k; j0 += 256) {
    const size_t w = k - j0 < 256 ? k - j0 : 256;
    for (size_t j = 0; j < w; j++) h[j] = calib__f32_to_f16_fast(src[j0 + j]);
    memcpy(out + 2 * j0, h, 2 * w);
  }
#endif
}

typedef struct {
  const calib_model *m;
  const calib__method *meth;
  const calib__tin *t;
  size_t n, k;
  unsigned char *out; /* caller output */
  int odt;            /* CALIB_DTYPE_F32 / F16 */
  size_t ldp;         /* output stride, elements */
  size_t osz;         /* output element bytes */
  int sep;            /* map may not run in place (matrix/Dirichlet, k > 1024) */
} tctx;

static unsigned char *out_row(const tctx *c, size_t i) { return c->out + i * c->ldp * c->osz; }

/* Rows [r0, r0 + nr) of the block xb (first row i0) mapped and stored. */
static void map_store(const tctx *c, float *xb, size_t i0, size_t r0, size_t nr) {
  const size_t k = c->k;
  if (!nr) return;
  if (c->odt == CALIB_DTYPE_F32) {
    if (c->ldp == k) {
      c->meth->map(c->m, xb + r0 * k, nr, k, (float *)(void *)out_row(c, i0 + r0));
    } else {
      for (size_t r = r0; r < r0 + nr; r++)
        c->meth->map(c->m, xb + r * k, 1, k, (float *)(void *)out_row(c, i0 + r));
    }
    return;
  }
  if (!c->sep) {
    c->meth->map(c->m, xb + r0 * k, nr, k, xb + r0 * k);
    for (size_t r = r0; r < r0 + nr; r++) store_row(xb + r * k, k, out_row(c, i0 + r), c->odt);
  } else {
    float *yb = xb + (TBLOCK - k); /* the block's rows end before it (rows_per_block) */
    for (size_t r = r0; r < r0 + nr; r++) {
      c->meth->map(c->m, xb + r * k, 1, k, yb);
      store_row(yb, k, out_row(c, i0 + r), c->odt);
    }
  }
}

static void nan_row(const tctx *c, size_t i) {
  unsigned char *o = out_row(c, i);
  if (c->odt == CALIB_DTYPE_F16) {
    const uint16_t h = 0x7e00u;
    for (size_t j = 0; j < c->k; j++) memcpy(o + 2 * j, &h, 2);
  } else {
    const float f = NAN;
    for (size_t j = 0; j < c->k; j++) memcpy(o + 4 * j, &f, 4);
  }
}

/* Rows per block, 0 when a row does not fit (the long-row path). */
static size_t rows_per_block(const tctx *c) {
  if (c->odt == CALIB_DTYPE_F16 && c->sep) return 2 * c->k <= TBLOCK ? (TBLOCK - c->k) / c->k : 0;
  return TBLOCK / c->k;
}

/* Priority of check codes over several blocks: non-finite first. */
static int worse(int a, int b) {
  if (a == CALIB_E_NONFINITE || b == CALIB_E_NONFINITE) return CALIB_E_NONFINITE;
  return a != CALIB_OK ? a : b;
}

/* The strict check of a long row i, in chunks of TBLOCK through buf. */
static int long_row_check(const tctx *c, size_t i, float *buf) {
  const size_t k = c->k;
  const int rule = row_rule(c->m, k);
  int st = CALIB_OK, finite_seen = 0;
  for (size_t j0 = 0; j0 < k; j0 += TBLOCK) {
    const size_t w = k - j0 < TBLOCK ? k - j0 : TBLOCK;
    convert_span(c->t, i, j0, w, buf);
    if (rule) { /* NaN or +inf, and the all -inf row */
      for (size_t j = 0; j < w; j++) {
        if (isnan(buf[j]) || buf[j] == INFINITY) return CALIB_E_NONFINITE;
        if (buf[j] != -INFINITY) finite_seen = 1;
      }
    } else { /* element-wise: the method's own check on the chunk as one row */
      st = worse(st, c->meth->check(c->m, buf, 1, w));
      if (st == CALIB_E_NONFINITE) return st;
    }
  }
  if (rule && !finite_seen) return CALIB_E_NONFINITE;
  return st;
}

/* The long-row path: row i streamed through its float32 output row. Returns
 * the row's check status when check != 0 (row-wise; the row is NaN then). */
static int long_row(const tctx *c, size_t i, int check) {
  calib__f32u *o = (calib__f32u *)(void *)out_row(c, i);
  float tmp[64];
  for (size_t j0 = 0; j0 < c->k; j0 += 64) { /* the output may be misaligned: through a small buffer */
    const size_t w = c->k - j0 < 64 ? c->k - j0 : 64;
    convert_span(c->t, i, j0, w, tmp);
    memmove((unsigned char *)o + j0 * sizeof(float), tmp, w * sizeof(float)); /* in place: F32 input, same row */
  }
  if (check) {
    const int st = c->meth->check(c->m, (const float *)o, 1, c->k);
    if (st != CALIB_OK) {
      nan_row(c, i);
      return st;
    }
  }
  c->meth->map(c->m, (const float *)o, 1, c->k, (float *)o);
  return CALIB_OK;
}

static void convert_block(const tctx *c, size_t i0, size_t nb, float *xb) {
  for (size_t r = 0; r < nb; r++) convert_span(c->t, i0 + r, 0, c->k, xb + r * c->k);
}

/* Arguments and the paths that are refused, before anything is written. */
static int prepare(tctx *c, calib__tin *t, const calib_model *m, const calib_input *x, size_t n,
                   size_t k, void *probs, int probs_dtype, size_t *ldp, uint8_t *row_status) {
  if (!m || k == 0) return CALIB_E_ARG;
  int st = calib__tin_init(t, x, n, k, probs, probs_dtype, ldp, NULL);
  if (st != CALIB_OK) return st;
  if (k != m->k) return CALIB_E_SHAPE;
  if (m->method != CALIB_METHOD_TEMPERATURE && (t->dtype == CALIB_DTYPE_I8 || t->dtype == CALIB_DTYPE_U8) &&
      takes_probs(m))
    return CALIB_E_ARG;
  c->m = m;
  c->meth = calib__method_get(m->method);
  c->t = t;
  c->n = n;
  c->k = k;
  c->out = (unsigned char *)probs;
  c->odt = probs_dtype;
  c->ldp = *ldp;
  c->osz = calib_dtype_size(probs_dtype);
  c->sep = (m->method == CALIB_METHOD_MATRIX || m->method == CALIB_METHOD_DIRICHLET) &&
           k > CALIB__MX_STACK_K;
  if (n && row_status) {
    size_t bin = calib__tin_span(n, k, t->ld, t->esize), bout = ((n - 1) * c->ldp + k) * c->osz;
    if (calib__overlap(row_status, n, t->data, bin) || calib__overlap(row_status, n, probs, bout))
      return CALIB_E_ARG;
  }
  if (m->method != CALIB_METHOD_TEMPERATURE && n && !rows_per_block(c) &&
      (c->odt == CALIB_DTYPE_F16 || c->sep))
    return CALIB_E_UNSUPPORTED;
  return CALIB_OK;
}

int calib_apply_typed(const calib_model *m, const calib_input *x, size_t n, size_t k, void *probs,
                      int probs_dtype, size_t ldp) {
  calib__tin t;
  tctx c;
  int st = prepare(&c, &t, m, x, n, k, probs, probs_dtype, &ldp, NULL);
  if (st != CALIB_OK || n == 0) return st;
  if (m->method == CALIB_METHOD_TEMPERATURE)
    return calib__typed_softmax(&t, n, k, m->fparam[0], k == 1, probs, probs_dtype, ldp);
  float xb[TBLOCK];
  const size_t rows = rows_per_block(&c);
  const int quant = t.dtype == CALIB_DTYPE_I8 || t.dtype == CALIB_DTYPE_U8;
  if (!rows) { /* long rows: checked in chunks, then streamed through the output */
    if (m->method == CALIB_METHOD_ISOTONIC && !row_rule(m, k) &&
        calib__model_section(m, CALIB_MP_ISO_CONFIG)->data[0] == CALIB_OOB_ERROR)
      return CALIB_E_UNSUPPORTED;
    st = CALIB_OK;
    for (size_t i = 0; i < n && st != CALIB_E_NONFINITE; i++) st = worse(st, long_row_check(&c, i, xb));
    if (st != CALIB_OK) return st;
    for (size_t i = 0; i < n; i++) long_row(&c, i, 0);
    return CALIB_OK;
  }
  if (!quant || m->method == CALIB_METHOD_ISOTONIC) { /* validation pass: nothing written on error */
    st = CALIB_OK;
    for (size_t i0 = 0; i0 < n && st != CALIB_E_NONFINITE; i0 += rows) {
      const size_t nb = n - i0 < rows ? n - i0 : rows;
      convert_block(&c, i0, nb, xb);
      st = worse(st, c.meth->check(m, xb, nb, k));
    }
    if (st != CALIB_OK) return st;
  }
  for (size_t i0 = 0; i0 < n; i0 += rows) {
    const size_t nb = n - i0 < rows ? n - i0 : rows;
    convert_block(&c, i0, nb, xb);
    map_store(&c, xb, i0, 0, nb);
  }
  return CALIB_OK;
}

int calib_apply_typed_rows(const calib_model *m, const calib_input *x, size_t n, size_t k,
                           void *probs, int probs_dtype, size_t ldp, uint8_t *row_status,
                           size_t *bad_rows, size_t *first_bad) {
  calib__tin t;
  tctx c;
  int st = prepare(&c, &t, m, x, n, k, probs, probs_dtype, &ldp, row_status);
  if (st != CALIB_OK) return st;
  if (n == 0) return calib__rows_finish(0, 0, 0, bad_rows, first_bad, CALIB_OK);
  if (m->method == CALIB_METHOD_TEMPERATURE) {
    size_t first = n;
    const size_t bad = calib__typed_softmax_rows(&t, n, k, m->fparam[0], k == 1, probs, probs_dtype,
                                                 ldp, row_status, &first);
    return calib__rows_finish(n, bad, first, bad_rows, first_bad, CALIB_E_NONFINITE);
  }
  float xb[TBLOCK];
  size_t bad = 0, first = n;
  int code = CALIB_OK;
  const size_t rows = rows_per_block(&c);
  if (!rows) {
    for (size_t i = 0; i < n; i++) {
      const int s = long_row(&c, i, 1);
      if (row_status) row_status[i] = (uint8_t)-s;
      if (s != CALIB_OK && bad++ == 0) {
        first = i;
        code = s;
      }
    }
    return calib__rows_finish(n, bad, first, bad_rows, first_bad, code);
  }
  for (size_t i0 = 0; i0 < n; i0 += rows) {
    const size_t nb = n - i0 < rows ? n - i0 : rows;
    convert_block(&c, i0, nb, xb);
    if (c.meth->check(m, xb, nb, k) == CALIB_OK) {
      map_store(&c, xb, i0, 0, nb);
      if (row_status) memset(row_status + i0, 0, nb);
      continue;
    }
    size_t run = 0; /* first row of the current run of good rows */
    for (size_t r = 0; r < nb; r++) {
      const int s = c.meth->check(m, xb + r * k, 1, k);
      if (row_status) row_status[i0 + r] = (uint8_t)-s;
      if (s == CALIB_OK) continue;
      map_store(&c, xb, i0, run, r - run);
      nan_row(&c, i0 + r);
      if (bad++ == 0) {
        first = i0 + r;
        code = s;
      }
      run = r + 1;
    }
    map_store(&c, xb, i0, run, nb - run);
  }
  return calib__rows_finish(n, bad, first, bad_rows, first_bad, code);
}
