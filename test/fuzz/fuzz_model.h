/* fuzz_model.h -- what the two model-loader fuzz targets share.
 *
 * Input layout: byte 0 holds flags, the rest is the candidate model bytes.
 *   flags & 2: first set the header's payload-length field to len - 32;
 *   flags & 1: then recompute both CRC-32s (payload, then header).
 * Without the fix-ups almost every mutation dies at a CRC check; with them the
 * fuzzer reaches the section table, the counts and each method's validator.
 *
 * A loaded model must then behave: its size and saved bytes equal the input,
 * every parameter array reads back, and calib_apply on rows of awkward logits
 * and probabilities either returns a documented input error or writes values
 * in [0, 1] (no NaN) whose rows sum to 1 for k >= 2, identically in place.
 * Any violation calls abort(): libFuzzer and the replay driver report it. */
#ifndef CALIB_FUZZ_MODEL_H
#define CALIB_FUZZ_MODEL_H

#include "calib.h"
#include "internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_K 256
#define FUZZ_ROWS 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_require(int ok) {
  if (!ok) abort();
}

/* Copies the model part of the input into buf (capacity >= size) with the
 * fix-ups the flags ask for; returns its length. */
static size_t fuzz_prepare(const uint8_t *data, size_t size, uint8_t *buf) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const size_t len = size - 1;
  if (len) memcpy(buf, data + 1, len);
  if (len >= 32 && (flags & 2)) calib__put_u64(buf + 16, (uint64_t)(len - 32));
  if (len >= 32 && (flags & 1)) {
    calib__put_u32(buf + 24, calib__crc32(buf + 32, len - 32));
    calib__put_u32(buf + 28, calib__crc32(buf, 28));
  }
  return len;
}

static int fuzz_load_error_ok(int st) {
  return st == CALIB_E_FORMAT || st == CALIB_E_UNSUPPORTED || st == CALIB_E_NOMEM;
}

/* Awkward input rows for k columns, drawn from a palette by the input bytes. */
static void fuzz_rows(float *x, size_t k, const uint8_t *data, size_t size) {
  static const float pal[] = {0.0f, 1.0f, -1.0f, 0.5f, 2.5f, -3.0f, 10.0f, -10.0f, 50.0f, -50.0f,
                              1e-3f, 0.999f, 1e30f, -1e30f, 0.25f, 1e-40f};
  for (size_t i = 0; i < FUZZ_ROWS * k; i++) {
    const uint8_t b = size ? data[(i * 7 + 3) % size] : 0;
    x[i] = pal[(b + i) % (sizeof pal / sizeof pal[0])];
  }
  for (size_t j = 0; j < k; j++) x[k + j] = (float)((double)((j * 37 + 11) % 101) / 100.0); /* probabilities */
  x[2 * k] = -INFINITY; /* a masked entry */
}

/* Applies m to one row (n = 1) and checks the documented outcome. */
static void fuzz_apply_row(const calib_model *m, const float *row, size_t k) {
  float out[FUZZ_MAX_K], inplace[FUZZ_MAX_K];
  const int st = calib_apply(m, row, 1, k, out);
  if (st != CALIB_OK) {
    fuzz_require(st == CALIB_E_NONFINITE || st == CALIB_E_DOMAIN);
    return;
  }
  double sum = 0;
  for (size_t j = 0; j < k; j++) {
    fuzz_require(out[j] >= 0.0f && out[j] <= 1.0f);
    sum += (double)out[j];
  }
  if (k >= 2) fuzz_require(fabs(sum - 1.0) <= 1e-4);
  memcpy(inplace, row, k * sizeof(float));
  fuzz_require(calib_apply(m, inplace, 1, k, inplace) == CALIB_OK);
  fuzz_require(memcmp(inplace, out, k * sizeof(float)) == 0);
}

/* The checks every successfully loaded model must pass. */
static void fuzz_exercise(const calib_model *m, const uint8_t *bytes, size_t len,
                          const uint8_t *data, size_t size) {
  fuzz_require(calib_model_method(m) > 0 && calib_method_name(calib_model_method(m)) != NULL);
  const size_t k = calib_model_classes(m);
  fuzz_require(k >= 1);
  fuzz_require(calib_model_size(m) == len);
  uint8_t *saved = (uint8_t *)malloc(len);
  size_t w = 0;
  fuzz_require(saved && calib_model_save(m, saved, len, &w) == CALIB_OK && w == len);
  fuzz_require(memcmp(saved, bytes, len) == 0);
  free(saved);
  for (int tag = 1; tag <= 32; tag++) {
    size_t c = 0;
    if (calib_model_param(m, tag, NULL, 0, &c) != CALIB_OK) continue;
    fuzz_require(c >= 1 && c <= len / 8);
    double *v = (double *)malloc(c * sizeof *v);
    size_t c2 = 0;
    fuzz_require(v && calib_model_param(m, tag, v, c, &c2) == CALIB_OK && c2 == c);
    free(v);
  }
  if (k > FUZZ_MAX_K) return;
  float x[FUZZ_ROWS * FUZZ_MAX_K];
  fuzz_rows(x, k, data, size);
  for (size_t r = 0; r < FUZZ_ROWS; r++) fuzz_apply_row(m, x + r * k, k);
  fuzz_require(calib_apply(m, NULL, 0, k + 1, NULL) == CALIB_E_SHAPE);
}

#endif
