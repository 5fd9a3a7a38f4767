"""Each calibrator of the binding against an independent reference
(scikit-learn, scipy or numpy written from the paper), on the shipped set,
on ../shared/data (skipped with a message when absent) and on synthetic data.
Methods the loaded library cannot fit are skipped here (test_binding.py
checks that they raise CALIB_E_UNSUPPORTED).

Run from the repository root:  PYTHONPATH=python /usr/bin/python3 test/py/test_binding_methods.py
"""
import json
import os
import sys
import unittest

import numpy as np
from scipy import optimize, special

import calib

import datagate  # noqa: E402  (honest skips: test/py/datagate.py)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("CALIB_SHARED_DATA") or os.path.join(REPO, os.pardir, "shared", "data")
EPS32 = float(np.finfo(np.float32).eps)


def shipped(split):
    for root in (os.path.join(REPO, "data"), SHARED):
        d = os.path.join(root, "cifar10_densenet40_markus93", split)
        if os.path.exists(os.path.join(d, "logits.npy")):
            return np.load(os.path.join(d, "logits.npy")), np.load(os.path.join(d, "labels.npy")).astype(np.int64)
    raise AssertionError("the shipped set is missing from data/ (a broken checkout)")


def coco(split):
    d = os.path.join(SHARED, "coco_faster_rcnn_r50_binary_netcal", split)
    if not os.path.exists(os.path.join(d, "logits.f32")):
        raise datagate.missing("the binary COCO reference")
    return (np.fromfile(os.path.join(d, "logits.f32"), "<f4"),
            np.fromfile(os.path.join(d, "labels.i32"), "<i4").astype(np.int64))


def synthetic_binary(n=6000, seed=7):
    """Scores 3x too confident with many ties (rounded to 0.05)."""
    rng = np.random.default_rng(seed)
    z = np.round(rng.normal(0, 2, n) / 0.05) * 0.05
    y = (rng.random(n) < special.expit(z / 3)).astype(np.int64)
    return (3 * z).astype(np.float32), y


def need(method):
    if not calib.method_available(method):
        raise unittest.SkipTest("%s is not in this build of libcalib" % method)


# ---- references -----------------------------------------------------------------------
def logistic_mle(X, t, w=None):
    """argmin of sum w [t log(1 + e^-u) + (1 - t) log(1 + e^u)], u = X c + c0;
    scipy trust-exact with exact gradient and Hessian. Returns (c, c0)."""
    n, d = X.shape
    A = np.hstack([X, np.ones((n, 1))])
    w = np.ones(n) if w is None else w

    def f(b):
        u = A @ b
        return float(np.sum(w * (t * np.logaddexp(0, -u) + (1 - t) * np.logaddexp(0, u))))

    def g(b):
        u = A @ b
        return A.T @ (w * (special.expit(u) - t))

    def h(b):
        p = special.expit(A @ b)
        return (A * (w * p * (1 - p))[:, None]).T @ A

    r = optimize.minimize(f, np.zeros(d + 1), jac=g, hess=h, method="trust-exact", options={"gtol": 1e-11})
    return r.x[:d], r.x[d]


def platt_targets(y, smooth):
    if not smooth:
        return y.astype(np.float64)
    npos, nneg = np.sum(y == 1), np.sum(y != 1)
    return np.where(y == 1, (npos + 1.0) / (npos + 2.0), 1.0 / (nneg + 2.0))


def ref_platt_binary(s, y, smooth=True):
    """(A, B) of P = 1 / (1 + exp(A s + B)): the same objective, solved exactly."""
    c, c0 = logistic_mle(np.asarray(s, np.float64)[:, None], platt_targets(y, smooth))
    return -c[0], -c0


def normalise(q):
    tot = q.sum(axis=1, keepdims=True)
    out = np.where(tot > 0, q / np.where(tot > 0, tot, 1), 1.0 / q.shape[1])
    return out


def beta_features(s):
    s = np.clip(np.asarray(s, np.float64), EPS32, 1 - EPS32)
    return np.stack([np.log(s), -np.log1p(-s)], axis=1)


def beta_logit_features(x):
    """[ln s, -ln(1 - s)] of s = sigmoid(x), exact (beta on logits does not clip: issue 14)."""
    x = np.asarray(x, np.float64)
    return np.stack([special.log_expit(x), -special.log_expit(-x)], axis=1)


def ovr_logodds(z, j):
    z = np.asarray(z, np.float64)
    return z[:, j] - special.logsumexp(np.delete(z, j, axis=1), axis=1)


def ref_beta_binary(s, y, logits=False):
    """betacal's fit: 0/1 targets; a < 0 -> drop ln s; else b < 0 -> drop -ln(1-s).
    s: probabilities (clipped), or logits (exact features) when `logits`."""
    X = beta_logit_features(s) if logits else beta_features(s)
    t = y.astype(np.float64)
    (a, b), c = logistic_mle(X, t)
    if a < 0:
        (b,), c = logistic_mle(X[:, 1:], t)
        a = 0.0
    elif b < 0:
        (a,), c = logistic_mle(X[:, :1], t)
        b = 0.0
    return a, b, c


# ---- tests ------------------------------------------------------------------------------
class TestPlatt(unittest.TestCase):
    def setUp(self):
        need("platt")

    def test_libsvm_vector(self):
        """libsvm's / scikit-learn's test vector (sklearn PR #1176)."""
        m = calib.PlattScaling().fit(np.array([5, -4, 1], np.float32), np.array([1, 0, 0]))
        self.assertAlmostEqual(m.a_[0], -0.20261354391187855, delta=1e-12)
        self.assertAlmostEqual(m.b_[0], 0.6523631498001051, delta=1e-12)

    def check_binary(self, s, y, label):
        from sklearn.calibration import _sigmoid_calibration
        for smooth in (True, False):
            m = calib.PlattScaling(smooth_targets=smooth, tol=1e-12).fit(s, y)
            A, B = ref_platt_binary(s, y, smooth)
            self.assertAlmostEqual(m.a_[0], A, delta=1e-7 * max(1, abs(A)), msg=(label, smooth))
            self.assertAlmostEqual(m.b_[0], B, delta=1e-7 * max(1, abs(B)), msg=(label, smooth))
            p = m.predict_proba(s)
            np.testing.assert_allclose(p, special.expit(-(A * s.astype(np.float64) + B)), atol=2e-7)
        a, b = _sigmoid_calibration(s.astype(np.float64), y)          # scikit-learn itself (BFGS, gtol 1e-5)
        m = calib.PlattScaling().fit(s, y)
        self.assertAlmostEqual(m.a_[0], a, delta=1e-4 * max(1, abs(a)))
        self.assertAlmostEqual(m.b_[0], b, delta=1e-4 * max(1, abs(b)))

    def test_binary_synthetic(self):
        self.check_binary(*synthetic_binary(), label="synthetic")

    def test_binary_coco(self):
        s, y = coco("val")
        self.check_binary(s, y, "coco")
        # REFERENCE.md: Platt (sklearn, smoothed targets) a = 0.81838, b = -1.11133 for sigmoid(a z + b)
        m = calib.PlattScaling().fit(s, y)
        self.assertAlmostEqual(-m.a_[0], 0.81838, delta=1e-5)
        self.assertAlmostEqual(-m.b_[0], -1.11133, delta=1e-5)

    def test_one_vs_rest_shipped(self):
        (zv, yv), (zt, yt) = shipped("val"), shipped("test")
        m = calib.PlattScaling(tol=1e-12).fit(zv, yv)
        q = np.empty(zt.shape)
        for j in range(zv.shape[1]):
            A, B = ref_platt_binary(zv[:, j], (yv == j).astype(np.int64))
            self.assertAlmostEqual(m.a_[j], A, delta=1e-6 * max(1, abs(A)))
            self.assertAlmostEqual(m.b_[j], B, delta=1e-6 * max(1, abs(B)))
            q[:, j] = special.expit(-(A * zt[:, j].astype(np.float64) + B))
        np.testing.assert_allclose(m.predict_proba(zt), normalise(q), atol=1e-6)

    def test_probability_input(self):
        s, y = synthetic_binary()
        p = special.expit(s.astype(np.float64)).astype(np.float32)
        m = calib.PlattScaling(input="probs", tol=1e-12).fit(p, y)
        self.assertEqual(m.input_, "probs")
        x = np.clip(p.astype(np.float64), EPS32, 1 - EPS32)
        A, B = ref_platt_binary(np.log(x) - np.log1p(-x), y)
        self.assertAlmostEqual(m.a_[0], A, delta=1e-6 * max(1, abs(A)))
        self.assertAlmostEqual(m.b_[0], B, delta=1e-6 * max(1, abs(B)))
        with self.assertRaises(calib.CalibError) as cm:
            m.predict_proba(p + 1)
        self.assertEqual(cm.exception.code, calib.E_DOMAIN)

    def test_errors(self):
        s, y = synthetic_binary(200)
        sep = np.where(y == 1, 1.0, -1.0).astype(np.float32)
        with self.assertRaises(calib.CalibError) as cm:
            calib.PlattScaling(smooth_targets=False).fit(sep, y)
        self.assertEqual(cm.exception.code, calib.E_SEPARABLE)
        with self.assertRaises(calib.CalibError) as cm:
            calib.PlattScaling(input="bogus").fit(s, y)
        self.assertIn("'logits'", str(cm.exception))


class TestBeta(unittest.TestCase):
    def setUp(self):
        need("beta")

    def check(self, z, y, label):
        m = calib.BetaCalibration(tol=1e-12).fit(z, y)
        a, b, c = ref_beta_binary(z, y, logits=True)
        for got, want in ((m.a_[0], a), (m.b_[0], b), (m.c_[0], c)):
            self.assertAlmostEqual(got, want, delta=1e-6 * max(1, abs(want)), msg=label)
        X = beta_logit_features(z)
        np.testing.assert_allclose(m.predict_proba(z), special.expit(a * X[:, 0] + b * X[:, 1] + c), atol=1e-6)

    def test_binary_synthetic(self):
        self.check(*synthetic_binary(), label="synthetic")

    def test_binary_coco(self):
        self.check(*coco("val"), label="coco")

    def test_one_vs_rest_shipped(self):
        (zv, yv), (zt, _) = shipped("val"), shipped("test")
        m = calib.BetaCalibration(tol=1e-12).fit(zv, yv)
        q = np.empty(zt.shape)
        for j in range(zv.shape[1]):
            a, b, c = ref_beta_binary(ovr_logodds(zv, j), (yv == j).astype(np.int64), logits=True)
            self.assertAlmostEqual(m.a_[j], a, delta=1e-5 * max(1, abs(a)))
            X = beta_logit_features(ovr_logodds(zt, j))
            q[:, j] = special.expit(a * X[:, 0] + b * X[:, 1] + c)
        np.testing.assert_allclose(m.predict_proba(zt), normalise(q), atol=1e-5)


class TestIsotonic(unittest.TestCase):
    def setUp(self):
        need("isotonic")

    def sk(self, x, y, **kw):
        from sklearn.isotonic import IsotonicRegression
        kw.setdefault("out_of_bounds", "clip")
        return IsotonicRegression(y_min=0, y_max=1, **kw).fit(np.asarray(x, np.float64), y)

    def check_binary(self, z, y, label):
        m = calib.IsotonicCalibration().fit(z, y)
        ir = self.sk(z, y)
        np.testing.assert_allclose(m.X_thresholds_, ir.X_thresholds_, rtol=0, atol=1e-12, err_msg=label)
        np.testing.assert_allclose(m.y_thresholds_, ir.y_thresholds_, rtol=0, atol=1e-12, err_msg=label)
        t = np.concatenate([z, z.min() - 1 + np.zeros(3, np.float32), z.max() + np.ones(3, np.float32)])
        np.testing.assert_allclose(m.predict_proba(t), ir.predict(t.astype(np.float64)), atol=6e-8)

    def test_binary_synthetic_with_ties(self):
        self.check_binary(*synthetic_binary(), label="synthetic")

    def test_binary_coco(self):
        self.check_binary(*coco("val"), label="coco")

    def test_options(self):
        z, y = synthetic_binary()
        from sklearn.isotonic import IsotonicRegression
        m = calib.IsotonicCalibration(increasing="auto").fit(-z, y)
        ir = IsotonicRegression(increasing="auto", out_of_bounds="clip", y_min=0, y_max=1).fit(-z.astype(float), y)
        np.testing.assert_allclose(m.y_thresholds_, ir.y_thresholds_, atol=1e-12)
        m = calib.IsotonicCalibration(y_min=0.1, y_max=0.8).fit(z, y)
        ir = IsotonicRegression(y_min=0.1, y_max=0.8, out_of_bounds="clip").fit(z.astype(float), y)
        np.testing.assert_allclose(m.y_thresholds_, ir.y_thresholds_, atol=1e-12)
        m = calib.IsotonicCalibration(out_of_bounds="raise").fit(z, y)
        with self.assertRaises(calib.CalibError) as cm:
            m.predict_proba(np.array([z.max() + 1], np.float32))
        self.assertEqual(cm.exception.code, calib.E_DOMAIN)
        m = calib.IsotonicCalibration(strict=0.1).fit(z, y)
        p = m.predict_proba(np.unique(z))
        self.assertTrue(np.all(np.diff(p.astype(np.float64)) > 0))       # ranks kept strictly

    def test_one_vs_rest_shipped(self):
        """k >= 2: input "logits" fits class j on softmax column j (in double,
        rounded once to float32); "scores" on the raw column j."""
        (zv, yv), (zt, _) = shipped("val"), shipped("test")
        soft = lambda z: special.softmax(z.astype(np.float64), axis=1).astype(np.float32)
        for inp, xv, xt in (("logits", soft(zv), soft(zt)), ("scores", zv, zt)):
            m = calib.IsotonicCalibration(input=inp).fit(zv, yv)
            q = np.empty(zt.shape)
            for j in range(zv.shape[1]):
                ir = self.sk(xv[:, j], (yv == j).astype(np.int64))
                np.testing.assert_allclose(m.X_thresholds_[j], ir.X_thresholds_, atol=1e-12, err_msg=inp)
                np.testing.assert_allclose(m.y_thresholds_[j], ir.y_thresholds_, atol=1e-12, err_msg=inp)
                q[:, j] = ir.predict(xt[:, j].astype(np.float64))
            np.testing.assert_allclose(m.predict_proba(zt), normalise(q), atol=2e-7, err_msg=inp)

    def test_low_level_f64(self):
        from sklearn.isotonic import IsotonicRegression
        rng = np.random.default_rng(2)
        x = np.round(rng.normal(size=3000), 1)
        y = x + rng.normal(size=3000)
        w = rng.random(3000)
        for inc in (True, False, "auto"):
            xt, yt, used = calib.isotonic_regression(x, y, sample_weight=w, increasing=inc)
            ir = IsotonicRegression(increasing=inc).fit(x, y, sample_weight=w)
            np.testing.assert_allclose(xt, ir.X_thresholds_, atol=1e-12)
            np.testing.assert_allclose(yt, ir.y_thresholds_, atol=1e-12)
            t = np.linspace(-5, 5, 101)
            np.testing.assert_allclose(calib.isotonic_predict(xt, yt, t), ir.predict(t), atol=1e-12)


def ref_hist_fit(p, t, bins, binning):
    """(values, upper edges) of histogram binning of scores p with 0/1 targets t."""
    if binning == "equal_width":
        edges = np.arange(1, bins + 1) / bins
    else:
        s = np.sort(p)
        parts = np.array_split(s, min(bins, len(s)))
        edges = np.unique(np.array([(parts[i][-1] + parts[i + 1][0]) / 2 for i in range(len(parts) - 1)] + [1.0]))
    b = np.minimum(np.searchsorted(edges, p, side="left"), len(edges) - 1)
    lo = np.concatenate([[0.0], edges[:-1]])
    vals = (lo + edges) / 2
    for i in range(len(edges)):
        m = b == i
        if m.any():
            vals[i] = t[m].mean()
    return vals, edges


def ref_hist_apply(vals, edges, p):
    return vals[np.minimum(np.searchsorted(edges, p, side="left"), len(edges) - 1)]


class TestHistogram(unittest.TestCase):
    def setUp(self):
        need("histogram")

    def test_binary(self):
        z, y = synthetic_binary()
        p = special.expit(z.astype(np.float64)).astype(np.float32)
        for binning in ("equal_width", "equal_mass"):
            for bins in (1, 7, 15):
                m = calib.HistogramBinning(bins=bins, binning=binning, input="probs").fit(p, y)
                vals, edges = ref_hist_fit(p.astype(np.float64), y, bins, binning)
                np.testing.assert_allclose(m.bin_values_, vals, atol=1e-12, err_msg=(binning, bins))
                np.testing.assert_allclose(m.bin_edges_[1:], edges, atol=0, err_msg=(binning, bins))
                np.testing.assert_allclose(m.predict_proba(p), ref_hist_apply(vals, edges, p.astype(np.float64)),
                                           atol=6e-8)

    def test_one_vs_rest_shipped(self):
        (zv, yv), (zt, _) = shipped("val"), shipped("test")
        pv = special.softmax(zv.astype(np.float64), 1).astype(np.float32)
        pt = special.softmax(zt.astype(np.float64), 1).astype(np.float32)
        for binning in ("equal_width", "equal_mass"):
            m = calib.HistogramBinning(bins=15, binning=binning, input="probs").fit(pv, yv)
            q = np.empty(pt.shape)
            for j in range(pv.shape[1]):
                vals, edges = ref_hist_fit(pv[:, j].astype(np.float64), (yv == j).astype(float), 15, binning)
                got = m.bin_values_[j]
                np.testing.assert_allclose(got, vals, atol=1e-12, err_msg=binning)
                q[:, j] = ref_hist_apply(vals, edges, pt[:, j].astype(np.float64))
            np.testing.assert_allclose(m.predict_proba(pt), normalise(q), atol=2e-7, err_msg=binning)


# ---- vector / matrix / Dirichlet scaling, ETS ----------------------------------------------
def mx_features(z, kind):
    z = np.asarray(z, np.float64)
    return special.log_softmax(z, axis=1) if kind == "dirichlet" else z


def mx_objective(z, y, kind, lam=0.0, mu=0.0, l2=0.0, center=True):
    """(f, grad, unpack, start) of the objective in include/calib.h: weighted mean
    NLL + lam/(k(k-1)) sum_offdiag W^2 + mu/k sum b^2 + l2/P ||theta - theta_c||^2."""
    X = mx_features(z, kind)
    n, k = X.shape
    onehot = np.eye(k)[y]
    vec = kind == "vector"
    P = 2 * k if vec else k * k + k
    start = np.concatenate([np.ones(k) if vec else np.eye(k).ravel(), np.zeros(k)])
    c = start if center else np.zeros(P)
    off = 1.0 - np.eye(k)

    def unpack(th):
        return (th[:k] if vec else th[:k * k].reshape(k, k)), th[-k:]

    def f(th):
        W, b = unpack(th)
        A = X * W + b if vec else X @ W.T + b
        lse = special.logsumexp(A, axis=1)
        val = np.mean(lse - A[np.arange(n), y])
        G = (np.exp(A - lse[:, None]) - onehot) / n
        gW = np.sum(G * X, 0) if vec else G.T @ X
        gb = G.sum(0)
        if not vec and lam:
            val += lam / (k * (k - 1)) * np.sum((W * off) ** 2)
            gW = gW + 2 * lam / (k * (k - 1)) * W * off
        val += mu / k * np.sum(b ** 2)
        gb = gb + 2 * mu / k * b
        g = np.concatenate([np.ravel(gW), gb])
        val += l2 / P * np.sum((th - c) ** 2)
        g = g + 2 * l2 / P * (th - c)
        return val, g

    return f, unpack, start


def mx_reference(z, y, kind, **reg):
    f, unpack, start = mx_objective(z, y, kind, **reg)
    r = optimize.minimize(f, start, jac=True, method="L-BFGS-B",
                          options={"maxiter": 50000, "maxcor": 30, "gtol": 1e-11, "ftol": 1e-16})
    return r.fun, unpack(r.x), f


def mx_apply(z, kind, W, b):
    X = mx_features(z, kind)
    return special.softmax(X * W + b if kind == "vector" else X @ W.T + b, axis=1)


class TestMatrixFamily(unittest.TestCase):
    CASES = (("vector", calib.VectorScaling, {}), ("matrix", calib.MatrixScaling, {}),
             ("dirichlet", calib.DirichletCalibration, {"lam": 1e-3, "mu": 1e-3}),
             ("matrix", calib.MatrixScaling, {"lam": 0.05, "mu": 0.01}),
             ("vector", calib.VectorScaling, {"l2": 0.1, "center": False}))

    def check(self, kind, cls, reg, zv, yv, zt, label):
        opts = {"odir_lambda": reg.get("lam"), "odir_mu": reg.get("mu"), "l2": reg.get("l2"),
                "l2_center": reg.get("center")}
        opts = {key: v for key, v in opts.items() if v is not None and key in cls()._options}
        m = cls(tol=1e-9, **opts).fit(zv, yv)
        fref, _, f = mx_reference(zv, yv, kind, **reg)
        W = m.w_ if kind == "vector" else m.W_
        theta = np.concatenate([np.ravel(W), m.b_])
        fours, g = f(theta)
        self.assertLessEqual(fours, fref + 1e-9 * abs(fref), (label, kind, reg, fours, fref))
        self.assertLess(np.abs(g).max(), 1e-6, (label, kind, reg))
        np.testing.assert_allclose(m.predict_proba(zt), mx_apply(zt, kind, W, m.b_), atol=2e-6, err_msg=label)

    def test_shipped(self):
        (zv, yv), (zt, _) = shipped("val"), shipped("test")
        ran = 0
        for kind, cls, reg in self.CASES:
            if calib.method_available(kind):
                self.check(kind, cls, reg, zv, yv, zt, "shipped")
                ran += 1
        if not ran:
            self.skipTest("vector/matrix/Dirichlet scaling are not in this build of libcalib")

    def test_k1_is_an_argument_error(self):
        avail = [(kind, cls) for kind, cls, _ in self.CASES[:3] if calib.method_available(kind)]
        if not avail:
            self.skipTest("vector/matrix/Dirichlet scaling are not in this build of libcalib")
        s, y = synthetic_binary(100)
        for kind, cls in avail:
            with self.assertRaises(calib.CalibError) as cm:
                cls().fit(s, y)
            self.assertEqual(cm.exception.code, calib.E_ARG)


def ets_probs(z, T, w):
    z = np.asarray(z, np.float64)
    k = z.shape[1]
    return w[0] * special.softmax(z / T, 1) + w[1] * special.softmax(z, 1) + w[2] / k


class TestETS(unittest.TestCase):
    def setUp(self):
        need("ets")

    def test_shipped(self):
        (zv, yv), (zt, _) = shipped("val"), shipped("test")
        for loss in ("nll", "mse"):
            m = calib.EnsembleTemperatureScaling(loss=loss).fit(zv, yv)
            T = calib.TemperatureScaling().fit(zv, yv).temperature_
            self.assertAlmostEqual(m.temperature_, T, delta=1e-12 * T)   # T is the temperature-scaling fit

            def objective(w):
                p = ets_probs(zv, T, w)
                if loss == "nll":
                    return float(-np.mean(np.log(p[np.arange(len(yv)), yv])))
                return float(np.mean(np.sum((p - np.eye(p.shape[1])[yv]) ** 2, 1)))
            r = optimize.minimize(objective, np.full(3, 1 / 3), method="SLSQP", bounds=[(0, 1)] * 3,
                                  constraints={"type": "eq", "fun": lambda w: np.sum(w) - 1},
                                  options={"ftol": 1e-15, "maxiter": 1000})
            w = m.weights_
            self.assertAlmostEqual(float(np.sum(w)), 1.0, delta=1e-12)
            self.assertTrue(np.all(w >= 0))
            self.assertLessEqual(objective(w), r.fun + 1e-9, loss)
            np.testing.assert_allclose(m.predict_proba(zt), ets_probs(zt, T, w), atol=1e-6)


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=1)
    sys.exit(datagate.finish(prog.result))
