/* ab_rows.c -- A/B of calib_softmax_rows (or calib_softmax) between two
 * builds of the shared library, in one process (issue 12, run 19).
 *
 * Both libraries are dlopen'ed (RTLD_LOCAL, so each keeps its own symbols);
 * each round times library A, library B and memcpy of the same bytes, each
 * in five consecutive calls of which the best of the last four counts, in an
 * order that rotates from round to round; the best over the rounds is
 * printed. Buffers are written once before timing (pre-touched).
 *
 * Why this shape: timed back to back (A then B then memcpy), the second
 * library ran 3-10 % faster than the first with identical code, because the
 * first one ran right after memcpy's non-temporal stores; in consecutive
 * calls each library runs after itself, as bench_softmax times it.
 *
 * Build and run (copy the two libraries first: a rebuild overwrites
 * lib/libcalib.so.X.Y.Z in place):
 *   cc -O2 -o /tmp/ab_rows bench/ab_rows.c -ldl
 *   /tmp/ab_rows /tmp/old.so /tmp/new.so 100000 100 [rounds] ; STRICT=1 for calib_softmax
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*rows_fn)(const float *, size_t, size_t, size_t, float, float *, size_t, uint8_t *, size_t *,
                       size_t *);
typedef int (*strict_fn)(const float *, size_t, size_t, size_t, float, float *, size_t);

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s LIB_A.so LIB_B.so n k [rounds]   (STRICT=1: calib_softmax)\n", argv[0]);
    return 2;
  }
  /* n, k: positive, n k <= 2^30 (two buffers of 4 GiB at most); rounds 1 .. 1000 */
  const double nd = atof(argv[3]), kd = atof(argv[4]);
  const int rounds = argc > 5 ? atoi(argv[5]) : 12, strict = getenv("STRICT") != NULL;
  if (!(nd >= 1 && kd >= 1 && nd * kd <= 0x1p30)) {
    fprintf(stderr, "n, k: at least 1 each, n k at most 2^30 (got %s, %s)\n", argv[3], argv[4]);
    return 2;
  }
  if (rounds < 1 || rounds > 1000) {
    fprintf(stderr, "rounds: 1 .. 1000\n");
    return 2;
  }
  const size_t n = (size_t)nd, k = (size_t)kd;
  rows_fn f[2];
  strict_fn g[2];
  for (int i = 0; i < 2; i++) {
    void *h = dlopen(argv[1 + i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      fprintf(stderr, "%s\n", dlerror());
      return 2;
    }
    f[i] = (rows_fn)(uintptr_t)dlsym(h, "calib_softmax_rows");
    g[i] = (strict_fn)(uintptr_t)dlsym(h, "calib_softmax");
    if (!f[i] || !g[i]) {
      fprintf(stderr, "%s: no calib_softmax_rows / calib_softmax\n", argv[1 + i]);
      return 2;
    }
  }
  float *x = malloc(n * k * sizeof *x), *y = malloc(n * k * sizeof *y);
  uint8_t *st = malloc(n);
  if (!x || !y || !st) {
    fprintf(stderr, "out of memory: two buffers of %zu floats\n", n * k);
    return 2;
  }
  srand(1);
  for (size_t i = 0; i < n * k; i++) x[i] = (float)(rand() % 2000) / 100.0f - 10.0f;
  memset(y, 0, n * k * sizeof *y);
  memset(st, 0, n);
  double best[3] = {1e9, 1e9, 1e9};
  for (int r = 0; r < rounds; r++)
    for (int o = 0; o < 3; o++) {
      const int v = (o + r) % 3; /* 0: A, 1: B, 2: memcpy */
      for (int rep = 0; rep < 5; rep++) {
        size_t bad, first;
        const double t0 = now();
        if (v == 2)
          memcpy(y, x, n * k * sizeof *x);
        else if (strict ? g[v](x, n, k, 0, 1.0f, y, 0) : f[v](x, n, k, 0, 1.0f, y, 0, st, &bad, &first)) {
          fprintf(stderr, "%s: %s failed\n", argv[1 + v], strict ? "calib_softmax" : "calib_softmax_rows");
          return 3;
        }
        const double t = now() - t0;
        if (rep > 0 && t < best[v]) best[v] = t;
      }
    }
  printf("%s (%zu, %zu): A %.3f ms  B %.3f ms  memcpy %.3f ms  A %.0f %%  B %.0f %% of the copy  B/A %.3f\n",
         strict ? "calib_softmax" : "calib_softmax_rows", n, k, best[0] * 1e3, best[1] * 1e3, best[2] * 1e3,
         100 * best[2] / best[0], 100 * best[2] / best[1], best[1] / best[0]);
  free(x);
  free(y);
  free(st);
  return 0;
}
