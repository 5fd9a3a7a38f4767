/* http.c -- libmicrohttpd plumbing: the access handler (body accumulation
 * under --max-body, routing), responses, and the completion callback that
 * records each request's status and server time in the thread's counters.
 *
 * Body cap: a request whose Content-Length exceeds --max-body is answered
 * 413 before its body is read (curl's "Expect: 100-continue" then never sends
 * it); a chunked body is read and discarded past the cap and answered 413. */
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

MHD_RESULT send_bytes(struct MHD_Connection *c, req *r, unsigned status, const char *ctype, char *buf,
                      size_t len, const char *const *headers) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(buf);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  for (size_t i = 0; headers && headers[i]; i += 2) MHD_add_response_header(resp, headers[i], headers[i + 1]);
  const MHD_RESULT rc = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  if (rc == MHD_YES) r->status = status;
  return rc;
}

MHD_RESULT send_json(struct MHD_Connection *c, req *r, unsigned status, sbuf *b) {
  if (b->oom) {
    sb_free(b);
    return send_error(c, r, 500, CALIB_E_NOMEM, "out of memory while writing the response");
  }
  sb_str(b, "\n");
  char *p = b->p;
  const size_t len = b->len;
  b->p = NULL, b->len = b->cap = 0;
  return send_bytes(c, r, status, "application/json", p ? p : calloc(1, 1), len, NULL);
}

MHD_RESULT send_error(struct MHD_Connection *c, req *r, unsigned status, int calib_code, const char *msg) {
  sbuf b = {0};
  sb_printf(&b, "{\"error\": {\"status\": %u, \"code\": ", status);
  if (calib_code) sb_json_string(&b, status_name(calib_code));
  else sb_str(&b, "null");
  sb_str(&b, ", \"message\": ");
  sb_json_string(&b, msg);
  sb_str(&b, "}}\n");
  if (b.oom) { /* a static body still answers */
    sb_free(&b);
    static const char oom[] = "{\"error\": {\"status\": 500, \"code\": null, \"message\": \"out of memory\"}}\n";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof oom - 1, (void *)(uintptr_t)oom, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    const MHD_RESULT rc = MHD_queue_response(c, 500, resp);
    MHD_destroy_response(resp);
    if (rc == MHD_YES) r->status = 500;
    return rc;
  }
  char *p = b.p;
  return send_bytes(c, r, status, "application/json", p, b.len, NULL);
}

/* ---- routing ---- */
typedef struct {
  const char *path, *method;
  int ep;
  MHD_RESULT (*fn)(struct MHD_Connection *, req *);
} route;

static const route routes[] = {
    {"/v1/calibrate", "POST", EP_CALIBRATE, h_calibrate},
    {"/v1/model", "GET", EP_MODEL_GET, h_model_get},
    {"/v1/model", "PUT", EP_MODEL_PUT, h_model_put},
    {"/v1/model/rollback", "POST", EP_ROLLBACK, h_rollback},
    {"/v1/feedback", "POST", EP_FEEDBACK, h_feedback},
    {"/metrics", "GET", EP_METRICS, h_metrics},
    {"/healthz", "GET", EP_HEALTHZ, h_healthz},
};
#define NROUTES (sizeof routes / sizeof routes[0])

/* The route of (url, method); NULL with *path_known set if only the method is wrong. */
static const route *find_route(const char *url, const char *method, int *path_known, char *allow, size_t cap) {
  *path_known = 0;
  allow[0] = '\0';
  for (size_t i = 0; i < NROUTES; i++) {
    if (strcmp(routes[i].path, url) != 0) continue;
    *path_known = 1;
    if (strcmp(routes[i].method, method) == 0) return &routes[i];
    const size_t l = strlen(allow);
    snprintf(allow + l, cap - l, "%s%s", l ? ", " : "", routes[i].method);
  }
  return NULL;
}

static MHD_RESULT on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                             const char *version, const char *upload_data, size_t *upload_data_size,
                             void **con_cls) {
  (void)cls, (void)version;
  req *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    r->t0 = now_ns();
    r->w = state_worker();
    int known;
    char allow[64];
    const route *rt = find_route(url, method, &known, allow, sizeof allow);
    r->ep = rt ? rt->ep : EP_OTHER;
    *con_cls = r;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
      char *end;
      unsigned long long v = strtoull(cl, &end, 10);
      if (v > S.opt.max_body) {
        char msg[160];
        snprintf(msg, sizeof msg, "body: Content-Length %llu exceeds the limit of %zu bytes (--max-body)", v,
                 S.opt.max_body);
        return send_error(c, r, 413, 0, msg);
      }
      /* room for the declared body, up to 4 MiB before any byte arrived (a
       * client announcing a large body and sending nothing holds no more) */
      const size_t pre = v < ((size_t)4 << 20) ? (size_t)v : (size_t)4 << 20;
      if (pre && sb_reserve(&r->body, pre)) return send_error(c, r, 500, CALIB_E_NOMEM, "out of memory");
    }
    return MHD_YES;
  }
  if (r->status) { /* answered already (413 before the body): discard the rest */
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (*upload_data_size) {
    if (!r->too_large) {
      if (*upload_data_size > S.opt.max_body - r->body.len) {
        r->too_large = 1;
        sb_free(&r->body);
      } else {
        sb_put(&r->body, upload_data, *upload_data_size);
      }
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (r->too_large) {
    char msg[128];
    snprintf(msg, sizeof msg, "body: exceeds the limit of %zu bytes (--max-body)", S.opt.max_body);
    return send_error(c, r, 413, 0, msg);
  }
  if (r->body.oom) return send_error(c, r, 500, CALIB_E_NOMEM, "out of memory while reading the body");
  int known;
  char allow[64];
  const route *rt = find_route(url, method, &known, allow, sizeof allow);
  if (!rt) {
    if (!known) return send_error(c, r, 404, 0, "no such endpoint");
    char msg[128];
    snprintf(msg, sizeof msg, "method %s not allowed here (allowed: %s)", method, allow);
    sbuf b = {0};
    sb_printf(&b, "{\"error\": {\"status\": 405, \"code\": null, \"message\": ");
    sb_json_string(&b, msg);
    sb_str(&b, "}}\n");
    if (b.oom) return send_error(c, r, 500, CALIB_E_NOMEM, "out of memory");
    const char *const hdr[] = {MHD_HTTP_HEADER_ALLOW, allow, NULL};
    return send_bytes(c, r, 405, "application/json", b.p, b.len, hdr);
  }
  if (!r->w) return send_error(c, r, 503, 0, "no worker state for this thread (more than 64 threads?)");
  return rt->fn(c, r);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  req *r = *con_cls;
  if (!r) return;
  if (r->w && r->status) {
    worker *w = r->w;
    _Atomic uint64_t *cnt = &w->requests[r->ep][code_index(r->status)];
    atomic_store_explicit(cnt, atomic_load_explicit(cnt, memory_order_relaxed) + 1, memory_order_relaxed);
    hist_add(&w->request[r->ep], now_ns() - r->t0);
  }
  sb_free(&r->body);
  free(r);
  *con_cls = NULL;
}

struct MHD_Daemon *http_start(void) {
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)S.opt.port);
  if (inet_pton(AF_INET, S.opt.bind, &addr.sin_addr) != 1) {
    fprintf(stderr, "calib-serve: --bind %s is not an IPv4 address\n", S.opt.bind);
    return NULL;
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
#ifdef __linux__
  flags |= MHD_USE_EPOLL;
#endif
  return MHD_start_daemon(flags, (uint16_t)S.opt.port, NULL, NULL, &on_request, NULL,
                          MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(S.opt.threads > 1 ? S.opt.threads : 0),
                          MHD_OPTION_NOTIFY_COMPLETED, &on_done, NULL,
                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                          MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                          MHD_OPTION_END);
}
