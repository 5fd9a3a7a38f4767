"""test_typed.py -- typed logits through the Python API (calib.h "Typed inputs").

Reference: numpy's own dequantization, (q.astype(np.int32) - zp).astype(
np.float32) * np.float32(scale) (per class: column-wise arrays), float16 /
bfloat16 widened by numpy / torch, then the float32 API. Checks:
  - predict_proba / predict_proba_rows of every method on float16, int8,
    uint8 (per tensor and per class), bfloat16 (torch, and ml_dtypes when
    importable): equal to the float32 call on the dequantized logits, bit for
    bit (temperature: within 2e-6, its typed softmax is a separate kernel);
    out_dtype=np.float16 equal to numpy's float16 rounding of that;
  - softmax on typed input against numpy's float64 softmax of the dequantized
    values (2e-6), the accumulator's state byte for byte;
  - no copy: the int8 array handed over is the memory the library reads
    (a strided view works, and changing the array changes the result);
  - the held-out-style check of issue 12: temperature fitted on an int8
    (per tensor, scale = max|z| / 127) copy of the shipped DenseNet-40
    validation logits with calib_fit_typed equals the float fit on numpy's
    dequantized values: T identical to calib_fit on them, and to 1e-9
    relative to an independent numpy bisection of the NLL's derivative; Platt
    and vector scaling fitted the same way equal their float fits exactly;
  - errors: missing scale, scale on float input, int8 on a probability
    model, bad per-class shapes raise CalibError with the library's code.
Run: PYTHONPATH=python /usr/bin/python3 test/py/test_typed.py
"""
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datagate  # noqa: E402

import calib  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "data", "cifar10_densenet40_markus93")

torch = datagate.optional_module("torch", "python3-torch")  # CI must have it
try:
    import ml_dtypes
except Exception:  # noqa: BLE001
    ml_dtypes = None

ESTIMATORS = ["temperature", "platt", "beta", "isotonic", "histogram", "vector", "matrix", "dirichlet", "ets"]


def dequant(q, scale, zp):
    return (q.astype(np.int32) - np.asarray(zp, np.int32)).astype(np.float32) * np.asarray(scale, np.float32)


def softmax64(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def nll_grad_beta(z, y, beta):
    p = softmax64(beta * z)
    return np.mean((p * z).sum(axis=1) - z[np.arange(len(y)), y])


def temperature_ref(z, y):
    """T = 1/beta at the root of d NLL / d beta, bisection on log beta."""
    z = np.asarray(z, np.float64)
    lo, hi = np.log(1e-3), np.log(1e3)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if nll_grad_beta(z, y, np.exp(mid)) < 0:
            lo = mid
        else:
            hi = mid
    return float(np.exp(-0.5 * (lo + hi)))


def synth(rng, n, k):
    z = (2.5 * rng.standard_normal((n, k))).astype(np.float32)
    y = np.where(rng.random(n) < 0.7, z.argmax(axis=1), rng.integers(0, k, n))
    return z, y


def typed_cases(rng, z):
    """(name, typed array, kwargs, dequantized float32) of z's shape."""
    n, k = z.shape
    s = float(np.abs(z).max()) / 100.0
    out = []
    h = z.astype(np.float16)
    out.append(("float16", h, {}, h.astype(np.float32)))
    q8 = np.clip(np.round(z / s), -128, 127).astype(np.int8)
    out.append(("int8", q8, {"scale": s, "zero_point": 0}, dequant(q8, s, 0)))
    u8 = np.clip(np.round(z / s) + 128, 0, 255).astype(np.uint8)
    out.append(("uint8 zp", u8, {"scale": s, "zero_point": 128}, dequant(u8, s, 128)))
    cs = (s * (0.7 + 0.1 * (np.arange(k) % 6))).astype(np.float32)
    cz = (np.arange(k) % 9 - 4).astype(np.int32)
    qc = rng.integers(-128, 128, (n, k)).astype(np.int8)
    out.append(("int8 per class", qc, {"scale": cs, "zero_point": cz}, dequant(qc, cs, cz)))
    if torch is not None:
        tb = torch.from_numpy(z).to(torch.bfloat16)
        out.append(("torch bfloat16", tb, {}, tb.to(torch.float32).numpy()))
        t8 = torch.from_numpy(q8)
        out.append(("torch int8", t8, {"scale": s}, dequant(q8, s, 0)))
    if ml_dtypes is not None:
        mb = z.astype(ml_dtypes.bfloat16)
        out.append(("ml_dtypes bfloat16", mb, {}, mb.astype(np.float32)))
    return out


class TypedApply(unittest.TestCase):
    def test_every_method(self):
        rng = np.random.default_rng(12)
        for k in (3, 10):
            z, y = synth(rng, 400, k)
            zt, _ = synth(rng, 57, k)
            for name in ESTIMATORS:
                if not calib.method_available(name):
                    continue
                est = calib.ESTIMATORS[name]().fit(z, y)
                for tname, a, kw, deq in typed_cases(rng, zt):
                    with self.subTest(method=name, k=k, type=tname):
                        ref = est.predict_proba(deq)
                        got = est.predict_proba(a, **kw)
                        self.assertEqual(got.dtype, np.float32)
                        if name == "temperature":
                            np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6)
                        else:
                            self.assertTrue(np.array_equal(got.view(np.uint32), ref.view(np.uint32)))
                        h = est.predict_proba(a, out_dtype=np.float16, **kw)
                        self.assertEqual(h.dtype, np.float16)
                        want = ref.astype(np.float16)  # numpy: round to nearest even
                        if name == "temperature":
                            self.assertLessEqual(np.abs(h.view(np.int16).astype(int)
                                                        - want.view(np.int16).astype(int)).max(), 1)
                        else:
                            self.assertTrue(np.array_equal(h.view(np.uint16), want.view(np.uint16)))
                        np.testing.assert_array_equal(est.predict(a, **kw), est.predict(deq))
                        p, st = est.predict_proba_rows(a, **kw)
                        self.assertFalse(st.any())
                        np.testing.assert_array_equal(p, got)

    def test_binary_and_float16_output_of_float32(self):
        rng = np.random.default_rng(3)
        z = (2 * rng.standard_normal(300)).astype(np.float32)
        y = (rng.random(300) < 1 / (1 + np.exp(-z))).astype(np.int64)
        est = calib.PlattScaling().fit(z, y)
        q = np.clip(np.round(z / 0.05), -128, 127).astype(np.int8)
        np.testing.assert_array_equal(est.predict_proba(q, scale=0.05), est.predict_proba(dequant(q, 0.05, 0)))
        h = est.predict_proba(z, out_dtype="float16")
        np.testing.assert_array_equal(h, est.predict_proba(z).astype(np.float16))

    def test_rows_with_bad_rows(self):
        rng = np.random.default_rng(5)
        z, y = synth(rng, 300, 4)
        est = calib.VectorScaling().fit(z, y) if calib.method_available("vector") else \
            calib.PlattScaling().fit(z, y)
        h = z[:20].astype(np.float16)
        h[3, 1] = np.nan
        h[11, 0] = np.inf
        p, st = est.predict_proba_rows(h)
        pr, sr = est.predict_proba_rows(h.astype(np.float32))
        np.testing.assert_array_equal(st, sr)
        self.assertEqual(list(np.nonzero(st)[0]), [3, 11])
        np.testing.assert_array_equal(p, pr)
        with self.assertRaises(calib.CalibError) as cm:
            est.predict_proba(h)
        self.assertEqual(cm.exception.code, calib.E_NONFINITE)

    def test_softmax(self):
        rng = np.random.default_rng(7)
        z = (3 * rng.standard_normal((33, 17))).astype(np.float32)
        for tname, a, kw, deq in typed_cases(rng, z):
            with self.subTest(type=tname):
                got = calib.softmax(a, beta=0.7, **kw)
                np.testing.assert_allclose(got, softmax64(0.7 * deq.astype(np.float64)), rtol=0, atol=2e-6)
        h = calib.softmax(z, out_dtype=np.float16)
        self.assertEqual(h.dtype, np.float16)
        self.assertLessEqual(np.abs(h.astype(np.float64) - softmax64(z)).max(), 2.0 ** -11 + 2e-6)
        one = calib.softmax(z[0].astype(np.float16))  # 1-D: one row
        np.testing.assert_allclose(one, softmax64(z[:1].astype(np.float16).astype(np.float32))[0], atol=2e-6)

    def test_accumulator(self):
        rng = np.random.default_rng(9)
        z, y = synth(rng, 200, 6)
        for tname, a, kw, deq in typed_cases(rng, z):
            with self.subTest(type=tname):
                acc, ref = calib.Accumulator(6), calib.Accumulator(6)
                acc.add_logits(a, y, **kw)
                ref.add_logits(deq, y)
                self.assertEqual(acc.to_bytes() if hasattr(acc, "to_bytes") else acc.save(),
                                 ref.to_bytes() if hasattr(ref, "to_bytes") else ref.save())

    def test_no_copy(self):
        rng = np.random.default_rng(11)
        z, y = synth(rng, 300, 5)
        est = calib.TemperatureScaling().fit(z, y)
        big = rng.integers(-128, 128, (40, 8)).astype(np.int8)
        view = big[::2, 1:6]  # strided rows, each contiguous: read in place (ld = 16)
        p1 = est.predict_proba(view, scale=0.1)
        np.testing.assert_allclose(p1, est.predict_proba(dequant(np.ascontiguousarray(view), 0.1, 0)), atol=2e-6)
        q = np.ascontiguousarray(big[:, :5])
        from calib import _typed
        t = _typed.typed(q, 0.1)
        self.assertEqual(t.input.data, q.ctypes.data)  # the caller's memory, no copy
        self.assertIs(t.keep[0], q)

    def test_errors(self):
        rng = np.random.default_rng(13)
        z, y = synth(rng, 200, 3)
        est = calib.PlattScaling().fit(z, y)
        q = rng.integers(-128, 128, (10, 3)).astype(np.int8)
        for call in (lambda: est.predict_proba(q),                           # no scale
                     lambda: est.predict_proba(z, scale=0.1),                # scale on float32
                     lambda: est.predict_proba(q.astype(np.float16), scale=0.1),
                     lambda: est.predict_proba(q, scale=[0.1, 0.2]),         # per class of the wrong k
                     lambda: est.predict_proba(q, scale=0.1, zero_point=200),  # outside int8
                     lambda: est.predict_proba(q, scale=-1.0),
                     lambda: est.predict_proba(q, scale=0.1, out_dtype=np.float64)):
            with self.assertRaises(calib.CalibError) as cm:
                call()
            self.assertEqual(cm.exception.code, calib.E_ARG)
        probs_model = calib.PlattScaling(input="probs").fit(softmax64(z).astype(np.float32), y)
        with self.assertRaises(calib.CalibError) as cm:
            probs_model.predict_proba(q.view(np.uint8), scale=1 / 255)
        self.assertEqual(cm.exception.code, calib.E_ARG)
        with self.assertRaises(calib.CalibError) as cm:
            calib.PlattScaling(input="probs").fit(q.view(np.uint8), y[:10], scale=1 / 255)
        self.assertEqual(cm.exception.code, calib.E_ARG)
        self.assertIn("probabilities", str(cm.exception))
        with self.assertRaises(calib.CalibError) as cm:
            est.predict_proba(q[:, :2], scale=0.1)
        self.assertEqual(cm.exception.code, calib.E_SHAPE)


class TypedFit(unittest.TestCase):
    def test_synthetic_every_method(self):
        rng = np.random.default_rng(21)
        z, y = synth(rng, 500, 4)
        s = float(np.abs(z).max()) / 127
        q = np.clip(np.round(z / s), -128, 127).astype(np.int8)
        deq = dequant(q, s, 0)
        for name in ESTIMATORS:
            if not calib.method_available(name):
                continue
            with self.subTest(method=name):
                a = calib.ESTIMATORS[name]().fit(q, y, scale=s, provenance=False)
                b = calib.ESTIMATORS[name]().fit(deq, y, provenance=False)
                self.assertEqual(a.to_bytes(), b.to_bytes())  # the same model, byte for byte

    def test_shipped_logits_held_out(self):
        """Issue 12: T fitted on an int8 copy of the shipped validation logits
        equals the float fit on the dequantized values (1e-9 relative to an
        independent numpy solve; identical to calib_fit on them)."""
        z = np.load(os.path.join(DATA, "val", "logits.npy")).astype(np.float32)
        y = np.load(os.path.join(DATA, "val", "labels.npy")).astype(np.int64)
        scale = np.float32(np.abs(z).max() / 127.0)  # a realistic per-tensor int8 scale
        q = np.clip(np.round(z / scale), -128, 127).astype(np.int8)
        deq = dequant(q, scale, 0)
        ts_q = calib.TemperatureScaling().fit(q, y, scale=float(scale))
        ts_f = calib.TemperatureScaling().fit(deq, y)
        self.assertEqual(ts_q.temperature_, ts_f.temperature_)
        t_ref = temperature_ref(deq, y)
        self.assertLessEqual(abs(ts_q.temperature_ - t_ref), 1e-9 * t_ref, (ts_q.temperature_, t_ref))
        # quantization moved T little from the float32 logits' fit
        self.assertLess(abs(ts_q.temperature_ / calib.TemperatureScaling().fit(z, y).temperature_ - 1), 0.02)
        # held out: the int8 test logits through the int8-fitted model
        zt = np.load(os.path.join(DATA, "test", "logits.npy")).astype(np.float32)
        qt = np.clip(np.round(zt / scale), -128, 127).astype(np.int8)
        np.testing.assert_allclose(ts_q.predict_proba(qt, scale=float(scale)),
                                   softmax64(dequant(qt, scale, 0) / ts_q.temperature_), atol=2e-6)
        for name in ("platt", "vector"):
            if not calib.method_available(name):
                continue
            with self.subTest(method=name):
                a = calib.ESTIMATORS[name]().fit(q, y, scale=float(scale), provenance=False)
                b = calib.ESTIMATORS[name]().fit(deq, y, provenance=False)
                self.assertEqual(a.to_bytes(), b.to_bytes())
                np.testing.assert_array_equal(a.predict_proba(qt, scale=float(scale)),
                                              b.predict_proba(dequant(qt, scale, 0)))


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=1).result
    sys.exit(datagate.finish(result))
