/*
 * array.c -- typed loaders for the CLI: logits, labels and weights from a
 * .npy file or a raw headerless little-endian file (../shared/data layout:
 * logits.f32 = float32 n*k, labels.i32 = int32 n).
 *
 * Dispatch: a name ending in ".f32" / ".i32" is raw; every other file must
 * be a .npy file (its magic is checked, whatever its name).
 */
#include "npy.h"
#include "checked.h"

#include <stdlib.h>
#include <string.h>

static int ends_with(const char *s, const char *suffix) {
  const size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Reads path as .npy, header first; *buf (caller frees) holds the data a
 * points into. raw_hint names the raw alternative for the bad-magic message. */
static int load_npy(const char *path, const char *raw_hint, size_t max, uint8_t **buf, calib__npy *a,
                    char *err, size_t errcap) {
  const int st = calib__io_read_npy(path, max, buf, a, err, errcap);
  if (st != CALIB_OK && err && strstr(err, "(bad magic)") && !ends_with(path, ".npy") && raw_hint)
    calib__io_err(st, err, errcap, "not a .npy file (bad magic); %s", raw_hint);
  return st;
}

/* Number of rows of a (n,) or (n, 1) array, or an error. */
static int column_rows(const calib__npy *a, size_t *n, char *err, size_t errcap) {
  if (a->ndim == 1 || (a->ndim == 2 && a->shape[1] == 1)) {
    *n = a->shape[0];
    return CALIB_OK;
  }
  return calib__io_err(CALIB_E_FORMAT, err, errcap, "expected a 1-D array of shape (n,) or (n, 1), got %zu-D%s",
                       a->ndim, a->ndim == 2 ? " with more than one column" : "");
}

/* malloc(count * size), NULL on overflow; never malloc(0). */
static void *alloc_elems(size_t count, size_t size) {
  size_t bytes = 0;
  if (!calib__size_bytes(count, size, &bytes)) return NULL;
  return malloc(bytes ? bytes : 1);
}

/* Raw float32 logits with k columns. */
static int raw_logits(const char *path, size_t k, size_t max, float **out, size_t *n, char *err, size_t errcap) {
  if (k == 0) return calib__io_err(CALIB_E_ARG, err, errcap, "raw float32 logits need --k K (number of columns)");
  size_t row = 0;
  if (!calib__size_mul(k, 4, &row)) return calib__io_err(CALIB_E_ARG, err, errcap, "--k %zu is too large", k);
  uint8_t *b = NULL;
  size_t len = 0;
  int st = calib__io_read_file(path, max, &b, &len, err, errcap);
  if (st != CALIB_OK) return st;
  if (len % row != 0) {
    free(b);
    return calib__io_err(CALIB_E_FORMAT, err, errcap, "size %zu bytes is not a multiple of 4*k = %zu", len, row);
  }
  float *x = (float *)alloc_elems(len / 4, sizeof *x);
  if (!x) {
    free(b);
    return calib__io_err(CALIB_E_NOMEM, err, errcap, "out of memory");
  }
  calib__npy view = {CALIB__NPY_F32, 1, {len / 4}, len / 4, b};
  st = calib__npy_to_f32(&view, x, err, errcap);
  free(b);
  if (st != CALIB_OK) {
    free(x);
    return st;
  }
  *out = x;
  *n = len / 4 / k;
  return CALIB_OK;
}

int calib__io_load_logits(const char *path, size_t raw_k, size_t max, float **out, size_t *n, size_t *k,
                          char *err, size_t errcap) {
  if (!path || !out || !n || !k) return calib__io_err(CALIB_E_ARG, err, errcap, "no file name");
  if (ends_with(path, ".f32")) {
    const int st = raw_logits(path, raw_k, max, out, n, err, errcap);
    if (st == CALIB_OK) *k = raw_k;
    return st;
  }
  uint8_t *b = NULL;
  calib__npy a;
  int st = load_npy(path, "raw float32 logits must be named *.f32", max, &b, &a, err, errcap);
  if (st != CALIB_OK) return st;
  size_t rows = 0, cols = 0;
  if (a.ndim == 1 || a.ndim == 2) {
    rows = a.shape[0];
    cols = a.ndim == 2 ? a.shape[1] : 1;
  } else {
    st = calib__io_err(CALIB_E_FORMAT, err, errcap, "expected logits of shape (n,) or (n, k), got %zu-D", a.ndim);
  }
  if (st == CALIB_OK && cols == 0) st = calib__io_err(CALIB_E_FORMAT, err, errcap, "logits have 0 columns");
  float *x = NULL;
  if (st == CALIB_OK && !(x = (float *)alloc_elems(a.count, sizeof *x)))
    st = calib__io_err(CALIB_E_NOMEM, err, errcap, "out of memory");
  if (st == CALIB_OK) st = calib__npy_to_f32(&a, x, err, errcap);
  free(b);
  if (st != CALIB_OK) {
    free(x);
    return st;
  }
  *out = x;
  *n = rows;
  *k = cols;
  return CALIB_OK;
}

/* Raw int32 labels. */
static int raw_labels(const char *path, size_t max, int64_t **out, size_t *n, char *err, size_t errcap) {
  uint8_t *b = NULL;
  size_t len = 0;
  int st = calib__io_read_file(path, max, &b, &len, err, errcap);
  if (st != CALIB_OK) return st;
  if (len % 4 != 0) {
    free(b);
    return calib__io_err(CALIB_E_FORMAT, err, errcap, "size %zu bytes is not a multiple of 4 (raw int32)", len);
  }
  int64_t *y = (int64_t *)alloc_elems(len / 4, sizeof *y);
  if (!y) {
    free(b);
    return calib__io_err(CALIB_E_NOMEM, err, errcap, "out of memory");
  }
  calib__npy view = {CALIB__NPY_I32, 1, {len / 4}, len / 4, b};
  st = calib__npy_to_i64(&view, y, err, errcap);
  free(b);
  if (st != CALIB_OK) {
    free(y);
    return st;
  }
  *out = y;
  *n = len / 4;
  return CALIB_OK;
}

int calib__io_load_labels(const char *path, size_t max, int64_t **out, size_t *n, char *err, size_t errcap) {
  if (!path || !out || !n) return calib__io_err(CALIB_E_ARG, err, errcap, "no file name");
  if (ends_with(path, ".i32")) return raw_labels(path, max, out, n, err, errcap);
  uint8_t *b = NULL;
  calib__npy a;
  int st = load_npy(path, "raw int32 labels must be named *.i32", max, &b, &a, err, errcap);
  if (st != CALIB_OK) return st;
  size_t rows = 0;
  int64_t *y = NULL;
  st = column_rows(&a, &rows, err, errcap);
  if (st == CALIB_OK && !(y = (int64_t *)alloc_elems(a.count, sizeof *y)))
    st = calib__io_err(CALIB_E_NOMEM, err, errcap, "out of memory");
  if (st == CALIB_OK) st = calib__npy_to_i64(&a, y, err, errcap);
  free(b);
  if (st != CALIB_OK) {
    free(y);
    return st;
  }
  *out = y;
  *n = rows;
  return CALIB_OK;
}

int calib__io_load_weights(const char *path, size_t max, double **out, size_t *n, char *err, size_t errcap) {
  if (!path || !out || !n) return calib__io_err(CALIB_E_ARG, err, errcap, "no file name");
  uint8_t *b = NULL;
  calib__npy a;
  int st = load_npy(path, NULL, max, &b, &a, err, errcap);
  if (st != CALIB_OK) return st;
  size_t rows = 0;
  double *w = NULL;
  st = column_rows(&a, &rows, err, errcap);
  if (st == CALIB_OK && !(w = (double *)alloc_elems(a.count, sizeof *w)))
    st = calib__io_err(CALIB_E_NOMEM, err, errcap, "out of memory");
  if (st == CALIB_OK) st = calib__npy_to_f64(&a, w, err, errcap);
  free(b);
  if (st != CALIB_OK) {
    free(w);
    return st;
  }
  *out = w;
  *n = rows;
  return CALIB_OK;
}
