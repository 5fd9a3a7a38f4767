#!/usr/bin/env python3
"""test_ets.py -- ensemble temperature scaling against an independent scipy
reference of the same objective (Zhang, Kailkhura & Han 2020, Mix-n-Match).

Reference, in numpy/scipy only:
  T: temperature scaling by NLL, scipy.optimize.minimize_scalar (bounded, on
     beta = 1/T, xatol 1e-13);
  w: minimise over the simplex {w >= 0, w1 + w2 + w3 = 1}, with T fixed, the
     mean NLL -ln(w . (p1_y, p2_y, 1/k)) or the MSE mean (p - onehot)^2 as
     Mix-n-Match writes it (its mean over n*k entries has the same minimiser as
     calib.h's per-row sum), by scipy.optimize.minimize(method="SLSQP") with the
     equality constraint and [0, 1] bounds, ftol 1e-15, analytic gradient.
Checks, for cifar10_densenet40_markus93 (k = 10), cifar100_lenet5_netcal
(k = 100) and the COCO detection set (k = 1), both losses: T to 1e-6
relative; libcalib's weights are not worse than SLSQP's for the reference
objective (1e-9 relative), and agree with them to 1e-4; the test-split
probabilities of the two fitted maps agree to 1e-5.
Run from the repository root: PYTHONPATH=python /usr/bin/python3 test/py/test_ets.py
"""
import os
import re
import sys

try:
    import numpy as np
    import scipy.optimize
    from scipy.special import expit, log_expit, log_softmax, softmax
except ImportError as e:  # pragma: no cover
    print("skipped: numpy/scipy not available (%s)" % e)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctlib  # noqa: E402  (loads lib/libcalib.so or skips)
import datagate  # noqa: E402
from ctlib import C  # noqa: E402

DATA = ctlib.SHARED


def lib_fit(z, y, loss):
    st, m, _, _ = ctlib.fit(C["CALIB_METHOD_ETS"], z, y, None, {C["CALIB_P_ETS_LOSS"]: loss})
    assert st == 0, "fit failed: %d" % st
    return m, ctlib.param(m, C["CALIB_MP_ETS_TEMPERATURE"])[0], ctlib.param(m, C["CALIB_MP_ETS_WEIGHTS"])


# ---- reference ----------------------------------------------------------------------

def ts_reference(z, y):
    z = z.astype(np.float64)
    if z.ndim == 1:
        s = np.where(y == 1, 1.0, -1.0)
        nll = lambda b: -np.mean(log_expit(s * b * z))
    else:
        nll = lambda b: -np.mean(log_softmax(b * z, axis=1)[np.arange(len(y)), y])
    r = scipy.optimize.minimize_scalar(nll, bounds=(1e-3, 1e2), method="bounded",
                                       options=dict(xatol=1e-13, maxiter=1000))
    return 1.0 / r.x


def components(z, T):
    z = z.astype(np.float64)
    if z.ndim == 1:
        return expit(z / T), expit(z), np.full_like(z, 0.5)
    k = z.shape[1]
    return softmax(z / T, axis=1), softmax(z, axis=1), np.full_like(z, 1.0 / k)


def objective(z, y, T, loss):
    p1, p2, p3 = components(z, T)
    n = len(y)
    if z.ndim == 1:
        yy = y.astype(np.float64)
        u = np.stack([np.where(y == 1, p1, 1 - p1), np.where(y == 1, p2, 1 - p2), p3], axis=1)
        comps = np.stack([p1, p2, p3], axis=1)
    else:
        u = np.stack([p1[np.arange(n), y], p2[np.arange(n), y], p3[np.arange(n), y]], axis=1)
        onehot = np.zeros_like(p1)
        onehot[np.arange(n), y] = 1.0
    if loss == 0:
        def f(w):
            s = u @ w
            return -np.mean(np.log(s)), -np.mean(u / s[:, None], axis=0)
    elif z.ndim == 1:
        def f(w):
            r = comps @ w - yy
            return np.mean(r ** 2), 2 * np.mean(r[:, None] * comps, axis=0)
    else:
        def f(w):
            r = w[0] * p1 + w[1] * p2 + w[2] * p3 - onehot
            g = np.array([np.mean(2 * r * p) for p in (p1, p2, p3)])
            return np.mean(r ** 2), g
    return f


def slsqp(f):
    r = scipy.optimize.minimize(lambda w: f(w)[0], np.array([1.0, 0.0, 0.0]), jac=lambda w: f(w)[1],
                                method="SLSQP", bounds=[(0.0, 1.0)] * 3,
                                constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1.0,
                                              "jac": lambda w: np.ones(3)}],
                                options=dict(ftol=1e-15, maxiter=1000))
    w = np.clip(r.x, 0.0, 1.0)
    return w / w.sum()


def load(name, split):
    d = os.path.join(DATA, name, split)
    meta = open(os.path.join(DATA, name, "meta.json")).read()
    k = int(re.search(r'"k":\s*(\d+)', meta).group(1))
    z = np.fromfile(os.path.join(d, "logits.f32"), dtype=np.float32)
    y = np.fromfile(os.path.join(d, "labels.i32"), dtype=np.int32).astype(np.int64)
    return (z if k == 1 else z.reshape(len(y), k)), y


def run(name):
    z, y = load(name, "val")
    zt, _ = load(name, "test")
    T_ref = ts_reference(z, y)
    for loss in (0, 1):
        m, T, w = lib_fit(z, y, loss)
        try:
            pt = ctlib.apply(m, zt)
        finally:
            ctlib.lib.calib_model_free(m)
        f = objective(z, y, T_ref, loss)
        w_ref = slsqp(f)
        fo, fr = f(w)[0], f(w_ref)[0]
        p1, p2, p3 = components(zt, T_ref)
        p_ref = w_ref[0] * p1 + w_ref[1] * p2 + w_ref[2] * p3
        dp = float(np.max(np.abs(pt - p_ref)))
        print("%-36s %s: T %.10f (ref %.10f)  w (%.6f %.6f %.6f) ref (%.6f %.6f %.6f)  obj %.12g vs %.12g  "
              "test max|dp| %.1e" % (name, "MSE" if loss else "NLL", T, T_ref, *w, *w_ref, fo, fr, dp))
        assert abs(T - T_ref) <= 1e-6 * T_ref
        assert abs(w.sum() - 1) < 1e-12 and np.all(w >= 0)
        assert fo <= fr + 1e-9 * abs(fr), "libcalib's weights are worse than SLSQP's"
        assert np.max(np.abs(w - w_ref)) <= 1e-4
        assert dp <= 1e-5


def main():
    if not os.path.exists(os.path.join(DATA, "index.json")):
        return datagate.exit_missing("ETS against scipy SLSQP on the shared logit sets")
    for name in ("cifar10_densenet40_markus93", "cifar100_lenet5_netcal", "coco_faster_rcnn_r50_binary_netcal"):
        run(name)
    print("test_ets.py: all cases agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
