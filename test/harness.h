/*
 * harness.h -- libcalib's test harness: no framework, one header.
 *
 *   CHECK(cond)              records a failure with file:line and the condition
 *   CHECK_NEAR(a, b, tol)    |a - b| <= tol, printing both with %.17g
 *   CHECK_REL(a, b, rel)     |a - b| <= rel * max(|a|, |b|)
 *   CHECK_OK(expr)           expr == CALIB_OK, printing calib_strerror otherwise
 *   CHECK_ERR(expr, code)    expr == code
 *   SKIP(msg)                prints msg, exits 77 (test/run.sh counts it as skipped)
 *   test_seed(argc, argv)    seed from argv[1] or the clock; printed
 *   TEST_MAIN_END()          prints "<name>: N checks, N failed" and returns the status
 */
#ifndef CALIB_TEST_HARNESS_H
#define CALIB_TEST_HARNESS_H

#include "calib.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long th_checks = 0, th_failed = 0;

#define TH_FAIL(...) do { th_failed++; fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } while (0)
#define CHECK(c) do { th_checks++; if (!(c)) TH_FAIL("CHECK(%s) failed", #c); } while (0)
#define CHECK_NEAR(a, b, tol) do { double th_a = (double)(a), th_b = (double)(b); th_checks++; \
    if (!(fabs(th_a - th_b) <= (tol))) TH_FAIL("CHECK_NEAR(%s, %s): %.17g vs %.17g (diff %.3g > %.3g)", \
      #a, #b, th_a, th_b, fabs(th_a - th_b), (double)(tol)); } while (0)
#define CHECK_REL(a, b, rel) do { double th_a = (double)(a), th_b = (double)(b); th_checks++; \
    double th_s = fabs(th_a) > fabs(th_b) ? fabs(th_a) : fabs(th_b); \
    if (!(fabs(th_a - th_b) <= (rel) * th_s)) TH_FAIL("CHECK_REL(%s, %s): %.17g vs %.17g (rel %.3g > %.3g)", \
      #a, #b, th_a, th_b, th_s > 0 ? fabs(th_a - th_b) / th_s : 0.0, (double)(rel)); } while (0)
#define CHECK_OK(e) do { int th_s = (e); th_checks++; \
    if (th_s != CALIB_OK) TH_FAIL("%s returned %d (%s)", #e, th_s, calib_strerror(th_s)); } while (0)
#define CHECK_ERR(e, code) do { int th_s = (e); th_checks++; \
    if (th_s != (code)) TH_FAIL("%s returned %d (%s), expected %d (%s)", #e, th_s, \
      calib_strerror(th_s), (int)(code), calib_strerror(code)); } while (0)
#define SKIP(msg) do { printf("skipped: %s\n", msg); exit(77); } while (0)

static unsigned long th_seed_value = 0;
static unsigned long test_seed(int argc, char **argv) {
  th_seed_value = argc > 1 ? strtoul(argv[1], NULL, 10) : (unsigned long)time(NULL);
  printf("seed %lu (rerun: %s %lu)\n", th_seed_value, argv[0], th_seed_value);
  return th_seed_value;
}

/* xorshift64* generator: reproducible from the printed seed. */
static uint64_t th_rng = 88172645463325252ULL;
static void th_srand(unsigned long s) { th_rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)s * 2654435761ULL); if (!th_rng) th_rng = 1; }
static uint64_t th_next(void) { th_rng ^= th_rng >> 12; th_rng ^= th_rng << 25; th_rng ^= th_rng >> 27; return th_rng * 2685821657736338717ULL; }
static double th_uniform(void) { return (double)(th_next() >> 11) * (1.0 / 9007199254740992.0); }
static double th_normal(void) { double u = th_uniform() + 1e-300, v = th_uniform(); return sqrt(-2 * log(u)) * cos(6.283185307179586 * v); }

/* Path of ../shared/data relative to the repository root (tests run from there). */
static const char *th_shared_data(void) {
  const char *e = getenv("CALIB_SHARED_DATA");
  return e ? e : "../shared/data";
}

/* Read a whole raw file; NULL if absent. *len = bytes. */
static void *th_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END); long L = ftell(f); fseek(f, 0, SEEK_SET);
  void *b = malloc(L > 0 ? (size_t)L : 1);
  if (b && L > 0 && fread(b, 1, (size_t)L, f) != (size_t)L) { free(b); b = NULL; }
  fclose(f);
  if (b) *len = (size_t)L;
  return b;
}

#define TEST_MAIN_END() do { printf("%s: %ld checks, %ld failed\n", __FILE__, th_checks, th_failed); \
    return th_failed ? 1 : 0; } while (0)

#endif
