/*
 * cli_json.c -- the key/value emitter every command prints through: one
 * "key  value" line per field for people, or one JSON object on one line
 * (--json). Reals print with %.17g so they read back bit-exact; JSON has no
 * inf/nan, so a non-finite real is null there.
 */
#include "cli.h"

#include <math.h>

void calib__cli_out_begin(calib__cli_out *o, FILE *f, int json) {
  o->f = f;
  o->json = json;
  o->nfields = 0;
  if (json) fputc('{', f);
}

/* A JSON string literal: quotes, backslashes and control bytes escaped. */
static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(f, "\\u%04x", (unsigned)*p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

static void key(calib__cli_out *o, const char *k) {
  if (o->json) {
    if (o->nfields) fputs(", ", o->f);
    json_string(o->f, k);
    fputs(": ", o->f);
  } else {
    fprintf(o->f, "%-16s ", k);
  }
  o->nfields++;
}

static void number(calib__cli_out *o, double v) {
  if (isfinite(v))
    fprintf(o->f, "%.17g", v);
  else
    fputs(o->json ? "null" : isnan(v) ? "nan" : v > 0 ? "inf" : "-inf", o->f);
}

void calib__cli_out_str(calib__cli_out *o, const char *k, const char *v) {
  key(o, k);
  if (o->json)
    json_string(o->f, v);
  else
    fputs(v, o->f);
  if (!o->json) fputc('\n', o->f);
}

void calib__cli_out_size(calib__cli_out *o, const char *k, size_t v) {
  key(o, k);
  fprintf(o->f, o->json ? "%zu" : "%zu\n", v);
}

void calib__cli_out_num(calib__cli_out *o, const char *k, double v) {
  key(o, k);
  number(o, v);
  if (!o->json) fputc('\n', o->f);
}

void calib__cli_out_array(calib__cli_out *o, const char *k, const double *v, size_t n) {
  key(o, k);
  fputs(o->json ? "[" : "", o->f);
  for (size_t i = 0; i < n; i++) {
    if (i) fputs(o->json ? ", " : " ", o->f);
    number(o, v[i]);
  }
  fputs(o->json ? "]" : "\n", o->f);
}

void calib__cli_out_end(calib__cli_out *o) {
  if (o->json) fputs("}\n", o->f);
}
