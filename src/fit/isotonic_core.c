/* isotonic_core.c -- the float64 isotonic regression solver and the public
 * low-level calib_isotonic_fit_f64 (scikit-learn IsotonicRegression parity).
 *
 * Pipeline (scikit-learn 1.x `IsotonicRegression._build_y`):
 *   1. increasing == auto: the sign of Spearman's rho over ALL samples
 *      (zero weights included, weights ignored), rho >= 0 -> increasing; an
 *      undefined rho (x or y constant) -> decreasing, as `nan >= 0` is false.
 *      The sign is computed exactly: with average ranks r, the sign of rho
 *      is the sign of sum_i (2 rx_i - n - 1)(2 ry_i - n - 1), an integer sum
 *      accumulated in 192 bits (exact for every n < 2^63: below).
 *   2. samples of weight 0 are dropped;
 *   3. order by (x, y, original index) = np.lexsort((y, x)): two stable radix
 *      sorts, by y then by x;
 *   4. unique-x groups (calib__iso_group_add, tolerance 1e-15);
 *   5. PAV, clip to [y_min, y_max], trim (calib__iso_solve).
 * The PAV pools, like scikit-learn's `_inplace_contiguous_isotonic_regression`,
 * a whole non-increasing run of blocks at once (weighted sum of the block
 * means) and then steps back one block, so the floating-point operations and
 * hence the block boundaries are the same as scikit-learn's. O(n) after the
 * sort: every step either advances or merges blocks. */
#include "isotonic.h"
#include "checked.h"
#include "sort.h"
#include <float.h>
#include <math.h>

/* Block structure: a block spans [s, e]; link[s] = e and link[e] = s; y[s]
 * and w[s] hold its mean and weight. */
static void pav_increasing(double *y, double *w, size_t *link, size_t n) {
  for (size_t i = 0; i < n; i++) link[i] = i;
  size_t i = 0;
  while (i < n) {
    size_t nx = link[i] + 1; /* first index of the following block */
    if (nx >= n) break;
    if (y[i] < y[nx]) {
      i = nx;
      continue;
    }
    double swy = w[i] * y[i], sw = w[i];
    for (;;) { /* absorb the following blocks while they do not increase */
      const double last = y[nx];
      swy += w[nx] * y[nx];
      sw += w[nx];
      nx = link[nx] + 1;
      if (nx == n || last < y[nx]) break;
    }
    y[i] = swy / sw;
    w[i] = sw;
    link[i] = nx - 1;
    link[nx - 1] = i;
    if (i > 0) i = link[i - 1]; /* re-examine the previous block */
  }
  for (size_t s = 0; s < n; s = link[s] + 1)
    for (size_t j = s + 1; j <= link[s]; j++) y[j] = y[s];
}

static void reverse2(double *a, double *b, size_t n) {
  for (size_t i = 0, j = n - 1; i < j; i++, j--) {
    double t = a[i]; a[i] = a[j]; a[j] = t;
    if (b) { t = b[i]; b[i] = b[j]; b[j] = t; }
  }
}

size_t calib__iso_solve(double *x, double *y, double *w, size_t *link, size_t nu,
                        int increasing, double ymin, double ymax) {
  if (!increasing) reverse2(y, w, nu);
  pav_increasing(y, w, link, nu);
  if (!increasing) reverse2(y, NULL, nu);
  for (size_t j = 0; j < nu; j++) { /* np.clip: min(max(y, lo), hi) */
    double v = y[j] < ymin ? ymin : y[j];
    y[j] = v > ymax ? ymax : v;
  }
  size_t m = 0;
  double prev = y[0];
  for (size_t j = 0; j < nu; j++) {
    const double cur = y[j];
    const int keep = j == 0 || j + 1 == nu || cur != prev || cur != y[j + 1];
    prev = cur;
    if (keep) {
      x[m] = x[j];
      y[m] = cur;
      m++;
    }
  }
  return m;
}

/* ---- exact sign of Spearman's rho --------------------------------------- */

/* A signed 192-bit accumulator (two's complement in w2:w1:w0). Why 192:
 * every term is a product of two centred doubled ranks, |p|, |q| <= n <
 * 2^63, so |p q| < 2^126, and there are at most n < 2^63 terms, so every
 * partial sum has |sum| < 2^189 < 2^191: exact for every n the API accepts
 * (n <= INT64_MAX / 2), where 128 bits would need n^3 < 2^127, i.e. n below
 * about 5.5e12 (and the int64 sum this replaced in the binary stream
 * overflowed near n = 3e9). Portable C99: no __int128 (not ISO C, and
 * -Wpedantic rejects it). */
typedef struct {
  uint64_t w0, w1, w2;
} acc192;

/* acc += p * q, exactly: the 128-bit magnitude of p q from 32-bit halves,
 * negated in 192 bits when the signs differ, then added with carries. */
static void acc_add_mul(acc192 *a, int64_t p, int64_t q) {
  const uint64_t up = p < 0 ? 0 - (uint64_t)p : (uint64_t)p;
  const uint64_t uq = q < 0 ? 0 - (uint64_t)q : (uint64_t)q;
  const uint64_t p0 = up & 0xFFFFFFFFu, p1 = up >> 32, q0 = uq & 0xFFFFFFFFu, q1 = uq >> 32;
  const uint64_t ll = p0 * q0, lh = p0 * q1, hl = p1 * q0, hh = p1 * q1;
  const uint64_t mid = (ll >> 32) + (lh & 0xFFFFFFFFu) + (hl & 0xFFFFFFFFu);
  uint64_t lo = (ll & 0xFFFFFFFFu) | (mid << 32);
  uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
  uint64_t top = 0;
  if ((p < 0) != (q < 0) && (lo | hi) != 0) { /* negate the 192-bit value 0:hi:lo */
    lo = ~lo + 1;
    hi = ~hi + (lo == 0 ? 1 : 0);
    top = ~(uint64_t)0; /* the magnitude is < 2^126: the top word is all ones */
  }
  const uint64_t s0 = a->w0 + lo, c0 = s0 < lo;
  const uint64_t t1 = a->w1 + hi, c1a = t1 < hi, s1 = t1 + c0, c1 = c1a | (s1 < t1);
  a->w0 = s0;
  a->w1 = s1;
  a->w2 += top + c1;
}

static int acc_sign(const acc192 *a) {
  if (a->w2 >> 63) return -1;
  return (a->w2 | a->w1 | a->w0) == 0 ? 0 : 1;
}

/* Centred doubled average ranks 2r - (n+1) of sorted keys, written to
 * out[idx[r]]. Returns 1 if all keys are equal. */
static int centred_ranks(const uint64_t *key, const uint64_t *idx, size_t n, int64_t *out) {
  size_t s = 0;
  while (s < n) {
    size_t e = s + 1;
    while (e < n && key[e] == key[s]) e++;
    const int64_t c = (int64_t)(s + e) - (int64_t)n; /* 2 * avg rank - (n + 1) */
    for (size_t r = s; r < e; r++) out[idx[r]] = c;
    if (s == 0 && e == n) return 1;
    s = e;
  }
  return 0;
}

/* ---- the binary stream ---------------------------------------------------- */

double calib__iso_stream_x(uint64_t key) {
  return (double)calib__f32_from_key((uint32_t)(key >> 1));
}

void calib__iso_stream_sort(calib__iso_stream *st, uint64_t *key, uint64_t *wv, uint64_t *ktmp,
                            uint64_t *wtmp, size_t n, size_t n1, size_t *hist) {
  const int r = calib__radix_sort_u64_bits(key, wv, ktmp, wtmp, n, 33, hist);
  st->key = r ? ktmp : key;
  st->w = wv ? (r ? wtmp : wv) : NULL;
  st->n = n;
  st->n1 = n1;
}

/* With a_i = 2 rank_i - (n + 1) (average ranks) and 0/1 labels, sum_i a_i = 0,
 * so the rank covariance is n * sum_{positives} a_i: sum over tie groups of
 * (positives in the group) * a. |sum| <= n^2 reaches INT64_MAX near n = 3e9,
 * so the sum is exact in the 192-bit accumulator (p, |a| <= n < 2^63: the
 * stream holds n 8-byte keys). */
int calib__iso_stream_increasing(const calib__iso_stream *st) {
  const size_t n = st->n;
  if (st->n1 == 0 || st->n1 == n) return 0;
  acc192 acc = {0, 0, 0};
  size_t start = 0;
  while (start < n) {
    size_t e = start, p = 0;
    const uint64_t x = st->key[start] >> 1;
    for (; e < n && (st->key[e] >> 1) == x; e++) p += (size_t)(st->key[e] & 1);
    if (start == 0 && e == n) return 0; /* one distinct score */
    acc_add_mul(&acc, (int64_t)p, (int64_t)(start + e) - (int64_t)n);
    start = e;
  }
  return acc_sign(&acc) >= 0;
}

/* The grouping of calib__iso_group_add with the open group in locals, and a
 * short cut for a run of one key (same x: the tolerance test cannot fail). */
void calib__iso_stream_groups(const calib__iso_stream *st, calib__iso_groups *g) {
  double cx = 0, sy = 0, sw = 0;
  uint64_t prev = 0;
  int open = 0;
  for (size_t i = 0; i < st->n; i++) {
    const double w = calib__iso_stream_w(st, i);
    if (!(w > 0)) continue;
    const uint64_t key = st->key[i];
    const double yw = (double)(key & 1) * w;
    if (open && (key >> 1) == prev) {
      sw += w;
      sy += yw;
      continue;
    }
    const double x = calib__iso_stream_x(key);
    prev = key >> 1;
    if (open && x - cx < CALIB__ISO_TIE_EPS) {
      sw += w;
      sy += yw;
      continue;
    }
    if (open) {
      g->x[g->n] = cx;
      g->w[g->n] = sw;
      g->y[g->n] = sy / sw;
      g->n++;
    }
    const double base = open ? -0.0 : 0.0; /* as calib__iso_group_add */
    open = 1;
    cx = x;
    sw = base + w;
    sy = base + yw;
  }
  if (open) {
    g->x[g->n] = cx;
    g->w[g->n] = sw;
    g->y[g->n] = sy / sw;
    g->n++;
  }
}

/* ---- calib_isotonic_fit_f64 --------------------------------------------- */

typedef struct {
  uint64_t *k0, *v0, *k1, *v1; /* two key/index pairs for the radix sorts */
  size_t *hist, *link;
  int64_t *ry;                 /* centred y ranks (auto only) */
  double *gx, *gy, *gw;
} f64_scratch;

/* The one layout of the workspace, shared by calib_isotonic_work_size and
 * calib_isotonic_fit_f64_work: returns its size in bytes (0 on overflow or
 * above CALIB__MAX_ALLOC) and, with b != NULL, points s's arrays into b.
 * The 8-byte arrays come first and each spans n entries, so an 8-byte
 * aligned b keeps every array aligned (also where size_t has 4 bytes). */
static size_t scratch_layout(f64_scratch *s, uint8_t *b, size_t n, int need_ranks) {
  const size_t per = 7 * 8 + (need_ranks ? sizeof(int64_t) : 0) + sizeof(size_t);
  size_t body, total;
  if (!calib__size_mul(n, per, &body) ||
      !calib__size_add(body, CALIB__RADIX_HIST * sizeof(size_t), &total) || total > CALIB__MAX_ALLOC)
    return 0;
  if (!b) return total;
  s->k0 = (uint64_t *)(void *)b; b += n * 8;
  s->v0 = (uint64_t *)(void *)b; b += n * 8;
  s->k1 = (uint64_t *)(void *)b; b += n * 8;
  s->v1 = (uint64_t *)(void *)b; b += n * 8;
  s->gx = (double *)(void *)b; b += n * 8;
  s->gy = (double *)(void *)b; b += n * 8;
  s->gw = (double *)(void *)b; b += n * 8;
  s->ry = need_ranks ? (int64_t *)(void *)b : NULL;
  if (need_ranks) b += n * sizeof(int64_t);
  s->link = (size_t *)(void *)b; b += n * sizeof(size_t);
  s->hist = (size_t *)(void *)b;
  return total;
}

/* Sorts (x, y, index) lexicographically; returns the sorted x keys and the
 * permutation through *xk / *perm. With s->ry, also fills the y ranks. */
static void lexsort_xy(f64_scratch *s, const double *x, const double *y, size_t n,
                       uint64_t **xk, uint64_t **perm, int *y_const) {
  for (size_t i = 0; i < n; i++) {
    s->k0[i] = calib__f64_key(y[i]);
    s->v0[i] = i;
  }
  int r = calib__radix_sort_u64(s->k0, s->v0, s->k1, s->v1, n, s->hist);
  uint64_t *yk = r ? s->k1 : s->k0, *yi = r ? s->v1 : s->v0;
  uint64_t *ok = r ? s->k0 : s->k1, *oi = r ? s->v0 : s->v1;
  *y_const = s->ry ? centred_ranks(yk, yi, n, s->ry) : 0;
  for (size_t j = 0; j < n; j++) {
    ok[j] = calib__f64_key(x[yi[j]]);
    oi[j] = yi[j];
  }
  r = calib__radix_sort_u64(ok, oi, yk, yi, n, s->hist);
  *xk = r ? yk : ok;
  *perm = r ? yi : oi;
}

/* Spearman sign over the x-sorted keys, with the y ranks in s->ry. */
static int spearman_increasing(const f64_scratch *s, const uint64_t *xk, const uint64_t *perm,
                               size_t n, int y_const) {
  if (y_const) return 0;
  acc192 acc = {0, 0, 0};
  size_t st = 0;
  while (st < n) {
    size_t e = st + 1;
    while (e < n && xk[e] == xk[st]) e++;
    if (st == 0 && e == n) return 0; /* x constant: rho undefined */
    const int64_t c = (int64_t)(st + e) - (int64_t)n;
    for (size_t j = st; j < e; j++) acc_add_mul(&acc, c, s->ry[perm[j]]);
    st = e;
  }
  return acc_sign(&acc) >= 0;
}

static int check_f64_args(const double *x, const double *y, size_t n, int increasing,
                          double y_min, double y_max) {
  if (increasing < -1 || increasing > 1) return CALIB_E_ARG;
  if (isnan(y_min) || isnan(y_max) || y_min > y_max || y_min == (double)INFINITY ||
      y_max == -(double)INFINITY)
    return CALIB_E_ARG;
  if (n == 0) return CALIB_E_EMPTY;
  if (!x || !y) return CALIB_E_ARG;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i]) || !isfinite(y[i])) return CALIB_E_NONFINITE;
  return CALIB_OK;
}

/* 0/1 labels and float32-representable x (scores widened from float32, the
 * usual calibration input): the packed 33-bit stream of the calibration
 * fitter, 3 radix passes over 8-byte keys, any weights and direction. */
static int binary_float_exact(const double *x, const double *y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (!(y[i] == 0.0 || y[i] == 1.0) || !(fabs(x[i]) <= (double)FLT_MAX)) return 0;
    if ((double)(float)x[i] != x[i]) return 0;
  }
  return 1;
}

static int groups_stream(f64_scratch *s, const double *x, const double *y, const double *w,
                         size_t n, int increasing, calib__iso_groups *g) {
  size_t n1 = 0;
  for (size_t i = 0; i < n; i++) {
    const uint64_t lab = y[i] == 1.0;
    s->k0[i] = ((uint64_t)calib__f32_key((float)x[i]) << 1) | lab;
    n1 += (size_t)lab;
  }
  if (w) memcpy(s->v0, w, n * sizeof(double));
  calib__iso_stream st;
  calib__iso_stream_sort(&st, s->k0, w ? s->v0 : NULL, s->k1, w ? s->v1 : NULL, n, n1, s->hist);
  const int inc = increasing >= 0 ? increasing : calib__iso_stream_increasing(&st);
  calib__iso_stream_groups(&st, g);
  return inc;
}

/* Unweighted fits whose y are integers small enough that every group sum is
 * exact (|y| <= 2^20, n <= 2^32) get the same groups whatever the order of y
 * within a tie, so one radix sort by x carrying y suffices (no gathers). */
static int exact_sums_any_order(const double *y, const double *w, size_t n) {
  if (w || n > ((size_t)1 << 31)) return 0;
  for (size_t i = 0; i < n; i++)
    if (!(fabs(y[i]) <= 1048576.0) || y[i] != floor(y[i])) return 0;
  return 1;
}

static void groups_by_x_only(f64_scratch *s, const double *x, const double *y, size_t n,
                             calib__iso_groups *g) {
  for (size_t i = 0; i < n; i++) {
    s->k0[i] = calib__f64_key(x[i]);
    memcpy(&s->v0[i], &y[i], sizeof(double));
  }
  const int r = calib__radix_sort_u64(s->k0, s->v0, s->k1, s->v1, n, s->hist);
  const uint64_t *k = r ? s->k1 : s->k0, *v = r ? s->v1 : s->v0;
  for (size_t j = 0; j < n; j++) {
    double yj;
    memcpy(&yj, &v[j], sizeof yj);
    calib__iso_group_add(g, calib__f64_from_key(k[j]), yj, 1.0);
  }
}

/* The general order (x, y, row) and, for auto, the Spearman direction. */
static int groups_lexsort(f64_scratch *s, const double *x, const double *y, const double *w,
                          size_t n, int increasing, calib__iso_groups *g) {
  uint64_t *xk, *perm;
  int y_const;
  lexsort_xy(s, x, y, n, &xk, &perm, &y_const);
  const int inc = increasing >= 0 ? increasing : spearman_increasing(s, xk, perm, n, y_const);
  for (size_t j = 0; j < n; j++) {
    const size_t i = (size_t)perm[j];
    const double wi = w ? w[i] : 1.0;
    if (wi > 0) calib__iso_group_add(g, x[i], y[i], wi);
  }
  return inc;
}

/* The checks shared by both entry points (nothing written on failure). */
static int check_fit_f64(const double *x, const double *y, const double *w, size_t n,
                         int increasing, double y_min, double y_max, const double *x_thresholds,
                         const double *y_thresholds, const size_t *count) {
  if (!count || (!x_thresholds) != (!y_thresholds)) return CALIB_E_ARG;
  int st = check_f64_args(x, y, n, increasing, y_min, y_max);
  if (st == CALIB_OK) st = calib__check_weights(w, n, NULL);
  if (st != CALIB_OK) return st;
  return n > (size_t)INT64_MAX / 2 ? CALIB_E_ARG : CALIB_OK;
}

/* The fit on validated arguments, in the workspace s. */
static int fit_f64_in(f64_scratch *s, const double *x, const double *y, const double *w, size_t n,
                      int increasing, double y_min, double y_max, double *x_thresholds,
                      double *y_thresholds, size_t cap, size_t *count, int *increasing_out) {
  calib__iso_groups g = {s->gx, s->gy, s->gw, 0, 0, 0, 0, 0};
  int inc = increasing;
  if (binary_float_exact(x, y, n)) {
    inc = groups_stream(s, x, y, w, n, increasing, &g);
  } else if (increasing >= 0 && exact_sums_any_order(y, w, n)) {
    groups_by_x_only(s, x, y, n, &g);
    calib__iso_group_close(&g);
  } else {
    inc = groups_lexsort(s, x, y, w, n, increasing, &g);
    calib__iso_group_close(&g);
  }
  const size_t m = calib__iso_solve(s->gx, s->gy, s->gw, s->link, g.n, inc, y_min, y_max);
  if (x_thresholds) {
    if (cap < m) return CALIB_E_SMALLBUF;
    memcpy(x_thresholds, s->gx, m * sizeof(double));
    memcpy(y_thresholds, s->gy, m * sizeof(double));
  }
  *count = m;
  if (increasing_out) *increasing_out = inc;
  return CALIB_OK;
}

size_t calib_isotonic_work_size(size_t n, int increasing) {
  f64_scratch s;
  return scratch_layout(&s, NULL, n, increasing != 0 && increasing != 1);
}

int calib_isotonic_fit_f64_work(const double *x, const double *y, const double *w, size_t n,
                                int increasing, double y_min, double y_max,
                                double *x_thresholds, double *y_thresholds, size_t cap,
                                size_t *count, int *increasing_out, void *work,
                                size_t work_bytes) {
  if ((!work && work_bytes > 0) || (uintptr_t)work % 8 != 0) return CALIB_E_ARG;
  int st = check_fit_f64(x, y, w, n, increasing, y_min, y_max, x_thresholds, y_thresholds, count);
  if (st != CALIB_OK) return st;
  f64_scratch s;
  const size_t need = scratch_layout(&s, NULL, n, increasing < 0);
  if (need == 0 || work_bytes < need) return CALIB_E_SMALLBUF;
  scratch_layout(&s, (uint8_t *)work, n, increasing < 0);
  return fit_f64_in(&s, x, y, w, n, increasing, y_min, y_max, x_thresholds, y_thresholds, cap,
                    count, increasing_out);
}

int calib_isotonic_fit_f64(const double *x, const double *y, const double *w, size_t n,
                           int increasing, double y_min, double y_max,
                           double *x_thresholds, double *y_thresholds, size_t cap,
                           size_t *count, int *increasing_out) {
  int st = check_fit_f64(x, y, w, n, increasing, y_min, y_max, x_thresholds, y_thresholds, count);
  if (st != CALIB_OK) return st;
  f64_scratch s;
  const size_t bytes = scratch_layout(&s, NULL, n, increasing < 0);
  uint8_t *b = bytes ? (uint8_t *)calib__malloc(bytes) : NULL;
  if (!b) return CALIB_E_NOMEM;
  scratch_layout(&s, b, n, increasing < 0);
  st = fit_f64_in(&s, x, y, w, n, increasing, y_min, y_max, x_thresholds, y_thresholds, cap, count,
                  increasing_out);
  calib__free(b);
  return st;
}
