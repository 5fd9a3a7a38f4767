/* slot.c -- calib_slot: hot swap and rollback of the model a server applies.
 *
 * Readers (calib_slot_acquire / calib_slot_apply) are lock-free: they pin the
 * current holder by incrementing its reader count, then check that it is
 * still current; writers (install, rollback) hold a mutex among themselves,
 * switch `current` with one atomic store, and free a model only once its
 * holder is no longer current and its count reads zero. Holders live as long
 * as the slot, so a stale reader's increment never touches freed memory; see
 * include/calib.h for the argument. Atomics are GCC/Clang __atomic builtins
 * (C99 has no <stdatomic.h>), all sequentially consistent. */
#include "internal.h"
#include <pthread.h>
#include <sched.h>

/* One model and its reader count, on its own cache line so readers of the
 * current model do not share a line with the writer's bookkeeping. */
typedef struct {
  calib_model *model; /* NULL: free holder */
  uint64_t version;
  uint64_t readers;   /* atomic */
  char pad[64 - sizeof(calib_model *) - 2 * sizeof(uint64_t)];
} slot_holder;

struct calib_slot {
  slot_holder *current;    /* atomic; NULL: empty */
  size_t nhist;            /* atomic reads outside the mutex */
  pthread_mutex_t writer;
  size_t history_max;
  uint64_t last_version;
  slot_holder *hist[CALIB_SLOT_HISTORY_MAX]; /* newest first (writer only) */
  slot_holder *holders;    /* history_max + 1 of them */
};

int calib_slot_create(calib_slot **out, size_t history) {
  if (!out || history == 0 || history > CALIB_SLOT_HISTORY_MAX) return CALIB_E_ARG;
  calib_slot *s = (calib_slot *)calib__calloc(1, sizeof *s);
  if (!s) return CALIB_E_NOMEM;
  s->holders = (slot_holder *)calib__calloc(history + 1, sizeof(slot_holder));
  if (!s->holders || pthread_mutex_init(&s->writer, NULL) != 0) {
    calib__free(s->holders);
    calib__free(s);
    return CALIB_E_NOMEM;
  }
  s->history_max = history;
  *out = s;
  return CALIB_OK;
}

void calib_slot_free(calib_slot *s) {
  if (!s) return;
  for (size_t i = 0; i <= s->history_max; i++) calib_model_free(s->holders[i].model);
  pthread_mutex_destroy(&s->writer);
  calib__free(s->holders);
  calib__free(s);
}

/* ---- readers ------------------------------------------------------------- */

int calib_slot_acquire(const calib_slot *s, calib_slot_ref *ref) {
  if (!s || !ref) return CALIB_E_ARG;
  calib_slot *w = (calib_slot *)(uintptr_t)s; /* the counts are the only mutable part */
  for (;;) {
    slot_holder *h = __atomic_load_n(&w->current, __ATOMIC_SEQ_CST);
    if (!h) return CALIB_E_EMPTY;
    __atomic_add_fetch(&h->readers, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&w->current, __ATOMIC_SEQ_CST) == h) {
      ref->model = h->model;
      ref->version = h->version;
      ref->holder_ = h;
      return CALIB_OK;
    }
    __atomic_sub_fetch(&h->readers, 1, __ATOMIC_SEQ_CST); /* an install raced us: retry */
  }
}

void calib_slot_release(calib_slot_ref *ref) {
  if (!ref || !ref->model) return;
  slot_holder *h = (slot_holder *)ref->holder_;
  ref->model = NULL;
  __atomic_sub_fetch(&h->readers, 1, __ATOMIC_SEQ_CST);
}

int calib_slot_apply(const calib_slot *s, const float *logits, size_t n, size_t k, float *probs,
                     uint64_t *version) {
  calib_slot_ref r;
  const int st = calib_slot_acquire(s, &r);
  if (st != CALIB_OK) return st;
  if (version) *version = r.version;
  const int ap = calib_apply(r.model, logits, n, k, probs);
  calib_slot_release(&r);
  return ap;
}

uint64_t calib_slot_version(const calib_slot *s) {
  calib_slot_ref r;
  if (calib_slot_acquire(s, &r) != CALIB_OK) return 0;
  const uint64_t v = r.version;
  calib_slot_release(&r);
  return v;
}

size_t calib_slot_history(const calib_slot *s) {
  return s ? __atomic_load_n(&s->nhist, __ATOMIC_SEQ_CST) : 0;
}

/* ---- writers (under s->writer) -------------------------------------------- */

/* Frees the model of a holder that is no longer current, once no reader
 * holds it. Readers that pin it after this point fail their check and retry. */
static void retire(slot_holder *h) {
  while (__atomic_load_n(&h->readers, __ATOMIC_SEQ_CST) != 0) sched_yield();
  calib_model_free(h->model);
  h->model = NULL;
}

static int holds(const calib_slot *s, const calib_model *m) {
  for (size_t i = 0; i <= s->history_max; i++)
    if (s->holders[i].model == m) return 1;
  return 0;
}

static slot_holder *free_holder(calib_slot *s) {
  for (size_t i = 0; i <= s->history_max; i++)
    if (!s->holders[i].model) return &s->holders[i];
  return NULL;
}

static void push_history(calib_slot *s, slot_holder *h) {
  for (size_t i = s->nhist; i > 0; i--) s->hist[i] = s->hist[i - 1];
  s->hist[0] = h;
  __atomic_store_n(&s->nhist, s->nhist + 1, __ATOMIC_SEQ_CST);
}

int calib_slot_install(calib_slot *s, calib_model *m, uint64_t *version) {
  if (!s || !m) return CALIB_E_ARG;
  pthread_mutex_lock(&s->writer);
  if (holds(s, m)) {
    pthread_mutex_unlock(&s->writer);
    return CALIB_E_ARG;
  }
  if (s->nhist == s->history_max) { /* every holder is used: drop the oldest */
    slot_holder *oldest = s->hist[s->nhist - 1];
    __atomic_store_n(&s->nhist, s->nhist - 1, __ATOMIC_SEQ_CST);
    retire(oldest);
  }
  slot_holder *h = free_holder(s); /* exists: at most nhist + 1 <= history_max are used */
  h->model = m;
  h->version = ++s->last_version;
  slot_holder *old = __atomic_exchange_n(&s->current, h, __ATOMIC_SEQ_CST);
  if (old) push_history(s, old);
  if (version) *version = h->version;
  pthread_mutex_unlock(&s->writer);
  return CALIB_OK;
}

int calib_slot_rollback(calib_slot *s, uint64_t *version) {
  if (!s) return CALIB_E_ARG;
  pthread_mutex_lock(&s->writer);
  if (s->nhist == 0) {
    pthread_mutex_unlock(&s->writer);
    return CALIB_E_EMPTY;
  }
  slot_holder *prev = s->hist[0];
  for (size_t i = 1; i < s->nhist; i++) s->hist[i - 1] = s->hist[i];
  __atomic_store_n(&s->nhist, s->nhist - 1, __ATOMIC_SEQ_CST);
  slot_holder *old = __atomic_exchange_n(&s->current, prev, __ATOMIC_SEQ_CST);
  retire(old);
  if (version) *version = prev->version;
  pthread_mutex_unlock(&s->writer);
  return CALIB_OK;
}
