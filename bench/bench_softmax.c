/* bench_softmax.c -- single-thread timing of libcalib's float32 softmax.
 *
 * For each shape (n, k) in {(1,1000), (1000000,10), (100000,100), (50000,1000)}:
 *  - memcpy of the same byte count (n*k*4 bytes from x to y): the machine's
 *    streaming-copy reference;
 *  - for every kernel table this CPU supports (scalar, avx2, avx512, taken
 *    with calib__kernels_by_name): check_rows + softmax, i.e. exactly the
 *    work calib_softmax does (validation pass, then the kernel), and the
 *    validation pass alone;
 *  - the public calib_softmax() on the dispatched path (calib_isa());
 *  - the public calib_softmax_rows() (row-wise mode: validation fused into
 *    the kernel's pass, one read and one write; a per-row status array, as a
 *    server would pass) on the dispatched path: "calib-rows", timed batch
 *    for batch in alternation with a second memcpy, "memcpy-rows", its
 *    copy reference (time_pair).
 * Every buffer is written once before timing (pre-touched: no page faults
 * in the timed region). Each repetition times enough calls to last >= 20 ms;
 * the median of the repetitions is reported (and the minimum).
 * Outputs are spot-checked against a double-precision softmax.
 *
 * Output lines: RESULT <what> <n> <k> <median s/call> <min s/call>
 * Usage: bench_softmax [reps] [n k]   (default 9 reps, the four shapes) */
#define _POSIX_C_SOURCE 200809L
#include "calib.h"
#include "kernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"

typedef struct {
  const calib__kernels *kt; /* NULL: public calib_softmax; */
  int mode;                 /* 0 memcpy, 1 check+softmax, 2 check only, 3 public, 4 softmax only,
                             * 5 public row-wise */
  const float *x;
  float *y;
  uint8_t *status;
  size_t n, k;
} job;

static volatile int sink;

static void run_once(const job *j) {
  switch (j->mode) {
  case 0: memcpy(j->y, j->x, j->n * j->k * sizeof(float)); break;
  case 1:
    if (j->kt->check_rows(j->x, j->n, j->k, j->k) != CALIB_OK) abort();
    j->kt->softmax(j->x, j->n, j->k, j->k, 1.0f, j->y, j->k);
    break;
  case 2: sink = j->kt->check_rows(j->x, j->n, j->k, j->k); break;
  case 3:
    if (calib_softmax(j->x, j->n, j->k, 0, 1.0f, j->y, 0) != CALIB_OK) abort();
    break;
  case 5: {
    size_t bad = 0, first = 0;
    if (calib_softmax_rows(j->x, j->n, j->k, 0, 1.0f, j->y, 0, j->status, &bad, &first) != CALIB_OK) abort();
    break;
  }
  default: j->kt->softmax(j->x, j->n, j->k, j->k, 1.0f, j->y, j->k); break;
  }
}

/* calls of j per timed batch: enough to last >= 20 ms (after a warm-up call) */
static size_t batch_calls(const job *j) {
  run_once(j); /* warm-up */
  const double t0 = now();
  run_once(j);
  const double dt = now() - t0;
  return dt < 0.02 ? (size_t)(0.02 / (dt > 1e-7 ? dt : 1e-7)) + 1 : 1;
}

/* seconds per call over one batch of inner calls */
static double time_batch(const job *j, size_t inner) {
  const double a = now();
  for (size_t it = 0; it < inner; it++) run_once(j);
  return (now() - a) / (double)inner;
}

static void print_result(const char *name, const job *j, double *t, int reps) {
  qsort(t, (size_t)reps, sizeof(double), cmp_double);
  printf("RESULT %s %zu %zu %.9g %.9g\n", name, j->n, j->k, t[reps / 2], t[0]);
  fflush(stdout);
}

static void time_job(const char *name, const job *j, int reps) {
  const size_t inner = batch_calls(j);
  double *t = malloc(sizeof(double) * (size_t)reps);
  if (!t) abort();
  for (int r = 0; r < reps; r++) t[r] = time_batch(j, inner);
  print_result(name, j, t, reps);
  free(t);
}

/* Two jobs timed in alternation, batch for batch (a of batch r, then b of
 * batch r): the row-wise mode and the memcpy it is judged against. Timed
 * seconds apart, a slow spell of the VM fell on one of them only (run 26:
 * the row-wise call 3.41 ms against 2.30 in the runs around it, the copy
 * timed before it unaffected); alternated, both see the same machine. */
static void time_pair(const char *na, const job *a, const char *nb, const job *b, int reps) {
  const size_t ia = batch_calls(a), ib = batch_calls(b);
  double *ta = malloc(sizeof(double) * (size_t)reps), *tb = malloc(sizeof(double) * (size_t)reps);
  if (!ta || !tb) abort();
  for (int r = 0; r < reps; r++) {
    ta[r] = time_batch(a, ia);
    tb[r] = time_batch(b, ib);
  }
  print_result(na, a, ta, reps);
  print_result(nb, b, tb, reps);
  free(ta);
  free(tb);
}

/* Max abs error of y against a double softmax on a few rows. */
static double spot_error(const float *x, const float *y, size_t n, size_t k) {
  double worst = 0;
  for (size_t i = 0; i < n; i += n / 7 + 1) {
    const float *r = x + i * k;
    double m = r[0], s = 0;
    for (size_t j = 1; j < k; j++) m = r[j] > m ? r[j] : m;
    for (size_t j = 0; j < k; j++) s += exp((double)r[j] - m);
    for (size_t j = 0; j < k; j++) {
      const double e = fabs(exp((double)r[j] - m) / s - (double)y[i * k + j]);
      worst = e > worst ? e : worst;
    }
  }
  return worst;
}

static float *alloc_floats(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes) != 0) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  return p;
}

static void bench_shape(size_t n, size_t k, int reps) {
  const size_t total = n * k, bytes = (total * sizeof(float) + 63) / 64 * 64;
  float *x = alloc_floats(bytes), *y = alloc_floats(bytes);
  for (size_t i = 0; i < total; i++) x[i] = (float)(8.0 * uniform() - 4.0); /* pre-touch */
  memset(y, 0, bytes);                                                          /* pre-touch */
  uint8_t *status = malloc(n);
  if (!status) abort();
  memset(status, 1, n); /* pre-touch */
  job j = {NULL, 0, x, y, status, n, k};
  time_job("memcpy", &j, reps);
  static const char *const isas[] = {"scalar", "avx2", "avx512"};
  for (size_t a = 0; a < sizeof isas / sizeof isas[0]; a++) {
    const calib__kernels *kt = calib__kernels_by_name(isas[a]);
    if (!kt) {
      printf("INFO calib %s: not supported by this CPU/build, skipped\n", isas[a]);
      continue;
    }
    char name[64];
    j.kt = kt;
    j.mode = 1;
    memset(y, 0, bytes);
    snprintf(name, sizeof name, "calib-%s", isas[a]);
    time_job(name, &j, reps);
    const double err = spot_error(x, y, n, k);
    if (!(err < 1e-6)) {
      fprintf(stderr, "calib %s: wrong result (max error %g)\n", isas[a], err);
      exit(2);
    }
    j.mode = 2;
    snprintf(name, sizeof name, "calib-%s-check", isas[a]);
    time_job(name, &j, reps);
    j.mode = 4;
    snprintf(name, sizeof name, "calib-%s-kernel", isas[a]);
    time_job(name, &j, reps);
  }
  j.kt = NULL;
  j.mode = 3;
  time_job("calib-public", &j, reps);
  j.mode = 5;
  memset(y, 0, bytes);
  job cp = j;
  cp.mode = 0;
  /* the row-wise mode's copy reference, timed in alternation with it
   * (time_pair); twice the repetitions: a pair is two batches */
  time_pair("memcpy-rows", &cp, "calib-rows", &j, 2 * reps + 1);
  const double err = spot_error(x, y, n, k);
  if (!(err < 1e-6)) {
    fprintf(stderr, "calib rows: wrong result (max error %g)\n", err);
    exit(2);
  }
  free(status);
  free(x);
  free(y);
}

int main(int argc, char **argv) {
  const int reps = argc > 1 ? atoi(argv[1]) : 9;
  printf("INFO calib dispatched isa %s; single thread; buffers pre-touched before timing; "
         "median of %d reps\n", calib_isa(), reps);
  if (argc > 3) {
    bench_shape(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10), reps);
    return 0;
  }
  static const size_t shapes[][2] = {{1, 1000}, {1000000, 10}, {100000, 100}, {50000, 1000}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    bench_shape(shapes[s][0], shapes[s][1], reps > 0 ? reps : 9);
  return 0;
}
