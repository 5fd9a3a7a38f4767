/*
 * harness.h -- libcalib's test harness: no framework, one header.
 *
 *   CHECK(cond)              records a failure with file:line and the condition
 *   CHECK_NEAR(a, b, tol)    |a - b| <= tol, printing both with %.17g
 *   CHECK_REL(a, b, rel)     |a - b| <= rel * max(|a|, |b|)
 *   CHECK_OK(expr)           expr == CALIB_OK, printing calib_strerror otherwise
 *   CHECK_ERR(expr, code)    expr == code
 *   SKIP(msg)                prints msg, exits 77 (test/run.sh counts it as skipped)
 *   th_missing_data(what)    a part that needs absent reference data (../shared):
 *                            the rest runs; TEST_MAIN_END then exits 77 with the
 *                            reason, or 1 when CALIB_REQUIRE_SHARED=1 (CI), so a
 *                            CI without the data is red, never silently green
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


/* ---- Data sets and hand-made model bytes, shared by the tests ---------------- */

typedef struct { float *x; int64_t *y; size_t n, k; } th_set;

static void th_set_free(th_set *s) { free(s->x); free(s->y); s->x = NULL; s->y = NULL; }

/* The raw `logits.f32` (n x k float32) / `labels.i32` pair of a ../shared/data
 * split folder; 0 if absent or inconsistent. */
static int th_load_raw(const char *dir, size_t k, th_set *s) {
  char p[1200];
  size_t lx = 0, ly = 0;
  snprintf(p, sizeof p, "%s/logits.f32", dir);
  float *x = (float *)th_read_file(p, &lx);
  snprintf(p, sizeof p, "%s/labels.i32", dir);
  int32_t *y = (int32_t *)th_read_file(p, &ly);
  if (!x || !y || lx != ly / 4 * k * 4) { free(x); free(y); return 0; }
  s->n = ly / 4;
  s->k = k;
  s->x = x;
  s->y = (int64_t *)malloc(s->n * sizeof(int64_t));
  for (size_t i = 0; i < s->n; i++) s->y[i] = y[i];
  free(y);
  return 1;
}

/* Model bytes written from the layout documented in src/model/format.c by
 * this independent writer (little-endian, CRC-32 of the zlib polynomial), so
 * tests can hand the loader valid, invalid and hostile models. */
typedef struct { uint32_t tag; size_t count; const double *v; } th_section;

static void th_put_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t th_crc32(const uint8_t *p, size_t len) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) {
    c ^= p[i];
    for (int b = 0; b < 8; b++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

/* Writes the model into buf (size: th_model_bytes) and returns its length. */
static size_t th_model_bytes(size_t ns, const th_section *s) {
  size_t total = 32 + 16 + 16 * ns;
  for (size_t j = 0; j < ns; j++) total += 8 * s[j].count;
  return total;
}
static size_t th_craft_model_into(uint8_t *buf, int method, uint64_t k, const th_section *s, size_t ns) {
  uint8_t *pl = buf + 32;
  size_t off = 16 + 16 * ns;
  th_put_le(pl, k, 8);
  th_put_le(pl + 8, ns, 4);
  th_put_le(pl + 12, 0, 4);
  for (size_t j = 0; j < ns; j++) {
    th_put_le(pl + 16 + 16 * j, s[j].tag, 4);
    th_put_le(pl + 20 + 16 * j, 1, 4);
    th_put_le(pl + 24 + 16 * j, s[j].count, 8);
    for (size_t i = 0; i < s[j].count; i++, off += 8) {
      uint64_t u;
      memcpy(&u, &s[j].v[i], 8);
      th_put_le(pl + off, u, 8);
    }
  }
  memcpy(buf, "CALIBMDL", 8);
  th_put_le(buf + 8, 1, 4);
  th_put_le(buf + 12, (uint32_t)method, 4);
  th_put_le(buf + 16, off, 8);
  th_put_le(buf + 24, th_crc32(pl, off), 4);
  th_put_le(buf + 28, th_crc32(buf, 28), 4);
  return 32 + off;
}
/* Version 2 (format.c's metadata sections): each section has a type, 1 =
 * float64 (v, count values) or 2 = bytes (b, count bytes, zero-padded to a
 * multiple of 8). Written here from the documented layout, independently of
 * format.c. Returns the length; th_model2_bytes gives the size. */
typedef struct { uint32_t tag, type; size_t count; const double *v; const char *b; } th_section2;
static size_t th_sec2_words(const th_section2 *s) { return s->type == 2 ? (s->count + 7) / 8 : s->count; }
static size_t th_model2_bytes(size_t ns, const th_section2 *s) {
  size_t total = 32 + 16 + 16 * ns;
  for (size_t j = 0; j < ns; j++) total += 8 * th_sec2_words(&s[j]);
  return total;
}
static size_t th_craft_model2_into(uint8_t *buf, uint32_t version, int method, uint64_t k,
                                   const th_section2 *s, size_t ns) {
  uint8_t *pl = buf + 32;
  size_t off = 16 + 16 * ns;
  th_put_le(pl, k, 8);
  th_put_le(pl + 8, ns, 4);
  th_put_le(pl + 12, 0, 4);
  for (size_t j = 0; j < ns; j++) {
    th_put_le(pl + 16 + 16 * j, s[j].tag, 4);
    th_put_le(pl + 20 + 16 * j, s[j].type, 4);
    th_put_le(pl + 24 + 16 * j, s[j].count, 8);
    if (s[j].type == 2) {
      for (size_t i = 0; i < 8 * th_sec2_words(&s[j]); i++) pl[off + i] = i < s[j].count ? (uint8_t)s[j].b[i] : 0;
      off += 8 * th_sec2_words(&s[j]);
      continue;
    }
    for (size_t i = 0; i < s[j].count; i++, off += 8) {
      uint64_t u;
      memcpy(&u, &s[j].v[i], 8);
      th_put_le(pl + off, u, 8);
    }
  }
  memcpy(buf, "CALIBMDL", 8);
  th_put_le(buf + 8, version, 4);
  th_put_le(buf + 12, (uint32_t)method, 4);
  th_put_le(buf + 16, off, 8);
  th_put_le(buf + 24, th_crc32(pl, off), 4);
  th_put_le(buf + 28, th_crc32(buf, 28), 4);
  return 32 + off;
}
static uint8_t *th_craft_model2(uint32_t version, int method, uint64_t k, const th_section2 *s, size_t ns,
                                size_t *len) {
  uint8_t *buf = (uint8_t *)calloc(1, th_model2_bytes(ns, s) + 8);
  *len = th_craft_model2_into(buf, version, method, k, s, ns);
  return buf;
}

/* The golden version-2 model (test/golden/temperature_k10_v2.calib): T = 2.5
 * for k = 10 with a reference of n = 64 rows, created 2026-01-01T00:00:00Z,
 * tag "golden v2 \u2713" (13 bytes of UTF-8). Values exact in binary. */
static const double th_g2_temp[1] = {2.5};
static const double th_g2_info[8] = {1767225600.0, 64, 0.75, 0.0625, 0.375, 0.5, 0.03125, 0.25};
static const double th_g2_prior[10] = {0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.0625, 0.0625, 0.0625, 0.0625};
static const double th_g2_conf[20] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16};
static const double th_g2_class[10] = {7, 9, 8, 8, 6, 10, 4, 5, 3, 4};
static const char th_g2_tag[] = "golden v2 \xe2\x9c\x93";
#define TH_G2_NSEC 6
static const th_section2 th_g2_secs[TH_G2_NSEC] = {
    {1, 1, 1, th_g2_temp, NULL},             /* CALIB_MP_TEMPERATURE */
    {0x10001u, 1, 8, th_g2_info, NULL},      /* INFO */
    {0x10002u, 1, 10, th_g2_prior, NULL},    /* PRIOR */
    {0x10003u, 1, 20, th_g2_conf, NULL},     /* CONF_HIST */
    {0x10004u, 1, 10, th_g2_class, NULL},    /* CLASS_HIST */
    {0x10005u, 2, 13, NULL, th_g2_tag},      /* TAG */
};

/* The same, in a new malloc'ed buffer (*len = its size). */
static uint8_t *th_craft_model(int method, uint64_t k, const th_section *s, size_t ns, size_t *len) {
  uint8_t *buf = (uint8_t *)calloc(1, th_model_bytes(ns, s));
  *len = th_craft_model_into(buf, method, k, s, ns);
  return buf;
}

/* A temperature-scaling model of T for k classes, from the independent
 * writer through calib_model_load (checked); the caller frees it. */
static calib_model *th_temperature_model(double T, size_t k) {
  const th_section sec = {CALIB_MP_TEMPERATURE, 1, &T};
  size_t len = 0;
  uint8_t *b = th_craft_model(CALIB_METHOD_TEMPERATURE, k, &sec, 1, &len);
  calib_model *m = NULL;
  CHECK_OK(calib_model_load(&m, b, len));
  free(b);
  return m;
}

/* ---- Files for the bounded-reading tests (test_model, test_npy) -------------- */
#ifdef TH_WANT_FIFO
#include <fcntl.h>
#include <unistd.h>
/* A sparse file: the n bytes at head, then zeros up to size; 0 on failure. */
static int sparse_file(const char *path, const void *head, size_t n, off_t size) {
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return 0;
  const int ok = (n == 0 || write(fd, head, n) == (ssize_t)n) && ftruncate(fd, size) == 0;
  close(fd);
  return ok;
}

typedef struct { const char *path; const uint8_t *b; size_t len, extra; } fifo_job;

/* Writes job->b into the FIFO, then `extra` zero bytes (SIZE_MAX: until the reader leaves). */
static void *fifo_writer(void *arg) {
  const fifo_job *j = (const fifo_job *)arg;
  const int fd = open(j->path, O_WRONLY);
  if (fd < 0) return NULL;
  uint8_t zero[4096];
  memset(zero, 0, sizeof zero);
  ssize_t w = j->len ? write(fd, j->b, j->len) : 0;
  for (size_t sent = 0; w >= 0 && sent < j->extra; sent += (size_t)w)
    w = write(fd, zero, j->extra - sent < sizeof zero ? j->extra - sent : sizeof zero);
  close(fd);
  return NULL;
}
#endif

/* ---- Fitting and reading models ---------------------------------------------- */

/* exp(z_j - max z) / sum_l exp(z_l - max z) in double, rounded once: the
 * probabilities calib.h promises for CALIB_INPUT_LOGITS with k >= 2. */
static void th_softmax_f64(const float *z, size_t n, size_t k, float *p) {
  for (size_t i = 0; i < n; i++) {
    const float *r = z + i * k;
    double mx = (double)r[0], s = 0;
    for (size_t j = 1; j < k; j++) mx = (double)r[j] > mx ? (double)r[j] : mx;
    for (size_t j = 0; j < k; j++) s += exp((double)r[j] - mx);
    for (size_t j = 0; j < k; j++) p[i * k + j] = (float)(exp((double)r[j] - mx) / s);
  }
}

/* One fit of method with options opts (pairs id, value; id 0 ends; NULL: none),
 * each option checked; the status is returned and the model (NULL on failure)
 * stored in *m. */
static int th_fit(int method, const float *x, size_t n, size_t k, const int64_t *y, const double *w,
                  const double *opts, calib_model **m) {
  calib_fitter *f = NULL;
  *m = NULL;
  CHECK_OK(calib_fitter_create(&f, method));
  for (; opts && opts[0] != 0; opts += 2) CHECK_OK(calib_fitter_set(f, (int)opts[0], opts[1]));
  const int st = calib_fit(f, x, n, k, y, w, m);
  calib_fitter_free(f);
  return st;
}

/* Parameter array `which` of m into out (cap values), checked; its count. */
static size_t th_param(const calib_model *m, int which, double *out, size_t cap) {
  size_t c = 0;
  CHECK_OK(calib_model_param(m, which, out, cap, &c));
  return c;
}

/* Out of memory at the 1st, 2nd, ... allocation (up to max_nth) of
 * calib_fit(f, ...), until a fit succeeds: every failure must be
 * CALIB_E_NOMEM with no model, and one fit must succeed. Needs the allocator
 * hook, so only for tests that include internal.h first. */
#ifdef CALIB_INTERNAL_H
static void th_fit_oom(calib_fitter *f, const float *x, size_t n, size_t k, const int64_t *y, size_t max_nth) {
  int done = 0;
  for (size_t nth = 1; nth < max_nth && !done; nth++) {
    calib_model *m = NULL;
    calib__alloc_fail_at(nth, 1);
    const int st = calib_fit(f, x, n, k, y, NULL, &m);
    calib__alloc_fail_at(0, 0);
    if (st == CALIB_OK) done = 1;
    else CHECK(st == CALIB_E_NOMEM && m == NULL);
    calib_model_free(m);
  }
  CHECK(done);
}
#endif

/* Parts of this test that could not run for want of reference data. */
static char th_missing[1024];
static int th_missing_count = 0;
static void th_missing_data(const char *what) {
  th_missing_count++;
  printf("skipped part: %s (data absent at %s)\n", what, th_shared_data());
  size_t used = strlen(th_missing);
  if (used + 3 < sizeof th_missing)
    snprintf(th_missing + used, sizeof th_missing - used, "%s%s", used ? "; " : "", what);
}
/* 1 when CALIB_REQUIRE_SHARED=1: missing reference data is then a failure. */
static int th_require_shared(void) {
  const char *e = getenv("CALIB_REQUIRE_SHARED");
  return e && strcmp(e, "1") == 0;
}
static int th_finish(const char *file) {
  printf("%s: %ld checks, %ld failed\n", file, th_checks, th_failed);
  if (th_failed) return 1;
  if (!th_missing_count) return 0;
  if (th_require_shared()) {
    printf("FAILED: CALIB_REQUIRE_SHARED=1 and reference data is missing (%s): %s\n", th_shared_data(), th_missing);
    return 1;
  }
  printf("skipped: %d part(s) need %s: %s (the other %ld checks passed)\n", th_missing_count,
         th_shared_data(), th_missing, th_checks);
  return 77;
}
#define TEST_MAIN_END() do { return th_finish(__FILE__); } while (0)

#endif
