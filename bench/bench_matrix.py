"""bench_matrix.py -- matrix scaling fit on (50000, 100): libcalib's calib_fit
(ctypes on lib/libcalib.so: dgemm passes, Newton-CG beyond newton_max, see src/README.md)
versus the scipy reference of test/py/test_matrix.py (the same objective in
numpy float64 with its analytic gradient, scipy.optimize.minimize
L-BFGS-B from the identity map, gtol 1e-9, ftol 1e-15), side by side.

Data: synthetic float32 logits of 100 classes, a fixed seed: class c's
rows carry +2.5 on logit c over correlated Gaussian noise, scaled by 2 with
per-class offsets -- an unregularised matrix-scaling problem with a finite,
well-defined optimum (accuracy ~46 %).
Protocol: every buffer (libcalib's float32 inputs, scipy's float64 design
matrix) is built and read before timing; single thread on both sides
(OPENBLAS_NUM_THREADS=1, set by bench/run.sh and here by default); libcalib is
timed over --reps fits (median and minimum reported), scipy once (it takes
tens of seconds). Both answers are scored by the same numpy NLL; the run
checks NLL(ours) <= NLL(scipy) * (1 + 1e-9), i.e. equal to 9 significant
digits or lower, and fails otherwise.

Output: a small table and one machine-readable line
  RESULT matrix_fit n=<n> k=<k> ours_s=<median> scipy_s=<t> speedup=<ratio> nll_ours=<..> nll_scipy=<..>
Usage (repository root, after `make`):
  /usr/bin/python3 bench/bench_matrix.py [--n N] [--k K] [--reps R] [--seed S]
Exit status 0, or 1 if libcalib's NLL is above scipy's. Writes
build/bench/matrix.json (bench/benchjson.py).
"""
import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import ctypes  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402
from scipy.special import logsumexp  # noqa: E402

import benchjson  # noqa: E402  bench/: the JSON-lines records

D = ctypes.POINTER(ctypes.c_double)
F = ctypes.POINTER(ctypes.c_float)
I64 = ctypes.POINTER(ctypes.c_int64)
SZ = ctypes.c_size_t
VP = ctypes.c_void_p
C = {m.group(1): int(m.group(2)) for m in
     re.finditer(r"#define\s+(CALIB_\w+)\s+(-?\d+)\b", open(os.path.join("include", "calib.h")).read())}


def make_data(n, k, seed):
    r = np.random.default_rng(seed)
    y = r.integers(0, k, n)
    mix = np.eye(k) + 0.2 * r.normal(0, 1, (k, k)) / np.sqrt(k)
    z = r.normal(0, 1, (n, k)) @ mix
    z[np.arange(n), y] += 2.5
    z = 2.0 * z + r.normal(0, 0.5, k)
    return np.ascontiguousarray(z, dtype=np.float32), y.astype(np.int64)


def load_lib(path):
    lib = ctypes.CDLL(path)
    lib.calib_fitter_create.argtypes = [ctypes.POINTER(VP), ctypes.c_int]
    lib.calib_fitter_free.argtypes = [VP]
    lib.calib_fitter_report.argtypes = [VP, ctypes.c_int, D]
    lib.calib_fit.argtypes = [VP, F, SZ, SZ, I64, D, ctypes.POINTER(VP)]
    lib.calib_model_param.argtypes = [VP, ctypes.c_int, D, SZ, ctypes.POINTER(SZ)]
    lib.calib_model_free.argtypes = [VP]
    return lib


def ours_once(lib, z, y):
    n, k = z.shape
    f, m = VP(), VP()
    assert lib.calib_fitter_create(ctypes.byref(f), C["CALIB_METHOD_MATRIX"]) == 0
    t0 = time.perf_counter()
    st = lib.calib_fit(f, z.ctypes.data_as(F), n, k, y.ctypes.data_as(I64), None, ctypes.byref(m))
    t = time.perf_counter() - t0
    it = ctypes.c_double()
    lib.calib_fitter_report(f, C["CALIB_R_ITERATIONS"], ctypes.byref(it))
    lib.calib_fitter_free(f)
    if st != 0:
        raise SystemExit("calib_fit failed: status %d" % st)
    W, b, c = np.zeros(k * k), np.zeros(k), SZ()
    lib.calib_model_param(m, C["CALIB_MP_MATRIX_W"], W.ctypes.data_as(D), k * k, ctypes.byref(c))
    lib.calib_model_param(m, C["CALIB_MP_BIAS"], b.ctypes.data_as(D), k, ctypes.byref(c))
    lib.calib_model_free(m)
    return t, np.hstack([W.reshape(k, k), b[:, None]]).ravel(), it.value


def reference(X1, y, k):
    n = len(y)
    rows = np.arange(n)
    evals = [0]

    def fg(theta):
        evals[0] += 1
        T = theta.reshape(k, k + 1)
        A = X1 @ T.T
        lse = logsumexp(A, axis=1)
        f = np.mean(lse - A[rows, y])
        P = np.exp(A - lse[:, None])
        P[rows, y] -= 1.0
        return f, (P.T @ X1 / n).ravel()

    th0 = np.hstack([np.eye(k), np.zeros((k, 1))]).ravel()
    t0 = time.perf_counter()
    r = scipy.optimize.minimize(fg, th0, jac=True, method="L-BFGS-B",
                                options=dict(maxiter=100000, maxfun=200000, gtol=1e-9, ftol=1e-15, maxcor=10))
    return time.perf_counter() - t0, r.x, r.nit, evals[0]


def nll(X1, y, k, theta):
    A = X1 @ theta.reshape(k, k + 1).T
    return float(np.mean(logsumexp(A, axis=1) - A[np.arange(len(y)), y]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lib", default=os.path.join("lib", "libcalib.so"))
    a = ap.parse_args()
    z, y = make_data(a.n, a.k, a.seed)
    X1 = np.hstack([z.astype(np.float64), np.ones((a.n, 1))])  # scipy's design matrix, built untimed
    X1.sum(), z.sum(), y.sum()  # pre-touch
    lib = load_lib(a.lib)
    ours = [ours_once(lib, z, y) for _ in range(a.reps)]
    times = [t for t, _, _ in ours]
    t_ours, th_ours, iters = statistics.median(times), ours[0][1], ours[0][2]
    t_ref, th_ref, nit, nev = reference(X1, y, a.k)
    l_ours, l_ref = nll(X1, y, a.k, th_ours), nll(X1, y, a.k, th_ref)
    speed = t_ref / t_ours
    ok = l_ours <= l_ref * (1 + 1e-9)
    print("matrix scaling fit, synthetic (%d, %d), %d parameters, single thread" % (a.n, a.k, a.k * (a.k + 1)))
    print("  %-34s %9s %9s %22s" % ("", "median s", "min s", "NLL (numpy, float64)"))
    print("  %-34s %9.3f %9.3f %22.15f" % ("libcalib calib_fit (%g solver it.)" % iters, t_ours, min(times), l_ours))
    print("  %-34s %9.3f %9s %22.15f" % ("scipy L-BFGS-B (%d it., %d evals)" % (nit, nev), t_ref, "", l_ref))
    print("  speedup %.1fx (target >= 10x); NLL ours - scipy = %+.2e (%s: equal to 1e-9 or lower)"
          % (speed, l_ours - l_ref, "PASS" if ok else "FAIL"))
    print("RESULT matrix_fit n=%d k=%d ours_s=%.4f scipy_s=%.4f speedup=%.2f nll_ours=%.15g nll_scipy=%.15g"
          % (a.n, a.k, t_ours, t_ref, speed, l_ours, l_ref))
    benchjson.write("matrix", [
        benchjson.record("matrix", "matrix scaling fit (%d, %d)" % (a.n, a.k), seconds=t_ours,
                         anchor="scipy L-BFGS-B", anchor_seconds=t_ref, target="scipy time / calib_fit time >= 10",
                         met=speed >= 10, n=a.n, k=a.k),
        benchjson.record("matrix", "matrix scaling fit (%d, %d): NLL(ours) <= NLL(scipy) (1 + 1e-9)" % (a.n, a.k),
                         target="NLL(ours) / NLL(scipy) - 1 <= 1e-9", value=l_ours / l_ref - 1, met=ok, n=a.n, k=a.k),
    ])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
