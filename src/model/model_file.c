/* model_file.c -- files: the library's one atomic-write and whole-file-read
 * mechanism (POSIX; not in the firmware core), and the model save/load on top
 * of it. The CLI's .npy and SVG outputs (src/io/file.c) use the same two
 * functions, so every file libcalib writes is written the same way:
 * "<path>.tmp.XXXXXX" in the same directory (mkstemp, so rename cannot cross
 * file systems), fsync, mode 0666 less the umask, rename over path; on any
 * failure the temporary file is removed and path is untouched. */
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* rename */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MODEL_FILE_MAX ((size_t)1 << 31) /* 2 GiB: larger is not a model */

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

int calib__file_write_atomic(const char *path, const void *const *parts, const size_t *lens,
                             size_t nparts, int *sys_errno, int *stage) {
  *sys_errno = 0;
  *stage = CALIB__FILE_STAGE_CREATE;
  const size_t plen = strlen(path);
  char *tmp = (char *)calib__malloc(plen + 12);
  if (!tmp) return CALIB_E_NOMEM;
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp.XXXXXX", 12);
  const int fd = mkstemp(tmp);
  if (fd < 0) {
    *sys_errno = errno;
    calib__free(tmp);
    return CALIB_E_IO;
  }
  *stage = CALIB__FILE_STAGE_WRITE;
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
  calib__free(tmp);
  *sys_errno = ok ? 0 : e;
  return ok ? CALIB_OK : CALIB_E_IO;
}

/* Reads to EOF into a buffer grown from size_hint (+1: EOF is seen without
 * regrowing). More than max bytes: CALIB_E_FORMAT. */
static int read_fd(int fd, size_t size_hint, size_t max, uint8_t **buf, size_t *len, int *sys_errno) {
  size_t cap = size_hint < max ? size_hint + 1 : max, n = 0;
  uint8_t *b = (uint8_t *)calib__malloc(cap);
  if (!b) return CALIB_E_NOMEM;
  for (;;) {
    if (n == cap) {
      if (cap >= max) {
        calib__free(b);
        return CALIB_E_FORMAT;
      }
      const size_t ncap = cap > max / 2 ? max : cap * 2;
      uint8_t *nb = (uint8_t *)calib__malloc(ncap);
      if (!nb) {
        calib__free(b);
        return CALIB_E_NOMEM;
      }
      memcpy(nb, b, n);
      calib__free(b);
      b = nb;
      cap = ncap;
    }
    const ssize_t r = read(fd, b + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      *sys_errno = errno;
      calib__free(b);
      return CALIB_E_IO;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  *buf = b;
  *len = n;
  return CALIB_OK;
}

int calib__file_read(const char *path, size_t max, uint8_t **buf, size_t *len, int *sys_errno,
                     int *stage) {
  *sys_errno = 0;
  *stage = CALIB__FILE_STAGE_OPEN;
  const int fd = open(path, O_RDONLY);
  if (fd < 0) {
    *sys_errno = errno;
    return CALIB_E_IO;
  }
  struct stat sb;
  size_t hint = 4096;
  if (fstat(fd, &sb) == 0) {
    if (S_ISDIR(sb.st_mode)) {
      close(fd);
      *sys_errno = EISDIR;
      return CALIB_E_IO;
    }
    if (S_ISREG(sb.st_mode) && sb.st_size > 0 && (uintmax_t)sb.st_size < SIZE_MAX)
      hint = (size_t)sb.st_size;
  }
  *stage = CALIB__FILE_STAGE_READ;
  const int st = read_fd(fd, hint, max, buf, len, sys_errno);
  close(fd);
  return st;
}

int calib_model_save_file(const calib_model *m, const char *path) {
  if (!m || !path || !*path) return CALIB_E_ARG;
  const void *parts[1] = {m->bytes};
  int e, stage;
  return calib__file_write_atomic(path, parts, &m->nbytes, 1, &e, &stage);
}

int calib_model_load_file(calib_model **out, const char *path) {
  if (!out || !path) return CALIB_E_ARG;
  uint8_t *buf = NULL;
  size_t len = 0;
  int e, stage;
  int st = calib__file_read(path, MODEL_FILE_MAX, &buf, &len, &e, &stage);
  if (st == CALIB_OK) st = calib_model_load(out, buf, len);
  calib__free(buf);
  return st;
}
