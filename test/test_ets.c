/* test_ets.c -- ensemble temperature scaling (Zhang, Kailkhura & Han 2020).
 *
 *  - apply of hand-made models against the formula in float64 (k = 1 and
 *    k >= 2, masked -inf classes, in place), every apply error with a
 *    sentinel-filled output;
 *  - fits: T equals the temperature-scaling fit; the weights satisfy the KKT
 *    conditions of the simplex problem, recomputed here from the formula
 *    (equal partial derivatives on the free weights, no smaller ones on the
 *    zero weights) for both losses, k = 1 and k >= 2, weighted; integer
 *    weights equal duplicated rows; the NLL fit never does worse on its data
 *    than temperature scaling (a feasible point);
 *  - errors (inputs, options, the temperature fit's NOSIGNAL / SEPARABLE,
 *    NOCONV) with *out untouched; model bytes round trip and crafted invalid
 *    payloads; out of memory at every allocation;
 *  - ../shared/data cifar10 DenseNet-40.
 * The scipy reference (SLSQP on the same objective) is test/py/test_ets.py.
 * Usage: test_ets [seed] */
#include "internal.h" /* first: harness.h's th_fit_oom needs the allocator hook */
#include "harness.h"

static double sig(double t) { return t >= 0 ? 1 / (1 + exp(-t)) : exp(t) / (1 + exp(t)); }

/* The three components of row x (k >= 2: softmax(x/T), softmax(x), 1/k). */
static void components(const float *x, size_t k, double T, double *p1, double *p2) {
  if (k == 1) {
    p1[0] = sig(x[0] / T);
    p2[0] = sig(x[0]);
    return;
  }
  double m = -HUGE_VAL, s1 = 0, s2 = 0;
  for (size_t j = 0; j < k; j++) m = x[j] > m ? x[j] : m;
  for (size_t j = 0; j < k; j++) {
    p1[j] = exp((x[j] - m) / T);
    p2[j] = exp(x[j] - m);
    s1 += p1[j];
    s2 += p2[j];
  }
  for (size_t j = 0; j < k; j++) { p1[j] /= s1; p2[j] /= s2; }
}

typedef th_section sec;
/* harness.h's independent writer of the format (not the library's own byte
 * and CRC helpers, which the loader under test shares). */
#define craft(k, s, ns, len) th_craft_model(CALIB_METHOD_ETS, k, s, ns, len)

static int load_ets(size_t k, double T, const double w[3], calib_model **m) {
  const sec s[2] = {{CALIB_MP_ETS_TEMPERATURE, 1, &T}, {CALIB_MP_ETS_WEIGHTS, 3, w}};
  size_t len;
  uint8_t *buf = craft(k, s, 2, &len);
  *m = NULL;
  const int st = calib_model_load(m, buf, len);
  free(buf);
  return st;
}

/* ---- apply ----------------------------------------------------------------- */

static void check_apply(size_t k, size_t n) {
  const double T = 1.7, w[3] = {0.55, 0.3, 0.15};
  calib_model *m = NULL;
  CHECK_OK(load_ets(k, T, w, &m));
  if (!m) return;
  float *x = malloc(n * k * 4), *p = malloc(n * k * 4), *q = malloc(n * k * 4);
  double *p1 = malloc(k * 8), *p2 = malloc(k * 8), maxerr = 0;
  for (size_t i = 0; i < n * k; i++) x[i] = (float)(5 * th_normal());
  if (k >= 3) x[k + 1] = -INFINITY; /* a masked class */
  if (k == 1) { x[1] = INFINITY; x[2] = -INFINITY; }
  CHECK_OK(calib_apply(m, x, n, k, p));
  for (size_t i = 0; i < n; i++) {
    components(x + i * k, k, T, p1, p2);
    for (size_t j = 0; j < k; j++) {
      const double ref = w[0] * p1[j] + w[1] * p2[j] + w[2] / (k == 1 ? 2.0 : (double)k);
      const double e = fabs(p[i * k + j] - ref) / ref;
      if (e > maxerr) maxerr = e;
    }
  }
  CHECK(maxerr < 2e-7);
  if (k >= 3) CHECK(p[k + 1] == (float)(w[2] / (double)k));
  memcpy(q, x, n * k * 4);
  CHECK_OK(calib_apply(m, q, n, k, q));
  CHECK(memcmp(q, p, n * k * 4) == 0);
  printf("apply k=%-4zu n=%zu: max rel err %.3g vs float64 formula, in place identical\n", k, n, maxerr);
  calib_model_free(m);
  free(x); free(p); free(q); free(p1); free(p2);
}

static void check_apply_errors(void) {
  const double w[3] = {0.5, 0.5, 0};
  calib_model *m = NULL, *b = NULL;
  CHECK_OK(load_ets(3, 2.0, w, &m));
  CHECK_OK(load_ets(1, 2.0, w, &b));
  float x[6] = {1, 2, 3, 4, 5, 6}, out[6];
  const float bad[3] = {NAN, INFINITY, 0};
  for (int c = 0; c < 3; c++) {
    memcpy(x, (float[6]){1, 2, 3, 4, 5, 6}, sizeof x);
    if (c < 2) x[4] = bad[c];
    else x[3] = x[4] = x[5] = -INFINITY; /* an all -inf row */
    memset(out, 0x5A, sizeof out);
    CHECK_ERR(calib_apply(m, x, 2, 3, out), CALIB_E_NONFINITE);
    for (int i = 0; i < 6; i++) CHECK(((uint32_t *)(void *)out)[i] == 0x5A5A5A5Au);
  }
  float xb[3] = {0.5f, NAN, 1.0f}, ob[3];
  memset(ob, 0x5A, sizeof ob);
  CHECK_ERR(calib_apply(b, xb, 3, 1, ob), CALIB_E_NONFINITE);
  for (int i = 0; i < 3; i++) CHECK(((uint32_t *)(void *)ob)[i] == 0x5A5A5A5Au);
  CHECK_ERR(calib_apply(m, x, 2, 2, out), CALIB_E_SHAPE);
  CHECK_ERR(calib_apply(b, x, 2, 3, out), CALIB_E_SHAPE);
  CHECK_ERR(calib_apply(m, x, 2, 3, x + 1), CALIB_E_ARG);
  calib_model_free(m);
  calib_model_free(b);
}

/* ---- fits ------------------------------------------------------------------ */

typedef th_set set;

/* Labels from softmax(z / 2) mixed with 10 % uniform noise (k == 1: sigmoid);
 * the logits z overconfident: a problem where all three components matter. */
static set make_set(size_t n, size_t k, double scale, double noise) {
  set s = {malloc(n * (k ? k : 1) * 4), malloc(n * 8), n, k};
  double *t = malloc((k + 1) * 8);
  for (size_t i = 0; i < n; i++) {
    float *z = s.x + i * k;
    if (k == 1) {
      z[0] = (float)(scale * 2 * th_normal());
      const double p = (1 - noise) * sig(z[0] / 2) + noise / 2;
      s.y[i] = th_uniform() < p ? 1 : 0;
      continue;
    }
    double tot = 0;
    for (size_t j = 0; j < k; j++) {
      z[j] = (float)(scale * 2 * th_normal());
      tot += (t[j] = exp(z[j] / 2));
    }
    double u = th_uniform();
    s.y[i] = (int64_t)(th_next() % k);
    if (u >= noise) {
      u = th_uniform() * tot;
      for (size_t j = 0; j < k; j++)
        if ((u -= t[j]) < 0 || j + 1 == k) { s.y[i] = (int64_t)j; break; }
    }
  }
  free(t);
  return s;
}

static void free_set(set *s) { free(s->x); free(s->y); }

static int fit_ets(const set *s, const double *wts, int loss, calib_model **m, double *T, double w[3]) {
  calib_fitter *f = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_ETS));
  CHECK_OK(calib_fitter_set(f, CALIB_P_ETS_LOSS, loss));
  *m = NULL;
  const int st = calib_fit(f, s->x, s->n, s->k, s->y, wts, m);
  calib_fitter_free(f);
  size_t c = 0;
  if (st == CALIB_OK) {
    CHECK_OK(calib_model_param(*m, CALIB_MP_ETS_TEMPERATURE, T, 1, &c));
    CHECK_OK(calib_model_param(*m, CALIB_MP_ETS_WEIGHTS, w, 3, &c));
  }
  return st;
}

/* Objective (NLL or MSE) at w and its gradient, from the formula. */
static double ets_objective(const set *s, const double *wts, double T, const double w[3], int loss,
                            double g[3]) {
  const size_t k = s->k, kk = k == 1 ? 2 : k;
  double *p1 = malloc(k * 8), *p2 = malloc(k * 8), f = 0, W = 0;
  g[0] = g[1] = g[2] = 0;
  for (size_t i = 0; i < s->n; i++) {
    const double v = wts ? wts[i] : 1.0;
    components(s->x + i * k, k, T, p1, p2);
    if (k == 1) { /* as a two-class problem on (1 - p, p) for NLL; (p - y)^2 for MSE */
      const double y = (double)s->y[i];
      const double u1 = y ? p1[0] : 1 - p1[0], u2 = y ? p2[0] : 1 - p2[0], u = w[0] * u1 + w[1] * u2 + w[2] / 2;
      if (loss == 0) {
        f -= v * log(u);
        g[0] -= v * u1 / u; g[1] -= v * u2 / u; g[2] -= v * 0.5 / u;
      } else {
        const double p = w[0] * p1[0] + w[1] * p2[0] + w[2] / 2, r = p - y;
        f += v * r * r;
        g[0] += v * 2 * r * p1[0]; g[1] += v * 2 * r * p2[0]; g[2] += v * r;
      }
    } else if (loss == 0) {
      const size_t y = (size_t)s->y[i];
      const double u = w[0] * p1[y] + w[1] * p2[y] + w[2] / (double)kk;
      f -= v * log(u);
      g[0] -= v * p1[y] / u; g[1] -= v * p2[y] / u; g[2] -= v / (double)kk / u;
    } else {
      for (size_t j = 0; j < k; j++) {
        const double t = j == (size_t)s->y[i] ? 1.0 : 0.0;
        const double r = w[0] * p1[j] + w[1] * p2[j] + w[2] / (double)kk - t;
        f += v * r * r;
        g[0] += v * 2 * r * p1[j]; g[1] += v * 2 * r * p2[j]; g[2] += v * 2 * r / (double)kk;
      }
    }
    W += v;
  }
  for (int a = 0; a < 3; a++) g[a] /= W;
  free(p1);
  free(p2);
  return f / W;
}

/* KKT on the simplex: the free weights share one partial derivative lambda,
 * the zero ones have derivative >= lambda. */
static void check_kkt(const set *s, const double *wts, double T, const double w[3], int loss,
                      const char *what) {
  double g[3];
  const double f = ets_objective(s, wts, T, w, loss, g);
  double lam = 0, nfree = 0, spread = 0, viol = 0;
  for (int a = 0; a < 3; a++)
    if (w[a] > 1e-12) { lam += g[a]; nfree++; }
  lam /= nfree;
  for (int a = 0; a < 3; a++) {
    if (w[a] > 1e-12) spread = fmax(spread, fabs(g[a] - lam));
    else viol = fmax(viol, lam - g[a]);
  }
  printf("  %-30s T = %.6f w = (%.6f, %.6f, %.6f) %s = %.10f, KKT spread %.1e, violation %.1e\n", what, T, w[0],
         w[1], w[2], loss ? "MSE" : "NLL", f, spread, viol);
  CHECK(fabs(w[0] + w[1] + w[2] - 1) < 1e-12);
  CHECK(w[0] >= 0 && w[1] >= 0 && w[2] >= 0);
  CHECK(spread < 1e-8);
  CHECK(viol < 1e-8);
}

static double temperature_of(const set *s, const double *wts) {
  calib_fitter *f = NULL;
  calib_model *m = NULL;
  double T = NAN;
  size_t c;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_TEMPERATURE));
  CHECK_OK(calib_fit(f, s->x, s->n, s->k, s->y, wts, &m));
  if (m) CHECK_OK(calib_model_param(m, CALIB_MP_TEMPERATURE, &T, 1, &c));
  calib_model_free(m);
  calib_fitter_free(f);
  return T;
}

static void test_fits(void) {
  const size_t ks[4] = {1, 2, 5, 20};
  printf("fits:\n");
  for (int ki = 0; ki < 4; ki++)
    for (int loss = 0; loss < 2; loss++)
      for (int weighted = 0; weighted < 2; weighted++) {
        set s = make_set(2000, ks[ki], 1.5, 0.15);
        double *wts = NULL;
        if (weighted) {
          wts = malloc(s.n * 8);
          for (size_t i = 0; i < s.n; i++) wts[i] = th_uniform() < 0.2 ? 0.0 : 0.5 + th_uniform();
        }
        calib_model *m = NULL;
        double T = 0, w[3] = {0, 0, 0};
        CHECK_OK(fit_ets(&s, wts, loss, &m, &T, w));
        CHECK(T == temperature_of(&s, wts)); /* the same fit, bit for bit */
        char what[64];
        snprintf(what, sizeof what, "k=%zu %s%s", ks[ki], loss ? "MSE" : "NLL", weighted ? " weighted" : "");
        if (m) check_kkt(&s, wts, T, w, loss, what);
        if (m && loss == 0) { /* temperature scaling is the feasible point (1, 0, 0) */
          double g[3];
          const double ts[3] = {1, 0, 0};
          CHECK(ets_objective(&s, wts, T, w, 0, g) <= ets_objective(&s, wts, T, ts, 0, g) + 1e-15);
        }
        calib_model_free(m);
        free(wts);
        free_set(&s);
      }
  /* well calibrated logits: the optimum sits on the boundary (no uniform share) */
  set s = make_set(3000, 4, 0.5, 0.0);
  calib_model *m = NULL;
  double T, w[3];
  CHECK_OK(fit_ets(&s, NULL, 0, &m, &T, w));
  if (m) check_kkt(&s, NULL, T, w, 0, "k=4 NLL, no label noise");
  calib_model_free(m);
  free_set(&s);
}

static void test_weights(void) {
  set s = make_set(300, 3, 1.5, 0.2);
  set d = {malloc(900 * 3 * 4), malloc(900 * 8), 0, 3};
  double *w = malloc(300 * 8);
  for (size_t i = 0; i < 300; i++) {
    w[i] = (double)(i % 4);
    for (size_t c = 0; c < (size_t)w[i]; c++, d.n++) {
      memcpy(d.x + d.n * 3, s.x + i * 3, 12);
      d.y[d.n] = s.y[i];
    }
  }
  for (int loss = 0; loss < 2; loss++) {
    calib_model *a = NULL, *b = NULL;
    double Ta, Tb, wa[3], wb[3];
    CHECK_OK(fit_ets(&s, w, loss, &a, &Ta, wa));
    CHECK_OK(fit_ets(&d, NULL, loss, &b, &Tb, wb));
    CHECK_REL(Ta, Tb, 1e-9);
    for (int j = 0; j < 3; j++) CHECK_NEAR(wa[j], wb[j], 1e-7);
    calib_model_free(a);
    calib_model_free(b);
  }
  free(w);
  free_set(&s);
  free_set(&d);
}

static void test_errors(void) {
  set s = make_set(200, 3, 1.5, 0.1);
  calib_model *sentinel = (calib_model *)(uintptr_t)0x1234, *m = sentinel;
  calib_fitter *f = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_ETS));
  CHECK_ERR(calib_fit(f, s.x, 0, 3, s.y, NULL, &m), CALIB_E_EMPTY);
  CHECK_ERR(calib_fit(f, s.x, s.n, 0, s.y, NULL, &m), CALIB_E_ARG);
  CHECK_ERR(calib_fit(f, s.x, s.n, 3, NULL, NULL, &m), CALIB_E_ARG);
  float save = s.x[4];
  s.x[4] = NAN;
  CHECK_ERR(calib_fit(f, s.x, s.n, 3, s.y, NULL, &m), CALIB_E_NONFINITE);
  s.x[4] = INFINITY;
  CHECK_ERR(calib_fit(f, s.x, s.n, 3, s.y, NULL, &m), CALIB_E_NONFINITE);
  s.x[4] = save;
  s.y[9] = 3;
  CHECK_ERR(calib_fit(f, s.x, s.n, 3, s.y, NULL, &m), CALIB_E_LABEL);
  s.y[9] = 0;
  int64_t same[200];
  for (int i = 0; i < 200; i++) same[i] = 1;
  CHECK_ERR(calib_fit(f, s.x, s.n, 3, same, NULL, &m), CALIB_E_ONECLASS);
  double w[200];
  for (int i = 0; i < 200; i++) w[i] = 1;
  w[0] = -1;
  CHECK_ERR(calib_fit(f, s.x, s.n, 3, s.y, w, &m), CALIB_E_DOMAIN);
  /* the temperature fit's own failures */
  float *anti = malloc(200 * 3 * 4);
  for (size_t i = 0; i < 200; i++)
    for (size_t j = 0; j < 3; j++) anti[i * 3 + j] = (j == (size_t)s.y[i]) ? -3.0f : (float)th_normal();
  CHECK_ERR(calib_fit(f, anti, 200, 3, s.y, NULL, &m), CALIB_E_NOSIGNAL);
  for (size_t i = 0; i < 200; i++)
    for (size_t j = 0; j < 3; j++) anti[i * 3 + j] = (j == (size_t)s.y[i]) ? 5.0f : (float)th_normal();
  CHECK_ERR(calib_fit(f, anti, 200, 3, s.y, NULL, &m), CALIB_E_SEPARABLE);
  free(anti);
  /* options */
  CHECK_ERR(calib_fitter_set(f, CALIB_P_ETS_LOSS, 2), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_ETS_LOSS, 0.5), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_ODIR_LAMBDA, 1), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_TOL, 0), CALIB_E_ARG);
  CHECK_ERR(calib_fitter_set(f, CALIB_P_MAX_ITER, 0), CALIB_E_ARG);
  double v;
  CHECK_OK(calib_fitter_get(f, CALIB_P_ETS_LOSS, &v));
  CHECK(v == CALIB_ETS_LOSS_NLL);
  /* not converged in one weight step */
  CHECK_OK(calib_fitter_set(f, CALIB_P_MAX_ITER, 1));
  CHECK_OK(calib_fitter_set(f, CALIB_P_TOL, 1e-14));
  CHECK_ERR(calib_fit(f, s.x, s.n, 3, s.y, NULL, &m), CALIB_E_NOCONV);
  CHECK(m == sentinel);
  calib_fitter_free(f);
  free_set(&s);
}

/* ---- bytes, OOM -------------------------------------------------------------- */

static void test_bytes(void) {
  set s = make_set(500, 4, 1.5, 0.1);
  calib_model *m = NULL, *m2 = NULL;
  double T, w[3];
  CHECK_OK(fit_ets(&s, NULL, 0, &m, &T, w));
  if (m) {
    const size_t size = calib_model_size(m);
    uint8_t *buf = malloc(size), *buf2 = malloc(size);
    CHECK_OK(calib_model_save(m, buf, size, NULL));
    CHECK_OK(calib_model_load(&m2, buf, size));
    CHECK_OK(calib_model_save(m2, buf2, size, NULL));
    CHECK(memcmp(buf, buf2, size) == 0);
    float *p1 = malloc(500 * 16), *p2 = malloc(500 * 16);
    CHECK_OK(calib_apply(m, s.x, 500, 4, p1));
    CHECK_OK(calib_apply(m2, s.x, 500, 4, p2));
    CHECK(memcmp(p1, p2, 500 * 16) == 0);
    free(buf); free(buf2); free(p1); free(p2);
  }
  calib_model_free(m);
  calib_model_free(m2);
  const double ok[3] = {0.2, 0.3, 0.5}, neg[3] = {-0.1, 0.6, 0.5}, over[3] = {0.5, 0.5, 0.5},
               big[3] = {1.5, -0.25, -0.25}, nanw[3] = {NAN, 0.5, 0.5};
  const double Tok = 1.5, Tneg = -1, Tzero = 0, Tinf = INFINITY, Tsub = 1e-320;
  struct { uint64_t k; sec s[3]; size_t ns; int ok; } cases[] = {
      {3, {{CALIB_MP_ETS_TEMPERATURE, 1, &Tok}, {CALIB_MP_ETS_WEIGHTS, 3, ok}}, 2, 1},
      {1, {{CALIB_MP_ETS_TEMPERATURE, 1, &Tok}, {CALIB_MP_ETS_WEIGHTS, 3, ok}}, 2, 1},
      {3, {{CALIB_MP_ETS_TEMPERATURE, 1, &Tneg}, {CALIB_MP_ETS_WEIGHTS, 3, ok}}, 2, 0},
      {3, {{CALIB_MP_ETS_TEMPERATURE, 1, &Tzero}, {CALIB_MP_ETS_WEIGHTS, 3, ok}}, 2, 0},
      {3, {{CALIB_MP_ETS_TEMPERATURE, 1, &Tinf}, {CALIB_MP_ETS_WEIGHTS, 3, ok}}, 2, 0},
      {3, {{CALIB_MP_ETS_TEMPERATURE, 1, &Tsub}, {CALIB_MP_ETS_WEIGHTS, 3, ok}}, 2, 0},
      {3, {{CALIB_MP_ETS_TEMPERATURE, 1, &Tok}, {CALIB_MP_ETS_WEIGHTS, 3, neg}}, 2, 0},
      {3, {{CALIB_MP_ETS_TEMPERATURE, 1, &Tok}, {CALIB_MP_ETS_WEIGHTS, 3, over}}, 2, 0},
      {3, {{CALIB_MP_ETS_TEMPERATURE, 1, &Tok}, {CALIB_MP_ETS_WEIGHTS, 3, big}}, 2, 0},
      {3, {{CALIB_MP_ETS_TEMPERATURE, 1, &Tok}, {CALIB_MP_ETS_WEIGHTS, 3, nanw}}, 2, 0},
      {3, {{CALIB_MP_ETS_TEMPERATURE, 1, &Tok}, {CALIB_MP_ETS_WEIGHTS, 2, ok}}, 2, 0},
      {3, {{CALIB_MP_ETS_WEIGHTS, 3, ok}}, 1, 0},
      {3, {{CALIB_MP_ETS_TEMPERATURE, 1, &Tok}}, 1, 0},
      {3, {{CALIB_MP_ETS_TEMPERATURE, 1, &Tok}, {CALIB_MP_ETS_WEIGHTS, 3, ok}, {CALIB_MP_BIAS, 3, ok}}, 3, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t len;
    uint8_t *buf = craft(cases[c].k, cases[c].s, cases[c].ns, &len);
    calib_model *mm = NULL;
    const int st = calib_model_load(&mm, buf, len);
    if (cases[c].ok) CHECK_OK(st);
    else { CHECK_ERR(st, CALIB_E_FORMAT); CHECK(mm == NULL); }
    calib_model_free(mm);
    free(buf);
  }
  free_set(&s);
}

static void test_oom(void) {
  set s = make_set(200, 3, 1.5, 0.1);
  calib_fitter *f = NULL;
  CHECK_OK(calib_fitter_create(&f, CALIB_METHOD_ETS));
  th_fit_oom(f, s.x, s.n, 3, s.y, 30);
  calib_fitter_free(f);
  free_set(&s);
}

/* ---- real data --------------------------------------------------------------- */

#define load_raw th_load_raw

static void test_real(void) {
  char dir[1024];
  set val, test;
  snprintf(dir, sizeof dir, "%s/cifar10_densenet40_markus93/val", th_shared_data());
  if (!load_raw(dir, 10, &val)) { th_missing_data("ETS on the DenseNet-40 CIFAR-10 logits"); return; }
  snprintf(dir, sizeof dir, "%s/cifar10_densenet40_markus93/test", th_shared_data());
  if (!load_raw(dir, 10, &test)) { TH_FAIL("cannot read %s", dir); free_set(&val); return; }
  float *p = malloc(test.n * 40);
  for (int loss = 0; loss < 2; loss++) {
    calib_model *m = NULL;
    double T, w[3], nll = 0, ece = 0;
    CHECK_OK(fit_ets(&val, NULL, loss, &m, &T, w));
    if (!m) continue;
    CHECK_REL(T, 2.8825607117403607, 1e-6); /* REFERENCE.json temperature */
    check_kkt(&val, NULL, T, w, loss, loss ? "cifar10 DenseNet-40, MSE" : "cifar10 DenseNet-40, NLL");
    CHECK_OK(calib_apply(m, test.x, test.n, 10, p));
    CHECK_OK(calib_nll(p, test.n, 10, test.y, &nll));
    CHECK_OK(calib_ece(p, test.n, 10, test.y, 15, &ece));
    printf("    test NLL %.6f (temperature scaling 0.225086), ECE-15 %.6f (0.009463)\n", nll, ece);
    CHECK(nll < 0.2275);
    calib_model_free(m);
  }
  free(p);
  free_set(&val);
  free_set(&test);
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  check_apply(1, 200);
  check_apply(2, 100);
  check_apply(10, 100);
  check_apply(1000, 5);
  check_apply_errors();
  test_fits();
  test_weights();
  test_errors();
  test_bytes();
  test_oom();
  test_real();
  TEST_MAIN_END();
}
