/* http.h -- what http.c (libmicrohttpd plumbing) and handlers.c share. */
#ifndef CALIB_SERVE_HTTP_H
#define CALIB_SERVE_HTTP_H

#include "serve.h"

#include <microhttpd.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

/* One request in flight (libmicrohttpd's per-connection *con_cls). */
typedef struct req {
  int ep;            /* EP_* */
  unsigned status;   /* HTTP status queued (0: none yet) */
  uint64_t t0;       /* now_ns() when the headers were parsed */
  worker *w;         /* the calling thread's worker (NULL: none available) */
  sbuf body;
  int too_large;
} req;

/* Responses. Each queues one response on c and records its status in r. */
MHD_RESULT send_bytes(struct MHD_Connection *c, req *r, unsigned status, const char *ctype, char *buf,
                      size_t len, const char *const *headers);
MHD_RESULT send_json(struct MHD_Connection *c, req *r, unsigned status, sbuf *b); /* takes b */
/* {"error": {"status": S, "code": "CALIB_E_..."|null, "message": M}} */
MHD_RESULT send_error(struct MHD_Connection *c, req *r, unsigned status, int calib_code, const char *msg);

/* Endpoints (handlers.c). */
MHD_RESULT h_calibrate(struct MHD_Connection *c, req *r);
MHD_RESULT h_model_get(struct MHD_Connection *c, req *r);
MHD_RESULT h_model_put(struct MHD_Connection *c, req *r);
MHD_RESULT h_rollback(struct MHD_Connection *c, req *r);
MHD_RESULT h_feedback(struct MHD_Connection *c, req *r);
MHD_RESULT h_metrics(struct MHD_Connection *c, req *r);
MHD_RESULT h_healthz(struct MHD_Connection *c, req *r);

struct MHD_Daemon *http_start(void);

#endif
