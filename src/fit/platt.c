/* platt.c -- Platt scaling fit (Platt 1999; Lin, Lin & Weng 2007), binary
 * (k == 1) and one-vs-rest (k >= 2, as scikit-learn's
 * CalibratedClassifierCV(method="sigmoid")). The contract is documented in
 * include/calib.h (Platt and beta block); the solver is platt_newton.c, the
 * map itself src/model/platt_apply.c.
 */
#include "platt.h"
#include "checked.h"
#include "platt_common.h"

#include <math.h>

const calib__param_spec calib__platt_params[] = {CALIB__PB_PARAMS(1)};

typedef struct {
  calib__pb_opts o;
  uint8_t *pos;  /* n: labels of the current one-vs-rest problem */
  double *z;     /* n: logit(clip(p)) of the current class (probs input) */
  double *ab;    /* K x 2: (A_j, B_j) */
} platt_work;

/* The binary problem of class cls (k == 1: the only one): labels and the
 * score column, read in place for logits or transformed for probabilities. */
static void class_problem(const calib__fit_data *d, platt_work *w, size_t cls,
                          calib__lr_problem *p) {
  calib__pb_labels(d, cls, w->pos);
  memset(p, 0, sizeof *p);
  p->n = d->n;
  p->nfeat = 1;
  p->pos = w->pos;
  p->w = d->w;
  p->smooth = w->o.smooth;
  if (w->o.input == CALIB_INPUT_LOGITS) {
    p->xf = d->x + cls;
    p->ldf = d->k;
    return;
  }
  for (size_t i = 0; i < d->n; i++)
    w->z[i] = calib__logit_clipped((double)d->x[i * d->k + cls], w->o.eps);
  p->col[0] = w->z;
  p->ldd = 1;
}

/* Fits (A, B) of one problem into ab[0..1]; *nll = its 0/1-label NLL. */
static int fit_class(calib_fitter *f, const calib__lr_problem *p,
                     const calib__pb_opts *o, double *ab, double *nll) {
  const size_t ld = p->xf ? p->ldf : p->ldd;
  if (calib__lr_constant(p->xf, p->col[0], ld, p->n, p->w)) {
    int ok;
    const double u = calib__pb_constant_logodds(p->pos, p->w, p->n, p->smooth, &ok);
    if (!ok) return CALIB_E_SEPARABLE;
    const double th[2] = {0.0, u};
    ab[0] = 0.0;
    ab[1] = -u;
    *nll = calib__lr_nll(p, th);
    return CALIB_OK;
  }
  if (!p->smooth && calib__lr_separable(p->xf, p->col[0], ld, p->n, p->pos, p->w))
    return CALIB_E_SEPARABLE;
  calib__lr_result r;
  const int st = calib__lr_fit(p, &o->lr, &r);
  f->report.iterations += r.iterations;
  if (r.gradient > f->report.gradient) f->report.gradient = r.gradient;
  /* gap and condition: the largest over the binary problems (NaN before) */
  if (!(r.gap <= f->report.gap)) f->report.gap = r.gap;
  if (!(r.cond <= f->report.condition)) f->report.condition = r.cond;
  if (st != CALIB_OK) return st;
  ab[0] = -r.theta[0]; /* P(y=1) = sigmoid(theta0 s + theta1) = 1/(1+exp(A s + B)) */
  ab[1] = -r.theta[1];
  *nll = r.nll_hard;
  return CALIB_OK;
}

static int fit_all(calib_fitter *f, const calib__fit_data *d, platt_work *w) {
  calib__lr_problem p;
  double nll = 0;
  for (size_t c = 0; c < d->k; c++) {
    class_problem(d, w, c, &p);
    if (d->k == 1) {
      const double raw[2] = {1.0, 0.0}; /* u = s: the input's own NLL */
      f->report.nll_before = calib__lr_nll(&p, raw);
    }
    const int st = fit_class(f, &p, &w->o, w->ab + 2 * c, &nll);
    if (st != CALIB_OK) return calib__pb_class_fail(f, d, c, st);
  }
  if (d->k == 1) f->report.nll_after = nll;
  return CALIB_OK;
}

static int build(calib_fitter *f, const calib__fit_data *d, const platt_work *w,
                 calib_model **out) {
  const double inp[2] = {(double)w->o.input, w->o.eps};
  const calib__section secs[2] = {{CALIB_MP_PLATT, 2 * d->k, w->ab},
                                  {CALIB_MP_INPUT, 2, inp}};
  calib_model *m = NULL;
  const int st = calib__model_build(&m, CALIB_METHOD_PLATT, d->k, secs, 2);
  if (st != CALIB_OK) return st;
  if (d->k > 1) {
    f->report.nll_before = calib__pb_nll_before_multi(d, w->o.input, w->o.eps);
    f->report.nll_after = calib__pb_nll_after_multi(d, m);
  }
  *out = m;
  return CALIB_OK;
}

int calib__platt_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out) {
  platt_work w;
  memset(&w, 0, sizeof w);
  calib__pb_read_options(f, &w.o);
  int st = calib__pb_check_fit_input(d, w.o.input);
  if (st != CALIB_OK) return st;
  size_t nab, nz;
  if (!calib__size_bytes(2 * d->k, sizeof(double), &nab) || !calib__size_bytes(d->n, sizeof(double), &nz))
    return CALIB_E_NOMEM;
  w.pos = (uint8_t *)calib__malloc(d->n);
  w.ab = (double *)calib__malloc(nab);
  if (w.o.input == CALIB_INPUT_PROBS) w.z = (double *)calib__malloc(nz);
  if (!w.pos || !w.ab || (w.o.input == CALIB_INPUT_PROBS && !w.z)) st = CALIB_E_NOMEM;
  if (st == CALIB_OK) st = fit_all(f, d, &w);
  if (st == CALIB_OK) st = build(f, d, &w, out);
  calib__free(w.pos);
  calib__free(w.ab);
  calib__free(w.z);
  return st;
}
