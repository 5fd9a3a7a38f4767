/*
 * test_npy.c -- the .npy reader/writer and the raw-file loaders (src/io/).
 *
 * Round trips of every dtype and shape (memory and file), headers as numpy
 * and older numpy versions write them, each malformed input rejected with
 * its code and reason, every truncation of a valid file rejected, a byte-flip
 * sweep over the header (accepted or rejected, never inconsistent), the
 * typed loaders (.npy and raw .f32/.i32), the atomic writer's failure path,
 * and the bounded reader: /dev/zero, FIFOs and oversized sparse files refused
 * from their sizes or at the limit, never read whole.
 * Parsed buffers are exactly sized heap copies, so a sanitizer build catches
 * any read past the end.
 */
#define TH_WANT_FIFO
#include "harness.h"
#include "npy.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAXB CALIB__IO_MAX_BYTES_DEFAULT

static char tmpdir[64];

static void path_in_tmp(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* A .npy buffer: preamble of `version` (1, 2 or 3), the header text as given
 * (length field = strlen(header) unless hlen_override >= 0), then dlen bytes
 * of data (pattern). Exactly sized heap copy; *len = its size. */
static uint8_t *make_npy(int version, const char *header, long hlen_override, size_t dlen, size_t *len) {
  const size_t pre = version == 1 ? 10 : 12, hl = strlen(header);
  *len = pre + hl + dlen;
  uint8_t *b = (uint8_t *)malloc(*len ? *len : 1);
  memcpy(b, "\x93NUMPY", 6);
  b[6] = (uint8_t)version;
  b[7] = 0;
  const size_t field = hlen_override >= 0 ? (size_t)hlen_override : hl;
  b[8] = (uint8_t)field;
  b[9] = (uint8_t)(field >> 8);
  if (version != 1) {
    b[10] = (uint8_t)(field >> 16);
    b[11] = (uint8_t)(field >> 24);
  }
  memcpy(b + pre, header, hl);
  for (size_t i = 0; i < dlen; i++) b[pre + hl + i] = (uint8_t)(i * 7 + 1);
  return b;
}

static int parse_copy(const uint8_t *b, size_t len, calib__npy *a, char *err) {
  uint8_t *c = (uint8_t *)malloc(len ? len : 1);
  memcpy(c, b, len);
  err[0] = '\0';
  const int st = calib__npy_parse(c, len, a, err, CALIB__NPY_ERRLEN);
  free(c); /* a->data dangles now: callers only look at the status */
  return st;
}

/* Expects parse to fail with `code` and a message containing `what`. */
static void expect_reject(const uint8_t *b, size_t len, int code, const char *what, int line) {
  calib__npy a;
  char err[CALIB__NPY_ERRLEN];
  memset(&a, 0xA5, sizeof a);
  calib__npy sentinel;
  memset(&sentinel, 0xA5, sizeof sentinel);
  const int st = parse_copy(b, len, &a, err);
  th_checks++;
  if (st != code || !strstr(err, what) || memcmp(&a, &sentinel, sizeof a) != 0)
    TH_FAIL("line %d: got %d '%s', expected %d containing '%s' (out untouched: %d)", line, st, err, code, what,
            memcmp(&a, &sentinel, sizeof a) == 0);
}
#define REJECT_HDR(ver, hdr, dlen, code, what) do { size_t l_; uint8_t *b_ = make_npy(ver, hdr, -1, dlen, &l_); \
    expect_reject(b_, l_, code, what, __LINE__); free(b_); } while (0)

/* ---- round trips ------------------------------------------------------------ */

static void fill(calib__npy_dtype t, void *data, size_t count) {
  for (size_t i = 0; i < count; i++) {
    const double v = (double)i * 1.25 - 3.0;
    if (t == CALIB__NPY_F32) ((float *)data)[i] = (float)v;
    if (t == CALIB__NPY_F64) ((double *)data)[i] = v / 3.0;
    if (t == CALIB__NPY_I32) ((int32_t *)data)[i] = (int32_t)(i * 1000003u) - 7;
    if (t == CALIB__NPY_I64) ((int64_t *)data)[i] = (int64_t)i * 3000000019LL - 5;
  }
}

static void check_values(calib__npy_dtype t, const calib__npy *a, const void *want) {
  const size_t n = a->count;
  float *f = (float *)malloc(n * sizeof *f + 1);
  double *d = (double *)malloc(n * sizeof *d + 1);
  int64_t *q = (int64_t *)malloc(n * sizeof *q + 1);
  char err[CALIB__NPY_ERRLEN];
  if (t == CALIB__NPY_F32 || t == CALIB__NPY_F64) {
    CHECK_OK(calib__npy_to_f32(a, f, err, sizeof err));
    CHECK_OK(calib__npy_to_f64(a, d, err, sizeof err));
    CHECK_ERR(calib__npy_to_i64(a, q, err, sizeof err), CALIB_E_UNSUPPORTED);
    for (size_t i = 0; i < n; i++) {
      const double w = t == CALIB__NPY_F32 ? (double)((const float *)want)[i] : ((const double *)want)[i];
      CHECK(d[i] == w);
      CHECK(f[i] == (float)w); /* float64 -> float32: rounded once */
    }
  } else {
    CHECK_OK(calib__npy_to_i64(a, q, err, sizeof err));
    CHECK_ERR(calib__npy_to_f32(a, f, err, sizeof err), CALIB_E_UNSUPPORTED);
    CHECK(strstr(err, "expected float32 or float64") != NULL);
    for (size_t i = 0; i < n; i++)
      CHECK(q[i] == (t == CALIB__NPY_I32 ? (int64_t)((const int32_t *)want)[i] : ((const int64_t *)want)[i]));
  }
  free(f);
  free(d);
  free(q);
}

/* Header + data in memory, parsed back. */
static void roundtrip_memory(calib__npy_dtype t, const size_t *shape, size_t ndim) {
  size_t count = 1, hl = 0;
  for (size_t i = 0; i < ndim; i++) count *= shape[i];
  const size_t isz = calib__npy_itemsize(t);
  CHECK_OK(calib__npy_header(NULL, 0, t, shape, ndim, &hl));
  CHECK(hl % 64 == 0);
  uint8_t *b = (uint8_t *)malloc(hl + count * isz);
  CHECK_ERR(calib__npy_header(b, hl - 1, t, shape, ndim, &hl), CALIB_E_SMALLBUF);
  CHECK_OK(calib__npy_header(b, hl, t, shape, ndim, &hl));
  CHECK(b[hl - 1] == '\n');
  fill(t, b + hl, count); /* little-endian host assumed for the fill */
  calib__npy a;
  char err[CALIB__NPY_ERRLEN];
  CHECK_OK(calib__npy_parse(b, hl + count * isz, &a, err, sizeof err));
  CHECK(a.dtype == t && a.ndim == ndim && a.count == count && a.data == b + hl);
  for (size_t i = 0; i < ndim; i++) CHECK(a.shape[i] == shape[i]);
  check_values(t, &a, b + hl);
  free(b);
}

/* calib__npy_save to a file, read back. */
static void roundtrip_file(calib__npy_dtype t, const size_t *shape, size_t ndim) {
  size_t count = 1;
  for (size_t i = 0; i < ndim; i++) count *= shape[i];
  const size_t isz = calib__npy_itemsize(t);
  void *data = malloc(count * isz + 1);
  fill(t, data, count);
  char path[128], err[CALIB__NPY_ERRLEN];
  path_in_tmp(path, sizeof path, "rt.npy");
  CHECK_OK(calib__npy_save(path, t, shape, ndim, data, err, sizeof err));
  uint8_t *b = NULL;
  size_t len = 0;
  CHECK_OK(calib__io_read_file(path, MAXB, &b, &len, err, sizeof err));
  calib__npy a;
  CHECK_OK(calib__npy_parse(b, len, &a, err, sizeof err));
  CHECK(a.dtype == t && a.ndim == ndim && a.count == count);
  if (a.count == count) check_values(t, &a, data);
  free(b);
  free(data);
  unlink(path);
}

static void test_roundtrips(void) {
  static const size_t shapes[][3] = {{0}, {0}, {5}, {3, 4}, {7, 1}, {0, 3}, {2, 3, 4}, {1000, 10}};
  static const size_t ndims[] = {0, 1, 1, 2, 2, 2, 3, 2};
  const calib__npy_dtype types[] = {CALIB__NPY_F32, CALIB__NPY_F64, CALIB__NPY_I32, CALIB__NPY_I64};
  for (size_t t = 0; t < 4; t++)
    for (size_t s = 0; s < sizeof ndims / sizeof ndims[0]; s++) {
      roundtrip_memory(types[t], shapes[s], ndims[s]);
      roundtrip_file(types[t], shapes[s], ndims[s]);
    }
  /* the header text itself, byte for byte as numpy writes it */
  const size_t shape[2] = {3, 4};
  uint8_t b[128];
  size_t hl = 0;
  CHECK_OK(calib__npy_header(b, sizeof b, CALIB__NPY_F32, shape, 2, &hl));
  CHECK(hl == 128 && memcmp(b, "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }  ", 71) == 0);
  CHECK(b[127] == '\n' && b[126] == ' ');
  const size_t one[1] = {5};
  CHECK_OK(calib__npy_header(b, sizeof b, CALIB__NPY_I64, one, 1, &hl));
  CHECK(memcmp(b + 10, "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }", 57) == 0);
  CHECK_ERR(calib__npy_header(b, sizeof b, (calib__npy_dtype)9, one, 1, &hl), CALIB_E_ARG);
  /* typed logits (calib.h "Typed inputs"): '<f2', '|i1', '|u1' parse as themselves, written as numpy
   * writes them, and are never converted by the to_* functions (the CLI passes them to the library) */
  const struct { calib__npy_dtype t; const char *d, *name; size_t isz; } typed[] = {
      {CALIB__NPY_F16, "<f2", "float16", 2}, {CALIB__NPY_I8, "|i1", "int8", 1}, {CALIB__NPY_U8, "|u1", "uint8", 1}};
  for (size_t i = 0; i < 3; i++) {
    char h[128], want[80], err[CALIB__NPY_ERRLEN];
    snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }", typed[i].d);
    size_t len = 0;
    uint8_t *nb = make_npy(1, h, -1, 6 * typed[i].isz, &len);
    calib__npy a;
    CHECK_OK(calib__npy_parse(nb, len, &a, err, sizeof err));
    CHECK(a.dtype == typed[i].t && a.count == 6 && calib__npy_itemsize(a.dtype) == typed[i].isz);
    CHECK(strcmp(calib__npy_typename(a.dtype), typed[i].name) == 0);
    float f[6];
    CHECK_ERR(calib__npy_to_f32(&a, f, err, sizeof err), CALIB_E_UNSUPPORTED);
    free(nb);
    CHECK_OK(calib__npy_header(b, sizeof b, typed[i].t, one, 1, &hl));
    snprintf(want, sizeof want, "{'descr': '%s', 'fortran_order': False, 'shape': (5,), }", typed[i].d);
    CHECK(memcmp(b + 10, want, strlen(want)) == 0);
  }
  REJECT_HDR(1, "{'descr': '>f2', 'fortran_order': False, 'shape': (6,), }", 12, CALIB_E_UNSUPPORTED, "big-endian");
  CHECK_ERR(calib__npy_header(b, sizeof b, CALIB__NPY_F32, one, CALIB__NPY_MAX_DIMS + 1, &hl), CALIB_E_ARG);
}

/* Headers other writers produce: versions 2.0/3.0, double quotes, other key
 * order, no trailing comma, Python 2 "L" suffixes, 16-byte alignment. */
static void test_accepted_variants(void) {
  static const char *const hdrs[] = {
      "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2, 3)}\n",
      "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8', }          \n",
      "{'descr':'<f8','fortran_order':False,'shape':(2,3,)}",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L), } \n",
      "  {\t'descr': '<f8',\n 'fortran_order': False, 'shape': ( 2 , 3 ) }\r\n",
  };
  for (int v = 1; v <= 3; v++)
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
      size_t len;
      uint8_t *b = make_npy(v, hdrs[i], -1, 48, &len);
      calib__npy a;
      char err[CALIB__NPY_ERRLEN];
      const int st = parse_copy(b, len, &a, err);
      th_checks++;
      if (st != CALIB_OK) TH_FAIL("version %d header %zu rejected: %s", v, i, err);
      CHECK(a.dtype == CALIB__NPY_F64 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 && a.count == 6);
      free(b);
    }
  /* 0-d array (shape ()) holds one element */
  size_t len;
  uint8_t *b = make_npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (), }\n", -1, 4, &len);
  calib__npy a;
  char err[CALIB__NPY_ERRLEN];
  CHECK_OK(parse_copy(b, len, &a, err));
  CHECK(a.ndim == 0 && a.count == 1);
  free(b);
}

/* ---- malformed input --------------------------------------------------------- */

#define GOOD "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"

static void test_preamble_errors(void) {
  size_t len;
  uint8_t *b = make_npy(1, GOOD, -1, 24, &len);
  expect_reject(b, 0, CALIB_E_FORMAT, "empty", __LINE__);
  expect_reject(b, 3, CALIB_E_FORMAT, "truncated", __LINE__); /* "\x93NU" */
  expect_reject(b, 7, CALIB_E_FORMAT, "truncated", __LINE__);
  expect_reject(b, 9, CALIB_E_FORMAT, "truncated", __LINE__);
  expect_reject(b, 40, CALIB_E_FORMAT, "truncated .npy header", __LINE__); /* header cut */
  expect_reject(b, len - 1, CALIB_E_FORMAT, "truncated data", __LINE__);
  b[1] = 'X';
  expect_reject(b, len, CALIB_E_FORMAT, "bad magic", __LINE__);
  b[1] = 'N';
  b[0] = 0x94;
  expect_reject(b, len, CALIB_E_FORMAT, "bad magic", __LINE__);
  expect_reject(b, 2, CALIB_E_FORMAT, "bad magic", __LINE__);
  b[0] = 0x93;
  b[6] = 4;
  expect_reject(b, len, CALIB_E_UNSUPPORTED, "version 4.0", __LINE__);
  b[6] = 1;
  b[7] = 1;
  expect_reject(b, len, CALIB_E_UNSUPPORTED, "version 1.1", __LINE__);
  b[7] = 0;
  b[6] = 0;
  expect_reject(b, len, CALIB_E_UNSUPPORTED, "version 0.0", __LINE__);
  free(b);
  static const uint8_t text[] = "PK\x03\x04 this is a zip, not an npy";
  expect_reject(text, sizeof text - 1, CALIB_E_FORMAT, "bad magic", __LINE__);
  /* header length field wrong: too long (past the end), too short (cuts the dict) */
  b = make_npy(1, GOOD, 60000, 24, &len);
  expect_reject(b, len, CALIB_E_FORMAT, "truncated .npy header", __LINE__);
  free(b);
  b = make_npy(2, GOOD, 0xFFFFFFFFL, 24, &len); /* refused from the field: never read that far */
  expect_reject(b, len, CALIB_E_FORMAT, "header length 4294967295 is over the 65536-byte limit", __LINE__);
  free(b);
  b = make_npy(2, GOOD, CALIB__NPY_MAX_HEADER + 1, 24, &len);
  expect_reject(b, len, CALIB_E_FORMAT, "over the 65536-byte limit", __LINE__);
  free(b);
  b = make_npy(2, GOOD, CALIB__NPY_MAX_HEADER, 24, &len); /* at the limit: read, then truncated */
  expect_reject(b, len, CALIB_E_FORMAT, "truncated .npy header", __LINE__);
  free(b);
  b = make_npy(1, GOOD, 30, 24, &len);
  expect_reject(b, len, CALIB_E_FORMAT, "bad .npy header", __LINE__);
  free(b);
  b = make_npy(1, GOOD, 0, 24, &len);
  expect_reject(b, len, CALIB_E_FORMAT, "not a dict", __LINE__);
  free(b);
}

static void test_header_errors(void) {
  /* data size must match exactly */
  REJECT_HDR(1, GOOD, 20, CALIB_E_FORMAT, "truncated data (shape needs 24 data bytes, file has 20)");
  REJECT_HDR(1, GOOD, 28, CALIB_E_FORMAT, "trailing bytes");
  REJECT_HDR(1, GOOD, 0, CALIB_E_FORMAT, "truncated data");
  /* order, endianness, dtypes */
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, CALIB_E_UNSUPPORTED, "Fortran");
  REJECT_HDR(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24, CALIB_E_UNSUPPORTED, "big-endian");
  REJECT_HDR(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", 24, CALIB_E_UNSUPPORTED, "big-endian");
  REJECT_HDR(1, "{'descr': '>i4', 'fortran_order': False, 'shape': (6,), }", 24, CALIB_E_UNSUPPORTED, "big-endian");
  REJECT_HDR(1, "{'descr': '>i8', 'fortran_order': False, 'shape': (3,), }", 24, CALIB_E_UNSUPPORTED, "big-endian");
  static const char *const bad_types[] = {"|b1", "<f4x", "<c8", "<u2", "<u4", "|O", "<U8", "=f4", "f4", "<f4 ", ""};
  for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
    char h[128];
    snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (6,), }", bad_types[i]);
    REJECT_HDR(1, h, 24, CALIB_E_UNSUPPORTED, "unsupported dtype");
  }
  REJECT_HDR(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", 24, CALIB_E_FORMAT,
             "quoted string");
  /* dict structure */
  REJECT_HDR(1, "{'descr': '<f4', 'shape': (2, 3), }", 24, CALIB_E_FORMAT, "missing key 'fortran_order'");
  REJECT_HDR(1, "{'fortran_order': False, 'shape': (2, 3), }", 24, CALIB_E_FORMAT, "missing key 'descr'");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, }", 24, CALIB_E_FORMAT, "missing key 'shape'");
  REJECT_HDR(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", 24, CALIB_E_FORMAT,
             "twice");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", 24, CALIB_E_FORMAT,
             "unexpected key 'x'");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,) 'x'}", 24, CALIB_E_FORMAT, "expected ','");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (6,)}", 24, CALIB_E_FORMAT, "True or False");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (6,)}", 24, CALIB_E_FORMAT, "expected ','");
  REJECT_HDR(1, "{'descr' '<f4', 'fortran_order': False, 'shape': (6,)}", 24, CALIB_E_FORMAT, "expected ':'");
  REJECT_HDR(1, "{'descr': '<f4, 'fortran_order': False, 'shape': (6,)}", 24, CALIB_E_UNSUPPORTED, "dtype");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)", 24, CALIB_E_FORMAT, "expected ','");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} x", 24, CALIB_E_FORMAT, "after the dict");
  REJECT_HDR(1, "{'descr': 'a\\'b', 'fortran_order': False, 'shape': (6,)}", 24, CALIB_E_FORMAT, "character");
  REJECT_HDR(1, "['descr', '<f4']", 24, CALIB_E_FORMAT, "not a dict");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}", 24,
             CALIB_E_FORMAT, "tuple");
  /* shape */
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", 24, CALIB_E_FORMAT, "tuple");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': 6}", 24, CALIB_E_FORMAT, "tuple");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [6]}", 24, CALIB_E_FORMAT, "tuple");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}", 24, CALIB_E_FORMAT, "integer");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6.0,)}", 24, CALIB_E_FORMAT, "expected ','");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (,)}", 24, CALIB_E_FORMAT, "integer");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,,3)}", 24, CALIB_E_FORMAT, "integer");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", 24, CALIB_E_FORMAT, "expected ','");
  /* overflow: one dimension beyond size_t, and products beyond size_t */
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}", 24, CALIB_E_FORMAT,
             "too large");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551615,)}", 24, CALIB_E_FORMAT,
             "too large");
  REJECT_HDR(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4)}", 24, CALIB_E_FORMAT,
             "overflow");
  REJECT_HDR(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", 24, CALIB_E_FORMAT,
             "overflow");
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,)}", 24, CALIB_E_FORMAT,
             "overflow");
  /* a huge shape that does not overflow still needs its data */
  REJECT_HDR(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000),}", 24, CALIB_E_FORMAT,
             "truncated data");
  char many[512] = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (int i = 0; i < 33; i++) strcat(many, "1,");
  strcat(many, ")}");
  REJECT_HDR(1, many, 4, CALIB_E_FORMAT, "more than 32 dimensions");
}

/* Every prefix of a valid file is rejected; no read past the prefix. */
static void test_truncations(void) {
  size_t len;
  uint8_t *b = make_npy(1, GOOD, -1, 24, &len);
  for (size_t l = 0; l < len; l++) {
    calib__npy a;
    char err[CALIB__NPY_ERRLEN];
    const int st = parse_copy(b, l, &a, err);
    th_checks++;
    if (st != CALIB_E_FORMAT) TH_FAIL("prefix of %zu bytes: status %d (%s)", l, st, err);
  }
  free(b);
}

/* Every byte of the preamble and header set to every value: either rejected
 * or accepted with count * itemsize == the data that follows. */
static void test_byte_flips(void) {
  size_t len;
  uint8_t *b = make_npy(1, GOOD, -1, 24, &len);
  const size_t hend = 10 + strlen(GOOD);
  long accepted = 0;
  for (size_t pos = 0; pos < hend; pos++) {
    const uint8_t orig = b[pos];
    for (int v = 0; v < 256; v++) {
      b[pos] = (uint8_t)v;
      uint8_t *c = (uint8_t *)malloc(len);
      memcpy(c, b, len);
      calib__npy a;
      char err[CALIB__NPY_ERRLEN];
      const int st = calib__npy_parse(c, len, &a, err, sizeof err);
      if (st == CALIB_OK) {
        accepted++;
        th_checks++;
        if (a.data < c || a.count * calib__npy_itemsize(a.dtype) != (size_t)(c + len - a.data))
          TH_FAIL("byte %zu = %d accepted with an inconsistent size", pos, v);
      } else {
        th_checks++;
        if (st != CALIB_E_FORMAT && st != CALIB_E_UNSUPPORTED) TH_FAIL("byte %zu = %d: status %d", pos, v, st);
        if (err[0] == '\0') TH_FAIL("byte %zu = %d: no reason given", pos, v);
      }
      free(c);
    }
    b[pos] = orig;
  }
  printf("byte-flip sweep: %ld of %zu variants accepted\n", accepted, hend * 256);
  free(b);
}

/* Random valid files with 1..4 random bytes changed (mostly in the header)
 * and a random length: never a crash or an out-of-bounds read (run under
 * ASan by `make check`), and an accepted buffer is always self-consistent. */
static void test_random_mutations(void) {
  long accepted = 0;
  for (int it = 0; it < 20000; it++) {
    const calib__npy_dtype t = (calib__npy_dtype)(1 + th_next() % 4);
    size_t shape[3] = {th_next() % 6, th_next() % 4, 1 + th_next() % 3}, hl = 0, count = 1;
    const size_t ndim = th_next() % 4;
    for (size_t i = 0; i < ndim; i++) count *= shape[i];
    CHECK_OK(calib__npy_header(NULL, 0, t, shape, ndim, &hl));
    size_t len = hl + count * calib__npy_itemsize(t);
    uint8_t *b = (uint8_t *)calloc(len + 16, 1);
    CHECK_OK(calib__npy_header(b, len, t, shape, ndim, &hl));
    const int flips = 1 + (int)(th_next() % 4);
    for (int f = 0; f < flips; f++) b[th_next() % (th_next() % 4 ? hl : len + 16)] = (uint8_t)th_next();
    if (th_next() % 3 == 0) len = (size_t)(th_next() % (len + 17));
    calib__npy a;
    char err[CALIB__NPY_ERRLEN];
    const int st = parse_copy(b, len, &a, err);
    th_checks++;
    if (st == CALIB_OK) {
      accepted++;
      if (a.count * calib__npy_itemsize(a.dtype) > len) TH_FAIL("iteration %d: accepted data past the end", it);
    } else if ((st != CALIB_E_FORMAT && st != CALIB_E_UNSUPPORTED) || !err[0]) {
      TH_FAIL("iteration %d: status %d, message '%s'", it, st, err);
    }
    free(b);
  }
  printf("random mutations: %ld of 20000 accepted\n", accepted);
}

/* ---- loaders -------------------------------------------------------------------- */

static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  fwrite(p, 1, n, f);
  fclose(f);
}

static void test_raw_loaders(void) {
  char path[128], err[CALIB__NPY_ERRLEN];
  float z[12];
  for (int i = 0; i < 12; i++) z[i] = (float)i - 5.5f;
  path_in_tmp(path, sizeof path, "x.f32");
  write_bytes(path, z, sizeof z);
  float *x = NULL;
  size_t n = 0, k = 0;
  CHECK_OK(calib__io_load_logits(path, 3, MAXB, &x, &n, &k, err, sizeof err));
  CHECK(n == 4 && k == 3 && x && x[0] == -5.5f && x[11] == 5.5f);
  free(x);
  x = NULL;
  CHECK_ERR(calib__io_load_logits(path, 5, MAXB, &x, &n, &k, err, sizeof err), CALIB_E_FORMAT);
  CHECK(strstr(err, "not a multiple of 4*k = 20") && x == NULL);
  CHECK_ERR(calib__io_load_logits(path, 0, MAXB, &x, &n, &k, err, sizeof err), CALIB_E_ARG);
  CHECK(strstr(err, "--k") != NULL);
  int32_t lab[5] = {0, 2, 1, -1, 7};
  path_in_tmp(path, sizeof path, "y.i32");
  write_bytes(path, lab, sizeof lab);
  int64_t *y = NULL;
  CHECK_OK(calib__io_load_labels(path, MAXB, &y, &n, err, sizeof err));
  CHECK(n == 5 && y && y[3] == -1 && y[4] == 7);
  free(y);
  y = NULL;
  write_bytes(path, lab, 7);
  CHECK_ERR(calib__io_load_labels(path, MAXB, &y, &n, err, sizeof err), CALIB_E_FORMAT);
  CHECK(y == NULL && strstr(err, "multiple of 4"));
  path_in_tmp(path, sizeof path, "missing.i32");
  CHECK_ERR(calib__io_load_labels(path, MAXB, &y, &n, err, sizeof err), CALIB_E_IO);
  CHECK(strstr(err, "cannot open") != NULL);
  uint8_t *raw = NULL;
  CHECK_ERR(calib__io_read_file(tmpdir, MAXB, &raw, &n, err, sizeof err), CALIB_E_IO);
  CHECK(raw == NULL && strstr(err, "directory"));
}

static void test_npy_loaders(void) {
  char path[128], err[CALIB__NPY_ERRLEN];
  double v[6] = {1.5, -2.25, 1e300, 4, 5, 6};
  size_t shape[3] = {3, 2, 1}, n = 0, k = 0;
  path_in_tmp(path, sizeof path, "a.npy");
  /* float64 (3, 2) logits: rounded to float32 once (1e300 -> inf) */
  CHECK_OK(calib__npy_save(path, CALIB__NPY_F64, shape, 2, v, err, sizeof err));
  float *x = NULL;
  CHECK_OK(calib__io_load_logits(path, 0, MAXB, &x, &n, &k, err, sizeof err));
  CHECK(n == 3 && k == 2 && x[1] == -2.25f && isinf(x[2]) && x[5] == 6.0f);
  free(x);
  /* (6,) -> k = 1 */
  shape[0] = 6;
  CHECK_OK(calib__npy_save(path, CALIB__NPY_F64, shape, 1, v, err, sizeof err));
  CHECK_OK(calib__io_load_logits(path, 0, MAXB, &x, &n, &k, err, sizeof err));
  CHECK(n == 6 && k == 1);
  free(x);
  x = NULL;
  /* 3-D logits, integer logits: rejected */
  shape[0] = 3;
  shape[1] = 2;
  CHECK_OK(calib__npy_save(path, CALIB__NPY_F64, shape, 3, v, err, sizeof err));
  CHECK_ERR(calib__io_load_logits(path, 0, MAXB, &x, &n, &k, err, sizeof err), CALIB_E_FORMAT);
  CHECK(x == NULL && strstr(err, "3-D"));
  int64_t lab[6] = {0, 1, 1, 0, 1, 0};
  CHECK_OK(calib__npy_save(path, CALIB__NPY_I64, shape, 2, lab, err, sizeof err));
  CHECK_ERR(calib__io_load_logits(path, 0, MAXB, &x, &n, &k, err, sizeof err), CALIB_E_UNSUPPORTED);
  CHECK(strstr(err, "int64") != NULL);
  /* labels: (n,), (n, 1) ok; (3, 2) and float labels rejected */
  int64_t *y = NULL;
  CHECK_ERR(calib__io_load_labels(path, MAXB, &y, &n, err, sizeof err), CALIB_E_FORMAT);
  CHECK(y == NULL && strstr(err, "more than one column"));
  shape[0] = 6;
  shape[1] = 1;
  CHECK_OK(calib__npy_save(path, CALIB__NPY_I64, shape, 2, lab, err, sizeof err));
  CHECK_OK(calib__io_load_labels(path, MAXB, &y, &n, err, sizeof err));
  CHECK(n == 6 && y[2] == 1);
  free(y);
  y = NULL;
  CHECK_OK(calib__npy_save(path, CALIB__NPY_F64, shape, 1, v, err, sizeof err));
  CHECK_ERR(calib__io_load_labels(path, MAXB, &y, &n, err, sizeof err), CALIB_E_UNSUPPORTED);
  CHECK(y == NULL);
  /* weights: float32 widened */
  float wf[6] = {0.5f, 1, 2, 0, 1, 3};
  CHECK_OK(calib__npy_save(path, CALIB__NPY_F32, shape, 1, wf, err, sizeof err));
  double *w = NULL;
  CHECK_OK(calib__io_load_weights(path, MAXB, &w, &n, err, sizeof err));
  CHECK(n == 6 && w[0] == 0.5 && w[5] == 3.0);
  free(w);
  /* a raw file under a non-raw name: bad magic, with a hint */
  path_in_tmp(path, sizeof path, "x.bin");
  write_bytes(path, v, sizeof v);
  CHECK_ERR(calib__io_load_logits(path, 2, MAXB, &x, &n, &k, err, sizeof err), CALIB_E_FORMAT);
  CHECK(strstr(err, "bad magic") && strstr(err, "*.f32"));
  path_in_tmp(path, sizeof path, "x.npy");
  write_bytes(path, v, sizeof v);
  CHECK_ERR(calib__io_load_labels(path, MAXB, &y, &n, err, sizeof err), CALIB_E_FORMAT);
  CHECK(strcmp(err, "not a .npy file (bad magic)") == 0);
}

/* Count of directory entries whose name starts with prefix. */
static int count_entries(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  int c = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) c++;
  if (d) closedir(d);
  return c;
}

static void test_atomic_failure(void) {
  char path[128], err[CALIB__NPY_ERRLEN];
  const float v[2] = {1, 2};
  const size_t shape[1] = {2};
  /* target is a directory: rename fails, the directory stays, no temp left */
  path_in_tmp(path, sizeof path, "adir");
  CHECK(mkdir(path, 0700) == 0);
  CHECK_ERR(calib__npy_save(path, CALIB__NPY_F32, shape, 1, v, err, sizeof err), CALIB_E_IO);
  struct stat sb;
  CHECK(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
  CHECK(count_entries(tmpdir, "adir.tmp") == 0);
  rmdir(path);
  /* directory missing: nothing created */
  path_in_tmp(path, sizeof path, "nodir/out.npy");
  CHECK_ERR(calib__npy_save(path, CALIB__NPY_F32, shape, 1, v, err, sizeof err), CALIB_E_IO);
  CHECK(strstr(err, "temporary") != NULL);
  CHECK_ERR(calib__npy_save(NULL, CALIB__NPY_F32, shape, 1, v, err, sizeof err), CALIB_E_ARG);
  /* success replaces an existing file, leaves no temp */
  path_in_tmp(path, sizeof path, "over.npy");
  write_bytes(path, "old", 3);
  CHECK_OK(calib__npy_save(path, CALIB__NPY_F32, shape, 1, v, err, sizeof err));
  CHECK(stat(path, &sb) == 0 && sb.st_size == 128 + 8);
  CHECK(count_entries(tmpdir, "over.npy.tmp") == 0);
  unlink(path);
}

/* ---- Bounded reading: sizes checked before allocating, streams stopped ----------- */

/* Logits from a FIFO carrying b then extra zero bytes; status, message in err. */
static int logits_from_fifo(const char *name, const uint8_t *b, size_t len, size_t extra, size_t max,
                            size_t *n, char *err) {
  char path[128];
  path_in_tmp(path, sizeof path, name);
  fifo_job j = {path, b, len, extra};
  pthread_t t;
  float *x = NULL;
  size_t k = 0;
  unlink(path);
  if (mkfifo(path, 0600) != 0 || pthread_create(&t, NULL, fifo_writer, &j) != 0) return -100;
  const int st = calib__io_load_logits(path, 2, max, &x, n, &k, err, CALIB__NPY_ERRLEN);
  pthread_join(t, NULL);
  free(x);
  unlink(path);
  return st;
}

static void test_bounded_reads(void) {
  char path[128], err[CALIB__NPY_ERRLEN];
  uint8_t hdr[256], *buf = NULL;
  size_t hl = 0, n = 0, k = 0, len = 0;
  float *x = NULL;
  calib__npy a;
  signal(SIGPIPE, SIG_IGN);
  /* /dev/zero: refused on its magic, and as a raw stream once past the limit. */
  CHECK_ERR(calib__io_read_npy("/dev/zero", MAXB, &buf, &a, err, sizeof err), CALIB_E_FORMAT);
  CHECK(buf == NULL && strstr(err, "bad magic"));
  CHECK_ERR(calib__io_read_file("/dev/zero", 100000, &buf, &len, err, sizeof err), CALIB_E_FORMAT);
  CHECK(buf == NULL && strstr(err, "not a regular file, and more than the input limit of 100000 bytes"));
  /* A header promising 16 GiB over a small file, and a sparse file that has them:
   * refused from the sizes, before the data are allocated. */
  size_t shape[2] = {(size_t)1 << 30, 4};
  CHECK_OK(calib__npy_header(hdr, sizeof hdr, CALIB__NPY_F32, shape, 2, &hl));
  path_in_tmp(path, sizeof path, "huge.npy");
  if (sparse_file(path, hdr, hl, (off_t)hl + 100)) {
    CHECK_ERR(calib__io_load_logits(path, 0, MAXB, &x, &n, &k, err, sizeof err), CALIB_E_FORMAT);
    CHECK(x == NULL && strstr(err, "truncated data (shape needs 17179869184 data bytes, file has 100)"));
  }
  if (sparse_file(path, hdr, hl, (off_t)hl + ((off_t)1 << 34))) {
    CHECK_ERR(calib__io_load_logits(path, 0, MAXB, &x, &n, &k, err, sizeof err), CALIB_E_FORMAT);
    CHECK(x == NULL && strstr(err, "17179869184 bytes of data, over the input limit of 4294967296 bytes"));
  }
  unlink(path);
  path_in_tmp(path, sizeof path, "big.f32"); /* max 0: the default for a regular file, 4 GiB */
  if (sparse_file(path, NULL, 0, ((off_t)1 << 32) + 8)) {
    CHECK_ERR(calib__io_load_logits(path, 2, 0, &x, &n, &k, err, sizeof err), CALIB_E_FORMAT);
    CHECK(x == NULL && strstr(err, "4294967304 bytes of data, over the input limit of 4294967296 bytes"));
  }
  /* raw: the file size against the limit */
  if (sparse_file(path, NULL, 0, 1 << 20)) {
    CHECK_ERR(calib__io_load_logits(path, 2, 1000, &x, &n, &k, err, sizeof err), CALIB_E_FORMAT);
    CHECK(x == NULL && strstr(err, "1048576 bytes of data, over the input limit of 1000 bytes"));
  }
  unlink(path);
  /* FIFOs: a .npy arrives whole; one followed by more bytes is refused at the
   * first extra byte; a raw stream is refused past the limit. */
  float v[6] = {1, 2, 3, 4, 5, 6};
  size_t sh[2] = {3, 2};
  path_in_tmp(path, sizeof path, "v.npy");
  CHECK_OK(calib__npy_save(path, CALIB__NPY_F32, sh, 2, v, err, sizeof err));
  uint8_t *file = (uint8_t *)th_read_file(path, &len);
  CHECK(file != NULL);
  if (!file) return;
  CHECK_OK(logits_from_fifo("p.npy", file, len, 0, MAXB, &n, err));
  CHECK(n == 3);
  CHECK_ERR(logits_from_fifo("p.npy", file, len, SIZE_MAX, MAXB, &n, err), CALIB_E_FORMAT);
  CHECK(strstr(err, "trailing bytes after the data (shape needs 24 data bytes, the file has more)") != NULL);
  CHECK_ERR(logits_from_fifo("p.npy", file, len - 5, 0, MAXB, &n, err), CALIB_E_FORMAT);
  CHECK(strstr(err, "truncated data (shape needs 24 data bytes, file has 19)") != NULL);
  CHECK_ERR(logits_from_fifo("p.npy", file, len, 0, 20, &n, err), CALIB_E_FORMAT);
  CHECK(strstr(err, "24 bytes of data, over the input limit of 20 bytes") != NULL);
  CHECK_ERR(logits_from_fifo("p.f32", NULL, 0, SIZE_MAX, 1 << 20, &n, err), CALIB_E_FORMAT);
  CHECK(strstr(err, "more than the input limit of 1048576 bytes") != NULL);
  CHECK_OK(logits_from_fifo("p.f32", NULL, 0, 4096, 4096, &n, err)); /* exactly the limit */
  CHECK(n == 512);
  free(file);
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  snprintf(tmpdir, sizeof tmpdir, "/tmp/test_npy.XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_roundtrips();
  test_accepted_variants();
  test_preamble_errors();
  test_header_errors();
  test_truncations();
  test_byte_flips();
  test_random_mutations();
  test_raw_loaders();
  test_npy_loaders();
  test_atomic_failure();
  test_bounded_reads();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  TEST_MAIN_END();
}
