/* sort.c -- stable LSD radix sorts of 32- and 64-bit keys with an optional
 * 64-bit payload (see sort.h). 11-bit digits: 3 passes for 32-bit keys, at
 * most 6 for 64-bit keys; a digit that is constant over the keys is skipped.
 * The histograms of all digits are built in one read pass, then turned into
 * bucket offsets (exclusive prefix sums). */
#include "sort.h"

#define DIGIT_BITS 11u
#define BUCKETS (1u << DIGIT_BITS)
#define DIGIT_MASK (BUCKETS - 1u)

/* Turns hist (counts) into start offsets in place; returns 1 if the digit
 * is the same for all n keys (the pass can be skipped). */
static int prefix_offsets(size_t *hist, size_t n) {
  size_t sum = 0;
  int trivial = 0;
  for (unsigned b = 0; b < BUCKETS; b++) {
    const size_t c = hist[b];
    if (c == n) trivial = 1;
    hist[b] = sum;
    sum += c;
  }
  return trivial;
}

int calib__radix_sort_u32(uint32_t *key, uint64_t *val, uint32_t *ktmp,
                          uint64_t *vtmp, size_t n, size_t *hist) {
  enum { NDIG = 3 };
  memset(hist, 0, NDIG * BUCKETS * sizeof *hist);
  for (size_t i = 0; i < n; i++) {
    const uint32_t k = key[i];
    hist[k & DIGIT_MASK]++;
    hist[BUCKETS + ((k >> 11) & DIGIT_MASK)]++;
    hist[2 * BUCKETS + (k >> 22)]++;
  }
  uint32_t *src = key, *dst = ktmp;
  uint64_t *vsrc = val, *vdst = vtmp;
  int in_tmp = 0;
  for (unsigned d = 0; d < NDIG; d++) {
    size_t *off = hist + d * BUCKETS;
    if (prefix_offsets(off, n)) continue;
    const unsigned shift = d * DIGIT_BITS;
    if (vsrc) {
      for (size_t i = 0; i < n; i++) {
        const size_t pos = off[(src[i] >> shift) & DIGIT_MASK]++;
        dst[pos] = src[i];
        vdst[pos] = vsrc[i];
      }
      uint64_t *vt = vsrc; vsrc = vdst; vdst = vt;
    } else {
      for (size_t i = 0; i < n; i++) dst[off[(src[i] >> shift) & DIGIT_MASK]++] = src[i];
    }
    uint32_t *t = src; src = dst; dst = t;
    in_tmp ^= 1;
  }
  return in_tmp;
}

/* One scatter pass of 64-bit keys by the digit at `shift`. */
static void scatter_u64(const uint64_t *src, uint64_t *dst, const uint64_t *vsrc, uint64_t *vdst,
                        size_t n, size_t *off, unsigned shift) {
  if (vsrc) {
    for (size_t i = 0; i < n; i++) {
      const uint64_t k = src[i];
      const size_t pos = off[(k >> shift) & DIGIT_MASK]++;
      dst[pos] = k;
      vdst[pos] = vsrc[i];
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      const uint64_t k = src[i];
      dst[off[(k >> shift) & DIGIT_MASK]++] = k;
    }
  }
}

int calib__radix_sort_u64(uint64_t *key, uint64_t *val, uint64_t *ktmp,
                          uint64_t *vtmp, size_t n, size_t *hist) {
  return calib__radix_sort_u64_bits(key, val, ktmp, vtmp, n, 64, hist);
}

int calib__radix_sort_u64_bits(uint64_t *key, uint64_t *val, uint64_t *ktmp,
                               uint64_t *vtmp, size_t n, unsigned key_bits, size_t *hist) {
  const unsigned ndig = key_bits >= 64 ? 6u : (key_bits + DIGIT_BITS - 1) / DIGIT_BITS;
  memset(hist, 0, 6 * BUCKETS * sizeof *hist);
  size_t *h0 = hist, *h1 = h0 + BUCKETS, *h2 = h1 + BUCKETS, *h3 = h2 + BUCKETS,
         *h4 = h3 + BUCKETS, *h5 = h4 + BUCKETS;
  if (ndig <= 3) {
    for (size_t i = 0; i < n; i++) {
      const uint64_t k = key[i];
      h0[k & DIGIT_MASK]++;
      h1[(k >> 11) & DIGIT_MASK]++;
      h2[(k >> 22) & DIGIT_MASK]++;
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      const uint64_t k = key[i];
      h0[k & DIGIT_MASK]++;
      h1[(k >> 11) & DIGIT_MASK]++;
      h2[(k >> 22) & DIGIT_MASK]++;
      h3[(k >> 33) & DIGIT_MASK]++;
      h4[(k >> 44) & DIGIT_MASK]++;
      h5[k >> 55]++;
    }
  }
  uint64_t *src = key, *dst = ktmp, *vsrc = val, *vdst = vtmp;
  int in_tmp = 0;
  for (unsigned d = 0; d < ndig; d++) {
    size_t *off = hist + d * BUCKETS;
    if (prefix_offsets(off, n)) continue;
    scatter_u64(src, dst, vsrc, vdst, n, off, d * DIGIT_BITS);
    uint64_t *t = src; src = dst; dst = t;
    if (vsrc) { t = vsrc; vsrc = vdst; vdst = t; }
    in_tmp ^= 1;
  }
  return in_tmp;
}
