/* test_rows.c -- the row-wise mode (calib_softmax_rows, calib_sigmoid_rows,
 * calib_apply_rows; contract in calib.h, "Row-wise mode").
 *
 * Reference: the STRICT call on each row alone (n = 1). It gives each row's
 * expected status (its error code, or OK) and, for a good row, its expected
 * output -- the strict path is independent of the row-wise code (a separate
 * validation pass, then the kernel or the method's map). The row-wise result
 * must then have, for every row, exactly that status (row_status byte =
 * -code), all k outputs NaN for a bad row, and the strict output for a good
 * one: bit for bit where no SIMD softmax is involved (the scalar table, and
 * every method but temperature: their maps are plain C per row), within 2e-6
 * per probability (twice the 1e-6 each SIMD path keeps from float64, calib.h)
 * for the SIMD softmax/sigmoid, whose 8/16-row blocks and single rows round
 * differently. The count, the first bad index (n if none) and the return
 * value (CALIB_OK, or the first bad row's code) must be exact.
 * Also: with no bad row, row-wise == strict on the whole batch, bit for bit
 * (inputs under 8 MiB, where the strict kernels keep row order); in place ==
 * out of place, bit for bit; byte-misaligned input and output (offsets 1 and
 * 3) == aligned (bit for bit, or the SIMD tolerance for the softmax core);
 * NULL reports; argument errors write nothing (outputs, status, counts).
 *
 * ISAs: every table this CPU has, made the dispatched one by
 * calib__kernels_force(). Shapes: k = 1..70 and 100, 1000 with random n in
 * 1..40 (and n = 16, 17: whole SIMD blocks), bad rows sprinkled with
 * probability 1/4 and forced at the first and last row in one trial of two;
 * plus streamed outputs (>= 4 MiB: k = 3, 10, 100, 300, 1000) for softmax and
 * temperature. Bad rows: a NaN, a +inf, a -inf (valid for softmax-like
 * methods, non-finite for the others), all -inf, a huge finite value (good),
 * for probability models a value outside [0, 1] (CALIB_E_DOMAIN) and a NaN
 * together with one (non-finite wins).
 * calib_log_softmax_rows likewise (tolerance 2e-5 + 2.4e-7 |ref| per
 * log-probability on SIMD paths, twice test_kernels.c's).
 * Usage: test_rows [seed] */
#include "harness.h"
#include "internal.h"
#include "kernels.h"

#if defined(CALIB_HAVE_NEON_KERNELS)
static const char *const ISAS[] = {"scalar", "neon"};
#else
static const char *const ISAS[] = {"scalar", "avx2", "avx512"};
#endif
#define NISA (sizeof ISAS / sizeof ISAS[0])

enum { K_SOFTMAX, K_LOGSOFTMAX, K_SIGMOID, K_APPLY };
typedef struct {
  const char *name;
  int kind, method, probs; /* probs: a model taking probabilities */
  float beta;
} entry;

static const entry ENTRIES[] = {
    {"softmax", K_SOFTMAX, 0, 0, 1.0f},
    {"softmax b=0.37", K_SOFTMAX, 0, 0, 0.37f},
    {"log_softmax b=0.37", K_LOGSOFTMAX, 0, 0, 0.37f},
    {"sigmoid b=0.37", K_SIGMOID, 0, 0, 0.37f},
    {"temperature", K_APPLY, CALIB_METHOD_TEMPERATURE, 0, 0},
    {"platt", K_APPLY, CALIB_METHOD_PLATT, 0, 0},
    {"beta", K_APPLY, CALIB_METHOD_BETA, 0, 0},
    {"isotonic", K_APPLY, CALIB_METHOD_ISOTONIC, 0, 0},
    {"histogram", K_APPLY, CALIB_METHOD_HISTOGRAM, 0, 0},
    {"vector", K_APPLY, CALIB_METHOD_VECTOR, 0, 0},
    {"matrix", K_APPLY, CALIB_METHOD_MATRIX, 0, 0},
    {"dirichlet", K_APPLY, CALIB_METHOD_DIRICHLET, 0, 0},
    {"ets", K_APPLY, CALIB_METHOD_ETS, 0, 0},
    {"platt(probs)", K_APPLY, CALIB_METHOD_PLATT, 1, 0},
    {"beta(probs)", K_APPLY, CALIB_METHOD_BETA, 1, 0},
    {"isotonic(probs, oob error)", K_APPLY, CALIB_METHOD_ISOTONIC, 1, 0},
    {"histogram(probs)", K_APPLY, CALIB_METHOD_HISTOGRAM, 1, 0},
};
#define NENT (sizeof ENTRIES / sizeof ENTRIES[0])

#include "method_models.h"

/* ---- calls ------------------------------------------------------------------ */

typedef struct {
  const entry *e;
  const calib_model *m;
  size_t n, k; /* rows as the call sees them (sigmoid: n * k rows of 1) */
} job;

static int strict_call(const job *j, const float *x, size_t n, float *y) {
  switch (j->e->kind) {
    case K_SOFTMAX: return calib_softmax(x, n, j->k, 0, j->e->beta, y, 0);
    case K_LOGSOFTMAX: return calib_log_softmax(x, n, j->k, 0, j->e->beta, y, 0);
    case K_SIGMOID: return calib_sigmoid(x, n, j->e->beta, y);
    default: return calib_apply(j->m, x, n, j->k, y);
  }
}

static int rows_call(const job *j, const float *x, float *y, uint8_t *st, size_t *bad, size_t *first) {
  switch (j->e->kind) {
    case K_SOFTMAX: return calib_softmax_rows(x, j->n, j->k, 0, j->e->beta, y, 0, st, bad, first);
    case K_LOGSOFTMAX: return calib_log_softmax_rows(x, j->n, j->k, 0, j->e->beta, y, 0, st, bad, first);
    case K_SIGMOID: return calib_sigmoid_rows(x, j->n, j->e->beta, y, st, bad, first);
    default: return calib_apply_rows(j->m, x, j->n, j->k, y, st, bad, first);
  }
}

/* The softmax core computes on the SIMD path (tolerance), else bit for bit. */
static int exact_values(const job *j, const char *isa) {
  const int simd = j->e->kind != K_APPLY || j->m == NULL || calib_model_method(j->m) == CALIB_METHOD_TEMPERATURE;
  if (!simd || strcmp(isa, "scalar") == 0) return 1;
  return j->e->kind == K_LOGSOFTMAX ? 2 : 0;
}

/* exact: bit for bit; else 2 = a log-probability (2e-5 + 2.4e-7 |b|, twice
 * test_kernels.c's), anything else a probability (2e-6). */
static int same_float(float a, float b, int exact) {
  if (a != a || b != b) return a != a && b != b;
  if (exact == 1) return memcmp(&a, &b, sizeof a) == 0;
  if (a == b) return 1; /* -inf log-probabilities of masked classes */
  if (exact == 2) return fabs((double)a - (double)b) <= 2e-5 + 2.4e-7 * fabs((double)b);
  return fabs((double)a - (double)b) <= 2e-6;
}

/* ---- inputs ------------------------------------------------------------------ */

static float good_value(int probs) { return probs ? (float)th_uniform() : (float)(3.0 * th_normal()); }

/* Row r of k values: good, or spoiled by a bad kind (0..5). */
static void spoil(float *r, size_t k, int kind, int probs) {
  const size_t j = (size_t)(th_next() % k), j2 = (size_t)(th_next() % k);
  switch (kind) {
    case 0: r[j] = NAN; break;
    case 1: r[j] = INFINITY; break;
    case 2: r[j] = -INFINITY; break;
    case 3: for (size_t t = 0; t < k; t++) r[t] = -INFINITY; break;
    case 4: r[j] = probs ? 1.5f : 1e30f; break;
    default: r[j] = probs ? -0.25f : NAN; r[j2] = NAN; break;
  }
}

/* n rows of k: each row bad with probability 1/4; the first and last forced bad when `edges`. */
static void fill(float *x, size_t n, size_t k, int probs, int edges, int allow_bad) {
  for (size_t i = 0; i < n * k; i++) x[i] = good_value(probs);
  if (!allow_bad) return;
  for (size_t i = 0; i < n; i++)
    if (th_next() % 4 == 0 || (edges && (i == 0 || i == n - 1))) spoil(x + i * k, k, (int)(th_next() % 6), probs);
}

/* ---- one case ------------------------------------------------------------------ */

static long n_cases = 0, n_bad_rows = 0;

static void one_case(const job *j, const char *isa, int edges, int allow_bad) {
  const entry *e = j->e;
  const size_t n = j->n, k = j->k, cnt = n * k;
  float *x = (float *)malloc(cnt * sizeof(float)), *y = (float *)malloc(cnt * sizeof(float));
  float *ref = (float *)malloc(cnt * sizeof(float)), *z = (float *)malloc(cnt * sizeof(float));
  uint8_t *st = (uint8_t *)malloc(n), *st2 = (uint8_t *)malloc(n);
  int *code = (int *)malloc(n * sizeof(int));
  fill(x, n, k, e->probs, edges, allow_bad);
  /* the reference: the strict call on each row alone */
  size_t ebad = 0, efirst = n;
  int ecode = CALIB_OK;
  for (size_t i = 0; i < n; i++) {
    code[i] = strict_call(j, x + i * k, 1, ref + i * k);
    if (code[i] != CALIB_OK && code[i] != CALIB_E_NONFINITE && code[i] != CALIB_E_DOMAIN)
      TH_FAIL("%s %s: strict call on row %zu returned %s", e->name, isa, i, calib_strerror(code[i]));
    if (code[i] != CALIB_OK && ebad++ == 0) {
      efirst = i;
      ecode = code[i];
    }
  }
  n_cases++;
  n_bad_rows += (long)ebad;
  const int exact = exact_values(j, isa);
  size_t bad = 12345, first = 12345;
  memset(st, 0xEE, n);
  const int rc = rows_call(j, x, y, st, &bad, &first);
  CHECK(rc == ecode);
  CHECK(bad == ebad);
  CHECK(first == efirst);
  long fails = 0;
  for (size_t i = 0; i < n && fails < 3; i++) {
    int ok = st[i] == (uint8_t)(-code[i]);
    for (size_t t = 0; t < k && ok; t++)
      ok = code[i] != CALIB_OK ? isnan(y[i * k + t]) : same_float(y[i * k + t], ref[i * k + t], exact);
    if (!ok) {
      fails++;
      TH_FAIL("%s %s n=%zu k=%zu row %zu: status %d (expected %d), first output %.9g (expected %.9g)", e->name,
              isa, n, k, i, st[i], -code[i], (double)y[i * k], (double)ref[i * k]);
    }
  }
  th_checks++;
  /* no bad row: the whole strict call, bit for bit (under 8 MiB) */
  if (ebad == 0 && cnt * sizeof(float) < ((size_t)8 << 20)) {
    CHECK_OK(strict_call(j, x, n, z));
    CHECK(memcmp(z, y, cnt * sizeof(float)) == 0);
  }
  /* NULL reports: the same values and return value */
  memcpy(z, y, cnt * sizeof(float));
  memset(y, 0, cnt * sizeof(float));
  CHECK(rows_call(j, x, y, NULL, NULL, NULL) == ecode);
  for (size_t i = 0; i < cnt; i++)
    if (!same_float(y[i], z[i], 1)) {
      TH_FAIL("%s %s n=%zu k=%zu: value %zu differs with NULL reports", e->name, isa, n, k, i);
      break;
    }
  /* in place */
  float *w = (float *)malloc(cnt * sizeof(float));
  memcpy(w, x, cnt * sizeof(float));
  bad = first = 999;
  CHECK(rows_call(j, w, w, st2, &bad, &first) == ecode);
  CHECK(bad == ebad && first == efirst && memcmp(st, st2, n) == 0);
  for (size_t i = 0; i < cnt; i++)
    if (!same_float(w[i], z[i], 1)) {
      TH_FAIL("%s %s n=%zu k=%zu: in place value %zu differs", e->name, isa, n, k, i);
      break;
    }
  free(w);
  /* byte-misaligned input (+1) and output (+3) */
  if (cnt <= ((size_t)1 << 20)) {
    unsigned char *rx = (unsigned char *)malloc(cnt * sizeof(float) + 8), *ry = (unsigned char *)malloc(cnt * sizeof(float) + 8);
    memcpy(rx + 1, x, cnt * sizeof(float));
    memset(st2, 0xEE, n);
    bad = first = 999;
    CHECK(rows_call(j, (const float *)(const void *)(rx + 1), (float *)(void *)(ry + 3), st2, &bad, &first) == ecode);
    CHECK(bad == ebad && first == efirst && memcmp(st, st2, n) == 0);
    memcpy(w = (float *)malloc(cnt * sizeof(float)), ry + 3, cnt * sizeof(float));
    for (size_t i = 0; i < cnt; i++)
      if (!same_float(w[i], z[i], exact)) {
        TH_FAIL("%s %s n=%zu k=%zu: misaligned value %zu: %.9g vs %.9g", e->name, isa, n, k, i, (double)w[i],
                (double)z[i]);
        break;
      }
    free(w);
    free(rx);
    free(ry);
  }
  free(x);
  free(y);
  free(ref);
  free(z);
  free(st);
  free(st2);
  free(code);
}

static void test_shapes(void) {
  size_t ks[76];
  size_t nk = 0;
  for (size_t k = 1; k <= 70; k++) ks[nk++] = k;
  ks[nk++] = 96;  /* the in-register softmax rows' longest: 6 and 8 vectors */
  ks[nk++] = 128;
  ks[nk++] = 100;
  ks[nk++] = 1000;
  for (size_t t = 0; t < NISA; t++) {
    if (!calib__kernels_force(ISAS[t])) continue;
    for (size_t e = 0; e < NENT; e++) {
      const entry *en = &ENTRIES[e];
      for (size_t q = 0; q < nk; q++) {
        const size_t k = ks[q];
        calib_model *m = en->kind == K_APPLY ? build_model(en->method, k, en->probs, en->probs) : NULL;
        if (en->kind == K_APPLY && !m) continue; /* vector/matrix/dirichlet need k >= 2 */
        const int heavy = (en->method == CALIB_METHOD_MATRIX || en->method == CALIB_METHOD_DIRICHLET) && k >= 100;
        for (int trial = 0; trial < 3; trial++) {
          size_t n = trial == 2 ? (q % 2 ? 16 : 17) : 1 + (size_t)(th_next() % 40);
          if (heavy) n = 1 + n % 4;
          const job j = {en, m, en->kind == K_SIGMOID ? n * k : n, en->kind == K_SIGMOID ? 1 : k};
          one_case(&j, ISAS[t], trial == 0, trial != 1 || (q % 3) != 0);
        }
        calib_model_free(m);
      }
    }
  }
}

/* Streamed outputs (>= 4 MiB) and the SIMD staging paths: softmax and
 * temperature. x86 only: the NEON and scalar tables work row by row with no
 * size-dependent path (and qemu is slow). */
static void test_streamed(void) {
#if defined(CALIB_HAVE_NEON_KERNELS)
  return;
#endif
  static const size_t SH[][2] = {{400000, 3}, {110000, 10}, {11000, 100}, {4000, 300}, {1100, 1000}};
  for (size_t t = 0; t < NISA; t++) {
    if (!calib__kernels_force(ISAS[t])) continue;
    for (size_t s = 0; s < sizeof SH / sizeof SH[0]; s++) {
      calib_model *m = build_model(CALIB_METHOD_TEMPERATURE, SH[s][1], 0, 0);
      const job js = {&ENTRIES[0], NULL, SH[s][0], SH[s][1]};
      const job jl = {&ENTRIES[2], NULL, SH[s][0], SH[s][1]};
      const job jt = {&ENTRIES[4], m, SH[s][0], SH[s][1]};
      one_case(&js, ISAS[t], 1, 1);
      one_case(&jl, ISAS[t], 1, 1);
      one_case(&jt, ISAS[t], 0, 1);
      one_case(&js, ISAS[t], 0, 0);
      calib_model_free(m);
    }
  }
}

/* ---- argument errors: nothing written ---------------------------------------- */

#define SENT 0x5A

static int untouched(const void *p, size_t bytes) {
  const unsigned char *b = (const unsigned char *)p;
  for (size_t i = 0; i < bytes; i++)
    if (b[i] != SENT) return 0;
  return 1;
}

static void test_errors(void) {
  enum { N = 4, K = 3 };
  float x[N * K], y[N * K + 4];
  uint8_t st[N + 8];
  size_t bad, first;
  for (int i = 0; i < N * K; i++) x[i] = (float)i;
  x[4] = NAN; /* one bad row: an argument error must still win */
#define RESET() (memset(y, SENT, sizeof y), memset(st, SENT, sizeof st), memset(&bad, SENT, sizeof bad), \
                 memset(&first, SENT, sizeof first))
#define NOTHING() CHECK(untouched(y, sizeof y) && untouched(st, sizeof st) && untouched(&bad, sizeof bad) && \
                        untouched(&first, sizeof first))
  const size_t huge = SIZE_MAX / 8;
  RESET(); CHECK_ERR(calib_softmax_rows(NULL, N, K, 0, 1.0f, y, 0, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_softmax_rows(x, N, K, 0, 1.0f, NULL, 0, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_softmax_rows(x, N, 0, 0, 1.0f, y, 0, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_softmax_rows(x, N, K, 2, 1.0f, y, 0, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_softmax_rows(x, N, K, 0, 1.0f, y, 2, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_softmax_rows(x, N, K, 0, 0.0f, y, 0, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_softmax_rows(x, N, K, 0, NAN, y, 0, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_softmax_rows(x, N, K, 0, INFINITY, y, 0, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_softmax_rows(x, huge, K, 0, 1.0f, y, 0, st, &bad, &first), CALIB_E_ARG); NOTHING();
  /* overlap other than exact in place; in place with another ld */
  RESET(); CHECK_ERR(calib_softmax_rows(y, N, K, 0, 1.0f, y + 1, 0, st, &bad, &first), CALIB_E_ARG);
  CHECK(untouched(st, sizeof st) && untouched(&bad, sizeof bad));
  RESET(); CHECK_ERR(calib_softmax_rows(y, 2, K, K, 1.0f, y, K + 1, st, &bad, &first), CALIB_E_ARG);
  CHECK(untouched(st, sizeof st) && untouched(&bad, sizeof bad));
  /* the status array overlapping the input or the output */
  RESET(); CHECK_ERR(calib_softmax_rows(x, N, K, 0, 1.0f, y, 0, (uint8_t *)(void *)y, &bad, &first), CALIB_E_ARG);
  CHECK(untouched(y, sizeof y) && untouched(&bad, sizeof bad) && untouched(&first, sizeof first));
  memcpy(y, x, sizeof x);
  CHECK_ERR(calib_softmax_rows(y, N, K, 0, 1.0f, y, 0, (uint8_t *)(void *)(y + 2), &bad, &first), CALIB_E_ARG);
  CHECK(memcmp(y, x, sizeof x) == 0);
  /* sigmoid */
  RESET(); CHECK_ERR(calib_log_softmax_rows(NULL, N, K, 0, 1.0f, y, 0, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_log_softmax_rows(x, N, K, 0, 1.0f, y, 0, (uint8_t *)(void *)y, &bad, &first), CALIB_E_ARG);
  CHECK(untouched(y, sizeof y) && untouched(&bad, sizeof bad));
  RESET(); CHECK_ERR(calib_sigmoid_rows(NULL, N, 1.0f, y, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_sigmoid_rows(x, N, -1.0f, y, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_sigmoid_rows(x, N, 1.0f, y, (uint8_t *)(void *)y, &bad, &first), CALIB_E_ARG);
  RESET(); CHECK_ERR(calib_sigmoid_rows(x, huge * 2, 1.0f, y, st, &bad, &first), CALIB_E_ARG); NOTHING();
  /* apply */
  calib_model *m = build_model(CALIB_METHOD_PLATT, K, 0, 0);
  RESET(); CHECK_ERR(calib_apply_rows(NULL, x, N, K, y, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_apply_rows(m, x, N, 0, y, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_apply_rows(m, x, N, K + 1, y, st, &bad, &first), CALIB_E_SHAPE); NOTHING();
  RESET(); CHECK_ERR(calib_apply_rows(m, NULL, N, K, y, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_apply_rows(m, x, N, K, NULL, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_apply_rows(m, x, huge, K, y, st, &bad, &first), CALIB_E_ARG); NOTHING();
  RESET(); CHECK_ERR(calib_apply_rows(m, y, 2, K, y + 1, st, &bad, &first), CALIB_E_ARG);
  CHECK(untouched(st, sizeof st) && untouched(&bad, sizeof bad) && untouched(&first, sizeof first));
  RESET(); CHECK_ERR(calib_apply_rows(m, x, N, K, y, st + 0, &bad, &first), CALIB_E_NONFINITE);
  CHECK(bad == 1 && first == 1 && st[1] == 2 && st[0] == 0 && isnan(y[3]) && !isnan(y[0]) && st[N] == SENT);
  RESET(); CHECK_ERR(calib_apply_rows(m, x, N, K, y, (uint8_t *)(void *)(x + 1), &bad, &first), CALIB_E_ARG);
  NOTHING();
  /* n == 0 */
  RESET(); CHECK_OK(calib_apply_rows(m, NULL, 0, K, NULL, NULL, &bad, &first));
  CHECK(bad == 0 && first == 0);
  RESET(); CHECK_OK(calib_softmax_rows(NULL, 0, K, 0, 1.0f, NULL, 0, NULL, &bad, &first));
  CHECK(bad == 0 && first == 0 && untouched(y, sizeof y));
  calib_model_free(m);
#undef RESET
#undef NOTHING
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  test_errors();
  test_shapes();
  test_streamed();
  printf("test_rows: %ld cases, %ld bad rows\n", n_cases, n_bad_rows);
  TEST_MAIN_END();
}
