/* applyd.h -- SIMD row maps of calib_apply in double precision (x86-64).
 *
 * The apply maps of src/model/ compute in double and round once to float
 * (calib.h); these are the same maps with the exp of vmath.h (about 1 ulp in
 * double, test_vmath) instead of libm's, 8 (AVX-512) or 4 (AVX2) doubles per
 * vector, the reciprocal of a row sum taken once and multiplied (<= 1.5 ulp
 * in double before the rounding to float). Rows of k <= CALIB__APPLYD_MAX_K
 * only (their values are kept in a stack buffer); the model files fall back to
 * their scalar loops above that, for CALIB_ISA=scalar, in the firmware core,
 * and off x86-64. Inputs are already validated by the method's check; in
 * place (y == x) is safe (each row is read completely before it is written).
 * Compiled once per ISA from applyd_body.h (applyd_avx2.c, applyd_avx512.c).
 */
#ifndef CALIB_KERNELS_APPLYD_H
#define CALIB_KERNELS_APPLYD_H

#include "kernels.h"
#include <string.h>

#define CALIB__APPLYD_MAX_K 1024
/* beta_row_x's planar parameters (model/beta_planar.c): each of the three
 * arrays holds k values then zeros up to this stride, a multiple of 8 (and
 * so of every ISA's W) */
#define CALIB__BETA3_STRIDE(k) (((k) + 7) & ~(size_t)7)

/* An isotonic one-vs-rest model's search index (issue 12: the k = 1000 row's
 * dependent chains of gathers), built once per owned model by
 * model/isotonic_index.c and read by iso_rows_idx. Per class j, arrays of
 * kp >= k entries (padded to a multiple of CALIB__ISO_PAD with a harmless
 * table: off 0, m 1, bucket 0), contiguous so a vector of classes is one
 * load: the table's offset off, length m, last = off + m - 1, its ends
 * lo = x_0, hi = x_{m-1}, ylo = y_0, yhi = y_{m-1}; the bucket grid: ukey(v)
 * is v's order-preserving unsigned key (calib__iso_ukey; -0.0 keyed as +0.0,
 * so for non-NaN values key order is double order), and s with lo < s < hi
 * falls in bucket b = (ukey(s) - ukey(lo)) >> sh (s <= lo or NaN: bucket 0;
 * s >= hi: bucket nb - 1). Bucket b's record, 4 doubles at brec + 4 (boff + b):
 * the two thresholds after start (+inf where the range has fewer), then as
 * int64 bits the global index off + start and rem = end - start, where start
 * is the last table index with x <= the bucket's first key and end the last
 * with x <= its last key: the last index with x <= s lies in [start, end], and
 * is start plus the count of thresholds <= s among the next two when rem <= 2
 * (the grid is chosen so that it nearly always is: isotonic thresholds come
 * in close pairs, a block's two ends; model/isotonic_index.c), else found by
 * halving. The same index
 * as the full search, hence bit-identical values (test_isotonic_index).
 * Segment records, 4 doubles at rec + 4 t for each global threshold index t:
 * x_t, y_t, the slope (y_{t+1} - y_t) / (x_{t+1} - x_t) (0 at a table's last
 * t), 0. Both record arrays are 32-byte aligned. */
#define CALIB__ISO_PAD 32
typedef struct calib__iso_index {
  size_t kp;
  const long long *off, *m, *last, *uklo, *sh, *nbm1, *boff;
  const double *lo, *hi, *ylo, *yhi;
  const double *brec, *rec;
} calib__iso_index;

/* The order-preserving key: (bits | sign) ^ (v < 0 ? all ones : 0). */
static inline unsigned long long calib__iso_ukey(double v) {
  unsigned long long b;
  memcpy(&b, &v, sizeof b);
  return (b | 0x8000000000000000ull) ^ (v < 0.0 ? ~0ull : 0ull);
}

typedef struct {
  const char *name;
  /* vector scaling: y_j = softmax(w .* x + b)_j, k >= 2 finite logits */
  void (*vector_rows)(const double *w, const double *b, const calib__f32u *x, size_t n, size_t k,
                      calib__f32u *y);
  /* Platt one-vs-rest on logits (k >= 2): q_j = sigmoid(-(A_j x_j + B_j)),
   * ab[2j] = A_j, ab[2j+1] = B_j; y_j = q_j / sum q, or 1/k when the sum is 0 */
  void (*platt_rows)(const double *ab, const calib__f32u *x, size_t n, size_t k, calib__f32u *y);
  /* ETS (k >= 2, calib_softmax's input rules): y_j = w0 e^(beta d_j)/s1 +
   * w1 e^(d_j)/s2 + w2/k, d_j = x_j - max x */
  void (*ets_rows)(double beta, const double *w, const calib__f32u *x, size_t n, size_t k,
                   calib__f32u *y);
  /* the float64 softmax of each row (isotonic/histogram on logits; -inf allowed) */
  void (*softmax_rows)(const calib__f32u *x, size_t n, size_t k, calib__f32u *y);
  /* a = Wm (x - shift) + b for one row (Wm row-major k x k), doubles; the
   * products fused into the sums (fma: one rounding per term) */
  void (*matvec_row)(const double *Wm, const double *b, const calib__f32u *x, double shift, size_t k,
                     double *a);
  /* y = softmax(a) of k doubles (a is overwritten), rounded once to float */
  void (*softmax_store)(double *a, size_t k, calib__f32u *y);
  /* y_j = (float)(q_j / s), the division correctly rounded (rowmath.h's
   * one-vs-rest renormalisation, exactly as its scalar loop) */
  void (*div_store)(const double *q, size_t k, double s, calib__f32u *y);
  /* histogram binning, equal width, one-vs-rest (k >= 2, M >= 2 bins, every
   * p in [0, 1]): q_j = values[j M + b_j] with b_j the bin of p_j
   * (b/M < p <= (b+1)/M, 0 in bin 0: calib_bin_index's rule, against the
   * M + 1 edges e[b] = b/M the caller computed by division), then
   * y_j = q_j / sum q (divisions correctly rounded), or 1/k when the sum is 0.
   * p may equal y. */
  /* isotonic one-vs-rest (k >= 2): q_j = f_j(p_j), f_j the class-j table
   * (xs, ys: the tables back to back, cnt[j] >= 1 knots each, as doubles),
   * numpy.interp with clipping (isotonic_apply.c's eval_clip, lane for lane;
   * a lane whose interpolation is NaN -- an infinite slope -- takes the
   * scalar fallback fb(xs + off, ys + off, m, s)); then y_j = q_j / sum q
   * (correctly rounded divisions), or 1/k when the sum is 0. p may equal y. */
  void (*iso_rows)(const double *xs, const double *ys, const double *cnt, const calib__f32u *p, size_t n,
                   size_t k, calib__f32u *y, double (*fb)(const double *, const double *, size_t, double));
  /* beta on logits with exact features (k >= 2; beta_apply.c's map): per row
   * m = max, jmax its first index, d = logsumexp of the others minus m (the
   * caller's calib__beta_row_info), abc = k x (a, b, c); q_j = sigmoid(a_j ls_j -
   * b_j l1s_j + c_j) with ls_j = z_j - m - softplus(d), l1s_j = log1p(-e^ls_j)
   * (j != jmax; jmax: ls = -softplus(d), l1s = -softplus(-d), passed in);
   * then y = q / sum q (correctly rounded divisions) or 1/k when the sum is 0.
   * One row. log1p(-s): where every s of a vector is <= 2^-5, a degree-2
   * series (1.84e-9 relative); else fdlibm's log kernel on 1 - s plus the
   * rounding correction (1.44 ulp); test_beta's test_log1p_neg. */
  void (*beta_row)(const double *abc, const calib__f32u *x, size_t k, double m, size_t jmax, double spd,
                   double ls_max, double l1s_max, calib__f32u *y);
  /* sum over j != jskip of exp(x_j - m2), x finite, m2 >= every such x_j */
  double (*sum_exp_excl)(const calib__f32u *x, size_t k, size_t jskip, double m2);
  void (*hist_ew_rows)(const double *values, size_t M, const double *e, const calib__f32u *p, size_t n,
                       size_t k, calib__f32u *y);
  /* matvec_row with W given as float32 values (the model's float copy of a
   * float-exact W, model/matrix_apply.c): each W value widened exactly to
   * double, then the same double products in the same order, so a is
   * bit-identical to matvec_row on the same values; half the bytes read. */
  void (*matvec_row_f32)(const float *Wm, const double *b, const calib__f32u *x, double shift, size_t k,
                         double *a);
  /* beta_row with the row's summary taken inside (m, jmax, d as above,
   * d = ln S, S = sum_{j != jmax} e^(z_j - m) around m itself), e^ls_j =
   * e^(z_j - m) / (1 + S) from the sum's exps, and y = q times the
   * reciprocal of sum q (as the other rows here); returns 0, or 1 with y
   * unwritten when S is below 2^-900 (the caller's summary, around the
   * others' maximum, keeps such rows exact), or 2 with y unwritten when some
   * x_j is NaN or +-inf (checked in its widening pass, so that a caller
   * with one row need not scan it first: model/beta_apply.c). Its two exps
   * (e^(z_j - m) and the sigmoid's) are VEXP_LO's: on AVX-512 calib__exp8_pd_lo (1.6e-9
   * relative), so each y_j is within 3.3e-9 (1 + max_j a_j + 2 max_j b_j)
   * relative of the exact map before its one rounding to float32 (about 1 %
   * of outputs one ulp from the correctly rounded float at k = 1000,
   * test_beta's test_planar); on AVX2 the full exp (about 1e-12, the series).
   * abc3: the same parameters as three planar arrays of
   * CALIB__BETA3_STRIDE(k) (the model's beta3: plain loads instead of
   * de-interleaving abc), or NULL; the values are the same either way, bit
   * for bit. */
  int (*beta_row_x)(const double *abc, const double *abc3, const calib__f32u *x, size_t k, calib__f32u *y);
  /* tests: y_i = log1p(-s_i), s_i in [0, 1/2], as beta_row_x computes it
   * (W at a time, the tail padded with 0: the series when all W are <= 2^-5,
   * else fdlibm's kernel) */
  void (*log1p_neg_n)(const double *s, size_t n, double *y);
  /* provenance of a binary fit (fit_provenance.c, k == 1), n rows of
   * P(y = 1) = p_i in [0, 1] with labels y_i in {0, 1}: the NLL term t_i =
   * -ln p_i (y_i = 1) or -log1p(-p_i) (+inf where p_i is 0 or 1 against its
   * label, as libm), and the bins of the confidence max(p_i, 1 - p_i) among
   * the edges ee[0 .. me] (be_i) and er[0 .. mr] (br_i; me, mr <= 255): the
   * number of edges e[1 .. M) below it, calib_bin_index's bin when e[b] is
   * b/M. The log: fdlibm's kernel on w = p or w = 1 - p rounded, its
   * rounding error taken out to first order (as beta_row's log1p); within
   * 2 ulp of libm (test_provenance compares the sums with calib_nll). */
  void (*bin_prov_rows)(const calib__f32u *p, const int64_t *y, size_t n, const double *ee, size_t me,
                        const double *er, size_t mr, double *t, unsigned char *be, unsigned char *br);
  /* iso_rows through the model's search index (calib__iso_index above):
   * the same q_j (the same table index, the same interpolation and fallback
   * fb), the same renormalisation; ix->kp >= k. */
  void (*iso_rows_idx)(const calib__iso_index *ix, const double *xs, const double *ys, const calib__f32u *p,
                       size_t n, size_t k, calib__f32u *y,
                       double (*fb)(const double *, const double *, size_t, double));
  /* The matrix family's row pass (fit_matrix/mx_softmax.c, calib__mx_rows_fn):
   * each of the m rows of k doubles (finite or +-inf) becomes wt_i softmax(a_i)
   * in place; returns sum_i wt_i (max_i + log(sum_j e^(a_ij - max_i)) - a_{i,y_i}),
   * HUGE_VAL at once for a row whose maximum is not finite. The exp is this
   * table's (AVX-512: calib__exp8_pd, 8 lanes, ten FMA-port operations;
   * mx_softmax.c's own vector loop has the degree-13 calib__vexp_pd4 on 4). */
  double (*nll_rows)(double *Q, size_t m, size_t k, const int64_t *y, const double *wt);
} calib__applyd;

/* The table of the dispatched ISA (calib__kernels_get), or NULL (scalar,
 * NEON, firmware core: the callers keep their libm loops). */
const calib__applyd *calib__applyd_get(void);
/* What the model files call: NULL at compile time where no table is built. */
#if defined(CALIB_HAVE_X86_KERNELS) && !defined(CALIB_CORE)
#define CALIB__APPLYD() calib__applyd_get()
#else
#define CALIB__APPLYD() ((const calib__applyd *)0)
#endif

#endif
