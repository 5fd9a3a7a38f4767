/* fuzz_model_static.c -- libFuzzer target: calib_model_init_static (the
 * firmware loader, by reference) on arbitrary bytes (input layout and checks
 * in fuzz_model.h), differentially against the copying loader: the same
 * verdict, the same status code, and on success bit-identical apply output.
 * A misaligned copy of the bytes must be CALIB_E_ARG with nothing written. */
#include "fuzz_model.h"
#include "calib_core.h"

static void same_apply(const calib_model *a, const calib_model *b, const uint8_t *data, size_t size) {
  const size_t k = calib_model_classes(a);
  if (k > FUZZ_MAX_K) return;
  float x[FUZZ_ROWS * FUZZ_MAX_K], pa[FUZZ_MAX_K], pb[FUZZ_MAX_K];
  fuzz_rows(x, k, data, size);
  for (size_t r = 0; r < FUZZ_ROWS; r++) {
    const int sa = calib_apply(a, x + r * k, 1, k, pa), sb = calib_apply(b, x + r * k, 1, k, pb);
    fuzz_require(sa == sb);
    if (sa == CALIB_OK) fuzz_require(memcmp(pa, pb, k * sizeof(float)) == 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t *aligned = (uint64_t *)malloc(size / 8 * 8 + 16);
  if (!aligned) return 0;
  uint8_t *buf = (uint8_t *)aligned;
  const size_t len = fuzz_prepare(data, size, buf);
  static uint64_t ws[CALIB_MODEL_WORKSPACE_MAX / 8];
  memset(ws, 0x5A, sizeof ws);
  const calib_model *ms = NULL;
  const int st = calib_model_init_static(&ms, ws, sizeof ws, buf, len);
  calib_model *mc = NULL;
  const int sc = calib_model_load(&mc, buf, len);
  fuzz_require(st == sc || (sc == CALIB_E_NOMEM));
  if (st == CALIB_OK) {
    fuzz_require(ms != NULL);
    fuzz_exercise(ms, buf, len, data, size);
    if (mc) same_apply(ms, mc, data, size);
  } else {
    fuzz_require(ms == NULL && fuzz_load_error_ok(st));
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) fuzz_require(ws[i] == 0x5A5A5A5A5A5A5A5AULL);
  }
  calib_model_free(mc);
  if (len >= 1) { /* the same bytes one byte off alignment */
    uint8_t *mis = (uint8_t *)malloc(len + 1);
    if (mis) {
      memcpy(mis + 1, buf, len);
      const calib_model *mm = NULL;
      fuzz_require(calib_model_init_static(&mm, ws, sizeof ws, mis + 1, len) == CALIB_E_ARG && mm == NULL);
      free(mis);
    }
  }
  free(aligned);
  return 0;
}
