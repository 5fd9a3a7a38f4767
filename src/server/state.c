/* state.c -- the served model: the calib_slot, public versions, the monitor
 * context of the current model, install and rollback, and the per-thread
 * workers.
 *
 * Versions. The slot numbers its installs 1, 2, 3, ... for its own life; the
 * service's public version (X-Calib-Model-Version, "model_version") is the
 * registry's, which survives a restart. Each install gets the next public
 * version; a rollback makes the previous model current under its own (older)
 * public version, as the slot does. The hot path maps the slot version that
 * calib_slot_apply reports to the public one through a 4096-entry table
 * written before each install (a seqlock per entry); a table entry reused
 * meanwhile (a model kept in the history across 4096 installs) falls back
 * to the writer's exact list under its mutex.
 *
 * Monitor contexts. The monitor compares traffic with the current model's
 * fit-time reference, so each install or rollback makes a new context (its
 * own calib_monitor; windows and labelled metrics restart with the model).
 * A worker keeps a counted reference to the context its shard belongs to; it
 * compares that pointer with the current one on each request (one atomic
 * load) and switches under ctx_mu only when a new model was installed. A
 * context is freed when it is no longer current and nobody holds it.
 */
#include "serve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

serve_state S;

static _Thread_local worker *tls_worker;

#define VMAP_SIZE (sizeof S.vmap / sizeof S.vmap[0])

int state_init(void) {
  if (pthread_mutex_init(&S.write_mu, NULL) || pthread_mutex_init(&S.ctx_mu, NULL) ||
      pthread_mutex_init(&S.workers_mu, NULL))
    return -1;
  if (calib_slot_create(&S.slot, S.opt.history) != CALIB_OK) return -1;
  S.next_pub = 1;
  return 0;
}

/* ---- version map ---- */
static void vmap_set(uint64_t sv, uint64_t pv) {
  struct vmap_entry *e = &S.vmap[sv % VMAP_SIZE];
  atomic_store(&e->sv, 0);
  atomic_store(&e->pv, pv);
  atomic_store(&e->sv, sv);
}

uint64_t state_pub_version(uint64_t sv) {
  struct vmap_entry *e = &S.vmap[sv % VMAP_SIZE];
  const uint64_t a = atomic_load(&e->sv);
  const uint64_t pv = atomic_load(&e->pv);
  const uint64_t b = atomic_load(&e->sv);
  if (a == sv && b == sv) return pv;
  uint64_t out = 0;
  pthread_mutex_lock(&S.write_mu);
  for (size_t i = 0; i < S.nheld; i++)
    if (S.held_sv[i] == sv) out = S.held_pv[i];
  pthread_mutex_unlock(&S.write_mu);
  return out;
}

/* ---- monitor contexts ---- */
static void ctx_free(monctx *c) {
  if (!c) return;
  calib_monitor_free(c->mon);
  calib_reference_free(c->ref);
  free(c);
}

/* A placeholder reference (one uniform row, no labels) lets a model without a
 * fit-time reference still get labelled metrics; its drift values are not
 * reported (has_reference == 0). */
static int placeholder_reference(size_t k, calib_reference **out) {
  float *row = malloc(k * sizeof *row);
  if (!row) return CALIB_E_NOMEM;
  for (size_t j = 0; j < k; j++) row[j] = k == 1 ? 0.5f : 1.0f / (float)k;
  const int st = calib_reference_compute(out, row, 1, k, NULL);
  free(row);
  return st;
}

static monctx *ctx_make(const calib_model *m, uint64_t sv, uint64_t pv) {
  monctx *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->slot_version = sv, c->pub_version = pv, c->k = calib_model_classes(m);
  int st = calib_model_reference(m, &c->ref);
  if (st == CALIB_OK) c->has_reference = 1;
  else if (st == CALIB_E_UNSUPPORTED)
    snprintf(c->note, sizeof c->note,
             "the model carries no fit-time reference (format version 1, or fitted without provenance): "
             "drift metrics are NaN and the alarm 0; labelled metrics still work");
  else
    snprintf(c->note, sizeof c->note, "the model's reference could not be read: %s: drift metrics are NaN",
             calib_strerror(st));
  if (!c->has_reference && (st = placeholder_reference(c->k, &c->ref)) != CALIB_OK) {
    snprintf(c->note, sizeof c->note, "no monitor: %s", calib_strerror(st));
    return c;
  }
  double shards = S.opt.threads + 1.0;
  if (shards > 1024) shards = 1024;
  const double opts[] = {CALIB_MO_MAX_SHARDS, shards,
                         CALIB_MO_EM_ROWS, c->has_reference ? S.opt.em_rows : 0.0,
                         CALIB_MO_WINDOW, S.opt.window,
                         CALIB_MO_LABEL_WINDOW, S.opt.label_window,
                         0};
  st = calib_monitor_create(&c->mon, c->ref, opts);
  if (st != CALIB_OK) {
    c->mon = NULL;
    snprintf(c->note, sizeof c->note, "no monitor: %s", calib_strerror(st));
  }
  return c;
}

static void ctx_publish(monctx *c) {
  pthread_mutex_lock(&S.ctx_mu);
  monctx *old = atomic_load(&S.ctx);
  atomic_store(&S.ctx, c);
  if (old) {
    old->retired = 1;
    if (old->users == 0) ctx_free(old);
  }
  pthread_mutex_unlock(&S.ctx_mu);
}

static void ctx_unref_locked(monctx *c) {
  if (c && --c->users == 0 && c->retired) ctx_free(c);
}

monctx *ctx_acquire(void) {
  pthread_mutex_lock(&S.ctx_mu);
  monctx *c = atomic_load(&S.ctx);
  if (c) c->users++;
  pthread_mutex_unlock(&S.ctx_mu);
  return c;
}

void ctx_release(monctx *c) {
  if (!c) return;
  pthread_mutex_lock(&S.ctx_mu);
  ctx_unref_locked(c);
  pthread_mutex_unlock(&S.ctx_mu);
}

monctx *worker_ctx(worker *w) {
  monctx *cur = atomic_load_explicit(&S.ctx, memory_order_acquire);
  if (cur == w->ctx) return cur;
  pthread_mutex_lock(&S.ctx_mu);
  cur = atomic_load(&S.ctx);
  if (w->shard) calib_monitor_shard_free(w->shard); /* folds its counts into the old monitor */
  w->shard = NULL;
  ctx_unref_locked(w->ctx);
  w->ctx = cur;
  if (cur) {
    cur->users++;
    if (cur->mon && calib_monitor_shard_create(cur->mon, &w->shard) != CALIB_OK) w->shard = NULL;
  }
  pthread_mutex_unlock(&S.ctx_mu);
  return cur;
}

/* ---- workers ---- */
worker *state_worker(void) {
  if (tls_worker) return tls_worker;
  pthread_mutex_lock(&S.workers_mu);
  const unsigned idx = atomic_load(&S.nworkers);
  worker *w = NULL;
  if (idx < SERVE_MAX_THREADS && (w = calloc(1, sizeof *w)) != NULL) {
    const unsigned t = S.opt.threads ? S.opt.threads : 1;
    if (ring_init(&w->ring, S.opt.ring_requests / t, S.opt.ring_bytes / t)) {
      free(w);
      w = NULL;
    } else {
      w->index = idx;
      w->next_seq = 1;
      w->has_cpu_clock = pthread_getcpuclockid(pthread_self(), &w->cpu_clock) == 0;
      S.workers[idx] = w;
      atomic_store(&S.nworkers, idx + 1);
    }
  }
  pthread_mutex_unlock(&S.workers_mu);
  return tls_worker = w;
}

/* ---- install and rollback (under write_mu) ---- */
/* persist: write the bytes and CURRENT to the registry (not while the
 * registry itself is being loaded at start-up). */
static int install_locked(calib_model *m, uint64_t pub, const void *bytes, size_t len, int persist,
                          char *msg, size_t cap) {
  persist = persist && S.opt.registry;
  if (persist && registry_store_model(pub, bytes, len, msg, cap)) return 500;
  monctx *c = ctx_make(m, S.last_sv + 1, pub);
  if (!c) return snprintf(msg, cap, "out of memory"), 500;
  /* the new held list: the current model joins the history, whose oldest
   * leaves when it is full (as the slot does) */
  uint64_t old_sv[CALIB_SLOT_HISTORY_MAX + 1], old_pv[CALIB_SLOT_HISTORY_MAX + 1];
  const size_t old_n = S.nheld;
  memcpy(old_sv, S.held_sv, sizeof old_sv);
  memcpy(old_pv, S.held_pv, sizeof old_pv);
  if (S.nheld == S.opt.history + 1) {
    memmove(S.held_sv, S.held_sv + 1, (S.nheld - 1) * sizeof S.held_sv[0]);
    memmove(S.held_pv, S.held_pv + 1, (S.nheld - 1) * sizeof S.held_pv[0]);
    S.nheld--;
  }
  S.held_sv[S.nheld] = S.last_sv + 1, S.held_pv[S.nheld] = pub;
  S.nheld++;
  const uint64_t next_pub_before = S.next_pub;
  if (pub >= S.next_pub) S.next_pub = pub + 1;
  if (persist && registry_write_current(msg, cap)) {
    S.nheld = old_n, S.next_pub = next_pub_before;
    memcpy(S.held_sv, old_sv, sizeof old_sv);
    memcpy(S.held_pv, old_pv, sizeof old_pv);
    ctx_free(c);
    return 500;
  }
  vmap_set(S.last_sv + 1, pub);
  uint64_t sv = 0;
  const int st = calib_slot_install(S.slot, m, &sv);
  if (st != CALIB_OK || sv != S.last_sv + 1) { /* cannot happen: installs are serialised here */
    fprintf(stderr, "calib-serve: calib_slot_install failed: %s (slot version %llu, expected %llu)\n",
            calib_strerror(st), (unsigned long long)sv, (unsigned long long)(S.last_sv + 1));
    abort();
  }
  S.last_sv = sv;
  atomic_fetch_add(&S.installs, 1);
  ctx_publish(c);
  if (persist) registry_prune();
  return 0;
}

int state_install_model(calib_model *m, uint64_t pub, char *msg, size_t cap) {
  pthread_mutex_lock(&S.write_mu);
  const int st = install_locked(m, pub, NULL, 0, 0, msg, cap);
  pthread_mutex_unlock(&S.write_mu);
  return st;
}

int state_install_bytes(const void *buf, size_t len, uint64_t *pub, char *msg, size_t cap) {
  calib_model *m = NULL;
  calib_error err;
  int st = calib_model_load_ex(&m, buf, len, &err);
  if (st != CALIB_OK) {
    atomic_fetch_add(&S.install_failures, 1);
    snprintf(msg, cap, "%s", err.message);
    return 400;
  }
  pthread_mutex_lock(&S.write_mu);
  const uint64_t v = S.next_pub;
  st = install_locked(m, v, buf, len, 1, msg, cap);
  pthread_mutex_unlock(&S.write_mu);
  if (st) {
    calib_model_free(m);
    atomic_fetch_add(&S.install_failures, 1);
    return st;
  }
  *pub = v;
  return 0;
}

int state_rollback(uint64_t *pub, char *msg, size_t cap) {
  pthread_mutex_lock(&S.write_mu);
  int http = 0;
  if (S.nheld < 2) {
    snprintf(msg, cap, "rollback: no previous model in the history (it keeps up to --history %zu)", S.opt.history);
    http = 409;
    goto out;
  }
  S.nheld--;
  if (S.opt.registry && registry_write_current(msg, cap)) {
    S.nheld++;
    http = 500;
    goto out;
  }
  uint64_t sv = 0;
  int st = calib_slot_rollback(S.slot, &sv);
  if (st != CALIB_OK || sv != S.held_sv[S.nheld - 1]) {
    fprintf(stderr, "calib-serve: calib_slot_rollback failed: %s (slot version %llu)\n", calib_strerror(st),
            (unsigned long long)sv);
    abort(); /* cannot happen: the held list mirrors the slot */
  }
  vmap_set(sv, S.held_pv[S.nheld - 1]);
  calib_slot_ref ref;
  if (calib_slot_acquire(S.slot, &ref) == CALIB_OK) {
    monctx *c = ctx_make(ref.model, sv, S.held_pv[S.nheld - 1]);
    calib_slot_release(&ref);
    if (c) ctx_publish(c);
  }
  atomic_fetch_add(&S.rollbacks, 1);
  *pub = S.held_pv[S.nheld - 1];
  if (S.opt.registry) registry_prune();
out:
  pthread_mutex_unlock(&S.write_mu);
  return http;
}

/* ---- description (GET /v1/model) ---- */
static void describe_reference(sbuf *b, const monctx *c) {
  if (!c || !c->has_reference) {
    sb_str(b, "null");
    return;
  }
  double metrics[4];
  size_t cnt = 0;
  sb_str(b, "{");
  if (calib_reference_get(c->ref, CALIB_REF_METRICS, metrics, 4, &cnt) == CALIB_OK && cnt == 4) {
    sb_str(b, "\"n\": "), sb_json_double(b, metrics[0]);
    sb_str(b, ", \"nll\": "), sb_json_double(b, metrics[1]);
    sb_str(b, ", \"ece\": "), sb_json_double(b, metrics[2]);
    sb_str(b, ", \"brier\": "), sb_json_double(b, metrics[3]);
  }
  const struct { int what; const char *name; } arrays[] = {
      {CALIB_REF_PRIOR, "prior"}, {CALIB_REF_CONF_HIST, "confidence_histogram"},
      {CALIB_REF_CLASS_HIST, "class_histogram"}};
  for (size_t a = 0; a < 3; a++) {
    if (calib_reference_get(c->ref, arrays[a].what, NULL, 0, &cnt) != CALIB_OK) continue;
    double *v = malloc((cnt ? cnt : 1) * sizeof *v);
    if (!v) continue;
    if (calib_reference_get(c->ref, arrays[a].what, v, cnt, &cnt) == CALIB_OK) {
      sb_printf(b, ", \"%s\": [", arrays[a].name);
      for (size_t i = 0; i < cnt; i++) {
        if (i) sb_str(b, ", ");
        sb_json_double(b, v[i]);
      }
      sb_str(b, "]");
    }
    free(v);
  }
  sb_str(b, "}");
}

void state_describe(sbuf *b) {
  pthread_mutex_lock(&S.write_mu);
  calib_slot_ref ref;
  if (calib_slot_acquire(S.slot, &ref) != CALIB_OK) {
    pthread_mutex_unlock(&S.write_mu);
    sb_str(b, "{\"model_version\": 0}");
    return;
  }
  const uint64_t pv = S.nheld ? S.held_pv[S.nheld - 1] : 0;
  const char *method = calib_method_name(calib_model_method(ref.model));
  sb_printf(b, "{\"model_version\": %llu, \"method\": ", (unsigned long long)pv);
  sb_json_string(b, method ? method : "unknown");
  sb_printf(b, ", \"k\": %zu, \"bytes\": %zu", calib_model_classes(ref.model), calib_model_size(ref.model));
  calib_model_info info;
  if (calib_model_info_get(ref.model, &info) == CALIB_OK) {
    sb_printf(b, ", \"format_version\": %u, \"tag\": ", (unsigned)info.format_version);
    sb_json_string(b, info.tag);
    sb_printf(b, ", \"created_unix\": %lld, \"fit\": {\"n\": ", (long long)info.created_unix);
    sb_json_double(b, info.n);
    sb_str(b, ", \"nll_before\": "), sb_json_double(b, info.nll_before);
    sb_str(b, ", \"ece_before\": "), sb_json_double(b, info.ece_before);
    sb_str(b, ", \"brier_before\": "), sb_json_double(b, info.brier_before);
    sb_str(b, ", \"nll_after\": "), sb_json_double(b, info.nll_after);
    sb_str(b, ", \"ece_after\": "), sb_json_double(b, info.ece_after);
    sb_str(b, ", \"brier_after\": "), sb_json_double(b, info.brier_after);
    sb_str(b, "}");
  }
  calib_slot_release(&ref);
  sb_str(b, ", \"history\": [");
  for (size_t i = S.nheld - 1; i-- > 0;) sb_printf(b, "%llu%s", (unsigned long long)S.held_pv[i], i ? ", " : "");
  sb_printf(b, "], \"history_max\": %zu", S.opt.history);
  pthread_mutex_unlock(&S.write_mu);
  monctx *c = ctx_acquire();
  sb_printf(b, ", \"has_reference\": %s, \"reference\": ", c && c->has_reference ? "true" : "false");
  describe_reference(b, c);
  if (c && c->note[0]) sb_str(b, ", \"note\": "), sb_json_string(b, c->note);
  ctx_release(c);
  sb_str(b, "}");
}

void state_shutdown(void) {
  /* no pool thread runs any more: free shards before their monitors */
  for (unsigned i = 0; i < atomic_load(&S.nworkers); i++) {
    worker *w = S.workers[i];
    if (w->shard) calib_monitor_shard_free(w->shard);
    w->shard = NULL;
    pthread_mutex_lock(&S.ctx_mu);
    ctx_unref_locked(w->ctx);
    pthread_mutex_unlock(&S.ctx_mu);
    ring_destroy(&w->ring);
    free(w);
    S.workers[i] = NULL;
  }
  monctx *c = atomic_load(&S.ctx);
  if (c) {
    c->retired = 1;
    if (c->users == 0) ctx_free(c);
  }
  calib_slot_free(S.slot);
  pthread_mutex_destroy(&S.write_mu);
  pthread_mutex_destroy(&S.ctx_mu);
  pthread_mutex_destroy(&S.workers_mu);
}
