/*
 * cli_main.c -- `calib`: fit, apply and evaluate calibration maps from the
 * shell. Dispatches to one file per command (cli_fit.c, cli_apply.c,
 * cli_eval.c, cli_info.c); see cli.h for the conventions they share.
 */
#include "cli.h"

#include <stdarg.h>
#include <string.h>

typedef struct {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
  void (*help)(FILE *f);
} command;

static const command commands[] = {
    {"fit", "fit a calibration map on validation logits and labels", calib__cli_fit, calib__cli_fit_help},
    {"apply", "apply a fitted map to logits, write probabilities (.npy)", calib__cli_apply, calib__cli_apply_help},
    {"eval", "accuracy, NLL, Brier, ECE, MCE of raw or calibrated logits", calib__cli_eval, calib__cli_eval_help},
    {"info", "describe a model file", calib__cli_info, calib__cli_info_help},
    {"export-c", "write a model file as a C header for firmware (calib_core.h)", calib__cli_export, calib__cli_export_help},
    {"diagram", "reliability diagram (SVG) of raw and calibrated logits", calib__cli_diagram, calib__cli_diagram_help},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

#if defined(__GNUC__)
__attribute__((format(printf, 2, 0)))
#endif
static void verror(const char *where, const char *fmt, va_list ap) {
  fflush(stdout);
  fputs("calib: ", stderr);
  if (where) fprintf(stderr, "%s: ", where);
  vfprintf(stderr, fmt, ap);
}

int calib__cli_error(const char *where, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verror(where, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return CALIB__CLI_DATA;
}

int calib__cli_usage(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verror(cmd, fmt, ap);
  va_end(ap);
  if (cmd)
    fprintf(stderr, " (see 'calib help %s')\n", cmd);
  else
    fputs(" (see 'calib --help')\n", stderr);
  return CALIB__CLI_USAGE;
}

static void usage(FILE *f) {
  fputs("usage: calib COMMAND [OPTIONS]\n\n"
        "Post-hoc calibration of classifier scores (libcalib).\n\ncommands:\n", f);
  for (size_t i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-6s %s\n", commands[i].name, commands[i].summary);
  fputs("  help   help [COMMAND]: this text, or a command's options\n\n"
        "options: --help (also after a command), --version\n\n"
        "Inputs: .npy files (logits float32/float64 of shape (n, k), or (n,) for a binary\n"
        "problem with one log-odds score per row; labels int32/int64 of shape (n,)), or raw\n"
        "little-endian files named *.f32 (logits, needs --k K) and *.i32 (labels).\n"
        "Exit status: 0 ok, 1 data or file error, 2 usage error.\n", f);
}

static const command *find_command(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

static int help(int argc, char **argv) {
  if (argc < 3) {
    usage(stdout);
    return CALIB__CLI_OK;
  }
  const command *c = find_command(argv[2]);
  if (!c) return calib__cli_usage(NULL, "unknown command '%s'", argv[2]);
  c->help(stdout);
  return CALIB__CLI_OK;
}

static int version(void) {
  printf("calib %s (libcalib %s, kernels: %s)\n", CALIB_VERSION_STRING, calib_version_string(), calib_isa());
  return CALIB__CLI_OK;
}

static int dispatch(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CALIB__CLI_USAGE;
  }
  const char *a = argv[1];
  if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "help")) return help(argc, argv);
  if (!strcmp(a, "--version") || !strcmp(a, "-V")) return version();
  const command *c = find_command(a);
  if (!c) return calib__cli_usage(NULL, "unknown command '%s'", a);
  const int st = c->run(argc - 1, argv + 1);
  if (st == CALIB__CLI_HELP) {
    c->help(stdout);
    return CALIB__CLI_OK;
  }
  return st;
}

int main(int argc, char **argv) {
  int st = dispatch(argc, argv);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fputs("calib: stdout: write error\n", stderr);
    if (st == CALIB__CLI_OK) st = CALIB__CLI_DATA;
  }
  return st;
}
