/* test_core.c -- the firmware loader (include/calib_core.h) and the golden
 * model files of every method built in.
 *
 *  - calib_model_workspace_size: the size, its bound, each error.
 *  - calib_model_init_static on a model of every registered method: the
 *    parameters and apply output equal those of the copying loader bit for
 *    bit; any workspace alignment works; the model bytes are referenced, not
 *    copied; each documented error (NULL, small workspace, misaligned bytes,
 *    every truncation, every single-bit flip, trailing byte, future version,
 *    unknown method, a valid model of a method not built in) returns its code
 *    with *out and the workspace untouched.
 *  - Golden files test/golden/<method>_k<k>_v1.calib: they keep loading
 *    (both loaders) with exactly the parameters below, and apply as the
 *    formulas computed here independently say. Their bytes are those of
 *    harness.h's independent writer, and the library's writer reproduces
 *    them. test/golden/temperature_k10_v2.calib (format version 2: the same
 *    T = 2.5 model with a fit-time reference and a tag, harness.h's th_g2_*)
 *    loads by both loaders, the core skipping the metadata, and applies bit
 *    for bit as the version-1 file does.
 *    `test_core --write-golden` writes the golden files that do not
 *    exist yet with the independent writer (never overwrites one: they are
 *    the record of a released format version).
 * Runs on the host and, under qemu-aarch64, in `make test-cross`.
 * Usage: test_core [seed] | --write-golden */
#include "harness.h"
#include "internal.h"
#include "calib_core.h"
#include <float.h>

#define WS_FILL 0xA5

/* ---- golden models: exact parameters ------------------------------------------ */
static const double g_temp[] = {2.5};
static const double g_platt_ab[] = {-1.25, 0.5, -0.75, -0.25, -2.0, 1.0};
static const double g_input[] = {CALIB_INPUT_LOGITS, 1.1920928955078125e-07};
static const double g_beta_abc[] = {1.5, 0.75, -0.25};
static const double g_iso_cfg[] = {CALIB_OOB_CLIP, CALIB_INPUT_SCORES, 0.0}; /* raw scores */
static const double g_iso_cnt[] = {3, 2};
static const double g_iso_x[] = {-2.0, 0.5, 3.0, -1.0, 1.0};
static const double g_iso_y[] = {0.1, 0.4, 0.9, 0.2, 0.7};
static const double g_hist_cfg[] = {CALIB_HIST_EQUAL_WIDTH, 4, CALIB_INPUT_LOGITS};
static const double g_hist_val[] = {0.05, 0.3, 0.6, 0.95};

typedef struct {
  int method;
  size_t k;
  const char *path;
  size_t nsec;
  calib__section sec[4];
} golden;

static const golden GOLDEN[] = {
    {CALIB_METHOD_TEMPERATURE, 10, "test/golden/temperature_k10_v1.calib", 1,
     {{CALIB_MP_TEMPERATURE, 1, g_temp}}},
    {CALIB_METHOD_PLATT, 3, "test/golden/platt_k3_v1.calib", 2,
     {{CALIB_MP_PLATT, 6, g_platt_ab}, {CALIB_MP_INPUT, 2, g_input}}},
    {CALIB_METHOD_BETA, 1, "test/golden/beta_k1_v1.calib", 2,
     {{CALIB_MP_BETA, 3, g_beta_abc}, {CALIB_MP_INPUT, 2, g_input}}},
    {CALIB_METHOD_ISOTONIC, 2, "test/golden/isotonic_k2_v1.calib", 4,
     {{CALIB_MP_ISO_CONFIG, 3, g_iso_cfg}, {CALIB_MP_ISO_COUNTS, 2, g_iso_cnt},
      {CALIB_MP_ISO_X, 5, g_iso_x}, {CALIB_MP_ISO_Y, 5, g_iso_y}}},
    {CALIB_METHOD_HISTOGRAM, 1, "test/golden/histogram_k1_v1.calib", 2,
     {{CALIB_MP_HIST_CONFIG, 3, g_hist_cfg}, {CALIB_MP_HIST_VALUES, 4, g_hist_val}}},
};
#define NGOLDEN (sizeof GOLDEN / sizeof GOLDEN[0])

static int built_in(int method) {
  const calib__method *m = calib__method_get(method);
  return m && m->validate && m->apply;
}

/* ---- independent references of each golden model's map -------------------------- */
static double sigm(double u) { return 1.0 / (1.0 + exp(-u)); }

static double iso_interp(const double *x, const double *y, size_t m, double s) {
  if (s <= x[0]) return y[0];
  if (s >= x[m - 1]) return y[m - 1];
  size_t j = 0;
  while (x[j + 1] <= s) j++;
  return x[j] == s ? y[j] : y[j] + (y[j + 1] - y[j]) / (x[j + 1] - x[j]) * (s - x[j]);
}

/* p[0..k-1] for one row r of golden model g. */
static void reference(const golden *g, const float *r, double *p) {
  const size_t k = g->k;
  double q[10], sum = 0;
  switch (g->method) {
    case CALIB_METHOD_TEMPERATURE: {
      double mx = -INFINITY;
      for (size_t j = 0; j < k; j++) mx = fmax(mx, (double)r[j]);
      for (size_t j = 0; j < k; j++) sum += (q[j] = exp(((double)r[j] - mx) / g_temp[0]));
      for (size_t j = 0; j < k; j++) p[j] = q[j] / sum;
      return;
    }
    case CALIB_METHOD_PLATT:
      for (size_t j = 0; j < k; j++) sum += (q[j] = sigm(-(g_platt_ab[2 * j] * r[j] + g_platt_ab[2 * j + 1])));
      for (size_t j = 0; j < k; j++) p[j] = q[j] / sum;
      return;
    case CALIB_METHOD_BETA: {
      double s = sigm((double)r[0]);
      s = fmin(fmax(s, g_input[1]), 1.0 - g_input[1]);
      p[0] = sigm(g_beta_abc[0] * log(s) - g_beta_abc[1] * log(1.0 - s) + g_beta_abc[2]);
      return;
    }
    case CALIB_METHOD_ISOTONIC:
      q[0] = iso_interp(g_iso_x, g_iso_y, 3, (double)r[0]);
      q[1] = iso_interp(g_iso_x + 3, g_iso_y + 3, 2, (double)r[1]);
      sum = q[0] + q[1];
      p[0] = q[0] / sum;
      p[1] = q[1] / sum;
      return;
    case CALIB_METHOD_HISTOGRAM: {
      const double s = sigm((double)r[0]);
      const size_t b = s <= 0.25 ? 0 : s <= 0.5 ? 1 : s <= 0.75 ? 2 : 3; /* (b/M, (b+1)/M] */
      p[0] = g_hist_val[b];
      return;
    }
    default: TH_FAIL("no reference for method %d", g->method);
  }
}

/* ---- helpers ---------------------------------------------------------------------- */

/* Serialised bytes of golden g (calib__model_build), in a new 8-aligned buffer. */
static uint8_t *golden_bytes(const golden *g, size_t *len) {
  calib_model *m = NULL;
  if (calib__model_build(&m, g->method, g->k, g->sec, g->nsec) != CALIB_OK) return NULL;
  *len = calib_model_size(m);
  uint8_t *b = malloc(*len + 64);
  size_t w = 0;
  if (b && calib_model_save(m, b, *len, &w) != CALIB_OK) {
    free(b);
    b = NULL;
  }
  calib_model_free(m);
  return b;
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != v) return 0;
  return 1;
}

/* init_static must fail with `code`, leaving *out and the workspace untouched. */
static void expect_static_error(const void *buf, size_t len, int code, const char *what) {
  static uint64_t ws[CALIB_MODEL_WORKSPACE_MAX / 8];
  memset(ws, WS_FILL, sizeof ws);
  const calib_model *sentinel = (const calib_model *)(const void *)&ws[1], *m = sentinel;
  const int st = calib_model_init_static(&m, ws, sizeof ws, buf, len);
  th_checks++;
  if (st != code || m != sentinel || !all_bytes((const uint8_t *)ws, sizeof ws, WS_FILL))
    TH_FAIL("%s: init_static returned %d (%s), expected %d; out %s, workspace %s", what, st,
            calib_strerror(st), code, m == sentinel ? "untouched" : "WRITTEN",
            all_bytes((const uint8_t *)ws, sizeof ws, WS_FILL) ? "untouched" : "WRITTEN");
}

/* Rows of test logits for k columns (finite, some large). */
static void test_rows(float *x, size_t n, size_t k) {
  for (size_t i = 0; i < n * k; i++) x[i] = (float)(3.0 * th_normal());
  x[0] = 9.5f;
  if (n * k > 1) x[1] = -7.25f;
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_workspace_size(void) {
  size_t len = 0, sz = 12345;
  uint8_t *b = golden_bytes(&GOLDEN[0], &len);
  CHECK(b != NULL);
  if (!b) return;
  CHECK_OK(calib_model_workspace_size(b, len, &sz));
  CHECK(sz >= sizeof(calib_model) && sz <= CALIB_MODEL_WORKSPACE_MAX);
  size_t sz2 = 777;
  CHECK_ERR(calib_model_workspace_size(NULL, len, &sz2), CALIB_E_ARG);
  CHECK_ERR(calib_model_workspace_size(b, len, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_model_workspace_size(b, 31, &sz2), CALIB_E_FORMAT);
  b[0] ^= 1;
  CHECK_ERR(calib_model_workspace_size(b, len, &sz2), CALIB_E_FORMAT);
  CHECK(sz2 == 777);
  free(b);
}

/* Both loaders on the same bytes: same parameters, bit-identical apply. */
static void compare_loaders(const golden *g, const uint8_t *b, size_t len) {
  static uint64_t wsraw[CALIB_MODEL_WORKSPACE_MAX / 8 + 4];
  size_t need = 0;
  CHECK_OK(calib_model_workspace_size(b, len, &need));
  calib_model *mc = NULL;
  CHECK_OK(calib_model_load(&mc, b, len));
  for (size_t off = 0; off < 16; off += 3) { /* any workspace alignment */
    const calib_model *ms = NULL;
    uint8_t *ws = (uint8_t *)wsraw + off;
    CHECK_ERR(calib_model_init_static(&ms, ws, need - 1, b, len), CALIB_E_SMALLBUF);
    CHECK_OK(calib_model_init_static(&ms, ws, need, b, len));
    if (!ms || !mc) continue;
    CHECK((const uint8_t *)ms >= ws && (const uint8_t *)ms + sizeof(calib_model) <= ws + need);
    CHECK(calib_model_method(ms) == g->method && calib_model_classes(ms) == g->k);
    CHECK(calib_model_size(ms) == len);
    for (size_t s = 0; s < g->nsec; s++) {
      const calib__section *sec = calib__model_section(ms, g->sec[s].tag);
      CHECK(sec != NULL && (const uint8_t *)sec->data >= b && (const uint8_t *)sec->data < b + len);
    }
    float x[7 * 10], p1[7 * 10], p2[7 * 10];
    test_rows(x, 7, g->k);
    CHECK_OK(calib_apply(mc, x, 7, g->k, p1)); /* both must apply: equal failures prove nothing */
    CHECK_OK(calib_apply(ms, x, 7, g->k, p2));
    CHECK(memcmp(p1, p2, 7 * g->k * sizeof(float)) == 0);
    calib_model_free((calib_model *)(uintptr_t)ms); /* a no-op: nothing to free */
  }
  calib_model_free(mc);
}

/* Every documented error of init_static on the bytes of golden g. */
static void static_errors(const golden *g, uint8_t *b, size_t len) {
  static uint64_t ws[CALIB_MODEL_WORKSPACE_MAX / 8];
  const calib_model *m = NULL;
  CHECK_ERR(calib_model_init_static(NULL, ws, sizeof ws, b, len), CALIB_E_ARG);
  CHECK_ERR(calib_model_init_static(&m, NULL, sizeof ws, b, len), CALIB_E_ARG);
  CHECK_ERR(calib_model_init_static(&m, ws, sizeof ws, NULL, len), CALIB_E_ARG);
  CHECK(m == NULL);
  uint8_t *mis = malloc(len + 8);
  for (size_t off = 1; off < 8; off++) { /* the same bytes, misaligned */
    memcpy(mis + off, b, len);
    if (((uintptr_t)(mis + off) & 7u) != 0) expect_static_error(mis + off, len, CALIB_E_ARG, "misaligned");
  }
  free(mis);
  for (size_t l = 0; l < len; l++) expect_static_error(b, l, CALIB_E_FORMAT, "truncated");
  b[len] = 0;
  expect_static_error(b, len + 1, CALIB_E_FORMAT, "trailing byte");
  size_t flips = 0, nflip = len <= 512 ? len : 512;
  for (size_t i = 0; i < nflip; i++)
    for (int bit = 0; bit < 8; bit++) {
      b[i] ^= (uint8_t)(1u << bit);
      const calib_model *mm = NULL;
      flips += calib_model_init_static(&mm, ws, sizeof ws, b, len) == CALIB_E_FORMAT && mm == NULL;
      b[i] ^= (uint8_t)(1u << bit);
    }
  CHECK(flips == nflip * 8);
  /* Future format version, unknown method: valid CRCs, still rejected. */
  th_put_le(b + 8, 3, 4);
  th_put_le(b + 28, th_crc32(b, 28), 4);
  expect_static_error(b, len, CALIB_E_FORMAT, "future version");
  th_put_le(b + 8, 1, 4);
  th_put_le(b + 12, 4242, 4);
  th_put_le(b + 28, th_crc32(b, 28), 4);
  expect_static_error(b, len, CALIB_E_FORMAT, "unknown method");
  th_put_le(b + 12, (uint32_t)g->method, 4);
  th_put_le(b + 28, th_crc32(b, 28), 4);
  CHECK_OK(calib_model_init_static(&m, ws, sizeof ws, b, len));
}

static void test_every_method(void) {
  for (size_t i = 0; i < NGOLDEN; i++) {
    const golden *g = &GOLDEN[i];
    if (!built_in(g->method)) {
      printf("  %s: not built in, skipped\n", calib_method_name(g->method));
      continue;
    }
    size_t len = 0;
    uint8_t *b = golden_bytes(g, &len);
    CHECK(b != NULL);
    if (!b) continue;
    compare_loaders(g, b, len);
    static_errors(g, b, len);
    free(b);
  }
}

/* A valid model (right CRCs, sections, values) of a method that is not built
 * into this library: CALIB_E_UNSUPPORTED from both loaders. */
static void test_unsupported(void) {
  int id = 0;
  for (int m = 1; m <= 64 && !id; m++)
    if (calib_method_name(m) && !built_in(m)) id = m;
  if (!id) {
    printf("  every named method is built in: no CALIB_E_UNSUPPORTED case\n");
    return;
  }
  size_t len = 0;
  uint8_t *b = golden_bytes(&GOLDEN[0], &len);
  if (!b) return;
  th_put_le(b + 12, (uint32_t)id, 4);
  th_put_le(b + 28, th_crc32(b, 28), 4);
  expect_static_error(b, len, CALIB_E_UNSUPPORTED, "method not built in");
  calib_model *m = NULL;
  CHECK_ERR(calib_model_load(&m, b, len), CALIB_E_UNSUPPORTED);
  CHECK(m == NULL);
  free(b);
}

/* The golden files load, by copy and by reference, with exact parameters and
 * the map the formulas above give. */
static void test_golden(void) {
  for (size_t i = 0; i < NGOLDEN; i++) {
    const golden *g = &GOLDEN[i];
    if (!built_in(g->method)) continue;
    size_t len = 0;
    uint8_t *file = th_read_file(g->path, &len);
    if (!file) {
      TH_FAIL("%s missing (test_core --write-golden creates it)", g->path);
      continue;
    }
    uint64_t *aligned = malloc(len + 8), ws[CALIB_MODEL_WORKSPACE_MAX / 8];
    memcpy(aligned, file, len);
    calib_model *mc = NULL;
    const calib_model *ms = NULL;
    CHECK_OK(calib_model_load(&mc, file, len));
    CHECK_OK(calib_model_init_static(&ms, ws, sizeof ws, aligned, len));
    const calib_model *both[2] = {mc, ms};
    for (int w = 0; w < 2; w++) {
      const calib_model *m = both[w];
      if (!m) continue;
      CHECK(calib_model_method(m) == g->method && calib_model_classes(m) == g->k);
      for (size_t s = 0; s < g->nsec; s++) {
        double v[16];
        size_t c = 0;
        CHECK_OK(calib_model_param(m, (int)g->sec[s].tag, v, 16, &c));
        CHECK(c == g->sec[s].count);
        if (c == g->sec[s].count && memcmp(v, g->sec[s].data, c * sizeof(double)) != 0)
          TH_FAIL("%s: parameter array %u differs from the recorded values", g->path, g->sec[s].tag);
      }
      float x[20 * 10], p[20 * 10];
      test_rows(x, 20, g->k);
      CHECK_OK(calib_apply(m, x, 20, g->k, p));
      for (size_t r = 0; r < 20; r++) {
        double ref[10];
        reference(g, x + r * g->k, ref);
        for (size_t j = 0; j < g->k; j++) CHECK_NEAR(p[r * g->k + j], ref[j], 2e-6);
      }
    }
    calib_model_free(mc);
    free(aligned);
    free(file);
  }
}

/* The bytes of golden g as harness.h's independent writer lays them out
 * (src/model/format.c's documented layout), in a new malloc'ed buffer. */
static uint8_t *golden_independent(const golden *g, size_t *len) {
  th_section s[4];
  for (size_t j = 0; j < g->nsec; j++) {
    s[j].tag = g->sec[j].tag;
    s[j].count = g->sec[j].count;
    s[j].v = g->sec[j].data;
  }
  return th_craft_model(g->method, g->k, s, g->nsec, len);
}

/* The golden files are exactly the independent writer's bytes, and the
 * library's own writer (calib__model_build + calib_model_save) reproduces
 * them byte for byte: a change of layout on either side shows here. */
static void test_golden_provenance(void) {
  for (size_t i = 0; i < NGOLDEN; i++) {
    const golden *g = &GOLDEN[i];
    size_t flen = 0, ilen = 0;
    uint8_t *file = th_read_file(g->path, &flen), *ind = golden_independent(g, &ilen);
    if (!file) TH_FAIL("%s missing (test_core --write-golden creates it)", g->path);
    else CHECK(flen == ilen && memcmp(file, ind, ilen) == 0);
    if (built_in(g->method)) {
      calib_model *m = NULL;
      CHECK_OK(calib__model_build(&m, g->method, g->k, g->sec, g->nsec));
      uint8_t *lib = malloc(ilen + 1);
      size_t w = 0;
      if (m) CHECK_OK(calib_model_save(m, lib, ilen + 1, &w));
      CHECK(w == ilen && memcmp(lib, ind, ilen) == 0);
      free(lib);
      calib_model_free(m);
    }
    free(file);
    free(ind);
  }
}

#define GOLDEN_V2 "test/golden/temperature_k10_v2.calib"

/* The version-2 golden file: exactly the independent writer's bytes; both
 * loaders take it; the core skips its five metadata sections (one parameter
 * section, the model bytes referenced in place) and it applies bit for bit as
 * the version-1 temperature file (same T) and as the formula; the full
 * library reads its metadata back exactly. */
static void test_golden_v2(void) {
  size_t flen = 0, ilen = 0, vlen = 0;
  uint8_t *file = th_read_file(GOLDEN_V2, &flen), *ind = th_craft_model2(2, CALIB_METHOD_TEMPERATURE, 10,
                                                                          th_g2_secs, TH_G2_NSEC, &ilen);
  uint8_t *v1 = th_read_file(GOLDEN[0].path, &vlen);
  if (!file || !v1) {
    TH_FAIL("%s or %s missing (test_core --write-golden creates it)", GOLDEN_V2, GOLDEN[0].path);
    free(file), free(ind), free(v1);
    return;
  }
  CHECK(flen == ilen && memcmp(file, ind, ilen) == 0);
  uint64_t *aligned = malloc(flen + 8), ws[CALIB_MODEL_WORKSPACE_MAX / 8];
  memcpy(aligned, file, flen);
  calib_model *mc = NULL, *m1 = NULL;
  const calib_model *ms = NULL;
  CHECK_OK(calib_model_load(&mc, file, flen));
  CHECK_OK(calib_model_load(&m1, v1, vlen));
  CHECK_OK(calib_model_init_static(&ms, ws, sizeof ws, aligned, flen));
  if (mc && m1 && ms) {
    CHECK(ms->nsections == 1 && mc->nsections == 1);
    CHECK(calib_model_size(ms) == flen && (const uint8_t *)ms->sec[0].data > (const uint8_t *)aligned &&
          (const uint8_t *)ms->sec[0].data < (const uint8_t *)aligned + flen);
    double T = 0;
    size_t c = 0;
    CHECK_OK(calib_model_param(ms, CALIB_MP_TEMPERATURE, &T, 1, &c));
    CHECK(c == 1 && T == 2.5);
    float x[20 * 10], p1[20 * 10], p2[20 * 10], p3[20 * 10];
    test_rows(x, 20, 10);
    CHECK_OK(calib_apply(ms, x, 20, 10, p1));
    CHECK_OK(calib_apply(mc, x, 20, 10, p2));
    CHECK_OK(calib_apply(m1, x, 20, 10, p3));
    CHECK(memcmp(p1, p2, sizeof p1) == 0 && memcmp(p1, p3, sizeof p1) == 0);
    for (size_t r = 0; r < 20; r++) {
      double ref[10];
      reference(&GOLDEN[0], x + r * 10, ref);
      for (size_t j = 0; j < 10; j++) CHECK_NEAR(p1[r * 10 + j], ref[j], 2e-6);
    }
    calib_model_info in;
    CHECK_OK(calib_model_info_get(mc, &in));
    CHECK(in.format_version == 2 && in.has_reference == 1 && in.created_unix == 1767225600 && in.n == 64);
    CHECK(in.nll_before == 0.75 && in.ece_before == 0.0625 && in.brier_before == 0.375);
    CHECK(in.nll_after == 0.5 && in.ece_after == 0.03125 && in.brier_after == 0.25);
    CHECK(strcmp(in.tag, th_g2_tag) == 0);
    /* and the library's writer lays the same values out byte for byte */
    calib__model_meta meta;
    memset(&meta, 0, sizeof meta);
    memcpy(meta.info, th_g2_info, sizeof meta.info);
    meta.prior = th_g2_prior, meta.conf_hist = th_g2_conf, meta.class_hist = th_g2_class;
    meta.tag = th_g2_tag, meta.tag_len = strlen(th_g2_tag);
    const calib__section sec = {CALIB_MP_TEMPERATURE, 1, th_g2_temp};
    calib_model *mb = NULL;
    CHECK_OK(calib__model_build_meta(&mb, CALIB_METHOD_TEMPERATURE, 10, &sec, 1, &meta));
    uint8_t *out = malloc(flen + 8);
    size_t w = 0;
    if (mb) CHECK_OK(calib_model_save(mb, out, flen + 8, &w));
    CHECK(w == flen && memcmp(out, file, flen) == 0);
    calib_model_free(mb);
    free(out);
  }
  calib_model_free(mc);
  calib_model_free(m1);
  free(aligned);
  free(file);
  free(ind);
  free(v1);
}

/* Writes the golden files that do not exist yet, from the independent writer
 * (never from the library under test). */
static int write_golden(void) {
  int rc = 0;
  FILE *f2 = fopen(GOLDEN_V2, "rb");
  if (f2) {
    fclose(f2);
    printf("%s exists: kept\n", GOLDEN_V2);
  } else {
    size_t len = 0;
    uint8_t *b = th_craft_model2(2, CALIB_METHOD_TEMPERATURE, 10, th_g2_secs, TH_G2_NSEC, &len);
    f2 = fopen(GOLDEN_V2, "wb");
    const int ok = f2 && fwrite(b, 1, len, f2) == len;
    if (f2 && fclose(f2) != 0) rc = 1;
    printf("%s: %s\n", GOLDEN_V2, ok ? "written" : "cannot write");
    rc |= !ok;
    free(b);
  }
  for (size_t i = 0; i < NGOLDEN; i++) {
    const golden *g = &GOLDEN[i];
    FILE *f = fopen(g->path, "rb");
    if (f) {
      fclose(f);
      printf("%s exists: kept\n", g->path);
      continue;
    }
    size_t len = 0;
    uint8_t *b = golden_independent(g, &len);
    f = fopen(g->path, "wb");
    const int ok = f && fwrite(b, 1, len, f) == len;
    if (f && fclose(f) != 0) rc = 1;
    printf("%s: %s\n", g->path, ok ? "written" : "cannot write");
    rc |= !ok;
    free(b);
  }
  return rc;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--write-golden") == 0) return write_golden();
  th_srand(test_seed(argc, argv));
  test_workspace_size();
  test_every_method();
  test_unsupported();
  test_golden();
  test_golden_provenance();
  test_golden_v2();
  TEST_MAIN_END();
}
