/* monitor_stats.c -- the statistics of the monitor: row helpers, the
 * chi-square survival function (regularised upper incomplete gamma), the
 * normal quantile, PSI, the pooled chi-square homogeneity test, and the
 * prior-shift EM of Saerens, Latinne & Decaestecker (2002) with its
 * correction. No allocation; pure functions. */
#include "monitor_internal.h"
#include <math.h>

/* ---- rows ------------------------------------------------------------------- */

size_t calib__row_top(const float *p, size_t i, size_t k, double *conf) {
  if (k == 1) {
    const double q = (double)p[i];
    *conf = q > 0.5 ? q : 1.0 - q;
    return q > 0.5 ? 1 : 0;
  }
  const float *r = p + i * k;
  size_t best = 0;
  for (size_t j = 1; j < k; j++)
    if (r[j] > r[best]) best = j;
  *conf = (double)r[best];
  return best;
}

double calib__row_p(const float *p, size_t i, size_t k, size_t j) {
  if (k == 1) return j == 1 ? (double)p[i] : 1.0 - (double)p[i];
  return (double)p[i * k + j];
}

double calib__row_loss(const float *p, size_t i, size_t k, int64_t y) {
  const double q = calib__row_p(p, i, k, (size_t)y);
  return q > 1e-12 ? -log(q) : CALIB__LOSS_CAP;
}

double calib__row_brier(const float *p, size_t i, size_t k, int64_t y) {
  if (k == 1) {
    const double e = (double)p[i] - (double)y;
    return e * e;
  }
  double s = 0;
  for (size_t j = 0; j < k; j++) {
    const double e = (double)p[i * k + j] - (j == (size_t)y ? 1.0 : 0.0);
    s += e * e;
  }
  return s;
}

int calib__check_batch(const float *p, size_t n, size_t k, size_t want_k) {
  size_t bytes; /* n * k floats must be addressable, as for the metrics */
  if (k == 0 || !calib__size_mul3(n, k, sizeof(float), &bytes) || bytes > CALIB__MAX_ALLOC) return CALIB_E_ARG;
  if (want_k && k != want_k) return CALIB_E_SHAPE;
  if (n == 0) return CALIB_OK;
  if (!p) return CALIB_E_ARG;
  return calib__check_probs(p, n, k);
}

/* ---- chi-square survival ------------------------------------------------------ */

/* P(a, x) by its series, for x < a + 1. */
static double gamma_p_series(double a, double x) {
  double term = 1.0 / a, sum = term;
  for (int n = 1; n < 10000; n++) {
    term *= x / (a + n);
    sum += term;
    if (fabs(term) < fabs(sum) * 1e-17) break;
  }
  return sum * exp(-x + a * log(x) - lgamma(a));
}

/* Q(a, x) by its continued fraction (modified Lentz), for x >= a + 1. */
static double gamma_q_fraction(double a, double x) {
  const double tiny = 1e-300;
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
  for (int i = 1; i < 10000; i++) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (fabs(del - 1.0) < 1e-16) break;
  }
  return exp(-x + a * log(x) - lgamma(a)) * h;
}

double calib_chi2_sf(double x, double dof) {
  if (isnan(x) || isnan(dof) || !(dof > 0)) return NAN;
  if (x <= 0) return 1.0;
  if (isinf(x)) return 0.0;
  const double a = dof / 2, h = x / 2;
  if (h < a + 1) return 1.0 - gamma_p_series(a, h);
  return gamma_q_fraction(a, h);
}

/* ---- normal quantile ------------------------------------------------------------ */

double calib__normal_upper_quantile(double q) {
  /* bisection on P(Z > z) = erfc(z / sqrt 2) / 2, decreasing in z */
  double lo = -40, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-15; i++) {
    const double mid = 0.5 * (lo + hi);
    if (0.5 * erfc(mid / sqrt(2.0)) > q) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/* ---- PSI and the homogeneity test ------------------------------------------------- */

double calib__psi(const double *r, const uint64_t *w, size_t nb, double eps) {
  double nr = 0, nw = 0, psi = 0;
  for (size_t b = 0; b < nb; b++) nr += r[b], nw += (double)w[b];
  if (!(nr > 0) || !(nw > 0)) return NAN;
  for (size_t b = 0; b < nb; b++) {
    const double pr = fmax(r[b] / nr, eps), pw = fmax((double)w[b] / nw, eps);
    psi += (pw - pr) * log(pw / pr);
  }
  return psi;
}

/* Chi-square contribution of one pooled group (reference rg, window wg). */
static double group_chi2(double rg, double wg, double nr, double nw) {
  const double tot = rg + wg, er = nr * tot / (nr + nw), ew = nw * tot / (nr + nw);
  return (rg - er) * (rg - er) / er + (wg - ew) * (wg - ew) / ew;
}

double calib__chi2_homogeneity(const double *r, const uint64_t *w, size_t nb) {
  double nr = 0, nw = 0;
  for (size_t b = 0; b < nb; b++) nr += r[b], nw += (double)w[b];
  if (!(nr > 0) || !(nw > 0)) return NAN;
  const double need = 5.0 / fmin(nr, nw); /* pooled reference proportion per group */
  double x2 = 0, rg = 0, wg = 0, rlast = 0, wlast = 0;
  size_t groups = 0;
  for (size_t b = 0; b < nb; b++) {
    rg += r[b], wg += (double)w[b];
    if (rg / nr >= need) { /* close the group; hold it back in case the tail joins it */
      if (groups) x2 += group_chi2(rlast, wlast, nr, nw);
      rlast = rg, wlast = wg, groups++;
      rg = wg = 0;
    }
  }
  if (groups < 2) return 1.0;
  x2 += group_chi2(rlast + rg, wlast + wg, nr, nw); /* the leftover tail joins the last group */
  return calib_chi2_sf(x2, (double)(groups - 1));
}

/* ---- EM prior estimate ----------------------------------------------------------- */

/* One EM step: next[j] = mean over informative rows of q_ij. Returns the rows used. */
static size_t em_step(const float *p, size_t n, size_t k, size_t kc, const double *w,
                      double *next) {
  size_t used = 0;
  for (size_t j = 0; j < kc; j++) next[j] = 0;
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (size_t j = 0; j < kc; j++) s += calib__row_p(p, i, k, j) * w[j];
    if (!(s > 0)) continue;
    used++;
    for (size_t j = 0; j < kc; j++) next[j] += calib__row_p(p, i, k, j) * w[j] / s;
  }
  for (size_t j = 0; used && j < kc; j++) next[j] /= (double)used;
  return used;
}

int calib__prior_em_rows(const float *p, size_t n, size_t k, const double *train, double tol,
                         size_t max_iter, double *work, double *out, size_t *iters) {
  const size_t kc = k == 1 ? 2 : k;
  double *pi = work, *nx = work + kc, *w = work + 2 * kc;
  for (size_t j = 0; j < kc; j++) pi[j] = train[j];
  for (size_t it = 1; it <= max_iter; it++) {
    for (size_t j = 0; j < kc; j++) w[j] = pi[j] / train[j];
    if (!em_step(p, n, k, kc, w, nx)) return CALIB_E_EMPTY;
    double delta = 0;
    for (size_t j = 0; j < kc; j++) {
      delta = fmax(delta, fabs(nx[j] - pi[j]));
      pi[j] = nx[j];
    }
    if (delta <= tol) {
      memcpy(out, pi, kc * sizeof(double));
      if (iters) *iters = it;
      return CALIB_OK;
    }
  }
  return CALIB_E_NOCONV;
}

/* Validates and normalises a prior of kc entries into out (> 0 needed when
 * positive, else >= 0 and not all 0). */
static int normalise_prior(const double *pr, size_t kc, int positive, double *out) {
  double s = 0;
  for (size_t j = 0; j < kc; j++) {
    if (!isfinite(pr[j])) return CALIB_E_NONFINITE;
    if (positive ? !(pr[j] > 0) : pr[j] < 0) return CALIB_E_DOMAIN;
    s += pr[j];
  }
  if (!(s > 0)) return CALIB_E_DOMAIN;
  for (size_t j = 0; j < kc; j++) out[j] = pr[j] / s;
  return CALIB_OK;
}

int calib_prior_em(const float *probs, size_t n, size_t k, const double *train_prior, double tol,
                   size_t max_iter, double *prior_out, size_t *iters) {
  double work[4 * CALIB_PRIOR_EM_MAX_K];
  if (!train_prior || !prior_out || !(tol > 0) || max_iter == 0 || k > CALIB_PRIOR_EM_MAX_K)
    return CALIB_E_ARG;
  int st = calib__check_batch(probs, n, k, 0);
  if (st != CALIB_OK) return st;
  if (n == 0) return CALIB_E_EMPTY;
  const size_t kc = k == 1 ? 2 : k;
  double *train = work + 3 * kc;
  if ((st = normalise_prior(train_prior, kc, 1, train)) != CALIB_OK) return st;
  return calib__prior_em_rows(probs, n, k, train, tol, max_iter, work, prior_out, iters);
}

/* Row i corrected in place by ratios r (kc). */
static void correct_row(float *p, size_t i, size_t k, const double *r) {
  if (k == 1) {
    const double q = (double)p[i], s = (1.0 - q) * r[0] + q * r[1];
    if (s > 0) p[i] = (float)(q * r[1] / s);
    return;
  }
  float *row = p + i * k;
  double s = 0;
  for (size_t j = 0; j < k; j++) s += (double)row[j] * r[j];
  if (!(s > 0)) return;
  for (size_t j = 0; j < k; j++) row[j] = (float)((double)row[j] * r[j] / s);
}

int calib_prior_correct(float *probs, size_t n, size_t k, const double *train_prior,
                        const double *new_prior) {
  double r[2 * CALIB_PRIOR_EM_MAX_K];
  if (!train_prior || !new_prior || k > CALIB_PRIOR_EM_MAX_K) return CALIB_E_ARG;
  int st = calib__check_batch(probs, n, k, 0);
  if (st != CALIB_OK) return st;
  const size_t kc = k == 1 ? 2 : k;
  double *tr = r + kc;
  if ((st = normalise_prior(train_prior, kc, 1, tr)) != CALIB_OK ||
      (st = normalise_prior(new_prior, kc, 0, r)) != CALIB_OK)
    return st;
  for (size_t j = 0; j < kc; j++) r[j] /= tr[j];
  for (size_t i = 0; i < n; i++) correct_row(probs, i, k, r);
  return CALIB_OK;
}
