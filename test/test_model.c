/* test_model.c -- model bytes: round trips, every truncation, every single-bit
 * corruption, future versions, trailing bytes, golden files; the file save is
 * atomic; apply's argument and input errors write nothing; out-of-memory at
 * every allocation of fit and load returns CALIB_E_NOMEM cleanly. */
#include "harness.h"
#include "internal.h"
#include <errno.h>
#include <unistd.h>

static calib_model *fit_model(size_t n, size_t k) {
  float *x = malloc(n * k * 4);
  int64_t *y = malloc(n * 8);
  for (size_t i = 0; i < n; i++) {
    y[i] = (int64_t)(th_next() % (k == 1 ? 2 : k));
    for (size_t j = 0; j < k; j++)
      x[i * k + j] = (float)(2 * th_normal() + ((k == 1 ? (y[i] ? 1.0 : -1.0) : (j == (size_t)y[i] ? 3.0 : 0.0))));
  }
  calib_fitter *f;
  calib_model *m = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  CHECK_OK(calib_fit(f, x, n, k, y, NULL, &m));
  calib_fitter_free(f);
  free(x);
  free(y);
  return m;
}

static void test_roundtrip(void) {
  calib_model *m = fit_model(500, 5);
  const size_t sz = calib_model_size(m);
  CHECK(sz > 32 && sz % 8 == 0);
  unsigned char *buf = malloc(sz + 9);
  size_t written = 0;
  memset(buf, 0xAB, sz + 9);
  CHECK_ERR(calib_model_save(m, buf, sz - 1, &written), CALIB_E_SMALLBUF);
  CHECK(written == 0 && buf[0] == 0xAB);
  CHECK_OK(calib_model_save(m, buf + 1, sz, &written)); /* unaligned buffer */
  CHECK(written == sz);
  calib_model *m2 = NULL;
  CHECK_OK(calib_model_load(&m2, buf + 1, sz));
  CHECK(calib_model_method(m2) == CALIB_METHOD_TEMPERATURE);
  CHECK(calib_model_classes(m2) == 5);
  double t1, t2;
  size_t c;
  CHECK_OK(calib_model_param(m, CALIB_MP_TEMPERATURE, &t1, 1, &c));
  CHECK_OK(calib_model_param(m2, CALIB_MP_TEMPERATURE, &t2, 1, &c));
  CHECK(t1 == t2 && c == 1);
  CHECK_ERR(calib_model_param(m2, CALIB_MP_TEMPERATURE, &t2, 0, &c), CALIB_E_SMALLBUF);
  CHECK_ERR(calib_model_param(m2, 77, &t2, 1, &c), CALIB_E_ARG);
  c = 0;
  CHECK_OK(calib_model_param(m2, CALIB_MP_TEMPERATURE, NULL, 0, &c));
  CHECK(c == 1);
  /* Identical probabilities from both. */
  float x[50], p1[50], p2[50];
  for (int i = 0; i < 50; i++) x[i] = (float)th_normal() * 4;
  CHECK_OK(calib_apply(m, x, 10, 5, p1));
  CHECK_OK(calib_apply(m2, x, 10, 5, p2));
  CHECK(memcmp(p1, p2, sizeof p1) == 0);
  /* Trailing byte rejected; every truncation rejected. */
  calib_model *bad = NULL;
  CHECK_ERR(calib_model_load(&bad, buf + 1, sz + 1), CALIB_E_FORMAT);
  for (size_t len = 0; len < sz; len++) {
    int st = calib_model_load(&bad, buf + 1, len);
    if (st != CALIB_E_FORMAT) TH_FAIL("truncation to %zu bytes: %d", len, st);
    CHECK(bad == NULL);
  }
  /* Every single-bit flip rejected (header CRC, payload CRC). */
  size_t flips_ok = 0;
  for (size_t i = 0; i < sz; i++)
    for (int b = 0; b < 8; b++) {
      buf[1 + i] ^= (unsigned char)(1u << b);
      int st = calib_model_load(&bad, buf + 1, sz);
      flips_ok += st == CALIB_E_FORMAT && bad == NULL;
      buf[1 + i] ^= (unsigned char)(1u << b);
    }
  CHECK(flips_ok == sz * 8);
  /* Future format version with valid CRCs: rejected. */
  th_put_le(buf + 1 + 8, 2, 4);
  th_put_le(buf + 1 + 28, th_crc32(buf + 1, 28), 4);
  CHECK_ERR(calib_model_load(&bad, buf + 1, sz), CALIB_E_FORMAT);
  /* Unknown method id with valid CRCs: rejected. */
  th_put_le(buf + 1 + 8, 1, 4);
  th_put_le(buf + 1 + 12, 4242, 4);
  th_put_le(buf + 1 + 28, th_crc32(buf + 1, 28), 4);
  CHECK_ERR(calib_model_load(&bad, buf + 1, sz), CALIB_E_FORMAT);
  CHECK(bad == NULL);
  CHECK_ERR(calib_model_load(NULL, buf, sz), CALIB_E_ARG);
  CHECK_ERR(calib_model_load(&bad, NULL, sz), CALIB_E_ARG);
  CHECK_ERR(calib_model_save(NULL, buf, sz, NULL), CALIB_E_ARG);
  CHECK(calib_model_size(NULL) == 0);
  free(buf);
  calib_model_free(m);
  calib_model_free(m2);
}

/* Semantically invalid payloads with valid CRCs: T <= 0, NaN, inf, two sections. */
static void test_invalid_values(void) {
  const double vals[] = {0.0, -1.0, NAN, INFINITY, 1e-320};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    calib__section s = {CALIB_MP_TEMPERATURE, 1, &vals[i]};
    calib_model *m = NULL;
    int st = calib__model_build(&m, CALIB_METHOD_TEMPERATURE, 3, &s, 1);
    CHECK(st != CALIB_OK && m == NULL);
  }
  const double two[2] = {1.5, 2.0};
  calib__section s2 = {CALIB_MP_TEMPERATURE, 2, two};
  calib_model *m = NULL;
  CHECK(calib__model_build(&m, CALIB_METHOD_TEMPERATURE, 3, &s2, 1) != CALIB_OK);
}

/* Golden files: every released format version must keep loading. */
static void test_golden(void) {
  size_t len;
  unsigned char *b = th_read_file("test/golden/temperature_k10_v1.calib", &len);
  if (!b) {
    TH_FAIL("test/golden/temperature_k10_v1.calib missing");
    return;
  }
  calib_model *m = NULL;
  CHECK_OK(calib_model_load(&m, b, len));
  double T = 0;
  size_t c;
  if (m) {
    CHECK_OK(calib_model_param(m, CALIB_MP_TEMPERATURE, &T, 1, &c));
    CHECK(T == 2.5);
    CHECK(calib_model_classes(m) == 10);
  }
  calib_model_free(m);
  free(b);
}

/* Writes the golden file (run once by hand with --write-golden; committed). */
static void write_golden(void) {
  const double T = 2.5;
  calib__section s = {CALIB_MP_TEMPERATURE, 1, &T};
  calib_model *m = NULL;
  CHECK_OK(calib__model_build(&m, CALIB_METHOD_TEMPERATURE, 10, &s, 1));
  CHECK_OK(calib_model_save_file(m, "test/golden/temperature_k10_v1.calib"));
  calib_model_free(m);
}

static void test_files(void) {
  calib_model *m = fit_model(200, 3), *m2 = NULL;
  char dir[] = "/tmp/calib_test_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[128], tmpl[160];
  snprintf(path, sizeof path, "%s/m.calib", dir);
  CHECK_OK(calib_model_save_file(m, path));
  CHECK_OK(calib_model_load_file(&m2, path));
  CHECK(m2 && calib_model_size(m2) == calib_model_size(m));
  calib_model_free(m2);
  m2 = NULL;
  /* Overwrite is atomic: the old file is replaced, no temp file remains. */
  CHECK_OK(calib_model_save_file(m, path));
  snprintf(tmpl, sizeof tmpl, "ls %s | grep -c tmp > /dev/null", dir);
  CHECK(system(tmpl) != 0);
  /* Missing directory: CALIB_E_IO, nothing created. */
  snprintf(path, sizeof path, "%s/nodir/m.calib", dir);
  CHECK_ERR(calib_model_save_file(m, path), CALIB_E_IO);
  CHECK_ERR(calib_model_load_file(&m2, path), CALIB_E_IO);
  CHECK(m2 == NULL);
  /* A non-model file: CALIB_E_FORMAT. */
  snprintf(path, sizeof path, "%s/junk", dir);
  FILE *f = fopen(path, "wb");
  fputs("not a model at all, but long enough to have a header......", f);
  fclose(f);
  CHECK_ERR(calib_model_load_file(&m2, path), CALIB_E_FORMAT);
  snprintf(tmpl, sizeof tmpl, "rm -rf %s", dir);
  CHECK(system(tmpl) == 0);
  calib_model_free(m);
}

static void test_apply_errors(void) {
  calib_model *m = fit_model(300, 4), *mb = fit_model(300, 1);
  float x[12] = {1, 2, 3, 4, 0, 0, 0, 0, -1, 5, 2, 2};
  float out[12], sentinel[12];
  for (int i = 0; i < 12; i++) sentinel[i] = out[i] = -777.0f;
  CHECK_ERR(calib_apply(m, x, 3, 3, out), CALIB_E_SHAPE);
  CHECK_ERR(calib_apply(NULL, x, 3, 4, out), CALIB_E_ARG);
  CHECK_ERR(calib_apply(m, NULL, 3, 4, out), CALIB_E_ARG);
  CHECK_ERR(calib_apply(m, x, 3, 4, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_apply(m, x, 3, 0, out), CALIB_E_ARG);
  CHECK_OK(calib_apply(m, x, 0, 4, out));
  x[9] = NAN;
  CHECK_ERR(calib_apply(m, x, 3, 4, out), CALIB_E_NONFINITE);
  x[9] = INFINITY;
  CHECK_ERR(calib_apply(m, x, 3, 4, out), CALIB_E_NONFINITE);
  CHECK(memcmp(out, sentinel, sizeof out) == 0);
  x[9] = 5;
  for (int j = 8; j < 12; j++) x[j] = -INFINITY; /* all -inf row */
  CHECK_ERR(calib_apply(m, x, 3, 4, out), CALIB_E_NONFINITE);
  CHECK(memcmp(out, sentinel, sizeof out) == 0);
  x[10] = 0; /* -inf entries with one finite: fine */
  CHECK_OK(calib_apply(m, x, 3, 4, out));
  CHECK(out[8] == 0 && out[10] == 1.0f);
  /* Partial overlap rejected; exact in place equals out of place. */
  CHECK_ERR(calib_apply(m, x, 2, 4, x + 1), CALIB_E_ARG);
  float y[12];
  memcpy(y, x, sizeof x);
  CHECK_OK(calib_apply(m, y, 3, 4, y));
  CHECK(memcmp(y, out, sizeof y) == 0);
  /* Binary model: sigmoid(x / T); NaN rejected, infinities are limits. */
  float b[3] = {0, -INFINITY, INFINITY}, pb[3];
  CHECK_OK(calib_apply(mb, b, 3, 1, pb));
  CHECK(pb[0] == 0.5f && pb[1] == 0.0f && pb[2] == 1.0f);
  b[0] = NAN;
  pb[0] = -5;
  CHECK_ERR(calib_apply(mb, b, 3, 1, pb), CALIB_E_NONFINITE);
  CHECK(pb[0] == -5);
  calib_model_free(m);
  calib_model_free(mb);
}

/* Out of memory at every allocation of fit, load and load_file. */
static void test_oom(void) {
  const size_t n = 64, k = 3;
  float x[64 * 3];
  int64_t y[64];
  for (size_t i = 0; i < n; i++) {
    y[i] = (int64_t)(i % k);
    for (size_t j = 0; j < k; j++) x[i * k + j] = (float)th_normal() + (j == (size_t)y[i] ? 1.5f : 0.0f);
  }
  int done = 0;
  for (size_t nth = 1; nth < 50 && !done; nth++) {
    calib_fitter *f = NULL;
    calib_model *m = NULL;
    calib__alloc_fail_at(nth, 1);
    int st = calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE);
    if (st == CALIB_OK) st = calib_fit(f, x, n, k, y, NULL, &m);
    calib__alloc_fail_at(0, 0);
    if (st == CALIB_OK) {
      done = 1;
      unsigned char buf[256];
      size_t w;
      CHECK_OK(calib_model_save(m, buf, sizeof buf, &w));
      for (size_t lth = 1; lth < 10; lth++) {
        calib_model *m2 = NULL;
        calib__alloc_fail_at(lth, 1);
        int s2 = calib_model_load(&m2, buf, w);
        calib__alloc_fail_at(0, 0);
        CHECK(s2 == CALIB_OK || (s2 == CALIB_E_NOMEM && m2 == NULL));
        calib_model_free(m2);
        if (s2 == CALIB_OK) break;
      }
    } else {
      CHECK_ERR(st, CALIB_E_NOMEM);
      CHECK(m == NULL);
    }
    calib_model_free(m);
    calib_fitter_free(f);
  }
  CHECK(done);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--write-golden") == 0) {
    write_golden();
    TEST_MAIN_END();
  }
  th_srand(test_seed(argc, argv));
  test_roundtrip();
  test_invalid_values();
  test_golden();
  test_files();
  test_apply_errors();
  test_oom();
  TEST_MAIN_END();
}
