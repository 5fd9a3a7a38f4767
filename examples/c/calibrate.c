/* calibrate.c -- libcalib from C: fit temperature scaling on overconfident
 * logits, apply it, save the model to bytes and load it back.
 *   cc calibrate.c $(pkg-config --cflags --libs calib) -lm -o calibrate */
#include <calib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 4000
#define K 3
#define TRY(call) do { int st_ = (call); if (st_ != CALIB_OK) { \
    fprintf(stderr, "%s: %s\n", #call, calib_strerror(st_)); return 1; } } while (0)

static float logits[N * K], probs[N * K], again[N * K];
static int64_t labels[N];

static double uniform(void) {  /* 64-bit LCG, top 53 bits: [0, 1) */
  static uint64_t s = 42;
  s = s * 6364136223846793005u + 1442695040888963407u;
  return (double)(s >> 11) / 9007199254740992.0;
}

/* label ~ softmax(z) for random z, logits = 2.5 z: 2.5 times too confident. */
static void make_data(void) {
  for (size_t i = 0; i < N; i++) {
    double z[K], total = 0, u = uniform();
    for (size_t j = 0; j < K; j++) { z[j] = 4 * uniform() - 2; total += exp(z[j]); }
    for (labels[i] = 0; labels[i] < K - 1; labels[i]++)
      if ((u -= exp(z[labels[i]]) / total) < 0) break;
    for (size_t j = 0; j < K; j++) logits[i * K + j] = (float)(2.5 * z[j]);
  }
}

int main(void) {
  calib_fitter *f = NULL;
  calib_model *m = NULL, *copy = NULL;
  double T, nll_before, nll_after;
  size_t count;
  make_data();
  TRY(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  TRY(calib_fit(f, logits, N, K, labels, NULL, &m));        /* weights NULL: all 1 */
  TRY(calib_model_param(m, CALIB_MP_TEMPERATURE, &T, 1, &count));
  TRY(calib_fitter_report(f, CALIB_R_NLL_BEFORE, &nll_before));
  TRY(calib_fitter_report(f, CALIB_R_NLL_AFTER, &nll_after));
  printf("T = %.3f   NLL %.4f -> %.4f\n", T, nll_before, nll_after);
  TRY(calib_apply(m, logits, N, K, probs));                 /* softmax(logits / T) */

  size_t size = calib_model_size(m);                        /* model -> bytes -> model */
  unsigned char *bytes = malloc(size);
  if (!bytes) return 1;
  TRY(calib_model_save(m, bytes, size, NULL));
  TRY(calib_model_load(&copy, bytes, size));
  TRY(calib_apply(copy, logits, N, K, again));
  int same = memcmp(probs, again, sizeof probs) == 0;
  printf("row 0: p = %.3f %.3f %.3f; %zu-byte model reloaded %s\n", (double)probs[0],
         (double)probs[1], (double)probs[2], size, same ? "identically" : "DIFFERENTLY");
  free(bytes);
  calib_model_free(copy);
  calib_model_free(m);
  calib_fitter_free(f);
  return same ? 0 : 1;
}
