/* beta_planar.c -- the planar copy of an owned beta model's parameters
 * (m->beta3), built once when the model is parsed and read by
 * kernels/applyd.h's beta_row_x.
 *
 * Why: the model stores (a_j, b_j, c_j) interleaved (CALIB_MP_BETA, k x 3),
 * and beta_row_x de-interleaved each vector of classes with three loads and
 * six two-source permutes. From three planar arrays the same vectors are
 * three plain loads: beta_row_x on one row of k = 1000 1.61-1.95 -> 1.51-1.77
 * us (a /tmp probe calling it directly, five alternations). The values
 * are the same either way, bit for bit (test_beta's owned-against-view
 * check).
 *
 * Not part of the model bytes (calib_model_size and the format unchanged);
 * written before the model is returned and never modified (apply stays
 * thread-safe); built only where beta_row_x runs: k >= 2, exact logit
 * features (CALIB_MP_BETA_FEATURES), logit input, k <= CALIB__APPLYD_MAX_K,
 * x86 SIMD builds outside the firmware core, owned models. */
#include "internal.h"
#include "applyd.h"
#include "beta_apply.h"
#include "platt_apply.h"
#include <string.h>

int calib__model_attach_beta(calib_model *m) {
#if defined(CALIB_HAVE_X86_KERNELS) && !defined(CALIB_CORE)
  if (m->method != CALIB_METHOD_BETA) return CALIB_OK;
  int input;
  double eps;
  calib__pb_input_of(m, &input, &eps);
  if (!calib__beta_rowx_fits(m->k, input, calib__beta_exact_of(m))) return CALIB_OK;
  /* present with 3 k values: calib__beta_validate ran first (format.c) */
  const calib__section *s = calib__model_section(m, CALIB_MP_BETA);
  const size_t k = m->k, kp = CALIB__BETA3_STRIDE(k); /* k <= 1024: no overflow */
  double *p = (double *)calib__malloc(3 * kp * sizeof(double));
  if (!p) return CALIB_E_NOMEM;
  memset(p, 0, 3 * kp * sizeof(double));
  for (size_t j = 0; j < k; j++) {
    p[j] = s->data[3 * j];
    p[kp + j] = s->data[3 * j + 1];
    p[2 * kp + j] = s->data[3 * j + 2];
  }
  m->beta3 = p;
#else
  CALIB__UNUSED(m);
#endif
  return CALIB_OK;
}

void calib__model_detach_beta(calib_model *m) {
  if (m->beta3) calib__free(m->beta3);
  m->beta3 = NULL;
}
