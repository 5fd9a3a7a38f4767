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

/* ---- The reference a model carries (format version 2, model/model_meta.c) ---- */

int calib__reference_from_arrays(calib_reference **out, size_t k, size_t n, const double *prior,
                                 const double *conf_hist, const double *class_hist, const double metrics[4]) {
  calib_reference *r = NULL;
  const int st = ref_alloc(&r, k);
  if (st != CALIB_OK) return st;
  r->n = n;
  memcpy(r->prior, prior, r->kc * sizeof(double));
  memcpy(r->class_hist, class_hist, r->kc * sizeof(double));
  memcpy(r->conf_hist, conf_hist, CALIB_REF_CONF_BINS * sizeof(double));
  memcpy(r->metrics, metrics, sizeof r->metrics);
  *out = r;
  return CALIB_OK;
}

int calib_model_reference(const calib_model *m, calib_reference **out) {
  if (!m || !out) return CALIB_E_ARG;
  calib__model_meta mt;
  calib__model_meta_get(m, &mt);
  if (!mt.prior) return CALIB_E_UNSUPPORTED; /* "model carries no fit-time reference" */
  const double metrics[4] = {mt.info[1], mt.info[5], mt.info[6], mt.info[7]};
  return calib__reference_from_arrays(out, m->k, (size_t)mt.info[1], mt.prior, mt.conf_hist, mt.class_hist,
                                      metrics);
}

/* 1 when ref holds exactly the arrays and metrics of mt's reference. */
static int same_reference(const calib_reference *ref, const calib__model_meta *mt) {
  if (!mt->prior || (double)ref->n != mt->info[1]) return 0;
  const double mine[4] = {mt->info[1], mt->info[5], mt->info[6], mt->info[7]};
  for (size_t i = 0; i < 4; i++) /* bitwise, so NaN equals NaN */
    if (memcmp(&ref->metrics[i], &mine[i], sizeof(double)) != 0) return 0;
  return memcmp(ref->prior, mt->prior, ref->kc * sizeof(double)) == 0 &&
         memcmp(ref->class_hist, mt->class_hist, ref->kc * sizeof(double)) == 0 &&
         memcmp(ref->conf_hist, mt->conf_hist, CALIB_REF_CONF_BINS * sizeof(double)) == 0;
}

int calib_model_with_reference(calib_model **out, const calib_model *m, const calib_reference *ref,
                               const char *tag, int64_t created_unix) {
  if (!out || !m) return CALIB_E_ARG;
  const size_t tag_len = calib__tag_check(tag);
  if (tag_len == (size_t)-1) return CALIB_E_ARG;
  if (created_unix < 0 || created_unix > ((int64_t)1 << 53)) return CALIB_E_ARG;
  if (ref && ref->k != m->k) return CALIB_E_SHAPE;
  if (!ref && tag_len == 0 && created_unix == 0) return calib__model_with_meta(out, m, NULL);
  calib__model_meta old, mt;
  calib__model_meta_get(m, &old);
  memset(&mt, 0, sizeof mt);
  for (size_t i = 1; i < CALIB__META_INFO_COUNT; i++) mt.info[i] = NAN;
  mt.info[0] = (double)created_unix;
  mt.info[1] = 0;
  if (ref) {
    mt.info[1] = (double)ref->n;
    mt.info[5] = ref->metrics[1], mt.info[6] = ref->metrics[2], mt.info[7] = ref->metrics[3];
    if (same_reference(ref, &old)) mt.info[2] = old.info[2], mt.info[3] = old.info[3], mt.info[4] = old.info[4];
    mt.prior = ref->prior, mt.conf_hist = ref->conf_hist, mt.class_hist = ref->class_hist;
  }
  mt.tag = tag, mt.tag_len = tag_len;
  const int st = calib__model_with_meta(out, m, &mt);
  return st == CALIB_E_FORMAT ? CALIB_E_ARG : st; /* E_ARG: values no model may hold */
}
