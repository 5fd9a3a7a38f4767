/* metrics.c -- counters and histograms written by each worker thread alone
 * (relaxed atomic load + store: one writer, any number of readers), summed
 * over the workers when /metrics is read, and the monitor's state, rendered
 * in Prometheus' text exposition format (version 0.0.4). */
#include "serve.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

const double hist_bounds[HIST_BUCKETS] = {1e-6,   2.5e-6, 5e-6,   1e-5,   2.5e-5, 5e-5, 1e-4, 2.5e-4,
                                          5e-4,   1e-3,   2.5e-3, 5e-3,   1e-2,   0.1,  1.0,  10.0};

const char *const endpoint_names[EP_N] = {"calibrate", "model_get", "model_put", "model_rollback",
                                          "feedback",  "metrics",   "healthz",   "other"};
const int code_values[CODE_N] = {200, 400, 404, 405, 409, 413, 500, 503};

int code_index(unsigned http_status) {
  for (int i = 0; i < CODE_N; i++)
    if ((unsigned)code_values[i] == http_status) return i;
  return CODE_500;
}

uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void bump(_Atomic uint64_t *c, uint64_t by) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by, memory_order_relaxed);
}

void hist_add(histo *h, uint64_t ns) {
  const double s = (double)ns * 1e-9;
  size_t b = 0;
  while (b < HIST_BUCKETS && s > hist_bounds[b]) b++;
  bump(&h->bucket[b], 1);
  bump(&h->count, 1);
  bump(&h->sum_ns, ns);
}

static uint64_t rd(const _Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

static void header(sbuf *b, const char *name, const char *type, const char *help) {
  sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void value(sbuf *b, double v) {
  if (isnan(v)) sb_str(b, "NaN\n");
  else if (isinf(v)) sb_str(b, v > 0 ? "+Inf\n" : "-Inf\n");
  else sb_printf(b, "%.17g\n", v);
}

/* One histogram series (hs: one per worker, summed), with an optional label. */
static void render_hist(sbuf *b, const char *name, const char *label, const histo *const *hs, unsigned nh) {
  uint64_t cum = 0, count = 0, sum = 0;
  for (unsigned w = 0; w < nh; w++) count += rd(&hs[w]->count), sum += rd(&hs[w]->sum_ns);
  for (size_t i = 0; i <= HIST_BUCKETS; i++) {
    for (unsigned w = 0; w < nh; w++) cum += rd(&hs[w]->bucket[i]);
    if (i < HIST_BUCKETS)
      sb_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, label, *label ? "," : "", hist_bounds[i],
                (unsigned long long)cum);
    else
      sb_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, label, *label ? "," : "", (unsigned long long)cum);
  }
  /* the count is read after the buckets: a request recorded in between may
   * make +Inf and _count differ by one in one scrape; never below */
  if (count < cum) count = cum;
  sb_printf(b, "%s_sum%s%s%s %.9f\n", name, *label ? "{" : "", label, *label ? "}" : "", (double)sum * 1e-9);
  sb_printf(b, "%s_count%s%s%s %llu\n", name, *label ? "{" : "", label, *label ? "}" : "",
            (unsigned long long)count);
}

void metrics_render(sbuf *b) {
  const unsigned nw = atomic_load(&S.nworkers);
  worker *ws[SERVE_MAX_THREADS];
  for (unsigned i = 0; i < nw; i++) ws[i] = S.workers[i];

  header(b, "calib_requests_total", "counter", "HTTP requests answered, by endpoint and status code.");
  for (int e = 0; e < EP_N; e++)
    for (int c = 0; c < CODE_N; c++) {
      uint64_t n = 0;
      for (unsigned i = 0; i < nw; i++) n += rd(&ws[i]->requests[e][c]);
      if (n || (e == EP_CALIBRATE && c == CODE_200))
        sb_printf(b, "calib_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n", endpoint_names[e], code_values[c],
                  (unsigned long long)n);
    }
  uint64_t rows = 0, fb = 0, unmon = 0, dropped = 0;
  for (unsigned i = 0; i < nw; i++) {
    rows += rd(&ws[i]->rows_calibrated), fb += rd(&ws[i]->rows_feedback);
    unmon += rd(&ws[i]->rows_unmonitored), dropped += rd(&ws[i]->ring_dropped);
  }
  header(b, "calib_rows_total", "counter", "Rows calibrated by POST /v1/calibrate.");
  sb_printf(b, "calib_rows_total %llu\n", (unsigned long long)rows);
  header(b, "calib_feedback_rows_total", "counter", "Labelled rows accepted by POST /v1/feedback.");
  sb_printf(b, "calib_feedback_rows_total %llu\n", (unsigned long long)fb);
  header(b, "calib_unmonitored_rows_total", "counter",
         "Rows served by a model other than the one the monitor followed at that moment (installs racing).");
  sb_printf(b, "calib_unmonitored_rows_total %llu\n", (unsigned long long)unmon);
  header(b, "calib_feedback_ring_skipped_total", "counter",
         "Responses not kept for feedback (larger than a thread's share of --feedback-bytes).");
  sb_printf(b, "calib_feedback_ring_skipped_total %llu\n", (unsigned long long)dropped);

  const histo *hs[SERVE_MAX_THREADS];
  header(b, "calib_apply_seconds", "histogram",
         "Time inside calib_slot_apply per POST /v1/calibrate request (the calibration itself).");
  for (unsigned i = 0; i < nw; i++) hs[i] = &ws[i]->apply;
  render_hist(b, "calib_apply_seconds", "", hs, nw);
  header(b, "calib_request_seconds", "histogram",
         "Server time per request: from the headers parsed to the response handed to the socket.");
  for (int e = 0; e < EP_N; e++) {
    char label[64];
    snprintf(label, sizeof label, "endpoint=\"%s\"", endpoint_names[e]);
    for (unsigned i = 0; i < nw; i++) hs[i] = &ws[i]->request[e];
    render_hist(b, "calib_request_seconds", label, hs, nw);
  }

  pthread_mutex_lock(&S.write_mu);
  const uint64_t pv = S.nheld ? S.held_pv[S.nheld - 1] : 0;
  const size_t hist_n = S.nheld ? S.nheld - 1 : 0;
  pthread_mutex_unlock(&S.write_mu);
  header(b, "calib_model_version", "gauge", "Public version of the current model.");
  sb_printf(b, "calib_model_version %llu\n", (unsigned long long)pv);
  header(b, "calib_model_history", "gauge", "Models a rollback can go back to.");
  sb_printf(b, "calib_model_history %zu\n", hist_n);
  header(b, "calib_model_installs_total", "counter", "Models installed (PUT /v1/model and start-up).");
  sb_printf(b, "calib_model_installs_total %llu\n", (unsigned long long)atomic_load(&S.installs));
  header(b, "calib_model_install_failures_total", "counter", "PUT /v1/model bodies refused.");
  sb_printf(b, "calib_model_install_failures_total %llu\n", (unsigned long long)atomic_load(&S.install_failures));
  header(b, "calib_model_rollbacks_total", "counter", "Rollbacks (POST /v1/model/rollback).");
  sb_printf(b, "calib_model_rollbacks_total %llu\n", (unsigned long long)atomic_load(&S.rollbacks));

  calib_monitor_state st;
  int have = 0, has_ref = 0;
  monctx *c = ctx_acquire();
  if (c && c->mon && calib_monitor_read(c->mon, &st) == CALIB_OK) have = 1;
  if (c) has_ref = c->has_reference;
  ctx_release(c);
  const double nan = NAN;
  header(b, "calib_reference_present", "gauge",
         "1 if the current model carries a fit-time reference (else drift values are NaN, alarms 0).");
  sb_printf(b, "calib_reference_present %d\n", has_ref);
  header(b, "calib_monitor_rows_total", "counter", "Rows the monitor observed since the current model was installed.");
  sb_printf(b, "calib_monitor_rows_total %llu\n", (unsigned long long)(have ? st.rows_observed : 0));
  header(b, "calib_drift_windows_total", "counter", "Label-free windows closed for the current model.");
  sb_printf(b, "calib_drift_windows_total %llu\n", (unsigned long long)(have ? st.windows : 0));
  const int drift = have && has_ref;
  header(b, "calib_drift_psi", "gauge", "PSI of the last closed window against the fit-time reference.");
  sb_str(b, "calib_drift_psi{histogram=\"confidence\"} "), value(b, drift ? st.psi_confidence : nan);
  sb_str(b, "calib_drift_psi{histogram=\"class\"} "), value(b, drift ? st.psi_class : nan);
  header(b, "calib_drift_pvalue", "gauge", "Chi-square homogeneity p-value of the last closed window.");
  sb_str(b, "calib_drift_pvalue{histogram=\"confidence\"} "), value(b, drift ? st.p_confidence : nan);
  sb_str(b, "calib_drift_pvalue{histogram=\"class\"} "), value(b, drift ? st.p_class : nan);
  header(b, "calib_drift_alarm", "gauge", "Drift alarm state with hysteresis (1 = on).");
  sb_printf(b, "calib_drift_alarm{histogram=\"confidence\"} %d\n", drift ? st.alarm_confidence : 0);
  sb_printf(b, "calib_drift_alarm{histogram=\"class\"} %d\n", drift ? st.alarm_class : 0);
  header(b, "calib_prior_shift", "gauge", "max_j |EM class prior - reference prior| on recent rows.");
  sb_str(b, "calib_prior_shift "), value(b, drift && st.em_rows ? st.em_shift : nan);
  header(b, "calib_labelled_rows_total", "counter", "Labelled rows the monitor received for the current model.");
  sb_printf(b, "calib_labelled_rows_total %llu\n", (unsigned long long)(have ? st.rows_labelled : 0));
  header(b, "calib_window_rows", "gauge", "Rows in the last closed label window.");
  sb_printf(b, "calib_window_rows %llu\n", (unsigned long long)(have ? st.label_window_rows : 0));
  const struct { const char *name, *help; double v; } win[] = {
      {"calib_window_ece", "Top-label ECE (15 bins) of the last closed label window.", have ? st.ece : nan},
      {"calib_window_ece_lower", "Lower end of its interval.", have ? st.ece_lo : nan},
      {"calib_window_ece_upper", "Upper end of its interval.", have ? st.ece_hi : nan},
      {"calib_window_nll", "Mean NLL of the last closed label window (nats).", have ? st.nll : nan},
      {"calib_window_brier", "Brier score of the last closed label window.", have ? st.brier : nan},
      {"calib_window_accuracy", "Accuracy of the last closed label window.", have ? st.accuracy : nan},
  };
  for (size_t i = 0; i < sizeof win / sizeof win[0]; i++) {
    header(b, win[i].name, "gauge", win[i].help);
    sb_printf(b, "%s ", win[i].name), value(b, win[i].v);
  }
  header(b, "calib_threads", "gauge", "Serving threads that have handled a request.");
  sb_printf(b, "calib_threads %u\n", nw);
  /* CPU time: requests on one thread overlap in wall time (a pool thread
   * multiplexes its connections), so the sum of request seconds counts a
   * busy second more than once; the serving threads' CPU time does not. */
  double cpu = 0;
  for (unsigned i = 0; i < nw; i++) {
    struct timespec ts;
    if (ws[i]->has_cpu_clock && clock_gettime(ws[i]->cpu_clock, &ts) == 0)
      cpu += (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
  }
  header(b, "calib_serving_cpu_seconds_total", "counter",
         "CPU time of the serving threads (user + system), for the apply share of server CPU.");
  sb_printf(b, "calib_serving_cpu_seconds_total %.6f\n", cpu);
  struct timespec pts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &pts) == 0) {
    header(b, "process_cpu_seconds_total", "counter", "CPU time of the whole process.");
    sb_printf(b, "process_cpu_seconds_total %.6f\n", (double)pts.tv_sec + (double)pts.tv_nsec * 1e-9);
  }
}
