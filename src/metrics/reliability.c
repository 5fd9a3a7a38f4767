/* reliability.c -- reliability-diagram data: per bin the edges, the count,
 * the mean score, the mean target and its Wilson (1927) score interval
 * (formula in include/calib.h). */
#include "ce_internal.h"
#include <math.h>

void calib__rd_row(double *row, double lo, double hi, double cnt, double ss, double st,
                   double z) {
  row[CALIB_RD_LO] = lo;
  row[CALIB_RD_HI] = hi;
  row[CALIB_RD_COUNT] = cnt;
  if (!(cnt > 0)) {
    row[CALIB_RD_CONF] = row[CALIB_RD_ACC] = NAN;
    row[CALIB_RD_WILSON_LO] = row[CALIB_RD_WILSON_HI] = NAN;
    return;
  }
  const double q = st / cnt, z2 = z * z;
  const double den = 1.0 + z2 / cnt, mid = q + z2 / (2.0 * cnt);
  const double half = z * sqrt(q * (1.0 - q) / cnt + z2 / (4.0 * cnt * cnt));
  double wl = (mid - half) / den, wh = (mid + half) / den;
  row[CALIB_RD_CONF] = ss / cnt;
  row[CALIB_RD_ACC] = q;
  row[CALIB_RD_WILSON_LO] = wl < 0 ? 0 : wl; /* rounding at q = 0 */
  row[CALIB_RD_WILSON_HI] = wh > 1 ? 1 : wh; /* and at q = 1 */
}

int calib__rd_check(int scope, double z, const double *out, size_t cap, size_t bins,
                    const size_t *nbins) {
  if (!out || !nbins || !calib__bins_ok(bins) || !(z > 0 && z <= CALIB_RD_MAX_Z)) return CALIB_E_ARG;
  if (scope != CALIB_SCOPE_TOP_LABEL && scope != CALIB_SCOPE_POSITIVE_CLASS) return CALIB_E_ARG;
  if (cap / CALIB_RD_FIELDS < bins) return CALIB_E_SMALLBUF;
  return CALIB_OK;
}

/* rows: the caller's out. rd_fn is the last step of the call and cannot
 * fail once it writes (its only allocation comes first), and by then the
 * input has been copied into the sort workspace, so writing straight into
 * out keeps "nothing written on error" without a bins-sized copy. */
typedef struct {
  size_t bins;
  int binning;
  double z;
  double *rows; /* the caller's out: at least bins * CALIB_RD_FIELDS */
  size_t nbins;
} rd_ctx;

/* Edges of bin b of nb: equal width b/M; Kumar 0 / previous upper edge and
 * upper edge; index split: midpoints between neighbouring bins' scores. */
static void bin_edges(const calib__sorted *x, const rd_ctx *c, const double *edges, size_t b,
                      size_t nb, double *lo, double *hi) {
  if (c->binning == CALIB_BINNING_EQUAL_MASS_KUMAR) {
    *lo = b == 0 ? 0.0 : edges[b - 1];
    *hi = edges[b];
  } else if (c->binning == CALIB_BINNING_EQUAL_MASS_INDEX) {
    const size_t size = x->n / nb, a = b * size, e = b + 1 == nb ? x->n : a + size;
    *lo = b == 0 ? 0.0 : (x->s[a - 1] + x->s[a]) / 2.0;
    *hi = b + 1 == nb ? 1.0 : (x->s[e - 1] + x->s[e]) / 2.0;
  } else {
    *lo = (double)b / (double)c->bins;
    *hi = (double)(b + 1) / (double)c->bins;
  }
}

static int rd_fn(const calib__sorted *x, void *ctx, double *value) {
  rd_ctx *c = (rd_ctx *)ctx;
  double *edges = NULL;
  size_t nedges = 0;
  if (c->binning == CALIB_BINNING_EQUAL_MASS_KUMAR) {
    size_t bytes;
    if (!calib__size_bytes(c->bins < x->n ? c->bins : x->n, sizeof(double), &bytes))
      return CALIB_E_NOMEM;
    edges = (double *)calib__malloc(bytes);
    if (!edges) return CALIB_E_NOMEM;
    nedges = calib__equal_mass_edges_kumar(x->s, x->n, c->bins, edges);
  }
  calib__binwalk w;
  calib__binwalk_init(&w, x, c->bins, c->binning, edges, nedges);
  c->nbins = w.nbins;
  for (size_t b = 0; b < w.nbins; b++) {
    double lo, hi;
    bin_edges(x, c, edges, b, w.nbins, &lo, &hi);
    calib__rd_row(c->rows + b * CALIB_RD_FIELDS, lo, hi, 0, 0, 0, c->z);
  }
  size_t b, a, e;
  while (calib__binwalk_next(&w, &b, &a, &e)) {
    double cnt, ss, st, *row = c->rows + b * CALIB_RD_FIELDS;
    calib__range_stats(x, a, e, &cnt, &ss, &st);
    calib__rd_row(row, row[CALIB_RD_LO], row[CALIB_RD_HI], cnt, ss, st, c->z);
  }
  calib__free(edges);
  *value = 0;
  return CALIB_OK;
}

int calib_reliability(const float *probs, size_t n, size_t k, const int64_t *labels,
                      size_t bins, int scope, int binning, double z, double *out, size_t cap,
                      size_t *nbins) {
  if (k == 0 || !calib__valid_binning(binning)) return CALIB_E_ARG;
  int st = calib__rd_check(scope, z, out, cap, bins, nbins);
  if (st == CALIB_OK) st = calib__check_scope_input(probs, n, k, labels, scope, out);
  if (st != CALIB_OK) return st;
  rd_ctx c = {bins, binning, z, out, 0};
  const calib__source src = {probs, n, k, labels, NULL, NULL};
  double unused;
  st = calib__scope_eval(&src, scope, CALIB__AGG_MEAN, 0, rd_fn, &c, &unused);
  if (st == CALIB_OK) *nbins = c.nbins;
  return st;
}
