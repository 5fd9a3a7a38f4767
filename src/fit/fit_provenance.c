/* fit_provenance.c -- what calib_fit records in a model about its fit set
 * (model format version 2; the contract is calib.h's provenance block).
 *
 * One pass over the fit rows in blocks of R = max(1, 65536 / k) rows: each
 * block goes through the uncalibrated map (softmax / sigmoid of the inputs,
 * or the input probabilities as they are) and through the fitted model
 * (calib_apply's probabilities: after_block), into two scratch blocks of
 * R x k floats (256 KiB each), and per row we add:
 *   before and after: the NLL term (calib_nll's arithmetic: -ln p_y, k == 1:
 *     -ln p or -log1p(-p)), the Brier term (calib_brier's), and the
 *     top-label confidence and correctness to 15 equal-width ECE bins
 *     (calib_bin_index; ECE = sum_b |correct_b - conf_b| / n);
 *   after only: the reference of calib_reference_compute (label counts for
 *     the prior, predicted-class counts, confidence counts in
 *     CALIB_REF_CONF_BINS bins), with the monitor's top-label conventions
 *     (argmax, first index on ties; k == 1: 1 iff p > 0.5, conf max(p, 1 - p)).
 * Temperature scaling with k >= 2 (d->ts_rec): the before side comes from
 * the row records of the fit's first pass instead (add_records: the softmax
 * at beta = 1 in double, no second softmax of the block; 25 ms of the 0.15 s
 * default fit at 50000 x 1000 before), within float rounding of the same
 * measures of the float32 softmax.
 * Binary fits that hand over their rows grouped by distinct score
 * (calib_fitter.groups: isotonic, from its sorted stream) take one value per
 * score instead (add_groups): the uncalibrated map and calib_apply map each
 * value on its own, so every row of a score has its score's probability,
 * and each term is added times its row count per label. At n = 1e6 with
 * ~8000 distinct scores the row pass was 57 % of an isotonic calib_fit
 * (calib_apply's binary searches, the terms and the bins of every row).
 * Rows are summed in order, as the metrics do, so NLL equals calib_nll on the
 * whole arrays and Brier calib_brier up to the order of a row's squares (k ==
 * 1 with applyd: up to the vector log's last bits per term, and the ECE bins'
 * confidence sums in BANKS interleaved parts); the histograms and the prior
 * are exact counts. Grouped, the sums are of count x term: they differ from
 * the row pass's by rounding only (at n = 1e6, 1e-12 relative at most).
 * Unweighted: the reference has no weights.
 * The model itself is not touched: calib__model_with_meta copies its
 * parameters next to the metadata, so calib_apply's output is unchanged. */
#include "fit_internal.h"
#include "checked.h"
#include "kernels.h"
#include "applyd.h"
#include <math.h>
#include <time.h>

#define ECE_BINS 15
#if defined(__GNUC__)
#define PROV_INLINE static inline __attribute__((always_inline))
#else
#define PROV_INLINE static inline
#endif
#define BLOCK_FLOATS 65536u

typedef struct {
  double nll, brier, conf[ECE_BINS];
  uint64_t correct[ECE_BINS]; /* counts: an integer add of the compare, never a branch on it */
} prov_sums;

/* The kernel table's prob_sumsq_argmax in portable C, for a table without
 * one (NEON). One read of a row of probabilities r[0..k): returns sum_j r_j^2 in double
 * (eight running sums: the loop is bound by the add latency otherwise, and
 * independent lanes vectorise; the order differs from calib_brier's by
 * rounding only) and sets *top to the argmax (first index on ties). The
 * maximum is taken over eight branch-free lanes in the same loop, then the
 * first index holding it is searched eight entries at a time (a scalar
 * search from 0 cost about k/2 compares per row, as much as the sums).
 * Probabilities are never NaN. */
static double sumsq_argmax(const float *r, size_t k, size_t *top) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float m8[8];
  size_t j = 0;
  for (size_t l = 0; l < 8; l++) m8[l] = r[0];
  for (; j + 8 <= k; j += 8)
    for (size_t l = 0; l < 8; l++) {
      const float v = r[j + l];
      s[l] += (double)v * (double)v;
      m8[l] = v > m8[l] ? v : m8[l];
    }
  double t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  float m = m8[0];
  for (size_t l = 1; l < 8; l++) m = m8[l] > m ? m8[l] : m;
  for (; j < k; j++) {
    t += (double)r[j] * (double)r[j];
    m = r[j] > m ? r[j] : m;
  }
  size_t b = 0;
  for (; b + 8 <= k; b += 8) {
    int hit = 0;
    for (size_t l = 0; l < 8; l++) hit |= r[b + l] == m;
    if (hit) break;
  }
  while (r[b] != m) b++;
  *top = b;
  return t;
}

/* calib_bin_index(c, M) for the two bin counts used here, with the edges
 * b/M computed once (the same correctly rounded quotients calib_bin_index
 * divides out per call, so the same bin): the per-row divisions and the
 * call through the exported symbol were a sixth of a Platt fit at n = 1e6. */
typedef struct {
  double ece[ECE_BINS + 1], ref[CALIB_REF_CONF_BINS + 1];
} bin_edges;

static void edges_init(bin_edges *e) {
  for (size_t b = 0; b <= ECE_BINS; b++) e->ece[b] = (double)b / (double)ECE_BINS;
  for (size_t b = 0; b <= CALIB_REF_CONF_BINS; b++) e->ref[b] = (double)b / (double)CALIB_REF_CONF_BINS;
}

/* b with edge[b] < c <= edge[b + 1] (0 for c <= 0 or NaN, M - 1 for c >= 1):
 * calib_bin_index's guess ceil(c M) - 1 (as a truncation: c M is in (0, M),
 * no ceil call on baseline x86-64) and its corrections against the edges. */
PROV_INLINE size_t bin_of(double c, const double *edge, size_t M) {
  if (!(c > 0)) return 0;
  if (c >= 1) return M - 1;
  const double t = c * (double)M;
  size_t b = (size_t)t; /* floor(t), t >= 0; branch-free: b is data, not pattern */
  b -= (size_t)(b > 0) & (size_t)((double)b == t);
  b = b > M - 1 ? M - 1 : b;
  /* the guess is within one of the bin (c M is rounded once, the edges are
   * correctly rounded), so these loops rarely iterate and are predicted; a
   * branch-free step each way in front of them measured slower (a longer
   * dependent chain per row) */
  while (b > 0 && c <= edge[b]) b--;
  while (b + 1 < M && c > edge[b + 1]) b++;
  return b;
}

/* A row's top-label confidence conf, and whether the top label is right,
 * into the ECE bins of s. */
PROV_INLINE void add_ece(prov_sums *s, const bin_edges *edges, double conf, int correct) {
  const size_t b = bin_of(conf, edges->ece, ECE_BINS);
  s->correct[b] += (uint64_t)correct; /* correctness is a coin toss to a branch predictor */
  s->conf[b] += conf;
}

/* add_ece with correct iff the top class is the label; after only
 * (conf_hist non-NULL): into the reference's confidence and predicted-class
 * histograms. */
PROV_INLINE void add_top(prov_sums *s, const bin_edges *edges, double conf, size_t top, int64_t y,
                                double *conf_hist, double *class_hist) {
  add_ece(s, edges, conf, top == (size_t)y);
  if (conf_hist) {
    conf_hist[bin_of(conf, edges->ref, CALIB_REF_CONF_BINS)] += 1;
    class_hist[top] += 1;
  }
}

#define TERMS 256 /* k == 1: per-row terms computed ahead, per chunk of rows */

/* k == 1, a chunk of rows: the NLL terms t_i (-ln p_i if y_i == 1, else
 * -log1p(-p_i)) and the ECE and reference bins of max(p_i, 1 - p_i). With
 * applyd (AVX2 / AVX-512) eight or four rows at a time: a libm call per row
 * was a third of an isotonic calib_fit at n = 1e6, the bin search a fifth. */
static void bin_terms(const bin_edges *edges, const float *p, const int64_t *y, size_t n, double *t,
                      unsigned char *be, unsigned char *br) {
  const calib__applyd *ad = CALIB__APPLYD();
  if (ad) {
    ad->bin_prov_rows(p, y, n, edges->ece, ECE_BINS, edges->ref, CALIB_REF_CONF_BINS, t, be, br);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const double q = (double)p[i], conf = q > 0.5 ? q : 1.0 - q;
    t[i] = y[i] == 1 ? -log(q) : -log1p(-q);
    be[i] = (unsigned char)bin_of(conf, edges->ece, ECE_BINS);
    br[i] = (unsigned char)bin_of(conf, edges->ref, CALIB_REF_CONF_BINS);
  }
}

#define BANKS 4 /* rows i, i + 1, .. add into different copies of the bins */
typedef char banks_are_four[BANKS == 4 ? 1 : -1]; /* the sums at the end of add_rows_bin name four */

/* k == 1: rows of P(y = 1); top = 1 iff p > 0.5, confidence max(p, 1 - p).
 * The per-bin sums are kept in BANKS copies (row i into copy i % BANKS) and
 * added at the end: consecutive rows in the same bin were a chain of
 * dependent read-modify-writes through memory. The confidence sums are
 * therefore added in another order (rounding only; the counts are exact). */
static void add_rows_bin(prov_sums *s, const bin_edges *edges, const float *p, size_t rows, const int64_t *y,
                         double *conf_hist, double *class_hist) {
  double t[TERMS], cf[BANKS][ECE_BINS];
  uint64_t cr[BANKS][ECE_BINS], ch[BANKS][CALIB_REF_CONF_BINS], top1 = 0;
  unsigned char be[TERMS], br[TERMS];
  memset(cf, 0, sizeof cf);
  memset(cr, 0, sizeof cr);
  memset(ch, 0, sizeof ch);
  for (size_t i0 = 0; i0 < rows; i0 += TERMS) {
    const size_t cnt = rows - i0 < TERMS ? rows - i0 : TERMS;
    bin_terms(edges, p + i0, y + i0, cnt, t, be, br);
    for (size_t i = 0; i < cnt; i++) {
      const double q = (double)p[i0 + i], d = q - (double)y[i0 + i];
      const size_t top = q > 0.5 ? 1 : 0, g = i % BANKS;
      s->nll += t[i];
      s->brier += d * d;
      cr[g][be[i]] += top == (size_t)y[i0 + i];
      const double q1 = 1.0 - q;
      cf[g][be[i]] += q > q1 ? q : q1; /* max(q, 1 - q) as a maxsd: a branch on q > 0.5 is a coin toss */
      ch[g][br[i]] += 1;
      top1 += top;
    }
  }
  for (size_t b = 0; b < ECE_BINS; b++) {
    s->conf[b] += (cf[0][b] + cf[1][b]) + (cf[2][b] + cf[3][b]);
    s->correct[b] += (cr[0][b] + cr[1][b]) + (cr[2][b] + cr[3][b]);
  }
  if (conf_hist) {
    for (size_t b = 0; b < CALIB_REF_CONF_BINS; b++)
      conf_hist[b] += (double)((ch[0][b] + ch[1][b]) + (ch[2][b] + ch[3][b]));
    class_hist[1] += (double)top1;
    class_hist[0] += (double)(rows - top1);
  }
}

/* k == 1, rows grouped by score: score i has probability p[i] and n0[i]
 * rows of label 0, n1[i] of label 1. Its terms for both labels come from
 * bin_terms on the pairs (p_i, 0), (p_i, 1) -- the values of its rows in
 * add_rows_bin -- and are added times the counts; a label without rows adds
 * nothing (its NLL term may be infinite, and 0 * inf is NaN). */
static void add_groups_bin(prov_sums *s, const bin_edges *edges, const float *p, const double *n0,
                           const double *n1, size_t scores, double *conf_hist, double *class_hist) {
  float p2[TERMS];
  int64_t y2[TERMS];
  double t[TERMS];
  unsigned char be[TERMS], br[TERMS];
  for (size_t i0 = 0; i0 < scores; i0 += TERMS / 2) {
    const size_t cnt = scores - i0 < TERMS / 2 ? scores - i0 : TERMS / 2;
    for (size_t i = 0; i < cnt; i++) {
      p2[2 * i] = p2[2 * i + 1] = p[i0 + i];
      y2[2 * i] = 0;
      y2[2 * i + 1] = 1;
    }
    bin_terms(edges, p2, y2, 2 * cnt, t, be, br);
    for (size_t i = 0; i < cnt; i++) {
      const double q = (double)p[i0 + i], q1 = 1.0 - q, c0 = n0[i0 + i], c1 = n1[i0 + i];
      const size_t top = q > 0.5 ? 1 : 0, b = be[2 * i];
      if (c0 > 0) s->nll += c0 * t[2 * i], s->brier += c0 * (q * q);
      if (c1 > 0) s->nll += c1 * t[2 * i + 1], s->brier += c1 * ((q - 1.0) * (q - 1.0));
      s->correct[b] += (uint64_t)(top ? c1 : c0);
      s->conf[b] += (c0 + c1) * (q > q1 ? q : q1);
      if (conf_hist) {
        conf_hist[br[2 * i]] += c0 + c1;
        class_hist[top] += c0 + c1;
      }
    }
  }
}

/* Adds rows of probabilities p (rows x k) with labels y to s; with the
 * histograms (after only: conf_hist, class_hist non-NULL). Top-label
 * conventions of the metrics: argmax, first index on ties; k == 1: 1 iff
 * p > 0.5, confidence max(p, 1 - p). */
static void add_rows(prov_sums *s, const bin_edges *edges, const float *p, size_t rows, size_t k,
                     const int64_t *y, double *conf_hist, double *class_hist) {
  if (k == 1) {
    add_rows_bin(s, edges, p, rows, y, conf_hist, class_hist);
    return;
  }
  double (*const ssq_top)(const float *, size_t, size_t *) = calib__kernels_get()->prob_sumsq_argmax;
  for (size_t i = 0; i < rows; i++) {
    const float *r = p + i * k;
    size_t top;
    const size_t c = (size_t)y[i];
    const double py = (double)r[c];
    s->nll -= log(py);
    /* sum_{j != c} p_j^2 + (p_c - 1)^2; p_c^2 is exact in double, so taking
     * it out of the whole row's sum changes the result by rounding only */
    const double ssq = ssq_top ? ssq_top(r, k, &top) : sumsq_argmax(r, k, &top);
    s->brier += (ssq - py * py) + (py - 1.0) * (py - 1.0);
    add_top(s, edges, (double)r[top], top, y[i], conf_hist, class_hist);
  }
}

/* The before metrics of rows from temperature scaling's first pass
 * (d->ts_rec: kernels.h's row records at beta = 1, in double): p_j = e_j / S,
 * so -ln p_y = ln S - t_y (t_y the label's exponent; +inf where p_y rounds to
 * a float 0, as calib_nll of the float32 softmax would give), the Brier term
 * sum_{j != y} p_j^2 + (1 - p_y)^2 = (Q - e_y^2) / S^2 + (1 - p_y)^2, and the
 * top label's confidence 1 / S. The softmax is not computed again. */
static void add_records(prov_sums *s, const bin_edges *edges, const double *rec, size_t rows) {
  for (size_t i = 0; i < rows; i++, rec += CALIB__TS_REC) {
    const double S = rec[0], t = rec[2], ey = exp(t), py = ey / S, rest = (rec[1] - ey * ey) / (S * S);
    s->nll += (float)py == 0.0f ? (double)INFINITY : log(S) - t;
    s->brier += (rest > 0 ? rest : 0.0) + (1.0 - py) * (1.0 - py);
    add_ece(s, edges, 1.0 / S, rec[3] != 0.0);
  }
}

static void finish(const prov_sums *s, double n, double out[3]) {
  double e = 0;
  for (size_t b = 0; b < ECE_BINS; b++) e += fabs((double)s->correct[b] - s->conf[b]);
  out[0] = s->nll / n;
  out[1] = e / n;
  out[2] = s->brier / n;
}

/* The uncalibrated probabilities of a block: softmax / sigmoid of the inputs,
 * or the inputs themselves when the method was fitted on probabilities. */
static int before_block(const float *x, size_t rows, size_t k, int probs_in, float *out) {
  if (probs_in) {
    memcpy(out, x, rows * k * sizeof(float));
    return CALIB_OK;
  }
  if (k == 1) return calib_sigmoid(x, rows, 1.0f, out);
  calib__kernels_get()->softmax(x, rows, k, k, 1.0f, out, k); /* calib_fit checked x finite */
  return CALIB_OK;
}

/* The fitted model's probabilities of a block, as calib_apply gives them. For
 * temperature scaling with k >= 2 that is calib_softmax's kernel at the
 * model's float 1/T (temperature_apply.c), called here directly: calib_fit
 * checked the rows finite, and calib_softmax's validation pass over the block
 * cost about 2 ms per 50000 x 1000 (as much as a tenth of the provenance). */
static int after_block(const calib_model *m, const float *x, size_t rows, size_t k, float *out) {
  if (m->method == CALIB_METHOD_TEMPERATURE && k >= 2) {
    calib__kernels_get()->softmax(x, rows, k, k, m->fparam[0], out, k);
    return CALIB_OK;
  }
  return calib_apply(m, x, rows, k, out);
}

/* What the pass accumulates: the before and after sums, and the reference's
 * histograms and label counts (counts, class_hist: kc entries each). */
typedef struct {
  prov_sums before, after;
  bin_edges edges;
  double conf_hist[CALIB_REF_CONF_BINS];
  double *counts, *class_hist;
} prov_acc;

/* The fit rows in blocks of R: the before side into pb (or from the row
 * records d->ts_rec), the after side into pa. */
static int add_fit_rows(const calib__fit_data *d, const calib_model *m, int probs_in, size_t R, float *pa,
                        float *pb, prov_acc *a) {
  const size_t k = d->k, n = d->n;
  for (size_t i0 = 0; i0 < n; i0 += R) {
    const size_t rows = n - i0 < R ? n - i0 : R;
    const float *x = d->x + i0 * k;
    int st = d->ts_rec ? CALIB_OK : before_block(x, rows, k, probs_in, pb);
    if (st == CALIB_OK) st = after_block(m, x, rows, k, pa);
    if (st != CALIB_OK) return st;
    if (d->ts_rec)
      add_records(&a->before, &a->edges, d->ts_rec + i0 * CALIB__TS_REC, rows);
    else
      add_rows(&a->before, &a->edges, pb, rows, k, d->y + i0, NULL, NULL);
    add_rows(&a->after, &a->edges, pa, rows, k, d->y + i0, a->conf_hist, a->class_hist);
    for (size_t i = 0; i < rows; i++) a->counts[d->y[i0 + i]] += 1;
  }
  return CALIB_OK;
}

/* k == 1, the rows grouped by score (g): blocks of R scores, rounded to
 * float32 into px (exact: they are the fit's float32 scores), through the
 * same two maps as the rows into pb and pa. A score the model refuses
 * (CALIB_OOB_ERROR: a row of weight 0 outside the table) fails as its row
 * would. */
static int add_groups(const calib__score_groups *g, const calib_model *m, int probs_in, size_t R, float *px,
                      float *pa, float *pb, prov_acc *a) {
  for (size_t i0 = 0; i0 < g->count; i0 += R) {
    const size_t rows = g->count - i0 < R ? g->count - i0 : R;
    const double *n0 = g->n0 + i0, *n1 = g->n1 + i0;
    for (size_t i = 0; i < rows; i++) px[i] = (float)g->x[i0 + i];
    int st = before_block(px, rows, 1, probs_in, pb);
    if (st == CALIB_OK) st = after_block(m, px, rows, 1, pa);
    if (st != CALIB_OK) return st;
    add_groups_bin(&a->before, &a->edges, pb, n0, n1, rows, NULL, NULL);
    add_groups_bin(&a->after, &a->edges, pa, n0, n1, rows, a->conf_hist, a->class_hist);
    for (size_t i = 0; i < rows; i++) a->counts[0] += n0[i], a->counts[1] += n1[i];
  }
  return CALIB_OK;
}

static int prov_fail(calib_fitter *f, int st, calib_model **m, const char *check) {
  calib_model_free(*m);
  *m = NULL;
  return calib__error_set(&f->err, st, "provenance", check, UINT64_MAX, 0);
}

int calib__fit_provenance(calib_fitter *f, const calib__fit_data *d, calib_model **m) {
  const size_t k = d->k, n = d->n, kc = k == 1 ? 2 : k;
  const calib__score_groups g = f->groups;
  f->groups.count = 0; /* taken: it points into scratch the next fit reuses */
  const int grouped = k == 1 && g.count > 0;
  const size_t R = k >= BLOCK_FLOATS ? 1 : BLOCK_FLOATS / k, items = grouped ? g.count : n;
  const size_t rows_max = R < items ? R : items;
  double input;
  const int probs_in = calib_fitter_get(f, CALIB_P_INPUT, &input) == CALIB_OK && input == CALIB_INPUT_PROBS;
  /* float blocks: after, before (unless from d->ts_rec), grouped: the scores */
  const size_t blocks = grouped ? 3 : d->ts_rec ? 1 : 2;
  size_t nf, fbytes, hbytes, total;
  if (!calib__size_mul(rows_max, k, &nf) || !calib__size_mul(nf, blocks * sizeof(float), &fbytes) ||
      !calib__size_mul(kc, 3 * sizeof(double), &hbytes) || !calib__size_add(fbytes, hbytes, &total))
    return prov_fail(f, CALIB_E_NOMEM, m, "scratch size overflows");
  /* doubles first: 8-byte alignment for all */
  double *counts = (double *)calib__calloc(1, total);
  if (!counts) return prov_fail(f, CALIB_E_NOMEM, m, "cannot allocate the scratch blocks");
  double *class_hist = counts + kc, *prior = class_hist + kc;
  float *pa = (float *)(void *)(prior + kc), *pb = blocks > 1 ? pa + nf : NULL;
  prov_acc a;
  memset(&a, 0, sizeof a);
  edges_init(&a.edges);
  a.counts = counts, a.class_hist = class_hist;
  int st = grouped ? add_groups(&g, *m, probs_in, R, pb + nf, pa, pb, &a)
                   : add_fit_rows(d, *m, probs_in, R, pa, pb, &a);
  if (st != CALIB_OK) {
    calib__free(counts);
    return prov_fail(f, st, m, "the fitted model cannot be applied to the fit rows");
  }
  calib__model_meta meta;
  memset(&meta, 0, sizeof meta);
  double s = 0;
  for (size_t j = 0; j < kc; j++) s += counts[j];
  for (size_t j = 0; j < kc; j++) prior[j] = counts[j] / s; /* as calib_reference_compute */
  const time_t now = time(NULL);
  meta.info[0] = now > 0 ? (double)now : 0;
  meta.info[1] = (double)n;
  finish(&a.before, (double)n, meta.info + 2);
  finish(&a.after, (double)n, meta.info + 5);
  meta.prior = prior, meta.conf_hist = a.conf_hist, meta.class_hist = class_hist;
  meta.tag = f->tag, meta.tag_len = strlen(f->tag);
  calib_model *with = NULL;
  st = calib__model_with_meta(&with, *m, &meta);
  calib__free(counts);
  if (st != CALIB_OK)
    return prov_fail(f, st == CALIB_E_ARG || st == CALIB_E_FORMAT ? CALIB_E_UNSUPPORTED : st, m,
                     st == CALIB_E_NOMEM         ? "cannot allocate the model with its metadata"
                     : st == CALIB_E_UNSUPPORTED ? "the model with its metadata exceeds the format limits "
                                                   "(CALIB_MODEL_MAX_VALUES); fit without provenance"
                                                 : "the fit set's metrics are outside the model format's "
                                                   "ranges; fit without provenance");
  calib_model_free(*m);
  *m = with;
  return CALIB_OK;
}

int calib_fitter_set_provenance(calib_fitter *f, int on, const char *tag) {
  if (!f || (on != 0 && on != 1)) return CALIB_E_ARG;
  const size_t len = calib__tag_check(tag);
  if (len == (size_t)-1 || (on == 0 && len > 0)) return CALIB_E_ARG;
  f->no_provenance = !on;
  if (len) memcpy(f->tag, tag, len);
  f->tag[len] = '\0';
  return CALIB_OK;
}
