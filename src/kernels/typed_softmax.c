/* typed_softmax.c -- softmax / sigmoid of typed input (typed.h's seam) and
 * the public calib_softmax_typed. This first version is the plain scalar
 * path (element-wise conversion, float32 arithmetic); the fused SIMD kernels
 * replace its inner loops. */
#include "typed.h"
#include "internal.h"
#include <math.h>

static size_t yoff(size_t i, size_t ldy, int ydt) {
  return i * ldy * (ydt == CALIB_DTYPE_F16 ? 2 : 4);
}

/* 0 good, else 2 (-CALIB_E_NONFINITE) */
static int row_bad(const calib__tin *t, size_t i, size_t k, int sig) {
  if (t->dtype == CALIB_DTYPE_I8 || t->dtype == CALIB_DTYPE_U8) return 0;
  int all_ninf = 1;
  for (size_t j = 0; j < k; j++) {
    float v = calib__tin_get(t, i, j);
    if (v != v) return 2;
    if (sig && k == 1) return 0;
    if (v == INFINITY) return 2;
    if (v != -INFINITY) all_ninf = 0;
  }
  return all_ninf ? 2 : 0;
}

static void row_compute(const calib__tin *t, size_t i, size_t k, float beta, int sig,
                        unsigned char *yrow, int ydt) {
  float buf[64];
  if (sig && k == 1) {
    float z = beta * calib__tin_get(t, i, 0);
    buf[0] = 1.0f / (1.0f + expf(-z));
    calib__tout_row(buf, 1, yrow, ydt);
    return;
  }
  float m = -INFINITY;
  for (size_t j = 0; j < k; j++) {
    float v = calib__tin_get(t, i, j);
    if (v > m) m = v;
  }
  double s = 0;
  for (size_t j = 0; j < k; j++) s += (double)expf(beta * (calib__tin_get(t, i, j) - m));
  const float inv = (float)(1.0 / s);
  for (size_t j0 = 0; j0 < k; j0 += 64) {
    size_t c = k - j0 < 64 ? k - j0 : 64;
    for (size_t j = 0; j < c; j++) buf[j] = expf(beta * (calib__tin_get(t, i, j0 + j) - m)) * inv;
    calib__tout_row(buf, c, yrow + j0 * (ydt == CALIB_DTYPE_F16 ? 2 : 4), ydt);
  }
}

static void row_nan(size_t k, unsigned char *yrow, int ydt) {
  float buf[64];
  for (size_t j = 0; j < 64; j++) buf[j] = NAN;
  for (size_t j0 = 0; j0 < k; j0 += 64)
    calib__tout_row(buf, k - j0 < 64 ? k - j0 : 64, yrow + j0 * (ydt == CALIB_DTYPE_F16 ? 2 : 4),
                    ydt);
}

int calib__typed_softmax(const calib__tin *t, size_t n, size_t k, float beta, int sig, void *y,
                         int ydt, size_t ldy) {
  for (size_t i = 0; i < n; i++)
    if (row_bad(t, i, k, sig)) return CALIB_E_NONFINITE;
  for (size_t i = 0; i < n; i++)
    row_compute(t, i, k, beta, sig, (unsigned char *)y + yoff(i, ldy, ydt), ydt);
  return CALIB_OK;
}

size_t calib__typed_softmax_rows(const calib__tin *t, size_t n, size_t k, float beta, int sig,
                                 void *y, int ydt, size_t ldy, uint8_t *status, size_t *first) {
  size_t bad = 0;
  *first = n;
  for (size_t i = 0; i < n; i++) {
    unsigned char *yrow = (unsigned char *)y + yoff(i, ldy, ydt);
    int b = row_bad(t, i, k, sig);
    if (status) status[i] = (uint8_t)b;
    if (b) {
      if (!bad++) *first = i;
      row_nan(k, yrow, ydt);
    } else {
      row_compute(t, i, k, beta, sig, yrow, ydt);
    }
  }
  return bad;
}

int calib_softmax_typed(const calib_input *x, size_t n, size_t k, float beta, void *y,
                        int y_dtype, size_t ldy) {
  calib__tin t;
  int st = calib__tin_init(&t, x, n, k, y, y_dtype, &ldy, NULL);
  if (st != CALIB_OK) return st;
  if (!(beta > 0) || !isfinite(beta)) return CALIB_E_ARG;
  if (n == 0) return CALIB_OK;
  return calib__typed_softmax(&t, n, k, beta, 0, y, y_dtype, ldy);
}
