/* test_matrix.c -- vector, matrix and Dirichlet scaling.
 *
 *  - apply of hand-made models against a float64 reference of the formulas
 *    (both row paths: the one-pass stack buffer and the two-pass path of
 *    k > 1024), in place, every apply error with a sentinel-filled output;
 *  - fits checked by their optimality conditions, recomputed here in double
 *    from the formulas of calib.h (gradient of NLL + penalty ~ 0, and the
 *    objective rises along random directions), for every method and
 *    penalty, on the Newton and on the L-BFGS path (which must agree, also
 *    for a problem large enough for L-BFGS's float32 first phase);
 *  - integer weights equal duplicated rows; the separable certificate;
 *    CALIB_E_NOCONV; every fit error with *out untouched; option bounds;
 *  - model bytes: save/load bit-identical, crafted invalid payloads rejected;
 *  - out of memory at every allocation of a fit;
 *  - ../shared/data cifar10 DenseNet-40: each method lowers the test NLL.
 * The scipy references (same objective minimised independently) are in
 * test/py/test_matrix.py. Usage: test_matrix [seed] */
#include "internal.h" /* first: harness.h's th_fit_oom needs the allocator hook */
#include "harness.h"
#include "calib_core.h"
#include "kernels.h"

#define NM 3
static const int methods[NM] = {CALIB_METHOD_VECTOR, CALIB_METHOD_MATRIX, CALIB_METHOD_DIRICHLET};

/* ---- float64 reference of the maps and the objective ----------------------- */

typedef struct {
  int method;
  size_t k;
  double *W, *b; /* W: k*k (vector: k) */
} ref_map;

static void ref_logits(const ref_map *r, const float *x, double *a) {
  const size_t k = r->k;
  double m = x[0], s = 0;
  for (size_t j = 1; j < k; j++) m = x[j] > m ? x[j] : m;
  for (size_t j = 0; j < k; j++) s += exp((double)x[j] - m);
  const double lse = m + log(s);
  for (size_t c = 0; c < k; c++) {
    if (r->method == CALIB_METHOD_VECTOR) {
      a[c] = r->W[c] * x[c] + r->b[c];
      continue;
    }
    double t = r->b[c];
    for (size_t j = 0; j < k; j++)
      t += r->W[c * k + j] * ((double)x[j] - (r->method == CALIB_METHOD_DIRICHLET ? lse : 0.0));
    a[c] = t;
  }
}

static void ref_softmax(double *a, size_t k) {
  double m = a[0], s = 0;
  for (size_t j = 1; j < k; j++) m = a[j] > m ? a[j] : m;
  for (size_t j = 0; j < k; j++) s += (a[j] = exp(a[j] - m));
  for (size_t j = 0; j < k; j++) a[j] /= s;
}

typedef struct {
  double lam, mu, l2;
  int center;
} penalty;

/* theta = (W, b) in calib.h's parametrisation; objective of calib.h. */
static double ref_objective(const ref_map *r, const penalty *pen, const float *x, size_t n,
                            const int64_t *y, const double *w) {
  const size_t k = r->k;
  double *a = malloc(k * sizeof(double)), L = 0, ws = 0;
  for (size_t i = 0; i < n; i++) {
    const double wi = w ? w[i] : 1.0;
    ref_logits(r, x + i * k, a);
    double m = a[0], s = 0;
    for (size_t j = 1; j < k; j++) m = a[j] > m ? a[j] : m;
    for (size_t j = 0; j < k; j++) s += exp(a[j] - m);
    L += wi * (m + log(s) - a[y[i]]);
    ws += wi;
  }
  free(a);
  L /= ws;
  const double kk = (double)k, P = r->method == CALIB_METHOD_VECTOR ? 2 * kk : kk * (kk + 1);
  for (size_t i = 0; i < k; i++) {
    L += pen->mu / kk * r->b[i] * r->b[i] + pen->l2 / P * r->b[i] * r->b[i];
    if (r->method == CALIB_METHOD_VECTOR) {
      const double c = pen->center ? 1.0 : 0.0;
      L += pen->l2 / P * (r->W[i] - c) * (r->W[i] - c);
      continue;
    }
    for (size_t j = 0; j < k; j++) {
      const double t = r->W[i * k + j], c = (i == j && pen->center) ? 1.0 : 0.0;
      if (i != j) L += pen->lam / (kk * (kk - 1)) * t * t;
      L += pen->l2 / P * (t - c) * (t - c);
    }
  }
  return L;
}

/* The fitted map of a model, copied out through calib_model_param. */
static void get_map(const calib_model *m, ref_map *r) {
  size_t cw = 0, cb = 0;
  r->method = calib_model_method(m);
  r->k = calib_model_classes(m);
  const int wt = r->method == CALIB_METHOD_VECTOR ? CALIB_MP_VECTOR_W : CALIB_MP_MATRIX_W;
  CHECK_OK(calib_model_param(m, wt, NULL, 0, &cw));
  CHECK_OK(calib_model_param(m, CALIB_MP_BIAS, NULL, 0, &cb));
  r->W = malloc(cw * sizeof(double));
  r->b = malloc(cb * sizeof(double));
  CHECK_OK(calib_model_param(m, wt, r->W, cw, &cw));
  CHECK_OK(calib_model_param(m, CALIB_MP_BIAS, r->b, cb, &cb));
  CHECK(cb == r->k && cw == (r->method == CALIB_METHOD_VECTOR ? r->k : r->k * r->k));
}

static void free_map(ref_map *r) { free(r->W); free(r->b); }

/* ---- hand-made model bytes (src/model/format.c layout) --------------------- */

typedef th_section sec;
#define craft th_craft_model /* harness.h: the format's independent writer */

static int load_map(const ref_map *r, calib_model **m) {
  const size_t k = r->k, nw = r->method == CALIB_METHOD_VECTOR ? k : k * k;
  const sec s[2] = {{r->method == CALIB_METHOD_VECTOR ? CALIB_MP_VECTOR_W : CALIB_MP_MATRIX_W, nw, r->W},
                    {CALIB_MP_BIAS, k, r->b}};
  size_t len;
  uint8_t *buf = craft(r->method, k, s, 2, &len);
  *m = NULL;
  const int st = calib_model_load(m, buf, len);
  free(buf);
  return st;
}

static void random_map(ref_map *r, int method, size_t k) {
  const size_t nw = method == CALIB_METHOD_VECTOR ? k : k * k;
  r->method = method;
  r->k = k;
  r->W = malloc(nw * sizeof(double));
  r->b = malloc(k * sizeof(double));
  for (size_t i = 0; i < nw; i++)
    r->W[i] = (method == CALIB_METHOD_VECTOR || i % (k + 1) == 0 ? 1.0 : 0.0) + 0.3 * th_normal();
  for (size_t i = 0; i < k; i++) r->b[i] = th_normal();
}

/* ---- apply ----------------------------------------------------------------- */

/* f32: W rounded to float32 values (as the fitters leave it): the model then
 * applies from its float32 copy (matrix/Dirichlet, k <= 1024, x86 SIMD). */
static void check_apply(int method, size_t k, size_t n, int f32) {
  ref_map r;
  random_map(&r, method, k);
  if (f32)
    for (size_t i = 0; i < (method == CALIB_METHOD_VECTOR ? k : k * k); i++) r.W[i] = (double)(float)r.W[i];
  calib_model *m = NULL;
  CHECK_OK(load_map(&r, &m));
  if (!m) { free_map(&r); return; }
  float *x = malloc(n * k * sizeof(float)), *p = malloc(n * k * sizeof(float));
  double *a = malloc(k * sizeof(double)), maxerr = 0;
  for (size_t i = 0; i < n * k; i++) x[i] = (float)(4 * th_normal());
  if (n > 1) x[k] = 80.0f, x[k + 1] = -80.0f; /* wide logits in row 1 */
  CHECK_OK(calib_apply(m, x, n, k, p));
  for (size_t i = 0; i < n; i++) {
    ref_logits(&r, x + i * k, a);
    ref_softmax(a, k);
    for (size_t j = 0; j < k; j++) {
      const double e = fabs(p[i * k + j] - a[j]) / (a[j] > 1e-30 ? a[j] : 1e-30);
      if (a[j] > 1e-30 && e > maxerr) maxerr = e;
    }
  }
  CHECK(maxerr < 1e-6); /* float rounding of the output, plus exp rounding */
  /* in place: identical bits (except where unsupported) */
  float *q = malloc(n * k * sizeof(float));
  memcpy(q, x, n * k * sizeof(float));
  const int st = calib_apply(m, q, n, k, q);
  if (k > 1024 && method != CALIB_METHOD_VECTOR) {
    CHECK_ERR(st, CALIB_E_UNSUPPORTED);
    CHECK(memcmp(q, x, n * k * sizeof(float)) == 0);
  } else {
    CHECK_OK(st);
    CHECK(memcmp(q, p, n * k * sizeof(float)) == 0);
  }
  printf("apply %-9s k=%-5zu n=%zu W %s: max rel err %.3g vs float64 reference\n",
         calib_method_name(method), k, n, f32 ? "float32 values" : "doubles", maxerr);
  calib_model_free(m);
  free(x); free(p); free(q); free(a);
  free_map(&r);
}

/* The float32 copy of W (model/matrix_apply.c): a loaded model whose W holds
 * float32 values applies from the copy, the same bytes by reference
 * (calib_model_init_static: no copy) through the double path; the two must
 * agree bit for bit on every ISA, at k = 2..1024 (the 4-row blocks, their
 * remainder rows and the vector tails of matvec_row), for matrix and
 * Dirichlet, on a W with zeros, subnormal and large float values. */
static void check_f32_copy_bits(void) {
  static const size_t ks[] = {2, 3, 5, 8, 9, 17, 31, 64, 100, 1000, 1024};
  static const char *isas[] = {"scalar", "avx2", "avx512"};
  const char *orig = calib_isa();
  for (int mi = 1; mi < NM; mi++)
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
      const size_t k = ks[ki], n = 5;
      ref_map r;
      random_map(&r, methods[mi], k);
      for (size_t i = 0; i < k * k; i++) r.W[i] = (double)(float)r.W[i];
      r.W[k * k - 1] = 0.0;
      r.W[1] = (double)1e-40f;  /* subnormal float */
      r.W[k] = -(double)3e30f;  /* large: outputs saturate, still finite */
      const sec sc[2] = {{CALIB_MP_MATRIX_W, k * k, r.W}, {CALIB_MP_BIAS, k, r.b}};
      size_t len;
      uint8_t *buf = craft(methods[mi], k, sc, 2, &len);
      calib_model *m = NULL;
      CHECK_OK(calib_model_load(&m, buf, len));
      uint64_t ws[CALIB_MODEL_WORKSPACE_MAX / 8];
      const calib_model *mr = NULL;
      CHECK_OK(calib_model_init_static(&mr, ws, sizeof ws, buf, len));
      if (!m || !mr) { calib_model_free(m); free(buf); free_map(&r); continue; }
#if defined(CALIB_HAVE_X86_KERNELS)
      CHECK(m->wf32 != NULL && mr->wf32 == NULL); /* the copy exists, the by-reference model has none */
#endif
      float *x = malloc(n * k * sizeof(float)), *p = malloc(n * k * sizeof(float)), *q = malloc(n * k * sizeof(float));
      for (size_t i = 0; i < n * k; i++) x[i] = (float)(4 * th_normal());
      for (size_t t = 0; t < sizeof isas / sizeof *isas; t++) {
        if (!calib__kernels_force(isas[t])) continue;
        CHECK_OK(calib_apply(m, x, n, k, p));
        CHECK_OK(calib_apply(mr, x, n, k, q));
        if (memcmp(p, q, n * k * sizeof(float)) != 0)
          TH_FAIL("%s k=%zu %s: float32 copy and double W differ", calib_method_name(methods[mi]), k, isas[t]);
      }
      calib__kernels_force(orig);
      free(x); free(p); free(q);
      calib_model_free(m);
      free(buf);
      free_map(&r);
    }
  printf("matrix/Dirichlet float32 copy of W: bit-identical to the double path (k = 2..1024, every ISA)\n");
}

static void check_apply_errors(void) {
  ref_map r;
  random_map(&r, CALIB_METHOD_MATRIX, 3);
  calib_model *m = NULL;
  CHECK_OK(load_map(&r, &m));
  float x[6] = {1, 2, 3, 4, 5, 6}, out[6];
  const float bad[3] = {NAN, INFINITY, -INFINITY};
  for (int b = 0; b < 3; b++) {
    x[4] = bad[b];
    memset(out, 0x5A, sizeof out);
    CHECK_ERR(calib_apply(m, x, 2, 3, out), CALIB_E_NONFINITE);
    for (int i = 0; i < 6; i++) CHECK(((uint32_t *)(void *)out)[i] == 0x5A5A5A5Au);
  }
  x[4] = 5;
  CHECK_ERR(calib_apply(m, x, 2, 2, out), CALIB_E_SHAPE);
  CHECK_ERR(calib_apply(m, NULL, 2, 3, out), CALIB_E_ARG);
  CHECK_ERR(calib_apply(m, x, 2, 3, NULL), CALIB_E_ARG);
  CHECK_ERR(calib_apply(m, x, 2, 3, x + 1), CALIB_E_ARG); /* partial overlap */
  CHECK_OK(calib_apply(m, x, 0, 3, out));
  calib_model_free(m);
  free_map(&r);
}

/* ---- fits ------------------------------------------------------------------ */

typedef th_set set;

/* Labels drawn from softmax(A z + c) for a random A near 2 I: a matrix-scaling
 * problem with a finite optimum. */
static set make_set(size_t n, size_t k) {
  set s = {malloc(n * k * sizeof(float)), malloc(n * sizeof(int64_t)), n, k};
  double *A = malloc(k * k * sizeof(double)), *t = malloc(k * sizeof(double));
  for (size_t i = 0; i < k * k; i++) A[i] = (i % (k + 1) == 0 ? 0.6 : 0.0) + 0.15 * th_normal();
  for (size_t i = 0; i < n; i++) {
    float *z = s.x + i * k;
    for (size_t j = 0; j < k; j++) z[j] = (float)(2.5 * th_normal());
    for (size_t a = 0; a < k; a++) {
      t[a] = 0.2 * (double)a / (double)k;
      for (size_t j = 0; j < k; j++) t[a] += A[a * k + j] * z[j];
    }
    ref_softmax(t, k);
    double u = th_uniform();
    s.y[i] = (int64_t)k - 1;
    for (size_t a = 0; a < k; a++)
      if ((u -= t[a]) < 0) { s.y[i] = (int64_t)a; break; }
  }
  free(A);
  free(t);
  return s;
}

static void free_set(set *s) { free(s->x); free(s->y); }

static int fit_with(int method, const set *s, const double *w, const penalty *pen, double newton_max,
                    double tol, calib_model **m, double *iters) {
  calib_fitter *f = NULL;
  CHECK_OK(calib_fitter_create(&f, method));
  if (!f) return CALIB_E_NOMEM;
  if (method != CALIB_METHOD_VECTOR) CHECK_OK(calib_fitter_set(f, CALIB_P_ODIR_LAMBDA, pen->lam));
  CHECK_OK(calib_fitter_set(f, CALIB_P_ODIR_MU, pen->mu));
  CHECK_OK(calib_fitter_set(f, CALIB_P_L2, pen->l2));
  CHECK_OK(calib_fitter_set(f, CALIB_P_L2_CENTER, pen->center));
  CHECK_OK(calib_fitter_set(f, CALIB_P_NEWTON_MAX, newton_max));
  CHECK_OK(calib_fitter_set(f, CALIB_P_TOL, tol));
  *m = NULL;
  const int st = calib_fit(f, s->x, s->n, s->k, s->y, w, m);
  if (iters) calib_fitter_report(f, CALIB_R_ITERATIONS, iters);
  double g = 0;
  CHECK_OK(calib_fitter_report(f, CALIB_R_GRADIENT, &g));
  if (st == CALIB_OK) CHECK(g <= tol);
  if (st == CALIB_E_NOCONV) printf("    (noconv: gradient %.3g, %s)\n", g, newton_max == 0 ? "lbfgs" : "newton");
  calib_fitter_free(f);
  return st;
}

/* Central-difference gradient of the reference objective along each
 * parameter (max |.|), and the objective along random directions. */
static void check_optimal(const calib_model *m, const set *s, const double *w, const penalty *pen,
                          const char *what) {
  ref_map r;
  get_map(m, &r);
  const size_t nw = r.method == CALIB_METHOD_VECTOR ? r.k : r.k * r.k;
  const double L0 = ref_objective(&r, pen, s->x, s->n, s->y, w), h = 1e-5;
  double gmax = 0;
  for (size_t i = 0; i < nw + r.k; i++) {
    double *t = i < nw ? &r.W[i] : &r.b[i - nw], v = *t;
    *t = v + h;
    const double Lp = ref_objective(&r, pen, s->x, s->n, s->y, w);
    *t = v - h;
    const double Lm = ref_objective(&r, pen, s->x, s->n, s->y, w);
    *t = v;
    const double g = (Lp - Lm) / (2 * h);
    if (fabs(g) > gmax) gmax = fabs(g);
  }
  int rises = 1;
  for (int d = 0; d < 4; d++) {
    ref_map q = r;
    q.W = malloc(nw * sizeof(double));
    q.b = malloc(r.k * sizeof(double));
    for (size_t i = 0; i < nw; i++) q.W[i] = r.W[i] + 1e-3 * th_normal();
    for (size_t i = 0; i < r.k; i++) q.b[i] = r.b[i] + 1e-3 * th_normal();
    if (!(ref_objective(&q, pen, s->x, s->n, s->y, w) > L0)) rises = 0;
    free_map(&q);
  }
  printf("  %-9s %-28s L = %.12f, max |dL/dtheta| (central diff.) = %.2g\n",
         calib_method_name(r.method), what, L0, gmax);
  CHECK(gmax < 2e-6);
  CHECK(rises);
  free_map(&r);
}

static void test_fits(void) {
  set s = make_set(1500, 4);
  const penalty pens[4] = {{0, 0, 0, 1}, {0.5, 0.2, 0, 1}, {0, 0, 2.0, 1}, {0.1, 0.1, 1.0, 0}};
  const char *names[4] = {"unregularised", "ODIR (0.5, 0.2)", "L2 2 -> identity", "ODIR + L2 1 -> zero"};
  printf("optimality (n = %zu, k = %zu):\n", s.n, s.k);
  for (int mi = 0; mi < NM; mi++)
    for (int p = 0; p < 4; p++) {
      calib_model *m = NULL, *m2 = NULL;
      double it = 0, it2 = 0;
      CHECK_OK(fit_with(methods[mi], &s, NULL, &pens[p], 1200, 1e-9, &m, &it));
      if (!m) continue;
      check_optimal(m, &s, NULL, &pens[p], names[p]);
      /* the L-BFGS path reaches the same map */
      CHECK_OK(fit_with(methods[mi], &s, NULL, &pens[p], 0, 1e-7, &m2, &it2));
      if (m2) {
        float *p1 = malloc(s.n * s.k * 4), *p2 = malloc(s.n * s.k * 4);
        CHECK_OK(calib_apply(m, s.x, s.n, s.k, p1));
        CHECK_OK(calib_apply(m2, s.x, s.n, s.k, p2));
        double e = 0;
        for (size_t i = 0; i < s.n * s.k; i++) e = fabs(p1[i] - p2[i]) > e ? fabs(p1[i] - p2[i]) : e;
        CHECK(e < 1e-5);
        printf("  %-9s %-28s Newton %g steps, L-BFGS %g iterations, max |dp| %.2g\n",
               calib_method_name(methods[mi]), names[p], it, it2, e);
        free(p1);
        free(p2);
      }
      calib_model_free(m);
      calib_model_free(m2);
    }
  free_set(&s);
}

/* The L-BFGS path of a large problem (n k (k+1) >= 2^22: float32 first
 * phase, then double) reaches Newton's map; Dirichlet, ODIR + L2. */
/* Matrix and Dirichlet fits at the default tolerance leave W as float32
 * values (matrix_fit.c's round_fitted), on the Newton and the Newton-CG path,
 * and the report describes the stored parameters: nll_after equals the
 * reference NLL at the model's W and b (ref_objective, no penalty), and the
 * gradient still meets tol. */
static void test_f32_fitted(void) {
  set s = make_set(1500, 6);
  const penalty none = {0, 0, 0, 1}, odir = {0.5, 0.2, 0, 1};
  for (int mi = 1; mi < NM; mi++)
    for (int nm = 0; nm < 2; nm++) {
      calib_fitter *f = NULL;
      calib_model *m = NULL;
      CHECK_OK(calib_fitter_create(&f, methods[mi]));
      const penalty *pen = mi == 1 ? &none : &odir;
      CHECK_OK(calib_fitter_set(f, CALIB_P_ODIR_LAMBDA, pen->lam));
      CHECK_OK(calib_fitter_set(f, CALIB_P_ODIR_MU, pen->mu));
      CHECK_OK(calib_fitter_set(f, CALIB_P_NEWTON_MAX, nm ? 0 : 1200));
      CHECK_OK(calib_fit(f, s.x, s.n, s.k, s.y, NULL, &m));
      if (!m) { calib_fitter_free(f); continue; }
      double after = 0, g = 0;
      CHECK_OK(calib_fitter_report(f, CALIB_R_NLL_AFTER, &after));
      CHECK_OK(calib_fitter_report(f, CALIB_R_GRADIENT, &g));
      ref_map r;
      get_map(m, &r);
      size_t inexact = 0;
      for (size_t i = 0; i < s.k * s.k; i++) inexact += (double)(float)r.W[i] != r.W[i];
      const double nll = ref_objective(&r, &none, s.x, s.n, s.y, NULL);
      printf("%-9s %s: W float32 values (%zu of %zu not), nll_after %.15f vs reference %.15f, gradient %.2g\n",
             calib_method_name(methods[mi]), nm ? "Newton-CG" : "Newton", inexact, s.k * s.k, after, nll, g);
      CHECK(inexact == 0);
      CHECK_NEAR(after, nll, 1e-13 * nll);
      CHECK(g <= 1e-6);
      free_map(&r);
      calib_model_free(m);
      calib_fitter_free(f);
    }
  free_set(&s);
}

static void test_fast_path(void) {
  set s = make_set(8000, 24);
  const penalty pen = {1.0, 0.5, 0.5, 1};
  calib_model *a = NULL, *b = NULL;
  double ita = 0, itb = 0;
  CHECK_OK(fit_with(CALIB_METHOD_DIRICHLET, &s, NULL, &pen, 1200, 1e-9, &a, &ita));
  CHECK_OK(fit_with(CALIB_METHOD_DIRICHLET, &s, NULL, &pen, 0, 1e-7, &b, &itb));
  if (a && b) {
    float *p1 = malloc(s.n * s.k * 4), *p2 = malloc(s.n * s.k * 4);
    CHECK_OK(calib_apply(a, s.x, s.n, s.k, p1));
    CHECK_OK(calib_apply(b, s.x, s.n, s.k, p2));
    double e = 0;
    for (size_t i = 0; i < s.n * s.k; i++) e = fmax(e, fabs(p1[i] - p2[i]));
    ref_map ra, rb;
    get_map(a, &ra);
    get_map(b, &rb);
    const double La = ref_objective(&ra, &pen, s.x, s.n, s.y, NULL), Lb = ref_objective(&rb, &pen, s.x, s.n, s.y, NULL);
    printf("large L-BFGS path (n = %zu, k = %zu): Newton %g steps, L-BFGS %g iterations, L %.12f vs %.12f, "
           "max |dp| %.2g\n", s.n, s.k, ita, itb, La, Lb, e);
    CHECK(e < 1e-5);
    CHECK(Lb - La < 1e-10 && La <= Lb + 1e-13);
    free_map(&ra);
    free_map(&rb);
    free(p1);
    free(p2);
  }
  calib_model_free(a);
  calib_model_free(b);
  free_set(&s);
}

/* Integer weights = duplicated rows; zero weight = row absent. */
static void test_weights(void) {
  set s = make_set(300, 3);
  set d = {malloc(600 * 3 * sizeof(float)), malloc(600 * sizeof(int64_t)), 0, 3};
  double *w = malloc(300 * sizeof(double));
  for (size_t i = 0; i < 300; i++) {
    w[i] = (double)(i % 3);
    for (size_t c = 0; c < (size_t)w[i]; c++, d.n++) {
      memcpy(d.x + d.n * 3, s.x + i * 3, 3 * sizeof(float));
      d.y[d.n] = s.y[i];
    }
  }
  const penalty pen = {0.3, 0.1, 0, 1};
  for (int mi = 0; mi < NM; mi++) {
    calib_model *a = NULL, *b = NULL;
    CHECK_OK(fit_with(methods[mi], &s, w, &pen, 1200, 1e-10, &a, NULL));
    CHECK_OK(fit_with(methods[mi], &d, NULL, &pen, 1200, 1e-10, &b, NULL));
    if (a && b) {
      ref_map ra, rb;
      get_map(a, &ra);
      get_map(b, &rb);
      const size_t nw = ra.method == CALIB_METHOD_VECTOR ? 3 : 9;
      double e = 0;
      for (size_t i = 0; i < nw; i++) e = fmax(e, fabs(ra.W[i] - rb.W[i]));
      for (size_t i = 0; i < 3; i++) e = fmax(e, fabs(ra.b[i] - rb.b[i]));
      CHECK(e < 1e-7);
      free_map(&ra);
      free_map(&rb);
    }
    calib_model_free(a);
    calib_model_free(b);
  }
  free(w);
  free_set(&s);
  free_set(&d);
}

static void test_errors(void) {
  set s = make_set(200, 3);
  calib_model *sentinel = (calib_model *)(uintptr_t)0x1234, *m = sentinel;
  for (int mi = 0; mi < NM; mi++) {
    calib_fitter *f = NULL;
    CHECK_OK(calib_fitter_create(&f, methods[mi]));
    m = sentinel;
    CHECK_ERR(calib_fit(f, s.x, s.n, 1, s.y, NULL, &m), CALIB_E_LABEL); /* labels 0..2 with k = 1 */
    int64_t y01[4] = {0, 1, 0, 1};
    CHECK_ERR(calib_fit(f, s.x, 4, 1, y01, NULL, &m), CALIB_E_ARG); /* k == 1 */
    CHECK_ERR(calib_fit(f, s.x, 0, 3, s.y, NULL, &m), CALIB_E_EMPTY);
    CHECK_ERR(calib_fit(f, NULL, s.n, 3, s.y, NULL, &m), CALIB_E_ARG);
    CHECK_ERR(calib_fit(f, s.x, s.n, 0, s.y, NULL, &m), CALIB_E_ARG);
    float save = s.x[7];
    s.x[7] = NAN;
    CHECK_ERR(calib_fit(f, s.x, s.n, 3, s.y, NULL, &m), CALIB_E_NONFINITE);
    s.x[7] = -INFINITY;
    CHECK_ERR(calib_fit(f, s.x, s.n, 3, s.y, NULL, &m), CALIB_E_NONFINITE);
    s.x[7] = save;
    int64_t ys = s.y[5];
    s.y[5] = 3;
    CHECK_ERR(calib_fit(f, s.x, s.n, 3, s.y, NULL, &m), CALIB_E_LABEL);
    s.y[5] = -1;
    CHECK_ERR(calib_fit(f, s.x, s.n, 3, s.y, NULL, &m), CALIB_E_LABEL);
    s.y[5] = ys;
    int64_t same[200];
    for (int i = 0; i < 200; i++) same[i] = 2;
    CHECK_ERR(calib_fit(f, s.x, s.n, 3, same, NULL, &m), CALIB_E_ONECLASS);
    double w[200];
    for (int i = 0; i < 200; i++) w[i] = 1;
    w[3] = -1;
    CHECK_ERR(calib_fit(f, s.x, s.n, 3, s.y, w, &m), CALIB_E_DOMAIN);
    w[3] = NAN;
    CHECK_ERR(calib_fit(f, s.x, s.n, 3, s.y, w, &m), CALIB_E_NONFINITE);
    for (int i = 0; i < 200; i++) w[i] = 0;
    CHECK_ERR(calib_fit(f, s.x, s.n, 3, s.y, w, &m), CALIB_E_EMPTY);
    /* options */
    double v = 0;
    CHECK_ERR(calib_fitter_set(f, CALIB_P_TOL, 0.0), CALIB_E_ARG);
    CHECK_ERR(calib_fitter_set(f, CALIB_P_L2, -1), CALIB_E_ARG);
    CHECK_ERR(calib_fitter_set(f, CALIB_P_L2_CENTER, 0.5), CALIB_E_ARG);
    CHECK_ERR(calib_fitter_set(f, CALIB_P_LBFGS_M, 2), CALIB_E_ARG);
    CHECK_ERR(calib_fitter_set(f, CALIB_P_NEWTON_MAX, 5001), CALIB_E_ARG);
    CHECK_ERR(calib_fitter_set(f, CALIB_P_ODIR_MU, NAN), CALIB_E_ARG);
    CHECK_ERR(calib_fitter_set(f, CALIB_P_ETS_LOSS, 0), CALIB_E_ARG);
    if (methods[mi] == CALIB_METHOD_VECTOR) CHECK_ERR(calib_fitter_set(f, CALIB_P_ODIR_LAMBDA, 1), CALIB_E_ARG);
    CHECK_OK(calib_fitter_get(f, CALIB_P_TOL, &v));
    CHECK(v == 1e-6);
    CHECK_OK(calib_fitter_get(f, CALIB_P_MAX_ITER, &v));
    CHECK(v == 10000);
    CHECK(m == sentinel);
    calib_fitter_free(f);
  }
  double lo, hi, def;
  CHECK_OK(calib_param_bounds(CALIB_METHOD_DIRICHLET, CALIB_P_ODIR_LAMBDA, &lo, &hi, &def));
  CHECK(lo == 0 && def > 0);
  CHECK_OK(calib_param_bounds(CALIB_METHOD_MATRIX, CALIB_P_ODIR_LAMBDA, &lo, &hi, &def));
  CHECK(def == 0);
  free_set(&s);
}

/* No optimum: every row's label already ranks first (the identity map
 * separates), or the data become separable only for the full map. */
static void test_separable(void) {
  set s = make_set(300, 3);
  for (size_t i = 0; i < s.n; i++) s.x[i * 3 + s.y[i]] += 30.0f; /* label always first */
  const penalty none = {0, 0, 0, 1}, odir = {1, 1, 0, 1}, l2 = {0, 0, 1, 1};
  for (int mi = 0; mi < NM; mi++) {
    calib_model *m = NULL;
    CHECK_ERR(fit_with(methods[mi], &s, NULL, &none, 1200, 1e-6, &m, NULL), CALIB_E_SEPARABLE);
    CHECK(m == NULL);
    CHECK_ERR(fit_with(methods[mi], &s, NULL, &odir, 1200, 1e-6, &m, NULL), CALIB_E_SEPARABLE);
    CHECK(m == NULL);
    CHECK_OK(fit_with(methods[mi], &s, NULL, &l2, 1200, 1e-6, &m, NULL)); /* L2: optimum exists */
    calib_model_free(m);
  }
  /* separable, but not by the identity: label 1 iff x0 > 0, x1 is noise */
  set t = {malloc(200 * 2 * sizeof(float)), malloc(200 * sizeof(int64_t)), 200, 2};
  for (size_t i = 0; i < 200; i++) {
    t.y[i] = (int64_t)(i % 2);
    t.x[2 * i] = (float)((t.y[i] ? 1.0 : -1.0) * (0.5 + th_uniform()));
    t.x[2 * i + 1] = (float)(3 * th_normal());
  }
  calib_model *m = NULL;
  const int st = fit_with(CALIB_METHOD_MATRIX, &t, NULL, &none, 1200, 1e-6, &m, NULL);
  CHECK_ERR(st, CALIB_E_SEPARABLE); /* never a NOCONV that hides the missing optimum */
  CHECK(m == NULL);
  printf("separable data: %s\n", calib_strerror(st));
  free_set(&s);
  free_set(&t);
}

static void test_noconv(void) {
  set s = make_set(500, 4);
  for (int mi = 0; mi < NM; mi++)
    for (int nm = 0; nm < 2; nm++) {
      calib_fitter *f = NULL;
      calib_model *m = NULL;
      CHECK_OK(calib_fitter_create(&f, methods[mi]));
      CHECK_OK(calib_fitter_set(f, CALIB_P_MAX_ITER, 1));
      CHECK_OK(calib_fitter_set(f, CALIB_P_TOL, 1e-10));
      CHECK_OK(calib_fitter_set(f, CALIB_P_NEWTON_MAX, nm ? 0 : 1200));
      CHECK_ERR(calib_fit(f, s.x, s.n, s.k, s.y, NULL, &m), CALIB_E_NOCONV);
      CHECK(m == NULL);
      double st = 0;
      CHECK_OK(calib_fitter_report(f, CALIB_R_STATUS, &st));
      CHECK(st == CALIB_E_NOCONV);
      calib_fitter_free(f);
    }
  free_set(&s);
}

/* ---- model bytes ------------------------------------------------------------ */

static void test_bytes(void) {
  set s = make_set(400, 3);
  for (int mi = 0; mi < NM; mi++) {
    calib_fitter *f = NULL;
    calib_model *m = NULL, *m2 = NULL;
    CHECK_OK(calib_fitter_create(&f, methods[mi]));
    CHECK_OK(calib_fit(f, s.x, s.n, 3, s.y, NULL, &m));
    calib_fitter_free(f);
    if (!m) continue;
    const size_t size = calib_model_size(m);
    uint8_t *buf = malloc(size), *buf2 = malloc(size);
    CHECK_OK(calib_model_save(m, buf, size, NULL));
    CHECK_OK(calib_model_load(&m2, buf, size));
    CHECK_OK(calib_model_save(m2, buf2, size, NULL));
    CHECK(memcmp(buf, buf2, size) == 0);
    float *p1 = malloc(400 * 3 * 4), *p2 = malloc(400 * 3 * 4);
    CHECK_OK(calib_apply(m, s.x, 400, 3, p1));
    CHECK_OK(calib_apply(m2, s.x, 400, 3, p2));
    CHECK(memcmp(p1, p2, 400 * 3 * 4) == 0);
    /* every single-bit flip is rejected (CRCs) */
    int rejected = 1;
    for (size_t i = 0; i < size; i++) {
      calib_model *bad = NULL;
      buf2[i] ^= 0x10;
      if (calib_model_load(&bad, buf2, size) != CALIB_E_FORMAT || bad) rejected = 0;
      buf2[i] ^= 0x10;
      calib_model_free(bad);
    }
    CHECK(rejected);
    free(buf); free(buf2); free(p1); free(p2);
    calib_model_free(m);
    calib_model_free(m2);
  }
  /* crafted payloads with valid CRCs but invalid content */
  const double w3[3] = {1, 1, 1}, b3[3] = {0, 0, 0}, W9[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  double big[9], inf9[9], nan3[3] = {0, NAN, 0};
  memcpy(big, W9, sizeof W9);
  memcpy(inf9, W9, sizeof W9);
  big[4] = 1.5e100;
  inf9[2] = INFINITY;
  struct { int method; uint64_t k; sec s[3]; size_t ns; int ok; } cases[] = {
      {CALIB_METHOD_VECTOR, 3, {{CALIB_MP_VECTOR_W, 3, w3}, {CALIB_MP_BIAS, 3, b3}}, 2, 1},
      {CALIB_METHOD_MATRIX, 3, {{CALIB_MP_MATRIX_W, 9, W9}, {CALIB_MP_BIAS, 3, b3}}, 2, 1},
      {CALIB_METHOD_DIRICHLET, 3, {{CALIB_MP_MATRIX_W, 9, W9}, {CALIB_MP_BIAS, 3, b3}}, 2, 1},
      {CALIB_METHOD_VECTOR, 3, {{CALIB_MP_VECTOR_W, 2, w3}, {CALIB_MP_BIAS, 3, b3}}, 2, 0},
      {CALIB_METHOD_VECTOR, 3, {{CALIB_MP_VECTOR_W, 3, w3}}, 1, 0},
      {CALIB_METHOD_VECTOR, 3, {{CALIB_MP_MATRIX_W, 9, W9}, {CALIB_MP_BIAS, 3, b3}}, 2, 0},
      {CALIB_METHOD_VECTOR, 1, {{CALIB_MP_VECTOR_W, 1, w3}, {CALIB_MP_BIAS, 1, b3}}, 2, 0},
      {CALIB_METHOD_VECTOR, 3, {{CALIB_MP_VECTOR_W, 3, w3}, {CALIB_MP_BIAS, 3, nan3}}, 2, 0},
      {CALIB_METHOD_MATRIX, 3, {{CALIB_MP_MATRIX_W, 9, big}, {CALIB_MP_BIAS, 3, b3}}, 2, 0},
      {CALIB_METHOD_MATRIX, 3, {{CALIB_MP_MATRIX_W, 9, inf9}, {CALIB_MP_BIAS, 3, b3}}, 2, 0},
      {CALIB_METHOD_MATRIX, 3, {{CALIB_MP_MATRIX_W, 3, W9}, {CALIB_MP_BIAS, 3, b3}}, 2, 0},
      {CALIB_METHOD_DIRICHLET, 3, {{CALIB_MP_MATRIX_W, 9, W9}, {CALIB_MP_BIAS, 3, b3}, {CALIB_MP_TEMPERATURE, 3, b3}}, 3, 0},
      {CALIB_METHOD_DIRICHLET, 2, {{CALIB_MP_MATRIX_W, 9, W9}, {CALIB_MP_BIAS, 3, b3}}, 2, 0},
      {CALIB_METHOD_DIRICHLET, 3, {{CALIB_MP_BIAS, 3, b3}, {CALIB_MP_BIAS, 3, b3}}, 2, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t len;
    uint8_t *buf = craft(cases[c].method, cases[c].k, cases[c].s, cases[c].ns, &len);
    calib_model *m = NULL;
    const int st = calib_model_load(&m, buf, len);
    if (cases[c].ok) CHECK_OK(st);
    else {
      CHECK_ERR(st, CALIB_E_FORMAT);
      CHECK(m == NULL);
    }
    if (st != (cases[c].ok ? CALIB_OK : CALIB_E_FORMAT)) printf("crafted case %zu: %d\n", c, st);
    calib_model_free(m);
    free(buf);
  }
  free_set(&s);
}

/* ---- out of memory ------------------------------------------------------------ */

static void test_oom(void) {
  set s = make_set(200, 3);
  for (int mi = 0; mi < NM; mi++)
    for (int nm = 0; nm < 2; nm++) {
      calib_fitter *f = NULL;
      CHECK_OK(calib_fitter_create(&f, methods[mi]));
      CHECK_OK(calib_fitter_set(f, CALIB_P_NEWTON_MAX, nm ? 0 : 1200));
      th_fit_oom(f, s.x, s.n, 3, s.y, 40);
      calib_fitter_free(f);
    }
  free_set(&s);
}

/* ---- real data ------------------------------------------------------------------ */

#define load_raw th_load_raw

static void test_real(void) {
  char dir[1024];
  set val, test;
  snprintf(dir, sizeof dir, "%s/cifar10_densenet40_markus93/val", th_shared_data());
  if (!load_raw(dir, 10, &val)) { th_missing_data("vector/matrix/Dirichlet on the DenseNet-40 CIFAR-10 logits"); return; }
  snprintf(dir, sizeof dir, "%s/cifar10_densenet40_markus93/test", th_shared_data());
  if (!load_raw(dir, 10, &test)) { TH_FAIL("cannot read %s", dir); free_set(&val); return; }
  float *p = malloc(test.n * 10 * sizeof(float));
  double before = 0;
  CHECK_OK(calib_nll_logits(test.x, test.n, 10, test.y, &before));
  for (int mi = 0; mi < NM; mi++) {
    calib_fitter *f = NULL;
    calib_model *m = NULL;
    double it = 0, after = 0;
    CHECK_OK(calib_fitter_create(&f, methods[mi]));
    CHECK_OK(calib_fit(f, val.x, val.n, 10, val.y, NULL, &m));
    calib_fitter_report(f, CALIB_R_ITERATIONS, &it);
    if (m) {
      CHECK_OK(calib_apply(m, test.x, test.n, 10, p));
      CHECK_OK(calib_nll(p, test.n, 10, test.y, &after));
      printf("cifar10 DenseNet-40 %-9s (defaults): %g iterations, test NLL %.6f -> %.6f\n",
             calib_method_name(methods[mi]), it, before, after);
      CHECK(after < 0.24 && after < before); /* temperature scaling: 0.2251 */
    }
    calib_model_free(m);
    calib_fitter_free(f);
  }
  free(p);
  free_set(&val);
  free_set(&test);
}

/* 1 when the vector/matrix/Dirichlet fitters are in this build. A build
 * without BLAS (make NO_BLAS=1) must refuse each with CALIB_E_UNSUPPORTED,
 * leaving *out untouched, and still apply their models (checked by main). */
static int fitters_built_in(void) {
  int unsupported = 0;
  for (int mi = 0; mi < NM; mi++) {
    calib_fitter *f = (calib_fitter *)(uintptr_t)1;
    const int st = calib_fitter_create(&f, methods[mi]);
    if (st == CALIB_E_UNSUPPORTED) {
      CHECK(f == (calib_fitter *)(uintptr_t)1);
      unsupported++;
    } else {
      CHECK_OK(st);
      calib_fitter_free(f);
    }
  }
  CHECK(unsupported == 0 || unsupported == NM); /* all three or none */
  if (unsupported)
    printf("not in this build (NO_BLAS): the vector/matrix/Dirichlet fitters return CALIB_E_UNSUPPORTED "
           "(checked); their fit tests do not apply, their apply tests ran\n");
  return unsupported == 0;
}

int main(int argc, char **argv) {
  th_srand(test_seed(argc, argv));
  for (int mi = 0; mi < NM; mi++) {
    for (int f32 = 0; f32 < 2; f32++) { /* W of doubles (no float copy) and of float32 values */
      check_apply(methods[mi], 2, 50, f32);
      check_apply(methods[mi], 7, 100, f32);
      check_apply(methods[mi], 1000, 4, f32);
      check_apply(methods[mi], 1030, 3, f32); /* two-pass rows */
    }
  }
  check_f32_copy_bits();
  check_apply_errors();
  if (!fitters_built_in()) TEST_MAIN_END(); /* NO_BLAS: apply checked above, fits are UNSUPPORTED */
  test_fits();
  test_f32_fitted();
  test_fast_path();
  test_weights();
  test_errors();
  test_separable();
  test_noconv();
  test_bytes();
  test_oom();
  test_real();
  TEST_MAIN_END();
}
