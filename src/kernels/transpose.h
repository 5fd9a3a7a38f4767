/* transpose.h -- the in-register transposes of the small-k softmax kernels
 * (rows of a block loaded into vectors, transposed so that vector c holds
 * column c, processed lane-wise, transposed back), shared by the float32
 * kernels (kernels_avx2.c, kernels_avx512.c) and the typed ones
 * (kernels_typed_avx2.c, kernels_typed_avx512.c). Header-only and
 * always_inline, like vmath.h (a plain static inline stopped being inlined in
 * the kernels once both modes were instantiated); each section is compiled
 * only in a unit with that instruction set. */
#ifndef CALIB_KERNELS_TRANSPOSE_H
#define CALIB_KERNELS_TRANSPOSE_H

#if defined(__GNUC__) || defined(__clang__)
#define CALIB__TR_INLINE static inline __attribute__((always_inline))
#else
#define CALIB__TR_INLINE static inline
#endif

#if defined(__AVX2__)
#include <immintrin.h>
/* 8x8 transpose of v[0..7] in place: an involution. */
CALIB__TR_INLINE void calib__tr8_ps(__m256 *v) {
  const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
  const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
  const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
  const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  v[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  v[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  v[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  v[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  v[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  v[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  v[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  v[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}
#endif /* AVX2 */

#if defined(__AVX512F__)
#include <immintrin.h>
/* 4x4 transposes inside each 128-bit lane: an involution. */
CALIB__TR_INLINE void calib__tr4x4_ps(__m512 *a, __m512 *b, __m512 *c, __m512 *d) {
  const __m512 t0 = _mm512_unpacklo_ps(*a, *b), t1 = _mm512_unpackhi_ps(*a, *b);
  const __m512 t2 = _mm512_unpacklo_ps(*c, *d), t3 = _mm512_unpackhi_ps(*c, *d);
  *a = _mm512_shuffle_ps(t0, t2, 0x44);
  *b = _mm512_shuffle_ps(t0, t2, 0xEE);
  *c = _mm512_shuffle_ps(t1, t3, 0x44);
  *d = _mm512_shuffle_ps(t1, t3, 0xEE);
}
/* 4x4 transpose of 128-bit blocks across four vectors: an involution. */
CALIB__TR_INLINE void calib__blk4x4_ps(__m512 *a, __m512 *b, __m512 *c, __m512 *d) {
  const __m512 v0 = _mm512_shuffle_f32x4(*a, *b, 0x44), v1 = _mm512_shuffle_f32x4(*a, *b, 0xEE);
  const __m512 v2 = _mm512_shuffle_f32x4(*c, *d, 0x44), v3 = _mm512_shuffle_f32x4(*c, *d, 0xEE);
  *a = _mm512_shuffle_f32x4(v0, v2, 0x88);
  *b = _mm512_shuffle_f32x4(v0, v2, 0xDD);
  *c = _mm512_shuffle_f32x4(v1, v3, 0x88);
  *d = _mm512_shuffle_f32x4(v1, v3, 0xDD);
}
/* 16x16: rows <-> columns; calib__tr16_inv_ps undoes it. */
CALIB__TR_INLINE void calib__tr16_ps(__m512 v[16]) {
#pragma GCC unroll 4
  for (int g = 0; g < 16; g += 4) calib__tr4x4_ps(&v[g], &v[g + 1], &v[g + 2], &v[g + 3]);
#pragma GCC unroll 4
  for (int q = 0; q < 4; q++) calib__blk4x4_ps(&v[q], &v[q + 4], &v[q + 8], &v[q + 12]);
}
CALIB__TR_INLINE void calib__tr16_inv_ps(__m512 v[16]) {
#pragma GCC unroll 4
  for (int q = 0; q < 4; q++) calib__blk4x4_ps(&v[q], &v[q + 4], &v[q + 8], &v[q + 12]);
#pragma GCC unroll 4
  for (int g = 0; g < 16; g += 4) calib__tr4x4_ps(&v[g], &v[g + 1], &v[g + 2], &v[g + 3]);
}
#endif /* AVX-512 */

#endif /* CALIB_KERNELS_TRANSPOSE_H */
