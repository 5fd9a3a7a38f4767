/* fuzz_npy.c -- libFuzzer target: the .npy parser calib__npy_parse
 * (src/io/npy.h) on arbitrary bytes. On success the view must lie inside the
 * input, count must equal the product of the shape, the conversions must
 * succeed for their dtypes (and be CALIB_E_UNSUPPORTED for the others; the
 * typed dtypes float16/int8/uint8 have none: callers read them in place), and
 * a header rewritten from the parsed dtype and shape must parse back to the
 * same array. On failure the error message must be a non-empty string
 * within its buffer. Violations abort(). */
#include "calib.h"
#include "npy.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok) {
  if (!ok) abort();
}

static void conversions(const calib__npy *a) {
  if (a->count > ((size_t)1 << 20)) return;
  void *out = malloc(a->count * 8 + 8);
  char err[CALIB__NPY_ERRLEN];
  require(out != NULL);
  const int isf = a->dtype == CALIB__NPY_F32 || a->dtype == CALIB__NPY_F64;
  const int isi = a->dtype == CALIB__NPY_I32 || a->dtype == CALIB__NPY_I64;
  const int s1 = calib__npy_to_f32(a, (float *)out, err, sizeof err);
  const int s2 = calib__npy_to_f64(a, (double *)out, err, sizeof err);
  const int s3 = calib__npy_to_i64(a, (int64_t *)out, err, sizeof err);
  require(s1 == (isf ? CALIB_OK : CALIB_E_UNSUPPORTED));
  require(s2 == (isf ? CALIB_OK : CALIB_E_UNSUPPORTED));
  require(s3 == (isi ? CALIB_OK : CALIB_E_UNSUPPORTED));
  free(out);
}

static void reparse(const calib__npy *a) {
  size_t hlen = 0;
  if (calib__npy_header(NULL, 0, a->dtype, a->shape, a->ndim, &hlen) != CALIB_OK) return;
  const size_t dbytes = a->count * calib__npy_itemsize(a->dtype);
  if (dbytes > ((size_t)1 << 24)) return;
  uint8_t *b = (uint8_t *)malloc(hlen + dbytes + 1);
  require(b != NULL);
  require(calib__npy_header(b, hlen, a->dtype, a->shape, a->ndim, &hlen) == CALIB_OK);
  if (dbytes) memcpy(b + hlen, a->data, dbytes);
  calib__npy r;
  char err[CALIB__NPY_ERRLEN];
  require(calib__npy_parse(b, hlen + dbytes, &r, err, sizeof err) == CALIB_OK);
  require(r.dtype == a->dtype && r.ndim == a->ndim && r.count == a->count);
  require(memcmp(r.shape, a->shape, a->ndim * sizeof(size_t)) == 0);
  require(dbytes == 0 || memcmp(r.data, a->data, dbytes) == 0);
  free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A private copy of exactly size bytes: ASan flags any read past it. */
  uint8_t *buf = (uint8_t *)malloc(size ? size : 1);
  require(buf != NULL);
  if (size) memcpy(buf, data, size);
  calib__npy a;
  char err[CALIB__NPY_ERRLEN];
  memset(err, 'x', sizeof err);
  const int st = calib__npy_parse(buf, size, &a, err, sizeof err);
  if (st == CALIB_OK) {
    const size_t item = calib__npy_itemsize(a.dtype);
    require(item == 1 || item == 2 || item == 4 || item == 8);
    require(a.ndim <= CALIB__NPY_MAX_DIMS);
    /* count = prod(shape): 0 when any dimension is 0 (the others may then be
     * huge), else the product must not overflow. */
    size_t prod = 1, zero = 0;
    for (size_t i = 0; i < a.ndim; i++) zero |= a.shape[i] == 0;
    for (size_t i = 0; i < a.ndim && !zero; i++) {
      require(prod <= (size_t)-1 / a.shape[i]);
      prod *= a.shape[i];
    }
    require((zero ? 0 : prod) == a.count && a.count <= size / item);
    require(a.data >= buf && a.data + a.count * item <= buf + size);
    conversions(&a);
    reparse(&a);
  } else {
    require(st == CALIB_E_FORMAT || st == CALIB_E_UNSUPPORTED);
    require(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
  }
  free(buf);
  return 0;
}
