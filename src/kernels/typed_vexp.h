/* typed_vexp.h -- the float exp of the SIMD softmax kernels, for the typed
 * kernels (kernels_typed_*.c): the same polynomial and reduction as
 * kernels_avx512.c / kernels_avx2.c / kernels_neon.c's static exp_ps (copied,
 * since those are static to their files; to be merged with the shared
 * vectorised-exp header of issue 12 part 5). One section per ISA, selected
 * by the compiler's target macros (each file is compiled with its ISA flags).
 * Domain: x <= 0 or -inf (callers pass beta * (x - max)); about 1 ulp;
 * inputs <= -120 give +0. */
#ifndef CALIB_TYPED_VEXP_H
#define CALIB_TYPED_VEXP_H

#if defined(__GNUC__)
#define CALIB_TV_INLINE __attribute__((always_inline)) inline
#else
#define CALIB_TV_INLINE inline
#endif

#if defined(__AVX512F__)
#include <immintrin.h>
static CALIB_TV_INLINE __m512 calib__tv_exp16(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-120.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(0x1.6ab926p-10f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.126d64p-7f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.55589cp-5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.55540ap-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0x1.fffffap-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
static CALIB_TV_INLINE __m256 calib__tv_exp8(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-120.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(0x1.6ab926p-10f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.126d64p-7f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.55589cp-5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.55540ap-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0x1.fffffap-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}
#endif

#if defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
static inline float32x4_t calib__tv_exp4(float32x4_t x) {
  x = vmaxq_f32(x, vdupq_n_f32(-120.0f));
  x = vminq_f32(x, vdupq_n_f32(88.72f));
  const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  p = vfmaq_f32(r, p, vmulq_f32(r, r));
  p = vaddq_f32(p, vdupq_n_f32(1.0f));
  const int32x4_t ni = vcvtq_s32_f32(n);
  const int32x4_t n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
  const int32x4_t bias = vdupq_n_s32(127);
  const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
  const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
  return vmulq_f32(vmulq_f32(p, s1), s2);
}
#endif

#endif /* CALIB_TYPED_VEXP_H */
