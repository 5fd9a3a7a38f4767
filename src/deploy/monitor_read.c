/* monitor_read.c -- the reader side of calib_monitor: merge the shards (relaxed
 * loads of cumulative counters), close the windows that are complete and run
 * their tests, update the alarms, copy the EM rings and estimate the prior.
 * Everything here runs under the monitor's mutex; observers never take it. */
#include "monitor_internal.h"
#include <math.h>

void calib__monitor_merge(calib_monitor *m) {
  memcpy(m->u_total, m->u_retired, m->nu * sizeof(uint64_t));
  memcpy(m->f_total, m->f_retired, sizeof m->f_total);
  for (size_t s = 0; s < m->o.max_shards; s++) {
    const calib_monitor_shard *sh = m->shards[s];
    if (!sh) continue;
    for (size_t i = 0; i < m->nu; i++) m->u_total[i] += calib__ld_u(&sh->u[i]);
    for (size_t i = 0; i < CALIB__NF; i++) m->f_total[i] += calib__ld_f(&sh->f[i]);
  }
}

static uint64_t sum_u(const uint64_t *u, size_t len) {
  uint64_t s = 0;
  for (size_t i = 0; i < len; i++) s += u[i];
  return s;
}

static void alarm_update(calib__alarm *a, int bad, size_t on, size_t off) {
  if (bad) {
    a->run_good = 0;
    if (++a->run_bad >= on) a->on = 1;
  } else {
    a->run_bad = 0;
    if (++a->run_good >= off) a->on = 0;
  }
}

/* ---- label-free window --------------------------------------------------------- */

static void close_window(calib_monitor *m) {
  const size_t nb = CALIB_REF_CONF_BINS, len = nb + m->kc;
  const uint64_t total = sum_u(m->u_total + CALIB__U_CONF, nb);
  const uint64_t base = sum_u(m->u_base + CALIB__U_CONF, nb);
  m->st.rows_observed = total;
  if (total - base < m->o.window) return;
  for (size_t i = 0; i < len; i++) m->u_win[i] = m->u_total[i] - m->u_base[i];
  calib_monitor_state *s = &m->st;
  const calib_reference *r = m->ref;
  s->psi_confidence = calib__psi(r->conf_hist, m->u_win + CALIB__U_CONF, nb, m->o.psi_eps);
  s->psi_class = calib__psi(r->class_hist, m->u_win + CALIB__U_CLASS, m->kc, m->o.psi_eps);
  s->p_confidence = calib__chi2_homogeneity(r->conf_hist, m->u_win + CALIB__U_CONF, nb);
  s->p_class = calib__chi2_homogeneity(r->class_hist, m->u_win + CALIB__U_CLASS, m->kc);
  alarm_update(&m->a_conf, s->p_confidence < m->o.alpha, m->o.on_count, m->o.off_count);
  alarm_update(&m->a_class, s->p_class < m->o.alpha, m->o.on_count, m->o.off_count);
  s->alarm_confidence = m->a_conf.on;
  s->alarm_class = m->a_class.on;
  memcpy(m->u_base, m->u_total, len * sizeof(uint64_t));
  s->windows++;
  s->window_rows = total - base;
}

/* ---- label window -------------------------------------------------------------- */

/* Mean of a window's per-row values and the half-width z * sd / sqrt(n). */
static void mean_ci(double sum, double sumsq, double n, double z, double *mean, double *lo,
                    double *hi) {
  const double mu = sum / n;
  const double var = n > 1 ? fmax(0.0, (sumsq - n * mu * mu) / (n - 1)) : 0.0;
  const double h = z * sqrt(var / n);
  *mean = mu, *lo = mu - h, *hi = mu + h;
}

static double fdiff(const calib_monitor *m, size_t i) { return m->f_total[i] - m->f_lab_base[i]; }

static void window_ece(calib_monitor *m, double n, double z) {
  const size_t kc = m->kc;
  double ece = 0, lo = 0, hi = 0, correct = 0;
  for (size_t b = 0; b < CALIB__ECE_BINS; b++) {
    const double nb = (double)(m->u_total[CALIB__U_ECE_N(kc) + b] - m->u_lab_base[CALIB__U_ECE_N(kc) + b]);
    if (!(nb > 0)) continue;
    const double cb = (double)(m->u_total[CALIB__U_ECE_C(kc) + b] - m->u_lab_base[CALIB__U_ECE_C(kc) + b]);
    const double acc = cb / nb, conf = fdiff(m, CALIB__F_ECE_CONF + b) / nb;
    const double a = acc > 0 && acc < 1 ? acc : 0.5, h = z * sqrt(a * (1 - a) / nb);
    const double gap = fabs(acc - conf), w = nb / n;
    ece += w * gap, lo += w * fmax(0.0, gap - h), hi += w * (gap + h), correct += cb;
  }
  m->st.ece = ece, m->st.ece_lo = lo, m->st.ece_hi = hi, m->st.accuracy = correct / n;
}

static void close_label_window(calib_monitor *m) {
  const size_t lab = CALIB__U_LAB(m->kc);
  const uint64_t n = m->u_total[lab] - m->u_lab_base[lab];
  calib_monitor_state *s = &m->st;
  s->rows_labelled = m->u_total[lab];
  if (n < m->o.label_window) return;
  const double z = calib__normal_upper_quantile((1 - m->o.ci_level) / 2), dn = (double)n;
  mean_ci(fdiff(m, CALIB__F_NLL), fdiff(m, CALIB__F_NLL2), dn, z, &s->nll, &s->nll_lo, &s->nll_hi);
  mean_ci(fdiff(m, CALIB__F_BRIER), fdiff(m, CALIB__F_BRIER2), dn, z, &s->brier, &s->brier_lo,
          &s->brier_hi);
  window_ece(m, dn, z);
  /* the paired sums keep their own trial baseline: copy everything */
  memcpy(m->u_lab_base, m->u_total, m->nu * sizeof(uint64_t));
  memcpy(m->f_lab_base, m->f_total, sizeof m->f_lab_base);
  s->label_windows++;
  s->label_window_rows = n;
}

/* ---- EM on the rings ----------------------------------------------------------- */

/* Copies shard s's valid ring rows, oldest first, to dst; returns how many.
 * Rows [w1 - R, w1) are read (acquire: each row read is complete or newer);
 * `started`, loaded after them, bounds the rows a writer may have begun to
 * overwrite meanwhile: only rows >= started - R are kept. */
static size_t ring_collect(const calib_monitor_shard *s, size_t R, size_t k, float *dst) {
  const uint64_t w1 = __atomic_load_n(&s->written, __ATOMIC_ACQUIRE);
  const uint64_t lo = w1 > R ? w1 - R : 0;
  for (uint64_t g = lo; g < w1; g++) {
    const float *src = s->ring + (size_t)(g % R) * k;
    for (size_t j = 0; j < k; j++) __atomic_load(&src[j], &dst[(size_t)(g - lo) * k + j], __ATOMIC_ACQUIRE);
  }
  const uint64_t s2 = __atomic_load_n(&s->started, __ATOMIC_RELAXED);
  const uint64_t keep_lo = s2 > R ? s2 - R : 0;
  if (keep_lo <= lo) return (size_t)(w1 - lo);
  if (keep_lo >= w1) return 0;
  memmove(dst, dst + (size_t)(keep_lo - lo) * k, (size_t)(w1 - keep_lo) * k * sizeof(float));
  return (size_t)(w1 - keep_lo);
}

static void run_em(calib_monitor *m) {
  const size_t R = m->o.em_rows, k = m->k, kc = m->kc;
  if (!R) return;
  for (size_t j = 0; j < kc; j++)
    if (!(m->ref->prior[j] > 0)) return; /* a class never seen at fit time: no EM */
  size_t rows = 0;
  for (size_t s = 0; s < m->o.max_shards; s++)
    if (m->shards[s]) rows += ring_collect(m->shards[s], R, k, m->em_scratch + rows * k);
  if (!rows) return;
  size_t iters = 0;
  double *est = m->em_work + 3 * kc;
  const int st = calib__prior_em_rows(m->em_scratch, rows, k, m->ref->prior, m->o.em_tol,
                                      m->o.em_max_iter, m->em_work, est, &iters);
  m->st.em_rows = rows;
  m->st.em_converged = st == CALIB_OK;
  m->st.em_iters = st == CALIB_OK ? iters : m->o.em_max_iter;
  if (st != CALIB_OK) return;
  memcpy(m->em_prior, est, kc * sizeof(double));
  m->em_valid = 1;
  double shift = 0;
  for (size_t j = 0; j < kc; j++) shift = fmax(shift, fabs(est[j] - m->ref->prior[j]));
  m->st.em_shift = shift;
}

int calib_monitor_read(calib_monitor *m, calib_monitor_state *out) {
  if (!m || !out) return CALIB_E_ARG;
  pthread_mutex_lock(&m->mu);
  calib__monitor_merge(m);
  close_window(m);
  close_label_window(m);
  run_em(m);
  uint64_t n;
  calib__monitor_trial_stats(m, &n, &m->st.trial_mean_diff, &m->st.trial_se);
  m->st.trial_rows = n;
  *out = m->st;
  pthread_mutex_unlock(&m->mu);
  return CALIB_OK;
}

static int copy_prior(const double *src, size_t kc, double *out, size_t cap, size_t *count) {
  if (cap < kc) return CALIB_E_SMALLBUF;
  memcpy(out, src, kc * sizeof(double));
  if (count) *count = kc;
  return CALIB_OK;
}

int calib_monitor_prior(calib_monitor *m, double *out, size_t cap, size_t *count) {
  if (!m || !out) return CALIB_E_ARG;
  pthread_mutex_lock(&m->mu);
  const int st = m->em_valid ? copy_prior(m->em_prior, m->kc, out, cap, count) : CALIB_E_EMPTY;
  pthread_mutex_unlock(&m->mu);
  return st;
}

int calib_monitor_reference_prior(const calib_monitor *m, double *out, size_t cap, size_t *count) {
  if (!m || !out) return CALIB_E_ARG;
  return copy_prior(m->ref->prior, m->kc, out, cap, count);
}
