"""Reference tests of the monitor's statistics (include/calib.h, "Live
monitoring") against independent scipy/numpy code written here:
  - calib_chi2_sf against scipy.stats.chi2.sf over dof 0.5..400 and the tails;
  - calib_prior_em against a numpy EM (Saerens, Latinne & Decaestecker 2002),
    and calib_prior_correct against the numpy formula;
  - the label-free window test of calib_monitor_read: its p-values and PSI
    against scipy.stats.chi2_contingency on the table pooled by the rule the
    header documents, computed here from the reference and window histograms.
Drives lib/libcalib.so through ctypes (test/py/ctlib.py).

Run from the repository root:  /usr/bin/python3 test/py/test_monitor.py
Exit 0 on success, 77 when the library is not built.
"""
import ctypes
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlib import C, D, F, I64, SZ, VP, lib  # noqa: E402

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

lib.calib_chi2_sf.argtypes = [ctypes.c_double, ctypes.c_double]
lib.calib_chi2_sf.restype = ctypes.c_double
lib.calib_prior_em.argtypes = [F, SZ, SZ, D, ctypes.c_double, SZ, D, ctypes.POINTER(SZ)]
lib.calib_prior_correct.argtypes = [F, SZ, SZ, D, D]
lib.calib_reference_compute.argtypes = [ctypes.POINTER(VP), F, SZ, SZ, I64]
lib.calib_reference_free.argtypes = [VP]
lib.calib_reference_get.argtypes = [VP, ctypes.c_int, D, SZ, ctypes.POINTER(SZ)]
lib.calib_monitor_create.argtypes = [ctypes.POINTER(VP), VP, D]
lib.calib_monitor_free.argtypes = [VP]
lib.calib_monitor_shard_create.argtypes = [VP, ctypes.POINTER(VP)]
lib.calib_monitor_observe.argtypes = [VP, F, SZ, SZ]

U64, DBL, INT = ctypes.c_uint64, ctypes.c_double, ctypes.c_int


class State(ctypes.Structure):
    """calib_monitor_state, field for field."""
    _fields_ = [("rows_observed", U64), ("windows", U64), ("window_rows", U64),
                ("psi_confidence", DBL), ("psi_class", DBL), ("p_confidence", DBL),
                ("p_class", DBL), ("alarm_confidence", INT), ("alarm_class", INT),
                ("em_rows", U64), ("em_iters", U64), ("em_converged", INT), ("em_shift", DBL),
                ("rows_labelled", U64), ("label_windows", U64), ("label_window_rows", U64)] + \
               [(f, DBL) for f in ("accuracy", "nll", "nll_lo", "nll_hi", "brier", "brier_lo",
                                   "brier_hi", "ece", "ece_lo", "ece_hi")] + \
               [("trial_rows", U64), ("trial_mean_diff", DBL), ("trial_se", DBL),
                ("trial_decision", INT)]


lib.calib_monitor_read.argtypes = [VP, ctypes.POINTER(State)]


def f32(a):
    return np.ascontiguousarray(a, np.float32)


def numpy_em(p, train, tol, max_iter):
    """The EM of Saerens et al. (2002), written from the paper."""
    p = p.astype(np.float64)
    pi = train.copy()
    for it in range(1, max_iter + 1):
        q = p * (pi / train)
        q /= q.sum(axis=1, keepdims=True)
        new = q.mean(axis=0)
        delta = np.abs(new - pi).max()
        pi = new
        if delta <= tol:
            return pi, it
    raise AssertionError("numpy EM did not converge")


def pooled_groups(ref_counts, n_window):
    """Bin groups by the header's rule: consecutive bins until the group's
    reference proportion * min(n_window, n_ref) >= 5; a leftover tail joins the
    last group."""
    nr = ref_counts.sum()
    need = 5.0 / min(nr, n_window)
    groups, cur = [], []
    acc = 0.0
    for b, c in enumerate(ref_counts):
        cur.append(b)
        acc += c
        if acc / nr >= need:
            groups.append(cur)
            cur, acc = [], 0.0
    if cur and groups:
        groups[-1].extend(cur)
    return groups


def top_label(p):
    return p.argmax(axis=1), p.max(axis=1)


def bin_index(c, bins):
    """calib_bin_index: (b/M, (b+1)/M], 0 in bin 0, exact edges."""
    b = np.clip(np.ceil(c * bins) - 1, 0, bins - 1).astype(int)
    lo = b / bins
    b = np.where((b > 0) & (c <= lo), b - 1, b)
    b = np.where((b + 1 < bins) & (c > (b + 1) / bins), b + 1, b)
    return b


class TestChi2(unittest.TestCase):
    def test_against_scipy(self):
        worst = 0.0
        for dof in (0.5, 1, 2, 3, 4.5, 7, 19, 50, 120, 400):
            for x in np.concatenate([np.logspace(-4, 3.5, 120), [dof, dof + 2, 2 * dof]]):
                want = stats.chi2.sf(x, dof)
                got = lib.calib_chi2_sf(float(x), float(dof))
                if want > 1e-300:
                    worst = max(worst, abs(got - want) / want)
                else:
                    self.assertLess(got, 1e-290)
        print("calib_chi2_sf vs scipy.stats.chi2.sf: worst relative error %.3g" % worst)
        self.assertLess(worst, 1e-12)


class TestEM(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(11)
        self.rng = rng
        k, n = 4, 5000
        y = rng.choice(k, size=n, p=[0.55, 0.25, 0.15, 0.05])
        z = rng.normal(size=(n, k)) + 1.7 * np.eye(k)[y]
        self.train = np.array([0.4, 0.3, 0.2, 0.1])
        z = z + np.log(self.train)
        self.p = f32(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))

    def em(self, p, train, tol=1e-10, max_iter=5000):
        k = p.shape[1] if p.ndim == 2 else 1
        out = np.zeros(2 if k == 1 else k)
        it = SZ()
        st = lib.calib_prior_em(p.ctypes.data_as(F), p.shape[0], k, train.ctypes.data_as(D), tol,
                                max_iter, out.ctypes.data_as(D), ctypes.byref(it))
        return st, out, it.value

    def test_em_matches_numpy(self):
        st, got, it = self.em(self.p, self.train)
        self.assertEqual(st, 0)
        want, wit = numpy_em(self.p, self.train, 1e-10, 5000)
        print("calib_prior_em vs numpy EM: max |diff| %.3g, iterations %d vs %d" %
              (np.abs(got - want).max(), it, wit))
        np.testing.assert_allclose(got, want, atol=1e-9)
        self.assertLessEqual(abs(it - wit), 1)

    def test_binary_is_two_classes(self):
        p1 = self.rng.uniform(0.01, 0.99, 3000).astype(np.float32)
        train = np.array([0.3, 0.7])
        st, got, _ = self.em(p1, train)
        self.assertEqual(st, 0)
        want, _ = numpy_em(np.stack([1 - p1.astype(np.float64), p1], axis=1), train, 1e-10, 5000)
        np.testing.assert_allclose(got, want, atol=1e-9)

    def test_correct_matches_formula(self):
        new = np.array([0.1, 0.2, 0.3, 0.4])
        p = self.p[:500].copy()
        st = lib.calib_prior_correct(p.ctypes.data_as(F), p.shape[0], 4, self.train.ctypes.data_as(D),
                                     new.ctypes.data_as(D))
        self.assertEqual(st, 0)
        q = self.p[:500].astype(np.float64) * (new / self.train)
        q /= q.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(p, q, atol=2e-7)


class TestWindowTest(unittest.TestCase):
    def test_window_p_values_and_psi(self):
        rng = np.random.default_rng(5)
        k, nref, win = 3, 3000, 400
        def draw(n, sharp):
            y = rng.choice(k, size=n, p=[0.5, 0.3, 0.2])
            z = sharp * (rng.normal(size=(n, k)) + 1.2 * np.eye(k)[y])
            return f32(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)), y.astype(np.int64)
        pr, yr = draw(nref, 1.0)
        ref = VP()
        self.assertEqual(lib.calib_reference_compute(ctypes.byref(ref), pr.ctypes.data_as(F), nref, k,
                                                     yr.ctypes.data_as(I64)), 0)
        opts = np.array([C["CALIB_MO_WINDOW"], win, 0], np.float64)
        mon, sh = VP(), VP()
        self.assertEqual(lib.calib_monitor_create(ctypes.byref(mon), ref, opts.ctypes.data_as(D)), 0)
        self.assertEqual(lib.calib_monitor_shard_create(mon, ctypes.byref(sh)), 0)
        rc, rcf = top_label(pr)
        ref_conf = np.bincount(bin_index(rcf.astype(np.float64), 20), minlength=20).astype(float)
        ref_cls = np.bincount(rc, minlength=k).astype(float)
        for sharp in (1.0, 1.0, 1.3, 0.8):
            pw, _ = draw(win, sharp)
            self.assertEqual(lib.calib_monitor_observe(sh, pw.ctypes.data_as(F), win, k), 0)
            s = State()
            self.assertEqual(lib.calib_monitor_read(mon, ctypes.byref(s)), 0)
            wc, wcf = top_label(pw)
            w_conf = np.bincount(bin_index(wcf.astype(np.float64), 20), minlength=20).astype(float)
            w_cls = np.bincount(wc, minlength=k).astype(float)
            for refc, wc_, got_p, got_psi in ((ref_conf, w_conf, s.p_confidence, s.psi_confidence),
                                               (ref_cls, w_cls, s.p_class, s.psi_class)):
                g = pooled_groups(refc, win)
                table = np.array([[refc[b].sum() for b in g], [wc_[b].sum() for b in g]])
                want_p = stats.chi2_contingency(table, correction=False)[1] if len(g) >= 2 else 1.0
                self.assertAlmostEqual(got_p, want_p, delta=1e-10 + 1e-9 * want_p)
                rp = np.maximum(refc / refc.sum(), 1e-4)
                wp = np.maximum(wc_ / wc_.sum(), 1e-4)
                self.assertAlmostEqual(got_psi, float(((wp - rp) * np.log(wp / rp)).sum()), delta=1e-12)
        lib.calib_monitor_free(mon)
        lib.calib_reference_free(ref)


if __name__ == "__main__":
    unittest.main(verbosity=1)
