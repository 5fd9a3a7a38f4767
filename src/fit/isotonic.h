/* isotonic.h -- isotonic regression (src/fit/isotonic_core.c: the float64
 * solver shared by calib_isotonic_fit_f64 and the calibration fitter;
 * src/fit/isotonic.c: CALIB_METHOD_ISOTONIC on float32 scores). */
#ifndef CALIB_FIT_ISOTONIC_H
#define CALIB_FIT_ISOTONIC_H

#include "fit_internal.h"

/* scikit-learn's tie tolerance for float64: np.finfo(np.float64).resolution.
 * A sorted x joins the current group while x - (group's first x) < this. */
#define CALIB__ISO_TIE_EPS 1e-15

/* Unique-x groups built from a stream sorted by (x, y, original index), as
 * scikit-learn's _make_unique builds them: the group keeps its first x, its
 * weight is the running sum of w and its y the running sum of y*w divided by
 * the weight, accumulated in stream order (so results match bit for bit). */
typedef struct {
  double *x, *y, *w; /* capacity: at least the number of stream elements */
  size_t n;          /* groups closed so far */
  double cx, sy, sw; /* the open group: first x, sum y*w, sum w */
  int open;
} calib__iso_groups;

static inline void calib__iso_group_add(calib__iso_groups *g, double x, double y, double w) {
  if (g->open && x - g->cx < CALIB__ISO_TIE_EPS) {
    g->sw += w;
    g->sy += y * w;
    return;
  }
  if (g->open) {
    g->x[g->n] = g->cx;
    g->w[g->n] = g->sw;
    g->y[g->n] = g->sy / g->sw;
    g->n++;
  }
  /* scikit-learn starts its very first group from 0 + ..., later ones from
   * the element itself: identical except for the sign of a zero sum. */
  const double base = (g->n == 0 && !g->open) ? 0.0 : -0.0;
  g->open = 1;
  g->cx = x;
  g->sw = base + w;
  g->sy = base + y * w;
}

static inline void calib__iso_group_close(calib__iso_groups *g) {
  if (!g->open) return;
  g->x[g->n] = g->cx;
  g->w[g->n] = g->sw;
  g->y[g->n] = g->sy / g->sw;
  g->n++;
  g->open = 0;
}

/* A binary problem (labels 0/1) on float32-representable scores, as one
 * sorted stream: key = (calib__f32_key(score) << 1) | label, so the 33
 * significant bits sort in 3 radix passes and equal scores put negatives
 * first: the order (x, y, row) of np.lexsort((y, x)). Weights (as bits)
 * travel with the keys; w == NULL means all 1. */
typedef struct {
  const uint64_t *key, *w;
  size_t n, n1; /* rows, positives */
} calib__iso_stream;

static inline double calib__iso_stream_w(const calib__iso_stream *st, size_t i) {
  double d = 1.0;
  if (st->w) memcpy(&d, &st->w[i], sizeof d);
  return d;
}

double calib__iso_stream_x(uint64_t key);

/* Sorts filled keys (and weight bits, wv may be NULL) into *st; ktmp/wtmp
 * and hist (CALIB__RADIX_HIST) are scratch; n1 = number of positives. */
void calib__iso_stream_sort(calib__iso_stream *st, uint64_t *key, uint64_t *wv, uint64_t *ktmp,
                            uint64_t *wtmp, size_t n, size_t n1, size_t *hist);
/* Exact Spearman sign over all rows (zero weights included): 1 increasing,
 * 0 decreasing (also when rho is undefined, as scikit-learn). */
int calib__iso_stream_increasing(const calib__iso_stream *st);
/* Feeds the rows of positive weight into the unique-x groups and closes them. */
void calib__iso_stream_groups(const calib__iso_stream *st, calib__iso_groups *g);

/* Pool-adjacent-violators, clip and trim, in place, on nu >= 1 groups with
 * strictly increasing x and positive weights: fits the isotonic (increasing
 * != 0) or antitonic regression of y with weights w, clips the fit to
 * [ymin, ymax], then keeps the first and last point and every point whose
 * value differs from a neighbour's. On return x[0..m) and y[0..m) hold the
 * thresholds; w is clobbered; link is scratch of nu entries. Returns m. */
size_t calib__iso_solve(double *x, double *y, double *w, size_t *link, size_t nu,
                        int increasing, double ymin, double ymax);

/* Weighted mean NLL of the fit input itself (report.nll_before of isotonic
 * and histogram binning): logits through sigmoid/softmax, probabilities raw
 * (k == 1: p or 1 - p); rows of weight 0 skipped. May be +inf. */
double calib__fit_nll_input(const calib__fit_data *d, int probs);

/* The calibration method (src/fit/isotonic.c). */
extern const calib__param_spec calib__isotonic_params[];
int calib__isotonic_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out);

#endif
