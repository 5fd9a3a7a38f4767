"""The binding's C calls release the GIL: two Python threads apply at once.

Timestamps taken around a call cannot show this on their own: with a call that
holds the GIL, a thread that returns from C may hand the GIL to the other one
before it reads its clock, so its interval swallows the other's whole call and
the intervals "overlap" anyway. What the test observes instead is the output
buffers. Each worker applies a big batch into its own NaN-filled buffer, and
the main thread (running Python, so holding the GIL) samples both buffers. If
it ever sees BOTH partly written, i.e. some sampled rows done and some still
NaN, then both workers were inside calib_apply at that instant while a third
thread ran Python. No timing threshold is involved, so load on the machine
cannot make it fail spuriously, and a GIL-holding call can never produce it:
the same procedure through ctypes.PyDLL (which keeps the GIL) is run as a
control and must never see it.

Run: PYTHONPATH=python /usr/bin/python3 test/py/test_binding_threads.py
"""
import ctypes
import sys
import threading
import time
import unittest

import numpy as np

import calib


def training_set(k):
    """Overconfident synthetic logits: labels drawn from softmax(z / 2)."""
    rng = np.random.default_rng(5)
    z = rng.normal(0, 3, (5000, k)).astype(np.float32)
    return z, np.argmax(z / 2 + rng.gumbel(size=z.shape), axis=1)


def partly_written(out, probe):
    v = out[probe, 0]
    nan = int(np.count_nonzero(np.isnan(v)))
    return 0 < nan < len(probe)


def run_round(apply, x, outs, probe, deadline_s=20.0):
    """Start one applying thread per buffer; sample until all are done.
    Returns (seen both partly written?, wall seconds, per-thread seconds)."""
    for o in outs:
        o.fill(np.nan)
    barrier = threading.Barrier(len(outs) + 1)
    spans = [None] * len(outs)

    def worker(i):
        barrier.wait()
        t0 = time.perf_counter()
        apply(x, outs[i])
        spans[i] = time.perf_counter() - t0

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(outs))]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    seen = False
    end = t0 + deadline_s
    while any(t.is_alive() for t in threads) and time.perf_counter() < end:
        if all(partly_written(o, probe) for o in outs):
            seen = True
        time.sleep(0)                     # let the OS run the workers on a busy machine
    for t in threads:
        t.join()
    return seen, time.perf_counter() - t0, spans


class TestThreads(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        k = 100
        z, y = training_set(k)
        cls.ts = calib.TemperatureScaling().fit(z, y)
        rng = np.random.default_rng(1)
        base = rng.normal(0, 4, (2000, k)).astype(np.float32)
        cls.k = k
        # one call applies n rows; size n so that a call takes about 80 ms (at most 100000 x 100)
        ts = cls.ts
        big = np.tile(base, (10, 1))
        out = np.empty_like(big)
        t = min(_timed(lambda: ts.predict_proba(big, out=out)) for _ in range(3))
        n = int(min(100000, max(20000, len(big) * 0.08 / max(t, 1e-6))))
        cls.x = np.tile(base, (n // len(base) + 1, 1))[:n]
        cls.probe = np.linspace(0, n - 1, 257).astype(np.int64)
        cls.outs = [np.empty_like(cls.x) for _ in range(2)]
        cls.expected = ts.predict_proba(cls.x)
        tt = min(_timed(lambda: ts.predict_proba(cls.x, out=cls.outs[0])) for _ in range(2))
        print("batch %d x %d, one apply %.1f ms (isa %s)" % (n, k, tt * 1e3, calib.isa()), file=sys.stderr)

    def test_two_threads_apply_at_once(self):
        apply = lambda x, out: self.ts.predict_proba(x, out=out)
        seen_rounds, walls, spans = 0, [], []
        for _ in range(8):
            seen, wall, sp = run_round(apply, self.x, self.outs, self.probe)
            for o in self.outs:
                np.testing.assert_array_equal(o, self.expected)      # concurrent results are exact
            seen_rounds += seen
            walls.append(wall)
            spans.append(sp)
            if seen_rounds >= 2:
                break
        seq = sum(_timed(lambda: self.ts.predict_proba(self.x, out=o)) for o in self.outs)
        print("CDLL: both buffers seen mid-write in %d round(s); wall of 2 concurrent applies %.1f ms "
              "(each %s ms) vs %.1f ms one after the other"
              % (seen_rounds, min(walls) * 1e3, ", ".join("%.1f" % (s * 1e3) for s in spans[-1]), seq * 1e3),
              file=sys.stderr)
        self.assertGreaterEqual(seen_rounds, 1, "never saw two applies in progress at once")

    def test_control_gil_holding_call_never_overlaps(self):
        """The same observation through ctypes.PyDLL, which holds the GIL during
        the call: the main thread can never run while a worker is in C."""
        dll = ctypes.PyDLL(calib.library_path)
        f = dll.calib_apply
        f.restype = ctypes.c_int
        f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
        ptr = self.ts._model.ptr
        n, k = self.x.shape

        def apply(x, out):
            assert f(ptr, x.ctypes.data, n, k, out.ctypes.data) == 0

        for _ in range(2):
            seen, wall, _ = run_round(apply, self.x, self.outs, self.probe)
            self.assertFalse(seen, "a GIL-holding call was observed mid-write: the probe is unsound")
            for o in self.outs:
                np.testing.assert_array_equal(o, self.expected)


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=1)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
