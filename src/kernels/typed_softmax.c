/* typed_softmax.c -- softmax / sigmoid of typed input (typed.h's seam) and
 * the public calib_softmax_typed: float32 in and out goes to the float32
 * kernels, every other combination to the typed kernel table of the same ISA
 * (kernels_typed_*.c: conversion fused into the kernels' loads). */
#include "typed.h"
#include "internal.h"
#include <math.h>

/* float32 in and out, the plain softmax (or sigmoid over contiguous
 * values): the float32 kernels themselves, bit-identical to calib_softmax /
 * calib_sigmoid. Everything else: the typed table of the same ISA. */
static int f32_path(const calib__tin *t, size_t k, int sig, int ydt, size_t ldy) {
  return t->dtype == CALIB_DTYPE_F32 && ydt == CALIB_DTYPE_F32 &&
         (!sig || k > 1 || (t->ld == 1 && ldy == 1));
}

int calib__typed_softmax(const calib__tin *t, size_t n, size_t k, float beta, int sig, void *y,
                         int ydt, size_t ldy) {
  if (f32_path(t, k, sig, ydt, ldy)) {
    const calib__kernels *kt = calib__kernels_get();
    const float *x = (const float *)(const void *)t->data;
    if (sig && k == 1) {
      const calib__f32u *xu = x;
      for (size_t i = 0; i < n; i++)
        if (xu[i] != xu[i]) return CALIB_E_NONFINITE;
      kt->sigmoid(x, n, beta, (float *)y);
      return CALIB_OK;
    }
    if (kt->check_rows(x, n, k, t->ld) != CALIB_OK) return CALIB_E_NONFINITE;
    kt->softmax(x, n, k, t->ld, beta, (float *)y, ldy);
    return CALIB_OK;
  }
  const calib__tkernels *tk = calib__tkernels_get();
  if (tk->check(t, n, k, sig) != CALIB_OK) return CALIB_E_NONFINITE;
  tk->rows(t, n, k, beta, sig, y, ydt, ldy, 0, NULL);
  return CALIB_OK;
}

size_t calib__typed_softmax_rows(const calib__tin *t, size_t n, size_t k, float beta, int sig,
                                 void *y, int ydt, size_t ldy, uint8_t *status, size_t *first) {
  *first = n;
  if (n == 0) return 0;
  if (f32_path(t, k, sig, ydt, ldy)) {
    const calib__kernels *kt = calib__kernels_get();
    const float *x = (const float *)(const void *)t->data;
    if (sig && k == 1) return kt->sigmoid_rows(x, n, beta, (float *)y, status, first);
    return kt->softmax_rows(x, n, k, t->ld, beta, (float *)y, ldy, status, first);
  }
  calib__rstat rs = {status, 0, n};
  calib__tkernels_get()->rows(t, n, k, beta, sig, y, ydt, ldy, 1, &rs);
  *first = rs.first;
  return rs.bad;
}

int calib_softmax_typed(const calib_input *x, size_t n, size_t k, float beta, void *y,
                        int y_dtype, size_t ldy) {
  calib__tin t;
  int st = calib__tin_init(&t, x, n, k, y, y_dtype, &ldy, NULL);
  if (st != CALIB_OK) return st;
  if (!(beta > 0) || !isfinite(beta)) return CALIB_E_ARG;
  if (n == 0) return CALIB_OK;
  return calib__typed_softmax(&t, n, k, beta, 0, y, y_dtype, ldy);
}
