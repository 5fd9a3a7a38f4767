/*
 * cli_data.c -- loading the commands' inputs (logits, labels, weights,
 * models) with the checks that need both files to explain: row counts and
 * label ranges. Each loader prints its one error line itself.
 */
#include "cli.h"
#include "checked.h"
#include "internal.h" /* the format version of a loaded model (calib_model's bytes) */

#include <stdint.h>
#include <stdlib.h>

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

int calib__cli_load_logits(const char *path, size_t k_opt, size_t default_k, float **x, size_t *n,
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
