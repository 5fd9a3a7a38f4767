"""bench/bench_metrics.py PYTHON -- the metrics suite against straightforward
numpy implementations of the same definitions (single thread, float64):

  1. the tao2024 suite (50 measures) on (50000, 1000) float32 logits:
     calib_suite_eval vs numpy (softmax, per-family vectorised code; MMCE as
     netcal computes it, the n x n double sum in row blocks);
  2. top-label ECE-15 on (10^6, 10) float32 probabilities:
     calib_calibration_error vs numpy (max/argmax, searchsorted on the exact
     edges b/15, bincount);
  3. MMCE on n = 10^5 (confidence, correct) pairs: calib_mmce's O(n log n)
     recursion vs the O(n^2) numpy double sum in row blocks.

Inputs are generated (seeded) and touched before timing; output buffers are
allocated before timing; each C call is warmed up once. Times: best of REPS
for the C calls and for numpy ECE-15, one run for the slow numpy
computations. Every C result is checked against numpy's.

Environment: BENCH_REPS (default 5); BENCH_SUITE_N, BENCH_SUITE_K, BENCH_ECE_N,
BENCH_MMCE_N override the sizes. Run from the repository root after make:
    OMP_NUM_THREADS=1 /usr/bin/python3 bench/bench_metrics.py
Writes build/bench/metrics.json (bench/benchjson.py), target >= 10x each.
"""
import ctypes
import os
import sys
import time

import numpy as np

import benchjson  # bench/: the JSON-lines records

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
REPS = int(os.environ.get('BENCH_REPS', '5'))
vp, sz, ci, cd = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_double


def lib():
    L = ctypes.CDLL(os.path.join(ROOT, 'lib', 'libcalib.so'))
    L.calib_suite_eval.argtypes = [ci, vp, sz, sz, vp, ci, vp, vp, sz]
    L.calib_calibration_error.argtypes = [vp, sz, sz, vp, sz, ci, ci, ci, ctypes.POINTER(cd)]
    L.calib_mmce.argtypes = [vp, sz, sz, vp, ci, cd, ctypes.POINTER(cd)]
    L.calib_suite_key.restype = ctypes.c_char_p
    L.calib_suite_key.argtypes = [ci, sz]
    return L


def best_of(f, reps):
    ts, v = [], None
    for _ in range(reps):
        t = time.perf_counter()
        v = f()
        ts.append(time.perf_counter() - t)
    return min(ts), v


# ---- numpy references, written straightforwardly from the definitions --------------

def ece_parts(s, t, ids):
    c = np.bincount(ids).astype(np.float64)
    nz = c > 0
    gap = np.abs(np.bincount(ids, t)[nz] / c[nz] - np.bincount(ids, s)[nz] / c[nz])
    return np.sum(c[nz] / len(s) * gap), gap.max()


def ew_ids(s, B):
    return np.searchsorted(np.arange(1, B) / B, s, side='left')


def em_ids(s, B):
    ss = np.sort(s)
    parts = np.array_split(ss, min(B, len(s)))
    e = [(parts[i][-1] + parts[i + 1][0]) / 2.0 for i in range(len(parts) - 1)] + [1.0]
    return np.searchsorted(np.unique(e), s, side='left')


def np_mmce(s, t, width=0.4, block=200):
    r = t - s
    total = 0.0
    for a in range(0, len(s), block):
        K = np.exp(-np.abs(s[a:a + block, None] - s[None, :]) / width)
        total += r[a:a + block] @ (K @ r)
    return np.sqrt(max(total, 0.0)) / len(s)


def np_kde_ece(s, t):
    from scipy.signal import fftconvolve
    n, pos = len(s), s[t == 1]
    h = np.std(pos) * (2 * n) ** -0.2
    x = np.linspace(-0.6, 1.6, 2 ** 14)
    dx = (x.max() - x.min()) / (len(x) - 1)
    R = 3 * h
    L = int(np.floor(R / dx))
    u = np.linspace(-L * dx, L * dx, 2 * L + 1)
    ker = np.where(np.abs(u) < R, 35 / (32 * R) * (1 - (u / R) ** 2) ** 3, 0.0)

    def dens(v):
        v = np.concatenate([-v[v < 0.5], v, 2 - v[v >= 0.5]])
        q = (v - x.min()) / dx
        i0 = np.floor(q).astype(int)
        m = np.bincount(i0, 1 - (q - i0), len(x) + 1) + np.bincount(i0 + 1, q - i0, len(x) + 1)
        f = fftconvolve(m[:len(x)] / len(v), ker, mode='same')
        f[(x <= 0) | (x >= 1)] = 0
        return 2 * f

    f1, f = dens(pos), dens(s)
    ok = np.maximum(f1, f) > 1e-6
    with np.errstate(divide='ignore', invalid='ignore'):
        r = np.where(f > 0, np.minimum(t.mean() * f1 / f, 1.0), 1.0)
    vals = np.where(ok, np.abs(x - r) * f, 0.0)
    integ = vals[np.maximum.accumulate(np.where(ok, np.arange(len(x)), 0))]
    ind = (x >= 0) & (x <= 1)
    return np.trapz(integ[ind], x[ind]) / np.trapz(f[ind], x[ind])


BS = (5, 10, 15, 20, 25, 50, 100, 200, 500)


def np_suite(Z, y):
    """The 50 tao2024 measures; returns (values, seconds per family)."""
    out, secs = {}, {}
    t0 = time.perf_counter()
    Z = Z.astype(np.float64)
    n, k = Z.shape
    m = Z.max(1, keepdims=True)
    E = np.exp(Z - m)
    S = E.sum(1, keepdims=True)
    P = E / S
    del E
    rows = np.arange(n)
    pred = P.argmax(1)
    conf, hit = P[rows, pred], (pred == y).astype(np.float64)
    out['nll'] = np.mean(np.log(S[:, 0]) + m[:, 0] - Z[rows, y])
    P[rows, y] -= 1.0
    out['brier_k'] = np.mean(P ** 2)
    P[rows, y] += 1.0
    secs['softmax, nll, brier'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for B in BS:
        out['ece_ew_%d' % B], out['mce_%d' % B] = ece_parts(conf, hit, ew_ids(conf, B))
        out['ece_em_%d' % B] = ece_parts(conf, hit, em_ids(conf, B))[0]
    o = np.argsort(conf, kind='stable')
    cs, h = conf[o], np.cumsum(conf[o] - hit[o])
    out['ks'] = np.abs(h[np.r_[cs[1:] != cs[:-1], True]]).max() / n
    out['kde_ece'] = np_kde_ece(conf, hit)
    secs['top-label binned, ks, kde'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out['mmce'] = np_mmce(conf, hit)
    secs['mmce (n x n)'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for B in BS:
        out['cwece_ew_%d' % B] = out['cwece_em_%d' % B] = 0.0
    for j in range(k):
        col, tj = P[:, j], (y == j).astype(np.float64)
        for B in BS:
            out['cwece_ew_%d' % B] += ece_parts(col, tj, ew_ids(col, B))[0] / k
            out['cwece_em_%d' % B] += ece_parts(col, tj, em_ids(col, B))[0] / k
    secs['classwise (ew + em)'] = time.perf_counter() - t0
    return out, secs


def np_ece15(P, y, B=15):
    conf, pred = P.max(1).astype(np.float64), P.argmax(1)
    return ece_parts(conf, (pred == y).astype(np.float64), ew_ids(conf, B))[0]


# ---- the three comparisons -----------------------------------------------------------

def bench_suite(L, rng):
    n = int(os.environ.get('BENCH_SUITE_N', '50000'))
    k = int(os.environ.get('BENCH_SUITE_K', '1000'))
    y = rng.integers(0, k, n).astype(np.int64)
    Z = (rng.standard_normal((n, k)) * 2).astype(np.float32)
    Z[np.arange(n), y] += 4.0  # a classifier right most of the time, overconfident
    out, st = np.zeros(50), np.zeros(50, dtype=np.int32)
    call = lambda: L.calib_suite_eval(1, Z.ctypes.data, n, k, y.ctypes.data, 2, out.ctypes.data,
                                      st.ctypes.data, 50)
    assert call() == 0 and not st.any()
    tc, _ = best_of(call, max(1, REPS // 2))
    t0 = time.perf_counter()
    ref, secs = np_suite(Z, y)
    tn = time.perf_counter() - t0
    keys = [L.calib_suite_key(1, i).decode() for i in range(50)]
    diff = max(abs(out[i] - ref[key]) / max(abs(ref[key]), 1e-12) for i, key in enumerate(keys))
    print('1. tao2024 suite, (%d, %d) logits, 50 measures' % (n, k))
    print('   libcalib  %8.3f s' % tc)
    print('   numpy     %8.3f s   (%s)' % (tn, ', '.join('%s %.1f s' % kv for kv in secs.items())))
    print('   ratio     %8.1fx   (without numpy\'s n x n MMCE: %.1fx); max relative difference %.1e'
          % (tn / tc, (tn - secs['mmce (n x n)']) / tc, diff))
    return tc, tn


def bench_ece(L, rng):
    n, k = int(os.environ.get('BENCH_ECE_N', '1000000')), 10
    Z = rng.standard_normal((n, k)) * 3
    P = np.exp(Z - Z.max(1, keepdims=True))
    P = (P / P.sum(1, keepdims=True)).astype(np.float32)
    y = rng.integers(0, k, n).astype(np.int64)
    o = cd()
    call = lambda: (L.calib_calibration_error(P.ctypes.data, n, k, y.ctypes.data, 15, 1, 1, 1, ctypes.byref(o)), o.value)[1]
    call()
    tc, vc = best_of(call, REPS)
    tn, vn = best_of(lambda: np_ece15(P, y), REPS)
    print('2. top-label ECE-15 (equal width), (%d, %d) float32 probabilities' % (n, k))
    print('   libcalib  %8.2f ms\n   numpy     %8.2f ms\n   ratio     %8.1fx   |difference| %.1e'
          % (tc * 1e3, tn * 1e3, tn / tc, abs(vc - vn)))
    return tc, tn


def bench_mmce(L, rng):
    n = int(os.environ.get('BENCH_MMCE_N', '100000'))
    s = rng.beta(5, 1, n).astype(np.float32)
    t = (rng.random(n) < s * 0.9).astype(np.int64)
    o = cd()
    call = lambda: (L.calib_mmce(s.ctypes.data, n, 1, t.ctypes.data, 3, 0.4, ctypes.byref(o)), o.value)[1]
    call()
    tc, vc = best_of(call, REPS)
    t0 = time.perf_counter()
    vn = np_mmce(s.astype(np.float64), t.astype(np.float64))
    tn = time.perf_counter() - t0
    print('3. MMCE (Laplacian kernel, width 0.4), n = %d' % n)
    print('   libcalib  %8.2f ms (O(n log n))\n   numpy     %8.2f s  (O(n^2), 200-row blocks)'
          % (tc * 1e3, tn))
    print('   ratio     %8.0fx   relative difference %.1e' % (tn / tc, abs(vc - vn) / vn))
    return tc, tn


def main():
    if not os.path.exists(os.path.join(ROOT, 'lib', 'libcalib.so')):
        print('bench_metrics: lib/libcalib.so not built (make -j2 all)')
        return 1
    L = lib()
    rng = np.random.default_rng(2024)
    print('bench_metrics: libcalib metrics vs numpy %s (single thread; best of %d for C)' % (np.__version__, REPS))
    recs = []

    def rec(line, t):
        recs.append(benchjson.record('metrics', line, seconds=t[0], anchor='numpy', anchor_seconds=t[1],
                                     target='numpy time / libcalib time >= 10', met=t[1] / t[0] >= 10))
        return t[1] / t[0]
    r2 = rec('top-label ECE-15 (1e6, 10)', bench_ece(L, rng))
    r3 = rec('MMCE n = 1e5 (numpy O(n^2))', bench_mmce(L, rng))
    r1 = rec('tao2024 suite (50000, 1000), 50 measures', bench_suite(L, rng))
    print('summary: suite %.1fx, ECE-15 %.1fx, MMCE %.0fx faster than numpy (target >= 10x)' % (r1, r2, r3))
    benchjson.write('metrics', recs)
    return 0


if __name__ == '__main__':
    sys.exit(main())
