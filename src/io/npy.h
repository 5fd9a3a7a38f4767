/*
 * npy.h -- numpy .npy arrays and raw little-endian files, for the `calib`
 * command and the tests (src/io/, never in the library or the firmware core).
 *
 * The parser works on a memory buffer so it can be fuzzed: it validates the
 * magic, the format version (1.0, 2.0, 3.0), the header length, the header
 * dict ({'descr', 'fortran_order', 'shape'}, each exactly once, nothing else),
 * the shape tuple, and that the data size equals prod(shape) * itemsize
 * exactly. Every size is a size_t with overflow checks; nothing is read
 * outside [buf, buf + len).
 *
 * Supported dtypes: '<f4', '<f8', '<i4', '<i8' (little-endian), and the typed
 * logits of calib.h's typed inputs: '<f2' (float16), '|i1' (int8), '|u1'
 * (uint8) -- these are not converted by the to_* functions below: the CLI
 * passes them to the library as they are (calib_input). Big-endian
 * ('>f4', ...), Fortran order, and every other dtype are rejected with a
 * message saying so. Data are decoded as little-endian on any host.
 *
 * Errors: each function returns CALIB_OK or a CALIB_E_* code (CALIB_E_FORMAT
 * for malformed input, CALIB_E_UNSUPPORTED for a valid .npy this reader does
 * not take, CALIB_E_IO, CALIB_E_NOMEM, CALIB_E_ARG) and, when err != NULL,
 * writes a one-line English reason (no file name, no newline) into
 * err[0..errcap-1]. On error nothing else is written.
 */
#ifndef CALIB_IO_NPY_H
#define CALIB_IO_NPY_H

#include "calib.h"
#include <stddef.h>
#include <stdint.h>

#define CALIB__NPY_MAX_DIMS 32  /* numpy's historical NPY_MAXDIMS */
#define CALIB__NPY_ERRLEN 192   /* a buffer this long holds every message */

/* Element types (dtype descr strings '<f4', '<f8', '<i4', '<i8'). */
typedef enum {
  CALIB__NPY_F32 = 1,
  CALIB__NPY_F64 = 2,
  CALIB__NPY_I32 = 3,
  CALIB__NPY_I64 = 4,
  CALIB__NPY_F16 = 5, /* '<f2' */
  CALIB__NPY_I8 = 6,  /* '|i1' */
  CALIB__NPY_U8 = 7   /* '|u1' */
} calib__npy_dtype;

/* A parsed array: a view into the parsed buffer (data may be unaligned). */
typedef struct {
  calib__npy_dtype dtype;
  size_t ndim;                       /* 0..CALIB__NPY_MAX_DIMS */
  size_t shape[CALIB__NPY_MAX_DIMS];
  size_t count;                      /* prod(shape); 1 for ndim == 0 */
  const uint8_t *data;               /* count * itemsize bytes */
} calib__npy;

/* Bytes per element of dtype (1, 2, 4 or 8); 0 for an unknown value. */
size_t calib__npy_itemsize(calib__npy_dtype dtype);
/* "<f4", "<f8", "<i4", "<i8", "<f2", "|i1", "|u1"; "?" for an unknown value. */
const char *calib__npy_descr(calib__npy_dtype dtype);
/* Human name: "float32", "float64", "int32", "int64", "float16", "int8", "uint8". */
const char *calib__npy_typename(calib__npy_dtype dtype);

/* 1 if buf starts with the .npy magic "\x93NUMPY". */
int calib__npy_has_magic(const void *buf, size_t len);

/*! calib__npy_parse() : validates the .npy bytes buf[0..len-1] and fills *out
 *  (a view: out->data points into buf, which must outlive it). */
int calib__npy_parse(const void *buf, size_t len, calib__npy *out, char *err,
                     size_t errcap);

/* Header-first reading (calib__io_read_npy) uses the two halves of the parser:
 * calib__npy_preamble checks the magic, version and header length field of
 *   the first 10 bytes (12 for versions 2.0 and 3.0) and sets *hend, the
 *   offset of the data (header lengths above CALIB__NPY_MAX_HEADER are
 *   refused: numpy itself reads at most 10000 by default);
 * calib__npy_parse_header parses buf[0..len-1] holding at least the whole
 *   header, and sets *out (data NULL), *hend and *data_bytes =
 *   prod(shape) * itemsize (overflow-checked: larger than PTRDIFF_MAX is an
 *   error), the exact number of bytes that must follow.
 * calib__npy_data_size_error: the "truncated data" / "trailing bytes after
 *   the data" message for want expected and have present data bytes. */
#define CALIB__NPY_MAX_HEADER 65536
int calib__npy_preamble(const void *buf, size_t len, size_t *hend, char *err, size_t errcap);
int calib__npy_parse_header(const void *buf, size_t len, calib__npy *out, size_t *hend,
                            size_t *data_bytes, char *err, size_t errcap);
int calib__npy_data_size_error(size_t want, uint64_t have, char *err, size_t errcap);

/* Conversions of a parsed array's count elements into caller buffers.
 * to_f32 takes F32 (copied) or F64 (rounded to nearest float32 once; values
 * beyond float32's range become +-inf); to_f64 takes F32 or F64; to_i64 takes
 * I32 or I64. Another dtype is CALIB_E_UNSUPPORTED. */
int calib__npy_to_f32(const calib__npy *a, float *out, char *err, size_t errcap);
int calib__npy_to_f64(const calib__npy *a, double *out, char *err, size_t errcap);
int calib__npy_to_i64(const calib__npy *a, int64_t *out, char *err, size_t errcap);

/*! calib__npy_header() : writes the version 1.0 preamble and header of a
 *  C-order array of dtype and shape[0..ndim-1] into out[0..cap-1] (padded
 *  with spaces and '\n' to a multiple of 64 bytes, as numpy does) and sets
 *  *hlen to its length (the data start at that offset). With out == NULL only
 *  *hlen is set. Errors: CALIB_E_ARG (bad dtype, ndim, NULL hlen),
 *  CALIB_E_SMALLBUF. */
int calib__npy_header(uint8_t *out, size_t cap, calib__npy_dtype dtype,
                      const size_t *shape, size_t ndim, size_t *hlen);

/*! calib__npy_save() : writes a C-order array (count = prod(shape) native
 *  elements of dtype at data) to path atomically: a temporary file in the
 *  same directory, fsync, rename over path. On any error the temporary file
 *  is removed and path is untouched. */
int calib__npy_save(const char *path, calib__npy_dtype dtype,
                    const size_t *shape, size_t ndim, const void *data,
                    char *err, size_t errcap);

/* ---- Files (file.c) ---------------------------------------------------------
 * Every input is read through the library's one bounded reader
 * (calib__file_* in src/model/model_file.c): the file is opened and fstat'ed
 * first; a regular file's size is known before anything is allocated, and a
 * stream (pipe, FIFO, character device such as /dev/zero) is read only as far
 * as allowed. `max` is the caller's limit on the bytes of one input's data
 * (the CLI's --max-bytes); 0 selects the defaults: CALIB__IO_MAX_BYTES_DEFAULT
 * (4 GiB) for a regular file, whose size is checked before anything is
 * allocated, and CALIB__IO_STREAM_MAX_DEFAULT (256 MiB) for a stream, which
 * can only be measured by reading it (its buffer grows by doubling, so the
 * memory spent before a stream is refused is up to about twice the limit). A
 * larger input is CALIB_E_FORMAT with a message giving the sizes. Memory: the
 * data bytes read, plus (typed loaders) the converted array. */
#define CALIB__IO_MAX_BYTES_DEFAULT /* 4 GiB (2 GiB - 1 on a 32-bit host) */ \
  (SIZE_MAX > 0xFFFFFFFFu ? (size_t)0xFFFFFFFFu + 1u : (size_t)0x7FFFFFFF)
#define CALIB__IO_STREAM_MAX_DEFAULT ((size_t)1 << 28)

/*! calib__io_read_file() : reads the whole file at path (at most max bytes)
 *  into a new buffer *buf of *len bytes (caller frees with free(): it comes
 *  from the library's allocator, which is malloc outside the firmware core). */
int calib__io_read_file(const char *path, size_t max, uint8_t **buf, size_t *len,
                        char *err, size_t errcap);

/*! calib__io_read_npy() : a .npy file read header first: the preamble and
 *  header are read and parsed, the data size they promise (checked against
 *  max, and against the file size for a regular file) is allocated exactly
 *  once and read, and a short or longer file is refused ("truncated data",
 *  "trailing bytes after the data"). *out views *buf (caller frees). */
int calib__io_read_npy(const char *path, size_t max, uint8_t **buf, calib__npy *out,
                       char *err, size_t errcap);

/*! calib__io_write_atomic() : writes the concatenation of nparts byte ranges
 *  to path through a temporary file in the same directory (mode as
 *  creat(path, 0666) would give: 0666 less the umask, or an existing file's
 *  mode), fsync, rename. On error the temporary file is removed and path is
 *  untouched. */
int calib__io_write_atomic(const char *path, const void *const *parts,
                           const size_t *lens, size_t nparts, char *err,
                           size_t errcap);

/* ---- Typed loaders for the CLI (array.c) ------------------------------------
 * Each reads a whole file (at most max data bytes, see above) and dispatches
 * on its name and content: a name ending in ".f32" (logits) or ".i32"
 * (labels) is a raw headerless little-endian file; anything else must be a
 * .npy file, read header first. On success the caller owns *out (free()). */

/*! calib__io_load_logits() : float32/float64 .npy of shape (n,) (k = 1),
 *  (n, k) (raw_k is ignored); or raw .f32 with raw_k columns (raw_k == 0:
 *  error "needs --k"; the size must be a multiple of 4 * raw_k). float64 is
 *  rounded to float32 once, here. */
int calib__io_load_logits(const char *path, size_t raw_k, size_t max, float **out,
                          size_t *n, size_t *k, char *err, size_t errcap);
/*! calib__io_load_labels() : int32/int64 .npy of shape (n,) or (n, 1), or raw
 *  .i32; widened to int64. */
int calib__io_load_labels(const char *path, size_t max, int64_t **out, size_t *n,
                          char *err, size_t errcap);
/*! calib__io_load_weights() : float32/float64 .npy of shape (n,) or (n, 1),
 *  widened to double. */
int calib__io_load_weights(const char *path, size_t max, double **out, size_t *n,
                           char *err, size_t errcap);

/* snprintf into err if err != NULL; returns status (for `return seterr(...)`). */
int calib__io_err(int status, char *err, size_t errcap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif /* CALIB_IO_NPY_H */
