/* test_isotonic.c -- isotonic regression: hand-computed PAV fits (ties,
 * weights, decreasing, clip, auto, n = 1), the calibration method (binary,
 * one-vs-rest renormalisation, uniform rows, strict ramps, out-of-bounds
 * modes, probability input), every error code with untouched outputs, the
 * float32 path against the float64 API on random tied data, the
 * caller's-workspace variant (bit-identical, sizes, errors), refits on one
 * fitter (its kept scratch) against fresh fitters, model bytes (round trip,
 * corruption, crafted invalid tables) and out-of-memory.
 * The scikit-learn references are in test/py/test_isotonic.py.
 * Usage: test_isotonic [seed] */
#include "harness.h"
#include "internal.h"

#define SENTINEL 12345.0f

#define softmax_f64 th_softmax_f64 /* harness.h */

static int fit_f64(const double *x, const double *y, const double *w, size_t n, int inc,
                   double lo, double hi, double *xt, double *yt, size_t *m, int *io) {
  return calib_isotonic_fit_f64(x, y, w, n, inc, lo, hi, xt, yt, n, m, io);
}

static void check_table(const double *xt, const double *yt, size_t m, const double *wx,
                        const double *wy, size_t wm) {
  CHECK(m == wm);
  for (size_t i = 0; i < m && i < wm; i++) {
    CHECK_NEAR(xt[i], wx[i], 0);
    CHECK_NEAR(yt[i], wy[i], 1e-15);
  }
}

/* ---- calib_isotonic_fit_f64 / _predict_f64 by hand ------------------------- */

static void test_f64_closed_forms(void) {
  double xt[8], yt[8];
  size_t m = 0;
  int io = -1;
  { /* PAV pools {2,3,4}; the middle point 3 of the flat run is trimmed */
    const double x[6] = {1, 2, 3, 4, 5, 6}, y[6] = {0, 1, 0, 0, 1, 1};
    CHECK_OK(fit_f64(x, y, NULL, 6, 1, -INFINITY, INFINITY, xt, yt, &m, &io));
    const double wx[5] = {1, 2, 4, 5, 6}, wy[5] = {0, 1.0 / 3, 1.0 / 3, 1, 1};
    check_table(xt, yt, m, wx, wy, 5);
    CHECK(io == 1);
    const double t[5] = {0.0, 4.5, 2.0, 6.0, 7.0};
    double out[5];
    CHECK_OK(calib_isotonic_predict_f64(xt, yt, m, CALIB_OOB_CLIP, t, 5, out));
    CHECK_NEAR(out[0], 0, 0);
    CHECK_NEAR(out[1], 2.0 / 3, 1e-15);
    CHECK_NEAR(out[2], 1.0 / 3, 0);
    CHECK_NEAR(out[3], 1, 0);
    CHECK_NEAR(out[4], 1, 0);
    CHECK_OK(calib_isotonic_predict_f64(xt, yt, m, CALIB_OOB_NAN, t, 5, out));
    CHECK(isnan(out[0]) && isnan(out[4]) && out[3] == 1.0);
    for (int i = 0; i < 5; i++) out[i] = 7.0;
    CHECK_ERR(calib_isotonic_predict_f64(xt, yt, m, CALIB_OOB_ERROR, t, 5, out), CALIB_E_DOMAIN);
    CHECK(out[0] == 7.0 && out[1] == 7.0);
    CHECK_OK(calib_isotonic_predict_f64(xt, yt, m, CALIB_OOB_ERROR, t + 1, 3, out));
  }
  { /* tied x merge with summed weights: group x=1 has mean (0*1 + 1*3)/4 */
    const double x[3] = {1, 1, 2}, y[3] = {0, 1, 1}, w[3] = {1, 3, 1};
    CHECK_OK(fit_f64(x, y, w, 3, 1, -INFINITY, INFINITY, xt, yt, &m, &io));
    const double wx[2] = {1, 2}, wy[2] = {0.75, 1};
    check_table(xt, yt, m, wx, wy, 2);
  }
  { /* decreasing: reversed PAV */
    const double x[3] = {1, 2, 3}, y[3] = {0, 1, 0};
    CHECK_OK(fit_f64(x, y, NULL, 3, 0, -INFINITY, INFINITY, xt, yt, &m, &io));
    const double wx[3] = {1, 2, 3}, wy[3] = {0.5, 0.5, 0};
    check_table(xt, yt, m, wx, wy, 3);
    CHECK(io == 0);
    CHECK_OK(fit_f64(x, y, NULL, 3, -1, -INFINITY, INFINITY, xt, yt, &m, &io));
    CHECK(io == 1); /* rho = 0 exactly -> increasing (rho >= 0) */
  }
  { /* clip after PAV, and the equal clipped ends merge in the trim */
    const double x[4] = {1, 2, 3, 4}, y[4] = {0, 0.1, 0.9, 1};
    CHECK_OK(fit_f64(x, y, NULL, 4, 1, 0.2, 0.7, xt, yt, &m, &io));
    const double wx[4] = {1, 2, 3, 4}, wy[4] = {0.2, 0.2, 0.7, 0.7};
    check_table(xt, yt, m, wx, wy, 4);
  }
  { /* auto on anti-correlated data; constant x -> decreasing (nan rho) */
    const double x[4] = {1, 2, 3, 4}, y[4] = {1, 1, 0, 0}, c[4] = {5, 5, 5, 5};
    CHECK_OK(fit_f64(x, y, NULL, 4, -1, -INFINITY, INFINITY, xt, yt, &m, &io));
    CHECK(io == 0 && m == 4);
    CHECK_OK(fit_f64(c, y, NULL, 4, -1, -INFINITY, INFINITY, xt, yt, &m, &io));
    CHECK(io == 0 && m == 1 && yt[0] == 0.5 && xt[0] == 5);
  }
  { /* n = 1, size query, one-threshold prediction is constant in every mode */
    const double x[1] = {0.3}, y[1] = {0.8};
    CHECK_OK(calib_isotonic_fit_f64(x, y, NULL, 1, 1, -INFINITY, INFINITY, NULL, NULL, 0, &m, NULL));
    CHECK(m == 1);
    CHECK_OK(fit_f64(x, y, NULL, 1, 1, -INFINITY, INFINITY, xt, yt, &m, NULL));
    const double t[2] = {-5, 5};
    double out[2];
    CHECK_OK(calib_isotonic_predict_f64(xt, yt, 1, CALIB_OOB_ERROR, t, 2, out));
    CHECK(out[0] == 0.8 && out[1] == 0.8);
  }
  { /* zero weights are dropped before the groups are formed */
    const double x[4] = {0, 1, 2, 3}, y[4] = {1, 0, 1, 0}, w[4] = {0, 1, 1, 0};
    CHECK_OK(fit_f64(x, y, w, 4, 1, -INFINITY, INFINITY, xt, yt, &m, NULL));
    const double wx[2] = {1, 2}, wy[2] = {0, 1};
    check_table(xt, yt, m, wx, wy, 2);
  }
}

static void test_f64_errors(void) {
  const double x[3] = {0, 1, 2}, y[3] = {0, 1, 1}, nanv[3] = {0, NAN, 1};
  const double wneg[3] = {1, -1, 1}, wzero[3] = {0, 0, 0}, winf[3] = {1, INFINITY, 1};
  double xt[3] = {9, 9, 9}, yt[3] = {9, 9, 9};
  size_t m = 77;
  const double I = INFINITY;
  CHECK_ERR(calib_isotonic_fit_f64(x, y, NULL, 3, 1, -I, I, xt, yt, 3, NULL, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_fit_f64(NULL, y, NULL, 3, 1, -I, I, xt, yt, 3, &m, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_fit_f64(x, y, NULL, 3, 1, -I, I, xt, NULL, 3, &m, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_fit_f64(x, y, NULL, 3, 2, -I, I, xt, yt, 3, &m, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_fit_f64(x, y, NULL, 3, 1, 0.5, 0.4, xt, yt, 3, &m, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_fit_f64(x, y, NULL, 3, 1, NAN, I, xt, yt, 3, &m, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_fit_f64(x, y, NULL, 3, 1, I, I, xt, yt, 3, &m, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_fit_f64(x, y, NULL, 0, 1, -I, I, xt, yt, 3, &m, NULL), CALIB_E_EMPTY);
  CHECK_ERR(calib_isotonic_fit_f64(nanv, y, NULL, 3, 1, -I, I, xt, yt, 3, &m, NULL), CALIB_E_NONFINITE);
  CHECK_ERR(calib_isotonic_fit_f64(x, nanv, NULL, 3, 1, -I, I, xt, yt, 3, &m, NULL), CALIB_E_NONFINITE);
  CHECK_ERR(calib_isotonic_fit_f64(x, y, winf, 3, 1, -I, I, xt, yt, 3, &m, NULL), CALIB_E_NONFINITE);
  CHECK_ERR(calib_isotonic_fit_f64(x, y, wneg, 3, 1, -I, I, xt, yt, 3, &m, NULL), CALIB_E_DOMAIN);
  CHECK_ERR(calib_isotonic_fit_f64(x, y, wzero, 3, 1, -I, I, xt, yt, 3, &m, NULL), CALIB_E_EMPTY);
  CHECK_ERR(calib_isotonic_fit_f64(x, y, NULL, 3, 1, -I, I, xt, yt, 2, &m, NULL), CALIB_E_SMALLBUF);
  CHECK(m == 77 && xt[0] == 9 && yt[0] == 9 && xt[2] == 9);
  /* predict */
  const double bx[2] = {1, 1}, gx[2] = {0, 1}, gy[2] = {0, 1};
  double out[3] = {5, 5, 5};
  CHECK_ERR(calib_isotonic_predict_f64(NULL, gy, 2, CALIB_OOB_CLIP, x, 3, out), CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_predict_f64(gx, gy, 0, CALIB_OOB_CLIP, x, 3, out), CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_predict_f64(bx, gy, 2, CALIB_OOB_CLIP, x, 3, out), CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_predict_f64(gx, nanv, 2, CALIB_OOB_CLIP, x, 3, out), CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_predict_f64(gx, gy, 2, 7, x, 3, out), CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_predict_f64(gx, gy, 2, CALIB_OOB_CLIP, NULL, 3, out), CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_predict_f64(gx, gy, 2, CALIB_OOB_CLIP, nanv, 3, out), CALIB_E_NONFINITE);
  CHECK_ERR(calib_isotonic_predict_f64(gx, gy, 2, CALIB_OOB_ERROR, x, 3, out), CALIB_E_DOMAIN);
  CHECK(out[0] == 5 && out[1] == 5 && out[2] == 5);
  CHECK_OK(calib_isotonic_predict_f64(gx, gy, 2, CALIB_OOB_CLIP, NULL, 0, NULL));
}

/* ---- calib_isotonic_fit_f64_work / calib_isotonic_work_size ---------------- */

/* Random data for the three paths of the float64 fit: 0/1 labels on
 * float-exact x (the packed stream), small integer y (one sort by x), real y
 * (the lexsort), with ties; weights with zeros on odd reps. */
static void work_data(int rep, size_t n, double *x, double *y, double *w) {
  const double scale = rep % 2 ? 10 : 1000;
  for (size_t i = 0; i < n; i++) {
    const double z = th_normal();
    x[i] = (double)(float)(round(z * scale) / scale);
    if (rep % 3 == 0) y[i] = th_uniform() < 1.0 / (1.0 + exp(-2 * z));
    else if (rep % 3 == 1) y[i] = (double)(int)(3 * z + 2 * th_normal());
    else y[i] = z + th_normal();
    w[i] = (double)(th_next() % 4) * 0.5;
  }
  w[0] = 1.0;
}

/* The _work variant equals calib_isotonic_fit_f64 bit for bit (thresholds,
 * count, direction) in one dirty, reused workspace of exactly the documented
 * size at an address that is 8- but not 16-byte aligned, and allocates
 * nothing (every allocation failing). */
static void test_f64_work_identical(void) {
  enum { N = 3000 };
  double *x = malloc(N * sizeof(double)), *y = malloc(N * sizeof(double)), *w = malloc(N * sizeof(double));
  double *xa = malloc(N * sizeof(double)), *ya = malloc(N * sizeof(double));
  double *xb = malloc(N * sizeof(double)), *yb = malloc(N * sizeof(double));
  const size_t big = calib_isotonic_work_size(N, -1);
  uint8_t *raw = malloc(big + 16);
  memset(raw, 0xA5, big + 16);
  uint8_t *work = raw + 8 + (((uintptr_t)raw % 16 == 0) ? 0 : 8); /* 8 mod 16 */
  for (int rep = 0; rep < 36; rep++) {
    const size_t n = rep < 6 ? (size_t)rep + 1 : (size_t)(th_next() % N) + 1;
    work_data(rep, n, x, y, w);
    const int inc = rep % 4 == 3 ? -1 : rep % 4 - 1 < 0 ? 1 : rep % 4 - 1; /* 1, 0, 1, -1 */
    const double *wp = rep % 2 ? w : NULL;
    const double lo = rep % 5 == 0 ? 0.1 : -INFINITY, hi = rep % 5 == 0 ? 0.8 : INFINITY;
    size_t ma = 0, mb = 0;
    int ia = -7, ib = -8;
    CHECK_OK(calib_isotonic_fit_f64(x, y, wp, n, inc, lo, hi, xa, ya, n, &ma, &ia));
    const size_t need = calib_isotonic_work_size(n, inc);
    CHECK(need > 0 && need <= big);
    calib__alloc_fail_at(1, 1);
    const int st = calib_isotonic_fit_f64_work(x, y, wp, n, inc, lo, hi, xb, yb, n, &mb, &ib, work, need);
    calib__alloc_fail_at(0, 0);
    CHECK_OK(st);
    CHECK(ma == mb && ia == ib);
    CHECK(ma == mb && memcmp(xa, xb, ma * sizeof(double)) == 0 && memcmp(ya, yb, ma * sizeof(double)) == 0);
  }
  free(x); free(y); free(w); free(xa); free(ya); free(xb); free(yb); free(raw);
}

static void test_f64_work_errors(void) {
  const double x[3] = {0, 1, 2}, y[3] = {0, 1, 0};
  double xt[3] = {9, 9, 9}, yt[3] = {9, 9, 9};
  size_t m = 77;
  const double I = INFINITY;
  const size_t need = calib_isotonic_work_size(3, 1);
  uint64_t *buf = malloc(need + 8);
  uint8_t *work = (uint8_t *)buf;
  CHECK_ERR(calib_isotonic_fit_f64_work(x, y, NULL, 3, 1, -I, I, xt, yt, 3, &m, NULL, NULL, need),
            CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_fit_f64_work(x, y, NULL, 3, 1, -I, I, xt, yt, 3, &m, NULL, work + 4, need),
            CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_fit_f64_work(x, y, NULL, 3, 1, -I, I, xt, yt, 3, &m, NULL, NULL, 0),
            CALIB_E_SMALLBUF);
  CHECK_ERR(calib_isotonic_fit_f64_work(x, y, NULL, 3, 1, -I, I, xt, yt, 3, &m, NULL, work, need - 1),
            CALIB_E_SMALLBUF);
  /* auto needs the y ranks too: the increasing == 1 size is too small */
  CHECK(calib_isotonic_work_size(3, -1) > need);
  CHECK_ERR(calib_isotonic_fit_f64_work(x, y, NULL, 3, -1, -I, I, xt, yt, 3, &m, NULL, work, need),
            CALIB_E_SMALLBUF);
  /* calib_isotonic_fit_f64's own errors, through the same checks */
  CHECK_ERR(calib_isotonic_fit_f64_work(x, y, NULL, 3, 2, -I, I, xt, yt, 3, &m, NULL, work, need),
            CALIB_E_ARG);
  CHECK_ERR(calib_isotonic_fit_f64_work(x, y, NULL, 0, 1, -I, I, xt, yt, 3, &m, NULL, work, need),
            CALIB_E_EMPTY);
  CHECK_ERR(calib_isotonic_fit_f64_work(x, y, NULL, 3, 1, -I, I, xt, yt, 2, &m, NULL, work, need),
            CALIB_E_SMALLBUF); /* cap 2 < m 3 */
  CHECK(m == 77 && xt[0] == 9 && yt[0] == 9 && xt[2] == 9);
  CHECK_OK(calib_isotonic_fit_f64_work(x, y, NULL, 3, 1, -I, I, xt, yt, 3, &m, NULL, work, need));
  CHECK(m == 3 && xt[2] == 2 && yt[1] == 0.5);
  free(buf);
}

/* The documented sizes: 64 (72 with auto) bytes per row plus 12288 size_t
 * on 64-bit targets; monotone in n; 0 on overflow. */
static void test_f64_work_size(void) {
  const size_t hist = 12288 * sizeof(size_t), row8 = 7 * 8 + sizeof(size_t);
  CHECK(calib_isotonic_work_size(1000, 1) == 1000 * row8 + hist);
  CHECK(calib_isotonic_work_size(1000, 0) == 1000 * row8 + hist);
  CHECK(calib_isotonic_work_size(1000, -1) == 1000 * (row8 + 8) + hist);
  CHECK(calib_isotonic_work_size(1000, 7) == calib_isotonic_work_size(1000, -1));
  size_t prev = 0, bad = 0;
  for (size_t n = 0; n < 5000; n += 1 + n / 3) {
    const size_t a = calib_isotonic_work_size(n, 1), b = calib_isotonic_work_size(n, -1);
    bad += !(a >= prev && b >= a && a > 0);
    prev = a;
  }
  CHECK(bad == 0);
  CHECK(calib_isotonic_work_size(SIZE_MAX, 1) == 0);
  CHECK(calib_isotonic_work_size(SIZE_MAX / row8, 1) == 0);          /* above PTRDIFF_MAX */
  CHECK(calib_isotonic_work_size(SIZE_MAX / (row8 + 8) + 1, -1) == 0); /* n * 72 wraps */
}

/* ---- the calibration method ------------------------------------------------- */

static calib_model *fit_iso(const float *x, size_t n, size_t k, const int64_t *y,
                            const double *w, const double *opts, int *status) {
  calib_model *m = NULL;
  const int st = th_fit(CALIB_METHOD_ISOTONIC, x, n, k, y, w, opts, &m);
  if (status) *status = st;
  else CHECK_OK(st);
  return m;
}

#define get_param th_param /* harness.h */

static void test_binary_method(void) {
  const float x[6] = {1, 2, 3, 4, 5, 6};
  const int64_t y[6] = {0, 1, 0, 0, 1, 1};
  calib_model *m = fit_iso(x, 6, 1, y, NULL, NULL, NULL);
  double X[8], Y[8], C[2], cfg[3];
  CHECK(get_param(m, CALIB_MP_ISO_COUNTS, C, 2) == 1 && C[0] == 5);
  CHECK(get_param(m, CALIB_MP_ISO_X, X, 8) == 5);
  CHECK(get_param(m, CALIB_MP_ISO_Y, Y, 8) == 5);
  CHECK(get_param(m, CALIB_MP_ISO_CONFIG, cfg, 3) == 3);
  CHECK(cfg[0] == CALIB_OOB_CLIP && cfg[1] == CALIB_INPUT_LOGITS && cfg[2] == 0);
  CHECK(X[1] == 2 && X[2] == 4 && Y[1] == 1.0 / 3 && Y[3] == 1);
  const float t[5] = {-INFINITY, 0.5f, 4.5f, 9.0f, 2.0f};
  float p[5];
  CHECK_OK(calib_apply(m, t, 5, 1, p));
  CHECK(p[0] == 0.0f && p[1] == 0.0f && p[3] == 1.0f);
  CHECK_NEAR(p[2], (float)(2.0 / 3), 0);
  CHECK_NEAR(p[4], (float)(1.0 / 3), 0);
  /* in place */
  float q[5];
  memcpy(q, t, sizeof q);
  CHECK_OK(calib_apply(m, q, 5, 1, q));
  CHECK(memcmp(p, q, sizeof p) == 0);
  /* errors write nothing */
  float s[5] = {SENTINEL, SENTINEL, SENTINEL, SENTINEL, SENTINEL};
  const float bad_nan[2] = {1.0f, NAN}, bad_inf[2] = {INFINITY, 1.0f};
  CHECK_ERR(calib_apply(m, bad_nan, 2, 1, s), CALIB_E_NONFINITE);
  CHECK_ERR(calib_apply(m, bad_inf, 2, 1, s), CALIB_E_NONFINITE);
  CHECK_ERR(calib_apply(m, t, 5, 2, s), CALIB_E_SHAPE);
  CHECK(s[0] == SENTINEL && s[4] == SENTINEL);
  /* report */
  calib_fitter *f = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_ISOTONIC));
  calib_model *m2 = NULL;
  CHECK_OK(calib_fit(f, x, 6, 1, y, NULL, &m2));
  double before = 0, after = 0;
  CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_BEFORE, &before));
  CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_AFTER, &after));
  double want_b = 0, want_a = 0;
  const double fit_vals[6] = {0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 1, 1};
  for (int i = 0; i < 6; i++) {
    want_b += y[i] ? log1p(exp(-(double)x[i])) : (double)x[i] + log1p(exp(-(double)x[i]));
    const double q1 = (double)(float)fit_vals[i];
    if (fit_vals[i] > 0 && fit_vals[i] < 1) want_a += y[i] ? -log(q1) : -log(1 - q1);
  }
  CHECK_NEAR(before, want_b / 6, 1e-14);
  CHECK_NEAR(after, want_a / 6, 1e-14);
  calib_fitter_free(f);
  calib_model_free(m2);
  calib_model_free(m);
}

static void test_oob_and_input_options(void) {
  const float x[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  const int64_t y[6] = {0, 1, 0, 0, 1, 1};
  const double err_opts[] = {CALIB_P_ISO_OUT_OF_BOUNDS, CALIB_OOB_ERROR, CALIB_P_INPUT, CALIB_INPUT_PROBS, 0};
  calib_model *m = fit_iso(x, 6, 1, y, NULL, err_opts, NULL);
  float s[3] = {SENTINEL, SENTINEL, SENTINEL};
  const float out_range[3] = {0.3f, 0.05f, 0.4f}, not_prob[3] = {0.3f, 1.5f, 0.4f}, nan_in[3] = {2.0f, NAN, 0.3f};
  CHECK_ERR(calib_apply(m, out_range, 3, 1, s), CALIB_E_DOMAIN);
  CHECK_ERR(calib_apply(m, not_prob, 3, 1, s), CALIB_E_DOMAIN);
  CHECK_ERR(calib_apply(m, nan_in, 3, 1, s), CALIB_E_NONFINITE); /* NaN wins over domain */
  CHECK(s[0] == SENTINEL && s[1] == SENTINEL && s[2] == SENTINEL);
  CHECK_OK(calib_apply(m, x, 3, 1, s));
  calib_model_free(m);
  /* probability input validated at fit */
  const float px[3] = {0.2f, 1.2f, 0.5f};
  const int64_t py[3] = {0, 1, 1};
  const double probs_opts[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, 0};
  int st = 0;
  m = fit_iso(px, 3, 1, py, NULL, probs_opts, &st);
  CHECK(st == CALIB_E_DOMAIN && m == NULL);
  /* -inf logit in error mode is out of range */
  const double err_only[] = {CALIB_P_ISO_OUT_OF_BOUNDS, CALIB_OOB_ERROR, 0};
  m = fit_iso(x, 6, 1, y, NULL, err_only, NULL);
  const float minf[1] = {-INFINITY};
  CHECK_ERR(calib_apply(m, minf, 1, 1, s), CALIB_E_DOMAIN);
  calib_model_free(m);
  /* out-of-bounds errors need the raw values: not with softmax'ed logits */
  const float x3[6] = {0, 1, 2, 1, 0, 2};
  const int64_t y3[3] = {0, 1, 2};
  m = fit_iso(x3, 3, 2, y3 + 0, NULL, err_only, &st);
  CHECK(st == CALIB_E_LABEL && m == NULL); /* label 2 with k = 2 */
  const int64_t y2[3] = {0, 1, 1};
  m = fit_iso(x3, 3, 2, y2, NULL, err_only, &st);
  CHECK(st == CALIB_E_ARG && m == NULL);
  const double err_scores[] = {CALIB_P_ISO_OUT_OF_BOUNDS, CALIB_OOB_ERROR, CALIB_P_INPUT, CALIB_INPUT_SCORES, 0};
  m = fit_iso(x3, 3, 2, y2, NULL, err_scores, &st);
  CHECK(st == CALIB_OK && m != NULL);
  const float far[2] = {5, 0};
  float s2[2] = {SENTINEL, SENTINEL};
  CHECK_ERR(calib_apply(m, far, 1, 2, s2), CALIB_E_DOMAIN);
  CHECK(s2[0] == SENTINEL && s2[1] == SENTINEL);
  calib_model_free(m);
  /* y_min > y_max, and option bounds */
  const double bad_clip[] = {CALIB_P_ISO_Y_MIN, 0.8, CALIB_P_ISO_Y_MAX, 0.2, 0};
  m = fit_iso(x, 6, 1, y, NULL, bad_clip, &st);
  CHECK(st == CALIB_E_ARG && m == NULL);
  calib_fitter *f = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_ISOTONIC));
  CHECK_ERR(calib_fitter_set(f, CALIB_P_ISO_STRICT, 0.3), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_ISO_INCREASING, 2), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_ISO_INCREASING, 0.5), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_ISO_OUT_OF_BOUNDS, CALIB_OOB_NAN), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_HIST_BINS, 10), CALIB_E_ARG);
  double v = 0;
  CHECK_OK(calib_fitter_get(f, CALIB_P_ISO_Y_MAX, &v));
  CHECK(v == 1.0);
  calib_fitter_free(f);
  /* clip bounds: fitted values clipped after PAV */
  const double clip[] = {CALIB_P_ISO_Y_MIN, 0.25, CALIB_P_ISO_Y_MAX, 0.75, 0};
  m = fit_iso(x, 6, 1, y, NULL, clip, NULL);
  double Y[8];
  const size_t c = get_param(m, CALIB_MP_ISO_Y, Y, 8);
  CHECK(c >= 2 && Y[0] == 0.25 && Y[c - 1] == 0.75);
  calib_model_free(m);
}

static void test_multiclass(void) {
  /* k = 3; class 2 never appears: its table is constant 0. */
  const float x[12] = {2, 0, 0, 0, 2, 0, 1, 1, 0, 0, 1, 0};
  const int64_t y[4] = {0, 1, 0, 1};
  const double scores[] = {CALIB_P_INPUT, CALIB_INPUT_SCORES, 0};
  calib_model *m = fit_iso(x, 4, 3, y, NULL, scores, NULL);
  double C[3];
  CHECK(get_param(m, CALIB_MP_ISO_COUNTS, C, 3) == 3);
  /* tables: class 0 (0,0) (1,1) (2,1); class 1 (0,0) (1,0.5) (2,1); class 2 constant 0 */
  const float t[9] = {2, 0, 5, 0.5f, 1.5f, 0, -1, -1, 0};
  float p[9];
  CHECK_OK(calib_apply(m, t, 3, 3, p));
  CHECK(p[0] == 1.0f && p[1] == 0.0f && p[2] == 0.0f);
  CHECK_NEAR(p[3], (float)(0.5 / 1.25), 0); /* q = (0.5, 0.75, 0) */
  CHECK_NEAR(p[4], (float)(0.75 / 1.25), 0);
  CHECK(p[5] == 0.0f);
  /* a row whose calibrated values are all 0 becomes uniform */
  CHECK(p[6] == (float)(1.0 / 3) && p[7] == (float)(1.0 / 3) && p[8] == (float)(1.0 / 3));
  /* k > 64 (no row buffer): same result as recomputation by hand */
  enum { K = 70, N = 200 };
  float *xk = malloc(N * K * sizeof(float)), *pk = malloc(N * K * sizeof(float));
  int64_t yk[N];
  for (size_t i = 0; i < N; i++) {
    yk[i] = (int64_t)(th_next() % K);
    for (size_t j = 0; j < K; j++) xk[i * K + j] = (float)(th_normal() + (j == (size_t)yk[i] ? 2 : 0));
  }
  calib_model *mk = fit_iso(xk, N, K, yk, NULL, NULL, NULL);
  CHECK_OK(calib_apply(mk, xk, N, K, pk));
  /* logits (default) == probabilities fed with the double softmax */
  float *sk = malloc(N * K * sizeof(float)), *qk = malloc(N * K * sizeof(float));
  softmax_f64(xk, N, K, sk);
  const double probs[] = {CALIB_P_INPUT, CALIB_INPUT_PROBS, 0};
  calib_model *mp = fit_iso(sk, N, K, yk, NULL, probs, NULL);
  CHECK_OK(calib_apply(mp, sk, N, K, qk));
  CHECK(memcmp(pk, qk, N * K * sizeof(float)) == 0);
  calib_model_free(mp);
  free(sk);
  free(qk);
  size_t bad = 0;
  for (size_t i = 0; i < N; i++) {
    double sum = 0;
    for (size_t j = 0; j < K; j++) sum += pk[i * K + j];
    bad += fabs(sum - 1.0) > 1e-5;
  }
  CHECK(bad == 0);
  CHECK_OK(calib_apply(mk, xk, N, K, xk)); /* in place */
  CHECK(memcmp(xk, pk, N * K * sizeof(float)) == 0);
  calib_model_free(mk);
  free(xk);
  free(pk);
  calib_model_free(m);
}

/* Strict ramps: strictly increasing on the table range, each flat value moved
 * by s times the gap to its neighbour. */
static void test_strict(void) {
  const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const int64_t y[8] = {0, 0, 1, 0, 1, 1, 0, 1};
  const double s_opt[] = {CALIB_P_ISO_STRICT, 0.25, 0};
  calib_model *plain = fit_iso(x, 8, 1, y, NULL, NULL, NULL);
  calib_model *strict = fit_iso(x, 8, 1, y, NULL, s_opt, NULL);
  double Yp[8], Ys[8], Xp[8];
  const size_t mp = get_param(plain, CALIB_MP_ISO_Y, Yp, 8);
  CHECK(get_param(plain, CALIB_MP_ISO_X, Xp, 8) == mp);
  CHECK(get_param(strict, CALIB_MP_ISO_Y, Ys, 8) == mp);
  /* plain: 0,0 | 1/3 x3 (2 kept) | 2/3 x3 (2 kept)... flat pairs exist */
  for (size_t j = 0; j + 1 < mp; j++) {
    CHECK(Ys[j + 1] > Ys[j]);
    if (Yp[j] == Yp[j + 1]) {
      const double L = j ? Yp[j - 1] : 0.0, R = j + 2 < mp ? Yp[j + 2] : 1.0;
      CHECK_NEAR(Ys[j], Yp[j] + 0.25 * (L - Yp[j]), 1e-15);
      CHECK_NEAR(Ys[j + 1], Yp[j] + 0.25 * (R - Yp[j]), 1e-15);
    }
  }
  float grid[141], out[141];
  for (int i = 0; i <= 140; i++) grid[i] = 1.0f + 0.05f * (float)i;
  CHECK_OK(calib_apply(strict, grid, 141, 1, out));
  for (int i = 0; i < 140; i++) CHECK(out[i + 1] > out[i]);
  calib_model_free(plain);
  calib_model_free(strict);
}

/* The float32 method (packed 33-bit stream) equals the float64 API's general
 * lexsort path, reached by shifting x by 2^-40 (order, ties and sums kept),
 * on data with many ties, weights with zeros, every direction. */
static void test_f32_vs_f64(void) {
  enum { N = 5000 };
  float *x = malloc(N * sizeof(float));
  int64_t *y = malloc(N * sizeof(int64_t));
  double *xd = malloc(N * sizeof(double)), *yd = malloc(N * sizeof(double)), *w = malloc(N * sizeof(double));
  double *xt = malloc(N * sizeof(double)), *yt = malloc(N * sizeof(double));
  double *X = malloc(N * sizeof(double)), *Y = malloc(N * sizeof(double));
  for (int rep = 0; rep < 12; rep++) {
    const double scale = rep % 3 == 0 ? 10 : (rep % 3 == 1 ? 100 : 1e6);
    for (size_t i = 0; i < N; i++) {
      const double z = th_normal();
      x[i] = (float)(round(z * scale) / scale);
      y[i] = th_uniform() < 1.0 / (1.0 + exp(-2 * z));
      xd[i] = (double)x[i] + 0x1p-40; /* not float-exact: the general lexsort path */
      yd[i] = (double)y[i];
      w[i] = (double)(th_next() % 4) * 0.5;
    }
    const int inc = (rep % 4) - 2 < -1 ? 1 : (rep % 4) - 2; /* -1, 0, 1 */
    const double *wp = rep % 2 ? w : NULL;
    const double opts[] = {CALIB_P_ISO_INCREASING, inc, 0};
    calib_model *m = fit_iso(x, N, 1, y, wp, opts, NULL);
    size_t mt = 0;
    int io = 0;
    CHECK_OK(calib_isotonic_fit_f64(xd, yd, wp, N, inc, 0.0, 1.0, xt, yt, N, &mt, &io));
    const size_t mm = get_param(m, CALIB_MP_ISO_X, X, N);
    CHECK(get_param(m, CALIB_MP_ISO_Y, Y, N) == mm);
    CHECK(mm == mt);
    size_t diff = mm == mt ? 0 : 1;
    for (size_t t = 0; t < mm && mm == mt; t++) diff += X[t] + 0x1p-40 != xt[t] || Y[t] != yt[t];
    if (diff) printf("rep %d inc %d w %d: m %zu vs %zu, %zu differ\n", rep, inc, wp != NULL, mm, mt, diff);
    CHECK(diff == 0);
    calib_model_free(m);
  }
  free(x); free(y); free(xd); free(yd); free(w); free(xt); free(yt); free(X); free(Y);
}

/* One fitter refitted on growing and shrinking problems (its kept scratch
 * dirty from the previous fit, of another size, weighting and input) gives
 * the same tables as a fresh fitter each time; the scratch grows only. */
static void test_fitter_refit(void) {
  enum { N = 2000, K = 3 };
  float *x = malloc(N * K * sizeof(float));
  int64_t *y = malloc(N * sizeof(int64_t));
  double *w = malloc(N * sizeof(double)), *A = malloc(N * K * sizeof(double)), *B = malloc(N * K * sizeof(double));
  const size_t sizes[] = {1500, 40, 2000, 700, 2000, 3};
  calib_fitter *f = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_ISOTONIC));
  for (int rep = 0; rep < 12; rep++) {
    const size_t n = sizes[rep % 6], k = rep % 3 == 2 ? K : 1;
    const int input = k == 1 ? CALIB_INPUT_SCORES : rep % 2 ? CALIB_INPUT_LOGITS : CALIB_INPUT_PROBS;
    for (size_t i = 0; i < n; i++) {
      y[i] = (int64_t)(i % (k == 1 ? 2 : k));
      w[i] = (double)(th_next() % 3);
      double s = 0;
      for (size_t j = 0; j < k; j++) {
        const double z = round(10 * th_normal()) / 10 + (j == (size_t)y[i] ? 1.0 : 0.0);
        x[i * k + j] = (float)(input == CALIB_INPUT_PROBS ? exp(z) : z);
        s += x[i * k + j];
      }
      for (size_t j = 0; input == CALIB_INPUT_PROBS && j < k; j++) x[i * k + j] = (float)(x[i * k + j] / s);
    }
    w[0] = w[1] = 1.0;
    const double *wp = rep % 4 == 1 ? w : NULL;
    const double opts[] = {CALIB_P_INPUT, input, CALIB_P_ISO_INCREASING, rep % 2 ? -1 : 1, 0};
    calib_model *fresh = NULL, *re = NULL;
    CHECK_OK(th_fit(CALIB_METHOD_ISOTONIC, x, n, k, y, wp, opts, &fresh));
    CHECK_OK(calib_fitter_set(f, CALIB_P_INPUT, input));
    CHECK_OK(calib_fitter_set(f, CALIB_P_ISO_INCREASING, rep % 2 ? -1 : 1));
    CHECK_OK(calib_fit(f, x, n, k, y, wp, &re));
    for (int which = CALIB_MP_ISO_COUNTS; which <= CALIB_MP_ISO_Y && fresh && re; which++) {
      const size_t ca = get_param(fresh, which, A, N * K), cb = get_param(re, which, B, N * K);
      CHECK(ca == cb && memcmp(A, B, ca * sizeof(double)) == 0);
    }
    calib_model_free(fresh);
    calib_model_free(re);
  }
  calib_fitter_free(f);
  free(x); free(y); free(w); free(A); free(B);
}

static void test_fit_errors(void) {
  const float x[4] = {0.1f, 0.2f, 0.3f, 0.4f};
  const int64_t y[4] = {0, 1, 0, 1}, one[4] = {1, 1, 1, 1}, badlab[4] = {0, 2, 0, 1};
  const float xnan[4] = {0.1f, NAN, 0.3f, 0.4f};
  int st = 0;
  calib_model *m = fit_iso(x, 4, 1, one, NULL, NULL, &st);
  CHECK(st == CALIB_E_ONECLASS && m == NULL);
  m = fit_iso(x, 4, 1, badlab, NULL, NULL, &st);
  CHECK(st == CALIB_E_LABEL && m == NULL);
  m = fit_iso(xnan, 4, 1, y, NULL, NULL, &st);
  CHECK(st == CALIB_E_NONFINITE && m == NULL);
  m = fit_iso(x, 0, 1, y, NULL, NULL, &st);
  CHECK(st == CALIB_E_EMPTY && m == NULL);
  const double wneg[4] = {1, -1, 1, 1};
  m = fit_iso(x, 4, 1, y, wneg, NULL, &st);
  CHECK(st == CALIB_E_DOMAIN && m == NULL);
}

/* ---- model bytes ------------------------------------------------------------ */

static void test_bytes(void) {
  enum { N = 400, K = 3 };
  float x[N * K], p1[N * K], p2[N * K];
  int64_t y[N];
  for (size_t i = 0; i < N; i++) {
    y[i] = (int64_t)(th_next() % K);
    for (size_t j = 0; j < K; j++) x[i * K + j] = (float)(th_normal() + (j == (size_t)y[i] ? 1.5 : 0));
  }
  calib_model *m = fit_iso(x, N, K, y, NULL, NULL, NULL);
  const size_t sz = calib_model_size(m);
  unsigned char *buf = malloc(sz + 1);
  size_t w = 0;
  CHECK_OK(calib_model_save(m, buf + 1, sz, &w)); /* unaligned */
  calib_model *m2 = NULL;
  CHECK_OK(calib_model_load(&m2, buf + 1, w));
  CHECK_OK(calib_apply(m, x, N, K, p1));
  CHECK_OK(calib_apply(m2, x, N, K, p2));
  CHECK(memcmp(p1, p2, sizeof p1) == 0);
  size_t rejected = 0, tried = 0;
  for (size_t i = 0; i < sz; i += 7) {
    calib_model *bad = NULL;
    buf[1 + i] ^= 0x10;
    rejected += calib_model_load(&bad, buf + 1, sz) == CALIB_E_FORMAT && bad == NULL;
    tried++;
    buf[1 + i] ^= 0x10;
  }
  CHECK(rejected == tried);
  free(buf);
  calib_model_free(m2);
  calib_model_free(m);
}

static int build(const double *cfg, const double *cnt, size_t k, const double *X,
                 const double *Y, size_t total) {
  const calib__section s[4] = {{CALIB_MP_ISO_CONFIG, 3, cfg},
                               {CALIB_MP_ISO_COUNTS, k, cnt},
                               {CALIB_MP_ISO_X, total, X},
                               {CALIB_MP_ISO_Y, total, Y}};
  calib_model *m = NULL;
  const int st = calib__model_build(&m, CALIB_METHOD_ISOTONIC, k, s, 4);
  CHECK((st == CALIB_OK) == (m != NULL));
  calib_model_free(m);
  return st;
}

/* Crafted tables with valid CRCs: every inconsistency rejected. */
static void test_invalid_tables(void) {
  const double cfg[3] = {CALIB_OOB_CLIP, CALIB_INPUT_LOGITS, 0};
  const double one[1] = {3}, X[3] = {0, 1, 2}, Y[3] = {0, 0.5, 1};
  CHECK_OK(build(cfg, one, 1, X, Y, 3));
  const double dec[3] = {1, 0.5, 0.5};
  CHECK_OK(build(cfg, one, 1, X, dec, 3));
  const double Xdup[3] = {0, 1, 1}, Xinf[3] = {0, 1, INFINITY}, Ybig[3] = {0, 0.5, 1.5};
  const double Ynm[3] = {0, 0.6, 0.5}, Yneg[3] = {-0.1, 0.5, 1};
  CHECK(build(cfg, one, 1, Xdup, Y, 3) != CALIB_OK);
  CHECK(build(cfg, one, 1, Xinf, Y, 3) != CALIB_OK);
  CHECK(build(cfg, one, 1, X, Ybig, 3) != CALIB_OK);
  CHECK(build(cfg, one, 1, X, Ynm, 3) != CALIB_OK);
  CHECK(build(cfg, one, 1, X, Yneg, 3) != CALIB_OK);
  const double c2[1] = {2}, c4[1] = {4}, c0[1] = {0}, cfrac[1] = {2.5};
  CHECK(build(cfg, c2, 1, X, Y, 3) != CALIB_OK);
  CHECK(build(cfg, c4, 1, X, Y, 3) != CALIB_OK);
  CHECK(build(cfg, c0, 1, X, Y, 3) != CALIB_OK);
  CHECK(build(cfg, cfrac, 1, X, Y, 3) != CALIB_OK);
  const double two[2] = {1, 2};
  CHECK_OK(build(cfg, two, 2, X, Y, 3));
  const double cerr[3] = {CALIB_OOB_ERROR, CALIB_INPUT_LOGITS, 0}, cerr_s[3] = {CALIB_OOB_ERROR, CALIB_INPUT_SCORES, 0};
  CHECK(build(cerr, two, 2, X, Y, 3) != CALIB_OK);
  CHECK_OK(build(cerr_s, two, 2, X, Y, 3));
  CHECK_OK(build(cerr, one, 1, X, Y, 3));
  CHECK(build(cfg, two, 1, X, Y, 3) != CALIB_OK); /* counts != k */
  const double cbad1[3] = {2, CALIB_INPUT_LOGITS, 0}, cbad2[3] = {0, 4, 0}, cbad3[3] = {0, CALIB_INPUT_LOGITS, 0.3};
  CHECK(build(cbad1, one, 1, X, Y, 3) != CALIB_OK);
  CHECK(build(cbad2, one, 1, X, Y, 3) != CALIB_OK);
  CHECK(build(cbad3, one, 1, X, Y, 3) != CALIB_OK);
  /* missing section */
  const calib__section s3[3] = {{CALIB_MP_ISO_CONFIG, 3, cfg}, {CALIB_MP_ISO_COUNTS, 1, one}, {CALIB_MP_ISO_X, 3, X}};
  calib_model *m = NULL;
  CHECK(calib__model_build(&m, CALIB_METHOD_ISOTONIC, 1, s3, 3) != CALIB_OK && m == NULL);
}

static void test_oom(void) {
  enum { N = 300, K = 2 };
  float x[N * K];
  int64_t y[N];
  for (size_t i = 0; i < N; i++) {
    y[i] = (int64_t)(i % K);
    for (size_t j = 0; j < K; j++) x[i * K + j] = (float)th_normal() + (j == (size_t)y[i] ? 1.0f : 0.0f);
  }
  int done = 0;
  for (size_t nth = 1; nth < 40 && !done; nth++) {
    calib_fitter *f = NULL;
    calib_model *m = NULL;
    calib__alloc_fail_at(nth, 1);
    int st = calib_fitter_create(&f, CALIB_METHOD_ISOTONIC);
    if (st == CALIB_OK) st = calib_fit(f, x, N, K, y, NULL, &m);
    calib__alloc_fail_at(0, 0);
    if (st == CALIB_OK) done = 1;
    else CHECK(st == CALIB_E_NOMEM && m == NULL);
    calib_model_free(m);
    calib_fitter_free(f);
  }
  CHECK(done);
  const double xd[3] = {0, 1, 2}, yd[3] = {0, 1, 0};
  double xt[3], yt[3];
  size_t mm = 0;
  calib__alloc_fail_at(1, 1);
  CHECK_ERR(calib_isotonic_fit_f64(xd, yd, NULL, 3, 1, 0, 1, xt, yt, 3, &mm, NULL), CALIB_E_NOMEM);
  calib__alloc_fail_at(0, 0);
  CHECK(mm == 0);
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  test_f64_closed_forms();
  test_f64_errors();
  test_f64_work_identical();
  test_f64_work_errors();
  test_f64_work_size();
  test_binary_method();
  test_oob_and_input_options();
  test_multiclass();
  test_strict();
  test_f32_vs_f64();
  test_fitter_refit();
  test_fit_errors();
  test_bytes();
  test_invalid_tables();
  test_oom();
  TEST_MAIN_END();
}
