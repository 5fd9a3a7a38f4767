"""bench_isotonic.py [BINARY [WORKDIR]] -- isotonic regression, libcalib vs
scikit-learn, side by side in one run (single thread).

Builds bench/bench_isotonic.c against lib/libcalib.a into BINARY (default
build/bench/bench_isotonic) unless BENCH_ISO_NOBUILD=1, then for n = 10^6
and 10^7:
  data   scores with ties: x = float32(round(z, 3)), z ~ N(0, 1) (about 8000
         distinct values), labels ~ Bernoulli(sigmoid(2 z)); 10^6 test scores
         float32(N(0, 1.2^2)) (some outside the fitted range: clipped);
  fit    scikit-learn IsotonicRegression(out_of_bounds='clip').fit on the
         float64 copies, against calib_isotonic_fit_f64_work (same float64
         input, in a caller workspace allocated and pre-touched before
         timing) and calib_fit(CALIB_METHOD_ISOTONIC) (the float32 scores and
         int64 labels: the library's calibration API; one fitter reused
         across the repetitions, so the first pays the page faults of the
         scratch the fitter keeps and the median does not); plus, for
         information only (no target), calib_isotonic_fit_f64, which
         allocates its workspace in every call (fresh pages: page faults);
  predict scikit-learn .predict on the 10^6 test scores (float64), against
         calib_isotonic_predict_f64 (float64) and calib_apply (float32 in/out).
Outputs are checked identical: the thresholds of the three libcalib fits must
equal scikit-learn's X_thresholds_/y_thresholds_ exactly, predict_f64 must
equal .predict exactly, and calib_apply must equal float32(.predict).
Timings: median of BENCH_ISO_REPS (default 3) runs; the C side pre-touches
every caller buffer, the workspace included (the project's rule: caller
buffers, pre-touched in the benchmarks; scikit-learn allocates its own
scratch inside .fit, which cannot be pre-touched). Prints a table with the
speed-up ratios and writes build/bench/isotonic.json (bench/benchjson.py):
the two fits with the >= 5x target, the allocating fit and the predicts with
their ratio (no target), every line's identical-output check.
"""
import os
import subprocess
import sys
import time

import numpy as np
from sklearn.isotonic import IsotonicRegression

import benchjson  # bench/: the JSON-lines records

SIZES = (10**6, 10**7)
NT = 10**6


def build(binary):
    # the libraries lib/libcalib.a needs after it, as the Makefile computes them
    libs = subprocess.run(["make", "-s", "print-static-libs"], check=True, capture_output=True,
                          text=True).stdout.split()
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-O2", "-std=c99", "-Iinclude", "bench/bench_isotonic.c", "lib/libcalib.a"] + libs + \
          ["-lpthread", "-o", binary]
    subprocess.run(cmd, check=True)


def make_data(n, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    x = np.round(z, 3).astype(np.float32)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-2.0 * z))).astype(np.int64)
    t = (1.2 * rng.standard_normal(NT)).astype(np.float32)
    return x, y, t


def median_time(fn, reps):
    ts, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2], out


def read_table(path):
    a = np.fromfile(path, dtype=np.float64)
    m = int(a[0])
    return a[1:1 + m], a[1 + m:1 + 2 * m]


def run_size(binary, workdir, n, reps):
    x, y, t = make_data(n, 2024 + n % 997)
    x.tofile(os.path.join(workdir, "iso_x.f32"))
    y.tofile(os.path.join(workdir, "iso_y.i64"))
    t.tofile(os.path.join(workdir, "iso_t.f32"))
    out = subprocess.run([binary, workdir, str(n), str(NT), str(reps)], check=True,
                         capture_output=True, text=True).stdout
    ours = {}
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "RESULT":
            ours[f[1]] = float(f[2])
    x64, y64, t64 = x.astype(np.float64), y.astype(np.float64), t.astype(np.float64)
    sk_fit_s, r = median_time(lambda: IsotonicRegression(out_of_bounds="clip").fit(x64, y64), reps)
    sk_pred_s, pred = median_time(lambda: r.predict(t64), max(reps, 5))
    xf, yf = read_table(os.path.join(workdir, "iso_thr_f64.f64"))
    xa, ya = read_table(os.path.join(workdir, "iso_thr_f64_alloc.f64"))
    xc, yc = read_table(os.path.join(workdir, "iso_thr_calib.f64"))
    pf = np.fromfile(os.path.join(workdir, "iso_pred_f64.f64"), dtype=np.float64)
    pa = np.fromfile(os.path.join(workdir, "iso_apply.f32"), dtype=np.float32)
    same = {
        "fit_f64": np.array_equal(xf, r.X_thresholds_) and np.array_equal(yf, r.y_thresholds_),
        "fit_f64_alloc": np.array_equal(xa, r.X_thresholds_) and np.array_equal(ya, r.y_thresholds_),
        "fit_calib": np.array_equal(xc, r.X_thresholds_) and np.array_equal(yc, r.y_thresholds_),
        "pred_f64": np.array_equal(pf, pred),
        "apply": np.array_equal(pa, pred.astype(np.float32)),
    }
    for name in ("iso_x.f32", "iso_y.i64", "iso_t.f32", "iso_thr_f64.f64", "iso_thr_f64_alloc.f64",
                 "iso_thr_calib.f64", "iso_pred_f64.f64", "iso_apply.f32"):
        os.remove(os.path.join(workdir, name))
    return {"n": n, "m": len(r.X_thresholds_), "sk_fit": sk_fit_s, "sk_pred": sk_pred_s,
            "ours": ours, "same": same}


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join("build", "bench", "bench_isotonic")
    workdir = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(binary) or "."
    os.makedirs(workdir, exist_ok=True)
    os.makedirs(os.path.dirname(binary) or ".", exist_ok=True)
    if os.environ.get("BENCH_ISO_NOBUILD") != "1":
        build(binary)
    reps = int(os.environ.get("BENCH_ISO_REPS", "3"))
    rows = [run_size(binary, workdir, n, reps) for n in SIZES]
    print()
    print("Isotonic regression: libcalib vs scikit-learn IsotonicRegression (single thread, median of %d)" % reps)
    print("scores with ties (float32(round(N(0,1), 3))), labels ~ Bernoulli(sigmoid(2z)); predict on %d scores" % NT)
    print("libcalib buffers pre-touched before timing, the _work fit's workspace included; calib_fit reuses one")
    print("fitter (its kept scratch is paged in after the first repetition); '(info)' lines have no target")
    print("%-10s %9s %-48s %10s %10s %8s %9s" % ("n", "thresh", "operation", "sklearn s", "libcalib s",
                                                 "speed-up", "identical"))
    ok = True
    recs = []
    for row in rows:
        o, s = row["ours"], row["same"]
        items = [("fit: calib_isotonic_fit_f64_work (float64)", row["sk_fit"], o["fit_f64"], s["fit_f64"]),
                 ("fit: calib_fit isotonic (float32 scores)", row["sk_fit"], o["fit_calib"], s["fit_calib"]),
                 ("(info) fit: calib_isotonic_fit_f64, allocating", row["sk_fit"], o["fit_f64_alloc"],
                  s["fit_f64_alloc"]),
                 ("predict 1e6: calib_isotonic_predict_f64", row["sk_pred"], o["pred_f64"], s["pred_f64"]),
                 ("predict 1e6: calib_apply (float32)", row["sk_pred"], o["apply"], s["apply"])]
        for name, theirs, mine, same in items:
            ok = ok and same
            fit = name.startswith("fit")  # the "(info)" line has no target
            recs.append(benchjson.record("isotonic", "n = %d %s" % (row["n"], name), seconds=mine,
                                         anchor="sklearn IsotonicRegression", anchor_seconds=theirs,
                                         target="sklearn time / libcalib time >= 5" if fit else None,
                                         met=theirs / mine >= 5 if fit else None, n=row["n"]))
            recs.append(benchjson.record("isotonic", "n = %d %s: identical to sklearn" % (row["n"], name),
                                         target="identical output", value=1.0 if same else 0.0, met=same,
                                         n=row["n"]))
            print("%-10d %9d %-48s %10.4f %10.4f %7.1fx %9s" % (row["n"], row["m"], name, theirs, mine,
                                                               theirs / mine, "yes" if same else "NO"))
    benchjson.write("isotonic", recs)
    if not ok:
        print("bench_isotonic: OUTPUT MISMATCH with scikit-learn")
        sys.exit(1)


if __name__ == "__main__":
    main()
