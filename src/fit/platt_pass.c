/* platt_pass.c -- block kernels of the Platt/beta Newton solver.
 *
 * Per row: u = th1 f1 + th2 f2 + b, e = exp(-|u|) (so nothing overflows for
 * scores of any scale), inv = 1 / (1 + e), P = sigmoid(u) = inv (u >= 0) or
 * e inv (u < 0), P (1 - P) = e inv^2, and
 *   t softplus(-u) + (1 - t) softplus(u) = max(u, 0) - t u + log1p(e).
 * The log1p terms of an unweighted block are summed as the log of the
 * product of the (1 + e), each in (1, 2]: at most 2^64 over a block, one log
 * instead of 64 (the rounding of 1 + e costs at most 1.1e-16 per row, as
 * log1p's own). Weighted blocks use log1p per row.
 *
 * The SIMD kernel (4 lanes, compiler vector extensions) takes e = exp(-|u|)
 * from the library's one vectorised double exp, calib__vexp_pd4
 * (src/kernels/vmath.h: branch-free, about 1 ulp, measured by test_vmath;
 * test_platt checks the kernels agree with the scalar oracle).
 */
#include "platt_pass.h"
#include "kernels.h"
#include "vmath.h"

#include <math.h>
#include <string.h>

/* ---- scalar oracle ------------------------------------------------------------ */

void calib__lr_kernel_scalar(const calib__lr_block *blk,
                             const calib__lr_bparams *p, calib__lr_bsums *out) {
  double lin = 0, linh = 0, lg = 0, prod = 1;
  double g[3] = {0, 0, 0}, h[6] = {0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < CALIB__LR_BLOCK; i++) {
    const double f1 = p->nfeat >= 1 ? blk->f1[i] : 0.0;
    const double f2 = p->nfeat >= 2 ? blk->f2[i] : 0.0;
    const double u = p->th1 * f1 + p->th2 * f2 + p->b, w = blk->w[i], y = blk->y[i];
    const double e = exp(-fabs(u)), inv = 1.0 / (1.0 + e);
    const double P = u >= 0 ? inv : e * inv, t = p->t0 + y * (p->t1 - p->t0);
    const double up = u > 0 ? u : 0.0;
    const double r = w * (P - t), s = w * (e * inv * inv);
    lin += w * (up - t * u);
    linh += w * (up - y * u);
    if (p->weighted) lg += w * log1p(e);
    else prod *= 1.0 + w * e;
    g[0] += r * f1; g[1] += r * f2; g[2] += r;
    h[0] += s * f1 * f1; h[1] += s * f1 * f2; h[2] += s * f1;
    h[3] += s * f2 * f2; h[4] += s * f2; h[5] += s;
  }
  if (!p->weighted) lg = log(prod);
  out->F = lin + lg;
  out->Fh = linh + lg;
  memcpy(out->g, g, sizeof g);
  memcpy(out->h, h, sizeof h);
}

/* ---- SIMD (compiler vector extensions) -------------------------------------- */
#if defined(__GNUC__) || defined(__clang__)
#define LR_SIMD 1
#define LR_W 4
typedef double lr_v __attribute__((vector_size(32)));
typedef long long lr_vi __attribute__((vector_size(32)));
typedef unsigned long long lr_vu __attribute__((vector_size(32)));
/* No vector is passed or returned by value (the helpers are macros or take
 * pointers), so the AVX calling-convention question never arises. */
#define V_LOAD(dst, ptr) memcpy(&(dst), (ptr), sizeof(lr_v))
#define V_SEL(m, a, b) ((lr_v)(((m) & (lr_vi)(a)) | (~(m) & (lr_vi)(b)))) /* m ? a : b */

#define LR_INLINE static inline __attribute__((always_inline))

LR_INLINE double v_sum(const lr_v *v) { return ((*v)[0] + (*v)[1]) + ((*v)[2] + (*v)[3]); }

/* *px = exp(*px) for *px <= 0: the shared vector exp (kernels/vmath.h). */
LR_INLINE void v_exp_neg(lr_v *px) { calib__vexp_pd4(px); }

typedef struct {
  lr_v lin, linh, prod, g[3], h[6];
} lr_vacc;

LR_INLINE void v_row(const calib__lr_block *blk, const calib__lr_bparams *p,
                     size_t i, size_t nfeat, lr_vacc *a, double *e_out) {
  const lr_v zero = {0, 0, 0, 0};
  lr_v f1 = zero, f2 = zero, y, w;
  if (nfeat >= 1) V_LOAD(f1, blk->f1 + i);
  if (nfeat >= 2) V_LOAD(f2, blk->f2 + i);
  V_LOAD(y, blk->y + i);
  V_LOAD(w, blk->w + i);
  const lr_v u = f1 * p->th1 + f2 * p->th2 + p->b;
  const lr_vi pos = u >= zero;
  lr_v e = V_SEL(pos, -u, u); /* -|u| */
  v_exp_neg(&e);
  const lr_v inv = 1.0 / (e + 1.0);
  const lr_v P = V_SEL(pos, inv, e * inv), t = y * (p->t1 - p->t0) + p->t0;
  const lr_v up = V_SEL(pos, u, zero); /* max(u, 0) */
  const lr_v r = w * (P - t), s = w * (e * inv * inv);
  a->lin += w * (up - t * u);
  a->linh += w * (up - y * u);
  if (p->weighted) memcpy(e_out + i, &e, sizeof e);
  else a->prod *= w * e + 1.0;
  a->g[2] += r;
  a->h[5] += s;
  if (nfeat >= 1) { a->g[0] += r * f1; a->h[0] += s * f1 * f1; a->h[2] += s * f1; }
  if (nfeat >= 2) {
    a->g[1] += r * f2; a->h[1] += s * f1 * f2;
    a->h[3] += s * f2 * f2; a->h[4] += s * f2;
  }
}

LR_INLINE void v_block(const calib__lr_block *blk, const calib__lr_bparams *p,
                       size_t nfeat, calib__lr_bsums *out) {
  const lr_v zero = {0, 0, 0, 0};
  lr_vacc a;
  double e[CALIB__LR_BLOCK];
  a.lin = a.linh = zero;
  a.prod = zero + 1.0;
  for (int j = 0; j < 3; j++) a.g[j] = zero;
  for (int j = 0; j < 6; j++) a.h[j] = zero;
  for (size_t i = 0; i < CALIB__LR_BLOCK; i += 2 * LR_W) { /* two independent rows of lanes */
    v_row(blk, p, i, nfeat, &a, e);
    v_row(blk, p, i + LR_W, nfeat, &a, e);
  }
  double lg = 0;
  if (p->weighted)
    for (size_t i = 0; i < CALIB__LR_BLOCK; i++) lg += blk->w[i] * log1p(e[i]);
  else
    lg = log((a.prod[0] * a.prod[1]) * (a.prod[2] * a.prod[3]));
  out->F = v_sum(&a.lin) + lg;
  out->Fh = v_sum(&a.linh) + lg;
  for (int j = 0; j < 3; j++) out->g[j] = v_sum(&a.g[j]);
  for (int j = 0; j < 6; j++) out->h[j] = v_sum(&a.h[j]);
}

void calib__lr_kernel_vec(const calib__lr_block *blk, const calib__lr_bparams *p,
                          calib__lr_bsums *out) {
  if (p->nfeat == 1) v_block(blk, p, 1, out);
  else if (p->nfeat == 2) v_block(blk, p, 2, out);
  else v_block(blk, p, 0, out);
}

#if defined(CALIB_HAVE_X86_KERNELS)
__attribute__((target("avx2,fma")))
void calib__lr_kernel_avx2(const calib__lr_block *blk, const calib__lr_bparams *p,
                           calib__lr_bsums *out) {
  if (p->nfeat == 1) v_block(blk, p, 1, out);
  else if (p->nfeat == 2) v_block(blk, p, 2, out);
  else v_block(blk, p, 0, out);
}
#endif
#endif /* vector extensions */

calib__lr_kernel calib__lr_kernel_get(void) {
  const char *isa = calib__kernels_get()->name;
  if (strcmp(isa, "scalar") == 0) return calib__lr_kernel_scalar;
#if defined(LR_SIMD) && defined(CALIB_HAVE_X86_KERNELS)
  if (strcmp(isa, "avx2") == 0 || strcmp(isa, "avx512") == 0) return calib__lr_kernel_avx2;
#endif
#if defined(LR_SIMD)
  return calib__lr_kernel_vec;
#else
  return calib__lr_kernel_scalar;
#endif
}
