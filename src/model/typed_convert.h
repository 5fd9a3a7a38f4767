/* typed_convert.h -- the branch-free float16 -> float32 conversion of the
 * typed apply's block converter (apply_typed.c), in a header so that
 * test/test_apply_typed.c can check it on all 65536 bit patterns. */
#ifndef CALIB_TYPED_CONVERT_H
#define CALIB_TYPED_CONVERT_H

#include <stdint.h>
#include <string.h>

/* binary16 bits -> float32 without branches on the value (vectorisable):
 * exact for every finite value, zero, subnormal and infinity; a NaN stays a
 * NaN (a bad row either way). The normal/inf/NaN case rebiases the exponent
 * by a multiply by 2^-112; a subnormal m * 2^-24 is (0.5 + m * 2^-24) - 0.5,
 * both exact (M. Maratos, FP16). */
static inline float calib__f16_fast(uint16_t h) {
  const uint32_t w = (uint32_t)h << 16, sign = w & 0x80000000u, two_w = w + w;
  uint32_t nb = (two_w >> 4) + (0xE0u << 23), db = (two_w >> 17) | (126u << 23), r;
  float nv, dv;
  memcpy(&nv, &nb, 4);
  memcpy(&dv, &db, 4);
  nv *= 0x1.0p-112f;
  dv -= 0.5f;
  memcpy(&nb, &nv, 4);
  memcpy(&db, &dv, 4);
  r = sign | (two_w < (1u << 27) ? db : nb);
  memcpy(&nv, &r, 4);
  return nv;
}

/* float32 -> binary16 bits, round to nearest even, without branches on the
 * value (vectorisable): the float adder does the rounding. The value scaled
 * by 2^112 * 2^-110 (overflow to inf, and the rounding of the subnormal
 * range, happen in those multiplies) is added to 2^(e + 1 - 11) (e: the
 * value's exponent, at least -14), which leaves exactly 10 fraction bits
 * above the rounding point; the sum's exponent and top mantissa bits are the
 * binary16 encoding. NaN gives the quiet NaN 0x7e00 with the sign. Needs
 * round-to-nearest and no flush-to-zero (the C default). M. Maratos, FP16. */
static inline uint16_t calib__f32_to_f16_fast(float f) {
  uint32_t w, bias, bits;
  memcpy(&w, &f, 4);
  const uint32_t shl1_w = w + w, sign = w & 0x80000000u, a = w & 0x7fffffffu;
  float base, b2;
  memcpy(&base, &a, 4); /* |f| */
  base = (base * 0x1.0p+112f) * 0x1.0p-110f;
  bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  bits = (bias >> 1) + 0x07800000u;
  memcpy(&b2, &bits, 4);
  base = b2 + base;
  memcpy(&bits, &base, 4);
  const uint32_t nonsign = ((bits >> 13) & 0x7C00u) + (bits & 0x0FFFu);
  return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

#endif /* CALIB_TYPED_CONVERT_H */
