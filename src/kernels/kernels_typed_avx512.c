/* kernels_typed_avx512.c -- the AVX-512 typed kernels (typed.h): softmax of
 * float16 / bfloat16 / int8 / uint8 / float32 rows into float32 or float16,
 * the conversion fused into the loads (no float32 copy of the input).
 *
 * Conversions, 16 elements per vector (all loads unaligned and masked, so any
 * byte address and any k work; the padding of ld is never read):
 *   F16  vcvtph2ps (_mm512_cvtph_ps)             exact
 *   BF16 zero-extend to 32 bits, shift left 16   exact
 *   I8   vpmovsxbd, minus the zero point(s), vcvtdq2ps, times the scale(s):
 *   U8   vpmovzxbd, ...                          scale * (float)(q - zp) as typed.h
 * Per-class parameters are loaded as vectors beside the data.
 *
 * A row: (1) the maximum -- for int8/uint8 with one scale and zero point,
 * on the integers (64 per vpmaxsb/vpmaxub; the dequantized maximum is then
 * scale * (float)(qmax - zp), exactly the maximum of the dequantized values
 * since the rounding of a product by a positive scale is monotone), else on
 * the converted floats, NaN lanes collected when checking; (2) e_j =
 * exp(beta (v_j - m)) into an L1 staging row (k <= STAGE) and their sum;
 * (3) e_j / sum, rounded to float16 (vcvtps2ph, nearest even) when asked,
 * written to the output. Rows longer than STAGE recompute the exps in (3).
 * The arithmetic is that of the dequantize-then-float32 path (v_j - m, times
 * beta, the float32 softmax's exp, vmath.h calib__exp16_ps_lo): the zero point is not cancelled algebraically, because
 * scale*(q - qmax) differs from fl(scale*(q - zp)) - fl(scale*(qmax - zp))
 * by the dequantization roundings (up to ~3e-6 relative), which is outside
 * the float32 contract against the dequantized values.
 * k <= 16: sixteen rows at a time, transposed in registers (lane = row), as
 * the float32 kernels do; the n % 16 last rows one by one.
 * Outputs of at least PFW_BYTES are written with ordinary stores into lines
 * prefetched for writing PFW_AHEAD bytes ahead (prefetchw), as the float32
 * kernels do (kernels_avx512.c, "drivers": on this project's machines that
 * overlaps the writes with the exps, which non-temporal stores did not). */
#include "typed.h"
#include "internal.h"
#include "transpose.h"
#define PFW_HINT _MM_HINT_ET0 /* prefetchw: -mprfchw, every AVX-512 CPU has it */
#include "pfw.h"
#include "vmath.h"
#include <immintrin.h>
#include <math.h>

#define AI __attribute__((always_inline)) inline
#define STAGE 4096                     /* floats of the staging row (16 KiB) */
#define PF_BYTES 4096                  /* software prefetch distance of pass 1 */

static inline __mmask16 mask16(size_t r) {
  return r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1u);
}
static inline __mmask64 mask64(size_t r) {
  return r >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << r) - 1u);
}

typedef struct {
  __m512 sc;  /* per-tensor scale */
  __m512i zp; /* per-tensor zero point */
  const float *cs;
  const int32_t *cz;
} qpar;

/* 16 elements from column j (p = their address), lanes outside mk = 0. */
static AI __m512 cvt16(const unsigned char *p, __mmask16 mk, const int dt, const int pc,
                       const qpar *q, size_t j) {
  if (dt == CALIB_DTYPE_F32) return _mm512_maskz_loadu_ps(mk, p);
  if (dt == CALIB_DTYPE_F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk, p));
  if (dt == CALIB_DTYPE_BF16)
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mk, p)), 16));
  const __m128i b = _mm_maskz_loadu_epi8(mk, p);
  const __m512i w = dt == CALIB_DTYPE_I8 ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
  __m512i zp = q->zp;
  __m512 sc = q->sc;
  if (pc) {
    if (q->cz) zp = _mm512_maskz_loadu_epi32(mk, q->cz + j);
    if (q->cs) sc = _mm512_maskz_loadu_ps(mk, q->cs + j);
  }
  return _mm512_mul_ps(sc, _mm512_cvtepi32_ps(_mm512_sub_epi32(w, zp)));
}

/* The row maximum of the converted values; with chk, *bad = NaN present or
 * maximum +-inf. */
static AI float row_max(const unsigned char *r, size_t k, const int dt, const int pc,
                        const qpar *q, const int chk, int *bad) {
  const size_t es = dt == CALIB_DTYPE_F32 ? 4 : dt <= CALIB_DTYPE_BF16 ? 2 : 1;
  if ((dt == CALIB_DTYPE_I8 || dt == CALIB_DTYPE_U8) && !pc) {
    const int s = dt == CALIB_DTYPE_I8;
    const __m512i fill = s ? _mm512_set1_epi8(-128) : _mm512_setzero_si512();
    __m512i m0 = fill, m1 = fill;
    size_t j = 0;
    for (; j + 128 <= k; j += 128) {
      _mm_prefetch((const char *)(r + j + PF_BYTES), _MM_HINT_T0);
      _mm_prefetch((const char *)(r + j + PF_BYTES + 64), _MM_HINT_T0);
      const __m512i a = _mm512_loadu_si512(r + j), b = _mm512_loadu_si512(r + j + 64);
      m0 = s ? _mm512_max_epi8(m0, a) : _mm512_max_epu8(m0, a);
      m1 = s ? _mm512_max_epi8(m1, b) : _mm512_max_epu8(m1, b);
    }
    for (; j < k; j += 64) {
      _mm_prefetch((const char *)(r + j + PF_BYTES), _MM_HINT_T0);
      const __m512i a = _mm512_mask_loadu_epi8(fill, mask64(k - j), r + j);
      m0 = s ? _mm512_max_epi8(m0, a) : _mm512_max_epu8(m0, a);
    }
    m0 = s ? _mm512_max_epi8(m0, m1) : _mm512_max_epu8(m0, m1);
    const __m256i h0 = _mm512_castsi512_si256(m0), h1 = _mm512_extracti64x4_epi64(m0, 1);
    const __m256i h = s ? _mm256_max_epi8(h0, h1) : _mm256_max_epu8(h0, h1);
    const __m128i g0 = _mm256_castsi256_si128(h), g1 = _mm256_extracti128_si256(h, 1);
    const __m128i g = s ? _mm_max_epi8(g0, g1) : _mm_max_epu8(g0, g1);
    const int qm = _mm512_reduce_max_epi32(s ? _mm512_cvtepi8_epi32(g) : _mm512_cvtepu8_epi32(g));
    if (chk) *bad = 0;
    return _mm512_cvtss_f32(_mm512_mul_ps(
        q->sc, _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_set1_epi32(qm), q->zp))));
  }
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  __m512 m0 = ninf, m1 = ninf;
  __mmask16 nan = 0;
  size_t j = 0;
  for (; j + 32 <= k; j += 32) {
    _mm_prefetch((const char *)(r + j * es + PF_BYTES), _MM_HINT_T0);
    if (es == 4) _mm_prefetch((const char *)(r + j * es + PF_BYTES + 64), _MM_HINT_T0);
    const __m512 a = cvt16(r + j * es, 0xFFFF, dt, pc, q, j);
    const __m512 b = cvt16(r + (j + 16) * es, 0xFFFF, dt, pc, q, j + 16);
    if (chk) nan |= _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q);
    m0 = _mm512_max_ps(m0, a);
    m1 = _mm512_max_ps(m1, b);
  }
  for (; j < k; j += 16) {
    const __mmask16 mk = mask16(k - j);
    const __m512 a = _mm512_mask_mov_ps(ninf, mk, cvt16(r + j * es, mk, dt, pc, q, j));
    if (chk) nan |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
    m0 = _mm512_max_ps(m0, a);
  }
  const float m = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
  if (chk) *bad = nan != 0 || !(fabsf(m) < INFINITY);
  return m;
}

/* exp(beta (v - m)) of the 16 elements at column j, 0 outside mk. */
static AI __m512 exp16(const unsigned char *r, size_t j, __mmask16 mk, __m512 m, __m512 b,
                       const int dt, const int pc, const qpar *q) {
  const size_t es = dt == CALIB_DTYPE_F32 ? 4 : dt <= CALIB_DTYPE_BF16 ? 2 : 1;
  const __m512 v = cvt16(r + j * es, mk, dt, pc, q, j);
  const __m512 e = calib__exp16_ps_lo(_mm512_mul_ps(_mm512_sub_ps(v, m), b));
  return mk == 0xFFFF ? e : _mm512_maskz_mov_ps(mk, e);
}

/* v (16 probabilities) to the output at column j. */
static AI void put16(unsigned char *o, size_t j, __mmask16 mk, __m512 v, int ydt) {
  if (ydt == CALIB_DTYPE_F16)
    _mm256_mask_storeu_epi16(o + 2 * j, mk,
                             _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  else
    _mm512_mask_storeu_ps(o + 4 * j, mk, v);
}

static AI void row_softmax(const unsigned char *r, size_t k, __m512 b, unsigned char *o, int ydt,
                           float *stage, const int dt, const int pc, const qpar *q, const int chk,
                           int *bad) {
  const __m512 m = _mm512_set1_ps(row_max(r, k, dt, pc, q, chk, bad));
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  const size_t kv = k & ~(size_t)15;
  const __mmask16 mt = mask16(k - kv);
  const int staged = k <= STAGE;
  size_t j = 0;
  if (staged) {
    for (; j + 64 <= kv; j += 64) {
      const __m512 e0 = exp16(r, j, 0xFFFF, m, b, dt, pc, q);
      const __m512 e1 = exp16(r, j + 16, 0xFFFF, m, b, dt, pc, q);
      const __m512 e2 = exp16(r, j + 32, 0xFFFF, m, b, dt, pc, q);
      const __m512 e3 = exp16(r, j + 48, 0xFFFF, m, b, dt, pc, q);
      _mm512_storeu_ps(stage + j, e0);
      _mm512_storeu_ps(stage + j + 16, e1);
      _mm512_storeu_ps(stage + j + 32, e2);
      _mm512_storeu_ps(stage + j + 48, e3);
      s0 = _mm512_add_ps(s0, e0);
      s1 = _mm512_add_ps(s1, e1);
      s2 = _mm512_add_ps(s2, e2);
      s3 = _mm512_add_ps(s3, e3);
    }
    for (; j < kv; j += 16) {
      const __m512 e = exp16(r, j, 0xFFFF, m, b, dt, pc, q);
      _mm512_storeu_ps(stage + j, e);
      s0 = _mm512_add_ps(s0, e);
    }
    if (kv < k) {
      const __m512 e = exp16(r, kv, mt, m, b, dt, pc, q);
      _mm512_storeu_ps(stage + kv, e);
      s1 = _mm512_add_ps(s1, e);
    }
  } else {
    for (; j < kv; j += 16) s0 = _mm512_add_ps(s0, exp16(r, j, 0xFFFF, m, b, dt, pc, q));
    if (kv < k) s1 = _mm512_add_ps(s1, exp16(r, kv, mt, m, b, dt, pc, q));
  }
  const float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  const __m512 inv = _mm512_set1_ps(chk && *bad ? NAN : 1.0f / s);
  if (!staged) {
    for (j = 0; j < kv; j += 16)
      put16(o, j, 0xFFFF, _mm512_mul_ps(exp16(r, j, 0xFFFF, m, b, dt, pc, q), inv), ydt);
    if (kv < k) put16(o, kv, mt, _mm512_mul_ps(exp16(r, kv, mt, m, b, dt, pc, q), inv), ydt);
    return;
  }
  for (j = 0; j < kv; j += 16) put16(o, j, 0xFFFF, _mm512_mul_ps(_mm512_loadu_ps(stage + j), inv), ydt);
  if (kv < k) put16(o, kv, mt, _mm512_mul_ps(_mm512_loadu_ps(stage + kv), inv), ydt);
}

/* ---- k <= 16: sixteen rows at a time, transposed (lane = row) --------------
 * As kernels_avx512.c's small-k path: the 16 rows are loaded converted (-inf
 * in the lanes >= k), transposed in registers so that vector j holds column j
 * of the 16 rows, max / exp / sum / scale lane-wise (no horizontal
 * reductions), transposed back and stored masked. The softmax core is
 * independent of the input type (one instance per k); only the loads are
 * typed. */

/* 16 rows in v (row r in v[r], -inf beyond k) -> their softmax, in place.
 * With chk, returns the bad rows (NaN, or maximum +-inf): written as NaN. */
static AI unsigned soa_block(__m512 v[16], __m512 b, const int nc, const int chk) {
  calib__tr16_ps(v);
  __m512 m = v[0];
  __mmask16 bad = 0;
  if (chk) bad = _mm512_cmp_ps_mask(v[0], v[0], _CMP_UNORD_Q);
#pragma GCC unroll 16
  for (int j = 1; j < nc; j++) {
    if (chk) bad |= _mm512_cmp_ps_mask(v[j], v[j], _CMP_UNORD_Q);
    m = _mm512_max_ps(m, v[j]);
  }
  if (chk) bad |= _mm512_cmp_ps_mask(_mm512_abs_ps(m), _mm512_set1_ps(INFINITY), _CMP_EQ_OQ);
  __m512 s0 = _mm512_setzero_ps(), s1 = s0;
#pragma GCC unroll 16
  for (int j = 0; j < nc; j++) {
    v[j] = calib__exp16_ps_lo(_mm512_mul_ps(_mm512_sub_ps(v[j], m), b));
    if (j & 1) s1 = _mm512_add_ps(s1, v[j]);
    else s0 = _mm512_add_ps(s0, v[j]);
  }
  const __m512 s = _mm512_add_ps(s0, s1), r = _mm512_rcp14_ps(s);
  __m512 inv = _mm512_fmadd_ps(r, _mm512_fnmadd_ps(s, r, _mm512_set1_ps(1.0f)), r);
  if (chk) inv = _mm512_mask_mov_ps(inv, bad, _mm512_set1_ps(NAN));
#pragma GCC unroll 16
  for (int j = 0; j < nc; j++) v[j] = _mm512_mul_ps(v[j], inv);
  calib__tr16_inv_ps(v);
  return bad;
}

typedef unsigned (*soa_fn)(__m512 *v, __m512 b);
#define SOA(NC)                                                                                    \
  static unsigned soa_##NC(__m512 *v, __m512 b) { return soa_block(v, b, NC, 0); }               \
  static unsigned soac_##NC(__m512 *v, __m512 b) { return soa_block(v, b, NC, 1); }
SOA(1) SOA(2) SOA(3) SOA(4) SOA(5) SOA(6) SOA(7) SOA(8)
SOA(9) SOA(10) SOA(11) SOA(12) SOA(13) SOA(14) SOA(15) SOA(16)
static const soa_fn soa_tab[2][17] = {
    {NULL, soa_1, soa_2, soa_3, soa_4, soa_5, soa_6, soa_7, soa_8, soa_9, soa_10, soa_11, soa_12,
     soa_13, soa_14, soa_15, soa_16},
    {NULL, soac_1, soac_2, soac_3, soac_4, soac_5, soac_6, soac_7, soac_8, soac_9, soac_10,
     soac_11, soac_12, soac_13, soac_14, soac_15, soac_16}};

/* Rows i0 .. i0+15 (k <= 16) through soa; returns the bad-row mask. */
static AI unsigned block16(const calib__tin *t, size_t i0, size_t k, __m512 b, unsigned char *y,
                           size_t ldy, int ydt, const int dt, const int pc, const qpar *q,
                           const int chk) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  const __mmask16 mk = mask16(k);
  const size_t es = t->esize, ob = ydt == CALIB_DTYPE_F16 ? 2 : 4;
  __m512 v[16];
#pragma GCC unroll 16
  for (int r = 0; r < 16; r++) {
    const unsigned char *p = t->data + (i0 + (size_t)r) * t->ld * es;
    _mm_prefetch((const char *)(p + 64 * t->ld * es), _MM_HINT_T0);
    v[r] = _mm512_mask_mov_ps(ninf, mk, cvt16(p, mk, dt, pc, q, 0));
  }
  const unsigned bad = soa_tab[chk][k](v, b);
#pragma GCC unroll 16
  for (int r = 0; r < 16; r++) put16(y + (i0 + (size_t)r) * ldy * ob, 0, mk, v[r], ydt);
  return bad;
}

static AI void rows_body(const calib__tin *t, size_t n, size_t k, float beta, void *y, int ydt,
                         size_t ldy, int chk, calib__rstat *rs, const int dt, const int pc) {
  float stage[STAGE + 16]; /* + 16: the masked tail vector is stored whole */
  qpar q;
  q.sc = _mm512_set1_ps(t->scale);
  q.zp = _mm512_set1_epi32(t->zp);
  q.cs = t->col_scale;
  q.cz = t->col_zp;
  const size_t es = t->esize, ob = ydt == CALIB_DTYPE_F16 ? 2 : 4;
  const size_t rowb = ldy * ob; /* output bytes per row */
  const int pfw = (n - 1) * rowb + k * ob >= PFW_BYTES;
  const __m512 b = _mm512_set1_ps(beta);
  unsigned char *const yb = (unsigned char *)y;
  size_t i = 0;
  if (pfw) pfw_lines((uintptr_t)yb, PFW_AHEAD);
  if (k <= 16)
    for (; i + 16 <= n; i += 16) {
      if (pfw) pfw_lines((uintptr_t)(yb + i * rowb) + PFW_AHEAD, 16 * rowb);
      const unsigned bad = block16(t, i, k, b, yb, ldy, ydt, dt, pc, &q, chk);
      if (chk) calib__rstat_mask(rs, i, bad, 16);
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

/* ---- sigmoid (k == 1) of contiguous values (ld == ldy == 1), 16 at a time:
 * kernels_scalar.c's formula, t = beta v, e = exp(-|t|), 1 / (1 + e) for
 * t >= 0 and e / (1 + e) below; strided columns take the scalar rows. */
static AI void sig_body(const calib__tin *t, size_t n, float beta, unsigned char *y, int ydt,
                        int chk, calib__rstat *rs, const int dt) {
  qpar q;
  q.sc = _mm512_set1_ps(t->col_scale ? t->col_scale[0] : t->scale);
  q.zp = _mm512_set1_epi32(t->col_zp ? t->col_zp[0] : t->zp);
  q.cs = NULL;
  q.cz = NULL;
  const __m512 b = _mm512_set1_ps(beta), one = _mm512_set1_ps(1.0f);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 mk = mask16(n - i);
    const __m512 v = cvt16(t->data + i * t->esize, mk, dt, 0, &q, 0);
    const __m512 tt = _mm512_mul_ps(v, b);
    const __m512 e = calib__exp16_ps(_mm512_or_ps(tt, _mm512_set1_ps(-0.0f)));
    const __m512 d = _mm512_add_ps(one, e);
    __m512 p = _mm512_div_ps(one, d);
    p = _mm512_mask_div_ps(p, _mm512_cmp_ps_mask(tt, _mm512_setzero_ps(), _CMP_LT_OQ), e, d);
    if (chk) {
      const __mmask16 nan = _mm512_mask_cmp_ps_mask(mk, v, v, _CMP_UNORD_Q);
      p = _mm512_mask_mov_ps(p, nan, _mm512_set1_ps(NAN));
      calib__rstat_mask(rs, i, nan, n - i < 16 ? n - i : 16);
    }
    put16(y, i, mk, p, ydt);
  }
}

static void sigmoid_avx512(const calib__tin *t, size_t n, float beta, void *y, int ydt, size_t ldy,
                           int chk, calib__rstat *rs) {
  if (t->ld != 1 || ldy != 1) {
    calib__trows_sigmoid(t, n, beta, y, ydt, ldy, chk, rs);
    return;
  }
  unsigned char *o = (unsigned char *)y;
  switch (t->dtype) {
  case CALIB_DTYPE_F16: sig_body(t, n, beta, o, ydt, chk, rs, CALIB_DTYPE_F16); break;
  case CALIB_DTYPE_BF16: sig_body(t, n, beta, o, ydt, chk, rs, CALIB_DTYPE_BF16); break;
  case CALIB_DTYPE_I8: sig_body(t, n, beta, o, ydt, chk, rs, CALIB_DTYPE_I8); break;
  case CALIB_DTYPE_U8: sig_body(t, n, beta, o, ydt, chk, rs, CALIB_DTYPE_U8); break;
  default: sig_body(t, n, beta, o, ydt, chk, rs, CALIB_DTYPE_F32); break;
  }
}

static void rows_avx512(const calib__tin *t, size_t n, size_t k, float beta, int sig, void *y,
                        int ydt, size_t ldy, int chk, calib__rstat *rs) {
  if (sig && k == 1) {
    sigmoid_avx512(t, n, beta, y, ydt, ldy, chk, rs);
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

/* ---- strict validation (float types): NaN / +inf anywhere, or a row of
 * k >= 1 entries all -inf (sig && k == 1: NaN only) ---- */
static AI int check_body(const calib__tin *t, size_t n, size_t k, int sig, const int dt) {
  const __m512 pinf = _mm512_set1_ps(INFINITY), ninf = _mm512_set1_ps(-INFINITY);
  const size_t es = t->esize;
  const int nan_only = sig && k == 1;
  for (size_t i = 0; i < n; i++) {
    const unsigned char *r = t->data + i * t->ld * es;
    if (nan_only) {
      const __m512 v = cvt16(r, 1, dt, 0, NULL, 0);
      if (_mm512_mask_cmp_ps_mask(1, v, v, _CMP_UNORD_Q)) return CALIB_E_NONFINITE;
      continue;
    }
    __mmask16 bad = 0, fin = 0;
    for (size_t j = 0; j < k; j += 16) {
      const __mmask16 mk = mask16(k - j);
      const __m512 v = cvt16(r + j * es, mk, dt, 0, NULL, j);
      bad |= _mm512_mask_cmp_ps_mask(mk, v, pinf, _CMP_NLT_UQ); /* NaN or +inf */
      fin |= _mm512_mask_cmp_ps_mask(mk, v, ninf, _CMP_NEQ_OQ);
    }
    if (bad || !fin) return CALIB_E_NONFINITE;
  }
  return CALIB_OK;
}

/* float16 / bfloat16 on the bits, 32 per vector: NaN or +inf iff
 * (h & 0x7fff) >= the +inf pattern and h is not -inf; -inf iff h == ninf. */
static int check_h16(const calib__tin *t, size_t n, size_t k, uint16_t pinf) {
  const __m512i mag = _mm512_set1_epi16(0x7fff), lim = _mm512_set1_epi16((short)pinf);
  const __m512i ninf = _mm512_set1_epi16((short)(pinf | 0x8000u));
  if (t->ld == k) { /* contiguous: one flat scan; rows are looked at only if a -inf is seen */
    const size_t nk = n * k;
    const unsigned char *r = t->data;
    __mmask32 bad = 0, isn = 0;
    size_t j = 0;
    for (; j + 64 <= nk; j += 64) {
      const __m512i h0 = _mm512_loadu_si512(r + 2 * j), h1 = _mm512_loadu_si512(r + 2 * j + 64);
      const __mmask32 n0 = _mm512_cmpneq_epi16_mask(h0, ninf), n1 = _mm512_cmpneq_epi16_mask(h1, ninf);
      bad |= _mm512_mask_cmpge_epu16_mask(n0, _mm512_and_si512(h0, mag), lim) |
             _mm512_mask_cmpge_epu16_mask(n1, _mm512_and_si512(h1, mag), lim);
      isn |= (__mmask32)~n0 | (__mmask32)~n1;
    }
    for (; j < nk; j += 32) {
      const __mmask32 mk = nk - j >= 32 ? ~(__mmask32)0 : (__mmask32)((1u << (nk - j)) - 1u);
      const __m512i h = _mm512_maskz_loadu_epi16(mk, r + 2 * j);
      const __mmask32 nn = _mm512_mask_cmpneq_epi16_mask(mk, h, ninf);
      bad |= _mm512_mask_cmpge_epu16_mask(nn, _mm512_and_si512(h, mag), lim);
      isn |= mk & (__mmask32)~nn;
    }
    if (bad) return CALIB_E_NONFINITE;
    if (!isn) return CALIB_OK;
  }
  for (size_t i = 0; i < n; i++) {
    const unsigned char *r = t->data + i * t->ld * 2;
    __mmask32 bad = 0, fin = 0;
    size_t j = 0;
    for (; j + 32 <= k; j += 32) {
      const __m512i h = _mm512_loadu_si512(r + 2 * j);
      const __mmask32 nn = _mm512_cmpneq_epi16_mask(h, ninf);
      bad |= _mm512_mask_cmpge_epu16_mask(nn, _mm512_and_si512(h, mag), lim);
      fin |= nn;
    }
    if (j < k) {
      const __mmask32 mk = (__mmask32)((1u << (k - j)) - 1u);
      const __m512i h = _mm512_maskz_loadu_epi16(mk, r + 2 * j);
      const __mmask32 nn = _mm512_mask_cmpneq_epi16_mask(mk, h, ninf);
      bad |= _mm512_mask_cmpge_epu16_mask(nn, _mm512_and_si512(h, mag), lim);
      fin |= nn;
    }
    if (bad || !fin) return CALIB_E_NONFINITE;
  }
  return CALIB_OK;
}

static int check_avx512(const calib__tin *t, size_t n, size_t k, int sig) {
  const int nan_only = sig && k == 1;
  switch (t->dtype) {
  case CALIB_DTYPE_F16: return nan_only ? check_body(t, n, k, sig, CALIB_DTYPE_F16) : check_h16(t, n, k, 0x7c00);
  case CALIB_DTYPE_BF16: return nan_only ? check_body(t, n, k, sig, CALIB_DTYPE_BF16) : check_h16(t, n, k, 0x7f80);
  case CALIB_DTYPE_F32: return check_body(t, n, k, sig, CALIB_DTYPE_F32);
  default: return CALIB_OK;
  }
}

const calib__tkernels calib__tkernels_avx512 = {"avx512", check_avx512, rows_avx512};
