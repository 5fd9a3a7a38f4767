/*
 * file.c -- whole-file reads and atomic writes for the CLI: messages around the
 * library's own mechanism (calib__file_read / calib__file_write_atomic in
 * src/model/model_file.c), so a .npy or SVG output is written exactly like a
 * model: temporary file in the same directory, fsync, rename; never partial.
 */
#include "npy.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int calib__io_read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t errcap) {
  if (!path || !buf || !len) return calib__io_err(CALIB_E_ARG, err, errcap, "no file name");
  int e, stage;
  const int st = calib__file_read(path, SIZE_MAX, buf, len, &e, &stage);
  if (st == CALIB_E_NOMEM) return calib__io_err(st, err, errcap, "out of memory");
  if (st == CALIB_E_FORMAT) return calib__io_err(CALIB_E_NOMEM, err, errcap, "file too large");
  if (st == CALIB_OK) return st;
  if (e == EISDIR) return calib__io_err(st, err, errcap, "is a directory");
  return calib__io_err(st, err, errcap, stage == CALIB__FILE_STAGE_OPEN ? "cannot open: %s" : "cannot read: %s",
                       strerror(e));
}

int calib__io_write_atomic(const char *path, const void *const *parts, const size_t *lens,
                           size_t nparts, char *err, size_t errcap) {
  if (!path || !*path || (nparts && (!parts || !lens)))
    return calib__io_err(CALIB_E_ARG, err, errcap, "no file name");
  int e, stage;
  const int st = calib__file_write_atomic(path, parts, lens, nparts, &e, &stage);
  if (st == CALIB_E_NOMEM) return calib__io_err(st, err, errcap, "out of memory");
  if (st == CALIB_OK) return st;
  return calib__io_err(st, err, errcap, stage == CALIB__FILE_STAGE_CREATE
                                            ? "cannot create a temporary file: %s" : "cannot write: %s",
                       strerror(e));
}
