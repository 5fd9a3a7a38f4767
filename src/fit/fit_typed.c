/* fit_typed.c -- calib_fit_typed: every fitter on typed logits (calib.h).
 *
 * The descriptor is validated (kernels/typed.h calib__tin_init), the rows are
 * converted once into fitter-owned float32 scratch (n*k*4 bytes, overflow
 * checked, kept for the next call and freed by calib_fitter_free) with the
 * scalar conversion oracle, and calib_fit runs on them: the same validation,
 * methods, error detail (calib_fitter_error) and report as calib_fit, on
 * exactly the dequantized float32 values. Densely stored float32 input
 * (ld == k) is passed through without a copy. */
#include "fit_internal.h"
#include "checked.h"
#include "typed.h"
#include <math.h>

/* A failure before calib_fit runs: the detail and the report as calib_fit
 * leaves them for a failed call. */
static int typed_fail(calib_fitter *f, int code, const char *arg, const char *check) {
  memset(&f->report, 0, sizeof f->report);
  f->report.gap = f->report.condition = (double)NAN;
  calib__error_set(&f->err, code, arg, check, UINT64_MAX, 0);
  f->report.valid = 1;
  f->report.status = code;
  return code;
}

/* The methods whose fitters have CALIB_P_INPUT (probabilities possible). */
static int takes_probs(const calib_fitter *f) {
  switch (f->method) {
  case CALIB_METHOD_PLATT:
  case CALIB_METHOD_BETA:
  case CALIB_METHOD_ISOTONIC:
  case CALIB_METHOD_HISTOGRAM: return f->opt[CALIB_P_INPUT] == CALIB_INPUT_PROBS;
  default: return 0;
  }
}

int calib_fit_typed(calib_fitter *f, const calib_input *x, size_t n, size_t k, const int64_t *labels,
                    const double *weights, calib_model **out) {
  if (!f) return CALIB_E_ARG;
  calib__tin t;
  const char *chk = "";
  int st = calib__tin_init(&t, x, n, k, NULL, 0, NULL, &chk);
  if (st != CALIB_OK) return typed_fail(f, st, k == 0 ? "k" : "x", chk);
  if ((t.dtype == CALIB_DTYPE_I8 || t.dtype == CALIB_DTYPE_U8) && takes_probs(f))
    return typed_fail(f, CALIB_E_ARG, "x",
                      "int8/uint8 input for a fit on probabilities (CALIB_P_INPUT): give float32, "
                      "float16 or bfloat16 probabilities");
  if (n == 0) return calib_fit(f, NULL, 0, k, labels, weights, out); /* its own EMPTY detail */
  if (t.dtype == CALIB_DTYPE_F32 && t.ld == k && (uintptr_t)t.data % sizeof(float) == 0)
    return calib_fit(f, (const float *)(const void *)t.data, n, k, labels, weights, out);
  size_t count, bytes;
  if (!calib__size_mul(n, k, &count) || !calib__size_bytes(count, sizeof(float), &bytes))
    return typed_fail(f, CALIB_E_ARG, "n, k", "n * k * 4 bytes of logits exceed the address space");
  if (count > f->typed_cap) {
    float *s = (float *)calib__malloc(bytes);
    if (!s) return typed_fail(f, CALIB_E_NOMEM, "x", "the float32 copy of the typed input");
    calib__free(f->typed_scratch);
    f->typed_scratch = s;
    f->typed_cap = count;
  }
  calib__tin_rows_f32(&t, 0, n, k, f->typed_scratch);
  return calib_fit(f, f->typed_scratch, n, k, labels, weights, out);
}
