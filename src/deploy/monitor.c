/* monitor.c -- calib_monitor: options, creation, shards, and the writer side
 * (observe, feedback). A shard's counters are cumulative and written only by
 * its thread with relaxed atomic stores (load, add, store: one writer), so
 * readers merge them without locks; the EM ring is published seqlock-style
 * (monitor_read.c explains the reader's side). See include/calib.h. */
#include "monitor_internal.h"
#include <math.h>

/* ---- options ---------------------------------------------------------------- */

/* integer: must hold an integer; open: lo excluded */
typedef struct { int id; double def, lo, hi; int integer, open; } opt_spec;

static const opt_spec OPTS[] = {
  {CALIB_MO_WINDOW, 500, 20, 1e9, 1, 0},        {CALIB_MO_ALPHA, 0.01, 0, 0.5, 0, 1},
  {CALIB_MO_ON_COUNT, 3, 1, 1000, 1, 0},        {CALIB_MO_OFF_COUNT, 3, 1, 1000, 1, 0},
  {CALIB_MO_PSI_EPS, 1e-4, 0, 0.01, 0, 1},      {CALIB_MO_EM_ROWS, 1000, 0, 1e7, 1, 0},
  {CALIB_MO_EM_TOL, 1e-6, 0, 0.1, 0, 1},        {CALIB_MO_EM_MAX_ITER, 1000, 1, 1e6, 1, 0},
  {CALIB_MO_MAX_SHARDS, 16, 1, 1024, 1, 0},     {CALIB_MO_LABEL_WINDOW, 1000, 20, 1e9, 1, 0},
  {CALIB_MO_CI_LEVEL, 0.95, 0.5, 0.9999, 0, 0}, {CALIB_MO_TRIAL_ALPHA, 0.05, 0, 0.5, 0, 1},
  {CALIB_MO_TRIAL_LOOK, 500, 20, 1e9, 1, 0},    {CALIB_MO_TRIAL_ROWS, 4000, 20, 1e9, 1, 0},
  {CALIB_MO_TRIAL_MARGIN, 0.01, 0, 1, 0, 0},
};
#define NOPTS (sizeof OPTS / sizeof OPTS[0])

static const opt_spec *opt_find(int id) {
  for (size_t i = 0; i < NOPTS; i++)
    if (OPTS[i].id == id) return &OPTS[i];
  return NULL;
}

static int opt_ok(const opt_spec *s, double v) {
  if (!isfinite(v) || v > s->hi || (s->open ? !(v > s->lo) : v < s->lo)) return 0;
  return !s->integer || v == floor(v);
}

/* Option values in spec order (vals[i] for OPTS[i]). */
static int opts_parse(const double *opts, double *vals) {
  for (size_t i = 0; i < NOPTS; i++) vals[i] = OPTS[i].def;
  for (; opts && opts[0] != 0; opts += 2) {
    const opt_spec *s = opt_find((int)opts[0]);
    if (!s || (double)s->id != opts[0] || !opt_ok(s, opts[1])) return CALIB_E_ARG;
    vals[s - OPTS] = opts[1];
  }
  return CALIB_OK;
}

static void opts_store(calib__monitor_opts *o, const double *v) {
  o->window = (size_t)v[0], o->alpha = v[1], o->on_count = (size_t)v[2];
  o->off_count = (size_t)v[3], o->psi_eps = v[4], o->em_rows = (size_t)v[5];
  o->em_tol = v[6], o->em_max_iter = (size_t)v[7], o->max_shards = (size_t)v[8];
  o->label_window = (size_t)v[9], o->ci_level = v[10], o->trial_alpha = v[11];
  o->trial_look = (size_t)v[12], o->trial_rows = (size_t)v[13], o->trial_margin = v[14];
}

int calib_monitor_get(const calib_monitor *m, int id, double *value) {
  if (!m || !value) return CALIB_E_ARG;
  const calib__monitor_opts *o = &m->o;
  const double v[NOPTS] = {(double)o->window, o->alpha, (double)o->on_count,
                           (double)o->off_count, o->psi_eps, (double)o->em_rows, o->em_tol,
                           (double)o->em_max_iter, (double)o->max_shards,
                           (double)o->label_window, o->ci_level, o->trial_alpha,
                           (double)o->trial_look, (double)o->trial_rows, o->trial_margin};
  const opt_spec *s = opt_find(id);
  if (!s) return CALIB_E_ARG;
  *value = v[s - OPTS];
  return CALIB_OK;
}

/* ---- create / free --------------------------------------------------------------- */

/* calloc of count elements of elem bytes, overflow-checked. */
static void *alloc_array(size_t count, size_t elem) {
  size_t bytes;
  if (!calib__size_bytes(count ? count : 1, elem, &bytes)) return NULL;
  return calib__calloc(1, bytes);
}

static int monitor_buffers(calib_monitor *m) {
  size_t em;
  if (!calib__size_mul3(m->o.max_shards, m->o.em_rows, m->k, &em)) return CALIB_E_NOMEM;
  m->shards = (calib_monitor_shard **)alloc_array(m->o.max_shards, sizeof *m->shards);
  m->u_total = (uint64_t *)alloc_array(m->nu, sizeof(uint64_t));
  m->u_base = (uint64_t *)alloc_array(m->nu, sizeof(uint64_t));
  m->u_retired = (uint64_t *)alloc_array(m->nu, sizeof(uint64_t));
  m->u_lab_base = (uint64_t *)alloc_array(m->nu, sizeof(uint64_t));
  m->u_win = (uint64_t *)alloc_array(m->nu, sizeof(uint64_t));
  m->em_scratch = (float *)alloc_array(em, sizeof(float));
  m->em_prior = (double *)alloc_array(m->kc, sizeof(double));
  m->em_work = (double *)alloc_array(m->kc, 4 * sizeof(double)); /* 4 doubles a class */
  if (!m->shards || !m->u_total || !m->u_base || !m->u_retired || !m->u_lab_base || !m->u_win ||
      !m->em_scratch || !m->em_prior || !m->em_work)
    return CALIB_E_NOMEM;
  return CALIB_OK;
}

static void monitor_release(calib_monitor *m) {
  calib_reference_free(m->ref);
  calib__free(m->shards);
  calib__free(m->u_total);
  calib__free(m->u_base);
  calib__free(m->u_retired);
  calib__free(m->u_lab_base);
  calib__free(m->u_win);
  calib__free(m->em_scratch);
  calib__free(m->em_prior);
  calib__free(m->em_work);
  calib__free(m);
}

/* The report before anything was evaluated: NaN values, zero counts. */
static void state_init(calib_monitor_state *s) {
  memset(s, 0, sizeof *s);
  s->psi_confidence = s->psi_class = s->p_confidence = s->p_class = NAN;
  s->em_shift = NAN;
  s->accuracy = s->nll = s->nll_lo = s->nll_hi = s->brier = s->brier_lo = s->brier_hi = NAN;
  s->ece = s->ece_lo = s->ece_hi = NAN;
  s->trial_mean_diff = s->trial_se = NAN;
}

int calib_monitor_create(calib_monitor **out, const calib_reference *ref, const double *opts) {
  double vals[NOPTS];
  if (!out || !ref || opts_parse(opts, vals) != CALIB_OK) return CALIB_E_ARG;
  if (vals[13] < vals[12]) return CALIB_E_ARG; /* TRIAL_ROWS >= TRIAL_LOOK */
  calib_monitor *m = (calib_monitor *)calib__calloc(1, sizeof *m);
  if (!m) return CALIB_E_NOMEM;
  opts_store(&m->o, vals);
  m->k = ref->k, m->kc = ref->kc, m->nu = CALIB__NU(ref->kc);
  int st = calib__reference_clone(ref, &m->ref);
  if (st == CALIB_OK) st = monitor_buffers(m);
  if (st == CALIB_OK && pthread_mutex_init(&m->mu, NULL) != 0) st = CALIB_E_NOMEM;
  if (st != CALIB_OK) {
    monitor_release(m);
    return st;
  }
  state_init(&m->st);
  *out = m;
  return CALIB_OK;
}

static void shard_release(calib_monitor_shard *s) {
  calib__free(s->u);
  calib__free(s->ring);
  calib__free(s);
}

void calib_monitor_free(calib_monitor *m) {
  if (!m) return;
  for (size_t i = 0; i < m->o.max_shards; i++)
    if (m->shards[i]) shard_release(m->shards[i]);
  pthread_mutex_destroy(&m->mu);
  monitor_release(m);
}

/* ---- shards ------------------------------------------------------------------------ */

int calib_monitor_shard_create(calib_monitor *m, calib_monitor_shard **out) {
  if (!m || !out) return CALIB_E_ARG;
  size_t ring;
  if (!calib__size_mul(m->o.em_rows, m->k, &ring)) return CALIB_E_NOMEM;
  calib_monitor_shard *s = (calib_monitor_shard *)calib__calloc(1, sizeof *s);
  if (!s) return CALIB_E_NOMEM;
  s->u = (uint64_t *)alloc_array(m->nu, sizeof(uint64_t));
  s->ring = ring ? (float *)alloc_array(ring, sizeof(float)) : NULL;
  if (!s->u || (ring && !s->ring)) {
    shard_release(s);
    return CALIB_E_NOMEM;
  }
  s->mon = m;
  pthread_mutex_lock(&m->mu);
  size_t i = 0;
  while (i < m->o.max_shards && m->shards[i]) i++;
  if (i < m->o.max_shards) m->shards[i] = s, s->index = i;
  pthread_mutex_unlock(&m->mu);
  if (i == m->o.max_shards) {
    shard_release(s);
    return CALIB_E_SMALLBUF;
  }
  *out = s;
  return CALIB_OK;
}

void calib_monitor_shard_free(calib_monitor_shard *s) {
  if (!s) return;
  calib_monitor *m = s->mon;
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->nu; i++) m->u_retired[i] += calib__ld_u(&s->u[i]);
  for (size_t i = 0; i < CALIB__NF; i++) m->f_retired[i] += calib__ld_f(&s->f[i]);
  m->shards[s->index] = NULL;
  pthread_mutex_unlock(&m->mu);
  shard_release(s);
}

/* ---- writer side ----------------------------------------------------------------------- */

static void bump(uint64_t *p, uint64_t by) { calib__st_u(p, calib__ld_u(p) + by); }
static void add_f(double *p, double v) { calib__st_f(p, calib__ld_f(p) + v); }

/* The last min(n, R) rows into the ring. Readers rely on: `started` stored
 * before any row's data, each float stored with release (a reader that sees
 * it also sees `started`), then `written` stored with release. */
static void ring_write(calib_monitor_shard *s, const float *p, size_t n, size_t k) {
  const size_t R = s->mon->o.em_rows;
  if (!R) return;
  const uint64_t w0 = calib__ld_u(&s->written), w1 = w0 + n;
  __atomic_store_n(&s->started, w1, __ATOMIC_RELAXED);
  for (size_t i = n > R ? n - R : 0; i < n; i++) {
    float *dst = s->ring + (size_t)((w0 + i) % R) * k;
    for (size_t j = 0; j < k; j++) {
      float v = p[i * k + j];
      __atomic_store(&dst[j], &v, __ATOMIC_RELEASE);
    }
  }
  __atomic_store_n(&s->written, w1, __ATOMIC_RELEASE);
}

int calib_monitor_observe(calib_monitor_shard *s, const float *probs, size_t n, size_t k) {
  if (!s) return CALIB_E_ARG;
  const int st = calib__check_batch(probs, n, k, s->mon->k);
  if (st != CALIB_OK || n == 0) return st;
  for (size_t i = 0; i < n; i++) {
    double conf;
    const size_t top = calib__row_top(probs, i, k, &conf);
    bump(&s->u[CALIB__U_CONF + calib_bin_index(conf, CALIB_REF_CONF_BINS)], 1);
    bump(&s->u[CALIB__U_CLASS + top], 1);
  }
  ring_write(s, probs, n, k);
  return CALIB_OK;
}

/* One labelled row (and its paired difference when champion != NULL). */
static void feedback_row(calib_monitor_shard *s, const float *p, const float *champion,
                         size_t i, size_t k, int64_t y) {
  const size_t kc = s->mon->kc;
  double conf;
  const size_t top = calib__row_top(p, i, k, &conf);
  const size_t b = calib_bin_index(conf, CALIB__ECE_BINS);
  const double loss = calib__row_loss(p, i, k, y), br = calib__row_brier(p, i, k, y);
  bump(&s->u[CALIB__U_LAB(kc)], 1);
  bump(&s->u[CALIB__U_ECE_N(kc) + b], 1);
  bump(&s->u[CALIB__U_ECE_C(kc) + b], top == (size_t)y);
  add_f(&s->f[CALIB__F_NLL], loss);
  add_f(&s->f[CALIB__F_NLL2], loss * loss);
  add_f(&s->f[CALIB__F_BRIER], br);
  add_f(&s->f[CALIB__F_BRIER2], br * br);
  add_f(&s->f[CALIB__F_ECE_CONF + b], conf);
  if (!champion) return;
  const double d = loss - calib__row_loss(champion, i, k, y);
  bump(&s->u[CALIB__U_PAIR(kc)], 1);
  add_f(&s->f[CALIB__F_D], d);
  add_f(&s->f[CALIB__F_D2], d * d);
}

int calib_monitor_feedback(calib_monitor_shard *s, const float *probs, const float *champion,
                           size_t n, size_t k, const int64_t *labels) {
  if (!s || (n > 0 && !labels)) return CALIB_E_ARG;
  int st = calib__check_batch(probs, n, k, s->mon->k);
  if (st == CALIB_OK && champion) st = calib__check_batch(champion, n, k, s->mon->k);
  if (st == CALIB_OK && n > 0) st = calib__check_labels(labels, n, k);
  if (st != CALIB_OK || n == 0) return st;
  for (size_t i = 0; i < n; i++) feedback_row(s, probs, champion, i, k, labels[i]);
  return CALIB_OK;
}
