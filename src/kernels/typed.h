/*
 * typed.h -- the typed-input descriptor (calib_input, calib.h) inside the
 * library: argument validation and the scalar conversions, the oracle that
 * every fused SIMD conversion is tested against. No stdio, no heap: part of
 * the firmware core.
 *
 * Conversions (exact definitions; the SIMD kernels must reproduce them):
 *   F16  -> f32: exact (every binary16 is a float32), NaN payload kept quiet
 *   BF16 -> f32: exact (the 16 bits are the high half of the float32)
 *   I8/U8 -> f32: scale_j * (float)(q - zp_j), one float32 multiply of an
 *                 exactly representable integer difference (|q - zp| <= 255)
 *   f32 -> F16 (output): round to nearest, ties to even; overflow to inf
 *                 (never happens for probabilities), NaN stays NaN
 */
#ifndef CALIB_TYPED_H
#define CALIB_TYPED_H

#include "calib.h"
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The descriptor after validation: ld resolved, per-tensor parameters filled. */
typedef struct {
  int dtype;
  const unsigned char *data; /* element (0,0) */
  size_t ld;                 /* elements */
  size_t esize;              /* bytes per element */
  float scale;               /* per tensor (when col_scale == NULL) */
  int32_t zp;                /* per tensor (when col_zp == NULL) */
  const float *col_scale;    /* k entries or NULL */
  const int32_t *col_zp;     /* k entries or NULL */
} calib__tin;

/* Validates x for n rows of k (and, when out != NULL, an output of out_dtype,
 * row stride *ldo (0 -> k, resolved in place) that must not overlap the input
 * or its quantization arrays, except the exact float32 in-place case). Fills
 * *t. Returns CALIB_OK or CALIB_E_ARG; when chk != NULL, *chk = the static
 * text of the failed check ("" on success). n == 0 checks everything but the
 * data pointer and the overlap. */
int calib__tin_init(calib__tin *t, const calib_input *x, size_t n, size_t k, const void *out,
                    int out_dtype, size_t *ldo, const char **chk);

/* Bytes spanned by n rows of k elements of esize bytes with stride ld
 * (already validated: no overflow). 0 when n == 0. */
static inline size_t calib__tin_span(size_t n, size_t k, size_t ld, size_t esize) {
  return n ? ((n - 1) * ld + k) * esize : 0;
}

static inline uint16_t calib__ld16(const unsigned char *p) {
  uint16_t v;
  memcpy(&v, p, 2); /* any alignment */
  return v;
}

/* binary16 bits -> float32, exact */
static inline float calib__f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13) | (man ? 0x00400000u : 0); /* inf / quiet NaN */
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else { /* subnormal: normalise */
    int e = -1;
    do { man <<= 1; e++; } while (!(man & 0x400u));
    bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* bfloat16 bits -> float32, exact */
static inline float calib__bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* float32 -> binary16 bits, round to nearest even */
uint16_t calib__f32_to_f16(float f);

/* Element (i, j) as float32 (the scalar oracle of every conversion). */
static inline float calib__tin_get(const calib__tin *t, size_t i, size_t j) {
  const unsigned char *p = t->data + (i * t->ld + j) * t->esize;
  switch (t->dtype) {
  case CALIB_DTYPE_F16: return calib__f16_to_f32(calib__ld16(p));
  case CALIB_DTYPE_BF16: return calib__bf16_to_f32(calib__ld16(p));
  case CALIB_DTYPE_I8: {
    int32_t q = (int32_t)(signed char)*p - (t->col_zp ? t->col_zp[j] : t->zp);
    return (t->col_scale ? t->col_scale[j] : t->scale) * (float)q;
  }
  case CALIB_DTYPE_U8: {
    int32_t q = (int32_t)*p - (t->col_zp ? t->col_zp[j] : t->zp);
    return (t->col_scale ? t->col_scale[j] : t->scale) * (float)q;
  }
  default: {
    float f;
    memcpy(&f, p, 4);
    return f;
  }
  }
}

/* Rows i0 .. i0+nrows-1 as float32 into dst (row stride k). Scalar. */
void calib__tin_rows_f32(const calib__tin *t, size_t i0, size_t nrows, size_t k, float *dst);

/* k float32 values -> out row of out_dtype (F32: copy; F16: rounded).
 * out may be byte-misaligned. */
void calib__tout_row(const float *src, size_t k, void *out, int out_dtype);

#endif /* CALIB_TYPED_H */

/* ---- The seam between the typed wrappers and the typed kernels ----------------
 * Softmax of beta * x over each row (sig != 0 and k == 1: sigmoid of beta * x,
 * the temperature method's binary case; sig == 0 and k == 1: 1.0 as
 * calib_softmax) of typed input, written as ydt (F32/F16) with row stride ldy.
 * t comes from calib__tin_init (arguments already valid).
 * calib__typed_softmax: strict -- every row validated first (float16 and
 *   bfloat16: NaN/+inf, or an all -inf row with k >= 2; k == 1 sigmoid: NaN
 *   only), CALIB_E_NONFINITE with nothing written, else CALIB_OK.
 * calib__typed_softmax_rows: row-wise -- a bad row (same rule) is written as
 *   NaN and reported in status[i] (2 = -CALIB_E_NONFINITE, 0 good; status may
 *   be NULL); returns the number of bad rows and *first = the first bad row
 *   (n if none). Good rows are bit-identical to the strict call's. */
int calib__typed_softmax(const calib__tin *t, size_t n, size_t k, float beta, int sig, void *y,
                         int ydt, size_t ldy);
size_t calib__typed_softmax_rows(const calib__tin *t, size_t n, size_t k, float beta, int sig,
                                 void *y, int ydt, size_t ldy, uint8_t *status, size_t *first);

/* ---- The typed kernel tables (kernels_typed_*.c) ------------------------------
 * One table per ISA, chosen with the float32 table (dispatch.c): the typed
 * table of the same name as calib__kernels_get()'s, so CALIB_ISA and
 * calib__kernels_force() steer both. Conversion is fused into each kernel's
 * loads (no float32 copy of the input); the scalar table converts element by
 * element with calib__tin_get and is the oracle: for every input type it is
 * bit-identical to the scalar float32 kernels on the dequantized rows
 * (expf((v - m) * beta), sum in double, times (float)(1/sum); sigmoid as
 * kernels_scalar.c's). The SIMD tables agree with a float64 reference of the
 * dequantized values to the float32 contract (calib.h: 1e-6 absolute /
 * 2e-6 relative), before the optional float16 rounding of the output. */
#include "kernels.h"

typedef struct {
  const char *name; /* as the float32 table's */
  /* CALIB_OK if rows 0..n-1 of t are good under the seam's rule (above),
   * else CALIB_E_NONFINITE. int8/uint8 rows are always good. Reads only. */
  int (*check)(const calib__tin *t, size_t n, size_t k, int sig);
  /* Softmax of beta * x (or, sig && k == 1, sigmoid) of rows 0..n-1, output
   * row i at (char *)y + i * ldy * (2 or 4 bytes), type ydt (F32/F16).
   * chk == 0: rows assumed good (strict path, after check); rs unused.
   * chk != 0: each row tested as it is read, a bad row written as NaN and
   * recorded in *rs (calib__rstat_row); good rows are bit-identical to the
   * chk == 0 results. n >= 1, k >= 1, arguments valid. */
  void (*rows)(const calib__tin *t, size_t n, size_t k, float beta, int sig, void *y, int ydt,
               size_t ldy, int chk, calib__rstat *rs);
} calib__tkernels;

/* The typed table matching the chosen float32 table; by name (NULL if not
 * built or not supported by this CPU), for tests and benchmarks. */
const calib__tkernels *calib__tkernels_get(void);
const calib__tkernels *calib__tkernels_by_name(const char *name);

extern const calib__tkernels calib__tkernels_scalar;
#if defined(CALIB_HAVE_X86_KERNELS)
extern const calib__tkernels calib__tkernels_avx2;
extern const calib__tkernels calib__tkernels_avx512;
#endif
#if defined(CALIB_HAVE_NEON_KERNELS)
extern const calib__tkernels calib__tkernels_neon;
#endif

/* The sigmoid case (sig && k == 1) of every typed table: element by element
 * as the scalar table (kernels_typed_scalar.c). Arguments as rows(). */
void calib__trows_sigmoid(const calib__tin *t, size_t n, float beta, void *y, int ydt, size_t ldy,
                          int chk, calib__rstat *rs);
