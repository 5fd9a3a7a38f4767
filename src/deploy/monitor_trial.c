/* monitor_trial.c -- champion/challenger trials: a one-sided paired z-test on
 * the per-row log-loss differences, evaluated at most once per look, each look
 * at alpha / L (Bonferroni over the L looks). Rules in include/calib.h. */
#include "monitor_internal.h"
#include <math.h>

void calib__monitor_trial_stats(calib_monitor *m, uint64_t *n, double *mean, double *se) {
  *n = 0, *mean = NAN, *se = NAN;
  if (!m->trial_on) return;
  const uint64_t cnt = m->u_total[CALIB__U_PAIR(m->kc)] - m->trial_n0;
  *n = cnt;
  if (!cnt) return;
  const double dn = (double)cnt, mu = (m->f_total[CALIB__F_D] - m->trial_d0) / dn;
  const double ss = m->f_total[CALIB__F_D2] - m->trial_d20;
  const double var = cnt > 1 ? fmax(0.0, (ss - dn * mu * mu) / (dn - 1)) : 0.0;
  *mean = mu, *se = sqrt(var / dn);
}

int calib_monitor_trial_start(calib_monitor *m) {
  if (!m) return CALIB_E_ARG;
  pthread_mutex_lock(&m->mu);
  calib__monitor_merge(m);
  m->trial_on = 1;
  m->trial_n0 = m->u_total[CALIB__U_PAIR(m->kc)];
  m->trial_d0 = m->f_total[CALIB__F_D];
  m->trial_d20 = m->f_total[CALIB__F_D2];
  m->looks_done = 0;
  m->st.trial_decision = CALIB_DECISION_CONTINUE;
  pthread_mutex_unlock(&m->mu);
  return CALIB_OK;
}

/* The decision at look `look` of L with n rows, mean mu and standard error se. */
static int look_decision(const calib_monitor *m, size_t look, size_t L, double mu, double se) {
  const double za = calib__normal_upper_quantile(m->o.trial_alpha / (double)L);
  if (se > 0 ? mu > za * se : mu > 0) return CALIB_DECISION_ROLLBACK;
  if (mu + za * se < m->o.trial_margin) return CALIB_DECISION_PROMOTE;
  return look >= L ? CALIB_DECISION_PROMOTE : CALIB_DECISION_CONTINUE;
}

static int decide_locked(calib_monitor *m) {
  if (!m->trial_on) return CALIB_DECISION_NONE;
  calib__monitor_merge(m);
  uint64_t n;
  double mu, se;
  calib__monitor_trial_stats(m, &n, &mu, &se);
  const size_t L = m->o.trial_rows / m->o.trial_look;
  const uint64_t reached = n / m->o.trial_look;
  const size_t look = reached < L ? (size_t)reached : L;
  if (look <= m->looks_done) return CALIB_DECISION_CONTINUE;
  m->looks_done = look;
  const int d = look_decision(m, look, L, mu, se);
  if (d != CALIB_DECISION_CONTINUE) m->trial_on = 0;
  return d;
}

int calib_monitor_decide(calib_monitor *m, int *decision) {
  if (!m || !decision) return CALIB_E_ARG;
  pthread_mutex_lock(&m->mu);
  const int d = decide_locked(m);
  if (m->trial_on || d != CALIB_DECISION_NONE) m->st.trial_decision = d;
  pthread_mutex_unlock(&m->mu);
  *decision = d;
  return CALIB_OK;
}

int calib_monitor_decide_slot(calib_monitor *m, calib_slot *slot, int *decision,
                              uint64_t *version) {
  if (!m || !slot || !decision) return CALIB_E_ARG;
  int st = calib_monitor_decide(m, decision);
  if (st == CALIB_OK && *decision == CALIB_DECISION_ROLLBACK) st = calib_slot_rollback(slot, NULL);
  if (version) *version = calib_slot_version(slot);
  return st;
}
