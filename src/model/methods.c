/* methods.c -- the method table: names, and the apply/validate entry points of
 * each method built into this library (NULL where a method is not built). */
#include "internal.h"
#include "platt_apply.h"
#include "beta_apply.h"
#include "isotonic_apply.h"
#include "histogram_apply.h"
#include "matrix_apply.h"
#include "ets_apply.h"

static const calib__method calib_methods[] = {
    {CALIB_METHOD_TEMPERATURE, "temperature", calib__temperature_validate, calib__temperature_apply,
     NULL, NULL},
    {CALIB_METHOD_PLATT, "platt", calib__platt_validate, calib__platt_apply, calib__platt_check,
     calib__platt_map},
    {CALIB_METHOD_BETA, "beta", calib__beta_validate, calib__beta_apply, calib__beta_check,
     calib__beta_map},
    {CALIB_METHOD_ISOTONIC, "isotonic", calib__isotonic_validate, calib__isotonic_apply,
     calib__isotonic_check, calib__isotonic_map},
    {CALIB_METHOD_HISTOGRAM, "histogram", calib__histogram_validate, calib__histogram_apply,
     calib__histogram_check, calib__histogram_map},
    {CALIB_METHOD_VECTOR, "vector", calib__vector_validate, calib__vector_apply, calib__mx_check,
     calib__mx_map_rows},
    {CALIB_METHOD_MATRIX, "matrix", calib__matrix_validate, calib__matrix_apply, calib__mx_check,
     calib__mx_map_rows},
    {CALIB_METHOD_DIRICHLET, "dirichlet", calib__dirichlet_validate, calib__dirichlet_apply,
     calib__mx_check, calib__mx_map_rows},
    {CALIB_METHOD_ETS, "ets", calib__ets_validate, calib__ets_apply, calib__ets_check,
     calib__ets_map},
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
