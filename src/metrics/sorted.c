/* sorted.c -- the 1-D problems every measure of the suite reduces to: input
 * reduction by scope, sorting by (score, target) with the shared radix sort,
 * compensated prefix sums, and the classwise driver (see ce_internal.h). */
#include "ce_internal.h"
#include <math.h>

int calib__sortws_init(calib__sortws *w, size_t cap, int prefix) {
  memset(w, 0, sizeof *w);
  if (cap == 0) cap = 1;
  size_t b8, b1, p8; /* cap * 8 bytes, cap bytes, (cap + 1) * 8 bytes */
  if (!calib__size_bytes(cap, 8, &b8) || !calib__size_bytes(cap, 1, &b1) ||
      !calib__size_add(b8, 8, &p8) || p8 > CALIB__MAX_ALLOC)
    return CALIB_E_NOMEM;
  w->cap = cap;
  w->key = (uint64_t *)calib__malloc(b8);
  w->ktmp = (uint64_t *)calib__malloc(b8);
  w->hist = (size_t *)calib__malloc(CALIB__RADIX_HIST * sizeof(size_t));
  w->s = (double *)calib__malloc(b8);
  w->t = (uint8_t *)calib__malloc(b1);
  int ok = w->key && w->ktmp && w->hist && w->s && w->t;
  if (ok && prefix) { /* (cap + 1) * 8 bytes hold cap + 1 doubles or size_t (<= 8 bytes) */
    w->ph = (double *)calib__malloc(p8);
    w->pl = (double *)calib__malloc(p8);
    w->pt = (size_t *)calib__malloc(p8);
    ok = w->ph && w->pl && w->pt;
  }
  if (!ok) {
    calib__sortws_free(w);
    return CALIB_E_NOMEM;
  }
  return CALIB_OK;
}

void calib__sortws_free(calib__sortws *w) {
  calib__free(w->key);
  calib__free(w->ktmp);
  calib__free(w->hist);
  calib__free(w->s);
  calib__free(w->t);
  calib__free(w->ph);
  calib__free(w->pl);
  calib__free(w->pt);
  memset(w, 0, sizeof *w);
}

void calib__sortws_begin(calib__sortws *w, size_t n) {
  CALIB__UNUSED(n);
  w->n = 0;
}

/* Neumaier-compensated running sums: ph[i] + pl[i] = s[0] + ... + s[i-1]. */
static void prefix_sums(calib__sortws *w) {
  double hi = 0, lo = 0;
  size_t c = 0;
  w->ph[0] = w->pl[0] = 0;
  w->pt[0] = 0;
  for (size_t i = 0; i < w->n; i++) {
    const double v = w->s[i], t = hi + v;
    lo += fabs(hi) >= fabs(v) ? (hi - t) + v : (v - t) + hi;
    hi = t;
    c += w->t[i];
    w->ph[i + 1] = hi;
    w->pl[i + 1] = lo;
    w->pt[i + 1] = c;
  }
}

void calib__sortws_sort(calib__sortws *w, calib__sorted *out) {
  const int in_tmp = calib__radix_sort_u64(w->key, NULL, w->ktmp, NULL, w->n, w->hist);
  const uint64_t *k = in_tmp ? w->ktmp : w->key;
  for (size_t i = 0; i < w->n; i++) {
    const uint64_t u = k[i] >> 1;
    double v;
    memcpy(&v, &u, sizeof v);
    w->s[i] = v;
    w->t[i] = (uint8_t)(k[i] & 1u);
  }
  if (w->ph) prefix_sums(w);
  out->n = w->n;
  out->s = w->s;
  out->t = w->t;
  out->ph = w->ph;
  out->pl = w->pl;
  out->pt = w->pt;
}

void calib__range_stats(const calib__sorted *x, size_t a, size_t b, double *cnt, double *ss,
                        double *st) {
  *cnt = (double)(b - a);
  if (x->ph) {
    *ss = (x->ph[b] - x->ph[a]) + (x->pl[b] - x->pl[a]);
    *st = (double)(x->pt[b] - x->pt[a]);
    return;
  }
  double s = 0;
  size_t c = 0;
  for (size_t i = a; i < b; i++) {
    s += x->s[i];
    c += x->t[i];
  }
  *ss = s;
  *st = (double)c;
}

/* ---- Input reduction -------------------------------------------------------- */

double calib__source_p(const calib__source *src, size_t i, size_t j) {
  if (src->rmax) {
    const double z = src->k == 1 ? (j ? (double)src->x[i] : 0.0) : (double)src->x[i * src->k + j];
    return exp(z - src->rmax[i]) / src->rsum[i];
  }
  if (src->k == 1) {
    const double p = (double)src->x[i];
    return j ? p : 1.0 - p;
  }
  return (double)src->x[i * src->k + j];
}

void calib__source_columns(const calib__source *src, size_t j0, size_t j1, double *col) {
  const size_t n = src->n, k = src->k;
  if (k == 1) {
    for (size_t i = 0; i < n; i++)
      for (size_t j = j0; j < j1; j++) col[(j - j0) * n + i] = calib__source_p(src, i, j);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const float *z = src->x + i * k;
    if (src->rmax) {
      const double mx = src->rmax[i], s = src->rsum[i];
      for (size_t j = j0; j < j1; j++) col[(j - j0) * n + i] = exp((double)z[j] - mx) / s;
    } else {
      for (size_t j = j0; j < j1; j++) col[(j - j0) * n + i] = (double)z[j];
    }
  }
}

int calib__check_logit_rows(const float *z, size_t n, size_t k, int binary_pos_inf) {
  const int pos_inf_ok = k == 1 && binary_pos_inf;
  for (size_t i = 0; i < n; i++) {
    const float *r = z + i * k;
    int any = k == 1; /* a binary row stands for (0, z): never all -inf */
    for (size_t j = 0; j < k; j++) {
      if (isnan(r[j]) || (!pos_inf_ok && r[j] == INFINITY)) return CALIB_E_NONFINITE;
      any |= r[j] != -INFINITY;
    }
    if (!any) return CALIB_E_NONFINITE;
  }
  return CALIB_OK;
}

size_t calib__column_block(size_t n, size_t m) {
  size_t block = ((size_t)1 << 21) / (n ? n : 1);
  if (block >= 16) block -= block % 16; /* whole cache lines of float32 rows */
  return block < 1 ? 1 : (block > m ? m : block);
}

int calib__check_scope_args(const float *probs, size_t n, size_t k, const int64_t *labels,
                            int scope, const void *out) {
  if (!out || k == 0) return CALIB_E_ARG;
  if (scope != CALIB_SCOPE_TOP_LABEL && scope != CALIB_SCOPE_CLASSWISE &&
      scope != CALIB_SCOPE_POSITIVE_CLASS)
    return CALIB_E_ARG;
  if (scope == CALIB_SCOPE_POSITIVE_CLASS && k > 2) return CALIB_E_ARG;
  if (n == 0) return CALIB_E_EMPTY;
  size_t bytes;
  if (!probs || !labels || !calib__size_mul3(n, k, sizeof(double), &bytes)) return CALIB_E_ARG;
  return CALIB_OK;
}

int calib__check_scope_input(const float *probs, size_t n, size_t k, const int64_t *labels,
                             int scope, const void *out) {
  const int st = calib__check_scope_args(probs, n, k, labels, scope, out);
  return st != CALIB_OK ? st : calib__check_metric_input(probs, n, k, labels, out);
}

double calib__aggregate(const double *v, size_t m, int agg) {
  double s = 0;
  for (size_t j = 0; j < m; j++) {
    if (agg == CALIB__AGG_MAX) s = v[j] > s ? v[j] : s;
    else s += agg == CALIB__AGG_RMS ? v[j] * v[j] : v[j];
  }
  if (agg == CALIB__AGG_MAX) return s;
  return agg == CALIB__AGG_RMS ? sqrt(s / (double)m) : s / (double)m;
}

/* ---- The driver -------------------------------------------------------------- */

static int run_single(const calib__source *src, int scope, calib__sortws *w,
                      calib__problem_fn fn, void *ctx, double *out) {
  calib__sorted x;
  calib__sortws_begin(w, src->n);
  for (size_t i = 0; i < src->n; i++) {
    if (scope == CALIB_SCOPE_TOP_LABEL) { /* float32 probabilities (the suite has its own row pass) */
      size_t pred;
      double c;
      calib__top_label(src->x + i * src->k, src->k, &pred, &c);
      calib__sortws_push(w, c, pred == (size_t)src->labels[i]);
    } else {
      calib__sortws_push(w, calib__source_p(src, i, 1), src->labels[i] == 1);
    }
  }
  calib__sortws_sort(w, &x);
  return fn(&x, ctx, out);
}

int calib__classwise_each(const calib__source *src, calib__sortws *w, calib__problem_fn fn,
                          void *ctx, double *vals) {
  const size_t n = src->n, m = calib__ncols(src->k), block = calib__column_block(n, m);
  size_t bytes;
  if (!calib__size_mul3(block, n, sizeof(double), &bytes) || bytes > CALIB__MAX_ALLOC)
    return CALIB_E_NOMEM;
  double *col = (double *)calib__malloc(bytes);
  int st = col ? CALIB_OK : CALIB_E_NOMEM;
  for (size_t j0 = 0; st == CALIB_OK && j0 < m; j0 += block) {
    const size_t j1 = j0 + block < m ? j0 + block : m;
    calib__source_columns(src, j0, j1, col);
    for (size_t j = j0; st == CALIB_OK && j < j1; j++) {
      calib__sorted x;
      const double *c = col + (j - j0) * n;
      double v = 0;
      calib__sortws_begin(w, n);
      for (size_t i = 0; i < n; i++) calib__sortws_push(w, c[i], src->labels[i] == (int64_t)j);
      calib__sortws_sort(w, &x);
      st = fn(&x, ctx, &v);
      if (vals) vals[j] = v;
    }
  }
  calib__free(col);
  return st;
}

static int run_classwise(const calib__source *src, int agg, calib__sortws *w,
                         calib__problem_fn fn, void *ctx, double *out) {
  size_t bytes;
  if (!calib__size_bytes(calib__ncols(src->k), sizeof(double), &bytes)) return CALIB_E_NOMEM;
  double *vals = (double *)calib__malloc(bytes);
  int st = vals ? calib__classwise_each(src, w, fn, ctx, vals) : CALIB_E_NOMEM;
  if (st == CALIB_OK) *out = calib__aggregate(vals, calib__ncols(src->k), agg);
  calib__free(vals);
  return st;
}

int calib__scope_eval(const calib__source *src, int scope, int agg, int prefix,
                      calib__problem_fn fn, void *ctx, double *out) {
  calib__sortws w;
  int st = calib__sortws_init(&w, src->n, prefix);
  if (st != CALIB_OK) return st;
  double v = 0;
  st = scope == CALIB_SCOPE_CLASSWISE ? run_classwise(src, agg, &w, fn, ctx, &v)
                                      : run_single(src, scope, &w, fn, ctx, &v);
  calib__sortws_free(&w);
  if (st == CALIB_OK) *out = v;
  return st;
}
