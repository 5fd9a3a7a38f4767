/* test_slot.c -- calib_slot: hot swap and rollback (issue 11, part 2).
 *
 *  1. Single-threaded contract: empty slot, versions 1, 2, 3, ... never
 *     reused, rollback to older versions and CALIB_E_EMPTY past the history,
 *     the oldest model dropped when the history is full, ownership on
 *     failure (m stays the caller's), every documented error.
 *  2. A pin (calib_slot_acquire) keeps its model alive across installs that
 *     evict it: the installing thread waits for the release.
 *  3. The swap test: 8 threads apply through one slot while one thread
 *     installs 10,000 models (and rolls back every 97th time). Every model is
 *     temperature scaling with a T known from its version, and every output
 *     row of every call is checked against softmax(z / T(version)) for the
 *     version the call reported: one model for all the rows of a call, never
 *     a mix, never a freed model (ASan, and ThreadSanitizer in make check).
 * Usage: test_slot [seed] */
#include "harness.h"
#include <pthread.h>

#define K 10
#define INSTALLS 10000
#define READERS 8

/* T of the model given version v (versions are install numbers). */
static double temp_of(uint64_t v) { return 0.5 + (double)(v % 61) * 0.05; }

/* max |p - softmax(z / T)| over n rows. */
static double row_error(const float *z, const float *p, size_t n, double T) {
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    const float *r = z + i * K;
    double mx = r[0], s = 0, q[K];
    for (int j = 1; j < K; j++) mx = r[j] > mx ? r[j] : mx;
    for (int j = 0; j < K; j++) s += (q[j] = exp(((double)r[j] - mx) / T));
    for (int j = 0; j < K; j++) worst = fmax(worst, fabs(p[i * K + j] - q[j] / s));
  }
  return worst;
}

static void test_contract(void) {
  calib_slot *s = NULL;
  CHECK_ERR(calib_slot_create(NULL, 2), CALIB_E_ARG);
  CHECK_ERR(calib_slot_create(&s, 0), CALIB_E_ARG);
  CHECK_ERR(calib_slot_create(&s, CALIB_SLOT_HISTORY_MAX + 1), CALIB_E_ARG);
  CHECK(s == NULL);
  CHECK_OK(calib_slot_create(&s, 2));
  float z[2 * K], p[2 * K];
  for (int i = 0; i < 2 * K; i++) z[i] = (float)th_normal();
  memcpy(p, z, sizeof p);
  uint64_t v = 777;
  CHECK_ERR(calib_slot_apply(s, z, 2, K, p, &v), CALIB_E_EMPTY);
  CHECK(v == 777 && memcmp(p, z, sizeof p) == 0);
  CHECK(calib_slot_version(s) == 0 && calib_slot_history(s) == 0);
  CHECK_ERR(calib_slot_rollback(s, &v), CALIB_E_EMPTY);
  CHECK_ERR(calib_slot_install(s, NULL, &v), CALIB_E_ARG);
  CHECK_ERR(calib_slot_install(NULL, NULL, &v), CALIB_E_ARG);

  calib_model *m[5];
  for (int i = 0; i < 5; i++) m[i] = th_temperature_model(temp_of((uint64_t)i + 1), K);
  for (uint64_t i = 0; i < 4; i++) {
    CHECK_OK(calib_slot_install(s, m[i], &v));
    CHECK(v == i + 1 && calib_slot_version(s) == i + 1);
    CHECK(calib_slot_history(s) == (i < 2 ? i : 2)); /* history 2: the oldest is dropped */
    CHECK_OK(calib_slot_apply(s, z, 2, K, p, &v));
    CHECK(v == i + 1 && row_error(z, p, 2, temp_of(v)) < 2e-6);
  }
  CHECK_ERR(calib_slot_install(s, m[3], &v), CALIB_E_ARG); /* already current: still the slot's */
  CHECK_OK(calib_slot_rollback(s, &v));
  CHECK(v == 3 && calib_slot_version(s) == 3 && calib_slot_history(s) == 1);
  CHECK_OK(calib_slot_apply(s, z, 2, K, p, &v));
  CHECK(v == 3 && row_error(z, p, 2, temp_of(3)) < 2e-6);
  CHECK_OK(calib_slot_rollback(s, &v));
  CHECK(v == 2 && calib_slot_history(s) == 0);
  CHECK_ERR(calib_slot_rollback(s, &v), CALIB_E_EMPTY);
  CHECK(calib_slot_version(s) == 2);
  CHECK_OK(calib_slot_install(s, m[4], &v));
  CHECK(v == 5); /* versions are never reused, even after rollbacks */
  CHECK_ERR(calib_slot_apply(s, z, 2, K + 1, p, &v), CALIB_E_SHAPE); /* calib_apply's errors */
  CHECK(v == 5);
  calib_slot_free(s); /* frees m[1] and m[4]; m[0], m[2], m[3] were dropped */
  calib_slot_free(NULL);
}

/* ---- a pin outlives an install that evicts its model -------------------------- */
typedef struct { calib_slot *s; calib_model *m[2]; int st[2]; int done; } installer_arg;

/* No CHECK here: the harness's counters belong to the main thread. */
static void *install_two(void *p) {
  installer_arg *a = (installer_arg *)p;
  uint64_t v;
  for (int i = 0; i < 2; i++) a->st[i] = calib_slot_install(a->s, a->m[i], &v);
  __atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void test_pin(void) {
  calib_slot *s = NULL;
  CHECK_OK(calib_slot_create(&s, 1));
  uint64_t v;
  CHECK_OK(calib_slot_install(s, th_temperature_model(temp_of(1), K), &v));
  calib_slot_ref ref;
  CHECK_OK(calib_slot_acquire(s, &ref));
  CHECK(ref.version == 1);
  installer_arg a = {s, {th_temperature_model(2.0, K), th_temperature_model(3.0, K)}, {1, 1}, 0};
  pthread_t t;
  pthread_create(&t, NULL, install_two, &a);
  /* the second install must drop version 1, which we pin: it waits */
  struct timespec ts = {0, 50 * 1000 * 1000};
  nanosleep(&ts, NULL);
  CHECK(__atomic_load_n(&a.done, __ATOMIC_SEQ_CST) == 0);
  float z[K], p[K];
  for (int j = 0; j < K; j++) z[j] = (float)j;
  CHECK_OK(calib_apply(ref.model, z, 1, K, p)); /* the pinned model is alive */
  CHECK(row_error(z, p, 1, temp_of(1)) < 2e-6);
  calib_slot_release(&ref);
  calib_slot_release(&ref); /* a second release is a no-op */
  pthread_join(t, NULL);
  CHECK(a.done == 1 && calib_slot_version(s) == 3);
  CHECK_OK(a.st[0]);
  CHECK_OK(a.st[1]);
  calib_slot_free(s);
}

/* ---- the swap test ------------------------------------------------------------- */
typedef struct {
  calib_slot *s;
  unsigned seed;
  long calls, rows, bad_rows, errors;
  uint64_t max_version_seen;
} reader_arg;

static int stop_readers = 0;

static void *reader(void *p) {
  reader_arg *a = (reader_arg *)p;
  uint64_t rng = a->seed * 2654435761u + 1;
  float z[17 * K], out[17 * K];
  while (!__atomic_load_n(&stop_readers, __ATOMIC_SEQ_CST)) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    const size_t n = 1 + (size_t)(rng >> 33) % 17;
    for (size_t i = 0; i < n * K; i++) z[i] = (float)((double)((rng >> (i % 40)) & 1023) / 64.0 - 8.0);
    uint64_t v = 0;
    const int st = calib_slot_apply(a->s, z, n, K, out, &v);
    a->calls++;
    if (st != CALIB_OK) { a->errors++; continue; }
    a->rows += (long)n;
    if (v > a->max_version_seen) a->max_version_seen = v;
    for (size_t i = 0; i < n; i++) /* each row on its own: one model for all of them */
      if (row_error(z + i * K, out + i * K, 1, temp_of(v)) > 2e-6) a->bad_rows++;
  }
  return NULL;
}

static void test_swap(void) {
  calib_slot *s = NULL;
  CHECK_OK(calib_slot_create(&s, 4));
  uint64_t v, last = 0;
  CHECK_OK(calib_slot_install(s, th_temperature_model(temp_of(1), K), &v));
  last = v;
  pthread_t t[READERS];
  reader_arg a[READERS];
  for (int i = 0; i < READERS; i++) {
    memset(&a[i], 0, sizeof a[i]);
    a[i].s = s;
    a[i].seed = (unsigned)(th_seed_value + (unsigned long)i);
    pthread_create(&t[i], NULL, reader, &a[i]);
  }
  long rollbacks = 0, monotonic_ok = 1;
  for (int i = 1; i < INSTALLS; i++) {
    /* the model for the version the slot will give it: last install + 1 */
    CHECK_OK(calib_slot_install(s, th_temperature_model(temp_of(last + 1), K), &v));
    monotonic_ok &= v == last + 1;
    last = v;
    if (i % 97 == 0) {
      uint64_t back = 0;
      CHECK_OK(calib_slot_rollback(s, &back));
      monotonic_ok &= back < v;
      rollbacks++;
    }
  }
  __atomic_store_n(&stop_readers, 1, __ATOMIC_SEQ_CST);
  long calls = 0, rows = 0, bad = 0, errors = 0;
  for (int i = 0; i < READERS; i++) {
    pthread_join(t[i], NULL);
    calls += a[i].calls, rows += a[i].rows, bad += a[i].bad_rows, errors += a[i].errors;
  }
  CHECK(monotonic_ok);
  CHECK(bad == 0 && errors == 0);
  CHECK(calls > 0);
  printf("swap test: %d installs, %ld rollbacks, %d readers: %ld calls, %ld rows checked, "
         "%ld rows from a wrong model, %ld errors\n", INSTALLS, rollbacks, READERS, calls, rows, bad, errors);
  calib_slot_free(s);
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  test_contract();
  test_pin();
  test_swap();
  TEST_MAIN_END();
}
