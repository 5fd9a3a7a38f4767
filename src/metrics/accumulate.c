/* accumulate.c -- streaming accumulators of the fixed-bin measures, NLL,
 * Brier and accuracy (API in include/calib.h).
 *
 * State: counts are uint64 (merging is exact), sums are float64. Per bin, for
 * the top-label problem and for every classwise column ([bin][column]
 * layout), the rows, the targets and the score sum.
 *
 * Serialised form, format version 1, little-endian, no padding:
 *   off  size  field
 *     0     8  magic "CALIBACC"
 *     8     4  u32 format version (1)
 *    12     4  u32 binning (CALIB_BINNING_EQUAL_WIDTH or _LEFT_CLOSED)
 *    16     8  u64 k
 *    24     8  u64 bins
 *    32     8  u64 rows n
 *    40     8  u64 correct top-label predictions
 *    48     8  f64 sum of -ln p_{i,y_i}   (may be +inf)
 *    56     8  f64 sum of the row Brier sums over the columns
 *    64     8  f64 sum of (confidence - correct)^2
 *    72     8  f64 sum of (P(y=1) - y)^2  (0 when k > 2)
 *    80  24*bins          top-label bins: u64 rows, u64 targets, f64 score sum
 *     .  24*bins*m        classwise cells [bin][column], same triple (m = k, 2 if k == 1)
 *  end-4    4  u32 CRC-32 of every preceding byte
 * The loader checks bins (1..CALIB_ACC_MAX_BINS) and k (every size derived
 * from them representable), the length exactly, the CRC, and that the counts
 * agree (every problem holds n rows, targets <= rows per cell, top-label
 * targets = correct, the classwise targets add up to n; every running sum
 * is checked against n before it is formed, so crafted counts cannot wrap
 * around 2^64 to a consistent-looking total) and that sums are finite (the
 * NLL may be +inf), non-negative and at most the cell's row count (Brier
 * sums: m or 1 per row). Adding or merging rows that would take n past
 * UINT64_MAX is refused (CALIB_E_DOMAIN), so no count ever wraps. */
#include "ce_internal.h"
#include "vmath.h"
#include <math.h>

#define MAGIC "CALIBACC"
#define FORMAT_VERSION 1u
#define HEADER 80u
#define CELL 24u

struct calib_accumulator {
  size_t k, m, bins;
  int binning;
  uint64_t n, correct;
  double nll, brier, brier_top, brier_pos;
  uint64_t *tl_cnt, *tl_pos, *cw_cnt, *cw_pos;
  double *tl_sum, *cw_sum, *edges, *row;
};

/* The sizes of a (k, bins) state, all through checked.h: cells = bins *
 * (m + 1), the uint64 block (2 cells), the double block (cells + bins + 1 +
 * m) and the serialised bytes (HEADER + CELL * cells + 4). 0 when bins is
 * outside 1..CALIB_ACC_MAX_BINS, k == 0 or any of these is not representable
 * (or above CALIB__MAX_ALLOC bytes). */
typedef struct {
  size_t cells, nu, nd, bytes;
} acc_sizes;

static int acc_shape(size_t k, size_t bins, acc_sizes *z) {
  const size_t m = calib__ncols(k);
  size_t m1, t, b;
  if (k == 0 || bins == 0 || bins > CALIB_ACC_MAX_BINS) return 0;
  if (!calib__size_add(m, 1, &m1) || !calib__size_mul(bins, m1, &z->cells)) return 0;
  if (!calib__size_mul(2, z->cells, &z->nu) || !calib__size_bytes(z->nu, sizeof(uint64_t), &b))
    return 0;
  if (!calib__size_add(z->cells, bins, &t) || !calib__size_add(t, 1, &t) ||
      !calib__size_add(t, m, &z->nd) || !calib__size_bytes(z->nd, sizeof(double), &b))
    return 0;
  return calib__size_bytes(z->cells, CELL, &t) && calib__size_add(t, HEADER + 4, &z->bytes) &&
         z->bytes <= CALIB__MAX_ALLOC;
}

static int acc_alloc(calib_accumulator **out, size_t k, size_t bins, int binning) {
  acc_sizes z;
  if (!acc_shape(k, bins, &z)) return CALIB_E_ARG;
  const size_t m = calib__ncols(k);
  calib_accumulator *a = (calib_accumulator *)calib__calloc(1, sizeof *a);
  uint64_t *u = (uint64_t *)calib__calloc(z.nu, sizeof(uint64_t));
  double *d = (double *)calib__calloc(z.nd, sizeof(double));
  if (!a || !u || !d) {
    calib__free(a);
    calib__free(u);
    calib__free(d);
    return CALIB_E_NOMEM;
  }
  a->k = k;
  a->m = m;
  a->bins = bins;
  a->binning = binning;
  a->tl_cnt = u;
  a->tl_pos = u + bins;
  a->cw_cnt = u + 2 * bins;
  a->cw_pos = a->cw_cnt + bins * m;
  a->tl_sum = d;
  a->cw_sum = d + bins;
  a->edges = a->cw_sum + bins * m;
  a->row = a->edges + bins + 1;
  for (size_t b = 0; b <= bins; b++) a->edges[b] = (double)b / (double)bins;
  *out = a;
  return CALIB_OK;
}

int calib_accumulator_create(calib_accumulator **out, size_t k, size_t bins, int binning) {
  if (!out || k == 0 || bins == 0 || bins > CALIB_ACC_MAX_BINS) return CALIB_E_ARG;
  if (binning == CALIB_BINNING_EQUAL_MASS_KUMAR || binning == CALIB_BINNING_EQUAL_MASS_INDEX)
    return CALIB_E_UNSUPPORTED;
  if (binning != CALIB_BINNING_EQUAL_WIDTH && binning != CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED)
    return CALIB_E_ARG;
  return acc_alloc(out, k, bins, binning);
}

void calib_accumulator_free(calib_accumulator *a) {
  if (!a) return;
  calib__free(a->tl_cnt);
  calib__free(a->tl_sum);
  calib__free(a);
}

/* ---- Adding rows -------------------------------------------------------------- */

/* One row of m double probabilities (columns), its label and its NLL term. */
static void add_row(calib_accumulator *a, const double *p, size_t y, double nll) {
  const int lc = a->binning == CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED;
  const size_t m = a->m;
  size_t top = 0;
  double brier = 0;
  for (size_t j = 0; j < m; j++) {
    if (p[j] > p[top]) top = j;
    const double d = p[j] - (j == y ? 1.0 : 0.0);
    brier += d * d;
    const size_t cell = calib__ew_bin(p[j], a->bins, a->edges, lc) * m + j;
    a->cw_cnt[cell]++;
    a->cw_sum[cell] += p[j];
    a->cw_pos[cell] += j == y;
  }
  const int hit = top == y;
  const size_t b = calib__ew_bin(p[top], a->bins, a->edges, lc);
  a->tl_cnt[b]++;
  a->tl_sum[b] += p[top];
  a->tl_pos[b] += (uint64_t)hit;
  a->correct += (uint64_t)hit;
  const double dt = p[top] - (hit ? 1.0 : 0.0);
  a->brier_top += dt * dt;
  a->brier += brier;
  if (m == 2) {
    const double dp = p[1] - (y == 1 ? 1.0 : 0.0);
    a->brier_pos += dp * dp;
  }
  a->nll += nll;
  a->n++;
}

/* Every count of the state is at most a->n, so a batch whose rows keep n
 * representable keeps every count exact (a loaded state may start near
 * UINT64_MAX). */
static int rows_fit(const calib_accumulator *a, size_t n) {
  return (uint64_t)n <= UINT64_MAX - a->n;
}

int calib_accumulator_add(calib_accumulator *a, const float *probs, size_t n,
                          const int64_t *labels) {
  if (!a) return CALIB_E_ARG;
  if (n == 0) return CALIB_OK;
  int st = calib__check_metric_input(probs, n, a->k, labels, a);
  if (st == CALIB_OK && !rows_fit(a, n)) st = CALIB_E_DOMAIN;
  if (st != CALIB_OK) return st;
  const size_t k = a->k;
  for (size_t i = 0; i < n; i++) {
    const size_t y = (size_t)labels[i];
    const double nll = calib__prob_row(probs + i * k, k, y, a->row);
    add_row(a, a->row, y, nll);
  }
  return CALIB_OK;
}

static double softplus(double t) { return t > 0 ? t + log1p(exp(-t)) : log1p(exp(t)); }

/* Softmax of one row in double; returns logsumexp(z) - z_y. */
static double logit_row(const float *z, size_t k, size_t y, double *p) {
  if (k == 1) {
    const double x = (double)z[0];
    p[1] = x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    p[0] = x >= 0 ? exp(-x) / (1.0 + exp(-x)) : 1.0 / (1.0 + exp(x));
    return y == 1 ? softplus(-x) : softplus(x);
  }
  return calib__softmax_row_f64(z, k, p, NULL) - (double)z[y];
}

int calib_accumulator_add_logits(calib_accumulator *a, const float *logits, size_t n,
                                 const int64_t *labels) {
  if (!a) return CALIB_E_ARG;
  if (n == 0) return CALIB_OK;
  size_t bytes;
  if (!logits || !labels || !calib__size_mul3(n, a->k, sizeof(double), &bytes)) return CALIB_E_ARG;
  int st = calib__check_logit_rows(logits, n, a->k, 1);
  if (st == CALIB_OK) st = calib__check_labels(labels, n, a->k);
  if (st == CALIB_OK && !rows_fit(a, n)) st = CALIB_E_DOMAIN;
  if (st != CALIB_OK) return st;
  for (size_t i = 0; i < n; i++) {
    const size_t y = (size_t)labels[i];
    const double nll = logit_row(logits + i * a->k, a->k, y, a->row);
    add_row(a, a->row, y, nll);
  }
  return CALIB_OK;
}

/* The accumulators of one add_logits_many call: every pointer non-NULL and
 * distinct, one k, and room for n more rows in each. */
static int many_ok(calib_accumulator *const *accs, size_t count, size_t n) {
  if (!accs || count == 0) return CALIB_E_ARG;
  for (size_t i = 0; i < count; i++) {
    if (!accs[i]) return CALIB_E_ARG;
    for (size_t j = 0; j < i; j++)
      if (accs[j] == accs[i]) return CALIB_E_ARG;
    if (accs[i]->k != accs[0]->k) return CALIB_E_SHAPE;
  }
  for (size_t i = 0; i < count; i++)
    if (!rows_fit(accs[i], n)) return CALIB_E_DOMAIN;
  return CALIB_OK;
}

int calib_accumulator_add_logits_many(calib_accumulator *const *accs, size_t count,
                                      const float *logits, size_t n, const int64_t *labels) {
  int st = many_ok(accs, count, 0);
  if (st != CALIB_OK || n == 0) return st;
  const size_t k = accs[0]->k;
  size_t bytes;
  if (!logits || !labels || !calib__size_mul3(n, k, sizeof(double), &bytes)) return CALIB_E_ARG;
  st = calib__check_logit_rows(logits, n, k, 1);
  if (st == CALIB_OK) st = calib__check_labels(labels, n, k);
  if (st == CALIB_OK) st = many_ok(accs, count, n);
  if (st != CALIB_OK) return st;
  double *p = accs[0]->row; /* every accumulator's row buffer holds m = max(k, 2) doubles */
  for (size_t i = 0; i < n; i++) {
    const size_t y = (size_t)labels[i];
    const double nll = logit_row(logits + i * k, k, y, p);
    for (size_t a = 0; a < count; a++) add_row(accs[a], p, y, nll);
  }
  return CALIB_OK;
}

int calib_accumulator_merge(calib_accumulator *dst, const calib_accumulator *src) {
  if (!dst || !src) return CALIB_E_ARG;
  if (dst->k != src->k) return CALIB_E_SHAPE;
  if (dst->bins != src->bins || dst->binning != src->binning) return CALIB_E_ARG;
  if (src->n > UINT64_MAX - dst->n) return CALIB_E_DOMAIN; /* dst unchanged */
  const size_t cells = dst->bins * dst->m; /* < the checked acc_shape cells */
  for (size_t b = 0; b < dst->bins; b++) {
    dst->tl_cnt[b] += src->tl_cnt[b];
    dst->tl_pos[b] += src->tl_pos[b];
    dst->tl_sum[b] += src->tl_sum[b];
  }
  for (size_t c = 0; c < cells; c++) {
    dst->cw_cnt[c] += src->cw_cnt[c];
    dst->cw_pos[c] += src->cw_pos[c];
    dst->cw_sum[c] += src->cw_sum[c];
  }
  dst->n += src->n;
  dst->correct += src->correct;
  dst->nll += src->nll;
  dst->brier += src->brier;
  dst->brier_top += src->brier_top;
  dst->brier_pos += src->brier_pos;
  return CALIB_OK;
}

/* ---- Reading measures ----------------------------------------------------------- */

/* CE of the top-label bins (column == SIZE_MAX) or of classwise column j. */
static double column_ce(const calib_accumulator *a, size_t j, int norm, int debias) {
  calib__gap g;
  calib__gap_init(&g, (double)a->n, norm, debias);
  for (size_t b = 0; b < a->bins; b++) {
    if (j == (size_t)-1)
      calib__gap_bin(&g, (double)a->tl_cnt[b], a->tl_sum[b], (double)a->tl_pos[b]);
    else
      calib__gap_bin(&g, (double)a->cw_cnt[b * a->m + j], a->cw_sum[b * a->m + j],
                     (double)a->cw_pos[b * a->m + j]);
  }
  return calib__gap_value(&g);
}

static int classwise_ce(const calib_accumulator *a, int norm, int debias, double *out) {
  size_t bytes;
  if (!calib__size_bytes(a->m, sizeof(double), &bytes)) return CALIB_E_NOMEM;
  double *v = (double *)calib__malloc(bytes);
  if (!v) return CALIB_E_NOMEM;
  for (size_t j = 0; j < a->m; j++) v[j] = column_ce(a, j, norm, debias);
  *out = calib__aggregate(v, a->m, calib__norm_agg(norm, debias));
  calib__free(v);
  return CALIB_OK;
}

/* The binned measures: 8..19 are (scope, norm) pairs in blocks of four. */
static int binned_value(const calib_accumulator *a, int measure, double *out) {
  const int scope = (measure - CALIB_M_ECE) / 4, which = (measure - CALIB_M_ECE) % 4;
  const int norm = which == 0 ? CALIB_NORM_L1 : which == 2 ? CALIB_NORM_MAX : CALIB_NORM_L2;
  const int debias = which == 3;
  if (scope == 1) return classwise_ce(a, norm, debias, out);
  if (scope == 2 && a->m != 2) return CALIB_E_ARG;
  *out = column_ce(a, scope == 0 ? (size_t)-1 : 1, norm, debias);
  return CALIB_OK;
}

int calib_accumulator_value(const calib_accumulator *a, int measure, double *out) {
  if (!a || !out || measure < CALIB_M_COUNT || measure > CALIB_M_POS_DEBIASED_L2)
    return CALIB_E_ARG;
  if ((measure == CALIB_M_BRIER_POSITIVE || measure >= CALIB_M_POS_ECE) && a->m != 2)
    return CALIB_E_ARG;
  if (measure == CALIB_M_COUNT) {
    *out = (double)a->n;
    return CALIB_OK;
  }
  if (a->n == 0) return CALIB_E_EMPTY;
  const double n = (double)a->n;
  switch (measure) {
    case CALIB_M_ACCURACY: *out = (double)a->correct / n; return CALIB_OK;
    case CALIB_M_NLL: *out = a->nll / n; return CALIB_OK;
    case CALIB_M_BRIER: *out = a->brier / n; return CALIB_OK;
    case CALIB_M_BRIER_K: *out = a->brier / n / (double)a->m; return CALIB_OK;
    case CALIB_M_BRIER_TOP_LABEL: *out = a->brier_top / n; return CALIB_OK;
    case CALIB_M_BRIER_POSITIVE: *out = a->brier_pos / n; return CALIB_OK;
    default: return binned_value(a, measure, out);
  }
}

int calib_accumulator_reliability(const calib_accumulator *a, int scope, double z, double *out,
                                  size_t cap, size_t *nbins) {
  if (!a) return CALIB_E_ARG;
  int st = calib__rd_check(scope, z, out, cap, a->bins, nbins);
  if (st != CALIB_OK) return st;
  if (scope == CALIB_SCOPE_POSITIVE_CLASS && a->m != 2) return CALIB_E_ARG;
  if (a->n == 0) return CALIB_E_EMPTY;
  const int top = scope == CALIB_SCOPE_TOP_LABEL;
  for (size_t b = 0; b < a->bins; b++) {
    const size_t c = b * a->m + 1;
    calib__rd_row(out + b * CALIB_RD_FIELDS, a->edges[b], a->edges[b + 1],
                  (double)(top ? a->tl_cnt[b] : a->cw_cnt[c]), top ? a->tl_sum[b] : a->cw_sum[c],
                  (double)(top ? a->tl_pos[b] : a->cw_pos[c]), z);
  }
  *nbins = a->bins;
  return CALIB_OK;
}

/* ---- Bytes ------------------------------------------------------------------------- */

size_t calib_accumulator_size(const calib_accumulator *a) {
  acc_sizes z;
  return a && acc_shape(a->k, a->bins, &z) ? z.bytes : 0; /* checked at creation */
}

static uint8_t *put_cells(uint8_t *p, const uint64_t *cnt, const uint64_t *pos,
                          const double *sum, size_t count) {
  for (size_t c = 0; c < count; c++, p += CELL) {
    calib__put_u64(p, cnt[c]);
    calib__put_u64(p + 8, pos[c]);
    calib__put_f64(p + 16, sum[c]);
  }
  return p;
}

int calib_accumulator_save(const calib_accumulator *a, void *buf, size_t cap, size_t *written) {
  if (!a || !buf) return CALIB_E_ARG;
  const size_t size = calib_accumulator_size(a);
  if (cap < size) return CALIB_E_SMALLBUF;
  uint8_t *p = (uint8_t *)buf;
  memcpy(p, MAGIC, 8);
  calib__put_u32(p + 8, FORMAT_VERSION);
  calib__put_u32(p + 12, (uint32_t)a->binning);
  calib__put_u64(p + 16, (uint64_t)a->k);
  calib__put_u64(p + 24, (uint64_t)a->bins);
  calib__put_u64(p + 32, a->n);
  calib__put_u64(p + 40, a->correct);
  calib__put_f64(p + 48, a->nll);
  calib__put_f64(p + 56, a->brier);
  calib__put_f64(p + 64, a->brier_top);
  calib__put_f64(p + 72, a->brier_pos);
  uint8_t *q = put_cells(p + HEADER, a->tl_cnt, a->tl_pos, a->tl_sum, a->bins);
  q = put_cells(q, a->cw_cnt, a->cw_pos, a->cw_sum, a->bins * a->m);
  calib__put_u32(q, calib__crc32(p, size - 4));
  if (written) *written = size;
  return CALIB_OK;
}

/* Reads `count` cells; checks targets <= rows and 0 <= sum <= rows. */
static int get_cells(const uint8_t *p, uint64_t *cnt, uint64_t *pos, double *sum, size_t count) {
  for (size_t c = 0; c < count; c++, p += CELL) {
    cnt[c] = calib__get_u64(p);
    pos[c] = calib__get_u64(p + 8);
    sum[c] = calib__get_f64(p + 16);
    if (pos[c] > cnt[c] || !(sum[c] >= 0) || sum[c] > (double)cnt[c]) return CALIB_E_FORMAT;
  }
  return CALIB_OK;
}

/* *sum += v unless the result would exceed `limit` (so it never wraps: a
 * crafted blob of counts that add up to n modulo 2^64 is refused). */
static int add_capped(uint64_t *sum, uint64_t v, uint64_t limit) {
  if (v > limit - *sum) return 0;
  *sum += v;
  return 1;
}

/* Every problem holds n rows; targets agree with `correct` and with n. All
 * sums are capped at n (every partial sum of a consistent state is <= n). */
static int check_counts(const calib_accumulator *a) {
  uint64_t rows = 0, pos = 0, all_pos = 0;
  if (a->correct > a->n) return CALIB_E_FORMAT;
  for (size_t b = 0; b < a->bins; b++)
    if (!add_capped(&rows, a->tl_cnt[b], a->n) || !add_capped(&pos, a->tl_pos[b], a->n))
      return CALIB_E_FORMAT;
  if (rows != a->n || pos != a->correct) return CALIB_E_FORMAT;
  for (size_t j = 0; j < a->m; j++) {
    rows = 0;
    for (size_t b = 0; b < a->bins; b++)
      if (!add_capped(&rows, a->cw_cnt[b * a->m + j], a->n) ||
          !add_capped(&all_pos, a->cw_pos[b * a->m + j], a->n))
        return CALIB_E_FORMAT;
    if (rows != a->n) return CALIB_E_FORMAT;
  }
  return all_pos == a->n ? CALIB_OK : CALIB_E_FORMAT;
}

/* Finite, non-negative and, for the Brier sums, within their ranges per row
 * (each column's term is in [0, 1], and rounding cannot push a sum of such
 * terms past the integer bound: [0, m] per row for the sum over columns,
 * [0, 1] for the others). */
static int sums_ok(const calib_accumulator *a) {
  const double n = (double)a->n;
  return a->nll >= 0 && !isnan(a->nll) && a->brier >= 0 && a->brier <= (double)a->m * n &&
         a->brier_top >= 0 && a->brier_top <= n && a->brier_pos >= 0 && a->brier_pos <= n &&
         (a->m == 2 || a->brier_pos == 0);
}

static int parse_header(const uint8_t *p, size_t len, size_t *k, size_t *bins, int *binning) {
  if (len < HEADER + 4 || memcmp(p, MAGIC, 8) != 0) return CALIB_E_FORMAT;
  if (calib__get_u32(p + 8) != FORMAT_VERSION) return CALIB_E_FORMAT;
  if (calib__get_u32(p + len - 4) != calib__crc32(p, len - 4)) return CALIB_E_FORMAT;
  const uint32_t bn = calib__get_u32(p + 12);
  const uint64_t k64 = calib__get_u64(p + 16), b64 = calib__get_u64(p + 24);
  if (bn != CALIB_BINNING_EQUAL_WIDTH && bn != CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED)
    return CALIB_E_FORMAT;
  if (k64 == 0 || b64 == 0 || k64 > (uint64_t)SIZE_MAX || b64 > (uint64_t)SIZE_MAX)
    return CALIB_E_FORMAT;
  acc_sizes z;
  if (!acc_shape((size_t)k64, (size_t)b64, &z) || len != z.bytes) return CALIB_E_FORMAT;
  *k = (size_t)k64;
  *bins = (size_t)b64;
  *binning = (int)bn;
  return CALIB_OK;
}

int calib_accumulator_load(calib_accumulator **out, const void *buf, size_t len) {
  if (!out || !buf) return CALIB_E_ARG;
  const uint8_t *p = (const uint8_t *)buf;
  size_t k, bins;
  int binning;
  int st = parse_header(p, len, &k, &bins, &binning);
  calib_accumulator *a = NULL;
  if (st == CALIB_OK) st = acc_alloc(&a, k, bins, binning);
  if (st != CALIB_OK) return st;
  a->n = calib__get_u64(p + 32);
  a->correct = calib__get_u64(p + 40);
  a->nll = calib__get_f64(p + 48);
  a->brier = calib__get_f64(p + 56);
  a->brier_top = calib__get_f64(p + 64);
  a->brier_pos = calib__get_f64(p + 72);
  st = get_cells(p + HEADER, a->tl_cnt, a->tl_pos, a->tl_sum, bins);
  if (st == CALIB_OK)
    st = get_cells(p + HEADER + CELL * bins, a->cw_cnt, a->cw_pos, a->cw_sum, bins * a->m);
  if (st == CALIB_OK) st = check_counts(a);
  if (st == CALIB_OK && !sums_ok(a)) st = CALIB_E_FORMAT;
  if (st != CALIB_OK) {
    calib_accumulator_free(a);
    return st;
  }
  *out = a;
  return CALIB_OK;
}

/* ---- calib_accumulator_add_logits_typed ------------------------------------
 * Typed logits (calib_input, kernels/typed.h), read element by element through
 * the scalar conversion: no buffer at all, so never an allocation and no row
 * length limit. The whole input is validated first (the same rules as
 * calib_accumulator_add_logits on the dequantized values; int8/uint8 values
 * are always finite), then logit_row_typed does logit_row's arithmetic on the
 * same float32 values, so the state equals add_logits on the dequantized rows
 * bit for bit. */
#include "typed.h"

static int typed_row_bad(const calib__tin *t, size_t i, size_t k) {
  int finite_seen = 0;
  for (size_t j = 0; j < k; j++) {
    const float v = calib__tin_get(t, i, j);
    if (isnan(v)) return 1;
    if (k == 1) return 0;
    if (v == INFINITY) return 1;
    if (v != -INFINITY) finite_seen = 1;
  }
  return !finite_seen;
}

static double logit_row_typed(const calib__tin *t, size_t i, size_t k, size_t y, double *p) {
  if (k == 1) {
    const double x = (double)calib__tin_get(t, i, 0);
    p[1] = x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    p[0] = x >= 0 ? exp(-x) / (1.0 + exp(-x)) : 1.0 / (1.0 + exp(x));
    return y == 1 ? softplus(-x) : softplus(x);
  }
  double mx = (double)calib__tin_get(t, i, 0), s = 0;
  for (size_t j = 1; j < k; j++) {
    const double v = (double)calib__tin_get(t, i, j);
    mx = v > mx ? v : mx;
  }
  for (size_t j = 0; j < k; j++) s += p[j] = exp((double)calib__tin_get(t, i, j) - mx);
  for (size_t j = 0; j < k; j++) p[j] /= s;
  return mx + log(s) - (double)calib__tin_get(t, i, y);
}

int calib_accumulator_add_logits_typed(calib_accumulator *a, const calib_input *x, size_t n,
                                       const int64_t *labels) {
  if (!a) return CALIB_E_ARG;
  calib__tin t;
  int st = calib__tin_init(&t, x, n, a->k, NULL, 0, NULL, NULL);
  if (st != CALIB_OK || n == 0) return st;
  size_t bytes;
  if (!labels || !calib__size_mul3(n, a->k, sizeof(double), &bytes)) return CALIB_E_ARG;
  if (t.dtype != CALIB_DTYPE_I8 && t.dtype != CALIB_DTYPE_U8)
    for (size_t i = 0; i < n; i++)
      if (typed_row_bad(&t, i, a->k)) return CALIB_E_NONFINITE;
  st = calib__check_labels(labels, n, a->k);
  if (st == CALIB_OK && !rows_fit(a, n)) st = CALIB_E_DOMAIN;
  if (st != CALIB_OK) return st;
  for (size_t i = 0; i < n; i++) {
    const size_t y = (size_t)labels[i];
    const double nll = logit_row_typed(&t, i, a->k, y, a->row);
    add_row(a, a->row, y, nll);
  }
  return CALIB_OK;
}
