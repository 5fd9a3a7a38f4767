/* platt_pass.h -- the per-block kernel of the Platt/beta Newton solver
 * (src/fit/platt_pass.c): objective, gradient and Hessian sums of one block
 * of rows, in a scalar version (the oracle: libm exp/log1p) and a SIMD one
 * (portable compiler vector extensions; an AVX2 clone chosen at run time on
 * x86-64, following the library's kernel dispatch and CALIB_ISA). */
#ifndef CALIB_PLATT_PASS_H
#define CALIB_PLATT_PASS_H

#include <stddef.h>

#define CALIB__LR_BLOCK 64

/* One block of rows, padded to CALIB__LR_BLOCK: rows past the end have
 * w = 0 (and any finite features). f2 is read only when nfeat == 2. */
typedef struct {
  double f1[CALIB__LR_BLOCK], f2[CALIB__LR_BLOCK];
  double y[CALIB__LR_BLOCK]; /* 0/1 label */
  double w[CALIB__LR_BLOCK]; /* row weight; 0/1 (valid row) when !weighted */
} calib__lr_block;

typedef struct {
  double th1, th2, b;   /* u = th1 f1 + th2 f2 + b (unused features: th = 0) */
  double t0, t1;        /* targets of label 0 / label 1 */
  size_t nfeat;         /* 0, 1 or 2 */
  int weighted;         /* 0: w is 0/1 and sum log1p(e) = log prod(1 + e) */
} calib__lr_bparams;

/* Block sums, with t = t0 + y (t1 - t0), P = sigmoid(u), r = w (P - t),
 * s = w P (1 - P):
 *   F  = sum w [t softplus(-u) + (1 - t) softplus(u)]   (the objective)
 *   Fh = the same with t replaced by y                   (the 0/1-label NLL)
 *   g  = (sum r f1, sum r f2, sum r)
 *   h  = (sum s f1 f1, sum s f1 f2, sum s f1, sum s f2 f2, sum s f2, sum s) */
typedef struct {
  double F, Fh, g[3], h[6];
} calib__lr_bsums;

typedef void (*calib__lr_kernel)(const calib__lr_block *blk,
                                 const calib__lr_bparams *p,
                                 calib__lr_bsums *out);

/* The kernel for this CPU: AVX2 when the library's kernel dispatch chose
 * avx2/avx512, the scalar oracle when it chose scalar (CALIB_ISA=scalar),
 * else the portable SIMD version (or scalar without vector extensions). */
calib__lr_kernel calib__lr_kernel_get(void);
/* The individual kernels, for tests: the scalar oracle always; the portable
 * SIMD one where the compiler has vector extensions (CALIB__LR_HAVE_VEC);
 * the AVX2 clone on x86-64 builds (CALIB__LR_HAVE_AVX2; call it only on a
 * CPU with AVX2 and FMA). */
void calib__lr_kernel_scalar(const calib__lr_block *blk,
                             const calib__lr_bparams *p, calib__lr_bsums *out);
#if defined(__GNUC__) || defined(__clang__)
#define CALIB__LR_HAVE_VEC 1
void calib__lr_kernel_vec(const calib__lr_block *blk, const calib__lr_bparams *p,
                          calib__lr_bsums *out);
#if defined(CALIB_HAVE_X86_KERNELS)
#define CALIB__LR_HAVE_AVX2 1
void calib__lr_kernel_avx2(const calib__lr_block *blk, const calib__lr_bparams *p,
                           calib__lr_bsums *out);
#endif
#endif

#endif
