/*
 * cli_diagram.c -- `calib diagram`, and the metrics-suite options of
 * `calib eval` (--suite NAME, --svg FILE).
 *
 * Before/after: "before" is the raw logits (softmax, sigmoid for k = 1),
 * "after" the fitted model's probabilities. The suite reads the raw logits
 * as logits (float64 softmax, exact NLL) and the model's float32
 * probabilities as probabilities. Diagrams are top-label for k >= 2 and
 * positive-class (P(y = 1)) for k = 1, with the ECE of the same bins in the
 * legend.
 */
#include "cli.h"
#include "../io/svg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BINS 15

/* ---- Probabilities of both states ------------------------------------------------ */

/* *raw = softmax/sigmoid of x; *cal = the model's probabilities (m may be NULL). */
static int both_states(const char *where, const calib_model *m, const float *x, size_t n, size_t k,
                       float **raw, float **cal) {
  *raw = calib__cli_alloc_f32(n, k);
  *cal = m ? calib__cli_alloc_f32(n, k) : NULL;
  if (!*raw || (m && !*cal)) return calib__cli_error(where, "out of memory");
  int st = k == 1 ? calib_sigmoid(x, n, 1.0f, *raw) : calib_softmax(x, n, k, 0, 1.0f, *raw, 0);
  if (st == CALIB_OK && m) st = calib_apply(m, x, n, k, *cal);
  if (st != CALIB_OK) return calib__cli_error(where, "probabilities: %s", calib_strerror(st));
  return CALIB__CLI_OK;
}

/* ---- Reliability diagrams ---------------------------------------------------------- */

static const char *binning_text(int binning) {
  switch (binning) {
    case CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED: return "equal-width [lo,hi)";
    case CALIB_BINNING_EQUAL_MASS_KUMAR: return "equal-mass (Kumar)";
    case CALIB_BINNING_EQUAL_MASS_INDEX: return "equal-mass (index)";
    default: return "equal-width";
  }
}

typedef struct {
  double *rows, *hist; /* hist: equal-width rows for the histogram */
  size_t nbins, hist_nbins;
  double ece;
  char title[96], label[64];
} panel_data;

static int panel_of(const char *where, const float *p, size_t n, size_t k, const int64_t *y, size_t bins,
                    int binning, const char *title, panel_data *d) {
  const int scope = k == 1 ? CALIB_SCOPE_POSITIVE_CLASS : CALIB_SCOPE_TOP_LABEL;
  d->rows = (double *)malloc(2 * bins * CALIB_RD_FIELDS * sizeof(double));
  if (!d->rows) return calib__cli_error(where, "out of memory");
  d->hist = d->rows + bins * CALIB_RD_FIELDS;
  int st = calib_reliability(p, n, k, y, bins, scope, binning, 1.959963984540054, d->rows,
                             bins * CALIB_RD_FIELDS, &d->nbins);
  if (st == CALIB_OK)
    st = calib_reliability(p, n, k, y, bins, scope, CALIB_BINNING_EQUAL_WIDTH, 1.959963984540054, d->hist,
                           bins * CALIB_RD_FIELDS, &d->hist_nbins);
  if (st == CALIB_OK) st = calib_calibration_error(p, n, k, y, bins, scope, binning, CALIB_NORM_L1, &d->ece);
  if (st != CALIB_OK) return calib__cli_error(where, "reliability diagram: %s", calib_strerror(st));
  snprintf(d->title, sizeof d->title, "%s", title);
  snprintf(d->label, sizeof d->label, "ECE (%zu %s bins)", bins, binning_text(binning));
  return CALIB__CLI_OK;
}

static int write_svg(const char *path, panel_data *d, size_t np) {
  calib__svg_panel p[2];
  for (size_t i = 0; i < np; i++) {
    p[i].title = d[i].title;
    p[i].rows = d[i].rows;
    p[i].nbins = d[i].nbins;
    p[i].ece = d[i].ece;
    p[i].ece_label = d[i].label;
    p[i].hist = d[i].hist;
    p[i].hist_nbins = d[i].hist_nbins;
  }
  char *svg = NULL, err[CALIB__NPY_ERRLEN];
  size_t len = 0;
  if (calib__svg_reliability(p, np, &svg, &len) != CALIB_OK) return calib__cli_error(path, "out of memory");
  const void *parts[1] = {svg};
  const int st = calib__io_write_atomic(path, parts, &len, 1, err, sizeof err);
  free(svg);
  return st == CALIB_OK ? CALIB__CLI_OK : calib__cli_error(path, "%s", err);
}

/* Diagram of the raw probabilities, and of the calibrated ones beside it. */
static int diagram(const char *svg_path, const char *where, const calib_model *m, const float *raw,
                   const float *cal, size_t n, size_t k, const int64_t *y, size_t bins, int binning) {
  panel_data d[2];
  memset(d, 0, sizeof d);
  char after[96];
  const char *name = m ? calib_method_name(calib_model_method(m)) : NULL;
  snprintf(after, sizeof after, "after: %s", name ? name : "model");
  int st = panel_of(where, raw, n, k, y, bins, binning, m ? "before: raw scores" : "raw scores", &d[0]);
  if (st == CALIB__CLI_OK && m) st = panel_of(where, cal, n, k, y, bins, binning, after, &d[1]);
  if (st == CALIB__CLI_OK) st = write_svg(svg_path, d, m ? 2 : 1);
  free(d[0].rows);
  free(d[1].rows);
  return st;
}

/* ---- The suite --------------------------------------------------------------------- */

static int suite_id(const char *name) {
  return strcmp(name, "tao2024") == 0 ? CALIB_SUITE_TAO2024 : 0;
}

static int run_suite(const char *where, int suite, const float *x, size_t n, size_t k, const int64_t *y,
                     int input, double *v, int *st) {
  const int r = calib_suite_eval(suite, x, n, k, y, input, v, st, calib_suite_size(suite));
  return r == CALIB_OK ? CALIB__CLI_OK : calib__cli_error(where, "suite: %s", calib_strerror(r));
}

static void json_values(int suite, const double *v, const int *st) {
  for (size_t i = 0; i < calib_suite_size(suite); i++) {
    printf("%s\"%s\": ", i ? ", " : "", calib_suite_key(suite, i));
    if (st[i] == CALIB_OK && isfinite(v[i]))
      printf("%.17g", v[i]);
    else
      printf("null");
  }
}

static void human_value(double v, int st, int last) {
  if (st != CALIB_OK)
    printf(last ? "  %s" : "  %-18s", "undefined");
  else
    printf(last ? "  %.10g" : "  %-18.10g", v);
}

static void print_suite(const char *name, int suite, int json, const calib_model *m, size_t n, size_t k,
                        const double *v0, const int *s0, const double *v1, const int *s1) {
  const char *method = m ? calib_method_name(calib_model_method(m)) : NULL;
  if (json) {
    printf("{\"suite\": \"%s\", \"n\": %zu, \"k\": %zu", name, n, k);
    if (!m) {
      printf(", ");
      json_values(suite, v0, s0);
    } else {
      printf(", \"model\": \"%s\", \"before\": {", method ? method : "?");
      json_values(suite, v0, s0);
      printf("}, \"after\": {");
      json_values(suite, v1, s1);
      printf("}");
    }
    printf("}\n");
    return;
  }
  printf("suite %s: n = %zu, k = %zu%s%s\n", name, n, k, m ? ", model " : "", m && method ? method : "");
  if (m)
    printf("%-14s  %-18s  after\n", "measure", "before");
  else
    printf("%-14s  value\n", "measure");
  for (size_t i = 0; i < calib_suite_size(suite); i++) {
    printf("%-14s", calib_suite_key(suite, i));
    human_value(v0[i], s0[i], !m);
    if (m) human_value(v1[i], s1[i], 1);
    printf("\n");
  }
}

static int suite_report(const char *where, const char *name, int json, const calib_model *m, const float *x,
                        const float *cal, size_t n, size_t k, const int64_t *y) {
  const int suite = suite_id(name);
  const size_t size = calib_suite_size(suite);
  double *v = (double *)malloc(2 * size * sizeof(double));
  int *s = (int *)malloc(2 * size * sizeof(int));
  if (!v || !s) {
    free(v);
    free(s);
    return calib__cli_error(where, "out of memory");
  }
  int st = run_suite(where, suite, x, n, k, y, CALIB_INPUT_LOGITS, v, s);
  if (st == CALIB__CLI_OK && m) st = run_suite(where, suite, cal, n, k, y, CALIB_INPUT_PROBS, v + size, s + size);
  if (st == CALIB__CLI_OK) print_suite(name, suite, json, m, n, k, v, s, v + size, s + size);
  free(v);
  free(s);
  return st;
}

int calib__cli_eval_extras(const char *where, const char *suite, const char *svg, int json,
                           const calib_model *m, const float *x, size_t n, size_t k, const int64_t *y,
                           size_t bins) {
  if (suite && !suite_id(suite)) return calib__cli_usage("eval", "unknown suite '%s' (known: tao2024)", suite);
  float *raw = NULL, *cal = NULL;
  int st = both_states(where, m, x, n, k, &raw, &cal);
  if (st == CALIB__CLI_OK && suite) st = suite_report(where, suite, json, m, x, cal, n, k, y);
  if (st == CALIB__CLI_OK && svg)
    st = diagram(svg, where, m, raw, cal, n, k, y, bins, CALIB_BINNING_EQUAL_WIDTH);
  free(raw);
  free(cal);
  return st;
}

/* ---- calib diagram ------------------------------------------------------------------- */

void calib__cli_diagram_help(FILE *f) {
  fputs("usage: calib diagram --logits X.npy --labels Y.npy [--model MODEL] [-o FILE.svg]\n"
        "                     [--bins 15] [--binning ew|ew-left|kumar|index] [--k K]\n\n"
        "Writes a reliability diagram as SVG and prints its path: per bin the accuracy\n"
        "(bars, with its Wilson 95% interval), the gap to the mean confidence (red),\n"
        "the diagonal, the ECE of the same bins, and the confidence histogram below.\n"
        "Top-label for k >= 2, P(y = 1) for a binary problem (k = 1). With --model the\n"
        "raw scores and the calibrated ones are drawn side by side.\n\n"
        "  --logits FILE   float32/float64 .npy (n, k) or (n,); or raw *.f32 (needs --k)\n"
        "  --labels FILE   int32/int64 .npy (n,); or raw *.i32\n"
        "  --model FILE    also draw the calibrated probabilities of this model\n"
        "  -o, --output F  the SVG file (default reliability.svg), written atomically\n"
        "  --bins M        number of bins (default 15)\n"
        "  --binning B     ew: (lo, hi] equal width (default); ew-left: [lo, hi);\n"
        "                  kumar: Kumar et al.'s equal-mass bins; index: Nixon et al.'s\n"
        "  --k K           columns of a raw *.f32 file\n"
        "  --max-bytes N   refuse an input of more than N data bytes (default: 4 GiB,\n"
        "                  256 MiB from a pipe or device)\n", f);
}

static int parse_binning(const char *s, int *out) {
  static const char *const names[] = {"ew", "ew-left", "kumar", "index"};
  static const int ids[] = {CALIB_BINNING_EQUAL_WIDTH, CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED,
                            CALIB_BINNING_EQUAL_MASS_KUMAR, CALIB_BINNING_EQUAL_MASS_INDEX};
  for (int i = 0; i < 4; i++)
    if (strcmp(s, names[i]) == 0) {
      *out = ids[i];
      return CALIB__CLI_OK;
    }
  return calib__cli_usage("diagram", "--binning must be ew, ew-left, kumar or index, not '%s'", s);
}

typedef struct {
  const char *logits, *labels, *model, *out, *out_long, *bins, *binning, *k, *max_bytes;
} diagram_args;

static int diagram_run(const diagram_args *a, size_t rawk, size_t bins, int binning) {
  calib_model *m = NULL;
  float *x = NULL, *raw = NULL, *cal = NULL;
  int64_t *y = NULL;
  size_t n = 0, k = 0;
  const char *path = a->out ? a->out : a->out_long ? a->out_long : "reliability.svg";
  int st = calib__cli_load_scored(a->model, a->logits, a->labels, rawk, "draw", &m, &x, &n, &k, &y);
  if (st == CALIB__CLI_OK) st = both_states(a->logits, m, x, n, k, &raw, &cal);
  if (st == CALIB__CLI_OK) st = diagram(path, a->logits, m, raw, cal, n, k, y, bins, binning);
  if (st == CALIB__CLI_OK) printf("%s\n", path);
  calib_model_free(m);
  free(x);
  free(y);
  free(raw);
  free(cal);
  return st;
}

int calib__cli_diagram(int argc, char **argv) {
  diagram_args a;
  memset(&a, 0, sizeof a);
  const calib__cli_opt opts[] = {
      {"--logits", "FILE", &a.logits, NULL}, {"--labels", "FILE", &a.labels, NULL},
      {"--model", "FILE", &a.model, NULL},   {"-o", "FILE", &a.out, NULL},
      {"--output", "FILE", &a.out_long, NULL}, {"--bins", "M", &a.bins, NULL},
      {"--binning", "B", &a.binning, NULL}, {"--k", "K", &a.k, NULL},
      {"--max-bytes", "N", &a.max_bytes, NULL}};
  int st = calib__cli_parse("diagram", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
  if (st != CALIB__CLI_OK) return st;
  if (!a.logits) return calib__cli_usage("diagram", "missing --logits");
  if (!a.labels) return calib__cli_usage("diagram", "missing --labels");
  if (a.out && a.out_long) return calib__cli_usage("diagram", "-o and --output both given");
  size_t rawk = 0, bins = DEFAULT_BINS;
  int binning = CALIB_BINNING_EQUAL_WIDTH;
  if (a.k && (st = calib__cli_size("diagram", "--k", a.k, 1, (size_t)1 << 24, &rawk)) != CALIB__CLI_OK) return st;
  if (a.bins && (st = calib__cli_size("diagram", "--bins", a.bins, 1, 10000, &bins)) != CALIB__CLI_OK) return st;
  if (a.binning && (st = parse_binning(a.binning, &binning)) != CALIB__CLI_OK) return st;
  if ((st = calib__cli_input_limit("diagram", a.max_bytes)) != CALIB__CLI_OK) return st;
  return diagram_run(&a, rawk, bins, binning);
}
