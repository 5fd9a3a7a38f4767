/* ce_internal.h -- internals of the metrics suite (src/metrics/: sorted.c,
 * binned.c, ks.c, kde_ece.c, smece.c, brier.c, reliability.c, accumulate.c,
 * suite.c). Not installed.
 *
 * Every measure reduces its input, by scope, to one or more 1-D problems:
 * n scores s_i in [0, 1] (double) with binary targets t_i in {0, 1}
 *   top-label      : s = confidence, t = 1[prediction == label]   (one problem)
 *   positive class : s = P(y = 1),   t = 1[label == 1]            (one problem)
 *   classwise      : for each class j, s = p_ij, t = 1[label == j] (kc problems,
 *                    kc = k, or 2 when k == 1: the columns 1 - p and p)
 * A problem is sorted ascending by (s, t) (targets 0 before 1 among equal
 * scores, so every result is independent of the row order) and then handed
 * to the estimators below. */
#ifndef CALIB_CE_INTERNAL_H
#define CALIB_CE_INTERNAL_H

#include "metrics_internal.h"
#include "sort.h"
#include <math.h>

/* ---- Parameter ranges (documented in calib.h) ------------------------------
 * Bin counts of the measures on data: 1..CALIB_MAX_BINS; of an accumulator:
 * 1..CALIB_ACC_MAX_BINS (its memory is proportional to bins, with no data to
 * bound it). */
static inline int calib__bins_ok(size_t bins) { return bins >= 1 && bins <= CALIB_MAX_BINS; }

/* ---- Sorted 1-D problems (sorted.c) --------------------------------------- */

/* Scratch for sorting problems of up to `cap` rows; reused across classes.
 * A score s in [0, 1] is a non-negative double below 2, so its IEEE bits u
 * are < 2^62 and increase with s: the sort key (u << 1) | t orders by
 * (s, t) with no payload. */
typedef struct {
  size_t cap, n;
  uint64_t *key, *ktmp;
  size_t *hist;               /* CALIB__RADIX_HIST entries */
  double *s;                  /* sorted scores (cap) */
  uint8_t *t;                 /* sorted targets (cap) */
  double *ph, *pl;            /* optional prefix sums of s (cap + 1 each), or NULL */
  size_t *pt;                 /* optional prefix counts of t (cap + 1), or NULL */
} calib__sortws;

/* A sorted problem: s ascending, ties ordered by t; prefix arrays optional:
 * sum of s[0..i) = ph[i] + pl[i] (compensated), count of t = 1 in [0, i) = pt[i]. */
typedef struct {
  size_t n;
  const double *s;
  const uint8_t *t;
  const double *ph, *pl;
  const size_t *pt;
} calib__sorted;

int calib__sortws_init(calib__sortws *w, size_t cap, int prefix);
void calib__sortws_free(calib__sortws *w);
/* Starts a problem of n <= cap rows; then exactly n calls of _push with
 * s in [0, 1] (callers validate: the key needs 0 <= s < 2). */
void calib__sortws_begin(calib__sortws *w, size_t n);
static inline void calib__sortws_push(calib__sortws *w, double s, int t) {
  uint64_t u;
  s = s + 0.0; /* -0 -> +0 */
  memcpy(&u, &s, sizeof u);
  w->key[w->n++] = (u << 1) | (uint64_t)(t != 0);
}
/* Sorts the pushed problem and fills *out (and the prefix arrays if any). */
void calib__sortws_sort(calib__sortws *w, calib__sorted *out);

/* Count, sum of s and count of t = 1 over positions [a, b) of x. */
void calib__range_stats(const calib__sorted *x, size_t a, size_t b, double *cnt,
                        double *ss, double *st);

/* ---- Input reduction (sorted.c) --------------------------------------------
 * The probabilities as float32 (probs) or as float64 softmax of logits (the
 * tao2024 suite): rmax/rsum hold each row's max logit and sum exp(z - max),
 * so p_ij = exp(z_ij - rmax_i) / rsum_i is recomputed bit for bit. k == 1
 * stands for the two columns (1 - p, p), or the logits (0, z). */
typedef struct {
  const float *x;
  size_t n, k;
  const int64_t *labels;
  const double *rmax, *rsum; /* non-NULL: x are logits */
} calib__source;

/* Number of classwise columns: k, or 2 when k == 1. */
static inline size_t calib__ncols(size_t k) { return k == 1 ? 2 : k; }
/* One row r of float32 probabilities as its calib__ncols(k) columns in
 * double (k == 1: (1 - p, p)); returns its NLL term -ln p_y (k == 1, y == 0:
 * -log1p(-p)). Shared by the suite's row pass and the accumulator. */
static inline double calib__prob_row(const float *r, size_t k, size_t y, double *p) {
  if (k == 1) {
    p[0] = 1.0 - (double)r[0];
    p[1] = (double)r[0];
    return y == 1 ? -log(p[1]) : -log1p(-p[1]);
  }
  for (size_t j = 0; j < k; j++) p[j] = (double)r[j];
  return -log(p[y]);
}
/* p_ij of column j (0 <= j < ncols) of row i. */
double calib__source_p(const calib__source *src, size_t i, size_t j);
/* Columns j0..j1-1 into col[(j - j0) * n + i]. */
void calib__source_columns(const calib__source *src, size_t j0, size_t j1, double *col);
/* Logits of n rows of k: NaN, +inf or an all -inf row is CALIB_E_NONFINITE;
 * -inf (a masked class) is allowed. binary_pos_inf: for k == 1 also +inf
 * (a sigmoid takes it; a softmax of (0, z) does not). */
int calib__check_logit_rows(const float *z, size_t n, size_t k, int binary_pos_inf);
/* Columns per extraction block: about 16 MB of doubles, whole 64-byte lines
 * of the float32 rows when possible, at least 1, at most m. */
size_t calib__column_block(size_t n, size_t m);

/* Validation of a (probs, n, k, labels) metric call with a scope:
 * CALIB_E_ARG for out NULL, k == 0, an unknown scope or positive class with
 * k > 2; then calib__check_metric_input's order. */
int calib__check_scope_input(const float *probs, size_t n, size_t k, const int64_t *labels,
                             int scope, const void *out);
/* The same without the pass over the values and labels (for callers that
 * validate them in their own single pass, values before labels). */
int calib__check_scope_args(const float *probs, size_t n, size_t k, const int64_t *labels,
                            int scope, const void *out);

/* An estimator on one sorted problem: CALIB_OK and *value, or an error. */
typedef int (*calib__problem_fn)(const calib__sorted *x, void *ctx, double *value);

/* How classwise per-class values combine: mean, root mean square, maximum. */
#define CALIB__AGG_MEAN 0
#define CALIB__AGG_RMS 1
#define CALIB__AGG_MAX 2
double calib__aggregate(const double *v, size_t m, int agg);
/* The combination calib.h gives a norm: RMS for L2 and debiased L2, maximum
 * for MAX, mean for L1. */
static inline int calib__norm_agg(int norm, int debias) {
  return debias || norm == CALIB_NORM_L2 ? CALIB__AGG_RMS
         : norm == CALIB_NORM_MAX       ? CALIB__AGG_MAX
                                        : CALIB__AGG_MEAN;
}

/* Runs fn on every classwise problem of src in turn (columns extracted in
 * blocks of calib__column_block, each sorted in w), fn's value of column j
 * into vals[j] (vals may be NULL); stops at fn's first error. */
int calib__classwise_each(const calib__source *src, calib__sortws *w, calib__problem_fn fn,
                          void *ctx, double *vals);

/* Runs fn on every problem of `scope` (probs already validated) and combines
 * the classwise values with agg. prefix: the problems need prefix arrays. */
int calib__scope_eval(const calib__source *src, int scope, int agg, int prefix,
                      calib__problem_fn fn, void *ctx, double *out);

/* ---- Binned estimators (binned.c) ------------------------------------------ */

/* Running per-bin reduction to one norm (CALIB_NORM_*; debias: Kumar's
 * debiased squared L2 terms). */
typedef struct {
  double N, sum, max;
  int norm, debias;
} calib__gap;
void calib__gap_init(calib__gap *g, double N, int norm, int debias);
void calib__gap_bin(calib__gap *g, double cnt, double ss, double st);
double calib__gap_value(const calib__gap *g);

/* Walks the non-empty bins of a sorted problem in order: *b = bin index
 * (< nbins), rows [*a, *e). Kumar's binning needs its upper edges
 * (calib__equal_mass_edges_kumar on x->s) in `edges`. */
typedef struct {
  const calib__sorted *x;
  size_t bins, pos, idx, nbins, size;
  int binning;
  const double *edges;
} calib__binwalk;
void calib__binwalk_init(calib__binwalk *w, const calib__sorted *x, size_t bins, int binning,
                         const double *edges, size_t nedges);
int calib__binwalk_next(calib__binwalk *w, size_t *b, size_t *a, size_t *e);
/* Equal-width bin of c (right-closed or left-closed) with a table
 * e[b] = (double)b / M of M + 1 edges: the same bin as calib_bin_index /
 * calib__bin_index_left_closed (tested on every value kind). For 0 < c < 1
 * truncation is floor (no libm call); the table then moves the guess to
 * the exact bin. */
static inline size_t calib__ew_bin(double c, size_t M, const double *e, int left_closed) {
  if (M <= 1 || !(c > 0)) return 0;
  if (c >= 1) return M - 1;
  size_t b = (size_t)(c * (double)M);
  if (b > M - 1) b = M - 1;
  if (left_closed) {
    while (b > 0 && c < e[b]) b--;
    while (b + 1 < M && c >= e[b + 1]) b++;
  } else {
    while (b > 0 && c <= e[b]) b--;
    while (b + 1 < M && c > e[b + 1]) b++;
  }
  return b;
}
/* Feeds every non-empty bin of x (binwalk arguments) to the ng gaps g[]. */
void calib__sorted_gaps(const calib__sorted *x, size_t bins, int binning, const double *edges,
                        size_t nedges, calib__gap *g, size_t ng);
/* The CE of a sorted problem for one (bins, binning, norm, debias). */
int calib__sorted_ce(const calib__sorted *x, size_t bins, int binning, int norm, int debias,
                     double *out);
int calib__valid_binning(int binning);

/* ---- Reliability diagrams (reliability.c) ------------------------------------ */
/* One CALIB_RD_FIELDS row: edges, count, means and Wilson interval at z
 * (NaN means for an empty bin). */
void calib__rd_row(double *row, double lo, double hi, double cnt, double ss, double st, double z);
/* Argument checks shared with the accumulator: z, scope, nbins/out, cap. */
int calib__rd_check(int scope, double z, const double *out, size_t cap, size_t bins,
                    const size_t *nbins);

/* ---- Bin-free estimators ------------------------------------------------------ */
double calib__ks_sorted(const calib__sorted *x);                 /* ks.c */
double calib__mmce_sorted(const calib__sorted *x, double width); /* ks.c */
int calib__kde_ece_sorted(const calib__sorted *x, double *out);  /* kde_ece.c */
int calib__smece_sorted(const calib__sorted *x, double sigma, double *out,
                        double *sigma_used);                     /* smece.c */

/* Default MMCE kernel width (Kumar, Sarawagi & Jain 2018). */
#define CALIB__MMCE_WIDTH 0.4

#endif
