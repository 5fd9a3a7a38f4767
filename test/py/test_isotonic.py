"""Isotonic regression: libcalib (through ctypes on lib/libcalib.so) against
scikit-learn's IsotonicRegression and a CalibratedClassifierCV-equivalent
one-vs-rest computation.

  - calib_isotonic_fit_f64 / calib_isotonic_predict_f64 vs IsotonicRegression:
    X_thresholds_, y_thresholds_, increasing_ and predictions (clip / nan /
    raise) to 1e-12 on random data with many ties, weights (zeros included),
    y_min/y_max, n = 1, 2, constant x, constant y, one class; and
    calib_isotonic_fit_f64_work (one reused, dirty workspace) bit-identical
    to it on every one of these fits;
  - CALIB_METHOD_ISOTONIC (calib_fit on float32 scores): binary COCO
    detections (val fit, test apply) and a 10-class CIFAR-10 set one-vs-rest
    vs sklearn per class (out_of_bounds='clip', fit on val, predict test,
    renormalise, zero sum -> uniform), on raw logit columns (scores), on
    softmax probabilities given as data, and on logits (softmax inside);
  - strict ranks: the calibrated order equals the raw order (AUC unchanged).
Run from the repository root: PYTHONPATH=python /usr/bin/python3 test/py/test_isotonic.py
"""
import ctypes
import os
import sys
import unittest
import warnings

try:
    import numpy as np
    from sklearn.isotonic import IsotonicRegression
    from sklearn.metrics import roc_auc_score
except ImportError as e:  # pragma: no cover
    print("skipped: needs numpy and scikit-learn (%s)" % e)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctlib  # noqa: E402  (loads lib/libcalib.so or skips)
import datagate  # noqa: E402
from ctlib import D, SHARED, SZ, lib  # noqa: E402
lib.calib_isotonic_fit_f64.argtypes = [D, D, D, SZ, ctypes.c_int, ctypes.c_double, ctypes.c_double,
                                       D, D, SZ, ctypes.POINTER(SZ), ctypes.POINTER(ctypes.c_int)]
lib.calib_isotonic_predict_f64.argtypes = [D, D, SZ, ctypes.c_int, D, SZ, D]
lib.calib_isotonic_work_size.argtypes = [SZ, ctypes.c_int]
lib.calib_isotonic_work_size.restype = SZ
lib.calib_isotonic_fit_f64_work.argtypes = lib.calib_isotonic_fit_f64.argtypes + [ctypes.c_void_p, SZ]
_WORK = [np.zeros(0, dtype=np.uint64)]  # one workspace, reused (dirty) across every _work fit

CALIB_E_DOMAIN = -15
METHOD_ISOTONIC = 4
P_INPUT, P_INC, P_YMIN, P_YMAX, P_OOB, P_STRICT = 4, 9, 10, 11, 12, 13
MP_COUNTS, MP_X, MP_Y = 8, 9, 10
INPUT_PROBS, INPUT_LOGITS, INPUT_SCORES = 1, 2, 3
OOB = {"clip": 0, "raise": 1, "nan": 2}


def dp(a):
    return None if a is None else a.ctypes.data_as(D)


def fit_f64(x, y, w=None, increasing=True, y_min=None, y_max=None, work=False):
    """calib_isotonic_fit_f64, or with work=True calib_isotonic_fit_f64_work
    in a workspace of exactly calib_isotonic_work_size bytes."""
    n = len(x)
    xt, yt = np.empty(max(n, 1)), np.empty(max(n, 1))
    m, inc = SZ(), ctypes.c_int()
    code = {True: 1, False: 0, "auto": -1}[increasing]
    lo = -np.inf if y_min is None else y_min
    hi = np.inf if y_max is None else y_max
    args = [dp(x), dp(y), dp(w), n, code, lo, hi, dp(xt), dp(yt), n, ctypes.byref(m), ctypes.byref(inc)]
    if work:
        need = lib.calib_isotonic_work_size(n, code)
        if _WORK[0].nbytes < need:
            _WORK[0] = np.full((need + 7) // 8, 0xA5A5A5A5A5A5A5A5, dtype=np.uint64)
        st = lib.calib_isotonic_fit_f64_work(*args, _WORK[0].ctypes.data, need)
    else:
        st = lib.calib_isotonic_fit_f64(*args)
    assert st == 0, st
    return xt[:m.value].copy(), yt[:m.value].copy(), bool(inc.value)


def predict_f64(xt, yt, t, mode):
    out = np.full(len(t), 12345.0)
    st = lib.calib_isotonic_predict_f64(dp(xt), dp(yt), len(xt), OOB[mode], dp(t), len(t), dp(out))
    return st, out


def sk_fit(x, y, w=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Spearman CI warning, nan rho
        return IsotonicRegression(**kw).fit(x, y, sample_weight=w)


class Fitter:
    """calib_fit/calib_apply of CALIB_METHOD_ISOTONIC."""

    def __init__(self, opts=None):
        self.opts = opts or {}

    def fit(self, x, y, w=None):
        st, m, k, _ = ctlib.fit(METHOD_ISOTONIC, x, y, w, self.opts)
        assert st == 0, st
        return Model(m, k)


class Model:
    def __init__(self, m, k):
        self.m, self.k = m, k

    def param(self, which):
        return ctlib.param(self.m, which)

    def tables(self):
        c = self.param(MP_COUNTS).astype(int)
        X, Y = self.param(MP_X), self.param(MP_Y)
        off = np.concatenate([[0], np.cumsum(c)])
        return [(X[off[j]:off[j + 1]], Y[off[j]:off[j + 1]]) for j in range(len(c))]

    def apply(self, x):
        return ctlib.apply_status(self.m, x, fill=-7.0)

    def __del__(self):
        lib.calib_model_free(self.m)


def load(name, split):
    d = os.path.join(SHARED, name, split)
    x = np.fromfile(os.path.join(d, "logits.f32"), dtype=np.float32)
    y = np.fromfile(os.path.join(d, "labels.i32"), dtype=np.int32).astype(np.int64)
    return x.reshape(len(y), -1), y


def ovr_reference(xv, yv, xt):
    """CalibratedClassifierCV(method='isotonic') on given per-class scores:
    one IsotonicRegression(out_of_bounds='clip') per class, renormalised."""
    k = xv.shape[1]
    q = np.zeros((xt.shape[0], k))
    tabs = []
    for j in range(k):
        r = sk_fit(xv[:, j].astype(np.float64), (yv == j).astype(np.float64), out_of_bounds="clip")
        tabs.append((r.X_thresholds_, r.y_thresholds_))
        q[:, j] = r.predict(xt[:, j].astype(np.float64))
    s = q.sum(axis=1, keepdims=True)
    return np.divide(q, s, out=np.full_like(q, 1.0 / k), where=s != 0), tabs


class F64Parity(unittest.TestCase):
    def check(self, x, y, w=None, **kw):
        r = sk_fit(x, y, w, **kw)
        xt, yt, inc = fit_f64(x, y, w, kw.get("increasing", True), kw.get("y_min"), kw.get("y_max"))
        self.assertEqual(len(xt), len(r.X_thresholds_))
        # the caller's-workspace variant: the same fit, bit for bit
        xw, yw, iw = fit_f64(x, y, w, kw.get("increasing", True), kw.get("y_min"), kw.get("y_max"), work=True)
        np.testing.assert_array_equal(xw, xt)
        np.testing.assert_array_equal(yw, yt)
        self.assertEqual(iw, inc)
        np.testing.assert_allclose(xt, r.X_thresholds_, rtol=0, atol=1e-12)
        np.testing.assert_allclose(yt, r.y_thresholds_, rtol=0, atol=1e-12)
        self.assertEqual(inc, bool(r.increasing_))
        lo, hi = x.min(), x.max()
        t = np.concatenate([np.linspace(lo - 1, hi + 1, 57), x[:20], xt])
        for mode in ("clip", "nan", "raise"):
            rr = sk_fit(x, y, w, out_of_bounds=mode, **kw)
            try:
                want = rr.predict(t)
            except ValueError:
                want = None
            st, got = predict_f64(xt, yt, t, mode)
            if want is None:
                self.assertEqual(st, CALIB_E_DOMAIN)
                self.assertTrue(np.all(got == 12345.0))  # nothing written
            else:
                self.assertEqual(st, 0)
                np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
                ok = ~np.isnan(want)
                np.testing.assert_allclose(got[ok], want[ok], rtol=0, atol=1e-12)
        return len(xt)

    def test_random_with_ties(self):
        rng = np.random.default_rng(20240601)
        sizes = []
        for t in range(400):
            n = int(rng.integers(3, 600))
            x = np.round(rng.normal(size=n), int(rng.integers(0, 3)))  # many ties
            if t % 4 == 3:
                x = x.astype(np.float32).astype(np.float64)  # float32 scores: the packed path
            if t % 2:
                y = (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(float)
            else:
                y = np.round(rng.normal(size=n) + (0.5 - t % 4) * x, 1)
            w = None
            if t % 3 == 1:
                w = rng.choice([0.0, 0.5, 1.0, 2.5, 0.1, 3.0], size=n)
                w[0] = 1.0
            inc = [True, False, "auto"][t % 3]
            kw = {"increasing": inc}
            if t % 5 == 0:
                kw.update(y_min=0.2, y_max=0.7)
            sizes.append(self.check(x, y, w, **kw))
        self.assertGreater(max(sizes), 20)  # real pooling happened

    def test_tolerance_merge(self):
        # x values closer than 1e-15 merge into the group's first x (absolute).
        x = np.array([0.0, 1e-16, 5e-16, 2e-15, 1.0, 1.0 + 2.3e-16, 2.0])
        y = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
        self.check(x, y)
        self.check(x, y, np.array([1, 2, 3, 4, 5, 6, 7.0]))

    def test_degenerate(self):
        self.check(np.array([0.3]), np.array([1.0]))
        self.check(np.array([0.3]), np.array([1.0]), increasing="auto")
        self.check(np.array([0.3, 0.1]), np.array([1.0, 0.0]))
        self.check(np.array([0.3, 0.1]), np.array([1.0, 0.0]), increasing="auto")
        self.check(np.array([0.1, 0.3]), np.array([1.0, 0.0]), increasing="auto")
        self.check(np.full(9, 0.5), np.arange(9.0) % 2)                       # constant x
        self.check(np.full(9, 0.5), np.arange(9.0) % 2, increasing="auto")
        self.check(np.linspace(0, 1, 9), np.full(9, 0.25))                    # constant y
        self.check(np.linspace(0, 1, 9), np.full(9, 0.25), increasing="auto")
        self.check(np.linspace(0, 1, 9), np.zeros(9))                         # one class
        self.check(np.linspace(0, 1, 9), np.ones(9), increasing="auto")

    def test_errors(self):
        x = np.array([0.0, 1.0])
        m = SZ()
        out = np.zeros(2)
        self.assertEqual(lib.calib_isotonic_fit_f64(dp(x), dp(x), None, 0, 1, -np.inf, np.inf,
                                                    dp(out), dp(out), 2, ctypes.byref(m), None), -14)
        bad = np.array([0.0, np.nan])
        self.assertEqual(lib.calib_isotonic_fit_f64(dp(bad), dp(x), None, 2, 1, -np.inf, np.inf,
                                                    dp(out), dp(out), 2, ctypes.byref(m), None), -2)
        self.assertEqual(lib.calib_isotonic_fit_f64(dp(x), dp(x), None, 2, 1, 1.0, 0.0,
                                                    dp(out), dp(out), 2, ctypes.byref(m), None), -1)
        self.assertEqual(lib.calib_isotonic_fit_f64(dp(x), dp(x), None, 2, 1, -np.inf, np.inf,
                                                    dp(out), dp(out), 1, ctypes.byref(m), None), -6)


@datagate.needs_shared
class CalibrationParity(unittest.TestCase):
    def test_coco_binary(self):
        xv, yv = load("coco_faster_rcnn_r50_binary_netcal", "val")
        xt, _ = load("coco_faster_rcnn_r50_binary_netcal", "test")
        xv, xt = xv[:, 0], xt[:, 0]
        r = sk_fit(xv.astype(np.float64), yv.astype(np.float64), out_of_bounds="clip")
        model = Fitter().fit(xv, yv)
        (X, Y), = model.tables()
        self.assertEqual(len(X), len(r.X_thresholds_))
        np.testing.assert_allclose(X, r.X_thresholds_, rtol=0, atol=1e-12)
        np.testing.assert_allclose(Y, r.y_thresholds_, rtol=0, atol=1e-12)
        st, got = model.apply(xt)
        self.assertEqual(st, 0)
        want = r.predict(xt.astype(np.float64))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)
        self.assertEqual(np.sum(got != want.astype(np.float32)), 0)  # float32 rounding only
        # Same problem on probabilities: identical values at the thresholds.
        pv = np.fromfile(os.path.join(SHARED, "coco_faster_rcnn_r50_binary_netcal", "val", "probs.f32"),
                         dtype=np.float32)
        rp = sk_fit(pv.astype(np.float64), yv.astype(np.float64), out_of_bounds="clip")
        (Xp, Yp), = Fitter({P_INPUT: INPUT_PROBS}).fit(pv, yv).tables()
        np.testing.assert_allclose(Xp, rp.X_thresholds_, rtol=0, atol=1e-12)
        np.testing.assert_allclose(Yp, rp.y_thresholds_, rtol=0, atol=1e-12)
        print("coco binary: %d thresholds, test max |diff| %.2e" % (len(X), np.max(np.abs(got - want))))

    def test_coco_weighted_auto(self):
        xv, yv = load("coco_faster_rcnn_r50_binary_netcal", "val")
        xv = xv[:, 0]
        w = np.random.default_rng(5).choice([0.0, 0.25, 1.0, 2.0], size=len(yv))
        for inc_code, inc in ((-1, "auto"), (0, False)):
            r = sk_fit(xv.astype(np.float64), yv.astype(np.float64), w, increasing=inc)
            (X, Y), = Fitter({P_INC: inc_code}).fit(xv, yv, w).tables()
            self.assertEqual(len(X), len(r.X_thresholds_))
            np.testing.assert_allclose(X, r.X_thresholds_, rtol=0, atol=1e-12)
            np.testing.assert_allclose(Y, r.y_thresholds_, rtol=0, atol=1e-12)
        # auto on reversed scores must pick decreasing, as sklearn does.
        r = sk_fit(-xv.astype(np.float64), yv.astype(np.float64), increasing="auto")
        self.assertFalse(r.increasing_)
        (X, Y), = Fitter({P_INC: -1}).fit(-xv, yv).tables()
        np.testing.assert_allclose(Y, r.y_thresholds_, rtol=0, atol=1e-12)

    def check_ovr(self, name, mode):
        """mode 'scores': raw logit columns (decision_function semantics),
        'probs': numpy softmax probabilities as data (both exact references);
        'logits': our default, softmax by calib_softmax inside the library,
        against sklearn on numpy's float32 softmax (1-ulp differences)."""
        xv, yv = load(name, "val")
        xt, _ = load(name, "test")

        def sm(z):
            e = np.exp(z.astype(np.float64) - z.max(axis=1, keepdims=True))
            return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        rv, rt = (xv, xt) if mode == "scores" else (sm(xv), sm(xt))
        want, tabs = ovr_reference(rv, yv, rt)
        code = {"scores": INPUT_SCORES, "probs": INPUT_PROBS, "logits": INPUT_LOGITS}[mode]
        fv, ft = (rv, rt) if mode == "probs" else (xv, xt)
        model = Fitter({P_INPUT: code}).fit(fv, yv)
        st, got = model.apply(ft)
        self.assertEqual(st, 0)
        err = np.abs(got - want)
        if mode == "logits":
            self.assertGreater(np.mean(err < 1e-6), 0.999)
            self.assertLess(np.mean(err), 1e-4)
        else:
            for (X, Y), (sx, sy) in zip(model.tables(), tabs):
                self.assertEqual(len(X), len(sx))
                np.testing.assert_allclose(X, sx, rtol=0, atol=1e-12)
                np.testing.assert_allclose(Y, sy, rtol=0, atol=1e-12)
            self.assertLess(err.max(), 2e-7)
        print("%s one-vs-rest (%s): k=%d, test max |diff| %.2e, mean %.2e" % (
            name, mode, xv.shape[1], err.max(), err.mean()))

    def test_cifar10_ovr_scores(self):
        self.check_ovr("cifar10_densenet40_markus93", "scores")

    def test_cifar10_ovr_probs(self):
        self.check_ovr("cifar10_densenet40_markus93", "probs")

    def test_cifar10_ovr_logits(self):
        self.check_ovr("cifar10_densenet40_markus93", "logits")

    def test_strict_keeps_ranks(self):
        xv, yv = load("coco_faster_rcnn_r50_binary_netcal", "val")
        xt, yt = load("coco_faster_rcnn_r50_binary_netcal", "test")
        xv, xt = xv[:, 0], xt[:, 0]
        plain = Fitter().fit(xv, yv).apply(xt)[1]
        strict_model = Fitter({P_STRICT: 0.25}).fit(xv, yv)
        strict = strict_model.apply(xt)[1]
        (X, _), = strict_model.tables()
        inside = (xt >= X[0]) & (xt <= X[-1])
        o = np.argsort(xt[inside], kind="stable")
        xs, ss = xt[inside][o], strict[inside][o]
        self.assertTrue(np.all(np.diff(ss) >= 0))
        # distinct in-range scores -> distinct calibrated values (no new ties)
        new_ties = np.sum((np.diff(xs) > 0) & (np.diff(ss) == 0))
        plain_ties = np.sum((np.diff(xs) > 0) & (np.diff(plain[inside][o]) == 0))
        self.assertLess(new_ties, plain_ties / 50)
        auc_raw = roc_auc_score(yt[inside], xt[inside])
        auc_strict = roc_auc_score(yt[inside], strict[inside])
        auc_plain = roc_auc_score(yt[inside], plain[inside])
        self.assertLess(abs(auc_strict - auc_raw), 1e-4)
        print("strict: ties %d -> %d; AUC raw %.6f plain %.6f strict %.6f" % (
            plain_ties, new_ties, auc_raw, auc_plain, auc_strict))
        self.assertLess(np.max(np.abs(strict - plain)), 0.25)


if __name__ == "__main__":
    sys.exit(datagate.finish(unittest.main(verbosity=1, exit=False).result))
