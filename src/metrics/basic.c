/* basic.c -- accuracy, NLL, Brier, top-label ECE and MCE (equal-width bins).
 * All accumulation in double. Formulas in include/calib.h. */
#include "metrics_internal.h"
#include <math.h>

int calib__check_metric_input(const float *probs, size_t n, size_t k,
                              const int64_t *labels, const void *out) {
  if (!out || k == 0) return CALIB_E_ARG;
  if (n == 0) return CALIB_E_EMPTY;
  if (!probs || !labels) return CALIB_E_ARG;
  if (n > (size_t)-1 / k / sizeof(float)) return CALIB_E_ARG;
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
  if (!logits || !labels) return CALIB_E_ARG;
  if (n > (size_t)-1 / k / sizeof(float)) return CALIB_E_ARG;
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

/* Per-bin sums of the top-label (confidence, correct) pairs; then ECE and MCE. */
static int top_label_gaps(const float *probs, size_t n, size_t k,
                          const int64_t *labels, size_t bins, double *ece,
                          double *mce) {
  if (bins == 0) return CALIB_E_ARG;
  int st = calib__check_metric_input(probs, n, k, labels, ece ? (void *)ece : (void *)mce);
  if (st != CALIB_OK) return st;
  if (bins > (size_t)-1 / (3 * sizeof(double))) return CALIB_E_ARG;
  double *acc = (double *)calib__calloc(3 * bins, sizeof(double));
  if (!acc) return CALIB_E_NOMEM;
  for (size_t i = 0; i < n; i++) {
    size_t pred;
    double conf;
    calib__top_label(probs + i * k, k, &pred, &conf);
    double *b = acc + 3 * calib_bin_index(conf, bins);
    b[0] += 1.0;
    b[1] += conf;
    b[2] += pred == (size_t)labels[i] ? 1.0 : 0.0;
  }
  double e = 0, m = 0;
  for (size_t b = 0; b < bins; b++) {
    const double c = acc[3 * b];
    if (c == 0) continue;
    const double gap = fabs(acc[3 * b + 2] / c - acc[3 * b + 1] / c);
    e += c / (double)n * gap;
    m = gap > m ? gap : m;
  }
  calib__free(acc);
  if (ece) *ece = e;
  if (mce) *mce = m;
  return CALIB_OK;
}

int calib_ece(const float *probs, size_t n, size_t k, const int64_t *labels,
              size_t bins, double *out) {
  if (!out) return CALIB_E_ARG;
  return top_label_gaps(probs, n, k, labels, bins, out, NULL);
}

int calib_mce(const float *probs, size_t n, size_t k, const int64_t *labels,
              size_t bins, double *out) {
  if (!out) return CALIB_E_ARG;
  return top_label_gaps(probs, n, k, labels, bins, NULL, out);
}
