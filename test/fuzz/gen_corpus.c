/* gen_corpus.c -- writes the seed corpus of the fuzz targets (run once by
 * `sh test/fuzz/run.sh seed`; the files are committed):
 *   corpus/model_load/ and corpus/model_static/ (the same seeds): for every
 *     method with a fitter in this build, models fitted on small synthetic
 *     data for k = 1 and k = 3 (and variants: probability input, equal-mass
 *     histogram, isotonic on raw scores with out-of-bounds error), each as
 *       valid         flags 0, the model as saved
 *       fixed         flags 3 (length and CRCs recomputed by the target)
 *       trunc-half    flags 0, the first half
 *       trunc-fixed   flags 3, cut inside the section data (reaches the parser)
 *       count         flags 3, the first section's count raised by one
 *     plus a valid temperature model relabelled as each method that is not
 *     built in (flags 1: CALIB_E_UNSUPPORTED). These are version-1 models
 *     (provenance off). Version 2 (model provenance): "<method>-k<k>-v2" for
 *     temperature and Platt, fitted with provenance and a tag, with the same
 *     five variants, plus "v2-golden" (test/golden/temperature_k10_v2.calib);
 *     their metadata sections hold every metadata tag and both section types;
 *   corpus/npy/: valid arrays of each dtype and rank (0-d, empty, 1-d, 2-d,
 *     version 2.0 header), and rejected ones (big-endian, Fortran order,
 *     object dtype, truncated data, broken dict).
 * The input layout of the model targets is in fuzz_model.h. The corpus
 * directories also hold inputs libFuzzer found that add coverage (named by
 * their SHA-1; merged with `fuzz_TARGET -merge=1 corpus/TARGET NEW_DIR`) and
 * regress-* files: inputs that once failed, kept with their fix. */
#include "calib.h"
#include "internal.h"
#include "npy.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir_load = "test/fuzz/corpus/model_load";
static const char *dir_static = "test/fuzz/corpus/model_static";
static const char *dir_npy = "test/fuzz/corpus/npy";
static int nfiles = 0;

static void write_file(const char *dir, const char *name, const uint8_t *a, size_t na) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || (na && fwrite(a, 1, na, f) != na) || fclose(f) != 0) {
    fprintf(stderr, "gen_corpus: cannot write %s\n", path);
    exit(1);
  }
  nfiles++;
}

/* One model seed: the flags byte, then len bytes of b. */
static void model_seed(const char *name, uint8_t flags, const uint8_t *b, size_t len) {
  uint8_t *s = malloc(len + 1);
  s[0] = flags;
  memcpy(s + 1, b, len);
  write_file(dir_load, name, s, len + 1);
  write_file(dir_static, name, s, len + 1);
  free(s);
}

static void model_variants(const char *tag, const calib_model *m) {
  const size_t len = calib_model_size(m);
  uint8_t *b = malloc(len);
  size_t w = 0;
  if (calib_model_save(m, b, len, &w) != CALIB_OK) exit(1);
  char name[128];
  snprintf(name, sizeof name, "%s-valid", tag);
  model_seed(name, 0, b, len);
  snprintf(name, sizeof name, "%s-fixed", tag);
  model_seed(name, 3, b, len);
  snprintf(name, sizeof name, "%s-trunc-half", tag);
  model_seed(name, 0, b, len / 2);
  const uint32_t nsec = calib__get_u32(b + 32 + 8);
  const size_t data_start = 32 + 16 + 16 * (size_t)nsec;
  if (len > data_start + 8) {
    snprintf(name, sizeof name, "%s-trunc-fixed", tag);
    model_seed(name, 3, b, data_start + (len - data_start) / 2 / 8 * 8);
  }
  calib__put_u64(b + 32 + 16 + 8, calib__get_u64(b + 32 + 16 + 8) + 1);
  snprintf(name, sizeof name, "%s-count", tag);
  model_seed(name, 3, b, len);
  free(b);
}

static void fit_seed(int method, size_t k, int variant, int v2) {
  enum { N = 40 };
  float x[N * 3];
  int64_t y[N];
  uint64_t r = 0x9E3779B97F4A7C15ULL * (uint64_t)(method * 7 + (int)k + variant * 131);
  for (size_t i = 0; i < N; i++) {
    y[i] = (int64_t)(i % (k == 1 ? 2 : k));
    for (size_t j = 0; j < k; j++) {
      r ^= r >> 12; r ^= r << 25; r ^= r >> 27;
      const double u = (double)((r * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
      const double signal = k == 1 ? (y[i] ? 1.0 : -1.0) : (j == (size_t)y[i] ? 1.5 : 0.0);
      const double logit = 3.0 * (u - 0.5) + signal;
      x[i * k + j] = variant == 1 ? (float)(1.0 / (1.0 + exp(-logit))) : (float)logit;
    }
  }
  calib_fitter *f = NULL;
  if (calib_fitter_create(&f, method) != CALIB_OK) return;
  int ok = calib_fitter_set_provenance(f, v2, v2 ? "fuzz seed \xc3\xa9" : NULL) == CALIB_OK;
  if (variant == 1) ok = ok && calib_fitter_set(f, CALIB_P_INPUT, CALIB_INPUT_PROBS) == CALIB_OK;
  if (variant == 2 && method == CALIB_METHOD_HISTOGRAM)
    ok = calib_fitter_set(f, CALIB_P_HIST_BINNING, CALIB_HIST_EQUAL_MASS) == CALIB_OK;
  if (variant == 2 && method == CALIB_METHOD_ISOTONIC) {
    ok = calib_fitter_set(f, CALIB_P_ISO_OUT_OF_BOUNDS, CALIB_OOB_ERROR) == CALIB_OK;
#ifdef CALIB_INPUT_SCORES
    ok = ok && calib_fitter_set(f, CALIB_P_INPUT, CALIB_INPUT_SCORES) == CALIB_OK;
#endif
  }
  if (variant == 2 && method != CALIB_METHOD_HISTOGRAM && method != CALIB_METHOD_ISOTONIC) ok = 0;
  calib_model *m = NULL;
  if (ok && calib_fit(f, x, N, k, y, NULL, &m) == CALIB_OK) {
    static const char *const vname[] = {"", "-probs", "-variant"};
    char tag[96];
    snprintf(tag, sizeof tag, "%s-k%zu%s%s", calib_method_name(method), k, vname[variant], v2 ? "-v2" : "");
    model_variants(tag, m);
    calib_model_free(m);
  }
  calib_fitter_free(f);
}

static void unsupported_seeds(void) {
  const double T = 1.5;
  calib__section s = {CALIB_MP_TEMPERATURE, 1, &T};
  calib_model *m = NULL;
  if (calib__model_build(&m, CALIB_METHOD_TEMPERATURE, 4, &s, 1) != CALIB_OK) exit(1);
  const size_t len = calib_model_size(m);
  uint8_t *b = malloc(len);
  size_t w;
  if (calib_model_save(m, b, len, &w) != CALIB_OK) exit(1);
  for (int id = 1; id <= 64; id++) {
    const calib__method *me = calib__method_get(id);
    if (!calib_method_name(id) || (me && me->apply)) continue;
    calib__put_u32(b + 12, (uint32_t)id);
    char name[96];
    snprintf(name, sizeof name, "unsupported-%s", calib_method_name(id));
    model_seed(name, 1, b, len);
  }
  free(b);
  calib_model_free(m);
}

/* ---- .npy seeds ------------------------------------------------------------------ */

static void npy_seed(const char *name, calib__npy_dtype dt, const size_t *shape, size_t ndim,
                     size_t cut) {
  uint8_t buf[1024];
  size_t hlen = 0, count = 1;
  for (size_t i = 0; i < ndim; i++) count *= shape[i];
  if (calib__npy_header(buf, sizeof buf, dt, shape, ndim, &hlen) != CALIB_OK) exit(1);
  const size_t item = calib__npy_itemsize(dt);
  for (size_t i = 0; i < count * item && hlen + i < sizeof buf; i++) buf[hlen + i] = (uint8_t)(i * 29 + 7);
  write_file(dir_npy, name, buf, hlen + count * item - cut);
}

static void npy_text_seed(const char *name, const char *dict, int major) {
  uint8_t buf[512];
  const size_t dl = strlen(dict);
  size_t o = 0;
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (uint8_t)major;
  buf[7] = 0;
  if (major == 1) {
    buf[8] = (uint8_t)(dl & 255);
    buf[9] = (uint8_t)(dl >> 8);
    o = 10;
  } else {
    calib__put_u32(buf + 8, (uint32_t)dl);
    o = 12;
  }
  memcpy(buf + o, dict, dl);
  o += dl;
  for (int i = 0; i < 16; i++) buf[o++] = (uint8_t)(i * 17);
  write_file(dir_npy, name, buf, o);
}

static void npy_seeds(void) {
  const size_t s23[2] = {2, 3}, s5[1] = {5}, s03[2] = {0, 3}, s4[1] = {4};
  npy_seed("f4-2x3", CALIB__NPY_F32, s23, 2, 0);
  npy_seed("f8-5", CALIB__NPY_F64, s5, 1, 0);
  npy_seed("i4-5", CALIB__NPY_I32, s5, 1, 0);
  npy_seed("i8-2x3", CALIB__NPY_I64, s23, 2, 0);
  npy_seed("f4-scalar", CALIB__NPY_F32, NULL, 0, 0);
  npy_seed("f2-2x3", CALIB__NPY_F16, s23, 2, 0); /* the typed dtypes (issue 12) */
  npy_seed("i1-5", CALIB__NPY_I8, s5, 1, 0);
  npy_seed("u1-2x3", CALIB__NPY_U8, s23, 2, 0);
  npy_seed("f8-0x3", CALIB__NPY_F64, s03, 2, 0);
  npy_seed("f4-4-truncated", CALIB__NPY_F32, s4, 1, 3);
  npy_text_seed("v2-f4-4", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }   \n", 2);
  npy_text_seed("v3-i8-2", "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }\n", 3);
  npy_text_seed("bigendian", "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }\n", 1);
  npy_text_seed("fortran", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", 1);
  npy_text_seed("object", "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n", 1);
  npy_text_seed("broken-dict", "{'descr': '<f4', 'shape': (4,, 'fortran_order': False}\n", 1);
}

int main(void) {
  for (int method = 1; method <= 64; method++) {
    if (!calib_method_name(method)) continue;
    for (size_t k = 1; k <= 3; k += 2)
      for (int variant = 0; variant < 3; variant++) fit_seed(method, k, variant, 0);
  }
  for (size_t k = 1; k <= 3; k += 2) {
    fit_seed(CALIB_METHOD_TEMPERATURE, k, 0, 1);
    fit_seed(CALIB_METHOD_PLATT, k, 0, 1);
  }
  FILE *g = fopen("test/golden/temperature_k10_v2.calib", "rb");
  uint8_t gb[1024];
  const size_t gl = g ? fread(gb, 1, sizeof gb, g) : 0;
  if (g) fclose(g);
  if (gl == 0) {
    fprintf(stderr, "gen_corpus: test/golden/temperature_k10_v2.calib missing\n");
    return 1;
  }
  model_seed("v2-golden", 0, gb, gl);
  unsupported_seeds();
  npy_seeds();
  printf("gen_corpus: %d files\n", nfiles);
  return 0;
}
