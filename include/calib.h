/*
 * calib.h -- libcalib, post-hoc calibration of classifier scores.
 *
 * One header: this file is the manual. Every function states what it computes,
 * the layout and units of its arguments, who owns what, its thread-safety and
 * each error it returns.
 *
 * Conventions that hold for every function below
 * -----------------------------------------------
 * - Data are row-major float32 arrays of n rows and k columns. k >= 2 means a
 *   multiclass problem (one logit per class); k == 1 means a binary problem:
 *   one log-odds score per row, and the output is P(y = 1).
 * - Labels are int64_t class indices 0..k-1 (0/1 when k == 1), numpy's and
 *   torch's default integer type, so bindings pass them without a copy.
 * - Counts are size_t. Scalars, parameters and every accumulation are double.
 * - Status: every function that can fail returns an int, 0 (CALIB_OK) on
 *   success and one of the negative CALIB_E_* codes below otherwise. The codes
 *   are stable across versions. calib_strerror() names them. There is no
 *   global "last error".
 * - A failed call writes nothing: an out-pointer (calib_model **out, ...) stays
 *   untouched (NULL if you initialised it so), and output buffers are left
 *   exactly as they were. Inputs are validated in full before the first write.
 * - *_free(NULL) is a no-op.
 * - Thread-safety: a calib_model is immutable once made; every function taking
 *   a const calib_model * may be called from any number of threads at once on
 *   the same model. A calib_fitter is mutable: one per thread.
 * - The apply path (calib_apply, calib_softmax, ...) never allocates, never
 *   locks, never calls BLAS and keeps no pointer to caller data.
 */
#ifndef CALIB_H
#define CALIB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Export and attribute macros ----------------------------------------- */
#if defined(CALIB_BUILDING_LIBRARY) && defined(__GNUC__)
#  define CALIB_API __attribute__((visibility("default")))
#else
#  define CALIB_API
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define CALIB_NODISCARD __attribute__((warn_unused_result))
#else
#  define CALIB_NODISCARD
#endif

/* ---- Version ---------------------------------------------------------------
 * The macros give the version this header belongs to; the functions give the
 * version of the library actually linked (compare them to catch a stale .so).
 */
#define CALIB_VERSION_MAJOR 0
#define CALIB_VERSION_MINOR 1
#define CALIB_VERSION_PATCH 0
#define CALIB_VERSION_NUMBER \
  (CALIB_VERSION_MAJOR * 10000 + CALIB_VERSION_MINOR * 100 + CALIB_VERSION_PATCH)
#define CALIB_VERSION_STRING "0.1.0"

/*! calib_version_number() : MAJOR*10000 + MINOR*100 + PATCH of the linked library. */
CALIB_API unsigned calib_version_number(void);
/*! calib_version_string() : "MAJOR.MINOR.PATCH" of the linked library (static string). */
CALIB_API const char *calib_version_string(void);

/* ---- Status codes (stable values) ---------------------------------------- */
#define CALIB_OK              0
#define CALIB_E_ARG          -1  /* NULL pointer, bad size/stride/option value      */
#define CALIB_E_NONFINITE    -2  /* NaN or infinity where a finite value is needed  */
#define CALIB_E_LABEL        -3  /* label outside 0..k-1 (0/1 when k == 1)          */
#define CALIB_E_ONECLASS     -4  /* every (weighted) label is the same class        */
#define CALIB_E_NOMEM        -5  /* an allocation failed                            */
#define CALIB_E_SMALLBUF     -6  /* caller buffer too small                          */
#define CALIB_E_FORMAT       -7  /* model bytes truncated, corrupted or unknown      */
#define CALIB_E_NOCONV       -8  /* solver did not reach its tolerance               */
#define CALIB_E_UNSUPPORTED  -9  /* method/option not available in this build       */
#define CALIB_E_IO          -10  /* a file could not be read or written             */
#define CALIB_E_SEPARABLE   -11  /* optimum at infinity: data perfectly separated   */
#define CALIB_E_NOSIGNAL    -12  /* scores carry no positive signal (T* <= 0)       */
#define CALIB_E_SHAPE       -13  /* k of the data differs from the model's k        */
#define CALIB_E_EMPTY       -14  /* n == 0 where at least one row is needed         */
#define CALIB_E_DOMAIN      -15  /* value outside its domain (probability not in [0,1], weight < 0) */

/*! calib_strerror() :
 *  A static, human-readable English description of a status code; never NULL
 *  (unknown codes give "unknown error"). Thread-safe. */
CALIB_API const char *calib_strerror(int status);

/* ---- The softmax core ------------------------------------------------------
 * Runtime-dispatched SIMD kernels (AVX-512, AVX2, NEON, scalar). The path is
 * chosen once, on first use, from the CPU; the environment variable
 * CALIB_ISA=scalar|avx2|avx512|neon forces one (an unknown or unsupported
 * value is ignored: detection decides). All paths agree with a float64
 * reference to 1e-6 absolute / 2e-6 relative per probability (tested).
 *
 * Shared arguments:
 *   x, n, k, ldx : input rows; row i starts at x + i*ldx. ldx >= k, or 0 for k.
 *   beta         : inverse temperature multiplying every logit, finite, > 0.
 *   y, ldy       : output rows, same shape; ldy >= k, or 0 for k. In place is
 *                  allowed with y == x and ldy == ldx; any other overlap of
 *                  the two arrays is CALIB_E_ARG.
 * Input rules: NaN or +inf anywhere, or a row whose entries are all -inf,
 * is CALIB_E_NONFINITE and nothing is written. -inf entries (masked classes)
 * are allowed and give probability 0. n == 0 is a successful no-op.
 * Errors: CALIB_E_ARG (NULL with n > 0, k == 0, ld < k, bad beta, overlap),
 *         CALIB_E_NONFINITE.
 * Thread-safe, no allocation. Padding columns (k..ld-1) are never touched.
 */

/*! calib_softmax() : y_ij = exp(beta*x_ij - max_j beta*x_ij) / sum_j (...) */
CALIB_API int calib_softmax(const float *x, size_t n, size_t k, size_t ldx,
                            float beta, float *y, size_t ldy);

/*! calib_log_softmax() : y_ij = beta*x_ij - logsumexp_j(beta*x_ij), computed
 *  as (beta*x_ij - m) - log(sum exp(beta*x_ij - m)) with m the row maximum. */
CALIB_API int calib_log_softmax(const float *x, size_t n, size_t k, size_t ldx,
                                float beta, float *y, size_t ldy);

/*! calib_sigmoid() : y_i = 1 / (1 + exp(-beta*x_i)) for n contiguous floats
 *  (the k == 1 case). -inf gives 0 and +inf gives 1; NaN is CALIB_E_NONFINITE
 *  with nothing written. In place (y == x) allowed; other overlap: CALIB_E_ARG. */
CALIB_API int calib_sigmoid(const float *x, size_t n, float beta, float *y);

/*! calib_isa() : name of the kernel path in use: "scalar", "avx2", "avx512"
 *  or "neon" (static string). Performs the one-time detection if needed. */
CALIB_API const char *calib_isa(void);

/* ---- Methods ---------------------------------------------------------------
 * Method identifiers (stable values). Not every method is in every build:
 * calib_fitter_create() returns CALIB_E_UNSUPPORTED for one that is not.
 */
#define CALIB_METHOD_TEMPERATURE 1  /* Guo et al. 2017: softmax(z / T), one T   */
#define CALIB_METHOD_PLATT       2  /* Platt 1999, Lin-Lin-Weng 2007            */
#define CALIB_METHOD_BETA        3  /* Kull, Silva Filho & Flach 2017           */
#define CALIB_METHOD_ISOTONIC    4  /* Zadrozny & Elkan 2002, PAV              */
#define CALIB_METHOD_HISTOGRAM   5  /* Zadrozny & Elkan 2001                    */
#define CALIB_METHOD_VECTOR      6  /* Guo et al. 2017: softmax(w*z + b)        */
#define CALIB_METHOD_MATRIX      7  /* Guo et al. 2017: softmax(W z + b)        */
#define CALIB_METHOD_DIRICHLET   8  /* Kull et al. 2019: softmax(W ln p + b)    */
#define CALIB_METHOD_ETS         9  /* Zhang, Kailkhura & Han 2020              */

/*! calib_method_name() : "temperature", "platt", ... for a method id; NULL if unknown. */
CALIB_API const char *calib_method_name(int method);
/*! calib_method_from_name() : the id for a name as above; CALIB_E_ARG if unknown or NULL. */
CALIB_API int calib_method_from_name(const char *name);

/* ---- Fitter ----------------------------------------------------------------
 * A calib_fitter holds a method, its options and reusable scratch memory. It
 * is mutable and not thread-safe: use one per thread. Fitting allocates; the
 * model it returns is independent of the fitter (free them in any order).
 */
typedef struct calib_fitter calib_fitter;
/* An immutable fitted map. See calib_apply(). */
typedef struct calib_model calib_model;

/*! calib_fitter_create() :
 *  *out receives a new fitter for `method` with every option at its default.
 *  The caller owns it: release with calib_fitter_free().
 *  Errors: CALIB_E_ARG (out NULL or unknown method), CALIB_E_UNSUPPORTED
 *  (method not built in), CALIB_E_NOMEM. */
CALIB_NODISCARD CALIB_API int calib_fitter_create(calib_fitter **out, int method);
/*! calib_fitter_free() : releases f; NULL is a no-op. */
CALIB_API void calib_fitter_free(calib_fitter *f);
/*! calib_fitter_method() : the method id of f, or CALIB_E_ARG if f is NULL. */
CALIB_API int calib_fitter_method(const calib_fitter *f);

/* Options (calib_fitter_set / _get / calib_param_bounds). Integer-valued
 * options are passed as doubles holding an integer.
 *   CALIB_P_MAX_ITER  : maximum solver iterations. Temperature: Newton steps,
 *                       default 100, range [1, 10000].
 *   CALIB_P_TOL       : stopping tolerance. Temperature: stop when
 *                       |dNLL/dlog T| <= tol * NLL, default 1e-10, [1e-15, 1e-2]. */
#define CALIB_P_MAX_ITER 1
#define CALIB_P_TOL      2

/*! calib_fitter_set() : sets option `param` of f to value.
 *  Errors: CALIB_E_ARG (f NULL, param unknown for this method, value NaN,
 *  outside calib_param_bounds(), or not an integer for an integer option). */
CALIB_API int calib_fitter_set(calib_fitter *f, int param, double value);
/*! calib_fitter_get() : *value = current value of option `param`.
 *  Errors: CALIB_E_ARG (NULL argument, param unknown for this method). */
CALIB_API int calib_fitter_get(const calib_fitter *f, int param, double *value);
/*! calib_param_bounds() : the accepted range [*lo, *hi] and default *def of
 *  option `param` for `method` (any of lo, hi, def may be NULL).
 *  Errors: CALIB_E_ARG (unknown method or param). */
CALIB_API int calib_param_bounds(int method, int param, double *lo, double *hi,
                                 double *def);

/*! calib_fit() :
 *  Fits f's method on n rows of k float32 scores and their labels, and on
 *  success stores a new model in *out (caller owns: calib_model_free()).
 *    logits  : n*k float32, row-major (k == 1: one log-odds score per row).
 *              Every entry must be finite (CALIB_E_NONFINITE otherwise).
 *    labels  : n int64 class indices in 0..k-1 (0/1 when k == 1).
 *    weights : NULL (every row weight 1) or n finite non-negative doubles, not
 *              all zero; the objective is the weighted mean.
 *  Temperature scaling minimises the (weighted) mean negative log-likelihood
 *      NLL(beta) = sum_i w_i [ logsumexp(beta z_i) - beta z_{i,y_i} ] / sum_i w_i
 *  over the inverse temperature beta = 1/T. NLL is convex in beta; the solver
 *  is Newton's method on beta safeguarded by a bracket on the sign of the
 *  derivative (bisection/doubling when a Newton step leaves the bracket),
 *  accumulating in double. It stops when |dNLL/dlog T| <= tol * NLL.
 *  k == 1 uses p = sigmoid(x / T) (so T is the scale of the log-odds itself;
 *  scikit-learn's two-column (-x, x) convention gives a T twice as large).
 *  Errors (nothing is stored in *out):
 *    CALIB_E_ARG        f/logits/labels/out NULL, k == 0
 *    CALIB_E_EMPTY      n == 0, or every weight zero
 *    CALIB_E_NONFINITE  a NaN/inf logit or weight
 *    CALIB_E_DOMAIN     a negative weight
 *    CALIB_E_LABEL      a label outside 0..k-1 (0/1 for k == 1)
 *    CALIB_E_ONECLASS   every row (of non-zero weight) has the same label
 *    CALIB_E_NOSIGNAL   temperature: dNLL/dbeta >= 0 at beta = 0, i.e. the
 *                       optimal T is <= 0 or undefined (labels anti-correlated
 *                       with the logits, or every row constant)
 *    CALIB_E_SEPARABLE  temperature: every row's label attains its row
 *                       maximum, so NLL keeps falling as T -> 0: no optimum
 *    CALIB_E_NOCONV     the solver hit CALIB_P_MAX_ITER first
 *    CALIB_E_NOMEM
 *  After any return (success or not), calib_fitter_report() describes the
 *  last attempt. */
CALIB_NODISCARD CALIB_API int calib_fit(calib_fitter *f, const float *logits,
                                        size_t n, size_t k,
                                        const int64_t *labels,
                                        const double *weights,
                                        calib_model **out);

/* Report items of the last calib_fit() call. */
#define CALIB_R_ITERATIONS 1  /* solver iterations performed                    */
#define CALIB_R_NLL_BEFORE 2  /* weighted mean NLL of the raw scores            */
#define CALIB_R_NLL_AFTER  3  /* weighted mean NLL after the fitted map         */
#define CALIB_R_GRADIENT   4  /* |dNLL/d param| at the end (temperature: d/dlogT) */
#define CALIB_R_STATUS     5  /* status code the last calib_fit returned         */

/*! calib_fitter_report() : *value = report item `what` of f's last fit.
 *  Errors: CALIB_E_ARG (NULL, unknown item, or no fit attempted yet). */
CALIB_API int calib_fitter_report(const calib_fitter *f, int what, double *value);

/* ---- Model ------------------------------------------------------------------ */

/*! calib_model_free() : releases m; NULL is a no-op. */
CALIB_API void calib_model_free(calib_model *m);
/*! calib_model_method() : method id of m (CALIB_E_ARG if m is NULL). */
CALIB_API int calib_model_method(const calib_model *m);
/*! calib_model_classes() : the k the model was fitted on (1 = binary); 0 if m is NULL. */
CALIB_API size_t calib_model_classes(const calib_model *m);

/* Parameter arrays of a model (calib_model_param). */
#define CALIB_MP_TEMPERATURE 1  /* temperature: [T]                             */

/*! calib_model_param() :
 *  Copies fitted parameter array `which` (CALIB_MP_*) of m into out[0..cap-1]
 *  and sets *count to its length. With out == NULL (cap ignored) only *count
 *  is set: the way to size the buffer.
 *  Errors: CALIB_E_ARG (m or count NULL, `which` not a parameter of this
 *  method), CALIB_E_SMALLBUF (cap < length; nothing written). */
CALIB_API int calib_model_param(const calib_model *m, int which, double *out,
                                size_t cap, size_t *count);

/*! calib_apply() :
 *  probs = the fitted map applied to n rows of k float32 logits.
 *  Temperature: probs = softmax(logits / T) (k >= 2) or sigmoid(logits / T)
 *  (k == 1). probs may equal logits (in place); other overlap: CALIB_E_ARG.
 *  Input rules as calib_softmax(): NaN/+inf, or an all -inf row, is
 *  CALIB_E_NONFINITE and nothing is written. n == 0 is a no-op.
 *  Thread-safe on a shared model; no allocation, no locks, no BLAS.
 *  Errors: CALIB_E_ARG (NULL with n > 0), CALIB_E_SHAPE (k != model's k),
 *  CALIB_E_NONFINITE. */
CALIB_API int calib_apply(const calib_model *m, const float *logits, size_t n,
                          size_t k, float *probs);

/* ---- Model bytes --------------------------------------------------------------
 * A model serialises to a versioned little-endian byte string (magic "CALIBMDL",
 * format version, method, payload length, CRC-32, 8-byte-aligned float64
 * arrays; the layout is documented field by field in src/model/format.c).
 * Loading validates every field and length before reading it; truncated,
 * corrupted (CRC mismatch) or future-version bytes give CALIB_E_FORMAT.
 */

/*! calib_model_size() : exact number of bytes calib_model_save() writes; 0 if m is NULL. */
CALIB_API size_t calib_model_size(const calib_model *m);
/*! calib_model_save() : writes the model bytes of m into buf[0..cap-1] and
 *  sets *written (may be NULL) to their length.
 *  Errors: CALIB_E_ARG (m or buf NULL), CALIB_E_SMALLBUF (cap too small;
 *  nothing written: size the buffer with calib_model_size()). */
CALIB_NODISCARD CALIB_API int calib_model_save(const calib_model *m, void *buf,
                                               size_t cap, size_t *written);
/*! calib_model_load() : *out = a new model parsed from len bytes at buf. The
 *  bytes are copied: buf may be freed afterwards. buf needs no alignment.
 *  Errors: CALIB_E_ARG (NULL), CALIB_E_FORMAT (any invalid, truncated,
 *  corrupted or future-version content; trailing bytes after the model are
 *  also rejected), CALIB_E_UNSUPPORTED (a valid model of a method not built
 *  in), CALIB_E_NOMEM. */
CALIB_NODISCARD CALIB_API int calib_model_load(calib_model **out,
                                               const void *buf, size_t len);
/*! calib_model_save_file() : writes the model bytes to `path` atomically: to a
 *  temporary file in the same directory, flushed to disk, then renamed over
 *  path, so a crash never leaves a torn model (on failure the temporary file
 *  is removed and path is untouched).
 *  Errors: CALIB_E_ARG (NULL), CALIB_E_IO, CALIB_E_NOMEM. */
CALIB_NODISCARD CALIB_API int calib_model_save_file(const calib_model *m,
                                                    const char *path);
/*! calib_model_load_file() : calib_model_load() on the contents of `path`.
 *  Errors: those of calib_model_load(), and CALIB_E_IO (cannot open/read). */
CALIB_NODISCARD CALIB_API int calib_model_load_file(calib_model **out,
                                                    const char *path);

/* ---- Metrics -----------------------------------------------------------------
 * Inputs are probabilities (float32, n x k; k == 1: P(y = 1) per row) or, for
 * calib_nll_logits, logits. All accumulation is in double.
 * Top-label quantities: prediction = argmax_j p_ij (first index on ties),
 * confidence = p at the prediction. For k == 1 the prediction is 1 iff p > 0.5
 * and the confidence is max(p, 1 - p).
 * Common errors: CALIB_E_ARG (NULL pointer, k == 0), CALIB_E_EMPTY (n == 0),
 * CALIB_E_NONFINITE (NaN/inf), CALIB_E_DOMAIN (a probability outside [0, 1]),
 * CALIB_E_LABEL (label out of range). Nothing is written on error.
 */

/*! calib_accuracy() : *out = mean_i 1[prediction_i == y_i]. */
CALIB_API int calib_accuracy(const float *probs, size_t n, size_t k,
                             const int64_t *labels, double *out);

/*! calib_nll() : *out = -(1/n) sum_i ln p_{i,y_i} (k == 1: -ln p or -ln(1-p)),
 *  exact: no clipping. A true-class probability of exactly 0 gives +inf
 *  (the exact value), never NaN. */
CALIB_API int calib_nll(const float *probs, size_t n, size_t k,
                        const int64_t *labels, double *out);

/*! calib_nll_logits() : *out = (1/n) sum_i [logsumexp(z_i) - z_{i,y_i}]
 *  (k == 1: binary cross-entropy of sigmoid(z), as log1p(exp(-|z|)) + ...),
 *  from logits with max subtraction: exact, no clipping. -inf logits are
 *  allowed (masked classes); NaN/+inf or an all -inf row: CALIB_E_NONFINITE. */
CALIB_API int calib_nll_logits(const float *logits, size_t n, size_t k,
                               const int64_t *labels, double *out);

/*! calib_brier() : *out = (1/n) sum_i sum_j (p_ij - 1[y_i = j])^2, in [0, 2]
 *  (Brier 1950; scikit-learn's brier_score_loss on 2-D input). k == 1: the
 *  binary form (1/n) sum_i (p_i - y_i)^2, in [0, 1] (= the 2-class value / 2). */
CALIB_API int calib_brier(const float *probs, size_t n, size_t k,
                          const int64_t *labels, double *out);

/*! calib_ece() / calib_mce() : top-label expected / maximum calibration error
 *  with `bins` equal-width bins (Guo et al. 2017 eq. 3; Naeini et al. 2015):
 *      ECE = sum_b (n_b / n) |acc_b - conf_b|,  MCE = max_{b: n_b > 0} |acc_b - conf_b|
 *  acc_b and conf_b are the mean correctness and mean confidence of bin b.
 *  Bin b holds confidences in (b/M, (b+1)/M] with M = bins, and 0 goes into
 *  bin 0: exact edges b/M (integer arithmetic, never b*step), no sample dropped,
 *  no phantom bin. Empty bins contribute nothing.
 *  Errors as above, and CALIB_E_ARG for bins == 0. */
CALIB_API int calib_ece(const float *probs, size_t n, size_t k,
                        const int64_t *labels, size_t bins, double *out);
CALIB_API int calib_mce(const float *probs, size_t n, size_t k,
                        const int64_t *labels, size_t bins, double *out);

/*! calib_bin_index() : the equal-width bin (0..bins-1) that confidence c falls
 *  in under the convention above; the one function every binned measure and
 *  histogram binning share. c must be in [0, 1] (values outside are clamped;
 *  NaN gives 0). bins must be >= 1. */
CALIB_API size_t calib_bin_index(double c, size_t bins);

/* ==== Per-issue API blocks ====================================================
 * Identifier ranges are reserved so that methods landing in parallel never
 * collide (values are stable once released):
 *   options CALIB_P_*      : 1-2 common, 3-8 Platt/beta, 9-16 isotonic/histogram,
 *                            17-24 vector/matrix/Dirichlet, 25-28 ETS
 *   model arrays CALIB_MP_* : 1 temperature, 2-3 Platt, 4-6 beta, 7-10 isotonic,
 *                            11-14 histogram, 15-19 vector/matrix/Dirichlet, 20-23 ETS
 */

/* ---- Platt and beta calibration ------------------------------------------ */

/* ---- Isotonic regression and histogram binning --------------------------- */

/* ---- Vector, matrix, Dirichlet scaling and ETS --------------------------- */

/* ---- Metrics suite: scopes, binnings, norms, estimators, streaming ------- */

#ifdef __cplusplus
}
#endif

#endif /* CALIB_H */
