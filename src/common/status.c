/* status.c -- status strings and version (no stdio: part of the firmware core). */
#include "internal.h"

const char *calib_strerror(int status) {
  switch (status) {
    case CALIB_OK: return "success";
    case CALIB_E_ARG: return "invalid argument (NULL pointer, size, stride or option value)";
    case CALIB_E_NONFINITE: return "non-finite input (NaN or infinity)";
    case CALIB_E_LABEL: return "label out of range";
    case CALIB_E_ONECLASS: return "all labels belong to one class";
    case CALIB_E_NOMEM: return "out of memory";
    case CALIB_E_SMALLBUF: return "buffer too small";
    case CALIB_E_FORMAT: return "invalid model bytes (truncated, corrupted or unknown version)";
    case CALIB_E_NOCONV: return "solver did not converge";
    case CALIB_E_UNSUPPORTED: return "not supported in this build";
    case CALIB_E_IO: return "file input/output error";
    case CALIB_E_SEPARABLE: return "data perfectly separated: no finite optimum (e.g. T -> 0)";
    case CALIB_E_NOSIGNAL: return "scores carry no positive signal (optimal T <= 0 or undefined)";
    case CALIB_E_SHAPE: return "number of classes differs from the model's";
    case CALIB_E_EMPTY: return "empty input (no rows, or all weights zero)";
    case CALIB_E_DOMAIN: return "value outside its domain (probability not in [0,1] or negative weight)";
    default: return "unknown error";
  }
}

unsigned calib_version_number(void) { return CALIB_VERSION_NUMBER; }
const char *calib_version_string(void) { return CALIB_VERSION_STRING; }
