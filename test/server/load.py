"""load.py -- bin/calib-serve under load while its model is swapped.

Two phases (a model has one k): a k = 1000 model driven with (64, 1000)
.npy batches and a k = 10 model (fitted on the shipped CIFAR-10 DenseNet-40
validation logits) driven with (1, 10) batches. In each phase, concurrently:
  - wrk (test/server/calib.lua) POSTs one batch to /v1/calibrate for
    WRK_SECONDS (default 22) and counts the responses by status;
  - an installer PUTs a new model 100 times, alternating two temperature
    models with clearly different T (b fitted on the logits x 4), and logs
    the version each PUT returned -> which model it sent;
  - a checking client POSTs batches of the same shape, and classifies every
    returned row as softmax(z / T_a), softmax(z / T_b) (numpy, float64) or
    neither; afterwards each response is checked against the model its
    X-Calib-Model-Version denotes in the installer's log: a row of the other
    model, or of neither, is a wrong row; a response with rows of both
    models is a mixed response.
Then /metrics gives the share of server time inside calib_slot_apply:
calib_apply_seconds_sum / calib_request_seconds_sum{endpoint="calibrate"}
("apply/req": request seconds run from the parsed headers to the response
handed to the socket, and requests multiplexed on one pool thread overlap,
so this is the apply's share of in-server latency), and
calib_apply_seconds_sum / calib_serving_cpu_seconds_total ("apply/CPU":
the share of the serving threads' CPU time, which counts no second twice).
Prints a table; exits 1 on any non-2xx response, socket error, wrong or mixed
row, or fewer than 100 installs. The apply share is reported against its
5 % target, not enforced (it depends on the machine and its load).
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import DATA, Server, fit_temperature, metric, npy_bytes, softmax_t, synthetic  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WRK_SECONDS = int(os.environ.get("WRK_SECONDS", "22"))
INSTALLS = 100
THREADS = int(os.environ.get("SERVE_THREADS", "2"))


def installer(server, models, log, stop_at, errors):
    """PUTs models[1], models[0], models[1], ... INSTALLS times, evenly over the run."""
    names = ["b", "a"]
    gap = max(0.0, (stop_at - time.time() - 1.0) / INSTALLS)
    for i in range(INSTALLS):
        name = names[i % 2]
        st, _, body = server.request("PUT", "/v1/model", models[name])
        if st != 200:
            errors.append("PUT %d: %d %s" % (i, st, body[:200]))
            continue
        log[json.loads(body)["model_version"]] = name
        time.sleep(gap)


def checker(server, batches, stop_evt, results, errors):
    """POSTs batches round-robin; per response (version, rows of a, rows of b, rows of neither)."""
    i = 0
    while not stop_evt.is_set():
        x, body, pa, pb = batches[i % len(batches)]
        i += 1
        st, h, data = server.request("POST", "/v1/calibrate", body, {"Content-Type": "application/octet-stream"})
        if st != 200:
            errors.append("checker: status %d %s" % (st, data[:200]))
            continue
        import io
        p = np.load(io.BytesIO(data)).astype(np.float64)
        ma = np.all(np.isclose(p, pa, rtol=1e-4, atol=2e-6), axis=1)
        mb = np.all(np.isclose(p, pb, rtol=1e-4, atol=2e-6), axis=1)
        results.append((int(h["x-calib-model-version"]), int((ma & ~mb).sum()), int((mb & ~ma).sum()),
                        int((~ma & ~mb).sum()), int((ma & mb).sum())))


def run_wrk(port, body_path, seconds):
    env = dict(os.environ, CALIB_BODY=body_path)
    out = subprocess.run(["wrk", "-t2", "-c8", "-d%ds" % seconds, "--timeout", "10s", "--latency",
                          "-s", os.path.join(HERE, "calib.lua"), "http://127.0.0.1:%d/v1/calibrate" % port],
                         capture_output=True, text=True, env=env)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("WRK_RESULT ")]
    if out.returncode != 0 or not line:
        raise RuntimeError("wrk failed: %s %s" % (out.stdout[-2000:], out.stderr[-2000:]))
    return json.loads(line[0][len("WRK_RESULT "):]), out.stdout


def phase(name, k, n, model_a, model_b, ta, tb, work, rng):
    bytes_a, bytes_b = open(model_a, "rb").read(), open(model_b, "rb").read()
    load0 = os.getloadavg()[0]
    s = Server("--model", model_a, "--threads", THREADS, "--feedback-bytes", 64 << 20)
    try:
        body_path = os.path.join(work, "wrk_%s.npy" % name)
        np.save(body_path, (rng.standard_normal((n, k)) * 2).astype(np.float32))
        batches = []
        for _ in range(8):
            x = (rng.standard_normal((n, k)) * 2).astype(np.float32)
            pa, pb = softmax_t(x, ta), softmax_t(x, tb)
            assert not np.all(np.isclose(pa, pb, rtol=1e-4, atol=2e-6), axis=1).any(), "models too close"
            batches.append((x, npy_bytes(x), pa, pb))
        log = {1: "a"}
        errors, results = [], []
        stop_evt = threading.Event()
        t_end = time.time() + WRK_SECONDS
        th_i = threading.Thread(target=installer, args=(s, {"a": bytes_a, "b": bytes_b}, log, t_end, errors))
        th_c = threading.Thread(target=checker, args=(s, batches, stop_evt, results, errors))
        th_i.start()
        th_c.start()
        wrk, raw = run_wrk(s.port, body_path, WRK_SECONDS)
        stop_evt.set()
        th_i.join()
        th_c.join()
        mt = s.metrics()
    finally:
        rc, err = s.stop()
    load1 = os.getloadavg()[0]
    wrong = mixed = rows = 0
    unknown = 0
    for v, ra, rb, rn, rboth in results:
        rows += ra + rb + rn + rboth
        model = log.get(v)
        if model is None:
            unknown += 1
            continue
        good = (ra + rboth) if model == "a" else (rb + rboth)
        wrong += ra + rb + rn + rboth - good
        mixed += 1 if (ra and rb) else 0
    statuses = {int(a): b for a, b in wrk["statuses"].items()}
    non2xx = sum(c for st, c in statuses.items() if not 200 <= st < 300)
    sock = sum(wrk["errors"][e] for e in ("connect", "read", "write", "timeout"))
    apply_sum = metric(mt, "calib_apply_seconds_sum")
    req_sum = metric(mt, "calib_request_seconds_sum", endpoint="calibrate")
    return {
        "phase": name, "shape": "(%d, %d)" % (n, k), "seconds": wrk["duration_us"] / 1e6,
        "requests": wrk["requests"], "rps": wrk["requests"] / (wrk["duration_us"] / 1e6),
        "p50_ms": wrk["latency_us"]["p50"] / 1e3, "p99_ms": wrk["latency_us"]["p99"] / 1e3,
        "non2xx": non2xx, "sock": sock, "installs": len(log) - 1, "checked": len(results), "rows": rows,
        "wrong": wrong, "mixed": mixed, "unknown": unknown, "share": apply_sum / req_sum if req_sum else float("nan"),
        "share_cpu": apply_sum / max(1e-9, metric(mt, "calib_serving_cpu_seconds_total")),
        "apply_us": 1e6 * apply_sum / max(1.0, metric(mt, "calib_apply_seconds_count")),
        "request_us": 1e6 * req_sum / max(1.0, metric(mt, "calib_request_seconds_count", endpoint="calibrate")),
        "server_rows": metric(mt, "calib_rows_total"), "errors": errors, "exit": rc, "stderr": err.strip(),
        "load": (load0, load1), "statuses": statuses,
    }


def main():
    with tempfile.TemporaryDirectory(prefix="calib-serve-load-") as work:
        return run(work)


def run(work):
    rng = np.random.default_rng(11)
    # k = 1000: synthetic logits, labels drawn from softmax(z / 1.5)
    z, y = synthetic(5000, 1000, 1.5, seed=5)
    a1000, b1000 = os.path.join(work, "a1000.calib"), os.path.join(work, "b1000.calib")
    ta1000 = fit_temperature(z, y, a1000, work)
    tb1000 = fit_temperature(z * 4, y, b1000, work)
    # k = 10: the shipped CIFAR-10 DenseNet-40 validation logits
    zv, yv = np.load(os.path.join(DATA, "val", "logits.npy")), np.load(os.path.join(DATA, "val", "labels.npy"))
    a10, b10 = os.path.join(work, "a10.calib"), os.path.join(work, "b10.calib")
    ta10 = fit_temperature(zv, yv, a10, work)
    tb10 = fit_temperature(zv * 4, yv, b10, work)
    print("models: k = 1000: T_a = %.4f, T_b = %.4f; k = 10: T_a = %.4f, T_b = %.4f" % (ta1000, tb1000, ta10, tb10))
    res = [phase("k1000", 1000, 64, a1000, b1000, ta1000, tb1000, work, rng),
           phase("k10", 10, 1, a10, b10, ta10, tb10, work, rng)]
    ok = True
    print()
    print("calib-serve under wrk (-t2 -c8, %d s per phase, --threads %d), %d model installs per phase"
          % (WRK_SECONDS, THREADS, INSTALLS))
    hdr = ("%-7s %-12s %9s %9s %8s %8s %7s %6s %8s %11s %8s %6s %11s %9s %9s %10s %11s"
           % ("phase", "batch", "requests", "req/s", "p50 ms", "p99 ms", "non2xx", "sockerr", "installs",
              "checked", "wrong", "mixed", "apply/req", "apply/CPU", "apply us", "request us", "load 1-min"))
    print(hdr)
    print("-" * len(hdr))
    for r in res:
        print("%-7s %-12s %9d %9.0f %8.2f %8.2f %7d %6d %8d %5d/%-5d %8d %6d %10.1f%% %8.1f%% %9.1f %10.1f %5.1f->%-5.1f"
              % (r["phase"], r["shape"], r["requests"], r["rps"], r["p50_ms"], r["p99_ms"], r["non2xx"], r["sock"],
                 r["installs"], r["checked"], r["rows"], r["wrong"], r["mixed"], 100 * r["share"],
                 100 * r["share_cpu"], r["apply_us"], r["request_us"], r["load"][0], r["load"][1]))
    print()
    for r in res:
        fails = []
        if r["non2xx"] or r["sock"]:
            fails.append("%d non-2xx responses %s, %d socket errors" % (r["non2xx"], r["statuses"], r["sock"]))
        if r["installs"] < INSTALLS:
            fails.append("only %d installs" % r["installs"])
        if r["wrong"] or r["mixed"] or r["unknown"]:
            fails.append("%d wrong rows, %d mixed responses, %d unknown versions" % (r["wrong"], r["mixed"], r["unknown"]))
        if r["checked"] < 20:
            fails.append("only %d checked responses" % r["checked"])
        if r["errors"]:
            fails.append("; ".join(r["errors"][:5]))
        if r["exit"] != 0:
            fails.append("server exit %d: %s" % (r["exit"], r["stderr"][-500:]))
        target = " (target <= 5 %%: %s)" % ("met" if r["share"] <= 0.05 else "MISSED") if r["phase"] == "k1000" else ""
        print("%s: calib_apply = %.2f %% of server request time%s, %.1f %% of the serving threads' CPU time; %s" % (
            r["phase"], 100 * r["share"], target, 100 * r["share_cpu"],
            "PASS" if not fails else "FAIL: " + " | ".join(fails)))
        ok = ok and not fails
    print("load: %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
