/* basic.c -- accuracy, NLL, Brier, top-label ECE and MCE (equal-width bins).
 * All accumulation in double. Formulas in include/calib.h. */
#include "metrics_internal.h"
#include <math.h>

int calib__check_metric_input(const float *probs, size_t n, size_t k,
                              const int64_t *labels, const void *out) {
  if (!out || k == 0) return CALIB_E_ARG;
  if (n == 0) return CALIB_E_EMPTY;
  size_t bytes; /* every metric: n * k * 8 bytes representable (the widest copy any makes) */
  if (!probs || !labels) return CALIB_E_ARG;
  if (!calib__size_mul3(n, k, sizeof(double), &bytes)) return CALIB_E_ARG;
  int st = calib__check_probs(probs, n, k);
  if (st == CALIB_OK) st = calib__check_labels(labels, n, k);
  return st;
}

int calib_accuracy(const float *probs, size_t n, size_t k, const int64_t *labels,
                   double *out) {
  int st = calib__check_metric_input(probs, n, k, labels, out);
  if (st != CALIB_OK) return st;
  size_t hits = 0;
  for (size_t i = 0; i < n; i++) {
    size_t pred;
    double conf;
    calib__top_label(probs + i * k, k, &pred, &conf);
    hits += pred == (size_t)labels[i];
  }
  *out = (double)hits / (double)n;
  return CALIB_OK;
}

int calib_nll(const float *probs, size_t n, size_t k, const int64_t *labels,
              double *out) {
  int st = calib__check_metric_input(probs, n, k, labels, out);
  if (st != CALIB_OK) return st;
  double s = 0;
  for (size_t i = 0; i < n; i++) {
    if (k == 1) {
      const double p = (double)probs[i];
      s -= labels[i] == 1 ? log(p) : log1p(-p);
    } else {
      s -= log((double)probs[i * k + (size_t)labels[i]]);
    }
  }
  *out = s / (double)n;
  return CALIB_OK;
}

static double softplus(double t) { return t > 0 ? t + log1p(exp(-t)) : log1p(exp(t)); }

/* logsumexp(z) - z[y] of one row, max-subtracted; the row has a finite max. */
static double row_nll(const float *z, size_t k, size_t y) {
  double m = (double)z[0];
  for (size_t j = 1; j < k; j++) m = (double)z[j] > m ? (double)z[j] : m;
  double s = 0;
  for (size_t j = 0; j < k; j++) s += exp((double)z[j] - m);
  return m + log(s) - (double)z[y];
}

int calib_nll_logits(const float *logits, size_t n, size_t k, const int64_t *labels,
                     double *out) {
  if (!out || k == 0) return CALIB_E_ARG;
  if (n == 0) return CALIB_E_EMPTY;
  size_t bytes;
  if (!logits || !labels) return CALIB_E_ARG;
  if (!calib__size_mul3(n, k, sizeof(double), &bytes)) return CALIB_E_ARG;
  for (size_t i = 0; i < n * k; i++)
    if (isnan(logits[i]) || (k > 1 && logits[i] == INFINITY)) return CALIB_E_NONFINITE;
  int st = calib__check_labels(labels, n, k);
  if (st != CALIB_OK) return st;
  if (k > 1) {
    for (size_t i = 0; i < n; i++) {
      const float *z = logits + i * k;
      int any = 0;
      for (size_t j = 0; j < k; j++) any |= z[j] != -INFINITY;
      if (!any) return CALIB_E_NONFINITE;
    }
  }
  double s = 0;
  for (size_t i = 0; i < n; i++) {
    if (k == 1) {
      const double z = (double)logits[i];
      s += labels[i] == 1 ? softplus(-z) : softplus(z);
    } else {
      s += row_nll(logits + i * k, k, (size_t)labels[i]);
    }
  }
  *out = s / (double)n;
  return CALIB_OK;
}

int calib_brier(const float *probs, size_t n, size_t k, const int64_t *labels,
                double *out) {
  int st = calib__check_metric_input(probs, n, k, labels, out);
  if (st != CALIB_OK) return st;
  double s = 0;
  for (size_t i = 0; i < n; i++) {
    const float *p = probs + i * k;
    if (k == 1) {
      const double d = (double)p[0] - (double)labels[i];
      s += d * d;
      continue;
    }
    for (size_t j = 0; j < k; j++) {
      const double d = (double)p[j] - (j == (size_t)labels[i] ? 1.0 : 0.0);
      s += d * d;
    }
  }
  *out = s / (double)n;
  return CALIB_OK;
}

/* ECE and MCE are the top-label, equal-width members of the binned family
 * (binned.c): one implementation, so they can never disagree with it. */
int calib_ece(const float *probs, size_t n, size_t k, const int64_t *labels,
              size_t bins, double *out) {
  return calib_calibration_error(probs, n, k, labels, bins, CALIB_SCOPE_TOP_LABEL,
                                 CALIB_BINNING_EQUAL_WIDTH, CALIB_NORM_L1, out);
}

int calib_mce(const float *probs, size_t n, size_t k, const int64_t *labels,
              size_t bins, double *out) {
  return calib_calibration_error(probs, n, k, labels, bins, CALIB_SCOPE_TOP_LABEL,
                                 CALIB_BINNING_EQUAL_WIDTH, CALIB_NORM_MAX, out);
}
