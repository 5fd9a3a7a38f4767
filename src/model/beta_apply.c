/* beta_apply.c -- beta calibration (Kull, Silva Filho & Flach 2017): model
 * validation and apply (firmware core: no allocation, no stdio, reentrant).
 *
 * Sections of a beta model (k = the model's k):
 *   CALIB_MP_BETA           3k values, row j = (a_j, b_j, c_j): finite,
 *                           a_j >= 0, b_j >= 0;
 *                           P_j = sigmoid(a_j ln s - b_j ln(1 - s) + c_j)
 *   CALIB_MP_INPUT          as for Platt (platt_apply.c): kind and clip eps
 *   CALIB_MP_BETA_FEATURES  optional, 1 value, exactly 1: the features of
 *                           logit input are exact (below). Every model
 *                           calib_fit writes carries it; a model without it
 *                           was fitted by an older version and keeps the
 *                           clipped map it was fitted with.
 * and no other section. s is the probability of class j (k == 1: of y = 1).
 *   Probability input: s = the value itself, clipped to [eps, 1 - eps];
 *     ln(1 - s) is log1p(-s). (Both kinds of model.)
 *   Logit input, with CALIB_MP_BETA_FEATURES: no clipping. With x the
 *     log-odds of class j -- the value itself (k == 1), or
 *     z_j - logsumexp_{l != j} z_l (k >= 2) -- ln s = -softplus(-x) and
 *     -ln(1 - s) = softplus(x), finite for every finite x. k >= 2 computes
 *     this from the row's maximum m = z_jmax and d = logsumexp_{l != jmax}
 *     z_l - m (finite, of either sign): for j = jmax, x = -d exactly as above; for
 *     j != jmax, ln s = z_j - m - softplus(d) and ln(1 - s) = log1p(-e^ln s)
 *     (s <= 1/2 there, so log1p is accurate).
 *   Logit input, without the section (older models): s = sigmoid(z)
 *     (k == 1) or softmax(z)_j = exp(z_j - lse) (k >= 2), clipped to
 *     [eps, 1 - eps], so |log-odds| beyond ~16 saturated.
 * k >= 2: one-vs-rest normalisation as for Platt (uniform if the sum is 0).
 */
#include "beta_apply.h"
#include "platt_apply.h"
#include "applyd.h"

#include <math.h>

int calib__beta_validate(calib_model *m) {
  int input;
  double eps;
  const calib__section *f = calib__model_section(m, CALIB_MP_BETA_FEATURES);
  if (f && (f->count != 1 || f->data[0] != 1.0)) return CALIB_E_FORMAT;
  if (m->nsections != (f ? 3u : 2u) || calib__pb_input_section(m, &input, &eps) != CALIB_OK)
    return CALIB_E_FORMAT;
  const calib__section *s = calib__model_section(m, CALIB_MP_BETA);
  if (!s || m->k > (size_t)-1 / 3 || s->count != 3 * m->k) return CALIB_E_FORMAT;
  for (size_t j = 0; j < m->k; j++) {
    const double *r = s->data + 3 * j;
    if (!isfinite(r[0]) || !isfinite(r[1]) || !isfinite(r[2])) return CALIB_E_FORMAT;
    if (!(r[0] >= 0) || !(r[1] >= 0)) return CALIB_E_FORMAT;
  }
  return CALIB_OK;
}

int calib__beta_exact_of(const calib_model *m) {
  return calib__model_section(m, CALIB_MP_BETA_FEATURES) != NULL;
}

void calib__beta_row_info(const calib__f32u *row, size_t k, int input, int exact,
                          calib__beta_row *ri) {
  ri->lse = ri->m = ri->d = 0.0;
  ri->jmax = 0;
  if (input != CALIB_INPUT_LOGITS || k < 2) return;
  if (!exact) { /* the clipped map of older models, unchanged */
    ri->lse = calib__row_lse(row, k);
    return;
  }
  size_t jm = 0;
  for (size_t j = 1; j < k; j++)
    if (row[j] > row[jm]) jm = j;
  /* d = logsumexp of the others minus the maximum, around their own maximum */
  size_t j2 = jm == 0 ? 1 : 0;
  for (size_t j = 0; j < k; j++)
    if (j != jm && row[j] > row[j2]) j2 = j;
  const double m = (double)row[jm], m2 = (double)row[j2];
  double sum = 0;
  const calib__applyd *ad = CALIB__APPLYD();
  if (ad && k <= CALIB__APPLYD_MAX_K) sum = ad->sum_exp_excl(row, k, jm, m2); /* the same sum, SIMD exp */
  else
    for (size_t j = 0; j < k; j++)
      if (j != jm) sum += exp((double)row[j] - m2);
  ri->m = m;
  ri->jmax = jm;
  ri->d = (m2 - m) + log(sum);
}

void calib__beta_features(const calib__f32u *row, size_t k, size_t j, int input,
                          double eps, int exact, const calib__beta_row *ri,
                          double *ls, double *l1s) {
  if (exact && input == CALIB_INPUT_LOGITS) {
    if (k == 1 || j == ri->jmax) { /* x = the log-odds itself */
      const double x = k == 1 ? (double)row[0] : -ri->d;
      *ls = -calib__softplus_d(-x);
      *l1s = -calib__softplus_d(x);
    } else { /* s <= 1/2 */
      *ls = ((double)row[j] - ri->m) - calib__softplus_d(ri->d);
      *l1s = log1p(-exp(*ls));
    }
    return;
  }
  double s;
  if (input == CALIB_INPUT_PROBS) s = (double)row[j];
  else if (k == 1) s = calib__sigmoid_d((double)row[0]);
  else s = exp((double)row[j] - ri->lse);
  if (s < eps) s = eps;
  if (s > 1.0 - eps) s = 1.0 - eps;
  *ls = log(s);
  *l1s = log1p(-s);
}

double calib__beta_u(const double *abc, size_t j, double ls, double l1s) {
  return abc[3 * j] * ls - abc[3 * j + 1] * l1s + abc[3 * j + 2];
}

typedef struct {
  const double *abc;
  size_t k;
  int input, exact;
  double eps;
  calib__beta_row ri;
} beta_ctx;

static double beta_row_u(const void *ctx, const calib__f32u *row, size_t j) {
  const beta_ctx *c = (const beta_ctx *)ctx;
  double ls, l1s;
  calib__beta_features(row, c->k, j, c->input, c->eps, c->exact, &c->ri, &ls, &l1s);
  return calib__beta_u(c->abc, j, ls, l1s);
}

/* q_j of calib__ovr_normalise: reads row[j] only (the row's summary is taken
 * before the row is written), so in place is safe. */
static double beta_row_q(const void *ctx, const calib__f32u *row, size_t j, size_t *cur) {
  CALIB__UNUSED(cur);
  return calib__sigmoid_d(beta_row_u(ctx, row, j));
}

static beta_ctx row_ctx(const double *abc, size_t k, int input, double eps, int exact,
                        const calib__f32u *row) {
  beta_ctx c;
  c.abc = abc;
  c.k = k;
  c.input = input;
  c.eps = eps;
  c.exact = exact;
  calib__beta_row_info(row, k, input, exact, &c.ri);
  return c;
}

double calib__beta_row_nll(const double *abc, size_t k, int input, double eps, int exact,
                           const calib__f32u *row, size_t y) {
  const beta_ctx c = row_ctx(abc, k, input, eps, exact, row);
  if (k == 1) {
    const double u = beta_row_u(&c, row, 0);
    return calib__softplus_d(y == 1 ? -u : u);
  }
  return calib__ovr_row_nll(beta_row_u, &c, row, k, y);
}

int calib__beta_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k) {
  int input;
  double eps;
  calib__pb_input_of(m, &input, &eps);
  return calib__pb_check_values(x, n * k, input);
}

int calib__beta_rowx_fits(size_t k, int input, int exact) {
  return exact && input == CALIB_INPUT_LOGITS && k >= 2 && k <= CALIB__APPLYD_MAX_K;
}

/* One row (k >= 2) off beta_row_x's path: the row's summary taken first,
 * then ad's beta_row (ad: the SIMD table where beta_row_x applies, else
 * NULL) or the scalar map. Out of line, so that beta_map, the path of every
 * one-row call, stays small (bench_latency's k = 1000 beta row, /tmp/bx/bl
 * alternated 20 rounds: median 0.979 us, against 0.991 with this inlined
 * and 0.975-0.983 for two copies of the former separate one-row code). */
#if defined(__GNUC__) || defined(__clang__)
#define BETA_NOINLINE __attribute__((noinline))
#else
#define BETA_NOINLINE
#endif
static BETA_NOINLINE void map_row(const double *abc, size_t k, int input, double eps, int exact,
                                  const calib__applyd *ad, const calib__f32u *x, calib__f32u *y) {
  /* the row's summary is taken before any entry of the row is overwritten */
  const beta_ctx c = row_ctx(abc, k, input, eps, exact, x);
  if (ad) {
    /* the same features and map, 8 (4) classes per step (applyd.h) */
    double lsm, l1sm;
    calib__beta_features(x, k, c.ri.jmax, input, eps, exact, &c.ri, &lsm, &l1sm);
    ad->beta_row(abc, x, k, c.ri.m, c.ri.jmax, calib__softplus_d(c.ri.d), lsm, l1sm, y);
    return;
  }
  calib__ovr_normalise(beta_row_q, &c, x, k, y);
}

/* The map of n rows. checked: the caller validated x (calib__beta_map).
 * Unchecked, x is validated here before anything is written: a single row
 * on beta_row_x's path by the kernel's widening pass, which finds a NaN or
 * +-inf itself and writes nothing (calib__beta_check then only names the
 * error; the separate scan was 60 ns of a 1 us row at k = 1000,
 * bench_latency); every other call by calib__beta_check over all rows first
 * (the strict contract). Returns CALIB_OK or the input rule's error code,
 * with y unwritten. */
static int beta_map(const calib_model *m, const calib__f32u *x, size_t n, size_t k, calib__f32u *y,
                    int checked) {
  int input;
  double eps;
  calib__pb_input_of(m, &input, &eps);
  const double *abc = calib__model_section(m, CALIB_MP_BETA)->data;
  const int exact = calib__beta_exact_of(m);
  const calib__applyd *ad = k == 1 ? NULL : CALIB__APPLYD();
  const int simd = ad && calib__beta_rowx_fits(k, input, exact);
  if (!checked && !(n == 1 && simd)) {
    const int vs = calib__beta_check(m, x, n, k);
    if (vs != CALIB_OK) return vs;
  }
  if (k == 1) {
    const beta_ctx c = row_ctx(abc, 1, input, eps, exact, x);
    for (size_t i = 0; i < n; i++) y[i] = (float)calib__sigmoid_d(beta_row_u(&c, x + i, 0));
    return CALIB_OK;
  }
  for (size_t i = 0; i < n; i++) {
    /* the whole row in one kernel call, unless its other classes' terms are
     * near underflow relative to the maximum (1) or it holds a NaN or +-inf
     * (2: only a single unchecked row can, see above) (applyd.h) */
    if (simd) {
      const int r = ad->beta_row_x(abc, m->beta3, x + i * k, k, y + i * k);
      if (r == 0) continue;
      if (r == 2) {
        const int vs = calib__beta_check(m, x + i * k, 1, k);
        if (vs != CALIB_OK) return vs;
      }
    }
    map_row(abc, k, input, eps, exact, simd ? ad : NULL, x + i * k, y + i * k);
  }
  return CALIB_OK;
}

void calib__beta_map(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                     calib__f32u *y) {
  (void)beta_map(m, x, n, k, y, 1);
}

int calib__beta_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                      calib__f32u *y) {
  return beta_map(m, x, n, k, y, 0);
}
