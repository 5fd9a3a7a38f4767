/* bench_onednn.c -- oneDNN's softmax primitive (forward inference, accurate,
 * float32, plain row-major (n, k), axis 1) on the same shapes and with the
 * same protocol as bench_softmax.c: every buffer is written once before
 * timing, each repetition times enough calls to last >= ~20 ms, and the
 * median repetition is reported. Single thread: run with OMP_NUM_THREADS=1
 * (bench/run.sh does); the program also checks the result against a double
 * precision reference on a few rows so a misconfigured primitive cannot
 * produce a meaningless time.
 *
 * Output: one line per shape
 *   RESULT onednn <n> <k> <median seconds per call> <min seconds per call>
 * plus "INFO onednn ..." lines (version, implementation name). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include <oneapi/dnnl/dnnl.h>

#define CHECK_DNNL(e) do { dnnl_status_t s_ = (e); if (s_ != dnnl_success) { \
    fprintf(stderr, "oneDNN error %d at %s:%d: %s\n", (int)s_, __FILE__, __LINE__, #e); exit(2); } } while (0)

static void bench_shape(dnnl_engine_t eng, dnnl_stream_t st, size_t n, size_t k, int reps) {
  const size_t total = n * k;
  void *px = NULL, *py = NULL;
  if (posix_memalign(&px, 64, total * sizeof(float)) || posix_memalign(&py, 64, total * sizeof(float))) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  float *x = px, *y = py;
  for (size_t i = 0; i < total; i++) x[i] = (float)(8.0 * uniform() - 4.0); /* pre-touch */
  memset(y, 0, total * sizeof(float));                                          /* pre-touch */

  dnnl_memory_desc_t md;
  dnnl_dims_t dims = {(dnnl_dim_t)n, (dnnl_dim_t)k};
  CHECK_DNNL(dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_f32, dnnl_ab));
  dnnl_softmax_v2_desc_t sd;
  CHECK_DNNL(dnnl_softmax_v2_forward_desc_init(&sd, dnnl_forward_inference, dnnl_softmax_accurate,
                                               &md, &md, 1));
  dnnl_primitive_desc_t pd;
  CHECK_DNNL(dnnl_primitive_desc_create(&pd, &sd, NULL, eng, NULL));
  const char *impl = NULL;
  CHECK_DNNL(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
  printf("INFO onednn shape (%zu,%zu) implementation %s\n", n, k, impl ? impl : "?");
  dnnl_primitive_t prim;
  CHECK_DNNL(dnnl_primitive_create(&prim, pd));
  dnnl_memory_t mx, my;
  CHECK_DNNL(dnnl_memory_create(&mx, &md, eng, x));
  CHECK_DNNL(dnnl_memory_create(&my, &md, eng, y));
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, mx}, {DNNL_ARG_DST, my}};

  /* warm-up call, then correctness spot check on a few rows */
  CHECK_DNNL(dnnl_primitive_execute(prim, st, 2, args));
  CHECK_DNNL(dnnl_stream_wait(st));
  for (size_t i = 0; i < n; i += n / 4 + 1) {
    const float *r = x + i * k;
    double m = r[0], s = 0;
    for (size_t j = 1; j < k; j++) m = r[j] > m ? r[j] : m;
    for (size_t j = 0; j < k; j++) s += exp((double)r[j] - m);
    for (size_t j = 0; j < k; j++) {
      const double p = exp((double)r[j] - m) / s;
      if (fabs(p - (double)y[i * k + j]) > 1e-5) {
        fprintf(stderr, "oneDNN result wrong at (%zu,%zu): %g vs %g\n", i, j, (double)y[i * k + j], p);
        exit(2);
      }
    }
  }

  /* calls per repetition: at least ~20 ms of work (50M elements ~ 1 call) */
  size_t inner = 1;
  {
    const double t0 = now();
    CHECK_DNNL(dnnl_primitive_execute(prim, st, 2, args));
    CHECK_DNNL(dnnl_stream_wait(st));
    const double dt = now() - t0;
    if (dt < 0.02) inner = (size_t)(0.02 / (dt > 1e-7 ? dt : 1e-7)) + 1;
  }
  double *t = malloc(sizeof(double) * (size_t)reps);
  for (int r = 0; r < reps; r++) {
    const double t0 = now();
    for (size_t it = 0; it < inner; it++) CHECK_DNNL(dnnl_primitive_execute(prim, st, 2, args));
    CHECK_DNNL(dnnl_stream_wait(st));
    t[r] = (now() - t0) / (double)inner;
  }
  qsort(t, (size_t)reps, sizeof(double), cmp_double);
  printf("RESULT onednn %zu %zu %.9g %.9g\n", n, k, t[reps / 2], t[0]);
  fflush(stdout);
  free(t);
  dnnl_memory_destroy(mx);
  dnnl_memory_destroy(my);
  dnnl_primitive_destroy(prim);
  dnnl_primitive_desc_destroy(pd);
  free(x);
  free(y);
}

int main(int argc, char **argv) {
  const int reps = argc > 1 ? atoi(argv[1]) : 9;
  const dnnl_version_t *v = dnnl_version();
  printf("INFO onednn version %d.%d.%d (cpu runtime %u), buffers pre-touched before timing\n",
         v->major, v->minor, v->patch, v->cpu_runtime);
  dnnl_engine_t eng;
  dnnl_stream_t st;
  CHECK_DNNL(dnnl_engine_create(&eng, dnnl_cpu, 0));
  CHECK_DNNL(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
  static const size_t shapes[][2] = {{1, 1000}, {1000000, 10}, {100000, 100}, {50000, 1000}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    bench_shape(eng, st, shapes[s][0], shapes[s][1], reps);
  dnnl_stream_destroy(st);
  dnnl_engine_destroy(eng);
  return 0;
}
