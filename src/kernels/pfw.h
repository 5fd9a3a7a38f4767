/* pfw.h -- the large-output path of the x86 softmax kernels (kernels_avx2.c,
 * kernels_avx512.c, kernels_typed_avx2.c, kernels_typed_avx512.c), written
 * once: outputs of at least PFW_BYTES are written with ordinary stores into
 * cache lines prefetched PFW_AHEAD bytes ahead, a chunk of about PFW_CHUNK
 * bytes of whole row blocks at a time. kernels_avx512.c's drivers say why
 * (and what was measured); the constants were tuned there.
 *
 * The including file defines PFW_HINT first: _MM_HINT_ET0 (prefetchw) where
 * its unit is compiled with -mprfchw (AVX-512: every AVX-512 CPU has it),
 * _MM_HINT_T0 otherwise (AVX2 also runs on CPUs without PRFCHW). A macro,
 * not a parameter: _mm_prefetch needs an immediate even at -O0 (the clang
 * fuzz build). */
#ifndef CALIB_KERNELS_PFW_H
#define CALIB_KERNELS_PFW_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#ifndef PFW_HINT
#error "define PFW_HINT before including pfw.h"
#endif

#define PFW_BYTES ((size_t)4 << 20) /* outputs at least this big take this path */
#define PFW_CHUNK ((size_t)4096)    /* bytes of output rows per chunk */
#define PFW_AHEAD ((size_t)12288)   /* prefetch distance, bytes */

/* Lines [p, p + bytes) prefetched. The address is formed as an integer: it
 * may lie past the end of the output, which a prefetch tolerates. */
static inline __attribute__((always_inline)) void pfw_lines(uintptr_t p, size_t bytes) {
  for (size_t q = 0; q < bytes; q += 64) _mm_prefetch((const char *)(p + q), PFW_HINT);
}

/* Rows per chunk for rows of row_bytes (> 0) of output: about PFW_CHUNK
 * bytes, a whole number (>= 1) of the kernel's blocks of blk rows, so that
 * no row falls to a block's tail path. */
static inline size_t pfw_rows(size_t row_bytes, size_t blk) {
  const size_t fit = PFW_CHUNK / row_bytes;
  return fit < blk ? blk : fit - fit % blk;
}

#endif
