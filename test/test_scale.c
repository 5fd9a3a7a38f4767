/* test_scale.c -- every fitter against the scale of its logits (issue 10,
 * item 6).
 *
 * Data: the shipped DenseNet-40 / CIFAR-10 logits (data/cifar10_densenet40_
 * markus93): the first NVAL validation rows (k = 10) to fit, the first NTEST
 * test rows to evaluate. Binary methods (Platt, beta, isotonic, histogram) use
 * the class-0-vs-rest derivation s_i = z_i0 - max_{j != 0} z_ij (a log-odds
 * score of both signs), label 1[y_i == 0].
 *
 * Scales: c_e = 2^round(e log2 10), within a factor 1.42 of 10^e, for e = -30,
 * -25, ..., 30, and e = 40. A power of two makes the scaled float32 data
 * exactly c times the original (no rounding: every product is a normal float
 * here, |z| <= 25 so |c z| <= 3.2e31), so "the right answer" is exactly
 * defined. e = 40 overflows float32 (c |z| > 3.4e38 for |z| > 0.3): the
 * data hold +-inf and every fitter must return CALIB_E_NONFINITE; e = 35
 * (c ~ 1e35, |c z| <= 3e36) is still finite. Every e of the sweep is therefore
 * either fully finite (-30..35) or overflowing (40).
 *
 * Expected per method, for each finite scale: the right answer, or a
 * documented error code, in bounded time (each fit under MAX_SECONDS), and
 * never a success that is wrong:
 *  - temperature: T(c) = c T(1) to 1e-9 relative, and an independent check in
 *    double that 1/T(c) is stationary: |beta L'(beta)| <= 1e-8 L;
 *  - platt: A(c) = A(1) / c and B(c) = B(1), both to 1e-9 (relative for A,
 *    absolute for B, |B| ~ 1). Justification: the fit stops at
 *    max |dF/dtheta| < 1e-5 (F summed over 2000 rows), which bounds the
 *    parameter error by |H^-1 g| ~ 1e-5 / (n p(1-p) var(s)) ~ 1e-7 at most;
 *    Newton's quadratic convergence puts the last iterate far inside it (the
 *    step before the stop is of order 1e-5 relative, so the error after it is
 *    ~1e-10 and below), and with the feature standardised the iterations
 *    themselves are scale-free. 1e-9 is that, with margin;
 *  - vector, matrix (unregularised by default: both maps are exactly
 *    equivariant, w(c) = w / c, W(c) = W / c), isotonic (CALIB_INPUT_SCORES:
 *    order-based, exactly invariant): the test NLL of the fitted model applied
 *    to the equally scaled test logits equals the unscaled fit's to 1e-6;
 *  - beta, histogram (they see sigmoid(c s): a different problem at each c),
 *    dirichlet (W ln softmax(c z) is not linear in c, and the default ODIR
 *    penalty acts on W), ets (mixes the raw softmax(c z)): not scale-invariant,
 *    so no equality can be asked. A success must still be right for its own
 *    data: beta's and Dirichlet's training NLL not above the raw input's (the
 *    identity map is feasible: beta a = b = 1, c = 0; Dirichlet W = I, b = 0,
 *    penalty 0), beta's gradient at the fitted (a, b, c), recomputed here in
 *    double, within the stopping tolerance on its free coefficients, ETS's T
 *    equal to temperature scaling's and its training NLL not above that of
 *    either feasible corner (raw softmax, temperature-scaled softmax); and a
 *    finite test NLL for every success.
 * A build without BLAS (make NO_BLAS=1) must answer exactly
 * CALIB_E_UNSUPPORTED for vector, matrix and Dirichlet.
 *
 * Also temperature scaling at the decimal scales 10^e themselves (the data
 * then carry float32 rounding, so the check is to 2^-24; see decimal_sweep),
 * and on the binary scores (k = 1) at the power-of-two scales (1e-9).
 * Prints the table (e x method: status, iterations, milliseconds) for the
 * record. Usage: test_scale (CALIB_SCALE_METHODS=name,... runs only those)
 */
#include "harness.h"
#include "npy.h"
#include <float.h>

#define NVAL 2000
#define NTEST 5000
#define K 10
#define MAX_SECONDS 3.0
#define NM 9
#define NE 14

static const int methods[NM] = {CALIB_METHOD_TEMPERATURE, CALIB_METHOD_PLATT, CALIB_METHOD_BETA,
                                CALIB_METHOD_ISOTONIC,    CALIB_METHOD_HISTOGRAM,
                                CALIB_METHOD_VECTOR,      CALIB_METHOD_MATRIX,
                                CALIB_METHOD_DIRICHLET,   CALIB_METHOD_ETS};
static const int exps[NE] = {-30, -25, -20, -15, -10, -5, 0, 5, 10, 15, 20, 25, 30, 40};

typedef struct {
  float *x;   /* n x K logits */
  float *s;   /* n binary scores */
  int64_t *y, *yb;
  size_t n;
} split;

typedef struct {
  int st, wrong;
  double iters, secs;
} cell;

/* Reference values of the unscaled fit (e = 0), per method. */
typedef struct {
  double T, A, B, nll;
  int have;
} reference;

static int is_binary(int method) {
  return method == CALIB_METHOD_PLATT || method == CALIB_METHOD_BETA ||
         method == CALIB_METHOD_ISOTONIC || method == CALIB_METHOD_HISTOGRAM;
}

static int load_split(const char *which, size_t nmax, split *sp) {
  char path[256], err[256];
  float *x = NULL;
  int64_t *y = NULL;
  size_t n = 0, k = 0, ny = 0;
  snprintf(path, sizeof path, "data/cifar10_densenet40_markus93/%s/logits.npy", which);
  if (calib__io_load_logits(path, 0, (size_t)1 << 30, &x, &n, &k, err, sizeof err) != CALIB_OK) return 0;
  snprintf(path, sizeof path, "data/cifar10_densenet40_markus93/%s/labels.npy", which);
  if (calib__io_load_labels(path, (size_t)1 << 30, &y, &ny, err, sizeof err) != CALIB_OK || ny != n || k != K) {
    free(x);
    free(y);
    return 0;
  }
  sp->n = n < nmax ? n : nmax;
  sp->x = x;
  sp->y = y;
  sp->s = (float *)malloc(sp->n * sizeof(float));
  sp->yb = (int64_t *)malloc(sp->n * sizeof(int64_t));
  for (size_t i = 0; i < sp->n; i++) {
    const float *r = x + i * K;
    float m = r[1];
    for (size_t j = 2; j < K; j++) m = r[j] > m ? r[j] : m;
    sp->s[i] = r[0] - m; /* exact: both are floats of similar size */
    sp->yb[i] = y[i] == 0;
  }
  return 1;
}

static void free_split(split *sp) {
  free(sp->x);
  free(sp->s);
  free(sp->y);
  free(sp->yb);
}

/* dst = c * src (float32), n values. */
static void scale_into(const float *src, size_t n, double c, float *dst) {
  for (size_t i = 0; i < n; i++) dst[i] = (float)(c * (double)src[i]);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void set_options(calib_fitter *f, int method) {
  if (method == CALIB_METHOD_ISOTONIC) CHECK_OK(calib_fitter_set(f, CALIB_P_INPUT, CALIB_INPUT_SCORES));
}

/* Test NLL of model m on x (n x k) with labels y. */
static double test_nll(const calib_model *m, const float *x, size_t n, size_t k, const int64_t *y) {
  float *p = (float *)malloc(n * k * sizeof(float));
  double nll = HUGE_VAL;
  if (calib_apply(m, x, n, k, p) != CALIB_OK) nll = (double)NAN;
  else if (calib_nll(p, n, k, y, &nll) != CALIB_OK) nll = (double)NAN;
  free(p);
  return nll;
}

/* ---- independent certificates ---------------------------------------------------- */

/* |beta L'(beta)| / L of temperature scaling at beta, in double. */
static double ts_relative_gradient(const float *x, size_t n, const int64_t *y, double beta) {
  double L = 0, G = 0;
  for (size_t i = 0; i < n; i++) {
    const float *r = x + i * K;
    double m = (double)r[0], s0 = 0, s1 = 0;
    for (size_t j = 1; j < K; j++) m = (double)r[j] > m ? (double)r[j] : m;
    for (size_t j = 0; j < K; j++) {
      const double d = (double)r[j] - m, e = exp(beta * d);
      s0 += e;
      s1 += e * d;
    }
    const double dy = (double)r[y[i]] - m;
    L += log(s0) - beta * dy;
    G += s1 / s0 - dy;
  }
  return fabs(beta * G) / L;
}

static double sigm(double t) { return t >= 0 ? 1 / (1 + exp(-t)) : exp(t) / (1 + exp(t)); }

static double softplus(double t) { return t > 0 ? t + log1p(exp(-t)) : log1p(exp(t)); }

/* Beta calibration's 0/1-target gradient (summed over rows) at (a, b, c) on
 * scores s (logits input: the exact features ln sigmoid(s) = -softplus(-s)
 * and -ln(1 - sigmoid(s)) = softplus(s), no clipping); the largest entry over
 * the free coefficients (a, b != 0, and c), each feature's entry divided by
 * max(1, its root mean square): the solver's tolerance is on the coefficient
 * of the feature standardised by a power of two within a factor 2 of 1/RMS
 * (platt_newton.c), and the features grow with the scale of the logits. */
static double beta_gradient(const float *s, size_t n, const int64_t *y, const double abc[3]) {
  double g[3] = {0, 0, 0}, ss[2] = {0, 0};
  for (size_t i = 0; i < n; i++) {
    const double f1 = -softplus(-(double)s[i]), f2 = softplus((double)s[i]);
    const double r = sigm(abc[0] * f1 + abc[1] * f2 + abc[2]) - (double)y[i];
    g[0] += r * f1;
    g[1] += r * f2;
    g[2] += r;
    ss[0] += f1 * f1;
    ss[1] += f2 * f2;
  }
  double mx = fabs(g[2]);
  for (int j = 0; j < 2; j++) {
    const double rms = sqrt(ss[j] / (double)n), gj = fabs(g[j]) / (rms > 1 ? rms : 1);
    if (abc[j] != 0 && gj > mx) mx = gj;
  }
  return mx;
}

static int cmp_float(const void *a, const void *b) {
  const float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

/* The smallest gap between distinct values of x (n floats), in double. */
static double min_gap(const float *x, size_t n) {
  float *s = (float *)malloc(n * sizeof(float));
  memcpy(s, x, n * sizeof(float));
  qsort(s, n, sizeof(float), cmp_float);
  double g = HUGE_VAL;
  for (size_t i = 1; i < n; i++)
    if (s[i] != s[i - 1] && (double)s[i] - (double)s[i - 1] < g) g = (double)s[i] - (double)s[i - 1];
  free(s);
  return g;
}

/* ---- one fit ------------------------------------------------------------------ */

typedef struct {
  const split *val, *test;
  float *xv, *xt; /* scaled copies (the k = 10 logits or the binary scores) */
  double c;
} sweep_ctx;

/* Checks a success at scale c; returns 1 if it is wrong. */
static int check_success(int method, const sweep_ctx *sc, calib_fitter *f, const calib_model *m,
                         reference *ref, int e) {
  const int bin = is_binary(method);
  const size_t k = bin ? 1 : K;
  const int64_t *yv = bin ? sc->val->yb : sc->val->y, *yt = bin ? sc->test->yb : sc->test->y;
  const double nll = test_nll(m, sc->xt, sc->test->n, k, yt);
  long failed0 = th_failed;
  /* histogram and isotonic may fit a 0 or 1 (a bin or block of one class),
   * which gives an infinite NLL on a test row of the other class */
  if (method != CALIB_METHOD_HISTOGRAM && method != CALIB_METHOD_ISOTONIC) CHECK(isfinite(nll));
  double par[3] = {0, 0, 0}, before = 0, after = 0;
  size_t cnt = 0;
  CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_BEFORE, &before));
  CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_AFTER, &after));
  if (method == CALIB_METHOD_TEMPERATURE) {
    CHECK_OK(calib_model_param(m, CALIB_MP_TEMPERATURE, par, 1, &cnt));
    if (e == 0) ref->T = par[0];
    else CHECK_REL(par[0] / sc->c, ref->T, 1e-9);
    CHECK(ts_relative_gradient(sc->xv, sc->val->n, yv, 1.0 / par[0]) <= 1e-8);
  } else if (method == CALIB_METHOD_PLATT) {
    CHECK_OK(calib_model_param(m, CALIB_MP_PLATT, par, 2, &cnt));
    if (e == 0) { ref->A = par[0]; ref->B = par[1]; }
    else { CHECK_REL(par[0] * sc->c, ref->A, 1e-9); CHECK_NEAR(par[1], ref->B, 1e-9); }
  } else if (method == CALIB_METHOD_BETA) {
    CHECK_OK(calib_model_param(m, CALIB_MP_BETA, par, 3, &cnt));
    CHECK(after <= before + 1e-12);
    CHECK(beta_gradient(sc->xv, sc->val->n, yv, par) < 1e-4); /* tol 1e-5 x rounding margin */
  } else if (method == CALIB_METHOD_DIRICHLET) {
    CHECK(after <= before + 1e-12);
  } else if (method == CALIB_METHOD_ETS) {
    calib_model *tm = NULL;
    double T = 0, w[3], tafter = 0;
    calib_fitter *tf = NULL;
    CHECK_OK(calib_fitter_create(&tf, CALIB_METHOD_TEMPERATURE));
    CHECK_OK(calib_fit(tf, sc->xv, sc->val->n, K, yv, NULL, &tm));
    CHECK_OK(calib_fitter_report(tf, CALIB_R_NLL_AFTER, &tafter));
    CHECK_OK(calib_model_param(m, CALIB_MP_ETS_TEMPERATURE, &T, 1, &cnt));
    CHECK_OK(calib_model_param(m, CALIB_MP_ETS_WEIGHTS, w, 3, &cnt));
    if (tm) {
      CHECK_OK(calib_model_param(tm, CALIB_MP_TEMPERATURE, par, 1, &cnt));
      CHECK(T == par[0]);
    }
    CHECK(after <= before + 1e-12 && after <= tafter + 1e-12);
    calib_model_free(tm);
    calib_fitter_free(tf);
  } else if (method == CALIB_METHOD_ISOTONIC) {
    /* scikit-learn's grouping of scores closer than 1e-15 (absolute; kept for
     * parity) merges distinct scores at small scales: invariance holds while
     * the scaled scores stay more than 1e-15 apart */
    if (e == 0) ref->nll = nll;
    else if (min_gap(sc->xv, sc->val->n) > 1e-15) CHECK(nll == ref->nll);
  } else if (method != CALIB_METHOD_HISTOGRAM) { /* vector, matrix */
    if (e == 0) ref->nll = nll;
    else CHECK_NEAR(nll, ref->nll, 1e-6);
  }
  return th_failed != failed0;
}

static const int documented[] = {CALIB_E_NOSIGNAL, CALIB_E_NONFINITE, CALIB_E_SEPARABLE,
                                 CALIB_E_NOCONV, CALIB_E_ONECLASS};

static cell run_one(int method, const sweep_ctx *sc, reference *ref, int e) {
  cell r = {0, 0, 0, 0};
  const int bin = is_binary(method);
  const size_t k = bin ? 1 : K;
  const int64_t *yv = bin ? sc->val->yb : sc->val->y;
  calib_fitter *f = NULL;
  calib_model *m = NULL;
  const long failed0 = th_failed;
  r.st = calib_fitter_create(&f, method);
  if (r.st != CALIB_OK) { /* only a build without BLAS lacks a method */
    CHECK(r.st == CALIB_E_UNSUPPORTED && (method == CALIB_METHOD_VECTOR || method == CALIB_METHOD_MATRIX ||
                                          method == CALIB_METHOD_DIRICHLET));
    return r;
  }
  set_options(f, method);
  const double t0 = now();
  r.st = calib_fit(f, sc->xv, sc->val->n, k, yv, NULL, &m);
  r.secs = now() - t0;
  (void)calib_fitter_report(f, CALIB_R_ITERATIONS, &r.iters);
  CHECK(r.secs < MAX_SECONDS);
  int finite = 1;
  for (size_t i = 0; i < sc->val->n * k; i++) finite &= isfinite(sc->xv[i]) != 0;
  if (!finite) {
    CHECK_ERR(r.st, CALIB_E_NONFINITE);
  } else if (r.st == CALIB_OK) {
    r.wrong = check_success(method, sc, f, m, ref, e);
  } else {
    int ok = 0;
    for (size_t j = 0; j < sizeof documented / sizeof documented[0]; j++) ok |= r.st == documented[j];
    CHECK(ok && m == NULL);
    CHECK(e != 0); /* the unscaled data must fit */
  }
  if (th_failed != failed0) fprintf(stderr, "  ^ %s, e = %d: %s\n", calib_method_name(method), e, calib_strerror(r.st));
  calib_model_free(m);
  calib_fitter_free(f);
  return r;
}

/* CALIB_SCALE_METHODS=name,name,... runs only those (for debugging). */
#define SKIPPED 1
static int selected(int method) {
  const char *only = getenv("CALIB_SCALE_METHODS");
  return !only || strstr(only, calib_method_name(method)) != NULL;
}

static const char *short_status(const cell *c) {
  if (c->wrong) return "WRONG";
  switch (c->st) {
    case CALIB_OK: return "ok";
    case CALIB_E_NOCONV: return "NOCONV";
    case CALIB_E_NOSIGNAL: return "NOSIGNAL";
    case CALIB_E_NONFINITE: return "NONFINITE";
    case CALIB_E_SEPARABLE: return "SEPARABLE";
    case CALIB_E_UNSUPPORTED: return "UNSUPP";
    default: return calib_strerror(c->st);
  }
}

static void print_table(const cell res[NE][NM]) {
  printf("\nscale sweep: DenseNet-40 / CIFAR-10, %d val rows fitted (k = %d; binary methods: class 0 vs rest\n"
         "margin), logits x 2^round(e log2 10); cell = status/iterations/milliseconds\n", NVAL, K);
  printf("%4s", "e");
  for (int mi = 0; mi < NM; mi++) printf(" %-17s", calib_method_name(methods[mi]));
  printf("\n");
  for (int ei = 0; ei < NE; ei++) {
    printf("%4d", exps[ei]);
    for (int mi = 0; mi < NM; mi++) {
      char buf[64];
      const cell *c = &res[ei][mi];
      if (c->st == CALIB_E_UNSUPPORTED) snprintf(buf, sizeof buf, "UNSUPP");
      else if (c->st == SKIPPED) snprintf(buf, sizeof buf, "-");
      else snprintf(buf, sizeof buf, "%s/%.0f/%.0f", short_status(c), c->iters, 1e3 * c->secs);
      printf(" %-17s", buf);
    }
    printf("\n");
  }
}

/* Temperature scaling at the decimal scales 10^e themselves: the data are
 * then c z rounded to float32 (each entry within 2^-24 relative of c z), a
 * slightly different problem, so T(c) / c may differ from T(1) by about
 * that rounding (T is homogeneous of degree 1: perturbing every logit by at
 * most 2^-24 relative moves T by about as much): checked to 2^-24,
 * measured ~5e-9. */
static void decimal_sweep(const split *val, float *xs) {
  double T1 = 0, worst = 0;
  for (int e = 0; e <= 30; e = e > 0 ? -e : 5 - e) { /* 0, 5, -5, 10, -10, ... */
    const double c = pow(10.0, e);
    double T = 0;
    size_t cnt = 0;
    calib_model *m = NULL;
    scale_into(val->x, val->n * K, c, xs);
    CHECK_OK(th_fit(CALIB_METHOD_TEMPERATURE, xs, val->n, K, val->y, NULL, NULL, &m));
    if (m) CHECK_OK(calib_model_param(m, CALIB_MP_TEMPERATURE, &T, 1, &cnt));
    calib_model_free(m);
    if (e == 0) T1 = T;
    CHECK_REL(T / c, T1, 0x1p-24);
    if (fabs(T / c - T1) / T1 > worst) worst = fabs(T / c - T1) / T1;
  }
  printf("temperature at logits x 10^e, e = -30..30 step 5: max |T(c)/c - T(1)| / T(1) = %.2g\n", worst);
}

/* Temperature scaling of the binary scores (k = 1, p = sigmoid(x / T)) at
 * the sweep's power-of-two scales: T(c) = c T(1) to 1e-9. */
static void binary_temperature_sweep(const split *val, float *xs) {
  double T1 = 0, worst = 0;
  for (int e = 0; e <= 30; e = e > 0 ? -e : 5 - e) {
    const double c = ldexp(1.0, (int)lround(e * 3.321928094887362));
    double T = 0;
    size_t cnt = 0;
    calib_model *m = NULL;
    scale_into(val->s, val->n, c, xs);
    CHECK_OK(th_fit(CALIB_METHOD_TEMPERATURE, xs, val->n, 1, val->yb, NULL, NULL, &m));
    if (m) CHECK_OK(calib_model_param(m, CALIB_MP_TEMPERATURE, &T, 1, &cnt));
    calib_model_free(m);
    if (e == 0) T1 = T;
    CHECK_REL(T / c, T1, 1e-9);
    if (fabs(T / c - T1) / T1 > worst) worst = fabs(T / c - T1) / T1;
  }
  printf("temperature, k = 1 (class 0 vs rest), e = -30..30: max |T(c)/c - T(1)| / T(1) = %.2g\n", worst);
}

int main(void) {
  split val, test;
  /* the shipped set is part of the repository: missing is a failure, not a skip */
  if (!load_split("val", NVAL, &val) || !load_split("test", NTEST, &test)) {
    TH_FAIL("the shipped set data/cifar10_densenet40_markus93 cannot be read");
    TEST_MAIN_END();
  }
  static cell res[NE][NM];
  reference refs[NM];
  memset(refs, 0, sizeof refs);
  sweep_ctx sc;
  sc.val = &val;
  sc.test = &test;
  sc.xv = (float *)malloc(val.n * K * sizeof(float));
  sc.xt = (float *)malloc(test.n * K * sizeof(float));
  /* e = 0 first: it gives every reference */
  for (int pass = 0; pass < 2; pass++)
    for (int ei = 0; ei < NE; ei++) {
      if ((exps[ei] == 0) != (pass == 0)) continue;
      sc.c = ldexp(1.0, (int)lround(exps[ei] * 3.321928094887362));
      for (int mi = 0; mi < NM; mi++) {
        if (!selected(methods[mi])) { res[ei][mi].st = SKIPPED; continue; }
        const int bin = is_binary(methods[mi]);
        scale_into(bin ? val.s : val.x, val.n * (bin ? 1 : K), sc.c, sc.xv);
        scale_into(bin ? test.s : test.x, test.n * (bin ? 1 : K), sc.c, sc.xt);
        res[ei][mi] = run_one(methods[mi], &sc, &refs[mi], exps[ei]);
      }
    }
  print_table((const cell(*)[NM])res);
  if (selected(CALIB_METHOD_TEMPERATURE)) {
    decimal_sweep(&val, sc.xv);
    binary_temperature_sweep(&val, sc.xv);
  }
  free(sc.xv);
  free(sc.xt);
  free_split(&val);
  free_split(&test);
  TEST_MAIN_END();
}
