"""calib_softmax_typed through the raw ctypes binding (python/calib/_lib.py)
against numpy: float16, int8 and uint8 arrays (per-tensor and per-class scale
and zero point, zero points at the type's extremes), torch.bfloat16 tensors
when torch is importable, float32 and float16 outputs, strided rows and
byte-misaligned buffers.

Reference: the values numpy dequantizes -- (q.astype(np.int32) - zp)
.astype(np.float32) * np.float32(scale), the definition in calib.h --
float16 / bfloat16 widened exactly (np.float16 -> float64; torch's
.float()), then a float64 softmax of beta * v. Float32 outputs within the
float32 contract (1e-6 absolute and ref * (2e-6 + 1.2e-7 |t|) + 3e-45,
test_kernels.c's rule); float16 outputs within 1 ulp of binary16 of numpy's
round-to-nearest-even of the reference (their bit patterns differ by <= 1).
Every ISA of this CPU: the module re-runs itself with CALIB_ISA set.

Run from the repository root:  PYTHONPATH=python /usr/bin/python3 test/py/test_typed_softmax.py
"""
import ctypes
import os
import subprocess
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datagate  # noqa: E402

torch = datagate.optional_module("torch", "python3-torch")  # CI must have it

from calib import _lib

F32, F16, BF16, I8, U8 = 1, 2, 3, 4, 5
E_ARG, E_NONFINITE = -1, -2


class CalibInput(ctypes.Structure):
    """struct calib_input of calib.h (declared here, independently of calib._typed)."""
    _fields_ = [("dtype", ctypes.c_int), ("data", ctypes.c_void_p), ("ld", ctypes.c_size_t),
                ("scale", ctypes.c_float), ("zero_point", ctypes.c_int32),
                ("col_scale", ctypes.c_void_p), ("col_zero_point", ctypes.c_void_p)]


def softmax_typed(desc, n, k, beta, out):
    """Calls calib_softmax_typed into `out` (np.float32 or np.float16 2-D view,
    rows may be strided); returns the status."""
    ydt = F16 if out.dtype == np.float16 else F32
    ldy = out.strides[0] // out.itemsize
    fn = _lib.fn("calib_softmax_typed")
    return fn(ctypes.addressof(desc), n, k, ctypes.c_float(beta), out.ctypes.data, ydt, ldy)


def misaligned(shape, dtype, offset):
    """A C-contiguous array of `shape` starting `offset` bytes into a buffer."""
    count = int(np.prod(shape))
    buf = np.zeros(count * np.dtype(dtype).itemsize + offset + 8, np.uint8)
    return np.frombuffer(buf.data, dtype, count, offset).reshape(shape)


def ref_softmax(v, beta):
    t = beta * (v - v.max(axis=1, keepdims=True))
    e = np.exp(t)
    return e / e.sum(axis=1, keepdims=True), t


def close_f32(got, ref, t):
    d = np.abs(got.astype(np.float64) - ref)
    ok = (d <= 1e-6) & (d <= ref * (2e-6 + 1.2e-7 * np.abs(t)) + 3e-45)
    return ok.all(), int((~ok).sum())


def close_f16(got, ref):
    want = ref.astype(np.float16).view(np.uint16).astype(np.int32)  # numpy: nearest even
    have = got.view(np.uint16).astype(np.int32)
    bad = np.abs(have - want) > 1
    return not bad.any(), int(bad.sum())


class TypedSoftmax(unittest.TestCase):
    def setUp(self):
        self.rng = np.random.default_rng(1234)

    def run_case(self, x, desc, v, beta, what):
        """x: the typed array (its rows may be a strided view), v: its float64 values."""
        n, k = v.shape
        ref, t = ref_softmax(v, beta)
        for out_dt in (np.float32, np.float16):
            for off, pad in ((0, 0), (1, 3)):
                base = misaligned((n, k + pad), out_dt, off)
                base[...] = 7
                out = base[:, :k]
                st = softmax_typed(desc, n, k, beta, out)
                self.assertEqual(st, 0, what)
                if pad:
                    self.assertTrue((base[:, k:] == 7).all(), "%s: padding written" % what)
                ok, nbad = close_f32(out, ref, t) if out_dt == np.float32 else close_f16(out, ref)
                self.assertTrue(ok, "%s out %s offset %d: %d values off" % (what, np.dtype(out_dt).name, off, nbad))

    def desc_for(self, x, dtype, scale=0.0, zp=0, cs=None, cz=None):
        d = CalibInput()
        d.dtype = dtype
        d.data = x.ctypes.data
        d.ld = x.strides[0] // x.itemsize
        d.scale = scale
        d.zero_point = zp
        d.col_scale = cs.ctypes.data if cs is not None else None
        d.col_zero_point = cz.ctypes.data if cz is not None else None
        return d

    def test_float16(self):
        for n, k in ((33, 10), (5, 1000), (17, 17), (40, 1)):
            z = (self.rng.standard_normal((n, k + 3)) * 6).astype(np.float16)
            x = misaligned(z.shape, np.float16, 1)
            x[...] = z
            x = x[:, :k]  # strided rows, byte-misaligned
            v = x.astype(np.float64)
            self.run_case(x, self.desc_for(x, F16), v, 0.37, "float16 (%d, %d)" % (n, k))

    def quantized(self, dtype, code, zps):
        info = np.iinfo(dtype)
        for n, k in ((33, 10), (5, 1000), (20, 3), (17, 100)):
            q = self.rng.integers(info.min, info.max + 1, (n, k + 2), dtype=np.int64).astype(dtype)
            x = misaligned(q.shape, dtype, 3)
            x[...] = q
            x = x[:, :k]
            for zp in zps:
                scale = np.float32(0.013 + 0.2 * self.rng.random())
                v = ((x.astype(np.int32) - zp).astype(np.float32) * scale).astype(np.float64)
                self.run_case(x, self.desc_for(x, code, float(scale), int(zp)), v, 1.0,
                              "%s zp %d (%d, %d)" % (np.dtype(dtype).name, zp, n, k))
            cs = (0.02 + 0.3 * self.rng.random(k)).astype(np.float32)
            cz = self.rng.integers(info.min, info.max + 1, k).astype(np.int32)
            cz[0], cz[-1] = info.min, info.max
            v = ((x.astype(np.int32) - cz).astype(np.float32) * cs).astype(np.float64)
            self.run_case(x, self.desc_for(x, code, cs=cs, cz=cz), v, 0.5,
                          "%s per-class (%d, %d)" % (np.dtype(dtype).name, n, k))

    def test_int8(self):
        self.quantized(np.int8, I8, (-128, 0, 3, 127))

    def test_uint8(self):
        self.quantized(np.uint8, U8, (0, 128, 255))

    def test_bfloat16_torch(self):
        if torch is None:  # only locally: in CI datagate fails the run instead
            self.skipTest("torch not importable (Debian python3-torch)")
        for n, k in ((33, 10), (5, 1000)):
            t = (torch.randn(n, k, generator=torch.Generator().manual_seed(5)) * 5).to(torch.bfloat16)
            bits = t.view(torch.int16).numpy()
            v = t.float().numpy().astype(np.float64)
            self.run_case(bits, self.desc_for(bits, BF16), v, 1.0, "torch.bfloat16 (%d, %d)" % (n, k))
            # torch's own softmax of the widened values, as a second reference
            out = np.empty((n, k), np.float32)
            self.assertEqual(softmax_typed(self.desc_for(bits, BF16), n, k, 1.0, out), 0)
            ts = torch.softmax(t.double(), dim=1).numpy()
            self.assertLess(np.abs(out - ts).max(), 1e-6)

    def test_errors(self):
        q = np.zeros((4, 4), np.int8)
        out = np.full((4, 4), 7, np.float32)
        bad = [self.desc_for(q, I8, 0.0), self.desc_for(q, I8, -1.0), self.desc_for(q, I8, float("nan")),
               self.desc_for(q, I8, 0.1, 128), self.desc_for(q, U8, 0.1, -1), self.desc_for(q, 99, 0.1)]
        h = np.zeros((4, 4), np.float16)
        bad += [self.desc_for(h, F16, 0.5), self.desc_for(h, F16, 0.0, 1)]
        for d in bad:
            self.assertEqual(softmax_typed(d, 4, 4, 1.0, out), E_ARG)
        self.assertTrue((out == 7).all())
        h[1, 2] = np.inf
        self.assertEqual(softmax_typed(self.desc_for(h, F16), 4, 4, 1.0, out), E_NONFINITE)
        h[1, 2] = np.nan
        self.assertEqual(softmax_typed(self.desc_for(h, F16), 4, 4, 1.0, out), E_NONFINITE)
        self.assertTrue((out == 7).all(), "strict mode wrote on a non-finite input")

    @unittest.skipIf(os.environ.get("CALIB_TYPED_SUB"), "inside the per-ISA re-run")
    def test_every_isa(self):
        isas = ["scalar", "avx2", "avx512", "neon"]
        here = _lib.FN["calib_isa"]().decode()
        for isa in isas:
            if isa == here:
                continue
            env = dict(os.environ, CALIB_ISA=isa, CALIB_TYPED_SUB="1")
            code = "import calib._lib as L; print(L.FN['calib_isa']().decode())"
            got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
            if got.stdout.strip() != isa:
                continue  # not supported on this CPU
            r = subprocess.run([sys.executable, os.path.abspath(__file__)], env=env, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, "CALIB_ISA=%s:\n%s" % (isa, r.stderr[-3000:]))


if __name__ == "__main__":
    unittest.main()
