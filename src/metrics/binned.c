/* binned.c -- the binned calibration errors: every scope x binning x norm,
 * and Kumar's debiased l2 (formulas in include/calib.h, "Metrics suite").
 *
 * Equal-width binnings run in one pass over the rows with per-bin sums (no
 * sort); equal-mass binnings sort each problem (sorted.c) and walk its bins.
 * Both paths use the bin conventions of binning.c. */
#include "ce_internal.h"
#include "kernels.h"
#include <math.h>

/* The direct pass allocates 3 doubles per (bin, column) cell and M + 1
 * edges; it is used only while that is bounded by the data: at most
 * max(n, DIRECT_SMALL_BINS) bins and DIRECT_MAX_CELLS cells. Otherwise the
 * sorted path runs, which needs O(n) plus min(bins, n) edges, so no bin
 * count (up to CALIB__MAX_BINS) makes a call allocate more than a constant
 * plus a multiple of its input. */
#define DIRECT_MAX_CELLS ((size_t)1 << 22)
#define DIRECT_SMALL_BINS ((size_t)1024)

int calib__valid_binning(int binning) {
  return binning == CALIB_BINNING_EQUAL_WIDTH || binning == CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED ||
         binning == CALIB_BINNING_EQUAL_MASS_KUMAR || binning == CALIB_BINNING_EQUAL_MASS_INDEX;
}

static int valid_norm(int norm) {
  return norm == CALIB_NORM_L1 || norm == CALIB_NORM_L2 || norm == CALIB_NORM_MAX;
}

/* ---- Per-bin reduction --------------------------------------------------------- */

void calib__gap_init(calib__gap *g, double N, int norm, int debias) {
  g->N = N;
  g->sum = 0;
  g->max = 0;
  g->norm = norm;
  g->debias = debias;
}

void calib__gap_bin(calib__gap *g, double cnt, double ss, double st) {
  if (!(cnt > 0)) return;
  const double conf = ss / cnt, acc = st / cnt, d = acc - conf, w = cnt / g->N;
  if (g->debias) {
    if (cnt >= 2) g->sum += w * (d * d - acc * (1.0 - acc) / (cnt - 1.0));
  } else if (g->norm == CALIB_NORM_L1) {
    g->sum += w * fabs(d);
  } else if (g->norm == CALIB_NORM_L2) {
    g->sum += w * d * d;
  } else if (fabs(d) > g->max) {
    g->max = fabs(d);
  }
}

double calib__gap_value(const calib__gap *g) {
  if (g->debias) return g->sum > 0 ? sqrt(g->sum) : 0.0;
  if (g->norm == CALIB_NORM_L1) return g->sum;
  if (g->norm == CALIB_NORM_L2) return sqrt(g->sum);
  return g->max;
}

/* ---- Bins of a sorted problem ------------------------------------------------------ */

void calib__binwalk_init(calib__binwalk *w, const calib__sorted *x, size_t bins, int binning,
                         const double *edges, size_t nedges) {
  w->x = x;
  w->bins = bins;
  w->binning = binning;
  w->pos = 0;
  w->idx = 0;
  w->edges = edges;
  w->size = 0;
  if (binning == CALIB_BINNING_EQUAL_MASS_KUMAR) {
    w->nbins = nedges;
  } else if (binning == CALIB_BINNING_EQUAL_MASS_INDEX) {
    w->nbins = bins < x->n ? bins : x->n;
    w->size = w->nbins ? x->n / w->nbins : 0;
  } else {
    w->nbins = bins;
  }
}

/* First position in [from, n) whose score is > v (le) or >= v (!le). */
static size_t search_from(const calib__sorted *x, size_t from, double v, int le) {
  size_t lo = from, hi = x->n;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (le ? x->s[mid] <= v : x->s[mid] < v) lo = mid + 1; else hi = mid;
  }
  return lo;
}

static int walk_equal_width(calib__binwalk *w, size_t *b, size_t *a, size_t *e) {
  const calib__sorted *x = w->x;
  if (w->pos >= x->n) return 0;
  const int lc = w->binning == CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED;
  const double c = x->s[w->pos];
  const size_t bin = lc ? calib__bin_index_left_closed(c, w->bins) : calib_bin_index(c, w->bins);
  *b = bin;
  *a = w->pos;
  w->pos = bin + 1 >= w->bins ? x->n
                              : search_from(x, w->pos, (double)(bin + 1) / (double)w->bins, !lc);
  *e = w->pos;
  return 1;
}

int calib__binwalk_next(calib__binwalk *w, size_t *b, size_t *a, size_t *e) {
  const calib__sorted *x = w->x;
  if (w->binning == CALIB_BINNING_EQUAL_WIDTH || w->binning == CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED)
    return walk_equal_width(w, b, a, e);
  while (w->idx < w->nbins && w->pos < x->n) {
    const size_t i = w->idx++;
    size_t end;
    if (w->binning == CALIB_BINNING_EQUAL_MASS_INDEX)
      end = i + 1 == w->nbins ? x->n : (i + 1) * w->size;
    else
      end = i + 1 == w->nbins ? x->n : search_from(x, w->pos, w->edges[i], 1);
    if (end > w->pos) {
      *b = i;
      *a = w->pos;
      *e = end;
      w->pos = end;
      return 1;
    }
  }
  return 0;
}

void calib__sorted_gaps(const calib__sorted *x, size_t bins, int binning, const double *edges,
                        size_t nedges, calib__gap *g, size_t ng) {
  calib__binwalk w;
  size_t b, a, e;
  calib__binwalk_init(&w, x, bins, binning, edges, nedges);
  while (calib__binwalk_next(&w, &b, &a, &e)) {
    double cnt, ss, st;
    calib__range_stats(x, a, e, &cnt, &ss, &st);
    for (size_t i = 0; i < ng; i++) calib__gap_bin(g + i, cnt, ss, st);
  }
}

int calib__sorted_ce(const calib__sorted *x, size_t bins, int binning, int norm, int debias,
                     double *out) {
  double *edges = NULL;
  size_t nedges = 0;
  if (binning == CALIB_BINNING_EQUAL_MASS_KUMAR) {
    size_t bytes;
    if (!calib__size_bytes(bins < x->n ? bins : x->n, sizeof(double), &bytes)) return CALIB_E_NOMEM;
    edges = (double *)calib__malloc(bytes);
    if (!edges) return CALIB_E_NOMEM;
    nedges = calib__equal_mass_edges_kumar(x->s, x->n, bins, edges);
  }
  calib__gap g;
  calib__gap_init(&g, (double)x->n, norm, debias);
  calib__sorted_gaps(x, bins, binning, edges, nedges, &g, 1);
  calib__free(edges);
  *out = calib__gap_value(&g);
  return CALIB_OK;
}

/* ---- Equal-width bins in one pass over the rows --------------------------------- */

typedef struct {
  size_t bins;
  int binning, norm, debias;
} ce_params;

/* Callers bound M (direct_ok), so M + 1 and the byte count cannot wrap; the
 * checked helpers say so rather than assume it. */
static double *edge_table(size_t M) {
  size_t count, bytes;
  if (!calib__size_add(M, 1, &count) || !calib__size_bytes(count, sizeof(double), &bytes))
    return NULL;
  double *e = (double *)calib__malloc(bytes);
  if (e)
    for (size_t b = 0; b <= M; b++) e[b] = (double)b / (double)M;
  return e;
}

/* Argmax (first index on ties) of a row of float32 probabilities, on their
 * IEEE bits: values in +0..1 have bits <= 0x3F800000 that order like the
 * values, so one branch-free integer chain finds it (random argmaxes
 * mispredict; measured faster than float compares or two chains). Returns
 * 0 if some bits exceed 0x3F800000: an invalid value, or -0.0 (valid, and
 * left to the exact path, which orders it as 0). */
static int row_argmax_bits(const float *r, size_t k, size_t *arg) {
  uint64_t over = 0;
  uint32_t best = 0;
  size_t a = 0;
  for (size_t j = 0; j < k; j++) {
    uint32_t u;
    memcpy(&u, r + j, sizeof u);
    over |= 0x3F800000u - (uint64_t)u;
    const int gt = u > best;
    best = gt ? u : best;
    a = gt ? j : a;
  }
  *arg = a;
  return !(over >> 63);
}

/* The exact path for a row with bits above 1.0: the first invalid value's
 * code, or CALIB_OK and the argmax by float comparison (-0.0 == +0.0). */
static int row_argmax_checked(const float *r, size_t k, size_t *arg) {
  size_t a = 0;
  for (size_t j = 0; j < k; j++) {
    if (!(r[j] >= 0.0f && r[j] <= 1.0f)) return isfinite(r[j]) ? CALIB_E_DOMAIN : CALIB_E_NONFINITE;
    if (r[j] > r[a]) a = j;
  }
  *arg = a;
  return CALIB_OK;
}

/* One top-label row into the bins: its top score s (k == 1: the larger of
 * p and 1 - p) and whether label y is the top label. */
static inline void top_bin_add(const float *r, size_t k, size_t a, int64_t y, size_t M, const double *e,
                               int lc, double *acc) {
  double s = (double)r[a];
  if (k == 1) {
    a = r[0] > 0.5f;
    s = a ? s : 1.0 - s;
  }
  double *c = acc + 3 * calib__ew_bin(s, M, e, lc);
  c[0] += 1.0;
  c[1] += s;
  c[2] += (int64_t)a == y ? 1.0 : 0.0;
}

/* kernels.h's top_label_rows in portable C, row by row with row_argmax_bits:
 * for a table without the entry and for k beyond its range. */
static size_t top_label_rows_c(const float *p, size_t n, size_t k, size_t *arg) {
  for (size_t i = 0; i < n; i++) {
    size_t a;
    if (!row_argmax_bits(p + i * k, k, &a)) return i;
    arg[i] = a;
  }
  return n;
}

typedef size_t (*top_fn)(const float *, size_t, size_t, size_t *);

/* The table's top_label_rows where it has one and k suits it, else the
 * portable one (both give the same argmaxes and stop at the same rows). */
static top_fn top_kernel(size_t k) {
  const top_fn top = calib__kernels_get()->top_label_rows;
  return top && k <= CALIB__TOP_MAX_K ? top : top_label_rows_c;
}

/* Top-label rows of float32 probabilities in one pass that also validates
 * them (values first, then labels, as calib__check_metric_input orders the
 * errors): per-bin count, score sum, target sum into acc. The argmaxes of
 * TOP_BLOCK rows at a time go into a buffer in L1 (a row top stops at, with
 * bits above 1.0, through row_argmax_checked), then the bins row by row. */
#define TOP_BLOCK ((size_t)512)
static inline int fused_top_rows(top_fn top, const float *probs, size_t n, size_t k, const int64_t *labels,
                                 size_t M, const double *e, int lc, double *acc) {
  size_t arg[TOP_BLOCK];
  int label_error = 0;
  const int64_t ymax = k == 1 ? 1 : (int64_t)k - 1;
  for (size_t i0 = 0; i0 < n; i0 += TOP_BLOCK) {
    const size_t m = n - i0 < TOP_BLOCK ? n - i0 : TOP_BLOCK;
    for (size_t d = 0; d < m; d++) { /* d: the next row without its argmax */
      d += top(probs + (i0 + d) * k, m - d, k, arg + d);
      if (d == m) break;
      const int st = row_argmax_checked(probs + (i0 + d) * k, k, arg + d);
      if (st != CALIB_OK) return st;
    }
    for (size_t d = 0; d < m; d++) {
      const int64_t y = labels[i0 + d];
      if (y < 0 || y > ymax) label_error = 1;
      top_bin_add(probs + (i0 + d) * k, k, arg[d], y, M, e, lc, acc);
    }
  }
  return label_error ? CALIB_E_LABEL : CALIB_OK;
}

/* The two bin conventions as separate instances (lc a constant in each). */
static int fused_top_right_closed(const float *probs, size_t n, size_t k, const int64_t *labels,
                                  size_t M, const double *e, double *acc) {
  return fused_top_rows(top_kernel(k), probs, n, k, labels, M, e, 0, acc);
}
static int fused_top_left_closed(const float *probs, size_t n, size_t k, const int64_t *labels,
                                 size_t M, const double *e, double *acc) {
  return fused_top_rows(top_kernel(k), probs, n, k, labels, M, e, 1, acc);
}

/* Top-label or positive class: per-bin count, score sum, target sum. */
static int direct_single(const calib__source *src, int scope, const ce_params *p, double *out) {
  const size_t M = p->bins;
  const int lc = p->binning == CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED;
  size_t cells, bytes;
  if (!calib__size_mul(3, M, &cells) || !calib__size_bytes(cells, sizeof(double), &bytes))
    return CALIB_E_NOMEM;
  double *acc = (double *)calib__calloc(cells, sizeof(double)), *e = edge_table(M);
  if (!acc || !e) {
    calib__free(acc);
    calib__free(e);
    return CALIB_E_NOMEM;
  }
  int st = CALIB_OK;
  if (scope == CALIB_SCOPE_TOP_LABEL) {
    st = (lc ? fused_top_left_closed : fused_top_right_closed)(src->x, src->n, src->k, src->labels, M, e, acc);
  } else {
    for (size_t i = 0; i < src->n; i++) {
      const double s = calib__source_p(src, i, 1);
      double *c = acc + 3 * calib__ew_bin(s, M, e, lc);
      c[0] += 1.0;
      c[1] += s;
      c[2] += src->labels[i] == 1 ? 1.0 : 0.0;
    }
  }
  calib__gap g;
  calib__gap_init(&g, (double)src->n, p->norm, p->debias);
  for (size_t b = 0; b < M; b++) calib__gap_bin(&g, acc[3 * b], acc[3 * b + 1], acc[3 * b + 2]);
  if (st == CALIB_OK) *out = calib__gap_value(&g);
  calib__free(acc);
  calib__free(e);
  return st;
}

/* Classwise: cells [bin][column] (most probabilities of a row share bin 0,
 * so a row touches few cache lines). */
static void direct_cw_rows(const calib__source *src, const ce_params *p, const double *e,
                           double *cnt, double *ss, double *st) {
  const size_t m = calib__ncols(src->k), M = p->bins;
  const int lc = p->binning == CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED;
  for (size_t i = 0; i < src->n; i++) {
    const size_t y = (size_t)src->labels[i];
    for (size_t j = 0; j < m; j++) {
      const double s = calib__source_p(src, i, j);
      const size_t cell = calib__ew_bin(s, M, e, lc) * m + j;
      cnt[cell] += 1.0;
      ss[cell] += s;
      if (j == y) st[cell] += 1.0;
    }
  }
}

static int direct_classwise(const calib__source *src, const ce_params *p, int agg, double *out) {
  const size_t m = calib__ncols(src->k), M = p->bins;
  size_t cells, bytes, vbytes;
  if (!calib__size_mul3(3, M, m, &cells) || !calib__size_bytes(cells, sizeof(double), &bytes) ||
      !calib__size_bytes(m, sizeof(double), &vbytes))
    return CALIB_E_NOMEM;
  double *cnt = (double *)calib__calloc(cells, sizeof(double));
  double *vals = (double *)calib__malloc(vbytes), *e = edge_table(M);
  if (!cnt || !vals || !e) {
    calib__free(cnt);
    calib__free(vals);
    calib__free(e);
    return CALIB_E_NOMEM;
  }
  double *ss = cnt + M * m, *st = ss + M * m;
  direct_cw_rows(src, p, e, cnt, ss, st);
  for (size_t j = 0; j < m; j++) {
    calib__gap g;
    calib__gap_init(&g, (double)src->n, p->norm, p->debias);
    for (size_t b = 0; b < M; b++) calib__gap_bin(&g, cnt[b * m + j], ss[b * m + j], st[b * m + j]);
    vals[j] = calib__gap_value(&g);
  }
  *out = calib__aggregate(vals, m, agg);
  calib__free(cnt);
  calib__free(vals);
  calib__free(e);
  return CALIB_OK;
}

static int sorted_fn(const calib__sorted *x, void *ctx, double *value) {
  const ce_params *p = (const ce_params *)ctx;
  return calib__sorted_ce(x, p->bins, p->binning, p->norm, p->debias, value);
}

/* The one-pass equal-width path, while its tables are bounded by the data. */
static int direct_ok(const ce_params *p, size_t n, size_t k, int scope) {
  const int ew = p->binning == CALIB_BINNING_EQUAL_WIDTH ||
                 p->binning == CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED;
  const size_t cols = scope == CALIB_SCOPE_CLASSWISE ? calib__ncols(k) : 1;
  const size_t small = n > DIRECT_SMALL_BINS ? n : DIRECT_SMALL_BINS;
  return ew && p->bins <= small && p->bins <= DIRECT_MAX_CELLS / cols;
}

static int calibration_error(const float *probs, size_t n, size_t k, const int64_t *labels,
                             const ce_params *p, int scope, double *out) {
  if (!out || k == 0) return CALIB_E_ARG;
  if (!calib__bins_ok(p->bins) || !calib__valid_binning(p->binning) || !valid_norm(p->norm))
    return CALIB_E_ARG;
  const int direct = direct_ok(p, n, k, scope);
  int st;
  if (direct && scope == CALIB_SCOPE_TOP_LABEL) /* validates the values in its one pass */
    st = calib__check_scope_args(probs, n, k, labels, scope, out);
  else
    st = calib__check_scope_input(probs, n, k, labels, scope, out);
  if (st != CALIB_OK) return st;
  const calib__source src = {probs, n, k, labels, NULL, NULL};
  const int agg = calib__norm_agg(p->norm, p->debias);
  double v = 0;
  if (direct)
    st = scope == CALIB_SCOPE_CLASSWISE ? direct_classwise(&src, p, agg, &v)
                                        : direct_single(&src, scope, p, &v);
  else {
    ce_params q = *p;
    st = calib__scope_eval(&src, scope, agg, 0, sorted_fn, &q, &v);
  }
  if (st == CALIB_OK) *out = v;
  return st;
}

int calib_calibration_error(const float *probs, size_t n, size_t k, const int64_t *labels,
                            size_t bins, int scope, int binning, int norm, double *out) {
  const ce_params p = {bins, binning, norm, 0};
  return calibration_error(probs, n, k, labels, &p, scope, out);
}

int calib_debiased_l2_ce(const float *probs, size_t n, size_t k, const int64_t *labels,
                         size_t bins, int scope, int binning, double *out) {
  const ce_params p = {bins, binning, CALIB_NORM_L2, 1};
  return calibration_error(probs, n, k, labels, &p, scope, out);
}
