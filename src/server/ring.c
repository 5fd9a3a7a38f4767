/* ring.c -- the per-thread ring of recent responses kept for /v1/feedback.
 *
 * Each worker keeps the probabilities it served for its last requests so that
 * late labels can be scored against exactly what was returned. Bounded two
 * ways (both options are totals over all threads, split evenly):
 *   --feedback-requests N (default 4096): entries, the entry of sequence
 *     number s sits at s % cap, so storing s drops s - cap;
 *   --feedback-bytes B (default 64 MiB): one arena per thread, allocated on
 *     first use and written round-robin; a new entry drops the oldest entries
 *     whose bytes it overwrites. A response larger than the arena is not kept
 *     (its feedback gets 404 saying so).
 * The arena is filled in sequence order and wraps to 0 when the next entry
 * does not fit before its end; the entries left beyond the wrap point are
 * then the oldest ones, so every drop is from the oldest end: the ring always
 * holds a run of the most recent responses, and they fill the arena but for
 * the space a wrap leaves unused at its end (less than one entry).
 * Only the owner thread writes; /v1/feedback served by another thread reads
 * under the ring's mutex (uncontended on the owner's hot path otherwise). */
#include "serve.h"

#include <stdlib.h>
#include <string.h>

int ring_init(ring *r, size_t entries, size_t bytes) {
  memset(r, 0, sizeof *r);
  if (pthread_mutex_init(&r->mu, NULL)) return -1;
  r->cap = entries ? entries : 1;
  r->ent = calloc(r->cap, sizeof *r->ent);
  if (!r->ent) { pthread_mutex_destroy(&r->mu); return -1; }
  r->arena_bytes = bytes;
  r->oldest = 1;
  return 0;
}

void ring_destroy(ring *r) {
  free(r->ent);
  free(r->arena);
  pthread_mutex_destroy(&r->mu);
  r->ent = NULL, r->arena = NULL;
}

static void drop(ring *r, ring_entry *e) {
  if (e->seq) r->held--;
  e->seq = 0;
}

/* Drops entries from the oldest (seqs below upto) while the oldest held one
 * overlaps [lo, hi) or, after a wrap, lies at or beyond tail_from (a remnant
 * of the previous lap; SIZE_MAX: no wrap). */
static void drop_oldest_overlapping(ring *r, uint64_t upto, size_t lo, size_t hi, size_t tail_from) {
  while (r->oldest < upto) {
    ring_entry *e = &r->ent[r->oldest % r->cap];
    if (e->seq != r->oldest) { r->oldest++; continue; } /* empty or already replaced */
    const int overlaps = e->off < hi && lo < e->off + e->bytes;
    const int tail = e->off >= tail_from;
    if (!overlaps && !tail) break;
    drop(r, e);
    r->oldest++;
  }
}

int ring_put(ring *r, uint64_t seq, uint64_t slot_version, uint64_t pub_version,
             const float *probs, size_t n, size_t k) {
  size_t count, bytes;
  if (__builtin_mul_overflow(n, k, &count) || __builtin_mul_overflow(count, sizeof(float), &bytes))
    return 0;
  const size_t need = (bytes + 63) & ~(size_t)63;
  pthread_mutex_lock(&r->mu);
  /* the entry slot of seq: drops seq - cap (and everything older) */
  if (seq >= r->cap) drop_oldest_overlapping(r, seq - r->cap + 1, 0, SIZE_MAX, 0); /* all below */
  ring_entry *slot = &r->ent[seq % r->cap];
  if (slot->seq) drop(r, slot);
  if (need == 0 || need > r->arena_bytes) goto not_kept;
  if (!r->arena && !(r->arena = malloc(r->arena_bytes))) goto not_kept;
  size_t at = r->head;
  size_t tail_from = SIZE_MAX;
  if (need > r->arena_bytes - at) tail_from = at, at = 0;
  drop_oldest_overlapping(r, seq, at, at + need, tail_from);
  memcpy(r->arena + at, probs, bytes);
  slot->seq = seq, slot->slot_version = slot_version, slot->pub_version = pub_version;
  slot->n = n, slot->k = k, slot->off = at, slot->bytes = need, slot->labelled = 0;
  r->held++;
  r->head = at + need;
  pthread_mutex_unlock(&r->mu);
  return 1;
not_kept:
  pthread_mutex_unlock(&r->mu);
  return 0;
}

ring_entry *ring_find(ring *r, uint64_t seq) {
  if (seq == 0) return NULL;
  ring_entry *e = &r->ent[seq % r->cap];
  return e->seq == seq ? e : NULL;
}
