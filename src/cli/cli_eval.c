/*
 * cli_eval.c -- `calib eval`: accuracy, NLL, Brier, ECE and MCE of logits,
 * raw (softmax / sigmoid with beta = 1) or through a fitted model.
 *
 * NLL: without a model it is calib_nll_logits on the raw logits (exact
 * log-sum-exp, no clipping); with a model it is calib_nll on the model's
 * float32 probabilities (+inf, printed null in JSON, if a true class gets
 * probability 0). Every other measure is on the probabilities.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_BINS 15

typedef struct {
  const char *logits, *labels, *model, *k, *bins, *max_bytes, *scale, *zero_point;
  const char *suite, *svg; /* cli_diagram.c */
  int json;
} eval_args;

typedef struct {
  double accuracy, nll, brier, ece, mce;
} metrics;

void calib__cli_eval_help(FILE *f) {
  fputs("usage: calib eval --logits X.npy --labels Y.npy [--model MODEL] [--bins 15] [--json]\n\n"
        "Accuracy, NLL, Brier score, ECE and MCE (top-label, equal-width bins (b/M, (b+1)/M],\n"
        "0 in the first bin) of the raw logits (softmax, or sigmoid for k = 1) or, with\n"
        "--model, of the calibrated probabilities. --json prints one object:\n"
        "  {\"n\", \"k\", \"accuracy\", \"nll\", \"brier\", \"ece\", \"mce\", \"bins\"}\n\n"
        "  --logits FILE   float32/float64 .npy (n, k) or (n,); or raw *.f32; or\n"
        "                  float16/int8/uint8 .npy (dequantized as calib_apply_typed does)\n"
        "  --scale S       int8/uint8 logits: value = S * (q - Z); S a number or a .npy of k\n"
        "  --zero-point Z  int8/uint8 logits: an integer (default 0) or a .npy of k\n"
        "  --labels FILE   int32/int64 .npy (n,); or raw *.i32\n"
        "  --model FILE    evaluate calibrated probabilities of this model\n"
        "  --k K           columns of a raw *.f32 file (default with --model: the model's k)\n"
        "  --bins M        bins of ECE and MCE (default 15)\n"
        "  --max-bytes N   refuse an input of more than N data bytes (default: 4 GiB,\n"
        "                  and 256 MiB from a pipe or device, read only that far)\n"
        "  --json          print one JSON object\n"
        "  --suite NAME    instead, every measure of a benchmark suite: tao2024 (Tao et al.,\n"
        "                  ICLR 2024: ece_ew_B, ece_em_B, cwece_ew_B, cwece_em_B, mce_B for\n"
        "                  B = 5..500, ks, kde_ece, mmce, nll, brier_k); with --model, of the\n"
        "                  raw logits (\"before\") and of the model's probabilities (\"after\")\n"
        "  --svg FILE      also write a reliability diagram (raw and, with --model,\n"
        "                  calibrated side by side; --bins equal-width bins)\n", f);
}

static int parse_args(int argc, char **argv, eval_args *a) {
  const calib__cli_opt opts[] = {
      {"--logits", "FILE", &a->logits, NULL}, {"--labels", "FILE", &a->labels, NULL},
      {"--model", "FILE", &a->model, NULL},   {"--k", "K", &a->k, NULL},
      {"--bins", "M", &a->bins, NULL},        {"--json", NULL, NULL, &a->json},
      {"--suite", "NAME", &a->suite, NULL},   {"--svg", "FILE", &a->svg, NULL},
      {"--max-bytes", "N", &a->max_bytes, NULL},
      {"--scale", "S", &a->scale, NULL},    {"--zero-point", "Z", &a->zero_point, NULL}};
  const int st = calib__cli_parse("eval", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
  if (st != CALIB__CLI_OK) return st;
  if (!a->logits) return calib__cli_usage("eval", "missing --logits");
  if (!a->labels) return calib__cli_usage("eval", "missing --labels");
  return CALIB__CLI_OK;
}

/* *p = the probabilities of x: the model's, in place (p = x) or, when the
 * model refuses in place (CALIB_E_UNSUPPORTED, nothing written: the matrix
 * family above k = 1024), into a second buffer; or softmax / sigmoid in
 * place. In place first because here the second buffer would raise the peak
 * (logits, probabilities and labels at once: +10 % measured at n = 2e6,
 * k = 10). *nll from the logits (no model) or from the probabilities (model). */
static int probabilities(const eval_args *a, const calib_model *m, float *x, size_t n, size_t k,
                         const int64_t *y, float **p, double *nll) {
  int st;
  *p = x;
  if (m) {
    st = calib_apply(m, x, n, k, x);
    if (st == CALIB_E_UNSUPPORTED) {
      if (!(*p = calib__cli_alloc_f32(n, k))) return calib__cli_error(a->logits, "out of memory");
      st = calib_apply(m, x, n, k, *p);
    }
    if (st != CALIB_OK) return calib__cli_error(a->logits, "apply failed: %s", calib_strerror(st));
    if ((st = calib_nll(*p, n, k, y, nll)) != CALIB_OK) return calib__cli_error(a->logits, "nll: %s", calib_strerror(st));
    return CALIB__CLI_OK;
  }
  if ((st = calib_nll_logits(x, n, k, y, nll)) != CALIB_OK)
    return calib__cli_error(a->logits, "nll: %s", calib_strerror(st));
  st = k == 1 ? calib_sigmoid(x, n, 1.0f, x) : calib_softmax(x, n, k, 0, 1.0f, x, 0);
  if (st != CALIB_OK) return calib__cli_error(a->logits, "softmax: %s", calib_strerror(st));
  return CALIB__CLI_OK;
}

/* The probability-based measures. */
static int measures(const char *path, const float *p, size_t n, size_t k, const int64_t *y, size_t bins,
                    metrics *r) {
  int st;
  if ((st = calib_accuracy(p, n, k, y, &r->accuracy)) != CALIB_OK ||
      (st = calib_brier(p, n, k, y, &r->brier)) != CALIB_OK ||
      (st = calib_ece(p, n, k, y, bins, &r->ece)) != CALIB_OK ||
      (st = calib_mce(p, n, k, y, bins, &r->mce)) != CALIB_OK)
    return calib__cli_error(path, "metrics: %s", calib_strerror(st));
  return CALIB__CLI_OK;
}

static void print_metrics(const eval_args *a, const metrics *r, size_t n, size_t k, size_t bins) {
  calib__cli_out o;
  calib__cli_out_begin(&o, stdout, a->json);
  calib__cli_out_size(&o, "n", n);
  calib__cli_out_size(&o, "k", k);
  calib__cli_out_num(&o, "accuracy", r->accuracy);
  calib__cli_out_num(&o, "nll", r->nll);
  calib__cli_out_num(&o, "brier", r->brier);
  calib__cli_out_num(&o, "ece", r->ece);
  calib__cli_out_num(&o, "mce", r->mce);
  calib__cli_out_size(&o, "bins", bins);
  calib__cli_out_end(&o);
}

static int run(const eval_args *a, size_t rawk, size_t bins) {
  calib_model *m = NULL;
  float *x = NULL, *p = NULL;
  int64_t *y = NULL;
  size_t n = 0, k = 0;
  metrics r;
  memset(&r, 0, sizeof r);
  int st = calib__cli_load_scored(a->model, a->logits, a->labels, rawk, "evaluate", &m, &x, &n, &k, &y);
  if (st == CALIB__CLI_OK && (a->suite || a->svg))
    st = calib__cli_eval_extras(a->logits, a->suite, a->svg, a->json, m, x, n, k, y, bins);
  if (st == CALIB__CLI_OK && !a->suite) st = probabilities(a, m, x, n, k, y, &p, &r.nll);
  if (st == CALIB__CLI_OK && !a->suite) st = measures(a->logits, p, n, k, y, bins, &r);
  if (st == CALIB__CLI_OK && !a->suite) print_metrics(a, &r, n, k, bins);
  calib_model_free(m);
  if (p != x) free(p);
  free(x);
  free(y);
  return st;
}

int calib__cli_eval(int argc, char **argv) {
  eval_args a;
  memset(&a, 0, sizeof a);
  int st = parse_args(argc, argv, &a);
  if (st != CALIB__CLI_OK) return st;
  size_t rawk = 0, bins = DEFAULT_BINS;
  if (a.k && (st = calib__cli_size("eval", "--k", a.k, 1, (size_t)1 << 24, &rawk)) != CALIB__CLI_OK) return st;
  if (a.bins && (st = calib__cli_size("eval", "--bins", a.bins, 1, 1000000, &bins)) != CALIB__CLI_OK) return st;
  if ((st = calib__cli_input_limit("eval", a.max_bytes)) != CALIB__CLI_OK) return st;
  calib__cli_typed_options(a.scale, a.zero_point);
  return run(&a, rawk, bins);
}
