/* beta_apply.c -- beta calibration (Kull, Silva Filho & Flach 2017): model
 * validation and apply (firmware core: no allocation, no stdio, reentrant).
 *
 * Sections of a beta model (k = the model's k):
 *   CALIB_MP_BETA   3k values, row j = (a_j, b_j, c_j): finite, a_j >= 0,
 *                   b_j >= 0; P_j = sigmoid(a_j ln s - b_j ln(1 - s) + c_j)
 *   CALIB_MP_INPUT  as for Platt (platt_apply.c): kind and clip eps
 * and no other section. s is the probability of class j (k == 1: of y = 1):
 * the value itself (probs), sigmoid(z) (k == 1 logits) or softmax(z)_j
 * (k >= 2 logits), clipped to [eps, 1 - eps]; ln(1 - s) is log1p(-s).
 * k >= 2: one-vs-rest normalisation as for Platt (uniform if the sum is 0).
 */
#include "beta_apply.h"
#include "platt_apply.h"

#include <math.h>

int calib__beta_validate(calib_model *m) {
  int input;
  double eps;
  if (m->nsections != 2 || calib__pb_input_section(m, &input, &eps) != CALIB_OK)
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

void calib__beta_features(const calib__f32u *row, size_t k, size_t j, int input,
                          double eps, double lse, double *ls, double *l1s) {
  double s;
  if (input == CALIB_INPUT_PROBS) s = (double)row[j];
  else if (k == 1) s = calib__sigmoid_d((double)row[0]);
  else s = exp((double)row[j] - lse);
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
  int input;
  double eps, lse;
} beta_ctx;

static double beta_row_u(const void *ctx, const calib__f32u *row, size_t j) {
  const beta_ctx *c = (const beta_ctx *)ctx;
  double ls, l1s;
  calib__beta_features(row, c->k, j, c->input, c->eps, c->lse, &ls, &l1s);
  return calib__beta_u(c->abc, j, ls, l1s);
}

/* q_j of calib__ovr_normalise: reads row[j] only (lse is taken before the
 * row is written), so in place is safe. */
static double beta_row_q(const void *ctx, const calib__f32u *row, size_t j, size_t *cur) {
  CALIB__UNUSED(cur);
  return calib__sigmoid_d(beta_row_u(ctx, row, j));
}

static beta_ctx row_ctx(const double *abc, size_t k, int input, double eps,
                        const calib__f32u *row) {
  beta_ctx c;
  c.abc = abc;
  c.k = k;
  c.input = input;
  c.eps = eps;
  c.lse = input == CALIB_INPUT_LOGITS ? calib__row_lse(row, k) : 0.0;
  return c;
}

double calib__beta_row_nll(const double *abc, size_t k, int input, double eps,
                           const calib__f32u *row, size_t y) {
  if (k == 1) {
    double ls, l1s;
    calib__beta_features(row, 1, 0, input, eps, 0.0, &ls, &l1s);
    const double u = calib__beta_u(abc, 0, ls, l1s);
    return calib__softplus_d(y == 1 ? -u : u);
  }
  const beta_ctx c = row_ctx(abc, k, input, eps, row);
  return calib__ovr_row_nll(beta_row_u, &c, row, k, y);
}

int calib__beta_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k) {
  int input;
  double eps;
  calib__pb_input_of(m, &input, &eps);
  return calib__pb_check_values(x, n * k, input);
}

int calib__beta_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                      calib__f32u *y) {
  const int vs = calib__beta_check(m, x, n, k);
  if (vs != CALIB_OK) return vs;
  calib__beta_map(m, x, n, k, y);
  return CALIB_OK;
}

void calib__beta_map(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                     calib__f32u *y) {
  int input;
  double eps;
  calib__pb_input_of(m, &input, &eps);
  const double *abc = calib__model_section(m, CALIB_MP_BETA)->data;
  if (k == 1) {
    for (size_t i = 0; i < n; i++) {
      double ls, l1s;
      calib__beta_features(x + i, 1, 0, input, eps, 0.0, &ls, &l1s);
      y[i] = (float)calib__sigmoid_d(calib__beta_u(abc, 0, ls, l1s));
    }
    return;
  }
  for (size_t i = 0; i < n; i++) {
    /* the row's lse is taken before any entry of the row is overwritten */
    const beta_ctx c = row_ctx(abc, k, input, eps, x + i * k);
    calib__ovr_normalise(beta_row_q, &c, x + i * k, k, y + i * k);
  }
}
