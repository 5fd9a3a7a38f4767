"""bench_matrix_scale.py -- matrix-family fits as k grows (issue 12 part 4):
libcalib's calib_fit (ctypes on lib/libcalib.so) against scipy's L-BFGS-B on
the same objective, side by side in one run, single thread.

Shapes:
  real   cifar100_lenet5_netcal val split (n = 5000, k = 100; LeNet-5 CIFAR-100
         log-probabilities, ../shared/data): Dirichlet ODIR (default lambda =
         mu = 10), Dirichlet L2 (l2 = 10, no ODIR), Dirichlet none, matrix ODIR
         (lambda = mu = 10), matrix none.            target: <= 10 s each
  synth  k = 1000, n = 10000 rows (bench/bench_matrix.py's make_data, seed 1):
         vector scaling (no penalty), Dirichlet ODIR default.  target: <= 60 s each
Unregularised matrix/Dirichlet scaling on 5000 rows of 100 classes
(10100 parameters) is separable: the fit's answer is the documented
CALIB_E_SEPARABLE certificate, timed like a fit; the infimum of the
objective is then 0, below anything scipy reaches.

The objective of every answer is scored by the same numpy float64 function:
test/py/test_matrix.py's Objective (mean NLL + ODIR/L2 penalty, calib.h's
normalisation). The reference is scipy.optimize.minimize(method="L-BFGS-B")
on that Objective with its analytic gradient, from the identity map, gtol
1e-10, ftol 1e-15, maxcor 10, capped by a wall-clock budget per case
(--scipy-budget, default 120 s for k = 100 and 300 s for k = 1000; the issue
saw scipy stop at its 4000-iteration limit after 360 s): the reference value
is the lowest objective scipy evaluated before the cap (or at its own stop).
scipy's time is reported as the time it ran, with "cap" when it was cut.
Target met: seconds <= target and obj <= scipy_obj (1 + 1e-9) (separable:
the certificate within the time).

Protocol: buffers (float32 logits, int64 labels, numpy's float64 features)
built and read before timing; OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1;
libcalib timed once per case (a fit is seconds long; run in a child process
and stopped after --cap x its target, default 5x, status "stopped at .. s"),
scipy once.
Output: a table, a MISSED line per target not met, and JSON lines appended
to build/bench/matrix_scale.json (one per case; the file is rewritten per run;
a k = 100 case whose data is absent is a record with met false and status
"not run: ..", and a MISSED line: a target not judged is not met):
  {"table":"matrix_scale","method":..,"reg":..,"n":..,"k":..,"seconds":..,
   "scipy_seconds":..,"obj":..,"scipy_obj":..,"target":"<= 10 s","value":..,"met":..}
Usage (repository root, after `make`):
  /usr/bin/python3 bench/bench_matrix_scale.py [--only k100|k1000] [--no-scipy]
      [--scipy-budget S] [--lib lib/libcalib.so] [--json PATH]
"""
import argparse
import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import ctypes  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "py"))
sys.path.insert(0, HERE)
from test_matrix import Objective  # noqa: E402  (the reference formulation)
from bench_matrix import make_data  # noqa: E402

D = ctypes.POINTER(ctypes.c_double)
F = ctypes.POINTER(ctypes.c_float)
I64 = ctypes.POINTER(ctypes.c_int64)
SZ = ctypes.c_size_t
VP = ctypes.c_void_p
C = {m.group(1): int(m.group(2)) for m in
     re.finditer(r"#define\s+(CALIB_\w+)\s+(-?\d+)\b", open(os.path.join("include", "calib.h")).read())}
DATA = os.environ.get("CALIB_SHARED_DATA", os.path.join("..", "shared", "data"))
REAL_N = 5000  # rows of the real set's val split (load_real)
METHOD = {"vector": "CALIB_METHOD_VECTOR", "matrix": "CALIB_METHOD_MATRIX", "dirichlet": "CALIB_METHOD_DIRICHLET"}
# regulariser name -> (lambda, mu, l2)
REGS = {"odir": (10.0, 10.0, 0.0), "l2": (0.0, 0.0, 10.0), "none": (0.0, 0.0, 0.0)}


def _child(path, method, z, y, reg, conn):
    lib = load_lib(path)
    conn.send(ours(lib, method, z, y, reg))
    conn.close()


def ours_capped(path, method, z, y, reg, cap):
    """ours() in a child process, killed after `cap` seconds: (status, seconds,
    theta, report), status None when the cap was hit."""
    import multiprocessing as mp
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe(False)
    t0 = time.perf_counter()
    pr = ctx.Process(target=_child, args=(path, method, z, y, reg, b))
    pr.start()
    got = a.poll(cap)
    if got:
        res = a.recv()
        pr.join()
        return res
    pr.kill()
    pr.join()
    return None, time.perf_counter() - t0, None, {"iterations": float("nan"), "gap": float("nan"),
                                                  "condition": float("nan"), "gradient": float("nan"),
                                                  "nll_after": float("nan")}


def load_lib(path):
    lib = ctypes.CDLL(path)
    lib.calib_fitter_create.argtypes = [ctypes.POINTER(VP), ctypes.c_int]
    lib.calib_fitter_set.argtypes = [VP, ctypes.c_int, ctypes.c_double]
    lib.calib_fitter_free.argtypes = [VP]
    lib.calib_fitter_report.argtypes = [VP, ctypes.c_int, D]
    lib.calib_fit.argtypes = [VP, F, SZ, SZ, I64, D, ctypes.POINTER(VP)]
    lib.calib_model_param.argtypes = [VP, ctypes.c_int, D, SZ, ctypes.POINTER(SZ)]
    lib.calib_model_free.argtypes = [VP]
    lib.calib_strerror.argtypes = [ctypes.c_int]
    lib.calib_strerror.restype = ctypes.c_char_p
    return lib


def ours(lib, method, z, y, reg):
    n, k = z.shape
    lam, mu, l2 = REGS[reg]
    f, m = VP(), VP()
    assert lib.calib_fitter_create(ctypes.byref(f), C[METHOD[method]]) == 0
    opts = {C["CALIB_P_ODIR_MU"]: mu, C["CALIB_P_L2"]: l2}
    if method != "vector":
        opts[C["CALIB_P_ODIR_LAMBDA"]] = lam
    for p, v in opts.items():
        assert lib.calib_fitter_set(f, p, v) == 0
    t0 = time.perf_counter()
    st = lib.calib_fit(f, z.ctypes.data_as(F), n, k, y.ctypes.data_as(I64), None, ctypes.byref(m))
    t = time.perf_counter() - t0
    rep = {}
    for name in ("ITERATIONS", "GRADIENT", "GAP", "CONDITION", "NLL_AFTER"):
        v = ctypes.c_double()
        lib.calib_fitter_report(f, C["CALIB_R_" + name], ctypes.byref(v))
        rep[name.lower()] = v.value
    lib.calib_fitter_free(f)
    theta = None
    if st == 0:
        c = SZ()
        b = np.zeros(k)
        lib.calib_model_param(m, C["CALIB_MP_BIAS"], b.ctypes.data_as(D), k, ctypes.byref(c))
        if method == "vector":
            w = np.zeros(k)
            lib.calib_model_param(m, C["CALIB_MP_VECTOR_W"], w.ctypes.data_as(D), k, ctypes.byref(c))
            theta = np.concatenate([w, b])
        else:
            W = np.zeros(k * k)
            lib.calib_model_param(m, C["CALIB_MP_MATRIX_W"], W.ctypes.data_as(D), k * k, ctypes.byref(c))
            theta = np.hstack([W.reshape(k, k), b[:, None]]).ravel()
        lib.calib_model_free(m)
    return st, t, theta, rep


class _Cap(Exception):
    pass


def scipy_ref(obj, budget):
    """L-BFGS-B on obj from the identity; cut at `budget` seconds: (seconds,
    lowest objective evaluated, iterations, cut?)."""
    best = [np.inf]
    nit = [0]
    t0 = time.perf_counter()

    def fg(theta):
        if time.perf_counter() - t0 > budget:
            raise _Cap()
        f, g = obj(theta)
        if f < best[0]:
            best[0] = f
        return f, g

    def cb(_x):
        nit[0] += 1

    cut = False
    try:
        scipy.optimize.minimize(fg, obj.identity(), jac=True, method="L-BFGS-B", callback=cb,
                                options=dict(maxiter=100000, maxfun=200000, gtol=1e-10, ftol=1e-15, maxcor=10))
    except _Cap:
        cut = True
    return time.perf_counter() - t0, float(best[0]), nit[0], cut


def load_real():
    d = os.path.join(DATA, "cifar100_lenet5_netcal", "val")
    z = np.fromfile(os.path.join(d, "logits.f32"), dtype=np.float32)
    y = np.fromfile(os.path.join(d, "labels.i32"), dtype=np.int32).astype(np.int64)
    return np.ascontiguousarray(z.reshape(len(y), -1)), y


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


def record(method, reg, n, k, src, status, target, value, met, **extra):
    """A case's JSON record: the fields every case has, then the run's own (extra)."""
    rec = {"table": "matrix_scale", "method": method, "reg": reg, "n": n, "k": k, "data": src, "status": status}
    rec.update(extra)
    rec.update({"target": "<= %g s" % target, "value": value, "met": met, "loadavg": loadavg()})
    return rec


def write_record(path, rec, first):
    """One JSON line of the table: the run's first record rewrites the file."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w" if first else "a") as fh:
        fh.write(json.dumps(rec) + "\n")


def cases(only):
    out = []
    if only in (None, "k100"):
        for method, reg in (("dirichlet", "odir"), ("dirichlet", "l2"), ("dirichlet", "none"),
                            ("matrix", "odir"), ("matrix", "none")):
            out.append(("cifar100_lenet5", method, reg, 10.0))
    if only in (None, "k1000"):
        for method, reg in (("vector", "none"), ("dirichlet", "odir")):
            out.append(("synthetic", method, reg, 60.0))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=("k100", "k1000"))
    ap.add_argument("--case", help="method:reg, e.g. dirichlet:odir (others skipped)")
    ap.add_argument("--no-scipy", action="store_true")
    ap.add_argument("--scipy-budget", type=float, help="seconds per scipy run (default 120 k=100, 300 k=1000)")
    ap.add_argument("--lib", default=os.path.join("lib", "libcalib.so"))
    ap.add_argument("--json", default=os.path.join("build", "bench", "matrix_scale.json"))
    ap.add_argument("--n1000", type=int, default=10000, help="rows of the k = 1000 set")
    ap.add_argument("--cap", type=float, default=5.0, help="libcalib's fit is stopped after CAP x its target (s)")
    a = ap.parse_args()
    libpath = os.path.abspath(a.lib)
    lib = load_lib(libpath)
    data = {}
    rows, missed = [], []
    print("matrix-family fits as k grows, single thread (OPENBLAS_NUM_THREADS=%s); load average %s"
          % (os.environ.get("OPENBLAS_NUM_THREADS"), loadavg()))
    for src, method, reg, target in cases(a.only):
        if a.case and a.case != "%s:%s" % (method, reg):
            continue
        if src not in data:
            if src == "synthetic":
                data[src] = make_data(a.n1000, 1000, 1)
            else:
                if not os.path.exists(os.path.join(DATA, "cifar100_lenet5_netcal")):
                    # a target that could not be judged is not met: a record and a MISSED line,
                    # so a run without ../shared never reads as complete
                    status = "not run: %s has no cifar100_lenet5_netcal" % DATA
                    rows.append(record(method, reg, REAL_N, 100, src, status, target, None, False))
                    print("  %-16s %-9s %-4s n=%-5d k=%-4d %s  target <= %g s: MISSED"
                          % (src, method, reg, REAL_N, 100, status, target))
                    missed.append("MISSED matrix_scale %s %s (%d, 100): %s" % (method, reg, REAL_N, status))
                    write_record(a.json, rows[-1], len(rows) == 1)
                    continue
                data[src] = load_real()
        z, y = data[src]
        n, k = z.shape
        lam, mu, l2 = REGS[reg]
        obj = Objective(method, z, y, lam if method != "vector" else 0.0, mu, l2, 1)
        obj.X.sum(), z.sum(), y.sum()  # pre-touch
        st, t, theta, rep = ours_capped(libpath, method, z, y, reg, a.cap * target)
        sep = st == C["CALIB_E_SEPARABLE"]
        f_ours = obj(theta)[0] if theta is not None else (0.0 if sep else float("nan"))
        if a.no_scipy:
            ts, fs, nit, cut = float("nan"), float("nan"), 0, False
        else:
            budget = a.scipy_budget or (120.0 if k <= 100 else 300.0)
            ts, fs, nit, cut = scipy_ref(obj, budget)
        obj_ok = sep or (st == 0 and (not np.isfinite(fs) or f_ours <= fs + 1e-9 * abs(fs)))
        met = bool(st in (0, C["CALIB_E_SEPARABLE"]) and t <= target and obj_ok)
        status = "ok" if st == 0 else ("stopped at %g s" % (a.cap * target) if st is None
                                       else lib.calib_strerror(st).decode())
        rows.append(record(method, reg, n, k, src, status, target, round(t, 4), met,
                           seconds=round(t, 4), scipy_seconds=None if a.no_scipy else round(ts, 2),
                           scipy_capped=cut, scipy_iterations=nit, obj=f_ours,
                           scipy_obj=None if a.no_scipy else fs, iterations=rep["iterations"],
                           gap=rep["gap"], condition=rep["condition"]))
        print("  %-16s %-9s %-4s n=%-5d k=%-4d %-10s %8.2f s  obj %.12g | scipy %7.1f s%s %5d it obj %.12g | "
              "it %g gap %.1e cond %.1e  target <= %g s: %s"
              % (src, method, reg, n, k, status, t, f_ours, ts, " (cap)" if cut else "      ", nit, fs,
                 rep["iterations"], rep["gap"], rep["condition"], target, "met" if met else "MISSED"))
        sys.stdout.flush()
        if not met:
            missed.append("MISSED matrix_scale %s %s (%d, %d): %.2f s (target <= %g s), obj %.12g vs scipy %.12g, %s"
                          % (method, reg, n, k, t, target, f_ours, fs, status))
        write_record(a.json, rows[-1], len(rows) == 1)
    for line in missed:
        print(line)
    print("wrote %s (%d records)" % (a.json, len(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
