/* sort.h -- order-preserving integer keys of floats and LSD radix sorts
 * (src/common/sort.c), used by isotonic regression, histogram binning and the
 * sorted metrics (KS, MMCE, equal-mass bins).
 *
 * Keys: calib__f32_key / calib__f64_key map a finite float to an unsigned
 * integer with the same order (a < b  <=>  key(a) < key(b)); -0.0 is mapped
 * to the key of +0.0, so equal values (as == sees them) have equal keys.
 * The *_from_key functions invert the map (giving +0.0 for either zero).
 *
 * Sorts: least-significant-digit radix sorts with 11-bit digits (2048
 * buckets), stable, O(n) per pass. One read pass builds every digit's
 * histogram; a pass whose digit is the same for every key is skipped (for
 * float32 values widened to double, the low mantissa digits cost nothing).
 * The sorts ping-pong between the caller's arrays and the caller's scratch
 * arrays of the same length and return which pair holds the result. They do
 * not allocate. */
#ifndef CALIB_COMMON_SORT_H
#define CALIB_COMMON_SORT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t calib__f32_key(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  u = u == 0x80000000u ? 0u : u;                      /* -0 -> +0 */
  return u ^ ((0u - (u >> 31)) | 0x80000000u);        /* flip all if negative, else the sign */
}

static inline float calib__f32_from_key(uint32_t k) {
  const uint32_t u = k ^ (((k >> 31) - 1u) | 0x80000000u);
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

static inline uint64_t calib__f64_key(double x) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  u = u == 0x8000000000000000ull ? 0ull : u;
  return u ^ ((0ull - (u >> 63)) | 0x8000000000000000ull);
}

static inline double calib__f64_from_key(uint64_t k) {
  const uint64_t u = k ^ (((k >> 63) - 1ull) | 0x8000000000000000ull);
  double x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* Entries of the histogram scratch the sorts need (6 digits x 2048). */
#define CALIB__RADIX_HIST (6u * 2048u)

/* Sorts n 32-bit keys ascending, stably, carrying val[i] (64-bit payload)
 * with key[i] when val != NULL (then vtmp must be non-NULL too). ktmp (and
 * vtmp) are scratch arrays of n entries, hist one of CALIB__RADIX_HIST.
 * Returns 0 if the sorted result is in (key, val), 1 if in (ktmp, vtmp). */
int calib__radix_sort_u32(uint32_t *key, uint64_t *val, uint32_t *ktmp,
                          uint64_t *vtmp, size_t n, size_t *hist);

/* The same for 64-bit keys. */
int calib__radix_sort_u64(uint64_t *key, uint64_t *val, uint64_t *ktmp,
                          uint64_t *vtmp, size_t n, size_t *hist);
/* The same for 64-bit keys of which only the low key_bits bits may be
 * non-zero (fewer bits, fewer passes and a cheaper histogram). */
int calib__radix_sort_u64_bits(uint64_t *key, uint64_t *val, uint64_t *ktmp,
                               uint64_t *vtmp, size_t n, unsigned key_bits, size_t *hist);

#endif
