"""Beta calibration (Kull, Silva Filho & Flach 2017): libcalib (ctypes on
lib/libcalib.so, and bin/calib) against an independent reference:

  - the reference: the exact maximum-likelihood logistic regression on
    [ln s, -ln(1 - s)] with an intercept, by scipy.optimize (trust-exact,
    analytic gradient and Hessian), with betacal's constraint procedure
    (a < 0: drop ln s and refit; else b < 0: drop -ln(1 - s) and refit; a
    refitted coefficient still negative is dropped too), s clipped to
    [eps, 1 - eps] with eps = float32 machine epsilon; cross-checked against
    scikit-learn's LogisticRegression(penalty=None) (1.2+);
  - synthetic data hitting each constraint branch, with and without weights;
  - COCO detections (../shared/data), on logits (s = sigmoid) and on the
    detector's probabilities: parameters to 1e-6, test-split probabilities;
  - one-vs-rest on a real 10-class set (softmax probabilities of the
    logits): per-class parameters to 1e-6, normalised test probabilities;
  - `calib fit --method beta --json`.
Run from the repository root: PYTHONPATH=python /usr/bin/python3 test/py/test_beta.py
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit, softmax
    from sklearn.linear_model import LogisticRegression
except ImportError as e:  # pragma: no cover
    print("skipped: needs numpy, scipy and scikit-learn (%s)" % e)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctlib  # noqa: E402  (loads lib/libcalib.so or skips)
import datagate  # noqa: E402
from ctlib import SHARED, lib  # noqa: E402
HAVE_SHARED = os.path.isdir(os.path.join(SHARED, "coco_faster_rcnn_r50_binary_netcal"))

METHOD_BETA = 3
P_INPUT = 4
MP_BETA = 4
INPUT_PROBS = 1
R_BEFORE, R_AFTER = 2, 3
EPS32 = float(np.finfo(np.float32).eps)


class Fit:
    """One calib_fit of beta calibration: .status, .params (k x 3), .apply(x)."""

    def __init__(self, x, y, w=None, probs=False):
        self.status, self.m, self.k, rep = ctlib.fit(METHOD_BETA, x, y, w, [(P_INPUT, INPUT_PROBS)] if probs else (),
                                                     (R_BEFORE, R_AFTER))
        self.report = {"before": rep[R_BEFORE], "after": rep[R_AFTER]}
        if self.status == 0:
            self.params = ctlib.param(self.m, MP_BETA).reshape(self.k, 3)

    def apply(self, x):
        return ctlib.apply(self.m, x)

    def __del__(self):
        lib.calib_model_free(self.m)


# ---- the independent reference ------------------------------------------------------

def features(s):
    s = np.clip(np.asarray(s, np.float64), EPS32, 1 - EPS32)
    return np.column_stack([np.log(s), -np.log1p(-s)])


def logreg_mle(X, y, w):
    """Exact MLE of P(y=1) = sigmoid(X theta + c): scipy trust-exact."""
    X1 = np.column_stack([X, np.ones(len(y))])

    def fun(th):
        u = X1 @ th
        return np.sum(w * (-y * log_expit(u) - (1 - y) * log_expit(-u)))

    def jac(th):
        return X1.T @ (w * (expit(X1 @ th) - y))

    def hess(th):
        p = expit(X1 @ th)
        return (X1 * (w * p * (1 - p))[:, None]).T @ X1

    r = minimize(fun, np.zeros(X1.shape[1]), jac=jac, hess=hess, method="trust-exact",
                 options={"gtol": 1e-12})
    return r.x


def beta_reference(s, y, w=None):
    """(a, b, c) by betacal's procedure on the exact MLE fits."""
    y = np.asarray(y, np.float64)
    w = np.ones_like(y) if w is None else np.asarray(w, np.float64)
    X = features(s)
    th = logreg_mle(X, y, w)
    if th[0] < 0:
        t = logreg_mle(X[:, 1:], y, w)
        a, b, c = 0.0, t[0], t[1]
    elif th[1] < 0:
        t = logreg_mle(X[:, :1], y, w)
        a, b, c = t[0], 0.0, t[1]
    else:
        a, b, c = th
    if a < 0 or b < 0:
        tbar = np.sum(w * y) / np.sum(w)
        a, b, c = 0.0, 0.0, np.log(tbar / (1 - tbar))
    return np.array([a, b, c])


def beta_map(params, s):
    X = features(s)
    return expit(params[0] * X[:, 0] + params[1] * X[:, 1] + params[2])


def synthetic(rng, n, a, b, c):
    s = rng.uniform(0.002, 0.998, n).astype(np.float32)
    y = (rng.random(n) < beta_map([a, b, c], s)).astype(np.int64)
    return s, y


class TestSynthetic(unittest.TestCase):
    CASES = [(0.8, 1.5, -0.3), (-1.0, 2.0, 0.0), (2.0, -1.0, 0.2), (-1.5, -1.5, 0.0), (3.0, 0.5, 1.0)]

    def test_branches(self):
        rng = np.random.default_rng(5)
        for i, (a, b, c) in enumerate(self.CASES):
            s, y = synthetic(rng, 4000, a, b, c)
            w = rng.uniform(0, 2, s.size) if i % 2 else None
            f = Fit(s, y, w, probs=True)
            self.assertEqual(f.status, 0)
            ref = beta_reference(s, y, w)
            np.testing.assert_allclose(f.params[0], ref, atol=1e-6, err_msg="case %d" % i)
            np.testing.assert_allclose(f.apply(s), beta_map(ref, s), atol=1e-6)
            if i == 1:
                self.assertEqual(f.params[0, 0], 0.0)
            if i == 3:
                self.assertEqual(list(f.params[0, :2]), [0.0, 0.0])

    def test_sklearn_crosscheck(self):
        # the same unconstrained objective by scikit-learn (lbfgs, no penalty)
        rng = np.random.default_rng(6)
        s, y = synthetic(rng, 5000, 0.7, 1.2, 0.1)
        lr = LogisticRegression(penalty=None, tol=1e-12, max_iter=100000).fit(features(s), y)
        ref = np.r_[lr.coef_[0], lr.intercept_]
        np.testing.assert_allclose(Fit(s, y, probs=True).params[0], ref, atol=1e-4)

    def test_float32_zero_one(self):
        rng = np.random.default_rng(7)
        s, y = synthetic(rng, 1000, 1, 1, 0)
        s[:4] = [0.0, 1.0, 0.0, 1.0]
        f = Fit(s, y, probs=True)
        out = f.apply(s)
        self.assertTrue(np.all(np.isfinite(out)))
        np.testing.assert_allclose(f.params[0], beta_reference(s, y), atol=1e-6)


def load(name, split, k):
    d = os.path.join(SHARED, name, split)
    x = np.fromfile(os.path.join(d, "logits.f32"), np.float32)
    y = np.fromfile(os.path.join(d, "labels.i32"), np.int32).astype(np.int64)
    return (x if k == 1 else x.reshape(-1, k)), y


class TestReal(unittest.TestCase):
    COCO = "coco_faster_rcnn_r50_binary_netcal"

    def setUp(self):
        if not HAVE_SHARED:
            raise datagate.missing("beta calibration against scipy on COCO and CIFAR-10 logits")

    def test_coco_logits_and_probs(self):
        z, y = load(self.COCO, "val", 1)
        zt, _ = load(self.COCO, "test", 1)
        f = Fit(z, y)
        ref = beta_reference(expit(z.astype(np.float64)), y)
        np.testing.assert_allclose(f.params[0], ref, atol=1e-6)
        np.testing.assert_allclose(f.apply(zt), beta_map(ref, expit(zt.astype(np.float64))), atol=1e-6)
        p = np.fromfile(os.path.join(SHARED, self.COCO, "val", "probs.f32"), np.float32)
        np.testing.assert_allclose(Fit(p, y, probs=True).params[0], beta_reference(p, y), atol=1e-6)

    def test_multiclass_ovr(self):
        name, k = "cifar10_densenet40_markus93", 10
        zv, yv = load(name, "val", k)
        zt, _ = load(name, "test", k)
        f = Fit(zv, yv)
        self.assertEqual(f.status, 0)
        sv = softmax(zv.astype(np.float64), axis=1)
        st = softmax(zt.astype(np.float64), axis=1)
        refs = np.array([beta_reference(sv[:, j], (yv == j).astype(int)) for j in range(k)])
        np.testing.assert_allclose(f.params, refs, atol=1e-6)
        q = np.column_stack([beta_map(refs[j], st[:, j]) for j in range(k)])
        q /= q.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(f.apply(zt), q, atol=1e-6)
        qv = np.column_stack([beta_map(refs[j], sv[:, j]) for j in range(k)])
        qv /= qv.sum(axis=1, keepdims=True)
        self.assertAlmostEqual(f.report["after"], -np.mean(np.log(qv[np.arange(yv.size), yv])), delta=1e-8)

    def test_cli_json(self):
        z, y = load(self.COCO, "val", 1)
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "z.npy"), z)
            np.save(os.path.join(tmp, "y.npy"), y)
            out = subprocess.run([os.path.join("bin", "calib"), "fit", "--method", "beta", "--logits",
                                  os.path.join(tmp, "z.npy"), "--labels", os.path.join(tmp, "y.npy"),
                                  "-o", os.path.join(tmp, "m.calib"), "--json"],
                                 capture_output=True, text=True, check=True).stdout
        j = json.loads(out)
        for key in ("method", "n", "k", "nll_before", "nll_after", "iterations", "a", "b", "c"):
            self.assertIn(key, j)
        ref = beta_reference(expit(z.astype(np.float64)), y)
        np.testing.assert_allclose([j["a"], j["b"], j["c"]], ref, atol=1e-6)
        self.assertEqual((j["method"], j["n"], j["k"]), ("beta", y.size, 1))


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=1)
    sys.exit(datagate.finish(prog.result))
