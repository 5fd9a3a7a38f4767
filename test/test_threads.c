/*
 * test_threads.c -- the thread-safety promises of calib.h, exercised by 8
 * pthreads started together at a barrier:
 *   1. first use: calib_softmax / calib_sigmoid called concurrently before any
 *      other kernel call (the one-time ISA choice races), results compared
 *      with a later single-threaded run;
 *   2. one shared model per method and shape: every method id 1..9 whose
 *      fitter exists (CALIB_E_UNSUPPORTED skips it, so the test grows as
 *      methods land), fitted here on synthetic data for k = 1 and k = 4
 *      (a method rejecting a shape with CALIB_E_ARG/SHAPE/UNSUPPORTED is not
 *      fitted on it, but each method must fit on one shape). Every thread
 *      applies the ONE model to its own rows and to another thread's rows,
 *      REPS times, and serialises it; each output must equal the
 *      single-threaded result bit for bit;
 *   3. one fitter per thread: all threads fit the same data at once; every
 *      model's bytes must equal the single-threaded model's (or, for a fit
 *      whose BLAS calls may sum in another order, give the same map to 1e-5).
 * Run under ThreadSanitizer by test/sanitize.sh.
 * Usage: test_threads [seed]
 */
#include "harness.h"
#include <pthread.h>

#define NTHREADS 8
#define ROWS 512 /* rows per thread */
#define REPS 200
#define NFIT 2000
#define KMULTI 4

static pthread_barrier_t barrier;

typedef struct {
  int tid;
  const calib_model *model; /* phase 2 */
  size_t k;
  const float *x;           /* NTHREADS * ROWS * k inputs */
  const float *ref;         /* single-threaded outputs, same layout */
  const uint8_t *ref_bytes; /* single-threaded model bytes */
  size_t ref_size;
  const float *fit_x;       /* phase 3 */
  const int64_t *fit_y;
  float *out;               /* phase 1: this thread's output rows */
  int method;
  long mismatches, errors;  /* what the thread saw */
  long inexact;             /* phase 3: bytes differ, map agrees to 1e-5 */
} job;

/* ---- synthetic data ----------------------------------------------------- */

/* Labels drawn from softmax(z) (sigmoid for k == 1), logits 2 z: well posed
 * for every method (two classes, not separable, positive signal). */
static void make_fit_data(float *x, int64_t *y, size_t n, size_t k) {
  for (size_t i = 0; i < n; i++) {
    double z[KMULTI], total = 0, u = th_uniform();
    if (k == 1) {
      z[0] = 1.5 * th_normal();
      y[i] = u < 1.0 / (1.0 + exp(-z[0])) ? 1 : 0;
      x[i] = (float)(2.0 * z[0]);
      continue;
    }
    for (size_t j = 0; j < k; j++) { z[j] = 1.5 * th_normal(); total += exp(z[j]); }
    y[i] = (int64_t)k - 1;
    for (size_t j = 0; j < k; j++) {
      u -= exp(z[j]) / total;
      if (u < 0) { y[i] = (int64_t)j; break; }
    }
    for (size_t j = 0; j < k; j++) x[i * k + j] = (float)(2.0 * z[j]);
  }
}

static void make_inputs(float *x, size_t count) {
  for (size_t i = 0; i < count; i++) x[i] = (float)(3.0 * th_normal());
}

/* ---- phase 1: concurrent first use of the kernels ------------------------ */

static void *first_use_thread(void *arg) {
  job *j = (job *)arg;
  const size_t chunk = ROWS * KMULTI;
  const float *x = j->x + (size_t)j->tid * chunk;
  pthread_barrier_wait(&barrier);
  int st = (j->tid % 2) ? calib_sigmoid(x, chunk, 0.5f, j->out)
                        : calib_softmax(x, ROWS, KMULTI, 0, 0.5f, j->out, 0);
  if (st != CALIB_OK) j->errors++;
  return NULL;
}

static void phase_first_use(void) {
  const size_t chunk = ROWS * KMULTI, total = NTHREADS * chunk;
  float *x = (float *)malloc(total * sizeof(float));
  float *got = (float *)malloc(total * sizeof(float));
  float *want = (float *)malloc(total * sizeof(float));
  CHECK(x && got && want);
  if (!x || !got || !want) { free(x); free(got); free(want); return; }
  make_inputs(x, total);
  job jobs[NTHREADS];
  pthread_t th[NTHREADS];
  memset(jobs, 0, sizeof jobs);
  for (int t = 0; t < NTHREADS; t++) {
    jobs[t].tid = t;
    jobs[t].x = x;
    jobs[t].out = got + (size_t)t * chunk;
    CHECK(pthread_create(&th[t], NULL, first_use_thread, &jobs[t]) == 0);
  }
  for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
  long errors = 0;
  for (int t = 0; t < NTHREADS; t++) {
    const float *xt = x + (size_t)t * chunk;
    float *wt = want + (size_t)t * chunk;
    CHECK_OK((t % 2) ? calib_sigmoid(xt, chunk, 0.5f, wt) : calib_softmax(xt, ROWS, KMULTI, 0, 0.5f, wt, 0));
    errors += jobs[t].errors;
  }
  CHECK(errors == 0);
  CHECK(memcmp(got, want, total * sizeof(float)) == 0);
  printf("first use: %d threads raced the kernel choice (%s): identical results\n", NTHREADS, calib_isa());
  free(x); free(got); free(want);
}

/* ---- phase 2: one shared model, concurrent apply ------------------------- */

static void *apply_thread(void *arg) {
  job *j = (job *)arg;
  const size_t chunk = ROWS * j->k;
  float *out = (float *)malloc(chunk * sizeof(float));
  uint8_t *bytes = (uint8_t *)malloc(j->ref_size);
  pthread_barrier_wait(&barrier); /* always reached: the others wait for it */
  if (!out || !bytes) { j->errors++; free(out); free(bytes); return NULL; }
  for (int rep = 0; rep < REPS; rep++) {
    /* Own rows, then (sharing input reads) another thread's rows. */
    const size_t rows_of[2] = {(size_t)j->tid, (size_t)((j->tid + rep + 1) % NTHREADS)};
    for (int r = 0; r < 2; r++) {
      const size_t off = rows_of[r] * chunk;
      memset(out, 0xA5, chunk * sizeof(float));
      if (calib_apply(j->model, j->x + off, ROWS, j->k, out) != CALIB_OK) j->errors++;
      else if (memcmp(out, j->ref + off, chunk * sizeof(float)) != 0) j->mismatches++;
    }
    if (rep % 8 == 0) {
      size_t written = 0;
      if (calib_model_size(j->model) != j->ref_size ||
          calib_model_save(j->model, bytes, j->ref_size, &written) != CALIB_OK ||
          written != j->ref_size || calib_model_classes(j->model) != j->k)
        j->errors++;
      else if (memcmp(bytes, j->ref_bytes, j->ref_size) != 0)
        j->mismatches++;
    }
  }
  free(out);
  free(bytes);
  return NULL;
}

static void shared_apply(const calib_model *m, int method, size_t k) {
  const size_t chunk = ROWS * k, total = NTHREADS * chunk;
  float *x = (float *)malloc(total * sizeof(float));
  float *ref = (float *)malloc(total * sizeof(float));
  size_t size = calib_model_size(m);
  uint8_t *bytes = (uint8_t *)malloc(size ? size : 1);
  CHECK(x && ref && bytes && size > 0);
  if (!x || !ref || !bytes || !size) { free(x); free(ref); free(bytes); return; }
  make_inputs(x, total);
  for (int t = 0; t < NTHREADS; t++)
    CHECK_OK(calib_apply(m, x + (size_t)t * chunk, ROWS, k, ref + (size_t)t * chunk));
  CHECK_OK(calib_model_save(m, bytes, size, NULL));

  job jobs[NTHREADS];
  pthread_t th[NTHREADS];
  memset(jobs, 0, sizeof jobs);
  for (int t = 0; t < NTHREADS; t++) {
    job *j = &jobs[t];
    j->tid = t;
    j->model = m;
    j->k = k;
    j->x = x;
    j->ref = ref;
    j->ref_bytes = bytes;
    j->ref_size = size;
    CHECK(pthread_create(&th[t], NULL, apply_thread, j) == 0);
  }
  long mism = 0, errors = 0;
  for (int t = 0; t < NTHREADS; t++) {
    pthread_join(th[t], NULL);
    mism += jobs[t].mismatches;
    errors += jobs[t].errors;
  }
  CHECK(errors == 0);
  CHECK(mism == 0);
  printf("  %-12s k=%zu: %d threads x %d reps x 2 applies of one model: %ld mismatches, %ld errors\n",
         calib_method_name(method), k, NTHREADS, REPS, mism, errors);
  free(x); free(ref); free(bytes);
}

/* ---- phase 3: one fitter per thread, concurrent fits --------------------- */

/* 1 if models a and b give probabilities within 1e-5 of each other on the
 * NFIT training rows x. */
static int same_map(const calib_model *a, const calib_model *b, const float *x, size_t k) {
  float *pa = (float *)malloc(NFIT * k * sizeof(float));
  float *pb = (float *)malloc(NFIT * k * sizeof(float));
  int ok = pa && pb && calib_apply(a, x, NFIT, k, pa) == CALIB_OK &&
           calib_apply(b, x, NFIT, k, pb) == CALIB_OK;
  for (size_t i = 0; ok && i < NFIT * k; i++)
    if (!(fabsf(pa[i] - pb[i]) <= 1e-5f)) ok = 0;
  free(pa);
  free(pb);
  return ok;
}

/* Bit-identical bytes are expected; a fit that calls BLAS may sum in another
 * order when several threads call it at once, so differing bytes are counted
 * apart (inexact) and must still give the same map to 1e-5. */
static void *fit_thread(void *arg) {
  job *j = (job *)arg;
  calib_fitter *f = NULL;
  calib_model *m = NULL;
  uint8_t *bytes = (uint8_t *)malloc(j->ref_size);
  int st = calib_fitter_create(&f, j->method);
  pthread_barrier_wait(&barrier);
  if (st == CALIB_OK) st = calib_fit(f, j->fit_x, NFIT, j->k, j->fit_y, NULL, &m);
  if (st != CALIB_OK || !bytes || calib_model_size(m) != j->ref_size ||
      calib_model_save(m, bytes, j->ref_size, NULL) != CALIB_OK)
    j->errors++;
  else if (memcmp(bytes, j->ref_bytes, j->ref_size) != 0) {
    if (same_map(m, j->model, j->fit_x, j->k)) j->inexact++;
    else j->mismatches++;
  }
  calib_model_free(m);
  calib_fitter_free(f);
  free(bytes);
  return NULL;
}

static void concurrent_fit(const calib_model *m, int method, size_t k, const float *fx,
                           const int64_t *fy) {
  size_t size = calib_model_size(m);
  uint8_t *bytes = (uint8_t *)malloc(size ? size : 1);
  CHECK(bytes && size > 0);
  if (!bytes || !size) { free(bytes); return; }
  CHECK_OK(calib_model_save(m, bytes, size, NULL));
  job jobs[NTHREADS];
  pthread_t th[NTHREADS];
  memset(jobs, 0, sizeof jobs);
  for (int t = 0; t < NTHREADS; t++) {
    job *j = &jobs[t];
    j->tid = t;
    j->method = method;
    j->model = m;
    j->k = k;
    j->fit_x = fx;
    j->fit_y = fy;
    j->ref_bytes = bytes;
    j->ref_size = size;
    CHECK(pthread_create(&th[t], NULL, fit_thread, j) == 0);
  }
  long mism = 0, errors = 0, inexact = 0;
  for (int t = 0; t < NTHREADS; t++) {
    pthread_join(th[t], NULL);
    mism += jobs[t].mismatches;
    errors += jobs[t].errors;
    inexact += jobs[t].inexact;
  }
  CHECK(errors == 0);
  CHECK(mism == 0);
  printf("  %-12s k=%zu: %d concurrent fits, one fitter each: %ld differ (%ld within 1e-5), %ld errors\n",
         calib_method_name(method), k, NTHREADS, mism + inexact, inexact, errors);
  free(bytes);
}

/* ---- driver --------------------------------------------------------------- */

/* Fits `method` on k-column synthetic data; 1 if fitted (and tested), 0 if the
 * method does not take this shape. */
static int test_method_shape(int method, size_t k) {
  float *fx = (float *)malloc(NFIT * k * sizeof(float));
  int64_t *fy = (int64_t *)malloc(NFIT * sizeof(int64_t));
  CHECK(fx && fy);
  if (!fx || !fy) { free(fx); free(fy); return 0; }
  make_fit_data(fx, fy, NFIT, k);
  calib_fitter *f = NULL;
  calib_model *m = NULL;
  CHECK_OK(calib_fitter_create(&f, method));
  int st = f ? calib_fit(f, fx, NFIT, k, fy, NULL, &m) : CALIB_E_ARG;
  int fitted = 0;
  if (st == CALIB_E_ARG || st == CALIB_E_SHAPE || st == CALIB_E_UNSUPPORTED) {
    printf("  %-12s k=%zu: not for this shape (%s)\n", calib_method_name(method), k, calib_strerror(st));
  } else {
    CHECK_OK(st);
    if (st == CALIB_OK) {
      shared_apply(m, method, k);
      concurrent_fit(m, method, k, fx, fy);
      fitted = 1;
    }
  }
  calib_model_free(m);
  calib_fitter_free(f);
  free(fx);
  free(fy);
  return fitted;
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  CHECK(pthread_barrier_init(&barrier, NULL, NTHREADS) == 0);
  phase_first_use();
  int tested = 0;
  for (int method = 1; method <= 9; method++) {
    calib_fitter *f = NULL;
    int st = calib_fitter_create(&f, method);
    calib_fitter_free(f);
    if (st == CALIB_E_UNSUPPORTED) {
      printf("  %-12s not built in: skipped\n", calib_method_name(method));
      continue;
    }
    CHECK_OK(st);
    if (st != CALIB_OK) continue;
    int shapes = test_method_shape(method, 1) + test_method_shape(method, KMULTI);
    CHECK(shapes > 0);
    tested++;
  }
  CHECK(tested >= 1); /* temperature scaling is always built */
  pthread_barrier_destroy(&barrier);
  TEST_MAIN_END();
}
