/* typed.c -- calib_input validation and the scalar conversions (typed.h).
 * Firmware-core safe: no stdio, no heap. */
#include "typed.h"
#include "checked.h"
#include "internal.h"
#include <math.h>

size_t calib_dtype_size(int dtype) {
  switch (dtype) {
  case CALIB_DTYPE_F32: return 4;
  case CALIB_DTYPE_F16:
  case CALIB_DTYPE_BF16: return 2;
  case CALIB_DTYPE_I8:
  case CALIB_DTYPE_U8: return 1;
  default: return 0;
  }
}

static int zp_ok(int dtype, int32_t zp) {
  return dtype == CALIB_DTYPE_I8 ? zp >= -128 && zp <= 127 : zp >= 0 && zp <= 255;
}

static int fail(const char **chk, const char *why) {
  if (chk) *chk = why;
  return CALIB_E_ARG;
}

static int quant_check(const calib_input *x, size_t k, calib__tin *t, const char **chk) {
  const int q = x->dtype == CALIB_DTYPE_I8 || x->dtype == CALIB_DTYPE_U8;
  if (!q) {
    if (!(x->scale == 0.0f || x->scale == 1.0f) || x->zero_point != 0 || x->col_scale ||
        x->col_zero_point)
      return fail(chk, "quantization parameters given for a float input type");
    t->scale = 1.0f;
    return CALIB_OK;
  }
  if (x->col_scale) {
    for (size_t j = 0; j < k; j++)
      if (!(x->col_scale[j] > 0.0f) || !isfinite(x->col_scale[j]))
        return fail(chk, "a per-class scale is not finite and > 0");
  } else if (!(x->scale > 0.0f) || !isfinite(x->scale)) {
    return fail(chk, "scale is not finite and > 0");
  }
  if (x->col_zero_point) {
    for (size_t j = 0; j < k; j++)
      if (!zp_ok(x->dtype, x->col_zero_point[j]))
        return fail(chk, "a per-class zero point is outside the element type's range");
  } else if (!zp_ok(x->dtype, x->zero_point)) {
    return fail(chk, "zero_point is outside the element type's range");
  }
  t->scale = x->scale;
  t->zp = x->zero_point;
  t->col_scale = x->col_scale;
  t->col_zp = x->col_zero_point;
  return CALIB_OK;
}

int calib__tin_init(calib__tin *t, const calib_input *x, size_t n, size_t k, const void *out,
                    int out_dtype, size_t *ldo, const char **chk) {
  if (chk) *chk = "";
  if (!x) return fail(chk, "input descriptor is NULL");
  if (k == 0) return fail(chk, "k is 0");
  calib__tin z = {0};
  *t = z;
  t->dtype = x->dtype;
  if (!(t->esize = calib_dtype_size(x->dtype))) return fail(chk, "unknown input dtype");
  t->ld = x->ld ? x->ld : k;
  if (t->ld < k) return fail(chk, "input ld < k");
  int st = quant_check(x, k, t, chk);
  if (st != CALIB_OK) return st;
  size_t ein, bin, eout = 0, bout = 0, osz = 0;
  if (ldo) {
    if (out_dtype != CALIB_DTYPE_F32 && out_dtype != CALIB_DTYPE_F16)
      return fail(chk, "output dtype is not CALIB_DTYPE_F32 or CALIB_DTYPE_F16");
    osz = calib_dtype_size(out_dtype);
    if (*ldo == 0) *ldo = k;
    if (*ldo < k) return fail(chk, "output ld < k");
  }
  if (n == 0) return CALIB_OK;
  if (!x->data) return fail(chk, "input data is NULL");
  t->data = (const unsigned char *)x->data;
  if (!calib__size_mul(n - 1, t->ld, &ein) || !calib__size_add(ein, k, &ein) ||
      !calib__size_bytes(ein, t->esize, &bin))
    return fail(chk, "input size overflows");
  if (!ldo) return CALIB_OK;
  if (!out) return fail(chk, "output is NULL");
  if (!calib__size_mul(n - 1, *ldo, &eout) || !calib__size_add(eout, k, &eout) ||
      !calib__size_bytes(eout, osz, &bout))
    return fail(chk, "output size overflows");
  if (out == x->data && x->dtype == CALIB_DTYPE_F32 && out_dtype == CALIB_DTYPE_F32 &&
      *ldo == t->ld)
    ; /* the float32 API's exact in-place case */
  else if (calib__overlap(out, bout, x->data, bin))
    return fail(chk, "output overlaps the input");
  if ((t->col_scale && calib__overlap(out, bout, t->col_scale, k * sizeof(float))) ||
      (t->col_zp && calib__overlap(out, bout, t->col_zp, k * sizeof(int32_t))))
    return fail(chk, "output overlaps the quantization parameters");
  return CALIB_OK;
}

uint16_t calib__f32_to_f16(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  uint32_t sign = (b >> 16) & 0x8000u, a = b & 0x7fffffffu;
  if (a >= 0x7f800000u) /* inf or NaN (quiet, top payload bits kept) */
    return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u | ((a >> 13) & 0x3ffu) : 0));
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
  if (a >= 0x38800000u) { /* normal binary16 */
    uint32_t r = a - 0x38000000u; /* rebias 127 -> 15 */
    r = (r + 0xfffu + ((r >> 13) & 1u)) >> 13;
    return (uint16_t)(sign | r);
  }
  if (a < 0x33000000u) return (uint16_t)sign; /* below half the smallest subnormal: 0 */
  /* subnormal binary16: value = m * 2^-24 */
  uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u, shift = 126u - e; /* 14..24 */
  uint32_t r = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (r & 1u))) r++;
  return (uint16_t)(sign | r);
}

void calib__tin_rows_f32(const calib__tin *t, size_t i0, size_t nrows, size_t k, float *dst) {
  for (size_t i = 0; i < nrows; i++)
    for (size_t j = 0; j < k; j++) dst[i * k + j] = calib__tin_get(t, i0 + i, j);
}

void calib__tout_row(const float *src, size_t k, void *out, int out_dtype) {
  unsigned char *o = (unsigned char *)out;
  if (out_dtype == CALIB_DTYPE_F16) {
    for (size_t j = 0; j < k; j++) {
      uint16_t h = calib__f32_to_f16(src[j]);
      memcpy(o + 2 * j, &h, 2);
    }
  } else {
    memmove(o, src, k * sizeof(float));
  }
}
