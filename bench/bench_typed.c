/* bench_typed.c -- single-thread apply throughput per input type (issue 12):
 * softmax of float32 (calib_softmax), float16, bfloat16, int8, uint8 (per
 * tensor; int8 also per class, and int8 with a float16 output) logits
 * (calib_softmax_typed, beta 1/1.7 as a temperature model would apply) into
 * probabilities, at (50000, 1000) and (1000000, 10), beside a memcpy of the
 * float32 input's bytes (the machine's copy bandwidth).
 * Every buffer is written before timing. The variants run interleaved (one
 * call of each per round, rounds repeated), so load from other processes
 * falls on all of them alike; best and median per variant.
 * Table: seconds per call, GB/s of input + output bytes, time ratio to
 * float32. Target (issue 12): int8 -> probabilities at (50000, 1000) faster
 * than float32 -> probabilities (median), `MISSED` printed otherwise.
 * JSON lines to build/bench/typed.json (or argv[2]):
 *   {"table":"typed","dtype":..,"n":..,"k":..,"seconds":..,"target":..,"value":..,"met":..}
 * Usage: bench_typed [reps (default 7)] [json path] */
#define _POSIX_C_SOURCE 200809L
#include "calib.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"

/* float -> binary16 bits (round to nearest, finite moderate values only) */
static uint16_t to_f16(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  const uint32_t s = (b >> 16) & 0x8000u, a = b & 0x7fffffffu;
  if (a < 0x38800000u) return (uint16_t)s; /* tiny: 0 (not in this data) */
  const uint32_t r = (a - 0x38000000u + 0x1000u) >> 13;
  return (uint16_t)(s | r);
}

enum { V_MEMCPY, V_F32, V_F16, V_BF16, V_I8, V_U8, V_I8C, V_I8_H, NV };
static const char *const VNAME[NV] = {"memcpy", "float32", "float16", "bfloat16",
                                      "int8", "uint8", "int8/class", "int8->f16"};

int main(int argc, char **argv) {
  const int reps = argc > 1 ? atoi(argv[1]) : 7;
  const char *jpath = argc > 2 ? argv[2] : "build/bench/typed.json";
  FILE *jf = fopen(jpath, "w");
  if (!jf) {
    fprintf(stderr, "bench_typed: cannot write %s\n", jpath);
    return 1;
  }
  const size_t shapes[2][2] = {{50000, 1000}, {1000000, 10}};
  const float beta = 1.0f / 1.7f;
  char load[64] = "?";
  FILE *lf = fopen("/proc/loadavg", "r");
  if (lf) {
    if (!fgets(load, sizeof load, lf)) strcpy(load, "?");
    fclose(lf);
    load[strcspn(load, "\n")] = 0;
  }
  printf("typed apply throughput, single thread, isa %s, %d interleaved rounds, load average %s\n",
         calib_isa(), reps, load);
  int missed = 0;
  for (int s = 0; s < 2; s++) {
    const size_t n = shapes[s][0], k = shapes[s][1], nk = n * k;
    float *x32 = malloc(nk * 4), *y = malloc(nk * 4), *cs = malloc(k * 4);
    uint16_t *x16 = malloc(nk * 2), *xb = malloc(nk * 2), *yh = malloc(nk * 2);
    int8_t *x8 = malloc(nk);
    uint8_t *xu = malloc(nk);
    int32_t *cz = malloc(k * 4);
    if (!x32 || !y || !x16 || !xb || !x8 || !xu || !yh || !cs || !cz) {
      fprintf(stderr, "bench_typed: out of memory\n");
      return 1;
    }
    const float sc = 0.08f;
    for (size_t j = 0; j < k; j++) cs[j] = 0.06f + 0.04f * (float)uniform(), cz[j] = (int32_t)(j % 7) - 3;
    for (size_t i = 0; i < nk; i++) {
      const float z = (float)(3.0 * normal());
      x32[i] = z;
      x16[i] = to_f16(z);
      uint32_t b;
      memcpy(&b, &z, 4);
      xb[i] = (uint16_t)(b >> 16);
      long q = lrintf(z / sc);
      x8[i] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
      q += 128;
      xu[i] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
    }
    memset(y, 0, nk * 4);
    memset(yh, 0, nk * 2);
    calib_input d[NV];
    memset(d, 0, sizeof d);
    d[V_F16].dtype = CALIB_DTYPE_F16, d[V_F16].data = x16;
    d[V_BF16].dtype = CALIB_DTYPE_BF16, d[V_BF16].data = xb;
    d[V_I8].dtype = CALIB_DTYPE_I8, d[V_I8].data = x8, d[V_I8].scale = sc;
    d[V_U8].dtype = CALIB_DTYPE_U8, d[V_U8].data = xu, d[V_U8].scale = sc, d[V_U8].zero_point = 128;
    d[V_I8C] = d[V_I8], d[V_I8C].col_scale = cs, d[V_I8C].col_zero_point = cz;
    d[V_I8_H] = d[V_I8];
    double *t[NV];
    for (int v = 0; v < NV; v++) t[v] = malloc((size_t)reps * sizeof(double));
    for (int r = -1; r < reps; r++) /* round -1: warm-up */
      for (int v = 0; v < NV; v++) {
        const double t0 = now();
        int st = CALIB_OK;
        if (v == V_MEMCPY) memcpy(y, x32, nk * 4);
        else if (v == V_F32) st = calib_softmax(x32, n, k, 0, beta, y, 0);
        else if (v == V_I8_H) st = calib_softmax_typed(&d[v], n, k, beta, yh, CALIB_DTYPE_F16, 0);
        else st = calib_softmax_typed(&d[v], n, k, beta, y, CALIB_DTYPE_F32, 0);
        const double dt = now() - t0;
        if (st != CALIB_OK) {
          fprintf(stderr, "bench_typed: %s failed (%d)\n", VNAME[v], st);
          return 1;
        }
        if (r >= 0) t[v][r] = dt;
        if (v != V_MEMCPY && v != V_I8_H) { /* spot check: row 0 sums to 1 */
          double sum = 0;
          for (size_t j = 0; j < k; j++) sum += y[j];
          if (!(fabs(sum - 1) < 1e-5)) {
            fprintf(stderr, "bench_typed: %s: row sum %g\n", VNAME[v], sum);
            return 1;
          }
        }
      }
    double best[NV], med[NV];
    for (int v = 0; v < NV; v++) {
      qsort(t[v], (size_t)reps, sizeof(double), cmp_double);
      best[v] = t[v][0];
      med[v] = t[v][reps / 2];
    }
    printf("\n(n, k) = (%zu, %zu)\n", n, k);
    printf("  %-11s %10s %10s %9s %9s\n", "input", "best ms", "median ms", "GB/s", "vs f32");
    for (int v = 0; v < NV; v++) {
      const size_t es = v == V_MEMCPY || v == V_F32 ? 4 : v == V_F16 || v == V_BF16 ? 2 : 1;
      const size_t ob = v == V_I8_H ? 2 : 4;
      const double bytes = (double)nk * (double)(es + ob);
      const double ratio = med[v] / med[V_F32];
      const int target = v == V_I8 && s == 0;
      const int met = !target || med[V_I8] < med[V_F32];
      printf("  %-11s %10.3f %10.3f %9.2f %8.2fx%s\n", VNAME[v], best[v] * 1e3, med[v] * 1e3,
             bytes / med[v] * 1e-9, ratio, target ? (met ? "  target: < float32, met" : "  MISSED: int8 not faster than float32") : "");
      if (!met) missed++;
      fprintf(jf,
              "{\"table\":\"typed\",\"dtype\":\"%s\",\"n\":%zu,\"k\":%zu,\"seconds\":%.6g,"
              "\"best_seconds\":%.6g,\"gbps\":%.4g,\"ratio_to_float32\":%.4g,\"target\":%s,"
              "\"value\":%.4g,\"met\":%s,\"load\":\"%s\"}\n",
              VNAME[v], n, k, med[v], best[v], bytes / med[v] * 1e-9, ratio,
              target ? "\"int8 time < float32 time\"" : "null", ratio,
              target ? (met ? "true" : "false") : "null", load);
    }
    for (int v = 0; v < NV; v++) free(t[v]);
    free(x32), free(y), free(cs), free(x16), free(xb), free(yh), free(x8), free(xu), free(cz);
  }
  fclose(jf);
  if (missed) printf("MISSED: %d typed target(s)\n", missed);
  return 0;
}
