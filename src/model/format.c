/*
 * format.c -- the model byte format: serialise and parse/validate.
 *
 * A model is stored as a header followed by a payload. All integers are
 * unsigned little-endian, all reals IEEE-754 binary64 little-endian.
 *
 *   header (32 bytes)
 *     off  size  field
 *       0     8  magic: the ASCII bytes "CALIBMDL"
 *       8     4  u32 format version (CALIB__FORMAT_VERSION, currently 1).
 *                Readers accept every version <= their own; a larger one is
 *                CALIB_E_FORMAT ("future version").
 *      12     4  u32 method id (CALIB_METHOD_*)
 *      16     8  u64 payload length P in bytes (a multiple of 8)
 *      24     4  u32 CRC-32 (zlib polynomial) of the P payload bytes
 *      28     4  u32 CRC-32 of header bytes 0..27 (catches a flipped method id
 *                or length, which the payload CRC cannot)
 *   payload (P bytes, starting at offset 32, so 8-byte aligned)
 *       0     8  u64 k: the number of classes the model was fitted on (1 = binary)
 *       8     4  u32 S: number of parameter arrays (sections), 1..CALIB__MAX_SECTIONS
 *      12     4  u32 reserved, must be 0
 *      16  16*S  section table, one 16-byte entry per array:
 *                  u32 tag   (CALIB_MP_*; unique within the model)
 *                  u32 type  (1 = float64; the only type in version 1)
 *                  u64 count (number of values, >= 1)
 *     ...        the arrays' data, in table order, back to back: section s
 *                starts at payload offset 16 + 16*S + 8*(count_0 + ... + count_{s-1}),
 *                so every array is 8-byte aligned when the buffer is.
 *   P must equal 16 + 16*S + 8*sum(count) exactly, and the whole model is
 *   exactly 32 + P bytes: trailing bytes are rejected.
 *
 * Each method documents its sections next to its apply code (tags, counts,
 * value constraints) and validates them after this generic parse.
 * Growing the format: a new method adds a method id and its tags; a new
 * section type or header field bumps the format version, and the parser keeps
 * reading every older version (golden files in test/golden/ enforce it).
 */
#include "internal.h"
#include <math.h>

#define CALIB__FORMAT_VERSION 1u
#define HEADER_SIZE 32u
#define SECTION_ENTRY 16u
#define TYPE_F64 1u

static const uint8_t calib_magic[8] = {'C', 'A', 'L', 'I', 'B', 'M', 'D', 'L'};

/* Size in bytes of the serialised model, or 0 on overflow. */
static size_t model_bytes_size(const calib__section *secs, size_t nsecs) {
  size_t total = HEADER_SIZE + 16 + SECTION_ENTRY * nsecs;
  for (size_t s = 0; s < nsecs; s++) {
    if (secs[s].count > ((size_t)-1 - total) / 8) return 0;
    total += 8 * secs[s].count;
  }
  return total;
}

/* Writes the model bytes into out (size from model_bytes_size). */
static void model_bytes_write(uint8_t *out, int method, size_t k,
                              const calib__section *secs, size_t nsecs,
                              size_t total) {
  const size_t plen = total - HEADER_SIZE;
  uint8_t *pl = out + HEADER_SIZE;
  calib__put_u64(pl, (uint64_t)k);
  calib__put_u32(pl + 8, (uint32_t)nsecs);
  calib__put_u32(pl + 12, 0);
  uint8_t *data = pl + 16 + SECTION_ENTRY * nsecs;
  for (size_t s = 0; s < nsecs; s++) {
    uint8_t *e = pl + 16 + SECTION_ENTRY * s;
    calib__put_u32(e, secs[s].tag);
    calib__put_u32(e + 4, TYPE_F64);
    calib__put_u64(e + 8, (uint64_t)secs[s].count);
    for (size_t i = 0; i < secs[s].count; i++, data += 8)
      calib__put_f64(data, secs[s].data[i]);
  }
  memcpy(out, calib_magic, 8);
  calib__put_u32(out + 8, CALIB__FORMAT_VERSION);
  calib__put_u32(out + 12, (uint32_t)method);
  calib__put_u64(out + 16, (uint64_t)plen);
  calib__put_u32(out + 24, calib__crc32(pl, plen));
  calib__put_u32(out + 28, calib__crc32(out, 28));
}

/* Generic validation of the header and section table; fills m. buf must be
 * 8-byte aligned on a little-endian host (data are referenced in place). */
static int parse_generic(calib_model *m, const uint8_t *buf, size_t len) {
  if (len < HEADER_SIZE + 16) return CALIB_E_FORMAT;
  if (memcmp(buf, calib_magic, 8) != 0) return CALIB_E_FORMAT;
  if (calib__get_u32(buf + 28) != calib__crc32(buf, 28)) return CALIB_E_FORMAT;
  const uint32_t version = calib__get_u32(buf + 8);
  if (version == 0 || version > CALIB__FORMAT_VERSION) return CALIB_E_FORMAT;
  const uint64_t plen = calib__get_u64(buf + 16);
  if (plen != (uint64_t)(len - HEADER_SIZE) || plen % 8 != 0) return CALIB_E_FORMAT;
  const uint8_t *pl = buf + HEADER_SIZE;
  if (calib__get_u32(buf + 24) != calib__crc32(pl, (size_t)plen)) return CALIB_E_FORMAT;

  const uint64_t k = calib__get_u64(pl);
  const uint32_t nsec = calib__get_u32(pl + 8);
  if (k == 0 || k > (uint64_t)((size_t)-1 / 16)) return CALIB_E_FORMAT;
  if (nsec == 0 || nsec > CALIB__MAX_SECTIONS) return CALIB_E_FORMAT;
  if (calib__get_u32(pl + 12) != 0) return CALIB_E_FORMAT;
  if ((uint64_t)16 + (uint64_t)SECTION_ENTRY * nsec > plen) return CALIB_E_FORMAT;

  uint64_t off = 16 + (uint64_t)SECTION_ENTRY * nsec;
  for (uint32_t s = 0; s < nsec; s++) {
    const uint8_t *e = pl + 16 + SECTION_ENTRY * s;
    const uint32_t tag = calib__get_u32(e);
    const uint64_t count = calib__get_u64(e + 8);
    if (calib__get_u32(e + 4) != TYPE_F64) return CALIB_E_FORMAT;
    if (count == 0 || count > (plen - off) / 8) return CALIB_E_FORMAT;
    for (uint32_t t = 0; t < s; t++)
      if (m->sec[t].tag == tag) return CALIB_E_FORMAT;
    m->sec[s].tag = tag;
    m->sec[s].count = (size_t)count;
    m->sec[s].data = (const double *)(const void *)(pl + off);
    off += 8 * count;
  }
  if (off != plen) return CALIB_E_FORMAT;
  m->method = (int)calib__get_u32(buf + 12);
  m->k = (size_t)k;
  m->nsections = nsec;
  m->bytes = buf;
  m->nbytes = len;
  return CALIB_OK;
}

int calib__model_parse(calib_model *m, const uint8_t *buf, size_t len) {
  if (!calib__host_is_le() || ((uintptr_t)buf & 7u) != 0) return CALIB_E_UNSUPPORTED;
  calib_model tmp;
  memset(&tmp, 0, sizeof tmp);
  int st = parse_generic(&tmp, buf, len);
  if (st != CALIB_OK) return st;
  for (size_t s = 0; s < tmp.nsections; s++)
    for (size_t i = 0; i < tmp.sec[s].count; i++)
      if (isnan(tmp.sec[s].data[i])) return CALIB_E_FORMAT;
  const calib__method *meth = calib__method_get(tmp.method);
  if (!meth) return CALIB_E_FORMAT;
  if (!meth->validate || !meth->apply) return CALIB_E_UNSUPPORTED;
  st = meth->validate(&tmp);
  if (st != CALIB_OK) return st;
  tmp.owned = m->owned;
  *m = tmp;
  return CALIB_OK;
}

/* One allocation holds the struct and the bytes (8-aligned after it). */
#define MODEL_HEAD ((sizeof(calib_model) + 15u) & ~(size_t)15u)

int calib__model_alloc(calib_model **out, size_t nbytes, uint8_t **bytes) {
  if (nbytes > (size_t)-1 - MODEL_HEAD) return CALIB_E_NOMEM;
  uint8_t *block = (uint8_t *)calib__malloc(MODEL_HEAD + nbytes);
  if (!block) return CALIB_E_NOMEM;
  calib_model *m = (calib_model *)(void *)block;
  memset(m, 0, sizeof *m);
  m->owned = block;
  *bytes = block + MODEL_HEAD;
  *out = m;
  return CALIB_OK;
}

int calib__model_build(calib_model **out, int method, size_t k,
                       const calib__section *secs, size_t nsecs) {
  if (nsecs == 0 || nsecs > CALIB__MAX_SECTIONS) return CALIB_E_ARG;
  const size_t total = model_bytes_size(secs, nsecs);
  if (total == 0) return CALIB_E_NOMEM;
  calib_model *m;
  uint8_t *bytes;
  int st = calib__model_alloc(&m, total, &bytes);
  if (st != CALIB_OK) return st;
  model_bytes_write(bytes, method, k, secs, nsecs, total);
  st = calib__model_parse(m, bytes, total);
  if (st != CALIB_OK) {
    calib__free(m->owned);
    return st == CALIB_E_FORMAT ? CALIB_E_NONFINITE : st;
  }
  *out = m;
  return CALIB_OK;
}
