/* core_v2.c -- the firmware core build (lib/libcalib_core.a, CALIB_CORE) on
 * model format version 2 (test/sh/test_core_v2.sh builds and runs it).
 *
 * The core loader skips metadata sections without reading them: the golden
 * version-2 file, and version-2 models whose metadata VALUES break every rule
 * the full library enforces (unknown metadata tag, wrong counts, bad times,
 * counts and priors, invalid UTF-8, a non-zero padding byte; CRCs valid), all
 * load with calib_model_init_static, hold one parameter section, and apply bit
 * for bit as the version-1 golden file with the same T. What the core does
 * check stays rejected: a metadata tag in a version-1 model, a section type
 * other than 1 and 2, a bytes-typed parameter, a model of metadata only,
 * every truncation and every bit flip. Links nothing but the core and libm. */
#include "harness.h"
#include "internal.h"
#include "calib_core.h"

static uint64_t ws[CALIB_MODEL_WORKSPACE_MAX / 8];
static float x[16 * 10], want[16 * 10];

/* init_static on a copy of b at an 8-aligned address; the status, and the
 * apply output compared with want when it loads. */
static int core_load(const uint8_t *b, size_t len, int *same) {
  uint64_t *al = (uint64_t *)malloc(len + 8);
  memcpy(al, b, len);
  const calib_model *m = NULL;
  const int st = calib_model_init_static(&m, ws, sizeof ws, al, len);
  *same = 0;
  if (st == CALIB_OK) {
    float p[16 * 10];
    *same = m->nsections == 1 && calib_apply(m, x, 16, 10, p) == CALIB_OK && memcmp(p, want, sizeof p) == 0;
  }
  free(al);
  return st;
}

#define EDIT(stmt) do { memcpy(s, th_g2_secs, sizeof th_g2_secs); ns = TH_G2_NSEC; stmt; } while (0)
#define LOADS(version) do { size_t l_ = 0; int same_ = 0; \
    uint8_t *b_ = th_craft_model2(version, CALIB_METHOD_TEMPERATURE, 10, s, ns, &l_); \
    CHECK_OK(core_load(b_, l_, &same_)); CHECK(same_); free(b_); } while (0)
#define REJECTS(version) do { size_t l_ = 0; int same_ = 0; \
    uint8_t *b_ = th_craft_model2(version, CALIB_METHOD_TEMPERATURE, 10, s, ns, &l_); \
    CHECK_ERR(core_load(b_, l_, &same_), CALIB_E_FORMAT); free(b_); } while (0)

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  for (size_t i = 0; i < 16 * 10; i++) x[i] = (float)(3 * th_normal());
  size_t l1 = 0, l2 = 0;
  uint8_t *v1 = th_read_file("test/golden/temperature_k10_v1.calib", &l1);
  uint8_t *v2 = th_read_file("test/golden/temperature_k10_v2.calib", &l2);
  if (!v1 || !v2) {
    TH_FAIL("golden files missing");
    TEST_MAIN_END();
  }
  uint64_t *a1 = (uint64_t *)malloc(l1 + 8);
  memcpy(a1, v1, l1);
  const calib_model *m1 = NULL;
  CHECK_OK(calib_model_init_static(&m1, ws, sizeof ws, a1, l1));
  if (m1) CHECK_OK(calib_apply(m1, x, 16, 10, want));
  int same = 0;
  CHECK_OK(core_load(v2, l2, &same));
  CHECK(same);
  th_section2 s[TH_G2_NSEC + 2];
  size_t ns;
  double info[8], prior[10], conf[20];
  static const char bad_utf8[13] = "golden v2 \xe2\x9c\x41";
  /* metadata values the full library rejects: the core never reads them */
  EDIT((void)0); LOADS(2);
  EDIT(s[2].tag = 0x10009u); LOADS(2);
  EDIT(s[6] = s[1]; ns = 7); LOADS(2);
  EDIT(s[1].count = 7); LOADS(2);
  EDIT(s[3].count = 19); LOADS(2);
  EDIT(s[1] = s[5]; ns = 2); LOADS(2);
  EDIT(memcpy(info, th_g2_info, sizeof info); info[0] = -1; info[1] = 0.5; info[6] = 9; s[1].v = info); LOADS(2);
  EDIT(memcpy(prior, th_g2_prior, sizeof prior); prior[0] = NAN; s[2].v = prior); LOADS(2);
  EDIT(memcpy(conf, th_g2_conf, sizeof conf); conf[0] = -3.5; s[3].v = conf); LOADS(2);
  EDIT(s[5].b = bad_utf8); LOADS(2);
  EDIT(s[5].type = 1; s[5].count = 1; s[5].v = th_g2_info); LOADS(2);
  {
    EDIT((void)0);
    size_t l = 0;
    uint8_t *b = th_craft_model2(2, CALIB_METHOD_TEMPERATURE, 10, s, ns, &l);
    b[l - 1] = 7; /* a padding byte of the tag, CRCs fixed */
    th_put_le(b + 24, th_crc32(b + 32, l - 32), 4);
    th_put_le(b + 28, th_crc32(b, 28), 4);
    CHECK_OK(core_load(b, l, &same));
    CHECK(same);
    free(b);
  }
  /* what the core checks */
  EDIT((void)0); REJECTS(1);
  EDIT(s[1].type = 3); REJECTS(2);
  EDIT(s[0].type = 2; s[0].b = "x"); REJECTS(2);
  EDIT(s[0] = s[5]; ns = 5); REJECTS(2);
  EDIT(s[5].count = 0); REJECTS(2);
  size_t trunc = 0, flips = 0;
  for (size_t l = 0; l < l2; l++) trunc += core_load(v2, l, &same) == CALIB_E_FORMAT;
  for (size_t i = 0; i < l2; i++)
    for (int bit = 0; bit < 8; bit++) {
      v2[i] ^= (uint8_t)(1u << bit);
      flips += core_load(v2, l2, &same) == CALIB_E_FORMAT;
      v2[i] ^= (uint8_t)(1u << bit);
    }
  CHECK(trunc == l2 && flips == 8 * l2);
  free(a1);
  free(v1);
  free(v2);
  TEST_MAIN_END();
}
