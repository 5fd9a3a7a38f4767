/* kernels_typed_scalar.c -- the scalar typed kernels (typed.h): always built,
 * the oracle of the fused SIMD conversions and the firmware core's path.
 * Every element is converted on its own with calib__tin_get (typed.h), then
 * computed exactly as the scalar float32 kernels (kernels_scalar.c) compute
 * it, so a typed row gives bit for bit what calib_softmax gives on the
 * dequantized float32 row on the scalar path. No buffer: a float16 output
 * row takes its exponentials twice (expf is deterministic, so the two agree). */
#include "typed.h"
#include "internal.h"
#include <math.h>

static void put(unsigned char *o, size_t j, float v, int ydt) {
  if (ydt == CALIB_DTYPE_F16) {
    const uint16_t h = calib__f32_to_f16(v);
    memcpy(o + 2 * j, &h, 2);
  } else {
    memcpy(o + 4 * j, &v, 4);
  }
}

static float get_f32(const unsigned char *o, size_t j) {
  float v;
  memcpy(&v, o + 4 * j, 4);
  return v;
}

/* 0 good, 1 bad: the seam's rule (typed.h). */
static int row_bad(const calib__tin *t, size_t i, size_t k, int sig) {
  if (t->dtype == CALIB_DTYPE_I8 || t->dtype == CALIB_DTYPE_U8) return 0;
  int all_ninf = 1;
  for (size_t j = 0; j < k; j++) {
    const float v = calib__tin_get(t, i, j);
    if (v != v) return 1;
    if (sig && k == 1) return 0;
    if (v == INFINITY) return 1;
    if (v != -INFINITY) all_ninf = 0;
  }
  return all_ninf;
}

static int check_scalar(const calib__tin *t, size_t n, size_t k, int sig) {
  for (size_t i = 0; i < n; i++)
    if (row_bad(t, i, k, sig)) return CALIB_E_NONFINITE;
  return CALIB_OK;
}

static float sigmoid_one(float v, float beta) { /* kernels_scalar.c's */
  const float t = v * beta;
  if (t >= 0) return 1.0f / (1.0f + expf(-t));
  const float e = expf(t);
  return e / (1.0f + e);
}

static void row_softmax(const calib__tin *t, size_t i, size_t k, float beta, unsigned char *o,
                        int ydt) {
  float m = calib__tin_get(t, i, 0);
  for (size_t j = 1; j < k; j++) {
    const float v = calib__tin_get(t, i, j);
    m = v > m ? v : m;
  }
  double s = 0.0;
  if (ydt == CALIB_DTYPE_F32) {
    for (size_t j = 0; j < k; j++) {
      const float e = expf((calib__tin_get(t, i, j) - m) * beta);
      put(o, j, e, ydt);
      s += (double)e;
    }
    const float inv = (float)(1.0 / s);
    for (size_t j = 0; j < k; j++) put(o, j, get_f32(o, j) * inv, ydt);
    return;
  }
  for (size_t j = 0; j < k; j++) s += (double)expf((calib__tin_get(t, i, j) - m) * beta);
  const float inv = (float)(1.0 / s);
  for (size_t j = 0; j < k; j++) put(o, j, expf((calib__tin_get(t, i, j) - m) * beta) * inv, ydt);
}

void calib__trows_sigmoid(const calib__tin *t, size_t n, float beta, void *y, int ydt, size_t ldy,
                          int chk, calib__rstat *rs) {
  const size_t rowb = ldy * (ydt == CALIB_DTYPE_F16 ? 2 : 4);
  for (size_t i = 0; i < n; i++) {
    unsigned char *o = (unsigned char *)y + i * rowb;
    const float v = calib__tin_get(t, i, 0);
    if (chk) {
      calib__rstat_row(rs, i, v != v);
      if (v != v) {
        put(o, 0, NAN, ydt);
        continue;
      }
    }
    put(o, 0, sigmoid_one(v, beta), ydt);
  }
}

static void rows_scalar(const calib__tin *t, size_t n, size_t k, float beta, int sig, void *y,
                        int ydt, size_t ldy, int chk, calib__rstat *rs) {
  if (sig && k == 1) {
    calib__trows_sigmoid(t, n, beta, y, ydt, ldy, chk, rs);
    return;
  }
  const size_t rowb = ldy * (ydt == CALIB_DTYPE_F16 ? 2 : 4);
  for (size_t i = 0; i < n; i++) {
    unsigned char *o = (unsigned char *)y + i * rowb;
    if (chk) {
      const int b = row_bad(t, i, k, 0);
      calib__rstat_row(rs, i, b);
      if (b) {
        for (size_t j = 0; j < k; j++) put(o, j, NAN, ydt);
        continue;
      }
    }
    row_softmax(t, i, k, beta, o, ydt);
  }
}

const calib__tkernels calib__tkernels_scalar = {"scalar", check_scalar, rows_scalar};
