/* body.c -- request and response bodies: a growable buffer, a small strict
 * JSON parser and writer, and .npy bodies through src/io/npy.c's in-memory
 * parser (calib__npy_parse, the same code the CLI and the fuzzers use). */
#include "serve.h"
#include "npy.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sbuf ---- */
void sb_free(sbuf *b) {
  free(b->p);
  b->p = NULL, b->len = b->cap = 0;
}

int sb_reserve(sbuf *b, size_t extra) {
  if (b->oom) return -1;
  if (extra > SIZE_MAX - b->len - 1) return b->oom = 1, -1;
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) { cap = need; break; }
    cap *= 2;
  }
  char *p = realloc(b->p, cap);
  if (!p) return b->oom = 1, -1;
  b->p = p, b->cap = cap;
  return 0;
}

void sb_put(sbuf *b, const void *s, size_t n) {
  if (sb_reserve(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

void sb_printf(sbuf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) { sb_put(b, tmp, (size_t)n); return; }
  if (sb_reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void sb_json_string(sbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') { char e[2] = {'\\', (char)*p}; sb_put(b, e, 2); }
    else if (*p < 0x20) sb_printf(b, "\\u%04x", *p);
    else sb_put(b, p, 1);
  }
  sb_put(b, "\"", 1);
}

void sb_json_double(sbuf *b, double v) {
  if (!isfinite(v)) sb_str(b, "null");
  else sb_printf(b, "%.17g", v);
}

/* ---- JSON parser ---- */
typedef struct {
  const char *s, *end, *start;
  size_t nodes, max_nodes;
  int depth;
  char *err;
  size_t errcap;
} jp;

static int jerr(jp *p, const char *what) {
  if (p->err && p->errcap)
    snprintf(p->err, p->errcap, "body: invalid JSON at byte %zu: %s", (size_t)(p->s - p->start), what);
  return -1;
}

static void ws(jp *p) {
  while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static int lit(jp *p, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(p->end - p->s) >= n && memcmp(p->s, w, n) == 0) { p->s += n; return 1; }
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void put_utf8(char *o, size_t *j, unsigned cp) {
  if (cp < 0x80) o[(*j)++] = (char)cp;
  else if (cp < 0x800) { o[(*j)++] = (char)(0xC0 | cp >> 6); o[(*j)++] = (char)(0x80 | (cp & 63)); }
  else if (cp < 0x10000) {
    o[(*j)++] = (char)(0xE0 | cp >> 12); o[(*j)++] = (char)(0x80 | (cp >> 6 & 63));
    o[(*j)++] = (char)(0x80 | (cp & 63));
  } else {
    o[(*j)++] = (char)(0xF0 | cp >> 18); o[(*j)++] = (char)(0x80 | (cp >> 12 & 63));
    o[(*j)++] = (char)(0x80 | (cp >> 6 & 63)); o[(*j)++] = (char)(0x80 | (cp & 63));
  }
}

static int parse_str(jp *p, char **out) {
  /* p->s at the opening quote; the decoded string is never longer than the
   * source (escapes shrink, \uXXXX gives at most 4 bytes for 6). */
  const char *q = ++p->s;
  while (q < p->end && *q != '"') { if (*q == '\\') q++; q++; }
  if (q >= p->end) return jerr(p, "unterminated string");
  char *o = malloc((size_t)(q - p->s) + 1);
  if (!o) return jerr(p, "out of memory");
  size_t j = 0;
  while (p->s < q) {
    unsigned char c = (unsigned char)*p->s++;
    if (c < 0x20) { free(o); return jerr(p, "control character in a string"); }
    if (c != '\\') { o[j++] = (char)c; continue; }
    char e = *p->s++;
    switch (e) {
      case '"': o[j++] = '"'; break;
      case '\\': o[j++] = '\\'; break;
      case '/': o[j++] = '/'; break;
      case 'b': o[j++] = '\b'; break;
      case 'f': o[j++] = '\f'; break;
      case 'n': o[j++] = '\n'; break;
      case 'r': o[j++] = '\r'; break;
      case 't': o[j++] = '\t'; break;
      case 'u': {
        if (q - p->s < 4) { free(o); return jerr(p, "bad \\u escape"); }
        unsigned cp = 0;
        for (int i = 0; i < 4; i++) {
          int h = hexval(p->s[i]);
          if (h < 0) { free(o); return jerr(p, "bad \\u escape"); }
          cp = cp << 4 | (unsigned)h;
        }
        p->s += 4;
        if (cp == 0 || (cp >= 0xD800 && cp < 0xE000)) { /* no NUL, surrogates unsupported */
          free(o);
          return jerr(p, "\\u0000 or a surrogate in a string (not supported)");
        }
        put_utf8(o, &j, cp);
        break;
      }
      default: free(o); return jerr(p, "bad escape");
    }
  }
  o[j] = '\0';
  p->s = q + 1;
  *out = o;
  return 0;
}

static int parse_num(jp *p, double *out) {
  const char *a = p->s;
  if (lit(p, "NaN")) { *out = NAN; return 0; }
  if (lit(p, "Infinity")) { *out = INFINITY; return 0; }
  if (lit(p, "-Infinity")) { *out = -INFINITY; return 0; }
  const char *s = a;
  if (s < p->end && *s == '-') s++;
  if (s >= p->end) return jerr(p, "bad number");
  if (*s == '0') s++;
  else if (*s >= '1' && *s <= '9') while (s < p->end && *s >= '0' && *s <= '9') s++;
  else return jerr(p, "unexpected character");
  if (s < p->end && *s == '.') {
    s++;
    if (s >= p->end || *s < '0' || *s > '9') return jerr(p, "bad number");
    while (s < p->end && *s >= '0' && *s <= '9') s++;
  }
  if (s < p->end && (*s == 'e' || *s == 'E')) {
    s++;
    if (s < p->end && (*s == '+' || *s == '-')) s++;
    if (s >= p->end || *s < '0' || *s > '9') return jerr(p, "bad number");
    while (s < p->end && *s >= '0' && *s <= '9') s++;
  }
  char tmp[64];
  size_t n = (size_t)(s - a);
  if (n >= sizeof tmp) return jerr(p, "number longer than 63 characters");
  memcpy(tmp, a, n);
  tmp[n] = '\0';
  *out = strtod(tmp, NULL); /* the C locale: this program never calls setlocale */
  p->s = s;
  return 0;
}

static int parse_val(jp *p, jval *v);

static int grow(jp *p, jval **items, char ***keys, size_t n, size_t *cap) {
  if (n < *cap) return 0;
  size_t c = *cap ? *cap * 2 : 4;
  jval *ni = realloc(*items, c * sizeof **items);
  if (!ni) return jerr(p, "out of memory");
  *items = ni;
  if (keys) {
    char **nk = realloc(*keys, c * sizeof **keys);
    if (!nk) return jerr(p, "out of memory");
    *keys = nk;
  }
  *cap = c;
  return 0;
}

static int parse_container(jp *p, jval *v, int obj) {
  if (++p->depth > 32) return jerr(p, "nested deeper than 32");
  p->s++;
  v->t = obj ? J_OBJ : J_ARR;
  size_t cap = 0;
  ws(p);
  if (p->s < p->end && *p->s == (obj ? '}' : ']')) { p->s++; p->depth--; return 0; }
  for (;;) {
    ws(p);
    if (grow(p, &v->items, obj ? &v->keys : NULL, v->n, &cap)) return -1;
    if (obj) {
      if (p->s >= p->end || *p->s != '"') return jerr(p, "expected a member name");
      if (parse_str(p, &v->keys[v->n])) return -1;
      ws(p);
      if (p->s >= p->end || *p->s != ':') { free(v->keys[v->n]); return jerr(p, "expected ':'"); }
      p->s++;
    }
    memset(&v->items[v->n], 0, sizeof v->items[0]);
    v->n++; /* counted now so json_free sees the member even if its value fails */
    if (parse_val(p, &v->items[v->n - 1])) return -1;
    ws(p);
    if (p->s < p->end && *p->s == ',') { p->s++; continue; }
    if (p->s < p->end && *p->s == (obj ? '}' : ']')) { p->s++; break; }
    return jerr(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
  p->depth--;
  return 0;
}

static int parse_val(jp *p, jval *v) {
  if (++p->nodes > p->max_nodes) return jerr(p, "too many values");
  ws(p);
  if (p->s >= p->end) return jerr(p, "unexpected end");
  switch (*p->s) {
    case '{': return parse_container(p, v, 1);
    case '[': return parse_container(p, v, 0);
    case '"': v->t = J_STR; return parse_str(p, &v->str);
    case 't': if (lit(p, "true")) { v->t = J_BOOL; v->num = 1; return 0; } break;
    case 'f': if (lit(p, "false")) { v->t = J_BOOL; v->num = 0; return 0; } break;
    case 'n': if (lit(p, "null")) { v->t = J_NULL; return 0; } break;
    default: v->t = J_NUM; return parse_num(p, &v->num);
  }
  return jerr(p, "unexpected character");
}

static void jfree_inner(jval *v) {
  if (v->t == J_STR) free(v->str);
  if (v->t == J_ARR || v->t == J_OBJ) {
    for (size_t i = 0; i < v->n; i++) {
      jfree_inner(&v->items[i]);
      if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
  }
}

void json_free(jval *v) {
  if (!v) return;
  jfree_inner(v);
  free(v);
}

int json_parse(const char *s, size_t len, jval **out, char *err, size_t errcap) {
  jp p = {s, s + len, s, 0, len / 2 + 16, 0, err, errcap};
  jval *v = calloc(1, sizeof *v);
  if (!v) return jerr(&p, "out of memory");
  if (parse_val(&p, v)) { json_free(v); return -1; }
  ws(&p);
  if (p.s != p.end) { json_free(v); return jerr(&p, "trailing characters after the document"); }
  *out = v;
  return 0;
}

const jval *json_get(const jval *obj, const char *key) {
  if (!obj || obj->t != J_OBJ) return NULL;
  for (size_t i = 0; i < obj->n; i++)
    if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
  return NULL;
}

int json_matrix_f32(const jval *v, const char *what, float **out, size_t *n, size_t *k,
                    char *err, size_t errcap) {
  if (!v || v->t != J_ARR) return snprintf(err, errcap, "%s: expected an array of rows", what), -1;
  if (v->n == 0) return snprintf(err, errcap, "%s: no rows: %s", what, calib_strerror(CALIB_E_EMPTY)), -1;
  const size_t rows = v->n;
  size_t cols = 0;
  for (size_t i = 0; i < rows; i++) {
    const jval *r = &v->items[i];
    if (r->t != J_ARR) return snprintf(err, errcap, "%s: row %zu is not an array", what, i), -1;
    if (i == 0) cols = r->n;
    if (r->n == 0) return snprintf(err, errcap, "%s: row %zu is empty", what, i), -1;
    if (r->n != cols)
      return snprintf(err, errcap, "%s: row %zu has %zu values, row 0 has %zu (rows must be equal)",
                      what, i, r->n, cols), -1;
  }
  size_t count, bytes;
  if (__builtin_mul_overflow(rows, cols, &count) || __builtin_mul_overflow(count, sizeof(float), &bytes))
    return snprintf(err, errcap, "%s: %zu x %zu values overflow", what, rows, cols), -1;
  float *x = malloc(bytes ? bytes : 1);
  if (!x) return snprintf(err, errcap, "%s: out of memory", what), -1;
  for (size_t i = 0; i < rows; i++)
    for (size_t j = 0; j < cols; j++) {
      const jval *e = &v->items[i].items[j];
      if (e->t != J_NUM) {
        free(x);
        return snprintf(err, errcap, "%s: row %zu, column %zu is not a number", what, i, j), -1;
      }
      /* beyond float32's range: +-inf (the conversion itself would be undefined), refused by the library */
      const double d = e->num;
      x[i * cols + j] = d > (double)FLT_MAX ? (float)INFINITY : d < -(double)FLT_MAX ? -(float)INFINITY : (float)d;
    }
  *out = x, *n = rows, *k = cols;
  return 0;
}

/* ---- .npy bodies ---- */
int npy_body_f32(const void *buf, size_t len, size_t model_k, const float **out, float **owned,
                 size_t *n, size_t *k, int *one_dim, char *err, size_t errcap) {
  char e[CALIB__NPY_ERRLEN];
  calib__npy a;
  if (calib__npy_parse(buf, len, &a, e, sizeof e) != CALIB_OK)
    return snprintf(err, errcap, "body: not a valid .npy array: %s", e), -1;
  if (a.dtype != CALIB__NPY_F32 && a.dtype != CALIB__NPY_F64)
    return snprintf(err, errcap, "body: logits must be float32 (or float64), not %s", calib__npy_typename(a.dtype)), -1;
  size_t rows, cols;
  if (a.ndim == 2) rows = a.shape[0], cols = a.shape[1];
  else if (a.ndim == 1 && model_k == 1) rows = a.shape[0], cols = 1;
  else
    return snprintf(err, errcap, "body: logits must have shape (n, k)%s, got %zu dimensions",
                    model_k == 1 ? " or (n,)" : "", a.ndim), -1;
  if (rows == 0 || cols == 0)
    return snprintf(err, errcap, "logits: shape (%zu, %zu): %s", rows, cols, calib_strerror(CALIB_E_EMPTY)), -1;
  size_t bytes;
  if (__builtin_mul_overflow(a.count, sizeof(float), &bytes))
    return snprintf(err, errcap, "body: %zu values overflow", a.count), -1;
  const uint16_t probe = 1;
  if (a.dtype == CALIB__NPY_F32 && ((uintptr_t)a.data & 3u) == 0 && *(const uint8_t *)&probe == 1) {
    /* little-endian host, aligned float32 data: a view into the body, no copy */
    *out = (const float *)(const void *)a.data, *owned = NULL, *n = rows, *k = cols, *one_dim = a.ndim == 1;
    return 0;
  }
  float *x = malloc(bytes);
  if (!x) return snprintf(err, errcap, "body: out of memory for %zu bytes", bytes), -1;
  if (calib__npy_to_f32(&a, x, e, sizeof e) != CALIB_OK) {
    free(x);
    return snprintf(err, errcap, "body: %s", e), -1;
  }
  *out = x, *owned = x, *n = rows, *k = cols, *one_dim = a.ndim == 1;
  return 0;
}

int npy_response_alloc(size_t n, size_t k, int one_dim, char **buf, size_t *len, float **data) {
  size_t shape[2] = {n, k}, hlen, count, bytes, total;
  if (calib__npy_header(NULL, 0, CALIB__NPY_F32, shape, one_dim ? 1 : 2, &hlen) != CALIB_OK) return -1;
  if (__builtin_mul_overflow(n, k, &count) || __builtin_mul_overflow(count, sizeof(float), &bytes) ||
      __builtin_add_overflow(bytes, hlen, &total))
    return -1;
  char *p = malloc(total);
  if (!p) return -1;
  if (calib__npy_header((uint8_t *)p, total, CALIB__NPY_F32, shape, one_dim ? 1 : 2, &hlen) != CALIB_OK) {
    free(p);
    return -1;
  }
  *buf = p, *len = total, *data = (float *)(void *)(p + hlen); /* hlen % 64 == 0 */
  return 0;
}
