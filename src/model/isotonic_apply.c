/* isotonic_apply.c -- isotonic regression models: validation and apply, and
 * the public calib_isotonic_predict_f64. Firmware core: no allocation, no
 * stdio; reentrant.
 *
 * Sections (all four required, nothing else):
 *   CALIB_MP_ISO_CONFIG  3 values: out_of_bounds (CALIB_OOB_CLIP or
 *                        CALIB_OOB_ERROR), input (CALIB_INPUT_LOGITS,
 *                        _PROBS or _SCORES; not ERROR with LOGITS when
 *                        k >= 2), strict s in [0, 0.25]
 *   CALIB_MP_ISO_COUNTS  k values m_j: integers >= 1
 *   CALIB_MP_ISO_X       sum m_j values: per class, finite and strictly
 *                        increasing
 *   CALIB_MP_ISO_Y       sum m_j values: per class in [0, 1] and monotone
 *                        (non-decreasing or non-increasing)
 * Apply: logits with k >= 2 go through calib__probs_from_logits (a softmax
 * in double, rounded once) into the output first
 * (which validates them); per value, clip to the class's [x_0, x_{m-1}] (or
 * reject it with CALIB_OOB_ERROR), branch-free binary search (four
 * interleaved for k == 1), numpy.interp's formula; k >= 2 sum-normalised per
 * row in double (uniform 1/k if the sum is 0). */
#include "isotonic_apply.h"
#include "rowmath.h"
#include "applyd.h"
#include <math.h>

typedef struct {
  const double *cfg, *cnt, *x, *y;
} iso_view;

static void view_of(const calib_model *m, iso_view *v) {
  v->cfg = calib__model_section(m, CALIB_MP_ISO_CONFIG)->data;
  v->cnt = calib__model_section(m, CALIB_MP_ISO_COUNTS)->data;
  v->x = calib__model_section(m, CALIB_MP_ISO_X)->data;
  v->y = calib__model_section(m, CALIB_MP_ISO_Y)->data;
}

/* ---- validation ---------------------------------------------------------- */

static int table_ok(const double *x, const double *y, size_t m) {
  int up = 1, down = 1;
  for (size_t t = 0; t < m; t++) {
    if (!isfinite(x[t]) || !(y[t] >= 0.0 && y[t] <= 1.0)) return 0;
    if (t == 0) continue;
    if (!(x[t] > x[t - 1])) return 0;
    if (y[t] < y[t - 1]) up = 0;
    if (y[t] > y[t - 1]) down = 0;
  }
  return up || down;
}

int calib__isotonic_validate(calib_model *m) {
  const calib__section *cfg = calib__model_section(m, CALIB_MP_ISO_CONFIG);
  const calib__section *cnt = calib__model_section(m, CALIB_MP_ISO_COUNTS);
  const calib__section *sx = calib__model_section(m, CALIB_MP_ISO_X);
  const calib__section *sy = calib__model_section(m, CALIB_MP_ISO_Y);
  if (m->nsections != 4 || !cfg || !cnt || !sx || !sy) return CALIB_E_FORMAT;
  if (cfg->count != 3 || cnt->count != m->k || sx->count != sy->count) return CALIB_E_FORMAT;
  const double oob = cfg->data[0], input = cfg->data[1], s = cfg->data[2];
  if (!(oob == CALIB_OOB_CLIP || oob == CALIB_OOB_ERROR)) return CALIB_E_FORMAT;
  if (!(input == CALIB_INPUT_LOGITS || input == CALIB_INPUT_PROBS || input == CALIB_INPUT_SCORES))
    return CALIB_E_FORMAT;
  if (oob == CALIB_OOB_ERROR && input == CALIB_INPUT_LOGITS && m->k > 1) return CALIB_E_FORMAT;
  if (!(s >= 0.0 && s <= 0.25)) return CALIB_E_FORMAT;
  size_t off = 0;
  for (size_t j = 0; j < m->k; j++) {
    const double c = cnt->data[j];
    if (!(c >= 1.0 && c <= (double)(sx->count - off)) || c != floor(c)) return CALIB_E_FORMAT;
    const size_t mj = (size_t)c;
    if (!table_ok(sx->data + off, sy->data + off, mj)) return CALIB_E_FORMAT;
    off += mj;
  }
  return off == sx->count ? CALIB_OK : CALIB_E_FORMAT;
}

/* ---- evaluation ---------------------------------------------------------- */

/* Last index j with x[j] <= s, given x[0] <= s (branch-free halving). */
static size_t last_le(const double *x, size_t m, double s) {
  const double *b = x;
  size_t len = m;
  while (len > 1) {
    const size_t half = len >> 1;
    b = (b[half] <= s) ? b + half : b;
    len -= half;
  }
  return (size_t)(b - x);
}

/* The table at s given j = the last index with x[j] <= s (numpy.interp). */
static inline double interp_at(const double *x, const double *y, size_t m, size_t j, double s) {
  if (j + 1 >= m || x[j] == s) return y[j];
  const double slope = (y[j + 1] - y[j]) / (x[j + 1] - x[j]);
  double r = slope * (s - x[j]) + y[j];
  if (isnan(r)) { /* numpy's fallbacks for an infinite slope */
    r = slope * (s - x[j + 1]) + y[j + 1];
    if (isnan(r) && y[j] == y[j + 1]) r = y[j];
  }
  return r;
}

double calib__iso_interp(const double *x, const double *y, size_t m, double s) {
  return interp_at(x, y, m, last_le(x, m, s), s);
}

static inline double eval_clip(const double *x, const double *y, size_t m, double s) {
  if (s <= x[0]) return y[0];
  if (s >= x[m - 1]) return y[m - 1];
  return interp_at(x, y, m, last_le(x, m, s), s);
}

double calib__iso_eval_clip(const double *x, const double *y, size_t m, double s) {
  return eval_clip(x, y, m, s);
}

/* Four values at once: clipped, then four interleaved branch-free searches
 * (independent dependency chains, so the loads overlap). Same results as
 * calib__iso_eval_clip. */
static void eval_clip4(const double *x, const double *y, size_t m, const double in[4],
                       double out[4]) {
  const double lo = x[0], hi = x[m - 1];
  const double s0 = in[0] < lo ? lo : (in[0] > hi ? hi : in[0]);
  const double s1 = in[1] < lo ? lo : (in[1] > hi ? hi : in[1]);
  const double s2 = in[2] < lo ? lo : (in[2] > hi ? hi : in[2]);
  const double s3 = in[3] < lo ? lo : (in[3] > hi ? hi : in[3]);
  size_t j0 = 0, j1 = 0, j2 = 0, j3 = 0;
  for (size_t len = m; len > 1;) {
    const size_t h = len >> 1;
    j0 = x[j0 + h] <= s0 ? j0 + h : j0;
    j1 = x[j1 + h] <= s1 ? j1 + h : j1;
    j2 = x[j2 + h] <= s2 ? j2 + h : j2;
    j3 = x[j3 + h] <= s3 ? j3 + h : j3;
    len -= h;
  }
  out[0] = interp_at(x, y, m, j0, s0);
  out[1] = interp_at(x, y, m, j1, s1);
  out[2] = interp_at(x, y, m, j2, s2);
  out[3] = interp_at(x, y, m, j3, s3);
}

/* ---- apply ---------------------------------------------------------------- */

/* 0, CALIB_E_DOMAIN or CALIB_E_NONFINITE for one input value of class table
 * (x, m); NaN and +inf are non-finite, -inf only a valid logit. */
static int value_status(float v, int probs, int oob_error, const double *x, size_t m) {
  if (isnan(v) || v == INFINITY) return CALIB_E_NONFINITE;
  if (probs && !(v >= 0.0f && v <= 1.0f)) return CALIB_E_DOMAIN;
  if (oob_error && ((double)v < x[0] || (double)v > x[m - 1])) return CALIB_E_DOMAIN;
  return CALIB_OK;
}

static int check_input(const iso_view *v, const calib__f32u *in, size_t n, size_t k) {
  const int probs = v->cfg[1] == CALIB_INPUT_PROBS, oob_error = v->cfg[0] == CALIB_OOB_ERROR;
  int domain = 0;
  if (k == 1) {
    const double lo = v->x[0], hi = v->x[(size_t)v->cnt[0] - 1];
    for (size_t i = 0; i < n; i++) {
      const float f = in[i];
      if (isnan(f) || f == INFINITY) return CALIB_E_NONFINITE;
      domain |= (probs && !(f >= 0.0f && f <= 1.0f)) | (oob_error && ((double)f < lo || (double)f > hi));
    }
    return domain ? CALIB_E_DOMAIN : CALIB_OK;
  }
  for (size_t i = 0; i < n; i++) {
    size_t off = 0;
    for (size_t j = 0; j < k; j++) {
      const size_t mj = (size_t)v->cnt[j];
      const int st = value_status(in[i * k + j], probs, oob_error, v->x + off, mj);
      if (st == CALIB_E_NONFINITE) return st;
      if (st != CALIB_OK) domain = 1;
      off += mj;
    }
  }
  return domain ? CALIB_E_DOMAIN : CALIB_OK;
}

/* q_j = f_j(in_j) for calib__ovr_normalise (*cur: the offset of class j's
 * table); reads in[j] only, so in place is safe. */
static double iso_row_q(const void *ctx, const calib__f32u *in, size_t j, size_t *cur) {
  const iso_view *v = (const iso_view *)ctx;
  const size_t mj = (size_t)v->cnt[j], off = *cur;
  *cur = off + mj;
  return eval_clip(v->x + off, v->y + off, mj, (double)in[j]);
}

int calib__isotonic_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k) {
  iso_view v;
  view_of(m, &v);
  if (k > 1 && v.cfg[1] == CALIB_INPUT_LOGITS) return calib__logits_check(x, n, k);
  return check_input(&v, x, n, k);
}

int calib__isotonic_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                          calib__f32u *y) {
  const int st = calib__isotonic_check(m, x, n, k);
  if (st != CALIB_OK) return st;
  calib__isotonic_map(m, x, n, k, y);
  return CALIB_OK;
}

void calib__isotonic_map(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                         calib__f32u *y) {
  iso_view v;
  view_of(m, &v);
  const calib__applyd *ad = CALIB__APPLYD();
  if (ad && k > 1 && k <= CALIB__APPLYD_MAX_K) { /* the same map, 8 (4) classes per step */
    const int logits = v.cfg[1] == CALIB_INPUT_LOGITS;
    if (logits) calib__logits_to_probs(x, n, k, y); /* probabilities into the output first */
    if (m->isoidx) /* owned models: the bucket index (isotonic_index.c), the same values */
      ad->iso_rows_idx(m->isoidx, v.x, v.y, logits ? y : x, n, k, y, calib__iso_eval_clip);
    else
      ad->iso_rows(v.x, v.y, v.cnt, logits ? y : x, n, k, y, calib__iso_eval_clip);
    return;
  }
  if (k > 1 && v.cfg[1] == CALIB_INPUT_LOGITS) { /* probabilities into the output first */
    calib__logits_to_probs(x, n, k, y);
    for (size_t i = 0; i < n; i++) calib__ovr_normalise(iso_row_q, &v, y + i * k, k, y + i * k);
    return;
  }
  if (k == 1) {
    const size_t m0 = (size_t)v.cnt[0];
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
      const double in[4] = {(double)x[i], (double)x[i + 1], (double)x[i + 2], (double)x[i + 3]};
      double r[4];
      eval_clip4(v.x, v.y, m0, in, r);
      for (int q = 0; q < 4; q++) y[i + (size_t)q] = (float)r[q];
    }
    for (; i < n; i++) y[i] = (float)calib__iso_eval_clip(v.x, v.y, m0, (double)x[i]);
    return;
  }
  for (size_t i = 0; i < n; i++) calib__ovr_normalise(iso_row_q, &v, x + i * k, k, y + i * k);
}

/* ---- probabilities from logits (isotonic and histogram) ------------------- */

int calib__logits_check(const calib__f32u *x, size_t n, size_t k) {
  /* k > 1: the softmax rule, the kernels' SIMD row check (unaligned-safe loads) */
  if (k > 1) return calib__kernels_get()->check_rows((const float *)(const void *)x, n, k, k);
  for (size_t i = 0; i < n; i++) {
    const calib__f32u *r = x + i * k;
    int finite = 0;
    for (size_t j = 0; j < k; j++) {
      if (isnan(r[j]) || r[j] == INFINITY) return CALIB_E_NONFINITE;
      finite |= r[j] != -INFINITY;
    }
    if (k > 1 && !finite) return CALIB_E_NONFINITE;
  }
  return CALIB_OK;
}

int calib__probs_from_logits(const calib__f32u *x, size_t n, size_t k, calib__f32u *y) {
  const int st = calib__logits_check(x, n, k);
  if (st == CALIB_OK) calib__logits_to_probs(x, n, k, y);
  return st;
}

void calib__logits_to_probs(const calib__f32u *x, size_t n, size_t k, calib__f32u *y) {
  if (k == 1) {
    for (size_t i = 0; i < n; i++) y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
    return;
  }
  const calib__applyd *ad = CALIB__APPLYD();
  if (ad && k <= CALIB__APPLYD_MAX_K) {
    ad->softmax_rows(x, n, k, y); /* the float64 softmax with the SIMD exp (applyd.h) */
    return;
  }
  for (size_t i = 0; i < n; i++) (void)calib__softmax_row_f64(x + i * k, k, NULL, y + i * k);
}

/* ---- calib_isotonic_predict_f64 ------------------------------------------ */

static int table_f64_ok(const double *x, const double *y, size_t m) {
  for (size_t t = 0; t < m; t++) {
    if (!isfinite(x[t]) || !isfinite(y[t])) return 0;
    if (t > 0 && !(x[t] > x[t - 1])) return 0;
  }
  return 1;
}

int calib_isotonic_predict_f64(const double *x_thr, const double *y_thr, size_t m,
                               int out_of_bounds, const double *t, size_t n, double *out) {
  if (!x_thr || !y_thr || m == 0) return CALIB_E_ARG;
  if (out_of_bounds != CALIB_OOB_CLIP && out_of_bounds != CALIB_OOB_ERROR &&
      out_of_bounds != CALIB_OOB_NAN)
    return CALIB_E_ARG;
  if (!table_f64_ok(x_thr, y_thr, m)) return CALIB_E_ARG;
  if (n == 0) return CALIB_OK;
  if (!t || !out) return CALIB_E_ARG;
  int domain = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(t[i])) return CALIB_E_NONFINITE;
    if (t[i] < x_thr[0] || t[i] > x_thr[m - 1]) domain = 1;
  }
  if (domain && out_of_bounds == CALIB_OOB_ERROR && m > 1) return CALIB_E_DOMAIN;
  if (m == 1) {
    for (size_t i = 0; i < n; i++) out[i] = y_thr[0];
    return CALIB_OK;
  }
  const double lo = x_thr[0], hi = x_thr[m - 1];
  const int nan_out = out_of_bounds == CALIB_OOB_NAN;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const double in[4] = {t[i], t[i + 1], t[i + 2], t[i + 3]};
    double r[4];
    eval_clip4(x_thr, y_thr, m, in, r);
    for (int q = 0; q < 4; q++)
      out[i + (size_t)q] = nan_out && (in[q] < lo || in[q] > hi) ? (double)NAN : r[q];
  }
  for (; i < n; i++) {
    const double s = t[i];
    out[i] = nan_out && (s < lo || s > hi) ? (double)NAN : calib__iso_eval_clip(x_thr, y_thr, m, s);
  }
  return CALIB_OK;
}
