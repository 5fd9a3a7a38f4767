/* registry.c -- --registry DIR: the models the service holds, on disk, so a
 * restart resumes the current version and the rollback history.
 *
 * Layout:
 *   DIR/models/v<N>.calib   the exact bytes installed as public version N
 *                           (validated before they are written; never
 *                           rewritten). Files of versions that left the
 *                           history are deleted once CURRENT no longer
 *                           names them.
 *   DIR/CURRENT             the pointer, four text lines:
 *                             calib-serve-registry 1
 *                             current N
 *                             history A B C      (oldest first; may be empty)
 *                             next M             (the next version to give)
 * A restart installs the history oldest first, then the current model; with
 * a smaller --history than the registry was written with, the oldest
 * versions fall out of the slot as they would have (and out of CURRENT at
 * the next write).
 * Every write is atomic: a temporary file in the same directory, fsync,
 * rename over the target (src/io's calib__io_write_atomic, the library's
 * one atomic writer), then fsync of the directory so the rename itself is
 * durable. A model file is written (and synced) before the CURRENT that
 * names it, so CURRENT never points at a missing or torn model. A crash
 * between the two leaves an unnamed model file, deleted by the next prune.
 */
#include "serve.h"
#include "npy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char reg_dir[3072];

static int fsync_dir(const char *dir, char *msg, size_t cap) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return snprintf(msg, cap, "registry: cannot open %s: %s", dir, strerror(errno)), -1;
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc) return snprintf(msg, cap, "registry: fsync %s: %s", dir, strerror(e)), -1;
  return 0;
}

static int write_file(const char *dir, const char *name, const void *buf, size_t len, char *msg, size_t cap) {
  char path[4096], e[CALIB__NPY_ERRLEN];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  const void *parts[1] = {buf};
  const size_t lens[1] = {len};
  if (calib__io_write_atomic(path, parts, lens, 1, e, sizeof e) != CALIB_OK)
    return snprintf(msg, cap, "registry: cannot write %s: %s", path, e), -1;
  return fsync_dir(dir, msg, cap);
}

int registry_open(const char *dir, char *msg, size_t cap) {
  if (strlen(dir) + 64 > sizeof reg_dir)
    return snprintf(msg, cap, "registry: directory name too long"), -1;
  snprintf(reg_dir, sizeof reg_dir, "%s", dir);
  char models[4096];
  snprintf(models, sizeof models, "%s/models", dir);
  if (mkdir(dir, 0777) && errno != EEXIST)
    return snprintf(msg, cap, "registry: cannot create %s: %s", dir, strerror(errno)), -1;
  if (mkdir(models, 0777) && errno != EEXIST)
    return snprintf(msg, cap, "registry: cannot create %s: %s", models, strerror(errno)), -1;
  struct stat st;
  if (stat(models, &st) || !S_ISDIR(st.st_mode))
    return snprintf(msg, cap, "registry: %s is not a directory", models), -1;
  return 0;
}

int registry_store_model(uint64_t pub, const void *buf, size_t len, char *msg, size_t cap) {
  char models[4096], name[64];
  snprintf(models, sizeof models, "%s/models", reg_dir);
  snprintf(name, sizeof name, "v%llu.calib", (unsigned long long)pub);
  return write_file(models, name, buf, len, msg, cap);
}

int registry_write_current(char *msg, size_t cap) {
  sbuf b = {0};
  sb_str(&b, "calib-serve-registry 1\n");
  sb_printf(&b, "current %llu\nhistory", (unsigned long long)S.held_pv[S.nheld - 1]);
  for (size_t i = 0; i + 1 < S.nheld; i++) sb_printf(&b, " %llu", (unsigned long long)S.held_pv[i]);
  sb_printf(&b, "\nnext %llu\n", (unsigned long long)S.next_pub);
  if (b.oom) {
    sb_free(&b);
    return snprintf(msg, cap, "registry: out of memory"), -1;
  }
  const int rc = write_file(reg_dir, "CURRENT", b.p, b.len, msg, cap);
  sb_free(&b);
  return rc;
}

void registry_prune(void) {
  char models[4096];
  snprintf(models, sizeof models, "%s/models", reg_dir);
  DIR *d = opendir(models);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    unsigned long long v;
    char tail[16];
    if (sscanf(de->d_name, "v%llu.calib%15s", &v, tail) != 1) continue; /* temporaries, others */
    int held = 0;
    for (size_t i = 0; i < S.nheld; i++) held |= S.held_pv[i] == v;
    if (v >= S.next_pub) held = 1; /* being written by this writer: not ours to delete */
    if (!held) {
      char path[4096 + 300];
      snprintf(path, sizeof path, "%s/%s", models, de->d_name);
      unlink(path);
    }
  }
  closedir(d);
}

/* Parses CURRENT: "calib-serve-registry 1", "current N", "history ...", "next M". */
static int parse_current(const char *text, uint64_t *hist, size_t *nhist, uint64_t *cur, uint64_t *next,
                         char *msg, size_t cap) {
  const char *p = text;
  unsigned long long v;
  int used = 0;
  if (sscanf(p, "calib-serve-registry 1\ncurrent %llu\nhistory%n", &v, &used) != 1 || used == 0)
    return snprintf(msg, cap, "registry: CURRENT is not a calib-serve-registry 1 pointer"), -1;
  *cur = v;
  p += used;
  *nhist = 0;
  for (;;) {
    int n = 0;
    if (sscanf(p, " %llu%n", &v, &n) != 1 || p[0] != ' ') break;
    if (*nhist >= CALIB_SLOT_HISTORY_MAX)
      return snprintf(msg, cap, "registry: CURRENT holds more than %d history versions", CALIB_SLOT_HISTORY_MAX), -1;
    hist[(*nhist)++] = v;
    p += n;
  }
  if (sscanf(p, "\nnext %llu%n", &v, &used) != 1)
    return snprintf(msg, cap, "registry: CURRENT has no 'next' line"), -1;
  *next = v;
  if (*next <= *cur) return snprintf(msg, cap, "registry: CURRENT's next %llu <= current", v), -1;
  for (size_t i = 0; i < *nhist; i++)
    if (hist[i] >= *next) return snprintf(msg, cap, "registry: a history version >= next"), -1;
  return 0;
}

int registry_load(int *found, char *msg, size_t cap) {
  char path[4096], e[CALIB__NPY_ERRLEN];
  snprintf(path, sizeof path, "%s/CURRENT", reg_dir);
  *found = 0;
  if (access(path, F_OK) != 0) return 0;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (calib__io_read_file(path, 4096, &buf, &len, e, sizeof e) != CALIB_OK)
    return snprintf(msg, cap, "registry: cannot read %s: %s", path, e), -1;
  char text[4097];
  memcpy(text, buf, len);
  text[len] = '\0';
  free(buf);
  uint64_t hist[CALIB_SLOT_HISTORY_MAX], cur, next;
  size_t nhist;
  if (parse_current(text, hist, &nhist, &cur, &next, msg, cap)) return -1;
  for (size_t i = 0; i <= nhist; i++) {
    const uint64_t v = i < nhist ? hist[i] : cur;
    char mp[4200];
    snprintf(mp, sizeof mp, "%s/models/v%llu.calib", reg_dir, (unsigned long long)v);
    calib_model *m = NULL;
    calib_error err;
    if (calib_model_load_file_ex(&m, mp, &err) != CALIB_OK)
      return snprintf(msg, cap, "registry: %s: %s", mp, err.message), -1;
    if (state_install_model(m, v, msg, cap)) {
      calib_model_free(m);
      return -1;
    }
  }
  S.next_pub = next;
  *found = 1;
  return 0;
}
