/* test_alignment.c -- the alignment matrix: every float array the apply path
 * takes may start at any byte address (issue 10; the contract in calib.h).
 *
 * Entry points: calib_softmax and calib_log_softmax at beta 1 and 0.37,
 * calib_sigmoid at beta 1 and 0.37 (on the n * k values of each shape, k <= 17),
 * and calib_apply of a hand-built model of every method (temperature, platt,
 * beta, isotonic, histogram, vector, matrix, dirichlet, ets; written by
 * harness.h's independent model writer, so no fitter is involved and the test
 * also links against the fitter-less aarch64 cross build). Vector, matrix
 * and Dirichlet need k >= 2.
 * ISAs: every kernel table this CPU has (scalar, avx2, avx512 on x86-64;
 * scalar, neon on aarch64), each made the dispatched one in turn through
 * calib__kernels_force(), so the public entry points themselves are driven.
 * Shapes: n in {1, 15, 16, 17, 4000} x k in {1, 2, 15, 16, 17, 300, 1000, 1100}.
 * Layouts: input and output at byte offset o from a 64-byte boundary, in
 * buffers allocated to end exactly where the data ends (ASan sees any
 * instrumented access past either end; the bytes in front are a guard; over
 * 64 KiB, a reused buffer with 64 guard bytes behind the data too):
 *   out of place (0, 0), (o_i, o_{i+1 mod m}) for each i, and in place at each o_i,
 * with o over all of 0..63 (m = 64: 129 calls per entry and ISA) when
 * n k <= 300 (n and k <= 17), else over {0, 1, 2, 3, 4, 8, 16, 32, 60}
 * (m = 9: 19 calls; every residue mod 4, SIMD heads of 1..15 floats), or
 * {0, 1, 2, 3} (m = 4: 9 calls) for the scalar table when n k > 65536 (its
 * plain loops have no size-dependent path; SIMD tables change path at 4 MiB).
 * Runtime limits (CPU time on the x86-64 AVX-512 VM: 6 s, 19 s under ASan +
 * UBSan; aarch64 under qemu: 36 s, without n = 4000, since the NEON and scalar tables work row by row
 * and no path of theirs depends on n -- the x86 tables have 8/16-row blocks
 * and a large-output path from 4 MiB): n = 4000 with k = 300 and
 * 1000 (outputs of >= 4 MiB, where the AVX-512 bug was) runs
 * softmax (beta 1), log-softmax (beta 1) and temperature (beta 1/1.7) only,
 * and n = 4000 with k = 1100 nothing (k = 1100 is covered at n <= 17);
 * the other entries run only when their work n k w
 * is at most BIG_WORK = 2e6 (w = 1 for the softmax core and temperature, 40
 * for the other per-value methods, whose double exp/log cost about 40 times
 * more, k for matrix and Dirichlet), which drops n = 4000 with k >= 15 for
 * the double-precision methods (the same code as at n = 17) and matrix and
 * Dirichlet at n >= 15 for k >= 1000.
 * Checks per call: the status equals the scalar oracle's (offset 0, out of
 * place, or in place for the in-place layouts); the guard bytes in front of each array and (out of place) the
 * input are untouched; on error the output is untouched; on success the
 * values agree with the oracle -- for the double-precision methods (Platt,
 * beta, isotonic, histogram, vector, matrix, Dirichlet, ETS: the `exact`
 * entries) bit-identical but for rare one-ulp differences (ulp_ok below);
 * within 2e-6 absolute per probability
 * (twice the 1e-6 each path keeps from float64, calib.h) and 2e-5 +
 * 2.4e-7 |ref| per log-probability (twice test_kernels.c's) for the SIMD
 * softmax core -- and, within one ISA, every call whose output is
 * float-aligned gives bit-identical values, as does every call whose output is
 * byte-misaligned (each class takes one code path; they may differ in
 * rounding).
 * Usage: test_alignment [seed] */
#include "harness.h"
#include "internal.h"
#include "kernels.h"

#define GUARD 0xA5 /* byte in front of each array and in an unwritten output */
#define SMALL_COUNT ((size_t)300) /* n k up to this: all 64 offsets */
#define LARGE_COUNT ((size_t)1 << 16) /* n k over this: the scalar table at 4 offsets */
#define BIG_WORK ((size_t)2000000)

static const size_t NS[] = {1, 15, 16, 17, 4000};
static const size_t KS[] = {1, 2, 15, 16, 17, 300, 1000, 1100};
static const size_t FEW[] = {0, 1, 2, 3, 4, 8, 16, 32, 60};
#if defined(CALIB_HAVE_NEON_KERNELS)
static const char *const ISAS[] = {"scalar", "neon"};
#else
static const char *const ISAS[] = {"scalar", "avx2", "avx512"};
#endif
#define NISA (sizeof ISAS / sizeof ISAS[0])

/* ---- entries -------------------------------------------------------------- */

enum { K_SOFTMAX, K_LOGSOFTMAX, K_SIGMOID, K_APPLY };
typedef struct {
  const char *name;
  int kind, method; /* method: CALIB_METHOD_* for K_APPLY */
  float beta;
  int exact;        /* double map rounded once: bit for bit but rare 1-ulp steps (ulp_ok) */
  size_t w;         /* work weight per value (0: k, the matrix family) */
  int big;          /* allowed at n = 4000, k >= 300 */
} entry;

static const entry ENTRIES[] = {
    {"softmax", K_SOFTMAX, 0, 1.0f, 0, 1, 1},
    {"softmax(0.37)", K_SOFTMAX, 0, 0.37f, 0, 1, 0},
    {"log_softmax", K_LOGSOFTMAX, 0, 1.0f, 0, 1, 1},
    {"log_softmax(0.37)", K_LOGSOFTMAX, 0, 0.37f, 0, 1, 0},
    {"sigmoid", K_SIGMOID, 0, 1.0f, 0, 1, 0},
    {"sigmoid(0.37)", K_SIGMOID, 0, 0.37f, 0, 1, 0},
    {"temperature", K_APPLY, CALIB_METHOD_TEMPERATURE, 0, 0, 1, 1},
    {"platt", K_APPLY, CALIB_METHOD_PLATT, 0, 1, 40, 0},
    {"beta", K_APPLY, CALIB_METHOD_BETA, 0, 1, 40, 0},
    {"isotonic", K_APPLY, CALIB_METHOD_ISOTONIC, 0, 1, 40, 0},
    {"histogram", K_APPLY, CALIB_METHOD_HISTOGRAM, 0, 1, 40, 0},
    {"vector", K_APPLY, CALIB_METHOD_VECTOR, 0, 1, 40, 0},
    {"matrix", K_APPLY, CALIB_METHOD_MATRIX, 0, 1, 0, 0},
    {"dirichlet", K_APPLY, CALIB_METHOD_DIRICHLET, 0, 1, 0, 0},
    {"ets", K_APPLY, CALIB_METHOD_ETS, 0, 1, 40, 0},
};
#define NENT (sizeof ENTRIES / sizeof ENTRIES[0])

/* ---- hand-built models: test/method_models.h (the logits-input ones) ------- */
#include "method_models.h"

/* ---- one call ------------------------------------------------------------- */

typedef struct {
  const entry *e;
  const calib_model *model;
  size_t n, k;
  size_t count; /* floats in and out */
} job;

static int call(const job *j, const float *x, float *y) {
  const entry *e = j->e;
  switch (e->kind) {
    case K_SOFTMAX: return calib_softmax(x, j->n, j->k, 0, e->beta, y, 0);
    case K_LOGSOFTMAX: return calib_log_softmax(x, j->n, j->k, 0, e->beta, y, 0);
    case K_SIGMOID: return calib_sigmoid(x, j->count, e->beta, y);
    default: return calib_apply(j->model, x, j->n, j->k, y);
  }
}

/* One call's layout, for messages. */
typedef struct {
  const job *j;
  const char *isa;
  size_t xo, yo;
  int inplace;
} layout;

static void fail_at(const layout *l, const char *what) {
  if (l->inplace)
    TH_FAIL("%s %s n=%zu k=%zu in place at +%zu: %s", l->j->e->name, l->isa, l->j->n, l->j->k, l->xo, what);
  else
    TH_FAIL("%s %s n=%zu k=%zu x at +%zu, y at +%zu: %s", l->j->e->name, l->isa, l->j->n, l->j->k, l->xo, l->yo,
            what);
}

/* For the `exact` entries: got equals ref, or is one float ulp from it (same
 * sign), and such one-ulp values are rare: at most *left more in this call.
 * Both are the method's double map rounded once to float; the SIMD maps
 * (kernels/applyd_body.h) compute it with their own exps and summation
 * order, about 1e-16 relative from the scalar path's, so a value whose
 * exact double lies that close to a float rounding boundary may round the
 * other way (seed 1796630340: vector scaling, k = 1000, 1 value of 16000
 * one ulp apart on AVX2 and AVX-512 alike). A wrong rounding or a lost
 * term would move most values, and fails. */
static int ulp_ok(const float *got, const float *ref, size_t *left) {
  if (memcmp(got, ref, sizeof(float)) == 0) return 1;
  int32_t a, b;
  memcpy(&a, got, sizeof a);
  memcpy(&b, ref, sizeof b);
  if ((a ^ b) < 0 || (a - b != 1 && b - a != 1) || isnan(*got) || isnan(*ref) || *left == 0) return 0;
  --*left;
  return 1;
}

/* Values of `got` (aligned copy) against the oracle's: the first mismatch is
 * reported; returns 1 if all agree. */
static int agrees(const layout *l, const float *got, const float *ref) {
  const job *j = l->j;
  const int logp = j->e->kind == K_LOGSOFTMAX;
  size_t left = 1 + j->count / 1000; /* one-ulp values allowed in this call */
  for (size_t i = 0; i < j->count; i++) {
    const double g = (double)got[i], r = (double)ref[i];
    const int ok = j->e->exact ? ulp_ok(&got[i], &ref[i], &left)
                               : fabs(g - r) <= (logp ? 2e-5 + 2.4e-7 * fabs(r) : 2e-6);
    if (!ok) {
      char what[128];
      snprintf(what, sizeof what, "value %zu is %.9g, the oracle's %.9g", i, g, r);
      fail_at(l, what);
      return 0;
    }
  }
  return 1;
}

static int all_guard(const uint8_t *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (p[i] != GUARD) return 0;
  return 1;
}

/* The scalar oracle (offset 0; statuses out of place and in place; values
 * out of place) and the first values one ISA gave for a float-aligned and
 * for a byte-misaligned output. */
typedef struct {
  int st, st_inplace;
  const float *oracle;
  float *cls[2];
  int have[2];
  float *got; /* aligned scratch */
} refs;

/* The output of a successful call against the oracle (the first of its
 * class) or bit for bit against the first of its class. */
static int check_values(const layout *l, refs *r, const uint8_t *out, size_t bytes) {
  const int c = (l->yo & 3) != 0;
  if (!r->have[c]) {
    memcpy(r->got, out, bytes);
    if (!agrees(l, r->got, r->oracle)) return 0;
    memcpy(r->cls[c], r->got, bytes);
    r->have[c] = 1;
    return 1;
  }
  if (memcmp(out, r->cls[c], bytes) == 0) return 1;
  fail_at(l, c ? "differs from this ISA's first byte-misaligned output"
               : "differs from this ISA's first float-aligned output");
  return 0;
}

/* Buffers: arrays up to EXACT_MAX bytes get an allocation of their own that
 * ends exactly where the data ends (ASan); larger ones reuse one of two
 * arenas (a fresh multi-MiB allocation per call costs page faults, not
 * checks), with GUARD bytes behind the data as well. */
#define EXACT_MAX ((size_t)64 << 10)
static uint8_t *arena[2];

static uint8_t *get_buf(int which, size_t off, size_t bytes) {
  if (bytes > EXACT_MAX) {
    memset(arena[which] + off + bytes, GUARD, 64);
    return arena[which];
  }
  void *p = NULL;
  return posix_memalign(&p, 64, off + bytes) == 0 ? (uint8_t *)p : NULL;
}
static void put_buf(uint8_t *p, size_t bytes) {
  if (bytes <= EXACT_MAX) free(p);
}
/* The guard bytes in front of (and, in an arena, behind) the data. */
static int guards_ok(const uint8_t *p, size_t off, size_t bytes) {
  return all_guard(p, off) && (bytes <= EXACT_MAX || all_guard(p + off + bytes, 64));
}

/* One call with the input at byte offset xo and the output at yo (in place:
 * both at xo), every property checked. Returns 0 if something failed. */
static int run_layout(const job *j, const float *src, refs *r, const char *isa, size_t xo, size_t yo,
                      int inplace) {
  const size_t bytes = j->count * sizeof(float);
  const layout l = {j, isa, xo, inplace ? xo : yo, inplace};
  const int want = inplace ? r->st_inplace : r->st;
  uint8_t *bx = get_buf(0, xo, bytes), *by = inplace ? bx : get_buf(1, yo, bytes);
  if (!bx || !by) {
    TH_FAIL("out of memory");
    return 0;
  }
  memset(bx, GUARD, xo);
  memcpy(bx + xo, src, bytes);
  if (!inplace) memset(by, GUARD, want == CALIB_OK ? yo : yo + bytes); /* on error: nothing may be written */
  const int st = call(j, (const float *)(const void *)(bx + xo), (float *)(void *)(by + l.yo));
  int ok = 1;
  if (st != want) {
    char what[96];
    snprintf(what, sizeof what, "status %d, the oracle's %d", st, want);
    fail_at(&l, what);
    ok = 0;
  } else if (!guards_ok(bx, xo, bytes) || !guards_ok(by, l.yo, bytes) ||
             (!inplace && memcmp(bx + xo, src, bytes) != 0)) {
    fail_at(&l, "guard bytes or input overwritten");
    ok = 0;
  } else if (st != CALIB_OK) {
    ok = inplace ? memcmp(by + l.yo, src, bytes) == 0 : all_guard(by + l.yo, bytes);
    if (!ok) fail_at(&l, "output written on error");
  } else {
    ok = check_values(&l, r, by + l.yo, bytes);
  }
  put_buf(bx, bytes);
  if (!inplace) put_buf(by, bytes);
  CHECK(ok);
  return ok;
}

static size_t layouts_run = 0;

/* Every layout of one (entry, shape) on one ISA; stops at the first failure. */
static void run_isa(const job *j, const float *src, refs *r, const char *isa, const size_t *offs, size_t m) {
  r->have[0] = r->have[1] = 0;
  if (!run_layout(j, src, r, isa, 0, 0, 0)) return;
  layouts_run++;
  for (size_t i = 0; i < m; i++, layouts_run += 2)
    if (!run_layout(j, src, r, isa, offs[i], offs[(i + 1) % m], 0) || !run_layout(j, src, r, isa, offs[i], 0, 1))
      return;
}

static size_t work_of(const entry *e, size_t n, size_t k) { return n * k * (e->w ? e->w : k); }

static void run_entry(const job *j, const float *src, float *oracle, refs *r) {
  if (!calib__kernels_force("scalar")) {
    TH_FAIL("no scalar table");
    return;
  }
  memcpy(oracle, src, j->count * sizeof(float));
  r->st_inplace = call(j, oracle, oracle);
  memset(oracle, 0, j->count * sizeof(float));
  r->st = call(j, src, oracle);
  r->oracle = oracle;
  size_t all[64];
  for (size_t o = 0; o < 64; o++) all[o] = o;
  const int small = j->n * j->k <= SMALL_COUNT;
  for (size_t t = 0; t < NISA; t++) {
    if (!calib__kernels_force(ISAS[t])) continue;
    if (small) run_isa(j, src, r, ISAS[t], all, 64);
    else if (t == 0 && j->count > LARGE_COUNT) run_isa(j, src, r, ISAS[t], FEW, 4); /* scalar: 0, 1, 2, 3 */
    else run_isa(j, src, r, ISAS[t], FEW, 9);
  }
}

static int skipped(const entry *e, const calib_model *m, size_t n, size_t k) {
  if (e->kind == K_APPLY && !m) return 1;
  if (e->kind == K_SIGMOID && k > 17) return 1;
#if defined(CALIB_HAVE_NEON_KERNELS)
  if (n == 4000) return 1; /* NEON and scalar work row by row: no path depends on n */
#endif
  if (n == 4000 && k >= 300) return !e->big || k > 1000;
  return work_of(e, n, k) > BIG_WORK;
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  for (size_t t = 0; t < NISA; t++)
    printf("ISA %s: %s\n", ISAS[t], calib__kernels_by_name(ISAS[t]) ? "tested" : "not on this CPU, skipped");
  const size_t maxc = 4000 * 1100;
  float *src = (float *)malloc(maxc * sizeof(float)), *oracle = (float *)malloc(maxc * sizeof(float));
  refs r;
  r.cls[0] = (float *)malloc(maxc * sizeof(float));
  r.cls[1] = (float *)malloc(maxc * sizeof(float));
  r.got = (float *)malloc(maxc * sizeof(float));
  for (int a = 0; a < 2; a++)
    if (posix_memalign((void **)&arena[a], 64, maxc * sizeof(float) + 128) != 0) SKIP("no memory for the arenas");
  size_t cases = 0;
  for (size_t ki = 0; ki < sizeof KS / sizeof KS[0]; ki++) {
    const size_t k = KS[ki];
    calib_model *models[NENT];
    for (size_t e = 0; e < NENT; e++)
      models[e] = ENTRIES[e].kind == K_APPLY ? build_model(ENTRIES[e].method, k, 0, 0) : NULL;
    for (size_t ni = 0; ni < sizeof NS / sizeof NS[0]; ni++) {
      const size_t n = NS[ni];
      for (size_t i = 0; i < n * k; i++) src[i] = (float)(3.0 * th_normal());
      for (size_t e = 0; e < NENT; e++) {
        if (skipped(&ENTRIES[e], models[e], n, k)) continue;
        const job j = {&ENTRIES[e], models[e], n, k, n * k};
        run_entry(&j, src, oracle, &r);
        cases++;
      }
    }
    for (size_t e = 0; e < NENT; e++) calib_model_free(models[e]);
  }
  printf("%zu (entry, n, k) cases, %zu layouts over all ISAs\n", cases, layouts_run);
  free(src);
  free(oracle);
  free(r.cls[0]);
  free(r.cls[1]);
  free(r.got);
  free(arena[0]);
  free(arena[1]);
  TEST_MAIN_END();
}
