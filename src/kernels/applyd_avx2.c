/* applyd_avx2.c -- applyd.h's row maps for AVX2 + FMA (4 doubles per vector),
 * the body in applyd_body.h; exp: vmath.h's calib__vexp_pd4. */
#include "vmath.h"
#include <immintrin.h>

#define W 4
typedef double VD __attribute__((vector_size(32)));
typedef float VF __attribute__((vector_size(16)));
typedef long long VI __attribute__((vector_size(32)));
#define LANE_IDX {0, 1, 2, 3}
#define EVEN_IDX {0, 2, 4, 6}
#define ODD_IDX {1, 3, 5, 7}
#define VEXP_DECL (void)0
#define VEXP(pv) calib__vexp_pd4(pv)
#define VRECIP(v) (1.0 / (v))
#define VCEIL(v) (VD)_mm256_round_pd((__m256d)(v), _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC)
#define VGATHER(base, vi) (VD)_mm256_i64gather_pd((base), (__m256i)(vi), 8)
#define TABLE_NAME calib__applyd_avx2
#define ISA_NAME "avx2"
#include "applyd_body.h"
