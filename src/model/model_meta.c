/* model_meta.c -- a model's provenance (format version 2 metadata): the
 * validation of the metadata sections at load, the raw view of them, building
 * a copy with other metadata, and calib_model_info_get. The layout and every
 * rule are in the comment at the top of format.c.
 *
 * Not part of the firmware core: the core loader skips metadata sections
 * without reading them (format.c), so this file compiles to nothing there. */
#include "internal.h"

#ifdef CALIB_CORE
typedef int calib__model_meta_not_in_core; /* ISO C: no empty translation unit */
#else

#include "checked.h"
#include <math.h>

#define TAB "model section table"
#define META "model metadata"
#define HEADER_SIZE 32u
#define TYPE_F64 1u
#define TYPE_BYTES 2u
#define TWO53 9007199254740992.0

static int bad(calib_error *err, const char *arg, const char *check, uint64_t at) {
  return calib__error_set(err, CALIB_E_FORMAT, arg, check, at, 0);
}

int calib__utf8_valid(const char *str, size_t len) {
  const uint8_t *s = (const uint8_t *)str;
  size_t i = 0;
  while (i < len) {
    const uint8_t c = s[i];
    size_t extra;
    uint32_t cp, min;
    if (c == 0) return 0;
    if (c < 0x80) { i++; continue; }
    if (c >= 0xC2 && c <= 0xDF) extra = 1, cp = c & 0x1Fu, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) extra = 2, cp = c & 0x0Fu, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) extra = 3, cp = c & 0x07u, min = 0x10000;
    else return 0; /* continuation byte, overlong lead C0/C1, or F5..FF */
    if (len - i - 1 < extra) return 0;
    for (size_t j = 1; j <= extra; j++) {
      if ((s[i + j] & 0xC0u) != 0x80u) return 0;
      cp = (cp << 6) | (s[i + j] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu)) return 0;
    i += extra + 1;
  }
  return 1;
}

size_t calib__tag_check(const char *tag) {
  if (!tag) return 0;
  size_t len = 0;
  while (len <= CALIB_MODEL_TAG_MAX && tag[len]) len++;
  if (len > CALIB_MODEL_TAG_MAX || !calib__utf8_valid(tag, len)) return (size_t)-1;
  return len;
}

int calib__model_find_section(const calib_model *m, uint32_t tag, uint64_t *count, const uint8_t **data) {
  const uint8_t *pl = m->bytes + HEADER_SIZE;
  const uint32_t nsec = calib__get_u32(pl + 8);
  uint64_t off = 16 + 16 * (uint64_t)nsec;
  for (uint32_t s = 0; s < nsec; s++) {
    const uint8_t *e = pl + 16 + 16 * (uint64_t)s;
    const uint64_t c = calib__get_u64(e + 8);
    if (calib__get_u32(e) == tag) {
      *count = c;
      *data = pl + off;
      return 1;
    }
    off += 8 * (calib__get_u32(e + 4) == TYPE_BYTES ? c / 8 + (c % 8 != 0) : c);
  }
  return 0;
}

static int is_count(double v) { return v >= 0 && v <= TWO53 && v == floor(v); }

/* The value rules. Returns NULL or the failed check; *which (0 info, 1 prior,
 * 2 conf_hist, 3 class_hist, 4 tag) and *idx say where. */
static const char *values_check(size_t k, const calib__model_meta *mt, int *which, size_t *idx) {
  const size_t kc = k == 1 ? 2 : k;
  const double *v = mt->info;
  *which = 0;
  *idx = 0;
  if (!is_count(v[0])) return "created time is not an integer in [0, 2^53] seconds";
  *idx = 1;
  if (!is_count(v[1])) return "n is not an integer in [0, 2^53]";
  for (size_t a = 0; a < 2; a++) {
    const double nll = v[2 + 3 * a], ece = v[3 + 3 * a], brier = v[4 + 3 * a];
    *idx = 2 + 3 * a;
    if (!isnan(nll) && !(nll >= 0)) return "NLL is negative";
    *idx = 3 + 3 * a;
    if (!isnan(ece) && !(ece >= 0 && ece <= 1)) return "ECE is outside [0, 1]";
    *idx = 4 + 3 * a;
    if (!isnan(brier) && !(brier >= 0 && brier <= (double)kc)) return "Brier score is outside [0, kc]";
  }
  *idx = 1;
  const int any = mt->prior || mt->conf_hist || mt->class_hist;
  if (!any) return v[1] == 0 ? NULL : "n is not 0 in a model without a reference";
  if (!mt->prior || !mt->conf_hist || !mt->class_hist)
    return "reference incomplete (prior, confidence and class histograms go together)";
  if (!(v[1] >= 1)) return "n is 0 in a model with a reference";
  double sum = 0;
  *which = 1;
  for (size_t j = 0; j < kc; j++) {
    *idx = j;
    if (!(mt->prior[j] >= 0 && mt->prior[j] <= 1)) return "prior entry is outside [0, 1]";
    sum += mt->prior[j];
  }
  *idx = 0;
  if (!(fabs(sum - 1) <= 1e-6)) return "prior does not sum to 1 (within 1e-6)";
  for (int h = 2; h <= 3; h++) {
    const double *c = h == 2 ? mt->conf_hist : mt->class_hist;
    const size_t nb = h == 2 ? CALIB_REF_CONF_BINS : kc;
    *which = h;
    sum = 0;
    for (size_t b = 0; b < nb; b++) {
      *idx = b;
      if (!is_count(c[b])) return "histogram count is not an integer >= 0";
      sum += c[b]; /* exact: integers below 2^53 * 2^24 stay exact while sum <= 2^53 */
      if (sum > TWO53) return "histogram counts do not sum to n";
    }
    *idx = 0;
    if (sum != v[1]) return "histogram counts do not sum to n";
  }
  *which = 4;
  *idx = 0;
  if (mt->tag_len > CALIB_MODEL_TAG_MAX) return "tag longer than CALIB_MODEL_TAG_MAX (255) bytes";
  if (mt->tag_len && !calib__utf8_valid(mt->tag, mt->tag_len)) return "tag is not valid UTF-8 (or holds a NUL)";
  return NULL;
}

int calib__model_meta_check(size_t k, const calib__model_meta *meta) {
  int which;
  size_t idx;
  return values_check(k, meta, &which, &idx) ? CALIB_E_ARG : CALIB_OK;
}

/* Defaults of a model without provenance. */
static void meta_none(calib__model_meta *mt) {
  memset(mt, 0, sizeof *mt);
  for (size_t i = 2; i < CALIB__META_INFO_COUNT; i++) mt->info[i] = NAN;
}

int calib__model_meta_validate(const calib_model *m, calib_error *err) {
  static const uint32_t tags[5] = {CALIB__META_INFO, CALIB__META_PRIOR, CALIB__META_CONF_HIST,
                                   CALIB__META_CLASS_HIST, CALIB__META_TAG};
  const size_t kc = m->k == 1 ? 2 : m->k;
  const uint64_t want[5] = {CALIB__META_INFO_COUNT, kc, CALIB_REF_CONF_BINS, kc, 0};
  const uint8_t *pl = m->bytes + HEADER_SIZE;
  const uint32_t nsec = calib__get_u32(pl + 8);
  uint64_t off = 16 + 16 * (uint64_t)nsec, data_at[5] = {0, 0, 0, 0, 0};
  unsigned seen = 0;
  calib__model_meta mt;
  meta_none(&mt);
  for (uint32_t s = 0; s < nsec; s++) {
    const uint8_t *e = pl + 16 + 16 * (uint64_t)s;
    const uint64_t at = HEADER_SIZE + 16 + 16 * (uint64_t)s;
    const uint32_t tag = calib__get_u32(e), type = calib__get_u32(e + 4);
    const uint64_t count = calib__get_u64(e + 8);
    const uint64_t here = off;
    off += 8 * (type == TYPE_BYTES ? count / 8 + (count % 8 != 0) : count);
    if (tag < CALIB__META_FIRST || tag > CALIB__META_LAST) continue;
    size_t t = 0;
    while (t < 5 && tags[t] != tag) t++;
    if (t == 5) return bad(err, TAB, "unknown metadata section tag", at);
    if (seen & (1u << t)) return bad(err, TAB, "metadata section tag appears twice", at);
    seen |= 1u << t;
    if (type != (t == 4 ? TYPE_BYTES : TYPE_F64))
      return bad(err, TAB, t == 4 ? "tag section type is not 2 (bytes)" : "metadata section type is not 1 (float64)",
                 at + 4);
    if (t == 4 ? count > CALIB_MODEL_TAG_MAX : count != want[t])
      return bad(err, TAB,
                 t == 0   ? "info section count is not 8"
                 : t == 2 ? "confidence histogram count is not CALIB_REF_CONF_BINS (20)"
                 : t == 4 ? "tag longer than CALIB_MODEL_TAG_MAX (255) bytes"
                          : "prior / class histogram count is not kc (k, or 2 when k = 1)",
                 at + 8);
    data_at[t] = HEADER_SIZE + here;
    const uint8_t *d = pl + here;
    if (t == 0)
      for (size_t i = 0; i < CALIB__META_INFO_COUNT; i++) mt.info[i] = calib__get_f64(d + 8 * i);
    else if (t == 1) mt.prior = (const double *)(const void *)d;
    else if (t == 2) mt.conf_hist = (const double *)(const void *)d;
    else if (t == 3) mt.class_hist = (const double *)(const void *)d;
    else {
      mt.tag = (const char *)d, mt.tag_len = (size_t)count;
      for (uint64_t p = count; p % 8 != 0; p++)
        if (d[p] != 0) return bad(err, META, "tag padding bytes are not 0", HEADER_SIZE + here + p);
    }
  }
  if (!(seen & 1u)) return bad(err, META, "version-2 model without its info section", 8);
  int which;
  size_t idx;
  const char *why = values_check(m->k, &mt, &which, &idx);
  if (!why) return CALIB_OK;
  const uint64_t at = which == 4 ? data_at[4]
                      : data_at[which] ? data_at[which] + 8 * (uint64_t)idx
                                       : UINT64_MAX; /* a missing reference section */
  return bad(err, META, why, at);
}

int calib__model_meta_get(const calib_model *m, calib__model_meta *mt) {
  meta_none(mt);
  if (calib__get_u32(m->bytes + 8) < CALIB__FORMAT_V2) return 0;
  uint64_t c;
  const uint8_t *d;
  if (calib__model_find_section(m, CALIB__META_INFO, &c, &d))
    for (size_t i = 0; i < CALIB__META_INFO_COUNT; i++) mt->info[i] = calib__get_f64(d + 8 * i);
  if (calib__model_find_section(m, CALIB__META_PRIOR, &c, &d)) mt->prior = (const double *)(const void *)d;
  if (calib__model_find_section(m, CALIB__META_CONF_HIST, &c, &d)) mt->conf_hist = (const double *)(const void *)d;
  if (calib__model_find_section(m, CALIB__META_CLASS_HIST, &c, &d)) mt->class_hist = (const double *)(const void *)d;
  if (calib__model_find_section(m, CALIB__META_TAG, &c, &d)) mt->tag = (const char *)d, mt->tag_len = (size_t)c;
  return 1;
}

int calib__model_with_meta(calib_model **out, const calib_model *m, const calib__model_meta *meta) {
  if (!meta) return calib__model_build(out, m->method, m->k, m->sec, m->nsections);
  return calib__model_build_meta(out, m->method, m->k, m->sec, m->nsections, meta);
}

int calib_model_info_get(const calib_model *m, calib_model_info *out) {
  if (!m || !out) return CALIB_E_ARG;
  calib__model_meta mt;
  const int v2 = calib__model_meta_get(m, &mt);
  memset(out, 0, sizeof *out);
  out->format_version = v2 ? CALIB__FORMAT_V2 : CALIB__FORMAT_V1;
  out->has_reference = mt.prior != NULL;
  out->created_unix = (int64_t)mt.info[0];
  out->n = mt.info[1];
  out->nll_before = mt.info[2], out->ece_before = mt.info[3], out->brier_before = mt.info[4];
  out->nll_after = mt.info[5], out->ece_after = mt.info[6], out->brier_after = mt.info[7];
  if (mt.tag_len) memcpy(out->tag, mt.tag, mt.tag_len);
  out->tag[mt.tag_len] = '\0';
  return CALIB_OK;
}

#endif /* CALIB_CORE */
