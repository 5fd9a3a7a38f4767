/* platt_apply.c -- Platt scaling: model validation and apply (firmware core:
 * no allocation, no stdio, reentrant).
 *
 * Sections of a Platt model (k = the model's k):
 *   CALIB_MP_PLATT  2k values, row j = (A_j, B_j), all finite;
 *                   P_j = 1 / (1 + exp(A_j z_j + B_j))
 *   CALIB_MP_INPUT  2 values: kind (CALIB_INPUT_LOGITS = 0 or
 *                   CALIB_INPUT_PROBS = 1, exactly) and the clip eps, in
 *                   [CALIB__CLIP_EPS_MIN, CALIB__CLIP_EPS_MAX]
 * and no other section. z_j is the value itself (logits) or
 * ln(s) - ln(1 - s) with s the value clipped to [eps, 1 - eps] (probs).
 * k == 1: output P(y = 1). k >= 2: one-vs-rest, p_j = P_j / sum_l P_l, or
 * 1/k for every class when the sum is 0. Computed in double, rounded once.
 */
#include "platt_apply.h"
#include "applyd.h"

#include <math.h>

double calib__logit_clipped(double p, double eps) {
  const double s = p < eps ? eps : (p > 1.0 - eps ? 1.0 - eps : p);
  return log(s) - log1p(-s);
}

int calib__pb_input_section(const calib_model *m, int *input, double *eps) {
  const calib__section *s = calib__model_section(m, CALIB_MP_INPUT);
  if (!s || s->count != 2) return CALIB_E_FORMAT;
  const double kind = s->data[0], e = s->data[1];
  if (kind != CALIB_INPUT_LOGITS && kind != CALIB_INPUT_PROBS) return CALIB_E_FORMAT;
  if (!(e >= CALIB__CLIP_EPS_MIN && e <= CALIB__CLIP_EPS_MAX)) return CALIB_E_FORMAT;
  *input = (int)kind;
  *eps = e;
  return CALIB_OK;
}

void calib__pb_input_of(const calib_model *m, int *input, double *eps) {
  const double *s = calib__model_section(m, CALIB_MP_INPUT)->data;
  *input = (int)s[0];
  *eps = s[1];
}

int calib__pb_check_values(const calib__f32u *x, size_t nk, int input) {
  /* the SIMD scan; the kernels read caller arrays through unaligned-safe loads */
  const int st = calib__check_finite((const float *)(const void *)x, 1, nk, nk);
  if (st != CALIB_OK) return st;
  if (input == CALIB_INPUT_PROBS)
    for (size_t i = 0; i < nk; i++)
      if (x[i] < 0.0f || x[i] > 1.0f) return CALIB_E_DOMAIN;
  return CALIB_OK;
}

int calib__platt_validate(calib_model *m) {
  int input;
  double eps;
  if (m->nsections != 2 || calib__pb_input_section(m, &input, &eps) != CALIB_OK)
    return CALIB_E_FORMAT;
  const calib__section *s = calib__model_section(m, CALIB_MP_PLATT);
  if (!s || m->k > (size_t)-1 / 2 || s->count != 2 * m->k) return CALIB_E_FORMAT;
  for (size_t i = 0; i < s->count; i++)
    if (!isfinite(s->data[i])) return CALIB_E_FORMAT;
  return CALIB_OK;
}

double calib__platt_u(const double *ab, size_t j, double v, int input, double eps) {
  const double z = input == CALIB_INPUT_PROBS ? calib__logit_clipped(v, eps) : v;
  return -(ab[2 * j] * z + ab[2 * j + 1]);
}

/* ---- one-vs-rest rows --------------------------------------------------------- */

double calib__ovr_row_nll(calib__ovr_u fu, const void *ctx, const calib__f32u *row,
                          size_t k, size_t y) {
  double sum = 0;
  for (size_t j = 0; j < k; j++) sum += calib__sigmoid_d(fu(ctx, row, j));
  if (!(sum > 0)) return log((double)k);
  /* -ln(sigmoid(u_y) / sum), exact even when sigmoid(u_y) underflows */
  return calib__softplus_d(-fu(ctx, row, y)) + log(sum);
}

typedef struct {
  const double *ab;
  int input;
  double eps;
} platt_ctx;

static double platt_row_u(const void *ctx, const calib__f32u *row, size_t j) {
  const platt_ctx *c = (const platt_ctx *)ctx;
  return calib__platt_u(c->ab, j, (double)row[j], c->input, c->eps);
}

/* q_j of calib__ovr_normalise: reads row[j] only, so in place is safe. */
static double platt_row_q(const void *ctx, const calib__f32u *row, size_t j, size_t *cur) {
  CALIB__UNUSED(cur);
  return calib__sigmoid_d(platt_row_u(ctx, row, j));
}

double calib__platt_row_nll(const double *ab, size_t k, int input, double eps,
                            const calib__f32u *row, size_t y) {
  const platt_ctx c = {ab, input, eps};
  if (k == 1) {
    const double u = calib__platt_u(ab, 0, (double)row[0], input, eps);
    return calib__softplus_d(y == 1 ? -u : u);
  }
  return calib__ovr_row_nll(platt_row_u, &c, row, k, y);
}

int calib__platt_check(const calib_model *m, const calib__f32u *x, size_t n, size_t k) {
  int input;
  double eps;
  calib__pb_input_of(m, &input, &eps);
  return calib__pb_check_values(x, n * k, input);
}

void calib__platt_map(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                      calib__f32u *y) {
  platt_ctx c;
  calib__pb_input_of(m, &c.input, &c.eps);
  c.ab = calib__model_section(m, CALIB_MP_PLATT)->data;
  if (k == 1) {
    for (size_t i = 0; i < n; i++)
      y[i] = (float)calib__sigmoid_d(calib__platt_u(c.ab, 0, (double)x[i], c.input, c.eps));
    return;
  }
  const calib__applyd *ad = CALIB__APPLYD();
  if (ad && c.input == CALIB_INPUT_LOGITS && k <= CALIB__APPLYD_MAX_K) {
    ad->platt_rows(c.ab, x, n, k, y); /* the same map with the SIMD exp (applyd.h) */
    return;
  }
  for (size_t i = 0; i < n; i++) calib__ovr_normalise(platt_row_q, &c, x + i * k, k, y + i * k);
}

int calib__platt_apply(const calib_model *m, const calib__f32u *x, size_t n, size_t k,
                       calib__f32u *y) {
  const int vs = calib__platt_check(m, x, n, k);
  if (vs != CALIB_OK) return vs;
  calib__platt_map(m, x, n, k, y);
  return CALIB_OK;
}
