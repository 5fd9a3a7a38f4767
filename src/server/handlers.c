/* handlers.c -- the endpoints. Errors answer 4xx with the library's message
 * (calib_error text, or calib_strerror with the argument and row at fault
 * for calls that return only a code) and never change the served state. */
#include "http.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *status_name(int code) {
  switch (code) {
    case CALIB_OK: return "CALIB_OK";
    case CALIB_E_ARG: return "CALIB_E_ARG";
    case CALIB_E_NONFINITE: return "CALIB_E_NONFINITE";
    case CALIB_E_LABEL: return "CALIB_E_LABEL";
    case CALIB_E_ONECLASS: return "CALIB_E_ONECLASS";
    case CALIB_E_NOMEM: return "CALIB_E_NOMEM";
    case CALIB_E_SMALLBUF: return "CALIB_E_SMALLBUF";
    case CALIB_E_FORMAT: return "CALIB_E_FORMAT";
    case CALIB_E_NOCONV: return "CALIB_E_NOCONV";
    case CALIB_E_UNSUPPORTED: return "CALIB_E_UNSUPPORTED";
    case CALIB_E_IO: return "CALIB_E_IO";
    case CALIB_E_SEPARABLE: return "CALIB_E_SEPARABLE";
    case CALIB_E_NOSIGNAL: return "CALIB_E_NOSIGNAL";
    case CALIB_E_SHAPE: return "CALIB_E_SHAPE";
    case CALIB_E_EMPTY: return "CALIB_E_EMPTY";
    case CALIB_E_DOMAIN: return "CALIB_E_DOMAIN";
    default: return "CALIB_E_UNKNOWN";
  }
}

static int is_json(struct MHD_Connection *c) {
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  return ct && strncmp(ct, "application/json", 16) == 0;
}

/* The message of a failed calib_slot_apply, in calib_error's shape:
 * "<arg>: <check> (at <index>): <strerror>". */
static unsigned apply_error(int st, const float *x, size_t n, size_t k, char *msg, size_t cap) {
  if (st == CALIB_E_EMPTY) {
    snprintf(msg, cap, "model: no model installed: %s", calib_strerror(st));
    return 503;
  }
  if (st == CALIB_E_SHAPE) {
    calib_slot_ref ref;
    size_t mk = 0;
    if (calib_slot_acquire(S.slot, &ref) == CALIB_OK) mk = calib_model_classes(ref.model), calib_slot_release(&ref);
    snprintf(msg, cap, "logits: %zu columns, the model has k = %zu: %s", k, mk, calib_strerror(st));
    return 400;
  }
  if (st == CALIB_E_NONFINITE) {
    size_t row = 0;
    for (size_t i = 0; i < n; i++) {
      int bad = 0, all_neg_inf = 1;
      for (size_t j = 0; j < k; j++) {
        const float v = x[i * k + j];
        if (isnan(v) || (isinf(v) && v > 0)) bad = 1;
        if (!(isinf(v) && v < 0)) all_neg_inf = 0;
      }
      if (bad || (all_neg_inf && k > 1)) { row = i; break; }
    }
    snprintf(msg, cap, "logits: a value is NaN or +inf, or a row is all -inf (at row %zu): %s", row,
             calib_strerror(st));
    return 400;
  }
  snprintf(msg, cap, "logits: %s", calib_strerror(st));
  return st == CALIB_E_NOMEM ? 500 : 400;
}

/* Logits of a calibrate/feedback body: JSON {"logits": ...} or .npy. */
static int body_logits(struct MHD_Connection *c, req *r, const jval *doc, size_t model_k, const float **x,
                       float **owned, size_t *n, size_t *k, int *one_dim, char *msg, size_t cap) {
  *one_dim = 0;
  if (doc) {
    const jval *l = json_get(doc, "logits");
    if (!l) return snprintf(msg, cap, "body: no \"logits\" member"), -1;
    if (json_matrix_f32(l, "logits", owned, n, k, msg, cap)) return -1;
    *x = *owned;
    return 0;
  }
  (void)c;
  /* a (n,) body (k == 1 models) gets a (n,) answer */
  return npy_body_f32(r->body.p ? r->body.p : "", r->body.len, model_k, x, owned, n, k, one_dim, msg, cap);
}

/* Records rows in the worker's shard if the monitor follows the model that
 * computed them. */
static void observe(worker *w, monctx *ctx, uint64_t sv, const float *p, size_t n, size_t k) {
  if (ctx && ctx->slot_version == sv && w->shard && calib_monitor_observe(w->shard, p, n, k) == CALIB_OK) return;
  atomic_store_explicit(&w->rows_unmonitored, atomic_load_explicit(&w->rows_unmonitored, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

static void add_rows(_Atomic uint64_t *c, size_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

MHD_RESULT h_calibrate(struct MHD_Connection *c, req *r) {
  worker *w = r->w;
  char msg[512];
  jval *doc = NULL;
  const int json = is_json(c);
  if (json && json_parse(r->body.p ? r->body.p : "", r->body.len, &doc, msg, sizeof msg))
    return send_error(c, r, 400, 0, msg);
  monctx *ctx = worker_ctx(w);
  const float *x = NULL;
  float *owned = NULL;
  size_t n = 0, k = 0;
  int one_dim = 0;
  if (body_logits(c, r, doc, ctx ? ctx->k : 0, &x, &owned, &n, &k, &one_dim, msg, sizeof msg)) {
    json_free(doc);
    return send_error(c, r, 400, 0, msg);
  }
  json_free(doc);
  char *resp = NULL;
  size_t resp_len = 0, count = n * k; /* n * k checked by the body parsers */
  float *probs = NULL;
  if (json) {
    probs = malloc(count * sizeof *probs);
  } else if (npy_response_alloc(n, k, one_dim, &resp, &resp_len, &probs)) {
    probs = NULL;
  }
  if (!probs) {
    free(owned);
    return send_error(c, r, 500, CALIB_E_NOMEM, "out of memory for the response");
  }
  uint64_t sv = 0;
  const uint64_t t = now_ns();
  const int st = calib_slot_apply(S.slot, x, n, k, probs, &sv);
  hist_add(&w->apply, now_ns() - t);
  if (st != CALIB_OK) {
    const unsigned http = apply_error(st, x, n, k, msg, sizeof msg);
    free(owned);
    free(json ? (void *)probs : (void *)resp);
    return send_error(c, r, http, st, msg);
  }
  free(owned);
  const uint64_t pv = state_pub_version(sv);
  observe(w, ctx, sv, probs, n, k);
  const uint64_t seq = w->next_seq++;
  const unsigned long long id = (unsigned long long)(seq << 8 | w->index);
  if (!ring_put(&w->ring, seq, sv, pv, probs, n, k)) add_rows(&w->ring_dropped, 1);
  add_rows(&w->rows_calibrated, n);
  char vs[24], ids[24];
  snprintf(vs, sizeof vs, "%llu", (unsigned long long)pv);
  snprintf(ids, sizeof ids, "%llu", id);
  const char *const hdr[] = {"X-Calib-Model-Version", vs, "X-Calib-Request-Id", ids, NULL};
  if (!json) return send_bytes(c, r, 200, "application/octet-stream", resp, resp_len, hdr);
  sbuf b = {0};
  sb_reserve(&b, count * 16 + n * 4 + 128);
  sb_str(&b, "{\"probs\": [");
  char num[32];
  for (size_t i = 0; i < n; i++) {
    sb_str(&b, i ? ", [" : "[");
    for (size_t j = 0; j < k; j++) {
      int l = snprintf(num, sizeof num, j ? ", %.9g" : "%.9g", (double)probs[i * k + j]);
      sb_put(&b, num, (size_t)l);
    }
    sb_str(&b, "]");
  }
  sb_printf(&b, "], \"model_version\": %llu, \"request_id\": %llu}", (unsigned long long)pv, id);
  free(probs);
  if (b.oom) {
    sb_free(&b);
    return send_error(c, r, 500, CALIB_E_NOMEM, "out of memory for the response");
  }
  sb_str(&b, "\n");
  return send_bytes(c, r, 200, "application/json", b.p, b.len, hdr);
}

MHD_RESULT h_model_get(struct MHD_Connection *c, req *r) {
  sbuf b = {0};
  state_describe(&b);
  return send_json(c, r, 200, &b);
}

MHD_RESULT h_model_put(struct MHD_Connection *c, req *r) {
  char msg[512];
  uint64_t pv = 0;
  const unsigned http = (unsigned)state_install_bytes(r->body.p ? r->body.p : "", r->body.len, &pv, msg, sizeof msg);
  if (http) return send_error(c, r, http, http == 400 ? CALIB_E_FORMAT : CALIB_E_IO, msg);
  sbuf b = {0};
  sb_printf(&b, "{\"model_version\": %llu}", (unsigned long long)pv);
  return send_json(c, r, 200, &b);
}

MHD_RESULT h_rollback(struct MHD_Connection *c, req *r) {
  char msg[512];
  uint64_t pv = 0;
  const unsigned http = (unsigned)state_rollback(&pv, msg, sizeof msg);
  if (http) return send_error(c, r, http, http == 409 ? CALIB_E_EMPTY : CALIB_E_IO, msg);
  sbuf b = {0};
  sb_printf(&b, "{\"model_version\": %llu}", (unsigned long long)pv);
  return send_json(c, r, 200, &b);
}

/* Labels: a JSON array of integers (int64). */
static int json_labels(const jval *v, size_t want, int64_t **out, char *msg, size_t cap) {
  if (!v || v->t != J_ARR) return snprintf(msg, cap, "body: \"labels\" must be an array of integers"), -1;
  if (v->n != want)
    return snprintf(msg, cap, "labels: %zu labels for %zu rows", v->n, want), -1;
  int64_t *l = malloc((want ? want : 1) * sizeof *l);
  if (!l) return snprintf(msg, cap, "labels: out of memory"), -1;
  for (size_t i = 0; i < want; i++) {
    const double d = v->items[i].num;
    if (v->items[i].t != J_NUM || !(d >= -9.2e18 && d <= 9.2e18) || d != floor(d)) {
      free(l);
      return snprintf(msg, cap, "labels: entry %zu is not an integer", i), -1;
    }
    l[i] = (int64_t)d;
  }
  *out = l;
  return 0;
}

static int json_u64(const jval *v, uint64_t *out) {
  if (v && v->t == J_NUM && v->num >= 0 && v->num < 1.8e19 && v->num == floor(v->num)) {
    *out = (uint64_t)v->num;
    return 0;
  }
  if (v && v->t == J_STR && v->str[0] >= '0' && v->str[0] <= '9') {
    char *end;
    *out = strtoull(v->str, &end, 10);
    return *end ? -1 : 0;
  }
  return -1;
}

static unsigned feedback_error(int st, const int64_t *labels, size_t n, size_t k, char *msg, size_t cap) {
  if (st == CALIB_E_LABEL) {
    const int64_t hi = k == 1 ? 1 : (int64_t)k - 1;
    size_t i = 0;
    while (i < n && labels[i] >= 0 && labels[i] <= hi) i++;
    snprintf(msg, cap, "labels: a label is outside 0..%lld (at %zu): %s", (long long)hi, i, calib_strerror(st));
  } else {
    snprintf(msg, cap, "feedback: %s", calib_strerror(st));
  }
  return st == CALIB_E_NOMEM ? 500 : 400;
}

/* POST /v1/feedback {"request_id": R, "labels": [...]} or {"logits": [[...]], "labels": [...]}. */
MHD_RESULT h_feedback(struct MHD_Connection *c, req *r) {
  worker *w = r->w;
  char msg[512];
  jval *doc = NULL;
  if (json_parse(r->body.p ? r->body.p : "", r->body.len, &doc, msg, sizeof msg))
    return send_error(c, r, 400, 0, msg);
  if (doc->t != J_OBJ) {
    json_free(doc);
    return send_error(c, r, 400, 0, "body: expected a JSON object");
  }
  monctx *ctx = worker_ctx(w);
  if (!ctx || !w->shard) {
    json_free(doc);
    snprintf(msg, sizeof msg, "feedback: no monitor for the current model (%s)", ctx ? ctx->note : "no model");
    return send_error(c, r, 503, 0, msg);
  }
  const jval *labels_v = json_get(doc, "labels");
  const jval *rid = json_get(doc, "request_id");
  int64_t *labels = NULL;
  unsigned http = 0;
  int st = CALIB_OK;
  size_t n = 0;
  uint64_t pv = ctx->pub_version;
  if (rid) {
    uint64_t id;
    if (json_u64(rid, &id)) {
      json_free(doc);
      return send_error(c, r, 400, 0, "body: \"request_id\" must be a non-negative integer (or its decimal string)");
    }
    const unsigned idx = (unsigned)(id & 0xff);
    const uint64_t seq = id >> 8;
    worker *owner = idx < atomic_load(&S.nworkers) ? S.workers[idx] : NULL;
    if (!owner) {
      json_free(doc);
      snprintf(msg, sizeof msg, "request_id %llu: no such request", (unsigned long long)id);
      return send_error(c, r, 404, 0, msg);
    }
    pthread_mutex_lock(&owner->ring.mu);
    ring_entry *e = ring_find(&owner->ring, seq);
    if (!e) {
      http = 404;
      snprintf(msg, sizeof msg,
               "request_id %llu: not in the feedback ring (dropped: the ring keeps the last %zu requests and %zu bytes "
               "per thread; or never served)", (unsigned long long)id, owner->ring.cap, owner->ring.arena_bytes);
    } else if (e->labelled) {
      http = 409;
      snprintf(msg, sizeof msg, "request_id %llu: labels were already given", (unsigned long long)id);
    } else if (e->slot_version != ctx->slot_version) {
      http = 409;
      snprintf(msg, sizeof msg,
               "request_id %llu: served by model version %llu, the monitor follows version %llu now",
               (unsigned long long)id, (unsigned long long)e->pub_version, (unsigned long long)ctx->pub_version);
    } else if (json_labels(labels_v, e->n, &labels, msg, sizeof msg)) {
      http = 400;
    } else {
      const float *p = (const float *)(const void *)(owner->ring.arena + e->off);
      st = calib_monitor_feedback(w->shard, p, NULL, e->n, e->k, labels);
      if (st == CALIB_OK) e->labelled = 1, n = e->n;
      else http = feedback_error(st, labels, e->n, e->k, msg, sizeof msg);
    }
    pthread_mutex_unlock(&owner->ring.mu);
  } else if (json_get(doc, "logits")) {
    const float *x = NULL;
    float *owned = NULL;
    size_t k = 0;
    int one_dim;
    if (body_logits(c, r, doc, ctx->k, &x, &owned, &n, &k, &one_dim, msg, sizeof msg)) {
      http = 400;
    } else if (json_labels(labels_v, n, &labels, msg, sizeof msg)) {
      http = 400;
    } else {
      float *p = malloc(n * k * sizeof *p); /* n * k checked by json_matrix_f32 */
      uint64_t sv = 0;
      if (!p) {
        http = 500, st = CALIB_E_NOMEM;
        snprintf(msg, sizeof msg, "out of memory");
      } else if ((st = calib_slot_apply(S.slot, x, n, k, p, &sv)) != CALIB_OK) {
        http = apply_error(st, x, n, k, msg, sizeof msg);
      } else if (sv != ctx->slot_version) {
        http = 409, st = CALIB_OK;
        snprintf(msg, sizeof msg, "feedback: a model was installed meanwhile; send it again");
      } else if ((st = calib_monitor_feedback(w->shard, p, NULL, n, k, labels)) != CALIB_OK) {
        http = feedback_error(st, labels, n, k, msg, sizeof msg);
      }
      free(p);
    }
    free(owned);
  } else {
    http = 400;
    snprintf(msg, sizeof msg, "body: expected {\"request_id\": R, \"labels\": [...]} or {\"logits\": [[...]], \"labels\": [...]}");
  }
  free(labels);
  json_free(doc);
  if (http) return send_error(c, r, http, st, msg);
  add_rows(&w->rows_feedback, n);
  sbuf b = {0};
  sb_printf(&b, "{\"rows\": %zu, \"model_version\": %llu}", n, (unsigned long long)pv);
  return send_json(c, r, 200, &b);
}

MHD_RESULT h_metrics(struct MHD_Connection *c, req *r) {
  sbuf b = {0};
  metrics_render(&b);
  if (b.oom) {
    sb_free(&b);
    return send_error(c, r, 500, CALIB_E_NOMEM, "out of memory");
  }
  return send_bytes(c, r, 200, "text/plain; version=0.0.4; charset=utf-8", b.p ? b.p : calloc(1, 1), b.len, NULL);
}

MHD_RESULT h_healthz(struct MHD_Connection *c, req *r) {
  const uint64_t sv = calib_slot_version(S.slot);
  sbuf b = {0};
  if (!sv) {
    sb_str(&b, "{\"status\": \"no model\"}");
    return send_json(c, r, 503, &b);
  }
  sb_printf(&b, "{\"status\": \"ok\", \"model_version\": %llu}", (unsigned long long)state_pub_version(sv));
  return send_json(c, r, 200, &b);
}
