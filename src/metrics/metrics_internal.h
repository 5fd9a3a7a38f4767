/* metrics_internal.h -- helpers shared by the metric files (src/metrics/). */
#ifndef CALIB_METRICS_INTERNAL_H
#define CALIB_METRICS_INTERNAL_H
#include "internal.h"
#include "checked.h"

/* Top-label prediction and confidence of one probability row (k >= 2: argmax,
 * first index on ties; k == 1: 1 iff p > 0.5, confidence max(p, 1-p)). */
static inline void calib__top_label(const float *p, size_t k, size_t *pred, double *conf) {
  if (k == 1) {
    const double q = (double)p[0];
    *pred = q > 0.5;
    *conf = q > 0.5 ? q : 1.0 - q;
    return;
  }
  size_t a = 0;
  for (size_t j = 1; j < k; j++)
    if (p[j] > p[a]) a = j;
  *pred = a;
  *conf = (double)p[a];
}

/* Validation shared by every metric on probabilities: NULLs, k, n, values,
 * labels (in that order). */
int calib__check_metric_input(const float *probs, size_t n, size_t k,
                              const int64_t *labels, const void *out);
#endif
