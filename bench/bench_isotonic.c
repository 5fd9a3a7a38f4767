/* bench_isotonic.c -- times libcalib's isotonic regression on data written by
 * bench_isotonic.py, and writes what it fitted/predicted for the comparison
 * with scikit-learn.
 *
 * Usage: bench_isotonic WORKDIR N NT REPS
 *   WORKDIR/iso_x.f32 (N float32 scores), iso_y.i64 (N labels 0/1),
 *   iso_t.f32 (NT float32 scores to predict).
 * Every buffer is allocated and written before timing (pre-touched), the
 * library's workspace included: the project's rule is that the API takes
 * caller buffers and the benchmarks pre-touch every buffer, ours and the
 * anchors' alike (scikit-learn allocates its own inside .fit, which we
 * cannot pre-touch: it is timed as it runs). So the timings contain no
 * first-touch page faults of memory the caller provides.
 * Timed, median of REPS:
 *   fit_f64   calib_isotonic_fit_f64_work on the float64 copies (increasing,
 *             no clip) in a workspace of calib_isotonic_work_size bytes
 *             allocated and pre-touched before timing: scikit-learn's
 *             IsotonicRegression.fit semantics
 *   fit_f64_alloc  (informational) calib_isotonic_fit_f64, which allocates
 *             and frees that workspace in every call (fresh pages each time)
 *   fit_calib calib_fit(CALIB_METHOD_ISOTONIC) on the float32 scores and
 *             int64 labels (validation, sort, PAV, model, report), the same
 *             fitter reused across the repetitions: the first repetition
 *             pays the page faults of the scratch the fitter keeps, the
 *             median does not (as a caller refitting with one fitter)
 *   pred_f64  calib_isotonic_predict_f64 (CALIB_OOB_CLIP) on NT doubles
 *   apply     calib_apply of the fitted model on NT float32 scores
 * Writes WORKDIR/iso_thr_f64.f64, iso_thr_f64_alloc.f64, iso_thr_calib.f64
 * (m, then x[m], y[m]), iso_pred_f64.f64 (NT doubles), iso_apply.f32 (NT
 * floats).
 * Output: one line "RESULT <name> <median s> <min s>" per timing, and
 * "THRESHOLDS <m>". */
#define _POSIX_C_SOURCE 200809L
#include "calib.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"

static void die(const char *what, int st) {
  fprintf(stderr, "bench_isotonic: %s: %s\n", what, st ? calib_strerror(st) : "failed");
  exit(2);
}

static void *xmalloc(size_t bytes) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) die("out of memory", 0);
  memset(p, 0, bytes); /* pre-touch */
  return p;
}

static void *read_file(const char *dir, const char *name, size_t bytes) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  void *p = xmalloc(bytes);
  if (!f || fread(p, 1, bytes, f) != bytes) die(path, 0);
  fclose(f);
  return p;
}

static void write_file(const char *dir, const char *name, const void *a, size_t bytes,
                       const void *b, size_t bbytes) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(a, 1, bytes, f) != bytes || (b && fwrite(b, 1, bbytes, f) != bbytes)) die(path, 0);
  fclose(f);
}

static void report(const char *name, double *t, int reps) {
  qsort(t, (size_t)reps, sizeof *t, cmp_double);
  printf("RESULT %s %.6f %.6f\n", name, t[reps / 2], t[0]);
}

static void write_table(const char *dir, const char *name, const double *x, const double *y,
                        size_t m) {
  double *buf = xmalloc((2 * m + 1) * sizeof(double));
  buf[0] = (double)m;
  memcpy(buf + 1, x, m * sizeof(double));
  memcpy(buf + 1 + m, y, m * sizeof(double));
  write_file(dir, name, buf, (2 * m + 1) * sizeof(double), NULL, 0);
  free(buf);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s WORKDIR N NT REPS\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  const size_t n = strtoul(argv[2], NULL, 10), nt = strtoul(argv[3], NULL, 10);
  const int reps = atoi(argv[4]) > 0 ? atoi(argv[4]) : 1;
  float *x = read_file(dir, "iso_x.f32", n * sizeof(float));
  int64_t *y = read_file(dir, "iso_y.i64", n * sizeof(int64_t));
  float *t = read_file(dir, "iso_t.f32", nt * sizeof(float));
  double *xd = xmalloc(n * sizeof(double)), *yd = xmalloc(n * sizeof(double));
  double *td = xmalloc(nt * sizeof(double)), *pd = xmalloc(nt * sizeof(double));
  double *xt = xmalloc(n * sizeof(double)), *yt = xmalloc(n * sizeof(double));
  float *pa = xmalloc(nt * sizeof(float));
  double *tm = xmalloc((size_t)reps * sizeof(double));
  for (size_t i = 0; i < n; i++) xd[i] = x[i], yd[i] = (double)y[i];
  for (size_t i = 0; i < nt; i++) td[i] = t[i];

  size_t m = 0;
  int st;
  const size_t wbytes = calib_isotonic_work_size(n, 1);
  if (wbytes == 0) die("calib_isotonic_work_size", 0);
  void *work = xmalloc(wbytes); /* pre-touched */
  for (int r = 0; r < reps; r++) {
    const double a = now();
    st = calib_isotonic_fit_f64_work(xd, yd, NULL, n, 1, -INFINITY, INFINITY, xt, yt, n, &m, NULL,
                                     work, wbytes);
    tm[r] = now() - a;
    if (st != CALIB_OK) die("calib_isotonic_fit_f64_work", st);
  }
  report("fit_f64", tm, reps);
  write_table(dir, "iso_thr_f64.f64", xt, yt, m);
  printf("THRESHOLDS %zu\n", m);
  free(work);
  for (int r = 0; r < reps; r++) {
    const double a = now();
    st = calib_isotonic_fit_f64(xd, yd, NULL, n, 1, -INFINITY, INFINITY, xt, yt, n, &m, NULL);
    tm[r] = now() - a;
    if (st != CALIB_OK) die("calib_isotonic_fit_f64", st);
  }
  report("fit_f64_alloc", tm, reps);
  write_table(dir, "iso_thr_f64_alloc.f64", xt, yt, m);

  calib_fitter *f = NULL;
  if ((st = calib_fitter_create(&f, CALIB_METHOD_ISOTONIC)) != CALIB_OK) die("fitter", st);
  calib_model *model = NULL;
  for (int r = 0; r < reps; r++) {
    calib_model_free(model);
    model = NULL;
    const double a = now();
    st = calib_fit(f, x, n, 1, y, NULL, &model);
    tm[r] = now() - a;
    if (st != CALIB_OK) die("calib_fit", st);
  }
  report("fit_calib", tm, reps);
  size_t mc = 0;
  if ((st = calib_model_param(model, CALIB_MP_ISO_X, xt, n, &mc)) != CALIB_OK) die("param", st);
  if ((st = calib_model_param(model, CALIB_MP_ISO_Y, yt, n, &mc)) != CALIB_OK) die("param", st);
  write_table(dir, "iso_thr_calib.f64", xt, yt, mc);

  const int preps = reps < 5 ? 5 : reps;
  double *tp = xmalloc((size_t)preps * sizeof(double));
  for (int r = 0; r < preps; r++) {
    const double a = now();
    st = calib_isotonic_predict_f64(xt, yt, mc, CALIB_OOB_CLIP, td, nt, pd);
    tp[r] = now() - a;
    if (st != CALIB_OK) die("calib_isotonic_predict_f64", st);
  }
  report("pred_f64", tp, preps);
  for (int r = 0; r < preps; r++) {
    const double a = now();
    st = calib_apply(model, t, nt, 1, pa);
    tp[r] = now() - a;
    if (st != CALIB_OK) die("calib_apply", st);
  }
  report("apply", tp, preps);
  write_file(dir, "iso_pred_f64.f64", pd, nt * sizeof(double), NULL, 0);
  write_file(dir, "iso_apply.f32", pa, nt * sizeof(float), NULL, 0);
  calib_model_free(model);
  calib_fitter_free(f);
  free(x); free(y); free(t); free(xd); free(yd); free(td); free(pd);
  free(xt); free(yt); free(pa); free(tm); free(tp);
  return 0;
}
