/* alloc.c -- the library's only allocation point, with a fault-injection hook
 * for the out-of-memory tests. The firmware core (CALIB_CORE) has no heap:
 * every allocation fails there, and nothing on its paths allocates. */
#include "internal.h"
#ifndef CALIB_CORE
#include <stdlib.h>
#endif

static size_t alloc_count = 0;   /* allocations since the last hook call */
static size_t alloc_fail_nth = 0;
static int alloc_fail_sticky = 0;

size_t calib__alloc_fail_at(size_t nth, int sticky) {
  size_t c = alloc_count;
  alloc_count = 0;
  alloc_fail_nth = nth;
  alloc_fail_sticky = sticky;
  return c;
}

static int alloc_should_fail(void) {
  alloc_count++;
  if (alloc_fail_nth == 0) return 0;
  if (alloc_count == alloc_fail_nth) return 1;
  return alloc_fail_sticky && alloc_count > alloc_fail_nth;
}

void *calib__malloc(size_t size) {
  if (alloc_should_fail()) return NULL;
#ifdef CALIB_CORE
  CALIB__UNUSED(size);
  return NULL;
#else
  return malloc(size ? size : 1);
#endif
}

void *calib__calloc(size_t count, size_t size) {
  if (size && count > (size_t)-1 / size) return NULL;
  void *p = calib__malloc(count * size);
  if (p) memset(p, 0, count * size);
  return p;
}

void calib__free(void *p) {
#ifdef CALIB_CORE
  CALIB__UNUSED(p);
#else
  free(p);
#endif
}
