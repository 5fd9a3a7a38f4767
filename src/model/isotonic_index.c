/* isotonic_index.c -- the search index of an owned isotonic one-vs-rest
 * model (issue 12 part 3), built once when the model is parsed and read by
 * kernels/applyd.h's iso_rows_idx; the layout and the bucket rule are
 * documented there (calib__iso_index).
 *
 * Why: at k = 1000 the row's time went to the per-class binary searches, a
 * dependent chain of log2 m gathers per group of classes, plus assembling
 * each class's offset and length lane by lane. With a grid of 2 m to 8 m
 * buckets per class over the order-preserving keys of [x_0, x_{m-1}] (a key
 * grid is close to a log grid, so the thresholds of small probabilities,
 * which cluster near 0, still spread over buckets), s's bucket bounds the
 * search to a few thresholds, and the per-class values are plain loads.
 * The index finds the same table index as the full search (the answer lies
 * in [start, end] by the integer keys' order), so the values are
 * bit-identical; test/test_isotonic_index.c checks it.
 *
 * Not part of the model bytes (calib_model_size and the format unchanged);
 * written before the model is returned and never modified (apply stays
 * thread-safe); not built for by-reference models (no heap), k = 1,
 * k > CALIB__APPLYD_MAX_K, or where no SIMD row table exists (scalar-only,
 * NEON, the firmware core), which keep the full search. */
#include "internal.h"
#include "checked.h"
#include "applyd.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(CALIB_HAVE_X86_KERNELS) && !defined(CALIB_CORE)
/* The grid of a class: the smallest shift for which the key range
 * r = ukey(hi) - ukey(lo) has at most nb buckets ((r >> sh) + 1 <= nb). */
static unsigned grid_shift(unsigned long long nb, unsigned long long r) {
  unsigned sh = 0;
  while ((r >> sh) >= nb) sh++;
  return sh;
}

static double bits_of(long long v) {
  double d;
  memcpy(&d, &v, sizeof d);
  return d;
}

/* One bucket record (applyd.h): the two thresholds after start, the global
 * start o + start and rem = end - start. */
static void bucket_rec(const double *x, size_t o, size_t start, size_t end, double *r) {
  r[0] = end > start ? x[start + 1] : (double)INFINITY;
  r[1] = end > start + 1 ? x[start + 2] : (double)INFINITY;
  r[2] = bits_of((long long)(o + start));
  r[3] = bits_of((long long)(end - start));
}

/* The buckets of the class table x[0 .. m) (global offset o) with shift sh,
 * nb of them: their records into br (NULL: none written); returns the
 * largest rem. */
static size_t fill_buckets(const double *x, size_t m, size_t o, unsigned sh, unsigned long long nb, double *br) {
  const unsigned long long k0 = calib__iso_ukey(x[0]);
  size_t start = 0, end = 0, most = 0;
  for (unsigned long long b = 0; b < nb; b++) {
    const unsigned long long first = k0 + (b << sh);
    const unsigned long long last = b + 1 == nb ? ~0ull : first + ((1ull << sh) - 1);
    while (start + 1 < m && calib__iso_ukey(x[start + 1]) <= first) start++;
    if (end < start) end = start;
    while (end + 1 < m && calib__iso_ukey(x[end + 1]) <= last) end++;
    if (br) bucket_rec(x, o, start, end, br + 4 * b);
    most = end - start > most ? end - start : most;
  }
  return most;
}

/* A class's bucket count: base = the power of two >= 2 m, or 2 base if base
 * leaves a bucket whose range holds more than two thresholds after its start
 * (the kernel's branch-free case: isotonic thresholds come in close pairs, a
 * block's two ends, so base usually suffices). The rest go to the kernel's
 * halving, a mispredicted branch and a dependent chain each: at k = 1000
 * (bench_latency's model) about 1 % of lookups with base alone, which cost
 * 10 % of the row (apply 2.53 -> 2.40 us with the doubling; 16 m: 2.35 us at
 * 3x the memory). Index size there: 1.5 MB for a 241 KB model (32 bytes per
 * bucket and per threshold); k = 10: 121 KB for 12 KB. Returns nb, sets *sh. */
static unsigned long long class_grid(const double *x, size_t m, unsigned *sh) {
  const unsigned long long r = calib__iso_ukey(x[m - 1]) - calib__iso_ukey(x[0]);
  unsigned long long base = 2;
  while (base < 2 * (unsigned long long)m) base <<= 1;
  for (unsigned long long nb = base;; nb <<= 1) {
    *sh = grid_shift(nb, r);
    const unsigned long long used = (r >> *sh) + 1;
    if (nb >= 2 * base || fill_buckets(x, m, 0, *sh, used, NULL) <= 2) return used;
  }
}

/* the segment records of the class table at global offset o */
static void fill_segments(const double *xs, const double *ys, size_t o, size_t m, double *rec) {
  for (size_t t = o; t < o + m; t++) { /* iso_rows' slope, the same operations */
    double *rc = rec + 4 * t;
    rc[0] = xs[t];
    rc[1] = ys[t];
    rc[2] = t + 1 < o + m ? (ys[t + 1] - ys[t]) / (xs[t + 1] - xs[t]) : 0.0;
    rc[3] = 0.0;
  }
}

/* the bucket count of every class, summed (1 for the padding bucket) */
static int count_buckets(const double *cnt, const double *xs, size_t k, size_t *nbk) {
  size_t total = 1, off = 0;
  for (size_t j = 0; j < k; j++) { /* validated: integers >= 1 summing to the x count */
    const size_t mj = (size_t)cnt[j];
    unsigned sh;
    if (!calib__size_add(total, (size_t)class_grid(xs + off, mj, &sh), &total)) return 0;
    off += mj;
  }
  *nbk = total;
  return 1;
}

int calib__model_attach_iso(calib_model *m) {
  if (m->method != CALIB_METHOD_ISOTONIC || m->k < 2 || m->k > CALIB__APPLYD_MAX_K) return CALIB_OK;
  const double *cnt = calib__model_section(m, CALIB_MP_ISO_COUNTS)->data;
  const double *xs = calib__model_section(m, CALIB_MP_ISO_X)->data;
  const double *ys = calib__model_section(m, CALIB_MP_ISO_Y)->data;
  const size_t nx = calib__model_section(m, CALIB_MP_ISO_X)->count;
  const size_t k = m->k, kp = (k + CALIB__ISO_PAD - 1) / CALIB__ISO_PAD * CALIB__ISO_PAD;
  size_t nbk, words, bytes;
  /* 11 arrays of kp, 4 nbk + 4 nx record words, 32 bytes of slack to align them */
  if (!count_buckets(cnt, xs, k, &nbk) || !calib__size_add(nbk, nx, &words) ||
      !calib__size_mul(words, 4, &words) || !calib__size_add(words, 11 * kp + 4, &words) ||
      !calib__size_mul(words, 8, &bytes) || !calib__size_add(bytes, sizeof(calib__iso_index), &bytes))
    return CALIB_E_NOMEM;
  calib__iso_index *ix = (calib__iso_index *)calib__malloc(bytes);
  if (!ix) return CALIB_E_NOMEM;
  long long *a = (long long *)(void *)(ix + 1), *ioff = a, *im = a + kp, *ila = a + 2 * kp, *iuk = a + 3 * kp,
            *ish = a + 4 * kp, *inb = a + 5 * kp, *ibo = a + 6 * kp;
  double *d = (double *)(void *)(a + 7 * kp), *lo = d, *hi = d + kp, *ylo = d + 2 * kp, *yhi = d + 3 * kp;
  double *br = d + 4 * kp;
  br += ((32 - (size_t)((uintptr_t)br & 31)) & 31) / sizeof(double); /* 32-byte aligned records */
  double *rec = br + 4 * nbk;
  bucket_rec(xs, 0, 0, 0, br); /* bucket 0: the padding classes' (table 0's first value) */
  size_t at = 1, off = 0;
  for (size_t j = 0; j < kp; j++) {
    const size_t mj = j < k ? (size_t)cnt[j] : 1, o = j < k ? off : 0;
    unsigned sh = 0;
    const unsigned long long nb = j < k ? class_grid(xs + o, mj, &sh) : 1;
    ioff[j] = (long long)o, im[j] = (long long)mj, ila[j] = (long long)(o + mj - 1);
    lo[j] = xs[o], hi[j] = xs[o + mj - 1], ylo[j] = ys[o], yhi[j] = ys[o + mj - 1];
    iuk[j] = (long long)calib__iso_ukey(xs[o]);
    ish[j] = sh, inb[j] = (long long)(nb - 1), ibo[j] = j < k ? (long long)at : 0;
    if (j < k) {
      (void)fill_buckets(xs + o, mj, o, sh, nb, br + 4 * at);
      fill_segments(xs, ys, o, mj, rec);
      at += (size_t)nb;
      off += mj;
    }
  }
  ix->kp = kp;
  ix->off = ioff, ix->m = im, ix->last = ila, ix->uklo = iuk, ix->sh = ish, ix->nbm1 = inb, ix->boff = ibo;
  ix->lo = lo, ix->hi = hi, ix->ylo = ylo, ix->yhi = yhi;
  ix->brec = br, ix->rec = rec;
  m->isoidx = ix;
  return CALIB_OK;
}
#else
int calib__model_attach_iso(calib_model *m) {
  CALIB__UNUSED(m);
  return CALIB_OK;
}
#endif

void calib__model_detach_iso(calib_model *m) {
  if (m->isoidx) calib__free(m->isoidx);
  m->isoidx = NULL;
}
