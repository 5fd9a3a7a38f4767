/* monitor_ref.c -- calib_reference: the fit-time summary the monitor compares
 * live traffic with (prior, confidence and predicted-class histograms, the
 * validation metrics). One allocation holds the struct and its arrays. */
#include "monitor_internal.h"
#include <math.h>

static int ref_alloc(calib_reference **out, size_t k) {
  const size_t kc = k == 1 ? 2 : k;
  size_t nd, bytes, total;
  if (!calib__size_mul(kc, 2, &nd) || !calib__size_add(nd, CALIB_REF_CONF_BINS, &nd) ||
      !calib__size_bytes(nd, sizeof(double), &bytes) ||
      !calib__size_add(bytes, sizeof(calib_reference), &total))
    return CALIB_E_NOMEM;
  calib_reference *r = (calib_reference *)calib__calloc(1, total);
  if (!r) return CALIB_E_NOMEM;
  r->k = k, r->kc = kc;
  r->prior = (double *)(void *)(r + 1);
  r->class_hist = r->prior + kc;
  r->conf_hist = r->class_hist + kc;
  *out = r;
  return CALIB_OK;
}

/* Histograms and the prior (labels' frequencies, else mean probabilities). */
static void ref_fill(calib_reference *r, const float *p, size_t n, const int64_t *labels) {
  for (size_t i = 0; i < n; i++) {
    double conf;
    const size_t top = calib__row_top(p, i, r->k, &conf);
    r->class_hist[top] += 1;
    r->conf_hist[calib_bin_index(conf, CALIB_REF_CONF_BINS)] += 1;
    if (labels) r->prior[labels[i]] += 1;
    else
      for (size_t j = 0; j < r->kc; j++) r->prior[j] += calib__row_p(p, i, r->k, j);
  }
  double s = 0;
  for (size_t j = 0; j < r->kc; j++) s += r->prior[j];
  for (size_t j = 0; j < r->kc; j++) r->prior[j] = s > 0 ? r->prior[j] / s : 1.0 / (double)r->kc;
}

static int ref_metrics(calib_reference *r, const float *p, size_t n, const int64_t *labels) {
  r->metrics[0] = (double)n;
  r->metrics[1] = r->metrics[2] = r->metrics[3] = NAN;
  if (!labels) return CALIB_OK;
  int st = calib_nll(p, n, r->k, labels, &r->metrics[1]);
  if (st == CALIB_OK) st = calib_ece(p, n, r->k, labels, CALIB__ECE_BINS, &r->metrics[2]);
  if (st == CALIB_OK) st = calib_brier(p, n, r->k, labels, &r->metrics[3]);
  return st;
}

int calib_reference_compute(calib_reference **out, const float *probs, size_t n, size_t k,
                            const int64_t *labels) {
  if (!out || !probs) return CALIB_E_ARG;
  int st = calib__check_batch(probs, n, k, 0);
  if (st != CALIB_OK) return st;
  if (n == 0) return CALIB_E_EMPTY;
  if (labels && (st = calib__check_labels(labels, n, k)) != CALIB_OK) return st;
  calib_reference *r = NULL;
  if ((st = ref_alloc(&r, k)) != CALIB_OK) return st;
  r->n = n;
  ref_fill(r, probs, n, labels);
  if ((st = ref_metrics(r, probs, n, labels)) != CALIB_OK) {
    calib__free(r);
    return st;
  }
  *out = r;
  return CALIB_OK;
}

void calib_reference_free(calib_reference *r) { calib__free(r); }

size_t calib_reference_classes(const calib_reference *r) { return r ? r->k : 0; }

int calib_reference_get(const calib_reference *r, int what, double *out, size_t cap,
                        size_t *count) {
  if (!r || !count) return CALIB_E_ARG;
  const double *src;
  size_t len;
  switch (what) {
  case CALIB_REF_PRIOR: src = r->prior, len = r->kc; break;
  case CALIB_REF_CONF_HIST: src = r->conf_hist, len = CALIB_REF_CONF_BINS; break;
  case CALIB_REF_CLASS_HIST: src = r->class_hist, len = r->kc; break;
  case CALIB_REF_METRICS: src = r->metrics, len = 4; break;
  default: return CALIB_E_ARG;
  }
  if (out && cap < len) return CALIB_E_SMALLBUF;
  if (out) memcpy(out, src, len * sizeof(double));
  *count = len;
  return CALIB_OK;
}

int calib__reference_clone(const calib_reference *src, calib_reference **out) {
  calib_reference *r = NULL;
  const int st = ref_alloc(&r, src->k);
  if (st != CALIB_OK) return st;
  r->n = src->n;
  memcpy(r->prior, src->prior, src->kc * sizeof(double));
  memcpy(r->class_hist, src->class_hist, src->kc * sizeof(double));
  memcpy(r->conf_hist, src->conf_hist, CALIB_REF_CONF_BINS * sizeof(double));
  memcpy(r->metrics, src->metrics, sizeof r->metrics);
  *out = r;
  return CALIB_OK;
}
