/*
 * checked.h -- overflow-checked size arithmetic: the one helper every size
 * product and sum in libcalib goes through (issue 10: "every size product is
 * overflow-checked through one helper"). Header-only, no stdio, no heap: the
 * firmware core compiles it.
 *
 *   calib__size_mul(a, b, &r)    r = a * b; returns 0 and leaves r untouched on overflow
 *   calib__size_mul3(a, b, c, &r)
 *   calib__size_add(a, b, &r)    r = a + b; 0 on overflow
 *   calib__size_bytes(count, elem, &r)  count * elem bytes, also refusing
 *                                results above CALIB__MAX_ALLOC (so a size
 *                                that fits size_t but not any address space,
 *                                or ptrdiff_t, is refused before malloc)
 *
 * Each returns 1 when the result is representable (and stored), 0 otherwise.
 */
#ifndef CALIB_CHECKED_H
#define CALIB_CHECKED_H

#include <stddef.h>
#include <stdint.h>

/* The largest single allocation libcalib asks for: PTRDIFF_MAX (pointer
 * differences inside one object must be representable). */
#define CALIB__MAX_ALLOC ((size_t)PTRDIFF_MAX)

static inline int calib__size_mul(size_t a, size_t b, size_t *r) {
  if (a != 0 && b > SIZE_MAX / a) return 0;
  *r = a * b;
  return 1;
}

static inline int calib__size_add(size_t a, size_t b, size_t *r) {
  if (b > SIZE_MAX - a) return 0;
  *r = a + b;
  return 1;
}

static inline int calib__size_mul3(size_t a, size_t b, size_t c, size_t *r) {
  size_t t;
  return calib__size_mul(a, b, &t) && calib__size_mul(t, c, r);
}

static inline int calib__size_bytes(size_t count, size_t elem, size_t *r) {
  size_t t;
  if (!calib__size_mul(count, elem, &t) || t > CALIB__MAX_ALLOC) return 0;
  *r = t;
  return 1;
}

#endif /* CALIB_CHECKED_H */
