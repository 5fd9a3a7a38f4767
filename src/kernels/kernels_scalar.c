/* kernels_scalar.c -- the scalar kernels: always built, the oracle every SIMD
 * path is tested against, and the firmware core's only path.
 * Softmax rows are computed as exp((x_j - m) * beta) with m the row maximum of
 * the unscaled x: (x_j - m) <= 0, so beta * x overflowing to +inf (huge beta
 * or |x|) can never produce inf - inf = NaN; -inf entries give 0. */
#include "internal.h"
#include "kernels.h"
#include <math.h>

/* Caller arrays may start at any byte address: every row is read and
 * written through calib__f32u (kernels.h), never a dereferenced float *. */
typedef const calib__f32u *crow;
typedef calib__f32u *wrow;

static int check_rows_scalar(const float *x, size_t n, size_t k, size_t ldx) {
  for (size_t i = 0; i < n; i++) {
    crow r = x + i * ldx;
    int any_finite = 0;
    for (size_t j = 0; j < k; j++) {
      const float v = r[j];
      if (v != v || v == INFINITY) return CALIB_E_NONFINITE;
      any_finite |= v != -INFINITY;
    }
    if (!any_finite) return CALIB_E_NONFINITE;
  }
  return CALIB_OK;
}

static float row_max(crow r, size_t k) {
  float m = r[0];
  for (size_t j = 1; j < k; j++) m = r[j] > m ? r[j] : m;
  return m;
}

static void softmax_row(crow r, size_t k, float beta, wrow o) {
  const float m = row_max(r, k);
  double s = 0.0;
  for (size_t j = 0; j < k; j++) {
    const float e = expf((r[j] - m) * beta);
    o[j] = e;
    s += (double)e;
  }
  const float inv = (float)(1.0 / s);
  for (size_t j = 0; j < k; j++) o[j] *= inv;
}

static void softmax_scalar(const float *x, size_t n, size_t k, size_t ldx,
                           float beta, float *y, size_t ldy) {
  for (size_t i = 0; i < n; i++) softmax_row(x + i * ldx, k, beta, y + i * ldy);
}

/* The oracle of the row-wise mode: the row test of check_rows_scalar, then
 * either the strict row (bit-identical) or k quiet NaNs. */
static int row_bad(crow r, size_t k) {
  int any_finite = 0;
  for (size_t j = 0; j < k; j++) {
    const float v = r[j];
    if (v != v || v == INFINITY) return 1;
    any_finite |= v != -INFINITY;
  }
  return !any_finite;
}

static size_t softmax_rows_scalar(const float *x, size_t n, size_t k, size_t ldx, float beta,
                                  float *y, size_t ldy, uint8_t *status, size_t *first_bad) {
  size_t bad = 0;
  *first_bad = n;
  for (size_t i = 0; i < n; i++) {
    crow r = x + i * ldx;
    wrow o = y + i * ldy;
    const int b = row_bad(r, k);
    if (status) status[i] = b ? CALIB__ROW_BAD : 0;
    if (!b) {
      softmax_row(r, k, beta, o);
      continue;
    }
    for (size_t j = 0; j < k; j++) o[j] = NAN;
    if (bad++ == 0) *first_bad = i;
  }
  return bad;
}

static void log_softmax_row(crow r, size_t k, float beta, wrow o) {
  const float m = row_max(r, k);
  double s = 0.0;
  for (size_t j = 0; j < k; j++) s += (double)expf((r[j] - m) * beta);
  const float ls = (float)log(s);
  for (size_t j = 0; j < k; j++) o[j] = (r[j] - m) * beta - ls;
}

static void log_softmax_scalar(const float *x, size_t n, size_t k, size_t ldx,
                               float beta, float *y, size_t ldy) {
  for (size_t i = 0; i < n; i++) log_softmax_row(x + i * ldx, k, beta, y + i * ldy);
}

static size_t log_softmax_rows_scalar(const float *x, size_t n, size_t k, size_t ldx, float beta,
                                      float *y, size_t ldy, uint8_t *status, size_t *first_bad) {
  size_t bad = 0;
  *first_bad = n;
  for (size_t i = 0; i < n; i++) {
    crow r = x + i * ldx;
    wrow o = y + i * ldy;
    const int b = row_bad(r, k);
    if (status) status[i] = b ? CALIB__ROW_BAD : 0;
    if (!b) {
      log_softmax_row(r, k, beta, o);
      continue;
    }
    for (size_t j = 0; j < k; j++) o[j] = NAN;
    if (bad++ == 0) *first_bad = i;
  }
  return bad;
}

static float sigmoid_one(float v, float beta) {
  const float t = v * beta;
  if (t >= 0) return 1.0f / (1.0f + expf(-t));
  const float e = expf(t);
  return e / (1.0f + e);
}

static void sigmoid_scalar(const float *xf, size_t n, float beta, float *yf) {
  crow x = xf;
  wrow y = yf;
  for (size_t i = 0; i < n; i++) y[i] = sigmoid_one(x[i], beta);
}

static size_t sigmoid_rows_scalar(const float *xf, size_t n, float beta, float *yf,
                                  uint8_t *status, size_t *first_bad) {
  crow x = xf;
  wrow y = yf;
  size_t bad = 0;
  *first_bad = n;
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    const int b = v != v;
    if (status) status[i] = b ? CALIB__ROW_BAD : 0;
    if (!b) {
      y[i] = sigmoid_one(v, beta);
      continue;
    }
    y[i] = NAN;
    if (bad++ == 0) *first_bad = i;
  }
  return bad;
}

static void ts_moments_scalar(const float *x, size_t n, size_t k, size_t ldx,
                              const int64_t *y, const double *w, double beta,
                              double acc[3]) {
  double aL = 0, aG = 0, aH = 0;
  for (size_t i = 0; i < n; i++) {
    crow r = x + i * ldx;
    const double wi = w ? w[i] : 1.0;
    if (wi == 0) continue;
    const double m = (double)row_max(r, k);
    double s0 = 0, s1 = 0;
    for (size_t j = 0; j < k; j++) {
      const double dj = (double)r[j] - m, e = exp(beta * dj);
      s0 += e;
      s1 += e * dj;
    }
    const double mu = s1 / s0;
    double s2 = 0;
    for (size_t j = 0; j < k; j++) {
      const double dj = (double)r[j] - m, e = exp(beta * dj);
      s2 += e * (dj - mu) * (dj - mu);
    }
    const double dy = (double)r[y[i]] - m;
    aL += wi * (log(s0) - beta * dy);
    aG += wi * (mu - dy);
    aH += wi * (s2 / s0);
  }
  acc[0] += aL;
  acc[1] += aG;
  acc[2] += aH;
}

/* The oracle of ts_moments_fast (kernels.h): float d, t and exp, sums in double. */
static void ts_moments_fast_scalar(const float *x, size_t n, size_t k, size_t ldx,
                                   const int64_t *y, const double *w, double beta,
                                   double acc[3]) {
  double aL = 0, aG = 0, aH = 0;
  for (size_t i = 0; i < n; i++) {
    crow r = x + i * ldx;
    const double wi = w ? w[i] : 1.0;
    if (wi == 0) continue;
    const float m = row_max(r, k);
    double s0 = 0, s1 = 0, s2 = 0;
    for (size_t j = 0; j < k; j++) {
      const float d = r[j] - m;
      const double e = (double)expf((float)(beta * (double)d)), ed = e * (double)d;
      s0 += e;
      s1 += ed;
      s2 += ed * (double)d;
    }
    const double mu = s1 / s0, var = s2 / s0 - mu * mu;
    const double dy = (double)r[y[i]] - (double)m;
    aL += wi * (log(s0) - beta * dy);
    aG += wi * (mu - dy);
    aH += wi * (var > 0 ? var : 0.0);
  }
  acc[0] += aL;
  acc[1] += aG;
  acc[2] += aH;
}

static int check_finite_scalar(const float *x, size_t n, size_t k, size_t ldx) {
  for (size_t i = 0; i < n; i++) {
    crow r = x + i * ldx;
    for (size_t j = 0; j < k; j++)
      if (!isfinite(r[j])) return CALIB_E_NONFINITE;
  }
  return CALIB_OK;
}

static void ts_prepass_scalar(const float *x, size_t n, size_t k, size_t ldx, const int64_t *y,
                              const double *w, double *g, int *sep) {
  double acc = 0;
  int s = 1;
  for (size_t i = 0; i < n; i++) {
    const double wi = w ? w[i] : 1.0;
    if (wi == 0) continue;
    crow r = x + i * ldx;
    double sum = 0;
    for (size_t j = 0; j < k; j++) sum += (double)r[j];
    const float zy = r[y[i]];
    acc += wi * (sum / (double)k - (double)zy);
    s &= zy >= row_max(r, k);
  }
  *g = acc;
  *sep = s;
}

/* ts_first (kernels.h) as check_finite, ts_prepass and ts_moments of this
 * table give it, row by row. Not in the firmware core (no fitter there, and
 * its .text budget: make size-report): NULL in its table. */
#ifndef CALIB_CORE
/* ts_first's row record (kernels.h) of row r, plainly: the sums in order,
 * the first index of the maximum by a scan. */
static void ts_record_scalar(crow r, size_t k, size_t c, double beta, double *rec) {
  const double m = (double)row_max(r, k);
  double s0 = 0, q = 0;
  size_t top = 0;
  for (size_t j = 0; j < k; j++) {
    const double e = exp(beta * ((double)r[j] - m));
    s0 += e;
    q += e * e;
    if (r[j] > r[top]) top = j;
  }
  rec[0] = s0;
  rec[1] = q;
  rec[2] = beta * ((double)r[c] - m);
  rec[3] = top == c ? 1.0 : 0.0;
}

static int ts_first_scalar(const float *x, size_t n, size_t k, size_t ldx, const int64_t *y,
                           const double *w, double beta, double acc[3], double *g, int *sep, double *rec) {
  double ga = 0;
  int sp = 1;
  for (size_t i = 0; i < n; i++) {
    crow r = x + i * ldx;
    double sum = 0;
    for (size_t j = 0; j < k; j++) sum += (double)r[j];
    if (!isfinite(sum)) return CALIB_E_NONFINITE;
    if (rec) ts_record_scalar(r, k, (size_t)y[i], beta, rec + i * CALIB__TS_REC);
    const double wi = w ? w[i] : 1.0;
    if (wi == 0) continue;
    const float zy = r[y[i]];
    ga += wi * (sum / (double)k - (double)zy);
    sp &= zy >= row_max(r, k);
    ts_moments_scalar(x + i * ldx, 1, k, ldx, y + i, w ? w + i : NULL, beta, acc);
  }
  *g = ga;
  *sep = sp;
  return CALIB_OK;
}
#define TS_FIRST ts_first_scalar
#else
#define TS_FIRST NULL
#endif

/* Plainly: the squares summed in order, the first index of the maximum.
 * Not in the firmware core (no fitter there): NULL in its table. */
#ifndef CALIB_CORE
static double prob_sumsq_argmax_scalar(const float *r, size_t k, size_t *top) {
  const calib__f32u *p = r;
  double s = 0;
  size_t b = 0;
  for (size_t j = 0; j < k; j++) {
    s += (double)p[j] * (double)p[j];
    if (p[j] > p[b]) b = j;
  }
  *top = b;
  return s;
}
#define PROB_SUMSQ_ARGMAX prob_sumsq_argmax_scalar
#else
#define PROB_SUMSQ_ARGMAX NULL
#endif

const calib__kernels calib__kernels_scalar = {
    "scalar",           check_rows_scalar, softmax_scalar,      log_softmax_scalar,
    sigmoid_scalar,     ts_moments_scalar, check_finite_scalar, ts_prepass_scalar,
    ts_moments_fast_scalar, softmax_rows_scalar, log_softmax_rows_scalar, sigmoid_rows_scalar,
    PROB_SUMSQ_ARGMAX,      TS_FIRST,
    NULL, /* top_label_rows: binned.c's own loop */
};
