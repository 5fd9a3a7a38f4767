/*
 * kernels.h -- the per-ISA kernel table (src/kernels/).
 *
 * One table per instruction set; the scalar table is always built and is the
 * oracle the others are tested against. dispatch.c chooses a table once
 * (cpuid + the CALIB_ISA environment variable; in the firmware build the table
 * is fixed at compile time) and records the choice.
 *
 * Kernels do no argument checking: the public wrappers in softmax.c validate
 * everything (NULL, strides, overlap, non-finite input) before calling them.
 * Kernels never allocate.
 */
#ifndef CALIB_KERNELS_H
#define CALIB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* A float at any byte address. The public API accepts float arrays at any
 * address, float-aligned or not (numpy and ctypes hand over byte-misaligned
 * ones, e.g. np.frombuffer(buf, np.float32, offset=1)). Plain C code reads and
 * writes caller arrays through this type, never by dereferencing a float *,
 * so the compiler assumes no alignment (no aligned vector instructions after
 * loop peeling; UBSan's alignment check holds); SIMD code uses unaligned
 * loads and stores only (no non-temporal stores). Pointers to it convert
 * implicitly to and from float *. */
#if defined(__GNUC__) || defined(__clang__)
typedef float calib__f32u __attribute__((aligned(1)));
#else
typedef float calib__f32u; /* other compilers: float-aligned arrays only */
#endif

typedef struct {
  const char *name; /* "scalar", "avx2", "avx512", "neon" */

  /* Returns CALIB_OK if every row is acceptable softmax input (no NaN, no
   * +inf, not all -inf), else CALIB_E_NONFINITE. Reads only, n >= 1. */
  int (*check_rows)(const float *x, size_t n, size_t k, size_t ldx);

  /* Row-wise softmax / log-softmax of beta*x. In place when y == x and
   * ldy == ldx. Input already validated. */
  void (*softmax)(const float *x, size_t n, size_t k, size_t ldx, float beta,
                  float *y, size_t ldy);
  void (*log_softmax)(const float *x, size_t n, size_t k, size_t ldx,
                      float beta, float *y, size_t ldy);

  /* y_i = sigmoid(beta*x_i), n contiguous; in place allowed; no NaN input. */
  void (*sigmoid)(const float *x, size_t n, float beta, float *y);

  /* Temperature-scaling moments at inverse temperature beta, for finite
   * logits (k >= 2), accumulated in double over the rows:
   *   acc[0] += w_i * (lse_i - beta*d_{i,y_i})          (NLL term)
   *   acc[1] += w_i * (E_i[d] - d_{i,y_i})              (dNLL/dbeta term)
   *   acc[2] += w_i * Var_i[d]                          (d2NLL/dbeta2 term)
   * where d_ij = x_ij - max_j x_ij, p_i = softmax(beta*d_i),
   * lse_i = log sum_j exp(beta*d_ij), E_i and Var_i are under p_i
   * (Var computed as E[(d - E d)^2], not E[d^2] - E[d]^2).
   * w == NULL means weight 1. exp/log in double precision. */
  void (*ts_moments)(const float *x, size_t n, size_t k, size_t ldx,
                     const int64_t *y, const double *w, double beta,
                     double acc[3]);

  /* CALIB_OK if every x_ij (i < n, j < k; the padding of ldx is never read)
   * is finite, else CALIB_E_NONFINITE (NaN, +inf or -inf anywhere). Reads
   * only; n == 0 or k == 0 is CALIB_OK. Used by calib__check_finite. */
  int (*check_finite)(const float *x, size_t n, size_t k, size_t ldx);

  /* Temperature-scaling pre-pass over finite logits (k >= 2, labels in
   * 0..k-1), one read of the data, no exp. Over the rows with w_i != 0
   * (w == NULL means weight 1):
   *   *g   = sum_i w_i (mean_j x_ij - x_{i,y_i})    (mean from a double sum)
   *   *sep = 1 if x_{i,y_i} >= max_j x_ij in every such row, else 0.
   * Row sums are accumulated in double from the float values (any order: the
   * ISAs agree with the scalar table to rounding of a double sum). */
  void (*ts_prepass)(const float *x, size_t n, size_t k, size_t ldx,
                     const int64_t *y, const double *w, double *g, int *sep);

  /* ts_moments with single-precision exponentials, for the temperature fit's
   * early iterations (about 3x cheaper; NOT for its convergence test): the
   * same three sums, computed as
   *   d_j = fl(x_j - m)                        (float subtraction)
   *   t_j = beta * d_j to float precision      (SIMD: beta split into two
   *                                             floats, one fma)
   *   e_j = float exp(t_j)                     (about 1 ulp; 0 below ~-120)
   *   s0 = sum e_j, s1 = sum e_j d_j, s2 = sum e_j d_j^2
   * with the products in float, the row sums in float over blocks (at most
   * 16 terms per float partial sum: 1024 / 256 / 128 entries per block on
   * AVX-512 / AVX2 / NEON) and in double across blocks (the scalar table: in
   * double throughout); then, in double, mu = s1/s0,
   * Var = max(0, s2/s0 - mu^2), lse = log(s0), d_{i,y_i} exact.
   * Each row's lse and mu are within about 1e-6 relative (of |mu| + the
   * row's spread) of ts_moments'; Var to about 1e-6 relative of E[d^2]
   * (raw-moment formula: use it for Newton steps only). Results may be
   * inf/NaN when float products overflow (|d| > ~1e19): callers fall back
   * to ts_moments. w as in ts_moments. */
  void (*ts_moments_fast)(const float *x, size_t n, size_t k, size_t ldx,
                          const int64_t *y, const double *w, double beta,
                          double acc[3]);

  /* Row-wise mode (calib_softmax_rows, calib_apply_rows): softmax of beta*x
   * with the validation fused into the row pass, so the input is read once.
   * A row is bad under check_rows' rule (a NaN or +inf entry, or every entry
   * -inf); a bad row's k outputs are all written as quiet NaN, a good row's
   * are those of the strict softmax kernel of the same table (bit-identical
   * on the SIMD paths that share the strict code; within the kernels'
   * documented tolerance otherwise). status (may be NULL): status[i] = 0 for
   * a good row, CALIB__ROW_BAD for a bad one, for i < n. *first_bad (not
   * NULL) = the lowest bad row index, n if none. Returns the number of bad
   * rows. In place when y == x and ldy == ldx. n >= 1, arguments checked by
   * the caller. */
  size_t (*softmax_rows)(const float *x, size_t n, size_t k, size_t ldx, float beta,
                         float *y, size_t ldy, uint8_t *status, size_t *first_bad);
  /* The same for log-softmax: a bad row's outputs are NaN, a good row's those
   * of the strict log_softmax kernel. */
  size_t (*log_softmax_rows)(const float *x, size_t n, size_t k, size_t ldx, float beta,
                             float *y, size_t ldy, uint8_t *status, size_t *first_bad);
  /* The same for sigmoid (k == 1, n contiguous floats): an entry is bad iff
   * it is NaN (+-inf are valid: 1 and 0); y_i = NaN for a bad entry. */
  size_t (*sigmoid_rows)(const float *x, size_t n, float beta, float *y, uint8_t *status,
                         size_t *first_bad);

  /* One row of probabilities r[0..k) (k >= 1, no NaN; fit_provenance.c's
   * Brier and top label): returns sum_j r_j^2 accumulated in double (any
   * order: the tables agree to rounding of a double sum; each square is exact
   * in double) and sets *top to the argmax, the first index on ties. May be
   * NULL (NEON): the caller then uses its own loop. */
  double (*prob_sumsq_argmax)(const float *r, size_t k, size_t *top);

  /* The temperature fit's first pass (k >= 2, labels in 0..k-1; w as in
   * ts_moments), one read of each row: check_finite over every row (those of
   * weight 0 included), then, over the rows of non-zero weight, ts_prepass'
   * *g and *sep and ts_moments' three sums at beta added to acc, the same
   * values as those two kernels of the same table give (a row's maximum is
   * taken once, by the pre-pass's loop). A row is finite iff its sum in
   * double is (k finite floats cannot overflow a double sum; a NaN or an
   * infinity makes it NaN or infinite). Returns CALIB_OK, or
   * CALIB_E_NONFINITE at the first row holding a NaN or infinite entry (acc,
   * g and sep are then unspecified). rec (may be NULL): the row records below
   * for every row, weight 0 included (fit_provenance.c's before metrics; on
   * CALIB_E_NONFINITE unspecified). NULL in the firmware core's scalar table
   * (no fitter there). */
  int (*ts_first)(const float *x, size_t n, size_t k, size_t ldx, const int64_t *y,
                  const double *w, double beta, double acc[3], double *g, int *sep, double *rec);

  /* The top label of probability rows (metrics/binned.c's one-pass top-label
   * calibration error): rows i = 0, 1, ... of p (n >= 1 rows of k >= 1
   * floats, row stride k), each entry read as its IEEE bits, an unsigned
   * integer. A row whose bits are all <= 0x3F800000 (+0 .. 1.0, which order
   * like their values) gets arg[i] = the first index of its maximum. At the
   * first row with an entry above (a value > 1, NaN, +-inf, a negative value
   * or -0.0) the kernel stops and returns that row's index (its arg[i] not
   * written), for the caller's exact path; n if there is none. Reads p only;
   * 1 <= k <= CALIB__TOP_MAX_K (32-bit index lanes). NULL where the table has
   * none (the caller's portable loop): scalar and NEON. */
  size_t (*top_label_rows)(const float *p, size_t n, size_t k, size_t *arg);
} calib__kernels;
/* top_label_rows' largest k: 2^31 - 16, so that j + 16 fits an int32 lane */
#define CALIB__TOP_MAX_K ((((size_t)1) << 31) - 16)

/* ts_first's row record: CALIB__TS_REC doubles for row i at rec + i *
 * CALIB__TS_REC. With e_j = exp(beta (x_ij - max_j x_ij)) in double as
 * ts_moments computes it: [0] sum_j e_j, [1] sum_j e_j^2 (any order), [2]
 * the label's exponent beta (x_{i,y_i} - max) (<= 0), [3] 1.0 if y_i is the
 * first index of the row's largest logit (the top label of the softmax, ties
 * to the first), else 0.0. So p_j = e_j / [0], -ln p_y = ln [0] - [2] (the
 * arithmetic of ts_moments' NLL), and the row's top probability is 1 / [0]
 * (its e is exp(0) = 1). */
#define CALIB__TS_REC 4

/* The status byte of a bad row in the row-wise kernels: the magnitude of
 * CALIB_E_NONFINITE (2). */
#define CALIB__ROW_BAD ((uint8_t)2)

/* Bookkeeping of the row-wise kernels (SIMD files): the caller's status
 * array (may be NULL), the number of bad rows so far and the lowest bad
 * index (initialised to n). */
typedef struct {
  uint8_t *st;
  size_t bad, first;
} calib__rstat;

/* Row i is good (bad == 0) or bad. */
static inline void calib__rstat_row(calib__rstat *rs, size_t i, int bad) {
  if (rs->st) rs->st[i] = bad ? CALIB__ROW_BAD : 0;
  if (bad) {
    rs->bad++;
    if (i < rs->first) rs->first = i;
  }
}

/* The count and first index of rows i0 .. i0+nr-1 (nr <= 32), bit q of mask
 * set iff row i0+q is bad (the status bytes are not written). */
static inline void calib__rstat_count(calib__rstat *rs, size_t i0, uint32_t mask) {
  if (!mask) return;
#if defined(__GNUC__) || defined(__clang__)
  const size_t q = (size_t)__builtin_ctz(mask);
  rs->bad += (size_t)__builtin_popcount(mask);
#else
  size_t q = 0;
  while (!((mask >> q) & 1u)) q++;
  for (uint32_t m = mask; m; m &= m - 1u) rs->bad++;
#endif
  if (i0 + q < rs->first) rs->first = i0 + q;
}

/* The same and the status bytes. */
static inline void calib__rstat_mask(calib__rstat *rs, size_t i0, uint32_t mask, size_t nr) {
  if (rs->st)
    for (size_t q = 0; q < nr; q++) rs->st[i0 + q] = (uint8_t)(((mask >> q) & 1u) * CALIB__ROW_BAD);
  calib__rstat_count(rs, i0, mask);
}

/* The chosen table (thread-safe; detection runs once). */
const calib__kernels *calib__kernels_get(void);
/* A specific table by name, or NULL if not built / not supported by this CPU.
 * For tests and benchmarks (compare every ISA with scalar). */
const calib__kernels *calib__kernels_by_name(const char *name);
/* Tests only (not in the firmware core): makes the table `name` the chosen
 * one, as CALIB_ISA=name would at the first call, so one test process can
 * drive the public entry points (calib_softmax, calib_apply, ...) through
 * every ISA in turn. Returns it, or NULL (nothing changed) when not built or
 * not supported by this CPU. Not for use while other threads call the library. */
const calib__kernels *calib__kernels_force(const char *name);

extern const calib__kernels calib__kernels_scalar;
#if defined(CALIB_HAVE_X86_KERNELS)
extern const calib__kernels calib__kernels_avx2;
extern const calib__kernels calib__kernels_avx512;
#endif
#if defined(CALIB_HAVE_NEON_KERNELS)
extern const calib__kernels calib__kernels_neon;
#endif

#endif /* CALIB_KERNELS_H */
