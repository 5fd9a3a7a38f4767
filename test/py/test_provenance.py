#!/usr/bin/env python3
"""test_provenance.py -- what a fitted model records about its fit set (model
format version 2) through the Python binding, against numpy / scikit-learn
computations written here:
  - nll_before / nll_after: sklearn.metrics.log_loss (to 1e-6: it renormalises
    rows) and numpy -mean(log p_y) (to 1e-12, after) of the uncalibrated
    probabilities (numpy float64 softmax / sigmoid of the fit scores, or the
    input probabilities themselves) and of predict_proba on the fit rows;
  - brier_before / _after: numpy, sum over classes of (p - onehot)^2 averaged
    over rows (binary: (p - y)^2), calib_brier's definition;
  - ece_before / _after: a numpy top-label ECE with 15 equal-width bins
    (b/15, (b+1)/15], 0 in bin 0;
  - prior (label frequencies), class_hist (argmax counts) and confidence_hist
    (20 equal-width bins of the top-label confidence) of the calibrated fit rows;
  - n, tag, creation time, format version; provenance=False gives the
    version-1 bytes; pickling and save/load keep everything; with_provenance
    re-tags (before metrics kept) and strips.
Data: the shipped CIFAR-10 DenseNet-40 validation logits (k = 10) and a
synthetic binary set on probabilities (Platt, input="probs"), and weights.
Run from the repository root: PYTHONPATH=python /usr/bin/python3 test/py/test_provenance.py
"""
import os
import pickle
import sys
import tempfile
import time
import unittest

try:
    import numpy as np
    from sklearn.metrics import log_loss
except ImportError as e:  # pragma: no cover
    print("skipped: numpy/scikit-learn not available (%s)" % e)
    sys.exit(77)

import calib  # noqa: E402

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DATA = os.path.join(REPO, "data", "cifar10_densenet40_markus93", "val")


def softmax64(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def two_columns(p):
    p = np.asarray(p, np.float64)
    return np.stack([1 - p, p], axis=1) if p.ndim == 1 else p


def ece15(p, y):
    p = two_columns(p)
    conf = p.max(axis=1)
    pred = p.argmax(axis=1)
    if p.shape[1] == 2:  # binary: predicted 1 iff p > 0.5 (ties to 0)
        pred = (p[:, 1] > 0.5).astype(int)
        conf = np.where(pred == 1, p[:, 1], 1 - p[:, 1])
    b = np.clip(np.ceil(conf * 15).astype(int) - 1, 0, 14)
    e = 0.0
    for i in range(15):
        s = b == i
        if s.any():
            e += abs((pred[s] == y[s]).sum() - conf[s].sum())
    return e / len(y)


def brier(p, y):
    p = np.asarray(p, np.float64)
    if p.ndim == 1:
        return float(np.mean((p - y) ** 2))
    onehot = np.eye(p.shape[1])[y]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def nll(p, y):
    p = two_columns(p)
    return log_loss(y, p, labels=np.arange(p.shape[1]))


class Provenance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.z = np.load(os.path.join(DATA, "logits.npy")).astype(np.float32)
        cls.y = np.load(os.path.join(DATA, "labels.npy")).astype(np.int64)

    def check_measures(self, info, before, after, y, rel_before=1e-6):
        self.assertAlmostEqual(info["nll_before"], nll(before, y), delta=rel_before * nll(before, y))
        self.assertAlmostEqual(info["brier_before"], brier(before, y), delta=rel_before * brier(before, y))
        self.assertAlmostEqual(info["ece_before"], ece15(before, y), delta=1e-5)
        # sklearn's log_loss renormalises each row (float32 rows sum to 1 +- 1e-7)
        self.assertAlmostEqual(info["nll_after"], nll(after, y), delta=1e-6 * nll(after, y))
        p = two_columns(after)
        exact = -np.mean(np.log(p[np.arange(len(y)), y]))  # calib_nll's definition, unnormalised
        self.assertAlmostEqual(info["nll_after"], exact, delta=1e-12 * exact)
        self.assertAlmostEqual(info["brier_after"], brier(after, y), delta=1e-10)
        self.assertAlmostEqual(info["ece_after"], ece15(after, y), delta=1e-10)

    def check_reference(self, info, after, y, kc):
        p = two_columns(after)
        np.testing.assert_array_equal(info["prior"], np.bincount(y, minlength=kc) / len(y))
        pred = (p[:, 1] > 0.5).astype(int) if kc == 2 and np.asarray(after).ndim == 1 else p.argmax(axis=1)
        np.testing.assert_array_equal(info["class_hist"], np.bincount(pred, minlength=kc))
        conf = np.where(pred == 1, p[:, 1], p[:, 0]) if np.asarray(after).ndim == 1 else p.max(axis=1)
        # 20 bins (b/20, (b+1)/20], 0 in bin 0; the float32 value itself
        b = np.clip(np.ceil(conf.astype(np.float64) * 20).astype(int) - 1, 0, 19)
        np.testing.assert_array_equal(info["confidence_hist"], np.bincount(b, minlength=20))

    def test_temperature_cifar10(self):
        t0 = int(time.time())
        est = calib.TemperatureScaling().fit(self.z, self.y, tag="densenet40 \u2713")
        t1 = int(time.time())
        info = est.info
        self.assertEqual(info["format_version"], 2)
        self.assertTrue(info["has_reference"])
        self.assertEqual(info["n"], len(self.y))
        self.assertEqual(info["tag"], "densenet40 \u2713")
        self.assertTrue(t0 <= info["created_unix"] <= t1)
        self.assertEqual(info["created"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(info["created_unix"])))
        after = est.predict_proba(self.z)
        self.check_measures(info, softmax64(self.z), after, self.y)
        self.check_reference(info, after, self.y, 10)
        # calibration helps on this set: the numbers say so
        self.assertLess(info["nll_after"], info["nll_before"])
        self.assertLess(info["ece_after"], info["ece_before"])
        # the same map without provenance: version-1 bytes, identical output
        plain = calib.TemperatureScaling().fit(self.z, self.y, provenance=False)
        self.assertEqual(plain.info["format_version"], 1)
        self.assertFalse(plain.info["has_reference"])
        np.testing.assert_array_equal(plain.predict_proba(self.z), after)
        self.assertEqual(plain.temperature_, est.temperature_)
        self.assertLess(len(plain.to_bytes()), len(est.to_bytes()))
        # pickling and files keep it
        again = pickle.loads(pickle.dumps(est))
        self.assertEqual(again.to_bytes(), est.to_bytes())
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.calib")
            est.save(path)
            loaded = calib.load(path)
        li = loaded.info
        for key in ("format_version", "tag", "n", "created_unix", "nll_before", "ece_after"):
            self.assertEqual(li[key], info[key], key)
        np.testing.assert_array_equal(li["confidence_hist"], info["confidence_hist"])

    def test_with_provenance(self):
        est = calib.TemperatureScaling().fit(self.z, self.y, tag="first")
        info = est.info
        retag = est.with_provenance(tag="second", created_unix=1767225600)
        ri = retag.info
        self.assertEqual((ri["tag"], ri["created"]), ("second", "2026-01-01T00:00:00Z"))
        for key in ("nll_before", "ece_before", "brier_before", "nll_after", "n"):
            self.assertEqual(ri[key], info[key], key)
        np.testing.assert_array_equal(retag.predict_proba(self.z), est.predict_proba(self.z))
        stripped = est.with_provenance(created_unix=0, keep_reference=False)
        self.assertEqual(stripped.info["format_version"], 1)
        plain = calib.TemperatureScaling().fit(self.z, self.y, provenance=False)
        self.assertEqual(stripped.to_bytes(), plain.to_bytes())

    def test_platt_on_probabilities_weighted(self):
        rng = np.random.default_rng(11)
        n = 4000
        s = rng.normal(size=n)
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-1.7 * s))).astype(np.int64)
        p_in = (1 / (1 + np.exp(-0.6 * s))).astype(np.float32)
        w = rng.uniform(0.2, 2.0, size=n)
        est = calib.PlattScaling(input="probs").fit(p_in, y, sample_weight=w)
        info = est.info
        self.assertEqual(info["n"], n)
        self.assertEqual(info["tag"], "")
        after = est.predict_proba(p_in)
        # before: the input probabilities as given (float32 values, no softmax);
        # every measure unweighted (the reference has no weights)
        self.check_measures(info, p_in.astype(np.float64), after, y, rel_before=1e-12)
        self.check_reference(info, after, y, 2)

    def test_errors(self):
        with self.assertRaises(calib.CalibError):
            calib.TemperatureScaling().fit(self.z, self.y, tag="x" * 256)
        with self.assertRaises(calib.CalibError):
            calib.TemperatureScaling().fit(self.z, self.y, tag="t", provenance=False)
        with self.assertRaises(calib.CalibError):
            calib.TemperatureScaling().fit(self.z, self.y, tag=b"bytes")
        est = calib.TemperatureScaling().fit(self.z[:500], self.y[:500], tag="\u00e9" * 127)  # 254 bytes
        self.assertEqual(est.info["tag"], "\u00e9" * 127)
        with self.assertRaises(calib.CalibError):
            est.with_provenance(tag="\u00e9" * 128)  # 256 bytes


if __name__ == "__main__":
    unittest.main()
