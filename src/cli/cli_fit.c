/*
 * cli_fit.c -- `calib fit`: fit a method on logits and labels, save the model
 * (atomically, calib_model_save_file), print a summary or one JSON object.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fitter options: one line per option. Each maps to a CALIB_P_* parameter;
 * a method that does not take it rejects it (calib_param_bounds fails), and
 * calib_fitter_set checks the value against the method's bounds. */
static const struct {
  const char *name, *metavar, *help;
  int param;
} fit_params[] = {
    {"--max-iter", "N", "maximum solver iterations", CALIB_P_MAX_ITER},
    {"--tol", "X", "stopping tolerance", CALIB_P_TOL},
    {"--smooth-targets", "0|1", "Platt's smoothed targets (1) or 0/1 targets (0)", CALIB_P_SMOOTH_TARGETS},
    {"--input", "KIND", "what --logits holds: 2 = logits, 1 = probabilities", CALIB_P_INPUT},
    {"--clip-eps", "X", "probability input (--input 1) is clipped to [X, 1-X]", CALIB_P_CLIP_EPS},
    {"--min-step", "X", "smallest line-search step before giving up", CALIB_P_MIN_STEP},
    {"--increasing", "1|0|-1", "isotonic: increasing, decreasing, -1 = auto (Spearman sign)", CALIB_P_ISO_INCREASING},
    {"--y-min", "X", "isotonic: clip the fit below at X", CALIB_P_ISO_Y_MIN},
    {"--y-max", "X", "isotonic: clip the fit above at X", CALIB_P_ISO_Y_MAX},
    {"--out-of-bounds", "0|1", "isotonic: 0 = clip to the fitted range, 1 = error", CALIB_P_ISO_OUT_OF_BOUNDS},
    {"--strict", "S", "isotonic: ramp fraction keeping ranks strict (0 = off)", CALIB_P_ISO_STRICT},
    {"--bins", "M", "histogram: number of bins", CALIB_P_HIST_BINS},
    {"--binning", "0|1", "histogram: 0 = equal width, 1 = equal mass (Kumar)", CALIB_P_HIST_BINNING},
    {"--odir-lambda", "X", "matrix/dirichlet: ODIR off-diagonal penalty lambda", CALIB_P_ODIR_LAMBDA},
    {"--odir-mu", "X", "vector/matrix/dirichlet: ODIR intercept penalty mu", CALIB_P_ODIR_MU},
    {"--l2", "X", "vector/matrix/dirichlet: plain L2 penalty", CALIB_P_L2},
    {"--l2-center", "1|0", "vector/matrix/dirichlet: L2 towards the identity map (1) or 0", CALIB_P_L2_CENTER},
    {"--newton-max", "P", "vector/matrix/dirichlet: Newton up to P parameters, L-BFGS beyond", CALIB_P_NEWTON_MAX},
    {"--lbfgs-m", "M", "vector/matrix/dirichlet: L-BFGS memory (correction pairs)", CALIB_P_LBFGS_M},
    {"--ets-loss", "0|1", "ets: weights by 0 = NLL, 1 = MSE (Mix-n-Match's default)", CALIB_P_ETS_LOSS},
};
#define NPARAMS (sizeof fit_params / sizeof fit_params[0])

typedef struct {
  const char *method, *logits, *labels, *weights, *out, *k, *max_bytes, *tag, *scale, *zero_point;
  const char *param[NPARAMS];
  int json, no_provenance;
} fit_args;

/* Prints, for each built-in method taking param, its default and range. */
static void param_bounds_help(FILE *f, int param) {
  for (int id = 1; id <= 64; id++) {
    double lo, hi, def;
    if (!calib_method_name(id) || calib_param_bounds(id, param, &lo, &hi, &def) != CALIB_OK) continue;
    fprintf(f, " [%s: default %g, range %g..%g]", calib_method_name(id), def, lo, hi);
  }
}

void calib__cli_fit_help(FILE *f) {
  fputs("usage: calib fit --method NAME --logits X.npy --labels Y.npy -o MODEL [options]\n\n"
        "Fits a calibration map on (validation) logits and labels and writes the model\n"
        "file atomically. Prints a summary, or one JSON object with --json:\n"
        "  {\"method\", \"n\", \"k\", <fitted parameters, e.g. \"temperature\">,\n"
        "   \"nll_before\", \"nll_after\", \"iterations\"}\n\n"
        "  --method NAME      calibration method; in this build: ", f);
  char list[256];
  calib__cli_method_list(list, sizeof list);
  fputs(list, f);
  fputs("\n  --logits FILE      float32/float64 .npy (n, k) or (n,) for binary; or raw *.f32;\n"
        "                     or float16/int8/uint8 .npy, fitted as stored (calib_fit_typed)\n"
        "  --scale S          int8/uint8 logits: value = S * (q - Z); S a number or a\n"
        "                     .npy of k per-class scales\n"
        "  --zero-point Z     int8/uint8 logits: an integer (default 0) or a .npy of k\n"
        "  --labels FILE      int32/int64 .npy (n,); or raw *.i32\n"
        "  -o, --output FILE  model file to write\n"
        "  --k K              columns of a raw *.f32 logits file\n"
        "  --weights FILE     float32/float64 .npy (n,) of non-negative row weights\n"
        "  --max-bytes N      refuse an input of more than N data bytes (default: 4 GiB,\n"
        "                     and 256 MiB from a pipe or device, read only that far)\n"
        "  --tag TEXT         a label stored in the model (UTF-8, at most 255 bytes;\n"
        "                     shown by `calib info`)\n"
        "  --no-provenance    write the model without its fit-time reference, metrics,\n"
        "                     creation time and tag (format version 1, bytes as before provenance)\n", f);
  for (size_t i = 0; i < NPARAMS; i++) {
    char flag[64];
    snprintf(flag, sizeof flag, "%s %s", fit_params[i].name, fit_params[i].metavar);
    fprintf(f, "  %-18s %s", flag, fit_params[i].help);
    param_bounds_help(f, fit_params[i].param);
    fputc('\n', f);
  }
  fputs("  --json             print one JSON object instead of the summary\n", f);
}

static int parse_args(int argc, char **argv, fit_args *a) {
  calib__cli_opt opts[13 + NPARAMS] = {
      {"--method", "NAME", &a->method, NULL}, {"--logits", "FILE", &a->logits, NULL},
      {"--labels", "FILE", &a->labels, NULL}, {"--weights", "FILE", &a->weights, NULL},
      {"-o", "FILE", &a->out, NULL},          {"--output", "FILE", &a->out, NULL},
      {"--k", "K", &a->k, NULL},              {"--json", NULL, NULL, &a->json},
      {"--max-bytes", "N", &a->max_bytes, NULL}, {"--tag", "TEXT", &a->tag, NULL},
      {"--no-provenance", NULL, NULL, &a->no_provenance},
      {"--scale", "S", &a->scale, NULL},      {"--zero-point", "Z", &a->zero_point, NULL}};
  size_t nopts = 13;
  for (size_t i = 0; i < NPARAMS; i++, nopts++) {
    calib__cli_opt o = {fit_params[i].name, fit_params[i].metavar, &a->param[i], NULL};
    opts[nopts] = o;
  }
  const int st = calib__cli_parse("fit", argc, argv, opts, nopts, NULL, 0, NULL);
  if (st != CALIB__CLI_OK) return st;
  if (!a->method) return calib__cli_usage("fit", "missing --method");
  if (!a->logits) return calib__cli_usage("fit", "missing --logits");
  if (!a->labels) return calib__cli_usage("fit", "missing --labels");
  if (!a->out) return calib__cli_usage("fit", "missing -o MODEL");
  if (a->tag && a->no_provenance) return calib__cli_usage("fit", "--tag needs provenance: drop --no-provenance");
  return CALIB__CLI_OK;
}

/* Creates the fitter for a->method and applies the option table. */
static int make_fitter(const fit_args *a, calib_fitter **f) {
  const int method = calib_method_from_name(a->method);
  char list[256];
  calib__cli_method_list(list, sizeof list);
  if (method < 0) return calib__cli_usage("fit", "unknown method '%s' (this build has: %s)", a->method, list);
  int st = calib_fitter_create(f, method);
  if (st == CALIB_E_UNSUPPORTED)
    return calib__cli_usage("fit", "method '%s' is not built into this calib (this build has: %s)", a->method, list);
  if (st != CALIB_OK) return calib__cli_error("fit", "%s", calib_strerror(st));
  if (calib_fitter_set_provenance(*f, !a->no_provenance, a->tag) != CALIB_OK) {
    calib_fitter_free(*f);
    *f = NULL;
    return calib__cli_usage("fit", "--tag: must be valid UTF-8 of at most %d bytes", CALIB_MODEL_TAG_MAX);
  }
  for (size_t i = 0; i < NPARAMS; i++) {
    if (!a->param[i]) continue;
    double v = 0, lo = 0, hi = 0;
    if (calib_param_bounds(method, fit_params[i].param, &lo, &hi, NULL) != CALIB_OK)
      st = calib__cli_usage("fit", "%s is not an option of method %s", fit_params[i].name, a->method);
    else if ((st = calib__cli_double("fit", fit_params[i].name, a->param[i], &v)) == CALIB__CLI_OK &&
             calib_fitter_set(*f, fit_params[i].param, v) != CALIB_OK)
      st = calib__cli_usage("fit", "%s %s: must be %sin [%g, %g] for method %s", fit_params[i].name, a->param[i],
                            v >= lo && v <= hi ? "an integer " : "", lo, hi, a->method);
    if (st != CALIB__CLI_OK) {
      calib_fitter_free(*f);
      *f = NULL;
      return st;
    }
  }
  return CALIB__CLI_OK;
}

static void print_summary(const fit_args *a, const calib_fitter *f, const calib_model *m, size_t n, size_t k) {
  double before = 0, after = 0, iters = 0, grad = NAN, gap = NAN, cond = NAN;
  (void)calib_fitter_report(f, CALIB_R_NLL_BEFORE, &before);
  (void)calib_fitter_report(f, CALIB_R_NLL_AFTER, &after);
  (void)calib_fitter_report(f, CALIB_R_ITERATIONS, &iters);
  (void)calib_fitter_report(f, CALIB_R_GRADIENT, &grad);
  (void)calib_fitter_report(f, CALIB_R_GAP, &gap);
  (void)calib_fitter_report(f, CALIB_R_CONDITION, &cond);
  const int ill = cond > CALIB_ILL_CONDITIONED; /* false for NaN */
  if (ill) /* the fit succeeded; say why its parameters may be far out */
    fprintf(stderr,
            "calib fit: warning: ill-conditioned: Hessian condition number %.3g > %.0e; the optimum lies along a "
            "nearly flat direction (estimated gap %.3g): add ODIR or L2 (--odir-lambda, --odir-mu, --l2)\n",
            cond, CALIB_ILL_CONDITIONED, gap);
  calib__cli_out o;
  calib__cli_out_begin(&o, stdout, a->json);
  calib__cli_out_str(&o, "method", calib_method_name(calib_model_method(m)));
  calib__cli_out_size(&o, "n", n);
  calib__cli_out_size(&o, "k", k);
  calib__cli_print_params(&o, m);
  calib__cli_out_num(&o, "nll_before", before);
  calib__cli_out_num(&o, "nll_after", after);
  calib__cli_out_size(&o, "iterations", iters > 0 ? (size_t)iters : 0);
  calib__cli_out_num(&o, "gradient", grad);
  calib__cli_out_num(&o, "gap", gap);          /* JSON null: not computed (or infinite) */
  calib__cli_out_num(&o, "condition", cond);
  calib__cli_out_size(&o, "ill_conditioned", (size_t)ill);
  if (!a->json) calib__cli_out_str(&o, "model", a->out);
  calib__cli_out_end(&o);
}

/* The input file a fit error is about, from the argument the library names
 * (calib_fitter_error): the labels, the weights, else the logits. */
static const char *fit_culprit(const fit_args *a, const calib_error *e) {
  if (strcmp(e->arg, "labels") == 0) return a->labels;
  if (strcmp(e->arg, "weights") == 0 && a->weights) return a->weights;
  return a->logits;
}

/* "<method> fit failed: <the library's message>" on the culprit file. */
static int fit_error(const fit_args *a, calib_fitter *f, int status) {
  calib_error e;
  if (calib_fitter_error(f, &e) != CALIB_OK || e.code != status)
    return calib__cli_error(a->logits, "%s fit failed: %s", a->method, calib_strerror(status));
  return calib__cli_error(fit_culprit(a, &e), "%s fit failed: %s", a->method, e.message);
}

/* Loads the data, fits, saves. */
static int run(const fit_args *a, calib_fitter *f) {
  size_t n = 0, k = 0, rawk = 0;
  calib__cli_logits L;
  int64_t *y = NULL;
  double *w = NULL;
  calib_model *m = NULL;
  memset(&L, 0, sizeof L);
  int st = a->k ? calib__cli_size("fit", "--k", a->k, 1, (size_t)1 << 24, &rawk) : CALIB__CLI_OK;
  if (st == CALIB__CLI_OK) st = calib__cli_input_limit("fit", a->max_bytes);
  calib__cli_typed_options(a->scale, a->zero_point);
  if (st == CALIB__CLI_OK && (st = calib__cli_load_logits_typed(a->logits, rawk, 0, &L)) == CALIB__CLI_OK) {
    n = L.n;
    k = L.k;
  }
  if (st == CALIB__CLI_OK) st = calib__cli_load_labels(a->labels, a->logits, n, k, &y);
  if (st == CALIB__CLI_OK && a->weights) st = calib__cli_load_weights(a->weights, a->logits, n, &w);
  if (st == CALIB__CLI_OK) {
    const int fs = L.in.dtype == CALIB_DTYPE_F32 ? calib_fit(f, L.x, n, k, y, w, &m)
                                                  : calib_fit_typed(f, &L.in, n, k, y, w, &m);
    if (fs != CALIB_OK) st = fit_error(a, f, fs);
  }
  if (st == CALIB__CLI_OK) {
    calib_error err;
    if (calib_model_save_file_ex(m, a->out, &err) != CALIB_OK)
      st = calib__cli_error(a->out, "cannot write the model: %s", err.message);
  }
  if (st == CALIB__CLI_OK) print_summary(a, f, m, n, k);
  calib_model_free(m);
  calib__cli_logits_free(&L);
  free(y);
  free(w);
  return st;
}

int calib__cli_fit(int argc, char **argv) {
  fit_args a;
  memset(&a, 0, sizeof a);
  int st = parse_args(argc, argv, &a);
  if (st != CALIB__CLI_OK) return st;
  calib_fitter *f = NULL;
  if ((st = make_fitter(&a, &f)) != CALIB__CLI_OK) return st;
  st = run(&a, f);
  calib_fitter_free(f);
  return st;
}
