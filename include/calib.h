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
 *   global "last error": where a code alone cannot say which check failed
 *   (model bytes, files, fits), a *_ex variant or the fitter fills a caller's
 *   calib_error with the argument at fault, the check, and the errno text.
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

/*! calib_error : the detail of one failed call, filled by the functions that
 *  take a `calib_error *err` (NULL allowed there: no detail) and by
 *  calib_fitter_error(). Caller-owned, no pointers into caller data, so it may
 *  outlive everything. On success the functions set code = CALIB_OK and
 *  message = "". The fields:
 *    code       the status the call returned
 *    sys_errno  errno of the system call that failed (CALIB_E_IO), else 0
 *    arg        the argument or structure at fault ("labels", "logits",
 *               "model header", "sigma", "path", ...): static text, never NULL
 *    check      the check that failed, static English text, never NULL
 *               ("payload CRC-32 does not match", ...); "" when none
 *    index      the row (data), entry (parameter arrays), byte offset
 *               (model bytes, files) or class (a one-vs-rest fit of Platt
 *               or beta calibration that did not converge or is separable)
 *               at fault, or UINT64_MAX
 *    message    all of it as one line, NUL-terminated (at most 255 bytes):
 *               "<arg>: <check> (at <index>): <strerror(code)>[: <errno text>]"
 *               The CLI prints it and the Python binding raises it. */
typedef struct calib_error {
  int code;
  int sys_errno;
  const char *arg;
  const char *check;
  uint64_t index;
  char message[256];
} calib_error;

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
 * Alignment: x and y may start at any byte address, float-aligned or not
 * (numpy and ctypes hand over byte-misaligned arrays, e.g.
 * np.frombuffer(buf, np.float32, offset=1)); the results are those of an
 * aligned call, to the tolerance above (so are calib_apply()'s, for every
 * method). Outputs of 4 MiB and more are written with ordinary stores into
 * cache lines prefetched for writing a few KiB ahead (x86), at any alignment.
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
 * An isotonic fitter keeps the scratch of its largest fit so far between
 * fits, so that refits do not page-fault on fresh memory: up to
 * n * (48 + 16 with weights + 4 k for logits with k >= 2) bytes plus 96 KiB
 * on 64-bit targets. calib_fitter_free() releases it (as it releases
 * calib_fit_typed()'s conversion scratch).
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
/*! calib_fitter_free() : releases f and the scratch it keeps; NULL is a no-op. */
CALIB_API void calib_fitter_free(calib_fitter *f);
/*! calib_fitter_method() : the method id of f, or CALIB_E_ARG if f is NULL. */
CALIB_API int calib_fitter_method(const calib_fitter *f);

/* Options (calib_fitter_set / _get / calib_param_bounds). Integer-valued
 * options are passed as doubles holding an integer.
 *   CALIB_P_MAX_ITER  : maximum solver iterations. Temperature: Newton steps,
 *                       default 100, range [1, 10000].
 *   CALIB_P_TOL       : stopping tolerance. Temperature: stop when
 *                       |dNLL/dlog T| <= tol * NLL (and |dNLL/dbeta| <= half
 *                       its value at beta = 0, see calib_fit), default 1e-10,
 *                       [1e-15, 1e-2]. */
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
 *  is Newton's method on beta (on log beta when the softmax is saturated at
 *  beta = 1: beta NLL'(1) > beta^2 NLL''(1); the first step in beta from a
 *  quadratic model of NLL' through NLL'(0)) safeguarded by a bracket on the
 *  sign of the derivative (when a step leaves the bracket: once, a power of two
 *  near 1/|dNLL/dbeta(0)| if beta is more than 64x from it, else doubling or
 *  a geometric/arithmetic bisection), accumulating in double. It stops when
 *  the Newton decrement NLL'^2 / (2 NLL'') (CALIB_R_GAP) is at most
 *  max(tol^2, 1e-14) * max(1, NLL), and
 *  |dNLL/dlog T| <= tol * NLL and |dNLL/dbeta| <= |dNLL/dbeta(0)| / 2 (on the
 *  plateau of large T the first test holds for any beta -> 0; the second,
 *  homogeneous like the derivative, rules that out), or when the bracket has
 *  shrunk to the resolution of a double.
 *  Scale of the logits (every fitter): logits x c is the same problem for
 *  the scale-equivariant maps, and their solvers compare only scale-free
 *  quantities: temperature gives T(c) = c T(1) (to 1e-9 relative; the
 *  iterates differ only through the start at beta = 1), Platt A(c) = A(1)/c
 *  and B(c) = B(1) (bit-identical for powers of two c), vector and matrix
 *  scaling w(c) = w(1)/c, W(c) = W(1)/c (same probabilities to the
 *  tolerance). Supported: any finite float32 logits whose non-zero spreads
 *  are normal floats, i.e. |z| between ~1e-29 and the float32 maximum
 *  (tested on DenseNet-40 logits x 10^-30 .. 10^30, test/test_scale.c); a
 *  product that overflows float32 is +-inf and gives CALIB_E_NONFINITE,
 *  subnormal logits (|z| < 1.2e-38) carry fewer bits and fit as the data they
 *  are. Methods that see probabilities are scale-dependent by definition and
 *  only resolve a finite range: beta and histogram (sigmoid/softmax of the
 *  logits; beta's log-sigmoid features are exact for any finite logit, but
 *  at logits x 1e-10 they are ln 2 +- x/2 in double), isotonic
 *  on logits (double sigmoid: order kept for |z| ~ 1e-15 .. 37; with
 *  CALIB_INPUT_SCORES scores closer than 1e-15 are one point, as in
 *  scikit-learn), Dirichlet (log-probabilities, and its ODIR penalty on W),
 *  ETS (its raw softmax(z) component). Where the probabilities no longer
 *  differ (e.g. logits x 1e-20 round to constant features in double), these
 *  fit their documented constant-input closed forms (intercept, base rate);
 *  a fit that cannot separate signal from rounding returns CALIB_E_NOCONV
 *  (beta near logits x 1e-10), never a wrong success.
 *  k == 1 uses p = sigmoid(x / T) (so T is the scale of the log-odds itself;
 *  scikit-learn's two-column (-x, x) convention gives a T twice as large).
 *  Errors (nothing is stored in *out):
 *    CALIB_E_ARG        f/logits/labels/out NULL, k == 0, n * k * 4 bytes
 *                       beyond the address space, k == 1 for vector, matrix
 *                       and Dirichlet scaling (they need k >= 2)
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

/*! calib_fitter_error() : *err = the detail of f's last calib_fit(): the
 *  argument at fault ("logits", "labels", "weights", "k", ...), the check
 *  that failed, the row or entry index where there is one, and the one-line
 *  message (see calib_error). After a successful fit err->code == CALIB_OK.
 *  A fitted model that the model validator would reject (a solver producing
 *  non-finite or out-of-range parameters) is CALIB_E_NOCONV, with that said.
 *  The detail lives in f (static strings, no pointer into caller data) and is
 *  copied into the caller's *err. A fitter is one thread's: do not call this
 *  while another thread runs calib_fit on the same f.
 *  Errors: CALIB_E_ARG (f or err NULL, or no fit attempted yet). */
CALIB_API int calib_fitter_error(const calib_fitter *f, calib_error *err);

/* Report items of the last calib_fit() call. */
#define CALIB_R_ITERATIONS 1  /* solver iterations performed                    */
#define CALIB_R_NLL_BEFORE 2  /* weighted mean NLL of the raw scores            */
#define CALIB_R_NLL_AFTER  3  /* weighted mean NLL after the fitted map         */
#define CALIB_R_GRADIENT   4  /* |dNLL/d param| at the end (temperature: d/dlogT) */
#define CALIB_R_STATUS     5  /* status code the last calib_fit returned         */
#define CALIB_R_GAP        6  /* estimated objective gap f - f* at the end       */
#define CALIB_R_CONDITION  7  /* condition number of the Hessian at the end     */
/* CALIB_R_GAP: the Newton decrement g^T H^-1 g / 2 at the returned
 *   parameters (for a convex objective near its minimum, the second-order
 *   estimate of f - f*), in the units of the method's objective: the weighted
 *   mean NLL (plus penalty). Temperature: G^2 / (2 H) in beta; Platt and beta:
 *   from the exact 2 x 2 / 3 x 3 Hessian, per binary problem, the largest
 *   over the one-vs-rest classes; ETS: on the free weights of its last
 *   active set; vector/matrix/Dirichlet: from the exact Hessian (Newton) or
 *   by preconditioned conjugate gradients on Hessian-vector products
 *   (L-BFGS, which then polishes by Newton-CG steps; Newton-CG may report
 *   an upper estimate of it instead, see the matrix family's stopping
 *   rule). Exactly flat
 *   directions (the softmax gauge where no penalty sees it) are left out.
 * CALIB_R_CONDITION: lambda_max / lambda_min of that Hessian (flat gauge
 *   directions left out), in the solver's coordinates (standardised features:
 *   see each method). Exact (eigenvalues) for temperature (1: one
 *   parameter), Platt, beta and ETS; Newton-path matrix fits up to P = 1000
 *   by power iteration on H and H^-1 (converged to 1e-10, or the Rayleigh
 *   quotient after 500 steps);
 *   on the L-BFGS path a lower bound from 32 Lanczos steps on
 *   Hessian-vector products. +inf when the Hessian is singular. Isotonic and
 *   histogram binning (closed forms, no iteration) report NaN for both.
 * Above CALIB_ILL_CONDITIONED the fit still succeeds, but the optimum lies
 * along a nearly flat direction (parameters far out for little change in
 * the objective): add ODIR or L2 (CALIB_P_ODIR_*, CALIB_P_L2). `calib fit`
 * prints a warning line then. 1e9: unregularised matrix scaling on the
 * ResNet-50 CIFAR-10 logits (rows summing to -0.050 +- 0.004; W entries of
 * +-191) is 2.3e9, on DenseNet-40's 5.5e5; a double-precision solve loses
 * ~9 of its 16 digits there. */
#define CALIB_ILL_CONDITIONED 1e9

/*! calib_fitter_report() : *value = report item `what` of f's last fit.
 *  Reads f: not concurrently with calib_fit() on the same fitter.
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
 *
 * Format limits (a model beyond them is CALIB_E_FORMAT when loaded, and a fit
 * that would produce one fails with CALIB_E_UNSUPPORTED instead of writing
 * bytes no loader takes):
 *   CALIB_MODEL_MAX_K       classes: 2^24 (the CLI's --k bound)
 *   CALIB_MODEL_MAX_VALUES  float64 parameter values over all arrays: 2^28
 *                           (a k x k matrix model up to k = 16383); a
 *                           version-2 model's metadata counts too (8 + 20 +
 *                           2 kc values, the tag as ceil(bytes / 8))
 *   at most 16 arrays, parameters and metadata together, so
 *   CALIB_MODEL_MAX_BYTES   32 (header) + 16 (k, array count) + 16 * 16
 *                           (array table) + 8 * CALIB_MODEL_MAX_VALUES
 *                           = 2147483952 bytes: no valid model is larger.
 *                           The file loader refuses a larger file from its
 *                           size, before reading or allocating anything.
 */
#define CALIB_MODEL_MAX_K ((size_t)1 << 24)
#define CALIB_MODEL_MAX_VALUES ((size_t)1 << 28)
#define CALIB_MODEL_MAX_BYTES ((size_t)(32 + 16 + 16 * 16) + 8 * CALIB_MODEL_MAX_VALUES)

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
 *  The 32-byte header (magic, header CRC, version, method, payload length
 *  against len) is checked on buf before anything is allocated or copied.
 *  The caller owns *out (calib_model_free()); thread-safe (no shared state).
 *  Errors: CALIB_E_ARG (NULL), CALIB_E_FORMAT (any invalid, truncated,
 *  corrupted or future-version content; trailing bytes after the model are
 *  also rejected), CALIB_E_UNSUPPORTED (a valid model of a method not built
 *  in), CALIB_E_NOMEM. */
CALIB_NODISCARD CALIB_API int calib_model_load(calib_model **out,
                                               const void *buf, size_t len);
/*! calib_model_load_ex() : calib_model_load(), and on failure *err (may be
 *  NULL) says which check failed: err->arg is the structure ("model header",
 *  "model payload", "model section table", "model parameters", "model
 *  metadata" (format version 2: the provenance values, e.g. "histogram
 *  counts do not sum to n"), or the method's name for its own validation),
 *  err->check the check ("magic is
 *  not "CALIBMDL" ...", "header CRC-32 does not match ...", "format version
 *  is newer than this library reads ...", "unknown method id", "payload
 *  length ...", "truncated: ...", "trailing bytes after the payload ...",
 *  "payload CRC-32 does not match ...", "section ...", "a parameter value is
 *  NaN", "parameters rejected by the method's validation ..."), err->index the
 *  byte offset of the field at fault (UINT64_MAX if none), and err->message
 *  all of it on one line. On success err->code = CALIB_OK.
 *  Errors and ownership: those of calib_model_load(). Thread-safe: err is
 *  the caller's, no state is shared. */
CALIB_NODISCARD CALIB_API int calib_model_load_ex(calib_model **out, const void *buf,
                                                  size_t len, calib_error *err);
/*! calib_model_save_file() : writes the model bytes to `path` atomically: to a
 *  temporary file "<path>.tmp.XXXXXX" in the same directory, flushed to disk
 *  (fsync), then renamed over path, so a crash never leaves a torn model (on
 *  failure the temporary file is removed and path is untouched).
 *  Permissions: those creat(path, 0666) would give: a new file gets 0666 less
 *  the process umask (applied by the kernel when the temporary file is
 *  created; the library never calls umask(), which is process-wide), and an
 *  existing path keeps its permission bits (owner and group are the
 *  caller's, as for any new file). Thread-safe: concurrent saves to
 *  different paths are independent; concurrent saves to one path leave one
 *  of the models, whole.
 *  Errors: CALIB_E_ARG (NULL or empty path), CALIB_E_IO, CALIB_E_NOMEM. */
CALIB_NODISCARD CALIB_API int calib_model_save_file(const calib_model *m,
                                                    const char *path);
/*! calib_model_save_file_ex() : calib_model_save_file(), and on failure *err
 *  (may be NULL) has err->sys_errno and a message ending with its text, e.g.
 *  "file: cannot create the temporary file next to it: file input/output
 *  error: No such file or directory". Errors: those of
 *  calib_model_save_file(). Thread-safe as it; err is the caller's. */
CALIB_NODISCARD CALIB_API int calib_model_save_file_ex(const calib_model *m, const char *path,
                                                       calib_error *err);
/*! calib_model_load_file() : calib_model_load() on the contents of `path`
 *  (the caller owns *out). The file is read header first: its size is taken
 *  from fstat, a regular file larger than CALIB_MODEL_MAX_BYTES is refused
 *  before it is read, the 32-byte header is checked (and its payload length
 *  against the file size) before anything is allocated, and then the payload
 *  is read straight into the model: peak memory is the model's size. A
 *  non-regular file (pipe, FIFO, device) is read as far as its header says
 *  and refused if more bytes follow (so /dev/zero fails on its magic at
 *  once). Opening a FIFO waits for a writer, as for any reader.
 *  Errors: those of calib_model_load(), and CALIB_E_IO (cannot open/read). */
CALIB_NODISCARD CALIB_API int calib_model_load_file(calib_model **out,
                                                    const char *path);
/*! calib_model_load_file_ex() : calib_model_load_file(), and on failure *err
 *  (may be NULL) is filled as by calib_model_load_ex(), or for the file
 *  itself with err->arg "file" (or "model file" for its size), the errno in
 *  err->sys_errno and its text at the end of err->message.
 *  Errors and ownership: those of calib_model_load_file(). Thread-safe: err
 *  is the caller's, no state is shared. */
CALIB_NODISCARD CALIB_API int calib_model_load_file_ex(calib_model **out, const char *path,
                                                       calib_error *err);

/* ---- Metrics -----------------------------------------------------------------
 * Inputs are probabilities (float32, n x k; k == 1: P(y = 1) per row) or, for
 * calib_nll_logits, logits. All accumulation is in double.
 * Top-label quantities: prediction = argmax_j p_ij (first index on ties),
 * confidence = p at the prediction. For k == 1 the prediction is 1 iff p > 0.5
 * and the confidence is max(p, 1 - p).
 * Common errors: CALIB_E_ARG (NULL pointer, k == 0), CALIB_E_EMPTY (n == 0),
 * CALIB_E_NONFINITE (NaN/inf), CALIB_E_DOMAIN (a probability outside [0, 1]),
 * CALIB_E_LABEL (label out of range), CALIB_E_ARG also when n * k * 8 bytes
 * is not representable in size_t (checked before any memory is touched).
 * Nothing is written on error. Every parameter has a documented range,
 * checked before anything is allocated; outside it (NaN included) the call
 * is CALIB_E_ARG. Scratch memory is bounded by the data (a multiple of
 * n * k plus a constant), never by a parameter alone.
 * Every metric function is thread-safe (no shared state) and keeps no pointer
 * to its inputs; the caller owns every buffer.
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
 *  from logits with max subtraction: exact, no clipping. k >= 2: -inf logits
 *  are allowed (masked classes); NaN, +inf or an all -inf row is
 *  CALIB_E_NONFINITE. k == 1: +-inf are the limits p = 1 / p = 0 (the loss is
 *  0 or +inf); NaN is CALIB_E_NONFINITE. */
CALIB_API int calib_nll_logits(const float *logits, size_t n, size_t k,
                               const int64_t *labels, double *out);

/*! calib_brier() : *out = (1/n) sum_i sum_j (p_ij - 1[y_i = j])^2, in [0, 2]
 *  (Brier 1950; scikit-learn's brier_score_loss on 2-D input). k == 1: the
 *  binary form (1/n) sum_i (p_i - y_i)^2, in [0, 1] (= the 2-class value / 2). */
CALIB_API int calib_brier(const float *probs, size_t n, size_t k,
                          const int64_t *labels, double *out);

/* The largest bin count of the metrics on data (calib_ece ... calib_reliability):
 * 2^24, where equal-width bins become narrower than the float32 spacing of
 * confidences in [0.5, 1). A bin count is no allocation size: memory stays
 * O(n * k) at any bins. */
#define CALIB_MAX_BINS 16777216

/*! calib_ece() / calib_mce() : top-label expected / maximum calibration error
 *  with `bins` equal-width bins (Guo et al. 2017 eq. 3; Naeini et al. 2015):
 *      ECE = sum_b (n_b / n) |acc_b - conf_b|,  MCE = max_{b: n_b > 0} |acc_b - conf_b|
 *  acc_b and conf_b are the mean correctness and mean confidence of bin b.
 *  Bin b holds confidences in (b/M, (b+1)/M] with M = bins, and 0 goes into
 *  bin 0: exact edges b/M (integer arithmetic, never b*step), no sample dropped,
 *  no phantom bin. Empty bins contribute nothing.
 *  bins: 1..CALIB_MAX_BINS (bins > n is fine: empty bins).
 *  Errors as above, CALIB_E_ARG for bins outside 1..CALIB_MAX_BINS, and
 *  CALIB_E_NOMEM (the per-bin sums are allocated). Thread-safe. */
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
/*
 * Platt scaling (CALIB_METHOD_PLATT; Platt 1999, fitted by the Newton method
 * of Lin, Lin & Weng 2007 as libsvm's sigmoid_train does):
 *     P(y = 1 | s) = 1 / (1 + exp(A s + B))
 * on a score s per row (k == 1). Note the sign: a score that grows with the
 * positive class gives A < 0 (libsvm's and scikit-learn's convention; for the
 * form sigmoid(a s + b) take a = -A, b = -B).
 * Beta calibration (CALIB_METHOD_BETA; Kull, Silva Filho & Flach 2017):
 *     P(y = 1 | s) = sigmoid(a ln s - b ln(1 - s) + c),   a >= 0, b >= 0,
 * on a probability s per row: for logit input the features are exact
 * log-sigmoids of the log-odds x, ln s = -softplus(-x) and -ln(1 - s) =
 * softplus(x) (finite for every finite x: no clipping); for probability
 * input s is clipped to [eps, 1 - eps] (CALIB_P_CLIP_EPS).
 *
 * Input (CALIB_P_INPUT, stored in the model: calib_apply() expects the same
 * kind of data the model was fitted on):
 *   CALIB_INPUT_LOGITS (default): the fit/apply data are logits, as for every
 *     method. k == 1: s is the log-odds itself (Platt) or sigmoid(s) (beta).
 *     k >= 2: Platt uses column j's raw logit for class j; beta uses the
 *     softmax probability of class j, through its exact log-odds
 *     z_j - logsumexp_{l != j} z_l. Every logit must be finite. Beta on
 *     logits does not clip: eps is stored but unused (models written before
 *     CALIB_MP_BETA_FEATURES existed clipped sigmoid/softmax(z) to
 *     [eps, 1 - eps]; they load and apply exactly as they were fitted).
 *   CALIB_INPUT_PROBS: the data are probabilities in [0, 1] (anything else is
 *     CALIB_E_DOMAIN, NaN/inf CALIB_E_NONFINITE); k == 1: P(y = 1) per row,
 *     k >= 2: one per class (rows need not sum to 1). Platt fits on the
 *     explicit logit transform ln(s) - ln(1 - s) of s clipped to
 *     [eps, 1 - eps]; beta uses the clipped s directly.
 *   eps (CALIB_P_CLIP_EPS) defaults to FLT_EPSILON = 2^-23 ~= 1.19e-7, the
 *   float32 machine epsilon (betacal's np.finfo(float32).eps): 1 - eps is an
 *   exact float32, so float32 inputs 0 and 1 map to finite features
 *   (ln eps ~= -15.9) and never to NaN (REFRAME/betacal#1).
 *
 * Multiclass (k >= 2): one-vs-rest, as scikit-learn's
 * CalibratedClassifierCV(method="sigmoid") does: an independent binary map
 * per class j, fitted on class j's column with labels 1[y == j]; at apply,
 * q_j = the class-j map's P(y = j), then p_j = q_j / sum_l q_l, and a row
 * whose sum is 0 becomes uniform (1/k). (k == 2 is also treated this way;
 * scikit-learn's 2-class path instead fits one map on the positive column,
 * which here is k == 1.) The normalisation may change the argmax.
 *
 * Fitting (calib_fit). For each binary problem, with targets t_i and the
 * linear predictor u_i (u = -(A s + B) for Platt; u = a ln s - b ln(1-s) + c
 * for beta), the objective is the weighted cross-entropy
 *     F = sum_i w_i [ t_i log(1 + e^-u_i) + (1 - t_i) log(1 + e^u_i) ]
 * computed stably (log1p of exp(-|u|)), in double. Targets
 * (CALIB_P_SMOOTH_TARGETS): Platt's smoothed targets t = (N+ + 1)/(N+ + 2)
 * for positives and 1/(N- + 2) for negatives, with N+/N- the weighted
 * counts as in scikit-learn (default for Platt), or 0/1 (default for beta,
 * as betacal's logistic regression). The solver is libsvm's: start at
 * A = 0, B = ln((N- + 1)/(N+ + 1)) (beta: a = b = 0, c = -B); Newton steps
 * with sigma = 1e-12 * wbar added to the Hessian diagonal; backtracking
 * (halving) from step 1 until F(new) < F + 1e-4 step g.d (Armijo), with F
 * summed per block and compensated across blocks. Safeguard against rounding
 * at large n: when the Armijo test fails at step 1 although the predicted
 * decrease g.H^-1.g is below 1000 DBL_EPSILON F (the test is then decided by
 * rounding), the full Newton step is taken if it lowers g.H^-1.g. Stop when
 * every |dF/dparam| < tol * wbar (CALIB_P_TOL, libsvm's 1e-5 by default),
 * where wbar = (sum of weights)/n (1 without weights: exactly libsvm's rule;
 * scaling all weights leaves the fit unchanged), and the Newton decrement per
 * unit weight g.(H + sigma I)^-1.g / 2 / sum(w), the estimated objective gap,
 * is <= max(tol^2, 1e-14) max(1, F / sum(w)) (with the gradient test on sums
 * this holds at once on well-conditioned data, so libsvm's iterations are
 * unchanged; on nearly collinear features it asks for up to 20 more Newton
 * steps; a line search that rounding stops after the gradient test held, or
 * max_iter reached then, is a success with the gap reached reported). With unit weights this
 * reproduces libsvm/scikit-learn's test vector s = (5, -4, 1), y = (1, 0, 0):
 * A = -0.20261354391187855, B = 0.6523631498001051 after 3 steps. The scale
 * of the scores does not matter: a feature whose root mean square is
 * outside [1/16, 16] is multiplied inside the solver by a power of two near
 * 1/RMS (exact), so sigma, the pivot threshold and the gradient test above
 * apply to the standardised coefficient (and the reported gradient is that
 * one's), and the coefficient is unscaled at the end: scores x c give
 * A(c) = A(1)/c for any c the float range holds (libsvm's fixed sigma and
 * gradient test otherwise accept A = 0 at scores x 1e-10 and below and stall
 * from x 1e6); features in [1/16, 16] are used as they are, so libsvm's
 * iterations are reproduced exactly there. The objective is evaluated
 * stably at every scale, unlike scikit-learn before #26913 (|s| >= 30).
 * Beta constraint handling (betacal): fit (a, b, c) unconstrained; if a < 0,
 * drop ln s and refit (b, c) with a = 0; else if b < 0, drop -ln(1 - s) and
 * refit (a, c) with b = 0; if the refitted coefficient is negative too (where
 * betacal would keep it) it is dropped as well, leaving a = b = 0 and the
 * closed-form intercept. When the unconstrained fit diverges (stops at
 * max_iter with a coefficient < 0 of magnitude >= 1e4: its optimum is at
 * infinity, e.g. one positive row inside the range of the scores, which
 * [ln s, -ln(1 - s)] always separate), the a, b >= 0 optimum is on a face:
 * both one-feature fits are made and the better one with a coefficient
 * >= 0 is kept (else a = b = 0 and the intercept). Constant scores (no
 * spread among rows of non-zero weight) give the closed form A = 0
 * (a = b = 0) and the base-rate intercept.
 * Report: iterations = Newton steps summed over all classes (and beta refits);
 * gradient = the largest final max|dF/dparam| / wbar; nll_before = the
 * weighted mean NLL of the input itself (logits: sigmoid/softmax; probs:
 * rows normalised, uniform if their sum is 0, true-class probability clipped
 * below at eps); nll_after = the weighted mean NLL (0/1 labels) of the fitted
 * map, in double.
 * Errors, in addition to calib_fit()'s:
 *   CALIB_E_DOMAIN     CALIB_INPUT_PROBS and a value outside [0, 1]
 *   CALIB_E_SEPARABLE  0/1 targets and a class (or, k >= 2, some class j vs
 *                      the rest) is perfectly separated by a threshold on the
 *                      scores (also: class j absent with k >= 2): no finite
 *                      maximum-likelihood fit exists
 *   CALIB_E_NOCONV     CALIB_P_MAX_ITER steps without meeting the tolerance,
 *                      or the line search step fell below CALIB_P_MIN_STEP
 *                      (libsvm's "line search fails"); nothing is printed
 *   With k >= 2 the detail of both (calib_fitter_error) names the class
 *   whose one-vs-rest fit failed: calib_error.index = j.
 *
 * Options (calib_fitter_set; defaults Platt / beta):
 *   CALIB_P_MAX_ITER        Newton steps per binary problem, 100, [1, 10000]
 *   CALIB_P_TOL             gradient tolerance (above), 1e-5, [1e-15, 1]
 *   CALIB_P_SMOOTH_TARGETS  1 = Platt's targets, 0 = 0/1; default 1 / 0
 *   CALIB_P_INPUT           CALIB_INPUT_LOGITS (default) or CALIB_INPUT_PROBS
 *   CALIB_P_CLIP_EPS        probability clip eps, 2^-23, [1e-15, 1e-2]
 *   CALIB_P_MIN_STEP        smallest line-search step, 1e-10, [1e-16, 0.5]
 *
 * Model arrays (calib_model_param):
 *   CALIB_MP_PLATT  k x 2 row-major: row j = (A_j, B_j)   (Platt models)
 *   CALIB_MP_BETA   k x 3 row-major: row j = (a_j, b_j, c_j) (beta models)
 *   CALIB_MP_INPUT  2 values: (CALIB_INPUT_*, eps) (Platt and beta models)
 *   CALIB_MP_BETA_FEATURES 1 value, 1: the beta model uses exact log-sigmoid
 *                   features for logit input (every beta model calib_fit
 *                   writes; absent from older models, which clip)
 *
 * calib_apply() on a Platt or beta model: the map above row by row, computed
 * in double and rounded once to float. One exception, for speed: a beta
 * model on logits with exact features and 2 <= k <= 1024 computes, on
 * AVX-512, its two exps per class with a shorter polynomial (1.6e-9
 * relative), so each probability is within 3.3e-9 (1 + max_j a_j +
 * 2 max_j b_j) relative of the exact map before that rounding (k = 1000,
 * a, b ~ 1: under 1 % of the outputs one ulp from the correctly rounded
 * float; about 1 us a row instead of 1.5, bench/README.md).
 * Input rules: k must equal the
 * model's k (CALIB_E_SHAPE); every value finite (CALIB_E_NONFINITE; unlike
 * temperature scaling, -inf logits are not accepted) and, for
 * CALIB_INPUT_PROBS, in [0, 1] (CALIB_E_DOMAIN); nothing is written on error.
 * In place (probs == logits) is allowed. Thread-safe, allocation-free.
 * A beta model with 2 <= k <= 1024 on logits with exact features made by
 * calib_fit, calib_model_load or calib_model_load_file (not
 * calib_model_init_static) on an x86-64 build keeps a planar copy of its
 * (a_j), (b_j), (c_j) beside the interleaved rows (24 bytes per class),
 * allocated with the model (CALIB_E_NOMEM if it cannot be), freed by
 * calib_model_free, not counted by calib_model_size, never modified: the
 * AVX2 / AVX-512 apply loads its vectors of classes from it (the same
 * outputs bit for bit; k = 1000: about 8 % faster per row).
 */
#define CALIB_P_SMOOTH_TARGETS 3
#define CALIB_P_INPUT          4
#define CALIB_P_CLIP_EPS       5
#define CALIB_P_MIN_STEP       6

/* Values of CALIB_P_INPUT and CALIB_MP_INPUT[0]: CALIB_INPUT_LOGITS (2) and
 * CALIB_INPUT_PROBS (1), the constants of the metrics block below. */

#define CALIB_MP_PLATT 2  /* Platt: k x 2, rows (A_j, B_j)                  */
#define CALIB_MP_INPUT 3  /* Platt, beta: (CALIB_INPUT_*, clip eps)         */
#define CALIB_MP_BETA  4  /* beta: k x 3, rows (a_j, b_j, c_j)              */
#define CALIB_MP_BETA_FEATURES 5 /* beta: [1] = exact logit features (no clip) */

/* ---- Isotonic regression and histogram binning --------------------------- */
/*
 * Both methods are non-parametric: the model is a table per class, stored as
 * 8-byte aligned float64 arrays, applied by binary search (allocation-free,
 * reentrant). k == 1 calibrates one score per row; k >= 2 is one-vs-rest, as
 * scikit-learn's CalibratedClassifierCV does it: a binary map f_j per class j
 * fitted with labels 1[y == j]; at apply q_j = f_j(input_j) and
 * p_j = q_j / sum_l q_l, computed in double, with a row whose sum is 0 made
 * uniform (p_j = 1/k). (k == 2 is treated the same way; scikit-learn's
 * 2-class path fits one map on the positive column, which is k == 1 here.)
 *
 * Input (CALIB_P_INPUT, shared with Platt/beta; stored in the model, so
 * calib_apply() expects the kind of data the model was fitted on):
 *   CALIB_INPUT_LOGITS (default) the data are logits as for every method.
 *     k == 1: isotonic works on the raw log-odds; histogram binning on
 *     sigmoid(logit). k >= 2: both work on the softmax probabilities of the
 *     row, column j for class j (Guo et al. 2017's one-vs-rest extension;
 *     scikit-learn's CalibratedClassifierCV on a classifier whose
 *     predict_proba is that softmax). The sigmoid/softmax are computed in
 *     double from the float32 logits and rounded once to float32
 *     (1/(1+exp(-z)); exp(z_j - max z)/sum), in fit and apply alike: the
 *     order of tiny probabilities matters to these order-based methods, so
 *     the float SIMD kernels (about 1e-6 relative) are not used.
 *   CALIB_INPUT_PROBS the data are probabilities in [0, 1] (CALIB_E_DOMAIN
 *     otherwise), used as they are (k >= 2: rows need not sum to 1).
 *   CALIB_INPUT_SCORES (isotonic only) any finite scores used as they are:
 *     k >= 2 fits class j on column j's raw value, as CalibratedClassifierCV
 *     does with a decision_function (k == 1: the same as LOGITS).
 *   Isotonic is invariant to a monotone change of input in its fitted VALUES,
 *   so k == 1 "just works" on log-odds or on probabilities; but the table's x
 *   and the linear interpolation between thresholds live in the input's own
 *   space: a fit on logits and one on sigmoid(logits) agree at the
 *   thresholds and differ (slightly) between them. For k >= 2 the choice
 *   matters (softmax columns are not monotone in the raw logit column); on
 *   CIFAR-10 DenseNet-40 logits, softmax columns (the default) calibrate far
 *   better than raw logit columns (test ECE-15 0.017 vs 0.079).
 *
 * ISOTONIC REGRESSION (CALIB_METHOD_ISOTONIC; Zadrozny & Elkan 2002), with
 * the exact semantics of scikit-learn's IsotonicRegression (1.x):
 *  1. increasing: 1, 0, or -1 = auto: the sign of Spearman's rho between the
 *     score and the 0/1 label over all rows (weights ignored, zero-weight rows
 *     included): rho >= 0 -> increasing. rho is undefined when the scores or
 *     the labels are constant; scikit-learn then gets NaN and `nan >= 0` is
 *     false, so such a fit is DEcreasing (kept for parity). The sign is
 *     computed exactly in integers (scikit-learn's floating-point rho may
 *     differ in sign only when the exact rho is 0).
 *  2. rows of weight 0 are dropped; the rest are ordered by (score, label,
 *     row) -- np.lexsort((y, x)) -- with a stable radix sort.
 *  3. equal scores merge: a sorted x joins the current group while x - (the
 *     group's first x) < 1e-15 (np.finfo(float64).resolution, an absolute
 *     tolerance, as _make_unique); the group's x is its first x, its weight
 *     the sum of weights, its value the weighted mean of the labels.
 *  4. pool-adjacent-violators (weighted, O(n) after the sort), then the fit
 *     is clipped to [y_min, y_max] (after PAV, not as a constraint).
 *  5. thresholds: the first and last points, and every point whose fitted
 *     value differs from a neighbour's (redundant middle points of flat runs
 *     removed). The table per class is (x_t, y_t), t = 0..m-1, x strictly
 *     increasing.
 *  Prediction (numpy.interp, as scipy's interp1d uses it): for x_0 <= s <=
 *  x_{m-1}, with j the last index such that x_j <= s: y_j if x_j == s (or
 *  j == m-1), else y_j + (y_{j+1} - y_j)/(x_{j+1} - x_j) * (s - x_j). Linear
 *  between thresholds, constant within a flat run. A one-threshold table is
 *  the constant y_0.
 *  Out of bounds (CALIB_P_ISO_OUT_OF_BOUNDS, stored in the model):
 *    CALIB_OOB_CLIP (default; what CalibratedClassifierCV uses): s is first
 *      clipped to [x_0, x_{m-1}], i.e. the end values extend outward;
 *    CALIB_OOB_ERROR: calib_apply() returns CALIB_E_DOMAIN, writing nothing,
 *      if any value is outside [x_0, x_{m-1}] of its class (for a
 *      one-threshold table: any value other than x_0). Not available with
 *      CALIB_INPUT_LOGITS and k >= 2 (calib_fit: CALIB_E_ARG): the values
 *      would exist only after the softmax is written to the output.
 *    scikit-learn's default 'nan' is offered only by the low-level
 *    calib_isotonic_predict_f64 (CALIB_OOB_NAN); calib_apply never writes NaN.
 *  Strict ranks (CALIB_P_ISO_STRICT = s, default 0 = off; scikit-learn
 *  #16321: the flat runs of isotonic regression tie scores that were
 *  distinct, which changes ROC-AUC and average precision). With 0 < s <= 0.25
 *  every flat run of a class's table, the pair (x_j, v), (x_{j+1}, v), is
 *  turned into a ramp: y_j := v + s (L - v), y_{j+1} := v + s (R - v), where
 *  L = y_{j-1} and R = y_{j+2} are the ORIGINAL neighbouring values, and at
 *  the ends of the table L (or R) is the bound the fit could reach on that
 *  side (y_min on the low side of an increasing fit, y_max on its high side;
 *  mirrored for a decreasing one). Each flat value thus moves toward its
 *  neighbour by the fraction s of the gap, the ramps of adjacent runs cannot
 *  cross (s < 1/2), and the map becomes strictly monotone on [x_0, x_{m-1}]
 *  whenever y_min < y_max and m >= 2: distinct in-range scores keep distinct
 *  calibrated values in exact arithmetic (the float32 output can still tie
 *  values closer than its resolution; clipped out-of-range scores still
 *  tie). A calibrated value moves by at most s times the gap to the
 *  neighbouring level. The stored y_t are the ramped ones.
 *  Options (calib_fitter_set; defaults):
 *    CALIB_P_ISO_INCREASING     1, 0 or -1 (auto); default 1
 *    CALIB_P_ISO_Y_MIN          clip lower bound in [0, 1], default 0
 *    CALIB_P_ISO_Y_MAX          clip upper bound in [0, 1], default 1
 *                               (calib_fit: CALIB_E_ARG if y_min > y_max)
 *    CALIB_P_ISO_OUT_OF_BOUNDS  CALIB_OOB_CLIP (default) or CALIB_OOB_ERROR
 *    CALIB_P_ISO_STRICT         ramp fraction s in [0, 0.25], default 0
 *    CALIB_P_INPUT              CALIB_INPUT_LOGITS (default), _PROBS, _SCORES
 *  (With labels 0/1 every fitted value lies in [0, 1], so the default clip
 *  [0, 1] changes nothing: the result is scikit-learn's fit.)
 *  Model arrays: CALIB_MP_ISO_CONFIG = (out_of_bounds, input, strict s),
 *  CALIB_MP_ISO_COUNTS = m_j for j = 0..k-1, CALIB_MP_ISO_X / _Y = the tables
 *  of all classes back to back (sum m_j values each).
 *  Report: iterations 0 and gradient 0 (no iterative solver); nll_before =
 *  weighted mean NLL of the input (logits and scores: sigmoid/softmax;
 *  probs: the raw probability of the true class, k == 1: p or 1 - p), may be
 *  +inf; nll_after = weighted
 *  mean NLL of calib_apply()'s output on the fitting rows (may be +inf when a
 *  calibrated probability of a true class is 0, e.g. with strict or clipped
 *  out-of-range rows; isotonic itself gives finite in-sample values).
 *  Errors, besides calib_fit()'s: CALIB_E_ARG (y_min > y_max; CALIB_OOB_ERROR
 *  with CALIB_INPUT_LOGITS and k >= 2), CALIB_E_DOMAIN (CALIB_INPUT_PROBS and
 *  a value outside [0, 1]).
 *
 * HISTOGRAM BINNING (CALIB_METHOD_HISTOGRAM; Zadrozny & Elkan 2001): the
 * probability axis [0, 1] is cut into bins; the calibrated value of bin b is
 * theta_b = (sum of w_i y_i) / (sum of w_i) over the rows in b (y_i = 0/1, or
 * 1[y_i == j] for class j); an EMPTY bin (no row of positive weight) gets its
 * midpoint (lo_b + hi_b) / 2, as netcal and Kumar et al. do.
 *  Binning (CALIB_P_HIST_BINNING; the same module as the metrics):
 *    CALIB_HIST_EQUAL_WIDTH (default): M = CALIB_P_HIST_BINS bins, bin b
 *      holds (b/M, (b+1)/M] and 0 goes into bin 0: calib_bin_index(), the
 *      convention of every binned metric, at fit and at apply alike.
 *    CALIB_HIST_EQUAL_MASS: per class, Kumar, Liang & Ma (2019)
 *      get_equal_bins on the probabilities of the rows of positive weight
 *      (N of them): B = min(M, N) parts of the sorted values, the first
 *      N mod B parts one longer (numpy's array_split); upper edge of part i =
 *      (last of part i + first of part i+1) / 2, last edge 1.0; equal edges
 *      merged, so ties give fewer bins. Bin b holds (e_{b-1}, e_b] and every
 *      value <= e_0 is in bin 0 (bisect_left); bin 0's midpoint uses lo = 0.
 *  Options: CALIB_P_HIST_BINS M in [1, 100000], default 10 (netcal's);
 *  CALIB_P_HIST_BINNING (default CALIB_HIST_EQUAL_WIDTH); CALIB_P_INPUT.
 *  Model arrays: CALIB_MP_HIST_CONFIG = (binning, M, input);
 *  CALIB_MP_HIST_VALUES = theta, class after class (k*M values for equal
 *  width; sum c_j for equal mass); equal mass only: CALIB_MP_HIST_COUNTS =
 *  bins per class c_j, CALIB_MP_HIST_EDGES = the upper edges, class after
 *  class (each class's last edge is 1.0).
 *  Report: iterations 0, gradient 0, nll_before / nll_after as isotonic
 *  (nll_after may be +inf: a bin of negatives only has theta = 0).
 *  Errors, besides calib_fit()'s: CALIB_E_DOMAIN (CALIB_INPUT_PROBS and a
 *  value outside [0, 1]).
 *
 * calib_apply() on an isotonic or histogram model: input rules: k must equal
 * the model's k (CALIB_E_SHAPE); NaN and +inf are CALIB_E_NONFINITE; -inf is
 * accepted only as a logit or score (a masked class: softmax gives it 0;
 * isotonic k == 1 and CALIB_INPUT_SCORES treat it as below every threshold;
 * an all -inf row is CALIB_E_NONFINITE for k >= 2 logits); with
 * CALIB_INPUT_PROBS every value must be in [0, 1] (CALIB_E_DOMAIN); isotonic
 * CALIB_OOB_ERROR as above. All input is validated before the first write;
 * in place (probs == logits) is allowed. Thread-safe, no allocation.
 * An isotonic model with 2 <= k <= 1024 made by calib_fit, calib_model_load
 * or calib_model_load_file (not calib_model_init_static) on an x86-64 build
 * keeps a search index beside its thresholds (2 m to 8 m buckets of 32 bytes
 * per class of m thresholds, plus 32 bytes per threshold: about 1.5 MB for a
 * 241 KB k = 1000 model), allocated with the model (CALIB_E_NOMEM if it
 * cannot be), freed by calib_model_free, not counted by calib_model_size; the
 * AVX2 / AVX-512 apply finds the same table entries through it as the binary
 * search does (bit-identical outputs; k = 1000: 9.0 -> 2.5 us per row).
 */
#define CALIB_P_ISO_INCREASING    9
#define CALIB_P_ISO_Y_MIN        10
#define CALIB_P_ISO_Y_MAX        11
#define CALIB_P_ISO_OUT_OF_BOUNDS 12
#define CALIB_P_ISO_STRICT       13
#define CALIB_P_HIST_BINS        14
#define CALIB_P_HIST_BINNING     15

#define CALIB_INPUT_SCORES 3 /* CALIB_P_INPUT value: raw scores (isotonic only) */

#define CALIB_OOB_CLIP  0  /* values of CALIB_P_ISO_OUT_OF_BOUNDS            */
#define CALIB_OOB_ERROR 1
#define CALIB_OOB_NAN   2  /* calib_isotonic_predict_f64 only               */

#define CALIB_HIST_EQUAL_WIDTH 0  /* values of CALIB_P_HIST_BINNING         */
#define CALIB_HIST_EQUAL_MASS  1

#define CALIB_MP_ISO_CONFIG   7  /* isotonic: (out_of_bounds, input, strict) */
#define CALIB_MP_ISO_COUNTS   8  /* isotonic: k threshold counts m_j         */
#define CALIB_MP_ISO_X        9  /* isotonic: thresholds x, class by class   */
#define CALIB_MP_ISO_Y       10  /* isotonic: values y at the thresholds     */
#define CALIB_MP_HIST_CONFIG 11  /* histogram: (binning, M, input)           */
#define CALIB_MP_HIST_VALUES 12  /* histogram: theta per bin, class by class */
#define CALIB_MP_HIST_EDGES  13  /* histogram, equal mass: upper edges       */
#define CALIB_MP_HIST_COUNTS 14  /* histogram, equal mass: bins per class    */

/*! calib_isotonic_fit_f64() :
 *  Low-level float64 isotonic regression of y on x with scikit-learn's
 *  IsotonicRegression semantics (steps 1-5 above, for any real y), so that
 *  its fitted X_thresholds_ / y_thresholds_ are reproduced (tested to 1e-12;
 *  the arithmetic follows scikit-learn's order, so they are normally
 *  bit-identical).
 *    x, y        : n finite doubles (CALIB_E_NONFINITE otherwise).
 *    w           : NULL (all 1) or n finite weights >= 0, not all 0; rows of
 *                  weight 0 are dropped (as scikit-learn; a negative weight,
 *                  which scikit-learn silently drops, is CALIB_E_DOMAIN).
 *    increasing  : 1, 0, or -1 for auto (Spearman sign, step 1; x or y
 *                  constant gives decreasing, as scikit-learn).
 *    y_min/y_max : clip bounds, -INFINITY/+INFINITY for none; y_min <= y_max,
 *                  y_min < +inf, y_max > -inf, no NaN (CALIB_E_ARG).
 *    x_thresholds, y_thresholds : output tables of capacity `cap` (cap >= n
 *                  always suffices), or both NULL to learn only *count.
 *    count       : receives m, the number of thresholds (1 <= m <= n).
 *    increasing_out : NULL, or receives the direction used (0/1).
 *  Errors (nothing written): CALIB_E_ARG (count NULL; x/y NULL with n > 0;
 *  exactly one table NULL; bad increasing or bounds), CALIB_E_EMPTY (n == 0
 *  or every weight 0), CALIB_E_NONFINITE, CALIB_E_DOMAIN (negative weight),
 *  CALIB_E_SMALLBUF (cap < m), CALIB_E_NOMEM. Allocates 64 bytes of scratch
 *  per row (72 with auto; pages beyond the unique values stay untouched),
 *  freed before returning (calib_isotonic_fit_f64_work: the same fit in a
 *  caller's workspace). O(n) after an O(n) radix sort: one 3-pass sort of
 *  33-bit keys when y is 0/1 and x float32-representable, else two 64-bit
 *  sorts (by y, then stably by x). The caller owns every array; none is kept
 *  after the call. Reentrant: threads may call it at once on distinct outputs. */
CALIB_NODISCARD CALIB_API int calib_isotonic_fit_f64(
    const double *x, const double *y, const double *w, size_t n, int increasing,
    double y_min, double y_max, double *x_thresholds, double *y_thresholds,
    size_t cap, size_t *count, int *increasing_out);

/*! calib_isotonic_work_size() :
 *  The bytes of workspace calib_isotonic_fit_f64_work() needs for n rows
 *  with this `increasing` (1 or 0: 64 bytes per row on 64-bit targets; -1,
 *  auto: 72, for the y ranks; any other value gives the auto size, the
 *  largest), plus 12288 size_t of radix histograms (96 KiB). Monotone
 *  in n. 0 if the size overflows size_t or exceeds PTRDIFF_MAX. Pure: no
 *  allocation, reentrant. */
CALIB_API size_t calib_isotonic_work_size(size_t n, int increasing);

/*! calib_isotonic_fit_f64_work() :
 *  calib_isotonic_fit_f64() in a workspace the caller owns: the same
 *  arguments, the same checks, and bit-identical results, but no
 *  allocation at all (calib_isotonic_fit_f64 is this call on a workspace it
 *  allocates and frees). Useful when fitting repeatedly: a reused (already
 *  touched) workspace costs no page faults, which at n = 10^6 are most of
 *  the time of a call on fresh memory.
 *    work, work_bytes : at least calib_isotonic_work_size(n, increasing)
 *                  bytes, 8-byte aligned (malloc's result always is). Its
 *                  contents on entry do not matter and on return are
 *                  unspecified; it is not kept after the call.
 *  Errors (nothing written to the outputs): CALIB_E_ARG (work NULL with
 *  work_bytes > 0, work not 8-byte aligned -- checked first -- and every
 *  CALIB_E_ARG of calib_isotonic_fit_f64), CALIB_E_SMALLBUF (work_bytes
 *  below calib_isotonic_work_size(n, increasing), work NULL with
 *  work_bytes == 0 included; or cap < m, as calib_isotonic_fit_f64), and
 *  calib_isotonic_fit_f64's other errors except CALIB_E_NOMEM. Reentrant:
 *  threads may call it at once on distinct workspaces and outputs. */
CALIB_NODISCARD CALIB_API int calib_isotonic_fit_f64_work(
    const double *x, const double *y, const double *w, size_t n, int increasing,
    double y_min, double y_max, double *x_thresholds, double *y_thresholds,
    size_t cap, size_t *count, int *increasing_out, void *work, size_t work_bytes);

/*! calib_isotonic_predict_f64() :
 *  out[i] = the interpolated table (x_thr, y_thr) of m thresholds at t[i],
 *  exactly as scikit-learn's IsotonicRegression.predict (numpy.interp
 *  formula above), with out_of_bounds:
 *    CALIB_OOB_CLIP  t clipped to [x_thr[0], x_thr[m-1]] first;
 *    CALIB_OOB_NAN   NaN outside [x_thr[0], x_thr[m-1]] -- scikit-learn's
 *                    default, and the ONLY place libcalib writes NaN;
 *    CALIB_OOB_ERROR CALIB_E_DOMAIN (nothing written) if any t is outside.
 *  As in scikit-learn, m == 1 gives the constant y_thr[0] for every t in
 *  every mode (no NaN, no error). out may equal t (in place).
 *  Errors: CALIB_E_ARG (NULL table, m == 0, x_thr not strictly increasing,
 *  a non-finite table value, t/out NULL with n > 0, unknown mode),
 *  CALIB_E_NONFINITE (NaN/inf in t), CALIB_E_DOMAIN. n == 0 is a no-op.
 *  The caller owns every array; none is kept after the call. Allocation-free,
 *  reentrant: threads may call it at once (the tables may be shared). */
CALIB_API int calib_isotonic_predict_f64(const double *x_thr, const double *y_thr,
                                         size_t m, int out_of_bounds, const double *t,
                                         size_t n, double *out);

/* ---- Vector, matrix, Dirichlet scaling and ETS --------------------------- */
/*
 * Vector scaling (CALIB_METHOD_VECTOR), matrix scaling (CALIB_METHOD_MATRIX),
 * Dirichlet calibration (CALIB_METHOD_DIRICHLET), k >= 2 only (k == 1 is
 * CALIB_E_ARG: use Platt or temperature scaling for one score per row):
 *     vector     q_i = softmax(w .* z_i + b)          2k parameters (Guo et al. 2017)
 *     matrix     q_i = softmax(W z_i + b)             k^2 + k       (Guo et al. 2017)
 *     dirichlet  q_i = softmax(W ln p_i + b),         k^2 + k       (Kull et al. 2019)
 *                ln p_i = log_softmax(z_i) = z_i - logsumexp(z_i)
 * z_i is the row of k logits (or of log-probabilities: the Dirichlet map only
 * sees log_softmax(z_i), which is unchanged by adding a constant to the row).
 * W is k x k (row a gives class a's output), b and w have k entries.
 *
 * Objective (calib_fit), with theta = (W, b) or (w, b) and the weights w_i:
 *     L(theta) = sum_i w_i [logsumexp(a_i) - a_{i,y_i}] / sum_i w_i + R(theta)
 *     R(theta) = lambda / (k (k - 1)) * sum_{a != j} W_aj^2          (ODIR, off-diagonal)
 *              + mu / k * sum_a b_a^2                                (ODIR, intercept)
 *              + l2 / P * || theta - theta_c ||^2                    (plain L2)
 * where a_i is the map's output logit row, P the parameter count (k^2 + k or
 * 2k) and theta_c the identity map (W = I or w = 1, b = 0) when
 * CALIB_P_L2_CENTER = 1, or 0 when it is 0. The diagonal of W and the vector
 * w are never penalised by ODIR. lambda and mu are the normalised ODIR
 * constants of Kull et al. (2019, sec. 4): dirichletcal's
 * FullDirichletCalibrator(reg_lambda=lambda, reg_mu=mu, reg_norm=True) minimises
 * the same objective (up to its ref_row reparametrisation, which leaves the
 * probabilities unchanged); l2 with center 1 is its reg_format='identity',
 * reg_norm=True, reg_mu=None. L is convex (multinomial logistic regression on
 * fixed features).
 *
 * Solver: damped Newton while P <= CALIB_P_NEWTON_MAX (Hessian built with
 * BLAS dsyrk, solved by LAPACKE Cholesky with Levenberg damping
 * H + delta I, falling back to a Bunch-Kaufman symmetric-indefinite solve and
 * more damping; Armijo backtracking); beyond that, truncated Newton
 * (Newton-CG: each step solves H s = -g by conjugate gradients on
 * Hessian-vector products, two GEMMs each, preconditioned by the per-class
 * diagonal blocks of H; beyond k = 200 classes by a Kronecker-factored
 * approximation of H instead, with an L-BFGS warm start preconditioned by
 * it before the Newton-CG steps; the Hessian is never formed), with the penalty
 * minimised over the softmax gauge (adding one vector to every row of (W, b)
 * changes no probability); L-BFGS (Debian's liblbfgs, whitened coordinates)
 * only as its fallback when it makes no progress at all.
 * Forward and gradient passes are dgemm (features n x (k+1) times theta^T);
 * on large penalised matrix/Dirichlet problems (n k (k+1) >= 2^22) the
 * solver starts with float32 passes and products (sgemm, the row pass still
 * in double) and switches to double once max |dL/dtheta| <= 3e-5; every
 * reported number and the stopping test are double. The fit stops when both the largest gradient
 * entry max |dL/dtheta| <= CALIB_P_TOL and the estimated objective gap, the
 * Newton decrement g^T H^-1 g / 2 (the exactly flat softmax gauge left out),
 * is <= max(tol^2, 1e-14) max(1, L): tol is in gradient units, and on a
 * unit-curvature problem a gradient of tol is a gap of tol^2 / 2, so the
 * second test asks of ill-conditioned problems what the first promises of
 * well-conditioned ones (a gradient test alone stopped unregularised matrix
 * scaling on logit rows with a near-constant sum, condition ~1e12, at 1e-7
 * relative above the minimum). Newton computes the decrement from its own
 * step (a Cholesky solve with damping from 1e-15 of the largest curvature,
 * grown until the solve is accurate); Newton-CG from its CG solve, taken
 * to a relative preconditioned residual of 1e-3 once the gradient test
 * holds (L-BFGS, its fallback, the same way, with up to 8 Newton-CG steps;
 * beyond k = 200 to 0.1), plus an upper estimate of what the decrement
 * misses, which can also stop a solve early: after j CG steps g^T H^-1 g is
 * the decrement so far plus r^T H^-1 r (r the CG residual), bounded by
 * 10 r^T M^-1 r / theta, theta the smallest Ritz value of the preconditioned
 * Hessian over the solves since the gradient test held (M the
 * preconditioner; the factor 10 because theta estimates that eigenvalue
 * from above); CALIB_R_GAP is then that estimate. A decrement
 * that rounding keeps above the target (curvature below double precision:
 * the condition number, CALIB_R_CONDITION, is then ~1e16 or +inf) ends the
 * fit as a success 20 Newton steps after the gradient test held, with the gap
 * it reached in CALIB_R_GAP. The fit returns CALIB_E_NOCONV if
 * CALIB_P_MAX_ITER iterations (Newton or Newton-CG steps, plus the warm
 * start's L-BFGS iterations beyond k = 200; L-BFGS iterations plus its
 * polish steps) or a failed line search come first with
 * the gradient test unmet.
 * Scale: when the root mean square of the features (logits; Dirichlet: the
 * log-probabilities) is outside [1/16, 16], the solver works on features
 * times a power of two fs near 1/RMS and on W / fs (w / fs), with the
 * penalty above carried over exactly, so its damping, preconditioner and
 * gradient test (max |dL/dtheta| then refers to the coefficients of the
 * standardised features, as does the reported gradient) see the same
 * numbers for logits x c at every power of two c; W is unscaled at the end.
 * The start is softmax(fs z) (W = fs I, b = 0): the identity map when
 * fs = 1 (then everything is as without scaling).
 * Without an L2 penalty the optimum may not exist: when the part of the
 * map that the penalty leaves free (everything when lambda = mu = l2 = 0; the
 * diagonal, plus b if mu = 0, under ODIR alone) classifies every row of
 * non-zero weight strictly correctly, at the start or at the end, scaling it
 * up drives the NLL to 0 at no cost, and the fit returns CALIB_E_SEPARABLE
 * (never a half-result). The fit may use BLAS threads (OpenBLAS); apply never
 * does.
 *
 * Options (calib_fitter_set; integer options as doubles):
 *   CALIB_P_MAX_ITER     default 10000, range [1, 1000000]
 *   CALIB_P_TOL          gradient tolerance (gap: tol^2), default 1e-6, range
 *                        [1e-10, 1e-2]
 *   CALIB_P_ODIR_LAMBDA  lambda, matrix and dirichlet only; default 0 (matrix),
 *                        10 (dirichlet); range [0, 1e6]
 *   CALIB_P_ODIR_MU      mu, all three; default 0 (vector, matrix), 10
 *                        (dirichlet); range [0, 1e6]
 *   CALIB_P_L2           l2, all three; default 0; range [0, 1e6]
 *   CALIB_P_L2_CENTER    1 (identity map, default) or 0 (zero)
 *   CALIB_P_NEWTON_MAX   largest P solved by Newton, default 300 (matrix and
 *                        Dirichlet up to k = 16, vector up to k = 150); range
 *                        [0, 5000]; 0 always uses Newton-CG. Building the Hessian
 *                        costs n P^2 flops per step: at n = 5000, k = 20 a
 *                        Newton fit took 0.13-0.16 s and L-BFGS 0.02-0.03 s,
 *                        at k = 10 both ~0.02 s (Newton stays the robust
 *                        choice for tight tolerances on ill-conditioned data)
 *   CALIB_P_LBFGS_M      L-BFGS memory (correction pairs; the fallback solver),
 *                        default 20, [3, 100]
 * Matrix scaling is unregularised by default, as in Guo et al. (2017); at
 * large k it overfits (k^2 + k parameters): add ODIR or l2, or prefer
 * Dirichlet calibration, whose ODIR default is on. The Dirichlet default
 * lambda = mu = 10 was chosen on the val -> test splits of ../shared/data
 * (test NLL, DenseNet-40 / CIFAR-10: 0.2224 vs 0.2273 unregularised; LeNet-5
 * / CIFAR-100: 3.749 vs 5.563, where 100-300 is better still); Kull et al.
 * pick lambda and mu by cross-validation, which remains the way to tune it.
 *
 * Model arrays (calib_model_param):
 *   CALIB_MP_VECTOR_W : vector, w (k values)
 *   CALIB_MP_MATRIX_W : matrix and dirichlet, W (k*k values, row-major: W[a*k + j])
 *   CALIB_MP_BIAS     : all three, b (k values)
 * Every stored value is finite with |value| <= 1e100 (the loader rejects
 * others with CALIB_E_FORMAT).
 * W as float32 values (matrix and Dirichlet): at the end of the fit each
 * W_aj is rounded to the nearest float32 value (held as a double; the file
 * format still stores doubles), because apply then reads W at half the
 * bytes (below) and the logits it multiplies are float32 anyway: the
 * rounding moves L by about g^T delta + delta^T H delta / 2 (delta the
 * rounding; relative +2.3e-14 for unregularised matrix scaling on DenseNet-40 /
 * CIFAR-10, 0 and -7e-16 for Dirichlet ODIR there and on LeNet-5 / CIFAR-100,
 * all at the default tol). The report describes the stored
 * parameters: L and its gradient are re-evaluated once at the rounded W,
 * nll_after and gradient are theirs, and gap is the solver's decrement plus
 * any rise of L. The rounding is kept only if it breaks no stopping test that
 * held (max |dL/dtheta| <= max(tol, its value before) and the gap <=
 * max(target, its value before)); otherwise, as with tol ~1e-8 and below, where
 * the rounding alone moves the gradient by more than tol, W stays as the
 * solver left it and applies through the double path. b is not rounded.
 *
 * Apply (calib_apply): every input entry must be finite (NaN or +-inf is
 * CALIB_E_NONFINITE, nothing written: a masked -inf logit has no meaning
 * under a linear map). The logits a_i and the softmax are computed in double
 * per row (a plain C loop, no BLAS, no allocation; at most 8 KB of stack).
 * A matrix or Dirichlet model made by calib_fit, calib_model_load or
 * calib_model_load_file whose every W entry is a float32 value (as the fit
 * leaves it) keeps a second copy of W in float32 (k^2 * 4 bytes, allocated
 * with the model, freed by calib_model_free, not counted by calib_model_size,
 * which is the size of the bytes), on x86-64 with AVX2 or AVX-512 for
 * k <= 1024: apply reads it and widens each value exactly to double, so the
 * products, sums and probabilities are bit for bit those of the double W at
 * half the memory traffic (the row is memory-bound: at k = 1000 a row reads
 * all of W, 8 MB in double). Models with other doubles in W (older files,
 * hand-written W) and models by reference (calib_model_init_static) have no
 * copy and read the doubles. The copy is never modified after it is made:
 * apply stays thread-safe on a shared model.
 * In place (probs == logits) is supported for vector scaling at any k and for
 * matrix and Dirichlet up to k = 1024; a larger k in place is
 * CALIB_E_UNSUPPORTED (pass a separate output buffer).
 * The firmware core (calib_core.h) applies all three; their fitters need BLAS
 * and exist only in the full library (a build without BLAS has no such
 * fitter: calib_fitter_create() gives CALIB_E_UNSUPPORTED).
 *
 * Ensemble temperature scaling (CALIB_METHOD_ETS; Zhang, Kailkhura & Han
 * 2020, "Mix-n-Match"):
 *     p_i = w1 softmax(z_i / T) + w2 softmax(z_i) + w3 / k
 * (k == 1: w1 sigmoid(z_i / T) + w2 sigmoid(z_i) + w3 / 2), weights on the
 * simplex (w >= 0, w1 + w2 + w3 = 1). Fitting as in Mix-n-Match: T is the
 * temperature-scaling fit (CALIB_METHOD_TEMPERATURE with its defaults, NLL,
 * same weights; its errors CALIB_E_NOSIGNAL / CALIB_E_SEPARABLE / NOCONV are
 * returned as they are), then the weights minimise, with T fixed, the
 * weighted mean of
 *     CALIB_ETS_LOSS_NLL (default): -ln p_{i,y_i}
 *     CALIB_ETS_LOSS_MSE          : sum_j (p_ij - 1[y_i = j])^2 (k == 1: (p_i - y_i)^2)
 * (Mix-n-Match's default is the MSE; NLL is the default here for consistency
 * with every other fitter, and both are convex in w). The solver is an exact
 * active-set Newton method on the simplex; it stops when the projected
 * gradient (KKT residual) is <= CALIB_P_TOL.
 * Options: CALIB_P_MAX_ITER (weight solver steps, default 100, [1, 10000]),
 *   CALIB_P_TOL (default 1e-10, [1e-14, 1e-2]), CALIB_P_ETS_LOSS (0 or 1,
 *   default 0). Report: iterations = temperature Newton steps + weight steps.
 * Model arrays: CALIB_MP_ETS_TEMPERATURE (1 value: T),
 *   CALIB_MP_ETS_WEIGHTS (3 values: w1, w2, w3).
 * Apply: input rules of calib_softmax() (k >= 2: -inf allowed, NaN/+inf or an
 * all -inf row is CALIB_E_NONFINITE) and calib_sigmoid() (k == 1: NaN is
 * CALIB_E_NONFINITE); in place allowed at every k; double-precision row maths,
 * no allocation; part of the firmware core.
 */
#define CALIB_P_ODIR_LAMBDA 17
#define CALIB_P_ODIR_MU     18
#define CALIB_P_L2          19
#define CALIB_P_L2_CENTER   20
#define CALIB_P_NEWTON_MAX  21
#define CALIB_P_LBFGS_M     22
#define CALIB_P_ETS_LOSS    25

#define CALIB_ETS_LOSS_NLL 0
#define CALIB_ETS_LOSS_MSE 1

#define CALIB_MP_VECTOR_W        15
#define CALIB_MP_MATRIX_W        16
#define CALIB_MP_BIAS            17
#define CALIB_MP_ETS_TEMPERATURE 20
#define CALIB_MP_ETS_WEIGHTS     21

/* ---- Metrics suite: scopes, binnings, norms, estimators, streaming ------- */
/*
 * Every calibration measure of the benchmark literature, each convention
 * named. Inputs, validation and errors as in "Metrics" above: probabilities
 * float32 n x k (k == 1: P(y = 1) per row), int64 labels, double results,
 * nothing written on error, and no fake value ever: a measure that is
 * undefined on the data returns an error code instead of 0 or NaN. All
 * functions are thread-safe (they share no state) and allocate scratch
 * memory (CALIB_E_NOMEM on failure).
 *
 * Scope: what is compared with what. The measures reduce the input to
 * 1-D problems of scores s_i in [0, 1] and binary targets t_i:
 *   CALIB_SCOPE_TOP_LABEL      s = confidence max_j p_ij, t = 1[argmax_j p_ij == y_i]
 *                              (first index on ties; k == 1: prediction 1 iff
 *                              p > 0.5, confidence max(p, 1 - p)). Guo et al. 2017.
 *   CALIB_SCOPE_CLASSWISE      for each class j: s = p_ij, t = 1[y_i == j]; the
 *                              per-class values are combined over ALL classes
 *                              (also classes that never occur): mean for L1 (Kull
 *                              et al. 2019 cwECE = Nixon's SCE = Tao's
 *                              classwise ECE), root mean square for L2 (Kumar's
 *                              "marginal" CE with p = 2), maximum for MAX; the
 *                              bin-free estimators take the mean. k == 1 counts
 *                              as the two columns (1 - p, p), 1 - p in double.
 *   CALIB_SCOPE_POSITIVE_CLASS binary problems (k == 1: s = p; k == 2: s = p_i1),
 *                              t = 1[y_i == 1] (netcal's, sklearn's and
 *                              torchmetrics' "binary" ECE). k > 2: CALIB_E_ARG.
 * Top-label-only data -- a model that reports only (confidence, prediction),
 * like the markus93 sets -- is measured as a positive-class problem: pass the
 * confidences as probs with k = 1 and correct_i = 1[pred_i == y_i] as labels,
 * with CALIB_SCOPE_POSITIVE_CLASS: the positive-class measure of (confidence,
 * correctness) pairs is by definition the top-label measure.
 *
 * Within a problem, ties in s are ordered by t (0 first) wherever order
 * matters (KS, index split), so no result depends on the row order.
 */
#define CALIB_SCOPE_TOP_LABEL      1
#define CALIB_SCOPE_CLASSWISE      2
#define CALIB_SCOPE_POSITIVE_CLASS 3

/* Binning: how the scores are grouped (REFERENCES.md 2.2-2.3). M = bins.
 *   CALIB_BINNING_EQUAL_WIDTH             bin b holds b/M < s <= (b+1)/M, s = 0 in
 *       bin 0: edges are the correctly rounded doubles b/M (never b * (1/M)),
 *       no sample dropped, no phantom bin (Guo/gpleiss, Kumar, scikit-learn's
 *       calibration_curve, Tao; the same as calib_bin_index()).
 *   CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED bin b holds b/M <= s < (b+1)/M, s = 1 in
 *       bin M-1 (netcal; torchmetrics without its phantom bin), exact edges.
 *   CALIB_BINNING_EQUAL_MASS_KUMAR        Kumar, Liang & Ma 2019 (verified_calibration
 *       get_equal_bins; Tao's ECE_em): the sorted scores cut into min(M, n)
 *       parts, the first n mod M one longer; upper edge of part i = (its last
 *       + the next part's first) / 2, last edge 1.0; equal edges merged, so ties
 *       across a cut give fewer bins; bins (lo, hi].
 *   CALIB_BINNING_EQUAL_MASS_INDEX        Nixon et al. 2019 adaptive bins (ACE/SCE):
 *       the sorted order cut by index into min(M, n) bins of n / min(M, n)
 *       rows, the last taking the remainder; tied scores may be split across
 *       bins (targets 0 before 1 within a tie, so the result is deterministic).
 * Any bins in 1..CALIB_MAX_BINS is accepted (the equal-mass builders use
 * min(bins, n)); 0 or more is CALIB_E_ARG. */
#define CALIB_BINNING_EQUAL_WIDTH             1
#define CALIB_BINNING_EQUAL_WIDTH_LEFT_CLOSED 2
#define CALIB_BINNING_EQUAL_MASS_KUMAR        3
#define CALIB_BINNING_EQUAL_MASS_INDEX        4

/* Norm over the bins, with w_b = n_b / n and gap_b = |mean_b(t) - mean_b(s)|:
 *   CALIB_NORM_L1   ECE    = sum_b w_b gap_b               (Guo et al. 2017 eq. 3)
 *   CALIB_NORM_L2   RMS-CE = sqrt(sum_b w_b gap_b^2)       (Kumar et al. 2019 l2-CE;
 *                   torchmetrics "l2"; some papers report its square)
 *   CALIB_NORM_MAX  MCE    = max_{b: n_b > 0} gap_b         (Naeini et al. 2015)
 * Empty bins contribute nothing. */
#define CALIB_NORM_L1  1
#define CALIB_NORM_L2  2
#define CALIB_NORM_MAX 3

/*! calib_calibration_error() :
 *  *out = the binned calibration error of `scope` with `bins` bins of
 *  `binning` under `norm` (see above). calib_calibration_error(p, n, k, y, 15,
 *  CALIB_SCOPE_TOP_LABEL, CALIB_BINNING_EQUAL_WIDTH, CALIB_NORM_L1, &e) is
 *  calib_ece(); with CALIB_SCOPE_CLASSWISE it is Kull et al.'s classwise ECE.
 *  Errors: CALIB_E_ARG (NULL, k == 0, bins outside 1..CALIB_MAX_BINS, unknown
 *  scope/binning/norm, positive class with k > 2), CALIB_E_EMPTY, CALIB_E_NONFINITE,
 *  CALIB_E_DOMAIN, CALIB_E_LABEL, CALIB_E_NOMEM. */
CALIB_API int calib_calibration_error(const float *probs, size_t n, size_t k,
                                      const int64_t *labels, size_t bins, int scope,
                                      int binning, int norm, double *out);

/*! calib_debiased_l2_ce() :
 *  Kumar, Liang & Ma (NeurIPS 2019), "Verified uncertainty calibration",
 *  the debiased l2 calibration error (verified_calibration unbiased_l2_ce):
 *      CE^2 = sum_b w_b [ (mean_b(s) - mean_b(t))^2 - a_b (1 - a_b) / (n_b - 1) ]
 *  with a_b = mean_b(t) and bins of n_b < 2 contributing 0;
 *  *out = sqrt(max(0, CE^2)) (0 when the bias correction exceeds the plug-in
 *  estimate: the estimate of a squared error is then <= 0). Classwise: the
 *  root mean square of the per-class values (Kumar's marginal CE, p = 2).
 *  Kumar's own default binning is CALIB_BINNING_EQUAL_MASS_KUMAR.
 *  Errors as calib_calibration_error(). */
CALIB_API int calib_debiased_l2_ce(const float *probs, size_t n, size_t k,
                                   const int64_t *labels, size_t bins, int scope,
                                   int binning, double *out);

/*! calib_ks_error() :
 *  Gupta et al. (ICLR 2021), "Calibration of neural networks using splines":
 *  the Kolmogorov-Smirnov calibration error. With h(v) = (1/n) sum_{i: s_i <= v}
 *  (s_i - t_i), *out = max_v |h(v)| over the distinct scores v: tied scores
 *  enter together, so the value does not depend on the row order (the
 *  anchors' unstable argsort makes theirs order-dependent). Bin-free, no
 *  parameter. Classwise: mean over classes. Errors as calib_calibration_error()
 *  (without bins/binning/norm). */
CALIB_API int calib_ks_error(const float *probs, size_t n, size_t k,
                             const int64_t *labels, int scope, double *out);

/*! calib_mmce() :
 *  Kumar, Sarawagi & Jain (ICML 2018), maximum mean calibration error, in
 *  netcal's form (the square root of the biased V-statistic):
 *      MMCE = sqrt( (1/n^2) sum_i sum_j r_i r_j exp(-|s_i - s_j| / width) ),
 *  r = t - s, Laplacian kernel; width 0.4 is the paper's (CALIB_MMCE_WIDTH).
 *  Computed exactly in O(n log n) without the n x n matrix: sorted by s,
 *  G_1 = 0, G_i = exp(-(s_i - s_{i-1})/width) (G_{i-1} + r_{i-1}), and the
 *  double sum is sum_i r_i^2 + 2 sum_i r_i G_i (every exponent <= 0). The sum
 *  is >= 0 in exact arithmetic; a rounding-negative value counts as 0.
 *  Classwise: mean over classes.
 *  width: any finite value > 0 (tiny widths make the kernel 0 off the
 *  diagonal, huge ones make it 1; both are exact limits, no overflow).
 *  Errors: as calib_ks_error(), and CALIB_E_ARG for width NaN, inf or <= 0. */
#define CALIB_MMCE_WIDTH 0.4
CALIB_API int calib_mmce(const float *probs, size_t n, size_t k,
                         const int64_t *labels, int scope, double width, double *out);

/*! calib_kde_ece() :
 *  Zhang, Kailkhura & Han (ICML 2020), "Mix-n-Match", the KDE-based ECE, with
 *  every parameter fixed as in their ece_kde_binary (Tao et al.'s KDECE):
 *      KDE-ECE = int_0^1 |z - r(z)| f(z) dz / int_0^1 f(z) dz,
 *      r(z) = min(1, a f1(z) / f(z)),
 *  f = density of all n scores, f1 = density of the scores with t = 1,
 *  a = mean(t). Triweight kernel with standard deviation h =
 *  std(scores with t = 1, population form) * (2n)^(-1/5) (support radius 3h);
 *  each density from the scores and their mirror images (s < 0.5 mirrored
 *  about 0, s >= 0.5 about 1), linearly binned onto the 2^14-point grid
 *  linspace(-0.6, 1.6) and convolved with the kernel sampled on the grid
 *  (KDEpy FFTKDE's estimator, convolved directly), set to 0 at grid points
 *  <= 0 and >= 1 and doubled; where max(f1, f) <= 1e-6 the integrand repeats
 *  its previous grid value; trapezoid rule over the grid points in [0, 1].
 *  Top-label is Zhang's; positive class is their binary case; classwise is
 *  the mean over classes. Exact conventions: shared/data/REFERENCE_METRICS.md.
 *  No parameter. The value is >= 0 and normally <= 1, but the hold rule can
 *  carry a numerator past the density and give slightly more than 1 on
 *  degenerate data (found by the parameter fuzzer: 64 rows, 62 of them
 *  confidence 0: 1.0008); that is the estimator as published, not clipped.
 *  Errors: as calib_ks_error(), and CALIB_E_ONECLASS when a problem has no
 *  t = 1 (f1 undefined; e.g. a class absent from the labels, or no correct
 *  prediction), CALIB_E_DOMAIN when its t = 1 scores are all equal (h = 0). */
CALIB_API int calib_kde_ece(const float *probs, size_t n, size_t k,
                            const int64_t *labels, int scope, double *out);

/*! calib_smooth_ece() :
 *  Blasiok & Nakkiran (ICLR 2024), "Smooth ECE": with residuals r_i = s_i - t_i
 *  and the Gaussian kernel of width sigma reflected at 0 and 1 (all images),
 *      smECE_sigma = int_0^1 | (1/n) sum_i r_i K_sigma(u, s_i) | du,
 *  and smECE = smECE_sigma* at the fixed point sigma* = smECE_sigma* (the
 *  paper's automatic bandwidth), searched in [0.001, 1] as relplot does
 *  (sigma* = 1 if smECE_1 >= 1, 0.001 if the fixed point is below 0.001).
 *  sigma in [CALIB_SMECE_MIN_SIGMA, 1] = [0.001, 1] evaluates smECE_sigma at
 *  that sigma (no search); sigma == 0 searches. Anything else (0 < sigma <
 *  0.001, sigma > 1, negative, NaN) is CALIB_E_ARG, before any allocation.
 *  Why 0.001: it is the lower end of the search (relplot's), and the
 *  evaluation grid below needs about 64/sigma nodes, so a bound on sigma is
 *  what bounds the grid (<= 80000 nodes, < 2 MB, about 1e8 operations per
 *  evaluation); capping the grid instead would silently lose the accuracy
 *  stated below. Below 0.001 the estimate has no use either: a kernel that
 *  narrow resolves single samples of any real data set, and smECE_sigma
 *  tends to the mean |residual|, not to a calibration error.
 *  Evaluation: the residuals are linearly binned onto a uniform grid
 *  of spacing <= sigma/64 (at least 1000 intervals), convolved with the
 *  reflected kernel and integrated by the trapezoid rule: relative accuracy
 *  about 1e-4 against the exact integral, sigma* to the same (tested).
 *  relplot's smECE is a coarser approximation of this definition: a 200+
 *  point grid, a 10-step bisection, a kernel cut at +-0.5 with one
 *  reflection, and a boundary grid node that meets only half its image.
 *  Measured differences: 3e-4 relative (cifar10_lenet5), 1e-2 (cifar100_lenet5,
 *  COCO detections), 1e-1 (densenet40: many confidences at 1.0, relplot
 *  0.0496 vs 0.0549 here) and more when sigma* > 0.2 (the cut kernel).
 *  *sigma_used (may be NULL) receives the bandwidth used.
 *  Classwise: mean over classes (each with its own sigma*; *sigma_used is
 *  then their mean).
 *  Errors: as calib_ks_error(), and CALIB_E_ARG for sigma outside
 *  {0} U [0.001, 1] (NaN included). */
#define CALIB_SMECE_MIN_SIGMA 0.001
CALIB_API int calib_smooth_ece(const float *probs, size_t n, size_t k,
                               const int64_t *labels, int scope, double sigma,
                               double *out, double *sigma_used);

/* Brier score scalings (REFERENCES.md 2.12). */
#define CALIB_BRIER_SUM       1  /* (1/n) sum_i sum_j (p_ij - 1[y_i=j])^2, in [0,2] (Brier 1950;
                                    sklearn brier_score_loss on 2-D input); calib_brier(), k>=2 */
#define CALIB_BRIER_MEAN_K    2  /* the same / k: mean over the n*k entries (Tao et al.)     */
#define CALIB_BRIER_POSITIVE  3  /* binary: (1/n) sum_i (P(y_i=1) - y_i)^2, in [0,1]; k <= 2  */
#define CALIB_BRIER_TOP_LABEL 4  /* (1/n) sum_i (confidence_i - correct_i)^2 (Kumar's top MSE) */

/*! calib_brier_score() : *out = the Brier score in the given scaling. k == 1
 *  counts as the two columns (1 - p, p) for SUM and MEAN_K (so MEAN_K and
 *  POSITIVE agree for binary data, and SUM is twice them).
 *  Errors: the common metric errors; CALIB_E_ARG for a scaling other than
 *  the four CALIB_BRIER_* or POSITIVE with k > 2. */
CALIB_API int calib_brier_score(const float *probs, size_t n, size_t k,
                                const int64_t *labels, int scaling, double *out);

/* Reliability-diagram fields, per bin (calib_reliability). */
#define CALIB_RD_LO       0  /* lower bin edge                                        */
#define CALIB_RD_HI       1  /* upper bin edge                                        */
#define CALIB_RD_COUNT    2  /* rows in the bin                                       */
#define CALIB_RD_CONF     3  /* mean score (confidence) of the bin                    */
#define CALIB_RD_ACC      4  /* mean target (accuracy / positive rate) of the bin     */
#define CALIB_RD_WILSON_LO 5 /* Wilson score interval of ACC at the given z: lower    */
#define CALIB_RD_WILSON_HI 6 /*                                             upper    */
#define CALIB_RD_FIELDS   7

/*! calib_reliability() :
 *  The data of a reliability diagram: out[b * CALIB_RD_FIELDS + CALIB_RD_*]
 *  for each bin b < *nbins. Edges: equal width b/M and (b+1)/M; Kumar: 0 or
 *  the previous upper edge, and the upper edge; index split: the midpoints
 *  between the last score of a bin and the first of the next (0 and 1 at the
 *  ends). Empty bins (equal width only) have COUNT 0 and NaN in CONF, ACC and
 *  the interval (no data, not an error). Wilson (1927) interval for x
 *  successes in m rows, q = x/m:
 *      (q + z^2/(2m) -+ z sqrt(q(1-q)/m + z^2/(4m^2))) / (1 + z^2/m),
 *  z in (0, CALIB_RD_MAX_Z] = (0, 100] (1.959963984540054 for 95 %; z = 37.5
 *  is already the 1 - 1e-300 level, and z^2 stays far from overflow).
 *  bins: 1..CALIB_MAX_BINS. *nbins = number of bins (bins for equal
 *  width, at most min(bins, n) for equal mass). cap = doubles available at
 *  out: at least bins * CALIB_RD_FIELDS (CALIB_E_SMALLBUF otherwise; nothing
 *  written). The rows are written straight into out (no bins-sized scratch).
 *  Scope: top-label or positive class; classwise is CALIB_E_ARG.
 *  Errors: as calib_calibration_error(), CALIB_E_ARG for z NaN, <= 0 or
 *  > 100, or nbins NULL, CALIB_E_SMALLBUF. */
#define CALIB_RD_MAX_Z 100.0
CALIB_API int calib_reliability(const float *probs, size_t n, size_t k,
                                const int64_t *labels, size_t bins, int scope,
                                int binning, double z, double *out, size_t cap,
                                size_t *nbins);

/* ---- Streaming accumulators ------------------------------------------------
 * A calib_accumulator holds sufficient statistics of the fixed-bin measures
 * (equal-width bins only: equal-mass bins depend on all the data), NLL,
 * Brier and accuracy, for a fixed k and bin count: add batches, merge
 * accumulators of other shards, read any measure at any time, serialise the
 * state. Per bin it keeps integer counts (rows, targets) and a double sum of
 * scores, for the top-label problem and for every classwise column (k*bins
 * bins; the positive class is classwise column 1). Merging the accumulators
 * of any split of the data gives bit-identical counts and sums equal up to
 * float64 summation order (~1e-15 relative) to one pass over all of it.
 * Thread-safety: an accumulator is mutable and unlocked: one writer
 * (add, add_logits, merge into it) per accumulator, so one accumulator per
 * thread, merged afterwards. The calls taking a const accumulator (value,
 * reliability, size, save, merge's src) only read it and may run on it from
 * any number of threads while nobody writes to it.
 */
typedef struct calib_accumulator calib_accumulator;

/* Measures read with calib_accumulator_value(). */
#define CALIB_M_COUNT             1  /* rows added so far                               */
#define CALIB_M_ACCURACY          2  /* top-label accuracy                              */
#define CALIB_M_NLL               3  /* mean -ln p_{i,y_i} (+inf if some p_{i,y_i} = 0)  */
#define CALIB_M_BRIER             4  /* CALIB_BRIER_SUM                                 */
#define CALIB_M_BRIER_K           5  /* CALIB_BRIER_MEAN_K                              */
#define CALIB_M_BRIER_TOP_LABEL   6  /* CALIB_BRIER_TOP_LABEL                           */
#define CALIB_M_BRIER_POSITIVE    7  /* CALIB_BRIER_POSITIVE (k <= 2)                   */
#define CALIB_M_ECE               8  /* top-label, CALIB_NORM_L1                        */
#define CALIB_M_RMSCE             9  /* top-label, CALIB_NORM_L2                        */
#define CALIB_M_MCE              10  /* top-label, CALIB_NORM_MAX                       */
#define CALIB_M_DEBIASED_L2      11  /* top-label, calib_debiased_l2_ce                 */
#define CALIB_M_CW_ECE           12  /* classwise, CALIB_NORM_L1                        */
#define CALIB_M_CW_RMSCE         13  /* classwise, CALIB_NORM_L2                        */
#define CALIB_M_CW_MCE           14  /* classwise, CALIB_NORM_MAX                       */
#define CALIB_M_CW_DEBIASED_L2   15  /* classwise, calib_debiased_l2_ce                 */
#define CALIB_M_POS_ECE          16  /* positive class, CALIB_NORM_L1 (k <= 2)          */
#define CALIB_M_POS_RMSCE        17  /* positive class, CALIB_NORM_L2 (k <= 2)          */
#define CALIB_M_POS_MCE          18  /* positive class, CALIB_NORM_MAX (k <= 2)         */
#define CALIB_M_POS_DEBIASED_L2  19  /* positive class, debiased l2 (k <= 2)            */

/* The largest bin count of an accumulator (the same bound as histogram
 * binning's CALIB_P_HIST_BINS): its memory is proportional to bins with no
 * data to bound it, so the bound is a constant. */
#define CALIB_ACC_MAX_BINS 100000

/*! calib_accumulator_create() : *out = an empty accumulator for k columns
 *  (k == 1: binary, as everywhere) and `bins` bins of `binning`
 *  (CALIB_BINNING_EQUAL_WIDTH or _LEFT_CLOSED). Caller owns: free with
 *  calib_accumulator_free(). Memory: about 24 * bins * (k + 2) bytes.
 *  bins: 1..CALIB_ACC_MAX_BINS; k >= 1 with every size above representable.
 *  Errors: CALIB_E_ARG (out NULL, k == 0, bins outside 1..CALIB_ACC_MAX_BINS,
 *  or a k so large that the state's size overflows size_t / exceeds
 *  PTRDIFF_MAX), CALIB_E_UNSUPPORTED (an equal-mass binning), CALIB_E_NOMEM. */
CALIB_NODISCARD CALIB_API int calib_accumulator_create(calib_accumulator **out, size_t k,
                                                       size_t bins, int binning);
/*! calib_accumulator_free() : releases a; NULL is a no-op. */
CALIB_API void calib_accumulator_free(calib_accumulator *a);
/*! calib_accumulator_add() : adds n rows of probabilities (n x k float32, k
 *  the accumulator's, as every metric takes them). The whole batch is
 *  validated first: on error the accumulator is unchanged. n == 0 is a no-op.
 *  Never allocates; keeps no pointer to probs or labels.
 *  Errors: CALIB_E_ARG (a NULL; probs or labels NULL with n > 0; n * k
 *  overflowing), CALIB_E_NONFINITE, CALIB_E_DOMAIN (also: the row count
 *  would pass 2^64 - 1, possible only from a loaded state), CALIB_E_LABEL. */
CALIB_API int calib_accumulator_add(calib_accumulator *a, const float *probs, size_t n,
                                    const int64_t *labels);
/*! calib_accumulator_add_logits() : the same from logits: probabilities are
 *  their softmax (k == 1: sigmoid) in double, and the NLL is exact from the
 *  logits (log-sum-exp, never +inf). -inf logits allowed (and, for k == 1,
 *  +inf: sigmoid 1); NaN, +inf with k >= 2 or an all -inf row with k >= 2:
 *  CALIB_E_NONFINITE. Validated in full first (accumulator unchanged on
 *  error); never allocates.
 *  Errors: CALIB_E_ARG (as calib_accumulator_add()), CALIB_E_NONFINITE,
 *  CALIB_E_LABEL, CALIB_E_DOMAIN (row count past 2^64 - 1, as there). */
CALIB_API int calib_accumulator_add_logits(calib_accumulator *a, const float *logits,
                                           size_t n, const int64_t *labels);
/*! calib_accumulator_add_logits_many() : calib_accumulator_add_logits() on
 *  each of accs[0..count-1] (e.g. one per bin count of a suite), with each
 *  row's softmax computed once and the batch validated once: the result is
 *  bit-identical to `count` separate calls, at about the cost of one plus
 *  the binning. Every accumulator must have the same k; bins and binning
 *  may differ. On error no accumulator changes. Never allocates.
 *  Errors: CALIB_E_ARG (accs NULL, count == 0, an accs[i] NULL, the same
 *  accumulator twice, logits or labels NULL with n > 0, n * k overflowing),
 *  CALIB_E_SHAPE (different k), CALIB_E_NONFINITE, CALIB_E_LABEL,
 *  CALIB_E_DOMAIN (a row count past 2^64 - 1). */
CALIB_API int calib_accumulator_add_logits_many(calib_accumulator *const *accs, size_t count,
                                                const float *logits, size_t n,
                                                const int64_t *labels);
/*! calib_accumulator_merge() : dst += src (dst may equal src: doubles it).
 *  Errors: CALIB_E_ARG (NULL; different bins or binning), CALIB_E_SHAPE
 *  (different k), CALIB_E_DOMAIN (the merged row count would pass 2^64 - 1:
 *  only loaded states can get there; dst is unchanged). */
CALIB_API int calib_accumulator_merge(calib_accumulator *dst, const calib_accumulator *src);
/*! calib_accumulator_value() : *out = measure CALIB_M_* of everything added.
 *  Errors: CALIB_E_ARG (NULL, unknown measure, a positive-class measure with
 *  k > 2), CALIB_E_EMPTY (no row added yet: every measure but CALIB_M_COUNT),
 *  CALIB_E_NOMEM (the classwise measures allocate k doubles of scratch). */
CALIB_API int calib_accumulator_value(const calib_accumulator *a, int measure, double *out);
/*! calib_accumulator_reliability() : calib_reliability() of everything added
 *  (scope top-label or positive class; the accumulator's binning). cap and
 *  errors as there, plus CALIB_E_EMPTY. */
CALIB_API int calib_accumulator_reliability(const calib_accumulator *a, int scope, double z,
                                            double *out, size_t cap, size_t *nbins);
/*! calib_accumulator_size() : bytes calib_accumulator_save() writes; 0 if a is NULL. */
CALIB_API size_t calib_accumulator_size(const calib_accumulator *a);
/*! calib_accumulator_save() : the state as versioned little-endian bytes
 *  (magic "CALIBACC", format version 1, k, bins, binning, counts as uint64,
 *  sums as IEEE-754 float64, CRC-32; layout in src/metrics/accumulate.c),
 *  identical on every host. *written (may be NULL) = length.
 *  Errors: CALIB_E_ARG (a or buf NULL), CALIB_E_SMALLBUF (nothing written). */
CALIB_NODISCARD CALIB_API int calib_accumulator_save(const calib_accumulator *a, void *buf,
                                                     size_t cap, size_t *written);
/*! calib_accumulator_load() : *out = a new accumulator from len bytes (copied;
 *  no alignment needed; buf is not kept). Caller owns *out: free with
 *  calib_accumulator_free(). Every field is validated before use (magic,
 *  version, bins in 1..CALIB_ACC_MAX_BINS, k and sizes against len, CRC,
 *  count consistency with every sum checked before it could wrap, finite
 *  non-negative sums within their per-row ranges).
 *  Errors: CALIB_E_ARG (NULL), CALIB_E_FORMAT, CALIB_E_NOMEM. */
CALIB_NODISCARD CALIB_API int calib_accumulator_load(calib_accumulator **out, const void *buf,
                                                     size_t len);

/* ---- Benchmark suites ------------------------------------------------------
 * CALIB_SUITE_TAO2024: the measures of Tao et al., "A Benchmark Study on
 * Calibration" (ICLR 2024), 50 keys in this order:
 *   ece_ew_B    top-label ECE, B equal-width bins         (Tao's ECE_B)
 *   ece_em_B    top-label ECE, B Kumar equal-mass bins    (ECE_em_B)
 *   cwece_ew_B  classwise ECE, equal-width                (cwCE_B)
 *   cwece_em_B  classwise ECE, Kumar bins per class       (cwCE_em_B)
 *   mce_B       top-label MCE, equal-width                (MCE_B)
 *     for B = 5, 10, 15, 20, 25, 50, 100, 200, 500 (key groups in this order),
 *   ks, kde_ece, mmce (width 0.4), nll, brier_k (CALIB_BRIER_MEAN_K).
 * With CALIB_INPUT_LOGITS the probabilities are the float64 softmax
 * exp(z - max z) / sum exp(z - max z) of the float32 logits (k == 1: the
 * columns (0, z)), and the NLL is exact from the logits; with
 * CALIB_INPUT_PROBS they are the float32 values as given (NLL +inf if a true
 * class has probability 0). Conventions and reference values:
 * shared/data/REFERENCE_METRICS.md; this implementation reproduces them.
 * One pass per family: a row pass (softmax, prediction, NLL, Brier), one
 * sort of the top-label pairs (every top-label measure), one sort per class
 * column (both classwise families at every B, from prefix sums).
 */
#define CALIB_SUITE_TAO2024 1
#define CALIB_INPUT_PROBS  1
#define CALIB_INPUT_LOGITS 2

/*! calib_suite_size() : number of measures of `suite`; 0 if unknown. */
CALIB_API size_t calib_suite_size(int suite);
/*! calib_suite_key() : the key of measure i ("ece_ew_5", ...), a static
 *  string; NULL if the suite is unknown or i out of range. */
CALIB_API const char *calib_suite_key(int suite, size_t i);
/*! calib_suite_eval() :
 *  Computes every measure of `suite` on n rows of k float32 values x
 *  (`input`: CALIB_INPUT_LOGITS or CALIB_INPUT_PROBS) with their labels into
 *  out[0..size-1] (cap >= calib_suite_size(suite)).
 *  status: NULL, or an array of size ints receiving each measure's own
 *  status. A measure can be undefined on valid data (kde_ece: no correct
 *  prediction, or all correct confidences equal). With status == NULL such a
 *  measure fails the whole call (its code is returned, nothing written);
 *  with status != NULL the call succeeds, status[i] says which values are
 *  defined, and out[i] of an undefined measure is left untouched.
 *  Options: suite CALIB_SUITE_TAO2024; input CALIB_INPUT_LOGITS or
 *  CALIB_INPUT_PROBS; cap >= calib_suite_size(suite). Memory O(n * k).
 *  Errors: CALIB_E_ARG (NULL, k == 0, unknown suite or input, n * k * 8 bytes
 *  not representable), CALIB_E_SMALLBUF (cap too small), CALIB_E_EMPTY, CALIB_E_NONFINITE (probs: NaN/inf;
 *  logits: NaN, +inf or an all -inf row), CALIB_E_DOMAIN (a probability
 *  outside [0,1]), CALIB_E_LABEL, CALIB_E_NOMEM, or a measure's own code. */
CALIB_API int calib_suite_eval(int suite, const float *x, size_t n, size_t k,
                               const int64_t *labels, int input, double *out,
                               int *status, size_t cap);

/* ---- Hot swap and rollback: calib_slot --------------------------------------
 * A slot holds the current model of a server and the last `history` models
 * before it. Any number of threads apply through the slot with no lock and no
 * allocation; installing and rolling back are serialised among themselves
 * (a mutex on the writer side only) and never block an apply.
 *
 * Versions: every install is given the next integer (1, 2, 3, ...; never
 * reused), so a version names one model for the life of the slot. A rollback
 * makes the previous model current again under its own (older) version and
 * discards the model rolled back from; calib_slot_version() can therefore go
 * down after a rollback, while calib_slot_install() always returns a larger
 * version than any before.
 *
 * Reclamation: each kept model sits in one of history + 1 holders that live
 * as long as the slot. A reader increments its holder's count, then checks
 * that the holder is still current (sequentially consistent atomics); a
 * writer frees a model only after it stopped being current and its holder's
 * count reads zero, waiting (yielding) for the applies still using it. So a
 * model is freed only when no apply uses it, and each apply uses exactly one
 * model for all its rows. (Reference counts on fixed holders: the retry loop
 * of a reader is bounded by the installs that happen during one pass.)
 * Not in the firmware core (it needs atomics and a mutex).
 */
typedef struct calib_slot calib_slot;

/* The most models a slot keeps for rollback. */
#define CALIB_SLOT_HISTORY_MAX 64

/*! calib_slot_create() : *out = a new empty slot keeping up to `history`
 *  previous models for rollback (1..CALIB_SLOT_HISTORY_MAX; 0 is CALIB_E_ARG:
 *  a slot without history cannot roll back, use the model directly).
 *  Errors: CALIB_E_ARG (out NULL, history out of range), CALIB_E_NOMEM. */
CALIB_NODISCARD CALIB_API int calib_slot_create(calib_slot **out, size_t history);
/*! calib_slot_free() : frees the slot and every model it holds. No apply or
 *  install may be running on it. NULL is a no-op. */
CALIB_API void calib_slot_free(calib_slot *s);
/*! calib_slot_install() : makes m the current model. The slot takes
 *  ownership of m on success (do not free it; it is freed once it leaves the
 *  history and no apply uses it); on failure the caller keeps it. The model
 *  that was current becomes the newest of the history; when the history is
 *  full, its oldest model is dropped (after the applies still using it end).
 *  *version (may be NULL) receives the new model's version.
 *  Errors: CALIB_E_ARG (s or m NULL, or m already in this slot). */
CALIB_NODISCARD CALIB_API int calib_slot_install(calib_slot *s, calib_model *m, uint64_t *version);
/*! calib_slot_rollback() : makes the newest model of the history current
 *  again and frees the model that was current (once no apply uses it).
 *  *version (may be NULL) receives the version now current.
 *  Errors: CALIB_E_ARG (s NULL), CALIB_E_EMPTY (no history to roll back to:
 *  nothing changes). */
CALIB_NODISCARD CALIB_API int calib_slot_rollback(calib_slot *s, uint64_t *version);
/*! calib_slot_version() : the current version; 0 when the slot is empty or
 *  s is NULL. */
CALIB_API uint64_t calib_slot_version(const calib_slot *s);
/*! calib_slot_history() : how many models a rollback can go back to now. */
CALIB_API size_t calib_slot_history(const calib_slot *s);

/*! calib_slot_apply() : calib_apply() with the current model, read once for
 *  the whole call: every row of the call uses the same model, whose version
 *  is stored in *version (may be NULL; on error too, when a model was read).
 *  Reentrant, lock-free and allocation-free (the retry loop only runs while
 *  installs race with it).
 *  Errors: CALIB_E_ARG (s NULL, or calib_apply's), CALIB_E_EMPTY (no model
 *  installed yet: nothing written), and every error of calib_apply(). */
CALIB_NODISCARD CALIB_API int calib_slot_apply(const calib_slot *s, const float *logits, size_t n,
                                               size_t k, float *probs, uint64_t *version);

/* A pinned model: what calib_slot_acquire() hands out for several calls
 * (apply, then a monitor, ...) on one model. Treat as opaque. */
typedef struct calib_slot_ref {
  const calib_model *model; /* the pinned model (read-only) */
  uint64_t version;         /* its version */
  void *holder_;            /* internal */
} calib_slot_ref;

/*! calib_slot_acquire() : pins the current model into *ref (lock-free):
 *  it stays valid until calib_slot_release(ref), even if another model is
 *  installed or the slot rolls back meanwhile (the writer then waits for the
 *  release before freeing it: keep pins short).
 *  Errors: CALIB_E_ARG (NULL), CALIB_E_EMPTY (no model installed). */
CALIB_NODISCARD CALIB_API int calib_slot_acquire(const calib_slot *s, calib_slot_ref *ref);
/*! calib_slot_release() : ends a pin; a ref whose model is NULL is a no-op. */
CALIB_API void calib_slot_release(calib_slot_ref *ref);


/* ---- Partial sums for fits driven from outside (issue 13) --------------------
 * A fit over data that never sits in one process (partitions on the workers
 * of a Dask cluster, shards on disk) runs its solver on a driver and asks
 * each partition for sums at the current parameters; the driver adds the
 * sums of every partition (in any order or tree: they are plain weighted
 * sums) and takes the Newton step. The row maths are those of calib_fit's
 * temperature and Platt fitters (same kernels), so a driver that repeats the
 * fitter's iteration reproduces calib_fit to the rounding of the sums' order.
 * The Python binding's calib.dask.fit is such a driver.
 * Inputs are validated as calib_fit does (labels in 0..k-1, 0/1 for k == 1;
 * finite scores; weights NULL or finite and >= 0), except that a partition
 * may be empty (n == 0: every sum 0) or have zero total weight. Rows are
 * contiguous (stride k); n * k * 4 bytes beyond the address space is
 * CALIB_E_ARG. Nothing is allocated; thread-safe; out is written only on
 * success (every check runs before the first write). Units: sums over rows of w_i * (per-row value), natural
 * logarithms (nats); divide by the total weight for means. */

/*! calib_temperature_prepass() :
 *  One read of the rows, no exp: out[0] = sum of weights (n if weights is
 *  NULL), out[1] = sum_i w_i dNLL_i/dbeta at beta = 0 (k >= 2:
 *  mean_j z_ij - z_{i,y_i}; k == 1: z_i (1/2 - y_i)), out[2] = 1.0 if every
 *  row of non-zero weight has its label at the row maximum (k >= 2) or a
 *  score of its label's sign (k == 1), else 0.0. The temperature fit has a
 *  finite optimum iff the total of out[1] is < 0 (else CALIB_E_NOSIGNAL)
 *  and some partition has out[2] == 0 (else CALIB_E_SEPARABLE).
 *  Errors: CALIB_E_ARG (NULL out, k == 0, NULL data with n > 0),
 *  CALIB_E_LABEL, CALIB_E_NONFINITE, CALIB_E_DOMAIN (negative weight). */
CALIB_NODISCARD CALIB_API int calib_temperature_prepass(const float *logits, size_t n, size_t k,
                                                        const int64_t *labels,
                                                        const double *weights, double *out);

/*! calib_temperature_partial() :
 *  At beta = 1/T >= 0, the weighted sums over the rows of the temperature-
 *  scaling NLL and its first two derivatives in beta:
 *    out[0] = sum_i w_i [log sum_j exp(beta z_ij) - beta z_{i,y_i}]   (nats)
 *    out[1] = sum_i w_i dNLL_i/dbeta,  out[2] = sum_i w_i d2NLL_i/dbeta2 (>= 0)
 *  (k == 1: NLL_i = softplus(beta z_i) - y_i beta z_i). Double-precision
 *  exponentials (calib_fit's exact kernel). Errors: as the prepass, and
 *  CALIB_E_ARG for a beta that is negative or not finite. */
CALIB_NODISCARD CALIB_API int calib_temperature_partial(const float *logits, size_t n, size_t k,
                                                        const int64_t *labels,
                                                        const double *weights, double beta,
                                                        double *out);

/*! calib_platt_partial() :
 *  Platt scaling of one class: the score of row i is s_i = scores[i*k + cls]
 *  (k == 1: the binary log-odds), its target t1 if it is positive (label
 *  cls; k == 1: label 1) else t0, and P_i = 1 / (1 + exp(A s_i + B)). Sums:
 *    out[0] = sum_i w_i [-t_i log P_i - (1 - t_i) log(1 - P_i)]  (objective, nats)
 *    out[1] = d out[0] / dA,  out[2] = d out[0] / dB
 *    out[3] = d2/dA2, out[4] = d2/dA dB, out[5] = d2/dB2 (the 2x2 Hessian)
 *    out[6] = out[0] with 0/1 targets (the NLL that calib_fit reports).
 *  calib_fit's targets: t1 = (N+ + 1)/(N+ + 2), t0 = 1/(N- + 2) with the
 *  weighted class totals of every partition (smooth_targets = 1, Platt's and
 *  scikit-learn's), or t1 = 1, t0 = 0; its start is A = 0,
 *  B = -ln((N+ + 1)/(N- + 1)), and its step Lin, Lin & Weng's Newton step with
 *  backtracking (see the Platt block). Errors: CALIB_E_ARG (NULL out, k == 0,
 *  cls >= k, NULL data with n > 0, A or B not finite, t0 or t1 outside
 *  [0, 1]), CALIB_E_LABEL, CALIB_E_NONFINITE, CALIB_E_DOMAIN. */
CALIB_NODISCARD CALIB_API int calib_platt_partial(const float *scores, size_t n, size_t k,
                                                  size_t cls, const int64_t *labels,
                                                  const double *weights, double t0, double t1,
                                                  double a, double b, double *out);

/*! calib_temperature_model() / calib_platt_model() :
 *  *out = the model calib_fit would have built from these parameters, for a
 *  driver that ran the solver itself: temperature T > 0 (finite) for k
 *  columns; Platt's ab[2j] = A_j, ab[2j + 1] = B_j for j < k (finite), on
 *  logits (CALIB_INPUT_LOGITS). Free with calib_model_free(). Errors:
 *  CALIB_E_ARG (NULL, k == 0, a parameter not finite or rejected by the
 *  model's validation, T <= 0), CALIB_E_UNSUPPORTED (k over
 *  CALIB_MODEL_MAX_K, or 2k values over CALIB_MODEL_MAX_VALUES), CALIB_E_NOMEM. */
CALIB_NODISCARD CALIB_API int calib_temperature_model(calib_model **out, size_t k,
                                                      double temperature);
CALIB_NODISCARD CALIB_API int calib_platt_model(calib_model **out, size_t k, const double *ab);

/* ---- Live monitoring: calib_reference, calib_monitor ---------------------------
 * What a server can learn about a deployed calibration map without labels (every
 * request) and with late labels, compared with the fit-time reference.
 *
 * Classes. k == 1 (binary, P(y = 1) per row) is treated as the two classes
 * (1 - p, p) everywhere below: priors, class histograms and EM estimates then
 * have kc = 2 entries; for k >= 2, kc = k. Top-label prediction and confidence
 * follow the metrics' conventions (argmax, first index on ties; k == 1:
 * predicted 1 iff p > 0.5, confidence max(p, 1 - p)).
 *
 * Probabilities in. Every function takes calibrated probabilities (the output
 * of calib_apply / calib_slot_apply), n x k float32: every entry finite
 * (NaN/inf: CALIB_E_NONFINITE) and in [0, 1] (CALIB_E_DOMAIN). Rows are not
 * required to sum to 1 (float rounding); EM normalises each row.
 * Errors common to this block: CALIB_E_ARG (a NULL pointer where a value is
 * needed, k == 0, n * k overflowing), CALIB_E_SHAPE (k differs from the
 * reference's or monitor's k), CALIB_E_NONFINITE, CALIB_E_DOMAIN,
 * CALIB_E_LABEL (label outside 0..k-1, 0/1 when k == 1). A failed call changes
 * nothing and writes nothing; the whole batch is validated before the first
 * write.
 */

/* ---- The fit-time reference ---------------------------------------------------
 * calib_reference summarises the calibrated validation probabilities a model
 * was fitted on: n, the class prior, a histogram of the top-label confidence
 * in CALIB_REF_CONF_BINS equal-width bins (bin b holds (b/20, (b+1)/20], 0 in
 * bin 0: calib_bin_index()), a histogram of predicted classes, and the NLL,
 * ECE (15 bins, top-label) and Brier score of the set when labels are given.
 * Immutable once made; any number of threads may read it. A model fitted with
 * provenance carries one in its bytes (calib_model_reference(), model
 * format version 2).
 */
typedef struct calib_reference calib_reference;

#define CALIB_REF_CONF_BINS 20
/* Arrays read with calib_reference_get(). */
#define CALIB_REF_PRIOR      1 /* kc values: label frequencies, or mean probability without labels */
#define CALIB_REF_CONF_HIST  2 /* CALIB_REF_CONF_BINS counts (as doubles) of top-label confidence */
#define CALIB_REF_CLASS_HIST 3 /* kc counts of predicted classes                                  */
#define CALIB_REF_METRICS    4 /* 4 values: n, NLL (calib_nll), ECE (15 bins), Brier (calib_brier); */
                               /* the last three NaN when computed without labels                 */

/*! calib_reference_compute() :
 *  *out = the reference of n rows of calibrated probabilities (n x k) with
 *  their labels. labels may be NULL: the prior is then the mean calibrated
 *  probability (its expectation for a calibrated model) and the metrics are
 *  NaN. The monitor's EM treats CALIB_REF_PRIOR as the prior under which the
 *  probabilities are calibrated. Caller owns *out (calib_reference_free()).
 *  Errors: CALIB_E_ARG (out or probs NULL, k == 0), CALIB_E_EMPTY (n == 0),
 *  CALIB_E_NONFINITE, CALIB_E_DOMAIN, CALIB_E_LABEL, CALIB_E_NOMEM. */
CALIB_NODISCARD CALIB_API int calib_reference_compute(calib_reference **out, const float *probs,
                                                      size_t n, size_t k, const int64_t *labels);
/*! calib_reference_free() : releases r; NULL is a no-op. */
CALIB_API void calib_reference_free(calib_reference *r);
/*! calib_reference_classes() : the k the reference was computed for (1 = binary); 0 if NULL. */
CALIB_API size_t calib_reference_classes(const calib_reference *r);
/*! calib_reference_get() : copies array `what` (CALIB_REF_*) into out[0..cap-1]
 *  and sets *count to its length; out == NULL only sets *count.
 *  Errors: CALIB_E_ARG (r or count NULL, unknown `what`), CALIB_E_SMALLBUF. */
CALIB_API int calib_reference_get(const calib_reference *r, int what, double *out, size_t cap,
                                  size_t *count);

/* ---- Statistics used by the monitor (pure functions, thread-safe) -------------- */

/*! calib_chi2_sf() : P(X > x) for X chi-square with `dof` degrees of freedom,
 *  Q(dof/2, x/2), the regularised upper incomplete gamma function (series for
 *  x < dof/2 + 1, Lentz continued fraction otherwise; relative error < 1e-12
 *  against scipy.stats.chi2.sf where the value exceeds 1e-300, tested).
 *  x <= 0 gives 1; NaN, dof <= 0 or a NaN dof gives NaN. */
CALIB_API double calib_chi2_sf(double x, double dof);

/* The most classes calib_prior_em() and calib_prior_correct() take (their
 * scratch is on the stack: 32 KiB). */
#define CALIB_PRIOR_EM_MAX_K 1024

/*! calib_prior_em() : the class prior of the population the n rows come from,
 *  by the EM of Saerens, Latinne & Decaestecker (2002). probs are calibrated
 *  posteriors under the prior train_prior[0..kc-1] (finite, > 0; normalised to
 *  sum 1 here). Starting from pi = train_prior it iterates
 *      q_ij = p_ij w_j / sum_l p_il w_l,  w_j = pi_j / train_j,  pi_j <- mean_i q_ij
 *  until max_j |delta pi_j| <= tol (> 0) or max_iter (>= 1) iterations. It
 *  needs calibrated inputs (Alexandari et al. 2020). Rows with sum_l p_il w_l
 *  == 0 carry no information and are skipped. On success prior_out[0..kc-1]
 *  is the estimate and *iters (may be NULL) the iterations run.
 *  Errors: CALIB_E_ARG (NULL, k == 0 or > CALIB_PRIOR_EM_MAX_K, tol <= 0 or
 *  NaN, max_iter == 0),
 *  CALIB_E_EMPTY (n == 0, or every row skipped), CALIB_E_DOMAIN (a prior entry
 *  <= 0 or a probability outside [0, 1]), CALIB_E_NONFINITE, CALIB_E_NOCONV
 *  (max_iter reached: nothing written). No allocation. */
CALIB_API int calib_prior_em(const float *probs, size_t n, size_t k, const double *train_prior,
                             double tol, size_t max_iter, double *prior_out, size_t *iters);

/*! calib_prior_correct() : the prior correction of Saerens et al. (2002),
 *  in place: p_ij <- p_ij r_j / sum_l p_il r_l with r_j = new_j / train_j
 *  (both kc entries, finite, train > 0, new >= 0). k == 1: p <- p r_1 /
 *  ((1 - p) r_0 + p r_1). A row whose sum_l p_il r_l is 0 is left unchanged.
 *  Errors: CALIB_E_ARG (a prior NULL, probs NULL with n > 0, k == 0 or >
 *  CALIB_PRIOR_EM_MAX_K), CALIB_E_DOMAIN (train <= 0,
 *  new < 0, new all 0, or a probability outside [0, 1]), CALIB_E_NONFINITE.
 *  n == 0 is a no-op. No allocation; thread-safe. */
CALIB_API int calib_prior_correct(float *probs, size_t n, size_t k, const double *train_prior,
                                  const double *new_prior);

/* ---- The monitor ----------------------------------------------------------------
 * A calib_monitor compares live traffic with a calib_reference. Writers never
 * share state: each serving thread gets its own calib_monitor_shard
 * (calib_monitor_shard_create) and feeds it with calib_monitor_observe (every
 * request) and calib_monitor_feedback (late labels). A shard is written only by
 * its thread, through relaxed atomic stores of per-shard cumulative counters
 * and sums: no lock, no allocation, no syscall on that path. Any thread may
 * call calib_monitor_read, which merges the shards (a mutex serialises reads,
 * shard creation and freeing, trials and decisions; observers never take it).
 * A read concurrent with an observe sees each counter before or after the
 * batch, so a window may hold part of a batch; no row is ever lost or
 * counted twice. A freed shard's counts are folded into the monitor first.
 *
 * Windows (tumbling). The label-free tests run on windows of rows: a read
 * closes the current window when at least CALIB_MO_WINDOW rows have been
 * observed since the previous window closed, and the window holds all of them
 * (read at least every CALIB_MO_WINDOW rows, e.g. from a timer, to keep windows
 * at their nominal size; larger windows only make the test more powerful, its
 * false-alarm rate stays alpha). Labelled metrics use their own tumbling
 * windows of CALIB_MO_LABEL_WINDOW labelled rows, closed the same way. The
 * values of the last closed windows are reported until the next closes.
 *
 * Label-free tests, per closed window, on the confidence histogram (20 bins
 * as the reference's) and on the predicted-class histogram:
 *   - PSI = sum_b (w_b - r_b) ln(w_b / r_b), w_b and r_b the window's and the
 *     reference's proportions, each floored at CALIB_MO_PSI_EPS (empty bins).
 *     Reported only (no alarm: its null distribution depends on the window size).
 *   - A chi-square test of homogeneity of the 2 x G table (reference counts,
 *     window counts), so the reference's own sampling error is accounted for.
 *     Bins are pooled first, in bin (class) order, into groups of reference
 *     proportion r_g with r_g * min(n_window, n_ref) >= 5 (a leftover tail
 *     joins the last group); this depends only on the reference and the window
 *     size, never on the window's counts, so the test keeps its level.
 *     dof = G - 1; G < 2 gives p = 1. The window "alarms" when p < CALIB_MO_ALPHA,
 *     so on unshifted data a window alarms with probability alpha (per test).
 *   - Hysteresis: an alarm state turns on after CALIB_MO_ON_COUNT consecutive
 *     alarming windows and off after CALIB_MO_OFF_COUNT consecutive clean ones.
 *     On unshifted data the alarm state is on in about alpha^on_count of the
 *     windows (1e-6 with the defaults). Measured (test/test_monitor.c, defaults,
 *     k = 5, 10 references of n = 20000 x 200 windows of 500 rows, 160 seeds):
 *     per-window rate 0.0055-0.0165 (confidence) and 0.0055-0.0145 (class),
 *     mean ~0.010; alarm state on in 0 of 2000 windows. (The windows of one
 *     monitor share its reference sample, so their alarms are correlated
 *     through it: with one reference the rate varies more between references
 *     than a binomial count would.) Detection
 *     (same setting): logits sharpened x2 and a class prior moved to 50% on one
 *     class both raise their alarm at the first possible window, 3 x 500 rows.
 *   - The class prior of recent traffic by calib_prior_em() on the last
 *     CALIB_MO_EM_ROWS rows of every live shard (each shard keeps them in a
 *     ring, copied lock-free by the reader; rows being overwritten during the
 *     copy are dropped), against the reference prior; read it with
 *     calib_monitor_prior() and correct probabilities with calib_prior_correct().
 *     Measured (k = 5, true prior 0.5/0.125 x 4, training prior uniform): the
 *     estimate from 2 shards x 1000 ring rows was within 0.014-0.043 (max over
 *     classes, 8 seeds) of the true prior; calib_prior_em on 20,000 rows within
 *     0.002-0.006 (the test requires < 0.02); correcting with the estimate took
 *     the NLL from 0.89-0.90 to 0.77-0.79.
 *
 * Labelled metrics, per closed label window: mean NLL and Brier (as calib_nll,
 * calib_brier; the per-row loss -ln p_y is capped at -ln(1e-12) = 27.63 so one
 * zero probability cannot poison the cumulative sums) with normal-approximation
 * intervals mean +- z sd / sqrt(n) at level CALIB_MO_CI_LEVEL, and the ECE
 * (15 bins, top-label, calib_ece's convention) with the interval
 *     [sum_b (n_b/n) max(0, |acc_b - conf_b| - h_b),  sum_b (n_b/n) (|acc_b - conf_b| + h_b)]
 * where h_b = z sqrt(acc_b (1 - acc_b) / n_b) is the normal half-width of the bin
 * accuracy (bins with acc in {0, 1} use 0.5): per-bin intervals propagated, not a
 * simultaneous guarantee. It describes the sampling noise of the plug-in ECE,
 * which is biased upwards, and is no test of miscalibration: on a calibrated
 * model (k = 5, windows of 1000 rows) it held the mean plug-in ECE in 200 of 200
 * windows but reached the true ECE, 0, in only about half of them. The NLL and
 * Brier intervals covered their true means in 93-96% of 200 windows. Window sums are differences of cumulative float64
 * sums: relative error ~1e-16 x (rows since create / rows in the window).
 *
 * Champion/challenger trial. After installing a challenger, the caller keeps
 * the previous model (a pin from calib_slot_acquire taken before the install,
 * or its own copy) and calls calib_monitor_trial_start(). Feedback rows then
 * carry both models' probabilities for the same labelled rows; for each
 * paired row d = loss(challenger) - loss(champion) (capped log-losses). The
 * decision is a one-sided paired z-test on mean d, evaluated at most once at
 * each "look", every CALIB_MO_TRIAL_LOOK paired rows, up to L =
 * CALIB_MO_TRIAL_ROWS / CALIB_MO_TRIAL_LOOK looks, each at level a = alpha / L
 * (Bonferroni over the looks: P(rollback | challenger as good) <= alpha however
 * often calib_monitor_decide is called). At a look with n rows, mean m, sample
 * sd s, se = s / sqrt(n), z_a the normal (1 - a) quantile:
 *     m > z_a se                    -> CALIB_DECISION_ROLLBACK (challenger worse)
 *     m + z_a se < CALIB_MO_TRIAL_MARGIN -> CALIB_DECISION_PROMOTE (not worse
 *                                      than the champion by the margin)
 *     last look, neither            -> CALIB_DECISION_PROMOTE (no evidence of harm)
 *     otherwise                     -> CALIB_DECISION_CONTINUE
 * (se == 0: rollback iff m > 0.) A decision ends the trial. Measured with the
 * defaults (k = 5): a challenger at T = 3 (or 1.5) against the calibrated
 * champion is rolled back at the first look (500 rows; T = 1.5: 500-1000), a
 * calibrated challenger against a T = 3 champion promoted at the first look,
 * and an equally good challenger rolled back in 1.0-3.3% of 300 trials
 * (alpha = 0.05; Bonferroni makes it conservative).
 */
typedef struct calib_monitor calib_monitor;
typedef struct calib_monitor_shard calib_monitor_shard;

/* Options of calib_monitor_create(): pairs (id, value), ended by id 0.
 * Integer-valued options are doubles holding an integer. */
#define CALIB_MO_WINDOW        1  /* rows per label-free window, default 500, [20, 1e9]          */
#define CALIB_MO_ALPHA         2  /* per-window false-alarm rate of each chi-square test,
                                     default 0.01, (0, 0.5]; holds for any CALIB_MO_WINDOW      */
#define CALIB_MO_ON_COUNT      3  /* alarming windows in a row to raise an alarm, default 3, [1, 1000];
                                     unshifted: the state is on in ~alpha^ON_COUNT of windows   */
#define CALIB_MO_OFF_COUNT     4  /* clean windows in a row to clear it, default 3, [1, 1000]    */
#define CALIB_MO_PSI_EPS       5  /* floor of PSI proportions, default 1e-4, (0, 0.01]           */
#define CALIB_MO_EM_ROWS       6  /* rows per shard kept for EM, default 1000, [0, 1e7]; 0: no EM */
#define CALIB_MO_EM_TOL        7  /* EM tolerance on max |delta pi|, default 1e-6, (0, 0.1]      */
#define CALIB_MO_EM_MAX_ITER   8  /* EM iterations, default 1000, [1, 1e6]                       */
#define CALIB_MO_MAX_SHARDS    9  /* shards alive at once, default 16, [1, 1024]                */
#define CALIB_MO_LABEL_WINDOW 10  /* labelled rows per metric window, default 1000, [20, 1e9]    */
#define CALIB_MO_CI_LEVEL     11  /* two-sided level of the metric intervals, default 0.95, [0.5, 0.9999] */
#define CALIB_MO_TRIAL_ALPHA  12  /* P(rollback | challenger as good), default 0.05, (0, 0.5]    */
#define CALIB_MO_TRIAL_LOOK   13  /* paired rows between looks, default 500, [20, 1e9]          */
#define CALIB_MO_TRIAL_ROWS   14  /* paired rows of the last look, default 4000, [LOOK, 1e9]     */
#define CALIB_MO_TRIAL_MARGIN 15  /* non-inferiority margin in nats per row, default 0.01, [0, 1] */

/* Trial decisions (calib_monitor_decide). */
#define CALIB_DECISION_NONE     0 /* no trial running                       */
#define CALIB_DECISION_CONTINUE 1 /* not enough evidence yet                 */
#define CALIB_DECISION_PROMOTE  2 /* keep the challenger; the trial ends     */
#define CALIB_DECISION_ROLLBACK 3 /* go back to the champion; the trial ends */

/*! calib_monitor_state : what calib_monitor_read() reports. Values of a test or
 *  window not evaluated yet are NaN (counts 0). */
typedef struct calib_monitor_state {
  uint64_t rows_observed;    /* rows given to calib_monitor_observe, all shards   */
  uint64_t windows;          /* label-free windows closed so far                  */
  uint64_t window_rows;      /* rows in the last closed window                    */
  double psi_confidence;     /* PSI of the confidence histogram, last window      */
  double psi_class;          /* PSI of the predicted-class histogram              */
  double p_confidence;       /* chi-square p-value, confidence histogram          */
  double p_class;            /* chi-square p-value, predicted classes             */
  int alarm_confidence;      /* hysteresis states: 1 = alarm on                   */
  int alarm_class;
  uint64_t em_rows;          /* rows the last EM run used (0: none: CALIB_MO_EM_ROWS
                                0, no rows yet, or a class with reference prior 0) */
  uint64_t em_iters;         /* its iterations                                    */
  int em_converged;          /* 1 if it reached CALIB_MO_EM_TOL                   */
  double em_shift;           /* max_j |pi_em_j - pi_ref_j|                        */
  uint64_t rows_labelled;    /* rows given to calib_monitor_feedback              */
  uint64_t label_windows;    /* label windows closed so far                       */
  uint64_t label_window_rows;
  double accuracy, nll, nll_lo, nll_hi, brier, brier_lo, brier_hi, ece, ece_lo, ece_hi;
  uint64_t trial_rows;       /* paired rows since calib_monitor_trial_start       */
  double trial_mean_diff;    /* mean loss(challenger) - loss(champion)             */
  double trial_se;           /* its standard error                                */
  int trial_decision;        /* the running or last trial's latest decision
                                (CONTINUE right after trial_start; NONE: no trial yet) */
} calib_monitor_state;

/*! calib_monitor_create() : *out = a monitor comparing traffic of k-column
 *  probabilities with ref (copied: ref may be freed afterwards). opts: NULL
 *  or (id, value) pairs ended by id 0 (CALIB_MO_*; unset options take their
 *  defaults). Allocates every buffer the monitor will need except shards,
 *  the largest the EM scratch: 4 * k * CALIB_MO_MAX_SHARDS * CALIB_MO_EM_ROWS bytes.
 *  Errors: CALIB_E_ARG (out or ref NULL, unknown option id, value out of its
 *  range or not an integer where one is needed), CALIB_E_NOMEM. */
CALIB_NODISCARD CALIB_API int calib_monitor_create(calib_monitor **out, const calib_reference *ref,
                                                   const double *opts);
/*! calib_monitor_free() : frees the monitor and any shard still registered
 *  (their pointers become invalid). No other call may be running on it. */
CALIB_API void calib_monitor_free(calib_monitor *m);
/*! calib_monitor_get() : *value = the value of option id in m.
 *  Errors: CALIB_E_ARG (NULL, unknown id). */
CALIB_API int calib_monitor_get(const calib_monitor *m, int id, double *value);

/*! calib_monitor_shard_create() : *out = a new shard of m for one writer
 *  thread (allocates about 8 * (kc + 80) + 4 * k * CALIB_MO_EM_ROWS bytes).
 *  Errors: CALIB_E_ARG (NULL), CALIB_E_SMALLBUF (CALIB_MO_MAX_SHARDS shards
 *  alive), CALIB_E_NOMEM. */
CALIB_NODISCARD CALIB_API int calib_monitor_shard_create(calib_monitor *m,
                                                         calib_monitor_shard **out);
/*! calib_monitor_shard_free() : folds the shard's counts into m and frees it
 *  (its EM rows are dropped). Its thread must have stopped using it. NULL: no-op. */
CALIB_API void calib_monitor_shard_free(calib_monitor_shard *s);

/*! calib_monitor_observe() : records n rows of calibrated probabilities (what
 *  the server returned) in shard s: confidence and predicted-class counts and
 *  the EM ring. Only the shard's own thread may call it; lock- and
 *  allocation-free. n == 0 is a no-op.
 *  Errors: CALIB_E_ARG (s NULL, probs NULL with n > 0), CALIB_E_SHAPE,
 *  CALIB_E_NONFINITE, CALIB_E_DOMAIN. */
CALIB_API int calib_monitor_observe(calib_monitor_shard *s, const float *probs, size_t n, size_t k);

/*! calib_monitor_feedback() : records n labelled rows in shard s. probs are the
 *  probabilities served for those rows (the caller keeps what it served keyed
 *  by its own request id until the label arrives; labels[i] belongs to row i).
 *  champion: NULL, or the champion's probabilities for the same rows (n x k)
 *  during a trial: then each row also adds a paired loss difference. Only the
 *  shard's thread may call it; lock- and allocation-free. n == 0 is a no-op.
 *  Errors: CALIB_E_ARG (s NULL, probs/labels NULL with n > 0), CALIB_E_SHAPE,
 *  CALIB_E_NONFINITE, CALIB_E_DOMAIN, CALIB_E_LABEL. */
CALIB_API int calib_monitor_feedback(calib_monitor_shard *s, const float *probs,
                                     const float *champion, size_t n, size_t k,
                                     const int64_t *labels);

/*! calib_monitor_read() : merges the shards, closes the windows that are
 *  complete (running their tests and updating the alarms), runs EM on the
 *  rings, and fills *out. Any thread; serialised with the other readers.
 *  Errors: CALIB_E_ARG (NULL). */
CALIB_API int calib_monitor_read(calib_monitor *m, calib_monitor_state *out);
/*! calib_monitor_prior() : copies the last EM estimate (kc values, from the
 *  last read) into out[0..cap-1]; *count (may be NULL) = kc.
 *  Errors: CALIB_E_ARG (m or out NULL), CALIB_E_SMALLBUF (cap < kc),
 *  CALIB_E_EMPTY (no estimate yet: no read with EM rows). */
CALIB_API int calib_monitor_prior(calib_monitor *m, double *out, size_t cap, size_t *count);
/*! calib_monitor_reference_prior() : the reference prior (kc values), as
 *  calib_monitor_prior(); pass both to calib_prior_correct(). */
CALIB_API int calib_monitor_reference_prior(const calib_monitor *m, double *out, size_t cap,
                                            size_t *count);

/*! calib_monitor_trial_start() : starts a champion/challenger trial (ending
 *  any running one): only paired feedback from now on counts.
 *  Errors: CALIB_E_ARG (NULL). */
CALIB_API int calib_monitor_trial_start(calib_monitor *m);
/*! calib_monitor_decide() : *decision = the trial's decision now (rules in the
 *  block comment; CALIB_DECISION_NONE when no trial runs). PROMOTE and
 *  ROLLBACK end the trial. Errors: CALIB_E_ARG (NULL). */
CALIB_API int calib_monitor_decide(calib_monitor *m, int *decision);
/*! calib_monitor_decide_slot() : calib_monitor_decide(), then on ROLLBACK
 *  calib_slot_rollback(slot) (the champion becomes current again). *version
 *  (may be NULL) = the slot's version afterwards.
 *  Errors: CALIB_E_ARG (NULL m, slot or decision), calib_slot_rollback's
 *  (the decision is still stored in *decision and the trial ended). */
CALIB_API int calib_monitor_decide_slot(calib_monitor *m, calib_slot *slot, int *decision,
                                        uint64_t *version);


/* ---- Model provenance (model format version 2) ------------------------------
 * A fitted model can carry where it came from: its fit-time reference (the
 * calib_reference of the fit rows' calibrated probabilities: n, class prior,
 * CALIB_REF_CONF_BINS-bin confidence histogram, predicted-class histogram),
 * the fit set's NLL / ECE (15 equal-width bins, top-label) / Brier before and
 * after calibration, a creation time and an optional user tag. These live in
 * metadata sections of the model bytes (format version 2, laid out in
 * src/model/format.c); calib_apply() never reads them and the firmware loader
 * (calib_core.h) skips them, so they cost nothing on the apply path.
 * A model without provenance is written as version-1 bytes exactly as before;
 * a model with any of it (reference, tag or creation time) as version 2.
 * Loaders accept both; a version-2 file is refused by libraries older than
 * this block ("format version is newer than this library reads").
 *
 * What calib_fit() records (provenance on, the default; see
 * calib_fitter_set_provenance):
 *   n, the reference  calib_reference_compute() of calib_apply(model, fit rows)
 *                     with the fit labels: all n rows, UNWEIGHTED (the
 *                     reference has no weights; rows of weight 0 count too)
 *   *_after           the same rows' NLL (calib_nll), ECE (calib_ece, 15 bins),
 *                     Brier (calib_brier) of the calibrated probabilities
 *                     (equal to the reference's CALIB_REF_METRICS)
 *   *_before          the same measures of the uncalibrated inputs: softmax
 *                     (k >= 2) or sigmoid (k == 1) of the logits / scores, or
 *                     the input probabilities themselves when the method's
 *                     CALIB_P_INPUT is CALIB_INPUT_PROBS. For temperature
 *                     scaling with k >= 2 the softmax is the fit's own first
 *                     pass, in double (top label: the first largest logit),
 *                     so these agree with calib_nll / calib_ece / calib_brier
 *                     of calib_softmax's float32 output to float rounding
 *                     (~1e-7 relative; a row whose confidence lies that close
 *                     to a bin edge or whose float probabilities tie may count
 *                     differently in ECE); otherwise they are those measures
 *   created_unix      time(NULL) at the end of the fit
 *   tag               the fitter's tag ("" = none)
 * NLL may be +inf (a true-class probability of exactly 0; calib_nll's
 * convention). The cost is about one extra calib_apply() plus one softmax pass
 * over the fit rows, in blocks of max(1, 65536 / k) rows (scratch: two such
 * float blocks, 256 KiB each for k <= 65536, plus 3 kc doubles); temperature
 * scaling with k >= 2 skips the softmax pass and its block, and keeps 32
 * bytes per fit row in the fitter instead (reused by later fits). A model
 * within 2 kc + 28 values of CALIB_MODEL_MAX_VALUES cannot hold its metadata:
 * calib_fit then fails with CALIB_E_UNSUPPORTED (fit with provenance off).
 */
#define CALIB_MODEL_TAG_MAX 255   /* bytes of UTF-8 in a model's tag, excluding the NUL */

/*! calib_model_info : what calib_model_info_get() reports. */
typedef struct calib_model_info {
  uint32_t format_version;   /* version calib_model_save writes for this model: 1 without provenance, 2 with */
  int has_reference;         /* 1 when the model carries a fit-time reference */
  int64_t created_unix;      /* seconds since 1970-01-01 UTC; 0 = unknown */
  double n;                  /* rows of the fit set (0 = unknown) */
  double nll_before, ece_before, brier_before;  /* fit set, uncalibrated (softmax/sigmoid of the inputs); NaN = unknown */
  double nll_after,  ece_after,  brier_after;   /* fit set, after the fitted map; NaN = unknown */
  char tag[CALIB_MODEL_TAG_MAX + 1];            /* UTF-8, NUL-terminated; "" = none */
} calib_model_info;

/*! calib_model_info_get() : *out = the provenance m carries. A version-1
 *  model gives format_version 1, has_reference 0, created_unix 0, n 0, every
 *  metric NaN and tag "". No allocation; thread-safe on a shared model (the
 *  values were validated when the model was loaded or built).
 *  Errors: CALIB_E_ARG (m or out NULL). */
CALIB_API int calib_model_info_get(const calib_model *m, calib_model_info *out);

/*! calib_model_reference() : *out = the fit-time reference the model carries
 *  (a new calib_reference, caller frees with calib_reference_free(); its
 *  CALIB_REF_METRICS are (n, nll_after, ece_after, brier_after)), ready for
 *  calib_monitor_create(). Thread-safe.
 *  Errors: CALIB_E_ARG (NULL), CALIB_E_UNSUPPORTED "model carries no fit-time
 *  reference" (version-1 models, or version 2 with only a tag / time),
 *  CALIB_E_NOMEM. */
CALIB_NODISCARD CALIB_API int calib_model_reference(const calib_model *m, calib_reference **out);

/*! calib_model_with_reference() : *out = a copy of m (same method and
 *  parameters: identical calib_apply output) carrying ref (may be NULL: none),
 *  tag (may be NULL or "": none) and created_unix (0: unknown), replacing any
 *  provenance m had; for models fitted elsewhere (the Dask driver,
 *  calib_temperature_model) or re-tagged. With a reference, n and the *_after
 *  metrics are ref's (CALIB_REF_METRICS); the *_before metrics are kept from m
 *  when ref is exactly m's own reference (as calib_model_reference() returns
 *  it: a re-tag), else NaN. With ref NULL, tag none and created_unix 0 the copy
 *  is a version-1 model (provenance stripped). ref and m are only read (any
 *  thread may share them); the caller owns *out (calib_model_free()).
 *  Errors: CALIB_E_ARG (out or m NULL; tag not valid UTF-8 or longer than
 *  CALIB_MODEL_TAG_MAX bytes; created_unix < 0 or > 2^53), CALIB_E_SHAPE (ref's
 *  k differs from m's), CALIB_E_UNSUPPORTED (the model with its metadata would
 *  exceed CALIB_MODEL_MAX_VALUES), CALIB_E_NOMEM. Nothing is written to *out
 *  on error. */
CALIB_NODISCARD CALIB_API int calib_model_with_reference(calib_model **out, const calib_model *m,
                                                         const calib_reference *ref, const char *tag,
                                                         int64_t created_unix);

/*! calib_fitter_set_provenance() : provenance of f's next fits. on = 1 (the
 *  default) embeds the fit-time reference, the before/after metrics,
 *  time(NULL) and tag (NULL or "": none; copied) in every model calib_fit()
 *  returns (version-2 bytes; what is recorded is listed in the block above).
 *  on = 0: models as before provenance existed (version-1 bytes, bit-identical
 *  to earlier releases), and tag must be NULL or "".
 *  Errors: CALIB_E_ARG (f NULL, on not 0 or 1, tag not valid UTF-8 or longer
 *  than CALIB_MODEL_TAG_MAX bytes, a tag with on = 0); f is unchanged on
 *  error. Not thread-safe (the fitter is one thread's). */
CALIB_API int calib_fitter_set_provenance(calib_fitter *f, int on, const char *tag);

/* ---- Row-wise mode: bad rows that do not sink a batch ----------------------
 * The strict calls above (calib_softmax, calib_log_softmax, calib_sigmoid,
 * calib_apply) validate
 * the whole input first and, if any row is bad, write nothing. The row-wise
 * calls below are for servers batching independent requests: each row is
 * validated as it is computed (for softmax, sigmoid and temperature scaling
 * inside the kernel's own pass over the row, so the input is read from memory
 * once; for the other methods on blocks of at most 16 KiB of rows, each
 * computed right after its check while it is in cache), a bad row is written
 * as NaN (every one of its k outputs a quiet NaN) and reported, and every
 * good row is computed.
 *
 * A row is bad under the strict call's own input rule for that row:
 *   softmax, log-softmax, temperature (k >= 2), ETS (k >= 2): a NaN or +inf
 *     entry, or
 *     every entry -inf;
 *   sigmoid, temperature and ETS with k == 1: NaN (+-inf give 1 and 0);
 *   the other methods: their calib_apply input rules (NaN/+inf, or -inf where
 *     a finite value is needed, is CALIB_E_NONFINITE; a probability outside
 *     [0, 1], or isotonic's CALIB_OOB_ERROR, is CALIB_E_DOMAIN; non-finite
 *     takes precedence within a row).
 * A good row's outputs are bit-identical to those the strict call writes for
 * that row (each row is computed independently by the same code).
 *
 * Reporting (each pointer may be NULL):
 *   row_status  n bytes: row_status[i] = 0 for a good row, else the magnitude
 *               of the row's code: 2 (= -CALIB_E_NONFINITE) or
 *               15 (= -CALIB_E_DOMAIN). May not overlap the input or output
 *               arrays (CALIB_E_ARG).
 *   bad_rows    the number of bad rows.
 *   first_bad   the lowest bad row index, n if none.
 * Return value: CALIB_OK when every row was good; otherwise the (negative)
 * code of the first bad row (CALIB_E_NONFINITE or CALIB_E_DOMAIN) -- and,
 * UNLIKE EVERY OTHER FUNCTION OF THIS LIBRARY, the outputs have then been
 * written (good rows computed, bad rows NaN) and so have row_status,
 * *bad_rows and *first_bad. Argument errors (CALIB_E_ARG: NULL with n > 0,
 * k == 0, bad ld or beta, overlap other than exact in place, a size that
 * overflows; CALIB_E_SHAPE, CALIB_E_UNSUPPORTED as calib_apply) are checked
 * before anything is written and write nothing, the three reports included.
 * n == 0: CALIB_OK, *bad_rows = 0, *first_bad = 0.
 * In place (output == input, same ld) is allowed; byte-misaligned arrays as
 * for the strict calls. Thread-safe, no allocation, no locks, no BLAS. */

/*! calib_softmax_rows() : calib_softmax() in row-wise mode (arguments as
 *  there; reporting and return value in the block above). */
CALIB_API int calib_softmax_rows(const float *x, size_t n, size_t k, size_t ldx, float beta,
                                 float *y, size_t ldy, uint8_t *row_status, size_t *bad_rows,
                                 size_t *first_bad);

/*! calib_log_softmax_rows() : calib_log_softmax() in row-wise mode (bad rows
 *  NaN, as calib_softmax_rows). */
CALIB_API int calib_log_softmax_rows(const float *x, size_t n, size_t k, size_t ldx, float beta,
                                     float *y, size_t ldy, uint8_t *row_status, size_t *bad_rows,
                                     size_t *first_bad);

/*! calib_sigmoid_rows() : calib_sigmoid() in row-wise mode: an entry (row)
 *  is bad iff it is NaN, and its output is NaN. */
CALIB_API int calib_sigmoid_rows(const float *x, size_t n, float beta, float *y,
                                 uint8_t *row_status, size_t *bad_rows, size_t *first_bad);

/*! calib_apply_rows() : calib_apply() in row-wise mode, for every method
 *  (arguments and argument errors as calib_apply(); reporting and return
 *  value in the block above). */
CALIB_API int calib_apply_rows(const calib_model *m, const float *logits, size_t n, size_t k,
                               float *probs, uint8_t *row_status, size_t *bad_rows,
                               size_t *first_bad);

/* ---- Typed inputs: int8 / uint8 (quantized), float16, bfloat16 ---------------
 * Edge and server networks emit quantized or half-precision logits. The calls
 * below take them as they are, described by a calib_input, and convert inside
 * the kernels' own pass (no float32 copy of the input is made on any apply or
 * softmax path). The float32 API above is unchanged.
 *
 * Element types (stable values):
 *   CALIB_DTYPE_F32   float32
 *   CALIB_DTYPE_F16   IEEE 754 binary16 (uint16_t bit patterns; numpy float16,
 *                     _Float16, __fp16). Converted exactly to float32.
 *   CALIB_DTYPE_BF16  bfloat16: the high 16 bits of a float32 (uint16_t bit
 *                     patterns; torch.bfloat16, ml_dtypes.bfloat16). Exact.
 *   CALIB_DTYPE_I8    int8, affine quantization: value = scale * (q - zero_point)
 *   CALIB_DTYPE_U8    uint8, the same (TFLite / ONNX QDQ conventions)
 * Dequantization is computed in float32 as scale * (float)(q - zero_point),
 * the value a "dequantize, then call the float32 API" program gets with
 * numpy: (q.astype(np.int32) - zp).astype(np.float32) * np.float32(scale).
 *
 * struct calib_input (the caller owns everything it points to; read only):
 *   dtype          one of the CALIB_DTYPE_* above
 *   data           element (0, 0); any byte address (no alignment needed)
 *   ld             elements from one row's start to the next: 0 means k,
 *                  else >= k
 *   scale          I8/U8, per tensor: finite, > 0 (used when col_scale is NULL)
 *   zero_point     I8/U8, per tensor: within the type's range (-128..127 for
 *                  I8, 0..255 for U8) (used when col_zero_point is NULL)
 *   col_scale      NULL, or k per-class scales (per-axis quantization along
 *                  the class axis), each finite and > 0
 *   col_zero_point NULL, or k per-class zero points, each in the type's range
 * For the float types the quantization fields must be left at their zero
 * values (scale 0 or 1, zero_point 0, both arrays NULL): anything else is
 * CALIB_E_ARG, since it means the caller believes the data are quantized.
 * A dequantized int8/uint8 value is always finite; float16/bfloat16 inputs
 * follow the float32 rules of each call (NaN/+inf, all -inf rows).
 *
 * Output types (y_dtype / probs_dtype): CALIB_DTYPE_F32, or CALIB_DTYPE_F16
 * (each probability rounded to nearest-even binary16 from the float32 result:
 * for servers that ship probabilities onward; probabilities below 2^-24
 * become 0). Any other output type is CALIB_E_ARG.
 *
 * Aliasing: the output may not overlap the input (nor the quantization
 * arrays) at all -- CALIB_E_ARG -- except the exact in-place case of the
 * float32 API (F32 in, F32 out, same pointer, same ld).
 * Errors common to every typed call, checked before anything is written:
 *   CALIB_E_ARG  x NULL, x->data NULL with n > 0, unknown dtype or output
 *                type, ld < k, a bad scale or zero point (or quantization
 *                fields on a float type), a size that overflows, overlap
 */
#define CALIB_DTYPE_F32  1
#define CALIB_DTYPE_F16  2
#define CALIB_DTYPE_BF16 3
#define CALIB_DTYPE_I8   4
#define CALIB_DTYPE_U8   5

typedef struct calib_input {
  int dtype;
  const void *data;
  size_t ld;
  float scale;
  int32_t zero_point;
  const float *col_scale;
  const int32_t *col_zero_point;
} calib_input;

/*! calib_dtype_size() : bytes per element of a CALIB_DTYPE_* (4, 2, 2, 1, 1);
 *  0 for an unknown type (the only "error"). Pure: thread-safe, no allocation. */
CALIB_API size_t calib_dtype_size(int dtype);

/*! calib_softmax_typed() : calib_softmax() of n rows of k typed logits x
 *  (beta as there; k == 1 gives 1.0 as there), written as y_dtype with row
 *  stride ldy (elements; 0 means k). Strict: the whole input is validated
 *  first, and on error nothing is written. n == 0 is a successful no-op.
 *  Thread-safe, no allocation, no locks; x and everything it points to are
 *  only read, y is the caller's.
 *  Errors: the common ones above, CALIB_E_ARG (bad beta), CALIB_E_NONFINITE
 *  (float16/bfloat16 NaN or +inf, or an all -inf row). */
CALIB_API int calib_softmax_typed(const calib_input *x, size_t n, size_t k, float beta,
                                  void *y, int y_dtype, size_t ldy);

/*! calib_apply_typed() : calib_apply() of every method on typed logits
 *  (probabilities for a model fitted on probabilities: CALIB_DTYPE_F32/F16/
 *  BF16 only, an int8/uint8 input there is CALIB_E_ARG), written as
 *  probs_dtype with row stride ldp (0 means k). The result equals
 *  calib_apply() on the dequantized float32 rows within calib_apply()'s
 *  accuracy contract (bit-identical on the scalar path), before the optional
 *  float16 rounding. Strict: on error nothing is written.
 *  How: temperature scaling goes through calib_softmax_typed()'s kernels
 *  (beta = the model's 1/T, as calib_apply). Every other method converts a
 *  block of whole rows into a float32 buffer on the stack (16 KiB; 1 KiB in
 *  the firmware core) and runs the method's own map on it -- the code
 *  calib_apply() runs, so the probabilities equal calib_apply() on the
 *  dequantized rows bit for bit on every path -- then stores each row as
 *  float32 or rounds it to float16. The block stays in L1 from conversion to
 *  store: this is not an extra pass over memory (the input is read once and
 *  the output written once; the strict mode's validation reads the input
 *  once more before anything is written, as calib_apply() does, except for
 *  int8/uint8 input, whose values are finite). A row longer than the block
 *  (k > 4096; 256 in the core) is converted into the caller's float32
 *  output row and mapped there in place; without a heap that cannot be done
 *  for float16 output, nor for a matrix or Dirichlet model (k > 1024 has no
 *  in-place map), nor, strict mode, for an isotonic model with
 *  CALIB_OOB_ERROR on probabilities or scores: CALIB_E_UNSUPPORTED there,
 *  with nothing written.
 *  Thread-safe on a shared model; no allocation, no locks, no BLAS.
 *  Errors: the common ones above, calib_apply()'s (CALIB_E_SHAPE,
 *  CALIB_E_NONFINITE, CALIB_E_DOMAIN, CALIB_E_UNSUPPORTED: also the long
 *  rows above). */
CALIB_API int calib_apply_typed(const calib_model *m, const calib_input *x, size_t n, size_t k,
                                void *probs, int probs_dtype, size_t ldp);

/*! calib_apply_typed_rows() : calib_apply_typed() in row-wise mode: bad rows
 *  written as NaN and reported exactly as calib_apply_rows() (reporting and
 *  return value in the row-wise block above; a row's status is the strict
 *  rule of calib_apply() on its dequantized values). row_status may not
 *  overlap the input or the output (CALIB_E_ARG). One read of the input: each
 *  block is converted, checked and mapped while in cache. Thread-safe on a
 *  shared model; no allocation, no locks, no BLAS (as calib_apply_typed). */
CALIB_API int calib_apply_typed_rows(const calib_model *m, const calib_input *x, size_t n,
                                     size_t k, void *probs, int probs_dtype, size_t ldp,
                                     uint8_t *row_status, size_t *bad_rows, size_t *first_bad);

/*! calib_fit_typed() : calib_fit() on typed logits (or typed probabilities
 *  for CALIB_INPUT_PROBS: F32/F16/BF16 only), i.e. fit on the same quantized
 *  logits the device will emit. The fit sees exactly the dequantized float32
 *  values (as defined above), so the model equals calib_fit() on those values.
 *  Fitting allocates (as calib_fit); the conversion adds at most n*k*4 bytes
 *  of fitter scratch, freed with the fitter (and reused by its next typed
 *  fit; densely stored, float-aligned CALIB_DTYPE_F32 input is not copied).
 *  calib_fitter_error() and calib_fitter_report() describe the call as after
 *  calib_fit() (a bad descriptor: CALIB_E_ARG naming the check; int8/uint8
 *  input with CALIB_P_INPUT = CALIB_INPUT_PROBS: CALIB_E_ARG; no memory for
 *  the scratch: CALIB_E_NOMEM). Not thread-safe on one fitter (as calib_fit);
 *  the model in *out is the caller's (calib_model_free()).
 *  Errors: the common ones above and calib_fit()'s. */
CALIB_NODISCARD CALIB_API int calib_fit_typed(calib_fitter *f, const calib_input *x, size_t n,
                                              size_t k, const int64_t *labels,
                                              const double *weights, calib_model **out);

/*! calib_accumulator_add_logits_typed() : calib_accumulator_add_logits() on
 *  typed logits (k = the accumulator's k; rules and errors as there, plus the
 *  common ones above). The whole input is validated first (the accumulator
 *  is unchanged on error); each value is then read through the scalar
 *  conversion, so the state equals calib_accumulator_add_logits() on the
 *  dequantized rows bit for bit. Never allocates, no row length limit.
 *  Not thread-safe on one accumulator (as calib_accumulator_add_logits: one
 *  writer at a time; merge per-thread accumulators instead). */
CALIB_API int calib_accumulator_add_logits_typed(calib_accumulator *a, const calib_input *x,
                                                 size_t n, const int64_t *labels);

#ifdef __cplusplus
}
#endif

#endif /* CALIB_H */
