/* matrix_apply.c -- vector, matrix and Dirichlet scaling: validation and apply.
 *
 * Sections (all float64, see format.c):
 *   vector     CALIB_MP_VECTOR_W (k values: w), CALIB_MP_BIAS (k values: b)
 *   matrix     CALIB_MP_MATRIX_W (k*k values, row-major: W[a*k + j]),
 *   dirichlet  CALIB_MP_BIAS (k values)
 * exactly these two sections, k >= 2, every value finite with
 * |value| <= CALIB__MX_PARAM_MAX (1e100). Anything else is CALIB_E_FORMAT.
 * The bound keeps every output logit finite in double for any finite float32
 * input: |a| <= k * 1e100 * 2 * FLT_MAX + 1e100 < 1e300 for k < 2^60.
 *
 * Apply, per row, in double: a = w .* x + b, W x + b or W (x - lse(x)) + b;
 * then q = softmax(a) with max subtraction, rounded once to float.
 * Rows of k <= CALIB__MX_STACK_K go through one stack buffer (so in place is
 * safe); larger rows make two chunked passes (online logsumexp, then
 * recompute and write), which is safe in place only for the vector map,
 * whose logit j reads x_j alone. Every input entry is checked before the
 * first write. No allocation, no BLAS, reentrant.
 */
#include "matrix_apply.h"
#include "applyd.h"
#include <float.h>
#include <math.h>

#define CHUNK CALIB__MX_STACK_K

void calib__mx_row_logits(const calib__mx_map *mp, const calib__f32u *x, double shift,
                          size_t j0, size_t j1, double *a) {
  const size_t k = mp->k;
  if (mp->method == CALIB_METHOD_VECTOR) {
    for (size_t j = j0; j < j1; j++) a[j - j0] = mp->W[j] * (double)x[j] + mp->b[j];
    return;
  }
  if (mp->method == CALIB_METHOD_MATRIX) shift = 0.0;
  for (size_t j = j0; j < j1; j++) {
    const double *wr = mp->W + j * k;
    double s = 0;
    for (size_t l = 0; l < k; l++) s += wr[l] * ((double)x[l] - shift);
    a[j - j0] = s + mp->b[j];
  }
}

/* y = softmax(a) for k <= CHUNK values (a is overwritten). */
static void softmax_store(double *a, size_t k, calib__f32u *y) {
  double m = a[0], s = 0;
  for (size_t j = 1; j < k; j++)
    if (a[j] > m) m = a[j];
  for (size_t j = 0; j < k; j++) {
    a[j] = exp(a[j] - m);
    s += a[j];
  }
  for (size_t j = 0; j < k; j++) y[j] = (float)(a[j] / s);
}

/* Rows wider than the stack buffer: online logsumexp over chunks, then a
 * second pass that recomputes each chunk and writes it. */
static void row_two_pass(const calib__mx_map *mp, const calib__f32u *x, double shift,
                         calib__f32u *y, double *buf) {
  const size_t k = mp->k;
  double m = -HUGE_VAL, s = 0;
  for (size_t j0 = 0; j0 < k; j0 += CHUNK) {
    const size_t j1 = k - j0 < CHUNK ? k : j0 + CHUNK;
    calib__mx_row_logits(mp, x, shift, j0, j1, buf);
    double cm = buf[0];
    for (size_t j = 1; j < j1 - j0; j++)
      if (buf[j] > cm) cm = buf[j];
    if (cm > m) {
      s = s > 0 ? s * exp(m - cm) : 0.0;
      m = cm;
    }
    for (size_t j = 0; j < j1 - j0; j++) s += exp(buf[j] - m);
  }
  const double lse = m + log(s);
  for (size_t j0 = 0; j0 < k; j0 += CHUNK) {
    const size_t j1 = k - j0 < CHUNK ? k : j0 + CHUNK;
    calib__mx_row_logits(mp, x, shift, j0, j1, buf);
    for (size_t j = 0; j < j1 - j0; j++) y[j0 + j] = (float)exp(buf[j] - lse);
  }
}

static int map_of(const calib_model *m, calib__mx_map *mp) {
  const uint32_t wtag = m->method == CALIB_METHOD_VECTOR ? CALIB_MP_VECTOR_W : CALIB_MP_MATRIX_W;
  const calib__section *w = calib__model_section(m, wtag);
  const calib__section *b = calib__model_section(m, CALIB_MP_BIAS);
  if (!w || !b) return CALIB_E_FORMAT;
  mp->method = m->method;
  mp->k = m->k;
  mp->W = w->data;
  mp->b = b->data;
  return CALIB_OK;
}

int calib__mx_inplace_ok(const calib_model *m, const calib__f32u *x, const calib__f32u *y) {
  return !(m->k > CHUNK && x == y && m->method != CALIB_METHOD_VECTOR);
}

int calib__mx_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k) {
  CALIB__UNUSED(m);
  /* the kernels read caller arrays through unaligned-safe loads (calib__f32u, SIMD loadu) */
  return calib__check_finite((const float *)(const void *)x, n, k, k);
}

static int apply_rows(const calib_model *m, const calib__f32u *x, size_t n, size_t k, calib__f32u *y) {
  calib__mx_map mp;
  if (map_of(m, &mp) != CALIB_OK) return CALIB_E_FORMAT;
  if (!calib__mx_inplace_ok(m, x, y)) return CALIB_E_UNSUPPORTED;
  const int st = calib__mx_check(m, x, n, k);
  if (st != CALIB_OK) return st;
  calib__mx_map_rows(m, x, n, k, y);
  return CALIB_OK;
}

void calib__mx_map_rows(const calib_model *m, const calib__f32u *x, size_t n, size_t k, calib__f32u *y) {
  calib__mx_map mp;
  map_of(m, &mp); /* a validated model has both sections */
  double buf[CHUNK];
  const calib__applyd *ad = CALIB__APPLYD();
  if (ad && k <= CALIB__APPLYD_MAX_K && k <= CHUNK) { /* the same maps on the SIMD path (applyd.h) */
    if (m->method == CALIB_METHOD_VECTOR) {
      ad->vector_rows(mp.W, mp.b, x, n, k, y);
      return;
    }
    for (size_t i = 0; i < n; i++) {
      const calib__f32u *xr = x + i * k;
      const double shift = m->method == CALIB_METHOD_DIRICHLET ? calib__row_lse_simd(ad, xr, k) : 0.0;
      if (m->wf32) /* the same values at half the bytes: a is bit-identical */
        ad->matvec_row_f32(m->wf32, mp.b, xr, shift, k, buf);
      else
        ad->matvec_row(mp.W, mp.b, xr, shift, k, buf);
      ad->softmax_store(buf, k, y + i * k);
    }
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const calib__f32u *xr = x + i * k;
    const double shift = m->method == CALIB_METHOD_DIRICHLET ? calib__row_lse(xr, k) : 0.0;
    if (k <= CHUNK) {
      calib__mx_row_logits(&mp, xr, shift, 0, k, buf);
      softmax_store(buf, k, y + i * k);
    } else {
      row_two_pass(&mp, xr, shift, y + i * k, buf);
    }
  }
}

/* Section `tag` holds exactly `count` finite values of magnitude <= 1e100. */
static int check_section(const calib_model *m, uint32_t tag, size_t count) {
  const calib__section *s = calib__model_section(m, tag);
  if (!s || s->count != count) return CALIB_E_FORMAT;
  for (size_t i = 0; i < count; i++)
    if (!(fabs(s->data[i]) <= CALIB__MX_PARAM_MAX)) return CALIB_E_FORMAT;
  return CALIB_OK;
}

static int validate_full(calib_model *m) {
  const size_t k = m->k;
  if (k < 2 || m->nsections != 2 || k > (size_t)-1 / k) return CALIB_E_FORMAT;
  if (check_section(m, CALIB_MP_MATRIX_W, k * k) != CALIB_OK) return CALIB_E_FORMAT;
  return check_section(m, CALIB_MP_BIAS, k);
}

int calib__vector_validate(calib_model *m) {
  if (m->k < 2 || m->nsections != 2) return CALIB_E_FORMAT;
  if (check_section(m, CALIB_MP_VECTOR_W, m->k) != CALIB_OK) return CALIB_E_FORMAT;
  return check_section(m, CALIB_MP_BIAS, m->k);
}

int calib__matrix_validate(calib_model *m) { return validate_full(m); }
int calib__dirichlet_validate(calib_model *m) { return validate_full(m); }

int calib__vector_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k, calib__f32u *y) {
  return apply_rows(m, x, n, k, y);
}
int calib__matrix_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k, calib__f32u *y) {
  return apply_rows(m, x, n, k, y);
}
int calib__dirichlet_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                           calib__f32u *y) {
  return apply_rows(m, x, n, k, y);
}

/* The float32 copy of W (issue 12). A matrix/Dirichlet row reads all k*k
 * entries of W; at k = 1000 that is 8 MB of doubles per row, and the row is
 * memory-bound (98 us against 32 us for one float32 sgemv of the same size).
 * The fitters round W to float32 values (fit_matrix/matrix_fit.c), so an owned
 * model whose every W entry v satisfies (double)(float)v == v keeps those
 * values once more as floats, and the SIMD row (applyd.h matvec_row_f32)
 * widens them back exactly: the same products, the same sums, bit-identical
 * probabilities, half the bytes. Models with other doubles (older files,
 * hand-built W) get no copy and take the double path. The copy is written
 * once here, before the model is returned, and never modified (apply stays
 * thread-safe). Not made for by-reference models (calib_model_init_static:
 * no heap), for k > CALIB__APPLYD_MAX_K (the scalar two-pass rows read the
 * doubles) or where no SIMD row table is built (scalar-only, NEON, the core).
 * It is not part of the model bytes: calib_model_size and the format are
 * unchanged. */
#if defined(CALIB_HAVE_X86_KERNELS) && !defined(CALIB_CORE)
static int w_is_f32(const double *w, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (!(fabs(w[i]) <= (double)FLT_MAX) || (double)(float)w[i] != w[i]) return 0;
  return 1;
}
#endif

int calib__model_attach_f32(calib_model *m) {
#if defined(CALIB_HAVE_X86_KERNELS) && !defined(CALIB_CORE)
  if (m->method != CALIB_METHOD_MATRIX && m->method != CALIB_METHOD_DIRICHLET) return CALIB_OK;
  const calib__section *w = calib__model_section(m, CALIB_MP_MATRIX_W);
  if (!w || m->k > CALIB__APPLYD_MAX_K || !w_is_f32(w->data, w->count)) return CALIB_OK;
  float *f = (float *)calib__malloc(w->count * sizeof(float));
  if (!f) return CALIB_E_NOMEM;
  for (size_t i = 0; i < w->count; i++) f[i] = (float)w->data[i];
  m->wf32 = f;
#else
  CALIB__UNUSED(m);
#endif
  return CALIB_OK;
}

void calib__model_detach_f32(calib_model *m) {
  if (m->wf32) calib__free(m->wf32);
  m->wf32 = NULL;
}
