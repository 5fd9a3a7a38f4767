/* softmax.c -- public softmax / log-softmax / sigmoid: argument checks, the
 * whole-input validation pass (nothing is written on error), then the chosen
 * kernel; and the row-wise mode (calib_softmax_rows, calib_sigmoid_rows):
 * the same argument checks, then one fused kernel pass that writes bad rows
 * as NaN and reports them. */
#include "internal.h"
#include "checked.h"
#include "kernels.h"
#include <math.h>

/* Common argument checks; normalises ld == 0 to k. */
static int check_args(const float *x, size_t n, size_t k, size_t *ldx, float beta,
                      const float *y, size_t *ldy) {
  if (k == 0) return CALIB_E_ARG;
  if (*ldx == 0) *ldx = k;
  if (*ldy == 0) *ldy = k;
  if (*ldx < k || *ldy < k) return CALIB_E_ARG;
  if (!(beta > 0) || !isfinite(beta)) return CALIB_E_ARG;
  if (n == 0) return CALIB_OK;
  if (!x || !y) return CALIB_E_ARG;
  size_t ex, ey, bx, by; /* elements spanned by x and y: (n - 1) * ld + k */
  if (!calib__size_mul(n - 1, *ldx, &ex) || !calib__size_add(ex, k, &ex) ||
      !calib__size_bytes(ex, sizeof(float), &bx))
    return CALIB_E_ARG;
  if (!calib__size_mul(n - 1, *ldy, &ey) || !calib__size_add(ey, k, &ey) ||
      !calib__size_bytes(ey, sizeof(float), &by))
    return CALIB_E_ARG;
  if (x == y) return *ldx == *ldy ? CALIB_OK : CALIB_E_ARG;
  return calib__overlap(x, bx, y, by) ? CALIB_E_ARG : CALIB_OK;
}

int calib_softmax(const float *x, size_t n, size_t k, size_t ldx, float beta,
                  float *y, size_t ldy) {
  int st = check_args(x, n, k, &ldx, beta, y, &ldy);
  if (st != CALIB_OK || n == 0) return st;
  const calib__kernels *kt = calib__kernels_get();
  if ((st = kt->check_rows(x, n, k, ldx)) != CALIB_OK) return st;
  kt->softmax(x, n, k, ldx, beta, y, ldy);
  return CALIB_OK;
}

int calib_log_softmax(const float *x, size_t n, size_t k, size_t ldx, float beta,
                      float *y, size_t ldy) {
  int st = check_args(x, n, k, &ldx, beta, y, &ldy);
  if (st != CALIB_OK || n == 0) return st;
  const calib__kernels *kt = calib__kernels_get();
  if ((st = kt->check_rows(x, n, k, ldx)) != CALIB_OK) return st;
  kt->log_softmax(x, n, k, ldx, beta, y, ldy);
  return CALIB_OK;
}

int calib_sigmoid(const float *x, size_t n, float beta, float *y) {
  size_t ld1 = 1, ld2 = 1;
  int st = check_args(x, n, 1, &ld1, beta, y, &ld2);
  if (st != CALIB_OK || n == 0) return st;
  const calib__f32u *xu = x; /* any byte address (kernels.h) */
  for (size_t i = 0; i < n; i++)
    if (xu[i] != xu[i]) return CALIB_E_NONFINITE;
  calib__kernels_get()->sigmoid(x, n, beta, y);
  return CALIB_OK;
}

/* ---- row-wise mode ---------------------------------------------------------- */

/* The status array (n bytes) may not overlap the input or output. */
static int status_args(const float *x, size_t n, size_t k, size_t ldx, const float *y, size_t ldy,
                       const uint8_t *status) {
  if (!status || n == 0) return CALIB_OK;
  const size_t bx = ((n - 1) * ldx + k) * sizeof(float); /* no overflow: check_args passed */
  const size_t by = ((n - 1) * ldy + k) * sizeof(float);
  return calib__overlap(status, n, x, bx) || calib__overlap(status, n, y, by) ? CALIB_E_ARG : CALIB_OK;
}

int calib__rows_finish(size_t n, size_t bad, size_t first, size_t *bad_rows, size_t *first_bad,
                       int code) {
  if (bad_rows) *bad_rows = bad;
  if (first_bad) *first_bad = bad ? first : n;
  return bad ? code : CALIB_OK;
}

int calib_softmax_rows(const float *x, size_t n, size_t k, size_t ldx, float beta, float *y,
                       size_t ldy, uint8_t *row_status, size_t *bad_rows, size_t *first_bad) {
  int st = check_args(x, n, k, &ldx, beta, y, &ldy);
  if (st == CALIB_OK) st = status_args(x, n, k, ldx, y, ldy, row_status);
  if (st != CALIB_OK) return st;
  size_t first = n, bad = 0;
  if (n) bad = calib__kernels_get()->softmax_rows(x, n, k, ldx, beta, y, ldy, row_status, &first);
  return calib__rows_finish(n, bad, first, bad_rows, first_bad, CALIB_E_NONFINITE);
}

int calib_log_softmax_rows(const float *x, size_t n, size_t k, size_t ldx, float beta, float *y,
                           size_t ldy, uint8_t *row_status, size_t *bad_rows, size_t *first_bad) {
  int st = check_args(x, n, k, &ldx, beta, y, &ldy);
  if (st == CALIB_OK) st = status_args(x, n, k, ldx, y, ldy, row_status);
  if (st != CALIB_OK) return st;
  size_t first = n, bad = 0;
  if (n) bad = calib__kernels_get()->log_softmax_rows(x, n, k, ldx, beta, y, ldy, row_status, &first);
  return calib__rows_finish(n, bad, first, bad_rows, first_bad, CALIB_E_NONFINITE);
}

int calib_sigmoid_rows(const float *x, size_t n, float beta, float *y, uint8_t *row_status,
                       size_t *bad_rows, size_t *first_bad) {
  size_t ld1 = 1, ld2 = 1;
  int st = check_args(x, n, 1, &ld1, beta, y, &ld2);
  if (st == CALIB_OK) st = status_args(x, n, 1, 1, y, 1, row_status);
  if (st != CALIB_OK) return st;
  size_t first = n, bad = 0;
  if (n) bad = calib__kernels_get()->sigmoid_rows(x, n, beta, y, row_status, &first);
  return calib__rows_finish(n, bad, first, bad_rows, first_bad, CALIB_E_NONFINITE);
}
