/*
 * cli_apply.c -- `calib apply`: probabilities of a fitted model on logits,
 * written as a float32 .npy ((n, k), or (n,) for k == 1) atomically.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *model, *logits, *out, *k, *max_bytes, *scale, *zero_point, *out_dtype;
} apply_args;

void calib__cli_apply_help(FILE *f) {
  fputs("usage: calib apply --model MODEL --logits X.npy -o PROBS.npy [--k K]\n\n"
        "Applies a fitted model to logits and writes the probabilities as a float32\n"
        "(or, with --out-dtype f16, float16) .npy of shape (n, k), or (n,) = P(y = 1)\n"
        "for a binary model (k = 1). The file is written atomically: on any error it\n"
        "is not created (an existing one is left untouched).\n\n"
        "  --model FILE       model written by 'calib fit'\n"
        "  --logits FILE      float32/float64 .npy (n, k) or (n,); or raw *.f32; or\n"
        "                     float16/int8/uint8 .npy, applied as stored (calib_apply_typed)\n"
        "  --scale S          int8/uint8 logits: value = S * (q - Z); S a number or a\n"
        "                     .npy of k per-class scales\n"
        "  --zero-point Z     int8/uint8 logits: an integer (default 0) or a .npy of k\n"
        "  --out-dtype T      f32 (default) or f16 (round to nearest even)\n"
        "  -o, --output FILE  probabilities to write (.npy)\n"
        "  --k K              columns of a raw *.f32 file (default: the model's k)\n"
        "  --max-bytes N      refuse an input of more than N data bytes (default: 4 GiB,\n"
        "                     and 256 MiB from a pipe or device, read only that far)\n", f);
}

static int parse_args(int argc, char **argv, apply_args *a) {
  const calib__cli_opt opts[] = {
      {"--model", "FILE", &a->model, NULL}, {"--logits", "FILE", &a->logits, NULL},
      {"-o", "FILE", &a->out, NULL},        {"--output", "FILE", &a->out, NULL},
      {"--k", "K", &a->k, NULL},              {"--max-bytes", "N", &a->max_bytes, NULL},
      {"--scale", "S", &a->scale, NULL},      {"--zero-point", "Z", &a->zero_point, NULL},
      {"--out-dtype", "T", &a->out_dtype, NULL}};
  const int st = calib__cli_parse("apply", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
  if (st != CALIB__CLI_OK) return st;
  if (!a->model) return calib__cli_usage("apply", "missing --model");
  if (!a->logits) return calib__cli_usage("apply", "missing --logits");
  if (!a->out) return calib__cli_usage("apply", "missing -o PROBS.npy");
  if (a->out_dtype && strcmp(a->out_dtype, "f32") != 0 && strcmp(a->out_dtype, "f16") != 0)
    return calib__cli_usage("apply", "--out-dtype %s: choose f32 or f16", a->out_dtype);
  return CALIB__CLI_OK;
}

/* Applies m to the logits into a second buffer and saves the result. Out of
 * place always: every method works out of place at every k (the matrix family
 * refuses in place above k = 1024), and the second array costs no more than
 * the file buffer the load freed just before (a float32 .npy is as large).
 * Typed logits go to calib_apply_typed as stored; float16 output likewise. */
static int apply_and_save(const apply_args *a, const calib_model *m, const calib__cli_logits *L) {
  const size_t n = L->n, k = L->k;
  const int f16 = a->out_dtype && strcmp(a->out_dtype, "f16") == 0;
  float *p = calib__cli_alloc_f32(n, f16 ? (k + 1) / 2 : k); /* float16: half the bytes */
  if (!p) return calib__cli_error(a->logits, "out of memory");
  int st = CALIB__CLI_OK;
  const int as = L->in.dtype == CALIB_DTYPE_F32 && !f16
                     ? calib_apply(m, L->x, n, k, p)
                     : calib_apply_typed(m, &L->in, n, k, p, f16 ? CALIB_DTYPE_F16 : CALIB_DTYPE_F32, 0);
  char err[CALIB__NPY_ERRLEN];
  const size_t shape[2] = {n, k};
  if (as != CALIB_OK)
    st = calib__cli_error(a->logits, "apply failed: %s", calib_strerror(as));
  else if (calib__npy_save(a->out, f16 ? CALIB__NPY_F16 : CALIB__NPY_F32, shape, k == 1 ? 1 : 2, p, err,
                           sizeof err) != CALIB_OK)
    st = calib__cli_error(a->out, "%s", err);
  free(p);
  return st;
}

int calib__cli_apply(int argc, char **argv) {
  apply_args a;
  memset(&a, 0, sizeof a);
  int st = parse_args(argc, argv, &a);
  if (st != CALIB__CLI_OK) return st;
  size_t rawk = 0;
  if (a.k && (st = calib__cli_size("apply", "--k", a.k, 1, (size_t)1 << 24, &rawk)) != CALIB__CLI_OK) return st;
  if ((st = calib__cli_input_limit("apply", a.max_bytes)) != CALIB__CLI_OK) return st;
  calib_model *m = NULL;
  if ((st = calib__cli_load_model(a.model, &m, NULL, NULL)) != CALIB__CLI_OK) return st;
  calib__cli_logits L;
  calib__cli_typed_options(a.scale, a.zero_point);
  st = calib__cli_load_logits_typed(a.logits, rawk, calib_model_classes(m), &L);
  if (st != CALIB__CLI_OK) {
    calib_model_free(m);
    return st;
  }
  st = calib__cli_check_model_k(m, a.model, a.logits, L.k);
  if (st == CALIB__CLI_OK) st = apply_and_save(&a, m, &L);
  calib__cli_logits_free(&L);
  calib_model_free(m);
  return st;
}
