/*
 * file.c -- whole-file reads and atomic writes for the CLI: messages around the
 * library's own mechanism (calib__file_* in src/model/model_file.c), so a .npy
 * or SVG output is written exactly like a model (temporary file in the same
 * directory, fsync, rename; never partial) and every input is read by the
 * same bounded reader: fstat first, nothing allocated beyond what the file's
 * size or .npy header promises, streams stopped at the limit.
 */
#include "npy.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The library's file error as one of our messages (with the errno text). */
static int file_err(int st, const calib_error *e, char *err, size_t errcap) {
  if (st == CALIB_E_NOMEM) return calib__io_err(st, err, errcap, "out of memory");
  if (e->sys_errno == EISDIR) return calib__io_err(st, err, errcap, "is a directory");
  if (st == CALIB_E_IO)
    return calib__io_err(st, err, errcap, "%s: %s", strncmp(e->check, "cannot open", 11) == 0 ? "cannot open" : e->check,
                         strerror(e->sys_errno));
  return calib__io_err(st, err, errcap, "%s", e->check); /* not e->message: its code text speaks of models */
}

/* The limit for a file of this kind: max, or the documented default (max == 0). */
static size_t limit_for(size_t max, int regular) {
  if (max) return max;
  return regular ? CALIB__IO_MAX_BYTES_DEFAULT : CALIB__IO_STREAM_MAX_DEFAULT;
}

static int over_limit(uint64_t size, int regular, size_t max, char *err, size_t errcap) {
  if (regular)
    return calib__io_err(CALIB_E_FORMAT, err, errcap,
                         "%llu bytes of data, over the input limit of %zu bytes (--max-bytes)",
                         (unsigned long long)size, max);
  return calib__io_err(CALIB_E_FORMAT, err, errcap,
                       "not a regular file, and more than the input limit of %zu bytes arrived (--max-bytes)", max);
}

int calib__io_read_file(const char *path, size_t max, uint8_t **buf, size_t *len, char *err, size_t errcap) {
  if (!path || !buf || !len) return calib__io_err(CALIB_E_ARG, err, errcap, "no file name");
  calib__file f;
  calib_error e;
  int st = calib__file_open(&f, path, &e);
  if (st != CALIB_OK) return file_err(st, &e, err, errcap);
  max = limit_for(max, f.regular);
  st = calib__file_read_all(&f, max, buf, len, &e); /* a regular file: refused from its size */
  calib__file_close(&f);
  if (st == CALIB_E_FORMAT && e.index == (uint64_t)max) return over_limit(f.size, f.regular, max, err, errcap);
  return st == CALIB_OK ? st : file_err(st, &e, err, errcap);
}

/* ---- .npy, header first -------------------------------------------------------------- */

/* The preamble and header of an open .npy file into a new buffer *hdr of
 * *hend bytes (the data start there). */
static int read_header(calib__file *f, uint8_t **hdr, size_t *hend, char *err, size_t errcap) {
  uint8_t pre[12];
  size_t got = 0, more = 0;
  calib_error e;
  int st = calib__file_read_exact(f, pre, 10, &got, &e);
  if (st == CALIB_OK && got == 10 && memcmp(pre, "\x93NUMPY", 6) == 0 && (pre[6] == 2 || pre[6] == 3)) {
    st = calib__file_read_exact(f, pre + 10, 2, &more, &e); /* versions 2.0, 3.0: u32 length */
    got += more;
  }
  if (st != CALIB_OK) return file_err(st, &e, err, errcap);
  if ((st = calib__npy_preamble(pre, got, hend, err, errcap)) != CALIB_OK) return st;
  if (!(*hdr = (uint8_t *)malloc(*hend))) return calib__io_err(CALIB_E_NOMEM, err, errcap, "out of memory");
  memcpy(*hdr, pre, got);
  if ((st = calib__file_read_exact(f, *hdr + got, *hend - got, &more, &e)) != CALIB_OK) {
    free(*hdr);
    return file_err(st, &e, err, errcap);
  }
  *hend = got + more; /* short: the header parser says "truncated .npy header" */
  return CALIB_OK;
}

/* Exactly `want` data bytes into a new buffer, then end of file. */
static int read_data(calib__file *f, size_t want, uint8_t **data, char *err, size_t errcap) {
  calib_error e;
  size_t got = 0;
  if (!(*data = (uint8_t *)malloc(want ? want : 1))) return calib__io_err(CALIB_E_NOMEM, err, errcap, "out of memory");
  int st = calib__file_read_exact(f, *data, want, &got, &e);
  if (st == CALIB_OK && got < want) st = calib__npy_data_size_error(want, got, err, errcap);
  else if (st == CALIB_OK && (st = calib__file_expect_eof(f, want, &e)) == CALIB_E_FORMAT)
    st = calib__io_err(st, err, errcap, "trailing bytes after the data (shape needs %zu data bytes, the file has more)",
                       want);
  else if (st != CALIB_OK)
    st = file_err(st, &e, err, errcap);
  if (st != CALIB_OK) {
    free(*data);
    *data = NULL;
  }
  return st;
}

/* Header parsed and the data size checked against max and the file size. */
static int read_npy_open(calib__file *f, size_t max, uint8_t **buf, calib__npy *out, char *err, size_t errcap) {
  uint8_t *hdr = NULL;
  size_t hend = 0, want = 0;
  calib__npy a;
  int st = read_header(f, &hdr, &hend, err, errcap);
  if (st != CALIB_OK) return st;
  st = calib__npy_parse_header(hdr, hend, &a, &hend, &want, err, errcap);
  free(hdr);
  if (st != CALIB_OK) return st;
  const uint64_t have = f->regular && f->size > hend ? f->size - hend : 0;
  if (f->regular && have != want) return calib__npy_data_size_error(want, have, err, errcap); /* before reading */
  if (want > limit_for(max, f->regular)) return over_limit(want, 1, limit_for(max, f->regular), err, errcap);
  if ((st = read_data(f, want, buf, err, errcap)) != CALIB_OK) return st;
  a.data = *buf;
  *out = a;
  return CALIB_OK;
}

int calib__io_read_npy(const char *path, size_t max, uint8_t **buf, calib__npy *out, char *err, size_t errcap) {
  if (!path || !buf || !out) return calib__io_err(CALIB_E_ARG, err, errcap, "no file name");
  calib__file f;
  calib_error e;
  int st = calib__file_open(&f, path, &e);
  if (st != CALIB_OK) return file_err(st, &e, err, errcap);
  st = read_npy_open(&f, max, buf, out, err, errcap);
  calib__file_close(&f);
  return st;
}

int calib__io_write_atomic(const char *path, const void *const *parts, const size_t *lens,
                           size_t nparts, char *err, size_t errcap) {
  if (!path || !*path || (nparts && (!parts || !lens)))
    return calib__io_err(CALIB_E_ARG, err, errcap, "no file name");
  calib_error e;
  const int st = calib__file_write_atomic(path, parts, lens, nparts, &e);
  if (st == CALIB_OK) return st;
  if (st == CALIB_E_NOMEM) return calib__io_err(st, err, errcap, "out of memory");
  return calib__io_err(st, err, errcap, "%s: %s", e.check, strerror(e.sys_errno));
}
