/* applyd_avx512.c -- applyd.h's row maps for AVX-512 (8 doubles per vector),
 * the body in applyd_body.h; exp: vmath.h's calib__exp8_pd (table-driven). */
#include "vmath.h"
#include <immintrin.h>

#define W 8
typedef double VD __attribute__((vector_size(64)));
typedef float VF __attribute__((vector_size(32)));
typedef long long VI __attribute__((vector_size(64)));
#define LANE_IDX {0, 1, 2, 3, 4, 5, 6, 7}
/* the even / odd lanes of the pair (a, b): __builtin_shufflevector (clang, gcc >= 12),
 * __builtin_shuffle for older gcc (clang has no __builtin_shuffle) */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SHUF2(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#define EVENS(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define ODDS(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
#else
#define SHUF2(a, b, ...) __builtin_shuffle(a, b, (VI){__VA_ARGS__})
#define EVENS(a, b) __builtin_shuffle(a, b, (VI){0, 2, 4, 6, 8, 10, 12, 14})
#define ODDS(a, b) __builtin_shuffle(a, b, (VI){1, 3, 5, 7, 9, 11, 13, 15})
#endif
/* (a, b, c) of the W rows of three interleaved at p: three loads and six two-source permutes
 * (three gathers of W lanes cost more: beta at k = 1000, bench_latency) */
#define DEINT3(p, a, b, c)                                                                     \
  do {                                                                                         \
    const VD v0_ = ld_d(p), v1_ = ld_d((p) + W), v2_ = ld_d((p) + 2 * W);                      \
    (a) = SHUF2(SHUF2(v0_, v1_, 0, 3, 6, 9, 12, 15, 0, 0), v2_, 0, 1, 2, 3, 4, 5, 10, 13);     \
    (b) = SHUF2(SHUF2(v0_, v1_, 1, 4, 7, 10, 13, 0, 0, 0), v2_, 0, 1, 2, 3, 4, 8, 11, 14);     \
    (c) = SHUF2(SHUF2(v0_, v1_, 2, 5, 8, 11, 14, 0, 0, 0), v2_, 0, 1, 2, 3, 4, 9, 12, 15);     \
  } while (0)
#define VEXP_DECL const calib__exp8_pd_tab vexp_tab_ = calib__exp8_pd_init()
#define VEXP(pv) (*(pv) = (VD)calib__exp8_pd((__m512d)*(pv), &vexp_tab_))
#define VEXP_LO(pv) (*(pv) = (VD)calib__exp8_pd_lo((__m512d)*(pv), &vexp_tab_))
/* A division: correctly rounded, and on this project's AVX-512 machines (AMD Zen 5,
 * full-width dividers) faster than rcp14 with two Newton steps (Platt at k = 1000:
 * 0.91 against 1.08 us per row, bench_latency). */
/* a b + c, one rounding */
#define VFMA(a, b, c) (VD)_mm512_fmadd_pd((__m512d)(a), (__m512d)(b), (__m512d)(c))
/* any lane of a > b (ordered) */
#define VANY_GT(a, b) (_mm512_cmp_pd_mask((__m512d)(a), (__m512d)(b), _CMP_GT_OQ) != 0)
/* any lane of a == b */
#define VANY_EQ(a, b) (_mm512_cmp_pd_mask((__m512d)(a), (__m512d)(b), _CMP_EQ_OQ) != 0)
#define VRECIP(v) (1.0 / (v))
#define VCEIL(v) (VD)_mm512_roundscale_pd((__m512d)(v), _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC)
#define VGATHER(base, vi) (VD)_mm512_i64gather_pd((__m512i)(vi), (base), 8)
/* base[vi] for vi in [0, 16) from the 16 doubles base[0 .. 16) held in lo, hi
 * (one two-source permute instead of a gather) */
#define VTAB16(base, lo, hi, vi) (VD)_mm512_permutex2var_pd((__m512d)(lo), (__m512i)(vi), (__m512d)(hi))
/* float -> double (exact): one vcvtps2pd (GCC 12 lowers __builtin_convertvector
 * of a whole vector to two half conversions, an extract and an insert) */
#define VCVT_PS(f) ((VD)_mm512_cvtps_pd((__m256)(f)))
#define TABLE_NAME calib__applyd_avx512
#define ISA_NAME "avx512"
#include "applyd_body.h"
