/* cli_args.c -- table-driven option parsing and strict number conversion. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The table entry whose name is arg (or arg's "--name" part before '='). */
static const calib__cli_opt *find_opt(const char *arg, const calib__cli_opt *opts, size_t nopts,
                                      const char **inline_value) {
  const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
  const size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
  for (size_t i = 0; i < nopts; i++)
    if (strlen(opts[i].name) == len && strncmp(opts[i].name, arg, len) == 0) {
      *inline_value = eq ? eq + 1 : NULL;
      return &opts[i];
    }
  return NULL;
}

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

/* Stores one option (and its value, from "=..." or the next argument). */
static int take_opt(const char *cmd, const calib__cli_opt *o, const char *inl, int argc, char **argv,
                    int *i) {
  if (!o->metavar) {
    if (inl) return calib__cli_usage(cmd, "%s takes no value", o->name);
    if (*o->flag) return calib__cli_usage(cmd, "%s given twice", o->name);
    *o->flag = 1;
    return CALIB__CLI_OK;
  }
  if (*o->value) return calib__cli_usage(cmd, "%s given twice", o->name);
  if (!inl) {
    if (*i + 1 >= argc) return calib__cli_usage(cmd, "%s needs a value (%s)", o->name, o->metavar);
    inl = argv[++*i];
  }
  *o->value = inl;
  return CALIB__CLI_OK;
}

int calib__cli_parse(const char *cmd, int argc, char **argv, const calib__cli_opt *opts,
                     size_t nopts, const char **pos, size_t maxpos, size_t *npos) {
  size_t np = 0;
  int only_pos = 0;
  for (int i = 1; i < argc; i++)
    if (is_help(argv[i])) return CALIB__CLI_HELP;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!only_pos && !strcmp(a, "--")) {
      only_pos = 1;
      continue;
    }
    if (!only_pos && a[0] == '-' && a[1] != '\0') {
      const char *inl = NULL;
      const calib__cli_opt *o = find_opt(a, opts, nopts, &inl);
      if (!o) return calib__cli_usage(cmd, "unknown option '%s'", a);
      const int st = take_opt(cmd, o, inl, argc, argv, &i);
      if (st != CALIB__CLI_OK) return st;
      continue;
    }
    if (np == maxpos) return calib__cli_usage(cmd, "unexpected argument '%s'", a);
    pos[np++] = a;
  }
  if (npos) *npos = np;
  return CALIB__CLI_OK;
}

int calib__cli_size(const char *cmd, const char *opt, const char *s, size_t lo, size_t hi, size_t *out) {
  char *end = NULL;
  errno = 0;
  const unsigned long long v = (s[0] >= '0' && s[0] <= '9') ? strtoull(s, &end, 10) : 0;
  if (!end || *end != '\0' || errno == ERANGE || v < lo || v > hi)
    return calib__cli_usage(cmd, "%s '%s': expected an integer in [%zu, %zu]", opt, s, lo, hi);
  *out = (size_t)v;
  return CALIB__CLI_OK;
}

int calib__cli_double(const char *cmd, const char *opt, const char *s, double *out) {
  char *end = NULL;
  errno = 0;
  const double v = strtod(s, &end);
  if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
    return calib__cli_usage(cmd, "%s '%s': expected a finite number", opt, s);
  *out = v;
  return CALIB__CLI_OK;
}
