"""Platt scaling: libcalib (ctypes on lib/libcalib.so, and bin/calib) against
scikit-learn and scipy, never against itself.

  - binary: scikit-learn's _sigmoid_calibration (Platt's smoothed targets,
    weighted counts) on random data with and without sample weights, to 1e-6;
    the exact optimum of the same objective (scipy trust-exact, analytic
    gradient and Hessian) to 1e-7; scores scaled by 1e3 (scikit-learn #26766);
    probabilities through the explicit logit of the clipped values;
  - COCO detections (../shared/data): REFERENCE.json's a, b (MLE and
    scikit-learn's smoothed variant; A = -a, B = -b) and a live
    _sigmoid_calibration fit (with and without weights), to 1e-6; test-split
    probabilities; `calib fit --method platt --json`;
  - one-vs-rest: CalibratedClassifierCV(method="sigmoid", cv="prefit") on the
    val logits of a 10-class and a 100-class set, test-split probabilities to
    1e-6; per-class parameters against the exact optimum to 1e-6; the
    reported NLLs against numpy.
Run from the repository root: PYTHONPATH=python /usr/bin/python3 test/py/test_platt.py
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest
import warnings

try:
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit, log_softmax
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.calibration import CalibratedClassifierCV, _sigmoid_calibration
except ImportError as e:  # pragma: no cover
    print("skipped: needs numpy, scipy and scikit-learn (%s)" % e)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctlib  # noqa: E402  (loads lib/libcalib.so or skips)
import datagate  # noqa: E402
from ctlib import SHARED, lib  # noqa: E402
HAVE_SHARED = os.path.isdir(os.path.join(SHARED, "coco_faster_rcnn_r50_binary_netcal"))

METHOD_PLATT = 2
P_MAX_ITER, P_TOL, P_SMOOTH, P_INPUT, P_CLIP_EPS = 1, 2, 3, 4, 5
MP_PLATT, MP_INPUT = 2, 3
INPUT_PROBS, INPUT_LOGITS = 1, 2
R_ITER, R_BEFORE, R_AFTER = 1, 2, 3
EPS32 = float(np.finfo(np.float32).eps)


class Fit:
    """One calib_fit: .status, .params (k x 2), .report, .apply(x)."""

    def __init__(self, x, y, w=None, **opts):
        ids = {"smooth": P_SMOOTH, "input": P_INPUT, "tol": P_TOL, "max_iter": P_MAX_ITER, "eps": P_CLIP_EPS}
        reports = {"iterations": R_ITER, "before": R_BEFORE, "after": R_AFTER}
        self.status, self.m, self.k, rep = ctlib.fit(METHOD_PLATT, x, y, w, [(ids[key], v) for key, v in opts.items()],
                                                     reports.values())
        self.report = {key: rep[item] for key, item in reports.items()}
        if self.status == 0:
            self.params = ctlib.param(self.m, MP_PLATT).reshape(self.k, 2)

    def apply(self, x):
        return ctlib.apply(self.m, x)

    def __del__(self):
        lib.calib_model_free(self.m)


def exact_platt(z, y, w=None, smooth=True):
    """argmin over (A, B) of sum_i w_i CE(t_i, 1/(1+exp(A z_i + B))): scipy
    trust-exact with the analytic gradient and Hessian (independent code)."""
    z = np.asarray(z, np.float64)
    w = np.ones_like(z) if w is None else np.asarray(w, np.float64)
    pos = y > 0
    npos, nneg = w[pos].sum(), w[~pos].sum()
    t = np.where(pos, (npos + 1) / (npos + 2), 1 / (nneg + 2)) if smooth else pos.astype(float)
    X = np.column_stack([z, np.ones_like(z)])

    def fun(ab):
        u = -(X @ ab)  # log-odds of y = 1
        return np.sum(w * (-t * log_expit(u) - (1 - t) * log_expit(-u)))

    def jac(ab):
        u = -(X @ ab)
        return -(X.T @ (w * (expit(u) - t)))

    def hess(ab):
        p = expit(-(X @ ab))
        return (X * (w * p * (1 - p))[:, None]).T @ X

    r = minimize(fun, np.array([0.0, np.log((nneg + 1) / (npos + 1))]), jac=jac, hess=hess,
                 method="trust-exact", options={"gtol": 1e-13})
    return r.x


def random_binary(rng, n, scale=1.0):
    y = (rng.random(n) < 0.4).astype(np.int64)
    z = (rng.normal(size=n) * scale + 1.3 * y - 0.4).astype(np.float32)
    return z, y


class TestBinary(unittest.TestCase):
    def test_libsvm_vector(self):
        # libsvm's sigmoid_train value, hard-coded in scikit-learn's tests
        f = Fit([5, -4, 1], [1, 0, 0])
        np.testing.assert_allclose(f.params[0], [-0.20261354391187855, 0.6523631498001051], atol=1e-12)
        self.assertEqual(f.report["iterations"], 3)

    def test_against_sklearn(self):
        rng = np.random.default_rng(1)
        for trial in range(6):
            z, y = random_binary(rng, 3000, scale=[0.5, 1, 4][trial % 3])
            w = rng.uniform(0.0, 3.0, size=z.size) if trial % 2 else None
            f = Fit(z, y, w)
            self.assertEqual(f.status, 0)
            a, b = _sigmoid_calibration(z.astype(np.float64), y, sample_weight=w)
            np.testing.assert_allclose(f.params[0], [a, b], atol=1e-6, err_msg="trial %d" % trial)
            np.testing.assert_allclose(f.params[0], exact_platt(z, y, w), atol=1e-7)
            np.testing.assert_allclose(Fit(z, y, w, smooth=0).params[0], exact_platt(z, y, w, False),
                                       atol=1e-7)

    def test_scores_scaled_1e3(self):
        rng = np.random.default_rng(2)
        z, y = random_binary(rng, 5000)
        f1, f2 = Fit(z, y), Fit(z * 1000, y)
        np.testing.assert_allclose(f2.params[0, 0] * 1000, f1.params[0, 0], rtol=1e-7)
        np.testing.assert_allclose(f2.params[0, 1], f1.params[0, 1], atol=1e-7)
        np.testing.assert_allclose(f2.params[0], exact_platt(z * 1000, y), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(f2.apply(z * 1000), f1.apply(z), atol=1e-6)

    def test_probabilities_input(self):
        rng = np.random.default_rng(3)
        z, y = random_binary(rng, 4000)
        p = expit(2.0 * z.astype(np.float64)).astype(np.float32)
        p[:3] = [0.0, 1.0, 0.5]
        f = Fit(p, y, input=INPUT_PROBS)
        s = np.clip(p.astype(np.float64), EPS32, 1 - EPS32)
        zz = np.log(s) - np.log1p(-s)
        a, b = _sigmoid_calibration(zz, y)
        np.testing.assert_allclose(f.params[0], [a, b], atol=1e-6)
        np.testing.assert_allclose(f.apply(p), 1 / (1 + np.exp(a * zz + b)), atol=1e-6)
        bad = p.copy()
        bad[7] = 1.5
        self.assertEqual(Fit(bad, y, input=INPUT_PROBS).status, -15)  # CALIB_E_DOMAIN


def load(name, split, k):
    d = os.path.join(SHARED, name, split)
    x = np.fromfile(os.path.join(d, "logits.f32"), np.float32)
    y = np.fromfile(os.path.join(d, "labels.i32"), np.int32).astype(np.int64)
    return (x if k == 1 else x.reshape(-1, k)), y


@unittest.skipUnless(HAVE_SHARED, datagate.MISSING + "the COCO / REFERENCE.json Platt references (%s absent)" % SHARED)
class TestCOCO(unittest.TestCase):
    NAME = "coco_faster_rcnn_r50_binary_netcal"

    @classmethod
    def setUpClass(cls):
        cls.z, cls.y = load(cls.NAME, "val", 1)
        cls.zt, cls.yt = load(cls.NAME, "test", 1)
        with open(os.path.join(SHARED, "REFERENCE.json")) as fh:
            ref = json.load(fh)
        cls.ref = [r for r in ref["results"] if r["name"] == cls.NAME][0]

    def test_reference_json(self):
        sk = self.ref["platt_sklearn_smoothed_targets"]
        np.testing.assert_allclose(Fit(self.z, self.y).params[0], [-sk["a"], -sk["b"]], atol=1e-6)
        mle = self.ref["platt"]
        f = Fit(self.z, self.y, smooth=0)
        np.testing.assert_allclose(f.params[0], [-mle["a"], -mle["b"]], atol=1e-6)
        self.assertAlmostEqual(f.report["after"], mle["val_nll"], delta=1e-10)

    def test_live_sklearn(self):
        f = Fit(self.z, self.y)
        a, b = _sigmoid_calibration(self.z.astype(np.float64), self.y)
        np.testing.assert_allclose(f.params[0], [a, b], atol=1e-6)
        zt = self.zt.astype(np.float64)
        np.testing.assert_allclose(f.apply(self.zt), 1 / (1 + np.exp(a * zt + b)), atol=1e-6)
        w = np.random.default_rng(4).uniform(0.1, 2.0, self.y.size)
        a, b = _sigmoid_calibration(self.z.astype(np.float64), self.y, sample_weight=w)
        np.testing.assert_allclose(Fit(self.z, self.y, w).params[0], [a, b], atol=1e-6)
        # reported NLLs, against numpy
        u = self.z.astype(np.float64)
        before = -np.mean(np.where(self.y == 1, log_expit(u), log_expit(-u)))
        self.assertAlmostEqual(f.report["before"], before, delta=1e-12)
        ua = -(f.params[0, 0] * u + f.params[0, 1])
        after = -np.mean(np.where(self.y == 1, log_expit(ua), log_expit(-ua)))
        self.assertAlmostEqual(f.report["after"], after, delta=1e-12)

    def test_scaled_and_probabilities(self):
        f = Fit(self.z * 1000, self.y)
        sk = self.ref["platt_sklearn_smoothed_targets"]
        np.testing.assert_allclose(f.params[0] * [1000, 1], [-sk["a"], -sk["b"]], atol=1e-6)
        p = np.fromfile(os.path.join(SHARED, self.NAME, "val", "probs.f32"), np.float32)
        s = np.clip(p.astype(np.float64), EPS32, 1 - EPS32)
        a, b = _sigmoid_calibration(np.log(s) - np.log1p(-s), self.y)
        np.testing.assert_allclose(Fit(p, self.y, input=INPUT_PROBS).params[0], [a, b], atol=1e-6)

    def test_cli_json(self):
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "z.npy"), self.z)
            np.save(os.path.join(tmp, "y.npy"), self.y)
            out = subprocess.run([os.path.join("bin", "calib"), "fit", "--method", "platt", "--logits",
                                  os.path.join(tmp, "z.npy"), "--labels", os.path.join(tmp, "y.npy"),
                                  "-o", os.path.join(tmp, "m.calib"), "--json"],
                                 capture_output=True, text=True, check=True).stdout
        j = json.loads(out)
        for key in ("method", "n", "k", "nll_before", "nll_after", "iterations", "A", "B"):
            self.assertIn(key, j)
        self.assertEqual((j["method"], j["n"], j["k"]), ("platt", self.y.size, 1))
        sk = self.ref["platt_sklearn_smoothed_targets"]
        self.assertAlmostEqual(j["A"], -sk["a"], delta=1e-6)
        self.assertAlmostEqual(j["B"], -sk["b"], delta=1e-6)
        self.assertGreater(j["iterations"], 0)
        self.assertLess(j["nll_after"], j["nll_before"])


class Identity(ClassifierMixin, BaseEstimator):
    """A 'classifier' whose decision_function is its input: hands the logits
    to CalibratedClassifierCV unchanged."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def decision_function(self, X):
        return X


@unittest.skipUnless(HAVE_SHARED, datagate.MISSING + "the COCO / REFERENCE.json Platt references (%s absent)" % SHARED)
class TestOneVsRest(unittest.TestCase):
    def check_set(self, name, k, exact_params):
        zv, yv = load(name, "val", k)
        zt, _ = load(name, "test", k)
        f = Fit(zv, yv)
        self.assertEqual(f.status, 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cc = CalibratedClassifierCV(Identity().fit(zv, yv), method="sigmoid", cv="prefit")
            ref = cc.fit(zv.astype(np.float64), yv).predict_proba(zt.astype(np.float64))
        np.testing.assert_allclose(f.apply(zt), ref, atol=1e-6)
        if exact_params:
            for j in range(k):
                np.testing.assert_allclose(f.params[j], exact_platt(zv[:, j], (yv == j).astype(int)),
                                           atol=1e-6, err_msg="class %d" % j)
        z64 = zv.astype(np.float64)
        before = -np.mean(log_softmax(z64, axis=1)[np.arange(yv.size), yv])
        self.assertAlmostEqual(f.report["before"], before, delta=1e-10)
        q = expit(-(z64 * f.params[:, 0] + f.params[:, 1]))
        q /= q.sum(axis=1, keepdims=True)
        self.assertAlmostEqual(f.report["after"], -np.mean(np.log(q[np.arange(yv.size), yv])), delta=1e-9)

    def test_cifar10(self):
        self.check_set("cifar10_densenet40_markus93", 10, True)

    def test_cifar100(self):
        self.check_set("cifar100_lenet5_netcal", 100, False)


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=1)
    sys.exit(datagate.finish(prog.result))
