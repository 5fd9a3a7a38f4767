"""Beta calibration (Kull, Silva Filho & Flach 2017): libcalib (ctypes on
lib/libcalib.so, and bin/calib) against an independent reference:

  - the reference: the exact maximum-likelihood logistic regression on
    [ln s, -ln(1 - s)] with an intercept, by scipy.optimize (trust-exact,
    analytic gradient and Hessian), with betacal's constraint procedure
    (a < 0: drop ln s and refit; else b < 0: drop -ln(1 - s) and refit; a
    refitted coefficient still negative is dropped too) -- betacal's
    formulas; probabilities s clipped to [eps, 1 - eps] with eps = float32
    machine epsilon, logits x through the exact features ln s = log_expit(x),
    -ln(1 - s) = -log_expit(-x) (no clipping: issue 14); cross-checked against
    scikit-learn's LogisticRegression(penalty=None) (1.2+);
  - logits with |x| up to 40 (synthetic, and the real class-0-vs-rest
    log-odds of DenseNet-40 CIFAR-10, where many rows have |x| > 16):
    parameters and probabilities against the unclipped optimum, and the map
    of a model written before CALIB_MP_BETA_FEATURES (no section: clipped);
  - synthetic data hitting each constraint branch, with and without weights;
  - COCO detections (../shared/data), on logits (s = sigmoid) and on the
    detector's probabilities: parameters to 1e-6, test-split probabilities;
  - one-vs-rest on a real 10-class set (the exact log-odds of class j,
    z_j - logsumexp_{l != j} z_l): per-class parameters to 1e-6, normalised
    test probabilities;
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
    from scipy.special import expit, log_expit, logsumexp, softmax
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
MP_BETA_FEATURES = 5
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


def logit_features(x):
    """[ln s, -ln(1 - s)] of s = sigmoid(x), exact for every finite x."""
    x = np.asarray(x, np.float64)
    return np.column_stack([log_expit(x), -log_expit(-x)])


def ovr_logodds(z):
    """n x k exact log-odds of each class: z_j - logsumexp_{l != j} z_l."""
    z = np.asarray(z, np.float64)
    k = z.shape[1]
    return np.column_stack([z[:, j] - logsumexp(np.delete(z, j, axis=1), axis=1) for j in range(k)])


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


def beta_reference(s, y, w=None, logits=False):
    """(a, b, c) by betacal's procedure on the exact MLE fits (s: logits
    when `logits`, features exact; else probabilities, clipped)."""
    y = np.asarray(y, np.float64)
    w = np.ones_like(y) if w is None else np.asarray(w, np.float64)
    X = logit_features(s) if logits else features(s)
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


def beta_map(params, s, logits=False):
    X = logit_features(s) if logits else features(s)
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

    def test_divergent_full_fit(self):
        # A single positive row inside the range of the scores: the points
        # [ln s, -ln(1 - s)] lie on a strictly convex curve, so a line cuts
        # that row off and the unconstrained optimum is at infinity (on
        # scores like a class's one-vs-rest probabilities among many
        # classes, log-normal around e^-7, Newton's gradient test is not met
        # in max_iter steps). libcalib used to stop with CALIB_E_NOCONV, and
        # so did a whole one-vs-rest fit with one such class. The a, b >= 0
        # problem has its optimum on a face (no finite stationary point
        # inside): reference = the better of the exact one-feature MLEs with
        # a coefficient >= 0, else the intercept alone; and no point of the
        # box (L-BFGS-B with a, b >= 0) may be lower.
        rng = np.random.default_rng(11)
        for n, q, w in ((10000, 0.5, None), (3000, 0.2, rng.uniform(0.5, 2.0, 3000))):
            s = np.sort(np.exp(rng.normal(-7.0, 1.0, n))).astype(np.float32)
            y = np.zeros(n, np.int64)
            y[int(q * n)] = 1
            f = Fit(s, y, w, probs=True)
            self.assertEqual(f.status, 0)
            X = features(s)
            ww = np.ones(n) if w is None else w
            yf = y.astype(np.float64)

            def nll(th):
                u = X @ th[:2] + th[2]
                return np.sum(ww * (-yf * log_expit(u) - (1 - yf) * log_expit(-u)))
            faces = []
            for j in (0, 1):
                t = logreg_mle(X[:, j:j + 1], yf, ww)
                if t[0] >= 0:
                    th = np.zeros(3)
                    th[j], th[2] = t
                    faces.append(th)
            if not faces:
                tbar = np.sum(ww * yf) / np.sum(ww)
                faces.append(np.array([0.0, 0.0, np.log(tbar / (1 - tbar))]))
            ref = min(faces, key=nll)
            # one positive row: the objective is flat, and the default tol
            # (1e-5 on the gradient) leaves the parameters to ~1e-6
            np.testing.assert_allclose(f.params[0], ref, atol=1e-5)
            self.assertTrue(f.params[0, 0] >= 0 and f.params[0, 1] >= 0)
            box = minimize(nll, np.array([0.5, 0.5, -5.0]), method="L-BFGS-B",
                           bounds=[(0, None), (0, None), (None, None)],
                           options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10000})
            self.assertLessEqual(nll(f.params[0]), box.fun + 1e-9 * abs(box.fun))

    def test_float32_zero_one(self):
        rng = np.random.default_rng(7)
        s, y = synthetic(rng, 1000, 1, 1, 0)
        s[:4] = [0.0, 1.0, 0.0, 1.0]
        f = Fit(s, y, probs=True)
        out = f.apply(s)
        self.assertTrue(np.all(np.isfinite(out)))
        np.testing.assert_allclose(f.params[0], beta_reference(s, y), atol=1e-6)


def shipped_binary(split):
    """The shipped DenseNet-40 CIFAR-10 set as a binary problem: float32 exact
    log-odds of class 0 (z_0 - logsumexp_{l != 0} z_l) and 1[y == 0]."""
    d = os.path.join("data", "cifar10_densenet40_markus93", split)
    z = np.load(os.path.join(d, "logits.npy")).astype(np.float64)
    y = np.load(os.path.join(d, "labels.npy")).astype(np.int64)
    return ovr_logodds(z)[:, 0].astype(np.float32), (y == 0).astype(np.int64)


class TestLogitsUnclipped(unittest.TestCase):
    """Issue 14: beta on logits uses the exact log-sigmoid features; the fit is
    the unclipped betacal optimum, however large |x| is."""

    def check(self, x, y, xt, w=None, what=""):
        f = Fit(x, y, w)
        self.assertEqual(f.status, 0)
        ref = beta_reference(x, y, w, logits=True)
        np.testing.assert_allclose(f.params[0], ref, rtol=1e-6, atol=1e-7, err_msg=what)
        got, want = f.apply(xt), beta_map(ref, xt, logits=True)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=what)
        clipped = beta_map(beta_reference(expit(x.astype(np.float64)), y, w), expit(xt.astype(np.float64)))
        return np.max(np.abs(got - want)), np.max(np.abs(clipped - want))

    def test_synthetic_40(self):
        rng = np.random.default_rng(14)
        for i, (a, b, c) in enumerate([(0.3, 0.5, 0.2), (1.2, 0.4, -1.0), (0.05, 0.08, 0.0)]):
            x = rng.uniform(-40, 40, 6000).astype(np.float32)
            y = (rng.random(x.size) < beta_map([a, b, c], x, logits=True)).astype(np.int64)
            w = rng.uniform(0, 2, x.size) if i == 1 else None
            xt = np.linspace(-40, 40, 801).astype(np.float32)
            self.check(x[:4000], y[:4000], xt, None if w is None else w[:4000], "case %d" % i)

    def test_shipped_class0(self):
        x, y = shipped_binary("val")
        xt, _ = shipped_binary("test")
        self.assertGreater(np.mean(np.abs(x) > 16), 0.5)  # the clip would bind on most rows
        d_ref, d_clip = self.check(x, y, xt, what="DenseNet-40 class 0 vs rest")
        print("  beta on DenseNet class-0 log-odds: max |p - unclipped optimum| %.2e (clipped optimum: %.2e)"
              % (d_ref, d_clip), file=sys.stderr)

    def test_model_says_so(self):
        rng = np.random.default_rng(15)
        x = rng.uniform(-40, 40, 500).astype(np.float32)
        y = (rng.random(x.size) < expit(0.2 * x)).astype(np.int64)
        f = Fit(x, y)
        np.testing.assert_array_equal(ctlib.param(f.m, MP_BETA_FEATURES), [1.0])


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
        ref = beta_reference(z, y, logits=True)
        np.testing.assert_allclose(f.params[0], ref, atol=1e-6)
        np.testing.assert_allclose(f.apply(zt), beta_map(ref, zt, logits=True), atol=1e-6)
        p = np.fromfile(os.path.join(SHARED, self.COCO, "val", "probs.f32"), np.float32)
        np.testing.assert_allclose(Fit(p, y, probs=True).params[0], beta_reference(p, y), atol=1e-6)

    def test_multiclass_ovr(self):
        name, k = "cifar10_densenet40_markus93", 10
        zv, yv = load(name, "val", k)
        zt, _ = load(name, "test", k)
        f = Fit(zv, yv)
        self.assertEqual(f.status, 0)
        sv = ovr_logodds(zv)
        st = ovr_logodds(zt)
        refs = np.array([beta_reference(sv[:, j], (yv == j).astype(int), logits=True) for j in range(k)])
        np.testing.assert_allclose(f.params, refs, atol=1e-6)
        q = np.column_stack([beta_map(refs[j], st[:, j], logits=True) for j in range(k)])
        q /= q.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(f.apply(zt), q, atol=1e-6)
        qv = np.column_stack([beta_map(refs[j], sv[:, j], logits=True) for j in range(k)])
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
        ref = beta_reference(z, y, logits=True)
        np.testing.assert_allclose([j["a"], j["b"], j["c"]], ref, atol=1e-6)
        self.assertEqual((j["method"], j["n"], j["k"]), ("beta", y.size, 1))


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=1)
    sys.exit(datagate.finish(prog.result))
