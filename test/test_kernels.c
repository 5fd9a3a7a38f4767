/* test_kernels.c -- conformance of the softmax core.
 *
 * Every kernel table this CPU supports (scalar, avx2, avx512 via
 * calib__kernels_by_name) and the public calib_softmax / calib_log_softmax /
 * calib_sigmoid are compared with a float64 reference computed here:
 *   p_ij = exp(t_ij) / sum_j exp(t_ij),  t_ij = beta (x_ij - max_j x_ij)
 * on k = 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 1001 and several n, with
 * -inf entries, rows of +-1e30, subnormal inputs, a wide range (tiny
 * probabilities), beta != 1, contiguous / padded / in-place layouts (padding
 * must stay untouched), and sizes large enough for the large-output path
 * (chunks of rows with the output prefetched for writing).
 *
 * Tolerances, per probability: |p - ref| <= 1e-6 absolute, and
 * |p - ref| <= ref (2e-6 + 1.2e-7 |t|) + 3e-45 relative. The |t| term is the
 * rounding of the float32 argument t itself (2^-23 |t| relative in exp(t),
 * present in every float32 implementation, the scalar oracle included); it
 * only matters for probabilities below exp(-16) of the row maximum. 3e-45
 * is two subnormal spacings. Row sums within 1e-6 of 1. Log-softmax within
 * 1e-5 + 1.2e-7 |ref| (the second term: float32 cannot hold -2e30 to 1e-5).
 * ts_moments of each ISA against the scalar table to 1e-12 relative.
 * check_finite and ts_prepass of every table against references written
 * here (tolerances at their tests below).
 *
 * Error cases: NaN / +inf anywhere and all -inf rows give CALIB_E_NONFINITE
 * with the sentinel-filled output untouched; NULL, k == 0, ld < k, bad beta
 * and partial overlap give CALIB_E_ARG. CALIB_ISA forcing is checked in
 * child processes (this binary re-run with --print-isa).
 *
 * Usage: test_kernels [seed]
 */
#include "harness.h"
#include "internal.h"
#include "kernels.h"
#include <float.h>

#define SENTINEL 12345.0f

static const size_t KS[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 96, 113, 128, 1000, 1001};
static const char *const ISAS[] = {"scalar", "avx2", "avx512"};
static const float BETAS[] = {1.0f, 0.37f, 2.5f};

enum { D_NORMAL, D_NEGINF, D_HUGE, D_SUBNORMAL, D_WIDE, D_COUNT };
static const char *const DNAME[] = {"normal", "neginf", "huge", "subnormal", "wide"};

/* Fill row i of x (k values, ld stride); the padding gets SENTINEL. */
static void fill_row(float *r, size_t k, size_t ld, int kind) {
  for (size_t j = 0; j < k; j++) {
    float v = 0;
    switch (kind) {
    case D_NORMAL: v = (float)(3.0 * th_normal()); break;
    case D_NEGINF: v = th_uniform() < 0.3 ? -INFINITY : (float)(3.0 * th_normal()); break;
    case D_HUGE: {
      static const float h[] = {1e30f, -1e30f, 3e29f, -5e29f, 0.0f};
      v = h[th_next() % 5];
      break;
    }
    case D_SUBNORMAL: {
      const double u = th_uniform();
      v = u < 0.2 ? 0.0f : (float)((th_uniform() < 0.5 ? -1 : 1) * pow(10.0, -38.0 - 7.0 * u));
      break;
    }
    default: v = (float)(-100.0 * th_uniform()); break;
    }
    r[j] = v;
  }
  if (kind == D_NEGINF && th_uniform() < 0.5) r[th_next() % k] = (float)th_normal();
  if (kind == D_NEGINF) { /* at least one finite entry */
    size_t j = 0;
    while (j < k && r[j] == -INFINITY) j++;
    if (j == k) r[th_next() % k] = 0.5f;
  }
  for (size_t j = k; j < ld; j++) r[j] = SENTINEL;
}

/* Float64 reference of one row: t_j and p_j (or log p_j). */
static void ref_row(const float *r, size_t k, double beta, double *t, double *p, int logp) {
  double m = -INFINITY;
  for (size_t j = 0; j < k; j++) m = (double)r[j] > m ? (double)r[j] : m;
  double s = 0;
  for (size_t j = 0; j < k; j++) {
    t[j] = beta * ((double)r[j] - m);
    s += exp(t[j]);
  }
  const double ls = log(s);
  for (size_t j = 0; j < k; j++) p[j] = logp ? t[j] - ls : exp(t[j]) / s;
}

static int prob_ok(double p, double ref, double t) {
  const double d = fabs(p - ref);
  if (!(d <= 1e-6)) return 0;
  if (t == -INFINITY) return p == 0.0;
  return d <= ref * (2e-6 + 1.2e-7 * fabs(t)) + 3e-45;
}

static int logp_ok(double y, double ref) {
  if (ref == -INFINITY) return y == -INFINITY;
  return fabs(y - ref) <= 1e-5 + 1.2e-7 * fabs(ref);
}

typedef struct {
  const calib__kernels *kt; /* NULL: the public API */
  const char *name;
} path;

static int run_path(path pa, int logp, const float *x, size_t n, size_t k, size_t ldx, float beta,
                    float *y, size_t ldy) {
  if (!pa.kt)
    return logp ? calib_log_softmax(x, n, k, ldx, beta, y, ldy) : calib_softmax(x, n, k, ldx, beta, y, ldy);
  const int st = pa.kt->check_rows(x, n, k, ldx);
  if (st != CALIB_OK) return st;
  (logp ? pa.kt->log_softmax : pa.kt->softmax)(x, n, k, ldx, beta, y, ldy);
  return CALIB_OK;
}

/* One case: layout 0 contiguous, 1 padded, 2 in place (padded). Returns
 * the number of bad entries (prints the first few). */
static long one_case(path pa, int logp, size_t n, size_t k, int kind, float beta, int layout) {
  const size_t ldx = layout == 0 ? k : k + 3, ldy = layout == 0 ? k : layout == 1 ? k + 5 : ldx;
  float *x = malloc(sizeof(float) * (n * ldx + 1));
  float *ybuf = layout == 2 ? NULL : malloc(sizeof(float) * (n * ldy + 1));
  double *t = malloc(sizeof(double) * k), *rp = malloc(sizeof(double) * k);
  float *xcopy = malloc(sizeof(float) * (n * ldx + 1));
  if (!x || (!ybuf && layout != 2) || !t || !rp || !xcopy) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  for (size_t i = 0; i < n; i++) fill_row(x + i * ldx, k, ldx, kind);
  memcpy(xcopy, x, sizeof(float) * n * ldx);
  float *y = layout == 2 ? x : ybuf;
  if (layout != 2)
    for (size_t i = 0; i < n * ldy; i++) y[i] = SENTINEL;
  long bad = 0;
  const int st = run_path(pa, logp, x, n, k, ldx, beta, y, ldy);
  if (st != CALIB_OK) {
    fprintf(stderr, "%s %s n=%zu k=%zu %s: status %d\n", pa.name, logp ? "log_softmax" : "softmax", n, k,
            DNAME[kind], st);
    bad++;
  }
  for (size_t i = 0; i < n && st == CALIB_OK; i++) {
    ref_row(xcopy + i * ldx, k, (double)beta, t, rp, logp);
    const float *o = y + i * ldy;
    double sum = 0;
    for (size_t j = 0; j < k; j++) {
      const int ok = logp ? logp_ok((double)o[j], rp[j]) : prob_ok((double)o[j], rp[j], t[j]);
      sum += (double)o[j];
      if (!ok && bad++ < 5)
        fprintf(stderr, "%s %s n=%zu k=%zu %s beta=%g layout=%d: [%zu][%zu] x=%.9g got %.9g ref %.17g\n",
                pa.name, logp ? "log_softmax" : "softmax", n, k, DNAME[kind], (double)beta, layout, i, j,
                (double)xcopy[i * ldx + j], (double)o[j], rp[j]);
    }
    if (!logp && !(fabs(sum - 1.0) <= 1e-6) && bad++ < 5)
      fprintf(stderr, "%s softmax n=%zu k=%zu %s: row %zu sums to %.17g\n", pa.name, n, k, DNAME[kind], i, sum);
    for (size_t j = k; j < ldy; j++)
      if (o[j] != SENTINEL && bad++ < 5)
        fprintf(stderr, "%s n=%zu k=%zu layout=%d: padding [%zu][%zu] written\n", pa.name, n, k, layout, i, j);
  }
  /* not in place: the input must be unchanged */
  if (layout != 2 && memcmp(x, xcopy, sizeof(float) * n * ldx) != 0) {
    fprintf(stderr, "%s n=%zu k=%zu: input modified\n", pa.name, n, k);
    bad++;
  }
  free(x);
  free(ybuf);
  free(t);
  free(rp);
  free(xcopy);
  return bad;
}

static void test_paths(const path *paths, size_t np) {
  static const size_t NS[] = {1, 5, 37};
  for (size_t p = 0; p < np; p++)
    for (int logp = 0; logp < 2; logp++)
      for (size_t ki = 0; ki < sizeof KS / sizeof KS[0]; ki++)
        for (size_t ni = 0; ni < sizeof NS / sizeof NS[0]; ni++)
          for (int kind = 0; kind < D_COUNT; kind++) {
            const float beta = BETAS[(ki + ni + (size_t)kind) % 3];
            const int layout = (int)((ki + ni * 2 + (size_t)kind) % 3);
            const long bad = one_case(paths[p], logp, NS[ni], KS[ki], kind, beta, layout);
            CHECK(bad == 0);
            if (NS[ni] == 37 && kind == D_NORMAL) /* every layout on this size */
              for (int l = 0; l < 3; l++) CHECK(one_case(paths[p], logp, 37, KS[ki], D_NEGINF, 2.5f, l) == 0);
          }
}

/* Outputs of >= 4 MiB take the large-output path (chunks of whole row
 * blocks, the output prefetched for writing); inputs of more than 12 MiB
 * are also split (last 8 MiB of rows first). */
static void test_streaming(const path *paths, size_t np) {
  static const size_t shapes[][2] = {{70000, 16},  {140000, 7}, {4400, 250},
                                     {1100, 1001}, {400000, 3}, {1700000, 2}, {3300, 1001}};
  for (size_t p = 0; p < np; p++)
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
      for (int layout = 0; layout < 3; layout++) {
        if (paths[p].kt == &calib__kernels_scalar) continue; /* no streaming path there */
        const int logp = (int)((s + (size_t)layout) % 2);
        CHECK(one_case(paths[p], logp, shapes[s][0], shapes[s][1], D_NEGINF, 0.8f, layout) == 0);
      }
}

/* ---- sigmoid ------------------------------------------------------------- */

static long sigmoid_case(path pa, size_t n, float beta, int inplace) {
  float *x = malloc(sizeof(float) * (n + 1)), *y = malloc(sizeof(float) * (n + 2));
  float *xc = malloc(sizeof(float) * (n + 1));
  if (!x || !y || !xc) exit(2);
  for (size_t i = 0; i < n; i++) {
    const double u = th_uniform();
    x[i] = u < 0.05 ? -INFINITY : u < 0.1 ? INFINITY : u < 0.15 ? (th_uniform() < 0.5 ? 1e30f : -1e30f)
           : u < 0.2 ? 1e-40f : (float)(8.0 * th_normal());
  }
  memcpy(xc, x, sizeof(float) * n);
  for (size_t i = 0; i < n + 2; i++) y[i] = SENTINEL;
  float *out = inplace ? x : y;
  long bad = 0;
  if (pa.kt) {
    pa.kt->sigmoid(x, n, beta, out);
  } else if (calib_sigmoid(x, n, beta, out) != CALIB_OK) {
    return 1;
  }
  for (size_t i = 0; i < n; i++) {
    const double t = (double)beta * (double)xc[i];
    const double ref = t >= 0 ? 1.0 / (1.0 + exp(-t)) : exp(t) / (1.0 + exp(t));
    const double d = fabs((double)out[i] - ref);
    const double rel = isinf(t) ? 0.0 : ref * (2e-6 + 1.2e-7 * fabs(t));
    if (!(d <= 1e-6 && d <= rel + 3e-45) && bad++ < 5)
      fprintf(stderr, "%s sigmoid n=%zu: [%zu] x=%.9g got %.9g ref %.17g\n", pa.name, n, i, (double)xc[i],
              (double)out[i], ref);
  }
  if (!inplace && (y[n] != SENTINEL || y[n + 1] != SENTINEL)) bad++;
  free(x);
  free(y);
  free(xc);
  return bad;
}

static void test_sigmoid(const path *paths, size_t np) {
  static const size_t NS[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 1001};
  for (size_t p = 0; p < np; p++)
    for (size_t i = 0; i < sizeof NS / sizeof NS[0]; i++)
      CHECK(sigmoid_case(paths[p], NS[i], BETAS[i % 3], (int)(i % 2)) == 0);
}

/* ---- ts_moments ------------------------------------------------------------ */

static void test_ts_moments(void) {
  static const size_t ks[] = {2, 3, 7, 10, 17, 100, 1000, 2100};
  static const double betas[] = {0.3, 1.0, 2.7, 60.0};
  const calib__kernels *sc = calib__kernels_by_name("scalar");
  for (size_t a = 1; a < sizeof ISAS / sizeof ISAS[0]; a++) {
    const calib__kernels *kt = calib__kernels_by_name(ISAS[a]);
    if (!kt) continue;
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
      const size_t k = ks[ki], n = k > 500 ? 40 : 300, ld = k + (ki % 2);
      float *x = malloc(sizeof(float) * n * ld);
      int64_t *lab = malloc(sizeof(int64_t) * n);
      double *w = malloc(sizeof(double) * n);
      if (!x || !lab || !w) exit(2);
      double scale = 0;
      for (size_t i = 0; i < n; i++) {
        double mx = -INFINITY, mn = INFINITY;
        for (size_t j = 0; j < ld; j++) {
          x[i * ld + j] = (float)(4.0 * th_normal());
          if (j < k) {
            mx = fmax(mx, (double)x[i * ld + j]);
            mn = fmin(mn, (double)x[i * ld + j]);
          }
        }
        lab[i] = (int64_t)(th_next() % k);
        w[i] = th_uniform() < 0.1 ? 0.0 : 2.0 * th_uniform();
        scale += w[i] * (mx - mn) * (1.0 + mx - mn);
      }
      for (size_t bi = 0; bi < sizeof betas / sizeof betas[0]; bi++)
        for (int wmode = 0; wmode < 2; wmode++) {
          double ref[3] = {1.0, -2.0, 3.0}, got[3] = {1.0, -2.0, 3.0};
          sc->ts_moments(x, n, k, ld, lab, wmode ? w : NULL, betas[bi], ref);
          kt->ts_moments(x, n, k, ld, lab, wmode ? w : NULL, betas[bi], got);
          for (int c = 0; c < 3; c++) {
            th_checks++;
            if (!(fabs(got[c] - ref[c]) <= 1e-12 * (fabs(ref[c]) + 1e-3 * scale)))
              TH_FAIL("%s ts_moments k=%zu beta=%g w=%d acc[%d]: %.17g vs scalar %.17g", ISAS[a], k,
                      betas[bi], wmode, c, got[c], ref[c]);
          }
        }
      free(x);
      free(lab);
      free(w);
    }
  }
}

/* ---- ts_moments_fast --------------------------------------------------------
 * Every table's fast moments (a) against the scalar fast oracle to 1e-6
 * relative (of |ref| + 1e-3 * the data scale, as above), and (b) against the
 * exact scalar ts_moments within the bound the temperature fit relies on:
 * |acc1_fast - acc1| <= 2^-16 (acc0 / beta + |acc1|) (temperature.c,
 * FAST_RHO), and acc0 / acc2 within 1e-5 relative. k crosses the float-sum
 * block lengths (128 / 256 / 1024 entries). */
static void test_ts_moments_fast(void) {
  static const size_t ks[] = {2, 3, 7, 10, 17, 100, 129, 257, 1000, 1100, 2100};
  static const double betas[] = {0.05, 0.3, 1.0, 2.7, 60.0};
  const calib__kernels *sc = calib__kernels_by_name("scalar");
  for (size_t a = 0; a < sizeof ISAS / sizeof ISAS[0]; a++) {
    const calib__kernels *kt = calib__kernels_by_name(ISAS[a]);
    if (!kt) continue;
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
      const size_t k = ks[ki], n = k > 500 ? 40 : 300, ld = k + (ki % 2);
      float *x = malloc(sizeof(float) * n * ld);
      int64_t *lab = malloc(sizeof(int64_t) * n);
      double *w = malloc(sizeof(double) * n);
      if (!x || !lab || !w) exit(2);
      double scale = 0;
      for (size_t i = 0; i < n; i++) {
        double mx = -INFINITY, mn = INFINITY;
        const double sd = i % 3 == 0 ? 0.5 : 4.0; /* some peaked, some flat rows */
        for (size_t j = 0; j < ld; j++) {
          x[i * ld + j] = (float)(sd * th_normal() + (i % 5 == 0 ? 100.0 : 0.0));
          if (j < k) {
            mx = fmax(mx, (double)x[i * ld + j]);
            mn = fmin(mn, (double)x[i * ld + j]);
          }
        }
        lab[i] = (int64_t)(th_next() % k);
        w[i] = th_uniform() < 0.1 ? 0.0 : 2.0 * th_uniform();
        scale += w[i] * (mx - mn) * (1.0 + mx - mn);
      }
      for (size_t bi = 0; bi < sizeof betas / sizeof betas[0]; bi++)
        for (int wmode = 0; wmode < 2; wmode++) {
          const double *wp = wmode ? w : NULL, beta = betas[bi];
          double ref[3] = {1.0, -2.0, 3.0}, got[3] = {1.0, -2.0, 3.0}, ex[3] = {0, 0, 0};
          sc->ts_moments_fast(x, n, k, ld, lab, wp, beta, ref);
          kt->ts_moments_fast(x, n, k, ld, lab, wp, beta, got);
          sc->ts_moments(x, n, k, ld, lab, wp, beta, ex);
          for (int c = 0; c < 3; c++) {
            th_checks++;
            if (!(fabs(got[c] - ref[c]) <= 1e-6 * (fabs(ref[c]) + 1e-3 * scale)))
              TH_FAIL("%s ts_moments_fast k=%zu beta=%g w=%d acc[%d]: %.17g vs scalar %.17g", ISAS[a], k, beta,
                      wmode, c, got[c], ref[c]);
          }
          const double g = got[1] + 2.0, bound = 0x1p-16 * (fabs(ex[0]) / beta + fabs(ex[1]));
          th_checks += 3;
          if (!(fabs(g - ex[1]) <= bound))
            TH_FAIL("%s ts_moments_fast k=%zu beta=%g w=%d: gradient %.17g vs exact %.17g, bound %.3g", ISAS[a],
                    k, beta, wmode, g, ex[1], bound);
          if (!(fabs(got[0] - 1.0 - ex[0]) <= 1e-5 * fabs(ex[0]) + 1e-12))
            TH_FAIL("%s ts_moments_fast k=%zu beta=%g: nll %.17g vs exact %.17g", ISAS[a], k, beta, got[0] - 1.0,
                    ex[0]);
          if (!(fabs(got[2] - 3.0 - ex[2]) <= 1e-5 * fabs(ex[2]) + 1e-9 * scale))
            TH_FAIL("%s ts_moments_fast k=%zu beta=%g: var %.17g vs exact %.17g", ISAS[a], k, beta, got[2] - 3.0,
                    ex[2]);
        }
      free(x);
      free(lab);
      free(w);
    }
  }
}

/* ---- check_finite ------------------------------------------------------------
 * Every table against an entry-by-entry isfinite() reference: finite data mixing
 * +-0, subnormals, +-FLT_MAX and normals (padding set to NaN: never read) is
 * CALIB_OK; one NaN / +inf / -inf (or a NaN with the sign bit or a payload)
 * at every position of the first, middle and last row is CALIB_E_NONFINITE;
 * contiguous and padded strides; and long inputs with the bad entry on
 * either side of the kernels' 8192-entry verdict blocks. */

static float finite_draw(void) {
  const double u = th_uniform();
  if (u < 0.1) return th_uniform() < 0.5 ? FLT_MAX : -FLT_MAX;
  if (u < 0.2) return (float)((th_uniform() < 0.5 ? -1 : 1) * pow(10.0, -38.0 - 7.0 * th_uniform()));
  if (u < 0.25) return th_uniform() < 0.5 ? 0.0f : -0.0f;
  if (u < 0.3) return th_uniform() < 0.5 ? FLT_MIN : -0x1p-149f;
  return (float)(5.0 * th_normal());
}

static float bad_value(int b) {
  static const uint32_t nan_bits[] = {0xffc00000u, 0x7f800001u, 0xffffffffu};
  if (b == 0) return NAN;
  if (b == 1) return INFINITY;
  if (b == 2) return -INFINITY;
  float v;
  memcpy(&v, &nan_bits[(b - 3) % 3], sizeof v);
  return v;
}
#define N_BAD 6

static int ref_finite(const float *x, size_t n, size_t k, size_t ld) {
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < k; j++)
      if (!isfinite(x[i * ld + j])) return CALIB_E_NONFINITE;
  return CALIB_OK;
}

static void finite_fill(float *x, size_t n, size_t k, size_t ld) {
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < ld; j++) x[i * ld + j] = j < k ? finite_draw() : NAN;
}

static void test_check_finite_shapes(const calib__kernels *kt, const char *name) {
  for (size_t ki = 0; ki < sizeof KS / sizeof KS[0]; ki++)
    for (size_t pad = 0; pad < 3; pad++) {
      const size_t k = KS[ki], ld = k + (pad == 0 ? 0 : pad == 1 ? 1 : 5), n = 3;
      float *x = malloc(sizeof(float) * 37 * ld);
      if (!x) exit(2);
      finite_fill(x, 37, k, ld);
      for (size_t nn = 1; nn <= 37; nn += 18) CHECK(kt->check_finite(x, nn, k, ld) == CALIB_OK);
      CHECK(kt->check_finite(x, 0, k, ld) == CALIB_OK);
      long bad = 0;
      for (size_t row = 0; row < n; row++)
        for (size_t j = 0; j < k; j++)
          for (int b = 0; b < N_BAD; b++) {
            const float keep = x[row * ld + j];
            x[row * ld + j] = bad_value(b);
            const int st = kt->check_finite(x, n, k, ld);
            if (st != CALIB_E_NONFINITE || st != ref_finite(x, n, k, ld)) {
              if (bad++ < 5)
                TH_FAIL("%s check_finite k=%zu ld=%zu: bad value %d at [%zu][%zu] gave %d", name, k, ld, b, row, j, st);
              else th_failed++;
            }
            th_checks++;
            x[row * ld + j] = keep;
          }
      CHECK(kt->check_finite(x, n, k, ld) == CALIB_OK);
      free(x);
    }
}

static void test_check_finite_long(const calib__kernels *kt, const char *name) {
  static const size_t shapes[][3] = {{5000, 7, 7}, {5000, 7, 8}, {40, 1001, 1001}, {40, 1001, 1003},
                                     {20000, 1, 1}, {3, 9000, 9000}, {3, 9000, 9016}, {1, 30000, 30001}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const size_t n = shapes[s][0], k = shapes[s][1], ld = shapes[s][2], tot = n * k;
    float *x = malloc(sizeof(float) * n * ld);
    if (!x) exit(2);
    finite_fill(x, n, k, ld);
    CHECK(kt->check_finite(x, n, k, ld) == CALIB_OK);
    const size_t at[] = {0, 8191, 8192, 8193, 16383, 16384, tot / 2, tot - 9, tot - 1};
    for (size_t a = 0; a < sizeof at / sizeof at[0]; a++) {
      if (at[a] >= tot) continue;
      const size_t idx = at[a] / k * ld + at[a] % k;
      for (int b = 0; b < N_BAD; b++) {
        const float keep = x[idx];
        x[idx] = bad_value(b);
        th_checks++;
        if (kt->check_finite(x, n, k, ld) != CALIB_E_NONFINITE)
          TH_FAIL("%s check_finite n=%zu k=%zu ld=%zu: bad value %d at entry %zu missed", name, n, k, ld, b, at[a]);
        x[idx] = keep;
      }
    }
    CHECK(kt->check_finite(x, n, k, ld) == CALIB_OK);
    free(x);
  }
}

static void test_check_finite(void) {
  for (size_t a = 0; a < sizeof ISAS / sizeof ISAS[0]; a++) {
    const calib__kernels *kt = calib__kernels_by_name(ISAS[a]);
    if (!kt) continue;
    test_check_finite_shapes(kt, ISAS[a]);
    test_check_finite_long(kt, ISAS[a]);
  }
  /* the shared check (src/common/check.c) goes through the chosen table */
  float v[6] = {1, 2, 3, 4, 5, 6};
  CHECK(calib__check_finite(v, 2, 3, 3) == CALIB_OK);
  v[5] = -INFINITY;
  CHECK(calib__check_finite(v, 2, 3, 3) == CALIB_E_NONFINITE);
  CHECK(calib__check_finite(v, 2, 2, 3) == CALIB_OK); /* v[5] is padding */
}

/* ---- ts_prepass ------------------------------------------------------------------
 * Each table against a float64 reference written here (and so the scalar
 * table too): g = sum_i w_i (mean_j x_ij - x_{i,y_i}) over rows of non-zero
 * weight, to 1e-13 of sum_i w_i (mean_j |x_ij| + |x_{i,y_i}|); exactly for
 * integer-valued logits (row sums below 2^53 are exact in double, in any
 * order; float partial sums would lose 2^24 + 1); sep exactly, with the
 * label at, above or below the row maximum at every position (first,
 * middle and tail lanes), ties, -0 vs +0, and unseparable rows of zero
 * weight. */

static void ref_prepass(const float *x, size_t n, size_t k, size_t ld, const int64_t *y, const double *w,
                        double *g, int *sep, double *scale) {
  double acc = 0, sc = 0;
  int s = 1;
  for (size_t i = 0; i < n; i++) {
    const double wi = w ? w[i] : 1.0;
    if (wi == 0) continue;
    const float *r = x + i * ld;
    double sum = 0, asum = 0, mx = -INFINITY;
    for (size_t j = 0; j < k; j++) {
      sum += (double)r[j];
      asum += fabs((double)r[j]);
      mx = (double)r[j] > mx ? (double)r[j] : mx;
    }
    acc += wi * (sum / (double)k - (double)r[y[i]]);
    sc += wi * (asum / (double)k + fabs((double)r[y[i]]));
    s &= (double)r[y[i]] >= mx;
  }
  *g = acc;
  *sep = s;
  *scale = sc;
}

enum { P_NORMAL, P_INTEGER, P_EXTREME, P_SEPARABLE, P_COUNT };

static void prepass_fill(float *x, int64_t *y, double *w, size_t n, size_t k, size_t ld, int kind) {
  for (size_t i = 0; i < n; i++) {
    float *r = x + i * ld;
    for (size_t j = 0; j < ld; j++) {
      float v = (float)(4.0 * th_normal());
      if (kind == P_INTEGER) v = j == 0 && i % 2 ? 16777216.0f : (float)(int)(1000.0 * th_normal());
      if (kind == P_EXTREME) v = finite_draw();
      r[j] = j < k ? v : NAN; /* padding: never read */
    }
    y[i] = (int64_t)(th_next() % k);
    w[i] = i % 7 == 3 ? 0.0 : 0.25 + th_uniform();
    if (kind == P_SEPARABLE) { /* the label takes the row maximum (a tie half the time) */
      float mx = r[0];
      for (size_t j = 1; j < k; j++) mx = r[j] > mx ? r[j] : mx;
      if (th_uniform() < 0.5) r[y[i]] = mx + 1.0f;
      else r[y[i]] = mx;
    }
  }
}

static void prepass_case(const calib__kernels *kt, const char *name, size_t n, size_t k, size_t ld, int kind,
                         int weighted) {
  float *x = calloc(n * ld, sizeof(float));
  int64_t *y = calloc(n, sizeof(int64_t));
  double *w = calloc(n, sizeof(double));
  if (!x || !y || !w) exit(2);
  prepass_fill(x, y, w, n, k, ld, kind);
  const double *wp = weighted ? w : NULL;
  double g = -7, gr, sc;
  int sep = -7, sr;
  kt->ts_prepass(x, n, k, ld, y, wp, &g, &sep);
  ref_prepass(x, n, k, ld, y, wp, &gr, &sr, &sc);
  th_checks += 2;
  const double tol = kind == P_INTEGER ? 0.0 : 1e-13 * sc;
  if (!(fabs(g - gr) <= tol))
    TH_FAIL("%s ts_prepass n=%zu k=%zu ld=%zu kind=%d w=%d: g %.17g vs ref %.17g", name, n, k, ld, kind, weighted, g,
            gr);
  if (sep != sr) TH_FAIL("%s ts_prepass n=%zu k=%zu ld=%zu kind=%d: sep %d vs ref %d", name, n, k, ld, kind, sep, sr);
  if (kind == P_SEPARABLE) {
    CHECK(sr == 1);
    if (n > 1) { /* one row of weight 0 that is not separable changes nothing */
      w[0] = 0.0;
      x[(size_t)(y[0] + 1) % k] = x[y[0]] + 2.0f;
      kt->ts_prepass(x, n, k, ld, y, w, &g, &sep);
      CHECK(sep == 1);
    }
    /* a weighted row whose label is below the maximum, at every position */
    const size_t row = n - 1;
    w[row] = 1.0;
    float *r = x + row * ld;
    const float zy = r[y[row]];
    for (size_t j = 0; j < k; j++) {
      if ((int64_t)j == y[row]) continue;
      const float keep = r[j];
      r[j] = nextafterf(zy, INFINITY);
      kt->ts_prepass(x, n, k, ld, y, w, &g, &sep);
      th_checks++;
      if (sep != 0) TH_FAIL("%s ts_prepass k=%zu: label below the max at column %zu not seen", name, k, j);
      r[j] = zy; /* a tie keeps it separable */
      kt->ts_prepass(x, n, k, ld, y, w, &g, &sep);
      th_checks++;
      if (sep != 1) TH_FAIL("%s ts_prepass k=%zu: a tie at column %zu broke separability", name, k, j);
      r[j] = keep;
    }
    /* -0 label against a +0 maximum: equal, so separable */
    for (size_t j = 0; j < k; j++) r[j] = j == (size_t)y[row] ? -0.0f : (j % 2 ? -1.0f : 0.0f);
    kt->ts_prepass(x, n, k, ld, y, w, &g, &sep);
    CHECK(sep == 1);
  }
  free(x);
  free(y);
  free(w);
}

static void test_ts_prepass(void) {
  for (size_t a = 0; a < sizeof ISAS / sizeof ISAS[0]; a++) {
    const calib__kernels *kt = calib__kernels_by_name(ISAS[a]);
    if (!kt) continue;
    for (size_t ki = 0; ki < sizeof KS / sizeof KS[0]; ki++) {
      const size_t k = KS[ki];
      if (k < 2) continue;
      for (int kind = 0; kind < P_COUNT; kind++)
        for (size_t pad = 0; pad < 2; pad++) {
          const size_t ld = pad ? k + 3 : k, n = k > 500 ? 13 : 101;
          prepass_case(kt, ISAS[a], n, k, ld, kind, (int)((ki + pad + (size_t)kind) % 2));
          prepass_case(kt, ISAS[a], 1, k, ld, kind, 0);
        }
    }
    prepass_case(kt, ISAS[a], 20000, 10, 10, P_NORMAL, 1);
    prepass_case(kt, ISAS[a], 50, 4100, 4101, P_INTEGER, 1);
  }
}

/* ---- ts_first ---------------------------------------------------------------------
 * Each table's fused first pass against the same table's own check_finite,
 * ts_prepass and ts_moments (which the tests above check against references):
 * the same g, sep and sums (equal doubles; NaN where ts_moments gives NaN on
 * extreme rows), CALIB_OK on finite input with NaN padding (never read), and
 * CALIB_E_NONFINITE for a NaN, +inf or -inf at the first, a middle or the last
 * entry of the first, a middle or the last row, a row of weight 0 included. */

static int same_double(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* ts_first with row records (kernels.h: CALIB__TS_REC) gives the same sums as
 * without, and each row's record (every row, weight 0 included) against a
 * long-double reference: the sum of e_j and of e_j^2 to 1e-13 relative (a
 * double exp is within an ulp or two, the sums are of positive terms), the
 * label's exponent beta (x_y - max) exactly, and the flag "the label is the
 * first index of the row maximum" exactly (P_INTEGER rows have ties). */
static void records_case(const calib__kernels *kt, const char *name, const float *x, size_t n, size_t k,
                         size_t ld, const int64_t *y, const double *wp, double beta, const double acc0[3],
                         double g0, int sep0) {
  double *rec = malloc(n * CALIB__TS_REC * sizeof(double)), acc[3] = {0, 0, 0}, g = -7;
  int sep = -7;
  if (!rec) exit(2);
  th_checks++;
  if (kt->ts_first(x, n, k, ld, y, wp, beta, acc, &g, &sep, rec) != CALIB_OK || g != g0 || sep != sep0 ||
      !same_double(acc[0], acc0[0]) || !same_double(acc[1], acc0[1]) || !same_double(acc[2], acc0[2]))
    TH_FAIL("%s ts_first with records n=%zu k=%zu: the sums differ from those without", name, n, k);
  for (size_t i = 0; i < n; i++) {
    const float *r = x + i * ld;
    size_t top = 0;
    for (size_t j = 1; j < k; j++)
      if (r[j] > r[top]) top = j;
    const double m = (double)r[top];
    long double s0 = 0, q = 0;
    for (size_t j = 0; j < k; j++) {
      const long double e = expl((long double)beta * ((long double)r[j] - (long double)m));
      s0 += e;
      q += e * e;
    }
    const double *c = rec + i * CALIB__TS_REC, t = beta * ((double)r[y[i]] - m);
    const double want3 = top == (size_t)y[i] ? 1.0 : 0.0;
    th_checks += 4;
    if (!(fabs(c[0] - (double)s0) <= 1e-13 * (double)s0 && fabs(c[1] - (double)q) <= 1e-13 * (double)q &&
          c[2] == t && c[3] == want3))
      TH_FAIL("%s ts_first record n=%zu k=%zu ld=%zu beta=%g row %zu: (%.17g %.17g %.17g %g) vs (%.17Lg %.17Lg "
              "%.17g %g)", name, n, k, ld, beta, i, c[0], c[1], c[2], c[3], s0, q, t, want3);
  }
  free(rec);
}

static void first_case(const calib__kernels *kt, const char *name, size_t n, size_t k, size_t ld, int kind,
                       int weighted, double beta) {
  float *x = calloc(n * ld, sizeof(float));
  int64_t *y = calloc(n, sizeof(int64_t));
  double *w = calloc(n, sizeof(double));
  if (!x || !y || !w) exit(2);
  prepass_fill(x, y, w, n, k, ld, kind);
  const double *wp = weighted ? w : NULL;
  double acc[3] = {0, 0, 0}, ref[3] = {0, 0, 0}, g = -7, gr = -8;
  int sep = -7, sr = -8;
  CHECK(kt->check_finite(x, n, k, ld) == CALIB_OK);
  kt->ts_prepass(x, n, k, ld, y, wp, &gr, &sr);
  kt->ts_moments(x, n, k, ld, y, wp, beta, ref);
  const int st = kt->ts_first(x, n, k, ld, y, wp, beta, acc, &g, &sep, NULL);
  th_checks += 4;
  if (st != CALIB_OK) TH_FAIL("%s ts_first n=%zu k=%zu ld=%zu kind=%d: finite input refused", name, n, k, ld, kind);
  if (!(g == gr && sep == sr))
    TH_FAIL("%s ts_first n=%zu k=%zu ld=%zu kind=%d: g %.17g sep %d vs ts_prepass %.17g %d", name, n, k, ld, kind, g,
            sep, gr, sr);
  for (int q = 0; q < 3; q++)
    if (!same_double(acc[q], ref[q]))
      TH_FAIL("%s ts_first n=%zu k=%zu ld=%zu kind=%d beta=%g: acc[%d] %.17g vs ts_moments %.17g", name, n, k, ld,
              kind, beta, q, acc[q], ref[q]);
  records_case(kt, name, x, n, k, ld, y, wp, beta, acc, g, sep);
  static const float bad[3] = {NAN, INFINITY, -INFINITY};
  const size_t rows[3] = {0, n / 2, n - 1}, cols[3] = {0, k / 2, k - 1};
  for (int b = 0; b < 3; b++)
    for (int ri = 0; ri < 3; ri++)
      for (int ci = 0; ci < 3; ci++) {
        float *e = x + rows[ri] * ld + cols[ci];
        const float keep = *e;
        const double wkeep = w[rows[ri]];
        if (ci == 1) w[rows[ri]] = 0.0; /* a row of weight 0 is checked too */
        *e = bad[b];
        th_checks++;
        if (kt->ts_first(x, n, k, ld, y, wp, beta, acc, &g, &sep, NULL) != CALIB_E_NONFINITE)
          TH_FAIL("%s ts_first n=%zu k=%zu ld=%zu: bad value %d at [%zu][%zu] missed", name, n, k, ld, b, rows[ri],
                  cols[ci]);
        *e = keep;
        w[rows[ri]] = wkeep;
      }
  free(x);
  free(y);
  free(w);
}

static void test_ts_first(void) {
  for (size_t a = 0; a < sizeof ISAS / sizeof ISAS[0]; a++) {
    const calib__kernels *kt = calib__kernels_by_name(ISAS[a]);
    if (!kt) continue;
    for (size_t ki = 0; ki < sizeof KS / sizeof KS[0]; ki++) {
      const size_t k = KS[ki];
      if (k < 2) continue;
      for (int kind = 0; kind < P_COUNT; kind++)
        for (size_t pad = 0; pad < 2; pad++) {
          const size_t ld = pad ? k + 3 : k, n = k > 500 ? 13 : 101;
          first_case(kt, ISAS[a], n, k, ld, kind, (int)((ki + pad + (size_t)kind) % 2), 1.0);
          first_case(kt, ISAS[a], n, k, ld, kind, 1, 0.37);
          first_case(kt, ISAS[a], 1, k, ld, kind, 0, 1.0);
        }
    }
    first_case(kt, ISAS[a], 50, 4100, 4101, P_NORMAL, 1, 1.0);
  }
}

/* ---- errors ------------------------------------------------------------------- */

static int untouched(const float *y, size_t cnt) {
  for (size_t i = 0; i < cnt; i++)
    if (y[i] != SENTINEL) return 0;
  return 1;
}

/* prob_sumsq_argmax of every table that has one (NEON: NULL) against a
 * long-double sum of the squares and the first index of the maximum, on
 * probability-like rows with ties at the maximum (first, middle, last,
 * several), at every start offset mod 16 floats and k across the vector
 * widths. Each square is exact in double and k <= 1100 terms of at most 1:
 * the double sums agree to k ulps of the total. */
static void test_prob_sumsq_argmax(void) {
  static const size_t ks[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 1000, 1031};
  float *buf = malloc((1100 + 16) * sizeof(float));
  if (!buf) { CHECK(0); return; }
  for (size_t a = 0; a < sizeof ISAS / sizeof ISAS[0]; a++) {
    const calib__kernels *kt = calib__kernels_by_name(ISAS[a]);
    if (!kt) continue;
    if (!kt->prob_sumsq_argmax) { CHECK(strcmp(ISAS[a], "neon") == 0); continue; }
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++)
      for (size_t off = 0; off < 16; off++)
        for (int tie = 0; tie < 4; tie++) {
          const size_t k = ks[t];
          float *r = buf + off;
          for (size_t j = 0; j < k; j++) r[j] = (float)th_uniform() * 0.5f;
          size_t want = (size_t)(th_uniform() * (double)k) % k;
          if (tie == 1) want = 0;
          if (tie == 2) want = k - 1;
          r[want] = 0.75f;
          if (tie == 3 && want + 1 < k) r[k - 1] = 0.75f; /* a later tie: the first index wins */
          long double s = 0;
          for (size_t j = 0; j < k; j++) s += (long double)r[j] * (long double)r[j];
          size_t top = (size_t)-1;
          const double got = kt->prob_sumsq_argmax(r, k, &top);
          CHECK(top == want);
          CHECK(fabs(got - (double)s) <= (double)k * 2.3e-16 * (double)s);
        }
  }
  free(buf);
}

/* The reference of top_label_rows: the entries' bits as unsigned integers,
 * the first index of the largest, or (size_t)-1 if some bits exceed 1.0's. */
static size_t top_label_ref(const float *r, size_t k) {
  uint32_t best = 0;
  size_t a = 0;
  for (size_t j = 0; j < k; j++) {
    uint32_t u;
    memcpy(&u, r + j, sizeof u);
    if (u > 0x3F800000u) return (size_t)-1;
    if (u > best) best = u, a = j;
  }
  return a;
}

/* top_label_rows of every table that has one (AVX2, AVX-512) against
 * top_label_ref on blocks of rows: probabilities with ties at the maximum
 * (first, last, several), all-zero rows, 1.0 and the largest float below
 * it, and in some rows one value the kernel must stop at (-0.0, a negative
 * value, 1 + 2^-23, NaN, +-inf): it returns that row's index, every arg
 * before it is the reference's, the stop row's arg and those after it are
 * untouched. k across the vector width, n not a multiple of anything. */
static void test_top_label_rows(void) {
  static const size_t ks[] = {1, 2, 3, 9, 10, 15, 16, 17, 31, 32, 33, 100, 1000};
  static const float bad[] = {-0.0f, -0.25f, 1.00000012f, NAN, INFINITY, -INFINITY};
  enum { N = 37 };
  float *buf = malloc(N * 1000 * sizeof(float));
  size_t arg[N];
  if (!buf) { CHECK(0); return; }
  for (size_t a = 0; a < sizeof ISAS / sizeof ISAS[0]; a++) {
    const calib__kernels *kt = calib__kernels_by_name(ISAS[a]);
    if (!kt) continue;
    if (!kt->top_label_rows) { CHECK(strcmp(ISAS[a], "scalar") == 0); continue; }
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++)
      for (int trial = 0; trial < 40; trial++) {
        const size_t k = ks[t];
        for (size_t i = 0; i < N; i++) {
          float *r = buf + i * k;
          const int kind = (int)(th_uniform() * 6.0);
          for (size_t j = 0; j < k; j++) r[j] = kind == 0 ? 0.0f : (float)th_uniform() * 0.5f;
          const size_t at = (size_t)(th_uniform() * (double)k) % k;
          if (kind == 1) r[at] = 1.0f;
          if (kind == 2) r[at] = 0.99999994f;
          if (kind == 3) r[0] = r[k - 1] = 0.75f; /* a later tie: the first index */
          if (kind == 4) r[at] = r[k - 1] = 0.625f;
        }
        size_t stop = N;
        if (trial % 3 == 0) { /* one bad entry in a random row */
          stop = (size_t)(th_uniform() * N) % N;
          buf[stop * k + (size_t)(th_uniform() * (double)k) % k] = bad[trial / 3 % 6];
        }
        for (size_t i = 0; i < N; i++) arg[i] = (size_t)-2;
        const size_t got = kt->top_label_rows(buf, N, k, arg);
        CHECK(got == stop);
        for (size_t i = 0; i < N; i++) {
          const size_t want = top_label_ref(buf + i * k, k);
          if (i < stop) CHECK(arg[i] == want);
          else CHECK(arg[i] == (size_t)-2);
          if (i == stop) CHECK(want == (size_t)-1);
        }
      }
  }
  free(buf);
}

#if defined(CALIB_HAVE_X86_KERNELS)
#include "applyd.h"
extern const calib__applyd calib__applyd_avx2, calib__applyd_avx512;

/* applyd's bin_prov_rows (fit_provenance.c, k == 1) of each x86 table this
 * CPU runs, against long double logl / log1pl and calib_bin_index: the NLL
 * term within 2 ulp (4.5e-16 relative), +inf exactly where p is 0 or 1
 * against its label; the bins exactly. Values: 0, subnormal floats, powers of
 * two around the exactness of 1 - p, 1/2 and its neighbours, every edge b/15
 * and b/20 rounded to float and its neighbours, 1 - 2^-24, 1, random. */
static void test_bin_prov_rows(void) {
  enum { N = 4099 }; /* not a multiple of 8: the tail */
  static float p[N];
  static int64_t y[N];
  static double t[N];
  static unsigned char be[N], br[N];
  double ee[16], er[21];
  for (int b = 0; b <= 15; b++) ee[b] = (double)b / 15.0;
  for (int b = 0; b <= 20; b++) er[b] = (double)b / 20.0;
  size_t n = 0;
  const float fixed[] = {0.0f, 0x1p-149f, 1e-40f, FLT_MIN, 1e-30f, 0x1p-60f, 0x1p-54f, 0x1p-53f, 0x1p-30f,
                         0x1p-29f, 0x1p-25f, 1e-8f, 0.1f, 0.25f, 0.5f, 0.75f, 1.0f - 0x1p-24f, 1.0f};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) p[n++] = fixed[i];
  p[n++] = nextafterf(0.5f, 0.0f);
  p[n++] = nextafterf(0.5f, 1.0f);
  for (int M = 15; M <= 20; M += 5)
    for (int b = 1; b < M; b++) {
      const float e = (float)((double)b / (double)M);
      p[n++] = e;
      p[n++] = nextafterf(e, 0.0f);
      p[n++] = nextafterf(e, 1.0f);
      p[n++] = 1.0f - e;
    }
  while (n < N) p[n++] = (float)th_uniform();
  for (int yl = 0; yl < 3; yl++) {
    for (size_t i = 0; i < N; i++) y[i] = yl < 2 ? yl : (int64_t)(th_uniform() < 0.5);
    const calib__applyd *tabs[2] = {calib__kernels_by_name("avx2") ? &calib__applyd_avx2 : NULL,
                                    calib__kernels_by_name("avx512") ? &calib__applyd_avx512 : NULL};
    for (int a = 0; a < 2; a++) {
      if (!tabs[a]) continue;
      memset(t, 0, sizeof t);
      tabs[a]->bin_prov_rows(p, y, N, ee, 15, er, 20, t, be, br);
      long bad = 0;
      for (size_t i = 0; i < N; i++) {
        const long double q = (long double)p[i];
        const long double ref = y[i] == 1 ? -logl(q) : -log1pl(-q);
        const double conf = p[i] > 0.5f ? (double)p[i] : 1.0 - (double)p[i];
        int ok = isinf(ref) ? isinf(t[i]) && t[i] > 0
                            : fabsl((long double)t[i] - ref) <= 4.5e-16L * fabsl(ref) + 1e-300L;
        ok = ok && be[i] == calib_bin_index(conf, 15) && br[i] == calib_bin_index(conf, 20);
        if (!ok && bad++ < 5)
          printf("bin_prov_rows %s: p = %a y = %d: t = %.17g (ref %.17Lg), bins %d %d (ref %zu %zu)\n",
                 tabs[a]->name, (double)p[i], (int)y[i], t[i], ref, be[i], br[i], calib_bin_index(conf, 15),
                 calib_bin_index(conf, 20));
        CHECK(ok);
      }
    }
  }
}
#else
static void test_bin_prov_rows(void) {}
#endif

static void test_errors(void) {
  enum { N = 130, K = 17 };
  static float x[N * K], y[N * K + 8];
  static const size_t ks[] = {1, 5, 16, 17, 100};
  for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
    const size_t k = ks[ki], n = N * K / k < 130 ? N * K / k : 130;
    for (int what = 0; what < 3; what++)
      for (int where = 0; where < 4; where++) {
        for (size_t i = 0; i < n * k; i++) x[i] = (float)th_normal();
        const size_t row = where == 0 ? 0 : where == 1 ? n / 2 : n - 1;
        const size_t col = where == 3 ? 0 : k - 1 - (size_t)where % k;
        if (what == 0) x[row * k + col] = NAN;
        if (what == 1) x[row * k + col] = INFINITY;
        if (what == 2)
          for (size_t j = 0; j < k; j++) x[row * k + j] = -INFINITY;
        for (size_t i = 0; i < n * k + 8; i++) y[i] = SENTINEL;
        CHECK_ERR(calib_softmax(x, n, k, 0, 1.0f, y, 0), CALIB_E_NONFINITE);
        CHECK_ERR(calib_log_softmax(x, n, k, k, 0.5f, y, k), CALIB_E_NONFINITE);
        CHECK(untouched(y, n * k + 8));
        for (size_t a = 0; a < sizeof ISAS / sizeof ISAS[0]; a++) {
          const calib__kernels *kt = calib__kernels_by_name(ISAS[a]);
          if (kt) CHECK_ERR(kt->check_rows(x, n, k, k), CALIB_E_NONFINITE);
        }
        /* in place: the input is the output, and must stay as it was */
        memcpy(y, x, sizeof(float) * n * k);
        CHECK_ERR(calib_softmax(x, n, k, k, 1.0f, x, k), CALIB_E_NONFINITE);
        CHECK_ERR(calib_log_softmax(x, n, k, k, 1.0f, x, k), CALIB_E_NONFINITE);
        CHECK(memcmp(x, y, sizeof(float) * n * k) == 0);
      }
  }
  /* -inf entries are fine as long as each row has a finite one */
  for (size_t i = 0; i < N * K; i++) x[i] = i % K == 3 ? 1.0f : -INFINITY;
  CHECK_OK(calib_softmax(x, N, K, K, 1.0f, y, K));
  CHECK(y[3] == 1.0f && y[0] == 0.0f);
  for (size_t i = 0; i < N * K; i++) x[i] = (float)th_normal();
  for (size_t i = 0; i < N * K + 8; i++) y[i] = SENTINEL;
  CHECK_ERR(calib_softmax(NULL, 2, K, K, 1.0f, y, K), CALIB_E_ARG);
  CHECK_ERR(calib_softmax(x, 2, K, K, 1.0f, NULL, K), CALIB_E_ARG);
  CHECK_ERR(calib_softmax(x, 2, 0, 0, 1.0f, y, 0), CALIB_E_ARG);
  CHECK_ERR(calib_softmax(x, 2, K, K - 1, 1.0f, y, K), CALIB_E_ARG);
  CHECK_ERR(calib_softmax(x, 2, K, K, 1.0f, y, K - 1), CALIB_E_ARG);
  CHECK_ERR(calib_softmax(x, 2, K, K, 0.0f, y, K), CALIB_E_ARG);
  CHECK_ERR(calib_softmax(x, 2, K, K, -1.0f, y, K), CALIB_E_ARG);
  CHECK_ERR(calib_softmax(x, 2, K, K, NAN, y, K), CALIB_E_ARG);
  CHECK_ERR(calib_softmax(x, 2, K, K, INFINITY, y, K), CALIB_E_ARG);
  CHECK_ERR(calib_log_softmax(x, 2, K, K, -0.5f, y, K), CALIB_E_ARG);
  CHECK_ERR(calib_log_softmax(NULL, 2, K, K, 1.0f, y, K), CALIB_E_ARG);
  CHECK(untouched(y, N * K + 8));
  /* partial overlap, and in place with different strides */
  CHECK_ERR(calib_softmax(x, 4, K, K, 1.0f, x + 1, K), CALIB_E_ARG);
  CHECK_ERR(calib_softmax(x + 5, 4, K, K, 1.0f, x, K), CALIB_E_ARG);
  CHECK_ERR(calib_softmax(x, 4, K, K + 1, 1.0f, x, K), CALIB_E_ARG);
  CHECK_ERR(calib_log_softmax(x, 4, K, K, 1.0f, x + K, K), CALIB_E_ARG);
  CHECK_ERR(calib_sigmoid(x, 4, 1.0f, x + 1), CALIB_E_ARG);
  /* n == 0 is a successful no-op */
  CHECK_OK(calib_softmax(x, 0, K, K, 1.0f, y, K));
  CHECK_OK(calib_log_softmax(NULL, 0, K, 0, 1.0f, NULL, 0));
  CHECK_OK(calib_sigmoid(NULL, 0, 1.0f, NULL));
  CHECK(untouched(y, N * K + 8));
  /* sigmoid: NaN is an error with nothing written; +-inf are fine */
  x[7] = NAN;
  CHECK_ERR(calib_sigmoid(x, 20, 1.0f, y), CALIB_E_NONFINITE);
  CHECK(untouched(y, N * K + 8));
  CHECK_ERR(calib_sigmoid(x, 20, 0.0f, y), CALIB_E_ARG);
  CHECK_ERR(calib_sigmoid(NULL, 20, 1.0f, y), CALIB_E_ARG);
  x[7] = -INFINITY;
  x[8] = INFINITY;
  CHECK_OK(calib_sigmoid(x, 20, 1.0f, y));
  CHECK(y[7] == 0.0f && y[8] == 1.0f);
}

/* ---- CALIB_ISA forcing (child processes) ----------------------------------------- */

static int child_isa(const char *self, const char *env, char *out, size_t cap) {
  char cmd[4096];
  if (env)
    snprintf(cmd, sizeof cmd, "env CALIB_ISA=%s '%s' --print-isa", env, self);
  else
    snprintf(cmd, sizeof cmd, "env -u CALIB_ISA '%s' --print-isa", self);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  out[0] = 0;
  if (!fgets(out, (int)cap, p)) out[0] = 0;
  const int st = pclose(p);
  out[strcspn(out, "\n")] = 0;
  return st;
}

static int print_isa_child(void) {
  /* use the chosen path once, then report it */
  float v[3] = {1, 2, 3}, o[3];
  if (calib_softmax(v, 1, 3, 3, 1.0f, o, 3) != CALIB_OK || !(fabsf(o[0] + o[1] + o[2] - 1.0f) < 1e-5f)) return 1;
  printf("%s\n", calib_isa());
  return 0;
}

static void test_isa_forcing(const char *self) {
  char detected[64], got[64];
  CHECK(child_isa(self, NULL, detected, sizeof detected) == 0);
  CHECK(calib__kernels_by_name(detected) != NULL);
  printf("detected isa: %s\n", detected);
  for (size_t a = 0; a < sizeof ISAS / sizeof ISAS[0]; a++) {
    CHECK(child_isa(self, ISAS[a], got, sizeof got) == 0);
    const char *want = calib__kernels_by_name(ISAS[a]) ? ISAS[a] : detected;
    th_checks++;
    if (strcmp(got, want) != 0) TH_FAIL("CALIB_ISA=%s gave '%s', expected '%s'", ISAS[a], got, want);
  }
  CHECK(child_isa(self, "bogus", got, sizeof got) == 0);
  CHECK(strcmp(got, detected) == 0);
  CHECK(child_isa(self, "", got, sizeof got) == 0);
  CHECK(strcmp(got, detected) == 0);
  CHECK(calib__kernels_by_name("bogus") == NULL);
  CHECK(calib__kernels_by_name(NULL) == NULL);
  CHECK(calib__kernels_by_name("scalar") == &calib__kernels_scalar);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--print-isa") == 0) return print_isa_child();
  th_srand(test_seed(argc, argv));
  path paths[4];
  size_t np = 0;
  for (size_t a = 0; a < sizeof ISAS / sizeof ISAS[0]; a++) {
    const calib__kernels *kt = calib__kernels_by_name(ISAS[a]);
    if (kt) {
      paths[np].kt = kt;
      paths[np++].name = ISAS[a];
      CHECK(strcmp(kt->name, ISAS[a]) == 0);
    } else {
      printf("isa %s: not available on this CPU/build (not tested)\n", ISAS[a]);
    }
  }
  paths[np].kt = NULL;
  paths[np++].name = "public";
  printf("public path uses isa %s\n", calib_isa());
  test_paths(paths, np);
  test_streaming(paths, np);
  test_sigmoid(paths, np);
  test_ts_moments();
  test_ts_moments_fast();
  test_check_finite();
  test_ts_prepass();
  test_ts_first();
  test_prob_sumsq_argmax();
  test_top_label_rows();
  test_bin_prov_rows();
  test_errors();
  test_isa_forcing(argv[0]);
  TEST_MAIN_END();
}
