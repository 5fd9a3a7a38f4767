"""The row-wise mode from Python (calib.softmax_rows, calib.sigmoid_rows,
Calibrator.predict_proba_rows) against independent references: scipy's
softmax / expit on the good rows, numpy's row rule for the bad ones, and the
strict predict_proba on the good rows alone (bit for bit).

Run from the repository root:  PYTHONPATH=python /usr/bin/python3 test/py/test_rows.py
"""
import os
import unittest

import numpy as np
from scipy import special

import calib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = os.path.join(REPO, "data", "cifar10_densenet40_markus93")


def spoil(z, rng, frac=0.25):
    """Bad rows at random (the first and the last always): NaN, +inf, all
    -inf, and one -inf (still a good softmax row)."""
    z = z.copy()
    n, k = z.shape
    rows = np.flatnonzero(rng.random(n) < frac)
    rows = np.union1d(rows, [0, n - 1])
    for i in rows:
        kind = rng.integers(4)
        j = rng.integers(k)
        if kind == 0:
            z[i, j] = np.nan
        elif kind == 1:
            z[i, j] = np.inf
        elif kind == 2:
            z[i] = -np.inf
        else:
            z[i, j] = -np.inf
    return z


def softmax_bad(z):
    """The row rule of calib.h: a NaN or +inf, or every entry -inf."""
    return np.isnan(z).any(1) | np.isposinf(z).any(1) | np.isneginf(z).all(1)


class RowWise(unittest.TestCase):
    def setUp(self):
        self.rng = np.random.default_rng(12)

    def test_softmax_rows(self):
        for n, k in ((1, 1), (7, 3), (300, 17), (1000, 10), (200, 1000)):
            z = spoil((3 * self.rng.standard_normal((n, k))).astype(np.float32), self.rng)
            bad = softmax_bad(z)
            for beta in (1.0, 0.37):
                p, st = calib.softmax_rows(z, beta)
                self.assertEqual(st.dtype, np.uint8)
                np.testing.assert_array_equal(st, np.where(bad, calib.ROW_NONFINITE, calib.ROW_OK))
                self.assertTrue(np.isnan(p[bad]).all())
                good = ~bad
                ref = special.softmax(beta * z[good].astype(np.float64), axis=1)
                np.testing.assert_allclose(p[good], ref, rtol=2e-6, atol=1e-6)
                # the strict call on the good rows alone agrees (tolerance: SIMD blocks)
                np.testing.assert_allclose(p[good], calib.softmax(z[good], beta), rtol=0, atol=2e-6)
                lp, lst = calib.log_softmax_rows(z, beta)
                np.testing.assert_array_equal(lst, st)
                self.assertTrue(np.isnan(lp[bad]).all())
                np.testing.assert_allclose(lp[good], special.log_softmax(beta * z[good].astype(np.float64), axis=1),
                                           rtol=2.4e-7, atol=2e-5)
        # in place, and no bad row: the strict result bit for bit
        z = self.rng.standard_normal((50, 33)).astype(np.float32)
        x = z.copy()
        p, st = calib.softmax_rows(x, out=x)
        self.assertIs(p, x)
        self.assertFalse(st.any())
        np.testing.assert_array_equal(x, calib.softmax(z))
        with self.assertRaises(calib.CalibError) as cm:
            calib.softmax_rows(z, beta=0.0)
        self.assertEqual(cm.exception.code, calib.E_ARG)

    def test_sigmoid_rows(self):
        s = (4 * self.rng.standard_normal(1001)).astype(np.float32)
        s[self.rng.integers(0, s.size, 100)] = np.nan
        s[3], s[4] = np.inf, -np.inf
        p, st = calib.sigmoid_rows(s, 0.5)
        bad = np.isnan(s)
        np.testing.assert_array_equal(st, np.where(bad, calib.ROW_NONFINITE, 0))
        self.assertTrue(np.isnan(p[bad]).all())
        np.testing.assert_allclose(p[~bad], special.expit(0.5 * s[~bad].astype(np.float64)), atol=1e-6)
        self.assertEqual((p[3], p[4]), (1.0, 0.0))

    def _fitted(self, name, z, y):
        est = calib.ESTIMATORS[name]()
        est.fit(z, y)
        return est

    def test_predict_proba_rows(self):
        z = np.load(os.path.join(SHIPPED, "val", "logits.npy"))[:2000]
        y = np.load(os.path.join(SHIPPED, "val", "labels.npy"))[:2000]
        test = np.load(os.path.join(SHIPPED, "test", "logits.npy"))[:1500]
        for name in ("temperature", "platt", "isotonic", "histogram", "vector", "ets"):
            if not calib.method_available(name):
                continue
            est = self._fitted(name, z, y)
            bad_in = spoil(test, self.rng)
            p, st = est.predict_proba_rows(bad_in)
            # expected status: the strict call on each row alone
            want = np.zeros(len(bad_in), np.uint8)
            for i in range(len(bad_in)):
                try:
                    est.predict_proba(bad_in[i:i + 1])
                except calib.CalibError as e:
                    want[i] = -e.code
            np.testing.assert_array_equal(st, want, err_msg=name)
            bad = want != 0
            self.assertTrue(np.isnan(p[bad]).all(), name)
            strict = est.predict_proba(bad_in[~bad])
            if name == "temperature":  # the SIMD softmax: block paths round differently
                np.testing.assert_allclose(p[~bad], strict, rtol=0, atol=2e-6, err_msg=name)
                T = est.temperature_
                np.testing.assert_allclose(p[~bad], special.softmax(bad_in[~bad].astype(np.float64) / T, 1),
                                           rtol=2e-6, atol=1e-6)
            else:
                np.testing.assert_array_equal(p[~bad], strict, err_msg=name)
        with self.assertRaises(calib.CalibError) as cm:
            est.predict_proba_rows(test[:, :5])
        self.assertEqual(cm.exception.code, calib.E_SHAPE)

    def test_probability_domain(self):
        """A Platt model on probabilities: values outside [0, 1] are
        CALIB_E_DOMAIN rows (status 15), NaN wins within a row."""
        z = np.load(os.path.join(SHIPPED, "val", "logits.npy"))[:2000]
        y = np.load(os.path.join(SHIPPED, "val", "labels.npy"))[:2000]
        probs = special.softmax(z.astype(np.float64), 1).astype(np.float32)
        est = calib.PlattScaling(input="probs").fit(probs, y)
        x = probs[:20].copy()
        x[2, 3] = 1.5
        x[5, 0], x[5, 1] = -0.5, np.nan
        p, st = est.predict_proba_rows(x)
        want = np.zeros(20, np.uint8)
        want[2], want[5] = calib.ROW_DOMAIN, calib.ROW_NONFINITE
        np.testing.assert_array_equal(st, want)
        self.assertTrue(np.isnan(p[[2, 5]]).all())
        good = want == 0
        np.testing.assert_array_equal(p[good], est.predict_proba(x[good]))


if __name__ == "__main__":
    unittest.main()
