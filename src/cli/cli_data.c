/*
 * cli_data.c -- loading the commands' inputs (logits, labels, weights,
 * models) with the checks that need both files to explain: row counts and
 * label ranges. Each loader prints its one error line itself.
 */
#include "cli.h"
#include "checked.h"
#include "internal.h" /* the format version of a loaded model (calib_model's bytes) */

#include "typed.h" /* the library's descriptor check and scalar conversion */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The input limit of this run (--max-bytes; 0: src/io's defaults, 4 GiB for
 * a regular file, 256 MiB for a pipe or device): one process runs one command. */
static size_t input_limit = 0;

float *calib__cli_alloc_f32(size_t n, size_t k) {
  size_t count = 0, bytes = 0;
  if (!calib__size_mul(n, k, &count) || !calib__size_bytes(count, sizeof(float), &bytes)) return NULL;
  return (float *)malloc(bytes ? bytes : 1);
}

int calib__cli_input_limit(const char *cmd, const char *value) {
  if (!value) return CALIB__CLI_OK;
  return calib__cli_size(cmd, "--max-bytes", value, 1, SIZE_MAX, &input_limit);
}

static int load_logits_f32(const char *path, size_t k_opt, size_t default_k, float **x, size_t *n,
                           size_t *k) {
  char err[CALIB__NPY_ERRLEN];
  float *v = NULL;
  size_t rows = 0, cols = 0;
  const int st = calib__io_load_logits(path, k_opt ? k_opt : default_k, input_limit, &v, &rows, &cols, err, sizeof err);
  if (st != CALIB_OK) {
    calib__cli_error(path, "%s", err);
    return st == CALIB_E_ARG ? CALIB__CLI_USAGE : CALIB__CLI_DATA; /* E_ARG: raw file without --k */
  }
  if (k_opt && cols != k_opt) {
    free(v);
    return calib__cli_error(path, "--k %zu but the array has %zu column%s", k_opt, cols, cols == 1 ? "" : "s");
  }
  *x = v;
  *n = rows;
  *k = cols;
  return CALIB__CLI_OK;
}

int calib__cli_load_logits(const char *path, size_t k_opt, size_t default_k, float **x, size_t *n,
                           size_t *k) {
  calib__cli_logits L;
  int st = calib__cli_load_logits_typed(path, k_opt, default_k, &L);
  if (st != CALIB__CLI_OK) return st;
  if (!L.x) { /* typed: dequantized once, by the library's scalar conversion */
    calib__tin t;
    if (!(L.x = calib__cli_alloc_f32(L.n, L.k))) {
      calib__cli_logits_free(&L);
      return calib__cli_error(path, "out of memory");
    }
    calib__tin_init(&t, &L.in, L.n, L.k, NULL, 0, NULL, NULL); /* validated by the loader */
    calib__tin_rows_f32(&t, 0, L.n, L.k, L.x);
  }
  *x = L.x;
  *n = L.n;
  *k = L.k;
  L.x = NULL;
  calib__cli_logits_free(&L);
  return CALIB__CLI_OK;
}

/* --scale / --zero-point of this run */
static const char *typed_scale = NULL, *typed_zp = NULL;

void calib__cli_typed_options(const char *scale, const char *zero_point) {
  typed_scale = scale;
  typed_zp = zero_point;
}

void calib__cli_logits_free(calib__cli_logits *L) {
  free(L->x);
  free(L->buf);
  free(L->col_scale);
  free(L->col_zp);
  memset(L, 0, sizeof *L);
}

/* A whole-string number (strtod / strtoll), without printing anything. */
static int parse_real(const char *s, double *v) {
  char *end = NULL;
  errno = 0;
  *v = strtod(s, &end);
  return *s && end && !*end && errno == 0;
}

static int parse_int(const char *s, long long *v) {
  char *end = NULL;
  errno = 0;
  *v = strtoll(s, &end, 10);
  return *s && end && !*end && errno == 0;
}

/* --scale / --zero-point into L->in (per tensor) or per-class arrays. */
static int typed_params(const char *path, calib__cli_logits *L) {
  double s = 0;
  long long z = 0;
  if (parse_real(typed_scale, &s)) {
    L->in.scale = (float)s;
    if (!((double)L->in.scale > 0) || (double)L->in.scale != (double)L->in.scale)
      return calib__cli_error(path, "--scale %s: must be a positive number", typed_scale);
  } else {
    char err[CALIB__NPY_ERRLEN];
    double *v = NULL;
    size_t cnt = 0;
    if (calib__io_load_weights(typed_scale, input_limit, &v, &cnt, err, sizeof err) != CALIB_OK)
      return calib__cli_error(typed_scale, "--scale: not a number, and not a .npy of per-class scales: %s", err);
    if (cnt != L->k || !(L->col_scale = (float *)malloc(cnt * sizeof(float)))) {
      free(v);
      return calib__cli_error(typed_scale, "--scale: %zu per-class scales but %s has k = %zu", cnt, path, L->k);
    }
    for (size_t j = 0; j < cnt; j++) L->col_scale[j] = (float)v[j];
    free(v);
    L->in.col_scale = L->col_scale;
  }
  if (!typed_zp) return CALIB__CLI_OK;
  if (parse_int(typed_zp, &z)) {
    if (z < INT32_MIN || z > INT32_MAX) return calib__cli_error(path, "--zero-point %s: out of range", typed_zp);
    L->in.zero_point = (int32_t)z;
    return CALIB__CLI_OK;
  }
  char err[CALIB__NPY_ERRLEN];
  int64_t *v = NULL;
  size_t cnt = 0;
  if (calib__io_load_labels(typed_zp, input_limit, &v, &cnt, err, sizeof err) != CALIB_OK)
    return calib__cli_error(typed_zp, "--zero-point: not an integer, and not a .npy of per-class zero points: %s",
                            err);
  if (cnt != L->k || !(L->col_zp = (int32_t *)malloc(cnt * sizeof(int32_t)))) {
    free(v);
    return calib__cli_error(typed_zp, "--zero-point: %zu per-class zero points but %s has k = %zu", cnt, path, L->k);
  }
  for (size_t j = 0; j < cnt; j++) L->col_zp[j] = v[j] < INT32_MIN || v[j] > INT32_MAX ? INT32_MAX : (int32_t)v[j];
  free(v);
  L->in.col_zero_point = L->col_zp;
  return CALIB__CLI_OK;
}

/* 1 on a big-endian host (.npy data are little-endian) */
static int host_big_endian(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 0;
}

int calib__cli_load_logits_typed(const char *path, size_t k_opt, size_t default_k, calib__cli_logits *L) {
  memset(L, 0, sizeof *L);
  int typed = 0;
  calib__npy a;
  memset(&a, 0, sizeof a);
  const size_t len = strlen(path);
  if (!(len >= 4 && strcmp(path + len - 4, ".f32") == 0)) { /* a .npy: look at its dtype first */
    char err[CALIB__NPY_ERRLEN];
    uint8_t *b = NULL;
    if (calib__io_read_npy(path, input_limit, &b, &a, err, sizeof err) == CALIB_OK) {
      typed = a.dtype == CALIB__NPY_F16 || a.dtype == CALIB__NPY_I8 || a.dtype == CALIB__NPY_U8 ? 1 : 2;
      L->buf = b;
    } else { /* reported from this one read: a pipe or FIFO cannot be read twice */
      free(b);
      if (strstr(err, "(bad magic)") && !(len >= 4 && strcmp(path + len - 4, ".npy") == 0))
        return calib__cli_error(path, "not a .npy file (bad magic); raw float32 logits must be named *.f32");
      return calib__cli_error(path, "%s", err);
    }
  }
  if (typed != 1) {
    if (typed_scale || typed_zp) {
      calib__cli_logits_free(L);
      return calib__cli_error(path, "--scale/--zero-point are for int8/uint8 logits; this file holds float logits");
    }
    int st = CALIB__CLI_OK;
    if (typed == 2) { /* a float .npy already read: converted here, not read twice */
      char err[CALIB__NPY_ERRLEN];
      L->n = a.shape[0];
      L->k = a.ndim == 2 ? a.shape[1] : 1;
      if (a.ndim != 1 && a.ndim != 2)
        st = calib__cli_error(path, "expected logits of shape (n,) or (n, k), got %zu-D", a.ndim);
      else if (L->k == 0)
        st = calib__cli_error(path, "logits have 0 columns");
      else if (k_opt && L->k != k_opt)
        st = calib__cli_error(path, "--k %zu but the array has %zu column%s", k_opt, L->k, L->k == 1 ? "" : "s");
      else if (!(L->x = calib__cli_alloc_f32(L->n, L->k)))
        st = calib__cli_error(path, "out of memory");
      else if (calib__npy_to_f32(&a, L->x, err, sizeof err) != CALIB_OK)
        st = calib__cli_error(path, "%s", err);
      free(L->buf);
      L->buf = NULL;
      if (st != CALIB__CLI_OK) {
        calib__cli_logits_free(L);
        return st;
      }
    } else {
      st = load_logits_f32(path, k_opt, default_k, &L->x, &L->n, &L->k);
    }
    if (st != CALIB__CLI_OK) return st;
    L->in.dtype = CALIB_DTYPE_F32;
    L->in.data = L->x;
    return CALIB__CLI_OK;
  }
  if (a.ndim != 1 && a.ndim != 2) {
    calib__cli_logits_free(L);
    return calib__cli_error(path, "expected logits of shape (n,) or (n, k), got %zu-D", a.ndim);
  }
  L->n = a.shape[0];
  L->k = a.ndim == 2 ? a.shape[1] : 1;
  int st = CALIB__CLI_OK;
  if (L->k == 0) st = calib__cli_error(path, "logits have 0 columns");
  else if (k_opt && L->k != k_opt)
    st = calib__cli_error(path, "--k %zu but the array has %zu column%s", k_opt, L->k, L->k == 1 ? "" : "s");
  const int quant = a.dtype != CALIB__NPY_F16;
  L->in.dtype = a.dtype == CALIB__NPY_F16 ? CALIB_DTYPE_F16 : a.dtype == CALIB__NPY_I8 ? CALIB_DTYPE_I8 : CALIB_DTYPE_U8;
  L->in.data = a.data;
  if (st == CALIB__CLI_OK && quant && !typed_scale)
    st = calib__cli_error(path, "%s logits need --scale S (and --zero-point Z, default 0)",
                          calib__npy_typename(a.dtype));
  if (st == CALIB__CLI_OK && !quant && (typed_scale || typed_zp))
    st = calib__cli_error(path, "--scale/--zero-point are for int8/uint8 logits, not float16");
  if (st == CALIB__CLI_OK && quant) st = typed_params(path, L);
  if (st == CALIB__CLI_OK) {
    calib__tin t;
    const char *chk = "";
    if (calib__tin_init(&t, &L->in, L->n, L->k, NULL, 0, NULL, &chk) != CALIB_OK)
      st = calib__cli_error(path, "%s", chk);
  }
  if (st == CALIB__CLI_OK && L->in.dtype == CALIB_DTYPE_F16 && host_big_endian()) {
    uint8_t *p = (uint8_t *)(uintptr_t)a.data; /* inside L->buf, ours */
    for (size_t i = 0; i < a.count; i++) {
      const uint8_t t0 = p[2 * i];
      p[2 * i] = p[2 * i + 1];
      p[2 * i + 1] = t0;
    }
  }
  if (st != CALIB__CLI_OK) calib__cli_logits_free(L);
  return st;
}

/* The first label outside 0..k-1 (0/1 for k == 1) as an error line. */
static int check_label_range(const char *path, const char *logits_path, const int64_t *y, size_t n,
                             size_t k) {
  const int64_t hi = k == 1 ? 1 : (int64_t)k - 1;
  for (size_t i = 0; i < n; i++) {
    if (y[i] >= 0 && y[i] <= hi) continue;
    if (k == 1)
      return calib__cli_error(path, "label %lld at row %zu is not 0 or 1 (%s has one column: binary)",
                              (long long)y[i], i, logits_path);
    return calib__cli_error(path, "label %lld at row %zu is outside 0..%lld (%s has k = %zu columns)",
                            (long long)y[i], i, (long long)hi, logits_path, k);
  }
  return CALIB__CLI_OK;
}

int calib__cli_load_labels(const char *path, const char *logits_path, size_t n, size_t k, int64_t **y) {
  char err[CALIB__NPY_ERRLEN];
  size_t ny = 0;
  int64_t *lab = NULL;
  if (calib__io_load_labels(path, input_limit, &lab, &ny, err, sizeof err) != CALIB_OK) return calib__cli_error(path, "%s", err);
  int st = CALIB__CLI_OK;
  if (ny != n)
    st = calib__cli_error(path, "%zu labels but %s has %zu rows", ny, logits_path, n);
  else
    st = check_label_range(path, logits_path, lab, n, k);
  if (st != CALIB__CLI_OK) {
    free(lab);
    return st;
  }
  *y = lab;
  return CALIB__CLI_OK;
}

int calib__cli_load_weights(const char *path, const char *logits_path, size_t n, double **w) {
  char err[CALIB__NPY_ERRLEN];
  size_t nw = 0;
  double *v = NULL;
  if (calib__io_load_weights(path, input_limit, &v, &nw, err, sizeof err) != CALIB_OK) return calib__cli_error(path, "%s", err);
  if (nw != n) {
    free(v);
    return calib__cli_error(path, "%zu weights but %s has %zu rows", nw, logits_path, n);
  }
  *w = v;
  return CALIB__CLI_OK;
}

int calib__cli_load_model(const char *path, calib_model **m, size_t *nbytes, unsigned *version) {
  calib_error err;
  calib_model *mod = NULL;
  if (calib_model_load_file_ex(&mod, path, &err) != CALIB_OK) return calib__cli_error(path, "%s", err.message);
  *m = mod;
  if (nbytes) *nbytes = calib_model_size(mod); /* the whole file: trailing bytes are refused */
  if (version) *version = (unsigned)calib__get_u32(mod->bytes + 8); /* src/model/format.c */
  return CALIB__CLI_OK;
}

int calib__cli_check_model_k(const calib_model *m, const char *model_path, const char *logits_path, size_t k) {
  const size_t mk = calib_model_classes(m);
  if (mk == k) return CALIB__CLI_OK;
  return calib__cli_error(logits_path, "logits have %zu column%s but %s was fitted on k = %zu", k,
                          k == 1 ? "" : "s", model_path, mk);
}

int calib__cli_load_scored(const char *model_path, const char *logits_path, const char *labels_path,
                           size_t rawk, const char *verb, calib_model **m, float **x, size_t *n, size_t *k,
                           int64_t **y) {
  int st = model_path ? calib__cli_load_model(model_path, m, NULL, NULL) : CALIB__CLI_OK;
  if (st == CALIB__CLI_OK) st = calib__cli_load_logits(logits_path, rawk, *m ? calib_model_classes(*m) : 0, x, n, k);
  if (st == CALIB__CLI_OK && *m) st = calib__cli_check_model_k(*m, model_path, logits_path, *k);
  if (st == CALIB__CLI_OK) st = calib__cli_load_labels(labels_path, logits_path, *n, *k, y);
  if (st == CALIB__CLI_OK && *n == 0) st = calib__cli_error(logits_path, "no rows to %s", verb);
  return st;
}
