"""The tao2024 suite, the markus93 top-label sets and the streaming
accumulators, against published values, REFERENCE_METRICS.json and the
from-definition references of test_metrics.py. Drives lib/libcalib.so
through ctypes.

Run from the repository root:  PYTHONPATH=python /usr/bin/python3 test/py/test_metrics_suite.py
Exit 0 on success, 77 when the library is not built (prints why).
"""
import ctypes
import json
import os
import struct
import sys
import unittest

import datagate  # noqa: E402  (honest skips: test/py/datagate.py)

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_metrics as T  # noqa: E402  (the ctypes bindings and the references)

LIB = T.LIB
SUITE, PROBS, LOGITS = 1, 1, 2
M = dict(COUNT=1, ACCURACY=2, NLL=3, BRIER=4, BRIER_K=5, BRIER_TOP=6, BRIER_POS=7,
         ECE=8, RMSCE=9, MCE=10, DEB=11, CW_ECE=12, CW_RMSCE=13, CW_MCE=14, CW_DEB=15,
         POS_ECE=16, POS_RMSCE=17, POS_MCE=18, POS_DEB=19)
BS = (5, 10, 15, 20, 25, 50, 100, 200, 500)


def suite(x, y, inp, with_status=True):
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    y = np.ascontiguousarray(y, dtype=np.int64)
    size = LIB.calib_suite_size(SUITE)
    out = np.full(size, -7.0)
    st = np.zeros(size, dtype=np.int32)
    r = LIB.calib_suite_eval(SUITE, x.ctypes.data, x.shape[0], x.shape[1], y.ctypes.data, inp,
                             out.ctypes.data, st.ctypes.data if with_status else None, size)
    keys = [LIB.calib_suite_key(SUITE, i).decode() for i in range(size)]
    return r, dict(zip(keys, out)), dict(zip(keys, st))


class TestSuite(unittest.TestCase):
    def test_keys(self):
        keys = [LIB.calib_suite_key(SUITE, i).decode() for i in range(LIB.calib_suite_size(SUITE))]
        want = ['%s_%d' % (f, b) for f in ('ece_ew', 'ece_em', 'cwece_ew', 'cwece_em', 'mce') for b in BS]
        self.assertEqual(keys, want + ['ks', 'kde_ece', 'mmce', 'nll', 'brier_k'])
        self.assertIsNone(LIB.calib_suite_key(SUITE, 50))
        self.assertEqual(LIB.calib_suite_size(2), 0)

    def test_reference_metrics_json(self):
        path = os.path.join(T.DATA, 'REFERENCE_METRICS.json')
        if not os.path.exists(path):
            raise datagate.missing('REFERENCE_METRICS.json')
        with open(path) as f:
            ref = json.load(f)
        for name, ds in ref['datasets'].items():
            s = T.load_set(name)
            if s is None:
                continue
            _, Z, y = s
            r, got, st = suite(Z, y, LOGITS)
            self.assertEqual(r, 0)
            for key, v in ds['measures'].items():
                clean = v['clean']
                self.assertEqual(st[key], 0)
                if key in ('ks', 'mmce'):
                    tol = 1e-9 * abs(clean)
                elif key == 'kde_ece':
                    tol = 1e-7 * abs(clean)
                else:
                    tol = 1e-9
                self.assertLessEqual(abs(got[key] - clean), tol, msg=(name, key, got[key], clean))

    def check_against_references(self, a, got):
        """Every key of a probs-input suite run against test_metrics' references."""
        (s, t), = T.problems(a, T.TOP)
        for b in BS:
            self.assertAlmostEqual(got['ece_ew_%d' % b], T.ref_ce(a, b, T.TOP, T.EW, T.L1), delta=1e-12)
            self.assertAlmostEqual(got['ece_em_%d' % b], T.ref_ce(a, b, T.TOP, T.KUMAR, T.L1), delta=1e-12)
            self.assertAlmostEqual(got['cwece_ew_%d' % b], T.ref_ce(a, b, T.CW, T.EW, T.L1), delta=1e-12)
            self.assertAlmostEqual(got['cwece_em_%d' % b], T.ref_ce(a, b, T.CW, T.KUMAR, T.L1), delta=1e-12)
            self.assertAlmostEqual(got['mce_%d' % b], T.ref_ce(a, b, T.TOP, T.EW, T.MAX), delta=1e-12)
        self.assertAlmostEqual(got['ks'], T.ref_ks1(s, t), delta=1e-12)
        self.assertAlmostEqual(got['mmce'], T.ref_mmce1(s, t), delta=1e-12)
        P = a.P.astype(np.float64)
        cols = np.column_stack([1 - P[:, 0], P[:, 0]]) if a.k == 1 else P
        onehot = np.eye(cols.shape[1])[a.y]
        self.assertAlmostEqual(got['brier_k'], ((cols - onehot) ** 2).mean(), delta=1e-13)
        with np.errstate(divide='ignore'):
            nll = -np.mean(np.log(cols[np.arange(a.n), a.y]))
        self.assertAlmostEqual(got['nll'], nll, delta=1e-12)

    def test_probs_input_against_definitions(self):
        rng = np.random.default_rng(11)
        for n, k in ((700, 4), (50, 3), (300, 1)):
            if k == 1:
                p = rng.random(n)
                a = T.Arr(p.astype(np.float32), (rng.random(n) < p).astype(int))
            else:
                P = rng.dirichlet(np.ones(k) * 0.5, n)
                a = T.Arr(P.astype(np.float32), rng.integers(0, k, n))
            r, got, st = suite(a.P, a.y, PROBS)
            self.assertEqual(r, 0)
            self.check_against_references(a, got)
            (s, t), = T.problems(a, T.TOP)
            self.assertLess(abs(got['kde_ece'] - T.ref_kde_ece1(s, t)), 1e-9 * got['kde_ece'])

    def test_logits_k1_is_two_columns(self):
        rng = np.random.default_rng(12)
        z = (rng.standard_normal(400) * 3).astype(np.float32)
        y = (rng.random(400) < 1 / (1 + np.exp(-z))).astype(np.int64)
        r1, one, _ = suite(z, y, LOGITS)
        r2, two, _ = suite(np.column_stack([np.zeros(400, np.float32), z]), y, LOGITS)
        self.assertEqual((r1, r2), (0, 0))
        for key in one:
            self.assertAlmostEqual(one[key], two[key], delta=1e-14, msg=key)

    def test_undefined_kde_ece(self):
        # every prediction wrong: no correct confidences, KDE-ECE undefined
        P = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]], dtype=np.float32)
        y = np.array([1, 0, 1])
        r, got, st = suite(P, y, PROBS)
        self.assertEqual(r, 0)
        self.assertEqual(st['kde_ece'], T.E_ONECLASS)
        self.assertEqual(got['kde_ece'], -7.0)  # left untouched
        self.assertTrue(all(v == 0 for kk, v in st.items() if kk != 'kde_ece'))
        r, got, st = suite(P, y, PROBS, with_status=False)
        self.assertEqual(r, T.E_ONECLASS)
        self.assertTrue(all(v == -7.0 for v in got.values()))

    def test_errors_write_nothing(self):
        P = np.array([[0.5, 0.5], [np.nan, 1.0]], dtype=np.float32)
        r, got, _ = suite(P, [0, 1], PROBS)
        self.assertEqual(r, T.E_NONFINITE)
        self.assertTrue(all(v == -7.0 for v in got.values()))
        r, _, _ = suite(np.array([[0.0, np.inf]], dtype=np.float32), [0], LOGITS)
        self.assertEqual(r, T.E_NONFINITE)
        r, _, _ = suite(np.array([[-np.inf, -np.inf]], dtype=np.float32), [0], LOGITS)
        self.assertEqual(r, T.E_NONFINITE)
        r, _, _ = suite(np.array([[0.5, 0.5]], dtype=np.float32), [2], PROBS)
        self.assertEqual(r, T.E_LABEL)
        r, _, _ = suite(np.array([[1.5, 0.5]], dtype=np.float32), [0], PROBS)
        self.assertEqual(r, T.E_DOMAIN)
        out = np.zeros(49)
        x = np.zeros((1, 2), np.float32)
        yy = np.zeros(1, np.int64)
        self.assertEqual(LIB.calib_suite_eval(SUITE, x.ctypes.data, 1, 2, yy.ctypes.data, PROBS,
                                              out.ctypes.data, None, 49), T.E_SMALLBUF)
        self.assertEqual(LIB.calib_suite_eval(SUITE, x.ctypes.data, 0, 2, yy.ctypes.data, PROBS,
                                              out.ctypes.data, None, 50), T.E_EMPTY)
        self.assertEqual(LIB.calib_suite_eval(SUITE, x.ctypes.data, 1, 2, yy.ctypes.data, 3,
                                              out.ctypes.data, None, 50), T.E_ARG)


class TestMarkus93TopLabel(unittest.TestCase):
    def test_published_accuracy_ece_mce(self):
        names = [d for d in sorted(os.listdir(T.DATA)) if d.startswith('toplabel_')] if os.path.isdir(T.DATA) else []
        if not names:
            raise datagate.missing('the markus93 top-label sets')
        for name in names:
            meta, conf, pred, y = T.load_set(name)
            pub = [v for kk, v in meta['published'].items() if kk.startswith('markus93')][0]
            a = T.Arr(conf, (pred == y).astype(np.int64))  # (confidence, correct) pairs
            rd = T.c_reliability(a, 1, T.POS, T.EW)
            self.assertAlmostEqual(rd[0, 4] * 100, pub['accuracy_pct'], delta=1e-9)
            self.assertAlmostEqual(T.c_ce(a, 15, T.POS, T.EW, T.L1), pub['ece'], delta=1e-6)
            self.assertAlmostEqual(T.c_ce(a, 15, T.POS, T.EW, T.MAX), pub['mce'], delta=1e-6)

    def test_same_as_full_logits(self):
        top = T.load_set('toplabel_cifar10_densenet40_markus93')
        full = T.load_set('cifar10_densenet40_markus93')
        if top is None or full is None:
            raise datagate.missing('the DenseNet-40 sets')
        _, conf, pred, y = top
        _, Z, y2 = full
        self.assertTrue((y == y2).all())
        a = T.Arr(conf, (pred == y).astype(np.int64))
        b = T.Arr(T.softmax64(Z).astype(np.float32), y2)
        self.assertAlmostEqual(T.c_ce(a, 15, T.POS, T.EW, T.L1), T.c_ce(b, 15, T.TOP, T.EW, T.L1), delta=1e-6)


def acc_create(k, bins, binning=T.EW):
    h = ctypes.c_void_p()
    assert LIB.calib_accumulator_create(ctypes.byref(h), k, bins, binning) == 0
    return h


def acc_value(h, m):
    out = ctypes.c_double(np.nan)
    st = LIB.calib_accumulator_value(h, M[m], ctypes.byref(out))
    assert st == 0, (m, st)
    return out.value


def acc_bytes(h):
    size = LIB.calib_accumulator_size(h)
    buf = ctypes.create_string_buffer(size)
    w = ctypes.c_size_t()
    assert LIB.calib_accumulator_save(h, buf, size, ctypes.byref(w)) == 0 and w.value == size
    return buf.raw


def acc_counts(raw, k, bins):
    """The integer fields of the serialised state (bit-exact comparison)."""
    m = 2 if k == 1 else k
    ints = list(struct.unpack_from('<QQ', raw, 32))
    for c in range(bins * (m + 1)):
        ints += struct.unpack_from('<QQ', raw, 80 + 24 * c)
    return ints


class TestAccumulator(unittest.TestCase):
    def batches(self, a, rng):
        cuts = np.sort(rng.choice(np.arange(1, a.n), size=min(6, a.n - 1), replace=False))
        return np.split(np.arange(a.n), cuts)

    def add(self, h, a, idx, logits=False):
        P = np.ascontiguousarray(a.P[idx])
        y = np.ascontiguousarray(a.y[idx])
        f = LIB.calib_accumulator_add_logits if logits else LIB.calib_accumulator_add
        self.assertEqual(f(h, P.ctypes.data, len(idx), y.ctypes.data), 0)

    def test_values_and_random_split_merges(self):
        rng = np.random.default_rng(21)
        sets = [(nm, a) for nm, a in T.edge_cases() if a.n > 1] + T.real_arrays()[:2]
        for name, a in sets:
            for binning in (T.EW, T.EWL):
                bins = 15
                one = acc_create(a.k, bins, binning)
                self.add(one, a, np.arange(a.n))
                # values against the references written from the definitions
                self.assertAlmostEqual(acc_value(one, 'ECE'), T.ref_ce(a, bins, T.TOP, binning, T.L1), delta=1e-12)
                self.assertAlmostEqual(acc_value(one, 'RMSCE'), T.ref_ce(a, bins, T.TOP, binning, T.L2), delta=1e-12)
                self.assertAlmostEqual(acc_value(one, 'MCE'), T.ref_ce(a, bins, T.TOP, binning, T.MAX), delta=1e-12)
                self.assertAlmostEqual(acc_value(one, 'DEB'), T.ref_ce(a, bins, T.TOP, binning, T.L2, True), delta=1e-12)
                self.assertAlmostEqual(acc_value(one, 'CW_ECE'), T.ref_ce(a, bins, T.CW, binning, T.L1), delta=1e-12)
                self.assertAlmostEqual(acc_value(one, 'CW_DEB'), T.ref_ce(a, bins, T.CW, binning, T.L2, True), delta=1e-12)
                if a.k <= 2:
                    self.assertAlmostEqual(acc_value(one, 'POS_ECE'), T.ref_ce(a, bins, T.POS, binning, T.L1), delta=1e-12)
                    self.assertAlmostEqual(acc_value(one, 'BRIER_POS'), T.ref_brier(a, 'POS'), delta=1e-13)
                self.assertAlmostEqual(acc_value(one, 'BRIER_K'), T.ref_brier(a, 'K'), delta=1e-13)
                self.assertAlmostEqual(acc_value(one, 'BRIER_TOP'), T.ref_brier(a, 'TOP'), delta=1e-13)
                (c, hit), = T.problems(a, T.TOP)
                self.assertEqual(acc_value(one, 'ACCURACY'), hit.sum() / a.n)
                # merging the accumulators of random splits, in random order
                for trial in range(3):
                    parts = self.batches(a, rng)
                    hs = []
                    for idx in parts:
                        h = acc_create(a.k, bins, binning)
                        self.add(h, a, idx)
                        hs.append(h)
                    order = rng.permutation(len(hs))
                    for i in order[1:]:
                        self.assertEqual(LIB.calib_accumulator_merge(hs[order[0]], hs[i]), 0)
                    merged = hs[order[0]]
                    self.assertEqual(acc_counts(acc_bytes(merged), a.k, bins), acc_counts(acc_bytes(one), a.k, bins))
                    for m in M:
                        if m.startswith('POS') or m == 'BRIER_POS':
                            if a.k > 2:
                                continue
                        v1, v2 = acc_value(one, m), acc_value(merged, m)
                        if v1 != v2:  # (+inf NLL where a true class has probability 0)
                            self.assertLessEqual(abs(v1 - v2), 1e-12 * max(1.0, abs(v1)), msg=(name, m))
                    for h in hs:
                        LIB.calib_accumulator_free(h)
                LIB.calib_accumulator_free(one)

    def test_serialise_round_trip_and_corruption(self):
        rng = np.random.default_rng(22)
        a = T.Arr(rng.dirichlet(np.ones(3), 200).astype(np.float32), rng.integers(0, 3, 200))
        h = acc_create(3, 10)
        self.add(h, a, np.arange(200))
        raw = acc_bytes(h)
        self.assertEqual(raw[:8], b'CALIBACC')
        self.assertEqual(struct.unpack_from('<IIQQQ', raw, 8), (1, T.EW, 3, 10, 200))
        h2 = ctypes.c_void_p()
        self.assertEqual(LIB.calib_accumulator_load(ctypes.byref(h2), raw, len(raw)), 0)
        self.assertEqual(acc_bytes(h2), raw)
        for m in ('ECE', 'CW_ECE', 'NLL', 'BRIER'):
            self.assertEqual(acc_value(h, m), acc_value(h2, m))
        for pos in range(0, len(raw), 7):  # every corrupted byte is caught (CRC)
            bad = bytearray(raw)
            bad[pos] ^= 0x40
            h3 = ctypes.c_void_p()
            self.assertEqual(LIB.calib_accumulator_load(ctypes.byref(h3), bytes(bad), len(bad)), -7)
            self.assertIsNone(h3.value)
        for cut in (0, 8, 84, len(raw) - 1):
            h3 = ctypes.c_void_p()
            self.assertEqual(LIB.calib_accumulator_load(ctypes.byref(h3), raw[:cut], cut), -7)
        LIB.calib_accumulator_free(h)
        LIB.calib_accumulator_free(h2)

    def test_logits_nll_exact(self):
        s = T.load_set('cifar10_densenet40_markus93')
        if s is None:
            raise datagate.missing('the DenseNet-40 set')
        from scipy.special import logsumexp
        _, Z, y = s
        a = T.Arr(Z, y)
        h = acc_create(10, 15)
        for idx in np.array_split(np.arange(a.n), 7):
            self.add(h, a, idx, logits=True)
        Z64 = Z.astype(np.float64)
        nll = np.mean(logsumexp(Z64, axis=1) - Z64[np.arange(len(y)), y])
        self.assertAlmostEqual(acc_value(h, 'NLL'), nll, delta=1e-12)
        # the published figures of this set (data/README.md): ECE15 0.055003, Brier/k 0.012738
        self.assertAlmostEqual(acc_value(h, 'ECE'), 0.055003, delta=5e-7)
        self.assertAlmostEqual(acc_value(h, 'BRIER_K'), 0.012738, delta=5e-7)
        LIB.calib_accumulator_free(h)


def main():
    if LIB is None:
        print('skipped: %s not built (make -j2 all)' % T.LIBPATH)
        return 77
    res = unittest.main(exit=False, argv=[sys.argv[0]]).result
    return datagate.finish(res)


if __name__ == '__main__':
    sys.exit(main())
