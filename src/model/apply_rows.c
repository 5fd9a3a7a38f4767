/* apply_rows.c -- calib_apply_rows: the row-wise apply (calib.h).
 *
 * Argument errors are checked exactly as calib_apply checks them, before
 * anything is written. Then:
 *  - temperature scaling: the fused row-wise kernel (kernels.h softmax_rows,
 *    sigmoid_rows): validation inside the softmax's own max pass, one read
 *    and one write of memory;
 *  - every other method: the input is taken in blocks of at most
 *    BLOCK_BYTES (whole rows, at least one). The method's own check (its
 *    table entry, methods.c: the same rule calib_apply uses) runs on the
 *    block and, when it passes, the method's map on the same block, which is
 *    still in the L1 cache: one read from memory. A block that fails is
 *    taken row by row: runs of good rows are mapped, and each bad row is
 *    written as NaN with its status (the magnitude of the method's code for
 *    that row: CALIB_E_NONFINITE or CALIB_E_DOMAIN).
 * Good rows are the strict call's results bit for bit: the same map code on
 * the same values (rows are independent in every method).
 * No allocation, no stdio: part of the firmware core. */
#include "internal.h"
#include "checked.h"
#include "kernels.h"
#include "matrix_apply.h"
#include <math.h>

#define BLOCK_BYTES 16384

typedef struct {
  uint8_t *st;
  size_t bad, first;
  int code; /* the first bad row's code */
} row_acc;

static void bad_row(row_acc *a, calib__f32u *y, size_t k, size_t i, int code) {
  for (size_t j = 0; j < k; j++) y[j] = NAN;
  if (a->st) a->st[i] = (uint8_t)-code;
  if (a->bad++ == 0) {
    a->first = i;
    a->code = code;
  }
}

/* Rows [i0, i0 + nb) of a block that failed its check. */
static void block_rows(const calib__method *meth, const calib_model *m, const calib__f32u *x, size_t k,
                       calib__f32u *y, size_t i0, size_t nb, row_acc *a) {
  size_t run = i0; /* first row of the current run of good rows */
  for (size_t i = i0; i < i0 + nb; i++) {
    const int st = meth->check(m, (const float *)(x + i * k), 1, k);
    if (st == CALIB_OK) {
      if (a->st) a->st[i] = 0;
      continue;
    }
    if (i > run) meth->map(m, (const float *)(x + run * k), i - run, k, (float *)(y + run * k));
    bad_row(a, y + i * k, k, i, st);
    run = i + 1;
  }
  if (i0 + nb > run) meth->map(m, (const float *)(x + run * k), i0 + nb - run, k, (float *)(y + run * k));
}

int calib_apply_rows(const calib_model *m, const float *logits, size_t n, size_t k, float *probs,
                     uint8_t *row_status, size_t *bad_rows, size_t *first_bad) {
  if (!m || k == 0) return CALIB_E_ARG;
  if (k != m->k) return CALIB_E_SHAPE;
  if (n == 0) return calib__rows_finish(0, 0, 0, bad_rows, first_bad, CALIB_OK);
  if (!logits || !probs) return CALIB_E_ARG;
  size_t bytes;
  if (!calib__size_bytes(n, k * sizeof(float), &bytes)) return CALIB_E_ARG; /* k <= CALIB_MODEL_MAX_K */
  if (logits != probs && calib__overlap(logits, bytes, probs, bytes)) return CALIB_E_ARG;
  if (row_status && (calib__overlap(row_status, n, logits, bytes) || calib__overlap(row_status, n, probs, bytes)))
    return CALIB_E_ARG;
  const calib__method *meth = calib__method_get(m->method);
  if (m->method == CALIB_METHOD_TEMPERATURE) {
    const calib__kernels *kt = calib__kernels_get();
    size_t first = n, bad;
    if (k == 1) bad = kt->sigmoid_rows(logits, n, m->fparam[0], probs, row_status, &first);
    else bad = kt->softmax_rows(logits, n, k, k, m->fparam[0], probs, k, row_status, &first);
    return calib__rows_finish(n, bad, first, bad_rows, first_bad, CALIB_E_NONFINITE);
  }
  if ((m->method == CALIB_METHOD_MATRIX || m->method == CALIB_METHOD_DIRICHLET) &&
      !calib__mx_inplace_ok(m, logits, probs))
    return CALIB_E_UNSUPPORTED;
  const calib__f32u *x = logits;
  calib__f32u *y = probs;
  const size_t per = BLOCK_BYTES / sizeof(float) / k, rows = per ? per : 1;
  row_acc a = {row_status, 0, n, CALIB_OK};
  for (size_t i0 = 0; i0 < n; i0 += rows) {
    const size_t nb = n - i0 < rows ? n - i0 : rows;
    if (meth->check(m, (const float *)(x + i0 * k), nb, k) == CALIB_OK) {
      meth->map(m, (const float *)(x + i0 * k), nb, k, (float *)(y + i0 * k));
      if (row_status) memset(row_status + i0, 0, nb);
    } else {
      block_rows(meth, m, x, k, y, i0, nb, &a);
    }
  }
  return calib__rows_finish(n, a.bad, a.first, bad_rows, first_bad, a.code);
}
