/* isotonic.c -- CALIB_METHOD_ISOTONIC: isotonic regression calibration of
 * float32 scores, binary (k == 1) or one-vs-rest (k >= 2), with scikit-learn's
 * semantics (see calib.h and isotonic_core.c).
 *
 * The values fitted: the input itself, or for logits with k >= 2 the softmax
 * rows (calib__probs_from_logits, as calib_apply computes them). Per class, each row
 * becomes one 64-bit key (order key of its float32 value << 1 | label),
 * radix sorted on 33 bits (3 passes, the weight travelling along): ties put
 * negatives first, np.lexsort((y, x)) order (calib__iso_stream). One walk
 * gives the exact Spearman sign (auto direction), one the unique-x groups;
 * then PAV, clip and trim (calib__iso_solve), the optional strict ramp, and
 * the tables of all classes become the model's sections. Values are widened
 * to double exactly, so the fit equals scikit-learn's on the float64 cast.
 * The k == 1 report is computed once per distinct score of the sorted
 * stream; for k >= 2 row by row (the renormalisation couples the classes).
 * The same k == 1 walk leaves the distinct scores and their label counts in
 * the scratch for calib_fit's provenance (calib_fitter.groups), whose
 * metrics then cost one evaluation per score instead of one per row.
 * The n-sized scratch (the softmax rows, the keys, weights and groups) is the
 * fitter's (calib__fitter_scratch), kept between fits: refits on the same
 * fitter reuse memory that is already paged in. */
#include "isotonic.h"
#include "checked.h"
#include "../model/isotonic_apply.h"
#include "../model/rowmath.h"
#include "sort.h"
#include <math.h>

/* The CALIB_INPUT_* values (probs 1, logits 2, scores 3) form one range. */
#define INPUT_LO (CALIB_INPUT_PROBS < CALIB_INPUT_LOGITS ? CALIB_INPUT_PROBS : CALIB_INPUT_LOGITS)
#define INPUT_HI CALIB_INPUT_SCORES

const calib__param_spec calib__isotonic_params[] = {
    {CALIB_P_ISO_INCREASING, "increasing", -1, 1, 1, 1},
    {CALIB_P_ISO_Y_MIN, "y_min", 0, 1, 0, 0},
    {CALIB_P_ISO_Y_MAX, "y_max", 0, 1, 1, 0},
    {CALIB_P_ISO_OUT_OF_BOUNDS, "out_of_bounds", CALIB_OOB_CLIP, CALIB_OOB_ERROR, CALIB_OOB_CLIP, 1},
    {CALIB_P_ISO_STRICT, "strict", 0, 0.25, 0, 0},
    {CALIB_P_INPUT, "input", INPUT_LO, INPUT_HI, CALIB_INPUT_LOGITS, 1},
    {0, NULL, 0, 0, 0, 0},
};

typedef struct {
  int increasing; /* 1, 0, -1 auto */
  double ymin, ymax, strict;
} iso_opts;

typedef struct {
  uint64_t *key, *ktmp; /* n each: (score key << 1) | label */
  uint64_t *wv, *wtmp;  /* n each, weights as bits (weighted fits only) */
  double *gx, *gy, *gw; /* unique-x groups; k == 1, once the table is out:
                         * the distinct scores and label counts (binary_walk) */
  size_t *link, *hist;
} iso_scratch;

/* The layout of the per-class arrays: returns their size in bytes (0 on
 * overflow) and, with b != NULL (8-byte aligned), points s's arrays into b
 * (the 8-byte arrays first, so all stay aligned). */
static size_t iso_layout(iso_scratch *s, uint8_t *b, size_t n, int weighted) {
  const size_t per = 2 * sizeof(uint64_t) + (weighted ? 2 * sizeof(uint64_t) : 0) +
                     3 * sizeof(double) + sizeof(size_t);
  size_t bytes;
  if (!calib__size_mul(n, per, &bytes) ||
      !calib__size_add(bytes, CALIB__RADIX_HIST * sizeof(size_t), &bytes) || bytes > CALIB__MAX_ALLOC)
    return 0;
  if (!b) return bytes;
  memset(s, 0, sizeof *s);
  s->key = (uint64_t *)(void *)b; b += n * sizeof(uint64_t);
  s->ktmp = (uint64_t *)(void *)b; b += n * sizeof(uint64_t);
  if (weighted) {
    s->wv = (uint64_t *)(void *)b; b += n * sizeof(uint64_t);
    s->wtmp = (uint64_t *)(void *)b; b += n * sizeof(uint64_t);
  }
  s->gx = (double *)(void *)b; b += n * sizeof(double);
  s->gy = (double *)(void *)b; b += n * sizeof(double);
  s->gw = (double *)(void *)b; b += n * sizeof(double);
  s->link = (size_t *)(void *)b; b += n * sizeof(size_t);
  s->hist = (size_t *)(void *)b;
  return bytes;
}

/* The fit's n-sized scratch, from the fitter (kept between fits, so a refit
 * does not page-fault): the softmax rows when softmax (*pbuf, n*k floats,
 * else NULL), then the per-class arrays (iso_layout). */
static int scratch_get(calib_fitter *f, const calib__fit_data *d, int softmax, iso_scratch *s,
                       float **pbuf) {
  /* n * k * 4 <= CALIB__MAX_ALLOC (calib_fit checked it): rounding up cannot wrap */
  const size_t pb = softmax ? (d->n * d->k * sizeof(float) + 7) / 8 * 8 : 0;
  const size_t sb = iso_layout(s, NULL, d->n, d->w != NULL);
  size_t total;
  if (sb == 0 || !calib__size_add(pb, sb, &total) || total > CALIB__MAX_ALLOC) return CALIB_E_NOMEM;
  uint8_t *b = (uint8_t *)calib__fitter_scratch(f, total);
  if (!b) return CALIB_E_NOMEM;
  *pbuf = softmax ? (float *)(void *)b : NULL;
  iso_layout(s, b + pb, d->n, d->w != NULL);
  return CALIB_OK;
}

/* Class j's rows as a sorted stream (see calib__iso_stream in isotonic.h). */
static void build_stream(const calib__fit_data *d, const float *data, size_t j, iso_scratch *s,
                         calib__iso_stream *st) {
  const size_t n = d->n, k = d->k;
  const int64_t want = calib__ovr_positive(k, j);
  size_t n1 = 0;
  for (size_t i = 0; i < n; i++) {
    const uint64_t lab = d->y[i] == want;
    s->key[i] = ((uint64_t)calib__f32_key(data[i * k + j]) << 1) | lab;
    n1 += (size_t)lab;
  }
  if (d->w) memcpy(s->wv, d->w, n * sizeof(double));
  calib__iso_stream_sort(st, s->key, s->wv, s->ktmp, s->wtmp, n, n1, s->hist);
}

/* Flat runs become ramps toward their neighbours (calib.h, "Strict ranks"). */
static void strict_ramp(const double *y, double *out, size_t m, const iso_opts *o, int inc) {
  const double left_end = inc ? o->ymin : o->ymax, right_end = inc ? o->ymax : o->ymin;
  memcpy(out, y, m * sizeof(double));
  for (size_t j = 0; j + 1 < m; j++) {
    if (y[j] != y[j + 1]) continue;
    const double v = y[j];
    const double L = j > 0 ? y[j - 1] : left_end, R = j + 2 < m ? y[j + 2] : right_end;
    out[j] = v + o->strict * (L - v);
    out[j + 1] = v + o->strict * (R - v);
  }
}

/* -ln P(label) for a score v of the input kind (logits or probability). */
static double nll_input_binary(double v, int pos, int probs);

/* What a k == 1 fit leaves besides its table. */
typedef struct {
  double nll[2]; /* the report: weighted NLL sums of the input and of the fitted table */
  size_t scores; /* distinct scores written to the scratch (binary_walk) */
} binary_out;

/* k == 1: one walk over the distinct scores of the sorted stream. It sums
 * the report's NLL, evaluating the table once per score (the same values
 * calib_apply gives each row; a row-by-row pass would cost n log m), and
 * writes each score (vx) with its counts of label-0 and label-1 rows, zero
 * weights included (n0, n1): the rows grouped for provenance. */
static void binary_walk(const calib__iso_stream *st, const double *t, size_t m, int probs,
                        double *vx, double *n0, double *n1, binary_out *out) {
  double *nll = out->nll;
  nll[0] = nll[1] = 0;
  size_t start = 0, g = 0;
  while (start < st->n) {
    const uint64_t x = st->key[start] >> 1;
    double wp = 0, wn = 0;
    size_t e = start, c1 = 0;
    for (; e < st->n && (st->key[e] >> 1) == x; e++) {
      const double w = calib__iso_stream_w(st, e);
      c1 += (size_t)(st->key[e] & 1);
      if (st->key[e] & 1) wp += w; else wn += w;
    }
    const double v = calib__iso_stream_x(st->key[start]);
    vx[g] = v;
    n0[g] = (double)(e - start - c1);
    n1[g] = (double)c1;
    g++;
    const double q = (double)(float)calib__iso_eval_clip(t, t + m, m, v);
    if (wp > 0) {
      nll[0] += wp * nll_input_binary(v, 1, probs);
      nll[1] += wp * -log(q);
    }
    if (wn > 0) {
      nll[0] += wn * nll_input_binary(v, 0, probs);
      nll[1] += wn * -log(1.0 - q);
    }
    start = e;
  }
  out->scores = g;
}

/* Fits class j; *tab receives a new array of 2*m doubles (x then y). With
 * k == 1, bo receives the report sums and the scratch the grouped rows
 * (binary_walk: after the solve and the copy of the table, the group arrays
 * are free). */
static int fit_class(const calib__fit_data *d, const float *data, size_t j, const iso_opts *o,
                     iso_scratch *s, int probs, double **tab, size_t *m, binary_out *bo) {
  calib__iso_stream st;
  build_stream(d, data, j, s, &st);
  const int inc = o->increasing >= 0 ? o->increasing : calib__iso_stream_increasing(&st);
  calib__iso_groups g = {s->gx, s->gy, s->gw, 0, 0, 0, 0, 0};
  calib__iso_stream_groups(&st, &g);
  const size_t mm = calib__iso_solve(s->gx, s->gy, s->gw, s->link, g.n, inc, o->ymin, o->ymax);
  double *t = (double *)calib__malloc(2 * mm * sizeof(double));
  if (!t) return CALIB_E_NOMEM;
  memcpy(t, s->gx, mm * sizeof(double));
  if (o->strict > 0) strict_ramp(s->gy, t + mm, mm, o, inc);
  else memcpy(t + mm, s->gy, mm * sizeof(double));
  if (d->k == 1) binary_walk(&st, t, mm, probs, s->gx, s->gy, s->gw, bo);
  *tab = t;
  *m = mm;
  return CALIB_OK;
}

/* ---- report: NLL before and after ----------------------------------------- */

/* -ln P(true class) of the input: logits via sigmoid/softmax, probabilities
 * raw (k == 1: p or 1 - p). */
static double nll_input_binary(double v, int pos, int probs) {
  if (probs) return -log(pos ? v : 1.0 - v);
  return calib__softplus_d(pos ? -v : v);
}

static double nll_input_row(const float *r, size_t k, int64_t y, int probs) {
  if (k == 1) return nll_input_binary((double)r[0], y != 0, probs);
  if (probs) return -log((double)r[y]);
  return calib__row_lse(r, k) - (double)r[y];
}

double calib__fit_nll_input(const calib__fit_data *d, int probs) {
  double acc = 0;
  for (size_t i = 0; i < d->n; i++) {
    const double w = d->w ? d->w[i] : 1.0;
    if (w > 0) acc += w * nll_input_row(d->x + i * d->k, d->k, d->y[i], probs);
  }
  return acc / d->wsum;
}

/* Weighted mean NLL of the calibrated output (calib_apply's arithmetic,
 * clipping out-of-range rows). */
static double nll_after(const calib__fit_data *d, const float *data, double *const *tab,
                        const size_t *m) {
  double acc = 0;
  for (size_t i = 0; i < d->n; i++) {
    const double w = d->w ? d->w[i] : 1.0;
    if (!(w > 0)) continue;
    const float *r = data + i * d->k;
    double p;
    if (d->k == 1) {
      const float q = (float)calib__iso_eval_clip(tab[0], tab[0] + m[0], m[0], (double)r[0]);
      p = d->y[i] ? (double)q : 1.0 - (double)q;
    } else {
      double sum = 0, qy = 0;
      for (size_t j = 0; j < d->k; j++) {
        const double q = calib__iso_eval_clip(tab[j], tab[j] + m[j], m[j], (double)r[j]);
        sum += q;
        if ((int64_t)j == d->y[i]) qy = q;
      }
      p = (double)(float)(sum > 0 ? qy / sum : 1.0 / (double)d->k);
    }
    acc += w * -log(p);
  }
  return acc / d->wsum;
}

/* ---- the fit -------------------------------------------------------------- */

static int build_model(const calib__fit_data *d, calib_fitter *f, double *const *tab,
                       const size_t *m, calib_model **out) {
  size_t total = 0;
  for (size_t j = 0; j < d->k; j++) total += m[j];
  double *buf = (double *)calib__malloc((2 * total + d->k) * sizeof(double));
  if (!buf) return CALIB_E_NOMEM;
  double *X = buf, *Y = buf + total, *C = buf + 2 * total;
  for (size_t j = 0, off = 0; j < d->k; off += m[j], j++) {
    memcpy(X + off, tab[j], m[j] * sizeof(double));
    memcpy(Y + off, tab[j] + m[j], m[j] * sizeof(double));
    C[j] = (double)m[j];
  }
  const double cfg[3] = {f->opt[CALIB_P_ISO_OUT_OF_BOUNDS], f->opt[CALIB_P_INPUT],
                         f->opt[CALIB_P_ISO_STRICT]};
  const calib__section secs[4] = {{CALIB_MP_ISO_CONFIG, 3, cfg},
                                  {CALIB_MP_ISO_COUNTS, d->k, C},
                                  {CALIB_MP_ISO_X, total, X},
                                  {CALIB_MP_ISO_Y, total, Y}};
  const int st = calib__model_build(out, CALIB_METHOD_ISOTONIC, d->k, secs, 4);
  calib__free(buf);
  return st;
}

int calib__isotonic_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out) {
  const iso_opts o = {(int)f->opt[CALIB_P_ISO_INCREASING], f->opt[CALIB_P_ISO_Y_MIN],
                      f->opt[CALIB_P_ISO_Y_MAX], f->opt[CALIB_P_ISO_STRICT]};
  const int input = (int)f->opt[CALIB_P_INPUT], probs = input == CALIB_INPUT_PROBS;
  if (o.ymin > o.ymax) return CALIB_E_ARG;
  if (f->opt[CALIB_P_ISO_OUT_OF_BOUNDS] == CALIB_OOB_ERROR && input == CALIB_INPUT_LOGITS && d->k > 1)
    return CALIB_E_ARG; /* out-of-range rows could only be found after the softmax is written */
  int st = probs ? calib__check_probs(d->x, d->n, d->k) : CALIB_OK;
  if (st != CALIB_OK) return st;
  /* logits with k >= 2: the tables are fitted on the softmax rows */
  const int softmax = input == CALIB_INPUT_LOGITS && d->k > 1;
  float *pbuf;
  iso_scratch s;
  if ((st = scratch_get(f, d, softmax, &s, &pbuf)) != CALIB_OK) return st;
  if (softmax && (st = calib__probs_from_logits(d->x, d->n, d->k, pbuf)) != CALIB_OK) return st;
  const float *data = softmax ? pbuf : d->x;
  double **tab = (double **)calib__calloc(d->k, sizeof *tab);
  size_t *m = (size_t *)calib__calloc(d->k, sizeof *m);
  if (!tab || !m) st = CALIB_E_NOMEM;
  binary_out bo = {{0, 0}, 0};
  for (size_t j = 0; st == CALIB_OK && j < d->k; j++)
    st = fit_class(d, data, j, &o, &s, probs, &tab[j], &m[j], &bo);
  if (st == CALIB_OK) {
    f->report.nll_before = d->k == 1 ? bo.nll[0] / d->wsum : calib__fit_nll_input(d, probs);
    f->report.nll_after = d->k == 1 ? bo.nll[1] / d->wsum : nll_after(d, data, tab, m);
    st = build_model(d, f, tab, m, out);
  }
  if (st == CALIB_OK && d->k == 1) {
    const calib__score_groups g = {s.gx, s.gy, s.gw, bo.scores};
    f->groups = g;
  }
  for (size_t j = 0; tab && j < d->k; j++) calib__free(tab[j]);
  calib__free(tab);
  calib__free(m);
  return st;
}
