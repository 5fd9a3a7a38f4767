"""Histogram binning (Zadrozny & Elkan 2001): libcalib (ctypes on
lib/libcalib.so) against an independent numpy implementation written from
the definitions in calib.h / REFERENCES.md 2.2, 2.3 (1), 2.19:

  equal width : bin b = (b/M, (b+1)/M], 0 in bin 0 (searchsorted 'left' on the
                correctly rounded edges b/M);
  equal mass  : Kumar et al.'s get_equal_bins (np.array_split of the sorted
                probabilities into min(M, N) parts, midpoint edges, last edge
                1.0, duplicates removed), bins by bisect_left;
  theta_b     : weighted mean label of the bin, bin midpoint if empty;
  one-vs-rest : theta per class, rows renormalised, zero sum -> uniform.
Datasets: synthetic probabilities with exact edge values and ties, COCO
detections (binary, probabilities and logits), CIFAR-10 (10 classes).
Run from the repository root: PYTHONPATH=python /usr/bin/python3 test/py/test_histogram.py
"""
import os
import sys
import unittest

try:
    import numpy as np
except ImportError as e:  # pragma: no cover
    print("skipped: needs numpy (%s)" % e)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctlib  # noqa: E402  (loads lib/libcalib.so or skips)
import datagate  # noqa: E402
from ctlib import SHARED, lib  # noqa: E402

METHOD_HISTOGRAM = 5
P_INPUT, P_BINS, P_BINNING = 4, 14, 15
INPUT_PROBS, INPUT_LOGITS = 1, 2
WIDTH, MASS = 0, 1
MP_VALUES, MP_EDGES, MP_COUNTS = 12, 13, 14


# ---- the independent numpy reference ------------------------------------------

def width_edges(M):
    return np.arange(1, M + 1, dtype=np.float64) / M  # upper edges, correctly rounded


def kumar_edges(p, M):
    s = np.sort(p.astype(np.float64))
    B = min(M, len(s))
    parts = np.array_split(s, B)
    e = [(parts[i][-1] + parts[i + 1][0]) / 2.0 for i in range(B - 1)] + [1.0]
    return np.array(sorted(set(e)))


def ref_fit(p, t, w, M, mass):
    """theta and upper edges of one binary problem (p probabilities, t 0/1)."""
    w = np.ones(len(p)) if w is None else w
    keep = w > 0
    edges = kumar_edges(p[keep], M) if mass else width_edges(M)
    b = np.searchsorted(edges, p.astype(np.float64), side="left")
    b = np.minimum(b, len(edges) - 1)
    sw = np.bincount(b[keep], weights=w[keep], minlength=len(edges))
    swy = np.bincount(b[keep], weights=(w * t)[keep], minlength=len(edges))
    lo = np.concatenate([[0.0], edges[:-1]])
    theta = np.where(sw > 0, swy / np.where(sw > 0, sw, 1.0), (edges + lo) / 2.0)
    return theta, edges


def ref_apply(p, theta, edges):
    b = np.minimum(np.searchsorted(edges, p.astype(np.float64), side="left"), len(edges) - 1)
    return theta[b]


def ref_ovr(pv, yv, pt, w, M, mass):
    k = pv.shape[1]
    q = np.zeros(pt.shape)
    fits = []
    for j in range(k):
        theta, edges = ref_fit(pv[:, j], (yv == j).astype(float), w, M, mass)
        fits.append((theta, edges))
        q[:, j] = ref_apply(pt[:, j], theta, edges)
    s = q.sum(axis=1, keepdims=True)
    return np.divide(q, s, out=np.full_like(q, 1.0 / k), where=s != 0), fits


# ---- libcalib through ctypes ----------------------------------------------------

class Model:
    def __init__(self, x, y, w=None, **opt):
        opts = ((P_INPUT, opt.get("input", INPUT_PROBS)), (P_BINS, opt.get("bins", 10)),
                (P_BINNING, opt.get("binning", WIDTH)))
        st, self.m, self.k, _ = ctlib.fit(METHOD_HISTOGRAM, x, y, w, opts)
        assert st == 0, st

    def param(self, which):
        return ctlib.param(self.m, which, missing_ok=True)

    def apply(self, x):
        return ctlib.apply(self.m, x)

    def __del__(self):
        lib.calib_model_free(self.m)


def load(name, split, what="logits"):
    d = os.path.join(SHARED, name, split)
    y = np.fromfile(os.path.join(d, "labels.i32"), dtype=np.int32).astype(np.int64)
    x = np.fromfile(os.path.join(d, what + ".f32"), dtype=np.float32)
    return x.reshape(len(y), -1), y


def softmax32(z):
    e = np.exp(z.astype(np.float64) - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


class Binary(unittest.TestCase):
    def check(self, pv, yv, pt, w=None, M=10, mass=False):
        theta, edges = ref_fit(pv, yv.astype(float), w, M, mass)
        m = Model(pv, yv, w, bins=M, binning=MASS if mass else WIDTH)
        np.testing.assert_allclose(m.param(MP_VALUES), theta, rtol=0, atol=1e-12)
        if mass:
            np.testing.assert_array_equal(m.param(MP_EDGES), edges)
            self.assertEqual(m.param(MP_COUNTS)[0], len(edges))
        else:
            self.assertIsNone(m.param(MP_EDGES))
        got = m.apply(pt)
        np.testing.assert_array_equal(got, ref_apply(pt, theta, edges).astype(np.float32))
        return theta

    def test_exact_edges_and_ties(self):
        rng = np.random.default_rng(7)
        p = np.float32(rng.integers(0, 41, size=3000) / 40.0)   # 0, 0.25, 0.5, 1 exact, many ties
        y = (rng.random(3000) < p).astype(np.int64)
        grid = np.float32(np.arange(0, 81) / 80.0)
        for M in (1, 2, 3, 4, 7, 10, 16, 40, 100):
            self.check(p, y, grid, M=M)
            self.check(p, y, grid, M=M, mass=True)
        w = rng.choice([0.0, 0.5, 1.0, 3.0], size=3000)
        for M in (4, 10, 25):
            self.check(p, y, grid, w, M=M)
            self.check(p, y, grid, w, M=M, mass=True)

    def test_right_closed_convention(self):
        # 0.25 sits on an edge with M = 4: it belongs to bin 0 = (0, 0.25].
        p = np.float32([0.0, 0.25, 0.25, 0.5, 1.0, 0.26])
        y = np.array([0, 1, 1, 0, 1, 0])
        theta = self.check(p, y, p, M=4)
        np.testing.assert_allclose(theta, [2 / 3, 0.0, 0.625, 1.0])  # bin 2 empty: midpoint

    def test_small_n_equal_mass(self):
        # B > N -> N bins; all-equal values -> one bin (edges merged).
        self.check(np.float32([0.2, 0.7, 0.4]), np.array([0, 1, 1]), np.float32([0, 0.3, 1]), M=10, mass=True)
        self.check(np.float32([0.5] * 6), np.array([0, 1, 1, 0, 1, 0]), np.float32([0, 0.5, 1]), M=4, mass=True)

    @datagate.needs_shared
    def test_coco(self):
        name = "coco_faster_rcnn_r50_binary_netcal"
        pv, yv = load(name, "val", "probs")
        pt, _ = load(name, "test", "probs")
        for M, mass in ((10, False), (15, False), (15, True), (50, True)):
            self.check(pv[:, 0], yv, pt[:, 0], M=M, mass=mass)
        # Logits input: the library's sigmoid (double, rounded once) vs
        # numpy's; they may differ by an ulp (different exp), so bin values
        # agree unless a p sits within a few ulps of an edge (asserted not
        # to happen here: the comparison is not vacuous).
        zv, _ = load(name, "val")
        zt, _ = load(name, "test")
        sv = (1.0 / (1.0 + np.exp(-zv[:, 0].astype(np.float64)))).astype(np.float32)
        st = (1.0 / (1.0 + np.exp(-zt[:, 0].astype(np.float64)))).astype(np.float32)
        theta, edges = ref_fit(sv, yv.astype(float), None, 15, False)
        near = np.min(np.abs(sv.astype(np.float64)[:, None] - edges[None, :]))
        m = Model(zv[:, 0], yv, bins=15, input=INPUT_LOGITS)
        self.assertGreater(near, 2.4e-7)  # > 4 float32 ulps: same bins expected
        if near > 2.4e-7:
            np.testing.assert_allclose(m.param(MP_VALUES), theta, rtol=0, atol=1e-12)
        got = m.apply(zt[:, 0])
        agree = np.mean(got == ref_apply(st, theta, edges).astype(np.float32))
        self.assertGreater(agree, 0.999)


@datagate.needs_shared
class OneVsRest(unittest.TestCase):
    def check(self, name, M, mass, w=None):
        zv, yv = load(name, "val")
        zt, _ = load(name, "test")
        pv, pt = softmax32(zv), softmax32(zt)
        want, fits = ref_ovr(pv, yv, pt, w, M, mass)
        m = Model(pv, yv, w, bins=M, binning=MASS if mass else WIDTH)
        np.testing.assert_allclose(m.param(MP_VALUES), np.concatenate([f[0] for f in fits]),
                                   rtol=0, atol=1e-12)
        if mass:
            np.testing.assert_array_equal(m.param(MP_EDGES), np.concatenate([f[1] for f in fits]))
            np.testing.assert_array_equal(m.param(MP_COUNTS), [len(f[1]) for f in fits])
        got = m.apply(pt)
        err = np.max(np.abs(got - want))
        self.assertLess(err, 1.2e-7)
        return err

    def test_cifar10(self):
        rng = np.random.default_rng(3)
        for M, mass in ((10, False), (15, False), (15, True), (30, True)):
            err = self.check("cifar10_densenet40_markus93", M, mass)
        w = rng.choice([0.0, 1.0, 2.0], size=5000)
        err = max(err, self.check("cifar10_densenet40_markus93", 15, True, w))
        err = max(err, self.check("cifar10_densenet40_markus93", 15, False, w))
        print("cifar10 one-vs-rest histogram: max |diff| %.2e" % err)

    def test_zero_sum_row_is_uniform(self):
        # (Rows need not sum to 1 with probability input.) Class 0's top bin
        # and class 1's bottom bin hold only negatives: a row landing in both
        # gets q = (0, 0) -> uniform (1/2, 1/2).
        pv = np.float32([[0.9, 0.6], [0.9, 0.6], [0.1, 0.1], [0.1, 0.1]])
        yv = np.array([1, 1, 0, 0])
        m = Model(pv, yv, bins=2)
        got = m.apply(np.float32([[0.9, 0.1]]))
        np.testing.assert_array_equal(got, [[0.5, 0.5]])


if __name__ == "__main__":
    sys.exit(datagate.finish(unittest.main(verbosity=1, exit=False).result))
