/* bench_fit.c -- times libcalib's temperature-scaling fit (calib_fit with
 * CALIB_METHOD_TEMPERATURE) on logits/labels written by bench_fit.py.
 *
 * Usage: bench_fit LOGITS.f32 LABELS.i64 N K [reps]
 *   LOGITS.f32: N*K float32 (row-major), LABELS.i64: N int64.
 * The inputs are read (so every buffer is written) before timing; each
 * repetition is one complete calib_fit call (validation, Newton iterations,
 * model construction); the median is reported.
 * Output: FIT calib <T> <NLL after, as reported> <iterations> <median s> <min s> */
#define _POSIX_C_SOURCE 200809L
#include "calib.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_common.h"

static void *read_all(const char *path, size_t bytes) {
  FILE *f = fopen(path, "rb");
  void *p = malloc(bytes ? bytes : 1);
  if (!f || !p || fread(p, 1, bytes, f) != bytes) {
    fprintf(stderr, "bench_fit: cannot read %zu bytes from %s\n", bytes, path);
    exit(2);
  }
  fclose(f);
  return p;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s LOGITS.f32 LABELS.i64 N K [reps]\n", argv[0]);
    return 2;
  }
  const size_t n = strtoul(argv[3], NULL, 10), k = strtoul(argv[4], NULL, 10);
  const int reps = argc > 5 ? atoi(argv[5]) : 5;
  float *x = read_all(argv[1], n * k * sizeof(float));
  int64_t *y = read_all(argv[2], n * sizeof(int64_t));
  calib_fitter *f = NULL;
  if (calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE) != CALIB_OK) {
    fprintf(stderr, "bench_fit: calib_fitter_create failed\n");
    return 2;
  }
  double *t = malloc(sizeof(double) * (size_t)(reps > 0 ? reps : 1));
  double T = 0, nll = 0, iters = 0;
  for (int r = 0; r < reps; r++) {
    calib_model *m = NULL;
    const double a = now();
    const int st = calib_fit(f, x, n, k, y, NULL, &m);
    t[r] = now() - a;
    if (st != CALIB_OK) {
      fprintf(stderr, "bench_fit: calib_fit failed: %s\n", calib_strerror(st));
      return 2;
    }
    size_t cnt = 0;
    if (calib_model_param(m, CALIB_MP_TEMPERATURE, &T, 1, &cnt) != CALIB_OK ||
        calib_fitter_report(f, CALIB_R_NLL_AFTER, &nll) != CALIB_OK ||
        calib_fitter_report(f, CALIB_R_ITERATIONS, &iters) != CALIB_OK) {
      fprintf(stderr, "bench_fit: cannot read the fit's results\n");
      return 2;
    }
    calib_model_free(m);
  }
  qsort(t, (size_t)reps, sizeof(double), cmp_double);
  printf("FIT calib %.17g %.17g %.0f %.9g %.9g %s\n", T, nll, iters, t[reps / 2], t[0], calib_isa());
  calib_fitter_free(f);
  free(t);
  free(x);
  free(y);
  return 0;
}
