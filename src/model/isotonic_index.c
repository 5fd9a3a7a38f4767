/* isotonic_index.c -- the search index of an owned isotonic one-vs-rest
 * model (issue 12 part 3), built once when the model is parsed and read by
 * kernels/applyd.h's iso_rows_idx; the layout and the bucket rule are
 * documented there (calib__iso_index).
 *
 * Why: at k = 1000 the row's time went to the per-class binary searches, a
 * dependent chain of log2 m gathers per group of classes, plus assembling
 * each class's offset and length lane by lane. With a grid of about 2 m
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

#if defined(CALIB_HAVE_X86_KERNELS) && !defined(CALIB_CORE)
/* about 4 m buckets (a power of two >= 4 m), and the smallest shift whose
 * grid over the key range r = ukey(hi) - ukey(lo) has at most that many */
#define ISO_BUCKETS_PER_KNOT 4
static unsigned grid_shift(size_t m, unsigned long long r) {
  unsigned long long nb = 2;
  while (nb < ISO_BUCKETS_PER_KNOT * (unsigned long long)m) nb <<= 1;
  unsigned sh = 0;
  while ((r >> sh) >= nb) sh++; /* (r >> sh) + 1 <= nb */
  return sh;
}

/* the class table x[0 .. m) into its nb buckets at bk */
static void fill_buckets(const double *x, size_t m, size_t o, unsigned sh, unsigned long long nb, long long *bk) {
  const unsigned long long k0 = calib__iso_ukey(x[0]);
  size_t start = 0, end = 0;
  for (unsigned long long b = 0; b < nb; b++) {
    const unsigned long long first = k0 + (b << sh);
    const unsigned long long last = b + 1 == nb ? ~0ull : first + ((1ull << sh) - 1);
    while (start + 1 < m && calib__iso_ukey(x[start + 1]) <= first) start++;
    if (end < start) end = start;
    while (end + 1 < m && calib__iso_ukey(x[end + 1]) <= last) end++;
    const size_t rem = end - start, w = rem < 8 ? rem : 8;
    bk[b] = (long long)(((unsigned long long)(o + start) << 24) | ((1ull << w) - 1) | (rem > 8 ? 0x100ull : 0));
  }
}

int calib__model_attach_iso(calib_model *m) {
  if (m->method != CALIB_METHOD_ISOTONIC || m->k < 2 || m->k > CALIB__APPLYD_MAX_K) return CALIB_OK;
  const double *cnt = calib__model_section(m, CALIB_MP_ISO_COUNTS)->data;
  const double *xs = calib__model_section(m, CALIB_MP_ISO_X)->data;
  const double *ys = calib__model_section(m, CALIB_MP_ISO_Y)->data;
  const size_t k = m->k, kp = (k + CALIB__ISO_PAD - 1) / CALIB__ISO_PAD * CALIB__ISO_PAD;
  size_t nbk = 1, off = 0; /* bk[0]: the padding classes' one bucket (0, 0) */
  for (size_t j = 0; j < k; j++) { /* validated: integers >= 1 summing to the x count */
    const size_t mj = (size_t)cnt[j];
    const unsigned long long r = calib__iso_ukey(xs[off + mj - 1]) - calib__iso_ukey(xs[off]);
    if (!calib__size_add(nbk, (size_t)(r >> grid_shift(mj, r)) + 1, &nbk)) return CALIB_E_NOMEM;
    off += mj;
  }
  const size_t nx = calib__model_section(m, CALIB_MP_ISO_X)->count;
  if ((unsigned long long)nx >= (1ull << 40)) return CALIB_OK; /* bucket entries hold 40-bit indices */
  size_t words, bytes;
  if (!calib__size_mul(kp, 11, &words) || !calib__size_add(words, nbk, &words) ||
      !calib__size_add(words, 5 * nx + 8, &words) ||
      !calib__size_mul(words, 8, &bytes) || !calib__size_add(bytes, sizeof(calib__iso_index), &bytes))
    return CALIB_E_NOMEM;
  calib__iso_index *ix = (calib__iso_index *)calib__malloc(bytes);
  if (!ix) return CALIB_E_NOMEM;
  long long *a = (long long *)(void *)(ix + 1), *ioff = a, *im = a + kp, *iuk = a + 2 * kp, *ish = a + 3 * kp,
            *inb = a + 4 * kp, *ibo = a + 5 * kp, *ila = a + 6 * kp, *bk = a + 11 * kp;
  double *d = (double *)(void *)(a + 7 * kp), *lo = d, *hi = d + kp, *ylo = d + 2 * kp, *yhi = d + 3 * kp;
  double *sl = (double *)(void *)(bk + nbk);
  bk[0] = 0;
  size_t at = 1;

  off = 0;
  for (size_t j = 0; j < kp; j++) {
    const size_t mj = j < k ? (size_t)cnt[j] : 1, o = j < k ? off : 0;
    const unsigned long long r = calib__iso_ukey(xs[o + mj - 1]) - calib__iso_ukey(xs[o]);
    const unsigned sh = grid_shift(mj, r);
    const unsigned long long nb = (r >> sh) + 1;
    ioff[j] = (long long)o;
    im[j] = (long long)mj;
    ila[j] = (long long)(o + mj - 1);
    lo[j] = xs[o];
    hi[j] = xs[o + mj - 1];
    ylo[j] = ys[o];
    yhi[j] = ys[o + mj - 1];
    iuk[j] = (long long)calib__iso_ukey(xs[o]);
    if (j < k) {
      ish[j] = sh;
      inb[j] = (long long)(nb - 1);
      ibo[j] = (long long)at;
      fill_buckets(xs + o, mj, o, sh, nb, bk + at);
      for (size_t t = 0; t < mj; t++) { /* iso_rows' slope, the same operations */
        double *rc = sl + 4 * (o + t);
        rc[0] = xs[o + t];
        rc[1] = ys[o + t];
        rc[2] = t + 1 < mj ? (ys[o + t + 1] - ys[o + t]) / (xs[o + t + 1] - xs[o + t]) : 0.0;
        rc[3] = 0.0;
      }
      at += (size_t)nb;
      off += mj;
    } else { /* padding class: table 0's first value, bucket 0 of bk */
      ish[j] = 0;
      inb[j] = 0;
      ibo[j] = 0;
    }
  }
  ix->kp = kp;

  ix->off = ioff, ix->m = im, ix->last = ila, ix->uklo = iuk, ix->sh = ish, ix->nbm1 = inb, ix->boff = ibo;
  ix->lo = lo, ix->hi = hi, ix->ylo = ylo, ix->yhi = yhi;
  ix->bk = bk;
  ix->rec = sl;
  double *xw = sl + 4 * nx;
  for (size_t t = 0; t < nx; t++) xw[t] = xs[t];
  for (size_t t = nx; t < nx + 8; t++) xw[t] = (double)INFINITY;
  ix->xw = xw;
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
