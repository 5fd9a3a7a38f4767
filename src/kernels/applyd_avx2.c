/* applyd_avx2.c -- applyd.h's row maps for AVX2 + FMA (4 doubles per vector),
 * the body in applyd_body.h; exp: vmath.h's calib__vexp_pd4. */
#include "vmath.h"
#include <immintrin.h>

#define W 4
typedef double VD __attribute__((vector_size(32)));
typedef float VF __attribute__((vector_size(16)));
typedef long long VI __attribute__((vector_size(32)));
#define LANE_IDX {0, 1, 2, 3}
/* the even / odd lanes of the pair (a, b): __builtin_shufflevector (clang, gcc >= 12),
 * __builtin_shuffle for older gcc (clang has no __builtin_shuffle) */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SHUF2(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#define EVENS(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6)
#define ODDS(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7)
#else
#define SHUF2(a, b, ...) __builtin_shuffle(a, b, (VI){__VA_ARGS__})
#define EVENS(a, b) __builtin_shuffle(a, b, (VI){0, 2, 4, 6})
#define ODDS(a, b) __builtin_shuffle(a, b, (VI){1, 3, 5, 7})
#endif
/* (a, b, c) of the W rows of three interleaved at p: three loads and six two-source permutes */
#define DEINT3(p, a, b, c)                                                  \
  do {                                                                      \
    const VD v0_ = ld_d(p), v1_ = ld_d((p) + W), v2_ = ld_d((p) + 2 * W);   \
    (a) = SHUF2(SHUF2(v0_, v1_, 0, 3, 6, 0), v2_, 0, 1, 2, 5);              \
    (b) = SHUF2(SHUF2(v0_, v1_, 1, 4, 7, 0), v2_, 0, 1, 2, 6);              \
    (c) = SHUF2(SHUF2(v0_, v1_, 2, 5, 0, 0), v2_, 0, 1, 4, 7);              \
  } while (0)
#define VEXP_DECL (void)0
#define VEXP(pv) calib__vexp_pd4(pv)
#define VEXP_LO(pv) VEXP(pv) /* no cheaper exp here: the full one */
/* a b + c, one rounding */
#define VFMA(a, b, c) (VD)_mm256_fmadd_pd((__m256d)(a), (__m256d)(b), (__m256d)(c))
/* any lane of a > b (ordered) */
#define VANY_GT(a, b) (_mm256_movemask_pd(_mm256_cmp_pd((__m256d)(a), (__m256d)(b), _CMP_GT_OQ)) != 0)
/* any lane of a == b */
#define VANY_EQ(a, b) (_mm256_movemask_pd(_mm256_cmp_pd((__m256d)(a), (__m256d)(b), _CMP_EQ_OQ)) != 0)
#define VRECIP(v) (1.0 / (v))
#define VCEIL(v) (VD)_mm256_round_pd((__m256d)(v), _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC)
#define VGATHER(base, vi) (VD)_mm256_i64gather_pd((base), (__m256i)(vi), 8)
/* base[vi] for vi in [0, 16): AVX2 has no two-source permute of doubles, a gather */
#define VTAB16(base, lo, hi, vi) ((void)(lo), (void)(hi), VGATHER(base, vi))
/* float -> double (exact): one vcvtps2pd (GCC 12 lowers __builtin_convertvector
 * of a whole vector to two half conversions, an extract and an insert) */
#define VCVT_PS(f) ((VD)_mm256_cvtps_pd((__m128)(f)))
#define TABLE_NAME calib__applyd_avx2
#define ISA_NAME "avx2"
#include "applyd_body.h"
