"""The gap table of issue 14: for each iterative fitter on the shipped logit
sets, the iterations, the estimated objective gap the fit reports
(CALIB_R_GAP), the true gap against scipy's optimum, and the condition number
it reports (CALIB_R_CONDITION).

True gap = F(library's parameters) - F(scipy's), F the fitter's own objective
(mean over rows; Platt with its smoothed targets; vector/matrix/Dirichlet with
the ODIR/L2 penalty of calib.h), evaluated in numpy in double. The references
run scipy.optimize.minimize, method "trust-exact" (analytic gradient and
Hessian, gtol 1e-15: they stop on their own rounding) or "trust-krylov"
(Hessian-vector products) for k = 100, from the library's own start. Where the
objective has an exactly flat softmax gauge (unregularised matrix / vector
intercepts), the reference fixes the last class's row (dirichletcal's ref_row):
the minimum value is the same. ETS: the weights on the face of the simplex the
library ends on, with the library's T (T is temperature scaling's, its own row).
A true gap of a few 1e-16 either way is the rounding of F itself.

Sets: data/cifar10_densenet40_markus93 (shipped), and the ../shared/data sets of
its README (CALIB_SHARED_DATA overrides): ResNet-50 and LeNet-5 / VGG-16 CIFAR-10,
LeNet-5 CIFAR-100 (Dirichlet only at k = 100), and two binary sets: DenseNet-40
class 0 vs rest (exact log-odds z_0 - logsumexp of the rest) and the COCO
detections. Usage, from a repository root with lib/libcalib.so built:
    /usr/bin/python3 bench/gap_table.py [--quick]
Run from another checkout (cd /work/main && python3 /path/to/bench/gap_table.py)
to get that library's figures (report items it lacks print as "-").
"""
import ctypes
import os
import sys
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit, log_softmax, logsumexp, softmax

LIB = ctypes.CDLL(os.path.join("lib", "libcalib.so"))
SHARED = os.environ.get("CALIB_SHARED_DATA", os.path.join("..", "shared", "data"))
VP, D = ctypes.c_void_p, ctypes.POINTER(ctypes.c_double)
LIB.calib_fitter_create.argtypes = [ctypes.POINTER(VP), ctypes.c_int]
LIB.calib_fitter_set.argtypes = [VP, ctypes.c_int, ctypes.c_double]
LIB.calib_fitter_report.argtypes = [VP, ctypes.c_int, D]
LIB.calib_fitter_free.argtypes = [VP]
LIB.calib_fit.argtypes = [VP, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_size_t,
                          ctypes.POINTER(ctypes.c_int64), D, ctypes.POINTER(VP)]
LIB.calib_model_param.argtypes = [VP, ctypes.c_int, D, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
LIB.calib_model_free.argtypes = [VP]

M = {"temperature": 1, "platt": 2, "beta": 3, "vector": 6, "matrix": 7, "dirichlet": 8, "ets": 9}
MP = {"T": 1, "platt": 2, "beta": 4, "vector_w": 15, "matrix_w": 16, "bias": 17, "ets_T": 20, "ets_w": 21}
R_IT, R_AFTER, R_GRAD, R_GAP, R_COND = 1, 3, 4, 6, 7
ODIR_DIRICHLET = 10.0  # calib.h defaults: Dirichlet lambda = mu = 10; vector/matrix unregularised


def lib_fit(method, x, y, opts=()):
    x = np.ascontiguousarray(x, np.float32)
    y = np.ascontiguousarray(y, np.int64)
    k = 1 if x.ndim == 1 else x.shape[1]
    f, m = VP(), VP()
    assert LIB.calib_fitter_create(ctypes.byref(f), M[method]) == 0
    for pid, v in opts:
        assert LIB.calib_fitter_set(f, pid, float(v)) == 0
    t0 = time.perf_counter()
    st = LIB.calib_fit(f, x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), len(y), k,
                       y.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), None, ctypes.byref(m))
    secs = time.perf_counter() - t0
    rep = {}
    for item in (R_IT, R_AFTER, R_GRAD, R_GAP, R_COND):
        v = ctypes.c_double(np.nan)
        rep[item] = v.value if LIB.calib_fitter_report(f, item, ctypes.byref(v)) == 0 else np.nan
    LIB.calib_fitter_free(f)
    if st != 0:
        raise RuntimeError("%s: status %d" % (method, st))
    par = {}
    for name, tag in MP.items():
        cnt = ctypes.c_size_t()
        buf = (ctypes.c_double * 20000)()
        if LIB.calib_model_param(m, tag, buf, 20000, ctypes.byref(cnt)) == 0:
            par[name] = np.array(buf[:cnt.value])
    LIB.calib_model_free(m)
    return rep, par, secs


def ref_min(f, g, h, x0, hessp=False):
    if hessp:
        r = minimize(f, x0, jac=g, hessp=h, method="trust-krylov", options={"gtol": 1e-13, "maxiter": 2000})
    else:
        r = minimize(f, x0, jac=g, hess=h, method="trust-exact", options={"gtol": 1e-15, "maxiter": 10000})
    return r.fun, r.x


# ---- the objectives ---------------------------------------------------------------

def temperature_problem(z, y):
    z = z.astype(np.float64)
    if z.ndim == 1:  # k = 1: p = sigmoid(beta x)
        s = np.where(y == 1, 1.0, -1.0) * z

        def f(b):
            return np.mean(-log_expit(b[0] * s))

        def g(b):
            return np.array([np.mean(-s * expit(-b[0] * s))])

        def h(b):
            p = expit(b[0] * s)
            return np.array([[np.mean(s * s * p * (1 - p))]])
        return f, g, h
    zy = z[np.arange(len(y)), y]

    def f(b):
        return np.mean(logsumexp(b[0] * z, axis=1) - b[0] * zy)

    def g(b):
        P = softmax(b[0] * z, axis=1)
        return np.array([np.mean(np.sum(P * z, axis=1) - zy)])

    def h(b):
        P = softmax(b[0] * z, axis=1)
        E = np.sum(P * z, axis=1)
        return np.array([[np.mean(np.sum(P * z * z, axis=1) - E * E)]])
    return f, g, h


def binary_lr_problem(F, t):
    """mean t softplus(-u) + (1 - t) softplus(u), u = F theta (F has the 1 column)."""
    def f(th):
        u = F @ th
        return np.mean(-t * log_expit(u) - (1 - t) * log_expit(-u))

    def g(th):
        return F.T @ (expit(F @ th) - t) / len(t)

    def h(th):
        p = expit(F @ th)
        return (F * (p * (1 - p))[:, None]).T @ F / len(t)
    return f, g, h


def multiclass_problem(X, y, k, lam, mu, fixed_last=False, vector=False, Z=None):
    """NLL of softmax(theta f) + ODIR (normalised: lambda/(k(k-1)), mu/k), theta
    k x d (matrix/Dirichlet: d = k + 1 over X; vector: rows (w_a, b_a) over Z)."""
    n = len(y)
    Y = np.zeros((n, k))
    Y[np.arange(n), y] = 1
    lam_n, mu_n = lam / (k * (k - 1)), mu / k
    d = 2 if vector else X.shape[1]
    off = np.ones((k, d))
    if not vector:
        off[np.arange(k), np.arange(k)] = 0
        off[:, -1] = 0
    else:
        off[:] = 0
    bias = np.zeros((k, d))
    bias[:, -1] = 1
    pen = lam_n * off + mu_n * bias

    def full(th):
        T = th.reshape(-1, d)
        return np.vstack([T, np.zeros((1, d))]) if fixed_last else T

    def logits(T):
        return Z * T[:, 0] + T[:, 1] if vector else X @ T.T

    def f(th):
        T = full(th)
        A = logits(T)
        return np.mean(logsumexp(A, axis=1) - A[np.arange(n), y]) + np.sum(pen * T * T)

    def g(th):
        T = full(th)
        R = (softmax(logits(T), axis=1) - Y) / n
        G = np.column_stack([np.sum(R * Z, axis=0), R.sum(axis=0)]) if vector else R.T @ X
        G = G + 2 * pen * T
        return (G[:-1] if fixed_last else G).ravel()

    def hessp(th, v):
        T = full(th)
        V = full(v)
        P = softmax(logits(T), axis=1)
        A = Z * V[:, 0] + V[:, 1] if vector else X @ V.T
        R = P * (A - np.sum(P * A, axis=1, keepdims=True)) / n
        G = np.column_stack([np.sum(R * Z, axis=0), R.sum(axis=0)]) if vector else R.T @ X
        G = G + 2 * pen * V
        return (G[:-1] if fixed_last else G).ravel()

    def h(th):
        m = th.size
        return np.column_stack([hessp(th, e) for e in np.eye(m)])
    return f, g, h, hessp


# ---- one row of the table per (set, fitter) -----------------------------------------

ROWS = []


def row(setname, method, rep, true_gap, note=""):
    ROWS.append((setname, method, rep[R_IT], rep[R_GAP], true_gap, rep[R_COND], rep[R_GRAD], note))


def run_temperature(name, z, y):
    rep, par, _ = lib_fit("temperature", z, y)
    f, g, h = temperature_problem(z, y)
    fmin, _ = ref_min(f, g, h, np.array([1.0 / par["T"][0]]))
    row(name, "temperature", rep, f(np.array([1.0 / par["T"][0]])) - fmin)


def run_ets(name, z, y):
    rep, par, _ = lib_fit("ets", z, y)
    T, w = par["ets_T"][0], par["ets_w"]
    zz = z.astype(np.float64)
    if zz.ndim == 1:
        s = np.where(y == 1, 1.0, -1.0) * zz
        comp = np.column_stack([expit(s / T), expit(s), np.full(len(y), 0.5)])
    else:
        idx = np.arange(len(y))
        comp = np.column_stack([softmax(zz / T, axis=1)[idx, y], softmax(zz, axis=1)[idx, y],
                                np.full(len(y), 1.0 / zz.shape[1])])
    free = np.flatnonzero(w > 0)
    base = np.zeros(3)

    def wv(u):  # the face: free weights, the last free one = 1 - the others
        v = base.copy()
        v[free[:-1]] = u
        v[free[-1]] = 1 - np.sum(u)
        return v

    def f(u):
        return -np.mean(np.log(comp @ wv(u)))

    def g(u):
        q = comp @ wv(u)
        return -np.mean((comp[:, free[:-1]] - comp[:, [free[-1]]]) / q[:, None], axis=0)

    def h(u):
        q = comp @ wv(u)
        Dm = (comp[:, free[:-1]] - comp[:, [free[-1]]]) / q[:, None]
        return Dm.T @ Dm / len(q)
    if len(free) < 2:
        tg = 0.0
    else:
        fmin, _ = ref_min(f, g, h, w[free[:-1]].copy())
        tg = f(w[free[:-1]]) - fmin
    row(name, "ets", rep, tg, "weights %s" % np.array2string(w, precision=3))


def run_platt(name, x, y):
    rep, par, _ = lib_fit("platt", x, y)
    A, B = par["platt"]
    npos, nneg = np.sum(y == 1), np.sum(y == 0)
    t = np.where(y == 1, (npos + 1.0) / (npos + 2.0), 1.0 / (nneg + 2.0))
    F = np.column_stack([-x.astype(np.float64), -np.ones(len(y))])  # u = -(A x + B)
    f, g, h = binary_lr_problem(F, t)
    fmin, _ = ref_min(f, g, h, np.array([A, B]))
    row(name, "platt", rep, f(np.array([A, B])) - fmin)


def run_beta(name, x, y):
    rep, par, _ = lib_fit("beta", x, y)
    a, b, c = par["beta"]
    xx = x.astype(np.float64)
    cols = [log_expit(xx), -log_expit(-xx)]
    keep = [j for j, v in enumerate((a, b)) if v != 0]  # betacal's kept features
    F = np.column_stack([cols[j] for j in keep] + [np.ones(len(y))])
    th = np.array([(a, b)[j] for j in keep] + [c])
    f, g, h = binary_lr_problem(F, y.astype(np.float64))
    fmin, _ = ref_min(f, g, h, th)
    row(name, "beta", rep, f(th) - fmin, "features %s" % ("ab"[keep[0]:keep[-1] + 1] if keep else "-"))


def run_matrix_family(name, z, y, method, odir=None):
    """odir: (lambda, mu) instead of the method's defaults."""
    rep, par, _ = lib_fit(method, z, y, () if odir is None else ((17, odir[0]), (18, odir[1])))
    k = z.shape[1]
    zz = z.astype(np.float64)
    lam = mu = ODIR_DIRICHLET if method == "dirichlet" else 0.0
    if odir is not None:
        lam, mu = odir
    if method == "vector":
        T = np.column_stack([par["vector_w"], par["bias"]])
        prob = multiclass_problem(None, y, k, 0, 0, fixed_last=False, vector=True, Z=zz)
        th_lib = T.ravel()
        # the gauge (one constant on every intercept) is flat: fix b_{k-1} = 0 in the reference
        T0 = T.copy()
        T0[:, 1] -= T0[-1, 1]
        f, g, h, hp = prob
        free = np.ones(2 * k, bool)
        free[-1] = False

        def fr(u):
            v = T0.ravel().copy()
            v[free] = u
            return v
        fmin, _ = ref_min(lambda u: f(fr(u)), lambda u: g(fr(u))[free], lambda u: h(fr(u))[np.ix_(free, free)],
                          T0.ravel()[free])
        row(name, method, rep, f(th_lib) - fmin)
        return
    X = np.column_stack([log_softmax(zz, axis=1) if method == "dirichlet" else zz, np.ones(len(y))])
    T = np.column_stack([par["matrix_w"].reshape(k, k), par["bias"]])
    fixed = lam == 0 and mu == 0
    f, g, h, hp = multiclass_problem(X, y, k, lam, mu, fixed_last=fixed)
    f_full = multiclass_problem(X, y, k, lam, mu)[0]
    th0 = ((T - T[-1])[:-1] if fixed else T).ravel()
    if k > 20:
        fmin, _ = ref_min(f, g, hp, th0, hessp=True)
    else:
        fmin, _ = ref_min(f, g, h, th0)
    row(name, method, rep, f_full(T.ravel()) - fmin, "" if odir is None else "lambda = mu = %g" % odir[0])


def load(name, split="val"):
    if name == "cifar10_densenet40_markus93":
        d = os.path.join("data", name, split)
        return np.load(os.path.join(d, "logits.npy")).astype(np.float32), \
            np.load(os.path.join(d, "labels.npy")).astype(np.int64)
    d = os.path.join(SHARED, name, split)
    y = np.fromfile(os.path.join(d, "labels.i32"), np.int32).astype(np.int64)
    z = np.fromfile(os.path.join(d, "logits.f32"), np.float32)
    return (z if z.size == y.size else z.reshape(y.size, -1)), y


def main():
    quick = "--quick" in sys.argv
    multi = ["cifar10_densenet40_markus93", "cifar10_resnet50_ce_calibrator", "cifar10_lenet5_netcal",
             "cifar10_vgg16_kumar"]
    if quick:
        multi = multi[:2]
    for name in multi:
        try:
            z, y = load(name)
        except OSError:
            print("(missing: %s)" % name, file=sys.stderr)
            continue
        short = name.split("_")[0] + "_" + name.split("_")[1]
        run_temperature(short, z, y)
        run_ets(short, z, y)
        for method in ("vector", "matrix", "dirichlet"):
            run_matrix_family(short, z, y, method)
    if not quick:
        try:
            z, y = load("cifar100_lenet5_netcal")
            run_matrix_family("cifar100_lenet5", z, y, "dirichlet")
            run_matrix_family("cifar100_lenet5", z, y, "dirichlet", odir=(1e-3, 1e-3))  # the weak ODIR
        except OSError:
            print("(missing: cifar100_lenet5_netcal)", file=sys.stderr)
    z, y = load("cifar10_densenet40_markus93")
    x0 = (z[:, 0].astype(np.float64) - logsumexp(np.delete(z.astype(np.float64), 0, axis=1), axis=1)).astype(np.float32)
    binary = [("densenet40 class0", x0, (y == 0).astype(np.int64))]
    try:
        xc, yc = load("coco_faster_rcnn_r50_binary_netcal")
        binary.append(("coco_frcnn binary", xc, yc))
    except OSError:
        print("(missing: coco_faster_rcnn_r50_binary_netcal)", file=sys.stderr)
    for name, x, yb in binary:
        run_temperature(name, x, yb)
        run_platt(name, x, yb)
        run_beta(name, x, yb)
        run_ets(name, x, yb)

    print("%-18s %-12s %6s %12s %12s %12s %12s  %s" % ("set", "fitter", "iters", "est. gap", "true gap",
                                                         "condition", "gradient", "note"))
    for r in ROWS:
        def fmt(v):
            return "%12s" % "-" if v is None or np.isnan(v) else "%12.2e" % v
        print("%-18s %-12s %6d %s %s %s %s  %s" % (r[0], r[1], r[2], fmt(r[3]), fmt(r[4]), fmt(r[5]), fmt(r[6]), r[7]))


if __name__ == "__main__":
    main()
