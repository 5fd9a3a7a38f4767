/* histogram_apply.c -- histogram binning models: validation and apply.
 * Firmware core: no allocation, no stdio; reentrant. Bins come from the one
 * shared binning module (src/metrics/binning.c): calib_bin_index for equal
 * width, calib__edge_bin for Kumar's equal-mass edges.
 *
 * Sections:
 *   CALIB_MP_HIST_CONFIG  3 values: binning (CALIB_HIST_EQUAL_WIDTH or
 *                         _EQUAL_MASS), M (integer in [1, 100000]), input
 *                         (CALIB_INPUT_LOGITS or _PROBS)
 *   CALIB_MP_HIST_VALUES  theta in [0, 1]: k*M values (equal width) or
 *                         sum c_j (equal mass), class after class
 *   equal mass only:
 *   CALIB_MP_HIST_COUNTS  k values c_j, integers in [1, M]
 *   CALIB_MP_HIST_EDGES   sum c_j upper edges: per class strictly increasing,
 *                         in [0, 1], the last exactly 1.0
 * Apply: probabilities (the input itself, or sigmoid/softmax of logits in
 * double by calib__probs_from_logits, written to the output first), each mapped to its bin's
 * theta; k >= 2 rows sum-normalised in double (uniform 1/k if the sum is 0). */
#include "histogram_apply.h"
#include "applyd.h"
#include "isotonic_apply.h"
#include "rowmath.h"
#include <math.h>

#define MAX_BINS 100000.0

void calib__hist_view_of(const calib_model *m, calib__hist_view *v) {
  const double *cfg = calib__model_section(m, CALIB_MP_HIST_CONFIG)->data;
  const calib__section *c = calib__model_section(m, CALIB_MP_HIST_COUNTS);
  const calib__section *e = calib__model_section(m, CALIB_MP_HIST_EDGES);
  v->equal_mass = cfg[0] == CALIB_HIST_EQUAL_MASS;
  v->bins = (size_t)cfg[1];
  v->probs = cfg[2] == CALIB_INPUT_PROBS;
  v->values = calib__model_section(m, CALIB_MP_HIST_VALUES)->data;
  v->counts = c ? c->data : NULL;
  v->edges = e ? e->data : NULL;
}

size_t calib__hist_class_bins(const calib__hist_view *v, size_t j) {
  return v->equal_mass ? (size_t)v->counts[j] : v->bins;
}

static inline double hist_value(const calib__hist_view *v, size_t off, size_t nb, double p) {
  const size_t b = v->equal_mass ? calib__edge_bin(p, v->edges + off, nb) : calib__bin_index_inl(p, nb);
  return v->values[off + b];
}

double calib__hist_value(const calib__hist_view *v, size_t off, size_t nb, double p) {
  return hist_value(v, off, nb, p);
}

/* ---- validation ---------------------------------------------------------- */

static int in01(const double *a, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!(a[i] >= 0.0 && a[i] <= 1.0)) return 0;
  return 1;
}

static int edges_ok(const calib__section *cnt, const calib__section *edg, size_t k, double M) {
  size_t off = 0;
  for (size_t j = 0; j < k; j++) {
    const double c = cnt->data[j];
    if (!(c >= 1.0 && c <= M) || c != floor(c) || c > (double)(edg->count - off)) return 0;
    const size_t cj = (size_t)c;
    const double *e = edg->data + off;
    for (size_t b = 1; b < cj; b++)
      if (!(e[b] > e[b - 1])) return 0;
    if (e[cj - 1] != 1.0) return 0;
    off += cj;
  }
  return off == edg->count;
}

int calib__histogram_validate(calib_model *m) {
  const calib__section *cfg = calib__model_section(m, CALIB_MP_HIST_CONFIG);
  const calib__section *val = calib__model_section(m, CALIB_MP_HIST_VALUES);
  if (!cfg || !val || cfg->count != 3) return CALIB_E_FORMAT;
  const double binning = cfg->data[0], M = cfg->data[1], input = cfg->data[2];
  if (!(binning == CALIB_HIST_EQUAL_WIDTH || binning == CALIB_HIST_EQUAL_MASS)) return CALIB_E_FORMAT;
  if (!(M >= 1.0 && M <= MAX_BINS) || M != floor(M)) return CALIB_E_FORMAT;
  if (!(input == CALIB_INPUT_LOGITS || input == CALIB_INPUT_PROBS)) return CALIB_E_FORMAT;
  if (!in01(val->data, val->count)) return CALIB_E_FORMAT;
  if (binning == CALIB_HIST_EQUAL_WIDTH) {
    if (m->nsections != 2 || m->k > (size_t)-1 / (size_t)M) return CALIB_E_FORMAT;
    return val->count == m->k * (size_t)M ? CALIB_OK : CALIB_E_FORMAT;
  }
  const calib__section *cnt = calib__model_section(m, CALIB_MP_HIST_COUNTS);
  const calib__section *edg = calib__model_section(m, CALIB_MP_HIST_EDGES);
  if (m->nsections != 4 || !cnt || !edg || cnt->count != m->k || edg->count != val->count)
    return CALIB_E_FORMAT;
  if (!in01(edg->data, edg->count) || !edges_ok(cnt, edg, m->k, M)) return CALIB_E_FORMAT;
  return CALIB_OK;
}

/* ---- apply ---------------------------------------------------------------- */

/* Probability input: NaN/+inf -> non-finite (first priority), then values
 * outside [0, 1] (-inf included) -> domain. */
static int check_input(const calib__f32u *x, size_t count) {
  int domain = 0;
  for (size_t i = 0; i < count; i++) {
    const float v = x[i];
    if (isnan(v) || v == INFINITY) return CALIB_E_NONFINITE;
    if (!(v >= 0.0f && v <= 1.0f)) domain = 1;
  }
  return domain ? CALIB_E_DOMAIN : CALIB_OK;
}

/* q_j = theta of p_j's bin for calib__ovr_normalise (*cur: the offset of
 * class j's bins); reads p[j] only, so p may alias the output. */
static double hist_row_q(const void *ctx, const calib__f32u *p, size_t j, size_t *cur) {
  const calib__hist_view *v = (const calib__hist_view *)ctx;
  const size_t nb = calib__hist_class_bins(v, j), off = *cur;
  *cur = off + nb;
  return hist_value(v, off, nb, (double)p[j]);
}

/* Equal-width bins with the M + 1 edges b/M computed once per call (the
 * same divisions calib_bin_index makes per value), for M <= HIST_EDGE_TAB:
 * the bin of each value without a division; the same bin as
 * calib__bin_index_inl (b/M < c <= (b+1)/M, 0 and NaN in bin 0). */
#ifdef CALIB_CORE
#define HIST_EDGE_TAB 0
#else
#define HIST_EDGE_TAB 256
#endif
typedef struct {
  const calib__hist_view *v;
  double e[HIST_EDGE_TAB + 1];
} hist_tab_ctx;

static double hist_row_q_tab(const void *ctx, const calib__f32u *p, size_t j, size_t *cur) {
  const hist_tab_ctx *c = (const hist_tab_ctx *)ctx;
  const size_t M = c->v->bins, off = *cur;
  *cur = off + M;
  const double x = (double)p[j];
  size_t b = 0;
  if (M > 1 && x > 0) {
    if (x >= 1) b = M - 1;
    else {
      const double guess = ceil(x * (double)M) - 1.0;
      b = guess < 0 ? 0 : (guess > (double)M - 1 ? M - 1 : (size_t)guess);
      while (b > 0 && x <= c->e[b]) b--;
      while (b + 1 < M && x > c->e[b + 1]) b++;
    }
  }
  return c->v->values[off + b];
}

int calib__histogram_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k) {
  calib__hist_view v;
  calib__hist_view_of(m, &v);
  /* logits: NaN, +inf, a row of only -inf (calib__probs_from_logits' rule) */
  return v.probs ? check_input(x, n * k) : calib__logits_check(x, n, k);
}

void calib__histogram_map(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                          calib__f32u *y) {
  calib__hist_view v;
  calib__hist_view_of(m, &v);
  if (!v.probs) calib__logits_to_probs(x, n, k, y); /* probabilities into the output first */
  const calib__f32u *p = v.probs ? x : y;
  if (k == 1) {
    const size_t nb0 = calib__hist_class_bins(&v, 0);
    for (size_t i = 0; i < n; i++) y[i] = (float)calib__hist_value(&v, 0, nb0, (double)p[i]);
    return;
  }
  if (!v.equal_mass && v.bins <= HIST_EDGE_TAB) {
    hist_tab_ctx c;
    c.v = &v;
    for (size_t b = 0; b <= v.bins; b++) c.e[b] = (double)b / (double)v.bins; /* binning.c's edges */
    const calib__applyd *ad = CALIB__APPLYD();
    if (ad && v.bins >= 2 && k <= CALIB__APPLYD_MAX_K) { /* the same map, 8 (4) classes per step */
      ad->hist_ew_rows(v.values, v.bins, c.e, p, n, k, y);
      return;
    }
    for (size_t i = 0; i < n; i++) calib__ovr_normalise(hist_row_q_tab, &c, p + i * k, k, y + i * k);
    return;
  }
  for (size_t i = 0; i < n; i++) calib__ovr_normalise(hist_row_q, &v, p + i * k, k, y + i * k);
}

int calib__histogram_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                           calib__f32u *y) {
  const int st = calib__histogram_check(m, x, n, k);
  if (st != CALIB_OK) return st;
  calib__histogram_map(m, x, n, k, y);
  return CALIB_OK;
}
