"""The binding's metrics suite (calibration_error, debiased_l2_ce, ks_error,
mmce, kde_ece, smooth_ece, brier_score, reliability, Accumulator, tao2024)
against numpy references written here from each paper's definition, and
against shared/data/REFERENCE_METRICS.json (skipped with a message when
../shared/data is absent). Functions missing from the loaded library are
skipped with a message.

Run from the repository root:  PYTHONPATH=python /usr/bin/python3 test/py/test_binding_metrics.py
"""
import json
import os
import pickle
import sys
import unittest

import numpy as np
from scipy import optimize, special, stats

import calib
from calib import _lib

import datagate  # noqa: E402  (honest skips: test/py/datagate.py)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("CALIB_SHARED_DATA") or os.path.join(REPO, os.pardir, "shared", "data")


def shipped(split):
    for root in (os.path.join(REPO, "data"), SHARED):
        d = os.path.join(root, "cifar10_densenet40_markus93", split)
        if os.path.exists(os.path.join(d, "logits.npy")):
            return np.load(os.path.join(d, "logits.npy")), np.load(os.path.join(d, "labels.npy")).astype(np.int64)
    raise AssertionError("the shipped set is missing from data/ (a broken checkout)")


def shared_multiclass():
    path = os.path.join(SHARED, "REFERENCE_METRICS.json")
    if not os.path.exists(path):
        raise datagate.missing("the REFERENCE_METRICS.json checks")
    with open(path) as f:
        ref = json.load(f)
    for name, entry in ref["datasets"].items():
        with open(os.path.join(SHARED, name, "meta.json")) as f:
            k = json.load(f)["k"]
        d = os.path.join(SHARED, name, "test")
        z = np.fromfile(os.path.join(d, "logits.f32"), "<f4").reshape(-1, k)
        y = np.fromfile(os.path.join(d, "labels.i32"), "<i4").astype(np.int64)
        yield name, z, y, entry


def need(*symbols):
    for s in symbols:
        if _lib.FN.get(s) is None:
            raise unittest.SkipTest("%s is not in this build of libcalib" % s)


def probs32(z):
    return special.softmax(np.asarray(z, np.float64), axis=1).astype(np.float32)


# ---- references, float64, from the definitions ------------------------------------------
def problems(p, y, scope):
    """[(scores s, targets t)] of a scope (include/calib.h, 'Scope')."""
    p = np.asarray(p, np.float64)
    if scope == "top_label":
        if p.ndim == 1:
            pred = (p > 0.5).astype(np.int64)
            return [(np.maximum(p, 1 - p), (pred == y).astype(float))]
        pred = np.argmax(p, axis=1)
        return [(p[np.arange(len(y)), pred], (pred == y).astype(float))]
    if scope == "classwise":
        cols = np.stack([1 - p, p], 1) if p.ndim == 1 else p
        return [(cols[:, j], (y == j).astype(float)) for j in range(cols.shape[1])]
    s = p if p.ndim == 1 else p[:, 1]
    return [(s, (y == 1).astype(float))]


def bin_ids(s, t, bins, binning):
    n = len(s)
    if binning == "equal_width":
        return np.clip(np.searchsorted(np.arange(bins + 1) / bins, s, "left") - 1, 0, bins - 1)
    if binning == "equal_width_left_closed":
        return np.clip(np.searchsorted(np.arange(bins + 1) / bins, s, "right") - 1, 0, bins - 1)
    if binning == "equal_mass_kumar":
        parts = np.array_split(np.sort(s), min(bins, n))
        edges = np.unique([(parts[i][-1] + parts[i + 1][0]) / 2 for i in range(len(parts) - 1)] + [1.0])
        return np.searchsorted(edges, s, "left")
    order = np.lexsort((t, s))                       # equal_mass_index: by score, targets 0 first in ties
    nb = min(bins, n)
    ids = np.empty(n, np.int64)
    ids[order] = np.minimum(np.arange(n) // (n // nb), nb - 1)
    return ids


def bin_stats(s, t, ids):
    out = []
    for b in np.unique(ids):
        m = ids == b
        out.append((m.sum(), s[m].mean(), t[m].mean()))
    return out


def ref_ce(p, y, bins, scope, binning, norm):
    vals = []
    for s, t in problems(p, y, scope):
        st = bin_stats(s, t, bin_ids(s, t, bins, binning))
        n = len(s)
        gaps = np.array([abs(ms - mt) for _, ms, mt in st])
        w = np.array([c / n for c, _, _ in st])
        vals.append({"l1": np.sum(w * gaps), "l2": np.sqrt(np.sum(w * gaps ** 2)), "max": gaps.max()}[norm])
    vals = np.array(vals)
    return {"l1": vals.mean(), "l2": np.sqrt(np.mean(vals ** 2)), "max": vals.max()}[norm]


def ref_debiased(p, y, bins, scope, binning):
    vals = []
    for s, t in problems(p, y, scope):
        ids, n, ce2 = bin_ids(s, t, bins, binning), len(s), 0.0
        for c, ms, mt in bin_stats(s, t, ids):
            if c >= 2:
                ce2 += c / n * ((ms - mt) ** 2 - mt * (1 - mt) / (c - 1))
        vals.append(np.sqrt(max(ce2, 0.0)))
    return float(np.sqrt(np.mean(np.square(vals))))


def ref_ks(p, y, scope):
    vals = []
    for s, t in problems(p, y, scope):
        o = np.argsort(s, kind="stable")
        s, t = s[o], t[o]
        h = np.cumsum(s - t) / len(s)
        last = np.append(s[1:] != s[:-1], True)          # end of each run of equal scores
        vals.append(np.abs(h[last]).max())
    return float(np.mean(vals))


def ref_mmce(p, y, scope, width=0.4):
    vals = []
    for s, t in problems(p, y, scope):
        r = t - s
        tot = 0.0
        for i in range(0, len(s), 1000):                  # the O(n^2) double sum, in blocks
            tot += r[i:i + 1000] @ np.exp(-np.abs(s[i:i + 1000, None] - s[None, :]) / width) @ r
        vals.append(np.sqrt(max(tot, 0.0)) / len(s))
    return float(np.mean(vals))


def ref_smece_sigma(s, t, sigma, grid=2001):
    """int_0^1 |(1/n) sum r_i K(u, s_i)| du, Gaussian kernel reflected at 0 and 1
    (all images that matter), trapezoid rule."""
    u = np.linspace(0, 1, grid)
    r = s - t
    acc = np.zeros(grid)
    for m in range(-2, 3):                               # |m| > 2 adds < e^-12 even at sigma = 1
        for img in (s + 2 * m, 2 * m - s):
            d = u[:, None] - img[None, :]
            acc += (np.exp(-0.5 * (d / sigma) ** 2) @ r) / (sigma * np.sqrt(2 * np.pi))
    return float(np.trapz(np.abs(acc / len(s)), u))


def ref_smece(s, t):
    """smECE at the fixed point sigma = smECE_sigma, searched in [0.001, 1]."""
    g = lambda sg: ref_smece_sigma(s, t, sg) - sg
    if g(1.0) >= 0:
        return ref_smece_sigma(s, t, 1.0), 1.0
    if g(0.001) <= 0:
        return ref_smece_sigma(s, t, 0.001), 0.001
    sg = optimize.brentq(g, 0.001, 1.0, xtol=1e-7)
    return ref_smece_sigma(s, t, sg), sg


def ref_brier(p, y, scaling):
    p = np.asarray(p, np.float64)
    cols = np.stack([1 - p, p], 1) if p.ndim == 1 else p
    k = cols.shape[1]
    tot = np.mean(np.sum((cols - np.eye(k)[y]) ** 2, 1))
    if scaling == "sum":
        return tot
    if scaling == "mean_k":
        return tot / k
    if scaling == "positive":
        return np.mean((cols[:, 1] - (y == 1)) ** 2)
    (s, t), = problems(p, y, "top_label")
    return np.mean((s - t) ** 2)


def wilson(x, m, z):
    q = x / m
    c = (q + z * z / (2 * m)), z * np.sqrt(q * (1 - q) / m + z * z / (4 * m * m)), 1 + z * z / m
    return (c[0] - c[1]) / c[2], (c[0] + c[1]) / c[2]


# ---- tests -------------------------------------------------------------------------------
class TestBinned(unittest.TestCase):
    def setUp(self):
        need("calib_calibration_error", "calib_debiased_l2_ce")
        z, self.y = shipped("test")
        self.p = probs32(z)
        rng = np.random.default_rng(4)
        self.pb = np.round(rng.random(3000), 2).astype(np.float32)          # binary, ties, values on edges
        self.yb = (rng.random(3000) < self.pb).astype(np.int64)

    def test_against_definitions(self):
        for p, y, scopes in ((self.p, self.y, ("top_label", "classwise")),
                             (self.pb, self.yb, ("top_label", "classwise", "positive_class")),
                             (self.p[:, :2] / self.p[:, :2].sum(1, keepdims=True), (self.y == 1).astype(np.int64),
                              ("positive_class",))):
            p = np.ascontiguousarray(p, np.float32)
            for scope in scopes:
                for binning in ("equal_width", "equal_width_left_closed", "equal_mass_kumar", "equal_mass_index"):
                    for bins in (1, 10, 15, 100):
                        for norm in ("l1", "l2", "max"):
                            got = calib.calibration_error(p, y, bins, scope, binning, norm)
                            want = ref_ce(p, y, bins, scope, binning, norm)
                            self.assertAlmostEqual(got, want, delta=1e-12 + 1e-10 * want,
                                                   msg=(scope, binning, bins, norm))
                        got = calib.debiased_l2_ce(p, y, bins, scope, binning)
                        self.assertAlmostEqual(got, ref_debiased(p, y, bins, scope, binning), delta=1e-11,
                                               msg=("debiased", scope, binning, bins))
        self.assertEqual(calib.calibration_error(self.p, self.y), calib.ece(self.p, self.y))

    def test_errors(self):
        for kw, code in (({"scope": "nope"}, calib.E_ARG), ({"binning": "nope"}, calib.E_ARG),
                         ({"norm": "l3"}, calib.E_ARG), ({"bins": 0}, calib.E_ARG),
                         ({"scope": "positive_class"}, calib.E_ARG)):
            with self.assertRaises(calib.CalibError) as cm:
                calib.calibration_error(self.p, self.y, **kw)
            self.assertEqual(cm.exception.code, code, kw)


class TestBinFree(unittest.TestCase):
    def setUp(self):
        z, self.y = shipped("test")
        self.p = probs32(z)

    def test_ks(self):
        need("calib_ks_error")
        for scope in ("top_label", "classwise"):
            self.assertAlmostEqual(calib.ks_error(self.p, self.y, scope), ref_ks(self.p, self.y, scope), delta=1e-12)

    def test_mmce(self):
        need("calib_mmce")
        p, y = self.p[:4000], self.y[:4000]
        for scope in ("top_label", "classwise"):
            for width in (0.4, 0.1):
                self.assertAlmostEqual(calib.mmce(p, y, scope, width), ref_mmce(p, y, scope, width),
                                       delta=1e-11, msg=(scope, width))

    def test_smooth_ece(self):
        need("calib_smooth_ece")
        p, y = self.p[:500], self.y[:500]
        (s, t), = problems(p, y, "top_label")
        self.assertAlmostEqual(calib.smooth_ece(p, y, sigma=0.05), ref_smece_sigma(s, t, 0.05),
                               delta=2e-4 * ref_smece_sigma(s, t, 0.05))
        want, sg = ref_smece(s, t)
        got, gsg = calib.smooth_ece(p, y, return_sigma=True)
        self.assertAlmostEqual(got, want, delta=1e-3 * want)
        self.assertAlmostEqual(gsg, sg, delta=1e-3 * sg)

    def test_parameter_ranges(self):
        # issue 10: sigma = 1e-20 used to write outside the grid (ASan: heap-buffer-overflow in
        # sm_init) and abort the interpreter; every out-of-range parameter now raises CalibError.
        need("calib_smooth_ece")
        p, y = self.p[:200], self.y[:200]
        for sigma in (1e-20, 1e-300, 1e-6, 0.000999, 1.0000001, 2.0, -0.5, float("nan"), float("inf")):
            with self.assertRaises(calib.CalibError, msg=sigma) as cm:
                calib.smooth_ece(p, y, sigma=sigma)
            self.assertEqual(cm.exception.code, -1)
        for sigma in (0.001, 1.0):
            self.assertEqual(calib.smooth_ece(p, y, sigma=sigma, return_sigma=True)[1], sigma)
        for bins in (0, 2 ** 24 + 1, 2 ** 64 - 1):
            with self.assertRaises(calib.CalibError, msg=bins):
                calib.ece(p, y, bins=bins)
        self.assertGreaterEqual(calib.ece(p, y, bins=2 ** 24), 0.0)
        for bins in (0, 2 ** 24 + 1, 10 ** 12, 2 ** 64 - 1, 2 ** 70):  # no 10^12-row buffer first
            with self.assertRaises(calib.CalibError, msg=bins):
                calib.reliability(p, y, bins=bins)
        for z in (0.0, 100.5, float("nan")):
            with self.assertRaises(calib.CalibError, msg=z):
                calib.reliability(p, y, bins=10, z=z)
        for width in (0.0, -1.0, float("nan"), float("inf")):
            with self.assertRaises(calib.CalibError, msg=width):
                calib.mmce(p, y, "top_label", width)

    def test_brier_scalings(self):
        need("calib_brier_score")
        pb = self.p[:, 1] / (self.p[:, 0] + self.p[:, 1])
        yb = (self.y == 1).astype(np.int64)
        for scaling in ("sum", "mean_k", "top_label"):
            self.assertAlmostEqual(calib.brier_score(self.p, self.y, scaling), ref_brier(self.p, self.y, scaling),
                                   delta=1e-12)
        for scaling in ("sum", "mean_k", "positive", "top_label"):
            self.assertAlmostEqual(calib.brier_score(pb.astype(np.float32), yb, scaling),
                                   ref_brier(pb.astype(np.float32), yb, scaling), delta=1e-12)

    def test_reliability(self):
        need("calib_reliability")
        z = 1.959963984540054
        for bins in (10, 15):
            rd = calib.reliability(self.p, self.y, bins=bins)
            (s, t), = problems(self.p, self.y, "top_label")
            ids = bin_ids(s, t, bins, "equal_width")
            np.testing.assert_allclose(rd["lo"], np.arange(bins) / bins)
            np.testing.assert_allclose(rd["hi"], np.arange(1, bins + 1) / bins)
            for b in range(bins):
                m = ids == b
                self.assertEqual(rd["count"][b], m.sum())
                if m.any():
                    self.assertAlmostEqual(rd["conf"][b], s[m].mean(), delta=1e-12)
                    self.assertAlmostEqual(rd["acc"][b], t[m].mean(), delta=1e-12)
                    lo, hi = wilson(t[m].sum(), m.sum(), z)
                    self.assertAlmostEqual(rd["wilson_lo"][b], lo, delta=1e-12)
                    self.assertAlmostEqual(rd["wilson_hi"][b], hi, delta=1e-12)
                else:
                    self.assertTrue(np.isnan(rd["acc"][b]))


class TestKdeAndSuite(unittest.TestCase):
    def test_tao2024_against_reference_json(self):
        need("calib_suite_eval", "calib_kde_ece")
        for name, z, y, entry in shared_multiclass():
            got = calib.tao2024(z, y)
            clean = {key: v["clean"] for key, v in entry["measures"].items()}
            self.assertEqual(list(got), list(clean), name)
            for key, want in clean.items():
                self.assertAlmostEqual(got[key], want, delta=1e-9 * max(1.0, abs(want)), msg=(name, key))
            self.assertAlmostEqual(calib.kde_ece(probs32(z), y), clean["kde_ece"], delta=1e-5 * clean["kde_ece"])

    def test_tao2024_shipped_against_definitions(self):
        need("calib_suite_eval")
        z, y = shipped("test")
        got = calib.tao2024(z, y)
        self.assertEqual(len(got), 50)
        p = special.softmax(z.astype(np.float64), 1)
        for B in (5, 15, 100, 500):
            self.assertAlmostEqual(got["ece_ew_%d" % B], ref_ce(p, y, B, "top_label", "equal_width", "l1"), delta=1e-12)
            self.assertAlmostEqual(got["ece_em_%d" % B], ref_ce(p, y, B, "top_label", "equal_mass_kumar", "l1"),
                                   delta=1e-12)
            self.assertAlmostEqual(got["cwece_ew_%d" % B], ref_ce(p, y, B, "classwise", "equal_width", "l1"),
                                   delta=1e-12)
            self.assertAlmostEqual(got["mce_%d" % B], ref_ce(p, y, B, "top_label", "equal_width", "max"), delta=1e-12)
        self.assertAlmostEqual(got["ks"], ref_ks(p, y, "top_label"), delta=1e-12)
        self.assertAlmostEqual(got["mmce"], ref_mmce(p, y, "top_label"), delta=1e-11)
        self.assertAlmostEqual(got["nll"], float(np.mean(special.logsumexp(z.astype(np.float64), 1)
                                                         - z[np.arange(len(y)), y])), delta=1e-12)
        self.assertAlmostEqual(got["brier_k"], ref_brier(p, y, "mean_k"), delta=1e-12)
        probs = calib.tao2024(probs32(z), y, input="probs")
        self.assertAlmostEqual(probs["ece_ew_15"], got["ece_ew_15"], delta=1e-6)

    def test_undefined_measure(self):
        need("calib_suite_eval")
        z, y = shipped("test")
        wrong = (np.argmax(z, 1) + 1) % 10                   # no correct prediction: kde_ece undefined
        got = calib.tao2024(z, wrong)
        self.assertIsNone(got["kde_ece"])
        self.assertIsNotNone(got["ece_ew_15"])
        with self.assertRaises(calib.CalibError) as cm:
            calib.tao2024(z, wrong, strict=True)
        self.assertEqual(cm.exception.code, calib.E_ONECLASS)


class TestAccumulator(unittest.TestCase):
    def setUp(self):
        need("calib_accumulator_create")

    def test_streaming_equals_one_pass(self):
        z, y = shipped("test")
        p = probs32(z)
        acc = calib.Accumulator(10, bins=15)
        parts = [calib.Accumulator(10, bins=15) for _ in range(3)]
        for i, (pp, yy) in enumerate(zip(np.array_split(p, 7), np.array_split(y, 7))):
            acc.add(pp, yy)
            parts[i % 3].add(pp, yy)
        merged = parts[0].merge(parts[1]).merge(parts[2])
        (s, t), = problems(p, y, "top_label")
        want = {"count": len(y), "accuracy": t.mean(), "nll": -np.mean(np.log(p[np.arange(len(y)), y].astype(float))),
                "brier": ref_brier(p, y, "sum"), "brier_k": ref_brier(p, y, "mean_k"),
                "ece": ref_ce(p, y, 15, "top_label", "equal_width", "l1"),
                "mce": ref_ce(p, y, 15, "top_label", "equal_width", "max"),
                "rmsce": ref_ce(p, y, 15, "top_label", "equal_width", "l2"),
                "cw_ece": ref_ce(p, y, 15, "classwise", "equal_width", "l1"),
                "debiased_l2": ref_debiased(p, y, 15, "top_label", "equal_width")}
        for a in (acc, merged, pickle.loads(pickle.dumps(acc)), calib.Accumulator.from_bytes(acc.to_bytes(), 10, 15)):
            for key, v in want.items():
                self.assertAlmostEqual(a.value(key), v, delta=1e-12 * max(1, abs(v)), msg=key)
        self.assertEqual(acc.to_bytes(), calib.Accumulator.from_bytes(acc.to_bytes(), 10, 15).to_bytes())
        rd = acc.reliability()
        np.testing.assert_array_equal(rd["count"], calib.reliability(p, y, bins=15)["count"])
        vals = acc.values()
        self.assertNotIn("pos_ece", vals)                   # positive-class measures need k <= 2
        self.assertEqual(vals["count"], len(y))

    def test_add_logits_many(self):
        # one softmax per row for several bin counts: equal to a numpy softmax through each
        # accumulator's reference ECE, and to separate add_logits calls byte for byte
        z, y = shipped("test")
        accs = [calib.Accumulator(10, bins=b) for b in (5, 15, 200)]
        calib.Accumulator.add_logits_many(accs, z, y)
        zz = z.astype(np.float64)
        p = np.exp(zz - zz.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        for a, b in zip(accs, (5, 15, 200)):
            self.assertAlmostEqual(a.value("ece"), ref_ce(p, y, b, "top_label", "equal_width", "l1"), delta=1e-6)
            one = calib.Accumulator(10, bins=b).add_logits(z, y)
            self.assertEqual(a.to_bytes(), one.to_bytes())
        with self.assertRaises(calib.CalibError) as cm:
            calib.Accumulator.add_logits_many([accs[0], calib.Accumulator(9, bins=15)], z, y)
        self.assertEqual(cm.exception.code, calib.E_SHAPE)
        with self.assertRaises(calib.CalibError) as cm:
            calib.Accumulator.add_logits_many([accs[0], accs[0]], z, y)
        self.assertEqual(cm.exception.code, calib.E_ARG)
        bad = z[:5].copy()
        bad[4, 0] = np.nan
        with self.assertRaises(calib.CalibError) as cm:
            calib.Accumulator.add_logits_many(accs, bad, y[:5])
        self.assertEqual(cm.exception.code, calib.E_NONFINITE)
        self.assertEqual(accs[0].value("count"), len(y))          # nothing added on error

    def test_errors(self):
        acc = calib.Accumulator(10, bins=15)
        with self.assertRaises(calib.CalibError) as cm:
            acc.value("ece")
        self.assertEqual(cm.exception.code, calib.E_EMPTY)
        with self.assertRaises(calib.CalibError) as cm:
            acc.add(np.full((3, 4), 0.25, np.float32), [0, 1, 2])
        self.assertEqual(cm.exception.code, calib.E_SHAPE)
        with self.assertRaises(calib.CalibError) as cm:
            acc.merge(calib.Accumulator(9, bins=15))
        self.assertEqual(cm.exception.code, calib.E_SHAPE)
        with self.assertRaises(calib.CalibError) as cm:
            calib.Accumulator.from_bytes(acc.to_bytes(), 10, 20)
        self.assertEqual(cm.exception.code, calib.E_ARG)
        with self.assertRaises(calib.CalibError) as cm:
            calib.Accumulator.from_bytes(acc.to_bytes()[:-1], 10, 15)
        self.assertEqual(cm.exception.code, calib.E_FORMAT)
        with self.assertRaises(calib.CalibError) as cm:
            calib.Accumulator(10, bins=15, binning="equal_mass_kumar")
        self.assertEqual(cm.exception.code, calib.E_UNSUPPORTED)
        bad = np.full((2, 10), 0.1, np.float32)
        bad[0, 0] = np.nan
        with self.assertRaises(calib.CalibError) as cm:
            acc.add(bad, [0, 1])
        self.assertEqual(cm.exception.code, calib.E_NONFINITE)
        self.assertEqual(acc.value("count"), 0)                 # nothing added on error


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=1)
    sys.exit(datagate.finish(prog.result))
