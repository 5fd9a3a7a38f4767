/* method_models.h -- hand-built models of every method for the apply tests
 * (test_alignment.c, test_rows.c, test_apply_typed.c), written with harness.h's independent
 * model writer (layouts in src/model/<method>_apply.c). Header-only: each
 * test includes it once, after harness.h. */
#ifndef CALIB_TEST_METHOD_MODELS_H
#define CALIB_TEST_METHOD_MODELS_H

/* ---- hand-built models (harness.h's independent writer; layouts in
 * src/model/<method>_apply.c), as in test_alignment.c plus probability inputs */

static calib_model *load_model(int method, size_t k, const th_section *s, size_t ns) {
  size_t len = 0;
  uint8_t *b = th_craft_model(method, k, s, ns, &len);
  calib_model *m = NULL;
  const int st = calib_model_load(&m, b, len);
  free(b);
  if (st != CALIB_OK) TH_FAIL("hand-built %s model (k = %zu) rejected: %s", calib_method_name(method), k,
                              calib_strerror(st));
  return st == CALIB_OK ? m : NULL;
}

static calib_model *build_model(int method, size_t k, int probs, int oob_error) {
  static const double T[1] = {1.7}, ets_w[3] = {0.6, 0.3, 0.1};
  const double input[2] = {probs ? CALIB_INPUT_PROBS : CALIB_INPUT_LOGITS, 1e-7};
  const size_t cap = 3 * k + 7 * k + k * k + 16 * k;
  double *buf = (double *)malloc(cap * sizeof(double));
  calib_model *m = NULL;
  if (method == CALIB_METHOD_TEMPERATURE) {
    const th_section s[1] = {{CALIB_MP_TEMPERATURE, 1, T}};
    m = load_model(method, k, s, 1);
  } else if (method == CALIB_METHOD_PLATT || method == CALIB_METHOD_BETA) {
    const size_t per = method == CALIB_METHOD_PLATT ? 2 : 3;
    for (size_t j = 0; j < k; j++) {
      double *r = buf + per * j;
      if (per == 2) {
        r[0] = -(0.8 + 0.01 * (double)(j % 7));
        r[1] = 0.1 * ((double)(j % 5) - 2.0);
      } else {
        r[0] = 0.9 + 0.01 * (double)(j % 3);
        r[1] = 1.1 - 0.01 * (double)(j % 5);
        r[2] = 0.05 * (double)(j % 3);
      }
    }
    const th_section s[2] = {{method == CALIB_METHOD_PLATT ? CALIB_MP_PLATT : CALIB_MP_BETA, per * k, buf},
                             {CALIB_MP_INPUT, 2, input}};
    m = load_model(method, k, s, 2);
  } else if (method == CALIB_METHOD_ISOTONIC) {
    /* k == 1 logits: thresholds on the raw logit; oob_error: CALIB_OOB_ERROR, else CLIP */
    const double cfg[3] = {oob_error ? CALIB_OOB_ERROR : CALIB_OOB_CLIP,
                           probs ? CALIB_INPUT_PROBS : CALIB_INPUT_LOGITS, 0.0};
    double *cnt = buf, *x = buf + k, *y = x + 6 * k;
    size_t off = 0;
    for (size_t j = 0; j < k; j++) {
      const size_t mj = 3 + j % 4;
      cnt[j] = (double)mj;
      for (size_t t = 0; t < mj; t++) {
        const double u = (double)t / (double)(mj - 1);
        x[off + t] = k == 1 && !probs ? -3.0 + 6.0 * u : u;
        y[off + t] = 0.05 + 0.9 * u * u;
      }
      off += mj;
    }
    const th_section s[4] = {{CALIB_MP_ISO_CONFIG, 3, cfg}, {CALIB_MP_ISO_COUNTS, k, cnt},
                             {CALIB_MP_ISO_X, off, x}, {CALIB_MP_ISO_Y, off, y}};
    m = load_model(method, k, s, 4);
  } else if (method == CALIB_METHOD_HISTOGRAM) {
    const double cfg[3] = {CALIB_HIST_EQUAL_WIDTH, 10, probs ? CALIB_INPUT_PROBS : CALIB_INPUT_LOGITS};
    for (size_t i = 0; i < 10 * k; i++) buf[i] = ((double)((i * 7 + (i / 10) * 3) % 10) + 0.5) / 10.0;
    const th_section s[2] = {{CALIB_MP_HIST_CONFIG, 3, cfg}, {CALIB_MP_HIST_VALUES, 10 * k, buf}};
    m = load_model(method, k, s, 2);
  } else if (method == CALIB_METHOD_VECTOR && k >= 2) {
    for (size_t j = 0; j < k; j++) {
      buf[j] = 1.0 + 0.1 * (double)(j % 3);
      buf[k + j] = 0.01 * (double)(j % 5);
    }
    const th_section s[2] = {{CALIB_MP_VECTOR_W, k, buf}, {CALIB_MP_BIAS, k, buf + k}};
    m = load_model(method, k, s, 2);
  } else if ((method == CALIB_METHOD_MATRIX || method == CALIB_METHOD_DIRICHLET) && k >= 2) {
    double *w = buf, *b = buf + k * k;
    for (size_t i = 0; i < k; i++) {
      for (size_t j = 0; j < k; j++)
        w[i * k + j] = (i == j ? 1.2 : 0.0) + 0.001 * (double)((i * 31 + j * 17) % 11) - 0.005;
      b[i] = 0.01 * (double)(i % 7) - 0.03;
    }
    const th_section s[2] = {{CALIB_MP_MATRIX_W, k * k, w}, {CALIB_MP_BIAS, k, b}};
    m = load_model(method, k, s, 2);
  } else if (method == CALIB_METHOD_ETS) {
    const th_section s[2] = {{CALIB_MP_ETS_TEMPERATURE, 1, T}, {CALIB_MP_ETS_WEIGHTS, 3, ets_w}};
    m = load_model(method, k, s, 2);
  }
  free(buf);
  return m;
}

#endif
