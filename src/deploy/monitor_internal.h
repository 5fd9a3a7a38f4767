/* monitor_internal.h -- what the monitor's files share (src/deploy/monitor*.c).
 * Not installed; every non-static symbol carries the calib__ prefix. */
#ifndef CALIB_MONITOR_INTERNAL_H
#define CALIB_MONITOR_INTERNAL_H

#include "internal.h"
#include "checked.h"
#include <pthread.h>

#define CALIB__ECE_BINS 15
/* The per-row log-loss cap: -ln(1e-12). */
#define CALIB__LOSS_CAP 27.631021115928547

struct calib_reference {
  size_t k, kc, n;
  double *prior;      /* kc */
  double *conf_hist;  /* CALIB_REF_CONF_BINS counts */
  double *class_hist; /* kc counts */
  double metrics[4];  /* n, nll, ece, brier */
};

/* A copy of src in one allocation (monitor_ref.c). */
int calib__reference_clone(const calib_reference *src, calib_reference **out);
/* A reference from its arrays (kc, CALIB_REF_CONF_BINS, kc values; metrics:
 * n, NLL, ECE, Brier), e.g. those a version-2 model carries (monitor_ref.c). */
int calib__reference_from_arrays(calib_reference **out, size_t k, size_t n, const double *prior,
                                 const double *conf_hist, const double *class_hist, const double metrics[4]);

/* ---- Rows (monitor_stats.c) ------------------------------------------------
 * calib__row_top: predicted class and confidence of row i (conventions of the
 * metrics; k == 1 as two classes). calib__row_p: probability of class j of
 * row i for kc classes (k == 1: 1 - p, p). */
size_t calib__row_top(const float *p, size_t i, size_t k, double *conf);
double calib__row_p(const float *p, size_t i, size_t k, size_t j);
/* Capped log-loss and Brier (sum over classes; k == 1 binary form) of row i. */
double calib__row_loss(const float *p, size_t i, size_t k, int64_t y);
double calib__row_brier(const float *p, size_t i, size_t k, int64_t y);
/* Common checks of a probability batch: NULL, shape, finite, in [0, 1]. */
int calib__check_batch(const float *p, size_t n, size_t k, size_t want_k);

/* ---- Statistics (monitor_stats.c) ----------------------------------------- */
/* Upper normal quantile: z with P(Z > z) = q, 0 < q < 1. */
double calib__normal_upper_quantile(double q);
/* PSI of window counts w against reference counts r over nb bins. */
double calib__psi(const double *r, const uint64_t *w, size_t nb, double eps);
/* p-value of the pooled 2 x G chi-square homogeneity test (monitor block of calib.h). */
double calib__chi2_homogeneity(const double *r, const uint64_t *w, size_t nb);
/* The EM loop on validated rows; returns CALIB_OK, CALIB_E_EMPTY or CALIB_E_NOCONV,
 * writing out (kc) only on success. train must be normalised and > 0; work
 * holds 3 * kc doubles. */
int calib__prior_em_rows(const float *p, size_t n, size_t k, const double *train, double tol,
                         size_t max_iter, double *work, double *out, size_t *iters);

/* ---- Counter layout of a shard (monitor.c, monitor_read.c) ----------------
 * Cumulative, written only by the shard's thread with relaxed atomic stores.
 * u64: CONF (20 bins) | CLASS (kc) | LAB_N | ECE_N (15) | ECE_C (15) | PAIR_N
 * f64: NLL_S NLL_SS BRIER_S BRIER_SS | ECE_CONF (15) | D_S D_SS */
#define CALIB__U_CONF 0
#define CALIB__U_CLASS CALIB_REF_CONF_BINS
#define CALIB__U_LAB(kc) (CALIB__U_CLASS + (kc))
#define CALIB__U_ECE_N(kc) (CALIB__U_LAB(kc) + 1)
#define CALIB__U_ECE_C(kc) (CALIB__U_ECE_N(kc) + CALIB__ECE_BINS)
#define CALIB__U_PAIR(kc) (CALIB__U_ECE_C(kc) + CALIB__ECE_BINS)
#define CALIB__NU(kc) (CALIB__U_PAIR(kc) + 1)
#define CALIB__F_NLL 0
#define CALIB__F_NLL2 1
#define CALIB__F_BRIER 2
#define CALIB__F_BRIER2 3
#define CALIB__F_ECE_CONF 4
#define CALIB__F_D (CALIB__F_ECE_CONF + CALIB__ECE_BINS)
#define CALIB__F_D2 (CALIB__F_D + 1)
#define CALIB__NF (CALIB__F_D2 + 1)

struct calib_monitor_shard {
  calib_monitor *mon;
  size_t index;        /* its place in mon->shards */
  uint64_t *u;         /* CALIB__NU(kc) */
  double f[CALIB__NF];
  float *ring;         /* em_rows * k floats */
  uint64_t started;    /* rows whose ring writes have begun (atomic) */
  uint64_t written;    /* rows fully written (atomic, release) */
};

typedef struct {
  size_t window, on_count, off_count, em_rows, em_max_iter, max_shards, label_window;
  size_t trial_look, trial_rows;
  double alpha, psi_eps, em_tol, ci_level, trial_alpha, trial_margin;
} calib__monitor_opts;

/* Hysteresis of one test. */
typedef struct { int on; size_t run_bad, run_good; } calib__alarm;

struct calib_monitor {
  calib__monitor_opts o;
  calib_reference *ref;          /* the monitor's own copy */
  size_t k, kc, nu;
  pthread_mutex_t mu;
  calib_monitor_shard **shards;  /* max_shards slots */
  uint64_t *u_total, *u_base;    /* nu each: merged totals, last window boundary */
  double f_total[CALIB__NF];
  uint64_t *u_retired;           /* folded counts of freed shards */
  double f_retired[CALIB__NF];
  uint64_t *u_lab_base;          /* nu: counters at the last label window */
  double f_lab_base[CALIB__NF];
  uint64_t *u_win;               /* nu: scratch of one window's counts */
  float *em_scratch;             /* max_shards * em_rows * k */
  double *em_prior;              /* kc: the last estimate */
  double *em_work;               /* 4 * kc: EM scratch and its result */
  int em_valid;
  calib__alarm a_conf, a_class;
  calib_monitor_state st;        /* last report */
  /* trial */
  int trial_on;
  uint64_t trial_n0;
  double trial_d0, trial_d20;
  size_t looks_done;
};

/* monitor_read.c: merge of the shards into u_total / f_total (under mu). */
void calib__monitor_merge(calib_monitor *m);
/* monitor_trial.c: the trial statistics from the merged totals (under mu). */
void calib__monitor_trial_stats(calib_monitor *m, uint64_t *n, double *mean, double *se);

/* Relaxed atomic access of the shard counters. */
static inline uint64_t calib__ld_u(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void calib__st_u(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline double calib__ld_f(const double *p) {
  double v;
  __atomic_load(p, &v, __ATOMIC_RELAXED);
  return v;
}
static inline void calib__st_f(double *p, double v) { __atomic_store(p, &v, __ATOMIC_RELAXED); }

#endif /* CALIB_MONITOR_INTERNAL_H */
