/*
 * cli_methods.c -- what the CLI knows per method: a printer for the fitted
 * parameters (fit and info output). Adding a method's printer is one
 * function and one table line; a method without one still prints, through
 * the generic fallback (every parameter array as "param_<id>").
 */
#include "cli.h"

#include <stdlib.h>

#define MAX_ID 64 /* method ids and CALIB_MP_* tags probed by the fallbacks */

typedef void (*param_printer)(calib__cli_out *o, const calib_model *m);

/* One scalar parameter array, printed under `name`. */
static void print_scalar(calib__cli_out *o, const calib_model *m, int which, const char *name) {
  double v = 0;
  size_t count = 0;
  if (calib_model_param(m, which, &v, 1, &count) == CALIB_OK && count == 1) calib__cli_out_num(o, name, v);
}

static void temperature_params(calib__cli_out *o, const calib_model *m) {
  print_scalar(o, m, CALIB_MP_TEMPERATURE, "temperature");
}

/* Column c of a k x ncol parameter array, as a number (k == 1) or an array. */
static void print_column(calib__cli_out *o, const calib_model *m, int which, size_t ncol,
                         size_t c, const char *name) {
  const size_t k = calib_model_classes(m);
  double *v = (double *)malloc((k * ncol + k) * sizeof *v);
  size_t count = 0;
  if (v && calib_model_param(m, which, v, k * ncol, &count) == CALIB_OK && count == k * ncol) {
    double *col = v + k * ncol;
    for (size_t j = 0; j < k; j++) col[j] = v[j * ncol + c];
    if (k == 1) calib__cli_out_num(o, name, col[0]);
    else calib__cli_out_array(o, name, col, k);
  }
  free(v);
}

/* Platt and beta: the input kind the model expects and its clip eps. */
static void print_input(calib__cli_out *o, const calib_model *m) {
  double v[2];
  size_t count = 0;
  if (calib_model_param(m, CALIB_MP_INPUT, v, 2, &count) != CALIB_OK || count != 2) return;
  calib__cli_out_str(o, "input", v[0] == CALIB_INPUT_PROBS ? "probabilities" : "logits");
  calib__cli_out_num(o, "clip_eps", v[1]);
}

static void platt_params(calib__cli_out *o, const calib_model *m) {
  print_column(o, m, CALIB_MP_PLATT, 2, 0, "A"); /* P = 1 / (1 + exp(A s + B)) */
  print_column(o, m, CALIB_MP_PLATT, 2, 1, "B");
  print_input(o, m);
}

static void beta_params(calib__cli_out *o, const calib_model *m) {
  print_column(o, m, CALIB_MP_BETA, 3, 0, "a"); /* sigmoid(a ln s - b ln(1-s) + c) */
  print_column(o, m, CALIB_MP_BETA, 3, 1, "b");
  print_column(o, m, CALIB_MP_BETA, 3, 2, "c");
  print_input(o, m);
}

/* A k-vector of counts as a number (k == 1) or an array. */
static void print_counts(calib__cli_out *o, const calib_model *m, int which, const char *name) {
  size_t count = 0;
  if (calib_model_param(m, which, NULL, 0, &count) != CALIB_OK || count == 0) return;
  double *v = (double *)malloc(count * sizeof *v);
  if (v && calib_model_param(m, which, v, count, &count) == CALIB_OK) {
    if (count == 1) calib__cli_out_num(o, name, v[0]);
    else calib__cli_out_array(o, name, v, count);
  }
  free(v);
}

/* Isotonic: the table sizes (the tables themselves: calib_model_param). */
static void isotonic_params(calib__cli_out *o, const calib_model *m) {
  double cfg[3];
  size_t count = 0;
  if (calib_model_param(m, CALIB_MP_ISO_CONFIG, cfg, 3, &count) != CALIB_OK || count != 3) return;
  print_counts(o, m, CALIB_MP_ISO_COUNTS, "thresholds");
  calib__cli_out_str(o, "out_of_bounds", cfg[0] == CALIB_OOB_ERROR ? "error" : "clip");
  calib__cli_out_str(o, "input", cfg[1] == CALIB_INPUT_PROBS ? "probabilities" : "logits");
  calib__cli_out_num(o, "strict", cfg[2]);
}

/* Histogram binning: binning, bins, input and theta (class after class; the
 * equal-mass edges: calib_model_param). */
static void histogram_params(calib__cli_out *o, const calib_model *m) {
  double cfg[3];
  size_t count = 0;
  if (calib_model_param(m, CALIB_MP_HIST_CONFIG, cfg, 3, &count) != CALIB_OK || count != 3) return;
  calib__cli_out_str(o, "binning", cfg[0] == CALIB_HIST_EQUAL_MASS ? "equal_mass" : "equal_width");
  calib__cli_out_num(o, "bins", cfg[1]);
  calib__cli_out_str(o, "input", cfg[2] == CALIB_INPUT_PROBS ? "probabilities" : "logits");
  if (cfg[0] == CALIB_HIST_EQUAL_MASS) print_counts(o, m, CALIB_MP_HIST_COUNTS, "bins_used");
  print_counts(o, m, CALIB_MP_HIST_VALUES, "values");
}

/* Vector, matrix and Dirichlet scaling: w or W (k*k, row-major) and b. */
static void matrix_params(calib__cli_out *o, const calib_model *m) {
  if (calib_model_method(m) == CALIB_METHOD_VECTOR) print_counts(o, m, CALIB_MP_VECTOR_W, "w");
  else print_counts(o, m, CALIB_MP_MATRIX_W, "W");
  print_counts(o, m, CALIB_MP_BIAS, "b");
}

/* ETS: T and the weights of softmax(z/T), softmax(z), uniform. */
static void ets_params(calib__cli_out *o, const calib_model *m) {
  print_scalar(o, m, CALIB_MP_ETS_TEMPERATURE, "temperature");
  print_counts(o, m, CALIB_MP_ETS_WEIGHTS, "weights");
}

static const struct {
  int method;
  param_printer print;
} printers[] = {
    {CALIB_METHOD_TEMPERATURE, temperature_params},
    {CALIB_METHOD_PLATT, platt_params},
    {CALIB_METHOD_BETA, beta_params},
    {CALIB_METHOD_ISOTONIC, isotonic_params},
    {CALIB_METHOD_HISTOGRAM, histogram_params},
    {CALIB_METHOD_VECTOR, matrix_params},
    {CALIB_METHOD_MATRIX, matrix_params},
    {CALIB_METHOD_DIRICHLET, matrix_params},
    {CALIB_METHOD_ETS, ets_params},
};

/* Every parameter array the model has, as "param_<tag>": [values]. */
static void generic_params(calib__cli_out *o, const calib_model *m) {
  for (int tag = 1; tag <= MAX_ID; tag++) {
    size_t count = 0;
    if (calib_model_param(m, tag, NULL, 0, &count) != CALIB_OK || count == 0) continue;
    double *v = (double *)malloc(count * sizeof *v);
    if (v && calib_model_param(m, tag, v, count, &count) == CALIB_OK) {
      char name[32];
      snprintf(name, sizeof name, "param_%d", tag);
      calib__cli_out_array(o, name, v, count);
    }
    free(v);
  }
}

void calib__cli_print_params(calib__cli_out *o, const calib_model *m) {
  const int method = calib_model_method(m);
  for (size_t i = 0; i < sizeof printers / sizeof printers[0]; i++)
    if (printers[i].method == method) {
      printers[i].print(o, m);
      return;
    }
  generic_params(o, m);
}

void calib__cli_method_list(char *buf, size_t cap) {
  size_t len = 0;
  if (cap) buf[0] = '\0';
  for (int id = 1; id <= MAX_ID && len < cap; id++) {
    calib_fitter *fit = NULL;
    if (!calib_method_name(id) || calib_fitter_create(&fit, id) != CALIB_OK) continue;
    calib_fitter_free(fit);
    const int w = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", calib_method_name(id));
    len += w > 0 ? (size_t)w : cap;
  }
}
