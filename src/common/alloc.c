/* alloc.c -- the library's only allocation point, with a fault-injection hook
 * for the out-of-memory tests. The firmware core (CALIB_CORE) has no heap:
 * every allocation fails there, and nothing on its paths allocates. */
#include "internal.h"
#include "checked.h"
#ifndef CALIB_CORE
#include <stdlib.h>
#endif

#ifdef CALIB_CORE
/* No heap and no hook state in the firmware core. */
size_t calib__alloc_fail_at(size_t nth, int sticky) {
  CALIB__UNUSED(nth);
  CALIB__UNUSED(sticky);
  return 0;
}
#else
static size_t alloc_count = 0;   /* allocations since the last hook call */
static size_t alloc_fail_nth = 0;
static int alloc_fail_sticky = 0;

/* The counter is atomic: fitters run concurrently (one per thread), and a
 * plain increment would be a data race even when no failure is armed. */
size_t calib__alloc_fail_at(size_t nth, int sticky) {
  const size_t c = __atomic_exchange_n(&alloc_count, 0, __ATOMIC_RELAXED);
  alloc_fail_nth = nth;
  alloc_fail_sticky = sticky;
  return c;
}

static int alloc_should_fail(void) {
  const size_t c = __atomic_add_fetch(&alloc_count, 1, __ATOMIC_RELAXED);
  if (alloc_fail_nth == 0) return 0;
  if (c == alloc_fail_nth) return 1;
  return alloc_fail_sticky && c > alloc_fail_nth;
}
#endif

void *calib__malloc(size_t size) {
#ifdef CALIB_CORE
  CALIB__UNUSED(size);
  return NULL; /* no heap in the firmware core */
#else
  if (alloc_should_fail()) return NULL;
  return malloc(size ? size : 1);
#endif
}

void *calib__calloc(size_t count, size_t size) {
  size_t bytes;
  if (!calib__size_mul(count, size, &bytes)) return NULL;
  void *p = calib__malloc(bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

void calib__free(void *p) {
#ifdef CALIB_CORE
  CALIB__UNUSED(p);
#else
  free(p);
#endif
}
