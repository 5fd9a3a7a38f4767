/*
 * file.c -- whole-file reads and atomic writes (POSIX).
 *
 * Atomic write: the bytes go to "<path>.tmp.XXXXXX" (mkstemp, same directory,
 * so rename() cannot cross file systems), are fsync'ed, then renamed over
 * path. Any failure unlinks the temporary file, so path is either the old
 * file or the complete new one, never a partial one.
 */
#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads to EOF from fd into a growing buffer; size_hint from fstat. */
static int read_fd(int fd, size_t size_hint, uint8_t **buf, size_t *len, char *err, size_t errcap) {
  size_t cap = size_hint + 1, n = 0; /* +1: see EOF without regrowing */
  uint8_t *b = (uint8_t *)malloc(cap);
  if (!b) return calib__io_err(CALIB_E_NOMEM, err, errcap, "out of memory (%zu bytes)", cap);
  for (;;) {
    if (n == cap) {
      if (cap > SIZE_MAX / 2) {
        free(b);
        return calib__io_err(CALIB_E_NOMEM, err, errcap, "file too large");
      }
      uint8_t *nb = (uint8_t *)realloc(b, cap * 2);
      if (!nb) {
        free(b);
        return calib__io_err(CALIB_E_NOMEM, err, errcap, "out of memory (%zu bytes)", cap * 2);
      }
      b = nb;
      cap *= 2;
    }
    const ssize_t r = read(fd, b + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int e = errno;
      free(b);
      return calib__io_err(CALIB_E_IO, err, errcap, "cannot read: %s", strerror(e));
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  *buf = b;
  *len = n;
  return CALIB_OK;
}

int calib__io_read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t errcap) {
  if (!path || !buf || !len) return calib__io_err(CALIB_E_ARG, err, errcap, "no file name");
  const int fd = open(path, O_RDONLY);
  if (fd < 0) return calib__io_err(CALIB_E_IO, err, errcap, "cannot open: %s", strerror(errno));
  struct stat sb;
  size_t hint = 4096;
  if (fstat(fd, &sb) == 0) {
    if (S_ISDIR(sb.st_mode)) {
      close(fd);
      return calib__io_err(CALIB_E_IO, err, errcap, "is a directory");
    }
    if (S_ISREG(sb.st_mode) && sb.st_size > 0 && (uintmax_t)sb.st_size < SIZE_MAX)
      hint = (size_t)sb.st_size;
  }
  const int st = read_fd(fd, hint, buf, len, err, errcap);
  close(fd);
  return st;
}

static int write_all(int fd, const uint8_t *p, size_t len) {
  while (len) {
    const ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int calib__io_write_atomic(const char *path, const void *const *parts, const size_t *lens,
                           size_t nparts, char *err, size_t errcap) {
  if (!path || !*path || (nparts && (!parts || !lens)))
    return calib__io_err(CALIB_E_ARG, err, errcap, "no file name");
  const size_t plen = strlen(path);
  char *tmp = (char *)malloc(plen + 12);
  if (!tmp) return calib__io_err(CALIB_E_NOMEM, err, errcap, "out of memory");
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp.XXXXXX", 12);
  const int fd = mkstemp(tmp);
  if (fd < 0) {
    const int e = errno;
    free(tmp);
    return calib__io_err(CALIB_E_IO, err, errcap, "cannot create a temporary file: %s", strerror(e));
  }
  int ok = 1;
  for (size_t i = 0; i < nparts && ok; i++) ok = write_all(fd, (const uint8_t *)parts[i], lens[i]) == 0;
  ok = ok && fsync(fd) == 0;
  int e = ok ? 0 : errno;
  if (close(fd) != 0 && ok) {
    ok = 0;
    e = errno;
  }
  if (ok) {
    const mode_t um = umask(0); /* mkstemp made 0600: give the usual mode */
    umask(um);
    (void)chmod(tmp, 0666 & ~um);
    ok = rename(tmp, path) == 0;
    e = errno;
  }
  if (!ok) unlink(tmp);
  free(tmp);
  return ok ? CALIB_OK : calib__io_err(CALIB_E_IO, err, errcap, "cannot write: %s", strerror(e));
}
