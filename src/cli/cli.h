/*
 * cli.h -- internals of the `calib` command (src/cli/), shared between its
 * files. Not installed, not part of the library.
 *
 * Exit status: 0 success, 1 data/file/library error, 2 usage error.
 * Every error is ONE line on stderr, "calib: <file or command>: <problem>".
 * Output files are written atomically (temporary file + rename), so a failed
 * run never leaves a partial file and never touches an existing one.
 * The process locale is never changed: numbers are parsed and printed in the
 * "C" locale every C program starts in.
 */
#ifndef CALIB_CLI_H
#define CALIB_CLI_H

#include "calib.h"
#include "../io/npy.h" /* the Makefile gives src/cli no -Isrc/io */

#include <stdio.h>

#define CALIB__CLI_OK 0
#define CALIB__CLI_DATA 1   /* data, file or library error */
#define CALIB__CLI_USAGE 2  /* bad command line */
#define CALIB__CLI_HELP (-1) /* parser saw --help: print the command's help */

/* ---- Errors (cli_main.c) ---------------------------------------------------- */
/* "calib: <where>: <message>\n" on stderr; returns CALIB__CLI_DATA. */
int calib__cli_error(const char *where, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* "calib: <cmd>: <message> (see 'calib help <cmd>')\n"; returns CALIB__CLI_USAGE. */
int calib__cli_usage(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- Command-line options (cli_args.c) ---------------------------------------
 * A command describes its options in a table. "--name value", "--name=value"
 * and, for one-letter names, "-o value" are accepted; "--" ends the options;
 * an option given twice, an unknown option or a missing value is a usage
 * error. --help / -h anywhere returns CALIB__CLI_HELP. */
typedef struct {
  const char *name;     /* "--logits", "-o" */
  const char *metavar;  /* "X.npy"; NULL for a flag without a value */
  const char **value;   /* receives the value (options with a metavar) */
  int *flag;            /* set to 1 (flags) */
} calib__cli_opt;

int calib__cli_parse(const char *cmd, int argc, char **argv, const calib__cli_opt *opts,
                     size_t nopts, const char **pos, size_t maxpos, size_t *npos);
/* Strict decimal integer in [lo, hi] (whole string, no sign). 0 or usage error. */
int calib__cli_size(const char *cmd, const char *opt, const char *s, size_t lo, size_t hi,
                    size_t *out);
/* Strict finite real number (whole string). 0 or usage error. */
int calib__cli_double(const char *cmd, const char *opt, const char *s, double *out);

/* ---- Key/value output, human or JSON (cli_json.c) ----------------------------
 * Human: one "key  value" line per field. JSON: one object on one line.
 * Reals use %.17g (round-trip); non-finite reals are null in JSON. */
typedef struct {
  FILE *f;
  int json;
  size_t nfields;
} calib__cli_out;

void calib__cli_out_begin(calib__cli_out *o, FILE *f, int json);
void calib__cli_out_str(calib__cli_out *o, const char *key, const char *v);
void calib__cli_out_size(calib__cli_out *o, const char *key, size_t v);
void calib__cli_out_num(calib__cli_out *o, const char *key, double v);
void calib__cli_out_array(calib__cli_out *o, const char *key, const double *v, size_t n);
void calib__cli_out_end(calib__cli_out *o);

/* ---- Per-method parameter printers (cli_methods.c) ---------------------------
 * Emits the fitted parameters of m (temperature: "temperature" = T). A method
 * without its own printer gets every parameter array as "param_<id>". */
void calib__cli_print_params(calib__cli_out *o, const calib_model *m);
/* "a, b, c": the methods built into this library (truncated to cap). */
void calib__cli_method_list(char *buf, size_t cap);

/* ---- Inputs (cli_data.c) ------------------------------------------------------
 * Each prints its own error line and returns a CALIB__CLI_* status.
 * Every input array file is read through the bounded reader (src/io/file.c):
 * at most the input limit of data bytes (default 4 GiB for a regular file,
 * 256 MiB for a pipe, FIFO or device; --max-bytes N of fit, apply, eval and
 * diagram sets one limit for both with calib__cli_input_limit, a usage error
 * if not an integer >= 1). Model files are limited by the format itself
 * (CALIB_MODEL_MAX_BYTES). */
int calib__cli_input_limit(const char *cmd, const char *value);
/* malloc of n * k floats (overflow-checked; never malloc(0)); NULL on failure. */
float *calib__cli_alloc_f32(size_t n, size_t k);
/* Logits; a raw *.f32 file has k_opt columns (--k), or default_k if k_opt is
 * 0; a .npy file with k_opt != 0 must have k_opt columns. Typed logits
 * (float16/int8/uint8 .npy, with --scale/--zero-point) are dequantized here
 * by the library's conversion (the values calib_apply_typed sees). */
int calib__cli_load_logits(const char *path, size_t k_opt, size_t default_k, float **x, size_t *n,
                           size_t *k);
/* Labels for n rows of k columns of logits_path: count and range checked. */
int calib__cli_load_labels(const char *path, const char *logits_path, size_t n, size_t k,
                           int64_t **y);
int calib__cli_load_weights(const char *path, const char *logits_path, size_t n, double **w);
/* *m = the model in path; *nbytes = its size, *version = its format version. */
int calib__cli_load_model(const char *path, calib_model **m, size_t *nbytes, unsigned *version);
/* "logits have k columns but <model> was fitted on k = K" check. */
int calib__cli_check_model_k(const calib_model *m, const char *model_path,
                             const char *logits_path, size_t k);

/* ---- Typed logits (cli_data.c): float16 / int8 / uint8 .npy ---------------------
 * --scale S and --zero-point Z of fit, apply and eval (NULL when not given),
 * checked once per run: S a positive real or a .npy of k per-class scales
 * (float32/float64), Z an integer or a .npy of k per-class zero points
 * (int32/int64). int8/uint8 logits need --scale; float16 and float logits
 * refuse both. */
void calib__cli_typed_options(const char *scale, const char *zero_point);
/* Logits as the library's calib_input: float32/float64 .npy and raw .f32 are
 * float32 in x (in.dtype CALIB_DTYPE_F32, in.data = x); float16/int8/uint8
 * .npy stay as stored in buf (in.data points into it, per-class parameters
 * in col_scale / col_zp). Validated with the library's own descriptor check
 * (its message names the check). Free with calib__cli_logits_free. */
typedef struct {
  float *x;
  uint8_t *buf;
  calib_input in;
  size_t n, k;
  float *col_scale;
  int32_t *col_zp;
} calib__cli_logits;
int calib__cli_load_logits_typed(const char *path, size_t k_opt, size_t default_k, calib__cli_logits *L);
void calib__cli_logits_free(calib__cli_logits *L);

/* eval's and diagram's inputs: the model (if model_path), the logits (a raw
 * *.f32 file has rawk columns, default the model's k), their labels, and at
 * least one row ("no rows to <verb>"). *m, *x, *y must be NULL on entry;
 * whatever was loaded is the caller's to free, also on error. */
int calib__cli_load_scored(const char *model_path, const char *logits_path, const char *labels_path,
                           size_t rawk, const char *verb, calib_model **m, float **x, size_t *n, size_t *k,
                           int64_t **y);

/* ---- Commands ------------------------------------------------------------------ */
int calib__cli_fit(int argc, char **argv);
int calib__cli_apply(int argc, char **argv);
int calib__cli_eval(int argc, char **argv);
int calib__cli_info(int argc, char **argv);
int calib__cli_export(int argc, char **argv); /* cli_export.c: export-c */
void calib__cli_fit_help(FILE *f);
void calib__cli_apply_help(FILE *f);
void calib__cli_eval_help(FILE *f);
void calib__cli_info_help(FILE *f);
void calib__cli_export_help(FILE *f);
/* cli_diagram.c: `calib diagram`, and eval's --suite / --svg (x: raw logits,
 * unchanged; m may be NULL). Prints/writes, returns a CALIB__CLI_* status. */
int calib__cli_diagram(int argc, char **argv);
void calib__cli_diagram_help(FILE *f);
int calib__cli_eval_extras(const char *where, const char *suite, const char *svg, int json,
                           const calib_model *m, const float *x, size_t n, size_t k, const int64_t *y,
                           size_t bins);

#endif /* CALIB_CLI_H */
