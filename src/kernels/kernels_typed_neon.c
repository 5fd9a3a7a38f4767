/* kernels_typed_neon.c -- the NEON (AArch64) typed kernels (typed.h), the
 * structure of kernels_typed_avx512.c with 8 elements per step (two float32x4):
 *   F16  fcvtl (vcvt_f32_f16)                   exact
 *   BF16 shll #16 (vshll_n_u16)                 exact
 *   I8   sxtl, sxtl (vmovl_s8, vmovl_s16), minus zp, scvtf, times scale
 *   U8   uxtl, uxtl, ...                        scale * (float)(q - zp) as typed.h
 * A row: its maximum (int8/uint8 with one scale and zero point: on the
 * integers, 16 per smax/umax), exps into a staging row (k <= STAGE; longer
 * rows recompute them) and their sum, e / sum written as float32 or float16
 * (fcvtn: round to nearest even under the default FPCR). Every access goes
 * through byte loads and stores (vld1q_u8 / vst1q_u8 and memcpy for a row's
 * last < 8 elements), so any byte address works and nothing outside the
 * rows is touched. Part of the aarch64 firmware core: no heap, a 4 KiB
 * staging row on the stack. */
#include "typed.h"
#include "internal.h"
#include "vmath.h"
#include <arm_neon.h>
#include <math.h>

#define STAGE 1024

typedef struct {
  float32x4_t sc;
  int32x4_t zp;
  const float *cs;
  const int32_t *cz;
} qpar;

typedef struct {
  float32x4_t a, b;
} f8;

static inline size_t esz(int dt) {
  return dt == CALIB_DTYPE_F32 ? 4 : dt <= CALIB_DTYPE_BF16 ? 2 : 1;
}

/* 8 elements at p, column j (cs / cz: the 8 per-class parameters, or NULL). */
static inline f8 cvt8(const unsigned char *p, int dt, const float *cs, const int32_t *cz,
                      const qpar *q) {
  f8 r;
  switch (dt) {
  case CALIB_DTYPE_F32:
    r.a = vreinterpretq_f32_u8(vld1q_u8(p));
    r.b = vreinterpretq_f32_u8(vld1q_u8(p + 16));
    return r;
  case CALIB_DTYPE_F16: {
    const uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(p));
    r.a = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));
    r.b = vcvt_high_f32_f16(vreinterpretq_f16_u16(h));
    return r;
  }
  case CALIB_DTYPE_BF16: {
    const uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(p));
    r.a = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
    r.b = vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16));
    return r;
  }
  default: {
    int32x4_t lo, hi;
    if (dt == CALIB_DTYPE_I8) {
      const int16x8_t w = vmovl_s8(vreinterpret_s8_u8(vld1_u8(p)));
      lo = vmovl_s16(vget_low_s16(w));
      hi = vmovl_s16(vget_high_s16(w));
    } else {
      const uint16x8_t w = vmovl_u8(vld1_u8(p));
      lo = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(w)));
      hi = vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(w)));
    }
    const int32x4_t z0 = cz ? vld1q_s32(cz) : q->zp, z1 = cz ? vld1q_s32(cz + 4) : q->zp;
    const float32x4_t s0 = cs ? vld1q_f32(cs) : q->sc, s1 = cs ? vld1q_f32(cs + 4) : q->sc;
    r.a = vmulq_f32(s0, vcvtq_f32_s32(vsubq_s32(lo, z0)));
    r.b = vmulq_f32(s1, vcvtq_f32_s32(vsubq_s32(hi, z1)));
    return r;
  }
  }
}

static inline f8 cvt8_at(const unsigned char *r, size_t j, int dt, const qpar *q) {
  return cvt8(r + j * esz(dt), dt, q->cs ? q->cs + j : NULL, q->cz ? q->cz + j : NULL, q);
}

/* The cnt < 8 last elements (column j) through local copies; lanes >= cnt = pad. */
static inline f8 cvt8_part(const unsigned char *r, size_t j, size_t cnt, float pad, int dt,
                           const qpar *q) {
  unsigned char tb[32] = {0};
  float ts[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  int32_t tz[8] = {0};
  memcpy(tb, r + j * esz(dt), cnt * esz(dt));
  if (q->cs) memcpy(ts, q->cs + j, cnt * sizeof(float));
  if (q->cz) memcpy(tz, q->cz + j, cnt * sizeof(int32_t));
  f8 v = cvt8(tb, dt, q->cs ? ts : NULL, q->cz ? tz : NULL, q);
  float o[8];
  vst1q_f32(o, v.a);
  vst1q_f32(o + 4, v.b);
  for (size_t l = cnt; l < 8; l++) o[l] = pad;
  v.a = vld1q_f32(o);
  v.b = vld1q_f32(o + 4);
  return v;
}

static inline uint32x4_t isnan4(float32x4_t v) { return vmvnq_u32(vceqq_f32(v, v)); }

static float row_max(const unsigned char *r, size_t k, int dt, const qpar *q, int chk, int *bad) {
  if ((dt == CALIB_DTYPE_I8 || dt == CALIB_DTYPE_U8) && !q->cs && !q->cz) {
    int qm;
    size_t j = 0;
    if (dt == CALIB_DTYPE_I8) {
      int8x16_t m = vdupq_n_s8(-128);
      for (; j + 16 <= k; j += 16) m = vmaxq_s8(m, vreinterpretq_s8_u8(vld1q_u8(r + j)));
      qm = vmaxvq_s8(m);
      for (; j < k; j++) qm = (int)(signed char)r[j] > qm ? (int)(signed char)r[j] : qm;
    } else {
      uint8x16_t m = vdupq_n_u8(0);
      for (; j + 16 <= k; j += 16) m = vmaxq_u8(m, vld1q_u8(r + j));
      qm = vmaxvq_u8(m);
      for (; j < k; j++) qm = (int)r[j] > qm ? (int)r[j] : qm;
    }
    if (chk) *bad = 0;
    /* as the vector conversion: scale * (float)(q - zp) */
    return vgetq_lane_f32(vmulq_f32(q->sc, vcvtq_f32_s32(vsubq_s32(vdupq_n_s32(qm), q->zp))), 0);
  }
  float32x4_t m0 = vdupq_n_f32(-INFINITY), m1 = m0;
  uint32x4_t nan = vdupq_n_u32(0);
  size_t j = 0;
  for (; j + 8 <= k; j += 8) {
    const f8 v = cvt8_at(r, j, dt, q);
    if (chk) nan = vorrq_u32(nan, vorrq_u32(isnan4(v.a), isnan4(v.b)));
    m0 = vmaxnmq_f32(m0, v.a);
    m1 = vmaxnmq_f32(m1, v.b);
  }
  if (j < k) {
    const f8 v = cvt8_part(r, j, k - j, -INFINITY, dt, q);
    if (chk) nan = vorrq_u32(nan, vorrq_u32(isnan4(v.a), isnan4(v.b)));
    m0 = vmaxnmq_f32(m0, v.a);
    m1 = vmaxnmq_f32(m1, v.b);
  }
  const float m = vmaxvq_f32(vmaxnmq_f32(m0, m1));
  if (chk) *bad = vmaxvq_u32(nan) != 0 || !(fabsf(m) < INFINITY);
  return m;
}

static inline float32x4_t ex4(float32x4_t v, float32x4_t m, float32x4_t b) {
  return calib__exp4_ps(vmulq_f32(vsubq_f32(v, m), b));
}

/* 8 probabilities (cnt <= 8 of them) to the output at column j. */
static inline void put8(unsigned char *o, size_t j, size_t cnt, float32x4_t a, float32x4_t b, int ydt) {
  if (ydt == CALIB_DTYPE_F16) {
    const float16x8_t h = vcvt_high_f16_f32(vcvt_f16_f32(a), b);
    if (cnt == 8) {
      vst1q_u8(o + 2 * j, vreinterpretq_u8_f16(h));
    } else {
      unsigned char tb[16];
      vst1q_u8(tb, vreinterpretq_u8_f16(h));
      memcpy(o + 2 * j, tb, 2 * cnt);
    }
  } else if (cnt == 8) {
    vst1q_u8(o + 4 * j, vreinterpretq_u8_f32(a));
    vst1q_u8(o + 4 * j + 16, vreinterpretq_u8_f32(b));
  } else {
    float tb[8];
    vst1q_f32(tb, a);
    vst1q_f32(tb + 4, b);
    memcpy(o + 4 * j, tb, 4 * cnt);
  }
}

static void row_softmax(const unsigned char *r, size_t k, float32x4_t b, unsigned char *o, int ydt,
                        float *stage, int dt, const qpar *q, int chk, int *bad) {
  const float32x4_t m = vdupq_n_f32(row_max(r, k, dt, q, chk, bad));
  float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
  const size_t kv = k & ~(size_t)7;
  const int staged = k <= STAGE;
  for (size_t j = 0; j < kv; j += 8) {
    const f8 v = cvt8_at(r, j, dt, q);
    const float32x4_t e0 = ex4(v.a, m, b), e1 = ex4(v.b, m, b);
    if (staged) {
      vst1q_f32(stage + j, e0);
      vst1q_f32(stage + j + 4, e1);
    }
    s0 = vaddq_f32(s0, e0);
    s1 = vaddq_f32(s1, e1);
  }
  float tl[8] = {0}; /* the exps of the last k - kv < 8 entries */
  if (kv < k) { /* -inf pad: exp 0 */
    const f8 v = cvt8_part(r, kv, k - kv, -INFINITY, dt, q);
    const float32x4_t e0 = ex4(v.a, m, b), e1 = ex4(v.b, m, b);
    vst1q_f32(tl, e0);
    vst1q_f32(tl + 4, e1);
    s0 = vaddq_f32(s0, e0);
    s1 = vaddq_f32(s1, e1);
  }
  const float s = vaddvq_f32(vaddq_f32(s0, s1));
  const float32x4_t inv = vdupq_n_f32(chk && *bad ? NAN : 1.0f / s);
  for (size_t j = 0; j < k; j += 8) {
    float32x4_t e0, e1;
    if (j >= kv) {
      e0 = vld1q_f32(tl);
      e1 = vld1q_f32(tl + 4);
    } else if (staged) {
      e0 = vld1q_f32(stage + j);
      e1 = vld1q_f32(stage + j + 4);
    } else {
      const f8 v = cvt8_at(r, j, dt, q);
      e0 = ex4(v.a, m, b);
      e1 = ex4(v.b, m, b);
    }
    put8(o, j, k - j < 8 ? k - j : 8, vmulq_f32(e0, inv), vmulq_f32(e1, inv), ydt);
  }
}

static void rows_neon(const calib__tin *t, size_t n, size_t k, float beta, int sig, void *y,
                      int ydt, size_t ldy, int chk, calib__rstat *rs) {
  if (sig && k == 1) {
    calib__trows_sigmoid(t, n, beta, y, ydt, ldy, chk, rs);
    return;
  }
  float stage[STAGE];
  const int pc = t->col_scale || t->col_zp;
  qpar q;
  q.sc = vdupq_n_f32(t->scale);
  q.zp = vdupq_n_s32(t->zp);
  q.cs = pc ? t->col_scale : NULL;
  q.cz = pc ? t->col_zp : NULL;
  const size_t es = t->esize, ob = ydt == CALIB_DTYPE_F16 ? 2 : 4;
  const float32x4_t b = vdupq_n_f32(beta);
  for (size_t i = 0; i < n; i++) {
    int bad = 0;
    row_softmax(t->data + i * t->ld * es, k, b, (unsigned char *)y + i * ldy * ob, ydt, stage,
                t->dtype, &q, chk, &bad);
    if (chk) calib__rstat_row(rs, i, bad);
  }
}

static int check_neon(const calib__tin *t, size_t n, size_t k, int sig) {
  if (t->dtype == CALIB_DTYPE_I8 || t->dtype == CALIB_DTYPE_U8) return CALIB_OK;
  const int dt = t->dtype;
  qpar q;
  memset(&q, 0, sizeof q);
  const float32x4_t pinf = vdupq_n_f32(INFINITY), ninf = vdupq_n_f32(-INFINITY);
  for (size_t i = 0; i < n; i++) {
    const unsigned char *r = t->data + i * t->ld * t->esize;
    if (sig && k == 1) {
      const f8 v = cvt8_part(r, 0, 1, 0.0f, dt, &q);
      if (vmaxvq_u32(isnan4(v.a))) return CALIB_E_NONFINITE;
      continue;
    }
    uint32x4_t bad = vdupq_n_u32(0), fin = bad;
    for (size_t j = 0; j < k; j += 8) {
      const f8 v = j + 8 <= k ? cvt8_at(r, j, dt, &q) : cvt8_part(r, j, k - j, -INFINITY, dt, &q);
      /* NaN or +inf: not (v < +inf) */
      bad = vorrq_u32(bad, vorrq_u32(vmvnq_u32(vcltq_f32(v.a, pinf)), vmvnq_u32(vcltq_f32(v.b, pinf))));
      fin = vorrq_u32(fin, vorrq_u32(vmvnq_u32(vceqq_f32(v.a, ninf)), vmvnq_u32(vceqq_f32(v.b, ninf))));
    }
    if (vmaxvq_u32(bad) || !vmaxvq_u32(fin)) return CALIB_E_NONFINITE;
  }
  return CALIB_OK;
}

const calib__tkernels calib__tkernels_neon = {"neon", check_neon, rows_neon};
