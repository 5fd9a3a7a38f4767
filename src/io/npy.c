/*
 * npy.c -- the .npy parser (on a memory buffer, fuzzable), element
 * conversions, and the writer.
 *
 * Format (numpy/lib/format.py, NEP 1): "\x93NUMPY", major and minor version
 * bytes, a little-endian header length (u16 for 1.0, u32 for 2.0 and 3.0),
 * then that many bytes of an ASCII (3.0: UTF-8) Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and a final '\n', then the raw data in C order.
 * The parser accepts exactly that grammar: a dict of the three keys, each
 * once, string values quoted with ' or " (no escapes), True/False, and a
 * tuple of non-negative decimal integers ("(5,)" for one dimension; a Python
 * 2 "5L" suffix is accepted). Anything else is rejected.
 */
#include "npy.h"
#include "checked.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

int calib__io_err(int status, char *err, size_t errcap, const char *fmt, ...) {
  if (err && errcap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
  }
  return status;
}

size_t calib__npy_itemsize(calib__npy_dtype dtype) {
  switch (dtype) {
    case CALIB__NPY_F32: case CALIB__NPY_I32: return 4;
    case CALIB__NPY_F64: case CALIB__NPY_I64: return 8;
    case CALIB__NPY_F16: return 2;
    case CALIB__NPY_I8: case CALIB__NPY_U8: return 1;
  }
  return 0;
}

const char *calib__npy_descr(calib__npy_dtype dtype) {
  switch (dtype) {
    case CALIB__NPY_F32: return "<f4";
    case CALIB__NPY_F64: return "<f8";
    case CALIB__NPY_I32: return "<i4";
    case CALIB__NPY_I64: return "<i8";
    case CALIB__NPY_F16: return "<f2";
    case CALIB__NPY_I8: return "|i1";
    case CALIB__NPY_U8: return "|u1";
  }
  return "?";
}

const char *calib__npy_typename(calib__npy_dtype dtype) {
  switch (dtype) {
    case CALIB__NPY_F32: return "float32";
    case CALIB__NPY_F64: return "float64";
    case CALIB__NPY_I32: return "int32";
    case CALIB__NPY_I64: return "int64";
    case CALIB__NPY_F16: return "float16";
    case CALIB__NPY_I8: return "int8";
    case CALIB__NPY_U8: return "uint8";
  }
  return "?";
}

int calib__npy_has_magic(const void *buf, size_t len) {
  return buf && len >= sizeof npy_magic && memcmp(buf, npy_magic, sizeof npy_magic) == 0;
}

/* ---- Header dict tokenizer ------------------------------------------------ */

typedef struct {
  const uint8_t *p, *end;
  char *err;
  size_t errcap;
} cursor;

#define HDR_ERR(c, ...) calib__io_err(CALIB_E_FORMAT, (c)->err, (c)->errcap, \
                                      "bad .npy header: " __VA_ARGS__)

static void skip_ws(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
    c->p++;
}

/* Consumes ch after optional whitespace; 1 if it was there. */
static int accept(cursor *c, char ch) {
  skip_ws(c);
  if (c->p < c->end && *c->p == (uint8_t)ch) {
    c->p++;
    return 1;
  }
  return 0;
}

/* Consumes the bare word w (True, False) if it is next; 1 if it was. */
static int accept_word(cursor *c, const char *w) {
  const size_t n = strlen(w);
  skip_ws(c);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return 0;
  c->p += n;
  return 1;
}

/* A quoted string ('...' or "...", no escapes) of at most cap-1 bytes. */
static int parse_string(cursor *c, char *out, size_t cap) {
  skip_ws(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return HDR_ERR(c, "expected a quoted string");
  const uint8_t q = *c->p++;
  size_t n = 0;
  while (c->p < c->end && *c->p != q) {
    if (*c->p == '\\' || *c->p < 0x20 || *c->p >= 0x7f) return HDR_ERR(c, "unsupported character in a string");
    if (n + 1 >= cap) return HDR_ERR(c, "string too long");
    out[n++] = (char)*c->p++;
  }
  if (c->p >= c->end) return HDR_ERR(c, "unterminated string");
  c->p++;
  out[n] = '\0';
  return CALIB_OK;
}

/* A non-negative decimal integer that fits in size_t (optional 'L'). */
static int parse_size(cursor *c, size_t *out) {
  skip_ws(c);
  if (c->p >= c->end || *c->p < '0' || *c->p > '9') return HDR_ERR(c, "expected an integer in the shape");
  size_t v = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    const size_t d = (size_t)(*c->p++ - '0');
    if (v > (SIZE_MAX - d) / 10) return HDR_ERR(c, "shape dimension too large");
    v = v * 10 + d;
  }
  if (c->p < c->end && *c->p == 'L') c->p++;
  *out = v;
  return CALIB_OK;
}

/* A shape tuple: "()", "(n,)", "(n, m)", "(n, m,)", ... */
static int parse_shape(cursor *c, calib__npy *a) {
  int st;
  if (!accept(c, '(')) return HDR_ERR(c, "shape must be a tuple");
  size_t nd = 0;
  int trailing_comma = 0;
  while (!accept(c, ')')) {
    if (nd == CALIB__NPY_MAX_DIMS) return HDR_ERR(c, "more than %d dimensions", CALIB__NPY_MAX_DIMS);
    if ((st = parse_size(c, &a->shape[nd])) != CALIB_OK) return st;
    nd++;
    trailing_comma = accept(c, ',');
    if (!trailing_comma) {
      if (!accept(c, ')')) return HDR_ERR(c, "expected ',' or ')' in the shape");
      break;
    }
  }
  if (nd == 1 && !trailing_comma) return HDR_ERR(c, "shape must be a tuple");
  a->ndim = nd;
  return CALIB_OK;
}

/* Maps a descr string to a dtype; big-endian and others are unsupported. */
static int parse_descr(cursor *c, calib__npy *a) {
  char d[32];
  int st = parse_string(c, d, sizeof d);
  if (st != CALIB_OK) return st;
  static const struct { const char *s; calib__npy_dtype t; } ok[] = {
      {"<f4", CALIB__NPY_F32}, {"<f8", CALIB__NPY_F64}, {"<i4", CALIB__NPY_I32}, {"<i8", CALIB__NPY_I64},
      {"<f2", CALIB__NPY_F16}, {"|i1", CALIB__NPY_I8},  {"|u1", CALIB__NPY_U8}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (strcmp(d, ok[i].s) == 0) {
      a->dtype = ok[i].t;
      return CALIB_OK;
    }
  if (d[0] == '>' && (!strcmp(d + 1, "f4") || !strcmp(d + 1, "f8") || !strcmp(d + 1, "i4") || !strcmp(d + 1, "i8") ||
                      !strcmp(d + 1, "f2")))
    return calib__io_err(CALIB_E_UNSUPPORTED, c->err, c->errcap,
                         "big-endian dtype '%s' is not supported (save with arr.astype('<%s'))", d, d + 1);
  return calib__io_err(CALIB_E_UNSUPPORTED, c->err, c->errcap,
                       "unsupported dtype '%s' (need float32, float64, int32, int64, or float16/int8/uint8 logits: "
                       "'<f4', '<f8', '<i4', '<i8', '<f2', '|i1', '|u1')", d);
}

static int parse_fortran(cursor *c) {
  if (accept_word(c, "False")) return CALIB_OK;
  if (accept_word(c, "True"))
    return calib__io_err(CALIB_E_UNSUPPORTED, c->err, c->errcap,
                         "Fortran-order array is not supported (save np.ascontiguousarray(arr))");
  return HDR_ERR(c, "fortran_order must be True or False");
}

/* One "key: value" entry; seen[] records keys already read. */
static int parse_entry(cursor *c, calib__npy *a, int seen[3]) {
  static const char *const keys[3] = {"descr", "fortran_order", "shape"};
  char key[32];
  int st = parse_string(c, key, sizeof key);
  if (st != CALIB_OK) return st;
  int which = -1;
  for (int i = 0; i < 3; i++)
    if (strcmp(key, keys[i]) == 0) which = i;
  if (which < 0) return HDR_ERR(c, "unexpected key '%s'", key);
  if (seen[which]) return HDR_ERR(c, "key '%s' given twice", key);
  seen[which] = 1;
  if (!accept(c, ':')) return HDR_ERR(c, "expected ':' after '%s'", key);
  if (which == 0) return parse_descr(c, a);
  if (which == 1) return parse_fortran(c);
  return parse_shape(c, a);
}

/* The whole dict, then only whitespace up to the end of the header. */
static int parse_dict(cursor *c, calib__npy *a) {
  int seen[3] = {0, 0, 0}, st;
  if (!accept(c, '{')) return HDR_ERR(c, "header is not a dict");
  while (!accept(c, '}')) {
    if ((st = parse_entry(c, a, seen)) != CALIB_OK) return st;
    if (!accept(c, ',')) {
      if (!accept(c, '}')) return HDR_ERR(c, "expected ',' or '}'");
      break;
    }
  }
  skip_ws(c);
  if (c->p != c->end) return HDR_ERR(c, "unexpected bytes after the dict");
  if (!seen[0] || !seen[1] || !seen[2])
    return HDR_ERR(c, "missing key '%s'", !seen[0] ? "descr" : !seen[1] ? "fortran_order" : "shape");
  return CALIB_OK;
}

/* ---- Preamble and data size -------------------------------------------------- */

/* Validates magic, version and the header length field (needs the first 10
 * bytes, 12 for versions 2 and 3); *hend = where the data start. */
int calib__npy_preamble(const void *buf, size_t len, size_t *hend, char *err, size_t errcap) {
  const uint8_t *b = (const uint8_t *)buf;
  if (len == 0) return calib__io_err(CALIB_E_FORMAT, err, errcap, "not a .npy file (empty)");
  if (memcmp(b, npy_magic, len < sizeof npy_magic ? len : sizeof npy_magic) != 0)
    return calib__io_err(CALIB_E_FORMAT, err, errcap, "not a .npy file (bad magic)");
  if (len < 8) return calib__io_err(CALIB_E_FORMAT, err, errcap, "truncated .npy header (%zu bytes)", len);
  const unsigned major = b[6], minor = b[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    return calib__io_err(CALIB_E_UNSUPPORTED, err, errcap, "unsupported .npy format version %u.%u", major, minor);
  const size_t start = major == 1 ? 10 : 12;
  if (len < start) return calib__io_err(CALIB_E_FORMAT, err, errcap, "truncated .npy header (%zu bytes)", len);
  size_t hl = (size_t)b[8] | (size_t)b[9] << 8;
  if (major != 1) hl |= (size_t)b[10] << 16 | (size_t)b[11] << 24;
  if (hl > CALIB__NPY_MAX_HEADER)
    return calib__io_err(CALIB_E_FORMAT, err, errcap, "bad .npy header: header length %zu is over the %d-byte limit",
                         hl, CALIB__NPY_MAX_HEADER);
  *hend = start + hl;
  return CALIB_OK;
}

/* count = prod(shape) (0 if any dimension is 0) and *bytes = count * itemsize,
 * both overflow-checked. */
static int shape_count(calib__npy *a, size_t *bytes, char *err, size_t errcap) {
  const size_t isz = calib__npy_itemsize(a->dtype);
  size_t count = 1;
  for (size_t i = 0; i < a->ndim; i++)
    if (a->shape[i] == 0) count = 0;
  for (size_t i = 0; i < a->ndim && count; i++)
    if (!calib__size_mul(count, a->shape[i], &count))
      return calib__io_err(CALIB_E_FORMAT, err, errcap, "bad .npy header: shape too large (size overflow)");
  if (!calib__size_bytes(count, isz, bytes))
    return calib__io_err(CALIB_E_FORMAT, err, errcap, "bad .npy header: shape too large (size overflow)");
  a->count = count;
  return CALIB_OK;
}

int calib__npy_parse_header(const void *buf, size_t len, calib__npy *out, size_t *hend, size_t *data_bytes,
                            char *err, size_t errcap) {
  if (!buf || !out || !hend || !data_bytes) return calib__io_err(CALIB_E_ARG, err, errcap, "no buffer");
  const uint8_t *b = (const uint8_t *)buf;
  size_t he = 0;
  int st = calib__npy_preamble(b, len, &he, err, errcap);
  if (st != CALIB_OK) return st;
  const size_t start = b[6] == 1 ? 10 : 12;
  if (he > len)
    return calib__io_err(CALIB_E_FORMAT, err, errcap,
                         "truncated .npy header (header length %zu, only %zu bytes follow)", he - start, len - start);
  calib__npy a;
  memset(&a, 0, sizeof a);
  cursor c = {b + start, b + he, err, errcap};
  if ((st = parse_dict(&c, &a)) != CALIB_OK) return st;
  if ((st = shape_count(&a, data_bytes, err, errcap)) != CALIB_OK) return st;
  *hend = he;
  *out = a;
  return CALIB_OK;
}

int calib__npy_data_size_error(size_t want, uint64_t have, char *err, size_t errcap) {
  return calib__io_err(CALIB_E_FORMAT, err, errcap, "%s (shape needs %zu data bytes, file has %llu)",
                       have < want ? "truncated data" : "trailing bytes after the data", want,
                       (unsigned long long)have);
}

int calib__npy_parse(const void *buf, size_t len, calib__npy *out, char *err, size_t errcap) {
  if (!buf || !out) return calib__io_err(CALIB_E_ARG, err, errcap, "no buffer");
  calib__npy a;
  size_t he = 0, want = 0;
  const int st = calib__npy_parse_header(buf, len, &a, &he, &want, err, errcap);
  if (st != CALIB_OK) return st;
  if (len - he != want) return calib__npy_data_size_error(want, len - he, err, errcap);
  a.data = (const uint8_t *)buf + he;
  *out = a;
  return CALIB_OK;
}

/* ---- Element conversions ------------------------------------------------------ */

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }
static float f32_at(const uint8_t *p) {
  const uint32_t u = le32(p);
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
static double f64_at(const uint8_t *p) {
  const uint64_t u = le64(p);
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

static int wrong_type(const calib__npy *a, const char *want, char *err, size_t errcap) {
  return calib__io_err(CALIB_E_UNSUPPORTED, err, errcap, "dtype is %s, expected %s",
                       calib__npy_typename(a->dtype), want);
}

int calib__npy_to_f32(const calib__npy *a, float *out, char *err, size_t errcap) {
  if (!a || (a->count && !out)) return calib__io_err(CALIB_E_ARG, err, errcap, "no buffer");
  if (a->dtype == CALIB__NPY_F32) {
    for (size_t i = 0; i < a->count; i++) out[i] = f32_at(a->data + 4 * i);
  } else if (a->dtype == CALIB__NPY_F64) {
    for (size_t i = 0; i < a->count; i++) out[i] = (float)f64_at(a->data + 8 * i);
  } else {
    return wrong_type(a, "float32 or float64", err, errcap);
  }
  return CALIB_OK;
}

int calib__npy_to_f64(const calib__npy *a, double *out, char *err, size_t errcap) {
  if (!a || (a->count && !out)) return calib__io_err(CALIB_E_ARG, err, errcap, "no buffer");
  if (a->dtype == CALIB__NPY_F32) {
    for (size_t i = 0; i < a->count; i++) out[i] = (double)f32_at(a->data + 4 * i);
  } else if (a->dtype == CALIB__NPY_F64) {
    for (size_t i = 0; i < a->count; i++) out[i] = f64_at(a->data + 8 * i);
  } else {
    return wrong_type(a, "float32 or float64", err, errcap);
  }
  return CALIB_OK;
}

int calib__npy_to_i64(const calib__npy *a, int64_t *out, char *err, size_t errcap) {
  if (!a || (a->count && !out)) return calib__io_err(CALIB_E_ARG, err, errcap, "no buffer");
  if (a->dtype == CALIB__NPY_I32) {
    for (size_t i = 0; i < a->count; i++) out[i] = (int64_t)(int32_t)le32(a->data + 4 * i);
  } else if (a->dtype == CALIB__NPY_I64) {
    for (size_t i = 0; i < a->count; i++) out[i] = (int64_t)le64(a->data + 8 * i);
  } else {
    return wrong_type(a, "int32 or int64", err, errcap);
  }
  return CALIB_OK;
}

/* ---- Writer ------------------------------------------------------------------ */

/* The dict text (without padding) into d[0..cap-1]; its length, or 0 if it
 * does not fit. */
static size_t header_dict(char *d, size_t cap, calib__npy_dtype dtype, const size_t *shape, size_t ndim) {
  int w = snprintf(d, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (", calib__npy_descr(dtype));
  size_t n = w > 0 ? (size_t)w : cap;
  for (size_t i = 0; i < ndim && n < cap; i++) {
    w = snprintf(d + n, cap - n, i + 1 < ndim ? "%zu, " : ndim == 1 ? "%zu," : "%zu", shape[i]);
    n += w > 0 ? (size_t)w : cap;
  }
  if (n < cap) {
    w = snprintf(d + n, cap - n, "), }");
    n += w > 0 ? (size_t)w : cap;
  }
  return n < cap ? n : 0;
}

int calib__npy_header(uint8_t *out, size_t cap, calib__npy_dtype dtype, const size_t *shape,
                      size_t ndim, size_t *hlen) {
  if (!hlen || calib__npy_itemsize(dtype) == 0 || ndim > CALIB__NPY_MAX_DIMS || (ndim && !shape))
    return CALIB_E_ARG;
  char dict[64 + 24 * CALIB__NPY_MAX_DIMS];
  const size_t dl = header_dict(dict, sizeof dict, dtype, shape, ndim);
  if (dl == 0) return CALIB_E_ARG;
  /* preamble 10 bytes + dict + spaces + '\n', total a multiple of 64. Like
   * numpy >= 1.24, reserve room for shape[0] to grow to 21 digits, so the
   * bytes equal np.save's. */
  size_t grow = 0;
  if (ndim > 0) {
    char digits[32];
    const int w = snprintf(digits, sizeof digits, "%zu", shape[0]);
    grow = w > 0 && w < 21 ? 21 - (size_t)w : 0;
  }
  const size_t total = (10 + dl + grow + 1 + 63) / 64 * 64;
  if (out) {
    if (cap < total) return CALIB_E_SMALLBUF;
    const size_t hl = total - 10;
    memcpy(out, npy_magic, sizeof npy_magic);
    out[6] = 1;
    out[7] = 0;
    out[8] = (uint8_t)(hl & 0xff);
    out[9] = (uint8_t)(hl >> 8);
    memcpy(out + 10, dict, dl);
    memset(out + 10 + dl, ' ', total - 10 - dl - 1);
    out[total - 1] = '\n';
  }
  *hlen = total;
  return CALIB_OK;
}

static int host_is_le(void) {
  const uint16_t one = 1;
  uint8_t b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* A little-endian copy of count elements of size isz (big-endian hosts). */
static uint8_t *le_copy(const void *data, size_t count, size_t isz) {
  uint8_t *c = (uint8_t *)malloc(count ? count * isz : 1); /* checked by the caller */
  if (!c) return NULL;
  const uint8_t *s = (const uint8_t *)data;
  for (size_t i = 0; i < count; i++)
    for (size_t j = 0; j < isz; j++) c[i * isz + j] = s[i * isz + isz - 1 - j];
  return c;
}

int calib__npy_save(const char *path, calib__npy_dtype dtype, const size_t *shape, size_t ndim,
                    const void *data, char *err, size_t errcap) {
  uint8_t hdr[64 + 64 + 24 * CALIB__NPY_MAX_DIMS];
  size_t hl = 0, count = 1, bytes = 0;
  const size_t isz = calib__npy_itemsize(dtype);
  if (!path || calib__npy_header(hdr, sizeof hdr, dtype, shape, ndim, &hl) != CALIB_OK)
    return calib__io_err(CALIB_E_ARG, err, errcap, "invalid array to save");
  for (size_t i = 0; i < ndim; i++)
    if (!calib__size_mul(count, shape[i], &count)) return calib__io_err(CALIB_E_ARG, err, errcap, "array too large");
  if (!calib__size_bytes(count, isz, &bytes)) return calib__io_err(CALIB_E_ARG, err, errcap, "array too large");
  if (count && !data) return calib__io_err(CALIB_E_ARG, err, errcap, "no data");
  uint8_t *swapped = NULL;
  if (!host_is_le() && count) {
    if (!(swapped = le_copy(data, count, isz))) return calib__io_err(CALIB_E_NOMEM, err, errcap, "out of memory");
    data = swapped;
  }
  const void *parts[2] = {hdr, data};
  const size_t lens[2] = {hl, bytes};
  const int st = calib__io_write_atomic(path, parts, lens, count ? 2 : 1, err, errcap);
  free(swapped);
  return st;
}
