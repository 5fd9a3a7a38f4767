/* methods.c -- the method table: names, and the apply/validate entry points of
 * each method built into this library (NULL where a method is not built). */
#include "internal.h"

static const calib__method calib_methods[] = {
    {CALIB_METHOD_TEMPERATURE, "temperature", calib__temperature_validate, calib__temperature_apply},
    {CALIB_METHOD_PLATT, "platt", NULL, NULL},
    {CALIB_METHOD_BETA, "beta", NULL, NULL},
    {CALIB_METHOD_ISOTONIC, "isotonic", NULL, NULL},
    {CALIB_METHOD_HISTOGRAM, "histogram", NULL, NULL},
    {CALIB_METHOD_VECTOR, "vector", NULL, NULL},
    {CALIB_METHOD_MATRIX, "matrix", NULL, NULL},
    {CALIB_METHOD_DIRICHLET, "dirichlet", NULL, NULL},
    {CALIB_METHOD_ETS, "ets", NULL, NULL},
};

const calib__method *calib__method_get(int id) {
  for (size_t i = 0; i < sizeof calib_methods / sizeof calib_methods[0]; i++)
    if (calib_methods[i].id == id) return &calib_methods[i];
  return NULL;
}

const char *calib_method_name(int method) {
  const calib__method *m = calib__method_get(method);
  return m ? m->name : NULL;
}

int calib_method_from_name(const char *name) {
  if (!name) return CALIB_E_ARG;
  for (size_t i = 0; i < sizeof calib_methods / sizeof calib_methods[0]; i++)
    if (strcmp(calib_methods[i].name, name) == 0) return calib_methods[i].id;
  return CALIB_E_ARG;
}
