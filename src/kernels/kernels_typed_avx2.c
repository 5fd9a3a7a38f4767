/* kernels_typed_avx2.c -- the AVX2 (+FMA, +F16C) typed kernels (typed.h);
 * the structure of kernels_typed_avx512.c with 8 lanes:
 *   F16  vcvtph2ps (_mm256_cvtph_ps, F16C)       exact
 *   BF16 vpmovzxwd, shift left 16                exact
 *   I8   vpmovsxbd (8 bytes), minus zp, vcvtdq2ps, times scale; U8 vpmovzxbd
 * A row: the maximum (int8/uint8 with one scale and zero point: on the
 * integers, 32 per vpmaxsb/vpmaxub), exps into an L1 staging row and their
 * sum, then e / sum written as float32 or float16 (vcvtps2ph, nearest even).
 * k <= 16: eight rows at a time, transposed in registers (lane = row).
 * AVX2 has no byte-masked loads or stores: a row's last < 8 elements (and
 * their per-class parameters) go through a small local buffer (memcpy), so
 * nothing outside the row is touched. Outputs of at least PFW_BYTES are
 * written with ordinary stores into lines prefetched PFW_AHEAD bytes ahead,
 * as kernels_avx512.c's drivers explain.
 * This file also needs F16C (pragma below); dispatch.c uses the scalar typed
 * table on a CPU with AVX2 but without F16C. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("f16c")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("f16c"))), apply_to = function)
#endif
#include "typed.h"
#include "internal.h"
#include "transpose.h"
#define PFW_HINT _MM_HINT_T0 /* not prefetchw: see pfw.h */
#include "pfw.h"
#include "vmath.h"
#include <immintrin.h>
#include <math.h>

#define AI __attribute__((always_inline)) inline
#define STAGE 4096
#define PF_BYTES 4096

typedef struct {
  __m256 sc;
  __m256i zp;
  const float *cs;
  const int32_t *cz;
} qpar;

/* 8 full elements at p (column j). */
static AI __m256 cvt8(const unsigned char *p, const int dt, const int pc, const float *cs,
                      const int32_t *cz, const qpar *q) {
  if (dt == CALIB_DTYPE_F32) return _mm256_loadu_ps((const float *)(const void *)p);
  if (dt == CALIB_DTYPE_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
  if (dt == CALIB_DTYPE_BF16)
    return _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p)), 16));
  const __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)p);
  const __m256i w = dt == CALIB_DTYPE_I8 ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
  __m256i zp = q->zp;
  __m256 sc = q->sc;
  if (pc) {
    if (cz) zp = _mm256_loadu_si256((const __m256i *)(const void *)cz);
    if (cs) sc = _mm256_loadu_ps(cs);
  }
  return _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_sub_epi32(w, zp)));
}

/* cnt < 8 elements (the row's tail, column j): through local copies; lanes
 * >= cnt are `pad`. */
static AI __m256 cvt8_part(const unsigned char *p, size_t cnt, size_t j, float pad, const int dt,
                           const int pc, const qpar *q) {
  unsigned char tb[32] = {0};
  float ts[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  int32_t tz[8] = {0};
  const size_t es = dt == CALIB_DTYPE_F32 ? 4 : dt <= CALIB_DTYPE_BF16 ? 2 : 1;
  memcpy(tb, p, cnt * es);
  if (pc && q->cs) memcpy(ts, q->cs + j, cnt * sizeof(float));
  if (pc && q->cz) memcpy(tz, q->cz + j, cnt * sizeof(int32_t));
  const __m256 v = cvt8(tb, dt, pc, q->cs ? ts : NULL, q->cz ? tz : NULL, q);
  static const int32_t lanes[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  const __m256 keep = _mm256_castsi256_ps(
      _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cnt), _mm256_loadu_si256((const __m256i *)(const void *)lanes)));
  return _mm256_blendv_ps(_mm256_set1_ps(pad), v, keep);
}

/* The same, with the data loaded as 8 whole elements (the caller has checked
 * that they lie inside the input's span: the next row's or the padding's
 * bytes, never read as values since lanes >= cnt become pad). */
static AI __m256 cvt8_over(const unsigned char *p, size_t cnt, size_t j, float pad, const int dt,
                           const int pc, const qpar *q) {
  float ts[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  int32_t tz[8] = {0};
  if (pc && q->cs) memcpy(ts, q->cs + j, cnt * sizeof(float));
  if (pc && q->cz) memcpy(tz, q->cz + j, cnt * sizeof(int32_t));
  const __m256 v = cvt8(p, dt, pc, q->cs ? ts : NULL, q->cz ? tz : NULL, q);
  static const int32_t lanes[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  const __m256 keep = _mm256_castsi256_ps(
      _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cnt), _mm256_loadu_si256((const __m256i *)(const void *)lanes)));
  return _mm256_blendv_ps(_mm256_set1_ps(pad), v, keep);
}

static AI float hmax8(__m256 v) {
  __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  a = _mm_max_ps(a, _mm_movehl_ps(a, a));
  a = _mm_max_ss(a, _mm_shuffle_ps(a, a, 1));
  return _mm_cvtss_f32(a);
}
static AI float hadd8(__m256 v) {
  __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  a = _mm_add_ps(a, _mm_movehl_ps(a, a));
  a = _mm_add_ss(a, _mm_shuffle_ps(a, a, 1));
  return _mm_cvtss_f32(a);
}

static AI float row_max(const unsigned char *r, size_t k, const int dt, const int pc,
                        const qpar *q, const int chk, int *bad) {
  const size_t es = dt == CALIB_DTYPE_F32 ? 4 : dt <= CALIB_DTYPE_BF16 ? 2 : 1;
  if ((dt == CALIB_DTYPE_I8 || dt == CALIB_DTYPE_U8) && !pc) {
    const int s = dt == CALIB_DTYPE_I8;
    const __m256i fill = s ? _mm256_set1_epi8(-128) : _mm256_setzero_si256();
    __m256i m0 = fill, m1 = fill;
    size_t j = 0;
    for (; j + 64 <= k; j += 64) {
      _mm_prefetch((const char *)(r + j + PF_BYTES), _MM_HINT_T0);
      const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(r + j));
      const __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(r + j + 32));
      m0 = s ? _mm256_max_epi8(m0, a) : _mm256_max_epu8(m0, a);
      m1 = s ? _mm256_max_epi8(m1, b) : _mm256_max_epu8(m1, b);
    }
    for (; j + 32 <= k; j += 32) {
      const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(r + j));
      m0 = s ? _mm256_max_epi8(m0, a) : _mm256_max_epu8(m0, a);
    }
    if (j < k) {
      unsigned char tb[32];
      memset(tb, s ? 0x80 : 0, 32);
      memcpy(tb, r + j, k - j);
      const __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)tb);
      m1 = s ? _mm256_max_epi8(m1, a) : _mm256_max_epu8(m1, a);
    }
    m0 = s ? _mm256_max_epi8(m0, m1) : _mm256_max_epu8(m0, m1);
    const __m128i g0 = _mm256_castsi256_si128(m0), g1 = _mm256_extracti128_si256(m0, 1);
    const __m128i g = s ? _mm_max_epi8(g0, g1) : _mm_max_epu8(g0, g1);
    const __m256i lo = s ? _mm256_cvtepi8_epi32(g) : _mm256_cvtepu8_epi32(g);
    const __m256i hi = s ? _mm256_cvtepi8_epi32(_mm_srli_si128(g, 8)) : _mm256_cvtepu8_epi32(_mm_srli_si128(g, 8));
    __m256i mm = _mm256_max_epi32(lo, hi);
    __m128i h = _mm_max_epi32(_mm256_castsi256_si128(mm), _mm256_extracti128_si256(mm, 1));
    h = _mm_max_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
    h = _mm_max_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
    if (chk) *bad = 0;
    return _mm256_cvtss_f32(_mm256_mul_ps(
        q->sc, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_broadcastd_epi32(h), q->zp))));
  }
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  __m256 m0 = ninf, m1 = ninf, nan = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 16 <= k; j += 16) {
    _mm_prefetch((const char *)(r + j * es + PF_BYTES), _MM_HINT_T0);
    const __m256 a = cvt8(r + j * es, dt, pc, q->cs ? q->cs + j : NULL, q->cz ? q->cz + j : NULL, q);
    const __m256 b = cvt8(r + (j + 8) * es, dt, pc, q->cs ? q->cs + j + 8 : NULL,
                          q->cz ? q->cz + j + 8 : NULL, q);
    if (chk) nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
    m0 = _mm256_max_ps(m0, a);
    m1 = _mm256_max_ps(m1, b);
  }
  for (; j + 8 <= k; j += 8) {
    const __m256 a = cvt8(r + j * es, dt, pc, q->cs ? q->cs + j : NULL, q->cz ? q->cz + j : NULL, q);
    if (chk) nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
    m0 = _mm256_max_ps(m0, a);
  }
  if (j < k) {
    const __m256 a = cvt8_part(r + j * es, k - j, j, -INFINITY, dt, pc, q);
    if (chk) nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
    m1 = _mm256_max_ps(m1, a);
  }
  const float m = hmax8(_mm256_max_ps(m0, m1));
  if (chk) *bad = _mm256_movemask_ps(nan) != 0 || !(fabsf(m) < INFINITY);
  return m;
}

/* exp(beta (v - m)) of 8 elements at column j (full) or of the cnt < 8 tail
 * (0 in the lanes >= cnt). */
static AI __m256 exp8(const unsigned char *r, size_t j, __m256 m, __m256 b, const int dt,
                      const int pc, const qpar *q) {
  const size_t es = dt == CALIB_DTYPE_F32 ? 4 : dt <= CALIB_DTYPE_BF16 ? 2 : 1;
  const __m256 v = cvt8(r + j * es, dt, pc, q->cs ? q->cs + j : NULL, q->cz ? q->cz + j : NULL, q);
  return calib__exp8_ps(_mm256_mul_ps(_mm256_sub_ps(v, m), b));
}
static AI __m256 exp8_part(const unsigned char *r, size_t j, size_t cnt, __m256 m, __m256 b,
                           const int dt, const int pc, const qpar *q) {
  const size_t es = dt == CALIB_DTYPE_F32 ? 4 : dt <= CALIB_DTYPE_BF16 ? 2 : 1;
  const __m256 v = cvt8_part(r + j * es, cnt, j, -INFINITY, dt, pc, q);
  return calib__exp8_ps(_mm256_mul_ps(_mm256_sub_ps(v, m), b)); /* -inf lanes: exp = 0 */
}

static AI void put8(unsigned char *o, size_t j, size_t cnt, __m256 v, int ydt) {
  if (ydt == CALIB_DTYPE_F16) {
    const __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    if (cnt == 8) {
      _mm_storeu_si128((__m128i *)(void *)(o + 2 * j), h);
    } else {
      unsigned char tb[16];
      _mm_storeu_si128((__m128i *)(void *)tb, h);
      memcpy(o + 2 * j, tb, 2 * cnt);
    }
  } else if (cnt == 8) {
    _mm256_storeu_ps((float *)(void *)(o + 4 * j), v);
  } else {
    float tb[8];
    _mm256_storeu_ps(tb, v);
    memcpy(o + 4 * j, tb, 4 * cnt);
  }
}

static AI void row_softmax(const unsigned char *r, size_t k, __m256 b, unsigned char *o, int ydt,
                           float *stage, const int dt, const int pc, const qpar *q, const int chk,
                           int *bad) {
  const __m256 m = _mm256_set1_ps(row_max(r, k, dt, pc, q, chk, bad));
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  const size_t kv = k & ~(size_t)7;
  const int staged = k <= STAGE;
  size_t j = 0;
  if (staged) {
    for (; j + 32 <= kv; j += 32) {
      const __m256 e0 = exp8(r, j, m, b, dt, pc, q), e1 = exp8(r, j + 8, m, b, dt, pc, q);
      const __m256 e2 = exp8(r, j + 16, m, b, dt, pc, q), e3 = exp8(r, j + 24, m, b, dt, pc, q);
      _mm256_storeu_ps(stage + j, e0);
      _mm256_storeu_ps(stage + j + 8, e1);
      _mm256_storeu_ps(stage + j + 16, e2);
      _mm256_storeu_ps(stage + j + 24, e3);
      s0 = _mm256_add_ps(s0, e0);
      s1 = _mm256_add_ps(s1, e1);
      s2 = _mm256_add_ps(s2, e2);
      s3 = _mm256_add_ps(s3, e3);
    }
    for (; j < kv; j += 8) {
      const __m256 e = exp8(r, j, m, b, dt, pc, q);
      _mm256_storeu_ps(stage + j, e);
      s0 = _mm256_add_ps(s0, e);
    }
    if (kv < k) {
      const __m256 e = exp8_part(r, kv, k - kv, m, b, dt, pc, q);
      _mm256_storeu_ps(stage + kv, e);
      s1 = _mm256_add_ps(s1, e);
    }
  } else {
    for (; j < kv; j += 8) s0 = _mm256_add_ps(s0, exp8(r, j, m, b, dt, pc, q));
    if (kv < k) s1 = _mm256_add_ps(s1, exp8_part(r, kv, k - kv, m, b, dt, pc, q));
  }
  const float s = hadd8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  const __m256 inv = _mm256_set1_ps(chk && *bad ? NAN : 1.0f / s);
  if (!staged) {
    for (j = 0; j < kv; j += 8) put8(o, j, 8, _mm256_mul_ps(exp8(r, j, m, b, dt, pc, q), inv), ydt);
    if (kv < k) put8(o, kv, k - kv, _mm256_mul_ps(exp8_part(r, kv, k - kv, m, b, dt, pc, q), inv), ydt);
    return;
  }
  for (j = 0; j < kv; j += 8) put8(o, j, 8, _mm256_mul_ps(_mm256_loadu_ps(stage + j), inv), ydt);
  if (kv < k) put8(o, kv, k - kv, _mm256_mul_ps(_mm256_loadu_ps(stage + kv), inv), ydt);
}

/* ---- k <= 16: eight rows at a time, transposed (lane = row) ----------------
 * As kernels_avx2.c's small-k path: the 8 rows loaded converted (-inf beyond
 * k), 8x8 transposes so that vector j holds column j, max / exp / sum / scale
 * lane-wise, transposed back, stored. One softmax instance per k (the core is
 * type-independent), typed loads. */

/* 8 rows (v[r], v[8 + r]: columns 0-7 and 8-15 of row r) -> their softmax.
 * With chk, returns the bad rows (NaN, or maximum +-inf): written as NaN. */
static AI int soa_block(__m256 *v, __m256 b, const int nc, const int chk) {
  calib__tr8_ps(v);
  if (nc > 8) calib__tr8_ps(v + 8);
  __m256 m = v[0], bad = _mm256_setzero_ps();
  if (chk) bad = _mm256_cmp_ps(v[0], v[0], _CMP_UNORD_Q);
#pragma GCC unroll 16
  for (int j = 1; j < nc; j++) {
    if (chk) bad = _mm256_or_ps(bad, _mm256_cmp_ps(v[j], v[j], _CMP_UNORD_Q));
    m = _mm256_max_ps(m, v[j]);
  }
  if (chk)
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), m),
                                          _mm256_set1_ps(INFINITY), _CMP_EQ_OQ));
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
#pragma GCC unroll 16
  for (int j = 0; j < nc; j++) {
    v[j] = calib__exp8_ps(_mm256_mul_ps(_mm256_sub_ps(v[j], m), b));
    if (j & 1) s1 = _mm256_add_ps(s1, v[j]);
    else s0 = _mm256_add_ps(s0, v[j]);
  }
  __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(s0, s1));
  if (chk) inv = _mm256_blendv_ps(inv, _mm256_set1_ps(NAN), bad);
#pragma GCC unroll 16
  for (int j = 0; j < nc; j++) v[j] = _mm256_mul_ps(v[j], inv);
  calib__tr8_ps(v);
  if (nc > 8) calib__tr8_ps(v + 8);
  return chk ? _mm256_movemask_ps(bad) : 0;
}

typedef int (*soa_fn)(__m256 *v, __m256 b);
#define SOA(NC)                                                                                    \
  static int soa_##NC(__m256 *v, __m256 b) { return soa_block(v, b, NC, 0); }                    \
  static int soac_##NC(__m256 *v, __m256 b) { return soa_block(v, b, NC, 1); }
SOA(1) SOA(2) SOA(3) SOA(4) SOA(5) SOA(6) SOA(7) SOA(8)
SOA(9) SOA(10) SOA(11) SOA(12) SOA(13) SOA(14) SOA(15) SOA(16)
static const soa_fn soa_tab[2][17] = {
    {NULL, soa_1, soa_2, soa_3, soa_4, soa_5, soa_6, soa_7, soa_8, soa_9, soa_10, soa_11, soa_12,
     soa_13, soa_14, soa_15, soa_16},
    {NULL, soac_1, soac_2, soac_3, soac_4, soac_5, soac_6, soac_7, soac_8, soac_9, soac_10,
     soac_11, soac_12, soac_13, soac_14, soac_15, soac_16}};

/* Rows i0 .. i0+7 (k <= 16); returns the bad-row mask. */
static AI int block8(const calib__tin *t, size_t n, size_t i0, size_t k, __m256 b, unsigned char *y,
                     size_t ldy, int ydt, const int dt, const int pc, const qpar *q, const int chk) {
  const size_t es = t->esize, ob = ydt == CALIB_DTYPE_F16 ? 2 : 4;
  const size_t k0 = k < 8 ? k : 8, k1 = k - k0;
  /* whole 8-element loads of a short last chunk stay inside the input's span
   * (elements 0 .. (n-1) ld + k - 1) when the block's last row + 8 or 16 does */
  const int over = (i0 + 7) * t->ld + (k1 ? 16 : 8) <= (n - 1) * t->ld + k;
  __m256 v[16];
#pragma GCC unroll 8
  for (int r = 0; r < 8; r++) {
    const unsigned char *p = t->data + (i0 + (size_t)r) * t->ld * es;
    _mm_prefetch((const char *)(p + 64 * t->ld * es), _MM_HINT_T0);
    v[r] = k0 == 8 ? cvt8(p, dt, pc, q->cs, q->cz, q)
           : over  ? cvt8_over(p, k0, 0, -INFINITY, dt, pc, q)
                   : cvt8_part(p, k0, 0, -INFINITY, dt, pc, q);
    if (k1)
      v[8 + r] = k1 == 8 ? cvt8(p + 8 * es, dt, pc, q->cs ? q->cs + 8 : NULL, q->cz ? q->cz + 8 : NULL, q)
                 : over  ? cvt8_over(p + 8 * es, k1, 8, -INFINITY, dt, pc, q)
                         : cvt8_part(p + 8 * es, k1, 8, -INFINITY, dt, pc, q);
  }
  const int bad = soa_tab[chk][k](v, b);
#pragma GCC unroll 8
  for (int r = 0; r < 8; r++) {
    unsigned char *o = y + (i0 + (size_t)r) * ldy * ob;
    put8(o, 0, k0, v[r], ydt);
    if (k1) put8(o, 8, k1, v[8 + r], ydt);
  }
  return bad;
}

static AI void rows_body(const calib__tin *t, size_t n, size_t k, float beta, void *y, int ydt,
                         size_t ldy, int chk, calib__rstat *rs, const int dt, const int pc) {
  float stage[STAGE + 8];
  qpar q;
  q.sc = _mm256_set1_ps(t->scale);
  q.zp = _mm256_set1_epi32(t->zp);
  q.cs = pc ? t->col_scale : NULL;
  q.cz = pc ? t->col_zp : NULL;
  const size_t es = t->esize, ob = ydt == CALIB_DTYPE_F16 ? 2 : 4;
  const size_t rowb = ldy * ob; /* output bytes per row */
  const int pfw = (n - 1) * rowb + k * ob >= PFW_BYTES;
  const __m256 b = _mm256_set1_ps(beta);
  unsigned char *const yb = (unsigned char *)y;
  size_t i = 0;
  if (pfw) pfw_lines((uintptr_t)yb, PFW_AHEAD);
  if (k <= 16)
    for (; i + 8 <= n; i += 8) {
      if (pfw) pfw_lines((uintptr_t)(yb + i * rowb) + PFW_AHEAD, 8 * rowb);
      const int bad = block8(t, n, i, k, b, yb, ldy, ydt, dt, pc, &q, chk);
      if (chk) calib__rstat_mask(rs, i, (uint32_t)bad, 8);
    }
  for (; i < n; i++) {
    int bad = 0;
    if (pfw) pfw_lines((uintptr_t)(yb + i * rowb) + PFW_AHEAD, k * ob);
    row_softmax(t->data + i * t->ld * es, k, b, yb + i * rowb, ydt, stage, dt, pc, &q, chk, &bad);
    if (chk) calib__rstat_row(rs, i, bad);
  }
}

#define TROWS(NAME, DT, PC)                                                                        \
  static void NAME(const calib__tin *t, size_t n, size_t k, float beta, void *y, int ydt,          \
                   size_t ldy, int chk, calib__rstat *rs) {                                        \
    if (chk)                                                                                       \
      rows_body(t, n, k, beta, y, ydt, ldy, 1, rs, DT, PC);                                        \
    else                                                                                           \
      rows_body(t, n, k, beta, y, ydt, ldy, 0, rs, DT, PC);                                        \
  }
TROWS(rows_f32, CALIB_DTYPE_F32, 0)
TROWS(rows_f16, CALIB_DTYPE_F16, 0)
TROWS(rows_bf16, CALIB_DTYPE_BF16, 0)
TROWS(rows_i8, CALIB_DTYPE_I8, 0)
TROWS(rows_u8, CALIB_DTYPE_U8, 0)
TROWS(rows_i8c, CALIB_DTYPE_I8, 1)
TROWS(rows_u8c, CALIB_DTYPE_U8, 1)

static void rows_avx2(const calib__tin *t, size_t n, size_t k, float beta, int sig, void *y,
                      int ydt, size_t ldy, int chk, calib__rstat *rs) {
  if (sig && k == 1) {
    calib__trows_sigmoid(t, n, beta, y, ydt, ldy, chk, rs);
    return;
  }
  const int pc = t->col_scale || t->col_zp;
  switch (t->dtype) {
  case CALIB_DTYPE_F16: rows_f16(t, n, k, beta, y, ydt, ldy, chk, rs); break;
  case CALIB_DTYPE_BF16: rows_bf16(t, n, k, beta, y, ydt, ldy, chk, rs); break;
  case CALIB_DTYPE_I8: (pc ? rows_i8c : rows_i8)(t, n, k, beta, y, ydt, ldy, chk, rs); break;
  case CALIB_DTYPE_U8: (pc ? rows_u8c : rows_u8)(t, n, k, beta, y, ydt, ldy, chk, rs); break;
  default: rows_f32(t, n, k, beta, y, ydt, ldy, chk, rs); break;
  }
}

static AI int check_body(const calib__tin *t, size_t n, size_t k, int sig, const int dt) {
  const __m256 pinf = _mm256_set1_ps(INFINITY), ninf = _mm256_set1_ps(-INFINITY);
  const size_t es = t->esize, kv = k & ~(size_t)7;
  qpar q;
  memset(&q, 0, sizeof q);
  for (size_t i = 0; i < n; i++) {
    const unsigned char *r = t->data + i * t->ld * es;
    if (sig && k == 1) {
      const __m256 v = cvt8_part(r, 1, 0, 0.0f, dt, 0, &q);
      if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q))) return CALIB_E_NONFINITE;
      continue;
    }
    __m256 bad = _mm256_setzero_ps(), fin = bad;
    for (size_t j = 0; j < kv; j += 8) {
      const __m256 v = cvt8(r + j * es, dt, 0, NULL, NULL, &q);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, pinf, _CMP_NLT_UQ)); /* NaN or +inf */
      fin = _mm256_or_ps(fin, _mm256_cmp_ps(v, ninf, _CMP_NEQ_OQ));
    }
    if (kv < k) { /* pad -inf: neither bad nor finite */
      const __m256 v = cvt8_part(r + kv * es, k - kv, kv, -INFINITY, dt, 0, &q);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, pinf, _CMP_NLT_UQ));
      fin = _mm256_or_ps(fin, _mm256_cmp_ps(v, ninf, _CMP_NEQ_OQ));
    }
    if (_mm256_movemask_ps(bad) || !_mm256_movemask_ps(fin)) return CALIB_E_NONFINITE;
  }
  return CALIB_OK;
}

/* float16 / bfloat16 on the bits, 16 per vector: NaN or +inf iff
 * (h & 0x7fff) >= the +inf pattern and h is not -inf; -inf iff h == ninf. */
static int check_h16(const calib__tin *t, size_t n, size_t k, uint16_t pinf) {
  const __m256i mag = _mm256_set1_epi16(0x7fff), lim = _mm256_set1_epi16((short)(pinf - 1u));
  const uint16_t ni = (uint16_t)(pinf | 0x8000u);
  const __m256i ninf = _mm256_set1_epi16((short)ni);
  if (t->ld == k && n * k >= 16) { /* contiguous: one flat scan; rows only if a -inf is seen */
    const size_t nk = n * k;
    const unsigned char *r = t->data;
    __m256i bad = _mm256_setzero_si256(), isn = bad;
    size_t j = 0;
    for (; j + 16 <= nk; j += 16) {
      const __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(r + 2 * j));
      const __m256i eq = _mm256_cmpeq_epi16(h, ninf);
      bad = _mm256_or_si256(bad, _mm256_andnot_si256(eq, _mm256_cmpgt_epi16(_mm256_and_si256(h, mag), lim)));
      isn = _mm256_or_si256(isn, eq);
    }
    if (j < nk) { /* the last 16 elements again (overlapping: nk >= 16) */
      const __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(r + 2 * (nk - 16)));
      const __m256i eq = _mm256_cmpeq_epi16(h, ninf);
      bad = _mm256_or_si256(bad, _mm256_andnot_si256(eq, _mm256_cmpgt_epi16(_mm256_and_si256(h, mag), lim)));
      isn = _mm256_or_si256(isn, eq);
    }
    if (!_mm256_testz_si256(bad, bad)) return CALIB_E_NONFINITE;
    if (_mm256_testz_si256(isn, isn)) return CALIB_OK;
  }
  for (size_t i = 0; i < n; i++) {
    const unsigned char *r = t->data + i * t->ld * 2;
    __m256i bad = _mm256_setzero_si256(), isninf = _mm256_set1_epi16(-1);
    for (size_t j = 0; j < k; j += 16) {
      __m256i h;
      if (j + 16 <= k) {
        h = _mm256_loadu_si256((const __m256i *)(const void *)(r + 2 * j));
      } else { /* pad with -inf: neither bad nor finite */
        uint16_t tb[16];
        for (int q = 0; q < 16; q++) tb[q] = ni;
        memcpy(tb, r + 2 * j, 2 * (k - j));
        h = _mm256_loadu_si256((const __m256i *)(const void *)tb);
      }
      const __m256i eq = _mm256_cmpeq_epi16(h, ninf);
      bad = _mm256_or_si256(bad, _mm256_andnot_si256(eq, _mm256_cmpgt_epi16(_mm256_and_si256(h, mag), lim)));
      isninf = _mm256_and_si256(isninf, eq);
    }
    if (!_mm256_testz_si256(bad, bad) || _mm256_movemask_epi8(isninf) == -1) return CALIB_E_NONFINITE;
  }
  return CALIB_OK;
}

static int check_avx2(const calib__tin *t, size_t n, size_t k, int sig) {
  const int nan_only = sig && k == 1;
  switch (t->dtype) {
  case CALIB_DTYPE_F16: return nan_only ? check_body(t, n, k, sig, CALIB_DTYPE_F16) : check_h16(t, n, k, 0x7c00);
  case CALIB_DTYPE_BF16: return nan_only ? check_body(t, n, k, sig, CALIB_DTYPE_BF16) : check_h16(t, n, k, 0x7f80);
  case CALIB_DTYPE_F32: return check_body(t, n, k, sig, CALIB_DTYPE_F32);
  default: return CALIB_OK;
  }
}

const calib__tkernels calib__tkernels_avx2 = {"avx2", check_avx2, rows_avx2};

#if defined(__clang__)
#pragma clang attribute pop
#endif
