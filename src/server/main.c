/* main.c -- bin/calib-serve: options, start-up, signals, shutdown. */
#include "http.h"
#include "npy.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
  const int saved = errno;
  const unsigned char b = (unsigned char)sig;
  ssize_t rc = write(sig_pipe[1], &b, 1); /* async-signal-safe */
  (void)rc;
  errno = saved;
}

static void usage(FILE *f) {
  fputs("usage: calib-serve --model FILE --port N [options]\n\n"
        "HTTP calibration service (libcalib, libmicrohttpd).\n\n"
        "  --model FILE            model to serve (optional when --registry holds one)\n"
        "  --port N                TCP port (0: any free port; the port is printed)\n"
        "  --bind ADDR             IPv4 address to listen on (default 127.0.0.1)\n"
        "  --registry DIR          keep installed models in DIR (versioned files and an\n"
        "                          atomically switched CURRENT); a restart resumes it\n"
        "  --threads T             serving threads (default 2, at most 64)\n"
        "  --max-body BYTES        largest request body (default 67108864 = 64 MiB; 413 above)\n"
        "  --history N             models kept for rollback (default 8, 1..64)\n"
        "  --feedback-requests N   responses kept for /v1/feedback, all threads (default 4096)\n"
        "  --feedback-bytes B      bytes kept for /v1/feedback, all threads (default 64 MiB)\n"
        "  --em-rows N             rows per thread for the EM prior estimate (default 1000)\n"
        "  --window N              rows per drift window (default 500)\n"
        "  --label-window N        labelled rows per metric window (default 1000)\n"
        "  --quiet                 no start-up line\n\n"
        "Endpoints: POST /v1/calibrate, GET|PUT /v1/model, POST /v1/model/rollback,\n"
        "POST /v1/feedback, GET /metrics, GET /healthz (see README.md, \"Deploying\").\n",
        f);
}

static int num(const char *opt, const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  const double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi) || v != (double)(long long)v) {
    fprintf(stderr, "calib-serve: %s %s: expected an integer in [%.0f, %.0f]\n", opt, s, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_args(int argc, char **argv, serve_opts *o) {
  memset(o, 0, sizeof *o);
  o->bind = "127.0.0.1";
  o->threads = 2;
  o->max_body = (size_t)64 << 20;
  o->history = 8;
  o->ring_requests = 4096;
  o->ring_bytes = (size_t)64 << 20;
  o->em_rows = 1000;
  o->window = 500;
  o->label_window = 1000;
  int have_port = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); exit(0); }
    if (!strcmp(a, "--quiet")) { o->quiet = 1; continue; }
    if (i + 1 >= argc) { fprintf(stderr, "calib-serve: %s needs a value (see --help)\n", a); return -1; }
    const char *v = argv[++i];
    double d;
    if (!strcmp(a, "--model")) o->model_path = v;
    else if (!strcmp(a, "--registry")) o->registry = v;
    else if (!strcmp(a, "--bind")) o->bind = v;
    else if (!strcmp(a, "--port")) { if (num(a, v, 0, 65535, &d)) return -1; o->port = (unsigned)d; have_port = 1; }
    else if (!strcmp(a, "--threads")) { if (num(a, v, 1, SERVE_MAX_THREADS, &d)) return -1; o->threads = (unsigned)d; }
    else if (!strcmp(a, "--max-body")) { if (num(a, v, 1, 1e12, &d)) return -1; o->max_body = (size_t)d; }
    else if (!strcmp(a, "--history")) { if (num(a, v, 1, CALIB_SLOT_HISTORY_MAX, &d)) return -1; o->history = (size_t)d; }
    else if (!strcmp(a, "--feedback-requests")) { if (num(a, v, 1, 1e8, &d)) return -1; o->ring_requests = (size_t)d; }
    else if (!strcmp(a, "--feedback-bytes")) { if (num(a, v, 0, 1e12, &d)) return -1; o->ring_bytes = (size_t)d; }
    else if (!strcmp(a, "--em-rows")) { if (num(a, v, 0, 1e7, &d)) return -1; o->em_rows = d; }
    else if (!strcmp(a, "--window")) { if (num(a, v, 20, 1e9, &d)) return -1; o->window = d; }
    else if (!strcmp(a, "--label-window")) { if (num(a, v, 20, 1e9, &d)) return -1; o->label_window = d; }
    else { fprintf(stderr, "calib-serve: unknown option %s (see --help)\n", a); return -1; }
  }
  if (!have_port) { fprintf(stderr, "calib-serve: --port N is required (see --help)\n"); return -1; }
  if (!o->model_path && !o->registry) {
    fprintf(stderr, "calib-serve: --model FILE is required (or a --registry that holds a model)\n");
    return -1;
  }
  if (o->ring_requests < o->threads) o->ring_requests = o->threads;
  return 0;
}

static int load_initial(void) {
  char msg[512];
  int found = 0;
  if (S.opt.registry) {
    if (registry_open(S.opt.registry, msg, sizeof msg) || registry_load(&found, msg, sizeof msg)) {
      fprintf(stderr, "calib-serve: %s\n", msg);
      return -1;
    }
    if (found && S.opt.model_path && !S.opt.quiet)
      fprintf(stderr, "calib-serve: resuming the registry %s; --model %s is not installed\n", S.opt.registry,
              S.opt.model_path);
  }
  if (found) return 0;
  if (!S.opt.model_path) {
    fprintf(stderr, "calib-serve: the registry %s holds no model: give --model FILE\n", S.opt.registry);
    return -1;
  }
  uint8_t *buf = NULL;
  size_t len = 0;
  char e[CALIB__NPY_ERRLEN];
  if (calib__io_read_file(S.opt.model_path, CALIB_MODEL_MAX_BYTES, &buf, &len, e, sizeof e) != CALIB_OK) {
    fprintf(stderr, "calib-serve: %s: %s\n", S.opt.model_path, e);
    return -1;
  }
  uint64_t pv;
  const int http = state_install_bytes(buf, len, &pv, msg, sizeof msg);
  free(buf);
  if (http) {
    fprintf(stderr, "calib-serve: %s: %s\n", S.opt.model_path, msg);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (parse_args(argc, argv, &S.opt)) return 2;
#ifdef __GLIBC__
  /* Request bodies and responses are a few hundred kB each (a (64, 1000)
   * batch is 256 kB each way). glibc serves such blocks with mmap, or trims
   * them back to the kernel when freed, so every request page-faulted its
   * buffers in again (measured: the apply writing into a fresh response took
   * 470 us instead of 40). Keep them in the heap and keep freed memory. */
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
  if (state_init()) {
    fprintf(stderr, "calib-serve: cannot initialise (out of memory)\n");
    return 1;
  }
  if (load_initial()) {
    state_shutdown();
    return 1;
  }
  /* Signals: a handler (process-wide, whichever thread takes the signal:
   * threads started before main, such as a BLAS pool or a sanitizer's, do not
   * block it) writes the signal to a pipe that main waits on. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (pipe(sig_pipe) || sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL)) {
    fprintf(stderr, "calib-serve: cannot set up signal handling: %s\n", strerror(errno));
    state_shutdown();
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  struct MHD_Daemon *d = http_start();
  if (!d) {
    fprintf(stderr, "calib-serve: cannot listen on %s:%u\n", S.opt.bind, S.opt.port);
    state_shutdown();
    return 1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  const unsigned port = info ? info->port : S.opt.port;
  if (!S.opt.quiet) {
    pthread_mutex_lock(&S.write_mu);
    const unsigned long long pv = S.nheld ? (unsigned long long)S.held_pv[S.nheld - 1] : 0ULL;
    const size_t nhist = S.nheld ? S.nheld - 1 : 0;
    pthread_mutex_unlock(&S.write_mu);
    printf("calib-serve: listening on http://%s:%u (model version %llu, %zu in history, %u threads, libcalib %s)\n",
           S.opt.bind, port, pv, nhist, S.opt.threads, calib_version_string());
    fflush(stdout);
  }
  unsigned char sigbyte = 0;
  while (read(sig_pipe[0], &sigbyte, 1) < 0 && errno == EINTR) {
  }
  const int sig = sigbyte;
  MHD_stop_daemon(d);
  state_shutdown();
  if (!S.opt.quiet) {
    printf("calib-serve: stopped (signal %d)\n", sig);
    fflush(stdout);
  }
  return 0;
}
