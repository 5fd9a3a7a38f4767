/* test_model.c -- model bytes: round trips, every truncation, every single-bit
 * corruption, future versions, trailing bytes, golden files; the file save is
 * atomic; apply's argument and input errors write nothing; out-of-memory at
 * every allocation of fit and load returns CALIB_E_NOMEM cleanly; each failed
 * load check is named in calib_error; files are read within bounds (oversized
 * sparse files, /dev/zero and FIFOs refused before any allocation or at the
 * first byte too many); saves never touch the umask. */
#define TH_WANT_FIFO
#include "harness.h"
#include <dirent.h>
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

/* Entries of dir whose name contains ".tmp." (the atomic writer's temporary
 * files); -1 when dir cannot be read, so a failing listing fails the check
 * (an `ls | grep -c` pipeline passed when ls itself failed). */
static long temp_files_in(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  long count = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) count += strstr(e->d_name, ".tmp.") != NULL;
  closedir(d);
  return count;
}

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
  /* Future format version with valid CRCs: rejected (this library reads 1 and 2). */
  th_put_le(buf + 1 + 8, 3, 4);
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
  CHECK(temp_files_in(dir) == 0);
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
      unsigned char buf[1024]; /* a version-2 model: parameters and provenance */
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

/* ---- Messages: calib_model_load_ex names the structure, the check and the offset ---- */

static void expect_load_error(const uint8_t *b, size_t len, int code, const char *arg, const char *check,
                              uint64_t index, int line) {
  calib_model *m = NULL;
  calib_error e;
  memset(&e, 0x5A, sizeof e);
  e.arg = e.check = "";
  const int st = calib_model_load_ex(&m, b, len, &e);
  th_checks++;
  if (st != code || m != NULL || e.code != code || strcmp(e.arg, arg) != 0 || !strstr(e.check, check) ||
      e.index != index || !strstr(e.message, check) || !strstr(e.message, calib_strerror(code)))
    TH_FAIL("line %d: status %d, arg '%s', check '%s', index %llu, message '%s'", line, st, e.arg, e.check,
            (unsigned long long)e.index, e.message);
  calib_model_free(m);
}

/* Sets the header CRC of b after an edit of bytes 0..27. */
static void fix_header_crc(uint8_t *b) { th_put_le(b + 28, th_crc32(b, 28), 4); }

static void test_load_messages(void) {
  const double T = 1.5, nan = NAN, neg = -2.0;
  th_section s = {CALIB_MP_TEMPERATURE, 1, &T};
  size_t len = 0, l2 = 0;
  uint8_t *b = th_craft_model(CALIB_METHOD_TEMPERATURE, 4, &s, 1, &len), *c = (uint8_t *)malloc(len + 8);
  calib_model *m = NULL;
  calib_error e;
  CHECK_OK(calib_model_load_ex(&m, b, len, &e));
  CHECK(e.code == CALIB_OK && e.message[0] == '\0');
  calib_model_free(m);
  m = NULL;
  CHECK_ERR(calib_model_load_ex(NULL, b, len, &e), CALIB_E_ARG);
  CHECK(e.code == CALIB_E_ARG && strcmp(e.arg, "out") == 0);
  CHECK_ERR(calib_model_load_ex(&m, b, len, NULL) == CALIB_OK ? CALIB_OK : -100, CALIB_OK); /* NULL err */
  calib_model_free(m);
#define EDIT(stmt) do { memcpy(c, b, len); stmt; } while (0)
  EDIT(c[0] = 'X');
  expect_load_error(c, len, CALIB_E_FORMAT, "model header", "magic is not \"CALIBMDL\"", 0, __LINE__);
  expect_load_error(b, 20, CALIB_E_FORMAT, "model header", "truncated: shorter than the 32-byte header",
                    UINT64_MAX, __LINE__);
  EDIT(c[13] ^= 1);
  expect_load_error(c, len, CALIB_E_FORMAT, "model header", "header CRC-32 does not match", 28, __LINE__);
  EDIT((th_put_le(c + 8, 3, 4), fix_header_crc(c)));
  expect_load_error(c, len, CALIB_E_FORMAT, "model header", "format version is newer", 8, __LINE__);
  EDIT((th_put_le(c + 8, 0, 4), fix_header_crc(c)));
  expect_load_error(c, len, CALIB_E_FORMAT, "model header", "format version 0 is invalid", 8, __LINE__);
  EDIT((th_put_le(c + 12, 4242, 4), fix_header_crc(c)));
  expect_load_error(c, len, CALIB_E_FORMAT, "model header", "unknown method id", 12, __LINE__);
  EDIT((th_put_le(c + 16, len - 32 + 4, 8), fix_header_crc(c)));
  expect_load_error(c, len, CALIB_E_FORMAT, "model header", "payload length is not a multiple of 8", 16, __LINE__);
  EDIT((th_put_le(c + 16, (uint64_t)CALIB_MODEL_MAX_BYTES, 8), fix_header_crc(c)));
  expect_load_error(c, len, CALIB_E_FORMAT, "model header", "payload length exceeds the format maximum", 16,
                    __LINE__);
  EDIT((th_put_le(c + 16, len - 32 + 8, 8), fix_header_crc(c)));
  expect_load_error(c, len, CALIB_E_FORMAT, "model payload", "truncated: fewer bytes than the header's", len,
                    __LINE__);
  EDIT(c[len] = 0);
  expect_load_error(c, len + 1, CALIB_E_FORMAT, "model payload", "trailing bytes after the payload", len, __LINE__);
  EDIT(c[len - 1] ^= 0x40);
  expect_load_error(c, len, CALIB_E_FORMAT, "model payload", "payload CRC-32 does not match", 24, __LINE__);
  uint8_t *d = th_craft_model(CALIB_METHOD_TEMPERATURE, 0, &s, 1, &l2);
  expect_load_error(d, l2, CALIB_E_FORMAT, "model payload", "k (number of classes) is 0", 32, __LINE__);
  free(d);
  d = th_craft_model(CALIB_METHOD_TEMPERATURE, (uint64_t)CALIB_MODEL_MAX_K + 1, &s, 1, &l2);
  expect_load_error(d, l2, CALIB_E_FORMAT, "model payload", "k exceeds the format maximum", 32, __LINE__);
  free(d);
  th_section dup[2] = {{CALIB_MP_TEMPERATURE, 1, &T}, {CALIB_MP_TEMPERATURE, 1, &T}};
  d = th_craft_model(CALIB_METHOD_TEMPERATURE, 4, dup, 2, &l2);
  expect_load_error(d, l2, CALIB_E_FORMAT, "model section table", "section tag appears twice", 64, __LINE__);
  free(d);
  th_section sn = {CALIB_MP_TEMPERATURE, 1, &nan};
  d = th_craft_model(CALIB_METHOD_TEMPERATURE, 4, &sn, 1, &l2);
  expect_load_error(d, l2, CALIB_E_FORMAT, "model parameters", "a parameter value is NaN", 64, __LINE__);
  free(d);
  th_section sg = {CALIB_MP_TEMPERATURE, 1, &neg};
  d = th_craft_model(CALIB_METHOD_TEMPERATURE, 4, &sg, 1, &l2);
  expect_load_error(d, l2, CALIB_E_FORMAT, "temperature", "parameters rejected by the method's validation",
                    UINT64_MAX, __LINE__);
  free(d);
#undef EDIT
  free(c);
  free(b);
}

/* ---- Files: bounded reading ------------------------------------------------------- */

/* load_file_ex with every allocation failing: a file refused before it
 * allocates anything is CALIB_E_FORMAT (not NOMEM) with the given check. */
static void expect_file_refused(const char *path, const char *check, int line) {
  calib_model *m = NULL;
  calib_error e;
  calib__alloc_fail_at(1, 1);
  const int st = calib_model_load_file_ex(&m, path, &e);
  calib__alloc_fail_at(0, 0);
  th_checks++;
  if (st != CALIB_E_FORMAT || m != NULL || !strstr(e.message, check))
    TH_FAIL("line %d: %s: status %d, message '%s'", line, path, st, e.message);
}

static int load_fifo(const char *path, const uint8_t *b, size_t len, size_t extra, calib_error *e) {
  fifo_job j = {path, b, len, extra};
  pthread_t t;
  calib_model *m = NULL;
  unlink(path);
  if (mkfifo(path, 0600) != 0 || pthread_create(&t, NULL, fifo_writer, &j) != 0) return -100;
  const int st = calib_model_load_file_ex(&m, path, e);
  pthread_join(t, NULL);
  calib_model_free(m);
  unlink(path);
  return st;
}

static void test_file_bounds(void) {
  char dir[] = "/tmp/calib_bounds_XXXXXX", path[128], cmd[160];
  CHECK(mkdtemp(dir) != NULL);
  const double T = 2.0;
  th_section s = {CALIB_MP_TEMPERATURE, 1, &T};
  size_t len = 0;
  uint8_t *b = th_craft_model(CALIB_METHOD_TEMPERATURE, 3, &s, 1, &len);
  snprintf(path, sizeof path, "%s/over.calib", dir); /* one byte over the largest model */
  if (sparse_file(path, b, 32, (off_t)CALIB_MODEL_MAX_BYTES + 1))
    expect_file_refused(path, "model file: file is larger than the largest model", __LINE__);
  snprintf(path, sizeof path, "%s/zero2g.calib", dir);
  if (sparse_file(path, NULL, 0, (off_t)1 << 31)) expect_file_refused(path, "magic is not", __LINE__);
  uint8_t h[32]; /* a valid header promising 1 GiB that is not there */
  memcpy(h, b, 32);
  th_put_le(h + 16, (uint64_t)1 << 30, 8);
  fix_header_crc(h);
  snprintf(path, sizeof path, "%s/short.calib", dir);
  if (sparse_file(path, h, 32, 4096)) expect_file_refused(path, "model payload: truncated", __LINE__);
  snprintf(path, sizeof path, "%s/long.calib", dir);
  if (sparse_file(path, b, len, (off_t)len + 8)) expect_file_refused(path, "trailing bytes after the payload", __LINE__);
  expect_file_refused("/dev/zero", "magic is not", __LINE__);
  /* Non-regular files: a FIFO carrying a model loads; one that keeps going
   * after the model is refused as soon as one byte too many arrives. */
  signal(SIGPIPE, SIG_IGN);
  calib_error e;
  snprintf(path, sizeof path, "%s/fifo", dir);
  CHECK_OK(load_fifo(path, b, len, 0, &e));
  CHECK_ERR(load_fifo(path, b, len, SIZE_MAX, &e), CALIB_E_FORMAT);
  CHECK(strcmp(e.arg, "file") == 0 && strstr(e.check, "trailing bytes") && e.index == len);
  CHECK_ERR(load_fifo(path, b, 20, 0, &e), CALIB_E_FORMAT);
  CHECK(strstr(e.check, "truncated") != NULL);
  /* Errors of the file itself carry errno and its text. */
  snprintf(path, sizeof path, "%s/missing.calib", dir);
  calib_model *m = NULL;
  CHECK_ERR(calib_model_load_file_ex(&m, path, &e), CALIB_E_IO);
  CHECK(e.sys_errno == ENOENT && strstr(e.message, strerror(ENOENT)) && strstr(e.message, "cannot open"));
  CHECK_ERR(calib_model_load_file_ex(&m, dir, &e), CALIB_E_IO);
  CHECK(e.sys_errno == EISDIR && m == NULL);
  CHECK_OK(calib_model_load_ex(&m, b, len, NULL));
  snprintf(path, sizeof path, "%s/nodir/m.calib", dir);
  CHECK_ERR(calib_model_save_file_ex(m, path, &e), CALIB_E_IO);
  CHECK(e.sys_errno == ENOENT && strstr(e.message, "No such file or directory") && strstr(e.check, "temporary"));
  CHECK_ERR(calib_model_save_file_ex(m, "", &e), CALIB_E_ARG);
  snprintf(path, sizeof path, "%s/ok.calib", dir);
  CHECK_OK(calib_model_save_file_ex(m, path, &e));
  CHECK(e.code == CALIB_OK && e.message[0] == '\0');
  calib_model_free(m);
  free(b);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
}

/* ---- Files: modes without touching the umask ------------------------------------------ */

typedef struct { const calib_model *m; char path[128]; int rounds, failures; } saver_job;
static volatile int modes_done = 0;

static void *saver(void *arg) {
  saver_job *j = (saver_job *)arg;
  for (int i = 0; i < j->rounds; i++) j->failures += calib_model_save_file(j->m, j->path) != CALIB_OK;
  return NULL;
}

/* Creates files with creat(0666) while the savers run: under umask 022 each
 * must be 0644; a library that set the umask to 0 for a moment shows 0666. */
static void *creator(void *arg) {
  const char *dir = (const char *)arg;
  char p[160];
  long bad = 0, made = 0;
  while (!modes_done || made < 1000) {
    snprintf(p, sizeof p, "%s/probe", dir);
    const int fd = creat(p, 0666);
    struct stat sb;
    if (fd >= 0 && fstat(fd, &sb) == 0 && (sb.st_mode & 0777) != 0644) bad++;
    if (fd >= 0) close(fd);
    unlink(p);
    made++;
  }
  return (void *)(intptr_t)bad;
}

static void test_file_modes(void) {
  char dir[] = "/tmp/calib_modes_XXXXXX", cmd[160];
  CHECK(mkdtemp(dir) != NULL);
  calib_model *m = fit_model(200, 3);
  const mode_t old = umask(022);
  saver_job jobs[4];
  pthread_t t[4], c;
  modes_done = 0;
  CHECK(pthread_create(&c, NULL, creator, dir) == 0);
  for (int i = 0; i < 4; i++) {
    jobs[i].m = m;
    jobs[i].rounds = 300;
    jobs[i].failures = 0;
    snprintf(jobs[i].path, sizeof jobs[i].path, "%s/m%d.calib", dir, i);
    CHECK(pthread_create(&t[i], NULL, saver, &jobs[i]) == 0);
  }
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  modes_done = 1;
  void *bad = NULL;
  pthread_join(c, &bad);
  CHECK((intptr_t)bad == 0);
  struct stat sb;
  for (int i = 0; i < 4; i++) {
    CHECK(jobs[i].failures == 0);
    CHECK(stat(jobs[i].path, &sb) == 0 && (sb.st_mode & 0777) == 0644);
  }
  /* An existing file keeps its mode; a new one follows the umask of the moment. */
  CHECK(chmod(jobs[0].path, 0600) == 0);
  CHECK_OK(calib_model_save_file(m, jobs[0].path));
  CHECK(stat(jobs[0].path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
  umask(077);
  CHECK(unlink(jobs[1].path) == 0);
  CHECK_OK(calib_model_save_file(m, jobs[1].path));
  CHECK(stat(jobs[1].path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
  CHECK(umask(old) == 077); /* the library never changed it */
  calib_model_free(m);
  CHECK(temp_files_in(dir) == 0); /* no temporary file left */
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
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
  test_load_messages();
  test_file_bounds();
  test_file_modes();
  TEST_MAIN_END();
}
