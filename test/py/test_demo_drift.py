"""Independent cross-check of `make demo-drift` (examples/drift/demo_drift.c).

Compiles examples/drift/demo_drift.c against lib/libcalib.a, runs it with
--dump DIR, and
recomputes with numpy/scipy, from the shipped logits and the rows the demo
says it served (rows.tsv: test index and logit scale of every row, and the temperature of
the model version that served it):
  - the fit-time reference (calibrated val probabilities at the demo's T:
    20-bin confidence histogram, predicted-class histogram, label prior);
  - for every closed label-free window (windows.tsv): the PSI of both
    histograms (floor 1e-4) and the pooled chi-square homogeneity p-values
    (scipy.stats.chi2_contingency on the table pooled by the rule of
    include/calib.h), against the demo's full-precision values and against
    the 4-decimal PSI it printed on its timeline;
  - the EM prior estimate of the prior-shift phase (Saerens et al. 2002, own
    numpy code): on the last 1000 rows (the monitor's ring) and on all 5000
    rows (calib_prior_em), against summary.txt and the printed line;
  - the resampling itself: phase 1 is two permutations of the test set, and
    phase 4 is about half class 3.

Run from the repository root:  /usr/bin/python3 test/py/test_demo_drift.py
Exit 0 on success, 1 on failure, 77 when the library is not built.
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np
from scipy import stats

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(REPO, "data", "cifar10_densenet40_markus93")
K, BINS, EPS, SHIFT = 10, 20, 1e-4, 3


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def histograms(p):
    """Confidence bins (b/20, (b+1)/20], 0 in bin 0; predicted class (first max)."""
    conf = p.max(axis=1).astype(np.float64)
    edges = np.arange(1, BINS) / float(BINS)
    cb = np.searchsorted(edges, conf, side="left")  # edges strictly below conf
    return np.bincount(cb, minlength=BINS), np.bincount(p.argmax(axis=1), minlength=K)


def psi(r, w):
    pr = np.maximum(r / r.sum(), EPS)
    pw = np.maximum(w / w.sum(), EPS)
    return float(np.sum((pw - pr) * np.log(pw / pr)))


def pooled_p(r, w):
    """Groups of consecutive bins with reference share >= 5 / min(n_ref, n_win),
    a leftover tail joining the last group; p of the 2 x G homogeneity test."""
    need = 5.0 / min(r.sum(), w.sum())
    groups, rg, wg = [], 0.0, 0.0
    for a, b in zip(r, w):
        rg, wg = rg + a, wg + b
        if rg / r.sum() >= need:
            groups.append([rg, wg])
            rg = wg = 0.0
    if len(groups) < 2:
        return 1.0
    groups[-1][0] += rg
    groups[-1][1] += wg
    table = np.array(groups, dtype=np.float64).T
    return float(stats.chi2_contingency(table, correction=False)[1])


def em(p, train, tol=1e-13, max_iter=100000):
    pi = train.copy()
    for _ in range(max_iter):
        q = p * (pi / train)
        q /= q.sum(axis=1, keepdims=True)
        nxt = q.mean(axis=0)
        if np.abs(nxt - pi).max() <= tol:
            return nxt
        pi = nxt
    raise AssertionError("numpy EM did not converge")


def build(out):
    """Compiles the demo against this tree's lib/libcalib.a into out, as
    `make demo-drift` does (not through make: a nested make could rebuild the
    library of another configuration, e.g. during `make NO_BLAS=1 test`).
    The static library's own dependencies come from lib/calib.pc."""
    try:
        libs = subprocess.run(["pkg-config", "--static", "--libs", os.path.join(REPO, "lib", "calib.pc")],
                              capture_output=True, text=True, check=True).stdout.split()
        libs = [x for x in libs if x != "-lcalib" and not x.startswith("-L/usr/local")]
    except (OSError, subprocess.CalledProcessError):
        libs = ["-lm", "-pthread"]
    cmd = [os.environ.get("CC", "cc"), "-std=c99", "-O2", "-Wall", "-Wextra", "-I" + os.path.join(REPO, "include"),
           "-o", out, os.path.join(REPO, "examples", "drift", "demo_drift.c"),
           os.path.join(REPO, "lib", "libcalib.a")] + libs + ["-lm"]
    subprocess.run(cmd, check=True)


class DemoDrift(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(REPO, "lib", "libcalib.a")):
            raise unittest.SkipTest("lib/libcalib.a not built")
        cls.tmp = tempfile.TemporaryDirectory()
        exe = os.path.join(cls.tmp.name, "demo-drift")
        build(exe)
        dump = os.path.join(cls.tmp.name, "dump")
        out = subprocess.run([exe, "--data", DATA, "--dump", dump], cwd=REPO, capture_output=True, text=True)
        cls.stdout, cls.rc = out.stdout, out.returncode
        if out.returncode != 0:
            print(out.stdout[-3000:], out.stderr[-2000:])
        d = dump
        cls.rows = np.loadtxt(os.path.join(d, "rows.tsv"), skiprows=1, ndmin=2)
        cls.windows = np.loadtxt(os.path.join(d, "windows.tsv"), skiprows=1, ndmin=2)
        cls.summary = {}
        with open(os.path.join(d, "summary.txt")) as f:
            for line in f:
                key, *vals = line.split()
                cls.summary[key] = np.array([float(v) for v in vals])
        cls.T = float(cls.summary["temperature"][0])
        zv = np.load(os.path.join(DATA, "val", "logits.npy")).astype(np.float64)
        yv = np.load(os.path.join(DATA, "val", "labels.npy"))
        cls.zt = np.load(os.path.join(DATA, "test", "logits.npy"))
        cls.yt = np.load(os.path.join(DATA, "test", "labels.npy"))
        pv = softmax(zv / cls.T).astype(np.float32)
        cls.ref_conf, cls.ref_class = histograms(pv)
        cls.ref_prior = np.bincount(yv, minlength=K) / len(yv)
        idx = cls.rows[:, 2].astype(np.int64)
        scale = cls.rows[:, 3].astype(np.float32)
        temp = cls.rows[:, 5]  # the temperature of the version that served the row
        z = cls.zt[idx] * scale[:, None]  # float32, as the demo scales them
        cls.probs = softmax(z.astype(np.float64) / temp[:, None]).astype(np.float32)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_exit_status_and_temperature(self):
        self.assertEqual(self.rc, 0, "demo-drift failed a bound")
        self.assertIn("demo-drift: all bounds hold", self.stdout)
        self.assertAlmostEqual(self.T, 2.883, delta=5e-4)  # the published T for these logits

    def test_reference(self):
        self.assertTrue(np.allclose(self.summary["reference_prior"], self.ref_prior, rtol=0, atol=1e-15))

    def test_resampling(self):
        phase, idx = self.rows[:, 1].astype(int), self.rows[:, 2].astype(int)
        self.assertTrue(np.array_equal(self.rows[:, 0], np.arange(len(self.rows))))
        p1 = idx[phase == 1]
        self.assertEqual(len(p1), 20000)
        for half in (p1[:10000], p1[10000:]):  # each a permutation of the test set
            self.assertTrue(np.array_equal(np.sort(half), np.arange(10000)))
        self.assertTrue(np.all(self.rows[phase == 2, 3] == 2.0))
        self.assertTrue(np.all(self.rows[phase != 2, 3] == 1.0))
        version, temp = self.rows[:, 4].astype(int), self.rows[:, 5]
        self.assertTrue(np.all(temp[version == 1] == self.T))
        bad = version == 2  # the bad model: 1000 rows (labels 500 rows late, rollback at 500 paired)
        self.assertEqual(int(bad.sum()), 1000)
        self.assertTrue(np.all(temp[bad] == 0.25) and np.all(phase[bad] == 5))
        self.assertTrue(np.all(version[np.argmax(bad) + 1000:] == 1))
        share = np.mean(self.yt[idx[phase == 4]] == SHIFT)
        self.assertLess(abs(share - 0.5), 4 * np.sqrt(0.25 / np.sum(phase == 4)))

    def test_windows_psi_and_p(self):
        self.assertGreater(len(self.windows), 60)
        printed = {}
        for m in re.finditer(r"^\s*(\d+)\s+\S+ [^\n]*?\s(\d+)\s+(\d+)\s+([\d.]+)\s+(\S+)\s+([\d.]+)\s+(\S+)\s",
                             self.stdout, re.M):
            printed[int(m.group(3))] = (float(m.group(4)), float(m.group(6)))
        worst = worst_p = 0.0
        for w in self.windows:
            no, lo, hi = int(w[0]), int(w[1]), int(w[2])
            conf, cls_ = histograms(self.probs[lo:hi])
            self.assertEqual(conf.sum(), hi - lo)
            mine = (psi(self.ref_conf, conf), pooled_p(self.ref_conf, conf),
                    psi(self.ref_class, cls_), pooled_p(self.ref_class, cls_))
            demo = (w[3], w[4], w[5], w[6])
            for a, b in ((mine[0], demo[0]), (mine[2], demo[2])):
                self.assertAlmostEqual(a, b, delta=1e-12 + 1e-9 * abs(b), msg="PSI, window %d" % no)
            for a, b in ((mine[1], demo[1]), (mine[3], demo[3])):
                self.assertLessEqual(abs(a - b), 1e-300 + 1e-10 * b, "p-value, window %d" % no)
            worst = max(worst, abs(mine[0] - demo[0]), abs(mine[2] - demo[2]))
            worst_p = max(worst_p, abs(mine[1] - demo[1]) / demo[1], abs(mine[3] - demo[3]) / demo[3])
            self.assertIn(no, printed, "window %d not on the timeline" % no)
            self.assertAlmostEqual(printed[no][0], mine[0], delta=5.1e-5)
            self.assertAlmostEqual(printed[no][1], mine[2], delta=5.1e-5)
        print("windows: %d recomputed, PSI max |numpy - demo| = %.2e, p-values max relative difference %.2e"
              % (len(self.windows), worst, worst_p))

    def test_em_prior_shift(self):
        lo, hi = int(self.summary["p4_first_row"][0]), int(self.summary["p4_end_row"][0])
        n_ring = int(self.summary["em_ring_rows"][0])
        self.assertEqual(n_ring, 1000)
        p4 = self.probs[lo:hi].astype(np.float64)
        ring = em(p4[-n_ring:], self.ref_prior)
        full = em(p4, self.ref_prior)
        # the demo's EM stops at max |delta pi| <= 1e-6 (monitor default), 1e-8 (calib_prior_em)
        self.assertLess(np.abs(ring - self.summary["em_ring"]).max(), 2e-5)
        self.assertLess(np.abs(full - self.summary["em_all"]).max(), 1e-6)
        truth = np.full(K, 0.5 / (K - 1))
        truth[SHIFT] = 0.5
        m = re.search(r"last 1000 rows\) ([\d.]+),\s+calib_prior_em on all \d+ rows ([\d.]+).*?"
                      r"max abs error over the classes ([\d.]+) and ([\d.]+)", self.stdout, re.S)
        self.assertIsNotNone(m, "EM line not printed")
        self.assertAlmostEqual(float(m.group(1)), ring[SHIFT], delta=6e-5)
        self.assertAlmostEqual(float(m.group(2)), full[SHIFT], delta=6e-5)
        self.assertAlmostEqual(float(m.group(3)), np.abs(ring - truth).max(), delta=6e-5)
        self.assertAlmostEqual(float(m.group(4)), np.abs(full - truth).max(), delta=6e-5)
        print("EM class %d: numpy %.4f (ring) %.4f (all), true 0.5" % (SHIFT, ring[SHIFT], full[SHIFT]))


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=1).result
    ok = result.wasSuccessful()
    if ok and result.skipped and result.testsRun <= len(result.skipped):
        sys.exit(77)
    sys.exit(0 if ok else 1)
