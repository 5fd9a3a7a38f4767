"""functional.py -- every endpoint of bin/calib-serve, checked against
independent numpy computations (softmax(z / T) with the T bin/calib fit
reports; ECE/NLL/accuracy of labelled windows computed here), never against
the server's own output.

  - POST /v1/calibrate: .npy and JSON bodies, the rows against numpy, the
    X-Calib-Model-Version / X-Calib-Request-Id headers; 400 with the
    library's message for bad .npy (magic, dtype, truncation, k), bad JSON,
    ragged rows, NaN logits (npy and JSON); 413 above --max-body (with
    Content-Length and chunked); nothing crashes (the server answers after).
  - GET/PUT /v1/model, POST /v1/model/rollback: an invalid model (flipped
    byte: CRC) is 400 and the old model keeps serving; versions; rollback to
    an empty history is 409.
  - POST /v1/feedback by request id and by logits + labels; labels twice,
    unknown ids, bad labels; the labelled window's ECE, NLL and accuracy
    against numpy.
  - GET /metrics parses as Prometheus text; counters equal what was sent.
  - --registry: files and CURRENT after installs and a rollback; a restart
    resumes the version and the history; the next version continues.
  - 404 / 405 (Allow header), /healthz.
Usage: functional.py  (CALIB_SERVE=path selects the binary, e.g. an ASan build)
"""
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import (DATA, Server, fit_temperature, metric, npy_bytes, softmax_t)  # noqa: E402

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def stopped(s):
    """SIGTERM; the server must exit 0 (under ASan: no error, no leak)."""
    rc, errtext = s.stop()
    check(rc == 0, "%s exited 0 on SIGTERM (%d) %s" % (" ".join(s.args[3:]), rc, errtext.strip()[-2000:]))


def close(a, b):
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=2e-6)


def ece15(p, y):
    conf, pred = p.max(axis=1), p.argmax(axis=1)
    idx = np.clip(np.ceil(conf * 15).astype(int) - 1, 0, 14)
    e = 0.0
    for b in range(15):
        m = idx == b
        if m.any():
            e += m.sum() / len(y) * abs((pred[m] == y[m]).mean() - conf[m].mean())
    return e


def conf_bins(p, bins=20):
    """calib_bin_index: right-closed (b/M, (b+1)/M], 0 in bin 0."""
    return np.clip(np.ceil(p.max(axis=1).astype(np.float64) * bins).astype(int) - 1, 0, bins - 1)


def psi(window_counts, ref_counts, eps=1e-4):
    w = np.maximum(window_counts / window_counts.sum(), eps)
    r = np.maximum(ref_counts / ref_counts.sum(), eps)
    return float(((w - r) * np.log(w / r)).sum())


def drift_checks(s, m, z_val, y_val, z_test, ta):
    ref = m["reference"]
    pv = softmax_t(z_val, ta)
    nll = float(-np.log(pv[np.arange(len(y_val)), y_val]).mean())
    check(ref["n"] == len(y_val), "reference: n = %d fit rows" % len(y_val))
    check(abs(ref["nll"] - nll) < 1e-5, "reference NLL = numpy NLL of the fit rows (%.6f vs %.6f)" % (ref["nll"], nll))
    prior = np.bincount(y_val, minlength=10) / len(y_val)
    check(np.allclose(ref["prior"], prior, atol=1e-12), "reference prior = the fit labels' frequencies")
    hist = np.bincount(conf_bins(pv), minlength=20)
    check(np.abs(np.array(ref["confidence_histogram"]) - hist).max() <= 2,
          "reference confidence histogram = numpy's (20 bins, +-2 rows at bin edges)")
    ref_hist = np.array(ref["confidence_histogram"], dtype=np.float64)
    # one window of 500 unshifted test rows: PSI against numpy, no alarm
    x = z_test[1000:1500]
    st, h, p = s.calibrate_npy(x)
    mt = s.metrics()
    want = psi(np.bincount(conf_bins(p), minlength=20).astype(np.float64), ref_hist)
    got = metric(mt, "calib_drift_psi", histogram="confidence")
    check(metric(mt, "calib_drift_windows_total") == 1, "one drift window of 500 rows closed")
    check(abs(got - want) < 1e-9, "drift PSI (confidence) = numpy PSI of the served rows (%.6g vs %.6g)" % (got, want))
    check(metric(mt, "calib_drift_alarm", histogram="confidence") == 0
          and metric(mt, "calib_drift_alarm", histogram="class") == 0, "unshifted: no alarm")
    check(metric(mt, "calib_reference_present") == 1, "calib_reference_present 1")
    # three windows of logits sharpened x 2: the confidence alarm turns on (3 alarming windows in a row)
    for i in range(3):
        st, h, p = s.calibrate_npy(z_test[2000 + 500 * i:2500 + 500 * i] * 2)
        mt = s.metrics()
    check(metric(mt, "calib_drift_alarm", histogram="confidence") == 1,
          "logits x 2 for 3 windows: confidence alarm on (PSI %.3f, p %.3g)"
          % (metric(mt, "calib_drift_psi", histogram="confidence"),
             metric(mt, "calib_drift_pvalue", histogram="confidence")))


def main():
    with tempfile.TemporaryDirectory(prefix="calib-serve-test-") as work:
        return run(work)


def run(work):
    z_val = np.load(os.path.join(DATA, "val", "logits.npy"))
    y_val = np.load(os.path.join(DATA, "val", "labels.npy"))
    z_test = np.load(os.path.join(DATA, "test", "logits.npy"))
    y_test = np.load(os.path.join(DATA, "test", "labels.npy")).astype(np.int64)
    ma, mb = os.path.join(work, "a.calib"), os.path.join(work, "b.calib")
    ta = fit_temperature(z_val, y_val, ma, work)
    tb = fit_temperature(z_val * 4.0, y_val, mb, work)  # fitted on logits x 4: T_b ~ 4 T_a on raw logits
    check(abs(ta - tb) > 1.0, "models a and b differ clearly (T = %.4f vs %.4f)" % (ta, tb))
    bytes_a, bytes_b = open(ma, "rb").read(), open(mb, "rb").read()

    s = Server("--model", ma, "--threads", 2, "--max-body", 200000, "--label-window", 50)
    try:
        st, _, body = s.json("GET", "/healthz")
        check(st == 200 and body == {"status": "ok", "model_version": 1}, "healthz: ok, version 1")
        st, _, m = s.json("GET", "/v1/model")
        check(st == 200 and m["model_version"] == 1 and m["method"] == "temperature" and m["k"] == 10
              and m["history"] == [], "GET /v1/model: version 1, temperature, k 10, empty history")
        check(("has_reference" in m) and (m["has_reference"] or "note" in m),
              "GET /v1/model: says whether there is a fit-time reference (%s)" % m.get("note", "present"))

        # ---- calibrate: .npy and JSON against numpy ----
        x = z_test[:7]
        st, h, p = s.calibrate_npy(x)
        check(st == 200 and p.dtype == np.float32 and close(p, softmax_t(x, ta)),
              "calibrate .npy (7, 10): rows = softmax(z / T_a) (numpy)")
        check(h.get("x-calib-model-version") == "1" and h.get("x-calib-request-id", "").isdigit(),
              "calibrate .npy: X-Calib-Model-Version 1 and a request id")
        st, h, r = s.json("POST", "/v1/calibrate", {"logits": x.tolist()})
        check(st == 200 and r["model_version"] == 1 and close(np.array(r["probs"]), softmax_t(x, ta)),
              "calibrate JSON: probs = softmax(z / T_a), model_version 1")
        st, _, p = s.calibrate_npy(x.astype(np.float64))
        check(st == 200 and close(p, softmax_t(x, ta)), "calibrate .npy float64 body (rounded to float32)")

        # ---- 400s with the library's message ----
        def err(st, body, code, frag, what):
            e = body.get("error", {}) if isinstance(body, dict) else {}
            check(st == code and frag in e.get("message", ""), "%s -> %d: %s" % (what, st, e.get("message")))

        st, _, b = s.request("POST", "/v1/calibrate", b"garbage", {"Content-Type": "application/octet-stream"})
        err(st, json.loads(b), 400, "bad magic", "garbage body")
        st, _, b = s.calibrate_npy(np.zeros((3, 10), dtype=np.int32))
        err(st, b, 400, "float32", "int32 .npy")
        st, _, b = s.request("POST", "/v1/calibrate", npy_bytes(x)[:-5])
        err(st, json.loads(b), 400, "truncated", "truncated .npy")
        st, _, b = s.calibrate_npy(z_test[:4, :5])
        err(st, b, 400, "number of classes differs", "k = 5 against a k = 10 model")
        check(b["error"]["code"] == "CALIB_E_SHAPE", "k mismatch: code CALIB_E_SHAPE")
        bad = x.copy()
        bad[2, 3] = np.nan
        st, _, b = s.calibrate_npy(bad)
        err(st, b, 400, "(at row 2): non-finite input", "NaN logit in row 2 (.npy)")
        check(b["error"]["code"] == "CALIB_E_NONFINITE", "NaN: code CALIB_E_NONFINITE")
        st, _, b = s.json("POST", "/v1/calibrate", raw=json.dumps({"logits": bad.tolist()}).encode())  # NaN token
        err(st, b, 400, "non-finite input", "NaN logit (JSON, Python's NaN token)")
        st, _, b = s.json("POST", "/v1/calibrate", raw=b'{"logits": [[1, 2], [3]]}')
        err(st, b, 400, "row 1 has 1 values, row 0 has 2", "ragged JSON rows")
        st, _, b = s.json("POST", "/v1/calibrate", raw=b'{"logits": [[1, 2,]]}')
        err(st, b, 400, "invalid JSON", "invalid JSON")
        st, _, b = s.json("POST", "/v1/calibrate", raw=b'{"nologits": 1}')
        err(st, b, 400, "no \"logits\"", "JSON without logits")
        st, _, b = s.json("POST", "/v1/calibrate", raw=b"[" * 100000)
        err(st, b, 400, "nested deeper", "deeply nested JSON")

        # ---- 413 ----
        big = npy_bytes(np.zeros((6000, 10), dtype=np.float32))  # 240 kB > --max-body 200000
        st, _, b = s.request("POST", "/v1/calibrate", big)
        err(st, json.loads(b), 413, "--max-body", "oversized body (Content-Length)")
        st, _, b = s.request("POST", "/v1/calibrate", big, chunked=True)
        err(st, json.loads(b), 413, "--max-body", "oversized body (chunked)")
        st, _, p = s.calibrate_npy(x)
        check(st == 200 and close(p, softmax_t(x, ta)), "still serving after the bad requests")

        # ---- model install / invalid / rollback ----
        corrupt = bytearray(bytes_b)
        corrupt[-3] ^= 0x40
        st, _, b = s.request("PUT", "/v1/model", bytes(corrupt))
        err(st, json.loads(b), 400, "CRC", "PUT a corrupted model")
        st, _, b = s.request("PUT", "/v1/model", b"")
        err(st, json.loads(b), 400, "model header", "PUT an empty body")
        st, h, p = s.calibrate_npy(x)
        check(st == 200 and h["x-calib-model-version"] == "1" and close(p, softmax_t(x, ta)),
              "after the invalid PUTs model a (version 1) still serves")
        st, _, b = s.request("PUT", "/v1/model", bytes_b)
        check(st == 200 and json.loads(b)["model_version"] == 2, "PUT model b -> version 2")
        st, h, p = s.calibrate_npy(x)
        check(st == 200 and h["x-calib-model-version"] == "2" and close(p, softmax_t(x, tb)),
              "version 2 serves softmax(z / T_b)")
        st, _, m = s.json("GET", "/v1/model")
        check(m["model_version"] == 2 and m["history"] == [1], "GET /v1/model: version 2, history [1]")
        st, _, b = s.json("POST", "/v1/model/rollback")
        check(st == 200 and b["model_version"] == 1, "rollback -> version 1")
        st, h, p = s.calibrate_npy(x)
        check(h["x-calib-model-version"] == "1" and close(p, softmax_t(x, ta)), "after rollback model a serves")
        st, _, b = s.json("POST", "/v1/model/rollback")
        err(st, b, 409, "no previous model", "rollback with an empty history")

        # ---- feedback (the monitor restarted with the rollback: windows of 50 labelled rows) ----
        rows = z_test[100:150]
        lab = y_test[100:150]
        st, h, p = s.calibrate_npy(rows)
        rid = int(h["x-calib-request-id"])
        st, _, b = s.json("POST", "/v1/feedback", {"request_id": rid, "labels": lab[:3].tolist()})
        err(st, b, 400, "3 labels for 50 rows", "feedback with the wrong number of labels")
        bad_lab = lab.copy()
        bad_lab[7] = 10
        st, _, b = s.json("POST", "/v1/feedback", {"request_id": rid, "labels": bad_lab.tolist()})
        err(st, b, 400, "(at 7): label out of range", "feedback with label 10 at row 7")
        st, _, b = s.json("POST", "/v1/feedback", {"request_id": rid, "labels": lab.tolist()})
        check(st == 200 and b["rows"] == 50, "feedback by request id: 50 rows")
        st, _, b = s.json("POST", "/v1/feedback", {"request_id": rid, "labels": lab.tolist()})
        err(st, b, 409, "already given", "the same request labelled twice")
        st, _, b = s.json("POST", "/v1/feedback", {"request_id": 987654321, "labels": [1]})
        check(st == 404, "unknown request id -> 404 (%s)" % b["error"]["message"])
        mt = s.metrics()
        pw = softmax_t(rows, ta)
        nll = float(-np.log(pw[np.arange(50), lab]).mean())
        check(metric(mt, "calib_window_rows") == 50, "a label window of 50 rows closed")
        check(abs(metric(mt, "calib_window_ece") - ece15(pw, lab)) < 1e-5,
              "window ECE = numpy ECE-15 (%.6f vs %.6f)" % (metric(mt, "calib_window_ece"), ece15(pw, lab)))
        check(abs(metric(mt, "calib_window_nll") - nll) < 1e-5, "window NLL = numpy NLL (%.6f)" % nll)
        check(abs(metric(mt, "calib_window_accuracy") - (pw.argmax(1) == lab).mean()) < 1e-12,
              "window accuracy = numpy accuracy")
        rows2, lab2 = z_test[200:250], y_test[200:250]
        st, _, b = s.json("POST", "/v1/feedback", {"logits": rows2.tolist(), "labels": lab2.tolist()})
        check(st == 200 and b["rows"] == 50, "feedback by logits + labels: 50 rows")
        mt = s.metrics()
        pw2 = softmax_t(rows2, ta)
        check(abs(metric(mt, "calib_window_ece") - ece15(pw2, lab2)) < 1e-5,
              "second window ECE = numpy ECE-15 of those rows")
        check(metric(mt, "calib_labelled_rows_total") == 100, "100 labelled rows counted")

        # ---- metrics: counters equal what was sent ----
        ok = metric(mt, "calib_requests_total", endpoint="calibrate", code="200")
        check(ok == 8, "calib_requests_total{calibrate,200} = 8 (got %g)" % ok)
        check(metric(mt, "calib_requests_total", endpoint="calibrate", code="400") == 10,
              "calib_requests_total{calibrate,400} = 10")
        check(metric(mt, "calib_requests_total", endpoint="calibrate", code="413") == 2,
              "calib_requests_total{calibrate,413} = 2")
        check(metric(mt, "calib_rows_total") == 7 * 7 + 50, "calib_rows_total = 99")
        check(metric(mt, "calib_model_version") == 1, "calib_model_version = 1")
        check(metric(mt, "calib_apply_seconds_count") >= 8, "calib_apply_seconds has the applies")
        for name in ("calib_drift_psi", "calib_drift_alarm", "calib_window_ece", "calib_model_version"):
            check(any(key[0] == name for key in mt), "/metrics has %s" % name)

        # ---- mutated bodies: every answer is a 2xx or 4xx with a message, the server stays up (ASan: SAN=1) ----
        rng = np.random.default_rng(7)
        seeds = [json.dumps({"logits": x[:2].tolist()}).encode(), npy_bytes(x[:2]),
                 json.dumps({"request_id": 1, "labels": [1, 2]}).encode()]
        statuses = {}
        for i in range(300):
            b = bytearray(seeds[i % 3])
            for _ in range(int(rng.integers(1, 6))):
                op, pos = int(rng.integers(0, 3)), int(rng.integers(0, len(b) + 1))
                if op == 0 and b:
                    b[min(pos, len(b) - 1)] = int(rng.integers(0, 256))
                elif op == 1:
                    b[pos:pos] = bytes(rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8))
                else:
                    del b[pos:pos + int(rng.integers(1, 9))]
            path = "/v1/feedback" if i % 3 == 2 else "/v1/calibrate"
            ctype = "application/octet-stream" if i % 3 == 1 else "application/json"
            st, _, _ = s.request("POST", path, bytes(b), {"Content-Type": ctype})
            statuses[st] = statuses.get(st, 0) + 1
        check(set(statuses) <= {200, 400, 404, 409}, "300 mutated bodies: statuses %s" % statuses)
        st, _, p = s.calibrate_npy(x)
        check(st == 200 and close(p, softmax_t(x, ta)), "still serving after the mutated bodies")

        # ---- routing ----
        st, _, b = s.json("GET", "/nope")
        check(st == 404, "unknown path -> 404")
        st, h, b = s.json("DELETE", "/v1/model")
        check(st == 405 and h.get("allow") == "GET, PUT", "DELETE /v1/model -> 405, Allow: GET, PUT")
    finally:
        rc, errtext = s.stop()
    check(rc == 0, "server exited 0 on SIGTERM (%d) %s" % (rc, errtext.strip()[-2000:]))

    # ---- registry: restart resumes version and history ----
    reg = os.path.join(work, "registry")
    s = Server("--model", ma, "--registry", reg)
    try:
        v = [json.loads(s.request("PUT", "/v1/model", bb)[2])["model_version"] for bb in (bytes_b, bytes_a)]
        check(v == [2, 3], "registry: installs get versions 2, 3")
        st, _, b = s.json("POST", "/v1/model/rollback")
        check(b["model_version"] == 2, "registry: rollback -> 2")
    finally:
        stopped(s)
    cur = open(os.path.join(reg, "CURRENT")).read()
    check(cur == "calib-serve-registry 1\ncurrent 2\nhistory 1\nnext 4\n", "CURRENT after the rollback: %r" % cur)
    files = sorted(os.listdir(os.path.join(reg, "models")))
    check(files == ["v1.calib", "v2.calib"], "registry files: %s (v3 pruned after the rollback)" % files)
    check(open(os.path.join(reg, "models", "v2.calib"), "rb").read() == bytes_b, "v2.calib holds model b's bytes")
    s = Server("--registry", reg)
    try:
        st, _, m = s.json("GET", "/v1/model")
        check(m["model_version"] == 2 and m["history"] == [1], "restart: version 2, history [1]")
        st, h, p = s.calibrate_npy(x)
        check(h["x-calib-model-version"] == "2" and close(p, softmax_t(x, tb)), "restart: model b serves")
        st, _, b = s.json("POST", "/v1/model/rollback")
        st, h, p = s.calibrate_npy(x)
        check(b["model_version"] == 1 and close(p, softmax_t(x, ta)), "restart: rollback to 1 serves model a")
        st, _, b = s.request("PUT", "/v1/model", bytes_b)
        check(json.loads(b)["model_version"] == 4, "restart: the next install is version 4 (3 is never reused)")
    finally:
        stopped(s)
    s = Server("--registry", reg, "--model", ma)
    try:
        st, _, m = s.json("GET", "/v1/model")
        check(m["model_version"] == 4 and m["history"] == [1], "second restart: version 4, history [1]")
    finally:
        stopped(s)

    # ---- the feedback ring: bounded in requests and in bytes, drops from the oldest end ----
    def served(s, n):
        st, h, _ = s.calibrate_npy(z_test[:n])
        return int(h["x-calib-request-id"])

    def labelled(s, rid, n):
        return s.json("POST", "/v1/feedback", {"request_id": rid, "labels": y_test[:n].tolist()})[0]

    s = Server("--model", ma, "--threads", 1, "--feedback-requests", 4)
    try:
        ids = [served(s, 5) for _ in range(6)]
        got = [labelled(s, r, 5) for r in ids]
        check(got == [404, 404, 200, 200, 200, 200], "ring of 4 requests: the 2 oldest of 6 dropped (%s)" % got)
    finally:
        stopped(s)
    s = Server("--model", ma, "--threads", 1, "--feedback-bytes", 5000)
    try:
        ids = [served(s, 25) for _ in range(5)]  # 25 x 10 x 4 = 1000 bytes each (1024 in the arena)
        got = [labelled(s, r, 25) for r in ids]
        check(got == [404, 200, 200, 200, 200], "ring of 5000 bytes: 4 of 5 responses of 1 kB kept (%s)" % got)
        big = served(s, 200)  # 8000 bytes: larger than the arena, not kept
        st = labelled(s, big, 200)
        check(st == 404 and metric(s.metrics(), "calib_feedback_ring_skipped_total") == 1,
              "a response larger than the ring is not kept (404, counted as skipped)")
        sizes = [25, 50, 25, 50, 50, 25, 75, 25, 50]
        ids = [(served(s, n), n) for n in sizes]
        got = [labelled(s, r, n) for r, n in reversed(ids)]
        first_drop = got.index(404) if 404 in got else len(got)
        kept_bytes = sum(n * 40 for n in list(reversed(sizes))[:first_drop])
        check(all(g == 404 for g in got[first_drop:]) and first_drop >= 2 and kept_bytes <= 5000,
              "mixed sizes: a run of the newest responses is kept (%d newest, %d bytes), older ones all dropped"
              % (first_drop, kept_bytes))
    finally:
        stopped(s)

    # ---- a binary model (k = 1): (n,) in, (n,) out = sigmoid(z / T) ----
    rng = np.random.default_rng(3)
    sc = (rng.standard_normal(4000) * 2).astype(np.float32)
    yb = (rng.random(4000) < 1 / (1 + np.exp(-sc / 1.5))).astype(np.int64)
    m1 = os.path.join(work, "binary.calib")
    t1 = fit_temperature(sc, yb, m1, work)
    s = Server("--model", m1)
    try:
        xb = sc[:9]
        st, h, p = s.calibrate_npy(xb)
        check(st == 200 and p.shape == (9,) and np.allclose(p, 1 / (1 + np.exp(-xb.astype(np.float64) / t1)),
                                                             rtol=1e-4, atol=2e-6),
              "k = 1 model: (9,) body -> (9,) = sigmoid(z / T) (T = %.4f)" % t1)
        st, h, p = s.calibrate_npy(xb.reshape(9, 1))
        check(st == 200 and p.shape == (9, 1), "k = 1 model: (9, 1) body -> (9, 1)")
    finally:
        stopped(s)

    # ---- a model without a fit-time reference (format version 1): no drift values, labelled metrics still ----
    m_v1 = os.path.join(work, "v1.calib")
    t_v1 = fit_temperature(z_val, y_val, m_v1, work, "--no-provenance")
    s = Server("--model", m_v1, "--window", 100, "--label-window", 20)
    try:
        st, _, m = s.json("GET", "/v1/model")
        check(m["format_version"] == 1 and m["has_reference"] is False and m["reference"] is None
              and "no fit-time reference" in m.get("note", ""), "v1 model: GET /v1/model says it has no reference")
        xs = z_test[:300]
        st, h, p = s.calibrate_npy(xs)
        check(st == 200 and close(p, softmax_t(xs, t_v1)), "v1 model serves softmax(z / T)")
        st, _, b = s.json("POST", "/v1/feedback", {"request_id": int(h["x-calib-request-id"]),
                                                   "labels": y_test[:300].tolist()})
        mt = s.metrics()
        check(metric(mt, "calib_reference_present") == 0 and metric(mt, "calib_drift_windows_total") >= 1
              and np.isnan(metric(mt, "calib_drift_psi", histogram="confidence"))
              and np.isnan(metric(mt, "calib_drift_psi", histogram="class"))
              and metric(mt, "calib_drift_alarm", histogram="confidence") == 0
              and metric(mt, "calib_drift_alarm", histogram="class") == 0,
              "v1 model: windows close, drift PSI NaN, alarms 0")
        check(st == 200 and metric(mt, "calib_labelled_rows_total") == 300
              and np.isfinite(metric(mt, "calib_window_ece")), "v1 model: feedback and window ECE still work")
    finally:
        stopped(s)

    # ---- drift against the fit-time reference (models of format version 2) ----
    s = Server("--model", ma, "--window", 500)
    try:
        st, _, m = s.json("GET", "/v1/model")
        # the model was fitted with provenance (the default): a missing reference is a failure, not a skip
        check(m["has_reference"], "the served model carries its fit-time reference (%s)" % m.get("note"))
        if m["has_reference"]:
            drift_checks(s, m, z_val, y_val, z_test, ta)
    finally:
        rc, errtext = s.stop()
    check(rc == 0, "drift server exited 0 (%d) %s" % (rc, errtext.strip()[-2000:]))

    print("functional: %d failed" % len(failures))
    for f in failures:
        print("  failed: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
