/* bench_common.h -- what every C benchmark program needs: a monotonic clock,
 * a double comparator for qsort (medians), and one seeded xorshift generator
 * (the same stream in every program, so inputs are reproducible run to run).
 * Header-only; each program includes it once. */
#ifndef CALIB_BENCH_COMMON_H
#define CALIB_BENCH_COMMON_H

#include <math.h>
#include <stdint.h>
#include <time.h>

#if defined(__GNUC__) || defined(__clang__)
#define BENCH_MAYBE_UNUSED __attribute__((unused))
#else
#define BENCH_MAYBE_UNUSED
#endif

/* seconds on CLOCK_MONOTONIC (needs _POSIX_C_SOURCE >= 199309L before any include) */
static BENCH_MAYBE_UNUSED double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static BENCH_MAYBE_UNUSED int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
/* uniform in [0, 1), 53 bits */
static BENCH_MAYBE_UNUSED double uniform(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (double)((rng * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}
/* standard normal (Box-Muller, the cosine branch) */
static BENCH_MAYBE_UNUSED double normal(void) {
  const double u = uniform() + 1e-300, v = uniform();
  return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

#endif /* CALIB_BENCH_COMMON_H */
