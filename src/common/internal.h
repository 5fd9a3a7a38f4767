/*
 * internal.h -- declarations shared between libcalib's source files.
 * Not installed. Every non-static symbol here carries the calib__ prefix
 * (the static archive does not hide them; a test checks the prefix with nm).
 * No stdio, no BLAS: the firmware core compiles this.
 */
#ifndef CALIB_INTERNAL_H
#define CALIB_INTERNAL_H

#include "calib.h"

#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#define CALIB__UNUSED(x) ((void)(x))

/* ---- Allocation (src/common/alloc.c) --------------------------------------
 * Every allocation of the library goes through these, so tests can fail the
 * N-th allocation (sqlite's habit) and the firmware build can have none. */
void *calib__malloc(size_t size);
void *calib__calloc(size_t count, size_t size);
void calib__free(void *p);
/* Test hook: make the `nth` allocation from now (1-based) and every later one
 * fail when `sticky`; 0 disables. Returns how many allocations were made since
 * the last call. Not thread-safe: tests only. */
size_t calib__alloc_fail_at(size_t nth, int sticky);

/* ---- Error detail (src/common/status.c) -----------------------------------
 * calib__error_set fills *err (NULL: nothing) with the code, the argument at
 * fault, the failed check (static strings), an index (UINT64_MAX: none) and
 * an errno (0: none), formats err->message, and returns code, so a check reads
 *   return calib__error_set(err, CALIB_E_FORMAT, "model header", "bad magic", UINT64_MAX, 0);
 * calib__error_ok marks *err as success. Overflow-checked size arithmetic
 * lives in checked.h. */
int calib__error_set(calib_error *err, int code, const char *arg, const char *check,
                     uint64_t index, int sys_errno);
int calib__error_ok(calib_error *err);

/* ---- Little-endian bytes and CRC (src/common/bytes.c) --------------------- */
uint32_t calib__crc32(const void *data, size_t len);
void calib__put_u32(uint8_t *p, uint32_t v);
void calib__put_u64(uint8_t *p, uint64_t v);
void calib__put_f64(uint8_t *p, double v);
uint32_t calib__get_u32(const uint8_t *p);
uint64_t calib__get_u64(const uint8_t *p);
double calib__get_f64(const uint8_t *p);
/* 1 on a little-endian host: the by-reference loader needs it. */
int calib__host_is_le(void);

/* ---- Input checks (src/common/check.c) ------------------------------------ */
/* Labels in 0..k-1 (0/1 for k == 1): CALIB_OK or CALIB_E_LABEL. */
int calib__check_labels(const int64_t *labels, size_t n, size_t k);
/* Weights: NULL ok; finite (E_NONFINITE), >= 0 (E_DOMAIN), not all zero (E_EMPTY).
 * On success *wsum (may be NULL) = sum of weights (n if weights == NULL). */
int calib__check_weights(const double *w, size_t n, double *wsum);
/* Every entry finite: CALIB_OK or CALIB_E_NONFINITE. */
int calib__check_finite(const float *x, size_t n, size_t k, size_t ld);
/* Probabilities: finite (E_NONFINITE) and in [0,1] (E_DOMAIN). */
int calib__check_probs(const float *p, size_t n, size_t k);
/* At least two distinct labels among rows of non-zero weight: else E_ONECLASS. */
int calib__check_two_classes(const int64_t *labels, const double *w, size_t n);
/* 1 if the byte ranges [a, a+na) and [b, b+nb) overlap. */
int calib__overlap(const void *a, size_t na, const void *b, size_t nb);

/* ---- Shared binning (src/metrics/binning.c; calib_bin_index is public) ----
 * Left-closed equal-width bins [b/M, (b+1)/M) with 1 in bin M-1; Kumar's
 * equal-mass upper edges from ascending values (returns how many, <= min(bins,
 * n); edges needs min(bins, n) entries); the bin of c among such edges ((lo,hi]);
 * Nixon's index split of n sorted values (returns B = min(bins, n); bounds
 * needs B + 1 entries). Details in binning.c. */
size_t calib__bin_index_left_closed(double c, size_t bins);
size_t calib__equal_mass_edges_kumar(const double *sorted, size_t n, size_t bins,
                                     double *edges);
/* calib_bin_index's body (binning.c), inline for the per-class loop of
 * histogram binning's apply: bin b holds b/M < c <= (b+1)/M (edges b/M by
 * division), 0 and NaN in bin 0. */
static inline size_t calib__bin_index_inl(double c, size_t bins) {
  if (bins <= 1 || !(c > 0)) return 0; /* also NaN -> 0 */
  if (c >= 1) return bins - 1;
  const double M = (double)bins;
  double guess = ceil(c * M) - 1.0;
  size_t b = guess < 0 ? 0 : (guess > M - 1 ? bins - 1 : (size_t)guess);
  /* Correct the guess against the exact edges: b/M < c <= (b+1)/M. */
  while (b > 0 && c <= (double)b / M) b--;
  while (b + 1 < bins && c > (double)(b + 1) / M) b++;
  return b;
}
size_t calib__edge_bin(double c, const double *edges, size_t m);
size_t calib__equal_mass_index_bounds(size_t n, size_t bins, size_t *bounds);

/* ---- Files (src/model/model_file.c; POSIX, not in the firmware core) -------
 * The one atomic-write and the one bounded reader of libcalib, used by the
 * model file functions and by the CLI's inputs and outputs (src/io/file.c).
 * Every failure fills *err (may be NULL) through calib__error_set, with the
 * errno for CALIB_E_IO.
 * calib__file_write_atomic: writes the concatenation of nparts byte ranges to
 *   path through "<path>.tmp.XXXXXX" (same directory, created O_EXCL with mode
 *   0666 so the kernel applies the umask, as creat() would; an existing
 *   target's permission bits are kept), fsync, rename; on failure the
 *   temporary file is removed and path is untouched. Never calls umask().
 * calib__file_open / _read_exact / _expect_eof / _close: an open file and its
 *   kind: size is st_size for a regular file (fstat on the open descriptor),
 *   UINT64_MAX for anything else (pipe, FIFO, character device), whose length
 *   is only known by reading. read_exact reads up to len bytes and stops
 *   early only at end of file (*got < len); expect_eof reads one more byte
 *   and fails with CALIB_E_FORMAT "trailing bytes" (at `at`) if there is one.
 * calib__file_read: all of path (calib__file_read_all: the rest of an open
 *   file) into a new buffer *buf (calib__free) of *len bytes, at most max bytes: a larger regular file is refused from its size
 *   before anything is allocated, a stream once max + 1 bytes have arrived
 *   (CALIB_E_FORMAT, index = max). */
typedef struct {
  int fd;
  int regular;   /* 1: a regular file of `size` bytes */
  uint64_t size; /* UINT64_MAX when not regular */
} calib__file;
int calib__file_write_atomic(const char *path, const void *const *parts, const size_t *lens,
                             size_t nparts, calib_error *err);
int calib__file_open(calib__file *f, const char *path, calib_error *err);
int calib__file_read_exact(calib__file *f, void *buf, size_t len, size_t *got, calib_error *err);
int calib__file_expect_eof(calib__file *f, uint64_t at, calib_error *err);
void calib__file_close(calib__file *f);
int calib__file_read_all(calib__file *f, size_t max, uint8_t **buf, size_t *len, calib_error *err);
int calib__file_read(const char *path, size_t max, uint8_t **buf, size_t *len, calib_error *err);

/* ---- Model object (src/model/model.c) ---------------------------------------
 * A model is its serialised bytes plus a parsed view of them: the parameter
 * arrays (sections) point into the bytes, so a copied model (owned != NULL)
 * and a by-reference model (firmware: owned == NULL) apply through the same
 * code. See src/model/format.c for the byte layout. */
#define CALIB__MAX_SECTIONS 16

typedef struct {
  uint32_t tag;        /* CALIB_MP_* of the parameter array */
  size_t count;        /* number of float64 values */
  const double *data;  /* 8-byte aligned, inside the model bytes */
} calib__section;

struct calib_model {
  int method;
  size_t k;
  const uint8_t *bytes;  /* header + payload, 8-byte aligned */
  size_t nbytes;
  size_t nsections;
  calib__section sec[CALIB__MAX_SECTIONS];
  float fparam[4];       /* method-specific values precomputed at load (e.g. 1/T) */
  void *owned;           /* allocation holding bytes (and this struct), or NULL */
  float *wf32;           /* matrix/Dirichlet: W as float32 when every entry is a float32
                            value (owned models, x86 SIMD builds, k <= 1024), else NULL;
                            its own allocation, freed with the model (model/matrix_apply.c) */
  struct calib__iso_index *isoidx; /* isotonic, k >= 2: the search index (owned models, x86
                            SIMD builds, k <= 1024), else NULL; freed with the model
                            (model/isotonic_index.c) */
  double *beta3;         /* beta, k >= 2, exact logit features: (a_j), (b_j), (c_j) as
                            three planar arrays of k rounded up to 8 (zero padded), for
                            beta_row_x's plain vector loads (owned models, x86 SIMD
                            builds, k <= 1024), else NULL; freed with the model
                            (model/beta_planar.c) */
};

/* Owned matrix/Dirichlet models: attach m->wf32 when every W entry is exactly
 * a float32 value (calib__model_parse calls it for m->owned != NULL; a no-op
 * for other methods, by-reference models and builds without the SIMD apply).
 * CALIB_OK or CALIB_E_NOMEM (nothing attached). src/model/matrix_apply.c. */
int calib__model_attach_f32(calib_model *m);
void calib__model_detach_f32(calib_model *m);
/* Owned isotonic models with k >= 2: attach m->isoidx, the per-class
 * bucket index of iso_rows_idx (kernels/applyd.h); a no-op for other
 * methods, by-reference models and builds without the SIMD apply.
 * CALIB_OK or CALIB_E_NOMEM (nothing attached). src/model/isotonic_index.c. */
int calib__model_attach_iso(calib_model *m);
void calib__model_detach_iso(calib_model *m);
/* Owned beta models with k >= 2 and exact logit features: attach m->beta3,
 * the planar copy of (a, b, c); a no-op otherwise (other methods, probability
 * input, older clipped models, by-reference models, builds without the SIMD
 * apply). CALIB_OK or CALIB_E_NOMEM (nothing attached). src/model/beta_planar.c. */
int calib__model_attach_beta(calib_model *m);
void calib__model_detach_beta(calib_model *m);

/* Build an owned model from parameter arrays: serialises them and parses the
 * result back through the same validator the loader uses. Parameters it
 * rejects (non-finite, out of range, wrong counts) give CALIB_E_FORMAT;
 * calib_fit turns that into CALIB_E_NOCONV for a solver's output (fitter.c). */
int calib__model_build(calib_model **out, int method, size_t k,
                       const calib__section *secs, size_t nsecs);
/* Parse and validate `len` bytes at an 8-byte aligned `buf` into *m without
 * copying (sections point into buf). Used by calib_model_load (after copying),
 * the file loader and the firmware loader. Each failed check fills *err (may
 * be NULL) with the structure, the check and the byte offset (format.c). */
int calib__model_parse(calib_model *m, const uint8_t *buf, size_t len, calib_error *err);
/* The 32-byte header alone (avail bytes at hdr, any alignment; fewer than 32
 * is "truncated" once the magic matches): magic, header CRC, version, method
 * id, payload length (multiple of 8, >= 16, within CALIB_MODEL_MAX_BYTES),
 * stored in *plen. Lets the loaders refuse a file or buffer before
 * allocating for it. */
int calib__model_check_header(const uint8_t *hdr, size_t avail, uint64_t *plen, calib_error *err);
/* total (>= 32) bytes of model against the header's payload length: truncated
 * or trailing bytes are CALIB_E_FORMAT. */
int calib__model_check_length(uint64_t plen, uint64_t total, calib_error *err);
/* One allocation for the struct and nbytes of model bytes (8-aligned). */
int calib__model_alloc(calib_model **out, size_t nbytes, uint8_t **bytes);
/* The section with `tag`, or NULL. */
const calib__section *calib__model_section(const calib_model *m, uint32_t tag);

/* ---- Model metadata: format version 2 (src/model/format.c, model_meta.c) ----
 * Sections whose tag is in [CALIB__META_FIRST, CALIB__META_LAST] are metadata:
 * never in m->sec (so no method validator or apply sees them), skipped by the
 * firmware core, validated by model_meta.c in the full library. Layout and
 * value rules: the comment at the top of format.c. */
#define CALIB__META_FIRST      0x10000u
#define CALIB__META_LAST       0x1FFFFu
#define CALIB__META_INFO       0x10001u /* f64 x 8: created, n, nll/ece/brier before, after */
#define CALIB__META_PRIOR      0x10002u /* f64 x kc */
#define CALIB__META_CONF_HIST  0x10003u /* f64 x CALIB_REF_CONF_BINS */
#define CALIB__META_CLASS_HIST 0x10004u /* f64 x kc */
#define CALIB__META_TAG        0x10005u /* bytes: UTF-8, 1..CALIB_MODEL_TAG_MAX */
#define CALIB__META_INFO_COUNT 8
#define CALIB__FORMAT_V1 1u
#define CALIB__FORMAT_V2 2u

/* The provenance of a model as raw arrays (no calib_reference: model/ does not
 * see deploy/). prior/conf_hist/class_hist all NULL: no reference; else kc,
 * CALIB_REF_CONF_BINS and kc values (kc = k, 2 when k == 1). */
typedef struct {
  double info[CALIB__META_INFO_COUNT]; /* created_unix, n, nll/ece/brier before, nll/ece/brier after */
  const double *prior, *conf_hist, *class_hist;
  const char *tag;                     /* NULL or tag_len bytes (no NUL needed) */
  size_t tag_len;                      /* 0: none */
} calib__model_meta;

/* Build as calib__model_build, with metadata when meta != NULL (version 2).
 * Metadata that is not valid (see model_meta.c) is CALIB_E_ARG. */
int calib__model_build_meta(calib_model **out, int method, size_t k, const calib__section *secs,
                            size_t nsecs, const calib__model_meta *meta);
/* 1 and *meta filled (pointers into m's bytes) when m is a version-2 model,
 * else 0 (and *meta = no reference, info all NaN except created 0, n 0). */
int calib__model_meta_get(const calib_model *m, calib__model_meta *meta);
/* *out = m's parameters with meta (NULL: none, version 1). */
int calib__model_with_meta(calib_model **out, const calib_model *m, const calib__model_meta *meta);
/* Version-2 metadata of a parsed model (generic parse already done): every
 * rule of format.c's comment; CALIB_E_FORMAT naming the check. Not in the core. */
int calib__model_meta_validate(const calib_model *m, calib_error *err);
/* The value rules of format.c's metadata comment on a struct (tag included):
 * CALIB_OK or CALIB_E_ARG. */
int calib__model_meta_check(size_t k, const calib__model_meta *meta);
/* 1 when the len bytes at s are valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, <= U+10FFFF) without NUL. */
int calib__utf8_valid(const char *s, size_t len);
/* The length of a user tag (NULL: 0) if it is at most CALIB_MODEL_TAG_MAX bytes of
 * valid UTF-8, else (size_t)-1. */
size_t calib__tag_check(const char *tag);
/* Walks the section table of a parsed model: *count and *data (its first
 * byte) of the section with `tag`; 0 when absent. */
int calib__model_find_section(const calib_model *m, uint32_t tag, uint64_t *count, const uint8_t **data);

/* ---- Per-method apply table (src/model/methods.c) --------------------------
 * validate: semantic checks of a parsed model (values finite, counts right);
 *           may fill m->fparam. Returns CALIB_OK or CALIB_E_FORMAT.
 * apply:    the calibrated map; arguments already checked for NULL/shape.
 * check, map: apply's two halves, for the row-wise mode (apply_rows.c):
 *           check returns apply's input status for rows x[0..n) (CALIB_OK,
 *           CALIB_E_NONFINITE or CALIB_E_DOMAIN, in apply's priority) and
 *           writes nothing; map computes those rows with no check, on input
 *           check accepted. NULL for temperature scaling, whose row-wise mode
 *           is the fused kernel. */
typedef struct {
  int id;
  const char *name;
  int (*validate)(calib_model *m);
  int (*apply)(const calib_model *m, const float *x, size_t n, size_t k,
               float *y);
  int (*check)(const calib_model *m, const float *x, size_t n, size_t k);
  void (*map)(const calib_model *m, const float *x, size_t n, size_t k, float *y);
} calib__method;

const calib__method *calib__method_get(int id);

/* The end of a row-wise call (src/kernels/softmax.c): stores bad and the
 * first bad index (n if none) where the pointers are not NULL; returns
 * CALIB_OK without bad rows, else code. */
int calib__rows_finish(size_t n, size_t bad, size_t first, size_t *bad_rows, size_t *first_bad,
                       int code);

/* Temperature scaling (src/model/temperature_apply.c). */
int calib__temperature_validate(calib_model *m);
int calib__temperature_apply(const calib_model *m, const float *x, size_t n,
                             size_t k, float *y);

#endif /* CALIB_INTERNAL_H */
