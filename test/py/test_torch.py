"""Arrays from everywhere without copies (issue 13, part 2): CPU torch
tensors, DLPack producers and __array_interface__ objects reach the C
library at their own address (the pointer passed to calib_fit/calib_apply
equals tensor.data_ptr()); other dtypes or layouts are converted once and
still give the numpy results; out= a torch tensor is written in place and
returned (torch in, torch out).

Needs torch (Debian python3-torch, installed by .ci/deps.sh): without it
this prints why and exits 77 locally, 1 in CI."""
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datagate  # noqa: E402

datagate.require_modules(["torch"], "python3-torch")
import torch  # noqa: E402

import calib  # noqa: E402
from calib import _lib, estimators  # noqa: E402


class Recorder:
    """Wraps a bound C function and records the pointer arguments it gets."""

    def __init__(self, f):
        self.f, self.calls = f, []

    def __call__(self, *args):
        self.calls.append(args)
        return self.f(*args)


def data(n=4000, k=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    z = torch.randn(n, k, generator=g) * 2
    z[torch.arange(n), y] += 2.0
    return z.contiguous(), y


class ArrayInterfaceOnly:
    def __init__(self, a):
        self.a = a
        self.__array_interface__ = a.__array_interface__


class DLPackOnly:
    def __init__(self, t):
        self.t = t

    def __dlpack__(self, stream=None):
        return self.t.__dlpack__()

    def __dlpack_device__(self):
        return self.t.__dlpack_device__()


class TestZeroCopy(unittest.TestCase):
    def setUp(self):
        self.fit = Recorder(_lib.FN["calib_fit"])
        self.apply = Recorder(estimators._apply)
        _lib.FN["calib_fit"] = self.fit
        estimators._apply = self.apply

    def tearDown(self):
        _lib.FN["calib_fit"] = self.fit.f
        estimators._apply = self.apply.f

    def test_tensor_pointers(self):
        z, y = data()
        ts = calib.TemperatureScaling().fit(z, y)                  # int64 labels, float32 logits
        args = self.fit.calls[-1]
        self.assertEqual(args[1], z.data_ptr())
        self.assertEqual(args[4], y.data_ptr())
        p = ts.predict_proba(z)
        self.assertEqual(self.apply.calls[-1][1], z.data_ptr())
        ref = calib.TemperatureScaling().fit(z.numpy(), y.numpy())
        self.assertEqual(ts.temperature_, ref.temperature_)
        np.testing.assert_array_equal(p, ref.predict_proba(z.numpy()))
        print("zero copy: calib_fit got logits at %#x == z.data_ptr() %#x, labels at %#x == y.data_ptr() %#x; "
              "calib_apply got %#x" % (args[1], z.data_ptr(), args[4], y.data_ptr(), self.apply.calls[-1][1]))

    def test_requires_grad_and_views(self):
        z, y = data(seed=1)
        zg = z.clone().requires_grad_(True)
        ts = calib.TemperatureScaling().fit(zg, y)
        self.assertEqual(self.fit.calls[-1][1], zg.data_ptr())
        rows = z[100:300]                                          # a contiguous row slice: still no copy
        ts.predict_proba(rows)
        self.assertEqual(self.apply.calls[-1][1], rows.data_ptr())
        cols = z[:, :5]                                            # not contiguous: converted once, same result
        np.testing.assert_array_equal(calib.TemperatureScaling().fit(cols, y % 5).predict_proba(cols),
                                      calib.TemperatureScaling().fit(cols.numpy().copy(), (y % 5).numpy())
                                      .predict_proba(cols.numpy().copy()))
        self.assertNotEqual(self.apply.calls[-1][1], cols.data_ptr())
        z64 = z.double()                                           # float64: converted once, float32 result
        self.assertEqual(calib.TemperatureScaling().fit(z64, y).predict_proba(z64).dtype, np.float32)

    def test_torch_out(self):
        z, y = data(seed=2)
        ts = calib.TemperatureScaling().fit(z, y)
        out = torch.empty_like(z)
        got = ts.predict_proba(z, out=out)
        self.assertIs(got, out)                                    # torch in, torch out
        self.assertEqual(self.apply.calls[-1][4], out.data_ptr())
        torch.testing.assert_close(out, torch.softmax(z / ts.temperature_, dim=1), rtol=1e-5, atol=1e-6)
        zz = z.clone()
        self.assertIs(ts.predict_proba(zz, out=zz), zz)            # in place
        torch.testing.assert_close(zz, out, rtol=0, atol=0)

    def test_array_interface_and_dlpack(self):
        z, y = data(seed=3)
        a = z.numpy()
        calib.TemperatureScaling().fit(ArrayInterfaceOnly(a), y.numpy())
        self.assertEqual(self.fit.calls[-1][1], z.data_ptr())
        calib.TemperatureScaling().fit(DLPackOnly(z), DLPackOnly(y))
        self.assertEqual(self.fit.calls[-1][1], z.data_ptr())
        self.assertEqual(self.fit.calls[-1][4], y.data_ptr())

    def test_metrics_take_tensors(self):
        z, y = data(seed=4)
        p = torch.softmax(z, dim=1)
        self.assertAlmostEqual(calib.ece(p, y), calib.ece(p.numpy(), y.numpy()), places=12)
        self.assertEqual(calib.tao2024(z, y)["nll"], calib.tao2024(z.numpy(), y.numpy())["nll"])


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=1).run(unittest.defaultTestLoader.loadTestsFromModule(
        sys.modules[__name__]))
    sys.exit(datagate.finish(result))
