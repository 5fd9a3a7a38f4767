/* model_file.c -- model bytes to and from files (not in the firmware core:
 * it uses stdio and POSIX). Saving is atomic: temp file in the same
 * directory, fsync, rename over the target. */
#include "internal.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

#define MODEL_FILE_MAX ((size_t)1 << 31) /* 2 GiB: larger is not a model */

static int write_all(int fd, const uint8_t *p, size_t len) {
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int calib_model_save_file(const calib_model *m, const char *path) {
  if (!m || !path || !*path) return CALIB_E_ARG;
  const size_t plen = strlen(path);
  char *tmp = (char *)calib__malloc(plen + 16);
  if (!tmp) return CALIB_E_NOMEM;
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp.XXXXXX", 12);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    calib__free(tmp);
    return CALIB_E_IO;
  }
  int ok = write_all(fd, m->bytes, m->nbytes) == 0 && fsync(fd) == 0;
  ok = (close(fd) == 0) && ok;
  /* mkstemp creates 0600; give the file the usual umask-filtered 0666. */
  if (ok) {
    mode_t um = umask(0);
    umask(um);
    (void)chmod(tmp, 0666 & ~um);
  }
  ok = ok && rename(tmp, path) == 0;
  if (!ok) unlink(tmp);
  calib__free(tmp);
  return ok ? CALIB_OK : CALIB_E_IO;
}

int calib_model_load_file(calib_model **out, const char *path) {
  if (!out || !path) return CALIB_E_ARG;
  FILE *f = fopen(path, "rb");
  if (!f) return CALIB_E_IO;
  size_t cap = 4096, len = 0;
  uint8_t *buf = (uint8_t *)calib__malloc(cap);
  int st = buf ? CALIB_OK : CALIB_E_NOMEM;
  while (st == CALIB_OK) {
    if (len == cap) {
      if (cap >= MODEL_FILE_MAX) { st = CALIB_E_FORMAT; break; }
      uint8_t *nb = (uint8_t *)calib__malloc(cap * 2);
      if (!nb) { st = CALIB_E_NOMEM; break; }
      memcpy(nb, buf, len);
      calib__free(buf);
      buf = nb;
      cap *= 2;
    }
    size_t r = fread(buf + len, 1, cap - len, f);
    len += r;
    if (r == 0) {
      if (ferror(f)) st = CALIB_E_IO;
      break;
    }
  }
  fclose(f);
  if (st == CALIB_OK) st = calib_model_load(out, buf, len);
  calib__free(buf);
  return st;
}
