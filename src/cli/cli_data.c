/*
 * cli_data.c -- loading the commands' inputs (logits, labels, weights,
 * models) with the checks that need both files to explain: row counts and
 * label ranges. Each loader prints its one error line itself.
 */
#include "cli.h"

#include <stdlib.h>

int calib__cli_load_logits(const char *path, size_t k_opt, size_t default_k, float **x, size_t *n,
                           size_t *k) {
  char err[CALIB__NPY_ERRLEN];
  float *v = NULL;
  size_t rows = 0, cols = 0;
  const int st = calib__io_load_logits(path, k_opt ? k_opt : default_k, &v, &rows, &cols, err, sizeof err);
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
  if (calib__io_load_labels(path, &lab, &ny, err, sizeof err) != CALIB_OK) return calib__cli_error(path, "%s", err);
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
  if (calib__io_load_weights(path, &v, &nw, err, sizeof err) != CALIB_OK) return calib__cli_error(path, "%s", err);
  if (nw != n) {
    free(v);
    return calib__cli_error(path, "%zu weights but %s has %zu rows", nw, logits_path, n);
  }
  *w = v;
  return CALIB__CLI_OK;
}

int calib__cli_load_model(const char *path, calib_model **m, size_t *nbytes, unsigned *version) {
  char err[CALIB__NPY_ERRLEN];
  uint8_t *b = NULL;
  size_t len = 0;
  if (calib__io_read_file(path, &b, &len, err, sizeof err) != CALIB_OK) return calib__cli_error(path, "%s", err);
  calib_model *mod = NULL;
  const int st = calib_model_load(&mod, b, len);
  /* Format version: u32 little-endian at byte 8 (src/model/format.c); valid
   * once the load succeeded, which implies len >= 32. */
  const unsigned ver = st == CALIB_OK ? (unsigned)b[8] | (unsigned)b[9] << 8 | (unsigned)b[10] << 16 |
                                            (unsigned)b[11] << 24
                                      : 0;
  free(b);
  if (st == CALIB_E_UNSUPPORTED)
    return calib__cli_error(path, "model method not built into this calib (%s)", calib_strerror(st));
  if (st != CALIB_OK) return calib__cli_error(path, "invalid model bytes (%s)", calib_strerror(st));
  *m = mod;
  if (nbytes) *nbytes = len;
  if (version) *version = ver;
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
