/* fuzz_model_load.c -- libFuzzer target: calib_model_load (the copying
 * loader) on arbitrary bytes (see fuzz_model.h for the input layout and the
 * checks). The bytes are handed over at an odd address: the copying loader
 * takes any alignment. */
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *raw = (uint8_t *)malloc(size + 2);
  if (!raw) return 0;
  uint8_t *buf = raw + 1; /* deliberately misaligned */
  const size_t len = fuzz_prepare(data, size, buf);
  calib_model *m = NULL;
  const int st = calib_model_load(&m, buf, len);
  if (st == CALIB_OK) {
    fuzz_require(m != NULL);
    fuzz_exercise(m, buf, len, data, size);
  } else {
    fuzz_require(m == NULL && fuzz_load_error_ok(st));
  }
  calib_model_free(m);
  free(raw);
  return 0;
}
