"""Reference tests of the metrics suite (binned CE in every scope x binning x
norm, debiased L2, KS, MMCE, KDE-ECE, smooth ECE, Brier scalings, NLL,
reliability diagrams) against independent numpy/scipy implementations
written here from each paper's definition, on real sets from ../shared/data
and on synthetic edge cases. Drives lib/libcalib.so through ctypes.

Run from the repository root:  PYTHONPATH=python /usr/bin/python3 test/py/test_metrics.py
Exit 0 on success, 77 when the library is not built (prints why).
"""
import ctypes
import os
import sys
import unittest

import datagate  # noqa: E402  (honest skips: test/py/datagate.py)

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
LIBPATH = os.path.join(ROOT, 'lib', 'libcalib.so')
DATA = os.environ.get('CALIB_SHARED_DATA', os.path.join(ROOT, '..', 'shared', 'data'))

TOP, CW, POS = 1, 2, 3
EW, EWL, KUMAR, INDEX = 1, 2, 3, 4
L1, L2, MAX = 1, 2, 3
BRIER_SUM, BRIER_K, BRIER_POS, BRIER_TOP = 1, 2, 3, 4
RD_FIELDS = 7
E_ARG, E_NONFINITE, E_LABEL, E_ONECLASS, E_SMALLBUF = -1, -2, -3, -4, -6
E_EMPTY, E_DOMAIN = -14, -15

sz, ci, cd, vp = ctypes.c_size_t, ctypes.c_int, ctypes.c_double, ctypes.c_void_p
dp = ctypes.POINTER(ctypes.c_double)


def load_lib():
    if not os.path.exists(LIBPATH):
        return None
    lib = ctypes.CDLL(LIBPATH)
    sig = {
        'calib_calibration_error': [vp, sz, sz, vp, sz, ci, ci, ci, dp],
        'calib_debiased_l2_ce': [vp, sz, sz, vp, sz, ci, ci, dp],
        'calib_ks_error': [vp, sz, sz, vp, ci, dp],
        'calib_mmce': [vp, sz, sz, vp, ci, cd, dp],
        'calib_kde_ece': [vp, sz, sz, vp, ci, dp],
        'calib_smooth_ece': [vp, sz, sz, vp, ci, cd, dp, dp],
        'calib_brier_score': [vp, sz, sz, vp, ci, dp],
        'calib_brier': [vp, sz, sz, vp, dp],
        'calib_nll': [vp, sz, sz, vp, dp],
        'calib_nll_logits': [vp, sz, sz, vp, dp],
        'calib_accuracy': [vp, sz, sz, vp, dp],
        'calib_ece': [vp, sz, sz, vp, sz, dp],
        'calib_mce': [vp, sz, sz, vp, sz, dp],
        'calib_reliability': [vp, sz, sz, vp, sz, ci, ci, cd, vp, sz, ctypes.POINTER(sz)],
        'calib_suite_eval': [ci, vp, sz, sz, vp, ci, vp, vp, sz],
        'calib_suite_size': [ci],
        'calib_suite_key': [ci, sz],
        'calib_accumulator_create': [ctypes.POINTER(vp), sz, sz, ci],
        'calib_accumulator_free': [vp],
        'calib_accumulator_add': [vp, vp, sz, vp],
        'calib_accumulator_add_logits': [vp, vp, sz, vp],
        'calib_accumulator_merge': [vp, vp],
        'calib_accumulator_value': [vp, ci, dp],
        'calib_accumulator_reliability': [vp, ci, cd, vp, sz, ctypes.POINTER(sz)],
        'calib_accumulator_size': [vp],
        'calib_accumulator_save': [vp, vp, sz, ctypes.POINTER(sz)],
        'calib_accumulator_load': [ctypes.POINTER(vp), vp, sz],
    }
    for name, args in sig.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = ci
    lib.calib_suite_size.restype = sz
    lib.calib_suite_key.restype = ctypes.c_char_p
    lib.calib_accumulator_size.restype = sz
    lib.calib_accumulator_free.restype = None
    return lib


LIB = load_lib()


class Arr:
    """float32 probabilities / int64 labels as the C API takes them."""

    def __init__(self, P, y):
        P = np.asarray(P, dtype=np.float32)
        if P.ndim == 1:
            P = P.reshape(-1, 1)
        self.P = np.ascontiguousarray(P)
        self.y = np.ascontiguousarray(np.asarray(y, dtype=np.int64))
        self.n, self.k = self.P.shape

    def args(self):
        return (self.P.ctypes.data, self.n, self.k, self.y.ctypes.data)


def call(fn, a, *extra):
    out = ctypes.c_double(np.nan)
    st = fn(*a.args(), *extra, ctypes.byref(out))
    if st != 0:
        raise RuntimeError('status %d' % st)
    return out.value


def c_ce(a, bins, scope, binning, norm):
    return call(LIB.calib_calibration_error, a, bins, scope, binning, norm)


def c_debiased(a, bins, scope, binning):
    return call(LIB.calib_debiased_l2_ce, a, bins, scope, binning)


def c_smece(a, scope, sigma=0.0):
    out, used = ctypes.c_double(np.nan), ctypes.c_double(np.nan)
    st = LIB.calib_smooth_ece(*a.args(), scope, sigma, ctypes.byref(out), ctypes.byref(used))
    if st != 0:
        raise RuntimeError('status %d' % st)
    return out.value, used.value


def c_reliability(a, bins, scope, binning, z=1.959963984540054):
    out = np.full(bins * RD_FIELDS, -7.0)
    nb = sz(0)
    st = LIB.calib_reliability(*a.args(), bins, scope, binning, z, out.ctypes.data, out.size,
                               ctypes.byref(nb))
    if st != 0:
        raise RuntimeError('status %d' % st)
    return out[:nb.value * RD_FIELDS].reshape(-1, RD_FIELDS)


# ---- References written from the definitions (REFERENCES.md 2.2-2.13) -------------

def problems(a, scope):
    """The 1-D problems (s float64, t 0/1) of a scope, from the float32 input."""
    P = a.P.astype(np.float64)
    y = a.y
    if scope == TOP:
        if a.k == 1:
            p = P[:, 0]
            return [(np.maximum(p, 1 - p), ((p > 0.5).astype(int) == y).astype(np.int64))]
        return [(P.max(1), (P.argmax(1) == y).astype(np.int64))]
    if scope == POS:
        return [(P[:, 0] if a.k == 1 else P[:, 1], (y == 1).astype(np.int64))]
    cols = [1.0 - P[:, 0], P[:, 0]] if a.k == 1 else [P[:, j] for j in range(a.k)]
    return [(c, (y == j).astype(np.int64)) for j, c in enumerate(cols)]


def ref_brier(a, which):
    """Brier score from its definition (REFERENCES.md 2.12): 'K' = mean over the
    n*k entries (k == 1 counted as the columns (1-p, p)), 'POS' = positive
    class, 'TOP' = top-label (confidence - correct)^2."""
    if which in ('POS', 'TOP'):
        (s, t), = problems(a, POS if which == 'POS' else TOP)
        return float(np.mean((s - t) ** 2))
    P = a.P.astype(np.float64)
    cols = np.column_stack([1 - P[:, 0], P[:, 0]]) if a.k == 1 else P
    return float(((cols - np.eye(cols.shape[1])[a.y]) ** 2).mean())


def ref_bins(s, t, bins, binning):
    """Bin id of every row under each convention."""
    n = len(s)
    if binning in (EW, EWL):
        edges = np.arange(1, bins, dtype=np.float64) / bins  # correctly rounded b/M
        return np.searchsorted(edges, s, side='left' if binning == EW else 'right')
    if binning == KUMAR:  # verified_calibration get_equal_bins + bisect_left
        B = min(bins, n)
        parts = np.array_split(np.sort(s), B)
        e = [(parts[i][-1] + parts[i + 1][0]) / 2.0 for i in range(B - 1)] + [1.0]
        e = sorted(set(e))
        return np.searchsorted(np.array(e), s, side='left')  # = bisect.bisect_left per value
    B = min(bins, n)  # Nixon index split, ties ordered by target
    order = np.lexsort((t, s))
    size = n // B
    ids = np.empty(n, dtype=np.int64)
    ids[order] = np.minimum(np.arange(n) // size, B - 1)
    return ids


def ref_ce1(s, t, bins, binning, norm, debias=False):
    ids = ref_bins(s, t, bins, binning)
    n = len(s)
    c = np.bincount(ids).astype(np.float64)
    nz = c > 0
    c = c[nz]
    acc = np.bincount(ids, weights=t.astype(np.float64))[nz] / c
    conf = np.bincount(ids, weights=s)[nz] / c
    gap = np.abs(acc - conf)
    if debias:
        terms = np.where(c >= 2, gap ** 2 - acc * (1 - acc) / np.maximum(c - 1, 1), 0.0)
        return np.sqrt(max(np.sum(c / n * terms), 0.0))
    if norm == L1:
        return np.sum(c / n * gap)
    return np.sqrt(np.sum(c / n * gap ** 2)) if norm == L2 else gap.max()


def combine(vals, how):
    vals = np.asarray(vals)
    return {'mean': vals.mean(), 'rms': np.sqrt(np.mean(vals ** 2)), 'max': vals.max()}[how]


def ref_ce(a, bins, scope, binning, norm, debias=False):
    vals = [ref_ce1(s, t, bins, binning, norm, debias) for s, t in problems(a, scope)]
    return combine(vals, 'rms' if debias or norm == L2 else 'max' if norm == MAX else 'mean')


def ref_ks1(s, t):
    """Gupta et al. 2021, h read at the end of each run of equal scores."""
    order = np.argsort(s, kind='stable')
    ss, h = s[order], np.cumsum(s[order] - t[order])
    ends = np.r_[ss[1:] != ss[:-1], True]
    return np.abs(h[ends]).max() / len(s)


def ref_mmce1(s, t, width=0.4):
    """Kumar et al. 2018: the n x n double sum, in row blocks."""
    r = t - s
    total = 0.0
    for a0 in range(0, len(s), 2000):
        K = np.exp(-np.abs(s[a0:a0 + 2000, None] - s[None, :]) / width)
        total += r[a0:a0 + 2000] @ K @ r
    return np.sqrt(max(total, 0.0)) / len(s)


def ref_kde_ece1(s, t):
    """Zhang et al. 2020 (Mix-n-Match ece_kde_binary, KDEpy FFTKDE estimator),
    with the conventions of REFERENCE_METRICS.md; FFT convolution here."""
    from scipy.signal import fftconvolve
    n = len(s)
    pos = s[t == 1]
    h = np.std(pos) * (2 * n) ** -0.2
    x = np.linspace(-0.6, 1.6, 2 ** 14)
    dx = (x.max() - x.min()) / (len(x) - 1)
    R = 3 * h
    L = int(np.floor(R / dx))
    u = np.linspace(-L * dx, L * dx, 2 * L + 1)
    ker = np.where(np.abs(u) < R, 35 / (32 * R) * (1 - (u / R) ** 2) ** 3, 0.0)

    def dens(v):
        v = np.concatenate([-v[v < 0.5], v, 2 - v[v >= 0.5]])
        tt = (v - x.min()) / dx
        i0 = np.floor(tt).astype(int)
        fr = tt - i0
        m = np.zeros(len(x) + 1)
        np.add.at(m, i0, (1 - fr) / len(v))
        np.add.at(m, i0 + 1, fr / len(v))
        f = fftconvolve(m[:len(x)], ker, mode='same')
        f[(x <= 0) | (x >= 1)] = 0
        return 2 * f

    f1, f = dens(pos), dens(s)
    acc = t.mean()
    defined = np.maximum(f1, f) > 1e-6
    with np.errstate(divide='ignore', invalid='ignore'):
        r = np.where(f > 0, np.minimum(acc * f1 / f, 1.0), 1.0)
    vals = np.where(defined, np.abs(x - r) * f, 0.0)
    # elsewhere the integrand repeats the previous grid value (0 before any);
    # x[0], x[1] = -0.6.. have f = 0, so Mix-n-Match's "i > 1" changes nothing
    last = np.maximum.accumulate(np.where(defined, np.arange(len(x)), 0))
    integ = vals[last]
    ind = (x >= 0) & (x <= 1)
    return np.trapz(integ[ind], x[ind]) / np.trapz(f[ind], x[ind])


def ref_smece_sigma(s, t, sigma, grid=None):
    """Blasiok & Nakkiran: int_0^1 |(1/n) sum r_i K(u, s_i)| du with the
    reflected Gaussian (images up to +-6), exact kernel sums on a fine grid
    (trapezoid error ~ (sigma G)^-2 / 12 <= 1e-6)."""
    G = grid or int(max(2000, np.ceil(300 / sigma)))
    u = np.linspace(0, 1, G + 1)
    r = (s - t) / len(s)
    g = np.zeros_like(u)
    c = 1 / (sigma * np.sqrt(2 * np.pi))
    for m in range(-6, 7):
        for img in (s + 2 * m, -s + 2 * m):
            near = np.abs(img - 0.5) < 0.5 + 9 * sigma
            if not near.any():
                continue
            for a0 in range(0, len(u), 4000):
                d = (u[a0:a0 + 4000, None] - img[None, near]) / sigma
                g[a0:a0 + 4000] += c * np.exp(-0.5 * d * d) @ r[near]
    return np.trapz(np.abs(g), u)


def ref_smece1(s, t):
    """sigma* = smECE_sigma* in [0.001, 1]: a sign change on a doubling ladder
    (coarse grid), then Brent's method on the fine grid."""
    from scipy.optimize import brentq
    f = lambda sg, G: sg - ref_smece_sigma(s, t, sg, grid=G)
    lo = 0.001
    if f(lo, 4000) >= 0:
        return lo, ref_smece_sigma(s, t, lo)
    while lo < 1 and f(min(2 * lo, 1.0), 4000) < 0:
        lo *= 2
    hi = min(2 * lo, 1.0)
    G = int(max(4000, np.ceil(100 / lo)))
    a, b = lo, hi
    while f(a, G) > 0:
        a /= 2
    while f(b, G) < 0 and b < 1:
        b = min(2 * b, 1.0)
    sig = brentq(lambda sg: f(sg, G), a, b, xtol=1e-12)
    return sig, ref_smece_sigma(s, t, sig)


def wilson(x, m, z):
    """Wilson's interval as the roots in p of (x/m - p)^2 = z^2 p (1-p) / m."""
    q = x / m
    roots = np.roots([1 + z * z / m, -(2 * q + z * z / m), q * q])
    return np.sort(roots.real)


def softmax64(Z):
    Z = Z.astype(np.float64)
    e = np.exp(Z - Z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def load_set(name, split='test'):
    d = os.path.join(DATA, name, split)
    if not os.path.isdir(d):
        return None
    import json
    with open(os.path.join(DATA, name, 'meta.json')) as f:
        meta = json.load(f)
    y = np.fromfile(os.path.join(d, 'labels.i32'), dtype=np.int32).astype(np.int64)
    if meta['kind'] == 'toplabel':
        conf = np.fromfile(os.path.join(d, 'confidence.f32'), dtype=np.float32)
        pred = np.fromfile(os.path.join(d, 'pred.i32'), dtype=np.int32)
        return meta, conf, pred, y
    k = meta['k']
    Z = np.fromfile(os.path.join(d, 'logits.f32'), dtype=np.float32).reshape(-1, k)
    return meta, Z, y


def real_arrays():
    """(name, Arr of float32 probabilities) for a few real sets, if present."""
    out = []
    for name in ('cifar10_lenet5_netcal', 'cifar100_lenet5_netcal', 'cifar10_densenet40_markus93'):
        s = load_set(name)
        if s is None:
            continue
        _, Z, y = s
        out.append((name, Arr(softmax64(Z).astype(np.float32), y)))
    s = load_set('coco_faster_rcnn_r50_binary_netcal')
    if s is not None:
        _, Z, y = s
        out.append(('coco_binary', Arr((1 / (1 + np.exp(-Z[:, 0].astype(np.float64)))).astype(np.float32), y)))
    return out


def edge_cases():
    """Synthetic inputs that hit every convention."""
    rng = np.random.default_rng(5)
    cases = []
    # exact bin edges for M = 2, 4, 8 (representable), 0 and 1 exactly
    v = np.array([0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0], dtype=np.float32)
    s = np.repeat(v, 3)
    cases.append(('edges_binary', Arr(s, (rng.random(len(s)) < s).astype(int))))
    P = np.zeros((12, 3), dtype=np.float32)  # one-hot and exact zeros
    P[np.arange(12), rng.integers(0, 3, 12)] = 1
    P[:4] = [0.5, 0.25, 0.25]
    cases.append(('onehot_zeros', Arr(P, rng.integers(0, 3, 12))))
    cases.append(('one_sample', Arr([[0.2, 0.7, 0.1]], [1])))
    P = np.array([[-0.0, 0.6, 0.4], [0.5, -0.0, 0.5], [-0.0, -0.0, 1.0], [0.0, -0.0, 1.0]] * 3, dtype=np.float32)
    cases.append(('negative_zero', Arr(P, [1, 2, 2, 0] * 3)))  # -0.0 is a valid probability
    cases.append(('one_sample_binary', Arr([0.3], [0])))
    P = rng.dirichlet(np.ones(4), 50).astype(np.float32)  # one class in the labels
    cases.append(('one_label_class', Arr(P, np.full(50, 2))))
    P = np.tile(np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], dtype=np.float32), (20, 1))
    cases.append(('ties', Arr(P, rng.integers(0, 3, 40))))  # heavy ties across every cut
    P = rng.dirichlet(np.ones(5) * 0.3, 300).astype(np.float32)
    cases.append(('random_k5', Arr(P, rng.integers(0, 5, 300))))
    s = (rng.integers(0, 256, 400) / 255.0).astype(np.float32)  # uint8-quantised scores
    cases.append(('quantised_binary', Arr(s, (rng.random(400) < s).astype(int))))
    return cases


class TestBinned(unittest.TestCase):
    def test_every_scope_binning_norm(self):
        sets = edge_cases() + real_arrays()
        for name, a in sets:
            scopes = [TOP, CW] + ([POS] if a.k <= 2 else [])
            for scope in scopes:
                for binning in (EW, EWL, KUMAR, INDEX):
                    for bins in (1, 2, 4, 10, 15, 37, 500):
                        for norm in (L1, L2, MAX):
                            got = c_ce(a, bins, scope, binning, norm)
                            want = ref_ce(a, bins, scope, binning, norm)
                            self.assertAlmostEqual(got, want, delta=1e-12,
                                                   msg=(name, scope, binning, bins, norm))

    def test_debiased(self):
        for name, a in edge_cases() + real_arrays():
            for scope in [TOP, CW] + ([POS] if a.k <= 2 else []):
                for binning in (EW, KUMAR, INDEX):
                    for bins in (1, 5, 15, 100):
                        got = c_debiased(a, bins, scope, binning)
                        want = ref_ce(a, bins, scope, binning, L2, debias=True)
                        self.assertAlmostEqual(got, want, delta=1e-12, msg=(name, scope, binning, bins))

    def test_bins_above_n_and_direct_vs_sorted_paths(self):
        rng = np.random.default_rng(1)
        P = rng.dirichlet(np.ones(3), 40).astype(np.float32)
        a = Arr(P, rng.integers(0, 3, 40))
        for bins in (40, 41, 1000, 5000000):  # the last one takes the sorted path
            for binning in (EW, EWL):
                got = c_ce(a, bins, TOP, binning, L1)
                self.assertAlmostEqual(got, ref_ce(a, bins, TOP, binning, L1), delta=1e-13)

    def test_matches_foundation_ece_mce(self):
        for name, a in edge_cases() + real_arrays():
            for bins in (1, 10, 15):
                e, m = ctypes.c_double(), ctypes.c_double()
                self.assertEqual(LIB.calib_ece(*a.args(), bins, ctypes.byref(e)), 0)
                self.assertEqual(LIB.calib_mce(*a.args(), bins, ctypes.byref(m)), 0)
                self.assertAlmostEqual(c_ce(a, bins, TOP, EW, L1), e.value, delta=1e-14)
                self.assertAlmostEqual(c_ce(a, bins, TOP, EW, MAX), m.value, delta=1e-14)

    def test_hand_computed_edges(self):
        # scores 0, 0.25, 0.5, 0.75, 1 with M = 4: right-closed bins 0,0,1,2,3;
        # left-closed 0,1,2,3,3; all targets 0, so the gap of a bin is its mean score.
        a = Arr(np.array([0, 0.25, 0.5, 0.75, 1.0], dtype=np.float32), [0] * 5)
        self.assertAlmostEqual(c_ce(a, 4, POS, EW, L1), (2 * 0.125 + 0.5 + 0.75 + 1.0) / 5, delta=1e-15)
        self.assertAlmostEqual(c_ce(a, 4, POS, EWL, L1), (0 + 0.25 + 0.5 + 2 * 0.875) / 5, delta=1e-15)
        self.assertEqual(c_ce(a, 4, POS, EW, MAX), 1.0)  # 1.0 is in the last bin, never dropped
        rd = c_reliability(a, 4, POS, EW)
        self.assertEqual(list(rd[:, 2]), [2, 1, 1, 1])
        rd = c_reliability(a, 4, POS, EWL)
        self.assertEqual(list(rd[:, 2]), [1, 1, 1, 2])

    def test_ties_row_order_invariant(self):
        rng = np.random.default_rng(2)
        s = np.repeat(np.array([0.2, 0.5, 0.9], dtype=np.float32), 30)
        t = (rng.random(90) < 0.5).astype(int)
        a = Arr(s, t)
        perm = rng.permutation(90)
        b = Arr(s[perm], t[perm])
        for binning in (KUMAR, INDEX):
            for bins in (2, 7, 45):
                self.assertEqual(c_ce(a, bins, POS, binning, L1), c_ce(b, bins, POS, binning, L1))
        self.assertEqual(call(LIB.calib_ks_error, a, POS), call(LIB.calib_ks_error, b, POS))


class TestBinFree(unittest.TestCase):
    def test_ks_mmce(self):
        for name, a in edge_cases() + real_arrays():
            for scope in [TOP, CW] + ([POS] if a.k <= 2 else []):
                if scope == CW and a.k == 100:
                    continue  # 100 O(n^2) references: too slow here, covered by the suite test
                if a.n > 3000:  # the O(n^2) reference on the first 3000 rows
                    a = Arr(a.P[:3000], a.y[:3000])
                probs = problems(a, scope)
                ks = np.mean([ref_ks1(s, t) for s, t in probs])
                self.assertAlmostEqual(call(LIB.calib_ks_error, a, scope), ks,
                                       delta=1e-12 * max(ks, 1e-3), msg=(name, scope))
                mm = np.mean([ref_mmce1(s, t) for s, t in probs])
                self.assertAlmostEqual(call(LIB.calib_mmce, a, scope, 0.4), mm,
                                       delta=1e-10 * max(mm, 1e-3), msg=(name, scope))
                mm2 = np.mean([ref_mmce1(s, t, 0.05) for s, t in probs])
                self.assertAlmostEqual(call(LIB.calib_mmce, a, scope, 0.05), mm2,
                                       delta=1e-10 * max(mm2, 1e-3), msg=(name, scope))

    def test_kde_ece(self):
        for name, a in edge_cases() + real_arrays():
            for scope in [TOP] + ([POS] if a.k <= 2 else []) + ([CW] if a.k <= 10 else []):
                probs = problems(a, scope)
                defined = all((t == 1).any() and np.std(s[t == 1]) > 0 for s, t in probs)
                out = ctypes.c_double(-7.0)
                st = LIB.calib_kde_ece(*a.args(), scope, ctypes.byref(out))
                if not defined:
                    self.assertIn(st, (E_ONECLASS, E_DOMAIN), msg=(name, scope))
                    self.assertEqual(out.value, -7.0)
                    continue
                self.assertEqual(st, 0, msg=(name, scope))
                want = np.mean([ref_kde_ece1(s, t) for s, t in probs])
                self.assertLess(abs(out.value - want), 1e-9 * want + 1e-15, msg=(name, scope))

    def test_smooth_ece(self):
        rng = np.random.default_rng(3)
        sets = [('random_k5', edge_cases()[-2][1])]
        u = rng.random(2000)  # nearly calibrated: a small sigma*, the fine grid
        sets.append(('calibrated', Arr(u.astype(np.float32), (rng.random(2000) < u).astype(int))))
        for name, a in real_arrays()[:1]:
            idx = rng.choice(a.n, 1000, replace=False)
            sets.append((name, Arr(a.P[idx], a.y[idx])))
        for name, a in sets:
            (s, t), = problems(a, TOP if a.k > 1 else POS)
            for sigma in ((0.01, 0.05, 0.3) if name == 'calibrated' else (0.05, 0.3)):
                got, used = c_smece(a, TOP if a.k > 1 else POS, sigma)
                self.assertEqual(used, sigma)
                want = ref_smece_sigma(s, t, sigma)
                self.assertLess(abs(got - want), 1e-4 * want, msg=(name, sigma, got, want))
            got, used = c_smece(a, TOP if a.k > 1 else POS)
            sig, want = ref_smece1(s, t)
            self.assertLess(abs(used - sig), 1e-4 * sig, msg=(name, used, sig))
            self.assertLess(abs(got - want), 1e-4 * want, msg=(name, got, want))
            self.assertLess(abs(got - used), 1e-6, msg='fixed point')


class TestScores(unittest.TestCase):
    def test_brier_four_scalings(self):
        from sklearn.metrics import brier_score_loss
        for name, a in edge_cases() + real_arrays():
            P = a.P.astype(np.float64)
            cols = np.column_stack([1 - P[:, 0], P[:, 0]]) if a.k == 1 else P
            onehot = np.eye(cols.shape[1])[a.y]
            s = ((cols - onehot) ** 2).sum(1).mean()
            self.assertAlmostEqual(call(LIB.calib_brier_score, a, BRIER_SUM), s, delta=1e-13)
            self.assertAlmostEqual(call(LIB.calib_brier_score, a, BRIER_K), s / cols.shape[1], delta=1e-13)
            (c, hit), = problems(a, TOP)
            self.assertAlmostEqual(call(LIB.calib_brier_score, a, BRIER_TOP), np.mean((c - hit) ** 2), delta=1e-13)
            if a.k <= 2:
                p1 = cols[:, 1]
                want = brier_score_loss(a.y, p1) if len(np.unique(a.y)) > 1 else np.mean((p1 - a.y) ** 2)
                self.assertAlmostEqual(call(LIB.calib_brier_score, a, BRIER_POS), want, delta=1e-13)
            if a.k >= 2:
                self.assertAlmostEqual(call(LIB.calib_brier_score, a, BRIER_SUM), call(LIB.calib_brier, a), delta=1e-14)

    def test_nll_and_accuracy(self):
        from scipy.special import logsumexp
        for name in ('cifar10_densenet40_markus93', 'cifar100_lenet5_netcal'):
            s = load_set(name)
            if s is None:
                continue
            _, Z, y = s
            a = Arr(Z, y)
            want = np.mean(logsumexp(Z.astype(np.float64), axis=1) - Z.astype(np.float64)[np.arange(len(y)), y])
            self.assertAlmostEqual(call(LIB.calib_nll_logits, a), want, delta=1e-12)
            p = Arr(softmax64(Z).astype(np.float32), y)
            self.assertAlmostEqual(call(LIB.calib_accuracy, p), np.mean(Z.argmax(1) == y), delta=0)


class TestReliability(unittest.TestCase):
    def test_fields(self):
        z = 1.959963984540054
        for name, a in edge_cases() + real_arrays():
            for scope in [TOP] + ([POS] if a.k <= 2 else []):
                (s, t), = problems(a, scope)
                for binning in (EW, EWL, KUMAR, INDEX):
                    for bins in (1, 10, 15):
                        rd = c_reliability(a, bins, scope, binning, z)
                        ids = ref_bins(s, t, bins, binning)
                        nb = bins if binning in (EW, EWL) else len(np.unique(ids))
                        if binning == KUMAR:
                            nb = rd.shape[0]
                        self.assertEqual(rd.shape[0], nb)
                        self.assertEqual(rd[:, 2].sum(), len(s))
                        ece = 0.0
                        for b in range(nb):
                            m = ids == b
                            self.assertEqual(rd[b, 2], m.sum(), msg=(name, binning, bins, b))
                            if m.sum() == 0:
                                self.assertTrue(np.isnan(rd[b, 3:]).all())
                                continue
                            self.assertAlmostEqual(rd[b, 3], s[m].mean(), delta=1e-14)
                            self.assertAlmostEqual(rd[b, 4], t[m].mean(), delta=1e-15)
                            lo, hi = wilson(t[m].sum(), m.sum(), z)
                            self.assertAlmostEqual(rd[b, 5], max(lo, 0.0), delta=1e-9)
                            self.assertAlmostEqual(rd[b, 6], min(hi, 1.0), delta=1e-9)
                            self.assertTrue(rd[b, 0] <= s[m].min() + (binning == INDEX) and s[m].max() <= rd[b, 1] + 1e-15)
                            ece += m.sum() / len(s) * abs(rd[b, 4] - rd[b, 3])
                        self.assertAlmostEqual(ece, c_ce(a, bins, scope, binning, L1), delta=1e-13)

    def test_equal_width_edges_exact(self):
        a = Arr(np.linspace(0, 1, 11, dtype=np.float32), [0] * 11)
        rd = c_reliability(a, 10, POS, EW)
        self.assertEqual(list(rd[:, 0]), [b / 10 for b in range(10)])
        self.assertEqual(list(rd[:, 1]), [(b + 1) / 10 for b in range(10)])


def main():
    if LIB is None:
        print('skipped: %s not built (make -j2 all)' % LIBPATH)
        return 77
    res = unittest.main(exit=False, argv=[sys.argv[0]]).result
    rc = datagate.finish(res)
    if rc == 0 and not os.path.isdir(DATA):  # the synthetic cases ran; the real-data ones could not
        return datagate.exit_missing('the real-data cases of every metric')
    return rc


if __name__ == '__main__':
    sys.exit(main())
