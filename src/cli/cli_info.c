/* cli_info.c -- `calib info MODEL`: what a model file holds, and where it came
 * from (the provenance of a format-version-2 model). */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void calib__cli_info_help(FILE *f) {
  fputs("usage: calib info [--json] MODEL\n\n"
        "Validates a model file and prints its method, k (1 = binary), model format\n"
        "version, size in bytes and fitted parameters (temperature: T), then its\n"
        "provenance (format version 2, written by `calib fit` unless --no-provenance):\n"
        "creation time (ISO-8601 UTC), tag, rows n of the fit set, the class prior of\n"
        "its labels, NLL / ECE (15 bins) / Brier before and after calibration, and\n"
        "the fit-time histograms of the calibrated top-label confidence (20 equal-width\n"
        "bins) and of the predicted class. --json prints one object:\n"
        "  {\"method\", \"k\", \"format_version\", \"size_bytes\", <parameters>,\n"
        "   \"created_unix\", \"created\", \"tag\", \"n\", \"nll_before\", \"ece_before\",\n"
        "   \"brier_before\", \"nll_after\", \"ece_after\", \"brier_after\", \"has_reference\"\n"
        "   [, \"prior\", \"confidence_hist\", \"class_hist\"]}\n"
        "(unknown values are null; \"created\" is null when the time is unknown).\n", f);
}

/* The most entries of a prior / class histogram printed for people (--json
 * prints them all). */
#define HUMAN_MAX 24

/* A histogram as a row of counts plus, for people, one character per bin on
 * the ASCII ramp " .:-=+*#%@" (empty bin: space; the largest: '@'). */
static void print_hist(calib__cli_out *o, const char *key, const double *v, size_t n) {
  if (o->json || n > HUMAN_MAX) {
    calib__cli_out_array(o, key, v, n < HUMAN_MAX || o->json ? n : HUMAN_MAX);
    if (!o->json) fprintf(o->f, "%-16s (first %d of %zu; --json for all)\n", "", HUMAN_MAX, n);
    return;
  }
  static const char ramp[] = " .:-=+*#%@";
  double top = 0;
  for (size_t i = 0; i < n; i++) top = v[i] > top ? v[i] : top;
  calib__cli_out_array(o, key, v, n);
  fprintf(o->f, "%-16s |", "");
  for (size_t i = 0; i < n; i++) fputc(ramp[top > 0 ? (int)ceil(9 * v[i] / top) : 0], o->f);
  fputs("|\n", o->f);
}

static void print_reference(calib__cli_out *o, const calib_model *m) {
  calib_reference *r = NULL;
  if (calib_model_reference(m, &r) != CALIB_OK) return; /* checked: has_reference */
  double *buf = NULL;
  size_t kc = 0;
  if (calib_reference_get(r, CALIB_REF_PRIOR, NULL, 0, &kc) == CALIB_OK &&
      (buf = (double *)malloc((kc > CALIB_REF_CONF_BINS ? kc : CALIB_REF_CONF_BINS) * sizeof(double)))) {
    size_t c;
    if (calib_reference_get(r, CALIB_REF_PRIOR, buf, kc, &c) == CALIB_OK) {
      calib__cli_out_array(o, "prior", buf, o->json || c <= HUMAN_MAX ? c : HUMAN_MAX);
      if (!o->json && c > HUMAN_MAX) fprintf(o->f, "%-16s (first %d of %zu; --json for all)\n", "", HUMAN_MAX, c);
    }
    if (calib_reference_get(r, CALIB_REF_CONF_HIST, buf, CALIB_REF_CONF_BINS, &c) == CALIB_OK)
      print_hist(o, "confidence_hist", buf, c);
    if (calib_reference_get(r, CALIB_REF_CLASS_HIST, buf, kc, &c) == CALIB_OK) print_hist(o, "class_hist", buf, c);
  }
  free(buf);
  calib_reference_free(r);
}

static void print_provenance(calib__cli_out *o, const calib_model *m) {
  calib_model_info in;
  if (calib_model_info_get(m, &in) != CALIB_OK) return;
  if (!o->json && in.format_version < 2) {
    calib__cli_out_str(o, "provenance", "none (format version 1)");
    return;
  }
  char when[32] = "";
  const time_t t = (time_t)in.created_unix;
  struct tm tm;
  if (in.created_unix > 0 && gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  calib__cli_out_size(o, "created_unix", (size_t)in.created_unix);
  if (o->json && !when[0]) {
    calib__cli_out_num(o, "created", NAN); /* null */
  } else {
    calib__cli_out_str(o, "created", when[0] ? when : "unknown");
  }
  calib__cli_out_str(o, "tag", in.tag[0] || o->json ? in.tag : "(none)");
  calib__cli_out_size(o, "n", (size_t)in.n);
  calib__cli_out_num(o, "nll_before", in.nll_before);
  calib__cli_out_num(o, "ece_before", in.ece_before);
  calib__cli_out_num(o, "brier_before", in.brier_before);
  calib__cli_out_num(o, "nll_after", in.nll_after);
  calib__cli_out_num(o, "ece_after", in.ece_after);
  calib__cli_out_num(o, "brier_after", in.brier_after);
  calib__cli_out_size(o, "has_reference", (size_t)in.has_reference);
  if (in.has_reference) print_reference(o, m);
}

int calib__cli_info(int argc, char **argv) {
  int json = 0;
  const char *path[1] = {NULL};
  size_t npos = 0;
  const calib__cli_opt opts[] = {{"--json", NULL, NULL, &json}};
  int st = calib__cli_parse("info", argc, argv, opts, 1, path, 1, &npos);
  if (st != CALIB__CLI_OK) return st;
  if (npos != 1) return calib__cli_usage("info", "missing MODEL file");
  calib_model *m = NULL;
  size_t nbytes = 0;
  unsigned version = 0;
  if ((st = calib__cli_load_model(path[0], &m, &nbytes, &version)) != CALIB__CLI_OK) return st;
  calib__cli_out o;
  calib__cli_out_begin(&o, stdout, json);
  calib__cli_out_str(&o, "method", calib_method_name(calib_model_method(m)));
  calib__cli_out_size(&o, "k", calib_model_classes(m));
  calib__cli_out_size(&o, "format_version", version);
  calib__cli_out_size(&o, "size_bytes", nbytes);
  calib__cli_print_params(&o, m);
  print_provenance(&o, m);
  calib__cli_out_end(&o);
  calib_model_free(m);
  return CALIB__CLI_OK;
}
