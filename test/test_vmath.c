/* test_vmath.c -- accuracy of every vectorised exp/log of src/kernels/vmath.h
 * against libm, for every instance this machine can run (calib__vmath_by_name:
 * "avx512", "avx2", "neon" -- the kernels' own instances -- and "generic",
 * calib__vexp_pd4 as a unit without ISA flags compiles it, the instance of
 * the Platt and matrix-family fitters' plain builds).
 *
 * Errors are in units in the last place of the result's format (float or
 * double), at the exact value: ref = exp/log of the input in double (float
 * functions) or long double (double exp), ulp = the spacing of the result's
 * format at |ref| (subnormal spacing below the normal range).
 *   float exp: every float bit pattern in [-120, 0] with stride S (default 7:
 *     about 1.6e8 inputs; `test_vmath full` takes S = 1, every pattern),
 *     plus every pattern near the edges (the subnormal-result range around
 *     -87.3, 0, -0). Domain of the callers: x <= 0; x <= -120 (-inf
 *     included) must give +0 exactly (checked on a stride of the patterns
 *     below -120, and -inf). Positive inputs (not a caller's domain) are
 *     measured up to 88.7 and printed, not asserted.
 *   float log: every positive normal float with stride S, plus 1 +- a few
 *     ulps and the extremes (FLT_MIN, FLT_MAX).
 *   double exp: 2e6 uniform inputs (2e7 with `full`) in [-746, 709.78] plus the edges
 *     (subnormal results below -708.4, the overflow threshold 709.78,
 *     -inf -> 0, 0 -> 1).
 *   float exp_lo (AVX-512's calib__exp16_ps_lo, x <= 0): the float exp's
 *     inputs; relative error <= 1.7e-7 + 2.8e-9 |x| on normal results (the
 *     header of vmath.h: 1.65e-7 + 2.75e-9 |x| measured over every
 *     pattern), subnormal results within that relative error plus 0.51
 *     subnormal ulp; x <= -120 and -inf give +0, NaN gives NaN (row_regs'
 *     bad-row test relies on it).
 *   double exp_lo (AVX-512's calib__exp8_pd_lo, x <= 0): as many inputs in
 *     [-746, 0] plus the edges; relative error <= 1.65e-9 on normal results
 *     (the polynomial's 1.59e-9 and the roundings), subnormal results within
 *     1.6e-9 relative plus one subnormal ulp; -inf -> 0, -0 -> 1.
 * NaN and +inf are outside every helper's domain (the callers validate
 * first); what they give is printed, not asserted.
 * Bounds asserted: float exp 1.5 ulp (normal results), float log 1.5 ulp,
 * double exp 1.5 ulp; subnormal float exp results within 1 subnormal ulp,
 * subnormal double exp results within 1.1: a subnormal result is rounded
 * twice (v = 2^(j/16) e^r to double, then 2^m v to the subnormal grid, whose
 * spacing is at least twice v's), so the bound is 0.5 plus half of v's
 * error (table 0.5 + polynomial 0.05 + the last FMA 0.5 ulp): about 1.03.
 * AVX-512's degree-6 minimax polynomial measures 1.04 (its degree-7 Taylor
 * form happened to stay at 0.99).
 *
 * Usage: test_vmath [full]
 */
#include "harness.h"
#include "internal.h"
#include "kernels.h"
#include "vmath.h"
#include <float.h>

#define BLK 4096

static float bits_f(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }

/* ulp of the float format at |v| (v in double) */
static double ulp_f(double v) {
  v = fabs(v);
  if (v < 0x1p-126) return 0x1p-149;
  int e;
  frexp(v, &e); /* v = m 2^e, m in [0.5, 1) */
  return ldexp(1.0, e - 24);
}
static long double ulp_d(long double v) {
  v = fabsl(v);
  if (v < 0x1p-1022L) return 0x1p-1074L;
  int e;
  frexpl(v, &e);
  return ldexpl(1.0L, e - 53);
}

typedef struct {
  double max_ulp, at;
  double max_sub; /* subnormal results, in subnormal ulps */
  double at_sub;
  size_t count;
} stat_t;

static void stat_add(stat_t *s, double x, double err, int subnormal) {
  if (subnormal) {
    if (err > s->max_sub) { s->max_sub = err; s->at_sub = x; }
  } else if (err > s->max_ulp) {
    s->max_ulp = err; s->at = x;
  }
  s->count++;
}

/* visit(ctx, x, fn(x)) for the float bit patterns x in [lo, hi] (as uint32,
 * stepping by stride), fn called a block at a time */
static void each_f32(void (*fn)(const float *, size_t, float *), uint32_t lo, uint32_t hi, uint32_t stride,
                     void (*visit)(void *, float, float), void *ctx) {
  static float x[BLK], y[BLK];
  uint64_t b = lo;
  while (b <= hi) {
    size_t m = 0;
    for (; m < BLK && b <= hi; m++, b += stride) x[m] = bits_f((uint32_t)b);
    fn(x, m, y);
    for (size_t i = 0; i < m; i++) visit(ctx, x[i], y[i]);
  }
}

typedef struct {
  const char *name;
  stat_t *st;
  int check_zero;
} exp32_ctx;
static void visit_exp_f32(void *ctx, float x, float y) {
  const exp32_ctx *c = (const exp32_ctx *)ctx;
  if (c->check_zero) {
    th_checks++;
    if (!(y == 0.0f && !signbit(y))) TH_FAIL("%s exp_f32(%.9g) = %.9g, expected +0", c->name, (double)x, (double)y);
    return;
  }
  const double ref = exp((double)x);
  stat_add(c->st, (double)x, fabs((double)y - ref) / ulp_f(ref), ref < 0x1p-126);
}

/* Float exp over the bit patterns [lo, hi] (as uint32, stepping by stride). */
static void run_exp_f32(const calib__vmath_fns *f, uint32_t lo, uint32_t hi, uint32_t stride, stat_t *st,
                        int check_zero) {
  exp32_ctx c = {f->name, st, check_zero};
  each_f32(f->exp_f32, lo, hi, stride, visit_exp_f32, &c);
}

/* Float exp_lo over the bit patterns [lo, hi]: the largest relative error
 * beyond 2.8e-9 |x| of normal results (rel), and of subnormal results the
 * largest |y - ref| - ref (1.7e-7 + 2.8e-9 |x|) in subnormal ulps (sub). */
typedef struct {
  double rel, at, sub;
  size_t count;
} lo32_stat;
static void visit_exp_f32_lo(void *ctx, float xf, float yf) {
  lo32_stat *st = (lo32_stat *)ctx;
  const double x = (double)xf, ref = exp(x), ax = fabs(x), d = fabs((double)yf - ref);
  if (ref >= 0x1p-126) {
    const double rel = d / ref - 2.8e-9 * ax;
    if (rel > st->rel) { st->rel = rel; st->at = x; }
  } else {
    const double sub = (d - ref * (1.7e-7 + 2.8e-9 * ax)) / 0x1p-149;
    if (sub > st->sub) st->sub = sub;
  }
  st->count++;
}
static void run_exp_f32_lo(const calib__vmath_fns *f, uint32_t lo, uint32_t hi, uint32_t stride, lo32_stat *st) {
  each_f32(f->exp_f32_lo, lo, hi, stride, visit_exp_f32_lo, st);
}

static void visit_log_f32(void *ctx, float x, float y) {
  const double ref = log((double)x);
  const double err = ref == 0 ? fabs((double)y) / 0x1p-149 : fabs((double)y - ref) / ulp_f(ref);
  stat_add((stat_t *)ctx, (double)x, err, 0);
}
static void run_log_f32(const calib__vmath_fns *f, uint32_t lo, uint32_t hi, uint32_t stride, stat_t *st) {
  each_f32(f->log_f32, lo, hi, stride, visit_log_f32, st);
}

/* visit(ctx, x_i, fn(x_i), expl(x_i)) for every x_i, fn called a block at a time */
static void each_exp_f64(void (*fn)(const double *, size_t, double *), const double *x, size_t n,
                         void (*visit)(void *, double, double, long double), void *ctx) {
  static double y[BLK];
  for (size_t i0 = 0; i0 < n; i0 += BLK) {
    const size_t m = n - i0 < BLK ? n - i0 : BLK;
    fn(x + i0, m, y);
    for (size_t i = 0; i < m; i++) visit(ctx, x[i0 + i], y[i], expl((long double)x[i0 + i]));
  }
}

static void visit_ulp(void *ctx, double x, double y, long double ref) {
  stat_add((stat_t *)ctx, x, (double)(fabsl((long double)y - ref) / ulp_d(ref)), ref < 0x1p-1022L);
}

static void run_exp_f64(const calib__vmath_fns *f, const double *x, size_t n, stat_t *st) {
  each_exp_f64(f->exp_f64, x, n, visit_ulp, st);
}

/* exp_f64_lo: the largest relative error (against expl) of normal results
 * and where, and the largest absolute error of subnormal ones beyond 1.6e-9
 * relative, in subnormal ulps */
typedef struct {
  double rel, at, sub;
} lo_stat;

static void visit_lo(void *ctx, double x, double y, long double ref) {
  lo_stat *s = (lo_stat *)ctx;
  const long double d = fabsl((long double)y - ref);
  if (ref < 0x1p-1022L) {
    const double e = (double)(d / 0x1p-1074L) - (double)(1.6e-9L * ref / 0x1p-1074L);
    if (e > s->sub) s->sub = e;
  } else if ((double)(d / ref) > s->rel) {
    s->rel = (double)(d / ref);
    s->at = x;
  }
}

static const char *const NAMES[] = {"avx512", "avx2", "neon", "generic"};

int main(int argc, char **argv) {
  const int full = argc > 1 && strcmp(argv[1], "full") == 0;
  const uint32_t S = full ? 1u : 7u;
  th_srand(12);
  printf("test_vmath: stride %u over the float bit patterns\n", S);
  int tested = 0;
  for (size_t t = 0; t < sizeof NAMES / sizeof NAMES[0]; t++) {
    const calib__vmath_fns *f = calib__vmath_by_name(NAMES[t]);
    if (!f) {
      printf("%-8s not available on this machine/build\n", NAMES[t]);
      continue;
    }
    tested++;
    if (f->exp_f32) {
      /* x in [-120, 0]: -0.0 = 0x80000000 .. -120 = 0xC2F00000, every S-th,
       * plus every pattern in the edge windows */
      stat_t st = {0, 0, 0, 0, 0};
      run_exp_f32(f, 0x80000000u, 0xC2F00000u, S, &st, 0);
      run_exp_f32(f, 0x80000000u, 0x80000000u + 100000u, 1, &st, 0);                 /* -0 and tiny */
      run_exp_f32(f, 0xC2AEAC50u - 200000u, 0xC2AEAC50u + 200000u, 1, &st, 0);       /* ~-87.34: normal/subnormal */
      run_exp_f32(f, 0xC2CE8ED0u - 100000u, 0xC2CE8ED0u + 100000u, 1, &st, 0);       /* ~-103.3: smallest subnormal */
      run_exp_f32(f, 0xC2F00000u - 100000u, 0xC2F00000u, 1, &st, 0);                 /* up to -120 */
      run_exp_f32(f, 0x00000000u, 0x00000000u, 1, &st, 0);                           /* +0 */
      stat_t zero = {0, 0, 0, 0, 0};
      run_exp_f32(f, 0xC2F00001u, 0xFF800000u, full ? 1u : 997u, &zero, 1);            /* < -120 .. -inf: +0 */
      run_exp_f32(f, 0xFF800000u, 0xFF800000u, 1, &zero, 1);                         /* -inf */
      stat_t pos = {0, 0, 0, 0, 0};
      run_exp_f32(f, 0x00000001u, 0x42B17000u, S, &pos, 0);                           /* (0, 88.7]: reported */
      float sp[3] = {INFINITY, NAN, 89.0f}, so[3];
      f->exp_f32(sp, 3, so);
      printf("%-8s exp_f32  x<=0: max %.3f ulp at %.9g (%zu inputs); subnormal results max %.3f ulp "
             "at %.9g; x>0 (not asserted): %.3f ulp at %.9g; exp(+inf) = %g, exp(NaN) = %g, exp(89) = %g\n",
             f->name, st.max_ulp, st.at, st.count, st.max_sub, st.at_sub, pos.max_ulp, pos.at,
             (double)so[0], (double)so[1], (double)so[2]);
      CHECK(st.max_ulp <= 1.5);
      CHECK(st.max_sub <= 1.0);
    }
    if (f->log_f32) {
      stat_t st = {0, 0, 0, 0, 0};
      run_log_f32(f, 0x00800000u, 0x7F7FFFFFu, S, &st);
      run_log_f32(f, 0x3F800000u - 100000u, 0x3F800000u + 100000u, 1, &st); /* around 1 */
      run_log_f32(f, 0x00800000u, 0x00800000u + 1000u, 1, &st);             /* FLT_MIN */
      run_log_f32(f, 0x7F7FFFFFu - 1000u, 0x7F7FFFFFu, 1, &st);             /* FLT_MAX */
      float sp[4] = {INFINITY, NAN, 0.0f, 1e-40f}, so[4];
      f->log_f32(sp, 4, so);
      printf("%-8s log_f32  normal x>0: max %.3f ulp at %.9g (%zu inputs); log(+inf) = %g, log(NaN) = %g, "
             "log(0) = %g, log(1e-40) = %g (not asserted)\n",
             f->name, st.max_ulp, st.at, st.count, (double)so[0], (double)so[1], (double)so[2], (double)so[3]);
      CHECK(st.max_ulp <= 1.5);
    }
    if (f->exp_f64) {
      const size_t N = full ? 20000000 : 2000000;
      double *x = malloc(N * sizeof *x);
      CHECK(x != NULL);
      if (!x) continue;
      for (size_t i = 0; i < N; i++) x[i] = -746.0 + th_uniform() * (709.78 + 746.0);
      stat_t st = {0, 0, 0, 0, 0};
      run_exp_f64(f, x, N, &st);
      /* edges: the subnormal range, the overflow threshold, near 0 */
      size_t m = 0;
      for (int i = 0; i < 200000; i++) x[m++] = -745.0 + 37.0 * i / 200000.0; /* -745 .. -708 */
      for (int i = 0; i < 100000; i++) x[m++] = 709.78 - 1e-3 * i / 100000.0;
      for (int i = 0; i < 100000; i++) x[m++] = (i - 50000) * 1e-12;
      x[m++] = 0.0; x[m++] = -0.0; x[m++] = 709.78; x[m++] = -745.13; x[m++] = -708.3964;
      x[m++] = DBL_MIN; x[m++] = -DBL_MIN; x[m++] = 1e-300; x[m++] = 1.0; x[m++] = -1.0;
      run_exp_f64(f, x, m, &st);
      double sp[4] = {-INFINITY, INFINITY, NAN, -1e4}, so[4];
      f->exp_f64(sp, 4, so);
      th_checks++;
      if (!(so[0] == 0.0 && so[3] == 0.0)) TH_FAIL("%s exp_f64(-inf) = %g, exp(-1e4) = %g, expected 0", f->name, so[0], so[3]);
      printf("%-8s exp_f64  [-746, 709.78]: max %.3f ulp at %.17g (%zu inputs); subnormal results max %.3f ulp "
             "at %.17g; exp(-inf) = %g; exp(+inf) = %g, exp(NaN) = %g (not asserted)\n",
             f->name, st.max_ulp, st.at, st.count, st.max_sub, st.at_sub, so[0], so[1], so[2]);
      CHECK(st.max_ulp <= 1.5);
      CHECK(st.max_sub <= 1.1); /* two roundings: the header */
      free(x);
    }
    if (f->exp_f32_lo) {
      lo32_stat ls = {0, 0, 0, 0};
      run_exp_f32_lo(f, 0x80000000u, 0xC2F00000u, S, &ls);
      run_exp_f32_lo(f, 0x80000000u, 0x80000000u + 100000u, 1, &ls);           /* -0 and tiny */
      run_exp_f32_lo(f, 0xC2AEAC50u - 200000u, 0xC2AEAC50u + 200000u, 1, &ls); /* normal/subnormal */
      run_exp_f32_lo(f, 0xC2CE8ED0u - 100000u, 0xC2CE8ED0u + 100000u, 1, &ls); /* smallest subnormal */
      run_exp_f32_lo(f, 0xC2F00000u - 100000u, 0xC2F00000u, 1, &ls);           /* up to -120 */
      run_exp_f32_lo(f, 0x00000000u, 0x00000000u, 1, &ls);                     /* +0 */
      float sp[5] = {-INFINITY, -120.5f, -1e30f, NAN, -0.0f}, so[5];
      f->exp_f32_lo(sp, 5, so);
      th_checks++;
      if (!(so[0] == 0.0f && so[1] == 0.0f && so[2] == 0.0f && !signbit(so[0]) && isnan(so[3]) && so[4] == 1.0f))
        TH_FAIL("%s exp_f32_lo(-inf, -120.5, -1e30, NaN, -0) = %g %g %g %g %g, expected 0 0 0 NaN 1", f->name,
                (double)so[0], (double)so[1], (double)so[2], (double)so[3], (double)so[4]);
      printf("%-8s exp_f32_lo x<=0: max relative error beyond 2.8e-9 |x| %.3g at %.9g (%zu inputs); subnormal "
             "results within the relative bound + %.3f subnormal ulp\n", f->name, ls.rel, ls.at, ls.count, ls.sub);
      CHECK(ls.rel <= 1.7e-7);
      CHECK(ls.sub <= 0.51);
    }
    if (f->exp_f64_lo) { /* x <= 0; the polynomial's 1.59e-9 plus the double roundings */
      const size_t N = full ? 20000000 : 2000000;
      double *x = malloc((N + 300010) * sizeof *x);
      CHECK(x != NULL);
      if (!x) continue;
      for (size_t i = 0; i < N; i++) x[i] = -746.0 * th_uniform();
      size_t m = N;
      for (int i = 0; i < 200000; i++) x[m++] = -745.0 + 37.0 * i / 200000.0; /* subnormal results */
      for (int i = 0; i < 100000; i++) x[m++] = -1e-12 * i;                    /* near 0 */
      x[m++] = 0.0; x[m++] = -0.0; x[m++] = -745.13; x[m++] = -708.3964; x[m++] = -DBL_MIN; x[m++] = -1.0;
      x[m++] = -0.0216608493924982901; x[m++] = -0.0216608493924983; /* ln2/32: the reduction's edge */
      lo_stat ls = {0, 0, 0};
      each_exp_f64(f->exp_f64_lo, x, m, visit_lo, &ls);
      double sp[4] = {-INFINITY, -1e4, 0.0, -0.0}, so[4];
      f->exp_f64_lo(sp, 4, so);
      th_checks++;
      if (!(so[0] == 0.0 && so[1] == 0.0 && so[2] == 1.0 && so[3] == 1.0))
        TH_FAIL("%s exp_f64_lo(-inf, -1e4, 0, -0) = %g %g %g %g, expected 0 0 1 1", f->name, so[0], so[1], so[2], so[3]);
      printf("%-8s exp_f64_lo [-746, 0]: max relative error %.3g at %.17g (%zu inputs); subnormal results "
             "within 1.6e-9 relative + %.3f subnormal ulp\n", f->name, ls.rel, ls.at, m, ls.sub);
      CHECK(ls.rel <= 1.65e-9);
      CHECK(ls.sub <= 1.0);
      free(x);
    }
  }
  CHECK(tested >= 1);
  TEST_MAIN_END();
}
