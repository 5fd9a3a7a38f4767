/* alloc.c -- the library's only allocation point, with a fault-injection hook
 * for the out-of-memory tests. The firmware core (CALIB_CORE) has no heap:
 * every allocation fails there, and nothing on its paths allocates.
 *
 * Large blocks on Linux (>= HUGE_MIN) are aligned to 2 MiB and advised as
 * transparent huge pages (madvise MADV_HUGEPAGE; the distributions' default
 * THP mode is "madvise", so without the advice every 4 KiB page faults on its
 * own): on these VMs the first write of fresh 4 KiB pages ran at 0.31-0.37
 * GB/s, of advised huge pages at 3.8-11 GB/s (and memset on them afterwards
 * at 36 GB/s instead of 22: fewer TLB misses). A matrix-scaling fit at
 * (50000, 100) first-touches ~150 MB of its own buffers; the page faults were
 * 8 % of its time. The advice is best effort: where it fails (kernel without
 * THP, THP "never"), the block is an ordinary one. */
#if !defined(CALIB_CORE) && defined(__linux__) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE, posix_memalign under -std=c99 */
#endif
#include "internal.h"
#include "checked.h"
#ifndef CALIB_CORE
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#endif

#if !defined(CALIB_CORE) && defined(__linux__) && defined(MADV_HUGEPAGE)
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_MIN ((size_t)4 << 20)
/* size >= HUGE_MIN bytes at a 2 MiB boundary, advised as huge pages; NULL if
 * the aligned allocation fails (the caller then tries plain malloc). */
static void *huge_alloc(size_t size) {
  void *p = NULL;
  if (posix_memalign(&p, HUGE_PAGE, size) != 0) return NULL;
  (void)madvise(p, size & ~(HUGE_PAGE - 1), MADV_HUGEPAGE); /* advice only */
  return p;
}
#elif !defined(CALIB_CORE)
#define HUGE_MIN ((size_t)-1)
static void *huge_alloc(size_t size) {
  CALIB__UNUSED(size);
  return NULL;
}
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
  if (size >= HUGE_MIN) {
    void *p = huge_alloc(size);
    if (p) return p;
  }
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
