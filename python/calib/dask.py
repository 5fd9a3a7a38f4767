"""Calibration beyond one machine, on Dask: evaluation and fitting over data
that is never gathered in one process.

    import dask.array as da, calib.dask
    from distributed import Client
    client = Client("tcp://scheduler:8786")        # or Client() / LocalCluster: nothing else changes
    z = da.from_zarr(...)                           # (n, k) logits, chunked along rows
    y = da.from_zarr(...)                           # (n,) labels
    calib.dask.evaluate(z, y)                       # {"ece_ew_15": ..., "nll": ..., "count": ...}
    ts = calib.dask.fit(z, y, method="temperature") # a calib.TemperatureScaling

Data can be given as
  - dask arrays: logits (n, k) or (n,), labels (n,) [, sample_weight (n,)],
    chunked along rows (columns are put in one chunk; labels are rechunked
    to the logits' row chunks);
  - a dask dataframe of logged rows: evaluate(df, label="label") takes every
    other column (or columns=[...]) as the logits, in order;
  - a list of dask.delayed objects, each computing a (logits, labels) or
    (logits, labels, weights) tuple of numpy arrays: partitions generated
    where they run (see bench/bench_dask.py).

Everything runs on whichever Dask scheduler is active: the default threaded
one, or a distributed.Client (a LocalCluster, or a real cluster given by its
address). Each partition is reduced to a small summary by the C library on
the worker that holds it; only summaries travel (a tree reduction with
fan-in `split_every`), so the driver's memory does not grow with n.

evaluate: per partition, one calib.Accumulator per bin count (C,
calib_accumulator_add_logits), merged in a tree (calib_accumulator_merge).
Counts and the binned sums are exactly those of one accumulator over all
rows (sums of float64 in another order: equal to rounding, ~1e-15
relative); every measure then equals the single-process calib.tao2024 /
Accumulator value to that precision. Only measures that merge are
computed: the equal-width families of the tao2024 suite (ece_ew_B,
cwece_ew_B, mce_B), nll, brier_k and accuracy; the sort-based ones
(ece_em_B, cwece_em_B, ks, kde_ece, mmce) need every row in one place and
are not offered (see NOT_MERGEABLE).

fit: the solver runs on the driver; each step asks every partition for its
weighted sums of the objective and its derivatives (C:
calib_temperature_partial, calib_platt_partial) and adds them. The driver
repeats calib_fit's own iteration (temperature: the bracketed Newton
method with the exact moments; Platt: Lin, Lin & Weng's Newton method with
libsvm's line search, all k one-vs-rest problems in the same passes), so
the result equals calib.TemperatureScaling/PlattScaling().fit on the
gathered data to ~1e-12 relative (the sums are added in another order).
One pass over the data per Newton evaluation: persist() data that is
expensive to produce. isotonic: fit_isotonic on (score, count, positives)
triples aggregated per distinct score (exact for quantised scores).
"""
import ctypes

import numpy as np

from . import _arrays, _ids, _lib
from ._lib import CalibError, check
from .estimators import IsotonicCalibration, PlattScaling, TemperatureScaling, _Model
from .metrics import Accumulator

try:
    import dask
    import dask.array as _da
except ImportError as _e:  # pragma: no cover - reported when used
    raise ImportError("calib.dask needs dask (Debian: apt-get install python3-dask python3-distributed): %s"
                      % _e) from None

__all__ = ["evaluate", "fit", "fit_isotonic", "isotonic_triples", "partitions", "SUITE_BINS", "NOT_MERGEABLE"]

SUITE_BINS = (5, 10, 15, 20, 25, 50, 100, 200, 500)   # the tao2024 suite's bin counts
NOT_MERGEABLE = {
    "ece_em_B": "equal-mass bins need the global sort of the confidences",
    "cwece_em_B": "equal-mass bins need the global sort of each class column",
    "ks": "needs the globally sorted confidences",
    "kde_ece": "a kernel density estimate over all pairs of rows",
    "mmce": "a kernel over all pairs of rows",
}

# the C entry points of the partial-sums block (include/calib.h), bound in _lib.SIGNATURES
_c = _lib.fn


# ---- partitions -------------------------------------------------------------------------
def _part_tuple(x, y, w=None):
    return (x, y) if w is None else (x, y, w)


def partitions(logits, labels=None, sample_weight=None, label=None, columns=None):
    """The data as a list of dask.delayed (logits, labels[, weights]) tuples,
    one per row partition (see the module documentation for the forms)."""
    if isinstance(logits, (list, tuple)) and labels is None:
        return list(logits)
    if hasattr(logits, "to_delayed") and hasattr(logits, "npartitions") and hasattr(logits, "columns"):
        return _frame_partitions(logits, label or "label", columns, sample_weight)
    if not isinstance(logits, _da.Array):
        logits = _da.from_array(np.asarray(logits), chunks=(max(1, len(logits) // 4),) + np.shape(logits)[1:])
    if labels is None:
        raise CalibError(_ids.E_ARG, "labels are needed with a dask array of logits")
    if logits.ndim == 2:
        logits = logits.rechunk({1: -1})
    rows = logits.chunks[0]
    y = labels if isinstance(labels, _da.Array) else _da.from_array(np.asarray(labels), chunks=(rows,))
    y = y.rechunk((rows,))
    if y.shape[0] != logits.shape[0]:
        raise CalibError(_ids.E_ARG, "labels have %d rows but the logits have %d" % (y.shape[0], logits.shape[0]))
    xs = logits.to_delayed().ravel()
    ys = y.to_delayed().ravel()
    if sample_weight is None:
        return [dask.delayed(_part_tuple, pure=True)(a, b) for a, b in zip(xs, ys)]
    w = sample_weight if isinstance(sample_weight, _da.Array) else _da.from_array(np.asarray(sample_weight),
                                                                                 chunks=(rows,))
    ws = w.rechunk((rows,)).to_delayed().ravel()
    return [dask.delayed(_part_tuple, pure=True)(a, b, c) for a, b, c in zip(xs, ys, ws)]


def _frame_part(df, label, columns, weight):
    x = np.ascontiguousarray(df[columns].to_numpy(dtype=np.float32))
    y = df[label].to_numpy()
    return (x, y) if weight is None else (x, y, df[weight].to_numpy(dtype=np.float64))


def _frame_partitions(df, label, columns, weight):
    if columns is None:
        columns = [c for c in df.columns if c != label and c != weight]
    columns = list(columns)
    if isinstance(weight, str) or weight is None:
        return [dask.delayed(_frame_part, pure=True)(p, label, columns, weight) for p in df.to_delayed()]
    raise CalibError(_ids.E_ARG, "with a dataframe, sample_weight names a column")


def _tree(items, combine, split_every):
    """Tree reduction of delayed items with fan-in split_every."""
    split_every = max(2, int(split_every))
    level = list(items)
    while len(level) > 1:
        level = [dask.delayed(combine, pure=True)(*level[i:i + split_every])
                 for i in range(0, len(level), split_every)]
    return level[0]


def _compute(obj, client=None):
    if client is not None:
        return client.compute(obj).result()
    return dask.compute(obj)[0]


# ---- evaluate ------------------------------------------------------------------------------
def _accumulate(part, k, bins_list):
    x, y = part[0], part[1]
    x = np.asarray(x)
    accs = [Accumulator(k, bins=b) for b in bins_list]
    if len(x):
        Accumulator.add_logits_many(accs, x, y)   # one softmax per row for every bin count
    return accs


def _merge_accs(*groups):
    out = groups[0]
    for g in groups[1:]:
        for a, b in zip(out, g):
            a.merge(b)
    return out


def _result(accs, bins_list, k):
    out = {}
    for b, a in zip(bins_list, accs):
        out["ece_ew_%d" % b] = a.value("ece")
        out["cwece_ew_%d" % b] = a.value("cw_ece")
        out["mce_%d" % b] = a.value("mce")
    a = accs[0]
    out["nll"] = a.value("nll")
    out["brier_k"] = a.value("brier_k")
    out["accuracy"] = a.value("accuracy")
    out["count"] = a.value("count")
    return out


def _ncols(k):
    if k is not None:
        return int(k)
    raise CalibError(_ids.E_ARG, "k (the number of logit columns) is needed with delayed partitions")


def evaluate(logits, labels=None, suite="tao2024", bins=None, split_every=8, client=None, k=None,
             label=None, columns=None, accumulators=False):
    """Calibration measures of logits over every partition (see the module
    documentation). suite: "tao2024" (the bin counts SUITE_BINS) or None
    with bins= a list of bin counts. Returns a dict: ece_ew_B, cwece_ew_B,
    mce_B for each B, nll, brier_k (as calib.tao2024), accuracy, count;
    with accumulators=True also {"accumulators": {B: calib.Accumulator}}
    (the merged states: every Accumulator measure, reliability diagrams).
    client: a distributed.Client (default: the active scheduler); k: the
    number of columns when partitions are delayed tuples."""
    if suite is not None and suite not in _ids.SUITES:
        raise CalibError(_ids.E_ARG, "suite %r: choose one of %s" % (suite, ", ".join(_ids.SUITES)))
    bins_list = tuple(int(b) for b in (bins if bins is not None else SUITE_BINS))
    if isinstance(logits, _da.Array):
        k = 1 if logits.ndim == 1 else logits.shape[1]
    elif hasattr(logits, "columns") and hasattr(logits, "npartitions"):
        cols = columns if columns is not None else [c for c in logits.columns if c != (label or "label")]
        k = len(cols)
    elif not isinstance(logits, (list, tuple)):
        a = np.asarray(logits)
        k = 1 if a.ndim == 1 else a.shape[1]
    k = _ncols(k)
    parts = partitions(logits, labels, label=label, columns=columns)
    leaves = [dask.delayed(_accumulate, pure=True)(p, k, bins_list) for p in parts]
    accs = _compute(_tree(leaves, _merge_accs, split_every), client)
    out = _result(accs, bins_list, k)
    if accumulators:
        out["accumulators"] = dict(zip(bins_list, accs))
    return out


# ---- fit: partial sums --------------------------------------------------------------------
def _arrays3(part):
    x, n, k = _arrays.scores(part[0])
    y = _arrays.labels(part[1], n)
    w = _arrays.weights(part[2] if len(part) > 2 else None, n)
    return x, n, k, y, w


def _ts_prepass(part):
    x, n, k, y, w = _arrays3(part)
    out = np.zeros(3)
    check(_c("calib_temperature_prepass")(_arrays.addr(x) if n else None, n, k, _arrays.addr(y) if n else None,
                                          _arrays.nullable_addr(w), _arrays.addr(out)), "temperature prepass")
    return np.array([out[0], out[1], 1.0 - out[2], float(k)])   # wsum, g0, not-separable, k


def _ts_sums(part, beta):
    x, n, k, y, w = _arrays3(part)
    out = np.zeros(3)
    check(_c("calib_temperature_partial")(_arrays.addr(x) if n else None, n, k, _arrays.addr(y) if n else None,
                                          _arrays.nullable_addr(w), float(beta), _arrays.addr(out)),
          "temperature partial sums")
    return out


def _platt_counts(part):
    """Per class: [wpos, wneg, lo_pos, hi_pos, lo_neg, hi_neg, lo, hi] over rows
    of non-zero weight (the counts and the constant/separable checks)."""
    x, n, k, y, w = _arrays3(part)
    s = x.reshape(n, k) if n else np.zeros((0, k), np.float32)
    ww = np.ones(n) if w is None else w
    keep = ww != 0
    out = np.empty((k, 8))
    inf = np.inf
    for c in range(k):
        pos = (y == (1 if k == 1 else c))
        col = s[:, c].astype(np.float64)
        out[c, 0] = np.sum(ww[pos]) if w is not None else float(np.count_nonzero(pos))
        out[c, 1] = np.sum(ww[~pos]) if w is not None else float(n - np.count_nonzero(pos))
        for j, m in ((2, pos & keep), (4, ~pos & keep), (6, keep)):
            v = col[m]
            out[c, j], out[c, j + 1] = (v.min(), v.max()) if v.size else (inf, -inf)
    return out


def _platt_sums(part, t0t1, abs_):
    x, n, k, y, w = _arrays3(part)
    f = _c("calib_platt_partial")
    out = np.zeros((len(abs_), 7))
    buf = np.zeros(7)
    for i, (c, a, b) in enumerate(abs_):
        t0, t1 = t0t1[c]
        check(f(_arrays.addr(x) if n else None, n, k, int(c), _arrays.addr(y) if n else None,
                _arrays.nullable_addr(w), t0, t1, a, b, _arrays.addr(buf)), "Platt partial sums")
        out[i] = buf
    return out


def _add(*xs):
    s = xs[0].copy()
    for v in xs[1:]:
        s += v
    return s


def _merge_counts(*xs):
    s = xs[0].copy()
    for v in xs[1:]:
        s[:, :2] += v[:, :2]
        s[:, 2::2] = np.minimum(s[:, 2::2], v[:, 2::2])
        s[:, 3::2] = np.maximum(s[:, 3::2], v[:, 3::2])
    return s


class _Driver:
    """Runs one map-reduce over the partitions per request."""

    def __init__(self, parts, client, split_every):
        self.parts, self.client, self.split_every = parts, client, split_every
        self.passes = 0

    def reduce(self, fn, combine, *args):
        self.passes += 1
        leaves = [dask.delayed(fn, pure=True)(p, *args) for p in self.parts]
        return _compute(_tree(leaves, combine, self.split_every), self.client)


# The temperature solver of src/fit/temperature.c, every evaluation exact.
def _fit_temperature(drv, max_iter, tol):
    pre = drv.reduce(_ts_prepass, _add)
    wsum, g0, nonsep, ksum = pre
    k = int(round(ksum / len(drv.parts)))
    if not (g0 / wsum < 0):
        raise CalibError(_ids.E_NOSIGNAL, "calib.dask.fit(method='temperature'): dNLL/dbeta >= 0 at beta = 0")
    if nonsep == 0:
        raise CalibError(_ids.E_SEPARABLE, "calib.dask.fit(method='temperature'): every label at its row maximum")

    def ev(beta):
        s = drv.reduce(_ts_sums, _add, beta)
        return s / wsum

    beta, lo, hi = 1.0, 0.0, np.inf
    L, G, H = ev(beta)
    report = {"nll_before": L}
    it, converged = 0, False
    eps = np.finfo(float).eps
    g0n = g0 / wsum
    while True:
        # calib_fit's test (src/fit/temperature.c): the scale-free gradient test, |L'| at most half of
        # |L'(0)|, and the Newton decrement (the estimated objective gap) at most max(tol^2, 1e-14) max(1, L)
        if (abs(beta * G) <= tol * L and abs(G) <= -0.5 * g0n and H > 0
                and 0.5 * G * G / H <= max(tol * tol, 1e-14) * max(1.0, L)):
            converged = True
            break
        if G < 0:
            lo = beta
        else:
            hi = beta
        if hi - lo <= 4 * eps * beta:
            converged = True
            break
        if it >= max_iter:
            break
        nb = beta - G / H if H > 0 else np.nan
        if not (lo < nb < hi):
            nb = 2.0 * beta if np.isinf(hi) else 0.5 * (lo + hi)
        beta = nb
        if not np.isfinite(beta) or beta > 1e300:
            break
        L, G, H = ev(beta)
        it += 1
    report.update(iterations=it, nll_after=L, gradient=abs(beta * G), passes=drv.passes,
                  gap=0.5 * G * G / H if H > 0 else np.inf)
    if not converged:
        raise CalibError(_ids.E_NOCONV, "calib.dask.fit(method='temperature') after %d Newton steps" % it)
    ptr = ctypes.c_void_p()
    check(_c("calib_temperature_model")(ctypes.byref(ptr), k, 1.0 / beta), "temperature model")
    est = TemperatureScaling(max_iter=max_iter, tol=tol)
    est._set_model(_Model(ptr.value))
    return est, report


# The Platt solver of src/fit/platt_newton.c in (A, B) = -theta, one generator per class.
_ARMIJO, _NOISE, _SIGMA = 1e-4, 1e3, 1e-12


def _newton_direction(g, H, sigma):
    """(H + sigma I) x = -g by LDL^T as platt_newton.c (2 x 2)."""
    d = 2
    L = np.zeros((2, 2))
    D = np.zeros(2)
    z = np.zeros(2)
    x = np.zeros(2)
    hmax = max(H[0][0] + sigma, H[1][1] + sigma, 0.0)
    for j in range(d):
        dj = H[j][j] + sigma
        for q in range(j):
            dj -= L[j][q] * L[j][q] * D[q]
        D[j] = dj if dj > 1e-14 * hmax else 0.0
        for i in range(j + 1, d):
            v = H[i][j]
            for q in range(j):
                v -= L[i][q] * L[j][q] * D[q]
            L[i][j] = v / D[j] if D[j] > 0 else 0.0
    for i in range(d):
        v = -g[i]
        for q in range(i):
            v -= L[i][q] * z[q]
        z[i] = v
    for i in range(d):
        z[i] = z[i] / D[i] if D[i] > 0 else 0.0
    for i in reversed(range(d)):
        v = z[i]
        for q in range(i + 1, d):
            v -= L[q][i] * x[q]
        x[i] = v
    return x


def _lr_eval(s):
    """Partial sums row (F, dA, dB, hAA, hAB, hBB, Fh) -> objective, gradient, Hessian."""
    return {"F": s[0], "Fh": s[6], "g": np.array([s[1], s[2]]), "H": np.array([[s[3], s[4]], [s[4], s[5]]])}


def _platt_solver(npos, nneg, n, smooth, max_iter, tol, min_step):
    """Generator: yields (A, B) to evaluate, receives the sums; returns
    (status, A, B, iterations, gradient, nll)."""
    wbar = (npos + nneg) / n
    sigma = _SIGMA * wbar
    ab = np.array([0.0, -np.log((npos + 1.0) / (nneg + 1.0))])
    cur = _lr_eval((yield ab.copy()))
    it, st = 0, _ids.OK
    eps = np.finfo(float).eps
    while True:
        if np.max(np.abs(cur["g"])) < tol * wbar:
            break
        if it >= max_iter:
            st = _ids.E_NOCONV
            break
        d = _newton_direction(cur["g"], cur["H"], sigma)
        gd = float(cur["g"][0] * d[0] + cur["g"][1] * d[1])
        floor = _NOISE * eps * abs(cur["F"])
        step, accepted = 1.0, False
        while step >= min_step:
            trial = ab + step * d
            ev = _lr_eval((yield trial.copy()))
            accept = ev["F"] < cur["F"] + _ARMIJO * step * gd
            if not accept and step == 1.0 and -gd <= floor:
                dn = _newton_direction(ev["g"], ev["H"], sigma)
                accept = -float(ev["g"][0] * dn[0] + ev["g"][1] * dn[1]) < -gd
            if accept:
                ab, cur, accepted = trial, ev, True
                break
            step *= 0.5
        if not accepted:
            st = _ids.E_NOCONV
            break
        it += 1
    return st, ab[0], ab[1], it, float(np.max(np.abs(cur["g"])) / wbar), cur["Fh"] / (npos + nneg)


def _fit_platt(drv, smooth, max_iter, tol, min_step, n):
    counts = drv.reduce(_platt_counts, _merge_counts)
    k = counts.shape[0]
    t0t1, ab, gens, pending, results = {}, np.zeros((k, 2)), {}, {}, {}
    for c in range(k):
        npos, nneg, lop, hip, lon, hin, lo, hi = counts[c]
        t0t1[c] = ((1.0 / (nneg + 2.0), (npos + 1.0) / (npos + 2.0)) if smooth else (0.0, 1.0))
        if lo == hi:  # constant score: closed form (calib__pb_constant_logodds)
            tbar = ((npos * t0t1[c][1] + nneg * t0t1[c][0]) / (npos + nneg))
            if not smooth and (npos == 0 or nneg == 0):
                raise CalibError(_ids.E_SEPARABLE, "class %d: one class absent" % c)
            ab[c] = (0.0, -np.log(tbar / (1.0 - tbar)))
            continue
        if not smooth and (npos == 0 or nneg == 0 or hin <= lop or hip <= lon):
            raise CalibError(_ids.E_SEPARABLE, "class %d: a threshold on the score separates the labels" % c)
        g = _platt_solver(npos, nneg, n, smooth, max_iter, tol, min_step)
        gens[c] = g
        pending[c] = next(g)
    iters = 0
    while pending:
        order = sorted(pending)
        sums = drv.reduce(_platt_sums, _add, t0t1, [(c, pending[c][0], pending[c][1]) for c in order])
        nxt = {}
        for i, c in enumerate(order):
            try:
                nxt[c] = gens[c].send(sums[i])
            except StopIteration as stop:
                results[c] = stop.value
        pending = nxt
    for c, (st, a, b, it, grad, nll) in results.items():
        iters += it
        if st != _ids.OK:
            raise CalibError(st, "calib.dask.fit(method='platt'), class %d after %d Newton steps" % (c, it))
        ab[c] = (a, b)
    ptr = ctypes.c_void_p()
    flat = np.ascontiguousarray(ab.reshape(-1))
    check(_c("calib_platt_model")(ctypes.byref(ptr), k, _arrays.addr(flat)), "Platt model")
    est = PlattScaling(max_iter=max_iter, tol=tol, smooth_targets=smooth, min_step=min_step)
    est._set_model(_Model(ptr.value))
    return est, {"iterations": iters, "passes": drv.passes}


def fit(logits, labels=None, method="temperature", sample_weight=None, max_iter=None, tol=None,
        smooth_targets=True, min_step=None, split_every=8, client=None, label=None, columns=None):
    """Fit temperature scaling or Platt scaling (on logits) over every
    partition; returns the fitted calib.TemperatureScaling / PlattScaling,
    with fit_report_ (iterations, passes over the data, NLL before/after
    for temperature). Options and defaults as the estimators'. Errors as
    calib_fit's (CalibError: E_NOSIGNAL, E_SEPARABLE, E_NOCONV, E_LABEL, ...)."""
    parts = partitions(logits, labels, sample_weight, label=label, columns=columns)
    drv = _Driver(parts, client, split_every)
    if method == "temperature":
        from .estimators import param_bounds
        mi = int(max_iter if max_iter is not None else param_bounds("temperature", "max_iter")[2])
        tl = float(tol if tol is not None else param_bounds("temperature", "tol")[2])
        est, report = _fit_temperature(drv, mi, tl)
    elif method == "platt":
        from .estimators import param_bounds
        mi = int(max_iter if max_iter is not None else param_bounds("platt", "max_iter")[2])
        tl = float(tol if tol is not None else param_bounds("platt", "tol")[2])
        ms = float(min_step if min_step is not None else param_bounds("platt", "min_step")[2])
        n = _n_rows(logits, parts, client, split_every)
        est, report = _fit_platt(drv, bool(smooth_targets), mi, tl, ms, n)
    else:
        raise CalibError(_ids.E_ARG, "calib.dask.fit: method %r: choose 'temperature' or 'platt' "
                         "(isotonic: calib.dask.fit_isotonic)" % (method,))
    est.fit_report_ = report
    return est


def _len(part):
    return np.array([float(len(part[1]))])


def _n_rows(logits, parts, client, split_every):
    if isinstance(logits, _da.Array) and not np.isnan(logits.shape[0]):
        return float(logits.shape[0])
    return float(_compute(_tree([dask.delayed(_len, pure=True)(p) for p in parts], _add, split_every),
                          client)[0])


# ---- isotonic on aggregated triples ---------------------------------------------------------
def _triples(part, column):
    x, n, k, y, w = _arrays3(part)
    s = (x.reshape(n, k)[:, column] if n else np.zeros(0, np.float32))
    pos = (y == (1 if k == 1 else column)).astype(np.float64)
    ww = np.ones(n) if w is None else w
    u, inv = np.unique(s, return_inverse=True)
    return u, np.bincount(inv, ww, len(u)), np.bincount(inv, ww * pos, len(u))


def _merge_triples(*ts):
    s = np.concatenate([t[0] for t in ts])
    c = np.concatenate([t[1] for t in ts])
    p = np.concatenate([t[2] for t in ts])
    u, inv = np.unique(s, return_inverse=True)
    return u, np.bincount(inv, c, len(u)), np.bincount(inv, p, len(u))


def isotonic_triples(logits, labels=None, column=0, sample_weight=None, split_every=8, client=None):
    """(score, count, positives): for each distinct float32 score of `column`
    (k == 1: the binary score), the total weight of its rows and of its
    positive rows, over every partition. The driver holds one triple per
    distinct score: quantise the scores first when they are not."""
    parts = partitions(logits, labels, sample_weight)
    leaves = [dask.delayed(_triples, pure=True)(p, column) for p in parts]
    return _compute(_tree(leaves, _merge_triples, split_every), client)


def fit_isotonic(scores, counts, positives, increasing=True, out_of_bounds=None):
    """IsotonicCalibration (binary, input="scores") fitted on aggregated
    (score, count, positives) triples: isotonic regression of positives/count
    with weights count. Exactly the fit on the rows themselves (rows of equal
    score are merged by the isotonic fit anyway, with their weighted mean
    label), so exact for quantised scores; with continuous scores the triples
    are one per row, which only moves the work to the driver."""
    s = np.asarray(scores, np.float32)
    c = np.asarray(counts, np.float64)
    p = np.asarray(positives, np.float64)
    keep = c > 0
    s, c, p = s[keep], c[keep], p[keep]
    # Each triple as two weighted rows (label 1 with weight p, label 0 with weight c - p): the
    # same weighted mean per score, which is all the isotonic fit reads.
    x = np.concatenate([s, s])
    y = np.concatenate([np.ones(len(s), np.int64), np.zeros(len(s), np.int64)])
    w = np.concatenate([p, c - p])
    order = np.argsort(x, kind="stable")
    est = IsotonicCalibration(increasing=increasing, out_of_bounds=out_of_bounds, input="scores")
    return est.fit(x[order], y[order], sample_weight=w[order])
