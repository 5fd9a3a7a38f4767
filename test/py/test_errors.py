"""Error messages through the Python binding (issue 10, item 9): CalibError
carries the library's detail — the argument at fault and its row for a fit
(calib_fitter_error), which check failed for model bytes, the errno text for
files (calib_model_*_ex) — with the right code. Run from the repo root."""
import os
import sys
import tempfile
import unittest

import numpy as np

import calib
import datagate  # noqa: F401  (honest skips: test/py/datagate.py)


class TestFitErrors(unittest.TestCase):
    def raises(self, code, fn, *words):
        with self.assertRaises(calib.CalibError) as cm:
            fn()
        self.assertEqual(cm.exception.code, code)
        for w in words:
            self.assertIn(w, str(cm.exception))
        return str(cm.exception)

    def test_label_row_is_named(self):
        y = np.arange(20) % 3
        y[13] = 7
        self.raises(calib.E_LABEL, lambda: calib.TemperatureScaling().fit(np.zeros((20, 3), np.float32), y),
                    "labels: label outside 0..k-1 (at 13)")

    def test_nonfinite_row_is_named(self):
        z = np.zeros((9, 3), np.float32)
        z[4, 2] = np.inf
        self.raises(calib.E_NONFINITE, lambda: calib.PlattScaling().fit(z, np.arange(9) % 3),
                    "logits: NaN or infinite logit (at 4)")

    def test_weights_are_named(self):
        w = np.ones(10)
        w[6] = -1
        self.raises(calib.E_DOMAIN, lambda: calib.TemperatureScaling().fit(
            np.random.default_rng(1).standard_normal((10, 2)).astype(np.float32), np.arange(10) % 2,
            sample_weight=w), "weights: negative weight (at 6)")

    def test_vector_on_binary_scores_says_why(self):
        try:
            calib.VectorScaling().fit(np.eye(3, dtype=np.float32) * 2, np.arange(3))
        except calib.CalibError as e:
            if e.code == calib.E_UNSUPPORTED:  # make NO_BLAS=1: no matrix-family fitters
                self.skipTest("vector scaling is not in this build (NO_BLAS)")
        self.raises(calib.E_ARG, lambda: calib.VectorScaling().fit(np.zeros(10, np.float32), np.arange(10) % 2),
                    "k: vector, matrix and Dirichlet scaling need k >= 2")

    def test_one_class(self):
        self.raises(calib.E_ONECLASS, lambda: calib.PlattScaling().fit(np.zeros(10, np.float32), np.ones(10, int)),
                    "labels: every row (of non-zero weight) has the same label")


class TestModelErrors(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(3)
        self.model = calib.TemperatureScaling().fit(rng.standard_normal((60, 3)).astype(np.float32),
                                                    np.arange(60) % 3)
        self.bytes = self.model.to_bytes()

    def check(self, data, *words):
        with self.assertRaises(calib.CalibError) as cm:
            calib.from_bytes(data)
        self.assertEqual(cm.exception.code, calib.E_FORMAT)
        for w in words:
            self.assertIn(w, str(cm.exception))

    def test_each_check_is_named(self):
        b = bytearray(self.bytes)
        b[0] ^= 1
        self.check(bytes(b), "model header: magic")
        b = bytearray(self.bytes)
        b[len(b) - 1] ^= 1
        self.check(bytes(b), "payload CRC-32 does not match")
        self.check(self.bytes[:20], "shorter than the 32-byte header")
        self.check(self.bytes + b"\0" * 8, "trailing bytes")

    def test_file_errors_carry_errno_text(self):
        with tempfile.TemporaryDirectory() as d:
            missing = os.path.join(d, "no", "such", "m.calib")
            with self.assertRaises(calib.CalibError) as cm:
                self.model.save(missing)
            self.assertEqual(cm.exception.code, calib.E_IO)
            self.assertIn(os.strerror(2), str(cm.exception))  # ENOENT's text
            with self.assertRaises(calib.CalibError) as cm:
                calib.load(os.path.join(d, "absent.calib"))
            self.assertIn("cannot open for reading", str(cm.exception))


if __name__ == "__main__":
    sys.exit(datagate.finish(unittest.main(verbosity=1, exit=False).result))
