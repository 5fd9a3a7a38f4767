/* beta.c -- beta calibration fit (Kull, Silva Filho & Flach 2017), binary
 * (k == 1) and one-vs-rest (k >= 2). A logistic regression of the labels on
 * the features (ln s, -ln(1 - s)) and an intercept, by the same Newton
 * solver as Platt (platt_newton.c), with betacal's handling of the
 * constraints a, b >= 0: fit all three; if a < 0 drop ln s and refit, else
 * if b < 0 drop -ln(1 - s) and refit; a refitted coefficient that is still
 * negative is dropped too (intercept only). Logit input uses the exact
 * features (no clipping) and the model says so (CALIB_MP_BETA_FEATURES);
 * clip_eps applies to probability input only. Contract: include/calib.h; the
 * map itself: src/model/beta_apply.c.
 */
#include "beta.h"
#include "checked.h"
#include "platt_common.h"
#include "../model/beta_apply.h"

#include <math.h>

const calib__param_spec calib__beta_params[] = {CALIB__PB_PARAMS(0)};

typedef struct {
  calib__pb_opts o;
  uint8_t *pos;  /* n: labels of the current one-vs-rest problem */
  double *feat;  /* n x 2: ln s, -ln(1 - s) of the current class */
  calib__beta_row *ri; /* n: row summaries (k >= 2 logits), else NULL */
  double *abc;   /* K x 3 */
} beta_work;

static void class_features(const calib__fit_data *d, beta_work *w, size_t cls) {
  calib__pb_labels(d, cls, w->pos);
  for (size_t i = 0; i < d->n; i++) {
    double ls, l1s;
    calib__beta_row r0 = {0, 0, 0, 0};
    calib__beta_features(d->x + i * d->k, d->k, cls, w->o.input, w->o.eps, 1,
                         w->ri ? &w->ri[i] : &r0, &ls, &l1s);
    w->feat[2 * i] = ls;
    w->feat[2 * i + 1] = -l1s;
  }
}

/* The problem on the features in `which` (bit 0: ln s, bit 1: -ln(1-s)). */
static calib__lr_problem problem(const calib__fit_data *d, const beta_work *w,
                                 unsigned which) {
  calib__lr_problem p;
  memset(&p, 0, sizeof p);
  p.n = d->n;
  p.pos = w->pos;
  p.w = d->w;
  p.smooth = w->o.smooth;
  p.ldd = 2;
  if (which & 1u) p.col[p.nfeat++] = w->feat;
  if (which & 2u) p.col[p.nfeat++] = w->feat + 1;
  return p;
}

/* Fits with the features in `which`; abc receives (a, b, c) with the
 * dropped coefficients 0 -- on CALIB_E_NOCONV too: the last iterate, which
 * fit_class and fit_faces test with diverged(). */
static int fit_subset(calib_fitter *f, const calib__fit_data *d, const beta_work *w,
                      unsigned which, double *abc, double *nll, double gc[2]) {
  const calib__lr_problem p = problem(d, w, which);
  calib__lr_result r;
  const int st = calib__lr_fit(&p, &w->o.lr, &r);
  f->report.iterations += r.iterations;
  if (r.gradient > f->report.gradient) f->report.gradient = r.gradient;
  *gc = r.gap; /* of the last fit of this class: the one kept */
  gc[1] = r.cond;
  if (st != CALIB_OK && st != CALIB_E_NOCONV) return st;
  size_t t = 0;
  abc[0] = (which & 1u) ? r.theta[t++] : 0.0;
  abc[1] = (which & 2u) ? r.theta[t++] : 0.0;
  abc[2] = r.theta[t];
  *nll = r.nll_hard;
  return st;
}

static int fit_intercept(const calib__fit_data *d, const beta_work *w, double *abc,
                         double *nll) {
  int ok;
  const double u = calib__pb_constant_logodds(w->pos, d->w, d->n, w->o.smooth, &ok);
  if (!ok) return CALIB_E_SEPARABLE;
  const calib__lr_problem p = problem(d, w, 0u);
  const double th[1] = {u};
  abc[0] = abc[1] = 0.0;
  abc[2] = u;
  *nll = calib__lr_nll(&p, th);
  return CALIB_OK;
}

/* A fit that stopped at max_iter on its way to infinity with a < 0 or
 * b < 0: its last iterate has such a coefficient, and one of magnitude
 * >= DIVERGED (s^1e4: a map saturated everywhere; diverging fits of the
 * case below were at 1e6 .. 1e9 after 100 steps, while a fit merely cut
 * short by a small max_iter stays near the data's scale and still reports
 * CALIB_E_NOCONV). */
#define DIVERGED 1e4
static int diverged(int st, double a, double b) {
  return st == CALIB_E_NOCONV && (a < 0 || b < 0) && fmax(fabs(a), fabs(b)) >= DIVERGED;
}

/* The optimum of the a, b >= 0 problem when the unconstrained one is at
 * infinity in a direction with a < 0 or b < 0: a convex problem without a
 * finite stationary point has none inside the feasible set, so the optimum
 * is on a face -- the better of the two one-feature fits whose coefficient
 * is >= 0, else the intercept alone. A face whose own fit diverges with
 * its coefficient < 0 has its optimum at the corner (the intercept); any
 * other non-convergence of a face is CALIB_E_NOCONV (diverging with the
 * coefficient >= 0: no optimum is attained; else max_iter was too small).
 * (Faces are compared by the hard-label NLL, the objective here: targets
 * are not smoothed, or the optimum would be finite.) Both faces are fitted
 * because the signs of a diverging iterate depend on where its solver
 * stopped: on test_beta.py's data scikit-learn's nearly unpenalised fit
 * (betacal's own call) stops at a, b < 0. */
static int fit_faces(calib_fitter *f, const calib__fit_data *d, const beta_work *w, double *abc,
                     double *nll, double gc[2]) {
  double t[2][3], tn[2], tg[2][2];
  int ok[2];
  for (int q = 0; q < 2; q++) {
    const int st = fit_subset(f, d, w, q ? 2u : 1u, t[q], &tn[q], tg[q]);
    const double coef = t[q][q];
    if (st == CALIB_E_NOCONV && !diverged(st, coef, 0.0)) return CALIB_E_NOCONV;
    if (st != CALIB_OK && st != CALIB_E_NOCONV) return st;
    ok[q] = st == CALIB_OK && coef >= 0;
  }
  if (!ok[0] && !ok[1]) {
    gc[0] = 0.0;
    gc[1] = (double)NAN;
    return fit_intercept(d, w, abc, nll);
  }
  const int q = ok[0] && (!ok[1] || tn[0] <= tn[1]) ? 0 : 1;
  memcpy(abc, t[q], sizeof t[q]);
  *nll = tn[q];
  gc[0] = tg[q][0];
  gc[1] = tg[q][1];
  return CALIB_OK;
}

/* betacal's constraint handling, on the current class's features; a fit
 * that diverges with a < 0 or b < 0 goes to fit_faces. Seen on one-vs-rest
 * fits of many classes: a class with a single positive row
 * inside the range of its scores is separable in [ln s, -ln(1 - s)] (the
 * points lie on a strictly convex curve, so a line cuts each one off), and
 * a k = 1000 fit used to stop with CALIB_E_NOCONV because of one class. */
static int fit_class(calib_fitter *f, const calib__fit_data *d, const beta_work *w,
                     double *abc, double *nll, double gc[2]) {
  gc[0] = 0.0; /* the closed forms are exact */
  gc[1] = (double)NAN;
  if (calib__lr_constant(NULL, w->feat, 2, d->n, d->w)) return fit_intercept(d, w, abc, nll);
  if (!w->o.smooth && calib__lr_separable(NULL, w->feat, 2, d->n, w->pos, d->w))
    return CALIB_E_SEPARABLE;
  int st = fit_subset(f, d, w, 3u, abc, nll, gc);
  if (diverged(st, abc[0], abc[1])) return fit_faces(f, d, w, abc, nll, gc);
  if (st != CALIB_OK || (abc[0] >= 0 && abc[1] >= 0)) return st;
  const unsigned keep = abc[0] < 0 ? 2u : 1u;
  st = fit_subset(f, d, w, keep, abc, nll, gc);
  if (st != CALIB_OK || (abc[0] >= 0 && abc[1] >= 0)) return st;
  gc[0] = 0.0;
  gc[1] = (double)NAN;
  return fit_intercept(d, w, abc, nll);
}

static int fit_all(calib_fitter *f, const calib__fit_data *d, beta_work *w) {
  double nll = 0;
  if (w->ri)
    for (size_t i = 0; i < d->n; i++)
      calib__beta_row_info(d->x + i * d->k, d->k, w->o.input, 1, &w->ri[i]);
  for (size_t c = 0; c < d->k; c++) {
    class_features(d, w, c);
    if (d->k == 1) {
      const calib__lr_problem p = problem(d, w, 3u);
      const double raw[3] = {1.0, 1.0, 0.0}; /* u = logit(s): the input's NLL */
      f->report.nll_before = calib__lr_nll(&p, raw);
    }
    double gc[2];
    const int st = fit_class(f, d, w, w->abc + 3 * c, &nll, gc);
    /* gap and condition: the largest over the classes' kept fits */
    if (!(gc[0] <= f->report.gap)) f->report.gap = gc[0];
    if (!isnan(gc[1]) && !(gc[1] <= f->report.condition)) f->report.condition = gc[1];
    if (st != CALIB_OK) return calib__pb_class_fail(f, d, c, st);
  }
  if (d->k == 1) f->report.nll_after = nll;
  return CALIB_OK;
}

static int build(calib_fitter *f, const calib__fit_data *d, const beta_work *w,
                 calib_model **out) {
  const double inp[2] = {(double)w->o.input, w->o.eps}, exact[1] = {1.0};
  const calib__section secs[3] = {{CALIB_MP_BETA, 3 * d->k, w->abc},
                                  {CALIB_MP_INPUT, 2, inp},
                                  {CALIB_MP_BETA_FEATURES, 1, exact}};
  calib_model *m = NULL;
  const int st = calib__model_build(&m, CALIB_METHOD_BETA, d->k, secs, 3);
  if (st != CALIB_OK) return st;
  if (d->k > 1) {
    f->report.nll_before = calib__pb_nll_before_multi(d, w->o.input, w->o.eps);
    f->report.nll_after = calib__pb_nll_after_multi(d, m);
  }
  *out = m;
  return CALIB_OK;
}

int calib__beta_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out) {
  beta_work w;
  memset(&w, 0, sizeof w);
  calib__pb_read_options(f, &w.o);
  int st = calib__pb_check_fit_input(d, w.o.input);
  if (st != CALIB_OK) return st;
  size_t nabc, nfeat;
  if (!calib__size_mul3(d->k, 3, sizeof(double), &nabc) || !calib__size_mul3(d->n, 2, sizeof(double), &nfeat) ||
      nabc > CALIB__MAX_ALLOC || nfeat > CALIB__MAX_ALLOC)
    return CALIB_E_NOMEM;
  const int need_ri = d->k > 1 && w.o.input == CALIB_INPUT_LOGITS;
  w.pos = (uint8_t *)calib__malloc(d->n);
  w.feat = (double *)calib__malloc(nfeat);
  w.abc = (double *)calib__malloc(nabc);
  if (need_ri) {
    size_t nri;
    if (!calib__size_mul(d->n, sizeof(calib__beta_row), &nri) || nri > CALIB__MAX_ALLOC) st = CALIB_E_NOMEM;
    else w.ri = (calib__beta_row *)calib__malloc(nri);
  }
  if (!w.pos || !w.feat || !w.abc || (need_ri && !w.ri)) st = CALIB_E_NOMEM;
  if (st == CALIB_OK) st = fit_all(f, d, &w);
  if (st == CALIB_OK) st = build(f, d, &w, out);
  calib__free(w.pos);
  calib__free(w.feat);
  calib__free(w.abc);
  calib__free(w.ri);
  return st;
}
