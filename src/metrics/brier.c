/* brier.c -- the Brier score in its four scalings (REFERENCES.md 2.12;
 * formulas in include/calib.h). All accumulation in double. */
#include "ce_internal.h"

static double row_brier(const float *p, size_t k, size_t y, int scaling) {
  if (scaling == CALIB_BRIER_TOP_LABEL) {
    size_t pred;
    double conf;
    calib__top_label(p, k, &pred, &conf);
    const double d = conf - (pred == y ? 1.0 : 0.0);
    return d * d;
  }
  if (scaling == CALIB_BRIER_POSITIVE) {
    const double d = (double)p[k == 1 ? 0 : 1] - (y == 1 ? 1.0 : 0.0);
    return d * d;
  }
  if (k == 1) { /* the columns (1 - p, p): both differences equal p - y */
    const double d = (double)p[0] - (double)y;
    return 2.0 * d * d;
  }
  double s = 0;
  for (size_t j = 0; j < k; j++) {
    const double d = (double)p[j] - (j == y ? 1.0 : 0.0);
    s += d * d;
  }
  return s;
}

int calib_brier_score(const float *probs, size_t n, size_t k, const int64_t *labels,
                      int scaling, double *out) {
  if (!out || k == 0) return CALIB_E_ARG;
  if (scaling < CALIB_BRIER_SUM || scaling > CALIB_BRIER_TOP_LABEL) return CALIB_E_ARG;
  if (scaling == CALIB_BRIER_POSITIVE && k > 2) return CALIB_E_ARG;
  const int st = calib__check_metric_input(probs, n, k, labels, out);
  if (st != CALIB_OK) return st;
  double s = 0;
  for (size_t i = 0; i < n; i++) s += row_brier(probs + i * k, k, (size_t)labels[i], scaling);
  s /= (double)n;
  if (scaling == CALIB_BRIER_MEAN_K) s /= (double)calib__ncols(k);
  *out = s;
  return CALIB_OK;
}
