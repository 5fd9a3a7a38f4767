/*
 * format.c -- the model byte format: serialise and parse/validate.
 *
 * A model is stored as a header followed by a payload. All integers are
 * unsigned little-endian, all reals IEEE-754 binary64 little-endian.
 *
 *   header (32 bytes)
 *     off  size  field
 *       0     8  magic: the ASCII bytes "CALIBMDL"
 *       8     4  u32 format version: 1 (parameters only) or 2 (parameters and
 *                metadata sections, below). The writer uses 1 for a model
 *                without provenance, 2 with. Readers accept every version
 *                <= their own (CALIB__FORMAT_VERSION = 2); a larger one is
 *                CALIB_E_FORMAT ("future version").
 *      12     4  u32 method id (CALIB_METHOD_*)
 *      16     8  u64 payload length P in bytes (a multiple of 8)
 *      24     4  u32 CRC-32 (zlib polynomial) of the P payload bytes
 *      28     4  u32 CRC-32 of header bytes 0..27 (catches a flipped method id
 *                or length, which the payload CRC cannot)
 *   payload (P bytes, starting at offset 32, so 8-byte aligned)
 *       0     8  u64 k: the number of classes the model was fitted on (1 = binary)
 *       8     4  u32 S: number of sections, 1..CALIB__MAX_SECTIONS (16),
 *                parameter and metadata sections together
 *      12     4  u32 reserved, must be 0
 *      16  16*S  section table, one 16-byte entry per section:
 *                  u32 tag   (unique within the model)
 *                  u32 type  1 = float64: count values of 8 bytes
 *                            2 = bytes (version 2, metadata tags only): count
 *                                bytes, then zero bytes up to a multiple of 8
 *                  u64 count (>= 1)
 *     ...        the sections' data, in table order, back to back: section s
 *                starts at payload offset 16 + 16*S + 8*(w_0 + ... + w_{s-1}),
 *                with w = count (float64) or ceil(count / 8) (bytes), so every
 *                section is 8-byte aligned when the buffer is.
 *   P must equal 16 + 16*S + 8*sum(w) exactly, and the whole model is
 *   exactly 32 + P bytes: trailing bytes are rejected. sum(w) is at most
 *   CALIB_MODEL_MAX_VALUES (metadata words included), so CALIB_MODEL_MAX_BYTES
 *   bounds both versions.
 *
 * Parameter sections: tags below CALIB__META_FIRST (the CALIB_MP_* ids),
 * type 1, at least one per model. Each method documents its sections next to
 * its apply code (tags, counts, value constraints) and validates them after
 * this generic parse; no method sees a metadata section (m->sec holds the
 * parameter sections only) and no parameter may be NaN.
 *
 * Metadata sections (version 2 only; a metadata tag in a version-1 model is
 * CALIB_E_FORMAT): tags in the reserved range CALIB__META_FIRST..LAST
 * (0x10000..0x1FFFF). They are CRC-covered like everything in the payload.
 * The firmware core (calib_model_init_static) checks only their place in the
 * table (type, extent, counted in the totals) and never reads their data;
 * the full library (model_meta.c) validates every rule below at load, so
 * a model that loads has sound metadata. kc = k, or 2 when k == 1.
 *   tag      type   count  contents
 *   0x10001  f64    8      INFO, required in version 2: created_unix (an
 *                          integer in [0, 2^53]; 0 = unknown), n (rows of the fit
 *                          set, an integer in [0, 2^53]; 0 = unknown), then NLL,
 *                          ECE, Brier before calibration and NLL, ECE, Brier after:
 *                          each NaN (unknown) or NLL in [0, +inf], ECE in [0, 1],
 *                          Brier in [0, kc] (kc: probability inputs whose
 *                          rows do not sum to 1 can exceed 2 before calibration)
 *   0x10002  f64    kc     PRIOR: class prior of the fit labels, each in [0, 1],
 *                          summing to 1 within 1e-6
 *   0x10003  f64    20     CONF_HIST: counts of the calibrated top-label
 *                          confidence in CALIB_REF_CONF_BINS equal-width bins
 *                          (calib_bin_index), integers >= 0 summing to n
 *   0x10004  f64    kc     CLASS_HIST: counts of the predicted class, integers
 *                          >= 0 summing to n
 *   0x10005  bytes  1..255 TAG: UTF-8 (RFC 3629, no NUL), zero padding
 * PRIOR, CONF_HIST and CLASS_HIST (the fit-time reference) are present
 * together or not at all; with them n >= 1, without them n = 0. Any other
 * metadata tag, a repeated one, a wrong type or count is CALIB_E_FORMAT.
 * The writer puts the parameter sections first, then INFO, PRIOR, CONF_HIST,
 * CLASS_HIST, TAG; readers take any order.
 *
 * Growing the format: a new method adds a method id and its tags; a new
 * section type or header field bumps the format version, and the parser keeps
 * reading every older version (golden files in test/golden/ enforce it:
 * *_v1.calib and temperature_k10_v2.calib).
 */
#include "internal.h"
#include "checked.h"
#include <math.h>

#define CALIB__FORMAT_VERSION CALIB__FORMAT_V2
#define HEADER_SIZE 32u
#define SECTION_ENTRY 16u
#define TYPE_F64 1u
#define TYPE_BYTES 2u

static const uint8_t calib_magic[8] = {'C', 'A', 'L', 'I', 'B', 'M', 'D', 'L'};

/* A section to write: float64 values (f) or bytes (b, type 2). */
typedef struct {
  uint32_t tag, type;
  size_t count;
  const double *f;
  const uint8_t *b;
} wsec;

static size_t sec_words(uint32_t type, uint64_t count) {
  return type == TYPE_BYTES ? (size_t)(count / 8 + (count % 8 != 0)) : (size_t)count;
}

/* Size in bytes of the serialised model, or 0 when it is over the format's
 * limits (k, total values: calib.h's CALIB_MODEL_MAX_*), which also rules out
 * overflow. */
static size_t model_bytes_size(size_t k, const wsec *secs, size_t nsecs) {
  size_t values = 0;
  if (k == 0 || k > CALIB_MODEL_MAX_K) return 0;
  for (size_t s = 0; s < nsecs; s++)
    if (!calib__size_add(values, sec_words(secs[s].type, secs[s].count), &values) ||
        values > CALIB_MODEL_MAX_VALUES)
      return 0;
  return HEADER_SIZE + 16 + SECTION_ENTRY * nsecs + 8 * values;
}

/* Writes the model bytes into out (size from model_bytes_size). */
static void model_bytes_write(uint8_t *out, uint32_t version, int method, size_t k,
                              const wsec *secs, size_t nsecs, size_t total) {
  const size_t plen = total - HEADER_SIZE;
  uint8_t *pl = out + HEADER_SIZE;
  calib__put_u64(pl, (uint64_t)k);
  calib__put_u32(pl + 8, (uint32_t)nsecs);
  calib__put_u32(pl + 12, 0);
  uint8_t *data = pl + 16 + SECTION_ENTRY * nsecs;
  for (size_t s = 0; s < nsecs; s++) {
    uint8_t *e = pl + 16 + SECTION_ENTRY * s;
    calib__put_u32(e, secs[s].tag);
    calib__put_u32(e + 4, secs[s].type);
    calib__put_u64(e + 8, (uint64_t)secs[s].count);
    if (secs[s].type == TYPE_BYTES) {
      const size_t w = 8 * sec_words(TYPE_BYTES, secs[s].count);
      memcpy(data, secs[s].b, secs[s].count);
      memset(data + secs[s].count, 0, w - secs[s].count);
      data += w;
    } else {
      for (size_t i = 0; i < secs[s].count; i++, data += 8) calib__put_f64(data, secs[s].f[i]);
    }
  }
  memcpy(out, calib_magic, 8);
  calib__put_u32(out + 8, version);
  calib__put_u32(out + 12, (uint32_t)method);
  calib__put_u64(out + 16, (uint64_t)plen);
  calib__put_u32(out + 24, calib__crc32(pl, plen));
  calib__put_u32(out + 28, calib__crc32(out, 28));
}

/* ---- Validation ----------------------------------------------------------------
 * Every check reports itself through calib__error_set: the structure at fault
 * ("model header", "model payload", "model section table", "model
 * parameters"), the check in words (with the expected value where it is a
 * constant), and the byte offset of the field, so `calib info` and the Python
 * binding can say what is wrong with a file. */
/* The firmware core keeps the structure and offset of a failed check but not
 * its text (about 1.5 KB of flash; calib_model_init_static has no err). */
#ifdef CALIB_CORE
#define WHY(text) ""
#else
#define WHY(text) text
#endif
#define HDR "model header"
#define PAY "model payload"
#define TAB "model section table"

static int bad(calib_error *err, const char *arg, const char *check, uint64_t at) {
  return calib__error_set(err, CALIB_E_FORMAT, arg, check, at, 0);
}

int calib__model_check_header(const uint8_t *hdr, size_t avail, uint64_t *plen, calib_error *err) {
  const size_t m = avail < 8 ? avail : 8;
  if (memcmp(hdr, calib_magic, m) != 0)
    return bad(err, HDR, WHY("magic is not \"CALIBMDL\" (not a libcalib model)"), 0);
  if (avail < HEADER_SIZE) return bad(err, HDR, WHY("truncated: shorter than the 32-byte header"), UINT64_MAX);
  if (calib__get_u32(hdr + 28) != calib__crc32(hdr, 28))
    return bad(err, HDR, WHY("header CRC-32 does not match (corrupted header)"), 28);
  const uint32_t version = calib__get_u32(hdr + 8);
  if (version == 0) return bad(err, HDR, WHY("format version 0 is invalid"), 8);
  if (version > CALIB__FORMAT_VERSION)
    return bad(err, HDR, WHY("format version is newer than this library reads (future version)"), 8);
  if (!calib__method_get((int)calib__get_u32(hdr + 12)))
    return bad(err, HDR, WHY("unknown method id"), 12);
  const uint64_t p = calib__get_u64(hdr + 16);
  if (p % 8 != 0) return bad(err, HDR, WHY("payload length is not a multiple of 8"), 16);
  if (p < 16) return bad(err, HDR, WHY("payload length is below the 16-byte minimum"), 16);
  if (p > (uint64_t)(CALIB_MODEL_MAX_BYTES - HEADER_SIZE))
    return bad(err, HDR, WHY("payload length exceeds the format maximum (CALIB_MODEL_MAX_BYTES)"), 16);
  *plen = p;
  return CALIB_OK;
}

int calib__model_check_length(uint64_t plen, uint64_t total, calib_error *err) {
  if (total < HEADER_SIZE || total - HEADER_SIZE < plen) return bad(err, PAY, WHY("truncated: fewer bytes than the header's payload length"), total);
  if (total - HEADER_SIZE > plen)
    return bad(err, PAY, WHY("trailing bytes after the payload length given in the header"), HEADER_SIZE + plen);
  return CALIB_OK;
}

/* One section table entry s (payload offset `off` of its data so far). A
 * parameter section goes into m->sec[m->nsections++]; a metadata section
 * (version 2) is only accounted for: its data are model_meta.c's business. */
static int parse_section(calib_model *m, size_t s, const uint8_t *pl, uint64_t plen, uint32_t version,
                         uint64_t *off, uint64_t *values, calib_error *err) {
  const uint8_t *e = pl + 16 + SECTION_ENTRY * s;
  const uint64_t at = HEADER_SIZE + 16 + SECTION_ENTRY * (uint64_t)s;
  const uint32_t tag = calib__get_u32(e), type = calib__get_u32(e + 4);
  const uint64_t count = calib__get_u64(e + 8);
  const int meta = tag >= CALIB__META_FIRST && tag <= CALIB__META_LAST;
  if (meta && version < CALIB__FORMAT_V2)
    return bad(err, TAB, WHY("metadata section tag in a version-1 model"), at);
  if (!meta && type != TYPE_F64) return bad(err, TAB, WHY("section type is not 1 (float64)"), at + 4);
  if (meta && type != TYPE_F64 && type != TYPE_BYTES)
    return bad(err, TAB, WHY("metadata section type is not 1 (float64) or 2 (bytes)"), at + 4);
  if (count == 0) return bad(err, TAB, WHY("section count is 0"), at + 8);
  const uint64_t words = type == TYPE_BYTES ? count / 8 + (count % 8 != 0) : count;
  if (words > (plen - *off) / 8) return bad(err, TAB, WHY("section data run past the end of the payload"), at + 8);
  *values += words;
  if (*values > CALIB_MODEL_MAX_VALUES)
    return bad(err, TAB, WHY("more parameter values than the format maximum (CALIB_MODEL_MAX_VALUES)"), at + 8);
  if (!meta) {
    for (size_t t = 0; t < m->nsections; t++)
      if (m->sec[t].tag == tag) return bad(err, TAB, WHY("section tag appears twice"), at);
    calib__section *sec = &m->sec[m->nsections++];
    sec->tag = tag;
    sec->count = (size_t)count;
    sec->data = (const double *)(const void *)(pl + *off);
  }
  *off += 8 * words;
  return CALIB_OK;
}

/* The payload: k, the section table and the arrays' extent. */
static int parse_payload(calib_model *m, const uint8_t *pl, uint64_t plen, uint32_t version, calib_error *err) {
  const uint64_t k = calib__get_u64(pl);
  const uint32_t nsec = calib__get_u32(pl + 8);
  if (k == 0) return bad(err, PAY, WHY("k (number of classes) is 0"), HEADER_SIZE);
  if (k > CALIB_MODEL_MAX_K) return bad(err, PAY, WHY("k exceeds the format maximum (CALIB_MODEL_MAX_K)"), HEADER_SIZE);
  if (nsec == 0) return bad(err, PAY, WHY("section count is 0"), HEADER_SIZE + 8);
  if (nsec > CALIB__MAX_SECTIONS) return bad(err, PAY, WHY("section count exceeds 16"), HEADER_SIZE + 8);
  if (calib__get_u32(pl + 12) != 0) return bad(err, PAY, WHY("reserved field is not 0"), HEADER_SIZE + 12);
  if ((uint64_t)16 + (uint64_t)SECTION_ENTRY * nsec > plen)
    return bad(err, TAB, WHY("section table runs past the end of the payload"), HEADER_SIZE + 16);
  uint64_t off = 16 + (uint64_t)SECTION_ENTRY * nsec, values = 0;
  m->nsections = 0;
  for (uint32_t s = 0; s < nsec; s++) {
    const int st = parse_section(m, s, pl, plen, version, &off, &values, err);
    if (st != CALIB_OK) return st;
  }
  if (off != plen) return bad(err, TAB, WHY("sections do not fill the payload exactly (unused bytes)"), HEADER_SIZE + off);
  if (m->nsections == 0) return bad(err, TAB, WHY("no parameter section (metadata only)"), HEADER_SIZE + 8);
  m->k = (size_t)k;
  return CALIB_OK;
}

/* Generic validation of the header and section table; fills m. buf must be
 * 8-byte aligned on a little-endian host (data are referenced in place). */
static int parse_generic(calib_model *m, const uint8_t *buf, size_t len, calib_error *err) {
  uint64_t plen = 0;
  int st = calib__model_check_header(buf, len, &plen, err);
  if (st == CALIB_OK) st = calib__model_check_length(plen, len, err);
  if (st != CALIB_OK) return st;
  const uint8_t *pl = buf + HEADER_SIZE;
  if (calib__get_u32(buf + 24) != calib__crc32(pl, (size_t)plen))
    return bad(err, PAY, WHY("payload CRC-32 does not match (corrupted payload)"), 24);
  if ((st = parse_payload(m, pl, plen, calib__get_u32(buf + 8), err)) != CALIB_OK) return st;
  m->method = (int)calib__get_u32(buf + 12);
  m->bytes = buf;
  m->nbytes = len;
  return CALIB_OK;
}

/* The first NaN among the parameter values, as an error. */
static int check_nan(const calib_model *m, calib_error *err) {
  for (size_t s = 0; s < m->nsections; s++)
    for (size_t i = 0; i < m->sec[s].count; i++)
      if (isnan(m->sec[s].data[i]))
        return bad(err, "model parameters", WHY("a parameter value is NaN"),
                   (uint64_t)((const uint8_t *)(m->sec[s].data + i) - m->bytes));
  return CALIB_OK;
}

int calib__model_parse(calib_model *m, const uint8_t *buf, size_t len, calib_error *err) {
  if (!calib__host_is_le() || ((uintptr_t)buf & 7u) != 0)
    return calib__error_set(err, CALIB_E_UNSUPPORTED, "model bytes",
                            WHY("big-endian host or misaligned buffer (the arrays are read in place)"), UINT64_MAX, 0);
  calib_model tmp;
  memset(&tmp, 0, sizeof tmp);
  int st = parse_generic(&tmp, buf, len, err);
  if (st == CALIB_OK) st = check_nan(&tmp, err);
#ifndef CALIB_CORE /* the firmware never reads metadata: it only skipped the sections */
  if (st == CALIB_OK && calib__get_u32(buf + 8) >= CALIB__FORMAT_V2) st = calib__model_meta_validate(&tmp, err);
#endif
  if (st != CALIB_OK) return st;
  const calib__method *meth = calib__method_get(tmp.method);
  if (!meth->validate || !meth->apply)
    return calib__error_set(err, CALIB_E_UNSUPPORTED, meth->name, WHY("method not built into this library"), 12, 0);
  st = meth->validate(&tmp);
  if (st != CALIB_OK)
    return calib__error_set(err, st, meth->name,
                            WHY("parameters rejected by the method's validation (counts or values out of range)"),
                            UINT64_MAX, 0);
  tmp.owned = m->owned;
  *m = tmp;
#ifndef CALIB_CORE /* the firmware's models are by reference: nothing to attach */
  if (m->owned && calib__model_attach_f32(m) != CALIB_OK)
    return calib__error_set(err, CALIB_E_NOMEM, "model", WHY("cannot allocate the float32 copy of W"), UINT64_MAX, 0);
  if (m->owned && calib__model_attach_iso(m) != CALIB_OK)
    return calib__error_set(err, CALIB_E_NOMEM, "model", WHY("cannot allocate the isotonic search index"), UINT64_MAX, 0);
  if (m->owned && calib__model_attach_beta(m) != CALIB_OK)
    return calib__error_set(err, CALIB_E_NOMEM, "model", WHY("cannot allocate the planar beta parameters"), UINT64_MAX, 0);
#endif
  return calib__error_ok(err);
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

/* Serialises parameter sections (and meta, when not NULL) and parses the
 * result back through the loader's validator. */
static int build(calib_model **out, int method, size_t k, const calib__section *secs, size_t nsecs,
                 const calib__model_meta *meta) {
  if (nsecs == 0 || nsecs > CALIB__MAX_SECTIONS) return CALIB_E_ARG;
  wsec ws[CALIB__MAX_SECTIONS];
  size_t nw = 0;
  for (size_t s = 0; s < nsecs; s++, nw++) {
    ws[nw].tag = secs[s].tag, ws[nw].type = TYPE_F64, ws[nw].count = secs[s].count;
    ws[nw].f = secs[s].data, ws[nw].b = NULL;
  }
  if (meta) {
    const size_t kc = k == 1 ? 2 : k;
    const wsec add[5] = {
        {CALIB__META_INFO, TYPE_F64, CALIB__META_INFO_COUNT, meta->info, NULL},
        {CALIB__META_PRIOR, TYPE_F64, kc, meta->prior, NULL},
        {CALIB__META_CONF_HIST, TYPE_F64, CALIB_REF_CONF_BINS, meta->conf_hist, NULL},
        {CALIB__META_CLASS_HIST, TYPE_F64, kc, meta->class_hist, NULL},
        {CALIB__META_TAG, TYPE_BYTES, meta->tag_len, NULL, (const uint8_t *)meta->tag}};
    for (size_t a = 0; a < 5; a++) {
      if ((a >= 1 && a <= 3 && !meta->prior) || (a == 4 && meta->tag_len == 0)) continue;
      if (nw == CALIB__MAX_SECTIONS) return CALIB_E_UNSUPPORTED;
      ws[nw++] = add[a];
    }
  }
  const size_t total = model_bytes_size(k, ws, nw);
  if (total == 0) return CALIB_E_UNSUPPORTED; /* over CALIB_MODEL_MAX_K / _VALUES */
  calib_model *m;
  uint8_t *bytes;
  int st = calib__model_alloc(&m, total, &bytes);
  if (st != CALIB_OK) return st;
  model_bytes_write(bytes, meta ? CALIB__FORMAT_V2 : CALIB__FORMAT_V1, method, k, ws, nw, total);
  st = calib__model_parse(m, bytes, total, NULL);
  if (st != CALIB_OK) {
    calib__free(m->owned);
    return st; /* CALIB_E_FORMAT: the validator rejects these parameters */
  }
  *out = m;
  return CALIB_OK;
}

int calib__model_build(calib_model **out, int method, size_t k,
                       const calib__section *secs, size_t nsecs) {
  return build(out, method, k, secs, nsecs, NULL);
}

#ifndef CALIB_CORE
int calib__model_build_meta(calib_model **out, int method, size_t k, const calib__section *secs,
                            size_t nsecs, const calib__model_meta *meta) {
  if (meta && calib__model_meta_check(k, meta) != CALIB_OK) return CALIB_E_ARG;
  return build(out, method, k, secs, nsecs, meta);
}
#endif
