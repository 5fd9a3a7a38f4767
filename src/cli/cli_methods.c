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

static const struct {
  int method;
  param_printer print;
} printers[] = {
    {CALIB_METHOD_TEMPERATURE, temperature_params},
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
