/*
 * serve.h -- bin/calib-serve, the HTTP calibration service (issue 11, part 5).
 *
 * A program, not library code: it links lib/libcalib.a through the public
 * API (calib.h), the .npy parser of src/io/ (build/libcalib_io.a) and
 * libmicrohttpd. Files:
 *   main.c      options, start-up (registry or --model), signals, shutdown
 *   http.c      libmicrohttpd plumbing: body accumulation with the --max-body
 *               cap, routing, responses, per-request timing
 *   handlers.c  the endpoints (/v1/calibrate, /v1/model, /v1/feedback, ...)
 *   state.c     the served model: slot, public versions, monitor contexts,
 *               install and rollback (one writer at a time)
 *   registry.c  --registry DIR: versioned model files and the CURRENT pointer
 *   metrics.c   per-thread counters and histograms, Prometheus text
 *   ring.c      the per-thread ring of recent responses kept for /v1/feedback
 *   body.c      JSON (parser and writer) and .npy request/response bodies
 *
 * Threads: libmicrohttpd's thread pool (--threads T). Every connection stays
 * on one pool thread, so each thread owns one `worker` (thread-local): its
 * counters, its calib_monitor_shard and its feedback ring. The hot path
 * (POST /v1/calibrate) takes no lock shared with another thread: the apply
 * goes through calib_slot_apply (lock-free), the monitor through the thread's
 * own shard, the counters are the thread's own relaxed atomics, and the ring
 * has a per-thread mutex only /v1/feedback on another thread ever contends.
 */
#ifndef CALIB_SERVE_H
#define CALIB_SERVE_H

#include "calib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SERVE_MAX_THREADS 64

/* ---- options (main.c) ---- */
typedef struct serve_opts {
  const char *model_path;     /* --model FILE                                  */
  const char *registry;       /* --registry DIR (NULL: none)                   */
  const char *bind;           /* --bind ADDR, default 127.0.0.1                */
  unsigned port;              /* --port N                                      */
  unsigned threads;           /* --threads T, default 2                        */
  size_t max_body;            /* --max-body BYTES, default 64 MiB              */
  size_t history;             /* --history N, default 8 (rollback depth)       */
  size_t ring_requests;       /* --feedback-requests N, default 4096 (all threads) */
  size_t ring_bytes;          /* --feedback-bytes B, default 64 MiB (all threads)  */
  double em_rows;             /* --em-rows N, default 1000 (CALIB_MO_EM_ROWS)  */
  double window;              /* --window N, default 500 (CALIB_MO_WINDOW)     */
  double label_window;        /* --label-window N, default 1000                */
  int quiet;
} serve_opts;

/* ---- growable byte buffer (body.c) ---- */
typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom; /* an append failed: the content is incomplete */
} sbuf;
void sb_free(sbuf *b);
int sb_reserve(sbuf *b, size_t extra);
void sb_put(sbuf *b, const void *s, size_t n);
void sb_str(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void sb_json_string(sbuf *b, const char *s); /* quoted and escaped */
void sb_json_double(sbuf *b, double v);      /* null for NaN/inf */

/* ---- JSON (body.c): a small strict parser of one document ----
 * Numbers are IEEE doubles (strtod of JSON number syntax); the non-standard
 * tokens NaN, Infinity and -Infinity (what Python's json module writes for
 * float('nan') ...) are accepted so that non-finite logits reach the library
 * and get its message. Depth <= 32, nodes are counted so a body cannot make
 * the parser allocate more than a small multiple of its own size. */
typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;
typedef struct jval {
  jtype t;
  double num;          /* J_NUM, J_BOOL (0/1) */
  char *str;           /* J_STR (NUL-terminated, may not contain NUL) */
  size_t n;            /* J_ARR: items; J_OBJ: members */
  struct jval *items;  /* J_ARR / J_OBJ values */
  char **keys;         /* J_OBJ keys */
} jval;
int json_parse(const char *s, size_t len, jval **out, char *err, size_t errcap);
void json_free(jval *v);
const jval *json_get(const jval *obj, const char *key);
/* A (n, k) matrix of numbers (rows of equal length) into a new float array;
 * 0 or -1 with err set. `what` names the field in messages. */
int json_matrix_f32(const jval *v, const char *what, float **out, size_t *n, size_t *k,
                    char *err, size_t errcap);

/* .npy bodies: a float32 (or float64, rounded once) (n, k) array, or (n,)
 * when the model has k == 1. Returns 0, or -1 with err set. *out views the
 * body when it holds aligned little-endian float32 (*owned = NULL), else a
 * malloc'd copy (*owned, the caller frees it). */
int npy_body_f32(const void *buf, size_t len, size_t model_k, const float **out, float **owned,
                 size_t *n, size_t *k, int *one_dim, char *err, size_t errcap);
/* A response buffer holding a .npy float32 header for (n, k) followed by
 * room for n*k floats: *data points at the data (64-byte aligned offset). */
int npy_response_alloc(size_t n, size_t k, int one_dim, char **buf, size_t *len, float **data);

/* ---- histograms and counters (metrics.c) ---- */
#define HIST_BUCKETS 16
extern const double hist_bounds[HIST_BUCKETS]; /* seconds, ascending; +Inf implied */
typedef struct hist {
  _Atomic uint64_t bucket[HIST_BUCKETS + 1]; /* non-cumulative; last: > last bound */
  _Atomic uint64_t count;
  _Atomic uint64_t sum_ns;
} histo;
void hist_add(histo *h, uint64_t ns); /* single writer: relaxed load + store */

enum { EP_CALIBRATE, EP_MODEL_GET, EP_MODEL_PUT, EP_ROLLBACK, EP_FEEDBACK, EP_METRICS, EP_HEALTHZ,
       EP_OTHER, EP_N };
extern const char *const endpoint_names[EP_N];
enum { CODE_200, CODE_400, CODE_404, CODE_405, CODE_409, CODE_413, CODE_500, CODE_503, CODE_N };
extern const int code_values[CODE_N];
int code_index(unsigned http_status);

/* ---- the feedback ring (ring.c) ---- */
typedef struct ring_entry {
  uint64_t seq;           /* request sequence number of this worker; 0 = empty */
  uint64_t slot_version;  /* the slot version that computed the rows */
  uint64_t pub_version;
  size_t n, k, off, bytes;
  int labelled;           /* feedback already given */
} ring_entry;
typedef struct ring {
  pthread_mutex_t mu;
  ring_entry *ent;        /* cap entries, entry of seq s at s % cap */
  size_t cap;
  unsigned char *arena;   /* arena_bytes, allocated on first use */
  size_t arena_bytes, head;
  uint64_t oldest;        /* smallest seq that may still be held */
  size_t held;            /* entries held */
} ring;
int ring_init(ring *r, size_t entries, size_t bytes);
void ring_destroy(ring *r);
/* Stores a copy of probs (n x k) under seq (seqs strictly increasing);
 * returns 1 if kept, 0 if too large for the arena or no memory. */
int ring_put(ring *r, uint64_t seq, uint64_t slot_version, uint64_t pub_version,
             const float *probs, size_t n, size_t k);
/* The entry of seq, or NULL (dropped, never kept). Call with r->mu held; its
 * rows are at r->arena + entry->off. */
ring_entry *ring_find(ring *r, uint64_t seq);

/* ---- the served model (state.c) ---- */
typedef struct monctx {
  uint64_t slot_version, pub_version;
  size_t k;
  int has_reference;      /* 0: placeholder reference, drift values not reported */
  calib_monitor *mon;     /* NULL if the monitor could not be created */
  calib_reference *ref;
  int users;              /* workers + readers holding it (under state.ctx_mu) */
  int retired;
  char note[256];         /* why there is no reference / monitor */
} monctx;

typedef struct worker {
  unsigned index;
  clockid_t cpu_clock;          /* this thread's CPU-time clock (pthread_getcpuclockid) */
  int has_cpu_clock;
  uint64_t next_seq;
  monctx *ctx;                  /* the context this thread's shard belongs to */
  calib_monitor_shard *shard;
  ring ring;
  _Atomic uint64_t requests[EP_N][CODE_N];
  _Atomic uint64_t rows_calibrated;
  _Atomic uint64_t rows_feedback;
  _Atomic uint64_t rows_unmonitored; /* rows whose version was not the monitor's */
  _Atomic uint64_t ring_dropped;     /* responses too large for the ring */
  histo apply;
  histo request[EP_N];
} worker;

typedef struct serve_state {
  serve_opts opt;
  calib_slot *slot;
  pthread_mutex_t write_mu;      /* install / rollback / registry (one writer) */
  /* slot version -> public version: a lock-free table for the hot path plus
   * the authoritative list (under write_mu) of what the slot holds now. */
  struct vmap_entry { _Atomic uint64_t sv, pv; } vmap[4096];
  uint64_t held_sv[CALIB_SLOT_HISTORY_MAX + 1], held_pv[CALIB_SLOT_HISTORY_MAX + 1];
  size_t nheld;                  /* held[0] oldest history .. held[nheld-1] current */
  uint64_t next_pub;             /* next public version */
  uint64_t last_sv;              /* last slot version given by an install */
  _Atomic uint64_t installs, rollbacks, install_failures;
  /* monitor contexts */
  pthread_mutex_t ctx_mu;
  _Atomic(monctx *) ctx;
  /* workers */
  pthread_mutex_t workers_mu;
  worker *workers[SERVE_MAX_THREADS];
  _Atomic unsigned nworkers;
  double start_unix;
} serve_state;

extern serve_state S;

int state_init(void);
void state_shutdown(void);
/* The public version of slot version sv (0 if unknown). Lock-free unless the
 * table slot was reused (then under write_mu). */
uint64_t state_pub_version(uint64_t sv);
/* Installs model bytes (validated by calib_model_load_ex). On failure returns
 * the HTTP status (400 for invalid bytes, 500 for registry errors) with msg. */
int state_install_bytes(const void *buf, size_t len, uint64_t *pub, char *msg, size_t cap);
/* Installs an already loaded model under a given public version (start-up). */
int state_install_model(calib_model *m, uint64_t pub, char *msg, size_t cap);
int state_rollback(uint64_t *pub, char *msg, size_t cap);
/* The worker of the calling thread (created on first use; NULL: no memory). */
worker *state_worker(void);
/* The worker's monitor context, switched if a new model was installed. */
monctx *worker_ctx(worker *w);
/* A counted reference to the current context for readers (NULL: none). */
monctx *ctx_acquire(void);
void ctx_release(monctx *c);
/* Current public version, method, k, history (under write_mu: consistent). */
void state_describe(sbuf *b);

/* ---- registry (registry.c) ---- */
/* Loads DIR/CURRENT if present: *found = 0 if the registry is empty. */
int registry_open(const char *dir, char *msg, size_t cap);
int registry_load(int *found, char *msg, size_t cap); /* installs history + current */
int registry_store_model(uint64_t pub, const void *buf, size_t len, char *msg, size_t cap);
int registry_write_current(char *msg, size_t cap); /* from S.held_pv / S.next_pub */
void registry_prune(void);

/* ---- metrics (metrics.c) ---- */
void metrics_render(sbuf *b);

/* ---- time ---- */
uint64_t now_ns(void);

/* Status names: "CALIB_E_NONFINITE" ... */
const char *status_name(int code);

#endif /* CALIB_SERVE_H */
