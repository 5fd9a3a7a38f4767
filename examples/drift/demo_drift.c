/* demo_drift.c -- `make demo-drift`: live drift monitoring, class-prior
 * estimation and automatic rollback on the shipped CIFAR-10 logits
 * (DenseNet-40 by M. Kängsepp, MIT; data/README.md), public API only.
 *
 * Temperature scaling is fitted on val/ (5000 rows); the fit-time reference is
 * calib_reference_compute() on the calibrated val probabilities and labels; the
 * model is installed in a calib_slot and the test/ logits (10000 rows) are
 * streamed through calib_slot_apply + calib_monitor_observe in batches of 100
 * rows, calling calib_monitor_read after every batch. Every row is drawn by a
 * seeded splitmix64 generator (--seed, default DEMO_SEED):
 *   1 unshifted     20000 rows: two passes over the test set, each in a new
 *                   random order (every test row exactly twice)
 *   2 sharpened x2   5000 rows: the same permutation stream, logits x 2
 *   3 unshifted     until both alarm states are off, then 1000 more rows (so
 *                   the monitor's EM ring holds only unshifted rows again)
 *   4 prior shift    5000 rows: each row is of class SHIFT_CLASS with
 *                   probability 1/2, else of one of the 9 others uniformly,
 *                   then a uniform test row of that class (with replacement)
 *   5a late labels   2000 unshifted rows; the labels of each batch come back
 *                   LABEL_LAG batches later (calib_monitor_feedback)
 *   5b trial         a bad model (T = BAD_T, overconfident) is installed and
 *                   put on trial against the pinned champion; late paired
 *                   labels; calib_monitor_decide_slot after every batch until
 *                   it decides
 *   5c after         1000 rows, each batch checked to be served by the
 *                   champion's version again.
 * The monitor runs with its documented defaults (NULL options). The bounds
 * below are checked; the program exits 1 if one fails, 2 on bad input.
 *
 *   demo-drift [--data DIR] [--seed N] [--dump DIR]
 * --dump DIR writes rows.tsv (every served row: its test index, logit scale,
 * and the version and temperature of the model that served it), windows.tsv
 * (every closed window's PSI and p-values) and summary.txt
 * (fitted T, reference prior, EM estimates), which test/py/test_demo_drift.py
 * recomputes with numpy. */
#define _POSIX_C_SOURCE 200809L
#include <calib.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define K 10
#define BATCH 100
#define DEMO_SEED 20261204u
#define SHIFT_CLASS 3
#define SHARPEN 2.0f
#define BAD_T 0.25
#define LABEL_LAG 5 /* batches: labels arrive 500 rows after their rows were served */

#define P1_ROWS 20000
#define P2_ROWS 5000
#define P3_MAX_ROWS 10000
#define P3_TAIL_ROWS 1000
#define P4_ROWS 5000
#define P5A_ROWS 2000
#define P5B_MAX_ROWS 10000
#define P5C_ROWS 1000

/* The stated bounds (README "Deploying"), from the monitor's documented
 * defaults: windows of 500 rows, an alarm state on after 3 alarming windows
 * in a row and off after 3 clean ones, so 1500 rows is the earliest alarm and
 * the earliest clearing (1000 if the last window before the change already
 * went that way by chance); the trial looks first at 500 paired rows.
 * Measured with the default seed: alarm after 1500 rows (x2), cleared after
 * 2500, alarm after 1500 (prior shift), EM errors 0.064 and
 * 0.038, rollback at 500. Measured over seeds 1-200 (--seed; rerun with
 * examples/drift/sweep.sh): alarm after
 * x2 at 1500 rows in 192 runs, max 3000; cleared at 1000-1500 in 193, max
 * 3000; alarm after the prior shift at 1000-1500 in all 200; EM max error
 * 0.007-0.071 (monitor, 1000 rows) and 0.008-0.051 (5000 rows), mean 0.032
 * and 0.030; rollback at the first look (500 paired rows) in all 200; in
 * phase 1, 140 of the 16000 single-window tests were below alpha (0.9 %,
 * alpha 1 %) and the alarm state was never on. Each
 * bound below is the worst of the 200 plus one window (or about 0.01). The EM
 * errors are mostly bias, not noise: temperature scaling leaves class 3 (cat)
 * under-predicted (on val itself EM gives 0.095 for a frequency of 0.105; on
 * the unshifted test set 0.091 for 0.100), and at a prior of 0.5 that bias
 * grows to about 0.03: EM is exactly as good as the class-wise calibration of
 * its input (Alexandari et al. 2020). */
#define BOUND_SHARPEN_ROWS 3500  /* alarm on within this many rows after the x2 shift       */
#define BOUND_PRIOR_ROWS 2000    /* alarm on within this many rows after the prior shift    */
#define BOUND_CLEAR_ROWS 3500    /* alarm off within this many rows after the x2 shift ends */
#define BOUND_EM_RING 0.08       /* max_j |monitor's EM estimate (last 1000 rows) - true prior| */
#define BOUND_EM_ALL 0.06        /* max_j |calib_prior_em on the 5000 rows - true prior|       */
#define BOUND_ROLLBACK_ROWS 1000 /* paired labelled rows until the rollback                    */

#define DEFAULT_DATA "data/cifar10_densenet40_markus93"

#define TRY(call)                                                                    \
  do {                                                                               \
    const int st_ = (call);                                                          \
    if (st_ != CALIB_OK) {                                                           \
      fprintf(stderr, "demo-drift: %s: %s\n", #call, calib_strerror(st_));           \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

/* ---- a reader for the two shipped .npy formats ------------------------------------
 * float32 '<f4' of shape (n, cols) and int32/int64 '<i4'/'<i8' of shape (n,),
 * C order, format versions 1.0-3.0. Values decoded little-endian on any host. */

typedef struct {
  size_t n, cols;  /* cols = 0 for a 1-d array */
  float *f;        /* float32 data, or NULL      */
  int64_t *labels; /* integer data, or NULL      */
} array;

static int fail_npy(const char *path, const char *why) {
  fprintf(stderr, "demo-drift: %s: %s\n", path, why);
  return 0;
}

static uint64_t le(const unsigned char *p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = bytes; i-- > 0;) v = v << 8 | p[i];
  return v;
}

/* The value after 'key': in the header dict, or NULL. */
static const char *npy_field(const char *hdr, const char *key) {
  const char *s = strstr(hdr, key);
  if (!s) return NULL;
  s += strlen(key);
  while (*s == ' ') s++;
  if (*s++ != ':') return NULL;
  while (*s == ' ') s++;
  return s;
}

static int read_npy(const char *path, array *a) {
  memset(a, 0, sizeof *a);
  FILE *fp = fopen(path, "rb");
  if (!fp) return fail_npy(path, strerror(errno));
  unsigned char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      unsigned char *nb = (unsigned char *)realloc(buf, cap = cap ? 2 * cap : 1 << 16);
      if (!nb) break;
      buf = nb;
    }
    const size_t got = fread(buf + len, 1, cap - len, fp);
    len += got;
    if (got == 0) break;
  }
  const int bad = ferror(fp) || !buf;
  fclose(fp);
  int ok = 0;
  char hdr[1024];
  if (bad) {
    fail_npy(path, "read error");
  } else if (len < 12 || memcmp(buf, "\x93NUMPY", 6) != 0) {
    fail_npy(path, "not a .npy file");
  } else {
    const unsigned major = buf[6];
    const size_t off = major == 1 ? 10 : 12;
    const size_t hl = major == 1 ? (size_t)le(buf + 8, 2) : (size_t)le(buf + 8, 4);
    const char *d, *f, *s;
    if (major < 1 || major > 3 || hl >= sizeof hdr || off + hl > len) {
      fail_npy(path, "bad .npy header");
    } else {
      memcpy(hdr, buf + off, hl);
      hdr[hl] = 0;
      d = npy_field(hdr, "'descr'");
      f = npy_field(hdr, "'fortran_order'");
      s = npy_field(hdr, "'shape'");
      size_t shape[2] = {0, 0}, nd = 0, item = 0;
      int isf = 0;
      if (d && !strncmp(d, "'<f4'", 5)) isf = 1, item = 4;
      else if (d && !strncmp(d, "'<i4'", 5)) item = 4;
      else if (d && !strncmp(d, "'<i8'", 5)) item = 8;
      if (s && *s == '(') {
        for (s++; nd < 3;) {
          while (*s == ' ') s++;
          if (*s == ')') break;
          char *end;
          const unsigned long long v = strtoull(s, &end, 10);
          if (end == s) { nd = 3; break; }
          if (nd < 2) shape[nd] = (size_t)v;
          nd++;
          for (s = end; *s == ' ';) s++;
          if (*s == ',') s++;
        }
      }
      const size_t count = nd == 2 ? shape[0] * shape[1] : shape[0];
      if (!item) fail_npy(path, "dtype is not float32, int32 or int64 (little-endian)");
      else if (!f || strncmp(f, "False", 5)) fail_npy(path, "Fortran order is not supported");
      else if (nd != (isf ? 2u : 1u))
        fail_npy(path, isf ? "expected a 2-d float32 array" : "expected a 1-d label array");
      else if (shape[0] == 0 || (nd == 2 && (shape[1] == 0 || count / shape[1] != shape[0])))
        fail_npy(path, "empty or oversized shape");
      else if (len - off - hl != count * item) fail_npy(path, "data size does not match the shape");
      else {
        const unsigned char *p = buf + off + hl;
        a->n = shape[0], a->cols = nd == 2 ? shape[1] : 0;
        if (isf && (a->f = (float *)malloc(count * sizeof(float))) != NULL) {
          for (size_t i = 0; i < count; i++) {
            const uint32_t u = (uint32_t)le(p + 4 * i, 4);
            memcpy(&a->f[i], &u, 4);
          }
          ok = 1;
        } else if (!isf && (a->labels = (int64_t *)malloc(count * sizeof(int64_t))) != NULL) {
          for (size_t i = 0; i < count; i++) {
            const uint64_t u = le(p + item * i, item);
            a->labels[i] = item == 4 ? (int64_t)(int32_t)(uint32_t)u : (int64_t)u;
          }
          ok = 1;
        } else {
          fail_npy(path, "out of memory");
        }
      }
    }
  }
  free(buf);
  return ok;
}

/* ---- seeded randomness: splitmix64 ------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

static size_t rng_below(size_t n) { /* uniform in [0, n), no modulo bias */
  const uint64_t lim = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = rng_next();
  while (x >= lim);
  return (size_t)(x % n);
}

/* ---- the demo's state ------------------------------------------------------------- */

typedef struct {
  const float *z;     /* test logits, n x K */
  const int64_t *y;   /* test labels        */
  size_t n;
  size_t *perm, pos;  /* the unshifted stream: permutation passes */
  size_t *by_class[K], count[K];
  calib_slot *slot;
  calib_monitor *mon;
  calib_monitor_shard *sh;
  calib_monitor_state st;
  uint64_t rows;          /* rows served so far */
  uint64_t windows_shown, label_windows_shown, looks_shown;
  uint64_t label_base;    /* the first row whose label is fed back */
  double off_count;       /* CALIB_MO_OFF_COUNT */
  double temperature[4];  /* the temperature of each installed version (for --dump) */
  int phase;              /* 1..5 */
  const char *phase_name;
  int alarm;              /* either alarm state, after the last read */
  FILE *dump_rows, *dump_windows;
  /* late labels: a FIFO of served batches waiting for their labels */
  struct pending {
    size_t n, idx[BATCH];
    float probs[BATCH * K], champ[BATCH * K];
    int paired;
  } queue[LABEL_LAG + 1];
  size_t q_head, q_len;
} demo;

static size_t next_unshifted(demo *d) {
  if (d->pos == d->n) { /* a new pass in a new order (Fisher-Yates) */
    for (size_t i = d->n - 1; i > 0; i--) {
      const size_t j = rng_below(i + 1), t = d->perm[i];
      d->perm[i] = d->perm[j], d->perm[j] = t;
    }
    d->pos = 0;
  }
  return d->perm[d->pos++];
}

static size_t next_prior_shift(demo *d) {
  size_t c = SHIFT_CLASS;
  if (rng_below(2)) { /* one of the other K - 1 classes, uniformly */
    c = rng_below(K - 1);
    if (c >= SHIFT_CLASS) c++;
  }
  return d->by_class[c][rng_below(d->count[c])];
}

static const char *alarm_str(int conf, int cls) {
  return conf ? (cls ? "CONF+CLASS" : "CONF") : (cls ? "CLASS" : "-");
}

static void print_window(demo *d) {
  const calib_monitor_state *s = &d->st;
  double pi[K];
  size_t kc;
  char em[32] = "     -";
  if (calib_monitor_prior(d->mon, pi, K, &kc) == CALIB_OK) snprintf(em, sizeof em, "%6.3f", pi[SHIFT_CLASS]);
  printf("%6llu  %-14s %2llu %4llu  %8.4f %9.2e  %8.4f %9.2e  %-10s %s\n", (unsigned long long)d->rows,
         d->phase_name, (unsigned long long)calib_slot_version(d->slot), (unsigned long long)s->windows,
         s->psi_confidence, s->p_confidence, s->psi_class, s->p_class,
         alarm_str(s->alarm_confidence, s->alarm_class), em);
  if (d->dump_windows)
    fprintf(d->dump_windows, "%llu\t%llu\t%llu\t%.17g\t%.17g\t%.17g\t%.17g\t%d\t%d\n",
            (unsigned long long)s->windows, (unsigned long long)(s->rows_observed - s->window_rows),
            (unsigned long long)s->rows_observed, s->psi_confidence, s->p_confidence, s->psi_class,
            s->p_class, s->alarm_confidence, s->alarm_class);
}

/* Reads the monitor and prints what changed: closed windows, alarm changes,
 * closed label windows, trial looks. */
static void read_and_show(demo *d) {
  TRY(calib_monitor_read(d->mon, &d->st));
  const calib_monitor_state *s = &d->st;
  if (s->windows > d->windows_shown) {
    d->windows_shown = s->windows;
    print_window(d);
  }
  const int alarm = s->alarm_confidence || s->alarm_class;
  if (alarm && !d->alarm)
    printf(">> row %llu: alarm ON (%s)\n", (unsigned long long)d->rows,
           alarm_str(s->alarm_confidence, s->alarm_class));
  else if (!alarm && d->alarm)
    printf(">> row %llu: alarm cleared (%.0f clean windows in a row)\n", (unsigned long long)d->rows, d->off_count);
  d->alarm = alarm;
  if (s->label_windows > d->label_windows_shown) {
    d->label_windows_shown = s->label_windows;
    /* labels come back in serving order from row label_base on */
    const uint64_t hi = d->label_base + s->rows_labelled, lo = hi - s->label_window_rows;
    printf("%6llu  %-14s %2llu   labels of rows %llu-%llu: accuracy %.4f, NLL %.4f [%.4f, %.4f], "
           "ECE %.4f [%.4f, %.4f]\n",
           (unsigned long long)d->rows, d->phase_name, (unsigned long long)calib_slot_version(d->slot),
           (unsigned long long)lo, (unsigned long long)(hi - 1), s->accuracy, s->nll, s->nll_lo, s->nll_hi,
           s->ece, s->ece_lo, s->ece_hi);
  }
}

/* Serves n rows (test indices idx, logits times scale) through the slot and
 * the monitor; probs receives what was served, *version the model's version. */
static void serve(demo *d, const size_t *idx, size_t n, float scale, float *probs, uint64_t *version) {
  float z[BATCH * K];
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < K; j++) z[i * K + j] = d->z[idx[i] * K + j] * scale;
  uint64_t v = 0;
  TRY(calib_slot_apply(d->slot, z, n, K, probs, &v));
  TRY(calib_monitor_observe(d->sh, probs, n, K));
  if (version) *version = v;
  if (d->dump_rows)
    for (size_t i = 0; i < n; i++)
      fprintf(d->dump_rows, "%llu\t%d\t%zu\t%g\t%llu\t%.17g\n", (unsigned long long)(d->rows + i), d->phase,
              idx[i], (double)scale, (unsigned long long)v, v < 4 ? d->temperature[v] : (double)NAN);
  d->rows += n;
}

/* One batch of a label-free phase (prior_shift: phase 4's draw, else the
 * permutation stream); probs_out / labels_out (may be NULL) keep the rows. */
static void batch_plain(demo *d, int prior_shift, float scale, float *probs_out, int64_t *labels_out) {
  size_t idx[BATCH];
  float probs[BATCH * K];
  for (size_t i = 0; i < BATCH; i++) idx[i] = prior_shift ? next_prior_shift(d) : next_unshifted(d);
  serve(d, idx, BATCH, scale, probs, NULL);
  if (probs_out) memcpy(probs_out, probs, sizeof probs);
  if (labels_out)
    for (size_t i = 0; i < BATCH; i++) labels_out[i] = d->y[idx[i]];
  read_and_show(d);
}

/* Delivers the labels of the oldest pending batch (when `all`, of every one). */
static void deliver_labels(demo *d, int all) {
  while (d->q_len > (all ? 0u : (size_t)LABEL_LAG)) {
    struct pending *b = &d->queue[d->q_head];
    int64_t y[BATCH];
    for (size_t i = 0; i < b->n; i++) y[i] = d->y[b->idx[i]];
    TRY(calib_monitor_feedback(d->sh, b->probs, b->paired ? b->champ : NULL, b->n, K, y));
    d->q_head = (d->q_head + 1) % (LABEL_LAG + 1), d->q_len--;
  }
}

/* One batch with late labels: served by the slot; champion (may be NULL) also
 * scores the rows for a trial. Returns the version that served it. */
static uint64_t batch_labelled(demo *d, const calib_model *champion) {
  struct pending *b = &d->queue[(d->q_head + d->q_len) % (LABEL_LAG + 1)];
  uint64_t v = 0;
  b->n = BATCH;
  for (size_t i = 0; i < BATCH; i++) b->idx[i] = next_unshifted(d);
  serve(d, b->idx, BATCH, 1.0f, b->probs, &v);
  b->paired = champion != NULL;
  if (champion) {
    float z[BATCH * K];
    for (size_t i = 0; i < BATCH; i++) memcpy(z + i * K, d->z + b->idx[i] * K, K * sizeof(float));
    TRY(calib_apply(champion, z, BATCH, K, b->champ));
  }
  d->q_len++;
  deliver_labels(d, 0);
  return v;
}

static void phase(demo *d, int no, const char *name) {
  d->phase = no, d->phase_name = name;
  printf("-- phase %s from row %llu\n", name, (unsigned long long)d->rows);
}

/* ---- checks ------------------------------------------------------------------------ */

static int failures;

/* One stated bound: prints it with its measured value (`digits` decimals). */
static void check(int ok, const char *what, int digits, double measured, double bound) {
  char m[64], b[64];
  snprintf(m, sizeof m, "%.*f", digits, measured);
  snprintf(b, sizeof b, "%.*f", digits, bound);
  printf("  %-4s %-58s measured %-9s bound %s\n", ok ? "ok" : "FAIL", what, m, b);
  failures += !ok;
}

static void usage(void) {
  fprintf(stderr, "usage: demo-drift [--data DIR] [--seed N] [--dump DIR]\n"
                  "  DIR of --data holds val/ and test/ logits.npy + labels.npy (default " DEFAULT_DATA ")\n");
  exit(2);
}

static FILE *dump_open(const char *dir, const char *name, const char *header) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *fp = fopen(path, "w");
  if (!fp) {
    fprintf(stderr, "demo-drift: %s: %s\n", path, strerror(errno));
    exit(2);
  }
  if (header) fputs(header, fp);
  return fp;
}

static void load(const char *data, const char *split, array *z, array *y) {
  char pz[4096], py[4096];
  snprintf(pz, sizeof pz, "%s/%s/logits.npy", data, split);
  snprintf(py, sizeof py, "%s/%s/labels.npy", data, split);
  if (!read_npy(pz, z) || !read_npy(py, y)) {
    fprintf(stderr, "demo-drift: cannot load the %s split of %s (see data/README.md)\n", split, data);
    exit(2);
  }
  if (z->cols != K || y->n != z->n) {
    fprintf(stderr, "demo-drift: %s/%s: expected logits (n, %d) and labels (n); got (%zu, %zu) and (%zu)\n",
            data, split, K, z->n, z->cols, y->n);
    exit(2);
  }
  for (size_t i = 0; i < y->n; i++)
    if (y->labels[i] < 0 || y->labels[i] >= K) {
      fprintf(stderr, "demo-drift: %s: label %lld outside 0..%d\n", py, (long long)y->labels[i], K - 1);
      exit(2);
    }
}

int main(int argc, char **argv) {
  const char *data = DEFAULT_DATA, *dump = NULL;
  unsigned long long seed = DEMO_SEED;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
    else if (!strcmp(argv[i], "--dump") && i + 1 < argc) dump = argv[++i];
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
      char *end;
      seed = strtoull(argv[++i], &end, 10);
      if (*end) usage();
    } else usage();
  }
  rng_state = (uint64_t)seed;

  array vz, vy, tz, ty;
  load(data, "val", &vz, &vy);
  load(data, "test", &tz, &ty);

  /* ---- fit on val/, the reference, the slot, the monitor ---- */
  calib_fitter *fitter = NULL;
  calib_model *model = NULL;
  double T, nll_before, nll_after;
  size_t cnt;
  TRY(calib_fitter_create(&fitter, CALIB_METHOD_TEMPERATURE));
  TRY(calib_fit(fitter, vz.f, vz.n, K, vy.labels, NULL, &model));
  TRY(calib_model_param(model, CALIB_MP_TEMPERATURE, &T, 1, &cnt));
  TRY(calib_fitter_report(fitter, CALIB_R_NLL_BEFORE, &nll_before));
  TRY(calib_fitter_report(fitter, CALIB_R_NLL_AFTER, &nll_after));
  calib_fitter_free(fitter);
  float *vp = (float *)malloc(vz.n * K * sizeof(float));
  float *p4 = (float *)malloc((size_t)P4_ROWS * K * sizeof(float));
  int64_t *y4 = (int64_t *)malloc((size_t)P4_ROWS * sizeof(int64_t));
  demo *d = (demo *)calloc(1, sizeof(demo));
  if (!vp || !p4 || !y4 || !d) {
    fprintf(stderr, "demo-drift: out of memory\n");
    return 2;
  }
  TRY(calib_apply(model, vz.f, vz.n, K, vp));
  calib_reference *ref = NULL;
  TRY(calib_reference_compute(&ref, vp, vz.n, K, vy.labels));
  double met[4], ref_prior[K];
  TRY(calib_reference_get(ref, CALIB_REF_METRICS, met, 4, &cnt));

  d->z = tz.f, d->y = ty.labels, d->n = tz.n;
  d->perm = (size_t *)malloc(d->n * sizeof(size_t));
  for (size_t j = 0; j < K; j++) d->by_class[j] = (size_t *)malloc(d->n * sizeof(size_t));
  for (size_t j = 0; j < K; j++)
    if (!d->perm || !d->by_class[j]) {
      fprintf(stderr, "demo-drift: out of memory\n");
      return 2;
    }
  for (size_t i = 0; i < d->n; i++) {
    d->perm[i] = i;
    const size_t c = (size_t)d->y[i];
    d->by_class[c][d->count[c]++] = i;
  }
  if (d->count[SHIFT_CLASS] == 0) {
    fprintf(stderr, "demo-drift: no test row of class %d\n", SHIFT_CLASS);
    return 2;
  }
  d->pos = d->n; /* the first draw shuffles */
  d->alarm = 0;

  uint64_t v1 = 0, v2 = 0, v = 0;
  TRY(calib_slot_create(&d->slot, 4));
  TRY(calib_slot_install(d->slot, model, &v1)); /* the slot owns the model now */
  if (v1 < 4) d->temperature[v1] = T;
  TRY(calib_monitor_create(&d->mon, ref, NULL)); /* the documented defaults */
  TRY(calib_monitor_shard_create(d->mon, &d->sh));
  TRY(calib_monitor_reference_prior(d->mon, ref_prior, K, &cnt));
  double o[16];
  static const int ids[] = {CALIB_MO_WINDOW, CALIB_MO_ALPHA, CALIB_MO_ON_COUNT, CALIB_MO_OFF_COUNT,
                            CALIB_MO_EM_ROWS, CALIB_MO_LABEL_WINDOW, CALIB_MO_TRIAL_ALPHA,
                            CALIB_MO_TRIAL_LOOK, CALIB_MO_TRIAL_ROWS, CALIB_MO_TRIAL_MARGIN};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) TRY(calib_monitor_get(d->mon, ids[i], &o[i]));
  d->off_count = o[3];

  if (dump) {
    if (mkdir(dump, 0777) != 0 && errno != EEXIST) {
      fprintf(stderr, "demo-drift: %s: %s\n", dump, strerror(errno));
      return 2;
    }
    d->dump_rows = dump_open(dump, "rows.tsv", "row\tphase\tindex\tscale\tversion\ttemperature\n");
    d->dump_windows = dump_open(dump, "windows.tsv",
                                "window\tfirst_row\tend_row\tpsi_conf\tp_conf\tpsi_class\tp_class\t"
                                "alarm_conf\talarm_class\n");
  }

  printf("libcalib demo-drift: DenseNet-40 / CIFAR-10 logits (M. Kängsepp, MIT; data/README.md)\n");
  printf("fit: temperature scaling on %s/val (%zu rows): T = %.4f, NLL %.4f -> %.4f\n", data, vz.n, T,
         nll_before, nll_after);
  printf("reference: calibrated val probabilities + labels: n = %.0f, NLL %.4f, ECE-15 %.4f, prior[%d] = %.4f\n",
         met[0], met[1], met[2], SHIFT_CLASS, ref_prior[SHIFT_CLASS]);
  printf("monitor defaults: window %.0f rows, alpha %.3g per test, alarm on after %.0f / off after %.0f windows,\n"
         "  EM on the last %.0f rows, label window %.0f, trial alpha %.3g, look every %.0f paired rows up to %.0f, "
         "margin %.3g nats\n",
         o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7], o[8], o[9]);
  printf("stream: %s/test (%zu rows), batches of %d rows, calib_monitor_read after each; seed %llu\n", data,
         d->n, BATCH, seed);
  printf("timeline: one line per closed window (PSI and chi-square p of the confidence and predicted-class\n"
         "  histograms, alarm states CONF / CLASS, the monitor's EM estimate of the prior of class %d), per label\n"
         "  window and per trial look; v = the slot's current model version\n", SHIFT_CLASS);
  printf("\n%6s  %-14s %2s %4s  %8s %9s  %8s %9s  %-10s %s\n", "rows", "phase", "v", "win", "PSI-conf",
         "p-conf", "PSI-cls", "p-cls", "alarm", "EM pi[3]");

  /* ---- 1: unshifted ---- */
  phase(d, 1, "1 unshifted");
  int alarm_rows_p1 = 0;
  uint64_t win_alarming = 0, win0 = d->st.windows;
  for (int r = 0; r < P1_ROWS; r += BATCH) {
    const uint64_t w = d->st.windows;
    batch_plain(d, 0, 1.0f, NULL, NULL);
    alarm_rows_p1 += d->alarm ? BATCH : 0;
    if (d->st.windows > w) win_alarming += (d->st.p_confidence < o[1]) + (d->st.p_class < o[1]);
  }
  const uint64_t p1_windows = d->st.windows - win0;
  printf(">> %llu windows, %llu single-window test alarms out of %llu tests (p < %.2g): the alarm state "
         "needs %.0f in a row\n",
         (unsigned long long)p1_windows, (unsigned long long)win_alarming, (unsigned long long)(2 * p1_windows),
         o[1], o[2]);

  /* ---- 2: logits sharpened x2 ---- */
  phase(d, 2, "2 sharpened x2");
  uint64_t start = d->rows, p2_on = 0;
  for (int r = 0; r < P2_ROWS; r += BATCH) {
    batch_plain(d, 0, SHARPEN, NULL, NULL);
    if (d->alarm && !p2_on) p2_on = d->rows - start;
  }
  if (p2_on) printf(">> alarm on %llu rows after the sharpening began\n", (unsigned long long)p2_on);

  /* ---- 3: back to unshifted until the alarm clears ---- */
  phase(d, 3, "3 unshifted");
  start = d->rows;
  uint64_t p3_off = 0;
  for (int r = 0; r < P3_MAX_ROWS; r += BATCH) {
    batch_plain(d, 0, 1.0f, NULL, NULL);
    if (!d->alarm && !p3_off) p3_off = d->rows - start;
    if (p3_off && d->rows - start >= p3_off + P3_TAIL_ROWS) break;
  }
  if (p3_off) printf(">> alarm cleared %llu rows after the shift ended\n", (unsigned long long)p3_off);

  /* ---- 4: class-prior shift ---- */
  phase(d, 4, "4 prior shift");
  start = d->rows;
  uint64_t p4_on = 0;
  const uint64_t p4_first = d->rows;
  for (int r = 0; r < P4_ROWS; r += BATCH) {
    batch_plain(d, 1, 1.0f, p4 + (size_t)r * K, y4 + r);
    if (d->alarm && !p4_on) p4_on = d->rows - start;
  }
  if (p4_on) printf(">> alarm on %llu rows after the prior shift began\n", (unsigned long long)p4_on);
  double truth[K], emp[K] = {0}, est_ring[K], est_all[K];
  size_t iters = 0;
  for (size_t j = 0; j < K; j++) truth[j] = j == SHIFT_CLASS ? 0.5 : 0.5 / (K - 1);
  for (size_t i = 0; i < P4_ROWS; i++) emp[y4[i]] += 1.0 / P4_ROWS;
  TRY(calib_monitor_prior(d->mon, est_ring, K, &cnt));
  TRY(calib_prior_em(p4, P4_ROWS, K, ref_prior, 1e-8, 10000, est_all, &iters));
  double err_ring = 0, err_all = 0;
  for (size_t j = 0; j < K; j++) {
    err_ring = fmax(err_ring, fabs(est_ring[j] - truth[j]));
    err_all = fmax(err_all, fabs(est_all[j] - truth[j]));
  }
  printf(">> prior of class %d: true %.4f (drawn %.4f), reference %.4f; EM by the monitor (last %llu rows) "
         "%.4f,\n   calib_prior_em on all %d rows %.4f (%zu iterations); error for class %d %+.4f and %+.4f,"
         "\n   max abs error over the classes %.4f and %.4f\n",
         SHIFT_CLASS, truth[SHIFT_CLASS], emp[SHIFT_CLASS], ref_prior[SHIFT_CLASS],
         (unsigned long long)d->st.em_rows, est_ring[SHIFT_CLASS], P4_ROWS, est_all[SHIFT_CLASS], iters,
         SHIFT_CLASS, est_ring[SHIFT_CLASS] - truth[SHIFT_CLASS], est_all[SHIFT_CLASS] - truth[SHIFT_CLASS],
         err_ring, err_all);
  printf("   EM prior (monitor):");
  for (size_t j = 0; j < K; j++) printf(" %.3f", est_ring[j]);
  printf("\n");
  float *pc = (float *)malloc((size_t)P4_ROWS * K * sizeof(float));
  if (!pc) return 2;
  double nll_u, acc_u, nll_c, acc_c, nll_t, acc_t;
  TRY(calib_nll(p4, P4_ROWS, K, y4, &nll_u));
  TRY(calib_accuracy(p4, P4_ROWS, K, y4, &acc_u));
  memcpy(pc, p4, (size_t)P4_ROWS * K * sizeof(float));
  TRY(calib_prior_correct(pc, P4_ROWS, K, ref_prior, est_ring));
  TRY(calib_nll(pc, P4_ROWS, K, y4, &nll_c));
  TRY(calib_accuracy(pc, P4_ROWS, K, y4, &acc_c));
  memcpy(pc, p4, (size_t)P4_ROWS * K * sizeof(float));
  TRY(calib_prior_correct(pc, P4_ROWS, K, ref_prior, truth));
  TRY(calib_nll(pc, P4_ROWS, K, y4, &nll_t));
  TRY(calib_accuracy(pc, P4_ROWS, K, y4, &acc_t));
  free(pc);
  printf(">> on the %d prior-shift rows with their labels: NLL %.4f, accuracy %.4f uncorrected;\n"
         "   calib_prior_correct with the monitor's estimate: NLL %.4f, accuracy %.4f (with the true prior: "
         "%.4f, %.4f)\n",
         P4_ROWS, nll_u, acc_u, nll_c, acc_c, nll_t, acc_t);
  if (dump) {
    FILE *fp = dump_open(dump, "summary.txt", NULL);
    fprintf(fp, "seed %llu\ntemperature %.17g\nshift_class %d\np4_first_row %llu\np4_end_row %llu\n", seed, T,
            SHIFT_CLASS, (unsigned long long)p4_first, (unsigned long long)d->rows);
    fprintf(fp, "em_ring_rows %llu\n", (unsigned long long)d->st.em_rows);
    const struct { const char *name; const double *v; } vecs[] = {
        {"reference_prior", ref_prior}, {"em_ring", est_ring}, {"em_all", est_all}};
    for (size_t t = 0; t < 3; t++) {
      fprintf(fp, "%s", vecs[t].name);
      for (size_t j = 0; j < K; j++) fprintf(fp, " %.17g", vecs[t].v[j]);
      fprintf(fp, "\n");
    }
    fprintf(fp, "nll_uncorrected %.17g\nnll_corrected %.17g\n", nll_u, nll_c);
    fclose(fp);
  }

  /* ---- 5a: unshifted traffic, labels arriving late ---- */
  phase(d, 5, "5a labels late");
  d->label_base = d->rows;
  printf(">> from row %llu the labels of every batch come back %d rows later (calib_monitor_feedback)\n",
         (unsigned long long)d->rows, LABEL_LAG * BATCH);
  for (int r = 0; r < P5A_ROWS; r += BATCH) {
    batch_labelled(d, NULL);
    read_and_show(d);
  }

  /* ---- 5b: a bad model on trial, rolled back ---- */
  calib_slot_ref champion;
  calib_model *bad = NULL;
  TRY(calib_slot_acquire(d->slot, &champion)); /* the champion, pinned for scoring */
  TRY(calib_temperature_model(&bad, K, BAD_T));
  TRY(calib_slot_install(d->slot, bad, &v2));
  if (v2 < 4) d->temperature[v2] = BAD_T;
  TRY(calib_monitor_trial_start(d->mon));
  phase(d, 5, "5b trial");
  printf(">> row %llu: installed a bad model (T = %.2f, overconfident) as version %llu; trial against version "
         "%llu started\n",
         (unsigned long long)d->rows, BAD_T, (unsigned long long)v2, (unsigned long long)champion.version);
  int decision = CALIB_DECISION_CONTINUE;
  uint64_t paired_at_decision = 0, served_by_v2 = 0, v_after = 0;
  const double look = o[7];
  for (int r = 0; r < P5B_MAX_ROWS && decision == CALIB_DECISION_CONTINUE; r += BATCH) {
    v = batch_labelled(d, champion.model);
    served_by_v2 += v == v2 ? BATCH : 0;
    read_and_show(d);
    const uint64_t paired = d->st.trial_rows;
    const double mean = d->st.trial_mean_diff, se = d->st.trial_se;
    TRY(calib_monitor_decide_slot(d->mon, d->slot, &decision, &v_after));
    if ((uint64_t)((double)paired / look) > d->looks_shown || decision != CALIB_DECISION_CONTINUE) {
      d->looks_shown = (uint64_t)((double)paired / look);
      printf("%6llu  %-14s %2llu   trial: %llu paired labelled rows, mean loss(challenger) - loss(champion) = "
             "%+.3f nats (se %.3f) -> %s\n",
             (unsigned long long)d->rows, d->phase_name, (unsigned long long)v, (unsigned long long)paired,
             mean, se,
             decision == CALIB_DECISION_ROLLBACK  ? "ROLLBACK"
             : decision == CALIB_DECISION_PROMOTE ? "PROMOTE"
                                                  : "continue");
    }
    if (decision != CALIB_DECISION_CONTINUE) paired_at_decision = paired;
  }
  if (decision == CALIB_DECISION_ROLLBACK)
    printf(">> row %llu: rolled back automatically: version %llu -> %llu\n", (unsigned long long)d->rows,
           (unsigned long long)v2, (unsigned long long)v_after);

  /* ---- 5c: after the rollback, the champion serves again ---- */
  phase(d, 5, "5c after");
  for (size_t i = 0; i < d->q_len; i++) /* the trial is over: labels still due come back unpaired */
    d->queue[(d->q_head + i) % (LABEL_LAG + 1)].paired = 0;
  int served_right = 1;
  const uint64_t v1_pinned = champion.version;
  calib_slot_release(&champion);
  for (int r = 0; r < P5C_ROWS; r += BATCH) {
    v = batch_labelled(d, NULL);
    served_right &= v == v1;
    read_and_show(d);
  }
  deliver_labels(d, 1);
  printf(">> %d rows after the rollback all served by version %llu: %s\n", P5C_ROWS, (unsigned long long)v1,
         served_right ? "yes" : "NO");

  /* ---- the bounds ---- */
  printf("\nchecks (bounds stated in examples/drift/demo_drift.c and README.md):\n");
  check(alarm_rows_p1 == 0, "rows of phase 1 (20000, unshifted) with the alarm on", 0, alarm_rows_p1, 0);
  check(p2_on && p2_on <= BOUND_SHARPEN_ROWS, "alarm on after logits x2 within (rows)", 0,
        p2_on ? (double)p2_on : HUGE_VAL, BOUND_SHARPEN_ROWS);
  check(p3_off && p3_off <= BOUND_CLEAR_ROWS, "alarm cleared after the shift ended within (rows)", 0,
        p3_off ? (double)p3_off : HUGE_VAL, BOUND_CLEAR_ROWS);
  check(p4_on && p4_on <= BOUND_PRIOR_ROWS, "alarm on after the prior shift within (rows)", 0,
        p4_on ? (double)p4_on : HUGE_VAL, BOUND_PRIOR_ROWS);
  check(err_ring <= BOUND_EM_RING, "monitor's EM prior, max abs error over classes", 4, err_ring,
        BOUND_EM_RING);
  check(err_all <= BOUND_EM_ALL, "calib_prior_em on all phase-4 rows, max abs error", 4, err_all,
        BOUND_EM_ALL);
  check(nll_c < nll_u, "prior correction lowers the NLL (corrected < uncorrected)", 4, nll_c, nll_u);
  check(decision == CALIB_DECISION_ROLLBACK && paired_at_decision <= BOUND_ROLLBACK_ROWS,
        "bad model rolled back within (paired labelled rows)", 0,
        decision == CALIB_DECISION_ROLLBACK ? (double)paired_at_decision : HUGE_VAL, BOUND_ROLLBACK_ROWS);
  check(v_after == v1 && v1_pinned == v1 && served_right, "version back to the champion's", 0,
        (double)v_after, (double)v1);
  printf("demo-drift: %s (%llu rows streamed, %llu served by the bad model)\n",
         failures ? "FAILED" : "all bounds hold", (unsigned long long)d->rows, (unsigned long long)served_by_v2);

  if (d->dump_rows) fclose(d->dump_rows);
  if (d->dump_windows) fclose(d->dump_windows);
  calib_monitor_free(d->mon);
  calib_slot_free(d->slot);
  calib_reference_free(ref);
  for (size_t j = 0; j < K; j++) free(d->by_class[j]);
  free(d->perm);
  free(d);
  free(vp), free(p4), free(y4);
  free(vz.f), free(vy.labels), free(tz.f), free(ty.labels);
  return failures ? 1 : 0;
}
