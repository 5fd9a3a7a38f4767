/* histogram.c -- CALIB_METHOD_HISTOGRAM: histogram binning (Zadrozny & Elkan
 * 2001), binary or one-vs-rest, equal-width or equal-mass bins (calib.h).
 *
 * Per class j: the probabilities p_ij (the input, or sigmoid/softmax of the
 * logits in double by calib__probs_from_logits, as calib_apply) are binned with the shared
 * binning module -- calib_bin_index (equal width) or Kumar's edges
 * calib__equal_mass_edges_kumar on the radix-sorted probabilities of the
 * rows of positive weight, then calib__edge_bin -- and theta_b is the
 * weighted mean label of bin b, or the bin midpoint for an empty bin. */
#include "histogram.h"
#include "checked.h"
#include "isotonic.h"
#include "sort.h"
#include "../model/histogram_apply.h"
#include "../model/isotonic_apply.h"
#include <math.h>

/* The two CALIB_INPUT_* values, whatever their order. */
#define INPUT_LO (CALIB_INPUT_PROBS < CALIB_INPUT_LOGITS ? CALIB_INPUT_PROBS : CALIB_INPUT_LOGITS)
#define INPUT_HI (CALIB_INPUT_PROBS < CALIB_INPUT_LOGITS ? CALIB_INPUT_LOGITS : CALIB_INPUT_PROBS)

const calib__param_spec calib__histogram_params[] = {
    {CALIB_P_HIST_BINS, "bins", 1, 100000, 10, 1},
    {CALIB_P_HIST_BINNING, "binning", CALIB_HIST_EQUAL_WIDTH, CALIB_HIST_EQUAL_MASS,
     CALIB_HIST_EQUAL_WIDTH, 1},
    {CALIB_P_INPUT, "input", INPUT_LO, INPUT_HI, CALIB_INPUT_LOGITS, 1},
    {0, NULL, 0, 0, 0, 0},
};

typedef struct {
  size_t M;
  int equal_mass, probs;
  const float *p;          /* n x k probabilities: the input or pbuf */
  float *pbuf;             /* sigmoid/softmax of logits (CALIB_INPUT_LOGITS) */
  double *values, *edges;  /* outputs, class after class (edges: equal mass) */
  double *counts;          /* bins per class (equal mass) */
  double *sw, *swy;        /* M accumulators */
  uint32_t *key, *ktmp;    /* equal mass: n each */
  double *sorted;          /* equal mass: n */
  size_t *hist;
} hist_work;

/* Kumar's edges for class j from the rows of positive weight; returns c_j. */
static size_t class_edges(const calib__fit_data *d, size_t j, hist_work *h, double *edges) {
  size_t N = 0;
  for (size_t i = 0; i < d->n; i++)
    if (!d->w || d->w[i] > 0) h->key[N++] = calib__f32_key(h->p[i * d->k + j]);
  const int r = calib__radix_sort_u32(h->key, NULL, h->ktmp, NULL, N, h->hist);
  const uint32_t *sk = r ? h->ktmp : h->key;
  for (size_t i = 0; i < N; i++) h->sorted[i] = (double)calib__f32_from_key(sk[i]);
  return calib__equal_mass_edges_kumar(h->sorted, N, h->M, edges);
}

static double midpoint(const hist_work *h, const double *edges, size_t b) {
  if (!h->equal_mass) return ((double)b / (double)h->M + (double)(b + 1) / (double)h->M) / 2.0;
  return (edges[b] + (b ? edges[b - 1] : 0.0)) / 2.0;
}

/* Bins and theta of class j at offset off; returns its number of bins. */
static size_t fit_class(const calib__fit_data *d, size_t j, hist_work *h, size_t off) {
  double *edges = h->equal_mass ? h->edges + off : NULL;
  const size_t nb = h->equal_mass ? class_edges(d, j, h, edges) : h->M;
  const int64_t want = calib__ovr_positive(d->k, j);
  memset(h->sw, 0, nb * sizeof(double));
  memset(h->swy, 0, nb * sizeof(double));
  for (size_t i = 0; i < d->n; i++) {
    const double w = d->w ? d->w[i] : 1.0;
    if (!(w > 0)) continue;
    const double p = (double)h->p[i * d->k + j];
    const size_t b = h->equal_mass ? calib__edge_bin(p, edges, nb) : calib_bin_index(p, nb);
    h->sw[b] += w;
    if (d->y[i] == want) h->swy[b] += w;
  }
  for (size_t b = 0; b < nb; b++)
    h->values[off + b] = h->sw[b] > 0 ? h->swy[b] / h->sw[b] : midpoint(h, edges, b);
  if (h->equal_mass) h->counts[j] = (double)nb;
  return nb;
}

/* Weighted mean NLL of the model's output on the fitting rows (the apply
 * path's arithmetic, on the same probabilities). */
static double nll_after(const calib__fit_data *d, const calib_model *m, const float *p) {
  calib__hist_view v;
  calib__hist_view_of(m, &v);
  double acc = 0;
  for (size_t i = 0; i < d->n; i++) {
    const double w = d->w ? d->w[i] : 1.0;
    if (!(w > 0)) continue;
    const float *r = p + i * d->k;
    double sum = 0, qy = 0, py;
    for (size_t j = 0, off = 0; j < d->k; j++) {
      const size_t nb = calib__hist_class_bins(&v, j);
      const double q = calib__hist_value(&v, off, nb, (double)r[j]);
      sum += q;
      if ((int64_t)j == d->y[i]) qy = q;
      off += nb;
    }
    if (d->k == 1) {
      const double q = (double)(float)sum;
      py = d->y[i] ? q : 1.0 - q;
    } else {
      py = (double)(float)(sum > 0 ? qy / sum : 1.0 / (double)d->k);
    }
    acc += w * -log(py);
  }
  return acc / d->wsum;
}

static int build(const calib__fit_data *d, const hist_work *h, size_t total, calib_model **out) {
  const double cfg[3] = {h->equal_mass ? CALIB_HIST_EQUAL_MASS : CALIB_HIST_EQUAL_WIDTH,
                         (double)h->M, h->probs ? CALIB_INPUT_PROBS : CALIB_INPUT_LOGITS};
  calib__section secs[4] = {{CALIB_MP_HIST_CONFIG, 3, cfg},
                            {CALIB_MP_HIST_VALUES, total, h->values},
                            {CALIB_MP_HIST_COUNTS, d->k, h->counts},
                            {CALIB_MP_HIST_EDGES, total, h->edges}};
  return calib__model_build(out, CALIB_METHOD_HISTOGRAM, d->k, secs, h->equal_mass ? 4 : 2);
}

static int work_alloc(hist_work *h, const calib__fit_data *d, void **block) {
  const int probs = h->probs;
  const size_t n = d->n, k = d->k, M = h->M;
  /* (2kM + k + 2M) doubles, n*k floats for logits, and the equal-mass sort's
   * n * (2 uint32 + 1 double) + radix histogram, all through checked.h */
  size_t cells, bytes, extra = 0;
  int ok = calib__size_mul3(2, k, M, &cells) && calib__size_add(cells, k, &cells) &&
           calib__size_add(cells, 2 * M, &cells) && calib__size_mul(cells, sizeof(double), &bytes);
  if (ok && !probs) ok = calib__size_mul3(n, k, sizeof(float), &extra) && calib__size_add(bytes, extra, &bytes);
  if (ok && h->equal_mass)
    ok = calib__size_mul(n, 2 * sizeof(uint32_t) + sizeof(double), &extra) && calib__size_add(bytes, extra, &bytes) &&
         calib__size_add(bytes, CALIB__RADIX_HIST * sizeof(size_t), &bytes);
  if (!ok || !calib__size_add(bytes, 8, &bytes) || bytes > CALIB__MAX_ALLOC) return CALIB_E_NOMEM;
  uint8_t *b = (uint8_t *)calib__malloc(bytes);
  if (!b) return CALIB_E_NOMEM;
  *block = b;
  h->values = (double *)(void *)b; b += k * M * sizeof(double);
  h->edges = (double *)(void *)b; b += k * M * sizeof(double);
  h->counts = (double *)(void *)b; b += k * sizeof(double);
  h->sw = (double *)(void *)b; b += M * sizeof(double);
  h->swy = (double *)(void *)b; b += M * sizeof(double);
  if (h->equal_mass) {
    h->sorted = (double *)(void *)b; b += n * sizeof(double);
    h->hist = (size_t *)(void *)b; b += CALIB__RADIX_HIST * sizeof(size_t);
    h->key = (uint32_t *)(void *)b; b += n * sizeof(uint32_t);
    h->ktmp = (uint32_t *)(void *)b; b += n * sizeof(uint32_t);
  }
  if (!probs) h->pbuf = (float *)(void *)b;
  return CALIB_OK;
}

int calib__histogram_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out) {
  const int probs = f->opt[CALIB_P_INPUT] == CALIB_INPUT_PROBS;
  int st = probs ? calib__check_probs(d->x, d->n, d->k) : CALIB_OK;
  if (st != CALIB_OK) return st;
  f->report.nll_before = calib__fit_nll_input(d, probs);
  hist_work h;
  memset(&h, 0, sizeof h);
  h.M = (size_t)f->opt[CALIB_P_HIST_BINS];
  h.equal_mass = f->opt[CALIB_P_HIST_BINNING] == CALIB_HIST_EQUAL_MASS;
  h.probs = probs;
  void *block = NULL;
  if ((st = work_alloc(&h, d, &block)) != CALIB_OK) return st;
  h.p = probs ? d->x : h.pbuf;
  if (!probs) st = calib__probs_from_logits(d->x, d->n, d->k, h.pbuf);
  size_t total = 0;
  for (size_t j = 0; st == CALIB_OK && j < d->k; j++) total += fit_class(d, j, &h, total);
  calib_model *m = NULL;
  if (st == CALIB_OK) st = build(d, &h, total, &m);
  if (st == CALIB_OK) {
    f->report.nll_after = nll_after(d, m, h.p);
    *out = m;
  }
  calib__free(block);
  return st;
}
