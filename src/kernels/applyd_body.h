/* applyd_body.h -- the body of applyd_avx2.c / applyd_avx512.c (applyd.h),
 * written once with GCC vector extensions. The including file defines:
 *   W            lanes (doubles per vector)
 *   VD, VF, VI   vector types: W doubles, W floats, W int64
 *   LANE_IDX     a VI {0, 1, ..., W-1}; EVENS(a, b) / ODDS(a, b) the even / odd lanes of a pair
 *                selecting lanes 0, 2, ... / 1, 3, ... of two VDs
 *   VEXP_DECL    declarations VEXP needs (e.g. the AVX-512 exp table)
 *   VEXP(pv)     *pv = exp(*pv) lane-wise (vmath.h)
 *   VEXP_LO(pv)  the same for *pv <= 0 where about 2e-9 relative will do (a
 *                result rounded once to float32: beta_row_x); VEXP, or
 *                AVX-512's calib__exp8_pd_lo
 *   VRECIP(v)    1 / v lane-wise for v in [1, 2] (to about 1 ulp)
 *   VCEIL(v)     ceil lane-wise; VGATHER(base, vi) base[vi] lane-wise
 *   VTAB16(base, lo, hi, vi)  base[vi] for vi in [0, 16), lo / hi holding
 *                base[0 .. W) / base[W .. 2W) (AVX-512: a permute; else a gather)
 *   VCVT_PS(f)   a VF widened to a VD (exact; the ISA's one conversion instruction)
 *   TABLE_NAME   the calib__applyd object to define, ISA_NAME its name */
#include "applyd.h"
#include <math.h>
#include <string.h>

#define AD_INLINE static inline __attribute__((always_inline))
#define SEL(m, a, b) ((VD)(((m) & (VI)(a)) | (~(m) & (VI)(b))))

AD_INLINE VD splat(double v) {
  VD r = {0};
  return r + v;
}
AD_INLINE VD ld_d(const double *p) {
  VD v;
  memcpy(&v, p, sizeof v);
  return v;
}
AD_INLINE void st_d(double *p, VD v) { memcpy(p, &v, sizeof v); }
AD_INLINE VD ld_f(const calib__f32u *p) {
  VF f;
  memcpy(&f, (const void *)p, sizeof f);
  return VCVT_PS(f);
}
/* lanes >= r: pad */
AD_INLINE VD ld_f_tail(const calib__f32u *p, size_t r, float pad) {
  VF f;
  for (size_t q = 0; q < (size_t)W; q++) f[q] = q < r ? p[q] : pad;
  return VCVT_PS(f);
}
AD_INLINE VD ld_d_tail(const double *p, size_t r) {
  VD v = {0};
  for (size_t q = 0; q < r; q++) v[q] = p[q];
  return v;
}
/* the first r (<= W) lanes, rounded once to float */
AD_INLINE void st_f(calib__f32u *p, VD v, size_t r) {
  const VF f = __builtin_convertvector(v, VF);
  if (r == (size_t)W) memcpy((void *)p, &f, sizeof f);
  else
    for (size_t q = 0; q < r; q++) p[q] = f[q];
}
AD_INLINE VD vmax(VD a, VD b) { return SEL(a > b, a, b); }
AD_INLINE double hmax(VD v) {
  double m = v[0];
  for (int q = 1; q < W; q++) m = v[q] > m ? v[q] : m;
  return m;
}
AD_INLINE double hsum(VD v) {
  double s = 0;
  for (int q = 0; q < W; q++) s += v[q];
  return s;
}
/* lanes >= r of v := fill */
AD_INLINE VD pad(VD v, size_t r, double fill) {
  const VI idx = LANE_IDX;
  return SEL(idx < (long long)r, v, splat(fill));
}

AD_INLINE VI vimin(VI a, VI b) {
  const VI m = a < b;
  return (m & a) | (~m & b);
}
AD_INLINE int vany(VI m) {
  long long o = 0;
  for (int q = 0; q < W; q++) o |= m[q];
  return o != 0;
}

/* buf[0 .. kp) (kp = k rounded up to W, padding lanes -inf) := exp(buf - m),
 * returns the sum; lo (a constant): VEXP_LO's exp */
AD_INLINE double exp_sum_with(double *buf, size_t kp, double m, int lo) {
  VEXP_DECL;
  VD s0 = splat(0), s1 = splat(0);
  size_t j = 0;
  for (; j + 2 * W <= kp; j += 2 * W) {
    VD e0 = ld_d(buf + j) - m, e1 = ld_d(buf + j + W) - m;
    if (lo) {
      VEXP_LO(&e0);
      VEXP_LO(&e1);
    } else {
      VEXP(&e0);
      VEXP(&e1);
    }
    st_d(buf + j, e0);
    st_d(buf + j + W, e1);
    s0 += e0;
    s1 += e1;
  }
  for (; j < kp; j += W) {
    VD e = ld_d(buf + j) - m;
    if (lo) VEXP_LO(&e);
    else VEXP(&e);
    st_d(buf + j, e);
    s0 += e;
  }
  return hsum(s0 + s1);
}
AD_INLINE double exp_sum(double *buf, size_t kp, double m) { return exp_sum_with(buf, kp, m, 0); }

/* yr[j] = (float)(buf[j] * c) */
AD_INLINE void store_scaled(const double *buf, size_t k, double c, calib__f32u *yr) {
  size_t j = 0;
  for (; j + W <= k; j += W) st_f(yr + j, ld_d(buf + j) * c, W);
  if (j < k) st_f(yr + j, ld_d(buf + j) * c, k - j);
}

/* buf[0 .. *kp) := the row x[0 .. k) widened to double (kp = k rounded up to
 * W, padding lanes -inf); returns its maximum. Four independent chains of
 * compare + blend: one chain of k / W dependent steps was the longest part of
 * a k = 1000 row (ETS, bench_latency). With chk (a compile-time constant),
 * *bad := 1 when some x_j is NaN or +-inf, else 0: the row's sum in double,
 * which is finite exactly then (k <= CALIB__APPLYD_MAX_K finite floats sum
 * to at most 1e3 FLT_MAX in magnitude), one add per vector beside the pass
 * (beta_row_x, whose single-row calls skip the caller's validation pass). */
AD_INLINE double widen_max_chk(const calib__f32u *xr, size_t k, double *buf, size_t *kp, const int chk,
                               int *bad) {
  VD mv = splat(-HUGE_VAL), mv1 = mv, mv2 = mv, mv3 = mv, sv = splat(0), sv1 = sv;
  size_t j = 0;
  for (; j + 4 * W <= k; j += 4 * W) {
    const VD d0 = ld_f(xr + j), d1 = ld_f(xr + j + W), d2 = ld_f(xr + j + 2 * W), d3 = ld_f(xr + j + 3 * W);
    st_d(buf + j, d0);
    st_d(buf + j + W, d1);
    st_d(buf + j + 2 * W, d2);
    st_d(buf + j + 3 * W, d3);
    mv = vmax(mv, d0);
    mv1 = vmax(mv1, d1);
    mv2 = vmax(mv2, d2);
    mv3 = vmax(mv3, d3);
    if (chk) {
      sv += d0 + d1;
      sv1 += d2 + d3;
    }
  }
  for (; j + W <= k; j += W) {
    const VD d = ld_f(xr + j);
    st_d(buf + j, d);
    mv = vmax(mv, d);
    if (chk) sv += d;
  }
  if (j < k) {
    const VD d = ld_f_tail(xr + j, k - j, -INFINITY);
    st_d(buf + j, d);
    mv = vmax(mv, d);
    if (chk) sv += pad(d, k - j, 0.0); /* not the -inf padding */
    j += W;
  }
  *kp = j;
  if (chk) *bad = !isfinite(hsum(sv + sv1));
  return hmax(vmax(vmax(mv, mv1), vmax(mv2, mv3)));
}

AD_INLINE double widen_max(const calib__f32u *xr, size_t k, double *buf, size_t *kp) {
  return widen_max_chk(xr, k, buf, kp, 0, NULL);
}

static void vector_rows(const double *w, const double *b, const calib__f32u *x, size_t n, size_t k,
                        calib__f32u *y) {
  double buf[CALIB__APPLYD_MAX_K + W];
  for (size_t i = 0; i < n; i++) {
    const calib__f32u *xr = x + i * k;
    VD mv = splat(-HUGE_VAL), mv1 = mv; /* two chains of compare + blend */
    size_t j = 0;
    for (; j + 2 * W <= k; j += 2 * W) {
      const VD a0 = ld_d(w + j) * ld_f(xr + j) + ld_d(b + j);
      const VD a1 = ld_d(w + j + W) * ld_f(xr + j + W) + ld_d(b + j + W);
      st_d(buf + j, a0);
      st_d(buf + j + W, a1);
      mv = vmax(mv, a0);
      mv1 = vmax(mv1, a1);
    }
    mv = vmax(mv, mv1);
    for (; j + W <= k; j += W) {
      const VD a = ld_d(w + j) * ld_f(xr + j) + ld_d(b + j);
      st_d(buf + j, a);
      mv = vmax(mv, a);
    }
    if (j < k) {
      const size_t r = k - j;
      const VD a = pad(ld_d_tail(w + j, r) * ld_f_tail(xr + j, r, 0.0f) + ld_d_tail(b + j, r), r, -HUGE_VAL);
      st_d(buf + j, a);
      mv = vmax(mv, a);
      j += W;
    }
    const double s = exp_sum(buf, j, hmax(mv));
    store_scaled(buf, k, 1.0 / s, y + i * k);
  }
}

/* sigmoid(-(A z + B)) for the (A, B) pairs interleaved in v0, v1 (W each) */
AD_INLINE VD platt_q(VD v0, VD v1, VD z) {
  VEXP_DECL; /* inlined: the table loads are hoisted out of the callers' loops */
  const VD A = EVENS(v0, v1), B = ODDS(v0, v1);
  const VD t = A * z + B; /* u = -t */
  const VI pos = t <= splat(0);
  const VI sign = (VI)splat(0) + (-0x7FFFFFFFFFFFFFFFLL - 1); /* splat(-0.0) would be +0: it adds to a zero */
  VD e = (VD)((VI)t | sign); /* -|u|: the sign bit set */
  VEXP(&e);
  const VD inv = VRECIP(e + 1.0);
  return SEL(pos, inv, e * inv);
}

/* Full vectors four at a time (independent chains and two sums: the exp and
 * the division are long dependency chains), then the tail. */
static void platt_rows(const double *ab, const calib__f32u *x, size_t n, size_t k, calib__f32u *y) {
  double buf[CALIB__APPLYD_MAX_K + W], abt[2 * W];
  for (size_t i = 0; i < n; i++) {
    const calib__f32u *xr = x + i * k;
    VD s0 = splat(0), s1 = splat(0);
    size_t j = 0;
    for (; j + 4 * W <= k; j += 4 * W) {
      const VD q0 = platt_q(ld_d(ab + 2 * j), ld_d(ab + 2 * j + W), ld_f(xr + j));
      const VD q1 = platt_q(ld_d(ab + 2 * j + 2 * W), ld_d(ab + 2 * j + 3 * W), ld_f(xr + j + W));
      const VD q2 = platt_q(ld_d(ab + 2 * j + 4 * W), ld_d(ab + 2 * j + 5 * W), ld_f(xr + j + 2 * W));
      const VD q3 = platt_q(ld_d(ab + 2 * j + 6 * W), ld_d(ab + 2 * j + 7 * W), ld_f(xr + j + 3 * W));
      st_d(buf + j, q0);
      st_d(buf + j + W, q1);
      st_d(buf + j + 2 * W, q2);
      st_d(buf + j + 3 * W, q3);
      s0 += q0 + q2;
      s1 += q1 + q3;
    }
    for (; j < k; j += W) {
      const size_t r = k - j < (size_t)W ? k - j : (size_t)W;
      VD q;
      if (r == (size_t)W) {
        q = platt_q(ld_d(ab + 2 * j), ld_d(ab + 2 * j + W), ld_f(xr + j));
      } else {
        memset(abt, 0, sizeof abt);
        memcpy(abt, ab + 2 * j, 2 * r * sizeof *abt);
        q = pad(platt_q(ld_d(abt), ld_d(abt + W), ld_f_tail(xr + j, r, 0.0f)), r, 0.0);
      }
      st_d(buf + j, q);
      s0 += q;
    }
    const double s = hsum(s0 + s1);
    calib__f32u *yr = y + i * k;
    if (!(s > 0)) {
      for (size_t j2 = 0; j2 < k; j2++) yr[j2] = (float)(1.0 / (double)k);
      continue;
    }
    store_scaled(buf, k, 1.0 / s, yr);
  }
}

static void ets_rows(double beta, const double *w, const calib__f32u *x, size_t n, size_t k,
                     calib__f32u *y) {
  double b1[CALIB__APPLYD_MAX_K + W], b2[CALIB__APPLYD_MAX_K + W];
  const double u = w[2] / (double)k;
  for (size_t i = 0; i < n; i++) {
    VEXP_DECL;
    const calib__f32u *xr = x + i * k;
    calib__f32u *yr = y + i * k;
    size_t j;
    const double m = widen_max(xr, k, b2, &j);
    VD s1 = splat(0), s2 = splat(0);
    for (size_t t = 0; t < j; t += W) {
      const VD d = ld_d(b2 + t) - m;
      VD e1 = d * beta, e2 = d;
      VEXP(&e1);
      VEXP(&e2);
      st_d(b1 + t, e1);
      st_d(b2 + t, e2);
      s1 += e1;
      s2 += e2;
    }
    const double c1 = w[0] / hsum(s1), c2 = w[1] / hsum(s2);
    size_t t = 0;
    for (; t + W <= k; t += W) st_f(yr + t, ld_d(b1 + t) * c1 + ld_d(b2 + t) * c2 + u, W);
    if (t < k) st_f(yr + t, ld_d(b1 + t) * c1 + ld_d(b2 + t) * c2 + u, k - t);
  }
}

static void softmax_rows(const calib__f32u *x, size_t n, size_t k, calib__f32u *y) {
  double buf[CALIB__APPLYD_MAX_K + W];
  for (size_t i = 0; i < n; i++) {
    const calib__f32u *xr = x + i * k;
    size_t j;
    const double mx = widen_max(xr, k, buf, &j);
    const double s = exp_sum(buf, j, mx);
    store_scaled(buf, k, 1.0 / s, y + i * k);
  }
}

/* W's element j of a row at r: doubles (f32 = 0) or float32 values (f32 = 1,
 * the model's float copy, model/matrix_apply.c), widened to double exactly;
 * f32 is a compile-time constant in each instance, so both read W the same
 * way and compute the same double products in the same order: the two
 * instances give bit-identical a for W holding the same values. */
AD_INLINE VD ld_w(const void *r, size_t j, int f32) {
  return f32 ? ld_f((const calib__f32u *)(const float *)r + j) : ld_d((const double *)r + j);
}
AD_INLINE double sc_w(const void *r, size_t j, int f32) {
  return f32 ? (double)((const float *)r)[j] : ((const double *)r)[j];
}
AD_INLINE const void *row_w(const void *Wm, size_t jr, size_t k, int f32) {
  return f32 ? (const void *)((const float *)Wm + jr * k) : (const void *)((const double *)Wm + jr * k);
}

#define MV_PF_BYTES 8192
AD_INLINE void pf_w(const void *r, size_t j, int f32) {
  __builtin_prefetch((const char *)r + j * (f32 ? 4 : 8) + MV_PF_BYTES);
}

/* a = Wm (x - shift) + b: four rows of W at a time, each streamed once from
 * start to end (row-major W, one output per row), fused multiply-adds (one
 * rounding a product: a k = 1000 row is bound by the conversions and the
 * adds' latency, not by the reads). */
AD_INLINE void matvec_body(const void *Wm, int f32, const double *b, const calib__f32u *x, double shift,
                           size_t k, double *a) {
  double xs[CALIB__APPLYD_MAX_K + W];
  size_t kp = 0;
  for (; kp + W <= k; kp += W) st_d(xs + kp, ld_f(x + kp) - shift);
  if (kp < k) {
    st_d(xs + kp, pad(ld_f_tail(x + kp, k - kp, 0.0f) - shift, k - kp, 0.0));
    kp += W;
  }
  const size_t kv = k - k % W; /* whole vectors of a W row */
  size_t jr = 0;
  for (; jr + 4 <= k; jr += 4) {
    const void *r0 = row_w(Wm, jr, k, f32), *r1 = row_w(Wm, jr + 1, k, f32), *r2 = row_w(Wm, jr + 2, k, f32),
               *r3 = row_w(Wm, jr + 3, k, f32);
    VD a0 = splat(0), a1 = splat(0), a2 = splat(0), a3 = splat(0);
    size_t l = 0;
    for (; l < kv; l += W) {
      const VD xv = ld_d(xs + l);
      pf_w(r0, l, f32);
      pf_w(r1, l, f32);
      pf_w(r2, l, f32);
      pf_w(r3, l, f32);
      a0 = VFMA(ld_w(r0, l, f32), xv, a0);
      a1 = VFMA(ld_w(r1, l, f32), xv, a1);
      a2 = VFMA(ld_w(r2, l, f32), xv, a2);
      a3 = VFMA(ld_w(r3, l, f32), xv, a3);
    }
    double t0 = hsum(a0), t1 = hsum(a1), t2 = hsum(a2), t3 = hsum(a3);
    for (; l < k; l++) {
      t0 += sc_w(r0, l, f32) * xs[l];
      t1 += sc_w(r1, l, f32) * xs[l];
      t2 += sc_w(r2, l, f32) * xs[l];
      t3 += sc_w(r3, l, f32) * xs[l];
    }
    a[jr] = t0 + b[jr];
    a[jr + 1] = t1 + b[jr + 1];
    a[jr + 2] = t2 + b[jr + 2];
    a[jr + 3] = t3 + b[jr + 3];
  }
  for (; jr < k; jr++) {
    const void *r0 = row_w(Wm, jr, k, f32);
    VD a0 = splat(0);
    size_t l = 0;
    for (; l < kv; l += W) a0 = VFMA(ld_w(r0, l, f32), ld_d(xs + l), a0);
    double t0 = hsum(a0);
    for (; l < k; l++) t0 += sc_w(r0, l, f32) * xs[l];
    a[jr] = t0 + b[jr];
  }
}

static void matvec_row(const double *Wm, const double *b, const calib__f32u *x, double shift, size_t k,
                       double *a) {
  matvec_body(Wm, 0, b, x, shift, k, a);
}
static void matvec_row_f32(const float *Wm, const double *b, const calib__f32u *x, double shift, size_t k,
                           double *a) {
  matvec_body(Wm, 1, b, x, shift, k, a);
}

static void softmax_store(double *a, size_t k, calib__f32u *y) {
  double buf[CALIB__APPLYD_MAX_K + W];
  VD mv = splat(-HUGE_VAL);
  size_t j = 0;
  for (; j + W <= k; j += W) {
    const VD v = ld_d(a + j);
    st_d(buf + j, v);
    mv = vmax(mv, v);
  }
  if (j < k) {
    const VD v = pad(ld_d_tail(a + j, k - j), k - j, -HUGE_VAL);
    st_d(buf + j, v);
    mv = vmax(mv, v);
    j += W;
  }
  const double s = exp_sum(buf, j, hmax(mv));
  store_scaled(buf, k, 1.0 / s, y);
}

static void div_store(const double *q, size_t k, double s, calib__f32u *y);
static void div_store(const double *q, size_t k, double s, calib__f32u *y) {
  size_t j = 0;
  for (; j + W <= k; j += W) st_f(y + j, ld_d(q + j) / s, W);
  if (j < k) st_f(y + j, ld_d_tail(q + j, k - j) / s, k - j);
}

/* The edges e[b], e[b + 1] by VTAB16 from registers when M < 16 (the
 * default M = 10: two gathers per vector were most of a k = 1000 row), from
 * a gather beyond. */
AD_INLINE VI hist_bin(VD x, VD Md, VI zero, VI Mm1, const double *e, VD elo, VD ehi, int tab) {
  VD g = VCEIL(x * Md) - 1.0;
  g = SEL(g < splat(0), splat(0), g);
  VI b = __builtin_convertvector(g, VI);
  b = vimin(b, Mm1); /* x >= 1 */
  for (;;) { /* b/M < x <= (b+1)/M: the guess is off by at most one, checked until stable */
    const VD eb = tab ? VTAB16(e, elo, ehi, b) : VGATHER(e, b);
    const VD eb1 = tab ? VTAB16(e, elo, ehi, b + 1) : VGATHER(e, b + 1);
    const VI dn = (b > zero) & (x <= eb);
    const VI up = (b < Mm1) & (x > eb1);
    if (!vany(dn | up)) break;
    b = b + (up & 1) - (dn & 1);
  }
  return b;
}

static void hist_ew_rows(const double *values, size_t M, const double *e, const calib__f32u *p, size_t n,
                         size_t k, calib__f32u *y) {
  double buf[CALIB__APPLYD_MAX_K + W], et[16];
  const VI lane = LANE_IDX;
  const VD Md = splat((double)M);
  const VI zero = lane - lane, Mi = zero + (long long)M, Mm1 = Mi - 1;
  const int tab = M < 16 && 2 * W >= 16;
  for (size_t b = 0; b < 16; b++) et[b] = b <= M ? e[b] : HUGE_VAL;
  const VD elo = ld_d(et), ehi = ld_d(et + (2 * W >= 16 ? W : 0));
  for (size_t i = 0; i < n; i++) {
    const calib__f32u *pr = p + i * k;
    VD sv = splat(0);
    for (size_t j = 0; j < k; j += W) {
      const size_t r = k - j < (size_t)W ? k - j : (size_t)W;
      const VD x = r == (size_t)W ? ld_f(pr + j) : ld_f_tail(pr + j, r, 0.0f);
      const VI b = tab ? hist_bin(x, Md, zero, Mm1, et, elo, ehi, 1) : hist_bin(x, Md, zero, Mm1, e, elo, ehi, 0);
      const VI cls = vimin(lane + (long long)j, zero + (long long)(k - 1)); /* padding lanes: class k-1 */
      VD q = VGATHER(values, cls * Mi + b);
      if (r < (size_t)W) q = pad(q, r, 0.0);
      st_d(buf + j, q);
      sv += q;
    }
    const double s = hsum(sv);
    calib__f32u *yr = y + i * k;
    if (!(s > 0)) {
      for (size_t j = 0; j < k; j++) yr[j] = (float)(1.0 / (double)k);
      continue;
    }
    div_store(buf, k, s, yr);
  }
}

/* Four groups of W classes at once: the searches' gathers are dependent
 * within a group, so four independent chains keep the loads overlapped. */
#define ISO_G 4
static void iso_rows(const double *xs, const double *ys, const double *cnt, const calib__f32u *p, size_t n,
                     size_t k, calib__f32u *y, double (*fb)(const double *, const double *, size_t, double)) {
  double buf[CALIB__APPLYD_MAX_K + ISO_G * W];
  const VI lane = LANE_IDX, zero = lane - lane, one = zero + 1;
  (void)lane;
  for (size_t i = 0; i < n; i++) {
    const calib__f32u *pr = p + i * k;
    VD sv = splat(0);
    size_t off0 = 0; /* offset of class j's table */
    for (size_t j0 = 0; j0 < k; j0 += ISO_G * W) {
      VI off[ISO_G], m[ISO_G], base[ISO_G], len[ISO_G];
      VD s[ISO_G];
      size_t r[ISO_G];
      long long maxm = 1;
      for (int g = 0; g < ISO_G; g++) {
        const size_t j = j0 + (size_t)g * W;
        r[g] = j >= k ? 0 : (k - j < (size_t)W ? k - j : (size_t)W);
        off[g] = zero;
        m[g] = one;
        for (size_t q = 0; q < r[g]; q++) {
          const long long mq = (long long)cnt[j + q];
          off[g][q] = (long long)off0;
          m[g][q] = mq;
          off0 += (size_t)mq;
          maxm = mq > maxm ? mq : maxm;
        }
        s[g] = r[g] == (size_t)W ? ld_f(pr + j) : (r[g] ? ld_f_tail(pr + j, r[g], 0.0f) : splat(0.0));
        base[g] = zero;
        len[g] = m[g]; /* padding lanes: table 0 of length 1 (never used) */
      }
      /* last index with x <= s (branch-free halving, as isotonic_apply.c's last_le) */
      for (long long L = maxm; L > 1; L -= L >> 1)
        for (int g = 0; g < ISO_G; g++) {
          const VI h = len[g] >> 1, cand = base[g] + h;
          const VI take = (VI)(VGATHER(xs, off[g] + cand) <= s[g]);
          base[g] = (take & cand) | (~take & base[g]);
          len[g] -= h;
        }
      for (int g = 0; g < ISO_G && r[g]; g++) {
        const VI o = off[g], b = base[g], mm = m[g];
        const VD sg = s[g];
        const VD lo = VGATHER(xs, o), hi = VGATHER(xs, o + mm - 1);
        const VI j1 = vimin(b + 1, mm - 1);
        const VD xj = VGATHER(xs, o + b), yj = VGATHER(ys, o + b);
        const VD xj1 = VGATHER(xs, o + j1), yj1 = VGATHER(ys, o + j1);
        const VI simple = (b + 1 >= mm) | (VI)(xj == sg);
        const VD slope = (yj1 - yj) / SEL(simple, splat(1.0), xj1 - xj);
        VD v = SEL(simple, yj, slope * (sg - xj) + yj);
        v = SEL((VI)(sg >= hi), VGATHER(ys, o + mm - 1), v);
        v = SEL((VI)(sg <= lo), VGATHER(ys, o), v);
        const VI bad = (VI)(v != v);
        if (vany(bad))
          for (size_t q = 0; q < r[g]; q++)
            if (bad[q]) v[q] = fb(xs + o[q], ys + o[q], (size_t)mm[q], sg[q]);
        if (r[g] < (size_t)W) v = pad(v, r[g], 0.0);
        st_d(buf + j0 + (size_t)g * W, v);
        sv += v;
      }
    }
    const double sum = hsum(sv);
    calib__f32u *yr = y + i * k;
    if (!(sum > 0)) {
      for (size_t j = 0; j < k; j++) yr[j] = (float)(1.0 / (double)k);
      continue;
    }
    div_store(buf, k, sum, yr);
  }
}

/* iso_rows through the model's search index (applyd.h calib__iso_index), in
 * three passes over the row, each a loop of independent steps with no branch
 * on a value it loads (but the rare ones below): s's bucket, W classes per
 * step (the class's grid parameters are vector loads); then 4 classes at a
 * time, their bucket records, transposed: the index is start plus the count
 * of the (at most) two thresholds after it that are <= s, or, for a bucket
 * whose range holds more, a halving search of that range; then 4 classes at a
 * time their segment records (x_t, y_t, slope), transposed, and iso_rows'
 * interpolation (the slope precomputed by the same operations, the same
 * NaN fallback). The row sum in iso_rows' order (lane q: classes q mod W).
 * Loads of 32-byte records and shuffles instead of gathers: on this project's
 * AMD machines a gathered double costs about 0.6 ns, several times a load. */
typedef unsigned long long VU __attribute__((vector_size(sizeof(VI))));
AD_INLINE VI ld_i(const long long *p) {
  VI v;
  memcpy(&v, p, sizeof v);
  return v;
}
AD_INLINE void st_i(long long *p, VI v) { memcpy(p, &v, sizeof v); }
/* 4 doubles, whatever W: the segment records' transpose */
typedef double V4 __attribute__((vector_size(32)));
typedef long long V4I __attribute__((vector_size(32)));
#define SEL4(m, a, b) ((V4)(((m) & (V4I)(a)) | (~(m) & (V4I)(b))))
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SHUF4(a, b, i, j, k, l) __builtin_shufflevector(a, b, i, j, k, l)
#else
#define SHUF4(a, b, i, j, k, l) __builtin_shuffle(a, b, (V4I){i, j, k, l})
#endif
/* the transpose of the rows r0..r3: c_i = (r0[i], r1[i], r2[i], r3[i]) */
#define TR4(r0, r1, r2, r3, c0, c1, c2, c3)                                    \
  do {                                                                         \
    const V4 a0_ = (r0), a1_ = (r1), a2_ = (r2), a3_ = (r3);                   \
    const V4 t0_ = SHUF4(a0_, a1_, 0, 4, 2, 6), t1_ = SHUF4(a0_, a1_, 1, 5, 3, 7); \
    const V4 t2_ = SHUF4(a2_, a3_, 0, 4, 2, 6), t3_ = SHUF4(a2_, a3_, 1, 5, 3, 7); \
    c0 = SHUF4(t0_, t2_, 0, 1, 4, 5);                                          \
    c1 = SHUF4(t1_, t3_, 0, 1, 4, 5);                                          \
    c2 = SHUF4(t0_, t2_, 2, 3, 6, 7);                                          \
    c3 = SHUF4(t1_, t3_, 2, 3, 6, 7);                                          \
  } while (0)
/* any lane of a V4I mask set (its sign bits) */
#define V4ANY(m) (_mm256_movemask_pd((__m256d)(m)) != 0)
AD_INLINE V4 ld4(const double *p) {
  V4 v;
  memcpy(&v, p, sizeof v);
  return v;
}
AD_INLINE V4I ld4i(const long long *p) {
  V4I v;
  memcpy(&v, p, sizeof v);
  return v;
}
static void iso_rows_idx(const calib__iso_index *ix, const double *xs, const double *ys, const calib__f32u *p,
                         size_t n, size_t k, calib__f32u *y,
                         double (*fb)(const double *, const double *, size_t, double)) {
  double buf[CALIB__APPLYD_MAX_K + W], sb[CALIB__APPLYD_MAX_K + W];
  long long gb[CALIB__APPLYD_MAX_K + W];
  const VI lane = LANE_IDX, zero = lane - lane;
  const VI sign = zero + (-0x7FFFFFFFFFFFFFFFLL - 1);
  const long long *uklo = ix->uklo, *sh = ix->sh, *nbm1 = ix->nbm1, *boff = ix->boff, *off = ix->off;
  const double *lo = ix->lo, *hi = ix->hi, *ylo = ix->ylo, *yhi = ix->yhi, *brec = ix->brec, *rec = ix->rec;
  const long long *last = ix->last;
  const size_t k4 = (k + 3) & ~(size_t)3; /* <= k rounded up to W <= ix->kp */
  (void)lane;
  for (size_t i = 0; i < n; i++) {
    const calib__f32u *pr = p + i * k;
    for (size_t j = 0; j < k; j += W) { /* j + W <= ix->kp: padding classes beyond k */
      const size_t r = k - j < (size_t)W ? k - j : (size_t)W;
      const VD s = r == (size_t)W ? ld_f(pr + j) : ld_f_tail(pr + j, r, 0.0f);
      const VU u = (VU)(((VI)s | sign) ^ (VI)(s < splat(0.0))); /* calib__iso_ukey */
      VI b = (VI)((u - (VU)ld_i(uklo + j)) >> (VU)ld_i(sh + j));
      b = (VI)SEL((VI)(s >= ld_d(hi + j)), ld_i(nbm1 + j), b);
      b &= (VI)(s > ld_d(lo + j)); /* s <= lo and NaN: bucket 0 */
      st_d(sb + j, s);
      st_i(gb + j, ld_i(boff + j) + b);
    }
    for (size_t j = 0; j < k4; j += 4) { /* 4 bucket records, transposed: the index of s */
      V4 c0, c1, c2, c3;
      TR4(ld4(brec + 4 * gb[j]), ld4(brec + 4 * gb[j + 1]), ld4(brec + 4 * gb[j + 2]), ld4(brec + 4 * gb[j + 3]),
          c0, c1, c2, c3);
      const V4 s = ld4(sb + j);
      V4I t = (V4I)c2 - (V4I)(c0 <= s) - (V4I)(c1 <= s); /* start + thresholds <= s among the next two */
      const V4I wide = (V4I)c3 > 2;
      if (V4ANY(wide)) /* more than two thresholds after start: halve [start, start + rem] */
        for (int q = 0; q < 4; q++)
          if (wide[q]) {
            long long tq = ((V4I)c2)[q], len = ((V4I)c3)[q] + 1;
            while (len > 1) {
              const long long h = len >> 1;
              tq = xs[tq + h] <= s[q] ? tq + h : tq;
              len -= h;
            }
            t[q] = tq;
          }
      memcpy(gb + j, &t, sizeof t);
    }
    size_t j = 0;
    for (; j < k; j += 4) { /* 4 classes: their segment records, transposed */
      const size_t r = k - j < 4 ? k - j : 4;
      V4 xj, yj, slope, unused;
      TR4(ld4(rec + 4 * gb[j]), ld4(rec + 4 * gb[j + 1]), ld4(rec + 4 * gb[j + 2]), ld4(rec + 4 * gb[j + 3]), xj,
          yj, slope, unused);
      (void)unused;
      const V4 s = ld4(sb + j);
      const V4I simple = (ld4i(gb + j) >= ld4i(last + j)) | (V4I)(xj == s);
      V4 v = SEL4(simple, yj, slope * (s - xj) + yj);
      v = SEL4((V4I)(s >= ld4(hi + j)), ld4(yhi + j), v);
      v = SEL4((V4I)(s <= ld4(lo + j)), ld4(ylo + j), v);
      const V4I bad = (V4I)(v != v);
      if (V4ANY(bad)) /* NaN: an infinite slope, iso_rows' fallback */
        for (size_t q = 0; q < r; q++)
          if (bad[q]) v[q] = fb(xs + off[j + q], ys + off[j + q], (size_t)ix->m[j + q], s[q]);
      if (r < 4)
        for (size_t q = r; q < 4; q++) v[q] = 0.0;
      memcpy(buf + j, &v, sizeof v);
    }
    for (; j % W; j++) buf[j] = 0.0;
    VD sv = splat(0);
    for (j = 0; j < k; j += W) sv += ld_d(buf + j); /* iso_rows' order: lane q sums classes q mod W */
    const double sum = hsum(sv);
    calib__f32u *yr = y + i * k;
    if (!(sum > 0)) {
      for (j = 0; j < k; j++) yr[j] = (float)(1.0 / (double)k);
      continue;
    }
    div_store(buf, k, sum, yr);
  }
}

/* fdlibm's e_log.c kernel: ln(2^e mm) for mm in [sqrt(2)/2, sqrt(2)) (f = mm
 * - 1, s = f/(2+f), minimax R(s^2) < 2^-58.45), e an integer in a double */
AD_INLINE VD log_kernel(VD mm, VD e) {
  const VD f = mm - 1.0, hfsq = 0.5 * f * f, sdv = f / (f + 2.0), z = sdv * sdv, w2 = z * z;
  const VD t1 = w2 * (3.999999999940941908e-01 + w2 * (2.222219843214978396e-01 + w2 * 1.531383769920937332e-01));
  const VD t2 = z * (6.666666666666735130e-01 +
                     w2 * (2.857142874366239149e-01 + w2 * (1.818357216161805012e-01 + w2 * 1.479819860511658591e-01)));
  const VD R = t2 + t1;
  return e * 6.93147180369123816490e-01 - ((hfsq - (sdv * (hfsq + R) + e * 1.90821492927058770002e-10)) - f);
}

/* log1p(x) for x in [-1/2, 0] (x = -s, s = e^ls <= 1/2): w = 1 + x in [1/2, 1],
 * log(w) by log_kernel (w = 2^e mm, e = -1 or 0), plus the first-order
 * correction -((w - 1) - x)/w for the rounding of 1 + x. */
AD_INLINE VD log1p_neg(VD x) {
  const VD w = x + 1.0;
  const VI small = (VI)(w < splat(0.70710678118654752440));
  const VD mm = SEL(small, w * 2.0, w), e = SEL(small, splat(-1.0), splat(0.0));
  const VD lg = log_kernel(mm, e);
  const VD c = SEL((VI)(w == splat(1.0)), splat(0.0), ((w - 1.0) - x) / w);
  return SEL((VI)(w == splat(1.0)), x, lg - c);
}

/* log1p(-s) for s in [0, 2^-5]: -(s + s^2 h(s)), h of degree 2 minimising
 * the largest relative error of the result over (0, 2^-5] (a linear
 * programme on 3001 points against mpmath, rounded to double): 1.84e-9
 * relative. Beta's row needs the features to about 1e-9 absolute for a
 * result rounded once to float32: b l1s is then within b 2^-5 1.84e-9 =
 * 5.8e-11 b of exact, and the two exps' 1.6e-9 relative dominate
 * (applyd.h). The degree-3 h (1.18e-11) took one FMA more, and s (s h)
 * instead of s^2 h another: beta's k = 1000 row 0.925 -> 0.905 us (/tmp
 * harness, five alternations). */
AD_INLINE VD log1p_neg_small(VD s) {
  const VD s2 = s * s;
  const VD h = VFMA(s2, splat(0x1.0cbeb854ecf98p-2), VFMA(s, splat(0x1.551987f2ebf79p-2), splat(0x1.000027a42c8aep-1)));
  return -VFMA(s2, h, s);
}

/* log1p(-s), s in [0, 1/2]: the series when every lane has s <= 2^-5 (most
 * classes of a large-k row), else log1p_neg */
AD_INLINE VD log1p_neg_s(VD s) {
  return VANY_GT(s, splat(0x1p-5)) ? log1p_neg(-s) : log1p_neg_small(s);
}

/* u = a ls - b l1s + c for one vector of classes from j (lanes of class
 * jmax take the features passed in) */
AD_INLINE VD beta_u(VD a, VD b, VD c, VD ls, VD s, size_t j, size_t jmax, double ls_max, double l1s_max) {
  VD l1s = log1p_neg_s(s);
  if (jmax - j < (size_t)W) { /* the vector holding jmax: its features passed in */
    const VI lane = LANE_IDX;
    const VI ismax = (VI)(lane + (long long)j == (VI)(lane - lane) + (long long)jmax);
    ls = SEL(ismax, splat(ls_max), ls);
    l1s = SEL(ismax, splat(l1s_max), l1s);
  }
  return VFMA(a, ls, VFMA(-b, l1s, c));
}

/* sigmoid(u): 1 / (1 + e) for u >= 0, e / (1 + e) below, e = exp(-|u|)
 * (lo: VEXP_LO's); u = -inf gives 0 */
AD_INLINE VD sig_u(VD u, int lo) {
  VEXP_DECL;
  const VI pos = u >= splat(0);
  const VI sign = (VI)splat(0) + (-0x7FFFFFFFFFFFFFFFLL - 1);
  VD e = (VD)((VI)u | sign); /* -|u| */
  if (lo) VEXP_LO(&e);
  else VEXP(&e);
  return SEL(pos, splat(1.0), e) / (e + 1.0);
}

/* (a, b, c) of classes j .. j + r - 1 (r <= W; lanes >= r: 0) of the interleaved abc */
AD_INLINE void ld_abc(const double *abc, size_t j, size_t r, VD *a, VD *b, VD *c) {
  if (r == (size_t)W) {
    DEINT3(abc + 3 * j, *a, *b, *c);
    return;
  }
  double t[3 * W];
  memset(t, 0, sizeof t);
  memcpy(t, abc + 3 * j, 3 * r * sizeof *t);
  for (int q = 0; q < W; q++) { (*a)[q] = t[3 * q]; (*b)[q] = t[3 * q + 1]; (*c)[q] = t[3 * q + 2]; }
}

AD_INLINE VD beta_q(VD a, VD b, VD c, VD ls, VD s, size_t j, size_t jmax, double ls_max, double l1s_max) {
  return sig_u(beta_u(a, b, c, ls, s, j, jmax, ls_max, l1s_max), 0);
}

static void beta_row(const double *abc, const calib__f32u *x, size_t k, double m, size_t jmax, double spd,
                     double ls_max, double l1s_max, calib__f32u *y) {
  VEXP_DECL;
  double buf[CALIB__APPLYD_MAX_K + W];
  VD sv = splat(0);
  for (size_t j = 0; j < k; j += W) {
    const size_t r = k - j < (size_t)W ? k - j : (size_t)W;
    const VD z = r == (size_t)W ? ld_f(x + j) : ld_f_tail(x + j, r, 0.0f);
    VD a, b, c;
    ld_abc(abc, j, r, &a, &b, &c);
    const VD ls = (z - m) - spd;
    VD s = ls;
    VEXP(&s);
    VD qv = beta_q(a, b, c, ls, s, j, jmax, ls_max, l1s_max);
    if (r < (size_t)W) qv = pad(qv, r, 0.0);
    st_d(buf + j, qv);
    sv += qv;
  }
  const double sum = hsum(sv);
  if (!(sum > 0)) {
    for (size_t j = 0; j < k; j++) y[j] = (float)(1.0 / (double)k);
    return;
  }
  div_store(buf, k, sum, y);
}

/* The first j with buf[j] == m (m is among buf[0 .. kp), kp a multiple of W):
 * four vectors a test (one mask compare each, one branch), then the lanes of
 * the block that holds it. With vany's lane reduction per vector this scan
 * took about 8 % of beta's k = 1000 row (perf); /tmp/lat/h, six
 * alternations: 1.168 -> 1.127 us (medians, a slow spell of the host). */
AD_INLINE size_t first_eq(const double *buf, size_t kp, double m) {
  const VD mv = splat(m);
  size_t j = 0;
  for (; j + 4 * W <= kp; j += 4 * W)
    if (VANY_EQ(ld_d(buf + j), mv) | VANY_EQ(ld_d(buf + j + W), mv) | VANY_EQ(ld_d(buf + j + 2 * W), mv) |
        VANY_EQ(ld_d(buf + j + 3 * W), mv))
      break;
  for (; j < kp; j++)
    if (buf[j] == m) return j;
  return 0;
}

/* The whole beta row (applyd.h), in passes over buf, each a short chain per
 * vector (the sigmoid's exp in the log1p pass made one long latency-bound
 * chain per vector: k = 1000 1.44 -> 1.27 us split, bench/README run 20).
 * (1) The row widened to double with its maximum m and its first index
 * jmax, and a NaN or +-inf found (widen_max_chk). (2) e_j = exp(z_j - m) for j != jmax (kept) and their sum S:
 * softplus(d) = ln(1 + S) (d = ln S), e^-softplus(d) = 1/(1 + S) and
 * softplus(-d) = ln(1 + 1/S), three libm calls where ln, exp and two
 * softplus took six; s_j = e_j / (1 + S), one exp per class fewer than
 * beta_row. (3) u_j = a_j ls_j - b_j log1p(-s_j) + c_j. (4) q_j = sigmoid(u_j)
 * and their sum. (5) y = q times the reciprocal of the sum. The two exps are
 * VEXP_LO's (AVX-512: 1.6e-9 relative): each output is within about 4e-9
 * relative of the exact map before its one rounding to float32 (applyd.h).
 * S < 2^-900 (the others' terms near the subnormal range) returns 1 with y
 * unwritten: the caller takes the path that sums around the others' own
 * maximum. A NaN or +-inf in the row returns 2 with y unwritten. */
#define BETA_XG 4
static int beta_row_x(const double *abc, const double *abc3, const calib__f32u *x, size_t k, calib__f32u *y) {
  double buf[CALIB__APPLYD_MAX_K + BETA_XG * W];
  size_t kp;
  int bad;
  const double m = widen_max_chk(x, k, buf, &kp, 1, &bad);
  if (bad) return 2; /* a NaN or +-inf: y unwritten, the caller names the error */
  const size_t jmax = first_eq(buf, kp, m);
  buf[jmax] = -HUGE_VAL;
  const double S = exp_sum_with(buf, kp, m, 1);
  if (!(S >= 0x1p-900)) return 1;
  const double spd = log1p(S), es = 1.0 / (1.0 + S);
  const double ls_max = -spd, l1s_max = -log1p(1.0 / S);
  const size_t k3 = CALIB__BETA3_STRIDE(k);
  size_t j = 0;
  for (; j + BETA_XG * W <= k; j += BETA_XG * W) {
    VD a[BETA_XG], b[BETA_XG], c[BETA_XG], ls[BETA_XG], s[BETA_XG], u[BETA_XG];
#pragma GCC unroll 8
    for (int g = 0; g < BETA_XG; g++) {
      const size_t jg = j + (size_t)g * W;
      if (abc3) {
        a[g] = ld_d(abc3 + jg);
        b[g] = ld_d(abc3 + k3 + jg);
        c[g] = ld_d(abc3 + 2 * k3 + jg);
      } else {
        DEINT3(abc + 3 * jg, a[g], b[g], c[g]);
      }
      ls[g] = (ld_f(x + jg) - m) - spd;
      s[g] = ld_d(buf + jg) * es;
    }
#pragma GCC unroll 8
    for (int g = 0; g < BETA_XG; g++) u[g] = beta_u(a[g], b[g], c[g], ls[g], s[g], j + (size_t)g * W, jmax, ls_max, l1s_max);
#pragma GCC unroll 8
    for (int g = 0; g < BETA_XG; g++) st_d(buf + j + (size_t)g * W, u[g]);
  }
  for (; j < k; j += W) {
    const size_t r = k - j < (size_t)W ? k - j : (size_t)W;
    const VD z = r == (size_t)W ? ld_f(x + j) : ld_f_tail(x + j, r, 0.0f);
    VD a, b, c;
    if (abc3) { /* padded with zeros to k3, a multiple of W: ld_abc's lanes */
      a = ld_d(abc3 + j);
      b = ld_d(abc3 + k3 + j);
      c = ld_d(abc3 + 2 * k3 + j);
    } else {
      ld_abc(abc, j, r, &a, &b, &c);
    }
    VD u = beta_u(a, b, c, (z - m) - spd, ld_d(buf + j) * es, j, jmax, ls_max, l1s_max);
    if (r < (size_t)W) u = pad(u, r, -HUGE_VAL); /* sig_u(-inf) = 0 */
    st_d(buf + j, u);
  }
  /* the sigmoids: exps and divisions, independent of each other */
  VD sv = splat(0), sv1 = splat(0);
  for (j = 0; j + 2 * W <= kp; j += 2 * W) {
    const VD q0 = sig_u(ld_d(buf + j), 1), q1 = sig_u(ld_d(buf + j + W), 1);
    st_d(buf + j, q0);
    st_d(buf + j + W, q1);
    sv += q0;
    sv1 += q1;
  }
  if (j < kp) {
    const VD q0 = sig_u(ld_d(buf + j), 1);
    st_d(buf + j, q0);
    sv += q0;
  }
  const double sum = hsum(sv + sv1);
  if (!(sum > 0)) {
    for (size_t j2 = 0; j2 < k; j2++) y[j2] = (float)(1.0 / (double)k);
    return 0;
  }
  store_scaled(buf, k, 1.0 / sum, y); /* the reciprocal once (applyd.h: <= 1.5 ulp before the float rounding) */
  return 0;
}

static double sum_exp_excl(const calib__f32u *x, size_t k, size_t jskip, double m2) {
  VEXP_DECL;
  const VI lane = LANE_IDX;
  VD sv = splat(0);
  for (size_t j = 0; j < k; j += W) {
    const size_t r = k - j < (size_t)W ? k - j : (size_t)W;
    VD d = (r == (size_t)W ? ld_f(x + j) : ld_f_tail(x + j, r, -INFINITY)) - m2;
    d = SEL((VI)(lane + (long long)j == (VI)(lane - lane) + (long long)jskip), splat(-HUGE_VAL), d);
    VEXP(&d);
    sv += d;
  }
  return hsum(sv);
}

static void log1p_neg_n(const double *s, size_t n, double *y) {
  for (size_t i = 0; i < n; i += W) {
    const size_t r = n - i < (size_t)W ? n - i : (size_t)W;
    const VD v = log1p_neg_s(ld_d_tail(s + i, r));
    for (size_t q = 0; q < r; q++) y[i + q] = v[q];
  }
}

/* ln w for w a positive normal double (log_kernel after w = 2^e mm, < 1 ulp). Zero, subnormal,
 * infinite and NaN lanes are the caller's. */
AD_INLINE VD log_pos(VD w) {
  VI bits;
  memcpy(&bits, &w, sizeof bits);
  VI e = ((bits >> 52) & 0x7ff) - 1023;
  const VI mb = (bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL;
  VD mm;
  memcpy(&mm, &mb, sizeof mm);
  const VI big = (VI)(mm > splat(1.41421356237309504880));
  mm = SEL(big, mm * 0.5, mm);
  e -= big; /* big lanes are -1 */
  return log_kernel(mm, __builtin_convertvector(e, VD));
}

/* the number of edges e[1 .. M) below c, lane-wise (calib_bin_index's bin
 * for the edges b/M: e[b] < c <= e[b + 1]; 0 for c <= 0, M - 1 for c >= 1) */
AD_INLINE VI count_below(const double *e, size_t M, VD c) {
  VI b = (VI)splat(0);
  for (size_t j = 1; j < M; j++) b -= (VI)(splat(e[j]) < c);
  return b;
}

static void bin_prov_rows(const calib__f32u *p, const int64_t *y, size_t n, const double *ee, size_t me,
                          const double *er, size_t mr, double *t, unsigned char *be, unsigned char *br) {
  const VI lane = LANE_IDX, one = (lane - lane) + 1;
  for (size_t i = 0; i < n; i += W) {
    const size_t r = n - i < (size_t)W ? n - i : (size_t)W;
    const VD q = r == (size_t)W ? ld_f(p + i) : ld_f_tail(p + i, r, 0.5f);
    VI yv = one;
    if (r == (size_t)W) memcpy(&yv, y + i, sizeof yv);
    else
      for (size_t l = 0; l < r; l++) yv[l] = y[i + l];
    const VI pos = (VI)(yv == one);
    /* y = 1: ln q; y = 0: log1p(-q) = ln w - ((w - 1) + q) / w with w = 1 - q
     * rounded, w in [1/2, 1] or exact below 1/2 (the correction is then 0) */
    const VD w = SEL(pos, q, 1.0 - q);
    const VD c = SEL(pos, splat(0.0), ((w - 1.0) + q) / w);
    VD v = log_pos(w) - c;
    v = -SEL((VI)(w == splat(0.0)), splat(-HUGE_VAL), v);
    const VD conf = SEL((VI)(q > splat(0.5)), q, 1.0 - q);
    const VI b1 = count_below(ee, me, conf), b2 = count_below(er, mr, conf);
    for (size_t l = 0; l < r; l++) {
      t[i + l] = v[l];
      be[i + l] = (unsigned char)b1[l];
      br[i + l] = (unsigned char)b2[l];
    }
  }
}

static double nll_rows(double *Q, size_t m, size_t k, const int64_t *y, const double *wt) {
  VEXP_DECL;
  double nll = 0;
  for (size_t i = 0; i < m; i++) {
    double *a = Q + i * k;
    VD mv = splat(-HUGE_VAL);
    size_t j = 0;
    for (; j + W <= k; j += W) mv = vmax(mv, ld_d(a + j));
    const size_t kw = j, r = k - kw;
    if (r) mv = vmax(mv, pad(ld_d_tail(a + kw, r), r, -HUGE_VAL));
    const double mx = hmax(mv);
    if (!isfinite(mx)) return HUGE_VAL;
    const double ay = a[y[i]];
    double s = exp_sum(a, kw, mx); /* the whole vectors, in place */
    if (r) { /* the tail, its padding lanes -inf: exp 0 */
      VD e = pad(ld_d_tail(a + kw, r), r, -HUGE_VAL) - mx;
      VEXP(&e);
      for (size_t q = 0; q < r; q++) a[kw + q] = e[q];
      s += hsum(e);
    }
    nll += wt[i] * (mx + log(s) - ay);
    const double c = wt[i] / s;
    for (j = 0; j < kw; j += W) st_d(a + j, ld_d(a + j) * c);
    for (; j < k; j++) a[j] *= c;
  }
  return nll;
}

const calib__applyd TABLE_NAME = {ISA_NAME, vector_rows, platt_rows, ets_rows, softmax_rows, matvec_row, softmax_store,
                                  div_store, iso_rows, beta_row, sum_exp_excl, hist_ew_rows,
                                  matvec_row_f32, beta_row_x, log1p_neg_n, bin_prov_rows,
                                  iso_rows_idx, nll_rows};
