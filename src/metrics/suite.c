/* suite.c -- the tao2024 benchmark suite (Tao et al., ICLR 2024): 50
 * measures in one pass per family (API and conventions in include/calib.h;
 * reference values in shared/data/REFERENCE_METRICS.md).
 *
 *   row pass   : float64 softmax of each row (or the float32 probabilities),
 *                prediction, confidence, NLL, Brier; pushes the top-label
 *                (confidence, correct) pairs; keeps each row's max logit and
 *                sum exp(z - max) so the class columns can be recomputed bit
 *                for bit later (no n x k float64 copy).
 *   top-label  : one sort; ECE/MCE equal-width and ECE Kumar equal-mass at
 *                every B from prefix sums, KS, MMCE and KDE-ECE on the same
 *                sorted pairs.
 *   classwise  : per class column one sort; equal-width and equal-mass ECE
 *                at every B from its prefix sums. */
#include "ce_internal.h"
#include <math.h>

#define NB 9
static const size_t TAO_B[NB] = {5, 10, 15, 20, 25, 50, 100, 200, 500};

enum {
  I_ECE_EW = 0,
  I_ECE_EM = I_ECE_EW + NB,
  I_CW_EW = I_ECE_EM + NB,
  I_CW_EM = I_CW_EW + NB,
  I_MCE = I_CW_EM + NB,
  I_KS = I_MCE + NB,
  I_KDE,
  I_MMCE,
  I_NLL,
  I_BRIER,
  N_TAO
};

static const char *const TAO_KEYS[N_TAO] = {
    "ece_ew_5",    "ece_ew_10",   "ece_ew_15",   "ece_ew_20",   "ece_ew_25",   "ece_ew_50",
    "ece_ew_100",  "ece_ew_200",  "ece_ew_500",  "ece_em_5",    "ece_em_10",   "ece_em_15",
    "ece_em_20",   "ece_em_25",   "ece_em_50",   "ece_em_100",  "ece_em_200",  "ece_em_500",
    "cwece_ew_5",  "cwece_ew_10", "cwece_ew_15", "cwece_ew_20", "cwece_ew_25", "cwece_ew_50",
    "cwece_ew_100", "cwece_ew_200", "cwece_ew_500", "cwece_em_5", "cwece_em_10", "cwece_em_15",
    "cwece_em_20", "cwece_em_25", "cwece_em_50", "cwece_em_100", "cwece_em_200", "cwece_em_500",
    "mce_5",       "mce_10",      "mce_15",      "mce_20",      "mce_25",      "mce_50",
    "mce_100",     "mce_200",     "mce_500",     "ks",          "kde_ece",     "mmce",
    "nll",         "brier_k"};

size_t calib_suite_size(int suite) { return suite == CALIB_SUITE_TAO2024 ? N_TAO : 0; }

const char *calib_suite_key(int suite, size_t i) {
  return suite == CALIB_SUITE_TAO2024 && i < N_TAO ? TAO_KEYS[i] : NULL;
}

typedef struct {
  calib__source src;
  int logits;
  double *rmax, *rsum, *row; /* rmax/rsum: n (logits only); row: ncols */
  double nll, brier;
  calib__sortws w;
  double *edges;             /* Kumar edges: min(500, n) */
  double v[N_TAO];
  int st[N_TAO];
} suite_ws;

/* ---- Validation ----------------------------------------------------------------- */

static int check_args(int suite, const float *x, size_t n, size_t k, const int64_t *labels,
                      int input, const double *out, size_t cap) {
  if (suite != CALIB_SUITE_TAO2024 || !out || k == 0) return CALIB_E_ARG;
  if (input != CALIB_INPUT_PROBS && input != CALIB_INPUT_LOGITS) return CALIB_E_ARG;
  if (cap < N_TAO) return CALIB_E_SMALLBUF;
  if (n == 0) return CALIB_E_EMPTY;
  size_t bytes;
  if (!x || !labels || !calib__size_mul3(n, k, sizeof(double), &bytes)) return CALIB_E_ARG;
  const int st = input == CALIB_INPUT_PROBS ? calib__check_probs(x, n, k)
                                            : calib__check_logit_rows(x, n, k, 0);
  return st != CALIB_OK ? st : calib__check_labels(labels, n, k);
}

/* ---- Row pass ----------------------------------------------------------------------- */

/* Probabilities of row i into ws->row; returns its NLL term. */
static double row_probs(suite_ws *ws, size_t i, size_t y) {
  const float *x = ws->src.x;
  const size_t k = ws->src.k, m = calib__ncols(k);
  double *p = ws->row;
  if (!ws->logits) return calib__prob_row(x + i * k, k, y, p);
  double mx = -INFINITY, s = 0;
  for (size_t j = 0; j < m; j++) {
    p[j] = k == 1 ? (j ? (double)x[i] : 0.0) : (double)x[i * k + j];
    mx = p[j] > mx ? p[j] : mx;
  }
  const double zy = p[y];
  for (size_t j = 0; j < m; j++) s += p[j] = exp(p[j] - mx);
  for (size_t j = 0; j < m; j++) p[j] /= s;
  ws->rmax[i] = mx;
  ws->rsum[i] = s;
  return mx + log(s) - zy;
}

static void row_pass(suite_ws *ws) {
  const size_t n = ws->src.n, m = calib__ncols(ws->src.k);
  calib__sortws_begin(&ws->w, n);
  for (size_t i = 0; i < n; i++) {
    const size_t y = (size_t)ws->src.labels[i];
    ws->nll += row_probs(ws, i, y);
    size_t top = 0;
    double b = 0;
    for (size_t j = 0; j < m; j++) {
      if (ws->row[j] > ws->row[top]) top = j;
      const double d = ws->row[j] - (j == y ? 1.0 : 0.0);
      b += d * d;
    }
    ws->brier += b;
    calib__sortws_push(&ws->w, ws->row[top], top == y);
  }
}

/* ---- Binned measures of one sorted problem at every B ------------------------------ */

/* out_ew[B], out_em[B] (ECE) and, if out_mce, MCE with equal-width bins. */
static void binned_all(suite_ws *ws, const calib__sorted *x, double *out_ew, double *out_em,
                       double *out_mce) {
  for (size_t q = 0; q < NB; q++) {
    calib__gap ew[2], em;
    calib__gap_init(&ew[0], (double)x->n, CALIB_NORM_L1, 0);
    calib__gap_init(&ew[1], (double)x->n, CALIB_NORM_MAX, 0);
    calib__sorted_gaps(x, TAO_B[q], CALIB_BINNING_EQUAL_WIDTH, NULL, 0, ew, out_mce ? 2 : 1);
    out_ew[q] += calib__gap_value(&ew[0]);
    if (out_mce) out_mce[q] = calib__gap_value(&ew[1]);
    const size_t ne = calib__equal_mass_edges_kumar(x->s, x->n, TAO_B[q], ws->edges);
    calib__gap_init(&em, (double)x->n, CALIB_NORM_L1, 0);
    calib__sorted_gaps(x, TAO_B[q], CALIB_BINNING_EQUAL_MASS_KUMAR, ws->edges, ne, &em, 1);
    out_em[q] += calib__gap_value(&em);
  }
}

static void top_label_family(suite_ws *ws) {
  calib__sorted x;
  calib__sortws_sort(&ws->w, &x);
  binned_all(ws, &x, ws->v + I_ECE_EW, ws->v + I_ECE_EM, ws->v + I_MCE);
  ws->v[I_KS] = calib__ks_sorted(&x);
  ws->v[I_MMCE] = calib__mmce_sorted(&x, CALIB__MMCE_WIDTH);
  ws->st[I_KDE] = calib__kde_ece_sorted(&x, ws->v + I_KDE);
}

static int classwise_fn(const calib__sorted *x, void *ctx, double *value) {
  suite_ws *ws = (suite_ws *)ctx;
  binned_all(ws, x, ws->v + I_CW_EW, ws->v + I_CW_EM, NULL);
  *value = 0;
  return CALIB_OK;
}

/* Classwise: one sort per column (sorted.c's driver), the means over columns. */
static int classwise_family(suite_ws *ws) {
  const size_t m = calib__ncols(ws->src.k);
  const int st = calib__classwise_each(&ws->src, &ws->w, classwise_fn, ws, NULL);
  for (size_t q = 0; q < NB; q++) {
    ws->v[I_CW_EW + q] /= (double)m;
    ws->v[I_CW_EM + q] /= (double)m;
  }
  return st;
}

/* ---- Driver ------------------------------------------------------------------------- */

static int ws_init(suite_ws *ws, const float *x, size_t n, size_t k, const int64_t *labels,
                   int input) {
  memset(ws, 0, sizeof *ws);
  ws->logits = input == CALIB_INPUT_LOGITS;
  const size_t m = calib__ncols(k), ne = n < 500 ? n : 500;
  size_t mb, nb; /* n * k * 8 was checked (check_args), so these cannot fail */
  if (!calib__size_bytes(m, sizeof(double), &mb) || !calib__size_bytes(n, sizeof(double), &nb))
    return CALIB_E_NOMEM;
  ws->row = (double *)calib__malloc(mb);
  ws->edges = (double *)calib__malloc(ne * sizeof(double)); /* <= 4000 bytes */
  if (ws->logits) {
    ws->rmax = (double *)calib__malloc(nb);
    ws->rsum = (double *)calib__malloc(nb);
  }
  int st = ws->row && ws->edges && (!ws->logits || (ws->rmax && ws->rsum)) ? CALIB_OK
                                                                          : CALIB_E_NOMEM;
  if (st == CALIB_OK) st = calib__sortws_init(&ws->w, n, 1);
  const calib__source src = {x, n, k, labels, ws->logits ? ws->rmax : NULL,
                             ws->logits ? ws->rsum : NULL};
  ws->src = src;
  return st;
}

static void ws_free(suite_ws *ws) {
  calib__free(ws->row);
  calib__free(ws->edges);
  calib__free(ws->rmax);
  calib__free(ws->rsum);
  calib__sortws_free(&ws->w);
}

static int run(suite_ws *ws) {
  const size_t n = ws->src.n;
  row_pass(ws);
  ws->v[I_NLL] = ws->nll / (double)n;
  ws->v[I_BRIER] = ws->brier / (double)n / (double)calib__ncols(ws->src.k);
  top_label_family(ws);
  return classwise_family(ws);
}

int calib_suite_eval(int suite, const float *x, size_t n, size_t k, const int64_t *labels,
                     int input, double *out, int *status, size_t cap) {
  int st = check_args(suite, x, n, k, labels, input, out, cap);
  if (st != CALIB_OK) return st;
  suite_ws *ws = (suite_ws *)calib__malloc(sizeof *ws);
  if (!ws) return CALIB_E_NOMEM;
  st = ws_init(ws, x, n, k, labels, input);
  if (st == CALIB_OK) st = run(ws);
  for (size_t i = 0; st == CALIB_OK && !status && i < N_TAO; i++)
    if (ws->st[i] != CALIB_OK) st = ws->st[i];
  if (st == CALIB_OK) {
    for (size_t i = 0; i < N_TAO; i++) {
      if (ws->st[i] == CALIB_OK) out[i] = ws->v[i];
      if (status) status[i] = ws->st[i];
    }
  }
  ws_free(ws);
  calib__free(ws);
  return st;
}
