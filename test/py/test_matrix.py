#!/usr/bin/env python3
"""test_matrix.py -- vector, matrix and Dirichlet scaling against an independent
scipy minimisation of the same objective.

For each case the objective of calib.h,
    L(theta) = mean_i [logsumexp(a_i) - a_{i,y_i}]
             + lambda/(k(k-1)) sum_{a!=j} W_aj^2 + mu/k sum_a b_a^2 + l2/P ||theta - theta_c||^2,
with a_i = w*z_i + b (vector), W z_i + b (matrix), W log_softmax(z_i) + b (Dirichlet),
is written here in numpy (value and analytic gradient) and minimised by
scipy.optimize.minimize(method="L-BFGS-B") from the identity map with a tight
tolerance (gtol 1e-10, ftol 1e-15). libcalib (lib/libcalib.so through ctypes)
fits the same data; then
  - the reference objective at libcalib's parameters equals the reference's own
    minimum to 1e-6 relative (and is not above it by more than that), and
  - the probabilities on the test split (libcalib's calib_apply vs numpy on the
    reference parameters) agree to 1e-4 absolute.
Real data: ../shared/data cifar10_densenet40_markus93 (k = 10) and
cifar100_lenet5_netcal (k = 100), fitted on val, compared on test. The
100-class cases use penalties that keep scipy's plain L-BFGS-B to a few
hundred iterations (the test must stay well under a minute on 2 cores).
Run from the repository root: PYTHONPATH=python /usr/bin/python3 test/py/test_matrix.py
"""
import os
import sys
import time

try:
    import numpy as np
    import scipy.optimize
    from scipy.special import log_softmax, logsumexp
except ImportError as e:  # pragma: no cover
    print("skipped: numpy/scipy not available (%s)" % e)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctlib  # noqa: E402  (loads lib/libcalib.so or skips)
import datagate  # noqa: E402
from ctlib import C  # noqa: E402

DATA = ctlib.SHARED


def lib_fit(method, x, y, opts):
    """libcalib's fit (asserted): the model, its iteration count and the wall time."""
    t = time.time()
    st, m, _, rep = ctlib.fit(method, x, y, None, opts, (C["CALIB_R_ITERATIONS"],))
    dt = time.time() - t
    assert st == 0, "fit: %s" % ctlib.strerror(st)
    return m, rep[C["CALIB_R_ITERATIONS"]], dt


# ---- the reference: objective, gradient, scipy --------------------------------------

class Objective:
    """L(theta) of calib.h in numpy float64. theta: vector -> (w, b) as 2k values;
    matrix/Dirichlet -> (W | b) as k rows of k+1 values."""

    def __init__(self, method, z, y, lam=0.0, mu=0.0, l2=0.0, center=1):
        self.method, self.y = method, y
        self.n, self.k = z.shape
        k = self.k
        self.X = log_softmax(z.astype(np.float64), axis=1) if method == "dirichlet" else z.astype(np.float64)
        self.lam, self.mu, self.l2, self.center = lam, mu, l2, center
        self.P = 2 * k if method == "vector" else k * (k + 1)
        if method == "vector":
            self.theta_c = np.concatenate([np.full(k, float(center)), np.zeros(k)])
        else:
            self.theta_c = np.hstack([np.eye(k) * center, np.zeros((k, 1))]).ravel()

    def identity(self):
        k = self.k
        if self.method == "vector":
            return np.concatenate([np.ones(k), np.zeros(k)])
        return np.hstack([np.eye(k), np.zeros((k, 1))]).ravel()

    def logits(self, theta, X):
        k = self.k
        if self.method == "vector":
            return X * theta[:k] + theta[k:]
        T = theta.reshape(k, k + 1)
        return X @ T[:, :k].T + T[:, k]

    def __call__(self, theta):
        k, n, y = self.k, self.n, self.y
        A = self.logits(theta, self.X)
        lse = logsumexp(A, axis=1)
        f = np.mean(lse - A[np.arange(n), y])
        G = np.exp(A - lse[:, None])
        G[np.arange(n), y] -= 1.0
        G /= n
        if self.method == "vector":
            g = np.concatenate([np.sum(G * self.X, axis=0), np.sum(G, axis=0)])
            b = theta[k:]
            f += self.mu / k * b @ b
            g[k:] += 2 * self.mu / k * b
        else:
            g = np.hstack([G.T @ self.X, G.sum(axis=0)[:, None]])
            T = theta.reshape(k, k + 1)
            off = T[:, :k] - np.diag(np.diag(T[:, :k]))
            f += self.lam / (k * (k - 1)) * np.sum(off ** 2) + self.mu / k * np.sum(T[:, k] ** 2)
            g[:, :k] += 2 * self.lam / (k * (k - 1)) * off
            g[:, k] += 2 * self.mu / k * T[:, k]
            g = g.ravel()
        dev = theta - self.theta_c
        f += self.l2 / self.P * dev @ dev
        g = g + 2 * self.l2 / self.P * dev
        return f, g

    def minimise(self):
        r = scipy.optimize.minimize(self, self.identity(), jac=True, method="L-BFGS-B",
                                    options=dict(maxiter=100000, maxfun=200000, gtol=1e-10, ftol=1e-15,
                                                 maxcor=10))
        return r.x, r.fun, r.nit

    def probs(self, theta, z):
        X = log_softmax(z.astype(np.float64), axis=1) if self.method == "dirichlet" else z.astype(np.float64)
        A = self.logits(theta, X)
        return np.exp(A - logsumexp(A, axis=1)[:, None])


def ours_theta(m, method, k):
    b = ctlib.param(m, C["CALIB_MP_BIAS"])
    if method == "vector":
        return np.concatenate([ctlib.param(m, C["CALIB_MP_VECTOR_W"]), b])
    W = ctlib.param(m, C["CALIB_MP_MATRIX_W"]).reshape(k, k)
    return np.hstack([W, b[:, None]]).ravel()


def load(name, split):
    d = os.path.join(DATA, name, split)
    z = np.fromfile(os.path.join(d, "logits.f32"), dtype=np.float32)
    y = np.fromfile(os.path.join(d, "labels.i32"), dtype=np.int32).astype(np.int64)
    return z.reshape(len(y), -1), y


METHOD_ID = {"vector": "CALIB_METHOD_VECTOR", "matrix": "CALIB_METHOD_MATRIX", "dirichlet": "CALIB_METHOD_DIRICHLET"}


def run_case(name, method, lam=0.0, mu=0.0, l2=0.0, center=1, tol=1e-7):
    z, y = load(name, "val")
    zt, yt = load(name, "test")
    k = z.shape[1]
    obj = Objective(method, z, y, lam, mu, l2, center)
    opts = {C["CALIB_P_ODIR_MU"]: mu, C["CALIB_P_L2"]: l2, C["CALIB_P_L2_CENTER"]: center, C["CALIB_P_TOL"]: tol}
    if method != "vector":
        opts[C["CALIB_P_ODIR_LAMBDA"]] = lam
    m, iters, dt = lib_fit(C[METHOD_ID[method]], z, y, opts)
    try:
        th = ours_theta(m, method, k)
        pt = ctlib.apply(m, zt)
    finally:
        ctlib.lib.calib_model_free(m)
    t = time.time()
    th_ref, f_ref, nit = obj.minimise()
    dt_ref = time.time() - t
    f_ours = obj(th)[0]
    p_ref = obj.probs(th_ref, zt)
    dp = float(np.max(np.abs(pt - p_ref)))
    rel = (f_ours - f_ref) / abs(f_ref)
    print("%-28s k=%-3d %-9s lam=%-4g mu=%-4g l2=%-4g c=%d: L ours %.12f, scipy %.12f (rel %+.1e); "
          "test max|dp| %.1e; libcalib %g it %.2fs, scipy %d it %.1fs"
          % (name, k, method, lam, mu, l2, center, f_ours, f_ref, rel, dp, iters, dt, nit, dt_ref))
    assert rel <= 1e-6, "objective above the scipy minimum"
    assert abs(rel) <= 1e-6, "objective differs from the scipy minimum"
    assert dp <= 1e-4, "test probabilities differ"


def numpy_probs(method, W, b, z):
    """softmax(W x + b) in float64, x = z (matrix) or log_softmax(z) (Dirichlet)."""
    x = z.astype(np.float64)
    if method == "dirichlet":
        x = log_softmax(x, axis=1)
    a = x @ W.T + b
    return np.exp(a - logsumexp(a, axis=1, keepdims=True))


def model_with_w(m, W):
    """The bytes of model m with its W section replaced by W (float64, same
    shape), both CRCs recomputed (format.c: payload CRC at 24, header CRC at 28):
    a model holding arbitrary doubles, as an older file or a hand-built W would."""
    import ctypes
    import struct
    import zlib
    ctlib.lib.calib_model_size.argtypes = [ctlib.VP]
    ctlib.lib.calib_model_size.restype = ctlib.SZ
    ctlib.lib.calib_model_save.argtypes = [ctlib.VP, ctypes.c_void_p, ctlib.SZ, ctypes.POINTER(ctlib.SZ)]
    ctlib.lib.calib_model_load.argtypes = [ctypes.POINTER(ctlib.VP), ctypes.c_void_p, ctlib.SZ]
    n = ctlib.lib.calib_model_size(m)
    buf = ctypes.create_string_buffer(n)
    wr = ctlib.SZ()
    assert ctlib.lib.calib_model_save(m, buf, n, ctypes.byref(wr)) == 0
    raw = bytearray(buf.raw[:wr.value])
    old = ctlib.param(m, C["CALIB_MP_MATRIX_W"]).astype("<f8").tobytes()
    at = raw.find(old)
    assert at > 0 and raw.find(old, at + 1) < 0
    raw[at:at + len(old)] = np.ascontiguousarray(W, "<f8").tobytes()
    raw[24:28] = struct.pack("<I", zlib.crc32(bytes(raw[32:])) & 0xFFFFFFFF)
    raw[28:32] = struct.pack("<I", zlib.crc32(bytes(raw[:28])) & 0xFFFFFFFF)
    out = ctlib.VP()
    cbuf = ctypes.create_string_buffer(bytes(raw), len(raw))
    assert ctlib.lib.calib_model_load(ctypes.byref(out), cbuf, len(raw)) == 0
    return out


def apply_own_params(name, method, lam=0.0, mu=0.0):
    """calib_apply against numpy's float64 softmax at the model's own W and b,
    on both apply paths: the fitted model (W rounded to float32 values by the
    fit, applied from the model's float32 copy of W) and the same model with
    W moved off float32 values by one part in 1e9 (no copy: the double path).
    Tolerance: the 1e-4 absolute of run_case, and 1e-6 relative for
    probabilities above 1e-30 (test_matrix.c's apply check)."""
    z, y = load(name, "val")
    zt, _ = load(name, "test")
    k = z.shape[1]
    opts = {C["CALIB_P_ODIR_MU"]: mu, C["CALIB_P_ODIR_LAMBDA"]: lam}
    m, _, _ = lib_fit(C[METHOD_ID[method]], z, y, opts)
    try:
        W = ctlib.param(m, C["CALIB_MP_MATRIX_W"]).reshape(k, k)
        b = ctlib.param(m, C["CALIB_MP_BIAS"])
        assert np.array_equal(W.astype(np.float32).astype(np.float64), W), "fitted W is not float32 values"
        W2 = W * (1 + 1e-9)
        assert not np.array_equal(W2.astype(np.float32).astype(np.float64), W2)
        m2 = model_with_w(m, W2)
        try:
            for label, mm, WW in (("float32 copy", m, W), ("double W", m2, W2)):
                pt = ctlib.apply(mm, zt).astype(np.float64)
                pr = numpy_probs(method, WW, b, zt)
                dp = float(np.max(np.abs(pt - pr)))
                big = pr > 1e-30
                rel = float(np.max(np.abs(pt - pr)[big] / pr[big]))
                print("%-28s k=%-3d %-9s apply (%s): max|dp| %.1e, max rel %.1e vs numpy float64 at its own W, b"
                      % (name, k, method, label, dp, rel))
                assert dp <= 1e-4 and rel <= 1e-6, "apply differs from numpy at the model's parameters"
        finally:
            ctlib.lib.calib_model_free(m2)
    finally:
        ctlib.lib.calib_model_free(m)


def main():
    if not ctlib.matrix_family_built():
        print("not in this build (NO_BLAS): vector/matrix/Dirichlet fitters return CALIB_E_UNSUPPORTED (checked)")
        return 0
    if not os.path.exists(os.path.join(DATA, "index.json")):
        return datagate.exit_missing("vector/matrix/Dirichlet against scipy L-BFGS-B on the shared logit sets")
    c10, c100 = "cifar10_densenet40_markus93", "cifar100_lenet5_netcal"
    run_case(c10, "vector")
    run_case(c10, "matrix")
    run_case(c10, "dirichlet", lam=10, mu=10)
    run_case(c10, "dirichlet", lam=0.5, mu=0.1, l2=1.0, center=0)
    run_case(c10, "matrix", lam=0.0, mu=1.0, l2=2.0, center=1)
    run_case(c100, "vector", mu=0.5)
    run_case(c100, "dirichlet", lam=30, mu=30, l2=30)
    run_case(c100, "matrix", l2=100)
    apply_own_params(c10, "matrix")
    apply_own_params(c10, "dirichlet", lam=10, mu=10)
    apply_own_params(c100, "dirichlet", lam=30, mu=30)
    print("test_matrix.py: all cases agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
