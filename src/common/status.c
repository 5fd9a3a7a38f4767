/* status.c -- status strings and version (no stdio: part of the firmware core). */
#include "internal.h"

const char *calib_strerror(int status) {
  switch (status) {
    case CALIB_OK: return "success";
    case CALIB_E_ARG: return "invalid argument";
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

/* ---- calib_error: the detail of a failed call (see calib.h) ----------------
 * Formatted without stdio (the firmware core compiles this file); the errno
 * text comes from strerror_r outside the core. */
#ifndef CALIB_CORE
#include <string.h>
#endif

static size_t err_append(char *buf, size_t at, const char *s) {
  const size_t cap = sizeof(((calib_error *)0)->message);
  while (s && *s && at + 1 < cap) buf[at++] = *s++;
  buf[at] = '\0';
  return at;
}

static size_t err_append_u64(char *buf, size_t at, uint64_t v) {
  char digits[21];
  size_t n = 0;
  do { digits[n++] = (char)('0' + (int)(v % 10)); v /= 10; } while (v && n < sizeof digits);
  char out[22];
  size_t i = 0;
  while (n) out[i++] = digits[--n];
  out[i] = '\0';
  return err_append(buf, at, out);
}

int calib__error_set(calib_error *err, int code, const char *arg, const char *check,
                     uint64_t index, int sys_errno) {
  if (!err) return code;
  err->code = code;
  err->sys_errno = sys_errno;
  err->arg = arg ? arg : "";
  err->check = check ? check : "";
  err->index = index;
  err->message[0] = '\0';
  if (code == CALIB_OK) return code;
  size_t at = 0;
  if (*err->arg) { at = err_append(err->message, at, err->arg); at = err_append(err->message, at, ": "); }
  if (*err->check) {
    at = err_append(err->message, at, err->check);
    if (index != UINT64_MAX) {
      at = err_append(err->message, at, " (at ");
      at = err_append_u64(err->message, at, index);
      at = err_append(err->message, at, ")");
    }
    at = err_append(err->message, at, ": ");
  }
  at = err_append(err->message, at, calib_strerror(code));
#ifndef CALIB_CORE
  if (sys_errno != 0) {
    char sys[128];
    if (strerror_r(sys_errno, sys, sizeof sys) == 0) {
      at = err_append(err->message, at, ": ");
      at = err_append(err->message, at, sys);
    }
  }
#endif
  return code;
}

int calib__error_ok(calib_error *err) {
  return calib__error_set(err, CALIB_OK, "", "", UINT64_MAX, 0);
}
