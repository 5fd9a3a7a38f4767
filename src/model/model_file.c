/* model_file.c -- files: the library's one atomic writer and one bounded
 * reader (POSIX; not in the firmware core), and the model save/load on top of
 * them. The CLI's inputs and its .npy and SVG outputs (src/io/file.c) use the
 * same functions, so every file libcalib writes is written the same way and
 * every file it reads is read the same way.
 *
 * Writing: "<path>.tmp.XXXXXX" in the same directory (so rename cannot cross
 * file systems), created with open(O_CREAT | O_EXCL, 0666): the kernel applies
 * the process umask exactly as creat(path, 0666) would, so the library never
 * reads or changes the umask (umask() is process-wide: changing it even for a
 * moment races with every other thread creating files). When path already
 * exists, its permission bits are copied to the temporary file (fchmod on the
 * descriptor), as creat() on an existing file keeps its mode. Then fsync,
 * close, rename over path; on any failure the temporary file is removed and
 * path is untouched.
 *
 * Reading: open, fstat the descriptor, refuse a regular file above the
 * caller's cap before allocating anything, read exactly what is expected, and
 * stop a stream (pipe, FIFO, /dev/zero) once it passes the cap. A model file
 * is read header first: magic, CRC, version and payload length are checked on
 * 32 bytes, the length against the file size, and only then is the model's
 * own allocation made and filled: peak memory is the model itself. */
#include "internal.h"
#include "checked.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* rename */
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILE_ARG "file"
#define TMP_SUFFIX ".tmp.XXXXXX"
#define TMP_ATTEMPTS 100

static int io_error(calib_error *err, const char *check, int e) {
  return calib__error_set(err, CALIB_E_IO, FILE_ARG, check, UINT64_MAX, e ? e : EIO);
}

static int nomem(calib_error *err) {
  return calib__error_set(err, CALIB_E_NOMEM, FILE_ARG, "cannot allocate the file's buffer", UINT64_MAX, 0);
}

/* ---- Writing --------------------------------------------------------------------- */

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

/* splitmix64: mixes the seed of a temporary name. */
static uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/* Replaces the six X of tmp's suffix. The seed mixes the clock, the pid, the
 * address of tmp (distinct for every call in flight in this process) and the
 * attempt number; a collision only costs a retry (O_EXCL). */
static void tmp_name(char *tmp, size_t plen, unsigned attempt) {
  static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  struct timespec ts = {0, 0};
  (void)clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t x = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 20) ^
                     (uint64_t)(uintptr_t)tmp ^ ((uint64_t)attempt << 52));
  for (size_t i = 0; i < 6; i++, x /= 62) tmp[plen + sizeof TMP_SUFFIX - 7 + i] = chars[x % 62];
}

/* Creates the temporary file next to path: *fd, and its name in *tmp. */
static int create_tmp(const char *path, char **tmp, int *fd, calib_error *err) {
  const size_t plen = strlen(path);
  size_t sz;
  if (!calib__size_add(plen, sizeof TMP_SUFFIX, &sz) || !(*tmp = (char *)calib__malloc(sz))) return nomem(err);
  memcpy(*tmp, path, plen);
  memcpy(*tmp + plen, TMP_SUFFIX, sizeof TMP_SUFFIX);
  for (unsigned a = 0; a < TMP_ATTEMPTS; a++) {
    tmp_name(*tmp, plen, a);
    *fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (*fd >= 0) return CALIB_OK;
    if (errno != EEXIST && errno != EINTR) break;
  }
  const int e = errno;
  calib__free(*tmp);
  *tmp = NULL;
  return io_error(err, "cannot create the temporary file next to it", e);
}

/* The contents, the existing target's mode, fsync and close; errno text on failure. */
static int fill_tmp(int fd, const char *path, const void *const *parts, const size_t *lens, size_t nparts,
                    calib_error *err) {
  struct stat sb;
  int ok = 1;
  for (size_t i = 0; i < nparts && ok; i++) ok = write_all(fd, (const uint8_t *)parts[i], lens[i]) == 0;
  if (ok && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) ok = fchmod(fd, sb.st_mode & 0777) == 0;
  ok = ok && fsync(fd) == 0;
  const int e = ok ? 0 : errno;
  if (close(fd) != 0 && ok) return io_error(err, "cannot write", errno);
  return ok ? CALIB_OK : io_error(err, "cannot write", e);
}

int calib__file_write_atomic(const char *path, const void *const *parts, const size_t *lens,
                             size_t nparts, calib_error *err) {
  char *tmp = NULL;
  int fd = -1;
  int st = create_tmp(path, &tmp, &fd, err);
  if (st != CALIB_OK) return st;
  st = fill_tmp(fd, path, parts, lens, nparts, err);
  if (st == CALIB_OK && rename(tmp, path) != 0) st = io_error(err, "cannot rename the temporary file over it", errno);
  if (st != CALIB_OK) unlink(tmp);
  calib__free(tmp);
  return st == CALIB_OK ? calib__error_ok(err) : st;
}

/* ---- Reading --------------------------------------------------------------------- */

int calib__file_open(calib__file *f, const char *path, calib_error *err) {
  int fd;
  do fd = open(path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return io_error(err, "cannot open for reading", errno);
  struct stat sb;
  const int e = fstat(fd, &sb) != 0 ? errno : S_ISDIR(sb.st_mode) ? EISDIR : 0;
  if (e != 0) {
    close(fd);
    return io_error(err, "cannot read", e);
  }
  f->fd = fd;
  f->regular = S_ISREG(sb.st_mode) != 0;
  f->size = f->regular && sb.st_size >= 0 ? (uint64_t)sb.st_size : UINT64_MAX;
  return CALIB_OK;
}

int calib__file_read_exact(calib__file *f, void *buf, size_t len, size_t *got, calib_error *err) {
  uint8_t *p = (uint8_t *)buf;
  size_t n = 0;
  while (n < len) {
    const ssize_t r = read(f->fd, p + n, len - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return io_error(err, "cannot read", errno);
    if (r == 0) break;
    n += (size_t)r;
  }
  *got = n;
  return CALIB_OK;
}

int calib__file_expect_eof(calib__file *f, uint64_t at, calib_error *err) {
  uint8_t one;
  size_t got = 0;
  const int st = calib__file_read_exact(f, &one, 1, &got, err);
  if (st != CALIB_OK) return st;
  if (got) return calib__error_set(err, CALIB_E_FORMAT, FILE_ARG, "trailing bytes after the expected end", at, 0);
  return CALIB_OK;
}

void calib__file_close(calib__file *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
}

static int over_cap(calib_error *err, size_t max) {
  return calib__error_set(err, CALIB_E_FORMAT, FILE_ARG, "larger than the size limit", (uint64_t)max, 0);
}

/* A stream of unknown length: grown by doubling, refused past max. */
static int read_stream(calib__file *f, size_t max, uint8_t **buf, size_t *len, calib_error *err) {
  size_t cap = 0, n = 0, got = 0;
  uint8_t *b = NULL;
  for (;;) {
    if (n == cap) {
      const size_t limit = max < SIZE_MAX ? max + 1 : max; /* max + 1 bytes prove "over" */
      const size_t ncap = cap == 0 ? (limit < 65536 ? limit : 65536) : cap > limit - cap ? limit : 2 * cap;
      uint8_t *nb = ncap > cap ? (uint8_t *)calib__malloc(ncap) : NULL;
      if (!nb) {
        calib__free(b);
        return ncap > cap ? nomem(err) : over_cap(err, max);
      }
      if (n) memcpy(nb, b, n);
      calib__free(b);
      b = nb;
      cap = ncap;
    }
    const int st = calib__file_read_exact(f, b + n, cap - n, &got, err);
    n += got;
    if (st != CALIB_OK || n > max) {
      calib__free(b);
      return st != CALIB_OK ? st : over_cap(err, max);
    }
    if (n < cap) break;
  }
  *buf = b;
  *len = n;
  return CALIB_OK;
}

/* A regular file of known size: one allocation of exactly that. */
static int read_regular(calib__file *f, size_t max, uint8_t **buf, size_t *len, calib_error *err) {
  if (f->size > (uint64_t)max) return over_cap(err, max);
  const size_t size = (size_t)f->size;
  uint8_t *b = (uint8_t *)calib__malloc(size ? size : 1);
  if (!b) return nomem(err);
  size_t got = 0;
  int st = calib__file_read_exact(f, b, size, &got, err);
  if (st == CALIB_OK && got == size) st = calib__file_expect_eof(f, size, err); /* grew meanwhile */
  if (st != CALIB_OK) {
    calib__free(b);
    return st;
  }
  *buf = b;
  *len = got;
  return CALIB_OK;
}

int calib__file_read_all(calib__file *f, size_t max, uint8_t **buf, size_t *len, calib_error *err) {
  return f->regular ? read_regular(f, max, buf, len, err) : read_stream(f, max, buf, len, err);
}

int calib__file_read(const char *path, size_t max, uint8_t **buf, size_t *len, calib_error *err) {
  calib__file f;
  int st = calib__file_open(&f, path, err);
  if (st != CALIB_OK) return st;
  st = calib__file_read_all(&f, max, buf, len, err);
  calib__file_close(&f);
  return st == CALIB_OK ? calib__error_ok(err) : st;
}

/* ---- Models ------------------------------------------------------------------------ */

int calib_model_save_file_ex(const calib_model *m, const char *path, calib_error *err) {
  if (!m || !path || !*path)
    return calib__error_set(err, CALIB_E_ARG, !m ? "model" : "path", !m ? "NULL" : "NULL or empty", UINT64_MAX, 0);
  const void *parts[1] = {m->bytes};
  return calib__file_write_atomic(path, parts, &m->nbytes, 1, err);
}

int calib_model_save_file(const calib_model *m, const char *path) {
  return calib_model_save_file_ex(m, path, NULL);
}

/* The payload after the 32 header bytes, into the model's own allocation. */
static int load_payload(calib__file *f, const uint8_t *hdr, uint64_t plen, calib_model **out, calib_error *err) {
  const size_t total = 32 + (size_t)plen; /* plen <= CALIB_MODEL_MAX_BYTES - 32: checked */
  calib_model *m = NULL;
  uint8_t *bytes = NULL;
  if (calib__model_alloc(&m, total, &bytes) != CALIB_OK)
    return calib__error_set(err, CALIB_E_NOMEM, "model file", "cannot allocate the model", UINT64_MAX, 0);
  memcpy(bytes, hdr, 32);
  size_t got = 0;
  int st = calib__file_read_exact(f, bytes + 32, total - 32, &got, err);
  if (st == CALIB_OK && got < total - 32) st = calib__model_check_length(plen, 32 + (uint64_t)got, err);
  if (st == CALIB_OK) st = calib__file_expect_eof(f, total, err);
  if (st == CALIB_OK) st = calib__model_parse(m, bytes, total, err);
  if (st != CALIB_OK) {
    calib__free(m->owned);
    return st;
  }
  *out = m;
  return CALIB_OK;
}

/* Header first: nothing is allocated for a file that is not a model. */
static int load_open(calib__file *f, calib_model **out, calib_error *err) {
  if (f->regular && f->size > (uint64_t)CALIB_MODEL_MAX_BYTES)
    return calib__error_set(err, CALIB_E_FORMAT, "model file",
                            "file is larger than the largest model (CALIB_MODEL_MAX_BYTES)",
                            (uint64_t)CALIB_MODEL_MAX_BYTES, 0);
  uint8_t hdr[32];
  size_t got = 0;
  uint64_t plen = 0;
  int st = calib__file_read_exact(f, hdr, sizeof hdr, &got, err);
  if (st == CALIB_OK) st = calib__model_check_header(hdr, got, &plen, err);
  if (st == CALIB_OK && f->regular) st = calib__model_check_length(plen, f->size, err);
  if (st == CALIB_OK) st = load_payload(f, hdr, plen, out, err);
  return st;
}

int calib_model_load_file_ex(calib_model **out, const char *path, calib_error *err) {
  if (!out || !path) return calib__error_set(err, CALIB_E_ARG, !out ? "out" : "path", "NULL", UINT64_MAX, 0);
  calib__file f;
  int st = calib__file_open(&f, path, err);
  if (st != CALIB_OK) return st;
  st = load_open(&f, out, err);
  calib__file_close(&f);
  return st == CALIB_OK ? calib__error_ok(err) : st;
}

int calib_model_load_file(calib_model **out, const char *path) {
  return calib_model_load_file_ex(out, path, NULL);
}
