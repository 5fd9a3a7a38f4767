/*
 * cli_apply.c -- `calib apply`: probabilities of a fitted model on logits,
 * written as a float32 .npy ((n, k), or (n,) for k == 1) atomically.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *model, *logits, *out, *k, *max_bytes;
} apply_args;

void calib__cli_apply_help(FILE *f) {
  fputs("usage: calib apply --model MODEL --logits X.npy -o PROBS.npy [--k K]\n\n"
        "Applies a fitted model to logits and writes the probabilities as a float32\n"
        ".npy of shape (n, k), or (n,) = P(y = 1) for a binary model (k = 1). The file\n"
        "is written atomically: on any error it is not created (an existing one is\n"
        "left untouched).\n\n"
        "  --model FILE       model written by 'calib fit'\n"
        "  --logits FILE      float32/float64 .npy (n, k) or (n,); or raw *.f32\n"
        "  -o, --output FILE  probabilities to write (.npy)\n"
        "  --k K              columns of a raw *.f32 file (default: the model's k)\n"
        "  --max-bytes N      refuse an input of more than N data bytes (default: 4 GiB,\n"
        "                     and 256 MiB from a pipe or device, read only that far)\n", f);
}

static int parse_args(int argc, char **argv, apply_args *a) {
  const calib__cli_opt opts[] = {
      {"--model", "FILE", &a->model, NULL}, {"--logits", "FILE", &a->logits, NULL},
      {"-o", "FILE", &a->out, NULL},        {"--output", "FILE", &a->out, NULL},
      {"--k", "K", &a->k, NULL},              {"--max-bytes", "N", &a->max_bytes, NULL}};
  const int st = calib__cli_parse("apply", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
  if (st != CALIB__CLI_OK) return st;
  if (!a->model) return calib__cli_usage("apply", "missing --model");
  if (!a->logits) return calib__cli_usage("apply", "missing --logits");
  if (!a->out) return calib__cli_usage("apply", "missing -o PROBS.npy");
  return CALIB__CLI_OK;
}

/* Applies m to x into a second buffer and saves the result. Out of place
 * always: every method works out of place at every k (the matrix family
 * refuses in place above k = 1024), and the second array costs no more than
 * the file buffer the load freed just before (a float32 .npy is as large). */
static int apply_and_save(const apply_args *a, const calib_model *m, const float *x, size_t n, size_t k) {
  float *p = calib__cli_alloc_f32(n, k);
  if (!p) return calib__cli_error(a->logits, "out of memory");
  int st = CALIB__CLI_OK;
  const int as = calib_apply(m, x, n, k, p);
  char err[CALIB__NPY_ERRLEN];
  const size_t shape[2] = {n, k};
  if (as != CALIB_OK)
    st = calib__cli_error(a->logits, "apply failed: %s", calib_strerror(as));
  else if (calib__npy_save(a->out, CALIB__NPY_F32, shape, k == 1 ? 1 : 2, p, err, sizeof err) != CALIB_OK)
    st = calib__cli_error(a->out, "%s", err);
  free(p);
  return st;
}

int calib__cli_apply(int argc, char **argv) {
  apply_args a;
  memset(&a, 0, sizeof a);
  int st = parse_args(argc, argv, &a);
  if (st != CALIB__CLI_OK) return st;
  size_t rawk = 0, n = 0, k = 0;
  if (a.k && (st = calib__cli_size("apply", "--k", a.k, 1, (size_t)1 << 24, &rawk)) != CALIB__CLI_OK) return st;
  if ((st = calib__cli_input_limit("apply", a.max_bytes)) != CALIB__CLI_OK) return st;
  calib_model *m = NULL;
  if ((st = calib__cli_load_model(a.model, &m, NULL, NULL)) != CALIB__CLI_OK) return st;
  float *x = NULL;
  st = calib__cli_load_logits(a.logits, rawk, calib_model_classes(m), &x, &n, &k);
  if (st == CALIB__CLI_OK) st = calib__cli_check_model_k(m, a.model, a.logits, k);
  if (st == CALIB__CLI_OK) st = apply_and_save(&a, m, x, n, k);
  free(x);
  calib_model_free(m);
  return st;
}
