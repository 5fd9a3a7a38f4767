"""Foundation reference test: libcalib (through ctypes on lib/libcalib.so)
against scipy / scikit-learn / numpy computing the same quantities
independently, on the shipped DenseNet-40 CIFAR-10 logits and on random data.

- softmax / log-softmax vs scipy.special (float64), sigmoid vs scipy.special.expit
- accuracy, NLL, Brier vs sklearn.metrics (accuracy_score, log_loss with no
  effective clipping, brier via one-hot), ECE-15 / MCE-15 vs a numpy
  implementation of Guo et al.'s definition with right-closed bins
- temperature scaling vs scipy.optimize.minimize_scalar on log T (numpy NLL)
"""
import ctypes as C
import os
import sys

import numpy as np
import scipy.optimize
import scipy.special
from sklearn.metrics import accuracy_score, log_loss

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
lib = C.CDLL(os.path.join(ROOT, "lib", "libcalib.so"))
fp = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
ip = np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS")
sz = C.c_size_t
lib.calib_softmax.argtypes = [fp, sz, sz, sz, C.c_float, fp, sz]
lib.calib_log_softmax.argtypes = [fp, sz, sz, sz, C.c_float, fp, sz]
lib.calib_sigmoid.argtypes = [fp, sz, C.c_float, fp]
for name in ("calib_accuracy", "calib_nll", "calib_brier"):
    getattr(lib, name).argtypes = [fp, sz, sz, ip, C.POINTER(C.c_double)]
lib.calib_nll_logits.argtypes = [fp, sz, sz, ip, C.POINTER(C.c_double)]
for name in ("calib_ece", "calib_mce"):
    getattr(lib, name).argtypes = [fp, sz, sz, ip, sz, C.POINTER(C.c_double)]
lib.calib_fitter_create.argtypes = [C.POINTER(C.c_void_p), C.c_int]
lib.calib_fit.argtypes = [C.c_void_p, fp, sz, sz, ip, C.c_void_p, C.POINTER(C.c_void_p)]
lib.calib_model_param.argtypes = [C.c_void_p, C.c_int, C.POINTER(C.c_double), sz, C.POINTER(C.c_size_t)]
lib.calib_fitter_free.argtypes = [C.c_void_p]
lib.calib_model_free.argtypes = [C.c_void_p]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def metric(name, p, y, *extra):
    out = C.c_double()
    st = getattr(lib, name)(p, p.shape[0], 1 if p.ndim == 1 else p.shape[1], y, *extra, C.byref(out))
    assert st == 0, (name, st)
    return out.value


def ece_mce_numpy(p, y, bins=15):
    """Guo et al. 2017 eq. 3: top-label, bins (b/M, (b+1)/M], 0 in bin 0."""
    conf = p.max(axis=1).astype(np.float64)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.arange(bins + 1) / bins
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    ece, mce = 0.0, 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            gap = abs(correct[sel].mean() - conf[sel].mean())
            ece += sel.mean() * gap
            mce = max(mce, gap)
    return ece, mce


def fit_T_ours(z, y):
    f, m = C.c_void_p(), C.c_void_p()
    assert lib.calib_fitter_create(C.byref(f), 1) == 0
    st = lib.calib_fit(f, z, z.shape[0], z.shape[1], y, None, C.byref(m))
    assert st == 0, st
    T, cnt = C.c_double(), C.c_size_t()
    assert lib.calib_model_param(m, 1, C.byref(T), 1, C.byref(cnt)) == 0
    lib.calib_model_free(m)
    lib.calib_fitter_free(f)
    return T.value


def fit_T_scipy(z, y):
    z = z.astype(np.float64)

    def nll(u):
        ls = scipy.special.log_softmax(z / np.exp(u), axis=1)
        return -ls[np.arange(len(y)), y].mean()

    r = scipy.optimize.minimize_scalar(nll, bounds=(np.log(0.05), np.log(20)), method="bounded",
                                       options={"xatol": 1e-12})
    return float(np.exp(r.x)), r.fun


def test_kernels_random():
    rng = np.random.default_rng(12345)
    for k in (2, 3, 10, 17, 1000):
        x = (rng.standard_normal((37, k)) * 8).astype(np.float32)
        y = np.empty_like(x)
        for beta in (1.0, 0.37):
            assert lib.calib_softmax(x, 37, k, 0, beta, y, 0) == 0
            ref = scipy.special.softmax(beta * x.astype(np.float64), axis=1)
            check(np.max(np.abs(y - ref)) <= 1e-6, f"softmax k={k} beta={beta}")
            assert lib.calib_log_softmax(x, 37, k, 0, beta, y, 0) == 0
            ref = scipy.special.log_softmax(beta * x.astype(np.float64), axis=1)
            check(np.max(np.abs(y - ref)) <= 1e-5, f"log_softmax k={k}")
    x = (rng.standard_normal(1001) * 20).astype(np.float32)
    y = np.empty_like(x)
    assert lib.calib_sigmoid(x, x.size, 0.5, y) == 0
    check(np.max(np.abs(y - scipy.special.expit(0.5 * x.astype(np.float64)))) <= 1e-6, "sigmoid")


def test_shipped():
    d = os.path.join(ROOT, "data", "cifar10_densenet40_markus93")
    zv = np.load(os.path.join(d, "val", "logits.npy"))
    yv = np.load(os.path.join(d, "val", "labels.npy")).astype(np.int64)
    zt = np.load(os.path.join(d, "test", "logits.npy"))
    yt = np.load(os.path.join(d, "test", "labels.npy")).astype(np.int64)
    T_ours = fit_T_ours(zv, yv)
    T_ref, nll_ref = fit_T_scipy(zv, yv)
    print(f"T ours {T_ours:.12f}  scipy {T_ref:.12f}")
    check(abs(T_ours - T_ref) <= 1e-6 * T_ref, "temperature vs scipy")
    for T in (1.0, T_ours):
        p = np.empty_like(zt)
        assert lib.calib_softmax(zt, zt.shape[0], 10, 0, 1.0 / T, p, 0) == 0
        p64 = scipy.special.softmax(zt.astype(np.float64) / T, axis=1)
        acc = metric("calib_accuracy", p, yt)
        check(abs(acc - accuracy_score(yt, p64.argmax(1))) < 1e-12, "accuracy")
        nll = metric("calib_nll", p, yt)
        nll_ref_t = log_loss(yt, p64, labels=np.arange(10), eps=1e-300) if "eps" in log_loss.__code__.co_varnames \
            else -np.log(p64[np.arange(len(yt)), yt]).mean()
        check(abs(nll - nll_ref_t) < 1e-6, f"nll T={T}: {nll} vs {nll_ref_t}")
        zs = (zt / np.float32(T)).astype(np.float32) if T != 1.0 else zt
        nll_l = metric("calib_nll_logits", np.ascontiguousarray(zs), yt)
        check(abs(nll_l - nll_ref_t) < 1e-6, f"nll_logits T={T}")
        onehot = np.eye(10)[yt]
        brier_ref = ((p64 - onehot) ** 2).sum(1).mean()
        check(abs(metric("calib_brier", p, yt) - brier_ref) < 1e-6, "brier")
        e_ref, m_ref = ece_mce_numpy(p64, yt)
        check(abs(metric("calib_ece", p, yt, 15) - e_ref) < 1e-6, "ece")
        check(abs(metric("calib_mce", p, yt, 15) - m_ref) < 1e-6, "mce")
        print(f"T={T:.4f}: acc {acc:.4f} nll {nll:.6f} brier {brier_ref:.6f} ece {e_ref:.6f} mce {m_ref:.6f}")


def test_edges():
    # Confidences exactly on edges, 0 and 1 (binary k = 1 keeps the edge values exact).
    p = np.array([0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0, 0.1], dtype=np.float32)
    y = np.array([0, 1, 0, 1, 1, 1, 1, 0], dtype=np.int64)
    p2 = np.stack([1 - p.astype(np.float64), p.astype(np.float64)], 1)
    conf = np.maximum(p2[:, 0], p2[:, 1])
    pred = (p.astype(np.float64) > 0.5).astype(np.int64)
    for bins in (1, 2, 5, 10):
        edges = np.arange(bins + 1) / bins
        idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
        ece = sum((idx == b).mean() * abs((pred == y)[idx == b].mean() - conf[idx == b].mean())
                  for b in range(bins) if (idx == b).any())
        check(abs(metric("calib_ece", p, y, bins) - ece) < 1e-12, f"binary ece bins={bins}")


if __name__ == "__main__":
    test_kernels_random()
    test_shipped()
    test_edges()
    print("failures:", len(failures))
    sys.exit(1 if failures else 0)
