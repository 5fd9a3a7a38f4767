/* model.c -- the public model object: accessors, apply, save/load bytes. */
#include "internal.h"
#include "checked.h"

const calib__section *calib__model_section(const calib_model *m, uint32_t tag) {
  for (size_t s = 0; s < m->nsections; s++)
    if (m->sec[s].tag == tag) return &m->sec[s];
  return NULL;
}

void calib_model_free(calib_model *m) {
  if (!m || !m->owned) return;
#ifndef CALIB_CORE /* attached only outside the firmware core (format.c) */
  calib__model_detach_f32(m);
  calib__model_detach_iso(m);
  calib__model_detach_beta(m);
#endif
  calib__free(m->owned);
}

int calib_model_method(const calib_model *m) { return m ? m->method : CALIB_E_ARG; }

size_t calib_model_classes(const calib_model *m) { return m ? m->k : 0; }

int calib_model_param(const calib_model *m, int which, double *out, size_t cap,
                      size_t *count) {
  if (!m || !count || which <= 0) return CALIB_E_ARG;
  const calib__section *s = calib__model_section(m, (uint32_t)which);
  if (!s) return CALIB_E_ARG;
  if (out) {
    if (cap < s->count) return CALIB_E_SMALLBUF;
    memcpy(out, s->data, s->count * sizeof(double));
  }
  *count = s->count;
  return CALIB_OK;
}

int calib_apply(const calib_model *m, const float *logits, size_t n, size_t k,
                float *probs) {
  if (!m || k == 0) return CALIB_E_ARG;
  if (k != m->k) return CALIB_E_SHAPE;
  if (n == 0) return CALIB_OK;
  if (!logits || !probs) return CALIB_E_ARG;
  size_t bytes;
  if (!calib__size_bytes(n, k * sizeof(float), &bytes)) return CALIB_E_ARG; /* k <= CALIB_MODEL_MAX_K */
  if (logits != probs && calib__overlap(logits, n * k * sizeof(float), probs,
                                        n * k * sizeof(float)))
    return CALIB_E_ARG;
  const calib__method *meth = calib__method_get(m->method);
  return meth->apply(m, logits, n, k, probs);
}

size_t calib_model_size(const calib_model *m) { return m ? m->nbytes : 0; }

int calib_model_save(const calib_model *m, void *buf, size_t cap, size_t *written) {
  if (!m || !buf) return CALIB_E_ARG;
  if (cap < m->nbytes) return CALIB_E_SMALLBUF;
  memcpy(buf, m->bytes, m->nbytes);
  if (written) *written = m->nbytes;
  return CALIB_OK;
}

int calib_model_load_ex(calib_model **out, const void *buf, size_t len, calib_error *err) {
  if (!out || !buf) return calib__error_set(err, CALIB_E_ARG, !out ? "out" : "buf", "NULL", UINT64_MAX, 0);
  /* The header first, on the caller's bytes: garbage is refused before the copy. */
  uint64_t plen = 0;
  int st = calib__model_check_header((const uint8_t *)buf, len, &plen, err);
  if (st == CALIB_OK) st = calib__model_check_length(plen, len, err);
  if (st != CALIB_OK) return st;
  calib_model *m;
  uint8_t *bytes;
  if (calib__model_alloc(&m, len, &bytes) != CALIB_OK)
    return calib__error_set(err, CALIB_E_NOMEM, "model bytes", "cannot allocate the model", UINT64_MAX, 0);
  memcpy(bytes, buf, len);
  st = calib__model_parse(m, bytes, len, err);
  if (st != CALIB_OK) {
    calib__free(m->owned);
    return st;
  }
  *out = m;
  return CALIB_OK;
}

int calib_model_load(calib_model **out, const void *buf, size_t len) {
  return calib_model_load_ex(out, buf, len, NULL);
}
