/* cli_info.c -- `calib info MODEL`: what a model file holds. */
#include "cli.h"

#include <string.h>

void calib__cli_info_help(FILE *f) {
  fputs("usage: calib info [--json] MODEL\n\n"
        "Validates a model file and prints its method, k (1 = binary), model format\n"
        "version, size in bytes and fitted parameters (temperature: T). --json prints\n"
        "  {\"method\", \"k\", \"format_version\", \"size_bytes\", <parameters>}\n", f);
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
  calib__cli_out_end(&o);
  calib_model_free(m);
  return CALIB__CLI_OK;
}
